"""The expert list (knowledge/experts.yml): its schema and validation.

Sample entries must use reserved example contacts (example.com/.org/.net addresses, 555-01xx
numbers), so that no real-looking person is ever invented.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from actions.knowledge import IP_TYPES, Problem, read_yaml_file, relative_name, validate_records
from actions.vocab import EU_MEMBERS, industry_code, known_industries

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.I)
_PHONE = re.compile(r"^\+?[\d\s\-()]{7,}$")
_EXAMPLE_EMAIL = re.compile(r"@example\.(com|org|net)$", re.I)
_EXAMPLE_PHONE = re.compile(r"555[\s-]?01\d\d$")


class Contact(BaseModel):
    """How to reach an expert."""

    model_config = ConfigDict(extra="forbid")
    channel: Literal["email", "telegram", "phone"]
    address: str = Field(min_length=1)

    @model_validator(mode="after")
    def _address_fits_channel(self) -> Contact:
        if self.channel == "email" and not _EMAIL.match(self.address):
            raise ValueError(f"{self.address!r} is not an email address")
        if self.channel == "phone" and not _PHONE.match(self.address):
            raise ValueError(f"{self.address!r} is not a phone number")
        return self


class Expert(BaseModel):
    """One expert of the overseas rights-protection pool."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^exp-\d{3}$")
    sample: bool  # validated before `contact`, which depends on it
    name: str = Field(min_length=1)
    organisation: str = Field(min_length=1)
    countries: list[str] = Field(min_length=1)
    ip_types: list[Literal[IP_TYPES]] = Field(min_length=1)  # type: ignore[valid-type]
    industries: list[str] = Field(min_length=1)
    languages: list[str] = Field(min_length=1)
    contact: Contact
    telegram_chat_id: int | None = None
    response_hours: int = Field(gt=0)
    available: bool

    @field_validator("countries")
    @classmethod
    def _country_codes(cls, value: list[str]) -> list[str]:
        bad = [c for c in value if not re.fullmatch(r"[A-Z]{2}", c)]
        if bad:
            raise ValueError(f"{bad} are not two-letter country codes such as JP or EU")
        return value

    @field_validator("industries")
    @classmethod
    def _industry_codes(cls, value: list[str]) -> list[str]:
        return known_industries(value)

    @field_validator("languages")
    @classmethod
    def _language_codes(cls, value: list[str]) -> list[str]:
        bad = [c for c in value if not re.fullmatch(r"[a-z]{2}", c)]
        if bad:
            raise ValueError(f"{bad} are not two-letter language codes such as zh or en")
        return value

    @field_validator("contact")
    @classmethod
    def _samples_use_reserved_contacts(cls, contact: Contact, info: ValidationInfo) -> Contact:
        return reserved_if_sample(contact, bool(info.data.get("sample")))


def reserved_if_sample(contact: Contact, sample: bool) -> Contact:
    """A sample entry's contact, checked to be a reserved example one (no real-looking person is invented)."""
    if sample:
        if contact.channel == "email" and not _EXAMPLE_EMAIL.search(contact.address):
            raise ValueError("a sample entry must use an example.com/.org/.net address")
        if contact.channel == "phone" and not _EXAMPLE_PHONE.search(contact.address):
            raise ValueError("a sample entry must use a 555-01xx number")
    return contact


def load_experts(path: Path, root: Path | None = None) -> tuple[list[Expert], list[Problem]]:
    """Reads the expert list; entries with errors are left out and reported as file:line problems."""
    rel = relative_name(path, root)
    data, lines, problems = read_yaml_file(path, rel)
    if problems:
        return [], problems
    if not isinstance(data, list):
        return [], [Problem(rel, 1, "experts", "the file must be a YAML list of experts")]
    records, problems = validate_records(data, Expert, rel, lines, "experts")
    return [expert for _, expert in records], problems


@dataclass(frozen=True)
class Match:
    """An expert chosen for a case, with the reasons (codes: country, eu, ip_type, language, industry)."""

    expert: Expert
    score: float
    reasons: tuple[str, ...]


def industry_of(text: str) -> str | None:
    """The industry a description names (the longest industry word in it), if any; the same words
    as alert subscriptions and the self-check (actions/vocab.py)."""
    return industry_code(text)


def match_experts(
    experts: list[Expert],
    country: str,
    ip_type: str,
    language: str,
    industry: str | None = None,
    exclude: frozenset[str] = frozenset(),
) -> list[Match]:
    """Available experts for a case, best first: they must cover the country (an EU expert covers
    EU members); then IP type, the enterprise's language and industry raise the rank; the faster
    usual response time breaks ties."""
    matches = []
    for e in experts:
        if not e.available or e.id in exclude:
            continue
        reasons: list[str] = []
        score = 0.0
        if country in e.countries:
            reasons.append("country")
            score += 4
        elif country in EU_MEMBERS and "EU" in e.countries:
            reasons.append("eu")
            score += 3
        else:
            continue
        if ip_type in e.ip_types:  # competence outranks a shared language
            reasons.append("ip_type")
            score += 3
        if language in e.languages:
            reasons.append("language")
            score += 2
        if industry and industry in e.industries:
            reasons.append("industry")
            score += 1
        matches.append(Match(e, score, tuple(reasons)))
    return sorted(matches, key=lambda m: (-m.score, m.expert.response_hours, m.expert.id))
