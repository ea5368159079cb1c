"""Shared fixtures: a small index built from tests/fixtures/knowledge with the real embedding model."""

from __future__ import annotations

from pathlib import Path

import pytest

from actions.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def fixture_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings that point at the fixture corpus and a temporary index folder."""
    return Settings(
        knowledge_dir=FIXTURES / "knowledge", index_dir=tmp_path_factory.mktemp("index"), watch_knowledge=False
    )


@pytest.fixture(scope="session")
def embeddings(fixture_settings: Settings):
    """The real default embedding model, loaded once for the session (offline)."""
    from actions.embeddings import make_embeddings

    return make_embeddings(fixture_settings)


@pytest.fixture(scope="session")
def fixture_index(fixture_settings: Settings, embeddings):
    """The fixture corpus, indexed and loaded like the action server does."""
    from actions.retrieval import KnowledgeIndex, build_index

    build_index(fixture_settings, progress=False, embeddings=embeddings, log=lambda _: None)
    return KnowledgeIndex.load(fixture_settings, embeddings=embeddings)
