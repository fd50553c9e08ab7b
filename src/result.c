/* result: allocation of the result record and its serialisation.
 *
 * result_to_json runs once per page on the sink's writer thread, at more
 * than 10,000 pages/s, so it formats numbers and timestamps by hand into a
 * buffer it has reserved once, instead of building jansson objects or going
 * through printf. */
#include "result.h"

#include "buf.h"
#include "sink.h"
#include "sink_impl.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const result_columns[] = {
    "url",        "final_url", "status",      "error",        "attempts",
    "elapsed_ms", "ttfb_ms",   "bytes",       "content_type", "title",
    "links",      "canonical", "meta_robots", "hash",         "fetched_at",
    "fields",     NULL};

struct result *result_new(const char *url, size_t len)
{
  struct result *r = calloc(1, sizeof(*r));
  if (!r)
    return NULL;
  r->url = malloc(len + 1);
  if (!r->url) {
    free(r);
    return NULL;
  }
  memcpy(r->url, url, len);
  r->url[len] = '\0';
  /* -1 is "no first byte" (result.h); a zero would claim an instant
   * response for URLs that never reached the network. */
  r->ttfb_ms = -1;
  return r;
}

void result_crawl_free(struct result_crawl *c)
{
  if (!c)
    return;
  free(c->text);
  free(c->more);
  free(c->follow);
  free(c);
}

void result_free(struct result *r)
{
  if (!r)
    return;
  for (int i = 0; i < r->nfields; i++)
    free(r->fields[i].json);
  free(r->fields);
  result_crawl_free(r->crawl);
  free(r->meta_robots);
  free(r->canonical);
  free(r->links);
  free(r->title);
  free(r->content_type);
  free(r->final_url);
  free(r->url);
  free(r);
}

/* Writes v in decimal at o and returns the end. Handles INT64_MIN, whose
 * magnitude does not fit in int64_t. */
static char *put_i64(char *o, int64_t v)
{
  char tmp[20];
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  int n = 0;
  if (v < 0)
    *o++ = '-';
  do {
    tmp[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  while (n)
    *o++ = tmp[--n];
  return o;
}

char *result_put_ms(char *o, double ms)
{
  /* Beyond 2^53 tenths the value is no longer exact anyway; such
   * durations (centuries) only come from a bug, so they print as null
   * rather than as a wrong number. */
  if (!isfinite(ms) || fabs(ms) >= 9.0e14) {
    memcpy(o, "null", 4);
    return o + 4;
  }
  int64_t t = llround(ms * 10);
  if (t < 0) {
    *o++ = '-';
    t = -t;
  }
  o = put_i64(o, t / 10);
  *o++ = '.';
  *o++ = (char)('0' + t % 10);
  return o;
}

static char *put_2(char *o, int v)
{
  *o++ = (char)('0' + v / 10);
  *o++ = (char)('0' + v % 10);
  return o;
}

char *result_put_time(char *o, int64_t us)
{
  /* Floor division, so instants before 1970 get the right second. */
  int64_t sec = us / 1000000, frac = us % 1000000;
  if (frac < 0) {
    frac += 1000000;
    sec--;
  }
  time_t t = (time_t)sec;
  struct tm tm;
  if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 ||
      tm.tm_year + 1900 > 9999) {
    /* RFC 3339 has four-digit years only. */
    memcpy(o, "0000-01-01T00:00:00.000Z", 24);
    return o + 24;
  }
  int y = tm.tm_year + 1900, ms = (int)(frac / 1000);
  o = put_2(o, y / 100);
  o = put_2(o, y % 100);
  *o++ = '-';
  o = put_2(o, tm.tm_mon + 1);
  *o++ = '-';
  o = put_2(o, tm.tm_mday);
  *o++ = 'T';
  o = put_2(o, tm.tm_hour);
  *o++ = ':';
  o = put_2(o, tm.tm_min);
  *o++ = ':';
  o = put_2(o, tm.tm_sec);
  *o++ = '.';
  *o++ = (char)('0' + ms / 100);
  o = put_2(o, ms % 100);
  *o++ = 'Z';
  return o;
}

/* True when s[0..n) can go into a JSON string as is: no control byte, no
 * quote or backslash, no byte >= 0x80 (which buf_json_str would have to
 * validate as UTF-8). Eight bytes per step: URLs, content types and most
 * titles are plain ASCII, and this check is most of their cost. */
static int json_clean(const char *s, size_t n)
{
  const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x, q, bs;
    memcpy(&x, s + i, 8);
    q = x ^ (ones * '"');
    bs = x ^ (ones * '\\');
    /* (v - ones*k) & ~v & highs is non-zero iff some byte of v is below k
     * (for k <= 0x80); x & highs catches the bytes >= 0x80. */
    if ((x | ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) |
         ((bs - ones) & ~bs)) &
        highs)
      return 0;
  }
  for (; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\')
      return 0;
  }
  return 1;
}

/* Room that put_str needs for n bytes: buf_json_str's worst case. */
#define STR_NEED(n) (6 * (n) + 2)

/* Writes s[0..n) as a JSON string at o, which must have STR_NEED(n) bytes
 * of room in b, and returns the end. */
static char *put_str(struct buf *b, char *o, const char *s, size_t n)
{
  if (json_clean(s, n)) {
    *o++ = '"';
    memcpy(o, s, n);
    o += n;
    *o++ = '"';
    return o;
  }
  /* buf_json_str reserves STR_NEED(n) too, so it cannot fail or move the
   * storage here. */
  b->len = (size_t)(o - b->data);
  buf_json_str(b, s, n);
  return b->data + b->len;
}

/* A string or null, with its length known. */
static char *put_opt(struct buf *b, char *o, const char *s, size_t n)
{
  if (!s) {
    memcpy(o, "null", 4);
    return o + 4;
  }
  return put_str(b, o, s, n);
}

static size_t links_need(const struct result *r)
{
  const char *p = r->links;
  size_t need = 2;
  for (int i = 0; i < r->nlinks; i++) {
    size_t n = strlen(p);
    need += STR_NEED(n) + 1;
    p += n + 1;
  }
  return need;
}

static char *put_links(struct buf *b, char *o, const struct result *r)
{
  const char *p = r->links;
  *o++ = '[';
  for (int i = 0; i < r->nlinks; i++) {
    size_t n = strlen(p);
    if (i)
      *o++ = ',';
    o = put_str(b, o, p, n);
    p += n + 1;
  }
  *o++ = ']';
  return o;
}

static size_t fields_need(const struct result *r)
{
  size_t need = 2;
  for (int i = 0; i < r->nfields; i++) {
    const struct result_field *f = &r->fields[i];
    need += STR_NEED(strlen(f->name)) + 2;
    need += f->json ? strlen(f->json) : 4;
  }
  return need;
}

static char *put_fields(struct buf *b, char *o, const struct result *r)
{
  *o++ = '{';
  for (int i = 0; i < r->nfields; i++) {
    const struct result_field *f = &r->fields[i];
    if (i)
      *o++ = ',';
    o = put_str(b, o, f->name, strlen(f->name));
    *o++ = ':';
    /* json is already serialised by the extractor: copied verbatim. A
     * missing value still has to keep the object valid. */
    const char *v = f->json ? f->json : "null";
    size_t n = strlen(v);
    memcpy(o, v, n);
    o += n;
  }
  *o++ = '}';
  return o;
}

/* Ends a write through a raw pointer: the length and the terminating NUL
 * that struct buf promises. */
static void finish(struct buf *b, char *o)
{
  b->len = (size_t)(o - b->data);
  b->data[b->len] = '\0';
}

int result_links_json(const struct result *r, struct buf *out)
{
  if (buf_reserve(out, links_need(r)))
    return -ENOMEM;
  finish(out, put_links(out, out->data + out->len, r));
  return 0;
}

int result_fields_json(const struct result *r, struct buf *out)
{
  if (buf_reserve(out, fields_need(r)))
    return -ENOMEM;
  finish(out, put_fields(out, out->data + out->len, r));
  return 0;
}

/* Copies a literal key (with its punctuation) and returns the end. */
#define KEY(o, lit)                                                           \
  (memcpy((o), (lit), sizeof(lit) - 1), (o) + sizeof(lit) - 1)

/* Keys, numbers and the timestamp of one record take fewer bytes than
 * this. */
#define FIXED_MAX 384

/* The whole record's worst case is reserved once up front, so everything
 * after is written through a pointer with no capacity checks and no
 * failure path. */
int result_to_json(const struct result *r, struct buf *out)
{
  enum { URL, FINAL, ERROR, CTYPE, TITLE, CANON, ROBOTS, NSTR };
  const char *str[NSTR] = {r->url,          r->final_url, r->error,
                           r->content_type, r->title,     r->canonical,
                           r->meta_robots};
  size_t len[NSTR], need = FIXED_MAX + fields_need(r);
  for (int i = 0; i < NSTR; i++) {
    len[i] = str[i] ? strlen(str[i]) : 0;
    need += STR_NEED(len[i]);
  }
  if (r->links)
    need += links_need(r);
  if (buf_reserve(out, need))
    return -ENOMEM;

  char *o = out->data + out->len;
  o = KEY(o, "{\"url\":");
  o = put_opt(out, o, str[URL], len[URL]);
  o = KEY(o, ",\"final_url\":");
  o = put_opt(out, o, str[FINAL], len[FINAL]);
  o = KEY(o, ",\"status\":");
  o = put_i64(o, r->status);
  o = KEY(o, ",\"error\":");
  o = put_opt(out, o, str[ERROR], len[ERROR]);
  o = KEY(o, ",\"attempts\":");
  o = put_i64(o, r->attempts);
  o = KEY(o, ",\"elapsed_ms\":");
  o = result_put_ms(o, r->elapsed_ms);
  o = KEY(o, ",\"ttfb_ms\":");
  o = r->ttfb_ms < 0 ? KEY(o, "null") : result_put_ms(o, r->ttfb_ms);
  o = KEY(o, ",\"bytes\":");
  o = put_i64(o, r->bytes);
  o = KEY(o, ",\"content_type\":");
  o = put_opt(out, o, str[CTYPE], len[CTYPE]);
  o = KEY(o, ",\"title\":");
  o = put_opt(out, o, str[TITLE], len[TITLE]);
  o = KEY(o, ",\"links\":");
  o = r->links ? put_links(out, o, r) : put_i64(o, r->nlinks);
  o = KEY(o, ",\"canonical\":");
  o = put_opt(out, o, str[CANON], len[CANON]);
  o = KEY(o, ",\"meta_robots\":");
  o = put_opt(out, o, str[ROBOTS], len[ROBOTS]);
  o = KEY(o, ",\"hash\":");
  o = r->hash[0] ? put_str(out, o, r->hash, strnlen(r->hash, 64))
                 : KEY(o, "null");
  o = KEY(o, ",\"fetched_at\":\"");
  o = result_put_time(o, r->fetched_at_us);
  o = KEY(o, "\",\"fields\":");
  o = put_fields(out, o, r);
  o = KEY(o, "}\n");
  finish(out, o);
  return 0;
}
