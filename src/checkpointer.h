/* checkpointer: copies an SQLite database's write-ahead log back into the
 * database on a thread of its own, so that the connection writing it
 * never waits for the copy or for its fsync.
 *
 * SQLite's default is to checkpoint inside the COMMIT that takes the WAL
 * past 1000 pages: with synchronous=NORMAL that checkpoint is the only
 * place the writer calls fsync, and on a crawl it held the store's
 * writer thread for about an eighth of the run. Here the writer's commit
 * only wakes the checkpointer, which runs a PASSIVE checkpoint on its own
 * connection (it never blocks the writer, and the writer never blocks
 * it). SQLite starts the log over at the writer's next transaction once
 * a checkpoint has copied all of it.
 *
 * Bounded: should the log still reach CHECKPOINTER_HARD_BYTES (the
 * checkpoints never catching the whole of it, say), the writer's commit
 * checkpoints inline as SQLite would, so the WAL cannot grow without end.
 * Durability is SQLite's own for the connection's synchronous setting. */
#ifndef SPATE_CHECKPOINTER_H
#define SPATE_CHECKPOINTER_H

#include <sqlite3.h>

/* Sizes of the log, in bytes of pages (the database's page size divides
 * them into SQLite's page counts): */
#define CHECKPOINTER_WAKE_BYTES (1000 * 4096) /* wake the thread past this */
#define CHECKPOINTER_HARD_BYTES                                               \
  (16000 * 4096) /* checkpoint inline past this */

struct checkpointer;

/* Starts the thread for writer, a connection in WAL mode to the database
 * file path, and takes over writer's WAL hook (its automatic checkpoint).
 * Returns 0, or a negative errno with a one-line reason in err; on
 * failure writer is left with SQLite's automatic checkpoint. */
int checkpointer_start(struct checkpointer **out, sqlite3 *writer,
                       const char *path, char err[256]);
/* Stops and joins the thread and closes its connection; writer gets its
 * automatic checkpoint back. Call before closing writer, whose close (the
 * last connection's) then checkpoints what is left. NULL-safe. */
void checkpointer_stop(struct checkpointer *c);

/* Counters for tests and the bench: checkpoints run on the thread, and
 * those the writer had to run inline. */
struct checkpointer_stats {
  long long background, inline_runs;
};
void checkpointer_stats(struct checkpointer *c, struct checkpointer_stats *st);

#endif
