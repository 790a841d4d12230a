"""
Headless Chromium (Debian's ``chromium``) driven through the DevTools protocol, with ``websockets``.

The UI is Airflow 3's React app: the harness logs in the way the login page does (a JWT from
``POST /auth/token``, kept in the ``_token`` cookie), opens pages, clicks what a person clicks (found by
their visible text), types into the inputs, waits for what should appear, and takes PNG screenshots.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from tests.deployment.stack import CheckFailed, StackError, kill_processes, say, wait_for

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
    "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
)  # fmt: skip


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise StackError("chromium is not installed: apt-get install -y chromium (make system-test does)")


class Browser:
    """One headless Chromium with one page, driven over the DevTools protocol."""

    def __init__(self, log_dir: Path, width: int = 1280, height: int = 860) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
        self.log_path = log_dir / "chromium.log"
        self.width, self.height = width, height
        self._ids = itertools.count(1)
        self.proc: subprocess.Popen[bytes] | None = None
        self.ws: Any = None

    def __enter__(self) -> Browser:
        from websockets.sync.client import connect

        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [find_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}",
                 f"--window-size={self.width},{self.height}", "about:blank"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        say(f"started chromium (pid {self.proc.pid})")
        active = self.profile / "DevToolsActivePort"
        port = wait_for("Chromium's DevTools port", lambda: active.exists() and active.read_text().split()[0],
                        timeout=60)  # fmt: skip
        pages = wait_for(
            "Chromium's first page",
            lambda: [t for t in requests.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
                     if t.get("type") == "page"],
            timeout=30,
        )  # fmt: skip
        self.ws = connect(pages[0]["webSocketDebuggerUrl"], max_size=64 << 20, open_timeout=30)
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send("Network.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height, deviceScaleFactor=1,
                  mobile=False)  # fmt: skip
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()
        if self.proc is not None:
            import psutil

            with contextlib.suppress(psutil.Error):
                root = psutil.Process(self.proc.pid)
                kill_processes([*root.children(recursive=True), root])
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command; its result (events arriving meanwhile are skipped)."""
        message_id = next(self._ids)
        self.ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == message_id:
                if "error" in message:
                    raise StackError(f"DevTools {method} failed: {message['error']}")
                return message.get("result", {})
        raise StackError(f"DevTools {method} got no answer in 60 s")

    def js(self, expression: str) -> Any:
        """Evaluate JavaScript in the page (promises awaited); its JSON value."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise StackError(f"JavaScript failed: {result['exceptionDetails'].get('text')} in {expression[:200]}")
        return result.get("result", {}).get("value")

    def set_cookie(self, url: str, name: str, value: str) -> None:
        self.send("Network.setCookie", url=url, name=name, value=value, path="/")

    def goto(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        wait_for(f"{url} to load", lambda: self.js("document.readyState") == "complete", timeout=60, interval=0.3)

    def wait_text(self, text: str, timeout: float = 60) -> None:
        """Wait until ``text`` is visible on the page."""
        wait_for(f"the page to show {text!r}", lambda: self.js(f"document.body.innerText.includes({json.dumps(text)})"),
                 timeout=timeout, interval=0.3)  # fmt: skip

    def click_text(self, text: str, selector: str = "button, a, [role=button], [role=tab], [role=option]",
                   timeout: float = 30) -> None:  # fmt: skip
        """Click, with the mouse, the visible element matching ``selector`` whose text is ``text``."""
        script = f"""(() => {{
            const want = {json.dumps(text)};
            const all = [...document.querySelectorAll({json.dumps(selector)})].filter(e => e.offsetParent !== null);
            const hit = all.find(e => e.innerText.trim() === want) || all.find(e => e.innerText.includes(want))
                || all.find(e => (e.getAttribute('aria-label') || '').includes(want));
            if (!hit) return null;
            hit.scrollIntoView({{block: 'center'}});
            const r = hit.getBoundingClientRect();
            return [r.x + r.width / 2, r.y + r.height / 2];
        }})()"""
        last: list[Any] = [None]

        def steady() -> Any:
            # The same place twice in a row: the page has stopped re-rendering and moving things.
            where = self.js(script)
            settled = where if where is not None and where == last[0] else None
            last[0] = where
            return settled

        x, y = wait_for(f"a clickable {text!r} that stays put", steady, timeout=timeout, interval=0.4)
        self.click_at(x, y)

    def click_at(self, x: float, y: float) -> None:
        self.send("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def focus(self, selector: str, timeout: float = 30) -> None:
        script = f"""(() => {{
            const e = [...document.querySelectorAll({json.dumps(selector)})].find(e => e.offsetParent !== null);
            if (!e) return false; e.scrollIntoView({{block: 'center'}}); e.focus(); return document.activeElement === e;
        }})()"""
        wait_for(f"an input {selector!r} to focus", lambda: self.js(script), timeout=timeout, interval=0.3)

    def type_text(self, text: str) -> None:
        self.send("Input.insertText", text=text)

    def press(self, key: str, code: str | None = None, key_code: int = 0) -> None:
        for kind in ("keyDown", "keyUp"):
            self.send("Input.dispatchKeyEvent", type=kind, key=key, code=code or key,
                      windowsVirtualKeyCode=key_code, nativeVirtualKeyCode=key_code)  # fmt: skip

    def set_input(self, selector: str, value: str) -> None:
        """Replace what an input holds, as a person would: focus, select all, type."""
        self.focus(selector)
        self.js(f"document.querySelector({json.dumps(selector)}).select()")
        self.type_text(value)
        wait_for(f"{selector} to hold {value!r}",
                 lambda: self.js(f"document.querySelector({json.dumps(selector)}).value") == value, timeout=10)

    def wait_for_js(self, expression: str, what: str, timeout: float = 30) -> Any:
        return wait_for(what, lambda: self.js(expression), timeout=timeout, interval=0.3)

    def dialog_rect(self, containing: str) -> dict[str, float]:
        """The bounding box of the visible dialog whose text includes ``containing``."""
        box = self.js(f"""(() => {{
            const d = [...document.querySelectorAll('[role=dialog]')]
                .find(e => e.offsetParent !== null && e.innerText.includes({json.dumps(containing)}));
            return d ? JSON.stringify(d.getBoundingClientRect()) : null;
        }})()""")
        require(box is not None, f"no visible dialog shows {containing!r}")
        return json.loads(box)

    def dialog_text(self, containing: str) -> str:
        return self.js(f"""[...document.querySelectorAll('[role=dialog]')]
            .filter(e => e.offsetParent !== null && e.innerText.includes({json.dumps(containing)}))
            .map(e => e.innerText).join('\\n')""")

    def screenshot(self, path: Path, *, dialog: str | None = None, margin: int = 16, settle: float = 1.0) -> int:
        """Save a PNG of the viewport (or of the dialog showing ``dialog``, plus a margin); return its bytes."""
        time.sleep(settle)  # animations (modal fade-in) end
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": False}
        if dialog is not None:
            rect = self.dialog_rect(dialog)
            x, y = max(0, rect["x"] - margin), max(0, rect["y"] - margin)
            params["clip"] = {"x": x, "y": y, "width": min(self.width - x, rect["width"] + 2 * margin),
                              "height": min(self.height - y, rect["height"] + 2 * margin), "scale": 1}
        data = self.send("Page.captureScreenshot", **params)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        raw = base64.b64decode(data)
        path.write_bytes(raw)
        return len(raw)


def login(browser: Browser, base_url: str, jwt: str) -> None:
    """What the login page does: keep the JWT in the ``_token`` cookie."""
    browser.set_cookie(base_url, "_token", jwt)


def require(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)
