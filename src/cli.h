/* cli: the command line — options, the progress line, the summary and the
 * exit code. The only module that prints to the terminal. */
#ifndef SPATE_CLI_H
#define SPATE_CLI_H

#define CLI_VERSION "0.1.0"

/* Exit codes (docs/spate.1, EXIT STATUS). */
enum {
  CLI_EXIT_OK = 0,          /* every URL fetched without error */
  CLI_EXIT_SOME_FAILED = 1, /* finished; some results carry an error */
  CLI_EXIT_USAGE = 2,       /* bad option or argument */
  CLI_EXIT_INPUT = 3,       /* input or output could not be opened/read */
  CLI_EXIT_OUTPUT = 4,      /* writing results failed mid-run */
  CLI_EXIT_INTERNAL = 5,    /* could not set up the engine */
};

int cli_fetch(int argc, char **argv);
int cli_crawl(int argc, char **argv);
int cli_search(int argc, char **argv);
/* prog: how the user ran spate (main's argv[0]), for the hints printed
 * at the end. */
int cli_demo(int argc, char **argv, const char *prog);
/* Parses "2", "2.5", "2s", "500ms", "5m", "1h", "1d" into milliseconds
 * (at most a week); -1 when invalid. */
long long cli_parse_duration_ms(const char *s);
/* Parses "1000", "64k", "10M", "1G" (powers of 1024); -1 when invalid. */
long long cli_parse_size(const char *s);

#endif
