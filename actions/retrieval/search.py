"""Finds the knowledge sections that answer a question: dense (FAISS) + lexical (BM25 over jieba
tokens), fused by reciprocal rank, then gated by relevance.

`KnowledgeIndex.load` reads the current build (see actions/retrieval/build.py), refusing one made
with other embedding settings. Actions see only `KnowledgeIndex.search(query, k) -> list[Passage]`.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import replace
from functools import lru_cache
from typing import Any

import numpy as np

from actions.retrieval.build import current_build, expected_embedding
from actions.retrieval.glossary import Glossary, load_glossary
from actions.retrieval.passage import INDEX_FORMAT, IndexMismatchError, Passage
from actions.retrieval.text import Tokenizer
from actions.settings import Settings
from actions.vocab import covers_market, market_codes

logger = logging.getLogger(__name__)


# Terms that frame a question ("what is the difference between …", "…是什么意思") without naming its
# subject, as the tokenizer emits them (English stemmed): the gate's lexical coverage leaves them out,
# so "What is the difference between OEE and OLE?" is judged by OEE and OLE, not diluted by "differ"
# and "between".
FRAMING_TERMS = frozenset(
    ("differ", "between", "mean", "explain", "compar", "versus", "vs")
    + ("区别", "差别", "差异", "意思", "含义", "解释", "有何", "比较")
)
# Where a question's clauses part: commas, semicolons and sentence ends in either language.
CLAUSE_BREAK = re.compile(r"[,;，；。！？!?]+\s*|\.\s+")


def admitted_by_document(docs: list[str], relevant: list[bool], fits: list[bool]) -> list[bool]:
    """The gate admits a document; inside an admitted one the ranking picks the section: a section ranked
    above a gated (and fitting) section of its own document passes too. ("Can the Messe Frankfurt
    organisers remove a copycat stand?": the organisers' procedures ranked first, yet only the
    copied-product section of the same trade-fair playbook cleared the gate, by its words, and was quoted.)
    `docs`, `relevant`, `fits`: the ranked sections' documents, gate results and market/direction fit."""
    return [
        relevant[i] or any(relevant[j] and fits[j] and docs[j] == docs[i] for j in range(i + 1, len(docs)))
        for i in range(len(docs))
    ]


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
        # Repeated questions (the same FAQ from many users, a question and its clauses, the eval) are
        # embedded once: a bounded cache per loaded index, in memory only.
        self._embed_cached = lru_cache(maxsize=settings.query_cache_size)(self._embed_uncached)
        # The markets each section's heading and text name, found once per section (the texts do not change
        # while the index is loaded): looking for ~300 market names in every candidate's text on every
        # question was a fifth of the action server's time per answer under the anchor benchmark.
        self._markets_in: dict[str, frozenset[str]] = {}  # by the heading or text searched

    def _embed_uncached(self, text: str) -> tuple[float, ...]:
        return tuple(self.store.embedding_function.embed_query(text))

    @property
    def query_model(self) -> str | None:
        """What embeds questions for this index (actions/question_vector.py names), if it says."""
        return getattr(self.store.embedding_function, "query_model", None)

    def embed_query(self, text: str) -> list[float]:
        """The question's embedding, from the cache when the same text was embedded before."""
        return list(self._embed_cached(text))

    @classmethod
    def load(cls, settings: Settings, embeddings: Any = None) -> KnowledgeIndex:
        """Loads the current build, refusing one made with other embedding settings."""
        from langchain_community.vectorstores import FAISS
        from langchain_community.vectorstores.utils import DistanceStrategy

        from actions.retrieval.embeddings import limit_native_threads, make_embeddings

        limit_native_threads(settings.native_threads)
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
            embeddings or make_embeddings(settings, threads=settings.native_threads),
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
        """IDF-weighted share of the query's terms that occur in the section (0 to 1), terms that only
        frame the question ("difference", "什么意思") left out."""
        terms = set(query_terms) - FRAMING_TERMS
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
        vector: list[float] | None = None,
    ) -> list[Passage]:
        """The k best sections for a question, best first, each marked answerable or not.

        mode "hybrid" fuses the dense rankings (section texts, and the questions sections answer)
        with BM25 over the question expanded by the glossary; "dense" and "bm25" use one of them
        (for evaluation). `direction` (office of earlier examination, office of later examination),
        when the question states one, moves PPH sections of that direction up and makes sections of
        another direction unanswerable. `vector`: the question's embedding when the caller has it (the
        NLU's, see actions/question_vector.py), made by this index's `query_model`.
        """
        k = k or self.settings.top_k
        query_vector = vector if vector is not None else self.embed_query(query)
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
            # a question that is one staff listed for the section, in other words at most, ranks it first:
            # the fusion counts ranks only, so 0.998 to a listed question weighed no more than 0.95
            if ask_best.get(key, 0.0) >= self.settings.tuned("exact_ask"):
                score += ask_weight / (self.settings.rrf_k + 1)
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
        fits = [ok and self._covers_markets(key, markets, direction) for ok, _, _, _, _, key in top]
        relevant = [
            self.passes_gate(dense, lexical, lang, ask) or key == playbook_best
            for _, _, lexical, dense, ask, key in top
        ]
        # Each clause of the question is embedded to judge it on its own: only for sections the whole
        # question did not already admit (a third of the labelled questions have several clauses; their
        # embeddings were the tail of a search's time).
        if mode == "hybrid" and not all(relevant):
            clauses = self._clause_scores(query, lang, [t[-1] for i, t in enumerate(top) if not relevant[i]])
            for i, (_, _, _, _, _, key) in enumerate(top):
                if not relevant[i] and key in clauses:
                    relevant[i] = self.passes_gate(*clauses[key][:2], lang, clauses[key][2])
        relevant = admitted_by_document([t[-1][0] for t in top], relevant, fits)
        passages = []
        for (_, score, lexical, dense, ask, key), fit, rel in zip(top, fits, relevant, strict=True):
            passages.append(self._passage(key, score, dense, lexical, fit and rel, ask))
        return passages

    def _clause_scores(
        self, query: str, lang: str, keys: list[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[float, float, float]]:
        """For a question of several clauses ("whats pph extra, our agent said we should use it"), each
        ranked section's best (dense, lexical, listed-question) similarity to any one clause of at least
        two terms: the gate then judges the clause that asks, not the asked clause diluted by context.
        The ranking itself stays that of the whole question."""
        parts = [c.strip() for c in CLAUSE_BREAK.split(query) if c.strip()]
        clauses = [(c, self.tokenizer.tokens(c)) for c in parts]
        clauses = [(c, terms) for c, terms in clauses if len(terms) >= 2]
        if len(clauses) < 2:
            return {}
        best: dict[tuple[str, str], tuple[float, float, float]] = {}
        for clause, terms in clauses:
            vector = self.embed_query(clause)
            _, dense_best, _, ask_best = self._dense_ranking(vector)
            expanded = terms + [
                t for term in self.glossary.expansion(clause, lang) for t in self.tokenizer.tokens(term)
            ]
            for key in keys:
                dense = dense_best.get(key)
                dense = self._dense_for(vector, key) if dense is None else dense
                scores = (dense, self._coverage(terms, expanded, key), ask_best.get(key, 0.0))
                previous = best.get(key, (0.0, 0.0, 0.0))
                best[key] = (max(previous[0], scores[0]), max(previous[1], scores[1]), max(previous[2], scores[2]))
        return best

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
            # an incident is not supported by a PPH procedure unless the story speaks of the PPH: a
            # warning letter from a Korean customer was supported by how to request PPH at KIPO, which
            # shares only "Korea" (an RCEP section on bad faith still supports a squatting story)
            mentions_pph = "pph" in query.lower() or "专利审查高速" in query
            rest = [
                p if mentions_pph or self._topics(p.doc_id) != {"pph"} else replace(p, answerable=False)
                for p in passages
                if p is not lead
            ]
            return [replace(lead, answerable=True), *rest]
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

    def _topics(self, doc_id: str) -> set[str]:
        """The topics a document is tagged with (pph, rcep, dispute)."""
        return set(self.catalog[doc_id].get("tags", {}).get("topics", ()))

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
        return set(self._section_markets(key, "heading")) - {"CN"}

    def _section_markets(self, key: tuple[str, str], part: str) -> frozenset[str]:
        """The markets a section's heading (`part` "heading", both languages) or text ("text") names."""
        section = self.catalog[key[0]]["sections"][key[1]]
        words = (
            f"{section['zh']} {section['en']}" if part == "heading" else section["text_zh"] + "\n" + section["text_en"]
        )
        found = self._markets_in.get(words)
        if found is None:
            found = self._markets_in[words] = frozenset(market_codes(words))
        return found

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
        named = self._section_markets(key, "text")
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
