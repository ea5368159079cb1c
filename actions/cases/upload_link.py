"""The signed, expiring link that lets an enterprise on the web add documents to its case: the console's
upload page (bot/console/uploads.py) at /upload/<token>.

The token is an itsdangerous URL-safe timed signature, with CONSOLE_SECRET and a salt of its own (so an
e-mailed case link is no upload token, and an upload token no case link), of the case number and a hash of
the conversation that opened the case — the conversation's id itself never appears in the address. It is
refused after UPLOAD_LINK_HOURS. The action server signs it (actions/dialogue/cases.py), the console reads it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

from actions.settings import Settings

SALT = "case-upload-link"


class UploadLinkRefused(ValueError):
    """A token that opens no upload page, with the reason shown: invalid (forged, changed, another kind of
    link) or expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class UploadGrant:
    """What a valid token allows: adding documents to this case, if the conversation `conversation` opened it."""

    case_no: str
    conversation: str  # conversation_key() of the sender id

    def opens(self, case_no: str | None, sender_id: str) -> bool:
        """Whether this grant is for that case and the conversation that opened it."""
        return case_no == self.case_no and conversation_key(sender_id) == self.conversation


def conversation_key(sender_id: str) -> str:
    """What a token says of the conversation: a hash of its sender id."""
    return hashlib.sha256(f"upload|{sender_id}".encode()).hexdigest()[:32]


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT)


def upload_token(secret: str, case_no: str, sender_id: str) -> str:
    """A token that lets the conversation that opened this case add documents to it."""
    return _serializer(secret).dumps({"case": case_no, "conv": conversation_key(sender_id)})


def read_upload_token(secret: str, token: str, max_age_seconds: int) -> UploadGrant:
    """The grant of a valid token that has not expired; UploadLinkRefused("invalid" or "expired") otherwise."""
    try:
        data = _serializer(secret).loads(token, max_age=max_age_seconds)
    except SignatureExpired:  # signed by us, but too old (checked after the signature)
        raise UploadLinkRefused("expired") from None
    except BadData:  # a wrong signature, a changed payload, another salt, not a token at all
        raise UploadLinkRefused("invalid") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("case", "conv")):
        raise UploadLinkRefused("invalid")
    return UploadGrant(data["case"], data["conv"])


def upload_link(settings: Settings, case_no: str, sender_id: str) -> str | None:
    """The upload page's address for this case and conversation; None without a CONSOLE_SECRET (the console
    could not read a token signed with another key)."""
    if not settings.console_secret:
        return None
    return f"{settings.console_base_url}/upload/{upload_token(settings.console_secret, case_no, sender_id)}"
