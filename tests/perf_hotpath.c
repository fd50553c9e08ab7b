/* The per-page work spate itself does on the hot path, on a fixed corpus:
 * check the URL, check the page is UTF-8 (so not decoded), scan the HTML,
 * serialise the result. Run under callgrind
 * by it_perfguard.py, which compares instructions per page with a budget:
 * a deterministic guard, unlike a timed test. (libcurl and the kernel are
 * outside; SHA-256 too, since valgrind hides the CPU's SHA extensions and
 * would measure a code path production never takes.) */
#include "buf.h"
#include "charset.h"
#include "html.h"
#include "result.h"
#include "sink.h"
#include "url.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const words[] = {"alpha",   "beta", "gamma", "delta",
                                    "epsilon", "zeta", "eta",   "theta"};

/* A page like the benchmark site's: ~6.6 KB, a title, 15 links. */
static void make_page(struct buf *b, int i, unsigned *seed)
{
  buf_reset(b);
  buf_printf(b,
             "<!doctype html><html><head><meta charset=utf-8><title>Page "
             "%d of the synthetic site</title></head><body><h1>Page %d</h1>"
             "<p>",
             i, i);
  for (int w = 0; w < 1100; w++) {
    *seed = *seed * 1103515245u + 12345u;
    buf_puts(b, words[(*seed >> 16) % 8]);
    buf_putc(b, ' ');
  }
  buf_puts(b, "</p><ul>");
  for (int l = 0; l < 15; l++)
    buf_printf(b, "<li><a href=\"/p/%d.html\">page %d</a></li>",
               (i * 7 + l) % 20000, l);
  buf_puts(b, "</ul></body></html>\n");
}

/* What is measured (callgrind --toggle-collect=hot_path): one page. */
__attribute__((noinline)) static int
hot_path(const char *url, const struct buf *page, struct buf *out, long *links)
{
  struct url_info u;
  struct html_info h;
  if (url_check(url, strlen(url), 8192, &u))
    return -1;
  size_t n;
  char *utf8 = charset_to_utf8("text/html", page->data, page->len, &n);
  if (utf8) { /* the corpus is UTF-8: never */
    free(utf8);
    url_info_free(&u);
    return -1;
  }
  struct result *r = result_new(url, strlen(url));
  if (!r || html_scan(page->data, page->len, 0, 0, &h)) {
    result_free(r);
    url_info_free(&u);
    return -1;
  }
  r->title = h.title;
  h.title = NULL;
  r->nlinks = h.nlinks;
  *links += h.nlinks;
  html_info_free(&h);
  r->status = 200;
  r->bytes = (int64_t)page->len;
  buf_reset(out);
  int rc = result_to_json(r, out);
  result_free(r);
  url_info_free(&u);
  return rc;
}

int main(int argc, char **argv)
{
  int pages = argc > 1 ? atoi(argv[1]) : 200;
  struct buf *corpus = calloc((size_t)pages, sizeof(*corpus));
  struct buf out = {0};
  unsigned seed = 7;
  long links = 0;
  if (!corpus || pages <= 0)
    return 1;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  for (int i = 0; i < pages; i++)
    make_page(&corpus[i], i, &seed);
  for (int i = 0; i < pages; i++) {
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:8089/p/%d.html", i);
    if (hot_path(url, &corpus[i], &out, &links))
      return 1;
  }
  printf("%d pages, %ld links, %zu bytes of JSON in the last\n", pages, links,
         out.len);
  for (int i = 0; i < pages; i++)
    buf_free(&corpus[i]);
  free(corpus);
  buf_free(&out);
  curl_global_cleanup();
  return 0;
}
