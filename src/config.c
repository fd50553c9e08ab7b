/* config: the `spate serve` configuration file (see config.h).
 *
 * Two steps. libyaml's event parser feeds a small tree (one array of
 * nodes, one arena for the scalars' text), refusing what a configuration
 * has no use for and a hostile file could abuse: anchors and aliases (so
 * no "billion laughs"), tags, more than one document, nesting deeper than
 * CONFIG_DEPTH_MAX, and, before any parsing, input over CONFIG_BYTES_MAX.
 * Then the tree is checked and copied into struct config. The first
 * problem found ends the load with a message naming the file, the line and
 * the column of the node at fault. */
#include "config.h"

#include "cli.h"
#include "fetcher.h"
#include "live.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#define CONFIG_BYTES_MAX (1024 * 1024)
#define CONFIG_DEPTH_MAX 16
#define CONFIG_NAME_MAX 64

#define DEFAULT_LISTEN "127.0.0.1:8080"
#define DEFAULT_STORE "serve.db"
#define DEFAULT_INTERVAL_MS 60000
#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_RETRIES 2

enum node_type { NODE_SCALAR, NODE_SEQUENCE, NODE_MAPPING };

struct node {
  enum node_type type;
  int line, col;    /* 1-based */
  int null;         /* a plain scalar spelling null: "", ~, null */
  size_t text, len; /* scalar: offset in the text arena, length */
  int first, next;  /* first child, next sibling: indices or -1 */
  int nkids;        /* a mapping's children are key, value, key, ... */
};

struct ctx {
  const char *file; /* for messages */
  const char *src;  /* the input, to place reader errors */
  size_t srclen;
  char *err;
  size_t errlen;
  struct node *nodes;
  int nnodes, capnodes;
  char *text;
  size_t textlen, textcap;
};

/* Writes "FILE:LINE:COL: message" into the caller's buffer; returns -1. */
__attribute__((format(printf, 4, 5))) static int
fail_at(struct ctx *c, int line, int col, const char *fmt, ...)
{
  if (!c->err || !c->errlen)
    return -1;
  int n = snprintf(c->err, c->errlen, "%s:%d:%d: ", c->file, line, col);
  if (n >= 0 && (size_t)n < c->errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
    va_end(ap);
  }
  return -1;
}

#define NODE(c, i) (&(c)->nodes[(i)])
#define TEXT(c, n) ((c)->text + (n)->text)
#define FAIL(c, n, ...) fail_at((c), (n)->line, (n)->col, __VA_ARGS__)

/* A message without a position (I/O, size, memory). */
static int fail_file(struct ctx *c, const char *what)
{
  if (c->err && c->errlen)
    snprintf(c->err, c->errlen, "%s: %s", c->file, what);
  return -1;
}

/* s (len bytes) as it may appear in a one-line message: at most 40 bytes,
 * cut on a character boundary and followed by "...", control characters
 * as '?'. */
static const char *show(char *buf, size_t size, const char *s, size_t len)
{
  size_t max = 40, n = len;
  if (size < max + 4)
    max = size > 4 ? size - 4 : 0;
  if (n > max) {
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
      n--;
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    buf[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
  }
  snprintf(buf + n, size - n, "%s", n < len ? "..." : "");
  return buf;
}

static const char *type_name(const struct node *n)
{
  switch (n->type) {
  case NODE_SEQUENCE:
    return "a sequence";
  case NODE_MAPPING:
    return "a mapping";
  default:
    return n->null ? "an empty value" : "a scalar";
  }
}

/* ---- Building the tree from libyaml's events ---- */

static int add_node(struct ctx *c, enum node_type type, const yaml_mark_t *m)
{
  if (c->nnodes == c->capnodes) {
    int cap = c->capnodes ? c->capnodes * 2 : 64;
    struct node *nn = realloc(c->nodes, (size_t)cap * sizeof(*nn));
    if (!nn)
      return -1;
    c->nodes = nn;
    c->capnodes = cap;
  }
  struct node *n = &c->nodes[c->nnodes];
  memset(n, 0, sizeof(*n));
  n->type = type;
  n->line = (int)m->line + 1;
  n->col = (int)m->column + 1;
  n->first = n->next = -1;
  return c->nnodes++;
}

static int add_text(struct ctx *c, struct node *n, const unsigned char *s,
                    size_t len)
{
  if (c->textcap - c->textlen < len + 1) {
    size_t cap = c->textcap ? c->textcap : 4096;
    while (cap - c->textlen < len + 1)
      cap *= 2;
    char *t = realloc(c->text, cap);
    if (!t)
      return -1;
    c->text = t;
    c->textcap = cap;
  }
  memcpy(c->text + c->textlen, s, len);
  c->text[c->textlen + len] = '\0';
  n->text = c->textlen;
  n->len = len;
  c->textlen += len + 1;
  return 0;
}

static int is_null(const yaml_event_t *ev)
{
  static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
  if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return 0;
  for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
    if (strcmp((const char *)ev->data.scalar.value, nulls[i]) == 0)
      return 1;
  return 0;
}

static int yaml_fail(struct ctx *c, const yaml_parser_t *p)
{
  const char *problem = p->problem ? p->problem : "invalid YAML";
  if (p->error == YAML_MEMORY_ERROR)
    return fail_file(c, "out of memory");
  if (p->error == YAML_READER_ERROR) {
    /* The reader gives a byte offset, not a mark. */
    int line = 1, col = 1;
    for (size_t i = 0; i < p->problem_offset && i < c->srclen; i++) {
      if (c->src[i] == '\n') {
        line++;
        col = 1;
      } else {
        col++;
      }
    }
    return fail_at(c, line, col, "%s", problem);
  }
  const yaml_mark_t *m = &p->problem_mark;
  if (p->context)
    return fail_at(c, (int)m->line + 1, (int)m->column + 1, "%s (%s at %d:%d)",
                   problem, p->context, (int)p->context_mark.line + 1,
                   (int)p->context_mark.column + 1);
  return fail_at(c, (int)m->line + 1, (int)m->column + 1, "%s", problem);
}

/* Anchors and tags are refused wherever they appear. */
static int properties(struct ctx *c, const yaml_event_t *ev,
                      const yaml_char_t *anchor, const yaml_char_t *tag)
{
  const yaml_mark_t *m = &ev->start_mark;
  if (anchor)
    return fail_at(c, (int)m->line + 1, (int)m->column + 1,
                   "anchors and aliases are not allowed");
  if (tag)
    return fail_at(c, (int)m->line + 1, (int)m->column + 1,
                   "tags are not allowed");
  return 0;
}

struct open {
  int node, last; /* the collection, its last child so far */
};

/* Handles one event: adds its node under the innermost open collection. */
static int on_event(struct ctx *c, const yaml_event_t *ev, struct open *stack,
                    int *depth, int *docs, int *root)
{
  const yaml_mark_t *m = &ev->start_mark;
  enum node_type type;
  int i;
  switch (ev->type) {
  case YAML_DOCUMENT_START_EVENT:
    if ((*docs)++)
      return fail_at(c, (int)m->line + 1, (int)m->column + 1,
                     "more than one YAML document");
    return 0;
  case YAML_ALIAS_EVENT:
    return fail_at(c, (int)m->line + 1, (int)m->column + 1,
                   "anchors and aliases are not allowed");
  case YAML_SCALAR_EVENT:
    if (properties(c, ev, ev->data.scalar.anchor, ev->data.scalar.tag))
      return -1;
    type = NODE_SCALAR;
    break;
  case YAML_SEQUENCE_START_EVENT:
    if (properties(c, ev, ev->data.sequence_start.anchor,
                   ev->data.sequence_start.tag))
      return -1;
    type = NODE_SEQUENCE;
    break;
  case YAML_MAPPING_START_EVENT:
    if (properties(c, ev, ev->data.mapping_start.anchor,
                   ev->data.mapping_start.tag))
      return -1;
    type = NODE_MAPPING;
    break;
  case YAML_SEQUENCE_END_EVENT:
  case YAML_MAPPING_END_EVENT:
    if (*depth > 0)
      (*depth)--;
    return 0;
  default:
    return 0;
  }
  if (type != NODE_SCALAR && *depth == CONFIG_DEPTH_MAX)
    return fail_at(c, (int)m->line + 1, (int)m->column + 1,
                   "nesting deeper than %d levels", CONFIG_DEPTH_MAX);
  if ((i = add_node(c, type, m)) < 0)
    return fail_file(c, "out of memory");
  if (type == NODE_SCALAR) {
    NODE(c, i)->null = is_null(ev);
    if (add_text(c, NODE(c, i), ev->data.scalar.value, ev->data.scalar.length))
      return fail_file(c, "out of memory");
  }
  if (*depth > 0) {
    struct open *o = &stack[*depth - 1];
    if (o->last < 0)
      NODE(c, o->node)->first = i;
    else
      NODE(c, o->last)->next = i;
    o->last = i;
    NODE(c, o->node)->nkids++;
  } else {
    *root = i;
  }
  if (type != NODE_SCALAR) {
    stack[*depth].node = i;
    stack[*depth].last = -1;
    (*depth)++;
  }
  return 0;
}

/* Parses the input into the tree; *root is -1 for an empty stream. */
static int build(struct ctx *c, int *root)
{
  yaml_parser_t p;
  yaml_event_t ev;
  struct open stack[CONFIG_DEPTH_MAX];
  int depth = 0, docs = 0, rc = 0;
  *root = -1;
  if (!yaml_parser_initialize(&p))
    return fail_file(c, "out of memory");
  yaml_parser_set_input_string(&p, (const unsigned char *)c->src, c->srclen);
  for (;;) {
    if (!yaml_parser_parse(&p, &ev)) {
      rc = yaml_fail(c, &p);
      break;
    }
    int end = ev.type == YAML_STREAM_END_EVENT;
    rc = on_event(c, &ev, stack, &depth, &docs, root);
    yaml_event_delete(&ev);
    if (rc || end)
      break;
  }
  yaml_parser_delete(&p);
  return rc;
}

/* ---- Checking the tree ---- */

static int text_is(const struct ctx *c, const struct node *n, const char *s)
{
  return n->type == NODE_SCALAR && n->len == strlen(s) &&
         memcmp(TEXT(c, n), s, n->len) == 0;
}

/* Matches the keys of mapping m against names[0..n): keys[i] gets the key
 * node of names[i] or -1. Unknown, duplicate and non-scalar keys are
 * errors; want lists the names for the message, who prefixes it. */
static int match_keys(struct ctx *c, int m, const char *const *names, int n,
                      const char *want, const char *who, int *keys)
{
  char buf[64];
  for (int i = 0; i < n; i++)
    keys[i] = -1;
  for (int k = NODE(c, m)->first, v; k >= 0; k = NODE(c, v)->next) {
    const struct node *kn = NODE(c, k);
    v = kn->next;
    if (kn->type != NODE_SCALAR)
      return FAIL(c, kn, "%sa key must be a scalar, not %s", who,
                  type_name(kn));
    int i = 0;
    while (i < n && !text_is(c, kn, names[i]))
      i++;
    if (i == n)
      return FAIL(c, kn, "%sunknown key '%s' (want %s)", who,
                  show(buf, sizeof(buf), TEXT(c, kn), kn->len), want);
    if (keys[i] >= 0)
      return FAIL(c, kn, "%sduplicate key '%s'", who, names[i]);
    keys[i] = k;
  }
  return 0;
}

/* The value of key node k as a string: a scalar, not null, without NUL
 * bytes; NULL after an error. */
static const char *scalar(struct ctx *c, int k, const char *who,
                          const char *key)
{
  const struct node *n = NODE(c, NODE(c, k)->next);
  if (n->type != NODE_SCALAR || n->null) {
    if (n->type == NODE_SCALAR)
      FAIL(c, n, "%s%s: missing value", who, key);
    else
      FAIL(c, n, "%s%s: want a scalar, not %s", who, key, type_name(n));
    return NULL;
  }
  if (strlen(TEXT(c, n)) != n->len) {
    FAIL(c, n, "%s%s: NUL characters are not allowed", who, key);
    return NULL;
  }
  return TEXT(c, n);
}

static int valid_name(const char *s, size_t len, const char *extra)
{
  if (len < 1 || len > CONFIG_NAME_MAX)
    return 0;
  for (size_t i = 0; i < len; i++) {
    char ch = s[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || (ch && strchr(extra, ch))))
      return 0;
  }
  return 1;
}

static char *dup_str(struct ctx *c, const char *s)
{
  char *d = strdup(s);
  if (!d)
    fail_file(c, "out of memory");
  return d;
}

/* A duration of key k, within [min, max] ms. */
static int duration(struct ctx *c, int k, const char *who, const char *key,
                    long long min, long long max, const char *range,
                    uint64_t *out)
{
  const char *s = scalar(c, k, who, key);
  const struct node *n = NODE(c, NODE(c, k)->next);
  char buf[64];
  if (!s)
    return -1;
  long long ms = cli_parse_duration_ms(s);
  if (ms < 0)
    return FAIL(c, n, "%s%s: want a duration such as 5s", who, key);
  if (ms < min || ms > max)
    return FAIL(c, n, "%s%s: %s is out of range (%s)", who, key,
                show(buf, sizeof(buf), s, n->len), range);
  *out = (uint64_t)ms;
  return 0;
}

static int check_url(struct ctx *c, int k, const char *who,
                     enum source_kind kind, const char *url)
{
  const struct node *n = NODE(c, NODE(c, k)->next);
  char buf[64];
  char *scheme = NULL, *host = NULL;
  CURLU *u = curl_url();
  if (!u)
    return fail_file(c, "out of memory");
  CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
  int rc = 0;
  if (uc) {
    rc = FAIL(c, n, "%surl: '%s' is not a valid URL (%s)", who,
              show(buf, sizeof(buf), url, n->len), curl_url_strerror(uc));
    goto out;
  }
  int web = kind == SOURCE_WEBSOCKET, ok = 0;
  if (!curl_url_get(u, CURLUPART_SCHEME, &scheme, 0))
    ok = web ? strcmp(scheme, "ws") == 0 || strcmp(scheme, "wss") == 0
             : strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0;
  if (!ok) {
    rc = FAIL(c, n, "%surl: want %s URL for a %s source", who,
              web ? "a ws or wss" : "an http or https",
              kind == SOURCE_JSON ? "json"
              : web               ? "websocket"
                                  : "feed");
    goto out;
  }
  if (curl_url_get(u, CURLUPART_HOST, &host, 0) || !*host)
    rc = FAIL(c, n, "%surl: '%s' has no host", who,
              show(buf, sizeof(buf), url, n->len));
out:
  curl_free(scheme);
  curl_free(host);
  curl_url_cleanup(u);
  return rc;
}

/* RFC 6901: "" or '/'-separated reference tokens, '~' only as ~0 or ~1. */
static int valid_pointer(const char *p)
{
  if (*p && *p != '/')
    return 0;
  for (; *p; p++)
    if (*p == '~' && p[1] != '0' && p[1] != '1')
      return 0;
  return 1;
}

static int load_fields(struct ctx *c, int k, const char *who,
                       struct config_source *s)
{
  const struct node *m = NODE(c, NODE(c, k)->next);
  char buf[64], label[96];
  if (m->type == NODE_SCALAR && m->null)
    return 0;
  if (m->type != NODE_MAPPING)
    return FAIL(c, m, "%sfields: want a mapping, not %s", who, type_name(m));
  int npairs = m->nkids / 2;
  if (npairs == 0)
    return 0;
  s->fields =
      calloc((size_t)(npairs < CONFIG_MAX_FIELDS ? npairs : CONFIG_MAX_FIELDS),
             sizeof(*s->fields));
  if (!s->fields)
    return fail_file(c, "out of memory");
  for (int fk = m->first, v; fk >= 0; fk = NODE(c, v)->next) {
    const struct node *kn = NODE(c, fk);
    v = kn->next;
    if (kn->type != NODE_SCALAR)
      return FAIL(c, kn, "%sfields: a key must be a scalar, not %s", who,
                  type_name(kn));
    if (s->nfields == CONFIG_MAX_FIELDS)
      return FAIL(c, kn, "%sfields: more than %d fields", who,
                  CONFIG_MAX_FIELDS);
    const char *name = TEXT(c, kn);
    if (!valid_name(name, kn->len, "_.-"))
      return FAIL(c, kn,
                  "%sfields: bad field name '%s' (want 1 to %d of A-Z a-z "
                  "0-9 _ . -)",
                  who, show(buf, sizeof(buf), name, kn->len), CONFIG_NAME_MAX);
    for (int j = 0; j < s->nfields; j++)
      if (strcmp(s->fields[j].name, name) == 0)
        return FAIL(c, kn, "%sfields: duplicate field '%s'", who, name);
    snprintf(label, sizeof(label), "field '%s'", name);
    const char *ptr = scalar(c, fk, who, label);
    if (!ptr)
      return -1;
    if (!valid_pointer(ptr))
      return FAIL(c, NODE(c, v),
                  "%s%s: want a JSON pointer ('' or starting with '/', '~' "
                  "only as ~0 or ~1)",
                  who, label);
    struct config_field *f = &s->fields[s->nfields++];
    if (!(f->name = dup_str(c, name)) || !(f->pointer = dup_str(c, ptr)))
      return -1;
  }
  return 0;
}

/* The upgrade request's own headers (RFC 6455, 4.1), and those that would
 * make it something else than a GET without a body: a websocket source's
 * headers may not set them. */
static int handshake_header(const char *name, size_t n)
{
  static const char *const own[] = {"Host",
                                    "Upgrade",
                                    "Connection",
                                    "Sec-WebSocket-Key",
                                    "Sec-WebSocket-Version",
                                    "Sec-WebSocket-Extensions",
                                    "Content-Length",
                                    "Transfer-Encoding"};
  for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
    if (strlen(own[i]) == n && strncasecmp(own[i], name, n) == 0)
      return 1;
  return 0;
}

/* headers: a mapping of header names (RFC 9110 tokens) to values without
 * control characters, as "Name: value" lines. */
static int load_headers(struct ctx *c, int k, const char *who,
                        struct config_source *s)
{
  const struct node *m = NODE(c, NODE(c, k)->next);
  char buf[64];
  if (m->type == NODE_SCALAR && m->null)
    return 0;
  if (m->type != NODE_MAPPING)
    return FAIL(c, m, "%sheaders: want a mapping, not %s", who, type_name(m));
  int npairs = m->nkids / 2;
  if (npairs == 0)
    return 0;
  s->headers = calloc(
      (size_t)(npairs < CONFIG_MAX_HEADERS ? npairs : CONFIG_MAX_HEADERS),
      sizeof(*s->headers));
  if (!s->headers)
    return fail_file(c, "out of memory");
  for (int hk = m->first, v; hk >= 0; hk = NODE(c, v)->next) {
    const struct node *kn = NODE(c, hk);
    v = kn->next;
    if (kn->type != NODE_SCALAR)
      return FAIL(c, kn, "%sheaders: a name must be a scalar, not %s", who,
                  type_name(kn));
    if (s->nheaders == CONFIG_MAX_HEADERS)
      return FAIL(c, kn, "%sheaders: more than %d headers", who,
                  CONFIG_MAX_HEADERS);
    const char *name = TEXT(c, kn);
    size_t nl = kn->len;
    if (!fetcher_header_name_ok(name, nl))
      return FAIL(c, kn, "%sheaders: bad header name '%s'", who,
                  show(buf, sizeof(buf), name, nl));
    if (s->kind == SOURCE_WEBSOCKET && handshake_header(name, nl))
      return FAIL(c, kn,
                  "%sheaders: '%s' is the WebSocket handshake's own; a "
                  "websocket source may not set it",
                  who, show(buf, sizeof(buf), name, nl));
    const char *val = scalar(c, hk, who, "a header");
    if (!val)
      return -1;
    size_t vl = strlen(val);
    if (!fetcher_header_value_ok(val, vl))
      return FAIL(c, NODE(c, v),
                  "%sheaders: '%s' has control characters in its value", who,
                  name);
    if (nl + vl + 2 > CONFIG_HEADER_MAX)
      return FAIL(c, NODE(c, v), "%sheaders: '%s' is longer than 8 KiB", who,
                  name);
    char *line = malloc(nl + vl + 3);
    if (!line)
      return fail_file(c, "out of memory");
    snprintf(line, nl + vl + 3, "%.*s: %s", (int)nl, name, val);
    s->headers[s->nheaders++] = line;
  }
  return 0;
}

enum {
  K_NAME,
  K_KIND,
  K_URL,
  K_INTERVAL,
  K_TIMEOUT,
  K_RETRIES,
  K_ENABLED,
  K_FIELDS,
  K_HEADERS,
  K_COUNT
};

static const char *const source_keys[K_COUNT] = {
    "name",    "kind",    "url",    "interval", "timeout",
    "retries", "enabled", "fields", "headers"};

/* Source number idx (0-based) from mapping node m into out->sources. */
static int load_source(struct ctx *c, int m, struct config *out)
{
  const struct node *n = NODE(c, m);
  int idx = out->nsources;
  struct config_source *s = &out->sources[out->nsources++];
  char who[96];
  int keys[K_COUNT];
  const char *t;

  snprintf(who, sizeof(who), "source #%d: ", idx + 1);
  if (n->type != NODE_MAPPING)
    return FAIL(c, n, "%swant a mapping, not %s", who, type_name(n));
  s->line = n->line;
  /* The name first, so that later messages can use it. */
  for (int k = n->first, v; k >= 0; k = NODE(c, v)->next) {
    v = NODE(c, k)->next;
    if (text_is(c, NODE(c, k), "name")) {
      if (!(t = scalar(c, k, who, "name")))
        return -1;
      if (!valid_name(t, strlen(t), "_-"))
        return FAIL(c, NODE(c, v), "%sname: want 1 to %d of A-Z a-z 0-9 _ -",
                    who, CONFIG_NAME_MAX);
      snprintf(who, sizeof(who), "source '%s': ", t);
      break;
    }
  }
  if (match_keys(c, m, source_keys, K_COUNT,
                 "name, kind, url, interval, timeout, retries, enabled, "
                 "fields or headers",
                 who, keys))
    return -1;
  if (keys[K_NAME] < 0)
    return FAIL(c, n, "%smissing name", who);
  t = TEXT(c, NODE(c, NODE(c, keys[K_NAME])->next));
  for (int j = 0; j < idx; j++)
    if (strcmp(out->sources[j].name, t) == 0)
      return FAIL(c, NODE(c, NODE(c, keys[K_NAME])->next),
                  "%sduplicate name (first at line %d)", who,
                  out->sources[j].line);
  if (!(s->name = dup_str(c, t)))
    return -1;

  if (keys[K_KIND] < 0)
    return FAIL(c, n, "%smissing kind", who);
  if (!(t = scalar(c, keys[K_KIND], who, "kind")))
    return -1;
  if (strcmp(t, "json") == 0)
    s->kind = SOURCE_JSON;
  else if (strcmp(t, "feed") == 0)
    s->kind = SOURCE_FEED;
  else if (strcmp(t, "websocket") == 0)
    s->kind = SOURCE_WEBSOCKET;
  else
    return FAIL(c, NODE(c, NODE(c, keys[K_KIND])->next),
                "%skind: want json, feed or websocket", who);

  if (keys[K_URL] < 0)
    return FAIL(c, n, "%smissing url", who);
  if (!(t = scalar(c, keys[K_URL], who, "url")) ||
      check_url(c, keys[K_URL], who, s->kind, t) || !(s->url = dup_str(c, t)))
    return -1;

  s->interval_ms = s->kind == SOURCE_WEBSOCKET ? 0 : DEFAULT_INTERVAL_MS;
  if (keys[K_INTERVAL] >= 0) {
    if (s->kind == SOURCE_WEBSOCKET)
      return FAIL(c, NODE(c, keys[K_INTERVAL]),
                  "%sinterval: not allowed for a websocket source", who);
    if (duration(c, keys[K_INTERVAL], who, "interval", 100, 86400000,
                 "100ms to 1 day", &s->interval_ms))
      return -1;
  }
  s->timeout_ms = DEFAULT_TIMEOUT_MS;
  if (keys[K_TIMEOUT] >= 0 &&
      duration(c, keys[K_TIMEOUT], who, "timeout", 100, 600000,
               "100ms to 10 minutes", &s->timeout_ms))
    return -1;

  s->retries = DEFAULT_RETRIES;
  if (keys[K_RETRIES] >= 0) {
    if (!(t = scalar(c, keys[K_RETRIES], who, "retries")))
      return -1;
    size_t len = strlen(t);
    if (len < 1 || len > 2 || strspn(t, "0123456789") != len || atoi(t) > 10)
      return FAIL(c, NODE(c, NODE(c, keys[K_RETRIES])->next),
                  "%sretries: want an integer from 0 to 10", who);
    s->retries = atoi(t);
  }

  s->enabled = 1;
  if (keys[K_ENABLED] >= 0) {
    static const char *const yes[] = {"true", "True", "TRUE",
                                      "yes",  "Yes",  "YES"};
    static const char *const no[] = {"false", "False", "FALSE",
                                     "no",    "No",    "NO"};
    if (!(t = scalar(c, keys[K_ENABLED], who, "enabled")))
      return -1;
    s->enabled = -1;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
      if (strcmp(t, yes[i]) == 0)
        s->enabled = 1;
      else if (strcmp(t, no[i]) == 0)
        s->enabled = 0;
    }
    if (s->enabled < 0)
      return FAIL(c, NODE(c, NODE(c, keys[K_ENABLED])->next),
                  "%senabled: want true or false", who);
  }

  if (keys[K_FIELDS] >= 0) {
    if (s->kind == SOURCE_FEED)
      return FAIL(c, NODE(c, keys[K_FIELDS]),
                  "%sfields: not allowed for a feed source", who);
    if (load_fields(c, keys[K_FIELDS], who, s))
      return -1;
  }
  if (keys[K_HEADERS] >= 0 && load_headers(c, keys[K_HEADERS], who, s))
    return -1;
  return 0;
}

static int load_sources(struct ctx *c, int k, struct config *out)
{
  const struct node *n = NODE(c, NODE(c, k)->next);
  if (n->type == NODE_SCALAR && n->null)
    return 0;
  if (n->type != NODE_SEQUENCE)
    return FAIL(c, n, "sources: want a sequence, not %s", type_name(n));
  if (n->nkids == 0)
    return 0;
  out->sources = calloc(
      (size_t)(n->nkids < CONFIG_MAX_SOURCES ? n->nkids : CONFIG_MAX_SOURCES),
      sizeof(*out->sources));
  if (!out->sources)
    return fail_file(c, "out of memory");
  for (int i = n->first; i >= 0; i = NODE(c, i)->next) {
    if (out->nsources == CONFIG_MAX_SOURCES)
      return FAIL(c, NODE(c, i), "sources: more than %d sources",
                  CONFIG_MAX_SOURCES);
    if (load_source(c, i, out))
      return -1;
  }
  return 0;
}

enum { T_LISTEN, T_STORE, T_SOURCES, T_COUNT };

static const char *const top_keys[T_COUNT] = {"listen", "store", "sources"};

static int load_top(struct ctx *c, int root, struct config *out)
{
  int keys[T_COUNT];
  const char *t;
  if (root >= 0 &&
      !(NODE(c, root)->type == NODE_SCALAR && NODE(c, root)->null)) {
    const struct node *n = NODE(c, root);
    if (n->type != NODE_MAPPING)
      return FAIL(c, n, "want a mapping of listen, store and sources, not %s",
                  type_name(n));
    if (match_keys(c, root, top_keys, T_COUNT, "listen, store or sources", "",
                   keys))
      return -1;
    if (keys[T_LISTEN] >= 0) {
      char host[64];
      int port;
      if (!(t = scalar(c, keys[T_LISTEN], "", "listen")))
        return -1;
      if (live_parse_addr(t, host, &port))
        return FAIL(c, NODE(c, NODE(c, keys[T_LISTEN])->next),
                    "listen: want [ADDR:]PORT such as 127.0.0.1:8080");
      if (!(out->listen = dup_str(c, t)))
        return -1;
    }
    if (keys[T_STORE] >= 0) {
      if (!(t = scalar(c, keys[T_STORE], "", "store")))
        return -1;
      if (!*t)
        return FAIL(c, NODE(c, NODE(c, keys[T_STORE])->next),
                    "store: want a non-empty path");
      if (!(out->store = dup_str(c, t)))
        return -1;
    }
    if (keys[T_SOURCES] >= 0 && load_sources(c, keys[T_SOURCES], out))
      return -1;
  }
  if ((!out->listen && !(out->listen = dup_str(c, DEFAULT_LISTEN))) ||
      (!out->store && !(out->store = dup_str(c, DEFAULT_STORE))))
    return -1;
  return 0;
}

int config_parse(struct config *out, const char *text, size_t len,
                 const char *name, char *err, size_t errlen)
{
  struct ctx c = {.file = name ? name : "config",
                  .src = text ? text : "",
                  .srclen = text ? len : 0,
                  .err = err,
                  .errlen = errlen};
  int root, rc;
  memset(out, 0, sizeof(*out));
  if (err && errlen)
    err[0] = '\0';
  if (c.srclen > CONFIG_BYTES_MAX)
    return fail_file(&c, "larger than 1 MiB");
  rc = build(&c, &root);
  if (rc == 0)
    rc = load_top(&c, root, out);
  free(c.nodes);
  free(c.text);
  if (rc)
    config_free(out);
  return rc;
}

int config_load(struct config *out, const char *path, char *err, size_t errlen)
{
  struct ctx c = {.file = path, .err = err, .errlen = errlen};
  memset(out, 0, sizeof(*out));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fail_file(&c, strerror(errno));
  /* One byte more than allowed tells a file that is too large. */
  char *buf = malloc(CONFIG_BYTES_MAX + 1);
  size_t n = 0;
  if (!buf) {
    close(fd);
    return fail_file(&c, "out of memory");
  }
  while (n < CONFIG_BYTES_MAX + 1) {
    ssize_t r = read(fd, buf + n, CONFIG_BYTES_MAX + 1 - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      int e = errno;
      close(fd);
      free(buf);
      return fail_file(&c, strerror(e));
    }
    if (r == 0)
      break;
    n += (size_t)r;
  }
  close(fd);
  int rc = config_parse(out, buf, n, path, err, errlen);
  free(buf);
  return rc;
}

void config_free(struct config *c)
{
  if (!c)
    return;
  for (int i = 0; i < c->nsources; i++) {
    struct config_source *s = &c->sources[i];
    for (int j = 0; j < s->nfields; j++) {
      free(s->fields[j].name);
      free(s->fields[j].pointer);
    }
    free(s->fields);
    for (int j = 0; j < s->nheaders; j++)
      free(s->headers[j]);
    free(s->headers);
    free(s->name);
    free(s->url);
  }
  free(c->sources);
  free(c->listen);
  free(c->store);
  memset(c, 0, sizeof(*c));
}

const struct config_source *config_find(const struct config *c,
                                        const char *name)
{
  if (!c || !name)
    return NULL;
  for (int i = 0; i < c->nsources; i++)
    if (c->sources[i].name && strcmp(c->sources[i].name, name) == 0)
      return &c->sources[i];
  return NULL;
}

static int str_eq(const char *a, const char *b)
{
  return a == b || (a && b && strcmp(a, b) == 0);
}

/* Every setting; not line, which says where, not how. */
int config_source_equal(const struct config_source *a,
                        const struct config_source *b)
{
  if (a == b)
    return 1;
  if (!a || !b || !str_eq(a->name, b->name) || a->kind != b->kind ||
      !str_eq(a->url, b->url) || a->interval_ms != b->interval_ms ||
      a->timeout_ms != b->timeout_ms || a->retries != b->retries ||
      a->enabled != b->enabled || a->nfields != b->nfields ||
      a->nheaders != b->nheaders)
    return 0;
  for (int i = 0; i < a->nheaders; i++)
    if (!str_eq(a->headers[i], b->headers[i]))
      return 0;
  for (int i = 0; i < a->nfields; i++)
    if (!str_eq(a->fields[i].name, b->fields[i].name) ||
        !str_eq(a->fields[i].pointer, b->fields[i].pointer))
      return 0;
  return 1;
}
