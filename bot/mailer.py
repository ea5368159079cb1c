"""E-mail that is really sent: the notifier's outbox rows on the "email" channel, over SMTP.

Experts and staff whose contact is an e-mail address (and who have no Telegram chat) get their case
offers and alerts this way; enterprises that gave an e-mail address get their case's status changes.
aiosmtplib does the SMTP (STARTTLS by default, or implicit TLS, with login when SMTP_USERNAME is set);
the message is the standard library's EmailMessage. A failure raises, so the notifier retries the row
with its backoff like any other; without SMTP_HOST the notifier writes these rows to its sink instead.
An offer carries a signed link to the case in the console (bot/console/links.py), which signs that expert in
for that case only, for CONSOLE_LINK_HOURS, to accept or decline it there and then write to the enterprise; the
enterprise's answers come by e-mail with a fresh link. A reply to an e-mail still goes to SMTP_REPLY_TO (the
guidance centre's staff), who may record the answer (`python -m actions.cli cases assign …`).
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib

from actions.messages import t
from actions.settings import Settings
from bot.console.links import case_link

SUBJECTS = {
    "expert_offer": "New case {case_no} for you",
    "expert_taken": "Case {case_no} has been taken",
    "staff_alert": "Case {case_no} needs the staff on duty",
    "expert_note": "Case {case_no}: something new",
    "enterprise_reply": "Case {case_no}: the enterprise replied",
}
ANSWER_HINT = (
    "\n\nAnswer the enterprise in the console (this link signs you in for this case only and expires in {hours}"
    " hours):\n{link}"
)
REPLY_HINT = (
    "\n\nTo accept or decline, reply to this e-mail: it reaches the guidance centre's staff, who record your answer."
)
LINK_HINT = (
    "\n\nAccept or decline in the console, and once you have accepted write to the enterprise there (this link signs"
    " you in for this case only and expires in {hours} hours):\n{link}"
)


class Mailer:
    """Sends one e-mail per outbox row through the configured SMTP server."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def message(self, kind: str, recipient: str, text: str, payload: dict) -> EmailMessage:
        """The e-mail for an outbox row: subject by kind (the enterprise's in its language), plain text."""
        case_no = str(payload.get("case_no") or "")
        message = EmailMessage()
        if kind == "enterprise_update":
            language = str(payload.get("language") or "zh")
            message["Subject"] = t("cases.email_subject", language, case_no=case_no)
            body = f"{text}\n\n{t('cases.email_footer', language)}"
        else:
            message["Subject"] = SUBJECTS.get(kind, "{case_no}").format(case_no=case_no) or "IP early-warning bot"
            body = text
            if kind == "expert_offer" and (link := case_link(self.settings, case_no, str(payload.get("expert_id")))):
                body += LINK_HINT.format(hours=self.settings.console_link_hours, link=link)
            answering = kind == "enterprise_reply" and payload.get("expert_id")
            if answering and (link := case_link(self.settings, case_no, str(payload["expert_id"]))):
                body += ANSWER_HINT.format(hours=self.settings.console_link_hours, link=link)
            if kind == "expert_offer" and self.settings.smtp_reply_to:
                body += REPLY_HINT
            if self.settings.smtp_reply_to:
                message["Reply-To"] = self.settings.smtp_reply_to
        message["From"] = self.settings.smtp_from
        message["To"] = recipient
        message["Message-ID"] = make_msgid(domain=self.settings.smtp_from.rpartition("@")[2].strip(">") or None)
        message.set_content(body)
        return message

    async def send(self, kind: str, recipient: str, text: str, payload: dict) -> str:
        """Sends the e-mail; returns its Message-ID (kept as the row's external id). Raises on any failure."""
        s = self.settings
        message = self.message(kind, recipient, text, payload)
        await aiosmtplib.send(
            message,
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username or None,
            password=s.smtp_password or None,
            start_tls=s.smtp_security == "starttls",
            use_tls=s.smtp_security == "tls",
            timeout=s.smtp_timeout,
        )
        return str(message["Message-ID"])
