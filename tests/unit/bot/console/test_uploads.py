"""The enterprise's upload page through FastAPI's TestClient (and, where it matters how much of a body is read, the
ASGI app fed chunk by chunk) on a temporary SQLite database: files stored through actions/cases/documents.py
(checked on disk and in the database), refusals that store nothing, and links that open nothing."""

from __future__ import annotations

import asyncio
import os
import re
import stat
from datetime import timedelta

import itsdangerous.timed
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from actions.cases.service import accept, add_event, open_case
from actions.cases.upload_link import upload_link, upload_token
from actions.settings import Settings
from actions.store import CaseDocument, CaseEvent, OutboxMessage, migrate, session_scope
from bot.console.app import create_app
from bot.console.links import case_token
from bot.console.uploads import MULTIPART_MARGIN
from tests.factories import intake
from tests.unit.bot.console.test_app import console, seeded, signed_in  # noqa: F401 - fixtures
from tests.unit.cases.test_service import POOL

SECRET = "upload-page-secret-" + "x" * 24
LIMIT = 1024 * 1024  # ATTACHMENT_MAX_BYTES in these tests: 1 MB
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SENDER = "web-5f3a9c"


@pytest.fixture
def setup(tmp_path):
    """Settings of a console on an empty database, and an English case opened by a web conversation."""
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    migrate(url)
    settings = Settings(
        _env_file=None,
        database_url=url,
        attachments_dir=tmp_path / "attachments",
        attachment_max_bytes=LIMIT,
        console_secret=SECRET,
    )
    with session_scope(url) as s:
        case_no = open_case(
            s,
            intake(sender_id=SENDER, language="en", enterprise="Sample Textiles Co.", contact="ops@example.com"),
            POOL,
        )[0].case_no
    assert case_no is not None
    return settings, case_no


def path_of(settings: Settings, case_no: str, sender: str = SENDER) -> str:
    link = upload_link(settings, case_no, sender)
    assert link is not None and link.startswith(settings.console_base_url + "/upload/")
    return link.removeprefix(settings.console_base_url)


def client_for(settings: Settings) -> TestClient:
    return TestClient(create_app(settings), follow_redirects=False)


def result_of(page: str) -> str | None:
    found = re.search(r'id="result" data-result="([a-z_]+)"', page)
    return found.group(1) if found else None


def stored_files(settings: Settings) -> list[str]:
    folder = settings.attachments_dir
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def documents(settings: Settings) -> list[CaseDocument]:
    with session_scope(settings.database_url) as s:
        found = list(s.scalars(select(CaseDocument)))
        s.expunge_all()
        return found


def test_the_page_shows_the_case_number_types_and_limit_in_the_cases_language_and_nothing_else(setup):
    settings, case_no = setup
    client = client_for(settings)
    reply = client.get(path_of(settings, case_no))
    assert reply.status_code == 200
    page = reply.text
    assert f"Case: {case_no}" in page and "PDF, JPEG or PNG files of up to 1 MB" in page
    assert 'type="file" name="file"' in page and 'enctype="multipart/form-data"' in page
    for private in ("Sample Textiles", "ops@example.com", "收到日本公司的警告函", SENDER, "exp-00"):
        assert private not in page
    assert reply.headers["content-security-policy"].startswith("default-src 'self'")
    assert reply.headers["referrer-policy"] == "no-referrer" and reply.headers["cache-control"] == "no-store"
    assert "set-cookie" not in reply.headers  # no session for the holder of a link
    with session_scope(settings.database_url) as s:
        zh_case = open_case(s, intake(sender_id="web-zh"), POOL)[0].case_no
    page = client.get(path_of(settings, zh_case, "web-zh")).text
    assert f"案件编号：{zh_case}" in page and "每个最多 1 MB" in page and "Case:" not in page


def test_a_pdf_is_stored_owner_only_in_the_history_and_the_accepted_expert_is_told(setup):
    settings, case_no = setup
    with session_scope(settings.database_url) as s:
        assert accept(s, case_no, "exp-001") == "accepted"
    reply = client_for(settings).post(
        path_of(settings, case_no), files={"file": ("律师函 warning letter.pdf", PDF, "application/pdf")}
    )
    assert reply.status_code == 200 and result_of(reply.text) == "stored"
    assert f"Received “律师函_warning_letter.pdf” and added it to case {case_no}" in reply.text
    assert 'id="upload-form"' in reply.text  # another file may follow
    [doc] = documents(settings)
    assert (doc.filename, doc.content_type, doc.size, doc.source) == (
        "律师函_warning_letter.pdf",
        "application/pdf",
        len(PDF),
        "web",
    )
    stored = settings.attachments_dir / doc.stored_as
    assert stored.read_bytes() == PDF and stored.parent.name == case_no
    assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600 and stat.S_IMODE(os.stat(stored.parent).st_mode) == 0o700
    with session_scope(settings.database_url) as s:
        last = s.scalars(select(CaseEvent).order_by(CaseEvent.id.desc())).first()
        assert (last.kind, last.actor, last.text) == ("document", "enterprise", "律师函_warning_letter.pdf")
        [note] = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "expert_note"))
        assert note.recipient == "101"  # exp-001's Telegram chat
        assert note.payload["text"] == f"The enterprise added a document to {case_no}: 律师函_warning_letter.pdf"


def test_a_png_is_stored_and_the_same_file_again_is_kept_once(setup):
    settings, case_no = setup
    client = client_for(settings)
    path = path_of(settings, case_no)
    assert result_of(client.post(path, files={"file": ("scan.png", PNG, "image/png")}).text) == "stored"
    again = client.post(path, files={"file": ("scan (2).png", PNG, "image/png")})
    assert again.status_code == 200 and result_of(again.text) == "already"
    [doc] = documents(settings)
    assert (doc.filename, doc.content_type) == ("scan.png", "image/png")
    assert len(stored_files(settings)) == 1


@pytest.mark.parametrize(
    "data", [b"MZ\x90\x00 an executable named letter.pdf", b"<html><script>alert(1)</script></html>", b""]
)
def test_a_file_named_pdf_that_is_not_one_is_refused_and_not_stored(setup, data):
    settings, case_no = setup
    reply = client_for(settings).post(
        path_of(settings, case_no), files={"file": ("letter.pdf", data, "application/pdf")}
    )
    assert reply.status_code == 415 and result_of(reply.text) == "not_allowed"
    assert "Only PDF, JPEG or PNG files can be added; this one was not stored." in reply.text
    assert 'id="upload-form"' in reply.text
    assert documents(settings) == [] and stored_files(settings) == []


def test_one_file_per_request_and_a_form_without_a_file_store_nothing(setup):
    settings, case_no = setup
    client = client_for(settings)
    path = path_of(settings, case_no)
    two = client.post(path, files=[("file", ("a.pdf", PDF, "application/pdf")), ("file", ("b.png", PNG, "image/png"))])
    assert two.status_code == 400 and result_of(two.text) == "one_file"
    empty = client.post(path, files={"file": ("", b"", "application/octet-stream")})
    assert empty.status_code == 400 and result_of(empty.text) == "no_file"
    not_a_form = client.post(path, content=PDF, headers={"content-type": "application/pdf"})
    assert not_a_form.status_code == 400 and result_of(not_a_form.text) == "one_file"
    assert documents(settings) == [] and stored_files(settings) == []


def test_a_file_over_the_limit_is_refused_with_the_limit(setup):
    settings, case_no = setup
    big = PDF + b"0" * LIMIT  # just over the limit, within the multipart margin: read, then refused
    reply = client_for(settings).post(path_of(settings, case_no), files={"file": ("big.pdf", big, "application/pdf")})
    assert reply.status_code == 413 and result_of(reply.text) == "too_big"
    assert "at most 1 MB" in reply.text
    bigger = PDF + b"0" * (LIMIT + MULTIPART_MARGIN)  # past the margin: refused by its Content-Length
    reply = client_for(settings).post(
        path_of(settings, case_no), files={"file": ("big.pdf", bigger, "application/pdf")}
    )
    assert reply.status_code == 413 and result_of(reply.text) == "too_big"
    assert documents(settings) == [] and stored_files(settings) == []


def post_in_chunks(app, path: str, chunks: list[bytes], headers: dict[str, str]) -> tuple[int, int, bytes]:
    """POSTs a body to the ASGI app chunk by chunk, as a server hands it over; the status, how many bytes of
    the body the app took and the page."""
    taken, pulled = 0, 0
    status, page = 0, b""

    async def receive() -> dict:
        nonlocal taken, pulled
        if pulled == len(chunks):
            await asyncio.sleep(3600)  # after the body, ASGI's receive waits for the client to go away
        chunk = chunks[pulled]
        pulled += 1
        taken += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": pulled < len(chunks)}

    async def send(message: dict) -> None:
        nonlocal status, page
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            page += message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8090),
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=30))
    return status, taken, page


def multipart_start(boundary: str) -> bytes:
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="huge.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode() + PDF


def test_an_oversized_content_length_is_refused_before_a_byte_of_the_body_is_read(setup):
    settings, case_no = setup
    chunks = [multipart_start("b0undary")] + [b"0" * 65536] * 100
    headers = {
        "content-type": "multipart/form-data; boundary=b0undary",
        "content-length": str(sum(map(len, chunks))),
    }
    status, taken, page = post_in_chunks(create_app(settings), path_of(settings, case_no), chunks, headers)
    assert status == 413 and taken == 0 and b'data-result="too_big"' in page
    assert documents(settings) == [] and stored_files(settings) == []


def test_a_body_longer_than_its_content_length_said_is_read_only_up_to_the_limit(setup):
    settings, case_no = setup
    chunk = 65536
    chunks = [multipart_start("b0undary")] + [b"0" * chunk] * 200  # about 13 MB, said to be 2 KB
    headers = {"content-type": "multipart/form-data; boundary=b0undary", "content-length": "2048"}
    status, taken, page = post_in_chunks(create_app(settings), path_of(settings, case_no), chunks, headers)
    assert taken <= LIMIT + MULTIPART_MARGIN + chunk  # it stopped at the chunk that went past the limit
    assert status == 413 and b'data-result="too_big"' in page
    chunks_without_length = [multipart_start("b0undary")] + [b"0" * chunk] * 200
    headers = {"content-type": "multipart/form-data; boundary=b0undary"}  # sent chunked, no length at all
    status, taken, _ = post_in_chunks(create_app(settings), path_of(settings, case_no), chunks_without_length, headers)
    assert taken <= LIMIT + MULTIPART_MARGIN + chunk and status == 413
    assert documents(settings) == [] and stored_files(settings) == []


def test_an_expired_link_gets_410_and_nothing_is_stored(setup, monkeypatch):
    settings, case_no = setup
    path = path_of(settings, case_no)
    later = itsdangerous.timed.time.time() + timedelta(hours=settings.upload_link_hours, minutes=1).total_seconds()
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: later)
    client = client_for(settings)
    page = client.get(path)
    assert page.status_code == 410 and result_of(page.text) == "expired"
    assert "This upload link has expired" in page.text and "此上传链接已过期" in page.text  # the case is not known
    assert 'id="upload-form"' not in page.text
    post = client.post(path, files={"file": ("letter.pdf", PDF, "application/pdf")})
    assert post.status_code == 410 and documents(settings) == [] and stored_files(settings) == []


@pytest.mark.parametrize("how", ["other key", "changed", "garbage", "long", "other conversation", "no such case"])
def test_a_forged_link_gets_403_and_nothing_is_stored(setup, how):
    settings, case_no = setup
    token = path_of(settings, case_no).removeprefix("/upload/")
    forged = {
        "other key": upload_token("a key this console does not have", case_no, SENDER),
        # another case's payload under this token's signature
        "changed": upload_token(SECRET, "IP-2026-000002", SENDER).split(".")[0] + token[token.index(".") :],
        "garbage": "%3Cscript%3Enot-a-token",
        "long": token + "A" * 600,
        "other conversation": upload_token(SECRET, case_no, "web-someone-else"),  # a real case, not theirs
        "no such case": upload_token(SECRET, "IP-2026-999999", SENDER),
    }[how]
    client = client_for(settings)
    page = client.get(f"/upload/{forged}")
    assert page.status_code == 403 and result_of(page.text) == "invalid"
    assert case_no not in page.text and 'id="upload-form"' not in page.text
    post = client.post(f"/upload/{forged}", files={"file": ("letter.pdf", PDF, "application/pdf")})
    assert post.status_code == 403 and result_of(post.text) == "invalid"
    assert documents(settings) == [] and stored_files(settings) == []


def test_a_case_link_is_no_upload_token_and_an_upload_token_opens_no_case_page(setup):
    settings, case_no = setup
    client = client_for(settings)
    case_link_token = case_token(SECRET, case_no, "exp-001")
    assert client.get(f"/upload/{case_link_token}").status_code == 403
    post = client.post(f"/upload/{case_link_token}", files={"file": ("letter.pdf", PDF, "application/pdf")})
    assert post.status_code == 403 and documents(settings) == []
    upload = path_of(settings, case_no).removeprefix("/upload/")
    reply = client.get(f"/cases/{case_no}?token={upload}")
    assert reply.status_code == 401 and "link-expired" in reply.text  # refused like any bad case link
    assert client.get("/cases").status_code == 303  # and it signed nobody in


def test_a_closed_case_takes_no_upload(setup):
    settings, case_no = setup
    path = path_of(settings, case_no)
    with session_scope(settings.database_url) as s:
        add_event(s, case_no, "closed", "staff", "")
    client = client_for(settings)
    page = client.get(path)
    assert page.status_code == 410 and result_of(page.text) == "no_case"
    assert f"Case {case_no} is closed and takes no more documents" in page.text and 'id="upload-form"' not in page.text
    post = client.post(path, files={"file": ("late.pdf", PDF, "application/pdf")})
    assert post.status_code == 410 and documents(settings) == [] and stored_files(settings) == []


def test_an_uploaded_file_is_on_the_console_case_page_for_the_accepted_expert_only(console):  # noqa: F811
    settings, numbers = console
    case_no = numbers["jp"]  # offered to exp-005 (account expert5), opened by the conversation u1
    expert, token = signed_in(settings, "expert5")
    assert expert.post(f"/cases/{case_no}/accept", data={"csrf_token": token}).status_code == 303
    enterprise = client_for(settings)
    path = path_of(settings, case_no, "u1")
    assert result_of(enterprise.post(path, files={"file": ("notice.pdf", PDF, "application/pdf")}).text) == "stored"
    page = expert.get(f"/cases/{case_no}").text
    link = re.search(r'href="(/cases/[^"]+/documents/\d+)">notice\.pdf<', page)
    assert link, page
    download = expert.get(link.group(1))
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    staff, _ = signed_in(settings, "staff1")
    assert staff.get(link.group(1)).content == PDF
    other, _ = signed_in(settings, "expert2")  # not on this case
    assert other.get(link.group(1)).status_code == 403
    assert enterprise.get(link.group(1)).status_code == 303  # the upload link signs nobody in to the console
