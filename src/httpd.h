/* httpd: the HTTP/1.1 server of the live service — the dashboard, its
 * JSON API, /health, /metrics, and the streams (/events as Server-Sent
 * Events, /ws as WebSocket) — on a libuv loop, with http_parser for
 * requests and wslay for WebSocket frames (docs/ARCHITECTURE.md, "The
 * server-side HTTP library").
 *
 * One struct httpd per loop; everything runs on that loop's thread
 * (httpd_broadcast too). No globals.
 *
 * Limits (every one answers with a status and a close, never a crash or
 * unbounded memory): request line + headers at most max_header_bytes
 * (431), a body at most max_body (413), at most max_clients connections
 * (503 for the next ones), bytes that are not HTTP (400, and a header
 * name with a space or tab in it), idle keep-alive connections closed
 * after 60 s, a response whose writes make no progress for write_stall_ms.
 *
 * Access: without a token the server is on loopback (the caller sets a
 * token whenever it listens on anything else), and a request's Host must
 * be a loopback name with our port (localhost, 127.0.0.0/8, [::1], the
 * bound address), or it gets 403: DNS rebinding cannot reach it. Any
 * method but GET and HEAD from another site's page (Origin not ours, or
 * Sec-Fetch-Site neither same-origin nor none) gets 403. With a
 * token, a request must carry "Authorization: Bearer TOKEN" or the cookie
 * "spate_token=TOKEN", or it gets 401 — except GET /login?token=TOKEN,
 * which sets that cookie (HttpOnly, SameSite=Strict) and redirects to /.
 * Tokens are compared in constant time.
 *
 * Streams: a subscriber (SSE or WebSocket) gets every httpd_broadcast
 * message. The message is serialised once and shared (reference counted)
 * by all subscribers' queues; a subscriber whose queue holds more than
 * client_queue_max bytes is too slow: it is disconnected (WebSocket: close
 * frame 1008 "too slow"; SSE: a final "event: close" and a close), never
 * buffered without bound. A WebSocket upgrade whose Origin header is
 * present and is not this server's own origin (http:// or https:// +
 * HOST:PORT as the client addressed it in Host) is refused with 403. Incoming
 * WebSocket messages are read and ignored (pings are answered, closes
 * completed).
 */
#ifndef SPATE_HTTPD_H
#define SPATE_HTTPD_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct httpd;
struct httpd_req;

#define HTTPD_TOKEN_MAX 512

struct httpd_options {
  const char *host;        /* literal address to bind; NULL: 127.0.0.1 */
  int port;                /* 0: any free port */
  const char *token;       /* NULL or "": no access control */
  const char *static_dir;  /* files served as /static/<name>; NULL: none */
  size_t max_header_bytes; /* 0: 16 KiB */
  size_t max_body;         /* 0: 64 KiB */
  size_t client_queue_max; /* 0: 256 KiB */
  /* A subscriber whose backlog (its queue plus what the kernel holds for
   * it unacknowledged) stays over client_lag_bytes for client_lag_ms is
   * dropped as too slow. 0: 64 KiB and 10 s. */
  size_t client_lag_bytes;
  unsigned client_lag_ms;
  /* A WebSocket subscriber is pinged ws_ping_ms after its upgrade or last
   * pong and dropped if the pong takes longer than ws_ping_ms: its backlog
   * may sit in its own kernel's receive buffer, out of our sight.
   * 0: 20 s. */
  unsigned ws_ping_ms;
  /* 0: 20,000; at most the open-file limit less reserve_fds and 64, so
   * that clients cannot take the descriptors the rest of the process
   * needs (a job's sockets). */
  int max_clients;
  int reserve_fds;
  /* A response whose writes make no progress for this long (a client that
   * stopped reading) ends the connection. 0: 30 s. */
  unsigned write_stall_ms;
  /* Called for every complete request that is not /login, /static/...,
   * or refused by a limit or the token. The handler answers it, now or
   * later on the loop, with exactly one of httpd_respond,
   * httpd_upgrade_sse, httpd_upgrade_ws. */
  void (*handle)(void *arg, struct httpd_req *req);
  void *arg;
};

/* Binds and listens. Returns 0, or a negative errno with a one-line
 * reason in err (address in use, bad address...). */
int httpd_start(struct httpd **out, uv_loop_t *loop,
                const struct httpd_options *o, char err[256]);
/* The port actually bound. */
int httpd_port(const struct httpd *h);
/* Stops listening, closes WebSocket subscribers with 1001 "going away",
 * ends SSE streams, finishes responses in progress (up to 1 s), closes
 * every connection, then calls done (may be NULL) and frees h. */
void httpd_stop(struct httpd *h, void (*done)(void *arg), void *arg);

/* The request, valid until it is answered. Path is decoded of nothing:
 * as sent, without the query; query is after '?' or "". */
const char *httpd_req_method(const struct httpd_req *r);
const char *httpd_req_path(const struct httpd_req *r);
const char *httpd_req_query(const struct httpd_req *r);
/* A header's value (name compared case-insensitively), or NULL. */
const char *httpd_req_header(const struct httpd_req *r, const char *name);
const char *httpd_req_body(const struct httpd_req *r, size_t *len);

/* Answers with status, a Content-Type (may be NULL) and body[0..len)
 * (copied). Adds Content-Length, Cache-Control: no-store and
 * X-Content-Type-Options: nosniff. */
void httpd_respond(struct httpd_req *r, int status, const char *content_type,
                   const char *body, size_t len);
/* Turns the connection into an SSE subscriber (text/event-stream; each
 * broadcast arrives as "data: MESSAGE\n\n"). Returns 0, or -1 after
 * answering the request with an error itself. */
int httpd_upgrade_sse(struct httpd_req *r);
/* Completes the WebSocket handshake (RFC 6455; GET with Upgrade,
 * Sec-WebSocket-Key, version 13) and makes the connection a subscriber
 * (each broadcast is one text frame). Returns 0, or -1 after answering
 * the request with 400/403/426 itself. */
int httpd_upgrade_ws(struct httpd_req *r);

/* Sends msg[0..len) (one JSON text) to every subscriber. */
void httpd_broadcast(struct httpd *h, const char *msg, size_t len);

struct httpd_stats {
  uint64_t requests;     /* answered, all kinds */
  uint64_t refused;      /* 4xx/5xx sent by the server itself (limits) */
  uint64_t unauthorized; /* 401 */
  int connections;       /* open now */
  int ws_clients, sse_clients;
  int ws_contexts; /* WebSocket clients within a message (they cost more) */
  uint64_t broadcasts;
  uint64_t dropped_slow;   /* subscribers disconnected for being too slow */
  uint64_t refused_host;   /* 403: a Host not ours (no token: loopback) */
  uint64_t refused_origin; /* 403: a write from another site's page */
};
void httpd_get_stats(const struct httpd *h, struct httpd_stats *out);

#endif
