"""Owner-only files and folders, and text from users made safe for terminals and logs."""

from __future__ import annotations

import importlib
import logging
import os
import stat

import pytest

from actions.privacy import get_logger, open_private, printable, private_dir, private_file


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_printable_escapes_control_characters_that_could_forge_lines_or_drive_a_terminal():
    assert printable("web-1\n2026-01-01 INFO forged") == "web-1\\x0a2026-01-01 INFO forged"
    assert printable("\x1b[2J\x1b]8;;http://evil\x07") == "\\x1b[2J\\x1b]8;;http://evil\\x07"
    assert printable("abc\u202edcba") == "abc\\u202edcba"  # right-to-left override
    assert printable("青岛示例机械有限公司 Co., Ltd.") == "青岛示例机械有限公司 Co., Ltd."


def test_printable_can_keep_line_breaks_of_a_multi_line_text():
    assert printable("line one\nline two\r\x1b[31m", keep_newlines=True) == "line one\nline two\\x0d\\x1b[31m"


def test_private_file_creates_owner_only_file_and_folders(tmp_path):
    target = tmp_path / "new" / "deeper" / "ipbot.db"
    private_file(target)
    assert target.exists() and mode(target) == 0o600
    assert mode(tmp_path / "new") == 0o700 and mode(tmp_path / "new" / "deeper") == 0o700


def test_private_file_narrows_a_file_created_world_readable_before(tmp_path):
    old = tmp_path / "notifications.jsonl"
    old.write_text("kept\n", encoding="utf-8")
    os.chmod(old, 0o644)
    private_file(old)
    assert mode(old) == 0o600 and old.read_text(encoding="utf-8") == "kept\n"


def test_private_dir_leaves_an_existing_folder_alone(tmp_path):
    os.chmod(tmp_path, 0o755)
    private_dir(tmp_path)
    assert mode(tmp_path) == 0o755


def test_open_private_writes_and_appends_owner_only(tmp_path):
    path = tmp_path / "out" / "copy.json"
    with open_private(path, "w", encoding="utf-8") as out:
        out.write("one\n")
    os.chmod(path, 0o664)
    with open_private(path, "a", encoding="utf-8") as out:
        out.write("two\n")
    assert path.read_text(encoding="utf-8") == "one\ntwo\n"
    assert mode(path) == 0o600 and mode(tmp_path / "out") == 0o700


def test_a_project_logger_escapes_control_characters_in_messages_and_tracebacks(caplog):
    logger = get_logger("tests.privacy")
    with caplog.at_level(logging.INFO, logger="tests.privacy"):
        logger.info("alert inbox of %s", "web-1\nERROR forged line")
        try:
            raise ValueError("bad\x1b[31m value")
        except ValueError:
            logger.exception("lookup failed")
    first, second = caplog.records
    assert first.getMessage() == "alert inbox of web-1\\x0aERROR forged line"
    assert "bad\\x1b[31m value" in second.exc_text and "\x1b" not in second.exc_text
    assert "\n" in second.exc_text  # a traceback keeps its lines


@pytest.mark.parametrize(
    "module",
    [
        "actions.dialogue.answer",
        "actions.dialogue.alerts",
        "actions.dialogue.cases",
        "actions.dialogue.selfcheck",
        "actions.alerts.service",
    ],
)
def test_the_modules_that_handle_user_input_log_it_escaped(module, caplog):
    logger = importlib.import_module(module).logger
    with caplog.at_level(logging.INFO, logger=module):
        logger.error("could not read the alert inbox of %s", "web-1\r\nINFO forged \x1b[0m")
    assert caplog.records[-1].getMessage() == "could not read the alert inbox of web-1\\x0d\\x0aINFO forged \\x1b[0m"
