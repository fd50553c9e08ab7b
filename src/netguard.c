#include "netguard.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* a is in host byte order. */
static int v4_blocked(uint32_t a)
{
#define IN4(addr, bits)                                                       \
  ((bits) == 0 || (a >> (32 - (bits))) == ((uint32_t)(addr) >> (32 - (bits))))
  if (a == 0xA9FEA9FEu) /* 169.254.169.254 */
    return NETGUARD_METADATA;
  if (a == 0xFFFFFFFFu)
    return NETGUARD_BROADCAST;
  if (IN4(0x00000000u, 8))
    return NETGUARD_UNSPECIFIED;
  if (IN4(0x7F000000u, 8))
    return NETGUARD_LOOPBACK;
  if (IN4(0x0A000000u, 8) || IN4(0xAC100000u, 12) || IN4(0xC0A80000u, 16))
    return NETGUARD_PRIVATE;
  if (IN4(0x64400000u, 10))
    return NETGUARD_SHARED;
  if (IN4(0xA9FE0000u, 16))
    return NETGUARD_LINK_LOCAL;
  if (IN4(0xC0000000u, 24) || IN4(0xC6120000u, 15))
    return NETGUARD_SPECIAL;
  if (IN4(0xE0000000u, 4))
    return NETGUARD_MULTICAST;
  if (IN4(0xF0000000u, 4))
    return NETGUARD_RESERVED;
#undef IN4
  return NETGUARD_OK;
}

static uint32_t be32(const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

static int all_zero(const uint8_t *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (p[i])
      return 0;
  return 1;
}

static int v6_blocked(const uint8_t *b)
{
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b};
  static const uint8_t aws_meta[16] = {
      0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54};
  if (all_zero(b, 15) && b[15] <= 1)
    return b[15] ? NETGUARD_LOOPBACK : NETGUARD_UNSPECIFIED;
  /* Addresses that carry an IPv4 address are judged by it: the packets
   * reach that IPv4 host (through the kernel, a NAT64 or a 6to4 relay). */
  if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0)
    return v4_blocked(be32(b + 12));
  if (b[0] == 0x20 && b[1] == 0x02)
    return v4_blocked(be32(b + 2));
  if (all_zero(b, 12)) /* IPv4-compatible, deprecated (RFC 4291 2.5.5.1) */
    return NETGUARD_SPECIAL;
  if (memcmp(b, aws_meta, 16) == 0)
    return NETGUARD_METADATA;
  if ((b[0] & 0xfe) == 0xfc) /* fc00::/7 */
    return NETGUARD_PRIVATE;
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) /* fe80::/10 */
    return NETGUARD_LINK_LOCAL;
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) /* fec0::/10 */
    return NETGUARD_PRIVATE;
  if (b[0] == 0xff)
    return NETGUARD_MULTICAST;
  return NETGUARD_OK;
}

int netguard_blocked(const struct sockaddr *sa)
{
  if (!sa)
    return NETGUARD_FAMILY;
  if (sa->sa_family == AF_INET) {
    struct sockaddr_in in;
    memcpy(&in, sa, sizeof(in)); /* sa may be a sockaddr of any alignment */
    return v4_blocked(ntohl(in.sin_addr.s_addr));
  }
  if (sa->sa_family == AF_INET6) {
    struct sockaddr_in6 in6;
    memcpy(&in6, sa, sizeof(in6));
    return v6_blocked(in6.sin6_addr.s6_addr);
  }
  return NETGUARD_FAMILY;
}

const char *netguard_reason_name(int reason)
{
  static const char *const names[] = {"ok",       "unspecified", "loopback",
                                      "private",  "shared",      "link_local",
                                      "metadata", "special",     "multicast",
                                      "reserved", "broadcast",   "family"};
  if (reason < 0 || (size_t)reason >= sizeof(names) / sizeof(names[0]))
    return "unknown";
  return names[reason];
}

curl_socket_t netguard_opensocket(void *clientp, curlsocktype purpose,
                                  struct curl_sockaddr *addr)
{
  struct netguard *g = clientp;
  (void)purpose; /* every kind of socket is checked alike */
  if (!g->allow_private &&
      !(g->proxies && netguard_is_proxy(g->proxies, &addr->addr))) {
    int why = netguard_blocked(&addr->addr);
    if (why) {
      g->blocked = 1;
      g->reason = why;
      return CURL_SOCKET_BAD;
    }
  }
  return socket(addr->family, addr->socktype, addr->protocol);
}

/* A host as curl_url gives it, "[::1]" for an IPv6 address, without its
 * brackets, in place. */
static void unbracket(char *host)
{
  size_t n = strlen(host);
  if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
    memmove(host, host + 1, n - 2);
    host[n - 2] = '\0';
  }
}

/* One proxy setting ("host:port", "http://user@host:port/", "[::1]:3128",
 * "socks5h://host") into p: its host resolved, its port as curl takes it
 * (given, else 1080, or 443 for https://). */
static void add_proxy(struct netguard_proxies *p, const char *value)
{
  CURLU *u = curl_url();
  char *host = NULL, *port = NULL, *scheme = NULL;
  if (!u ||
      curl_url_set(u, CURLUPART_URL, value,
                   CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) ||
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0))
    goto out;
  /* No port given: curl's default for a proxy, 443 for an HTTPS one. */
  if (curl_url_get(u, CURLUPART_PORT, &port, 0))
    port = NULL;
  unbracket(host);
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
  if (getaddrinfo(host,
                  port                       ? port
                  : !strcmp(scheme, "https") ? "443"
                                             : "1080",
                  &hints, &res))
    goto out;
  for (struct addrinfo *a = res; a && p->n < NETGUARD_PROXY_MAX;
       a = a->ai_next)
    if ((a->ai_family == AF_INET || a->ai_family == AF_INET6) &&
        a->ai_addrlen <= sizeof(p->addr[0]))
      memcpy(&p->addr[p->n++], a->ai_addr, a->ai_addrlen);
  freeaddrinfo(res);
out:
  curl_free(host);
  curl_free(port);
  curl_free(scheme);
  curl_url_cleanup(u);
}

/* The first of names that is set (even empty: curl then takes it). */
static const char *env_first(const char *const *names, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    const char *v = getenv(names[i]);
    if (v)
      return v;
  }
  return NULL;
}

void netguard_env_read(struct netguard_env *e)
{
  static const char *const http[] = {"http_proxy", "all_proxy", "ALL_PROXY"};
  static const char *const https[] = {"https_proxy", "HTTPS_PROXY",
                                      "all_proxy", "ALL_PROXY"};
  static const char *const no[] = {"no_proxy", "NO_PROXY"};
  memset(e, 0, sizeof(*e));
  const char *v = env_first(http, sizeof(http) / sizeof(http[0]));
  if (v && *v)
    add_proxy(&e->http, v);
  v = env_first(https, sizeof(https) / sizeof(https[0]));
  if (v && *v)
    add_proxy(&e->https, v);
  v = env_first(no, sizeof(no) / sizeof(no[0]));
  if (v && *v)
    e->no_proxy = strdup(v);
}

void netguard_env_free(struct netguard_env *e)
{
  free(e->no_proxy);
  e->no_proxy = NULL;
}

/* Whether host is an IP address (v4, or v6 without brackets). */
static int is_ip(const char *host)
{
  unsigned char b[16];
  return inet_pton(AF_INET, host, b) == 1 || inet_pton(AF_INET6, host, b) == 1;
}

/* Whether no_proxy list may exempt host: an entry equal to it, a domain
 * it is in (".example.com" or "example.com" for a.example.com), "*"; for
 * an address, also any entry with a '/' (curl reads CIDR ranges) or a
 * ':' (a port or an IPv6 form curl may compare otherwise). A yes when in
 * doubt: the guard then applies in full. Out of memory: yes. */
static int no_proxy_covers(const char *list, const char *host)
{
  /* Forms curl compares otherwise (an IDN host it matches as punycode,
   * an IPv6 address it matches as text): in doubt. */
  for (const char *c = host; *c; c++)
    if ((unsigned char)*c >= 0x80 || *c == ':')
      return 1;
  char *copy = strdup(list);
  if (!copy)
    return 1;
  int ip = is_ip(host), hit = 0;
  size_t hl = strlen(host);
  if (hl && host[hl - 1] == '.') /* curl ignores one trailing dot */
    hl--;
  for (char *save = NULL, *t = strtok_r(copy, ", \t", &save); t && !hit;
       t = strtok_r(NULL, ", \t", &save)) {
    if (!strcmp(t, "*")) {
      hit = 1;
      break;
    }
    while (*t == '.')
      t++;
    size_t tl = strlen(t);
    if (tl && t[tl - 1] == '.')
      tl--;
    if (!tl)
      continue;
    int same = tl == hl && !strncasecmp(t, host, hl);
    if (ip)
      hit = same || strchr(t, '/') || strchr(t, ':');
    else
      hit = same || (hl > tl && host[hl - tl - 1] == '.' &&
                     !strncasecmp(host + hl - tl, t, tl));
  }
  free(copy);
  return hit;
}

const struct netguard_proxies *netguard_env_proxy(const struct netguard_env *e,
                                                  const char *scheme,
                                                  const char *host)
{
  const struct netguard_proxies *p = !strcasecmp(scheme, "https")  ? &e->https
                                     : !strcasecmp(scheme, "http") ? &e->http
                                                                   : NULL;
  if (!p || !p->n)
    return NULL;
  if (e->no_proxy && no_proxy_covers(e->no_proxy, host))
    return NULL;
  return p;
}

const struct netguard_proxies *
netguard_env_proxy_url(const struct netguard_env *e, CURLU *uh,
                       const char *url)
{
  if (!e->http.n && !e->https.n)
    return NULL;
  CURLU *own = uh ? NULL : curl_url();
  CURLU *u = uh ? uh : own;
  char *scheme = NULL, *host = NULL;
  const struct netguard_proxies *p = NULL;
  if (u && (uh || !curl_url_set(u, CURLUPART_URL, url, 0)) &&
      !curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) &&
      !curl_url_get(u, CURLUPART_HOST, &host, 0)) {
    unbracket(host);
    p = netguard_env_proxy(e, scheme, host);
  }
  curl_free(scheme);
  curl_free(host);
  curl_url_cleanup(own);
  return p;
}

int netguard_is_proxy(const struct netguard_proxies *p,
                      const struct sockaddr *sa)
{
  for (int i = 0; i < p->n; i++) {
    const struct sockaddr *q = (const struct sockaddr *)&p->addr[i];
    if (q->sa_family != sa->sa_family)
      continue;
    if (sa->sa_family == AF_INET) {
      const struct sockaddr_in *a = (const void *)sa, *b = (const void *)q;
      if (a->sin_port == b->sin_port &&
          a->sin_addr.s_addr == b->sin_addr.s_addr)
        return 1;
    } else if (sa->sa_family == AF_INET6) {
      const struct sockaddr_in6 *a = (const void *)sa, *b = (const void *)q;
      if (a->sin6_port == b->sin6_port &&
          !memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr)))
        return 1;
    }
  }
  return 0;
}
