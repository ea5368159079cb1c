""".env.example lists exactly the settings every process reads: the fields of the one `Settings`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from actions.safe_text import max_message_chars
from actions.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [*ROOT.glob("actions/**/*.py"), *ROOT.glob("bot/**/*.py")]


def test_env_example_lists_every_setting_and_nothing_else():
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(encoding="utf-8"), re.M))
    fields = {name.upper() for name in Settings.model_fields}
    assert sorted(fields - listed) == [], "settings missing from .env.example"
    assert sorted(listed - fields) == [], ".env.example lists what no process reads"


def test_no_process_reads_a_setting_from_the_environment_by_itself():
    """Only actions/settings.py reads settings; actions/safe_text.py too, for the Rasa process (no pydantic)."""
    readers = {
        str(p.relative_to(ROOT))
        for p in SOURCES
        if re.search(r"os\.environ(?:\.get)?\(|os\.getenv\(|dotenv_values\(", p.read_text(encoding="utf-8"))
    }
    assert readers <= {"actions/settings.py", "actions/safe_text.py"}, readers


@pytest.mark.parametrize("value", [None, "500"])
def test_the_rasa_process_reads_max_message_chars_as_settings_does(monkeypatch, tmp_path, value):
    if value is None:
        monkeypatch.delenv("MAX_MESSAGE_CHARS", raising=False)
    else:
        monkeypatch.setenv("MAX_MESSAGE_CHARS", value)
    environ = {} if value is None else {"MAX_MESSAGE_CHARS": value}
    assert max_message_chars(environ, tmp_path / "none.env") == Settings(_env_file=None).max_message_chars


def test_ports_and_host_come_from_dot_env(tmp_path, monkeypatch):
    for name in ("HOST", "RASA_PORT", "WEB_PORT"):
        monkeypatch.delenv(name, raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text("HOST=0.0.0.0\nRASA_PORT=6005\nWEB_PORT=9090\n")
    settings = Settings(_env_file=env_file)
    assert (settings.host, settings.rasa_port, settings.web_port, settings.action_port) == ("0.0.0.0", 6005, 9090, 5055)


def test_conversations_live_beside_an_sqlite_case_database_in_a_file_of_their_own():
    from actions.settings import conversations_url

    assert (
        conversations_url("sqlite:////srv/ipbot/.data/ipbot.db") == "sqlite:////srv/ipbot/.data/ipbot-conversations.db"
    )
    assert conversations_url("postgresql+psycopg://bot@db/ipbot") == "postgresql+psycopg://bot@db/ipbot"
    assert conversations_url("sqlite:////x/ipbot.db", "sqlite:////y/talks.db") == "sqlite:////y/talks.db"
    assert Settings(database_url="sqlite:////x/cases.db").conversations_url == "sqlite:////x/cases-conversations.db"
