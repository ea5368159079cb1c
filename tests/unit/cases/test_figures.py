"""The service's figures from the case database: per month by market and incident, hours to first
acceptance, the share accepted within the promised time; the CSV holds no names or contacts."""

from __future__ import annotations

import csv
from datetime import timedelta

from actions.cases.figures import figures, write_chart, write_csv
from actions.cases.service import accept, assign, open_case
from actions.store import session_scope
from tests.factories import intake
from tests.unit.cases.test_service import NOW, POOL


def opened(url, when, **changes) -> str:
    with session_scope(url) as s:
        case_no = open_case(s, intake(**changes), POOL, now=when)[0].case_no
    assert case_no is not None
    return case_no


def test_figures_count_markets_incidents_and_how_fast_cases_were_taken(database_url, tmp_path):
    url = database_url
    fast = opened(url, NOW, country="JP", ip_type="trademark")  # promised 48 h (the slowest offered expert)
    slow = opened(url, NOW + timedelta(hours=1), country="JP", ip_type="patent", incident_type="customs_detention")
    opened(url, NOW.replace(month=12, day=2), country="TH", ip_type="patent")  # nobody covers Thailand: staff
    with session_scope(url) as s:
        assert accept(s, fast, "exp-002", now=NOW + timedelta(hours=6)) == "accepted"
        expert = next(e for e in POOL if e.id == "exp-001")
        assign(s, slow, expert, now=NOW + timedelta(hours=101))
    with session_scope(url) as s:
        result = figures(s)
    assert [c.month for c in result.cases] == ["2026-11", "2026-11", "2026-12"]
    assert result.by_month_market["2026-11"] == {"JP": 2} and result.by_month_market["2026-12"] == {"TH": 1}
    assert result.by_month_incident["2026-11"] == {"warning_letter": 1, "customs_detention": 1}
    assert [c.hours_to_acceptance for c in result.cases] == [6.0, 100.0, None]
    assert [c.within_promise for c in result.cases] == [True, False, None]
    assert result.within_promise_share() == 0.5
    assert result.cases[2].staff_alerted and not result.cases[0].staff_alerted
    lines = result.lines()
    assert lines[0] == "cases: 3 (accepted 2, staff alerted 1)"
    assert "accepted within the promised time: 50% of 2" in lines
    with session_scope(url) as s:
        assert [c.case_no for c in figures(s, since="2026-12").cases] == [result.cases[2].case_no]

    write_csv(result, tmp_path / "figures.csv")
    with open(tmp_path / "figures.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["hours_to_acceptance"] for r in rows] == ["6.0", "100.0", ""]
    text = (tmp_path / "figures.csv").read_text(encoding="utf-8")
    assert "a@example.com" not in text and "青岛示例机械" not in text  # no contacts, no names
    write_chart(result, tmp_path / "figures.png")
    assert (tmp_path / "figures.png").read_bytes().startswith(b"\x89PNG")


def test_an_empty_database_has_figures_too(database_url, tmp_path):
    with session_scope(database_url) as s:
        result = figures(s)
    assert result.lines() == [
        "cases: 0 (accepted 0, staff alerted 0)",
        "satisfaction: no ratings yet (asked on Telegram when a case is closed)",
    ]
    write_chart(result, tmp_path / "empty.png")
    assert (tmp_path / "empty.png").exists()
