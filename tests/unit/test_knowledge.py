import os
from datetime import date
from pathlib import Path

import pytest

from actions.knowledge import ATTRIBUTION, knowledge_signature, load_document, load_knowledge, section_id, to_chunks

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BROKEN = FIXTURES / "broken"
TODAY = date(2026, 11, 24)


def problems_of(name: str):
    doc, problems = load_document(BROKEN / name, FIXTURES, today=TODAY)
    return doc, [str(p) for p in problems]


def test_fixture_corpus_loads_with_sections_and_metadata():
    docs, problems = load_knowledge(FIXTURES / "knowledge", FIXTURES, today=TODAY)
    assert problems == []
    by_id = {d.meta.id: d for d in docs}
    pph = by_id["fx-pph-basics"]
    assert pph.path == "knowledge/pph/pph-basics.md"
    assert [s.id for s in pph.sections] == ["what-the-pph-is", "documents-to-file"]
    files = pph.sections[1]
    assert files.title_zh == "申请材料" and files.title_en == "Documents to file"
    assert "权利要求对应表" in files.text_zh and "claim correspondence table" in files.text_en
    assert files.line == 32  # the '## 申请材料 | Documents to file' line


def test_chunks_carry_section_metadata_in_both_languages():
    docs, _ = load_knowledge(FIXTURES / "knowledge", FIXTURES, today=TODAY)
    chunks = to_chunks(docs)
    keys = {(c.metadata["doc_id"], c.metadata["section_id"], c.metadata["lang"]) for c in chunks}
    assert ("fx-pph-basics", "documents-to-file", "zh") in keys
    assert ("fx-pph-basics", "documents-to-file", "en") in keys
    assert all(c.metadata["path"].startswith("knowledge/") for c in chunks)


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Documents to file", "documents-to-file"),
        ("Bad-faith trademark applications (Article 11.27)", "bad-faith-trademark-applications-article-1127"),
        ("What the China–Japan PPH is", "what-the-chinajapan-pph-is"),
    ],
)
def test_section_id(title, expected):
    assert section_id(title) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("no-front-matter.md", "broken/no-front-matter.md:1: front matter: the file must start with '---'"),
        ("bad-yaml.md", "broken/bad-yaml.md:4: front matter: invalid YAML"),
        ("missing-source.md", "broken/missing-source.md:2: sources: missing"),
        (
            "missing-language.md",
            "broken/missing-language.md:13: passage.en: section '只有中文 | Chinese only' has no '### en' passage",
        ),
        ("future-date.md", "broken/future-date.md:8: last_reviewed: 2999-01-01 is in the future"),
        ("bad-heading.md", "broken/bad-heading.md:13: section: heading must be"),
    ],
)
def test_each_error_names_file_line_and_field(name, expected):
    doc, problems = problems_of(name)
    assert doc is None
    assert any(p.startswith(expected) for p in problems), problems


def test_old_review_date_is_a_warning_not_an_error():
    doc, problems = problems_of("old-date.md")
    assert doc is not None
    assert problems == ["broken/old-date.md:8: last_reviewed: warning: older than 365 days: review it"]


def test_duplicate_ids_are_reported_and_the_second_left_out():
    docs, problems = load_knowledge(BROKEN / "dup", FIXTURES, today=TODAY)
    assert [d.path for d in docs] == ["broken/dup/a.md"]
    assert [str(p) for p in problems] == ["broken/dup/b.md:2: id: duplicate id 'same-id', also in broken/dup/a.md"]


def test_shipped_knowledge_has_no_errors():
    root = Path(__file__).resolve().parents[2]
    docs, problems = load_knowledge(root / "knowledge", root)
    assert [str(p) for p in problems if p.severity == "error"] == []
    assert {d.meta.tags.topics[0] for d in docs} == {"pph", "rcep", "dispute"}


def test_sections_front_matter_gives_asks_and_pph_direction():
    docs, problems = load_knowledge(FIXTURES / "knowledge", FIXTURES, today=TODAY)
    assert problems == []
    doc = next(d for d in docs if d.meta.id == "fx-pph-directions")
    korea, china = doc.sections
    assert korea.pph == ("CN", "KR") and china.pph == ("KR", "CN")
    assert korea.sources == () and china.sources == ("https://www.cnipa.gov.cn/",)
    assert china.asks("zh") == ("韩国已经授权了，中国的申请能加快吗？",)
    asks = [c for c in to_chunks([doc]) if c.metadata.get("kind") == "ask"]
    assert {(c.metadata["section_id"], c.metadata["lang"]) for c in asks} == {
        ("using-a-chinese-result-in-korea", "zh"),
        ("using-a-chinese-result-in-korea", "en"),
        ("using-a-korean-result-in-china", "zh"),
        ("using-a-korean-result-in-china", "en"),
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "unknown-section.md",
            "broken/sections/unknown-section.md:12: sections.no-such-section: no section has this id; the ids are: overview",
        ),
        (
            "unlisted-source.md",
            "broken/sections/unlisted-source.md:14: sections.overview.sources: https://www.jpo.go.jp/ is not among the document's sources",
        ),
        (
            "bad-direction.md",
            "broken/sections/bad-direction.md:13: sections.overview.pph.oee: String should match pattern",
        ),
    ],
)
def test_section_front_matter_errors_name_file_line_and_field(name, expected):
    doc, problems = load_document(BROKEN / "sections" / name, FIXTURES, today=TODAY)
    assert doc is None
    assert any(str(p).startswith(expected) for p in problems), problems


def test_a_source_not_said_to_be_official_or_secondary_warns_at_its_line():
    doc, problems = load_document(BROKEN / "sources" / "bare-url.md", FIXTURES, today=TODAY)
    assert doc is not None  # a warning: the document is still used
    assert doc.meta.urls == ["https://www.kipo.go.kr/en/", "https://www.example-lawfirm.com/pph-in-korea"]
    assert [str(p) for p in problems] == [
        "broken/sources/bare-url.md:8: sources.1: warning: say whether this source is official or secondary"
    ]


def test_an_official_source_whose_note_calls_it_a_copy_warns_at_its_line():
    doc, problems = load_document(BROKEN / "sources" / "official-copy.md", FIXTURES, today=TODAY)
    assert doc is not None
    assert [str(p) for p in problems] == [
        "broken/sources/official-copy.md:8: sources.1: warning: its note calls it a copy: a copy of an official "
        "text is secondary (cite the publisher's own page as official)"
    ]


def test_a_document_without_an_official_source_warns_unless_every_passage_names_whose_description_it_is():
    doc, problems = load_document(BROKEN / "sources" / "no-official.md", FIXTURES, today=TODAY)
    assert doc is not None
    assert [str(p) for p in problems] == [
        "broken/sources/no-official.md:6: sources: warning: no official source: add one, or say in the passages "
        "that they rest on practitioners' descriptions"
    ]
    doc, problems = load_document(BROKEN / "sources" / "attributed.md", FIXTURES, today=TODAY)
    assert doc is not None and problems == []  # 据……介绍 / 据……报道, "according to" / "as reported by" everywhere


def test_annotated_sources_are_clean_and_keep_their_urls_in_order():
    doc, problems = load_document(BROKEN / "sources" / "annotated.md", FIXTURES, today=TODAY)
    assert problems == []
    assert [(s.kind, s.note) for s in doc.meta.sources] == [
        ("official", None),
        ("secondary", "copy of the official text"),
        ("secondary", None),
        ("secondary", "the long form"),
    ]
    assert doc.meta.urls == [
        "https://www.kipo.go.kr/en/",
        "https://github.com/example/laws/blob/main/patent-act.md",
        "https://www.example-lawfirm.com/pph-in-korea",
        "https://www.example.org/long-form?x=1",
    ]
    assert [str(s) for s in doc.meta.sources] == doc.meta.urls  # a source prints as its URL
    assert (doc.meta.count_sources("official"), doc.meta.count_sources("secondary")) == (1, 3)


def test_a_misspelt_source_kind_is_an_error_at_its_line():
    doc, problems = load_document(BROKEN / "sources" / "bad-kind.md", FIXTURES, today=TODAY)
    assert doc is None
    assert [str(p) for p in problems] == [
        "broken/sources/bad-kind.md:8: sources.1: write `- official: URL` or `- secondary: URL` (a `note:` may follow)"
    ]


@pytest.mark.parametrize(
    ("lang", "text", "attributed"),
    [
        ("zh", "据律师事务所介绍，审查约需三个月。", True),
        ("zh", "根据新闻报道，该计划已延长。", True),
        ("zh", "据韩国特许厅新闻稿称，异议期缩短。", True),
        ("zh", "请保留证据，注明商品名称。", False),  # 证据 and 名称 are no attribution
        ("zh", "审查约需三个月。", False),
        ("en", "According to US law firms, a seller has about 3 weeks.", True),
        ("en", "As reported by a news site, the pilot was extended.", True),
        ("en", "The pilot was extended.", False),
    ],
)
def test_attributions_that_say_a_passage_rests_on_a_secondary_source(lang, text, attributed):
    assert bool(ATTRIBUTION[lang].search(text)) is attributed


def test_a_section_without_its_own_sources_is_cited_by_the_documents_first_official_source(tmp_path):
    from actions.retrieval.build import _catalog

    text = (BROKEN / "sources" / "annotated.md").read_text(encoding="utf-8")
    first_secondary = text.replace("  - official: https://www.kipo.go.kr/en/\n", "", 1).replace(
        "last_reviewed:", "  - official: https://www.kipo.go.kr/en/\nlast_reviewed:", 1
    )
    (tmp_path / "doc.md").write_text(first_secondary, encoding="utf-8")
    doc, problems = load_document(tmp_path / "doc.md", tmp_path, today=TODAY)
    assert problems == [] and doc.meta.urls[-1] == "https://www.kipo.go.kr/en/"  # listed last
    assert doc.meta.cited_urls[:2] == [
        "https://www.kipo.go.kr/en/",
        "https://github.com/example/laws/blob/main/patent-act.md",
    ]  # the official source first, then the secondary ones in the order listed
    assert _catalog([doc])["fx-annotated"]["sources"][0] == doc.meta.cited_urls[0]


def test_the_knowledge_signature_changes_when_a_document_is_added_edited_or_removed(tmp_path):
    assert knowledge_signature(tmp_path / "missing") == ()
    (tmp_path / "pph").mkdir()
    doc = tmp_path / "pph" / "a.md"
    doc.write_text("one", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a document", encoding="utf-8")
    (tmp_path / "folder.md").mkdir()  # a folder, not a document
    first = knowledge_signature(tmp_path)
    assert [Path(p).name for p, _, _ in first] == ["a.md"]
    assert knowledge_signature(tmp_path) == first

    stat = doc.stat()
    os.utime(doc, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert knowledge_signature(tmp_path) != first
    (tmp_path / "b.md").write_text("two", encoding="utf-8")
    assert len(knowledge_signature(tmp_path)) == 2
    doc.unlink()
    assert [Path(p).name for p, _, _ in knowledge_signature(tmp_path)] == ["b.md"]


def test_the_knowledge_signature_can_watch_other_files_of_a_folder(tmp_path):
    (tmp_path / "alert.yml").write_text("id: a", encoding="utf-8")
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "other.yml").write_text("id: b", encoding="utf-8")
    assert [Path(p).name for p, _, _ in knowledge_signature(tmp_path, "*.yml")] == ["alert.yml"]
    assert knowledge_signature(tmp_path) == ()
