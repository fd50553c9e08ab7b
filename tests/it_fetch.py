"""spate fetch against spate origin: every URL answered exactly once with
the right title, every fault endpoint mapped to its documented error code,
the sinks, and clean answers to bad input."""
import calendar
import json
import os
import re
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.request
from urllib.parse import quote

from spatetest import (SPATE, Origin, ThreadedServer, check, fetch, finish,
                       one)


def test_site(o):
    urls = [o.url(f"/p/{i}.html") for i in range(300)]  # 100 out of range
    urls += [urls[5]]  # a duplicate line is a second input: two results
    code, res, lines, err = fetch(urls, "-c", "50", "--per-host", "20")
    check(code == 1, f"exit {code}, want 1 (some 404s)")
    check(len(lines) == len(urls), f"{len(lines)} lines for {len(urls)}")
    body = urllib.request.urlopen(o.url("/p/7.html")).read().decode()
    nlinks = body.count("<a href=")
    for i in range(300):
        u = o.url(f"/p/{i}.html")
        got = res.get(u, [])
        check(len(got) == (2 if i == 5 else 1), f"{u}: {len(got)} results")
        if not got:
            continue
        r = got[0]
        if i < 200:
            check(r["status"] == 200 and r["error"] is None, f"{u}: {r}")
            check(r["title"] == f"Page {i} of the synthetic site",
                  f"{u} title {r['title']!r}")
            check(r["attempts"] == 1, f"{u} attempts")
            check(len(r["hash"]) == 64, f"{u} hash")
            check(r["bytes"] > 5000, f"{u} bytes")
            check(r["final_url"] == u, f"{u} final_url")
        else:
            check(r["status"] == 404 and r["error"] == "http", f"{u}: {r}")
    check(res[o.url("/p/7.html")][0]["links"] == nlinks,
          f"links {res[o.url('/p/7.html')][0]['links']} want {nlinks}")
    check("200 ok" not in err and "301 URLs" in err and "p99" in err,
          f"summary: {err}")
    # Key order is part of the contract.
    keys = list(json.loads(lines[0]).keys())
    check(keys == ["url", "final_url", "status", "error", "attempts",
                   "elapsed_ms", "ttfb_ms", "bytes", "content_type", "title",
                   "links", "canonical", "meta_robots", "hash", "fetched_at",
                   "fields"], f"keys {keys}")


def refused_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_faults(o):
    u = o.url
    cases = [  # (url, expected error, expected status or None)
        (u("/status/404"), "http", 404),
        (u("/status/500"), "http", 500),
        (u("/status/204"), None, 204),
        (u("/reset?after=100"), "reset", None),
        (u("/close"), "reset", 0),
        (u("/lie?claim=1000&send=10"), "truncated", 200),
        (u("/huge?bytes=50000000"), "too_large", 200),
        (u("/bomb?mb=64"), "too_large", 200),
        (u("/headers?kb=100"), "too_large", None),
        (u("/redirect/3"), None, 200),
        (u("/redirect/20"), "too_many_redirects", 302),
        (u("/loop/a"), "redirect_loop", 302),
        (u("/redirect-to?url=ftp%3A%2F%2Fexample.com%2F"),
         "unsupported_scheme", 302),
        (u("/trickle?bytes=10&interval=2500"), "timeout", 200),
        (u("/slowhead?ms=4000"), "timeout", 0),
        (u("/nonutf8"), None, 200),
        (u("/malformed"), None, 200),
        (u("/json/5"), None, 200),
        (u("/gzip/3.html"), None, 200),
        (f"http://127.0.0.1:{refused_port()}/", "connect", 0),
        ("not a url", "bad_url", 0),
        ("ftp://example.com/x", "unsupported_scheme", 0),
        ("http://example.com/" + "a" * 9000, "url_too_long", 0),
        ("mailto:someone@example.com", "unsupported_scheme", 0),
    ]
    code, res, lines, err = fetch(
        [c[0] for c in cases], "--retries", "0", "--max-body", "1M",
        "--stall-timeout", "1", "--first-byte-timeout", "1",
        "--extract", "name=json:/name", "--extract", "val=json:/nested/value",
        "--extract", "h1=xpath://h1", "--extract", "n=xpath:count(//li/a)",
        "--extract", "first=css:ul > li:first-child a::attr(href)")
    check(code == 1, f"exit {code}")
    check(len(lines) == len(cases), f"{len(lines)} lines, {len(cases)} URLs")
    for url, want_err, want_status in cases:
        r = one(res, url)
        if not r:
            continue
        check(r["error"] == want_err,
              f"{url[:80]}: error {r['error']!r}, want {want_err!r}")
        if want_status is not None:
            check(r["status"] == want_status,
                  f"{url[:80]}: status {r['status']}, want {want_status}")
    r = one(res, u("/redirect/3"))
    if r:
        check(r["final_url"] == u("/p/0.html"), f"final_url {r['final_url']}")
        check(r["title"] == "Page 0 of the synthetic site", "redirect title")
        check(r["attempts"] == 1, "redirect hops are not attempts")
    r = one(res, u("/json/5"))
    if r:
        check(r["fields"] == {"name": "item 5", "val": 10, "h1": None,
                              "n": None, "first": None}, f"{r['fields']}")
    r = one(res, u("/gzip/3.html"))
    if r:
        # libxml2's count of the list's links is the scanner's count
        check(r["fields"]["h1"] == "Page 3" and r["links"] > 0
              and r["fields"]["n"] == r["links"]
              and re.fullmatch(r"/p/\d+\.html", r["fields"]["first"] or ""),
              f"xpath fields of a page: {r['fields']}, links {r['links']}")
    r = one(res, u("/nonutf8"))
    if r:
        check(r["fields"]["h1"] == "caf\u00e9 cr\u00e8me",
              f"xpath on a Latin-1 page: {r['fields']}")
    r = one(res, u("/nonutf8"))
    if r:
        # Latin-1 bytes, no charset: read as windows-1252.
        check(r["title"] == "caf\u00e9 cr\u00e8me",
              f"non-UTF-8 title {r['title']!r}")
    r = one(res, u("/gzip/3.html"))
    if r:
        check(r["title"] == "Page 3 of the synthetic site", "gzip title")
    r = one(res, u("/slowhead?ms=4000"))
    if r:
        check(r["elapsed_ms"] < 3000, f"first-byte timeout took "
              f"{r['elapsed_ms']} ms")
    r = one(res, u("/status/500"))
    if r:
        check(r["attempts"] == 1, "a 500 is not retried")


def test_timeouts(o):
    # A first-byte timeout ends that transfer only: the ones started in
    # its place are not caught by the same sweep.
    slow, p1, p2 = (o.url("/slowhead?ms=5000"), o.url("/p/1.html?t"),
                    o.url("/p/2.html?t"))
    code, res, lines, err = fetch([slow, p1, p2], "-c", "1", "--retries",
                                  "0", "--breaker", "0",
                                  "--first-byte-timeout", "1s")
    r = one(res, slow)
    check(r and r["error"] == "timeout", f"slowhead: {r}")
    for u in (p1, p2):
        r = one(res, u)
        check(r and r["error"] is None and r["status"] == 200,
              f"after a timeout: {r}")
    # The stall timeout counts from the last byte, not from the start: a
    # slow first byte within --first-byte-timeout is fine.
    u = o.url("/slowhead?ms=2500")
    code, res, lines, err = fetch([u], "--stall-timeout", "1s",
                                  "--first-byte-timeout", "5s")
    r = one(res, u)
    check(r and r["error"] is None and r["status"] == 200,
          f"slow first byte under a short stall timeout: {r}")


def test_idn():
    # An international host name is converted (libidn2, UTF-8 locale), not
    # refused as malformed; this machine has no resolver for it.
    u = "http://m\u00fcller.invalid/"
    code, res, lines, err = fetch([u], "--retries", "0", "--connect-timeout",
                                  "3s")
    r = one(res, u)
    check(r and r["error"] in ("dns", "timeout", "connect"),
          f"IDN host: {r and r['error']}")


def test_streamed_stdin(o):
    # A URL written to a pipe that stays open is fetched at once, not when
    # more input or its end arrives (tail -f urls | spate fetch).
    p = subprocess.Popen([SPATE, "fetch", "-q"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        p.stdin.write(o.url("/p/3.html?stream") + "\n")
        p.stdin.flush()
        t0 = time.monotonic()
        line = p.stdout.readline()
        check(time.monotonic() - t0 < 3, "streamed URL waited for more input")
        check('"title":"Page 3 of the synthetic site"' in line,
              f"streamed result: {line!r}")
    finally:
        p.stdin.close()
        p.wait(timeout=30)
    check(p.returncode == 0, f"exit {p.returncode}")


def test_sinks(o):
    urls = [o.url(f"/p/{i}.html") for i in range(120)] + ["bad url"]
    with tempfile.TemporaryDirectory() as d:
        db = os.path.join(d, "r.db")
        code, _, lines, err = fetch(urls, "-o", db)
        check(lines == [], "nothing on stdout with -o")
        con = sqlite3.connect(db)
        rows = con.execute("select url, status, title, error from results"
                           ).fetchall()
        check(len(rows) == len(urls), f"sqlite rows {len(rows)}")
        check(len({r[0] for r in rows}) == len(urls), "sqlite urls unique")
        check(con.execute("pragma journal_mode").fetchone()[0] == "wal",
              "WAL")
        bad = [r for r in rows if r[0] == "bad url"]
        check(bad and bad[0][3] == "bad_url", f"bad row {bad}")
        con.close()
        csvp = os.path.join(d, "r.csv")
        fetch(urls, "-o", csvp)
        import csv
        with open(csvp, newline="") as f:
            rows = list(csv.DictReader(f))
        check(len(rows) == len(urls), f"csv rows {len(rows)}")
        check(all(r["title"].startswith("Page ") for r in rows
                  if r["url"] != "bad url"), "csv titles")


def test_usage(o):
    def run(*args, stdin=""):
        return subprocess.run([SPATE] + list(args), input=stdin,
                              capture_output=True, text=True, timeout=30)
    p = run("fetch", "--bogus")
    check(p.returncode == 2 and p.stderr.count("\n") == 1
          and "--bogus" in p.stderr, f"bad option: {p.returncode} {p.stderr}")
    p = run("fetch", "-c", "zero", "http://x/")
    check(p.returncode == 2 and "--concurrency" in p.stderr, p.stderr)
    p = run("fetch", "-i", "/nonexistent/urls.txt")
    check(p.returncode == 3 and "/nonexistent/urls.txt" in p.stderr,
          f"missing file: {p.returncode} {p.stderr}")
    p = run("fetch", "--extract", "x=yaml:h1", "http://x/")
    check(p.returncode == 2 and "unknown kind" in p.stderr, p.stderr)
    p = run("fetch", "--extract", "x=css:li:nth-child(2n+)", "http://x/")
    check(p.returncode == 2 and p.stderr.count("\n") == 1
          and "bad CSS selector" in p.stderr, f"bad css: {p.stderr!r}")
    p = run("fetch", "--extract", "x=xpath://[", "http://x/")
    check(p.returncode == 2 and p.stderr.count("\n") == 1
          and "bad XPath" in p.stderr, f"bad xpath: {p.stderr!r}")
    p = run("fetch", "-o", "/nonexistent/dir/out.db", o.url("/"))
    check(p.returncode == 3 and "out.db" in p.stderr, p.stderr)
    p = run("fetch", "--timeout", "soon", "http://x/")
    check(p.returncode == 2, "bad duration")
    p = run("fetch", "--help")
    check(p.returncode == 0 and "--per-host" in p.stdout, "help")
    p = run("frobnicate")
    check(p.returncode == 2 and "frobnicate" in p.stderr, "unknown command")
    p = run("fetch", "-q", o.url("/p/1.html"))
    check(p.returncode == 0 and p.stderr == "", f"quiet: {p.stderr!r}")
    # Forced on (stderr is not a terminal here): a run of ~1.5 s redraws
    # the line several times, then clears it before the summary.
    urls = "".join(o.url(f"/p/{i}.html?delay=100") + "\n" for i in range(60))
    p = run("fetch", "--progress", "-c", "4", stdin=urls)
    # (text mode turns the \r that redraws the line into \n)
    frames = [f for f in p.stderr.splitlines() if " done " in f]
    check(len(frames) >= 3, f"progress frames: {p.stderr!r}")
    check(all("in flight" in f and "/s" in f and "ETA" in f
              for f in frames), f"progress fields: {frames[:2]}")
    check("60 URLs in" in p.stderr, "summary after progress")
    # An empty input is a valid, empty run.
    p = run("fetch", "-q", stdin="\n# nothing\n")
    check(p.returncode == 0 and p.stdout == "", "empty input")
    # A closed stdout ends the run with a write error, not a hang or crash.
    urls = "".join(o.url(f"/p/{i % 50}.html?x={i}") + "\n"
                   for i in range(3000))
    p = subprocess.run(f"{SPATE} fetch -q | head -n 3", shell=True,
                       input=urls, capture_output=True, text=True, timeout=60)
    check(p.stdout.count("\n") == 3, "head -n 3")
    # A full disk ends the run at once for every loop, even with slow
    # transfers in flight, with exit status 4.
    urls = "".join(o.url(f"/p/{i % 50}.html?f={i}") + "\n" for i in range(400))
    urls += "".join(o.url(f"/p/1.html?delay=20000&s={i}") + "\n"
                    for i in range(8))
    t0 = time.monotonic()
    p = subprocess.run([SPATE, "fetch", "-q", "--loops", "2", "-o",
                        "/dev/full"], input=urls, capture_output=True,
                       text=True, timeout=60)
    took = time.monotonic() - t0
    check(p.returncode == 4, f"/dev/full: exit {p.returncode} {p.stderr}")
    check(took < 8, f"/dev/full run took {took:.1f}s")
    check("No space left" in p.stderr, f"/dev/full message: {p.stderr}")


class KeepAliveServer(ThreadedServer):
    """HTTP/1.1 with keep-alive; with close_after set, each connection is
    closed that many seconds after its first response, with no
    Connection: close to warn the client, as a server's idle timeout
    does."""

    def __init__(self, close_after=None):
        self.close_after = close_after
        self.connections = 0
        self.requests = 0
        # Per connection the client closed: (paths it served, when the
        # client's close was read). Paths under /slow/ wait 1.5 s first.
        self.client_closed = []
        self.answered = {}  # path: when its response was sent
        super().__init__()

    def serve(self, c):
        self.connections += 1
        c.settimeout(10)
        data = b""
        paths = []
        try:
            while True:
                while b"\r\n\r\n" not in data:
                    chunk = c.recv(4096)
                    if not chunk:
                        self.client_closed.append((paths, time.monotonic()))
                        return
                    data += chunk
                head, data = data.split(b"\r\n\r\n", 1)
                path = head.split(b" ")[1].decode()
                paths.append(path)
                self.requests += 1
                if path.startswith("/slow/"):
                    time.sleep(1.5)
                body = f"<title>at {path}</title>".encode()
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(body) + body)
                self.answered[path] = time.monotonic()
                if self.close_after is not None:
                    time.sleep(self.close_after)
                    return
        except OSError:
            return
        finally:
            c.close()


def test_idle_connections():
    """Kept-alive connections between transfers: reused while the server
    keeps them; when the server closes one while it is idle, the next
    request gets a new connection and the idle socket does not keep the
    loop busy (level-triggered readiness of a socket nobody reads)."""
    import resource
    for close_after, want_conns in ((None, 1), (0.05, 6)):
        with KeepAliveServer(close_after) as srv:
            urls = [f"http://127.0.0.1:{srv.port}/k/{i}" for i in range(6)]
            ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.monotonic()
            # 4 per second: 1.25 s, mostly with the connection idle.
            code, res, lines, err = fetch(urls, "--per-host", "1", "--rate",
                                          "4", "--loops", "1")
            wall = time.monotonic() - t0
            ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
            what = f"close_after={close_after}"
            check(code == 0, f"{what}: exit {code}: {err}")
            for i, u in enumerate(urls):
                r = one(res, u)
                check(r is not None and r["status"] == 200 and
                      r["title"] == f"at /k/{i}" and r["attempts"] == 1,
                      f"{what}: {u}: {r}")
            check(srv.requests == 6, f"{what}: {srv.requests} requests")
            check(srv.connections == want_conns,
                  f"{what}: {srv.connections} connections, want {want_conns}")
            check(wall >= 1.2, f"{what}: rate not kept ({wall:.2f} s)")
            check(cpu < 0.5 * wall,
                  f"{what}: {cpu:.2f} CPU s in {wall:.2f} s: busy while idle")


def test_idle_closed_when_no_more_work():
    """Once the list is exhausted and nothing waits for a slot, a
    connection is closed as soon as its transfer ends, not kept idle until
    the last response of the run arrives."""
    with KeepAliveServer() as srv:
        urls = [f"http://127.0.0.1:{srv.port}/k/0",
                f"http://127.0.0.1:{srv.port}/slow/1"]
        code, res, lines, err = fetch(urls, "-c", "2", "--per-host", "2",
                                      "--loops", "1")
        check(code == 0, f"exit {code}: {err}")
        check(all(one(res, u) and one(res, u)["status"] == 200
                  for u in urls), f"results: {res}")
        fast = [t for paths, t in srv.client_closed if paths == ["/k/0"]]
        slow_sent = srv.answered.get("/slow/1")
        check(len(fast) == 1 and slow_sent is not None and
              fast[0] < slow_sent - 1.0,
              f"the /k/0 connection closed at {fast}, the slow answer went "
              f"at {slow_sent} ({srv.client_closed})")


def test_loops_share_the_list(o):
    """Two loops share a short list evenly: with -c as large as the list
    every URL is in flight at once, so none waits for a second wave behind
    a loop whose share of -c is busy while the other loop idles."""
    n, delay = 200, 1000
    urls = [o.url(f"/p/{i}.html?delay={delay}&w={i}") for i in range(n)]
    p = subprocess.run([SPATE, "fetch", "--no-progress", "-c", str(n),
                        "--per-host", str(n), "--loops", "2"],
                       input="".join(u + "\n" for u in urls),
                       capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, f"exit {p.returncode}: {p.stderr[-300:]}")
    rs = [json.loads(line) for line in p.stdout.splitlines()]
    check(len(rs) == n and all(r["status"] == 200 for r in rs),
          f"{len(rs)} results, statuses {set(r['status'] for r in rs)}")
    if len(rs) != n:
        return

    def ms(stamp):  # RFC 3339 with milliseconds, UTC
        t = time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")
        return calendar.timegm(t) * 1000 + int(stamp[20:23])
    first_done = min(ms(r["fetched_at"]) for r in rs)
    late = [r["url"] for r in rs
            if ms(r["fetched_at"]) - r["elapsed_ms"] > first_done or
            r["elapsed_ms"] > 1.9 * delay]
    check(not late, f"{len(late)} of {n} URLs waited for a second wave, "
          f"e.g. {late[:3]}")


def test_admit_without_memory(o):
    """A URL that finds no memory for its job when taken in waits and is
    taken in again: every URL still gets exactly one result (fault
    injected: every third admission fails its first try)."""
    urls = [o.url(f"/p/{i}.html?m={i}") for i in range(120)]
    p = subprocess.run([SPATE, "fetch", "--no-progress", "-c", "10",
                        "--loops", "1"],
                       input="".join(u + "\n" for u in urls),
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, SPATE_TEST_FAIL_ADMIT="3"))
    check(p.returncode == 0, f"fault-injected run: exit {p.returncode}")
    got = {}
    for line in p.stdout.splitlines():
        r = json.loads(line)
        got.setdefault(r["url"], []).append(r)
    for i, u in enumerate(urls):
        rs = got.get(u, [])
        check(len(rs) == 1 and rs[0]["status"] == 200 and
              rs[0]["title"] == f"Page {i} of the synthetic site",
              f"fault-injected {u}: {rs}")
    check(len(got) == len(urls), f"{len(got)} URLs answered of {len(urls)}")
    check("40 URLs waited for memory" in p.stderr,
          f"summary: {p.stderr[-300:]}")


def test_headers_and_cookies(o):
    def title(res, url):
        r = one(res, url)
        return r["title"] if r else None
    # -H goes with every request.
    echo = [o.url(f"/echo?i={i}") for i in range(40)]
    code, res, _, err = fetch(echo, "-c", "8", "-H", "X-Echo: hello there")
    check(code == 0, f"-H: exit {code} {err}")
    for u in echo:
        check(title(res, u) == "x-echo: hello there", f"-H {u}")

    # Cookies: off by default in fetch (one result per URL, whatever the
    # order), kept for the run with --cookies.
    set_a, check_url = o.url("/cookie/set?a=1"), o.url("/cookie/check")
    code, res, _, _ = fetch([set_a, check_url], "-c", "1")
    check(title(res, check_url) == "cookie: none", "cookies off by default")
    code, res, _, _ = fetch([set_a, check_url], "-c", "1", "--cookies")
    check(title(res, check_url) == "cookie: a=1", "--cookies keeps them")
    # -b NAME=VALUE: sent as given.
    code, res, _, _ = fetch([check_url], "-b", "x=1; y=2")
    check(title(res, check_url) == "cookie: x=1; y=2", "-b NAME=VALUE")
    # Credentials stay with the URL's scheme, host and port: a redirect
    # elsewhere (localhost is another host name) gets the other -H headers
    # but no Cookie or Authorization header and no -b cookies, as curl -L;
    # a redirect on the same host keeps them.
    port = o.base.rsplit(":", 1)[1]
    away = o.url("/redirect-to?url=" + quote(
        f"http://localhost:{port}/cookie/check", safe=""))
    home = o.url("/redirect-to?url=" + quote("/cookie/check", safe=""))
    away_echo = o.url("/redirect-to?url=" + quote(
        f"http://localhost:{port}/echo", safe=""))
    creds = ["-H", "Cookie: sess=SECRET", "-H", "authorization: Bearer T",
             "-H", "X-Echo: kept"]
    code, res, _, err = fetch([away, home, away_echo], *creds)
    check(title(res, away) == "cookie: none", f"cross-host: {err}")
    check(title(res, home) == "cookie: sess=SECRET", "same host")
    check(title(res, away_echo) == "x-echo: kept", "other -H cross-host")
    code, res, _, _ = fetch([away, home], "-b", "b=1")
    check(title(res, away) == "cookie: none"
          and title(res, home) == "cookie: b=1", "-b NAME=VALUE redirected")
    with tempfile.TemporaryDirectory() as d:
        jar = os.path.join(d, "jar.txt")
        code, res, _, err = fetch([o.url("/cookie/set?s=abc")],
                                  "--cookie-jar", jar)
        check(code == 0 and os.path.exists(jar), f"--cookie-jar: {err}")
        text = open(jar).read() if os.path.exists(jar) else ""
        check(text.startswith("# Netscape HTTP Cookie File")
              and "\ts\tabc" in text, f"jar: {text!r}")
        # The jar read back: a later run sends what an earlier one got.
        code, res, _, err = fetch([check_url], "-b", jar)
        check(title(res, check_url) == "cookie: s=abc", f"-b FILE: {err}")
        # A file that is not a cookie file loads nothing, and says so.
        junk = os.path.join(d, "junk.txt")
        with open(junk, "w") as f:
            f.write("not a cookie file\n")
        code, res, _, err = fetch([check_url], "-b", junk)
        check(title(res, check_url) == "cookie: none"
              and "no cookies in" in err, f"junk jar: {err!r}")
        # A jar that cannot be written: the results are still there, the
        # exit status says writing failed.
        code, res, _, err = fetch([check_url], "--cookie-jar",
                                  os.path.join(d, "no", "jar.txt"))
        check(code == 4 and title(res, check_url) == "cookie: none"
              and "--cookie-jar" in err, f"unwritable jar: {code} {err!r}")
    # A site that sets a new cookie on every page: the jar is emptied when
    # it passes 3,000 (counted every 1,000 set; by the count at 4,000 it
    # has, whatever was in flight at 3,000), and says so.
    with tempfile.TemporaryDirectory() as d:
        jar = os.path.join(d, "jar.txt")
        many = [o.url(f"/cookie/set?c{i}=v") for i in range(4200)]
        code, res, _, err = fetch(many, "--cookies", "--cookie-jar", jar)
        kept = sum(1 for line in open(jar) if "\tc" in line) \
            if os.path.exists(jar) else -1
        check(code == 0 and len(res) == 4200
              and "passed 3000 cookies and was emptied 1 time" in err
              and 0 < kept < 1500,
              f"cookie flood: exit {code}, {kept} kept, {err[-200:]!r}")
    for args, want, what in [
            (["-H", "no colon here"], 2, "Name: value"),
            (["-H", "X-A: 1\r\nX-B: 2"], 2, "control characters"),
            (["-H", ": x"], 2, "Name: value"),
            (["-H", "X-A; y"], 2, "nothing after"),
            (["-b", "/nonexistent/cookies.txt"], 3, "No such file"),
            (["-b", "a=1\nb=2"], 2, "one line"),
            (["--no-cookies", "--cookie-jar", "j.txt"], 2, "--no-cookies")]:
        p = subprocess.run([SPATE, "fetch", "-q"] + args + [echo[0]],
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == want and p.stderr.count("\n") == 1
              and what in p.stderr and p.stdout == "",
              f"{args}: exit {p.returncode} {p.stderr!r}")


with Origin(pages=200) as origin:
    test_site(origin)
    test_faults(origin)
    test_timeouts(origin)
    test_idn()
    test_idle_connections()
    test_idle_closed_when_no_more_work()
    test_admit_without_memory(origin)
    test_loops_share_the_list(origin)
    test_streamed_stdin(origin)
    test_sinks(origin)
    test_usage(origin)
    test_headers_and_cookies(origin)
finish("it_fetch")
