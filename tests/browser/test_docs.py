"""/docs and /redoc render in a browser that cannot reach anything beyond loopback: the
Swagger UI and ReDoc assets come from the installed package (app/core/docs.py), not a CDN."""

from __future__ import annotations

import pytest

from tests.browser.chromium import Chromium
from tests.conftest import LiveServer

# text that only the rendered UI puts into the DOM (the HTML itself names no API path)
RENDERED = ("(document.body && document.body.textContent.includes('/api/v1/projects')"
            " && document.body.textContent.includes('/api/v1/audit/stream'))")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_page_renders_the_operations_offline(chromium: Chromium,
                                                        live_server: LiveServer,
                                                        page: str) -> None:
    async with chromium.page() as tab:
        await tab.goto(live_server.url + page)
        assert await tab.wait_for(RENDERED, timeout=60)
        if page == "/docs":  # Swagger UI's own markup, built by its script
            assert await tab.evaluate("document.querySelectorAll('.opblock').length") > 20
        else:
            assert await tab.evaluate("!!document.querySelector('.redoc-wrap')")
