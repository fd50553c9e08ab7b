/* origin: spate's own synthetic website on loopback.
 *
 * A small HTTP/1.1 server on a libuv loop that serves a deterministic site
 * of linked pages (generated on the fly from a seed) plus fault endpoints
 * (errors, resets, lies, bombs, trickles, redirect loops...) so that spate's
 * tests and benchmarks need nothing but itself. The endpoints are listed in
 * src/origin.c and docs/ORIGIN.md.
 *
 * Ownership: origin_start() allocates the struct origin; origin_stop()
 * closes every handle and frees it once the last one has closed, then calls
 * done. The caller must not use the pointer after calling origin_stop().
 * The caller ignores SIGPIPE (origin_main does): writes to a peer that went
 * away must fail with EPIPE, not kill the process. */
#ifndef SPATE_ORIGIN_H
#define SPATE_ORIGIN_H

#include <stdint.h>
#include <uv.h>

struct origin_options {
  const char *host;     /* literal IPv4/IPv6 address or "localhost";
                           NULL: 127.0.0.1 */
  int port;             /* 0 = ephemeral, see origin_port() */
  int pages;            /* pages in the site; <= 0: 1000 */
  uint32_t seed;        /* site content; 0 is a valid seed */
  int latency_ms;       /* added before every response; < 0 is 0 */
  const char *log_path; /* NULL: no request log; else appended to */
  int quiet;            /* origin_main: no summary on stderr at exit */
  /* The live endpoints (docs/ORIGIN.md): /api/weather.json changes every
   * api_period_ms, /feed/ gains an item every feed_period_ms, /stream
   * sends a message every stream_period_ms. <= 0: the default; above
   * 86400000: -EINVAL. */
  int api_period_ms;    /* default 1000 */
  int feed_period_ms;   /* default 1000 */
  int stream_period_ms; /* default 200 */
  /* Testing aid (SPATE_TEST_FAIL_ACCEPT): every Nth connection finds no
   * memory and is closed unanswered, as under memory pressure; 0: never. */
  unsigned fail_accept_every;
};

/* Fills opt with the defaults (127.0.0.1, port 0, 1000 pages, seed 7,
 * periods 1000, 1000 and 200 ms). */
void origin_options_init(struct origin_options *opt);

struct origin;

/* Binds, listens (backlog 4096) and serves on loop; opt is copied. Returns
 * 0 and sets *out, or a negative error code (-EINVAL for a bad host or
 * option, a UV_E* code from bind/listen, -errno from opening the log).
 * After a bind or listen failure the listener is already closing and frees
 * the struct from its close callback: run the loop once more (uv_run)
 * before uv_loop_close, as after any uv_close. */
int origin_start(struct origin **out, uv_loop_t *loop,
                 const struct origin_options *opt);

/* The port actually bound (useful with port 0). */
int origin_port(const struct origin *o);

/* Closes the listener and every connection (responses in progress are cut),
 * frees o once all its handles have closed, then calls done(arg) if done is
 * not NULL. Calling it twice is harmless; the second done is ignored. */
void origin_stop(struct origin *o, void (*done)(void *arg), void *arg);

/* `spate origin`: argv[0] is "origin". Runs its own loop until SIGINT or
 * SIGTERM. Returns the process exit code: 0 after a signal, 1 when it
 * cannot listen, 2 for a bad option. */
int origin_main(int argc, char **argv);

#endif
