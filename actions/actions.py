"""Custom Rasa actions: what the bot does that plain responses cannot."""

from __future__ import annotations

import asyncio
import logging
from functools import lru_cache
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.alert_actions import current_alerts, mention_alerts, named_markets
from actions.answers import compose
from actions.base import BaseAction, language_of
from actions.case_actions import offer_case, should_offer
from actions.retrieval import IndexProvider
from actions.settings import get_settings
from actions.vocab import industry_code

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def default_index_provider() -> IndexProvider:
    """The process-wide index provider. It starts loading in the action server's worker process
    (when rasa-sdk unpickles the actions there) or at the first question, whichever comes first."""
    return IndexProvider(get_settings())


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
            return offer_case(dispatcher, tracker, lang) if should_offer(tracker) else []
        answer = compose(passages, lang, self.settings.answer_chars_zh, self.settings.answer_words_en)
        dispatcher.utter_message(
            text=answer.text,
            json_message={"citations": answer.citations, "answered": answer.answered, "language": lang},
        )
        logger.info(
            "answered=%s lang=%s top=%s",
            answer.answered,
            lang,
            [(p.key, round(p.dense, 3), round(p.lexical, 3)) for p in passages],
        )
        self._mention_alerts(dispatcher, tracker, question, lang)
        return offer_case(dispatcher, tracker, lang) if should_offer(tracker) else []

    @staticmethod
    def _mention_alerts(dispatcher: CollectingDispatcher, tracker: Tracker, question: str, lang: str) -> None:
        """Adds the active alerts for a market or industry the question names (never fails the answer)."""
        try:
            note = mention_alerts(current_alerts(), named_markets(tracker), industry_code(question), lang)
        except Exception:
            logger.exception("could not look up alerts for %r", question)
            return
        if note:
            dispatcher.utter_message(text=note)
