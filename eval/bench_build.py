"""Index builds at the machine's limit: a full build's throughput against the embedder's raw throughput,
and the bot's answer latency while a build runs.

    python -m eval.bench_build [--documents 8] [--questions 40] [--report eval/reports/bench-build.md]

Throughput: a private copy of `--documents` knowledge files (all the other files of knowledge/ beside
them) is built from scratch (`build_index`, as `make index` runs it: the embedder's default threads
unless the shell sets OMP_NUM_THREADS); then the same chunk texts are embedded again by the same
embedder, in the build's batches of 64 and nothing else (load, segment, store and save left out) —
the raw throughput. Reported: chunks per second of each and the build's share of the raw rate.

Latency during a build: a private stack (Rasa + action server on free ports, copies of knowledge/
and the index: eval/toolkit/bot.py) answers `--questions` knowledge questions one after the other
(the anchor benchmark's zh/en mix, a new sender every cycle) idle, then while a full build of a
separate copy of knowledge/ runs in its own process (`python -m actions.cli index`, the command
staff run after an edit; the served index is not touched, as the bot keeps serving the old build
until a new one is current), then idle again. Reported: p50/p95 of each phase and the ratio of the
build phase to the idle phases together.
A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from actions.retrieval.build import build_index, embed_questions
from actions.retrieval.embeddings import make_embeddings
from actions.settings import Settings
from bot.stack import PYTHON, ROOT


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def knowledge_subset(target: Path, documents: int) -> None:
    """knowledge/'s non-document files and its first `documents` documents, copied to target."""
    source = ROOT / "knowledge"
    docs = sorted(p for p in source.rglob("*.md") if p.name.lower() != "readme.md")[:documents]
    for path in [*(p for p in source.rglob("*") if p.is_file() and p.suffix != ".md"), *docs]:
        copy = target / path.relative_to(source)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, copy)


def throughput(documents: int) -> dict[str, float]:
    """A full build of a knowledge subset, then its chunk texts embedded raw, batch as in the build."""
    from langchain_community.vectorstores import FAISS

    work = Path(tempfile.mkdtemp(prefix="bench-build-"))
    try:
        knowledge_subset(work / "knowledge", documents)
        settings = Settings(knowledge_dir=work / "knowledge", index_dir=work / "index", watch_knowledge=False)
        embeddings = make_embeddings(settings)
        embeddings.embed_documents(["warm up"])
        manifest = build_index(settings, progress=False, embeddings=embeddings, log=lambda _: None)
        current = (settings.index_dir / "CURRENT").read_text(encoding="utf-8").strip()
        store = FAISS.load_local(
            str(settings.index_dir / "builds" / current), embeddings, allow_dangerous_deserialization=True
        )
        found = [store.docstore.search(store.index_to_docstore_id[i]) for i in range(store.index.ntotal)]
        chunks = [c for c in found if not isinstance(c, str)]  # a str is the docstore's "not found"
        passages = [c.page_content for c in chunks if c.metadata.get("kind") != "ask"]
        asks = [c.page_content for c in chunks if c.metadata.get("kind") == "ask"]
        started = time.perf_counter()
        for start in range(0, len(passages), 64):
            embeddings.embed_documents(passages[start : start + 64])
        for start in range(0, len(asks), 64):
            embed_questions(embeddings, asks[start : start + 64])
        raw = time.perf_counter() - started
        return {
            "documents": documents,
            "chunks": manifest["chunks"],
            "passages": len(passages),
            "asks": len(asks),
            "build_s": manifest["seconds"],
            "raw_s": raw,
            "build_rate": manifest["chunks"] / manifest["seconds"],
            "raw_rate": len(chunks) / raw,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def latency_during_build(questions: int) -> dict[str, list[float]]:
    """Answer latencies (ms) idle, during a full build in another process, idle again."""
    from eval.bench_anchor import QUESTIONS
    from eval.toolkit.bot import private_stack

    phases: dict[str, list[float]] = {}
    work = Path(tempfile.mkdtemp(prefix="bench-build-live-"))
    try:
        shutil.copytree(ROOT / "knowledge", work / "knowledge")
        with private_stack(api=False) as stack:

            def ask(phase: str) -> None:
                sender = ""
                for n in range(questions):
                    if n % len(QUESTIONS) == 0:
                        sender = f"build-{phase}-{uuid.uuid4().hex[:8]}"
                    started = time.perf_counter()
                    stack.bot.send(sender, QUESTIONS[n % len(QUESTIONS)])
                    phases.setdefault(phase, []).append((time.perf_counter() - started) * 1000)

            for text in QUESTIONS:  # warm up, not counted
                stack.bot.send(f"build-warm-{uuid.uuid4().hex[:8]}", text)
            ask("idle before")
            env = dict(
                os.environ,
                PYTHONPATH=str(ROOT),
                KNOWLEDGE_DIR=str(work / "knowledge"),
                INDEX_DIR=str(work / "index"),
                WATCH_KNOWLEDGE="false",
            )
            log = (work / "build.log").open("wb")
            build = subprocess.Popen(
                [str(PYTHON), "-m", "actions.cli", "index"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
            try:
                time.sleep(8)  # past loading the model: embedding
                ask("during a build")
                phases["build still running"] = [float(build.poll() is None)]
            finally:
                build.kill()
                build.wait()
                log.close()
            ask("idle after")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return phases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=8, help="knowledge files in the throughput build")
    parser.add_argument("--questions", type=int, default=40, help="questions per latency phase")
    parser.add_argument("--report", type=Path, default=None, help="also write the results as Markdown here")
    args = parser.parse_args()
    lines: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    threads = os.environ.get("OMP_NUM_THREADS", "the embedder's default")
    tp = throughput(args.documents)
    share = tp["build_rate"] / tp["raw_rate"]
    say(
        f"full build of {tp['documents']} documents ({tp['chunks']} chunks: {tp['passages']} passages, {tp['asks']} "
        f"listed questions), OMP_NUM_THREADS {threads}: {tp['build_s']:.1f} s, {tp['build_rate']:.2f} chunks/s; "
        f"the same texts embedded raw in batches of 64: {tp['raw_s']:.1f} s, {tp['raw_rate']:.2f} chunks/s; "
        f"build at {share:.0%} of the raw rate (target ≥ 80%)"
    )
    phases = latency_during_build(args.questions)
    idle = phases["idle before"] + phases["idle after"]
    during = phases["during a build"]
    for name in ("idle before", "during a build", "idle after"):
        values = phases[name]
        say(
            f"answers {name}: n={len(values)}, p50 {statistics.median(values):.0f} ms, p95 {percentile(values, 95):.0f} ms"
        )
    still = "ran through the whole phase" if phases["build still running"][0] else "ENDED before the phase did"
    say(
        f"during a build ÷ idle: p50 {statistics.median(during) / statistics.median(idle):.2f}×, "
        f"p95 {percentile(during, 95) / percentile(idle, 95):.2f}× (target ≤ 1.5×); the build {still}"
    )
    if args.report:
        load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
        command = "python -m eval.bench_build " + " ".join(sys.argv[1:])
        text = [
            "# Index build benchmark",
            "",
            f"`{command}` — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
            f"load average at the end {load} (1/5/15 min).",
            "",
            "```",
            *lines,
            "```",
            "",
        ]
        args.report.write_text("\n".join(text), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
