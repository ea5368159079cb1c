"""Staff command line: knowledge files, the index, and cases.

    python -m actions.cli check                       # every problem as file:line: field: message
    python -m actions.cli index                       # (re)build the index; the running bot picks it up
    python -m actions.cli report [--out FILE]         # per document: sources, unverified passages, review due, asks
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
    python -m actions.cli personal-data export --sender tg-123456 [-o copy.json]   # a person's copy (PIPL)
    python -m actions.cli personal-data delete --company "Example Co., Ltd." [--yes]  # erase it all
    python -m actions.cli purge [--days 365] [--dry-run]   # clear closed cases' contacts after RETENTION_DAYS
    python -m actions.cli accounts add alice --role staff           # a console account; asks for the password
    python -m actions.cli accounts add bob --role expert --expert-id exp-002
    python -m actions.cli accounts list | disable NAME | enable NAME | password NAME

Imports nothing heavy at module level (rasa-sdk imports every module of this package).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...), +cmd|...);
# a leading single quote makes it text (OWASP, "CSV Injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
PIPL_NOTE = (
    "China's Personal Information Protection Law (PIPL, arts. 45 and 47) gives a person the right to a "
    "copy of their personal information and to its deletion: export answers the first, delete the second."
)


def spreadsheet_cell(value: Any) -> Any:
    """A value for a CSV cell that a spreadsheet shows as text, never runs as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _check(args: argparse.Namespace) -> int:
    from actions.alerts.service import load_alerts
    from actions.answers.requests import known_citations, load_request_policy, missing_citations
    from actions.cases.experts import load_experts
    from actions.cases.staff import load_staff
    from actions.knowledge import load_knowledge
    from actions.retrieval.glossary import load_glossary, missing_playbooks
    from actions.risk.rules import load_rules
    from actions.settings import PROJECT_ROOT, get_settings

    settings = get_settings()
    documents, problems = load_knowledge(settings.knowledge_dir, PROJECT_ROOT, max_age_days=args.max_age_days)
    experts_file = settings.knowledge_dir / "experts.yml"
    experts, expert_problems = load_experts(experts_file, PROJECT_ROOT) if experts_file.exists() else ([], [])
    problems += expert_problems
    staff, staff_problems = load_staff(settings.staff_file, PROJECT_ROOT)
    problems += staff_problems
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
        f"{len(documents)} documents, {sections} sections, {len(experts)} experts, {len(staff)} staff, {risk}, "
        f"{len(alerts)} alerts, "
        f"{len(glossary.groups)} glossary groups, {len(policy.categories) if policy else 'no valid'} request categories: "
        f"{errors} errors, {warnings} warnings",
        file=sys.stderr,
    )
    return 1 if errors else 0


def _report(args: argparse.Namespace) -> int:
    from datetime import date
    from pathlib import Path

    from actions.knowledge import load_knowledge
    from actions.knowledge_report import knowledge_status, markdown_report, terminal_table
    from actions.settings import PROJECT_ROOT, get_settings

    today = date.today()
    documents, problems = load_knowledge(
        get_settings().knowledge_dir, PROJECT_ROOT, today=today, max_age_days=args.max_age_days
    )
    left_out = sorted({p.path for p in problems if p.severity == "error"})
    rows = knowledge_status(documents, today, args.max_age_days)
    out = Path(args.out) if args.out else PROJECT_ROOT / ".run" / "knowledge-report.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown_report(rows, today, args.max_age_days, left_out), encoding="utf-8")
    print(terminal_table(rows))
    for path in left_out:
        print(f"{path}: left out of the report, it has errors (make check-knowledge shows them)", file=sys.stderr)
    print(f"{len(rows)} documents, riskiest first; written to {out}", file=sys.stderr)
    return 0


def _index(args: argparse.Namespace) -> int:
    from actions.retrieval.build import build_index
    from actions.retrieval.passage import KnowledgeInvalidError
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
    from pathlib import Path

    from sqlalchemy import select

    from actions.cases.experts import load_experts
    from actions.cases.service import add_event, assign, find_case, status_lines
    from actions.privacy import open_private, printable
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
                    f"{c.case_no}  {c.status:8} {urgent}{c.country} {c.ip_type} {c.incident_type}  "
                    f"{printable(c.enterprise)}  {printable(c.expert_name or '-')}"
                )
            return 0
        if args.verb == "export":
            if not args.case_no:
                print("cases export needs the CSV file to write", file=sys.stderr)
                return 2
            with open_private(Path(args.case_no), "w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out)
                columns = [col.name for col in Case.__table__.columns]
                writer.writerow(columns)
                for c in s.scalars(select(Case).order_by(Case.id)):
                    writer.writerow([spreadsheet_cell(getattr(c, name)) for name in columns])
            print(f"exported to {args.case_no} (readable only by you: it holds contact details)")
            return 0
        case = find_case(s, args.case_no or "")
        if case is None:
            print(f"no case {args.case_no}", file=sys.stderr)
            return 1
        assert case.case_no is not None  # found by its number
        if args.verb == "show":
            print("\n".join(printable(line) for line in status_lines(case, "en")))
            print(
                f"enterprise: {printable(case.enterprise)} · contact: {printable(case.contact_kind)}:"
                f"{printable(case.contact)} · deadline: {case.deadline or '-'}"
            )
            print(f"respond by: {case.respond_by:%Y-%m-%d %H:%M} UTC ({case.promised_hours} h promised)")
            for o in case.offers:
                print(
                    f"  offer round {o.round} #{o.rank}: {o.expert_id} {printable(o.expert_name)} — {o.state} ({o.reasons})"
                )
            print(f"\n{printable(case.description, keep_newlines=True)}")
        elif args.verb == "assign":
            experts, _ = load_experts(settings.experts_file)
            expert = next((e for e in experts if e.id == args.expert_or_text), None)
            if expert is None:
                print(f"no expert {args.expert_or_text} in {settings.experts_file}", file=sys.stderr)
                return 1
            if assign(s, case.case_no, expert) is None:
                print(f"{case.case_no} is closed: not assigned", file=sys.stderr)
                return 1
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

    from actions.privacy import printable
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
                f"{r.id:5} {r.status:9} {r.kind:16} {r.channel}:{printable(r.recipient)}  attempts={r.attempts}  "
                f"{printable(r.last_error or '')}"
            )
    return 0


def _alerts(args: argparse.Namespace) -> int:
    from datetime import date

    from sqlalchemy import select

    from actions.alerts.service import delivery_counts, has_errors, load_alerts, publish
    from actions.privacy import printable
    from actions.settings import PROJECT_ROOT, get_settings
    from actions.store import AlertSubscription, migrate, session_scope

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
                    f"{printable(sub.sender_id):24} {sub.channel}:{printable(sub.recipient)}  {sub.market} {sub.industry}  "
                    f"{sub.language}  since {sub.created_at:%Y-%m-%d}"
                )
            return 0
        counts = delivery_counts(s)
    for alert in sorted(alerts, key=lambda a: a.published, reverse=True):
        sent = counts.get(alert.id, {})
        sample = " [sample]" if alert.sample else ""
        print(
            f"{alert.id:32} {alert.status(today):9} {alert.severity:7} {','.join(alert.markets):10} "
            f"{','.join(alert.industries):14} until {alert.valid_until}  "
            f"delivered {sent.get('delivered', 0)}, waiting {sent.get('pending', 0)}{sample}"
        )
    return 1 if has_errors(problems) else 0


def _trackers(settings: Any) -> Any:
    """A transaction on Rasa's tracker store database when it is not the case database, else a null context."""
    from actions.personal_data import tracker_session

    return tracker_session(settings.database_url, settings.conversations_url)


def _personal_data(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from actions.personal_data import Subject, collect, erase, holdings, remove_documents, strike_from_sink
    from actions.privacy import open_private, printable
    from actions.settings import get_settings
    from actions.store import migrate, session_scope

    settings = get_settings()
    subject = Subject(sender_id=args.sender, company=args.company)
    migrate(settings.database_url)
    if args.verb == "export":
        with session_scope(settings.database_url) as s, _trackers(settings) as trackers:
            data = collect(s, subject, trackers)
        text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
        if args.out:
            with open_private(Path(args.out), "w", encoding="utf-8") as out:
                out.write(text)
            print(
                f"{printable(subject.describe())}: {len(data['cases'])} cases exported to {args.out} (readable only by you)"
            )
        else:
            sys.stdout.write(text)
        return 0
    with session_scope(settings.database_url) as s, _trackers(settings) as trackers:
        held = holdings(s, subject, trackers)
    print(f"held about {printable(subject.describe())}:")
    for line in held.lines():
        print(f"  {line}")
    if held.other_conversations:
        print(
            "  these conversations opened the company's cases; their subscriptions and history are kept unless you "
            "also delete by --sender: " + ", ".join(printable(c) for c in held.other_conversations)
        )
    if not args.yes:
        try:
            answer = input("Delete all of this for good? Type 'yes' to confirm: ")
        except EOFError:
            answer = ""
        if answer.strip().lower() != "yes":
            print("nothing deleted", file=sys.stderr)
            return 1
    with session_scope(settings.database_url) as s, _trackers(settings) as trackers:
        erased, removed = erase(s, subject, trackers)
    remove_documents(settings.attachments_dir, erased.document_files)
    struck = strike_from_sink(settings.notifier_sink, removed)
    print(
        f"deleted everything held about {printable(subject.describe())}" + (f"; {struck} sink lines" if struck else "")
    )
    return 0


def _purge(args: argparse.Namespace) -> int:
    from actions.personal_data import purge, remove_documents, strike_from_sink
    from actions.settings import get_settings
    from actions.store import migrate, session_scope

    settings = get_settings()
    days = args.days or settings.retention_days
    migrate(settings.database_url)
    with session_scope(settings.database_url) as s, _trackers(settings) as trackers:
        report = purge(s, days, dry_run=args.dry_run, trackers=trackers)
    if not args.dry_run:
        remove_documents(settings.attachments_dir, report.document_files)
    struck = 0 if args.dry_run else strike_from_sink(settings.notifier_sink, report.sink_keys)
    print(f"retention {days} days" + (" (dry run: nothing changed)" if args.dry_run else "") + ":")
    for line in report.lines():
        print(f"  {line}")
    if struck:
        print(f"  lines struck from {settings.notifier_sink}: {struck}")
    return 0


def _read_password(settings: Any) -> str | None:
    """The new account's password: CONSOLE_PASSWORD when set, else asked twice (never a command-line argument,
    which other local users could read with `ps`)."""
    import getpass

    if settings.console_password:
        return str(settings.console_password)
    try:
        first = getpass.getpass("Password (at least 12 characters): ")
        again = getpass.getpass("The same password again: ")
    except EOFError:
        return None
    return first if first == again else None


def _accounts(args: argparse.Namespace) -> int:
    from actions.accounts import AccountError, accounts, create_account, set_active, set_password
    from actions.cases.experts import load_experts
    from actions.privacy import printable
    from actions.settings import get_settings
    from actions.store import migrate, session_scope

    settings = get_settings()
    migrate(settings.database_url)
    if args.verb == "list":
        with session_scope(settings.database_url) as s:
            for a in accounts(s):
                state = "active" if a.active else "disabled"
                last = f"{a.last_login_at:%Y-%m-%d %H:%M}" if a.last_login_at else "never"
                print(f"{printable(a.username):24} {a.role:7} {a.expert_id or '-':8} {state:9} last sign-in {last}")
        return 0
    if not args.username:
        print(f"accounts {args.verb} needs the username", file=sys.stderr)
        return 2
    if args.verb in ("disable", "enable"):
        with session_scope(settings.database_url) as s:
            found = set_active(s, args.username, args.verb == "enable")
        if found is None:
            print(f"no account {printable(args.username)}", file=sys.stderr)
            return 1
        print(f"{printable(args.username)}: {args.verb}d")
        return 0
    if args.verb == "password":
        with session_scope(settings.database_url) as s:
            known = any(a.username == args.username.strip().lower() for a in accounts(s))
        if not known:
            print(f"no account {printable(args.username)}", file=sys.stderr)
            return 1
        new_password = _read_password(settings)
        if new_password is None:
            print("the two passwords differ (or none was given): nothing changed", file=sys.stderr)
            return 1
        try:
            with session_scope(settings.database_url) as s:
                changed = set_password(s, args.username, new_password)
        except AccountError as exc:
            print(f"nothing changed: {exc}", file=sys.stderr)
            return 1
        if changed is None:
            print(f"no account {printable(args.username)}", file=sys.stderr)
            return 1
        print(f"{printable(args.username)}: new password set")
        return 0
    if args.role == "expert":
        experts, _ = load_experts(settings.experts_file)
        if not any(e.id == args.expert_id for e in experts):
            print(f"no expert {printable(args.expert_id)} in {settings.experts_file}", file=sys.stderr)
            return 1
    password = _read_password(settings)
    if password is None:
        print("the two passwords differ (or none was given): no account created", file=sys.stderr)
        return 1
    try:
        with session_scope(settings.database_url) as s:
            account = create_account(s, args.username, args.role, password, args.expert_id)
    except AccountError as exc:
        print(f"no account created: {exc}", file=sys.stderr)
        return 1
    print(
        f"account {printable(account.username)} ({account.role}) created; sign in at {settings.console_base_url}/login"
    )
    return 0


def _figures(args: argparse.Namespace) -> int:
    from actions.cases.figures import figures, write_chart, write_csv
    from actions.settings import get_settings
    from actions.store import migrate, session_scope

    settings = get_settings()
    migrate(settings.database_url)
    with session_scope(settings.database_url) as s:
        result = figures(s, since=args.since)
    for line in result.lines():
        print(line)
    if args.csv:
        write_csv(result, Path(args.csv))
        print(f"one row per case: {args.csv}")
    if args.chart:
        write_chart(result, Path(args.chart))
        print(f"chart: {args.chart}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Runs one staff command."""
    parser = argparse.ArgumentParser(prog="python -m actions.cli", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="validate the knowledge files")
    check.add_argument("--max-age-days", type=int, default=365, help="warn when last_reviewed is older")
    check.set_defaults(func=_check)
    report = commands.add_parser(
        "report",
        help="per document: official/secondary sources, unverified passages, review due, asks coverage",
        description="One line per knowledge document, riskiest first (no official source, then the most "
        "passages marked unverified, then the soonest review), printed and written as Markdown.",
    )
    report.add_argument("--out", help="the Markdown file to write (default: .run/knowledge-report.md)")
    report.add_argument("--max-age-days", type=int, default=365, help="a review is due this long after last_reviewed")
    report.set_defaults(func=_report)
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
    personal = commands.add_parser(
        "personal-data",
        help="export or delete everything held about one conversation or one company (PIPL requests)",
        description="Everything the bot holds about one conversation (its sender id, e.g. tg-<chat id>) or one "
        "company (its name as entered in the case form): cases with their history, expert offers and notifications, "
        "alert subscriptions, and the conversation history when a SQL tracker store keeps it. " + PIPL_NOTE,
    )
    personal.add_argument("verb", choices=["export", "delete"], help="export: a JSON copy; delete: erase it all")
    who = personal.add_mutually_exclusive_group(required=True)
    who.add_argument("--sender", help="the conversation's sender id (tg-<chat id> for Telegram)")
    who.add_argument("--company", help="the company's name as in its cases (case-insensitive)")
    personal.add_argument("-o", "--out", help="export: the JSON file to write (default: standard output)")
    personal.add_argument("--yes", action="store_true", help="delete without asking for confirmation")
    personal.set_defaults(func=_personal_data)
    purge = commands.add_parser(
        "purge",
        help="clear personal data older than RETENTION_DAYS (closed cases' contacts, old notifications)",
        description="Clears closed cases' contact, description and notes (and their notifications' texts) once "
        "the case has been closed and unchanged for RETENTION_DAYS (default 365), deletes delivered alert "
        "notifications that old, the records of alerts sent to conversations that have unsubscribed, and "
        "conversations idle that long in a SQL tracker store. The notifier runs it once a day.",
    )
    purge.add_argument("--days", type=int, help="retention in days (default: RETENTION_DAYS)")
    purge.add_argument("--dry-run", action="store_true", help="only count what would be cleared")
    purge.set_defaults(func=_purge)
    numbers = commands.add_parser(
        "figures",
        help="the service's figures: cases per month by market and incident, time to acceptance, within promise",
    )
    numbers.add_argument("--since", help="only cases opened in or after this month (YYYY-MM)")
    numbers.add_argument("--csv", help="write one row per case (no names or contacts) to this CSV file")
    numbers.add_argument("--chart", help="write the charts to this PNG file")
    numbers.set_defaults(func=_figures)
    accounts = commands.add_parser(
        "accounts",
        help="the console's accounts: add (staff or an expert), list, disable, enable, password (a new one)",
        description="Accounts of the staff and expert console. The password of a new account is asked for "
        "(or read from CONSOLE_PASSWORD); only its Argon2id hash is stored.",
    )
    accounts.add_argument("verb", choices=["add", "list", "disable", "enable", "password"])
    accounts.add_argument("username", nargs="?", help="the account's name (lower-case)")
    accounts.add_argument("--role", choices=["staff", "expert"], default="staff")
    accounts.add_argument("--expert-id", help="for --role expert: the expert's id in knowledge/experts.yml")
    accounts.set_defaults(func=_accounts)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
