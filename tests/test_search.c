/* Tests of `spate search` over a small crawl store, and of the visible-text
 * pass. */
#include "check.h"

#include "buf.h"
#include "result.h"
#include "search.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/spate-test-search-XXXXXX";
static char db_path[300];

#define FILLER 40

struct page {
  const char *url;
  const char *title;
  const char *text;
};

/* The pages the queries below are about; FILLER pages of common words
 * surround them. */
static const struct page pages[] = {
    {"http://s.test/planted", "An ordinary page",
     "some common words and then quetzalcoatlus once, among more words"},
    {"http://s.test/harbour-title", "Harbour guide",
     "common words about ships and the sea and more common words"},
    {"http://s.test/harbour-body", "Sea guide",
     "common words about ships and the harbour and more common words"},
    {"http://s.test/fox", "Fox one", "the red fox jumps over the wall"},
    {"http://s.test/fox-reversed", "Fox two", "fox red the wall over"},
    {"http://s.test/quotes", "Citations",
     "il a dit \xC2\xAB bonjour \xC2\xBB puis marmotte \x1b[31m rouge"},
};
#define NPAGES (sizeof(pages) / sizeof(pages[0]))

static void build_store(void)
{
  static const char *const words[] = {"common", "words", "page",  "site",
                                      "text",   "more",  "about", "and"};
  const char *keys[FILLER + NPAGES];
  char fkeys[FILLER][64], err[256];
  struct store *s;
  struct store_item *items;
  size_t n;

  snprintf(db_path, sizeof(db_path), "%s/site.db", tmpdir);
  if (store_open(&s, db_path, err)) {
    fprintf(stderr, "store_open: %s\n", err);
    CHECK(0);
    return;
  }
  for (size_t i = 0; i < NPAGES; i++)
    keys[i] = pages[i].url;
  for (int i = 0; i < FILLER; i++) {
    snprintf(fkeys[i], sizeof(fkeys[i]), "http://s.test/filler/%d", i);
    keys[NPAGES + (size_t)i] = fkeys[i];
  }
  CHECK(store_add_urls(s, keys, NPAGES + FILLER, 0, 0, NULL) == 0);
  CHECK(store_take(s, 1000, &items, &n) == 0);
  CHECK(n == NPAGES + FILLER);
  CHECK(store_begin(s) == 0);
  for (size_t k = 0; k < n; k++) {
    struct buf text = {0};
    const char *title = NULL, *body;
    char ftitle[64];
    size_t i = 0;
    while (i < NPAGES && strcmp(items[k].url, pages[i].url) != 0)
      i++;
    if (i < NPAGES) {
      title = pages[i].title;
      body = pages[i].text;
    } else {
      snprintf(ftitle, sizeof(ftitle), "Filler %zu", k);
      title = ftitle;
      for (int w = 0; w < 60; w++)
        buf_printf(&text, "%s ", words[(k * 7 + (size_t)w * 3) % 8]);
      body = text.data;
    }
    struct result *r = result_new(items[k].url, strlen(items[k].url));
    r->status = 200;
    r->title = strdup(title);
    r->fetched_at_us = INT64_C(1795449784123000);
    CHECK(store_put_page(s, items[k].id, r, 0, body, strlen(body)) == 0);
    result_free(r);
    buf_free(&text);
  }
  CHECK(store_commit(s) == 0);
  store_items_free(items, n);
  store_close(s);
}

/* Runs a query into memory; returns search_query's value. */
static int run(const char *query, int limit, int json, char **out, char *err)
{
  size_t len;
  FILE *f = open_memstream(out, &len);
  int rc = search_query(db_path, query, limit, json, 0, f, err);
  fclose(f);
  return rc;
}

/* The urls of a JSON answer, in order, checking each line's shape. */
static int json_urls(const char *text, const char **urls, int max,
                     char snippets[][256])
{
  int n = 0;
  double last = 1e300;
  const char *p = text;
  while (*p && n < max) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    json_error_t jerr;
    json_t *o = json_loadb(p, len, 0, &jerr);
    CHECK(o != NULL && json_is_object(o));
    if (!o)
      return -1;
    CHECK(json_object_size(o) == 5);
    CHECK(json_integer_value(json_object_get(o, "rank")) == n + 1);
    CHECK(json_is_string(json_object_get(o, "title")));
    CHECK(json_is_string(json_object_get(o, "snippet")));
    json_t *score = json_object_get(o, "score");
    CHECK(json_is_number(score));
    CHECK(json_number_value(score) > 0);
    CHECK(json_number_value(score) <= last);
    last = json_number_value(score);
    const char *u = json_string_value(json_object_get(o, "url"));
    urls[n] = NULL;
    for (size_t i = 0; u && i < NPAGES; i++)
      if (strcmp(u, pages[i].url) == 0)
        urls[n] = pages[i].url;
    if (!urls[n])
      urls[n] = "(filler)";
    if (snippets)
      snprintf(snippets[n], 256, "%s",
               json_string_value(json_object_get(o, "snippet")));
    n++;
    json_decref(o);
    p += len + (nl != NULL);
  }
  return n;
}

static void test_queries(void)
{
  char err[256], snippets[10][256];
  const char *urls[50];
  char *out;

  /* The page holding the planted word comes first, alone. */
  CHECK(run("quetzalcoatlus", 10, 1, &out, err) == 1);
  CHECK(json_urls(out, urls, 50, snippets) == 1);
  CHECK_STR(urls[0], "http://s.test/planted");
  CHECK(strstr(snippets[0], "\xC2\xABquetzalcoatlus\xC2\xBB") != NULL);
  free(out);

  /* Prefix. */
  CHECK(run("quetzal*", 10, 1, &out, err) == 1);
  CHECK(json_urls(out, urls, 50, NULL) == 1);
  CHECK_STR(urls[0], "http://s.test/planted");
  free(out);

  /* Diacritics are folded both ways. */
  CHECK(run("quétzalcoatlus", 10, 1, &out, err) == 1);
  free(out);

  /* A title match outranks the same word in the body. */
  CHECK(run("harbour", 10, 1, &out, err) == 2);
  CHECK(json_urls(out, urls, 50, NULL) == 2);
  CHECK_STR(urls[0], "http://s.test/harbour-title");
  CHECK_STR(urls[1], "http://s.test/harbour-body");
  free(out);
  CHECK(run("title:harbour", 10, 1, &out, err) == 1);
  CHECK(json_urls(out, urls, 50, NULL) == 1);
  CHECK_STR(urls[0], "http://s.test/harbour-title");
  free(out);
  CHECK(run("body:harbour", 10, 1, &out, err) == 1);
  CHECK(json_urls(out, urls, 50, NULL) == 1);
  CHECK_STR(urls[0], "http://s.test/harbour-body");
  free(out);

  /* Phrases, NOT, OR, NEAR. */
  CHECK(run("\"red fox\"", 10, 1, &out, err) == 1);
  CHECK(json_urls(out, urls, 50, snippets) == 1);
  CHECK_STR(urls[0], "http://s.test/fox");
  CHECK(strstr(snippets[0], "\xC2\xABred\xC2\xBB \xC2\xAB"
                            "fox\xC2\xBB") ||
        strstr(snippets[0], "\xC2\xABred fox\xC2\xBB"));
  free(out);
  CHECK(run("fox NOT jumps", 10, 1, &out, err) == 1);
  CHECK(json_urls(out, urls, 50, NULL) == 1);
  CHECK_STR(urls[0], "http://s.test/fox-reversed");
  free(out);
  CHECK(run("fox AND red", 10, 1, &out, err) == 2);
  free(out);
  CHECK(run("jumps OR quetzalcoatlus", 10, 1, &out, err) == 2);
  free(out);
  CHECK(run("NEAR(red jumps, 2)", 10, 1, &out, err) == 1);
  free(out);
  CHECK(run("NEAR(fox wall, 1)", 10, 1, &out, err) == 0);
  CHECK(out != NULL && out[0] == '\0');
  free(out);

  /* limit, and many results ordered by score. */
  CHECK(run("common", 5, 1, &out, err) == 5);
  CHECK(json_urls(out, urls, 50, NULL) == 5);
  free(out);
  CHECK(run("common", 0, 1, &out, err) == 10);
  free(out);

  /* Text output outside a terminal: « » markers, and the page's own « »
   * shown as ‹ ›; no escape sequence from the page gets through. */
  CHECK(run("marmotte", 10, 0, &out, err) == 1);
  CHECK(strstr(out, "1. Citations\n   http://s.test/quotes\n   ") == out);
  CHECK(strstr(out, "\xC2\xABmarmotte\xC2\xBB") != NULL);
  CHECK(strstr(out, "\xE2\x80\xB9 bonjour \xE2\x80\xBA") != NULL);
  CHECK(strchr(out, '\x1b') == NULL);
  free(out);
  CHECK(run("marmotte", 10, 1, &out, err) == 1);
  CHECK(strstr(out, "\\u001b") == NULL && strchr(out, '\x1b') == NULL);
  free(out);
  CHECK(run("fox", 10, 0, &out, err) == 2);
  CHECK(strstr(out, "\n\n2. ") != NULL);
  free(out);
}

/* On a terminal the matches are bold. */
static void test_tty(void)
{
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || grantpt(master) || unlockpt(master)) {
    fprintf(stderr, "test_search: no pty, tty output not tested\n");
    if (master >= 0)
      close(master);
    return;
  }
  int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
  FILE *f = slave >= 0 ? fdopen(slave, "w") : NULL;
  if (!f) {
    fprintf(stderr, "test_search: no pty, tty output not tested\n");
    if (slave >= 0)
      close(slave);
    close(master);
    return;
  }
  char err[256], got[4096];
  CHECK(search_query(db_path, "marmotte", 10, 0, 0, f, err) == 1);
  fclose(f);
  size_t len = 0;
  struct pollfd pfd = {.fd = master, .events = POLLIN};
  while (len < sizeof(got) - 1 && poll(&pfd, 1, 200) > 0) {
    ssize_t k = read(master, got + len, sizeof(got) - 1 - len);
    if (k <= 0)
      break;
    len += (size_t)k;
  }
  got[len] = '\0';
  close(master);
  CHECK(strstr(got, SEARCH_TTY_OPEN "marmotte" SEARCH_TTY_CLOSE) != NULL);
  CHECK(strstr(got, SEARCH_TTY_OPEN "1. Citations" SEARCH_TTY_CLOSE) != NULL);
  CHECK(strstr(got, "\x1b[31m") == NULL);
  /* On a terminal the page's own guillemets stay. */
  CHECK(strstr(got, "\xC2\xAB bonjour \xC2\xBB") != NULL);
}

static void test_errors(void)
{
  char err[256], path[300];
  char *out;
  static const char *const bad[] = {
      "\"unterminated",   "AND",   "fox AND", "(fox",
      "nosuchcolumn:fox", "NEAR(", "a\nOR"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    err[0] = '\0';
    CHECK(run(bad[i], 10, 1, &out, err) == -EINVAL);
    CHECK(strncmp(err, "bad query: ", 11) == 0);
    CHECK(strchr(err, '\n') == NULL);
    CHECK(out == NULL || out[0] == '\0');
    free(out);
  }
  CHECK(run("", 10, 0, &out, err) == -EINVAL);
  CHECK_STR(err, "empty query");
  free(out);
  CHECK(run("  \t", 10, 0, &out, err) == -EINVAL);
  free(out);

  FILE *f = fopen("/dev/null", "w");
  snprintf(path, sizeof(path), "%s/missing.db", tmpdir);
  CHECK(search_query(path, "x", 10, 0, 0, f, err) == -ENOENT);
  CHECK(strstr(err, path) != NULL);
  snprintf(path, sizeof(path), "%s/other.db", tmpdir);
  sqlite3 *db;
  CHECK(sqlite3_open(path, &db) == SQLITE_OK);
  CHECK(sqlite3_exec(db, "CREATE TABLE results(x)", NULL, NULL, NULL) ==
        SQLITE_OK);
  sqlite3_close(db);
  CHECK(search_query(path, "x", 10, 0, 0, f, err) == -EINVAL);
  CHECK(strstr(err, "not a spate crawl store") != NULL);
  snprintf(path, sizeof(path), "%s/garbage.db", tmpdir);
  FILE *g = fopen(path, "w");
  fputs("this is not a database, but long enough to have a header..........."
        "..................................................................",
        g);
  fclose(g);
  CHECK(search_query(path, "x", 10, 0, 0, f, err) == -EINVAL);
  fclose(f);
}

/* ---- visible text ------------------------------------------------------- */

static char *text_of(const char *html, size_t len, size_t max)
{
  struct buf b = {0};
  CHECK(search_text_from_html(html, len, max, &b) == 0);
  return b.data ? b.data : strdup("");
}

#define TEXT_IS(html, want)                                                   \
  do {                                                                        \
    char *t_ = text_of(html, sizeof(html) - 1, 0);                            \
    CHECK_STR(t_, want);                                                      \
    free(t_);                                                                 \
  } while (0)

static void test_text(void)
{
  TEXT_IS("<!DOCTYPE html><html><head><title>T</title><style>p{color:red}"
          "</style><script>var x = '<p>hidden</p>';</script></head><body>"
          "<p>Hello &amp; <b>wo</b>rld</p><!-- not <p>shown</p> -->"
          "<p>Second&nbsp;para</p></body></html>",
          "Hello & world Second para");
  TEXT_IS("&lt;tag&gt; &#65;&#x42;&#X43; &eacute;t&eacute; &unknown; &copy "
          "&amp &#146;s &#0; &#x110000;",
          "<tag> ABC \xC3\xA9t\xC3\xA9 &unknown; \xC2\xA9 & "
          "\xE2\x80\x99s \xEF\xBF\xBD \xEF\xBF\xBD");
  TEXT_IS("<SCRIPT type=x>a</b></ScRiPt >after", "after");
  TEXT_IS("<script>never closed <p>x</p>", "");
  TEXT_IS("before<style>a{}</style >after", "before after");
  TEXT_IS("a<!-- b", "a");
  TEXT_IS("a<!-->b", "ab");
  TEXT_IS("a<!--->b<!-- x --!>c", "abc");
  TEXT_IS("a<div class='x", "a");
  TEXT_IS("<a title='x>y' href=\"a>b\">link</a> text", "link text");
  TEXT_IS("<a title=x>y>z</a>", "y>z");
  TEXT_IS("<textarea>a &lt; <b>b</b></textarea>c", "a < <b>b</b> c");
  TEXT_IS("<xmp>a &lt; <b></xmp>", "a &lt; <b>");
  TEXT_IS("<p>x<plaintext><b>y</b>", "x <b>y</b>");
  TEXT_IS("a < b and x<3 and <> and </> end", "a < b and x<3 and <> and end");
  TEXT_IS("<p>one</p><p>two</p><br>three<li>four", "one two three four");
  TEXT_IS("w<span>or</span>d <em>e</em><i>m</i>", "word em");
  TEXT_IS("  a \n\t b  \r\n", "a b");
  TEXT_IS("a\x01"
          "b\x7f"
          "c",
          "a b c");
  TEXT_IS("a\0b", "a b");
  TEXT_IS("x</ weird>y<?php echo ?>z<!bogus>w", "xyzw");
  TEXT_IS("<title>only title</title>", "");
  TEXT_IS("<iframe><p>fallback</p></iframe>v", "v");
  TEXT_IS("soft&shy;hyphen", "softhyphen");
  TEXT_IS("&", "&");
  TEXT_IS("<", "<");
  TEXT_IS("&#", "&#");
  TEXT_IS("&#x;", "&#x;");

  /* The cap, on a UTF-8 boundary. */
  char *t = text_of("\xC3\xA9\xC3\xA9\xC3\xA9", 6, 5);
  CHECK_STR(t, "\xC3\xA9\xC3\xA9");
  free(t);
  t = text_of("ab cd ef", 8, 3);
  CHECK_STR(t, "ab ");
  free(t);

  /* Appends: what the buffer held stays, trimming is of the new text. */
  struct buf b = {0};
  buf_puts(&b, "head ");
  CHECK(search_text_from_html("  <p> x </p> ", 13, 0, &b) == 0);
  CHECK_STR(b.data, "head x");
  buf_free(&b);
  CHECK(search_text_from_html(NULL, 0, 0, &b) == 0);
  CHECK(b.len == 0);
}

/* search_text_span against its definition, byte by byte, on random
 * strings from an alphabet of the bytes that matter, at every length
 * around the 16-byte blocks and every offset of the start. */
static int span_plain(unsigned char c, int lt, int amp)
{
  return c > 0x20 && c != 0x7F && !(lt && c == '<') && !(amp && c == '&');
}

static void test_text_span(void)
{
  static const char alphabet[] = {
      'a', 'b',  ' ', ' ',        '\n',       '\t',       '<',    '&',
      0,   0x7F, 'z', (char)0xC3, (char)0xA9, (char)0xFF, '\x1f', '!'};
  char s[200];
  unsigned seed = 12345;
  long bad = 0;
  for (int round = 0; round < 20000; round++) {
    size_t n = (size_t)(round % 70);
    size_t off = (size_t)(round / 70 % 16);
    /* Mostly plain bytes, so that long spans are common too. */
    for (size_t i = 0; i < n; i++) {
      seed = seed * 1103515245u + 12345u;
      unsigned r = seed >> 16;
      s[off + i] = r % 4 ? (char)('a' + r % 26) : alphabet[r / 4 % 16];
    }
    for (int lt = 0; lt <= 1; lt++)
      for (int amp = 0; amp <= 1; amp++) {
        const char *p = s + off;
        size_t want = 0;
        while (want < n) {
          unsigned char c = (unsigned char)p[want];
          if (span_plain(c, lt, amp) ||
              (c == ' ' && want + 1 < n &&
               span_plain((unsigned char)p[want + 1], lt, amp)))
            want++;
          else
            break;
        }
        if (search_text_span(p, n, lt, amp) != want)
          bad++;
      }
  }
  CHECK(bad == 0);
  /* Long plain text goes in one call, up to the first change. */
  const char *t = "alpha beta gamma delta epsilon zeta eta theta  iota";
  CHECK(search_text_span(t, strlen(t), 1, 1) == strlen("alpha beta gamma "
                                                       "delta epsilon zeta "
                                                       "eta theta"));
  CHECK(search_text_span("a&b c<d e", 9, 1, 1) == 1);
  CHECK(search_text_span("a&b c<d e", 9, 0, 0) == 9);
}

/* Random mixes of the markup's special pieces: no crash, no read outside
 * the input (run under ASan in CI), output never longer than the input
 * and free of control bytes. Plus large pathological inputs, which a
 * quadratic pass would make this test crawl on. */
static void test_text_fuzz(void)
{
  static const char *const frags[] = {
      "<",         ">",     "script", "</script", "<!--",  "-->",
      "--!>",      "&",     "#x",     "#",        ";",     "'",
      "\"",        "=",     "a",      " ",        "style", "textarea",
      "</",        "\xC3",  "\xA9",   "<p>",      "&amp",  "&#9999999999",
      "plaintext", "<xmp>", "!",      "?",        "\t",    "&lt;"};
  const size_t nf = sizeof(frags) / sizeof(frags[0]);
  unsigned seed = 4242;
  char in[512];
  int bad = 0;
  for (int iter = 0; iter < 20000; iter++) {
    size_t len = 0;
    int parts = (int)(rand_r(&seed) % 40);
    for (int k = 0; k < parts; k++) {
      const char *f = frags[rand_r(&seed) % nf];
      size_t l = strlen(f);
      if (len + l >= sizeof(in))
        break;
      memcpy(in + len, f, l);
      len += l;
    }
    if (rand_r(&seed) % 4 == 0 && len)
      in[rand_r(&seed) % len] = '\0';
    /* Exactly len bytes, on the heap: ASan sees a read past the end. */
    char *h = malloc(len ? len : 1);
    memcpy(h, in, len);
    struct buf b = {0};
    if (search_text_from_html(h, len, 0, &b) != 0)
      bad++;
    if (b.len > len)
      bad++;
    for (size_t i = 0; i < b.len; i++)
      if ((unsigned char)b.data[i] < 0x20 || b.data[i] == 0x7f)
        bad++;
    buf_free(&b);
    free(h);
  }
  CHECK(bad == 0);

  static const char *const patho[] = {"<!--",     "<a ", "&#",  "<a",  "<x='",
                                      "<script>", "</",  "<<<", "&amp"};
  const size_t big = 1 << 20;
  char *h = malloc(big);
  for (size_t k = 0; k < sizeof(patho) / sizeof(patho[0]); k++) {
    size_t l = strlen(patho[k]);
    for (size_t i = 0; i < big; i++)
      h[i] = patho[k][i % l];
    struct buf b = {0};
    CHECK(search_text_from_html(h, big, 0, &b) == 0);
    CHECK(b.len <= big);
    buf_free(&b);
  }
  free(h);
}

/* A query that ranks too long gives up at its deadline (search_query's
 * max_ms; spate search --max-time) with "gave up", and the same query
 * without that deadline answers. 3,000 pages of 200 words from a
 * vocabulary of 2,000, and 26 prefixes OR'ed: every page matches, and
 * ranking them all takes hundreds of times the 1 ms allowed. */
static void test_deadline(void)
{
  char path[300], err[256], word[16], key[64];
  struct store *s;
  struct store_item *items;
  size_t n;
  enum { PAGES = 3000, WORDS = 200 };
  snprintf(path, sizeof(path), "%s/big.db", tmpdir);
  if (store_open(&s, path, err)) {
    fprintf(stderr, "store_open: %s\n", err);
    CHECK(0);
    return;
  }
  for (int i = 0; i < PAGES; i++) {
    snprintf(key, sizeof(key), "http://big.test/%d", i);
    const char *k = key;
    CHECK(store_add_urls(s, &k, 1, 0, 0, NULL) == 0);
  }
  CHECK(store_take(s, PAGES, &items, &n) == 0 && n == PAGES);
  CHECK(store_begin(s) == 0);
  uint32_t x = 12345;
  struct buf text = {0};
  for (size_t k = 0; k < n; k++) {
    buf_reset(&text);
    for (int w = 0; w < WORDS; w++) {
      x = x * 1103515245u + 12345u;
      unsigned v = (x >> 8) % 2000;
      snprintf(word, sizeof(word), "%c%c%u ", 'a' + v % 26, 'a' + v / 26 % 26,
               v);
      buf_puts(&text, word);
    }
    struct result *r = result_new(items[k].url, strlen(items[k].url));
    r->status = 200;
    r->fetched_at_us = INT64_C(1795449784123000);
    CHECK(store_put_page(s, items[k].id, r, 0, text.data, text.len) == 0);
    result_free(r);
  }
  buf_free(&text);
  CHECK(store_commit(s) == 0);
  store_items_free(items, n);
  store_close(s);

  struct buf q = {0};
  for (char c = 'a'; c <= 'z'; c++)
    buf_printf(&q, "%s%c*", c == 'a' ? "" : " OR ", c);
  char *out = NULL;
  size_t len;
  FILE *f = open_memstream(&out, &len);
  CHECK(search_query(path, q.data, 10, 1, 1, f, err) == -EINVAL);
  CHECK(strstr(err, "gave up after 0.001 s") != NULL);
  fclose(f);
  free(out);
  out = NULL;
  f = open_memstream(&out, &len);
  CHECK(search_query(path, q.data, 10, 1, 0, f, err) == 10);
  fclose(f);
  free(out);
  buf_free(&q);
}

int main(void)
{
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  build_store();
  test_queries();
  test_tty();
  test_errors();
  test_text();
  test_text_span();
  test_text_fuzz();
  test_deadline();
  check_rmtree(tmpdir);
  return check_report("test_search");
}
