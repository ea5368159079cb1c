"""Rasa NLU component: Rasa's logistic-regression intent classifier, safe for a message with no features.

Rasa 3.6's LogisticRegressionClassifier stacks each message's sentence features; a message whose text
is empty or only spaces (a client that sends "" or only control characters, which MessageBounds turns
into spaces) has none, and the classifier raised ``ValueError`` (an array of shape (1, 0)) so that the
whole message failed with a traceback. Here such a message gets no intent at confidence 0, as Rasa's
own default parse does, and the FallbackClassifier after it turns that into ``nlu_fallback``. Every
other message is classified exactly as Rasa does (the class only filters what it hands over).
"""

from __future__ import annotations

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message


def has_features(message: Message) -> bool:
    """Whether a featurizer gave the message's text a sentence feature (a blank text gets none)."""
    sparse = message.get_sparse_features(attribute=TEXT)[1]
    dense = message.get_dense_features(attribute=TEXT)[1]
    return sparse is not None or dense is not None


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class IntentClassifier(LogisticRegressionClassifier):
    """Classifies the messages that have features; a blank one gets no intent (and so nlu_fallback)."""

    def process(self, messages: list[Message]) -> list[Message]:
        """Rasa's classification for featured messages, no intent at confidence 0 for the others."""
        featured = [message for message in messages if has_features(message)]
        if featured:
            super().process(featured)
        for message in messages:
            if not has_features(message):
                message.set(INTENT, {INTENT_NAME_KEY: None, PREDICTED_CONFIDENCE_KEY: 0.0}, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [], add_to_output=True)
        return messages
