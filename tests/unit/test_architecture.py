"""The direction imports go (docs/architecture.md): channel → Rasa → dialogue → domain → store/index.

Read from the source with `ast`, so a wrong import fails here before it tangles the house.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOMAIN_PACKAGES = ("retrieval", "answers", "cases", "risk", "alerts", "messages")


def imports(path: Path) -> set[str]:
    """Every module a file imports, at top level or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py") if "migrations" not in p.parts)


def test_no_dialogue_module_imports_another_ones_helpers():
    """Shared dialogue helpers live in actions/dialogue/common.py, so each capability's actions stand alone."""
    wrong = []
    for path in python_files("actions/dialogue"):
        own = f"actions.dialogue.{path.stem}"
        for name in imports(path):
            if name.startswith("actions.dialogue.") and not name.startswith(("actions.dialogue.common", own)):
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not wrong, wrong


def test_the_domain_knows_nothing_of_rasa_telegram_or_the_bot_processes():
    domain = [p for p in python_files("actions") if "dialogue" not in p.parts]
    assert len(domain) > 20
    wrong = [
        f"{p.relative_to(ROOT)} imports {name}"
        for p in domain
        for name in imports(p)
        if name.split(".")[0] in ("rasa", "rasa_sdk", "telegram", "bot") or name.startswith("actions.dialogue")
    ]
    assert not wrong, wrong


def test_domain_packages_do_not_reach_into_the_dialogue_or_the_cli():
    wrong = [
        f"{p.relative_to(ROOT)} imports {name}"
        for package in DOMAIN_PACKAGES
        for p in python_files(f"actions/{package}")
        for name in imports(p)
        if name.startswith(("actions.cli", "actions.dialogue"))
    ]
    assert not wrong, wrong


def test_the_rasa_process_imports_only_what_its_venv_has():
    """bot/components and Rasa's channels run in .venv-rasa: from actions/ only the dependency-free modules."""
    allowed = {"actions.language", "actions.safe_text", "actions.erasure", "actions.question_vector"}
    rasa_side = [*python_files("bot/components"), ROOT / "bot/tracker_store.py", ROOT / "bot/lock_store.py"]
    rasa_side += [ROOT / "bot/channels/rest_channel.py", ROOT / "bot/channels/socketio_channel.py"]
    rasa_side += [ROOT / "bot/channels/silence.py"]
    wrong = [
        f"{p.relative_to(ROOT)} imports {name}"
        for p in rasa_side
        for name in imports(p)
        if name.startswith("actions.") and not any(name == a or name.startswith(a + ".") for a in allowed)
    ]
    assert not wrong, wrong


def test_the_console_changes_cases_only_through_the_case_service():
    """bot/console reads through the store but writes through actions/cases/service.py (and actions/accounts.py
    for sign-ins), so its actions write the same outbox rows as the chat and the command line."""
    wrong = []
    for path in python_files("bot/console"):
        source = path.read_text(encoding="utf-8")
        for needle in (".add(", ".delete(", ".execute(", "OutboxMessage", "CaseEvent"):
            if needle in source:
                wrong.append(f"{path.relative_to(ROOT)} uses {needle}")
    assert not wrong, wrong


def test_the_console_writes_alert_files_only_through_the_alert_files_module():
    """bot/console hands the form to actions/alerts/files.py, which checks it with the files' own validation
    and writes atomically: the console itself neither writes files nor makes YAML."""
    wrong = []
    for path in python_files("bot/console"):
        source = path.read_text(encoding="utf-8")
        for needle in ("write_text", "write_bytes", "open(", "os.replace", "yaml", "Alert.model_validate"):
            if needle in source:
                wrong.append(f"{path.relative_to(ROOT)} uses {needle}")
    assert not wrong, wrong
