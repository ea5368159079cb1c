"""The action server, as `python -m rasa_sdk` runs it, but answering only Rasa: every call except
`/health` must carry `Authorization: Bearer <ACTION_SERVER_TOKEN>`.

    ACTION_SERVER_TOKEN=… python -m bot.action_server --actions actions --port 5055

rasa-sdk 3.21 has no authentication of its own (any local process could run actions as any
conversation), so this module builds rasa-sdk's own app (`create_app_for_serve`) and adds one
request middleware; the command-line flags are rasa-sdk's. Rasa sends the header from
bot/endpoints.yml (`${ACTION_SERVER_TOKEN}`); bot/stack.py gives both the same value. Without a
token the server refuses to start rather than run open. Cross-origin requests are refused.
"""

from __future__ import annotations

import logging
import os
import sys
from functools import partial

from rasa_sdk import utils
from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME
from rasa_sdk.endpoint import create_app_for_serve, create_argument_parser
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic.worker.loader import AppLoader

from actions.settings import Settings, thread_environment
from bot.channels.guards import bearer_matches

TOKEN_VARIABLE = "ACTION_SERVER_TOKEN"
MIN_TOKEN_LENGTH = 16
OPEN_PATHS = frozenset({"/health"})

logger = logging.getLogger(__name__)


def create_app(action_executor: ActionExecutor, token: str, endpoints: str, auto_reload: bool = False) -> Sanic:
    """rasa-sdk's app with no CORS and a bearer-token check on every path but /health."""
    app = create_app_for_serve(action_executor, cors_origins="", auto_reload=auto_reload, endpoints=endpoints)

    @app.on_request
    async def require_token(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS or bearer_matches(request.headers.get("authorization"), token):
            return None
        return response.json({"error": "unauthorised: this server answers the bot's Rasa server only"}, status=401)

    return app


def main(argv: list[str] | None = None) -> int:
    """Parses rasa-sdk's flags and serves the actions behind the token until stopped."""
    args = create_argument_parser().parse_args(argv)
    settings = Settings()
    # Before any native library starts (the actions import FAISS and the embedder in the worker, which
    # inherits this environment): OpenMP reads its thread count once, and omp_set_num_threads() later
    # covers only the thread that calls it, not the threads the searches run on.
    os.environ.update({k: v for k, v in thread_environment(settings.native_threads).items() if k not in os.environ})
    token = settings.action_server_token
    if len(token) < MIN_TOKEN_LENGTH:
        print(
            f"{TOKEN_VARIABLE} must be set to a random value of at least {MIN_TOKEN_LENGTH} characters "
            "(bot/stack.py sets one); the action server does not run without it",
            file=sys.stderr,
        )
        return 2
    utils.configure_colored_logging(args.loglevel)
    utils.configure_file_logging(
        logging.getLogger(APPLICATION_ROOT_LOGGER_NAME), args.log_file, args.loglevel, args.logging_config_file
    )
    utils.update_sanic_log_level()
    executor = ActionExecutor()
    executor.register_package(args.actions_module or args.actions)
    loader = AppLoader(factory=partial(create_app, executor, token, args.endpoints, args.auto_reload))
    app = loader.load()
    host = settings.host
    logger.info("action server on http://%s:%s (bearer token required)", host, args.port)
    app.prepare(host=host, port=args.port, workers=utils.number_of_sanic_workers())
    Sanic.serve(primary=app, app_loader=loader)
    return 0


if __name__ == "__main__":
    sys.exit(main())
