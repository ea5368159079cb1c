"""Staff command line: knowledge files, the index, and cases.

    python -m actions.cli check                       # every problem as file:line: field: message
    python -m actions.cli index                       # (re)build the index; the running bot picks it up
    python -m actions.cli cases list [--status open]  # cases, newest first
    python -m actions.cli cases show IP-2026-000001   # one case with its history and offers
    python -m actions.cli cases assign IP-2026-000001 exp-003
    python -m actions.cli cases note IP-2026-000001 "text"   # the enterprise is told
    python -m actions.cli cases close IP-2026-000001 [--note "text"]
    python -m actions.cli cases export cases.csv
    python -m actions.cli outbox [--all]              # notifications not yet delivered (or all)
    python -m actions.cli alerts check                # validate knowledge/alerts/*.yml
    python -m actions.cli alerts list                 # every alert: active / scheduled / expired, how many sent
    python -m actions.cli alerts publish [--dry-run]  # queue active alerts for their subscribers, exactly once
    python -m actions.cli alerts subscriptions        # who subscribed to what

Imports nothing heavy at module level (rasa-sdk imports every module of this package).
"""

from __future__ import annotations

import argparse
import sys


def _check(args: argparse.Namespace) -> int:
    from actions.alerts import load_alerts
    from actions.experts import load_experts
    from actions.glossary import load_glossary, missing_playbooks
    from actions.knowledge import load_knowledge
    from actions.requests import known_citations, load_request_policy, missing_citations
    from actions.selfcheck import load_rules
    from actions.settings import PROJECT_ROOT, get_settings

    settings = get_settings()
    documents, problems = load_knowledge(settings.knowledge_dir, PROJECT_ROOT, max_age_days=args.max_age_days)
    experts_file = settings.knowledge_dir / "experts.yml"
    experts, expert_problems = load_experts(experts_file, PROJECT_ROOT) if experts_file.exists() else ([], [])
    problems += expert_problems
    rules = None
    if settings.risk_rules_file.exists():
        rules, rule_problems = load_rules(settings.risk_rules_file, documents, PROJECT_ROOT)
        problems += rule_problems
    alerts, alert_problems = load_alerts(settings.alerts_dir, PROJECT_ROOT)
    problems += alert_problems
    glossary, glossary_problems = load_glossary(settings.knowledge_dir, PROJECT_ROOT)
    problems += glossary_problems
    problems += missing_playbooks(glossary, {d.meta.id for d in documents}, settings.knowledge_dir, PROJECT_ROOT)
    policy, request_problems = load_request_policy(settings.requests_file, PROJECT_ROOT)
    problems += request_problems
    if policy is not None:
        problems += missing_citations(policy, known_citations(documents))
    for problem in problems:
        print(problem)
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    sections = sum(len(d.sections) for d in documents)
    risk = f"{len(rules.factors)} risk factors" if rules else "no valid risk rules"
    print(
        f"{len(documents)} documents, {sections} sections, {len(experts)} experts, {risk}, {len(alerts)} alerts, "
        f"{len(glossary.groups)} glossary groups, {len(policy.categories) if policy else 'no valid'} request categories: "
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


def _cases(args: argparse.Namespace) -> int:
    import csv

    from sqlalchemy import select

    from actions.cases import add_event, assign, find_case, status_lines
    from actions.experts import load_experts
    from actions.settings import get_settings
    from actions.store import Case, migrate, session_scope

    settings = get_settings()
    migrate(settings.database_url)
    with session_scope(settings.database_url) as s:
        if args.verb == "list":
            query = select(Case).order_by(Case.id.desc())
            if args.status:
                query = query.where(Case.status == args.status)
            for c in s.scalars(query):
                urgent = "URGENT " if c.urgent else ""
                print(
                    f"{c.case_no}  {c.status:8} {urgent}{c.country} {c.ip_type} {c.incident_type}  {c.enterprise}  {c.expert_name or '-'}"
                )
            return 0
        if args.verb == "export":
            with open(args.case_no, "w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out)
                columns = [col.name for col in Case.__table__.columns]
                writer.writerow(columns)
                for c in s.scalars(select(Case).order_by(Case.id)):
                    writer.writerow([getattr(c, name) for name in columns])
            print(f"exported to {args.case_no}")
            return 0
        case = find_case(s, args.case_no or "")
        if case is None:
            print(f"no case {args.case_no}", file=sys.stderr)
            return 1
        if args.verb == "show":
            print("\n".join(status_lines(case, "en")))
            print(
                f"enterprise: {case.enterprise} · contact: {case.contact_kind}:{case.contact} · deadline: {case.deadline or '-'}"
            )
            print(f"respond by: {case.respond_by:%Y-%m-%d %H:%M} UTC ({case.promised_hours} h promised)")
            for o in case.offers:
                print(f"  offer round {o.round} #{o.rank}: {o.expert_id} {o.expert_name} — {o.state} ({o.reasons})")
            print(f"\n{case.description}")
        elif args.verb == "assign":
            experts, _ = load_experts(settings.experts_file)
            expert = next((e for e in experts if e.id == args.expert_or_text), None)
            if expert is None:
                print(f"no expert {args.expert_or_text} in {settings.experts_file}", file=sys.stderr)
                return 1
            assign(s, case.case_no, expert)
            print(f"{case.case_no} assigned to {expert.name}")
        elif args.verb == "note":
            add_event(s, case.case_no, "note", "staff", args.expert_or_text or "")
            print(f"note added to {case.case_no}")
        elif args.verb == "close":
            add_event(s, case.case_no, "closed", "staff", args.note or "")
            print(f"{case.case_no} closed")
    return 0


def _outbox(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from actions.settings import get_settings
    from actions.store import OutboxMessage, migrate, session_scope

    settings = get_settings()
    migrate(settings.database_url)
    with session_scope(settings.database_url) as s:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if not args.all:
            query = query.where(OutboxMessage.status != "delivered")
        for r in s.scalars(query):
            print(
                f"{r.id:5} {r.status:9} {r.kind:16} {r.channel}:{r.recipient}  attempts={r.attempts}  {r.last_error or ''}"
            )
    return 0


def _alerts(args: argparse.Namespace) -> int:
    from datetime import date

    from sqlalchemy import func, select

    from actions.alerts import has_errors, load_alerts, publish
    from actions.settings import PROJECT_ROOT, get_settings
    from actions.store import AlertDelivery, AlertSubscription, OutboxMessage, migrate, session_scope

    settings = get_settings()
    today = date.today()
    if args.verb == "publish":
        migrate(settings.database_url)
        report = publish(settings.alerts_dir, settings.database_url, PROJECT_ROOT, today, dry_run=args.dry_run)
        for problem in report.problems:
            print(problem, file=sys.stderr)
        if not report.ok:
            print("alert files have errors: nothing was published", file=sys.stderr)
            return 1
        verb = "would be queued for" if args.dry_run else "queued for"
        for alert in report.alerts:
            status = alert.status(today)
            if status == "active":
                print(f"{alert.id}: {verb} {report.queued.get(alert.id, 0)} new subscriber(s)")
            else:
                print(f"{alert.id}: {status}, not sent")
        return 0
    alerts, problems = load_alerts(settings.alerts_dir, PROJECT_ROOT, today)
    for problem in problems:
        print(problem, file=sys.stderr)
    if args.verb == "check":
        errors = sum(p.severity == "error" for p in problems)
        print(f"{len(alerts)} valid alert files, {errors} errors", file=sys.stderr)
        return 1 if errors else 0
    migrate(settings.database_url)
    with session_scope(settings.database_url) as s:
        if args.verb == "subscriptions":
            for sub in s.scalars(select(AlertSubscription).order_by(AlertSubscription.id)):
                print(
                    f"{sub.sender_id:24} {sub.channel}:{sub.recipient}  {sub.market} {sub.industry}  "
                    f"{sub.language}  since {sub.created_at:%Y-%m-%d}"
                )
            return 0
        rows = s.execute(
            select(AlertDelivery.alert_id, OutboxMessage.status, func.count())
            .join(OutboxMessage, OutboxMessage.id == AlertDelivery.outbox_id)
            .group_by(AlertDelivery.alert_id, OutboxMessage.status)
        )
        counts = {(alert_id, status): n for alert_id, status, n in rows}
    for alert in sorted(alerts, key=lambda a: a.published, reverse=True):
        sent = {st: n for (a, st), n in counts.items() if a == alert.id}
        sample = " [sample]" if alert.sample else ""
        print(
            f"{alert.id:32} {alert.status(today):9} {alert.severity:7} {','.join(alert.markets):10} "
            f"{','.join(alert.industries):14} until {alert.valid_until}  "
            f"delivered {sent.get('delivered', 0)}, waiting {sent.get('pending', 0)}{sample}"
        )
    return 1 if has_errors(problems) else 0


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
    cases = commands.add_parser("cases", help="list, show, assign, note, close or export cases")
    cases.add_argument("verb", choices=["list", "show", "assign", "note", "close", "export"])
    cases.add_argument("case_no", nargs="?", help="case number (or the CSV file for export)")
    cases.add_argument("expert_or_text", nargs="?", help="expert id (assign) or the note's text (note)")
    cases.add_argument("--status", choices=["open", "accepted", "closed"])
    cases.add_argument("--note", help="closing note")
    cases.set_defaults(func=_cases)
    outbox = commands.add_parser("outbox", help="notifications not yet delivered")
    outbox.add_argument("--all", action="store_true", help="delivered ones too")
    outbox.set_defaults(func=_outbox)
    alerts = commands.add_parser("alerts", help="check, list or publish market alerts; list subscriptions")
    alerts.add_argument("verb", choices=["check", "list", "publish", "subscriptions"])
    alerts.add_argument("--dry-run", action="store_true", help="publish: only count who would get what")
    alerts.set_defaults(func=_alerts)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
