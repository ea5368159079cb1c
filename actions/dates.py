"""Parses the deadline a user types when opening a case (Chinese or English) into a date.

``parse_deadline(text, today)`` returns a :class:`DeadlineParse` whose ``status`` is ``"date"`` (with the
date and the part of the text that gave it), ``"none"`` (the user says there is no deadline or does not
know it), ``"too_far"`` (a duration of more than ten years, such as ``2000000个工作日内``: refused, so that
the user can give the real one; no date is made up by clamping it) or ``"unparsed"`` (nothing usable, or
only an ambiguous date). The parser is a small set of regular-expression rules with no dependency and no
I/O; its time grows linearly with the text (each rule is written so that no match attempt rescans a run
of characters, durations are computed without walking day by day). Rules for ambiguous input:

* Numeric dates: year-first ``2026-12-03`` / ``2026/12/3`` / ``2026.12.3`` are read as year-month-day.
  Day and month with a four-digit year (``25/12/2026``, ``12/25/2026``) are accepted only when the order is
  unambiguous (one part is above 12, or both are equal); ``3.12.2026`` and ``3/12/2026`` are rejected.
  Numeric dates without a year (``12/3``, ``12.3``) and with a two-digit year (``3/12/26``) are always
  rejected. A rejected or impossible date (``2026-02-30``) leaves the text ``"unparsed"`` unless another
  expression in it gives a date.
* A day and month without a year (``December 3``, ``12月3日``) is the next such date on or after today;
  a bare day of the month (``3号``, ``30日``) is the next such day on or after today.
* A bare weekday (``Friday``, ``by Friday``, ``周五``, ``周五前``) and English ``this Friday`` /
  ``coming Friday`` are the next such weekday on or after today (said on a Friday, that is today).
* ``next Friday`` / ``Friday next week`` / ``下周五`` / ``下星期五`` / ``下个周五`` are the Friday of next
  calendar week (weeks run Monday to Sunday): said on Monday 23 Nov 2026 it is 4 Dec, not 27 Nov.
  ``本周五`` / ``这周五`` are the Friday of the current week, even if it has passed; ``下下周五`` adds a week.
* ``10天内`` / ``within 10 days`` / ``in 10 days`` / ``10 days`` are today + 10 calendar days (today not
  counted); weeks are 7 days; months keep the day of the month, clipped to the month's end; ``半个月`` is
  15 days. Working/business days (``三个工作日内``) skip Saturdays and Sundays only (no public holidays,
  no Chinese adjusted working weekends). ``10日内`` is a duration but ``10日前`` is "before the 10th".
* ``月底`` / ``end of the month`` are the last day of the current month, ``年底`` the 31 December of this year.
* Past dates (``2025-12-03``, ``本周一`` said on a Tuesday, ``5 days ago``) are returned with status
  ``"date"``; the caller decides to reject them.
* If the text holds several dates, the first one marked as a deadline wins (``by``, ``before``, ``within``,
  ``due``, ``截止``, ``…前``, ``…内`` …), else the first one: in ``11月20日收到警告函，要求12月3日前回复``
  it is 3 December. Any date wins over a "no deadline / not sure" phrase.

``month_named(text)`` is the month a text names without a day (``3月``, ``三月``, ``March``, ``Sept``), for
a trade fair's date; ``MONTHS`` is the table of English month names that both read.
"""

from __future__ import annotations

import calendar
import datetime
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

__all__ = ["MONTHS", "DeadlineParse", "month_named", "parse_deadline"]


@dataclass(frozen=True)
class DeadlineParse:
    """The outcome of :func:`parse_deadline`."""

    status: Literal["date", "none", "too_far", "unparsed"]
    date: datetime.date | None = None
    matched: str | None = None


# ---------------------------------------------------------------------------------------------------------
# Numbers


_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_NUM_CHAR = "[零〇一二两三四五六七八九十百]"
# An Arabic or Chinese number, only from the start of a run of digits (linear time: a match attempt
# inside the run would rescan it and could never succeed where the run's start failed).
_NUM_CN = rf"(?:(?<![0-9])[0-9]++|(?<!{_CN_NUM_CHAR}){_CN_NUM_CHAR}++)"
_DAY_CN = "(?:[0-9]{1,2}|[一二三四五六七八九十]{1,3})"  # a month or day number

_EN_UNITS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_EN_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "ninety": 90}
_EN_NUM = (
    rf"(?:(?<![0-9])[0-9]++|(?:{'|'.join(_EN_TENS)})(?:[-\s](?:one|two|three|four|five|six|seven|eight|nine))?"
    rf"|{'|'.join(sorted(_EN_UNITS, key=len, reverse=True))})"
)


def _to_int(text: str) -> int:
    """An Arabic, Chinese (十, 两, 二十, 一百零五, 二〇二六) or English (ten, twenty-one) number."""
    text = text.strip()
    if text.isascii() and text.isdigit():
        return int(text)
    words = re.split(r"[-\s]+", text)
    if all(w in _EN_UNITS or w in _EN_TENS for w in words):
        return sum(_EN_UNITS.get(w, 0) + _EN_TENS.get(w, 0) for w in words)
    if all(ch in _CN_DIGITS for ch in text):  # digit by digit: 二〇二六, 三
        return int("".join(str(_CN_DIGITS[ch]) for ch in text))
    total = digit = 0
    for ch in text:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        else:  # 十 or 百
            total += (digit or 1) * (10 if ch == "十" else 100)
            digit = 0
    return total + digit


# ---------------------------------------------------------------------------------------------------------
# Calendar arithmetic


def _date(year: int, month: int, day: int) -> datetime.date | None:
    """The date, or None if it does not exist."""
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


def _next_month_day(month: int, day: int, today: datetime.date) -> datetime.date | None:
    """The next ``month``/``day`` on or after today (29 February: the next leap year)."""
    for year in range(today.year, today.year + 9):
        found = _date(year, month, day)
        if found and found >= today:
            return found
    return None


def _next_day_of_month(day: int, today: datetime.date) -> datetime.date | None:
    """The next day ``day`` of a month on or after today."""
    for offset in range(13):
        found = _date(*_shift_month(today.year, today.month, offset), day)
        if found and found >= today:
            return found
    return None


def _shift_month(year: int, month: int, offset: int) -> tuple[int, int]:
    """(year, month) moved by ``offset`` months."""
    index = year * 12 + month - 1 + offset
    return index // 12, index % 12 + 1


def _month_end(year: int, month: int) -> datetime.date:
    """The last day of the month."""
    return datetime.date(year, month, calendar.monthrange(year, month)[1])


def _add_months(today: datetime.date, months: int) -> datetime.date:
    """Today moved by whole months, the day clipped to the month's end (31 Jan + 1 month = 28 Feb)."""
    year, month = _shift_month(today.year, today.month, months)
    return datetime.date(year, month, min(today.day, calendar.monthrange(year, month)[1]))


def _add_working_days(today: datetime.date, days: int) -> datetime.date:
    """Today moved by ``days`` Monday-to-Friday days (today not counted; public holidays ignored).

    Any 7 days in a row hold 5 working days, so whole weeks are added at once and at most the last 5
    working days are walked (1 to 7 calendar days).
    """
    if days <= 0:
        return today
    weeks, rest = divmod(days - 1, 5)
    current = today + datetime.timedelta(weeks=weeks)
    rest += 1
    while rest > 0:
        current += datetime.timedelta(days=1)
        if current.weekday() < 5:
            rest -= 1
    return current


def _week_day(today: datetime.date, weeks: int, weekday: int) -> datetime.date:
    """The ``weekday`` (0 = Monday) of the calendar week ``weeks`` after the current one."""
    monday = today - datetime.timedelta(days=today.weekday())
    return monday + datetime.timedelta(days=7 * weeks + weekday)


def _next_weekday(today: datetime.date, weekday: int) -> datetime.date:
    """The next ``weekday`` on or after today."""
    return today + datetime.timedelta(days=(weekday - today.weekday()) % 7)


# ---------------------------------------------------------------------------------------------------------
# Rules: each is a pattern and a handler returning a date, _BLOCK (mask the text, no date) or None (no match).


class _Block:
    """Marker for a date-like expression that is ambiguous or impossible."""


_BLOCK = _Block()


class _TooFar(_Block):
    """Marker for a duration beyond MAX_DURATION_DAYS (masks the text like a block; reported as "too_far")."""


_TOO_FAR = _TooFar()
_Result = datetime.date | _Block | None
# Durations longer than about ten years are refused; a number of more than 7 characters always is.
MAX_DURATION_DAYS = 3653
_MAX_NUMBER_CHARS = 7
_UNIT_DAYS = {"day": 1.0, "working day": 7 / 5, "week": 7.0, "fortnight": 14.0, "month": 30.44}
_Handler = Callable[[re.Match[str], datetime.date, str], _Result]

_L, _R = r"(?<![a-z])", r"(?![a-z])"  # word edges that also work next to Chinese characters
# English month names, their three-letter abbreviations and "sept", lower case, to the month's number:
# the one month table (deadlines here, a trade fair's month in the self-check, the dates an answer's
# sentences hold in actions/answers/reply.py).
MONTHS: dict[str, int] = {
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
}
MONTHS |= {name[:3]: number for name, number in MONTHS.items()} | {"sept": 9}
_MONTH = rf"{_L}(?P<mon>{'|'.join(sorted(MONTHS, key=len, reverse=True))}){_R}\.?"
_WEEKDAYS_EN = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_WEEKDAYS_CN = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "7": 6}


def _year_month_day(match: re.Match[str], today: datetime.date) -> _Result:
    """A date from named groups y (optional; or yq 今/明/本), m or mon, d."""
    groups = match.groupdict()
    month = MONTHS[groups["mon"]] if groups.get("mon") else _to_int(groups["m"])
    day = _to_int(groups["d"])
    if groups.get("y"):
        year = _to_int(groups["y"])
    elif groups.get("yq"):
        year = today.year + (groups["yq"] == "明")
    else:
        return _next_month_day(month, day, today) or _BLOCK
    return _date(year, month, day) or _BLOCK


def _day_month_year(match: re.Match[str], today: datetime.date, text: str) -> _Result:
    """``25/12/2026`` or ``12/25/2026``: accepted only when the order is clear."""
    first, second, year = int(match["a"]), int(match["b"]), int(match["y"])
    if first > 12 >= second:
        return _date(year, second, first) or _BLOCK
    if second > 12 >= first or first == second:
        return _date(year, first, second) or _BLOCK
    return _BLOCK


def _month_end_rule(match: _Groups, today: datetime.date, text: str) -> _Result:
    """月底 / 下个月底 / 12月底 / 年底 / end of (next) month / end of December / end of the year."""
    groups = match.groupdict()
    if groups.get("mon") or groups.get("m"):
        month = MONTHS[groups["mon"]] if groups.get("mon") else _to_int(groups["m"])
        if not 1 <= month <= 12:
            return _BLOCK
        year = _to_int(groups["y"]) if groups.get("y") else today.year
        if not groups.get("y") and month < today.month:
            year += 1
        return _month_end(year, month)
    if groups.get("unit") in ("year", "年"):
        year = _to_int(groups["y"]) if groups.get("y") else today.year + (groups.get("q") == "明")
        return datetime.date(year, 12, 31)
    qualifier = groups.get("q") or ""
    offset = 2 if qualifier.startswith("下下") else 1 if qualifier.startswith(("下", "next")) else 0
    return _month_end(*_shift_month(today.year, today.month, offset))


def _duration(number: str, unit: str, working: bool, ago: bool, today: datetime.date) -> _Result:
    """Today moved by ``number`` days, working days, weeks or months (backwards if ``ago``); _TOO_FAR
    beyond MAX_DURATION_DAYS, checked before the number is even converted."""
    number = number.strip()
    if len(number) > _MAX_NUMBER_CHARS and (number.isdigit() or not number.isascii()):  # not "twenty-one"
        return _TOO_FAR
    count = _to_int(number)
    if count * _UNIT_DAYS["working day" if working and unit == "day" else unit] > MAX_DURATION_DAYS:
        return _TOO_FAR
    sign = -1 if ago else 1
    if unit == "month":
        return _add_months(today, sign * count)
    if working and not ago:
        return _add_working_days(today, count)
    days = count * {"day": 1, "week": 7, "fortnight": 14}[unit]
    return today + datetime.timedelta(days=sign * days)


def _duration_cn(match: re.Match[str], today: datetime.date, text: str) -> _Result:
    """10天内 / 十天内 / 两周内 / 三个工作日内 / 3个月内 / 15日内 / 3天后 / 3天前 (ago)."""
    unit, suffix = match["unit"], match["suf"] or ""
    if unit == "月" and not match["ge"]:
        return None  # 3月 is March, not three months
    if unit == "日" and suffix not in ("内", "之内", "以内", "后", "之后", "以后"):
        return None  # 10日 / 10日前 is a day of the month
    kind = {"天": "day", "日": "day", "工作日": "day", "月": "month"}.get(unit, "week")
    return _duration(match["n"], kind, unit == "工作日", suffix.endswith("前"), today)


def _duration_en(match: re.Match[str], today: datetime.date, text: str) -> _Result:
    """in 10 days / within two weeks / 10 business days / within a month / 5 days ago."""
    if match["n"] in ("a", "an") and not match["pre"]:
        return None  # "twice a day"
    unit = match["unit"].rstrip("s")
    return _duration(match["n"], unit, bool(match["biz"]), bool(match["ago"]), today)


def _half_month(match: re.Match[str], today: datetime.date, text: str) -> _Result:
    """半个月内: 15 days."""
    return today + datetime.timedelta(days=15)


def _weekday_cn(match: re.Match[str], today: datetime.date, text: str) -> _Result:
    """周五 / 周五前 / 本周五 / 这周五 / 下周五 / 下星期五 / 下下周一 / 上周五."""
    weekday = _WEEKDAYS_CN.get(match["d"])
    if weekday is None:
        weekday = int(match["d"]) - 1
    qualifier = match["q"] or ""
    if not qualifier:
        return _next_weekday(today, weekday)
    weeks = (
        2 if qualifier.startswith("下下") else 1 if qualifier.startswith("下") else -1 if qualifier[0] == "上" else 0
    )
    return _week_day(today, weeks, weekday)


def _weekday_en(match: re.Match[str], today: datetime.date, text: str) -> _Result:
    """Friday / by Friday / this Friday / next Friday / Friday next week."""
    qualifier = (match["q"] or "").split()
    weekday = _WEEKDAYS_EN[match["wd"][:3]]
    introduced = qualifier or re.search(r"(?:by|on|before|until|till)\s*$", text[: match.start()])
    if match["wd"] in ("mon", "wed", "sat", "sun") and not introduced:
        return None  # common words, not weekdays, unless introduced
    if (qualifier and qualifier[0] == "next") or match["nw"]:
        return _week_day(today, 1, weekday)
    return _next_weekday(today, weekday)


def _offset_rule(days: int) -> _Handler:
    """A handler giving today + ``days``."""
    return lambda match, today, text: today + datetime.timedelta(days=days)


def _day_of_month_cn(match: re.Match[str], today: datetime.date, text: str) -> _Result:
    """3号 / 30日 / 3号前 / 下个月5号 / 本月3号."""
    day = _to_int(match["d"])
    qualifier = match["q"] or ""
    if not qualifier:
        return _next_day_of_month(day, today) or _BLOCK
    offset = 2 if qualifier.startswith("下下") else 1 if qualifier.startswith("下") else 0
    return _date(*_shift_month(today.year, today.month, offset), day) or _BLOCK


_RULES: list[tuple[re.Pattern[str], _Handler]] = [
    # 2026-12-03, 2026/12/3, 2026.12.3: always year-month-day.
    (
        re.compile(r"(?<![0-9])(?P<y>[0-9]{4})(?P<s>[-/.])(?P<m>[0-9]{1,2})(?P=s)(?P<d>[0-9]{1,2})(?![0-9])"),
        lambda match, today, text: _year_month_day(match, today),
    ),
    # 25/12/2026, 12/25/2026; 3.12.2026 is blocked as ambiguous.
    (
        re.compile(r"(?<![0-9./-])(?P<a>[0-9]{1,2})(?P<s>[-/.])(?P<b>[0-9]{1,2})(?P=s)(?P<y>[0-9]{4})(?![0-9])"),
        _day_month_year,
    ),
    # 12/3, 12.3, 3/12/26: no (four-digit) year, always ambiguous.
    (
        re.compile(r"(?<![0-9./-])[0-9]{1,2}(?P<s>[-/.])[0-9]{1,2}(?:(?P=s)[0-9]{2})?(?![0-9]|[-/.][0-9])"),
        lambda match, today, text: _BLOCK,
    ),
    # 2026年12月3日, 十二月三日, 明年3月1日, 12月3号.
    (
        re.compile(
            rf"(?:(?:(?P<y>[0-9]{{4}}|[〇零一二三四五六七八九]{{4}})|(?P<yq>今|明|本))年\s*)?(?P<m>{_DAY_CN})\s*月"
            rf"\s*(?P<d>{_DAY_CN})\s*(?:日|号)?(?![0-9个天])"
        ),
        lambda match, today, text: _year_month_day(match, today),
    ),
    # 3 December, 3rd of Dec 2026, 3-Dec-2026.
    (
        re.compile(
            rf"(?<![0-9])(?P<d>[0-9]{{1,2}})(?:st|nd|rd|th)?[\s-]*(?:of\s+)?{_MONTH}(?:,?[\s-]*(?P<y>[0-9]{{4}}))?"
        ),
        lambda match, today, text: _year_month_day(match, today),
    ),
    # December 3, Dec 3rd, Dec. 3, 2026, December the 3rd.
    (
        re.compile(
            rf"{_MONTH}\s*(?:the\s+)?(?P<d>[0-9]{{1,2}})(?:st|nd|rd|th)?(?![0-9])(?!\s*(?:days?|weeks?|months?){_R})"
            rf"(?:,?\s*(?P<y>[0-9]{{4}})(?![0-9]))?"
        ),
        lambda match, today, text: _year_month_day(match, today),
    ),
    # 12月底, 2026年12月底, end of December (2026).
    (
        re.compile(
            rf"(?:(?P<y>[0-9]{{4}})年)?(?P<m>{_DAY_CN})月(?:底|末)|{_L}end\s+of\s+{_MONTH}(?:\s+(?P<y2>[0-9]{{4}}))?"
        ),
        lambda match, today, text: _month_end_rule(_Merged(match, y=match["y"] or match["y2"]), today, text),
    ),
    # 月底, 下个月底, end of the month, end of next month, month end.
    (
        re.compile(
            rf"(?P<q>下下个?|下个?|本|这个?|当)?月(?:底|末)"
            rf"|{_L}end\s+of\s+(?:the\s+)?(?:(?P<q2>this|next|current)\s+)?month{_R}|{_L}month[-\s]?end{_R}"
        ),
        lambda match, today, text: _month_end_rule(_Merged(match, q=match["q"] or match["q2"]), today, text),
    ),
    # 年底, 明年年底, 2026年底, end of the year.
    (
        re.compile(rf"(?:(?P<y>[0-9]{{4}})|(?P<q>今|明|本))?年(?:底|末)|{_L}end\s+of\s+(?:the\s+|this\s+)?year{_R}"),
        lambda match, today, text: _month_end_rule(_Merged(match, unit="year"), today, text),
    ),
    # 半个月内.
    (re.compile(r"半个?月"), _half_month),
    # 10天内, 十天内, 两周内, 一周之内, 三个工作日内, 3个月内, 十五日内.
    (
        re.compile(
            rf"(?P<n>{_NUM_CN})\s*(?P<ge>个)?\s*(?P<unit>工作日|天|日|周|星期|礼拜|月)"
            r"(?P<suf>之内|以内|内|之后|以后|后|之前|以前|前)?"
        ),
        _duration_cn,
    ),
    # in 10 days, within two weeks, 10 business days, within a month, a 10-day deadline, 5 days ago.
    (
        re.compile(
            rf"(?P<pre>{_L}(?:in|within|after)\s+(?:the\s+next\s+)?)?{_L}(?P<n>{_EN_NUM})[\s-]*"
            rf"(?:calendar\s+)?(?P<biz>(?:business|working)[\s-]+)?(?P<unit>days?|weeks?|fortnights?|months?){_R}"
            r"(?P<ago>\s+ago)?"
        ),
        _duration_en,
    ),
    # 周五, 周五前, 本周五, 这周五, 下周五, 下星期五, 下个礼拜五, 下下周一, 上周五.
    (
        re.compile(r"(?:(?P<q>下下个?|下个?|本|这个?|今|上个?)\s*)?(?:周|星期|礼拜)(?P<d>[一二三四五六日天1-7])"),
        _weekday_cn,
    ),
    # Friday, by Friday, this Friday, coming Friday, next Friday, Friday next week.
    (
        re.compile(
            rf"(?:{_L}(?P<q>next|this\s+coming|this|coming)\s+)?{_L}"
            rf"(?P<wd>monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tues?|wed|thu(?:rs?)?|fri|sat|sun)"
            rf"{_R}\.?(?P<nw>\s+(?:of\s+)?next\s+week{_R})?"
        ),
        _weekday_en,
    ),
    # 大后天, 后天, 明天, 今天.
    (re.compile("大后天"), _offset_rule(3)),
    (re.compile("后天"), _offset_rule(2)),
    (re.compile("明天|明日|明儿"), _offset_rule(1)),
    (re.compile("今天|今日|今晚|当天"), _offset_rule(0)),
    # the day after tomorrow, tomorrow, today, tonight, end of (the) day, EOD, COB.
    (re.compile(rf"{_L}(?:the\s+)?day\s+after\s+tomorrow{_R}"), _offset_rule(2)),
    (re.compile(rf"{_L}tomorrow{_R}"), _offset_rule(1)),
    (
        re.compile(rf"{_L}(?:today|tonight|end\s+of\s+(?:the\s+)?day|eod|cob|close\s+of\s+business){_R}"),
        _offset_rule(0),
    ),
    # 3号, 30日, 3号前, 下个月5号, 本月3号.
    (
        re.compile(
            rf"(?:(?P<q>下下个?月|下个?月|本月|这个?月|当月)|(?<![0-9〇零一二两三四五六七八九十百月]))(?P<d>{_DAY_CN})\s*(?:号|日)"
            r"(?!\s*(?:之内|以内|内))"
        ),
        _day_of_month_cn,
    ),
]


class _Groups(Protocol):
    """What a rule reads of its match: the named groups."""

    def groupdict(self) -> dict[str, str | Any]: ...


class _Merged:
    """A match whose named groups are overridden (for rules with alternative spellings of one group)."""

    def __init__(self, match: re.Match[str], **overrides: str | None) -> None:
        self._groups = {**match.groupdict(), **overrides}

    def groupdict(self) -> dict[str, str | Any]:
        """The groups, with the overrides."""
        return self._groups


# ---------------------------------------------------------------------------------------------------------
# "No deadline" / "don't know"

_NONE_WHOLE = frozenset(
    ["no", "none", "nope", "nil", "nothing", "na", "n/a", "n.a", "unknown", "unsure", "idk", "dunno"]
    + ["no idea", "not sure", "don't know", "dont know", "i don't know"]
    + ["没有", "无", "没", "暂无", "没有的", "不知道", "不清楚", "不确定", "不详", "未知"]
)
_NONE_PHRASE = re.compile(
    rf"{_L}no\s+(?:fixed\s+|specific\s+|clear\s+|set\s+|actual\s+)?(?:deadline|time\s+limit|due\s+date|date|limit){_R}"
    rf"|{_L}(?:not\s+sure|unsure|not\s+certain|no\s+idea|unknown|not\s+specified|not\s+stated|not\s+given){_R}"
    rf"|{_L}(?:don[’']?t|do\s+not|doesn[’']?t|didn[’']?t|did\s+not)\s+(?:know|say|specify|mention|give){_R}"
    r"|没有?(?:给|提|说|规定|设定?|写|要求)?(?:明确的?|具体的?)?(?:期限|截止|时限|最后期限|deadline)"
    r"|无(?:明确|具体)?(?:期限|时限)|不清楚|不知道|不确定|不太清楚|不了解|没说|没有说|未说明|未规定|未要求|未提|没要求|没提"
)


# ---------------------------------------------------------------------------------------------------------
# Driver

_MASK = "#"
_CUE_BEFORE = re.compile(
    rf"(?:{_L}(?:by|before|until|till|within|due|deadline|latest|no\s+later\s+than){_R}\W*(?:(?:on|is|the|of)\W+)?"
    r"|(?:截止|截至|最晚|最迟|期限|限期|须在|需在|要在|要求在|请在|务必在|于)\W*(?:是|为|到|在|于)?\W*)$"
)
_CUE_INSIDE = re.compile(rf"^(?:in|within|by){_R}|(?:前|内)$")
_CUE_AFTER = re.compile(r"^\s*(?:前|之前|以前|内|之内|以内|为止|截止|到期|或之前)")


@dataclass(frozen=True)
class _Hit:
    start: int
    end: int
    date: datetime.date
    cue: bool


def _normalise(text: str) -> tuple[str, list[int]]:
    """NFKC (full-width digits and letters) and lower case, with each output character's input index."""
    chars: list[str] = []
    index: list[int] = []
    for position, char in enumerate(text):
        normal = unicodedata.normalize("NFKC", char).lower()
        chars.append(normal)
        index.extend([position] * len(normal))
    return "".join(chars), index


def _masked(work: str, spans: list[tuple[int, int]]) -> str:
    """The text with each (start, end) span, in order and not overlapping, replaced by mask characters."""
    if not spans:
        return work
    pieces, last = [], 0
    for start, end in spans:
        pieces += [work[last:start], _MASK * (end - start)]
        last = end
    pieces.append(work[last:])
    return "".join(pieces)


_NON_WORD_RUN = re.compile(r"[\W_]*+")


def _strip_non_word(text: str) -> str:
    """The text without leading and trailing punctuation, spaces and underscores (in linear time)."""
    start = _NON_WORD_RUN.match(text).end()  # type: ignore[union-attr]  # matches the empty string too
    end = len(text) - _NON_WORD_RUN.match(text[::-1]).end()  # type: ignore[union-attr]
    return text[start:end] if start < end else ""


def _has_cue(norm: str, start: int, end: int) -> bool:
    """Whether the words around a date mark it as the deadline (by, before, within, 截止, 前, 内 …)."""
    return bool(
        _CUE_BEFORE.search(norm[max(0, start - 20) : start])
        or _CUE_INSIDE.search(norm[start:end])
        or _CUE_AFTER.match(norm[end : end + 5])
    )


def parse_deadline(text: str, today: datetime.date) -> DeadlineParse:
    """Reads a deadline from Chinese or English text, relative expressions counted from ``today``."""
    text = text or ""
    norm, index = _normalise(text)
    work = norm
    hits: list[_Hit] = []
    too_far: tuple[int, int] | None = None
    for pattern, handler in _RULES:
        spans: list[tuple[int, int]] = []
        for match in pattern.finditer(work):
            if not match.group().strip():
                continue
            try:
                result = handler(match, today, work)
            except (ValueError, OverflowError):  # e.g. 99999999天内: beyond the calendar
                result = _BLOCK
            if result is None:
                continue
            start = match.start() + len(match.group()) - len(match.group().lstrip())
            end = match.start() + len(match.group().rstrip())
            spans.append((start, end))
            if isinstance(result, datetime.date):
                hits.append(_Hit(start, end, result, _has_cue(norm, start, end)))
            elif result is _TOO_FAR and (too_far is None or start < too_far[0]):
                too_far = (start, end)
        work = _masked(work, spans)
    if hits:
        best = min(hits, key=lambda hit: (not hit.cue, hit.start))
        return DeadlineParse("date", best.date, text[index[best.start] : index[best.end - 1] + 1])
    if too_far is not None:
        return DeadlineParse("too_far", None, text[index[too_far[0]] : index[too_far[1] - 1] + 1])
    stripped = _strip_non_word(norm)
    if stripped in _NONE_WHOLE:
        return DeadlineParse("none", None, text.strip())
    phrase = _NONE_PHRASE.search(norm)
    if phrase:
        return DeadlineParse("none", None, text[index[phrase.start()] : index[phrase.end() - 1] + 1])
    return DeadlineParse("unparsed")


_MONTH_NUMBER_CN = re.compile(rf"(?<![0-9〇零一二两三四五六七八九十百])(?P<m>{_DAY_CN})\s*月")
_MONTH_NAME_EN = re.compile(_MONTH)


def month_named(text: str) -> int | None:
    """The month (1-12) a text names: by number (``3月``, ``三月``, ``十二月``; not ``3个月``) or else by its
    English name or abbreviation (the first one named); None if none, or if the number is not a month."""
    norm, _ = _normalise(text or "")
    if match := _MONTH_NUMBER_CN.search(norm):
        month = _to_int(match["m"])
        return month if 1 <= month <= 12 else None
    if match := _MONTH_NAME_EN.search(norm):
        return MONTHS[match["mon"]]
    return None
