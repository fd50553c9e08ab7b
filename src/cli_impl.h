/* cli_impl: what the commands (cli.c: fetch; cli_crawl.c: crawl, search,
 * demo) share — the options of the engine, the run of its loops with the
 * progress line, closing the output, the summary. Internal to cli*.c. */
#ifndef SPATE_CLI_IMPL_H
#define SPATE_CLI_IMPL_H

#include "cookies.h"
#include "extract.h"
#include "frontier.h"
#include "input.h"
#include "scheduler.h"
#include "scope.h"
#include "sink.h"

#include <stdio.h>
#include <uv.h>

#define CLI_MAX_PATTERNS 64
#define CLI_MAX_HEADERS 64
#define CLI_HEADER_MAX 8192

/* A crawl's own options (spate crawl). */
struct crawl_cli {
  struct scope_options scope;
  const char *include[CLI_MAX_PATTERNS];
  const char *exclude[CLI_MAX_PATTERNS];
  const char *scope_arg; /* as given, for the crawl's identity */
  long long max_pages;   /* <= 0: none */
  int max_depth_given;   /* --max-depth on the command line: exact levels */
};

struct fetch_cli {
  const char *cmd; /* "fetch", "crawl": messages and accepted options */
  struct scheduler_options so;
  struct extract_spec ex;
  const char *input_path;
  const char *output;
  int quiet;
  int progress; /* -1 auto (a terminal), 0 off, 1 on */
  int loops;    /* event loops, one per core by default */
  struct crawl_cli crawl;
  const char *dashboard; /* --dashboard [ADDR:]PORT, or NULL */
  /* spate demo on a terminal: the dashboard stays up after the job until
   * Ctrl-C, so there is time to look at it. */
  int linger;
  struct curl_slist *headers;       /* -H, in order */
  struct curl_slist *headers_cross; /* less Authorization and Cookie */
  int nheaders;
  const char *cookie_file; /* -b FILE */
  const char *cookie_jar;  /* --cookie-jar FILE */
  int cookies;             /* the cookie engine: -1 the command's default */
  struct cookies jar;
  int have_jar;
};

/* One loop of a run and the thread that drives it. */
struct run_loop {
  uv_loop_t loop;
  struct scheduler s;
  uv_thread_t thread;
  int have_loop, have_sched, have_thread;
  int done;             /* scheduler_run has returned (atomic) */
  uv_async_t *finished; /* the control loop's, when there is one */
};

/* Opens the run's cookie jar when fc asks for one (a crawl does unless
 * --no-cookies) and points fc->so.fetch at it and at the -H list. -1 to
 * go on, or an exit code (its message printed). */
int cli_jar_open(struct fetch_cli *fc);
/* Saves the jar if --cookie-jar asked, frees it and the -H list, after
 * every curl handle is gone. Returns code, or CLI_EXIT_OUTPUT when the
 * jar could not be written. */
int cli_jar_close(struct fetch_cli *fc, int code);
/* Fills fc with the defaults of command cmd ("fetch" or "crawl"). */
void cli_defaults(struct fetch_cli *fc, const char *cmd);
/* Parses options into fc (crawl options only when fc->cmd is "crawl").
 * Returns -1 to go on, or an exit code (help printed, or a bad option). */
int cli_parse(struct fetch_cli *fc, int argc, char **argv);
int cli_bad(const char *cmd, const char *opt, const char *val,
            const char *want);
int cli_int_arg(const char *s, long lo, long hi, int *out);
/* Loop i's share of a run-wide cap, at least 1. */
int cli_share(int total, int nloops, int i);
/* Runs the loops: one on this thread, or several on threads of their own
 * while this one keeps the progress line (on in's or fr's counts). */
void cli_run_loops(struct run_loop *loops, int nloops,
                   struct scheduler_shared *sh, struct input *in,
                   struct frontier *fr, int show);
/* Closes sink on a thread while watching SIGINT/SIGTERM (signals: how
 * many the run saw already). Returns sink_close's result, with its
 * message in msg ("" when none); *signum is a signal that came in
 * meanwhile, or 0. */
int cli_close_sink(struct sink *sink, int signals, int *signum,
                   char msg[SINK_ERRMSG_MAX]);
void cli_usage_crawl(FILE *out);
/* The dashboard's Stop (arg: the run's scheduler_shared). */
void cli_request_stop(void *shared);
void cli_print_summary(const struct scheduler_stats *st, FILE *out);

#endif
