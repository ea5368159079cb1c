"""Market alerts: the staff-written alert files (knowledge/alerts/*.yml) and their validation,
subscriptions by market and industry, and publishing — each active alert queued exactly once for
each matching subscriber through the outbox.

- Telegram conversations (sender id `tg-<chat id>`) get their alerts from the notifier, over Telegram.
- Other conversations (web widget, REST) get an outbox row on channel "web": the bot shows it in
  the chat at the user's next message (`claim_web_alerts`) and marks it delivered then.
- Exactly once: the unique (alert_id, subscriber) pair of `AlertDelivery`; publishing twice, or two
  publishers at once, adds nothing. All or nothing: if any alert file is invalid, nothing is published.
- The staff console (bot/console) writes alert files through actions/alerts/files.py, checked by the same
  `check_alert_text` as `load_alert`, previews who would get one (`preview`) and publishes it (`publish_one`).
- Expired alerts (past `valid_until`) are never sent; alerts whose `published` date is still ahead
  wait for it.

Functions that take a session never commit: the caller's `session_scope` makes them one transaction.
Nothing here connects or reads files at import time.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from actions.channels import channel_of
from actions.knowledge import (
    IP_TYPES,
    LangText,
    Problem,
    knowledge_signature,
    parse_yaml_text,
    read_yaml_file,
    relative_name,
    validation_problems,
    yaml_key_lines,
)
from actions.messages import t
from actions.privacy import get_logger
from actions.store import (
    AlertDelivery,
    AlertSubscription,
    OutboxMessage,
    claim,
    pending_web_rows,
    session_scope,
    utcnow,
)
from actions.vocab import (
    ALL_INDUSTRIES,
    EU_MEMBERS,
    MARKETS,
    covers_market,
    industry_name,
    join_names,
    known_industries,
    market_name,
)

logger = get_logger(__name__)

SEVERITIES = ("info", "warning", "urgent")
SAMPLE_PREFIX = {"zh": "【示例】", "en": "[Sample]"}
ALERT_GLOB = "*.yml"
MAX_PUBLISH_ATTEMPTS = 3


class Alert(BaseModel):
    """One market alert, as staff write it in knowledge/alerts/<id>.yml."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)
    sample: bool
    title: LangText
    body: LangText
    markets: list[str] = Field(min_length=1)
    industries: list[str] = Field(min_length=1)
    ip_types: list[Literal[IP_TYPES]] = Field(min_length=1)  # type: ignore[valid-type]
    severity: Literal[SEVERITIES]  # type: ignore[valid-type]
    source: HttpUrl
    published: date
    last_reviewed: date
    valid_until: date
    _path: str = PrivateAttr(default="")

    @field_validator("markets")
    @classmethod
    def _known_markets(cls, value: list[str]) -> list[str]:
        unknown = [c for c in value if c not in MARKETS]
        if unknown:
            raise ValueError(f"{unknown} are not market codes the bot knows, such as JP, KR, US or EU")
        return value

    @field_validator("industries")
    @classmethod
    def _known_industries(cls, value: list[str]) -> list[str]:
        return known_industries(value, allow_all=True)

    @field_validator("title")
    @classmethod
    def _sample_label(cls, title: LangText, info: ValidationInfo) -> LangText:
        sample = info.data.get("sample")
        for lang in ("zh", "en"):
            titled = getattr(title, lang).startswith(SAMPLE_PREFIX[lang])
            if sample and not titled:
                raise ValueError(f"a sample alert's {lang} title must start with {SAMPLE_PREFIX[lang]!r}")
            if sample is False and titled:
                raise ValueError(f"the {lang} title says {SAMPLE_PREFIX[lang]!r} but sample is false")
        return title

    @field_validator("valid_until")
    @classmethod
    def _after_published(cls, valid_until: date, info: ValidationInfo) -> date:
        published = info.data.get("published")
        if published is not None and valid_until < published:
            raise ValueError(f"{valid_until} is before published {published}")
        return valid_until

    @property
    def path(self) -> str:
        """The file the alert came from."""
        return self._path

    def status(self, today: date) -> Literal["active", "scheduled", "expired"]:
        """active between `published` and `valid_until` (both included), else scheduled or expired."""
        if today < self.published:
            return "scheduled"
        return "expired" if today > self.valid_until else "active"

    def covers(self, market: str, industry: str) -> bool:
        """True when a subscription to this market and industry should get the alert."""
        market_ok = covers_market(self.markets, market)
        industry_ok = ALL_INDUSTRIES in (industry, *self.industries) or industry in self.industries
        return market_ok and industry_ok


def load_alert(path: Path, root: Path | None = None, today: date | None = None) -> tuple[Alert | None, list[Problem]]:
    """Reads one alert file; None (with file:line problems) if it is invalid."""
    rel = relative_name(path, root)
    data, lines, problems = read_yaml_file(path, rel)
    return (None, problems) if problems else _validated_alert(data, lines, rel, today)


def check_alert_text(text: str, rel: str, today: date | None = None) -> tuple[Alert | None, list[Problem]]:
    """The checks of `load_alert` on an alert's YAML before it is written (the console's form), so a file
    the console writes is one `load_alert` accepts; problems name `rel` and the text's lines."""
    data, lines, problems = parse_yaml_text(text, rel)
    return (None, problems) if problems else _validated_alert(data, lines, rel, today)


def _validated_alert(
    data: Any, lines: dict[str, int], rel: str, today: date | None
) -> tuple[Alert | None, list[Problem]]:
    """An alert file's parsed YAML checked against the format; None (with file:line problems) if it is invalid."""
    if not isinstance(data, dict):
        return None, [Problem(rel, 1, "alert", "the file must be a YAML mapping of one alert's fields")]
    try:
        alert = Alert.model_validate(data)
    except ValidationError as exc:
        return None, validation_problems(exc, rel, lines, "alert")
    today = today or date.today()
    if alert.last_reviewed > today:
        return None, [
            Problem(rel, lines.get("last_reviewed", 1), "last_reviewed", f"{alert.last_reviewed} is in the future")
        ]
    alert._path = rel
    return alert, []


def load_alerts(
    alerts_dir: Path, root: Path | None = None, today: date | None = None
) -> tuple[list[Alert], list[Problem]]:
    """Reads every alert file; invalid ones are left out and reported (ids must be unique)."""
    alerts: list[Alert] = []
    problems: list[Problem] = []
    first: dict[str, str] = {}
    for path in sorted(alerts_dir.glob(ALERT_GLOB)) if alerts_dir.is_dir() else []:
        alert, found = load_alert(path, root, today)
        problems += found
        if alert is None:
            continue
        if alert.id in first:
            line = yaml_key_lines(path.read_text(encoding="utf-8")).get("id", 1)
            problems.append(Problem(alert.path, line, "id", f"duplicate id {alert.id!r}, also in {first[alert.id]}"))
            continue
        first[alert.id] = alert.path
        alerts.append(alert)
    return alerts, problems


def has_errors(problems: Iterable[Problem]) -> bool:
    """True when any problem is an error (not a warning)."""
    return any(p.severity == "error" for p in problems)


# ---- subscriptions ------------------------------------------------------------------------------------
def subscribe(session: Session, sender_id: str, markets: list[str], industry: str, language: str) -> list[str]:
    """Subscribes a conversation to each market for an industry; returns the markets that are new."""
    channel, recipient = channel_of(sender_id)
    have = {
        s.market
        for s in session.scalars(
            select(AlertSubscription).where(
                AlertSubscription.sender_id == sender_id, AlertSubscription.industry == industry
            )
        )
    }
    added = []
    for market in markets:
        if market in have:
            continue
        session.add(
            AlertSubscription(
                sender_id=sender_id,
                channel=channel,
                recipient=recipient,
                language=language,
                market=market,
                industry=industry,
            )
        )
        added.append(market)
    # The newest language wins for every subscription of this conversation.
    session.execute(update(AlertSubscription).where(AlertSubscription.sender_id == sender_id).values(language=language))
    session.flush()
    return added


def subscriptions_of(session: Session, sender_id: str) -> list[AlertSubscription]:
    """A conversation's subscriptions, oldest first."""
    query = select(AlertSubscription).where(AlertSubscription.sender_id == sender_id).order_by(AlertSubscription.id)
    return list(session.scalars(query))


def unsubscribe(
    session: Session, sender_id: str, markets: list[str] | None = None, industry: str | None = None
) -> list[AlertSubscription]:
    """Removes a conversation's subscriptions (all, or those for the markets / industry); returns them."""
    gone = [
        s
        for s in subscriptions_of(session, sender_id)
        if (markets is None or s.market in markets) and (industry is None or s.industry == industry)
    ]
    if gone:
        session.execute(delete(AlertSubscription).where(AlertSubscription.id.in_([s.id for s in gone])))
    return gone


# ---- publishing ---------------------------------------------------------------------------------------
SEVERITY_ICON = {"info": "ℹ️", "warning": "⚠️", "urgent": "🚨"}


def render_alert(alert: Alert, lang: str) -> str:
    """The alert as a subscriber reads it, in their language."""
    title, body = getattr(alert.title, lang), getattr(alert.body, lang)
    markets = join_names([market_name(m, lang) for m in alert.markets], lang)
    if ALL_INDUSTRIES not in alert.industries:
        markets += " · " + join_names([industry_name(i, lang) for i in alert.industries], lang)
    meta = f"{t('alerts.card.scope', lang, markets=markets)} · {t('alerts.card.valid', lang, date=alert.valid_until)}"
    return "\n".join(
        [
            f"{SEVERITY_ICON[alert.severity]} {title}",
            body.strip(),
            meta,
            t("alerts.card.source", lang, url=alert.source),
            t("alerts.card.footer", lang),
        ]
    )


def _subscribers(session: Session, alert: Alert, sender_id: str | None = None) -> dict[str, AlertSubscription]:
    """The conversations whose subscriptions the alert covers (one subscription each, the newest)."""
    markets = set(alert.markets) | (EU_MEMBERS if "EU" in alert.markets else set())
    query = select(AlertSubscription).where(AlertSubscription.market.in_(sorted(markets)))
    if sender_id is not None:
        query = query.where(AlertSubscription.sender_id == sender_id)
    chosen: dict[str, AlertSubscription] = {}
    for sub in session.scalars(query.order_by(AlertSubscription.id)):
        if alert.covers(sub.market, sub.industry):
            chosen[sub.sender_id] = sub
    return chosen


def _not_yet_served(
    session: Session, alert: Alert, sender_id: str | None = None
) -> tuple[list[AlertSubscription], int]:
    """The subscriptions the alert would be queued for now (one per conversation it covers that has not had
    it), and how many covered conversations had it already."""
    subscribers = _subscribers(session, alert, sender_id)
    if not subscribers:
        return [], 0
    had = set(
        session.scalars(
            select(AlertDelivery.subscriber).where(
                AlertDelivery.alert_id == alert.id, AlertDelivery.subscriber.in_(sorted(subscribers))
            )
        )
    )
    return [sub for sender, sub in subscribers.items() if sender not in had], len(had)


def _reading_language(sub: AlertSubscription) -> str:
    """The language a subscriber reads the alert in (Chinese when theirs is neither)."""
    return sub.language if sub.language in ("zh", "en") else "zh"


def fan_out(session: Session, alert: Alert, sender_id: str | None = None, dry_run: bool = False) -> int:
    """Queues the alert for every matching subscriber that has not had it; returns how many were queued."""
    new, _ = _not_yet_served(session, alert, sender_id)
    if dry_run or not new:
        return len(new)
    for sub in new:
        language = _reading_language(sub)
        row = OutboxMessage(
            dedupe_key=f"alert:{alert.id}:{sub.sender_id}"[:200],
            kind="alert",
            channel=sub.channel,
            recipient=sub.recipient,
            payload={
                "alert_id": alert.id,
                "text": render_alert(alert, language),
                "severity": alert.severity,
                "valid_until": alert.valid_until.isoformat(),
                "sample": alert.sample,
                "language": language,
            },
        )
        session.add(row)
        session.flush()
        session.add(AlertDelivery(alert_id=alert.id, subscriber=sub.sender_id, channel=sub.channel, outbox_id=row.id))
    session.flush()
    return len(new)


@dataclass(frozen=True)
class RecipientGroup:
    """Subscribers an alert would reach, counted by channel, subscribed market and industry, and the language
    they would read it in (no sender ids or chat ids: the console shows staff who, not which person)."""

    channel: str
    market: str
    industry: str
    language: str
    count: int


@dataclass(frozen=True)
class Preview:
    """Who publishing an alert now would queue it for (`count` is what `fan_out` would return), and how
    many of the conversations it covers had it already."""

    groups: list[RecipientGroup]
    had_it: int

    @property
    def count(self) -> int:
        return sum(g.count for g in self.groups)


def preview(session: Session, alert: Alert) -> Preview:
    """Who would receive the alert if it were published now (writes nothing); the same selection as `fan_out`,
    whatever the alert's dates say (`publish_alerts` sends only active alerts)."""
    new, had_it = _not_yet_served(session, alert)
    counted = Counter((s.channel, s.market, s.industry, _reading_language(s)) for s in new)
    groups = [RecipientGroup(*key, count=n) for key, n in sorted(counted.items())]
    return Preview(groups, had_it)


def delivery_counts(session: Session) -> dict[str, dict[str, int]]:
    """How far each alert got, per alert id: the subscribers it was queued for, by the state of their
    notification (pending, delivered, expired; "purged" once the retention purge removed it). An alert
    with no row here was never queued for anyone (publishing records nothing else)."""
    rows = session.execute(
        select(AlertDelivery.alert_id, OutboxMessage.status, func.count())
        .outerjoin(OutboxMessage, OutboxMessage.id == AlertDelivery.outbox_id)
        .group_by(AlertDelivery.alert_id, OutboxMessage.status)
    )
    counts: dict[str, dict[str, int]] = {}
    for alert_id, status, n in rows:
        counts.setdefault(alert_id, {})[status or "purged"] = n
    return counts


def publish_alerts(
    url: str, alerts: list[Alert], today: date | None = None, sender_id: str | None = None, dry_run: bool = False
) -> dict[str, int]:
    """Queues every active alert for its subscribers not yet served (only `sender_id` if given).

    One transaction per alert; a conflict with a concurrent publisher (the unique pair) is retried,
    and the retry finds the rows the other one wrote, so nobody gets an alert twice.
    """
    today = today or date.today()
    queued: dict[str, int] = {}
    for alert in alerts:
        if alert.status(today) != "active":
            continue
        for attempt in range(1, MAX_PUBLISH_ATTEMPTS + 1):
            try:
                with session_scope(url) as session:
                    queued[alert.id] = fan_out(session, alert, sender_id, dry_run)
                    if dry_run:
                        session.rollback()
                break
            except IntegrityError:
                logger.info("alert %s: another publisher got there first (attempt %s); retrying", alert.id, attempt)
                if attempt == MAX_PUBLISH_ATTEMPTS:
                    raise
    return queued


@dataclass
class PublishReport:
    """What one publishing run did: problems found (nothing published when any is an error), and the
    number of subscribers each active alert was newly queued for."""

    problems: list[Problem] = field(default_factory=list)
    queued: dict[str, int] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the files were valid (and so the alerts were published)."""
        return not has_errors(self.problems)


def publish(
    alerts_dir: Path, url: str, root: Path | None = None, today: date | None = None, dry_run: bool = False
) -> PublishReport:
    """Validates every alert file and, only if all are valid, publishes the active alerts."""
    today = today or date.today()
    alerts, problems = load_alerts(alerts_dir, root, today)
    if has_errors(problems):
        return PublishReport(problems, {}, alerts)
    return PublishReport(problems, publish_alerts(url, alerts, today, dry_run=dry_run), alerts)


def publish_one(
    alerts_dir: Path, url: str, alert_id: str, root: Path | None = None, today: date | None = None
) -> PublishReport:
    """Publishes one alert now (the console's button) by the rules of `publish`: nothing while any alert file
    is invalid, nothing unless the alert is active, and each subscriber at most once. `alerts` is empty
    when no valid file has that id."""
    today = today or date.today()
    alerts, problems = load_alerts(alerts_dir, root, today)
    chosen = [a for a in alerts if a.id == alert_id]
    if has_errors(problems) or not chosen:
        return PublishReport(problems, {}, chosen)
    return PublishReport(problems, publish_alerts(url, chosen, today), chosen)


def alerts_signature(alerts_dir: Path) -> tuple:
    """Changes whenever an alert file is added, removed or edited."""
    return knowledge_signature(alerts_dir, ALERT_GLOB)


class AlertWatcher:
    """Publishes from the notifier loop: at once when the alert files change, and every `interval`
    seconds anyway (new subscribers, alerts whose `published` day has come). Invalid files are
    logged once per change, and nothing is published until they are fixed."""

    def __init__(self, alerts_dir: Path, url: str, interval: float, root: Path | None = None):
        self.alerts_dir = alerts_dir
        self.url = url
        self.interval = interval
        self.root = root
        self._seen: tuple | None = None
        self._last_run = float("-inf")

    def tick(self, now: float | None = None) -> PublishReport | None:
        """Publishes if the files changed or the interval passed; the report, or None if it did not run."""
        now = time.monotonic() if now is None else now
        signature = (alerts_signature(self.alerts_dir), date.today())
        changed = signature != self._seen
        if not changed and now - self._last_run < self.interval:
            return None
        self._last_run = now
        self._seen = signature  # a failure below is retried after the interval, not at every tick
        report = publish(self.alerts_dir, self.url, self.root)
        if changed:
            for problem in report.problems:
                (logger.error if problem.severity == "error" else logger.warning)("alert files: %s", problem)
            if not report.ok:
                logger.error("alert files have errors: nothing is published until they are fixed")
        if report.ok and any(report.queued.values()):
            logger.info("alerts published: %s", {k: v for k, v in report.queued.items() if v})
        return report


# ---- the web channel: shown at the user's next message -------------------------------------------------
def claim_web_alerts(session: Session, sender_id: str, today: date | None = None) -> list[dict[str, Any]]:
    """The alerts waiting for a web/REST conversation, each claimed (marked delivered) exactly once;
    expired ones are marked expired and not shown."""
    today = today or date.today()
    shown = []
    now: datetime = utcnow()
    for row in pending_web_rows(session, sender_id, "alert"):
        expired = date.fromisoformat(row.payload.get("valid_until", "9999-12-31")) < today
        if claim(session, row, "expired" if expired else "delivered", now) and not expired:
            shown.append(dict(row.payload))
    return shown


def active_alerts_for(
    alerts: list[Alert], markets: Iterable[str], industries: Iterable[str] = (), today: date | None = None
) -> list[Alert]:
    """Active alerts about any of the markets (and, if industries are given, one of them), most severe first."""
    today = today or date.today()
    wanted_markets = list(markets)
    wanted_industries = list(industries) or [ALL_INDUSTRIES]
    found = [
        a
        for a in alerts
        if a.status(today) == "active" and any(a.covers(m, i) for m in wanted_markets for i in wanted_industries)
    ]
    order = {s: i for i, s in enumerate(reversed(SEVERITIES))}
    return sorted(found, key=lambda a: (order[a.severity], -a.published.toordinal()))
