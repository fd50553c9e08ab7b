/* tcpserver: listener, spare handle, connections' handles and linger (see
 * tcpserver.h).
 *
 * The spare handle. libuv accepts nothing more until the connection it
 * announced is taken, so one that the owner has no memory for is taken
 * into the spare handle and closed at once; one announced while the spare
 * is closing is taken when it has closed (spare_again).
 *
 * A connection's handles are closed by the callbacks here, found from the
 * handle by its place in struct tcpserver_conn, because the handles' data
 * belongs to the owner. */
#include "tcpserver.h"

#include <netinet/in.h>
#include <stddef.h>

static void on_connection(uv_stream_t *server, int status);

static void maybe_free(struct tcpserver *s)
{
  if (!s->stopping || s->handles > 0)
    return;
  void (*done)(void *) = s->done;
  void *arg = s->done_arg;
  s->calls->free(s); /* s is gone */
  if (done)
    done(arg);
}

static void on_spare_close(uv_handle_t *hd)
{
  struct tcpserver *s = hd->data;
  s->handles--;
  s->spare_busy = 0;
  if (s->spare_again && !s->stopping) {
    s->spare_again = 0;
    on_connection((uv_stream_t *)&s->listener, 0);
  }
  maybe_free(s);
}

static void spare_take(struct tcpserver *s)
{
  if (s->spare_busy) {
    s->spare_again = 1;
    return;
  }
  s->spare_busy = 1;
  uv_tcp_init(s->loop, &s->spare);
  s->spare.data = s;
  s->handles++;
  uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&s->spare);
  uv_close((uv_handle_t *)&s->spare, on_spare_close);
}

static void on_connection(uv_stream_t *server, int status)
{
  struct tcpserver *s = server->data;
  if (status < 0 || s->stopping)
    return;
  if (s->calls->accept(s))
    spare_take(s);
}

static void unref(struct tcpserver *s)
{
  s->handles--;
  maybe_free(s);
}

/* The listener's, and the owner's counted handles': data is s. */
static void on_counted_close(uv_handle_t *hd)
{
  unref(hd->data);
}

int tcpserver_init(struct tcpserver *s, uv_loop_t *loop,
                   const struct tcpserver_calls *calls, void *data)
{
  int rc = uv_tcp_init(loop, &s->listener);
  if (rc)
    return rc;
  s->loop = loop;
  s->calls = calls;
  s->data = data;
  s->listener.data = s;
  s->handles = 1;
  return 0;
}

int tcpserver_listen(struct tcpserver *s, int backlog)
{
  return uv_listen((uv_stream_t *)&s->listener, backlog, on_connection);
}

void tcpserver_close(struct tcpserver *s, void (*done)(void *arg), void *arg)
{
  s->stopping = 1;
  s->done = done;
  s->done_arg = arg;
  uv_close((uv_handle_t *)&s->listener, on_counted_close);
}

void tcpserver_ref(struct tcpserver *s)
{
  s->handles++;
}

void tcpserver_close_handle(struct tcpserver *s, uv_handle_t *h)
{
  h->data = s;
  uv_close(h, on_counted_close);
}

int tcpserver_port_of(const struct sockaddr_storage *ss)
{
  return ntohs(ss->ss_family == AF_INET6
                   ? ((const struct sockaddr_in6 *)ss)->sin6_port
                   : ((const struct sockaddr_in *)ss)->sin_port);
}

/* ---- connections ------------------------------------------------------- */

static struct tcpserver_conn *conn_of_tcp(void *tcp)
{
  return (void *)((char *)tcp - offsetof(struct tcpserver_conn, tcp));
}

static struct tcpserver_conn *conn_of_timer(void *timer)
{
  return (void *)((char *)timer - offsetof(struct tcpserver_conn, timer));
}

static void conn_closed(struct tcpserver_conn *t)
{
  struct tcpserver *s = t->srv;
  s->handles--;
  if (--t->handles > 0)
    return;
  s->calls->closed(t); /* t may be gone */
  maybe_free(s);
}

static void on_tcp_close(uv_handle_t *hd)
{
  conn_closed(conn_of_tcp(hd));
}

static void on_timer_close(uv_handle_t *hd)
{
  conn_closed(conn_of_timer(hd));
}

int tcpserver_conn_accept(struct tcpserver *s, struct tcpserver_conn *t,
                          void *data)
{
  t->srv = s;
  uv_tcp_init(s->loop, &t->tcp);
  uv_timer_init(s->loop, &t->timer);
  t->tcp.data = data;
  t->timer.data = data;
  t->handles = 2;
  s->handles += 2;
  return uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&t->tcp);
}

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *b)
{
  struct tcpserver_conn *t = conn_of_tcp(hd);
  (void)suggested;
  /* One buffer for all: the read callback consumes or copies it. */
  *b = uv_buf_init(t->srv->rbuf, TCPSERVER_READ_SIZE);
}

int tcpserver_conn_read_start(struct tcpserver_conn *t)
{
  int rc =
      uv_read_start((uv_stream_t *)&t->tcp, on_alloc, t->srv->calls->read);
  if (rc && rc != UV_EALREADY)
    return rc;
  t->reading = 1;
  return 0;
}

void tcpserver_conn_read_stop(struct tcpserver_conn *t)
{
  uv_read_stop((uv_stream_t *)&t->tcp);
  t->reading = 0;
}

void tcpserver_conn_close(struct tcpserver_conn *t)
{
  uv_close((uv_handle_t *)&t->tcp, on_tcp_close);
  uv_close((uv_handle_t *)&t->timer, on_timer_close);
}

void tcpserver_conn_reset(struct tcpserver_conn *t)
{
  /* SO_LINGER 0 then close: the peer gets RST, not FIN. */
  if (uv_tcp_close_reset(&t->tcp, on_tcp_close))
    uv_close((uv_handle_t *)&t->tcp, on_tcp_close);
  uv_close((uv_handle_t *)&t->timer, on_timer_close);
}

static void on_linger_end(uv_timer_t *timer)
{
  struct tcpserver_conn *t = conn_of_timer(timer);
  t->srv->calls->end(t);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
  struct tcpserver_conn *t = req->data;
  /* Ended meanwhile: the owner has closed the handles (status is then
   * UV_ECANCELED). */
  if (uv_is_closing((uv_handle_t *)&t->tcp))
    return;
  if (status < 0 || t->eof || tcpserver_conn_read_start(t)) {
    t->srv->calls->end(t);
    return;
  }
  uv_timer_start(&t->timer, on_linger_end, TCPSERVER_LINGER_MS, 0);
}

void tcpserver_conn_shutdown(struct tcpserver_conn *t)
{
  t->sreq.data = t;
  if (uv_shutdown(&t->sreq, (uv_stream_t *)&t->tcp, on_shutdown))
    t->srv->calls->end(t);
}
