"""The evaluators' toolkit in one command (what `make eval` runs):

    python -m eval.run                       # everything → eval/reports/evaluation.md; exit 1 on a failure
    python -m eval.run --check               # only validate eval/conversations and eval/answers
    python -m eval.run --stages conversations --tags smoke
    python -m eval.run --stages conversations,answers eval/conversations/cases.yml --names 'zh-*'
    python -m eval.run --rasa-url http://127.0.0.1:5005 [--database-url sqlite:///.data/ipbot.db]

Stages, in order: conversations and answers (eval/answers/dev/ and eval/answers/test/, reported
apart), both against the live bot (a private stack on free ports with its own copies of
knowledge/, the index and the case database, or the bot at --rasa-url),
stories (`rasa test core` on bot/tests), nlu (`rasa test nlu` cross-validation), retrieval
(eval/retrieval's labelled questions). The exit code is 1 when a conversation or a test story
fails, 2 when a test file is malformed (every problem printed as file:line: where: message).
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bot.stack import ROOT
from eval.toolkit.answers import SPLITS, ask_all, load_answer_set, load_signals
from eval.toolkit.bot import Bot, RestBot, private_stack
from eval.toolkit.conversations import ConversationResult, render_transcript, run_conversation
from eval.toolkit.nlu import cross_validate, diet_epochs, load_predictions, rasa_summary, run_stories
from eval.toolkit.report import REPORTS, Results, write_report
from eval.toolkit.spec import load_conversations, load_vocabulary, select

STAGES = ("conversations", "answers", "stories", "nlu", "retrieval")
TRANSCRIPTS = REPORTS / "transcripts"
WORK = REPORTS / "tmp"  # raw outputs and stack logs (gitignored)


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _stages(value: str) -> list[str]:
    stages = _csv(value)
    unknown = [s for s in stages if s not in STAGES]
    if unknown or not stages:
        raise argparse.ArgumentTypeError(f"unknown stage(s) {unknown}; choose from {','.join(STAGES)}")
    return stages


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m eval.run", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="conversation files (default: eval/conversations/*.yml)")
    parser.add_argument(
        "--stages", type=_stages, default=list(STAGES), help=f"comma-separated, from {','.join(STAGES)}"
    )
    parser.add_argument(
        "--tags", type=_csv, default=[], help="only conversations with any of these tags (comma-separated)"
    )
    parser.add_argument(
        "--names", type=_csv, default=[], help="only conversations whose name matches (globs, comma-separated)"
    )
    parser.add_argument("--check", action="store_true", help="only validate the test files")
    parser.add_argument("--rasa-url", help="a running bot (rasa run --enable-api); default: start a private stack")
    parser.add_argument("--database-url", help="that bot's case store, for case_created checks")
    parser.add_argument("--folds", type=int, default=3, help="NLU cross-validation folds (default 3)")
    parser.add_argument(
        "--report", type=Path, help="write the report here (default: eval/reports/evaluation.md on a full run)"
    )
    parser.add_argument("--quiet", action="store_true", help="do not print failing transcripts on the terminal")
    return parser.parse_args(argv)


def git_commit() -> str:
    """The current commit (short), with '+changes' when the work tree differs from it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        return commit + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return ""


@contextlib.contextmanager
def live_bot(args: argparse.Namespace, results: Results) -> Iterator[Bot]:
    """The bot at --rasa-url, or a private stack that is always stopped afterwards."""
    if args.rasa_url:
        bot = RestBot(args.rasa_url.rstrip("/"), args.database_url)
        if not bot.reachable():
            raise RuntimeError(f"no Rasa REST channel answers at {args.rasa_url}/webhooks/rest/")
        results.bot = f"{args.rasa_url}" + (f" with the case store {args.database_url}" if args.database_url else "")
        yield bot
        return
    tqdm.write("starting a private stack (Rasa + action server on free ports; logs in eval/reports/tmp/logs) …")
    with private_stack(logs_to=WORK / "logs") as stack:
        results.stack_start_seconds = stack.started_in
        results.bot = (
            f"a private stack started by the runner (Rasa :{stack.stack.rasa_port}, actions :{stack.stack.action_port})"
        )
        tqdm.write(f"stack healthy after {stack.started_in:.0f} s")
        yield stack.bot


def run_conversations(
    conversations: list[Any], bot: Bot, args: argparse.Namespace, full: bool
) -> tuple[list[ConversationResult], dict[str, str]]:
    """Runs each conversation; failing ones are printed and written to eval/reports/transcripts/."""
    if full:
        shutil.rmtree(TRANSCRIPTS, ignore_errors=True)
    TRANSCRIPTS.mkdir(parents=True, exist_ok=True)
    results, links = [], {}
    for conv in tqdm(conversations, desc="conversations", unit="conv"):
        result = run_conversation(conv, bot)
        results.append(result)
        path = TRANSCRIPTS / f"{conv.name}.txt"
        if result.ok:
            path.unlink(missing_ok=True)
            continue
        transcript = render_transcript(result)
        path.write_text(transcript, encoding="utf-8")
        links[conv.name] = f"transcripts/{path.name}"
        if not args.quiet:
            tqdm.write("\n" + transcript)
    return results, links


@contextlib.contextmanager
def stage(results: Results, name: str) -> Iterator[None]:
    """Runs one stage; an error is recorded (and printed) and the other stages still run."""
    try:
        yield
    except Exception as exc:  # a broken stage must not hide the results of the others
        results.stage_errors[name] = f"{type(exc).__name__}: {exc}"
        tqdm.write(f"stage {name} failed: {type(exc).__name__}: {exc}")


def run_retrieval() -> tuple[dict[str, Any], str]:
    """eval/retrieval's measures for the default embedding backend (its own incremental index)."""
    from actions.retrieval.build import build_index
    from actions.retrieval.search import KnowledgeIndex
    from actions.settings import PROJECT_ROOT, get_settings
    from eval.retrieval.run import evaluate, load_negatives, load_questions

    base = get_settings()
    settings = base.model_copy(update={"index_dir": PROJECT_ROOT / ".index" / "eval" / base.embedding_backend})
    build_index(settings, progress=False, log=lambda _: None)
    index = KnowledgeIndex.load(settings)
    backend = settings.embedding_id.split(":", 1)[-1]
    return evaluate(index, load_questions(), load_negatives(), "retrieval"), backend


def main(argv: list[str] | None = None) -> int:
    """Validates the test files, runs the chosen stages, writes the report; returns the exit code."""
    args = parse_args(argv)
    started = time.perf_counter()

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)  # `finally` blocks stop the stack and Rasa's subprocesses
    vocab = load_vocabulary()
    conversations, errors = load_conversations(args.files or None, vocab)
    items, answer_errors = load_answer_set(vocab=vocab)
    for e in [*errors, *answer_errors]:
        print(e, file=sys.stderr)
    if errors or answer_errors:
        print(f"{len(errors) + len(answer_errors)} problem(s) in the test files; nothing was run.", file=sys.stderr)
        return 2
    conversations = select(conversations, args.tags, args.names)
    parts = ", ".join(f"{part} {sum(i.split == part for i in items)}" for part in SPLITS)
    print(f"{len(conversations)} conversations, {len(items)} labelled answers ({parts}): the files are valid.")
    if args.check:
        return 0
    stages = [s for s in STAGES if s in args.stages]
    full = stages == list(STAGES) and not (args.files or args.tags or args.names)
    results = Results(
        command=("python -m eval.run " + shlex.join(argv if argv is not None else sys.argv[1:])).strip(),
        started=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        commit=git_commit(),
        domain_intents=sorted(vocab.intents - {"nlu_fallback"}),
    )
    WORK.mkdir(parents=True, exist_ok=True)
    try:
        if "conversations" in stages or "answers" in stages:
            with stage(results, "live bot"), live_bot(args, results) as bot:
                if "conversations" in stages:
                    results.conversations, results.transcripts = run_conversations(conversations, bot, args, full)
                if "answers" in stages:
                    with tqdm(total=len(items), desc="answers", unit="q") as bar:
                        results.answers = ask_all(items, bot, load_signals(), bar)
        if "stories" in stages:
            with stage(results, "stories"):
                tqdm.write("rasa test core on bot/tests …")
                results.stories = run_stories(WORK / "stories")
        if "nlu" in stages:
            with stage(results, "nlu"):
                results.folds = args.folds
                total = args.folds * diet_epochs()
                with tqdm(total=total, desc=f"NLU {args.folds}-fold CV (DIET epochs)", unit="ep") as bar:
                    results.nlu_seconds = cross_validate(WORK / "nlu", args.folds, bar)
                results.nlu = load_predictions(WORK / "nlu")
                results.nlu_rasa = rasa_summary(WORK / "nlu")
        if "retrieval" in stages:
            with stage(results, "retrieval"):
                results.retrieval, results.retrieval_backend = run_retrieval()
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped.", file=sys.stderr)
        return 130
    results.seconds = time.perf_counter() - started
    report = args.report or (REPORTS / "evaluation.md" if full else None)
    if report is not None:
        path = write_report(results, report.parent)
        if path != report:
            path.rename(report)
        print(f"report: {report.relative_to(ROOT) if report.is_relative_to(ROOT) else report}")
    return summary(results)


def summary(r: Results) -> int:
    """Prints the headline numbers and returns the exit code."""
    code = 0
    if r.conversations is not None:
        failed = [c for c in r.conversations if not c.ok]
        print(f"conversations: {len(r.conversations) - len(failed)} passed, {len(failed)} failed")
        for c in failed:
            link = r.transcripts.get(c.conversation.name, "")
            print(f"  ✗ {c.conversation.name} ({c.conversation.where}) → eval/reports/{link}")
        code = 1 if failed else code
    if r.answers:
        from eval.toolkit.answers import summarise

        t = summarise(r.answers, lambda s: f"{s.item.split} {s.item.lang}")
        for group in (f"{part} {lang}" for part in SPLITS for lang in ("zh", "en")):
            if group in t:
                s = t[group]
                print(
                    f"answers {group}: behaviour {s['behaviour']:.0%}, right doc {s['right_doc'] or 0:.0%}, "
                    f"facts {s['coverage'] or 0:.0%}, refusals {s['refusals'] or 0:.0%}, "
                    f"{s['failed']} failing (n={s['n']})"
                )
    if r.nlu:
        from eval.toolkit.nlu import by_language

        stats = by_language(r.nlu)
        print("NLU macro F1: " + ", ".join(f"{k} {v['macro_f1']:.3f}" for k, v in stats.items()))
    if r.stories:
        print(f"stories: {r.stories.correct}/{r.stories.total} right")
        code = 1 if not r.stories.ok else code
    for name, error in r.stage_errors.items():
        print(f"stage {name} failed: {error}")
        code = 1
    print(f"took {r.seconds / 60:.1f} min")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
