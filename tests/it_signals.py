"""SIGINT mid-run leaves complete, valid output; a second SIGINT exits at
once; 200,000 URLs on stdin with stdout stalled keep memory flat."""
import json
import os
import signal
import subprocess
import tempfile
import threading
import time

from spatetest import SPATE, Origin, check, finish, wait_for

ASAN = "ASAN_OPTIONS" in os.environ


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_sigint(o):
    # 50 ms per page, 8 at a time: about 160 pages a second.
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
        for i in range(3000):
            f.write(o.url(f"/p/{i % 100}.html?delay=50&n={i}") + "\n")
        f.flush()
        p = subprocess.Popen([SPATE, "fetch", "--no-progress", "--per-host",
                              "8", "-c", "8", "-i", f.name],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        time.sleep(1.5)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        took = time.monotonic() - t0
    check(p.returncode == 130, f"exit {p.returncode} after SIGINT")
    check(took < 5, f"SIGINT drain took {took:.1f}s")
    lines = out.split("\n")
    check(lines[-1] == "", "output ends with a complete line")
    recs = [json.loads(l) for l in lines if l]  # every line is valid JSON
    urls_out = [r["url"] for r in recs]
    check(len(urls_out) == len(set(urls_out)), "no URL twice")
    check(0 < len(recs) < 3000, f"{len(recs)} results before the stop")
    done = sum(1 for r in recs if r["error"] is None)
    check(done > 0, "some finished")
    check(all(r["error"] in (None, "cancelled") for r in recs),
          {r["error"] for r in recs})
    check("URLs in" in err, "summary after SIGINT")


def test_second_sigint(o):
    # Slow pages and a long drain: only the second signal ends it quickly.
    urls = "".join(o.url(f"/slowhead?ms=20000&n={i}") + "\n" for i in range(50))
    p = subprocess.Popen([SPATE, "fetch", "-q", "--drain", "60s"],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, text=True)
    p.stdin.write(urls)
    p.stdin.close()
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    time.sleep(0.5)
    check(p.poll() is None, "still draining after the first SIGINT")
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    p.wait(timeout=10)
    check(time.monotonic() - t0 < 2, "second SIGINT exits at once")
    check(p.returncode == 130, f"exit {p.returncode}")


def test_sigint_while_writing(o):
    # Everything is fetched and waits in the sink behind a stdout nobody
    # reads yet; a SIGINT then must not lose those results.
    urls = "".join(o.url(f"/p/{i % 100}.html?w={i}") + "\n"
                   for i in range(1000))
    p = subprocess.Popen([SPATE, "fetch", "--no-progress"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdin.write(urls.encode())
    p.stdin.close()
    time.sleep(2.0)
    p.send_signal(signal.SIGINT)
    time.sleep(0.3)
    out = p.stdout.read()
    p.wait(timeout=30)
    p.stderr.read()
    recs = [json.loads(l) for l in out.decode().split("\n") if l]
    check(p.returncode == 130, f"exit {p.returncode}")
    check(len(recs) == 1000, f"{len(recs)} of 1000 results after SIGINT "
          "while the output drained")


def test_stalled_output(o):
    n = 200_000
    p = subprocess.Popen([SPATE, "fetch", "--no-progress", "-c", "256",
                          "--per-host", "256"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    fed = [0]

    def feed():
        try:
            for i in range(n):
                p.stdin.write(o.url(f"/p/{i % 500}.html?i={i}\n").encode())
                fed[0] = i + 1
            p.stdin.close()
        except (BrokenPipeError, ValueError, OSError):
            pass

    threading.Thread(target=feed, daemon=True).start()
    # Nobody reads stdout: the pipe fills, the sink blocks, admission stops.
    time.sleep(6)
    peak = 0
    for _ in range(10):
        peak = max(peak, rss_kib(p.pid))
        time.sleep(0.2)
    limit = 400 * 1024 if ASAN else 100 * 1024
    check(peak < limit, f"RSS {peak} KiB with stdout stalled (limit {limit})")
    check(fed[0] < n, f"input was read ahead of the stalled output: "
          f"{fed[0]} lines taken")
    p.send_signal(signal.SIGINT)
    out = p.stdout.read()  # unblock the writer; it finishes and exits
    p.wait(timeout=60)
    recs = [json.loads(l) for l in out.decode().split("\n") if l]
    check(len(recs) > 0, "results after the stall")
    check(p.returncode == 130, f"exit {p.returncode}")
    print(f"stalled output: peak RSS {peak} KiB, {fed[0]} lines taken, "
          f"{len(recs)} results", flush=True)


with Origin(pages=500) as origin:
    test_sigint(origin)
    test_second_sigint(origin)
    test_sigint_while_writing(origin)
    test_stalled_output(origin)
finish("it_signals")
