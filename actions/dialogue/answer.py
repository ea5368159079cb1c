"""Custom Rasa actions: what the bot does that plain responses cannot."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from functools import lru_cache
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import question_vector
from actions.answers.question import Resolved, Topic, mentions, resolve, tells_own_situation
from actions.answers.reply import Answer, LexicalSentenceScorer, compose, holds_asked_fact, holds_kind_asked
from actions.answers.requests import RequestDecision, policy_for
from actions.dialogue.common import (
    BaseAction,
    current_alerts,
    language_of,
    mention_alerts,
    named_markets,
    offer_case,
    received_chars,
    should_offer,
    user_text,
)
from actions.privacy import get_logger
from actions.retrieval.passage import Passage
from actions.retrieval.provider import IndexProvider
from actions.retrieval.search import KnowledgeIndex
from actions.settings import get_settings
from actions.vocab import industry_code

logger = get_logger(__name__)

SLOT_TOPIC = "answer_topic"
MAX_QUESTION_CHARS = 1000  # a longer message is answered from its start, and the reply says so
DEEPER_SEARCH = 3  # how many times more sections to look through when the best ones miss the asked fact
# Glossary concepts (knowledge/glossary.yml) that name an incident, as the case form's incident codes.
INCIDENT_CONCEPTS = {
    "warning-letter": "warning_letter",
    "customs-detention": "customs_detention",
    "platform-takedown": "platform_takedown",
    "account-frozen": "platform_takedown",
    "schedule-a": "lawsuit",
    "trademark-squatting": "trademark_squatting",
    "preliminary-injunction": "trade_fair_action",
    "lawsuit": "lawsuit",
    "section-337": "section_337",
}


@lru_cache(maxsize=1)
def default_index_provider() -> IndexProvider:
    """The process-wide index provider. It starts loading in the action server's worker process
    (when rasa-sdk unpickles the actions there) or at the first question, whichever comes first."""
    return IndexProvider(get_settings())


def payload(answer: Answer | None, lang: str, kind: str, **extra: Any) -> dict[str, Any]:
    """What channels, logs and the evaluation read about a reply (sent as the message's `custom`)."""
    return {
        "citations": answer.citations if answer else [],
        "answered": bool(answer and answer.answered),
        "language": lang,
        "kind": kind,
        **extra,
    }


class ActionAnswerQuestion(BaseAction):
    """Answers a free-text message: refuses what the bot must not help with, answers PPH, RCEP and
    dispute questions from the knowledge files with citations (follow-ups in the conversation's
    topic), says when it has no reliable answer, and offers an expert for an incident."""

    def __init__(self, provider: IndexProvider | None = None) -> None:
        self.provider = provider or default_index_provider()
        self.settings = self.provider.settings
        self.scorer = LexicalSentenceScorer(self.settings.jieba_dict_dir)  # cheap: jieba loads at first use

    def name(self) -> str:
        return "action_answer_question"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        message = user_text(tracker)
        text = message.strip()[:MAX_QUESTION_CHARS]
        if received_chars(tracker) > len(message) or len(message.strip()) > len(text):
            dispatcher.utter_message(response="utter_message_shortened", chars=len(text))
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        decision = self._request_decision(text)
        try:
            index = await asyncio.to_thread(self.provider.get)
            if decision is not None:
                return self._decline(dispatcher, tracker, index, decision, text, lang)
            topic = Topic.from_slot(tracker.get_slot(SLOT_TOPIC))
            resolved = resolve(text, topic, lang)
            vector = self._nlu_vector(tracker, index, resolved.query)
            passages = await asyncio.to_thread(self._search, index, resolved, lang, topic, vector)
            if intent == "report_case" and not resolved.followup:  # an incident told as a story
                story = index.answer_story(passages, resolved.query)
                passages = [self._if_it_holds_the_fact(p, resolved.query, lang) for p in story]
        except Exception:
            logger.exception("retrieval failed (intent %s, %s characters)", intent, len(text))
            dispatcher.utter_message(response="utter_service_unavailable")
            return offer_case(dispatcher, tracker, lang) if should_offer(tracker) else []
        # A follow-up completed from the conversation's topic is in scope whatever the NLU guessed
        # ("how much does it cost?" after a PPH answer reads as out_of_scope on its own).
        if intent == "out_of_scope" and not resolved.followup and not any(self._asked_here(p) for p in passages):
            dispatcher.utter_message(response="utter_out_of_scope", json_message=payload(None, lang, "out_of_scope"))
            return []
        answer = self._compose(passages, lang, resolved.query, resolved.followup)
        kind = "answer" if answer.answered else "no_answer"
        dispatcher.utter_message(text=answer.text, json_message=payload(answer, lang, kind, followup=resolved.followup))
        logger.info(
            "answered=%s lang=%s intent=%s followup=%s direction=%s top=%s",
            answer.answered,
            lang,
            intent,
            resolved.followup,
            resolved.direction,
            [(p.key, round(p.dense, 3), round(p.ask, 3), round(p.lexical, 3)) for p in passages],
        )
        events: list[EventType] = []
        if answer.answered:
            events.append(SlotSet(SLOT_TOPIC, self._topic(resolved, passages).as_slot()))
        self._mention_alerts(dispatcher, tracker, text, lang)
        incident = next((INCIDENT_CONCEPTS[c] for c in index.glossary.concepts(text) if c in INCIDENT_CONCEPTS), None)
        # A general question the knowledge base cannot answer ("337调查请美国律师要花多少钱") is not a
        # case: it gets "no reliable answer" (which says how to reach an expert), not a case offer;
        # an incident told as a story, or a question about the user's own situation, still gets one.
        general = not answer.answered and intent != "report_case" and not tells_own_situation(text)
        if not general and should_offer(tracker, incident):
            events += offer_case(dispatcher, tracker, lang, incident)
        return events

    @staticmethod
    def _nlu_vector(tracker: Tracker, index: Any, query: str) -> list[float] | None:
        """The NLU's embedding of the message (actions/question_vector.py) when the index embeds questions
        with the same model and the question searched is the text the NLU embedded; else None (embedded here)."""
        model = getattr(index, "query_model", None)
        if not model or query != tracker.latest_message.get("text"):
            return None
        return question_vector.decode(tracker.latest_message.get(question_vector.PARSE_KEY), model)

    def _search(
        self, index: Any, resolved: Resolved, lang: str, topic: Topic | None = None, vector: list[float] | None = None
    ) -> list[Passage]:
        """The best sections for the question, each answerable only if it can hold the kind of fact
        asked for. A follow-up whose best few sections cannot ("how much does it cost?" after a PPH
        answer, and none names a fee) looks further down, in the topic's own document only: its fee
        note beats "no reliable answer". Not for a fresh question: measured on the dev part, a deeper
        look there answered price questions the knowledge cannot answer (an attorney's quote)."""
        found = index.search(resolved.query, None, lang, "hybrid", resolved.direction, vector)
        passages = [self._if_it_holds_the_fact(p, resolved.query, lang) for p in found]
        missed_fact = any(p.answerable for p in found) and not any(p.answerable for p in passages)
        if resolved.followup and not missed_fact:
            passages = self._holding_first(passages, resolved.query, lang)
        if not (missed_fact and resolved.followup and topic is not None):
            return passages
        k = max(len(found), 1)
        deeper = index.search(resolved.query, k * DEEPER_SEARCH, lang, "hybrid", resolved.direction, vector)
        holding = [
            p
            for p in (self._if_it_holds_the_fact(p, resolved.query, lang) for p in deeper)
            if p.answerable and p.doc_id == topic.doc_id
        ]
        return holding[:k] or passages

    @staticmethod
    def _holding_first(passages: list[Passage], question: str, lang: str) -> list[Passage]:
        """For a follow-up asking for a date, a duration or an amount, the answerable sections that hold
        one first, in their order: "那什么时候生效的？" after "RCEP有哪些国家" is completed with the
        overview's title, which every section of the overview shares, so its section on the chapter's
        structure outranked the one that gives the date of entry into force."""
        holds = [holds_kind_asked(question, p.text(lang)) for p in passages]
        if not any(h is not None for h in holds):
            return passages
        order = sorted(range(len(passages)), key=lambda i: not (passages[i].answerable and holds[i]))
        return [passages[i] for i in order]

    @staticmethod
    def _if_it_holds_the_fact(passage: Passage, question: str, lang: str) -> Passage:
        """The passage, no longer answerable when it cannot hold the kind of fact asked for (a price,
        a duration): better "no reliable answer" than a passage on the same subject that misses the point."""
        if passage.answerable and not holds_asked_fact(question, passage.text(lang)):
            return replace(passage, answerable=False)
        return passage

    def _asked_here(self, passage: Passage) -> bool:
        """Whether a passage answers the question as closely as one of the questions staff listed
        for it (so an out-of-scope guess by the NLU does not hide a real answer)."""
        return passage.answerable and passage.ask >= self.settings.tuned("gate_ask")

    def _request_decision(self, text: str) -> RequestDecision | None:
        """The request policy's verdict on the message (knowledge/requests.yml); None when it has none."""
        try:
            policy = policy_for(self.settings.requests_file, self.settings.knowledge_dir.parent)
            return policy.classify(text) if policy else None
        except Exception:
            logger.exception("request policy not applied")
            return None

    def _decline(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        index: KnowledgeIndex,
        decision: RequestDecision,
        text: str,
        lang: str,
    ) -> list[EventType]:
        """Refuses an improper request plainly, says what the bot cannot do (drafting: what such a
        document usually contains, cited, and the expert offer) or that a request is out of scope."""
        extra = {"request": decision.category}
        if decision.kind == "drafting":
            passages = [p for key in decision.cite if (p := index.section(key)) is not None]
            answer = self._compose(passages, lang, text)
            body = decision.text(lang) + ("\n\n" + answer.text if answer.answered else "")
            dispatcher.utter_message(text=body, json_message=payload(answer, lang, "drafting", **extra))
        else:
            kind = "refusal" if decision.kind == "improper" else "out_of_scope"
            dispatcher.utter_message(text=decision.text(lang), json_message=payload(None, lang, kind, **extra))
        logger.info("request %s (%s) declined, lang=%s", decision.category, decision.kind, lang)
        return offer_case(dispatcher, tracker, lang) if decision.offer_case else []

    def _compose(self, passages: list[Passage], lang: str, question: str, followup: bool = False) -> Answer:
        """The extract that answers the question, with its citations."""
        settings = self.settings
        return compose(
            passages, lang, settings.answer_chars_zh, settings.answer_words_en, question, self.scorer, followup
        )

    @staticmethod
    def _topic(resolved: Resolved, passages: list[Passage]) -> Topic:
        """The conversation's topic after this answer."""
        first = next(p for p in passages if p.answerable)
        countries = tuple(dict.fromkeys(m.code for m in mentions(resolved.query)))
        return Topic(
            question=resolved.query,
            doc_id=first.doc_id,
            section_id=first.section_id,
            title={"zh": first.title_zh, "en": first.title_en},
            countries=countries,
            direction=resolved.direction or (first.pph if first.pph else None),
        )

    @staticmethod
    def _mention_alerts(dispatcher: CollectingDispatcher, tracker: Tracker, question: str, lang: str) -> None:
        """Adds the active alerts for a market or industry the question names (never fails the answer)."""
        try:
            note = mention_alerts(current_alerts(), named_markets(tracker), industry_code(question), lang)
        except Exception:
            logger.exception("could not look up alerts for a question")
            return
        if note:
            dispatcher.utter_message(text=note)
