"""Retries, Retry-After, per-host rate and the circuit breaker, observed at
the origin's request log (lower bounds on waits, attempts counted)."""
import socket
import time

from spatetest import Origin, check, fetch, finish, one


def gaps(reqs, path):
    times = [t for t, _, p in reqs if p == path]
    return times, [b - a for a, b in zip(times, times[1:])]


def test_retry_after(o):
    u1 = o.url("/flaky/k1?fail=2&code=503&retry_after=1")
    u2 = o.url("/flaky/k2?fail=1&code=429&retry_after_date=2")
    u3 = o.url("/flaky/k3?fail=5&code=503&retry_after=5")
    u4 = o.url("/flaky/k4?fail=1&code=502")
    u5 = o.url("/status/404")
    code, res, lines, err = fetch([u1, u2, u3, u4, u5], "--retries", "3",
                                  "--max-retry-after", "3")
    reqs = o.requests()
    r = one(res, u1)
    if r:
        check(r["status"] == 200 and r["attempts"] == 3, f"k1 {r}")
        check(r["title"] == "flaky k1", f"k1 title {r['title']}")
    times, g = gaps(reqs, "/flaky/k1?fail=2&code=503&retry_after=1")
    check(len(times) == 3, f"k1 requests {len(times)}")
    check(all(x >= 0.99 for x in g), f"k1 waits {g} under Retry-After 1s")
    r = one(res, u2)
    if r:
        check(r["status"] == 200 and r["attempts"] == 2, f"k2 {r}")
    times, g = gaps(reqs, "/flaky/k2?fail=1&code=429&retry_after_date=2")
    # An HTTP date has one-second resolution: now+2s waits at least 1s.
    check(len(g) == 1 and g[0] >= 0.99, f"k2 waits {g}")
    r = one(res, u3)
    if r:  # Retry-After 5s > --max-retry-after 3s: give up at once
        check(r["attempts"] == 1 and r["status"] == 503
              and r["error"] == "http", f"k3 {r}")
    r = one(res, u4)
    if r:  # no Retry-After: backoff, then success
        check(r["attempts"] == 2 and r["status"] == 200, f"k4 {r}")
    r = one(res, u5)
    if r:
        check(r["attempts"] == 1, "404 not retried")
    times, _ = gaps(reqs, "/status/404")
    check(len(times) == 1, f"404 requested {len(times)} times")


def test_retries_exhausted(o):
    u = o.url("/flaky/k5?fail=10&code=503")
    code, res, lines, err = fetch([u], "--retries", "2")
    r = one(res, u)
    if r:
        check(r["attempts"] == 3 and r["error"] == "http"
              and r["status"] == 503, f"k5 {r}")
    check(len([1 for _, _, p in o.requests() if p.startswith("/flaky/k5")])
          == 3, "k5 requests at origin")
    check(code == 1, "exit 1")


def test_rate(o):
    urls = [o.url(f"/p/{i}.html?rate") for i in range(20)]
    t0 = time.monotonic()
    code, res, lines, err = fetch(urls, "--rate", "10", "-c", "50",
                                  "--per-host", "50")
    wall = time.monotonic() - t0
    times = sorted(t for t, _, p in o.requests() if p.endswith("?rate"))
    check(len(times) == 20, f"{len(times)} rate requests")
    if len(times) == 20:
        span = times[-1] - times[0]
        check(span >= 1.8, f"20 requests at 10/s took {span:.2f}s, want >= 1.9")
        # No one-second window holds more than rate + burst requests.
        worst = max(sum(1 for t in times if a <= t < a + 1.0) for a in times)
        check(worst <= 11, f"{worst} requests in one second at --rate 10")
    check(wall < 10, f"rate run took {wall:.1f}s")


def test_per_host_cap(o):
    # Each response takes 300 ms, so with --per-host 3 requests reach the
    # origin in rounds of at most 3, whatever -c allows (and however many
    # loops share the host).
    urls = [o.url(f"/p/{i}.html?delay=300&cap") for i in range(15)]
    code, res, lines, err = fetch(urls, "--per-host", "3", "-c", "50")
    check(len(lines) == 15, f"{len(lines)} results")
    times = sorted(t for t, _, p in o.requests() if p.endswith("&cap"))
    check(len(times) == 15, f"{len(times)} requests")
    worst = max(sum(1 for t in times if a <= t < a + 0.25) for a in times)
    check(worst <= 3, f"{worst} requests within 250 ms at --per-host 3")
    check(times[-1] - times[0] >= 1.1, "five rounds of three")


def test_breaker():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens: every connect is refused
    urls = [f"http://127.0.0.1:{port}/x{i}" for i in range(300)]
    t0 = time.monotonic()
    code, res, lines, err = fetch(urls, "--breaker", "5", "--retries", "2",
                                  "--per-host", "4", "--breaker-cooldown",
                                  "30s")
    wall = time.monotonic() - t0
    check(len(lines) == 300, f"{len(lines)} results for a dead host")
    errs = [rs[0]["error"] for rs in res.values()]
    attempts = sum(rs[0]["attempts"] for rs in res.values())
    check(all(e in ("connect", "circuit_open") for e in errs), set(errs))
    check(errs.count("circuit_open") >= 280,
          f"{errs.count('circuit_open')} failed fast")
    # Without the breaker this would be 900 connection attempts.
    check(attempts <= 30, f"{attempts} attempts against a dead host")
    check(wall < 15, f"dead host cost {wall:.1f}s")
    check("circuit-breaker trips" in err and "0 circuit-breaker" not in err,
          "summary counts the trip")


with Origin(pages=50) as origin:
    test_retry_after(origin)
    test_retries_exhausted(origin)
    test_rate(origin)
    test_per_host_cap(origin)
test_breaker()
finish("it_politeness")
