"""Documents over Telegram: the gateway process against the loopback Bot API server stores a PDF or photo
with the chat's open case, and refuses what is too large (before downloading it) or not a PDF/JPEG/PNG."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from actions.store import CaseDocument, session_scope
from tests.telegram_api import FakeBotApi
from tests.unit.bot.channels.conftest import CHAT

pytestmark = pytest.mark.e2e
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64


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
