"""Rasa's lock store, chosen by one setting: LOCK_STORE_URL.

Rasa handles one message of a conversation at a time by holding that conversation's lock. With one
Rasa process the locks live in its memory (LOCK_STORE_URL empty, the default); several Rasa replicas
serving the same conversations must share them, in Redis (`redis://[:password@]host:port/db`).
Configured in bot/endpoints.yml; bot/stack.py passes the setting on.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore


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


class ConfiguredLockStore:
    """Rasa's in-memory lock store, or its Redis lock store when the endpoint's `url` is set.

    Rasa instantiates a custom lock store class with the endpoint configuration; this one's `__new__`
    hands back one of Rasa's own stores, so nothing of the locking is written here."""

    def __new__(cls, endpoint_config: Any = None) -> LockStore:
        url = str(getattr(endpoint_config, "url", "") or "").strip()
        if not url:
            return InMemoryLockStore()
        return RedisLockStore(**redis_options(url))
