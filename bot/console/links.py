"""The signed, expiring link in an e-mailed offer: it opens that one case in the console for that expert.

The token is an itsdangerous URL-safe timed signature of (case number, expert id) with CONSOLE_SECRET; it
is refused after CONSOLE_LINK_HOURS, and it signs its holder in for that case only (bot/console/app.py).
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeTimedSerializer

from actions.settings import Settings

SALT = "console-case-link"


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT)


def case_token(secret: str, case_no: str, expert_id: str) -> str:
    """A token that lets this expert open this case."""
    return _serializer(secret).dumps({"case": case_no, "expert": expert_id})


def read_case_token(secret: str, token: str, max_age_seconds: int) -> tuple[str, str] | None:
    """(case number, expert id) of a valid token that has not expired, else None."""
    found = read_case_token_expiry(secret, token, max_age_seconds)
    return None if found is None else (found[0], found[1])


def read_case_token_expiry(secret: str, token: str, max_age_seconds: int) -> tuple[str, str, float] | None:
    """(case number, expert id, when it expires as a Unix time) of a valid token that has not expired, else None."""
    try:
        data, signed_at = _serializer(secret).loads(token, max_age=max_age_seconds, return_timestamp=True)
    except BadSignature:  # a wrong signature, a changed payload, or an expired one (SignatureExpired)
        return None
    if not isinstance(data, dict) or not isinstance(data.get("case"), str) or not isinstance(data.get("expert"), str):
        return None
    return data["case"], data["expert"], signed_at.timestamp() + max_age_seconds


def case_link(settings: Settings, case_no: str, expert_id: str) -> str | None:
    """The console address of a case with the expert's token; None without a CONSOLE_SECRET (a link signed
    with a key the console does not share would only be refused)."""
    if not settings.console_secret:
        return None
    return (
        f"{settings.console_base_url}/cases/{case_no}?token={case_token(settings.console_secret, case_no, expert_id)}"
    )
