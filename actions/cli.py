"""Staff command line: check the knowledge files, build the index.

    python -m actions.cli check            # every problem as file:line: field: message
    python -m actions.cli index            # (re)build the index; the running bot picks it up

Imports nothing heavy at module level (rasa-sdk imports every module of this package).
"""

from __future__ import annotations

import argparse
import sys


def _check(args: argparse.Namespace) -> int:
    from actions.experts import load_experts
    from actions.knowledge import load_knowledge
    from actions.settings import PROJECT_ROOT, get_settings

    settings = get_settings()
    documents, problems = load_knowledge(settings.knowledge_dir, PROJECT_ROOT, max_age_days=args.max_age_days)
    experts_file = settings.knowledge_dir / "experts.yml"
    experts, expert_problems = load_experts(experts_file, PROJECT_ROOT) if experts_file.exists() else ([], [])
    problems += expert_problems
    for problem in problems:
        print(problem)
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    sections = sum(len(d.sections) for d in documents)
    print(
        f"{len(documents)} documents, {sections} sections, {len(experts)} experts: "
        f"{errors} errors, {warnings} warnings",
        file=sys.stderr,
    )
    return 1 if errors else 0


def _index(args: argparse.Namespace) -> int:
    from actions.retrieval import KnowledgeInvalidError, build_index
    from actions.settings import get_settings

    try:
        build_index(get_settings(), progress=not args.quiet)
    except KnowledgeInvalidError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print("index not rebuilt: the last good index keeps serving", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Runs one staff command."""
    parser = argparse.ArgumentParser(prog="python -m actions.cli", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="validate the knowledge files")
    check.add_argument("--max-age-days", type=int, default=365, help="warn when last_reviewed is older")
    check.set_defaults(func=_check)
    index = commands.add_parser("index", help="build the retrieval index")
    index.add_argument("--quiet", action="store_true", help="no progress bar")
    index.set_defaults(func=_index)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
