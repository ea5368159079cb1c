"""The conversation-test format: YAML files under eval/conversations/, validated with pydantic.

A file is a list of conversations; a conversation is a list of turns; a turn is what the user says
(`user:`) or which button they press (`press:`), and what the bot's reply must show (`expect:`).
Every mistake in a file is reported as `file:line: where: message`, and names that must exist
(intents, slots, actions, knowledge documents) are checked against the bot's domain and knowledge/.
The evaluator's guide with every key is eval/README.md.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from actions.knowledge import line_of, load_knowledge, yaml_key_lines

ROOT = Path(__file__).resolve().parents[2]
CONVERSATIONS_DIR = ROOT / "eval" / "conversations"
DOMAIN_PATH = ROOT / "bot" / "domain.yml"
KNOWLEDGE_DIR = ROOT / "knowledge"
ANY_VALUE = "*"  # in `slots:`, any value that is set
# Actions every Rasa bot has besides the domain's own.
BUILTIN_ACTIONS = frozenset(
    {
        "action_listen",
        "action_restart",
        "action_session_start",
        "action_default_fallback",
        "action_deactivate_loop",
        "action_revert_fallback_events",
        "action_default_ask_affirmation",
        "action_default_ask_rephrase",
        "action_two_stage_fallback",
        "action_unlikely_intent",
        "action_back",
        "action_extract_slots",
    }
)
BUILTIN_INTENTS = frozenset({"nlu_fallback"})
BUILTIN_SLOTS = frozenset({"requested_slot", "session_started_metadata"})


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false are booleans, so `user: yes` stays the text "yes"."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _as_text(value: Any) -> Any:
    """A number written where text is meant ("88", "3.5") becomes that text."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _as_list(value: Any) -> Any:
    """One string where a list is allowed counts as a list of one."""
    value = _as_text(value)
    if isinstance(value, str):
        return [value]
    return [_as_text(v) for v in value] if isinstance(value, list) else value


class CaseExpect(BaseModel):
    """What the case a turn created must look like (fields of the stored case)."""

    model_config = ConfigDict(extra="forbid")
    created: bool = True  # false: no case was opened this turn
    country: str | None = None
    ip_type: str | None = None
    incident_type: str | None = None
    language: Literal["zh", "en"] | None = None
    urgent: bool | None = None
    status: str | None = None
    contact_kind: Literal["email", "phone", "telegram"] | None = None
    enterprise: str | None = None
    deadline: str | None = None  # ISO date, or "none"
    min_offers: int | None = Field(default=None, ge=0)  # experts the case was offered to, at least

    def fields(self) -> dict[str, Any]:
        """The case fields the evaluator set."""
        return self.model_dump(exclude_none=True, exclude={"created"})


class Expect(BaseModel):
    """Expectations on the bot's reply to one user turn; every key is optional."""

    model_config = ConfigDict(extra="forbid")
    contains: list[str] = []  # every one of these appears in the bot's text
    contains_any: list[str] = []  # at least one appears
    not_contains: list[str] = []  # none appears
    language: Literal["zh", "en"] | None = None  # every bot message with a language signal is in it
    cites: list[str] = []  # every one is cited: doc id, doc-id#section-id, path or folder/
    cites_any: list[str] = []  # at least one is cited
    not_cites: list[str] = []  # none of these is cited
    no_citations: bool = False  # nothing is cited
    answered: bool | None = None  # the answer action found (true) or did not find (false) an answer
    buttons: list[str] = []  # every one is offered (title or payload)
    no_buttons: bool = False  # no button is offered
    intent: list[str] = []  # NLU's intent for the user's message is one of these
    actions: list[str] = []  # every one of these actions ran in this turn
    not_actions: list[str] = []  # none of these ran
    slots: dict[str, Any] = {}  # slot values after the turn; null = not set, "*" = any value
    case_created: CaseExpect | None = None  # a case was (true, or its fields) or was not (false) opened
    max_seconds: float | None = Field(default=None, gt=0)  # the reply came within this time
    silent: bool = False  # the bot may say nothing (by default an empty reply fails)

    _lines: dict[str, int] = PrivateAttr(default_factory=dict)

    @field_validator(
        "contains",
        "contains_any",
        "not_contains",
        "cites",
        "cites_any",
        "not_cites",
        "buttons",
        "intent",
        "actions",
        "not_actions",
        mode="before",
    )
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("case_created", mode="before")
    @classmethod
    def _case(cls, value: Any) -> Any:
        return {"created": value} if isinstance(value, bool) else value

    @field_validator("contains", "contains_any", "not_contains", "cites", "cites_any", "not_cites", "buttons")
    @classmethod
    def _no_empty_strings(cls, value: list[str]) -> list[str]:
        if any(not v.strip() for v in value):
            raise ValueError("an empty string matches everything; remove it")
        return value

    def written_keys(self) -> list[str]:
        """The keys the evaluator wrote, in the order of the model."""
        return [name for name in type(self).model_fields if name in self.model_fields_set]

    def line(self, key: str, default: int) -> int:
        """The file line of one key of this expectation."""
        return self._lines.get(key, default)


class Turn(BaseModel):
    """One user turn: a message (`user`) or a button press (`press`), and the expectations."""

    model_config = ConfigDict(extra="forbid")
    user: str | None = None
    press: str | None = None
    expect: Expect = Field(default_factory=Expect)

    _line: int = PrivateAttr(default=0)

    @field_validator("user", "press", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return _as_text(value)

    @model_validator(mode="after")
    def _one_kind(self) -> Turn:
        if (self.user is None) == (self.press is None):
            raise ValueError("a turn needs exactly one of `user:` (a message) or `press:` (a button)")
        if self.press is not None and not self.press.strip():
            raise ValueError("`press:` needs a button title or payload")
        return self

    @property
    def line(self) -> int:
        """The file line where the turn starts."""
        return self._line

    def shown(self) -> str:
        """How the turn reads in a transcript."""
        return f"user: {self.user}" if self.user is not None else f"user presses: {self.press}"


class Conversation(BaseModel):
    """A named conversation test: its turns, run with a fresh sender id."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=80)
    description: str = ""
    tags: list[str] = []
    turns: list[Turn] = Field(min_length=1)

    _file: str = PrivateAttr(default="")
    _line: int = PrivateAttr(default=0)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        return _as_list(value)

    @property
    def file(self) -> str:
        """The file it was read from, relative to the project root."""
        return self._file

    @property
    def line(self) -> int:
        """The file line where it starts."""
        return self._line

    @property
    def where(self) -> str:
        """`file:line` of the conversation."""
        return f"{self._file}:{self._line}"


@dataclass(frozen=True)
class SpecError:
    """A mistake in a conversation file, printed as `file:line: where: message`."""

    file: str
    line: int
    where: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.file}:{self.line}: {self.where}: {self.message}"
            if self.where
            else f"{self.file}:{self.line}: {self.message}"
        )


@dataclass(frozen=True)
class Vocabulary:
    """The names a conversation may refer to: the bot's intents, slots and actions, and the
    knowledge documents (ids, doc-id#section-id, paths)."""

    intents: frozenset[str]
    slots: frozenset[str]
    actions: frozenset[str]
    documents: frozenset[str]
    paths: frozenset[str] = field(default_factory=frozenset)

    def knows_citation(self, value: str) -> bool:
        """True for a document id, a section key, a path, or a folder prefix ending in '/'."""
        if value.endswith("/"):
            return any(p.startswith(value) for p in self.paths)
        return value in self.documents or value in self.paths


def _domain_files(path: Path) -> list[Path]:
    return sorted(path.rglob("*.yml")) + sorted(path.rglob("*.yaml")) if path.is_dir() else [path]


def load_vocabulary(domain: Path = DOMAIN_PATH, knowledge_dir: Path = KNOWLEDGE_DIR) -> Vocabulary:
    """Reads the intents, slots and actions of the domain (a file or a folder) and the knowledge ids."""
    intents: set[str] = set(BUILTIN_INTENTS)
    slots: set[str] = set(BUILTIN_SLOTS)
    actions: set[str] = set(BUILTIN_ACTIONS)
    for path in _domain_files(domain):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for intent in data.get("intents") or []:
            intents.add(next(iter(intent)) if isinstance(intent, dict) else str(intent))
        slots.update((data.get("slots") or {}).keys())
        actions.update(data.get("actions") or [])
        actions.update((data.get("responses") or {}).keys())
        actions.update((data.get("forms") or {}).keys())
    documents: set[str] = set()
    paths: set[str] = set()
    docs, _ = load_knowledge(knowledge_dir, root=knowledge_dir.parent)
    for doc in docs:
        documents.add(doc.meta.id)
        documents.update(f"{doc.meta.id}#{s.id}" for s in doc.sections)
        paths.add(doc.path)
    return Vocabulary(frozenset(intents), frozenset(slots), frozenset(actions), frozenset(documents), frozenset(paths))


def _hint(value: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _message(error: Mapping[str, Any], allowed: Iterable[str]) -> str:
    if error["type"] == "extra_forbidden":
        key = str(error["loc"][-1])
        return f"unknown key {key!r}{_hint(key, allowed)}"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "string_type" and isinstance(error.get("input"), dict):
        message += ' (YAML read a "key: value" here: put a text containing ": " or ending in ":" in quotes)'
    return message


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed where an unknown key was found, for a did-you-mean hint."""
    parts = [p for p in loc[:-1] if not isinstance(p, int)]
    models: dict[str, type[BaseModel]] = {"turns": Turn, "expect": Expect, "case_created": CaseExpect}
    model: type[BaseModel] = Conversation
    for part in parts[1:] if parts and parts[0] == "root" else parts:
        model = models.get(str(part), model)
    return list(model.model_fields)


def _parse(path: Path, rel: str) -> tuple[list[Conversation], list[SpecError]]:
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        return [], [SpecError(rel, (mark.line + 1) if mark else 1, "", f"YAML syntax: {exc.problem or exc}")]
    if data is None:
        return [], []
    if not isinstance(data, list):
        return [], [SpecError(rel, 1, "", "a conversation file is a YAML list of conversations (`- name: …`)")]
    lines = yaml_key_lines(text)
    conversations: list[Conversation] = []
    errors: list[SpecError] = []
    for i, item in enumerate(data):
        start = line_of(lines, str(i), 1)
        try:
            conv = Conversation.model_validate(item)
        except ValidationError as exc:
            name = item.get("name") if isinstance(item, dict) else None
            for error in exc.errors():
                loc = tuple(error["loc"])
                dotted = ".".join(str(p) for p in loc)
                where = f"{name or f'conversation {i + 1}'}" + (f": {dotted}" if dotted else "")
                line = line_of(lines, f"{i}.{dotted}" if dotted else str(i), start)
                errors.append(SpecError(rel, line, where, _message(error, _allowed_keys(loc))))
            continue
        conv._file, conv._line = rel, start
        for t, turn in enumerate(conv.turns):
            turn._line = line_of(lines, f"{i}.turns.{t}", start)
            prefix = f"{i}.turns.{t}.expect"
            turn.expect._lines = {key: line_of(lines, f"{prefix}.{key}", turn._line) for key in Expect.model_fields}
        conversations.append(conv)
    return conversations, errors


def _check_names(conv: Conversation, vocab: Vocabulary) -> list[SpecError]:
    """Names that do not exist in the domain or knowledge/, and presses with nothing to press."""
    errors: list[SpecError] = []

    def bad(turn: Turn, key: str, message: str) -> None:
        errors.append(SpecError(conv.file, turn.expect.line(key, turn.line), f"{conv.name}: {key}", message))

    for n, turn in enumerate(conv.turns):
        e = turn.expect
        if n == 0 and turn.press is not None:
            errors.append(
                SpecError(
                    conv.file, turn.line, conv.name, "the first turn cannot press a button: the bot has not replied yet"
                )
            )
        for intent in e.intent:
            if intent not in vocab.intents:
                bad(turn, "intent", f"no intent {intent!r} in the domain{_hint(intent, vocab.intents)}")
        for key in ("actions", "not_actions"):
            for action in getattr(e, key):
                if action not in vocab.actions:
                    bad(turn, key, f"no action {action!r} in the domain{_hint(action, vocab.actions)}")
        for slot in e.slots:
            if slot not in vocab.slots:
                bad(turn, "slots", f"no slot {slot!r} in the domain{_hint(slot, vocab.slots)}")
        for key in ("cites", "cites_any", "not_cites"):
            for value in getattr(e, key):
                if not vocab.knows_citation(value):
                    bad(
                        turn,
                        key,
                        f"{value!r} is no knowledge document id, doc-id#section-id, path or folder"
                        f"{_hint(value, vocab.documents | vocab.paths)}",
                    )
    return errors


def load_conversations(
    paths: Iterable[Path] | None = None, vocab: Vocabulary | None = None, root: Path = ROOT
) -> tuple[list[Conversation], list[SpecError]]:
    """Reads and validates conversation files (default: every eval/conversations/*.yml)."""
    files = sorted(CONVERSATIONS_DIR.glob("*.yml")) if paths is None else list(paths)
    vocab = vocab if vocab is not None else load_vocabulary()
    conversations: list[Conversation] = []
    errors: list[SpecError] = []
    seen: dict[str, str] = {}
    for path in files:
        path = Path(path).resolve()
        rel = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        found, problems = _parse(path, rel)
        errors.extend(problems)
        for conv in found:
            errors.extend(_check_names(conv, vocab))
            if conv.name in seen:
                errors.append(SpecError(rel, conv.line, conv.name, f"duplicate name, also at {seen[conv.name]}"))
                continue
            seen[conv.name] = conv.where
            conversations.append(conv)
    return conversations, sorted(errors, key=lambda e: (e.file, e.line))


def select(
    conversations: list[Conversation], tags: Iterable[str] = (), names: Iterable[str] = ()
) -> list[Conversation]:
    """The conversations that carry any of the tags and match any of the names (globs); all when empty."""
    from fnmatch import fnmatch

    tags, names = set(tags), list(names)
    return [
        c
        for c in conversations
        if (not tags or tags & set(c.tags)) and (not names or any(fnmatch(c.name, pattern) for pattern in names))
    ]
