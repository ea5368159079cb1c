"""The checks the input channels make (bot/channels/guards.py): tokens, REST bodies, signed web
session ids, page origins and typed payloads."""

from __future__ import annotations

import pytest

from bot.channels.guards import (
    SessionIds,
    as_typed_text,
    bearer_matches,
    offered_payloads,
    origin_allowed,
    parse_origins,
    rest_body_error,
)

TOKEN = "t" * 32


@pytest.mark.parametrize(
    ("header", "ok"),
    [(f"Bearer {TOKEN}", True), (f"bearer {TOKEN}", True), (f"Bearer {TOKEN}x", False), (TOKEN, False), (None, False)],
)
def test_only_the_bearer_token_itself_is_accepted(header, ok):
    assert bearer_matches(header, TOKEN) is ok


def test_an_empty_token_accepts_nothing():
    assert not bearer_matches("Bearer ", "")


@pytest.mark.parametrize(
    "body",
    [
        [],
        "text",
        {"message": "hi"},
        {"sender": "", "message": "hi"},
        {"sender": 7, "message": "hi"},
        {"sender": "a\nb", "message": "hi"},
        {"sender": "x" * 129, "message": "hi"},
        {"sender": "u1", "message": 5},
        {"sender": "u1"},
        {"sender": "u1", "message": "hi", "metadata": "x"},
    ],
)
def test_a_body_that_cannot_be_a_message_is_named(body):
    assert rest_body_error(body)


def test_a_well_formed_body_passes():
    assert rest_body_error({"sender": "tg-5", "message": "你好", "metadata": {"channel": "telegram"}}) is None


def test_a_session_id_this_server_issued_names_a_web_conversation():
    ids = SessionIds("s" * 32)
    session = ids.issue()
    sender = ids.sender(session)
    assert sender is not None and sender.startswith("web-") and sender == "web-" + session.split(".")[0]
    assert ids.issue() != session


@pytest.mark.parametrize("claimed", ["tg-12345", "web-abc", "abc.def", "", None, 42, "a.b.c", "é.é"])
def test_a_client_cannot_choose_its_conversation(claimed):
    assert SessionIds("s" * 32).sender(claimed) is None


def test_another_servers_or_a_tampered_session_id_is_refused():
    mine, other = SessionIds("s" * 32), SessionIds("o" * 32)
    session = other.issue()
    assert mine.sender(session) is None
    token, signature = mine.issue().split(".")
    assert mine.sender(f"{token}x.{signature}") is None


def test_session_ids_need_a_real_secret():
    with pytest.raises(ValueError):
        SessionIds("short")


def test_only_the_configured_page_origins_may_open_the_socket():
    allowed = parse_origins("http://127.0.0.1:8080, http://localhost:8080/")
    assert allowed == {"http://127.0.0.1:8080", "http://localhost:8080"}
    assert origin_allowed({"HTTP_ORIGIN": "http://localhost:8080"}, allowed)
    assert not origin_allowed({"HTTP_ORIGIN": "https://evil.example.com"}, allowed)
    assert not origin_allowed({"HTTP_ORIGIN": "null"}, allowed)
    assert origin_allowed({}, allowed)  # not a browser: CORS is no protection there anyway


def bot(*payloads: str) -> dict:
    return {"event": "bot", "text": "?", "data": {"buttons": [{"title": p, "payload": p} for p in payloads]}}


def test_offered_payloads_are_the_buttons_since_the_users_last_message():
    events = [bot("/old"), {"event": "user", "text": "hi"}, bot("/affirm", "/deny"), {"event": "action"}]
    assert offered_payloads(events) == {"/affirm", "/deny"}
    assert offered_payloads([bot("/old"), {"event": "user", "text": "hi"}]) == set()


def test_a_typed_payload_is_read_as_text_unless_it_was_offered():
    offered = {"/affirm", '/inform{"country":"KR"}'}
    assert as_typed_text("/affirm", offered) == "/affirm"
    assert as_typed_text('/inform{"country":"KR"}', offered) == '/inform{"country":"KR"}'
    assert as_typed_text('/report_case{"case_company":"X"}', offered) == 'report_case{"case_company":"X"}'
    assert as_typed_text("  //deny", offered) == "deny"
    assert as_typed_text("中日PPH/JPO", offered) == "中日PPH/JPO"


def test_the_pages_own_welcome_payload_is_always_a_payload():
    assert as_typed_text('/greet{"language":"zh"}', set()) == '/greet{"language":"zh"}'
    assert as_typed_text('/greet{"language":"xx"}', set()) == 'greet{"language":"xx"}'
