/* cookies: see cookies.h. */
#include "cookies.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void lock_cb(CURL *e, curl_lock_data data, curl_lock_access access,
                    void *arg)
{
  (void)e;
  (void)access;
  struct cookies *c = arg;
  if ((int)data >= 0 && (int)data < c->nlocks)
    uv_mutex_lock(&c->lock[data]);
}

static void unlock_cb(CURL *e, curl_lock_data data, void *arg)
{
  (void)e;
  struct cookies *c = arg;
  if ((int)data >= 0 && (int)data < c->nlocks)
    uv_mutex_unlock(&c->lock[data]);
}

/* The jar's cookies, one Netscape line each, through e (which uses it). */
static struct curl_slist *list(CURL *e)
{
  struct curl_slist *l = NULL;
  if (curl_easy_getinfo(e, CURLINFO_COOKIELIST, &l) != CURLE_OK)
    return NULL;
  return l;
}

/* A handle on the jar alone, to list, load or count it; NULL when out of
 * memory (or the share would not take it). */
static CURL *jar_handle(struct cookies *c)
{
  CURL *e = curl_easy_init();
  if (e && curl_easy_setopt(e, CURLOPT_SHARE, c->share) != CURLE_OK) {
    curl_easy_cleanup(e);
    e = NULL;
  }
  return e;
}

/* How many cookies the jar e uses holds. */
static long jar_size(CURL *e)
{
  struct curl_slist *l = list(e);
  long n = 0;
  for (struct curl_slist *i = l; i; i = i->next)
    n++;
  curl_slist_free_all(l);
  return n;
}

int cookies_init(struct cookies *c, const char *load, long *loaded, char *err,
                 size_t errlen)
{
  memset(c, 0, sizeof(*c));
  if (loaded)
    *loaded = 0;
  for (; c->nlocks < CURL_LOCK_DATA_LAST; c->nlocks++)
    if (uv_mutex_init(&c->lock[c->nlocks])) {
      snprintf(err, errlen, "cannot make a lock");
      cookies_free(c);
      return COOKIES_ESELF;
    }
  c->share = curl_share_init();
  if (!c->share || curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, lock_cb) ||
      curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, unlock_cb) ||
      curl_share_setopt(c->share, CURLSHOPT_USERDATA, c) ||
      curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE)) {
    snprintf(err, errlen, "out of memory");
    cookies_free(c);
    return COOKIES_ESELF;
  }
  if (!load)
    return 0;
  /* curl reads a file it cannot open as an empty one: say so instead. */
  FILE *f = fopen(load, "r");
  if (!f) {
    snprintf(err, errlen, "%s: %s", load, strerror(errno));
    cookies_free(c);
    return COOKIES_EFILE;
  }
  fclose(f);
  CURL *e = jar_handle(c);
  int rc = COOKIES_EFILE;
  if (e && !curl_easy_setopt(e, CURLOPT_COOKIEFILE, load) &&
      !curl_easy_setopt(e, CURLOPT_COOKIELIST, "RELOAD")) {
    if (loaded)
      *loaded = jar_size(e);
    rc = 0;
  } else {
    snprintf(err, errlen, "%s: cannot load it", load);
  }
  if (e)
    curl_easy_cleanup(e);
  if (rc)
    cookies_free(c);
  return rc;
}

void cookies_attach(struct cookies *c, CURL *e)
{
  curl_easy_setopt(e, CURLOPT_SHARE, c->share);
  /* No file: this turns the engine on (a shared jar alone does not). */
  curl_easy_setopt(e, CURLOPT_COOKIEFILE, "");
}

void cookies_seen(struct cookies *c, CURL *e, long n)
{
  long before = __atomic_fetch_add(&c->set_seen, n, __ATOMIC_RELAXED);
  if (before / COOKIES_CHECK_EVERY == (before + n) / COOKIES_CHECK_EVERY)
    return;
  if (jar_size(e) > COOKIES_MAX) {
    curl_easy_setopt(e, CURLOPT_COOKIELIST, "ALL");
    __atomic_fetch_add(&c->cleared, 1, __ATOMIC_RELAXED);
  }
}

long cookies_count(struct cookies *c)
{
  CURL *e = jar_handle(c);
  if (!e)
    return -1;
  long n = jar_size(e);
  curl_easy_cleanup(e);
  return n;
}

int cookies_save(struct cookies *c, const char *path, char *err, size_t errlen)
{
  CURL *e = jar_handle(c);
  if (!e) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  struct curl_slist *l = list(e);
  curl_easy_cleanup(e);
  size_t n = strlen(path);
  char *tmp = malloc(n + 16);
  if (!tmp) {
    curl_slist_free_all(l);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  /* A new file of the owner's only (cookies are credentials), under a
   * name no one can have planted a link at (mkstemp: O_EXCL, 0600). */
  snprintf(tmp, n + 16, "%s.XXXXXX", path);
  int fd = mkstemp(tmp);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  int rc = -1;
  if (!f) {
    snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
    if (fd >= 0) {
      close(fd);
      unlink(tmp);
    }
    goto out;
  }
  fputs("# Netscape HTTP Cookie File\n"
        "# Written by spate; the format curl and wget read.\n\n",
        f);
  for (struct curl_slist *i = l; i; i = i->next) {
    fputs(i->data, f);
    fputc('\n', f);
  }
  if (ferror(f) | fclose(f)) {
    snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
    unlink(tmp);
    goto out;
  }
  if (rename(tmp, path)) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    unlink(tmp);
    goto out;
  }
  rc = 0;
out:
  curl_slist_free_all(l);
  free(tmp);
  return rc;
}

void cookies_free(struct cookies *c)
{
  if (c->share)
    curl_share_cleanup(c->share);
  c->share = NULL;
  for (int i = 0; i < c->nlocks; i++)
    uv_mutex_destroy(&c->lock[i]);
  c->nlocks = 0;
}
