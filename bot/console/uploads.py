"""The enterprise's upload page, /upload/<token>: the signed link the bot gives a web or REST conversation that
opens a case (actions/cases/upload_link.py) opens a small page where the enterprise adds a PDF or photo to that
case, with no sign-in — the token is the credential.

GET shows the case number, the accepted types, the size limit and a file input, in the case's language. POST
stores one file through actions/cases/documents.py — the function, limits and refusals of Telegram's documents:
the type from the first bytes, ATTACHMENT_MAX_BYTES, owner-only files, sanitised names, the history entry, the
accepted expert told. Nothing of the body is read for a link that is not valid (403), expired (410) or whose case
is closed (410); a Content-Length over the limit plus a small multipart margin is refused (413) before anything is
read, and reading stops as soon as the body goes past it, whatever the client said. The page shows nothing of the
case but its number.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from actions.cases.documents import DocumentRefused, store_document
from actions.cases.service import find_case
from actions.cases.upload_link import UploadLinkRefused, read_upload_token
from actions.messages import t
from actions.store import session_scope

if TYPE_CHECKING:
    from bot.console.app import Console

logger = logging.getLogger("console")
router = APIRouter()

MULTIPART_MARGIN = 16 * 1024  # the form's boundary lines and part headers around the file
MAX_TOKEN_CHARS = 512  # a real token is about a hundred characters
LANGUAGES = ("zh", "en")
# What each outcome answers with; a refused file leaves the form on the page for another try.
STATUS = {
    "stored": 200,
    "already": 200,
    "invalid": 403,
    "expired": 410,
    "no_case": 410,  # the case is closed
    "too_big": 413,
    "not_allowed": 415,
    "no_file": 400,
    "one_file": 400,
    "failed": 503,
}


@dataclass(frozen=True)
class UploadTarget:
    """The case a link opens (its conversation, to store with, is never shown), or why it opens none."""

    case_no: str | None = None
    sender_id: str = ""
    language: str | None = None  # None: not known (the link is not valid), the page speaks both
    refused: str | None = None  # invalid, expired, no_case


def upload_target(console: Console, token: str) -> UploadTarget:
    """The case this token lets its holder add documents to: signed by this console, not expired, for a case
    that exists, was opened by the conversation the token names, and is not closed."""
    try:
        if len(token) > MAX_TOKEN_CHARS:
            raise UploadLinkRefused("invalid")
        grant = read_upload_token(console.secret, token, console.settings.upload_link_hours * 3600)
    except UploadLinkRefused as refused:
        return UploadTarget(refused=refused.reason)
    with session_scope(console.url) as db:
        case = find_case(db, grant.case_no)
        if case is None or not grant.opens(case.case_no, case.sender_id):
            return UploadTarget(refused="invalid")
        language = case.language if case.language in LANGUAGES else "zh"
        target = UploadTarget(case.case_no, case.sender_id, language)
        return replace(target, refused="no_case") if case.status == "closed" else target


async def capped(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    """The request body, refused as too_big as soon as more than `limit` bytes have come in."""
    received = 0
    async with aclosing(request.stream()) as stream:
        async for chunk in stream:
            received += len(chunk)
            if received > limit:
                raise DocumentRefused("too_big")
            yield chunk


async def one_file(request: Request, limit: int) -> tuple[bytes, str]:
    """The one file of a multipart form body of at most `limit` bytes, and its name as sent."""
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise DocumentRefused("one_file")
    if declared is not None and int(declared) > limit:
        raise DocumentRefused("too_big")  # said before a byte of the body is read
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "multipart/form-data":
        raise DocumentRefused("one_file")
    parser = MultiPartParser(request.headers, capped(request, limit), max_files=1, max_fields=2, max_part_size=1024)
    try:
        form = await parser.parse()
    except MultiPartException:  # a second file, too many or too long fields, a broken body
        raise DocumentRefused("one_file") from None
    try:
        files = [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
        if not files or (not files[0].filename and not files[0].size):  # the form sent without a file chosen
            raise DocumentRefused("no_file")
        return await files[0].read(), files[0].filename or ""
    finally:
        await form.close()


def page(
    request: Request, target: UploadTarget, token: str, result: str | None = None, filename: str = ""
) -> HTMLResponse:
    """The upload page: the case number, what happened to a file sent, and the form while the link is good."""
    console: Console = request.app.state.console
    settings = console.settings
    outcome = result or target.refused
    values = {
        "case_no": target.case_no or "",
        "filename": filename,
        "max_mb": settings.attachment_max_bytes // (1024 * 1024),
        "hours": settings.upload_link_hours,
    }
    context = {
        "langs": (target.language,) if target.language else LANGUAGES,
        "say": lambda lang, key, **kw: t(f"cases.upload.{key}", lang, **kw),
        "case_no": target.case_no,
        "result": outcome,
        "values": values,
        "form": target.refused is None and outcome != "no_case",
        "token": token,
    }
    status = STATUS[outcome] if outcome else 200
    response: HTMLResponse = console.templates.TemplateResponse(request, "upload.html", context, status_code=status)
    return response


@router.get("/upload/{token}")
def upload_page(request: Request, token: str) -> HTMLResponse:
    target = upload_target(request.app.state.console, token)
    if target.refused:
        logger.info("console: an upload link was refused: %s", target.refused)
    return page(request, target, token)


@router.post("/upload/{token}")
async def upload(request: Request, token: str) -> HTMLResponse:
    console: Console = request.app.state.console
    settings = console.settings
    target = await asyncio.to_thread(upload_target, console, token)
    if target.refused:  # nothing of the body is read
        logger.info("console: an upload was refused before it was read: %s", target.refused)
        return page(request, target, token)
    try:
        data, filename = await one_file(request, settings.attachment_max_bytes + MULTIPART_MARGIN)
        attached = await asyncio.to_thread(
            store_document,
            console.url,
            target.sender_id,
            data,
            filename,
            settings.attachments_dir,
            settings.attachment_max_bytes,
            "web",
            target.case_no,
        )
    except DocumentRefused as refused:
        logger.info("console: an upload to %s was refused: %s", target.case_no, refused.reason)
        return page(request, target, token, refused.reason)
    except (SQLAlchemyError, OSError):
        logger.exception("console: an upload to %s could not be stored", target.case_no)
        return page(request, target, token, "failed")
    logger.info("console: a document (%d bytes) was added to %s from its upload link", len(data), attached.case_no)
    return page(request, target, token, "already" if attached.already else "stored", attached.filename)
