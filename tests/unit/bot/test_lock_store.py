"""Rasa's lock store from LOCK_STORE_URL, as Rasa reads bot/endpoints.yml, and a message waiting for the lock
a dead Rasa left (in .venv-rasa, one subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
SCRIPT = r"""
import asyncio, json, os
from rasa.core.lock_store import InMemoryLockStore, LockStore
from rasa.utils.endpoints import read_endpoint_config
from bot.lock_store import RenewingInMemoryLockStore, redis_options

found = {}
for url in ["", "redis://:s%40cret@10.0.0.7:6390/2", "rediss://cache.example.com"]:
    os.environ["LOCK_STORE_URL"] = url
    store = LockStore.create(read_endpoint_config("bot/endpoints.yml", "lock_store"))
    kwargs = store.red.connection_pool.connection_kwargs if hasattr(store, "red") else {}
    found[url] = [type(store).__name__, {k: kwargs.get(k) for k in ("host", "port", "db", "password")}]
try:
    redis_options("http://127.0.0.1:6379")
except ValueError as error:
    found["error"] = str(error)


async def served_after_a_dead_holder(store):
    store.issue_ticket("c", 1.0)  # a Rasa that died holding the lock: its ticket is never cleaned up

    async def take():
        async with store.lock("c", lock_lifetime=1.0, wait_time_in_seconds=0.4):
            return True

    try:
        return await asyncio.wait_for(take(), 4.0)
    except asyncio.TimeoutError:
        return False


found["served after a dead holder"] = {
    type(s).__name__: asyncio.run(served_after_a_dead_holder(s)) for s in (InMemoryLockStore(), RenewingInMemoryLockStore())
}
print(json.dumps(found))
"""


@pytest.fixture(scope="module")
def stores() -> dict:
    if not RASA_PYTHON.exists():
        pytest.skip("needs .venv-rasa (make venvs)")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TRACKER_DATABASE_URL": "sqlite://", "PYTHONWARNINGS": "ignore"}
    env.update(ACTION_ENDPOINT_URL="http://127.0.0.1:1/webhook", ACTION_SERVER_TOKEN="t")
    done = subprocess.run(
        [str(RASA_PYTHON), "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_without_a_url_the_locks_stay_in_rasas_memory(stores):
    assert stores[""][0] == "RenewingInMemoryLockStore"


def test_a_redis_url_gives_rasas_redis_lock_store_with_its_host_port_db_and_password(stores):
    assert stores["redis://:s%40cret@10.0.0.7:6390/2"] == [
        "RenewingRedisLockStore",
        {"host": "10.0.0.7", "port": 6390, "db": 2, "password": "s@cret"},
    ]
    assert stores["rediss://cache.example.com"] == [
        "RenewingRedisLockStore",
        {"host": "cache.example.com", "port": 6379, "db": 1, "password": None},
    ]


def test_a_url_that_is_not_redis_is_refused_by_name(stores):
    assert stores["error"] == "LOCK_STORE_URL must be redis://host:port/db, not 'http'"


def test_a_message_waiting_for_the_lock_a_dead_rasa_left_is_served_once_that_ticket_runs_out(stores):
    # Rasa's own store lets the waiting message's ticket run out with the dead one's and never serves it.
    assert stores["served after a dead holder"] == {"InMemoryLockStore": False, "RenewingInMemoryLockStore": True}
