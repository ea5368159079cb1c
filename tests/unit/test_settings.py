""".env.example, which says it lists every setting: each field of the settings objects is in it."""

from __future__ import annotations

import re
from pathlib import Path

from actions.settings import Settings
from bot.channels.telegram.gateway import GatewaySettings

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_lists_every_setting():
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(encoding="utf-8"), re.M))
    fields = {name.upper() for model in (Settings, GatewaySettings) for name in model.model_fields}
    processes = {"HOST", "RASA_PORT", "ACTION_PORT", "WEB_PORT", "WEB_HOST", "WEB_SOCKET_URL", "RASA_REST_TOKEN"}
    assert sorted((fields | processes) - listed) == []
