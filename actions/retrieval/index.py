"""Finds the knowledge sections that answer a question: dense (FAISS) + lexical (BM25 over jieba
tokens), fused by reciprocal rank, then gated by relevance.

Owns the index on disk: `build_index` writes a new build next to the old one and switches a
pointer file only when the build is complete, so a failed build never replaces the last good index.
Actions see only `KnowledgeIndex.search(query, k) -> list[Passage]`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from actions.knowledge import KnowledgeDocument, Problem, knowledge_signature, load_knowledge, to_chunks
from actions.retrieval.glossary import Glossary, load_glossary
from actions.retrieval.text import Tokenizer
from actions.settings import Settings
from actions.vocab import covers_market, market_codes

logger = logging.getLogger(__name__)

INDEX_FORMAT = 2  # 2: chunks of kind `ask` (the questions a section answers)
METRIC = "inner_product"
POINTER = "CURRENT"
KEEP_BUILDS = 2


@dataclass(frozen=True)
class Passage:
    """A knowledge section found for a question, with both language versions and its citation."""

    doc_id: str
    section_id: str
    title_zh: str
    title_en: str
    section_zh: str
    section_en: str
    text_zh: str
    text_en: str
    sources: tuple[str, ...]
    last_reviewed: str
    path: str
    line: int
    score: float  # fused reciprocal-rank score
    dense: float  # best cosine similarity of the question to a chunk of this section
    lexical: float  # IDF-weighted share of the question's terms found in this section
    answerable: bool  # passed the relevance gate
    ask: float = 0.0  # best cosine similarity of the question to a question this section answers (`asks`)
    pph: tuple[str, str] | None = None  # the PPH direction the section is about (oee, ole)

    @property
    def key(self) -> str:
        """`document-id#section-id`, as used by the evaluation set."""
        return f"{self.doc_id}#{self.section_id}"

    def title(self, lang: str) -> str:
        """Document title in the given language."""
        return self.title_zh if lang == "zh" else self.title_en

    def section(self, lang: str) -> str:
        """Section title in the given language."""
        return self.section_zh if lang == "zh" else self.section_en

    def text(self, lang: str) -> str:
        """Section text in the given language."""
        return self.text_zh if lang == "zh" else self.text_en


class KnowledgeInvalidError(ValueError):
    """The knowledge files have errors; the index was not rebuilt."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("knowledge has errors:\n" + "\n".join(str(p) for p in problems))


class IndexMismatchError(RuntimeError):
    """The index on disk was built with other embedding settings than the current ones."""


class IndexMissingError(FileNotFoundError):
    """No index has been built yet."""


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


def build_index(
    settings: Settings,
    progress: bool = True,
    embeddings: Any = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Builds the index from the knowledge files and makes it current; returns its manifest.

    Raises KnowledgeInvalidError (and leaves the current index alone) when any file has errors.
    A chunk whose embedded text is the same as in the current build keeps its vector, so an edit
    embeds again only the chunks it changed (a front-matter edit such as marking a source, none);
    terms and metadata are always taken afresh. A changed embedding setting makes every chunk new.
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
    previous = _previous_chunks(settings, embedding, base)
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
            meta["tokens"] = tokenizer.tokens(text)
            vector = previous.get((meta.get("kind") == "ask", text))
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


def _previous_chunks(settings: Settings, embedding: dict[str, str], base: Any) -> dict[tuple[bool, str], Any]:
    """The current build's vectors by (is a listed question, embedded text), to reuse."""
    if not previous_manifest_documents(settings, embedding):
        return {}
    from langchain_community.vectorstores import FAISS

    try:
        store = FAISS.load_local(
            str(current_build(settings.index_dir)), base, allow_dangerous_deserialization=True
        )  # our own build
    except Exception as exc:  # an unreadable build is rebuilt from scratch
        logger.warning("previous index not reusable (%s): embedding everything again", exc)
        return {}
    matrix = store.index.reconstruct_n(0, store.index.ntotal)
    out: dict[tuple[bool, str], Any] = {}
    for i, docstore_id in store.index_to_docstore_id.items():
        doc = store.docstore.search(docstore_id)
        if isinstance(doc, str):  # the docstore's "not found" message: that passage is embedded again
            continue
        out[(doc.metadata.get("kind") == "ask", doc.page_content)] = matrix[i]
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


class KnowledgeIndex:
    """A loaded index: answers `search(query, k)` with gated, fused passages."""

    def __init__(
        self,
        store: Any,
        catalog: dict[str, Any],
        manifest: dict[str, Any],
        settings: Settings,
        glossary: Glossary | None = None,
    ):
        self.store = store
        self.catalog = catalog
        self.manifest = manifest
        self.settings = settings
        self.glossary = glossary or Glossary()
        self.build = manifest.get("build", "")
        self.tokenizer = Tokenizer(settings.jieba_dict_dir)
        ids = store.index_to_docstore_id
        self.chunks = [store.docstore.search(ids[i]) for i in range(len(ids))]
        self._chunk_keys = [(c.metadata["doc_id"], c.metadata["section_id"]) for c in self.chunks]
        self._is_ask = np.array([c.metadata.get("kind") == "ask" for c in self.chunks], dtype=bool)
        self._positions: dict[tuple[str, str], list[int]] = defaultdict(list)  # section → its chunks
        for i, key in enumerate(self._chunk_keys):
            self._positions[key].append(i)
        self._section_terms: dict[tuple[str, str], set[str]] = defaultdict(set)
        df: Counter[str] = Counter()
        for chunk, key in zip(self.chunks, self._chunk_keys, strict=True):
            terms = set(chunk.metadata["tokens"])
            self._section_terms[key] |= terms
            df.update(terms)
        n = len(self.chunks)
        self._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self._unknown_idf = math.log(1 + (n + 0.5) / 0.5)
        import bm25s

        self._bm25 = bm25s.BM25()
        self._bm25.index([c.metadata["tokens"] or ["∅"] for c in self.chunks], show_progress=False)

    @classmethod
    def load(cls, settings: Settings, embeddings: Any = None) -> KnowledgeIndex:
        """Loads the current build, refusing one made with other embedding settings."""
        from langchain_community.vectorstores import FAISS
        from langchain_community.vectorstores.utils import DistanceStrategy

        from actions.retrieval.embeddings import make_embeddings

        build = current_build(settings.index_dir)
        manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
        expected = expected_embedding(settings)
        if manifest.get("format") != INDEX_FORMAT or manifest.get("embedding") != expected:
            raise IndexMismatchError(
                f"the index in {build} was built with {manifest.get('embedding')} (format "
                f"{manifest.get('format')}), but the settings ask for {expected} (format {INDEX_FORMAT}): "
                "run `make index` to rebuild it"
            )
        store = FAISS.load_local(
            str(build),
            embeddings or make_embeddings(settings),
            allow_dangerous_deserialization=True,  # only our own build, written by build_index
            distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT,
        )
        catalog = json.loads((build / "catalog.json").read_text(encoding="utf-8"))
        manifest["build"] = build.name
        glossary, problems = load_glossary(settings.knowledge_dir)
        for problem in problems:
            logger.error("glossary not used: %s", problem)
        return cls(store, catalog, manifest, settings, glossary)

    def lexical_coverage(self, query_terms: Iterable[str], key: tuple[str, str]) -> float:
        """IDF-weighted share of the query's terms that occur in the section (0 to 1)."""
        terms = set(query_terms)
        if not terms:
            return 0.0
        weights = {t: self._idf.get(t, self._unknown_idf) for t in terms}
        found = sum(w for t, w in weights.items() if t in self._section_terms.get(key, ()))
        return found / sum(weights.values())

    def passes_gate(self, dense: float, lexical: float, lang: str, ask: float = 0.0) -> bool:
        """The relevance gate: enough semantic similarity to the text or to a question the section
        answers, or enough of the question's terms."""
        dense_min = self.settings.tuned("gate_dense_zh" if lang == "zh" else "gate_dense_en")
        return (
            dense >= dense_min
            or ask >= self.settings.tuned("gate_ask")
            or lexical >= self.settings.tuned("gate_lexical")
        )

    def search(
        self,
        query: str,
        k: int | None = None,
        lang: str = "en",
        mode: str = "hybrid",
        direction: tuple[str | None, str | None] | None = None,
    ) -> list[Passage]:
        """The k best sections for a question, best first, each marked answerable or not.

        mode "hybrid" fuses the dense rankings (section texts, and the questions sections answer)
        with BM25 over the question expanded by the glossary; "dense" and "bm25" use one of them
        (for evaluation). `direction` (office of earlier examination, office of later examination),
        when the question states one, moves PPH sections of that direction up and makes sections of
        another direction unanswerable.
        """
        k = k or self.settings.top_k
        query_vector = self.store.embedding_function.embed_query(query)
        dense_order, dense_best, ask_order, ask_best = self._dense_ranking(query_vector)
        expansion = self.glossary.expansion(query, lang)
        terms = self.tokenizer.tokens(query)
        lexical_terms = terms + [t for term in expansion for t in self.tokenizer.tokens(term)]
        lexical_order = self._lexical_ranking(terms)
        # The synonyms rank on their own, so a concept with many names does not drown the question's own words.
        expanded_order = self._lexical_ranking(lexical_terms) if expansion else []

        dense_weight = self.settings.tuned("dense_weight_zh" if lang == "zh" else "dense_weight_en")
        ask_weight = self.settings.tuned("ask_weight")
        rankings = {
            "hybrid": (
                (dense_weight, dense_order),
                (ask_weight, ask_order),
                (1.0, lexical_order),
                (self.settings.tuned("expansion_weight"), expanded_order),
            ),
            "dense": ((1.0, dense_order), (ask_weight, ask_order)),
            "bm25": ((1.0, lexical_order),),
        }[mode]
        fused: dict[tuple[str, str], float] = defaultdict(float)
        for weight, ranking in rankings:
            for rank, key in enumerate(ranking, start=1):
                fused[key] += weight / (self.settings.rrf_k + rank)
        # An incident the question names (glossary `playbook`): its playbook's sections take part,
        # and the best of them may answer however the story is told (see below). (A rank bonus for
        # them was measured too: it cost R@1 on questions that name an incident in passing.)
        playbooks = self.glossary.playbooks(query) if mode == "hybrid" else []
        for key in [key for key in self._positions if key[0] in playbooks]:
            fused.setdefault(key, 0.0)

        markets = [c for c in market_codes(query) if c != "CN"]
        scored = []
        for key, score in fused.items():
            dense = dense_best.get(key)
            if dense is None:  # not among the nearest chunks: score it against its best chunk
                dense = self._dense_for(query_vector, key)
            fit = self._direction_fit(key, direction)
            place = self._market_fit(key, markets) if self._covers_markets(key, markets, direction) else -1
            # a matching direction, or a heading that names the asked market, counts like one more first rank
            score += (fit + max(place, 0)) / (self.settings.rrf_k + 1)
            scored.append(
                (
                    fit >= 0 and place >= 0,
                    score,
                    self._coverage(terms, lexical_terms, key),
                    dense,
                    ask_best.get(key, 0.0),
                    key,
                )
            )
        # ties: more of the question's terms first; sections of another PPH direction, or whose heading
        # names other markets only ("EU" for a question about US customs), last
        scored.sort(key=lambda t: (not t[0], -t[1], -t[2], -t[3]))
        # The named incident's best section; for a market the question names ("US customs stopped our
        # container"), the best one whose heading names that market, if any (not Korea's customs).
        candidates = [t for t in scored if t[-1][0] in playbooks and t[0]]
        playbook = next((t for t in candidates if self._heading_names(t[-1], markets)), None) if markets else None
        playbook = playbook or (candidates[0] if candidates else None)
        playbook_best = playbook[-1] if playbook else None
        top = scored[:k]
        if playbook and playbook not in top:  # the named incident's playbook always takes part
            top = [*top[: k - 1], playbook]
        return [
            self._passage(
                key,
                score,
                dense,
                lexical,
                ok
                and (self.passes_gate(dense, lexical, lang, ask) or key == playbook_best)
                and self._covers_markets(key, markets, direction),
                ask,
            )
            for ok, score, lexical, dense, ask, key in top
        ]

    def answer_story(self, passages: list[Passage], query: str = "") -> list[Passage]:
        """The passages for a message the NLU read as reporting an incident ("our container got
        stopped by US CBP…").

        When the story names an incident with a playbook (glossary `playbook`) that is among the
        passages, its section leads: for a market the story names, the playbook's section whose
        heading names it (if it is close to a question it answers, ask ≥ gate_story_ask), else the
        playbook's best answerable section — a story about court papers from Germany is answered from
        the lawsuit playbook, not from the warning-letter one that shares its words.

        Otherwise, when none passed the gate: if the two best come from one incident playbook and the
        best is close to a question it answers, that section answers. A story seldom uses the words
        of a listed question, so the general gate misses it, yet an incident should always get its
        playbook; two sections of the same playbook on top are the evidence the general gate lacks (a
        vague request for help spreads over several playbooks' "when to call an expert")."""
        markets = [c for c in market_codes(query) if c != "CN"]
        lead = self._named_playbook_section(passages, query, markets)
        if lead is not None:
            return [replace(lead, answerable=True), *[p for p in passages if p is not lead]]
        if len(passages) < 2 or any(p.answerable for p in passages):
            return passages
        first, second = passages[0], passages[1]
        if first.doc_id != second.doc_id or first.doc_id not in self.glossary.playbook_documents():
            return passages
        if first.ask < self.settings.tuned("gate_story_ask"):
            return passages
        if markets and self._heading_names_other_markets((first.doc_id, first.section_id), markets):
            return passages  # Korea's customs section for a story about US customs: better no answer
        return [replace(first, answerable=True), *passages[1:]]

    def _named_playbook_section(self, passages: list[Passage], query: str, markets: list[str]) -> Passage | None:
        """The section of the story's named incident playbook that should answer it, or None."""
        playbooks = self.glossary.playbooks(query) if query else []
        found = [p for p in passages if p.doc_id in playbooks]
        if markets:
            gate = self.settings.tuned("gate_story_ask")
            for p in found:
                if self._heading_names((p.doc_id, p.section_id), markets) and (p.answerable or p.ask >= gate):
                    return p
            found = [p for p in found if not self._heading_names_other_markets((p.doc_id, p.section_id), markets)]
        return next((p for p in found if p.answerable), None)

    def _market_fit(self, key: tuple[str, str], markets: list[str]) -> int:
        """For a question that names markets: +1 when the section's heading names one of them, -1 when
        it names other markets only, else 0."""
        if not markets:
            return 0
        if self._heading_names_other_markets(key, markets):
            return -1
        if not self._heading_names(key, markets):
            return 0
        # up only in a playbook with a section per market (customs: EU, Japan, Korea, US), where the
        # heading is what tells them apart; a PPH section's heading names its direction instead
        siblings = self.catalog[key[0]]["sections"]
        return int(any(self._heading_names_other_markets((key[0], s), markets) for s in siblings))

    def _heading_names(self, key: tuple[str, str], markets: list[str]) -> bool:
        """Whether the section's heading (either language) names one of the markets (an EU member: the EU too)."""
        heading = self._heading_markets(key)
        return any(covers_market(heading, m) for m in markets)

    def _heading_markets(self, key: tuple[str, str]) -> set[str]:
        """The markets the section's heading names, China left out as in questions (every PPH section
        is about China on one side)."""
        section = self.catalog[key[0]]["sections"][key[1]]
        return set(market_codes(f"{section['zh']} {section['en']}")) - {"CN"}

    def _heading_names_other_markets(self, key: tuple[str, str], markets: list[str]) -> bool:
        """Whether the section's heading is about markets and none of them is one the question names
        ("Korea Customs Service" does not answer "US customs stopped our goods")."""
        return bool(self._heading_markets(key)) and not self._heading_names(key, markets)

    def _covers_markets(
        self,
        key: tuple[str, str],
        markets: list[str],
        direction: tuple[str | None, str | None] | None = None,
    ) -> bool:
        """Whether a section can answer for the markets a question names. Not when its heading is about
        other markets only ("Korea Customs Service" for US customs). A PPH section ("the PPH fee in
        Brazil" is not answered from CNIPA's fees) covers a market when the document is tagged
        with it (or with the EU, for a member), when the section names it, or when the section's
        direction leaves that side open ("any → CN") and the question puts the market on that side.
        (A listed question's similarity is no evidence here: e5 barely tells "in Brazil" from "in Japan".)"""
        if markets and self._heading_names_other_markets(key, markets):
            return False
        entry = self.catalog[key[0]]
        tags = entry.get("tags") or {}
        countries = set(tags.get("countries") or ())
        if not markets or "pph" not in (tags.get("topics") or ()) or not countries:
            return True
        section = entry["sections"][key[1]]
        named = set(market_codes(section["text_zh"] + "\n" + section["text_en"]))
        open_sides = [
            asked
            for asked, about in zip(direction or (None, None), section.get("pph") or (None, None), strict=True)
            if about == "any"
        ]

        def covered(market: str) -> bool:
            return covers_market(countries, market) or market in named or market in open_sides

        return all(covered(m) for m in markets)

    def _coverage(self, terms: list[str], expanded: list[str], key: tuple[str, str]) -> float:
        """Lexical coverage of the question as asked, or as expanded by the glossary if that finds more."""
        plain = self.lexical_coverage(terms, key)
        return plain if len(expanded) == len(terms) else max(plain, self.lexical_coverage(expanded, key))

    def _direction_fit(self, key: tuple[str, str], direction: tuple[str | None, str | None] | None) -> int:
        """+1 when a PPH section is about the direction the question states, -1 when about another, else 0."""
        if not direction or not any(direction):
            return 0
        stated = self.catalog[key[0]]["sections"][key[1]].get("pph")
        if not stated:
            return 0
        (asked_oee, asked_ole), (about_oee, about_ole) = direction, stated
        for asked, about in ((asked_oee, about_oee), (asked_ole, about_ole)):
            if asked and about != "any" and asked != about:
                return -1
        # A result is never used at the office that made it: "any → CN" is not about a Chinese result.
        if (asked_oee and asked_oee == about_ole) or (asked_ole and asked_ole == about_oee):
            return -1
        return 1 if (asked_oee and asked_oee == about_oee) or (asked_ole and asked_ole == about_ole) else 0

    def _dense_ranking(
        self, query_vector: list[float]
    ) -> tuple[
        list[tuple[str, str]], dict[tuple[str, str], float], list[tuple[str, str]], dict[tuple[str, str], float]
    ]:
        """Sections in order of their best text chunk's cosine similarity, and that similarity; the
        same for the questions sections answer."""
        best: dict[tuple[str, str], float] = {}
        order: list[tuple[str, str]] = []
        ask_best: dict[tuple[str, str], float] = {}
        ask_order: list[tuple[str, str]] = []
        query = np.asarray([query_vector], dtype=np.float32)
        n = min(self.store.index.ntotal, 2 * self.settings.candidates + int(self._is_ask.sum()))
        scores, positions = self.store.index.search(query, n)
        taken = [0, 0]
        for score, i in zip(scores[0], positions[0], strict=True):
            if i < 0:
                continue
            is_ask = bool(self._is_ask[i])
            if taken[is_ask] >= self.settings.candidates:
                continue
            taken[is_ask] += 1
            key = self._chunk_keys[i]
            seen, ranking = (ask_best, ask_order) if is_ask else (best, order)
            if key not in seen:
                ranking.append(key)
                seen[key] = float(score)
        return order, best, ask_order, ask_best

    def _lexical_ranking(self, terms: list[str]) -> list[tuple[str, str]]:
        """Sections in order of their best chunk's BM25 score (only chunks sharing a term)."""
        order: list[tuple[str, str]] = []
        if not terms:
            return order
        scores = self._bm25.get_scores(terms)
        for i in np.argsort(-scores)[: self.settings.candidates]:
            if scores[i] <= 0:
                break
            key = self._chunk_keys[i]
            if key not in order:
                order.append(key)
        return order

    def _dense_for(self, query_vector: list[float], key: tuple[str, str]) -> float:
        positions = [i for i in self._positions[key] if not self._is_ask[i]]
        vectors = np.vstack([self.store.index.reconstruct(i) for i in positions])
        return float(np.max(vectors @ np.asarray(query_vector, dtype=np.float32)))

    def section(self, key: str) -> Passage | None:
        """The section a `document-id#section-id` names (as cited by staff files), or None."""
        doc_id, _, section_id = key.partition("#")
        if section_id not in self.catalog.get(doc_id, {}).get("sections", {}):
            return None
        return self._passage((doc_id, section_id), 0.0, 1.0, 1.0, True)

    def _passage(
        self, key: tuple[str, str], score: float, dense: float, lexical: float, ok: bool, ask: float = 0.0
    ) -> Passage:
        entry = self.catalog[key[0]]
        section = entry["sections"][key[1]]
        return Passage(
            doc_id=key[0],
            section_id=key[1],
            title_zh=entry["title"]["zh"],
            title_en=entry["title"]["en"],
            section_zh=section["zh"],
            section_en=section["en"],
            text_zh=section["text_zh"],
            text_en=section["text_en"],
            sources=tuple(section.get("sources") or entry["sources"]),  # the section's own first
            last_reviewed=entry["last_reviewed"],
            path=entry["path"],
            line=section["line"],
            score=score,
            dense=dense,
            lexical=lexical,
            answerable=ok,
            ask=ask,
            pph=tuple(section["pph"]) if section.get("pph") else None,
        )


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
