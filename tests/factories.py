"""Test data shared by the case tests."""

from actions.cases import Intake


def intake(**changes) -> Intake:
    """A complete intake form (a Chinese machinery exporter, a trademark warning letter in Japan)."""
    values = {
        "sender_id": "u1",
        "channel": "rest",
        "language": "zh",
        "enterprise": "青岛示例机械有限公司",
        "contact": "a@example.com",
        "contact_kind": "email",
        "country": "JP",
        "ip_type": "trademark",
        "incident_type": "warning_letter",
        "deadline": None,
        "description": "收到日本公司的警告函",
        "consent": True,
        "industry": "machinery",
    }
    return Intake(**{**values, **changes})
