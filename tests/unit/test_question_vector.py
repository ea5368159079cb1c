"""actions/question_vector.py: the NLU's embedding of a message, as it travels in the parse data."""

from __future__ import annotations

import math

import pytest

from actions.question_vector import MODEL, decode, encode


def test_a_vector_comes_back_as_it_was_sent():
    vector = [0.125, -0.5, 0.0, 1.0] * 96
    sent = encode(vector)
    assert sent["model"] == MODEL and len(sent["vector"]) == 2048
    assert decode(sent) == vector


@pytest.mark.parametrize(
    "value",
    [
        None,
        "AAAA",
        {"model": "other/model", "vector": encode([1.0])["vector"]},
        {"model": MODEL, "vector": "not base64!"},
        {"model": MODEL, "vector": "AAA="},  # 2 bytes: not a float32
        {"model": MODEL, "vector": ""},
        {"model": MODEL, "vector": 42},
        {"model": MODEL, "vector": encode([math.nan, 1.0])["vector"]},
        {"model": MODEL, "vector": encode([0.0] * 5000)["vector"]},
    ],
)
def test_anything_else_gives_none_and_the_action_embeds_the_question_itself(value):
    assert decode(value) is None


def test_a_stored_message_keeps_no_vector():
    from actions.question_vector import PARSE_KEY, drop_from

    parse = {"text": "PPH?", PARSE_KEY: encode([1.0])}
    assert drop_from(parse) is True and parse == {"text": "PPH?"}
    assert drop_from(parse) is False and drop_from(None) is False
