#include "cli.h"

#include "cli_impl.h"
#include "failpoint.h"
#include "live.h"

#include "extract.h"
#include "input.h"
#include "origin.h"
#include "result.h"
#include "scheduler.h"
#include "sink.h"
#include "url.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define DEFAULT_UA "spate/" CLI_VERSION
/* The fetch sink gathers results for up to 2 ms, or until 128 are queued,
 * before it writes (group commit): see sink_options.gather_min. */
#define GATHER_MIN 128
#define GATHER_US 2000

long long cli_parse_duration_ms(const char *s)
{
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  /* A week is far beyond any timeout; the cap keeps the conversions below
   * in range. */
  if (end == s || errno || v < 0 || !isfinite(v) || v > 604800000.0)
    return -1;
  if (strcmp(end, "ms") == 0)
    return (long long)v;
  if (*end == '\0' || strcmp(end, "s") == 0)
    return (long long)(v * 1000.0);
  if (strcmp(end, "m") == 0)
    return (long long)(v * 60000.0);
  if (strcmp(end, "h") == 0 && v <= 168)
    return (long long)(v * 3600000.0);
  if (strcmp(end, "d") == 0 && v <= 7)
    return (long long)(v * 86400000.0);
  return -1;
}

long long cli_parse_size(const char *s)
{
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (end == s || errno || v < 0)
    return -1;
  int shift = 0;
  switch (*end) {
  case '\0':
    break;
  case 'k':
  case 'K':
    shift = 10;
    end++;
    break;
  case 'm':
  case 'M':
    shift = 20;
    end++;
    break;
  case 'g':
  case 'G':
    shift = 30;
    end++;
    break;
  default:
    return -1;
  }
  if (*end == 'B' || *end == 'b')
    end++;
  if (*end || v > (LLONG_MAX >> shift))
    return -1;
  return v << shift;
}

/* ---- progress and summary ------------------------------------------- */

struct progress {
  uv_timer_t timer;
  struct scheduler_shared *sh;
  struct input *in;    /* a fetch's, or NULL */
  struct frontier *fr; /* a crawl's, or NULL */
  int on;
};

static void fmt_eta(char *out, size_t n, double secs)
{
  if (secs < 0 || !isfinite(secs))
    snprintf(out, n, "?");
  else if (secs < 60)
    snprintf(out, n, "%.0fs", secs);
  else if (secs < 3600)
    snprintf(out, n, "%.0fm%02.0fs", floor(secs / 60), fmod(secs, 60));
  else
    snprintf(out, n, "%.0fh%02.0fm", floor(secs / 3600), fmod(secs / 60, 60));
}

static void progress_tick(uv_timer_t *t)
{
  struct progress *p = t->data;
  uint64_t done = 0, failed = 0, start = 0;
  int inflight = 0;
  /* The loops run on their own threads: relaxed atomic reads of counters
   * they store atomically. */
  for (int i = 0; i < p->sh->nloops; i++) {
    struct scheduler *s = p->sh->loops[i];
    done += __atomic_load_n(&s->stats.done, __ATOMIC_RELAXED);
    failed += __atomic_load_n(&s->stats.failed, __ATOMIC_RELAXED);
    inflight += __atomic_load_n(&s->inflight, __ATOMIC_RELAXED);
    uint64_t t0 = __atomic_load_n(&s->stats.start_ns, __ATOMIC_RELAXED);
    if (t0 && (!start || t0 < start))
      start = t0;
  }
  double secs = start ? (double)(uv_hrtime() - start) / 1e9 : 0;
  double rate = secs > 0 ? (double)done / secs : 0;
  if (p->fr) {
    struct frontier_stats fs;
    uint64_t hosts = 0;
    for (int i = 0; i < p->sh->nloops; i++)
      hosts += __atomic_load_n(&p->sh->loops[i]->stats.robots_fetched,
                               __ATOMIC_RELAXED);
    frontier_get_stats(p->fr, &fs);
    fprintf(stderr,
            "\r\033[K%llu pages  %lld queued  %.0f/s  %llu errors  "
            "%d in flight  %llu hosts",
            (unsigned long long)done, (long long)fs.queued, rate,
            (unsigned long long)failed, inflight, (unsigned long long)hosts);
    fflush(stderr);
    return;
  }
  int known;
  size_t total = input_total(p->in, &known);
  char tot[32], eta[32];
  if (known)
    snprintf(tot, sizeof(tot), "%zu", total);
  else
    snprintf(tot, sizeof(tot), "%zu+", total);
  fmt_eta(eta, sizeof(eta),
          known && rate > 0 ? (double)(total - done) / rate : -1);
  fprintf(stderr,
          "\r\033[K%llu/%s done  %.0f/s  %llu errors  %d in flight  ETA %s",
          (unsigned long long)done, tot, rate, (unsigned long long)failed,
          inflight, eta);
  fflush(stderr);
}

void cli_print_summary(const struct scheduler_stats *st, FILE *out)
{
  double secs = (double)(uv_hrtime() - st->start_ns) / 1e9;
  fprintf(out, "spate: %llu URLs in %.2f s (%.0f/s): %llu ok, %llu failed",
          (unsigned long long)st->done, secs,
          secs > 0 ? (double)st->done / secs : 0.0, (unsigned long long)st->ok,
          (unsigned long long)st->failed);
  if (st->nerrors) {
    fputs(" (", out);
    for (int i = 0; i < st->nerrors; i++)
      fprintf(out, "%s%s %llu", i ? ", " : "", st->errors[i].code,
              (unsigned long long)st->errors[i].n);
    fputc(')', out);
  }
  fputc('\n', out);
  fputs("  status:", out);
  static const char *cls[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (int i = 0; i < 6; i++)
    if (st->status_class[i])
      fprintf(out, " %s %llu", cls[i],
              (unsigned long long)st->status_class[i]);
  fputc('\n', out);
  const struct histogram *h = &st->latency_us;
  if (h->count)
    fprintf(out,
            "  latency ms: p50 %.1f  p95 %.1f  p99 %.1f  max %.1f"
            "   first byte p50 %.1f  p99 %.1f\n",
            (double)histogram_quantile(h, 0.50) / 1000,
            (double)histogram_quantile(h, 0.95) / 1000,
            (double)histogram_quantile(h, 0.99) / 1000, (double)h->max / 1000,
            (double)histogram_quantile(&st->ttfb_us, 0.50) / 1000,
            (double)histogram_quantile(&st->ttfb_us, 0.99) / 1000);
  fprintf(out,
          "  %.1f MB received, %llu retries, %llu redirects, "
          "%llu circuit-breaker trips\n",
          (double)st->bytes / 1e6, (unsigned long long)st->retries,
          (unsigned long long)st->redirects,
          (unsigned long long)st->breaker_trips);
  if (st->admit_waits)
    fprintf(out, "  %llu URLs waited for memory before they were taken in\n",
            (unsigned long long)st->admit_waits);
}

/* ---- fetch ---------------------------------------------------------- */

static void usage_fetch(FILE *out)
{
  fputs(
      "usage: spate fetch [OPTIONS] [URL...] [-i FILE]\n"
      "Fetch every URL (arguments, then FILE or stdin; '-' is stdin) and\n"
      "write one result per URL, JSON lines on stdout by default.\n\n"
      "  -i, --input FILE          read URLs from FILE, one per line\n"
      "  -o, --output TARGET       out.jsonl | out.csv | out.db (SQLite)\n"
      "  -c, --concurrency N       requests in flight in all (256)\n"
      "      --per-host N          requests in flight per host (16)\n"
      "      --rate R              requests per second per host (no limit)\n"
      "      --backlog N           URLs taken in beyond -c, waiting for "
      "their\n"
      "                            host (1024)\n"
      "      --timeout T           whole transfer (30s); T as 2, 2.5s, 500ms\n"
      "      --connect-timeout T   TCP+TLS connect (10s)\n"
      "      --first-byte-timeout T  request start to first byte (20s)\n"
      "      --stall-timeout T     no body byte for this long (10s)\n"
      "      --retries N           retries of transient failures (2)\n"
      "      --max-retry-after T   longest Retry-After honoured (120s)\n"
      "      --user-agent S        User-Agent header\n"
      "      --extract NAME=json:/pointer | NAME=re:REGEX | NAME=xpath:EXPR "
      "|\n"
      "                NAME=css:SELECTOR   (repeatable)\n"
      "      --links               list links in each result, not just "
      "count\n"
      "      --max-body SIZE       decoded body cap (10M): too_large\n"
      "      --max-headers SIZE    response header cap (64k)\n"
      "      --max-redirects N     (10); loops are detected: redirect_loop\n"
      "      --max-url-length N    (8192)\n"
      "      --breaker N           consecutive failures that pause a host "
      "(5; 0 off)\n"
      "      --breaker-cooldown T  pause before a probe (10s)\n"
      "      --loops N             event loops (threads) to run on (one per "
      "core)\n"
      "      --dashboard [ADDR:]PORT   live dashboard, /metrics, /health "
      "(loopback\n"
      "                            unless ADDR says otherwise: then a token)\n"
      "  -H, --header 'NAME: VALUE'  send with every request (repeatable; "
      "'NAME:'\n"
      "                            leaves curl's own out)\n"
      "  -b, --cookie FILE|NAME=VALUE  cookies from a Netscape cookie file "
      "into\n"
      "                            the jar, or these on every request\n"
      "      --cookie-jar FILE     save the jar there at the end\n"
      "      --cookies             keep the cookies responses set (off; on "
      "with\n"
      "                            -b FILE or --cookie-jar)\n"
      "  -k, --insecure            do not verify TLS certificates\n"
      "      --progress / --no-progress   force the progress line on/off\n"
      "  -q, --quiet               no progress line and no summary\n"
      "  -h, --help                this help\n\n"
      "Exit status: 0 all ok, 1 some URLs failed, 2 usage, 3 input/output\n"
      "could not be opened, 4 writing failed, 130 interrupted.\n",
      out);
}

enum {
  OPT_PER_HOST = 1000,
  OPT_RATE,
  OPT_BACKLOG,
  OPT_TIMEOUT,
  OPT_CONNECT_TIMEOUT,
  OPT_TTFB_TIMEOUT,
  OPT_STALL_TIMEOUT,
  OPT_RETRIES,
  OPT_MAX_RETRY_AFTER,
  OPT_USER_AGENT,
  OPT_EXTRACT,
  OPT_LINKS,
  OPT_MAX_BODY,
  OPT_MAX_HEADERS,
  OPT_MAX_REDIRECTS,
  OPT_MAX_URL_LENGTH,
  OPT_BREAKER,
  OPT_BREAKER_COOLDOWN,
  OPT_PROGRESS,
  OPT_NO_PROGRESS,
  OPT_BACKOFF_BASE,
  OPT_DRAIN,
  OPT_LOOPS,
  OPT_SCOPE,
  OPT_MAX_DEPTH,
  OPT_MAX_PAGES,
  OPT_INCLUDE,
  OPT_EXCLUDE,
  OPT_ALLOW_PRIVATE,
  OPT_MAX_CRAWL_DELAY,
  OPT_DASHBOARD,
  OPT_COOKIE_JAR,
  OPT_COOKIES,
  OPT_NO_COOKIES,
};

static const struct option fetch_longopts[] = {
    {"input", required_argument, NULL, 'i'},
    {"output", required_argument, NULL, 'o'},
    {"concurrency", required_argument, NULL, 'c'},
    {"per-host", required_argument, NULL, OPT_PER_HOST},
    {"rate", required_argument, NULL, OPT_RATE},
    {"backlog", required_argument, NULL, OPT_BACKLOG},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"first-byte-timeout", required_argument, NULL, OPT_TTFB_TIMEOUT},
    {"stall-timeout", required_argument, NULL, OPT_STALL_TIMEOUT},
    {"retries", required_argument, NULL, OPT_RETRIES},
    {"max-retry-after", required_argument, NULL, OPT_MAX_RETRY_AFTER},
    {"backoff-base", required_argument, NULL, OPT_BACKOFF_BASE},
    {"drain", required_argument, NULL, OPT_DRAIN},
    {"loops", required_argument, NULL, OPT_LOOPS},
    {"user-agent", required_argument, NULL, OPT_USER_AGENT},
    {"extract", required_argument, NULL, OPT_EXTRACT},
    {"links", no_argument, NULL, OPT_LINKS},
    {"max-body", required_argument, NULL, OPT_MAX_BODY},
    {"max-headers", required_argument, NULL, OPT_MAX_HEADERS},
    {"max-redirects", required_argument, NULL, OPT_MAX_REDIRECTS},
    {"max-url-length", required_argument, NULL, OPT_MAX_URL_LENGTH},
    {"breaker", required_argument, NULL, OPT_BREAKER},
    {"breaker-cooldown", required_argument, NULL, OPT_BREAKER_COOLDOWN},
    {"insecure", no_argument, NULL, 'k'},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"scope", required_argument, NULL, OPT_SCOPE},
    {"max-depth", required_argument, NULL, OPT_MAX_DEPTH},
    {"max-pages", required_argument, NULL, OPT_MAX_PAGES},
    {"include", required_argument, NULL, OPT_INCLUDE},
    {"exclude", required_argument, NULL, OPT_EXCLUDE},
    {"allow-private", no_argument, NULL, OPT_ALLOW_PRIVATE},
    {"max-crawl-delay", required_argument, NULL, OPT_MAX_CRAWL_DELAY},
    {"dashboard", required_argument, NULL, OPT_DASHBOARD},
    {"header", required_argument, NULL, 'H'},
    {"cookie", required_argument, NULL, 'b'},
    {"cookie-jar", required_argument, NULL, OPT_COOKIE_JAR},
    {"cookies", no_argument, NULL, OPT_COOKIES},
    {"no-cookies", no_argument, NULL, OPT_NO_COOKIES},
    {NULL, 0, NULL, 0},
};

void cli_usage_crawl(FILE *out)
{
  fputs(
      "usage: spate crawl [OPTIONS] SEED... [-o crawl.db]\n"
      "Follow links from the seeds within a scope and store every page,\n"
      "its links and its text (full-text indexed) in a SQLite file.\n"
      "Running the same command again resumes an interrupted crawl.\n\n"
      "  -o, --output FILE         the crawl store (crawl.db)\n"
      "      --scope S             host (default) | domain | prefix |\n"
      "                            regex:PCRE2 on the normalised URL\n"
      "      --include RE          follow only URLs matching one "
      "(repeatable)\n"
      "      --exclude RE          never follow URLs matching (repeatable)\n"
      "      --max-depth N         link distance from the seeds (100); "
      "given,\n"
      "                            each host is crawled level by level: "
      "exact\n"
      "      --max-pages N         pages stored, all runs together (no cap)\n"
      "      --allow-private       let links reach "
      "loopback/private/link-local\n"
      "                            addresses (seeds' own hosts always may)\n"
      "      --max-crawl-delay T   longest robots.txt Crawl-delay honoured "
      "(30s)\n"
      "      --dashboard [ADDR:]PORT   live dashboard, /metrics, /health\n"
      "  -c, --concurrency N       requests in flight in all (256)\n"
      "      --per-host N          requests in flight per host (16)\n"
      "      --rate R              requests per second per host (no limit)\n"
      "      --backlog N           URLs taken in beyond -c, waiting for "
      "their\n"
      "                            host (1024)\n"
      "      --timeout, --connect-timeout, --first-byte-timeout,\n"
      "      --stall-timeout, --retries, --max-retry-after, --user-agent,\n"
      "      --max-body, --max-headers, --max-url-length (2048), --breaker,\n"
      "      --breaker-cooldown, -k, -H, -b, --cookie-jar   as for spate "
      "fetch\n"
      "      --no-cookies          forget the cookies responses set (kept "
      "for\n"
      "                            the run by default, as a browser would)\n"
      "      --progress / --no-progress   force the progress line on/off\n"
      "  -q, --quiet               no progress line and no summary\n"
      "  -h, --help                this help\n\n"
      "robots.txt is always obeyed (RFC 9309). Search the result with\n"
      "spate search crawl.db QUERY. Exit status: 0 every page ok, 1 some\n"
      "pages failed, 2 usage, 3 the store could not be opened, 4 writing\n"
      "failed, 130 interrupted (run again to resume).\n",
      out);
}

static int crawl_only(const struct fetch_cli *fc, int c)
{
  switch (c) {
  case OPT_SCOPE:
  case OPT_MAX_DEPTH:
  case OPT_MAX_PAGES:
  case OPT_INCLUDE:
  case OPT_EXCLUDE:
  case OPT_ALLOW_PRIVATE:
  case OPT_MAX_CRAWL_DELAY:
    return strcmp(fc->cmd, "crawl") != 0;
  case 'i':
  case OPT_EXTRACT:
  case OPT_LINKS:
  case OPT_MAX_REDIRECTS:
    return strcmp(fc->cmd, "crawl") == 0; /* fetch only, in fact */
  default:
    return 0;
  }
}

void cli_defaults(struct fetch_cli *fc, const char *cmd)
{
  memset(fc, 0, sizeof(*fc));
  fc->cmd = cmd;
  struct scheduler_options *o = &fc->so;
  o->fail_admit_every = failpoint_every("SPATE_TEST_FAIL_ADMIT");
  o->concurrency = 256;
  o->per_host = 16;
  o->rate = 0;
  o->retries = 2;
  o->backoff_base_ms = 250;
  o->backoff_cap_ms = 20000;
  o->max_retry_after_ms = 120000;
  o->max_redirects = 10;
  o->max_url_len = URL_MAX_LEN_DEFAULT;
  o->breaker_threshold = 5;
  o->breaker_cooldown_ms = 10000;
  o->drain_ms = 2000;
  o->backlog = 1024;
  o->inline_extract_max = 64 << 10;
  o->fetch.connect_timeout_ms = 10000;
  o->fetch.ttfb_timeout_ms = 20000;
  o->fetch.total_timeout_ms = 30000;
  o->fetch.stall_timeout_ms = 10000;
  o->fetch.max_body = 10 << 20;
  o->fetch.max_headers = 64 << 10;
  o->fetch.user_agent = DEFAULT_UA;
  o->fetch.buffer_size = 16384;
  fc->progress = -1;
  fc->cookies = -1;
  fc->loops = (int)uv_available_parallelism();
  if (fc->loops > 8)
    fc->loops = 8;
}

int cli_bad(const char *cmd, const char *opt, const char *val,
            const char *want)
{
  /* One line whatever val holds: control characters as \n, \xNN. */
  fprintf(stderr, "spate %s: %s '", cmd, opt);
  for (const unsigned char *p = (const unsigned char *)val; *p; p++) {
    if (*p == '\n')
      fputs("\\n", stderr);
    else if (*p == '\r')
      fputs("\\r", stderr);
    else if (*p < 0x20 || *p == 0x7f)
      fprintf(stderr, "\\x%02x", *p);
    else
      fputc(*p, stderr);
  }
  fprintf(stderr, "': %s\n", want);
  return CLI_EXIT_USAGE;
}

int cli_int_arg(const char *s, long lo, long hi, int *out)
{
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (end == s || *end || errno || v < lo || v > hi)
    return -1;
  *out = (int)v;
  return 0;
}

/* Why h is not a request header curl should send as given, or NULL. The
 * forms curl takes: "Name: value", "Name:" (curl's own header of that
 * name is left out) and "Name;" (sent with an empty value). The name is an
 * RFC 9110 token; no control characters anywhere, so nothing can end the
 * header early or add another. */
static const char *header_problem(const char *h)
{
  size_t n = strcspn(h, ":;");
  if (!h[n] || !fetcher_header_name_ok(h, n))
    return "want 'Name: value' (or 'Name:' to leave a header out, 'Name;' "
           "for an empty one)";
  if (h[n] == ';' && h[n + 1])
    return "'Name;' takes nothing after the ';'";
  size_t len = strlen(h);
  if (len > CLI_HEADER_MAX)
    return "longer than 8 KiB";
  if (!fetcher_header_value_ok(h + n, len - n))
    return "control characters (a line break?) in the header";
  return NULL;
}

/* Whether header line h is named name (case aside). */
static int header_named(const char *h, const char *name)
{
  size_t n = strlen(name);
  return !strncasecmp(h, name, n) && (h[n] == ':' || h[n] == ';');
}

int cli_jar_open(struct fetch_cli *fc)
{
  /* A redirect to another scheme, host or port gets the -H headers but
   * credentials, as curl does. */
  for (struct curl_slist *h = fc->headers; h; h = h->next) {
    if (header_named(h->data, "authorization") ||
        header_named(h->data, "cookie"))
      continue;
    struct curl_slist *l = curl_slist_append(fc->headers_cross, h->data);
    if (!l) {
      fprintf(stderr, "spate %s: out of memory\n", fc->cmd);
      return CLI_EXIT_INTERNAL;
    }
    fc->headers_cross = l;
  }
  fc->so.fetch.headers = fc->headers;
  fc->so.fetch.headers_cross = fc->headers_cross;
  int on = fc->cookies >= 0 ? fc->cookies : strcmp(fc->cmd, "fetch") != 0;
  if (fc->cookie_file || fc->cookie_jar) {
    if (fc->cookies == 0) {
      fprintf(stderr, "spate %s: --no-cookies with %s\n", fc->cmd,
              fc->cookie_file ? "-b FILE" : "--cookie-jar");
      return CLI_EXIT_USAGE;
    }
    on = 1;
  }
  if (!on)
    return -1;
  char err[512];
  long loaded;
  int rc = cookies_init(&fc->jar, fc->cookie_file, &loaded, err, sizeof(err));
  if (rc) {
    /* A file that cannot be read is bad input; anything else (no memory,
     * no lock) is spate's own failure. */
    int unreadable = rc == COOKIES_EFILE;
    fprintf(stderr, "spate %s: %s%s\n", fc->cmd,
            unreadable ? "-b " : "the cookie jar: ", err);
    return unreadable ? CLI_EXIT_INPUT : CLI_EXIT_INTERNAL;
  }
  fc->have_jar = 1;
  fc->so.fetch.cookies = &fc->jar;
  if (fc->cookie_file && !loaded && !fc->quiet)
    fprintf(stderr,
            "spate %s: no cookies in %s (a Netscape cookie file, "
            "as curl -c writes, is expected; expired ones are "
            "left out)\n",
            fc->cmd, fc->cookie_file);
  return -1;
}

int cli_jar_close(struct fetch_cli *fc, int code)
{
  if (fc->have_jar) {
    char err[512];
    long cleared = __atomic_load_n(&fc->jar.cleared, __ATOMIC_RELAXED);
    if (cleared && !fc->quiet)
      fprintf(stderr,
              "spate %s: the cookie jar passed %d cookies and was "
              "emptied %ld time%s\n",
              fc->cmd, COOKIES_MAX, cleared, cleared == 1 ? "" : "s");
    if (fc->cookie_jar && code != CLI_EXIT_USAGE &&
        cookies_save(&fc->jar, fc->cookie_jar, err, sizeof(err))) {
      fprintf(stderr, "spate %s: --cookie-jar %s\n", fc->cmd, err);
      if (code == CLI_EXIT_OK || code == CLI_EXIT_SOME_FAILED)
        code = CLI_EXIT_OUTPUT;
    }
    cookies_free(&fc->jar);
    fc->have_jar = 0;
  }
  curl_slist_free_all(fc->headers);
  curl_slist_free_all(fc->headers_cross);
  fc->headers = fc->headers_cross = NULL;
  fc->so.fetch.headers = fc->so.fetch.headers_cross = NULL;
  fc->so.fetch.cookies = NULL;
  return code;
}

/* Parses fetch options into fc. Returns -1 to go on, or an exit code. */
int cli_parse(struct fetch_cli *fc, int argc, char **argv)
{
  struct scheduler_options *o = &fc->so;
  char err[256];
  long long v;
  int c;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":i:o:c:kqhH:b:", fetch_longopts,
                          NULL)) != -1) {
    const char *name = argv[optind - 1];
    if (crawl_only(fc, c)) {
      fprintf(stderr, "spate %s: option '%s' is not for %s (see --help)\n",
              fc->cmd, name, fc->cmd);
      return CLI_EXIT_USAGE;
    }
    struct crawl_cli *cc = &fc->crawl;
    switch (c) {
    case OPT_SCOPE:
      cc->scope_arg = optarg;
      if (strcmp(optarg, "host") == 0)
        cc->scope.kind = SCOPE_HOST;
      else if (strcmp(optarg, "domain") == 0)
        cc->scope.kind = SCOPE_DOMAIN;
      else if (strcmp(optarg, "prefix") == 0)
        cc->scope.kind = SCOPE_PREFIX;
      else if (strncmp(optarg, "regex:", 6) == 0) {
        cc->scope.kind = SCOPE_REGEX;
        cc->scope.regex = optarg + 6;
      } else
        return cli_bad(fc->cmd, "--scope", optarg,
                       "want host, domain, prefix or regex:RE");
      break;
    case OPT_MAX_DEPTH:
      if (cli_int_arg(optarg, 0, 1000000, &cc->scope.max_depth))
        return cli_bad(fc->cmd, "--max-depth", optarg, "want 0..1000000");
      cc->max_depth_given = 1;
      break;
    case OPT_MAX_PAGES: {
      char *end;
      errno = 0;
      cc->max_pages = strtoll(optarg, &end, 10);
      if (end == optarg || *end || errno || cc->max_pages < 1)
        return cli_bad(fc->cmd, "--max-pages", optarg, "want a count >= 1");
      break;
    }
    case OPT_INCLUDE:
    case OPT_EXCLUDE: {
      int *n = c == OPT_INCLUDE ? &cc->scope.ninclude : &cc->scope.nexclude;
      const char **pv = c == OPT_INCLUDE ? cc->include : cc->exclude;
      if (*n >= CLI_MAX_PATTERNS)
        return cli_bad(fc->cmd, name, optarg, "at most 64 patterns");
      pv[(*n)++] = optarg;
      break;
    }
    case OPT_ALLOW_PRIVATE:
      cc->scope.allow_private = 1;
      break;
    case OPT_DASHBOARD: {
      char host[64];
      int port;
      if (live_parse_addr(optarg, host, &port))
        return cli_bad(fc->cmd, "--dashboard", optarg,
                       "want [ADDR:]PORT, such as 8080 or 127.0.0.1:8080");
      fc->dashboard = optarg;
      break;
    }
    case OPT_MAX_CRAWL_DELAY:
      if ((v = cli_parse_duration_ms(optarg)) < 0)
        return cli_bad(fc->cmd, "--max-crawl-delay", optarg,
                       "want a duration such as 30s");
      o->max_crawl_delay_ms = (uint64_t)v;
      break;
    case 'i':
      fc->input_path = optarg;
      break;
    case 'o':
      fc->output = optarg;
      break;
    case 'c':
      if (cli_int_arg(optarg, 1, 100000, &o->concurrency))
        return cli_bad(fc->cmd, "--concurrency", optarg, "want 1..100000");
      break;
    case OPT_PER_HOST:
      if (cli_int_arg(optarg, 1, 100000, &o->per_host))
        return cli_bad(fc->cmd, "--per-host", optarg, "want 1..100000");
      break;
    case OPT_BACKLOG:
      if (cli_int_arg(optarg, 0, 1000000, &o->backlog))
        return cli_bad(fc->cmd, "--backlog", optarg, "want 0..1000000");
      break;
    case OPT_RATE: {
      char *end;
      o->rate = strtod(optarg, &end);
      if (end == optarg || *end || !(o->rate > 0) || o->rate > 1e6)
        return cli_bad(fc->cmd, "--rate", optarg,
                       "want requests per second > 0");
      break;
    }
#define DURATION(OPT, FIELD)                                                  \
  if ((v = cli_parse_duration_ms(optarg)) < 0)                                \
    return cli_bad(fc->cmd, OPT, optarg,                                      \
                   "want a duration such as 10, 2.5s or 500ms");              \
  FIELD = v;                                                                  \
  break
    case OPT_TIMEOUT:
      DURATION("--timeout", o->fetch.total_timeout_ms);
    case OPT_CONNECT_TIMEOUT:
      DURATION("--connect-timeout", o->fetch.connect_timeout_ms);
    case OPT_TTFB_TIMEOUT:
      DURATION("--first-byte-timeout", o->fetch.ttfb_timeout_ms);
    case OPT_STALL_TIMEOUT:
      DURATION("--stall-timeout", o->fetch.stall_timeout_ms);
    case OPT_MAX_RETRY_AFTER:
      DURATION("--max-retry-after", o->max_retry_after_ms);
    case OPT_BREAKER_COOLDOWN:
      DURATION("--breaker-cooldown", o->breaker_cooldown_ms);
    case OPT_BACKOFF_BASE:
      DURATION("--backoff-base", o->backoff_base_ms);
    case OPT_DRAIN:
      DURATION("--drain", o->drain_ms);
#undef DURATION
    case OPT_LOOPS:
      if (cli_int_arg(optarg, 1, SCHEDULER_MAX_LOOPS, &fc->loops))
        return cli_bad(fc->cmd, "--loops", optarg, "want 1..16");
      break;
    case OPT_RETRIES:
      if (cli_int_arg(optarg, 0, 100, &o->retries))
        return cli_bad(fc->cmd, "--retries", optarg, "want 0..100");
      break;
    case OPT_USER_AGENT:
      o->fetch.user_agent = optarg;
      break;
    case OPT_EXTRACT:
      if (extract_spec_add(&fc->ex, optarg, err, sizeof(err))) {
        fprintf(stderr, "spate fetch: %s\n", err);
        return CLI_EXIT_USAGE;
      }
      break;
    case OPT_LINKS:
      fc->ex.want_links = 1;
      break;
    case OPT_MAX_BODY:
      if ((v = cli_parse_size(optarg)) <= 0)
        return cli_bad(fc->cmd, "--max-body", optarg,
                       "want a size such as 10M");
      o->fetch.max_body = v;
      break;
    case OPT_MAX_HEADERS:
      if ((v = cli_parse_size(optarg)) <= 0)
        return cli_bad(fc->cmd, "--max-headers", optarg,
                       "want a size such as 64k");
      o->fetch.max_headers = (size_t)v;
      break;
    case OPT_MAX_REDIRECTS:
      if (cli_int_arg(optarg, 0, 30, &o->max_redirects))
        return cli_bad(fc->cmd, "--max-redirects", optarg, "want 0..30");
      break;
    case OPT_MAX_URL_LENGTH: {
      int n;
      if (cli_int_arg(optarg, 16, INPUT_LINE_MAX, &n))
        return cli_bad(fc->cmd, "--max-url-length", optarg, "want 16..65536");
      o->max_url_len = (size_t)n;
      break;
    }
    case OPT_BREAKER:
      if (cli_int_arg(optarg, 0, 1000000, &o->breaker_threshold))
        return cli_bad(fc->cmd, "--breaker", optarg,
                       "want 0 (off) or a count");
      break;
    case 'k':
      o->fetch.insecure = 1;
      break;
    case 'H': {
      const char *why = header_problem(optarg);
      if (why)
        return cli_bad(fc->cmd, "-H", optarg, why);
      if (fc->nheaders == CLI_MAX_HEADERS)
        return cli_bad(fc->cmd, "-H", optarg, "at most 64 headers");
      struct curl_slist *l = curl_slist_append(fc->headers, optarg);
      if (!l) {
        fprintf(stderr, "spate %s: out of memory\n", fc->cmd);
        return CLI_EXIT_INTERNAL;
      }
      fc->headers = l;
      fc->nheaders++;
      break;
    }
    case 'b':
      /* curl's rule: with a '=' it is the cookies themselves, sent on
       * every request; else a file of them for the jar. */
      if (strchr(optarg, '=')) {
        if (strpbrk(optarg, "\r\n") || strlen(optarg) > CLI_HEADER_MAX)
          return cli_bad(fc->cmd, "-b", optarg,
                         "want NAME=VALUE pairs on one line, or a file");
        o->fetch.cookie = optarg;
      } else {
        fc->cookie_file = optarg;
      }
      break;
    case OPT_COOKIE_JAR:
      fc->cookie_jar = optarg;
      break;
    case OPT_COOKIES:
      fc->cookies = 1;
      break;
    case OPT_NO_COOKIES:
      fc->cookies = 0;
      break;
    case OPT_PROGRESS:
      fc->progress = 1;
      break;
    case OPT_NO_PROGRESS:
      fc->progress = 0;
      break;
    case 'q':
      fc->quiet = 1;
      break;
    case 'h':
      if (strcmp(fc->cmd, "crawl") == 0)
        cli_usage_crawl(stdout);
      else
        usage_fetch(stdout);
      return CLI_EXIT_OK;
    case ':':
      fprintf(stderr, "spate fetch: %s needs a value (see --help)\n", name);
      return CLI_EXIT_USAGE;
    default:
      fprintf(stderr, "spate fetch: unknown option '%s' (see --help)\n", name);
      return CLI_EXIT_USAGE;
    }
  }
  return -1;
}

/* With several loops, the calling thread runs a control loop of its own:
 * the progress line, and waiting for the loops to finish. */
struct control {
  uv_loop_t loop;
  uv_async_t finished;
  int nloops;
  struct run_loop *loops;
};

static void loop_main(void *arg)
{
  struct run_loop *l = arg;
  pthread_setname_np(pthread_self(), "spate-loop");
  scheduler_run(&l->s);
  __atomic_store_n(&l->done, 1, __ATOMIC_RELEASE);
  if (l->finished)
    uv_async_send(l->finished);
}

static void control_finished(uv_async_t *a)
{
  struct control *c = a->data;
  /* Sends coalesce: count the loops whose threads have returned. */
  int done = 0;
  for (int i = 0; i < c->nloops; i++)
    done += __atomic_load_n(&c->loops[i].done, __ATOMIC_ACQUIRE);
  if (done == c->nloops)
    uv_stop(&c->loop);
}

/* Loop i's share of a run-wide cap, at least 1. */
int cli_share(int total, int nloops, int i)
{
  int n = total / nloops + (i < total % nloops ? 1 : 0);
  return n < 1 ? 1 : n;
}

/* Runs the loops: one on this thread, or several on threads of their own
 * while this one keeps the progress line. */
void cli_run_loops(struct run_loop *loops, int nloops,
                   struct scheduler_shared *sh, struct input *in,
                   struct frontier *fr, int show)
{
  struct control ctl;
  struct progress prog = {0};
  int use_ctl = nloops > 1;
  uv_loop_t *ploop = &loops[0].loop;
  if (use_ctl) {
    if (uv_loop_init(&ctl.loop)) {
      use_ctl = 0; /* run the first loop here; the others get no thread */
      nloops = 1;
    } else {
      uv_async_init(&ctl.loop, &ctl.finished, control_finished);
      ctl.finished.data = &ctl;
      ctl.nloops = nloops;
      ctl.loops = loops;
      for (int i = 0; i < nloops; i++)
        loops[i].finished = &ctl.finished;
      ploop = &ctl.loop;
    }
  }
  if (show) {
    prog.sh = sh;
    prog.in = in;
    prog.fr = fr;
    prog.on = 1;
    uv_timer_init(ploop, &prog.timer);
    prog.timer.data = &prog;
    uv_timer_start(&prog.timer, progress_tick, 250, 250);
    uv_unref((uv_handle_t *)&prog.timer);
  }
  if (in && input_start(in))
    input_fail(in, ENOMEM); /* no reader thread: arguments only */
  if (use_ctl) {
    for (int i = 0; i < nloops; i++) {
      if (uv_thread_create(&loops[i].thread, loop_main, &loops[i]) == 0)
        loops[i].have_thread = 1;
      else
        loops[i].done = 1; /* the other loops take its share */
    }
    uv_async_send(&ctl.finished); /* in case no thread started */
    uv_run(&ctl.loop, UV_RUN_DEFAULT);
    for (int i = 0; i < nloops; i++)
      if (loops[i].have_thread) {
        uv_thread_join(&loops[i].thread);
        loops[i].have_thread = 0;
      }
  } else {
    scheduler_run(&loops[0].s);
  }
  if (prog.on) {
    uv_close((uv_handle_t *)&prog.timer, NULL);
    uv_run(ploop, UV_RUN_NOWAIT);
    fputs("\r\033[K", stderr);
  }
  if (use_ctl) {
    uv_close((uv_handle_t *)&ctl.finished, NULL);
    uv_run(&ctl.loop, UV_RUN_NOWAIT);
    uv_loop_close(&ctl.loop);
  }
}

/* Closing the sink writes out what it still holds, which can take a while
 * (a slow pipe, a big SQLite commit). Meanwhile the first SIGINT/SIGTERM
 * is noted and waited out, the second exits at once, as during the run. */
struct closer {
  uv_loop_t loop;
  uv_async_t done;
  uv_signal_t sigint, sigterm;
  struct sink *sink;
  int rc;
  int signals, signum;
  char *msg;
};

static void closer_main(void *arg)
{
  struct closer *c = arg;
  c->rc = sink_close_msg(c->sink, c->msg);
  uv_async_send(&c->done);
}

static void closer_done(uv_async_t *a)
{
  struct closer *c = a->data;
  uv_close((uv_handle_t *)&c->done, NULL);
  uv_close((uv_handle_t *)&c->sigint, NULL);
  uv_close((uv_handle_t *)&c->sigterm, NULL);
}

static void closer_signal(uv_signal_t *sig, int signum)
{
  struct closer *c = sig->data;
  if (++c->signals > 1)
    _exit(128 + signum);
  c->signum = signum;
}

/* Closes sink; returns its result, and in *signum a signal that came in
 * meanwhile (0 if none). signals: how many the run has already seen, so a
 * second Ctrl-C still exits at once. */
int cli_close_sink(struct sink *sink, int signals, int *signum,
                   char msg[SINK_ERRMSG_MAX])
{
  struct closer c = {.sink = sink, .signals = signals, .msg = msg};
  uv_thread_t th;
  *signum = 0;
  if (uv_loop_init(&c.loop))
    return sink_close_msg(sink, msg);
  uv_async_init(&c.loop, &c.done, closer_done);
  c.done.data = &c;
  uv_signal_init(&c.loop, &c.sigint);
  uv_signal_init(&c.loop, &c.sigterm);
  c.sigint.data = c.sigterm.data = &c;
  uv_signal_start(&c.sigint, closer_signal, SIGINT);
  uv_signal_start(&c.sigterm, closer_signal, SIGTERM);
  if (uv_thread_create(&th, closer_main, &c)) {
    c.rc = sink_close_msg(sink, msg);
    closer_done(&c.done);
  } else {
    uv_run(&c.loop, UV_RUN_DEFAULT);
    uv_thread_join(&th);
  }
  uv_run(&c.loop, UV_RUN_NOWAIT);
  uv_loop_close(&c.loop);
  *signum = c.signum;
  return c.rc;
}

/* Runs one fetch job: URLs from args and/or input_path into output, on
 * fc->loops event loops (one per core by default). */
static int run_fetch(struct fetch_cli *fc, char **args, int nargs)
{
  int code = CLI_EXIT_INTERNAL;
  int nloops = fc->loops;
  struct input *in = NULL;
  struct sink *sink = NULL;
  struct live *live = NULL;
  struct scheduler_shared *sh = calloc(1, sizeof(*sh));
  struct run_loop *loops = calloc((size_t)nloops, sizeof(*loops));
  char err[SINK_ERRMSG_MAX];
  int rc;
  if (!sh || !loops)
    goto out;
  atomic_init(&sh->live, 0);
  sh->live_cap = (uint64_t)fc->so.concurrency + (uint64_t)fc->so.backlog;
  rc = input_open(&in, args, nargs, fc->input_path, scheduler_notify, sh);
  if (rc) {
    fprintf(stderr, "spate fetch: cannot read %s: %s\n", fc->input_path,
            strerror(-rc));
    code = CLI_EXIT_INPUT;
    goto out;
  }
  struct sink_options sopt = {
      .batch_rows = 500,
      .queue_cap = (int)sh->live_cap + 16,
      .on_written = scheduler_written,
      .arg = sh,
      .gather_min = GATHER_MIN,
      .gather_us = GATHER_US,
  };
  rc = sink_open(&sink, fc->output, &sopt, err);
  if (rc) {
    fprintf(stderr, "spate fetch: cannot open output %s: %s\n",
            fc->output ? fc->output : "-", err);
    code = CLI_EXIT_INPUT;
    goto out;
  }
  fc->so.extract = &fc->ex;
  if (fc->dashboard) {
    char lerr[256], job_name[300];
    if (!fc->input_path || strcmp(fc->input_path, "-") == 0)
      snprintf(job_name, sizeof(job_name), "fetch of %s",
               nargs ? "the URLs given" : "stdin");
    else
      snprintf(job_name, sizeof(job_name), "fetch of %s", fc->input_path);
    struct live_options lo = {
        .addr = fc->dashboard,
        .reserve_fds = fc->so.concurrency,
        .job_kind = "fetch",
        .job_name = job_name,
        .nloops = nloops,
        .in = in,
        .sink = sink,
        .stop = cli_request_stop,
        .stop_arg = sh,
    };
    if (live_start(&live, &lo, fc->quiet, lerr)) {
      fprintf(stderr, "spate fetch: --dashboard %s: %s\n", fc->dashboard,
              lerr);
      code = CLI_EXIT_USAGE;
      goto out;
    }
  }
  /* curl's receive buffer is allocated per transfer. At very high
   * concurrency (latency-bound lists) the working set matters more than
   * the extra read calls a small buffer costs on large bodies. */
  if (fc->so.concurrency > 2048)
    fc->so.fetch.buffer_size = 2048;
  for (int i = 0; i < nloops; i++) {
    struct run_loop *l = &loops[i];
    struct scheduler_options o = fc->so;
    o.concurrency = cli_share(fc->so.concurrency, nloops, i);
    o.per_host = cli_share(fc->so.per_host, nloops, i);
    o.backlog = cli_share(fc->so.backlog, nloops, i);
    /* With several loops a loop takes a URL only while one of its
     * transfer slots is free, and holds at most twice its share (looking
     * past hosts at their caps), so a short list is shared evenly and -c
     * means what it says; the run-wide live cap still bounds memory. */
    if (nloops > 1) {
      o.max_jobs = o.concurrency + (o.concurrency > 16 ? o.concurrency : 16);
      o.take_for_free_slot = 1;
    }
    if (live) {
      o.observe = live_observe;
      o.observe_arg = live_observe_arg(live, i);
    }
    if (uv_loop_init(&l->loop))
      goto out;
    l->have_loop = 1;
    struct scheduler_source src = scheduler_input_source(in);
    if (scheduler_init(&l->s, &l->loop, &o, &src, sink, sh)) {
      fprintf(stderr, "spate fetch: cannot start the engine\n");
      goto out;
    }
    l->have_sched = 1;
  }
  int show = fc->progress < 0 ? isatty(2) && !fc->quiet : fc->progress;
  live_set_state(live, "running");
  cli_run_loops(loops, nloops, sh, in, NULL, show);
  /* The dashboard's last tick, then it goes: it reads the input and the
   * sink, which are closed next. */
  int stopped = 0;
  for (int i = 0; i < nloops; i++)
    stopped |= loops[i].s.interrupted != 0;
  live_set_state(live, sink_error(sink) ? "failed"
                       : stopped        ? "stopped"
                                        : "done");
  live_stop(live);
  live = NULL;

  int in_err = input_error(in);
  int late_signal, seen = 0;
  for (int i = 0; i < nloops; i++)
    if (loops[i].s.nsignals > seen)
      seen = loops[i].s.nsignals;
  char werr[SINK_ERRMSG_MAX] = "";
  rc = cli_close_sink(sink, seen, &late_signal, werr);
  sink = NULL;
  struct scheduler_stats *st = malloc(sizeof(*st));
  int interrupted = late_signal, sink_failed = 0;
  for (int i = 0; i < nloops; i++) {
    if (loops[i].s.interrupted)
      interrupted = loops[i].s.interrupted;
    sink_failed |= loops[i].s.sink_failed;
    if (st && i == 0)
      *st = loops[0].s.stats;
    else if (st)
      scheduler_stats_merge(st, &loops[i].s.stats);
  }
  if (!fc->quiet && st)
    cli_print_summary(st, stderr);

  if (in_err) {
    fprintf(stderr, "spate fetch: reading input failed: %s\n",
            strerror(in_err));
    code = CLI_EXIT_INPUT;
  } else if (rc || sink_failed) {
    if (rc != -EPIPE)
      fprintf(stderr, "spate fetch: writing results failed: %s\n",
              werr[0] ? werr : strerror(rc ? -rc : EIO));
    code = CLI_EXIT_OUTPUT;
  } else if (interrupted) {
    code = 128 + interrupted;
  } else if (st) {
    code = st->failed ? CLI_EXIT_SOME_FAILED : CLI_EXIT_OK;
  }
  free(st);
out:
  live_stop(live);
  if (sink)
    sink_close(sink);
  if (in)
    input_close(in);
  for (int i = 0; loops && i < nloops; i++) {
    struct run_loop *l = &loops[i];
    if (l->have_sched)
      scheduler_free(&l->s);
    if (l->have_loop) {
      uv_run(&l->loop, UV_RUN_NOWAIT);
      uv_loop_close(&l->loop);
    }
  }
  free(loops);
  free(sh);
  return code;
}

void cli_request_stop(void *arg)
{
  struct scheduler_shared *sh = arg;
  for (int i = 0; i < sh->nloops; i++)
    scheduler_request_stop(sh->loops[i]);
}

int cli_fetch(int argc, char **argv)
{
  struct fetch_cli fc;
  cli_defaults(&fc, "fetch");
  if (extract_spec_init(&fc.ex)) {
    fprintf(stderr, "spate fetch: cannot initialise SHA-256\n");
    return CLI_EXIT_INTERNAL;
  }
  int code = cli_parse(&fc, argc, argv);
  if (code >= 0)
    goto out;
  /* Several loops split the caps between them. A per-host rate or a
   * per-host cap smaller than the loop count could not be split exactly,
   * and politeness comes first: fewer loops then. */
  if (fc.so.rate > 0)
    fc.loops = 1;
  if (fc.loops > fc.so.per_host)
    fc.loops = fc.so.per_host;
  if (fc.loops > fc.so.concurrency)
    fc.loops = fc.so.concurrency;
  char **args = argv + optind;
  int nargs = argc - optind;
  if (nargs == 0 && !fc.input_path) {
    if (isatty(0)) {
      fprintf(stderr, "spate fetch: no URLs: give them as arguments, with "
                      "-i FILE, or on stdin (see --help)\n");
      code = CLI_EXIT_USAGE;
      goto out;
    }
    fc.input_path = "-";
  }
  code = cli_jar_open(&fc);
  if (code >= 0)
    goto out;
  code = run_fetch(&fc, args, nargs);
out:
  code = cli_jar_close(&fc, code);
  extract_spec_free(&fc.ex);
  return code;
}
