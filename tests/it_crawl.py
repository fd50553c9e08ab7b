"""spate crawl and spate search against spate origin: scope and caps, the
store's rows and link graph, robots.txt (status codes, Disallow,
Crawl-delay) seen at the origin's request log, the SSRF guard, the
/hostile/ traps, crash-safe resume after SIGKILL and SIGINT, search, and
clean answers to bad input."""
import contextlib
import hashlib
import http.client
import json
import os
import re
import signal
import sqlite3
import subprocess
import tempfile
import time
import urllib.request
from collections import Counter
from urllib.parse import quote, urljoin, urlsplit

from spatetest import SPATE, Origin, check, finish, wait_for

TMP = tempfile.mkdtemp(prefix="spate-it-crawl-")


def db_path(name):
    return os.path.join(TMP, name + ".db")


def crawl(*args, timeout=60, cwd=None):
    """Runs spate crawl; returns the CompletedProcess (text)."""
    return subprocess.run([SPATE, "crawl", "--no-progress"] + list(args),
                          capture_output=True, text=True, timeout=timeout,
                          cwd=cwd)


def search(*args, timeout=30):
    return subprocess.run([SPATE, "search"] + list(args),
                          capture_output=True, text=True, timeout=timeout)


def q(db, sql, *params):
    con = sqlite3.connect(db, timeout=10)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def pages(db):
    """{url: row dict} of the pages table."""
    cols = ["id", "url", "final_url", "status", "error", "depth",
            "referrer_id", "title", "canonical", "meta_robots", "hash",
            "fetched_at", "bytes", "content_type"]
    rows = q(db, "select " + ", ".join(cols) + " from pages")
    return {r[1]: dict(zip(cols, r)) for r in rows}


def links_of(db, page_id):
    return {r[0] for r in q(db, "select to_url from links where from_id = ?",
                            page_id)}


def path_of(url):
    s = urlsplit(url)
    return s.path + ("?" + s.query if s.query else "")


def page_requests(o, since=0):
    """The GET paths the origin saw (robots.txt left out), from log line
    `since` on."""
    return [p for _, m, p in o.requests()[since:] if p != "/robots.txt"]


def check_store(db, what, done=True):
    """The invariants of docs/STORE.md that hold at any moment; with done,
    also those of a run that ended (nothing left in flight)."""
    n, nd = q(db, "select count(*), count(distinct url) from pages")[0]
    check(n == nd, f"{what}: {n} pages rows, {nd} distinct urls")
    bad = q(db, "select count(*) from pages p left join frontier f "
                "on f.id = p.id where f.id is null or f.url != p.url "
                "or f.state != 2")[0][0]
    check(bad == 0, f"{what}: {bad} pages rows without a done frontier row "
          "of the same id and url")
    bad = q(db, "select count(*) from frontier f left join pages p "
                "on p.id = f.id where f.state = 2 and p.id is null")[0][0]
    check(bad == 0, f"{what}: {bad} done frontier rows without a page")
    if done:
        inflight = q(db, "select count(*) from frontier where state = 1")[0][0]
        check(inflight == 0, f"{what}: {inflight} frontier rows left in "
              "flight after the run ended")
    cancelled = q(db, "select count(*) from pages where error = 'cancelled'"
                  )[0][0]
    check(cancelled == 0, f"{what}: {cancelled} pages stored as cancelled")


def site_links(o, path):
    """The absolute URLs of the <a href> links of a page, as served."""
    body = urllib.request.urlopen(o.url(path), timeout=10).read().decode()
    return [urljoin(o.url(path), h) for h in
            re.findall(r'<a href="([^"]*)"', body)]


# ---- a whole site, the rows and the traps --------------------------------

def test_site_and_traps(o):
    """--hostile, --max-depth 5, everything else default."""
    db = db_path("traps")
    start = len(o.requests())
    p = crawl(o.url("/"), "-o", db, "--max-depth", "5")
    check(p.returncode == 0, f"traps crawl: exit {p.returncode} {p.stderr}")
    check_store(db, "traps crawl")
    pg = pages(db)
    reqs = o.requests()[start:]
    # robots.txt first, asked for with a User-Agent naming spate.
    check(reqs and reqs[0][2] == "/robots.txt",
          f"first request {reqs[:1]}, want /robots.txt")
    with open(o.log.name, encoding="utf-8", errors="replace") as f:
        ua = [l for l in f if " GET /robots.txt " in l]
    check(ua and "spate" in ua[-1].split(" ", 3)[3].lower(),
          f"robots.txt User-Agent: {ua[-1:]!r}")
    check(sum(1 for _, _, x in reqs if x == "/robots.txt") == 1,
          "robots.txt requested once")
    # Every request is exactly one row, every row with a request was made.
    got = Counter(page_requests(o, start))
    twice = {k: v for k, v in got.items() if v > 1}
    check(not twice, f"requested more than once: {list(twice.items())[:5]}")
    fetched = {path_of(u) for u, r in pg.items() if r["status"] != 0}
    check(set(got) == fetched,
          f"requests vs rows with a status: only requested "
          f"{sorted(set(got) - fetched)[:5]}, only stored "
          f"{sorted(fetched - set(got))[:5]}")
    # Never under /private/: a row with error robots and no request.
    check(not [x for x in got if x.startswith("/private/")],
          "a /private/ URL was requested")
    r = pg.get(o.url("/private/index.html"))
    check(r and r["status"] == 0 and r["error"] == "robots"
          and r["final_url"] is None, f"private row {r}")
    # Caps and traps.
    deepest = max(r["depth"] for r in pg.values())
    check(deepest <= 5, f"a page at depth {deepest} with --max-depth 5")
    cal = [u for u in pg if "/hostile/cal/" in u]
    check(cal and max(pg[u]["depth"] for u in cal) == 5,
          f"calendar pages {len(cal)}, depths "
          f"{sorted({pg[u]['depth'] for u in cal})}")
    check(all(len(u) <= 2048 for u in pg), "a page url over 2048 bytes")
    deep = sorted(u for u in pg if "/hostile/deep" in u)
    check(o.url("/hostile/deep/a/a/a/") in pg
          and o.url("/hostile/deep/a/a/a/a/") not in pg,
          f"deep pages {deep}")
    for u in pg:
        segs = [s for s in urlsplit(u).path.split("/") if s]
        c = Counter(segs).most_common(1)
        check(not c or c[0][1] <= 3, f"{u}: a segment repeated {c}")
    check("links not followed:" in p.stderr
          and "trap: repeated segment" in p.stderr
          and "past max depth" in p.stderr, f"summary: {p.stderr}")
    # A 3xx is a row of its own; its target is queued like a link.
    r = pg.get(o.url("/hostile/redirect.html"))
    check(r and r["status"] == 301 and r["error"] is None
          and (r["final_url"] or "").endswith("/p/6.html"),
          f"redirect.html row {r}")
    r6 = pg.get(o.url("/p/6.html"))
    check(r6 and r6["status"] == 200, f"/p/6.html row {r6}")
    for a, b in (("/hostile/redirect-loop", "/hostile/redirect-loop2"),
                 ("/hostile/redirect-loop2", "/hostile/redirect-loop")):
        r = pg.get(o.url(a))
        check(r and r["status"] == 302 and r["final_url"] == o.url(b),
              f"{a} row {r}")
        check(got.get(a) == 1, f"{a} requested {got.get(a)} times")
    # Other hosts and other schemes: links, never pages.
    hosts = {urlsplit(u).hostname for u in pg}
    check(hosts == {"127.0.0.1"}, f"hosts in pages: {hosts}")
    schemes = {urlsplit(u).scheme for u in pg} | {
        urlsplit(u).scheme for (u,) in q(db, "select url from frontier")}
    check(schemes <= {"http", "https"}, f"schemes in the crawl: {schemes}")
    ext = pg.get(o.url("/hostile/ext.html"))
    if check(ext is not None, "ext.html not stored"):
        lk = links_of(db, ext["id"])
        for u in ("http://example.com/", "https://www.example.org/a.html",
                  o.url("/p/5.html")):
            check(u in lk, f"ext.html links {sorted(lk)}: no {u}")
        check(o.url("/p/5.html") in pg, "/p/5.html not stored")
    # The rows themselves.
    for i in range(200):
        u = o.url(f"/p/{i}.html")
        r = pg.get(u)
        if r is None:
            continue  # not every page is within depth 5
        ok = (r["status"] == 200 and r["error"] is None
              and r["final_url"] == u
              and r["title"] == f"Page {i} of the synthetic site"
              and len(r["hash"] or "") == 64 and r["bytes"] > 5000
              and (r["content_type"] or "").startswith("text/html")
              and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",
                               r["fetched_at"] or ""))
        check(ok, f"row {r}")
    check(pg.get(o.url("/"), {}).get("depth") == 0
          and pg[o.url("/")]["referrer_id"] is None, "seed row")
    byid = {r["id"]: r for r in pg.values()}
    for u, r in pg.items():
        if r["referrer_id"] is None:
            continue
        ref = byid.get(r["referrer_id"])
        if not check(ref is not None, f"{u}: referrer {r['referrer_id']} "
                     "is not a page"):
            continue
        check(r["depth"] == ref["depth"] + 1,
              f"{u}: depth {r['depth']}, referrer's {ref['depth']}")
        check(u in links_of(db, ref["id"]) or ref["final_url"] == u,
              f"{u}: not a link (nor the redirect) of its referrer "
              f"{ref['url']}")
    # <meta name=robots>: a noindex page is stored and its links followed,
    # but search never finds it; a nofollow page is indexed and its link
    # recorded, never requested.
    ni, nf = pg.get(o.url("/hostile/noindex.html")), pg.get(
        o.url("/hostile/nofollow.html"))
    check(ni and ni["status"] == 200 and ni["meta_robots"] == "noindex",
          f"noindex row {ni}")
    check(o.url("/hostile/noindex-next.html") in pg,
          "the link of the noindex page was not followed")
    check(nf and nf["status"] == 200 and nf["meta_robots"] == "nofollow",
          f"nofollow row {nf}")
    if nf:
        check(links_of(db, nf["id"]) == {o.url("/hostile/nofollow-target.html")},
              f"nofollow page links {links_of(db, nf['id'])}")
    check("/hostile/nofollow-target.html" not in got
          and o.url("/hostile/nofollow-target.html") not in pg,
          "the nofollow page's link was requested")
    s = search(db, "wombatnoidx", "--json")
    check(s.returncode == 1 and s.stdout == "",
          f"search found the noindex page: exit {s.returncode} {s.stdout!r}")
    check(q(db, "select count(*) from page_text where id = ?",
            ni["id"] if ni else -1) == [(0,)], "noindex page text stored")
    s = search(db, "platypusnofol", "--json")
    found = [json.loads(l)["url"] for l in s.stdout.splitlines() if l]
    check(s.returncode == 0 and found == [o.url("/hostile/nofollow.html")],
          f"search for the nofollow page: exit {s.returncode} {found}")
    # A sitemap index, its sitemaps (one gzipped) and the pages they list,
    # which no link leads to.
    sm = pg.get(o.url("/hostile/sitemap.xml"))
    check(sm and sm["status"] == 200 and links_of(db, sm["id"]) == {
        o.url("/hostile/sitemap-1.xml"), o.url("/hostile/sitemap-2.xml.gz")},
        f"sitemap index row {sm}")
    for page, via in (("/hostile/sitemap-only.html", "/hostile/sitemap-1.xml"),
                      ("/hostile/sitemap-gz.html",
                       "/hostile/sitemap-2.xml.gz")):
        r, v = pg.get(o.url(page)), pg.get(o.url(via))
        check(r and v and r["status"] == 200 and r["referrer_id"] == v["id"]
              and r["depth"] == 3, f"{page} from {via}: {r} {v}")
    # A <meta http-equiv=refresh> is followed like a link.
    rf = pg.get(o.url("/hostile/refresh.html"))
    rt = pg.get(o.url("/hostile/refresh-target.html"))
    check(rf and rt and rt["status"] == 200 and rt["referrer_id"] == rf["id"]
          and links_of(db, rf["id"]) == {o.url("/hostile/refresh-target.html")},
          f"meta refresh: page {rf}, target {rt}")
    # Every link of a page, as the origin serves it.
    r = pg.get(o.url("/p/7.html"))
    if r:
        want = set(site_links(o, "/p/7.html"))
        check(links_of(db, r["id"]) == want,
              f"links of /p/7.html {sorted(links_of(db, r['id']))} "
              f"want {sorted(want)}")


def test_url_length_cap(o):
    db = db_path("grow")
    p = crawl(o.url("/"), "-o", db, "--max-url-length", "100")
    check(p.returncode == 0, f"grow crawl: exit {p.returncode} {p.stderr}")
    pg = pages(db)
    longest = max(len(u) for u in pg)
    grow = [u for u in pg if "/hostile/grow" in u]
    check(longest <= 100, f"a page url of {longest} bytes with "
          "--max-url-length 100")
    check(grow and max(len(u) for u in grow) == 100,
          f"longest grow url {max(map(len, grow), default=0)}, want 100")
    check("trap: long URL" in p.stderr, f"summary: {p.stderr}")


# ---- scope ---------------------------------------------------------------

def test_max_depth_1(o):
    db = db_path("depth1")
    p = crawl(o.url("/"), "-o", db, "--max-depth", "1")
    check(p.returncode == 0, f"depth 1: exit {p.returncode} {p.stderr}")
    pg = pages(db)
    want = set(site_links(o, "/")) | {o.url("/")}
    check(set(pg) == want, f"--max-depth 1 pages: extra "
          f"{sorted(set(pg) - want)[:5]}, missing {sorted(want - set(pg))[:5]}")
    check({r["depth"] for r in pg.values()} == {0, 1},
          f"depths {sorted({r['depth'] for r in pg.values()})}")
    root = pg.get(o.url("/"))
    if root:
        check(links_of(db, root["id"]) == want - {o.url("/")},
              f"links of / {sorted(links_of(db, root['id']))}")


def test_max_depth_exact():
    """--max-depth N stores every page within N links of the seed, each
    with its link distance as its depth, however the fetches interleave:
    the distances come from the link graph of a whole crawl."""
    with Origin(pages=3000) as o:
        full = db_path("depth-full")
        p = crawl(o.url("/"), "-o", full)
        check(p.returncode == 0, f"full crawl: exit {p.returncode}")
        ids = {i: u for i, u in q(full, "select id, url from pages")}
        out = {}
        for f, t in q(full, "select from_id, to_url from links"):
            out.setdefault(ids[f], []).append(t)
        dist, level = {o.url("/"): 0}, [o.url("/")]
        while level:
            nxt = []
            for u in level:
                for v in out.get(u, ()):
                    if v not in dist:
                        dist[v] = dist[u] + 1
                        nxt.append(v)
            level = nxt
        for run in range(3):
            db = db_path(f"depth4-{run}")
            p = crawl(o.url("/"), "-o", db, "--max-depth", "4")
            check(p.returncode == 0, f"--max-depth 4: exit {p.returncode}")
            got = {u: d for u, d in q(db, "select url, depth from pages")}
            want = {u for u, d in dist.items() if d <= 4}
            check(set(got) == want, f"--max-depth 4 run {run}: missing "
                  f"{len(want - set(got))}, extra {len(set(got) - want)}")
            wrong = [u for u, d in got.items() if dist.get(u) != d]
            check(not wrong, f"run {run}: {len(wrong)} pages with a depth "
                  f"other than their link distance, e.g. {wrong[:2]}")


def test_admit_without_memory(o):
    """Frontier URLs that find no memory when taken in wait and are taken
    in again: the crawl stores the same pages as without the fault (every
    third admission fails its first try)."""
    db = db_path("nomem")
    p = subprocess.run([SPATE, "crawl", "--no-progress", o.url("/"), "-o", db,
                        "--max-depth", "2", "--loops", "1"],
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, SPATE_TEST_FAIL_ADMIT="3"))
    check(p.returncode == 0, f"fault-injected crawl: exit {p.returncode} "
          f"{p.stderr[-300:]}")
    pg = pages(db)
    want = {o.url("/")} | set(site_links(o, "/"))
    for u in site_links(o, "/"):
        if u.startswith(o.url("/p/")):
            want |= set(site_links(o, u[len(o.url("")):]))
    missing = sorted(u for u in want if u.startswith(o.url("/p/")) and
                     u not in pg)
    check(not missing, f"fault-injected crawl missed {missing[:5]}")
    check(q(db, "SELECT count(*) FROM frontier WHERE state = 0")[0][0] == 0,
          "fault-injected crawl left URLs pending")
    check(q(db, "SELECT count(*) FROM pages")[0][0] ==
          q(db, "SELECT count(DISTINCT url) FROM pages")[0][0],
          "a page stored twice")


def test_host_without_memory(o):
    """A host the crawl's writer cannot record (no memory for it) ends the
    crawl with a clear error instead of leaving its URLs queued forever, at
    open and in the middle of a crawl; the same command without the fault
    then finishes it (fault injected: SPATE_TEST_FAIL_HOST=N fails every Nth
    host the writer would record)."""
    db = db_path("nohost-open")
    p = subprocess.run([SPATE, "crawl", "--no-progress", o.url("/"), "-o", db],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, SPATE_TEST_FAIL_HOST="1"))
    check(p.returncode not in (0, 1) and "out of memory" in p.stderr,
          f"seed host without memory: exit {p.returncode} {p.stderr[-300:]}")
    # A redirect to the same origin under another name: a second host,
    # first met in the middle of the crawl.
    other = f"http://localhost:{o.port}/p/1.html"
    seed = o.url("/redirect-to?url=" + quote(other, safe=""))
    db = db_path("nohost-mid")
    args = [SPATE, "crawl", "--no-progress", seed, "-o", db,
            "--allow-private", "--max-depth", "1", "--scope",
            f"regex:^http://(127\\.0\\.0\\.1|localhost):{o.port}/"]
    p = subprocess.run(args, capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, SPATE_TEST_FAIL_HOST="2"))
    check(p.returncode not in (0, 1) and "out of memory" in p.stderr,
          f"new host without memory: exit {p.returncode} {p.stderr[-300:]}")
    check(other not in pages(db), "the new host's page stored anyway")
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, f"resumed: exit {p.returncode} {p.stderr[-300:]}")
    pg = pages(db)
    check(other in pg and seed in pg, f"resumed crawl stored {sorted(pg)}")


def test_prefix_scope(o):
    db = db_path("prefix")
    p = crawl(o.url("/hostile/cal/2024/1.html"), "-o", db, "--scope",
              "prefix")
    check(p.returncode == 0, f"prefix: exit {p.returncode} {p.stderr}")
    got = set(pages(db))
    want = {o.url(f"/hostile/cal/2024/{m}.html") for m in range(1, 13)}
    check(got == want, f"prefix scope: extra {sorted(got - want)}, "
          f"missing {sorted(want - got)}")
    check("out of scope" in p.stderr, f"summary: {p.stderr}")


def test_include_exclude(o):
    db = db_path("include")
    p = crawl(o.url("/"), "-o", db, "--include", r"/p/[0-9]\.html$")
    check(p.returncode == 0, f"include: exit {p.returncode} {p.stderr}")
    got = set(pages(db))
    want = {o.url("/")} | {o.url(f"/p/{i}.html") for i in range(10)}
    check(got == want, f"--include: extra {sorted(got - want)[:5]}, "
          f"missing {sorted(want - got)[:5]}")
    db = db_path("exclude")
    p = crawl(o.url("/"), "-o", db, "--exclude", "/hostile/",
              "--exclude", r"/p/1[0-9]*\.html$")
    check(p.returncode == 0, f"exclude: exit {p.returncode} {p.stderr}")
    pg = pages(db)
    bad = [u for u in pg if "/hostile/" in u or re.search(r"/p/1\d*\.html$", u)]
    check(not bad, f"excluded URLs stored: {bad[:5]}")
    check(len(pg) > 50, f"exclude crawl stored only {len(pg)} pages")
    r = pg.get(o.url("/p/0.html"))
    check(r and o.url("/p/1.html") in links_of(db, r["id"]),
          "an excluded target is still a link of the page")
    check("excluded" in p.stderr, f"summary: {p.stderr}")


def test_max_pages(o):
    db = db_path("maxpages")
    start = len(o.requests())
    p = crawl(o.url("/"), "-o", db, "--max-pages", "50")
    check(p.returncode == 0, f"max-pages: exit {p.returncode} {p.stderr}")
    n = q(db, "select count(*) from pages")[0][0]
    check(n == 50, f"--max-pages 50: {n} pages rows")
    check(len(page_requests(o, start)) <= 50, "more than 50 page requests")
    check_store(db, "--max-pages 50")
    # Breadth-first: nothing left queued is shallower than a stored page.
    deepest = q(db, "select max(depth) from pages")[0][0]
    shallow = q(db, "select min(depth) from frontier where state = 0")[0][0]
    check(shallow is None or shallow >= deepest,
          f"--max-pages stored depth {deepest} while depth {shallow} is "
          "still queued")
    # The cap counts all runs together.
    start = len(o.requests())
    p = crawl(o.url("/"), "-o", db, "--max-pages", "50")
    n = q(db, "select count(*) from pages")[0][0]
    check(p.returncode == 0 and n == 50,
          f"second run with --max-pages 50: exit {p.returncode}, {n} rows")
    check(page_requests(o, start) == [], "second run with --max-pages 50 "
          f"fetched {page_requests(o, start)[:5]}")
    p = crawl(o.url("/"), "-o", db, "--max-pages", "80")
    n = q(db, "select count(*) from pages")[0][0]
    check(p.returncode == 0 and n == 80,
          f"then --max-pages 80: exit {p.returncode}, {n} rows, want 80")


def test_complete_and_other_crawl(o):
    db = db_path("complete")
    p = crawl(o.url("/"), "-o", db)
    check(p.returncode == 0, f"full crawl: exit {p.returncode} {p.stderr}")
    n = q(db, "select count(*) from pages")[0][0]
    start = len(o.requests())
    p = crawl(o.url("/"), "-o", db)
    check(p.returncode == 0, f"complete crawl again: exit {p.returncode}")
    check("already complete" in p.stderr, f"rerun says: {p.stderr}")
    check(o.requests()[start:] == [],
          f"complete crawl again requested {o.requests()[start:][:5]}")
    check(q(db, "select count(*) from pages")[0][0] == n, "rows changed")

    def files():
        out = {}
        for sfx in ("", "-wal", "-shm"):
            f = db + sfx
            if os.path.exists(f):
                with open(f, "rb") as fh:
                    out[sfx] = hashlib.sha256(fh.read()).hexdigest()
        return out

    before = files()
    for args in ([o.url("/p/1.html")], [o.url("/"), "--scope", "domain"],
                 [o.url("/"), "--max-depth", "3"],
                 [o.url("/"), "--exclude", "x"],
                 [o.url("/"), "--allow-private"],
                 [o.url("/"), "--max-url-length", "500"]):
        p = crawl(*args, "-o", db)
        check(p.returncode == 3, f"other crawl {args[1:]} into the same "
              f"file: exit {p.returncode}, want 3")
        check("another crawl" in p.stderr, f"message: {p.stderr!r}")
        check(files() == before, f"other crawl {args[1:]} changed the file")
    # A pattern that reads like two fields is one: not the same crawl as
    # the two patterns it looks like.
    two = db_path("twofields")
    p = crawl(o.url("/"), "--include", "p/1; exclude=p/2", "-o", two)
    check(p.returncode in (0, 1), f"include with '; ': exit {p.returncode}")
    p = crawl(o.url("/"), "--include", "p/1", "--exclude", "p/2", "-o", two)
    check(p.returncode == 3 and "another crawl" in p.stderr,
          f"look-alike identity: exit {p.returncode} {p.stderr!r}")
    # A SQLite file that is not a crawl store: refused, left untouched.
    other = db_path("notacrawl")
    con = sqlite3.connect(other)
    con.execute("create table foo(x)")
    con.execute("insert into foo values (1)")
    con.commit()
    con.close()
    with open(other, "rb") as fh:
        h = hashlib.sha256(fh.read()).hexdigest()
    p = crawl(o.url("/"), "-o", other)
    check(p.returncode == 3 and "not a spate crawl store" in p.stderr,
          f"non-crawl SQLite file: exit {p.returncode} {p.stderr!r}")
    with open(other, "rb") as fh:
        check(hashlib.sha256(fh.read()).hexdigest() == h,
              "a refused non-crawl SQLite file was modified (spate crawl -o "
              "other.db; header bytes 18-19 show it was switched to WAL)")


# ---- robots.txt ----------------------------------------------------------

def test_robots_sitemaps():
    """robots.txt's Sitemap lines are followed: in scope at depth 1 with no
    referrer; out of scope never queued; not at --max-depth 0."""
    with Origin(pages=20, extra=["--robots-sitemap",
                                 "/hostile/sitemap-robots.xml",
                                 "--robots-sitemap",
                                 "http://10.0.0.1/sitemap.xml"]) as o:
        db = db_path("robots-sitemap")
        p = crawl(o.url("/p/3.html"), "-o", db, "--max-depth", "2")
        check(p.returncode == 0, f"robots sitemap crawl: exit {p.returncode}")
        pg = pages(db)
        sm = pg.get(o.url("/hostile/sitemap-robots.xml"))
        only = pg.get(o.url("/hostile/robots-sitemap-only.html"))
        check(sm and sm["status"] == 200 and sm["depth"] == 1
              and sm["referrer_id"] is None, f"robots.txt's sitemap: {sm}")
        check(only and sm and only["depth"] == 2
              and only["referrer_id"] == sm["id"],
              f"the page only the sitemap names: {only}")
        front = [u for (u,) in q(db, "select url from frontier")]
        check(not [u for u in front if "10.0.0.1" in u],
              "an out-of-scope Sitemap line was queued")
        # ... and counted with the links not followed (the pages' own
        # links are all in scope).
        check(re.search(r"links not followed: out of scope 1[,\n]",
                        p.stderr),
              f"the Sitemap line out of scope is not counted: {p.stderr}")
        check(page_requests(o).count("/hostile/sitemap-robots.xml") == 1,
              "the sitemap was not requested exactly once")
        db0 = db_path("robots-sitemap-depth0")
        p = crawl(o.url("/p/3.html"), "-o", db0, "--max-depth", "0")
        check(p.returncode == 0 and list(pages(db0)) == [o.url("/p/3.html")],
              f"--max-depth 0 crawl: {p.returncode} {list(pages(db0))}")


def test_robots_status():
    # A 4xx robots.txt allows everything, /private/ included.
    with Origin(pages=50, extra=["--robots-status", "404"]) as o:
        db = db_path("robots404")
        p = crawl(o.url("/"), "-o", db)
        check(p.returncode == 0, f"robots 404: exit {p.returncode}")
        pg = pages(db)
        r = pg.get(o.url("/private/index.html"))
        check(r and r["status"] == 200, f"robots 404: private row {r}")
        check(len(pg) == 52 and all(r["status"] == 200 for r in pg.values()),
              f"robots 404: {len(pg)} rows, "
              f"{Counter((r['status'], r['error']) for r in pg.values())}")
        check("/private/index.html" in page_requests(o), "private not fetched")
    # A 5xx robots.txt disallows everything: only robots.txt is requested.
    # That is the host's state, not the pages': their rows say so, and the
    # next run fetches them again once robots.txt can be had.
    with Origin(pages=50, extra=["--robots-status", "503"]) as o:
        db = db_path("robots503")
        port = o.port
        p = crawl(o.url("/"), "-o", db, "--retries", "0")
        pg = pages(db)
        check(p.returncode == 1 and len(pg) >= 1 and
              all(r["status"] == 0 and r["error"] == "robots"
                  for r in pg.values()),
              f"robots 503: exit {p.returncode}, rows {list(pg.values())[:3]}")
        check(page_requests(o) == [], f"robots 503: requested "
              f"{page_requests(o)[:5]}")
        check(f"{len(pg)} URLs failed for their host's sake" in p.stderr and
              f"{len(pg)} left to crawl" in p.stderr,
              f"robots 503 summary: {p.stderr}")
        check(q(db, "select state, count(*) from frontier group by state") ==
              [(3, len(pg))], "robots 503: the seed left for the next run")
    with Origin(pages=50, port=port) as o:
        p = crawl(o.url("/"), "-o", db)
        pg = pages(db)
        check(p.returncode == 0 and len(pg) == 52 and
              pg[o.url("/private/index.html")]["error"] == "robots" and
              sum(r["status"] == 200 for r in pg.values()) == 51,
              f"after robots.txt is back: exit {p.returncode}, {len(pg)} rows "
              f"{Counter((r['status'], r['error']) for r in pg.values())}")
        check("that failed for their host's sake in the last run were queued "
              "again" in p.stderr, f"resumed line: {p.stderr}")
    # Disallow lines: those URLs are rows with error robots, never fetched.
    with Origin(pages=200, extra=["--disallow", "/p/1"]) as o:
        db = db_path("disallow")
        p = crawl(o.url("/"), "-o", db)
        check(p.returncode == 0, f"disallow: exit {p.returncode} {p.stderr}")
        pg = pages(db)
        reqs = page_requests(o)
        check(not [x for x in reqs if x.startswith("/p/1")
                   or x.startswith("/private/")],
              f"disallowed paths requested: "
              f"{[x for x in reqs if x.startswith('/p/1')][:5]}")
        dis = {u for u, r in pg.items() if r["error"] == "robots"}
        want = {o.url(f"/p/{i}.html") for i in range(200)
                if str(i).startswith("1")} | {o.url("/private/index.html")}
        check(dis == want, f"robots rows: extra {sorted(dis - want)[:5]}, "
              f"missing {sorted(want - dis)[:5]}")
        check(len(pg) == 202, f"disallow: {len(pg)} rows, want 202")


def test_crawl_delay():
    with Origin(pages=50, extra=["--crawl-delay", "0.2"]) as o:
        db = db_path("delay")
        t0 = time.monotonic()
        p = crawl(o.url("/"), "-o", db, "--max-pages", "6")
        took = time.monotonic() - t0
        check(p.returncode == 0, f"crawl-delay: exit {p.returncode}")
        n = q(db, "select count(*) from pages")[0][0]
        check(n == 6, f"crawl-delay --max-pages 6: {n} rows")
        times = [t for t, _, x in o.requests() if x != "/robots.txt"]
        gaps = [b - a for a, b in zip(times, times[1:])]  # milliseconds
        check(len(times) >= 4, f"{len(times)} page requests")
        # The log has the origin's receive times: allow 5 ms of jitter.
        check(gaps and min(gaps) >= 195,
              f"Crawl-delay 0.2: gaps between requests {[round(g, 1) for g in gaps]} ms")
        check(took < 10, f"crawl-delay run took {took:.1f}s")
        print(f"crawl-delay gaps (ms): {[round(g, 1) for g in gaps]}",
              flush=True)



def test_host_fairness():
    """A slow host beside a fast one, with few job slots (-c 4 --backlog 4):
    the slow host may hold at most half of them, so the fast site is
    crawled whole in seconds instead of at the slow host's pace. A first
    run (--max-pages 60, the second site answering slowly) queues hundreds
    of the first site's URLs ahead of the second's; then the first comes
    back with Crawl-delay 1 s, the second answers at once, and the crawl
    resumes."""
    db = db_path("fair")
    with Origin(pages=600) as a1, Origin(pages=300, latency=300) as b1:
        ports = a1.port, b1.port
        args = [a1.url("/"), b1.url("/"), "-o", db, "-c", "4",
                "--backlog", "4"]
        p = crawl(*args, "--max-pages", "60")
        check(p.returncode == 0, f"fairness first run: {p.returncode}")
    queued = dict(q(db, "select host, count(*) from frontier where"
                        " state = 0 group by host"))
    check(queued.get(f"http://127.0.0.1:{ports[0]}", 0) > 100,
          f"the slow host's URLs queued first: {queued}")
    with Origin(pages=600, extra=["--port", str(ports[0]),
                                  "--crawl-delay", "1"]) as slow, \
            Origin(pages=300, extra=["--port", str(ports[1])]) as fast:
        p = subprocess.Popen([SPATE, "crawl", "--no-progress", "-q"] + args,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            def stored(o):
                try:
                    return q(db, "select count(*) from pages where status ="
                             " 200 and url like ?", o.url("/p/%"))[0][0]
                except sqlite3.Error:
                    return -1
            before = stored(slow)
            t0 = time.monotonic()
            done = wait_for(lambda: stored(fast) == 300, 30, step=0.2)
            took = time.monotonic() - t0
            check(done, f"fast site: {stored(fast)} of 300 pages in "
                        f"{took:.1f} s beside a slow host")
            check(stored(slow) - before < 40,
                  f"the slow host kept its pace: {before} -> "
                  f"{stored(slow)} pages")
            print(f"host fairness: the fast site done in {took:.1f} s; "
                  f"the slow host {before} -> {stored(slow)} pages",
                  flush=True)
            p.send_signal(signal.SIGINT)
            check(p.wait(timeout=20) == 130, "fairness: SIGINT exit 130")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()


# ---- the SSRF guard --------------------------------------------------------

SSRF_BLOCKED = ["http://127.0.0.2:{p}/p/1.html", "http://localhost:{p}/p/2.html",
                "http://10.0.0.1/x.html",
                "http://169.254.169.254/latest/meta-data/",
                "http://[::1]:{p}/p/3.html", "http://192.168.1.1/"]


def test_ssrf(o):
    db = db_path("ssrf")
    start = len(o.requests())
    p = crawl(o.url("/"), "-o", db, "--scope", "regex:^http", "--max-depth",
              "2", "--connect-timeout", "1", "--retries", "0", timeout=60)
    pg = pages(db)
    check(p.returncode in (0, 1),
          f"SSRF crawl: exit {p.returncode}: {p.stderr[-600:]}")
    for u in SSRF_BLOCKED:
        u = u.format(p=o.port)
        r = pg.get(u)
        check(r is not None and r["error"] == "blocked_address"
              and r["status"] == 0,
              f"SSRF {u}: row {r and (r['status'], r['error'])}, "
              "want status 0 error blocked_address")
    r = pg.get(o.url("/p/4.html"))  # 0x7f000001:PORT is the seed's host
    check(r and r["status"] == 200, f"0x7f000001 -> /p/4.html row {r}")
    reqs = o.requests()[start:]
    check(sum(1 for _, _, x in reqs if x == "/robots.txt") == 1,
          "robots.txt requested more than once: another name reached the "
          "origin")
    n2 = sum(1 for _, _, x in reqs if x == "/p/2.html")
    check(n2 == (1 if o.url("/p/2.html") in pg else 0),
          f"/p/2.html requested {n2} times (localhost reached the origin)")
    # --allow-private lets links reach them.
    db = db_path("ssrf-allowed")
    p = crawl(o.url("/"), "-o", db, "--scope", "regex:^http", "--max-depth",
              "2", "--connect-timeout", "1", "--retries", "0",
              "--allow-private", timeout=60)
    pg = pages(db)
    check(p.returncode in (0, 1),
          f"SSRF crawl, --allow-private: exit {p.returncode}: "
          f"{p.stderr[-600:]}")
    r = pg.get(f"http://localhost:{o.port}/p/2.html")
    check(r and r["status"] == 200 and r["error"] is None,
          f"--allow-private: localhost row {r}")
    for u in SSRF_BLOCKED:
        r = pg.get(u.format(p=o.port))
        check(r is not None and r["error"] != "blocked_address",
              f"--allow-private: {u}: {r and r['error']}")


# ---- resume ----------------------------------------------------------------

# 4 requests in flight of 5 ms each: a crawl of the 3,000 pages takes at
# least 3.75 s, whatever the machine, so the kills below land mid-crawl.
CRAWL_C = "4"


def test_resume_after_kill(o):
    db = db_path("resume")
    cmd = [SPATE, "crawl", "--no-progress", "-c", CRAWL_C, o.url("/"), "-o",
           db]
    kills = []  # (log lines before the next run, urls stored at the kill)
    for delay in (0.5, 1.0, 0.3):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            time.sleep(delay)
            proc.kill()
        finally:
            proc.wait(timeout=10)
        check(proc.returncode == -signal.SIGKILL,
              f"the crawl ended ({proc.returncode}) before the kill at "
              f"{delay}s: the test did not interrupt it")
        time.sleep(0.1)  # requests already sent reach the log
        stored = set(pages(db))
        check_store(db, f"after SIGKILL at {delay}s", done=False)
        inflight = q(db, "select count(*) from frontier where state = 1")[0][0]
        kills.append((len(o.requests()), stored, inflight))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    check(p.returncode == 0, f"resumed crawl: exit {p.returncode} {p.stderr}")
    check_store(db, "resumed crawl")
    if kills[-1][2]:
        check(f"resumed: {kills[-1][2]} URLs in flight" in p.stderr,
              f"{kills[-1][2]} in flight at the kill; summary: {p.stderr}")
    pg = pages(db)
    for i in range(3000):
        r = pg.get(o.url(f"/p/{i}.html"))
        if not check(r and r["status"] == 200 and r["error"] is None,
                     f"after resume: /p/{i}.html row {r}"):
            break
    check(len(pg) == 3002, f"after resume: {len(pg)} rows, want 3002")
    counts = [len(k[1]) for k in kills]
    print(f"resume: pages stored at the kills {counts}, in flight "
          f"{[k[2] for k in kills]}", flush=True)
    check(counts == sorted(counts) and counts[-1] < 3002,
          f"pages stored at the kills: {counts}")
    reqs = o.requests()
    for n, (off, stored, _) in enumerate(kills):
        later = [x for _, _, x in reqs[off:] if x != "/robots.txt"]
        again = [x for x in later if o.url(x) in stored]
        check(not again, f"{len(again)} pages stored before kill {n + 1} "
              f"were requested again later: {again[:5]}")
    # Each page requested at most twice (once more only if it was in
    # flight at a kill).
    per = Counter(x for _, _, x in reqs if x.startswith("/p/"))
    worst = per.most_common(1)
    check(not worst or worst[0][1] <= 1 + len(kills),
          f"most requests for one page: {worst}")


def test_sigint_retry_due():
    """A 503 that arrives while a crawl stops, with a retry still due, is
    not stored as the page's outcome: the next run fetches it (200)."""
    with Origin(pages=5, latency=400) as o:
        db = db_path("sigint-retry")
        url = o.url("/flaky/intr?fail=1")
        cmd = [SPATE, "crawl", "--no-progress", url, "-o", db]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        try:
            # robots.txt answers at ~0.4 s; the page's first request is
            # then in flight for 0.4 s more.
            wait_for(lambda: any(x.startswith("/flaky/intr")
                                 for _, _, x in o.requests()), 5)
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        check(proc.returncode == 130, f"SIGINT: exit {proc.returncode}")
        asked = [x for _, _, x in o.requests() if x.startswith("/flaky/intr")]
        check(len(asked) == 1, f"one attempt before the stop: {asked}")
        rows = q(db, "select status, error from pages")
        check(rows == [], f"nothing stored for the page yet: {rows}")
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        check(p.returncode == 0, f"rerun: exit {p.returncode} {p.stderr}")
        rows = q(db, "select status, error from pages")
        check(rows == [(200, None)], f"after the rerun: {rows}")


def test_sigint(o):
    db = db_path("sigint")
    cmd = [SPATE, "crawl", "--no-progress", "-c", CRAWL_C, o.url("/"), "-o",
           db]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.8)
        # The engine's threads carry their names (top -H, perf).
        names = set()
        for t in os.listdir(f"/proc/{proc.pid}/task"):
            try:
                with open(f"/proc/{proc.pid}/task/{t}/comm") as f:
                    names.add(f.read().strip())
            except OSError:
                pass  # the thread ended meanwhile
        check({"spate-sink", "spate-ckpt"} <= names,
              f"thread names of a running crawl: {sorted(names)}")
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=15)[1]
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    check(proc.returncode == 130, f"SIGINT: exit {proc.returncode}")
    check(took < 5, f"SIGINT: took {took:.1f}s to exit")
    check("interrupted" in err, f"SIGINT message: {err}")
    check_store(db, "after SIGINT")
    stored = set(pages(db))
    queued = q(db, "select count(*) from frontier where state != 2")[0][0]
    check(0 < len(stored) < 3002, f"{len(stored)} pages at the SIGINT")
    m = re.search(r"(\d+) left to crawl", err)
    check(m and int(m.group(1)) == queued,
          f"SIGINT summary says {m and m.group(0)!r}, the store has "
          f"{queued} URLs left to crawl")
    off = len(o.requests())
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    check(p.returncode == 0, f"after SIGINT, rerun: exit {p.returncode}")
    check_store(db, "rerun after SIGINT")
    pg = pages(db)
    ok = sum(1 for i in range(3000)
             if pg.get(o.url(f"/p/{i}.html"), {}).get("status") == 200)
    check(ok == 3000 and len(pg) == 3002,
          f"after SIGINT and rerun: {ok} of 3000 pages ok, {len(pg)} rows")
    again = [x for _, _, x in o.requests()[off:] if o.url(x) in stored]
    check(not again, f"pages stored before SIGINT requested again: "
          f"{again[:5]}")


# ---- search -----------------------------------------------------------------

def test_search():
    with Origin(pages=300, extra=["--plant", "123:zyxwvutsr"]) as o:
        db = db_path("search")
        p = crawl(o.url("/"), "-o", db)
        check(p.returncode == 0, f"search crawl: exit {p.returncode}")
        s = search(db, "zyxwvutsr", "--json")
        check(s.returncode == 0, f"search: exit {s.returncode} {s.stderr}")
        lines = [json.loads(l) for l in s.stdout.splitlines() if l]
        check(lines and lines[0]["rank"] == 1
              and lines[0]["url"] == o.url("/p/123.html")
              and lines[0]["title"] == "Page 123 of the synthetic site"
              and "\u00abzyxwvutsr\u00bb" in lines[0]["snippet"],
              f"search result {lines[:1]}")
        check(len(lines) == 1, f"{len(lines)} results for the planted word")
        s = search(db, "zyxwvutsr")
        check(s.returncode == 0 and o.url("/p/123.html") in s.stdout
              and "\u00abzyxwvutsr\u00bb" in s.stdout,
              f"plain search: {s.returncode} {s.stdout!r}")
        s = search(db, "qqqqnomatchqqqq", "--json")
        check(s.returncode == 1 and s.stdout == "",
              f"no match: exit {s.returncode} {s.stdout!r}")
        s = search(db, '"unbalanced')
        check(s.returncode == 2 and s.stdout == "" and "bad query" in s.stderr,
              f"bad query: exit {s.returncode} {s.stderr!r}")
        s = search(db, "")
        check(s.returncode == 2 and s.stdout == "",
              f"empty query: exit {s.returncode} {s.stderr!r}")
        # A query that starts with '-' (a column filter left out) is the
        # query, typed as docs/STORE.md shows it, options before or not.
        for args in ((db, "-title:zyxwvutsr", "--json"),
                     ("--json", db, "-title:zyxwvutsr"),
                     ("-n", "3", db, "-title:zyxwvutsr")):
            s = search(*args)
            check(s.returncode == 0 and o.url("/p/123.html") in s.stdout,
                  f"search {args}: exit {s.returncode} {s.stderr!r}")
        for args in ((db, "zyxwvutsr", "-x"), ("-x", db, "zyxwvutsr")):
            s = search(*args)
            check(s.returncode == 2 and "'-x' is not an option" in s.stderr,
                  f"search {args}: exit {s.returncode} {s.stderr!r}")
        # A query too large to rank in reasonable time is refused.
        s = search(db, " OR ".join(["zyxwvutsr"] * 40))
        check(s.returncode == 2 and "bad query: too long" in s.stderr,
              f"79 words: exit {s.returncode} {s.stderr!r}")
        s = search(db, "zyxwvutsr" + " x" * 600)
        check(s.returncode == 2 and "bad query: too long" in s.stderr,
              f"1.2 KB: exit {s.returncode} {s.stderr!r}")
        # --max-time: the ranking's deadline (test_search gives one up).
        for args in (("-m", "5s"), ("--max-time=250ms",), ("--max-time", "1")):
            s = search(db, "zyxwvutsr", *args)
            check(s.returncode == 0 and o.url("/p/123.html") in s.stdout,
                  f"search {args}: exit {s.returncode} {s.stderr!r}")
        for bad in ("0", "abc", "-1s", "2d", "0.1ms"):
            s = search(db, "zyxwvutsr", "--max-time", bad)
            check(s.returncode == 2 and "--max-time" in s.stderr
                  and s.stdout == "",
                  f"--max-time {bad}: exit {s.returncode} {s.stderr!r}")
        s = search(db, "zyxwvutsr", "-m")
        check(s.returncode == 2 and "needs a value" in s.stderr,
              f"-m without a value: exit {s.returncode} {s.stderr!r}")
        # A Latin-1 page without a charset is indexed as windows-1252:
        # found by its accented words, with or without the accents.
        db2 = db_path("latin1")
        p = crawl(o.url("/nonutf8"), "-o", db2)
        check(p.returncode == 0, f"latin-1 crawl: exit {p.returncode}")
        check(q(db2, "select title from pages") == [("caf\u00e9 cr\u00e8me",)],
              f"latin-1 title {q(db2, 'select title from pages')}")
        for word in ("br\u00fbl\u00e9e", "brulee", "na\u00efve", "creme"):
            s = search(db2, word, "--json")
            found = [json.loads(l)["url"] for l in s.stdout.splitlines() if l]
            check(s.returncode == 0 and found == [o.url("/nonutf8")],
                  f"search {word!r} in the latin-1 page: exit "
                  f"{s.returncode} {found}")
        s = search(os.path.join(TMP, "missing.db"), "x")
        check(s.returncode == 3, f"missing store: exit {s.returncode}")
        check(not os.path.exists(os.path.join(TMP, "missing.db")),
              "search created the missing store")


# ---- bad input ------------------------------------------------------------

def test_usage(o):
    with tempfile.TemporaryDirectory() as d:
        seed = o.url("/")
        cases = [
            ([], 2),
            (["http://"], 2),
            (["--scope", "bogus", seed], 2),
            (["--scope", "regex:(", seed], 2),
            (["--include", "(", seed], 2),
            (["--exclude", "[", seed], 2),
            (["--extract", "x=json:/a", seed], 2),
            (["--max-depth", "-1", seed], 2),
            (["--max-pages", "0", seed], 2),
            (["ftp://example.com/", "-o", "x.db"], 2),
            (["-o", "/nonexistent/dir/c.db", seed], 3),
        ]
        for args, want in cases:
            p = crawl(*args, cwd=d, timeout=30)
            check(p.returncode == want and p.stderr.count("\n") >= 1,
                  f"crawl {args}: exit {p.returncode} want {want} "
                  f"{p.stderr!r}")
            check(os.listdir(d) == [], f"crawl {args} left {os.listdir(d)}")
        p = crawl("--help")
        check(p.returncode == 0 and "--max-pages" in p.stdout, "crawl --help")


def test_cookies(o):
    """A crawl keeps the cookies its pages set, as a browser, wget2 and
    Scrapy do; --no-cookies forgets them; -H goes with every request."""
    seed = o.url("/cookie/set?s=crawl")
    for args, want in [([], "cookie: s=crawl"),
                       (["--no-cookies"], "cookie: none")]:
        db = db_path("cookies" + "".join(args))
        p = crawl(seed, "-o", db, "-q", *args)
        got = pages(db).get(o.url("/cookie/check"), {}).get("title")
        check(p.returncode == 0 and got == want,
              f"crawl {args}: exit {p.returncode} {got!r} {p.stderr!r}")
    db = db_path("header")
    p = crawl(o.url("/echo"), "-o", db, "-q", "-H", "X-Echo: crawler")
    got = pages(db).get(o.url("/echo"), {}).get("title")
    check(p.returncode == 0 and got == "x-echo: crawler", f"-H: {got!r}")
    # -H credentials and -b cookies go to the seeds' hosts only: not to a
    # host a redirect (or a link) leads to, whose page is stored as its own.
    port = urlsplit(o.base).port
    away = f"http://localhost:{port}/cookie/check"
    for creds in (["-H", "Cookie: sess=SECRET", "-H", "X-Echo: kept"],
                  ["-b", "sess=SECRET"]):
        db = db_path("creds" + str(len(creds)))
        p = crawl(o.url("/redirect-to?url=" + quote(away, safe="")),
                  o.url("/cookie/check"), "-o", db, "-q", "--scope",
                  "regex:.", "--allow-private", *creds)
        pg = pages(db)
        home = pg.get(o.url("/cookie/check"), {}).get("title")
        there = pg.get(away, {}).get("title")
        check(p.returncode == 0 and home == "cookie: sess=SECRET"
              and there == "cookie: none",
              f"crawl {creds}: seed host {home!r}, elsewhere {there!r}")


class ForwardProxy:
    """A plain-HTTP forward proxy on 127.0.0.2 (a loopback, so private,
    address) that sends every request to the origin, whatever host its
    absolute URL names, and remembers those URLs."""

    def __init__(self, origin_port):
        import http.server
        import threading
        seen = self.seen = []

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append(self.path)
                u = urlsplit(self.path)
                path = u.path + ("?" + u.query if u.query else "")
                c = http.client.HTTPConnection("127.0.0.1", origin_port,
                                               timeout=10)
                c.request("GET", path)
                r = c.getresponse()
                body = r.read()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding",
                                         "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                c.close()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.2", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def test_proxy(o):
    """A proxy named in the environment may be on a private address: a
    link to another host in scope (not a seed's, so not allowed private
    addresses) goes through it rather than being refused as
    blocked_address; the proxy, not spate, connects to that host."""
    port = urlsplit(o.base).port
    other = f"http://sub.127.0.0.1.nip.io:{port}/"  # on /hostile/ext.html
    seed = o.url("/hostile/ext.html")
    scope = (r"regex:^http://(127\.0\.0\.1|sub\.127\.0\.0\.1\.nip\.io)"
             f":{port}/(hostile/ext\\.html)?$")
    px = ForwardProxy(port)
    try:
        env = {k: v for k, v in os.environ.items()
               if k.lower() not in ("no_proxy", "http_proxy", "https_proxy",
                                    "all_proxy")}
        env["http_proxy"] = f"http://127.0.0.2:{px.port}"
        db = db_path("proxy")
        p = subprocess.run([SPATE, "crawl", "-q", seed, "-o", db, "--scope",
                            scope], capture_output=True, text=True,
                           timeout=60, env=env)
        got = pages(db).get(other, {})
        check(p.returncode == 0 and got.get("status") == 200
              and got.get("title") == "Synthetic site",
              f"through the proxy: exit {p.returncode} {got} {p.stderr!r}")
        check(other in px.seen and seed in px.seen,
              f"the proxy saw {px.seen}")
        # A host no_proxy exempts is connected to directly, and then the
        # guard applies as without a proxy: localhost is loopback and not
        # a seed's host.
        hop = f"http://localhost:{port}/echo"
        seed2 = o.url("/redirect-to?url=" + quote(hop, safe=""))
        for no_proxy, want in [(None, (200, None)),
                               ("localhost", (0, "blocked_address"))]:
            e = dict(env)
            if no_proxy:
                e["no_proxy"] = no_proxy
            db = db_path(f"proxy-{no_proxy}")
            p = subprocess.run([SPATE, "crawl", "-q", seed2, "-o", db,
                                "--scope", "regex:."], capture_output=True,
                               text=True, timeout=60, env=e)
            got = pages(db).get(hop, {})
            check((got.get("status"), got.get("error")) == want,
                  f"no_proxy={no_proxy}: {got} {p.stderr!r}")
    finally:
        px.close()


def test_unreachable_seed():
    """A seed whose host refuses connections: robots.txt cannot be had, so
    nothing is fetched there, and the page says why (connect), not
    "robots" (which would say the site forbids it); the exit is 1."""
    db = db_path("unreachable")
    # Port 1 on loopback: nothing listens there.
    p = crawl("http://127.0.0.1:1/", "-o", db, "--retries", "0")
    rows = q(db, "select status, error from pages")
    check(rows == [(0, "connect")], f"unreachable seed rows {rows}")
    check(p.returncode == 1, f"unreachable seed exit {p.returncode}")
    # Enough retries for the breaker to open while robots.txt is still
    # queued: the host's URLs fail fast, nothing crashes.
    db = db_path("unreachable2")
    p = crawl("http://127.0.0.1:1/", "-o", db, "--retries", "5",
              "--backoff-base", "1ms")
    rows = q(db, "select status, error from pages")
    check(p.returncode == 1 and len(rows) == 1 and rows[0][1] in
          ("connect", "circuit_open"), f"breaker: exit {p.returncode} {rows}")
    # Either way the host is at fault, not the page: left for the next run,
    # which tries again (and stores the row once more, not twice).
    check(q(db, "select state from frontier") == [(3,)],
          f"breaker: frontier {q(db, 'select state from frontier')}")
    p = crawl("http://127.0.0.1:1/", "-o", db, "--retries", "0")
    check(p.returncode == 1 and
          "1 URLs that failed for their host's sake in the last run were "
          "queued again" in p.stderr and
          q(db, "select count(*) from pages")[0][0] == 1,
          f"breaker rerun: exit {p.returncode} {p.stderr}")


def test_one_crawl_per_store(o):
    """A second crawl of the same store while one runs is refused."""
    db = db_path("busy")
    first = subprocess.Popen([SPATE, "crawl", "--no-progress", "-q", "-c",
                              "2", o.url("/"), "-o", db])
    try:
        time.sleep(0.5)
        p = crawl(o.url("/"), "-o", db)
        check(p.returncode == 3 and "another spate crawl" in p.stderr,
              f"second crawl: {p.returncode} {p.stderr!r}")
    finally:
        first.wait(timeout=60)
    check(first.returncode == 0, f"first crawl exit {first.returncode}")


def test_hosts_held():
    """The store's writer holds a bounded set of hosts (SPATE_TEST_HOSTS_MAX
    makes it 2): six sites given as seeds are crawled whole all the same,
    each page once, but at most two sites at a time, seen at the origins
    (each request lasts at least the 40 ms of added latency). Without the
    testing aid the same crawl has more than two sites busy at once, so
    the check can tell."""
    lat = 40  # ms, as the origin's log times
    with contextlib.ExitStack() as stack:
        sites = [stack.enter_context(Origin(pages=12, latency=lat))
                 for _ in range(6)]
        seeds = [o.url("/") for o in sites]

        def run(name, env):
            db = db_path(name)
            since = [len(o.requests()) for o in sites]
            p = subprocess.run([SPATE, "crawl", "--no-progress"] + seeds
                               + ["-o", db], capture_output=True, text=True,
                               timeout=60, env=env)
            check(p.returncode == 0, f"{name}: exit {p.returncode} "
                  f"{p.stderr[-300:]!r}")
            waited = re.search(r"hosts held at once: (\d+), the most the "
                               r"store's writer keeps; (\d+) hosts waited",
                               p.stderr)
            check(bool(waited) == ("SPATE_TEST_HOSTS_MAX" in env)
                  and (not waited or waited.groups() == ("2", "4")),
                  f"{name}: summary {p.stderr[-600:]!r}")
            spans = [(t, t + lat, i) for i, o in enumerate(sites)
                     for t, _, _ in o.requests()[since[i]:]]
            busy = max((len({i for s, e, i in spans if s <= t < e})
                        for t, _, _ in spans), default=0)
            return db, busy

        full, busy = run("hosts-all", os.environ)
        check(busy > 2, f"without a host cap {busy} sites were busy at once")
        held, busy = run("hosts-two",
                         dict(os.environ, SPATE_TEST_HOSTS_MAX="2"))
        check(busy <= 2, f"with room for two hosts {busy} sites were busy "
              "at once")
        check_store(held, "hosts-two")
        want = {u: (r["status"], r["error"]) for u, r in pages(full).items()}
        got = {u: (r["status"], r["error"]) for u, r in pages(held).items()}
        ok = sum(1 for v in got.values() if v[0] == 200)
        check(ok >= 6 * 12 and got == want,
              f"hosts-two: {len(got)} pages ({ok} ok), {len(want)} without "
              f"the cap; differing {sorted(set(got.items()) ^ set(want.items()))[:3]}")
        print(f"hosts held: {len(got)} pages of six sites, at most {busy} "
              "busy at once", flush=True)

try:
    with Origin(pages=200, extra=["--hostile"]) as origin:
        test_site_and_traps(origin)
        test_url_length_cap(origin)
        test_max_depth_1(origin)
        test_admit_without_memory(origin)
        test_host_without_memory(origin)
        test_prefix_scope(origin)
        test_include_exclude(origin)
        test_max_pages(origin)
        test_complete_and_other_crawl(origin)
        test_ssrf(origin)
        test_usage(origin)
        test_cookies(origin)
        test_proxy(origin)
    test_robots_status()
    test_robots_sitemaps()
    test_crawl_delay()
    test_max_depth_exact()
    test_sigint_retry_due()
    test_host_fairness()
    test_hosts_held()
    test_unreachable_seed()
    test_search()
    with Origin(pages=3000, latency=5) as origin:
        test_resume_after_kill(origin)
        test_one_crawl_per_store(origin)
        test_sigint(origin)
finally:
    for f in os.listdir(TMP):
        os.unlink(os.path.join(TMP, f))
    os.rmdir(TMP)
finish("it_crawl")
