/* serve: `spate serve CONFIG` — sources polled or streamed continuously,
 * each item flowing fetch -> transform -> store -> live hub.
 *
 *   loop thread (serve.c)          libuv pool        writer thread     live
 * thread timers, curl (fetcher.c) ──►  transform ──►      sink_items.c live.c
 * + httpd.c per source: conditional GET   (JSON pointers,    (SQLite items)
 * dashboard, /api, retries, backoff, down/up      feed.c) /ws, /events
 *
 * A source that fails degrades alone: it is marked down with its last
 * error and retried with backoff while the others go on. SIGTERM (or
 * SIGINT) stops the sources, drains the queues, flushes the store and
 * closes the WebSockets with 1001; SIGHUP reloads the configuration
 * (added, removed and changed sources; unchanged ones keep running and
 * the connections stay). */
#ifndef SPATE_SERVE_H
#define SPATE_SERVE_H

int serve_main(int argc, char **argv);

#endif
