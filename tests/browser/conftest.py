"""Fixtures for the tests that run real pages in headless Chromium (tests/browser/chromium.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.browser.chromium import Chromium


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    browser = Chromium()
    yield browser
    browser.close()


class PageServer:
    """A static HTML page on a loopback port of its own: another origin than the API's."""

    def __init__(self) -> None:
        self.html = b""
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(server.html)))
                self.end_headers()
                self.wfile.write(server.html)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def page_servers() -> Iterator[tuple[PageServer, PageServer]]:
    """Two page origins: the test allows the first one only."""
    servers = (PageServer(), PageServer())
    yield servers
    for s in servers:
        s.close()
