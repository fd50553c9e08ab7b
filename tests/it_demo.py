"""spate demo: origin and crawl in one process: every page of the site
stored once with its title, robots.txt obeyed, the store searchable, and
the summary printed."""
import os
import sqlite3
import subprocess
import tempfile

from spatetest import SPATE, check, finish

with tempfile.TemporaryDirectory() as d:
    db = os.path.join(d, "demo.db")
    p = subprocess.run([SPATE, "demo", "--pages", "1500", "-o", db],
                       capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, f"exit {p.returncode}: {p.stderr}")
    check("1502 URLs in" in p.stderr and "1501 ok" in p.stderr,
          f"summary: {p.stderr}")
    # The hint names spate as it was run, so it can be pasted as it is.
    check(f"  {SPATE} search {db} " in p.stderr,
          f"the demo says what to try next: {p.stderr}")
    con = sqlite3.connect(db)
    rows = con.execute("select url, status, error, title from pages"
                       " where url like '%/p/%'").fetchall()
    check(len(rows) == 1500, f"{len(rows)} page rows")
    check(len({r[0] for r in rows}) == 1500, "each page once")
    bad = [r for r in rows if r[1] != 200 or not r[3].startswith("Page ")]
    check(not bad, f"bad rows: {bad[:3]}")
    priv = con.execute("select status, error from pages"
                       " where url like '%/private/%'").fetchall()
    check(priv == [(0, "robots")], f"private page: {priv}")
    con.close()
    p = subprocess.run([SPATE, "search", db, 'title:"Page 77"', "--json"],
                       capture_output=True, text=True, timeout=30)
    check(p.returncode == 0 and '/p/77.html"' in p.stdout.splitlines()[0],
          f"search: {p.returncode} {p.stdout[:200]} {p.stderr}")
    p = subprocess.run([SPATE, "demo", "--bogus"], capture_output=True,
                       text=True, timeout=30)
    check(p.returncode == 2 and "--bogus" in p.stderr, "demo usage error")
finish("it_demo")
