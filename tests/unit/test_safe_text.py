from hypothesis import given, settings
from hypothesis import strategies as st

from actions.safe_text import (
    CHANNEL_MAX_CHARS,
    DEFAULT_MAX_MESSAGE_CHARS,
    bound_text,
    channel_text,
    clean_text,
    max_message_chars,
)
from tests.factories import adversarial_text

UNPRINTABLE = {chr(c) for c in [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)]} | set(
    "\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def test_a_lone_surrogate_becomes_the_replacement_character_and_the_text_encodes():
    text = clean_text("PPH\ud800问题\udfff")
    assert text == "PPH\ufffd问题\ufffd"
    assert text.encode("utf-8")


def test_control_characters_become_spaces_and_line_breaks_become_newlines():
    assert clean_text("a\x00b\x1b[31mc\x7fd") == "a b [31mc d"
    assert clean_text("one\r\ntwo\rthree\u2028four\tfive") == "one\ntwo\nthree\nfour\tfive"
    assert clean_text("admin\u202e") == "admin "


def test_a_non_string_text_is_empty():
    assert clean_text(None) == "" and clean_text(42) == "" and clean_text({"text": "hi"}) == ""


def test_a_long_message_is_cut_and_says_how_long_it_was():
    bounded = bound_text("问" * 2500, 2000)
    assert bounded.text == "问" * 2000 and bounded.received_chars == 2500 and bounded.cut
    short = bound_text("中日PPH要多久", 2000)
    assert short.text == "中日PPH要多久" and not short.cut


def test_the_limit_comes_from_the_environment_then_dotenv_else_the_default(tmp_path):
    dotenv = tmp_path / ".env"
    assert max_message_chars({}, dotenv) == DEFAULT_MAX_MESSAGE_CHARS
    dotenv.write_text("# settings\nMAX_MESSAGE_CHARS='500'  # half a page\n")
    assert max_message_chars({}, dotenv) == 500
    assert max_message_chars({"MAX_MESSAGE_CHARS": "3000"}, dotenv) == 3000


def test_a_nonsense_limit_falls_back_to_a_usable_one(tmp_path):
    missing = tmp_path / "none.env"
    assert max_message_chars({"MAX_MESSAGE_CHARS": "lots"}, missing) == DEFAULT_MAX_MESSAGE_CHARS
    assert max_message_chars({"MAX_MESSAGE_CHARS": "5"}, missing) == 100


def test_a_channel_forwards_at_most_its_cap_and_nothing_for_a_non_string():
    assert channel_text("x" * (CHANNEL_MAX_CHARS * 5)) == "x" * CHANNEL_MAX_CHARS
    assert channel_text("hi\x00") == "hi "
    assert channel_text(["hi"]) is None and channel_text(None) is None


@settings(max_examples=40, deadline=None)
@given(adversarial_text(), st.integers(min_value=0, max_value=3000))
def test_what_the_bot_reads_is_printable_encodable_and_within_the_limit(text, limit):
    bounded = bound_text(text, limit)
    assert len(bounded.text) <= limit
    assert bounded.received_chars == len(clean_text(text))
    assert bounded.cut == (bounded.received_chars > limit)
    assert not UNPRINTABLE & set(bounded.text)
    bounded.text.encode("utf-8")  # raises on a lone surrogate
