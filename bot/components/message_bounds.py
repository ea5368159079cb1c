"""Rasa NLU component, first in the pipeline: every message the NLU reads is clean text of bounded length.

Whatever the channel (REST, the widget's socket.io, the Telegram gateway through REST), the tokenizer
and featurizers see at most MAX_MESSAGE_CHARS characters (default 2,000): a 20,000-character message
took DIET over a minute and 10 GB. Lone surrogates and control characters are replaced (actions/safe_text.py),
a non-string text becomes empty. When the text was cut, the parse data says so under ``text_bounds``
(``{"received_chars": ..., "kept_chars": ...}``), so the answer can tell the user what was read.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from actions.safe_text import bound_text, max_message_chars

TEXT_BOUNDS = "text_bounds"


def bound_message(message: Message, limit: int) -> None:
    """Replaces the message's text by its cleaned first ``limit`` characters, recording a cut."""
    original = message.get(TEXT)
    if original is None:
        return
    bounded = bound_text(original, limit)
    if bounded.text != original:
        message.set(TEXT, bounded.text)
    if bounded.cut:
        message.set(
            TEXT_BOUNDS, {"received_chars": bounded.received_chars, "kept_chars": len(bounded.text)}, add_to_output=True
        )


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class MessageBounds(GraphComponent):
    """Cuts each user message to the characters the bot reads and makes it printable (runs before the tokenizer)."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """No configuration: the limit is the MAX_MESSAGE_CHARS setting, read when the model is loaded."""
        return {}

    def __init__(self, limit: int) -> None:
        self.limit = limit

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> MessageBounds:
        return cls(max_message_chars())

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Training data is left as it is: its examples are short and written by the project."""
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        """Bounds and cleans each message's text before any other component reads it."""
        for message in messages:
            bound_message(message, self.limit)
        return messages
