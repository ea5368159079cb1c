"""A message the bot answers with nothing at all still gets a reply: the domain's
`utter_service_unavailable`, in the conversation's language.

Rasa sends nothing when a custom action fails in the middle of a form (the action server is down or
restarting: Rasa logs the failed call, and the form's happy path then predicts listening), so the
user would wait for an answer that never comes. The rules in bot/data/rules.yml answer the same way
outside forms; this covers the turns no rule can (a form step) and any other silent turn.
Used by both channels (bot/channels/rest_channel.py, bot/channels/socketio_channel.py); runs inside
the Rasa server.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.shared.core.trackers import DialogueStateTracker

logger = logging.getLogger(__name__)

RESPONSE = "utter_service_unavailable"
FALLBACK = (
    "抱歉，服务暂时不可用，请稍后再试。 / Sorry, the service is temporarily unavailable; please try again in a moment."
)


async def silent_turn_reply(app: Any, sender_id: str, channel: str) -> str:
    """The text to send after a turn without any reply: Rasa's own response, rendered for this
    conversation's language slot; a fixed bilingual line when even that cannot be read."""
    logger.warning("a message got no reply from the bot (is the action server down?); sent the unavailable notice")
    try:
        agent = app.ctx.agent
        tracker = await agent.tracker_store.retrieve(sender_id)
        if tracker is None:
            tracker = DialogueStateTracker(sender_id, agent.domain.slots)
        reply = await agent.processor.nlg.generate(RESPONSE, tracker, channel)
        return str((reply or {}).get("text") or FALLBACK)
    except Exception:  # the notice must go out whatever else is broken
        logger.exception("could not render %s", RESPONSE)
        return FALLBACK
