"""The web chat page server (bot/channels/web.py) on a free loopback port: routes, config, no path traversal."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from actions.settings import Settings
from bot.channels import web

pytestmark = pytest.mark.enable_socket  # loopback only: pyproject's --allow-hosts keeps it to 127.0.0.1


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for rasa-webchat's bundle, with the remote font import the real one has."""
    path = tmp_path_factory.mktemp("webchat") / "index.js"
    css = "@import url(https://fonts.googleapis.com/css?family=Inter:400,500,700&display=swap);"
    path.write_text(f'var css = ["{css}", ".rw-message{{font-family:Inter}}"]; window.WebChat = {{}};\n')
    return path


@pytest.fixture(scope="module")
def fonts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A stand-in for @fontsource/noto-sans-sc: one CSS file and one font file (no npm needed)."""
    root = tmp_path_factory.mktemp("fontsource") / "noto-sans-sc"
    (root / "files").mkdir(parents=True)
    (root / "files" / "noto-sans-sc-0-400-normal.woff2").write_bytes(b"wOF2" + bytes(60))
    (root / "400.css").write_text("@font-face { src: url(./files/noto-sans-sc-0-400-normal.woff2); }\n")
    (root / "package.json").write_text("{}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(web, "FONT_DIR", root)
        yield root


@pytest.fixture(scope="module")
def server(bundle: Path, fonts: Path) -> Iterator[tuple[str, int]]:
    """The page server in a thread on 127.0.0.1, with the stand-ins and a known socket URL."""
    config = web.ServerConfig("http://127.0.0.1:5005", bundle_path=bundle)
    httpd = web.WebChatServer(("127.0.0.1", 0), config)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "127.0.0.1", httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def get(server: tuple[str, int], path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one request to the page server."""
    connection = http.client.HTTPConnection(*server, timeout=5)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_health(server):
    assert get(server, "/health")[::2] == (200, b"ok\n")


def test_page_has_the_widget_the_disclaimer_and_a_strict_csp(server):
    status, headers, body = get(server, "/")
    page = body.decode("utf-8")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    for src in ("/config.js", "/vendor/webchat.js", "/static/chat.js", "/vendor/fonts/noto-sans-sc/400.css"):
        assert src in page
    assert "不构成法律意见" in page and "not legal advice" in page
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "font-src 'self' data:" in csp
    assert "connect-src 'self' http://127.0.0.1:5005 ws://127.0.0.1:5005" in csp


def test_the_privacy_note_says_what_is_kept_for_how_long_and_the_right_to_a_copy_or_deletion(server):
    page = get(server, "/")[2].decode("utf-8")
    assert "结案一年后联系方式和案情即被清除" in page and "个人信息保护法" in page
    assert "cleared one year after the case is closed" in page and "for a copy or for deletion" in page


def test_config_js_names_the_socket(server):
    status, headers, body = get(server, "/config.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    assert (
        body.decode() == 'window.IPBOT_CONFIG = {"socketUrl": "http://127.0.0.1:5005", "socketPath": "/socket.io/"};\n'
    )


def test_webchat_bundle_is_served_without_remote_imports(server):
    status, _, body = get(server, "/vendor/webchat.js")
    assert status == 200 and b"window.WebChat" in body
    assert b"fonts.googleapis.com" not in body and b"@import" not in body


def test_font_css_and_files_are_served(server):
    status, headers, body = get(server, "/vendor/fonts/noto-sans-sc/400.css")
    assert status == 200 and headers["content-type"] == "text/css; charset=utf-8"
    first = body.decode().split("url(./", 1)[1].split(")", 1)[0]
    status, headers, font = get(server, f"/vendor/fonts/noto-sans-sc/{first}")
    assert status == 200 and headers["content-type"] == "font/woff2" and font[:4] == b"wOF2"


def test_head_has_no_body(server):
    status, headers, body = get(server, "/health", method="HEAD")
    assert status == 200 and headers["content-length"] == "3" and body == b""


@pytest.mark.parametrize(
    "path",
    [
        "/../README.md",
        "/static/../../README.md",
        "/static/%2e%2e/%2e%2e/pyproject.toml",
        "/vendor/fonts/noto-sans-sc/../../../rasa-webchat/package.json",
        "/vendor/fonts/noto-sans-sc/%2e%2e/%2e%2e/%2e%2e/package.json",
        "/vendor/fonts/noto-sans-sc/package.json",  # inside the root, but not a font or CSS file
        "/vendor/fonts/noto-sans-sc/",  # no directory listings
        "/vendor/fonts/noto-sans-sc/files",
        "/static/",
        "/vendor/",
        "/web/index.html",
        "/bot/web.py",
        "/static/%00chat.js",
        "/static/..%5c..%5cREADME.md",
    ],
)
def test_nothing_outside_the_served_files(server, path):
    assert get(server, path)[0] == 404


def test_socket_url_prefers_web_socket_url_then_rasa_url():
    assert web.socket_url(Settings(_env_file=None)) == "http://127.0.0.1:5005"
    assert web.socket_url(Settings(_env_file=None, rasa_url="http://127.0.0.1:6006/")) == "http://127.0.0.1:6006"
    both = Settings(_env_file=None, rasa_url="http://x:1", web_socket_url="https://chat.example.org")
    assert web.socket_url(both) == "https://chat.example.org"
    assert web.socket_url(Settings(_env_file=None, web_socket_url="")) == ""  # set but empty: the page's own origin


def test_csp_allows_the_socket_origin_only():
    assert web.connect_sources("https://chat.example.org/rasa") == (
        "'self' https://chat.example.org wss://chat.example.org"
    )
    assert web.connect_sources("") == "'self'"  # same origin behind a reverse proxy


def test_main_says_run_make_web_when_the_npm_files_are_missing(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(web, "WEBCHAT_BUNDLE", tmp_path / "missing.js")
    assert web.main(["--port", "0"]) == 2
    assert "run `make web`" in capsys.readouterr().err


def test_no_other_site_may_frame_the_page(server):
    _, headers, _ = get(server, "/")
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"


def test_a_silent_connection_is_closed_instead_of_holding_a_thread(server, monkeypatch):
    import socket

    monkeypatch.setattr(web.WebChatHandler, "timeout", 0.3)
    with socket.create_connection(server, timeout=10) as silent:
        silent.sendall(b"GET / HTTP/1.1\r\n")  # a request that never ends
        assert silent.recv(1024) == b"", "the server should have closed the silent connection"
    assert get(server, "/health")[0] == 200
