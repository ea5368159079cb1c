"""Alert files written from the console's form: the YAML the form becomes (read back by `load_alert`), problems
by field with nothing written, and the folder's rules — names from valid ids only, no overwrite but by the edit
of that same alert, an id that stays, a stale form refused, atomic writes that leave no temporary file."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from actions.alerts.files import AlertForm, alert_yaml, check_form, file_version, form_errors, save_alert
from actions.alerts.service import check_alert_text, load_alert, load_alerts
from actions.settings import PROJECT_ROOT

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
TODAY = date(2026, 11, 24)


def valid_form(**changes) -> AlertForm:
    values = {
        "id": "kr-trademark-sample",
        "sample": True,
        "title_zh": "【示例】韩国商标提醒",
        "title_en": "[Sample] Korea trademark reminder",
        "body_zh": "示例正文第一句。\r\n第二句。",
        "body_en": "Sample body, first line.\r\nSecond line.  ",
        "markets": "kr, eu",
        "industries": ["all"],
        "ip_types": ["trademark"],
        "severity": "warning",
        "source": "https://www.kipo.go.kr/en/",
        "published": "2026-11-24",
        "last_reviewed": "2026-11-24",
        "valid_until": "2027-06-30",
    }
    return AlertForm(**{**values, **changes})


@pytest.fixture
def folder(tmp_path) -> Path:
    alerts = tmp_path / "knowledge" / "alerts"
    alerts.mkdir(parents=True)
    shutil.copy(FIXTURES / "alerts" / "fx-valid.yml", alerts / "fx-valid.yml")
    return alerts


def everything_under(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("path", sorted((PROJECT_ROOT / "knowledge" / "alerts").glob("*.yml")), ids=lambda p: p.name)
def test_each_shipped_alert_survives_the_form_unchanged(path):
    alert, problems = load_alert(path, PROJECT_ROOT, TODAY)
    assert problems == [] and alert is not None
    again, problems = check_alert_text(alert_yaml(AlertForm.of(alert)), "again.yml", TODAY)
    assert problems == [] and again is not None and again.model_dump() == alert.model_dump()


def test_a_valid_form_is_written_as_a_file_load_alert_accepts(folder):
    root = folder.parent.parent
    saved = save_alert(valid_form(), folder, root, TODAY)
    assert saved.ok and saved.path == folder / "kr-trademark-sample.yml"
    alert, problems = load_alert(saved.path, root, TODAY)
    assert problems == [] and alert is not None
    assert (alert.markets, alert.body.en, alert.body.zh) == (
        ["KR", "EU"],
        "Sample body, first line.\nSecond line.",
        "示例正文第一句。\n第二句。",
    )
    text = saved.path.read_text(encoding="utf-8")
    assert text.startswith("# Written in the staff console") and "markets: [KR, EU]\n" in text
    assert "published: 2026-11-24\n" in text  # a date, unquoted, like the samples
    assert saved.path.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in folder.iterdir()) == ["fx-valid.yml", "kr-trademark-sample.yml"]  # no .tmp left
    alerts, problems = load_alerts(folder, root, TODAY)
    assert problems == [] and {a.id for a in alerts} == {"fx-valid", "kr-trademark-sample"}


def test_an_invalid_form_writes_nothing_and_says_what_is_wrong_by_field(folder):
    before = everything_under(folder.parent)
    form = valid_form(title_en="", markets="KR XX", ip_types=["trademark", "nope"], valid_until="2026-01-01")
    saved = save_alert(form, folder, folder.parent.parent, TODAY)
    assert not saved.ok and saved.path is None
    errors = form_errors(saved.problems)
    assert errors["title"] == ["en: missing"]
    assert errors["markets"] == ["['XX'] are not market codes the bot knows, such as JP, KR, US or EU"]
    assert errors["ip_types"][0].startswith("Input should be 'patent'")
    assert everything_under(folder.parent) == before
    blank = form_errors(save_alert(AlertForm(), folder, today=TODAY).problems)
    assert {"id", "title", "body", "markets", "ip_types", "severity", "source"} <= set(blank)
    unlabelled = form_errors(save_alert(valid_form(title_zh="韩国商标提醒"), folder, today=TODAY).problems)
    assert unlabelled == {"title": ["a sample alert's zh title must start with '【示例】'"]}
    assert everything_under(folder.parent) == before


@pytest.mark.parametrize("bad_id", ["../evil", "..", "/etc/cron.d/x", "a/b", "Caps", "x" * 65, "-lead", "a.yml"])
def test_an_id_that_is_not_a_plain_name_is_refused_and_nothing_is_written(folder, bad_id):
    before = everything_under(folder.parent.parent)
    saved = save_alert(valid_form(id=bad_id), folder, today=TODAY)
    assert not saved.ok and "id" in form_errors(saved.problems)
    assert everything_under(folder.parent.parent) == before


def test_a_new_alert_never_replaces_a_file(folder):
    root = folder.parent.parent
    original = (folder / "fx-valid.yml").read_bytes()
    taken = save_alert(valid_form(id="fx-valid"), folder, root, TODAY)
    assert form_errors(taken.problems) == {
        "id": ["an alert with this id exists already (knowledge/alerts/fx-valid.yml): edit that one"]
    }
    (folder / "broken-one.yml").write_text("id: [\n", encoding="utf-8")  # an invalid file has that name
    named = save_alert(valid_form(id="broken-one"), folder, root, TODAY)
    assert "exists already (it is not a valid alert)" in form_errors(named.problems)["id"][0]
    assert (folder / "fx-valid.yml").read_bytes() == original
    assert (folder / "broken-one.yml").read_text(encoding="utf-8") == "id: [\n"


def test_an_edit_rewrites_that_alerts_own_file_keeping_its_comments_and_id(folder):
    root = folder.parent.parent
    (folder / "fx-valid.yml").rename(folder / "named-otherwise.yml")
    path = folder / "named-otherwise.yml"
    path.write_text("# Facts from a sample source.\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    alert, _ = load_alert(path, root, TODAY)
    form = AlertForm.of(alert).model_copy(update={"severity": "urgent", "body_en": "Edited body."})
    saved = save_alert(form, folder, root, TODAY, editing="fx-valid", version=file_version(path))
    assert saved.ok and saved.path == path
    assert sorted(p.name for p in folder.iterdir()) == ["named-otherwise.yml"]
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Facts from a sample source.\nid: fx-valid\n")
    edited, _ = load_alert(path, root, TODAY)
    assert (edited.severity, edited.body.en, edited.title.zh) == ("urgent", "Edited body.", "韩国商标提醒")


def test_an_edit_keeps_the_id_and_refuses_a_stale_form_or_an_unknown_alert(folder):
    path = folder / "fx-valid.yml"
    alert, _ = load_alert(path, today=TODAY)
    form = AlertForm.of(alert)
    version = file_version(path)
    renamed = save_alert(form.model_copy(update={"id": "fx-renamed"}), folder, today=TODAY, editing="fx-valid")
    assert "the id stays 'fx-valid'" in form_errors(renamed.problems)["id"][0]
    assert not (folder / "fx-renamed.yml").exists()
    path.write_text(path.read_text(encoding="utf-8").replace("Body.", "Changed by hand."), encoding="utf-8")
    stale = save_alert(form, folder, today=TODAY, editing="fx-valid", version=version)
    assert "changed since this form was opened" in form_errors(stale.problems)["alert"][0]
    assert "Changed by hand." in path.read_text(encoding="utf-8")
    for unknown in ("nope", "../fx-valid", "fx-valid.yml"):
        assert not save_alert(form, folder, today=TODAY, editing=unknown).ok


def test_checking_a_form_writes_nothing(folder):
    before = everything_under(folder.parent)
    checked, text = check_form(valid_form(), folder, today=TODAY)
    assert checked.ok and checked.path == folder / "kr-trademark-sample.yml" and "id: kr-trademark-sample" in text
    assert everything_under(folder.parent) == before
