"""The notifier: delivers the case outbox and takes experts' answers.

    python -m bot.notifier        # started by `make run`

- Every pending outbox row is sent — over Telegram (python-telegram-bot) when TELEGRAM_TOKEN is
  set and the recipient has a chat, by e-mail (bot/mailer.py) when SMTP_HOST is set and the
  recipient is an address, otherwise to the local sink file (.run/notifications.jsonl) —
  and marked delivered only after the channel accepted it. A failure is retried with exponential
  backoff (a 429 waits the `retry_after` Telegram asks for); no row is ever dropped. Delivery is
  at-least-once: a crash between sending and marking may send a row again, and every reaction to
  a message (accept, decline) is idempotent.
- Experts answer offers with the Accept / Decline buttons; the first Accept wins. The buttons'
  presses reach the Telegram gateway (`bot/channels/telegram/gateway.py`, the one process that polls the
  bot's updates), which calls `Notifier.on_callback`; the replies it causes go through the outbox.
- Open cases whose promised response time has passed are offered to the next experts.
- Market alerts (knowledge/alerts/) are published from this loop: at once when the files change and
  every ALERTS_PUBLISH_SECONDS anyway, each exactly once per subscriber (actions/alerts/service.py). Rows
  on the "web" channel are not sent from here: the bot shows them at the user's next message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import socket
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update

from actions.alerts.service import AlertWatcher
from actions.cases.experts import Expert, load_experts
from actions.cases.service import accept, decline, escalate_overdue
from actions.cases.staff import StaffMember, load_staff
from actions.personal_data import purge, remove_documents, strike_from_sink, tracker_session
from actions.privacy import get_logger, open_private
from actions.settings import PROJECT_ROOT, Settings, get_settings
from actions.store import OutboxMessage, migrate, session_scope, utcnow
from bot.mailer import Mailer

logger = get_logger("notifier")

MAX_BACKOFF_SECONDS = 600
CLAIM_SECONDS = 600  # how long a claimed row is this notifier's alone
PURGE_EVERY_SECONDS = 24 * 3600  # the retention purge runs at start and once a day
TEXT = {
    "taken": "Case {case_no} has been taken by another expert. Thank you for your time.",
    "accepted": (
        "You accepted {case_no}. The enterprise has been told; its contact is in the case summary. "
        "Reply to this case's messages here to write to the enterprise."
    ),
    "already": "You have already accepted {case_no}.",
    "too_late": "{case_no} was already taken by another expert.",
    "closed": "{case_no} is closed.",
    "declined": "Declined — thank you.",
    "unknown": "This offer is no longer valid.",
}


def backoff(attempts: int) -> float:
    """Seconds to wait before the next try after `attempts` failures: 2, 4, 8 … up to 10 minutes."""
    return float(min(2**attempts, MAX_BACKOFF_SECONDS))


def retry_after_seconds(error: Exception) -> float | None:
    """The wait a Telegram 429 asks for, in seconds, if the error is one."""
    value = getattr(error, "retry_after", None)
    if value is None:
        return None
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


class Notifier:
    """Delivers outbox rows and reacts to experts' buttons."""

    def __init__(self, settings: Settings, bot: Any = None, name: str | None = None):
        self.settings = settings
        self.bot = bot  # a telegram.Bot, or None to deliver everything to the sink
        self.mailer = Mailer(settings) if settings.smtp_host else None  # None: e-mail rows go to the sink
        self.url = settings.database_url
        self.name = (name or settings.notifier_name or socket.gethostname())[:64]  # what its claims say
        self.unmarked: dict[int, str | None] = {}  # sent, but the database did not take the mark yet

    def experts(self) -> list[Expert]:
        """The valid entries of the expert list."""
        experts, problems = load_experts(self.settings.experts_file)
        for p in problems:
            logger.error("expert list: %s", p)
        return experts

    def staff(self) -> list[StaffMember]:
        """The valid entries of the staff list (told about cases no expert takes)."""
        staff, problems = load_staff(self.settings.staff_file)
        for p in problems:
            logger.error("staff list: %s", p)
        return staff

    # ---- delivery ------------------------------------------------------------------------------
    def _claim(self, limit: int = 50) -> list[OutboxMessage]:
        """Claims up to `limit` due rows for this notifier and returns them; rows another notifier
        is delivering (its claim still runs) are skipped, this notifier's own claims (from before a
        restart, or a failure it could not record) are taken again."""
        now = utcnow()
        until = now + timedelta(seconds=CLAIM_SECONDS)
        claimable = or_(
            OutboxMessage.claimed_until.is_(None),
            OutboxMessage.claimed_until < now,
            OutboxMessage.claimed_by == self.name,
        )
        with session_scope(self.url) as s:
            due = (
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.status == "pending",
                    OutboxMessage.next_attempt_at <= now,
                    OutboxMessage.channel != "web",  # shown by the bot at the user's next message
                    OutboxMessage.id.not_in(list(self.unmarked)),
                    claimable,
                )
                .order_by(OutboxMessage.id)
                .limit(limit)
                .with_for_update(skip_locked=True)  # PostgreSQL; SQLite has one writer at a time anyway
            )
            # One statement: on SQLite it takes the write lock before it reads, so two notifiers never
            # claim from the same snapshot; on PostgreSQL the rows it picks are locked and skipped by others.
            s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(due))
                .values(claimed_by=self.name, claimed_until=until)
                .execution_options(synchronize_session=False)
            )
            mine = select(OutboxMessage).where(
                OutboxMessage.claimed_by == self.name, OutboxMessage.claimed_until == until
            )
            return list(s.scalars(mine.order_by(OutboxMessage.id)))

    def _mark(
        self, row_id: int, delivered: bool, error: str | None = None, wait: float = 0, external: str | None = None
    ) -> None:
        with session_scope(self.url) as s:
            row = s.get(OutboxMessage, row_id)
            if row is None or row.status == "delivered":
                return
            row.claimed_by, row.claimed_until = None, None
            if delivered:
                row.status, row.delivered_at, row.external_id, row.last_error = "delivered", utcnow(), external, None
            else:
                row.attempts += 1
                row.last_error = error
                row.next_attempt_at = utcnow() + timedelta(seconds=wait or backoff(row.attempts))

    def _mark_sent(self) -> None:
        """Records the rows sent while the database did not take the mark (raises while it still does not)."""
        for row_id, external in list(self.unmarked.items()):
            self._mark(row_id, True, None, 0, external)
            del self.unmarked[row_id]

    async def deliver_due(self) -> int:
        """Sends every due row once; returns how many were delivered (and recorded)."""
        return await self.deliver_due_batch(50)

    async def deliver_due_batch(self, limit: int) -> int:
        """Claims up to `limit` due rows and sends each once; returns how many were delivered (and recorded)."""
        delivered = 0
        if self.unmarked:
            await asyncio.to_thread(self._mark_sent)
        for row in await asyncio.to_thread(self._claim, limit):
            try:
                external = await self._send(row)
            except Exception as exc:  # anything: retried later, never dropped
                wait = retry_after_seconds(exc) or 0
                logger.warning(  # ids only: the recipient may be an address, the error may quote the text
                    "outbox %s (%s over %s) failed: %s; retry in %s s",
                    row.id,
                    row.kind,
                    row.channel,
                    type(exc).__name__,
                    wait or "backoff",
                )
                with contextlib.suppress(Exception):  # else the claim runs out and the row is tried again
                    await asyncio.to_thread(self._mark, row.id, False, repr(exc)[:500], wait)
                continue
            self.unmarked[row.id] = external
            try:
                await asyncio.to_thread(self._mark, row.id, True, None, 0, external)
            except Exception:
                logger.error("outbox %s was sent but could not be marked delivered; marking it later", row.id)
                raise
            del self.unmarked[row.id]
            delivered += 1
        return delivered

    async def _send(self, row: OutboxMessage) -> str | None:
        if row.channel == "telegram" and self.bot is not None:
            text, markup = self.render(row)
            message = await self.bot.send_message(chat_id=int(row.recipient), text=text, reply_markup=markup)
            return str(message.message_id)
        if row.channel == "email" and self.mailer is not None:
            text, _ = self.render(row)
            return await self.mailer.send(row.kind, row.recipient, text, row.payload)
        await asyncio.to_thread(self._to_sink, row)
        return None

    def _to_sink(self, row: OutboxMessage) -> None:
        text, _ = self.render(row)
        record = {
            "at": utcnow().isoformat(timespec="seconds"),
            "id": row.id,
            "kind": row.kind,
            "channel": row.channel,
            "recipient": row.recipient,
            "text": text,
        }
        with open_private(self.settings.notifier_sink, "a", encoding="utf-8") as sink:  # 0600: it holds case texts
            sink.write(json.dumps(record, ensure_ascii=False) + "\n")

    def render(self, row: OutboxMessage) -> tuple[str, Any]:
        """The text (and buttons) of an outbox row."""
        payload = row.payload
        if row.kind == "expert_offer":
            from telegram import InlineKeyboardButton, InlineKeyboardMarkup

            case_no = payload["case_no"]
            markup = InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton("Accept", callback_data=f"case:{case_no}:accept"),
                        InlineKeyboardButton("Decline", callback_data=f"case:{case_no}:decline"),
                    ]
                ]
            )
            return f"New case for you:\n{payload['summary']}", markup
        if row.kind == "expert_taken":
            return TEXT["taken"].format(case_no=payload["case_no"]), None
        if row.kind == "satisfaction_ask":
            from telegram import InlineKeyboardButton, InlineKeyboardMarkup

            scores = [InlineKeyboardButton(str(n), callback_data=f"rate:{payload['case_no']}:{n}") for n in range(1, 6)]
            return payload["text"], InlineKeyboardMarkup([scores])
        return payload.get("text", json.dumps(payload, ensure_ascii=False)), None

    # ---- experts' answers ----------------------------------------------------------------------
    def answer_offer(self, chat_id: int, data: str) -> str:
        """Applies an expert's Accept / Decline (idempotently); returns the reply for the expert."""
        try:
            _, case_no, verb = data.split(":")
        except ValueError:
            return TEXT["unknown"]
        expert = next((e for e in self.experts() if e.telegram_chat_id == chat_id), None)
        if expert is None:
            return TEXT["unknown"]
        with session_scope(self.url) as s:
            if verb == "decline":
                return TEXT["declined"] if decline(s, case_no, expert.id, staff=self.staff()) else TEXT["unknown"]
            result = accept(s, case_no, expert.id)
        return {
            "accepted": TEXT["accepted"],
            "already_yours": TEXT["already"],
            "taken": TEXT["too_late"],
            "closed": TEXT["closed"],
        }.get(result, TEXT["unknown"]).format(case_no=case_no)

    async def on_callback(self, update: Any, context: Any) -> None:
        """python-telegram-bot handler for the Accept / Decline buttons (registered by the gateway)."""
        query = update.callback_query
        reply = await asyncio.to_thread(self.answer_offer, query.from_user.id, query.data or "")
        await query.answer(reply[:190])
        try:
            await query.edit_message_reply_markup(reply_markup=None)
        except Exception as exc:  # the buttons stay; the answer was recorded all the same
            logger.info("could not remove buttons: %s", type(exc).__name__)

    def escalate(self) -> list[str]:
        """Offers overdue open cases to the next experts."""
        with session_scope(self.url) as s:
            return escalate_overdue(s, self.experts(), per_round=self.settings.offers_per_round, staff=self.staff())

    def purge(self) -> int:
        """Clears personal data older than RETENTION_DAYS (actions/personal_data.py); returns the cases cleared."""
        with session_scope(self.url) as s, tracker_session(self.url, self.settings.conversations_url) as t:
            report = purge(s, self.settings.retention_days, trackers=t)
        remove_documents(self.settings.attachments_dir, report.document_files)
        strike_from_sink(self.settings.notifier_sink, report.sink_keys)
        return len(report.cases)


class RepeatedFailure:
    """One job of the loop that keeps failing (the database is gone): logged when it starts failing, then
    once a minute with how many rounds failed, and when it works again; not once per round."""

    EVERY_SECONDS = 60.0

    def __init__(self, job: str, clock: Any = None) -> None:
        self.job = job
        self.streak = 0
        self.clock = clock or asyncio.get_running_loop().time
        self.last_logged = -self.EVERY_SECONDS

    def failed(self, error: Exception) -> None:
        """Counts a failed round; logs the first one and then at most one a minute."""
        self.streak += 1
        now = self.clock()
        if self.streak == 1 or now - self.last_logged >= self.EVERY_SECONDS:
            self.last_logged = now
            logger.error(
                "%s failed (%s), %d round(s) in a row; trying again", self.job, type(error).__name__, self.streak
            )

    def worked(self) -> None:
        """Ends a streak of failures (logged)."""
        if self.streak:
            logger.info("%s works again after %d failed round(s)", self.job, self.streak)
        self.streak = 0


async def wait_for_database(url: str, stop: asyncio.Event) -> bool:
    """Waits until the case database answers (its schema brought up to date, never created here);
    False when stopped first. Each failed try is logged, the wait between tries grows to a minute."""
    attempt = 0
    while not stop.is_set():
        try:
            await asyncio.to_thread(migrate, url, False)
            if attempt:
                logger.info("the case database answers again")
            return True
        except Exception as exc:
            attempt += 1
            logger.error("the case database is unavailable (%s); trying again", type(exc).__name__)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), min(2.0**attempt, 60.0))
    return False


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Delivers and escalates until `stop` is set; a failing database is logged and waited for."""
    if not await wait_for_database(settings.database_url, stop):
        return
    notifier = Notifier(settings)
    bot = None
    if settings.telegram_token:
        from telegram import Bot

        bot = Bot(settings.telegram_token, base_url=settings.telegram_base_url)
        await bot.initialize()
        notifier.bot = bot
        logger.info("notifier %s: delivering over Telegram (%s)", notifier.name, settings.telegram_base_url)
    else:
        logger.info("notifier %s: no TELEGRAM_TOKEN, delivering to %s", notifier.name, settings.notifier_sink)
    if notifier.mailer is not None:
        logger.info("notifier %s: e-mail through %s:%s", notifier.name, settings.smtp_host, settings.smtp_port)
    watcher = AlertWatcher(settings.alerts_dir, settings.database_url, settings.alerts_publish_seconds, PROJECT_ROOT)
    try:
        last_escalation = 0.0
        last_purge: float | None = None
        delivering, escalating = RepeatedFailure("delivering the outbox"), RepeatedFailure("escalating overdue cases")
        while not stop.is_set():
            try:
                await asyncio.to_thread(watcher.tick)
            except Exception:  # e.g. the database is down: the next tick tries again
                logger.exception("publishing alerts failed")
            try:
                await notifier.deliver_due()
                delivering.worked()
            except Exception as exc:
                delivering.failed(exc)
            now = asyncio.get_running_loop().time()
            if now - last_escalation > 30:
                try:
                    if escalated := await asyncio.to_thread(notifier.escalate):
                        logger.info("escalated %s", escalated)
                    last_escalation = now
                    escalating.worked()
                except Exception as exc:
                    escalating.failed(exc)
                    last_escalation = now  # the next try in 30 s, not at every round
            if last_purge is None or now - last_purge > PURGE_EVERY_SECONDS:
                try:
                    if cleared := await asyncio.to_thread(notifier.purge):
                        logger.info("retention: contact details of %s closed cases cleared", cleared)
                except Exception:  # the next day tries again
                    logger.exception("retention purge failed")
                last_purge = now
            # While the database fails, wait longer between rounds (up to 30 s) instead of hammering it.
            wait = settings.notifier_poll_seconds * 2 ** min(delivering.streak, 5)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), min(wait, max(30.0, settings.notifier_poll_seconds)))
    finally:
        if bot is not None:
            await bot.shutdown()


def main() -> int:
    """Runs the notifier until SIGINT or SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(get_settings(), stop)

    asyncio.run(_main())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
