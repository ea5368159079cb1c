"""Faults on the scale-out set: the fault probe's Rasa and database scenarios (eval/probes/faults.py) run
against nginx in front of two Rasa replicas with their action servers, PostgreSQL (cases and
conversations), Redis (the locks) and two notifiers (bot/scale.py), each replica and notifier supervised
as its own machine's launcher would.

    python -m eval.probes.scale_faults [--only rasa,readonly,unavailable] [--rasa-kills 20] [--max-delay 0]
        [--seed 3] [--budget 2400] [--keep-logs DIR] [--report PATH]

- rasa: kill -9 of the process group of the replica serving the consent (nginx's round robin: the one
  that did not serve the description), a random moment after the consent was posted. The user whose reply
  was lost (nginx answers 502: it does not send a POST again once a replica received it) sends the consent
  again at once; nginx passes it to the other replica, which finds the conversation in PostgreSQL and
  waits for its lock in Redis until the dead replica's ticket runs out (Rasa's lock lifetime, 60 s). The
  next kill waits until the killed replica is back in the round robin. Outcome: no half-written case, no
  second case for one conversation (the form's intake key), who got their case number and who did not.
- readonly: the case database made read-only as PostgreSQL does it for a database, `ALTER DATABASE cases
  SET default_transaction_read_only = on`, with the open connections to it ended so that the pools
  reconnect under the new setting (a setting only applies to new sessions); restored by RESET, ending the
  connections again. This is what a write to a read-only server (a standby promoted late, a disk-full
  guard) looks like to the bot: every INSERT and UPDATE fails with "cannot execute … in a read-only
  transaction", reads work.
- unavailable: the case database refusing every connection, `ALTER DATABASE cases ALLOW_CONNECTIONS
  false` plus ending the open ones: to the action servers and notifiers this is what a case database
  server that is down or unreachable looks like (every connection attempt fails), while Rasa's
  conversations database on the same cluster keeps working, as it would on a server of its own. Stopping
  the whole cluster instead would also take away Rasa's trackers, a different fault (Rasa then answers
  from an empty conversation), and REVOKE CONNECT does not stop the set's user, who owns the cluster.
Both database scenarios expect the reply "nothing was stored", nothing confirmed that is not stored, an
error in the action servers' logs, both notifiers still running (they wait and retry), and after the
restore a new case stored and delivered. Bounded in count and time, 127.0.0.1 only; exit code 1 when a
scenario fails.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import signal
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from eval.probes.faults import (
    DatabaseFault,
    Outcome,
    add_common_arguments,
    chosen_scenarios,
    database_fault,
    rasa_killed_at_submission,
    report_supervision,
    run_scenarios,
    verdict,
)
from eval.probes.report import LoadSampler, say, write_markdown
from eval.probes.rig import ScaleRig, scale_rig

SCENARIOS = ("rasa", "readonly", "unavailable")
CASES_DATABASE = "cases"  # the name bot/scale.ScaleSet gives the case database


def read_only_statements(database: str, on: bool) -> list[str]:
    """The statements that make a PostgreSQL database read-only for new sessions (or writable again)."""
    setting = "SET default_transaction_read_only = on" if on else "RESET default_transaction_read_only"
    return [f'ALTER DATABASE "{database}" {setting}']


def refuse_connections_statements(database: str, refuse: bool) -> list[str]:
    """The statements that make a PostgreSQL database refuse every new connection (or accept them again)."""
    return [f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {"false" if refuse else "true"}']


TERMINATE = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
)


@contextlib.contextmanager
def admin(rig: ScaleRig) -> Iterator[Any]:
    """An autocommit connection to the cluster's maintenance database as the set's (owning) user."""
    import psycopg

    postgres = rig.scale.postgres
    with psycopg.connect(
        f"postgresql://{postgres.user}@127.0.0.1:{postgres.port}/postgres", autocommit=True
    ) as connection:
        yield connection


def apply(rig: ScaleRig, statements: list[str], database: str = CASES_DATABASE) -> int:
    """Runs the statements, then ends every open connection to the database (a database setting applies
    to new sessions only); how many connections were ended."""
    with admin(rig) as connection:
        for statement in statements:
            connection.execute(statement)
        row = connection.execute(TERMINATE, (database,)).fetchone()
    return int(row[0]) if row else 0


def connection_state(rig: ScaleRig, database: str = CASES_DATABASE) -> str:
    """What a new session to the database meets: read-only, writable, or the refusal's first line."""
    import psycopg

    postgres = rig.scale.postgres
    try:
        with psycopg.connect(f"postgresql://{postgres.user}@127.0.0.1:{postgres.port}/{database}") as connection:
            row = connection.execute("SHOW default_transaction_read_only").fetchone()
    except psycopg.Error as exc:
        return f"a new connection is refused: {str(exc).strip().splitlines()[0][:120]}"
    return "a new session is read-only" if row and row[0] == "on" else "a new session is writable"


def read_only(rig: ScaleRig) -> DatabaseFault:
    """The case database read-only for every session (see the module docstring)."""

    def break_it() -> str:
        ended = apply(rig, read_only_statements(CASES_DATABASE, True))
        return f"ALTER DATABASE cases SET default_transaction_read_only = on; {ended} open connections ended"

    def restore() -> None:
        apply(rig, read_only_statements(CASES_DATABASE, False))

    return DatabaseFault("read-only", break_it, restore, lambda: connection_state(rig))


def unavailable(rig: ScaleRig) -> DatabaseFault:
    """The case database refusing every connection (see the module docstring)."""

    def break_it() -> str:
        ended = apply(rig, refuse_connections_statements(CASES_DATABASE, True))
        return f"ALTER DATABASE cases ALLOW_CONNECTIONS false; {ended} open connections ended"

    def restore() -> None:
        apply(rig, refuse_connections_statements(CASES_DATABASE, False))

    return DatabaseFault("unavailable", break_it, restore, lambda: connection_state(rig))


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Starts the scale-out set with its supervisors, runs the chosen scenarios, stops everything."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"comma-separated: {','.join(SCENARIOS)}")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    chosen = chosen_scenarios(parser, args.only, SCENARIOS)
    signal.signal(signal.SIGTERM, _interrupted)
    began, lines = time.time(), list[str]()
    rng = random.Random(args.seed)
    load = LoadSampler().start()
    with scale_rig(args.keep_logs) as rig:
        until = time.monotonic() + args.budget  # from when the set answers: its start-up is not the scenarios'
        replicas = ", ".join(f"{name} ({address})" for address, name in rig.scale.replica_names().items())
        say(
            lines,
            f"scale-out set on 127.0.0.1: nginx {rig.scale.url} → {replicas}; an action server per replica; "
            f"notifiers {', '.join(rig.names('notifier'))} → their sinks; PostgreSQL :{rig.scale.postgres.port} "
            f"(databases cases, trackers); Redis :{rig.scale.redis_port} (locks); up after {rig.started_in:.0f} s; "
            "a supervisor per replica and per notifier",
        )
        runs: dict[str, Callable[[], Outcome]] = {
            "rasa": lambda: rasa_killed_at_submission(rig, args.rasa_kills, args.max_delay, rng, until),
            "readonly": lambda: database_fault(rig, read_only(rig)),
            "unavailable": lambda: database_fault(rig, unavailable(rig)),
        }
        outcomes = run_scenarios(lines, runs, chosen)
        report_supervision(lines, rig)
    code = verdict(lines, outcomes)
    if args.report:
        write_markdown(args.report, "Faults on the scale-out set", lines, load.stop(), began)
    return code


if __name__ == "__main__":
    sys.exit(main())
