/* netguard: SSRF protection on the address a connection is about to use.
 *
 * A URL that a crawled page links to may not make spate connect to
 * loopback, private, link-local, cloud-metadata or other non-public
 * addresses unless the user allows it (SPEC, "Safety").
 *
 * Why the resolved address, not the URL: a host name says nothing about
 * where it leads. "localhost", "127.0.0.1.nip.io" or any attacker's name
 * can resolve to loopback or to 169.254.169.254, and a name can resolve
 * to a public address when checked and to a private one when connected
 * (DNS rebinding). The only check that holds is on the very address the
 * socket is opened for, after resolution and just before connect().
 * netguard_opensocket() is that check as libcurl's
 * CURLOPT_OPENSOCKETFUNCTION: curl calls it for every address it tries,
 * IPv6 and IPv4 alike when it races them (happy eyeballs) or falls back
 * from one to the next, and for every new connection, so a redirect to
 * another host goes through it too. A connection curl reuses was checked
 * when it was opened. Through a proxy the address checked is the proxy's
 * (the proxy then decides where it connects), and the proxy the user named
 * in the environment for a URL (curl's http_proxy, https_proxy,
 * all_proxy, unless no_proxy covers its host) is allowed whatever its
 * range for that URL: a company's proxy is usually on a private
 * address.
 *
 * Ranges refused (IANA special-purpose registries, RFC 6890):
 *   IPv4  0.0.0.0/8 (this network), 10/8, 100.64/10 (CGNAT), 127/8,
 *         169.254/16 (link-local; 169.254.169.254 is the cloud metadata
 *         service), 172.16/12, 192.0.0/24 (IETF protocol assignments),
 *         192.168/16, 198.18/15 (benchmarking), 224/4 (multicast),
 *         240/4 (reserved), 255.255.255.255 (broadcast);
 *   IPv6  :: and ::1, the rest of ::/96 (deprecated IPv4-compatible),
 *         fc00::/7 (unique local; fd00:ec2::254 is AWS's metadata
 *         service), fe80::/10 (link-local), fec0::/10 (deprecated
 *         site-local), ff00::/8 (multicast); and, by the IPv4 address
 *         they carry, ::ffff:0:0/96 (IPv4-mapped), 64:ff9b::/96 (NAT64)
 *         and 2002::/16 (6to4).
 * Any other address family is refused. */
#ifndef SPATE_NETGUARD_H
#define SPATE_NETGUARD_H

#include <curl/curl.h>
#include <sys/socket.h>

#define NETGUARD_PROXY_MAX 16

/* Why an address is refused; 0 means allowed. */
enum netguard_reason {
  NETGUARD_OK = 0,
  NETGUARD_UNSPECIFIED, /* 0.0.0.0/8, :: */
  NETGUARD_LOOPBACK,    /* 127/8, ::1 */
  NETGUARD_PRIVATE,     /* 10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10 */
  NETGUARD_SHARED,      /* 100.64/10, carrier-grade NAT */
  NETGUARD_LINK_LOCAL,  /* 169.254/16, fe80::/10 */
  NETGUARD_METADATA,    /* 169.254.169.254, fd00:ec2::254 */
  NETGUARD_SPECIAL,     /* 192.0.0/24, 198.18/15, ::/96 */
  NETGUARD_MULTICAST,   /* 224/4, ff00::/8 */
  NETGUARD_RESERVED,    /* 240/4 */
  NETGUARD_BROADCAST,   /* 255.255.255.255 */
  NETGUARD_FAMILY       /* neither AF_INET nor AF_INET6 */
};

/* Returns NETGUARD_OK (0) if sa may be connected to, else the reason it
 * may not. sa is an AF_INET or AF_INET6 socket address. */
int netguard_blocked(const struct sockaddr *sa);

/* A short stable name for a reason ("loopback", "metadata"; "ok" for 0). */
const char *netguard_reason_name(int reason);

/* A proxy's addresses and port. */
struct netguard_proxies {
  int n;
  struct sockaddr_storage addr[NETGUARD_PROXY_MAX];
};

/* The proxies the environment names, as curl reads it: for http URLs
 * http_proxy (not HTTP_PROXY, which a CGI request can set), for https
 * https_proxy or HTTPS_PROXY, else all_proxy or ALL_PROXY; and no_proxy
 * or NO_PROXY. */
struct netguard_env {
  struct netguard_proxies http, https;
  char *no_proxy; /* owned; NULL when not set */
};

/* Reads the environment into e, resolving the proxies' host names (one
 * that does not resolve is left out: curl then fails on it itself). */
void netguard_env_read(struct netguard_env *e);
void netguard_env_free(struct netguard_env *e);
/* The proxy curl connects to for a URL of scheme and host (a name, or an
 * address without brackets), or NULL when it connects to the host itself
 * or when no_proxy might say so (an entry spate does not read as curl
 * surely would): then nothing more than usual is allowed. */
const struct netguard_proxies *netguard_env_proxy(const struct netguard_env *e,
                                                  const char *scheme,
                                                  const char *host);
/* The same for a URL: uh parsed, or else url; NULL without proxies. */
const struct netguard_proxies *
netguard_env_proxy_url(const struct netguard_env *e, CURLU *uh,
                       const char *url);
/* Whether sa is one of p's addresses, port included. */
int netguard_is_proxy(const struct netguard_proxies *p,
                      const struct sockaddr *sa);

/* Per-transfer state, embedded by the caller and passed as
 * CURLOPT_OPENSOCKETDATA. Reset blocked (and reason) before reusing it
 * for another transfer. */
struct netguard {
  int allow_private; /* in: connect to refused ranges anyway */
  const struct netguard_proxies *proxies; /* in: always allowed; or NULL */
  int blocked; /* out: set to 1 when an address was refused */
  int reason;  /* out: the last refusal's enum netguard_reason */
};

/* CURLOPT_OPENSOCKETFUNCTION. clientp is a struct netguard. Refuses a
 * blocked address unless allow_private or it is a proxy's (returns
 * CURL_SOCKET_BAD, sets
 * blocked and reason; curl then tries the next address and, when none is
 * left, fails with CURLE_COULDNT_CONNECT); otherwise opens the socket as
 * curl would: socket(addr->family, addr->socktype, addr->protocol). */
curl_socket_t netguard_opensocket(void *clientp, curlsocktype purpose,
                                  struct curl_sockaddr *addr);

#endif
