"""Documents over Telegram: the gateway process against the loopback Bot API server stores a PDF or photo
with the chat's open case, and refuses what is too large (before downloading it) or not a PDF/JPEG/PNG."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from actions.cases.service import open_case
from actions.store import CaseDocument, migrate, session_scope
from bot.stack import free_port
from tests.factories import intake
from tests.telegram_api import FakeBotApi
from tests.unit.cases.test_service import POOL

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[4]
TOKEN = "123456:TEST"
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
CHAT = 4242


@pytest.fixture
def gateway(tmp_path):
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
            RASA_URL=f"http://127.0.0.1:{free_port()}",  # documents need no Rasa
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


def replies(api: FakeBotApi, n: int) -> list[str]:
    assert api.wait_for(lambda: len(api.sent_messages(CHAT)) >= n, timeout=30), api.sent_messages(CHAT)
    return [m["text"] for m in api.sent_messages(CHAT)]


def test_a_pdf_and_a_photo_sent_in_the_chat_are_stored_with_its_case(gateway):
    api, url, case_no, folder = gateway
    api.push_document(CHAT, PDF, "Warning letter.pdf")
    assert replies(api, 1)[0] == f"Received “Warning_letter.pdf” and added it to case {case_no} for the expert."
    api.push_photo(CHAT, JPEG)
    assert case_no in replies(api, 2)[1]
    with session_scope(url) as s:
        docs = list(s.scalars(select(CaseDocument).order_by(CaseDocument.id)))
    assert [(d.filename, d.content_type) for d in docs] == [
        ("Warning_letter.pdf", "application/pdf"),
        (docs[1].filename, "image/jpeg"),
    ]
    assert (folder / docs[0].stored_as).read_bytes() == PDF


def test_a_file_over_the_limit_is_refused_before_it_is_downloaded_and_a_wrong_type_is_not_stored(gateway):
    api, url, _, folder = gateway
    api.push_document(CHAT, PDF, "huge.pdf", declared_size=50 * 1024 * 1024)
    assert "too large" in replies(api, 1)[0]
    assert not api.downloads(), "a file announced as too large was downloaded"
    api.push_document(CHAT, b"MZ\x90\x00 not a pdf at all", "invoice.pdf")
    assert "Only PDF, JPEG or PNG" in replies(api, 2)[1]
    with session_scope(url) as s:
        assert not list(s.scalars(select(CaseDocument)))
    assert not folder.exists() or not any(folder.rglob("*.*"))
