"""CI's performance guard: instructions per page of spate's own hot path
(URL check, UTF-8 check, HTML scan, JSON serialisation), counted by callgrind on a fixed
corpus. Deterministic for a given binary, unlike wall time; a regression
that makes this work 50% more expensive fails the build. Throughput is
measured by bench/run.sh, never here.

usage: perfguard.py PERF_HOTPATH_BINARY"""
import os
import re
import subprocess
import sys
import tempfile

# Measured 2026-11-23: 32,300 instructions per page (gcc 12 -O2, valgrind
# 3.19); 2026-12-07: 33,800 with the UTF-8 check (charset.c), which cost
# 7,300 a page before its 32-byte ASCII step. The budget leaves room for compiler and library drift, not for a
# change of algorithm (libxml2's parser alone would be ~40x).
BUDGET_PER_PAGE = 48_000
PAGES = (100, 200)


def instructions(binary, pages):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "cg.out")
        p = subprocess.run(["valgrind", "--tool=callgrind",
                            "--toggle-collect=hot_path",
                            f"--callgrind-out-file={out}", binary, str(pages)],
                           capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            sys.exit(f"perfguard: {binary} failed under valgrind:\n{p.stderr}")
        with open(out) as f:
            m = re.search(r"^summary:\s+(\d+)", f.read(), re.M)
        if not m:
            sys.exit("perfguard: no callgrind summary")
        return int(m.group(1))


def main():
    binary = sys.argv[1]
    a, b = (instructions(binary, n) for n in PAGES)
    # The difference cancels the fixed costs (first-call set-up).
    per_page = (b - a) / (PAGES[1] - PAGES[0])
    print(f"perfguard: {per_page:,.0f} instructions per page "
          f"(budget {BUDGET_PER_PAGE:,})")
    if per_page <= 0 or per_page > BUDGET_PER_PAGE:
        sys.exit(f"perfguard: {per_page:,.0f} instructions per page is over "
                 f"the budget of {BUDGET_PER_PAGE:,}")


main()
