"""Keeps the action server answering while the index changes: `IndexProvider` loads the current
build in a background thread at start, loads a newer build when the pointer file moves, and (with
`watch_knowledge`) rebuilds the index when a knowledge file changes; a build that fails, or that
does not load, leaves the last good index serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from actions.knowledge import knowledge_signature
from actions.retrieval.build import build_index
from actions.retrieval.passage import POINTER, IndexMissingError, KnowledgeInvalidError
from actions.retrieval.search import KnowledgeIndex
from actions.settings import Settings

logger = logging.getLogger(__name__)


class IndexProvider:
    """Hands the action server its index: loaded once at start in a background thread, and
    swapped for a newer build when one appears; a build that fails to load leaves the old one serving.
    """

    def __init__(self, settings: Settings, loader: Callable[[Settings], KnowledgeIndex] | None = None):
        self.settings = settings
        self._loader = loader or KnowledgeIndex.load
        self._index: KnowledgeIndex | None = None
        self._error: Exception | None = None
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._loading = False
        self._started = False
        self._seen_pointer: float | None = None

    def __getstate__(self) -> dict[str, Any]:
        # rasa-sdk pickles the actions into its Sanic worker process: only the settings travel.
        return {"settings": self.settings, "loader": self._loader}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["settings"], state["loader"])  # type: ignore[misc]
        self.start()  # unpickled in the worker: load the index now, in the background

    def start(self) -> None:
        """Starts loading in the background (returns at once), and the knowledge watcher if enabled."""
        self._started = True
        self._load_async()
        if self.settings.watch_knowledge:
            threading.Thread(target=self._watch, name="knowledge-watcher", daemon=True).start()

    def _watch(self) -> None:
        """Re-indexes when a knowledge file changes; a broken file is logged and the old index stays."""
        seen = knowledge_signature(self.settings.knowledge_dir)
        while True:
            time.sleep(self.settings.watch_interval)
            try:
                now = knowledge_signature(self.settings.knowledge_dir)
                if now == seen:
                    continue
                seen = now
                self.rebuild()
            except Exception:  # the watcher never dies; the next change tries again
                logger.exception("knowledge re-index failed")

    def rebuild(self) -> dict[str, Any] | None:
        """Rebuilds the index from the knowledge files now and loads it; None when the files have errors."""
        with self._lock:
            current = self._index
            self._loading = True  # the new build is loaded below, not by a concurrent get()
        embeddings = getattr(getattr(current, "store", None), "embedding_function", None)
        try:
            manifest = build_index(self.settings, progress=False, embeddings=embeddings, log=logger.info)
        except KnowledgeInvalidError as exc:
            with self._lock:
                self._loading = False
            logger.error(
                "knowledge files have errors; still serving the last good index:\n%s",
                "\n".join(str(p) for p in exc.problems),
            )
            return None
        except Exception:
            with self._lock:
                self._loading = False
            raise
        self._load(embeddings)
        return manifest

    def _pointer_mtime(self) -> float | None:
        try:
            return (self.settings.index_dir / POINTER).stat().st_mtime
        except OSError:
            return None

    def _load_async(self) -> None:
        with self._lock:
            if self._loading:
                return
            self._loading = True
        threading.Thread(target=self._load, name="index-loader", daemon=True).start()

    def _load(self, embeddings: Any = None) -> None:
        mtime = self._pointer_mtime()
        try:
            if embeddings is not None and self._loader == KnowledgeIndex.load:
                index = KnowledgeIndex.load(self.settings, embeddings=embeddings)  # keep the loaded model
            else:
                index = self._loader(self.settings)
            with self._lock:
                self._index, self._error = index, None
            logger.info("knowledge index loaded: build %s, %s chunks", index.build, len(index.chunks))
        except Exception as exc:  # keep serving the last good index
            with self._lock:
                self._error = exc
            if self._index is None:
                logger.error("knowledge index could not be loaded: %s", exc)
            else:
                logger.error("new knowledge index rejected, still serving build %s: %s", self._index.build, exc)
        finally:
            with self._lock:
                self._seen_pointer = mtime
                self._loading = False
            self._ready.set()

    def get(self, timeout: float = 120.0) -> KnowledgeIndex:
        """The current index (waits for the first load); raises the load error if there is none."""
        if not self._started:
            self.start()
        if self._ready.is_set() and self._pointer_mtime() != self._seen_pointer:
            self._load_async()  # a newer build appeared: load it while the old one keeps answering
        if not self._ready.wait(timeout):
            raise TimeoutError("the knowledge index is still loading")
        with self._lock:
            if self._index is None:
                if self._error is not None and not self._loading:
                    self._ready.clear()
                    self._load_async()  # try again next time, e.g. after `make index`
                raise self._error or IndexMissingError("no knowledge index")
            return self._index
