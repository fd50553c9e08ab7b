"""--dashboard: the live service beside a fetch and a crawl, on loopback.

/health, /metrics (parsed line by line), /api/stats and /api/sources, the
streams (/events as SSE, /ws as WebSocket with a client written here),
the Stop button's API stopping the job, the token off loopback, Origin
checks, and requests that must be refused without harm."""
import base64
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

from spatetest import SPATE, Origin, check, finish, wait_for


def start(args, stdin=None):
    """Starts spate with --dashboard on a free port; returns (proc, port)."""
    p = subprocess.Popen([SPATE] + args, stdin=stdin, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    m = re.search(r"dashboard on http://([^/]+):(\d+)/", line)
    if not m:
        p.kill()
        raise AssertionError(f"no dashboard line: {line!r}")
    return p, int(m.group(2)), line


def http(port, method, path, headers=None, body=b"", host="127.0.0.1",
         raw=None, timeout=5):
    """One request on a fresh connection: (status, headers dict, body)."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        if raw is None:
            h = {"Host": f"{host}:{port}", "Connection": "close"}
            h.update(headers or {})
            if body:
                h["Content-Length"] = str(len(body))
            raw = (f"{method} {path} HTTP/1.1\r\n" +
                   "".join(f"{k}: {v}\r\n" for k, v in h.items()) +
                   "\r\n").encode() + body
        s.sendall(raw)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.1 (\d{3})", lines[0]) if lines else None
    hd = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hd[k.strip().lower()] = v.strip()
    return (int(m.group(1)) if m else 0), hd, rest


def done_count(port):
    """totals.done of /api/stats, 0 before the first tick."""
    st, t = get_json(port, "/api/stats")
    return (t or {}).get("totals", {}).get("done", 0) if st == 200 else 0


def get_json(port, path, **kw):
    st, _, body = http(port, "GET", path, **kw)
    return st, json.loads(body) if body else None


METRIC = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*"'
    r'(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*")*\})? '
    r'[-+]?([0-9.]+([eE][-+]?[0-9]+)?|Inf|NaN)$')


def metrics(port):
    st, hd, body = http(port, "GET", "/metrics")
    check(st == 200 and hd.get("content-type", "").startswith("text/plain"),
          f"/metrics {st} {hd}")
    values = {}
    for line in body.decode().splitlines():
        if not line or line.startswith("# HELP ") or line.startswith(
                "# TYPE "):
            continue
        check(METRIC.match(line), f"metrics line {line!r}")
        name, _, v = line.rpartition(" ")
        values[name] = float(v)
    return values


class WS:
    """A minimal WebSocket client (RFC 6455): enough to read text frames."""

    def __init__(self, port, origin=None, path="/ws"):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        hdr = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n")
        if origin:
            hdr += f"Origin: {origin}\r\n"
        self.s.sendall((hdr + "\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.s.recv(4096)
            if not chunk:
                break
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.status = int(head.split()[1]) if head else 0
        want = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        self.accept_ok = want in head

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk

    def frame(self):
        """(opcode, payload) of the next frame from the server."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, off = int.from_bytes(self.buf[2:4], "big"), 4
        elif n == 127:
            self._need(10)
            n, off = int.from_bytes(self.buf[2:10], "big"), 10
        check(not b1 & 0x80, "server frames are not masked")
        self._need(off + n)
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return b0 & 0x0F, payload

    def close(self):
        self.s.close()


def sse_events(port, n):
    """The data of the first n SSE events."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
              "Accept: text/event-stream\r\n\r\n".encode())
    buf, out = b"", []
    while len(out) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
        head_done = b"\r\n\r\n" in buf
        if not head_done:
            continue
        head, _, body = buf.partition(b"\r\n\r\n")
        check(b"text/event-stream" in head, f"SSE head {head[:200]!r}")
        events = body.split(b"\n\n")
        out = [e for e in events[:-1] if e.startswith(b"data: ")]
    s.close()
    return [json.loads(e[6:]) for e in out[:n]]


def test_fetch_dashboard(o):
    """A fetch that waits on its input: the service while it runs, then
    the Stop button's API."""
    urls = "".join(o.url(f"/p/{i}.html") + "\n" for i in range(50))
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.jsonl")
        p, port, _ = start(["fetch", "--dashboard", "127.0.0.1:0", "-o", out,
                            "--no-progress"], stdin=subprocess.PIPE)
        try:
            p.stdin.write(urls)
            p.stdin.flush()
            st, h = get_json(port, "/health")
            check(st == 200 and h == {"live": True, "ready": True,
                                      "reasons": []}, f"/health {st} {h}")
            check(wait_for(lambda: done_count(port) == 50, 10),
                  "50 done in /api/stats")
            st, t = get_json(port, "/api/stats")
            check(t["type"] == "tick" and t["job"]["kind"] == "fetch" and
                  t["job"]["state"] == "running", f"tick {t['job']}")
            check(t["totals"]["ok"] == 50 and t["status"]["2xx"] == 50,
                  f"totals {t['totals']} {t['status']}")
            check(t["hosts"] and t["hosts"][0]["done"] == 50,
                  f"hosts {t['hosts']}")
            check(set(t["server"]) == {"ws_clients", "sse_clients",
                                       "dropped_slow", "items_unpushed"} and
                  t["server"]["dropped_slow"] == 0 and
                  t["server"]["items_unpushed"] == 0, f"server {t['server']}")
            m1 = metrics(port)
            check(m1.get("spate_live_dropped_slow_total") == 0 and
                  m1.get("spate_live_items_unpushed_total") == 0,
                  "live counters in /metrics")
            ok_key = 'spate_requests_total{outcome="ok"}'
            check(m1.get(ok_key) == 50, f"metrics ok {m1.get(ok_key)}")
            check(m1.get("spate_request_duration_seconds_count") == 50 and
                  m1.get('spate_request_duration_seconds_bucket{le="+Inf"}')
                  == 50, "duration histogram count")
            les = [v for k, v in m1.items()
                   if k.startswith("spate_request_duration_seconds_bucket")]
            check(les == sorted(les), "histogram buckets are cumulative")
            check("spate_up" in m1 and "spate_inflight" in m1, "gauges")
            st, srcs = get_json(port, "/api/sources")
            check(st == 200 and srcs[0]["name"] == "job", f"sources {srcs}")

            # Streams: SSE and WebSocket get ticks in order.
            ev = sse_events(port, 3)
            check(len(ev) == 3 and ev[0]["seq"] < ev[1]["seq"] < ev[2]["seq"],
                  f"SSE seqs {[e.get('seq') for e in ev]}")
            ws = WS(port)
            check(ws.status == 101 and ws.accept_ok, f"ws status {ws.status}")
            seqs = []
            for _ in range(3):
                op, data = ws.frame()
                check(op == 1, f"text frame, got opcode {op}")
                seqs.append(json.loads(data)["seq"])
            check(seqs == sorted(seqs) and len(set(seqs)) == 3,
                  f"ws seqs {seqs}")
            bad = WS(port, origin="http://evil.example")
            check(bad.status == 403, f"foreign Origin: {bad.status}")
            bad.close()
            good = WS(port, origin=f"http://127.0.0.1:{port}")
            check(good.status == 101, f"own Origin: {good.status}")
            good.close()

            # Refusals that do no harm.
            st, _, _ = http(port, "GET", "/x", headers={"X-Big": "a" * 40000})
            check(st == 431, f"huge header: {st}")
            st, _, _ = http(port, "GET", "/static/../CMakeLists.txt")
            check(st == 404, f"traversal: {st}")
            st, _, _ = http(port, "GET", "/", raw=b"\x16\x03\x01garbage\r\n\r\n")
            check(st == 400, f"garbage: {st}")
            st, _, _ = http(port, "GET", "/api/sources/job/stop")
            check(st == 405, f"GET on an action: {st}")
            st, _, _ = http(port, "POST", "/api/sources/nope/stop")
            check(st == 404, f"unknown source: {st}")
            st, _, _ = http(port, "POST", "/api/sources/job/start")
            check(st == 409, f"start a job: {st}")
            st, hd, body = http(port, "GET", "/")
            check(st == 200 and b"<html" in body.lower(), f"/ {st}")
            st, hd, body = http(port, "GET", "/vendor/chart.min.js")
            check(st == 200 and len(body) > 10000, f"chart.js {st}")

            # Stop: the job ends as after a first Ctrl-C.
            st, _, body = http(port, "POST", "/api/sources/job/stop")
            check(st == 202 and b"stopping" in body, f"stop: {st} {body}")
            # The WebSocket sees the final tick and a 1001 close.
            last, closed = None, None
            try:
                while True:
                    op, data = ws.frame()
                    if op == 1:
                        last = json.loads(data)
                    elif op == 8:
                        closed = int.from_bytes(data[:2], "big")
                        break
            except (EOFError, OSError):
                pass
            check(last and last["job"]["state"] in ("stopping", "stopped"),
                  f"last tick state {last and last['job']}")
            check(closed == 1001, f"close code {closed}")
            ws.close()
            rc = p.wait(timeout=10)
            check(rc == 130, f"stopped fetch exits {rc}")
            lines = open(out).read().splitlines()
            check(len(lines) == 50 and all(json.loads(x) for x in lines),
                  f"{len(lines)} complete results")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_crawl_dashboard(o):
    with tempfile.TemporaryDirectory() as d:
        db = os.path.join(d, "c.db")
        p, port, _ = start(["crawl", o.url("/"), "-o", db, "--dashboard",
                            "127.0.0.1:0", "--no-progress", "-c", "2"])
        try:
            check(wait_for(lambda: done_count(port) > 5, 10), "crawl ticks")
            st, t = get_json(port, "/api/stats")
            check(t["job"]["kind"] == "crawl" and
                  t["totals"]["robots_fetched"] == 1, f"crawl tick {t['job']}"
                  f" {t['totals']}")
            m = metrics(port)
            check(m.get("spate_queued", -1) >= 0, "queued gauge")
            rc = p.wait(timeout=60)
            check(rc == 0, f"crawl exit {rc}: {p.stderr.read()[-500:]}")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()


def dashboard_job(addr, env=None):
    """spate fetch --dashboard ADDR reading URLs from a pipe we hold: the
    job runs (and serves) until stopped. Its first stderr line names the
    address."""
    return subprocess.Popen([SPATE, "fetch", "--dashboard", addr,
                             "--no-progress"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def job_port(p):
    """The port of the dashboard job p, from its first stderr line; None
    (a failed check) when the line does not name it."""
    m = re.search(r":(\d+)/", p.stderr.readline())
    check(m, "dashboard address")
    return int(m.group(1)) if m else None


def end_job(p):
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def test_token():
    """Off loopback the service wants its token."""
    p = dashboard_job("0.0.0.0:0")
    try:
        line = p.stderr.readline()
        m = re.search(r":(\d+)/login\?token=([0-9a-f]+)", line)
        check(m, f"login link: {line!r}")
        if not m:
            return
        port, token = int(m.group(1)), m.group(2)
        st, _, _ = http(port, "GET", "/health")
        check(st == 401, f"no token: {st}")
        st, _, _ = http(port, "GET", "/health",
                        headers={"Authorization": "Bearer wrong"})
        check(st == 401, f"wrong token: {st}")
        st, _, _ = http(port, "GET", "/health",
                        headers={"Authorization": f"Bearer {token}"})
        check(st == 200, f"bearer token: {st}")
        st, hd, _ = http(port, "GET", f"/login?token={token}")
        cookie = hd.get("set-cookie", "")
        check(st in (302, 303) and f"spate_token={token}" in cookie and
              "HttpOnly" in cookie, f"login: {st} {cookie}")
        st, _, _ = http(port, "POST", "/api/sources/job/stop")
        check(st == 401, f"admin API without token: {st}")
        st, _, _ = http(port, "GET", "/metrics",
                        headers={"Cookie": f"spate_token={token}"})
        check(st == 200, f"cookie: {st}")
    finally:
        end_job(p)


def test_other_sites():
    """On loopback without a token: a page elsewhere can neither reach the
    service by a rebound name nor stop the job with a cross-site POST; the
    dashboard's own page and curl can."""
    p = dashboard_job("127.0.0.1:0")
    try:
        port = job_port(p)
        if port is None:
            return
        st, _, _ = http(port, "GET", "/metrics",
                        headers={"Host": f"rebind.example:{port}"})
        check(st == 403, f"a rebound name: {st}")
        for h in ({"Origin": "https://evil.example"},
                  {"Sec-Fetch-Site": "cross-site"}):
            st, _, _ = http(port, "POST", "/api/sources/job/stop", headers=h)
            check(st == 403, f"cross-site stop {h}: {st}")
        check(p.poll() is None, "the job still runs")
        st, _, _ = http(port, "GET", "/metrics",
                        headers={"Host": f"localhost:{port}"})
        check(st == 200, f"localhost: {st}")
        st, _, _ = http(port, "POST", "/api/sources/job/stop", headers={
            "Origin": f"http://127.0.0.1:{port}",
            "Sec-Fetch-Site": "same-origin"})
        check(st == 202, f"the dashboard's own stop: {st}")
        p.stdin.close()
        p.wait(timeout=10)
        check(p.returncode is not None, "stopped")
    finally:
        end_job(p)


def test_fd_cap():
    """Dashboard connections leave the job its descriptors: at most the
    open-file limit less -c less 64 (300 - 100 - 64 = 136); the next ones
    get 503."""
    p = subprocess.Popen(["prlimit", "--nofile=300", SPATE, "fetch",
                          "--dashboard", "127.0.0.1:0", "--no-progress", "-c",
                          "100"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    socks = []
    try:
        port = job_port(p)
        if port is None:
            return
        codes = []
        for _ in range(150):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            socks.append(s)
            s.sendall(f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}"
                      "\r\n\r\n".encode())
            codes.append(int(s.recv(64).split()[1]))
        check(codes.count(200) == 136 and codes[136:] == [503] * 14,
              f"served {codes.count(200)}, then {sorted(set(codes[136:]))}")
    finally:
        for s in socks:
            s.close()
        end_job(p)


def test_token_length():
    """SPATE_TOKEN is taken whole or refused, never cut short: 16 to 512
    characters."""
    for tok, ok in (("s" * 15, False), ("s" * 513, False),
                    ("0123456789abcdef0123456789abcdefEXTRA-SECRET", True)):
        p = dashboard_job("0.0.0.0:0", dict(os.environ, SPATE_TOKEN=tok))
        try:
            line = p.stderr.readline()
            if not ok:
                p.wait(timeout=10)
                check(p.returncode != 0 and
                      f"SPATE_TOKEN: want 16 to 512 characters, not {len(tok)}"
                      in line, f"token of {len(tok)}: {p.returncode} {line!r}")
                continue
            m = re.search(r":(\d+)/", line)
            check(m, f"started: {line!r}")
            if not m:
                continue
            port = int(m.group(1))
            st, _, _ = http(port, "GET", "/health",
                            headers={"Authorization": f"Bearer {tok}"})
            check(st == 200, f"the whole token: {st}")
            st, _, _ = http(port, "GET", "/health",
                            headers={"Authorization": f"Bearer {tok[:32]}"})
            check(st == 401, f"its first 32 characters: {st}")
        finally:
            end_job(p)


def test_bad_option():
    r = subprocess.run([SPATE, "fetch", "--dashboard", "nope:x"],
                       capture_output=True, text=True, timeout=10)
    check(r.returncode == 2 and "--dashboard" in r.stderr,
          f"bad --dashboard: {r.returncode} {r.stderr}")
    # A port already in use: a clear error, exit 2.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    busy = s.getsockname()[1]
    r = subprocess.run([SPATE, "fetch", "--dashboard", f"127.0.0.1:{busy}",
                        "http://127.0.0.1:1/"], capture_output=True,
                       text=True, timeout=10)
    s.close()
    check(r.returncode == 2 and "dashboard" in r.stderr,
          f"busy port: {r.returncode} {r.stderr}")


if __name__ == "__main__":
    with Origin(pages=300) as origin:
        test_fetch_dashboard(origin)
    with Origin(pages=100, latency=20) as origin:
        test_crawl_dashboard(origin)
    test_token()
    test_token_length()
    test_other_sites()
    test_fd_cap()
    test_bad_option()
    finish("it_dashboard")
