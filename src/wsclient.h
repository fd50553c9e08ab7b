/* wsclient: a WebSocket client (RFC 6455) on a libuv loop, for spate
 * serve's websocket sources: resolve, connect, handshake (the server's
 * Sec-WebSocket-Accept is checked), then text messages to a callback.
 * wslay does the framing (client frames masked, pings answered, close
 * handshake).
 *
 * ws:// and wss:// (TLS through OpenSSL over memory BIOs, so libuv still
 * does the I/O; the certificate is verified against the default CA paths,
 * which SSL_CERT_FILE / SSL_CERT_DIR override, and the host name or
 * address checked; SNI and ALPN http/1.1 sent). The timeout bounds the
 * connect and handshake; once open, a server quiet for that long gets a
 * ping, and one still silent after as long again is taken for gone
 * ("no answer to a ping in N s"). A message
 * over WSCLIENT_MAX_MSG bytes, a handshake answer over 16 KiB or slower
 * than the timeout, or any protocol error closes the connection and is
 * reported once through on_close. Everything runs on the loop's thread. */
#ifndef SPATE_WSCLIENT_H
#define SPATE_WSCLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define WSCLIENT_MAX_MSG (1 << 20)

struct wsclient;

struct wsclient_callbacks {
  void (*on_open)(void *arg);
  /* A complete text (or binary) message. */
  void (*on_message)(void *arg, const char *msg, size_t len);
  /* The connection is over (why: "closed by the server (1001)", "connect:
   * connection refused", ...). The client is freed right after; do not
   * call wsclient_close. */
  void (*on_close)(void *arg, const char *why);
};

/* Starts connecting to url (ws://host[:port]/path). headers: nheaders
 * "Name: value" lines sent with the upgrade request (copied; a User-Agent
 * among them replaces spate's), which the caller has checked: none of the
 * handshake's own (config.c refuses them). Returns 0, or -1 with a reason
 * in err (a URL it cannot use); then no callback is made. */
int wsclient_open(struct wsclient **out, uv_loop_t *loop, const char *url,
                  const char *const *headers, int nheaders,
                  uint64_t timeout_ms, const struct wsclient_callbacks *cb,
                  void *arg, char *err, size_t errlen);
/* Sends a close frame (1000, or 1001 when going_away) and frees the
 * client once the socket is closed; no callback is made after this. */
void wsclient_close(struct wsclient *c, int going_away);

#endif
