"""Signatures are twilio's RequestValidator's, and a webhook's form is werkzeug's: a body the
signature does not cover is refused, whatever the URL's signature says."""

from __future__ import annotations

import hashlib
import json

from twiml_rules import signed_post, twilio_form

from ivr.security import sign

TOKEN = "test-auth-token"


def test_a_form_post_is_checked_against_its_form(app):
    client = app.test_client()
    assert signed_post(client, "/voice", twilio_form()).status_code == 200
    form = twilio_form()
    signature = sign("http://localhost/voice", form, TOKEN)
    tampered = {**form, "From": "+15145550199"}
    response = client.post("/voice", data=tampered, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403


def test_a_json_body_with_a_valid_url_signature_is_refused(app):
    """The signature of a form post covers its fields; a JSON body is covered only by the
    ``bodySHA256`` of the URL, which the library checks."""
    client = app.test_client()
    body = json.dumps({"CallSid": "CA1", "CallStatus": "completed"})
    url = "http://localhost/voice/status"
    signature = sign(url, {}, TOKEN)  # a valid signature of the URL alone
    response = client.post("/voice/status", data=body, content_type="application/json",
                           headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403

    digest = hashlib.sha256(body.encode()).hexdigest()
    hashed = f"{url}?bodySHA256={digest}"
    signature = sign(hashed, {}, TOKEN)
    ok = client.post(f"/voice/status?bodySHA256={digest}", data=body,
                     content_type="application/json", headers={"X-Twilio-Signature": signature})
    assert ok.status_code == 204
    tampered = client.post(f"/voice/status?bodySHA256={digest}", data=body.replace("CA1", "CA2"),
                           content_type="application/json",
                           headers={"X-Twilio-Signature": signature})
    assert tampered.status_code == 403


def test_duplicate_fields_are_signed_as_twilio_signs_them(app):
    client = app.test_client()
    form = [("Digits", "1"), ("Digits", "2"), *twilio_form().items()]
    from werkzeug.datastructures import MultiDict

    signature = sign("http://localhost/voice", MultiDict(form), TOKEN)
    response = client.post("/voice", data=MultiDict(form), headers={"X-Twilio-Signature":
                                                                    signature})
    assert response.status_code == 200
