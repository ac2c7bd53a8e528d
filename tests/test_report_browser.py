"""The HTML report in a real browser: Debian's chromium, headless, driven over the DevTools protocol
on a pipe (stdlib only, no port opened). The Jiangsu report (with findings and a few probe results)
must load without a console error or a Content-Security-Policy violation, its script must run and
build what it builds, a click on a matrix cell and on a graph node must show their details, and a
screenshot is kept for people to look at (the path is printed; ``test-artifacts/`` is gitignored).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import EXAMPLES, REPO, run_cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
ARTIFACTS = REPO / "test-artifacts"


class DevTools:
    """A minimal DevTools-protocol client over --remote-debugging-pipe (fd 3: commands, fd 4: replies)."""

    def __init__(self, user_data: Path) -> None:
        user_data.mkdir(parents=True, exist_ok=True)
        self.log = user_data / "chromium-stderr.log"
        self._log_fh = self.log.open("wb")
        to_child_r, self._w = os.pipe()
        self._r, from_child_w = os.pipe()
        # Move the child's ends out of the way before placing them on 3 and 4: either may be 3 or 4 already.
        high_r = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 20)
        high_w = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 20)

        def place() -> None:
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
             "--disable-background-networking", "--disable-component-update", f"--user-data-dir={user_data}",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log_fh,
            close_fds=False, preexec_fn=place, start_new_session=True)
        for fd in (to_child_r, from_child_w, high_r, high_w):
            os.close(fd)
        self._buf = b""
        self._next = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 60) -> dict:
        self._next += 1
        msg: dict = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        reply = self._until(lambda m: m.get("id") == self._next, timeout, method)
        if "error" in reply:
            raise AssertionError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait_event(self, method: str, timeout: float = 60) -> dict:
        for i, e in enumerate(self.events):
            if e.get("method") == method:
                return self.events.pop(i)
        msg = self._until(lambda m: m.get("method") == method, timeout, method)
        self.events.remove(msg)
        return msg

    def _until(self, done, timeout: float, what: str) -> dict:
        end = time.monotonic() + timeout
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "method" in msg:
                    self.events.append(msg)
                if done(msg):
                    return msg
            left = end - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace")[-2000:]
                raise AssertionError(f"no answer from chromium for {what}; its stderr ends with:\n{tail}")
            ready, _, _ = select.select([self._r], [], [], left)
            if ready:
                chunk = os.read(self._r, 1 << 20)
                if not chunk:
                    raise AssertionError(f"chromium closed the pipe while waiting for {what}")
                self._buf += chunk

    def page_session(self) -> str:
        """A session on the browser's page with the domains the tests listen to enabled."""
        target = next(t for t in self.send("Target.getTargets")["targetInfos"] if t["type"] == "page")
        session = self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            self.send(f"{domain}.enable", session=session)
        return session

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                try:
                    os.write(self._w, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
                    self.proc.wait(timeout=10)
                except (OSError, subprocess.TimeoutExpired):
                    os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: the browser and its helpers
                    self.proc.wait(timeout=10)
        finally:
            os.close(self._w)
            os.close(self._r)
            self._log_fh.close()


def _probes_jsonl(path: Path) -> None:
    rows = [
        {"probe": "p-ok", "site": "prov-core-fw", "src_zone": "mgmt", "dst_zone": "backbone",
         "five_tuple": "tcp 10.99.0.1:40000 -> 10.30.0.1:22", "expected": "allow", "observed": "allow",
         "reason": "syn-ack", "result": "pass"},
        {"probe": "p-bad", "site": "prov-core-fw", "src_zone": "internet", "dst_zone": "public",
         "five_tuple": "tcp 198.51.100.1:40000 -> 10.33.0.1:3389", "expected": "deny", "observed": "allow",
         "reason": "arrived", "result": "fail", "matched_flow": "f0123456789"},
        {"probe": "p-unk", "site": "field <b>site</b>", "src_zone": "mgmt", "dst_zone": "public",
         "five_tuple": "udp 10.99.0.1:40000 -> 10.33.0.1:161", "expected": "allow", "observed": None,
         "reason": "no-response", "result": "inconclusive"},
    ]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def test_jiangsu_report_in_headless_chromium(tmp_path: Path, capsys) -> None:
    probes = tmp_path / "results.jsonl"
    _probes_jsonl(probes)
    report = tmp_path / "jiangsu.html"
    r = run_cli("report", str(EXAMPLES / "jiangsu" / "main.zp"), "--verify", "--probes", str(probes),
                "--today", "2026-06-01", "-o", str(report))
    assert r.returncode == 0, r.stderr

    tools = DevTools(tmp_path / "profile")
    try:
        session = tools.page_session()
        tools.send("Emulation.setDeviceMetricsOverride",
                   {"width": 1500, "height": 1100, "deviceScaleFactor": 1, "mobile": False}, session=session)
        tools.send("Page.navigate", {"url": report.as_uri()}, session=session)
        tools.wait_event("Page.loadEventFired")

        def js(expr: str):
            res = tools.send("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session=session)
            assert "exceptionDetails" not in res, res
            return res["result"].get("value")

        ready = js("document.documentElement.getAttribute('data-zp-ready')")
        assert ready is not None, "the report's script did not run"
        cells, nodes, edges = map(int, ready.split("/"))
        assert cells == 104 * 104
        assert nodes == 104 and edges > 100
        assert js("document.querySelectorAll('#zp-matrix tbody tr').length") == 104
        assert js("document.getElementById('zp-status').textContent").startswith("interactive:")
        # The matrix header really sticks: scroll the matrix down, the header row stays at its top.
        assert js("getComputedStyle(document.querySelector('#zp-matrix thead th')).position") == "sticky"
        stuck = js("""(() => { const wrap = document.querySelector('.matrix-wrap');
                      wrap.scrollTop = 1200; wrap.scrollLeft = 1500;
                      const w = wrap.getBoundingClientRect();
                      const head = document.getElementById('zc60').getBoundingClientRect();
                      const row = document.getElementById('zr60').getBoundingClientRect();
                      return [wrap.scrollTop > 0 && wrap.scrollLeft > 0, Math.abs(head.top - w.top) <= 2,
                              Math.abs(row.left - w.left) <= 2]; })()""")
        assert stuck == [True, True, True]  # scrolled far down and right, the headers stay at the edges
        js("(() => { const w = document.querySelector('.matrix-wrap'); w.scrollTop = 0; w.scrollLeft = 0; })()")
        # Chinese text is in the page as text (the font is the viewer's business).
        assert "江苏" in js("document.body.innerText")

        # Hovering over a cell shows its pair in the panel and lights up its row and column headers.
        hovered = js("""(() => { const td = document.querySelector('#zp-matrix td[data-i="5"][data-j="7"]');
                        td.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));
                        return [document.getElementById('zp-details').querySelector('h3').textContent,
                                document.getElementById('zr5').classList.contains('hl'),
                                document.getElementById('zc7').classList.contains('hl')]; })()""")
        names = js("JSON.parse(document.getElementById('zp-data').textContent).zones.map(z => z[0])")
        assert hovered == [f"{names[5]} → {names[7]}", True, True]
        # A click on an allowed cell shows its flows with their source lines.
        detail = js("""(() => { const td = [...document.querySelectorAll('#zp-matrix td.a')]
                          .find(t => t.textContent.includes('tcp/'));
                        td.click();
                        return [td.title, document.getElementById('zp-details').innerText]; })()""")
        title, panel = detail
        assert " → " in panel and "flows (" in panel
        assert ".zp:" in panel, panel  # file:line of a flow
        # A click on a graph node focuses its edges.
        focused = js("""(() => { const g = document.querySelector('svg.zp-graph g.zp-node[data-zone="mgmt"]');
                        g.dispatchEvent(new MouseEvent('click', {bubbles: true}));
                        return [document.querySelector('svg.zp-graph').classList.contains('focus'),
                                document.querySelectorAll('svg.zp-graph path.zp-edge.on').length,
                                document.getElementById('zp-details').innerText]; })()""")
        assert focused[0] is True and focused[1] > 0 and "sends to" in focused[2]
        # Failing probes come first.
        assert js("document.querySelector('#probes tbody tr td').innerText") == "fail"

        shot = tools.send("Page.captureScreenshot", {"format": "png"}, session=session)
        ARTIFACTS.mkdir(exist_ok=True)
        png = ARTIFACTS / "jiangsu-report.png"
        png.write_bytes(base64.b64decode(shot["data"]))
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with capsys.disabled():
            print(f"\nscreenshot of the Jiangsu report: {png}")

        problems = []
        for e in tools.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                problems.append(p["exceptionDetails"].get("text"))
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
                problems.append(p)
            elif m == "Log.entryAdded" and p["entry"].get("level") in ("error", "warning"):
                problems.append(p["entry"])
        assert problems == []
    finally:
        tools.close()


def test_csp_violation_would_be_reported(tmp_path: Path) -> None:
    """The check above can fail: a page whose script does not match the declared hash is blocked,
    and the browser says so on the console."""
    r = run_cli("report", str(EXAMPLES / "quickstart" / "policy.zp"), "-o", str(tmp_path / "q.html"))
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "q.html").read_text(encoding="utf-8")
    tampered = tmp_path / "tampered.html"
    tampered.write_text(text.replace("<script>//", "<script>/* changed */ //", 1), encoding="utf-8")
    tools = DevTools(tmp_path / "profile")
    try:
        session = tools.page_session()
        tools.send("Page.navigate", {"url": tampered.as_uri()}, session=session)
        tools.wait_event("Page.loadEventFired")
        res = tools.send("Runtime.evaluate", {"expression": "document.documentElement.getAttribute('data-zp-ready')",
                                              "returnByValue": True}, session=session)
        assert res["result"].get("value") is None  # the script was blocked
        time.sleep(0.5)
        tools.send("Runtime.evaluate", {"expression": "1"}, session=session)  # drain pending events
        errors = [e for e in tools.events if e.get("method") == "Log.entryAdded"
                  and e["params"]["entry"].get("level") == "error"]
        assert any("Content Security Policy" in e["params"]["entry"].get("text", "") for e in errors)
    finally:
        tools.close()
