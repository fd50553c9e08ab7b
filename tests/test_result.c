/* Tests for result.c: allocation, and result_to_json read back with
 * jansson. */
#include "buf.h"
#include "check.h"
#include "result.h"
#include "sink.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char *dup_str(const char *s)
{
  return s ? strdup(s) : NULL;
}

/* Serialises r and parses it back; *text receives the raw line (owned). */
static json_t *roundtrip(const struct result *r, char **text)
{
  struct buf b = {0};
  json_error_t jerr;
  CHECK(result_to_json(r, &b) == 0);
  CHECK(b.len > 0 && b.data[b.len - 1] == '\n');
  /* Exactly one line: the '\n' ends it and appears nowhere else. */
  CHECK(b.data && memchr(b.data, '\n', b.len) == b.data + b.len - 1);
  json_t *j = json_loads(b.data, 0, &jerr);
  if (!j)
    fprintf(stderr, "json error: %s in %s\n", jerr.text, b.data);
  CHECK(j != NULL);
  *text = buf_steal(&b);
  return j;
}

static const char *jstr(json_t *o, const char *key)
{
  return json_string_value(json_object_get(o, key));
}

static void test_new_free(void)
{
  const char in[] = "https://example.com/a\nrest";
  struct result *r = result_new(in, 21);
  CHECK(r != NULL);
  CHECK_STR(r->url, "https://example.com/a");
  CHECK(r->status == 0 && r->error == NULL && r->final_url == NULL);
  CHECK(r->ttfb_ms < 0);
  CHECK(r->nfields == 0 && r->fields == NULL && r->hash[0] == '\0');
  result_free(r);
  result_free(NULL);
}

static void test_columns(void)
{
  static const char *const want[] = {
      "url",          "final_url",  "status",     "error",
      "attempts",     "elapsed_ms", "ttfb_ms",    "bytes",
      "content_type", "title",      "links",      "canonical",
      "meta_robots",  "hash",       "fetched_at", "fields"};
  int n = 0;
  while (result_columns[n])
    n++;
  CHECK(n == RESULT_NCOLUMNS);
  CHECK(n == (int)(sizeof(want) / sizeof(want[0])));
  for (int i = 0; i < n && i < RESULT_NCOLUMNS; i++)
    CHECK_STR(result_columns[i], want[i]);
}

static struct result *full_result(void)
{
  const char *url = "https://example.com/x?q=1";
  struct result *r = result_new(url, strlen(url));
  r->final_url = dup_str("https://example.com/y");
  r->status = 404;
  r->error = ERR_HTTP;
  r->attempts = 3;
  r->elapsed_ms = 1234.56;
  r->ttfb_ms = 7;
  r->bytes = INT64_C(6600000000);
  r->content_type = dup_str("text/html; charset=utf-8");
  r->title = dup_str("Caf\xc3\xa9 \"quoted\" \\ tab\t");
  r->nlinks = 2;
  r->canonical = dup_str("https://example.com/c");
  r->meta_robots = dup_str("noindex, nofollow");
  memset(r->hash, 'a', 64);
  r->hash[64] = '\0';
  r->fetched_at_us = INT64_C(1795449784123456);
  r->nfields = 3;
  r->fields = calloc(3, sizeof(*r->fields));
  r->fields[0].name = "price";
  r->fields[0].json = dup_str("42.5");
  r->fields[1].name = "obj";
  r->fields[1].json = dup_str("{\"a\":[1,2,{\"b\":null}],\"c\":\"d\"}");
  r->fields[2].name = "missing";
  r->fields[2].json = dup_str("null");
  return r;
}

static void test_full(void)
{
  struct result *r = full_result();
  char *text;
  json_t *j = roundtrip(r, &text);
  CHECK(json_object_size(j) == RESULT_NCOLUMNS);
  CHECK_STR(jstr(j, "url"), "https://example.com/x?q=1");
  CHECK_STR(jstr(j, "final_url"), "https://example.com/y");
  CHECK(json_integer_value(json_object_get(j, "status")) == 404);
  CHECK_STR(jstr(j, "error"), "http");
  CHECK(json_integer_value(json_object_get(j, "attempts")) == 3);
  CHECK(strstr(text, "\"elapsed_ms\":1234.6,") != NULL);
  CHECK(strstr(text, "\"ttfb_ms\":7.0,") != NULL);
  CHECK(json_real_value(json_object_get(j, "elapsed_ms")) == 1234.6);
  CHECK(json_real_value(json_object_get(j, "ttfb_ms")) == 7.0);
  CHECK(json_integer_value(json_object_get(j, "bytes")) ==
        INT64_C(6600000000));
  CHECK_STR(jstr(j, "content_type"), "text/html; charset=utf-8");
  CHECK_STR(jstr(j, "title"), "Caf\xc3\xa9 \"quoted\" \\ tab\t");
  CHECK(json_integer_value(json_object_get(j, "links")) == 2);
  CHECK_STR(jstr(j, "canonical"), "https://example.com/c");
  CHECK_STR(jstr(j, "meta_robots"), "noindex, nofollow");
  CHECK_STR(jstr(j, "hash"), r->hash);
  CHECK_STR(jstr(j, "fetched_at"), "2026-11-23T16:03:04.123Z");

  /* fields: values inserted verbatim, in order. */
  json_t *f = json_object_get(j, "fields");
  CHECK(json_is_object(f) && json_object_size(f) == 3);
  CHECK(json_real_value(json_object_get(f, "price")) == 42.5);
  CHECK(json_is_null(json_object_get(f, "missing")));
  CHECK(strstr(text, "\"fields\":{\"price\":42.5,\"obj\":{\"a\":[1,2,{\"b\":"
                     "null}],\"c\":\"d\"},\"missing\":null}}\n") != NULL);

  /* Keys in the documented order. */
  const char *prev = text;
  for (int i = 0; result_columns[i]; i++) {
    char key[32];
    snprintf(key, sizeof(key), "\"%s\":", result_columns[i]);
    const char *at = strstr(text, key);
    CHECK(at != NULL && at >= prev);
    if (at)
      prev = at;
  }
  CHECK(strncmp(text, "{\"url\":", 7) == 0);
  json_decref(j);
  free(text);
  result_free(r);
}

static void test_unset(void)
{
  struct result *r = result_new("u", 1);
  char *text;
  json_t *j = roundtrip(r, &text);
  CHECK(json_object_size(j) == RESULT_NCOLUMNS);
  CHECK_STR(jstr(j, "url"), "u");
  CHECK(json_is_null(json_object_get(j, "final_url")));
  CHECK(json_integer_value(json_object_get(j, "status")) == 0);
  CHECK(json_is_null(json_object_get(j, "error")));
  CHECK(json_integer_value(json_object_get(j, "attempts")) == 0);
  CHECK(strstr(text, "\"elapsed_ms\":0.0,") != NULL);
  CHECK(json_is_null(json_object_get(j, "ttfb_ms")));
  CHECK(json_integer_value(json_object_get(j, "bytes")) == 0);
  CHECK(json_is_null(json_object_get(j, "content_type")));
  CHECK(json_is_null(json_object_get(j, "title")));
  CHECK(json_is_integer(json_object_get(j, "links")) &&
        json_integer_value(json_object_get(j, "links")) == 0);
  CHECK(json_is_null(json_object_get(j, "canonical")));
  CHECK(json_is_null(json_object_get(j, "meta_robots")));
  CHECK(json_is_null(json_object_get(j, "hash")));
  CHECK_STR(jstr(j, "fetched_at"), "1970-01-01T00:00:00.000Z");
  CHECK(json_is_object(json_object_get(j, "fields")) &&
        json_object_size(json_object_get(j, "fields")) == 0);
  CHECK(strstr(text, "\"fields\":{}}\n") != NULL);
  json_decref(j);
  free(text);
  result_free(r);
}

static void test_bad_utf8(void)
{
  struct result *r = result_new("u", 1);
  /* A lone continuation byte, an overlong '/', a truncated sequence at the
   * end, C0 controls and DEL. */
  r->title = dup_str("a\x80"
                     "b\xc0\xaf"
                     "c\x01\x1f\x7f\n\xe2\x82");
  r->content_type = dup_str("\xff");
  char *text;
  json_t *j = roundtrip(r, &text);
  for (const char *p = text; *p; p++)
    CHECK((unsigned char)*p >= 0x20 || *p == '\n');
  CHECK(strchr(text, '\n') == text + strlen(text) - 1);
  CHECK_STR(jstr(j, "title"), "a\xef\xbf\xbd"
                              "b\xef\xbf\xbd\xef\xbf\xbd"
                              "c\x01\x1f\x7f\n\xef\xbf\xbd\xef\xbf\xbd");
  CHECK_STR(jstr(j, "content_type"), "\xef\xbf\xbd");
  json_decref(j);
  free(text);
  result_free(r);
}

/* Every byte that needs escaping, at every offset of a string longer than
 * the 8-byte steps that result.c scans in, comes back as it went in. */
static void test_escape_positions(void)
{
  static const char *const specials[] = {"\"", "\\",   "\x01",    "\x1f",
                                         "\n", "\x7f", "\xc3\xa9"};
  int bad = 0;
  for (size_t k = 0; k < sizeof(specials) / sizeof(specials[0]); k++)
    for (int at = 0; at < 21; at++) {
      char title[64];
      snprintf(title, sizeof(title), "%.*s%s%.*s", at, "abcdefghijklmnopqrstu",
               specials[k], 20 - at, "ABCDEFGHIJKLMNOPQRSTU");
      struct result *r = result_new("u", 1);
      r->title = dup_str(title);
      char *text;
      json_t *j = roundtrip(r, &text);
      const char *got = jstr(j, "title");
      if (!got || strcmp(got, title) != 0)
        bad++;
      json_decref(j);
      free(text);
      result_free(r);
    }
  CHECK(bad == 0);
}

static void test_links_array(void)
{
  static const char links[] = "https://a.example/\0https://b.example/\"q\"\0"
                              "https://c.example/\xff";
  struct result *r = result_new("u", 1);
  r->nlinks = 3;
  r->links = malloc(sizeof(links));
  memcpy(r->links, links, sizeof(links));
  char *text;
  json_t *j = roundtrip(r, &text);
  json_t *a = json_object_get(j, "links");
  CHECK(json_is_array(a) && json_array_size(a) == 3);
  CHECK_STR(json_string_value(json_array_get(a, 0)), "https://a.example/");
  CHECK_STR(json_string_value(json_array_get(a, 1)),
            "https://b.example/\"q\"");
  CHECK_STR(json_string_value(json_array_get(a, 2)),
            "https://c.example/\xef\xbf\xbd");
  json_decref(j);
  free(text);

  /* --links with a page that has none: an empty array, not 0. */
  free(r->links);
  r->links = calloc(1, 1);
  r->nlinks = 0;
  j = roundtrip(r, &text);
  a = json_object_get(j, "links");
  CHECK(json_is_array(a) && json_array_size(a) == 0);
  json_decref(j);
  free(text);
  result_free(r);
}

static void test_times(void)
{
  static const struct {
    int64_t us;
    const char *want;
  } cases[] = {
      {0, "1970-01-01T00:00:00.000Z"},
      {INT64_C(1795449784123456), "2026-11-23T16:03:04.123Z"},
      {-1, "1969-12-31T23:59:59.999Z"},
      {INT64_C(951782400000999), "2000-02-29T00:00:00.000Z"},
      {INT64_C(1709164800500000), "2024-02-29T00:00:00.500Z"},
      {INT64_C(253402300799999999), "9999-12-31T23:59:59.999Z"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct result *r = result_new("u", 1);
    r->fetched_at_us = cases[i].us;
    char *text;
    json_t *j = roundtrip(r, &text);
    CHECK_STR(jstr(j, "fetched_at"), cases[i].want);
    json_decref(j);
    free(text);
    result_free(r);
  }
}

static void test_numbers(void)
{
  static const struct {
    double ms;
    const char *want;
  } cases[] = {
      {0.04, "\"elapsed_ms\":0.0,"},  {0.06, "\"elapsed_ms\":0.1,"},
      {9.96, "\"elapsed_ms\":10.0,"}, {30000, "\"elapsed_ms\":30000.0,"},
      {-2.5, "\"elapsed_ms\":-2.5,"}, {1.0 / 0.0, "\"elapsed_ms\":null,"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct result *r = result_new("u", 1);
    r->elapsed_ms = cases[i].ms;
    r->status = -7;
    r->bytes = INT64_MIN;
    char *text;
    json_t *j = roundtrip(r, &text);
    CHECK(strstr(text, cases[i].want) != NULL);
    CHECK(json_integer_value(json_object_get(j, "status")) == -7);
    CHECK(json_integer_value(json_object_get(j, "bytes")) == INT64_MIN);
    json_decref(j);
    free(text);
    result_free(r);
  }
}

/* result_to_json appends: a second record follows the first intact. */
static void test_appends(void)
{
  struct buf b = {0};
  struct result *r = full_result();
  CHECK(buf_puts(&b, "prefix\n") == 0);
  CHECK(result_to_json(r, &b) == 0);
  size_t one = b.len - 7;
  CHECK(result_to_json(r, &b) == 0);
  CHECK(b.len == 7 + 2 * one);
  CHECK(memcmp(b.data + 7, b.data + 7 + one, one) == 0);
  CHECK(strncmp(b.data, "prefix\n{\"url\":", 14) == 0);
  buf_free(&b);
  result_free(r);
}

int main(void)
{
  test_new_free();
  test_columns();
  test_full();
  test_unset();
  test_bad_utf8();
  test_escape_positions();
  test_links_array();
  test_times();
  test_numbers();
  test_appends();
  return check_report("test_result");
}
