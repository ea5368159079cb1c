"""Rasa actions that turn a serious situation into a case: the offer, the intake form's
validation, submit, cancel, correction, and the status an enterprise may ask for."""

from __future__ import annotations

import asyncio
import hashlib
import re
from abc import ABC
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from actions.cases.experts import Expert, Match, industry_of, load_experts
from actions.cases.service import Intake, cases_of, find_case, open_case, opened_from, status_lines
from actions.cases.staff import StaffMember, load_staff
from actions.cases.upload_link import upload_link
from actions.channels import channel_of
from actions.dates import parse_deadline
from actions.dialogue.common import SLOT_OFFERED, AskSlotAction, BaseAction, FormSlotsValidation, language_of, user_text
from actions.erasure import FORGET_SLOT
from actions.messages import buttons_of, t
from actions.privacy import get_logger
from actions.settings import Settings, get_settings
from actions.store import migrated, session_scope
from actions.vocab import incident_code, ip_type_code, market_code, market_name, market_suggestions

logger = get_logger(__name__)

CASE_SLOTS = (
    "case_enterprise",
    "case_contact",
    "case_country",
    "case_ip_type",
    "case_incident",
    "case_deadline",
    "case_description",
    "case_consent",
)
FIELD_SLOTS = {
    "enterprise": "case_enterprise",
    "contact": "case_contact",
    "country": "case_country",
    "ip_type": "case_ip_type",
    "incident_type": "case_incident",
    "deadline": "case_deadline",
    "description": "case_description",
}
CASE_NO = re.compile(r"IP-\d{4}-\d{6}", re.I)
# Linear time on any text: a local part starts where a run of its characters starts, and no
# quantifier gives characters back (the next character could never match anyway).
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]++@[\w-]++(?:\.[\w-]++)+")
_TELEGRAM = re.compile(r"(?<![\w.])@([A-Za-z][A-Za-z0-9_]{4,31})\b")
_PHONE = re.compile(r"\+?\d[\d\s\-()]{5,}\d")
# The channels whose users get the upload link with a new case; on Telegram (which reaches Rasa over REST, as
# tg-<chat id>) files are sent in the chat.
WEB_INPUT_CHANNELS = ("rest", "socketio")


def parse_contact(text: str) -> tuple[str, str] | None:
    """(kind, value) of a contact: an email, a Telegram username or a phone number."""
    if m := _EMAIL.search(text):
        return "email", m.group(0)
    if m := _TELEGRAM.search(text):
        return "telegram", "@" + m.group(1)
    if m := _PHONE.search(text):
        digits = re.sub(r"\D", "", m.group(0))
        if 7 <= len(digits) <= 15:
            return "phone", ("+" if m.group(0).startswith("+") else "") + digits
    return None


@lru_cache(maxsize=4)
def _experts(path: str, mtime: float) -> tuple[Expert, ...]:
    experts, problems = load_experts(Path(path))
    for p in problems:
        logger.error("expert list: %s", p)
    return tuple(experts)


def current_experts() -> list[Expert]:
    """The valid entries of the expert list, re-read when the file changes."""
    path = get_settings().experts_file
    return list(_experts(str(path), path.stat().st_mtime if path.exists() else 0.0))


@lru_cache(maxsize=4)
def _staff(path: str, mtime: float) -> tuple[StaffMember, ...]:
    staff, problems = load_staff(Path(path))
    for p in problems:
        logger.error("staff list: %s", p)
    return tuple(staff)


def current_staff() -> list[StaffMember]:
    """The valid entries of the staff list, re-read when the file changes."""
    path = get_settings().staff_file
    return list(_staff(str(path), path.stat().st_mtime if path.exists() else 0.0))


def previous_value(tracker: Tracker, slot: str) -> Any:
    """The value a slot had before the user's latest message (None if it had none)."""
    events = tracker.events
    last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=len(events))
    for event in reversed(events[:last_user]):
        if event.get("event") == "slot" and event.get("name") == slot:
            return event.get("value")
    return None


class ValidateCaseForm(FormSlotsValidation):
    """Checks each answer of the case intake; a bad one is asked again with an example."""

    form_slots = frozenset(CASE_SLOTS)

    @staticmethod
    def _unrecognised(slot: str, tracker: Tracker) -> dict[str, Any] | None:
        """For an entity picked up while another question was asked (a country named in the
        description, say) that is not a valid value: keep what the slot already held, silently.
        None when the slot was the question asked, so the user is told and asked again."""
        if tracker.get_slot("requested_slot") in (None, slot):
            return None
        return {slot: previous_value(tracker, slot)}

    def name(self) -> str:
        return "validate_case_form"

    async def validate_case_enterprise(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        name = str(value or "").strip()
        if 2 <= len(name) <= 200:
            return {"case_enterprise": name}
        dispatcher.utter_message(text=t("cases.bad_enterprise", language_of(tracker)))
        return {"case_enterprise": None}

    async def validate_case_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        parsed = parse_contact(str(value or ""))
        if parsed:
            return {"case_contact": f"{parsed[0]}:{parsed[1]}"}
        dispatcher.utter_message(text=t("cases.bad_contact", language_of(tracker)))
        return {"case_contact": None}

    async def validate_case_country(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        lang = language_of(tracker)
        code = market_code(str(value or ""))
        if code:
            return {"case_country": code}
        if (kept := self._unrecognised("case_country", tracker)) is not None:
            return kept
        suggestions = market_suggestions(str(value or ""))
        message = t("cases.bad_country", lang)
        if suggestions:
            names = (
                "、".join(market_name(c, lang) for c in suggestions)
                if lang == "zh"
                else ", ".join(market_name(c, lang) for c in suggestions)
            )
            message += " " + t("cases.suggest", lang, names=names)
        dispatcher.utter_message(text=message)
        return {"case_country": None}

    async def validate_case_ip_type(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        code = ip_type_code(str(value or ""))
        if code:
            return {"case_ip_type": code}
        if (kept := self._unrecognised("case_ip_type", tracker)) is not None:
            return kept
        dispatcher.utter_message(text=t("cases.bad_ip_type", language_of(tracker)))
        return {"case_ip_type": None}

    async def validate_case_incident(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "")
        code = (
            text
            if text
            in {
                "warning_letter",
                "customs_detention",
                "trade_fair_action",
                "trademark_squatting",
                "lawsuit",
                "platform_takedown",
                "section_337",
                "other",
            }
            else incident_code(text)
        )
        if code:
            return {"case_incident": code}
        if (kept := self._unrecognised("case_incident", tracker)) is not None:
            return kept
        dispatcher.utter_message(text=t("cases.bad_incident", language_of(tracker)))
        return {"case_incident": None}

    async def validate_case_deadline(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        lang = language_of(tracker)
        parsed = parse_deadline(str(value or ""), date.today())
        if parsed.status == "none":
            return {"case_deadline": "none"}
        if parsed.status == "too_far":
            dispatcher.utter_message(text=t("cases.far_deadline", lang))
            return {"case_deadline": None}
        if parsed.status == "date" and parsed.date is not None:
            if parsed.date < date.today():
                dispatcher.utter_message(text=t("cases.past_deadline", lang))
                return {"case_deadline": None}
            return {"case_deadline": parsed.date.isoformat()}
        dispatcher.utter_message(text=t("cases.bad_deadline", lang))
        return {"case_deadline": None}

    async def validate_case_description(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "").strip()
        limit = get_settings().description_max_chars
        if len(text) > limit:
            dispatcher.utter_message(text=t("cases.cut", language_of(tracker), n=limit))
            text = text[:limit]
        return {"case_description": text or None}

    async def validate_case_consent(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"case_consent": bool(value)}


def reset_case_slots() -> list[EventType]:
    """Forget the intake answers (after submit or cancel)."""
    return [SlotSet(s, None) for s in CASE_SLOTS] + [SlotSet(SLOT_OFFERED, False), SlotSet("requested_slot", None)]


def forget_case_entry() -> list[EventType]:
    """Resets the intake and has the tracker store erase what was typed into it (actions/erasure.py): for when
    the user is told that nothing was stored."""
    return [*reset_case_slots(), SlotSet(FORGET_SLOT, "case_form")]


def describe_matches(matches: list[Match], lang: str) -> list[str]:
    """Who was chosen and why, one line each; sample entries are labelled as samples."""
    lines = []
    for m in matches:
        why = (
            "、".join(t(f"cases.reason.{r}", lang) for r in m.reasons)
            if lang == "zh"
            else ", ".join(t(f"cases.reason.{r}", lang) for r in m.reasons)
        )
        sample = t("cases.sample_expert", lang) if m.expert.sample else ""
        lines.append(f"· {m.expert.name}, {m.expert.organisation}{sample} — {why}")
    return lines


def intake_key(tracker: Tracker) -> str | None:
    """What identifies this completed intake form: the conversation and the moment its case form started
    (an event Rasa stored turns ago, so a consent sent again after a crash carries the same key)."""
    started = [e for e in tracker.events if e.get("event") == "active_loop" and e.get("name") == "case_form"]
    if not started:
        return None
    digest = hashlib.sha256(f"{tracker.sender_id}|{started[-1].get('timestamp')}".encode()).hexdigest()
    return digest[:64]


def upload_offer(tracker: Tracker, case_no: str, lang: str, settings: Settings) -> str | None:
    """The line with the signed link to the console's upload page for this case, for a web or REST conversation;
    None on Telegram, and without a CONSOLE_SECRET to sign it with."""
    channel = tracker.get_latest_input_channel() or "rest"
    if channel not in WEB_INPUT_CHANNELS or channel_of(tracker.sender_id)[0] == "telegram":
        return None
    url = upload_link(settings, case_no, tracker.sender_id)
    if url is None:
        return None
    max_mb = settings.attachment_max_bytes // (1024 * 1024)
    return t("cases.upload.link", lang, url=url, hours=settings.upload_link_hours, max_mb=max_mb)


class ActionSubmitCase(BaseAction):
    """Opens the case once the form is complete: case, offers and notifications in one transaction."""

    def name(self) -> str:
        return "action_submit_case"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        if not tracker.get_slot("case_consent"):
            dispatcher.utter_message(text=t("cases.no_consent", lang))
            return forget_case_entry()
        contact_kind, _, contact = str(tracker.get_slot("case_contact")).partition(":")
        deadline_slot = tracker.get_slot("case_deadline")
        description = tracker.get_slot("case_description") or ""
        intake = Intake(
            sender_id=tracker.sender_id,
            channel=tracker.get_latest_input_channel() or "rest",
            language=lang,
            enterprise=tracker.get_slot("case_enterprise"),
            contact=contact,
            contact_kind=contact_kind,
            country=tracker.get_slot("case_country"),
            ip_type=tracker.get_slot("case_ip_type"),
            incident_type=tracker.get_slot("case_incident"),
            deadline=date.fromisoformat(deadline_slot) if deadline_slot and deadline_slot != "none" else None,
            description=description,
            consent=True,
            industry=industry_of(f"{tracker.get_slot('case_enterprise')} {description}"),
            intake_key=intake_key(tracker),
        )
        settings = get_settings()
        try:
            case_no, urgent, hours, matches = await asyncio.to_thread(self._open, intake, settings)
        except IntegrityError:  # the same form sent twice at once: the other submission opened it
            case_no, urgent, hours, matches = await asyncio.to_thread(self._earlier, intake, settings)
        except (SQLAlchemyError, OSError):
            logger.exception("case could not be saved")
            dispatcher.utter_message(text=t("cases.db_down", lang))
            return forget_case_entry()
        text = self._confirmation(case_no, urgent, hours, matches, lang)
        if link := upload_offer(tracker, case_no, lang, settings):
            text = f"{text}\n{link}"
        dispatcher.utter_message(
            text=text,
            json_message={
                "case_no": case_no,
                "urgent": urgent,
                "promised_hours": hours,
                "experts": [m.expert.id for m in matches or []],
            },
        )
        return [*reset_case_slots(), SlotSet("case_id", case_no)]

    @staticmethod
    def _earlier(intake: Intake, settings: Any) -> tuple[str, bool, int, list[Match] | None]:
        """The case this form already opened (matches None: nothing new was sent to experts)."""
        with session_scope(settings.database_url) as session:
            earlier = opened_from(session, intake.intake_key or "")
            if earlier is None or earlier.case_no is None:
                raise SQLAlchemyError("the case this form opened is not found")
            return earlier.case_no, earlier.urgent, earlier.promised_hours, None

    @staticmethod
    def _open(intake: Intake, settings: Any) -> tuple[str, bool, int, list[Match] | None]:
        migrated(settings.database_url)
        with session_scope(settings.database_url) as session:
            if intake.intake_key and (earlier := opened_from(session, intake.intake_key)) is not None:
                assert earlier.case_no is not None
                return earlier.case_no, earlier.urgent, earlier.promised_hours, None
            case, matches = open_case(
                session,
                intake,
                current_experts(),
                urgent_days=settings.urgent_days,
                per_round=settings.offers_per_round,
                staff=current_staff(),
            )
            assert case.case_no is not None  # numbered by open_case before it returns
            return case.case_no, case.urgent, case.promised_hours, matches

    @staticmethod
    def _confirmation(case_no: str, urgent: bool, hours: int, matches: list[Match] | None, lang: str) -> str:
        head = t("cases.opened", lang, case_no=case_no, urgent=t("cases.opened_urgent", lang) if urgent else "")
        if matches is None:  # this form's case was opened before (its reply was lost): nothing opened twice
            body = t("cases.already_opened", lang)
        elif matches:
            body = t("cases.sent_to", lang, experts="\n".join(describe_matches(matches, lang)), hours=hours)
        else:
            body = t("cases.no_expert", lang, hours=hours)
        return f"{head}\n{body}\n{t('cases.status_hint', lang, case_no=case_no)}"


class ActionDeclineCaseOffer(BaseAction):
    """The user does not want a case now."""

    def name(self) -> str:
        return "action_decline_case_offer"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        dispatcher.utter_message(text=t("cases.offer_declined", language_of(tracker)))
        return reset_case_slots()


class ActionCancelCase(BaseAction):
    """Stops the intake form; nothing is stored."""

    def name(self) -> str:
        return "action_cancel_case"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        dispatcher.utter_message(text=t("cases.cancelled", language_of(tracker)))
        return [ActiveLoop(None), *forget_case_entry()]


class ActionCorrectCaseField(BaseAction):
    """Clears the answer the user wants to change, so the form asks for it again."""

    def name(self) -> str:
        return "action_correct_case_field"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        fields = [e.get("value") for e in tracker.latest_message.get("entities", []) if e.get("entity") == "form_field"]
        slot = next((FIELD_SLOTS[f] for f in fields if f in FIELD_SLOTS), None)
        if slot is None:
            lang = language_of(tracker)
            dispatcher.utter_message(
                text=t("cases.which_field", lang),
                buttons=[
                    {"title": t(f"cases.field.{field}", lang), "payload": f'/correct_field{{"form_field":"{field}"}}'}
                    for field in FIELD_SLOTS
                ],
            )
            return []
        return [SlotSet(slot, None), SlotSet("case_consent", None)]


class ActionCheckCase(BaseAction):
    """Status and history of a case — only for the conversation that opened it."""

    def name(self) -> str:
        return "action_check_case"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        text = user_text(tracker)
        asked = next(
            (e.get("value") for e in tracker.latest_message.get("entities", []) if e.get("entity") == "case_id"), None
        )
        match = CASE_NO.search(asked or text)
        case_no = match.group(0).upper() if match else None
        settings = get_settings()
        try:
            lines = await asyncio.to_thread(self._lookup, settings.database_url, tracker.sender_id, case_no, lang)
        except (SQLAlchemyError, OSError):
            logger.exception("case lookup failed")
            dispatcher.utter_message(response="utter_service_unavailable")
            return []
        if lines is None:
            dispatcher.utter_message(
                text=t("cases.not_found", lang, case_no=case_no) if case_no else t("cases.no_case", lang)
            )
        else:
            dispatcher.utter_message(text="\n".join(lines))
        return []

    @staticmethod
    def _lookup(url: str, sender_id: str, case_no: str | None, lang: str) -> list[str] | None:
        migrated(url)
        with session_scope(url) as session:
            if case_no:
                case = find_case(session, case_no)
                if case is None or case.sender_id != sender_id:  # never reveal another enterprise's case
                    return None
            else:
                mine = cases_of(session, sender_id)
                if not mine:
                    return None
                case = mine[0]
            return status_lines(case, lang)


class _AskCaseSlot(AskSlotAction, ABC):
    """Asks the intake form's question for one slot, in the user's language."""

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        key = f"cases.ask.{self.slot}"
        dispatcher.utter_message(text=t(key, lang), buttons=buttons_of(key, lang))
        return []


class ActionAskCaseEnterprise(_AskCaseSlot):
    """Asks step 1: the company's full name."""

    def name(self) -> str:
        return "action_ask_case_enterprise"


class ActionAskCaseContact(_AskCaseSlot):
    """Asks step 2: how the expert can reach the enterprise."""

    def name(self) -> str:
        return "action_ask_case_contact"


class ActionAskCaseCountry(_AskCaseSlot):
    """Asks step 3: the country or market of the dispute."""

    def name(self) -> str:
        return "action_ask_case_country"


class ActionAskCaseIpType(_AskCaseSlot):
    """Asks step 4: the kind of IP, with buttons."""

    def name(self) -> str:
        return "action_ask_case_ip_type"


class ActionAskCaseIncident(_AskCaseSlot):
    """Asks step 5: what happened, with buttons."""

    def name(self) -> str:
        return "action_ask_case_incident"


class ActionAskCaseDeadline(_AskCaseSlot):
    """Asks step 6: the deadline, if any."""

    def name(self) -> str:
        return "action_ask_case_deadline"


class ActionAskCaseDescription(_AskCaseSlot):
    """Asks step 7: a short description of the situation."""

    def name(self) -> str:
        return "action_ask_case_description"


class ActionAskCaseConsent(_AskCaseSlot):
    """Asks last step: consent to share the details with the matched experts."""

    def name(self) -> str:
        return "action_ask_case_consent"
