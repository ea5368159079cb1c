"""The hostile-input probe's generator (eval/fuzz.py): the same inputs for the same seed, every kind of
input on both channels, and enough well-formed messages to exercise the NLU. No stack is started."""

from __future__ import annotations

import json

from eval.fuzz import (
    CHANNELS,
    DEADLINE_260,
    HUGE_LENGTHS,
    MESSAGE_CATEGORIES,
    REST_KINDS,
    SOCKET_KINDS,
    generate,
)


def test_the_same_seed_gives_the_same_inputs_and_another_seed_others():
    assert generate(400, seed=3) == generate(400, seed=3)
    assert generate(400, seed=3) != generate(400, seed=4)


def test_it_gives_exactly_n_inputs():
    assert len(generate(1, seed=1)) == 1
    assert len(generate(777, seed=1)) == 777


def test_every_category_and_kind_appears_on_its_channel():
    probes = generate(400, seed=12)
    for channel in CHANNELS:
        well_formed = {p.category for p in probes if p.channel == channel and p.well_formed}
        assert well_formed == set(MESSAGE_CATEGORIES), channel
    assert {p.kind for p in probes if p.channel == "rest"} == set(REST_KINDS)
    assert {p.kind for p in probes if p.channel == "socketio"} == set(SOCKET_KINDS)


def test_the_hostile_texts_are_what_their_category_says():
    probes = generate(3000, seed=12)
    socket_texts = [p.args[0]["message"] for p in probes if p.channel == "socketio" and p.well_formed]
    assert {len(t) for t in socket_texts} >= set(HUGE_LENGTHS)
    assert DEADLINE_260 in socket_texts and len(DEADLINE_260) == 260
    assert any("\ud800" in t for t in socket_texts)
    rest_bodies = [p.body for p in probes if p.channel == "rest" and p.well_formed]
    assert any(b"\\ud800" in b for b in rest_bodies), "a lone surrogate goes as a raw JSON escape"
    assert all(isinstance(json.loads(b)["message"], str) for b in rest_bodies)


def test_a_sixth_or_so_reach_the_nlu_and_few_of_those_are_huge():
    probes = generate(10_000, seed=12)
    well_formed = [p for p in probes if p.well_formed]
    assert 1_500 <= len(well_formed) <= 2_200
    assert sum(p.category == "huge" for p in well_formed) <= 60
