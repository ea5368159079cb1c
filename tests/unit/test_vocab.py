"""Names users type for markets (actions/vocab.py): countries, the adjectives and the cities of a story."""

from __future__ import annotations

import pytest

from actions.vocab import (
    EU_MEMBERS,
    MARKETS,
    covers_market,
    market_code,
    market_codes,
    market_name,
    market_suggestions,
)


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("Japanese customs sent our importer a notice", ["JP"]),
        ("a Korean distributor filed our brand", ["KR"]),
        ("we got papers from a German court", ["DE"]),
        ("an American company sent us a cease and desist", ["US"]),
        ("货在鹿特丹被海关扣了", ["NL"]),
        ("我们在汉堡港的货被扣了", ["DE"]),
        ("a Schedule A case in Chicago froze our store", ["US"]),
        ("伊利诺伊州法院的案子", ["US"]),
        ("Japan customs, then Korea Customs Service", ["JP", "KR"]),
        ("no market here", []),
    ],
)
def test_a_story_names_its_market_by_adjective_or_city(text, codes):
    assert market_codes(text) == codes


def test_a_country_answer_and_the_displayed_names_are_unchanged():
    assert market_code("Germany") == "DE" and market_code("德国") == "DE" and market_code("german") == "DE"
    assert market_name("DE", "en") == "Germany" and market_name("JP", "zh") == "日本"
    assert market_name("US", "en") == "United States"


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [
        ("Koreaa", ["KR"]),  # not also Japan because "Osaka" shares letters with it
        ("germny", ["DE"]),
        ("japn", ["JP"]),
        ("xyzzy", []),
    ],
)
def test_a_mistyped_market_is_offered_only_the_markets_it_nearly_spells(typed, suggested):
    assert market_suggestions(typed) == suggested


def test_eu_members_are_the_27_member_states_among_the_market_codes():
    assert len(EU_MEMBERS) == 27 and all(len(code) == 2 and code.isupper() for code in EU_MEMBERS)
    named_members = {code for code in MARKETS if code in EU_MEMBERS}
    assert named_members == {"DE", "FR", "IT", "ES", "NL", "PL", "BE"}
    assert "EU" not in EU_MEMBERS and "GB" not in EU_MEMBERS


def test_a_list_of_markets_covers_the_markets_it_names_and_eu_members_through_eu():
    assert covers_market(["JP", "KR"], "JP") and not covers_market(["JP", "KR"], "DE")
    assert covers_market(["EU"], "DE") and covers_market({"EU", "US"}, "NL")
    assert not covers_market(["EU"], "GB") and not covers_market(["DE"], "FR")
    assert covers_market(["EU"], "EU") and not covers_market(["DE"], "EU")
