"""Parsing helpers for assertions on TwiML nodes (not on strings)."""

from __future__ import annotations

import xml.etree.ElementTree as ET


def parse(response) -> ET.Element:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/xml"
    root = ET.fromstring(response.get_data())
    assert root.tag == "Response"
    return root


def texts(root: ET.Element) -> list[str]:
    return [(e.text or "").strip() for e in root.iter("Say")]
