"""Debian's headless Chromium, driven over the Chrome DevTools protocol (CDP) with the
`websockets` client, and with no network beyond loopback.

`make install` installs the `chromium` package. Every non-loopback request is sent to a proxy
that does not exist (127.0.0.1:9) and no host name but the loopback ones resolves, so a page
that needs a CDN renders without it or not at all: exactly what an air-gapped deployment sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from bench.process import stop_process

OFFLINE_FLAGS = [
    "--proxy-server=127.0.0.1:9",  # loopback bypasses proxies implicitly; nothing else gets out
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]


def chromium_binary() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise RuntimeError("Chromium is not installed; run `make install` (apt package chromium)")
    return path


class Page:
    """One tab: navigate, then evaluate JavaScript until a condition holds."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self._ids)
        await self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:  # events (no id) are not subscribed to, but skip any that arrive
            reply = json.loads(await self._ws.recv())
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"CDP {method}: {reply['error']}")
                return dict(reply.get("result", {}))

    async def goto(self, url: str) -> None:
        result = await self.send("Page.navigate", url=url)
        if result.get("errorText"):
            raise RuntimeError(f"navigation to {url} failed: {result['errorText']}")

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            return None
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 30.0) -> Any:
        """Poll `expression` until it is truthy; its value, or AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.1)
        raise AssertionError(f"{expression!r} was not truthy within {timeout}s (last: {value!r})")


class Chromium:
    def __init__(self) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="drift-chromium-"))
        self.proc = subprocess.Popen(
            [chromium_binary(), "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking",
             "--disable-component-update", "--remote-debugging-port=0",
             f"--user-data-dir={self.profile}", *OFFLINE_FLAGS, "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.port = self._devtools_port()

    def _devtools_port(self) -> int:
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.proc.returncode}")
            with contextlib.suppress(FileNotFoundError, ValueError, IndexError):
                return int(marker.read_text().splitlines()[0])
            time.sleep(0.05)
        raise RuntimeError("chromium did not open its DevTools port")

    @contextlib.asynccontextmanager
    async def page(self) -> AsyncIterator[Page]:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}") as http:
            target = (await http.put("/json/new?about:blank")).json()
            try:
                async with connect(target["webSocketDebuggerUrl"], max_size=None,
                                   open_timeout=30) as ws:
                    yield Page(ws)
            finally:
                await http.get(f"/json/close/{target['id']}")

    def close(self) -> None:
        stop_process(self.proc)
        shutil.rmtree(self.profile, ignore_errors=True)
