"""Answer quality: the labelled set is checked against knowledge/ and split into dev and test by
folder, replies are classified from what the bot sent (the payload's `kind` first), every failing
item gets one failure cause, and scores and summaries are computed as documented."""

from __future__ import annotations

import pytest

from actions import messages
from actions.answers.reply import compose
from eval.toolkit.answers import (
    ANSWERS_DIR,
    AnswerItem,
    answer_text,
    ask_all,
    cause_counts,
    load_answer_set,
    load_signals,
    normalise,
    observed_kinds,
    score,
    split_of,
    summarise,
)
from eval.toolkit.bot import Reply
from eval.toolkit.spec import CONVERSATIONS_DIR, load_conversations

SIGNALS = load_signals()


def rest_split(text: str) -> list[dict]:
    """Rasa's REST channel sends a text with blank lines as several messages."""
    return [{"text": part} for part in text.split("\n\n")]


def answer_reply(lang: str = "zh") -> Reply:
    citation = {
        "doc_id": "pph-cn-jp",
        "section_id": "start-date-and-current-term",
        "path": "knowledge/pph/cn-jp-pph.md",
    }
    text = {
        "zh": "正式试点于2011年11月1日启动。 [1]\n\n来源：\n[1] 中日PPH › 起止时间 — knowledge/pph/cn-jp-pph.md\n\nℹ️ 以上为一线参考信息",
        "en": "The pilot proper started on 1 November 2011. [1]\n\nSources:\n[1] China–Japan PPH — 31 October 2028\n\nℹ️ This is first-line information",
    }[lang]
    return Reply(
        "q", [*rest_split(text), {"custom": {"answered": True, "citations": [citation], "language": lang}}], 0.1
    )


def item(**kw) -> AnswerItem:
    base = {"id": "x", "lang": "zh", "topic": "pph", "question": "中日PPH什么时候开始？", "behaviour": "answer"}
    return AnswerItem.model_validate({**base, **kw})


@pytest.mark.parametrize(
    ("messages", "kinds"),
    [
        (answer_reply().messages, ["cited_answer"]),
        (
            [
                *answer_reply().messages,
                {"text": messages.t("cases.offer", "zh"), "buttons": [{"title": "开案件", "payload": "/affirm"}]},
            ],
            ["case_offer", "cited_answer"],
        ),
        ([{"text": messages.t("cases.ask.case_enterprise", "en")}], ["case_offer"]),
        (
            [
                {"text": messages.t("answers.no_answer", "en")},
                {"custom": {"answered": False, "citations": [], "language": "en"}},
            ],
            ["no_answer"],
        ),
        ([{"text": SIGNALS.rephrase[0]}], ["rephrase"]),
        ([{"text": SIGNALS.out_of_scope[1]}], ["out_of_scope"]),
        ([{"text": "您好！"}], ["other"]),
        ([], ["other"]),
    ],
)
def test_replies_are_classified_from_what_the_bot_sent(messages, kinds):
    assert observed_kinds(Reply("q", messages, 0.1), SIGNALS) == kinds


def test_facts_are_looked_for_in_the_extract_only():
    reply = answer_reply("en")
    assert "31 October 2028" not in answer_text(reply, SIGNALS)  # it is only in the sources list
    s = score(
        item(lang="en", question="When did it start?", facts=["1 November 2011", ["31 October 2028", "2028"]]),
        reply,
        SIGNALS,
    )
    assert s.facts_found == [True, False] and s.coverage == 0.5


def test_a_right_answer_scores_on_every_measure():
    s = score(item(doc=["pph-cn-jp#start-date-and-current-term"], facts=["2011年11月1日"]), answer_reply(), SIGNALS)
    assert (s.behaviour_ok, s.cited, s.right_doc, s.language_ok, s.coverage) == (True, True, True, True, 1.0)
    assert s.primary == "cited_answer"


def test_wrong_document_language_and_behaviour_are_scored_as_misses():
    s = score(item(lang="en", doc="rcep-overview", behaviour="refuse"), answer_reply("zh"), SIGNALS)
    assert (s.behaviour_ok, s.right_doc, s.language_ok) == (False, False, False)


def test_no_reliable_answer_counts_as_refusing_and_clarifying_but_not_answering():
    reply = Reply(
        "q", [{"text": messages.t("answers.no_answer", "zh")}, {"custom": {"answered": False, "citations": []}}], 0.1
    )
    assert score(item(behaviour="refuse", topic="other"), reply, SIGNALS).behaviour_ok
    assert score(item(behaviour="clarify", topic="other"), reply, SIGNALS).behaviour_ok
    assert not score(item(), reply, SIGNALS).behaviour_ok


def test_normalise_makes_full_width_and_dashes_comparable():
    assert normalise("ＰＰＨ（IP5）–Ａ") == normalise("pph(ip5)-a")


def test_summaries_per_group():
    good = score(item(id="a", doc="pph-cn-jp", facts=["2011年11月1日"]), answer_reply(), SIGNALS)
    bad = score(item(id="b", doc="rcep-overview", facts=["2028年"]), answer_reply(), SIGNALS)
    table = summarise([good, bad], lambda s: s.item.lang)
    assert table["zh"]["n"] == 2 and table["zh"]["right_doc"] == 0.5 and table["zh"]["coverage"] == 0.5
    assert table["all"]["behaviour"] == 1.0 and table["all"]["all_facts"] == 0.5


def test_invented_facts_and_unknown_documents_are_reported_with_file_and_line(tmp_path):
    path = tmp_path / "a.yml"
    path.write_text(
        "- id: a\n  lang: zh\n  topic: pph\n  question: 中日PPH什么时候到期？\n  behaviour: answer\n"
        "  doc: pph-cn-jp#start-date-and-current-term\n  facts: [2011年11月1日, 2035年1月1日]\n"
        "- id: b\n  lang: en\n  topic: other\n  question: hi\n  behaviour: refuse\n  doc: no-such-doc\n  facts: [x]\n",
        encoding="utf-8",
    )
    items, errors = load_answer_set([path], root=tmp_path)
    messages = [str(e) for e in errors]
    assert any(m.startswith("a.yml:7: a: facts: ['2035年1月1日'] is not in the zh text") for m in messages), messages
    assert any(m.startswith("a.yml:13: b: doc: 'no-such-doc' is no knowledge document") for m in messages), messages
    assert any("b: facts: a refuse item has no facts: only answer, handoff and drafting" in m for m in messages), (
        messages
    )
    assert any("b: doc: a refuse item has no doc" in m for m in messages), messages


def test_the_scorer_reads_the_no_answer_reply_that_actions_answers_writes():
    empty = compose([], "en")
    reply = Reply("q", [*rest_split(empty.text), {"custom": {"answered": empty.answered, "citations": []}}], 0.1)
    assert observed_kinds(reply, SIGNALS) == ["no_answer"]
    assert not score(item(lang="en"), reply, SIGNALS).cited


# ------------------------------------------------------------------ the payload's kind, new behaviours
def payload(kind: str, lang: str = "en", citations: list | None = None, **extra) -> dict:
    """The answer action's JSON message, as it is sent from now on."""
    answered = kind in ("answer", "drafting")
    return {
        "custom": {
            "answered": answered,
            "citations": citations or [],
            "language": lang,
            "kind": kind,
            "request": extra.get("request"),
        }
    }


CITATION = {
    "doc_id": "dispute-warning-letter",
    "section_id": "response-options",
    "title": "Receiving an overseas warning letter",
    "section": "Response options",
    "path": "knowledge/disputes/warning-letter.md",
    "url": "",
    "source": "https://example.org",
    "last_reviewed": "2026-11-24",
    "n": 1,
    "line": 40,
}
OFFER_EN = {
    "text": messages.t("cases.offer", "en"),
    "buttons": [{"title": "Open a case", "payload": "/affirm"}, {"title": "No, thanks", "payload": "/deny"}],
}
ANSWER_TRACKER = {
    "events": [
        {"event": "user", "text": "q", "parse_data": {"intent": {"name": "ask_question", "confidence": 0.9}}},
        {"event": "action", "name": "action_answer_question"},
    ]
}


def en_reply(*messages: dict, tracker: dict | None = None) -> Reply:
    return Reply("q", list(messages), 0.1, tracker)


@pytest.mark.parametrize(
    ("messages", "kinds"),
    [
        ([{"text": "We can't help with that."}, payload("refusal", request="evade_customs")], ["refusal"]),
        (
            [{"text": "A reply usually …"}, payload("drafting", citations=[CITATION]), OFFER_EN],
            ["case_offer", "drafting"],
        ),
        ([{"text": "…"}, payload("answer", citations=[CITATION])], ["cited_answer"]),
        ([{"text": "…"}, payload("answer")], ["other"]),  # "answered" with nothing cited is no cited answer
        ([{"text": "Sorry …"}, payload("no_answer")], ["no_answer"]),
        ([{"text": "Outside my scope"}, payload("out_of_scope")], ["out_of_scope"]),
        ([{"text": "What else?"}, payload("anything_else")], ["anything_else"]),
        ([{"text": "Anything"}, payload("something_new")], ["other"]),
        # the offer is recognised by its button too, whatever its text says
        ([{"text": "Shall we?", "buttons": OFFER_EN["buttons"]}], ["case_offer"]),
        ([{"text": SIGNALS.anything_else[1]}], ["anything_else"]),
    ],
)
def test_the_payloads_kind_names_what_the_reply_shows(messages, kinds):
    assert observed_kinds(en_reply(*messages), SIGNALS) == kinds


def test_the_offer_buttons_are_read_from_the_bots_offer():
    assert set(SIGNALS.offer_buttons) == {"开案件", "Open a case"}


@pytest.mark.parametrize(
    ("behaviour", "messages", "ok"),
    [
        ("improper", [{"text": "No."}, payload("refusal")], True),
        ("improper", [{"text": "No."}, payload("refusal"), OFFER_EN], False),  # a refusal must not offer a case
        ("improper", [{"text": "…"}, payload("answer", citations=[CITATION])], False),
        ("improper", [{"text": SIGNALS.out_of_scope[1]}], False),  # only a refusal
        ("drafting", [{"text": "…"}, payload("drafting"), OFFER_EN], True),
        ("drafting", [{"text": "…"}, payload("answer", citations=[CITATION]), OFFER_EN], True),
        ("drafting", [{"text": "…"}, payload("drafting")], False),  # the expert offer is required
        ("drafting", [OFFER_EN], False),  # and so is the drafting reply or a cited answer
        ("out_of_scope", [{"text": SIGNALS.out_of_scope[1]}], True),  # the domain's text
        ("out_of_scope", [{"text": "Not my field."}, payload("out_of_scope")], True),  # or the payload
        ("out_of_scope", [{"text": messages.t("answers.no_answer", "en")}, payload("no_answer")], False),
        ("out_of_scope", [{"text": SIGNALS.out_of_scope[1]}, payload("answer", citations=[CITATION])], False),
        ("refuse", [{"text": messages.t("answers.no_answer", "en")}, payload("no_answer")], True),
        ("refuse", [{"text": SIGNALS.out_of_scope[1]}], True),
        ("refuse", [{"text": messages.t("answers.no_answer", "en")}, payload("no_answer"), OFFER_EN], False),
    ],
)
def test_new_behaviours_accept_only_their_replies(behaviour, messages, ok):
    topic = "dispute" if behaviour in ("improper", "drafting") else "other"
    s = score(item(lang="en", topic=topic, question="q", behaviour=behaviour), en_reply(*messages), SIGNALS)
    assert s.behaviour_ok is ok, s.kinds


# ------------------------------------------------------------------ one failure cause per failing item
def cause_of(reply: Reply, **kw) -> str | None:
    base = {"lang": "en", "topic": "dispute", "question": "q", "behaviour": "answer"}
    return score(item(**{**base, **kw}), reply, SIGNALS).cause


WL = "dispute-warning-letter"


@pytest.mark.parametrize(
    ("reply", "labels", "cause"),
    [
        (en_reply({"text": "…"}, payload("answer", citations=[CITATION])), {"doc": WL}, None),
        # the answer action did not run: a form, chit-chat or "please rephrase" instead
        (en_reply({"text": SIGNALS.rephrase[1]}), {}, "misroute"),
        (
            en_reply({"text": messages.t("cases.ask.case_enterprise", "en")}, tracker={"events": []}),
            {"doc": WL},
            "misroute",
        ),
        (en_reply({"text": "Hello!"}, tracker={"events": []}), {"behaviour": "handoff"}, "misroute"),
        # a handoff with a labelled playbook that only opened the form: nothing cited
        (
            en_reply({"text": messages.t("cases.ask.case_enterprise", "en")}, tracker={"events": []}),
            {"behaviour": "handoff", "doc": WL},
            "misroute",
        ),
        (
            en_reply({"text": messages.t("answers.no_answer", "en")}, payload("no_answer")),
            {"doc": WL},
            "gate false negative",
        ),
        (
            en_reply({"text": messages.t("answers.no_answer", "en")}, payload("no_answer"), OFFER_EN),
            {"behaviour": "handoff", "doc": WL},
            "gate false negative",
        ),
        (
            en_reply({"text": "…"}, payload("answer", citations=[{**CITATION, "doc_id": "rcep-overview"}])),
            {"doc": WL},
            "wrong section",
        ),
        (
            en_reply({"text": "Reply…"}, payload("answer", citations=[CITATION])),
            {"doc": WL, "facts": ["written denial"]},
            "fact missing",
        ),
        (
            en_reply({"text": "…"}, payload("answer", citations=[CITATION])),
            {"behaviour": "improper"},
            "refusal missing",
        ),
        (en_reply({"text": "No."}, payload("refusal"), OFFER_EN), {"behaviour": "improper"}, "refusal missing"),
        (
            en_reply({"text": SIGNALS.out_of_scope[1]}, OFFER_EN),
            {"behaviour": "out_of_scope", "topic": "other"},
            "refusal missing",
        ),
        (
            en_reply({"text": "…"}, payload("answer", citations=[CITATION])),
            {"behaviour": "refuse", "topic": "other"},
            "refusal missing",
        ),
        (
            en_reply({"text": "…"}, payload("answer", citations=[CITATION])),
            {"behaviour": "handoff", "doc": WL},
            "offer missing",
        ),
        (
            en_reply({"text": "…"}, payload("drafting", citations=[CITATION])),
            {"behaviour": "drafting", "doc": WL},
            "offer missing",
        ),
        (en_reply({"text": "收到警告函后……"}, payload("answer", citations=[CITATION])), {"doc": WL}, "wrong language"),
        # the answer action ran but took another path: refused, out of scope, "anything else?"
        (en_reply({"text": "No."}, payload("refusal")), {}, "misroute"),
        (en_reply({"text": "Outside"}, payload("out_of_scope")), {"doc": WL}, "misroute"),
        (en_reply({"text": "What else?"}, payload("anything_else")), {"behaviour": "drafting", "doc": WL}, "misroute"),
        (en_reply({"text": "…"}, payload("answer")), {}, "other"),  # "answered" with nothing cited
        (
            en_reply({"text": "…"}, payload("answer", citations=[CITATION])),
            {"behaviour": "clarify", "topic": "other"},
            "other",
        ),
    ],
)
def test_every_failing_item_gets_one_cause_from_the_reply(reply, labels, cause):
    assert cause_of(reply, **labels) == cause


def test_the_tracker_decides_whether_the_answer_action_ran():
    # with Rasa's HTTP API the tracker's actions tell; the no-answer text alone then is no misroute
    ran = en_reply({"text": messages.t("answers.no_answer", "en")}, tracker=ANSWER_TRACKER)
    assert cause_of(ran) == "gate false negative"
    other = en_reply({"text": "Hello!"}, tracker=ANSWER_TRACKER)
    assert cause_of(other) == "other"


# ------------------------------------------------------------------ context, split, the held-out part
class ScriptedBot:
    """Replies with a cited answer to every message and records what it was sent, per sender."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, sender: str, message: str) -> list[dict]:
        self.sent.append((sender, message))
        return [{"text": f"answer to {message}"}, payload("answer", citations=[CITATION])]

    def tracker(self, sender: str) -> None:
        return None

    def cases(self, sender: str) -> None:
        return None


def test_earlier_turns_are_sent_in_the_same_conversation_and_the_last_reply_is_scored():
    bot = ScriptedBot()
    follow_up = item(id="f", lang="en", question="and korea?", context=["Is the China-Japan PPH running?"], doc=WL)
    single = item(id="s", lang="en", question="what is PPH?")
    scores = ask_all([follow_up, single], bot, SIGNALS)
    (s1, q1), (s2, q2), (s3, q3) = bot.sent
    assert (q1, q2, q3) == ("Is the China-Japan PPH running?", "and korea?", "what is PPH?")
    assert s1 == s2 != s3
    assert scores[0].reply.sent == "and korea?" and [r.sent for r in scores[0].context_replies] == [q1]
    assert scores[1].context_replies == []


def test_context_is_a_list_of_non_empty_turns():
    assert item(context="那日本呢？").context == ["那日本呢？"]
    with pytest.raises(ValueError, match="an earlier turn cannot be empty"):
        item(context=["  "])


def write_item(path, **kw) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    base = {"id": path.stem, "lang": "en", "topic": "other", "question": "hi", "behaviour": "out_of_scope"}
    import yaml

    path.write_text(yaml.safe_dump([{**base, **kw}], allow_unicode=True), encoding="utf-8")


def test_the_split_is_known_from_the_folder(tmp_path):
    write_item(tmp_path / "dev" / "a.yml")
    write_item(tmp_path / "test" / "b.yml", context=["hello", "and then?"])
    write_item(tmp_path / "misc" / "c.yml")
    items, errors = load_answer_set(sorted(tmp_path.rglob("*.yml")), root=tmp_path)
    assert {i.id: i.split for i in items} == {"a": "dev", "b": "test", "c": "dev"}
    assert [i.context for i in items if i.id == "b"] == [["hello", "and then?"]]
    assert [str(e) for e in errors] == [
        "misc/c.yml:1: an answer file belongs in eval/answers/dev/ (tuned on) or eval/answers/test/ (held out)"
    ]
    assert split_of(ANSWERS_DIR / "test" / "pph.yml") == "test"
    assert split_of(ANSWERS_DIR / "pph.yml") is None
    assert split_of(ANSWERS_DIR / "dev" / "sub" / "x.yml") == "dev"


def test_the_split_is_not_a_field_an_item_can_set(tmp_path):
    write_item(tmp_path / "test" / "a.yml", split="dev")
    _, errors = load_answer_set([tmp_path / "test" / "a.yml"], root=tmp_path)
    assert any("split: Extra inputs are not permitted" in str(e) for e in errors)


def _norm(text: str) -> str:
    import re
    import unicodedata

    return re.sub(r"[\s?？!！。.,，]+", "", unicodedata.normalize("NFKC", text).casefold())


def _conversation_turns() -> set[str]:
    convs, _ = load_conversations(sorted(CONVERSATIONS_DIR.glob("*.yml")))
    return {_norm(t.user) for c in convs for t in c.turns if t.user}


def test_the_held_out_part_is_balanced_with_the_fresh_dev_items():
    """The split rule of eval/README.md: within each topic × language × behaviour × follow-up group,
    in the order written, items alternate test, dev, … (first to test); a question that is also a
    conversation-test turn goes to dev outside the alternation."""
    from collections import Counter

    items, errors = load_answer_set()
    assert not errors, "\n".join(map(str, errors))
    fresh = [i for i in items if i.split == "test" or "/fresh-" in i.where]
    turns = _conversation_turns()

    def group(i: AnswerItem) -> tuple:
        return (i.topic, i.lang, i.behaviour, bool(i.context))

    test = Counter(group(i) for i in fresh if i.split == "test")
    dev = Counter(group(i) for i in fresh if i.split == "dev" and _norm(i.question) not in turns)
    assert len(fresh) >= 100 and sum(test.values()) >= 80
    unbalanced = {g: (test[g], dev[g]) for g in test.keys() | dev.keys() if test[g] - dev[g] not in (0, 1)}
    assert not unbalanced, unbalanced
    for lang in ("zh", "en"):
        assert sum(n for g, n in test.items() if g[1] == lang) >= 35
    assert {g[2] for g in test} >= {"answer", "handoff", "drafting", "refuse", "improper", "out_of_scope"}
    assert sum(n for g, n in test.items() if g[3]) >= 6, "follow-ups in the held-out part"


def test_no_held_out_question_is_a_conversation_test_turn():
    """The conversation tests are tuned on; a held-out question must not be one of their turns."""
    turns = _conversation_turns()
    items, _ = load_answer_set()
    leaked = [i.where for i in items if i.split == "test" and _norm(i.question) in turns]
    assert not leaked, leaked


def test_summaries_count_refusals_and_failures():
    refused = score(
        item(id="r", lang="en", topic="other", behaviour="improper"),
        en_reply({"text": "No."}, payload("refusal")),
        SIGNALS,
    )
    offered = score(
        item(id="o", lang="en", topic="other", behaviour="improper"),
        en_reply({"text": "No."}, payload("refusal"), OFFER_EN),
        SIGNALS,
    )
    answered = score(
        item(id="a", lang="en", doc=WL), en_reply({"text": "…"}, payload("answer", citations=[CITATION])), SIGNALS
    )
    table = summarise([refused, offered, answered], lambda s: s.item.lang)
    assert table["en"]["refusals"] == 0.5 and table["en"]["failed"] == 1 and table["en"]["cited"] == 1.0
    counts = cause_counts([refused, offered, answered], lambda s: f"{s.item.split}/{s.item.lang}")
    assert counts["dev/en"]["refusal missing"] == 1 and sum(counts["all"].values()) == 1
