"""What was changed to load a 1,000-menu config in well under half a second (issue 7) keeps the
results the same: RRULEs checked on their first date only, prompt audio found by one listing of
its folder, each file read once, the cycle collector paused during a load.

The timing itself is bench/config_scale.py's: a test here would only measure the machine.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ivr import REPO_ROOT
from ivr.config import parse
from ivr.schedule_build import _Builder
from ivr.yamlsource import Problem, Where, read_yaml


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    for folder in ("menus", "prompts", "schedules"):
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder)
    return tmp_path


@pytest.mark.parametrize(("rule", "message"), [
    ("FREQ=YEARLY;INTERVAL=39", None),  # 2039-01-01: the last year that counts
    ("FREQ=YEARLY;INTERVAL=40", "ne donne aucune date de 2000 à 2039"),  # 2040-01-01
    ("FREQ=YEARLY;INTERVAL=50", "ne donne aucune date de 2000 à 2039"),
    ("FREQ=YEARLY;UNTIL=19991231", "ne donne aucune date de 2000 à 2039"),
    ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "ne donne aucune date de 2000 à 2039"),
    ("FREQ=YEARLY;BYEASTER=-2", None),
    ("FREQ=DAILY", None),
    ("FREQ=YEARLY;BYEASTR=-2", "règle RRULE invalide"),
])
def test_an_rrule_is_judged_by_its_first_date(rule: str, message: str | None) -> None:
    """Only dates after 2000-01-01 00:00 and before 2040 count, as when they were all listed."""
    builder = _Builder()
    checked = builder.rule(rule, Where("schedules/calendars/x.yaml", 3), "calendars.x.rule")
    if message is None:
        assert checked == rule and builder.problems == []
    else:
        assert checked is None
        assert [p.where.line for p in builder.problems] == [3]
        assert message in builder.problems[0].message


def test_recorded_audio_is_found_by_one_listing(config_dir: Path) -> None:
    audio = config_dir / "prompts" / "audio" / "fr-CA"
    audio.mkdir(parents=True)
    (audio / "accueil.bienvenue.wav").write_bytes(b"RIFF")
    (audio / "accueil.patient.mp3").mkdir()  # a folder is not a recording
    (audio / "accueil.personnel.mp3").write_bytes(b"ID3")
    (audio / "accueil.personnel.wav").write_bytes(b"RIFF")  # .mp3 first
    prompts = parse(config_dir)[0].prompts
    assert prompts["accueil.bienvenue"].audio == "fr-CA/accueil.bienvenue.wav"
    assert prompts["accueil.patient"].audio is None
    assert prompts["accueil.personnel"].audio == "fr-CA/accueil.personnel.mp3"
    assert sum(p.audio is not None for p in prompts.values()) == 2


def test_no_audio_folder_means_no_recording(config_dir: Path) -> None:
    shutil.rmtree(config_dir / "prompts" / "audio", ignore_errors=True)
    assert all(p.audio is None for p in parse(config_dir)[0].prompts.values())


def test_bytes_already_read_give_what_reading_the_file_gives(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_bytes(b"a: 1\r\nb: deux\rc: |\r\n  x\r\n  y\r\n")
    from_file: list[Problem] = []
    from_bytes: list[Problem] = []
    assert read_yaml(path, "x.yaml", from_bytes, path.read_bytes()) == \
        read_yaml(path, "x.yaml", from_file) == {"a": 1, "b": "deux", "c": "x\ny\n"}
    path.write_bytes(b"a: \xe9t\xe9\n")  # Latin-1, not UTF-8
    assert read_yaml(path, "x.yaml", from_bytes, path.read_bytes()) is None
    assert read_yaml(path, "x.yaml", from_file) is None
    assert [str(p) for p in from_bytes] == [str(p) for p in from_file]
    assert "illisible" in str(from_file[0])
