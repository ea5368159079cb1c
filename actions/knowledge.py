"""Reads and validates the staff-edited knowledge documents in knowledge/.

A document is Markdown with YAML front matter (see knowledge/README.md). Loading never raises on
bad content: every mistake becomes a `Problem` that names file, line and field, and the document
is left out, so one broken file never takes down the rest.
"""

from __future__ import annotations

import hashlib
import re
import stat
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from langchain_community.document_loaders import TextLoader
from langchain_core.documents import Document
from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, field_validator, model_validator

LANGUAGES = ("zh", "en")
IP_TYPES = ("patent", "utility_model", "design", "trademark", "copyright", "gi", "trade_secret")
TOPICS = ("pph", "rcep", "dispute")
SOURCE_KINDS = ("official", "secondary")
DOCUMENT_GLOB = "**/*.md"
MAX_CHUNK_CHARS = 700

_ID = r"^[a-z0-9][a-z0-9-]*$"
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: ~10x faster
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)---[ \t]*\n", re.S)
_SECTION = re.compile(r"^##\s+(?!#)(.*\S)\s*$")
_PASSAGE = re.compile(r"^###\s+(?!#)(.*\S)\s*$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a knowledge file, printed as `file:line: field: message`."""

    path: str
    line: int
    field: str
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{self.path}:{self.line}: {self.field}: {prefix}{self.message}"


class LangText(BaseModel):
    """A text given in both Chinese and English."""

    model_config = ConfigDict(extra="forbid")
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Tags(BaseModel):
    """What a document is about: markets, kinds of IP, topics."""

    model_config = ConfigDict(extra="forbid")
    countries: list[str] = Field(default_factory=list)
    ip_types: list[Literal[IP_TYPES]] = Field(default_factory=list)  # type: ignore[valid-type]
    topics: list[Literal[TOPICS]] = Field(min_length=1)  # type: ignore[valid-type]

    @field_validator("countries")
    @classmethod
    def _country_codes(cls, value: list[str]) -> list[str]:
        for code in value:
            if not re.fullmatch(r"[A-Z]{2}", code):
                raise ValueError(f"{code!r} is not a two-letter country code such as JP or EU")
        return value


MAX_ASK_CHARS = 200
PPH_OFFICE = r"^([A-Z]{2}|any)$"


class Asks(BaseModel):
    """Questions a section answers, as users ask them, in each language."""

    model_config = ConfigDict(extra="forbid")
    zh: list[str] = Field(default_factory=list)
    en: list[str] = Field(default_factory=list)

    @field_validator("zh", "en")
    @classmethod
    def _questions(cls, value: list[str]) -> list[str]:
        for question in value:
            if not isinstance(question, str) or not question.strip():
                raise ValueError("a question must be non-empty text")
            if len(question) > MAX_ASK_CHARS:
                raise ValueError(f"a question is at most {MAX_ASK_CHARS} characters: {question[:40]!r}…")
        return [q.strip() for q in value]


class PphDirection(BaseModel):
    """The one PPH direction a section is about: whose result is used (office of earlier
    examination) and where the request is filed (office of later examination)."""

    model_config = ConfigDict(extra="forbid")
    oee: str = Field(pattern=PPH_OFFICE)
    ole: str = Field(pattern=PPH_OFFICE)


class SectionMeta(BaseModel):
    """What staff say about one section in the front matter: the questions it answers, its PPH
    direction, and the document's sources it rests on (the first is the link its citations show)."""

    model_config = ConfigDict(extra="forbid")
    asks: Asks = Field(default_factory=Asks)
    pph: PphDirection | None = None
    sources: list[HttpUrl] = Field(default_factory=list)


class Source(BaseModel):
    """One source of a document: its URL and whether it is official (a treaty, law or regulation, an office's,
    court's or platform's own page, at the publisher's address) or secondary (a law firm, news, commentary,
    or a copy of an official text on another site, said so in its note).

    Staff write `- official: URL` or `- secondary: URL`, optionally with `note:` on the next line; a bare
    `- URL` is still read (kind unknown: the checker warns). A source prints as its URL.
    """

    model_config = ConfigDict(extra="forbid")
    url: HttpUrl
    kind: Literal[SOURCE_KINDS] | None = None  # type: ignore[valid-type]
    note: str | None = Field(default=None, min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"url": value}
        if isinstance(value, dict) and "url" not in value:
            kinds = [kind for kind in SOURCE_KINDS if kind in value]
            if len(kinds) != 1 or "kind" in value:
                raise ValueError("write `- official: URL` or `- secondary: URL` (a `note:` may follow)")
            rest = {key: v for key, v in value.items() if key != kinds[0]}
            return {"url": value[kinds[0]], "kind": kinds[0], **rest}
        return value

    def __str__(self) -> str:
        return str(self.url)


class DocumentMeta(BaseModel):
    """The front matter every knowledge document must have."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=_ID)
    title: LangText
    sources: list[Source] = Field(min_length=1)
    last_reviewed: date
    tags: Tags
    sections: dict[str, SectionMeta] = Field(default_factory=dict)

    @property
    def urls(self) -> list[str]:
        """The URLs of the document's sources, in the order staff listed them."""
        return [str(source.url) for source in self.sources]

    @property
    def cited_urls(self) -> list[str]:
        """The URLs in the order a citation uses them: official sources first, then as listed. A
        section without its own `sources` links the first, so an answer never points at a law firm's
        article when the document also cites the treaty, the law or the office's page."""
        ranked = sorted(self.sources, key=lambda source: source.kind != "official")  # stable: keeps staff order
        return [str(source.url) for source in ranked]

    def count_sources(self, kind: str | None) -> int:
        """How many of the document's sources are of this kind (None: not said)."""
        return sum(source.kind == kind for source in self.sources)


@dataclass(frozen=True)
class Section:
    """One `##` section of a document, with its passage in each language."""

    id: str
    title_zh: str
    title_en: str
    text_zh: str
    text_en: str
    line: int
    asks_zh: tuple[str, ...] = ()
    asks_en: tuple[str, ...] = ()
    pph: tuple[str, str] | None = None  # (office of earlier examination, office of later examination)
    sources: tuple[str, ...] = ()  # the document's sources this section rests on; empty: all of them

    def asks(self, lang: str) -> tuple[str, ...]:
        """The questions this section answers, in one language."""
        return self.asks_zh if lang == "zh" else self.asks_en


@dataclass(frozen=True)
class KnowledgeDocument:
    """A validated knowledge document."""

    meta: DocumentMeta
    path: str  # relative to the project root, as cited to users
    sha256: str
    sections: tuple[Section, ...] = field(default_factory=tuple)


def section_id(english_title: str) -> str:
    """The id of a section: its English title in lower case, words joined by '-'."""
    kept = re.sub(r"[^a-z0-9\s-]", "", english_title.lower())
    return re.sub(r"[\s-]+", "-", kept).strip("-")


def yaml_key_lines(text: str, first_line: int = 1) -> dict[str, int]:
    """Line of each key and list item of a YAML text, as dotted paths ('tags.topics', '0.id').

    first_line is the file line on which the YAML text starts (front matter starts on line 2).
    """
    lines: dict[str, int] = {}
    try:
        root = yaml.compose(text, Loader=_YAML_LOADER)  # the loader that reads the file
    except yaml.YAMLError:
        return lines

    def walk(node: yaml.Node, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                name = f"{prefix}{key_node.value}"
                lines[name] = key_node.start_mark.line + first_line
                walk(value_node, name + ".")
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[f"{prefix}{i}"] = item.start_mark.line + first_line
                walk(item, f"{prefix}{i}.")

    if root is not None:
        walk(root, "")
    return lines


def line_of(key_lines: dict[str, int], loc: str, default: int) -> int:
    """The line of a dotted path, else of its nearest parent that has one."""
    while loc:
        if loc in key_lines:
            return key_lines[loc]
        loc = loc.rpartition(".")[0]
    return default


def relative_name(path: Path, root: Path | None) -> str:
    """How a staff file is named in messages and citations: relative to `root` when it lies below it."""
    return path.relative_to(root).as_posix() if root and path.is_relative_to(root) else str(path)


def read_yaml_file(path: Path, rel: str) -> tuple[Any, dict[str, int], list[Problem]]:
    """A staff-edited YAML file: its data, the line of each key (see `yaml_key_lines`), and a
    file:line problem instead of the data when it cannot be read or parsed."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, {}, [Problem(rel, 1, "file", f"cannot be read: {exc}")]
    except UnicodeDecodeError as exc:
        return None, {}, [Problem(rel, 1, "file", f"cannot be read as UTF-8 text: {exc}")]
    return parse_yaml_text(text, rel)


def parse_yaml_text(text: str, rel: str) -> tuple[Any, dict[str, int], list[Problem]]:
    """`read_yaml_file` for a text not (yet) in a file, such as the console's alert form before it is written."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        return None, {}, [Problem(rel, line, "yaml", f"invalid YAML: {getattr(exc, 'problem', exc)}")]
    return data, yaml_key_lines(text), []


def validation_problems(
    exc: ValidationError, rel: str, lines: dict[str, int], default_field: str, item: int | None = None
) -> list[Problem]:
    """pydantic's errors as file:line problems; `item` is the list index when the model is one entry of a list."""
    problems = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
        message = "missing" if err["type"] == "missing" else err["msg"].removeprefix("Value error, ")
        if item is None:
            problems.append(Problem(rel, line_of(lines, loc, 1), loc or default_field, message))
        else:
            field = f"[{item}].{loc}" if loc else f"[{item}]"
            problems.append(Problem(rel, line_of(lines, f"{item}.{loc}".rstrip("."), 1), field, message))
    return problems


def validate_records(
    data: list[Any], model: type[BaseModel], rel: str, lines: dict[str, int], default_field: str
) -> tuple[list[tuple[int, Any]], list[Problem]]:
    """The entries of a staff-edited YAML list validated as `model`, with their list index; a duplicate
    `id` or an invalid entry is a file:line problem and left out, so the others still count."""
    records: list[tuple[int, Any]] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(data):
        line = lines.get(f"{i}.id", lines.get(str(i), 1))
        raw_id = entry.get("id") if isinstance(entry, dict) else None
        if isinstance(raw_id, str) and raw_id in seen:
            problems.append(Problem(rel, line, f"[{i}].id", f"duplicate id {raw_id!r}, first on line {seen[raw_id]}"))
            continue
        if isinstance(raw_id, str):
            seen[raw_id] = line
        try:
            records.append((i, model.model_validate(entry)))
        except ValidationError as exc:
            problems += validation_problems(exc, rel, lines, default_field, item=i)
    return records, problems


def _parse_sections(body: str, body_line: int, rel: str, problems: list[Problem]) -> list[Section]:
    """Splits the Markdown body into bilingual sections with LangChain's header splitter."""
    headings: dict[str, int] = {}
    passages: dict[str, dict[str, int]] = {}
    current: str | None = None
    for offset, text in enumerate(body.splitlines()):
        line = body_line + offset
        if m := _SECTION.match(text):
            current = m.group(1)
            if current in headings:
                problems.append(Problem(rel, line, "section", f"duplicate section heading {current!r}"))
            headings.setdefault(current, line)
            passages.setdefault(current, {})
            if "|" not in current:
                problems.append(Problem(rel, line, "section", "heading must be '中文标题 | English title'"))
        elif m := _PASSAGE.match(text):
            lang = m.group(1).strip().lower()
            if current is None:
                problems.append(Problem(rel, line, "passage", "'### zh/en' outside a '##' section"))
            elif lang not in LANGUAGES:
                problems.append(Problem(rel, line, "passage", f"unknown language {lang!r}: use zh or en"))
            elif lang in passages[current]:
                problems.append(Problem(rel, line, f"passage.{lang}", "given twice in this section"))
            else:
                passages[current][lang] = line

    splitter = MarkdownHeaderTextSplitter(headers_to_split_on=[("##", "section"), ("###", "lang")], strip_headers=True)
    texts: dict[tuple[str, str], str] = {}
    for piece in splitter.split_text(body):
        heading, lang = piece.metadata.get("section"), piece.metadata.get("lang", "").lower()
        if heading and lang in LANGUAGES:
            text = re.sub(r"[ \t]+\n", "\n", piece.page_content).strip()
            texts[(heading, lang)] = text

    sections: list[Section] = []
    seen_ids: dict[str, int] = {}
    for heading, line in headings.items():
        zh_title, _, en_title = (part.strip() for part in heading.partition("|"))
        ok = True
        for lang in LANGUAGES:
            if lang not in passages[heading]:
                problems.append(
                    Problem(rel, line, f"passage.{lang}", f"section {heading!r} has no '### {lang}' passage")
                )
                ok = False
            elif not texts.get((heading, lang)):
                problems.append(Problem(rel, passages[heading][lang], f"passage.{lang}", "passage is empty"))
                ok = False
        sid = section_id(en_title)
        if sid in seen_ids:
            problems.append(Problem(rel, line, "section", f"section id {sid!r} also used on line {seen_ids[sid]}"))
            ok = False
        seen_ids[sid] = line
        if ok and en_title and zh_title:
            sections.append(
                Section(sid, zh_title.strip(), en_title.strip(), texts[(heading, "zh")], texts[(heading, "en")], line)
            )
    if not headings:
        problems.append(Problem(rel, body_line, "sections", "the document has no '## 中文 | English' section"))
    return sections


_parsed: dict[tuple[str, str, date, int], tuple[KnowledgeDocument | None, list[Problem]]] = {}


def load_document(
    path: Path, root: Path, today: date | None = None, max_age_days: int = 365
) -> tuple[KnowledgeDocument | None, list[Problem]]:
    """Reads one document; returns it (None if it has errors) and every problem found.

    A file whose content was parsed before in this process is not parsed again (so re-indexing
    after one edit parses one file).
    """
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
    try:
        raw = TextLoader(str(path), encoding="utf-8").load()[0].page_content
    except Exception as exc:  # unreadable file, bad encoding
        return None, [Problem(rel, 1, "file", f"cannot be read as UTF-8 text: {exc}")]
    today = today or date.today()
    key = (rel, hashlib.sha256(raw.encode("utf-8")).hexdigest(), today, max_age_days)
    if key not in _parsed:
        if len(_parsed) > 20000:
            _parsed.clear()
        _parsed[key] = _parse_document(raw, rel, key[1], today, max_age_days)
    return _parsed[key]


def _parse_document(
    raw: str, rel: str, digest: str, today: date, max_age_days: int
) -> tuple[KnowledgeDocument | None, list[Problem]]:
    problems: list[Problem] = []
    text = raw.replace("\r\n", "\n")
    m = _FRONT_MATTER.match(text)
    if not m:
        return None, [Problem(rel, 1, "front matter", "the file must start with '---', YAML, '---'")]
    front, body = m.group(1), text[m.end() :]
    body_line = front.count("\n") + 3
    try:
        data = yaml.load(front, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark else 1
        return None, [Problem(rel, line, "front matter", f"invalid YAML: {getattr(exc, 'problem', exc)}")]
    if not isinstance(data, dict):
        return None, [Problem(rel, 2, "front matter", "must be a mapping of fields")]

    key_lines: dict[str, int] = {}
    meta: DocumentMeta | None = None
    try:
        meta = DocumentMeta.model_validate(data)
    except ValidationError as exc:
        key_lines = yaml_key_lines(front, first_line=2)  # only needed to report errors
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            line = line_of(key_lines, loc, 2)
            message = "missing" if err["type"] == "missing" else err["msg"].removeprefix("Value error, ")
            problems.append(Problem(rel, line, loc, message))

    sections = _parse_sections(body, body_line, rel, problems)

    if meta is not None:
        line = next((i for i, text in enumerate(front.splitlines(), start=2) if text.startswith("last_reviewed")), 2)
        if meta.last_reviewed > today:
            problems.append(Problem(rel, line, "last_reviewed", f"{meta.last_reviewed} is in the future"))
        elif meta.last_reviewed < today - timedelta(days=max_age_days):
            problems.append(
                Problem(rel, line, "last_reviewed", f"older than {max_age_days} days: review it", "warning")
            )

    if meta is not None:
        problems += _source_warnings(meta, sections, front, rel)
    if meta is not None and meta.sections:
        sections = _with_section_meta(meta, sections, front, rel, problems)

    if meta is None or any(p.severity == "error" for p in problems):
        return None, problems
    return KnowledgeDocument(meta, rel, digest, tuple(sections)), problems


# How a passage says that something in it could not be verified (the answer keeps the mark visible;
# the staff report counts such passages).
UNVERIFIED_MARK = re.compile(
    r"未能[^。；]{0,12}核实|未核实|未经[^。；]{0,6}核实|could not verify|not verified|unverified", re.IGNORECASE
)

# How a passage says whose description it gives, for a document with no official source (knowledge/README.md).
ATTRIBUTION = {
    "zh": re.compile(r"(?<![证数占])据[^。；！？\n]{1,40}?(?:介绍|报道|所述|(?<![名简声号])称)"),
    "en": re.compile(r"\b(?:according to|as (?:reported|described|explained) by)\b", re.IGNORECASE),
}


def rests_on_secondary_sources(sections: list[Section] | tuple[Section, ...]) -> bool:
    """Whether every passage says whose description it gives (据……介绍 / according to …), as a document
    with no official source must."""
    return bool(sections) and all(
        ATTRIBUTION["zh"].search(s.text_zh) and ATTRIBUTION["en"].search(s.text_en) for s in sections
    )


# A note that says a source is a copy of a text published elsewhere (knowledge/README: such a copy is secondary).
COPY_NOTE = re.compile(r"\b(?:copy|copies|mirror|reprint|repost)\b|转载|副本|镜像", re.IGNORECASE)


def _source_warnings(meta: DocumentMeta, sections: list[Section], front: str, rel: str) -> list[Problem]:
    """A warning for each source not said to be official or secondary, for an official one whose note
    calls it a copy, and for a document with no official source whose passages do not all say they
    rest on practitioners' descriptions."""
    unsaid = [i for i, source in enumerate(meta.sources) if source.kind is None]
    copies = [
        i
        for i, source in enumerate(meta.sources)
        if source.kind == "official" and source.note and COPY_NOTE.search(source.note)
    ]
    no_official = not meta.count_sources("official") and not rests_on_secondary_sources(sections)
    if not unsaid and not copies and not no_official:
        return []
    key_lines = yaml_key_lines(front, first_line=2)  # only needed to report
    found = [
        Problem(
            rel,
            line_of(key_lines, f"sources.{i}", 2),
            f"sources.{i}",
            "say whether this source is official or secondary",
            "warning",
        )
        for i in unsaid
    ]
    found += [
        Problem(
            rel,
            line_of(key_lines, f"sources.{i}", 2),
            f"sources.{i}",
            "its note calls it a copy: a copy of an official text is secondary (cite the publisher's own page as official)",
            "warning",
        )
        for i in copies
    ]
    if no_official:
        message = "no official source: add one, or say in the passages that they rest on practitioners' descriptions"
        found.append(Problem(rel, line_of(key_lines, "sources", 2), "sources", message, "warning"))
    return found


def _with_section_meta(
    meta: DocumentMeta, sections: list[Section], front: str, rel: str, problems: list[Problem]
) -> list[Section]:
    """Sections with the asks, PPH direction and sources the front matter gives them; a key naming
    no section of the document, or a section source the document does not list, is an error at its line."""
    known = {s.id for s in sections}
    key_lines = yaml_key_lines(front, first_line=2)
    for sid in meta.sections:
        if sid not in known:
            where = line_of(key_lines, f"sections.{sid}", 2)
            ids = ", ".join(sorted(known))
            problems.append(Problem(rel, where, f"sections.{sid}", f"no section has this id; the ids are: {ids}"))
    listed = set(meta.urls)
    out = []
    for section in sections:
        extra = meta.sections.get(section.id)
        if extra is None:
            out.append(section)
            continue
        pph = (extra.pph.oee, extra.pph.ole) if extra.pph else None
        if pph and pph[0] == pph[1]:
            where = line_of(key_lines, f"sections.{section.id}.pph", 2)
            problems.append(Problem(rel, where, f"sections.{section.id}.pph", "oee and ole must differ"))
        for i, url in enumerate(extra.sources):
            if str(url) not in listed:
                where = line_of(key_lines, f"sections.{section.id}.sources.{i}", 2)
                problems.append(
                    Problem(rel, where, f"sections.{section.id}.sources", f"{url} is not among the document's sources")
                )
        out.append(
            replace(
                section,
                asks_zh=tuple(extra.asks.zh),
                asks_en=tuple(extra.asks.en),
                pph=pph,
                sources=tuple(str(url) for url in extra.sources),
            )
        )
    return out


def load_knowledge(
    knowledge_dir: Path, root: Path | None = None, today: date | None = None, max_age_days: int = 365
) -> tuple[list[KnowledgeDocument], list[Problem]]:
    """Reads every document under knowledge_dir; documents with errors are left out."""
    root = root or knowledge_dir.parent
    documents: list[KnowledgeDocument] = []
    problems: list[Problem] = []
    first_seen: dict[str, str] = {}
    for path in sorted(knowledge_dir.glob(DOCUMENT_GLOB)):
        if path.name.lower() == "readme.md":
            continue
        doc, found = load_document(path, root, today, max_age_days)
        problems.extend(found)
        if doc is None:
            continue
        if doc.meta.id in first_seen:
            problems.append(
                Problem(doc.path, 2, "id", f"duplicate id {doc.meta.id!r}, also in {first_seen[doc.meta.id]}")
            )
            continue
        first_seen[doc.meta.id] = doc.path
        documents.append(doc)
    return documents, problems


def knowledge_signature(folder: Path, pattern: str = DOCUMENT_GLOB) -> tuple[tuple[str, int, int], ...]:
    """Changes whenever a file under `folder` matching `pattern` (the knowledge documents unless told)
    is added, removed or edited: (path, mtime in ns, size) of each, in order. A missing folder has
    none; a file removed while it is read is left out rather than raising."""
    if not folder.is_dir():
        return ()
    signature = []
    for path in sorted(folder.glob(pattern)):
        try:
            found = path.stat()
        except OSError:
            continue
        if stat.S_ISREG(found.st_mode):
            signature.append((str(path), found.st_mtime_ns, found.st_size))
    return tuple(signature)


def to_chunks(documents: list[KnowledgeDocument]) -> list[Document]:
    """LangChain documents to index: one per language per section, long passages split further,
    and one per question the section answers (metadata `kind: ask`)."""
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=MAX_CHUNK_CHARS,
        chunk_overlap=80,
        separators=["\n\n", "\n", "。", ". ", "；", "; ", "，", ", ", " ", ""],
    )
    chunks: list[Document] = []
    for doc in documents:
        for section in doc.sections:
            for lang in LANGUAGES:
                common = {"doc_id": doc.meta.id, "section_id": section.id, "lang": lang}
                where = {"path": doc.path, "line": section.line, "doc_sha256": doc.sha256}
                text = section.text_zh if lang == "zh" else section.text_en
                for i, piece in enumerate(splitter.split_text(text)):
                    chunks.append(Document(page_content=piece, metadata={**common, "part": i, **where}))
                for n, question in enumerate(section.asks(lang)):
                    meta = {**common, "part": f"ask-{n}", "kind": "ask", **where}
                    chunks.append(Document(page_content=question, metadata=meta))
    return chunks
