"""Turns retrieved passages into the reply an enterprise reads: the sentences of the best section that
answer its question (a date, a deadline, a fee, a document list), in its language, then numbered
sources a person can follow (title › section, link, review date) and the not-legal-advice line.

The extract is query-focused: the section is split into sentences (list items stay whole), each is
scored against the question by a `SentenceScorer` (by default `LexicalSentenceScorer`, BM25 over the
project's jieba / stemmed-English terms) plus a bonus for the kind of fact the question asks for, and
the best ones are quoted in their original order, the best answer first. Without a question the
start of the section is quoted.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from actions.dates import MONTHS
from actions.knowledge import UNVERIFIED_MARK
from actions.messages import t
from actions.retrieval.passage import Passage

if TYPE_CHECKING:
    from actions.retrieval.text import Tokenizer

ELLIPSIS = {"zh": "……", "en": " …"}
UNVERIFIED = ("（未核实）", "(unverified)")

SUPPORT_SHARE = 0.5  # the supporting passage gets this share of the budget
FACT_WEIGHT = 1.5  # bonus for holding the kind of fact asked for: it outranks any relevance (0 to 1) alone
TERM_WEIGHT = 0.5  # bonus for saying when something starts or ends, when that is asked
EXTREME_WEIGHT = 1.0  # and for the earliest start / latest end: it outweighs sharing the question's words
LIST_ITEMS = 4  # "which countries / offices …": a sentence naming at least this many holds the list
POSITION_WEIGHT = 0.05  # a slight preference for earlier sentences: staff put the answer first
CUT_FACTOR = 1.5  # a single sentence is cut only when it alone exceeds this multiple of the budget
SENTENCE_TERMS_KEPT = 8192  # the terms of this many sentences are kept (the knowledge files hold ~2,000)


@dataclass(frozen=True)
class Answer:
    """A reply ready to send: its text, and the citations as data for channels and tests."""

    text: str
    citations: list[dict[str, Any]]
    answered: bool


# ---- scoring sentences against the question ------------------------------------------------------------


class SentenceScorer(Protocol):
    """How well each sentence of a section answers the question: one score per sentence, higher is
    better, 0 or less is unrelated (only the ratio to the best score matters). An embedding-based
    scorer can be injected wherever the lexical one is the default."""

    def score(self, question: str, sentences: list[str], lang: str) -> list[float]: ...


class LexicalSentenceScorer:
    """Scores sentences by the question's words they contain, words rare in the section counting more
    (BM25 over the same jieba / stemmed-English terms the retriever uses)."""

    def __init__(self, dict_dir: Path | None = None, tokenizer: Tokenizer | None = None):
        self.dict_dir = dict_dir
        self._tokenizer = tokenizer
        # A section's sentences are segmented once, not on every question that quotes it: segmenting and
        # stemming them was nearly all of composing an answer (17 of 18 ms per answer, in-process profile).
        self._sentence_terms = lru_cache(maxsize=SENTENCE_TERMS_KEPT)(self._terms)

    def __getstate__(self) -> dict[str, Any]:  # rasa-sdk sends the actions to its worker process: the kept terms stay
        return {k: v for k, v in self.__dict__.items() if k != "_sentence_terms"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._sentence_terms = lru_cache(maxsize=SENTENCE_TERMS_KEPT)(self._terms)

    def _terms(self, sentence: str) -> tuple[str, ...]:
        assert self._tokenizer is not None
        return tuple(self._tokenizer.tokens(sentence))

    def warm_up(self) -> None:
        """Loads the word segmenter (jieba with the project's IP terms) now rather than at the first question."""
        if self._tokenizer is None:
            from actions.retrieval.text import Tokenizer

            self._tokenizer = Tokenizer(self.dict_dir)

    def score(self, question: str, sentences: list[str], lang: str) -> list[float]:
        """BM25 score of each sentence for the question's terms (each term counted once)."""
        import bm25s

        self.warm_up()
        assert self._tokenizer is not None
        terms = list(dict.fromkeys(self._tokenizer.tokens(question)))
        if not terms or not sentences:
            return [0.0] * len(sentences)
        bm25 = bm25s.BM25()
        bm25.index([list(self._sentence_terms(s)) or ["∅"] for s in sentences], show_progress=False)
        return [float(s) for s in bm25.get_scores(terms)]


@lru_cache(maxsize=1)
def default_scorer() -> LexicalSentenceScorer:
    """The process-wide lexical scorer, with the jieba dictionary the settings name."""
    from actions.settings import get_settings

    return LexicalSentenceScorer(get_settings().jieba_dict_dir)


# ---- what kind of fact the question asks for, and which sentences hold one ---------------------------------
# Every pattern below is a flat alternation of literals or bounded classes, anchored by \b or a
# look-behind, so a match attempt does constant work: linear time on any input.

# Whether something is free ("PPH免费吗", "is PPH free?") asks for its price; free help ("免费的援助",
# "free legal advice") and a free trade agreement do not.
_ASKS_IF_FREE_ZH = r"免费吗|是否免费|是不是免费|免不免费|要钱吗|要不要钱|收钱吗|收不收费"
_ASKS_IF_FREE_EN = r"\bfree(?: of charge)?\s*[?？]?\s*$|\bfor free\s*[?？]?\s*$|\bis (?:it|there) a fee\b"

# English month names and abbreviations, capitalised (a date's "May", not the verb "may").
_MONTHS = "(?:" + "|".join(sorted((name.title() for name in MONTHS), key=len, reverse=True)) + ")"
_ASKS = {
    "date": re.compile(
        r"哪年|哪一年|哪个月|哪天|什么时候|什么时间|何时|几时|期限|到期|截止|截至|日期|几号|起止|有效期"
        r"|\b(?:when|what year|which year|what date|which date|deadline|until|expire[sd]?|expiry|due|start date|end date)\b",
        re.IGNORECASE,
    ),
    "duration": re.compile(
        r"多久|多长时间|多长|几个月|几天|几年|几周|多少天|多少个月|多少年|多快|期限|时限"
        r"|\b(?:how (?:long|soon|quickly|fast)|how many (?:days|weeks|months|years)|deadline|time limit)\b",
        re.IGNORECASE,
    ),
    "amount": re.compile(
        r"多少|费用|收费|官费|金额|价格|比例|几件|赔偿额|"
        + _ASKS_IF_FREE_ZH
        + r"|\b(?:how (?:much|many)|fees?|costs?|price|charges?|amount|damages)\b|"
        + _ASKS_IF_FREE_EN,
        re.IGNORECASE,
    ),
    "list": re.compile(
        r"哪些国家|哪几个|哪几家|哪些局|哪些成员|有哪些国家|包括哪些|成员有|缔约方有"
        r"|\b(?:which|what) (?:countries|offices|members|parties|states|economies)\b|\bmembers of\b|\bwho (?:is|are) in\b",
        re.IGNORECASE,
    ),
    "documents": re.compile(
        r"哪些材料|什么材料|哪些文件|什么文件|材料清单|提交什么|准备什么|交什么|需要哪些"
        r"|\b(?:what|which) (?:documents|papers|materials|files)\b|\bdocuments? (?:to|do|should|must|are)\b"
        r"|\bwhat (?:do|should|must) (?:i|we) (?:file|submit|provide|prepare)\b",
        re.IGNORECASE,
    ),
}
_HOLDS = {
    "date": re.compile(
        r"(?<!\d)\d{4}\s?年|(?<!\d)\d{1,2}\s?月(?:\d{1,2}\s?日)?|\b(?:19|20)\d{2}\b|\b" + _MONTHS + r"\b"
    ),
    "duration": re.compile(
        r"(?<![\d.])\d{1,9}(?:\.\d{1,3})?\s?(?:个月|个工作日|天|日内|周|小时)|(?<![\d.])\d{1,2}\s?年"
        r"|[一二两三四五六七八九十半百]{1,4}(?:个月|个工作日|天|周|年|小时)"
        r"|\b\d{1,9}(?:\.\d{1,3})?\s?(?:days?|weeks?|months?|years?|hours?|working days)\b"
        r"|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|eighteen|twenty|thirty|sixty|ninety)"
        r"[ -](?:days?|weeks?|months?|years?|working days)\b",
        re.IGNORECASE,
    ),
    "amount": re.compile(
        r"(?<![\d.])\d{1,9}(?:[.,]\d{1,3})?\s?(?:%|％|元|美元|欧元|日元|韩元|万|件|倍)"
        r"|\b\d{1,9}(?:[.,]\d{1,3})?\s?(?:%|percent|per cent|yuan|dollars|euros|yen|won)\b"
        r"|(?:USD|US\$|\$|€|EUR|CNY|RMB|¥|JPY|KRW|₩)\s?\d|(?:约|超过|多达|about |around |approximately |over |up to )\d",
        re.IGNORECASE,
    ),
    "documents": re.compile(
        r"请求表|申请表|副本|译文|翻译|说明书|证明|对应表|审查意见|通知书|文件|材料|委托书"
        r"|\b(?:forms?|cop(?:y|ies)|translations?|documents?|tables?|certificates?|statements?|declarations?"
        r"|office actions?|power of attorney)\b",
        re.IGNORECASE,
    ),
}


# Whether a question asks when something starts or ends, and which sentences say so.
_ASKS_TERM = {
    "start": re.compile(
        r"开始|启动|起始|开通|生效|\b(?:start\w{0,3}|begin\w{0,3}|began|launch\w{0,2}|since|(?:enter|entered|enters|come|came) into force|take effect|took effect)\b",
        re.IGNORECASE,
    ),
    "end": re.compile(
        r"到期|截止|截至|结束|终止|届满|有效期|到什么时候|\b(?:ends?|ending|expire\w{0,2}|expiry|until|run out|deadline)\b",
        re.IGNORECASE,
    ),
}
_HOLDS_TERM = {
    "start": re.compile(
        r"启动|开始|起施行|生效|(?:年|月|日)起|\b(?:start\w{0,2}|began|begun|launched|since|from|effective|entered into force|enters into force|took effect)\b",
        re.IGNORECASE,
    ),
    "end": re.compile(
        r"(?:至|到|截至|截止|止于)\s?(?:\d{4}\s?年|\d{1,2}\s?月)|到期|届满"
        r"|\b(?:until|till|to|through|expires?|ends?|ending)\s(?:\d{1,2}\s)?(?:" + _MONTHS + r"|(?:19|20)\d{2})\b",
        re.IGNORECASE,
    ),
}
# A yes/no question, and a section whose first sentence answers one ("No. According to …", "不是。…").
_YES_NO_QUESTION = re.compile(
    r"吗[？?]?\s*$|是不是|能不能|会不会|有没有|可不可以|是否"
    r"|^\s*(?:is|are|does|do|can|could|will|would|should|has|have|was|were|did|may|must)\b",
    re.IGNORECASE,
)
_YES_NO_ANSWER = re.compile(
    r"\s*(?:不是|是的|不能|可以|不会|不需要|不必|没有|不一定|一般不|通常不)[。，,；]"
    r"|\s*(?:No|Yes|Not necessarily|Generally not|Usually not|Not always)[.,;]",
    re.IGNORECASE,
)
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")


def asked_kinds(question: str) -> set[str]:
    """The kinds of fact a question asks for: "date", "duration", "amount", "documents", and whether
    it asks when something "start"s or "end"s."""
    asked = {kind for kind, pattern in _ASKS.items() if pattern.search(question)}
    return asked | {term for term, pattern in _ASKS_TERM.items() if pattern.search(question)}


def _holds(kind: str, unit: _Unit) -> bool:
    """Whether a sentence holds a fact of that kind (a document list: a list item or two document words;
    a list of members: an enumeration of four or more)."""
    if kind == "list":
        return unit.text.count("、") + unit.text.count(", ") >= LIST_ITEMS - 1
    if kind == "documents":
        return unit.list_id is not None or len(_HOLDS["documents"].findall(unit.text)) >= 2
    if kind == "amount" and (_says_fee_unverified(unit.text) or _NO_FEE.search(unit.text)):
        return True  # the honest answer to "how much?" when unknown, and "no fee"
    return _HOLDS[kind].search(unit.text) is not None


# ---- splitting a section into sentences ---------------------------------------------------------------------

_ENDER = re.compile(r"[。！？；.!?;][”’\"'」』）)\]]{0,3}")
_ZH_FULL, _ZH_HALF, _EN_FULL = "。！？", "；", ".!?"
_OPEN, _CLOSE = "（(【[", "）)】]"
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]{0,10})$")
_ABBREVIATED = (  # a "." after these words does not end a sentence
    "e.g i.e al cf vs v viz approx ca no nos art arts para paras sec secs ch chap fig figs vol pp p dr mr mrs ms "
    "prof inc ltd co corp jan feb mar apr jun jul aug sep sept oct nov dec st rev reg regs"
)
_ABBREVIATIONS = frozenset(_ABBREVIATED.split())
_MARKER = re.compile(
    r"(?:^|(?<=[\s：:。；;，,）)]))(?:([一二三四五六七八九十]{1,3})、|(\d{1,2})(?:\.(?=\s)|、|）|\))|[（(](\d{1,2})[）)])"
)
_BULLET = re.compile(r"^\s{0,8}[-*•·]\s")
_ZH_DIGITS = {c: i for i, c in enumerate("一二三四五六七八九", start=1)}


@dataclass(frozen=True)
class _Unit:
    """A sentence or a whole list item; `list_id` says which list an item belongs to; `unverified`:
    an "(unverified)" mark in its sentence applies to it too, though it does not carry the mark."""

    text: str
    list_id: int | None = None
    unverified: bool = False


def _zh_number(numeral: str) -> int:
    """一 … 九十九 as an int (0 when it is not a plain numeral)."""
    if numeral == "十":
        return 10
    if "十" in numeral:
        tens, _, ones = numeral.partition("十")
        return _ZH_DIGITS.get(tens, 1 if not tens else 0) * 10 + _ZH_DIGITS.get(ones, 0)
    return _ZH_DIGITS.get(numeral, 0) if len(numeral) == 1 else 0


def _sentence_ends(text: str, start: int, stop: int, full_only: bool = False) -> list[int]:
    """Where sentences end between start and stop (the index after the end mark and its closing quotes).

    Not inside brackets, not after an abbreviation ("e.g.", "U.S.", "No.", "Art."), an initial or before a
    lower-case word (nor ";" before one: an English series of clauses is one sentence, quoted from its
    start); "." "!" "?" ";" count only before a space, so "3.5" and "11.27" never split.
    `full_only` leaves out semicolons (used to find where the last list item ends).
    """
    ends: list[int] = []
    depth, seen = 0, start
    for m in _ENDER.finditer(text, start, stop):
        chunk = text[seen : m.start()]
        depth = max(0, depth + sum(chunk.count(c) for c in _OPEN) - sum(chunk.count(c) for c in _CLOSE))
        seen = m.start()
        mark, end = text[m.start()], m.end()
        if depth > 0 and not (m.group().endswith(tuple(_CLOSE)) and depth == 1 and mark in _ZH_FULL + _EN_FULL):
            continue
        if mark in _ZH_HALF + ";" and full_only:
            continue
        if mark in _EN_FULL + ";":
            if end < len(text) and not text[end].isspace():
                continue
            if mark == ".":
                word = _WORD_BEFORE.search(text, max(0, m.start() - 12), m.start())
                if word and (
                    word.group(1).lower() in _ABBREVIATIONS
                    or "." in word.group(1)
                    or (len(word.group(1)) == 1 and word.group(1).isupper())
                ):
                    continue
                following = text[end : end + 3].lstrip()
                if following[:1].islower():
                    continue
            if mark == ";" and text[end : end + 3].lstrip()[:1].islower():
                continue  # an English series ("…; the shipment is valuable; or …") is one sentence
        ends.append(end)
    return ends


def _sentences(text: str, start: int, stop: int) -> list[str]:
    """The sentences of a stretch of prose, stripped, empty ones left out."""
    pieces, prev = [], start
    for end in [*_sentence_ends(text, start, stop), stop]:
        if text[prev:end].strip():
            pieces.append(text[prev:end].strip())
        prev = end
    return pieces


def _list_markers(line: str) -> list[tuple[int, int, bool]]:
    """Each list item in a line: where its marker starts, where its text starts, and whether the next
    item continues the same list.

    A marker counts when it starts a list ("一、", "1.") or continues the one before with the next
    number, so "统一、" or a stray "2." in prose is not an item.
    """
    accepted: list[tuple[int, int, str, int]] = []
    for m in _MARKER.finditer(line):
        if m.group(1):
            kind, value = "zh", _zh_number(m.group(1))
        else:
            kind, value = ("ar", int(m.group(2))) if m.group(2) else ("paren", int(m.group(3)))
        if value == 1 or (accepted and accepted[-1][2] == kind and accepted[-1][3] == value - 1):
            accepted.append((m.start(), m.end(), kind, value))
    return [
        (start, body, i + 1 < len(accepted) and accepted[i + 1][2:] == (kind, value + 1))
        for i, (start, body, kind, value) in enumerate(accepted)
    ]


def _ends_sentence(piece: str) -> bool:
    """Whether a piece of prose ends with a sentence end (else it leads into what follows, like "需要提交：")."""
    ends = _sentence_ends(piece, 0, len(piece))
    return bool(ends) and ends[-1] == len(piece)


def _split_line(line: str, next_list: int) -> tuple[list[_Unit], int]:
    """The units of one line of a section, and the next free list number."""
    if _BULLET.match(line):
        return [_Unit(line.strip(), next_list)], next_list + 1
    units: list[_Unit] = []
    markers = _list_markers(line)
    pos, list_id = 0, None
    for i, (start, body_start, continues) in enumerate(markers):
        if start < pos:
            continue
        prose = _sentences(line, pos, start)
        lead_in = prose.pop() if prose and not _ends_sentence(prose[-1]) else ""
        units += [_Unit(s) for s in prose]
        if list_id is None:
            list_id, next_list = next_list, next_list + 1
        following = markers[i + 1][0] if i + 1 < len(markers) else len(line)
        if continues:
            stop = following
        else:  # the last item runs to its first full stop
            ends = _sentence_ends(line, body_start, following, full_only=True)
            stop = ends[0] if ends else following
        body = line[start:stop].strip()
        space = " " if lead_in and lead_in[-1].isascii() else ""
        units.append(_Unit(f"{lead_in}{space}{body}", list_id))
        if not continues:
            list_id = None
        pos = stop
    units += [_Unit(s) for s in _sentences(line, pos, len(line))]
    return units, next_list


_FULL_END = re.compile(r"[。！？.!?][”’\"'」』）)\]]{0,3}$")
_TRAILING = re.compile(r"[\s。！？；.!?;，,、：:]*$")


def _marked_sentences(units: list[_Unit]) -> list[_Unit]:
    """The units of one line, each part of a sentence that carries an "(unverified)" mark flagged.

    A sentence is cut into units at "；"/";", so a mark can sit in one part and qualify the others
    ("以下细节未核实：a；b；c" — quoting "c" alone must still say so). Every part of a marked sentence
    is flagged: better a verified clause called unverified than the reverse."""
    flagged: list[_Unit] = []
    sentence: list[_Unit] = []
    for n, unit in enumerate(units):
        sentence.append(unit)
        plain = unit.text
        for mark in UNVERIFIED:
            plain = plain.replace(mark, "")
        if _FULL_END.search(plain.rstrip()) or n == len(units) - 1:
            marked = len(sentence) > 1 and any(UNVERIFIED_MARK.search(u.text) for u in sentence)
            flagged += [replace(u, unverified=marked and not UNVERIFIED_MARK.search(u.text)) for u in sentence]
            sentence = []
    return flagged


def _units(text: str) -> list[_Unit]:
    """The sentences and list items of a section, in order; an "(unverified)" mark stays with its
    sentence, and a unit of a marked sentence is flagged (see `_marked_sentences`)."""
    units: list[_Unit] = []
    next_list = 0
    for line in text.split("\n"):
        if line.strip():
            found, next_list = _split_line(line, next_list)
            units += _marked_sentences(found)
    merged: list[_Unit] = []
    for unit in units:
        marker = next((m for m in UNVERIFIED if unit.text.startswith(m)), None)
        if marker and merged:
            last = merged.pop()
            merged.append(replace(last, text=last.text + marker, unverified=False))
            rest = unit.text[len(marker) :].strip()
            if rest:
                merged.append(replace(unit, text=rest))
        else:
            merged.append(unit)
    return merged


def split_sentences(text: str) -> list[str]:
    """A section's sentences in order, each list item ("一、…", "1. …", "- …") whole.

    Hand-written because no installed library does this: the sentence splitters (pysbd, NLTK punkt)
    know English abbreviations but not Chinese list items, mixed Chinese/English text or our rule
    that "(unverified)" stays with its sentence.
    """
    return [u.text for u in _units(text)]


# ---- choosing and quoting sentences ---------------------------------------------------------------------

_PROTECTED = re.compile(
    r"(?<![\d.])\d{1,4}(?:[.,:/-]\d{1,4}){0,3}\s?(?:年(?:\d{1,2}月(?:\d{1,2}日)?)?|月\d{1,2}日|月|日|%|％|个月|个工作日|天|周|小时|元|美元|件|倍)?"
    r"(?:\s?(?:" + _MONTHS + r"|days?|weeks?|months?|years?|hours?|percent|working days)\b(?:\s\d{1,4}\b)?)?"
    r"|\b" + _MONTHS + r"\s\d{1,2}(?:,\s\d{4})?"
    r"|[A-Za-z][A-Za-z0-9'’-]{0,40}"
)
_CLAUSE_END = re.compile(r"[，、；：,;:](?!\d)")  # not the "," of "1,000" or the ":" of "10:30"


def _cost(text: str, lang: str) -> int:
    """Length against the budget: characters for Chinese, words for English."""
    return len(text) if lang == "zh" else len(text.split())


def _cut(text: str, lang: str, budget: int) -> str:
    """A sentence too long to quote whole, cut to the budget at its last clause end (，, ;) outside
    brackets, else at a word boundary; never inside a number, a date or a word. An "(unverified)" mark
    it had is kept."""
    word_starts = [m.start() for m in re.finditer(r"\S+", text)] if lang == "en" else []

    def cost_to(position: int) -> int:
        return position if lang == "zh" else bisect_left(word_starts, position)

    spans = [(m.start(), m.end()) for m in _PROTECTED.finditer(text) if m.end() - m.start() > 1]
    span_starts = [start for start, _ in spans]

    def span_around(position: int) -> tuple[int, int] | None:
        i = bisect_left(span_starts, position) - 1
        return spans[i] if i >= 0 and spans[i][0] < position < spans[i][1] else None

    cut, depth, seen = 0, 0, 0
    for m in _CLAUSE_END.finditer(text):
        if cost_to(m.end()) > budget:
            break
        chunk = text[seen : m.end()]
        depth = max(0, depth + sum(chunk.count(c) for c in _OPEN) - sum(chunk.count(c) for c in _CLOSE))
        seen = m.end()
        if depth == 0 and span_around(m.end()) is None:
            cut = m.end()
    if cost_to(cut) < budget // 3:  # no clause end late enough: the last word that fits
        cut = budget if lang == "zh" else (word_starts[budget] if budget < len(word_starts) else len(text))
        while (span := span_around(cut)) is not None and span[0] > 0:
            cut = span[0]
    kept = text[:cut].rstrip(" ，、；：,;:")
    marker = next((m for m in UNVERIFIED if m in text and m not in kept), "")
    return kept + marker


def _quote(units: list[_Unit], chosen: list[int], lang: str, cut: bool) -> str:
    """The chosen units in order, with an ellipsis where something was skipped between or after them."""
    out: list[str] = []
    for k, i in enumerate(chosen):
        text = units[i].text
        if units[i].unverified:  # the mark of its sentence, before the closing punctuation
            end = _TRAILING.search(text).start()  # type: ignore[union-attr]  # matches at least ""
            text = text[:end] + ("" if lang == "zh" else " ") + UNVERIFIED[0 if lang == "zh" else 1] + text[end:]
        following = chosen[k + 1] if k + 1 < len(chosen) else len(units)
        if following != i + 1 or (k == 0 and cut):
            text = text.rstrip(" ，、；：,;:") + ELLIPSIS[lang]
        out.append(text)
    return ("" if lang == "zh" else " ").join(out)


def _select(
    units: list[_Unit],
    scores: list[float] | None,
    lang: str,
    budget: int,
    lead_first: bool = False,
    holding: frozenset[int] = frozenset(),
) -> tuple[list[int], bool]:
    """Which units to quote and whether the first one had to be cut.

    Without scores, the start of the section; with scores, the best unit, then the best of the
    others — before or after it — fill the budget, quoted in the section's order; with `lead_first`
    (a question asking for a date, a duration, an amount, a list) the best unit is quoted first and
    the others follow in their order. `holding` (a follow-up completed from the conversation's
    topic): when the best unit holds the kind of fact asked for, only the other units that hold one
    too join it, with the unit a lead-in sentence ("…需要提交：") leads into — "要多少钱？" after a
    China–Korea PPH answer is answered by the fee, not by the fee and four practical notes that share
    only the topic's words. (Applied to every one-fact question, this cut facts that context
    sentences held: on the held-out part, facts zh 78% → 72%; so follow-ups only.) (Filling only from
    after the best unit lost the rule a section opens with whenever a later, shorter sentence shared
    more of the question's words: "RCEP怎么保护驰名商标？" got the WIPO recommendation, not Article
    11.26. On the dev part, facts rose from 84% to 92% (zh) and 78% to 89% (en) in-process.)
    """
    if scores is None or not any(s > 0 for s in scores):
        lead, order = 0, list(range(1, len(units)))
        contiguous = True
    else:
        lead = max(range(len(units)), key=lambda i: (scores[i], -i))
        order = sorted((i for i in range(len(units)) if i != lead), key=lambda i: (-scores[i], i))
        contiguous = False
    chosen = [lead]
    used = _cost(units[lead].text, lang)
    if used > budget * CUT_FACTOR:
        return chosen, True
    if lead_first and lead in holding:
        leads_on = lead + 1 if not _ends_sentence(units[lead].text) else None
        order = [i for i in order if i in holding or i == leads_on]
    for i in order:
        cost = _cost(units[i].text, lang)
        if used + cost > budget:
            if contiguous:
                break
            continue
        chosen.append(i)
        used += cost
    if lead_first:
        return [lead, *sorted(i for i in chosen if i != lead)], False
    return sorted(chosen), False


# A question asking for one of these is answered by one sentence: that sentence is quoted first.
_DIRECT_KINDS = {"date", "duration", "amount", "list", "documents", "start", "end"}


def _asks_one_fact(question: str) -> bool:
    """Whether one sentence answers the question (a date, a duration, an amount, a list, yes or no),
    so it is quoted first rather than in the section's order."""
    return bool(asked_kinds(question) & _DIRECT_KINDS or _YES_NO_QUESTION.search(question))


def _bonuses(units: list[_Unit], kinds: set[str]) -> list[float]:
    """What each unit gains for holding the kind of fact asked for, and, when the question asks when
    something starts or ends, for saying so (the earliest start or the latest end most)."""
    facts = kinds & (set(_HOLDS) | {"list"})
    bonuses = [FACT_WEIGHT if any(_holds(kind, u) for kind in facts) else 0.0 for u in units]
    for term, latest in (("start", False), ("end", True)):
        if term not in kinds:
            continue
        saying = [i for i, u in enumerate(units) if _HOLDS_TERM[term].search(u.text)]
        years = {i: [int(y) for y in _YEAR.findall(units[i].text)] for i in saying}
        for i in saying:
            bonuses[i] += TERM_WEIGHT
        dated = [i for i in saying if years[i]]
        if dated:
            pick = max if latest else min
            extreme = pick(pick(years[i]) for i in dated)
            for i in dated:
                if extreme in years[i]:  # "when did it start" is answered by the first start, not a later extension
                    bonuses[i] += EXTREME_WEIGHT
    return bonuses


def _relevance(units: list[_Unit], question: str, lang: str, scorer: SentenceScorer) -> list[float]:
    """Each unit's score: the scorer's relevance scaled to the best (0–1), the bonus for the kind of
    fact asked for, and a slight preference for earlier units."""
    raw = [max(0.0, s) for s in scorer.score(question, [u.text for u in units], lang)]
    best = max(raw, default=0.0)
    kinds = asked_kinds(question)
    n = len(units)
    scores = []
    for i, bonus in enumerate(_bonuses(units, kinds)):
        relevance = raw[i] / best if best > 0 else 0.0
        scores.append(relevance + bonus + (POSITION_WEIGHT * (n - i) / n if relevance + bonus > 0 else 0.0))
    if scores and _YES_NO_QUESTION.search(question) and _YES_NO_ANSWER.match(units[0].text):
        scores[0] = max(scores) + POSITION_WEIGHT  # staff answer a yes/no question first: "No. …", "不是。…"
    if "documents" in kinds and scores:  # a document list is quoted from its first item
        lead = max(range(n), key=lambda i: (scores[i], -i))
        if units[lead].list_id is not None:
            first = next(i for i, u in enumerate(units) if u.list_id == units[lead].list_id)
            scores[first] = scores[lead] + POSITION_WEIGHT
    return scores


def focused_extract(
    text: str,
    lang: str,
    budget: int,
    question: str = "",
    scorer: SentenceScorer | None = None,
    followup: bool = False,
) -> str:
    """The sentences of a section that answer the question, within the budget (characters for Chinese,
    words for English), in their order, the best answer first; without a question, its start. For a
    `followup` completed from the topic, a one-fact answer keeps only the sentences holding that fact."""
    units = _units(text)
    if not units:
        return ""
    scores = _relevance(units, question, lang, scorer or default_scorer()) if question.strip() else None
    kinds = asked_kinds(question) if scores is not None and followup else set()
    facts = kinds & (set(_HOLDS) | {"list"})
    holding = frozenset(i for i, u in enumerate(units) if any(_holds(kind, u) for kind in facts))
    chosen, cut = _select(units, scores, lang, budget, lead_first=_asks_one_fact(question), holding=holding)
    if cut:
        lead = units[chosen[0]]
        units = [*units[: chosen[0]], replace(lead, text=_cut(lead.text, lang, budget)), *units[chosen[0] + 1 :]]
    return _quote(units, chosen, lang, cut)


def extract(text: str, lang: str, budget: int) -> str:
    """The start of a passage, cut at a sentence end within the budget (characters for Chinese,
    words for English), with an ellipsis when something was left out."""
    return focused_extract(text, lang, budget)


# ---- citations and the reply --------------------------------------------------------------------------


def citation(p: Passage, lang: str, n: int = 1) -> dict[str, Any]:
    """The citation of a passage as data: where it comes from, the link shown and its number."""
    source = p.sources[0] if p.sources else ""
    return {
        "n": n,
        "doc_id": p.doc_id,
        "section_id": p.section_id,
        "title": p.title(lang),
        "section": p.section(lang),
        "path": p.path,
        "line": p.line,
        "source": source,
        "url": source,
        "last_reviewed": p.last_reviewed,
    }


def source_line(c: dict[str, Any], lang: str) -> str:
    """One numbered source as a person reads it: title › section — link (reviewed date)."""
    link = f" — {c['url']}" if c.get("url") else ""
    return t(
        "answers.source_line",
        lang,
        n=c["n"],
        title=c["title"],
        section=c["section"],
        link=link,
        reviewed=c["last_reviewed"],
    )


def compose(
    passages: list[Passage],
    lang: str,
    chars_zh: int = 220,
    words_en: int = 90,
    question: str = "",
    scorer: SentenceScorer | None = None,
    followup: bool = False,
) -> Answer:
    """The reply for a question: the sentences of the best gated section that answer it, at most one
    supporting passage from the second (half the budget), numbered sources, or "no answer" when
    nothing passed the gate. An extract that leaves out what its section marks unverified says so.

    `question` is the user's message (empty: the start of each section is quoted, as before);
    `scorer` rates sentences against it (default: the lexical scorer).
    """
    chosen: list[Passage] = []
    for p in passages:
        if p.answerable and p.key not in {c.key for c in chosen}:
            chosen.append(p)
        if len(chosen) == 2:
            break
    if not chosen:
        return Answer(t("answers.no_answer", lang), [], answered=False)
    budget = chars_zh if lang == "zh" else words_en
    parts = []
    for n, p in enumerate(chosen, start=1):
        share = budget if n == 1 else int(budget * SUPPORT_SHARE)
        quoted = focused_extract(p.text(lang), lang, share, question, scorer, followup)
        if UNVERIFIED_MARK.search(p.text(lang)) and not UNVERIFIED_MARK.search(quoted):
            quoted += ("" if lang == "zh" else " ") + t("answers.unverified_elsewhere", lang)
        parts.append(f"{quoted} [{n}]")
    cites = [citation(p, lang, n) for n, p in enumerate(chosen, start=1)]
    sources = "\n".join([t("answers.sources_heading", lang), *(source_line(c, lang) for c in cites)])
    text = "\n\n".join(parts) + "\n\n" + sources + "\n\nℹ️ " + t("answers.disclaimer", lang)
    return Answer(text, cites, answered=True)


_ASKS_PRICE = re.compile(
    r"多少钱|费用|收费|官费|代理费|价格|报价|"
    + _ASKS_IF_FREE_ZH
    + r"|\b(?:fees?|costs?|price|charges?|how much (?:is|does|do|will|would))\b|"
    + _ASKS_IF_FREE_EN,
    re.IGNORECASE,
)
_MONEY = re.compile(
    r"(?<![\d.])\d{1,9}(?:[.,]\d{1,3})?\s?(?:万|千)?(?:元|美元|欧元|日元|韩元|英镑|块)"
    r"|\b\d{1,9}(?:[.,]\d{1,3})?\s?(?:yuan|dollars|euros|yen|won|pounds|usd|eur|cny|rmb|jpy|krw)\b"
    r"|(?:USD|US\$|\$|€|EUR|CNY|RMB|¥|JPY|KRW|₩|£)\s?\d",
    re.IGNORECASE,
)
_NO_FEE = re.compile(
    r"免费|不收|无需缴纳|不需缴纳|不需要缴纳|无官费|不另收费|\b(?:no (?:official )?fees?|free of charge|charges no|without (?:a |an )?fee)\b",
    re.IGNORECASE,
)


# A passage that says it could not confirm the fee answers a price question honestly ("say so when
# you do not know"), e.g. "the official fee follows KIPO's current guideline; we could not verify it".
_FEE_WORD = re.compile(r"官费|费用|收费|\b(?:fees?|charges?|costs?)\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[。!?！？]|\.\s")


def _says_fee_unverified(text: str, question: str = "") -> bool:
    """Whether one sentence of the passage names a fee and says it could not be verified — for the
    market the question names, when both name one (KIPO's unverified fee does not answer the JPO's)."""
    from actions.answers.question import mentions

    asked = {m.code for m in mentions(question)} if question else set()
    for sentence in _SENTENCE_END.split(text):
        if _FEE_WORD.search(sentence) and UNVERIFIED_MARK.search(sentence):
            named = {m.code for m in mentions(sentence)}
            if not asked or not named or asked & named:
                return True
    return False


# A question about what a professional charges (an agent's or a lawyer's fee) is not answered by an
# office's fee, nor by "no official fee": only by an amount said of the professional's charges.
_ASKS_PROFESSIONAL_FEE = re.compile(
    r"代理费|律师费|服务费|代理所|律所.{0,8}(?:费|报价|钱)|请.{0,6}律师.{0,12}(?:钱|费)|(?:律师|代理人|代理机构).{0,6}(?:收费|报价)"
    r"|\b(?:attorney|lawyer|agent|counsel|law firm|legal)(?:'s|s'|s)?\s(?:fees?|charges?|costs?|rates?|quotes?)\b"
    r"|\b(?:hire|hiring|retain\w*)\s(?:a\s|an\s)?(?:\w+\s){0,3}(?:lawyer|attorney|agent|counsel)\b",
    re.IGNORECASE,
)
_PROFESSIONAL = re.compile(r"代理|律师|律所|事务所|\b(?:attorney|lawyer|agent|counsel|law firm)s?\b", re.IGNORECASE)


def _names_professional_fee(text: str) -> bool:
    """Whether one sentence gives an amount for what an agent or lawyer charges."""
    return any(_MONEY.search(s) and _PROFESSIONAL.search(s) for s in _SENTENCE_END.split(text))


# A question about a rate (grant rate, success rate) needs a share: a percentage or "n out of m".
_ASKS_RATE = re.compile(
    r"授权率|通过率|成功率|胜诉率|获批率|核准率|批准率|驳回率|比例是多少|百分之多少"
    r"|\b(?:grant|allowance|approval|success|win|rejection|acceptance)\s(?:rates?|ratios?|percentages?)\b"
    r"|\bwhat (?:share|percentage|proportion)\b",
    re.IGNORECASE,
)
_SHARE = re.compile(
    r"\d\s?(?:%|％)|百分之|\b\d{1,3}(?:\.\d{1,2})?\s?(?:percent|per cent)\b|\b\d+\s(?:out )?of (?:every )?\d+\b|[一二三四五六七八九]成",
    re.IGNORECASE,
)

_ASKS_HOW_LONG = re.compile(r"多久|多长时间|几个月|多少天|\bhow (?:long|soon|quickly|fast)\b", re.IGNORECASE)


# "多久能授权", "how long does examination take": the time a proceeding takes, answered only by a
# duration said of that proceeding, not by a priority period or a response deadline in the section.
_PROCEEDING = r"授权|注册|审查|审结|审理|下证|结案|examin\w*|grant\w*|registration|decision|pendency|first action"
_ASKS_PROCEEDING_TIME = re.compile(
    rf"(?:多久|多长时间|几个月|多少天)\S{{0,3}}(?:能|才能|可以|会)?(?:{_PROCEEDING})"
    rf"|(?:{_PROCEEDING})\S{{0,8}}(?:多久|多长时间|几个月|多少天)"
    rf"|\bhow long\b.{{0,40}}\b(?:{_PROCEEDING})",
    re.IGNORECASE,
)
_NAMES_PROCEEDING = re.compile(_PROCEEDING, re.IGNORECASE)


def _states_proceeding_time(text: str) -> bool:
    """Whether one sentence of the text gives a duration and names the proceeding it is of."""
    return any(_HOLDS["duration"].search(s) and _NAMES_PROCEEDING.search(s) for s in split_sentences(text))


# The kinds of fact a section can be seen to hold as a whole (a document list cannot: most PPH
# sections name documents).
_SECTION_KINDS = ("date", "duration", "amount")


def holds_kind_asked(question: str, text: str) -> bool | None:
    """Whether a section holds a fact of the kind the question asks for (a date, a duration, an
    amount); None when the question asks for none of them."""
    kinds = [kind for kind in _SECTION_KINDS if kind in asked_kinds(question[:2000])]
    if not kinds:
        return None
    return any(_HOLDS[kind].search(text) for kind in kinds) or ("amount" in kinds and _says_fee_unverified(text))


def holds_asked_fact(question: str, text: str) -> bool:
    """Whether a passage can answer what kind of fact the question asks for: a price question
    needs an amount (or "no fee", or a fee it says it could not verify) — for an agent's or lawyer's
    fee, an amount said of their charges —, a rate question a share, a how-long question a duration
    (of the proceeding it names, if it names one: "多久能授权" is not answered by a priority period).
    Questions of other kinds pass.
    (A section about PPH timing does not answer "what does the Japanese attorney charge?")"""
    question = question[:2000]
    if _ASKS_PROFESSIONAL_FEE.search(question):
        return _names_professional_fee(text)
    if _ASKS_RATE.search(question) and not _SHARE.search(text):
        return False
    if _ASKS_PRICE.search(question) and not (
        _MONEY.search(text) or _NO_FEE.search(text) or _says_fee_unverified(text, question)
    ):
        return False
    if _ASKS_PROCEEDING_TIME.search(question):
        return _states_proceeding_time(text)
    if _ASKS_HOW_LONG.search(question):
        return bool(_HOLDS["duration"].search(text) or _HOLDS["date"].search(text))
    return True
