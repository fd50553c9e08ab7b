#include "wsclient.h"

#include "buf.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <wslay/wslay.h>

#define HEAD_MAX (16 << 10)
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum state { S_RESOLVE, S_CONNECT, S_HANDSHAKE, S_OPEN, S_CLOSING };

struct wsclient {
  uv_loop_t *loop;
  struct wsclient_callbacks cb;
  void *arg;
  enum state state;
  char *host, *port, *path;
  uv_getaddrinfo_t gai;
  int gai_pending;
  uv_tcp_t tcp;
  int tcp_open;
  uv_connect_t conn;
  uv_timer_t timer;
  int timer_open;
  char accept[32]; /* the Sec-WebSocket-Accept we expect */
  struct buf head; /* the handshake answer so far */
  wslay_event_context_ptr ws;
  const uint8_t *in;
  size_t in_len;
  struct buf out; /* what wslay wrote during one wslay_event_send */
  int silent;     /* wsclient_close called: no more callbacks */
  int reported;
  int pending; /* handles and requests whose callbacks are still due */
};

struct write_req {
  uv_write_t req;
  struct wsclient *c;
  char data[];
};

static void maybe_free(struct wsclient *c)
{
  if (c->pending)
    return;
  if (c->ws)
    wslay_event_context_free(c->ws);
  buf_free(&c->head);
  buf_free(&c->out);
  free(c->host);
  free(c->port);
  free(c->path);
  free(c);
}

static void handle_closed(uv_handle_t *h)
{
  struct wsclient *c = h->data;
  c->pending--;
  maybe_free(c);
}

/* Ends the connection; reports why once (unless closed by the owner). */
static void finish(struct wsclient *c, const char *why)
{
  if (!c->reported && !c->silent && c->cb.on_close) {
    c->reported = 1;
    c->cb.on_close(c->arg, why);
  }
  c->reported = 1;
  c->state = S_CLOSING;
  if (c->timer_open) {
    c->timer_open = 0;
    uv_close((uv_handle_t *)&c->timer, handle_closed);
  }
  if (c->tcp_open) {
    c->tcp_open = 0;
    uv_close((uv_handle_t *)&c->tcp, handle_closed);
  }
  if (c->gai_pending)
    uv_cancel((uv_req_t *)&c->gai);
  maybe_free(c);
}

static void write_done(uv_write_t *w, int status)
{
  struct write_req *r = (struct write_req *)w;
  struct wsclient *c = r->c;
  free(r);
  c->pending--;
  if (status && c->state != S_CLOSING)
    finish(c, "write failed");
  else
    maybe_free(c);
}

/* Bytes spate may owe a server that does not read (pongs to a ping
 * flood): past this the connection ends. */
#define WRITE_QUEUE_MAX (256 << 10)

static int send_bytes(struct wsclient *c, const void *data, size_t len)
{
  if (!c->tcp_open || !len)
    return 0;
  if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > WRITE_QUEUE_MAX)
    return -1;
  struct write_req *r = malloc(sizeof(*r) + len);
  if (!r)
    return -1;
  r->c = c;
  memcpy(r->data, data, len);
  uv_buf_t b = uv_buf_init(r->data, (unsigned)len);
  if (uv_write(&r->req, (uv_stream_t *)&c->tcp, &b, 1, write_done)) {
    free(r);
    return -1;
  }
  c->pending++;
  return 0;
}

/* ---- wslay ----------------------------------------------------------------
 */

static ssize_t ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                       int flags, void *user)
{
  struct wsclient *c = user;
  (void)flags;
  if (!c->in_len) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  if (len > c->in_len)
    len = c->in_len;
  memcpy(buf, c->in, len);
  c->in += len;
  c->in_len -= len;
  return (ssize_t)len;
}

static ssize_t ws_send(wslay_event_context_ptr ctx, const uint8_t *data,
                       size_t len, int flags, void *user)
{
  struct wsclient *c = user;
  (void)flags;
  if (buf_append(&c->out, data, len)) {
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
  return (ssize_t)len;
}

static int ws_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                      void *user)
{
  (void)ctx;
  (void)user;
  return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -1;
}

static void ws_msg(wslay_event_context_ptr ctx,
                   const struct wslay_event_on_msg_recv_arg *m, void *user)
{
  struct wsclient *c = user;
  (void)ctx;
  if ((m->opcode == WSLAY_TEXT_FRAME || m->opcode == WSLAY_BINARY_FRAME) &&
      !c->silent && c->cb.on_message)
    c->cb.on_message(c->arg, (const char *)m->msg, m->msg_length);
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = ws_recv,
    .send_callback = ws_send,
    .genmask_callback = ws_genmask,
    .on_msg_recv_callback = ws_msg,
};

/* Sends what wslay queued (pongs, the close frame). */
static void ws_flush(struct wsclient *c)
{
  buf_reset(&c->out);
  if (wslay_event_want_write(c->ws) && wslay_event_send(c->ws) == 0 &&
      send_bytes(c, c->out.data, c->out.len))
    finish(c, "out of memory");
}

static void ws_input(struct wsclient *c, const char *data, size_t len)
{
  c->in = (const uint8_t *)data;
  c->in_len = len;
  if (wslay_event_recv(c->ws)) {
    finish(c, "protocol error");
    return;
  }
  c->in_len = 0;
  ws_flush(c);
  if (c->state != S_OPEN)
    return;
  /* wslay stops reading after a protocol error (and after a close it
   * sent): the connection is over. */
  if (!wslay_event_get_close_received(c->ws) &&
      (!wslay_event_get_read_enabled(c->ws) ||
       wslay_event_get_close_sent(c->ws))) {
    finish(c, "protocol error (the server sent a bad frame)");
    return;
  }
  if (wslay_event_get_close_received(c->ws)) {
    char why[64];
    snprintf(why, sizeof(why), "closed by the server (%u)",
             (unsigned)wslay_event_get_status_code_received(c->ws));
    finish(c, why);
  }
}

/* ---- the handshake --------------------------------------------------------
 */

static int handshake_check(struct wsclient *c, size_t head_len)
{
  const char *h = c->head.data;
  if (head_len < 13 || strncmp(h, "HTTP/1.1 101 ", 13) != 0)
    return -1;
  /* Sec-WebSocket-Accept, anywhere in the headers, case-insensitively. */
  for (const char *p = h; p < h + head_len;) {
    const char *eol = memchr(p, '\n', (size_t)(h + head_len - p));
    if (!eol)
      break;
    if ((size_t)(eol - p) > 21 &&
        strncasecmp(p, "sec-websocket-accept:", 21) == 0) {
      const char *v = p + 21;
      while (*v == ' ')
        v++;
      size_t n = strlen(c->accept);
      const char *e = eol;
      while (e > v && (e[-1] == '\r' || e[-1] == ' '))
        e--;
      return (size_t)(e - v) == n && memcmp(v, c->accept, n) == 0 ? 0 : -1;
    }
    p = eol + 1;
  }
  return -1;
}

static void alloc_cb(uv_handle_t *h, size_t size, uv_buf_t *b)
{
  (void)h;
  b->base = malloc(size);
  b->len = b->base ? size : 0;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
  struct wsclient *c = s->data;
  if (n < 0) {
    free(b->base);
    if (c->state == S_OPEN && c->ws && wslay_event_get_close_received(c->ws))
      finish(c, "closed by the server");
    else
      finish(c, n == UV_EOF ? "the server closed the connection"
                            : uv_strerror((int)n));
    return;
  }
  if (c->state == S_HANDSHAKE) {
    if (buf_append(&c->head, b->base, (size_t)n)) {
      free(b->base);
      finish(c, "out of memory");
      return;
    }
    free(b->base);
    const char *end = c->head.len >= 4
                          ? memmem(c->head.data, c->head.len, "\r\n\r\n", 4)
                          : NULL;
    if (!end) {
      if (c->head.len > HEAD_MAX)
        finish(c, "handshake answer too large");
      return;
    }
    size_t head_len = (size_t)(end - c->head.data) + 4;
    if (handshake_check(c, head_len)) {
      finish(c, "handshake refused");
      return;
    }
    c->state = S_OPEN;
    if (c->timer_open)
      uv_timer_stop(&c->timer);
    if (c->cb.on_open && !c->silent)
      c->cb.on_open(c->arg);
    if (c->state == S_OPEN && head_len < c->head.len)
      ws_input(c, c->head.data + head_len, c->head.len - head_len);
    return;
  }
  if (c->state == S_OPEN)
    ws_input(c, b->base, (size_t)n);
  free(b->base);
}

static void connected(uv_connect_t *req, int status)
{
  struct wsclient *c = req->data;
  c->pending--;
  if (c->state == S_CLOSING) {
    maybe_free(c);
    return;
  }
  if (status) {
    char why[128];
    snprintf(why, sizeof(why), "connect: %s", uv_strerror(status));
    finish(c, why);
    return;
  }
  unsigned char key[16], digest[EVP_MAX_MD_SIZE];
  char key64[32], src[96];
  unsigned dlen = 0;
  if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key)) {
    finish(c, "no randomness for the key");
    return;
  }
  EVP_EncodeBlock((unsigned char *)key64, key, sizeof(key));
  snprintf(src, sizeof(src), "%s%s", key64, WS_GUID);
  EVP_Digest(src, strlen(src), digest, &dlen, EVP_sha1(), NULL);
  EVP_EncodeBlock((unsigned char *)c->accept, digest, (int)dlen);
  char req_text[2048];
  int n = snprintf(req_text, sizeof(req_text),
                   "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\nUser-Agent: spate\r\n\r\n",
                   c->path, c->host, c->port, key64);
  if (n < 0 || (size_t)n >= sizeof(req_text) ||
      send_bytes(c, req_text, (size_t)n) ||
      uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb)) {
    finish(c, "cannot send the handshake");
    return;
  }
  c->state = S_HANDSHAKE;
}

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *ai)
{
  struct wsclient *c = req->data;
  c->gai_pending = 0;
  c->pending--;
  if (c->state == S_CLOSING) {
    uv_freeaddrinfo(ai);
    maybe_free(c);
    return;
  }
  if (status || !ai) {
    char why[128];
    snprintf(why, sizeof(why), "dns: %s", uv_strerror(status));
    uv_freeaddrinfo(ai);
    finish(c, why);
    return;
  }
  uv_tcp_init(c->loop, &c->tcp);
  c->tcp.data = c;
  c->tcp_open = 1;
  c->pending++; /* the tcp handle */
  c->conn.data = c;
  int rc = uv_tcp_connect(&c->conn, &c->tcp, ai->ai_addr, connected);
  uv_freeaddrinfo(ai);
  if (rc) {
    char why[128];
    snprintf(why, sizeof(why), "connect: %s", uv_strerror(rc));
    finish(c, why);
    return;
  }
  c->pending++;
  c->state = S_CONNECT;
}

static void timed_out(uv_timer_t *t)
{
  struct wsclient *c = t->data;
  if (c->state != S_OPEN)
    finish(c, "timeout");
}

int wsclient_open(struct wsclient **out, uv_loop_t *loop, const char *url,
                  uint64_t timeout_ms, const struct wsclient_callbacks *cb,
                  void *arg, char *err, size_t errlen)
{
  *out = NULL;
  CURLU *u = curl_url();
  char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL;
  int ok =
      u &&
      curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == 0 &&
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == 0 &&
      curl_url_get(u, CURLUPART_HOST, &host, 0) == 0 &&
      curl_url_get(u, CURLUPART_PATH, &path, 0) == 0;
  if (ok && curl_url_get(u, CURLUPART_PORT, &port, 0) != 0)
    port = NULL;
  if (ok)
    curl_url_get(u, CURLUPART_QUERY, &query, 0);
  struct wsclient *c = NULL;
  if (!ok) {
    snprintf(err, errlen, "not a URL: %s", url);
  } else if (strcmp(scheme, "ws") != 0) {
    snprintf(err, errlen, "%s:// is not supported (ws:// only for now)",
             scheme);
    ok = 0;
  } else if (!(c = calloc(1, sizeof(*c)))) {
    snprintf(err, errlen, "out of memory");
    ok = 0;
  }
  if (ok) {
    c->loop = loop;
    c->cb = *cb;
    c->arg = arg;
    /* An IPv6 literal comes back bracketed: the resolver wants it bare. */
    size_t hl = strlen(host);
    c->host =
        host[0] == '[' && hl > 2 ? strndup(host + 1, hl - 2) : strdup(host);
    c->port = strdup(port ? port : "80");
    if (asprintf(&c->path, "%s%s%s", path, query ? "?" : "",
                 query ? query : "") < 0)
      c->path = NULL;
    ok = c->host && c->port && c->path &&
         wslay_event_context_client_init(&c->ws, &ws_callbacks, c) == 0;
    if (ok)
      wslay_event_config_set_max_recv_msg_length(c->ws, WSCLIENT_MAX_MSG);
    if (!ok)
      snprintf(err, errlen, "out of memory");
  }
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_free(path);
  curl_free(query);
  curl_url_cleanup(u);
  if (!ok) {
    if (c) {
      c->pending = 0;
      maybe_free(c);
    }
    return -1;
  }
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  c->timer_open = 1;
  c->pending++; /* the timer handle */
  uv_timer_start(&c->timer, timed_out, timeout_ms ? timeout_ms : 10000, 0);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  c->gai.data = c;
  c->state = S_RESOLVE;
  int rc = uv_getaddrinfo(loop, &c->gai, resolved, c->host, c->port, &hints);
  if (rc) {
    snprintf(err, errlen, "dns: %s", uv_strerror(rc));
    c->silent = 1;
    finish(c, err);
    return -1;
  }
  c->gai_pending = 1;
  c->pending++;
  *out = c;
  return 0;
}

void wsclient_close(struct wsclient *c, int going_away)
{
  if (!c)
    return;
  c->silent = 1;
  if (c->state == S_OPEN && c->ws) {
    wslay_event_queue_close(c->ws, going_away ? 1001 : 1000, NULL, 0);
    ws_flush(c);
  }
  finish(c, "closed");
}
