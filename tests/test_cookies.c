/* cookies: the run's jar — loading a Netscape cookie file (bad lines
 * skipped, an unreadable file an error), saving one that loads again, the
 * jar shared by handles on several threads, and its bound. */
#include "check.h"
#include "cookies.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/spate-test-cookies-XXXXXX";

static void path_of(char *out, size_t n, const char *name)
{
  snprintf(out, n, "%s/%s", dir, name);
}

static void write_file(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

static void test_load_save(void)
{
  char in[256], out[256], err[256] = "";
  path_of(in, sizeof(in), "in.txt");
  path_of(out, sizeof(out), "out.txt");
  write_file(in, "# Netscape HTTP Cookie File\n"
                 "example.com\tFALSE\t/\tFALSE\t0\tsession\tabc\n"
                 ".example.org\tTRUE\t/shop\tTRUE\t4102444800\tcart\t7\n"
                 "this line is not a cookie\n"
                 "example.net\tFALSE\t/\tFALSE\t1\texpired\tlong-ago\n");
  struct cookies c;
  long loaded = -1;
  CHECK(cookies_init(&c, in, &loaded, err, sizeof(err)) == 0);
  CHECK(loaded == 2); /* the garbage line and the expired cookie are not */
  CHECK(cookies_count(&c) == 2);
  /* Over a jar anyone could read: the new one is the owner's only. */
  write_file(out, "");
  chmod(out, 0644);
  CHECK(cookies_save(&c, out, err, sizeof(err)) == 0);
  struct stat st;
  CHECK(stat(out, &st) == 0 && (st.st_mode & 0777) == 0600);
  cookies_free(&c);

  /* What was saved loads again, the same two. */
  CHECK(cookies_init(&c, out, &loaded, err, sizeof(err)) == 0);
  CHECK(loaded == 2);
  cookies_free(&c);
  FILE *f = fopen(out, "r");
  char text[1024] = "";
  size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
  text[n] = '\0';
  if (f)
    fclose(f);
  CHECK(strstr(text, "# Netscape HTTP Cookie File\n") == text);
  CHECK(strstr(text, "\tsession\tabc\n") != NULL);
  CHECK(strstr(text, "\tcart\t7\n") != NULL);
  CHECK(strstr(text, "expired") == NULL);

  /* An unreadable file is an error with the reason, not an empty jar. */
  char missing[256];
  path_of(missing, sizeof(missing), "missing.txt");
  err[0] = '\0';
  CHECK(cookies_init(&c, missing, &loaded, err, sizeof(err)) == -1);
  CHECK(strstr(err, "No such file") != NULL);

  /* A jar that cannot be written says why; nothing is left behind. */
  char bad[256];
  path_of(bad, sizeof(bad), "no-such-dir/jar.txt");
  CHECK(cookies_init(&c, NULL, NULL, err, sizeof(err)) == 0);
  err[0] = '\0';
  CHECK(cookies_save(&c, bad, err, sizeof(err)) == -1);
  CHECK(err[0] != '\0');
  cookies_free(&c);
}

/* Cookie i put in the jar as a response's Set-Cookie would be, through a
 * handle of its own: curl takes at most 50 from one transfer. */
static void add(struct cookies *c, int i)
{
  char line[128];
  snprintf(line, sizeof(line),
           "Set-Cookie: c%d=v; domain=host%d.example; path=/", i, i % 50);
  CURL *e = curl_easy_init();
  cookies_attach(c, e);
  curl_easy_setopt(e, CURLOPT_COOKIELIST, line);
  curl_easy_cleanup(e);
}

struct adder {
  struct cookies *c;
  int from, n;
};

static void add_many(void *arg)
{
  struct adder *a = arg;
  for (int i = a->from; i < a->from + a->n; i++)
    add(a->c, i);
}

static void test_shared_and_bounded(void)
{
  char err[256];
  struct cookies c;
  CHECK(cookies_init(&c, NULL, NULL, err, sizeof(err)) == 0);
  /* Two threads at once, as two loops: one jar, every cookie in it. */
  struct adder a = {&c, 0, COOKIES_MAX / 2},
               b = {&c, COOKIES_MAX / 2, COOKIES_MAX / 2};
  uv_thread_t ta, tb;
  CHECK(uv_thread_create(&ta, add_many, &a) == 0);
  CHECK(uv_thread_create(&tb, add_many, &b) == 0);
  uv_thread_join(&ta);
  uv_thread_join(&tb);
  CHECK(cookies_count(&c) == COOKIES_MAX / 2 * 2);

  /* Responses set cookies; the jar is counted every COOKIES_CHECK_EVERY
   * of them and emptied once it holds more than COOKIES_MAX. */
  CURL *e = curl_easy_init();
  cookies_attach(&c, e);
  for (int i = COOKIES_MAX / 2 * 2; i < COOKIES_MAX + 1; i++)
    add(&c, i);
  CHECK(cookies_count(&c) == COOKIES_MAX + 1);
  cookies_seen(&c, e, COOKIES_CHECK_EVERY - 1); /* no count yet */
  CHECK(cookies_count(&c) == COOKIES_MAX + 1);
  CHECK(c.cleared == 0);
  cookies_seen(&c, e, 1); /* the check: over the cap, emptied */
  CHECK(cookies_count(&c) == 0);
  CHECK(c.cleared == 1);
  add(&c, 1);
  cookies_seen(&c, e, COOKIES_CHECK_EVERY); /* under the cap: kept */
  CHECK(cookies_count(&c) == 1);
  CHECK(c.cleared == 1);
  curl_easy_cleanup(e);
  cookies_free(&c);
}

int main(void)
{
  curl_global_init(CURL_GLOBAL_DEFAULT);
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_load_save();
  test_shared_and_bounded();
  check_rmtree(dir);
  curl_global_cleanup();
  return check_report("test_cookies");
}
