"""Rasa's lock store, chosen by one setting: LOCK_STORE_URL.

Rasa handles one message of a conversation at a time by holding that conversation's lock. With one
Rasa process the locks live in its memory (LOCK_STORE_URL empty, the default); several Rasa replicas
serving the same conversations must share them, in Redis (`redis://[:password@]host:port/db`).
Configured in bot/endpoints.yml; bot/stack.py passes the setting on.

Rasa's own stores with one change (`RenewsWaitingTickets`): a message waiting for the lock keeps its ticket
alive. Rasa gives every ticket the lock's lifetime (60 s, TICKET_LOCK_LIFETIME) so that a Rasa that died
holding the lock stops blocking its conversation; but the waiting message's own ticket runs out at about the
same moment as the dead one's, and a waiter whose ticket ran out is never served: it waits until its client
gives up. On the scale-out set, the consent resent after its replica was killed hung until nginx's 120 s
(eval/reports/faults-scale.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

from rasa.core.lock_store import LOCK_LIFETIME, InMemoryLockStore, LockError, LockStore, RedisLockStore


def redis_options(url: str) -> dict[str, Any]:
    """RedisLockStore's arguments from a `redis://` or `rediss://` URL (db 1 when the URL names none)."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ValueError(f"LOCK_STORE_URL must be redis://host:port/db, not {parts.scheme or url!r}")
    db = parts.path.strip("/")
    return {
        "host": parts.hostname,
        "port": parts.port or 6379,
        "db": int(db) if db else 1,
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "use_ssl": parts.scheme == "rediss",
        "key_prefix": "ipbot",
    }


class RenewsWaitingTickets:
    """Rasa's ticket lock, but a message waiting for its turn renews its own ticket's lifetime at every look,
    so that only the tickets of processes that stopped looking (died) run out. Mixed into Rasa's stores."""

    @asynccontextmanager
    async def lock(
        self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME, wait_time_in_seconds: float = 1
    ) -> AsyncIterator[Any]:
        """Rasa's `LockStore.lock`, waiting with `wait_for_turn`."""
        ticket = [self.issue_ticket(conversation_id, lock_lifetime)]  # type: ignore[attr-defined]
        try:
            yield await self.wait_for_turn(conversation_id, ticket, lock_lifetime, wait_time_in_seconds)
        finally:
            self.cleanup(conversation_id, ticket[0])  # type: ignore[attr-defined]

    async def wait_for_turn(self, conversation_id: str, ticket: list[int], lifetime: float, wait: float) -> Any:
        """Waits until `ticket[0]` is served, renewing it at every look (a ticket that ran out all the same,
        e.g. over a pause longer than the lifetime, is replaced by a new one at the back of the queue)."""
        while True:
            lock = self.get_lock(conversation_id)  # type: ignore[attr-defined]
            if lock is None:  # as in Rasa: the lock was deleted under us
                raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")
            if not lock.is_locked(ticket[0]):
                return lock
            await asyncio.sleep(wait)
            self.renew(conversation_id, ticket, lifetime)

    def renew(self, conversation_id: str, ticket: list[int], lifetime: float) -> None:
        """Drops the tickets that ran out and gives the waiting one a full lifetime again."""
        lock = self.get_lock(conversation_id)  # type: ignore[attr-defined]
        if lock is None:
            return
        lock.remove_expired_tickets()
        mine = next((t for t in lock.tickets if t.number == ticket[0]), None)
        if mine is None:
            ticket[0] = lock.issue_ticket(lifetime)
        else:
            mine.expires = time.time() + lifetime
        self.save_lock(lock)  # type: ignore[attr-defined]


class RenewingInMemoryLockStore(RenewsWaitingTickets, InMemoryLockStore):
    """Rasa's in-memory lock store (one Rasa process) whose waiting messages keep their tickets."""


class RenewingRedisLockStore(RenewsWaitingTickets, RedisLockStore):
    """Rasa's Redis lock store (several replicas) whose waiting messages keep their tickets."""


class ConfiguredLockStore:
    """Rasa's in-memory lock store, or its Redis lock store when the endpoint's `url` is set, each with
    waiting tickets renewed (`RenewsWaitingTickets`).

    Rasa instantiates a custom lock store class with the endpoint configuration; this one's `__new__`
    hands back one of Rasa's own stores, so nothing of the locking but the renewal is written here."""

    def __new__(cls, endpoint_config: Any = None) -> LockStore:
        url = str(getattr(endpoint_config, "url", "") or "").strip()
        if not url:
            return RenewingInMemoryLockStore()
        return RenewingRedisLockStore(**redis_options(url))
