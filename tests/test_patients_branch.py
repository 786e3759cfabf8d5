"""The seed's exclusion, enforced by `ivr check`: the CSI does not take patients' calls."""

from __future__ import annotations

from ivr.loading import check


def test_shipped_patient_branch_never_dials_staff_only_teams(config_copy):
    assert check(config_copy) == []


def test_patient_option_to_the_urgent_it_line_is_refused(config_copy):
    menu = config_copy / "menus" / "patient.yaml"
    text = menu.read_text()
    anchor = '      "2": {to: patient_question, say: patient.question}\n'
    extra = '      "3": {to: urgence_ti, say: patient.question}\n'
    menu.write_text(text.replace(anchor, anchor + extra))
    messages = [str(p) for p in check(config_copy)]
    assert any("csi ne dessert pas les patients" in m and m.startswith("menus/destinations.yaml:")
               for m in messages), messages
