/* tcpserver: the TCP side of spate's two servers (httpd, origin) on a
 * libuv loop: the listener, taking connections even when there is no
 * memory for them, one read buffer for every connection, a connection's
 * two handles and their close or reset, and the linger after our FIN. What
 * is said over a connection (HTTP, WebSocket) stays with the owner.
 *
 * Ownership: the owner allocates both structs, embedding struct tcpserver
 * in its server and struct tcpserver_conn in each connection, and frees
 * them only once their handles have closed: a connection from
 * calls->closed, the server from calls->free, which runs once after
 * tcpserver_close, when every handle counted in the server has closed.
 * Everything runs on the loop's thread. No globals. */
#ifndef SPATE_TCPSERVER_H
#define SPATE_TCPSERVER_H

#include <sys/socket.h>
#include <uv.h>

#define TCPSERVER_READ_SIZE (64 * 1024)
#define TCPSERVER_LINGER_MS 2000 /* after our FIN, wait for the peer's */

struct tcpserver;
struct tcpserver_conn;

/* The owner's part; every callback runs on the loop. */
struct tcpserver_calls {
  /* A connection is waiting: allocate one and tcpserver_conn_accept it.
   * Returns 0 (also when that connection failed and is closing), or -1
   * when there is no memory for it: the server then takes it into a spare
   * handle and closes it, because libuv accepts nothing more until the
   * waiting connection is taken. */
  int (*accept)(struct tcpserver *s);
  /* Every connection's read callback (uv_read_cb); the buffer is the
   * server's rbuf, to be consumed or copied before it returns. */
  uv_read_cb read;
  /* Ends the connection, as the owner does (its state, then
   * tcpserver_conn_close): the linger is over or could not start. */
  void (*end)(struct tcpserver_conn *t);
  /* Both of t's handles have closed: the owner may free it. */
  void (*closed)(struct tcpserver_conn *t);
  /* Stopped and every counted handle closed: the owner frees itself, and
   * s with it; tcpserver_close's done follows. */
  void (*free)(struct tcpserver *s);
};

struct tcpserver {
  uv_loop_t *loop;
  uv_tcp_t listener;
  uv_tcp_t spare; /* takes a connection we have no memory for */
  const struct tcpserver_calls *calls;
  void *data; /* the owner's */
  /* Open handles: the listener, the spare, every connection's two, and
   * the owner's own that it counts with tcpserver_ref. */
  int handles;
  int stopping; /* tcpserver_close was called: nothing more is accepted */
  int spare_busy, spare_again;
  void (*done)(void *arg);
  void *done_arg;
  char rbuf[TCPSERVER_READ_SIZE];
};

/* A connection's handles. tcp.data and timer.data are the owner's (its
 * connection). The timer is the owner's for anything (idle, delays) until
 * tcpserver_conn_shutdown, which uses it for the linger. */
struct tcpserver_conn {
  struct tcpserver *srv;
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_shutdown_t sreq;
  int handles; /* open; calls->closed runs when it reaches 0 */
  int reading; /* uv_read_start in effect */
  int eof;     /* the peer has sent FIN (set by the owner's read callback) */
};

/* Makes the listener's handle (handles = 1); the owner then binds or
 * opens it (uv_tcp_bind, uv_tcp_open on s->listener) and calls
 * tcpserver_listen. Returns 0 or a UV_E* code, with no handle open. calls
 * must outlive s. */
int tcpserver_init(struct tcpserver *s, uv_loop_t *loop,
                   const struct tcpserver_calls *calls, void *data);
int tcpserver_listen(struct tcpserver *s, int backlog);
/* Stops accepting and closes the listener (also after a failed bind or
 * listen). Once every counted handle has closed (connections are the
 * owner's to end), calls->free runs, then done(arg) if done is not NULL.
 * Call once. */
void tcpserver_close(struct tcpserver *s, void (*done)(void *arg), void *arg);
/* Counts one of the owner's handles (a timer), which then has to close
 * before calls->free: with tcpserver_close_handle, which takes over its
 * data pointer. */
void tcpserver_ref(struct tcpserver *s);
void tcpserver_close_handle(struct tcpserver *s, uv_handle_t *h);
/* The port in a bound address (IPv4 or IPv6). */
int tcpserver_port_of(const struct sockaddr_storage *ss);

/* From calls->accept: opens t's handles (counted in t->handles and
 * s->handles, their data set to data) and accepts the waiting connection.
 * Returns 0 or a UV_E* code; either way the handles are open and end with
 * tcpserver_conn_close. */
int tcpserver_conn_accept(struct tcpserver *s, struct tcpserver_conn *t,
                          void *data);
/* uv_read_start with the server's buffer and calls->read. Returns 0 (also
 * when already reading) or a UV_E* code. */
int tcpserver_conn_read_start(struct tcpserver_conn *t);
void tcpserver_conn_read_stop(struct tcpserver_conn *t);
/* Closes both handles (calls->closed follows); the peer gets FIN, or RST
 * with tcpserver_conn_reset. Call once. */
void tcpserver_conn_close(struct tcpserver_conn *t);
void tcpserver_conn_reset(struct tcpserver_conn *t);
/* Sends FIN once the writes queued are out, then reads and discards until
 * the peer's FIN or TCPSERVER_LINGER_MS, and calls calls->end: closing
 * while the peer still sends would make the kernel answer with RST, which
 * can destroy our last bytes before the peer reads them. calls->end also
 * runs at once when the shutdown fails. */
void tcpserver_conn_shutdown(struct tcpserver_conn *t);

#endif
