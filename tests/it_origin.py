"""Integration test of `spate origin`, the loopback test website.

Run as: python3 tests/it_origin.py path/to/spate

Starts the origin on an ephemeral port with 50 pages and a request log, and
checks every endpoint of docs/ORIGIN.md with http.client and raw sockets,
then that SIGTERM ends it with exit code 0. The crawler-test options
(--robots-status, --crawl-delay, --disallow, --plant, --hostile) get short
origins of their own. Standard library only."""
import base64
import datetime
import email.utils
import gzip
import hashlib
import html.parser
import http.client
import json
import os
import re
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
import zlib

SPATE = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/spate"
PAGES = 50
FAILURES = []
UA = "it-origin/1.0 (test)"


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what, file=sys.stderr, flush=True)
    return cond


class Client:
    """Counts the requests the origin must log (well-formed ones)."""

    def __init__(self, port):
        self.port = port
        self.logged = 0

    def conn(self, timeout=5):
        return http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=timeout)

    def get(self, path, headers=None, method="GET", conn=None):
        """(response, body) for one request on a new connection (or conn)."""
        c = conn or self.conn()
        h = {"User-Agent": UA}
        h.update(headers or {})
        c.request(method, path, headers=h)
        self.logged += 1
        r = c.getresponse()
        body = r.read()
        if conn is None:
            c.close()
        return r, body

    def raw(self, data, timeout=5, logged=1):
        """Sends bytes on a fresh socket; returns everything until EOF."""
        s = socket.create_connection(("127.0.0.1", self.port),
                                     timeout=timeout)
        try:
            s.sendall(data)
            self.logged += logged
            out = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                out += chunk
            return out
        finally:
            s.close()


def title_of(body):
    """The first <title> outside comments, as an HTML parser sees it."""
    class P(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.title = None
            self.inside = False

        def handle_starttag(self, tag, attrs):
            if tag == "title" and self.title is None:
                self.inside = True
                self.title = ""

        def handle_endtag(self, tag):
            if tag == "title":
                self.inside = False

        def handle_data(self, data):
            if self.inside:
                self.title += data

    p = P()
    p.feed(body.decode("latin-1"))
    return p.title


def links_of(body):
    return [int(x) for x in re.findall(rb'<a href="/p/(\d+)\.html">', body)]


# ---- the site ------------------------------------------------------------

def test_pages(cl):
    r, body = cl.get("/p/3.html")
    check(r.status == 200, f"/p/3.html status {r.status}")
    check(r.getheader("Content-Type") == "text/html; charset=utf-8",
          f"/p/3.html content type {r.getheader('Content-Type')}")
    check(int(r.getheader("Content-Length")) == len(body),
          "/p/3.html Content-Length matches the body")
    check(title_of(body) == "Page 3 of the synthetic site",
          f"/p/3.html title {title_of(body)!r}")
    check(b"<h1>Page 3</h1>" in body, "/p/3.html has its heading")
    links = links_of(body)
    check(5 <= len(links) <= 15, f"/p/3.html has {len(links)} links")
    check(links == sorted(set(links)), "/p/3.html links sorted and unique")
    check(4 in links and (3 * 7 + 3) % PAGES in links,
          f"/p/3.html links to N+1 and 7N+3: {links}")
    check(all(0 <= x < PAGES for x in links), "links stay in the site")
    check(5500 <= len(body) <= 7500, f"/p/3.html is {len(body)} bytes")
    words = re.search(rb"<p>(.*?)</p>", body, re.S).group(1).split()
    check(1000 <= len(words) <= 1200, f"/p/3.html has {len(words)} words")
    _, again = cl.get("/p/3.html")
    check(again == body, "pages are deterministic")
    _, other = cl.get("/p/4.html")
    check(other != body, "pages differ")
    r, body = cl.get(f"/p/{PAGES - 1}.html")
    check(r.status == 200, "the last page exists")
    check(((PAGES - 1) + 1) % PAGES in links_of(body), "links wrap around")

    r, body = cl.get("/")
    check(r.status == 200 and title_of(body) == "Synthetic site",
          f"/ is the index: {r.status} {title_of(body)!r}")
    check(b'href="/p/0.html"' in body, "/ links to /p/0.html")
    r, body2 = cl.get("/index.html")
    check(r.status == 200 and body2 == body, "/index.html is /")

    r, body = cl.get("/p/3.html", method="HEAD")
    check(r.status == 200 and body == b"" and
          int(r.getheader("Content-Length")) > 5000,
          "HEAD: headers with the page's length, no body")


def test_not_found(cl):
    for path in (f"/p/{PAGES}.html", "/p/-1.html", "/p/01.html", "/p/x.html",
                 "/nope", "/p/3.htm", "/json/x", "/loop/c"):
        r, body = cl.get(path)
        check(r.status == 404, f"{path} status {r.status}, want 404")
        check(b"Not Found" in body, f"{path} has a small HTML body")


def test_robots_private(cl):
    r, body = cl.get("/robots.txt")
    check(r.status == 200 and body == b"User-agent: *\nDisallow: /private/\n",
          f"robots.txt: {r.status} {body!r}")
    r, body = cl.get("/private/secret.html")
    check(r.status == 200 and title_of(body) == "Private page",
          f"/private/ serves a page: {r.status}")


def test_keepalive(cl):
    c = cl.conn()
    try:
        r1, b1 = cl.get("/p/1.html", conn=c)
        sock = c.sock
        check(sock is not None, "connection kept after the first response")
        r2, b2 = cl.get("/p/2.html", conn=c)
        check(c.sock is sock, "second request reused the connection")
        check(r1.status == 200 and r2.status == 200 and b1 != b2,
              "both keep-alive responses are right")
    finally:
        c.close()

    # HTTP/1.0 without keep-alive: the response, then EOF.
    out = cl.raw(b"GET /json/5 HTTP/1.0\r\nUser-Agent: raw\r\n\r\n")
    check(out.startswith(b"HTTP/1.1 200 ") and b"Connection: close" in out
          and out.endswith(b'"title":"JSON 5"}\n'),
          f"HTTP/1.0 gets the response then a close: {out[:80]!r}")

    # Pipelining: three requests in one write, three responses in order.
    out = cl.raw(b"GET /json/1 HTTP/1.1\r\nHost: x\r\n\r\n"
                 b"GET /json/2 HTTP/1.1\r\nHost: x\r\n\r\n"
                 b"GET /json/3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 b"\r\n", logged=3)
    titles = re.findall(rb'"title":"(JSON \d+)"', out)
    check(titles == [b"JSON 1", b"JSON 2", b"JSON 3"],
          f"pipelined responses in order: {titles}")

    # A pipelined flood behind a slow request: more than the origin holds
    # while busy, so it must stop reading and resume, answering all in order.
    n = 3000
    out = cl.raw(b"GET /slowhead?ms=200 HTTP/1.1\r\nHost: x\r\n\r\n" +
                 b"".join(b"GET /json/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i
                          for i in range(n)) +
                 b"GET /json/0 HTTP/1.1\r\nConnection: close\r\n\r\n",
                 timeout=20, logged=n + 2)
    ids = [int(x) for x in re.findall(rb'"title":"JSON (\d+)"', out)]
    check(ids == list(range(n)) + [0],
          f"{len(ids)} of {n + 1} pipelined responses, in order")

    # A request split over several writes.
    s = socket.create_connection(("127.0.0.1", cl.port), timeout=5)
    try:
        for part in (b"GET /js", b"on/9 HTTP/1.1\r\nHo", b"st: x\r\n",
                     b"Connection: close\r\n\r\n"):
            s.sendall(part)
            time.sleep(0.02)
        cl.logged += 1
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        check(b'"title":"JSON 9"' in out, "a request in pieces is served")
    finally:
        s.close()


# ---- fault endpoints -----------------------------------------------------

def test_status(cl):
    r, body = cl.get("/status/503?retry_after=7")
    ra = r.getheader("Retry-After")
    check(r.status == 503 and ra == "7",
          f"/status/503?retry_after=7: {r.status} {ra}")
    check(b"503" in body, "status pages have a small body")
    r, _ = cl.get("/status/429?retry_after_date=120")
    ra = r.getheader("Retry-After") or ""
    check(r.status == 429, f"/status/429 gives {r.status}")
    when = None
    try:
        when = email.utils.parsedate_to_datetime(ra).timestamp()
    except (TypeError, ValueError):
        pass
    check(when is not None and 100 <= when - time.time() <= 140,
          f"Retry-After as an HTTP date ~120 s ahead: {ra!r}")
    check(re.fullmatch(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} "
                       r"\d\d:\d\d:\d\d GMT", ra) is not None,
          f"Retry-After is an IMF-fixdate: {ra!r}")
    r, _ = cl.get("/status/200")
    check(r.status == 200 and r.getheader("Retry-After") is None,
          "/status/200 is plain 200")
    r, body = cl.get("/status/204")
    check(r.status == 204 and body == b"", "/status/204 has no body")
    for bad in ("/status/99", "/status/100", "/status/600", "/status/abc",
                "/status/", "/status/503?retry_after=x"):
        r, _ = cl.get(bad)
        check(r.status == 400, f"{bad} gives {r.status}, want 400")


def test_flaky(cl):
    seen = []
    for _ in range(3):
        r, body = cl.get("/flaky/k1?fail=2&retry_after=1")
        seen.append((r.status, r.getheader("Retry-After")))
    check(seen[:2] == [(503, "1"), (503, "1")],
          f"flaky k1 fails twice with Retry-After: {seen}")
    check(seen[2][0] == 200 and title_of(body) == "flaky k1",
          f"flaky k1 then succeeds: {seen[2]} {title_of(body)!r}")
    r, body = cl.get("/flaky/k2?fail=1&code=500")
    check(r.status == 500 and r.getheader("Retry-After") is None,
          f"flaky k2 is counted apart and uses code: {r.status}")
    r, body = cl.get("/flaky/k2?fail=1&code=500")
    check(r.status == 200 and title_of(body) == "flaky k2",
          f"flaky k2 second request: {r.status}")
    r, body = cl.get("/flaky/k1?fail=2")
    check(r.status == 200, "flaky k1 stays healthy")
    r, _ = cl.get("/flaky/k3?code=100")
    check(r.status == 400, "flaky with a 1xx code is refused")


def test_trickle(cl):
    t0 = time.monotonic()
    r, body = cl.get("/trickle?bytes=5&interval=100&chunk=1")
    dt = time.monotonic() - t0
    check(r.status == 200 and len(body) == 5,
          f"trickle sends 5 bytes: {r.status} {len(body)}")
    check(dt >= 0.45, f"trickle of 5x100 ms took {dt:.3f} s, want >= 0.45")
    check(dt < 3, f"trickle took {dt:.3f} s, far too long")
    t0 = time.monotonic()
    r, body = cl.get("/trickle?bytes=10&interval=50&chunk=4")
    dt = time.monotonic() - t0
    check(len(body) == 10 and dt >= 0.14,
          f"trickle 10 bytes in 4-byte chunks: {len(body)} in {dt:.3f} s")


def test_reset(cl):
    c = cl.conn()
    r = None
    try:
        c.request("GET", "/reset?after=1000", headers={"User-Agent": UA})
        cl.logged += 1
        r = c.getresponse()
        check(r.getheader("Content-Length") == "100000",
              "reset claims 100000 bytes")
        r.read()
        check(False, "reset: the body read succeeded")
    except (ConnectionResetError, http.client.IncompleteRead) as e:
        got = e.partial if isinstance(e, http.client.IncompleteRead) else b""
        check(len(got) <= 1000,
              f"reset: at most 1000 bytes before the reset, got {len(got)}")
    finally:
        c.close()
    # On a raw socket: headers, then (some of) the 1000 bytes, then RST.
    s = socket.create_connection(("127.0.0.1", cl.port), timeout=5)
    reset = False
    data = b""
    try:
        s.sendall(b"GET /reset?after=10 HTTP/1.1\r\nHost: x\r\n\r\n")
        cl.logged += 1
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        reset = True
    finally:
        s.close()
    check(reset, "reset ends with ECONNRESET, not a clean EOF")
    check(data == b"" or data.startswith(b"HTTP/1.1 200"),
          f"reset sent headers first: {data[:40]!r}")


def test_lie(cl):
    c = cl.conn()
    try:
        c.request("GET", "/lie?claim=1000&send=100",
                  headers={"User-Agent": UA})
        cl.logged += 1
        r = c.getresponse()
        check(r.getheader("Content-Length") == "1000", "lie claims 1000")
        r.read()
        check(False, "lie: the short body was read as complete")
    except http.client.IncompleteRead as e:
        check(len(e.partial) == 100,
              f"lie: 100 bytes then EOF, got {len(e.partial)}")
    finally:
        c.close()
    r, _ = cl.get("/lie?claim=10&send=10")
    check(r.status == 400, "lie with send >= claim is refused")


def test_bomb(cl):
    r, raw = cl.get("/bomb?mb=4")
    check(r.status == 200 and r.getheader("Content-Encoding") == "gzip",
          f"bomb: {r.status} {r.getheader('Content-Encoding')}")
    check(int(r.getheader("Content-Length")) == len(raw),
          "bomb: Content-Length is the compressed size")
    check(len(raw) < 64 * 1024, f"bomb: 4 MiB compress to {len(raw)} bytes")
    # Streaming inflate with a cap, as a careful client does.
    cap = 16 << 20
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    total = 0
    nonzero = False
    data = raw
    while data and total <= cap:
        out = d.decompress(data, 1 << 20)
        total += len(out)
        nonzero = nonzero or out.count(0) != len(out)
        data = d.unconsumed_tail
    check(d.eof and total == 4 << 20 and not nonzero,
          f"bomb inflates to exactly 4 MiB of zeros (got {total})")
    # A bigger bomb trips the cap, having read little.
    r, raw = cl.get("/bomb?mb=64")
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    total = 0
    data = raw
    while data and total <= cap:
        total += len(d.decompress(data, 1 << 20))
        data = d.unconsumed_tail
    check(total > cap and len(raw) < 256 * 1024,
          f"a 64 MiB bomb of {len(raw)} bytes passes a 16 MiB cap: {total}")
    full = gzip.decompress(cl.get("/bomb?mb=0")[1])
    check(full == b"", "bomb?mb=0 inflates to nothing")


def test_huge(cl):
    r, body = cl.get("/huge?bytes=300000")
    check(r.status == 200 and len(body) == 300000,
          f"huge?bytes=300000 sends {len(body)}")
    check(body[:26] == b"abcdefghijklmnopqrstuvwxyz", "huge is filler text")
    # A client that leaves mid-body: the server stops, and still serves.
    s = socket.create_connection(("127.0.0.1", cl.port), timeout=5)
    s.sendall(b"GET /huge HTTP/1.1\r\nHost: x\r\n\r\n")
    cl.logged += 1
    got = 0
    while got < 2 << 20:
        chunk = s.recv(1 << 16)
        if not chunk:
            break
        got += len(chunk)
    s.close()
    check(got >= 2 << 20, f"huge streams (read {got} bytes)")
    r, _ = cl.get("/p/0.html")
    check(r.status == 200, "the origin serves on after a client left /huge")


def test_headers(cl):
    s = socket.create_connection(("127.0.0.1", cl.port), timeout=5)
    try:
        s.sendall(b"GET /headers?kb=32 HTTP/1.1\r\nHost: x\r\n"
                  b"Connection: close\r\n\r\n")
        cl.logged += 1
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    head, _, body = out.partition(b"\r\n\r\n")
    check(out.startswith(b"HTTP/1.1 200 "), "headers?kb=32 is 200")
    check(31 * 1024 <= len(head) + 4 <= 33 * 1024,
          f"headers?kb=32 sends {len(head) + 4} header bytes")
    check(head.count(b"\r\nX-Filler-") > 300, "headers are X-Filler lines")
    check(body == b"headers ok\n", f"headers body {body!r}")


def test_redirects(cl):
    r, _ = cl.get("/redirect/3")
    check(r.status == 302 and r.getheader("Location") == "/redirect/2",
          f"/redirect/3 -> {r.status} {r.getheader('Location')}")
    r, _ = cl.get("/redirect/0")
    check(r.status == 302 and r.getheader("Location") == "/p/0.html",
          f"/redirect/0 -> {r.getheader('Location')}")
    r, _ = cl.get("/loop/a")
    check(r.status == 302 and r.getheader("Location") == "/loop/b",
          "/loop/a -> /loop/b")
    r, _ = cl.get("/loop/b")
    check(r.status == 302 and r.getheader("Location") == "/loop/a",
          "/loop/b -> /loop/a")
    r, _ = cl.get("/redirect-to?url=ftp%3A%2F%2Fx%2F&code=301")
    check(r.status == 301 and r.getheader("Location") == "ftp://x/",
          f"redirect-to ftp: {r.status} {r.getheader('Location')}")
    r, _ = cl.get("/redirect-to?url=http://10.0.0.1/a%20b")
    check(r.status == 302 and
          r.getheader("Location") == "http://10.0.0.1/a b",
          f"redirect-to default 302: {r.getheader('Location')}")
    for bad in ("/redirect-to?url=x&code=200", "/redirect-to",
                "/redirect-to?url=%0d%0aSet-Cookie:%20a=b",
                "/redirect-to?url=%zz"):
        r, _ = cl.get(bad)
        check(r.status == 400 and r.getheader("Set-Cookie") is None,
              f"{bad} gives {r.status}, want 400")


def test_fixed_pages(cl):
    r, body = cl.get("/nonutf8")
    check(r.status == 200 and r.getheader("Content-Type") == "text/html",
          f"nonutf8 type {r.getheader('Content-Type')}")
    check(b"<title>caf\xe9 cr\xe8me</title>" in body,
          "nonutf8 title has Latin-1 bytes")
    check(title_of(body) == "caf\u00e9 cr\u00e8me", "nonutf8 as Latin-1")
    try:
        body.decode("utf-8")
        check(False, "nonutf8 is not valid UTF-8")
    except UnicodeDecodeError:
        pass
    r, body = cl.get("/malformed")
    check(r.status == 200 and b"<title>Not the title</title> -->" in body,
          "malformed has a title inside a comment")
    check(title_of(body) == "Malformed but parsed",
          f"malformed title {title_of(body)!r}")
    r, body = cl.get("/json/21")
    check(r.getheader("Content-Type") == "application/json",
          "json content type")
    try:
        j = json.loads(body)
    except ValueError:
        j = {}
    check(j == {"id": 21, "name": "item 21", "tags": ["a", "b"],
                "nested": {"value": 42, "ok": True}, "title": "JSON 21"},
          f"json/21 body {body!r}")


def test_gzip(cl):
    _, plain = cl.get("/p/2.html")
    r, body = cl.get("/gzip/2.html", {"Accept-Encoding": "gzip, deflate"})
    check(r.getheader("Content-Encoding") == "gzip",
          "gzip page is gzipped when asked")
    check(gzip.decompress(body) == plain, "gzip page inflates to /p/2.html")
    r, body = cl.get("/gzip/2.html")
    check(r.getheader("Content-Encoding") is None and body == plain,
          "gzip page is plain when not asked")
    r, _ = cl.get(f"/gzip/{PAGES}.html", {"Accept-Encoding": "gzip"})
    check(r.status == 404, "gzip of a missing page is 404")


def test_close_and_delays(cl):
    out = cl.raw(b"GET /close HTTP/1.1\r\nHost: x\r\n\r\n")
    check(out == b"", f"/close gives an empty reply: {out[:40]!r}")
    t0 = time.monotonic()
    r, body = cl.get("/p/1.html?delay=300")
    dt = time.monotonic() - t0
    check(r.status == 200 and dt >= 0.29 and dt < 3,
          f"delay=300 took {dt:.3f} s")
    s = socket.create_connection(("127.0.0.1", cl.port), timeout=5)
    try:
        t0 = time.monotonic()
        s.sendall(b"GET /slowhead?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n")
        cl.logged += 1
        first = s.recv(1)
        dt = time.monotonic() - t0
        check(first == b"H" and 0.29 <= dt < 3,
              f"slowhead: first byte after {dt:.3f} s")
    finally:
        s.close()
    r, _ = cl.get("/p/1.html?delay=x")
    check(r.status == 400, "a bad delay is refused")


def test_bad_requests(cl):
    out = cl.raw(b"\x00\x01\x02garbage\xff\r\n\r\n", logged=0)
    check(out.startswith(b"HTTP/1.1 400 "), f"garbage gets 400: {out[:40]!r}")
    check(b"Connection: close" in out, "garbage: the server closes")
    out = cl.raw(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
                 logged=0)
    check(out == b"" or out.startswith(b"HTTP/1.1 431 "),
          f"a 20 KB header gets 431 or a close: {out[:40]!r}")
    check(out != b"", "a 20 KB header gets 431")
    # Half a request, then the client leaves.
    s = socket.create_connection(("127.0.0.1", cl.port), timeout=5)
    s.sendall(b"GET /p/1.html HTTP/1.1\r\nHost: x\r\nX-")
    s.close()
    # A client that resets mid-response.
    s = socket.create_connection(("127.0.0.1", cl.port), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
    s.sendall(b"GET /huge?bytes=100000000 HTTP/1.1\r\nHost: x\r\n\r\n")
    cl.logged += 1
    s.recv(1000)
    s.close()
    r, _ = cl.get("/p/0.html")
    check(r.status == 200, "the origin survives bad clients")


def test_many_connections(cl):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 10000
    if soft < want + 100 and hard > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE,
                               (min(hard, want + 200), hard))
        except (ValueError, OSError):
            pass
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    n = min(want, soft - 100)
    check(n >= 1000, f"only {n} descriptors for the many-connection test")
    socks = []
    sel = selectors.DefaultSelector()
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", cl.port), timeout=10)
            socks.append(s)
        req = b"GET /json/7 HTTP/1.1\r\nHost: x\r\n\r\n"
        for s in socks:
            s.sendall(req)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, bytearray())
        cl.logged += n
        done = good = 0
        end = time.monotonic() + 30
        while done < n and time.monotonic() < end:
            for key, _ in sel.select(timeout=1):
                try:
                    chunk = key.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                key.data.extend(chunk)
                complete = key.data.endswith(b'"title":"JSON 7"}\n')
                if complete or not chunk:
                    sel.unregister(key.fileobj)
                    done += 1
                    good += complete
        check(good == n, f"{good} of {n} concurrent connections answered")
    finally:
        sel.close()
        for s in socks:
            s.close()
    r, _ = cl.get("/p/0.html")
    check(r.status == 200, "the origin serves after 10,000 connections")


# ---- crawler traps (/hostile/, always served) ----------------------------

def hrefs_of(body):
    return re.findall(r'<a href="([^"]*)"', body.decode())


def test_hostile(cl):
    port = cl.port
    _, body = cl.get("/")
    check(b"/hostile/" not in body, "without --hostile / has no trap links")

    r, body = cl.get("/hostile/ssrf.html")
    want = [f"http://127.0.0.2:{port}/p/1.html",
            f"http://localhost:{port}/p/2.html",
            "http://10.0.0.1/x.html",
            "http://169.254.169.254/latest/meta-data/",
            f"http://[::1]:{port}/p/3.html",
            "http://192.168.1.1/",
            f"http://0x7f000001:{port}/p/4.html"]
    check(r.status == 200 and title_of(body) == "SSRF bait",
          f"ssrf.html: {r.status} {title_of(body)!r}")
    check(hrefs_of(body) == want, f"ssrf.html links {hrefs_of(body)}")

    r, body = cl.get("/hostile/ext.html")
    want = ["http://example.com/", "https://www.example.org/a.html",
            f"http://sub.127.0.0.1.nip.io:{port}/", "mailto:x@example.com",
            "javascript:void(0)", "ftp://example.com/file", "/p/5.html"]
    check(r.status == 200 and title_of(body) == "External links",
          f"ext.html: {r.status} {title_of(body)!r}")
    check(hrefs_of(body) == want, f"ext.html links {hrefs_of(body)}")

    for path, title, links in (
            ("/hostile/cal/2024/1.html", "Calendar 2024-1",
             ["/hostile/cal/2024/2.html", "/hostile/cal/2023/12.html"]),
            ("/hostile/cal/2023/12.html", "Calendar 2023-12",
             ["/hostile/cal/2024/1.html", "/hostile/cal/2023/11.html"]),
            ("/hostile/cal/1/1.html", "Calendar 1-1",
             ["/hostile/cal/1/2.html"]),
            ("/hostile/cal/9999/12.html", "Calendar 9999-12",
             ["/hostile/cal/9999/11.html"])):
        r, body = cl.get(path)
        check(r.status == 200 and title_of(body) == title and
              hrefs_of(body) == links,
              f"{path}: {r.status} {title_of(body)!r} {hrefs_of(body)}")
    for path in ("/hostile/cal/2024/13.html", "/hostile/cal/2024/0.html",
                 "/hostile/cal/0/1.html", "/hostile/cal/10000/1.html",
                 "/hostile/cal/2024/01.html", "/hostile/cal/2024/1.htm",
                 "/hostile/cal/2024.html", "/hostile/", "/hostile/nope"):
        r, _ = cl.get(path)
        check(r.status == 404, f"{path} gives {r.status}, want 404")

    r, body = cl.get("/hostile/grow?x=abc")
    check(r.status == 200 and title_of(body) == "Grow 3" and
          hrefs_of(body) == ["/hostile/grow?x=abca"],
          f"grow?x=abc: {r.status} {title_of(body)!r} {hrefs_of(body)}")
    r, body = cl.get("/hostile/grow")
    check(r.status == 200 and hrefs_of(body) == ["/hostile/grow?x=a"],
          f"grow without x links to x=a: {hrefs_of(body)}")
    x = "b" * 60000
    r, body = cl.get("/hostile/grow?x=" + x)
    check(r.status == 200 and hrefs_of(body) == [f"/hostile/grow?x={x}a"],
          f"grow with 60000 bytes: {r.status}")
    r, _ = cl.get("/hostile/grow?x=" + x + "b")
    check(r.status == 414, f"grow with 60001 bytes: {r.status}, want 414")
    out = cl.raw(b"GET /hostile/grow?x=" + b"b" * 70000 +
                 b" HTTP/1.1\r\nHost: x\r\n\r\n", logged=0)
    check(out.startswith(b"HTTP/1.1 414 ") and b"Connection: close" in out,
          f"a 70 KB target gets 414 and a close: {out[:40]!r}")

    for path, title, link in (
            ("/hostile/deep/a/", "Deep 1", "/hostile/deep/a/a/"),
            ("/hostile/deep/a/a/", "Deep 2", "/hostile/deep/a/a/a/"),
            ("/hostile/deep", "Deep 0", "/hostile/deep/a/"),
            ("/hostile/deep/x/y", "Deep 2", "/hostile/deep/x/y/a/")):
        r, body = cl.get(path)
        check(r.status == 200 and title_of(body) == title and
              hrefs_of(body) == [link],
              f"{path}: {r.status} {title_of(body)!r} {hrefs_of(body)}")

    for path, code, loc in (
            ("/hostile/redirect-loop", 302, "/hostile/redirect-loop2"),
            ("/hostile/redirect-loop2", 302, "/hostile/redirect-loop"),
            ("/hostile/redirect.html", 301, "/p/6.html")):
        r, _ = cl.get(path)
        check(r.status == code and r.getheader("Location") == loc,
              f"{path} -> {r.status} {r.getheader('Location')}")


# ---- the crawler-test options (an origin each) ----------------------------

def start_origin(*args, env=None):
    """A quiet origin with args; (process, port)."""
    proc = subprocess.Popen([SPATE, "origin", "--port", "0", "--quiet",
                             *args], stdout=subprocess.PIPE, text=True,
                            env=env)
    line = proc.stdout.readline()
    m = re.search(r":(\d+)/ ", line)
    if not m:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"origin {args} did not start: {line!r}")
    return proc, int(m.group(1))


def stop_origin(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    check(rc == 0, f"an option origin exits {rc}, want 0")


def test_robots_status():
    for code in (503, 404, 500, 429):
        proc, port = start_origin("--robots-status", str(code))
        try:
            c = Client(port)
            r, body = c.get("/robots.txt")
            check(r.status == code and str(code).encode() in body and
                  b"Disallow" not in body,
                  f"--robots-status {code}: {r.status} {body[:60]!r}")
            r, _ = c.get("/p/1.html")
            check(r.status == 200, f"--robots-status {code}: pages still 200")
        finally:
            stop_origin(proc)
    proc, port = start_origin("--robots-status", "100")
    try:
        out = Client(port).raw(b"GET /robots.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        check(out.startswith(b"HTTP/1.1 100 ") and out.endswith(b"\r\n\r\n")
              and b"Content-Length" not in out,
              f"--robots-status 100: a head, then a close: {out!r}")
    finally:
        stop_origin(proc)


def test_accept_without_memory():
    """A connection the server has no memory for is taken off the listen
    queue into the spare handle and closed unanswered, and the next one is
    served (SPATE_TEST_FAIL_ACCEPT=2: every other connection finds no
    memory): exact alternation one at a time, every connection of a burst
    answered or closed (none left hanging), and the server goes on."""
    proc, port = start_origin(
        "--pages", "10",
        env=dict(os.environ, SPATE_TEST_FAIL_ACCEPT="2"))

    def connect():
        return socket.create_connection(("127.0.0.1", port), timeout=5)

    def served(s):
        data = b""
        try:
            s.sendall(b"GET /p/1.html HTTP/1.1\r\nHost: x\r\n"
                      b"Connection: close\r\n\r\n")
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, BrokenPipeError):
            pass  # closed unanswered
        finally:
            s.close()
        return data.startswith(b"HTTP/1.1 200 ")

    try:
        seq = [served(connect()) for _ in range(6)]
        check(seq == [True, False] * 3, f"one at a time: {seq}")
        burst = [connect() for _ in range(20)]
        got = [served(s) for s in burst]  # a hang raises socket.timeout
        check(10 <= got.count(True) < 20,
              f"burst: {got.count(True)} of 20 served")
        after = [served(connect()) for _ in range(2)]
        check(after.count(True) >= 1, f"served after the burst: {after}")
    finally:
        stop_origin(proc)


def paragraph(body):
    return re.search(rb"<p>(.*?)</p>", body, re.S).group(1)


def test_site_options(cl):
    pages = 20
    proc, port = start_origin(
        "--pages", str(pages), "--crawl-delay", "0.2", "--disallow", "/a/",
        "--disallow", "/b*.pdf$", "--plant", "7:Zebra42", "--plant",
        "7:quokka", "--plant", "12:xylophone", "--hostile",
        "--robots-sitemap", "/hostile/sitemap-robots.xml", "--robots-sitemap",
        "http://example.com/s.xml")
    try:
        c = Client(port)
        r, body = c.get("/robots.txt")
        check(r.status == 200 and body ==
              b"User-agent: *\nDisallow: /private/\nDisallow: /a/\n"
              b"Disallow: /b*.pdf$\nCrawl-delay: 0.2\n"
              + f"Sitemap: http://127.0.0.1:{port}/hostile/sitemap-robots.xml\n"
              .encode() + b"Sitemap: http://example.com/s.xml\n",
              f"robots.txt with the options: {body!r}")
        r, body = c.get("/hostile/sitemap-robots.xml")
        check(r.status == 200 and
              f"<loc>http://127.0.0.1:{port}/hostile/robots-sitemap-only.html"
              "</loc>".encode() in body, f"sitemap-robots.xml: {body!r}")

        _, plain = cl.get("/p/7.html")  # the main origin: nothing planted
        _, body = c.get("/p/7.html")
        check(paragraph(body) == b"Zebra42 quokka " + paragraph(plain),
              f"--plant opens page 7's paragraph: {paragraph(body)[:40]!r}")
        _, gz = c.get("/gzip/7.html")
        check(gz == body, "/gzip/7.html has the planted words too")
        where = {w: [] for w in (b"Zebra42", b"quokka", b"xylophone")}
        for n in range(pages):
            _, page = c.get(f"/p/{n}.html")
            for w in where:
                if re.search(rb"\b" + w + rb"\b", page):
                    where[w].append(n)
        check(where == {b"Zebra42": [7], b"quokka": [7], b"xylophone": [12]},
              f"planted words only in their pages: {where}")

        _, body = c.get("/")
        want = ["/p/0.html", "/private/index.html", "/hostile/ssrf.html",
                "/hostile/ext.html", "/hostile/cal/2024/1.html",
                "/hostile/grow?x=a", "/hostile/deep/a/",
                "/hostile/redirect-loop", "/hostile/redirect.html",
                "/hostile/noindex.html", "/hostile/nofollow.html",
                "/hostile/refresh.html", "/hostile/sitemap.xml"]
        check(hrefs_of(body) == want,
              f"--hostile index links {hrefs_of(body)}")
        for path, robots, link in (
                ("/hostile/noindex.html", "noindex",
                 "/hostile/noindex-next.html"),
                ("/hostile/nofollow.html", "nofollow",
                 "/hostile/nofollow-target.html")):
            st, body = c.get(path)
            check(st.status == 200 and hrefs_of(body) == [link]
                  and f'<meta name=robots content="{robots}">'.encode()
                  in body, f"{path}: {st} {body[:200]!r}")
    finally:
        stop_origin(proc)

    proc, port = start_origin("--crawl-delay", "3")
    try:
        _, body = Client(port).get("/robots.txt")
        check(body == b"User-agent: *\nDisallow: /private/\nCrawl-delay: 3\n",
              f"robots.txt with only --crawl-delay: {body!r}")
    finally:
        stop_origin(proc)

    # Fewer than 10 pages: a one-digit page past the end is still a 404.
    proc, port = start_origin("--pages", "5")
    try:
        c = Client(port)
        got = [c.get(f"/p/{n}.html")[0].status for n in range(10)]
        check(got == [200] * 5 + [404] * 5, f"--pages 5: {got}")
    finally:
        stop_origin(proc)


def test_bad_site_options():
    bad = [["--plant", "3:bad-word"], ["--plant", "3:"], ["--plant", "x:w"],
           ["--plant", "3"], ["--plant", "-1:w"], ["--plant", "03:w"],
           ["--plant", "3:" + "w" * 65], ["--plant", "3:caf\u00e9"],
           ["--pages", "20", "--plant", "20:w"],
           ["--plant", "25:w", "--pages", "20"],
           ["--robots-status", "99"], ["--robots-status", "600"],
           ["--robots-status", "x"], ["--crawl-delay", "abc"],
           ["--crawl-delay", "1."], ["--crawl-delay", ".5"],
           ["--crawl-delay", "-1"], ["--disallow", ""],
           ["--disallow", "/a b"],
           ["--api-period", "0"], ["--feed-period", "86400001"],
           ["--stream-period", "x"], ["--api-period", "-5"],
           sum((["--plant", f"{i}:w"] for i in range(17)), []),
           sum((["--disallow", f"/{i}/"] for i in range(17)), [])]
    for args in bad:
        p = subprocess.run([SPATE, "origin", *args], capture_output=True,
                           text=True, timeout=10)
        check(p.returncode == 2 and p.stderr.count("\n") == 1 and
              p.stdout == "",
              f"origin {' '.join(args)[:60]}: exit {p.returncode}, "
              f"want 2 and one line: {p.stderr!r}")
    p = subprocess.run([SPATE, "origin", "--help"], capture_output=True,
                       text=True, timeout=10)
    check(all(o in p.stdout for o in ("--robots-status", "--crawl-delay",
                                      "--disallow", "--plant", "--hostile",
                                      "--api-period", "--feed-period",
                                      "--stream-period")),
          "--help names the crawler-test and live-endpoint options")


def test_cli():
    p = subprocess.run([SPATE, "origin", "--bogus"], capture_output=True,
                       text=True, timeout=10)
    check(p.returncode == 2, f"a bad option exits 2, got {p.returncode}")
    check(p.stderr.count("\n") == 1 and "bogus" in p.stderr,
          f"a bad option prints one line: {p.stderr!r}")
    p = subprocess.run([SPATE, "origin", "--port", "70000"],
                       capture_output=True, text=True, timeout=10)
    check(p.returncode == 2, f"a bad port exits 2, got {p.returncode}")
    p = subprocess.run([SPATE, "origin", "--help"], capture_output=True,
                       text=True, timeout=10)
    check(p.returncode == 0 and "--latency" in p.stdout, "--help works")


# ---- the live endpoints: /api/, /feed/, /stream, /control/ ---------------

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
        "Sunday")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
          "Oct", "Nov", "Dec")


def weather_values(seq):
    """(temp, wind) of version seq, as docs/ORIGIN.md defines them."""
    return (((seq % 401) * 37 % 401 - 100) / 10, ((seq % 301) * 53 % 301) / 10)


def price_of(seq):
    return (9000 + (seq % 2001) * 7919 % 2001) / 100


def version_of(r):
    m = re.fullmatch(r'"v(\d+)"', r.getheader("ETag") or "")
    return int(m.group(1)) if m else None


def http_forms(imf):
    """An IMF-fixdate in its RFC 850 and asctime forms."""
    d = email.utils.parsedate_to_datetime(imf)
    rfc850 = (f"{DAYS[d.weekday()]}, {d.day:02d}-{MONTHS[d.month - 1]}-"
              f"{d.year % 100:02d} {d:%H:%M:%S} GMT")
    asctime = (f"{DAYS[d.weekday()][:3]} {MONTHS[d.month - 1]} {d.day:2d} "
               f"{d:%H:%M:%S} {d.year}")
    return rfc850, asctime


class Tally:
    """Requests to the live endpoints, and the answers the origin must have
    counted in /api/origin-stats.json."""

    def __init__(self, cl):
        self.cl = cl
        self.n = {}

    def get(self, name, path, headers=None, method="GET"):
        r, body = self.cl.get(path, headers, method)
        key = (name, str(r.status))
        self.n[key] = self.n.get(key, 0) + 1
        return r, body

    def check_stats(self, names, what):
        r, body = self.cl.get("/api/origin-stats.json")
        if not check(r.status == 200, f"{what}: origin-stats {r.status}"):
            return
        stats = json.loads(body)
        for name in names:
            want = {code: self.n.get((name, code), 0)
                    for code in ("200", "304", "503")}
            check(stats.get(name) == want,
                  f"{what}: origin-stats {name} {stats.get(name)}, want "
                  f"{want}")


def conditional_304(t, name, path, header, value_of):
    """Sends header (its value from the last 200 via value_of) until the
    answer is 304 for that same version (a period may end in between,
    which gives a 200 of the next version). Returns the 304, or None."""
    for _ in range(5):
        r1, _ = t.get(name, path)
        r2, body = t.get(name, path, {header: value_of(r1)})
        if r2.status == 304:
            check(body == b"" and r2.getheader("Content-Type") is None and
                  r2.getheader("Content-Length") is None,
                  f"{path} {header}: a 304 has no body")
            check(r2.getheader("ETag") == r1.getheader("ETag") and
                  r2.getheader("Last-Modified") ==
                  r1.getheader("Last-Modified"),
                  f"{path} {header}: the 304 has the validators")
            return r2
        if not check(r2.status == 200 and
                     version_of(r2) == version_of(r1) + 1,
                     f"{path} {header}: {r2.status} {version_of(r2)} "
                     f"after version {version_of(r1)}"):
            return None
    check(False, f"{path} {header}: no 304 in 5 tries")
    return None


def check_conditional(t, name, path):
    """ETag and Last-Modified on a versioned document (period >= 1 s)."""
    conditional_304(t, name, path, "If-None-Match",
                    lambda r: r.getheader("ETag"))
    conditional_304(t, name, path, "If-None-Match",
                    lambda r: '"x", W/' + r.getheader("ETag") + ', "y"')
    conditional_304(t, name, path, "If-Modified-Since",
                    lambda r: r.getheader("Last-Modified"))
    for form in (0, 1):
        conditional_304(t, name, path, "If-Modified-Since",
                        lambda r: http_forms(r.getheader("Last-Modified"))
                        [form])
    r, _ = t.get(name, path, {"If-None-Match": "*"})
    check(r.status == 304, f"{path} If-None-Match: * gives {r.status}")
    old = "Thu, 01 Jan 2015 00:00:00 GMT"
    future = email.utils.formatdate(time.time() + 86400, usegmt=True)
    for h in ({"If-None-Match": '"v999999999"'},
              {"If-None-Match": '"v0-x"'},
              {"If-Modified-Since": old},
              {"If-Modified-Since": future},  # in the future: ignored
              {"If-Modified-Since": "yesterday"},
              # If-None-Match wins over a current If-Modified-Since
              {"If-None-Match": '"v999999999"',
               "If-Modified-Since": email.utils.formatdate(usegmt=True)}):
        r, body = t.get(name, path, h)
        check(r.status == 200 and body, f"{path} {h}: {r.status}, want 200")
    r, body = t.get(name, path, method="HEAD")
    check(r.status == 200 and body == b"" and r.getheader("ETag"),
          f"HEAD {path}: {r.status} with the validators, no body")


def test_weather(cl):
    t = Tally(cl)
    r, body = t.get("weather", "/api/weather.json")
    check(r.status == 200 and r.getheader("Content-Type") ==
          "application/json", f"/api/weather.json: {r.status} "
          f"{r.getheader('Content-Type')}")
    doc = json.loads(body)
    check(set(doc) == {"seq", "current", "updated"} and
          set(doc["current"]) == {"temp", "wind"},
          f"/api/weather.json keys: {doc}")
    seq = doc["seq"]
    check(r.getheader("ETag") == f'"v{seq}"',
          f"ETag {r.getheader('ETag')} for seq {seq}")
    check((doc["current"]["temp"], doc["current"]["wind"]) ==
          weather_values(seq), f"temp and wind of seq {seq}: {doc}")
    check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",
                       doc["updated"]) is not None,
          f"updated is RFC 3339: {doc['updated']}")
    updated = datetime.datetime.fromisoformat(
        doc["updated"].replace("Z", "+00:00")).timestamp()
    lm = email.utils.parsedate_to_datetime(
        r.getheader("Last-Modified")).timestamp()
    check(lm == int(updated), f"Last-Modified {lm} is the second of "
          f"updated {updated}")
    check(-0.5 <= time.time() - updated <= 2.5,
          f"updated {doc['updated']} is this period's start")
    # seq counts periods (1 s) since the start: the origin has run a while.
    check(seq >= 1, f"seq {seq} counts the seconds since the start")
    check_conditional(t, "weather", "/api/weather.json")
    r, _ = cl.get("/api/nope.json")
    check(r.status == 404, f"/api/nope.json: {r.status}")
    t.check_stats(["weather"], "after the weather checks")
    return t


def parse_feed(body, atom):
    """[(id, title, link, summary, date)] newest first, and the feed."""
    root = ET.fromstring(body)
    if atom:
        ns = {"a": "http://www.w3.org/2005/Atom"}
        items = [(e.findtext("a:id", namespaces=ns),
                  e.findtext("a:title", namespaces=ns),
                  e.find("a:link", ns).get("href"),
                  e.findtext("a:summary", namespaces=ns),
                  datetime.datetime.fromisoformat(
                      e.findtext("a:updated", namespaces=ns).replace(
                          "Z", "+00:00")).timestamp())
                 for e in root.findall("a:entry", ns)]
    else:
        items = [(e.findtext("guid"), e.findtext("title"),
                  e.findtext("link"), e.findtext("description"),
                  email.utils.parsedate_to_datetime(
                      e.findtext("pubDate")).timestamp())
                 for e in root.find("channel").findall("item")]
    return root, items


def check_feed(port, r, body, atom, what):
    name = "atom" if atom else "rss"
    ctype = f"application/{name}+xml; charset=utf-8"
    check(r.status == 200 and r.getheader("Content-Type") == ctype,
          f"{what}: {r.status} {r.getheader('Content-Type')}")
    check(b" news &amp; notes." in body, f"{what}: the &amp; entity")
    v = version_of(r)
    root, items = parse_feed(body, atom)
    ids = [i[0] for i in items]
    want = [f"urn:spate:item:{k}" for k in range(v, max(v - 10, 0), -1)]
    check(ids == want, f"{what}: version {v}, items {ids}, want {want}")
    for (id_, title, link, summary, _) in items:
        k = int(id_.rsplit(":", 1)[1])
        check(title == f"Item {k}" and
              link == f"http://127.0.0.1:{port}/items/{k}.html" and
              summary == f"Item {k} of the spate origin feed: news & "
              "notes.", f"{what}: item {k}: {title!r} {link!r} {summary!r}")
    dates = [i[4] for i in items]
    check(dates == sorted(dates, reverse=True), f"{what}: dates newest first")
    lm = email.utils.parsedate_to_datetime(
        r.getheader("Last-Modified")).timestamp()
    check(items and int(dates[0]) == lm,
          f"{what}: Last-Modified {lm} is the newest item's date")
    if atom:
        ns = {"a": "http://www.w3.org/2005/Atom"}
        check(root.tag == "{http://www.w3.org/2005/Atom}feed" and
              root.findtext("a:id", namespaces=ns) == "urn:spate:feed" and
              root.findtext("a:title", namespaces=ns) == "spate origin feed",
              f"{what}: an Atom feed")
    else:
        check(root.tag == "rss" and root.get("version") == "2.0" and
              root.find("channel").findtext("title") == "spate origin feed",
              f"{what}: an RSS 2.0 channel")
    return v, ids


def test_feeds(cl):
    t = Tally(cl)
    for name, atom in (("rss", False), ("atom", True)):
        path = f"/feed/{name}.xml"
        r, body = t.get(name, path)
        v, ids = check_feed(cl.port, r, body, atom, path)
        # One item a second since the start (a few seconds ago).
        check(len(ids) == min(v, 10) and v >= 2,
              f"{path}: {len(ids)} items of {v}")
        check_conditional(t, name, path)
        r, body = cl.get(f"/items/{v}.html")
        check(r.status == 200 and title_of(body) == f"Item {v}" and
              b"news &amp; notes" in body, f"/items/{v}.html: {r.status}")
    for path in ("/items/0.html", "/items/999999.html", "/items/1.htm",
                 "/items/01.html", "/feed/nope.xml"):
        r, _ = cl.get(path)
        check(r.status == 404, f"{path}: {r.status}, want 404")
    t.check_stats(["rss", "atom"], "after the feed checks")


class WS:
    """A minimal RFC 6455 client on a raw socket: the handshake, then
    frames."""

    def __init__(self, port, key=None, version="13", upgrade=True,
                 timeout=5, path="/stream", after=b""):
        self.key = key or base64.b64encode(os.urandom(16)).decode()
        self.s = socket.create_connection(("127.0.0.1", port),
                                          timeout=timeout)
        self.buf = b""
        self.raw = []  # the text messages as received
        req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if upgrade:
            req += "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        req += (f"Sec-WebSocket-Key: {self.key}\r\n"
                f"Sec-WebSocket-Version: {version}\r\n\r\n")
        self.s.sendall(req.encode() + after)  # after: frames sent at once
        while b"\r\n\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                break
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1]) if lines[0] else 0
        self.headers = {k.strip().lower(): v.strip() for k, v in
                        (x.split(":", 1) for x in lines[1:] if ":" in x)}

    def accept_ok(self):
        want = base64.b64encode(hashlib.sha1(
            (self.key + WS_GUID).encode()).digest()).decode()
        return self.headers.get("sec-websocket-accept") == want

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("the server closed the connection")
            self.buf += chunk

    def frame(self):
        """(opcode, payload) of the next frame; server frames are final
        and unmasked."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        n, h = b1 & 0x7f, 2
        if n == 126:
            self._need(4)
            n, h = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, h = struct.unpack(">Q", self.buf[2:10])[0], 10
        self._need(h + n)
        payload, self.buf = self.buf[h:h + n], self.buf[h + n:]
        check(b0 & 0xf0 == 0x80 and not b1 & 0x80,
              f"a server frame is final and unmasked: {b0:#x} {b1:#x}")
        return b0 & 0x0f, payload

    def messages(self, k):
        """The next k text messages, decoded, with their arrival times."""
        out = []
        while len(out) < k:
            op, payload = self.frame()
            if op == 1:
                self.raw.append(payload)
                out.append((time.monotonic(), json.loads(payload)))
        return out

    def send(self, opcode, payload=b"", mask=True, fin=True):
        self.s.sendall(self.encode(opcode, payload, mask, fin))

    @staticmethod
    def encode(opcode, payload=b"", mask=True, fin=True):
        n = len(payload)
        hdr = bytes([(0x80 if fin else 0) | opcode])
        mbit = 0x80 if mask else 0
        if n < 126:
            hdr += bytes([mbit | n])
        elif n < 65536:
            hdr += bytes([mbit | 126]) + struct.pack(">H", n)
        else:
            hdr += bytes([mbit | 127]) + struct.pack(">Q", n)
        if mask:
            m = os.urandom(4)
            hdr += m
            payload = bytes(b ^ m[i % 4] for i, b in enumerate(payload))
        return hdr + payload

    def until_close(self):
        """Reads up to the close frame; its status code (None if empty),
        and whether EOF follows."""
        while True:
            op, payload = self.frame()
            if op == 8:
                break
        code = struct.unpack(">H", payload[:2])[0] if payload else None
        try:
            eof = self.s.recv(100) == b""
        except OSError:
            eof = False
        return code, eof

    def close(self):
        self.s.close()


def check_stream_messages(ws, msgs, period, what):
    seqs = [m["seq"] for _, m in msgs]
    check(all(b > a for a, b in zip(seqs, seqs[1:])),
          f"{what}: seq increases: {seqs}")
    check(sum(b - a == 1 for a, b in zip(seqs, seqs[1:])) >=
          (len(seqs) - 1) // 2, f"{what}: seq mostly steps by 1: {seqs}")
    check(all(m["price"] == price_of(m["seq"]) for _, m in msgs),
          f"{what}: price follows seq: {[m for _, m in msgs]}")
    check(all(abs(m["time"] - time.time()) < 10 for _, m in msgs) and
          all(re.fullmatch(rb'\{"seq":\d+,"price":\d+\.\d\d,'
                           rb'"time":\d+\.\d{3}\}', p)
              for p in ws.raw[-len(msgs):]),
          f"{what}: time is Unix seconds with ms: {ws.raw[-1]!r}")
    span = msgs[-1][0] - msgs[0][0]
    want = (len(msgs) - 1) * period
    check(want * 0.5 <= span <= want * 3 + 1,
          f"{what}: {len(msgs)} messages over {span:.3f} s, about {want} s")


def test_stream(cl):
    ws = WS(cl.port)
    cl.logged += 1
    try:
        check(ws.status == 101 and
              ws.headers.get("upgrade", "").lower() == "websocket" and
              ws.headers.get("connection", "").lower() == "upgrade",
              f"/stream handshake: {ws.status} {ws.headers}")
        check(ws.accept_ok(), f"Sec-WebSocket-Accept for {ws.key}: "
              f"{ws.headers.get('sec-websocket-accept')}")
        msgs = ws.messages(5)
        check(all(set(m) == {"seq", "price", "time"} for _, m in msgs),
              f"/stream message keys: {msgs[0][1]}")
        check_stream_messages(ws, msgs, 0.2, "/stream")
        # A second client gets the same ticks.
        ws2 = WS(cl.port)
        cl.logged += 1
        try:
            check(ws2.status == 101 and ws2.accept_ok(),
                  f"a second /stream client: {ws2.status}")
            a = {m["seq"] for _, m in ws.messages(3)}
            b = {m["seq"] for _, m in ws2.messages(3)}
            check(a & b, f"two clients share ticks: {a} {b}")
        finally:
            ws2.close()
        # Client frames: data is ignored, a ping gets its pong.
        ws.send(1, b'{"hello": "origin"}')
        ws.send(2, bytes(range(256)) * 300)   # 76,800 bytes, ignored
        ws.send(1, b"frag", fin=False)
        ws.send(0, b"ment")
        ws.send(9, b"are you there")
        pong = None
        for _ in range(50):
            op, payload = ws.frame()
            if op == 10:
                pong = payload
                break
        check(pong == b"are you there", f"ping answered with pong: {pong}")
        more = ws.messages(2)
        check(more[1][1]["seq"] > msgs[-1][1]["seq"],
              "messages go on after client frames")
        ws.send(8, struct.pack(">H", 1000) + b"bye")
        code, eof = ws.until_close()
        check(code == 1000 and eof,
              f"close 1000 echoed ({code}), then the server closes ({eof})")
    finally:
        ws.close()

    # Frames sent with the handshake, before its answer (and with the
    # answer delayed, so they wait in the connection's input buffer).
    for path in ("/stream", "/stream?delay=100"):
        ws = WS(cl.port, path=path, after=WS.encode(9, b"early") +
                WS.encode(1, b"x" * 200))
        cl.logged += 1
        try:
            check(ws.status == 101 and ws.accept_ok(),
                  f"{path} with frames behind the handshake: {ws.status}")
            op, payload = ws.frame()
            while op == 1:
                op, payload = ws.frame()
            check((op, payload) == (10, b"early"),
                  f"{path}: the early ping is answered: {op} {payload!r}")
        finally:
            ws.close()

    ws = WS(cl.port)
    cl.logged += 1
    try:
        check(ws.status == 101, "a third client")
        ws.messages(1)
        ws.send(1, b"no mask", mask=False)
        code, eof = ws.until_close()
        check(code == 1002 and eof, f"an unmasked frame: close {code}")
    finally:
        ws.close()

    for kw, status, what in (({"upgrade": False}, 426, "no Upgrade"),
                             ({"version": "8"}, 426, "version 8"),
                             ({"key": "c2hvcnQ="}, 400, "a short key"),
                             ({"key": "!" * 24}, 400, "a bad key")):
        ws = WS(cl.port, **kw)
        cl.logged += 1
        check(ws.status == status, f"/stream with {what}: {ws.status}, "
              f"want {status}")
        if status == 426:
            check(ws.headers.get("sec-websocket-version") == "13",
                  f"/stream 426 names version 13: {ws.headers}")
        ws.close()
    r, body = cl.get("/stream")
    check(r.status == 426 and r.getheader("Upgrade") == "websocket" and
          b"426 Upgrade Required" in body, f"GET /stream: {r.status}")
    r, body = cl.get("/api/origin-stats.json")
    stream = json.loads(body).get("stream")
    check(stream == {"101": 5, "503": 0}, f"stream stats {stream}")


def test_live_periods():
    """Short periods: each version lasts one period, the feed grows by one
    item a period, the stream ticks at its period."""
    proc, port = start_origin("--api-period", "200", "--feed-period", "300",
                              "--stream-period", "50")
    try:
        c = Client(port)
        seen = {}      # seq -> body
        feed = []      # (version, ids)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.3:
            r, body = c.get("/api/weather.json")
            seq = json.loads(body)["seq"]
            check(seen.get(seq, body) == body,
                  f"seq {seq}: the same body all period")
            seen[seq] = body
            r, body = c.get("/feed/rss.xml")
            v, ids = check_feed(port, r, body, False, "rss at 300 ms")
            check(len(ids) == min(v, 10), f"rss at 300 ms: {len(ids)} of {v}")
            feed.append((v, ids))
            time.sleep(0.04)
        seqs = sorted(seen)
        check(seqs == list(range(seqs[0], seqs[-1] + 1)) and
              5 <= len(seqs) <= 9,
              f"weather at 200 ms: one version a period over 1.3 s: {seqs}")
        check(len(set(seen.values())) == len(seen),
              "each period has its own document")
        vs = [v for v, _ in feed]
        check(vs[0] <= 2 and vs == sorted(vs) and 4 <= vs[-1] - vs[0] + 1 <= 7
              and set(vs) == set(range(vs[0], vs[-1] + 1)),
              f"rss at 300 ms: one item a period from the start: {vs}")
        # Sub-second periods share Last-Modified seconds: If-Modified-Since
        # must never say 304 for a copy that is no longer current.
        r0, _ = c.get("/api/weather.json")
        stale = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.2:
            r, _ = c.get("/api/weather.json", {
                "If-Modified-Since": r0.getheader("Last-Modified")})
            if r.status == 304 and version_of(r) != version_of(r0):
                stale.append(version_of(r))
            time.sleep(0.03)
        check(not stale, f"If-Modified-Since at 200 ms: stale 304s {stale}")
        ws = WS(port)
        try:
            check(ws.status == 101 and ws.accept_ok(), "stream at 50 ms")
            check_stream_messages(ws, ws.messages(12), 0.05,
                                  "stream at 50 ms")
        finally:
            ws.close()
    finally:
        stop_origin(proc)


def test_down_up():
    proc, port = start_origin("--stream-period", "100")
    try:
        c = Client(port)
        t = Tally(c)
        ws = WS(port)
        check(ws.status == 101, "a client before the switch")
        ws.messages(1)
        t0 = time.monotonic()
        r, body = c.get("/control/down?for=1500", method="POST")
        check(r.status == 200 and json.loads(body) == {"down": True},
              f"POST /control/down?for=1500: {r.status} {body!r}")
        code, eof = ws.until_close()
        ws.close()
        check(code == 1011 and eof,
              f"/stream clients get close 1011 then EOF: {code} {eof}")
        _, body = c.get("/control/state")
        check(json.loads(body) == {"down": True}, f"state while down {body}")
        for name, path in (("weather", "/api/weather.json"),
                           ("rss", "/feed/rss.xml"),
                           ("atom", "/feed/atom.xml"),
                           (None, "/api/origin-stats.json"),
                           (None, "/api/nope"), (None, "/feed/nope")):
            r, body = t.get(name, path)
            check(r.status == 503 and r.getheader("Retry-After") == "1",
                  f"{path} while down: {r.status} "
                  f"{r.getheader('Retry-After')}")
        r, _ = t.get("weather", "/api/weather.json",
                     {"If-None-Match": "*"})
        check(r.status == 503, f"a conditional GET while down: {r.status}")
        ws = WS(port)
        check(ws.status == 503 and ws.headers.get("retry-after") == "1",
              f"/stream upgrade while down: {ws.status}")
        ws.close()
        for path in ("/p/1.html", "/items/1.html", "/json/3", "/"):
            r, _ = c.get(path)
            check(r.status == 200, f"{path} is not affected: {r.status}")
        for path, method, want in (("/control/down", "GET", 405),
                                   ("/control/up", "GET", 405),
                                   ("/control/state", "POST", 405),
                                   ("/control/down?for=0", "POST", 400),
                                   ("/control/down?for=x", "POST", 400),
                                   ("/control/down?for=86400001", "POST",
                                    400),
                                   ("/control/nope", "POST", 404)):
            r, _ = c.get(path, method=method)
            check(r.status == want, f"{method} {path}: {r.status}, want "
                  f"{want}")
        check(r.status != 405 or r.getheader("Allow"), "405 names Allow")
        _, body = c.get("/control/state")
        check(json.loads(body) == {"down": True}, "refused calls change "
              f"nothing: {body}")
        time.sleep(max(0, 1.65 - (time.monotonic() - t0)))
        _, body = c.get("/control/state")
        check(json.loads(body) == {"down": False},
              f"down for 1500 ms, then up by itself: {body}")
        for name, path in (("weather", "/api/weather.json"),
                           ("rss", "/feed/rss.xml"),
                           ("atom", "/feed/atom.xml")):
            r, _ = t.get(name, path)
            check(r.status == 200, f"{path} after the switch: {r.status}")
        ws = WS(port)
        check(ws.status == 101 and ws.messages(1), "/stream after the switch")
        ws.close()

        # Down until told otherwise, then up early.
        r, body = c.get("/control/down", method="POST")
        check(json.loads(body) == {"down": True}, "down without for")
        time.sleep(0.3)
        r, _ = t.get("weather", "/api/weather.json")
        check(r.status == 503, f"still down after 0.3 s: {r.status}")
        r, body = c.get("/control/up", method="POST")
        check(r.status == 200 and json.loads(body) == {"down": False},
              f"POST /control/up: {r.status} {body!r}")
        for name, path in (("weather", "/api/weather.json"),
                           ("rss", "/feed/rss.xml"),
                           ("atom", "/feed/atom.xml")):
            r, _ = t.get(name, path)
            check(r.status == 200, f"{path} after /control/up: {r.status}")
        ws = WS(port)
        check(ws.status == 101 and ws.messages(1), "/stream after up")
        ws.close()
        # A stream while down again, and up, for the counts.
        r, body = c.get("/control/down?for=60000", method="POST")
        r, body = c.get("/control/up", method="POST")
        t.check_stats(["weather", "rss", "atom"], "the down/up switch")
        _, body = c.get("/api/origin-stats.json")
        check(json.loads(body)["stream"] == {"101": 3, "503": 1},
              f"stream stats after the switch: {body!r}")
    finally:
        stop_origin(proc)


def open_busy_connections(cl):
    """Connections in every state, left open across SIGTERM: stopping must
    close them all and free everything (the ASan build checks)."""
    socks = []

    def sock(data, logged=1):
        s = socket.create_connection(("127.0.0.1", cl.port), timeout=5)
        if data:
            s.sendall(data)
        cl.logged += logged
        socks.append(s)
        return s

    sock(b"", 0)                                         # idle
    sock(b"GET /p/1.html HTTP/1.1\r\nHost: x\r\nX-Ha", 0)  # half a request
    sock(b"GET /p/1.html?delay=60000 HTTP/1.1\r\n\r\n")    # waiting
    sock(b"GET /trickle?bytes=100&interval=1000 HTTP/1.1\r\n\r\n")
    s = sock(b"GET /huge HTTP/1.1\r\n\r\n")             # stalled reader
    s.recv(100)
    sock(b"GET /bomb?mb=65536 HTTP/1.1\r\n\r\n")
    # Pipelined requests behind a slow one: they wait in the pending buffer.
    sock(b"GET /slowhead?ms=60000 HTTP/1.1\r\n\r\n"
         b"GET /p/2.html HTTP/1.1\r\n\r\n", 1)
    c = cl.conn()                                        # idle keep-alive
    cl.get("/p/3.html", conn=c)
    socks.append(c)
    time.sleep(0.3)  # let the origin read them all
    return socks


def check_log(path, cl):
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    check(lines[-1] == b"", "the log ends with a newline")
    lines = lines[:-1]
    check(len(lines) == cl.logged,
          f"the log has {len(lines)} lines, want one per request "
          f"({cl.logged})")
    pat = re.compile(rb"\d{13}\.\d{3} [A-Z]+ \S+ .+")
    bad = [l for l in lines if not pat.fullmatch(l)]
    check(not bad, f"malformed log lines: {bad[:3]}")
    check(any(l.endswith(b" GET /p/3.html " + UA.encode()) for l in lines),
          "the log names method, path and user agent")
    check(any(b" GET /flaky/k1?fail=2&retry_after=1 " in l for l in lines),
          "the log keeps the query")
    stamps = [float(l.split(b" ")[0]) for l in lines]
    check(abs(stamps[-1] / 1000 - time.time()) < 120,
          "log times are Unix milliseconds")


def main():
    log = tempfile.NamedTemporaryFile(prefix="it-origin-", suffix=".log",
                                      delete=False)
    log.close()
    proc = subprocess.Popen([SPATE, "origin", "--port", "0", "--pages",
                             str(PAGES), "--log", log.name],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout=15):
            raise RuntimeError("origin printed nothing in 15 s")
        line = proc.stdout.readline().decode()
        m = re.fullmatch(r"origin listening on http://127\.0\.0\.1:(\d+)/ "
                         r"\((\d+) pages\)\n", line)
        if not m:
            raise RuntimeError(f"unexpected first line {line!r}")
        check(int(m.group(2)) == PAGES, "the line states the page count")
        cl = Client(int(m.group(1)))
        tests = [test_pages, test_not_found, test_robots_private,
                 test_keepalive, test_status, test_flaky, test_trickle,
                 test_reset, test_lie, test_bomb, test_huge, test_headers,
                 test_redirects, test_fixed_pages, test_gzip,
                 test_close_and_delays, test_bad_requests, test_hostile,
                 test_site_options, test_weather, test_feeds, test_stream,
                 test_many_connections]
        for t in tests:
            t0 = time.monotonic()
            try:
                t(cl)
            except Exception as e:  # a crash is a failure, not an abort
                check(False, f"{t.__name__} raised {e!r}")
            print(f"  {t.__name__}: {time.monotonic() - t0:.2f} s",
                  file=sys.stderr)
        check(proc.poll() is None, "the origin is still running")
        test_cli()
        for t in (test_robots_status, test_bad_site_options,
                  test_live_periods, test_down_up,
                  test_accept_without_memory):
            try:
                t()
            except Exception as e:
                check(False, f"{t.__name__} raised {e!r}")
        busy = open_busy_connections(cl)
        ws = WS(cl.port)  # a /stream client, cut by the stop
        cl.logged += 1
        check(ws.status == 101, "a /stream client left open")
        busy.append(ws.s)

        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(5)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 0, f"SIGTERM: exit code {rc}, want 0 within 5 s")
        for s in busy:
            s.close()
        err = proc.stderr.read().decode(errors="replace")
        check("ERROR" not in err and "runtime error" not in err,
              f"sanitizer reports on stderr: {err[-2000:]}")
        check_log(log.name, cl)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.unlink(log.name)
    if FAILURES:
        print(f"it_origin: {len(FAILURES)} failed", file=sys.stderr)
        sys.exit(1)
    print("it_origin: ok", file=sys.stderr)


if __name__ == "__main__":
    main()
