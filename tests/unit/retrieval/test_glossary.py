from pathlib import Path

from actions.retrieval.glossary import Glossary, TermGroup, load_glossary

ROOT = Path(__file__).resolve().parents[3]


def glossary() -> Glossary:
    return Glossary(
        (
            TermGroup(id="warning-letter", zh=["警告函", "律师函"], en=["warning letter", "cease and desist"]),
            TermGroup(id="customs", zh=["海关扣押", "扣货"], en=["customs detention", "seized"]),
        )
    )


def test_a_question_is_expanded_with_the_other_words_of_its_concept():
    assert glossary().expansion("收到律师函怎么办", "zh") == ["警告函"]
    assert glossary().expansion("We got a Cease-and-Desist?", "en") == []  # dash differs: no match
    assert glossary().expansion("We got a cease and desist letter", "en") == ["warning letter"]


def test_english_terms_match_whole_words_only():
    assert glossary().concepts("the goods were unseized") == []
    assert glossary().concepts("goods seized in Rotterdam, then a warning letter") == ["customs", "warning-letter"]


def test_a_very_long_question_is_examined_only_up_to_its_bound():
    assert glossary().expansion("啊" * 20000 + "律师函", "zh") == []


def test_shipped_glossary_is_valid():
    glossary, problems = load_glossary(ROOT / "knowledge", ROOT)
    assert [str(p) for p in problems] == []


def test_invalid_glossary_reports_file_line_and_field(tmp_path):
    (tmp_path / "glossary.yml").write_text(
        "- id: a\n  zh: [警告函]\n  en: [warning letter]\n- id: b\n  zh: [警告函]\n  en: []\n", encoding="utf-8"
    )
    result, problems = load_glossary(tmp_path, tmp_path)
    assert result.groups == ()
    assert [str(p) for p in problems] == [
        "glossary.yml:6: [1].en: List should have at least 1 item after validation, not 0"
    ]
