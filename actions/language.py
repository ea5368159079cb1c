"""Decide which language a user message is in: Chinese for CJK-dominant text, else English.

Dependency-free so that the Rasa server (Python 3.10) and the action server (Python 3.11) share it.
"""

from __future__ import annotations

import re

ZH = "zh"
EN = "en"

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")
_CJK_IDEOGRAPH = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)?")
# Tokens that say nothing about the language: acronyms (PPH, RCEP), case ids, numbers.
_NEUTRAL_TOKEN = re.compile(r"^(?:[A-Z0-9][A-Z0-9\-./]*|\d[\d\-./:]*)$")
# Contacts and links say nothing about the language either: emails, URLs, @handles, phone numbers.
# Linear time on any text (Python 3.10's re has no possessive quantifiers): an e-mail's local part is
# tried only where a run of its characters starts; inside a run it would rescan the run and fail anyway.
_NEUTRAL_SPANS = re.compile(
    r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+|https?://\S+|www\.\S+|@\w+|\+?\d[\d\s\-()]{5,}\d"
)


def detect_language(text: str | None) -> str | None:
    """Return "zh" or "en" for a user message, or None when the text carries no language signal.

    A message is Chinese when its Chinese characters are at least as many as its Latin words
    ("中日PPH要多久" → zh, "Is there a PPH with 日本?" → en). Text made only of acronyms, ids or
    numbers ("PPH", "IP-2026-000123"), or contacts and links ("zhang@example.com", "+86 138 0000 0000")
    returns None so the conversation keeps its language.
    """
    if not text or not text.strip():
        return None
    text = _NEUTRAL_SPANS.sub(" ", text)
    ideographs = len(_CJK_IDEOGRAPH.findall(text))
    latin_words = [w for w in _LATIN_WORD.findall(text) if not _NEUTRAL_TOKEN.match(w)]
    if ideographs == 0:
        if latin_words:
            return EN
        return None
    return ZH if ideographs >= len(latin_words) else EN
