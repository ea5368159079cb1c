"""The soak on the scale-out set: the same concurrent conversations as eval/probes/soak.py, sent to
nginx in front of two Rasa replicas (PostgreSQL for cases and conversations, Redis for the locks, two
notifiers), with the messages each replica served counted from nginx's access log.

    python -m eval.probes.scale_soak [--conversations 100] [--seconds 300] [--report PATH]

Bounded in count and time, 127.0.0.1 only. On this 2-core machine both replicas share the same two
cores, so the figures show the set holding together under load, not what a second machine would add.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bot.scale import ScaleSet

UPSTREAM = re.compile(r'"POST /webhooks/rest/webhook[^"]*" (\d{3}) upstream=(.+?) upstream_status=')


def served(access_log: Path, names: dict[str, str]) -> Counter[str]:
    """REST messages per replica (the last upstream nginx tried for each request) and per status."""
    counts: Counter[str] = Counter()
    for line in access_log.read_text(encoding="utf-8", errors="replace").splitlines():
        if match := UPSTREAM.search(line):
            status, upstreams = match.groups()
            last = upstreams.split(",")[-1].strip()
            counts[names.get(last, last) if status == "200" else f"HTTP {status}"] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    """Starts the scale-out set, runs the soak through nginx, prints messages per replica, stops the set."""
    from eval.probes import soak

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--report", type=Path, help="also write the soak's results as markdown here")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="ipbot-scale-soak-"))
    scale = ScaleSet(workdir)
    try:
        scale.start()
        os.environ["RASA_REST_TOKEN"] = scale.rest_token  # the soak's --target mode takes the token from the settings
        began = time.monotonic()
        soak_args = ["--target", scale.url, "--database", scale.cases_url]
        soak_args += ["--conversations", str(args.conversations), "--seconds", str(args.seconds)]
        code = soak.main(soak_args + (["--report", str(args.report)] if args.report else []))
        elapsed = time.monotonic() - began
        counts = served(next(workdir.rglob("access.log")), scale.replica_names())
        print("\nmessages per replica (nginx's access log):")
        for name in sorted(counts):
            print(f"  {name}: {counts[name]} ({counts[name] / elapsed:.2f} messages/s over {elapsed:.0f} s)")
        if args.report:
            with args.report.open("a", encoding="utf-8") as out:
                out.write("\n## Per replica (nginx's access log)\n\n")
                for name in sorted(counts):
                    out.write(f"- {name}: {counts[name]} messages, {counts[name] / elapsed:.2f} messages/s\n")
        return code
    finally:
        scale.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
