#include "fetcher.h"

#include "result.h"
#include "retry.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define SWEEP_MS 100
#define container_of(p, type, member)                                         \
  ((type *)(void *)((char *)(p)-offsetof(type, member)))

/* A socket curl polls through us. The sockets are watched in an epoll set
 * of the fetcher's own, which libuv polls as one descriptor (f->epoll):
 * a connection costs an EPOLL_CTL_ADD and a MOD when curl turns from
 * waiting for the connect to reading, and nothing at close (closing a
 * descriptor takes it out of the set). One uv_poll_t per socket cost
 * eight calls per connection (libuv checks the descriptor with an ADD and
 * a DEL, sets it non-blocking again, and changes events by DEL and ADD).
 *
 * Connection sockets (opened through open_socket) are recorded when
 * opened and forgotten when curl closes them through close_socket, the
 * pair curl documents for sockets an application opens. Between
 * transfers on a kept-alive connection curl says CURL_POLL_REMOVE and,
 * for the next request, asks for the same events again: the socket stays
 * in the set, marked idle, and leaves it only if it becomes ready while
 * idle (the peer closed it, say). Any other socket curl polls (its
 * resolver's socketpair, which it closes itself) is transient: it leaves
 * the set at CURL_POLL_REMOVE. */
struct fsock {
  curl_socket_t fd;
  struct fetcher_lane *lane;
  uint32_t ev;    /* EPOLLIN | EPOLLOUT asked for, while registered */
  int registered; /* in the fetcher's epoll set */
  int idle;       /* curl is not watching it (CURL_POLL_REMOVE) */
  int transient;  /* not a connection socket: dropped at CURL_POLL_REMOVE */
};

#define EPOLL_BATCH 256 /* events taken per wake-up */

static void check_done(struct fetcher_lane *l);

static void handle_closed(uv_handle_t *h)
{
  struct fetcher *f = h->data;
  if (h == (uv_handle_t *)&f->epoll) {
    close(f->epfd);
    f->epfd = -1;
  }
  if (--f->open_handles == 0 && f->closing && f->closed_cb)
    f->closed_cb(f);
}

static struct fsock *sock_find(const struct fetcher *f, curl_socket_t fd)
{
  return fd >= 0 && fd < f->nsocks ? f->socks[fd] : NULL;
}

/* Forgets s; with unwatch, takes it out of the set first (for a socket
 * that stays open). */
static void sock_drop(struct fetcher *f, struct fsock *s, int unwatch)
{
  if (unwatch && s->registered)
    epoll_ctl(f->epfd, EPOLL_CTL_DEL, s->fd, NULL);
  f->socks[s->fd] = NULL;
  free(s);
}

/* A record for fd; NULL when out of memory. */
static struct fsock *sock_new(struct fetcher *f, curl_socket_t fd,
                              int transient)
{
  if (fd < 0)
    return NULL;
  if (fd >= f->nsocks) {
    int n = f->nsocks ? f->nsocks : 64;
    while (n <= fd)
      n *= 2;
    struct fsock **t = realloc(f->socks, (size_t)n * sizeof(*t));
    if (!t)
      return NULL;
    memset(t + f->nsocks, 0, (size_t)(n - f->nsocks) * sizeof(*t));
    f->socks = t;
    f->nsocks = n;
  }
  /* A record still here belongs to a descriptor closed behind our back
   * (no path is known to do that; its close took it out of the set). */
  if (f->socks[fd])
    sock_drop(f, f->socks[fd], 0);
  struct fsock *s = calloc(1, sizeof(*s));
  if (!s)
    return NULL;
  s->fd = fd;
  s->transient = transient;
  f->socks[fd] = s;
  return s;
}

/* Watches s for ev. Returns 0, or -1 when epoll refuses. */
static int sock_watch(struct fetcher *f, struct fsock *s, uint32_t ev)
{
  struct epoll_event e = {.events = ev, .data.fd = s->fd};
  int op = s->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  int rc = epoll_ctl(f->epfd, op, s->fd, &e);
  /* Our record and the set disagree (the descriptor was closed and its
   * number reused, say): do what the set needs. */
  if (rc && op == EPOLL_CTL_MOD && errno == ENOENT)
    rc = epoll_ctl(f->epfd, EPOLL_CTL_ADD, s->fd, &e);
  else if (rc && op == EPOLL_CTL_ADD && errno == EEXIST)
    rc = epoll_ctl(f->epfd, EPOLL_CTL_MOD, s->fd, &e);
  if (rc)
    return -1;
  s->registered = 1;
  s->ev = ev;
  return 0;
}

/* CURLOPT_OPENSOCKETFUNCTION, clientp the transfer: the SSRF guard when
 * it is on, and the socket's record. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose,
                                 struct curl_sockaddr *addr)
{
  struct transfer *t = clientp;
  struct fetcher *f = t->fetcher;
  curl_socket_t fd =
      f->opt.guard ? netguard_opensocket(&t->guard, purpose, addr)
                   : socket(addr->family, addr->socktype, addr->protocol);
  if (fd != CURL_SOCKET_BAD && !sock_new(f, fd, 0)) {
    close(fd);
    return CURL_SOCKET_BAD;
  }
  return fd;
}

/* CURLOPT_CLOSESOCKETFUNCTION: closing takes the socket out of the set. */
static int close_socket(void *clientp, curl_socket_t fd)
{
  struct fetcher *f = clientp;
  struct fsock *s = sock_find(f, fd);
  if (s)
    sock_drop(f, s, 0);
  return close(fd);
}

/* The epoll set is ready: hand each socket's events to its lane's curl. */
static void on_epoll(uv_poll_t *h, int status, int events)
{
  struct fetcher *f = h->data;
  struct epoll_event evs[EPOLL_BATCH];
  (void)status;
  (void)events;
  int n = epoll_wait(f->epfd, evs, EPOLL_BATCH, 0);
  for (int i = 0; i < n && !f->closing; i++) {
    curl_socket_t fd = evs[i].data.fd;
    uint32_t e = evs[i].events;
    struct fsock *s = sock_find(f, fd);
    if (!s || s->idle) {
      /* Ready while no transfer uses it: curl would ignore the event,
       * and level-triggered polling would repeat it. curl finds out
       * whether the connection is still usable when it next picks it. */
      epoll_ctl(f->epfd, EPOLL_CTL_DEL, fd, NULL);
      if (s)
        s->registered = 0;
      continue;
    }
    int flags = 0;
    if (e & (EPOLLERR | EPOLLHUP)) /* curl finds out which by reading */
      e |= s->ev;
    if (e & EPOLLERR)
      flags |= CURL_CSELECT_ERR;
    if (e & EPOLLIN)
      flags |= CURL_CSELECT_IN;
    if (e & EPOLLOUT)
      flags |= CURL_CSELECT_OUT;
    struct fetcher_lane *l = s->lane; /* s may go in the call */
    curl_multi_socket_action(l->multi, fd, flags, &l->running);
    check_done(l);
  }
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp,
                     void *socketp)
{
  (void)e;
  struct fetcher_lane *l = userp;
  struct fetcher *f = l->f;
  /* By descriptor, not socketp: a record is freed when its socket is
   * closed, and the number may be another socket's by now. */
  (void)socketp;
  struct fsock *s = sock_find(f, fd);
  if (what == CURL_POLL_REMOVE) {
    if (s && s->transient)
      sock_drop(f, s, 1);
    else if (s)
      s->idle = 1;
    return 0;
  }
  if (!s && !(s = sock_new(f, fd, 1)))
    return -1;
  s->lane = l;
  s->idle = 0;
  uint32_t ev = 0;
  if (what & CURL_POLL_IN)
    ev |= EPOLLIN;
  if (what & CURL_POLL_OUT)
    ev |= EPOLLOUT;
  if ((!s->registered || ev != s->ev) && sock_watch(f, s, ev))
    return -1;
  return 0;
}

static void on_timer(uv_timer_t *t)
{
  struct fetcher_lane *l = container_of(t, struct fetcher_lane, timer);
  curl_multi_socket_action(l->multi, CURL_SOCKET_TIMEOUT, 0, &l->running);
  check_done(l);
}

static int on_curl_timer(CURLM *m, long timeout_ms, void *userp)
{
  (void)m;
  struct fetcher_lane *l = userp;
  if (timeout_ms < 0)
    uv_timer_stop(&l->timer);
  else
    /* Never call back into curl from here: a zero timeout fires on the
     * next loop iteration instead. */
    uv_timer_start(&l->timer, on_timer, (uint64_t)timeout_ms, 0);
  return 0;
}

static void inflight_add(struct fetcher *f, struct transfer *t)
{
  t->next = NULL;
  t->prev = f->inflight_tail;
  if (f->inflight_tail)
    f->inflight_tail->next = t;
  else
    f->inflight_head = t;
  f->inflight_tail = t;
  t->listed = 1;
}

static void inflight_remove(struct fetcher *f, struct transfer *t)
{
  if (!t->listed)
    return;
  if (t->prev)
    t->prev->next = t->next;
  else
    f->inflight_head = t->next;
  if (t->next)
    t->next->prev = t->prev;
  else
    f->inflight_tail = t->prev;
  t->prev = t->next = NULL;
  t->listed = 0;
}

/* Header lines arrive whole. Retry-After is kept from the last response
 * (a 100-continue or redirect resets it). */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
  struct transfer *t = arg;
  size_t len = size * n;
  t->last_byte_ms = uv_now(t->loop);
  if (!t->first_byte_ns)
    t->first_byte_ns = uv_hrtime();
  t->header_bytes += len;
  if (t->header_bytes > t->max_headers) {
    t->too_large = 1;
    return 0;
  }
  if (len > 5 && memcmp(p, "HTTP/", 5) == 0) {
    t->retry_after_ms = -1;
  } else if (t->want_validators && len > 5 &&
             (strncasecmp(p, "etag:", 5) == 0 ||
              (len > 14 && strncasecmp(p, "last-modified:", 14) == 0))) {
    int is_etag = strncasecmp(p, "etag:", 5) == 0;
    const char *v = p + (is_etag ? 5 : 14), *e = p + len;
    while (v < e && (*v == ' ' || *v == '\t'))
      v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
      e--;
    char **slot = is_etag ? &t->etag : &t->last_modified;
    free(*slot);
    *slot = e - v < 1024 ? strndup(v, (size_t)(e - v)) : NULL;
  } else if (len > 11 && strncasecmp(p, "set-cookie:", 11) == 0) {
    t->set_cookies++;
  } else if (len > 12 && strncasecmp(p, "retry-after:", 12) == 0) {
    char v[128];
    size_t k = len - 12 < sizeof(v) - 1 ? len - 12 : sizeof(v) - 1;
    memcpy(v, p + 12, k);
    v[k] = '\0';
    t->retry_after_ms = retry_after_parse(v, time(NULL));
  }
  return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
  struct transfer *t = arg;
  size_t len = size * n;
  t->last_byte_ms = uv_now(t->loop);
  if ((int64_t)(t->body.len + len) > t->max_body) {
    t->too_large = 1;
    return 0;
  }
  if (t->body.cap == 0) {
    /* Size the buffer once from Content-Length when it is sane. */
    curl_off_t cl = -1;
    curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    if (cl > 0 && cl <= t->max_body && buf_reserve(&t->body, (size_t)cl))
      return 0;
  }
  if (buf_append(&t->body, p, len))
    return 0;
  return len;
}

static const char *map_error(struct transfer *t, CURLcode rc)
{
  if (t->forced_error)
    return t->forced_error;
  if (t->too_large)
    return ERR_TOO_LARGE;
  if (t->guard.blocked && rc != CURLE_OK)
    return ERR_BLOCKED_ADDRESS;
  switch (rc) {
  case CURLE_OK:
    return NULL;
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
    return ERR_DNS;
  case CURLE_COULDNT_CONNECT:
    return ERR_CONNECT;
  case CURLE_OPERATION_TIMEDOUT:
    return ERR_TIMEOUT;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_USE_SSL_FAILED:
    return ERR_TLS;
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
  case CURLE_GOT_NOTHING:
    return ERR_RESET;
  case CURLE_PARTIAL_FILE:
    return ERR_TRUNCATED;
  case CURLE_FILESIZE_EXCEEDED:
    return ERR_TOO_LARGE;
  case CURLE_UNSUPPORTED_PROTOCOL:
    return ERR_UNSUPPORTED_SCHEME;
  case CURLE_URL_MALFORMAT:
    return ERR_BAD_URL;
  case CURLE_OUT_OF_MEMORY:
    return ERR_INTERNAL;
  default:
    return ERR_PROTOCOL;
  }
}

/* Ends transfers past their first-byte or stall deadline. Expired ones
 * are unlinked first and cancelled after the walk: cancelling runs the
 * done callback, which may start new transfers (appended to the list). */
static void sweep(uv_timer_t *h)
{
  struct fetcher *f = h->data;
  uint64_t now = uv_hrtime();
  uint64_t now_ms = uv_now(f->loop);
  uint64_t ttfb = (uint64_t)f->opt.ttfb_timeout_ms * 1000000u;
  uint64_t stall_ms = (uint64_t)f->opt.stall_timeout_ms;
  struct transfer *expired = NULL;
  for (struct transfer *t = f->inflight_head, *next; t; t = next) {
    next = t->next;
    int late;
    if (!t->first_byte_ns)
      late = ttfb && now > t->start_ns && now - t->start_ns >= ttfb;
    else
      late = stall_ms && now_ms > t->last_byte_ms &&
             now_ms - t->last_byte_ms >= stall_ms;
    if (late) {
      inflight_remove(f, t);
      t->next = expired;
      expired = t;
    }
  }
  while (expired) {
    struct transfer *t = expired;
    expired = t->next;
    t->next = NULL;
    fetcher_cancel(f, t, ERR_TIMEOUT);
  }
}

int fetcher_init(struct fetcher *f, uv_loop_t *loop,
                 const struct fetcher_options *opt, int concurrency,
                 fetcher_done_cb done, void *arg)
{
  memset(f, 0, sizeof(*f));
  f->loop = loop;
  f->opt = *opt;
  f->done = done;
  f->arg = arg;
  f->nlanes = (concurrency + FETCHER_LANE_SIZE - 1) / FETCHER_LANE_SIZE;
  if (f->nlanes < 1)
    f->nlanes = 1;
  if (f->nlanes > FETCHER_MAX_LANES)
    f->nlanes = FETCHER_MAX_LANES;
  for (int i = 0; i < f->nlanes; i++) {
    struct fetcher_lane *l = &f->lanes[i];
    l->f = f;
    l->multi = curl_multi_init();
    if (!l->multi) {
      while (i--)
        curl_multi_cleanup(f->lanes[i].multi);
      return -ENOMEM;
    }
    curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l);
    curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l);
  }
  f->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (f->epfd < 0 || uv_poll_init(loop, &f->epoll, f->epfd)) {
    int err = f->epfd < 0 ? -errno : -ENOMEM;
    if (f->epfd >= 0)
      close(f->epfd);
    for (int i = 0; i < f->nlanes; i++)
      curl_multi_cleanup(f->lanes[i].multi);
    return err;
  }
  f->epoll.data = f;
  f->open_handles++;
  uv_poll_start(&f->epoll, UV_READABLE, on_epoll);
  /* Handles only once nothing can fail: a failure above leaves the loop
   * as it was. */
  for (int i = 0; i < f->nlanes; i++) {
    uv_timer_init(loop, &f->lanes[i].timer);
    f->lanes[i].timer.data = f;
    f->open_handles++;
  }
  uv_timer_init(loop, &f->sweep);
  f->sweep.data = f;
  f->open_handles++;
  if (opt->ttfb_timeout_ms > 0 || opt->stall_timeout_ms > 0) {
    uv_timer_start(&f->sweep, sweep, SWEEP_MS, SWEEP_MS);
    uv_unref((uv_handle_t *)&f->sweep);
  }
  return 0;
}

/* CURLOPT_PREREQFUNCTION: the request is about to be sent. */
static int on_prereq(void *clientp, char *conn_primary_ip, char *conn_local_ip,
                     int conn_primary_port, int conn_local_port)
{
  struct transfer *t = clientp;
  (void)conn_primary_ip;
  (void)conn_local_ip;
  (void)conn_primary_port;
  (void)conn_local_port;
  if (t->on_sent)
    t->on_sent(t);
  return CURL_PREREQFUNC_OK;
}

/* The options every request of this fetcher shares. */
static void configure_easy(struct fetcher *f, CURL *e)
{
  const struct fetcher_options *o = &f->opt;
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  if (o->user_agent)
    curl_easy_setopt(e, CURLOPT_USERAGENT, o->user_agent);
  if (o->connect_timeout_ms > 0)
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
  if (o->total_timeout_ms > 0)
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->total_timeout_ms);
  if (o->max_body > 0)
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_body);
  if (o->buffer_size > 0)
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, o->buffer_size);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, f);
  if (o->insecure) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (o->cookies)
    cookies_attach(o->cookies, e);
}

static CURL *take_easy(struct fetcher *f)
{
  if (f->npool)
    return f->pool[--f->npool];
  CURL *e = curl_easy_init();
  if (e)
    configure_easy(f, e);
  return e;
}

static void give_easy(struct fetcher *f, CURL *e)
{
  if (f->npool == f->pool_cap) {
    int cap = f->pool_cap ? f->pool_cap * 2 : 64;
    CURL **p = realloc(f->pool, (size_t)cap * sizeof(*p));
    if (!p) {
      curl_easy_cleanup(e);
      return;
    }
    f->pool = p;
    f->pool_cap = cap;
  }
  /* No curl_easy_reset: the handle keeps its configuration for the next
   * request, and fetcher_start overwrites everything per-request. */
  f->pool[f->npool++] = e;
}

void fetcher_close_idle(struct fetcher *f)
{
  /* curl closes the oldest idle connection whenever its cache holds more
   * than this: each connection, then, once its transfer is over. */
  for (int i = 0; i < f->nlanes; i++)
    curl_multi_setopt(f->lanes[i].multi, CURLMOPT_MAXCONNECTS, 1L);
}

int fetcher_header_name_ok(const char *s, size_t n)
{
  static const char tchar[] = "!#$%&'*+-.^_`|~";
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
          (s[i] >= '0' && s[i] <= '9') || (s[i] && strchr(tchar, s[i]))))
      return 0;
  return n > 0;
}

int fetcher_header_value_ok(const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
      return 0;
  return 1;
}

int fetcher_start(struct fetcher *f, struct transfer *t, const char *url,
                  CURLU *uh)
{
  const struct fetcher_options *o = &f->opt;
  CURL *e = take_easy(f);
  if (!e)
    return -ENOMEM;
  buf_free(&t->body);
  t->easy = e;
  t->start_ns = uv_hrtime();
  t->first_byte_ns = 0;
  t->last_byte_ms = 0;
  t->loop = f->loop;
  t->header_bytes = 0;
  t->too_large = 0;
  t->forced_error = NULL;
  t->status = 0;
  t->error = NULL;
  t->ttfb_ms = -1;
  t->retry_after_ms = -1;
  t->max_body = o->max_body;
  t->max_headers = o->max_headers;
  free(t->content_type);
  free(t->location);
  t->content_type = t->location = NULL;

  /* A pooled handle keeps the constant options set when it was created
   * (configure_easy); only what differs per request is set here. */
  curl_easy_setopt(e, CURLOPT_URL, url);
  /* Always set: a pooled handle must not keep the last transfer's. curl
   * fetches what uh says and takes url as its string form, which url_check
   * made from uh, so the two agree. */
  curl_easy_setopt(e, CURLOPT_CURLU, uh);
  curl_easy_setopt(e, CURLOPT_PRIVATE, t);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
  curl_easy_setopt(e, CURLOPT_PREREQDATA, t);
  /* curl only reads the list: the run's -H list is shared by every
   * handle of every loop. */
  curl_easy_setopt(e, CURLOPT_HTTPHEADER,
                   t->req_headers    ? t->req_headers
                   : t->cross_origin ? (struct curl_slist *)o->headers_cross
                                     : (struct curl_slist *)o->headers);
  if (o->cookie)
    curl_easy_setopt(e, CURLOPT_COOKIE, t->cross_origin ? NULL : o->cookie);
  t->set_cookies = 0;
  if (t->timeout_ms > 0 || o->total_timeout_ms > 0)
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                     t->timeout_ms > 0 ? t->timeout_ms : o->total_timeout_ms);
  free(t->etag);
  free(t->last_modified);
  t->etag = t->last_modified = NULL;
  t->guard.blocked = 0;
  t->guard.reason = 0;
  t->guard.proxies =
      o->proxies ? netguard_env_proxy_url(o->proxies, uh, url) : NULL;
  t->fetcher = f;
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
  curl_easy_setopt(e, CURLOPT_PIPEWAIT,
                   strncasecmp(url, "https:", 6) == 0 ? 1L : 0L);
  /* The least busy lane: connections to a host spread evenly. */
  struct fetcher_lane *l = &f->lanes[0];
  for (int i = 1; i < f->nlanes; i++)
    if (f->lanes[i].active < l->active)
      l = &f->lanes[i];
  if (curl_multi_add_handle(l->multi, e) != CURLM_OK) {
    give_easy(f, e);
    t->easy = NULL;
    return -EINVAL;
  }
  t->lane = l;
  l->active++;
  inflight_add(f, t);
  return 0;
}

/* Collects what the caller needs, gives the easy handle back and reports
 * the transfer. */
static void finish(struct fetcher *f, struct transfer *t, CURLcode rc)
{
  CURL *e = t->easy;
  long status = 0;
  char *s = NULL;
  inflight_remove(f, t);
  /* A pooled handle is not reset between requests: what it says about a
   * response counts only if this transfer received one. */
  if (t->first_byte_ns)
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  t->status = (int)status;
  t->error = map_error(t, rc);
  if (t->first_byte_ns) {
    t->ttfb_ms = (double)(t->first_byte_ns - t->start_ns) / 1e6;
    if (curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &s) == CURLE_OK && s)
      t->content_type = strdup(s);
  }
  s = NULL;
  if (status >= 300 && status < 400 &&
      curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &s) == CURLE_OK && s)
    t->location = strdup(s);
  if (t->set_cookies && f->opt.cookies)
    cookies_seen(f->opt.cookies, e, t->set_cookies);

  curl_multi_remove_handle(t->lane->multi, e);
  t->lane->active--;
  t->lane = NULL;
  t->easy = NULL;
  give_easy(f, e);
  f->done(f, t, f->arg);
}

static void check_done(struct fetcher_lane *l)
{
  struct fetcher *f = l->f;
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(l->multi, &left))) {
    if (m->msg != CURLMSG_DONE)
      continue;
    struct transfer *t = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
    finish(f, t, m->data.result);
  }
}

void fetcher_cancel(struct fetcher *f, struct transfer *t, const char *err)
{
  if (!t->lane)
    return;
  t->forced_error = err;
  finish(f, t, CURLE_ABORTED_BY_CALLBACK);
}

void transfer_release(struct transfer *t)
{
  buf_free(&t->body);
  free(t->content_type);
  free(t->location);
  free(t->etag);
  free(t->last_modified);
  t->content_type = t->location = NULL;
  t->etag = t->last_modified = NULL;
}

void fetcher_close(struct fetcher *f, void (*closed)(struct fetcher *f))
{
  f->closing = 1;
  f->closed_cb = closed;
  uv_timer_stop(&f->sweep);
  /* Cleaning up a multi closes its cached connections, which calls
   * close_socket for each: do it before our handles go. */
  for (int i = 0; i < f->nlanes; i++) {
    uv_timer_stop(&f->lanes[i].timer);
    curl_multi_cleanup(f->lanes[i].multi);
    f->lanes[i].multi = NULL;
  }
  for (int i = 0; i < f->npool; i++)
    curl_easy_cleanup(f->pool[i]);
  free(f->pool);
  f->pool = NULL;
  f->npool = 0;
  /* Every socket should be closed by now; a record left over (a socket
   * curl never closed through us) goes with the set. */
  for (int fd = 0; fd < f->nsocks; fd++)
    if (f->socks[fd])
      sock_drop(f, f->socks[fd], 0);
  free(f->socks);
  f->socks = NULL;
  f->nsocks = 0;
  uv_close((uv_handle_t *)&f->epoll, handle_closed);
  for (int i = 0; i < f->nlanes; i++)
    uv_close((uv_handle_t *)&f->lanes[i].timer, handle_closed);
  uv_close((uv_handle_t *)&f->sweep, handle_closed);
}
