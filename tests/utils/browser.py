"""Open a map page in headless Chromium with the network blocked: draw time, screenshot, requests.

A test utility (not shipped): for the browser tests, ``benchmarks/bench_maps.py`` and the screenshots
under ``docs/``. Chromium is driven through the DevTools protocol over a pipe (``--remote-debugging-pipe``:
JSON messages separated by NUL bytes on file descriptors 3 and 4), so nothing but the standard library
is needed. Every request the browser tries to send to the network goes to :class:`RecordingProxy`, a
proxy on 127.0.0.1 that answers none of them and records them all; host names also resolve to nothing,
and the browser's own Google services are pointed at a closed port on 127.0.0.1.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Where Debian's ``chromium`` package installs the browser.
CHROMIUM = "/usr/bin/chromium"
#: The browser binary behind Debian's wrapper script. The wrapper adds Google API keys and
#: ``--enable-remote-extensions``, which make the browser itself call accounts.google.com and the
#: extension updater; the binary is run directly so that only the page could cause a request.
CHROMIUM_BINARY = "/usr/lib/chromium/chromium"


class BrowserError(RuntimeError):
    """Chromium could not be started, or the page did not draw in time."""


def find_chromium() -> str | None:
    """Path of a Chromium executable (the binary behind Debian's wrapper when present), or None."""
    for path in (CHROMIUM_BINARY, CHROMIUM):
        if Path(path).is_file():
            return path
    return shutil.which("chromium") or shutil.which("chromium-browser")


class RecordingProxy:
    """An HTTP proxy on 127.0.0.1 that records each request line (``CONNECT host:443``, ``GET http://...``)
    and answers 403; use as a context manager, then read :attr:`requests`."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.port = int(self._server.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="recording-proxy", daemon=True)

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._server.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    data = conn.recv(4096)
                except OSError:
                    data = b""
                line = data.split(b"\r\n", 1)[0].decode("latin-1").strip()
                self.requests.append(line or "<connection without a request>")
                with suppress(OSError):
                    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


class _Pipe:
    """The DevTools protocol over Chromium's debugging pipe."""

    def __init__(self, to_browser: int, from_browser: int) -> None:
        self._out = os.fdopen(to_browser, "wb", buffering=0)
        self._in = os.fdopen(from_browser, "rb", buffering=0)
        self._next_id = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="cdp-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = self._in.read(65536)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cond:
                    self._replies[-1] = {"error": {"message": "browser closed the pipe"}}
                    self._cond.notify_all()
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" in message:
                    with self._cond:
                        self._replies[message["id"]] = message
                        self._cond.notify_all()
                else:
                    self.events.put(message)

    def call(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None,
             timeout: float = 30.0) -> dict[str, Any]:
        self._next_id += 1
        msg_id = self._next_id
        message: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            self._out.write(json.dumps(message).encode() + b"\0")
        except OSError as exc:
            raise BrowserError(f"cannot send {method}: the browser is not running ({exc})") from None
        deadline = time.monotonic() + timeout
        with self._cond:
            while msg_id not in self._replies and -1 not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BrowserError(f"no reply to {method} within {timeout:g} s")
                self._cond.wait(left)
            reply = self._replies.pop(msg_id, None) or self._replies[-1]
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error'].get('message')}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    def close(self) -> None:
        """Close our end of the command pipe; wait for the browser's end to close, then ours."""
        with suppress(OSError):
            self._out.close()
        self._reader.join(timeout=10)
        with suppress(OSError):
            self._in.close()


@dataclass
class PageResult:
    """What one page load gave: draw time (ms after navigation start), screenshot, requests, errors."""

    drawn_ms: float
    png: bytes | None
    prepared: Any = None  # what the ``prepare`` expression returned (JSON value)
    network_requests: list[str] = field(default_factory=list)  # URLs the page asked for (not file/data)
    exceptions: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


def _flags(user_dir: str, proxy_port: int, window: tuple[int, int], server: str | None = None) -> list[str]:
    # a page of a local server (the console) draws with WebGL: software rendering, not --disable-gpu
    graphics = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader"] if server else ["--disable-gpu"]
    return [
        "--headless", "--no-sandbox", *graphics, "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--disable-extensions", "--disable-breakpad", "--disable-domain-reliability",
        "--disable-client-side-phishing-detection", "--no-first-run", "--no-default-browser-check",
        "--metrics-recording-only", "--mute-audio", "--hide-scrollbars", "--no-pings",
        "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,"
        "AutofillServerCommunication,CertificateTransparencyComponentUpdater,InterestFeedContentSuggestions,"
        "NetworkTimeServiceQuerying",
        f"--user-data-dir={user_dir}",
        f"--proxy-server=http://127.0.0.1:{proxy_port}",
        # loopback goes to the recording proxy too, except the local server's own host:port
        f"--proxy-bypass-list=<-loopback>;{server}" if server else "--proxy-bypass-list=<-loopback>",
        '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
        # The browser's own services (component updater, Google sign-in) would call Google even with
        # the flags above; point them at a closed port on this machine instead.
        "--component-updater=url-source=http://127.0.0.1:9/",
        "--gaia-url=http://127.0.0.1:9/",
        f"--window-size={window[0]},{window[1]}",
        "--remote-debugging-pipe",
    ]


@contextmanager
def _browser(proxy_port: int, window: tuple[int, int], server: str | None = None) -> Iterator[_Pipe]:
    exe = find_chromium()
    if exe is None:
        raise BrowserError("chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="v5g-chromium-") as user_dir, \
            tempfile.TemporaryFile(prefix="v5g-chromium-log-") as log:
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()
        # Chromium reads commands on fd 3 and writes replies on fd 4. The child's ends are first moved
        # to descriptors >= 10 so that placing them on 3 and 4 cannot overwrite one with the other
        # (bash, not sh: dash only redirects descriptors 0-9).
        child_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
        child_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
        for fd in (to_browser_r, from_browser_w):
            os.close(fd)
        shell = f'exec "$0" "$@" 3<&{child_r} 4>&{child_w}'
        proc = subprocess.Popen(["/bin/bash", "-c", shell, exe, *_flags(user_dir, proxy_port, window, server),
                                 "about:blank"],
                                pass_fds=(child_r, child_w), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=log)
        os.close(child_r)
        os.close(child_w)
        pipe = _Pipe(to_browser_w, from_browser_r)
        try:
            yield pipe
        except BrowserError as exc:
            log.seek(0)
            tail = log.read()[-2000:].decode("utf-8", "replace").strip()
            raise BrowserError(f"{exc}; browser log: {tail}" if tail else str(exc)) from None
        finally:
            with suppress(BrowserError, OSError):
                pipe.call("Browser.close", timeout=5)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            pipe.close()


def open_page(path: Path | str, *, screenshot: bool = True, window: tuple[int, int] = (1280, 900),
              timeout_s: float = 60.0, settle_ms: int = 300, prepare: str | None = None
              ) -> tuple[PageResult, list[str]]:
    """Load ``path`` (a local HTML file, or an ``http://127.0.0.1:PORT/...`` page of a local server)
    offline; return the page result and the proxy's records. Only that server is reachable; its pages
    draw with WebGL in software (SwiftShader).

    Waits for ``window.village5gReady`` (see :class:`maps.elements.ReadyHook`), runs the JavaScript
    expression ``prepare`` if given (awaited when it returns a promise; e.g. open a popup for a
    screenshot), lets the page settle ``settle_ms`` for anything it might still fetch, then takes a PNG
    screenshot of the viewport.
    """
    text = str(path)
    server = text.split("/")[2] if text.startswith("http://127.0.0.1:") else None
    url = text if server else Path(path).resolve().as_uri()
    with RecordingProxy() as proxy, _browser(proxy.port, window, server) as cdp:
        target = cdp.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = cdp.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Network"):
            cdp.call(f"{domain}.enable", session=session)
        cdp.call("Emulation.setDeviceMetricsOverride",
                 {"width": window[0], "height": window[1], "deviceScaleFactor": 1, "mobile": False},
                 session=session)
        cdp.call("Page.navigate", {"url": url}, session=session)
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        while not any(e.get("method") == "Page.loadEventFired" for e in events):
            try:
                events.append(cdp.events.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                raise BrowserError(f"{url} did not load within {timeout_s:g} s") from None
        ready = cdp.call("Runtime.evaluate", {
            "expression": "window.village5gReady || Promise.reject(new Error('no village5g map on this page'))",
            "awaitPromise": True, "returnByValue": True}, session=session,
            timeout=max(1.0, deadline - time.monotonic()))
        if "exceptionDetails" in ready:
            raise BrowserError(f"the page did not draw: {ready['exceptionDetails']}")
        drawn_ms = float(ready["result"]["value"])
        prepared = None
        if prepare:
            done = cdp.call("Runtime.evaluate", {"expression": prepare, "awaitPromise": True,
                                                 "returnByValue": True}, session=session, timeout=timeout_s)
            if "exceptionDetails" in done:
                raise BrowserError(f"prepare script failed: {done['exceptionDetails']}")
            prepared = done.get("result", {}).get("value")
        time.sleep(settle_ms / 1000)
        png = None
        if screenshot:
            png = base64.b64decode(cdp.call("Page.captureScreenshot", {"format": "png"}, session=session)["data"])
        result = PageResult(drawn_ms, png, prepared)
        while True:
            try:
                events.append(cdp.events.get_nowait())
            except queue.Empty:
                break
        for event in events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Network.requestWillBeSent":
                request_url = params.get("request", {}).get("url", "")
                local = ("file:", "data:", "about:", "blob:", *((f"http://{server}/",) if server else ()))
                if not request_url.startswith(local):
                    result.network_requests.append(request_url)
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                result.exceptions.append(str(details.get("exception", {}).get("description") or details))
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                result.console_errors.append(" ".join(str(a.get("value", a.get("description")))
                                                      for a in params.get("args", [])))
        return result, list(proxy.requests)



def require_browser() -> None:
    """Skip the calling test when Chromium is missing (fail instead when VILLAGE5G_REQUIRE_BROWSER=1)."""
    import pytest

    if find_chromium() is None:
        if os.environ.get("VILLAGE5G_REQUIRE_BROWSER") == "1":
            pytest.fail("VILLAGE5G_REQUIRE_BROWSER=1 but chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium); set VILLAGE5G_REQUIRE_BROWSER=1 "
                    "to make this a failure")


def assert_offline(result: PageResult, proxy_requests: list[str]) -> None:
    """Nothing of the page reached the network, and it ran without errors."""
    assert proxy_requests == [], f"requests reached the network proxy: {proxy_requests}"
    assert result.network_requests == [], f"the page asked for: {result.network_requests}"
    assert result.exceptions == [] and result.console_errors == []


def page_script(body: str, *, key: str | None = None, polls: int = 150) -> str:
    """An async script for :func:`open_page`'s ``prepare``: ``body`` (JavaScript statements ending in a
    ``return``) after ``until(f)``, which polls ``f`` every 200 ms, ``polls`` times at most (none: 0), and,
    with ``key``, the console's sign-in as the header's button does it (the session cookie is the
    browser's; the page takes the CSRF token)."""
    until = ("const until = async (f) => { for (let i = 0; i < POLLS; i++) { if (f()) return true;\n"
             "  await new Promise(r => setTimeout(r, 200)); } return false; };\n").replace("POLLS", str(polls))
    sign_in = ("const login = await fetch('/console/login', {method: 'POST', headers: "
               "{'Content-Type': 'application/json'}, body: JSON.stringify({key: KEY})});\n"
               "window.VILLAGE5G.csrf = (await login.json()).csrf;\n").replace("KEY", json.dumps(key))
    return "(async () => {\n" + (until if polls else "") + (sign_in if key else "") + body + "})()"
