"""The conversation-test format: valid files load, every mistake is reported as file:line, and the
project's own test files are valid and cover the domain."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.toolkit.answers import load_answer_set
from eval.toolkit.spec import Vocabulary, load_conversations, load_vocabulary, select

VOCAB = Vocabulary(
    intents=frozenset({"greet", "ask_question", "affirm", "nlu_fallback"}),
    slots=frozenset({"language", "case_id"}),
    actions=frozenset({"utter_greet", "action_answer_question", "action_listen"}),
    documents=frozenset({"pph-cn-jp", "pph-cn-jp#overview"}),
    paths=frozenset({"knowledge/pph/cn-jp-pph.md"}),
)


def write(tmp_path: Path, text: str, name: str = "t.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str):
    return load_conversations([write(tmp_path, text)], VOCAB, root=tmp_path)


def test_a_valid_file_loads_with_lines_and_defaults(tmp_path):
    convs, errors = load(
        tmp_path,
        """\
- name: zh-hello
  tags: smoke
  turns:
    - user: 你好
      expect:
        intent: greet
        contains: 您好
    - press: 开案件
      expect: {case_created: true, cites: [pph-cn-jp, knowledge/pph/]}
""",
    )
    assert errors == []
    (conv,) = convs
    assert conv.where == "t.yml:1" and conv.tags == ["smoke"]
    first, second = conv.turns
    assert first.line == 4 and first.expect.contains == ["您好"] and first.expect.intent == ["greet"]
    assert first.expect.line("contains", 0) == 7
    assert second.press == "开案件" and second.expect.case_created is not None and second.expect.case_created.created


def test_yes_and_numbers_stay_text(tmp_path):
    convs, errors = load(tmp_path, "- name: a\n  turns:\n    - user: yes\n    - user: 88\n")
    assert errors == []
    assert [t.user for t in convs[0].turns] == ["yes", "88"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "- name: a\n  turns:\n    - user: hi\n      expect:\n        contians: hello\n",
            "t.yml:5: a: turns.0.expect.contians: unknown key 'contians' (did you mean 'contains'?)",
        ),
        (
            "- name: a\n  turns:\n    - user: hi\n      expect:\n        language: fr\n",
            "t.yml:5: a: turns.0.expect.language: Input should be 'zh' or 'en'",
        ),
        ("- name: Bad Name\n  turns:\n    - user: hi\n", "t.yml:1: Bad Name: name: String should match pattern"),
        ("- name: a\n  turns:\n    - user: hi\n      press: x\n", "t.yml:3: a: turns.0: a turn needs exactly one of"),
        ("- name: a\n  turns: []\n", "t.yml:2: a: turns: List should have at least 1 item"),
        (
            "- name: a\n  turns:\n    - user: hi\n      expect: {contains: [Sources:, x]}\n",
            'put a text containing ": "',
        ),
        (
            "- name: a\n  turns:\n    - user: hi\n      expect: {intent: greeet}\n",
            "t.yml:4: a: intent: no intent 'greeet' in the domain (did you mean 'greet'?)",
        ),
        ("- name: a\n  turns:\n    - user: hi\n      expect: {slots: {languag: zh}}\n", "no slot 'languag'"),
        ("- name: a\n  turns:\n    - user: hi\n      expect: {actions: utter_gret}\n", "no action 'utter_gret'"),
        (
            "- name: a\n  turns:\n    - user: hi\n      expect: {cites: pph-cn-jpp}\n",
            "'pph-cn-jpp' is no knowledge document",
        ),
        (
            "- name: a\n  turns:\n    - user: hi\n      expect: {not_cites: pph-cn-jpp}\n",
            "t.yml:4: a: not_cites: 'pph-cn-jpp' is no knowledge document",
        ),
        ("- name: a\n  turns:\n    - press: ok\n", "t.yml:3: a: the first turn cannot press a button"),
        ("- name: a\n  turns:\n    - user: hi\n  - oops\n", "t.yml:4: YAML syntax"),
        ("name: a\n", "t.yml:1: a conversation file is a YAML list"),
        ("- name: a\n  turns:\n    - user: hi\n      expect: {contains: ''}\n", "an empty string matches everything"),
    ],
)
def test_mistakes_are_reported_with_file_and_line(tmp_path, text, expected):
    convs, errors = load(tmp_path, text)
    assert errors, "the mistake was not reported"
    assert any(expected in str(e) for e in errors), [str(e) for e in errors]


def test_duplicate_names_are_reported_where_the_second_one_is(tmp_path):
    a = write(tmp_path, "- name: same\n  turns:\n    - user: hi\n", "a.yml")
    b = write(tmp_path, "\n- name: same\n  turns:\n    - user: hi\n", "b.yml")
    convs, errors = load_conversations([a, b], VOCAB, root=tmp_path)
    assert len(convs) == 1
    assert [str(e) for e in errors] == ["b.yml:2: same: duplicate name, also at a.yml:1"]


def test_select_by_tag_and_name(tmp_path):
    convs, _ = load(
        tmp_path,
        "- {name: zh-a, tags: [smoke], turns: [{user: hi}]}\n- {name: en-b, tags: [case], turns: [{user: hi}]}\n",
    )
    assert [c.name for c in select(convs, tags=["smoke"])] == ["zh-a"]
    assert [c.name for c in select(convs, names=["en-*"])] == ["en-b"]
    assert len(select(convs)) == 2


def test_the_projects_test_files_are_valid_and_cover_every_intent_in_both_languages():
    vocab = load_vocabulary()
    convs, errors = load_conversations(vocab=vocab)
    items, answer_errors = load_answer_set(vocab=vocab)
    assert not errors and not answer_errors, "\n".join(str(e) for e in [*errors, *answer_errors])
    assert len(convs) >= 40
    covered = {intent for c in convs for t in c.turns for intent in t.expect.intent}
    missing = sorted(vocab.intents - covered - {"nlu_fallback"})
    assert not missing, f"intents no conversation expects: {missing}"
    for lang in ("zh", "en"):
        assert sum(lang in c.tags for c in convs) >= 15
        assert sum(i.lang == lang for i in items) >= 30
    assert select(convs, tags=["smoke"]), "make test runs the smoke-tagged conversations"
