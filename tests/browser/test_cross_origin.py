"""A page on another origin uses the API from headless Chromium: fetch with a bearer
header (CORS, app/core/cors.py) and the live audit stream through EventSource with a stream
ticket (app/audit/tickets.py). The page writes what happened into its DOM; the test reads it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from app.config import Settings
from tests.audit.conftest import record_events
from tests.browser.chromium import Chromium, Page
from tests.browser.conftest import PageServer
from tests.conftest import LiveServer, Tenant

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>client</title></head>
<body><pre id="out">{}</pre><script>
const api = %(api)s, key = %(key)s;
const out = document.getElementById("out");
const state = {events: []};
const show = (k, v) => { state[k] = v; out.textContent = JSON.stringify(state); };
(async () => {
  try {
    const r = await fetch(api + "/api/v1/projects", {headers: {Authorization: "Bearer " + key}});
    const body = await r.json();
    show("fetch", {status: r.status, request_id: r.headers.get("X-Request-ID"),
                   has_data: Array.isArray(body.data)});
  } catch (e) { show("fetch", {error: String(e)}); }
  try {
    const r = await fetch(api + "/api/v1/audit/stream/tickets",
                          {method: "POST", headers: {Authorization: "Bearer " + key}});
    const t = await r.json();
    show("ticket", {status: r.status});
    const es = new EventSource(api + "/api/v1/audit/stream?ticket=" + encodeURIComponent(t.ticket));
    es.addEventListener("open", () => show("sse_open", true));
    es.addEventListener("audit", (ev) => {
      state.events.push(JSON.parse(ev.data).action); show("events", state.events);
    });
    es.addEventListener("error", () => show("sse_error", es.readyState));
  } catch (e) { show("ticket", {error: String(e)}); }
})();
</script></body></html>"""


@pytest.fixture
def cors_server(settings: Settings, page_servers: tuple[PageServer, PageServer]
                ) -> Iterator[LiveServer]:
    allowed, _ = page_servers
    server = LiveServer(settings.model_copy(update={"cors_origins": [allowed.origin]})).start()
    yield server
    server.stop()


ClientTab = Callable[[PageServer], AbstractAsyncContextManager[Page]]


@pytest.fixture
def client_tab(chromium: Chromium, cors_server: LiveServer, tenant: Tenant) -> ClientTab:
    """client_tab(page): a tab showing PAGE served from `page`'s origin, calling cors_server
    with the tenant owner's API key."""
    @asynccontextmanager
    async def open_tab(page: PageServer) -> AsyncIterator[Page]:
        page.html = (PAGE % {"api": json.dumps(cors_server.url),
                             "key": json.dumps(tenant.owner.api_key)}).encode()
        async with chromium.page() as tab:
            await tab.goto(page.origin + "/")
            yield tab

    return open_tab


async def _state_when(tab: Page, condition: str) -> dict[str, Any]:
    """The page's state, once the JavaScript `condition` on `state` holds."""
    await tab.wait_for(f"(state => {condition})"
                       "(JSON.parse(document.getElementById('out').textContent))")
    text = await tab.evaluate("document.getElementById('out').textContent")
    return dict(json.loads(text or "{}"))


async def test_allowed_origin_fetches_and_streams_with_a_ticket(
        client_tab: ClientTab, tenant: Tenant, page_servers: tuple[PageServer, PageServer]
) -> None:
    allowed, _ = page_servers
    async with client_tab(allowed) as tab:
        state = await _state_when(tab, "state.sse_open")
        assert state["fetch"]["status"] == 200 and state["fetch"]["has_data"]
        assert state["fetch"]["request_id"]  # an exposed header the script can read
        assert state["ticket"] == {"status": 201}
        await record_events(tenant, 1, action="project.create")
        state = await _state_when(tab, "state.events.includes('project.create')")
        assert state["events"][0] == "audit.stream"  # the stream's own event, then live ones
        assert "sse_error" not in state


async def test_other_origin_is_refused_by_the_browser(
        client_tab: ClientTab, tenant: Tenant, page_servers: tuple[PageServer, PageServer]
) -> None:
    _, other = page_servers
    async with client_tab(other) as tab:
        state = await _state_when(tab, "state.ticket")
    assert "error" in state["fetch"]  # TypeError: Failed to fetch (CORS)
    assert "error" in state["ticket"]
    assert not state["events"]
    # the refused preflight never reached the ticket route: no ticket was made
    assert await tenant.sql("SELECT 1 FROM audit_stream_tickets") == []
