/* httpd: the live service's HTTP/1.1 server (see httpd.h).
 *
 * How a connection runs. It reads and parses until one request is complete;
 * the parser pauses there and the request is answered (state BUSY) before
 * any later byte is parsed, so pipelined requests are answered in order and
 * the request's strings stay put until the handler answers. Bytes that
 * arrive meanwhile wait in a bounded pending buffer. The next request is
 * parsed once the response has been written out completely, so a client
 * that pipelines without reading holds one response, never more.
 *
 * Output. Everything a connection sends goes through its queue of chunks:
 * reference-counted buffers, written with at most one uv_write in flight
 * (which takes every queued chunk, up to WRITE_BUFS). A response is a chunk
 * of its own; a broadcast is serialised once as an SSE event and once as a
 * WebSocket text frame, and each subscriber's queue holds a reference to
 * the one it needs. A subscriber's queue counts the bytes of its chunks
 * until their write completes.
 *
 * Slow subscribers. A broadcast that would take a non-empty queue past
 * client_queue_max drops the subscriber: the chunks not yet handed to
 * uv_write are released (every one is a whole frame or event), the final
 * close frame (1008 "too slow") or SSE "event: close" is queued behind the
 * write in flight, and the connection is closed once that is out, or after
 * DROP_GRACE_MS if the client never reads it. A message larger than
 * client_queue_max still goes to a subscriber whose queue is empty.
 * The queue only grows once the kernel's buffers are full, and those grow
 * to megabytes (send buffer autotuning), which at a tick's few hundred
 * bytes takes minutes. So each subscriber's backlog, its queue plus the
 * kernel's unacknowledged bytes (SIOCOUTQ), is also looked at about ten
 * times per client_lag_ms, at a broadcast: over client_lag_bytes at every
 * look for client_lag_ms, the subscriber is dropped the same way. A burst
 * that drains does not count. But the client's kernel acknowledges what
 * fits its receive buffer, which also autotunes to megabytes, so a
 * WebSocket subscriber is also pinged ws_ping_ms after its upgrade or last
 * pong, and dropped ("too slow: no pong") if no pong comes within
 * ws_ping_ms: a pong means the client has read everything before the ping.
 *
 * WebSocket. wslay reads the client's frames (fed from uv_read, no
 * buffering of data frames, which are ignored) and writes its pongs and
 * close frames into the queue through its send callback, which always
 * takes the whole frame, so those frames and the broadcast frames never
 * interleave inside a frame. While a client's queue is over the bound (a
 * ping flood) its input is not read.
 *
 * Time. A connection has IDLE_MS from when it starts waiting for a request
 * until that request is complete, so a trickled request is cut as an idle
 * one is. An SSE stream has no length: it ends with the connection.
 *
 * Static files are read whole (at most STATIC_MAX) from the resolved path,
 * which must lie inside static_dir; names that could step out of it are
 * refused before any file system call.
 *
 * Accounting in httpd_get_stats: requests counts every response sent
 * (upgrades included); refused the ones the server sent on its own for a
 * limit or a bad request (400, 403 for a foreign Origin, 413, 426, 431,
 * 503); unauthorized the 401s. connections counts the admitted ones that
 * are open, not those only answered 503.
 *
 * httpd_stop. Once done has run, h and every request still unanswered are
 * gone: a handler must not answer a request after that. */
#include "httpd.h"

#include "buf.h"
#include "tcpserver.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <limits.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#ifdef __linux__
#include <linux/sockios.h> /* SIOCOUTQ */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <wslay/wslay.h>

#define BACKLOG 1024
#define PENDING_CAP (64 * 1024)  /* input held while a request is answered */
#define WRITE_BUFS 64            /* chunks per uv_write */
#define IDLE_MS 60000            /* to complete a request, or idle between */
#define DEF_WRITE_STALL_MS 30000 /* a response's writes making no progress */
#define FD_RESERVE_MIN 64  /* descriptors left to the rest of the process */
#define DROP_GRACE_MS 5000 /* a dropped subscriber's last bytes */
#define DEF_LAG_BYTES (64 * 1024)
#define DEF_LAG_MS 10000
#define DEF_PING_MS 20000
#define PING_DATA "spate"  /* our pings' payload, which a pong echoes */
#define STOP_GRACE_MS 1000 /* httpd_stop: responses in progress */
#define REJECT_MAX 64      /* connections being answered 503 at once */
#define STATIC_MAX (8 * 1024 * 1024)
#define BROADCAST_MAX (64 * 1024 * 1024)
#define DEF_HEADER_BYTES (16 * 1024)
#define DEF_BODY (64 * 1024)
#define DEF_QUEUE (256 * 1024)
#define DEF_CLIENTS 20000
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" /* RFC 6455, 1.3 */
#define TEXT "text/plain; charset=utf-8"

/* A reference-counted piece of output. */
struct chunk {
  size_t refs;
  size_t len;
  char data[];
};

enum conn_state {
  ST_READ,   /* reading a request */
  ST_BUSY,   /* one request with the handler, or its response going out */
  ST_SSE,    /* an SSE subscriber */
  ST_WS,     /* a WebSocket subscriber */
  ST_LINGER, /* our FIN sent; input discarded until the peer's FIN */
  ST_CLOSED, /* uv_close called */
};

struct conn;

struct httpd_req {
  struct conn *c;
};

struct conn {
  struct httpd *h;
  struct conn *prev, *next;   /* h->conns */
  struct conn *sprev, *snext; /* h->subs, while subscribed */
  /* Its timer: idle, linger and grace, one at a time. Freed once its
   * handles have closed, unless req_out. */
  struct tcpserver_conn io;
  uv_write_t wreq;
  http_parser parser;
  struct httpd_req req;
  enum conn_state state;
  int parsing;
  int admitted;    /* counted in h->nconns */
  int rejected;    /* answered 503, counted in h->rejecting */
  int req_out;     /* the handler holds req */
  int close_after; /* BUSY: end the connection after this response */
  int closing;     /* SSE/WS: end the connection once the queue is out */
  int subscribed, sub_ws;
  uint64_t lag_check; /* loop time of the next look at the backlog */
  uint64_t lag_since; /* loop time + 1 the backlog went over; 0: under */
  uint64_t alive_at;  /* WebSocket: loop time of the upgrade or last pong */
  uint64_t ping_at;   /* loop time + 1 of our unanswered ping; 0: none */

  /* The request. */
  struct buf url;    /* the target as sent */
  struct buf target; /* path NUL query NUL */
  size_t path_len;
  struct buf hdrs; /* name NUL value NUL ... */
  int hstate;      /* 0: before a header, 1: in a name, 2: in a value */
  struct buf body;
  size_t head_bytes;
  int err_status; /* 413 or 431, decided while parsing */
  int oom;
  int method, keep_alive, upgrade, http_minor, head_only;

  /* The output queue: a ring of chunks, the first inflight being written. */
  struct chunk **q;
  size_t qcap, qhead, qlen, inflight;
  size_t queued; /* bytes in the queue */
  int writing;

  char *pending; /* input received while BUSY */
  size_t pending_len, pending_cap;

  /* WebSocket: the wslay context is made when the client first sends a
   * byte (most subscribers never do), as it costs over 4 KiB. */
  wslay_event_context_ptr ws;
  int ws_closed; /* we sent a close frame without a context */
  /* Where the client's frames end, so that the context can go again
   * between messages: header bytes so far, payload bytes still to come,
   * and whether a fragmented data message is open. */
  unsigned char ws_hdr[14];
  unsigned ws_hlen;
  uint64_t ws_left;
  int ws_frag;
  /* A pong being read that may answer our ping: its payload's bytes so far
   * (masked), compared with PING_DATA once all are in. */
  int ws_pong;
  unsigned char ws_pong_got[8];
  const char *ws_in; /* input being fed to wslay */
  size_t ws_in_len;
  struct buf ws_out; /* what wslay wrote during one wslay_event_send */
};

struct httpd {
  uv_loop_t *loop;
  /* Its handles count the stop timer too. */
  struct tcpserver srv;
  uv_timer_t stop_timer;
  http_parser_settings settings;
  void (*handle)(void *arg, struct httpd_req *req);
  void *arg;
  size_t max_header, max_body, queue_max, lag_bytes;
  uint64_t lag_ms, ping_ms;
  int max_clients;
  int port;
  uint64_t write_stall_ms;
  char bind_host[64]; /* the literal bound, lower case, IPv6 unbracketed */
  char *token;        /* NULL: no access control */
  unsigned char token_md[EVP_MAX_MD_SIZE];
  unsigned token_md_len;
  char *static_root; /* realpath of static_dir, or NULL */
  size_t static_root_len;

  struct conn *conns; /* every connection not yet freed */
  struct conn *subs;  /* subscribers */
  int nlive;          /* connections whose handles are open */
  int nconns, rejecting, ws_clients, sse_clients;
  int ws_contexts; /* wslay contexts alive */
  int stop_timer_on;
  uint64_t requests, refused, unauthorized, broadcasts, dropped_slow;
  uint64_t refused_host, refused_origin;

  struct buf head; /* scratch: the head of the response being built */
  time_t date_sec;
  char date[40];
};

static void conn_close(struct conn *c);
static void on_timer(uv_timer_t *t);
static void conn_shutdown(struct conn *c);
static void out_drained(struct conn *c);
static void process_input(struct conn *c, const char *data, size_t len);
static void ws_input(struct conn *c, const char *data, size_t len);
static void conn_free(struct conn *c);

/* ---- chunks and the output queue --------------------------------------- */

static struct chunk *chunk_new(size_t len)
{
  struct chunk *k;
  if (len > SIZE_MAX / 2)
    return NULL;
  k = malloc(sizeof *k + len);
  if (k) {
    k->refs = 1;
    k->len = len;
  }
  return k;
}

static void chunk_unref(struct chunk *k)
{
  if (k && --k->refs == 0)
    free(k);
}

static struct chunk *chunk_of(const void *p, size_t n)
{
  struct chunk *k = chunk_new(n);
  if (k && n)
    memcpy(k->data, p, n);
  return k;
}

static struct chunk *q_at(const struct conn *c, size_t i)
{
  return c->q[(c->qhead + i) % c->qcap];
}

static void on_write(uv_write_t *w, int status);

/* Starts a write of the queued chunks unless one is in flight. */
static void out_flush(struct conn *c)
{
  uv_buf_t bufs[WRITE_BUFS];
  unsigned n = 0;
  if (c->writing || !c->qlen || c->state == ST_CLOSED)
    return;
  while (n < c->qlen && n < WRITE_BUFS) {
    struct chunk *k = q_at(c, n);
    bufs[n++] = uv_buf_init(k->data, (unsigned)k->len);
  }
  c->inflight = n;
  c->writing = 1;
  c->wreq.data = c;
  /* A response must keep moving: a client that stops reading it would
   * otherwise hold the connection, its pipelined input and the response
   * for ever. Re-armed by every write, so only a stall fires it. Streams
   * have their own rules (the lag and ping checks). */
  if (c->state == ST_BUSY)
    uv_timer_start(&c->io.timer, on_timer, c->h->write_stall_ms, 0);
  if (uv_write(&c->wreq, (uv_stream_t *)&c->io.tcp, bufs, n, on_write)) {
    c->writing = 0;
    c->inflight = 0;
    conn_close(c);
  }
}

/* Appends k (taking a reference of its own) and writes it when it can. */
static int out_push(struct conn *c, struct chunk *k)
{
  if (c->state == ST_CLOSED)
    return 0;
  if (c->qlen == c->qcap) {
    size_t cap = c->qcap ? c->qcap * 2 : 8;
    struct chunk **q = malloc(cap * sizeof *q);
    if (!q)
      return -ENOMEM;
    for (size_t i = 0; i < c->qlen; i++)
      q[i] = q_at(c, i);
    free(c->q);
    c->q = q;
    c->qcap = cap;
    c->qhead = 0;
  }
  c->q[(c->qhead + c->qlen) % c->qcap] = k;
  c->qlen++;
  k->refs++;
  c->queued += k->len;
  out_flush(c);
  return 0;
}

/* Pushes a copy of p[0..n); closes the connection when out of memory. */
static void out_copy(struct conn *c, const void *p, size_t n)
{
  struct chunk *k = chunk_of(p, n);
  if (!k || out_push(c, k))
    conn_close(c);
  chunk_unref(k);
}

/* Releases the first n chunks of the queue. */
static void out_release(struct conn *c, size_t n)
{
  while (n--) {
    struct chunk *k = c->q[c->qhead];
    c->qhead = (c->qhead + 1) % c->qcap;
    c->qlen--;
    c->queued -= k->len;
    chunk_unref(k);
  }
}

/* Releases the chunks not handed to uv_write yet: whole frames, events or
 * responses, so the stream stays well formed. */
static void out_drop_unsent(struct conn *c)
{
  while (c->qlen > c->inflight) {
    struct chunk *k = q_at(c, c->qlen - 1);
    c->qlen--;
    c->queued -= k->len;
    chunk_unref(k);
  }
}

static void on_write(uv_write_t *w, int status)
{
  struct conn *c = w->data;
  struct httpd *h = c->h;
  out_release(c, c->inflight);
  c->inflight = 0;
  c->writing = 0;
  if (c->state == ST_CLOSED)
    return;
  if (status < 0) {
    conn_close(c); /* the peer went away */
    return;
  }
  /* A WebSocket client whose pongs piled up is read again. */
  if (c->state == ST_WS && !c->io.reading && !c->closing && !c->io.eof &&
      c->queued <= h->queue_max / 2 && tcpserver_conn_read_start(&c->io))
    conn_close(c);
  if (c->qlen)
    out_flush(c);
  else
    out_drained(c);
}

/* ---- small helpers ----------------------------------------------------- */

static const struct {
  int code;
  const char *text;
} reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {413, "Content Too Large"},
    {415, "Unsupported Media Type"},
    {422, "Unprocessable Content"},
    {426, "Upgrade Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
};

static const char *reason(int status)
{
  for (size_t i = 0; i < sizeof reasons / sizeof *reasons; i++)
    if (reasons[i].code == status)
      return reasons[i].text;
  return status < 400 ? "OK" : "Error";
}

/* The Date header's value, formatted once a second. */
static const char *http_date(struct httpd *h)
{
  static const char wday[] = "SunMonTueWedThuFriSat";
  static const char month[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  time_t now = time(NULL);
  struct tm tm;
  if (now == h->date_sec)
    return h->date;
  gmtime_r(&now, &tm);
  snprintf(h->date, sizeof h->date, "%.3s, %02d %.3s %d %02d:%02d:%02d GMT",
           wday + 3 * (tm.tm_wday % 7), tm.tm_mday,
           month + 3 * (tm.tm_mon % 12), tm.tm_year + 1900, tm.tm_hour,
           tm.tm_min, tm.tm_sec);
  h->date_sec = now;
  return h->date;
}

static int hex_digit(char ch)
{
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  ch = (char)(ch | 0x20);
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  return -1;
}

/* Percent-decodes s[0..n) into out (cap bytes, NUL added). Returns the
 * length, or -1 for a bad escape, a decoded NUL or no room. */
static long pct_decode(const char *s, size_t n, char *out, size_t cap)
{
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (ch == '%') {
      int a = i + 2 < n ? hex_digit(s[i + 1]) : -1;
      int b = a >= 0 ? hex_digit(s[i + 2]) : -1;
      if (b < 0)
        return -1;
      ch = (char)(a * 16 + b);
      i += 2;
    }
    if (ch == '\0' || o + 1 >= cap)
      return -1;
    out[o++] = ch;
  }
  out[o] = '\0';
  return (long)o;
}

static int is_space(char ch)
{
  return ch == ' ' || ch == '\t';
}

/* Whether the comma-separated list v holds tok (case-insensitive). */
static int list_has(const char *v, const char *tok)
{
  size_t tl = strlen(tok);
  while (v && *v) {
    while (*v == ',' || is_space(*v))
      v++;
    size_t n = strcspn(v, ","), m = n;
    while (m && is_space(v[m - 1]))
      m--;
    if (m == tl && !strncasecmp(v, tok, tl))
      return 1;
    v += n;
  }
  return 0;
}

/* ---- the request ------------------------------------------------------- */

/* The next header named name after *pos (start at NULL), or NULL. */
static const char *header_next(const struct conn *c, const char *name,
                               const char **pos)
{
  const char *p, *end;
  if (!c->hdrs.data)
    return NULL;
  p = *pos ? *pos : c->hdrs.data;
  end = c->hdrs.data + c->hdrs.len;
  while (p && p < end) {
    const char *v = p + strlen(p) + 1;
    const char *nx = v + strlen(v) + 1;
    if (!strcasecmp(p, name)) {
      *pos = nx;
      return v;
    }
    p = nx;
  }
  *pos = end;
  return NULL;
}

static const char *header(const struct conn *c, const char *name)
{
  const char *pos = NULL;
  return header_next(c, name, &pos);
}

const char *httpd_req_method(const struct httpd_req *r)
{
  return http_method_str((enum http_method)r->c->method);
}

const char *httpd_req_path(const struct httpd_req *r)
{
  return r->c->target.data;
}

const char *httpd_req_query(const struct httpd_req *r)
{
  return r->c->target.data + r->c->path_len + 1;
}

const char *httpd_req_header(const struct httpd_req *r, const char *name)
{
  return header(r->c, name);
}

const char *httpd_req_body(const struct httpd_req *r, size_t *len)
{
  if (len)
    *len = r->c->body.len;
  return r->c->body.data ? r->c->body.data : "";
}

/* c->target from c->url: the path (origin-form as sent; for the
 * absolute form, what follows the authority) and the query. */
static int split_target(struct conn *c)
{
  const char *u = c->url.data ? c->url.data : "";
  size_t n = c->url.len, plen, qoff, qlen;
  const char *s = u[0] != '/' ? strstr(u, "://") : NULL;
  int rc = 0;
  if (s) { /* absolute-form: drop scheme and authority */
    s += 3;
    s += strcspn(s, "/?#");
    n -= (size_t)(s - u);
    u = s;
  }
  const char *hash = memchr(u, '#', n);
  if (hash)
    n = (size_t)(hash - u);
  const char *q = memchr(u, '?', n);
  plen = q ? (size_t)(q - u) : n;
  qoff = q ? plen + 1 : n;
  qlen = n - qoff;
  buf_reset(&c->target);
  if (!plen)
    rc |= buf_putc(&c->target, '/');
  rc |= buf_append(&c->target, u, plen);
  c->path_len = c->target.len;
  rc |= buf_putc(&c->target, '\0');
  rc |= buf_append(&c->target, u + qoff, qlen);
  return rc ? -ENOMEM : 0;
}

/* ---- responses --------------------------------------------------------- */

/* The head of a response into h->head; clen < 0: no Content-Length. */
static int head_build(struct conn *c, int status, const char *extra,
                      const char *ctype, long long clen)
{
  struct buf *b = &c->h->head;
  int rc = 0;
  buf_reset(b);
  rc |= buf_printf(b, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status, reason(status),
                   http_date(c->h));
  if (ctype)
    rc |= buf_printf(b, "Content-Type: %s\r\n", ctype);
  if (clen >= 0)
    rc |= buf_printf(b, "Content-Length: %lld\r\n", clen);
  rc |= buf_puts(b, "Cache-Control: no-store\r\n"
                    "X-Content-Type-Options: nosniff\r\n");
  if (extra)
    rc |= buf_puts(b, extra);
  if (c->close_after)
    rc |= buf_puts(b, "Connection: close\r\n");
  else if (c->http_minor == 0)
    rc |= buf_puts(b, "Connection: keep-alive\r\n");
  rc |= buf_puts(b, "\r\n");
  return rc ? -ENOMEM : 0;
}

/* Forgets the request of a connection that is already closed; 1 if so. */
static int req_gone(struct conn *c);

/* A complete response to the request being served. */
static void send_response(struct conn *c, int status, const char *extra,
                          const char *ctype, const char *body, size_t len)
{
  struct httpd *h = c->h;
  int nobody = status == 204 || status == 304 || status < 200;
  size_t blen = nobody || c->head_only ? 0 : len;
  struct chunk *k;
  if (req_gone(c))
    return;
  c->req_out = 0;
  if (head_build(c, status, extra, nobody ? NULL : ctype,
                 nobody ? -1 : (long long)len)) {
    conn_close(c);
    return;
  }
  k = chunk_new(h->head.len + blen);
  if (!k) {
    conn_close(c);
    return;
  }
  memcpy(k->data, h->head.data, h->head.len);
  if (blen)
    memcpy(k->data + h->head.len, body, blen);
  h->requests++;
  if (out_push(c, k))
    conn_close(c);
  chunk_unref(k);
}

/* A short text answer of the server's own. */
static void answer(struct conn *c, int status, const char *extra)
{
  char text[64];
  int n = snprintf(text, sizeof text, "%d %s\n", status, reason(status));
  send_response(c, status, extra, TEXT, text, (size_t)n);
}

/* answer(), counted as refused (a limit or a bad request). */
static void refuse(struct conn *c, int status, const char *extra)
{
  c->h->refused++;
  answer(c, status, extra);
}

void httpd_respond(struct httpd_req *r, int status, const char *content_type,
                   const char *body, size_t len)
{
  send_response(r->c, status, NULL, content_type, body, len);
}

/* ---- access ------------------------------------------------------------ */

/* Whether s[0..n) is the token, in time independent of where they differ
 * and of the token's length. */
static int token_ok(const struct httpd *h, const char *s, size_t n)
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned mdlen = 0;
  if (!EVP_Digest(s, n, md, &mdlen, EVP_sha256(), NULL) ||
      mdlen != h->token_md_len)
    return 0;
  return CRYPTO_memcmp(md, h->token_md, mdlen) == 0;
}

/* "Authorization: Bearer TOKEN" or the cookie spate_token=TOKEN. */
static int authorized(const struct conn *c)
{
  const struct httpd *h = c->h;
  const char *pos = NULL, *v;
  while ((v = header_next(c, "authorization", &pos))) {
    if (strncasecmp(v, "bearer", 6) || !is_space(v[6]))
      continue;
    v += 6;
    while (is_space(*v))
      v++;
    size_t n = strlen(v);
    while (n && is_space(v[n - 1]))
      n--;
    if (token_ok(h, v, n))
      return 1;
  }
  pos = NULL;
  while ((v = header_next(c, "cookie", &pos))) {
    while (*v) {
      while (*v == ';' || is_space(*v))
        v++;
      size_t n = strcspn(v, ";"), m = n;
      while (m && is_space(v[m - 1]))
        m--;
      if (m > 12 && !memcmp(v, "spate_token=", 12) &&
          token_ok(h, v + 12, m - 12))
        return 1;
      v += n;
    }
  }
  return 0;
}

/* GET /login?token=TOKEN: the cookie and a redirect to /. */
static void serve_login(struct conn *c)
{
  struct httpd *h = c->h;
  const char *q = httpd_req_query(&c->req);
  char tok[HTTPD_TOKEN_MAX + 1], extra[HTTPD_TOKEN_MAX + 128];
  long n = -1;
  if (c->method != HTTP_GET && c->method != HTTP_HEAD) {
    answer(c, 405, "Allow: GET, HEAD\r\n");
    return;
  }
  if (!h->token) {
    send_response(c, 302, "Location: /\r\n", NULL, "", 0);
    return;
  }
  while (*q) {
    size_t len = strcspn(q, "&");
    if (len >= 6 && !memcmp(q, "token=", 6))
      n = pct_decode(q + 6, len - 6, tok, sizeof tok);
    q += len + (q[len] == '&');
  }
  if (n < 0 || !token_ok(h, tok, (size_t)n)) {
    h->unauthorized++;
    answer(c, 401, "WWW-Authenticate: Bearer\r\n");
    return;
  }
  snprintf(extra, sizeof extra,
           "Location: /\r\nSet-Cookie: spate_token=%s; Path=/; HttpOnly; "
           "SameSite=Strict\r\n",
           h->token);
  send_response(c, 302, extra, NULL, "", 0);
}

/* ---- static files ------------------------------------------------------ */

static const struct {
  const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".json", "application/json"},
    {".txt", TEXT},
};

static const char *type_of(const char *name)
{
  const char *dot = strrchr(name, '.');
  if (dot && !strchr(dot, '/'))
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
      if (!strcmp(dot, types[i].ext))
        return types[i].type;
  return "application/octet-stream";
}

/* The decoded name under static_dir, or -1 for anything that could leave
 * it or name something odd: "..", "//", NUL, a backslash (as sent or
 * percent-encoded), a leading or trailing '/', a segment starting with a
 * dot. */
static int static_name(const char *s, char *out, size_t cap)
{
  long n = pct_decode(s, strlen(s), out, cap);
  if (n <= 0 || out[0] == '/' || out[n - 1] == '/' || strchr(out, '\\') ||
      strstr(out, "//") || strstr(out, ".."))
    return -1;
  for (long i = 0; i < n; i++)
    if (out[i] == '.' && (i == 0 || out[i - 1] == '/'))
      return -1;
  return 0;
}

static void serve_static(struct conn *c, const char *name)
{
  struct httpd *h = c->h;
  char rel[PATH_MAX], full[2 * PATH_MAX + 2], real[PATH_MAX];
  struct stat st;
  struct chunk *k;
  int fd;
  if (c->method != HTTP_GET && c->method != HTTP_HEAD) {
    answer(c, 405, "Allow: GET, HEAD\r\n");
    return;
  }
  if (!h->static_root || static_name(name, rel, sizeof rel) ||
      (size_t)snprintf(full, sizeof full, "%s/%s", h->static_root, rel) >=
          sizeof full ||
      !realpath(full, real) ||
      strncmp(real, h->static_root, h->static_root_len) ||
      real[h->static_root_len] != '/') {
    answer(c, 404, NULL);
    return;
  }
  /* O_NONBLOCK: a FIFO must not hang the loop in open(). */
  fd = open(real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) ||
      st.st_size > STATIC_MAX) {
    if (fd >= 0)
      close(fd);
    answer(c, 404, NULL);
    return;
  }
  size_t size = (size_t)st.st_size, body = c->head_only ? 0 : size;
  if (head_build(c, 200, NULL, type_of(rel), (long long)size) ||
      !(k = chunk_new(h->head.len + body))) {
    close(fd);
    conn_close(c);
    return;
  }
  memcpy(k->data, h->head.data, h->head.len);
  for (size_t got = 0; got < body;) {
    ssize_t r = pread(fd, k->data + h->head.len + got, body - got, (off_t)got);
    if (r <= 0) { /* changed under us */
      close(fd);
      chunk_unref(k);
      answer(c, 500, NULL);
      return;
    }
    got += (size_t)r;
  }
  close(fd);
  h->requests++;
  if (out_push(c, k))
    conn_close(c);
  chunk_unref(k);
}

/* ---- subscribers ------------------------------------------------------- */

static void subscribe(struct conn *c, int ws)
{
  struct httpd *h = c->h;
  c->subscribed = 1;
  c->sub_ws = ws;
  c->alive_at = uv_now(h->loop);
  c->ping_at = 0;
  c->sprev = NULL;
  c->snext = h->subs;
  if (h->subs)
    h->subs->sprev = c;
  h->subs = c;
  if (ws)
    h->ws_clients++;
  else
    h->sse_clients++;
}

static void unsubscribe(struct conn *c)
{
  struct httpd *h = c->h;
  if (!c->subscribed)
    return;
  c->subscribed = 0;
  if (c->sprev)
    c->sprev->snext = c->snext;
  else
    h->subs = c->snext;
  if (c->snext)
    c->snext->sprev = c->sprev;
  if (c->sub_ws)
    h->ws_clients--;
  else
    h->sse_clients--;
}

/* No more broadcasts; the connection ends once its queue is out. */
static void sub_end(struct conn *c)
{
  unsubscribe(c);
  c->closing = 1;
  if (!c->writing && !c->qlen)
    conn_shutdown(c);
}

/* Hands what wslay wrote to the queue; notices a close frame sent. */
static void ws_flush(struct conn *c)
{
  if (c->state == ST_CLOSED || !c->ws)
    return;
  if (wslay_event_want_write(c->ws) && wslay_event_send(c->ws)) {
    conn_close(c);
    return;
  }
  if (c->ws_out.len) {
    out_copy(c, c->ws_out.data, c->ws_out.len);
    buf_reset(&c->ws_out);
    if (c->state == ST_CLOSED)
      return;
  }
  if (wslay_event_get_close_sent(c->ws) && !c->closing)
    sub_end(c);
}

static void sse_end(struct conn *c, const char *why)
{
  char ev[64];
  int n = snprintf(ev, sizeof ev, "event: close\ndata: %s\n\n", why);
  unsubscribe(c);
  out_copy(c, ev, (size_t)n);
  if (c->state != ST_CLOSED)
    sub_end(c);
}

/* A close frame of our own (RFC 6455, 5.5.1), for a client that never
 * sent a byte and so has no wslay context. */
static void ws_close_frame(struct conn *c, uint16_t code, const char *why)
{
  unsigned char f[4 + 123];
  size_t n = strlen(why);
  if (n > 123)
    n = 123;
  f[0] = 0x80 | WSLAY_CONNECTION_CLOSE;
  f[1] = (unsigned char)(2 + n);
  f[2] = (unsigned char)(code >> 8);
  f[3] = (unsigned char)code;
  memcpy(f + 4, why, n);
  c->ws_closed = 1;
  out_copy(c, f, 4 + n);
}

static void ws_end(struct conn *c, uint16_t code, const char *why)
{
  unsubscribe(c);
  if (!c->ws) {
    if (!c->ws_closed)
      ws_close_frame(c, code, why);
  } else if (!wslay_event_get_close_sent(c->ws)) {
    wslay_event_queue_close(c->ws, code, (const uint8_t *)why, strlen(why));
  }
  ws_flush(c);
  if (c->state != ST_CLOSED)
    sub_end(c);
}

static void on_timer(uv_timer_t *t)
{
  conn_close(t->data);
}

/* Too slow: what is not being written yet goes, a last word follows the
 * write in flight, and the connection ends when that is out or after a
 * grace period. */
static void sub_drop(struct conn *c, const char *why)
{
  c->h->dropped_slow++;
  unsubscribe(c);
  out_drop_unsent(c);
  uv_timer_start(&c->io.timer, on_timer, DROP_GRACE_MS, 0);
  if (c->sub_ws)
    ws_end(c, WSLAY_CODE_POLICY_VIOLATION, why);
  else
    sse_end(c, why);
}

static void sub_send(struct conn *c, struct chunk *k)
{
  if (c->queued && c->queued + k->len > c->h->queue_max) {
    sub_drop(c, "too slow");
    return;
  }
  if (out_push(c, k))
    conn_close(c);
}

/* "data: LINE\n" for each line of msg, then "\n". */
static struct chunk *sse_event(const char *msg, size_t len)
{
  size_t lines = 1;
  for (size_t i = 0; i < len; i++)
    if (msg[i] == '\n' || msg[i] == '\r')
      lines++;
  struct chunk *k = chunk_new(len + 7 * lines + 1);
  if (!k)
    return NULL;
  char *o = k->data;
  memcpy(o, "data: ", 6);
  o += 6;
  for (size_t i = 0; i < len; i++) {
    if (msg[i] != '\n' && msg[i] != '\r') {
      *o++ = msg[i];
      continue;
    }
    if (msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n')
      i++; /* CRLF is one line break */
    memcpy(o, "\ndata: ", 7);
    o += 7;
  }
  *o++ = '\n';
  *o++ = '\n';
  k->len = (size_t)(o - k->data);
  return k;
}

/* One unmasked, final text frame (RFC 6455, 5.2). */
static struct chunk *ws_text_frame(const char *msg, size_t len)
{
  unsigned char hd[10];
  size_t hn;
  hd[0] = 0x80 | WSLAY_TEXT_FRAME;
  if (len < 126) {
    hd[1] = (unsigned char)len;
    hn = 2;
  } else if (len <= 0xffff) {
    hd[1] = 126;
    hd[2] = (unsigned char)(len >> 8);
    hd[3] = (unsigned char)len;
    hn = 4;
  } else {
    hd[1] = 127;
    for (int i = 0; i < 8; i++)
      hd[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    hn = 10;
  }
  struct chunk *k = chunk_new(hn + len);
  if (!k)
    return NULL;
  memcpy(k->data, hd, hn);
  if (len)
    memcpy(k->data + hn, msg, len);
  return k;
}

/* Bytes the kernel holds for c that the client has not acknowledged. */
static size_t kernel_backlog(struct conn *c)
{
#ifdef SIOCOUTQ
  uv_os_fd_t fd;
  int n = 0;
  if (uv_fileno((uv_handle_t *)&c->io.tcp, &fd) == 0 &&
      ioctl(fd, SIOCOUTQ, &n) == 0 && n > 0)
    return (size_t)n;
#else
  (void)c;
#endif
  return 0;
}

/* Why c is to be dropped as too slow, or NULL: its backlog has stayed
 * over lag_bytes for lag_ms, or (WebSocket) our ping has had no pong for
 * ping_ms. Sends the ping when one is due. */
static const char *behind(struct conn *c, uint64_t now)
{
  static const unsigned char ping[] = {
      0x80 | WSLAY_PING, sizeof(PING_DATA) - 1, 's', 'p', 'a', 't', 'e'};
  struct httpd *h = c->h;
  uint64_t every = (h->lag_ms < h->ping_ms ? h->lag_ms : h->ping_ms) / 10;
  c->lag_check = now + (every < 10 ? 10 : every > 1000 ? 1000 : every);
  if (c->queued + kernel_backlog(c) <= h->lag_bytes) {
    c->lag_since = 0;
  } else {
    if (!c->lag_since)
      c->lag_since = now + 1;
    if (now + 1 - c->lag_since >= h->lag_ms)
      return "too slow";
  }
  if (!c->sub_ws)
    return NULL;
  if (c->ping_at)
    return now + 1 - c->ping_at >= h->ping_ms ? "too slow: no pong" : NULL;
  if (now >= c->alive_at + h->ping_ms) {
    c->ping_at = now + 1;
    out_copy(c, ping, sizeof ping);
  }
  return NULL;
}

void httpd_broadcast(struct httpd *h, const char *msg, size_t len)
{
  struct chunk *sse = NULL, *ws = NULL;
  struct conn *c, *next;
  uint64_t now = uv_now(h->loop);
  h->broadcasts++;
  if (h->srv.stopping || len > BROADCAST_MAX)
    return;
  if (h->sse_clients)
    sse = sse_event(msg, len);
  if (h->ws_clients)
    ws = ws_text_frame(msg, len);
  for (c = h->subs; c; c = next) {
    struct chunk *k = c->sub_ws ? ws : sse;
    next = c->snext;
    const char *why = now >= c->lag_check ? behind(c, now) : NULL;
    if (c->state == ST_CLOSED)
      continue;
    if (why)
      sub_drop(c, why);
    else if (k)
      sub_send(c, k);
    else
      conn_close(c); /* out of memory: it would miss this message */
  }
  chunk_unref(sse);
  chunk_unref(ws);
}

/* ---- upgrades ---------------------------------------------------------- */

/* After an upgrade: input that came with the request is the stream's. */
static void upgraded(struct conn *c)
{
  uv_timer_stop(&c->io.timer);
  c->req_out = 0;
  c->close_after = 0;
  c->h->requests++;
  if (c->state == ST_CLOSED)
    return;
  if (!c->parsing && c->pending_len) {
    if (c->state == ST_WS)
      ws_input(c, c->pending, c->pending_len);
    c->pending_len = 0;
  }
  if (c->state == ST_CLOSED || c->closing)
    return;
  /* A subscriber reads no more requests: what held the last one goes, so
   * that ten thousand of them cost only their queues. */
  if (!c->parsing) {
    buf_free(&c->url);
    buf_free(&c->target);
    buf_free(&c->hdrs);
    buf_free(&c->body);
    free(c->pending);
    c->pending = NULL;
    c->pending_len = c->pending_cap = 0;
  }
  if (c->io.eof)
    sub_end(c);
  else if (!c->io.reading && tcpserver_conn_read_start(&c->io))
    conn_close(c);
}

int httpd_upgrade_sse(struct httpd_req *r)
{
  struct conn *c = r->c;
  struct httpd *h = c->h;
  struct chunk *k;
  if (req_gone(c))
    return -1;
  if (c->method != HTTP_GET) {
    answer(c, 405, "Allow: GET\r\n");
    return -1;
  }
  if (h->srv.stopping) {
    answer(c, 503, NULL);
    return -1;
  }
  /* The stream ends with the connection: no length, no chunking. */
  c->close_after = 1;
  if (head_build(c, 200, "X-Accel-Buffering: no\r\n", "text/event-stream",
                 -1) ||
      !(k = chunk_of(h->head.data, h->head.len))) {
    c->req_out = 0;
    conn_close(c);
    return -1;
  }
  c->state = ST_SSE;
  subscribe(c, 0);
  if (out_push(c, k))
    conn_close(c);
  chunk_unref(k);
  upgraded(c);
  return 0;
}

static ssize_t ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                       int flags, void *user)
{
  struct conn *c = user;
  (void)flags;
  if (!c->ws_in_len) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  if (len > c->ws_in_len)
    len = c->ws_in_len;
  memcpy(buf, c->ws_in, len);
  c->ws_in += len;
  c->ws_in_len -= len;
  return (ssize_t)len;
}

static ssize_t ws_send(wslay_event_context_ptr ctx, const uint8_t *data,
                       size_t len, int flags, void *user)
{
  struct conn *c = user;
  (void)flags;
  if (buf_append(&c->ws_out, data, len)) {
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
  return (ssize_t)len;
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = ws_recv,
    .send_callback = ws_send,
};

/* A pong's payload is in: if it is our ping's, the client has read
 * everything sent before the ping. */
static void pong_read(struct conn *c)
{
  const unsigned char *mask = c->ws_hdr + 2; /* a 5-byte payload: no ext */
  int ours = 1;
  c->ws_pong = 0;
  for (size_t i = 0; i < sizeof(PING_DATA) - 1; i++)
    ours &= (c->ws_pong_got[i] ^ mask[i % 4]) == (unsigned char)PING_DATA[i];
  if (ours && c->ping_at) {
    c->ping_at = 0;
    c->alive_at = uv_now(c->h->loop);
  }
}

/* Follows the frame boundaries in the client's bytes (RFC 6455, 5.2): only
 * the lengths, wslay does the parsing proper. Returns 1 when the bytes end
 * between messages. */
static int ws_track(struct conn *c, const unsigned char *p, size_t len)
{
  while (len) {
    if (c->ws_left) {
      size_t n = c->ws_left < len ? (size_t)c->ws_left : len;
      if (c->ws_pong) { /* at most sizeof PING_DATA - 1 bytes */
        size_t at = sizeof(PING_DATA) - 1 - (size_t)c->ws_left;
        memcpy(c->ws_pong_got + at, p, n);
        if (n == c->ws_left)
          pong_read(c);
      }
      c->ws_left -= n;
      p += n;
      len -= n;
      continue;
    }
    c->ws_hdr[c->ws_hlen++] = *p++;
    len--;
    if (c->ws_hlen < 2)
      continue;
    unsigned len7 = c->ws_hdr[1] & 0x7f;
    unsigned ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    unsigned need = 2 + ext + (c->ws_hdr[1] & 0x80 ? 4 : 0);
    if (c->ws_hlen < need)
      continue;
    uint64_t n = len7;
    if (ext) {
      n = 0;
      for (unsigned i = 0; i < ext; i++)
        n = n << 8 | c->ws_hdr[2 + i];
    }
    if ((c->ws_hdr[0] & 0x0f) < 8) /* a data frame, not a control one */
      c->ws_frag = !(c->ws_hdr[0] & 0x80);
    else if ((c->ws_hdr[0] & 0x0f) == WSLAY_PONG && c->ping_at &&
             (c->ws_hdr[1] & 0x80) && n == sizeof(PING_DATA) - 1)
      c->ws_pong = 1; /* ours if its payload is PING_DATA */
    c->ws_left = n;
    c->ws_hlen = 0;
  }
  return !c->ws_hlen && !c->ws_left && !c->ws_frag;
}

/* Feeds client bytes to wslay, then sends what it has to say. A context
 * lives only while the client is within a message or wslay has something
 * to send. */
static void ws_input(struct conn *c, const char *data, size_t len)
{
  int between;
  if (c->ws_closed)
    return; /* after our close, only the peer's FIN matters */
  if (!c->ws) {
    if (wslay_event_context_server_init(&c->ws, &ws_callbacks, c)) {
      c->ws = NULL;
      conn_close(c);
      return;
    }
    c->h->ws_contexts++;
    /* Data frames are ignored: never gather them into messages. */
    wslay_event_config_set_no_buffering(c->ws, 1);
  }
  between = ws_track(c, (const unsigned char *)data, len);
  c->ws_in = data;
  c->ws_in_len = len;
  if (wslay_event_get_read_enabled(c->ws) && wslay_event_recv(c->ws)) {
    c->ws_in_len = 0;
    conn_close(c);
    return;
  }
  c->ws_in_len = 0; /* after a close frame, the rest is ignored */
  ws_flush(c);
  if (c->state != ST_WS || c->closing)
    return;
  if (between && wslay_event_get_read_enabled(c->ws) &&
      !wslay_event_get_close_sent(c->ws) && !wslay_event_want_write(c->ws)) {
    wslay_event_context_free(c->ws);
    c->ws = NULL;
    c->h->ws_contexts--;
  }
  if (c->io.reading && c->queued > c->h->queue_max)
    tcpserver_conn_read_stop(&c->io); /* pongs pile up: read later */
}

/* A Sec-WebSocket-Key: base64 of 16 bytes. */
static int ws_key_ok(const char *key)
{
  unsigned char raw[24];
  if (!key || strlen(key) != 24 || strcmp(key + 22, "==") ||
      strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                  "0123456789+/") != 22)
    return 0;
  return EVP_DecodeBlock(raw, (const unsigned char *)key, 24) == 18;
}

/* The Origin of a page served by us, as the client addressed us: http://,
 * or https:// when a proxy in front speaks TLS for us. */
static int origin_ok(const char *origin, const char *host)
{
  size_t scheme = !strncasecmp(origin, "http://", 7)    ? 7
                  : !strncasecmp(origin, "https://", 8) ? 8
                                                        : 0;
  return host && scheme && !strcasecmp(origin + scheme, host);
}

/* Without a token the server is on loopback, and the Host a request names
 * must be a loopback name for our port: a page whose name an attacker
 * rebinds to 127.0.0.1 (DNS rebinding) names its own host, and is
 * refused. localhost, 127.0.0.0/8, [::1] and the address we bound. */
static int host_allowed(const struct httpd *h, const char *host)
{
  char name[256];
  const char *port = NULL;
  size_t n;
  if (host[0] == '[') {
    const char *e = strchr(host, ']');
    if (!e || (e[1] && e[1] != ':'))
      return 0;
    n = (size_t)(e - host - 1);
    if (n >= sizeof name)
      return 0;
    memcpy(name, host + 1, n);
    port = e[1] ? e + 2 : NULL;
  } else {
    const char *colon = strchr(host, ':');
    n = colon ? (size_t)(colon - host) : strlen(host);
    if (n >= sizeof name)
      return 0;
    memcpy(name, host, n);
    port = colon ? colon + 1 : NULL;
  }
  name[n] = '\0';
  if (port) {
    char *end;
    errno = 0;
    long p = strtol(port, &end, 10);
    if (!*port || *end || errno || p != h->port || port[0] == '+' ||
        port[0] == '-')
      return 0;
  }
  struct in_addr a4;
  struct in6_addr a6;
  if (!strcasecmp(name, "localhost") || !strcasecmp(name, h->bind_host))
    return 1;
  if (inet_pton(AF_INET, name, &a4) == 1)
    return (ntohl(a4.s_addr) >> 24) == 127;
  return inet_pton(AF_INET6, name, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/* A request that changes something (any method but GET and HEAD) from a
 * browser must come from one of our own pages: a page elsewhere can send
 * a POST without asking first (a form, fetch with no-cors), and the
 * browser says where it came from in Origin and Sec-Fetch-Site. Clients
 * that are not browsers send neither. */
static int same_origin_write(const struct conn *c, const char *host)
{
  if (c->method == HTTP_GET || c->method == HTTP_HEAD)
    return 1;
  const char *origin = header(c, "origin");
  const char *site = header(c, "sec-fetch-site");
  if (origin && !origin_ok(origin, host))
    return 0;
  return !site || !strcmp(site, "same-origin") || !strcmp(site, "none");
}

int httpd_upgrade_ws(struct httpd_req *r)
{
  struct conn *c = r->c;
  struct httpd *h = c->h;
  const char *up, *key, *origin;
  char extra[256], buf[sizeof WS_GUID + 24];
  unsigned char md[EVP_MAX_MD_SIZE], acc[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  unsigned mdlen = 0;
  struct chunk *k;
  if (req_gone(c))
    return -1;
  up = header(c, "upgrade");
  key = header(c, "sec-websocket-key");
  origin = header(c, "origin");
  if (h->srv.stopping) {
    answer(c, 503, NULL);
    return -1;
  }
  if (c->method != HTTP_GET) {
    refuse(c, 400, NULL);
    return -1;
  }
  if (!up || !list_has(up, "websocket")) {
    refuse(c, 426, "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
    return -1;
  }
  if (!list_has(header(c, "connection"), "upgrade") || !ws_key_ok(key)) {
    refuse(c, 400, NULL);
    return -1;
  }
  up = header(c, "sec-websocket-version");
  if (!up || strcmp(up, "13")) {
    refuse(c, 426, "Sec-WebSocket-Version: 13\r\n");
    return -1;
  }
  if (origin && !origin_ok(origin, header(c, "host"))) {
    refuse(c, 403, NULL);
    return -1;
  }
  snprintf(buf, sizeof buf, "%s%s", key, WS_GUID);
  if (!EVP_Digest(buf, strlen(buf), md, &mdlen, EVP_sha1(), NULL)) {
    answer(c, 500, NULL);
    return -1;
  }
  EVP_EncodeBlock(acc, md, (int)mdlen);
  snprintf(extra, sizeof extra,
           "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
           (const char *)acc);
  if (!(k = chunk_of(extra, strlen(extra)))) {
    c->req_out = 0;
    conn_close(c);
    return -1;
  }
  c->state = ST_WS;
  subscribe(c, 1);
  if (out_push(c, k))
    conn_close(c);
  chunk_unref(k);
  upgraded(c);
  return 0;
}

/* ---- parsing ----------------------------------------------------------- */

static struct conn *conn_of(http_parser *p)
{
  return p->data;
}

static int on_message_begin(http_parser *p)
{
  struct conn *c = conn_of(p);
  /* Give back what one large request grew; keep the usual sizes. */
  if (c->body.cap > 4096)
    buf_free(&c->body);
  if (c->hdrs.cap > 4096)
    buf_free(&c->hdrs);
  buf_reset(&c->url);
  buf_reset(&c->hdrs);
  buf_reset(&c->body);
  c->hstate = 0;
  c->head_bytes = 16; /* the method, the version, the line ends */
  c->err_status = 0;
  return 0;
}

static int head_add(struct conn *c, size_t n)
{
  c->head_bytes += n;
  if (c->head_bytes > c->h->max_header) {
    c->err_status = 431;
    return -1;
  }
  return 0;
}

static int keep(struct conn *c, struct buf *b, const char *at, size_t n)
{
  if (buf_append(b, at, n)) {
    c->oom = 1;
    return -1;
  }
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
  struct conn *c = conn_of(p);
  if (head_add(c, n))
    return -1;
  return keep(c, &c->url, at, n);
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
  struct conn *c = conn_of(p);
  /* "Content-Length : 5": http_parser reads it as the length, a proxy in
   * front may not; RFC 9112, 5.1 says 400. */
  if (memchr(at, ' ', n) || memchr(at, '\t', n)) {
    c->err_status = 400;
    return -1;
  }
  if (c->hstate != 1) { /* a new header: 4 for ": " and CRLF */
    if (head_add(c, 4) || (c->hstate == 2 && keep(c, &c->hdrs, "", 1)))
      return -1;
    c->hstate = 1;
  }
  if (head_add(c, n))
    return -1;
  return keep(c, &c->hdrs, at, n);
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
  struct conn *c = conn_of(p);
  if (c->hstate != 2) {
    if (keep(c, &c->hdrs, "", 1))
      return -1;
    c->hstate = 2;
  }
  if (head_add(c, n))
    return -1;
  return keep(c, &c->hdrs, at, n);
}

static int on_headers_complete(http_parser *p)
{
  struct conn *c = conn_of(p);
  const char *expect;
  /* End the last value; a name without one gets an empty value. */
  if (c->hstate == 1 && keep(c, &c->hdrs, "", 1))
    return -1;
  if (c->hstate && keep(c, &c->hdrs, "", 1))
    return -1;
  c->hstate = 0;
  int chunked = (p->flags & F_CHUNKED) != 0;
  int has_len = p->content_length != ULLONG_MAX && p->content_length > 0;
  if (has_len && p->content_length > c->h->max_body) {
    c->err_status = 413;
    return -1;
  }
  expect = header(c, "expect");
  /* Not to a client the token check will refuse: it would be invited to
   * send a body only to get a 401. */
  if ((chunked || has_len) && expect && !strcasecmp(expect, "100-continue") &&
      p->http_major == 1 && p->http_minor >= 1 &&
      (!c->h->token || authorized(c))) {
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    out_copy(c, cont, sizeof cont - 1);
  }
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
  struct conn *c = conn_of(p);
  if (c->body.len + n > c->h->max_body) {
    c->err_status = 413;
    return -1;
  }
  return keep(c, &c->body, at, n);
}

static int on_message_complete(http_parser *p)
{
  struct conn *c = conn_of(p);
  c->method = p->method;
  c->keep_alive = http_should_keep_alive(p);
  c->upgrade = p->upgrade;
  c->http_minor = p->http_minor;
  /* One request at a time: it is answered before anything after it is
   * parsed, and its strings stay put until then. */
  http_parser_pause(p, 1);
  return 0;
}

/* ---- serving ----------------------------------------------------------- */

static int req_gone(struct conn *c)
{
  if (c->state != ST_CLOSED)
    return 0;
  c->req_out = 0;
  if (!c->io.handles)
    conn_free(c); /* its handles closed while the handler had it */
  return 1;
}

static void request_ready(struct conn *c)
{
  struct httpd *h = c->h;
  const char *path;
  uv_timer_stop(&c->io.timer);
  c->state = ST_BUSY;
  c->head_only = c->method == HTTP_HEAD;
  /* Bytes after an upgrade request are another protocol: unless the
   * handler upgrades, the connection ends after the answer. */
  c->close_after = !c->keep_alive || c->upgrade || h->srv.stopping;
  if (split_target(c)) {
    conn_close(c);
    return;
  }
  path = c->target.data;
  const char *host = header(c, "host");
  if (!host && c->http_minor >= 1) { /* RFC 9112, 3.2 */
    refuse(c, 400, NULL);
    return;
  }
  if (!h->token && host && !host_allowed(h, host)) {
    h->refused_host++;
    refuse(c, 403, NULL);
    return;
  }
  if (!same_origin_write(c, host)) {
    h->refused_origin++;
    refuse(c, 403, NULL);
    return;
  }
  if (!strcmp(path, "/login")) {
    serve_login(c);
    return;
  }
  if (h->token && !authorized(c)) {
    h->unauthorized++;
    answer(c, 401, "WWW-Authenticate: Bearer\r\n");
    return;
  }
  if (!strncmp(path, "/static/", 8)) {
    serve_static(c, path + 8);
    return;
  }
  c->req_out = 1;
  h->handle(h->arg, &c->req);
}

/* A request the parser refused, or one over a limit. */
static void refuse_parse(struct conn *c, enum http_errno e)
{
  if (c->oom) {
    conn_close(c);
    return;
  }
  uv_timer_stop(&c->io.timer);
  c->state = ST_BUSY;
  c->close_after = 1;
  c->head_only = 0;
  c->http_minor = 1;
  refuse(c,
         c->err_status              ? c->err_status
         : e == HPE_HEADER_OVERFLOW ? 431
                                    : 400,
         NULL);
}

static int pending_append(struct conn *c, const char *p, size_t n)
{
  if (c->pending_len + n > c->pending_cap) {
    size_t cap = c->pending_cap ? c->pending_cap : 4096;
    while (cap < c->pending_len + n)
      cap *= 2;
    char *q = realloc(c->pending, cap);
    if (!q)
      return -ENOMEM;
    c->pending = q;
    c->pending_cap = cap;
  }
  memcpy(c->pending + c->pending_len, p, n);
  c->pending_len += n;
  return 0;
}

/* Parses data (which may be c->pending) until a request is complete and
 * hands it over; what follows it stays in c->pending, or goes to wslay
 * when the request became a WebSocket. */
static void process_input(struct conn *c, const char *data, size_t len)
{
  int from_pending = data == c->pending;
  c->parsing = 1;
  while (len && c->state == ST_READ) {
    size_t n = http_parser_execute(&c->parser, &c->h->settings, data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (n > len)
      n = len;
    data += n;
    len -= n;
    if (e == HPE_PAUSED) {
      http_parser_pause(&c->parser, 0);
      request_ready(c);
    } else if (e != HPE_OK || len) {
      refuse_parse(c, e);
      len = 0;
    }
  }
  c->parsing = 0;
  if (c->state == ST_WS && len)
    ws_input(c, data, len);
  if (c->state != ST_BUSY)
    len = 0; /* a stream or a closed connection parses nothing more */
  if (from_pending) {
    if (len && data != c->pending)
      memmove(c->pending, data, len);
    c->pending_len = len;
  } else if (len && pending_append(c, data, len)) {
    conn_close(c);
    return;
  }
  if (!c->pending_len && c->pending_cap > PENDING_CAP) {
    free(c->pending);
    c->pending = NULL;
    c->pending_cap = 0;
  }
}

/* The response is out: the next request, or the end. */
static void response_done(struct conn *c)
{
  if (c->close_after) {
    conn_shutdown(c);
    return;
  }
  c->state = ST_READ;
  uv_timer_start(&c->io.timer, on_timer, IDLE_MS, 0);
  if (c->pending_len)
    process_input(c, c->pending, c->pending_len);
  if (c->state != ST_READ)
    return;
  if (c->io.eof)
    conn_close(c);
  else if (!c->io.reading && tcpserver_conn_read_start(&c->io))
    conn_close(c);
}

static void out_drained(struct conn *c)
{
  if (c->qcap > 64) { /* give back what a burst grew */
    free(c->q);
    c->q = NULL;
    c->qcap = 0;
    c->qhead = 0;
  }
  switch (c->state) {
  case ST_BUSY:
    if (!c->req_out)
      response_done(c);
    break;
  case ST_SSE:
  case ST_WS:
    if (c->closing)
      conn_shutdown(c);
    break;
  default:
    break;
  }
}

/* ---- connections ------------------------------------------------------- */

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
  struct conn *c = s->data;
  size_t n = (size_t)nread;
  if (c->state == ST_CLOSED || nread == 0)
    return;
  if (nread < 0) {
    if (nread == UV_EOF && c->state == ST_BUSY) {
      /* Half-closed: the answer still goes out, then the end. */
      c->io.eof = 1;
      tcpserver_conn_read_stop(&c->io);
      return;
    }
    conn_close(c);
    return;
  }
  switch (c->state) {
  case ST_READ:
    if (!c->pending_len)
      process_input(c, b->base, n);
    else if (pending_append(c, b->base, n))
      conn_close(c);
    else
      process_input(c, c->pending, c->pending_len);
    break;
  case ST_BUSY:
    if (c->rejected)
      break;
    if (pending_append(c, b->base, n)) {
      conn_close(c);
    } else if (c->pending_len >= PENDING_CAP) {
      /* bounded: read on once this one is answered */
      tcpserver_conn_read_stop(&c->io);
    }
    break;
  case ST_WS:
    if (!c->closing)
      ws_input(c, b->base, n);
    break;
  default: /* SSE, LINGER: discarded */
    break;
  }
}

static void stop_check(struct httpd *h);

static void conn_free(struct conn *c)
{
  struct httpd *h = c->h;
  if (c->prev)
    c->prev->next = c->next;
  else
    h->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  out_release(c, c->qlen);
  free(c->q);
  free(c->pending);
  buf_free(&c->url);
  buf_free(&c->target);
  buf_free(&c->hdrs);
  buf_free(&c->body);
  buf_free(&c->ws_out);
  if (c->ws) {
    wslay_event_context_free(c->ws);
    h->ws_contexts--;
  }
  free(c);
}

static void on_conn_closed(struct tcpserver_conn *t)
{
  struct conn *c = t->tcp.data;
  struct httpd *h = c->h;
  h->nlive--;
  if (!c->req_out)
    conn_free(c);
  stop_check(h);
}

static void conn_close(struct conn *c)
{
  struct httpd *h = c->h;
  if (c->state == ST_CLOSED)
    return;
  unsubscribe(c);
  if (c->admitted)
    h->nconns--;
  if (c->rejected)
    h->rejecting--;
  c->admitted = 0;
  c->rejected = 0;
  c->state = ST_CLOSED;
  tcpserver_conn_close(&c->io);
}

static void on_conn_end(struct tcpserver_conn *t)
{
  conn_close(t->tcp.data);
}

static void conn_shutdown(struct conn *c)
{
  if (c->state == ST_CLOSED || c->state == ST_LINGER)
    return;
  unsubscribe(c);
  c->state = ST_LINGER; /* input is discarded until the peer's FIN */
  tcpserver_conn_shutdown(&c->io);
}

/* Over max_clients: 503 and a close. */
static void reject(struct conn *c)
{
  struct httpd *h = c->h;
  if (h->rejecting >= REJECT_MAX) {
    conn_close(c);
    return;
  }
  c->rejected = 1;
  h->rejecting++;
  c->state = ST_BUSY;
  c->close_after = 1;
  c->http_minor = 1;
  uv_timer_start(&c->io.timer, on_timer, TCPSERVER_LINGER_MS, 0);
  refuse(c, 503, "Retry-After: 1\r\n");
  if (c->state == ST_BUSY && tcpserver_conn_read_start(&c->io))
    conn_close(c);
}

static int on_accept(struct tcpserver *s)
{
  struct httpd *h = s->data;
  struct conn *c = calloc(1, sizeof *c);
  if (!c)
    return -1;
  c->h = h;
  c->req.c = c;
  h->nlive++;
  c->next = h->conns;
  if (h->conns)
    h->conns->prev = c;
  h->conns = c;
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  c->state = ST_READ;
  if (tcpserver_conn_accept(s, &c->io, c)) {
    conn_close(c);
    return 0;
  }
  if (h->nconns >= h->max_clients) {
    reject(c);
    return 0;
  }
  c->admitted = 1;
  h->nconns++;
  uv_tcp_nodelay(&c->io.tcp, 1);
  uv_timer_start(&c->io.timer, on_timer, IDLE_MS, 0);
  if (tcpserver_conn_read_start(&c->io))
    conn_close(c);
  return 0;
}

/* ---- the server -------------------------------------------------------- */

static void httpd_free(struct httpd *h)
{
  while (h->conns) /* requests the handler never answered */
    conn_free(h->conns);
  buf_free(&h->head);
  free(h->token);
  free(h->static_root);
  free(h);
}

static void on_free(struct tcpserver *s)
{
  httpd_free(s->data);
}

static const struct tcpserver_calls tcp_calls = {
    .accept = on_accept,
    .read = on_read,
    .end = on_conn_end,
    .closed = on_conn_closed,
    .free = on_free,
};

/* Every connection is gone: no need to wait for the deadline. */
static void stop_check(struct httpd *h)
{
  if (h->srv.stopping && h->stop_timer_on && !h->nlive) {
    h->stop_timer_on = 0;
    tcpserver_close_handle(&h->srv, (uv_handle_t *)&h->stop_timer);
  }
}

static void on_stop_deadline(uv_timer_t *t)
{
  struct httpd *h = t->data;
  for (struct conn *c = h->conns; c; c = c->next)
    conn_close(c);
  stop_check(h);
}

int httpd_port(const struct httpd *h)
{
  return h->port;
}

void httpd_stop(struct httpd *h, void (*done)(void *arg), void *arg)
{
  if (h->srv.stopping)
    return;
  tcpserver_close(&h->srv, done, arg);
  uv_timer_init(h->loop, &h->stop_timer);
  h->stop_timer.data = h;
  tcpserver_ref(&h->srv);
  h->stop_timer_on = 1;
  uv_timer_start(&h->stop_timer, on_stop_deadline, STOP_GRACE_MS, 0);
  /* Nothing here frees a connection: the list stays intact. */
  for (struct conn *c = h->conns; c; c = c->next) {
    switch (c->state) {
    case ST_READ:
      conn_close(c);
      break;
    case ST_BUSY:
      c->close_after = 1;
      break;
    case ST_SSE:
      if (!c->closing)
        sse_end(c, "going away");
      break;
    case ST_WS:
      if (!c->closing)
        ws_end(c, WSLAY_CODE_GOING_AWAY, "going away");
      break;
    default:
      break;
    }
  }
  stop_check(h);
}

void httpd_get_stats(const struct httpd *h, struct httpd_stats *out)
{
  memset(out, 0, sizeof *out);
  out->requests = h->requests;
  out->refused = h->refused;
  out->unauthorized = h->unauthorized;
  out->connections = h->nconns;
  out->ws_clients = h->ws_clients;
  out->ws_contexts = h->ws_contexts;
  out->sse_clients = h->sse_clients;
  out->broadcasts = h->broadcasts;
  out->dropped_slow = h->dropped_slow;
  out->refused_host = h->refused_host;
  out->refused_origin = h->refused_origin;
}

/* A token goes into a cookie as is: visible ASCII but for what a cookie
 * value cannot hold. */
static int token_valid(const char *t)
{
  size_t n = strlen(t);
  if (n > HTTPD_TOKEN_MAX)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (t[i] <= 0x20 || t[i] >= 0x7f || strchr("\",;\\", t[i]))
      return 0;
  return 1;
}

/* A listening socket on host:port, made before any handle exists so that
 * a failure leaves nothing for the loop to close. */
static int listen_fd(const char *host, int port, int *port_out, char err[256])
{
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  int one = 1, fd, rc;
  memset(&ss, 0, sizeof ss);
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) &&
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss)) {
    snprintf(err, 256, "'%s' is not an IP address", host);
    return -EINVAL;
  }
  fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    rc = -errno;
    snprintf(err, 256, "socket: %s", strerror(errno));
    return rc;
  }
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&ss,
           ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                    : sizeof(struct sockaddr_in)) ||
      listen(fd, BACKLOG) || getsockname(fd, (struct sockaddr *)&ss, &sl)) {
    rc = -errno;
    snprintf(err, 256, "cannot listen on %s port %d: %s", host, port,
             strerror(errno));
    close(fd);
    return rc;
  }
  *port_out = tcpserver_port_of(&ss);
  return fd;
}

int httpd_start(struct httpd **out, uv_loop_t *loop,
                const struct httpd_options *o, char err[256])
{
  const char *host = o->host ? o->host : "127.0.0.1";
  struct httpd *h;
  struct stat st;
  int fd, rc;
  err[0] = '\0';
  *out = NULL;
  if (!o->handle || o->port < 0 || o->port > 65535 || o->max_clients < 0) {
    snprintf(err, 256, "bad options (handler, port 0-65535, max_clients)");
    return -EINVAL;
  }
  if (o->token && *o->token && !token_valid(o->token)) {
    snprintf(err, 256,
             "the token must be at most %d visible ASCII characters "
             "without quotes, commas, semicolons or backslashes",
             HTTPD_TOKEN_MAX);
    return -EINVAL;
  }
  h = calloc(1, sizeof *h);
  if (!h) {
    snprintf(err, 256, "out of memory");
    return -ENOMEM;
  }
  h->loop = loop;
  h->handle = o->handle;
  h->arg = o->arg;
  h->max_header = o->max_header_bytes ? o->max_header_bytes : DEF_HEADER_BYTES;
  h->max_body = o->max_body ? o->max_body : DEF_BODY;
  h->queue_max = o->client_queue_max ? o->client_queue_max : DEF_QUEUE;
  h->lag_bytes = o->client_lag_bytes ? o->client_lag_bytes : DEF_LAG_BYTES;
  h->lag_ms = o->client_lag_ms ? o->client_lag_ms : DEF_LAG_MS;
  h->ping_ms = o->ws_ping_ms ? o->ws_ping_ms : DEF_PING_MS;
  h->max_clients = o->max_clients ? o->max_clients : DEF_CLIENTS;
  h->write_stall_ms =
      o->write_stall_ms ? o->write_stall_ms : DEF_WRITE_STALL_MS;
  /* Connections are accepted before any token check: they may not take
   * the descriptors the job needs (its sockets, its files). */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    long room = (long)rl.rlim_cur - (long)o->reserve_fds - FD_RESERVE_MIN;
    if (room < 1)
      room = 1;
    if (h->max_clients > room)
      h->max_clients = (int)room;
  }
  snprintf(h->bind_host, sizeof h->bind_host, "%s", host);
  for (char *q = h->bind_host; *q; q++)
    *q = (char)tolower((unsigned char)*q);
  if (o->token && *o->token) {
    h->token = strdup(o->token);
    if (!h->token || !EVP_Digest(h->token, strlen(h->token), h->token_md,
                                 &h->token_md_len, EVP_sha256(), NULL)) {
      snprintf(err, 256, "out of memory");
      httpd_free(h);
      return -ENOMEM;
    }
  }
  if (o->static_dir) {
    h->static_root = realpath(o->static_dir, NULL);
    if (!h->static_root || stat(h->static_root, &st) || !S_ISDIR(st.st_mode)) {
      rc = h->static_root ? -ENOTDIR : -errno;
      snprintf(err, 256, "static directory '%s': %s", o->static_dir,
               strerror(-rc));
      httpd_free(h);
      return rc;
    }
    h->static_root_len = strlen(h->static_root);
  }
  h->settings.on_message_begin = on_message_begin;
  h->settings.on_url = on_url;
  h->settings.on_header_field = on_header_field;
  h->settings.on_header_value = on_header_value;
  h->settings.on_headers_complete = on_headers_complete;
  h->settings.on_body = on_body;
  h->settings.on_message_complete = on_message_complete;

  fd = listen_fd(host, o->port, &h->port, err);
  if (fd < 0) {
    httpd_free(h);
    return fd;
  }
  tcpserver_init(&h->srv, loop, &tcp_calls, h);
  rc = uv_tcp_open(&h->srv.listener, fd);
  if (rc)
    close(fd);
  else
    rc = tcpserver_listen(&h->srv, BACKLOG);
  if (rc) {
    /* The handle exists: it frees h from its close callback, so the
     * caller runs the loop once more, as after any uv_close. */
    snprintf(err, 256, "cannot listen on %s port %d: %s", host, o->port,
             uv_strerror(rc));
    tcpserver_close(&h->srv, NULL, NULL);
    return rc;
  }
  *out = h;
  return 0;
}
