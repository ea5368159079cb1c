"""Alert files written from the staff console's form: the form's fields turned into the YAML of
knowledge/alerts/<id>.yml, checked by the same code as the files (`check_alert_text`), and written atomically.

Rules that keep the folder sound:
- Nothing is written unless the text passes the checks `load_alert` applies, so the notifier never meets a
  file of the console's making that stops publishing.
- The file name is the alert's id plus `.yml`, and the id is only taken once it passed the format's pattern
  (lowercase letters, digits, '-'): no path can leave the folder.
- A new alert never replaces a file: its id must be new and its file name free (checked again by the
  filesystem at the moment of writing). Only the edit of an alert overwrites, and only that alert's own
  file, and only if the file is still the one the form was opened on (`version`).
- An alert's id does not change on edit: deliveries are recorded by id, so a new id would send it again.
- The temporary file is a dot-file ending in `.tmp`, which the folder's `*.yml` readers never see; it is
  renamed over the target, so a reader sees the old file or the new one, never half of one.

Nothing here reads files or the database at import time; no web framework either (bot/console does the HTTP).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from actions.alerts.service import ALERT_GLOB, Alert, check_alert_text, load_alert
from actions.knowledge import Problem, relative_name

ALERT_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")  # the pattern and length the Alert model checks
FILE_MODE = 0o644  # like the files checked out beside it: the notifier and the action server read them
NEW_FILE_HEADER = (
    '# Written in the staff console (bot/console). Format: knowledge/README.md ("Market alerts").\n'
    "# Facts only from the source, in your own words, both languages.\n"
)
# The form's fields that a problem can be shown next to; any other problem is shown above the form.
FORM_FIELDS = (
    "id",
    "sample",
    "title",
    "body",
    "markets",
    "industries",
    "ip_types",
    "severity",
    "source",
    "published",
    "last_reviewed",
    "valid_until",
)
_CODE_SEPARATORS = re.compile(r"[\s,，、;；]+")


class AlertForm(BaseModel):
    """An alert as the console's form holds it: texts as typed, markets as one line of codes, the
    industries and kinds of IP ticked. Never invalid itself: the checks run on the YAML made from it."""

    id: str = ""
    sample: bool = False
    title_zh: str = ""
    title_en: str = ""
    body_zh: str = ""
    body_en: str = ""
    markets: str = ""
    industries: list[str] = []
    ip_types: list[str] = []
    severity: str = ""
    source: str = ""
    published: str = ""
    last_reviewed: str = ""
    valid_until: str = ""

    @classmethod
    def new(cls, today: date) -> AlertForm:
        """The form for a new alert: reviewed and published today, for every industry, until filled in."""
        return cls(industries=["all"], published=today.isoformat(), last_reviewed=today.isoformat())

    @classmethod
    def of(cls, alert: Alert) -> AlertForm:
        """The form prefilled with a saved alert."""
        return cls(
            id=alert.id,
            sample=alert.sample,
            title_zh=alert.title.zh,
            title_en=alert.title.en,
            body_zh=alert.body.zh,
            body_en=alert.body.en,
            markets=", ".join(alert.markets),
            industries=list(alert.industries),
            ip_types=list(alert.ip_types),
            severity=alert.severity,
            source=str(alert.source),
            published=alert.published.isoformat(),
            last_reviewed=alert.last_reviewed.isoformat(),
            valid_until=alert.valid_until.isoformat(),
        )

    def data(self) -> dict[str, Any]:
        """The alert file's mapping, in the order of the samples; a field left empty is left out, so the
        checks say it is missing rather than that an empty value is wrong."""
        values: dict[str, Any] = {"id": self.id.strip(), "sample": self.sample}
        for name in ("title", "body"):
            texts = {lang: _text(getattr(self, f"{name}_{lang}")) for lang in ("zh", "en")}
            values[name] = {lang: text for lang, text in texts.items() if text}
        values["markets"] = [code.upper() for code in _CODE_SEPARATORS.split(self.markets) if code]
        values["industries"] = [code.strip() for code in self.industries if code.strip()]
        values["ip_types"] = [code.strip() for code in self.ip_types if code.strip()]
        values["severity"] = self.severity.strip()
        values["source"] = self.source.strip()
        for name in ("published", "last_reviewed", "valid_until"):
            values[name] = _day(getattr(self, name))
        return {key: value for key, value in values.items() if value not in ("", [], {})}


def alert_yaml(form: AlertForm, header: str = NEW_FILE_HEADER) -> str:
    """The text of the alert file the form describes, laid out like the samples (lists on one line,
    a multi-line text as a literal block), after the header's comment lines."""
    body = yaml.dump(form.data(), Dumper=_AlertDumper, allow_unicode=True, sort_keys=False, width=4096)
    return header + body


def form_errors(problems: list[Problem]) -> dict[str, list[str]]:
    """The problems by the form field they belong next to ("alert" for the rest); a problem of part of a
    field keeps that part's name ("zh: missing")."""
    errors: dict[str, list[str]] = {}
    for problem in problems:
        head, _, rest = problem.field.partition(".")
        part = ".".join(p for p in rest.split(".") if p and not p.isdigit())  # "ip_types.0" is the field itself
        if head in FORM_FIELDS:
            name, text = head, f"{part}: {problem.message}" if part else problem.message
        else:
            name, text = "alert", problem.message if head == "alert" else f"{problem.field}: {problem.message}"
        errors.setdefault(name, []).append(text)
    return errors


def file_version(path: Path) -> str:
    """A fingerprint of a file's bytes: the edit form carries it, so a save does not overwrite changes
    made to the file since the form was opened."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def alert_file(alerts_dir: Path, alert_id: str, root: Path | None = None, today: date | None = None) -> Path | None:
    """The file a valid alert of that id is in (the first one, as `load_alerts` counts them), or None;
    the id is matched against the files' contents, never used as a path."""
    for path in sorted(alerts_dir.glob(ALERT_GLOB)) if alerts_dir.is_dir() else []:
        alert, _ = load_alert(path, root, today)
        if alert is not None and alert.id == alert_id:
            return path
    return None


@dataclass
class SavedAlert:
    """What saving a form did: the alert and the file written, or the problems (and nothing written)."""

    alert: Alert | None = None
    path: Path | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.alert is not None and not self.problems


def check_form(
    form: AlertForm,
    alerts_dir: Path,
    root: Path | None = None,
    today: date | None = None,
    editing: str | None = None,
) -> tuple[SavedAlert, str]:
    """The form checked as the file it would become, without writing: the result (its `path` is where it
    would go) and the YAML text. `editing` is the id of the alert being edited, None for a new one."""
    today = today or date.today()
    current = alert_file(alerts_dir, editing, root, today) if editing is not None else None
    if editing is not None and current is None:
        problem = Problem(relative_name(alerts_dir, root), 1, "alert", f"no valid alert file has the id {editing!r}")
        return SavedAlert(problems=[problem]), ""
    header = _leading_comments(current) if current is not None else NEW_FILE_HEADER
    text = alert_yaml(form, header)
    typed = form.id.strip()
    target = current or alerts_dir / (f"{typed}.yml" if ALERT_ID.fullmatch(typed) else "new-alert.yml")
    rel = relative_name(target, root)
    alert, problems = check_alert_text(text, rel, today)
    if alert is None:
        return SavedAlert(problems=problems), text
    if editing is not None and alert.id != editing:
        message = (
            f"the id stays {editing!r}: subscribers who had the alert would get it again under a new id; "
            "write a new alert instead"
        )
        return SavedAlert(problems=[Problem(rel, 1, "id", message)]), text
    if editing is None:
        taken = alert_file(alerts_dir, alert.id, root, today)
        if taken is not None:
            message = f"an alert with this id exists already ({relative_name(taken, root)}): edit that one"
            return SavedAlert(problems=[Problem(rel, 1, "id", message)]), text
        if target.exists():
            message = f"the file {rel} exists already (it is not a valid alert): fix or remove it by hand"
            return SavedAlert(problems=[Problem(rel, 1, "id", message)]), text
    if target.parent.resolve() != alerts_dir.resolve():  # the id's pattern already ensures it; never write elsewhere
        return SavedAlert(problems=[Problem(rel, 1, "id", "not a file of the alerts folder")]), text
    return SavedAlert(alert, target), text


def save_alert(
    form: AlertForm,
    alerts_dir: Path,
    root: Path | None = None,
    today: date | None = None,
    editing: str | None = None,
    version: str | None = None,
) -> SavedAlert:
    """Writes the form as an alert file if it passes the files' checks and the folder's rules (see the
    module's docstring); otherwise writes nothing and returns the problems."""
    checked, text = check_form(form, alerts_dir, root, today, editing)
    if not checked.ok or checked.path is None:
        return checked
    target = checked.path
    rel = relative_name(target, root)
    if editing is not None and version is not None and file_version(target) != version:
        message = "the file was changed since this form was opened: open the alert again and redo the edit"
        return SavedAlert(problems=[Problem(rel, 1, "alert", message)])
    try:
        _write_atomically(target, text, replace=editing is not None)
    except FileExistsError:
        return SavedAlert(problems=[Problem(rel, 1, "id", f"the file {rel} was just created by someone else")])
    return checked


def _write_atomically(target: Path, text: str, replace: bool) -> None:
    """Writes `text` to a temporary file beside `target`, flushed to disk, then renames it over `target`
    (replace) or links it there only if no file has that name yet (FileExistsError otherwise)."""
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, FILE_MODE)
        if replace:
            os.replace(temporary, target)
        else:
            os.link(temporary, target)  # atomic, and refuses an existing name
        folder = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(folder)  # the new name itself survives a crash
        finally:
            os.close(folder)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _leading_comments(path: Path) -> str:
    """The comment lines an alert file starts with (what staff wrote about its sources), kept on edit."""
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if not line.startswith("#"):
            break
        kept.append(line if line.endswith("\n") else line + "\n")
    return "".join(kept)


def _text(value: str) -> str:
    """A typed text without the browser's carriage returns or trailing blanks."""
    lines = value.replace("\r\n", "\n").replace("\r", "\n").strip().split("\n")
    return "\n".join(line.rstrip() for line in lines)


def _day(value: str) -> date | str:
    """A date field: a date when it is one (written unquoted, like the samples), else the text, for the checks."""
    text = value.strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        return text


class _AlertDumper(yaml.SafeDumper):
    """YAML laid out like the sample alerts: lists in brackets on one line, multi-line texts as blocks."""


def _represent_list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_AlertDumper.add_representer(list, _represent_list)
_AlertDumper.add_representer(str, _represent_str)
