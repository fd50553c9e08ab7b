/* The crawl-side commands: spate crawl, spate search, spate demo. */
#include "cli.h"

#include "cli_impl.h"
#include "failpoint.h"
#include "live.h"
#include "origin.h"
#include "result.h"
#include "search.h"
#include "sink.h"
#include "sink_impl.h"
#include "url.h"
#include "urlnorm.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The robots.txt product token spate answers to. */
#define ROBOTS_AGENT "spate"
#define DEFAULT_STORE "crawl.db"
#define CRAWL_MAX_URL_LEN 2048 /* a crawl's --max-url-length default */

static const char *const drop_names[CRAWL_DROP_N] = {
    "out of scope",     "excluded",        "past max depth",
    "trap: long URL",   "trap: deep path", "trap: repeated segment",
    "trap: long query", "not http(s)",     "nofollow",
};

/* A value of the identity as typed, but '%' and ';' as %25 and %3B: the
 * fields are joined with "; ", so a pattern holding "; exclude=x" must not
 * read as a field of its own. Values without either (almost all) are as
 * they were, so stores made before this still resume. */
static void put_value(FILE *f, const char *v)
{
  for (; *v; v++)
    if (*v == '%')
      fputs("%25", f);
    else if (*v == ';')
      fputs("%3B", f);
    else
      fputc(*v, f);
}

/* The crawl's identity: what must be the same to resume it. Seeds are
 * normalised keys: they hold no space, so no "; ". */
static char *identity(const struct crawl_cli *cc, char **keys, int nkeys)
{
  struct {
    char *p;
    size_t n;
  } m = {0};
  FILE *f = open_memstream(&m.p, &m.n);
  if (!f)
    return NULL;
  fputs("seeds=", f);
  for (int i = 0; i < nkeys; i++)
    fprintf(f, "%s%s", i ? " " : "", keys[i]);
  fputs("; scope=", f);
  put_value(f, cc->scope_arg ? cc->scope_arg : "host");
  fprintf(f, "; max-depth=%d", cc->scope.max_depth);
  for (int i = 0; i < cc->scope.ninclude; i++) {
    fputs("; include=", f);
    put_value(f, cc->include[i]);
  }
  for (int i = 0; i < cc->scope.nexclude; i++) {
    fputs("; exclude=", f);
    put_value(f, cc->exclude[i]);
  }
  /* These change which links are followed too; written only when not the
   * default, so the identities of crawls without them read as before. */
  if (cc->scope.max_url_len != CRAWL_MAX_URL_LEN)
    fprintf(f, "; max-url-length=%zu", cc->scope.max_url_len);
  if (cc->scope.allow_private)
    fputs("; allow-private", f);
  if (fclose(f)) {
    free(m.p);
    return NULL;
  }
  return m.p;
}

static void print_crawl_summary(const struct frontier_stats *fs,
                                const struct scheduler_stats *st,
                                const char *path, FILE *out)
{
  fprintf(out, "  hosts: %llu (robots.txt fetched from each)\n",
          (unsigned long long)st->robots_fetched);
  if (fs->hosts_waited)
    fprintf(out,
            "  hosts held at once: %lld, the most the store's writer keeps; "
            "%lld hosts waited in the store for their turn\n",
            (long long)fs->hosts_held_max, (long long)fs->hosts_waited);
  fprintf(out,
          "  crawl: %lld pages stored this run, %lld in %s (%lld earlier); "
          "%lld left to crawl; %lld new URLs found in %lld links\n",
          (long long)fs->stored, (long long)fs->done, path,
          (long long)fs->resumed_done,
          (long long)(fs->queued + fs->in_flight + fs->retry_later),
          (long long)fs->discovered, (long long)fs->links);
  if (fs->retry_later)
    fprintf(out,
            "  %lld URLs failed for their host's sake (its breaker open, or "
            "its robots.txt unavailable): the next run fetches them again\n",
            (long long)fs->retry_later);
  int any = 0;
  for (int i = 0; i < CRAWL_DROP_N; i++)
    if (fs->drops[i]) {
      fprintf(out, "%s%s %lld",
              any ? ", " : "  links not followed: ", drop_names[i],
              (long long)fs->drops[i]);
      any = 1;
    }
  if (any)
    fputc('\n', out);
  if (fs->requeued)
    fprintf(out,
            "  resumed: %lld URLs in flight when the last run ended "
            "were queued again\n",
            (long long)fs->requeued);
  if (fs->requeued_retry)
    fprintf(out,
            "  resumed: %lld URLs that failed for their host's sake in the "
            "last run were queued again\n",
            (long long)fs->requeued_retry);
}

static uint64_t errors_of(const struct scheduler_stats *st, const char *code)
{
  for (int i = 0; i < st->nerrors; i++)
    if (strcmp(st->errors[i].code, code) == 0)
      return st->errors[i].n;
  return 0;
}

static void on_wait_signal(uv_signal_t *sig, int signum)
{
  (void)signum;
  uv_stop(sig->loop);
}

/* Blocks until SIGINT or SIGTERM. */
static void wait_for_signal(void)
{
  uv_loop_t loop;
  uv_signal_t si, st;
  if (uv_loop_init(&loop))
    return;
  uv_signal_init(&loop, &si);
  uv_signal_init(&loop, &st);
  uv_signal_start(&si, on_wait_signal, SIGINT);
  uv_signal_start(&st, on_wait_signal, SIGTERM);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&si, NULL);
  uv_close((uv_handle_t *)&st, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
  uv_loop_close(&loop);
}

/* Crawls from the seeds (as given) into fc->output. */
static int run_crawl(struct fetch_cli *fc, char **seeds, int nseeds)
{
  struct crawl_cli *cc = &fc->crawl;
  const char *path = fc->output ? fc->output : DEFAULT_STORE;
  int code = CLI_EXIT_INTERNAL, rc;
  char **keys = calloc((size_t)nseeds, sizeof(*keys));
  char **cred = calloc((size_t)nseeds, sizeof(*cred));
  char *ident = NULL;
  struct scope *sc = NULL;
  struct frontier *fr = NULL;
  struct sink *sink = NULL;
  struct scheduler_shared *sh = calloc(1, sizeof(*sh));
  struct run_loop *loop = calloc(1, sizeof(*loop));
  struct live *live = NULL;
  struct extract_spec ex;
  struct netguard_env proxies;
  int have_proxies = 0;
  char err[256];
  int have_ex = extract_spec_init(&ex) == 0;
  if (!keys || !cred || !sh || !loop || !have_ex)
    goto out;
  for (int i = 0; i < nseeds; i++) {
    const char *why;
    keys[i] = urlnorm_normalize(seeds[i], NULL, &why);
    if (!keys[i]) {
      fprintf(stderr, "spate crawl: seed '%s': %s\n", seeds[i], why);
      code = CLI_EXIT_USAGE;
      goto out;
    }
    if (!(cred[i] = url_hostkey(keys[i])))
      goto out;
  }
  cc->scope.include = cc->include;
  cc->scope.exclude = cc->exclude;
  cc->scope.max_url_len = fc->so.max_url_len;
  if (scope_new(&sc, &cc->scope, (const char *const *)keys, nseeds, err,
                sizeof(err))) {
    fprintf(stderr, "spate crawl: %s\n", err);
    code = CLI_EXIT_USAGE;
    goto out;
  }
  if (!(ident = identity(cc, keys, nseeds)))
    goto out;

  atomic_init(&sh->live, 0);
  sh->live_cap = (uint64_t)fc->so.concurrency + (uint64_t)fc->so.backlog;
  struct frontier_options fo = {
      .path = path,
      .seeds = (const char *const *)keys,
      .nseeds = nseeds,
      .identity = ident,
      .max_pages = cc->max_pages,
      /* Half the jobs the loops may hold: one slow host leaves the other
       * half to the rest. */
      .host_cap =
          (int64_t)sh->live_cap / 2 > 0 ? (int64_t)sh->live_cap / 2 : 1,
      .exact_depth = cc->max_depth_given,
      .notify = scheduler_notify,
      .notify_arg = sh,
  };
  fo.fail_host_every = failpoint_every("SPATE_TEST_FAIL_HOST");
  /* Testing aid: a small host set, to see hosts wait in the store. */
  fo.hosts_max = failpoint_every("SPATE_TEST_HOSTS_MAX");
  rc = frontier_open(&fr, &fo, err);
  if (rc) {
    fprintf(stderr, "spate crawl: %s\n", err);
    code = CLI_EXIT_INPUT;
    goto out;
  }
  if (frontier_complete(fr) && !fc->quiet)
    fprintf(stderr, "spate crawl: %s: this crawl is already complete\n", path);
  struct sink_options sopt = {
      .queue_cap = (int)sh->live_cap + 16,
      .write_max = 64,
      .on_written = scheduler_written,
      .arg = sh,
      .format_arg = fr,
  };
  char serr[SINK_ERRMSG_MAX];
  rc = sink_open_format(&sink, &frontier_sink_format, path, &sopt, serr);
  if (rc) {
    fprintf(stderr, "spate crawl: %s\n", serr);
    code = CLI_EXIT_INPUT;
    goto out;
  }

  if (fc->dashboard) {
    char lerr[256], name[300];
    snprintf(name, sizeof(name), "crawl of %s%s", keys[0],
             nseeds > 1 ? " and more" : "");
    struct live_options lo = {
        .addr = fc->dashboard,
        .reserve_fds = fc->so.concurrency,
        .job_kind = "crawl",
        .job_name = name,
        .nloops = 1,
        .fr = fr,
        .sink = sink,
        .stop = cli_request_stop,
        .stop_arg = sh,
    };
    if (live_start(&live, &lo, fc->quiet, lerr)) {
      fprintf(stderr, "spate crawl: --dashboard %s: %s\n", fc->dashboard,
              lerr);
      code = CLI_EXIT_USAGE;
      goto out;
    }
  }
  ex.crawl = sc;
  struct scheduler_options o = fc->so;
  o.extract = &ex;
  o.crawl = 1;
  o.robots_agent = ROBOTS_AGENT;
  o.private_ok = scope_private_ok;
  o.private_arg = sc;
  /* A proxy the user named may be on a private address (and it, not
   * spate, then connects to the page's host). */
  netguard_env_read(&proxies);
  have_proxies = 1;
  o.fetch.proxies = &proxies;
  /* -H credentials and -b cookies go to the seeds' own hosts only: a
   * link or redirect elsewhere is somebody else's site. */
  o.cred_hosts = (const char *const *)cred;
  o.ncred_hosts = nseeds;
  /* A page of up to 16 KiB (text, title, links normalised) costs tens of
   * microseconds: less on the loop than handing it to the thread pool and
   * back, whose wake-ups and context switches cost more CPU than they
   * save while the store writer keeps a core busy (20,000 pages of 6.6 KB
   * from nginx on 2 cores, 4 alternating runs each: 2.50-2.75 s and 3.8
   * CPU s inline, 2.57-2.92 s and 4.1 CPU s through the pool). A larger page,
   * whose links may number in the thousands, goes to the pool so the loop
   * never stalls on it. */
  o.inline_extract_max = 16 << 10;
  o.max_redirects = 5; /* robots.txt only (RFC 9309: at least five) */
  if (live) {
    o.observe = live_observe;
    o.observe_arg = live_observe_arg(live, 0);
  }
  /* One loop: per-host state (robots.txt, Crawl-delay, the rate) stays
   * exact without sharding hosts between loops, and the store writer, not
   * the loop, is the crawl's ceiling. */
  if (uv_loop_init(&loop->loop))
    goto out;
  loop->have_loop = 1;
  struct scheduler_source src = {frontier_next, frontier_stop, fr};
  if (scheduler_init(&loop->s, &loop->loop, &o, &src, sink, sh)) {
    fprintf(stderr, "spate crawl: cannot start the engine\n");
    goto out;
  }
  loop->have_sched = 1;
  int show = fc->progress < 0 ? isatty(2) && !fc->quiet : fc->progress;
  live_set_state(live, "running");
  cli_run_loops(loop, 1, sh, NULL, fr, show);
  /* The dashboard's last tick, then it goes: it reads the frontier and
   * the sink, which are closed next. */
  live_set_state(live, sink_error(sink)      ? "failed"
                       : loop->s.interrupted ? "stopped"
                                             : "done");
  if (live && fc->linger && !loop->s.interrupted) {
    fprintf(stderr,
            "spate demo: the crawl is done; the dashboard stays at "
            "http://127.0.0.1:%d/ until Ctrl-C\n",
            live_port(live));
    wait_for_signal();
  }
  live_stop(live);
  live = NULL;

  int late_signal;
  char werr[SINK_ERRMSG_MAX] = "";
  rc = cli_close_sink(sink, loop->s.nsignals, &late_signal, werr);
  sink = NULL;
  struct frontier_stats fs;
  frontier_get_stats(fr, &fs);
  int crc = frontier_close(fr, err);
  fr = NULL;
  if (crc && !rc) {
    fprintf(stderr, "spate crawl: closing %s: %s\n", path, err);
    rc = crc;
  }
  const struct scheduler_stats *st = &loop->s.stats;
  int interrupted = loop->s.interrupted ? loop->s.interrupted : late_signal;
  if (!fc->quiet) {
    cli_print_summary(st, stderr);
    print_crawl_summary(&fs, st, path, stderr);
  }

  if (rc || loop->s.sink_failed) {
    fprintf(stderr, "spate crawl: writing %s failed: %s\n", path,
            werr[0] ? werr : strerror(rc ? -rc : EIO));
    code = CLI_EXIT_OUTPUT;
  } else if (interrupted) {
    if (!fc->quiet)
      fprintf(stderr, "spate crawl: interrupted; run the same command "
                      "again to resume\n");
    code = 128 + interrupted;
  } else {
    /* Pages robots.txt keeps us from are the crawl being polite, not a
     * failure. */
    code = st->failed > errors_of(st, ERR_ROBOTS) || fs.retry_later
               ? CLI_EXIT_SOME_FAILED
               : CLI_EXIT_OK;
  }
out:
  live_stop(live);
  if (sink)
    sink_close(sink);
  frontier_close(fr, err);
  if (loop && loop->have_sched)
    scheduler_free(&loop->s);
  if (loop && loop->have_loop) {
    uv_run(&loop->loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop->loop);
  }
  free(loop);
  free(sh);
  scope_free(sc);
  free(ident);
  for (int i = 0; keys && i < nseeds; i++)
    free(keys[i]);
  free(keys);
  for (int i = 0; cred && i < nseeds; i++)
    free(cred[i]);
  free(cred);
  if (have_ex)
    extract_spec_free(&ex);
  if (have_proxies)
    netguard_env_free(&proxies);
  return code;
}

static void crawl_defaults(struct fetch_cli *fc)
{
  cli_defaults(fc, "crawl");
  fc->crawl.scope.kind = SCOPE_HOST;
  fc->crawl.scope.max_depth = 100;
  fc->so.max_url_len = CRAWL_MAX_URL_LEN;
  fc->so.max_crawl_delay_ms = 30000;
}

int cli_crawl(int argc, char **argv)
{
  struct fetch_cli fc;
  crawl_defaults(&fc);
  int code = cli_parse(&fc, argc, argv);
  if (code >= 0)
    return cli_jar_close(&fc, code);
  int nseeds = argc - optind;
  if (nseeds == 0) {
    fprintf(stderr, "spate crawl: no seed URL (see --help)\n");
    return cli_jar_close(&fc, CLI_EXIT_USAGE);
  }
  code = cli_jar_open(&fc);
  if (code < 0)
    code = run_crawl(&fc, argv + optind, nseeds);
  return cli_jar_close(&fc, code);
}

/* ---- search --------------------------------------------------------- */

static void search_usage(void)
{
  puts("usage: spate search [--json] [-n N] [-m TIME] STORE QUERY\n"
       "Ranked full-text search over a crawl store (spate crawl -o "
       "STORE).\nQUERY is FTS5 syntax: words (all must match), "
       "\"a phrase\", OR, NOT,\nprefix*, title:word, NEAR(a b, 5), "
       "-title:word (not in the title; any argument\nthat is not an "
       "option below is STORE or QUERY).\n\n"
       "  -n, --limit N      results to show (10)\n"
       "  -m, --max-time T   give up ranking after T (10s; 250ms, 1m...)\n"
       "      --json         one JSON object per result: rank, url, title,\n"
       "                     snippet, score\n\n"
       "Exit status: 0 results found, 1 none, 2 usage or bad query, 3 "
       "the\nstore could not be read.");
}

/* Whether argv[*i] is the option short_opt or long_opt: its value is the
 * next argument (*i moves past it), follows "long_opt=", or with attached
 * set follows short_opt itself ("-n5"). *val is NULL when it is missing. */
static int value_opt(int argc, char **argv, int *i, const char *short_opt,
                     const char *long_opt, int attached, const char **val)
{
  const char *a = argv[*i];
  size_t sl = strlen(short_opt), ll = strlen(long_opt);
  if (!strcmp(a, short_opt) || !strcmp(a, long_opt)) {
    *val = *i + 1 < argc ? argv[++*i] : NULL;
    return 1;
  }
  if (!strncmp(a, long_opt, ll) && a[ll] == '=')
    *val = a + ll + 1;
  else if (attached && !strncmp(a, short_opt, sl) && a[sl])
    *val = a + sl;
  else
    return 0;
  return 1;
}

int cli_search(int argc, char **argv)
{
  int json = 0, limit = 10;
  long long max_ms = 0;
  /* A query may start with '-' ("-title:river": NOT in the title, FTS5's
   * column filter), so only search's own options are options, read here
   * by hand (getopt would take "-title:river" for -t -i ...); anything
   * else, dashed or not, is STORE or QUERY. */
  const char *pos[2], *unknown = NULL;
  int npos = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *n = NULL, *t = NULL;
    if (!strcmp(a, "--")) {
      for (i++; i < argc; i++)
        if (npos++ < 2)
          pos[npos - 1] = argv[i];
    } else if (!strcmp(a, "--json")) {
      json = 1;
    } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      search_usage();
      return CLI_EXIT_OK;
    } else if (value_opt(argc, argv, &i, "-n", "--limit", 1, &n) ||
               value_opt(argc, argv, &i, "-m", "--max-time", 0, &t)) {
      if (!n && !t) {
        fprintf(stderr, "spate search: %s needs a value (see --help)\n", a);
        return CLI_EXIT_USAGE;
      }
    } else {
      if (a[0] == '-' && a[1] && !unknown)
        unknown = a;
      if (npos++ < 2)
        pos[npos - 1] = a;
    }
    if (n && cli_int_arg(n, 1, 100000, &limit))
      return cli_bad("search", "--limit", n, "want 1..100000");
    if (t && ((max_ms = cli_parse_duration_ms(t)) < 1 || max_ms > 86400000))
      return cli_bad("search", "--max-time", t,
                     "want a time from 1ms to 1d, such as 30s");
  }
  if (npos != 2) {
    if (unknown)
      fprintf(stderr,
              "spate search: want STORE and QUERY; '%s' is not an option "
              "(see --help)\n",
              unknown);
    else
      fprintf(stderr, "spate search: want STORE and QUERY (see --help)\n");
    return CLI_EXIT_USAGE;
  }
  const char *store_path = pos[0];
  const char *query = pos[1];
  char err[256];
  int n =
      search_query(store_path, query, limit, json, (int)max_ms, stdout, err);
  if (n < 0) {
    fprintf(stderr, "spate search: %s\n", err);
    int usage = n == -EINVAL && (strncmp(err, "bad query", 9) == 0 ||
                                 strcmp(err, "empty query") == 0);
    return usage ? CLI_EXIT_USAGE : CLI_EXIT_INPUT;
  }
  if (fflush(stdout)) {
    fprintf(stderr, "spate search: writing results failed: %s\n",
            strerror(errno));
    return CLI_EXIT_OUTPUT;
  }
  return n > 0 ? CLI_EXIT_OK : CLI_EXIT_SOME_FAILED;
}

/* ---- demo ----------------------------------------------------------- */

/* The origin runs on a loop and thread of its own, beside the crawl's
 * loop: two engines in one process sharing nothing. */
struct demo_origin {
  uv_loop_t loop;
  uv_async_t stop;
  struct origin *origin;
  uv_thread_t thread;
};

static void demo_origin_stop(uv_async_t *a)
{
  struct demo_origin *d = a->data;
  origin_stop(d->origin, NULL, NULL);
  uv_close((uv_handle_t *)&d->stop, NULL);
}

static void demo_origin_main(void *arg)
{
  struct demo_origin *d = arg;
  uv_run(&d->loop, UV_RUN_DEFAULT);
}

int cli_demo(int argc, char **argv, const char *prog)
{
  struct fetch_cli fc;
  struct demo_origin d;
  int pages = 20000, code = CLI_EXIT_INTERNAL;
  crawl_defaults(&fc);
  fc.output = "demo.db";
  fc.so.per_host = 64;
  fc.dashboard = "127.0.0.1:0";
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--pages") == 0 && i + 1 < argc) {
      if (cli_int_arg(argv[++i], 1, 1000000, &pages))
        return cli_bad("demo", "--pages", argv[i], "want 1..1000000");
    } else if ((strcmp(argv[i], "-o") == 0 ||
                strcmp(argv[i], "--output") == 0) &&
               i + 1 < argc) {
      fc.output = argv[++i];
    } else if (strcmp(argv[i], "--dashboard") == 0 && i + 1 < argc) {
      char host[64];
      int port;
      if (live_parse_addr(argv[++i], host, &port))
        return cli_bad("demo", "--dashboard", argv[i], "want [ADDR:]PORT");
      fc.dashboard = argv[i];
    } else if (strcmp(argv[i], "--no-dashboard") == 0) {
      fc.dashboard = NULL;
    } else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
      fc.quiet = 1;
    } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      puts("usage: spate demo [--pages N] [-o demo.db] [--dashboard "
           "[ADDR:]PORT | --no-dashboard] [-q]\n"
           "Starts the synthetic origin on 127.0.0.1 (N pages, 20000), "
           "crawls it\ninto demo.db (replaced) with the live dashboard "
           "(127.0.0.1, a free port),\nand prints the summary and what to "
           "try next. On a terminal the dashboard\nstays up after the crawl "
           "until Ctrl-C.");
      return 0;
    } else {
      fprintf(stderr, "spate demo: unknown option '%s'\n", argv[i]);
      return CLI_EXIT_USAGE;
    }
  }

  struct origin_options oo;
  origin_options_init(&oo);
  oo.pages = pages;
  oo.quiet = 1;
  if (uv_loop_init(&d.loop))
    return code;
  if (origin_start(&d.origin, &d.loop, &oo)) {
    fprintf(stderr, "spate demo: cannot start the origin\n");
    uv_loop_close(&d.loop);
    return code;
  }
  uv_async_init(&d.loop, &d.stop, demo_origin_stop);
  d.stop.data = &d;
  int port = origin_port(d.origin);
  if (uv_thread_create(&d.thread, demo_origin_main, &d)) {
    origin_stop(d.origin, NULL, NULL);
    uv_close((uv_handle_t *)&d.stop, NULL);
    uv_run(&d.loop, UV_RUN_DEFAULT);
    uv_loop_close(&d.loop);
    return code;
  }
  /* The demo's store is its own: start it afresh each run. */
  static const char *const sfx[] = {"", "-wal", "-shm"};
  for (int i = 0; i < 3; i++) {
    char path[4096];
    snprintf(path, sizeof(path), "%s%s", fc.output, sfx[i]);
    unlink(path);
  }
  char seed[64];
  snprintf(seed, sizeof(seed), "http://127.0.0.1:%d/", port);
  char *seeds[] = {seed};
  if (!fc.quiet)
    fprintf(stderr, "spate demo: origin on %s (%d pages), crawling into %s\n",
            seed, pages, fc.output);
  fc.linger = isatty(2) && !fc.quiet;
  code = cli_jar_open(&fc);
  if (code < 0)
    code = run_crawl(&fc, seeds, 1);
  code = cli_jar_close(&fc, code);
  if (!fc.quiet && code <= CLI_EXIT_SOME_FAILED)
    fprintf(stderr,
            "spate demo: the crawl is in %s; try\n"
            "  %s search %s 'quiet harbor'\n"
            "  sqlite3 %s 'select status, error, count(*) from pages group "
            "by 1, 2'\n",
            fc.output, prog, fc.output, fc.output);
  uv_async_send(&d.stop);
  uv_thread_join(&d.thread);
  uv_loop_close(&d.loop);
  return code;
}
