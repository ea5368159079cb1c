"""Documents on a case: only real PDF/JPEG/PNG files within the limit, stored owner-only with the sender's
open case, once, in its history, and the expert who has the case told."""

from __future__ import annotations

import os
import stat

import pytest
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from actions.cases.documents import DocumentRefused, attach, safe_name, sniff, store_document
from actions.cases.service import accept, open_case
from actions.store import Case, CaseDocument, CaseEvent, OutboxMessage, migrate, session_scope
from tests.factories import intake
from tests.unit.cases.test_service import POOL

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    migrate(url)
    return url


def open_for(url: str, sender: str = "tg-4242") -> str:
    with session_scope(url) as s:
        case_no = open_case(s, intake(sender_id=sender), POOL)[0].case_no
    assert case_no is not None
    return case_no


def test_a_pdf_is_stored_owner_only_with_the_senders_open_case_and_in_its_history(db, tmp_path):
    case_no = open_for(db)
    folder = tmp_path / "attachments"
    attached = store_document(db, "tg-4242", PDF, "律师函 warning letter.pdf", folder, 1_000_000)
    assert (attached.case_no, attached.filename, attached.already) == (case_no, "律师函_warning_letter.pdf", False)
    with session_scope(db) as s:
        [doc] = s.scalars(select(CaseDocument))
        assert (doc.content_type, doc.size, doc.source) == ("application/pdf", len(PDF), "telegram")
        kinds = [e.kind for e in s.scalars(select(CaseEvent).order_by(CaseEvent.id))]
        assert kinds[-1] == "document"
    stored = folder / doc.stored_as
    assert stored.read_bytes() == PDF
    assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(stored.parent).st_mode) == 0o700
    assert stored.parent.name == case_no


def test_the_same_file_twice_is_kept_once(db, tmp_path):
    open_for(db)
    store_document(db, "tg-4242", PNG, "scan.png", tmp_path, 1_000_000)
    again = store_document(db, "tg-4242", PNG, "scan (1).png", tmp_path, 1_000_000)
    assert again.already and again.filename == "scan.png"
    with session_scope(db) as s:
        assert len(list(s.scalars(select(CaseDocument)))) == 1


@pytest.mark.parametrize(
    ("data", "sender", "reason"),
    [
        (PDF, "tg-9999", "no_case"),  # this chat never opened a case
        (b"MZ\x90\x00 an executable named letter.pdf", "tg-4242", "not_allowed"),
        (b"<html>not a pdf</html>", "tg-4242", "not_allowed"),
        (PDF + b"x" * 2000, "tg-4242", "too_big"),
    ],
)
def test_refused_files_are_not_stored(db, tmp_path, data, sender, reason):
    open_for(db)
    with pytest.raises(DocumentRefused) as refused:
        store_document(db, sender, data, "letter.pdf", tmp_path / "att", 1000)
    assert refused.value.reason == reason
    assert not (tmp_path / "att").exists() or not any((tmp_path / "att").rglob("*.*"))
    with session_scope(db) as s:
        assert not list(s.scalars(select(CaseDocument)))


def test_a_closed_case_takes_no_more_documents(db, tmp_path):
    from actions.cases.service import add_event

    case_no = open_for(db)
    with session_scope(db) as s:
        add_event(s, case_no, "closed", "staff", "")
    with pytest.raises(DocumentRefused, match="no_case"):
        store_document(db, "tg-4242", PDF, "late.pdf", tmp_path, 1_000_000)


def test_with_a_case_number_the_file_goes_to_that_case_only_if_the_sender_opened_it_and_it_is_open(db, tmp_path):
    from actions.cases.service import add_event

    first, latest = open_for(db, "web-1"), open_for(db, "web-1")
    other = open_for(db, "web-2")
    assert store_document(db, "web-1", PDF, "a.pdf", tmp_path, 1_000_000, "web", case_no=first).case_no == first
    assert store_document(db, "web-1", PNG, "b.png", tmp_path, 1_000_000, "web").case_no == latest  # no number
    with pytest.raises(DocumentRefused, match="no_case"):  # a case another conversation opened
        store_document(db, "web-1", PDF + b"2", "c.pdf", tmp_path, 1_000_000, "web", case_no=other)
    with session_scope(db) as s:
        add_event(s, first, "closed", "staff", "")
    with pytest.raises(DocumentRefused, match="no_case"):  # closed, though the sender has another open case
        store_document(db, "web-1", PDF + b"3", "d.pdf", tmp_path, 1_000_000, "web", case_no=first)
    with session_scope(db) as s:
        stored = {(s.get(Case, d.case_id).case_no, d.filename, d.source) for d in s.scalars(select(CaseDocument))}
    assert stored == {(first, "a.pdf", "web"), (latest, "b.png", "web")}


def test_the_expert_who_has_the_case_is_told_of_a_new_document(db, tmp_path):
    case_no = open_for(db)
    with session_scope(db) as s:
        assert accept(s, case_no, "exp-001") == "accepted"
    store_document(db, "tg-4242", PDF, "customs notice.pdf", tmp_path, 1_000_000)
    with session_scope(db) as s:
        [note] = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "expert_note"))
        assert note.payload["text"] == f"The enterprise added a document to {case_no}: customs_notice.pdf"


def test_a_file_written_for_a_transaction_that_failed_is_removed(db, tmp_path, monkeypatch):
    from actions.cases import documents

    open_for(db)
    written = []

    def failing_attach(session, *args, **kwargs):
        attached, path = attach(session, *args, **kwargs)
        written.append(path)
        session.add(CaseEvent(case_id=10**9, kind="note", actor="x", text=""))  # breaks the foreign key at commit
        return attached, path

    monkeypatch.setattr(documents, "attach", failing_attach)
    with pytest.raises(SQLAlchemyError):
        store_document(db, "tg-4242", PDF, "letter.pdf", tmp_path, 1_000_000)
    assert written and not written[0].exists()


def test_names_are_made_safe_and_carry_the_real_type():
    assert safe_name("../../etc/passwd", "application/pdf") == "passwd.pdf"
    assert safe_name("report.PDF", "application/pdf") == "report.pdf"
    assert safe_name("photo.png", "image/jpeg") == "photo.jpg"
    assert safe_name("a;rm -rf $HOME`.pdf", "application/pdf") == "a_rm_-rf_HOME.pdf"
    assert safe_name(None, "image/png") == "document.png"
    assert safe_name("x" * 500 + ".pdf", "application/pdf") == "x" * 80 + ".pdf"
    assert sniff(b"\xff\xd8\xff\xe0 jfif") == "image/jpeg"
