"""Documents on a case: the warning letter, the customs notice or the complaint an enterprise sends
the bot (on Telegram) during or after its case form, stored with its latest case that is not closed — or
uploads from the console's upload page (bot/console/uploads.py), stored with the one case its link names.

Only PDF, JPEG and PNG files are taken, recognised by their first bytes (not by the name or the type
the sender claims), up to ATTACHMENT_MAX_BYTES — a larger one is refused from its declared size,
before anything is downloaded. Files are written owner-only under ATTACHMENTS_DIR/<case number>/,
outside anything a web server serves, named by their hash and a sanitised form of their name; the
same file twice is kept once. The case history gets a `document` entry and the accepted expert (if
any) a notification through the outbox. Functions that take a session never commit.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.cases.service import tell_accepted_expert
from actions.privacy import open_private, private_dir
from actions.store import Case, CaseDocument, CaseEvent, session_scope, utcnow

KINDS = {  # content type: (first bytes, extension)
    "application/pdf": (b"%PDF-", ".pdf"),
    "image/jpeg": (b"\xff\xd8\xff", ".jpg"),
    "image/png": (b"\x89PNG\r\n\x1a\n", ".png"),
}
_UNSAFE = re.compile(r"[^\w.\-]+")


class DocumentRefused(ValueError):
    """A file that is not stored, with the reason the sender is told: no_case, too_big or not_allowed (the
    upload page, bot/console/uploads.py, adds no_file and one_file for a form without one file)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Attached:
    """What the sender is told about a stored file."""

    case_no: str
    filename: str
    already: bool  # the same file was attached to this case before


def document_case(session: Session, sender_id: str, case_no: str | None = None) -> Case | None:
    """The case a file from this conversation belongs to: its latest case that is not closed, or the case
    `case_no` if this conversation opened it and it is not closed."""
    query = select(Case).where(Case.sender_id == sender_id, Case.status != "closed")
    if case_no is not None:
        query = query.where(Case.case_no == case_no)
    return session.scalars(query.order_by(Case.id.desc()).limit(1)).first()


def refuse_declared_size(size: int | None, max_bytes: int) -> None:
    """Refuses a file whose declared size is over the limit, before it is downloaded."""
    if size is not None and size > max_bytes:
        raise DocumentRefused("too_big")


def sniff(data: bytes) -> str:
    """The file's type from its first bytes; refuses anything but PDF, JPEG and PNG."""
    for content_type, (magic, _) in KINDS.items():
        if data.startswith(magic):
            return content_type
    raise DocumentRefused("not_allowed")


def safe_name(name: str | None, content_type: str) -> str:
    """A file name safe to store and show: no folders, no control or shell characters, at most 80
    characters, and the extension of what the file really is."""
    stem = Path(unicodedata.normalize("NFKC", name or "")).name
    stem = re.sub(r"\.(pdf|jpe?g|png)$", "", stem, flags=re.IGNORECASE)
    stem = _UNSAFE.sub("_", stem).strip("._")[:80].strip("._") or "document"
    return stem + KINDS[content_type][1]


def attach(
    session: Session,
    sender_id: str,
    data: bytes,
    filename: str | None,
    folder: Path,
    max_bytes: int,
    source: str = "telegram",
    now: datetime | None = None,
    case_no: str | None = None,
) -> tuple[Attached, Path | None]:
    """Stores a file with the sender's open case (with `case_no`: that case, if it is the sender's and open);
    returns what to tell the sender and the file written (None when it was there already), so the caller
    can remove it if the transaction fails."""
    case = document_case(session, sender_id, case_no)
    if case is None or case.case_no is None:
        raise DocumentRefused("no_case")
    if len(data) > max_bytes:
        raise DocumentRefused("too_big")
    content_type = sniff(data)
    digest = hashlib.sha256(data).hexdigest()
    name = safe_name(filename, content_type)
    same = select(CaseDocument).where(CaseDocument.case_id == case.id, CaseDocument.sha256 == digest)
    if (earlier := session.scalars(same).first()) is not None:
        return Attached(case.case_no, earlier.filename, already=True), None
    stored_as = f"{case.case_no}/{digest[:16]}-{name}"
    target = folder / stored_as
    private_dir(target.parent)
    with open_private(target, "wb") as out:
        out.write(data)
    now = now or utcnow()
    session.add(
        CaseDocument(
            case_id=case.id,
            filename=name,
            content_type=content_type,
            size=len(data),
            sha256=digest,
            stored_as=stored_as,
            source=source,
            created_at=now,
        )
    )
    session.add(CaseEvent(case_id=case.id, at=now, kind="document", actor="enterprise", text=name))
    tell_accepted_expert(session, case, f"The enterprise added a document to {case.case_no}: {name}", key=digest[:16])
    return Attached(case.case_no, name, already=False), target


def store_document(
    url: str,
    sender_id: str,
    data: bytes,
    filename: str | None,
    folder: Path,
    max_bytes: int,
    source: str = "telegram",
    case_no: str | None = None,
) -> Attached:
    """`attach` in its own transaction; a file written for a transaction that failed is removed again."""
    written: Path | None = None
    try:
        with session_scope(url) as session:
            attached, written = attach(session, sender_id, data, filename, folder, max_bytes, source, case_no=case_no)
        return attached
    except BaseException:
        if written is not None:
            written.unlink(missing_ok=True)
        raise


def case_documents(session: Session, case: Case) -> list[CaseDocument]:
    """The files stored with a case, oldest first."""
    query = select(CaseDocument).where(CaseDocument.case_id == case.id).order_by(CaseDocument.id)
    return list(session.scalars(query))


def document_file(folder: Path, document: CaseDocument) -> Path | None:
    """Where a stored document's file is, if it is still there and inside the attachments folder."""
    root = folder.resolve()
    path = (root / document.stored_as).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None
