"""Shared fixtures: a small index built from tests/fixtures/knowledge with the real embedding model, a throwaway
PostgreSQL server, and the whole stack for the end-to-end tests.

A test that uses the real model (`embeddings`, `fixture_index`) or PostgreSQL (`postgres_server`, the
postgresql case of `database_url`) is marked `integration`: `make test` runs it, `make test-quick` leaves it out.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from actions.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"


INTEGRATION_FIXTURES = frozenset({"embeddings", "fixture_index", "postgres_server", "real_e5"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks the tests that need the real embedding model or PostgreSQL as `integration`."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        params = item.callspec.params if hasattr(item, "callspec") else {}
        on_postgres = params.get("database_url") == "postgresql"
        if names & INTEGRATION_FIXTURES or on_postgres:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def fixture_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings that point at the fixture corpus and a temporary index folder."""
    return Settings(
        knowledge_dir=FIXTURES / "knowledge", index_dir=tmp_path_factory.mktemp("index"), watch_knowledge=False
    )


@pytest.fixture(scope="session")
def embeddings(fixture_settings: Settings):
    """The real default embedding model, loaded once for the session (offline)."""
    from actions.retrieval.embeddings import make_embeddings

    return make_embeddings(fixture_settings)


@pytest.fixture(scope="session")
def fixture_index(fixture_settings: Settings, embeddings):
    """The fixture corpus, indexed and loaded like the action server does."""
    from actions.retrieval.build import build_index
    from actions.retrieval.search import KnowledgeIndex

    build_index(fixture_settings, progress=False, embeddings=embeddings, log=lambda _: None)
    return KnowledgeIndex.load(fixture_settings, embeddings=embeddings)


@dataclass
class EndToEnd:
    """The whole bot on free loopback ports — Rasa, the action server, the notifier, the web page, the
    console and the Telegram gateway — with its own copies of knowledge/, the index and the database, a
    loopback Telegram Bot API server for the gateway and the notifier, and a loopback SMTP server
    (aiosmtpd) whose `mail` keeps what the notifier e-mailed."""

    workdir: Path
    stack: Any
    telegram: Any
    database_url: str
    mail: Any = None  # tests.factories.Inbox


@pytest.fixture(scope="session")
def e2e(tmp_path_factory: pytest.TempPathFactory):
    """Started once per test session, for every end-to-end test."""
    import shutil

    import yaml
    from aiosmtpd.controller import Controller

    from actions.retrieval.build import fresh_index_copy
    from bot.stack import MODEL, ROOT, Stack, free_port
    from tests.factories import EMAIL_EXPERT, Inbox
    from tests.telegram_api import FakeBotApi

    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train`")
    root = tmp_path_factory.mktemp("stack")
    shutil.copytree(ROOT / "knowledge", root / "knowledge")
    experts = yaml.safe_load((root / "knowledge" / "experts.yml").read_text(encoding="utf-8"))
    for n, expert in enumerate(experts, start=1):
        expert["telegram_chat_id"] = 1000 + n  # every sample expert reachable on the loopback server
    experts.append(EMAIL_EXPERT)  # and one by e-mail only (Viet Nam, patents), through the loopback SMTP server
    (root / "knowledge" / "experts.yml").write_text(yaml.safe_dump(experts, allow_unicode=True), encoding="utf-8")
    # Up to date with the knowledge files, so no test is answered from texts older than the ones it checks.
    fresh_index_copy(ROOT / ".index", root / "knowledge", root / "index")

    telegram = FakeBotApi(token="123456:TEST")
    telegram.start()
    mail = Inbox()
    smtp = Controller(mail, hostname="127.0.0.1", port=free_port())
    smtp.start()
    database_url = f"sqlite:///{root / 'cases.db'}"
    env = {
        "KNOWLEDGE_DIR": str(root / "knowledge"),
        "INDEX_DIR": str(root / "index"),
        "WATCH_INTERVAL": "0.5",
        "DATABASE_URL": database_url,
        "TELEGRAM_TOKEN": "123456:TEST",
        "TELEGRAM_BASE_URL": telegram.base_url,
        "NOTIFIER_POLL_SECONDS": "0.2",
        "NOTIFIER_SINK": str(root / "notifications.jsonl"),
        "ATTACHMENTS_DIR": str(root / "attachments"),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "SMTP_SECURITY": "none",
    }
    # Rasa's API is on for the tests only, behind a token of their own (they read trackers).
    stack = Stack(
        free_port(), free_port(), free_port(), log_dir=root / "logs", extra_env=env, api_token=secrets.token_urlsafe(32)
    )
    stack.start()
    yield EndToEnd(root, stack, telegram, database_url, mail)
    stack.stop()
    telegram.stop()
    smtp.stop()


def _pg_bin(name: str) -> str | None:
    import glob
    import shutil

    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL cluster on a free loopback port (installed by `make test`)."""
    import os
    import shutil
    import subprocess
    import tempfile

    from bot.stack import free_port

    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.fail("PostgreSQL is not installed: `make test` installs it (apt-get install postgresql)")
    data = Path(tempfile.mkdtemp(prefix="ipbot-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(data, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "ipbot"], check=True, capture_output=True)
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*as_user, pg_ctl, "-D", str(data), "-o", options, "-l", str(data / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    yield f"postgresql+psycopg://ipbot@127.0.0.1:{port}"
    subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True)
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A fresh, migrated case database: SQLite, and PostgreSQL through the same code."""
    import uuid

    from actions.store import migrate

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cases.db'}"
    else:
        import psycopg

        server = request.getfixturevalue("postgres_server")
        name = f"t_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(server.replace("postgresql+psycopg", "postgresql") + "/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        url = f"{server}/{name}"
    migrate(url)
    return url
