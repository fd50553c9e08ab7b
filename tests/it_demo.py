"""spate demo: origin and fetch in one process, every page stored once in
SQLite with its title, and the summary printed."""
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
    check("1500 URLs in" in p.stderr and "1500 ok" in p.stderr,
          f"summary: {p.stderr}")
    con = sqlite3.connect(db)
    rows = con.execute("select url, status, title from results").fetchall()
    check(len(rows) == 1500, f"{len(rows)} rows")
    check(len({r[0] for r in rows}) == 1500, "each page once")
    bad = [r for r in rows if r[1] != 200 or not r[2].startswith("Page ")]
    check(not bad, f"bad rows: {bad[:3]}")
    con.close()
    p = subprocess.run([SPATE, "demo", "--bogus"], capture_output=True,
                       text=True, timeout=30)
    check(p.returncode == 2 and "--bogus" in p.stderr, "demo usage error")
finish("it_demo")
