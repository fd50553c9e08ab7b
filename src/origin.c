/* origin: spate's synthetic website on loopback (see origin.h).
 *
 * Endpoints. Every path also takes ?delay=MS (0..600000): the response waits
 * MS ms on a timer, on top of --latency. Numbers in paths and queries are
 * plain decimal; a malformed or out-of-range parameter gives 400. HEAD gets
 * the same headers and no body. Methods other than HEAD are served as GET.
 *
 * path                   what it does                 what a client sees
 * ---------------------  ---------------------------  -----------------------
 * / , /index.html        200 site index               title "Synthetic site",
 *                                                     links /p/0.html and
 *                                                     /private/index.html
 *                                                     (with --hostile, also
 *                                                     the /hostile/ traps)
 * /p/N.html              200 page N (0 <= N < pages), title "Page N of the
 *                        ~6.6 KB, generated from      synthetic site", ~15
 *                        (seed, N); else 404;         sorted unique links
 *                        --plant N:WORD words open
 *                        the paragraph
 * /gzip/N.html           page N gzipped when the      Content-Encoding: gzip
 *                        request's Accept-Encoding    (else plain), body
 *                        contains "gzip"              equal to /p/N.html
 * /robots.txt            "User-agent: *\n             text/plain; with
 *                         Disallow: /private/\n"     --robots-status CODE
 *                        then a "Disallow: P" line    (not 200) that status,
 *                        per --disallow P and         a small HTML body (a
 *                        "Crawl-delay: S" for         1xx: its head, then a
 *                        --crawl-delay S              close)
 * /private/...           200 page "Private page"      a polite crawler never
 *                                                     requests it
 * /status/CODE           CODE (200..599) + small      that status; 400 for
 *                        body; ?retry_after=S adds    any other CODE; 204 and
 *                        "Retry-After: S",            304 have no body
 *                        ?retry_after_date=S adds an
 *                        IMF-fixdate S s from now
 *                        (wins when both are given)
 * /flaky/KEY?fail=K      the first K (default 1)      CODE K times, then 200
 *   &code=C              requests for KEY answer C    "flaky KEY"; counters
 *   &retry_after=S       (default 503, + Retry-After  live in struct origin,
 *                        as for /status), later ones  at most 10,000 keys,
 *                        200                          the oldest key evicted
 * /trickle?bytes=N       200, Content-Length N        N (default 10) bytes of
 *   &interval=MS         (default 10); headers at     filler; the body takes
 *   &chunk=C             once, then C (default 1)     >= ceil(N/C) * MS ms
 *                        bytes every MS (default 100)
 * /reset?after=N         Content-Length 100000, N     N bytes (default 1000,
 *                        bytes of body, then RST      < 100000) then
 *                        (uv_tcp_close_reset)         ECONNRESET
 * /lie?claim=N&send=M    Content-Length N (default    a short body (M bytes)
 *                        1000), M bytes (default      then EOF: incomplete
 *                        N/2, M < N), then FIN        read
 * /huge?bytes=N          200, N bytes (default 1      the whole body, sent
 *                        GiB, max 1 TiB) of filler    with backpressure; the
 *                                                     server stops when the
 *                                                     client goes away
 * /bomb?mb=N             200 text/html,               a ~1 KB-per-MiB body
 *                        Content-Encoding: gzip,      inflating to N MiB
 *                        N MiB (default 1024, max     (N * 1048576 bytes) of
 *                        65536) of zeros              zeros
 * /headers?kb=N          200 whose header block is    N KiB (default 16, max
 *                        about N KiB of X-Filler-i    1024) of headers, body
 *                        lines                        "headers ok\n"
 * /redirect/N            302 to /redirect/N-1;        N hops then /p/0.html
 *                        /redirect/0 302s to
 *                        /p/0.html
 * /loop/a , /loop/b      302 to the other one         a redirect loop
 * /redirect-to?url=U     code C (default 302; 301,    Location: U, decoded
 *   &code=C              302, 303, 307 or 308) to the (%XX only, '+' stays);
 *                        percent-decoded U            400 if U has controls
 * /nonutf8               200 text/html, no charset,   title bytes
 *                        fixed Latin-1 bytes          "caf\xe9 cr\xe8me"
 *                                                     ("café crème" in
 *                                                     Latin-1)
 * /malformed             200 broken HTML (see         title "Malformed but
 *                        MALFORMED_HTML below)        parsed"
 * /json/N                application/json object      {"id":N,...,
 *                        (0 <= N < 2^53)              "title":"JSON N"}
 * /close                 closes with no response      an empty reply (FIN)
 * /slowhead?ms=MS        waits MS (default 1000) ms,  no byte before MS ms,
 *                        then a small page            title "Slow head"
 * /hostile/ssrf.html     links to 127.0.0.2,          title "SSRF bait"
 *                        localhost, 10.0.0.1,
 *                        169.254.169.254, [::1],
 *                        192.168.1.1 and 0x7f000001
 *                        (the loopback ones with the
 *                        origin's port)
 * /hostile/ext.html      links to other hosts and     title "External links"
 *                        schemes, and to /p/5.html
 * /hostile/cal/Y/M.html  months 1 <= Y <= 9999,       title "Calendar Y-M",
 *                        1 <= M <= 12; else 404       next and previous month
 * /hostile/grow?x=STR    links to grow?x=STRa         title "Grow LEN"; 414
 *                                                     past 60000 bytes of STR
 * /hostile/deep[/...]    links to the path + "a/"     title "Deep D" (D path
 *                                                     segments after deep)
 * /hostile/redirect-loop 302 to .../redirect-loop2,   a redirect loop
 *   (and ...-loop2)      which 302s back
 * /hostile/redirect.html 301 to /p/6.html             one redirect
 *
 * The live endpoints, for `spate serve`'s sources; versions count periods
 * since the start (--api-period, --feed-period, --stream-period):
 * /api/weather.json      {"seq":N,"current":{"temp":  ETag "vN", Last-
 *                        T,"wind":W},"updated":U},    Modified; 304 for a
 *                        N = api periods so far       matching If-None-Match
 *                                                     or If-Modified-Since
 * /feed/rss.xml ,        the latest 10 of items 1..V  the same validators
 * /feed/atom.xml         (V = feed periods so far     with V
 *                        + 1), newest first
 * /items/K.html          the page an item links to    404 for K > V
 * /api/origin-stats.json 200/304/503 counts per       JSON
 *                        endpoint
 * /stream                WebSocket: {"seq":N,         one text message per
 *                        "price":P,"time":S}          stream period
 * /control/down?for=MS   POST: /api/, /feed/ and      503 + Retry-After: 1;
 * /control/up            /stream fail (for MS ms, or  /stream clients get
 * /control/state         until /control/up)           close 1011
 *
 * anything else          404 small HTML               404
 *
 * The /hostile/ paths are always served; only --hostile links the index to
 * them. The site's options (--robots-status, --crawl-delay, --disallow,
 * --plant, --hostile) are origin_main's alone (struct site_opts): with none
 * of them the site is the same byte for byte.
 *
 * Malformed requests get 400 and a close, a request target over 64 KiB 414
 * and a close, header lines over 16 KiB 431 and a close. docs/ORIGIN.md says
 * the same for users.
 *
 * How a connection runs: it reads and parses until one request is complete
 * (the parser pauses there), then serves that request alone (state BUSY);
 * bytes that arrive meanwhile wait in a bounded pending buffer, so pipelined
 * requests are answered in order. A response is built in a buffer shared by
 * the whole origin and sent with uv_try_write; only what the kernel did not
 * take is copied into the connection, so an idle connection holds about
 * 1.2 KB.
 * Streamed bodies write their next chunk only from the previous write's
 * callback: a slow reader holds one chunk, never more.
 *
 * A /stream connection leaves HTTP for good (ST_WS, struct ws): its
 * messages go out with uv_try_write too, and wait in a bounded queue only
 * while a write is in flight; one timer for the whole origin ticks while it
 * has clients. Nothing else in the live endpoints runs on a timer: versions
 * and the failure switch's end are computed from the clock per request. */
#include "origin.h"

#include "buf.h"
#include "failpoint.h"
#include "tcpserver.h"

#include <errno.h>
#include <getopt.h>
#include <http_parser.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <zlib.h>

#define BACKLOG 4096
#define HEADER_CAP (16 * 1024)  /* header lines, else 431 */
#define URL_CAP (64 * 1024)     /* the request target, else 414 */
#define PENDING_CAP (64 * 1024) /* input held while a response is sent */
#define FILL_SIZE (64 * 1024)   /* filler text for streamed bodies */
#define STREAM_BUFS 4           /* FILL_SIZE buffers per streamed write */
#define BOMB_BUFS 64            /* bomb blocks per streamed write */
#define UA_MAX 1024             /* User-Agent bytes kept for the log */
#define FLAKY_MAX 10000
#define FLAKY_BUCKETS 16384 /* a power of two */
#define FLAKY_KEY_MAX 256
#define DELAY_MAX_MS 600000
#define HEADERS_KB_MAX 1024
#define HUGE_DEFAULT (UINT64_C(1) << 30)
#define HUGE_MAX (UINT64_C(1) << 40)
#define BOMB_DEFAULT_MB 1024
#define BOMB_MAX_MB 65536
#define RESET_CLAIM 100000
#define JSON_MAX (UINT64_C(1) << 53) /* exact in a double */
#define PAGES_DEFAULT 1000
#define PAGES_MAX 1000000000
#define PLANT_MAX 16        /* --plant options */
#define PLANT_WORD_MAX 64   /* bytes of a planted word */
#define DISALLOW_MAX 16     /* --disallow options */
#define SITEMAP_LINES_MAX 4 /* --robots-sitemap options */
#define DISALLOW_LEN 1024   /* bytes of a --disallow path */
#define CRAWL_DELAY_LEN 19  /* digits and a dot of --crawl-delay */
#define GROW_MAX 60000      /* /hostile/grow?x= bytes, else 414 */

/* The live endpoints (/api/, /feed/, /stream, /control/). */
#define PERIOD_MAX_MS 86400000 /* --api-period and the others: a day */
#define API_PERIOD_MS 1000
#define FEED_PERIOD_MS 1000
#define STREAM_PERIOD_MS 200
#define FEED_ITEMS 10            /* items in /feed/rss.xml and atom.xml */
#define DOWN_MAX_MS 86400000     /* /control/down?for= */
#define WS_QUEUE_CAP (64 * 1024) /* /stream messages queued per client */
#define WS_CTRL_ROOM (16 * 1024) /* then room for pongs and a close */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" /* RFC 6455 */
#define INM_CAP 80     /* If-None-Match bytes kept (more: no match) */
#define IMS_CAP 40     /* If-Modified-Since bytes kept */
#define UPG_CAP 16     /* Upgrade bytes kept, lowercased */
#define WSKEY_CAP 28   /* Sec-WebSocket-Key bytes kept (24 are valid) */
#define WSVER_CAP 4    /* Sec-WebSocket-Version bytes kept */
#define COOKIE_CAP 200 /* Cookie bytes kept, for /cookie/check */
#define ECHO_CAP 200   /* X-Echo bytes kept, for /echo */

/* Sticky-error output buffer: appends after a failed one are no-ops, so a
 * response is built without a check per line and checked once at the end,
 * like ferror() on a FILE. */
struct ob {
  struct buf b;
  int err;
};

/* --plant N:WORD: WORD opens the paragraph of page N. */
struct plant {
  int page;
  size_t len;
  char word[PLANT_WORD_MAX + 1];
};

/* What origin_main's test options add to the site. All zero (or NULL) is
 * the default site, byte for byte. */
struct site_opts {
  int robots_status;       /* 100..599; 0 or 200: the robots file */
  const char *crawl_delay; /* checked decimal seconds, or NULL */
  const char *disallow[DISALLOW_MAX];
  int ndisallow;
  /* "Sitemap:" lines: a URL, or a path on the origin itself */
  const char *sitemap[SITEMAP_LINES_MAX];
  int nsitemap;
  struct plant plant[PLANT_MAX];
  int nplant;
  int hostile; /* the index links to the /hostile/ pages */
};

/* One /flaky/ key. Slots are reused in ring order, so when all FLAKY_MAX
 * are taken the oldest key is forgotten (and counts from zero again). */
struct flaky {
  char *key; /* owned; NULL when the slot is free */
  size_t len;
  uint64_t hits;
  int next; /* next slot in the same hash bucket, -1 ends */
};

enum conn_state {
  ST_READ,   /* reading a request */
  ST_BUSY,   /* serving one; input waits in pending */
  ST_WS,     /* a /stream WebSocket client (c->ws) */
  ST_LINGER, /* our FIN sent; discarding input until the peer's */
  ST_CLOSED, /* uv_close called; waiting for the close callbacks */
};

enum after {
  AFTER_KEEP,  /* read the next request */
  AFTER_CLOSE, /* FIN after the response */
  AFTER_RESET, /* RST after the response */
};

enum body {
  BODY_NONE,    /* everything is in the head buffer */
  BODY_FILL,    /* left bytes of filler, in STREAM_BUFS chunks */
  BODY_TRICKLE, /* left bytes of filler, chunk bytes per interval */
  BODY_BOMB,    /* left deflate blocks, then the gzip tail */
};

/* A /stream client: the frame being read and the frames waiting for the
 * write in flight. Allocated at the upgrade, so idle HTTP connections do
 * not pay for it. */
struct ws {
  unsigned char hdr[14]; /* the frame header being read */
  unsigned char hlen, hneed;
  int in_payload;
  unsigned char opcode;
  unsigned char mask[4];
  unsigned mpos;           /* payload bytes unmasked so far */
  uint64_t left;           /* payload bytes still to come */
  unsigned char ctrl[125]; /* a control frame's payload, unmasked */
  unsigned char clen;
  int closing; /* our close frame is queued: read nothing more */
  int writing; /* a uv_write is in flight; q waits for it */
  struct buf q;
};

struct origin;

struct conn {
  struct origin *o;
  struct conn *prev, *next; /* o->conns */
  /* Its timer: delay, trickle and linger, one at a time. Freed once its
   * handles have closed. */
  struct tcpserver_conn io;
  uv_write_t wreq; /* at most one write in flight */
  http_parser parser;
  enum conn_state state;
  int parsing; /* inside process_input: it serves what follows */

  /* The request being parsed, then served. */
  struct buf url;
  struct buf ua;
  char ae[64]; /* Accept-Encoding, lowercased, truncated */
  size_t ae_len;
  char hname[24]; /* current header name, lowercased, truncated */
  size_t hname_len;
  int hcur;     /* HDR_* of the current header value */
  int in_value; /* the next field callback starts a new header */
  size_t hdr_bytes;
  int too_large, too_long, oom;
  int method, http_minor, keep_alive, head_only, accept_gzip;
  int upgrade; /* the parser saw Upgrade and Connection: upgrade */
  /* Headers for the live endpoints, truncated to their fields. */
  char inm[INM_CAP]; /* If-None-Match (several joined by ',') */
  char ims[IMS_CAP]; /* If-Modified-Since */
  char upg[UPG_CAP]; /* Upgrade, lowercased */
  char wskey[WSKEY_CAP];
  char wsver[WSVER_CAP];
  unsigned char inm_len, ims_len, upg_len, wskey_len, wsver_len;
  char cookie[COOKIE_CAP]; /* Cookie (several lines joined by "; ") */
  char xecho[ECHO_CAP];    /* X-Echo */
  unsigned char cookie_len, xecho_len;
  struct ws *ws; /* ST_WS (and after it, until freed) */

  /* The response being sent. */
  enum after after;
  enum body body;
  uint64_t left;
  uint32_t chunk;
  uint32_t interval_ms;
  char *out;              /* unsent part of the head (owned), in flight */
  unsigned char tail[16]; /* bomb: final block, CRC-32, ISIZE */
  size_t tail_len;
  char *pending; /* input received while BUSY (owned) */
  size_t pending_len, pending_cap;
};

/* Answers of one live endpoint, for /api/origin-stats.json. */
struct ep_stats {
  uint64_t ok, not_modified, down; /* 200, 304, 503 */
};

struct origin {
  uv_loop_t *loop;
  /* Its handles count the /stream timer too. */
  struct tcpserver srv;
  char *host;
  int port, pages, latency_ms;
  uint32_t seed;
  unsigned fail_accept_every;
  uint64_t accepts; /* for fail_accept_every */
  FILE *log;
  /* From struct site_opts; robots NULL is the default robots file. */
  int robots_status;
  char *robots;
  size_t robots_len;
  char *sitemap[SITEMAP_LINES_MAX]; /* owned copies of site->sitemap */
  int nsitemap;
  struct plant plant[PLANT_MAX];
  int nplant;
  int hostile;
  http_parser_settings settings;
  struct conn *conns;
  uint64_t requests, connections;

  /* Scratch shared by all connections: used only within one callback. */
  struct ob body, resp;
  z_stream z; /* gzip for /gzip/, reset per use */
  int z_ready;

  char *fill; /* FILL_SIZE bytes of filler, read-only once made */
  /* /bomb: 1 MiB of zeros as raw deflate ending in a full flush, so the
   * block can be repeated any number of times; made on first use. */
  unsigned char *bomb_block;
  size_t bomb_len;
  unsigned char bomb_fin[8]; /* the final empty block */
  size_t bomb_fin_len;
  uint32_t bomb_crc; /* CRC-32 of 1 MiB of zeros */

  struct flaky *flaky;
  int *flaky_bucket;
  int flaky_next; /* ring position of the next slot to (re)use */

  time_t date_sec;
  char date[64]; /* Date: value for date_sec */

  /* The live endpoints: versions count periods from t0_ns (monotonic);
   * wall0_ms is the wall clock at the same instant, for the dates. */
  uint64_t t0_ns;
  int64_t wall0_ms;
  uint64_t api_period, feed_period, stream_period; /* ms */
  char base[96];       /* "http://HOST:PORT", for the feeds' links */
  int down;            /* the failure switch (/control/down) */
  uint64_t down_until; /* ms after t0; UINT64_MAX: until /control/up */
  struct ep_stats weather, rss, atom;
  uint64_t ws_accepted, ws_refused; /* /stream upgrades: 101 and 503 */
  uv_timer_t ws_timer;              /* /stream ticks while clients exist */
  int ws_timer_ready;
  uint64_t ws_seq; /* the last seq sent on /stream */
};

struct req {
  const char *path, *query, *rest;
  size_t plen, qlen, rlen; /* rest: path after the matched route */
};

static void conn_close(struct conn *c);
static void stream_next(struct conn *c);
static void process_input(struct conn *c, const char *data, size_t len);

/* ---- output buffers ---------------------------------------------------- */

static void ob_put(struct ob *b, const void *p, size_t n)
{
  if (!b->err && buf_append(&b->b, p, n))
    b->err = -ENOMEM;
}

static void ob_puts(struct ob *b, const char *s)
{
  ob_put(b, s, strlen(s));
}

static size_t fmt_u64(char *t, uint64_t v)
{
  char r[24];
  size_t n = 0;
  do {
    r[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; i++)
    t[i] = r[n - 1 - i];
  return n;
}

static void ob_putu(struct ob *b, uint64_t v)
{
  char t[24];
  ob_put(b, t, fmt_u64(t, v));
}

/* Room for n more bytes to be written in place, then ob_commit(). */
static char *ob_space(struct ob *b, size_t n)
{
  if (b->err)
    return NULL;
  if (buf_reserve(&b->b, n)) {
    b->err = -ENOMEM;
    return NULL;
  }
  return b->b.data + b->b.len;
}

static void ob_commit(struct ob *b, size_t n)
{
  b->b.len += n;
  b->b.data[b->b.len] = '\0';
}

static void ob_reset(struct ob *b)
{
  buf_reset(&b->b);
  b->err = 0;
}

static void ob_put_html(struct ob *b, const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    const char *e = s[i] == '<'   ? "&lt;"
                    : s[i] == '>' ? "&gt;"
                    : s[i] == '&' ? "&amp;"
                    : s[i] == '"' ? "&quot;"
                                  : NULL;
    if (e)
      ob_puts(b, e);
    else
      ob_put(b, s + i, 1);
  }
}

/* ---- small helpers ----------------------------------------------------- */

/* Strict decimal: digits only, no sign, no leading zero unless "0". */
static int parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
  uint64_t v = 0;
  if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
    return -EINVAL;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -EINVAL;
    unsigned d = (unsigned)(s[i] - '0');
    if (d > max || v > (max - d) / 10)
      return -ERANGE;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

static void imf_date(time_t t, char *out, size_t n)
{
  static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed",
                                  "Thu", "Fri", "Sat"};
  static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  struct tm tm;
  gmtime_r(&t, &tm);
  /* Fixed English names: strftime's %a and %b follow the locale. */
  snprintf(out, n, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7],
           tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour,
           tm.tm_min, tm.tm_sec);
}

static const char *http_date(struct origin *o)
{
  time_t now = time(NULL);
  if (now != o->date_sec) {
    imf_date(now, o->date, sizeof o->date);
    o->date_sec = now;
  }
  return o->date;
}

static const struct {
  int code;
  const char *text;
} reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {102, "Processing"},
    {103, "Early Hints"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {203, "Non-Authoritative Information"},
    {204, "No Content"},
    {206, "Partial Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {410, "Gone"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {418, "I'm a teapot"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {451, "Unavailable For Legal Reasons"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {507, "Insufficient Storage"},
};

static const char *reason(int status)
{
  for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
    if (reasons[i].code == status)
      return reasons[i].text;
  return "Unknown";
}

static uint32_t fnv1a(const char *s, size_t n)
{
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

/* splitmix64: tiny, fast, and good enough for filler text. */
static uint64_t mix64(uint64_t *s)
{
  uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

/* ---- the request: URL and query ---------------------------------------- */

static int split_url(const struct conn *c, struct req *r)
{
  const char *u = c->url.data;
  size_t n = c->url.len;
  memset(r, 0, sizeof *r);
  if (!u || !n)
    return -EINVAL;
  if (u[0] != '/') {
    /* absolute-form (a proxy-style request): drop scheme and authority */
    const char *s = strstr(u, "://");
    if (!s)
      return -EINVAL;
    s = strchr(s + 3, '/');
    u = s ? s : "/";
    n = strlen(u);
  }
  const char *hash = memchr(u, '#', n);
  if (hash)
    n = (size_t)(hash - u);
  const char *q = memchr(u, '?', n);
  r->path = u;
  r->plen = q ? (size_t)(q - u) : n;
  r->query = q ? q + 1 : u + n;
  r->qlen = q ? n - r->plen - 1 : 0;
  return 0;
}

/* Finds name=value in the query; 1 when found. */
static int query_get(const struct req *r, const char *name, const char **val,
                     size_t *vlen)
{
  size_t nl = strlen(name);
  const char *p = r->query, *end = r->query + r->qlen;
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *e = amp ? amp : end;
    if ((size_t)(e - p) >= nl && !memcmp(p, name, nl) &&
        (p + nl == e || p[nl] == '=')) {
      *val = p + nl == e ? e : p + nl + 1;
      *vlen = (size_t)(e - *val);
      return 1;
    }
    p = e + 1;
  }
  return 0;
}

/* A numeric query parameter: def when absent, -EINVAL when present but not
 * a decimal in [min, max]. */
static int query_num(const struct req *r, const char *name, uint64_t def,
                     uint64_t min, uint64_t max, uint64_t *out)
{
  const char *v;
  size_t n;
  if (!query_get(r, name, &v, &n)) {
    *out = def;
    return 0;
  }
  if (parse_u64(v, n, max, out) || *out < min)
    return -EINVAL;
  return 0;
}

static int hexval(char ch)
{
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

/* ---- building responses ------------------------------------------------ */

/* The status line with reason phrase why, Server and Date. */
static void head_begin_why(struct conn *c, int status, const char *why)
{
  struct ob *r = &c->o->resp;
  ob_reset(r);
  ob_puts(r, "HTTP/1.1 ");
  ob_putu(r, (uint64_t)status);
  ob_put(r, " ", 1);
  ob_puts(r, why);
  ob_puts(r, "\r\nServer: spate-origin\r\nDate: ");
  ob_puts(r, http_date(c->o));
  ob_puts(r, "\r\n");
}

static void head_begin(struct conn *c, int status)
{
  head_begin_why(c, status, reason(status));
}

/* clen < 0: no Content-Length. */
static void head_end(struct conn *c, const char *ctype, int64_t clen)
{
  struct ob *r = &c->o->resp;
  if (ctype) {
    ob_puts(r, "Content-Type: ");
    ob_puts(r, ctype);
    ob_puts(r, "\r\n");
  }
  if (clen >= 0) {
    ob_puts(r, "Content-Length: ");
    ob_putu(r, (uint64_t)clen);
    ob_puts(r, "\r\n");
  }
  if (c->after != AFTER_KEEP)
    ob_puts(r, "Connection: close\r\n");
  else if (c->http_minor == 0)
    ob_puts(r, "Connection: keep-alive\r\n");
  ob_puts(r, "\r\n");
}

/* Sends o->resp, then the streamed body c->body if any. */
static void send_head(struct conn *c);

/* A complete response with an in-memory body. extra: header lines, each
 * ended by CRLF, or NULL. */
static void respond(struct conn *c, int status, const char *extra,
                    const char *ctype, const void *body, size_t len)
{
  struct ob *r = &c->o->resp;
  int nobody = status == 204 || status == 304;
  head_begin(c, status);
  if (extra)
    ob_puts(r, extra);
  head_end(c, nobody ? NULL : ctype, nobody ? -1 : (int64_t)len);
  if (!nobody && !c->head_only)
    ob_put(r, body, len);
  c->body = BODY_NONE;
  send_head(c);
}

/* Sends the page built in the origin's body buffer, or drops the
 * connection when building it ran out of memory. */
static void respond_built(struct conn *c, int status, const char *extra,
                          const char *ctype)
{
  const struct ob *b = &c->o->body;
  if (b->err) {
    conn_close(c);
    return;
  }
  respond(c, status, extra, ctype, b->b.data, b->b.len);
}

#define HTML "text/html; charset=utf-8"

/* A small HTML page whose title and heading are "STATUS Reason" or text. */
static void respond_msg(struct conn *c, int status, const char *extra,
                        const char *text)
{
  struct ob *b = &c->o->body;
  char t[80];
  if (!text) {
    snprintf(t, sizeof t, "%d %s", status, reason(status));
    text = t;
  }
  ob_reset(b);
  ob_puts(b, "<!doctype html><html><head><meta charset=utf-8><title>");
  ob_puts(b, text);
  ob_puts(b, "</title></head><body><h1>");
  ob_puts(b, text);
  ob_puts(b, "</h1></body></html>\n");
  respond_built(c, status, extra, HTML);
}

/* Head and a streamed body of kind, whose Content-Length is clen. prefix:
 * body bytes sent with the head. */
static void respond_stream(struct conn *c, int status, const char *extra,
                           const char *ctype, uint64_t clen,
                           const void *prefix, size_t plen, enum body kind,
                           uint64_t left)
{
  struct ob *r = &c->o->resp;
  head_begin(c, status);
  if (extra)
    ob_puts(r, extra);
  head_end(c, ctype, (int64_t)clen);
  c->body = BODY_NONE;
  if (!c->head_only) {
    ob_put(r, prefix, plen);
    c->body = kind;
    c->left = left;
  }
  send_head(c);
}

/* ---- the site ---------------------------------------------------------- */

struct word {
  const char *s;
  unsigned char n;
};

#define W(s)                                                                  \
  {                                                                           \
    s, sizeof s - 1                                                           \
  }
static const struct word words[64] = {
    W("river"),  W("stone"),  W("light"),  W("cloud"),  W("north"), W("quiet"),
    W("green"),  W("field"),  W("early"),  W("small"),  W("house"), W("water"),
    W("over"),   W("under"),  W("after"),  W("with"),   W("from"),  W("into"),
    W("road"),   W("tree"),   W("wind"),   W("rain"),   W("snow"),  W("fire"),
    W("sand"),   W("hill"),   W("lake"),   W("town"),   W("bird"),  W("fish"),
    W("leaf"),   W("moon"),   W("star"),   W("sun"),    W("sea"),   W("sky"),
    W("day"),    W("night"),  W("old"),    W("new"),    W("red"),   W("blue"),
    W("warm"),   W("cold"),   W("long"),   W("short"),  W("high"),  W("low"),
    W("far"),    W("near"),   W("bright"), W("dark"),   W("open"),  W("round"),
    W("soft"),   W("hard"),   W("deep"),   W("wide"),   W("slow"),  W("fast"),
    W("meadow"), W("valley"), W("harbor"), W("garden"),
};
#undef W
#define WORD_MAX 6
#define PAGE_LINKS 15

/* Page n of the site into b: ~1,100 words and ~15 links, a pure function
 * of (seed, pages, n). */
static void gen_page(const struct origin *o, struct ob *b, int n)
{
  uint64_t s = ((uint64_t)o->seed << 32) ^
               ((uint64_t)(uint32_t)n * UINT64_C(0xd1b54a32d192ed03));
  uint64_t pages = (uint64_t)o->pages;
  int nwords = 1050 + (int)(mix64(&s) % 101);
  int links[PAGE_LINKS], nl = 0;

  ob_puts(b, "<!doctype html><html><head><meta charset=utf-8><title>Page ");
  ob_putu(b, (uint64_t)n);
  ob_puts(b, " of the synthetic site</title></head><body><h1>Page ");
  ob_putu(b, (uint64_t)n);
  ob_puts(b, "</h1>\n<p>");
  for (int i = 0; i < o->nplant; i++) {
    if (o->plant[i].page == n) {
      ob_put(b, o->plant[i].word, o->plant[i].len);
      ob_put(b, " ", 1);
    }
  }
  /* The hot loop writes in place: one reserve for the worst case. */
  char *p = ob_space(b, (size_t)nwords * (WORD_MAX + 1));
  if (p) {
    char *q = p;
    uint64_t bits = 0;
    int have = 0;
    for (int i = 0; i < nwords; i++) {
      if (!have) {
        bits = mix64(&s);
        have = 10; /* 6 bits a word */
      }
      const struct word *w = &words[bits & 63];
      bits >>= 6;
      have--;
      memcpy(q, w->s, w->n);
      q += w->n;
      *q++ = i % 16 == 15 ? '\n' : ' ';
    }
    ob_commit(b, (size_t)(q - p) - 1); /* drop the last separator */
  }
  ob_puts(b, "</p>\n<ul>\n");

  links[nl++] = (int)(((uint64_t)n + 1) % pages);
  links[nl++] = (int)(((uint64_t)n * 7 + 3) % pages);
  while (nl < PAGE_LINKS)
    links[nl++] = (int)(mix64(&s) % pages);
  for (int i = 1; i < nl; i++) { /* insertion sort: 15 items */
    int v = links[i], j = i;
    for (; j > 0 && links[j - 1] > v; j--)
      links[j] = links[j - 1];
    links[j] = v;
  }
  for (int i = 0; i < nl; i++) {
    if (i && links[i] == links[i - 1])
      continue;
    ob_puts(b, "<li><a href=\"/p/");
    ob_putu(b, (uint64_t)links[i]);
    ob_puts(b, ".html\">page ");
    ob_putu(b, (uint64_t)links[i]);
    ob_puts(b, "</a></li>\n");
  }
  ob_puts(b, "</ul></body></html>\n");
}

/* "N.html" with 0 <= N < pages, else -1. */
static int page_number(const struct origin *o, const char *s, size_t n)
{
  uint64_t v;
  if (n < 6 || memcmp(s + n - 5, ".html", 5))
    return -1;
  if (parse_u64(s, n - 5, (uint64_t)o->pages - 1, &v))
    return -1;
  return (int)v;
}

static void serve_index(struct conn *c, const struct req *r)
{
  static const char *const hostile[] = {
      "/hostile/ssrf.html",       "/hostile/ext.html",
      "/hostile/cal/2024/1.html", "/hostile/grow?x=a",
      "/hostile/deep/a/",         "/hostile/redirect-loop",
      "/hostile/redirect.html",   "/hostile/noindex.html",
      "/hostile/nofollow.html",   "/hostile/refresh.html",
      "/hostile/sitemap.xml",
  };
  struct ob *b = &c->o->body;
  (void)r;
  ob_reset(b);
  ob_puts(b, "<!doctype html><html><head><meta charset=utf-8>"
             "<title>Synthetic site</title></head><body>"
             "<h1>Synthetic site</h1>\n<p>A deterministic site of ");
  ob_putu(b, (uint64_t)c->o->pages);
  ob_puts(b, " linked pages served by spate origin.</p>\n<ul>\n"
             "<li><a href=\"/p/0.html\">page 0</a></li>\n"
             "<li><a href=\"/private/index.html\">private area</a></li>\n");
  for (size_t i = 0; c->o->hostile && i < sizeof hostile / sizeof *hostile;
       i++) {
    ob_puts(b, "<li><a href=\"");
    ob_puts(b, hostile[i]);
    ob_puts(b, "\">");
    ob_puts(b, hostile[i]);
    ob_puts(b, "</a></li>\n");
  }
  ob_puts(b, "</ul></body></html>\n");
  respond_built(c, 200, NULL, HTML);
}

static void not_found(struct conn *c)
{
  respond_msg(c, 404, NULL, NULL);
}

static void bad_param(struct conn *c)
{
  respond_msg(c, 400, NULL, NULL);
}

static void serve_page(struct conn *c, const struct req *r)
{
  struct ob *b = &c->o->body;
  int n = page_number(c->o, r->rest, r->rlen);
  if (n < 0) {
    not_found(c);
    return;
  }
  ob_reset(b);
  gen_page(c->o, b, n);
  respond_built(c, 200, NULL, HTML);
}

/* Gzips src into dst with the origin's one deflate stream. */
static int gzip_into(struct origin *o, const char *src, size_t n,
                     struct ob *dst)
{
  if (!o->z_ready) {
    if (deflateInit2(&o->z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY))
      return -ENOMEM;
    o->z_ready = 1;
  } else if (deflateReset(&o->z) != Z_OK) {
    return -EIO;
  }
  size_t bound = deflateBound(&o->z, (uLong)n);
  char *p = ob_space(dst, bound);
  if (!p)
    return -ENOMEM;
  o->z.next_in = (Bytef *)src;
  o->z.avail_in = (uInt)n;
  o->z.next_out = (Bytef *)p;
  o->z.avail_out = (uInt)bound;
  if (deflate(&o->z, Z_FINISH) != Z_STREAM_END)
    return -EIO;
  ob_commit(dst, bound - o->z.avail_out);
  return 0;
}

/* A 200 whose body is the gzip of what o->body holds. */
static void respond_gzip(struct conn *c, const char *extra, const char *type)
{
  struct origin *o = c->o;
  struct ob *b = &o->body, *gz = &o->resp;
  /* Compress into resp, then move the result to body: respond() builds the
   * head in resp. */
  ob_reset(gz);
  if (gzip_into(o, b->b.data, b->b.len, gz) || gz->err) {
    respond_msg(c, 500, NULL, NULL);
    return;
  }
  ob_reset(b);
  ob_put(b, gz->b.data, gz->b.len);
  respond_built(c, 200, extra, type);
}

static void serve_gzip(struct conn *c, const struct req *r)
{
  struct origin *o = c->o;
  struct ob *b = &o->body;
  int n = page_number(o, r->rest, r->rlen);
  if (n < 0) {
    not_found(c);
    return;
  }
  ob_reset(b);
  gen_page(o, b, n);
  if (b->err) {
    conn_close(c);
    return;
  }
  if (!c->accept_gzip) {
    respond(c, 200, "Vary: Accept-Encoding\r\n", HTML, b->b.data, b->b.len);
    return;
  }
  respond_gzip(c, "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n", HTML);
}

static const char ROBOTS[] = "User-agent: *\nDisallow: /private/\n";

static void serve_robots(struct conn *c, const struct req *r)
{
  struct origin *o = c->o;
  int status = o->robots_status;
  (void)r;
  if (status >= 100 && status < 200) {
    /* An interim response and nothing after it: headers only, then a
     * close, so the client never gets a final response. */
    c->after = AFTER_CLOSE;
    head_begin(c, status);
    head_end(c, NULL, -1);
    c->body = BODY_NONE;
    send_head(c);
  } else if (status && status != 200) {
    respond_msg(c, status, NULL, NULL);
  } else if (o->nsitemap) {
    /* The Sitemap lines name the origin's own address, known once it
     * listens. */
    struct ob *b = &o->body;
    ob_reset(b);
    if (o->robots)
      ob_put(b, o->robots, o->robots_len);
    else
      ob_puts(b, ROBOTS);
    for (int i = 0; i < o->nsitemap; i++) {
      ob_puts(b, "Sitemap: ");
      if (o->sitemap[i][0] == '/')
        ob_puts(b, o->base);
      ob_puts(b, o->sitemap[i]);
      ob_puts(b, "\n");
    }
    respond_built(c, 200, NULL, "text/plain; charset=utf-8");
  } else if (o->robots) {
    respond(c, 200, NULL, "text/plain; charset=utf-8", o->robots,
            o->robots_len);
  } else {
    respond(c, 200, NULL, "text/plain; charset=utf-8", ROBOTS,
            sizeof ROBOTS - 1);
  }
}

static void serve_private(struct conn *c, const struct req *r)
{
  static const char page[] =
      "<!doctype html><html><head><meta charset=utf-8>"
      "<title>Private page</title></head><body><h1>Private page</h1>\n"
      "<p>robots.txt disallows this path; a polite crawler never sees "
      "it.</p>\n<ul><li><a href=\"/p/0.html\">page 0</a></li></ul>"
      "</body></html>\n";
  (void)r;
  respond(c, 200, NULL, HTML, page, sizeof page - 1);
}

/* The Retry-After line for ?retry_after= / ?retry_after_date=, into out
 * ("" when neither is given). */
static int retry_after(const struct req *r, char *out, size_t n)
{
  const char *v;
  size_t vl;
  uint64_t secs;
  out[0] = '\0';
  if (query_get(r, "retry_after_date", &v, &vl)) {
    char date[64];
    if (parse_u64(v, vl, 100000000, &secs))
      return -EINVAL;
    imf_date(time(NULL) + (time_t)secs, date, sizeof date);
    snprintf(out, n, "Retry-After: %s\r\n", date);
  } else if (query_get(r, "retry_after", &v, &vl)) {
    if (parse_u64(v, vl, 100000000, &secs))
      return -EINVAL;
    snprintf(out, n, "Retry-After: %" PRIu64 "\r\n", secs);
  }
  return 0;
}

static void serve_status(struct conn *c, const struct req *r)
{
  uint64_t code;
  char extra[128];
  if (parse_u64(r->rest, r->rlen, 599, &code) || code < 200 ||
      retry_after(r, extra, sizeof extra)) {
    bad_param(c);
    return;
  }
  respond_msg(c, (int)code, extra, NULL);
}

/* Unlinks slot from its bucket and frees its key. */
static void flaky_drop(struct origin *o, int slot)
{
  struct flaky *f = &o->flaky[slot];
  int *pp = &o->flaky_bucket[fnv1a(f->key, f->len) & (FLAKY_BUCKETS - 1)];
  while (*pp != slot)
    pp = &o->flaky[*pp].next;
  *pp = f->next;
  free(f->key);
  f->key = NULL;
}

/* Counts one request for key; NULL when out of memory. */
static struct flaky *flaky_hit(struct origin *o, const char *key, size_t len)
{
  uint32_t h = fnv1a(key, len) & (FLAKY_BUCKETS - 1);
  for (int i = o->flaky_bucket[h]; i >= 0; i = o->flaky[i].next) {
    struct flaky *f = &o->flaky[i];
    if (f->len == len && !memcmp(f->key, key, len)) {
      f->hits++;
      return f;
    }
  }
  char *copy = malloc(len + 1);
  if (!copy)
    return NULL;
  memcpy(copy, key, len);
  copy[len] = '\0';
  int slot = o->flaky_next;
  if (o->flaky[slot].key)
    flaky_drop(o, slot); /* full: forget the oldest key */
  struct flaky *f = &o->flaky[slot];
  f->key = copy;
  f->len = len;
  f->hits = 1;
  f->next = o->flaky_bucket[h];
  o->flaky_bucket[h] = slot;
  o->flaky_next = (slot + 1) % FLAKY_MAX;
  return f;
}

static void serve_flaky(struct conn *c, const struct req *r)
{
  struct ob *b = &c->o->body;
  uint64_t fail, code;
  char extra[128];
  if (r->rlen == 0 || r->rlen > FLAKY_KEY_MAX ||
      query_num(r, "fail", 1, 0, UINT32_MAX, &fail) ||
      query_num(r, "code", 503, 200, 599, &code) ||
      retry_after(r, extra, sizeof extra)) {
    bad_param(c);
    return;
  }
  struct flaky *f = flaky_hit(c->o, r->rest, r->rlen);
  if (!f) {
    conn_close(c);
    return;
  }
  if (f->hits <= fail) {
    respond_msg(c, (int)code, extra, NULL);
    return;
  }
  ob_reset(b);
  ob_puts(b, "<!doctype html><html><head><meta charset=utf-8><title>flaky ");
  ob_put_html(b, r->rest, r->rlen);
  ob_puts(b, "</title></head><body><h1>flaky ");
  ob_put_html(b, r->rest, r->rlen);
  ob_puts(b, "</h1><p>request ");
  ob_putu(b, f->hits);
  ob_puts(b, "</p></body></html>\n");
  respond_built(c, 200, NULL, HTML);
}

static void serve_trickle(struct conn *c, const struct req *r)
{
  uint64_t bytes, interval, chunk;
  if (query_num(r, "bytes", 10, 0, HUGE_MAX, &bytes) ||
      query_num(r, "interval", 100, 0, 60000, &interval) ||
      query_num(r, "chunk", 1, 1, FILL_SIZE, &chunk)) {
    bad_param(c);
    return;
  }
  c->chunk = (uint32_t)chunk;
  c->interval_ms = (uint32_t)interval;
  respond_stream(c, 200, NULL, "text/plain", bytes, NULL, 0, BODY_TRICKLE,
                 bytes);
}

static void serve_reset(struct conn *c, const struct req *r)
{
  uint64_t after;
  if (query_num(r, "after", 1000, 0, RESET_CLAIM - 1, &after)) {
    bad_param(c);
    return;
  }
  c->after = AFTER_RESET;
  respond_stream(c, 200, NULL, "text/plain", RESET_CLAIM, NULL, 0, BODY_FILL,
                 after);
}

static void serve_lie(struct conn *c, const struct req *r)
{
  uint64_t claim, send;
  if (query_num(r, "claim", 1000, 1, HUGE_MAX, &claim) ||
      query_num(r, "send", claim / 2, 0, claim - 1, &send)) {
    bad_param(c);
    return;
  }
  c->after = AFTER_CLOSE;
  respond_stream(c, 200, NULL, "text/plain", claim, NULL, 0, BODY_FILL, send);
}

static void serve_huge(struct conn *c, const struct req *r)
{
  uint64_t bytes;
  if (query_num(r, "bytes", HUGE_DEFAULT, 0, HUGE_MAX, &bytes)) {
    bad_param(c);
    return;
  }
  respond_stream(c, 200, NULL, "application/octet-stream", bytes, NULL, 0,
                 BODY_FILL, bytes);
}

/* Makes the repeatable bomb block on first use. Compressing 1 MiB once and
 * repeating it makes any size cost nothing per request: a block that ends in
 * a full flush refers to nothing before it, so copies of it concatenate into
 * a valid deflate stream. */
static int bomb_init(struct origin *o)
{
  static const unsigned char zeros[FILL_SIZE];
  const size_t out_cap = 64 * 1024; /* 1 MiB of zeros deflates to ~1 KB */
  z_stream z;
  int rc = -EIO;
  unsigned char *out = NULL;
  if (o->bomb_block)
    return 0;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    return -ENOMEM;
  out = malloc(out_cap);
  if (!out) {
    rc = -ENOMEM;
    goto fail;
  }
  z.next_out = out;
  z.avail_out = (uInt)out_cap;
  uLong crc = crc32(0, NULL, 0);
  for (int i = 0; i < (1 << 20) / FILL_SIZE; i++) {
    z.next_in = (Bytef *)zeros;
    z.avail_in = FILL_SIZE;
    int last = i == (1 << 20) / FILL_SIZE - 1;
    if (deflate(&z, last ? Z_FULL_FLUSH : Z_NO_FLUSH) != Z_OK || z.avail_in ||
        !z.avail_out)
      goto fail;
    crc = crc32(crc, zeros, FILL_SIZE);
  }
  size_t block = out_cap - z.avail_out;
  z.next_out = o->bomb_fin;
  z.avail_out = sizeof o->bomb_fin;
  if (deflate(&z, Z_FINISH) != Z_STREAM_END)
    goto fail;
  o->bomb_fin_len = sizeof o->bomb_fin - z.avail_out;
  deflateEnd(&z);
  o->bomb_block = out;
  o->bomb_len = block;
  o->bomb_crc = (uint32_t)crc;
  return 0;
fail:
  deflateEnd(&z);
  free(out);
  return rc;
}

/* CRC-32 of mb MiB of zeros in O(log mb) combines. */
static uint32_t bomb_crc(const struct origin *o, uint64_t mb)
{
  uLong acc = 0, pw = o->bomb_crc; /* 0 is the CRC of nothing */
  uint64_t pwlen = UINT64_C(1) << 20;
  while (mb) {
    if (mb & 1)
      acc = crc32_combine(acc, pw, (z_off_t)pwlen);
    mb >>= 1;
    if (mb) {
      pw = crc32_combine(pw, pw, (z_off_t)pwlen);
      pwlen *= 2;
    }
  }
  return (uint32_t)acc;
}

static void put_le32(unsigned char *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static void serve_bomb(struct conn *c, const struct req *r)
{
  /* gzip member header: deflate, no name, no mtime, OS unix */
  static const unsigned char gzhead[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
  struct origin *o = c->o;
  uint64_t mb;
  if (query_num(r, "mb", BOMB_DEFAULT_MB, 0, BOMB_MAX_MB, &mb)) {
    bad_param(c);
    return;
  }
  if (bomb_init(o)) {
    respond_msg(c, 500, NULL, NULL);
    return;
  }
  memcpy(c->tail, o->bomb_fin, o->bomb_fin_len);
  put_le32(c->tail + o->bomb_fin_len, bomb_crc(o, mb));
  put_le32(c->tail + o->bomb_fin_len + 4, (uint32_t)(mb << 20));
  c->tail_len = o->bomb_fin_len + 8;
  uint64_t clen = sizeof gzhead + mb * o->bomb_len + c->tail_len;
  respond_stream(c, 200, "Content-Encoding: gzip\r\n", HTML, clen, gzhead,
                 sizeof gzhead, BODY_BOMB, mb);
}

static void serve_headers(struct conn *c, const struct req *r)
{
  static const char body[] = "headers ok\n";
  static const char filler[] = /* 80 bytes */
      "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
      "abcdefghijklmnopqrstuvwxyzab";
  struct ob *h = &c->o->resp;
  uint64_t kb;
  if (query_num(r, "kb", 16, 0, HEADERS_KB_MAX, &kb)) {
    bad_param(c);
    return;
  }
  head_begin(c, 200);
  /* ~100-byte lines up to the target, leaving room for the last few
   * headers, so the whole head is within ~100 bytes of kb KiB. */
  for (uint64_t i = 0; h->b.len + 100 + 160 < kb * 1024 && !h->err; i++) {
    ob_puts(h, "X-Filler-");
    ob_putu(h, i);
    ob_puts(h, ": ");
    ob_puts(h, filler);
    ob_puts(h, "\r\n");
  }
  head_end(c, "text/plain", sizeof body - 1);
  if (!c->head_only)
    ob_put(h, body, sizeof body - 1);
  c->body = BODY_NONE;
  send_head(c);
}

static void redirect(struct conn *c, int code, const char *loc, size_t n)
{
  struct ob *h = &c->o->resp;
  static const char body[] = "redirecting\n";
  head_begin(c, code);
  ob_puts(h, "Location: ");
  ob_put(h, loc, n);
  ob_puts(h, "\r\n");
  head_end(c, "text/plain", sizeof body - 1);
  if (!c->head_only)
    ob_put(h, body, sizeof body - 1);
  c->body = BODY_NONE;
  send_head(c);
}

static void serve_redirect(struct conn *c, const struct req *r)
{
  uint64_t n;
  char loc[48];
  if (parse_u64(r->rest, r->rlen, 1000000000, &n)) {
    not_found(c);
    return;
  }
  if (n == 0)
    snprintf(loc, sizeof loc, "/p/0.html");
  else
    snprintf(loc, sizeof loc, "/redirect/%" PRIu64, n - 1);
  redirect(c, 302, loc, strlen(loc));
}

static void serve_loop(struct conn *c, const struct req *r)
{
  if (r->rlen == 1 && r->rest[0] == 'a')
    redirect(c, 302, "/loop/b", 7);
  else if (r->rlen == 1 && r->rest[0] == 'b')
    redirect(c, 302, "/loop/a", 7);
  else
    not_found(c);
}

static void serve_redirect_to(struct conn *c, const struct req *r)
{
  struct ob *b = &c->o->body;
  const char *v;
  size_t n;
  uint64_t code;
  if (!query_get(r, "url", &v, &n) || n == 0 ||
      query_num(r, "code", 302, 301, 308, &code) ||
      (code > 303 && code < 307)) {
    bad_param(c);
    return;
  }
  ob_reset(b);
  for (size_t i = 0; i < n; i++) {
    char ch = v[i];
    if (ch == '%') {
      int hi = i + 2 < n ? hexval(v[i + 1]) : -1;
      int lo = i + 2 < n ? hexval(v[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        bad_param(c);
        return;
      }
      ch = (char)(hi * 16 + lo);
      i += 2;
    }
    /* Controls would split the header: refuse rather than inject. */
    if ((unsigned char)ch < 0x20 || ch == 0x7f) {
      bad_param(c);
      return;
    }
    ob_put(b, &ch, 1);
  }
  if (b->err) {
    conn_close(c);
    return;
  }
  redirect(c, (int)code, b->b.data, b->b.len);
}

static void serve_nonutf8(struct conn *c, const struct req *r)
{
  static const char page[] =
      "<!doctype html><html><head><title>caf\xe9 cr\xe8me</title></head>"
      "<body><h1>caf\xe9 cr\xe8me</h1><p>Latin-1 bytes and no charset: "
      "cr\xe8me br\xfbl\xe9"
      "e, na\xefve, \xa3"
      "5.</p></body></html>\n";
  (void)r;
  respond(c, 200, NULL, "text/html", page, sizeof page - 1);
}

/* A page titled "LABEL: VALUE" (VALUE escaped; "none" when n is 0), with
 * a link to link when there is one, and extra head lines. */
static void echo_page(struct conn *c, const char *extra, const char *label,
                      const char *v, size_t n, const char *link)
{
  struct ob *b = &c->o->body;
  ob_reset(b);
  for (int i = 0; i < 2; i++) {
    ob_puts(b, i ? "</title></head><body><h1>"
                 : "<!doctype html><html><head><meta charset=utf-8><title>");
    ob_puts(b, label);
    ob_puts(b, ": ");
    if (n)
      ob_put_html(b, v, n);
    else
      ob_puts(b, "none");
  }
  ob_puts(b, "</h1>");
  if (link) {
    ob_puts(b, "<p><a href=\"");
    ob_puts(b, link);
    ob_puts(b, "\">next</a></p>");
  }
  ob_puts(b, "</body></html>\n");
  respond_built(c, 200, extra, HTML);
}

static int cookie_name_char(char ch)
{
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
}

/* RFC 6265's cookie-octet: visible ASCII but for '"', ',', ';' and '\'. */
static int cookie_value_char(char ch)
{
  return ch > 0x20 && ch < 0x7f && ch != '"' && ch != ',' && ch != ';' &&
         ch != '\\';
}

/* /cookie/set?NAME=VALUE sets a cookie (Path=/) and links to /cookie/check,
 * which shows the Cookie header it was sent. */
static void serve_cookie(struct conn *c, const struct req *r)
{
  if (r->rlen == 5 && !memcmp(r->rest, "check", 5)) {
    echo_page(c, NULL, "cookie", c->cookie, c->cookie_len, NULL);
    return;
  }
  if (r->rlen != 3 || memcmp(r->rest, "set", 3)) {
    not_found(c);
    return;
  }
  const char *eq = r->query ? memchr(r->query, '=', r->qlen) : NULL;
  size_t nlen = eq ? (size_t)(eq - r->query) : 0;
  size_t vlen = eq ? r->qlen - nlen - 1 : 0;
  int ok = eq && nlen >= 1 && nlen <= 64 && vlen <= 64;
  for (size_t i = 0; ok && i < nlen; i++)
    ok = cookie_name_char(r->query[i]);
  for (size_t i = 0; ok && i < vlen; i++)
    ok = cookie_value_char(eq[1 + i]);
  if (!ok) {
    bad_param(c);
    return;
  }
  char extra[160];
  snprintf(extra, sizeof extra, "Set-Cookie: %.*s; Path=/\r\n", (int)r->qlen,
           r->query);
  echo_page(c, extra, "cookie set", r->query, r->qlen, "/cookie/check");
}

/* /echo: a page titled with the X-Echo request header; /echo.json the
 * same as {"x-echo": VALUE or null}. */
static void serve_echo(struct conn *c, const struct req *r)
{
  if (r->rlen == 5 && !memcmp(r->rest, ".json", 5)) {
    struct ob *b = &c->o->body;
    ob_reset(b);
    ob_puts(b, "{\"x-echo\":");
    if (!c->xecho_len) {
      ob_puts(b, "null");
    } else if (!b->err && buf_json_str(&b->b, c->xecho, c->xecho_len)) {
      b->err = -ENOMEM;
    }
    ob_puts(b, "}\n");
    respond_built(c, 200, NULL, "application/json");
    return;
  }
  if (r->rlen) {
    not_found(c);
    return;
  }
  echo_page(c, NULL, "x-echo", c->xecho, c->xecho_len, NULL);
}

/* Broken on purpose: a title inside a comment before the real one, unclosed
 * tags, stray '<', unquoted and mismatched-quote attributes, a second title
 * in the body and a tag cut off at the end. The title an HTML5 parser (and
 * libxml2's HTML parser) finds is "Malformed but parsed". */
static const char MALFORMED_HTML[] =
    "<!DOCTYPE html>\n"
    "<html><head>\n"
    "<!-- <title>Not the title</title> -->\n"
    "<meta charset=utf-8>\n"
    "<title>Malformed but parsed</title>\n"
    "<body class=main id='top\"x'>\n"
    "<div class=outer><p>Unclosed paragraph <b>bold <i>bold italic</b> "
    "text\n"
    "<p>Stray < less-than, 3 > 2, a lone & and &nosuchentity;\n"
    "<a href=/p/1.html>unquoted link</a>\n"
    "<a href=\"/p/2.html' title='mixed\">mixed quotes</a>\n"
    "<a href='/p/3.html' title=\"say 'hi'\">nested quotes</a>\n"
    "<img src=x.png alt=\"a \"quoted\" word\">\n"
    "<table><tr><td>cell<td>cell\n"
    "<title>Not the title either</title>\n"
    "</div></span></em>\n"
    "<p>Cut off at the end <a href=\"/p/4.html";

static void serve_malformed(struct conn *c, const struct req *r)
{
  (void)r;
  respond(c, 200, NULL, HTML, MALFORMED_HTML, sizeof MALFORMED_HTML - 1);
}

static void serve_json(struct conn *c, const struct req *r)
{
  struct ob *b = &c->o->body;
  uint64_t n;
  if (parse_u64(r->rest, r->rlen, JSON_MAX - 1, &n)) {
    not_found(c);
    return;
  }
  ob_reset(b);
  ob_puts(b, "{\"id\":");
  ob_putu(b, n);
  ob_puts(b, ",\"name\":\"item ");
  ob_putu(b, n);
  ob_puts(b, "\",\"tags\":[\"a\",\"b\"],\"nested\":{\"value\":");
  ob_putu(b, n * 2);
  ob_puts(b, ",\"ok\":true},\"title\":\"JSON ");
  ob_putu(b, n);
  ob_puts(b, "\"}\n");
  respond_built(c, 200, NULL, "application/json");
}

static void serve_close(struct conn *c, const struct req *r)
{
  (void)r;
  conn_close(c);
}

static void serve_slowhead(struct conn *c, const struct req *r)
{
  (void)r; /* the wait happened in request_ready */
  respond_msg(c, 200, NULL, "Slow head");
}

/* ---- /hostile/: traps for crawlers ------------------------------------- */

/* A link whose URL is pre, the origin's port when port is set, then post. */
struct hlink {
  const char *pre;
  int port;
  const char *post;
};

/* Starts a page titled title, a list of links to follow, in b. */
static void hostile_begin(struct ob *b, const char *title)
{
  ob_reset(b);
  ob_puts(b, "<!doctype html><html><head><meta charset=utf-8><title>");
  ob_puts(b, title);
  ob_puts(b, "</title></head><body><h1>");
  ob_puts(b, title);
  ob_puts(b, "</h1>\n<ul>\n");
}

static void hostile_link(struct ob *b, const char *href, size_t n)
{
  ob_puts(b, "<li><a href=\"");
  ob_put_html(b, href, n);
  ob_puts(b, "\">");
  ob_put_html(b, href, n);
  ob_puts(b, "</a></li>\n");
}

static void hostile_end(struct conn *c)
{
  struct ob *b = &c->o->body;
  ob_puts(b, "</ul></body></html>\n");
  respond_built(c, 200, NULL, HTML);
}

static void hostile_links(struct conn *c, const char *title,
                          const struct hlink *l, size_t n)
{
  struct ob *b = &c->o->body;
  char url[128];
  hostile_begin(b, title);
  for (size_t i = 0; i < n; i++) {
    if (l[i].port)
      snprintf(url, sizeof url, "%s:%d%s", l[i].pre, c->o->port, l[i].post);
    else
      snprintf(url, sizeof url, "%s%s", l[i].pre, l[i].post);
    hostile_link(b, url, strlen(url));
  }
  hostile_end(c);
}

/* Links to private, link-local and disguised loopback addresses. */
static void hostile_ssrf(struct conn *c)
{
  static const struct hlink l[] = {
      {"http://127.0.0.2", 1, "/p/1.html"},
      {"http://localhost", 1, "/p/2.html"},
      {"http://10.0.0.1", 0, "/x.html"},
      {"http://169.254.169.254", 0, "/latest/meta-data/"},
      {"http://[::1]", 1, "/p/3.html"},
      {"http://192.168.1.1", 0, "/"},
      {"http://0x7f000001", 1, "/p/4.html"},
  };
  hostile_links(c, "SSRF bait", l, sizeof l / sizeof *l);
}

/* Links to other hosts and other schemes, and one to this site. */
static void hostile_ext(struct conn *c)
{
  static const struct hlink l[] = {
      {"http://example.com/", 0, ""},
      {"https://www.example.org/a.html", 0, ""},
      {"http://sub.127.0.0.1.nip.io", 1, "/"},
      {"mailto:x@example.com", 0, ""},
      {"javascript:void(0)", 0, ""},
      {"ftp://example.com/file", 0, ""},
      {"/p/5.html", 0, ""},
  };
  hostile_links(c, "External links", l, sizeof l / sizeof *l);
}

/* A page with <meta name=robots content=robots>, word in its title and
 * text, and one link, to href. */
static void hostile_meta(struct conn *c, const char *robots, const char *title,
                         const char *href)
{
  struct ob *b = &c->o->body;
  ob_reset(b);
  ob_puts(b, "<!doctype html><html><head><meta charset=utf-8>"
             "<meta name=robots content=\"");
  ob_puts(b, robots);
  ob_puts(b, "\"><title>");
  ob_puts(b, title);
  ob_puts(b, "</title></head><body><h1>");
  ob_puts(b, title);
  ob_puts(b, "</h1>\n<ul>\n");
  hostile_link(b, href, strlen(href));
  hostile_end(c);
}

/* A page whose only way on is a <meta http-equiv=refresh>. */
static void hostile_refresh(struct conn *c)
{
  struct ob *b = &c->o->body;
  ob_reset(b);
  ob_puts(b, "<!doctype html><html><head><meta charset=utf-8>"
             "<meta http-equiv=\"refresh\" content=\"0; "
             "url='/hostile/refresh-target.html'\">"
             "<title>Moved on</title></head><body><h1>Moved on</h1>\n<ul>\n");
  hostile_end(c);
}

/* sitemap.xml: an index of sitemap-1.xml (plain) and sitemap-2.xml.gz
 * (gzipped, as a file, not a Content-Encoding), each listing one page no
 * link leads to. */
static void hostile_sitemap(struct conn *c, int which)
{
  static const char *const list[][2] = {{"sitemapindex", "sitemap"},
                                        {"urlset", "url"},
                                        {"urlset", "url"},
                                        {"urlset", "url"}};
  static const char *const locs[][2] = {
      {"/hostile/sitemap-1.xml", "/hostile/sitemap-2.xml.gz"},
      {"/hostile/sitemap-only.html", NULL},
      {"/hostile/sitemap-gz.html", NULL},
      {"/hostile/robots-sitemap-only.html", NULL}};
  struct origin *o = c->o;
  struct ob *b = &o->body;
  char loc[64];
  ob_reset(b);
  ob_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
  ob_puts(b, list[which][0]);
  ob_puts(b, " xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
  for (int i = 0; i < 2 && locs[which][i]; i++) {
    snprintf(loc, sizeof loc, "http://127.0.0.1:%d", o->port);
    ob_puts(b, "  <");
    ob_puts(b, list[which][1]);
    ob_puts(b, "><loc>");
    ob_puts(b, loc);
    ob_puts(b, locs[which][i]);
    ob_puts(b, "</loc></");
    ob_puts(b, list[which][1]);
    ob_puts(b, ">\n");
  }
  ob_puts(b, "</");
  ob_puts(b, list[which][0]);
  ob_puts(b, ">\n");
  if (b->err) {
    conn_close(c);
    return;
  }
  if (which != 2)
    respond(c, 200, NULL, "application/xml", b->b.data, b->b.len);
  else
    respond_gzip(c, NULL, "application/gzip");
}

/* cal/Y/M.html: months without end (1 <= Y <= 9999). */
static void hostile_cal(struct conn *c, const char *s, size_t n)
{
  struct ob *b = &c->o->body;
  const char *slash = memchr(s, '/', n);
  uint64_t y, m;
  char t[64], url[96];
  if (!slash || n - (size_t)(slash - s) < 7 || memcmp(s + n - 5, ".html", 5) ||
      parse_u64(s, (size_t)(slash - s), 9999, &y) || y < 1 ||
      parse_u64(slash + 1, n - (size_t)(slash - s) - 6, 12, &m) || m < 1) {
    not_found(c);
    return;
  }
  snprintf(t, sizeof t, "Calendar %" PRIu64 "-%" PRIu64, y, m);
  hostile_begin(b, t);
  if (y < 9999 || m < 12) {
    snprintf(url, sizeof url, "/hostile/cal/%" PRIu64 "/%" PRIu64 ".html",
             m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1);
    hostile_link(b, url, strlen(url));
  }
  if (y > 1 || m > 1) {
    snprintf(url, sizeof url, "/hostile/cal/%" PRIu64 "/%" PRIu64 ".html",
             m == 1 ? y - 1 : y, m == 1 ? 12 : m - 1);
    hostile_link(b, url, strlen(url));
  }
  hostile_end(c);
}

/* grow?x=STR links to grow?x=STRa. */
static void hostile_grow(struct conn *c, const struct req *r)
{
  struct ob *b = &c->o->body;
  const char *v = "";
  size_t n = 0;
  char t[64];
  query_get(r, "x", &v, &n);
  if (n > GROW_MAX) {
    respond_msg(c, 414, NULL, NULL);
    return;
  }
  snprintf(t, sizeof t, "Grow %zu", n);
  hostile_begin(b, t);
  ob_puts(b, "<li><a href=\"/hostile/grow?x=");
  ob_put_html(b, v, n);
  ob_puts(b, "a\">longer</a></li>\n");
  hostile_end(c);
}

/* deep/...: links to the same path one level deeper. */
static void hostile_deep(struct conn *c, const struct req *r, const char *s,
                         size_t n)
{
  struct ob *b = &c->o->body;
  size_t depth = 0;
  char t[64];
  for (size_t i = 0; i < n; i++)
    depth += s[i] != '/' && (i == 0 || s[i - 1] == '/');
  snprintf(t, sizeof t, "Deep %zu", depth);
  hostile_begin(b, t);
  ob_puts(b, "<li><a href=\"");
  ob_put_html(b, r->path, r->plen);
  ob_puts(b, r->path[r->plen - 1] == '/' ? "a/" : "/a/");
  ob_puts(b, "\">deeper</a></li>\n");
  hostile_end(c);
}

static int rest_is(const struct req *r, const char *s)
{
  return r->rlen == strlen(s) && !memcmp(r->rest, s, r->rlen);
}

static void serve_hostile(struct conn *c, const struct req *r)
{
  if (rest_is(r, "ssrf.html"))
    hostile_ssrf(c);
  else if (rest_is(r, "ext.html"))
    hostile_ext(c);
  else if (r->rlen > 4 && !memcmp(r->rest, "cal/", 4))
    hostile_cal(c, r->rest + 4, r->rlen - 4);
  else if (rest_is(r, "grow"))
    hostile_grow(c, r);
  else if (rest_is(r, "deep") ||
           (r->rlen >= 5 && !memcmp(r->rest, "deep/", 5)))
    hostile_deep(c, r, r->rest + 4, r->rlen - 4);
  else if (rest_is(r, "redirect-loop"))
    redirect(c, 302, "/hostile/redirect-loop2", 23);
  else if (rest_is(r, "redirect-loop2"))
    redirect(c, 302, "/hostile/redirect-loop", 22);
  else if (rest_is(r, "redirect.html"))
    redirect(c, 301, "/p/6.html", 9);
  else if (rest_is(r, "noindex.html"))
    hostile_meta(c, "noindex", "Kept out of the index wombatnoidx",
                 "/hostile/noindex-next.html");
  else if (rest_is(r, "nofollow.html"))
    hostile_meta(c, "nofollow", "Links not followed platypusnofol",
                 "/hostile/nofollow-target.html");
  else if (rest_is(r, "refresh.html"))
    hostile_refresh(c);
  else if (rest_is(r, "sitemap.xml"))
    hostile_sitemap(c, 0);
  else if (rest_is(r, "sitemap-1.xml"))
    hostile_sitemap(c, 1);
  else if (rest_is(r, "sitemap-2.xml.gz"))
    hostile_sitemap(c, 2);
  else if (rest_is(r, "sitemap-robots.xml"))
    hostile_sitemap(c, 3);
  else if (rest_is(r, "noindex-next.html") ||
           rest_is(r, "nofollow-target.html") ||
           rest_is(r, "refresh-target.html") ||
           rest_is(r, "sitemap-only.html") || rest_is(r, "sitemap-gz.html") ||
           rest_is(r, "robots-sitemap-only.html"))
    hostile_links(c, "Linked from a meta robots page", NULL, 0);
  else
    not_found(c);
}

/* The live endpoints, with the connection code they need (below). */
static void serve_api(struct conn *c, const struct req *r);
static void serve_feed(struct conn *c, const struct req *r);
static void serve_item(struct conn *c, const struct req *r);
static void serve_stream(struct conn *c, const struct req *r);
static void serve_control(struct conn *c, const struct req *r);

struct route {
  const char *path;
  size_t len;
  int prefix; /* match path as a prefix; the rest goes to req.rest */
  void (*serve)(struct conn *c, const struct req *r);
};

#define R(p, pre, fn)                                                         \
  {                                                                           \
    p, sizeof p - 1, pre, fn                                                  \
  }
static const struct route routes[] = {
    R("/p/", 1, serve_page),
    R("/", 0, serve_index),
    R("/index.html", 0, serve_index),
    R("/gzip/", 1, serve_gzip),
    R("/robots.txt", 0, serve_robots),
    R("/private/", 1, serve_private),
    R("/hostile/", 1, serve_hostile),
    R("/status/", 1, serve_status),
    R("/flaky/", 1, serve_flaky),
    R("/trickle", 0, serve_trickle),
    R("/reset", 0, serve_reset),
    R("/lie", 0, serve_lie),
    R("/huge", 0, serve_huge),
    R("/bomb", 0, serve_bomb),
    R("/headers", 0, serve_headers),
    R("/redirect/", 1, serve_redirect),
    R("/redirect-to", 0, serve_redirect_to),
    R("/loop/", 1, serve_loop),
    R("/nonutf8", 0, serve_nonutf8),
    R("/malformed", 0, serve_malformed),
    R("/json/", 1, serve_json),
    R("/close", 0, serve_close),
    R("/slowhead", 0, serve_slowhead),
    R("/api/", 1, serve_api),
    R("/feed/", 1, serve_feed),
    R("/items/", 1, serve_item),
    R("/stream", 0, serve_stream),
    R("/control/", 1, serve_control),
    R("/cookie/", 1, serve_cookie),
    R("/echo", 1, serve_echo),
};
#undef R

static void route(struct conn *c)
{
  struct req r;
  if (split_url(c, &r)) {
    bad_param(c);
    return;
  }
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    const struct route *rt = &routes[i];
    if (r.plen < rt->len || memcmp(r.path, rt->path, rt->len) ||
        (!rt->prefix && r.plen != rt->len))
      continue;
    r.rest = r.path + rt->len;
    r.rlen = r.plen - rt->len;
    rt->serve(c, &r);
    return;
  }
  not_found(c);
}

/* ---- connections: writing ---------------------------------------------- */

static void conn_reset(struct conn *c);
static void conn_shutdown(struct conn *c);
static void ws_written(struct conn *c);
static void ws_input(struct conn *c, const char *data, size_t n);

/* The response is out: keep the connection, or end it as promised. */
static void response_done(struct conn *c)
{
  if (c->after == AFTER_RESET) {
    conn_reset(c);
    return;
  }
  if (c->after == AFTER_CLOSE) {
    conn_shutdown(c);
    return;
  }
  c->state = ST_READ;
  if (c->parsing)
    return; /* process_input's loop serves the rest */
  if (c->pending_len)
    process_input(c, c->pending, c->pending_len);
  if (c->state != ST_READ)
    return;
  if (c->io.eof)
    conn_close(c);
  else if (!c->io.reading && tcpserver_conn_read_start(&c->io))
    conn_close(c);
}

static void on_written(uv_write_t *req, int status)
{
  struct conn *c = req->data;
  free(c->out);
  c->out = NULL;
  if (c->state == ST_CLOSED)
    return;
  if (status < 0) {
    conn_close(c); /* the peer went away: stop streaming */
    return;
  }
  if (c->ws)
    ws_written(c);
  else
    stream_next(c);
}

static void write_bufs(struct conn *c, const uv_buf_t *bufs, unsigned n)
{
  c->wreq.data = c;
  if (uv_write(&c->wreq, (uv_stream_t *)&c->io.tcp, bufs, n, on_written))
    conn_close(c);
}

static void send_head(struct conn *c)
{
  struct ob *r = &c->o->resp;
  if (r->err) {
    conn_close(c); /* out of memory: dropping beats a broken response */
    return;
  }
  uv_buf_t b = uv_buf_init(r->b.data, (unsigned)r->b.len);
  int n = uv_try_write((uv_stream_t *)&c->io.tcp, &b, 1);
  if (n == UV_EAGAIN)
    n = 0;
  if (n < 0) {
    conn_close(c);
    return;
  }
  if ((size_t)n == r->b.len) {
    stream_next(c);
    return;
  }
  /* The kernel took part of it: keep the rest until uv_write is done. */
  size_t rest = r->b.len - (size_t)n;
  c->out = malloc(rest);
  if (!c->out) {
    conn_close(c);
    return;
  }
  memcpy(c->out, r->b.data + n, rest);
  b = uv_buf_init(c->out, (unsigned)rest);
  write_bufs(c, &b, 1);
}

static void on_trickle(uv_timer_t *t)
{
  struct conn *c = t->data;
  if (c->state != ST_BUSY)
    return;
  uint64_t n = c->left < c->chunk ? c->left : c->chunk;
  c->left -= n;
  uv_buf_t b = uv_buf_init(c->o->fill, (unsigned)n);
  write_bufs(c, &b, 1);
}

/* Sends the next piece of the body, or finishes the response. Each piece
 * is written only from the previous one's callback (backpressure). */
static void stream_next(struct conn *c)
{
  struct origin *o = c->o;
  uv_buf_t bufs[BOMB_BUFS];
  unsigned nb = 0;
  switch (c->body) {
  case BODY_NONE:
    response_done(c);
    return;
  case BODY_FILL:
    while (nb < STREAM_BUFS && c->left) {
      uint64_t n = c->left < FILL_SIZE ? c->left : FILL_SIZE;
      bufs[nb++] = uv_buf_init(o->fill, (unsigned)n);
      c->left -= n;
    }
    break;
  case BODY_TRICKLE:
    if (c->left)
      uv_timer_start(&c->io.timer, on_trickle, c->interval_ms, 0);
    else
      response_done(c);
    return;
  case BODY_BOMB:
    if (c->left) {
      while (nb < BOMB_BUFS && c->left) {
        bufs[nb++] = uv_buf_init((char *)o->bomb_block, (unsigned)o->bomb_len);
        c->left--;
      }
    } else if (c->tail_len) {
      bufs[nb++] = uv_buf_init((char *)c->tail, (unsigned)c->tail_len);
      c->tail_len = 0;
    }
    break;
  }
  if (!nb) {
    response_done(c);
    return;
  }
  write_bufs(c, bufs, nb);
}

/* ---- connections: reading and parsing ---------------------------------- */

enum {
  HDR_OTHER,
  HDR_UA,
  HDR_AE,
  HDR_INM,
  HDR_IMS,
  HDR_UPGRADE,
  HDR_WSKEY,
  HDR_WSVER,
  HDR_COOKIE,
  HDR_ECHO,
};

static struct conn *conn_of(http_parser *p)
{
  return p->data;
}

static int on_message_begin(http_parser *p)
{
  struct conn *c = conn_of(p);
  /* Give back what one unusual request grew; keep the usual size. */
  if (c->url.cap > 4096)
    buf_free(&c->url);
  buf_reset(&c->url);
  buf_reset(&c->ua);
  c->ae_len = 0;
  c->hname_len = 0;
  c->in_value = 1;
  c->hcur = HDR_OTHER;
  c->hdr_bytes = 0;
  c->too_large = 0;
  c->too_long = 0;
  c->accept_gzip = 0;
  c->upgrade = 0;
  c->inm_len = c->ims_len = c->upg_len = c->wskey_len = c->wsver_len = 0;
  c->cookie_len = c->xecho_len = 0;
  return 0;
}

static int count_head(struct conn *c, size_t n)
{
  c->hdr_bytes += n;
  if (c->hdr_bytes > HEADER_CAP) {
    c->too_large = 1;
    return -1;
  }
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
  struct conn *c = conn_of(p);
  /* The target has a cap of its own, above the headers': a crawler trap
   * such as /hostile/grow makes long ones. */
  if (c->url.len + n > URL_CAP) {
    c->too_long = 1;
    return -1;
  }
  if (buf_append(&c->url, at, n)) {
    c->oom = 1;
    return -1;
  }
  return 0;
}

static char lower(char ch)
{
  return ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
  struct conn *c = conn_of(p);
  if (c->in_value) { /* a new header starts; 4 for ": " and CRLF */
    c->in_value = 0;
    c->hname_len = 0;
    if (count_head(c, 4))
      return -1;
  }
  if (count_head(c, n))
    return -1;
  for (size_t i = 0; i < n; i++) {
    if (c->hname_len < sizeof c->hname)
      c->hname[c->hname_len] = lower(at[i]);
    if (c->hname_len <= sizeof c->hname)
      c->hname_len++;
  }
  return 0;
}

static int header_is(const struct conn *c, const char *name)
{
  size_t n = strlen(name);
  return c->hname_len == n && !memcmp(c->hname, name, n);
}

/* Appends to a small fixed field; what does not fit is dropped (the
 * checks then fail: a field that long is never valid). */
static void field_put(char *dst, unsigned char *len, size_t cap,
                      const char *at, size_t n, int fold)
{
  for (size_t i = 0; i < n && *len < cap; i++)
    dst[(*len)++] = fold ? lower(at[i]) : at[i];
}

static int header_kind(const struct conn *c)
{
  return header_is(c, "user-agent")              ? HDR_UA
         : header_is(c, "accept-encoding")       ? HDR_AE
         : header_is(c, "if-none-match")         ? HDR_INM
         : header_is(c, "if-modified-since")     ? HDR_IMS
         : header_is(c, "upgrade")               ? HDR_UPGRADE
         : header_is(c, "sec-websocket-key")     ? HDR_WSKEY
         : header_is(c, "sec-websocket-version") ? HDR_WSVER
         : header_is(c, "cookie")                ? HDR_COOKIE
         : header_is(c, "x-echo")                ? HDR_ECHO
                                                 : HDR_OTHER;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
  struct conn *c = conn_of(p);
  if (!c->in_value) {
    c->in_value = 1;
    c->hcur = header_kind(c);
    if (c->hcur == HDR_INM && c->inm_len) /* another line: one list */
      field_put(c->inm, &c->inm_len, sizeof c->inm, ",", 1, 0);
    if (c->hcur == HDR_COOKIE && c->cookie_len)
      field_put(c->cookie, &c->cookie_len, sizeof c->cookie, "; ", 2, 0);
  }
  if (count_head(c, n))
    return -1;
  switch (c->hcur) {
  case HDR_INM:
    field_put(c->inm, &c->inm_len, sizeof c->inm, at, n, 0);
    return 0;
  case HDR_IMS:
    field_put(c->ims, &c->ims_len, sizeof c->ims, at, n, 0);
    return 0;
  case HDR_UPGRADE:
    field_put(c->upg, &c->upg_len, sizeof c->upg, at, n, 1);
    return 0;
  case HDR_WSKEY:
    field_put(c->wskey, &c->wskey_len, sizeof c->wskey, at, n, 0);
    return 0;
  case HDR_WSVER:
    field_put(c->wsver, &c->wsver_len, sizeof c->wsver, at, n, 0);
    return 0;
  case HDR_COOKIE:
    field_put(c->cookie, &c->cookie_len, sizeof c->cookie, at, n, 0);
    return 0;
  case HDR_ECHO:
    field_put(c->xecho, &c->xecho_len, sizeof c->xecho, at, n, 0);
    return 0;
  default:
    break;
  }
  if (c->hcur == HDR_UA) {
    size_t room = c->ua.len < UA_MAX ? UA_MAX - c->ua.len : 0;
    if (buf_append(&c->ua, at, n < room ? n : room)) {
      c->oom = 1;
      return -1;
    }
  } else if (c->hcur == HDR_AE) {
    for (size_t i = 0; i < n && c->ae_len < sizeof c->ae; i++)
      c->ae[c->ae_len++] = lower(at[i]);
  }
  return 0;
}

static int on_headers_complete(http_parser *p)
{
  struct conn *c = conn_of(p);
  for (size_t i = 0; i + 4 <= c->ae_len; i++)
    if (!memcmp(c->ae + i, "gzip", 4))
      c->accept_gzip = 1;
  return 0;
}

static int on_message_complete(http_parser *p)
{
  struct conn *c = conn_of(p);
  c->keep_alive = http_should_keep_alive(p);
  c->upgrade = p->upgrade;
  c->method = p->method;
  c->http_minor = p->http_minor;
  /* One request at a time: the parser stops here and process_input serves
   * this request before parsing any further. */
  http_parser_pause(p, 1);
  return 0;
}

static void log_request(struct origin *o, const struct conn *c)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  long long ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  fprintf(o->log, "%lld.%03ld %s ", ms, (ts.tv_nsec / 1000) % 1000,
          http_method_str((enum http_method)c->method));
  /* Controls and spaces would break the one-line, space-split format. */
  for (size_t i = 0; i < c->url.len; i++) {
    unsigned char ch = (unsigned char)c->url.data[i];
    fputc(ch <= 0x20 || ch == 0x7f ? '?' : ch, o->log);
  }
  fputc(' ', o->log);
  if (!c->ua.len)
    fputc('-', o->log);
  for (size_t i = 0; i < c->ua.len; i++) {
    unsigned char ch = (unsigned char)c->ua.data[i];
    fputc(ch < 0x20 || ch == 0x7f ? '?' : ch, o->log);
  }
  fputc('\n', o->log);
  fflush(o->log);
}

static void on_delay(uv_timer_t *t)
{
  struct conn *c = t->data;
  if (c->state == ST_BUSY)
    route(c);
}

/* A complete request: log it, wait for any delay, then route it. */
static void request_ready(struct conn *c)
{
  struct origin *o = c->o;
  struct req r;
  uint64_t delay, ms = 0;
  c->state = ST_BUSY;
  c->after = c->keep_alive ? AFTER_KEEP : AFTER_CLOSE;
  c->body = BODY_NONE;
  c->head_only = c->method == HTTP_HEAD;
  o->requests++;
  if (o->log)
    log_request(o, c);
  if (split_url(c, &r) || query_num(&r, "delay", 0, 0, DELAY_MAX_MS, &delay) ||
      (r.plen == 9 && !memcmp(r.path, "/slowhead", 9) &&
       query_num(&r, "ms", 1000, 0, DELAY_MAX_MS, &ms))) {
    bad_param(c);
    return;
  }
  delay += ms + (uint64_t)o->latency_ms;
  if (delay) {
    c->io.timer.data = c;
    uv_timer_start(&c->io.timer, on_delay, delay, 0);
    return;
  }
  route(c);
}

static void bad_request(struct conn *c, enum http_errno e)
{
  if (c->oom) {
    conn_close(c);
    return;
  }
  c->state = ST_BUSY;
  c->after = AFTER_CLOSE;
  c->head_only = 0;
  c->http_minor = 1;
  respond_msg(c,
              c->too_long                                ? 414
              : c->too_large || e == HPE_HEADER_OVERFLOW ? 431
                                                         : 400,
              NULL, NULL);
}

static int pending_append(struct conn *c, const char *p, size_t n)
{
  if (c->pending_len + n > c->pending_cap) {
    size_t cap = c->pending_len + n;
    char *q = realloc(c->pending, cap);
    if (!q)
      return -ENOMEM;
    c->pending = q;
    c->pending_cap = cap;
  }
  memcpy(c->pending + c->pending_len, p, n);
  c->pending_len += n;
  return 0;
}

/* Parses data (which may be c->pending) and serves the complete requests in
 * it one by one while each finishes at once; the first one that does not
 * leaves the connection BUSY and the rest of the bytes in c->pending. */
static void process_input(struct conn *c, const char *data, size_t len)
{
  int from_pending = data == c->pending;
  c->parsing = 1;
  while (len && c->state == ST_READ) {
    size_t n = http_parser_execute(&c->parser, &c->o->settings, data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (n > len)
      n = len;
    data += n;
    len -= n;
    if (e == HPE_PAUSED) {
      http_parser_pause(&c->parser, 0);
      request_ready(c);
    } else if (e != HPE_OK || len) {
      /* a parse error, or bytes after an upgrade we do not speak */
      bad_request(c, e);
      len = 0;
    }
  }
  c->parsing = 0;
  if (c->state == ST_WS) {
    /* Upgraded: what follows the handshake is WebSocket frames. */
    char *held = from_pending ? c->pending : NULL;
    if (from_pending) {
      c->pending = NULL;
      c->pending_len = c->pending_cap = 0;
    }
    if (len)
      ws_input(c, data, len);
    free(held);
    return;
  }
  if (from_pending) {
    if (len && data != c->pending)
      memmove(c->pending, data, len);
    c->pending_len = len;
  } else if (len && pending_append(c, data, len)) {
    conn_close(c);
    return;
  }
  if (!c->pending_len) {
    free(c->pending);
    c->pending = NULL;
    c->pending_cap = 0;
  }
  /* A response that finished inside the loop left the rest to us. */
  if (c->state == ST_READ && c->io.eof)
    conn_close(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
  struct conn *c = s->data;
  if (c->state == ST_CLOSED || nread == 0)
    return;
  if (nread < 0) {
    if (nread == UV_EOF && c->state == ST_BUSY) {
      /* Half-closed: the response still goes out, then we close. */
      c->io.eof = 1;
      tcpserver_conn_read_stop(&c->io);
      return;
    }
    conn_close(c);
    return;
  }
  switch (c->state) {
  case ST_LINGER:
    return; /* discarded: we are only waiting for the peer's FIN */
  case ST_BUSY:
    if (pending_append(c, b->base, (size_t)nread)) {
      conn_close(c);
    } else if (c->pending_len >= PENDING_CAP) {
      /* bounded: resume once this response is out */
      tcpserver_conn_read_stop(&c->io);
    }
    return;
  case ST_READ:
    if (!c->pending_len) {
      process_input(c, b->base, (size_t)nread);
    } else if (pending_append(c, b->base, (size_t)nread)) {
      conn_close(c);
    } else {
      process_input(c, c->pending, c->pending_len);
    }
    return;
  case ST_WS:
    ws_input(c, b->base, (size_t)nread);
    return;
  case ST_CLOSED:
    return;
  }
}

/* ---- connections: life and death --------------------------------------- */

static void on_conn_closed(struct tcpserver_conn *t)
{
  struct conn *c = t->tcp.data;
  struct origin *o = c->o;
  if (c->prev)
    c->prev->next = c->next;
  else
    o->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  buf_free(&c->url);
  buf_free(&c->ua);
  if (c->ws) {
    buf_free(&c->ws->q);
    free(c->ws);
  }
  free(c->out);
  free(c->pending);
  free(c);
}

static void conn_close(struct conn *c)
{
  if (c->state == ST_CLOSED)
    return;
  c->state = ST_CLOSED;
  tcpserver_conn_close(&c->io);
}

static void conn_reset(struct conn *c)
{
  if (c->state == ST_CLOSED)
    return;
  c->state = ST_CLOSED;
  tcpserver_conn_reset(&c->io);
}

static void on_conn_end(struct tcpserver_conn *t)
{
  conn_close(t->tcp.data);
}

static void conn_shutdown(struct conn *c)
{
  c->state = ST_LINGER;
  tcpserver_conn_shutdown(&c->io);
}

static int on_accept(struct tcpserver *s)
{
  struct origin *o = s->data;
  if (failpoint_hit(o->fail_accept_every, &o->accepts))
    return -1; /* as if calloc had failed */
  struct conn *c = calloc(1, sizeof *c);
  if (!c)
    return -1;
  c->o = o;
  c->next = o->conns;
  if (o->conns)
    o->conns->prev = c;
  o->conns = c;
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  c->state = ST_READ;
  if (tcpserver_conn_accept(s, &c->io, c)) {
    conn_close(c);
    return 0;
  }
  o->connections++;
  uv_tcp_nodelay(&c->io.tcp, 1);
  if (tcpserver_conn_read_start(&c->io))
    conn_close(c);
  return 0;
}

/* ---- live endpoints: /api/, /feed/, /items/, /stream, /control/ -------- */

/* Milliseconds since the origin started (monotonic). */
static uint64_t origin_ms(const struct origin *o)
{
  return (uv_hrtime() - o->t0_ns) / 1000000;
}

static int64_t wall_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether the failure switch is on; a timed one turns itself off. */
static int origin_down(struct origin *o)
{
  if (o->down && o->down_until != UINT64_MAX && origin_ms(o) >= o->down_until)
    o->down = 0;
  return o->down;
}

/* RFC 3339 in UTC with milliseconds: 2024-05-01T12:00:00.250Z. */
static void rfc3339(int64_t ms, char *out, size_t n)
{
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
           (int)(ms % 1000));
}

/* An HTTP date in any of its three forms (IMF-fixdate, RFC 850, asctime)
 * into *t; -1 when it is none of them. */
static int parse_http_date(const char *s, size_t n, time_t *t)
{
  static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  char b[IMS_CAP + 1], mon[4];
  int d = 0, y = 0, hh = 0, mm = 0, ss = 0, end = -1;
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
    n--;
  if (n >= sizeof b)
    return -1;
  memcpy(b, s, n);
  b[n] = '\0';
  if (sscanf(b, "%*3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", &d, mon,
             &y, &hh, &mm, &ss, &end) != 6 ||
      end != (int)n) {
    end = -1;
    if (sscanf(b, "%*[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n", &d, mon,
               &y, &hh, &mm, &ss, &end) == 6 &&
        end == (int)n) {
      y += y < 70 ? 2000 : 1900;
    } else {
      end = -1;
      if (sscanf(b, "%*3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n", mon, &d,
                 &hh, &mm, &ss, &y, &end) != 6 ||
          end != (int)n)
        return -1;
    }
  }
  const char *m = strlen(mon) == 3 ? strstr(months, mon) : NULL;
  if (!m || (m - months) % 3 || d < 1 || d > 31 || hh < 0 || hh > 23 ||
      mm < 0 || mm > 59 || ss < 0 || ss > 60 || y < 1970)
    return -1;
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  tm.tm_year = y - 1900;
  tm.tm_mon = (int)((m - months) / 3);
  tm.tm_mday = d;
  tm.tm_hour = hh;
  tm.tm_min = mm;
  tm.tm_sec = ss;
  *t = timegm(&tm);
  return *t == (time_t)-1 ? -1 : 0;
}

/* Whether the If-None-Match list s names tag (weak comparison, "*"
 * matches). Parsing stops at anything that is not an entity-tag. */
static int inm_match(const char *s, size_t n, const char *tag, size_t tn)
{
  size_t i = 0;
  while (i < n) {
    if (s[i] == ' ' || s[i] == '\t' || s[i] == ',') {
      i++;
      continue;
    }
    if (s[i] == '*')
      return 1;
    if (i + 1 < n && s[i] == 'W' && s[i + 1] == '/')
      i += 2;
    if (i >= n || s[i] != '"')
      return 0;
    const char *q = memchr(s + i + 1, '"', n - i - 1);
    if (!q)
      return 0;
    if ((size_t)(q - s - i - 1) == tn && !memcmp(s + i + 1, tag, tn))
      return 1;
    i = (size_t)(q - s) + 1;
  }
  return 0;
}

/* Conditional GET on a document whose version is version, Last-Modified
 * lm_ms (its second is sent) and whose previous version dates from
 * prev_ms (< 0: none). Fills extra with the validator headers. When the
 * client's copy is current, answers 304, counts it and returns 1.
 *
 * If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2). An
 * If-Modified-Since in the future or unparsable is ignored; one at or
 * after Last-Modified is a 304 only if the previous version had an
 * earlier Last-Modified second: with periods under a second several
 * versions share one, and the date alone cannot tell them apart, so they
 * get 200 rather than a stale 304. */
static int conditional(struct conn *c, struct ep_stats *st, uint64_t version,
                       int64_t lm_ms, int64_t prev_ms, char *extra, size_t n)
{
  char tag[32], date[64];
  int64_t lm = lm_ms / 1000;
  int tn = snprintf(tag, sizeof tag, "v%" PRIu64, version);
  int fresh = 0;
  time_t ims;
  imf_date((time_t)lm, date, sizeof date);
  snprintf(extra, n,
           "ETag: \"%s\"\r\nLast-Modified: %s\r\nCache-Control: no-cache\r\n",
           tag, date);
  if (c->inm_len)
    fresh = inm_match(c->inm, c->inm_len, tag, (size_t)tn);
  else if (c->ims_len && !parse_http_date(c->ims, c->ims_len, &ims) &&
           ims <= time(NULL))
    fresh = (int64_t)ims >= lm && (prev_ms < 0 || prev_ms / 1000 < lm);
  if (!fresh)
    return 0;
  st->not_modified++;
  respond(c, 304, extra, NULL, NULL, 0);
  return 1;
}

/* The 200 after conditional() said no: the document is in o->body. */
static void versioned_ok(struct conn *c, struct ep_stats *st,
                         const char *extra, const char *ctype)
{
  struct ob *b = &c->o->body;
  if (b->err) {
    conn_close(c);
    return;
  }
  st->ok++;
  respond(c, 200, extra, ctype, b->b.data, b->b.len);
}

/* While the switch is on: 503 with Retry-After: 1, counted in count
 * (if not NULL); returns 1. */
static int answer_down(struct conn *c, uint64_t *count)
{
  if (!origin_down(c->o))
    return 0;
  if (count)
    (*count)++;
  respond_msg(c, 503, "Retry-After: 1\r\n", NULL);
  return 1;
}

/* v tenths as a decimal: -35 is -3.5. */
static void ob_put_tenths(struct ob *b, int v)
{
  if (v < 0) {
    ob_put(b, "-", 1);
    v = -v;
  }
  ob_putu(b, (uint64_t)v / 10);
  ob_put(b, ".", 1);
  ob_putu(b, (uint64_t)v % 10);
}

static void serve_weather(struct conn *c)
{
  struct origin *o = c->o;
  struct ob *b = &o->body;
  uint64_t p = o->api_period, n = origin_ms(o) / p;
  int64_t start = o->wall0_ms + (int64_t)(n * p);
  char extra[192], when[64];
  if (conditional(c, &o->weather, n, start, n ? start - (int64_t)p : -1, extra,
                  sizeof extra))
    return;
  rfc3339(start, when, sizeof when);
  ob_reset(b);
  ob_puts(b, "{\"seq\":");
  ob_putu(b, n);
  ob_puts(b, ",\"current\":{\"temp\":");
  ob_put_tenths(b, (int)((n % 401) * 37 % 401) - 100);
  ob_puts(b, ",\"wind\":");
  ob_put_tenths(b, (int)((n % 301) * 53 % 301));
  ob_puts(b, "},\"updated\":\"");
  ob_puts(b, when);
  ob_puts(b, "\"}\n");
  versioned_ok(c, &o->weather, extra, "application/json");
}

static void put_counts(struct ob *b, const char *name,
                       const struct ep_stats *st)
{
  ob_puts(b, "\"");
  ob_puts(b, name);
  ob_puts(b, "\":{\"200\":");
  ob_putu(b, st->ok);
  ob_puts(b, ",\"304\":");
  ob_putu(b, st->not_modified);
  ob_puts(b, ",\"503\":");
  ob_putu(b, st->down);
  ob_puts(b, "}");
}

static void serve_stats(struct conn *c)
{
  struct origin *o = c->o;
  struct ob *b = &o->body;
  ob_reset(b);
  ob_puts(b, "{");
  put_counts(b, "weather", &o->weather);
  ob_puts(b, ",");
  put_counts(b, "rss", &o->rss);
  ob_puts(b, ",");
  put_counts(b, "atom", &o->atom);
  ob_puts(b, ",\"stream\":{\"101\":");
  ob_putu(b, o->ws_accepted);
  ob_puts(b, ",\"503\":");
  ob_putu(b, o->ws_refused);
  ob_puts(b, "}}\n");
  respond_built(c, 200, "Cache-Control: no-store\r\n", "application/json");
}

static void serve_api(struct conn *c, const struct req *r)
{
  int weather = rest_is(r, "weather.json");
  if (answer_down(c, weather ? &c->o->weather.down : NULL))
    return;
  if (weather)
    serve_weather(c);
  else if (rest_is(r, "origin-stats.json"))
    serve_stats(c);
  else
    not_found(c);
}

/* Items so far: item 1 at the start, one more every feed period. */
static uint64_t feed_items(const struct origin *o)
{
  return origin_ms(o) / o->feed_period + 1;
}

/* When item k (>= 1) appeared, wall clock ms. */
static int64_t item_ms(const struct origin *o, uint64_t k)
{
  return o->wall0_ms + (int64_t)((k - 1) * o->feed_period);
}

static void put_summary(struct ob *b, uint64_t k)
{
  ob_puts(b, "Item ");
  ob_putu(b, k);
  ob_puts(b, " of the spate origin feed: news &amp; notes.");
}

static void gen_rss(const struct origin *o, struct ob *b, uint64_t v)
{
  char date[64];
  imf_date((time_t)(item_ms(o, v) / 1000), date, sizeof date);
  ob_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
             "<rss version=\"2.0\">\n<channel>\n"
             "<title>spate origin feed</title>\n<link>");
  ob_puts(b, o->base);
  ob_puts(b, "/</link>\n<description>One new item every ");
  ob_putu(b, o->feed_period);
  ob_puts(b, " ms</description>\n<lastBuildDate>");
  ob_puts(b, date);
  ob_puts(b, "</lastBuildDate>\n");
  for (uint64_t k = v; k >= 1 && k + FEED_ITEMS > v; k--) {
    imf_date((time_t)(item_ms(o, k) / 1000), date, sizeof date);
    ob_puts(b, "<item>\n<title>Item ");
    ob_putu(b, k);
    ob_puts(b, "</title>\n<link>");
    ob_puts(b, o->base);
    ob_puts(b, "/items/");
    ob_putu(b, k);
    ob_puts(b, ".html</link>\n<guid isPermaLink=\"false\">urn:spate:item:");
    ob_putu(b, k);
    ob_puts(b, "</guid>\n<pubDate>");
    ob_puts(b, date);
    ob_puts(b, "</pubDate>\n<description>");
    put_summary(b, k);
    ob_puts(b, "</description>\n</item>\n");
  }
  ob_puts(b, "</channel>\n</rss>\n");
}

static void gen_atom(const struct origin *o, struct ob *b, uint64_t v)
{
  char date[64];
  rfc3339(item_ms(o, v), date, sizeof date);
  ob_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
             "<feed xmlns=\"http://www.w3.org/2005/Atom\">\n"
             "<title>spate origin feed</title>\n"
             "<id>urn:spate:feed</id>\n<link href=\"");
  ob_puts(b, o->base);
  ob_puts(b, "/\"/>\n<link rel=\"self\" href=\"");
  ob_puts(b, o->base);
  ob_puts(b, "/feed/atom.xml\"/>\n<updated>");
  ob_puts(b, date);
  ob_puts(b, "</updated>\n<author><name>spate origin</name></author>\n");
  for (uint64_t k = v; k >= 1 && k + FEED_ITEMS > v; k--) {
    rfc3339(item_ms(o, k), date, sizeof date);
    ob_puts(b, "<entry>\n<title>Item ");
    ob_putu(b, k);
    ob_puts(b, "</title>\n<id>urn:spate:item:");
    ob_putu(b, k);
    ob_puts(b, "</id>\n<link href=\"");
    ob_puts(b, o->base);
    ob_puts(b, "/items/");
    ob_putu(b, k);
    ob_puts(b, ".html\"/>\n<updated>");
    ob_puts(b, date);
    ob_puts(b, "</updated>\n<summary>");
    put_summary(b, k);
    ob_puts(b, "</summary>\n</entry>\n");
  }
  ob_puts(b, "</feed>\n");
}

static void serve_feed(struct conn *c, const struct req *r)
{
  struct origin *o = c->o;
  int rss = rest_is(r, "rss.xml"), atom = rest_is(r, "atom.xml");
  struct ep_stats *st = rss ? &o->rss : atom ? &o->atom : NULL;
  char extra[192];
  if (answer_down(c, st ? &st->down : NULL))
    return;
  if (!st) {
    not_found(c);
    return;
  }
  uint64_t v = feed_items(o);
  int64_t newest = item_ms(o, v);
  if (conditional(c, st, v, newest,
                  v > 1 ? newest - (int64_t)o->feed_period : -1, extra,
                  sizeof extra))
    return;
  ob_reset(&o->body);
  if (rss)
    gen_rss(o, &o->body, v);
  else
    gen_atom(o, &o->body, v);
  versioned_ok(c, st, extra,
               rss ? "application/rss+xml; charset=utf-8"
                   : "application/atom+xml; charset=utf-8");
}

/* /items/K.html for the items so far (1 <= K): the page a feed links to. */
static void serve_item(struct conn *c, const struct req *r)
{
  struct ob *b = &c->o->body;
  uint64_t k;
  if (r->rlen < 6 || memcmp(r->rest + r->rlen - 5, ".html", 5) ||
      parse_u64(r->rest, r->rlen - 5, feed_items(c->o), &k) || k < 1) {
    not_found(c);
    return;
  }
  ob_reset(b);
  ob_puts(b, "<!doctype html><html><head><meta charset=utf-8><title>Item ");
  ob_putu(b, k);
  ob_puts(b, "</title></head><body><h1>Item ");
  ob_putu(b, k);
  ob_puts(b, "</h1>\n<p>");
  put_summary(b, k);
  ob_puts(b, "</p></body></html>\n");
  respond_built(c, 200, NULL, HTML);
}

/* ---- /stream: WebSocket (RFC 6455), framing done here ------------------ */

/* A frame of opcode with payload p[0..n), n < 65536, into out (n + 4
 * bytes); returns its length. Server frames are not masked. */
static size_t ws_frame(unsigned char *out, int opcode, const void *p, size_t n)
{
  size_t h = 2;
  out[0] = (unsigned char)(0x80 | opcode);
  if (n < 126) {
    out[1] = (unsigned char)n;
  } else {
    out[1] = 126;
    out[2] = (unsigned char)(n >> 8);
    out[3] = (unsigned char)n;
    h = 4;
  }
  memcpy(out + h, p, n);
  return h + n;
}

/* Sends bytes now, or queues them behind the write in flight. A stream
 * message (droppable) is dropped when the queue holds WS_QUEUE_CAP bytes:
 * a slow reader misses messages. Anything else past WS_CTRL_ROOM more
 * closes the connection (a client that pings but never reads). */
static void ws_send(struct conn *c, const void *p, size_t n, int droppable)
{
  struct ws *ws = c->ws;
  if (c->state != ST_WS)
    return;
  if (ws->writing) {
    if (ws->q.len + n > WS_QUEUE_CAP + (droppable ? 0 : WS_CTRL_ROOM)) {
      if (!droppable)
        conn_close(c);
      return;
    }
    if (buf_append(&ws->q, p, n))
      conn_close(c);
    return;
  }
  uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
  int w = uv_try_write((uv_stream_t *)&c->io.tcp, &b, 1);
  if (w == UV_EAGAIN)
    w = 0;
  if (w < 0) {
    conn_close(c);
    return;
  }
  if ((size_t)w == n)
    return;
  c->out = malloc(n - (size_t)w);
  if (!c->out) {
    conn_close(c);
    return;
  }
  memcpy(c->out, (const char *)p + w, n - (size_t)w);
  ws->writing = 1;
  b = uv_buf_init(c->out, (unsigned)(n - (size_t)w));
  write_bufs(c, &b, 1);
}

/* Once our close frame is out: FIN, then wait for the client's. */
static void ws_maybe_finish(struct conn *c)
{
  if (c->state == ST_WS && c->ws->closing && !c->ws->writing)
    conn_shutdown(c);
}

/* The write in flight is done: send what queued behind it. */
static void ws_written(struct conn *c)
{
  struct ws *ws = c->ws;
  ws->writing = 0;
  if (c->state != ST_WS)
    return;
  if (ws->q.len) {
    size_t n = ws->q.len;
    c->out = buf_steal(&ws->q);
    ws->writing = 1;
    uv_buf_t b = uv_buf_init(c->out, (unsigned)n);
    write_bufs(c, &b, 1);
    return;
  }
  ws_maybe_finish(c);
}

/* Sends a close frame with payload p[0..n) (n <= 125) and reads nothing
 * more; the connection ends once it is out. */
static void ws_close_payload(struct conn *c, const void *p, size_t n)
{
  unsigned char f[129];
  if (c->state != ST_WS || c->ws->closing)
    return;
  c->ws->closing = 1;
  ws_send(c, f, ws_frame(f, 8, p, n), 0);
  ws_maybe_finish(c);
}

static void ws_close(struct conn *c, unsigned code, const char *why)
{
  unsigned char p[125];
  size_t n = strlen(why);
  p[0] = (unsigned char)(code >> 8);
  p[1] = (unsigned char)code;
  memcpy(p + 2, why, n < 123 ? n : 123);
  ws_close_payload(c, p, 2 + (n < 123 ? n : 123));
}

/* A whole frame has been read: answer ping and close, ignore the rest. */
static void ws_frame_end(struct conn *c)
{
  struct ws *ws = c->ws;
  unsigned char f[129];
  ws->in_payload = 0;
  if (ws->opcode == 9) {
    ws_send(c, f, ws_frame(f, 10, ws->ctrl, ws->clen), 0);
  } else if (ws->opcode == 8) {
    if (ws->clen == 1)
      ws_close(c, 1002, "protocol error");
    else /* echo the status code, if any */
      ws_close_payload(c, ws->ctrl, ws->clen ? 2 : 0);
  }
}

/* The header of a client frame is complete: check it. */
static int ws_frame_begin(struct conn *c)
{
  struct ws *ws = c->ws;
  unsigned char b0 = ws->hdr[0];
  int op = b0 & 0x0f;
  uint64_t len = ws->hdr[1] & 0x7f;
  if (len == 126) {
    len = (uint64_t)ws->hdr[2] << 8 | ws->hdr[3];
  } else if (len == 127) {
    len = 0;
    for (int i = 2; i < 10; i++)
      len = len << 8 | ws->hdr[i];
  }
  if ((b0 & 0x70) || (op > 2 && op < 8) || op > 10 || len >> 63 ||
      ((op & 8) && (!(b0 & 0x80) || len > 125))) {
    ws_close(c, 1002, "protocol error");
    return -1;
  }
  memcpy(ws->mask, ws->hdr + ws->hneed - 4, 4);
  ws->opcode = (unsigned char)op;
  ws->left = len;
  ws->mpos = 0;
  ws->clen = 0;
  ws->hlen = 0;
  ws->hneed = 2;
  ws->in_payload = 1;
  if (!len)
    ws_frame_end(c);
  return 0;
}

/* Client bytes: frames, masked as RFC 6455 requires. Data frames are
 * skipped without being kept; control payloads (<= 125 bytes) are. */
static void ws_input(struct conn *c, const char *data, size_t n)
{
  struct ws *ws = c->ws;
  const unsigned char *p = (const unsigned char *)data;
  while (n && c->state == ST_WS && !ws->closing) {
    if (!ws->in_payload) {
      ws->hdr[ws->hlen++] = *p++;
      n--;
      if (ws->hlen == 2) {
        unsigned l7 = ws->hdr[1] & 0x7f;
        if (!(ws->hdr[1] & 0x80)) {
          ws_close(c, 1002, "unmasked frame");
          return;
        }
        ws->hneed = (unsigned char)(6 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0));
      }
      if (ws->hlen >= 2 && ws->hlen == ws->hneed && ws_frame_begin(c))
        return;
      continue;
    }
    size_t m = n < ws->left ? n : (size_t)ws->left;
    if (ws->opcode & 8)
      for (size_t i = 0; i < m; i++)
        ws->ctrl[ws->clen++] = p[i] ^ ws->mask[ws->mpos++ & 3];
    p += m;
    n -= m;
    ws->left -= m;
    if (!ws->left)
      ws_frame_end(c);
  }
}

static void on_ws_tick(uv_timer_t *t);

/* Ticks at the next stream period boundary, unless already ticking. */
static void ws_arm(struct origin *o)
{
  uint64_t p = o->stream_period, now = origin_ms(o);
  if (!uv_is_active((uv_handle_t *)&o->ws_timer))
    uv_timer_start(&o->ws_timer, on_ws_tick, (now / p + 1) * p - now, 0);
}

/* One message to every client, at each stream period; the timer stops
 * when there is no client left. */
static void on_ws_tick(uv_timer_t *t)
{
  struct origin *o = t->data;
  uint64_t p = o->stream_period, now = origin_ms(o), n = now / p;
  unsigned char f[160];
  size_t flen = 0;
  int clients = 0;
  if (n > o->ws_seq) { /* else the timer fired a little early */
    char msg[128];
    int64_t ms = wall_ms();
    uint64_t cents = 9000 + (n % 2001) * 7919 % 2001;
    int len =
        snprintf(msg, sizeof msg,
                 "{\"seq\":%" PRIu64 ",\"price\":%" PRIu64 ".%02" PRIu64
                 ",\"time\":%" PRId64 ".%03d}",
                 n, cents / 100, cents % 100, ms / 1000, (int)(ms % 1000));
    flen = ws_frame(f, 1, msg, (size_t)len);
    o->ws_seq = n;
  }
  for (struct conn *c = o->conns; c; c = c->next) {
    if (c->state != ST_WS || c->ws->closing)
      continue;
    clients++;
    if (flen)
      ws_send(c, f, flen, 1);
  }
  if (clients)
    uv_timer_start(t, on_ws_tick, (now / p + 1) * p - now, 0);
}

/* 426 with its own reason phrase (the shared table has none, so that
 * /status/426 stays as it was). */
static void upgrade_required(struct conn *c, const char *extra)
{
  static const char body[] =
      "<!doctype html><html><head><meta charset=utf-8><title>426 Upgrade "
      "Required</title></head><body><h1>426 Upgrade Required</h1></body>"
      "</html>\n";
  struct ob *h = &c->o->resp;
  head_begin_why(c, 426, "Upgrade Required");
  ob_puts(h, extra);
  head_end(c, HTML, sizeof body - 1);
  if (!c->head_only)
    ob_put(h, body, sizeof body - 1);
  c->body = BODY_NONE;
  send_head(c);
}

/* Whether the comma-separated list s (lowercased) has token tok. */
static int token_in(const char *s, size_t n, const char *tok)
{
  size_t tl = strlen(tok), i = 0;
  while (i < n) {
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == ','))
      i++;
    size_t j = i;
    while (j < n && s[j] != ',' && s[j] != ' ' && s[j] != '\t')
      j++;
    if (j - i == tl && !memcmp(s + i, tok, tl))
      return 1;
    i = j;
  }
  return 0;
}

static void serve_stream(struct conn *c, const struct req *r)
{
  struct origin *o = c->o;
  unsigned char raw[24], md[EVP_MAX_MD_SIZE], accept[32];
  char key[24 + sizeof WS_GUID];
  unsigned mdlen = 0;
  (void)r;
  if (origin_down(o)) {
    o->ws_refused++;
    respond_msg(c, 503, "Retry-After: 1\r\n", NULL);
    return;
  }
  if (!c->upgrade || !token_in(c->upg, c->upg_len, "websocket")) {
    upgrade_required(c, "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
    return;
  }
  if (c->wsver_len != 2 || memcmp(c->wsver, "13", 2)) {
    upgrade_required(c, "Sec-WebSocket-Version: 13\r\n");
    return;
  }
  /* The key: base64 of 16 bytes, so 22 characters and "==". */
  if (c->method != HTTP_GET || c->http_minor < 1 || c->wskey_len != 24 ||
      c->wskey[21] == '=' || c->wskey[22] != '=' || c->wskey[23] != '=' ||
      EVP_DecodeBlock(raw, (const unsigned char *)c->wskey, 24) != 18) {
    bad_param(c);
    return;
  }
  memcpy(key, c->wskey, 24);
  memcpy(key + 24, WS_GUID, sizeof WS_GUID - 1);
  if (!EVP_Digest(key, 24 + sizeof WS_GUID - 1, md, &mdlen, EVP_sha1(),
                  NULL) ||
      mdlen != 20) {
    respond_msg(c, 500, NULL, NULL);
    return;
  }
  EVP_EncodeBlock(accept, md, 20);
  struct ws *ws = calloc(1, sizeof *ws);
  if (!ws) {
    conn_close(c);
    return;
  }
  ws->hneed = 2;
  c->ws = ws;
  struct ob *h = &o->resp;
  head_begin(c, 101);
  ob_puts(h, "Upgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: ");
  ob_puts(h, (const char *)accept);
  ob_puts(h, "\r\n\r\n");
  if (h->err) {
    conn_close(c);
    return;
  }
  c->state = ST_WS;
  o->ws_accepted++;
  ws_send(c, h->b.data, h->b.len, 0);
  if (c->state != ST_WS)
    return;
  ws_arm(o);
  if (!c->io.reading && tcpserver_conn_read_start(&c->io)) {
    conn_close(c);
    return;
  }
  /* Frames that came with the handshake: process_input passes them on
   * when it is the caller; after a delay they wait in pending. */
  if (!c->parsing && c->pending_len) {
    char *held = c->pending;
    size_t n = c->pending_len;
    c->pending = NULL;
    c->pending_len = c->pending_cap = 0;
    ws_input(c, held, n);
    free(held);
  }
}

/* ---- /control/: the failure switch ------------------------------------- */

static void serve_control(struct conn *c, const struct req *r)
{
  struct origin *o = c->o;
  struct ob *b = &o->body;
  int post = c->method == HTTP_POST;
  if (rest_is(r, "state")) {
    if (c->method != HTTP_GET && c->method != HTTP_HEAD) {
      respond_msg(c, 405, "Allow: GET, HEAD\r\n", NULL);
      return;
    }
  } else if (rest_is(r, "down")) {
    const char *v;
    size_t n;
    uint64_t ms = 0;
    int timed = query_get(r, "for", &v, &n);
    if (!post) {
      respond_msg(c, 405, "Allow: POST\r\n", NULL);
      return;
    }
    if (timed && (parse_u64(v, n, DOWN_MAX_MS, &ms) || ms < 1)) {
      bad_param(c);
      return;
    }
    o->down = 1;
    o->down_until = timed ? origin_ms(o) + ms : UINT64_MAX;
    for (struct conn *w = o->conns; w; w = w->next)
      if (w->state == ST_WS)
        ws_close(w, 1011, "origin down");
  } else if (rest_is(r, "up")) {
    if (!post) {
      respond_msg(c, 405, "Allow: POST\r\n", NULL);
      return;
    }
    o->down = 0;
  } else {
    not_found(c);
    return;
  }
  ob_reset(b);
  ob_puts(b, origin_down(o) ? "{\"down\":true}\n" : "{\"down\":false}\n");
  respond_built(c, 200, "Cache-Control: no-store\r\n", "application/json");
}

/* ---- the origin -------------------------------------------------------- */

void origin_options_init(struct origin_options *opt)
{
  memset(opt, 0, sizeof *opt);
  opt->host = "127.0.0.1";
  opt->pages = PAGES_DEFAULT;
  opt->seed = 7;
  opt->api_period_ms = API_PERIOD_MS;
  opt->feed_period_ms = FEED_PERIOD_MS;
  opt->stream_period_ms = STREAM_PERIOD_MS;
}

static void origin_free(struct origin *o)
{
  for (int i = 0; i < o->nsitemap; i++)
    free(o->sitemap[i]);
  if (o->log)
    fclose(o->log);
  if (o->z_ready)
    deflateEnd(&o->z);
  if (o->flaky)
    for (int i = 0; i < FLAKY_MAX; i++)
      free(o->flaky[i].key);
  free(o->flaky);
  free(o->flaky_bucket);
  free(o->bomb_block);
  free(o->fill);
  buf_free(&o->body.b);
  buf_free(&o->resp.b);
  free(o->robots);
  free(o->host);
  free(o);
}

static void on_free(struct tcpserver *s)
{
  origin_free(s->data);
}

static const struct tcpserver_calls tcp_calls = {
    .accept = on_accept,
    .read = on_read,
    .end = on_conn_end,
    .closed = on_conn_closed,
    .free = on_free,
};

static int parse_host(const char *host, int port, struct sockaddr_storage *ss)
{
  if (!strcmp(host, "localhost"))
    host = "127.0.0.1";
  if (!uv_ip4_addr(host, port, (struct sockaddr_in *)ss))
    return 0;
  if (!uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss))
    return 0;
  return -EINVAL;
}

/* o->robots: the robots file with the site's extra lines; left NULL when
 * there are none, and the default file is served as is. */
static int robots_build(struct origin *o, const struct site_opts *site)
{
  struct buf b = {0};
  int rc = 0;
  if (!site->ndisallow && !site->crawl_delay)
    return 0;
  rc |= buf_append(&b, ROBOTS, sizeof ROBOTS - 1);
  for (int i = 0; i < site->ndisallow; i++)
    rc |= buf_printf(&b, "Disallow: %s\n", site->disallow[i]);
  if (site->crawl_delay)
    rc |= buf_printf(&b, "Crawl-delay: %s\n", site->crawl_delay);
  if (rc) {
    buf_free(&b);
    return -ENOMEM;
  }
  o->robots_len = b.len;
  o->robots = buf_steal(&b);
  return 0;
}

/* origin_start with the site's test additions (NULL: none). */
static int origin_start_site(struct origin **out, uv_loop_t *loop,
                             const struct origin_options *opt,
                             const struct site_opts *site)
{
  static const struct site_opts nosite;
  struct origin_options def;
  struct sockaddr_storage ss;
  struct origin *o;
  int rc = -ENOMEM, namelen = sizeof ss;

  if (!opt) {
    origin_options_init(&def);
    opt = &def;
  }
  if (!site)
    site = &nosite;
  const char *host = opt->host ? opt->host : "127.0.0.1";
  int pages = opt->pages > 0 ? opt->pages : PAGES_DEFAULT;
  if (opt->port < 0 || opt->port > 65535 || opt->pages > PAGES_MAX ||
      opt->latency_ms > DELAY_MAX_MS || opt->api_period_ms > PERIOD_MAX_MS ||
      opt->feed_period_ms > PERIOD_MAX_MS ||
      opt->stream_period_ms > PERIOD_MAX_MS ||
      parse_host(host, opt->port, &ss) ||
      (site->robots_status &&
       (site->robots_status < 100 || site->robots_status > 599)) ||
      site->nplant < 0 || site->nplant > PLANT_MAX || site->ndisallow < 0 ||
      site->ndisallow > DISALLOW_MAX || site->nsitemap < 0 ||
      site->nsitemap > SITEMAP_LINES_MAX)
    return -EINVAL;
  for (int i = 0; i < site->nplant; i++)
    if (site->plant[i].page < 0 || site->plant[i].page >= pages ||
        site->plant[i].len > PLANT_WORD_MAX)
      return -EINVAL;
  o = calloc(1, sizeof *o);
  if (!o)
    return -ENOMEM;
  o->loop = loop;
  o->pages = pages;
  o->seed = opt->seed;
  o->latency_ms = opt->latency_ms > 0 ? opt->latency_ms : 0;
  o->fail_accept_every = opt->fail_accept_every;
  o->api_period =
      (uint64_t)(opt->api_period_ms > 0 ? opt->api_period_ms : API_PERIOD_MS);
  o->feed_period = (uint64_t)(opt->feed_period_ms > 0 ? opt->feed_period_ms
                                                      : FEED_PERIOD_MS);
  o->stream_period =
      (uint64_t)(opt->stream_period_ms > 0 ? opt->stream_period_ms
                                           : STREAM_PERIOD_MS);
  o->robots_status = site->robots_status;
  memcpy(o->plant, site->plant, sizeof o->plant);
  o->nplant = site->nplant;
  o->hostile = site->hostile;
  if (robots_build(o, site))
    goto fail;
  for (int i = 0; i < site->nsitemap && i < SITEMAP_LINES_MAX; i++)
    if (!(o->sitemap[o->nsitemap++] = strdup(site->sitemap[i])))
      goto fail;
  o->host = strdup(host);
  o->fill = malloc(FILL_SIZE);
  o->flaky = calloc(FLAKY_MAX, sizeof *o->flaky);
  o->flaky_bucket = malloc(FLAKY_BUCKETS * sizeof *o->flaky_bucket);
  if (!o->host || !o->fill || !o->flaky || !o->flaky_bucket)
    goto fail;
  /* Filler: 63 letters and a newline per line, so a dump stays readable. */
  for (size_t i = 0; i < FILL_SIZE; i++)
    o->fill[i] = i % 64 == 63 ? '\n' : (char)('a' + i % 64 % 26);
  for (int i = 0; i < FLAKY_BUCKETS; i++)
    o->flaky_bucket[i] = -1;
  o->settings.on_message_begin = on_message_begin;
  o->settings.on_url = on_url;
  o->settings.on_header_field = on_header_field;
  o->settings.on_header_value = on_header_value;
  o->settings.on_headers_complete = on_headers_complete;
  o->settings.on_message_complete = on_message_complete;
  if (opt->log_path) {
    o->log = fopen(opt->log_path, "a");
    if (!o->log) {
      rc = -errno;
      goto fail;
    }
  }
  rc = tcpserver_init(&o->srv, loop, &tcp_calls, o);
  if (rc)
    goto fail;
  rc = uv_tcp_bind(&o->srv.listener, (const struct sockaddr *)&ss, 0);
  if (!rc)
    rc = tcpserver_listen(&o->srv, BACKLOG);
  if (!rc)
    rc =
        uv_tcp_getsockname(&o->srv.listener, (struct sockaddr *)&ss, &namelen);
  if (rc) {
    /* The handle exists: it is freed by its close callback, so the caller
     * runs the loop once more, as after any uv_close. */
    tcpserver_close(&o->srv, NULL, NULL);
    return rc;
  }
  o->port = tcpserver_port_of(&ss);
  snprintf(o->base, sizeof o->base, "http://%s%s%s:%d",
           ss.ss_family == AF_INET6 ? "[" : "", host,
           ss.ss_family == AF_INET6 ? "]" : "", o->port);
  o->t0_ns = uv_hrtime();
  o->wall0_ms = wall_ms();
  uv_timer_init(loop, &o->ws_timer);
  o->ws_timer.data = o;
  o->ws_timer_ready = 1;
  tcpserver_ref(&o->srv);
  *out = o;
  return 0;
fail:
  origin_free(o);
  return rc;
}

int origin_start(struct origin **out, uv_loop_t *loop,
                 const struct origin_options *opt)
{
  return origin_start_site(out, loop, opt, NULL);
}

int origin_port(const struct origin *o)
{
  return o->port;
}

void origin_stop(struct origin *o, void (*done)(void *arg), void *arg)
{
  if (o->srv.stopping)
    return;
  tcpserver_close(&o->srv, done, arg);
  if (o->ws_timer_ready)
    tcpserver_close_handle(&o->srv, (uv_handle_t *)&o->ws_timer);
  /* conn_close only schedules: the list stays intact while we walk it. */
  for (struct conn *c = o->conns; c; c = c->next)
    conn_close(c);
}

/* ---- the command ------------------------------------------------------- */

struct origin_cli {
  uv_signal_t sigint, sigterm;
  struct origin *o;
  int quiet, stopping;
  struct site_opts site; /* the test options */
};

static void on_signal(uv_signal_t *h, int signum)
{
  struct origin_cli *cli = h->data;
  (void)signum;
  if (cli->stopping)
    return;
  cli->stopping = 1;
  if (!cli->quiet)
    fprintf(stderr,
            "origin: stopped after %" PRIu64 " requests on %" PRIu64
            " connections\n",
            cli->o->requests, cli->o->connections);
  origin_stop(cli->o, NULL, NULL);
  uv_close((uv_handle_t *)&cli->sigint, NULL);
  uv_close((uv_handle_t *)&cli->sigterm, NULL);
}

static void usage(FILE *f)
{
  fputs(
      "usage: spate origin [options]\n"
      "Serve a synthetic website with fault endpoints on loopback "
      "(docs/ORIGIN.md).\n\n"
      "  --host ADDR       address to listen on (default 127.0.0.1)\n"
      "  -p, --port PORT   port, 0 for any free one (default 0)\n"
      "  --pages N         pages in the site (default 1000)\n"
      "  --seed N          content seed (default 7)\n"
      "  --latency MS      delay every response by MS ms (default 0)\n"
      "  --log FILE        append one line per request to FILE\n"
      "  -q, --quiet       no summary on stderr at exit\n"
      "  -h, --help        show this help\n\n"
      "For crawler tests (off by default):\n"
      "  --robots-status CODE  /robots.txt answers CODE (100-599) instead\n"
      "  --crawl-delay SECS    add \"Crawl-delay: SECS\" (e.g. 0.2) to "
      "robots.txt\n"
      "  --disallow PATH       add \"Disallow: PATH\" to robots.txt (up to "
      "16)\n"
      "  --robots-sitemap URL  add \"Sitemap: URL\" to robots.txt; a /path is "
      "on\n"
      "                        the origin itself (up to 4)\n"
      "  --plant N:WORD        put WORD ([A-Za-z0-9]{1,64}) in page N (up "
      "to 16)\n"
      "  --hostile             the index links to the /hostile/ crawler "
      "traps\n\n"
      "The live endpoints (/api/weather.json, /feed/rss.xml, "
      "/feed/atom.xml, /stream):\n"
      "  --api-period MS       /api/weather.json changes every MS ms "
      "(default 1000)\n"
      "  --feed-period MS      the feeds gain an item every MS ms (default "
      "1000)\n"
      "  --stream-period MS    /stream sends a message every MS ms "
      "(default 200)\n\n"
      "Prints \"origin listening on http://HOST:PORT/ (N pages)\" once "
      "ready;\nstops on SIGINT or SIGTERM.\n",
      f);
}

/* A numeric option value in [min, max], or -1 after printing why not. */
static int64_t option_num(const char *name, const char *v, uint64_t min,
                          uint64_t max)
{
  uint64_t n;
  if (parse_u64(v, strlen(v), max, &n) || n < min) {
    fprintf(stderr,
            "spate origin: %s wants a number from %" PRIu64 " to %" PRIu64
            ", not '%s'\n",
            name, min, max, v);
    return -1;
  }
  return (int64_t)n;
}

/* --plant N:WORD into the next slot; -1 after printing why not. */
static int option_plant(struct site_opts *site, const char *v)
{
  const char *colon = strchr(v, ':');
  uint64_t n = 0;
  size_t len = colon ? strlen(colon + 1) : 0;
  int ok = colon && len >= 1 && len <= PLANT_WORD_MAX &&
           !parse_u64(v, (size_t)(colon - v), PAGES_MAX - 1, &n);
  for (size_t i = 0; ok && i < len; i++) {
    char ch = colon[1 + i];
    ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (ch >= '0' && ch <= '9');
  }
  if (!ok) {
    fprintf(stderr,
            "spate origin: --plant wants N:WORD, WORD of 1 to %d letters "
            "and digits, not '%s'\n",
            PLANT_WORD_MAX, v);
    return -1;
  }
  if (site->nplant == PLANT_MAX) {
    fprintf(stderr, "spate origin: at most %d --plant options\n", PLANT_MAX);
    return -1;
  }
  struct plant *p = &site->plant[site->nplant];
  p->page = (int)n;
  p->len = len;
  memcpy(p->word, colon + 1, len + 1);
  site->nplant++;
  return 0;
}

/* --disallow PATH: 1 to DISALLOW_LEN bytes, no spaces or controls. */
static int option_disallow(struct site_opts *site, const char *v)
{
  size_t n = strlen(v);
  int ok = n >= 1 && n <= DISALLOW_LEN;
  for (size_t i = 0; ok && i < n; i++)
    ok = (unsigned char)v[i] > 0x20 && v[i] != 0x7f;
  if (!ok) {
    fprintf(stderr,
            "spate origin: --disallow wants a path of 1 to %d bytes without "
            "spaces or control characters\n",
            DISALLOW_LEN);
    return -1;
  }
  if (site->ndisallow == DISALLOW_MAX) {
    fprintf(stderr, "spate origin: at most %d --disallow options\n",
            DISALLOW_MAX);
    return -1;
  }
  site->disallow[site->ndisallow++] = v;
  return 0;
}

/* --robots-sitemap URL|PATH: a "Sitemap:" line in robots.txt. */
static int option_sitemap(struct site_opts *site, const char *v)
{
  size_t n = strlen(v);
  int ok = n >= 1 && n <= DISALLOW_LEN;
  for (size_t i = 0; ok && i < n; i++)
    ok = (unsigned char)v[i] > 0x20 && v[i] != 0x7f;
  if (!ok || site->nsitemap == SITEMAP_LINES_MAX) {
    fprintf(stderr,
            "spate origin: --robots-sitemap wants a URL or a /path of 1 to "
            "%d bytes without spaces, at most %d times\n",
            DISALLOW_LEN, SITEMAP_LINES_MAX);
    return -1;
  }
  site->sitemap[site->nsitemap++] = v;
  return 0;
}

/* --crawl-delay SECS: digits, optionally a dot and more digits. */
static int option_crawl_delay(struct site_opts *site, const char *v)
{
  size_t n = strlen(v), digits = strspn(v, "0123456789");
  if (digits && v[digits] == '.')
    digits += 1 + strspn(v + digits + 1, "0123456789");
  if (!digits || digits != n || n > CRAWL_DELAY_LEN || v[n - 1] == '.') {
    fprintf(stderr,
            "spate origin: --crawl-delay wants seconds such as 2 or 0.2, "
            "not '%s'\n",
            v);
    return -1;
  }
  site->crawl_delay = v;
  return 0;
}

static void raise_fd_limit(void)
{
  struct rlimit rl;
  /* Thousands of connections need thousands of descriptors. */
  if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int origin_main(int argc, char **argv)
{
  static const struct option longopts[] = {
      {"host", required_argument, NULL, 'H'},
      {"port", required_argument, NULL, 'p'},
      {"pages", required_argument, NULL, 'P'},
      {"seed", required_argument, NULL, 'S'},
      {"latency", required_argument, NULL, 'L'},
      {"log", required_argument, NULL, 'l'},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {"robots-status", required_argument, NULL, 'R'},
      {"crawl-delay", required_argument, NULL, 'C'},
      {"disallow", required_argument, NULL, 'D'},
      {"robots-sitemap", required_argument, NULL, 'M'},
      {"plant", required_argument, NULL, 'W'},
      {"hostile", no_argument, NULL, 'X'},
      {"api-period", required_argument, NULL, 'A'},
      {"feed-period", required_argument, NULL, 'F'},
      {"stream-period", required_argument, NULL, 'T'},
      {NULL, 0, NULL, 0},
  };
  struct origin_options opt;
  struct origin_cli cli;
  uv_loop_t loop;
  int ch, rc;
  int64_t v;

  origin_options_init(&opt);
  opt.fail_accept_every = failpoint_every("SPATE_TEST_FAIL_ACCEPT");
  memset(&cli, 0, sizeof cli);
  optind = 0; /* glibc: start over, whoever parsed before us */
  opterr = 0; /* our own one-line messages */
  while ((ch = getopt_long(argc, argv, "+:hp:q", longopts, NULL)) != -1) {
    v = 0;
    switch (ch) {
    case 'H':
      opt.host = optarg;
      break;
    case 'p':
      v = option_num("--port", optarg, 0, 65535);
      opt.port = (int)v;
      break;
    case 'P':
      v = option_num("--pages", optarg, 1, PAGES_MAX);
      opt.pages = (int)v;
      break;
    case 'S':
      v = option_num("--seed", optarg, 0, UINT32_MAX);
      opt.seed = (uint32_t)v;
      break;
    case 'L':
      v = option_num("--latency", optarg, 0, DELAY_MAX_MS);
      opt.latency_ms = (int)v;
      break;
    case 'l':
      opt.log_path = optarg;
      break;
    case 'q':
      opt.quiet = 1;
      break;
    case 'R':
      v = option_num("--robots-status", optarg, 100, 599);
      cli.site.robots_status = (int)v;
      break;
    case 'C':
      v = option_crawl_delay(&cli.site, optarg);
      break;
    case 'D':
      v = option_disallow(&cli.site, optarg);
      break;
    case 'M':
      v = option_sitemap(&cli.site, optarg);
      break;
    case 'W':
      v = option_plant(&cli.site, optarg);
      break;
    case 'X':
      cli.site.hostile = 1;
      break;
    case 'A':
      v = option_num("--api-period", optarg, 1, PERIOD_MAX_MS);
      opt.api_period_ms = (int)v;
      break;
    case 'F':
      v = option_num("--feed-period", optarg, 1, PERIOD_MAX_MS);
      opt.feed_period_ms = (int)v;
      break;
    case 'T':
      v = option_num("--stream-period", optarg, 1, PERIOD_MAX_MS);
      opt.stream_period_ms = (int)v;
      break;
    case 'h':
      usage(stdout);
      return 0;
    case ':':
      fprintf(stderr, "spate origin: option '%s' needs a value\n",
              argv[optind - 1]);
      return 2;
    default:
      if (optopt)
        fprintf(stderr, "spate origin: unknown option '-%c' (see --help)\n",
                optopt);
      else
        fprintf(stderr, "spate origin: unknown option '%s' (see --help)\n",
                argv[optind - 1]);
      return 2;
    }
    if (v < 0)
      return 2;
  }
  if (optind < argc) {
    fprintf(stderr, "spate origin: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  for (int i = 0; i < cli.site.nplant; i++) {
    if (cli.site.plant[i].page >= opt.pages) {
      fprintf(stderr,
              "spate origin: --plant page %d is not in the site (pages 0 to "
              "%d)\n",
              cli.site.plant[i].page, opt.pages - 1);
      return 2;
    }
  }
  struct sockaddr_storage ss;
  if (parse_host(opt.host, 0, &ss)) {
    fprintf(stderr, "spate origin: --host wants an IP address, not '%s'\n",
            opt.host);
    return 2;
  }
  if (opt.log_path) { /* say which file is wrong before binding anything */
    FILE *f = fopen(opt.log_path, "a");
    if (!f) {
      fprintf(stderr, "spate origin: cannot open log '%s': %s\n", opt.log_path,
              strerror(errno));
      return 1;
    }
    fclose(f);
  }

  signal(SIGPIPE, SIG_IGN); /* a peer that left is an EPIPE, not a death */
  raise_fd_limit();
  rc = uv_loop_init(&loop);
  if (rc) {
    fprintf(stderr, "spate origin: %s\n", uv_strerror(rc));
    return 1;
  }
  rc = origin_start_site(&cli.o, &loop, &opt, &cli.site);
  if (rc) {
    fprintf(stderr, "spate origin: cannot listen on %s port %d: %s\n",
            opt.host, opt.port, uv_strerror(rc));
    uv_run(&loop, UV_RUN_DEFAULT); /* finish the listener's close */
    uv_loop_close(&loop);
    return 1;
  }
  cli.quiet = opt.quiet;
  uv_signal_init(&loop, &cli.sigint);
  uv_signal_init(&loop, &cli.sigterm);
  cli.sigint.data = &cli;
  cli.sigterm.data = &cli;
  uv_signal_start(&cli.sigint, on_signal, SIGINT);
  uv_signal_start(&cli.sigterm, on_signal, SIGTERM);

  int v6 = strchr(opt.host, ':') != NULL;
  printf("origin listening on http://%s%s%s:%d/ (%d pages)\n", v6 ? "[" : "",
         opt.host, v6 ? "]" : "", origin_port(cli.o), cli.o->pages);
  fflush(stdout);

  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return 0;
}
