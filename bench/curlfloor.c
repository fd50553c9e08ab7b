/* bench/curlfloor: what libcurl alone costs on the fetch-list bench.
 *
 *   build/curlfloor URLFILE [CONCURRENCY]
 *
 * The least a libcurl client can do per URL: the multi_socket API on an
 * epoll set of its own, easy handles reused, the options spate sets that
 * change curl's work (no signals, Accept-Encoding with every decoder),
 * bodies thrown away as they arrive, nothing parsed, hashed or written.
 * A socket stays in the epoll set between transfers (as in spate's
 * fetcher) so that keep-alive reuse costs no epoll_ctl. It prints
 * "DONE OK" (transfers finished, of them with status 200) on stdout.
 *
 * spate's fetch runs on the same library, so this client's pages/s and
 * CPU per page are the ceiling for spate on that bench, below wrk's
 * (bench/README.md, "libcurl's floor"). Not a tool: no retries, no
 * timeouts beyond curl's, one host's worth of connection reuse. */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

struct floor {
  CURLM *multi;
  int epfd;
  long long deadline_ms; /* curl's timer, CLOCK_MONOTONIC; -1: none */
  unsigned char *idle;   /* by descriptor: curl said CURL_POLL_REMOVE */
  int nidle;
};

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
  (void)p;
  (void)arg;
  return size * n;
}

static int watch(CURL *e, curl_socket_t s, int what, void *arg, void *sockp)
{
  struct floor *fl = arg;
  (void)e;
  (void)sockp;
  if (s < 0)
    return 0;
  if (s >= fl->nidle) {
    int n = s * 2 + 64;
    unsigned char *p = realloc(fl->idle, (size_t)n);
    if (!p)
      return -1;
    memset(p + fl->nidle, 0, (size_t)(n - fl->nidle));
    fl->idle = p;
    fl->nidle = n;
  }
  if (what == CURL_POLL_REMOVE) {
    /* Kept in the set: the next transfer on this connection asks for
     * the same events. Closed descriptors leave the set by themselves. */
    fl->idle[s] = 1;
    return 0;
  }
  fl->idle[s] = 0;
  struct epoll_event ev = {.data.fd = s};
  ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) |
              ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
  if (epoll_ctl(fl->epfd, EPOLL_CTL_MOD, s, &ev) < 0 && errno == ENOENT)
    epoll_ctl(fl->epfd, EPOLL_CTL_ADD, s, &ev);
  return 0;
}

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int on_timer(CURLM *m, long ms, void *arg)
{
  struct floor *fl = arg;
  (void)m;
  fl->deadline_ms = ms < 0 ? -1 : now_ms() + ms;
  return 0;
}

static char *next_url(FILE *in, char *line, size_t cap)
{
  while (fgets(line, (int)cap, in)) {
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0])
      return line;
  }
  return NULL;
}

int main(int argc, char **argv)
{
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: curlfloor URLFILE [CONCURRENCY]\n");
    return 2;
  }
  int conc = argc == 3 ? atoi(argv[2]) : 100;
  FILE *in = fopen(argv[1], "r");
  if (!in || conc < 1) {
    fprintf(stderr, "curlfloor: %s: %s\n", argv[1],
            in ? "bad concurrency" : strerror(errno));
    return 2;
  }
  if (curl_global_init(CURL_GLOBAL_DEFAULT))
    return 1;
  struct floor fl = {.multi = curl_multi_init(),
                     .epfd = epoll_create1(EPOLL_CLOEXEC),
                     .deadline_ms = -1};
  if (!fl.multi || fl.epfd < 0)
    return 1;
  curl_multi_setopt(fl.multi, CURLMOPT_SOCKETFUNCTION, watch);
  curl_multi_setopt(fl.multi, CURLMOPT_SOCKETDATA, &fl);
  curl_multi_setopt(fl.multi, CURLMOPT_TIMERFUNCTION, on_timer);
  curl_multi_setopt(fl.multi, CURLMOPT_TIMERDATA, &fl);

  char line[8192];
  long done = 0, ok = 0, active = 0;
  for (int i = 0; i < conc; i++) {
    char *u = next_url(in, line, sizeof(line));
    if (!u)
      break;
    CURL *e = curl_easy_init();
    if (!e)
      return 1;
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_URL, u);
    curl_multi_add_handle(fl.multi, e);
    active++;
  }
  int running = 0;
  while (active > 0) {
    struct epoll_event evs[256];
    long long wait = 1000;
    if (fl.deadline_ms >= 0) {
      wait = fl.deadline_ms - now_ms();
      wait = wait < 0 ? 0 : wait > 1000 ? 1000 : wait;
    }
    int n = epoll_wait(fl.epfd, evs, 256, (int)wait);
    if (n < 0 && errno != EINTR)
      return 1;
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd < fl.nidle && fl.idle[fd]) {
        /* Ready while no transfer wants it: the server closed it. */
        struct epoll_event none = {.data.fd = fd};
        epoll_ctl(fl.epfd, EPOLL_CTL_MOD, fd, &none);
        continue;
      }
      int bits =
          ((evs[i].events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
          ((evs[i].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
          ((evs[i].events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
      curl_multi_socket_action(fl.multi, fd, bits, &running);
    }
    if (fl.deadline_ms >= 0 && now_ms() >= fl.deadline_ms) {
      fl.deadline_ms = -1;
      curl_multi_socket_action(fl.multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(fl.multi, &left))) {
      if (m->msg != CURLMSG_DONE)
        continue;
      CURL *e = m->easy_handle;
      long status = 0;
      curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
      done++;
      ok += m->data.result == CURLE_OK && status == 200;
      curl_multi_remove_handle(fl.multi, e);
      char *u = next_url(in, line, sizeof(line));
      if (u) {
        curl_easy_setopt(e, CURLOPT_URL, u);
        curl_multi_add_handle(fl.multi, e);
      } else {
        curl_easy_cleanup(e);
        active--;
      }
    }
  }
  printf("%ld %ld\n", done, ok);
  curl_multi_cleanup(fl.multi);
  close(fl.epfd);
  free(fl.idle);
  fclose(in);
  curl_global_cleanup();
  return 0;
}
