"""The console's web app: sign-in, the case queue, the case page and its actions, the figures, the market alerts.

FastAPI with Jinja2 templates rendered on the server (no JavaScript needed). Sessions live in a cookie signed
with the console's secret (Starlette's SessionMiddleware, itsdangerous): HttpOnly, SameSite=Lax, Secure when
CONSOLE_URL is https. Every POST form carries the session's CSRF token and is refused (403) without it. Who
may see what is decided here from the case service's own rules (`can_see`): staff see every case, an expert
the cases offered to or accepted by them, a holder of an e-mailed link that one case. Handlers are plain
functions (FastAPI runs them in its thread pool), each action one `session_scope` transaction. The alert pages
(staff only) write alert files through actions/alerts/files.py and publish through actions/alerts/service.py,
the functions the notifier and the command line use. The enterprise's upload page is bot/console/uploads.py.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from actions.accounts import active_account, authenticate
from actions.alerts.files import AlertForm, alert_file, check_form, file_version, form_errors, save_alert
from actions.alerts.service import (
    SEVERITIES,
    Alert,
    delivery_counts,
    fan_out,
    load_alert,
    load_alerts,
    preview,
    publish_one,
)
from actions.cases.documents import case_documents, document_file
from actions.cases.experts import Expert, load_experts, match_experts
from actions.cases.figures import CHARTS, csv_text, figures, svg_chart
from actions.cases.service import (
    OUTCOMES,
    REPLY_MAX_CHARS,
    QueueFilter,
    accept,
    add_note,
    assign,
    can_see,
    case_queue,
    close_case,
    decline,
    expert_reply,
    find_case,
    is_overdue,
    markets_in_use,
    staff_reply,
)
from actions.cases.staff import StaffMember, load_staff
from actions.knowledge import IP_TYPES
from actions.settings import Settings, get_settings
from actions.store import Case, session_scope, utcnow
from actions.vocab import ALL_INDUSTRIES, INCIDENTS, INDUSTRIES, MARKETS, industry_name
from bot.console.links import read_case_token_expiry
from bot.console.uploads import router as upload_router

HERE = Path(__file__).parent
logger = logging.getLogger("console")
STATUSES = ("open", "accepted", "closed")


class SignInThrottle:
    """Slows down password guessing: after `limit` failed sign-ins for one username within `window` seconds,
    that username is refused until the oldest failure is `window` old (kept in this process's memory)."""

    def __init__(self, limit: int = 5, window: float = 900.0, clock: Any = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self.failures: dict[str, deque[float]] = defaultdict(deque)
        self.lock = threading.Lock()

    def _recent(self, username: str) -> deque[float]:
        times = self.failures[username]
        while times and self.clock() - times[0] > self.window:
            times.popleft()
        return times

    def blocked(self, username: str) -> bool:
        with self.lock:
            return len(self._recent(username)) >= self.limit

    def failed(self, username: str) -> None:
        with self.lock:
            self._recent(username).append(self.clock())

    def succeeded(self, username: str) -> None:
        with self.lock:
            self.failures.pop(username, None)


@dataclass(frozen=True)
class Viewer:
    """Who is signed in: staff, or an expert (by account, or by an e-mailed link for one case only)."""

    role: str  # staff, expert
    name: str
    expert_id: str | None = None
    only_case: str | None = None  # signed in by a link: this case and nothing else

    @property
    def staff(self) -> bool:
        return self.role == "staff"

    @property
    def actor(self) -> str:
        """How the case history names this person's actions."""
        return f"staff:{self.name}"[:64] if self.staff else f"expert:{self.expert_id}"


class SignInNeeded(Exception):
    """The page needs a signed-in viewer; the browser is sent to the sign-in page."""

    def __init__(self, next_path: str = "/cases") -> None:
        self.next_path = next_path


@dataclass
class Console:
    """What the handlers share: the settings, the session secret and the lists the case service needs."""

    settings: Settings
    secret: str
    templates: Jinja2Templates = field(init=False)
    throttle: SignInThrottle = field(default_factory=SignInThrottle)
    today: Callable[[], date] = date.today  # the day alerts are active on (tests fix it)

    def __post_init__(self) -> None:
        self.templates = Jinja2Templates(directory=HERE / "templates")
        self.templates.env.globals.update(ip_types=IP_TYPES, incidents=tuple(INCIDENTS), outcomes=OUTCOMES)
        industries = {code: f"{industry_name(code, 'zh')} {industry_name(code, 'en')}" for code in INDUSTRIES}
        self.templates.env.globals.update(
            severities=SEVERITIES, market_codes=tuple(MARKETS), industries={ALL_INDUSTRIES: "全部 all", **industries}
        )

    @property
    def url(self) -> str:
        return self.settings.database_url

    @property
    def alerts_dir(self) -> Path:
        return self.settings.alerts_dir

    @property
    def root(self) -> Path:
        """What file names in messages are relative to: knowledge/alerts/<file> as staff know them."""
        return self.settings.knowledge_dir.parent

    def experts(self) -> list[Expert]:
        experts, _ = load_experts(self.settings.experts_file)
        return experts

    def staff(self) -> list[StaffMember]:
        staff, _ = load_staff(self.settings.staff_file)
        return staff

    def render(self, request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("viewer", None)
        context.update(csrf_token=csrf_token(request), flash=request.session.pop("flash", None))
        return self.templates.TemplateResponse(request, name, context, status_code=status_code)


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use); every POST form sends it back."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def viewer(request: Request) -> Viewer:
    """The signed-in viewer, checked against the database at every request (a disabled account is out)."""
    session = request.session
    if link := session.get("link"):
        if time.time() > float(link.get("until", 0)):  # a link's sign-in ends when the link expires
            session.clear()
            raise SignInNeeded(request.url.path)
        return Viewer("expert", str(link["expert"]), expert_id=str(link["expert"]), only_case=str(link["case"]))
    account_id = session.get("account")
    if account_id is None:
        raise SignInNeeded(request.url.path)
    with session_scope(console_of(request).url) as db:
        account = active_account(db, int(account_id))
        found = None if account is None else Viewer(account.role, account.username, expert_id=account.expert_id)
    if found is None:
        session.clear()
        raise SignInNeeded(request.url.path)
    return found


def staff_only(who: Annotated[Viewer, Depends(viewer)]) -> Viewer:
    if not who.staff:
        raise HTTPException(403, "staff only")
    return who


def checked_csrf(request: Request, csrf_token: Annotated[str, Form()] = "") -> None:
    """Refuses a form post whose CSRF token is missing or not this session's."""
    expected = request.session.get("csrf")
    if not expected or not secrets.compare_digest(str(expected), csrf_token):
        raise HTTPException(403, "the form's security token is missing or expired: reload the page")


Who = Annotated[Viewer, Depends(viewer)]
Staff = Annotated[Viewer, Depends(staff_only)]
Csrf = Annotated[None, Depends(checked_csrf)]


def visible(case: Case | None, who: Viewer) -> Case:
    """The case if this viewer may open it; 404 for no such case, 403 for someone else's."""
    if case is None:
        raise HTTPException(404, "no such case")
    if who.staff:
        return case
    if who.only_case is not None and who.only_case != case.case_no:
        raise HTTPException(403, "this link opens another case")
    if who.expert_id is None or not can_see(case, who.expert_id):
        raise HTTPException(403, "this case was not offered to you")
    return case


def awaiting(case: Case, who: Viewer) -> bool:
    """True when this expert has an open offer of the case to answer."""
    return case.status == "open" and any(o.expert_id == who.expert_id and o.state == "offered" for o in case.offers)


def back_to(case_no: str, request: Request, flash: str) -> RedirectResponse:
    request.session["flash"] = flash
    return RedirectResponse(f"/cases/{case_no}", status_code=303)


@dataclass(frozen=True)
class AlertRow:
    """One alert file on the alerts page: its status today, how many subscribers publishing it now would reach
    (a dry run of `fan_out`), and how many it was queued for already, by their notifications' state."""

    alert: Alert
    status: str
    would_reach: int
    sent: dict[str, int]


def safe_next(path: str | None) -> str:
    """A path on this site to go to after signing in (never another site)."""
    return path if path and path.startswith("/") and not path.startswith("//") and "\\" not in path else "/cases"


def create_app(settings: Settings | None = None, secret: str | None = None) -> FastAPI:
    """The console app. Without a secret (CONSOLE_SECRET) one is made for this run, and the log says so."""
    settings = settings or get_settings()
    key = secret or settings.console_secret
    if not key:
        key = secrets.token_urlsafe(32)
        logger.warning(
            "CONSOLE_SECRET is not set: this run signs sessions with a fresh random key, so sign-ins end when it "
            "stops and links in e-mailed offers (signed by the notifier) do not open; set it in .env"
        )
    console = Console(settings, key)
    app = FastAPI(title="IP early-warning console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console = console
    app.add_middleware(
        SessionMiddleware,
        secret_key=key,
        session_cookie="console_session",
        max_age=settings.console_session_hours * 3600,
        same_site="lax",
        https_only=settings.console_base_url.startswith("https://"),
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")  # a link's token never leaves in a Referer
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(SignInNeeded)
    async def sign_in_needed(request: Request, exc: SignInNeeded) -> Response:
        return RedirectResponse(f"/login?next={exc.next_path}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return console.render(
            request, "error.html", status_code=exc.status_code, code=exc.status_code, detail=exc.detail
        )

    @app.get("/health", include_in_schema=False)
    def health() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/")
    def home() -> RedirectResponse:
        return RedirectResponse("/cases", status_code=303)

    @app.get("/login")
    def login_page(request: Request, next: str = "/cases") -> HTMLResponse:
        return console.render(request, "login.html", next=safe_next(next), failed=False)

    @app.post("/login")
    def login(
        request: Request,
        _: Csrf,
        username: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
        next: Annotated[str, Form()] = "/cases",
    ) -> Response:
        name = username.strip().lower()[:64]
        if console.throttle.blocked(name):
            logger.warning("console: sign-ins for one username are paused after repeated failures")
            return console.render(request, "login.html", status_code=429, next=safe_next(next), throttled=True)
        with session_scope(console.url) as db:
            account = authenticate(db, username, password)
            account_id = None if account is None else account.id
        if account_id is None:
            console.throttle.failed(name)
            logger.info("console: a sign-in was refused")
            return console.render(request, "login.html", status_code=401, next=safe_next(next), failed=True)
        console.throttle.succeeded(name)
        request.session.clear()  # a new session: nothing from before the sign-in carries over
        request.session.update(account=account_id, csrf=secrets.token_urlsafe(32))
        logger.info("console: account %s signed in", account_id)
        return RedirectResponse(safe_next(next), status_code=303)

    @app.post("/logout")
    def logout(request: Request, _: Csrf) -> RedirectResponse:
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @app.get("/cases")
    def queue(
        request: Request,
        who: Who,
        status: str = "",
        urgent: bool = False,
        market: str = "",
        ip_type: str = "",
        incident: str = "",
        overdue: bool = False,
    ) -> Response:
        if who.only_case:
            return RedirectResponse(f"/cases/{who.only_case}", status_code=303)
        filters = QueueFilter(
            status=status if status in STATUSES else "",
            urgent=urgent,
            market=market.strip().upper()[:2],
            ip_type=ip_type if ip_type in IP_TYPES else "",
            incident=incident if incident in INCIDENTS else "",
            overdue=overdue,
        )
        now = utcnow()
        with session_scope(console.url) as db:
            cases = case_queue(db, filters, expert_id=None if who.staff else who.expert_id or "-", now=now)
            rows = [(c, is_overdue(c, now), awaiting(c, who)) for c in cases]
            markets = markets_in_use(db)
            return console.render(request, "queue.html", viewer=who, rows=rows, filters=filters, markets=markets)

    @app.get("/cases/{case_no}")
    def case_page(request: Request, case_no: str, token: Annotated[str | None, Query()] = None) -> Response:
        if token is not None:
            found = read_case_token_expiry(console.secret, token, console.settings.console_link_hours * 3600)
            if found is None or found[0] != case_no.upper():
                return console.render(request, "login.html", status_code=401, next="/cases", failed=False, expired=True)
            request.session.clear()
            link = {"case": found[0], "expert": found[1], "until": found[2]}
            request.session.update(link=link, csrf=secrets.token_urlsafe(32))
            logger.info("console: %s opened by its e-mailed link", found[0])
            return RedirectResponse(f"/cases/{found[0]}", status_code=303)  # the token leaves the address bar
        who = viewer(request)
        now = utcnow()
        experts = console.experts()
        with session_scope(console.url) as db:
            case = visible(find_case(db, case_no), who)
            mine = who.staff or (case.status != "open" and case.expert_id == who.expert_id)
            offer = next((o for o in case.offers if o.expert_id == who.expert_id), None)
            can_answer = not who.staff and case.status == "open" and offer is not None and offer.state == "offered"
            ranked = match_experts(experts, case.country, case.ip_type, case.language, case.industry)
            others = [e for e in experts if e.available and e.id not in {m.expert.id for m in ranked}]
            return console.render(
                request,
                "case.html",
                viewer=who,
                case=case,
                overdue=is_overdue(case, now),
                full=mine,
                documents=case_documents(db, case) if mine else [],
                can_answer=can_answer,
                can_note=case.status != "closed" and (who.staff or case.expert_id == who.expert_id),
                can_reply=case.status != "closed"
                and (who.staff or (case.status == "accepted" and case.expert_id == who.expert_id)),
                reply_max=REPLY_MAX_CHARS,
                matches=ranked,
                other_experts=others,
            )

    @app.post("/cases/{case_no}/accept")
    def accept_case(request: Request, case_no: str, who: Who, _: Csrf) -> RedirectResponse:
        if who.staff or who.expert_id is None:
            raise HTTPException(403, "only the experts offered a case accept it")
        with session_scope(console.url) as db:
            number = visible(find_case(db, case_no), who).case_no or case_no
            result = accept(db, number, who.expert_id)
        return back_to(number, request, f"accept:{result}")

    @app.post("/cases/{case_no}/decline")
    def decline_case(request: Request, case_no: str, who: Who, _: Csrf) -> RedirectResponse:
        if who.staff or who.expert_id is None:
            raise HTTPException(403, "only the experts offered a case decline it")
        staff = console.staff()
        with session_scope(console.url) as db:
            number = visible(find_case(db, case_no), who).case_no or case_no
            done = decline(db, number, who.expert_id, staff=staff)
        return back_to(number, request, "declined" if done else "not_open")

    @app.post("/cases/{case_no}/assign")
    def assign_case(
        request: Request, case_no: str, who: Staff, _: Csrf, expert_id: Annotated[str, Form()] = ""
    ) -> RedirectResponse:
        expert = next((e for e in console.experts() if e.id == expert_id), None)
        if expert is None:
            raise HTTPException(400, "choose an expert of the list")
        with session_scope(console.url) as db:
            number = visible(find_case(db, case_no), who).case_no or case_no
            done = assign(db, number, expert, actor=who.actor)
        return back_to(number, request, "assigned" if done else "closed")

    @app.post("/cases/{case_no}/note")
    def note_case(request: Request, case_no: str, who: Who, _: Csrf, text: Annotated[str, Form()] = "") -> Response:
        with session_scope(console.url) as db:
            case = visible(find_case(db, case_no), who)
            if not who.staff and case.expert_id != who.expert_id:
                raise HTTPException(403, "only the expert who has the case adds notes to it")
            number = case.case_no or case_no
            done = add_note(db, number, who.actor, text)
        return back_to(number, request, "noted" if done else "not_noted")

    @app.post("/cases/{case_no}/reply")
    def reply_case(request: Request, case_no: str, who: Who, _: Csrf, text: Annotated[str, Form()] = "") -> Response:
        with session_scope(console.url) as db:
            number = visible(find_case(db, case_no), who).case_no or case_no
            if who.staff:
                relayed = staff_reply(db, number, who.actor, text)
            else:
                relayed = expert_reply(db, number, who.expert_id or "", text)
            if relayed.result == "not_yours":
                raise HTTPException(403, "only the expert who accepted the case writes to its enterprise")
            result = relayed.result
        logger.info("console: a message to the enterprise of %s: %s", number, result)
        return back_to(number, request, f"reply:{result}")

    @app.post("/cases/{case_no}/close")
    def close(
        request: Request,
        case_no: str,
        who: Staff,
        _: Csrf,
        outcome: Annotated[str, Form()] = "",
        note: Annotated[str, Form()] = "",
    ) -> RedirectResponse:
        if outcome not in OUTCOMES:
            raise HTTPException(400, "choose how the case ended")
        with session_scope(console.url) as db:
            number = visible(find_case(db, case_no), who).case_no or case_no
            done = close_case(db, number, who.actor, outcome, note)
        return back_to(number, request, "closed_now" if done else "closed")

    @app.get("/cases/{case_no}/documents/{document_id}")
    def document(case_no: str, document_id: int, who: Who) -> FileResponse:
        with session_scope(console.url) as db:
            case = visible(find_case(db, case_no), who)
            if not who.staff and case.expert_id != who.expert_id:
                raise HTTPException(403, "documents are for the expert who has the case")
            doc = next((d for d in case_documents(db, case) if d.id == document_id), None)
            path = None if doc is None else document_file(console.settings.attachments_dir, doc)
            if doc is None or path is None:
                raise HTTPException(404, "no such document")
            return FileResponse(path, media_type=doc.content_type, filename=doc.filename)

    @app.get("/figures")
    def figures_page(request: Request, who: Staff, since: str = "") -> HTMLResponse:
        month = _month(since)
        with session_scope(console.url) as db:
            result = figures(db, since=month)
        return console.render(request, "figures.html", viewer=who, result=result, since=month or "", charts=CHARTS)

    @app.get("/figures/{name}.svg")
    def chart(name: str, who: Staff, since: str = "") -> Response:
        if name not in CHARTS:
            raise HTTPException(404, "no such chart")
        with session_scope(console.url) as db:
            result = figures(db, since=_month(since))
        return Response(svg_chart(result, name), media_type="image/svg+xml")

    @app.get("/figures.csv")
    def figures_csv(who: Staff, since: str = "") -> Response:
        month = _month(since)
        with session_scope(console.url) as db:
            result = figures(db, since=month)
        name = f"figures-{month or 'all'}.csv"
        return Response(
            csv_text(result),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    # ---- market alerts (staff only) ---------------------------------------------------------------------
    def alert_page(
        request: Request,
        who: Viewer,
        form: AlertForm,
        editing: str | None,
        version: str = "",
        checked: Alert | None = None,
        problems: list[Any] | None = None,
        status_code: int = 200,
    ) -> HTMLResponse:
        """The alert form, with the problems by field, and who `checked` (the saved alert, or the form's once
        checked) would reach if published now."""
        today = console.today()
        path = None if editing is None else alert_file(console.alerts_dir, editing, console.root, today)
        saved = None if path is None else load_alert(path, console.root, today)[0]
        with session_scope(console.url) as db:
            seen = None if checked is None else preview(db, checked)
            sent = delivery_counts(db).get(editing, {}) if editing else {}
        return console.render(
            request,
            "alert_form.html",
            status_code=status_code,
            viewer=who,
            form=form,
            editing=editing,
            version=version,
            checked=checked,
            checked_status=None if checked is None else checked.status(today),
            saved_status=None if saved is None else saved.status(today),
            preview=seen,
            sent=sent,
            errors=form_errors(problems or []),
        )

    def submit_alert(
        request: Request, who: Viewer, form: AlertForm, action: str, editing: str | None, version: str
    ) -> Response:
        """Checks the form (preview: writes nothing) or saves it; on problems the form comes back with them."""
        today = console.today()
        if action == "preview":
            checked, _ = check_form(form, console.alerts_dir, console.root, today, editing)
            code = 200 if checked.ok else 422
            return alert_page(request, who, form, editing, version, checked.alert, checked.problems, code)
        saved = save_alert(form, console.alerts_dir, console.root, today, editing, version)
        if not saved.ok or saved.alert is None:
            return alert_page(request, who, form, editing, version, None, saved.problems, 422)
        logger.info("console: alert file %s written for alert %s", saved.path and saved.path.name, saved.alert.id)
        request.session["flash"] = "alert_saved"
        return RedirectResponse(f"/alerts/{saved.alert.id}/edit", status_code=303)

    @app.get("/alerts")
    def alerts_page(request: Request, who: Staff) -> HTMLResponse:
        today = console.today()
        alerts, problems = load_alerts(console.alerts_dir, console.root, today)
        order = {"active": 0, "scheduled": 1, "expired": 2}
        alerts.sort(key=lambda a: (order[a.status(today)], -a.published.toordinal(), a.id))
        with session_scope(console.url) as db:
            sent = delivery_counts(db)
            rows = [AlertRow(a, a.status(today), fan_out(db, a, dry_run=True), sent.get(a.id, {})) for a in alerts]
        return console.render(request, "alerts.html", viewer=who, rows=rows, problems=problems)

    @app.get("/alerts/new")
    def new_alert(request: Request, who: Staff) -> HTMLResponse:
        return alert_page(request, who, AlertForm.new(console.today()), None)

    @app.post("/alerts/new")
    def create_alert(
        request: Request,
        who: Staff,
        _: Csrf,
        form: Annotated[AlertForm, Form()],
        action: Annotated[str, Form()] = "save",
    ) -> Response:
        return submit_alert(request, who, form, action, None, "")

    @app.get("/alerts/{alert_id}/edit")
    def edit_alert(request: Request, alert_id: str, who: Staff) -> HTMLResponse:
        today = console.today()
        path = alert_file(console.alerts_dir, alert_id, console.root, today)
        alert = None if path is None else load_alert(path, console.root, today)[0]
        if path is None or alert is None:
            raise HTTPException(404, "no valid alert file has this id")
        return alert_page(request, who, AlertForm.of(alert), alert.id, file_version(path), alert)

    @app.post("/alerts/{alert_id}/edit")
    def update_alert(
        request: Request,
        alert_id: str,
        who: Staff,
        _: Csrf,
        form: Annotated[AlertForm, Form()],
        action: Annotated[str, Form()] = "save",
        version: Annotated[str, Form()] = "",
    ) -> Response:
        if alert_file(console.alerts_dir, alert_id, console.root, console.today()) is None:
            raise HTTPException(404, "no valid alert file has this id")
        return submit_alert(request, who, form, action, alert_id, version)

    @app.post("/alerts/{alert_id}/publish")
    def publish_alert(request: Request, alert_id: str, who: Staff, _: Csrf) -> RedirectResponse:
        today = console.today()
        report = publish_one(console.alerts_dir, console.url, alert_id, console.root, today)
        if report.ok and not report.alerts:
            raise HTTPException(404, "no valid alert file has this id")
        if not report.ok:
            request.session["flash"] = "alert_files_invalid"
        elif alert_id in report.queued:
            request.session["flash"] = f"alert_queued|{report.queued[alert_id]}"
            logger.info("console: alert %s published: queued for %s subscribers", alert_id, report.queued[alert_id])
        else:
            request.session["flash"] = f"alert_not_active|{report.alerts[0].status(today)}"
        return RedirectResponse(f"/alerts/{alert_id}/edit" if report.alerts else "/alerts", status_code=303)

    app.include_router(
        upload_router
    )  # the enterprise's upload page: /upload/<token>, no sign-in (bot/console/uploads.py)
    return app


def _month(text: str) -> str | None:
    """A YYYY-MM month from a form field, or None."""
    try:
        return datetime.strptime(text.strip(), "%Y-%m").strftime("%Y-%m") if text.strip() else None
    except ValueError:
        return None
