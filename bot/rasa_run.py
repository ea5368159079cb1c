"""Rasa's command line (`rasa run`, `rasa shell`) with one change to Rasa: each action server response is
checked by a JSON-schema validator built once, not by `jsonschema.validate` on every call.

    .venv-rasa/bin/python -m bot.rasa_run run --model … --endpoints bot/endpoints.yml …

bot/stack.py starts Rasa this way. Rasa 3.6 checks every action server response with
`jsonschema.validate(result, RemoteAction.action_response_format_spec())`, and `validate` first checks the
schema itself against its meta-schema: Rasa's response schema (all of its event types) is constant, yet that
check ran on every call, ≈ 19 ms of CPU each, 43% of our Rasa server's busy samples under the anchor
benchmark (two action calls per question: the slot-validation hook and the answer). Rasa offers no setting
for it, so `use_one_response_validator` replaces `RemoteAction._validate_action_result` with the same check
(same schema, same validator class, the same `best_match` error with Rasa's own hint appended) through a
validator that is checked and built on first use and kept. Runs in .venv-rasa (it imports Rasa).
"""

from __future__ import annotations

import functools
from typing import Any

from jsonschema import exceptions, validators
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL

HINT = (
    ". Failed to validate Action server response from API, make sure your response from the Action endpoint "
    f"is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
)  # Rasa's own words (rasa/core/actions/action.py), so a bad response reads the same as with stock Rasa


@functools.lru_cache(maxsize=1)
def response_validator() -> Any:
    """The validator of Rasa's action-response schema, its schema checked once."""
    schema = RemoteAction.action_response_format_spec()
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    """`RemoteAction._validate_action_result` through the kept validator: True, or the ValidationError
    `jsonschema.validate` would raise, with Rasa's hint."""
    error = exceptions.best_match(response_validator().iter_errors(result))
    if error is None:
        return True
    error.message += HINT
    raise error


def use_one_response_validator() -> None:
    """Installs `validate_action_result` in Rasa's RemoteAction (idempotent)."""
    RemoteAction._validate_action_result = validate_action_result


def main() -> None:
    use_one_response_validator()
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
