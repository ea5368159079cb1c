"""What the Telegram gateway's process tests share: the gateway against the loopback Bot API server,
with a case already open for one chat (no Rasa: what they test does not reach it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from actions.cases.service import open_case
from actions.store import migrate, session_scope
from bot.stack import free_port
from tests.factories import intake
from tests.telegram_api import FakeBotApi
from tests.unit.cases.test_service import POOL

ROOT = Path(__file__).resolve().parents[4]
TOKEN = "123456:TEST"
CHAT = 4242


@pytest.fixture
def gateway(tmp_path):
    """(the loopback Bot API, the database URL, the open case's number, the attachments folder)"""
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    migrate(url)
    with session_scope(url) as s:
        case_no = open_case(s, intake(sender_id=f"tg-{CHAT}", language="en"), POOL)[0].case_no
    with FakeBotApi(TOKEN) as api:
        env = dict(
            os.environ,
            PYTHONPATH=str(ROOT),
            DATABASE_URL=url,
            TELEGRAM_TOKEN=TOKEN,
            TELEGRAM_BASE_URL=api.base_url,
            ATTACHMENTS_DIR=str(tmp_path / "attachments"),
            ATTACHMENT_MAX_BYTES="4096",
            RASA_URL=f"http://127.0.0.1:{free_port()}",  # nothing listens: a message forwarded to Rasa gets an apology
        )
        log = open(tmp_path / "gateway.log", "ab")  # noqa: SIM115 - closed below
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.channels.telegram.gateway"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            assert api.wait_for(lambda: api.calls_to("getUpdates"), timeout=60), "the gateway did not start polling"
            yield api, url, case_no, tmp_path / "attachments"
        finally:
            process.terminate()
            process.wait(15)
            log.close()
