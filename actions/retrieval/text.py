"""Turns Chinese and English text into search terms for BM25 and the lexical relevance gate.

Chinese is segmented by jieba (search mode, with the project's IP-term dictionary in bot/jieba/,
the same one Rasa's tokenizer uses); English words are lower-cased and stemmed (Snowball).
"""

from __future__ import annotations

import logging
import re
import threading
from functools import lru_cache
from pathlib import Path

import jieba
import snowballstemmer

jieba.setLogLevel(logging.WARNING)

_WORD = re.compile(r"[\w\u3400-\u9fff]+", re.UNICODE)
_LATIN = re.compile(r"^[a-z0-9][a-z0-9\-]*$")

STOPWORDS_EN = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "can",
        "could",
        "do",
        "does",
        "did",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "should",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "us",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "about",
        "any",
        "please",
        "tell",
        "want",
        "know",
        "need",
        "get",
        "got",
        "just",
        "now",
        "today",
        "yesterday",
        "recently",
        "company",
        "companies",
        "firm",
        "someone",
        "somebody",
        "some",
        "one",
        "hi",
        "hello",
        "thanks",
        "help",
    ]
)
STOPWORDS_ZH = frozenset(
    [
        "的",
        "了",
        "是",
        "在",
        "和",
        "与",
        "及",
        "或",
        "吗",
        "呢",
        "吧",
        "啊",
        "呀",
        "么",
        "我",
        "我们",
        "你",
        "你们",
        "您",
        "他",
        "她",
        "它",
        "他们",
        "这",
        "那",
        "这个",
        "那个",
        "什么",
        "怎么",
        "怎样",
        "如何",
        "哪些",
        "哪个",
        "为什么",
        "是否",
        "可以",
        "能",
        "能否",
        "会",
        "要",
        "想",
        "请问",
        "请",
        "一下",
        "有",
        "没有",
        "对",
        "就",
        "都",
        "也",
        "还",
        "又",
        "把",
        "被",
        "让",
        "给",
        "怎么办",
        "一个",
        "些",
        "啥",
        "咋",
        "嘛",
        "什么时候",
        "时候",
        "哪里",
        "哪儿",
        "多少",
        "怎么样",
        "需要",
        "应该",
        "一般",
        "目前",
        "现在",
        "到底",
        "具体",
        "相关",
        "关于",
        "有关",
        "情况",
        "问题",
        "请教",
        "知道",
        "告诉",
        "帮",
        "帮忙",
        "是不是",
        "能不能",
        "可不可以",
        "刚刚",
        "刚",
        "刚才",
        "今天",
        "昨天",
        "最近",
        "公司",
        "一家",
        "你好",
        "谢谢",
    ]
)

_lock = threading.Lock()
_tokenizers: dict[str, jieba.Tokenizer] = {}


def _jieba_for(dict_dir: Path | None) -> jieba.Tokenizer:
    """One jieba tokenizer per dictionary folder, initialised once per process."""
    key = str(dict_dir or "")
    with _lock:
        if key not in _tokenizers:
            tk = jieba.Tokenizer()
            tk.initialize()
            if dict_dir and dict_dir.is_dir():
                for path in sorted(dict_dir.glob("*.txt")):
                    tk.load_userdict(str(path))
            _tokenizers[key] = tk
        return _tokenizers[key]


_stemmers = threading.local()  # a Snowball stemmer keeps its cursor on itself: one per thread


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The English Snowball stem of a lower-cased word, each word stemmed once per process: stemming was
    half of segmenting a text (an incremental index build segments every chunk; in-process profile)."""
    stemmer = getattr(_stemmers, "english", None)
    if stemmer is None:
        stemmer = _stemmers.english = snowballstemmer.stemmer("english")
    return str(stemmer.stemWord(word))


class Tokenizer:
    """Search terms of a text: jieba words for Chinese, stemmed words for English, no stopwords."""

    def __init__(self, dict_dir: Path | None = None):
        self._jieba = _jieba_for(dict_dir)

    def tokens(self, text: str) -> list[str]:
        """Terms in order of appearance (repeats kept, for BM25 term frequency)."""
        out: list[str] = []
        for piece in _WORD.findall(text.lower()):
            for word in self._jieba.lcut_for_search(piece):
                word = word.strip()
                if not word or word in STOPWORDS_ZH or word in STOPWORDS_EN:
                    continue
                if _LATIN.match(word):
                    if len(word) == 1:
                        continue
                    if len(word) > 3 and not word[0].isdigit():
                        word = stem(word)
                        if word in STOPWORDS_EN:  # "whats" → "what"
                            continue
                    out.append(word)
                elif not word.isascii():
                    out.append(word)
        return out
