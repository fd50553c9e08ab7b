/* sink: the output stage. Results go in from any thread; a writer thread
 * of the sink's own serialises them to JSONL, CSV or SQLite.
 *
 * Between the engine and the writer sits a bounded queue. The engine keeps
 * it from filling by its own accounting (results submitted minus results
 * reported by on_written), so sink_submit blocking on a full queue is a
 * safety net, not the normal path.
 *
 * Output formats and the SQLite schema are the stable contract described in
 * docs/OUTPUT.md. */
#ifndef SPATE_SINK_H
#define SPATE_SINK_H

#include <stddef.h>

struct buf;
struct result;
struct sink;

struct sink_options {
  int batch_rows; /* SQLite rows per transaction; <= 0 means 500 */
  int queue_cap;  /* max results queued; <= 0 means 1024 */
  /* Called ON THE WRITER THREAD each time n results have left the queue
   * and been freed: written, or discarded after a write error. The engine
   * uses it to uv_async_send its loop, so it must be cheap and
   * thread-safe. May be NULL. */
  void (*on_written)(void *arg, size_t n);
  void *arg;
  /* Results handed to the format per write call, at most; <= 0: all
   * that are queued. A slow format (the crawl store) reports progress to
   * on_written in these steps, so the engine refills while it writes. */
  int write_max;
  /* Group commit: when the writer wakes to fewer than gather_min results
   * (<= 0: no gathering), it waits up to gather_us microseconds for more
   * before it writes, unless the sink is closing. Fewer, larger batches
   * mean fewer wake-ups of the writer and of the engine (on_written) and
   * fewer write calls; each result waits at most gather_us longer. */
  int gather_min;
  int gather_us;
  /* For a format given to sink_open_format (sink_impl.h): its state. */
  void *format_arg;
};

#define SINK_ERRMSG_MAX 256

/* Opens the output named by target and starts the writer thread:
 *   NULL or "-"                        JSONL on stdout
 *   "*.csv"                            CSV (RFC 4180), truncated
 *   "*.db", "*.sqlite", "*.sqlite3"    SQLite, rows appended to an existing
 *                                      spate database
 *   "postgres://...", "postgresql://..."  not supported yet: -ENOTSUP
 *   anything else ("*.jsonl", ...)     JSONL file, truncated
 * Suffixes are matched without regard to case. opt may be NULL for the
 * defaults. Returns 0 and sets *out, or a negative errno with *out = NULL
 * and a one-line message in err (which may be NULL). */
int sink_open(struct sink **out, const char *target,
              const struct sink_options *opt, char err[SINK_ERRMSG_MAX]);

/* Hands r to the sink, which owns it from now on. Thread-safe. Blocks while
 * the queue is full. Returns 0, or the sink's sticky error (a negative
 * errno) once writing has failed; then r has been freed at once and is not
 * counted by on_written. */
int sink_submit(struct sink *s, struct result *r);

/* Hands n results over at once: one lock and at most one wake-up of the
 * writer, however many. Same contract as sink_submit. On error the results
 * that were not queued are freed here, their number is in *nfreed, and
 * on_written will never count them; those queued before the error are
 * counted by on_written as usual. */
int sink_submit_many(struct sink *s, struct result **v, size_t n,
                     size_t *nfreed);

/* Writes everything queued, commits, flushes, stops the writer thread,
 * closes the output and frees s (even on error). No sink_submit may run
 * concurrently or afterwards. Returns 0 or the first write error. */
int sink_close(struct sink *s);
/* As sink_close, and copies the error's message (sink_errmsg; "" when
 * none) to msg. */
int sink_close_msg(struct sink *s, char msg[SINK_ERRMSG_MAX]);

/* The first write error so far (negative errno), 0 if none. Thread-safe. */
int sink_error(const struct sink *s);

/* The message that goes with sink_error(), "" while there is none. The
 * string stays valid until sink_close. Thread-safe. */
const char *sink_errmsg(const struct sink *s);

/* As sink_submit, but never waits: -EAGAIN (r freed) when the queue is
 * full, for a caller on an event loop that must not block (spate serve). */
int sink_try_submit(struct sink *s, struct result *r);

/* 1 while the writer is retrying a batch the output refused for a while
 * (a format's write returned -EAGAIN: say, a SQLite store locked by
 * another writer or a full disk), with the reason copied to why; 0 once
 * it is written. Nothing is lost meanwhile: the queue fills and
 * sink_submit waits. Thread-safe. */
int sink_stalled(struct sink *s, char *why, size_t len);

/* Appends r as one JSON object and a '\n' to out, keys in the order of
 * result_columns (see docs/OUTPUT.md). On failure out is left as it was.
 * Returns 0 or -ENOMEM. (Declared here rather than in result.h because the
 * sinks are its users.) */
int result_to_json(const struct result *r, struct buf *out);

/* result_columns (result.h) ends with a NULL entry; it has this many
 * names. */
#define RESULT_NCOLUMNS 16

#endif
