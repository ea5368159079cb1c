"""Understands what a question asks beyond its words: the PPH direction it states (whose result,
which office is asked) and, for an elliptical follow-up ("那日本呢？", "how much does it cost?"),
the full question it stands for in the conversation's topic.

Plain Python over short texts (the message is bounded before it gets here): mention finding is
one precompiled alternation per language, linear in the text's length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from actions.retrieval.glossary import normalise
from actions.vocab import market_codes, market_name, market_spans

MAX_CHARS = 2000

# Offices and the countries they stand for, as users name them (adjectives included).
OFFICES: dict[str, tuple[str, ...]] = {
    "CN": (
        "中国",
        "国内",
        "我国",
        "中方",
        "国知局",
        "国家知识产权局",
        "中国专利局",
        "中国知识产权局",
        "cnipa",
        "sipo",
        "china",
        "chinese",
    ),
    "JP": ("日本", "日方", "日本特许厅", "日本专利局", "jpo", "japan", "japanese"),
    "KR": ("韩国", "韩方", "南韩", "韩国特许厅", "韩国专利局", "韩国知识产权局", "kipo", "korea", "korean"),
    "US": ("美国", "美方", "美国专利商标局", "uspto", "united states", "america", "american", "u.s."),
    "EP": ("欧洲专利局", "欧专局", "epo", "european patent office"),
}
# Words that make a named office the one whose result is used (office of earlier examination) or
# the one asked to examine faster (office of later examination). A "before" word applies to the
# office named right after it ("use our Chinese patent", "用日本的结果"), an "after" word to the
# office named right before it ("韩国已经授权", "Korean result").
RESULT_BEFORE = (
    "用",
    "利用",
    "依据",
    "根据",
    "基于",
    "凭",
    "拿",
    "use",
    "using",
    "based on",
    "on the basis of",
    "granted in",
    "granted by",
    "allowed in",
    "allowed by",
    "result from",
    "results from",
    "result of",
    "results of",
    "approved in",
    "from the",
)
RESULT_AFTER = (
    "授权",
    "结果",
    "审查意见",
    "可授权",
    "批准",
    "下证",
    "已经通过",
    "认可",
    "专利证",
    "granted",
    "grant",
    "allowed",
    "allowance",
    "approved",
    "result",
    "results",
    "patent",
    "patents",
)
TARGET_BEFORE = (
    "去",
    "在",
    "向",
    "到",
    "进入",
    "in",
    "at",
    "into",
    "speed up",
    "accelerate",
    "fast-track",
    "fast track",
    "expedite",
    "file in",
    "apply in",
)
TARGET_AFTER = (
    "快点",
    "快些",
    "那边审",
    "申请",
    "加快",
    "加速",
    "提速",
    "快一点",
    "请求",
    "审查",
    "application",
    "applications",
    "app",
    "filing",
    "office to speed",
    "examination",
)
# Nouns that name the application itself: "韩国申请已经授权" / "our Korean application was allowed"
# is about a result, so a result word in the same window wins over them.
WEAK_TARGET = frozenset(("申请", "application", "applications", "app", "filing", "审查", "examination"))
WINDOW = {"zh": 12, "en": 40}  # how far (characters) a cue may be from the office it applies to
_CLAUSE = re.compile(r"[，,。；;？?！!\n]")

# A short question that names its own subject but says it is a follow-up ("那商标呢？", "what about
# trade secrets?") changes the subject within the framework (RCEP, PPH) the conversation is about.
SWITCH_CUES = ("那", "呢", "what about", "how about")
FRAMEWORKS = ("RCEP", "PPH")
REVERSE_CUES = (
    "反过来",
    "反方向",
    "相反",
    "other way round",
    "other way around",
    "the reverse",
    "opposite direction",
    "reverse direction",
)
# What makes a question stand on its own: it names a subject, not only an aspect (cost, time).
ANCHORS = (
    "pph",
    "rcep",
    "专利",
    "商标",
    "外观",
    "版权",
    "著作权",
    "地理标志",
    "警告函",
    "律师函",
    "海关",
    "展会",
    "起诉",
    "诉讼",
    "下架",
    "抢注",
    "337",
    "高速路",
    "patent",
    "trademark",
    "design",
    "copyright",
    "warning letter",
    "cease",
    "customs",
    "trade fair",
    "lawsuit",
    "sued",
    "takedown",
    "squat",
    "itc",
    "prosecution highway",
    "madrid",
    "马德里",
    "宽限期",
    "grace period",
    "实用新型",
    "utility model",
    "商业秘密",
    "trade secret",
    "不正当竞争",
    "unfair competition",
    "遗传资源",
    "genetic resource",
    "传统知识",
    "traditional knowledge",
    "域名",
    "domain name",
)
SHORT = {"zh": 16, "en": 9}  # a follow-up is at most this many characters (zh) or words (en)


def _terms(words: tuple[str, ...]) -> str:
    ordered = sorted(words, key=len, reverse=True)
    return "|".join(rf"(?<![a-z]){re.escape(w)}(?![a-z])" if w.isascii() else re.escape(w) for w in ordered)


_OWNER = {name: code for code, names in OFFICES.items() for name in names}
_MENTION = re.compile(_terms(tuple(_OWNER)))
_RESULT_BEFORE = re.compile(
    rf"(?:{_terms(RESULT_BEFORE)})\W{{0,3}}(?:(?:our|my|the|a|an|我们的|我们|的)\s?)*\W{{0,2}}$"
)
_TARGET_BEFORE = re.compile(
    rf"(?:{_terms(TARGET_BEFORE)})\W{{0,3}}(?:(?:our|my|the|a|an|我们的|我们|的)\s?)*\W{{0,2}}$"
)
_RESULT_AFTER = re.compile(_terms(RESULT_AFTER))
_TARGET_AFTER = re.compile(_terms(TARGET_AFTER))


@dataclass(frozen=True)
class Mention:
    """An office or country named in a question."""

    code: str
    start: int
    end: int


def mentions(text: str) -> list[Mention]:
    """The offices/countries a text names, in order (longest names first, no overlaps; "US" only in capitals)."""
    found = [Mention(_OWNER[m.group(0)], m.start(), m.end()) for m in _MENTION.finditer(normalise(text[:MAX_CHARS]))]
    for m in re.finditer(r"(?<![A-Za-z])(US|USA|CN|JP|KR)(?![A-Za-z])", text[:MAX_CHARS]):
        code = "US" if m.group(1) == "USA" else m.group(1)
        if not any(f.start <= m.start() < f.end for f in found):
            found.append(Mention(code, m.start(), m.end()))
    return sorted(found, key=lambda f: f.start)


def _role(text: str, mention: Mention, previous_end: int, next_start: int, lang: str) -> str | None:
    """'result', 'target' or None: what the nearest cue around a mention (within its clause) says."""
    window = WINDOW[lang]
    before = text[max(previous_end, mention.start - window) : mention.start]
    after = text[mention.end : min(next_start, mention.end + window)]
    candidates: list[tuple[int, int, str]] = []  # (distance, preference, role); result wins ties
    for pattern, role in ((_RESULT_BEFORE, "result"), (_TARGET_BEFORE, "target")):
        if m := pattern.search(before):
            candidates.append((len(before) - m.start(), 0 if role == "result" else 1, role))
    result_after = _RESULT_AFTER.search(after)
    if result_after:
        candidates.append((result_after.start(), 0, "result"))
    if (m := _TARGET_AFTER.search(after)) and not (m.group(0) in WEAK_TARGET and result_after):
        candidates.append((m.start(), 1, "target"))
    return min(candidates)[2] if candidates else None


def pph_direction(text: str, lang: str) -> tuple[str | None, str | None] | None:
    """(office of earlier examination, office of later examination) that a question states, each
    None when it does not say; None when it states neither.

    "韩国那边的专利已经授权了，我们在中国的申请能加快审查吗？" → ("KR", "CN");
    "Can I use my Chinese patent to speed up examination in Japan?" → ("CN", "JP").
    """
    text = normalise(text[:MAX_CHARS])
    oee: str | None = None
    ole: str | None = None
    offset = 0
    for clause in _CLAUSE.split(text):
        found = mentions(clause)
        for i, mention in enumerate(found):
            previous_end = found[i - 1].end if i else 0
            next_start = found[i + 1].start if i + 1 < len(found) else len(clause)
            role = _role(clause, mention, previous_end, next_start, lang)
            if role == "result" and oee is None and mention.code != ole:
                oee = mention.code
            elif role == "target" and ole is None and mention.code != oee:
                ole = mention.code
        offset += len(clause) + 1
    if oee is None and ole is None:
        return None
    return oee, ole


@dataclass(frozen=True)
class Topic:
    """What the conversation is about after an answer: the question as understood, the document
    and section cited first, the countries named and the PPH direction."""

    question: str
    doc_id: str
    section_id: str
    title: dict[str, str] = field(default_factory=dict)
    countries: tuple[str, ...] = ()
    direction: tuple[str | None, str | None] | None = None

    def as_slot(self) -> dict[str, Any]:
        """The slot value (JSON)."""
        return {
            "question": self.question,
            "doc_id": self.doc_id,
            "section_id": self.section_id,
            "title": dict(self.title),
            "countries": list(self.countries),
            "direction": list(self.direction) if self.direction else None,
        }

    @classmethod
    def from_slot(cls, value: Any) -> Topic | None:
        """The topic a slot holds, or None for an empty or malformed value."""
        if not isinstance(value, dict) or not isinstance(value.get("question"), str):
            return None
        direction = value.get("direction")
        return cls(
            question=value["question"][:MAX_CHARS],
            doc_id=str(value.get("doc_id") or ""),
            section_id=str(value.get("section_id") or ""),
            title={k: str(v) for k, v in (value.get("title") or {}).items() if k in ("zh", "en")},
            countries=tuple(str(c) for c in value.get("countries") or () if isinstance(c, str))[:5],
            direction=tuple(direction) if isinstance(direction, list) and len(direction) == 2 else None,
        )


@dataclass(frozen=True)
class Resolved:
    """The question to search for, and whether it was completed from the conversation's topic."""

    query: str
    followup: bool = False
    direction: tuple[str | None, str | None] | None = None


# A message that tells the user's own situation ("我们的货被扣了", "we got a letter") rather than
# asking about a subject in general ("337调查请美国律师要花多少钱").
_OWN_SITUATION = re.compile(
    r"我们|我司|我公司|我方|我厂|本公司|咱们|我的|我家|客户|\b(?:we|our|ours|us|my|i|i'm|we're|we've|i've)\b",
    re.IGNORECASE,
)


def tells_own_situation(text: str) -> bool:
    """Whether a message speaks of the user's own situation (first person, their customer) — an
    incident of theirs may be behind it, even when it reads as a question."""
    return _OWN_SITUATION.search(text) is not None


def _short(text: str, lang: str) -> bool:
    return len(text) <= SHORT["zh"] if lang == "zh" else len(text.split()) <= SHORT["en"]


def standalone(text: str) -> bool:
    """Whether a question names its own subject (PPH, a kind of IP, an incident…)."""
    lowered = normalise(text)
    return any(anchor in lowered for anchor in ANCHORS)


def _replace_countries(question: str, new_codes: list[str], lang: str) -> str:
    """The earlier question with the foreign countries it named ("中韩", "Korea") replaced by the new ones."""
    names = [_market(c, lang) for c in new_codes]
    text = normalise(question)
    foreign = [m for m in mentions(text) if m.code != "CN"]
    out, last = [], 0
    for i, m in enumerate(foreign):
        out += [text[last : m.start], names[min(i, len(names) - 1)]]
        last = m.end
    replaced = "".join(out) + text[last:]
    short = {"JP": "日", "KR": "韩", "US": "美", "EP": "欧"}
    if new_codes[0] in short:
        replaced = re.sub(r"中[日韩美欧]", "中" + short[new_codes[0]], replaced)
    return replaced


def resolve(text: str, topic: Topic | None, lang: str) -> Resolved:
    """The question a message stands for: itself, or — when it is a short follow-up without a
    subject of its own — completed from the topic (countries swapped, direction reversed, or the
    topic's document named)."""
    text = text.strip()[:MAX_CHARS]
    own_direction = pph_direction(text, lang)
    if topic is None or not _short(text, lang):
        return Resolved(text, False, own_direction)
    lowered = normalise(text)
    named = [m.code for m in mentions(text)]
    title = topic.title.get(lang) or topic.question
    if own_direction and all(own_direction) and not standalone(text):  # "那反过来呢？韩国的结果拿到中国用"
        return Resolved(f"{text} {topic.question}", True, own_direction)
    if any(cue in lowered for cue in REVERSE_CUES) and topic.direction and all(topic.direction):
        oee, ole = topic.direction
        return Resolved(f"{text} {topic.question}", True, (ole, oee))
    if standalone(text):
        framework = _framework(topic)
        names_one = any(name.lower() in lowered for name in FRAMEWORKS)
        if framework and not names_one and any(cue in lowered for cue in SWITCH_CUES):
            return Resolved(f"{text} {framework}", True, own_direction)
        return Resolved(text, False, own_direction)
    if named:
        question = _replace_countries(topic.question, named, lang)
        if question == normalise(topic.question):  # the earlier question named no country to swap
            question = f"{text} {topic.question}"
        return Resolved(question, True, pph_direction(question, lang))
    # The topic's markets come along when its title names others too: "how long do we have to
    # respond?" after US customs stopped the goods is about US customs, not about the EU's deadlines
    # that the playbook's title "(EU, Japan, Korea, US)" would let in.
    foreign = [c for c in topic.countries if c != "CN"]
    # A topic about a framework and no market ("RCEP有哪些国家" → "那什么时候生效的？") is completed
    # with the framework's name: its document's whole title ("RCEP及其第十一章（知识产权）概览") pulled
    # the search to the sections about Chapter 11 instead of the one on entry into force.
    framework = _framework(topic)
    if framework and not foreign and not set(market_codes(" ".join(topic.title.values()))) - {"CN"}:
        return Resolved(f"{text} {framework}", True, topic.direction)
    if foreign and set(market_codes(title)) - {"CN", *foreign}:
        title = _without_markets(title)
        return Resolved(" ".join([text, title, *(_market(c, lang) for c in foreign)]), True, topic.direction)
    return Resolved(f"{text} {title}", True, topic.direction)


def _framework(topic: Topic) -> str | None:
    """The framework the conversation is about, "RCEP" or "PPH", when its document is about one."""
    title = normalise(" ".join(topic.title.values()))
    return next((name for name in FRAMEWORKS if name.lower() in title), None)


def _without_markets(title: str) -> str:
    """A title with the foreign markets it names taken out ("…on IP grounds (EU, Japan, Korea, US)" →
    "…on IP grounds")."""
    out, last = [], 0
    for start, end, code in market_spans(title):
        if code != "CN":
            out.append(title[last:start])
            last = end
    kept = "".join(out) + title[last:]
    kept = re.sub(r"[（(][\s,，、]*[)）]", "", kept)
    return re.sub(r"\s+", " ", kept).strip()


def _market(code: str, lang: str) -> str:
    """A market's name for a completed question."""
    return market_name(code, lang) if code != "EP" else ("欧洲" if lang == "zh" else "Europe")
