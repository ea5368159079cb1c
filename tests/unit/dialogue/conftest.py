"""What the dialogue tests share: the knowledge and database the action server would see."""

from __future__ import annotations

import shutil

import pytest

from actions.settings import PROJECT_ROOT, get_settings
from actions.store import migrate


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A copy of knowledge/ and an empty database, as the action server would see them (the launcher
    creates the database before it starts the action server)."""
    knowledge = tmp_path / "knowledge"
    shutil.copytree(PROJECT_ROOT / "knowledge", knowledge)
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    migrate(url)
    monkeypatch.setenv("KNOWLEDGE_DIR", str(knowledge))
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    yield knowledge, url
    get_settings.cache_clear()
