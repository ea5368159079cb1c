from datetime import date
from pathlib import Path

import pytest

from actions.knowledge import load_document, load_knowledge, section_id, to_chunks

FIXTURES = Path(__file__).parent / "fixtures"
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
    root = Path(__file__).parent.parent
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
