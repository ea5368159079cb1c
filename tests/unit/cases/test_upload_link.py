"""The upload link's token: signed for one case and the conversation that opened it, expiring, with a salt of its
own (an e-mailed case link is no upload token and the reverse), and no sender id in the address."""

from __future__ import annotations

import base64
from datetime import timedelta

import itsdangerous.timed
import pytest

from actions.cases.upload_link import UploadLinkRefused, read_upload_token, upload_link, upload_token
from actions.settings import Settings
from bot.console.links import case_token, read_case_token

SECRET = "upload-test-secret-" + "x" * 24
DAY = 24 * 3600


def refusal(token: str, secret: str = SECRET, max_age: int = DAY) -> str:
    with pytest.raises(UploadLinkRefused) as refused:
        read_upload_token(secret, token, max_age)
    return refused.value.reason


def test_a_token_grants_its_case_to_the_conversation_that_opened_it():
    grant = read_upload_token(SECRET, upload_token(SECRET, "IP-2026-000001", "web-abc"), DAY)
    assert grant.case_no == "IP-2026-000001"
    assert grant.opens("IP-2026-000001", "web-abc")
    assert not grant.opens("IP-2026-000001", "web-other") and not grant.opens("IP-2026-000002", "web-abc")


def test_the_address_does_not_carry_the_conversations_id():
    token = upload_token(SECRET, "IP-2026-000001", "web-a-secret-session")
    payload = base64.urlsafe_b64decode(token.split(".")[0] + "==")
    assert b"IP-2026-000001" in payload and b"web-a-secret-session" not in payload


def test_forged_changed_and_expired_tokens_are_refused_with_their_reason(monkeypatch):
    token = upload_token(SECRET, "IP-2026-000001", "web-abc")
    assert refusal(upload_token("another secret", "IP-2026-000001", "web-abc")) == "invalid"
    assert refusal(token[:-2] + ("AA" if not token.endswith("AA") else "BB")) == "invalid"
    assert refusal("not a token") == "invalid" and refusal("") == "invalid"
    later = itsdangerous.timed.time.time() + timedelta(days=1, minutes=1).total_seconds()
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: later)
    assert refusal(token) == "expired"
    assert refusal(upload_token("another secret", "IP-2026-000001", "web-abc")) == "invalid"  # old and forged


def test_a_case_link_is_no_upload_token_and_an_upload_token_no_case_link():
    assert refusal(case_token(SECRET, "IP-2026-000001", "exp-001")) == "invalid"
    assert read_case_token(SECRET, upload_token(SECRET, "IP-2026-000001", "exp-001"), DAY) is None


def test_the_link_is_on_the_consoles_address_and_not_made_without_a_key():
    settings = Settings(_env_file=None, console_secret=SECRET, console_url="https://console.example.org/")
    link = upload_link(settings, "IP-2026-000001", "web-abc")
    assert link is not None and link.startswith("https://console.example.org/upload/")
    assert read_upload_token(SECRET, link.rsplit("/", 1)[1], DAY).case_no == "IP-2026-000001"
    assert upload_link(settings.model_copy(update={"console_secret": ""}), "IP-2026-000001", "web-abc") is None
