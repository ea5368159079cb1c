"""The staff command line on a real SQLite database."""

import csv

import pytest

from actions.cases import open_case
from actions.cli import main
from actions.experts import load_experts
from actions.settings import PROJECT_ROOT, get_settings
from actions.store import migrate, session_scope
from tests.factories import intake


@pytest.fixture
def case_no(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    migrate(url)
    experts, _ = load_experts(PROJECT_ROOT / "knowledge" / "experts.yml")
    form = intake(
        sender_id="web-1",
        language="en",
        enterprise="Example Textiles Co., Ltd.",
        contact="ops@example.com",
        country="US",
        description="A cease-and-desist letter",
        industry=None,
    )
    with session_scope(url) as s:
        number = open_case(s, form, experts)[0].case_no
    yield number
    get_settings.cache_clear()


def test_list_show_assign_note_close_and_export(case_no, capsys, tmp_path):
    assert main(["cases", "list"]) == 0
    assert case_no in capsys.readouterr().out
    assert main(["cases", "assign", case_no, "exp-002"]) == 0
    assert main(["cases", "note", case_no, "Called the enterprise"]) == 0
    assert main(["cases", "close", case_no, "--note", "settled"]) == 0
    capsys.readouterr()
    assert main(["cases", "show", case_no]) == 0
    shown = capsys.readouterr().out
    assert f"{case_no}: closed (Sample Expert B" in shown and "Called the enterprise" in shown
    out = tmp_path / "cases.csv"
    assert main(["cases", "export", str(out)]) == 0
    [row] = list(csv.DictReader(out.open(encoding="utf-8")))
    assert row["case_no"] == case_no and row["status"] == "closed"
    assert main(["cases", "show", "IP-2026-999999"]) == 1
    assert main(["outbox", "--all"]) == 0
