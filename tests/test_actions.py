import asyncio

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.actions import ActionAnswerQuestion
from actions.answers import DISCLAIMER
from actions.retrieval import IndexProvider


class ReadyProvider(IndexProvider):
    """Hands out an already loaded index."""

    def __init__(self, index):
        super().__init__(index.settings)
        self._index_ready = index

    def get(self, timeout: float = 0):
        return self._index_ready


class BrokenProvider(IndexProvider):
    def get(self, timeout: float = 0):
        raise FileNotFoundError("no index")


def tracker(text: str, intent: str = "ask_question", language: str | None = None) -> Tracker:
    return Tracker(
        sender_id="t1",
        slots={"language": language},
        latest_message={"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": []},
        events=[],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


def run(action, t):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, t, {}))
    return dispatcher.messages, events


def test_answers_in_chinese_with_citations(fixture_index):
    messages, events = run(
        ActionAnswerQuestion(ReadyProvider(fixture_index)), tracker("中日PPH需要提交哪些材料？", language="zh")
    )
    assert events == [SlotSet("action_server_reply", "received")]
    [message] = messages
    assert "权利要求对应表" in message["text"] and DISCLAIMER["zh"] in message["text"]
    custom = message["custom"]
    assert custom["answered"] and custom["language"] == "zh"
    assert custom["citations"][0]["doc_id"] == "fx-pph-basics"


def test_language_falls_back_to_detection_when_slot_is_empty(fixture_index):
    messages, _ = run(
        ActionAnswerQuestion(ReadyProvider(fixture_index)), tracker("what does RCEP say about bad faith trademarks")
    )
    assert messages[0]["custom"]["language"] == "en"
    assert "bad faith" in messages[0]["text"]


def test_unanswerable_question_gets_no_answer_offer(fixture_index):
    messages, _ = run(ActionAnswerQuestion(ReadyProvider(fixture_index)), tracker("今天天气怎么样", language="zh"))
    assert not messages[0]["custom"]["answered"]
    assert "没有找到可靠的答案" in messages[0]["text"]


def test_a_reported_incident_gets_the_answer_and_an_offer_to_open_a_case(fixture_index):
    t = tracker("我们收到了日本公司的警告函", intent="report_case", language="zh")
    t.latest_message["entities"] = [
        {"entity": "country", "value": "JP"},
        {"entity": "incident_type", "value": "warning_letter"},
    ]
    messages, events = run(ActionAnswerQuestion(ReadyProvider(fixture_index)), t)
    offer = messages[-1]
    assert [b["payload"] for b in offer["buttons"]] == ["/affirm", "/deny"]
    assert SlotSet("case_offered", True) in events
    assert SlotSet("case_country", "JP") in events and SlotSet("case_incident", "warning_letter") in events


def test_missing_index_gives_the_unavailable_response(fixture_settings):
    messages, events = run(ActionAnswerQuestion(BrokenProvider(fixture_settings)), tracker("PPH?"))
    assert messages[0]["response"] == "utter_service_unavailable"
    assert events == [SlotSet("action_server_reply", "received")]


def test_every_action_survives_the_trip_to_rasa_sdks_worker_process(monkeypatch):
    """rasa-sdk pickles its registered actions into a Sanic worker process."""
    import pickle

    monkeypatch.setattr(IndexProvider, "start", lambda self: None)  # no index loading in this test

    from rasa_sdk.executor import ActionExecutor

    executor = ActionExecutor()
    executor.register_package("actions")
    names = set(executor.actions)
    assert {"action_answer_question", "validate_case_form", "action_submit_case", "action_ask_case_consent"} <= names
    clone = pickle.loads(pickle.dumps(executor))
    assert set(clone.actions) == names
