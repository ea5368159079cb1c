"""Custom Rasa actions: what the bot does that plain responses cannot."""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from functools import lru_cache
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.answers import compose
from actions.retrieval import IndexProvider
from actions.settings import get_settings
from bot.language import EN, detect_language

logger = logging.getLogger(__name__)

SLOT_LANGUAGE = "language"
# Set to "pending" by every user message (domain slot mapping) and to "received" by every custom
# action: a rule answers "temporarily unavailable" when a custom action left it pending.
SLOT_ACTION_REPLY = "action_server_reply"
REPLY_RECEIVED = "received"

HANDOFF_NOT_READY = {
    "zh": "（将案件转交海外维权专家的功能正在建设中。情况紧急时，请尽快联系专业律师，并留意对方给出的期限。）",
    "en": "(Handing a case to an overseas IP expert is not available yet. If it is urgent, contact a "
    "qualified lawyer now and keep an eye on any deadline you were given.)",
}


def language_of(tracker: Tracker) -> str:
    """The language to reply in: the `language` slot, else detected from the last message."""
    slot = tracker.get_slot(SLOT_LANGUAGE)
    if slot in ("zh", "en"):
        return slot
    return detect_language(tracker.latest_message.get("text")) or EN


@lru_cache(maxsize=1)
def default_index_provider() -> IndexProvider:
    """The process-wide index provider. It starts loading in the action server's worker process
    (when rasa-sdk unpickles the actions there) or at the first question, whichever comes first."""
    return IndexProvider(get_settings())


class BaseAction(Action, ABC):
    """Base of every custom action: records that the action server answered this turn."""

    @abstractmethod
    def name(self) -> str: ...

    @abstractmethod
    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        """What the action does; its events are returned with the reply marker."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        events = await self.act(dispatcher, tracker, domain)
        return [*events, SlotSet(SLOT_ACTION_REPLY, REPLY_RECEIVED)]


class ActionAnswerQuestion(BaseAction):
    """Answers a PPH, RCEP or dispute question from the knowledge files, with citations."""

    def __init__(self, provider: IndexProvider | None = None) -> None:
        self.provider = provider or default_index_provider()
        self.settings = self.provider.settings

    def name(self) -> str:
        return "action_answer_question"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        question = (tracker.latest_message.get("text") or "").strip()
        try:
            index = await asyncio.to_thread(self.provider.get)
            passages = await asyncio.to_thread(index.search, question, None, lang)
        except Exception:
            logger.exception("retrieval failed for %r", question)
            dispatcher.utter_message(response="utter_service_unavailable")
            return []
        answer = compose(passages, lang, self.settings.answer_chars_zh, self.settings.answer_words_en)
        text = answer.text
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent == "report_case":
            text = f"{text}\n\n{HANDOFF_NOT_READY[lang]}"
        dispatcher.utter_message(
            text=text,
            json_message={"citations": answer.citations, "answered": answer.answered, "language": lang},
        )
        logger.info(
            "answered=%s lang=%s top=%s",
            answer.answered,
            lang,
            [(p.key, round(p.dense, 3), round(p.lexical, 3)) for p in passages],
        )
        return []
