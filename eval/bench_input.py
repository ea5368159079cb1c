"""Time per call of the functions that read raw user text, on adversarial inputs of growing length.

    python -m eval.bench_input [--lengths 250,500,1000,2000,4000] [--repeat 5]

For each function and length it prints the median, p95 and maximum time of one call over every
adversarial input (and which input was slowest), and the growth of the maximum since the previous
length: about 2 for each doubling when the time grows linearly, about 4 when it grows quadratically.
The inputs are the probes of issue 12 (a repeated far deadline, long runs with no e-mail's "@",
runs of spaces or digits that a pattern could rescan from every position) and plain text.
A benchmark, not a test: it prints numbers and asserts nothing about speed. No model is loaded.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import time
from collections.abc import Callable

from actions.dates import parse_deadline
from actions.dialogue.cases import parse_contact
from actions.language import detect_language
from actions.safe_text import bound_text

TODAY = datetime.date(2026, 11, 24)

# Each input is a unit repeated to the wanted length, followed by a character that makes a match fail.
ADVERSARIAL: dict[str, tuple[str, str]] = {
    "far deadline 2000000个工作日内": ("2000000个工作日内", ""),
    "letters, no @": ("a", "!"),
    "dotted letters, no @": ("a.", "!"),
    "CJK, no @": ("周", "@"),
    "address with no dot": ("a@", "b"),
    "digits": ("1", "个"),
    "Chinese numerals": ("十", "!"),
    "spaces before a word": (" ", "a"),
    "spaces and punctuation": (" !", "x"),
    "digits and brackets": ("1(", "x"),
    "month numbers": ("12月 ", "x"),
    "weekday prefixes": ("下 ", "x"),
    "English numbers": ("in 9 ", "x"),
    "control characters": ("a\x00\u202e\ud800", ""),
    "plain question": ("中日PPH需要提交哪些材料？What does RCEP say? ", ""),
}

FUNCTIONS: dict[str, Callable[[str], object]] = {
    "detect_language": detect_language,
    "parse_deadline": lambda text: parse_deadline(text, TODAY),
    "parse_contact": parse_contact,
    "bound_text (2,000)": lambda text: bound_text(text, 2000),
}


def adversarial(length: int) -> dict[str, str]:
    """Every adversarial input at about ``length`` characters."""
    out = {}
    for name, (unit, tail) in ADVERSARIAL.items():
        body = unit * (length // len(unit) + 1)
        out[name] = body[: length - len(tail)] + tail
    return out


def time_call(function: Callable[[str], object], text: str, repeat: int) -> float:
    """The fastest of ``repeat`` calls, in seconds (the least disturbed by other work on the machine)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function(text)
        best = min(best, time.perf_counter() - start)
    return best


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation."""
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", default="250,500,1000,2000,4000", help="comma-separated lengths in characters")
    parser.add_argument("--repeat", type=int, default=5, help="calls per input; the fastest counts")
    args = parser.parse_args()
    lengths = [int(n) for n in args.lengths.split(",")]
    print(f"{'function':<20} {'chars':>6} {'median ms':>10} {'p95 ms':>9} {'max ms':>9} {'growth':>7}  slowest input")
    for name, function in FUNCTIONS.items():
        previous = None
        for length in lengths:
            timings = {key: time_call(function, text, args.repeat) for key, text in adversarial(length).items()}
            values = list(timings.values())
            worst = max(timings, key=timings.__getitem__)
            growth = f"{timings[worst] / previous:6.1f}x" if previous else " " * 7
            print(
                f"{name:<20} {length:>6} {statistics.median(values) * 1e3:>10.3f} {percentile(values, 95) * 1e3:>9.3f}"
                f" {timings[worst] * 1e3:>9.3f} {growth}  {worst}"
            )
            previous = timings[worst]


if __name__ == "__main__":
    main()
