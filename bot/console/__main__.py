"""Serves the staff and expert console: `python -m bot.console [--host 127.0.0.1] [--port 8090]`."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from actions.settings import get_settings
from actions.store import migrated
from bot.console.app import create_app


def main(argv: list[str] | None = None) -> int:
    """Runs the console until it is stopped."""
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m bot.console", description=__doc__)
    parser.add_argument("--host", default=settings.console_host)
    parser.add_argument("--port", type=int, default=settings.console_port)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        migrated(settings.database_url)  # the schema up to date (accounts); never creates the database
    except Exception as exc:  # a missing or unreadable database: say what to do, not a traceback
        logging.getLogger("console").error("the case database cannot be opened (%s): run `make db`", type(exc).__name__)
        return 1
    app = create_app(settings)
    # No access log: an e-mailed link's address carries its token, and paths name cases.
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="info", server_header=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
