from actions.answers import DISCLAIMER, NO_ANSWER, compose, extract
from actions.retrieval import Passage


def passage(ok=True, doc="pph-cn-jp", section="documents-to-file", zh="第一句。第二句。", en="First. Second."):
    return Passage(
        doc_id=doc,
        section_id=section,
        title_zh="中日PPH",
        title_en="China–Japan PPH",
        section_zh="申请材料",
        section_en="Documents to file",
        text_zh=zh,
        text_en=en,
        sources=("https://example.org/pph",),
        last_reviewed="2026-11-24",
        path="knowledge/pph/cn-jp-pph.md",
        line=12,
        score=0.03,
        dense=0.6,
        lexical=0.7,
        answerable=ok,
    )


def test_chinese_answer_has_extract_numbered_citation_and_disclaimer():
    answer = compose([passage()], "zh")
    assert answer.answered
    assert answer.text.startswith("第一句。第二句。 [1]")
    assert (
        "[1] 中日PPH › 申请材料 — knowledge/pph/cn-jp-pph.md，https://example.org/pph，审核于 2026-11-24" in answer.text
    )
    assert answer.text.endswith(DISCLAIMER["zh"])
    assert answer.citations[0]["doc_id"] == "pph-cn-jp" and answer.citations[0]["path"] == "knowledge/pph/cn-jp-pph.md"


def test_english_answer_uses_english_passage_and_titles():
    answer = compose([passage(), passage(section="fees", en="Fees text.")], "en")
    assert "First. Second. [1]" in answer.text and "Fees text. [2]" in answer.text
    assert (
        "[2] China–Japan PPH › Documents to file — knowledge/pph/cn-jp-pph.md, https://example.org/pph, reviewed"
        in answer.text
    )
    assert len(answer.citations) == 2


def test_nothing_past_the_gate_means_no_answer():
    answer = compose([passage(ok=False)], "en")
    assert not answer.answered and answer.text == NO_ANSWER["en"] and answer.citations == []


def test_extract_cuts_at_a_sentence_end():
    text = "One two three. Four five six. Seven eight nine."
    assert extract(text, "en", 7) == "One two three. Four five six. …"
    assert extract("甲乙丙。丁戊己。庚辛壬。", "zh", 8) == "甲乙丙。丁戊己。……"
    assert extract("short", "en", 10) == "short"
