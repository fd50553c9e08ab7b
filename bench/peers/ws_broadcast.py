#!/usr/bin/python3
"""ws_broadcast.py: the WebSocket hub as the course writes it, in Python.

websockets (Debian's python3-websockets 10.4) on asyncio: clients connect
to ws://HOST:PORT/ws and are kept in a set; ten times a second a JSON tick
shaped like spate's (its "seq", its "time" = Unix time in seconds, about
600 bytes) is built and sent to every client with

    await asyncio.gather(*(ws.send(msg) for ws in clients), return_exceptions=True)

(return_exceptions, so that a client that has gone does not end the loop).
The ticks are scheduled on a fixed 100 ms grid; a broadcast that overruns
its slot delays the next one (no catch-up burst), as a sleep-based loop
would. Everything else is the library's default: 64 KiB write limit, pings
every 20 s with a 20 s timeout, no compression unless the client asks.

Run with /usr/bin/python3 (the pyenv python on PATH has no websockets):

    /usr/bin/python3 bench/peers/ws_broadcast.py [--host 127.0.0.1] [--port 0]

Prints "listening on PORT" once bound; on SIGTERM or SIGINT prints its
counters to stderr ("stats key=value ...") and exits 0 at once, without
closing handshakes.
"""
import argparse
import asyncio
import json
import os
import signal
import sys
import time
from http import HTTPStatus

import websockets

CLIENTS = set()
STATS = {"ticks": 0, "slow_ticks": 0, "gather_max_s": 0.0, "gather_sum_s": 0.0,
         "send_errors": 0, "peak_clients": 0, "accepted": 0}


async def handler(ws, path=None):
    CLIENTS.add(ws)
    STATS["accepted"] += 1
    STATS["peak_clients"] = max(STATS["peak_clients"], len(CLIENTS))
    try:
        async for _ in ws:  # incoming messages are read and ignored
            pass
    except websockets.ConnectionClosed:
        pass
    finally:
        CLIENTS.discard(ws)


async def only_ws(path, headers):
    if path != "/ws":
        return HTTPStatus.NOT_FOUND, [], b"not found\n"
    return None


def tick(seq, started):
    now = time.time()
    return {
        "type": "tick", "seq": seq, "time": now,
        "job": {"kind": "fetch", "name": "-", "state": "running",
                "elapsed_s": now - started},
        "totals": {"admitted": 0, "done": 0, "ok": 0, "failed": 0, "inflight": 0,
                   "queued": 0, "bytes": 0, "retries": 0, "redirects": 0,
                   "robots_fetched": 0},
        "rate": {"pages_s": 0.0, "errors_s": 0.0, "bytes_s": 0.0},
        "latency_ms": {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0},
        "status": {"none": 0, "1xx": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0},
        "errors": {}, "hosts": [],
        "sources": [{"name": "job", "kind": "fetch", "state": "running",
                     "last_error": None, "values": {}}],
        "server": {"ws_clients": len(CLIENTS), "sse_clients": 0, "dropped_slow": 0},
    }


async def broadcaster(period=0.1):
    loop = asyncio.get_running_loop()
    started = time.time()
    seq = 0
    due = loop.time()
    while True:
        due += period
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            due = loop.time()  # behind: start the next slot from now
        seq += 1
        msg = json.dumps(tick(seq, started), separators=(",", ":"))
        t0 = loop.time()
        if CLIENTS:
            results = await asyncio.gather(*(ws.send(msg) for ws in CLIENTS),
                                           return_exceptions=True)
            STATS["send_errors"] += sum(isinstance(r, Exception) for r in results)
        dt = loop.time() - t0
        STATS["ticks"] += 1
        STATS["gather_sum_s"] += dt
        STATS["gather_max_s"] = max(STATS["gather_max_s"], dt)
        if dt > period:
            STATS["slow_ticks"] += 1


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    async with websockets.serve(handler, a.host, a.port, process_request=only_ws,
                                backlog=1024) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening on {port}", flush=True)
        task = asyncio.create_task(broadcaster())
        await stop
        task.cancel()
        s = dict(STATS, clients=len(CLIENTS),
                 gather_mean_s=STATS["gather_sum_s"] / max(STATS["ticks"], 1))
        print("stats " + " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                                  for k, v in s.items()), file=sys.stderr, flush=True)
        # Leave without the closing handshakes: 10,000 of them would take a while.
        sys.stdout.flush()
        os._exit(0)


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:
        sys.exit(0)
