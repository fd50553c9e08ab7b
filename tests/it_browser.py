"""The dashboard in a real browser: headless Chromium driven over the
Chrome DevTools Protocol (a client written here, no dependencies).

A fetch with --dashboard is fed origin URLs on a stdin held open, so the
job keeps running; the page must load without exceptions or console
errors, tick, show the same "done" as /api/stats, say "running", and its
Stop button must stop the job gracefully (exit 130, every URL fed written
once). Full-page screenshots go to BUILD/artifacts/dashboard.png (running)
and dashboard-stopped.png (after Stop), BUILD being the spate binary's
directory.

A `spate serve` (tests/it_serve.py's kind of configuration: a JSON
source, an RSS and an Atom feed, a WebSocket source, all on spate origin)
is opened in the same way: the page loads without problems, its sources
table lists every source "running" with live values, and the weather
row's Stop button stops that source (in the page, at /api/sources, and at
the origin, which stops seeing polls) and its Start button starts it again;
SIGTERM then ends serve with 0. Screenshots: serve-dashboard.png (all
running) and serve-dashboard-stopped.png (weather stopped).

Chromium is required (scripts/install-deps installs it): without it this
test fails rather than skips."""
import base64
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.request

from spatetest import SPATE, Origin, check, finish

BUILD = os.path.dirname(SPATE)
ARTIFACTS = os.path.join(BUILD, "artifacts")
WIDTH, HEIGHT = 1280, 960


# ---- small helpers -------------------------------------------------------

def http_json(port, path, timeout=3):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}",
                                timeout=timeout) as r:
        return json.loads(r.read())


def stats_done(port):
    try:
        return http_json(port, "/api/stats").get("totals", {}).get("done", -1)
    except (OSError, ValueError):
        return -1


def poll(pred, timeout, step=0.05):
    """pred()'s first truthy value within timeout, else its last value."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


class Drain(threading.Thread):
    """Reads a pipe to the end in the background, keeping the text."""

    def __init__(self, f):
        super().__init__(daemon=True)
        self.f, self.lines = f, []
        self.start()

    def run(self):
        try:
            for line in self.f:
                self.lines.append(line)
        except (OSError, ValueError):
            pass

    def tail(self, n=20):
        return "".join(self.lines[-n:])


# ---- a minimal Chrome DevTools Protocol client -------------------------

class CDP:
    """One page target over the DevTools WebSocket (RFC 6455: client
    frames masked, server frames not; fragments and pings handled).
    Events that arrive while waiting for a reply are kept in .events."""

    def __init__(self, ws_url, timeout=10):
        m = re.match(r"ws://([^/:]+):(\d+)(/.*)$", ws_url)
        if not m:
            raise RuntimeError(f"bad DevTools URL {ws_url!r}")
        host, port, path = m.group(1), int(m.group(2)), m.group(3)
        self.s = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Key: {key}\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        self.buf = b""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            self._fill(deadline)
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"DevTools handshake: {head[:200]!r}")
        want = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        if want not in head:
            raise RuntimeError("DevTools handshake: bad Sec-WebSocket-Accept")
        self.next_id = 0
        self.events = []

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("DevTools: no answer in time")
        self.s.settimeout(left)
        try:
            chunk = self.s.recv(1 << 16)
        except socket.timeout:
            raise TimeoutError("DevTools: no answer in time") from None
        if not chunk:
            raise EOFError("DevTools connection closed")
        self.buf += chunk

    def _take(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send_frame(self, opcode, data):
        n = len(data)
        if n < 126:
            hdr = struct.pack(">BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            hdr = struct.pack(">BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            hdr = struct.pack(">BBQ", 0x80 | opcode, 0x80 | 127, n)
        mask = os.urandom(4)
        if n:
            keystream = (mask * (n // 4 + 1))[:n]
            data = (int.from_bytes(data, "big") ^
                    int.from_bytes(keystream, "big")).to_bytes(n, "big")
        self.s.sendall(hdr + mask + data)

    def _message(self, deadline):
        """The next complete text message, as JSON."""
        parts = []
        while True:
            b0, b1 = self._take(2, deadline)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._take(2, deadline))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._take(8, deadline))[0]
            mask = self._take(4, deadline) if b1 & 0x80 else None
            payload = self._take(n, deadline)
            if mask:
                payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
            op = b0 & 0x0F
            if op == 8:
                raise EOFError("DevTools connection closed by the browser")
            if op == 9:
                self._send_frame(10, payload)
                continue
            if op == 10:
                continue
            parts.append(payload)
            if b0 & 0x80:
                return json.loads(b"".join(parts))

    def send(self, method, timeout=10, **params):
        self.next_id += 1
        my = self.next_id
        self._send_frame(1, json.dumps(
            {"id": my, "method": method, "params": params}).encode())
        deadline = time.monotonic() + timeout
        while True:
            m = self._message(deadline)
            if m.get("id") == my:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            if "method" in m:
                self.events.append(m)

    def wait_event(self, name, timeout):
        """The first event called name (kept or arriving within timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            for e in self.events:
                if e.get("method") == name:
                    return e
            try:
                m = self._message(deadline)
            except TimeoutError:
                return None
            if "method" in m:
                self.events.append(m)

    def eval(self, expr, timeout=5):
        r = self.send("Runtime.evaluate", timeout=timeout, expression=expr,
                      returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"evaluate {expr!r}: {r['exceptionDetails']}")
        return r.get("result", {}).get("value")

    def screenshot(self, path):
        """The whole page, below the fold too, as PNG."""
        size = self.send("Page.getLayoutMetrics").get("cssContentSize", {})
        kw = {}
        if size.get("width") and size.get("height"):
            kw = {"captureBeyondViewport": True,
                  "clip": {"x": 0, "y": 0, "width": size["width"],
                           "height": min(size["height"], 4000), "scale": 1}}
        d = self.send("Page.captureScreenshot", timeout=15, format="png",
                      **kw)
        data = base64.b64decode(d["data"])
        with open(path, "wb") as f:
            f.write(data)
        return data

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def problems(events):
    """JS exceptions and console/log errors among events, as text."""
    out = []
    for e in events:
        meth, p = e.get("method"), e.get("params", {})
        if meth == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            desc = d.get("exception", {}).get("description") or d.get("text")
            out.append(f"exception: {desc} at {d.get('url', '')}:"
                       f"{d.get('lineNumber')}")
        elif meth == "Runtime.consoleAPICalled" and p.get("type") in (
                "error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", "")))
                            for a in p.get("args", []))
            out.append(f"console.{p.get('type')}: {args}")
        elif meth == "Log.entryAdded" and p.get("entry", {}).get(
                "level") == "error":
            en = p["entry"]
            out.append(f"log error ({en.get('source')}): {en.get('text')} "
                       f"{en.get('url', '')}")
    return out


# ---- processes ------------------------------------------------------------

def start_chromium(chromium, profile):
    """Headless Chromium on a DevTools port of its own choosing; returns
    (proc, devtools port, stderr log path)."""
    log_path = os.path.join(profile, "chromium.log")
    log = open(log_path, "wb")
    # its temporary files and crash database inside the profile, removed
    # with it, not left in /tmp and ~/.config
    env = dict(os.environ)
    for var, sub in (("TMPDIR", "tmp"), ("XDG_CONFIG_HOME", "config")):
        env[var] = os.path.join(profile, sub)
        os.makedirs(env[var], exist_ok=True)
    proc = subprocess.Popen(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu",
         "--remote-debugging-port=0", f"--user-data-dir={profile}",
         f"--window-size={WIDTH},{HEIGHT}", "--no-first-run",
         "--no-default-browser-check", "--disable-extensions",
         "--disable-background-networking", "--disable-sync",
         "--lang=en-US", "about:blank"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
        start_new_session=True)  # its own group: its helpers die with it
    log.close()
    active = os.path.join(profile, "DevToolsActivePort")

    def port():
        try:
            with open(active) as f:
                first = f.readline().strip()
            return int(first) if first.isdigit() else None
        except OSError:
            return None
    poll(lambda: port() or proc.poll() is not None, 20)
    if proc.poll() is not None or not port():
        return proc, None, log_path
    return proc, port(), log_path


def stop_chromium(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    # its renderer and utility processes share the group we made for it
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def page_ws_url(dport, timeout=10):
    def find():
        try:
            targets = http_json(dport, "/json/list")
        except (OSError, ValueError):
            return None
        pages = [t for t in targets if t.get("type") == "page" and
                 t.get("webSocketDebuggerUrl")]
        return pages[0]["webSocketDebuggerUrl"] if pages else None
    return poll(find, timeout, 0.1)


def open_page(chromium, profile):
    """Chromium and a CDP client on its page, with the domains the tests
    read enabled; returns (proc or None, CDP or None), a failure recorded
    when there is no CDP. The caller ends whatever is returned."""
    chrome, dport, log_path = start_chromium(chromium, profile)
    cdp = None
    try:
        if not dport:
            with open(log_path, errors="replace") as f:
                tail = f.read()[-2000:]
            check(False, f"chromium did not start (exit "
                         f"{chrome.poll()}): {tail}")
            return chrome, None
        ws_url = page_ws_url(dport)
        if not check(ws_url, "chromium has no page target"):
            return chrome, None
        cdp = CDP(ws_url)
        cdp.send("Runtime.enable")
        cdp.send("Page.enable")
        cdp.send("Log.enable")
        cdp.send("Emulation.setDeviceMetricsOverride", width=WIDTH,
                 height=HEIGHT, deviceScaleFactor=1, mobile=False)
        return chrome, cdp
    except BaseException:
        # the caller never got them: end them here (a watchdog too)
        if cdp:
            cdp.close()
        stop_chromium(chrome)
        raise


def load_dashboard(cdp, port):
    """Navigates to the dashboard; True once it has loaded and ticked."""
    base = f"http://127.0.0.1:{port}/"
    nav = cdp.send("Page.navigate", url=base)
    check("errorText" not in nav, f"navigate: {nav}")
    ok = check(cdp.wait_event("Page.loadEventFired", 10),
               "page load event within 10 s")
    ok = check(cdp.eval("location.href") == base, "page URL") and ok
    return check(poll(lambda: cdp.eval(
        "window.spateDashboard ? spateDashboard.ticks : 0") > 0, 5),
        "first tick on the page within 5 s") and ok


# ---- the test ------------------------------------------------------------

DOM_DONE = ("(document.getElementById('c-done') || {}).textContent || ''")
DOM_STATE = ("(document.getElementById('job-state-text') || {})"
             ".textContent || ''")
LAST_STATE = ("(window.spateDashboard && spateDashboard.last && "
              "spateDashboard.last.job) ? spateDashboard.last.job.state : ''")


def digits(s):
    s = re.sub(r"\D", "", s or "")
    return int(s) if s else -1


def test_browser(o, chromium):
    first = [o.url(f"/p/{i}.html") for i in range(30)]
    more = [o.url(f"/p/{i}.html") for i in range(30, 60)]
    fed = first + more
    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, "dashboard.png")
    shot_stopped = os.path.join(ARTIFACTS, "dashboard-stopped.png")
    for f in (shot, shot_stopped):
        if os.path.exists(f):
            os.unlink(f)

    with tempfile.TemporaryDirectory(prefix="spate-browser-",
                                     ignore_cleanup_errors=True) as d:
        out = os.path.join(d, "out.jsonl")
        profile = os.path.join(d, "profile")
        os.mkdir(profile)
        spate = chrome = cdp = err = None
        try:
            spate = subprocess.Popen(
                [SPATE, "fetch", "--dashboard", "127.0.0.1:0",
                 "--no-progress", "-o", out],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, text=True)
            err = Drain(spate.stderr)
            poll(lambda: err.lines or spate.poll() is not None, 10)
            line = err.lines[0] if err.lines else ""
            m = re.search(r"dashboard on http://127\.0\.0\.1:(\d+)/", line)
            if not check(m, f"dashboard line: {line!r}"):
                return
            port = int(m.group(1))
            spate.stdin.write("".join(u + "\n" for u in first))
            spate.stdin.flush()
            check(poll(lambda: stats_done(port) == len(first), 10),
                  f"{len(first)} done in /api/stats: {stats_done(port)}")

            chrome, cdp = open_page(chromium, profile)
            if not cdp:
                return

            # The page loads and ticks.
            load_dashboard(cdp, port)
            check(cdp.eval("typeof window.Chart") == "function",
                  "Chart.js loaded")
            check(cdp.eval("document.querySelectorAll("
                           "'.chart-box canvas').length") == 3,
                  "three chart canvases")
            t0 = cdp.eval("spateDashboard.ticks")
            s0 = cdp.eval("spateDashboard.last.seq")
            time.sleep(1.0)
            t1 = cdp.eval("spateDashboard.ticks")
            s1 = cdp.eval("spateDashboard.last.seq")
            # 10 ticks a second; leave room for a slow (sanitizer) build
            check(t1 - t0 >= 4 and s1 > s0,
                  f"ticks over 1 s: {t0} -> {t1}, seq {s0} -> {s1}")
            check(cdp.eval("document.getElementById('f-transport')"
                           ".textContent") == "WebSocket",
                  "live over WebSocket")

            # More URLs: the rendered "done" follows /api/stats.
            spate.stdin.write("".join(u + "\n" for u in more))
            spate.stdin.flush()
            check(poll(lambda: stats_done(port) == len(fed), 10),
                  f"{len(fed)} done in /api/stats: {stats_done(port)}")
            api_done = stats_done(port)
            shown = poll(lambda: digits(cdp.eval(DOM_DONE)) == api_done, 3)
            check(shown, f"page shows done {cdp.eval(DOM_DONE)!r}, "
                         f"/api/stats {api_done}")
            check(digits(cdp.eval("document.getElementById('c-admitted')"
                                  ".textContent")) == len(fed),
                  "page shows admitted")

            # The job state badge and the Stop button.
            check(cdp.eval(DOM_STATE) == "running",
                  f"state badge {cdp.eval(DOM_STATE)!r}")
            check("badge-running" in cdp.eval(
                "document.getElementById('job-state').className"),
                "badge class")
            check(cdp.eval("document.getElementById('job-stop').disabled")
                  is False, "Stop enabled while running")
            check(cdp.eval("document.title").startswith("spate · running"),
                  f"title {cdp.eval('document.title')!r}")
            time.sleep(0.3)  # a chart and table redraw (4 per second)
            png = cdp.screenshot(shot)
            check(png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20000,
                  f"screenshot {len(png)} bytes")

            before = problems(cdp.events)
            check(not before, f"page problems while running: {before}")
            cdp.events.clear()

            # Stop from the page: the job stops gracefully.
            cdp.eval("document.getElementById('job-stop').click()")
            seen, end = set(), time.monotonic() + 10
            while spate.poll() is None and time.monotonic() < end:
                try:
                    seen.add(cdp.eval(LAST_STATE))
                except (RuntimeError, TimeoutError):
                    pass
                time.sleep(0.02)
            try:
                rc = spate.wait(max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                rc = None
            check(rc == 130, f"stopped fetch exits {rc} (want 130): "
                             f"{err.tail()}")
            # What the page got from the server before it went away: the
            # last tick may still be on its way through a busy browser.
            def stop_seen():
                seen.add(cdp.eval(LAST_STATE))
                return seen & {"stopping", "stopped"}
            poll(stop_seen, 3)
            seen.discard("")
            print(f"it_browser: states seen after Stop: {sorted(seen)}",
                  flush=True)
            check(seen & {"stopping", "stopped"},
                  f"page saw the job stop: states {sorted(seen)}")
            # "Stopping job…" until the answer comes; then the answer
            job_msg = "document.getElementById('job-stop-msg').textContent"
            msg = poll(lambda: cdp.eval(job_msg).startswith("stop job:")
                       and cdp.eval(job_msg), 3) or cdp.eval(job_msg)
            check(msg.startswith("stop job: 202"), f"stop message {msg!r}")
            time.sleep(0.3)
            cdp.screenshot(shot_stopped)
            after = [p for p in problems(cdp.events)
                     if not p.startswith("log error (network)")]
            # once the server has gone, the page's reconnects fail on the
            # network; anything else is a bug
            check(not after, f"page problems after stop: {after}")

            if os.path.exists(out):
                with open(out) as f:
                    lines = f.read().split("\n")
            else:
                lines = []
            check(lines and lines[-1] == "", "output ends with a newline")
            rows = []
            for ln in lines[:-1]:
                try:
                    rows.append(json.loads(ln))
                except ValueError:
                    check(False, f"incomplete line {ln[:200]!r}")
            urls = [r.get("url") for r in rows]
            check(len(rows) == len(fed) and sorted(urls) == sorted(fed),
                  f"{len(rows)} results for {len(fed)} URLs fed")
        finally:
            if cdp:
                cdp.close()
            if chrome:
                stop_chromium(chrome)
            if spate:
                if spate.poll() is None:
                    spate.kill()
                spate.wait(10)
                for f in (spate.stdin, spate.stderr):
                    try:
                        f.close()
                    except OSError:
                        pass


# ---- spate serve -----------------------------------------------------------

SERVE_KINDS = {"weather": "json", "rss": "feed", "atom": "feed",
               "ticks": "websocket"}

# The sources table as the page shows it: name -> its cells' text and
# whether its Stop and Start buttons are enabled.
DOM_SOURCES = """(function () {
  var out = {};
  document.querySelectorAll('#t-sources tr').forEach(function (tr) {
    var c = tr.cells;
    if (c.length < 6) return;
    var stop = tr.querySelector('button[aria-label^="Stop source "]'),
        start = tr.querySelector('button[aria-label^="Start source "]');
    out[c[0].textContent] = {kind: c[1].textContent,
      state: c[2].textContent, error: c[3].textContent,
      values: c[4].textContent, badge: (c[2].firstChild || {}).className,
      stop: !!stop && !stop.disabled, start: !!start && !start.disabled};
  });
  return out;
})()"""
# The sources of the last tick the page applied, keyed by name.
LAST_SOURCES = """(function () {
  var out = {}, l = window.spateDashboard && spateDashboard.last;
  ((l && l.sources) || []).forEach(function (s) { out[s.name] = s; });
  return out;
})()"""
SRC_MSG = ("(function () { var m = document.getElementById('src-msg');"
           " return m && !m.hidden ? m.textContent : ''; })()")


def click_source(cdp, name, action):
    """Clicks the Stop or Start button in name's row: "clicked",
    "missing" or "disabled"."""
    label = json.dumps(f"{action} source {name}")
    return cdp.eval(f"""(function () {{
      var b = Array.from(document.querySelectorAll('#t-sources button'))
        .filter(function (b) {{
          return b.getAttribute('aria-label') === {label}; }})[0];
      if (!b) return 'missing';
      if (b.disabled) return 'disabled';
      b.click();
      return 'clicked';
    }})()""")


def write_serve_config(path, o, store):
    with open(path, "w") as f:
        f.write(f"""# it_browser
listen: 127.0.0.1:0
store: {store}
sources:
  - name: weather
    kind: json
    url: {o.url('/api/weather.json')}
    interval: 200ms
    timeout: 2s
    fields:
      temp: /current/temp
      seq: /seq
  - name: rss
    kind: feed
    url: {o.url('/feed/rss.xml')}
    interval: 200ms
  - name: atom
    kind: feed
    url: {o.url('/feed/atom.xml')}
    interval: 200ms
  - name: ticks
    kind: websocket
    url: ws://127.0.0.1:{o.port}/stream
    fields:
      price: /price
      seq: /seq
""")


def api_sources(port):
    try:
        return {s["name"]: s for s in http_json(port, "/api/sources")}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def origin_answers(o, endpoint):
    """How many requests the origin has answered on endpoint (200, 304
    and 503 together), or -1."""
    try:
        st = http_json(o.port, "/api/origin-stats.json").get(endpoint, {})
        return sum(v for v in st.values() if isinstance(v, int))
    except (OSError, ValueError, AttributeError):
        return -1


def test_serve(o, chromium):
    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, "serve-dashboard.png")
    shot_stopped = os.path.join(ARTIFACTS, "serve-dashboard-stopped.png")
    for f in (shot, shot_stopped):
        if os.path.exists(f):
            os.unlink(f)

    with tempfile.TemporaryDirectory(prefix="spate-browser-serve-",
                                     ignore_cleanup_errors=True) as d:
        conf = os.path.join(d, "spate.yaml")
        write_serve_config(conf, o, os.path.join(d, "serve.db"))
        profile = os.path.join(d, "profile")
        os.mkdir(profile)
        serve = chrome = cdp = err = None
        try:
            serve = subprocess.Popen(
                [SPATE, "serve", conf], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            err = Drain(serve.stderr)
            poll(lambda: err.lines or serve.poll() is not None, 10)
            line = err.lines[0] if err.lines else ""
            m = re.search(r"dashboard on http://127\.0\.0\.1:(\d+)/", line)
            if not check(m, f"serve's dashboard line: {line!r} "
                            f"{err.tail()}"):
                return
            port = int(m.group(1))
            # every source up and delivering before the page is opened
            check(poll(lambda: all(
                api_sources(port).get(n, {}).get("items", 0) > 0
                for n in SERVE_KINDS), 10),
                f"every source has items: {api_sources(port)}")

            chrome, cdp = open_page(chromium, profile)
            if not cdp:
                return

            # The page loads, ticks and lists every source, running.
            if not load_dashboard(cdp, port):
                return
            check(cdp.eval("typeof window.Chart") == "function",
                  "Chart.js loaded")
            check(poll(lambda: cdp.eval("document.getElementById("
                                        "'f-transport').textContent")
                       == "WebSocket", 3), "live over WebSocket")
            check(poll(lambda: cdp.eval(DOM_STATE) == "running", 3),
                  f"serve's state badge {cdp.eval(DOM_STATE)!r}")
            rows = poll(lambda: (lambda r: r if set(r) == set(SERVE_KINDS)
                                 and all(v["state"] == "running"
                                         for v in r.values()) else None)(
                cdp.eval(DOM_SOURCES)), 5) or cdp.eval(DOM_SOURCES)
            check(sorted(rows) == sorted(SERVE_KINDS),
                  f"sources in the page: {sorted(rows)}")
            for name, kind in SERVE_KINDS.items():
                r = rows.get(name, {})
                check(r.get("state") == "running" and
                      r.get("badge") == "badge badge-running",
                      f"{name} running in the page: {r}")
                check(r.get("kind") == kind, f"{name}'s kind: {r}")
                check(r.get("error") == "—", f"{name}'s last error: {r}")
                check(r.get("stop") is True and r.get("start") is False,
                      f"{name}: Stop enabled, Start disabled: {r}")
            check(cdp.eval("document.getElementById('t-sources-empty')"
                           ".hidden") is True, "no 'No sources.'")
            api = api_sources(port)
            check(all(api.get(n, {}).get("state") == "running"
                      for n in SERVE_KINDS),
                  f"/api/sources: "
                  f"{[(n, s.get('state')) for n, s in api.items()]}")

            # Live values: over a second the weather's fields and the
            # stream's change, and its items (and the feeds') grow.
            last0, dom0 = cdp.eval(LAST_SOURCES), cdp.eval(DOM_SOURCES)
            time.sleep(1.0)
            last1, dom1 = cdp.eval(LAST_SOURCES), cdp.eval(DOM_SOURCES)

            def val(src, name, key):
                return src.get(name, {}).get("values", {}).get(key)

            def cnt(src, name):
                return src.get(name, {}).get("items", -1)
            check(val(last0, "weather", "seq") is not None and
                  val(last1, "weather", "seq") != val(last0, "weather", "seq"),
                  f"weather's seq over 1 s: {val(last0, 'weather', 'seq')} -> "
                  f"{val(last1, 'weather', 'seq')}")
            check(cnt(last1, "ticks") > cnt(last0, "ticks") >= 1,
                  f"ticks' items over 1 s: {cnt(last0, 'ticks')} -> "
                  f"{cnt(last1, 'ticks')}")
            check(val(last1, "ticks", "seq") != val(last0, "ticks", "seq"),
                  "ticks' seq changes")
            for feed in ("rss", "atom"):
                check(cnt(last1, feed) > cnt(last0, feed) >= 1,
                      f"{feed}'s items over 1 s: {cnt(last0, feed)} -> "
                      f"{cnt(last1, feed)}")
            for name in ("weather", "ticks"):
                v0 = dom0.get(name, {}).get("values", "")
                v1 = dom1.get(name, {}).get("values", "")
                check("seq: " in v1 and v1 != v0,
                      f"{name}'s values cell over 1 s: {v0!r} -> {v1!r}")
            check(re.search(r"temp: -?\d", dom1.get("weather", {}).get(
                "values", "")), f"weather shows temp: {dom1.get('weather')}")
            check(re.search(r"price: \d", dom1.get("ticks", {}).get(
                "values", "")), f"ticks shows price: {dom1.get('ticks')}")
            time.sleep(0.3)  # a table redraw
            png = cdp.screenshot(shot)
            check(png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20000,
                  f"serve screenshot {len(png)} bytes")
            before = problems(cdp.events)
            check(not before, f"serve page problems: {before}")
            cdp.events.clear()

            # Stop the weather from its row: stopped in the page and the
            # API, and the origin sees no more polls; the others go on.
            clicked = click_source(cdp, "weather", "Stop")
            check(clicked == "clicked", f"weather's Stop button: {clicked}")
            check(poll(lambda: cdp.eval(DOM_SOURCES).get("weather", {}).get(
                "state") == "stopped", 5),
                f"weather stopped in the page: "
                f"{cdp.eval(DOM_SOURCES).get('weather')}")
            check(poll(lambda: api_sources(port).get("weather", {}).get(
                "state") == "stopped", 3),
                f"weather stopped at /api/sources: "
                f"{api_sources(port).get('weather')}")
            msg = poll(lambda: cdp.eval(SRC_MSG).startswith("stop weather:")
                       and cdp.eval(SRC_MSG), 3) or cdp.eval(SRC_MSG)
            check(msg.startswith("stop weather: 202"), f"stop message {msg!r}")
            w = poll(lambda: (lambda r: r if r.get("start") else None)(
                cdp.eval(DOM_SOURCES).get("weather", {})), 2) or \
                cdp.eval(DOM_SOURCES).get("weather", {})
            check(w.get("stop") is False and w.get("start") is True and
                  w.get("badge") == "badge badge-stopped",
                  f"stopped weather: Start enabled, Stop disabled: {w}")
            a0, p0 = origin_answers(o, "weather"), api_sources(port).get(
                "weather", {}).get("polls", -1)
            r0 = origin_answers(o, "rss")
            time.sleep(1.0)
            a1, p1 = origin_answers(o, "weather"), api_sources(port).get(
                "weather", {}).get("polls", -1)
            r1 = origin_answers(o, "rss")
            check(a0 >= 1 and a1 == a0,
                  f"origin's weather answers while stopped: {a0} -> {a1}")
            check(p0 >= 1 and p1 == p0,
                  f"serve's weather polls while stopped: {p0} -> {p1}")
            check(r1 > r0 >= 1, f"rss still polled: {r0} -> {r1}")
            rows = cdp.eval(DOM_SOURCES)
            check(all(rows.get(n, {}).get("state") == "running"
                      for n in SERVE_KINDS if n != "weather"),
                  f"the other sources run on: "
                  f"{[(n, r.get('state')) for n, r in rows.items()]}")
            cdp.screenshot(shot_stopped)

            # Start it again: running, polled, its values moving.
            clicked = click_source(cdp, "weather", "Start")
            check(clicked == "clicked", f"weather's Start button: {clicked}")
            check(poll(lambda: cdp.eval(DOM_SOURCES).get("weather", {}).get(
                "state") == "running", 5),
                f"weather running again in the page: "
                f"{cdp.eval(DOM_SOURCES).get('weather')}")
            check(api_sources(port).get("weather", {}).get("state") ==
                  "running", f"weather running at /api/sources: "
                  f"{api_sources(port).get('weather')}")
            check(poll(lambda: origin_answers(o, "weather") > a1 + 1, 5),
                  f"origin's weather answers resume: {a1} -> "
                  f"{origin_answers(o, 'weather')}")
            seq = val(cdp.eval(LAST_SOURCES), "weather", "seq")
            check(poll(lambda: val(cdp.eval(LAST_SOURCES), "weather", "seq")
                       != seq, 3), "weather's values move again")
            msg = poll(lambda: cdp.eval(SRC_MSG).startswith("start weather:")
                       and cdp.eval(SRC_MSG), 3) or cdp.eval(SRC_MSG)
            check(msg.startswith("start weather: 202"),
                  f"start message {msg!r}")
            w = poll(lambda: (lambda r: r if r.get("stop") else None)(
                cdp.eval(DOM_SOURCES).get("weather", {})), 2) or \
                cdp.eval(DOM_SOURCES).get("weather", {})
            check(w.get("stop") is True and w.get("start") is False,
                  f"running weather: Stop enabled, Start disabled: {w}")
            during = problems(cdp.events)
            check(not during, f"serve page problems after Stop/Start: "
                              f"{during}")
            cdp.events.clear()

            # SIGTERM: serve exits 0; the page saw it end.
            serve.send_signal(signal.SIGTERM)
            seen, end = set(), time.monotonic() + 10
            while serve.poll() is None and time.monotonic() < end:
                try:
                    seen.add(cdp.eval(LAST_STATE))
                except (RuntimeError, TimeoutError):
                    pass
                time.sleep(0.02)
            try:
                rc = serve.wait(max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                rc = None
            check(rc == 0, f"serve after SIGTERM exits {rc} (want 0): "
                           f"{err.tail()}")
            time.sleep(0.2)
            seen.add(cdp.eval(LAST_STATE))
            seen.discard("")
            print(f"it_browser: serve states seen after SIGTERM: "
                  f"{sorted(seen)}", flush=True)
            # the final tick reaches the page before the 1001 close
            check(seen & {"done", "stopped"},
                  f"page saw serve end: states {sorted(seen)}")
            after = [p for p in problems(cdp.events)
                     if not p.startswith("log error (network)")]
            check(not after, f"serve page problems after SIGTERM: {after}")
        finally:
            if cdp:
                cdp.close()
            if chrome:
                stop_chromium(chrome)
            if serve:
                if serve.poll() is None:
                    serve.kill()
                serve.wait(10)
                try:
                    serve.stderr.close()
                except OSError:
                    pass


class Watchdog(Exception):
    pass


def on_alarm(signum, frame):
    raise Watchdog(f"signal {signum}: the test ran too long or was stopped")


def main():
    # a hung step or ctest's timeout still runs the finally blocks that
    # end chromium and spate
    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_alarm)
    signal.alarm(120)
    chromium = shutil.which("chromium")
    if not check(chromium, "chromium not found on PATH: the dashboard's "
                           "browser test needs it (scripts/install-deps "
                           "installs it)"):
        finish("it_browser")
    started = time.monotonic()
    try:
        with Origin(pages=300) as origin:
            test_browser(origin, chromium)
        with Origin(pages=10, extra=["--api-period", "300",
                                     "--feed-period", "300"]) as origin:
            test_serve(origin, chromium)
    except Watchdog as e:
        check(False, str(e))
    signal.alarm(0)
    took = time.monotonic() - started
    shots = [os.path.join(ARTIFACTS, f) for f in
             ("dashboard.png", "serve-dashboard.png")]
    shots = [f for f in shots if os.path.exists(f)]
    print(f"it_browser: {took:.1f} s" + (f"; screenshots {', '.join(shots)}"
                                         if shots else ""), flush=True)
    finish("it_browser")


main()
