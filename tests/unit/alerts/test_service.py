"""Market alerts: validation of the alert files (one broken fixture per error class, with file:line),
subscriptions, and publishing exactly once — twice, racing, expired, scheduled, all-or-nothing —
on SQLite and PostgreSQL (the `database_url` fixture), plus delivery over a loopback Telegram."""

from __future__ import annotations

import asyncio
import shutil
import threading
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from actions.alerts.service import (
    Alert,
    AlertWatcher,
    active_alerts_for,
    check_alert_text,
    claim_web_alerts,
    delivery_counts,
    fan_out,
    load_alert,
    load_alerts,
    preview,
    publish,
    publish_alerts,
    publish_one,
    subscribe,
    subscriptions_of,
    unsubscribe,
)
from actions.settings import PROJECT_ROOT
from actions.store import AlertDelivery, OutboxMessage, session_scope

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
TODAY = date(2026, 11, 24)


def make_alert(alert_id: str = "kr-1", **changes) -> Alert:
    values = {
        "id": alert_id,
        "sample": False,
        "title": {"zh": "韩国商标提醒", "en": "Korea trademark reminder"},
        "body": {"zh": "正文。", "en": "Body."},
        "markets": ["KR"],
        "industries": ["all"],
        "ip_types": ["trademark"],
        "severity": "warning",
        "source": "https://www.kipo.go.kr/en/",
        "published": date(2026, 11, 1),
        "last_reviewed": date(2026, 11, 20),
        "valid_until": date(2027, 6, 30),
    }
    return Alert.model_validate({**values, **changes})


def outbox(url: str) -> list[OutboxMessage]:
    with session_scope(url) as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


# ---- validation ---------------------------------------------------------------------------------------
def test_the_shipped_alerts_are_valid_labelled_samples_and_one_has_expired():
    alerts, problems = load_alerts(PROJECT_ROOT / "knowledge" / "alerts", PROJECT_ROOT, TODAY)
    assert problems == [] and len(alerts) >= 3
    assert all(a.sample and a.title.zh.startswith("【示例】") and a.title.en.startswith("[Sample]") for a in alerts)
    statuses = {a.status(TODAY) for a in alerts}
    assert statuses == {"active", "expired"}
    assert all(a.valid_until > TODAY for a in alerts if a.status(TODAY) == "active")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("bad-yaml.yml", "broken/alerts/bad-yaml.yml:3: yaml: invalid YAML"),
        ("missing-severity.yml", "broken/alerts/missing-severity.yml:1: severity: missing"),
        ("unknown-market.yml", "broken/alerts/unknown-market.yml:9: markets: ['XX'] are not market codes"),
        (
            "sample-unlabelled.yml",
            "broken/alerts/sample-unlabelled.yml:3: title: a sample alert's zh title must start with '【示例】'",
        ),
        (
            "expires-before-published.yml",
            "broken/alerts/expires-before-published.yml:16: valid_until: 2026-10-01 is before published",
        ),
        ("future-review.yml", "broken/alerts/future-review.yml:15: last_reviewed: 2099-01-01 is in the future"),
        ("unknown-field.yml", "broken/alerts/unknown-field.yml:13: urgency: Extra inputs are not permitted"),
        (
            "bad-severity.yml",
            "broken/alerts/bad-severity.yml:12: severity: Input should be 'info', 'warning' or 'urgent'",
        ),
        ("bad-source.yml", "broken/alerts/bad-source.yml:13: source: Input should be a valid URL"),
        ("all-and-more.yml", "broken/alerts/all-and-more.yml:10: industries: 'all' already covers every industry"),
        ("not-a-mapping.yml", "broken/alerts/not-a-mapping.yml:1: alert: the file must be a YAML mapping"),
    ],
)
def test_broken_alert_files_are_reported_with_file_and_line(name, expected):
    alert, problems = load_alert(FIXTURES / "broken" / "alerts" / name, FIXTURES, TODAY)
    assert alert is None
    assert len(problems) == 1 and str(problems[0]).startswith(expected), [str(p) for p in problems]


@pytest.mark.parametrize("path", sorted((FIXTURES / "broken" / "alerts").glob("*.yml")), ids=lambda p: p.name)
def test_an_alert_text_is_checked_exactly_like_the_file_it_would_become(path):
    """The console checks its form's YAML with check_alert_text before writing: the same problems, same lines."""
    from_file = load_alert(path, FIXTURES, TODAY)
    from_text = check_alert_text(path.read_text(encoding="utf-8"), path.relative_to(FIXTURES).as_posix(), TODAY)
    assert from_text[0] is None and from_text[1] == from_file[1] != []
    valid = FIXTURES / "alerts" / "fx-valid.yml"
    alert, problems = check_alert_text(valid.read_text(encoding="utf-8"), "alerts/fx-valid.yml", TODAY)
    assert problems == [] and alert == load_alert(valid, FIXTURES, TODAY)[0] and alert.path == "alerts/fx-valid.yml"


def test_a_duplicate_id_is_reported_at_the_second_file():
    alerts, problems = load_alerts(FIXTURES / "broken" / "alerts" / "dup", FIXTURES, TODAY)
    assert [a.id for a in alerts] == ["fx-twice"]
    assert [str(p) for p in problems] == [
        "broken/alerts/dup/b.yml:1: id: duplicate id 'fx-twice', also in broken/alerts/dup/a.yml"
    ]


@pytest.mark.parametrize(
    ("published", "valid_until", "status"),
    [
        (date(2026, 11, 1), date(2027, 1, 1), "active"),
        (date(2026, 11, 24), date(2026, 11, 24), "active"),  # both days included
        (date(2026, 11, 25), date(2027, 1, 1), "scheduled"),
        (date(2026, 1, 1), date(2026, 11, 23), "expired"),
    ],
)
def test_status_by_date(published, valid_until, status):
    assert make_alert(published=published, valid_until=valid_until).status(TODAY) == status


@pytest.mark.parametrize(
    ("markets", "industries", "sub_market", "sub_industry", "covered"),
    [
        (["KR"], ["all"], "KR", "all", True),
        (["KR"], ["all"], "KR", "toys", True),
        (["KR"], ["toys"], "KR", "all", True),
        (["KR"], ["toys"], "KR", "toys", True),
        (["KR"], ["toys"], "KR", "food", False),
        (["KR"], ["all"], "JP", "all", False),
        (["EU"], ["all"], "DE", "all", True),  # an EU alert reaches subscribers of member states
        (["DE"], ["all"], "EU", "all", False),
    ],
)
def test_which_subscriptions_an_alert_covers(markets, industries, sub_market, sub_industry, covered):
    assert make_alert(markets=markets, industries=industries).covers(sub_market, sub_industry) is covered


def test_active_alerts_for_a_question_most_severe_first():
    alerts = [
        make_alert("a", severity="info"),
        make_alert("b", severity="urgent"),
        make_alert("c", valid_until=date(2026, 11, 1), published=date(2026, 10, 1)),
        make_alert("d", markets=["JP"]),
    ]
    assert [a.id for a in active_alerts_for(alerts, ["KR"], today=TODAY)] == ["b", "a"]


# ---- subscriptions and publishing, on SQLite and PostgreSQL ----------------------------------------------
def test_subscribe_list_and_unsubscribe(database_url):
    with session_scope(database_url) as s:
        assert subscribe(s, "web-1", ["KR", "JP"], "all", "en") == ["KR", "JP"]
        assert subscribe(s, "web-1", ["KR"], "all", "zh") == []  # already there
        assert subscribe(s, "web-1", ["KR"], "toys", "zh") == ["KR"]
    with session_scope(database_url) as s:
        subs = subscriptions_of(s, "web-1")
        assert [(x.market, x.industry, x.language, x.channel) for x in subs] == [
            ("KR", "all", "zh", "web"),
            ("JP", "all", "zh", "web"),
            ("KR", "toys", "zh", "web"),
        ]
        assert [x.market for x in unsubscribe(s, "web-1", ["KR"])] == ["KR", "KR"]
        assert unsubscribe(s, "nobody") == []
    with session_scope(database_url) as s:
        assert [x.market for x in subscriptions_of(s, "web-1")] == ["JP"]


def test_the_database_refuses_a_second_delivery_of_the_same_alert(database_url):
    with session_scope(database_url) as s:
        s.add(AlertDelivery(alert_id="kr-1", subscriber="web-1", channel="web"))
    with pytest.raises(IntegrityError), session_scope(database_url) as s:
        s.add(AlertDelivery(alert_id="kr-1", subscriber="web-1", channel="web"))


def test_publishing_twice_sends_nothing_new(database_url):
    with session_scope(database_url) as s:
        subscribe(s, "tg-7001", ["KR"], "all", "en")
        subscribe(s, "web-2", ["KR"], "electronics", "zh")
        subscribe(s, "web-3", ["KR"], "food", "zh")  # not covered: the alert is for electronics
        subscribe(s, "web-4", ["JP"], "all", "zh")  # another market
    alert = make_alert(industries=["electronics"])
    assert publish_alerts(database_url, [alert], TODAY) == {"kr-1": 2}
    assert publish_alerts(database_url, [alert], TODAY) == {"kr-1": 0}
    rows = outbox(database_url)
    assert sorted((r.channel, r.recipient, r.kind) for r in rows) == [
        ("telegram", "7001", "alert"),
        ("web", "web-2", "alert"),
    ]
    by_recipient = {r.recipient: r.payload for r in rows}
    assert by_recipient["7001"]["text"].startswith("⚠️ Korea trademark reminder")  # the subscriber's language
    assert by_recipient["web-2"]["text"].startswith("⚠️ 韩国商标提醒")
    # A new subscriber gets the active alert at the next run; the others still nothing.
    with session_scope(database_url) as s:
        subscribe(s, "web-5", ["KR"], "all", "en")
    assert publish_alerts(database_url, [alert], TODAY) == {"kr-1": 1}
    assert len(outbox(database_url)) == 3


def test_the_preview_counts_what_fan_out_would_queue_without_naming_anyone(database_url):
    with session_scope(database_url) as s:
        subscribe(s, "tg-7001", ["KR"], "all", "en")
        subscribe(s, "web-2", ["KR"], "electronics", "zh")
        subscribe(s, "web-3", ["KR"], "food", "zh")  # not covered: the alert is for electronics
        subscribe(s, "web-4", ["DE"], "all", "en")  # an EU member state: covered by an EU alert
        subscribe(s, "web-5", ["JP"], "all", "zh")  # another market
    alert = make_alert(markets=["KR", "EU"], industries=["electronics"])
    publish_alerts(database_url, [make_alert("other")], TODAY)  # another alert's deliveries do not count
    with session_scope(database_url) as s:
        seen = preview(s, alert)
        assert seen.count == fan_out(s, alert, dry_run=True) == 3 and seen.had_it == 0
        assert [(g.channel, g.market, g.industry, g.language, g.count) for g in seen.groups] == [
            ("telegram", "KR", "all", "en", 1),
            ("web", "DE", "all", "en", 1),
            ("web", "KR", "electronics", "zh", 1),
        ]
        assert "7001" not in repr(seen) and "web-2" not in repr(seen)
    with session_scope(database_url) as s:
        subscribe(s, "tg-7001", ["DE"], "all", "en")  # two covered subscriptions: one recipient, the newest
        fan_out(s, alert, sender_id="web-2")  # one subscriber has it now
    with session_scope(database_url) as s:
        seen = preview(s, alert)
        assert seen.count == fan_out(s, alert, dry_run=True) == 2 and seen.had_it == 1
        assert [(g.channel, g.market) for g in seen.groups] == [("telegram", "DE"), ("web", "DE")]


def test_delivery_counts_by_notification_state_and_after_the_purge(database_url):
    with session_scope(database_url) as s:
        subscribe(s, "web-1", ["KR"], "all", "en")
        subscribe(s, "web-2", ["KR"], "all", "en")
    publish_alerts(database_url, [make_alert("kr-1"), make_alert("kr-2")], TODAY)
    with session_scope(database_url) as s:
        claim_web_alerts(s, "web-1", TODAY)
        assert delivery_counts(s) == {"kr-1": {"delivered": 1, "pending": 1}, "kr-2": {"delivered": 1, "pending": 1}}
        record = s.scalars(select(AlertDelivery).where(AlertDelivery.alert_id == "kr-1")).first()
        record.outbox_id = None  # what the retention purge leaves of an old notification
    with session_scope(database_url) as s:
        assert sum(delivery_counts(s)["kr-1"].values()) == 2 and "purged" in delivery_counts(s)["kr-1"]


def test_publishing_one_alert_queues_it_once_and_only_while_every_file_is_valid(database_url, alert_dir):
    with session_scope(database_url) as s:
        subscribe(s, "web-1", ["KR"], "all", "en")
    (alert_dir / "fx-second.yml").write_text(
        (alert_dir / "fx-valid.yml").read_text(encoding="utf-8").replace("id: fx-valid", "id: fx-second"),
        encoding="utf-8",
    )
    (alert_dir / "broken.yml").write_text("id: [\n", encoding="utf-8")
    refused = publish_one(alert_dir, database_url, "fx-valid", today=TODAY)
    assert not refused.ok and refused.queued == {} and outbox(database_url) == []
    (alert_dir / "broken.yml").unlink()
    assert publish_one(alert_dir, database_url, "fx-valid", today=TODAY).queued == {"fx-valid": 1}
    assert publish_one(alert_dir, database_url, "fx-valid", today=TODAY).queued == {"fx-valid": 0}
    assert [r.payload["alert_id"] for r in outbox(database_url)] == ["fx-valid"]  # not fx-second
    assert publish_one(alert_dir, database_url, "fx-valid", today=date(2099, 1, 1)).queued == {}  # expired
    unknown = publish_one(alert_dir, database_url, "../../etc/passwd", today=TODAY)
    assert unknown.ok and unknown.alerts == [] and unknown.queued == {}


def test_two_publishers_racing_queue_each_alert_once_per_subscriber(database_url):
    with session_scope(database_url) as s:
        for i in range(20):
            subscribe(s, f"web-{i}", ["KR"], "all", "en")
    alerts = [make_alert("kr-1"), make_alert("kr-2")]
    barrier = threading.Barrier(3)
    results: list[dict[str, int]] = []
    errors: list[BaseException] = []

    def publisher() -> None:
        try:
            barrier.wait()
            results.append(publish_alerts(database_url, alerts, TODAY))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=publisher) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert errors == []
    assert sum(r["kr-1"] for r in results) == 20 and sum(r["kr-2"] for r in results) == 20
    with session_scope(database_url) as s:
        pairs = s.execute(select(AlertDelivery.alert_id, func.count()).group_by(AlertDelivery.alert_id)).all()
        assert sorted(pairs) == [("kr-1", 20), ("kr-2", 20)]
    assert len(outbox(database_url)) == 40


def test_expired_and_scheduled_alerts_are_not_sent(database_url):
    with session_scope(database_url) as s:
        subscribe(s, "web-1", ["KR"], "all", "en")
    expired = make_alert("old", published=date(2026, 1, 1), valid_until=date(2026, 11, 23))
    scheduled = make_alert("later", published=date(2026, 12, 1))
    assert publish_alerts(database_url, [expired, scheduled], TODAY) == {}
    assert outbox(database_url) == []
    assert publish_alerts(database_url, [expired, scheduled], date(2026, 12, 1)) == {"later": 1}


def test_web_alerts_are_shown_once_and_expired_ones_never(database_url):
    with session_scope(database_url) as s:
        subscribe(s, "web-1", ["KR"], "all", "en")
    short = make_alert("short", valid_until=date(2026, 11, 30))
    publish_alerts(database_url, [make_alert("kr-1"), short], TODAY)
    with session_scope(database_url) as s:
        shown = claim_web_alerts(s, "web-1", TODAY + timedelta(days=10))  # the user comes back after 10 days
    assert [p["alert_id"] for p in shown] == ["kr-1"]
    with session_scope(database_url) as s:
        assert claim_web_alerts(s, "web-1", TODAY) == []
    assert sorted(r.status for r in outbox(database_url)) == ["delivered", "expired"]


# ---- all or nothing, the watcher and the command line -----------------------------------------------------
@pytest.fixture
def alert_dir(tmp_path):
    folder = tmp_path / "knowledge" / "alerts"
    folder.mkdir(parents=True)
    shutil.copy(FIXTURES / "alerts" / "fx-valid.yml", folder / "fx-valid.yml")
    return folder


def test_one_invalid_file_means_nothing_is_published(database_url, alert_dir):
    with session_scope(database_url) as s:
        subscribe(s, "web-1", ["KR"], "all", "en")
    shutil.copy(FIXTURES / "broken" / "alerts" / "unknown-market.yml", alert_dir / "broken.yml")
    report = publish(alert_dir, database_url, alert_dir.parent.parent, TODAY)
    assert not report.ok and report.queued == {}
    assert [str(p).split(":")[0] for p in report.problems] == ["knowledge/alerts/broken.yml"]
    assert outbox(database_url) == []
    (alert_dir / "broken.yml").unlink()
    assert publish(alert_dir, database_url, alert_dir.parent.parent, TODAY).queued == {"fx-valid": 1}


def test_the_watcher_publishes_on_change_and_holds_back_while_a_file_is_broken(database_url, alert_dir, caplog):
    with session_scope(database_url) as s:
        subscribe(s, "web-1", ["KR"], "all", "en")
    watcher = AlertWatcher(alert_dir, database_url, interval=3600)
    assert watcher.tick(now=0).queued == {"fx-valid": 1}
    assert watcher.tick(now=1) is None  # nothing changed, interval not over
    (alert_dir / "broken.yml").write_text("id: [\n", encoding="utf-8")
    report = watcher.tick(now=2)
    assert report is not None and not report.ok
    assert "nothing is published until they are fixed" in caplog.text
    (alert_dir / "broken.yml").unlink()
    (alert_dir / "fx-second.yml").write_text(
        (alert_dir / "fx-valid.yml").read_text(encoding="utf-8").replace("id: fx-valid", "id: fx-second"),
        encoding="utf-8",
    )
    assert watcher.tick(now=3).queued == {"fx-valid": 0, "fx-second": 1}
    assert watcher.tick(now=3604).queued == {"fx-valid": 0, "fx-second": 0}  # the periodic run


def test_cli_check_list_and_publish(tmp_path, alert_dir, monkeypatch, capsys):
    from actions.cli import main
    from actions.settings import get_settings
    from actions.store import migrate

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("KNOWLEDGE_DIR", str(alert_dir.parent))
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        migrate(url)
        with session_scope(url) as s:
            subscribe(s, "tg-7001", ["KR"], "all", "zh")
        assert main(["alerts", "check"]) == 0
        assert main(["alerts", "publish", "--dry-run"]) == 0
        assert "fx-valid: would be queued for 1 new subscriber(s)" in capsys.readouterr().out
        assert outbox(url) == []
        assert main(["alerts", "publish"]) == 0
        assert main(["alerts", "publish"]) == 0
        out = capsys.readouterr().out
        assert "fx-valid: queued for 1 new subscriber(s)" in out and "fx-valid: queued for 0 new subscriber(s)" in out
        assert main(["alerts", "list"]) == 0
        assert "delivered 0, waiting 1" in capsys.readouterr().out
        assert main(["alerts", "subscriptions"]) == 0
        assert "tg-7001" in capsys.readouterr().out
        (alert_dir / "bad.yml").write_text("id: x\nsample: maybe\n", encoding="utf-8")
        assert main(["alerts", "check"]) == 1
        assert main(["alerts", "publish"]) == 1
        err = capsys.readouterr().err
        assert "alerts/bad.yml:2: sample:" in err and "nothing was published" in err
        assert main(["check"]) == 1  # `make check-knowledge` sees it too
    finally:
        get_settings.cache_clear()


# ---- delivery: Telegram subscribers through the notifier, exactly once --------------------------------------
def test_a_telegram_subscriber_receives_a_published_alert_exactly_once(tmp_path, alert_dir):
    from telegram import Bot

    from actions.settings import Settings
    from actions.store import migrate
    from bot.notifier import Notifier
    from tests.telegram_api import FakeBotApi

    url = f"sqlite:///{tmp_path / 'notify.db'}"
    migrate(url)
    with session_scope(url) as s:
        subscribe(s, "tg-7001", ["KR"], "all", "en")
        subscribe(s, "web-9", ["KR"], "all", "en")
    settings = Settings(knowledge_dir=alert_dir.parent, database_url=url, telegram_token="1:T", watch_knowledge=False)
    with FakeBotApi("1:T") as api:
        notifier = Notifier(settings, Bot("1:T", base_url=api.base_url))
        watcher = AlertWatcher(alert_dir, url, interval=0)
        for _ in range(3):  # publish and deliver three times over
            watcher.tick()
            asyncio.run(notifier.deliver_due())
        texts = [m["text"] for m in api.sent_messages(7001)]
        assert len(texts) == 1 and texts[0].startswith("⚠️ Korea trademark reminder")
        assert len(api.sent_messages()) == 1  # the web subscriber's row waits for its next message
    statuses = {r.channel: r.status for r in outbox(url)}
    assert statuses == {"telegram": "delivered", "web": "pending"}


def test_the_migrations_create_exactly_what_the_models_describe(database_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from actions.store import Base, get_engine

    with get_engine(database_url).connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
