"""Builds the knowledge index on disk from the knowledge files: each section's text chunks and the
questions it answers (`asks`), embedded into an exact inner-product FAISS index, with their search
terms, the catalog of what an answer cites and a manifest of how the build was made.

`build_index` writes a new build next to the old one and switches a pointer file only when the
build is complete, so a failed build never replaces the last good index; a chunk whose embedded
text is unchanged keeps the current build's vector, so an edit embeds again only what it changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from actions.knowledge import KnowledgeDocument, Problem, load_knowledge, to_chunks
from actions.retrieval import text as text_module
from actions.retrieval.passage import INDEX_FORMAT, METRIC, POINTER, IndexMissingError, KnowledgeInvalidError
from actions.retrieval.text import Tokenizer
from actions.settings import Settings

logger = logging.getLogger(__name__)

KEEP_BUILDS = 2


def embedding_text(title: str, section: str, text: str) -> str:
    """What is embedded and tokenised for a chunk: its titles give context to short passages."""
    return f"{title} — {section}\n{text}"


def _catalog(documents: list[KnowledgeDocument]) -> dict[str, Any]:
    """What the answer needs of each document, keyed by id (written next to the FAISS files)."""
    return {
        doc.meta.id: {
            "title": {"zh": doc.meta.title.zh, "en": doc.meta.title.en},
            "sources": doc.meta.cited_urls,
            "last_reviewed": doc.meta.last_reviewed.isoformat(),
            "path": doc.path,
            "tags": doc.meta.tags.model_dump(),
            "sections": {
                s.id: {
                    "zh": s.title_zh,
                    "en": s.title_en,
                    "text_zh": s.text_zh,
                    "text_en": s.text_en,
                    "line": s.line,
                    "pph": list(s.pph) if s.pph else None,
                    "sources": list(s.sources),
                }
                for s in doc.sections
            },
        }
        for doc in documents
    }


def expected_embedding(settings: Settings) -> dict[str, str]:
    """The embedding part of the manifest that the current settings require."""
    from actions.retrieval.embeddings import model_fingerprint

    return {
        "backend": settings.embedding_backend,
        "model": settings.embedding_id,
        "fingerprint": model_fingerprint(settings),
    }


def terms_fingerprint(settings: Settings) -> str:
    """What the search terms of a text depend on: the segmenting code and the jieba dictionary files."""
    digest = hashlib.sha256(Path(text_module.__file__).read_bytes())
    folder = settings.jieba_dict_dir
    for path in sorted(folder.glob("*.txt")) if folder and folder.is_dir() else []:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def build_index(
    settings: Settings,
    progress: bool = True,
    embeddings: Any = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Builds the index from the knowledge files and makes it current; returns its manifest.

    Raises KnowledgeInvalidError (and leaves the current index alone) when any file has errors.
    A chunk whose embedded text is the same as in the current build keeps its vector, so an edit
    embeds again only the chunks it changed (a front-matter edit such as marking a source, none),
    and its search terms too unless the segmenting code or the jieba dictionary changed
    (`terms_fingerprint`: segmenting every chunk again was 95% of an incremental build); metadata is
    always taken afresh. A changed embedding setting makes every chunk new.
    """
    from tqdm import tqdm

    from actions.retrieval.embeddings import make_embeddings

    started = time.perf_counter()
    # Paths are cited as knowledge/…, wherever the folder lives.
    documents, problems = load_knowledge(settings.knowledge_dir, settings.knowledge_dir.parent)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise KnowledgeInvalidError(errors)
    if not documents:
        raise KnowledgeInvalidError([Problem(str(settings.knowledge_dir), 1, "documents", "no document to index")])
    for warning in problems:
        log(str(warning))

    embedding = expected_embedding(settings)
    base = embeddings or make_embeddings(settings)
    terms = terms_fingerprint(settings)
    previous = _previous_chunks(settings, embedding, base, terms)
    catalog = _catalog(documents)
    tokenizer = Tokenizer(settings.jieba_dict_dir)

    texts: list[str] = []
    metadatas: list[dict[str, Any]] = []
    vectors: list[Any] = []
    todo: list[int] = []  # positions still to embed
    changed = []
    for doc in documents:
        embedded_here = False
        for chunk in to_chunks([doc]):
            meta = chunk.metadata
            lang = meta["lang"]
            section = catalog[meta["doc_id"]]["sections"][meta["section_id"]]
            if meta.get("kind") == "ask":  # a question is embedded and matched as a question
                text = chunk.page_content
            else:
                text = embedding_text(catalog[meta["doc_id"]]["title"][lang], section[lang], chunk.page_content)
            vector, tokens = previous.get((meta.get("kind") == "ask", text), (None, None))
            meta["tokens"] = tokens if tokens is not None else tokenizer.tokens(text)
            if vector is None:
                todo.append(len(texts))
                embedded_here = True
            texts.append(text)
            metadatas.append(meta)
            vectors.append(vector)
        if embedded_here:
            changed.append(doc.path)

    batch = 64
    bar = tqdm(total=len(todo), desc="embedding", unit="chunk", disable=not progress or not todo)
    for kind in ("passage", "ask"):
        wanted = [i for i in todo if (metadatas[i].get("kind") == "ask") == (kind == "ask")]
        embed = base.embed_documents if kind == "passage" else partial(embed_questions, base)
        for start in range(0, len(wanted), batch):
            positions = wanted[start : start + batch]
            for position, vector in zip(positions, embed([texts[i] for i in positions]), strict=True):
                vectors[position] = vector
            bar.update(len(positions))
    bar.close()

    store = _faiss_store(base, texts, metadatas, np.asarray(vectors, dtype=np.float32))
    old_docs = set(previous_manifest_documents(settings, embedding))
    removed = sorted(old_docs - {d.path for d in documents})
    manifest: dict[str, Any] = {
        "format": INDEX_FORMAT,
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "embedding": embedding,
        "terms": terms,
        "dimension": len(vectors[0]),
        "metric": METRIC,
        "normalized": True,
        "chunks": len(texts),
        "documents": {d.path: d.sha256 for d in documents},
        "embedded_chunks": len(todo),
        "changed_documents": changed,
        "removed_documents": removed,
    }
    build_dir = settings.index_dir / "builds" / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    build_dir.mkdir(parents=True)
    store.save_local(str(build_dir))
    (build_dir / "catalog.json").write_text(json.dumps(catalog, ensure_ascii=False), encoding="utf-8")
    (build_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    _switch_current(settings.index_dir, build_dir)
    manifest["seconds"] = round(time.perf_counter() - started, 2)
    log(
        f"index: {len(documents)} documents, {len(texts)} chunks ({len(todo)} embedded), dimension "
        f"{manifest['dimension']}; changed {len(changed)}, removed {len(removed)}; "
        f"{manifest['seconds']} s → {build_dir}"
    )
    return manifest


def embed_questions(embeddings: Any, texts: list[str]) -> list[list[float]]:
    """Embeds questions the way user questions are embedded (e5's "query: " side), so a user's
    question is compared with the questions a section answers like with like."""
    if hasattr(embeddings, "embed_questions"):
        return embeddings.embed_questions(texts)
    return [embeddings.embed_query(t) for t in texts]


def _faiss_store(embeddings: Any, texts: list[str], metadatas: list[dict[str, Any]], matrix: np.ndarray) -> Any:
    """LangChain's FAISS store over an exact inner-product index of normalised vectors."""
    import faiss
    from langchain_community.docstore.in_memory import InMemoryDocstore
    from langchain_community.vectorstores import FAISS
    from langchain_community.vectorstores.utils import DistanceStrategy
    from langchain_core.documents import Document

    index = faiss.IndexFlatIP(matrix.shape[1])
    index.add(matrix)
    ids = [str(i) for i in range(len(texts))]
    docstore = InMemoryDocstore(
        {i: Document(id=i, page_content=t, metadata=m) for i, t, m in zip(ids, texts, metadatas, strict=True)}
    )
    return FAISS(
        embeddings,
        index,
        docstore,
        dict(enumerate(ids)),
        distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT,
    )


def previous_manifest_documents(settings: Settings, embedding: dict[str, str]) -> dict[str, str]:
    """path → hash of the current build's documents, if it was built with the same embedding."""
    previous = _read_manifest_or_none(settings.index_dir)
    if not previous or previous.get("embedding") != embedding or previous.get("format") != INDEX_FORMAT:
        return {}
    return previous["documents"]


def _previous_chunks(
    settings: Settings, embedding: dict[str, str], base: Any, terms: str
) -> dict[tuple[bool, str], tuple[Any, list[str] | None]]:
    """The current build's vectors and search terms by (is a listed question, embedded text), to reuse;
    the terms only when they were made by the same segmenting (`terms`, see terms_fingerprint)."""
    if not previous_manifest_documents(settings, embedding):
        return {}
    same_terms = (_read_manifest_or_none(settings.index_dir) or {}).get("terms") == terms
    from langchain_community.vectorstores import FAISS

    try:
        store = FAISS.load_local(
            str(current_build(settings.index_dir)), base, allow_dangerous_deserialization=True
        )  # our own build
    except Exception as exc:  # an unreadable build is rebuilt from scratch
        logger.warning("previous index not reusable (%s): embedding everything again", exc)
        return {}
    matrix = store.index.reconstruct_n(0, store.index.ntotal)
    out: dict[tuple[bool, str], tuple[Any, list[str] | None]] = {}
    for i, docstore_id in store.index_to_docstore_id.items():
        doc = store.docstore.search(docstore_id)
        if isinstance(doc, str):  # the docstore's "not found" message: that passage is embedded again
            continue
        tokens = doc.metadata.get("tokens") if same_terms else None
        out[(doc.metadata.get("kind") == "ask", doc.page_content)] = (matrix[i], tokens)
    return out


def _switch_current(index_dir: Path, build_dir: Path) -> None:
    """Points CURRENT at the new build atomically, then drops builds older than the last few."""
    tmp = index_dir / (POINTER + ".tmp")
    tmp.write_text(build_dir.name + "\n", encoding="utf-8")
    os.replace(tmp, index_dir / POINTER)
    builds = sorted(p for p in (index_dir / "builds").iterdir() if p.is_dir())
    for old in builds[:-KEEP_BUILDS]:
        shutil.rmtree(old, ignore_errors=True)


def current_build(index_dir: Path) -> Path:
    """The folder of the current build; IndexMissingError when there is none."""
    pointer = index_dir / POINTER
    if not pointer.is_file():
        raise IndexMissingError(f"no index in {index_dir}: run `make index`")
    build = index_dir / "builds" / pointer.read_text(encoding="utf-8").strip()
    if not (build / "manifest.json").is_file():
        raise IndexMissingError(f"{pointer} names {build}, which is incomplete: run `make index`")
    return build


def fresh_index_copy(index_dir: Path, knowledge_dir: Path, copy_dir: Path) -> Settings:
    """A copy of the current build in copy_dir, brought up to date with knowledge_dir, and the
    settings that serve it: a private stack (evaluation, end-to-end tests) answers from the texts
    it checks, never from a stale .index; unchanged chunks keep their vectors, so only what was
    edited since the last `make index` is embedded."""
    build = current_build(index_dir)
    shutil.copytree(build, copy_dir / "builds" / build.name)
    (copy_dir / POINTER).write_text(build.name + "\n", encoding="utf-8")
    settings = Settings(knowledge_dir=knowledge_dir, index_dir=copy_dir)
    build_index(settings, progress=False, log=lambda _: None)
    return settings


def _read_manifest_or_none(index_dir: Path) -> dict[str, Any] | None:
    """The current build's manifest, or None when there is no readable build."""
    try:
        return json.loads((current_build(index_dir) / "manifest.json").read_text(encoding="utf-8"))
    except (IndexMissingError, OSError, json.JSONDecodeError):
        return None
