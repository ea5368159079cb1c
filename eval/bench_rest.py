"""Reply latency over Rasa's REST channel: p50/p95 over a fixed mix of Chinese and English turns.

    python -m eval.bench_rest [--url http://127.0.0.1:5005] [--n 50]

Without --url it starts its own stack on free ports (and reports the start-up time).
A benchmark, not a test: it prints numbers and asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

from bot.stack import Stack, configured, free_port, post_json

MESSAGES = [
    "中日PPH需要提交哪些材料？",
    "What does RCEP say about bad-faith trademark applications?",
    "你好",
    "收到美国公司的警告函怎么办",
    "How do I request the China-Korea PPH?",
    "RCEP有哪些成员国",
    "our goods were detained by customs in Hamburg, what now?",
    "hello",
    "PCT-PPH是什么",
    "what is the IP5 PPH?",
]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation."""
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def run(url: str, n: int, token: str) -> list[float]:
    """Sends n messages (a new sender for each cycle of the mix) and returns seconds per reply."""
    timings = []
    sender = uuid.uuid4().hex[:8]
    for i in range(n):
        message = MESSAGES[i % len(MESSAGES)]
        if i % len(MESSAGES) == 0:
            sender = uuid.uuid4().hex[:8]
        started = time.perf_counter()
        reply = post_json(f"{url}/webhooks/rest/webhook", {"sender": sender, "message": message}, token=token)
        timings.append(time.perf_counter() - started)
        if not reply:
            print(f"warning: no reply to {message!r}")
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running Rasa server; default: start a stack on free ports")
    parser.add_argument("--n", type=int, default=50)
    args = parser.parse_args()
    stack = None
    url = args.url
    token = configured("RASA_REST_TOKEN")  # a running server's, from the environment or .env
    if url is None:
        stack = Stack(free_port(), free_port(), free_port())
        started = time.perf_counter()
        stack.start(("actions", "rasa"))
        print(f"stack start-up (all servers healthy): {time.perf_counter() - started:.1f} s")
        url, token = stack.rasa_url, stack.rest_token
    try:
        started = time.perf_counter()
        run(url, 1, token)  # the first answer waits for the index and model to load
        print(f"first answer after start-up: {time.perf_counter() - started:.2f} s")
        timings = run(url, args.n, token)
        ms = sorted(t * 1000 for t in timings)
        print(
            f"REST reply latency over {len(ms)} messages: p50 {percentile(ms, 50):.0f} ms, "
            f"p95 {percentile(ms, 95):.0f} ms, max {ms[-1]:.0f} ms"
        )
    finally:
        if stack:
            stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
