/* The origin's request handling (request line, headers, query parameters,
 * every endpoint) on arbitrary bytes sent over a real loopback connection.
 * Invariants: no crash, no sanitizer report, and the server never blocks
 * the loop (each input gets a bounded number of loop iterations). */
#include "origin.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A harness, not engine code: one server for the whole fuzzing run. */
static uv_loop_t loop;
static struct origin *origin;
static int port;

static int setup(void)
{
  struct origin_options o;
  signal(SIGPIPE, SIG_IGN);
  origin_options_init(&o);
  o.pages = 50;
  o.quiet = 1;
  if (uv_loop_init(&loop) || origin_start(&origin, &loop, &o))
    return -1;
  port = origin_port(origin);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (!origin && setup())
    abort();
  if (size > 65536)
    size = 65536;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (fd < 0)
    return 0;
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) && errno != EINPROGRESS)
    goto out;
  size_t sent = 0;
  char sink[65536];
  /* Drive both ends from this thread: write what the socket takes, read
   * whatever comes back, and let the server's loop run in between. */
  for (int step = 0; step < 200; step++) {
    if (sent < size) {
      ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
      if (n > 0)
        sent += (size_t)n;
      if (sent == size)
        shutdown(fd, SHUT_WR);
    } else if (size == 0 && step == 0) {
      shutdown(fd, SHUT_WR);
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    ssize_t r = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
      break;
    if (r < 0) {
      struct pollfd p = {.fd = fd, .events = POLLIN};
      poll(&p, 1, 1);
    }
  }
out:
  close(fd);
  /* Let the server notice the close and free the connection. */
  for (int i = 0; i < 4; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  return 0;
}
