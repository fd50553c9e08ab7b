#include "wsclient.h"

#include "buf.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <wslay/wslay.h>

#define HEAD_MAX (16 << 10)
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum state { S_RESOLVE, S_CONNECT, S_TLS, S_HANDSHAKE, S_OPEN, S_CLOSING };

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
  /* The caller's own request headers, "Name: value\r\n" each (or NULL),
   * and whether one of them is the User-Agent. */
  char *extra;
  int own_agent;
  /* The value of their Sec-WebSocket-Protocol, if any: the subprotocols
   * offered, one of which the server may pick. Points into extra. */
  const char *protocols;
  struct buf head; /* the handshake answer so far */
  wslay_event_context_ptr ws;
  const uint8_t *in;
  size_t in_len;
  struct buf out; /* what wslay wrote during one wslay_event_send */
  /* wss://: OpenSSL over two memory BIOs, so that libuv does the I/O:
   * what arrives goes into rbio, what SSL writes is taken from wbio. */
  int tls;
  int tls_up; /* the TLS handshake is done */
  SSL_CTX *tls_ctx;
  SSL *ssl;
  BIO *rbio, *wbio;    /* owned by ssl */
  uint64_t timeout_ms; /* connect + handshake; then the keepalive period */
  int heard;           /* bytes came since the keepalive timer last ran */
  int ping_out;        /* our ping is unanswered (nothing heard since) */
  int silent;          /* wsclient_close called: no more callbacks */
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
  SSL_free(c->ssl);
  SSL_CTX_free(c->tls_ctx);
  buf_free(&c->head);
  buf_free(&c->out);
  free(c->host);
  free(c->port);
  free(c->path);
  free(c->extra);
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

/* Writes bytes to the socket as they are (TLS records, or plain text). */
static int net_send(struct wsclient *c, const void *data, size_t len)
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

/* ---- TLS ------------------------------------------------------------------
 */

/* Sends what SSL has written into wbio. */
static int tls_flush(struct wsclient *c)
{
  char tmp[16384];
  int n;
  while (BIO_ctrl_pending(c->wbio) > 0) {
    n = BIO_read(c->wbio, tmp, sizeof(tmp));
    if (n <= 0 || net_send(c, tmp, (size_t)n))
      return -1;
  }
  return 0;
}

/* Ends the connection with what OpenSSL says went wrong. */
static void tls_fail(struct wsclient *c, const char *when)
{
  char why[256];
  long v = c->ssl ? SSL_get_verify_result(c->ssl) : X509_V_OK;
  unsigned long e = ERR_peek_last_error();
  if (v != X509_V_OK)
    snprintf(why, sizeof(why), "tls: certificate verify failed: %s",
             X509_verify_cert_error_string(v));
  else if (e)
    snprintf(why, sizeof(why), "tls: %s: %s", when,
             ERR_reason_error_string(e) ? ERR_reason_error_string(e)
                                        : "error");
  else
    snprintf(why, sizeof(why), "tls: %s failed", when);
  ERR_clear_error();
  finish(c, why);
}

/* Readies c->ssl for a handshake with c->host: the system's CAs (or
 * SSL_CERT_FILE / SSL_CERT_DIR), TLS 1.2 or later, the name (or address)
 * checked, SNI, ALPN http/1.1. */
static int tls_setup(struct wsclient *c)
{
  static const unsigned char alpn[] = "\x08http/1.1";
  unsigned char addr[16];
  c->tls_ctx = SSL_CTX_new(TLS_client_method());
  if (!c->tls_ctx ||
      !SSL_CTX_set_min_proto_version(c->tls_ctx, TLS1_2_VERSION) ||
      SSL_CTX_set_default_verify_paths(c->tls_ctx) != 1 ||
      SSL_CTX_set_alpn_protos(c->tls_ctx, alpn, sizeof(alpn) - 1) != 0)
    return -1;
  SSL_CTX_set_verify(c->tls_ctx, SSL_VERIFY_PEER, NULL);
  if (!(c->ssl = SSL_new(c->tls_ctx)))
    return -1;
  c->rbio = BIO_new(BIO_s_mem());
  c->wbio = BIO_new(BIO_s_mem());
  if (!c->rbio || !c->wbio) {
    BIO_free(c->rbio);
    BIO_free(c->wbio);
    c->rbio = c->wbio = NULL;
    return -1;
  }
  BIO_set_mem_eof_return(c->rbio, -1); /* empty: "more to come" */
  SSL_set_bio(c->ssl, c->rbio, c->wbio);
  if (inet_pton(AF_INET, c->host, addr) == 1 ||
      inet_pton(AF_INET6, c->host, addr) == 1) {
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), c->host) != 1)
      return -1;
  } else if (SSL_set_tlsext_host_name(c->ssl, c->host) != 1 ||
             SSL_set1_host(c->ssl, c->host) != 1) {
    return -1;
  }
  SSL_set_connect_state(c->ssl);
  return 0;
}

/* ---- wslay ----------------------------------------------------------------
 */

/* Sends stream bytes: through TLS for wss://. */
static int send_bytes(struct wsclient *c, const void *data, size_t len)
{
  if (!c->tls)
    return net_send(c, data, len);
  if (!len || !c->tcp_open)
    return 0;
  ERR_clear_error();
  if (len > INT_MAX || SSL_write(c->ssl, data, (int)len) != (int)len)
    return -1;
  return tls_flush(c);
}

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

/* Whether the subprotocol v[0..n) is one of those the request offered
 * (RFC 6455, 4.1: the server picks one, or answers none). */
static int protocol_offered(const struct wsclient *c, const char *v, size_t n)
{
  const char *p = c->protocols; /* ends at its line's CRLF */
  while (p && *p && *p != '\r') {
    while (*p == ' ' || *p == '\t' || *p == ',')
      p++;
    size_t k = strcspn(p, ", \t\r");
    if (k && k == n && memcmp(p, v, n) == 0)
      return 1;
    p += k;
  }
  return 0;
}

/* The server's answer (RFC 6455, 4.1): 101, our Sec-WebSocket-Accept, a
 * subprotocol only among those offered, and no extension (spate offers
 * none). Header names case-insensitively, anywhere in the head. */
static int handshake_check(struct wsclient *c, size_t head_len)
{
  const char *h = c->head.data;
  int accepted = 0;
  if (head_len < 13 || strncmp(h, "HTTP/1.1 101 ", 13) != 0)
    return -1;
  for (const char *p = h; p < h + head_len;) {
    const char *eol = memchr(p, '\n', (size_t)(h + head_len - p));
    if (!eol)
      break;
    const char *colon = memchr(p, ':', (size_t)(eol - p));
    if (colon) {
      size_t name = (size_t)(colon - p);
      const char *v = colon + 1, *e = eol;
      while (v < e && (*v == ' ' || *v == '\t'))
        v++;
      while (e > v && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
      size_t n = (size_t)(e - v);
      if (name == 20 && strncasecmp(p, "sec-websocket-accept", 20) == 0) {
        if (n != strlen(c->accept) || memcmp(v, c->accept, n) != 0)
          return -1;
        accepted = 1;
      } else if (name == 22 &&
                 strncasecmp(p, "sec-websocket-protocol", 22) == 0) {
        if (!protocol_offered(c, v, n))
          return -1;
      } else if (name == 24 &&
                 strncasecmp(p, "sec-websocket-extensions", 24) == 0) {
        if (n)
          return -1;
      }
    }
    p = eol + 1;
  }
  return accepted ? 0 : -1;
}

static void alloc_cb(uv_handle_t *h, size_t size, uv_buf_t *b)
{
  (void)h;
  b->base = malloc(size);
  b->len = b->base ? size : 0;
}

/* Every timeout_ms once open: after a quiet period a ping; after another
 * with nothing heard, the server is taken for gone (a half-open TCP
 * connection would otherwise look open forever). */
static void keepalive(uv_timer_t *t)
{
  struct wsclient *c = t->data;
  if (c->state != S_OPEN)
    return;
  if (c->heard) {
    c->heard = 0;
    c->ping_out = 0;
    return;
  }
  if (c->ping_out) {
    char why[80];
    snprintf(why, sizeof(why), "no answer to a ping in %.1f s",
             (double)c->timeout_ms / 1000);
    finish(c, why);
    return;
  }
  struct wslay_event_msg ping = {WSLAY_PING, (const uint8_t *)"spate", 5};
  if (wslay_event_queue_msg(c->ws, &ping)) {
    finish(c, "out of memory");
    return;
  }
  c->ping_out = 1;
  ws_flush(c);
}

/* The stream's bytes (decrypted for wss://): the handshake answer, then
 * frames. */
static void stream_input(struct wsclient *c, const char *data, size_t n)
{
  c->heard = 1;
  if (c->state == S_HANDSHAKE) {
    if (buf_append(&c->head, data, n)) {
      finish(c, "out of memory");
      return;
    }
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
      uv_timer_start(&c->timer, keepalive, c->timeout_ms, c->timeout_ms);
    if (c->cb.on_open && !c->silent)
      c->cb.on_open(c->arg);
    if (c->state == S_OPEN && head_len < c->head.len)
      ws_input(c, c->head.data + head_len, c->head.len - head_len);
    return;
  }
  if (c->state == S_OPEN)
    ws_input(c, data, n);
}

/* The upgrade request (RFC 6455, 4.1), once the connection (and TLS) is
 * up. */
static void send_upgrade(struct wsclient *c)
{
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
  int v6 = strchr(c->host, ':') != NULL; /* an IPv6 literal: bracketed */
  char *req = NULL;
  int n = asprintf(&req,
                   "GET %s HTTP/1.1\r\nHost: %s%s%s:%s\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                   "%s%s\r\n",
                   c->path, v6 ? "[" : "", c->host, v6 ? "]" : "", c->port,
                   key64, c->own_agent ? "" : "User-Agent: spate\r\n",
                   c->extra ? c->extra : "");
  int failed = n < 0 || send_bytes(c, req, (size_t)n);
  if (n >= 0)
    free(req);
  if (failed) {
    finish(c, "cannot send the handshake");
    return;
  }
  c->state = S_HANDSHAKE;
}

/* TLS records in: the handshake, then the stream's bytes out of SSL. */
static void tls_input(struct wsclient *c, const char *data, size_t n)
{
  char buf[16384];
  ERR_clear_error();
  if (BIO_write(c->rbio, data, (int)n) != (int)n) {
    finish(c, "out of memory");
    return;
  }
  if (!c->tls_up) {
    int r = SSL_do_handshake(c->ssl);
    if (r != 1) {
      int e = SSL_get_error(c->ssl, r);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
        tls_fail(c, "handshake");
      else if (tls_flush(c))
        finish(c, "write failed");
      return;
    }
    c->tls_up = 1;
    if (tls_flush(c)) {
      finish(c, "write failed");
      return;
    }
    send_upgrade(c);
    if (c->state == S_CLOSING)
      return;
  }
  for (;;) {
    ERR_clear_error(); /* stream_input ran between: a clean queue */
    int r = SSL_read(c->ssl, buf, sizeof(buf));
    if (r > 0) {
      stream_input(c, buf, (size_t)r);
      if (c->state == S_CLOSING)
        return;
      continue;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ)
      break;
    if (e == SSL_ERROR_ZERO_RETURN) /* close_notify: the end of the stream */
      finish(c, c->ws && wslay_event_get_close_received(c->ws)
                    ? "closed by the server"
                    : "the server closed the connection");
    else
      tls_fail(c, "read");
    return;
  }
  if (tls_flush(c))
    finish(c, "write failed");
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
  if (n > 0 && c->state != S_CLOSING) {
    if (c->tls)
      tls_input(c, b->base, (size_t)n);
    else
      stream_input(c, b->base, (size_t)n);
  }
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
  if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb)) {
    finish(c, "cannot read");
    return;
  }
  if (!c->tls) {
    send_upgrade(c);
    return;
  }
  /* The ClientHello; the rest of the handshake follows what arrives. */
  c->state = S_TLS;
  ERR_clear_error();
  if (tls_setup(c)) {
    tls_fail(c, "setup");
    return;
  }
  int r = SSL_do_handshake(c->ssl);
  if (r != 1 && SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ)
    tls_fail(c, "handshake");
  else if (tls_flush(c))
    finish(c, "write failed");
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

/* The caller's header lines into c->extra, each ended by CRLF (NULL for
 * none), noting a User-Agent and where a Sec-WebSocket-Protocol's value
 * starts. -1 when out of memory. */
static int join_headers(struct wsclient *c, const char *const *headers,
                        int nheaders)
{
  struct buf b = {0};
  size_t protocols = SIZE_MAX; /* where the value starts in b */
  for (int i = 0; i < nheaders; i++) {
    if (strncasecmp(headers[i], "User-Agent:", 11) == 0)
      c->own_agent = 1;
    else if (protocols == SIZE_MAX &&
             strncasecmp(headers[i], "Sec-WebSocket-Protocol:", 23) == 0)
      protocols = b.len + 23;
    if (buf_puts(&b, headers[i]) || buf_puts(&b, "\r\n")) {
      buf_free(&b);
      return -1;
    }
  }
  c->extra = buf_steal(&b);
  if (protocols != SIZE_MAX)
    c->protocols = c->extra + protocols;
  return 0;
}

int wsclient_open(struct wsclient **out, uv_loop_t *loop, const char *url,
                  const char *const *headers, int nheaders,
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
  } else if (strcmp(scheme, "ws") != 0 && strcmp(scheme, "wss") != 0) {
    snprintf(err, errlen, "%s:// is not a WebSocket URL (ws:// or wss://)",
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
    c->tls = strcmp(scheme, "wss") == 0;
    c->port = strdup(port ? port : c->tls ? "443" : "80");
    if (asprintf(&c->path, "%s%s%s", path, query ? "?" : "",
                 query ? query : "") < 0)
      c->path = NULL;
    ok = c->host && c->port && c->path &&
         join_headers(c, headers, nheaders) == 0 &&
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
  c->timeout_ms = timeout_ms ? timeout_ms : 10000;
  uv_timer_start(&c->timer, timed_out, c->timeout_ms, 0);
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
