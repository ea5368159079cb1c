"""Requests the bot must not answer from the knowledge base: improper ones (refused, with lawful
alternatives), requests to draft legal documents (what such a document usually contains, plus the
expert offer) and questions outside IP (a polite "outside what I can do").

The categories and their wording live in the staff-edited knowledge/requests.yml (format at the top
of that file). This is the domain layer: no Rasa, no Telegram, and nothing is read at import time.

How matching works: the message (its first 2,000 characters) is normalised — NFKC, case-folded,
dashes, apostrophes and whitespace unified — and every term is a plain substring of it; a term
that starts or ends with a Latin letter or digit must sit on a word boundary there, and a `*`
ending a word stands for any further letters of that word. A category matches when, for one entry
of its `match.any`, every group of `all` has a term in the message, and no `unless` term is in it
(with `unless_scope: sentence`, none in the sentence that holds the entry's first group).
Improper categories are tried first, then drafting, then out_of_scope, each in file order.
Each group is one precompiled regex of escaped alternatives, so a message is checked in time
linear in its length; no staff-written regex is ever compiled.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from actions.knowledge import (
    KnowledgeDocument,
    LangText,
    Problem,
    line_of,
    read_yaml_file,
    relative_name,
    validate_records,
)

logger = logging.getLogger(__name__)

KINDS = ("improper", "drafting", "out_of_scope")  # also the order in which categories are tried
MAX_EXAMINED_CHARS = 2000  # only the start of a message is examined
MAX_TERM_CHARS = 60
MAX_REPLY_WORDS_EN = 90
MAX_REPLY_CHARS_ZH = 180

_ID = r"^[a-z0-9][a-z0-9-]*$"
_CITE = re.compile(r"^[a-z0-9][a-z0-9-]*#[a-z0-9][a-z0-9-]*$")
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_WORD_TAIL = "[a-z0-9]*"  # what a `*` after a word stands for
_SPACES = re.compile(r"\s+")
_UNIFY = str.maketrans(
    {
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2e3a\u2e3b\ufe58\ufe63\uff0d", "-"),
        **dict.fromkeys("\u2018\u2019\u201b\u02bc\u2032\uff07", "'"),
    }
)


def normalise(text: str) -> str:
    """A message or a term as it is matched: NFKC, case-folded, one kind of dash, apostrophe and space."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_UNIFY)
    return _SPACES.sub(" ", folded).strip()


# ---- the file ---------------------------------------------------------------------------------------
def _text_term(value: object) -> object:
    if isinstance(value, bool):  # yes, no, on, off, true, false
        raise ValueError(f"YAML read this as {str(value).lower()}, not as text: put the term in quotes")
    if isinstance(value, int | float):
        raise ValueError(f"YAML read this as the number {value}, not as text: put the term in quotes")
    if not isinstance(value, str):
        raise ValueError("a term must be text: put it in quotes")
    return value


def _check_term(value: str) -> str:
    term = normalise(value)
    if not term.replace("*", ""):
        raise ValueError("empty term: give a word or phrase")
    if len(term) > MAX_TERM_CHARS:
        raise ValueError(f"term is {len(term)} characters long: keep it to {MAX_TERM_CHARS}")
    for i, char in enumerate(term):
        if char == "*" and (i == 0 or term[i - 1] not in _ALNUM or (i + 1 < len(term) and term[i + 1] in _ALNUM)):
            raise ValueError(f"{value!r}: '*' may only end a word of Latin letters or digits, as in 'relabel*'")
    return value


def _non_empty(what: str):
    def check(value: list) -> list:
        if not value:
            raise ValueError(what)
        return value

    return AfterValidator(check)


Term = Annotated[str, BeforeValidator(_text_term), AfterValidator(_check_term)]
TermGroup = Annotated[list[Term], _non_empty("empty group: it can never match, give at least one term")]


class MatchEntry(BaseModel):
    """One way a request can be phrased: every group must have a term in the message."""

    model_config = ConfigDict(extra="forbid")
    all: Annotated[list[TermGroup], _non_empty("give at least one group of terms")]


class MatchRule(BaseModel):
    """The ways a request can be phrased: one matching entry is enough."""

    model_config = ConfigDict(extra="forbid")
    any: Annotated[list[MatchEntry], _non_empty("give at least one entry with `all:` groups")]


def _check_cite(value: str) -> str:
    if not _CITE.match(value):
        raise ValueError(f"{value!r} must be 'document-id#section-id'")
    return value


class RequestCategory(BaseModel):
    """One kind of request the bot answers from this file instead of the knowledge base."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=_ID)
    kind: Literal[KINDS]  # type: ignore[valid-type]
    match: MatchRule
    unless: list[Term] = Field(default_factory=list)
    # "message": an `unless` term anywhere blocks the category (the victim's phrasings of improper
    # requests, the IP words of out_of_scope). "sentence": it blocks only its own sentence, so a
    # question form does not hide a request made in the next one ("申诉信怎么写？帮我写一份").
    unless_scope: Literal["message", "sentence"] = "message"
    reply: LangText
    cite: list[Annotated[str, AfterValidator(_check_cite)]] = Field(default_factory=list, validate_default=True)
    offer_case: bool

    @field_validator("reply")
    @classmethod
    def _short_reply(cls, reply: LangText) -> LangText:
        words, chars = len(reply.en.split()), len(reply.zh)
        if words > MAX_REPLY_WORDS_EN:
            raise ValueError(f"the en reply has {words} words: keep it to {MAX_REPLY_WORDS_EN}")
        if chars > MAX_REPLY_CHARS_ZH:
            raise ValueError(f"the zh reply has {chars} characters: keep it to {MAX_REPLY_CHARS_ZH}")
        return reply

    @field_validator("cite")
    @classmethod
    def _cited_alternatives(cls, cite: list[str], info: ValidationInfo) -> list[str]:
        if info.data.get("kind") in ("improper", "drafting") and not cite:
            raise ValueError(f"{info.data['kind']} replies must cite the knowledge sections they point to")
        return cite

    @field_validator("offer_case")
    @classmethod
    def _no_case_for_refusals(cls, offer_case: bool, info: ValidationInfo) -> bool:
        if offer_case and info.data.get("kind") in ("improper", "out_of_scope"):
            raise ValueError(f"{info.data['kind']} requests get no case offer: set offer_case: false")
        return offer_case


# ---- matching ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RequestDecision:
    """What the bot says instead of a knowledge-base answer, and whether it offers an expert."""

    category: str
    kind: str
    reply: dict[str, str]
    cite: tuple[str, ...]
    offer_case: bool

    def text(self, lang: str) -> str:
        """The reply in the user's language (English when there is none in it)."""
        return self.reply.get(lang) or self.reply["en"]


def _term_pattern(term: str) -> str:
    """A term as a regex fragment: escaped text, `*` as the rest of a word, Latin word boundaries."""
    text = normalise(term)
    pieces = [_WORD_TAIL if char == "*" else re.escape(char) for char in text]
    if text[0] in _ALNUM:
        # the left boundary is checked after the first character, so that every alternative starts with a
        # literal and the regex engine can skip positions by first character (10x faster, same matches)
        pieces[0] += "(?<![a-z0-9].)"
    tail = "(?![a-z0-9])" if text[-1] in _ALNUM or text[-1] == "*" else ""
    return "".join(pieces) + tail


def _group_regex(terms: list[str]) -> re.Pattern[str]:
    fragments = sorted({_term_pattern(t) for t in terms}, key=lambda f: (-len(f), f))
    return re.compile("|".join(fragments))


_SENTENCE_END = re.compile(r"[。？！；?!;\n]|\.(?:\s|$)")


@dataclass(frozen=True)
class _Matcher:
    index: int  # the category's position in the file, for messages
    category: RequestCategory
    entries: tuple[tuple[re.Pattern[str], ...], ...]
    unless: re.Pattern[str] | None

    def matches(self, message: str) -> bool:
        if self.unless is None:
            return any(all(group.search(message) for group in entry) for entry in self.entries)
        if self.category.unless_scope == "message":
            return not self.unless.search(message) and any(
                all(group.search(message) for group in entry) for entry in self.entries
            )
        # sentence scope: the entry's first group (the request itself) must sit in a sentence
        # without an `unless` term; its other groups may be anywhere in the message
        free = [s for s in _SENTENCE_END.split(message) if s.strip() and not self.unless.search(s)]
        return any(
            all(group.search(message) for group in entry[1:]) and any(entry[0].search(s) for s in free)
            for entry in self.entries
        )


class RequestPolicy:
    """The validated categories of knowledge/requests.yml, compiled for matching."""

    def __init__(self, categories: list[tuple[int, RequestCategory]], path: str, lines: dict[str, int]):
        self.path = path
        self.categories = tuple(c for _, c in categories)
        self._lines = lines
        order = {kind: i for i, kind in enumerate(KINDS)}
        matchers = [
            _Matcher(
                index,
                c,
                tuple(tuple(_group_regex(group) for group in entry.all) for entry in c.match.any),
                _group_regex(c.unless) if c.unless else None,
            )
            for index, c in categories
        ]
        self._matchers = tuple(sorted(matchers, key=lambda m: (order[m.category.kind], m.index)))

    def classify(self, text: str) -> RequestDecision | None:
        """The category a message falls in (improper first, then drafting, then out_of_scope), or None
        when it is an ordinary question for the knowledge base."""
        message = normalise(text[:MAX_EXAMINED_CHARS])
        if not message:
            return None
        for matcher in self._matchers:
            if matcher.matches(message):
                c = matcher.category
                return RequestDecision(c.id, c.kind, {"zh": c.reply.zh, "en": c.reply.en}, tuple(c.cite), c.offer_case)
        return None

    def citations(self) -> list[tuple[str, int, str]]:
        """Every `cite` of the file as (field, line, citation), for checking against the documents."""
        found = []
        for m in sorted(self._matchers, key=lambda m: m.index):
            for j, cite in enumerate(m.category.cite):
                found.append((f"[{m.index}].cite.{j}", line_of(self._lines, f"{m.index}.cite.{j}", 1), cite))
        return found


def load_request_policy(path: Path, root: Path | None = None) -> tuple[RequestPolicy | None, list[Problem]]:
    """Reads and validates the request categories; every mistake is a file:line problem.

    A category with errors (or a repeated id) is left out and the others still work, so one typo never
    switches off every refusal; None only when the file cannot be read or is not a YAML list.
    """
    rel = relative_name(path, root)
    data, lines, problems = read_yaml_file(path, rel)
    if problems:
        return None, problems
    if not isinstance(data, list):
        return None, [Problem(rel, 1, "requests", "the file must be a YAML list of request categories")]
    categories, problems = validate_records(data, RequestCategory, rel, lines, "requests")
    return RequestPolicy(categories, rel, lines), problems


def known_citations(documents: list[KnowledgeDocument]) -> set[str]:
    """Every citable `document-id#section-id` of the knowledge documents."""
    return {f"{d.meta.id}#{s.id}" for d in documents for s in d.sections}


def missing_citations(policy: RequestPolicy, known: set[str]) -> list[Problem]:
    """A problem for each `cite` that names no knowledge section (`known`: see `known_citations`)."""
    documents = {k.partition("#")[0] for k in known}
    problems = []
    for field, line, cite in policy.citations():
        if cite in known:
            continue
        doc_id, _, section = cite.partition("#")
        if doc_id not in documents:
            problems.append(Problem(policy.path, line, field, f"no knowledge document with id {doc_id!r}"))
        else:
            problems.append(Problem(policy.path, line, field, f"document {doc_id!r} has no section {section!r}"))
    return problems


# ---- for the action server ----------------------------------------------------------------------------
def policy_for(path: Path, root: Path | None = None) -> RequestPolicy | None:
    """The policy in `path`, read again only when the file changes; problems are logged once per version."""
    try:
        stat = path.stat()
        version = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        version = (0, 0)
    return _policy(str(path), str(root) if root else "", version)


@lru_cache(maxsize=4)
def _policy(path: str, root: str, version: tuple[int, int]) -> RequestPolicy | None:
    policy, problems = load_request_policy(Path(path), Path(root) if root else None)
    for p in problems:
        (logger.error if p.severity == "error" else logger.warning)("request categories: %s", p)
    return policy
