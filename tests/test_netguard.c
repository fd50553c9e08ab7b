/* netguard: the address table (edges of every range), then the guard in
 * front of a real libcurl connection to a listener on 127.0.0.1. */
#include "check.h"
#include "netguard.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const struct {
  const char *addr;
  int want; /* enum netguard_reason */
} cases[] = {
    /* 0.0.0.0/8 */
    {"0.0.0.0", NETGUARD_UNSPECIFIED},
    {"0.255.255.255", NETGUARD_UNSPECIFIED},
    {"1.0.0.0", NETGUARD_OK},
    {"8.8.8.8", NETGUARD_OK},
    /* 10/8 */
    {"9.255.255.255", NETGUARD_OK},
    {"10.0.0.0", NETGUARD_PRIVATE},
    {"10.255.255.255", NETGUARD_PRIVATE},
    {"11.0.0.0", NETGUARD_OK},
    /* 100.64/10 */
    {"100.63.255.255", NETGUARD_OK},
    {"100.64.0.0", NETGUARD_SHARED},
    {"100.127.255.255", NETGUARD_SHARED},
    {"100.128.0.0", NETGUARD_OK},
    /* 127/8 */
    {"126.255.255.255", NETGUARD_OK},
    {"127.0.0.0", NETGUARD_LOOPBACK},
    {"127.0.0.1", NETGUARD_LOOPBACK},
    {"127.255.255.255", NETGUARD_LOOPBACK},
    {"128.0.0.0", NETGUARD_OK},
    /* 169.254/16 and the metadata address */
    {"169.253.255.255", NETGUARD_OK},
    {"169.254.0.0", NETGUARD_LINK_LOCAL},
    {"169.254.169.253", NETGUARD_LINK_LOCAL},
    {"169.254.169.254", NETGUARD_METADATA},
    {"169.254.169.255", NETGUARD_LINK_LOCAL},
    {"169.254.255.255", NETGUARD_LINK_LOCAL},
    {"169.255.0.0", NETGUARD_OK},
    /* 172.16/12 */
    {"172.15.255.255", NETGUARD_OK},
    {"172.16.0.0", NETGUARD_PRIVATE},
    {"172.31.255.255", NETGUARD_PRIVATE},
    {"172.32.0.0", NETGUARD_OK},
    /* 192.0.0/24 */
    {"191.255.255.255", NETGUARD_OK},
    {"192.0.0.0", NETGUARD_SPECIAL},
    {"192.0.0.255", NETGUARD_SPECIAL},
    {"192.0.1.0", NETGUARD_OK},
    {"192.0.2.1", NETGUARD_OK}, /* TEST-NET-1: not refused */
    /* 192.168/16 */
    {"192.167.255.255", NETGUARD_OK},
    {"192.168.0.0", NETGUARD_PRIVATE},
    {"192.168.255.255", NETGUARD_PRIVATE},
    {"192.169.0.0", NETGUARD_OK},
    /* 198.18/15 */
    {"198.17.255.255", NETGUARD_OK},
    {"198.18.0.0", NETGUARD_SPECIAL},
    {"198.19.255.255", NETGUARD_SPECIAL},
    {"198.20.0.0", NETGUARD_OK},
    /* 224/4, 240/4, broadcast */
    {"223.255.255.255", NETGUARD_OK},
    {"224.0.0.0", NETGUARD_MULTICAST},
    {"239.255.255.255", NETGUARD_MULTICAST},
    {"240.0.0.0", NETGUARD_RESERVED},
    {"255.255.255.254", NETGUARD_RESERVED},
    {"255.255.255.255", NETGUARD_BROADCAST},

    /* IPv6 */
    {"::", NETGUARD_UNSPECIFIED},
    {"::1", NETGUARD_LOOPBACK},
    {"::2", NETGUARD_SPECIAL},
    {"::127.0.0.1", NETGUARD_SPECIAL},
    {"2001:4860:4860::8888", NETGUARD_OK},
    {"2606:4700::1111", NETGUARD_OK},
    {"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NETGUARD_OK},
    {"fc00::", NETGUARD_PRIVATE},
    {"fd12:3456::1", NETGUARD_PRIVATE},
    {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NETGUARD_PRIVATE},
    {"fd00:ec2::254", NETGUARD_METADATA},
    {"fd00:ec2::253", NETGUARD_PRIVATE},
    {"fe00::", NETGUARD_OK},
    {"fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NETGUARD_OK},
    {"fe80::", NETGUARD_LINK_LOCAL},
    {"fe80::1", NETGUARD_LINK_LOCAL},
    {"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NETGUARD_LINK_LOCAL},
    {"fec0::1", NETGUARD_PRIVATE},
    {"feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NETGUARD_PRIVATE},
    {"ff00::", NETGUARD_MULTICAST},
    {"ff02::1", NETGUARD_MULTICAST},
    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NETGUARD_MULTICAST},
    /* IPv4-mapped: judged by the IPv4 address */
    {"::ffff:127.0.0.1", NETGUARD_LOOPBACK},
    {"::ffff:10.1.2.3", NETGUARD_PRIVATE},
    {"::ffff:169.254.169.254", NETGUARD_METADATA},
    {"::ffff:0.0.0.0", NETGUARD_UNSPECIFIED},
    {"::ffff:8.8.8.8", NETGUARD_OK},
    {"::fffe:127.0.0.1", NETGUARD_OK}, /* not mapped: ::fffe:7f00:1 */
    /* NAT64 64:ff9b::/96 */
    {"64:ff9b::7f00:1", NETGUARD_LOOPBACK},
    {"64:ff9b::192.168.1.1", NETGUARD_PRIVATE},
    {"64:ff9b::169.254.169.254", NETGUARD_METADATA},
    {"64:ff9b::8.8.8.8", NETGUARD_OK},
    {"64:ff9b:0:0:1::7f00:1", NETGUARD_OK}, /* outside the /96 */
    /* 6to4 2002::/16: the IPv4 address is bits 16..47 */
    {"2002:7f00:1::", NETGUARD_LOOPBACK},
    {"2002:a00:1::1", NETGUARD_PRIVATE},
    {"2002:a9fe:a9fe::", NETGUARD_METADATA},
    {"2002:c0a8:101::1", NETGUARD_PRIVATE},
    {"2002:808:808::1", NETGUARD_OK},
    {"2003:7f00:1::", NETGUARD_OK},
};

static int verdict(const char *s)
{
  struct sockaddr_in in;
  struct sockaddr_in6 in6;
  memset(&in, 0, sizeof(in));
  memset(&in6, 0, sizeof(in6));
  if (inet_pton(AF_INET, s, &in.sin_addr) == 1) {
    in.sin_family = AF_INET;
    return netguard_blocked((const struct sockaddr *)&in);
  }
  if (inet_pton(AF_INET6, s, &in6.sin6_addr) == 1) {
    in6.sin6_family = AF_INET6;
    return netguard_blocked((const struct sockaddr *)&in6);
  }
  fprintf(stderr, "bad address in table: %s\n", s);
  return -1;
}

static void test_table(void)
{
  size_t n = sizeof(cases) / sizeof(cases[0]);
  for (size_t i = 0; i < n; i++) {
    int got = verdict(cases[i].addr);
    if (got != cases[i].want)
      fprintf(stderr, "%s: got %s, want %s\n", cases[i].addr,
              netguard_reason_name(got), netguard_reason_name(cases[i].want));
    CHECK(got == cases[i].want);
  }
  CHECK(n >= 40);

  struct sockaddr un = {.sa_family = AF_UNIX};
  CHECK(netguard_blocked(&un) == NETGUARD_FAMILY);
  CHECK_STR(netguard_reason_name(NETGUARD_OK), "ok");
  CHECK_STR(netguard_reason_name(NETGUARD_METADATA), "metadata");
  CHECK_STR(netguard_reason_name(NETGUARD_FAMILY), "family");
  CHECK_STR(netguard_reason_name(99), "unknown");
}

/* A listener on 127.0.0.1 with a kernel-chosen port. Nobody accepts
 * while curl connects: the handshake completes in the backlog, and a
 * non-blocking accept() afterwards tells whether a connection came. */
static int listen_loopback(int *port)
{
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 8) ||
      getsockname(fd, (struct sockaddr *)&a, &len) ||
      fcntl(fd, F_SETFL, O_NONBLOCK)) {
    close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

/* Connections the listener has waiting, accepted and closed. */
static int drain(int lfd)
{
  int n = 0, c;
  while ((c = accept(lfd, NULL, NULL)) >= 0) {
    close(c);
    n++;
  }
  return n;
}

static CURLcode connect_with_guard(const char *url, struct netguard *g)
{
  CURL *e = curl_easy_init();
  if (!e)
    return CURLE_FAILED_INIT;
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, netguard_opensocket);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, g);
  curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  CURLcode rc = curl_easy_perform(e);
  curl_easy_cleanup(e);
  return rc;
}

static void test_curl(void)
{
  int port = 0;
  char url[64];
  int lfd = listen_loopback(&port);
  CHECK(lfd >= 0);
  if (lfd < 0)
    return;

  /* Refused: curl never opens a socket, the listener sees nothing. */
  struct netguard g = {.allow_private = 0};
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
  CHECK(connect_with_guard(url, &g) == CURLE_COULDNT_CONNECT);
  CHECK(g.blocked == 1);
  CHECK(g.reason == NETGUARD_LOOPBACK);
  CHECK(drain(lfd) == 0);

  /* A name that resolves to loopback is refused the same way: the check
   * is on the address, whatever the name (every address curl tries for
   * "localhost", ::1 and 127.0.0.1, is refused). */
  g = (struct netguard){.allow_private = 0};
  snprintf(url, sizeof(url), "http://localhost:%d/", port);
  CHECK(connect_with_guard(url, &g) == CURLE_COULDNT_CONNECT);
  CHECK(g.blocked == 1);
  CHECK(g.reason == NETGUARD_LOOPBACK);
  CHECK(drain(lfd) == 0);

  /* Mapped and alternative spellings of loopback reach the same check. */
  g = (struct netguard){.allow_private = 0};
  snprintf(url, sizeof(url), "http://0x7f.1:%d/", port);
  CHECK(connect_with_guard(url, &g) == CURLE_COULDNT_CONNECT);
  CHECK(g.blocked == 1);
  CHECK(drain(lfd) == 0);

  /* Allowed: the connection is made. */
  g = (struct netguard){.allow_private = 1};
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
  CHECK(connect_with_guard(url, &g) == CURLE_OK);
  CHECK(g.blocked == 0);
  CHECK(drain(lfd) == 1);

  g = (struct netguard){.allow_private = 1};
  snprintf(url, sizeof(url), "http://localhost:%d/", port);
  CHECK(connect_with_guard(url, &g) == CURLE_OK);
  CHECK(g.blocked == 0);
  CHECK(drain(lfd) == 1);
  close(lfd);
}

static int is_proxy(const struct netguard_proxies *p, const char *ip, int port)
{
  struct sockaddr_storage ss = {0};
  if (strchr(ip, ':')) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    inet_pton(AF_INET6, ip, &a->sin6_addr);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, ip, &a->sin_addr);
  }
  return netguard_is_proxy(p, (struct sockaddr *)&ss);
}

static void clear_env(void)
{
  static const char *const vars[] = {
      "http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy",
      "ALL_PROXY",  "HTTP_PROXY",  "no_proxy",    "NO_PROXY"};
  for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
    unsetenv(vars[i]);
}

/* The proxy curl would use for a URL, from the variables curl reads (not
 * HTTP_PROXY) in its order, ports as curl takes them; none where no_proxy
 * may exempt the host, so the guard is never loosened for a connection
 * curl makes directly. */
static void test_proxies(void)
{
  struct netguard_env e;
  clear_env();
  netguard_env_read(&e);
  CHECK(!netguard_env_proxy(&e, "http", "example.com"));
  netguard_env_free(&e);

  setenv("http_proxy", "http://user:pw@10.1.2.3:3128/", 1);
  setenv("HTTPS_PROXY", "[::1]:8080", 1);
  setenv("https_proxy", "https://10.4.4.4", 1); /* before HTTPS_PROXY */
  setenv("HTTP_PROXY", "http://10.9.9.9:80", 1);
  setenv("all_proxy", "socks5h://127.0.0.5", 1);
  setenv("no_proxy", "internal.example, .corp.example,10.0.0.0/8", 1);
  netguard_env_read(&e);
  const struct netguard_proxies *p = netguard_env_proxy(&e, "http", "a.com");
  CHECK(p && is_proxy(p, "10.1.2.3", 3128) && !is_proxy(p, "10.1.2.3", 80) &&
        !is_proxy(p, "10.9.9.9", 80) && !is_proxy(p, "10.4.4.4", 443));
  p = netguard_env_proxy(&e, "HTTPS", "a.com");
  CHECK(p && is_proxy(p, "10.4.4.4", 443) && !is_proxy(p, "::1", 8080) &&
        !is_proxy(p, "10.1.2.3", 3128));
  /* no_proxy: the host itself, its domains, and in doubt for addresses. */
  CHECK(!netguard_env_proxy(&e, "http", "internal.example"));
  CHECK(!netguard_env_proxy(&e, "http", "x.internal.example"));
  CHECK(netguard_env_proxy(&e, "http", "notinternal.example"));
  CHECK(!netguard_env_proxy(&e, "http", "a.corp.example"));
  CHECK(!netguard_env_proxy(&e, "http", "10.1.1.1"));
  CHECK(!netguard_env_proxy(&e, "http", "internal.example.")); /* one dot */
  CHECK(!netguard_env_proxy(&e, "http",
                            "b\xc3\xbc"
                            "cher.corp")); /* IDN */
  CHECK(!netguard_env_proxy(&e, "http", "::ffff:10.0.0.1"));
  CHECK(!netguard_env_proxy(&e, "ftp", "a.com"));
  netguard_env_free(&e);

  /* A trailing dot on the no_proxy entry, as curl reads it. */
  setenv("no_proxy", "internal.example.", 1);
  netguard_env_read(&e);
  CHECK(!netguard_env_proxy(&e, "http", "internal.example"));
  CHECK(netguard_env_proxy(&e, "http",
                           "b\xc3\xbc"
                           "cher.corp") == NULL);
  CHECK(netguard_env_proxy(&e, "http", "external.example") != NULL);
  netguard_env_free(&e);

  /* all_proxy when the scheme has none; "*" exempts everything. */
  clear_env();
  setenv("ALL_PROXY", "socks5h://127.0.0.5", 1);
  netguard_env_read(&e);
  p = netguard_env_proxy(&e, "https", "a.com");
  CHECK(p && is_proxy(p, "127.0.0.5", 1080));
  netguard_env_free(&e);
  setenv("NO_PROXY", "*", 1);
  netguard_env_read(&e);
  CHECK(!netguard_env_proxy(&e, "https", "a.com"));
  netguard_env_free(&e);
  /* An empty http_proxy is curl's "no proxy", all_proxy or not; what is
   * not a URL gives no address. */
  clear_env();
  setenv("http_proxy", "", 1);
  setenv("all_proxy", "http://10.7.7.7:1", 1);
  setenv("https_proxy", "http://[bad", 1);
  netguard_env_read(&e);
  CHECK(!netguard_env_proxy(&e, "http", "a.com"));
  CHECK(!netguard_env_proxy(&e, "https", "a.com"));
  netguard_env_free(&e);

  /* The guard lets the proxy's address through, and only that one. */
  clear_env();
  setenv("http_proxy", "10.1.2.3:3128", 1);
  netguard_env_read(&e);
  struct netguard g = {.proxies = netguard_env_proxy(&e, "http", "a.com")};
  struct curl_sockaddr ca = {.family = AF_INET, .socktype = SOCK_STREAM};
  struct sockaddr_in *sin = (struct sockaddr_in *)&ca.addr;
  sin->sin_family = AF_INET;
  sin->sin_port = htons(3128);
  inet_pton(AF_INET, "10.1.2.3", &sin->sin_addr);
  curl_socket_t fd = netguard_opensocket(&g, CURLSOCKTYPE_IPCXN, &ca);
  CHECK(fd != CURL_SOCKET_BAD && !g.blocked);
  if (fd != CURL_SOCKET_BAD)
    close(fd);
  sin->sin_port = htons(3129);
  fd = netguard_opensocket(&g, CURLSOCKTYPE_IPCXN, &ca);
  CHECK(fd == CURL_SOCKET_BAD && g.blocked && g.reason == NETGUARD_PRIVATE);
  netguard_env_free(&e);
  clear_env();
}

int main(void)
{
  curl_global_init(CURL_GLOBAL_DEFAULT);
  test_table();
  test_curl();
  test_proxies();
  curl_global_cleanup();
  return check_report("test_netguard");
}
