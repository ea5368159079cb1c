import re
from pathlib import Path

import pytest
import yaml

from actions import messages

ROOT = Path(__file__).resolve().parents[3]
SOURCES = sorted([*ROOT.glob("actions/**/*.py"), *ROOT.glob("bot/**/*.py"), *ROOT.glob("eval/**/*.py")])
SOURCES += sorted(ROOT.glob("tests/**/*.py"))  # the tests name keys too: a wrong one would fail only when it runs
LOOKUP = r"(?:\bt|\bmessage_text|\bmessage|\bbuttons_of|\bevery_language|\bhas|messages\.t)"
LITERAL_KEY = re.compile(LOOKUP + r"""\(\s*f?["']([a-z_][a-z_.{}]*)["']""")


def test_every_message_has_both_languages_and_the_same_placeholders():
    catalog = messages.catalog()
    assert len(catalog) > 100
    assert catalog["cases.ask.case_country"].en == "Step 3: which country or market is this about?"
    assert messages.t("cases.not_found", "zh", case_no="IP-1") == "在这个对话里没有找到案件 IP-1。"


def test_every_key_the_code_names_is_in_the_catalog():
    """A literal key (or the fixed start of an f-string key) that the catalog lacks would fail a user's turn."""
    catalog = messages.catalog()
    named = {
        (path.relative_to(ROOT), m.group(1))
        for path in SOURCES
        if path.name != "test_catalog.py"
        and ("actions.messages" in (text := path.read_text()) or "tests" not in path.parts)
        for m in LITERAL_KEY.finditer(text)
    }
    assert len(named) > 80
    missing = []
    for path, key in sorted(named):
        if "{" in key:
            start = key.split("{", 1)[0]
            ok = any(k.startswith(start) for k in catalog)
        else:
            ok = key in catalog
        if not ok:
            missing.append(f"{path}: {key}")
    assert not missing, missing


def test_buttons_and_groups_keep_the_files_order():
    assert [b["payload"] for b in messages.buttons_of("cases.ask.case_consent", "en")] == ["/affirm", "/deny"]
    assert messages.buttons_of("cases.ask.case_consent", "zh")[0]["title"] == "同意"
    assert list(messages.group("selfcheck.plan")) == ["export", "trade_fair", "ecommerce", "licensing"]


def test_an_unknown_key_names_itself():
    with pytest.raises(KeyError, match="cases.no_such_message"):
        messages.t("cases.no_such_message", "en")
    assert not messages.has("cases.no_such_message") and messages.has("cases.offer")


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        ({"zh": "你好"}, r"broken.yml: broken.hello: en: missing or empty"),
        ({"zh": "共{n}条", "en": "{count} items"}, r"broken.hello: zh and en name different placeholders"),
        ({"zh": "好", "en": "OK", "buttons": [{"zh": "是"}]}, r"broken.hello: buttons\[0\]: needs zh, en and payload"),
        ({"zh": "好", "en": "OK", "text": "x"}, r"broken.hello: unknown fields \['text'\]"),
    ],
)
def test_a_broken_catalog_file_names_file_and_key(tmp_path, entry, error):
    (tmp_path / "broken.yml").write_text(yaml.safe_dump({"hello": entry}, allow_unicode=True))
    with pytest.raises(ValueError, match=error):
        messages.catalog(tmp_path)


def test_one_lookup_only():
    """No module keeps its own copy of the catalog's lookup (it once existed three times)."""
    copies = [p.relative_to(ROOT) for p in SOURCES if re.search(r"^def t\(", p.read_text(), re.M)]
    assert copies == [Path("actions/messages/__init__.py")]


def test_every_action_the_domain_lists_is_named_in_the_code():
    """A newcomer greps an action's name (e.g. action_ask_case_contact) and finds the class that runs it."""
    domain = yaml.safe_load((ROOT / "bot/domain.yml").read_text(encoding="utf-8"))
    code = "\n".join(p.read_text() for p in ROOT.glob("actions/dialogue/*.py"))
    custom = [a for a in domain["actions"] if not a.startswith("utter_")]
    assert "action_ask_case_contact" in custom
    missing = [a for a in custom if f'"{a}"' not in code]
    assert not missing, missing
