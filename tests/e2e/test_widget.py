"""End-to-end: the web chat page in a real browser against the real stack.

Debian's Chromium (headless) driven by Selenium through Debian's ChromeDriver (`make browser` installs
both and a CJK font; Selenium Manager is never used). The page comes from `python -m bot.channels.web`, the
widget talks to Rasa's socket.io channel on another port. Screenshots go to .run/screenshots/widget-*.png;
with UPDATE_SCREENSHOTS=1 to eval/reports/, where the committed ones are (a test run leaves the tree clean).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from actions import messages
from actions.messages import t
from bot.stack import ROOT, http_get

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REPORTS = ROOT / "eval" / "reports" if os.environ.get("UPDATE_SCREENSHOTS") == "1" else ROOT / ".run" / "screenshots"
ANSWER_TIMEOUT = 90  # seconds; the first answer after start-up is the slowest
# Message bubbles, without the widget's typing indicator: an empty `.rw-message` it shows while it
# waits to take the next message (the answer's citations payload, which it then drops).
MESSAGES = ".rw-message:not(.rw-typing-indication)"
BOT_TEXTS = f"return Array.from(document.querySelectorAll('{MESSAGES} .rw-response')).map(e => e.innerText)"
ALL_TEXTS = f"return Array.from(document.querySelectorAll('{MESSAGES}')).map(e => e.innerText)"

Browser = Callable[..., webdriver.Chrome]


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Opens headless Chromium windows (size and language per call); all are closed after the test."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("Chromium or ChromeDriver is missing: run `make browser`")
    drivers: list[webdriver.Chrome] = []

    def start(width: int = 1280, height: int = 1000, language: str = "zh-CN", phone: bool = False) -> webdriver.Chrome:
        options = Options()
        options.binary_location = str(CHROMIUM)
        for argument in (
            "--headless=new",
            "--no-sandbox",  # the tests run as root
            "--disable-dev-shm-usage",
            "--disable-gpu",
            f"--window-size={width},{height}",
            f"--lang={language}",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ):
            options.add_argument(argument)
        options.add_experimental_option("prefs", {"intl.accept_languages": f"{language},{language.split('-')[0]}"})
        if phone:  # a desktop window cannot be narrower than 500 px; emulate the phone's viewport instead
            metrics = {"width": width, "height": height, "pixelRatio": 2, "mobile": True, "touch": True}
            options.add_experimental_option("mobileEmulation", {"deviceMetrics": metrics})
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
        driver.set_page_load_timeout(60)
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.quit()


@pytest.fixture
def page(e2e) -> str:
    """The page's URL."""
    return f"{e2e.stack.web_url}/"


def texts(driver: webdriver.Chrome, script: str = BOT_TEXTS) -> list[str]:
    """The visible texts of the bot's bubbles (or of all messages), read in one go."""
    return driver.execute_script(script)


def wait_for(
    driver: webdriver.Chrome, condition: Callable[[webdriver.Chrome], object], timeout: float = 30, message: str = ""
):
    """Waits until the condition holds; React re-renders may replace elements meanwhile."""
    wait = WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,))
    return wait.until(condition, message)


def open_chat(driver: webdriver.Chrome, url: str) -> None:
    """Loads the page and opens the widget with its launcher (unless it is open already)."""
    driver.get(url)
    wait_for(driver, ec.presence_of_element_located((By.CSS_SELECTOR, ".rw-widget-container")))
    if not driver.find_elements(By.CSS_SELECTOR, ".rw-conversation-container"):
        wait_for(driver, ec.element_to_be_clickable((By.CSS_SELECTOR, ".rw-launcher"))).click()
    wait_for(driver, ec.visibility_of_element_located((By.CSS_SELECTOR, ".rw-new-message")))


def wait_for_welcome(driver: webdriver.Chrome, disclaimer: str) -> str:
    """The welcome bubble, once it is there."""
    found = wait_for(
        driver,
        lambda d: [t for t in texts(d) if disclaimer in t],
        ANSWER_TIMEOUT,
        "no welcome message over socket.io: does bot/credentials.yml use bot.channels.socketio_channel.SocketIOInput? "
        "(Rasa 3.6's own channel never awaits enter_room, so with session_persistence no bot message arrives)",
    )
    return found[0]


def ask(driver: webdriver.Chrome, question: str, done: Callable[[list[str]], bool]) -> list[str]:
    """Types a question, sends it with Enter and waits until the bot's new bubbles satisfy `done`."""
    before = len(texts(driver))
    box = wait_for(driver, ec.element_to_be_clickable((By.CSS_SELECTOR, ".rw-new-message")))
    box.send_keys(question)
    box.send_keys(Keys.ENTER)
    wait_for(driver, lambda d: question in texts(d, ALL_TEXTS))
    return wait_for(driver, lambda d: done(texts(d)[before:]) and texts(d)[before:], ANSWER_TIMEOUT)


def screenshot(driver: webdriver.Chrome, name: str) -> Path:
    """Saves a screenshot in REPORTS (once the widget's animations are over) and returns its path."""
    wait_for(
        driver, lambda d: d.execute_script("return document.getAnimations().every(a => a.playState !== 'running')")
    )
    REPORTS.mkdir(parents=True, exist_ok=True)
    path = REPORTS / name
    driver.save_screenshot(str(path))
    return path


def network(driver: webdriver.Chrome) -> tuple[list[str], list[dict]]:
    """Every URL the page requested so far, and its WebSocket handshakes (from Chrome's DevTools log)."""
    urls, sockets = [], []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            urls.append(params["request"]["url"])
        elif message["method"] == "Network.webSocketCreated":
            urls.append(params["url"])
        elif message["method"] == "Network.webSocketHandshakeResponseReceived":
            sockets.append(params["response"])
    return urls, sockets


def assert_nothing_remote(urls: list[str], *allowed_bases: str) -> None:
    """Every request went to the page server or to Rasa (data: URIs are inline, not requests)."""
    allowed = {urlsplit(base).netloc for base in allowed_bases}
    remote = [u for u in urls if not u.startswith("data:") and urlsplit(u).netloc not in allowed]
    assert not remote, f"the page loaded something remote: {remote}"


def no_raw_json(bubbles: list[str]) -> bool:
    """No bubble shows the custom payload (citations as JSON) or an 'undefined' text."""
    return not any('"citations"' in b or "doc_id" in b or b.strip() in ("undefined", "{}", "") for b in bubbles)


def test_welcome_and_a_cited_chinese_answer_over_a_websocket_with_nothing_remote(browser, page, e2e):
    driver = browser(language="zh-CN")
    open_chat(driver, page)
    welcome = wait_for_welcome(driver, "不构成法律意见")
    assert welcome.startswith("您好") and "海外知识产权纠纷预警助手" in welcome

    answer = ask(
        driver, "中日PPH需要提交哪些材料？", lambda new: any(messages.t("answers.disclaimer", "zh") in b for b in new)
    )
    joined = "\n".join(answer)
    assert "来源：" in joined and "›" in joined and "[1]" in joined and "knowledge/" not in joined, joined
    assert no_raw_json(texts(driver, ALL_TEXTS))
    # Source links end where the URL ends, not at the next Chinese comma.
    hrefs = driver.execute_script("return Array.from(document.querySelectorAll('.rw-response a')).map(a => a.href)")
    assert hrefs and all("，" not in h and "审核" not in h for h in hrefs), hrefs
    screenshot(driver, "widget-answer-zh.png")

    urls, handshakes = network(driver)
    assert_nothing_remote(urls, e2e.stack.web_url, e2e.stack.rasa_url)
    rasa = urlsplit(e2e.stack.rasa_url).netloc
    assert any(u.startswith(f"ws://{rasa}/socket.io/") and "transport=websocket" in u for u in urls), urls
    assert any(h["status"] == 101 for h in handshakes), handshakes
    # Chinese glyphs come from the locally served Noto Sans SC.
    assert any("/vendor/fonts/noto-sans-sc/files/" in u and u.endswith(".woff2") for u in urls)
    assert driver.execute_script("return document.fonts.check('16px \"Noto Sans SC\"', '知识产权')")
    refused = [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]
    assert not refused, refused


def test_english_browser_gets_the_english_welcome(browser, page):
    driver = browser(language="en-US")
    open_chat(driver, page)
    welcome = wait_for_welcome(driver, "not legal advice")
    assert welcome.startswith("Hello")


def test_declining_the_case_offer_with_a_button_and_the_history_survives_a_reload(browser, page, e2e):
    driver = browser(language="zh-CN")
    open_chat(driver, page)
    wait_for_welcome(driver, "不构成法律意见")

    ask(driver, "我收到了一封警告函", lambda new: bool(new) and new[-1] == t("cases.offer", "zh"))
    buttons = wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".rw-replies .rw-reply"))
    assert [b.text for b in buttons] == ["开案件", "不用"]
    assert no_raw_json(texts(driver, ALL_TEXTS))
    screenshot(driver, "widget-buttons.png")
    before = len(texts(driver))
    next(b for b in buttons if b.text == "不用").click()
    wait_for(driver, lambda d: t("cases.offer_declined", "zh") in texts(d)[before:], ANSWER_TIMEOUT)
    assert "不用" in texts(driver, ALL_TEXTS)  # the choice shows as the user's message
    assert not driver.find_elements(By.CSS_SELECTOR, ".rw-replies .rw-reply")  # the buttons are gone

    history = texts(driver, ALL_TEXTS)
    session = driver.execute_script("return JSON.parse(localStorage.getItem('chat_session')).session_id")
    driver.refresh()
    open_chat(driver, page)
    wait_for(driver, lambda d: texts(d, ALL_TEXTS) == history)
    assert driver.execute_script("return JSON.parse(localStorage.getItem('chat_session')).session_id") == session
    screenshot(driver, "widget-after-reload.png")

    # The same conversation goes on in Rasa after the reload (session persistence, not a new user).
    answer = ask(
        driver, "中韩PPH的条件是什么？", lambda new: any(messages.t("answers.disclaimer", "zh") in b for b in new)
    )
    assert "来源：" in "\n".join(answer)
    assert sum(1 for bubble in texts(driver) if bubble.startswith("您好")) == 1  # no second welcome
    sender = "web-" + session.split(".")[0]  # the server-signed session id names the conversation web-<random>
    status, body = http_get(e2e.stack.api_url(f"/conversations/{sender}/tracker"), timeout=10)
    said = [e.get("text") for e in json.loads(body)["events"] if e["event"] == "user"] if status == 200 else body
    assert "我收到了一封警告函" in said and "/deny" in said and "中韩PPH的条件是什么？" in said, said


def test_usable_at_phone_width(browser, page):
    driver = browser(width=390, height=844, language="zh-CN", phone=True)
    driver.get(page)
    assert driver.execute_script("return window.innerWidth") == 390
    width = driver.execute_script("return document.documentElement.clientWidth")
    assert driver.execute_script("return document.documentElement.scrollWidth") <= width  # no sideways scrolling
    assert "不构成法律意见" in driver.find_element(By.ID, "disclaimer").text
    screenshot(driver, "widget-phone-page.png")
    open_chat(driver, page)
    wait_for_welcome(driver, "不构成法律意见")
    ask(driver, f"RCEP对恶意抢注商标有什么规定？ {uuid.uuid4().hex[:4]}", lambda new: any("来源" in b for b in new))

    box = driver.find_element(By.CSS_SELECTOR, ".rw-new-message")
    rect = driver.execute_script("return arguments[0].getBoundingClientRect().toJSON()", box)
    viewport = driver.execute_script("return {w: window.innerWidth, h: window.innerHeight}")
    assert box.is_displayed() and box.is_enabled()
    assert 0 <= rect["left"] < rect["right"] <= viewport["w"] and 0 <= rect["top"] < rect["bottom"] <= viewport["h"]
    container = driver.find_element(By.CSS_SELECTOR, ".rw-conversation-container")
    assert driver.execute_script("return arguments[0].scrollWidth <= arguments[0].clientWidth + 1", container)
    bubbles = driver.execute_script(
        "return Array.from(document.querySelectorAll('.rw-message')).map(e => e.getBoundingClientRect().right)"
    )
    assert bubbles and max(bubbles) <= viewport["w"]
    screenshot(driver, "widget-phone.png")
    box.send_keys("PPH")  # the send button (for phones without an Enter key) is on screen, inside the width
    send = wait_for(driver, ec.element_to_be_clickable((By.CSS_SELECTOR, ".rw-send")))
    assert driver.execute_script("return arguments[0].getBoundingClientRect().right", send) <= viewport["w"]
