"""The console through FastAPI's TestClient on a temporary SQLite database: sign-in, CSRF, who sees what,
every action through the case service (checked in the database), figures, documents and e-mailed links, and the
market alerts (a copy of the shipped alert files in a temporary folder: list, form, preview, publish)."""

from __future__ import annotations

import re
import shutil
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from actions.alerts.service import delivery_counts, fan_out, load_alert, load_alerts, subscribe
from actions.cases.experts import load_experts
from actions.cases.service import find_case
from actions.settings import PROJECT_ROOT, Settings
from actions.store import CaseDocument, OutboxMessage, get_engine, migrate, session_scope
from bot.console.app import create_app
from bot.console.links import case_link, case_token
from tests.factories import CONSOLE_PASSWORD, seed_console

SECRET = "test-console-secret-" + "x" * 24


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """The sample database, made once (hashing passwords takes a while) and copied for each test."""
    folder = tmp_path_factory.mktemp("seeded")
    url = f"sqlite:///{folder / 'cases.db'}"
    migrate(url)
    experts, _ = load_experts(PROJECT_ROOT / "knowledge" / "experts.yml")
    numbers = seed_console(url, experts)
    get_engine(url).dispose()  # the last connection closes: everything is in the file
    return folder / "cases.db", numbers


@pytest.fixture
def console(seeded, tmp_path):
    source, numbers = seeded
    shutil.copy(source, tmp_path / "cases.db")
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    settings = Settings(
        _env_file=None, database_url=url, attachments_dir=tmp_path / "attachments", console_secret=SECRET
    )
    return settings, numbers


def client_for(settings: Settings) -> TestClient:
    return TestClient(create_app(settings), follow_redirects=False)


def token_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def signed_in(settings: Settings, username: str) -> tuple[TestClient, str]:
    client = client_for(settings)
    token = token_of(client.get("/login").text)
    reply = client.post("/login", data={"username": username, "password": CONSOLE_PASSWORD, "csrf_token": token})
    assert reply.status_code == 303, reply.text
    page = client.get("/cases")
    assert page.status_code == 200
    return client, token_of(page.text)


def test_pages_need_a_sign_in_and_a_wrong_password_is_refused(console):
    settings, numbers = console
    client = client_for(settings)
    assert client.get("/health").text == "ok"
    reply = client.get(f"/cases/{numbers['jp']}")
    assert reply.status_code == 303 and reply.headers["location"].startswith("/login")
    token = token_of(client.get("/login").text)
    wrong = client.post("/login", data={"username": "staff1", "password": "not it at all", "csrf_token": token})
    assert wrong.status_code == 401 and "login-failed" in wrong.text
    assert client.get("/cases").status_code == 303


def test_the_session_cookie_is_httponly_and_samesite_and_secure_behind_https(console):
    settings, _ = console
    cookie = client_for(settings).get("/login").headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower() and "secure" not in cookie.lower()
    behind_tls = settings.model_copy(update={"console_url": "https://console.example.org"})
    assert "secure" in client_for(behind_tls).get("/login").headers["set-cookie"].lower()


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(console):
    settings, numbers = console
    client, _ = signed_in(settings, "staff1")
    for data in ({"outcome": "settled"}, {"outcome": "settled", "csrf_token": "forged"}):
        assert client.post(f"/cases/{numbers['jp']}/close", data=data).status_code == 403
    stranger = client_for(settings)
    stranger.get("/login")
    refused = stranger.post("/login", data={"username": "staff1", "password": CONSOLE_PASSWORD})
    assert refused.status_code == 403
    with session_scope(settings.database_url) as s:
        assert find_case(s, numbers["jp"]).status == "open"


def test_staff_filter_the_queue(console):
    settings, numbers = console
    client, _ = signed_in(settings, "staff1")

    def listed(query: str) -> set[str]:
        return set(re.findall(r'class="case-link">(IP-\d{4}-\d{6})<', client.get(f"/cases?{query}").text))

    assert {numbers["jp"], numbers["us"], numbers["de"], numbers["old"]} <= listed("")
    assert listed("market=JP&status=open") == {numbers["jp"]}
    assert listed("overdue=true") == {numbers["us"]}
    assert listed("urgent=true") == {numbers["de"]}
    assert listed("incident=customs_detention") == {numbers["us"]}
    assert listed("ip_type=patent&status=accepted") == {numbers["de"]}
    assert numbers["old"] in listed("status=closed")
    assert listed("status=nonsense&ip_type=<script>") >= {numbers["jp"], numbers["us"]}  # ignored, not an error


def test_staff_assign_reassign_note_and_close_through_the_case_service(console):
    settings, numbers = console
    client, token = signed_in(settings, "staff1")
    case_no = numbers["us"]
    page = client.get(f"/cases/{case_no}").text
    assert "Sample Textiles" in page and "us@example.com" in page and 'id="timeline"' in page
    assert (
        client.post(f"/cases/{case_no}/assign", data={"expert_id": "exp-002", "csrf_token": token}).status_code == 303
    )
    client.post(f"/cases/{case_no}/assign", data={"expert_id": "exp-008", "csrf_token": token})
    client.post(f"/cases/{case_no}/note", data={"text": "Called the enterprise", "csrf_token": token})
    reply = client.post(f"/cases/{case_no}/close", data={"outcome": "defended", "note": "done", "csrf_token": token})
    assert reply.status_code == 303
    assert "The case is closed" in client.get(reply.headers["location"]).text
    with session_scope(settings.database_url) as s:
        case = find_case(s, case_no)
        assert (case.status, case.outcome, case.expert_id) == ("closed", "defended", "exp-008")
        kinds = [(e.kind, e.actor) for e in case.events][-4:]
        assert kinds == [
            ("assigned", "staff:staff1"),
            ("reassigned", "staff:staff1"),
            ("note", "staff:staff1"),
            ("closed", "staff:staff1"),
        ]
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case.id)).all()
        assert {"expert_note", "enterprise_update"} <= {r.kind for r in rows}  # written with each action
    again = client.post(f"/cases/{case_no}/close", data={"outcome": "settled", "csrf_token": token})
    assert "nothing was changed" in client.get(again.headers["location"]).text
    assert client.post(f"/cases/{case_no}/close", data={"outcome": "bogus", "csrf_token": token}).status_code == 400


def test_an_expert_sees_only_their_cases_and_accepts_one(console):
    settings, numbers = console
    client, token = signed_in(settings, "expert5")
    queue = client.get("/cases").text
    assert numbers["jp"] in queue and numbers["us"] not in queue and numbers["de"] not in queue
    assert queue.count("to answer</span>") == 1  # the Japanese case waits for this expert; the closed one does not
    for other in ("us", "de"):
        assert client.get(f"/cases/{numbers[other]}").status_code == 403
    assert client.post(f"/cases/{numbers['us']}/accept", data={"csrf_token": token}).status_code == 403
    page = client.get(f"/cases/{numbers['jp']}").text
    assert 'id="accept"' in page and "jp@example.com" not in page  # the contact shows once accepted
    assert client.post(f"/cases/{numbers['jp']}/accept", data={"csrf_token": token}).status_code == 303
    page = client.get(f"/cases/{numbers['jp']}").text
    assert "You accepted the case" in page and "jp@example.com" in page
    assert (
        client.post(f"/cases/{numbers['jp']}/close", data={"outcome": "settled", "csrf_token": token}).status_code
        == 403
    )
    assert client.get("/figures").status_code == 403
    with session_scope(settings.database_url) as s:
        case = find_case(s, numbers["jp"])
        assert (case.status, case.expert_id) == ("accepted", "exp-005")


def test_an_expert_declines_and_a_disabled_account_is_signed_out(console):
    from actions.accounts import set_active

    settings, numbers = console
    client, token = signed_in(settings, "expert2")
    assert client.post(f"/cases/{numbers['us']}/decline", data={"csrf_token": token}).status_code == 303
    with session_scope(settings.database_url) as s:
        offer = next(o for o in find_case(s, numbers["us"]).offers if o.expert_id == "exp-002")
        assert offer.state == "declined"
        set_active(s, "expert2", False)
    assert client.get("/cases").status_code == 303


def test_documents_download_for_staff_and_the_accepted_expert_only(console):
    settings, numbers = console
    folder = settings.attachments_dir / numbers["de"]
    folder.mkdir(parents=True)
    (folder / "abc-notice.pdf").write_bytes(b"%PDF-1.4 sample")
    with session_scope(settings.database_url) as s:
        case = find_case(s, numbers["de"])
        s.add(
            CaseDocument(
                case_id=case.id,
                filename="notice.pdf",
                content_type="application/pdf",
                size=15,
                sha256="0" * 64,
                stored_as=f"{numbers['de']}/abc-notice.pdf",
                source="telegram",
            )
        )
    staff, _ = signed_in(settings, "staff1")
    page = staff.get(f"/cases/{numbers['de']}").text
    link = re.search(r'href="(/cases/[^"]+/documents/\d+)"', page).group(1)
    assert staff.get(link).content == b"%PDF-1.4 sample"
    expert, _ = signed_in(settings, "expert5")
    assert expert.get(link).status_code == 403


def test_figures_show_svg_charts_and_export_csv(console):
    settings, _ = console
    client, _ = signed_in(settings, "staff1")
    page = client.get("/figures").text
    assert 'id="chart-market"' in page and "satisfaction: 4.0 of 5" in page
    for name in ("market", "incident", "acceptance", "promise", "satisfaction"):
        chart = client.get(f"/figures/{name}.svg")
        assert chart.headers["content-type"].startswith("image/svg+xml") and "<svg" in chart.text
    assert client.get("/figures/nothing.svg").status_code == 404
    csv = client.get("/figures.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert lines[0].startswith("case_no,month,country") and len(lines) == 1 + 6
    assert "example.com" not in csv.text and "sample" not in csv.text.lower()


def test_an_emailed_link_signs_the_expert_in_for_that_case_only_until_it_expires(console, monkeypatch):
    settings, numbers = console
    link = case_link(settings, numbers["jp"], "exp-005")
    assert link is not None and link.startswith("http://127.0.0.1:8090/cases/")
    client = client_for(settings)
    reply = client.get(link.removeprefix("http://127.0.0.1:8090"))
    assert reply.status_code == 303 and reply.headers["location"] == f"/cases/{numbers['jp']}"  # token dropped
    page = client.get(reply.headers["location"]).text
    assert 'id="accept"' in page and "link for this case only" in page
    assert client.get("/cases").headers["location"] == f"/cases/{numbers['jp']}"
    assert client.get(f"/cases/{numbers['old3']}").status_code == 403  # also exp-005's, but not this link's
    token = token_of(page)
    assert client.post(f"/cases/{numbers['jp']}/accept", data={"csrf_token": token}).status_code == 303
    # Another case's number with this token, a forged token, and an expired one are refused.
    fresh = client_for(settings)
    good = case_token(SECRET, numbers["jp"], "exp-005")
    assert fresh.get(f"/cases/{numbers['us']}?token={good}").status_code == 401
    assert (
        fresh.get(f"/cases/{numbers['jp']}?token={case_token('another secret', numbers['jp'], 'exp-005')}").status_code
        == 401
    )
    import itsdangerous.timed

    later = itsdangerous.timed.time.time() + timedelta(hours=settings.console_link_hours + 1).total_seconds()
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: later)
    assert "link-expired" in fresh.get(f"/cases/{numbers['jp']}?token={good}").text
    # The sign-in the link gave ends when the link expires.
    import bot.console.app

    monkeypatch.setattr(bot.console.app.time, "time", lambda: later)
    assert client.get(f"/cases/{numbers['jp']}").headers["location"].startswith("/login")


def test_without_a_secret_no_link_is_made_and_the_console_makes_its_own_key(console, caplog):
    settings, numbers = console
    keyless = settings.model_copy(update={"console_secret": ""})
    assert case_link(keyless, numbers["jp"], "exp-005") is None
    with caplog.at_level("WARNING", logger="console"):
        app = create_app(keyless)
    assert "CONSOLE_SECRET is not set" in caplog.text and len(app.state.console.secret) >= 32


def test_sign_in_goes_back_only_to_a_page_of_this_site(console):
    settings, _ = console
    client = client_for(settings)
    token = token_of(client.get("/login").text)
    data = {"username": "staff1", "password": CONSOLE_PASSWORD, "csrf_token": token, "next": "//evil.example.com/"}
    assert client.post("/login", data=data).headers["location"] == "/cases"


def test_repeated_wrong_passwords_pause_sign_ins_for_that_username(console):
    settings, _ = console
    client = client_for(settings)
    token = token_of(client.get("/login").text)
    for _ in range(5):
        data = {"username": "staff1", "password": "guess guess guess", "csrf_token": token}
        assert client.post("/login", data=data).status_code == 401
    right = {"username": "staff1", "password": CONSOLE_PASSWORD, "csrf_token": token}
    paused = client.post("/login", data=right)
    assert paused.status_code == 429 and "login-throttled" in paused.text
    other = {"username": "expert5", "password": CONSOLE_PASSWORD, "csrf_token": token}
    assert client.post("/login", data=other).status_code == 303


def test_the_throttle_forgets_failures_after_its_window():
    from bot.console.app import SignInThrottle

    now = [0.0]
    throttle = SignInThrottle(limit=2, window=60, clock=lambda: now[0])
    throttle.failed("a")
    throttle.failed("a")
    assert throttle.blocked("a") and not throttle.blocked("b")
    now[0] = 61
    assert not throttle.blocked("a")


def test_the_console_logs_no_names_contacts_or_passwords(console, caplog):
    settings, numbers = console
    with caplog.at_level("DEBUG"):
        client, token = signed_in(settings, "staff1")
        client.post(f"/cases/{numbers['jp']}/note", data={"text": "Private detail 4711", "csrf_token": token})
        client.get(case_link(settings, numbers["jp"], "exp-005").removeprefix(settings.console_base_url))
        bad = client_for(settings)
        bad.post(
            "/login",
            data={"username": "staff1", "password": "typo password", "csrf_token": token_of(bad.get("/login").text)},
        )
    # What the server side logged (httpx logs the test client's own requests).
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore")))
    assert "signed in" in logged and "refused" in logged
    for secret_or_personal in ("staff1", CONSOLE_PASSWORD, "typo password", "jp@example.com", "青岛", "4711", "token="):
        assert secret_or_personal not in logged


def test_the_accepted_expert_and_staff_write_to_the_enterprise_and_the_timeline_shows_both_ways(console):
    from actions.cases.service import enterprise_reply

    settings, numbers = console
    case_no = numbers["jp"]
    client, token = signed_in(settings, "expert5")
    assert 'id="reply-form"' not in client.get(f"/cases/{case_no}").text  # offered, not accepted yet
    refused = client.post(f"/cases/{case_no}/reply", data={"text": "too early", "csrf_token": token})
    assert refused.status_code == 403
    assert client.post(f"/cases/{case_no}/reply", data={"text": "no token"}).status_code == 403  # CSRF
    client.post(f"/cases/{case_no}/accept", data={"csrf_token": token})
    assert 'id="reply-form"' in client.get(f"/cases/{case_no}").text
    sent = client.post(f"/cases/{case_no}/reply", data={"text": "请把警告函原件发给我。", "csrf_token": token})
    assert sent.status_code == 303 and "on its way to the enterprise" in client.get(sent.headers["location"]).text
    with session_scope(settings.database_url) as s:
        case = find_case(s, case_no)
        enterprise_reply(s, case_no, case.sender_id, "好的，马上发。")
    page = client.get(f"/cases/{case_no}").text
    assert "请把警告函原件发给我。" in page and "好的，马上发。" in page
    assert "发给企业 to the enterprise" in page and "企业回复 from the enterprise" in page

    staff, staff_token = signed_in(settings, "staff1")
    staff.post(f"/cases/{case_no}/reply", data={"text": "The staff are following too.", "csrf_token": staff_token})
    other, other_token = signed_in(settings, "expert2")  # exp-002 was never offered the Japanese case
    assert other.post(f"/cases/{case_no}/reply", data={"text": "x", "csrf_token": other_token}).status_code == 403
    with session_scope(settings.database_url) as s:
        case = find_case(s, case_no)
        replies = [(e.kind, e.actor, e.text) for e in case.events if e.kind.endswith("_reply")]
        assert replies == [
            ("expert_reply", "expert:exp-005", "请把警告函原件发给我。"),
            ("enterprise_reply", "enterprise", "好的，马上发。"),
            ("expert_reply", "staff:staff1", "The staff are following too."),
        ]
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case.id)).all()
        assert [r.kind for r in rows].count("expert_reply") == 2 and "enterprise_reply" in {r.kind for r in rows}


# ---- market alerts -------------------------------------------------------------------------------------------
ALERTS_TODAY = date(2026, 12, 1)  # the shipped sample alerts: three active, one expired


@pytest.fixture
def alerts_console(console, tmp_path):
    """The console on a copy of the shipped alert files (in tmp_path/knowledge/alerts) and four sample
    subscriptions: a Telegram chat and a web conversation for Japan, one for Germany, one for Korea."""
    settings, _ = console
    knowledge = tmp_path / "knowledge"
    (knowledge / "alerts").mkdir(parents=True)
    for name in ("experts.yml", "staff.yml"):
        shutil.copy(PROJECT_ROOT / "knowledge" / name, knowledge / name)
    for path in (PROJECT_ROOT / "knowledge" / "alerts").glob("*.yml"):
        shutil.copy(path, knowledge / "alerts" / path.name)
    with session_scope(settings.database_url) as s:
        subscribe(s, "tg-7001", ["JP"], "all", "zh")
        subscribe(s, "web-sample-1", ["JP"], "machinery", "en")
        subscribe(s, "web-sample-2", ["DE"], "all", "en")
        subscribe(s, "web-sample-3", ["KR"], "all", "zh")
    return settings.model_copy(update={"knowledge_dir": knowledge})


def alerts_client(settings: Settings, username: str = "staff1") -> tuple[TestClient, str]:
    client, token = signed_in(settings, username)
    client.app.state.console.today = lambda: ALERTS_TODAY
    return client, token


def alert_form(**changes) -> dict:
    values = {
        "id": "sample-kr-console",
        "sample": "true",
        "title_zh": "【示例】控制台写的韩国提醒",
        "title_en": "[Sample] A Korea reminder written in the console",
        "body_zh": "示例正文。",
        "body_en": "Sample body.",
        "markets": "KR",
        "industries": ["all"],
        "ip_types": ["trademark"],
        "severity": "info",
        "source": "https://www.kipo.go.kr/en/",
        "published": "2026-12-01",
        "last_reviewed": "2026-12-01",
        "valid_until": "2027-06-30",
    }
    return {**values, **changes}


def files_of(settings: Settings) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(settings.alerts_dir.iterdir())}


def test_staff_see_the_alerts_with_status_reach_and_what_was_sent(alerts_console):
    settings = alerts_console
    client, _ = alerts_client(settings)
    assert 'href="/alerts"' in client.get("/cases").text  # in the navigation
    page = client.get("/alerts")
    assert page.status_code == 200
    rows = dict(re.findall(r'class="alert-link">([a-z0-9-]+)</a>.*?class="tag (\w+)"', page.text, re.S))
    assert rows == {
        "sample-de-trade-fair-proof": "active",
        "sample-jp-pph-pilot": "active",
        "sample-kr-pph": "active",
        "sample-expired-us-cbp": "expired",
    }
    reach = dict(re.findall(r'class="alert-link">([a-z0-9-]+)</a>.*?class="would-reach">(\d+|—)', page.text, re.S))
    assert reach == {
        "sample-de-trade-fair-proof": "1",
        "sample-jp-pph-pilot": "2",
        "sample-kr-pph": "1",
        "sample-expired-us-cbp": "—",
    }
    with session_scope(settings.database_url) as s:
        alert, _ = load_alert(settings.alerts_dir / "sample-jp-pph-pilot.yml", today=ALERTS_TODAY)
        assert fan_out(s, alert, dry_run=True) == 2
        fan_out(s, alert, sender_id="tg-7001")
    page = client.get("/alerts").text
    reach = dict(re.findall(r'class="alert-link">([a-z0-9-]+)</a>.*?class="would-reach">(\d+|—)', page, re.S))
    assert reach["sample-jp-pph-pilot"] == "1"
    assert "待送达 waiting 1" in page and "tg-7001" not in page and "web-sample" not in page
    # A broken file is named with its line, and the page says nothing is published.
    (settings.alerts_dir / "broken.yml").write_text("id: x\nsample: maybe\n", encoding="utf-8")
    page = client.get("/alerts").text
    assert 'id="alert-problems"' in page and "knowledge/alerts/broken.yml:2: sample:" in page


def test_a_new_alert_with_errors_comes_back_with_them_and_nothing_is_written(alerts_console):
    settings = alerts_console
    client, token = alerts_client(settings)
    form_page = client.get("/alerts/new").text
    assert 'id="alert-form"' in form_page and 'value="2026-12-01"' in form_page  # reviewed and published today
    before = files_of(settings)
    data = alert_form(title_en="", markets="KR, XX", valid_until="2026-01-01", csrf_token=token)
    reply = client.post("/alerts/new", data=data)
    assert reply.status_code == 422
    assert re.search(r'id="error-title">en: missing<', reply.text)
    assert "[&#39;XX&#39;] are not market codes" in reply.text and 'id="error-markets"' in reply.text
    assert 'id="error-valid_until">2026-01-01 is before published 2026-12-01<' in reply.text
    assert 'value="KR, XX"' in reply.text and "【示例】控制台写的韩国提醒" in reply.text  # what was typed stays
    assert files_of(settings) == before


def test_a_valid_new_alert_is_written_where_the_notifier_reads_and_load_alert_accepts_it(alerts_console):
    settings = alerts_console
    client, token = alerts_client(settings)
    checked = client.post("/alerts/new", data=alert_form(action="preview", csrf_token=token))
    assert checked.status_code == 200 and 'id="preview-count"' in checked.text
    assert not (settings.alerts_dir / "sample-kr-console.yml").exists()  # a preview writes nothing
    reply = client.post("/alerts/new", data=alert_form(csrf_token=token))
    assert reply.status_code == 303 and reply.headers["location"] == "/alerts/sample-kr-console/edit"
    path = settings.alerts_dir / "sample-kr-console.yml"
    alert, problems = load_alert(path, today=ALERTS_TODAY)
    assert problems == [] and alert is not None
    assert (alert.title.en, alert.markets, alert.severity) == (
        "[Sample] A Korea reminder written in the console",
        ["KR"],
        "info",
    )
    alerts, problems = load_alerts(settings.alerts_dir, today=ALERTS_TODAY)
    assert problems == [] and "sample-kr-console" in {a.id for a in alerts}
    assert "The alert file was saved" in client.get(reply.headers["location"]).text
    # The same id again is refused: a new alert never replaces a file.
    again = client.post("/alerts/new", data=alert_form(title_en="[Sample] Other", csrf_token=token))
    assert again.status_code == 422 and "exists already" in again.text
    assert load_alert(path, today=ALERTS_TODAY)[0].title.en.endswith("written in the console")


def test_editing_prefills_the_form_and_rewrites_only_that_alerts_file(alerts_console):
    settings = alerts_console
    client, token = alerts_client(settings)
    page = client.get("/alerts/sample-kr-pph/edit")
    assert page.status_code == 200
    assert 'value="sample-kr-pph"' in page.text and "readonly" in page.text and 'value="KR"' in page.text
    assert "【示例】中韩PPH与IP5 PPH均可用于加快韩国专利审查" in page.text and 'id="preview-count"' in page.text
    version = re.search(r'name="version" value="([0-9a-f]{64})"', page.text).group(1)
    before = files_of(settings)
    data = alert_form(
        id="sample-kr-pph",
        title_zh="【示例】中韩PPH：编辑过的标题",
        title_en="[Sample] China–Korea PPH: an edited title",
        markets="KR",
        ip_types=["patent"],
        published="2026-11-24",
        last_reviewed="2026-11-24",
        version=version,
        csrf_token=token,
    )
    reply = client.post("/alerts/sample-kr-pph/edit", data=data)
    assert reply.status_code == 303, reply.text
    after = files_of(settings)
    assert set(after) == set(before)
    assert [name for name in after if after[name] != before[name]] == ["sample-kr-pph.yml"]
    text = after["sample-kr-pph.yml"].decode()
    assert text.startswith("# A SAMPLE alert (sample: true)")  # its comments kept
    assert load_alert(settings.alerts_dir / "sample-kr-pph.yml", today=ALERTS_TODAY)[0].title.en.endswith(
        "edited title"
    )
    stale = client.post("/alerts/sample-kr-pph/edit", data=data)  # the version it was opened on is gone
    assert stale.status_code == 422 and "changed since this form was opened" in stale.text
    renamed = client.post("/alerts/sample-kr-pph/edit", data={**data, "id": "sample-kr-new", "version": ""})
    assert renamed.status_code == 422 and not (settings.alerts_dir / "sample-kr-new.yml").exists()


@pytest.mark.parametrize("bad_id", ["../experts", "..%2F..%2Fexperts", "sample-kr-pph.yml", "nope"])
def test_an_alert_id_that_is_not_an_alert_is_not_found_and_nothing_is_written(alerts_console, bad_id):
    settings = alerts_console
    client, token = alerts_client(settings)
    before = {p: p.read_bytes() for p in settings.knowledge_dir.rglob("*") if p.is_file()}
    assert client.get(f"/alerts/{bad_id}/edit").status_code == 404
    data = alert_form(id="sample-kr-pph", csrf_token=token)
    assert client.post(f"/alerts/{bad_id}/edit", data=data).status_code == 404
    assert client.post(f"/alerts/{bad_id}/publish", data={"csrf_token": token}).status_code == 404
    traversal = client.post("/alerts/new", data=alert_form(id="../../knowledge/experts", csrf_token=token))
    assert traversal.status_code == 422 and 'id="error-id"' in traversal.text
    assert {p: p.read_bytes() for p in settings.knowledge_dir.rglob("*") if p.is_file()} == before


def test_experts_may_not_open_or_post_the_alert_pages(alerts_console):
    settings = alerts_console
    client, token = alerts_client(settings, "expert5")
    assert 'href="/alerts"' not in client.get("/cases").text
    for path in ("/alerts", "/alerts/new", "/alerts/sample-kr-pph/edit"):
        assert client.get(path).status_code == 403
    before = files_of(settings)
    assert client.post("/alerts/new", data=alert_form(csrf_token=token)).status_code == 403
    assert client.post("/alerts/sample-kr-pph/publish", data={"csrf_token": token}).status_code == 403
    assert files_of(settings) == before
    with session_scope(settings.database_url) as s:
        assert delivery_counts(s) == {}


def test_alert_posts_without_the_csrf_token_are_refused_and_change_nothing(alerts_console):
    settings = alerts_console
    client, _ = alerts_client(settings)
    before = files_of(settings)
    for token in ({}, {"csrf_token": "forged"}):
        assert client.post("/alerts/new", data={**alert_form(), **token}).status_code == 403
        edit = alert_form(id="sample-kr-pph", title_en="[Sample] x", **token)
        assert client.post("/alerts/sample-kr-pph/edit", data=edit).status_code == 403
        assert client.post("/alerts/sample-kr-pph/publish", data=token).status_code == 403
    assert files_of(settings) == before
    with session_scope(settings.database_url) as s:
        assert delivery_counts(s) == {}


def test_the_preview_counts_what_a_dry_run_would_queue_by_channel_market_and_language(alerts_console):
    settings = alerts_console
    client, token = alerts_client(settings)
    alert, _ = load_alert(settings.alerts_dir / "sample-jp-pph-pilot.yml", today=ALERTS_TODAY)
    page = client.get("/alerts/sample-jp-pph-pilot/edit").text
    with session_scope(settings.database_url) as s:
        expected = fan_out(s, alert, dry_run=True)
    assert expected == 2
    assert re.search(rf"queue it for <strong>{expected}</strong> subscribers", page)
    rows = re.findall(r"<tr><td>([^<]+)</td><td>(\w+)</td><td>([^<]+)</td><td>([^<]+)</td><td>(\d+)</td></tr>", page)
    assert rows == [
        ("Telegram", "JP", "全部 all", "中文 Chinese", "1"),
        ("网页/接口 web or REST", "JP", "机械设备 Machinery", "英文 English", "1"),
    ]
    assert "7001" not in page and "web-sample" not in page  # counts only, no sender or chat ids
    # The preview of an unsaved change: an EU alert also reaches the German subscriber.
    data = alert_form(id="sample-kr-console", markets="EU, JP", action="preview", csrf_token=token)
    draft = client.post("/alerts/new", data=data).text
    assert "queue it for <strong>3</strong> subscribers" in draft


def test_publishing_queues_outbox_rows_once_through_the_alert_service(alerts_console):
    settings = alerts_console
    client, token = alerts_client(settings)
    reply = client.post("/alerts/sample-jp-pph-pilot/publish", data={"csrf_token": token})
    assert reply.status_code == 303 and reply.headers["location"] == "/alerts/sample-jp-pph-pilot/edit"
    page = client.get(reply.headers["location"]).text
    assert "Queued for 2 subscribers" in page and "queue it for <strong>0</strong> subscribers" in page
    assert "2 more had it already" in page
    again = client.post("/alerts/sample-jp-pph-pilot/publish", data={"csrf_token": token})
    assert "Queued for 0 subscribers" in client.get(again.headers["location"]).text
    with session_scope(settings.database_url) as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "alert")).all()
        assert sorted((r.channel, r.recipient, r.payload["alert_id"]) for r in rows) == [
            ("telegram", "7001", "sample-jp-pph-pilot"),
            ("web", "web-sample-1", "sample-jp-pph-pilot"),
        ]
        assert delivery_counts(s) == {"sample-jp-pph-pilot": {"pending": 2}}
    expired = client.post("/alerts/sample-expired-us-cbp/publish", data={"csrf_token": token})
    assert "not active (已过期 expired): nothing was sent" in client.get(expired.headers["location"]).text
    (settings.alerts_dir / "broken.yml").write_text("id: [\n", encoding="utf-8")
    held = client.post("/alerts/sample-kr-pph/publish", data={"csrf_token": token})
    assert "nothing is published until it is fixed" in client.get(held.headers["location"]).text
    with session_scope(settings.database_url) as s:
        assert set(delivery_counts(s)) == {"sample-jp-pph-pilot"}
