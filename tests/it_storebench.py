"""bench/storebench (the crawl store's writer alone) keeps working: it
stores the pages it is asked for, each once, with their links and their
text in the index, and says so in its one line. A small run: the figures
themselves are the bench's (bench/README.md), never checked here."""
import os
import re
import sqlite3
import subprocess
import tempfile

from spatetest import SPATE, check, finish

BENCH = os.path.join(os.path.dirname(SPATE), "storebench")


def run(*args):
    return subprocess.run([BENCH, *args], capture_output=True, text=True,
                          timeout=120)


def test_small_site():
    with tempfile.TemporaryDirectory() as d:
        db = os.path.join(d, "s.db")
        # 300 pages of a 2,000-page site: a queue left over at the end.
        p = run("-n", "300", "-s", "2000", "-k", db)
        check(p.returncode == 0, f"exit {p.returncode}: {p.stderr}")
        m = re.match(r"(\d+) pages stored: ([\d.]+) us of writer CPU per "
                     r"page .* ([\d.]+) KB written per page$", p.stdout.strip())
        check(m is not None and m.group(1) == "300",
              f"output: {p.stdout!r}")
        con = sqlite3.connect(db)
        q = lambda sql: con.execute(sql).fetchone()[0]
        check(q("SELECT count(*) FROM pages") == 300, "pages")
        check(q("SELECT count(DISTINCT url) FROM pages") == 300,
              "a page stored twice")
        check(q("PRAGMA page_size") == 65536, "not spate crawl's page size")
        # Every page but the index links to 15 keys, a few of them twice
        # (drawn at random), each stored once.
        n = q("SELECT count(*) FROM links WHERE from_id IN"
              " (SELECT id FROM pages WHERE url LIKE '%/p/%')")
        check(299 * 14 <= n <= 299 * 15, f"{n} links for 299 pages")
        check(q("SELECT count(DISTINCT from_id) FROM links") == 300,
              "a page without links")
        check(q("SELECT count(*) FROM frontier WHERE state = 0") > 0,
              "no queue left (the site is larger than the run)")
        # The text and the titles are indexed, each in its column.
        check(q("SELECT count(*) FROM pages_fts WHERE pages_fts MATCH"
                " 'alpha'") == 300, "the common word is not in every page")
        check(q("SELECT count(*) FROM pages_fts WHERE pages_fts MATCH"
                " 'title:synthetic'") == 300, "titles not indexed")
        check(q("SELECT count(*) FROM pages_fts WHERE pages_fts MATCH"
                " 'body:synthetic'") == 0, "titles indexed as text")
        con.close()
        # With a page size of its own, and without -k nothing stays.
        db2 = os.path.join(d, "t.db")
        p = run("-n", "50", "-p", "4096", db2)
        check(p.returncode == 0 and p.stdout.startswith("50 pages stored"),
              f"-p 4096: {p.returncode} {p.stdout!r} {p.stderr}")
        check(not os.path.exists(db2), "the store was kept without -k")
        p = run("-n", "0", db2)
        check(p.returncode == 2 and "usage" in p.stderr,
              f"-n 0: {p.returncode} {p.stderr!r}")


test_small_site()
finish("it_storebench")
