import pytest
from hypothesis import given, settings

from actions.language import detect_language
from tests.factories import adversarial_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("你好", "zh"),
        ("中日PPH要多久", "zh"),
        ("RCEP 商标 bad faith 怎么办", "zh"),
        ("hello", "en"),
        ("How long does the China-Japan PPH take?", "en"),
        ("Is there a PPH between China and 日本?", "en"),
        ("PPH", None),
        ("IP-2026-000123", None),
        ("", None),
        ("   ", None),
        ("2026-12-03", None),
        ("zhang@example.com", None),
        ("+86 138 0000 0000", None),
        ("@zhang_ip", None),
        ("https://www.cnipa.gov.cn", None),
        ("我的邮箱是 zhang@example.com", "zh"),
    ],
)
def test_detect_language(text, expected):
    assert detect_language(text) == expected


def test_an_address_after_a_long_run_of_text_is_still_not_a_language_signal():
    assert detect_language("a" * 3000 + "@example.com 我的邮箱") == "zh"
    assert detect_language("x." * 1500 + "y@example.com") is None


def test_the_probe_messages_get_an_answer():
    assert detect_language("2000000个工作日内" * 20) == "zh"
    assert detect_language("a" * 20000 + "!") == "en"
    assert detect_language("\ud800\x00" * 1000) is None


@settings(max_examples=40, deadline=None)
@given(adversarial_text())
def test_any_long_text_gets_a_language_or_none(text):
    assert detect_language(text) in ("zh", "en", None)
