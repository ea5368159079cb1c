"""What a probed conversation says: a knowledge question, the case form from "I need an expert" to the
consent (the steps of tests/e2e/test_cases.py), and a status question, in Chinese or English, for a
country with experts (Japan, Germany) or without (Thailand: the staff on duty must be told)."""

from __future__ import annotations

import random
from dataclasses import dataclass

QUESTIONS = {
    "zh": ("中日PPH需要提交哪些材料？", "RCEP对商标恶意抢注有什么规定？", "PCT-PPH是什么", "RCEP有哪些成员国"),
    "en": (
        "What does RCEP say about bad-faith trademark applications?",
        "How do I request the China-Korea PPH?",
        "what is the IP5 PPH?",
        "Which countries are in RCEP?",
    ),
}
COUNTRIES = {"zh": ("日本", "德国", "泰国"), "en": ("Japan", "Germany", "Thailand")}
IP_TYPES = ("patent", "trademark", "design")
INCIDENTS = ("warning_letter", "customs_detention", "platform_takedown")
DEADLINES = {"zh": ("10天内", "没有", "下周五"), "en": ("within 10 days", "none", "next Friday")}
STEPS = {
    "zh": ("第1步", "第2步", "第3步", "第4步", "第5步", "第6步", "第7步", "最后一步", "案件已创建"),
    "en": ("Step 1", "Step 2", "Step 3", "Step 4", "Step 5", "Step 6", "Step 7", "Last step", "Your case is open"),
}
UNAVAILABLE = ("暂时不可用", "temporarily unavailable")  # utter_service_unavailable, either language
DB_DOWN = ("数据库不可用", "the database is unavailable")  # cases.db_down: the case was not saved


@dataclass(frozen=True)
class Turn:
    """One user message and the fragment its reply must hold ("" for a free answer)."""

    message: str
    expect: str
    step: str  # question, expert, company, contact, country, ip_type, incident, deadline, description, consent, status


def form_turns(lang: str, n: int, country: str, rng: random.Random) -> list[Turn]:
    """The case form from asking for an expert to the consent, answered for conversation number `n`."""
    steps = STEPS[lang]
    if lang == "zh":
        answers = [
            ("我想找专家咨询", "expert"),
            (f"青岛示例机械{n}号有限公司", "company"),
            (f"probe{n}@example.com", "contact"),
            (country, "country"),
            (f'/inform{{"ip_type":"{rng.choice(IP_TYPES)}"}}', "ip_type"),
            (f'/inform{{"incident_type":"{rng.choice(INCIDENTS)}"}}', "incident"),
            (rng.choice(DEADLINES[lang]), "deadline"),
            ("一家外国公司说我们出口的产品侵犯了他们的知识产权，要求我们停止销售。", "description"),
            ("/affirm", "consent"),
        ]
    else:
        answers = [
            ("I need an expert", "expert"),
            (f"Probe Robotics {n} Co., Ltd.", "company"),
            (f"probe{n}@example.com", "contact"),
            (country, "country"),
            (f'/inform{{"ip_type":"{rng.choice(IP_TYPES)}"}}', "ip_type"),
            (f'/inform{{"incident_type":"{rng.choice(INCIDENTS)}"}}', "incident"),
            (rng.choice(DEADLINES[lang]), "deadline"),
            (
                "A foreign company says our exported products infringe its IP and wants us to stop selling.",
                "description",
            ),
            ("yes, share it", "consent"),
        ]
    return [Turn(message, expect, step) for (message, step), expect in zip(answers, steps, strict=True)]


def status_turn(lang: str, case_no: str) -> Turn:
    """Asks for the status of the case just opened; the reply names its number."""
    message = "我的案件进展如何" if lang == "zh" else f"What is the status of {case_no}?"
    return Turn(message, f"{case_no}:", "status")


def loop_turns(lang: str, n: int, loop: int, rng: random.Random) -> list[Turn]:
    """One round of a conversation before its status question: a knowledge question, then the case form
    (the country rotates through Japan, Germany and Thailand by conversation and round)."""
    country = COUNTRIES[lang][(n + loop) % len(COUNTRIES[lang])]
    return [Turn(rng.choice(QUESTIONS[lang]), "", "question"), *form_turns(lang, n, country, rng)]


def says_unavailable(text: str) -> bool:
    """True for the bot's "temporarily unavailable" reply (either language)."""
    return any(fragment in text for fragment in UNAVAILABLE)


def says_db_down(text: str) -> bool:
    """True for the reply that the case could not be saved and nothing was stored (cases.db_down)."""
    return any(fragment in text for fragment in DB_DOWN)
