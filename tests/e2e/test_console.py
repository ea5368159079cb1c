"""End-to-end: the staff and expert console in headless Chromium against `python -m bot.console`.

The console is started alone by the launcher's own code (bot/stack.py) on a free port of 127.0.0.1, on a
fresh SQLite database holding the labelled sample cases and accounts of tests/factories.seed_console, and on a
copy of knowledge/ with one sample alert subscription. Staff sign in, filter the queue, open a case, assign, note
and close it, write a sample alert (a mistake first, shown next to its field), save and publish it; an expert
accepts the case offered to them, cannot open another expert's case or the alerts, and a form posted without its
CSRF token is refused. Screenshots go to
.run/screenshots/console-*.png; with UPDATE_SCREENSHOTS=1 to eval/reports/, where the committed ones are.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import Select
from sqlalchemy import select

from actions.alerts.service import load_alert, subscribe
from actions.cases.experts import load_experts
from actions.cases.service import find_case
from actions.store import CaseDocument, OutboxMessage, get_engine, migrate, session_scope
from bot.stack import ROOT, Stack
from tests.e2e.test_widget import Browser, browser, wait_for  # noqa: F401 - `browser` is a fixture
from tests.factories import CONSOLE_PASSWORD, seed_console

pytestmark = pytest.mark.e2e

REPORTS = ROOT / "eval" / "reports" if os.environ.get("UPDATE_SCREENSHOTS") == "1" else ROOT / ".run" / "screenshots"


@dataclass
class RunningConsole:
    url: str
    database_url: str
    cases: dict[str, str]
    knowledge_dir: Path


@pytest.fixture
def console(tmp_path: Path) -> Iterator[RunningConsole]:
    database_url = f"sqlite:///{tmp_path / 'cases.db'}"
    migrate(database_url)
    experts, _ = load_experts(ROOT / "knowledge" / "experts.yml")
    cases = seed_console(database_url, experts)
    attachments = tmp_path / "attachments"
    (attachments / cases["us"]).mkdir(parents=True)
    (attachments / cases["us"] / "0a1b-customs-notice.pdf").write_bytes(b"%PDF-1.4\n% a sample customs notice\n")
    with session_scope(database_url) as s:
        case = find_case(s, cases["us"])
        s.add(
            CaseDocument(
                case_id=case.id,
                filename="customs-notice.pdf",
                content_type="application/pdf",
                size=36,
                sha256="0" * 64,
                stored_as=f"{cases['us']}/0a1b-customs-notice.pdf",
                source="telegram",
            )
        )
        subscribe(s, "tg-7001", ["KR"], "all", "en")  # a sample Telegram chat subscribed to Korea
    get_engine(database_url).dispose()
    knowledge = tmp_path / "knowledge"  # the alert form writes here, never into the checkout
    shutil.copytree(ROOT / "knowledge" / "alerts", knowledge / "alerts")
    for name in ("experts.yml", "staff.yml"):
        shutil.copy(ROOT / "knowledge" / name, knowledge / name)
    env = {
        "DATABASE_URL": database_url,
        "ATTACHMENTS_DIR": str(attachments),
        "TELEGRAM_TOKEN": "",
        "KNOWLEDGE_DIR": str(knowledge),
    }
    stack = Stack(log_dir=tmp_path / "logs", extra_env=env)
    stack.start(("console",), timeout=120)
    try:
        yield RunningConsole(stack.console_url, database_url, cases, knowledge)
    finally:
        stack.stop()


def screenshot(driver: webdriver.Chrome, name: str) -> None:
    REPORTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(REPORTS / name))


def sign_in(driver: webdriver.Chrome, url: str, username: str) -> None:
    driver.get(f"{url}/login")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(CONSOLE_PASSWORD)
    driver.find_element(By.ID, "sign-in").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "queue") or d.find_elements(By.ID, "login-failed"))
    assert driver.find_elements(By.ID, "queue"), "the sign-in was refused"


def sign_out(driver: webdriver.Chrome) -> None:
    driver.find_element(By.CSS_SELECTOR, "header form button").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "sign-in"))


def listed(driver: webdriver.Chrome) -> list[str]:
    return [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#queue a.case-link")]


def submit(driver: webdriver.Chrome, element_id: str) -> None:
    """Presses a form's button and waits for the page it leads to: the page before it has a flash message too,
    and reading it before the new page arrived made these tests fail under load (a clean clone's `make test`)."""
    button = wait_for(driver, lambda d: d.find_elements(By.ID, element_id))[0]  # on the page it belongs to
    page = driver.find_element(By.TAG_NAME, "html")
    button.click()
    wait_for(driver, staleness_of(page))


def flash(driver: webdriver.Chrome) -> str:
    return str(wait_for(driver, lambda d: d.find_elements(By.ID, "flash"))[0].text)


def test_staff_and_an_expert_work_a_case_in_the_console(console: RunningConsole, browser: Browser):  # noqa: F811
    driver = browser(width=1360, height=1100)
    cases = console.cases
    sign_in(driver, console.url, "staff1")
    assert {cases["jp"], cases["us"], cases["de"], cases["old"]} <= set(listed(driver))
    screenshot(driver, "console-queue.png")

    # Filter: the overdue cases in the United States.
    Select(driver.find_element(By.ID, "filter-market")).select_by_value("US")
    driver.find_element(By.ID, "filter-overdue").click()
    driver.find_element(By.ID, "apply-filters").click()
    wait_for(driver, lambda d: "overdue=true" in d.current_url)
    assert listed(driver) == [cases["us"]]

    # Open it, assign an expert, add a note, close it with an outcome.
    driver.find_element(By.LINK_TEXT, cases["us"]).click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "case-no"))
    assert "Sample Textiles" in driver.find_element(By.ID, "enterprise").text
    assert "customs-notice.pdf" in driver.find_element(By.ID, "documents").text
    Select(driver.find_element(By.ID, "assign-expert")).select_by_value("exp-002")
    submit(driver, "assign")
    assert "assigned" in flash(driver)
    assert "Sample Expert B" in driver.find_element(By.ID, "case-expert").text
    driver.find_element(By.ID, "note-text").send_keys("示例备注：已电话联系企业。Sample note: called the enterprise.")
    submit(driver, "add-note")
    assert "note was added" in flash(driver)
    assert "Sample note: called the enterprise" in driver.find_element(By.ID, "timeline").text
    driver.set_window_size(1360, 1500)
    screenshot(driver, "console-case.png")
    Select(driver.find_element(By.ID, "close-outcome")).select_by_value("settled")
    driver.find_element(By.ID, "close-note").send_keys("Sample: the goods were released.")
    submit(driver, "close")
    assert "The case is closed" in flash(driver)
    assert "closed" in driver.find_element(By.ID, "case-status").text

    # Figures: every chart is drawn.
    driver.set_window_size(1360, 1900)
    driver.get(f"{console.url}/figures")
    charts = driver.find_elements(By.CSS_SELECTOR, ".charts img")
    assert len(charts) == 5
    wait_for(driver, lambda d: all(d.execute_script("return arguments[0].naturalWidth", img) > 0 for img in charts))
    screenshot(driver, "console-figures.png")
    driver.set_window_size(1360, 1100)

    # Alerts: a sample alert for Korea, written with a mistake (no English title), fixed, saved and published.
    driver.find_element(By.LINK_TEXT, "预警 Alerts").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "alerts"))
    assert "sample-kr-pph" in driver.find_element(By.ID, "alerts").text
    driver.find_element(By.ID, "new-alert").click()
    fields = {
        "alert-id-input": "sample-kr-browser-test",
        "alert-title-zh": "【示例】浏览器测试写的韩国预警",
        "alert-body-zh": "示例正文，仅用于控制台的浏览器测试。",
        "alert-body-en": "Sample text, for the console's browser test only.",
        "alert-markets": "KR",
        "alert-source": "https://www.kipo.go.kr/en/",
    }
    for element_id, text in fields.items():
        wait_for(driver, lambda d, i=element_id: d.find_elements(By.ID, i))[0].send_keys(text)
    driver.find_element(By.ID, "alert-sample").click()
    driver.find_element(By.CSS_SELECTOR, "input[name=ip_types][value=trademark]").click()
    until = (date.today() + timedelta(days=180)).isoformat()
    driver.execute_script("document.getElementById('alert-valid-until').value = arguments[0]", until)
    driver.find_element(By.ID, "save-alert").click()
    assert "en: missing" in wait_for(driver, lambda d: d.find_elements(By.ID, "error-title"))[0].text
    assert not (console.knowledge_dir / "alerts" / "sample-kr-browser-test.yml").exists()
    driver.find_element(By.ID, "alert-title-en").send_keys("[Sample] A Korea alert written in the browser test")
    submit(driver, "save-alert")
    assert "The alert file was saved" in flash(driver)
    assert "queue it for 1 subscribers" in driver.find_element(By.ID, "preview-count").text
    submit(driver, "publish")
    assert "Queued for 1 subscribers" in flash(driver)
    saved, problems = load_alert(console.knowledge_dir / "alerts" / "sample-kr-browser-test.yml")
    assert problems == [] and saved is not None and saved.sample
    sign_out(driver)

    # The expert for Japan accepts the case offered to them.
    sign_in(driver, console.url, "expert5")
    assert cases["jp"] in listed(driver) and cases["us"] not in listed(driver)
    driver.find_element(By.LINK_TEXT, cases["jp"]).click()
    submit(driver, "accept")
    assert "You accepted the case" in flash(driver)
    assert "accepted" in driver.find_element(By.ID, "case-status").text

    # Another expert's case is refused, and so are the alerts.
    driver.get(f"{console.url}/cases/{cases['us']}")
    assert driver.find_element(By.ID, "error-code").text == "403"
    driver.get(f"{console.url}/alerts")
    assert driver.find_element(By.ID, "error-code").text == "403"

    # A form posted without its CSRF token is refused, and nothing is written.
    driver.get(f"{console.url}/cases/{cases['jp']}")
    driver.find_element(By.ID, "note-text").send_keys("a note that must not be kept")
    driver.execute_script("document.querySelector('#note-form input[name=csrf_token]').remove()")
    driver.find_element(By.ID, "add-note").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "error-code"))
    assert driver.find_element(By.ID, "error-code").text == "403"

    with session_scope(console.database_url) as s:
        us, jp = find_case(s, cases["us"]), find_case(s, cases["jp"])
        assert (us.status, us.outcome, us.expert_id) == ("closed", "settled", "exp-002")
        assert (jp.status, jp.expert_id) == ("accepted", "exp-005")
        assert not any("must not be kept" in e.text for e in jp.events)
        alert_rows = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "alert")).all()
        assert [(r.channel, r.recipient, r.payload["alert_id"]) for r in alert_rows] == [
            ("telegram", "7001", "sample-kr-browser-test")
        ]
