"""Table-driven tests for actions.dates.parse_deadline (no network, fixed dates)."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actions.dates import MONTHS, DeadlineParse, month_named, parse_deadline
from tests.factories import adversarial_text

TUE = datetime.date(2026, 11, 24)  # a Tuesday
MON = datetime.date(2026, 12, 28)  # a Monday, for month and year rollover
JAN31 = datetime.date(2027, 1, 31)  # for month arithmetic at a month's end


def d(year: int, month: int, day: int) -> datetime.date:
    return datetime.date(year, month, day)


# (text, today, expected date, expected matched text or None to skip that check)
DATES = [
    # ISO and unambiguous numeric
    ("2026-12-03", TUE, d(2026, 12, 3), "2026-12-03"),
    ("2026/12/3", TUE, d(2026, 12, 3), "2026/12/3"),
    ("2026.12.3", TUE, d(2026, 12, 3), "2026.12.3"),
    ("25/12/2026", TUE, d(2026, 12, 25), "25/12/2026"),
    ("12/25/2026", TUE, d(2026, 12, 25), "12/25/2026"),
    ("reply before 2026-12-03T17:00", TUE, d(2026, 12, 3), "2026-12-03"),
    # English explicit dates
    ("by 3 December", TUE, d(2026, 12, 3), "3 December"),
    ("December 3", TUE, d(2026, 12, 3), "December 3"),
    ("Dec 3rd", TUE, d(2026, 12, 3), "Dec 3rd"),
    ("3 Dec 2026", TUE, d(2026, 12, 3), "3 Dec 2026"),
    ("Dec. 3, 2026", TUE, d(2026, 12, 3), "Dec. 3, 2026"),
    ("the 3rd of December", TUE, d(2026, 12, 3), "3rd of December"),
    ("November 24", TUE, d(2026, 11, 24), None),  # today counts as "on or after today"
    ("November 20", TUE, d(2027, 11, 20), None),  # already passed this year: next year
    ("December 3", MON, d(2027, 12, 3), None),
    ("3 Dec 2025", TUE, d(2025, 12, 3), None),  # past, returned as is
    ("end of December", TUE, d(2026, 12, 31), "end of December"),
    # English relative
    ("in 10 days", TUE, d(2026, 12, 4), "in 10 days"),
    ("within 10 days", TUE, d(2026, 12, 4), "within 10 days"),
    ("within two weeks", TUE, d(2026, 12, 8), "within two weeks"),
    ("within two weeks", MON, d(2027, 1, 11), None),
    ("within twenty-one days", TUE, d(2026, 12, 15), None),
    ("within a month", TUE, d(2026, 12, 24), None),
    ("within a month", JAN31, d(2027, 2, 28), None),
    ("in 1 month", MON, d(2027, 1, 28), None),
    ("10 business days", TUE, d(2026, 12, 8), "10 business days"),
    ("they gave us a 10-day deadline", TUE, d(2026, 12, 4), "10-day"),
    ("5 days ago", TUE, d(2026, 11, 19), "5 days ago"),  # past, returned as is
    ("next Friday", TUE, d(2026, 12, 4), "next Friday"),
    ("next Friday", MON, d(2027, 1, 8), None),
    ("next Monday", TUE, d(2026, 11, 30), None),
    ("Friday next week", TUE, d(2026, 12, 4), None),
    ("this Friday", TUE, d(2026, 11, 27), "this Friday"),
    ("Friday", TUE, d(2026, 11, 27), "Friday"),
    ("Friday", MON, d(2027, 1, 1), None),
    ("by Tuesday", TUE, d(2026, 11, 24), "Tuesday"),  # same weekday: today
    ("by Sat", TUE, d(2026, 11, 28), "Sat"),
    ("tomorrow", TUE, d(2026, 11, 25), "tomorrow"),
    ("the day after tomorrow", TUE, d(2026, 11, 26), None),
    ("end of the month", TUE, d(2026, 11, 30), "end of the month"),
    ("end of the month", MON, d(2026, 12, 31), None),
    ("end of next month", MON, d(2027, 1, 31), None),
    # Chinese relative
    ("10天内", TUE, d(2026, 12, 4), "10天内"),
    ("十天内", TUE, d(2026, 12, 4), "十天内"),
    ("10天之内", TUE, d(2026, 12, 4), "10天之内"),
    ("10天内", MON, d(2027, 1, 7), None),
    ("二十天内", TUE, d(2026, 12, 14), None),
    ("三十天内", TUE, d(2026, 12, 24), None),
    ("十五日内", TUE, d(2026, 12, 9), "十五日内"),
    ("两周内", TUE, d(2026, 12, 8), "两周内"),
    ("一周之内", TUE, d(2026, 12, 1), "一周之内"),
    ("一个星期内", TUE, d(2026, 12, 1), None),
    ("3个月内", TUE, d(2027, 2, 24), None),
    ("半个月内", TUE, d(2026, 12, 9), None),
    ("三个工作日内", TUE, d(2026, 11, 27), "三个工作日内"),
    ("三个工作日内", MON, d(2026, 12, 31), None),
    ("5个工作日内", MON, d(2027, 1, 4), None),  # skips Sat 2 and Sun 3 January
    ("下周五", TUE, d(2026, 12, 4), "下周五"),
    ("下周五", MON, d(2027, 1, 8), None),
    ("下星期五", TUE, d(2026, 12, 4), "下星期五"),
    ("下个礼拜五", TUE, d(2026, 12, 4), None),
    ("下下周一", TUE, d(2026, 12, 7), None),
    ("本周五", TUE, d(2026, 11, 27), "本周五"),
    ("这周五", TUE, d(2026, 11, 27), "这周五"),
    ("本周一", TUE, d(2026, 11, 23), None),  # current week, already past
    ("本周日", MON, d(2027, 1, 3), None),
    ("周五前", TUE, d(2026, 11, 27), "周五"),
    ("周日", TUE, d(2026, 11, 29), None),
    ("明天", TUE, d(2026, 11, 25), "明天"),
    ("后天", TUE, d(2026, 11, 26), "后天"),
    ("大后天", TUE, d(2026, 11, 27), "大后天"),
    ("今天", TUE, d(2026, 11, 24), None),
    ("月底", TUE, d(2026, 11, 30), "月底"),
    ("月底前", TUE, d(2026, 11, 30), "月底"),
    ("月底", MON, d(2026, 12, 31), None),
    ("下个月底", MON, d(2027, 1, 31), None),
    ("年底", TUE, d(2026, 12, 31), None),
    # Chinese explicit dates
    ("12月3日", TUE, d(2026, 12, 3), "12月3日"),
    ("12月3号", TUE, d(2026, 12, 3), "12月3号"),
    ("12月3日", MON, d(2027, 12, 3), None),
    ("1月5日", MON, d(2027, 1, 5), None),
    ("2026年12月3日", TUE, d(2026, 12, 3), "2026年12月3日"),
    ("二〇二六年十二月三日", TUE, d(2026, 12, 3), None),
    ("十二月三日", TUE, d(2026, 12, 3), None),
    ("２０２６年１２月３日", TUE, d(2026, 12, 3), "２０２６年１２月３日"),  # full-width digits
    ("明年3月1日", TUE, d(2027, 3, 1), None),
    ("2月29日", JAN31, d(2028, 2, 29), None),  # next leap year
    ("12月底", TUE, d(2026, 12, 31), "12月底"),
    ("3号前", TUE, d(2026, 12, 3), "3号"),
    ("30号", TUE, d(2026, 11, 30), None),
    ("3号", MON, d(2027, 1, 3), None),
    ("下个月5号", TUE, d(2026, 12, 5), "下个月5号"),
    # Embedded and mixed
    ("对方要求我们10天内回复", TUE, d(2026, 12, 4), "10天内"),
    ("they want an answer by 3 December", TUE, d(2026, 12, 3), "3 December"),
    ("我们11月20日收到警告函，要求12月3日前回复", TUE, d(2026, 12, 3), "12月3日"),  # the cued date wins
    ("deadline is 3 Dec, we got the letter on 20 Nov", TUE, d(2026, 12, 3), "3 Dec"),
    ("请在Dec 3前回复", TUE, d(2026, 12, 3), "Dec 3"),
    ("not sure, maybe within 10 days", TUE, d(2026, 12, 4), "within 10 days"),  # a date beats "not sure"
]

NONE = [
    "no deadline",
    "No deadline.",
    "not sure",
    "none",
    "I don't know",
    "they did not specify",
    "n/a",
    "没有期限",
    "不清楚",
    "没有",
    "无",
    "对方没有给期限",
    "不知道。",
]

UNPARSED = [
    "",
    "   ",
    "asdf",
    "hello there",
    "12/3",  # day/month order unknown
    "12.3",
    "3.12.2026",  # 3 December or 12 March
    "3/12/26",  # two-digit year
    "2026-02-30",  # impossible
    "2月30日",
    "sun",  # a weekday only when introduced (by/on/next …)
    "下周",  # a week, not a day
    "next week",
    "12月",
    "无效",  # 无 only counts on its own
    "sure",
    "I'm not in the office",
]


@pytest.mark.parametrize(("text", "today", "expected", "matched"), DATES)
def test_dates(text: str, today: datetime.date, expected: datetime.date, matched: str | None) -> None:
    result = parse_deadline(text, today)
    assert (result.status, result.date) == ("date", expected)
    if matched is not None:
        assert result.matched == matched
    assert result.matched and result.matched in text


@pytest.mark.parametrize("text", NONE)
def test_no_deadline(text: str) -> None:
    result = parse_deadline(text, TUE)
    assert (result.status, result.date) == ("none", None)
    assert result.matched and result.matched in text


@pytest.mark.parametrize("text", UNPARSED)
def test_unparsed(text: str) -> None:
    assert parse_deadline(text, TUE) == DeadlineParse("unparsed", None, None)


def test_result_is_frozen() -> None:
    result = parse_deadline("明天", TUE)
    with pytest.raises(AttributeError):
        result.date = None  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "matched"),
    [
        ("2000000个工作日内", "2000000个工作日内"),
        ("99999999999天内", "99999999999天内"),
        ("请在两百个月内答复", "两百个月内"),
        ("within 5000 days", "within 5000 days"),
        ("in 600 weeks", "in 600 weeks"),
    ],
)
def test_a_duration_of_more_than_ten_years_is_refused_not_clamped(text: str, matched: str) -> None:
    assert parse_deadline(text, TUE) == DeadlineParse("too_far", None, matched)


def test_ten_years_of_days_is_still_a_deadline() -> None:
    assert parse_deadline("3650天内", TUE) == DeadlineParse("date", TUE + datetime.timedelta(days=3650), "3650天内")


def test_a_real_date_wins_over_a_far_duration() -> None:
    result = parse_deadline("2000000个工作日内，其实是12月3日前", TUE)
    assert (result.status, result.date) == ("date", datetime.date(2026, 12, 3))


def test_the_probe_message_is_refused_as_too_far() -> None:
    result = parse_deadline("2000000个工作日内" * 20, TUE)
    assert (result.status, result.matched) == ("too_far", "2000000个工作日内")


def _working_days_one_by_one(today: datetime.date, days: int) -> datetime.date:
    """The reference: walks the calendar one day at a time."""
    current = today
    while days > 0:
        current += datetime.timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


@settings(max_examples=200, deadline=None)
@given(st.dates(datetime.date(2000, 1, 1), datetime.date(2090, 12, 31)), st.integers(min_value=1, max_value=400))
def test_working_days_land_where_counting_them_one_by_one_does(today: datetime.date, days: int) -> None:
    result = parse_deadline(f"{days}个工作日内", today)
    assert result == DeadlineParse("date", _working_days_one_by_one(today, days), f"{days}个工作日内")


@settings(max_examples=40, deadline=None)
@given(adversarial_text())
def test_any_long_text_gives_a_result_that_quotes_the_text(text: str) -> None:
    result = parse_deadline(text, TUE)
    assert result.status in ("date", "none", "too_far", "unparsed")
    assert (result.date is not None) == (result.status == "date")
    assert result.matched is None or result.matched in text


def test_the_month_table_has_every_month_by_name_and_abbreviation():
    assert sorted(set(MONTHS.values())) == list(range(1, 13))
    assert MONTHS["march"] == MONTHS["mar"] == 3 and MONTHS["sept"] == MONTHS["sep"] == MONTHS["september"] == 9
    assert all(name == name.lower() and name.isalpha() for name in MONTHS)


@pytest.mark.parametrize(
    ("text", "month"),
    [
        ("3月", 3),
        ("2027年3月", 3),
        ("三月份", 3),
        ("十二月", 12),
        ("３月", 3),
        ("in March", 3),
        ("Sept.", 9),
        ("在March", 3),
        ("June or March", 6),  # the first named
        ("13月", None),
        ("3个月后", None),  # a duration, not March
        ("下个月", None),
        ("decide later", None),
        ("", None),
    ],
)
def test_month_named(text: str, month: int | None) -> None:
    assert month_named(text) == month


def test_the_deadline_parser_reads_every_month_name_of_the_table() -> None:
    for name, number in MONTHS.items():
        assert parse_deadline(f"by {name} 3, 2027", TUE).date == d(2027, number, 3)
