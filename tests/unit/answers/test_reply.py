import re
import time

import pytest

from actions import messages
from actions.answers.reply import (
    LexicalSentenceScorer,
    asked_kinds,
    compose,
    extract,
    focused_extract,
    holds_asked_fact,
    split_sentences,
)
from actions.settings import PROJECT_ROOT
from tests.factories import passage

# Two sections of knowledge/pph, copied so that staff edits there cannot change these tests.
CN_KR_TERM_ZH = (
    "据KIPO当时发布的新闻稿，中韩PPH试点于2012年3月1日启动，此前两局局长于2011年11月达成一致。试点原定至2016年2月29日。"
    "据中国专利代理（香港）有限公司的报道，自2016年3月1日起，中韩PPH试点被无限期延长，除非一方书面通知终止，请求条件和程序不变。"
    "我们未找到此后终止的公告。同时，中韩两局之间还可以通过IP5 PPH提出请求；KIPO官网将IP5 PPH列为“2014年1月6日起”的项目"
    "（未写明截止日期）。请求前请在CNIPA或KIPO网站确认项目状态。"
)
CN_JP_TERM_ZH = (
    "两局于2011年5月先开展了只涉及限定数量申请的“预试点”。正式试点于2011年11月1日启动，原定为期一年，之后于2012年11月1日、"
    "2013年11月1日和2015年11月1日多次延长。2018年两局决定再延长五年，至2023年10月31日。据CNIPA公告（经代理机构转载），"
    "两局又决定从2023年11月1日起再延长五年，至2028年10月31日，请求的条件和程序继续适用已公布的《中日PPH请求指南》。"
    "试点名义上仍是“试点”，两局可在请求量过大等情况下终止或调整。提出请求前，请在CNIPA或JPO网站确认项目仍有效。"
)
CN_JP_TERM_EN = (
    'The two offices first ran a "pre-pilot" in May 2011 limited to a set number of applications. The pilot proper '
    "started on 1 November 2011 for one year and was then extended on 1 November 2012, 1 November 2013 and "
    "1 November 2015. In 2018 the offices extended it by five years to 31 October 2023. According to a CNIPA notice "
    "(as reported by a law firm), they then extended it by another five years from 1 November 2023 to 31 October 2028, "
    "with requests still governed by the published CNIPA–JPO PPH guideline. It is still formally a pilot, and the "
    "offices may end or change it, for example if request volumes become unmanageable. Before filing, check on the "
    "CNIPA or JPO website that the programme is still running."
)
TIMING_EN = (
    "CNIPA sets three timing conditions: 1. the Chinese application has been published at or before the time of the "
    "PPH request; 2. the application has entered substantive examination, or the PPH request is filed together with "
    "the request for substantive examination; 3. CNIPA has not yet begun examination, meaning no notice of any kind "
    "from the substantive examination department has been received when the request is filed. If the PPH request is "
    "filed together with the examination request, CNIPA only reviews it after the application enters substantive "
    "examination. For requests filed after entry into substantive examination, practitioners report a decision on "
    "the PPH request usually within about 20 days."
)
DOCUMENTS_ZH = (
    "据CNIPA指南及代理机构说明，通常需要提交：一、《参与专利审查高速路（PPH）项目请求表》；二、在先审查局针对对应申请发出的全部"
    "审查意见副本及其中文或英文译文；三、在先局认定可授权的全部权利要求副本及译文；四、在先局审查员引用的文献副本（代理机构指出，"
    "通常只需提交非专利文献，以现行指南为准）；五、权利要求对应表。PCT-PPH时，审查意见换成WO/ISA、WO/IPEA或IPER。"
    "某些文件若CNIPA能够通过电子系统获取，可能可以省略（未核实，以现行指南为准）。"
)


def cn_kr_term(**changes):
    values = {
        "doc_id": "pph-cn-kr",
        "section_id": "start-date-and-current-term",
        "title_zh": "中韩专利审查高速路（PPH）",
        "title_en": "China–Korea Patent Prosecution Highway (PPH)",
        "section_zh": "起止时间与当前期限",
        "section_en": "Start date and current term",
        "zh": CN_KR_TERM_ZH,
        "sources": ("https://www.kipo.go.kr/en/HtmlApp?c=100016", "https://www.jpo.go.jp/e/toppage/pph-portal/"),
        "path": "knowledge/pph/cn-kr-pph.md",
        "line": 23,
    }
    return passage(**{**values, **changes})


@pytest.fixture(scope="module")
def scorer():
    """The default lexical scorer with the project's jieba dictionary, built once for these tests."""
    built = LexicalSentenceScorer(PROJECT_ROOT / "bot" / "jieba")
    built.warm_up()
    return built


class FixedScorer:
    """A scorer that gives the sentences the scores it was made with (stands in for an embedding scorer)."""

    def __init__(self, scores):
        self.scores = scores

    def score(self, question, sentences, lang):
        assert len(sentences) == len(self.scores)
        return list(self.scores)


def body(answer_text: str, n: int = 1) -> str:
    """The quoted extract of passage n in a reply, without its citation mark."""
    part = answer_text.split("\n\n")[n - 1]
    assert part.endswith(f" [{n}]")
    return part[: -len(f" [{n}]")]


# ---- the reply and its citations ---------------------------------------------------------------------------


def test_chinese_answer_has_extract_numbered_citation_and_disclaimer():
    answer = compose([passage()], "zh")
    assert answer.answered
    assert answer.text.startswith("第一句。第二句。 [1]")
    assert "来源：\n[1] 中日PPH › 申请材料 — https://example.org/pph（审核于 2026-11-24）" in answer.text
    assert answer.text.endswith(messages.t("answers.disclaimer", "zh"))
    assert answer.citations[0]["doc_id"] == "pph-cn-jp" and answer.citations[0]["path"] == "knowledge/pph/cn-jp-pph.md"


def test_english_answer_uses_english_passage_and_titles():
    answer = compose([passage(), passage(section="fees", en="Fees text.")], "en")
    assert "First. Second. [1]" in answer.text and "Fees text. [2]" in answer.text
    assert "\n[2] China–Japan PPH › Documents to file — https://example.org/pph (reviewed 2026-11-24)" in answer.text
    assert [c["n"] for c in answer.citations] == [1, 2]


def test_nothing_past_the_gate_means_no_answer():
    answer = compose([passage(ok=False)], "en")
    assert not answer.answered and answer.text == messages.t("answers.no_answer", "en") and answer.citations == []


def test_citations_show_title_section_link_and_review_date_but_no_repository_path():
    zh = compose([cn_kr_term()], "zh", question="中韩PPH是哪年开始的？")
    en = compose([cn_kr_term(en=CN_JP_TERM_EN)], "en", question="When did it start?")
    assert (
        "[1] 中韩专利审查高速路（PPH） › 起止时间与当前期限 — https://www.kipo.go.kr/en/HtmlApp?c=100016（审核于 2026-11-24）"
        in zh.text
    )
    assert (
        "[1] China–Korea Patent Prosecution Highway (PPH) › Start date and current term — "
        "https://www.kipo.go.kr/en/HtmlApp?c=100016 (reviewed 2026-11-24)" in en.text
    )
    for answer, lang in ((zh, "zh"), (en, "en")):
        assert messages.t("answers.sources_heading", lang) + "\n[1] " in answer.text
        assert "knowledge/" not in answer.text and "cn-kr-pph.md" not in answer.text
        cited = answer.citations[0]
        assert cited["path"] == "knowledge/pph/cn-kr-pph.md" and cited["line"] == 23
        assert cited["url"] == cited["source"] == "https://www.kipo.go.kr/en/HtmlApp?c=100016" and cited["n"] == 1
        assert {"doc_id", "section_id", "title", "section", "last_reviewed"} <= cited.keys()


def test_the_first_source_the_staff_listed_is_the_link_shown():
    answer = compose([cn_kr_term()], "zh")
    assert "https://www.kipo.go.kr/en/HtmlApp?c=100016" in answer.text
    assert "https://www.jpo.go.jp/" not in answer.text


# ---- query-focused extracts --------------------------------------------------------------------------------


def test_the_asked_date_is_quoted_when_it_sits_late_in_the_english_section(scorer):
    p = passage(en=CN_JP_TERM_EN)
    assert "31 October 2028" not in body(compose([p], "en", words_en=40).text)  # the start does not reach it
    quoted = body(
        compose([p], "en", words_en=40, question="When does the China–Japan PPH pilot end?", scorer=scorer).text
    )
    assert "31 October 2028" in quoted


def test_the_asked_date_is_quoted_when_it_sits_late_in_the_chinese_section(scorer):
    p = passage(zh=CN_JP_TERM_ZH)
    assert "2028年10月31日" not in body(compose([p], "zh", chars_zh=100).text)
    quoted = body(compose([p], "zh", chars_zh=100, question="中日PPH什么时候到期？", scorer=scorer).text)
    assert "2028年10月31日" in quoted


def test_the_direct_answer_leads(scorer):
    zh = body(compose([cn_kr_term()], "zh", question="中韩PPH是哪年开始的？", scorer=scorer).text)
    assert zh.startswith("据KIPO当时发布的新闻稿，中韩PPH试点于2012年3月1日启动")
    en = body(
        compose([passage(en=TIMING_EN)], "en", question="How long does CNIPA take to decide?", scorer=scorer).text
    )
    assert en.startswith("For requests filed after entry into substantive examination") and "20 days" in en


def test_the_default_scorer_is_used_when_none_is_given():
    quoted = body(compose([passage(en=TIMING_EN)], "en", question="How long does CNIPA take to decide?").text)
    assert quoted.startswith("For requests filed after entry")


def test_an_injected_scorer_decides_what_is_kept():
    text = "Alpha one. Beta two. Gamma three."
    assert focused_extract(text, "en", 4, "anything", FixedScorer([0.1, 0.9, 0.2])) == "Beta two. Gamma three."
    assert focused_extract(text, "en", 4, "anything", FixedScorer([0.9, 0.1, 0.2])) == "Alpha one. … Gamma three."


def test_a_sentence_before_the_best_one_fills_the_budget_in_the_sections_order():
    # The rule a section opens with must not be lost to a later, shorter sentence sharing more words.
    text = "Rule sentence with the article number. Short matching remark. Unrelated tail here."
    quoted = focused_extract(text, "en", 9, "how does it work", FixedScorer([0.4, 0.9, 0.0]))
    assert quoted == "Rule sentence with the article number. Short matching remark. …"


def test_a_question_asking_for_one_fact_gets_that_sentence_first_then_its_context():
    text = "Context sentence one. The date is 1 March 2012. Another remark."
    quoted = focused_extract(text, "en", 9, "when did it start?", FixedScorer([0.5, 0.9, 0.0]))
    assert quoted == "The date is 1 March 2012. … Context sentence one. …"


def test_a_one_fact_follow_up_gets_that_fact_and_only_other_facts_of_its_kind():
    text = "Context sentence one. The date is 1 March 2012. Another remark. It was extended in 2014."
    scores = FixedScorer([0.5, 0.9, 0.4, 0.3])
    quoted = focused_extract(text, "en", 20, "when did it start? China–Korea PPH", scores, followup=True)
    assert quoted == "The date is 1 March 2012. … It was extended in 2014."


def test_a_fee_question_after_a_topic_gets_the_fee_not_the_topics_other_notes():
    # "要多少钱？" after a China–Korea PPH answer: the notes share the topic's words, only one is about the fee.
    text = "一、韩国要求先请求实审。二、KIPO的官方费用我们未能核实（未核实）。三、反方向另有条件。四、要有优先权关联。"
    quoted = focused_extract(text, "zh", 220, "要多少钱？ 中韩PPH", FixedScorer([0.9, 0.3, 0.8, 0.7]), followup=True)
    assert quoted == "二、KIPO的官方费用我们未能核实（未核实）。……"


def test_a_fact_sentence_that_leads_into_a_list_keeps_what_it_leads_into():
    text = (
        "Background first.\nThe official fee is 100 yuan for:\n- invention patents\n- utility models\nUnrelated tail."
    )
    units = split_sentences(text)
    scores = FixedScorer([0.2 if i != 1 else 0.9 for i in range(len(units))])
    quoted = focused_extract(text, "en", 30, "how much is the fee", scores, followup=True)
    assert quoted.startswith("The official fee is 100 yuan for:") and "invention patents" in quoted
    assert "Unrelated tail" not in quoted and "Background" not in quoted


def test_selected_sentences_keep_their_original_order_with_an_ellipsis_for_what_was_skipped():
    text = "S0 zero zero. S1 one one. S2 two two. S3 three three. S4 four four."
    quoted = focused_extract(text, "en", 9, "q", FixedScorer([0, 5, 1, 0, 3]))
    assert quoted == "S1 one one. S2 two two. … S4 four four."
    zh = focused_extract("甲甲。乙乙。丙丙。丁丁。戊戊。", "zh", 9, "问", FixedScorer([0, 5, 1, 0, 3]))
    assert zh == "乙乙。丙丙。……戊戊。"


def test_without_a_question_the_start_of_the_section_is_quoted(scorer):
    p = passage(en=CN_JP_TERM_EN)
    quoted = body(compose([p], "en", words_en=40, question="", scorer=scorer).text)
    assert quoted == extract(CN_JP_TERM_EN, "en", 40)
    assert quoted.startswith('The two offices first ran a "pre-pilot"') and quoted.endswith(" …")


def test_extract_cuts_at_a_sentence_end():
    text = "One two three. Four five six. Seven eight nine."
    assert extract(text, "en", 7) == "One two three. Four five six. …"
    assert extract("甲乙丙。丁戊己。庚辛壬。", "zh", 8) == "甲乙丙。丁戊己。……"
    assert extract("short", "en", 10) == "short"


def test_the_supporting_passage_is_shorter_and_also_focused(scorer):
    passages = [passage(en=TIMING_EN, section="timing"), passage(en=CN_JP_TERM_EN, section="term")]
    answer = compose(
        passages, "en", words_en=80, question="When does the pilot end, and how long does it take?", scorer=scorer
    )
    support = body(answer.text, 2)
    assert len(support.replace(" …", "").split()) <= 40 and "31 October 2028" in support
    assert [c["section_id"] for c in answer.citations] == ["timing", "term"]


# ---- sentences, list items, numbers ----------------------------------------------------------------------


def test_sentences_are_not_split_inside_numbers_abbreviations_or_dates():
    text = (
        "Fees rose 3.5% in the U.S. and the EU, e.g. for filings under Art. 11.27 of RCEP. "
        "See No. 5 of the list. The pilot began on 1 March 2012. 它于2012年3月1日启动。费用为3.5万元！"
    )
    assert split_sentences(text) == [
        "Fees rose 3.5% in the U.S. and the EU, e.g. for filings under Art. 11.27 of RCEP.",
        "See No. 5 of the list.",
        "The pilot began on 1 March 2012.",
        "它于2012年3月1日启动。",
        "费用为3.5万元！",
    ]


def test_an_english_series_of_clauses_is_one_sentence_but_a_new_sentence_after_a_semicolon_is_not():
    series = (
        "Call a lawyer at once, especially if the notice asks you to agree to destruction; the shipment is "
        "valuable; or the same brand is detained at several ports."
    )
    assert split_sentences(f"{series} Keep the notice.") == [series, "Keep the notice."]
    assert split_sentences("The office decides; The applicant answers.") == [
        "The office decides;",
        "The applicant answers.",
    ]
    assert split_sentences("一是核实权利；二是准备证据。") == ["一是核实权利；", "二是准备证据。"]


def test_list_items_are_units_kept_whole_or_dropped_whole(scorer):
    assert split_sentences(DOCUMENTS_ZH)[:5] == [
        "据CNIPA指南及代理机构说明，通常需要提交：一、《参与专利审查高速路（PPH）项目请求表》；",
        "二、在先审查局针对对应申请发出的全部审查意见副本及其中文或英文译文；",
        "三、在先局认定可授权的全部权利要求副本及译文；",
        "四、在先局审查员引用的文献副本（代理机构指出，通常只需提交非专利文献，以现行指南为准）；",
        "五、权利要求对应表。",
    ]
    assert split_sentences(TIMING_EN)[1] == (
        "2. the application has entered substantive examination, or the PPH request is filed together with the "
        "request for substantive examination;"
    )
    assert split_sentences("Steps:\n- File the request. Then wait.\n- Answer the office action.") == [
        "Steps:",
        "- File the request. Then wait.",
        "- Answer the office action.",
    ]
    items = split_sentences(DOCUMENTS_ZH)[1:5]
    for budget in (60, 90, 120):
        quoted = focused_extract(DOCUMENTS_ZH, "zh", budget, "需要提交哪些材料？", scorer)
        assert quoted.startswith("据CNIPA指南及代理机构说明，通常需要提交：一、")
        for item in items:
            head = item[:8]
            assert head not in quoted or item.rstrip("；。") in quoted  # an item is there whole or not at all


def test_a_number_or_date_is_never_split_when_a_long_sentence_is_cut():
    en = " ".join(["the pilot ran from 1 March 2012 to 31 October 2028 with 60 days to answer and 3.5% fees"] * 6)
    zh = "".join(["试点于2012年3月1日启动并延长至2028年10月31日答复期限为60天费用约3.5%"] * 8)
    for lang, text, budgets in (("en", f"Note {en}.", range(8, 40)), ("zh", f"注意{zh}。", range(30, 130, 7))):
        facts = (
            ["1 March 2012", "31 October 2028", "60 days", "3.5%"]
            if lang == "en"
            else ["2012年3月1日", "2028年10月31日", "60天", "3.5%"]
        )
        for budget in budgets:
            kept = focused_extract(text, lang, budget).removesuffix("……" if lang == "zh" else " …")
            assert len(kept) < len(text)
            for fact in facts:
                for m in re.finditer(re.escape(fact), text):
                    assert not m.start() < len(kept) < m.end(), (budget, kept[-30:])


def test_a_long_single_sentence_is_cut_at_a_clause_end():
    clauses = [f"第{i}项条件须在提出请求前满足" for i in range(1, 30)]
    text = "，".join(clauses) + "。"
    quoted = focused_extract(text, "zh", 100)
    assert quoted.endswith("……") and len(quoted) <= 102
    kept = quoted.removesuffix("……")
    assert text.startswith(kept) and text[len(kept)] == "，"
    short = focused_extract(text[:140], "zh", 100)  # within 1.5× the budget: quoted whole
    assert short == text[:140]


def test_the_unverified_marker_stays_with_its_sentence(scorer):
    quoted = focused_extract(DOCUMENTS_ZH, "zh", 60, "能通过电子系统获取的可以省略吗？", scorer)
    assert quoted.startswith("某些文件若CNIPA能够通过电子系统获取") and "（未核实，以现行指南为准）" in quoted
    after = "官方费用尚未公布。（未核实）另见指南。"
    assert split_sentences(after) == ["官方费用尚未公布。（未核实）", "另见指南。"]
    long = "The fee is " + ", ".join(f"item {i} costs more" for i in range(40)) + " (unverified)."
    cut = focused_extract(long, "en", 20)
    assert "(unverified)" in cut and cut.endswith(" …")


def test_a_part_of_a_sentence_marked_unverified_is_quoted_with_the_mark(scorer):
    zh = (
        "补贴比例为60%。以下细节只见于转载（未核实）：国内险上限6万元；不含青岛市的企业才能申请；向市局申报。另见指南。"
    )
    quoted = focused_extract(zh, "zh", 20, "青岛的企业能申请吗？", scorer)
    assert "不含青岛市的企业才能申请（未核实）" in quoted and "补贴比例" not in quoted
    plain = focused_extract("补贴比例为60%；上限6万元。向市局申报；另见指南。", "zh", 8, "上限是多少？", scorer)
    assert "未核实" not in plain  # no mark in the sentence, none added
    # (English does not need it: a series of clauses joined by ";" is one unit, quoted with its mark.)


def test_an_extract_that_leaves_out_an_unverified_mark_says_the_section_has_one(scorer):
    en = "The fee is free. The timing is 3 months. A detail of the form could not be checked (unverified)."
    quoted = body(compose([passage(en=en)], "en", words_en=6, question="is there a fee?", scorer=scorer).text)
    assert quoted.startswith("The fee is free.") and quoted.endswith(messages.t("answers.unverified_elsewhere", "en"))
    zh = "不收官费。审查也较快。表格的某个细节未能核实（未核实）。"
    quoted = body(compose([passage(zh=zh)], "zh", chars_zh=6, question="要交官费吗？", scorer=scorer).text)
    assert quoted.startswith("不收官费。") and quoted.endswith(messages.t("answers.unverified_elsewhere", "zh"))
    whole = body(compose([passage(en=en)], "en", words_en=90, question="is there a fee?", scorer=scorer).text)
    assert whole.count("unverified") == 1


def test_questions_name_the_kind_of_fact_they_ask_for():
    assert asked_kinds("中韩PPH是哪年开始的？") == {"date", "start"}
    assert asked_kinds("When does the China–Japan PPH pilot end?") == {"date", "end"}
    assert asked_kinds("PPH审查要多久，费用多少？") == {"duration", "amount"}
    assert asked_kinds("How long does it take?") == {"duration"}
    assert asked_kinds("What documents do I need to file?") == {"documents"}
    assert asked_kinds("中日PPH需要提交哪些材料？") == {"documents"}
    assert asked_kinds("什么是PPH？") == set()


def test_a_huge_section_and_question_return_promptly(scorer):
    section = ("据代理机构介绍，请求通常在提出后约20天内审核完毕，费用为3.5万元。" * 400)[:20_000]
    question = ("中日PPH请求什么时候截止，需要多久，费用多少？" * 1000)[:20_000]
    hostile = {
        "en": ["1. " * 7000, "a. " * 7000, "e.g. " * 4000, "(1) " * 5000, "9 " * 10_000, "- x\n" * 5000],
        "zh": [
            "。" * 20_000,
            "一、" * 10_000,
            "9" * 20_000,
            "（" * 20_000,
            "." * 20_000,
            "a" * 20_000,
            "2012年" * 4000,
        ],
    }
    started = time.perf_counter()
    answer = compose([passage(zh=section)], "zh", question=question, scorer=scorer)
    timings = {"section+question": time.perf_counter() - started}
    assert answer.answered and len(body(answer.text)) <= 220 + 2
    for lang, texts in hostile.items():
        for text in texts:
            started = time.perf_counter()
            quoted = focused_extract(text, lang, 90, text, scorer)
            timings[repr(text[:6])] = time.perf_counter() - started
            assert 0 < len(quoted) < len(text)
    print("\n" + ", ".join(f"{name}: {seconds * 1000:.0f} ms" for name, seconds in timings.items()))


def test_a_price_or_how_long_question_needs_a_passage_that_holds_such_a_fact():
    from actions.answers.reply import holds_asked_fact

    assert not holds_asked_fact("日本代理所报价PPH代理费30万日元，正常吗", "CNIPA平均约2.2个月发出第一次审查意见。")
    assert holds_asked_fact("PPH要交多少钱", "CNIPA对PPH请求不收取费用。")
    # A passage that says it could not verify the fee answers a price question honestly.
    assert holds_asked_fact(
        "how much does it cost?", "Follow KIPO's guideline (we could not verify official fees; unverified)."
    )
    assert holds_asked_fact("要多少钱？", "译文要求以KIPO现行指南为准（官方费用我们未能从官方来源核实）。")
    assert not holds_asked_fact(
        "要多少钱？", "官费另行说明。审查期限未核实。"
    )  # the fee and "unverified" in different sentences
    # …but only for the market asked about: KIPO's unverified fee does not answer a question about the JPO's.
    kipo = "Follow KIPO's guideline (we could not verify official fees; unverified)."
    assert not holds_asked_fact("what's the JPO official fee for a PPH request?", kipo)
    assert holds_asked_fact("what's the KIPO official fee for a PPH request?", kipo)
    assert holds_asked_fact("how much is the fee?", "The fee is USD 150.")
    assert not holds_asked_fact("how long does it take?", "The office examines the request.")
    assert holds_asked_fact("how long does it take?", "About 2.5 months.")
    assert holds_asked_fact("What documents do we need?", "A request form.")  # other kinds pass
    # An agent's or lawyer's fee is not answered by the office's fee, nor by "no official fee".
    no_office_fee = "据一家日本专利事务所介绍，在日本提出加快审查请求不产生官费。"
    assert not holds_asked_fact("日本代理所报价PPH代理费30万日元，这个价格正常吗", no_office_fee)
    assert not holds_asked_fact("337调查请美国律师大概要花多少钱", "USITC不收取立案费用。")
    assert not holds_asked_fact("How much does it cost to hire a lawyer for a Schedule A case?", "The fee is USD 150.")
    assert holds_asked_fact(
        "What do lawyers charge for a 337 case?", "Law firms often quote USD 2 million for a 337 case."
    )
    # A rate is answered by a share, not by a passage on the same procedure.
    kipo_request = "A PPH request at KIPO needs the CNIPA office action."
    assert not holds_asked_fact("What's the grant rate for PPH cases at KIPO?", kipo_request)
    assert holds_asked_fact("What's the grant rate for PPH cases?", "About 85% of PPH cases are granted.")
    assert not holds_asked_fact("中国PPH的授权率是多少", "构成PPH请求的文件包括请求表。")
    assert holds_asked_fact("中国PPH的授权率是多少", "据统计，授权率约为百分之八十。")


def test_when_it_started_is_answered_by_the_first_start_not_a_later_extension():
    zh = (
        "两局于2011年5月先开展了预试点。正式试点于2011年11月1日启动，原定为期一年，之后多次延长。"
        "两局又决定从2023年11月1日起再延长五年，至2028年10月31日，继续适用《中日PPH请求指南》。"
        "试点名义上仍是试点，两局可以调整。提出请求前请确认项目仍有效，并准备好全部材料。"
    )
    answer = compose([passage(zh=zh)], "zh", chars_zh=60, question="中日PPH是哪年开始的？")
    assert answer.text.startswith("正式试点于2011年11月1日启动")


def test_a_which_countries_question_leads_with_the_sentence_that_lists_them():
    text = (
        "The 15 RCEP parties are the ten ASEAN members – Brunei, Cambodia, Indonesia, Laos, Malaysia, Myanmar, "
        "the Philippines, Singapore, Thailand and Viet Nam – and China, Japan, Korea, Australia and New Zealand. "
        "RCEP is the first free trade agreement that China, Japan and Korea have joined together."
    )
    quoted = focused_extract(text, "en", 40, "which countries are in RCEP", FixedScorer([0.3, 1.0]))
    assert quoted.startswith("The 15 RCEP parties") and "Brunei" in quoted


def test_a_yes_no_question_leads_with_the_sections_yes_or_no():
    text = "不是。CNIPA不在全球PPH成员名单中。例如，澳大利亚是全球PPH成员，但未找到与中国的PPH来源。"
    quoted = focused_extract(text, "zh", 30, "中国是全球PPH的成员吗？", FixedScorer([0.0, 0.4, 1.0]))
    assert quoted.startswith("不是。")
    en = "No, CNIPA is not a Global PPH member. Australia is a member, for example."
    assert focused_extract(en, "en", 9, "Is CNIPA part of the Global PPH?", FixedScorer([0.2, 1])).startswith("No,")
    # not a yes/no question: the best sentence leads as before
    assert not focused_extract(en, "en", 9, "what about Australia", FixedScorer([0.2, 1])).startswith("No,")


def test_a_question_about_how_long_a_proceeding_takes_needs_a_duration_of_that_proceeding():
    from actions.answers.reply import holds_asked_fact

    priority = "利用《巴黎公约》优先权（外观设计通常为6个月）在中国首次申请后及时向外申请。"
    assert not holds_asked_fact("在日本申请外观设计多久能授权", priority)
    assert holds_asked_fact("在日本申请外观设计多久能授权", priority + "JPO外观设计审查平均约6个月。")
    assert holds_asked_fact("要多久？", priority)  # no proceeding named: any duration may answer
    assert not holds_asked_fact(
        "how long does examination take in Japan?", "File within the 6-month priority period. Examination is quick."
    )  # the duration and the proceeding must be said in one sentence
    assert holds_asked_fact("how long does examination take in Japan?", "Examination takes about 6 months.")


def test_a_sentence_with_a_month_name_holds_a_date_and_the_verb_may_does_not():
    from actions.answers.reply import _HOLDS

    assert _HOLDS["date"].search("The pilot started in Sept.")
    assert _HOLDS["date"].search("The pilot proper started in May.")
    assert _HOLDS["date"].search("Filed on 3 December.")
    assert not _HOLDS["date"].search("Offices may end or change it.")


def test_free_asks_for_an_amount_but_a_free_trade_agreement_does_not():
    assert "amount" in asked_kinds("PPH免费吗") and "amount" in asked_kinds("is PPH free?")
    assert "amount" not in asked_kinds("is there a free trade agreement between China and Korea?")
    assert "amount" not in asked_kinds("企业遇到海外知识产权纠纷，国家有没有免费的援助？")  # free help, not a price
    assert holds_asked_fact(
        "is there a free trade agreement between China and Korea?", "RCEP is a free trade agreement."
    )
    assert holds_asked_fact("is PPH free?", "The USPTO charges no official fee for a PPH request.")


class CountingTokenizer:
    """Splits on spaces and counts the texts it was asked to split."""

    def __init__(self):
        self.seen: list[str] = []

    def tokens(self, text):
        self.seen.append(text)
        return text.lower().split()


def test_the_scorer_segments_each_sentence_once_and_scores_the_same_after_a_trip_to_a_worker():
    import pickle

    tokenizer = CountingTokenizer()
    scorer = LexicalSentenceScorer(tokenizer=tokenizer)  # type: ignore[arg-type]
    sentences = ["the fee is KRW 200,000", "documents to file", "the start date"]
    first = scorer.score("what is the fee", sentences, "en")
    second = scorer.score("which documents", sentences, "en")
    assert sorted(tokenizer.seen) == sorted(["what is the fee", "which documents", *sentences])
    assert first[0] > first[1] and second[1] > second[0]
    clone = pickle.loads(pickle.dumps(scorer))
    assert clone.score("what is the fee", sentences, "en") == first


def test_the_english_budget_carries_as_much_as_the_chinese_one_in_the_knowledge_files():
    """The extract budgets are characters (zh) and words (en): they stay within 10% of the ratio the
    knowledge files' own bilingual sections show, so neither language's answers are cut shorter."""
    import re
    import statistics

    from actions.knowledge import load_knowledge
    from actions.settings import Settings

    documents, _ = load_knowledge(PROJECT_ROOT / "knowledge", PROJECT_ROOT)
    ratios = [
        len(re.sub(r"\s", "", s.text_zh)) / len(s.text_en.split())
        for d in documents
        for s in d.sections
        if s.text_zh and s.text_en
    ]
    assert len(ratios) > 100
    settings = Settings()
    parity = settings.answer_chars_zh / statistics.median(ratios)
    assert abs(settings.answer_words_en - parity) <= 0.1 * parity, (settings.answer_words_en, round(parity))
