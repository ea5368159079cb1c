"""Keeping personal data private on disk and out of logs: files only their owner can read (0600,
folders 0700), and text from users made safe to print (control characters escaped).

Used by the case database, the notifier's sink, the staff exports and every logger of the bot's
own code. Nothing here touches the disk at import time.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import IO, Any

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700

# C0 and C1 control characters, DEL, and the Unicode controls that reorder or hide text in a
# terminal or a log viewer (bidirectional overrides and isolates, zero-width joiners, BOM).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: Any, keep_newlines: bool = False) -> str:
    """The text with every control character shown as an escape (\\x1b, \\n …), safe for a terminal or a log line."""
    pattern = _CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL
    return pattern.sub(_escape, str(value))


def private_dir(path: Path) -> Path:
    """Creates the folder (and missing parents) readable only by its owner; existing folders are left as they are."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        folder.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
        os.chmod(folder, PRIVATE_DIR_MODE)  # mkdir's mode is reduced by the umask, never widened: make it exact
    return path


def private_file(path: Path) -> Path:
    """Makes sure the file exists and only its owner can read or write it (an existing file is narrowed to 0600)."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)
    return path


def open_private(path: Path, mode: str = "w", **kwargs: Any) -> IO[Any]:
    """Opens a file for writing ("w" or "a") that is created, or narrowed, to owner-only permissions."""
    if mode not in ("w", "a", "wb", "ab"):
        raise ValueError(f"open_private writes only: {mode!r}")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode.startswith("a") else os.O_TRUNC)
    private_dir(path.parent)
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


class PrintableLogFilter(logging.Filter):
    """Escapes control characters in a log record, so text from a user cannot forge log lines or
    send escape sequences to whoever reads the log (tracebacks keep their line breaks)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = printable(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = printable(logging.Formatter().formatException(record.exc_info), keep_newlines=True)
        return True


_FILTER = PrintableLogFilter()


def get_logger(name: str) -> logging.Logger:
    """The named logger, with control characters escaped in everything it logs."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
