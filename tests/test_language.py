import pytest

from bot.language import detect_language


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
