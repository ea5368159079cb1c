"""Replies per second and latency through the Telegram gateway versus straight to Rasa's REST channel.

    python -m eval.bench_gateway [--chats 4] [--per-chat 25]

Starts Rasa and the action server on free ports, a loopback Telegram Bot API server
(tests/telegram_api.py) and the gateway (long polling it, rate limit lifted). The same workload runs
twice: `--chats` conversations in parallel, each sending `--per-chat` messages one after the other
(the next when the reply has arrived) — once over REST, once as Telegram updates through the
gateway. Gateway latency is from pushing the update to the Bot API server receiving the reply's
sendMessage (both clocks on this machine). A benchmark, not a test: it prints numbers and ratios
and asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from collections.abc import Callable

from bot.stack import Stack, free_port, post_json
from eval.bench_rest import percentile
from tests.telegram_api import FakeBotApi

# Questions and greetings whose replies are one Telegram message each (no case offer), so the
# reply to a message is complete when its first sendMessage arrives.
MESSAGES = [
    "中日PPH需要提交哪些材料？",
    "What does RCEP say about bad-faith trademark applications?",
    "你好",
    "How do I request the China-Korea PPH?",
    "RCEP有哪些成员国",
    "hello",
    "PCT-PPH是什么",
    "what is the IP5 PPH?",
]


def run_parallel(chats: int, per_chat: int, one: Callable[[int, int], float]) -> tuple[list[float], float]:
    """Runs `one(chat, i)` for every message of every chat (chats in parallel); latencies and wall time."""
    latencies: list[float] = []
    lock = threading.Lock()

    def conversation(chat: int) -> None:
        for i in range(per_chat):
            seconds = one(chat, i)
            with lock:
                latencies.append(seconds)

    threads = [threading.Thread(target=conversation, args=(c,)) for c in range(chats)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - started


def report(name: str, latencies: list[float], wall: float) -> tuple[float, float, float]:
    """Prints and returns replies/s, p50 and p95 (ms)."""
    ms = sorted(x * 1000 for x in latencies)
    rate = len(ms) / wall
    p50, p95 = percentile(ms, 50), percentile(ms, 95)
    print(
        f"{name:8s} {len(ms):4d} replies in {wall:6.1f} s: {rate:5.1f} replies/s, p50 {p50:4.0f} ms, p95 {p95:4.0f} ms"
    )
    return rate, p50, p95


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=4, help="conversations in parallel")
    parser.add_argument("--per-chat", type=int, default=25, help="messages per conversation")
    args = parser.parse_args()
    api = FakeBotApi(token="123456:BENCH").start()
    stack = Stack(
        free_port(),
        free_port(),
        free_port(),
        extra_env={
            "TELEGRAM_TOKEN": api.token,
            "TELEGRAM_BASE_URL": api.base_url,
            "RATE_LIMIT_MESSAGES": "100000",
            "WATCH_KNOWLEDGE": "false",
        },
    )
    print("starting Rasa, the action server and the gateway on free ports …", flush=True)
    stack.start(("actions", "rasa", "gateway"))
    try:
        api.wait_for(lambda: api.calls_to("setMyCommands"), timeout=60)
        run_id = uuid.uuid4().hex[:6]

        def direct(chat: int, i: int) -> float:
            sender = f"bench-{run_id}-{chat}-{i // len(MESSAGES)}"
            started = time.perf_counter()
            reply = post_json(
                f"{stack.rasa_url}/webhooks/rest/webhook",
                {"sender": sender, "message": MESSAGES[i % len(MESSAGES)]},
                token=stack.rest_token,
            )
            if not reply:
                print(f"warning: no REST reply to {MESSAGES[i % len(MESSAGES)]!r}")
            return time.perf_counter() - started

        def gateway(chat: int, i: int) -> float:
            chat_id = 9_000_000 + chat * 1000 + i // len(MESSAGES)  # a new conversation per cycle, as over REST
            before = len(api.sent_messages(chat_id))
            pushed = time.time()
            api.push_message(chat_id, MESSAGES[i % len(MESSAGES)], language_code="zh")
            api.wait_for(lambda: len(api.sent_messages(chat_id)) > before, timeout=120, interval=0.002)
            reply = [c for c in api.call_log if c.method == "sendMessage" and c.params.get("chat_id") == chat_id]
            return reply[before].at - pushed

        direct(0, 0)  # warm-up: the first answer waits for the index and model to load
        gateway(99, 0)
        print(f"workload: {args.chats} conversations in parallel × {args.per_chat} messages")
        rest = report("REST", *run_parallel(args.chats, args.per_chat, direct))
        sent_before = len(api.sent_messages())
        tg = report("gateway", *run_parallel(args.chats, args.per_chat, gateway))
        extra = len(api.sent_messages()) - sent_before - args.chats * args.per_chat
        if extra:
            print(f"note: {extra} replies had more than one Telegram message (latency counts the first)")
        print(
            f"gateway / REST: throughput {tg[0] / rest[0]:.2f}×, p50 latency {tg[1] / rest[1]:.2f}×, "
            f"p95 latency {tg[2] / rest[2]:.2f}×"
        )
    finally:
        stack.stop()
        api.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
