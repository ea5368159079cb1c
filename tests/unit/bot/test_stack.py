"""How bot/stack.py starts the servers: Rasa's API closed unless a token is given, CORS for the
project's page only, the action server behind its token, owner-only log files."""

from __future__ import annotations

import stat
import sys

from bot.stack import Service, Stack


def test_rasas_http_api_is_off_without_a_token(monkeypatch):
    monkeypatch.delenv("RASA_API_TOKEN", raising=False)
    stack = Stack(5005, 5055, 8080, api_token="")
    command = stack.rasa_service().command
    assert "--enable-api" not in command and "--auth-token" not in command
    assert stack.rasa_service().health_url.endswith("/webhooks/rest/")


def test_with_a_token_rasas_api_is_on_and_needs_it():
    stack = Stack(5005, 5055, 8080, api_token="a" * 32)
    command = stack.rasa_service().command
    assert command[command.index("--auth-token") + 1] == "a" * 32
    assert stack.api_url("/conversations/x/tracker").endswith("/conversations/x/tracker?token=" + "a" * 32)


def test_cors_lists_the_page_this_stack_serves(monkeypatch):
    monkeypatch.delenv("WEB_ORIGINS", raising=False)
    command = Stack(5005, 5055, 8080).rasa_service().command
    origins = command[command.index("--cors") + 1 : command.index("--interface")]
    assert "*" not in origins and "http://127.0.0.1:8080" in origins
    monkeypatch.setenv("WEB_ORIGINS", "https://chat.example.org")
    command = Stack(5005, 5055, 8080).rasa_service().command
    assert command[command.index("--cors") + 1 : command.index("--interface")] == ["https://chat.example.org"]


def test_the_processes_share_their_secrets_and_random_ones_are_made_when_unset(monkeypatch):
    for name in ("RASA_REST_TOKEN", "ACTION_SERVER_TOKEN", "WEB_SESSION_SECRET"):
        monkeypatch.delenv(name, raising=False)
    stack, other = Stack(), Stack()
    env = stack.action_service().env
    assert stack.action_service().command[2] == "bot.action_server"
    assert env["ACTION_SERVER_TOKEN"] == stack.action_token and len(stack.action_token) >= 32
    assert env["RASA_REST_TOKEN"] == stack.rest_token and env["WEB_SESSION_SECRET"] == stack.session_secret
    assert stack.rest_token != other.rest_token
    assert env["LOG_LEVEL"] == "INFO", "Rasa at DEBUG would log message texts and slot values"
    monkeypatch.setenv("RASA_REST_TOKEN", "from-the-environment-0123456789")
    assert Stack().rest_token == "from-the-environment-0123456789"


def test_log_files_are_readable_by_their_owner_only(tmp_path):
    log = tmp_path / "logs" / "x.log"
    service = Service("x", [sys.executable, "-c", "print('hello')"], None, {}, log)
    service.start()
    service.process.wait(30)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    assert log.read_text().strip() == "hello"


def test_ports_come_from_the_environment_then_dot_env_then_their_defaults(monkeypatch, tmp_path):
    from bot import stack

    (tmp_path / ".env").write_text("RASA_PORT=6005\nWEB_PORT=9090\n", encoding="utf-8")
    monkeypatch.setattr(stack, "ROOT", tmp_path)
    for name in ("RASA_PORT", "ACTION_PORT", "WEB_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WEB_PORT", "9191")
    assert [stack.port(name) for name in ("RASA_PORT", "ACTION_PORT", "WEB_PORT")] == [6005, 5055, 9191]
