"""Answer quality: the labelled set is checked against knowledge/, replies are classified from
what the bot sent, and scores and summaries are computed as documented."""

from __future__ import annotations

import pytest

from actions.answers import NO_ANSWER, compose
from actions.case_actions import ASKS, T
from eval.toolkit.answers import (
    AnswerItem,
    answer_text,
    load_answer_set,
    load_signals,
    normalise,
    observed_kinds,
    score,
    summarise,
)
from eval.toolkit.bot import Reply

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
                {"text": T["offer"]["zh"], "buttons": [{"title": "开案件", "payload": "/affirm"}]},
            ],
            ["case_offer", "cited_answer"],
        ),
        ([{"text": ASKS["case_enterprise"][1]}], ["case_offer"]),
        (
            [{"text": NO_ANSWER["en"]}, {"custom": {"answered": False, "citations": [], "language": "en"}}],
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
    reply = Reply("q", [{"text": NO_ANSWER["zh"]}, {"custom": {"answered": False, "citations": []}}], 0.1)
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
    assert any("facts need behaviour answer or handoff" in m for m in messages), messages


def test_the_scorer_reads_the_no_answer_reply_that_actions_answers_writes():
    empty = compose([], "en")
    reply = Reply("q", [*rest_split(empty.text), {"custom": {"answered": empty.answered, "citations": []}}], 0.1)
    assert observed_kinds(reply, SIGNALS) == ["no_answer"]
    assert not score(item(lang="en"), reply, SIGNALS).cited
