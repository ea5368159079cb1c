"""What happens to a case: opening it (case, offers to matched experts and their notifications in
one transaction), experts accepting or declining, notes, the messages relayed between the expert who
has a case and its enterprise, closing, escalation when nobody answers in time, and the status an
enterprise may see.

No case waits for nobody: when no expert matches it, when every expert offered it has declined, or when
the promised time passed and no further expert matches, the staff on duty (knowledge/staff.yml) are
notified in the same transaction, once per case and reason (`alert_staff`).

Functions take an open session and never commit: the caller's `session_scope` makes each call
one transaction, so nothing is ever half-written. The chat, the staff command line and the console
(bot/console) all act on cases through these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from actions.cases.experts import Expert, Match, match_experts
from actions.cases.staff import StaffMember, on_duty, staff_hours
from actions.channels import channel_of
from actions.messages import has, t
from actions.store import Case, CaseEvent, Offer, OutboxMessage, claim, pending_web_rows, utcnow


@dataclass(frozen=True)
class Intake:
    """What the enterprise told the intake form."""

    sender_id: str
    channel: str
    language: str
    enterprise: str
    contact: str
    contact_kind: str
    country: str
    ip_type: str
    incident_type: str
    deadline: date | None
    description: str
    consent: bool
    industry: str | None = None
    intake_key: str | None = None  # one completed form (see Case.intake_key); None: no idempotency


def _contact_channel(telegram_chat_id: int | None, channel: str, address: str) -> tuple[str, str]:
    """Where an expert or a staff member is notified: their Telegram chat, else their e-mail address
    (sent when SMTP is configured), else the local sink with their contact (a phone: someone calls)."""
    if telegram_chat_id is not None:
        return "telegram", str(telegram_chat_id)
    if channel == "email":
        return "email", address
    return "sink", f"{channel}:{address}"


def _expert_channel(expert: Expert) -> tuple[str, str]:
    """Where an expert is notified (see `_contact_channel`)."""
    return _contact_channel(expert.telegram_chat_id, expert.contact.channel, expert.contact.address)


def _enterprise_channel(case: Case) -> tuple[str, str] | None:
    """Where the enterprise is told about progress: its Telegram chat when it came through the
    gateway, else the e-mail address it gave; otherwise it reads the history with a status question."""
    channel, recipient = channel_of(case.sender_id)
    if channel == "telegram":
        return channel, recipient
    if case.contact_kind == "email" and case.contact:
        return "email", case.contact
    return None


def _queue(session: Session, key: str, kind: str, channel: str, recipient: str, case: Case, payload: dict) -> None:
    session.add(
        OutboxMessage(dedupe_key=key, kind=kind, channel=channel, recipient=recipient, payload=payload, case_id=case.id)
    )


def _offer(session: Session, case: Case, matches: list[Match], round_no: int) -> None:
    for rank, m in enumerate(matches, start=1):
        session.add(
            Offer(
                case_id=case.id,
                expert_id=m.expert.id,
                expert_name=m.expert.name,
                round=round_no,
                rank=rank,
                reasons=",".join(m.reasons),
            )
        )
        channel, recipient = _expert_channel(m.expert)
        _queue(
            session,
            f"{case.case_no}:offer:{m.expert.id}",
            "expert_offer",
            channel,
            recipient,
            case,
            {"case_no": case.case_no, "expert_id": m.expert.id, "summary": summary(case)},
        )
        session.add(CaseEvent(case_id=case.id, kind="offered", actor="system", text=m.expert.name))


def promised_hours(matches: list[Match], staff: list[StaffMember] | None = None) -> int:
    """The response time promised to the enterprise: the slowest usual reply among the offered experts,
    or, when no expert is offered, the staff's."""
    if matches:
        return max(m.expert.response_hours for m in matches)
    return staff_hours(staff or [])


def _staff_channel(member: StaffMember) -> tuple[str, str]:
    """Where a staff member is notified (see `_contact_channel`)."""
    return _contact_channel(member.telegram_chat_id, member.contact.channel, member.contact.address)


STAFF_REASONS = {
    "no_match": "no expert matches this case",
    "all_declined": "every expert offered this case declined",
    "overdue": "nobody accepted in time and no further expert matches",
}


def alert_staff(
    session: Session, case: Case, staff: list[StaffMember], reason: str, now: datetime | None = None
) -> bool:
    """Tells every staff member on duty about a case no expert has taken (once per case and reason);
    without anyone on duty, the sink gets it so that it is never silent. False if already told."""
    key = f"{case.case_no}:staff:{reason}"
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key.startswith(key + ":"))) is not None:
        return False
    now = now or utcnow()
    members = on_duty(staff)
    text = f"Case for the staff on duty ({STAFF_REASONS[reason]}):\n{summary(case)}"
    targets = [(m.id, *_staff_channel(m)) for m in members] or [("nobody-on-duty", "sink", "staff")]
    for member_id, channel, recipient in targets:
        _queue(session, f"{key}:{member_id}", "staff_alert", channel, recipient, case, {"text": text, "reason": reason})
    names = ", ".join(m.name for m in members) or "nobody on duty: see the notifications sink"
    session.add(CaseEvent(case_id=case.id, at=now, kind="staff_alerted", actor="system", text=names))
    return True


def is_urgent(deadline: date | None, today: date, urgent_days: int) -> bool:
    """A case is urgent when its deadline is at most urgent_days away."""
    return deadline is not None and (deadline - today).days <= urgent_days


def open_case(
    session: Session,
    intake: Intake,
    experts: list[Expert],
    now: datetime | None = None,
    urgent_days: int = 10,
    per_round: int = 3,
    staff: list[StaffMember] | None = None,
) -> tuple[Case, list[Match]]:
    """Creates the case, offers it to the best-matching experts and queues their notifications; with no
    expert to offer it to, the staff on duty are told at once. An intake whose `intake_key` already
    opened a case gets that case back, with no experts (nothing is offered or sent again)."""
    staff = staff or []
    now = now or utcnow()
    if intake.intake_key and (earlier := opened_from(session, intake.intake_key)) is not None:
        return earlier, []  # the same form sent again: its case is already open and its experts notified
    urgent = is_urgent(intake.deadline, now.date(), urgent_days)
    matches = match_experts(experts, intake.country, intake.ip_type, intake.language, intake.industry)
    if urgent:  # the fastest responders first
        matches.sort(key=lambda m: (m.expert.response_hours, -m.score, m.expert.id))
    chosen = matches[:per_round]
    hours = promised_hours(chosen, staff)
    if urgent:
        hours = min(hours, 24)
    case = Case(
        sender_id=intake.sender_id,
        channel=intake.channel,
        language=intake.language,
        enterprise=intake.enterprise,
        contact=intake.contact,
        contact_kind=intake.contact_kind,
        country=intake.country,
        ip_type=intake.ip_type,
        incident_type=intake.incident_type,
        deadline=intake.deadline,
        description=intake.description,
        industry=intake.industry,
        consent=intake.consent,
        urgent=urgent,
        status="open",
        promised_hours=hours,
        respond_by=now + timedelta(hours=hours),
        intake_key=intake.intake_key,
        created_at=now,
    )
    session.add(case)
    session.flush()  # assigns the id
    case.case_no = f"IP-{now.year}-{case.id:06d}"
    session.add(CaseEvent(case_id=case.id, at=now, kind="created", actor="enterprise", text=""))
    _offer(session, case, chosen, round_no=1)
    if not chosen:
        alert_staff(session, case, staff, "no_match", now)
    session.flush()
    return case, chosen


def opened_from(session: Session, intake_key: str) -> Case | None:
    """The case a completed intake form already opened, if any."""
    return session.scalar(select(Case).where(Case.intake_key == intake_key))


def summary(case: Case) -> str:
    """The case as an expert first sees it."""
    deadline = case.deadline.isoformat() if case.deadline else "—"
    urgent = " [URGENT]" if case.urgent else ""
    return (
        f"{case.case_no}{urgent}\n"
        f"Enterprise: {case.enterprise}\nCountry: {case.country} · IP: {case.ip_type} · "
        f"Incident: {case.incident_type}\nDeadline: {deadline}\nLanguage: {case.language}\n\n{case.description}"
    )


def find_case(session: Session, case_no: str) -> Case | None:
    """A case by its number (IP-2026-000123)."""
    return session.scalar(select(Case).where(Case.case_no == case_no.upper()))


def cases_of(session: Session, sender_id: str) -> list[Case]:
    """The cases a conversation opened, newest first."""
    return list(session.scalars(select(Case).where(Case.sender_id == sender_id).order_by(Case.id.desc())))


AcceptResult = Literal["accepted", "already_yours", "taken", "closed", "not_offered", "unknown"]


def accept(session: Session, case_no: str, expert_id: str, now: datetime | None = None) -> AcceptResult:
    """An expert accepts a case. The first acceptance wins; the other experts are told it is taken.
    Accepting twice is harmless (idempotent)."""
    now = now or utcnow()
    case = find_case(session, case_no)
    if case is None:
        return "unknown"
    offer = next((o for o in case.offers if o.expert_id == expert_id), None)
    if case.status == "closed":
        return "closed"
    if case.status == "accepted":
        return "already_yours" if case.expert_id == expert_id else "taken"
    if offer is None:
        return "not_offered"
    offer.state, offer.answered_at = "accepted", now
    case.status, case.expert_id, case.expert_name = "accepted", expert_id, offer.expert_name
    session.add(
        CaseEvent(case_id=case.id, at=now, kind="accepted", actor=f"expert:{expert_id}", text=offer.expert_name)
    )
    for other in case.offers:
        if other is not offer and other.state == "offered":
            other.state = "taken"
            _queue(
                session,
                f"{case.case_no}:taken:{other.expert_id}",
                "expert_taken",
                *_offer_channel(session, other),
                case,
                {"case_no": case.case_no, "expert_id": other.expert_id},
            )
    _tell_enterprise(session, case, "accepted", offer.expert_name)
    return "accepted"


def _offer_channel(session: Session, offer: Offer) -> tuple[str, str]:
    """The channel an offer's notification went to (to tell that expert the case is taken)."""
    sent = session.scalar(
        select(OutboxMessage).where(OutboxMessage.dedupe_key == f"{offer.case.case_no}:offer:{offer.expert_id}")
    )
    return (sent.channel, sent.recipient) if sent else ("sink", f"expert:{offer.expert_id}")


def _accepted_expert_channel(session: Session, case: Case) -> tuple[str, str]:
    """Where the expert who has the case is reached: the channel their offer went to, else the one the staff's
    assignment was sent to, else the sink."""
    offer = next((o for o in case.offers if o.expert_id == case.expert_id), None)
    if offer is not None:
        return _offer_channel(session, offer)
    assigned = session.scalar(
        select(OutboxMessage)
        .where(OutboxMessage.dedupe_key.startswith(f"{case.case_no}:assigned:{case.expert_id}:"))
        .order_by(OutboxMessage.id.desc())
    )
    return (assigned.channel, assigned.recipient) if assigned else ("sink", f"expert:{case.expert_id}")


def tell_accepted_expert(session: Session, case: Case, text: str, key: str) -> bool:
    """Tells the expert who has the case something new about it (a document the enterprise added),
    through the channel their offer went to; False when no expert has the case yet."""
    if case.status != "accepted" or not case.expert_id:
        return False
    channel, recipient = _accepted_expert_channel(session, case)
    payload = {"case_no": case.case_no, "text": text}
    _queue(session, f"{case.case_no}:expert_note:{key}", "expert_note", channel, recipient, case, payload)
    return True


def decline(
    session: Session, case_no: str, expert_id: str, now: datetime | None = None, staff: list[StaffMember] | None = None
) -> bool:
    """An expert declines an offer; True if it was an open offer. When that was the last open offer of
    the case, the staff on duty are told at once (and the enterprise that staff have it)."""
    now = now or utcnow()
    case = find_case(session, case_no)
    offer = next((o for o in case.offers if o.expert_id == expert_id), None) if case else None
    if case is None or offer is None or offer.state != "offered":
        return False
    offer.state, offer.answered_at = "declined", now
    session.add(CaseEvent(case_id=case.id, at=now, kind="declined", actor=f"expert:{expert_id}", text=""))
    nobody_left = case.status == "open" and not any(o.state == "offered" for o in case.offers)
    if nobody_left and alert_staff(session, case, staff or [], "all_declined", now):
        _tell_enterprise(session, case, "staff_alerted", "", suffix="all_declined")
    return True


def add_event(
    session: Session, case_no: str, kind: str, actor: str, text: str, now: datetime | None = None
) -> Case | None:
    """A note or the closing of a case, by an expert or staff; the enterprise is told."""
    case = find_case(session, case_no)
    if case is None:
        return None
    now = now or utcnow()
    if kind == "closed":
        case.status = "closed"
    session.add(CaseEvent(case_id=case.id, at=now, kind=kind, actor=actor, text=text))
    session.flush()
    _tell_enterprise(session, case, kind, text, suffix=str(len(case.events)))
    if kind == "closed":
        ask_satisfaction(session, case)
    return case


RATING_MAX_COMMENT = 1000


def ask_satisfaction(session: Session, case: Case) -> bool:
    """Asks an enterprise on Telegram to rate the closed case (buttons 1–5; its reply to the question is
    its comment), once per case. Enterprises on other channels are not asked yet."""
    channel, recipient = channel_of(case.sender_id)
    if channel != "telegram":
        return False
    key = f"{case.case_no}:rate"
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)) is not None:
        return False
    text = t("cases.rate_ask", case.language, case_no=case.case_no)
    payload = {"case_no": case.case_no, "language": case.language, "text": text}
    _queue(session, key, "satisfaction_ask", channel, recipient, case, payload)
    return True


def record_rating(
    session: Session, case_no: str, sender_id: str, score: int, now: datetime | None = None
) -> Case | None:
    """The enterprise's rating (1–5) of its closed case; only from the conversation that opened it, and
    its last rating counts. None when the case is not this conversation's or not closed."""
    case = find_case(session, case_no)
    if case is None or case.sender_id != sender_id or case.status != "closed" or not 1 <= score <= 5:
        return None
    session.add(CaseEvent(case_id=case.id, at=now or utcnow(), kind="rating", actor="enterprise", text=str(score)))
    return case


def record_rating_comment(session: Session, case_no: str, sender_id: str, text: str) -> Case | None:
    """The enterprise's comment on its rating (at most RATING_MAX_COMMENT characters)."""
    case = find_case(session, case_no)
    if case is None or case.sender_id != sender_id or case.status != "closed":
        return None
    comment = text.strip()[:RATING_MAX_COMMENT]
    session.add(CaseEvent(case_id=case.id, at=utcnow(), kind="rating_comment", actor="enterprise", text=comment))
    return case


def satisfaction_question(session: Session, chat_id: str, message_id: str) -> str | None:
    """The case number of the satisfaction question the bot sent as this Telegram message, if it is one."""
    row = session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.kind == "satisfaction_ask",
            OutboxMessage.channel == "telegram",
            OutboxMessage.recipient == chat_id,
            OutboxMessage.external_id == message_id,
        )
    )
    return None if row is None else str(row.payload.get("case_no") or "") or None


def assign(
    session: Session, case_no: str, expert: Expert, now: datetime | None = None, actor: str = "staff"
) -> Case | None:
    """Staff assign an expert directly (the case counts as accepted by that expert), or reassign it from the
    expert who has it: the new expert is sent the case, the previous one is told it moved, the enterprise who
    has it now. None for an unknown or closed case; assigning the expert who has it already changes nothing."""
    case = find_case(session, case_no)
    if case is None or case.status == "closed":
        return None
    if case.status == "accepted" and case.expert_id == expert.id:
        return case
    now = now or utcnow()
    previous_id, previous_name = (case.expert_id, case.expert_name) if case.status == "accepted" else (None, None)
    case.status, case.expert_id, case.expert_name = "accepted", expert.id, expert.name
    if previous_id:
        text = f"{previous_name} → {expert.name}"
        session.add(CaseEvent(case_id=case.id, at=now, kind="reassigned", actor=actor, text=text))
    else:
        session.add(CaseEvent(case_id=case.id, at=now, kind="assigned", actor=actor, text=expert.name))
    session.flush()
    round_key = str(len(case.events))
    if previous_id:
        offer = next((o for o in case.offers if o.expert_id == previous_id), None)
        where = _offer_channel(session, offer) if offer else ("sink", f"expert:{previous_id}")
        payload = {"case_no": case.case_no, "text": f"{case.case_no} was reassigned to another expert by the staff."}
        _queue(session, f"{case.case_no}:unassigned:{previous_id}:{round_key}", "expert_note", *where, case, payload)
    assigned = {"case_no": case.case_no, "text": f"The staff assigned {case.case_no} to you:\n{summary(case)}"}
    channel, recipient = _expert_channel(expert)
    _queue(
        session, f"{case.case_no}:assigned:{expert.id}:{round_key}", "expert_note", channel, recipient, case, assigned
    )
    _tell_enterprise(
        session, case, "accepted", expert.name, suffix="staff" if not previous_id else f"staff-{round_key}"
    )
    return case


OUTCOMES = ("settled", "defended", "withdrawn", "registered", "referred", "no_action", "other")


def close_case(
    session: Session, case_no: str, actor: str, outcome: str, note: str = "", now: datetime | None = None
) -> Case | None:
    """Closes a case with how it ended (one of OUTCOMES) and an optional note; the enterprise is told and, on
    Telegram, asked for its rating. None for an unknown case or one closed already."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    case = find_case(session, case_no)
    if case is None or case.status == "closed":
        return None
    case.outcome = outcome
    note = note.strip()
    return add_event(session, case_no, "closed", actor, f"{outcome}: {note}" if note else outcome, now)


def add_note(session: Session, case_no: str, actor: str, text: str, now: datetime | None = None) -> Case | None:
    """A note on a case that is not closed, by staff or the expert who has it; the enterprise is told.
    None for an unknown or closed case or an empty note."""
    case = find_case(session, case_no)
    if case is None or case.status == "closed" or not text.strip():
        return None
    return add_event(session, case_no, "note", actor, text.strip()[:NOTE_MAX_CHARS], now)


NOTE_MAX_CHARS = 4000


# ---- replies relayed between the expert and the enterprise --------------------------------------------
REPLY_MAX_CHARS = 3500  # a relayed message with its heading stays within one Telegram message (4,096)
ReplyResult = Literal["sent", "empty", "not_yours", "closed", "unknown"]
RELAYED_TO_EXPERT = ("expert_offer", "expert_note", "enterprise_reply")  # what an expert on Telegram replies to


@dataclass(frozen=True)
class Relayed:
    """What a reply relay did: its result and, when sent, the case and the timeline event it became."""

    result: ReplyResult
    case: Case | None = None
    event: CaseEvent | None = None


def _reply_text(text: str) -> str:
    return text.strip()[:REPLY_MAX_CHARS]


def expert_reply(session: Session, case_no: str, expert_id: str, text: str, now: datetime | None = None) -> Relayed:
    """The expert who has the case writes to the enterprise: a timeline event and the message to the enterprise
    in its channel (its Telegram chat at once; a web or REST conversation sees it at its next message). Refused
    for an expert who has not accepted (or been assigned) the case, a closed case or an empty text."""
    case = find_case(session, case_no)
    if case is None:
        return Relayed("unknown")
    if case.status == "closed":
        return Relayed("closed", case)
    if case.status != "accepted" or case.expert_id != expert_id:
        return Relayed("not_yours", case)
    return _reply_to_enterprise(session, case, f"expert:{expert_id}", case.expert_name or "", text, now)


def staff_reply(session: Session, case_no: str, actor: str, text: str, now: datetime | None = None) -> Relayed:
    """Staff write to the enterprise of a case that is not closed, as the expert who has it does."""
    case = find_case(session, case_no)
    if case is None:
        return Relayed("unknown")
    if case.status == "closed":
        return Relayed("closed", case)
    return _reply_to_enterprise(session, case, actor, "", text, now)


def _reply_to_enterprise(
    session: Session, case: Case, actor: str, expert_name: str, text: str, now: datetime | None
) -> Relayed:
    body = _reply_text(text)
    if not body:
        return Relayed("empty", case)
    event = CaseEvent(case_id=case.id, at=now or utcnow(), kind="expert_reply", actor=actor[:64], text=body)
    session.add(event)
    session.flush()  # the event's id names the message
    lang = case.language
    who = expert_name or t("cases.relay.staff", lang)
    channel, recipient = channel_of(case.sender_id)
    hint = f"\n\n{t('cases.relay.reply_hint', lang)}" if channel == "telegram" else ""
    message = t("cases.relay.to_enterprise", lang, case_no=case.case_no, who=who, text=body) + hint
    payload = {"case_no": case.case_no, "language": lang, "text": message, "event_id": event.id}
    _queue(session, f"{case.case_no}:reply:{event.id}", "expert_reply", channel, recipient, case, payload)
    return Relayed("sent", case, event)


def enterprise_reply(
    session: Session,
    case_no: str,
    sender_id: str,
    text: str,
    now: datetime | None = None,
    staff: list[StaffMember] | None = None,
) -> Relayed:
    """The enterprise answers a message about its case: a timeline event and the message to the expert who has
    the case, through the channel their offer (or assignment) went to — with no expert on it yet, to the staff on
    duty (the sink with nobody on duty). Only from the conversation that opened the case, and not once closed."""
    case = find_case(session, case_no)
    if case is None or case.sender_id != sender_id:
        return Relayed("unknown")
    if case.status == "closed":
        return Relayed("closed", case)
    body = _reply_text(text)
    if not body:
        return Relayed("empty", case)
    event = CaseEvent(case_id=case.id, at=now or utcnow(), kind="enterprise_reply", actor="enterprise", text=body)
    session.add(event)
    session.flush()
    message = f"{case.case_no}: the enterprise ({case.enterprise}) replied:\n\n{body}"
    payload = {"case_no": case.case_no, "text": message, "event_id": event.id}
    key = f"{case.case_no}:answer:{event.id}"
    if case.status == "accepted" and case.expert_id:
        channel, recipient = _accepted_expert_channel(session, case)
        payload["expert_id"] = case.expert_id
        _queue(session, key, "enterprise_reply", channel, recipient, case, payload)
    else:
        members = on_duty(staff or [])
        targets = [(m.id, *_staff_channel(m)) for m in members] or [("nobody-on-duty", "sink", "staff")]
        for member_id, channel, recipient in targets:
            _queue(session, f"{key}:{member_id}", "enterprise_reply", channel, recipient, case, payload)
    return Relayed("sent", case, event)


def _case_of_message(session: Session, kinds: tuple[str, ...], chat_id: str, message_id: str) -> str | None:
    row = session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.kind.in_(kinds),
            OutboxMessage.channel == "telegram",
            OutboxMessage.recipient == chat_id,
            OutboxMessage.external_id == message_id,
        )
    )
    return None if row is None else str(row.payload.get("case_no") or "") or None


def relayed_to_enterprise(session: Session, chat_id: str, message_id: str) -> str | None:
    """The case number of the expert's message the bot relayed as this Telegram message, if it is one."""
    return _case_of_message(session, ("expert_reply",), chat_id, message_id)


def case_message_to_expert(session: Session, chat_id: str, message_id: str) -> str | None:
    """The case number of the case message (an offer, a note, the enterprise's answer) the bot sent an expert
    as this Telegram message, if it is one."""
    return _case_of_message(session, RELAYED_TO_EXPERT, chat_id, message_id)


def claim_web_replies(session: Session, sender_id: str) -> list[dict]:
    """The experts' messages waiting for a web or REST conversation, each claimed (marked delivered) once."""
    now = utcnow()
    return [
        dict(row.payload)
        for row in pending_web_rows(session, sender_id, "expert_reply")
        if claim(session, row, "delivered", now)
    ]


def can_see(case: Case, expert_id: str) -> bool:
    """An expert sees a case offered to them or accepted by (or assigned to) them, and no other."""
    return case.expert_id == expert_id or any(o.expert_id == expert_id for o in case.offers)


def is_overdue(case: Case, now: datetime | None = None) -> bool:
    """An open case whose promised response time has passed with no expert having it."""
    return case.status == "open" and case.respond_by < (now or utcnow())


@dataclass(frozen=True)
class QueueFilter:
    """What the console's case queue is narrowed to; empty values do not filter."""

    status: str = ""  # open, accepted, closed
    urgent: bool = False
    market: str = ""  # a country code as stored with the case (JP, DE, EU …)
    ip_type: str = ""
    incident: str = ""
    overdue: bool = False


def case_queue(
    session: Session,
    filters: QueueFilter,
    expert_id: str | None = None,
    now: datetime | None = None,
    limit: int = 500,
) -> list[Case]:
    """The cases that match the filters, urgent and newest first; for an expert, only the cases they can see."""
    query = select(Case).where(Case.case_no.is_not(None))
    if filters.status:
        query = query.where(Case.status == filters.status)
    if filters.urgent:
        query = query.where(Case.urgent.is_(True))
    if filters.market:
        query = query.where(Case.country == filters.market.upper())
    if filters.ip_type:
        query = query.where(Case.ip_type == filters.ip_type)
    if filters.incident:
        query = query.where(Case.incident_type == filters.incident)
    if filters.overdue:
        query = query.where(Case.status == "open", Case.respond_by < (now or utcnow()))
    if expert_id is not None:
        offered = select(Offer.case_id).where(Offer.expert_id == expert_id)
        query = query.where(or_(Case.expert_id == expert_id, Case.id.in_(offered)))
    query = query.order_by(Case.urgent.desc(), Case.id.desc()).limit(limit)
    return list(session.scalars(query))


def markets_in_use(session: Session) -> list[str]:
    """The markets the stored cases name (the console's market filter)."""
    return sorted(session.scalars(select(Case.country).distinct()))


def _tell_enterprise(session: Session, case: Case, kind: str, text: str, suffix: str = "") -> None:
    where = _enterprise_channel(case)
    if where is None:
        return
    label = _event_label(kind, case.language)
    message = f"{case.case_no}: {label}" + (f" — {text}" if text else "")
    payload = {"text": message, "case_no": case.case_no, "language": case.language}
    _queue(session, f"{case.case_no}:update:{kind}:{suffix}", "enterprise_update", *where, case, payload)


def escalate_overdue(
    session: Session,
    experts: list[Expert],
    now: datetime | None = None,
    per_round: int = 3,
    staff: list[StaffMember] | None = None,
) -> list[str]:
    """Offers every open case whose promised time has passed to the next experts; returns their numbers."""
    now = now or utcnow()
    escalated: list[str] = []
    overdue = session.scalars(select(Case).where(Case.status == "open", Case.respond_by < now))
    for case in overdue:
        offered = frozenset(o.expert_id for o in case.offers)
        for o in case.offers:
            if o.state == "offered":
                o.state = "expired"
        nxt = match_experts(experts, case.country, case.ip_type, case.language, case.industry, exclude=offered)
        chosen = nxt[:per_round]
        round_no = max((o.round for o in case.offers), default=0) + 1
        case.respond_by = now + timedelta(hours=case.promised_hours)
        text = ", ".join(m.expert.name for m in chosen) or "no further expert matches; staff alerted"
        session.add(CaseEvent(case_id=case.id, at=now, kind="escalated", actor="system", text=text))
        if chosen:
            _offer(session, case, chosen, round_no)
        elif alert_staff(session, case, staff or [], "overdue", now):
            _tell_enterprise(session, case, "staff_alerted", "", suffix="overdue")
        assert case.case_no is not None  # numbered by open_case in the transaction that stored it
        escalated.append(case.case_no)
    return escalated


def _event_label(kind: str, lang: str) -> str:
    key = f"cases.event.{kind}"
    return t(key, lang) if has(key) else kind


def status_lines(case: Case, lang: str) -> list[str]:
    """The status and history of a case, for the enterprise that opened it."""
    head = f"{case.case_no}: {t(f'cases.status.{case.status}', lang)}"
    if case.expert_name:
        head += f"（{case.expert_name}）" if lang == "zh" else f" ({case.expert_name})"
    lines = [head]
    for e in case.events:
        label = _event_label(e.kind, lang)
        detail = f" — {e.text}" if e.text else ""
        lines.append(f"· {e.at:%Y-%m-%d %H:%M} UTC {label}{detail}")
    return lines
