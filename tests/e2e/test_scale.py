"""Scale-out end to end (`make test-scale`, not part of `make test`): two Rasa replicas behind nginx, two action
servers, two notifiers, PostgreSQL and Redis from Debian's packages, all on 127.0.0.1 (bot/scale.py)."""

from __future__ import annotations

import shutil
import uuid

import pytest
from sqlalchemy import select

from actions.store import Case, session_scope
from bot.scale import (
    FORM_WALK,
    ScaleSet,
    await_deliveries,
    bounded_load,
    open_cases,
    publish_new_build,
    redis_lock_commands,
    stored_events,
    walk,
)

pytestmark = [pytest.mark.e2e, pytest.mark.scale]


@pytest.fixture(scope="module")
def scale(tmp_path_factory: pytest.TempPathFactory):
    """The whole scaled-out set, started once for this module."""
    for program, package in (("redis-server", "redis-server"), ("nginx", "nginx")):
        if not shutil.which(program) and not shutil.which(program, path="/usr/sbin"):
            pytest.fail(f"{program} is not installed: `make test-scale` installs it (apt-get install {package})")
    scale = ScaleSet(tmp_path_factory.mktemp("scale"))
    scale.start(log=lambda _: None)
    yield scale
    scale.stop()


def sender() -> str:
    return f"scale-{uuid.uuid4().hex[:8]}"


def test_a_bounded_load_is_answered_by_both_replicas(scale):
    load = bounded_load(scale, messages=12, workers=3, time_limit=120)
    names = set(scale.replica_names().values())
    assert load.failures == 0
    assert set(load.per_replica) == names and sum(load.per_replica.values()) == 12
    assert abs(load.per_replica["rasa-a"] - load.per_replica["rasa-b"]) <= 3  # round robin, not one replica


def test_the_turns_of_one_conversation_alternate_between_the_replicas_and_keep_its_state(scale):
    before = redis_lock_commands(scale.redis_port)
    turns = walk(scale, FORM_WALK[:5], sender(), log=lambda _: None)
    assert redis_lock_commands(scale.redis_port) - before >= 5  # each turn took its lock in Redis
    assert [t.ok for t in turns] == [True] * 5, [t.text for t in turns]  # every reply is the form's next step
    served = [t.replicas for t in turns]
    assert all(len(r) == 1 for r in served), served  # nothing failed over
    assert all(a != b for a, b in zip(served, served[1:], strict=False)), served  # strict alternation
    assert {r[0] for r in served} == set(scale.replica_names().values())


def test_a_published_index_build_is_picked_up_by_every_action_server(scale):
    publication = publish_new_build(scale, timeout=90)
    assert publication.cited_before and publication.reviewed not in publication.cited_before
    assert all(seconds is not None for seconds in publication.picked_up.values()), publication.picked_up
    for index in scale.index_dirs():  # each action server's own folder names the new build
        assert (index / "CURRENT").read_text(encoding="utf-8").strip() == publication.build


def test_killing_a_replica_mid_conversation_loses_nothing(scale):
    talk = sender()
    turns = walk(scale, FORM_WALK, talk, kill_after=3, log=lambda _: None)
    assert [t.ok for t in turns] == [True] * len(FORM_WALK), [t.text for t in turns]
    survivor = turns[2].replicas[-1]
    victim = next(n for n in scale.replica_names().values() if n != survivor)
    assert turns[3].replicas == [victim, survivor]  # nginx tried the dead replica, then passed the turn on
    assert all(t.replicas[-1] == survivor for t in turns[4:]), [t.replicas for t in turns]
    assert not scale.rasa[list(scale.replica_names().values()).index(victim)].services["rasa"].running()
    with session_scope(scale.cases_url) as s:
        enterprises = s.scalars(select(Case.enterprise)).all()
    assert "Scale Robotics Co., Ltd." in enterprises  # the case the form opened is in PostgreSQL
    assert stored_events(scale, talk) > 0  # and so is the conversation (the trackers database)


def test_two_notifiers_deliver_every_outbox_row_exactly_once(scale):
    numbers = open_cases(scale, 10)
    assert len(set(numbers)) == 10
    found = await_deliveries(scale, timeout=60)
    counts = found.counts()
    assert len(found.statuses) >= 10  # at least one notification per case
    assert sorted(counts) == sorted(found.statuses), "a row was never delivered, or one not in the outbox"
    assert [i for i, c in counts.items() if c > 1] == [], "a row was delivered twice"
    assert set(found.statuses.values()) == {"delivered"}
    assert found.exactly_once
    assert set(found.per_notifier) == {"notifier-a", "notifier-b"}
