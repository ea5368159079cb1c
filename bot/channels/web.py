"""The web chat page: a bilingual landing page with the rasa-webchat widget, every file served from here.

    python -m bot.channels.web --host 127.0.0.1 --port 8080

Serves `/` (web/index.html), `/static/…` (web/static/), `/config.js` (generated: the socket URL the
widget connects to), `/vendor/webchat.js` (rasa-webchat's bundle from web/node_modules, with its
remote font import taken out), `/vendor/fonts/noto-sans-sc/…` (the Noto Sans SC CSS and font files
from @fontsource) and `/health`. Nothing else: no directory listings, nothing outside those folders,
a Content-Security-Policy that lets the browser load nothing from anywhere but this server and
the Rasa socket, no framing by other sites, and a 15-second timeout on silent connections. `RASA_URL` (default http://127.0.0.1:5005) is Rasa's base URL; `WEB_SOCKET_URL`
overrides the socket URL the browser uses (a deployment behind a proxy); both are read through actions/settings.py.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import re
import sys
from functools import cached_property
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from actions.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
WEB_DIR = ROOT / "web"
NODE_MODULES = WEB_DIR / "node_modules"
WEBCHAT_BUNDLE = NODE_MODULES / "rasa-webchat" / "lib" / "index.js"
FONT_DIR = NODE_MODULES / "@fontsource" / "noto-sans-sc"
DEFAULT_RASA_URL = "http://127.0.0.1:5005"
SOCKET_PATH = "/socket.io/"

# CSS `@import url(https://…)` / `@import url(//…)` in the bundle's styles (rasa-webchat 1.0.1 pulls Inter
# from Google Fonts this way, eleven times). Removed so that the page loads nothing remote.
REMOTE_IMPORT = re.compile(r"@import url\((?:https?:)?//[^)]*\);?")
FONT_SUFFIXES = (".css", ".woff2", ".woff")
STATIC_SUFFIXES = (".css", ".js", ".svg", ".png", ".ico")


def socket_url(settings: Settings | None = None) -> str:
    """The URL the browser's socket.io client connects to: WEB_SOCKET_URL, else RASA_URL."""
    settings = Settings() if settings is None else settings
    if settings.web_socket_url is not None:
        return settings.web_socket_url.strip().rstrip("/")
    return (settings.rasa_url or DEFAULT_RASA_URL).strip().rstrip("/")


def connect_sources(url: str) -> str:
    """The CSP connect-src for a socket URL: its http(s) origin and the matching ws(s) origin."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "'self'"  # relative or empty: the page's own origin (a reverse proxy)
    ws = "wss" if parts.scheme == "https" else "ws"
    return f"'self' {parts.scheme}://{parts.netloc} {ws}://{parts.netloc}"


def content_security_policy(url: str) -> str:
    """The page's CSP: scripts, styles, fonts and images from this server only; sockets to Rasa."""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",  # the widget injects its <style> tags at run time
            "font-src 'self' data:",  # the widget inlines its icon fonts as data: URIs
            "img-src 'self' data:",
            f"connect-src {connect_sources(url)}",
            "media-src 'self'",
            "frame-src 'none'",
            "frame-ancestors 'none'",  # no other site may frame the page (clickjacking)
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
        ]
    )


def config_js(url: str) -> str:
    """The generated /config.js: what the page's script needs to start the widget."""
    config = {"socketUrl": url, "socketPath": SOCKET_PATH}
    return f"window.IPBOT_CONFIG = {json.dumps(config, ensure_ascii=False)};\n"


def local_webchat_bundle(path: Path = WEBCHAT_BUNDLE) -> bytes:
    """rasa-webchat's bundle with its remote CSS imports (Google Fonts) removed."""
    return REMOTE_IMPORT.sub("", path.read_text(encoding="utf-8")).encode("utf-8")


def resolve_under(root: Path, relative: str, suffixes: tuple[str, ...]) -> Path | None:
    """A file below root with one of the suffixes, or None (also for anything outside root)."""
    if not relative or "\x00" in relative or "\\" in relative:
        return None
    base = root.resolve()
    candidate = (base / relative).resolve()
    if not candidate.is_relative_to(base) or not candidate.is_file():
        return None
    return candidate if candidate.name.endswith(suffixes) else None


class ServerConfig:
    """What every request needs: the socket URL, its CSP and the widget bundle (read once)."""

    def __init__(self, socket_url: str, bundle_path: Path = WEBCHAT_BUNDLE) -> None:
        self.socket_url = socket_url
        self.csp = content_security_policy(socket_url)
        self.webchat_bundle = local_webchat_bundle(bundle_path)


class WebChatHandler(BaseHTTPRequestHandler):
    """Answers GET and HEAD for the page, its config, the widget bundle and the fonts."""

    server_version = "ipbot-web"
    sys_version = ""
    timeout = 15  # seconds a connection may stay silent (socket timeout): a slow client cannot hold a thread

    @cached_property
    def config(self) -> ServerConfig:
        """The server's settings (socket URL, cached bundle)."""
        server = self.server
        assert isinstance(server, WebChatServer)
        return server.config

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        """Sends the file or generated text for the path, or 404."""
        self._respond(with_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        """Like GET, without the body."""
        self._respond(with_body=False)

    def _respond(self, with_body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        found = self._route(path)
        if found is None:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8", "no-store", with_body)
            return
        body, content_type, cache = found
        self._send(HTTPStatus.OK, body, content_type, cache, with_body)

    def _route(self, path: str) -> tuple[bytes, str, str] | None:
        """(body, content type, cache policy) for a path, or None."""
        if path in ("/", "/index.html"):
            return (WEB_DIR / "index.html").read_bytes(), "text/html; charset=utf-8", "no-cache"
        if path == "/health":
            return b"ok\n", "text/plain; charset=utf-8", "no-store"
        if path == "/config.js":
            return config_js(self.config.socket_url).encode("utf-8"), "text/javascript; charset=utf-8", "no-cache"
        if path == "/vendor/webchat.js":
            return self.config.webchat_bundle, "text/javascript; charset=utf-8", "public, max-age=3600"
        for prefix, root, suffixes, cache in (
            ("/static/", WEB_DIR / "static", STATIC_SUFFIXES, "no-cache"),
            ("/vendor/fonts/noto-sans-sc/", FONT_DIR, FONT_SUFFIXES, "public, max-age=86400"),
        ):
            if path.startswith(prefix):
                file = resolve_under(root, path[len(prefix) :], suffixes)
                if file is None:
                    return None
                return file.read_bytes(), _content_type(file), cache
        return None

    def _send(self, status: HTTPStatus, body: bytes, content_type: str, cache: str, with_body: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")  # frame-ancestors for browsers without CSP level 2
        if content_type.startswith("text/html"):
            self.send_header("Content-Security-Policy", self.config.csp)
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
        """One access-log line on stderr (the stack sends it to .run/web.log)."""
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def _content_type(file: Path) -> str:
    kind = {".woff2": "font/woff2", ".woff": "font/woff", ".js": "text/javascript", ".css": "text/css"}.get(
        file.suffix
    ) or (mimetypes.guess_type(file.name)[0] or "application/octet-stream")
    return f"{kind}; charset=utf-8" if kind.startswith("text/") else kind


class WebChatServer(ThreadingHTTPServer):
    """A threading HTTP server that carries the page's settings."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], config: ServerConfig) -> None:
        self.config = config
        super().__init__(address, WebChatHandler)


def missing_files() -> list[Path]:
    """The npm files the page needs and does not find (empty when `make web` has run)."""
    return [p for p in (WEBCHAT_BUNDLE, FONT_DIR / "400.css", WEB_DIR / "index.html") if not p.is_file()]


def make_server(host: str, port: int, settings: Settings | None = None) -> WebChatServer:
    """The page server bound to host:port (port 0: any free port), not yet serving."""
    return WebChatServer((host, port), ServerConfig(socket_url(settings)))


def main(argv: list[str] | None = None) -> int:
    """Serves the page until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m bot.channels.web", description="Serve the web chat page.")
    settings = Settings()
    parser.add_argument("--host", default=settings.web_host)
    parser.add_argument("--port", type=int, default=settings.web_port)
    args = parser.parse_args(argv)
    missing = missing_files()
    if missing:
        names = ", ".join(str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in missing)
        print(f"the web widget's files are missing ({names}): run `make web`", file=sys.stderr)
        return 2
    server = make_server(args.host, args.port)
    host, port = str(server.server_address[0]), int(server.server_address[1])
    print(f"web chat page on http://{host}:{port}/ (socket.io: {server.config.socket_url})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
