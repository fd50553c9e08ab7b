"""spate serve: sources polled from spate origin (a JSON API, an RSS feed,
an Atom feed), items in the store and on /ws and /events, conditional GET,
a failing source marked down and recovering, the admin API (stop, start,
add, remove), SIGHUP reload keeping connections, SIGTERM flushing."""
import json
import os
import re
import signal
import sqlite3
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

from spatetest import (SPATE, Origin, ThreadedServer, TLSProxy, check,
                       finish, make_cert, wait_for)
from it_dashboard import WS, get_json, http, sse_events


def write_config(path, origin, store, extra=""):
    with open(path, "w") as f:
        f.write(f"""# it_serve
listen: 127.0.0.1:0
store: {store}
sources:
  - name: weather
    kind: json
    url: {origin.url('/api/weather.json')}
    interval: 200ms
    timeout: 2s
    retries: 1
    fields:
      temp: /current/temp
      seq: /seq
  - name: rss
    kind: feed
    url: {origin.url('/feed/rss.xml')}
    interval: 200ms
  - name: atom
    kind: feed
    url: {origin.url('/feed/atom.xml')}
    interval: 200ms
  - name: ticks
    kind: websocket
    url: ws://127.0.0.1:{origin.port}/stream
    fields:
      price: /price
      seq: /seq
  - name: html
    kind: json
    url: {origin.url('/p/1.html')}
    interval: 300ms
    retries: 0
  - name: slow
    kind: json
    url: {origin.url('/api/weather.json?delay=3000')}
    interval: 200ms
    timeout: 10s
  - name: dead
    kind: json
    url: http://127.0.0.1:1/x.json
    interval: 300ms
    retries: 0
  - name: token
    kind: json
    url: {origin.url('/echo.json')}
    interval: 300ms
    headers:
      X-Echo: "Bearer s3cret"
    fields:
      echo: /x-echo
  - name: token-away
    kind: json
    url: {origin.url('/redirect-to?url=http%3A%2F%2Flocalhost%3A' + str(origin.port) + '%2Fecho.json')}
    interval: 300ms
    headers:
      X-Echo: "Bearer s3cret"
    fields:
      echo: /x-echo
{extra}""")


def sources(port):
    st, v = get_json(port, "/api/sources")
    return {s["name"]: s for s in v} if st == 200 and v else {}


def origin_stats(origin):
    with urllib.request.urlopen(origin.url("/api/origin-stats.json"),
                                timeout=5) as r:
        return json.load(r)


def post(origin, path):
    req = urllib.request.Request(origin.url(path), data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.status


def items(db, source):
    con = sqlite3.connect(db, timeout=10)
    try:
        return con.execute("select key, data from items where source = ?",
                           (source,)).fetchall()
    finally:
        con.close()


def main():
    with tempfile.TemporaryDirectory() as d, Origin(
            pages=10, extra=["--api-period", "300",
                             "--feed-period", "300"]) as o:
        conf = os.path.join(d, "spate.yaml")
        db = os.path.join(d, "serve.db")
        write_config(conf, o, db)
        p = subprocess.Popen([SPATE, "serve", conf], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            line = p.stderr.readline()
            m = re.search(r"dashboard on http://127\.0\.0\.1:(\d+)/", line)
            check(m, f"dashboard line {line!r}")
            port = int(m.group(1))
            ws = WS(port)
            check(ws.status == 101, "ws connects")

            # Every source reports; the dead one is down with its error.
            check(wait_for(lambda: sources(port).get("weather", {}).get(
                "items", 0) >= 2, 10), "weather items")
            s = sources(port)
            check(s["weather"]["state"] == "running" and
                  "temp" in s["weather"]["values"], f"weather {s['weather']}")
            check(wait_for(lambda: sources(port)["dead"]["state"] == "down",
                           10), "dead source down")
            check(sources(port)["dead"]["last_error"] == "connect",
                  f"dead error {sources(port)['dead']}")
            # A source's headers go with its polls (the origin echoes the
            # one it got), and the API does not show them.
            check(wait_for(lambda: sources(port).get("token", {}).get(
                "values", {}).get("echo") == "Bearer s3cret", 10),
                  f"token {sources(port).get('token')}")
            # ... to the configured host only: not past a redirect to
            # another (localhost), where the poll still succeeds.
            check(wait_for(lambda: sources(port).get("token-away", {}).get(
                "items", 0) >= 1, 10), f"away {sources(port).get('token-away')}")
            away = sources(port)["token-away"]
            check(away["state"] == "running"
                  and away["values"].get("echo", "x") is None,
                  f"headers past a redirect elsewhere: {away}")
            check("headers" not in sources(port)["token"]
                  and "X-Echo" not in json.dumps(sources(port)),
                  f"headers shown: {sources(port)['token']}")
            # The WebSocket source: a message is an item.
            check(wait_for(lambda: sources(port)["ticks"]["items"] >= 5, 10),
                  f"ticks items {sources(port).get('ticks')}")
            check("price" in sources(port)["ticks"]["values"],
                  f"ticks values {sources(port)['ticks']}")
            check(wait_for(lambda: sources(port)["rss"]["items"] >= 3 and
                           sources(port)["atom"]["items"] >= 3, 10),
                  "feed items")
            # Items are stored, each feed item once.
            check(wait_for(lambda: len(items(db, "rss")) >= 3, 10),
                  "rss items stored")
            keys = [k for k, _ in items(db, "rss")]
            check(len(keys) == len(set(keys)) and
                  all(k.startswith("urn:spate:item:") for k in keys),
                  f"rss keys {keys[:5]}")
            st, recent = get_json(port, "/api/sources/rss/items")
            check(st == 200 and recent and recent[-1]["id"].startswith(
                "urn:spate:item:"), f"recent items {st}")
            # Conditional GET: polled faster than it changes, so 304s.
            check(wait_for(lambda: origin_stats(o)["weather"]["304"] > 0, 5),
                  f"304s {origin_stats(o)}")
            # The WebSocket gets ticks and items messages.
            kinds = set()
            end = time.monotonic() + 5
            while time.monotonic() < end and kinds != {"tick", "items"}:
                op, data = ws.frame()
                if op == 1:
                    kinds.add(json.loads(data)["type"])
            check(kinds == {"tick", "items"}, f"ws message types {kinds}")
            ev = sse_events(port, 2)
            check(len(ev) == 2, "SSE events")
            st, h = get_json(port, "/health")
            check(st == 200 and h["ready"], f"health {h}")
            # Not JSON: down, with the reason.
            check(wait_for(lambda: sources(port)["html"]["state"] == "down",
                           5), "an HTML answer makes a json source down")
            check(sources(port)["html"]["last_error"].startswith("not JSON"),
                  f"html error {sources(port)['html']['last_error']}")
            # Stopped while its request is in flight: stopped, not down.
            check(wait_for(lambda: sources(port)["slow"]["polls"] == 0, 2),
                  "slow source in flight")
            st, _, _ = http(port, "POST", "/api/sources/slow/stop")
            check(st == 202, f"stop slow {st}")
            time.sleep(0.5)
            sl = sources(port)["slow"]
            check(sl["state"] == "stopped" and sl["failures"] == 0,
                  f"stopped in flight: {sl}")

            # A source that fails degrades alone and recovers.
            check(post(o, "/control/down?for=1500") == 200, "origin down")
            check(wait_for(lambda: sources(port)["weather"]["state"] ==
                           "down", 5), "weather down while the origin is")
            check(wait_for(lambda: sources(port)["weather"]["state"] ==
                           "running", 15), "weather recovers")
            check(sources(port)["ticks"]["failures"] >= 1,
                  f"the stream was cut: {sources(port)['ticks']}")
            check(wait_for(lambda: sources(port)["ticks"]["state"] ==
                           "running", 15), "ticks reconnects")
            n = sources(port)["ticks"]["items"]
            check(wait_for(lambda: sources(port)["ticks"]["items"] > n, 5),
                  "ticks flows again")

            # Admin: stop stops polling, start resumes.
            st, _, _ = http(port, "POST", "/api/sources/weather/stop")
            check(st == 202, f"stop {st}")
            check(wait_for(lambda: sources(port)["weather"]["state"] ==
                           "stopped", 5), "stopped")
            n1 = sources(port)["weather"]["polls"]
            time.sleep(1.0)
            n2 = sources(port)["weather"]["polls"]
            check(n2 == n1, f"no polls while stopped ({n1} -> {n2})")
            st, _, _ = http(port, "POST", "/api/sources/weather/start")
            check(st == 202, f"start {st}")
            check(wait_for(lambda: sources(port)["weather"]["polls"] > n2, 5),
                  "polling again")
            # Add and remove.
            body = json.dumps({"name": "extra", "kind": "json",
                               "url": o.url("/api/weather.json"),
                               "interval": "300ms",
                               "fields": {"wind": "/current/wind"}}).encode()
            st, _, b = http(port, "POST", "/api/sources", body=body,
                            headers={"Content-Type": "application/json"})
            check(st == 201, f"add {st} {b}")
            check(wait_for(lambda: sources(port).get("extra", {}).get(
                "items", 0) > 0, 5), "added source runs")
            st, _, _ = http(port, "POST", "/api/sources", body=body)
            check(st == 409, f"add twice {st}")
            st, _, b = http(port, "POST", "/api/sources",
                            body=b'{"name": "x", "kind": "nope"}')
            check(st == 400, f"bad add {st} {b}")
            st, _, _ = http(port, "DELETE", "/api/sources/extra")
            check(st == 202, f"remove {st}")
            check(wait_for(lambda: "extra" not in sources(port), 5),
                  "removed")
            st, _, _ = http(port, "POST", "/api/sources/nope/stop")
            check(st == 404, f"unknown source {st}")

            # SIGHUP: atom goes, news comes; the WebSocket stays.
            write_config(conf, o, db, extra=f"""  - name: news
    kind: feed
    url: {o.url('/feed/rss.xml')}
    interval: 250ms
""")
            with open(conf) as f:
                text = f.read()
            text = re.sub(r"  - name: atom\n(    .*\n)+", "", text)
            with open(conf, "w") as f:
                f.write(text)
            p.send_signal(signal.SIGHUP)
            check(wait_for(lambda: "news" in sources(port) and
                           "atom" not in sources(port), 5),
                  f"reloaded: {sorted(sources(port))}")
            seen = 0
            for _ in range(5):
                op, _ = ws.frame()
                seen += op == 1
            check(seen == 5, "the WebSocket still receives after SIGHUP")

            # SIGTERM: stored, 1001 to the WebSocket, exit 0.
            p.send_signal(signal.SIGTERM)
            code = None
            try:
                while True:
                    op, data = ws.frame()
                    if op == 8:
                        code = int.from_bytes(data[:2], "big")
                        break
            except (EOFError, OSError):
                pass
            check(code == 1001, f"close code {code}")
            rc = p.wait(timeout=10)
            check(rc == 0, f"serve exit {rc}")
            stored = len(items(db, "rss")) + len(items(db, "news"))
            check(stored >= 3, f"{stored} feed items stored")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()

    # A bad configuration: a clear error, exit 2.
    with tempfile.TemporaryDirectory() as d:
        conf = os.path.join(d, "bad.yaml")
        with open(conf, "w") as f:
            f.write("sources:\n  - name: a\n    kind: json\n    url: "
                    "ftp://x/\n")
        r = subprocess.run([SPATE, "serve", conf], capture_output=True,
                           text=True, timeout=10)
        check(r.returncode == 2 and "bad.yaml:" in r.stderr,
              f"bad config {r.returncode} {r.stderr!r}")


class Serve:
    """`spate serve` on a configuration of these sources (YAML list items)
    with the store DIR/NAME.db; the dashboard's port is read from its first
    line. stop() ends it with SIGTERM and checks exit 0; leaving the block
    kills it if it still runs."""

    def __init__(self, d, name, sources_yaml, env=None):
        self.name = name
        self.db = os.path.join(d, f"{name}.db")
        conf = os.path.join(d, f"{name}.yaml")
        with open(conf, "w") as f:
            f.write(f"listen: 127.0.0.1:0\nstore: {self.db}\nsources:\n" +
                    sources_yaml)
        self.p = subprocess.Popen([SPATE, "serve", conf], env=env,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        line = self.p.stderr.readline()
        m = re.search(r"dashboard on http://127\.0\.0\.1:(\d+)/", line)
        check(m, f"{name}: dashboard line {line!r}")
        self.port = int(m.group(1)) if m else 0

    def sources(self):
        return sources(self.port)

    def source(self, name):
        return sources(self.port).get(name, {})

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        check(self.p.wait(timeout=10) == 0, f"{self.name}: serve exit 0")

    def __enter__(self):
        return self

    def __exit__(self, *a):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def test_wss():
    """wss:// sources: the certificate is verified (the test's CA given as
    SSL_CERT_FILE, as OpenSSL reads it), name included."""
    with tempfile.TemporaryDirectory() as d, Origin(pages=5) as o:
        good = make_cert(d, "good")
        other = make_cert(d, "other")  # not trusted
        wrong = make_cert(d, "wrong", san="IP:127.0.0.2")  # trusted, not us
        bundle = os.path.join(d, "ca.pem")
        with open(bundle, "w") as f:
            for c in (good[0], wrong[0]):
                f.write(open(c).read())
        with TLSProxy(o.port, *good) as px, TLSProxy(o.port, *other) as bad, \
                TLSProxy(o.port, *wrong) as mis, Serve(d, "wss", f"""\
  - name: secure
    kind: websocket
    url: wss://127.0.0.1:{px.port}/stream
    fields:
      seq: /seq
  - name: untrusted
    kind: websocket
    url: wss://127.0.0.1:{bad.port}/stream
  - name: wrongname
    kind: websocket
    url: wss://127.0.0.1:{mis.port}/stream
  - name: plaintext
    kind: websocket
    url: wss://127.0.0.1:{o.port}/stream
""", env=dict(os.environ, SSL_CERT_FILE=bundle)) as sv:
            check(wait_for(lambda: sv.source("secure").get("items", 0) >= 5,
                           10), f"wss items {sv.source('secure')}")
            s = sv.source("secure")
            check(s["state"] == "running" and "seq" in s["values"],
                  f"wss source {s}")
            check(wait_for(lambda: len(items(sv.db, "secure")) >= 5, 10),
                  "wss items stored")
            check(wait_for(lambda: [sv.source(n).get("state") for n in
                                    ("untrusted", "wrongname", "plaintext")]
                           == ["down"] * 3, 10), "bad TLS down")
            s = sv.sources()
            check(s["untrusted"]["last_error"] ==
                  "tls: certificate verify failed: self-signed certificate",
                  f"untrusted: {s['untrusted']}")
            check(s["wrongname"]["last_error"] ==
                  "tls: certificate verify failed: IP address mismatch",
                  f"wrong name: {s['wrongname']}")
            check(s["plaintext"]["last_error"].startswith("tls: handshake: "),
                  f"not TLS: {s['plaintext']}")
            check(s["untrusted"]["items"] == 0 and
                  s["wrongname"]["items"] == 0, "no items over bad TLS")
            check(px.handshakes >= 1 and bad.handshakes == 0 and
                  mis.handshakes == 0, "TLS handshakes at the proxies")
            sv.stop()


def test_store_locked():
    """The store locked by another writer for longer than the busy timeout:
    /health is not ready ("... (retrying)") meanwhile, nothing is lost, and
    it is ready again once the lock goes."""
    with tempfile.TemporaryDirectory() as d, Origin(
            pages=5, extra=["--api-period", "200"]) as o, Serve(d, "locked", f"""\
  - name: weather
    kind: json
    url: {o.url('/api/weather.json')}
    interval: 100ms
    fields:
      seq: /seq
""") as sv:
        port = sv.port
        check(wait_for(lambda: len(items(sv.db, "weather")) >= 2, 10),
              "items before the lock")
        lock = sqlite3.connect(sv.db, timeout=10, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            def unready():
                st, h = get_json(port, "/health")
                return st == 503 and h and h["ready"] is False and any(
                    "locked" in r and r.endswith("(retrying)")
                    for r in h["reasons"])
            check(wait_for(unready, 15), "not ready while locked: "
                  f"{get_json(port, '/health')}")
            # The source goes on making items while the store is locked
            # (waited for here, under the lock: right after it the retry
            # may succeed before the origin has a new item to give).
            held = sv.source("weather")["items"]
            check(wait_for(lambda: sv.source("weather")["items"] > held, 10),
                  f"items made while locked: {held} -> "
                  f"{sv.source('weather')['items']}")
        finally:
            lock.execute("COMMIT")
            lock.close()
        check(wait_for(lambda: get_json(port, "/health")[0] == 200, 10),
              f"ready again: {get_json(port, '/health')}")
        st, _, _ = http(port, "POST", "/api/sources/weather/stop")
        check(st == 202, f"stop {st}")
        time.sleep(0.5)
        made = sv.source("weather")["items"]
        check(wait_for(lambda: len(items(sv.db, "weather")) == made, 10),
              f"every item stored: {len(items(sv.db, 'weather'))} of {made}")
        sv.stop()


class MuteWS(ThreadedServer):
    """A WebSocket server that completes the handshake, then neither sends
    nor answers anything (a peer gone quiet, a half-open connection)."""

    def __init__(self, answer=b""):
        self.conns = 0
        self.pings = 0
        self.heads = []  # each upgrade request's head, as received
        self.answer = answer  # more header lines for the 101
        super().__init__()

    def serve(self, c):
        import base64
        import hashlib
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = c.recv(4096)
            if not chunk:
                c.close()
                return
            data += chunk
        self.heads.append(data.split(b"\r\n\r\n")[0].decode("latin-1"))
        key = re.search(rb"(?i)sec-websocket-key: *(\S+)", data).group(1)
        acc = base64.b64encode(hashlib.sha1(
            key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket"
                  b"\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
                  acc + b"\r\n" + self.answer + b"\r\n")
        self.conns += 1
        while True:
            try:
                chunk = c.recv(4096)
            except OSError:
                break
            if not chunk:
                break
            self.pings += chunk[0] == 0x89  # a client ping frame's first byte
        c.close()


def test_ws_keepalive():
    """A websocket source whose server goes quiet: pinged after `timeout`,
    down ("no answer to a ping") after as long again, then reconnected. A
    quiet server that answers pings (the origin, sending nothing for a
    minute) stays up."""
    with tempfile.TemporaryDirectory() as d, MuteWS() as mute, Origin(
            pages=5, extra=["--stream-period", "60000"]) as o, Serve(
            d, "keepalive", f"""\
  - name: mute
    kind: websocket
    url: ws://127.0.0.1:{mute.port}/
    timeout: 500ms
  - name: quiet
    kind: websocket
    url: ws://127.0.0.1:{o.port}/stream
    timeout: 500ms
""") as sv:
        t0 = time.monotonic()
        check(wait_for(lambda: sv.source("mute").get("last_error") ==
                       "no answer to a ping in 0.5 s", 10),
              f"mute source down: {sv.source('mute')}")
        took = time.monotonic() - t0
        check(0.9 <= took < 5, f"down after {took:.1f} s (2 x 0.5 s)")
        check(mute.pings >= 1, f"pings sent {mute.pings}")
        check(wait_for(lambda: mute.conns >= 2, 10),
              f"reconnected: {mute.conns} connections")
        q = sv.source("quiet")
        check(q["state"] == "running" and q["last_error"] is None,
              f"quiet source stays up: {q}")
        sv.stop()


def test_ws_headers():
    """A websocket source's headers go with its upgrade request (its
    User-Agent in place of spate's), once each, and the API does not show
    them."""
    with tempfile.TemporaryDirectory() as d, MuteWS(
            b"Sec-WebSocket-Protocol: v2.stream\r\n") as ws, MuteWS(
            b"Sec-WebSocket-Protocol: v9\r\n") as other, MuteWS(
            b"Sec-WebSocket-Extensions: permessage-deflate\r\n") as ext, Serve(
            d, "wsheaders", f"""\
  - name: stream
    kind: websocket
    url: ws://127.0.0.1:{ws.port}/feed?v=2
    headers:
      Authorization: "Bearer s3cret"
      User-Agent: probe/1
      Sec-WebSocket-Protocol: v1.stream, v2.stream
  - name: unoffered
    kind: websocket
    url: ws://127.0.0.1:{other.port}/
    headers:
      Sec-WebSocket-Protocol: v1.stream, v2.stream
  - name: extension
    kind: websocket
    url: ws://127.0.0.1:{ext.port}/
""") as sv:
        check(wait_for(lambda: ws.conns >= 1, 10), "websocket connected")
        # The server picked an offered subprotocol: the source is up.
        check(wait_for(lambda: sv.source("stream").get("state") == "running",
                       10), f"stream {sv.source('stream')}")
        # One not offered, or an extension not asked for: refused
        # (RFC 6455, 4.1).
        for name in ("unoffered", "extension"):
            check(wait_for(lambda: sv.source(name).get("last_error") ==
                           "handshake refused", 10),
                  f"{name}: {sv.source(name)}")
        lines = ws.heads[0].split("\r\n")
        check(lines[0] == "GET /feed?v=2 HTTP/1.1", f"request line {lines[0]!r}")
        for want in ("Authorization: Bearer s3cret", "User-Agent: probe/1",
                     "Sec-WebSocket-Protocol: v1.stream, v2.stream",
                     "Upgrade: websocket",
                     "Sec-WebSocket-Version: 13"):
            check(lines.count(want) == 1, f"{want!r} once in {lines}")
        check(sum(x.lower().startswith("user-agent:") for x in lines) == 1,
              f"one User-Agent: {lines}")
        api = json.dumps(sv.sources())
        check("s3cret" not in api and "probe/1" not in api,
              f"headers shown by the API: {api}")
        sv.stop()


def test_redirects():
    """Redirects are followed as curl -L does (up to 5, http and https
    only), conditional GET included; a loop or another scheme is down with
    the reason."""
    with tempfile.TemporaryDirectory() as d, Origin(
            pages=5, extra=["--api-period", "60000"]) as o:
        api = urllib.parse.quote(o.url("/api/weather.json"), safe="")
        with Serve(d, "redirects", f"""\
  - name: moved
    kind: json
    url: {o.url('/redirect-to?code=301&url=' + api)}
    interval: 100ms
    fields:
      seq: /seq
  - name: loop
    kind: json
    url: {o.url('/loop/a')}
    interval: 1s
    retries: 0
  - name: ftp
    kind: json
    url: {o.url('/redirect-to?url=ftp%3A%2F%2F127.0.0.1%2Fx.json')}
    interval: 1s
    retries: 0
""") as sv:
            check(wait_for(lambda: sv.source("moved").get("items", 0) >= 1,
                           10), f"moved: {sv.source('moved')}")
            s = sv.source("moved")
            check(s["state"] == "running" and "seq" in s["values"],
                  f"moved source {s}")
            # Unchanged for a minute: the redirected polls are 304s.
            check(wait_for(lambda: origin_stats(o)["weather"]["304"] >= 3,
                           10), f"304 through a redirect {origin_stats(o)}")
            check(wait_for(lambda: [sv.source(n).get("state")
                                    for n in ("loop", "ftp")]
                           == ["down", "down"], 10), "loop and ftp down")
            s = sv.sources()
            check(s["loop"]["last_error"].startswith(
                "too many redirects (5), the last to http://"),
                f"loop: {s['loop']}")
            check(s["ftp"]["last_error"] == "HTTP 302 to ftp://127.0.0.1/x."
                  "json: only http and https are followed", f"ftp: {s['ftp']}")
            sv.stop()


def test_feed_restart():
    """A feed source restarted on the same store publishes only entries it
    has not stored before."""
    with tempfile.TemporaryDirectory() as d, Origin(
            pages=5, extra=["--feed-period", "600000"]) as o:
        conf = f"""\
  - name: rss
    kind: feed
    url: {o.url('/feed/rss.xml')}
    interval: 200ms
"""
        got = []
        for _ in range(2):
            with Serve(d, "feed", conf) as sv:
                check(wait_for(lambda: sv.source("rss").get("polls", 0) >= 3,
                               10), "feed polled")
                got.append(sv.source("rss")["items"])
                sv.stop()
        check(got[0] >= 1 and got[1] == 0,
              f"items in the first run, then after a restart: {got}")
        check(len(items(sv.db, "rss")) == got[0], "stored once")


main()
test_feed_restart()
test_redirects()
test_ws_keepalive()
test_ws_headers()
test_wss()
test_store_locked()
finish("it_serve")
