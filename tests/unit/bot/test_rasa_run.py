"""bot/rasa_run.py: Rasa's check of an action server's response through the validator built once gives what
stock Rasa gives — True for a good response, the same error for a bad one (in .venv-rasa, one subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
SCRIPT = r"""
import json
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig
from bot import rasa_run

RESPONSES = {
    "an answer": {
        "events": [
            {"event": "slot", "name": "answer_topic", "value": {"doc": "pph/cn-kr-pph.md"}, "timestamp": None},
            {"event": "followup", "name": "action_listen"},
        ],
        "responses": [{"text": "中韩PPH……", "custom": {"citations": [{"n": 1}]}, "buttons": []}],
    },
    "nothing": {"events": [], "responses": []},
    "an unknown event": {"events": [{"event": "no_such_event"}], "responses": []},
    "an event without its name": {"events": [{"name": "x"}], "responses": []},
    "responses not a list": {"events": [], "responses": {"text": "hi"}},
    "a slot event without a name": {"events": [{"event": "slot", "value": 1}], "responses": []},
}


def outcome(action, result):
    try:
        return action._validate_action_result(result)
    except ValidationError as error:
        return "error: " + error.message


action = RemoteAction("action_answer_question", EndpointConfig("http://127.0.0.1:1/webhook"))
stock = {name: outcome(action, r) for name, r in RESPONSES.items()}
rasa_run.use_one_response_validator()
rasa_run.use_one_response_validator()
patched = {name: outcome(action, r) for name, r in RESPONSES.items()}
print(json.dumps({"stock": stock, "patched": patched, "installed": RemoteAction._validate_action_result is rasa_run.validate_action_result, "validators built": rasa_run.response_validator.cache_info().misses}))
"""


@pytest.fixture(scope="module")
def outcomes() -> dict:
    if not RASA_PYTHON.exists():
        pytest.skip("needs .venv-rasa (make venvs)")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore", "RASA_TELEMETRY_ENABLED": "false"}
    done = subprocess.run(
        [str(RASA_PYTHON), "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_bots_check_is_installed_in_rasa_and_builds_its_validator_once(outcomes):
    assert outcomes["installed"] is True
    assert outcomes["validators built"] == 1


def test_good_responses_pass_and_bad_ones_fail_with_stock_rasas_error(outcomes):
    assert outcomes["patched"] == outcomes["stock"]
    assert outcomes["patched"]["an answer"] is True and outcomes["patched"]["nothing"] is True
    for bad in ("an unknown event", "an event without its name", "responses not a list", "a slot event without a name"):
        assert outcomes["patched"][bad].startswith("error: "), bad
        assert "Failed to validate Action server response" in outcomes["patched"][bad]
