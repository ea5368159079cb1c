"""The guidance centre's staff on duty (knowledge/staff.yml): who is told at once when a case reaches no expert.

A case must never wait for nobody: when no expert matches it, or every expert offered it declined or let the
promised time pass with nobody left to ask, every staff member on duty is notified through the outbox
(actions/cases/service.py). Sample entries use reserved example contacts, as the expert list does.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from actions.cases.experts import Contact, reserved_if_sample
from actions.knowledge import Problem, read_yaml_file, relative_name, validate_records

DEFAULT_RESPONSE_HOURS = 72  # promised when the staff list is empty or unreadable


class StaffMember(BaseModel):
    """One person of the guidance centre who takes cases no expert took."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^stf-\d{3}$")
    sample: bool  # validated before `contact`, which depends on it
    name: str = Field(min_length=1)
    organisation: str = Field(min_length=1)
    contact: Contact
    telegram_chat_id: int | None = None
    response_hours: int = Field(gt=0)
    on_duty: bool

    @field_validator("contact")
    @classmethod
    def _samples_use_reserved_contacts(cls, contact: Contact, info: ValidationInfo) -> Contact:
        return reserved_if_sample(contact, bool(info.data.get("sample")))


def load_staff(path: Path, root: Path | None = None) -> tuple[list[StaffMember], list[Problem]]:
    """Reads the staff list; entries with errors are left out and reported as file:line problems."""
    rel = relative_name(path, root)
    data, lines, problems = read_yaml_file(path, rel)
    if problems:
        return [], problems
    if not isinstance(data, list) or not data:
        return [], [Problem(rel, 1, "staff", "the file must be a non-empty YAML list of staff members")]
    records, problems = validate_records(data, StaffMember, rel, lines, "staff")
    return [member for _, member in records], problems


def on_duty(staff: list[StaffMember]) -> list[StaffMember]:
    """The staff members to notify now."""
    return [m for m in staff if m.on_duty]


def staff_hours(staff: list[StaffMember]) -> int:
    """The reply time promised when the staff take a case: the slowest on-duty member's usual time."""
    return max((m.response_hours for m in on_duty(staff)), default=DEFAULT_RESPONSE_HOURS)
