/* spate: fetch, crawl and stream the web concurrently. */
#include "cli.h"
#include "origin.h"
#include "serve.h"

#include <curl/curl.h>
#include <sqlite3.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#ifdef SPATE_JEMALLOC
/* jemalloc's options, read once at its start (docs/ARCHITECTURE.md,
 * "Memory allocator"); MALLOC_CONF in the environment overrides them.
 * Freed pages go back to the kernel after 1 s rather than 10: at 10,000
 * transfers in flight the default kept ~25 MB more resident at the peak,
 * and the crawl and fetch benches do not tell the two apart. Not engine
 * state: a constant the allocator reads. */
const char *malloc_conf = "dirty_decay_ms:1000";
#endif

static void usage(FILE *out)
{
  fputs("usage: spate COMMAND [OPTIONS]\n\n"
        "commands:\n"
        "  fetch [URL...] [-i FILE]   fetch a list of URLs, one result each\n"
        "  crawl SEED... [-o FILE.db]  follow links within a scope into a "
        "store\n"
        "  search STORE QUERY         ranked full-text search of a crawl "
        "store\n"
        "  serve CONFIG               sources polled and streamed live, "
        "with a dashboard\n"
        "  origin                     a synthetic test website on loopback\n"
        "  demo                       origin + crawl of it into demo.db\n\n"
        "'spate COMMAND --help' describes a command; man spate (docs/spate.1)"
        " the rest.\n",
        out);
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 ||
      strcmp(cmd, "help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
    printf("spate %s (%s)\n", CLI_VERSION, curl_version());
    return 0;
  }
  /* libcurl converts international host names with libidn2, which reads
   * them in the locale's encoding: without a UTF-8 locale every such host
   * would fail. Only the character type is set; nothing spate prints
   * depends on it. */
  if (!setlocale(LC_CTYPE, "C.UTF-8"))
    setlocale(LC_CTYPE, "");
  /* A closed stdout must be an error return from write, not a kill. */
  signal(SIGPIPE, SIG_IGN);
  /* SQLite's memory statistics take a process-wide mutex on every
   * allocation; nothing reads them. Must precede sqlite3_initialize. */
  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    fputs("spate: cannot initialise libcurl\n", stderr);
    return CLI_EXIT_INTERNAL;
  }
  int rc;
  if (strcmp(cmd, "fetch") == 0) {
    rc = cli_fetch(argc - 1, argv + 1);
  } else if (strcmp(cmd, "crawl") == 0) {
    rc = cli_crawl(argc - 1, argv + 1);
  } else if (strcmp(cmd, "search") == 0) {
    rc = cli_search(argc - 1, argv + 1);
  } else if (strcmp(cmd, "serve") == 0) {
    rc = serve_main(argc - 1, argv + 1);
  } else if (strcmp(cmd, "origin") == 0) {
    rc = origin_main(argc - 1, argv + 1);
  } else if (strcmp(cmd, "demo") == 0) {
    rc = cli_demo(argc - 1, argv + 1, argv[0]);
  } else {
    fprintf(stderr, "spate: unknown command '%s' (see spate --help)\n", cmd);
    rc = CLI_EXIT_USAGE;
  }
  curl_global_cleanup();
  return rc;
}
