/* config: valid files (defaults, every key, every form), one input per
 * error class with its exact message, the limits (size, nesting,
 * anchors, counts), examples/spate.yaml, config_find and
 * config_source_equal. */
#include "check.h"
#include "config.h"

#include <stdlib.h>
#include <string.h>

#define SRC(body) "sources:\n  - name: a\n" body

static int ncases;

/* Parses text (a C string) as "t.yaml"; expects success. */
static int parse_ok(struct config *c, const char *text)
{
  char err[512] = "";
  int rc = config_parse(c, text, strlen(text), "t.yaml", err, sizeof(err));
  if (rc != 0)
    fprintf(stderr, "unexpected error: %s\n--- input:\n%s---\n", err, text);
  CHECK(rc == 0);
  CHECK_STR(err, "");
  ncases++;
  return rc;
}

/* Parses len bytes; expects failure with exactly want, and *c empty. */
static void parse_err_n(const char *text, size_t len, const char *want)
{
  struct config c;
  char err[512] = "";
  int rc = config_parse(&c, text, len, "t.yaml", err, sizeof(err));
  if (rc == 0 || strcmp(err, want) != 0)
    fprintf(stderr, "--- input:\n%.*s---\n", (int)(len < 2000 ? len : 2000),
            text);
  CHECK(rc == -1);
  CHECK_STR(err, want);
  CHECK(c.nsources == 0 && !c.sources && !c.listen && !c.store);
  if (rc == 0)
    config_free(&c);
  ncases++;
}

static void parse_err(const char *text, const char *want)
{
  parse_err_n(text, strlen(text), want);
}

static void test_empty(void)
{
  static const char *const empties[] = {"",
                                        "# only a comment\n",
                                        "---\n",
                                        "--- ~\n",
                                        "---\n...\n",
                                        "sources: []\n",
                                        "sources:\n",
                                        "sources: ~\n",
                                        "{}\n",
                                        "listen: 8080\n",
                                        "\n\n\n",
                                        "%YAML 1.1\n---\n",
                                        "--- {}\n...\n"};
  for (size_t i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
    struct config c;
    if (parse_ok(&c, empties[i]))
      continue;
    CHECK(c.nsources == 0);
    CHECK(c.sources == NULL);
    CHECK_STR(c.store, "serve.db");
    CHECK_STR(c.listen, i == 9 ? "8080" : "127.0.0.1:8080");
    config_free(&c);
    CHECK(c.listen == NULL && c.store == NULL && c.nsources == 0);
  }
  /* NULL text with length 0, no name, no error buffer. */
  struct config c;
  CHECK(config_parse(&c, NULL, 0, NULL, NULL, 0) == 0);
  CHECK(c.nsources == 0);
  config_free(&c);
  config_free(NULL);
  ncases++;
}

static void test_defaults(void)
{
  struct config c;
  if (parse_ok(&c, "sources:\n"
                   "  - name: j\n"
                   "    kind: json\n"
                   "    url: http://127.0.0.1:9000/w.json\n"
                   "  - name: f\n"
                   "    kind: feed\n"
                   "    url: https://example.com/rss.xml\n"
                   "  - name: w\n"
                   "    kind: websocket\n"
                   "    url: wss://example.com/s\n"))
    return;
  CHECK_STR(c.listen, "127.0.0.1:8080");
  CHECK_STR(c.store, "serve.db");
  CHECK(c.nsources == 3);
  if (c.nsources != 3) {
    config_free(&c);
    return;
  }
  static const enum source_kind kinds[] = {SOURCE_JSON, SOURCE_FEED,
                                           SOURCE_WEBSOCKET};
  static const int lines[] = {2, 5, 8};
  for (int i = 0; i < 3; i++) {
    const struct config_source *s = &c.sources[i];
    CHECK(s->kind == kinds[i]);
    CHECK(s->interval_ms == (i == 2 ? 0 : 60000));
    CHECK(s->timeout_ms == 10000);
    CHECK(s->retries == 2);
    CHECK(s->enabled == 1);
    CHECK(s->nfields == 0 && s->fields == NULL);
    CHECK(s->line == lines[i]);
  }
  CHECK_STR(c.sources[0].name, "j");
  CHECK_STR(c.sources[0].url, "http://127.0.0.1:9000/w.json");
  CHECK_STR(c.sources[1].url, "https://example.com/rss.xml");
  CHECK_STR(c.sources[2].url, "wss://example.com/s");
  config_free(&c);
}

static void test_every_key(void)
{
  struct config c;
  if (parse_ok(&c, "# every key\n"
                   "listen: '[::1]:9090'\n"
                   "store: /var/lib/spate/items.db\n"
                   "sources:\n"
                   "  - enabled: no           # keys in any order\n"
                   "    fields:\n"
                   "      temp: /current/temp\n"
                   "      whole: ''\n"
                   "      a.b-c_D9: /a~0b~1c/0\n"
                   "    retries: 10\n"
                   "    timeout: 500ms\n"
                   "    interval: 2.5s\n"
                   "    url: \"HTTPS://Example.COM:8443/x?y=1\"\n"
                   "    kind: json\n"
                   "    \"name\": Weather_2-x\n"
                   "  - {name: ws, kind: websocket, url: 'ws://h/s', "
                   "timeout: 10m, retries: 0, enabled: True,\n"
                   "     fields: {seq: /seq}}\n"))
    return;
  CHECK_STR(c.listen, "[::1]:9090");
  CHECK_STR(c.store, "/var/lib/spate/items.db");
  CHECK(c.nsources == 2);
  if (c.nsources == 2) {
    const struct config_source *s = &c.sources[0];
    CHECK_STR(s->name, "Weather_2-x");
    CHECK(s->kind == SOURCE_JSON);
    CHECK_STR(s->url, "HTTPS://Example.COM:8443/x?y=1");
    CHECK(s->interval_ms == 2500);
    CHECK(s->timeout_ms == 500);
    CHECK(s->retries == 10);
    CHECK(s->enabled == 0);
    CHECK(s->line == 5);
    CHECK(s->nfields == 3);
    if (s->nfields == 3) {
      CHECK_STR(s->fields[0].name, "temp");
      CHECK_STR(s->fields[0].pointer, "/current/temp");
      CHECK_STR(s->fields[1].name, "whole");
      CHECK_STR(s->fields[1].pointer, "");
      CHECK_STR(s->fields[2].name, "a.b-c_D9");
      CHECK_STR(s->fields[2].pointer, "/a~0b~1c/0");
    }
    s = &c.sources[1];
    CHECK_STR(s->name, "ws");
    CHECK(s->kind == SOURCE_WEBSOCKET);
    CHECK_STR(s->url, "ws://h/s");
    CHECK(s->interval_ms == 0);
    CHECK(s->timeout_ms == 600000);
    CHECK(s->retries == 0);
    CHECK(s->enabled == 1);
    CHECK(s->line == 16);
    CHECK(s->nfields == 1);
    if (s->nfields == 1) {
      CHECK_STR(s->fields[0].name, "seq");
      CHECK_STR(s->fields[0].pointer, "/seq");
    }
  }
  config_free(&c);
}

/* headers: "Name: value" lines in order, a value quoted or not, none
 * shown anywhere but the request. */
static void test_headers(void)
{
  static const char text[] =
      SRC("    kind: json\n    url: http://h/\n"
          "    headers:\n      Authorization: Bearer abc.def\n"
          "      X-Empty: ''\n      x-tab: \"a\\tb\"\n");
  struct config c;
  char err[256] = "";
  CHECK(config_parse(&c, text, strlen(text), "t.yaml", err, sizeof(err)) == 0);
  if (c.nsources == 1 && c.sources[0].nheaders == 3) {
    CHECK_STR(c.sources[0].headers[0], "Authorization: Bearer abc.def");
    CHECK_STR(c.sources[0].headers[1], "X-Empty: ");
    CHECK_STR(c.sources[0].headers[2], "x-tab: a\tb");
  } else {
    CHECK(!"three headers");
  }
  struct config d;
  CHECK(config_parse(&d, text, strlen(text), "t.yaml", err, sizeof(err)) == 0);
  CHECK(config_source_equal(&c.sources[0], &d.sources[0]));
  free(d.sources[0].headers[0]);
  d.sources[0].headers[0] = strdup("Authorization: Bearer other");
  CHECK(!config_source_equal(&c.sources[0], &d.sources[0]));
  config_free(&d);
  config_free(&c);
  /* A websocket source's headers go with its upgrade request. */
  static const char ws[] = SRC(
      "    kind: websocket\n    url: wss://h/feed\n"
      "    headers:\n      Authorization: Bearer t\n"
      "      Sec-WebSocket-Protocol: v1.stream\n      Origin: https://h\n");
  CHECK(config_parse(&c, ws, strlen(ws), "t.yaml", err, sizeof(err)) == 0);
  if (c.nsources == 1 && c.sources[0].nheaders == 3) {
    CHECK_STR(c.sources[0].headers[0], "Authorization: Bearer t");
    CHECK_STR(c.sources[0].headers[1], "Sec-WebSocket-Protocol: v1.stream");
    CHECK_STR(c.sources[0].headers[2], "Origin: https://h");
  } else {
    CHECK(!"three websocket headers");
  }
  config_free(&c);
  ncases++;
}

/* One source with one key varied: the value that comes out. */
static void test_values(void)
{
  static const struct {
    const char *key, *value;
    long long want;
  } cases[] = {
      {"interval", "100ms", 100},
      {"interval", "0.1", 100},
      {"interval", "60", 60000},
      {"interval", "1.5m", 90000},
      {"interval", "1440m", 86400000},
      {"interval", "86400s", 86400000},
      {"interval", "'5s'", 5000},
      {"timeout", "100ms", 100},
      {"timeout", "600s", 600000},
      {"timeout", "10m", 600000},
      {"retries", "0", 0},
      {"retries", "7", 7},
      {"retries", "10", 10},
      {"enabled", "true", 1},
      {"enabled", "True", 1},
      {"enabled", "TRUE", 1},
      {"enabled", "yes", 1},
      {"enabled", "Yes", 1},
      {"enabled", "YES", 1},
      {"enabled", "false", 0},
      {"enabled", "False", 0},
      {"enabled", "FALSE", 0},
      {"enabled", "no", 0},
      {"enabled", "No", 0},
      {"enabled", "NO", 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char text[256];
    struct config c;
    snprintf(text, sizeof(text),
             SRC("    kind: json\n    url: http://h/\n    %s: %s\n"),
             cases[i].key, cases[i].value);
    if (parse_ok(&c, text))
      continue;
    const struct config_source *s = &c.sources[0];
    long long got = cases[i].key[0] == 'i'   ? (long long)s->interval_ms
                    : cases[i].key[0] == 't' ? (long long)s->timeout_ms
                    : cases[i].key[0] == 'r' ? s->retries
                                             : s->enabled;
    if (got != cases[i].want)
      fprintf(stderr, "%s: %s gave %lld\n", cases[i].key, cases[i].value, got);
    CHECK(got == cases[i].want);
    config_free(&c);
  }
  /* listen forms. */
  static const char *const listens[] = {"8080", "0", "0.0.0.0:80",
                                        "'[::1]:8080'", "localhost:65535"};
  for (size_t i = 0; i < sizeof(listens) / sizeof(listens[0]); i++) {
    char text[128];
    struct config c;
    snprintf(text, sizeof(text), "listen: %s\n", listens[i]);
    if (parse_ok(&c, text))
      continue;
    CHECK(c.listen && c.listen[0] != '\'');
    config_free(&c);
  }
  /* Names at the limits. */
  struct config c;
  if (parse_ok(&c, SRC("    kind: feed\n    url: http://h/\n"
                       "  - name: "
                       "0123456789012345678901234567890123456789012345678901"
                       "234567890123\n    kind: feed\n    url: http://h/\n"
                       "  - name: A\n    kind: feed\n    url: http://h/\n")) ==
      0) {
    CHECK(c.nsources == 3);
    CHECK(config_find(&c, "A") == &c.sources[2]);
    config_free(&c);
  }
}

static const struct {
  const char *text, *want;
} errors[] = {
    /* The top level. */
    {"hello\n", "t.yaml:1:1: want a mapping of listen, store and sources, "
                "not a scalar"},
    {"- a\n", "t.yaml:1:1: want a mapping of listen, store and sources, not "
              "a sequence"},
    {"lisen: 80\n",
     "t.yaml:1:1: unknown key 'lisen' (want listen, store or sources)"},
    {"store: a\nstore: b\n", "t.yaml:2:1: duplicate key 'store'"},
    {"? [a]\n: b\n", "t.yaml:1:3: a key must be a scalar, not a sequence"},
    {"listen: [1]\n", "t.yaml:1:9: listen: want a scalar, not a sequence"},
    {"listen:\n", "t.yaml:1:8: listen: missing value"},
    {"listen: ~\n", "t.yaml:1:9: listen: missing value"},
    {"listen: 127.0.0.1:99999\n",
     "t.yaml:1:9: listen: want [ADDR:]PORT such as 127.0.0.1:8080"},
    {"listen: http\n",
     "t.yaml:1:9: listen: want [ADDR:]PORT such as 127.0.0.1:8080"},
    {"store: \"\"\n", "t.yaml:1:8: store: want a non-empty path"},
    {"store: {a: b}\n", "t.yaml:1:8: store: want a scalar, not a mapping"},
    {"store: \"a\\0b\"\n",
     "t.yaml:1:8: store: NUL characters are not allowed"},
    {"sources: {a: 1}\n",
     "t.yaml:1:10: sources: want a sequence, not a mapping"},
    {"sources: x\n", "t.yaml:1:10: sources: want a sequence, not a scalar"},
    /* A source's shape and keys. */
    {"sources:\n  - x\n", "t.yaml:2:5: source #1: want a mapping, not a "
                          "scalar"},
    {"sources:\n  -\n  - []\n",
     "t.yaml:2:4: source #1: want a mapping, not an empty value"},
    {SRC("    kind: feed\n    url: http://h/\n  - [a]\n"),
     "t.yaml:5:5: source #2: want a mapping, not a sequence"},
    {"sources:\n  - kind: json\n    url: http://h/\n",
     "t.yaml:2:5: source #1: missing name"},
    {SRC("    url: http://h/\n"), "t.yaml:2:5: source 'a': missing kind"},
    {SRC("    kind: json\n"), "t.yaml:2:5: source 'a': missing url"},
    {SRC("    kind: json\n    url: http://h/\n    intervall: 5s\n"),
     "t.yaml:5:5: source 'a': unknown key 'intervall' (want name, kind, url, "
     "interval, timeout, retries, enabled, fields or headers)"},
    {"sources:\n  - Kind: json\n    name: b\n",
     "t.yaml:2:5: source 'b': unknown key 'Kind' (want name, kind, url, "
     "interval, timeout, retries, enabled, fields or headers)"},
    {SRC("    kind: json\n    url: http://h/\n    url: http://g/\n"),
     "t.yaml:5:5: source 'a': duplicate key 'url'"},
    /* headers: token names, no control characters; a websocket source's
     * may not set what its handshake does. */
    {SRC("    kind: websocket\n    url: ws://h/\n    headers: {Upgrade: "
         "h2c}\n"),
     "t.yaml:5:15: source 'a': headers: 'Upgrade' is the WebSocket "
     "handshake's own; a websocket source may not set it"},
    {SRC("    kind: websocket\n    url: ws://h/\n"
         "    headers: {sec-websocket-key: x}\n"),
     "t.yaml:5:15: source 'a': headers: 'sec-websocket-key' is the "
     "WebSocket handshake's own; a websocket source may not set it"},
    {SRC("    kind: websocket\n    url: ws://h/\n    headers: {HOST: x}\n"),
     "t.yaml:5:15: source 'a': headers: 'HOST' is the WebSocket handshake's "
     "own; a websocket source may not set it"},
    {SRC("    kind: json\n    url: http://h/\n    headers: [a]\n"),
     "t.yaml:5:14: source 'a': headers: want a mapping, not a sequence"},
    {SRC("    kind: json\n    url: http://h/\n    headers: {'a b': c}\n"),
     "t.yaml:5:15: source 'a': headers: bad header name 'a b'"},
    {SRC("    kind: json\n    url: http://h/\n    headers: {'X:Y': c}\n"),
     "t.yaml:5:15: source 'a': headers: bad header name 'X:Y'"},
    {SRC("    kind: json\n    url: http://h/\n    headers: {X: \"a\\r\\nY: "
         "b\"}\n"),
     "t.yaml:5:18: source 'a': headers: 'X' has control characters in its "
     "value"},
    {SRC("    kind: json\n    ? {x: 1}\n    : 2\n"),
     "t.yaml:4:7: source 'a': a key must be a scalar, not a mapping"},
    {"sources:\n  - {url: http://h/, kind: json, xx: 1}\n",
     "t.yaml:2:34: source #1: unknown key 'xx' (want name, kind, url, "
     "interval, timeout, retries, enabled, fields or headers)"},
    /* Names. */
    {"sources:\n  - name: a b\n",
     "t.yaml:2:11: source #1: name: want 1 to 64 of A-Z a-z 0-9 _ -"},
    {"sources:\n  - name: a.b\n",
     "t.yaml:2:11: source #1: name: want 1 to 64 of A-Z a-z 0-9 _ -"},
    {"sources:\n  - name: ''\n",
     "t.yaml:2:11: source #1: name: want 1 to 64 of A-Z a-z 0-9 _ -"},
    {"sources:\n  - name: "
     "01234567890123456789012345678901234567890123456789012345678901234\n",
     "t.yaml:2:11: source #1: name: want 1 to 64 of A-Z a-z 0-9 _ -"},
    {"sources:\n  - name: café\n",
     "t.yaml:2:11: source #1: name: want 1 to 64 of A-Z a-z 0-9 _ -"},
    {"sources:\n  - name: [a]\n",
     "t.yaml:2:11: source #1: name: want a scalar, not a sequence"},
    {"sources:\n  - name:\n    kind: json\n",
     "t.yaml:2:10: source #1: name: missing value"},
    {SRC("    kind: json\n    url: http://h/\n"
         "  - name: b\n    kind: json\n    url: http://h/\n"
         "  - url: http://h/\n    name: a\n    kind: json\n"),
     "t.yaml:9:11: source 'a': duplicate name (first at line 2)"},
    /* kind and url. */
    {SRC("    kind: rss\n"),
     "t.yaml:3:11: source 'a': kind: want json, feed or websocket"},
    {SRC("    kind: JSON\n"),
     "t.yaml:3:11: source 'a': kind: want json, feed or websocket"},
    {SRC("    kind: [json]\n"),
     "t.yaml:3:11: source 'a': kind: want a scalar, not a sequence"},
    {SRC("    kind: json\n    url: ws://h/\n"),
     "t.yaml:4:10: source 'a': url: want an http or https URL for a json "
     "source"},
    {SRC("    kind: feed\n    url: ftp://h/rss\n"),
     "t.yaml:4:10: source 'a': url: want an http or https URL for a feed "
     "source"},
    {SRC("    kind: websocket\n    url: https://h/s\n"),
     "t.yaml:4:10: source 'a': url: want a ws or wss URL for a websocket "
     "source"},
    {SRC("    kind: json\n    url:\n"),
     "t.yaml:4:9: source 'a': url: missing value"},
    /* interval and timeout. */
    {SRC("    kind: websocket\n    url: ws://h/\n    interval: 5s\n"),
     "t.yaml:5:5: source 'a': interval: not allowed for a websocket source"},
    {SRC("    kind: json\n    url: http://h/\n    interval: soon\n"),
     "t.yaml:5:15: source 'a': interval: want a duration such as 5s"},
    {SRC("    kind: json\n    url: http://h/\n    interval: 1y\n"),
     "t.yaml:5:15: source 'a': interval: want a duration such as 5s"},
    {SRC("    kind: json\n    url: http://h/\n    interval: 25h\n"),
     "t.yaml:5:15: source 'a': interval: 25h is out of range (100ms to 1 "
     "day)"},
    {SRC("    kind: json\n    url: http://h/\n    interval: -1s\n"),
     "t.yaml:5:15: source 'a': interval: want a duration such as 5s"},
    {SRC("    kind: json\n    url: http://h/\n    interval: 99ms\n"),
     "t.yaml:5:15: source 'a': interval: 99ms is out of range (100ms to 1 "
     "day)"},
    {SRC("    kind: feed\n    url: http://h/\n    interval: 1441m\n"),
     "t.yaml:5:15: source 'a': interval: 1441m is out of range (100ms to 1 "
     "day)"},
    {SRC("    kind: feed\n    url: http://h/\n    interval: 0\n"),
     "t.yaml:5:15: source 'a': interval: 0 is out of range (100ms to 1 "
     "day)"},
    {SRC("    kind: json\n    url: http://h/\n    interval: [5s]\n"),
     "t.yaml:5:15: source 'a': interval: want a scalar, not a sequence"},
    {SRC("    kind: json\n    url: http://h/\n    timeout: 601s\n"),
     "t.yaml:5:14: source 'a': timeout: 601s is out of range (100ms to 10 "
     "minutes)"},
    {SRC("    kind: websocket\n    url: ws://h/\n    timeout: 50ms\n"),
     "t.yaml:5:14: source 'a': timeout: 50ms is out of range (100ms to 10 "
     "minutes)"},
    {SRC("    kind: json\n    url: http://h/\n    timeout: 10 s\n"),
     "t.yaml:5:14: source 'a': timeout: want a duration such as 5s"},
    {SRC("    kind: json\n    url: http://h/\n    timeout:\n"),
     "t.yaml:5:13: source 'a': timeout: missing value"},
    /* retries and enabled. */
    {SRC("    kind: json\n    url: http://h/\n    retries: 11\n"),
     "t.yaml:5:14: source 'a': retries: want an integer from 0 to 10"},
    {SRC("    kind: json\n    url: http://h/\n    retries: -1\n"),
     "t.yaml:5:14: source 'a': retries: want an integer from 0 to 10"},
    {SRC("    kind: json\n    url: http://h/\n    retries: 1.5\n"),
     "t.yaml:5:14: source 'a': retries: want an integer from 0 to 10"},
    {SRC("    kind: json\n    url: http://h/\n    retries: two\n"),
     "t.yaml:5:14: source 'a': retries: want an integer from 0 to 10"},
    {SRC("    kind: json\n    url: http://h/\n    retries: 100\n"),
     "t.yaml:5:14: source 'a': retries: want an integer from 0 to 10"},
    {SRC("    kind: json\n    url: http://h/\n    retries: {}\n"),
     "t.yaml:5:14: source 'a': retries: want a scalar, not a mapping"},
    {SRC("    kind: json\n    url: http://h/\n    enabled: maybe\n"),
     "t.yaml:5:14: source 'a': enabled: want true or false"},
    {SRC("    kind: json\n    url: http://h/\n    enabled: on\n"),
     "t.yaml:5:14: source 'a': enabled: want true or false"},
    {SRC("    kind: json\n    url: http://h/\n    enabled: 1\n"),
     "t.yaml:5:14: source 'a': enabled: want true or false"},
    {SRC("    kind: json\n    url: http://h/\n    enabled: []\n"),
     "t.yaml:5:14: source 'a': enabled: want a scalar, not a sequence"},
    /* fields. */
    {SRC("    kind: feed\n    url: http://h/\n    fields: {}\n"),
     "t.yaml:5:5: source 'a': fields: not allowed for a feed source"},
    {SRC("    kind: json\n    url: http://h/\n    fields: [/a]\n"),
     "t.yaml:5:13: source 'a': fields: want a mapping, not a sequence"},
    {SRC("    kind: json\n    url: http://h/\n    fields: /a\n"),
     "t.yaml:5:13: source 'a': fields: want a mapping, not a scalar"},
    {SRC("    kind: json\n    url: http://h/\n    fields:\n"
         "      a b: /x\n"),
     "t.yaml:6:7: source 'a': fields: bad field name 'a b' (want 1 to 64 of "
     "A-Z a-z 0-9 _ . -)"},
    {SRC("    kind: json\n    url: http://h/\n    fields:\n"
         "      \"\": /x\n"),
     "t.yaml:6:7: source 'a': fields: bad field name '' (want 1 to 64 of "
     "A-Z a-z 0-9 _ . -)"},
    {SRC("    kind: json\n    url: http://h/\n    fields:\n"
         "      \"x\\ny\": /x\n"),
     "t.yaml:6:7: source 'a': fields: bad field name 'x?y' (want 1 to 64 "
     "of A-Z a-z 0-9 _ . -)"},
    {SRC("    kind: json\n    url: http://h/\n    fields:\n"
         "      ? [k]\n      : /x\n"),
     "t.yaml:6:9: source 'a': fields: a key must be a scalar, not a "
     "sequence"},
    {SRC("    kind: json\n    url: http://h/\n    fields:\n"
         "      x: /a\n      y: /b\n      x: /c\n"),
     "t.yaml:8:7: source 'a': fields: duplicate field 'x'"},
    {SRC("    kind: json\n    url: http://h/\n    fields:\n      x: y\n"),
     "t.yaml:6:10: source 'a': field 'x': want a JSON pointer ('' or "
     "starting with '/', '~' only as ~0 or ~1)"},
    {SRC("    kind: json\n    url: http://h/\n    fields:\n"
         "      x: /a~2\n"),
     "t.yaml:6:10: source 'a': field 'x': want a JSON pointer ('' or "
     "starting with '/', '~' only as ~0 or ~1)"},
    {SRC("    kind: json\n    url: http://h/\n    fields:\n      x: /a~\n"),
     "t.yaml:6:10: source 'a': field 'x': want a JSON pointer ('' or "
     "starting with '/', '~' only as ~0 or ~1)"},
    {SRC("    kind: json\n    url: http://h/\n    fields:\n      x:\n"),
     "t.yaml:6:9: source 'a': field 'x': missing value"},
    {SRC("    kind: websocket\n    url: ws://h/\n    fields:\n"
         "      x: {p: /a}\n"),
     "t.yaml:6:10: source 'a': field 'x': want a scalar, not a mapping"},
    /* What a hostile file could abuse. */
    {"store: &a x\n", "t.yaml:1:8: anchors and aliases are not allowed"},
    {"store: *a\n", "t.yaml:1:8: anchors and aliases are not allowed"},
    {"sources:\n  - &s {name: a, kind: json, url: 'http://h/'}\n  - *s\n",
     "t.yaml:2:5: anchors and aliases are not allowed"},
    {"a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
     "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
     "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
     "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n",
     "t.yaml:1:4: anchors and aliases are not allowed"},
    {"store: !!str x\n", "t.yaml:1:8: tags are not allowed"},
    {"!foo\nstore: x\n", "t.yaml:1:1: tags are not allowed"},
    {"store: [[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]\n",
     "t.yaml:1:23: nesting deeper than 16 levels"},
    {"store: [[[[[[[[[[[[[[[]]]]]]]]]]]]]]]\n",
     "t.yaml:1:8: store: want a scalar, not a sequence"},
    {"store: a\n---\nstore: b\n", "t.yaml:2:1: more than one YAML document"},
    {"---\n...\n---\n", "t.yaml:3:1: more than one YAML document"},
    /* libyaml's own errors. */
    {"store: [a\n", "t.yaml:2:1: did not find expected ',' or ']' (while "
                    "parsing a flow sequence at 1:8)"},
    {"store: a: b\n",
     "t.yaml:1:9: mapping values are not allowed in this context"},
    {"store: x\n listen: y\n",
     "t.yaml:2:8: mapping values are not allowed in this context"},
    {"sources:\n\t- x\n", "t.yaml:2:1: found character that cannot start "
                          "any token (while scanning for the next token at "
                          "2:1)"},
    {"store: \"x\n", "t.yaml:2:1: found unexpected end of stream (while "
                     "scanning a quoted scalar at 1:8)"},
    {"store: \xff\n", "t.yaml:1:8: invalid leading UTF-8 octet"},
    {"store: x\nlisten: \x01\n",
     "t.yaml:2:9: control characters are not allowed"},
};

/* Malformed URLs: the reason in parentheses is libcurl's
 * (curl_url_strerror), which varies between versions. */
static const struct {
  const char *url, *want;
} bad_urls[] = {
    {"h/x.json", "'h/x.json' is not a valid URL ("},
    {"http://h h/", "'http://h h/' is not a valid URL ("},
    {"http://h:99999/", "'http://h:99999/' is not a valid URL ("},
    {"\"http://h/\\tx\"", "'http://h/?x' is not a valid URL ("},
    {"http://example.com/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa b",
     "'http://example.com/aaaaaaaaaaaaaaaaaaaaa...' is not a valid URL ("},
    {"'http://[::1/'", "'http://[::1/' is not a valid URL ("},
    {"'http://'", "'http://' is not a valid URL ("},
};

static void test_errors(void)
{
  for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
    parse_err(errors[i].text, errors[i].want);
  /* A NUL byte in the file. */
  parse_err_n("store: a\0b\n", 11,
              "t.yaml:1:9: control characters are not allowed");
  for (size_t i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
    char text[256], want[256], err[512] = "";
    struct config c;
    snprintf(text, sizeof(text), SRC("    kind: json\n    url: %s\n"),
             bad_urls[i].url);
    snprintf(want, sizeof(want), "t.yaml:4:10: source 'a': url: %s",
             bad_urls[i].want);
    CHECK(config_parse(&c, text, strlen(text), "t.yaml", err, sizeof(err)) ==
          -1);
    if (strncmp(err, want, strlen(want)) != 0)
      fprintf(stderr, "got \"%s\", want \"%s...)\"\n", err, want);
    CHECK(strncmp(err, want, strlen(want)) == 0);
    CHECK(strlen(err) > strlen(want) + 1 && err[strlen(err) - 1] == ')');
    ncases++;
  }
}

/* Appends to a growing buffer (the generated inputs below). */
static void append(char **buf, size_t *len, const char *s)
{
  size_t n = strlen(s);
  char *b = realloc(*buf, *len + n + 1);
  if (!b)
    abort();
  memcpy(b + *len, s, n + 1);
  *buf = b;
  *len += n;
}

static void test_limits(void)
{
  char line[128];
  char *text = NULL;
  size_t len = 0;
  struct config c;

  /* CONFIG_MAX_FIELDS fields, then one more. */
  append(&text, &len,
         SRC("    kind: json\n    url: http://h/\n"
             "    fields:\n"));
  for (int i = 0; i < CONFIG_MAX_FIELDS; i++) {
    snprintf(line, sizeof(line), "      f%d: /a/%d\n", i, i);
    append(&text, &len, line);
  }
  if (parse_ok(&c, text) == 0) {
    CHECK(c.sources[0].nfields == CONFIG_MAX_FIELDS);
    CHECK_STR(c.sources[0].fields[63].name, "f63");
    CHECK_STR(c.sources[0].fields[63].pointer, "/a/63");
    config_free(&c);
  }
  append(&text, &len, "      f64: /x\n");
  parse_err(text, "t.yaml:70:7: source 'a': fields: more than 64 fields");

  /* CONFIG_MAX_SOURCES sources, then one more. */
  free(text);
  text = NULL;
  len = 0;
  append(&text, &len, "sources:\n");
  for (int i = 0; i < CONFIG_MAX_SOURCES; i++) {
    snprintf(line, sizeof(line),
             "- {name: s%d, kind: feed, url: 'http://h/%d'}\n", i, i);
    append(&text, &len, line);
  }
  if (parse_ok(&c, text) == 0) {
    CHECK(c.nsources == CONFIG_MAX_SOURCES);
    const struct config_source *s = config_find(&c, "s1023");
    CHECK(s == &c.sources[1023]);
    CHECK(s && s->line == 1025);
    CHECK(s && strcmp(s->url, "http://h/1023") == 0);
    config_free(&c);
  }
  append(&text, &len, "- {name: x, kind: feed, url: 'http://h/x'}\n");
  parse_err(text, "t.yaml:1026:3: sources: more than 1024 sources");
  free(text);

  /* 1 MiB is accepted (comments), one byte more is not. */
  size_t mib = 1024 * 1024;
  text = malloc(mib + 1);
  if (!text)
    abort();
  memset(text, '#', mib + 1);
  for (size_t i = 79; i < mib + 1; i += 80)
    text[i] = '\n';
  char err[256];
  CHECK(config_parse(&c, text, mib, "big.yaml", err, sizeof(err)) == 0);
  config_free(&c);
  CHECK(config_parse(&c, text, mib + 1, "big.yaml", err, sizeof(err)) == -1);
  CHECK_STR(err, "big.yaml: larger than 1 MiB");
  free(text);

  /* Deep nesting far beyond the limit is refused at the limit. */
  text = malloc(200001);
  if (!text)
    abort();
  memset(text, '[', 100000);
  memset(text + 100000, ']', 100000);
  text[200000] = '\0';
  parse_err(text, "t.yaml:1:17: nesting deeper than 16 levels");
  free(text);

  /* A short error buffer gets a truncated message; none gets nothing. */
  char tiny[12];
  CHECK(config_parse(&c, "lisen: 1\n", 9, "t.yaml", tiny, sizeof(tiny)) == -1);
  CHECK_STR(tiny, "t.yaml:1:1:");
  CHECK(config_parse(&c, "lisen: 1\n", 9, "t.yaml", NULL, 0) == -1);
  ncases += 3;
}

static void test_load(void)
{
  struct config c;
  char err[512] = "";
  int rc = config_load(&c, "../examples/spate.yaml", err, sizeof(err));
  if (rc)
    fprintf(stderr, "examples/spate.yaml: %s\n", err);
  CHECK(rc == 0);
  CHECK(c.nsources == 4);
  if (rc == 0 && c.nsources == 4) {
    CHECK_STR(c.listen, "127.0.0.1:8080");
    CHECK_STR(c.store, "serve.db");
    const struct config_source *s = config_find(&c, "weather");
    CHECK(s && s->kind == SOURCE_JSON && s->nfields > 0 &&
          strncmp(s->url, "http://127.0.0.1:8089/", 22) == 0);
    s = config_find(&c, "news-rss");
    CHECK(s && s->kind == SOURCE_FEED &&
          strcmp(s->url, "http://127.0.0.1:8089/feed/rss.xml") == 0);
    s = config_find(&c, "news-atom");
    CHECK(s && s->kind == SOURCE_FEED && !s->enabled &&
          strcmp(s->url, "http://127.0.0.1:8089/feed/atom.xml") == 0);
    s = config_find(&c, "stream");
    CHECK(s && s->kind == SOURCE_WEBSOCKET && s->interval_ms == 0 &&
          strcmp(s->url, "ws://127.0.0.1:8089/stream") == 0);
  }
  config_free(&c);

  CHECK(config_load(&c, "no-such-dir/x.yaml", err, sizeof(err)) == -1);
  CHECK_STR(err, "no-such-dir/x.yaml: No such file or directory");
  CHECK(config_load(&c, ".", err, sizeof(err)) == -1);
  CHECK_STR(err, ".: Is a directory");
  /* Errors in a loaded file name the path as given. */
  CHECK(config_load(&c, "test_config.c", err, sizeof(err)) == -1);
  CHECK(strncmp(err, "test_config.c:", 14) == 0);
  ncases += 4;
}

static void test_find(void)
{
  struct config c;
  if (parse_ok(&c, SRC("    kind: feed\n    url: http://h/1\n"
                       "  - {name: b, kind: feed, url: 'http://h/2'}\n")))
    return;
  CHECK(config_find(&c, "a") == &c.sources[0]);
  CHECK(config_find(&c, "b") == &c.sources[1]);
  CHECK(config_find(&c, "c") == NULL);
  CHECK(config_find(&c, "A") == NULL);
  CHECK(config_find(&c, "") == NULL);
  CHECK(config_find(&c, NULL) == NULL);
  CHECK(config_find(NULL, "a") == NULL);
  config_free(&c);
  struct config empty;
  if (parse_ok(&empty, "") == 0)
    CHECK(config_find(&empty, "a") == NULL);
  config_free(&empty);
}

#define BASE                                                                  \
  "    kind: json\n    url: http://h/x\n    interval: 5s\n"                   \
  "    timeout: 2s\n    retries: 3\n    enabled: true\n"                      \
  "    fields:\n      t: /t\n      u: /u\n"

static void test_equal(void)
{
  /* Each variant differs from BASE in one setting. */
  static const char *const differ[] = {
      "    kind: websocket\n    url: ws://h/x\n    timeout: 2s\n"
      "    retries: 3\n    fields:\n      t: /t\n      u: /u\n",
      "    kind: json\n    url: http://h/y\n    interval: 5s\n"
      "    timeout: 2s\n    retries: 3\n    fields:\n      t: /t\n"
      "      u: /u\n",
      "    kind: json\n    url: http://h/x\n    interval: 6s\n"
      "    timeout: 2s\n    retries: 3\n    fields:\n      t: /t\n"
      "      u: /u\n",
      "    kind: json\n    url: http://h/x\n    interval: 5s\n"
      "    timeout: 3s\n    retries: 3\n    fields:\n      t: /t\n"
      "      u: /u\n",
      "    kind: json\n    url: http://h/x\n    interval: 5s\n"
      "    timeout: 2s\n    fields:\n      t: /t\n      u: /u\n",
      "    kind: json\n    url: http://h/x\n    interval: 5s\n"
      "    timeout: 2s\n    retries: 3\n    enabled: no\n    fields:\n"
      "      t: /t\n      u: /u\n",
      "    kind: json\n    url: http://h/x\n    interval: 5s\n"
      "    timeout: 2s\n    retries: 3\n    fields:\n      t: /t\n",
      "    kind: json\n    url: http://h/x\n    interval: 5s\n"
      "    timeout: 2s\n    retries: 3\n    fields:\n      t: /t\n"
      "      v: /u\n",
      "    kind: json\n    url: http://h/x\n    interval: 5s\n"
      "    timeout: 2s\n    retries: 3\n    fields:\n      t: /t\n"
      "      u: /v\n",
      "    kind: json\n    url: http://h/x\n    interval: 5s\n"
      "    timeout: 2s\n    retries: 3\n    fields:\n      u: /u\n"
      "      t: /t\n",
      "    kind: json\n    url: http://h/x\n    interval: 5s\n"
      "    timeout: 2s\n    retries: 3\n",
  };
  struct config base, same, other;
  if (parse_ok(&base, SRC(BASE)))
    return;
  /* The same settings, written differently and elsewhere in the file. */
  if (parse_ok(&same, "# moved down\n\nsources:\n"
                      "  - {name: z, kind: feed, url: 'http://h/'}\n"
                      "  - fields: {t: /t, u: /u}\n"
                      "    retries: 3\n    timeout: 2000ms\n"
                      "    interval: 5\n    url: http://h/x\n"
                      "    kind: json\n    name: a\n") == 0) {
    const struct config_source *s = config_find(&same, "a");
    CHECK(s && s->line != base.sources[0].line);
    CHECK(s && config_source_equal(&base.sources[0], s));
    CHECK(s && config_source_equal(s, &base.sources[0]));
    CHECK(!config_source_equal(&base.sources[0], &same.sources[0]));
    config_free(&same);
  }
  CHECK(config_source_equal(&base.sources[0], &base.sources[0]));
  CHECK(!config_source_equal(&base.sources[0], NULL));
  CHECK(!config_source_equal(NULL, &base.sources[0]));
  for (size_t i = 0; i < sizeof(differ) / sizeof(differ[0]); i++) {
    char text[512];
    snprintf(text, sizeof(text), SRC("%s"), differ[i]);
    if (parse_ok(&other, text))
      continue;
    if (config_source_equal(&base.sources[0], &other.sources[0]))
      fprintf(stderr, "equal to BASE:\n%s", differ[i]);
    CHECK(!config_source_equal(&base.sources[0], &other.sources[0]));
    CHECK(!config_source_equal(&other.sources[0], &base.sources[0]));
    config_free(&other);
  }
  /* The name counts too. */
  if (parse_ok(&other, "sources:\n  - name: b\n" BASE) == 0) {
    CHECK(!config_source_equal(&base.sources[0], &other.sources[0]));
    config_free(&other);
  }
  config_free(&base);
}

int main(void)
{
  test_headers();
  test_empty();
  test_defaults();
  test_every_key();
  test_values();
  test_errors();
  test_limits();
  test_load();
  test_find();
  test_equal();
  fprintf(stderr, "config: %d cases\n", ncases);
  return check_report("test_config");
}
