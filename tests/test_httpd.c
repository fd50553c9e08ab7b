/* Tests for httpd: servers on a uv loop in a thread of their own, talked
 * to with plain blocking sockets from the test thread. Anything that must
 * run on the loop (broadcasts, stats, stop) goes through run_on_loop(). */
#include "check.h"
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BIG (100 * 1000)
#define TOKEN "t0ken-Secret_42"
#define SLOW_MSG 40000        /* bytes per message in the slow test */
#define SLOW_BATCH 3          /* messages per broadcast round */
#define SLOW_TOTAL (50 << 20) /* bytes broadcast in the slow test */
#define LAG_BYTES (16 * 1024) /* the small server's lag rule */
#define LAG_MS 300
#define PING_MS 500
#define STALL_MS 300 /* the small server's write stall limit */

struct env;
typedef void (*loop_fn)(struct env *e, void *arg);

struct env {
  uv_loop_t loop;
  uv_async_t async;
  uv_timer_t later_timer;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  loop_fn call;
  void *call_arg;
  int call_done;

  struct httpd *main, *tok, *small; /* the servers */
  int port, tok_port, small_port;
  struct httpd_req *later; /* /later, answered from a timer */
  int held;                /* /hold requests, never answered */
  atomic_int stopped;      /* done callbacks run */
  char *big;
  char root[64];
  char static_dir[96];
};

static void sleep_ms(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

/* ---- the loop thread --------------------------------------------------- */

static void on_async(uv_async_t *a)
{
  struct env *e = a->data;
  pthread_mutex_lock(&e->mu);
  loop_fn fn = e->call;
  void *arg = e->call_arg;
  e->call = NULL;
  pthread_mutex_unlock(&e->mu);
  if (!fn)
    return;
  fn(e, arg);
  pthread_mutex_lock(&e->mu);
  e->call_done = 1;
  pthread_cond_broadcast(&e->cv);
  pthread_mutex_unlock(&e->mu);
}

/* Runs fn(e, arg) on the loop thread and waits for it. */
static void run_on_loop(struct env *e, loop_fn fn, void *arg)
{
  pthread_mutex_lock(&e->mu);
  e->call = fn;
  e->call_arg = arg;
  e->call_done = 0;
  pthread_mutex_unlock(&e->mu);
  uv_async_send(&e->async);
  pthread_mutex_lock(&e->mu);
  while (!e->call_done)
    pthread_cond_wait(&e->cv, &e->mu);
  pthread_mutex_unlock(&e->mu);
}

static void *loop_main(void *arg)
{
  struct env *e = arg;
  uv_run(&e->loop, UV_RUN_DEFAULT);
  return NULL;
}

static void on_later(uv_timer_t *t)
{
  struct env *e = t->data;
  if (e->later)
    httpd_respond(e->later, 200, "text/plain", "later\n", 6);
  e->later = NULL;
}

static void handle(void *arg, struct httpd_req *r)
{
  struct env *e = arg;
  const char *path = httpd_req_path(r), *m = httpd_req_method(r);
  if (!strcmp(path, "/hello")) {
    if (strcmp(m, "GET") && strcmp(m, "HEAD"))
      httpd_respond(r, 405, "text/plain", "no\n", 3);
    else
      httpd_respond(r, 200, "text/plain", "hello\n", 6);
  } else if (!strcmp(path, "/sse")) {
    httpd_upgrade_sse(r);
  } else if (!strcmp(path, "/ws")) {
    httpd_upgrade_ws(r);
  } else if (!strcmp(path, "/big")) {
    httpd_respond(r, 200, "application/octet-stream", e->big, BIG);
  } else if (!strcmp(path, "/echo")) {
    char out[512];
    size_t blen;
    const char *body = httpd_req_body(r, &blen),
               *x = httpd_req_header(r, "x-TEST");
    int n = snprintf(out, sizeof out, "%s %s ?%s |%s| %.*s", m, path,
                     httpd_req_query(r), x ? x : "(none)", (int)blen, body);
    httpd_respond(r, 200, "text/plain", out, (size_t)n);
  } else if (!strcmp(path, "/hold")) {
    e->held++; /* httpd_stop must end it */
  } else if (!strcmp(path, "/later")) {
    e->later = r;
    uv_timer_start(&e->later_timer, on_later, 50, 0);
  } else {
    httpd_respond(r, 404, "text/plain", "nope\n", 5);
  }
}

static void on_stopped(void *arg)
{
  struct env *e = arg;
  atomic_fetch_add(&e->stopped, 1);
}

static void start_servers(struct env *e, void *arg)
{
  struct httpd_options o;
  char err[256];
  (void)arg;
  uv_timer_init(&e->loop, &e->later_timer);
  e->later_timer.data = e;

  memset(&o, 0, sizeof o);
  o.port = 0;
  o.static_dir = e->static_dir;
  o.handle = handle;
  o.arg = e;
  CHECK(httpd_start(&e->main, &e->loop, &o, err) == 0);
  e->port = httpd_port(e->main);

  o.static_dir = NULL;
  o.token = TOKEN;
  CHECK(httpd_start(&e->tok, &e->loop, &o, err) == 0);
  e->tok_port = httpd_port(e->tok);

  o.token = NULL;
  o.max_clients = 2;
  o.client_lag_bytes = LAG_BYTES;
  o.client_lag_ms = LAG_MS;
  o.ws_ping_ms = PING_MS;
  o.write_stall_ms = STALL_MS;
  CHECK(httpd_start(&e->small, &e->loop, &o, err) == 0);
  o.client_lag_bytes = 0;
  o.client_lag_ms = 0;
  o.ws_ping_ms = 0;
  o.write_stall_ms = 0;
  e->small_port = httpd_port(e->small);

  /* Failures: a port in use, a bad address, a missing static dir. */
  struct httpd *x = NULL;
  o.max_clients = 0;
  o.port = e->port;
  CHECK(httpd_start(&x, &e->loop, &o, err) == -EADDRINUSE && !x);
  CHECK(strstr(err, "in use") != NULL);
  o.port = 0;
  o.host = "not-an-address";
  CHECK(httpd_start(&x, &e->loop, &o, err) == -EINVAL && !x);
  o.host = NULL;
  o.static_dir = "/nonexistent/spate";
  CHECK(httpd_start(&x, &e->loop, &o, err) == -ENOENT && !x);
  o.static_dir = NULL;
  o.token = "bad token";
  CHECK(httpd_start(&x, &e->loop, &o, err) == -EINVAL && !x);
}

struct stats_req {
  int which; /* 0 main, 1 token, 2 small */
  struct httpd_stats st;
};

static void get_stats(struct env *e, void *arg)
{
  struct stats_req *q = arg;
  httpd_get_stats(q->which == 1   ? e->tok
                  : q->which == 2 ? e->small
                                  : e->main,
                  &q->st);
}

/* The stats of server which: 0 main, 1 token, 2 small. */
static struct httpd_stats stats(struct env *e, int which)
{
  struct stats_req q;
  memset(&q, 0, sizeof q);
  q.which = which;
  run_on_loop(e, get_stats, &q);
  return q.st;
}

struct bcast {
  int first, n;
  size_t size;      /* 0: a short message */
  const char *text; /* exactly this, once */
  struct httpd_stats st;
  int which; /* 0: main, 2: small */
};

/* {"seq":N,"pad":"xxx"} padded to size bytes (at least the short form). */
static size_t make_msg(char *out, size_t cap, int seq, size_t size)
{
  int n = snprintf(out, cap, "{\"seq\":%d,\"pad\":\"", seq);
  size_t len = (size_t)n;
  for (; len + 2 < size && len + 2 < cap; len++)
    out[len] = (char)('a' + ((size_t)seq + len) % 26);
  memcpy(out + len, "\"}", 3);
  return len + 2;
}

static void do_broadcast(struct env *e, void *arg)
{
  struct bcast *b = arg;
  struct httpd *h = b->which == 2 ? e->small : e->main;
  char *msg = malloc(b->size + 64);
  if (b->text) {
    httpd_broadcast(h, b->text, strlen(b->text));
  } else {
    for (int i = 0; i < b->n; i++) {
      size_t n = make_msg(msg, b->size + 64, b->first + i, b->size);
      httpd_broadcast(h, msg, n);
    }
  }
  free(msg);
  httpd_get_stats(h, &b->st);
}

static void broadcast(struct env *e, int first, int n, size_t size)
{
  struct bcast b = {first, n, size, NULL, {0}, 0};
  run_on_loop(e, do_broadcast, &b);
}

/* ---- a blocking client ------------------------------------------------- */

struct client {
  int fd;
  char *buf;
  size_t len, cap;
};

static int cl_open(struct client *cl, int port)
{
  struct sockaddr_in sa;
  struct timeval tv = {5, 0};
  int one = 1;
  memset(cl, 0, sizeof *cl);
  cl->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (cl->fd < 0)
    return -1;
  setsockopt(cl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(cl->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  setsockopt(cl->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(cl->fd, (struct sockaddr *)&sa, sizeof sa)) {
    close(cl->fd);
    cl->fd = -1;
    return -1;
  }
  return 0;
}

static void cl_close(struct client *cl)
{
  if (cl->fd >= 0)
    close(cl->fd);
  cl->fd = -1;
  free(cl->buf);
  cl->buf = NULL;
  cl->len = cl->cap = 0;
}

static int cl_send(struct client *cl, const void *p, size_t n)
{
  const char *s = p;
  while (n) {
    ssize_t w = send(cl->fd, s, n, MSG_NOSIGNAL);
    if (w <= 0)
      return -1;
    s += w;
    n -= (size_t)w;
  }
  return 0;
}

static int cl_sends(struct client *cl, const char *s)
{
  return cl_send(cl, s, strlen(s));
}

/* Reads more: > 0 bytes, 0 at EOF, -1 on error or timeout. */
static ssize_t cl_fill(struct client *cl)
{
  if (cl->cap - cl->len < 65536) {
    cl->cap = cl->cap ? cl->cap * 2 : 131072;
    cl->buf = realloc(cl->buf, cl->cap + 1);
  }
  ssize_t n = recv(cl->fd, cl->buf + cl->len, cl->cap - cl->len, 0);
  if (n > 0)
    cl->len += (size_t)n;
  return n;
}

static int cl_need(struct client *cl, size_t n)
{
  while (cl->len < n)
    if (cl_fill(cl) <= 0)
      return -1;
  return 0;
}

static void cl_consume(struct client *cl, size_t n)
{
  memmove(cl->buf, cl->buf + n, cl->len - n);
  cl->len -= n;
}

/* 1 when the server has closed (EOF or reset) with nothing more to read. */
static int cl_closed(struct client *cl)
{
  if (cl->len)
    return 0;
  ssize_t n = cl_fill(cl);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

struct resp {
  int status;
  char *head;
  char *body;
  size_t blen;
};

static void resp_free(struct resp *r)
{
  free(r->head);
  free(r->body);
  memset(r, 0, sizeof *r);
}

/* The value of header name in a head, into out; 0 when absent. */
static int hdr(const char *head, const char *name, char *out, size_t cap)
{
  size_t nl = strlen(name);
  for (const char *p = head ? strstr(head, "\r\n") : NULL; p;
       p = strstr(p + 2, "\r\n")) {
    if (!strncasecmp(p + 2, name, nl) && p[2 + nl] == ':') {
      const char *v = p + 3 + nl;
      v += strspn(v, " ");
      size_t n = strcspn(v, "\r");
      if (n >= cap)
        n = cap - 1;
      memcpy(out, v, n);
      out[n] = '\0';
      return 1;
    }
  }
  return 0;
}

/* The next response; no_body: it answers a HEAD. */
static int read_resp(struct client *cl, struct resp *r, int no_body)
{
  char *end;
  char v[64];
  memset(r, 0, sizeof *r);
  while (!cl->buf || !(end = memmem(cl->buf, cl->len, "\r\n\r\n", 4)))
    if (cl_fill(cl) <= 0)
      return -1;
  size_t hl = (size_t)(end - cl->buf) + 4;
  r->head = strndup(cl->buf, hl);
  cl_consume(cl, hl);
  if (strncmp(r->head, "HTTP/1.1 ", 9))
    return -1;
  r->status = atoi(r->head + 9);
  if (!no_body && hdr(r->head, "content-length", v, sizeof v)) {
    r->blen = strtoul(v, NULL, 10);
    if (cl_need(cl, r->blen))
      return -1;
    r->body = malloc(r->blen + 1);
    memcpy(r->body, cl->buf, r->blen);
    r->body[r->blen] = '\0';
    cl_consume(cl, r->blen);
  } else {
    r->body = strdup("");
  }
  return 0;
}

/* One request on a fresh connection; the status, body in r. */
static int request(int port, const char *req, struct resp *r)
{
  struct client cl;
  int rc;
  if (cl_open(&cl, port))
    return -1;
  rc = cl_sends(&cl, req) || read_resp(&cl, r, !strncmp(req, "HEAD ", 5));
  cl_close(&cl);
  return rc ? -1 : r->status;
}

static int get_status(int port, const char *path)
{
  char req[512];
  struct resp r;
  snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
           path);
  int st = request(port, req, &r);
  resp_free(&r);
  return st;
}

/* ---- WebSocket client side --------------------------------------------- */

static int ws_open(struct client *cl, int port, const char *origin,
                   struct resp *r)
{
  char req[512];
  if (cl_open(cl, port))
    return -1;
  snprintf(req, sizeof req,
           "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
           "Connection: keep-alive, Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\n%s%s%s\r\n",
           port, origin ? "Origin: " : "", origin ? origin : "",
           origin ? "\r\n" : "");
  if (cl_sends(cl, req) || read_resp(cl, r, 1))
    return -1;
  return r->status;
}

/* A client frame (masked unless unmasked, final unless !fin), payload under
 * 126 bytes. */
static int ws_frame(struct client *cl, int fin, int op, const char *p,
                    size_t n, int unmasked)
{
  unsigned char f[6 + 125];
  static const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  size_t o = 2;
  f[0] = (unsigned char)((fin ? 0x80 : 0) | op);
  f[1] = (unsigned char)((unmasked ? 0 : 0x80) | n);
  if (!unmasked) {
    memcpy(f + 2, mask, 4);
    o = 6;
  }
  for (size_t i = 0; i < n; i++)
    f[o + i] = (unsigned char)(p[i] ^ (unmasked ? 0 : mask[i % 4]));
  return cl_send(cl, f, o + n);
}

static int ws_write(struct client *cl, int op, const char *p, size_t n,
                    int unmasked)
{
  return ws_frame(cl, 1, op, p, n, unmasked);
}

/* The next server frame: its opcode (-1 on error), payload in *out. */
static int ws_read(struct client *cl, char **out, size_t *len)
{
  unsigned char *b;
  uint64_t n;
  size_t hn = 2;
  *out = NULL;
  if (cl_need(cl, 2))
    return -1;
  b = (unsigned char *)cl->buf;
  if (b[1] & 0x80 || !(b[0] & 0x80))
    return -1; /* servers do not mask; we never fragment */
  n = b[1] & 0x7f;
  if (n == 126) {
    if (cl_need(cl, 4))
      return -1;
    b = (unsigned char *)cl->buf;
    n = (uint64_t)b[2] << 8 | b[3];
    hn = 4;
  } else if (n == 127) {
    if (cl_need(cl, 10))
      return -1;
    b = (unsigned char *)cl->buf;
    n = 0;
    for (int i = 0; i < 8; i++)
      n = n << 8 | b[2 + i];
    hn = 10;
  }
  if (cl_need(cl, hn + n))
    return -1;
  int op = cl->buf[0] & 0x0f;
  *out = malloc(n + 1);
  memcpy(*out, cl->buf + hn, n);
  (*out)[n] = '\0';
  *len = n;
  cl_consume(cl, hn + n);
  return op;
}

static int close_code(const char *p, size_t n)
{
  return n >= 2 ? (unsigned char)p[0] << 8 | (unsigned char)p[1] : -1;
}

/* The next SSE event, without its blank line (malloc'd), or NULL. */
static char *sse_read(struct client *cl)
{
  char *end;
  while (!cl->buf || !(end = memmem(cl->buf, cl->len, "\n\n", 2)))
    if (cl_fill(cl) <= 0)
      return NULL;
  size_t n = (size_t)(end - cl->buf);
  char *ev = strndup(cl->buf, n);
  cl_consume(cl, n + 2);
  return ev;
}

static int seq_of(const char *msg)
{
  int seq = -1;
  if (sscanf(msg, "{\"seq\":%d", &seq) != 1)
    return -1;
  return seq;
}

/* ---- tests ------------------------------------------------------------- */

static void test_keepalive(struct env *e)
{
  struct client cl;
  struct resp r;
  char v[128];
  CHECK(cl_open(&cl, e->port) == 0);
  for (int i = 0; i < 2; i++) {
    CHECK(cl_sends(&cl, "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") ==
          0);
    CHECK(read_resp(&cl, &r, 0) == 0);
    CHECK(r.status == 200);
    CHECK_STR(r.body, "hello\n");
    CHECK(hdr(r.head, "content-type", v, sizeof v) &&
          !strcmp(v, "text/plain"));
    CHECK(hdr(r.head, "cache-control", v, sizeof v) && !strcmp(v, "no-store"));
    CHECK(hdr(r.head, "x-content-type-options", v, sizeof v) &&
          !strcmp(v, "nosniff"));
    CHECK(hdr(r.head, "date", v, sizeof v));
    CHECK(!hdr(r.head, "connection", v, sizeof v));
    resp_free(&r);
  }
  /* Unknown methods reach the handler, which answers 405. */
  CHECK(cl_sends(&cl, "DELETE /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") ==
        0);
  CHECK(read_resp(&cl, &r, 0) == 0 && r.status == 405);
  resp_free(&r);
  /* The request as the handler sees it. */
  CHECK(cl_sends(&cl, "PUT /echo?a=1&b=%41 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "X-Test: yes\r\nContent-Length: 5\r\n\r\nhello") == 0);
  CHECK(read_resp(&cl, &r, 0) == 0 && r.status == 200);
  CHECK_STR(r.body, "PUT /echo ?a=1&b=%41 |yes| hello");
  resp_free(&r);
  /* Chunked body, and Expect: 100-continue. */
  CHECK(cl_sends(&cl, "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n") == 0);
  CHECK(read_resp(&cl, &r, 0) == 0 && r.status == 200);
  CHECK_STR(r.body, "POST /echo ? |(none)| abcde");
  resp_free(&r);
  CHECK(cl_sends(
            &cl,
            "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n"
            "Expect: 100-continue\r\n\r\n") == 0);
  CHECK(read_resp(&cl, &r, 1) == 0 && r.status == 100);
  resp_free(&r);
  CHECK(cl_sends(&cl, "ok") == 0);
  CHECK(read_resp(&cl, &r, 0) == 0 && r.status == 200);
  CHECK_STR(r.body, "POST /echo ? |(none)| ok");
  resp_free(&r);
  /* Absolute-form target. */
  CHECK(cl_sends(&cl,
                 "GET http://x/echo?q HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") ==
        0);
  CHECK(read_resp(&cl, &r, 0) == 0 && r.status == 200);
  CHECK_STR(r.body, "GET /echo ?q |(none)| ");
  resp_free(&r);
  /* Connection: close is honoured. */
  CHECK(cl_sends(&cl, "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Connection: close\r\n\r\n") == 0);
  CHECK(read_resp(&cl, &r, 0) == 0 && r.status == 200);
  CHECK(hdr(r.head, "connection", v, sizeof v) && !strcmp(v, "close"));
  CHECK(cl_closed(&cl));
  resp_free(&r);
  cl_close(&cl);

  /* HTTP/1.0: closed unless it asks for keep-alive. */
  CHECK(cl_open(&cl, e->port) == 0);
  CHECK(cl_sends(&cl, "GET /hello HTTP/1.0\r\n\r\n") == 0);
  CHECK(read_resp(&cl, &r, 0) == 0 && r.status == 200);
  CHECK(hdr(r.head, "connection", v, sizeof v) && !strcmp(v, "close"));
  CHECK(cl_closed(&cl));
  resp_free(&r);
  cl_close(&cl);
  CHECK(cl_open(&cl, e->port) == 0);
  for (int i = 0; i < 2; i++) {
    CHECK(cl_sends(&cl, "GET /hello HTTP/1.0\r\n"
                        "Connection: keep-alive\r\n\r\n") == 0);
    CHECK(read_resp(&cl, &r, 0) == 0 && r.status == 200);
    CHECK(hdr(r.head, "connection", v, sizeof v) &&
          !strcasecmp(v, "keep-alive"));
    resp_free(&r);
  }
  cl_close(&cl);
}

static void test_pipeline_head(struct env *e)
{
  struct client cl;
  struct resp r;
  char v[64];
  CHECK(cl_open(&cl, e->port) == 0);
  /* Four at once; /later answers from a timer, after /hello would. */
  CHECK(cl_sends(&cl, "GET /later HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                      "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                      "GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                      "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Content-Length: 3\r\n\r\nxyz") == 0);
  CHECK(read_resp(&cl, &r, 0) == 0 && r.status == 200);
  CHECK_STR(r.body, "later\n");
  resp_free(&r);
  CHECK(read_resp(&cl, &r, 0) == 0 && r.status == 200);
  CHECK_STR(r.body, "hello\n");
  resp_free(&r);
  CHECK(read_resp(&cl, &r, 0) == 0 && r.status == 200);
  CHECK(r.blen == BIG && !memcmp(r.body, e->big, BIG));
  resp_free(&r);
  CHECK(read_resp(&cl, &r, 0) == 0 && r.status == 200);
  CHECK_STR(r.body, "POST /echo ? |(none)| xyz");
  resp_free(&r);

  /* HEAD: the length, no body; the next response follows at once. */
  CHECK(cl_sends(&cl, "HEAD /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                      "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") == 0);
  CHECK(read_resp(&cl, &r, 1) == 0 && r.status == 200);
  CHECK(hdr(r.head, "content-length", v, sizeof v) && !strcmp(v, "100000"));
  resp_free(&r);
  CHECK(read_resp(&cl, &r, 0) == 0 && r.status == 200);
  CHECK_STR(r.body, "hello\n");
  resp_free(&r);
  cl_close(&cl);
}

/* The client resets while the handler holds its request: the answer
 * goes nowhere, and nothing leaks or breaks. */
static void test_gone(struct env *e)
{
  struct client cl;
  struct linger lg = {1, 0};
  CHECK(cl_open(&cl, e->port) == 0);
  CHECK(cl_sends(&cl, "GET /later HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") == 0);
  sleep_ms(10);
  setsockopt(cl.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  cl_close(&cl); /* RST */
  sleep_ms(150);
  CHECK(get_status(e->port, "/hello") == 200);
}

static void test_limits(struct env *e)
{
  struct client cl;
  struct resp r;
  struct httpd_stats before = stats(e, 0), after;
  size_t n = 20000;
  char *big = malloc(n + 200);

  /* 431: headers over 16 KiB. */
  int k =
      snprintf(big, 200, "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ");
  memset(big + k, 'a', n);
  memcpy(big + k + n, "\r\n\r\n", 5);
  CHECK(cl_open(&cl, e->port) == 0);
  CHECK(cl_sends(&cl, big) == 0);
  CHECK(read_resp(&cl, &r, 0) == 0 && r.status == 431);
  CHECK(cl_closed(&cl));
  resp_free(&r);
  cl_close(&cl);
  /* ... and a long target counts too. */
  memcpy(big, "GET /", 5);
  memset(big + 5, 'a', n);
  memcpy(big + 5 + n, " HTTP/1.1\r\n\r\n", 14);
  CHECK(request(e->port, big, &r) == 431);
  resp_free(&r);

  /* 413: a declared body over 64 KiB, sent anyway. */
  CHECK(cl_open(&cl, e->port) == 0);
  CHECK(cl_sends(&cl, "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Content-Length: 100000\r\n\r\n") == 0);
  free(big);
  big = calloc(1, 100000);
  CHECK(cl_send(&cl, big, 100000) == 0);
  CHECK(read_resp(&cl, &r, 0) == 0 && r.status == 413);
  CHECK(cl_closed(&cl));
  resp_free(&r);
  cl_close(&cl);
  /* ... and a chunked one that grows past it. */
  CHECK(cl_open(&cl, e->port) == 0);
  CHECK(cl_sends(&cl, "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n") == 0);
  for (int i = 0; i < 3; i++) {
    CHECK(cl_sends(&cl, "8000\r\n") == 0);
    CHECK(cl_send(&cl, big, 0x8000) == 0);
    CHECK(cl_sends(&cl, "\r\n") == 0);
  }
  CHECK(read_resp(&cl, &r, 0) == 0 && r.status == 413);
  CHECK(cl_closed(&cl));
  resp_free(&r);
  cl_close(&cl);
  free(big);

  /* 400: not HTTP. */
  CHECK(cl_open(&cl, e->port) == 0);
  CHECK(cl_sends(&cl, "garbage\r\n\r\n") == 0);
  CHECK(read_resp(&cl, &r, 0) == 0 && r.status == 400);
  CHECK(cl_closed(&cl));
  resp_free(&r);
  cl_close(&cl);
  CHECK(request(e->port,
                "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n",
                &r) == 400);
  resp_free(&r);

  after = stats(e, 0);
  CHECK(after.refused == before.refused + 6);
  CHECK(after.requests >= before.requests + 6);
}

static void put_file(const char *dir, const char *name, const char *text)
{
  char p[256];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

static void make_tree(struct env *e)
{
  char p[256];
  snprintf(e->root, sizeof e->root, "/tmp/spate_httpd.XXXXXX");
  CHECK(mkdtemp(e->root) != NULL);
  snprintf(e->static_dir, sizeof e->static_dir, "%s/static", e->root);
  mkdir(e->static_dir, 0700);
  snprintf(p, sizeof p, "%s/sub", e->static_dir);
  mkdir(p, 0700);
  put_file(e->root, "CMakeLists.txt", "outside\n");
  put_file(e->root, "x", "outside x\n");
  put_file(e->static_dir, "index.html", "<h1>hi</h1>\n");
  put_file(e->static_dir, "app.js", "console.log(1);\n");
  put_file(e->static_dir, "a b.txt", "spaced\n");
  put_file(e->static_dir, ".hidden", "secret\n");
  put_file(e->static_dir, "sub/data.bin", "\x01\x02\x03");
  put_file(e->static_dir, "sub/style.css", "p{}\n");
  snprintf(p, sizeof p, "%s/link.txt", e->static_dir);
  CHECK(symlink("../CMakeLists.txt", p) == 0);
  snprintf(p, sizeof p, "%s/big.bin", e->static_dir);
  int fd = open(p, O_WRONLY | O_CREAT, 0600);
  CHECK(fd >= 0 && ftruncate(fd, 9 << 20) == 0);
  close(fd);
}

static void remove_tree(struct env *e)
{
  static const char *const files[] = {
      "static/index.html",   "static/app.js",
      "static/a b.txt",      "static/.hidden",
      "static/link.txt",     "static/big.bin",
      "static/sub/data.bin", "static/sub/style.css",
      "CMakeLists.txt",      "x",
  };
  static const char *const dirs[] = {"static/sub", "static", ""};
  char p[256];
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    snprintf(p, sizeof p, "%s/%s", e->root, files[i]);
    unlink(p);
  }
  for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
    snprintf(p, sizeof p, "%s/%s", e->root, dirs[i]);
    rmdir(p);
  }
}

static void test_static(struct env *e)
{
  static const char *const refused[] = {
      "/static/../CMakeLists.txt",
      "/static/%2e%2e/x",
      "/static/%2E%2E%2Fx",
      "/static/a/../../x",
      "/static//etc/passwd",
      "/static/..%5cx",
      "/static/sub%5c..%5c..%5cx",
      "/static/%00index.html",
      "/static/sub/",
      "/static/sub",
      "/static/",
      "/static/.hidden",
      "/static/link.txt",
      "/static/big.bin",
      "/static/missing.html",
      "/static/%zz",
  };
  struct resp r;
  char v[128];
  CHECK(request(e->port,
                "GET /static/index.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                &r) == 200);
  CHECK_STR(r.body, "<h1>hi</h1>\n");
  CHECK(hdr(r.head, "content-type", v, sizeof v) &&
        !strcmp(v, "text/html; charset=utf-8"));
  resp_free(&r);
  CHECK(request(e->port,
                "GET /static/app.js?v=3 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                &r) == 200);
  CHECK_STR(r.body, "console.log(1);\n");
  CHECK(hdr(r.head, "content-type", v, sizeof v) &&
        !strncmp(v, "text/javascript", 15));
  resp_free(&r);
  CHECK(request(e->port,
                "GET /static/a%20b.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                &r) == 200);
  CHECK_STR(r.body, "spaced\n");
  CHECK(hdr(r.head, "content-type", v, sizeof v) &&
        !strncmp(v, "text/plain", 10));
  resp_free(&r);
  CHECK(request(e->port,
                "GET /static/sub/data.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                &r) == 200);
  CHECK(r.blen == 3 && !memcmp(r.body, "\x01\x02\x03", 3));
  CHECK(hdr(r.head, "content-type", v, sizeof v) &&
        !strcmp(v, "application/octet-stream"));
  resp_free(&r);
  CHECK(
      request(e->port,
              "HEAD /static/sub/style.css HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
              &r) == 200);
  CHECK(hdr(r.head, "content-length", v, sizeof v) && !strcmp(v, "4"));
  CHECK(hdr(r.head, "content-type", v, sizeof v) &&
        !strncmp(v, "text/css", 8));
  resp_free(&r);
  CHECK(request(e->port,
                "POST /static/app.js HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Length: 0\r\n\r\n",
                &r) == 405);
  resp_free(&r);
  for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
    int st = get_status(e->port, refused[i]);
    CHECK(st == 404);
    if (st != 404)
      fprintf(stderr, "  %s gave %d\n", refused[i], st);
  }
}

static void test_token(struct env *e)
{
  struct resp r;
  char v[256];
  int p = e->tok_port;
  CHECK(request(p, "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", &r) ==
        401);
  CHECK(hdr(r.head, "www-authenticate", v, sizeof v) && !strcmp(v, "Bearer"));
  resp_free(&r);
  CHECK(request(p,
                "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Authorization: Bearer " TOKEN "\r\n\r\n",
                &r) == 200);
  CHECK_STR(r.body, "hello\n");
  resp_free(&r);
  CHECK(request(p,
                "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Authorization: bearer   " TOKEN "  \r\n\r\n",
                &r) == 200);
  resp_free(&r);
  CHECK(request(p,
                "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Authorization: Bearer " TOKEN "x\r\n\r\n",
                &r) == 401);
  resp_free(&r);
  CHECK(request(p,
                "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Cookie: a=b; spate_token=" TOKEN "; c=d\r\n\r\n",
                &r) == 200);
  resp_free(&r);
  CHECK(request(p,
                "GET /login?token=" TOKEN
                " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                &r) == 302);
  CHECK(hdr(r.head, "location", v, sizeof v) && !strcmp(v, "/"));
  CHECK(hdr(r.head, "set-cookie", v, sizeof v) &&
        !strncmp(v, "spate_token=" TOKEN ";", 13 + strlen(TOKEN)) &&
        strstr(v, "HttpOnly") && strstr(v, "SameSite=Strict"));
  resp_free(&r);
  /* Percent-encoded in the query is the same token. */
  CHECK(request(p,
                "GET /login?x=1&token=t0ken%2DSecret_42 HTTP/1.1\r\n"
                "Host: 127.0.0.1\r\n\r\n",
                &r) == 302);
  resp_free(&r);
  CHECK(request(p,
                "GET /login?token=wrong HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                &r) == 401);
  resp_free(&r);
  CHECK(request(p, "GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", &r) ==
        401);
  resp_free(&r);
  /* Static is behind the token too (and this server has none). */
  CHECK(get_status(p, "/static/index.html") == 401);
  struct httpd_stats st = stats(e, 1);
  CHECK(st.unauthorized == 5);
  /* Without a token, /login only redirects. */
  CHECK(request(e->port, "GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                &r) == 302);
  CHECK(!hdr(r.head, "set-cookie", v, sizeof v));
  resp_free(&r);
}

/* Status of one request with the given head lines (after the request
 * line) on a fresh connection. */
static int status_with(int port, const char *line, const char *lines)
{
  char req[1024];
  struct resp r;
  snprintf(req, sizeof req, "%s\r\n%s\r\n", line, lines);
  int st = request(port, req, &r);
  resp_free(&r);
  return st;
}

/* What a page elsewhere cannot do: name us (DNS rebinding), change
 * anything, smuggle a length past a proxy, get a 100 without the token,
 * or hold a response by not reading it. */
static void test_access(struct env *e)
{
  char h[128];
  int p = e->port;
  const char *get = "GET /hello HTTP/1.1";
  /* Without a token: a loopback Host with our port, or none on 1.0. */
  snprintf(h, sizeof h, "Host: localhost:%d\r\n", p);
  CHECK(status_with(p, get, h) == 200);
  snprintf(h, sizeof h, "Host: [::1]:%d\r\n", p);
  CHECK(status_with(p, get, h) == 200);
  CHECK(status_with(p, get, "Host: 127.3.4.5\r\n") == 200);
  CHECK(status_with(p, get, "Host: LOCALHOST\r\n") == 200);
  CHECK(status_with(p, "GET /hello HTTP/1.0", "") == 200);
  snprintf(h, sizeof h, "Host: rebind.example:%d\r\n", p);
  CHECK(status_with(p, get, h) == 403);
  CHECK(status_with(p, get, "Host: 127.0.0.1:1\r\n") == 403);
  CHECK(status_with(p, get, "Host: 127.0.0.1:+80\r\n") == 403);
  CHECK(status_with(p, get, "Host: 10.0.0.1\r\n") == 403);
  CHECK(status_with(p, get, "Host: [::1\r\n") == 403);
  CHECK(status_with(p, get, "") == 400);
  struct httpd_stats st = stats(e, 0);
  CHECK(st.refused_host == 5);
  /* With a token the token is the check, whatever the Host. */
  CHECK(status_with(e->tok_port, get,
                    "Host: dashboard.example\r\n"
                    "Authorization: Bearer " TOKEN "\r\n") == 200);
  /* A write from another site's page: refused; from ours, or from a
   * client that is not a browser: served. Reads are not affected. */
  const char *post = "POST /echo HTTP/1.1";
  char evil[128];
  snprintf(evil, sizeof evil,
           "Host: 127.0.0.1:%d\r\nOrigin: https://evil.example\r\n", p);
  CHECK(status_with(p, post, evil) == 403);
  CHECK(status_with(p, "DELETE /echo HTTP/1.1",
                    "Host: 127.0.0.1\r\nOrigin: null\r\n") == 403);
  CHECK(status_with(p, post,
                    "Host: 127.0.0.1\r\nSec-Fetch-Site: cross-site\r\n") ==
        403);
  CHECK(status_with(p, post,
                    "Host: 127.0.0.1\r\nSec-Fetch-Site: same-site\r\n") ==
        403);
  snprintf(h, sizeof h,
           "Host: 127.0.0.1:%d\r\nOrigin: http://127.0.0.1:%d\r\n"
           "Sec-Fetch-Site: same-origin\r\n",
           p, p);
  CHECK(status_with(p, post, h) == 200);
  CHECK(status_with(p, post, "Host: 127.0.0.1\r\nSec-Fetch-Site: none\r\n") ==
        200);
  /* Behind a proxy that speaks TLS for us the page's origin is https. */
  CHECK(status_with(p, post,
                    "Host: localhost\r\nOrigin: https://localhost\r\n") ==
        200);
  CHECK(status_with(p, post,
                    "Host: localhost\r\nOrigin: https://localhost.evil\r\n") ==
        403);
  CHECK(status_with(p, post, "Host: 127.0.0.1\r\n") == 200);
  CHECK(status_with(p, get, evil) == 200);
  CHECK(stats(e, 0).refused_origin == 5);
  /* "Content-Length : 24" is not a length here: 400, and nothing after it
   * is taken for the body. */
  CHECK(status_with(p, post, "Host: 127.0.0.1\r\nContent-Length : 24\r\n") ==
        400);
  CHECK(status_with(p, post,
                    "Host: 127.0.0.1\r\nTransfer-Encoding\t: chunked\r\n") ==
        400);
  /* 100 Continue only for a client the token lets in. */
  struct client cl;
  struct resp r;
  CHECK(cl_open(&cl, e->tok_port) == 0);
  CHECK(cl_sends(&cl,
                 "POST /echo HTTP/1.1\r\nHost: x\r\n"
                 "Content-Length: 2\r\nExpect: 100-continue\r\n\r\n") == 0);
  struct pollfd pf = {cl.fd, POLLIN, 0};
  CHECK(poll(&pf, 1, 300) == 0); /* no 100: the client sends on anyway */
  CHECK(cl_sends(&cl, "hi") == 0);
  CHECK(read_resp(&cl, &r, 0) == 0 && r.status == 401);
  resp_free(&r);
  cl_close(&cl);
  CHECK(cl_open(&cl, e->tok_port) == 0);
  CHECK(cl_sends(&cl,
                 "POST /echo HTTP/1.1\r\nHost: x\r\n"
                 "Authorization: Bearer " TOKEN "\r\n"
                 "Content-Length: 2\r\nExpect: 100-continue\r\n\r\n") == 0);
  CHECK(read_resp(&cl, &r, 1) == 0 && r.status == 100);
  resp_free(&r);
  CHECK(cl_sends(&cl, "hi") == 0);
  CHECK(read_resp(&cl, &r, 0) == 0 && r.status == 200);
  CHECK(strstr(r.body, "hi") != NULL);
  resp_free(&r);
  cl_close(&cl);
  /* A client that stops reading a response: the connection ends once the
   * writes have made no progress for STALL_MS. Pipelined /big answers
   * (100 KB each) fill the kernel's buffers both ways. */
  int rcv = 4096;
  CHECK(cl_open(&cl, e->small_port) == 0);
  setsockopt(cl.fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  for (int i = 0; i < 150; i++)
    CHECK(cl_sends(&cl, "GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") == 0);
  CHECK(stats(e, 2).connections == 1);
  int ended = 0;
  for (int i = 0; i < 500 && !ended; i++) {
    sleep_ms(10);
    ended = stats(e, 2).connections == 0;
  }
  CHECK(ended);
  cl_close(&cl);
}

static int sse_open(struct client *cl, int port, struct resp *r)
{
  if (cl_open(cl, port) ||
      cl_sends(cl, "GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") ||
      read_resp(cl, r, 1))
    return -1;
  return r->status;
}

static void test_sse(struct env *e)
{
  struct client cl;
  struct resp r;
  char v[64], want[128];
  CHECK(sse_open(&cl, e->port, &r) == 200);
  CHECK(hdr(r.head, "content-type", v, sizeof v) &&
        !strcmp(v, "text/event-stream"));
  CHECK(!hdr(r.head, "content-length", v, sizeof v));
  resp_free(&r);
  CHECK(stats(e, 0).sse_clients == 1);
  broadcast(e, 0, 40, 0);
  for (int i = 0; i < 40; i++) {
    char *ev = sse_read(&cl);
    CHECK(ev && !strncmp(ev, "data: ", 6) && seq_of(ev + 6) == i);
    free(ev);
  }
  /* Ordinary requests are answered meanwhile. */
  CHECK(get_status(e->port, "/hello") == 200);
  /* Line breaks in a message: one data line each. */
  struct bcast b = {0, 0, 0, "{\"a\":\n1,\r\n\"b\":2}", {0}, 0};
  run_on_loop(e, do_broadcast, &b);
  char *ev = sse_read(&cl);
  CHECK_STR(ev, "data: {\"a\":\ndata: 1,\ndata: \"b\":2}");
  free(ev);
  broadcast(e, 40, 10, 0);
  for (int i = 40; i < 50; i++) {
    ev = sse_read(&cl);
    snprintf(want, sizeof want, "data: {\"seq\":%d,\"pad\":\"\"}", i);
    CHECK_STR(ev, want);
    free(ev);
  }
  cl_close(&cl);
  /* POST is not a stream. */
  CHECK(request(e->port,
                "POST /sse HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0"
                "\r\n\r\n",
                &r) == 405);
  resp_free(&r);
}

static void test_ws(struct env *e)
{
  struct client cl, cl2;
  struct resp r;
  char v[128], origin[64], *p;
  size_t n;
  snprintf(origin, sizeof origin, "http://127.0.0.1:%d", e->port);
  CHECK(ws_open(&cl, e->port, origin, &r) == 101);
  CHECK(hdr(r.head, "sec-websocket-accept", v, sizeof v) &&
        !strcmp(v, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")); /* RFC 6455, 1.3 */
  CHECK(hdr(r.head, "upgrade", v, sizeof v) && !strcasecmp(v, "websocket"));
  resp_free(&r);
  /* Without an Origin (not a browser) is fine too. */
  CHECK(ws_open(&cl2, e->port, NULL, &r) == 101);
  resp_free(&r);
  struct httpd_stats st = stats(e, 0);
  CHECK(st.ws_clients == 2);

  /* Broadcasts as text frames, in order, of all three length forms. */
  static const size_t sizes[] = {10, 300, 70000};
  for (int i = 0; i < 30; i++)
    broadcast(e, i, 1, sizes[i % 3]);
  for (int i = 0; i < 30; i++) {
    CHECK(ws_read(&cl, &p, &n) == 1 && seq_of(p) == i && n == strlen(p) &&
          (i % 3 == 0 || n == sizes[i % 3]));
    free(p);
    CHECK(ws_read(&cl2, &p, &n) == 1 && seq_of(p) == i);
    free(p);
  }
  CHECK(get_status(e->port, "/hello") == 200);

  /* A masked ping gets its pong; a message from the client is ignored. */
  CHECK(ws_write(&cl, 0x1, "ignored", 7, 0) == 0);
  CHECK(ws_write(&cl, 0x9, "hi", 2, 0) == 0);
  CHECK(ws_read(&cl, &p, &n) == 0xA && n == 2 && !memcmp(p, "hi", 2));
  free(p);
  /* Between messages a client keeps no parser state (cl2 never sent a
   * byte); within a fragmented one it does, across a ping. */
  st = stats(e, 0);
  CHECK(st.ws_clients == 2 && st.ws_contexts == 0);
  CHECK(ws_frame(&cl, 0, 0x1, "part one, ", 10, 0) == 0);
  CHECK(ws_write(&cl, 0x9, "a", 1, 0) == 0);
  CHECK(ws_read(&cl, &p, &n) == 0xA && n == 1 && *p == 'a');
  free(p);
  st = stats(e, 0);
  CHECK(st.ws_contexts == 1);
  CHECK(ws_frame(&cl, 1, 0x0, "part two", 8, 0) == 0);
  CHECK(ws_write(&cl, 0x9, "b", 1, 0) == 0);
  CHECK(ws_read(&cl, &p, &n) == 0xA && n == 1 && *p == 'b');
  free(p);
  st = stats(e, 0);
  CHECK(st.ws_clients == 2 && st.ws_contexts == 0);
  /* A frame cut anywhere, even inside its header, is one frame. */
  {
    static const unsigned char ping[] = {0x89, 0x83,    1,       2,      3,
                                         4,    'x' ^ 1, 'y' ^ 2, 'z' ^ 3};
    for (size_t i = 0; i < sizeof ping; i++) {
      CHECK(cl_send(&cl, ping + i, 1) == 0);
      usleep(2000);
    }
    CHECK(ws_read(&cl, &p, &n) == 0xA && n == 3 && !memcmp(p, "xyz", 3));
    free(p);
    st = stats(e, 0);
    CHECK(st.ws_contexts == 0);
  }
  /* A client close gets a close back, then the end. */
  CHECK(ws_write(&cl, 0x8,
                 "\x03\xe8"
                 "bye",
                 5, 0) == 0);
  CHECK(ws_read(&cl, &p, &n) == 0x8 && close_code(p, n) == 1000);
  free(p);
  CHECK(cl_closed(&cl));
  cl_close(&cl);
  /* An unmasked client frame is a protocol error: close 1002. */
  CHECK(ws_write(&cl2, 0x9, "x", 1, 1) == 0);
  CHECK(ws_read(&cl2, &p, &n) == 0x8 && close_code(p, n) == 1002);
  free(p);
  CHECK(cl_closed(&cl2));
  cl_close(&cl2);

  /* Refusals. */
  CHECK(ws_open(&cl, e->port, "http://evil.example", &r) == 403);
  resp_free(&r);
  cl_close(&cl);
  snprintf(origin, sizeof origin, "http://127.0.0.1:%d", e->port + 1);
  CHECK(ws_open(&cl, e->port, origin, &r) == 403);
  resp_free(&r);
  cl_close(&cl);
  CHECK(request(e->port, "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", &r) ==
        426);
  resp_free(&r);
  CHECK(request(e->port,
                "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Version: 13"
                "\r\n\r\n",
                &r) == 400);
  resp_free(&r);
  CHECK(request(e->port,
                "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Version: 8\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                &r) == 426);
  CHECK(hdr(r.head, "sec-websocket-version", v, sizeof v) && !strcmp(v, "13"));
  resp_free(&r);
  st = stats(e, 0);
  CHECK(st.ws_clients == 0);
}

/* A WebSocket subscriber that never reads while 50 MB are broadcast is
 * dropped; an SSE one that reads gets everything, in order. */
static void test_slow(struct env *e)
{
  struct client slow, fast;
  struct resp r;
  struct httpd_stats st0 = stats(e, 0);
  int drained = 0, total = SLOW_TOTAL / SLOW_MSG, got = 0, frames = 0;
  int rcvbuf = 65536;
  char *p;
  size_t n;
  /* A small receive buffer fills sooner; the test is the same. */
  memset(&slow, 0, sizeof slow);
  slow.fd = -1;
  CHECK(ws_open(&slow, e->port, NULL, &r) == 101);
  setsockopt(slow.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  resp_free(&r);
  CHECK(sse_open(&fast, e->port, &r) == 200);
  resp_free(&r);
  for (int seq = 0; seq < total; seq += SLOW_BATCH) {
    struct bcast b = {seq, SLOW_BATCH, SLOW_MSG, NULL, {0}, 0};
    if (seq + SLOW_BATCH > total)
      b.n = total - seq;
    run_on_loop(e, do_broadcast, &b);
    for (int i = 0; i < b.n; i++) {
      char *ev = sse_read(&fast);
      if (ev && seq_of(ev + 6) == seq + i && strlen(ev) == SLOW_MSG + 6)
        got++;
      free(ev);
    }
    if (!drained && b.st.dropped_slow > st0.dropped_slow) {
      /* Read the dropped one now: an in-order prefix, then close 1008. */
      int op, ok = 1;
      drained = 1;
      CHECK(b.st.ws_clients == 0 && b.st.sse_clients == 1);
      while ((op = ws_read(&slow, &p, &n)) == 1) {
        ok &= seq_of(p) == frames;
        frames++;
        free(p);
      }
      CHECK(ok && frames > 0 && frames < seq + b.n);
      CHECK(op == 0x8 && close_code(p, n) == 1008 &&
            !strcmp(p + 2, "too slow"));
      free(p);
      CHECK(cl_closed(&slow));
    }
  }
  CHECK(drained);
  CHECK(got == total);
  struct httpd_stats st = stats(e, 0);
  CHECK(st.dropped_slow == st0.dropped_slow + 1);
  CHECK(st.sse_clients == 1 && st.ws_clients == 0);
  CHECK(st.broadcasts == st0.broadcasts + (uint64_t)total);
  cl_close(&slow);
  cl_close(&fast);
}

/* A subscriber that stops reading is dropped by the lag rule long before
 * its queue could reach client_queue_max (the kernel takes the first
 * hundreds of KiB); one that reads, beside it, is not. SSE: no pings. */
static void test_lag(struct env *e)
{
  struct client stalled, reader;
  struct resp r;
  int rcvbuf = 4096, seq = 0, got = 0, events = 0, ok = 1;
  uint64_t dropped = 0;
  char *ev;
  CHECK(sse_open(&stalled, e->small_port, &r) == 200);
  setsockopt(stalled.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  resp_free(&r);
  CHECK(sse_open(&reader, e->small_port, &r) == 200);
  resp_free(&r);
  for (int round = 0; round < 250 && !dropped; round++) {
    struct bcast b = {seq, 2, 500, NULL, {0}, 2};
    run_on_loop(e, do_broadcast, &b);
    for (int i = 0; i < b.n; i++) {
      char *got_ev = sse_read(&reader);
      if (got_ev && seq_of(got_ev + 6) == seq + i)
        got++;
      free(got_ev);
    }
    seq += b.n;
    dropped = b.st.dropped_slow;
    sleep_ms(20);
  }
  CHECK(dropped == 1);
  CHECK(got == seq);
  /* All that was broadcast is under the queue's bound: not the cap. */
  CHECK((size_t)seq * 520 < 256 * 1024);
  struct httpd_stats st = stats(e, 2);
  CHECK(st.sse_clients == 1);
  /* The stalled one: an in-order prefix, then the reason. */
  while ((ev = sse_read(&stalled)) && !strncmp(ev, "data: {", 7)) {
    ok &= seq_of(ev + 6) == events;
    events++;
    free(ev);
  }
  CHECK(ok && events > 0 && events < seq);
  CHECK(ev && !strcmp(ev, "event: close\ndata: too slow"));
  free(ev);
  CHECK(cl_closed(&stalled));
  cl_close(&stalled);
  cl_close(&reader);
  for (int i = 0; i < 300 && stats(e, 2).connections; i++)
    sleep_ms(10);
  CHECK(stats(e, 2).connections == 0);
}

/* A WebSocket subscriber gets a ping PING_MS after its upgrade or last
 * pong: one that answers stays, one that never reads (its bytes taken by
 * its kernel) is dropped when the pong is PING_MS late, even though it
 * sends pongs of its own (unsolicited: they do not echo our ping). */
static void test_ping(struct env *e)
{
  struct client live, stalled;
  struct resp r;
  int pings = 0, ticks = 0, op, ok = 1;
  uint64_t dropped0 = stats(e, 2).dropped_slow;
  char *p;
  size_t n;
  CHECK(ws_open(&live, e->small_port, NULL, &r) == 101);
  resp_free(&r);
  CHECK(ws_open(&stalled, e->small_port, NULL, &r) == 101);
  resp_free(&r);
  for (int seq = 0; seq < 120; seq++) { /* 120 x >= 20 ms: >= 4 pings */
    struct bcast b = {seq, 1, 0, NULL, {0}, 2};
    run_on_loop(e, do_broadcast, &b);
    while ((op = ws_read(&live, &p, &n)) == 0x9) {
      pings++;
      CHECK(ws_write(&live, 0xA, p, n, 0) == 0);
      free(p);
    }
    ok &= op == 1 && seq_of(p) == seq;
    free(p);
    ok &= ws_write(&stalled, 0xA, "other", 5, 0) == 0 || seq > 60;
    sleep_ms(20);
  }
  CHECK(ok && pings >= 4);
  struct httpd_stats st = stats(e, 2);
  CHECK(st.ws_clients == 1 && st.dropped_slow == dropped0 + 1);
  /* The stalled one: ticks in order (and our ping), then 1008. */
  while ((op = ws_read(&stalled, &p, &n)) == 1 || op == 0x9) {
    if (op == 1)
      ok &= seq_of(p) == ticks++;
    free(p);
  }
  CHECK(ok && ticks > 0 && ticks < 120);
  CHECK(op == 0x8 && close_code(p, n) == 1008 &&
        !strcmp(p + 2, "too slow: no pong"));
  free(p);
  CHECK(cl_closed(&stalled));
  cl_close(&stalled);
  cl_close(&live);
  for (int i = 0; i < 300 && stats(e, 2).connections; i++)
    sleep_ms(10);
  CHECK(stats(e, 2).connections == 0);
}

static void test_max_clients(struct env *e)
{
  struct client a, b, c;
  struct resp r;
  char v[64];
  int p = e->small_port;
  CHECK(cl_open(&a, p) == 0 && cl_open(&b, p) == 0);
  CHECK(cl_sends(&a, "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") == 0);
  CHECK(read_resp(&a, &r, 0) == 0 && r.status == 200);
  resp_free(&r);
  CHECK(cl_sends(&b, "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") == 0);
  CHECK(read_resp(&b, &r, 0) == 0 && r.status == 200);
  resp_free(&r);
  CHECK(stats(e, 2).connections == 2);
  CHECK(cl_open(&c, p) == 0);
  CHECK(cl_sends(&c, "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") == 0);
  CHECK(read_resp(&c, &r, 0) == 0 && r.status == 503);
  CHECK(hdr(r.head, "connection", v, sizeof v) && !strcmp(v, "close"));
  CHECK(cl_closed(&c));
  resp_free(&r);
  cl_close(&c);
  struct httpd_stats st = stats(e, 2);
  CHECK(st.refused == 1 && st.connections == 2);
  /* A slot comes free once a client leaves. */
  cl_close(&a);
  for (int i = 0; i < 300 && stats(e, 2).connections != 1; i++)
    sleep_ms(10);
  CHECK(stats(e, 2).connections == 1);
  CHECK(get_status(p, "/hello") == 200);
  cl_close(&b);
}

static void stop_main(struct env *e, void *arg)
{
  (void)arg;
  httpd_stop(e->main, on_stopped, e);
  e->main = NULL;
}

static void stop_others(struct env *e, void *arg)
{
  (void)arg;
  httpd_stop(e->tok, on_stopped, e);
  httpd_stop(e->small, on_stopped, e);
  e->tok = e->small = NULL;
}

static void on_closed(uv_handle_t *h)
{
  (void)h;
}

static void close_loop(struct env *e, void *arg)
{
  (void)arg;
  uv_close((uv_handle_t *)&e->later_timer, on_closed);
  uv_close((uv_handle_t *)&e->async, on_closed);
}

static void get_held(struct env *e, void *arg)
{
  *(int *)arg = e->held;
}

static int held(struct env *e)
{
  int n;
  run_on_loop(e, get_held, &n);
  return n;
}

static void test_stop(struct env *e)
{
  struct client ws, sse, idle, hold;
  struct resp r;
  char *p;
  size_t n;
  CHECK(ws_open(&ws, e->port, NULL, &r) == 101);
  resp_free(&r);
  CHECK(sse_open(&sse, e->port, &r) == 200);
  resp_free(&r);
  CHECK(cl_open(&idle, e->port) == 0);
  CHECK(cl_sends(&idle, "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") ==
        0);
  CHECK(read_resp(&idle, &r, 0) == 0 && r.status == 200);
  resp_free(&r);
  /* A request the handler never answers: stop gives up on it after 1 s. */
  CHECK(cl_open(&hold, e->port) == 0);
  CHECK(cl_sends(&hold, "GET /hold HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") == 0);
  for (int i = 0; i < 300 && !held(e); i++)
    sleep_ms(10);
  CHECK(held(e) == 1);
  broadcast(e, 7, 1, 0);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  run_on_loop(e, stop_main, NULL);
  /* The broadcast before the stop arrives, then the ends. */
  CHECK(ws_read(&ws, &p, &n) == 1 && seq_of(p) == 7);
  free(p);
  CHECK(ws_read(&ws, &p, &n) == 0x8 && close_code(p, n) == 1001 &&
        !strcmp(p + 2, "going away"));
  free(p);
  ws_write(&ws, 0x8, "\x03\xe9", 2, 0); /* the server may be gone */
  CHECK(cl_closed(&ws));
  char *ev = sse_read(&sse);
  CHECK(ev && seq_of(ev + 6) == 7);
  free(ev);
  ev = sse_read(&sse);
  CHECK_STR(ev, "event: close\ndata: going away");
  free(ev);
  CHECK(cl_closed(&sse));
  CHECK(cl_closed(&idle));
  CHECK(cl_closed(&hold));
  for (int i = 0; i < 300 && atomic_load(&e->stopped) < 1; i++)
    sleep_ms(10);
  CHECK(atomic_load(&e->stopped) == 1);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  /* The held request keeps it going until the 1 s deadline, no longer. */
  long ms = (long)(t1.tv_sec - t0.tv_sec) * 1000 +
            (t1.tv_nsec - t0.tv_nsec) / 1000000;
  CHECK(ms >= 900 && ms < 3000);
  /* Nothing listens any more. */
  struct client gone;
  CHECK(cl_open(&gone, e->port) != 0);
  cl_close(&ws);
  cl_close(&sse);
  cl_close(&idle);
  cl_close(&hold);
}

int main(void)
{
  struct env e;
  memset(&e, 0, sizeof e);
  signal(SIGPIPE, SIG_IGN);
  pthread_mutex_init(&e.mu, NULL);
  pthread_cond_init(&e.cv, NULL);
  e.big = malloc(BIG);
  for (int i = 0; i < BIG; i++)
    e.big[i] = (char)('A' + i % 23);
  make_tree(&e);
  CHECK(uv_loop_init(&e.loop) == 0);
  uv_async_init(&e.loop, &e.async, on_async);
  e.async.data = &e;
  pthread_create(&e.thread, NULL, loop_main, &e);
  run_on_loop(&e, start_servers, NULL);

  test_keepalive(&e);
  test_pipeline_head(&e);
  test_gone(&e);
  test_limits(&e);
  test_static(&e);
  test_token(&e);
  test_access(&e);
  test_sse(&e);
  test_ws(&e);
  test_slow(&e);
  test_lag(&e);
  test_ping(&e);
  test_max_clients(&e);
  test_stop(&e);

  run_on_loop(&e, stop_others, NULL);
  for (int i = 0; i < 300 && atomic_load(&e.stopped) < 3; i++)
    sleep_ms(10);
  CHECK(atomic_load(&e.stopped) == 3);
  run_on_loop(&e, close_loop, NULL);
  pthread_join(e.thread, NULL);
  CHECK(uv_loop_close(&e.loop) == 0);
  remove_tree(&e);
  free(e.big);
  pthread_mutex_destroy(&e.mu);
  pthread_cond_destroy(&e.cv);
  return check_report("test_httpd");
}
