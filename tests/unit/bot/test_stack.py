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


def test_every_process_gets_its_native_libraries_capped_at_native_threads_unless_the_shell_says_otherwise(
    monkeypatch,
):
    for name in ("NATIVE_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_INTRA_OP_PARALLELISM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    stack = Stack(5005, 5055, 8080)
    for service in (stack.rasa_service(), stack.action_service()):
        assert service.env["OMP_NUM_THREADS"] == "1" and service.env["TF_INTRA_OP_PARALLELISM_THREADS"] == "1"
    monkeypatch.setenv("NATIVE_THREADS", "0")
    assert "OMP_NUM_THREADS" not in Stack(5005, 5055, 8080).action_service().env
    monkeypatch.setenv("NATIVE_THREADS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert Stack(5005, 5055, 8080).action_service().env["OMP_NUM_THREADS"] == "2"


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


# ---- supervision: real processes, a real port --------------------------------------------------------
PARENT_WITH_PORT = r"""
import socket, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", '''
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
time.sleep(120)
''', sys.argv[1]])
time.sleep(120)
"""


def port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_until(predicate, timeout: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_stopping_a_service_whose_process_died_also_stops_the_child_holding_its_port(tmp_path):
    import os
    import signal

    from bot.stack import free_port

    port = free_port()
    service = Service("worker", [sys.executable, "-c", PARENT_WITH_PORT, str(port)], None, {}, tmp_path / "w.log")
    service.start()
    try:
        assert wait_until(lambda: not port_free(port)), "the child never listened"
        os.kill(service.pid, signal.SIGKILL)  # the process dies, its child keeps the port
        service.process.wait(5)
        assert not port_free(port) and service.group_alive()
        service.stop(timeout=2)
        assert wait_until(lambda: port_free(port), 5), "an orphan still holds the port"
        assert not service.group_alive()
    finally:
        service.stop(timeout=1)


def test_the_supervisor_restarts_a_dead_process_with_growing_backoff_and_logs_it(tmp_path):
    import json
    import os
    import signal

    from bot.stack import Supervisor

    stack = Stack(log_dir=tmp_path / "logs")
    service = Service("notifier", [sys.executable, "-c", "import time; time.sleep(120)"], None, {}, tmp_path / "n.log")
    stack.services["notifier"] = service
    service.start()
    lines: list[str] = []
    supervisor = Supervisor(stack, log=lines.append)
    try:
        first = service.pid
        os.kill(first, signal.SIGKILL)
        service.process.wait(5)
        supervisor.tick(now=100.0)
        assert supervisor.watches["notifier"].state == "restarting"
        supervisor.tick(now=100.5)  # the first backoff is 1 s: not yet
        assert not service.running()
        supervisor.tick(now=101.0)
        assert service.running() and service.pid != first
        assert lines == [
            "notifier exited (code -9); restarting in 1 s (restart 1)",
            f"notifier started again (pid {service.pid})",
        ]
        os.kill(service.pid, signal.SIGKILL)
        service.process.wait(5)
        supervisor.tick(now=102.0)
        assert lines[-1] == "notifier exited (code -9); restarting in 2 s (restart 2)"
        status = json.loads((tmp_path / "logs" / "status.json").read_text())
        assert status["processes"]["notifier"]["state"] == "restarting"
        assert status["processes"]["notifier"]["restarts"] == 2
        assert stat.S_IMODE((tmp_path / "logs" / "status.json").stat().st_mode) == 0o600
    finally:
        service.stop(timeout=1)


def test_a_process_that_stops_answering_its_health_url_is_restarted_after_its_failed_checks_in_a_row(tmp_path):
    from bot.stack import Supervisor, free_port

    dead_url = f"http://127.0.0.1:{free_port()}/health"  # nothing answers there
    stack = Stack(log_dir=tmp_path / "logs")
    service = Service(
        "actions", [sys.executable, "-c", "import time; time.sleep(120)"], dead_url, {}, tmp_path / "a.log"
    )
    stack.services["actions"] = service
    service.start()
    lines: list[str] = []
    supervisor = Supervisor(stack, log=lines.append)
    supervisor.HEALTH_TIMEOUT = 0.5
    try:
        for i in range(supervisor.HEALTH_FAILURES):
            assert not lines, f"restarted after {i} failed checks"
            supervisor.tick(now=10.0 + i * supervisor.HEALTH_EVERY)
        assert lines == [
            f"actions failed {supervisor.HEALTH_FAILURES} health checks in a row; restarting in 1 s (restart 1)"
        ]
        assert not service.group_alive(), "the hung process was left running"
    finally:
        service.stop(timeout=1)


def test_status_says_what_runs_and_fails_when_the_launcher_is_gone(tmp_path):
    import json

    from bot.stack import Supervisor, status_report

    assert status_report(tmp_path)[0] == 1  # no stack ever ran with this folder
    stack = Stack(log_dir=tmp_path)
    service = Service("notifier", [sys.executable, "-c", "import time; time.sleep(120)"], None, {}, tmp_path / "n.log")
    stack.services["notifier"] = service
    service.start()
    try:
        supervisor = Supervisor(stack, log=lambda _: None)
        supervisor.write_status()
        code, text = status_report(tmp_path)
        assert code == 0, text
        assert "launcher: running" in text and "notifier" in text and "healthy" in text and "runs" in text
        supervisor.stopped()  # make run stopped with Ctrl-C
        code, text = status_report(tmp_path)
        assert code == 1 and "stopped" in text
        status = json.loads((tmp_path / "status.json").read_text())
        status["launcher_pid"] = 2**22 + 12345  # no such process
        (tmp_path / "status.json").write_text(json.dumps(status))
        code, text = status_report(tmp_path)
        assert code == 1 and "launcher: not running" in text
    finally:
        service.stop(timeout=1)


def test_run_names_the_unknown_service_it_was_asked_for(capsys):
    import pytest

    from bot.stack import main

    with pytest.raises(SystemExit) as exited:
        main(["run", "--services", "actions,rassa"])
    assert exited.value.code == 2
    assert (
        "unknown service rassa: choose from actions, rasa, notifier, web, console, gateway" in capsys.readouterr().err
    )


def test_the_console_is_started_with_the_stack_and_shares_its_key_with_the_notifier(monkeypatch, tmp_path):
    from bot.stack import http_get

    monkeypatch.delenv("CONSOLE_SECRET", raising=False)
    monkeypatch.delenv("TELEGRAM_TOKEN", raising=False)
    database = f"sqlite:///{tmp_path / 'cases.db'}"
    stack = Stack(log_dir=tmp_path / "logs", extra_env={"DATABASE_URL": database, "TELEGRAM_TOKEN": ""})
    assert "console" in stack.default_services()
    console, notifier = stack.console_service(), stack.notifier_service()
    assert console.command[2:] == ["bot.console", "--host", "127.0.0.1", "--port", str(stack.console_port)]
    assert console.env["CONSOLE_SECRET"] == notifier.env["CONSOLE_SECRET"] == stack.console_secret
    assert len(stack.console_secret) >= 32 and stack.console_secret != Stack().console_secret
    assert notifier.env["CONSOLE_PORT"] == str(stack.console_port)  # the links it e-mails point here
    stack.start(("console",), timeout=120)
    try:
        assert http_get(f"{stack.console_url}/health") == (200, "ok")
        status, page = http_get(f"{stack.console_url}/login")
        assert status == 200 and 'name="csrf_token"' in page
    finally:
        stack.stop()
    assert "CONSOLE_SECRET is not set" not in (tmp_path / "logs" / "console.log").read_text()


def test_wait_until_returns_the_seconds_it_took_or_none_after_the_timeout():
    from bot.stack import wait_until

    calls = []

    def third_time() -> bool:
        calls.append(1)
        return len(calls) >= 3

    seconds = wait_until(third_time, timeout=5, every=0.001)
    assert seconds is not None and 0 <= seconds < 5 and len(calls) == 3
    never = []
    assert wait_until(lambda: never.append(1), timeout=0.02, every=0.005) is None
    assert len(never) >= 2  # checked again until the timeout, and once more at it
    assert wait_until(lambda: "ready", timeout=0) is not None  # true at once: no time needed


def test_rasa_may_take_as_long_over_a_message_with_its_api_off_as_with_it_on(monkeypatch):
    monkeypatch.delenv("SANIC_RESPONSE_TIMEOUT", raising=False)
    # Rasa applies its own response timeout (1 h) only to the app with the HTTP API; without it Sanic's
    # 60 s cut off a message waiting for the lock a killed replica left, with an empty reply.
    for api_token in ("", "a" * 32):
        env = Stack(5005, 5055, 8080, api_token=api_token).rasa_service().env
        assert int(env["SANIC_RESPONSE_TIMEOUT"]) >= 3600
    assert "SANIC_RESPONSE_TIMEOUT" not in Stack().action_service().env  # the action server keeps its own
