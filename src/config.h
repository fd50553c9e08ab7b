/* config: the `spate serve` configuration file (YAML, read with libyaml).
 *
 * The format, with every key, is examples/spate.yaml (commented). In
 * short:
 *
 *   listen: 127.0.0.1:8080      # the dashboard and API ([ADDR:]PORT)
 *   store: serve.db             # SQLite file for the items
 *   sources:
 *     - name: weather           # [A-Za-z0-9_-]{1,64}, unique
 *       kind: json              # json | feed | websocket
 *       url: http://127.0.0.1:9000/weather.json
 *       interval: 5s            # json and feed: poll period (100ms..1d)
 *       timeout: 10s            # per request (default 10s)
 *       retries: 2              # transient failures, with backoff (2)
 *       fields:                 # json and websocket: name -> JSON pointer
 *         temp: /current/temp
 *       enabled: true           # false: configured but stopped
 *
 * Errors name the file, the line and column, and what is wrong
 * ("spate.yaml:12:5: source 'x': interval: want a duration such as 5s").
 * Unknown keys are errors (a typo must not be silently ignored).
 * Durations take the forms of cli_parse_duration_ms ("2", "2.5s",
 * "500ms"). */
#ifndef SPATE_CONFIG_H
#define SPATE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

enum source_kind { SOURCE_JSON, SOURCE_FEED, SOURCE_WEBSOCKET };

#define CONFIG_MAX_SOURCES 1024
#define CONFIG_MAX_FIELDS 64
#define CONFIG_MAX_HEADERS 32
#define CONFIG_HEADER_MAX 8192

struct config_field {
  char *name;    /* [A-Za-z0-9_.-]{1,64} */
  char *pointer; /* RFC 6901, "" or starting with '/' */
};

struct config_source {
  char *name;
  enum source_kind kind;
  char *url;            /* http(s) for json/feed, ws(s) for websocket */
  uint64_t interval_ms; /* json/feed; default 60 s */
  uint64_t timeout_ms;  /* default 10 s */
  int retries;          /* default 2, 0..10 */
  int enabled;          /* default 1 */
  struct config_field *fields;
  int nfields;
  /* headers: "Name: value" lines sent with every poll of a json or feed
   * source, and with a websocket source's upgrade request (an API token);
   * never shown by the API or the dashboard. */
  char **headers;
  int nheaders;
  int line; /* where it is defined, for messages */
};

struct config {
  char *listen; /* default "127.0.0.1:8080" */
  char *store;  /* default "serve.db" */
  struct config_source *sources;
  int nsources;
};

/* Reads and checks path. Returns 0 and fills *out (free with
 * config_free), or -1 with a one-line message in err. */
int config_load(struct config *out, const char *path, char *err,
                size_t errlen);
/* The same from a buffer (name is used in messages); for tests and
 * fuzzing. */
int config_parse(struct config *out, const char *text, size_t len,
                 const char *name, char *err, size_t errlen);
void config_free(struct config *c);
/* The source called name, or NULL. */
const struct config_source *config_find(const struct config *c,
                                        const char *name);
/* Whether two sources are configured the same (SIGHUP: unchanged sources
 * keep running; changed ones restart). */
int config_source_equal(const struct config_source *a,
                        const struct config_source *b);

#endif
