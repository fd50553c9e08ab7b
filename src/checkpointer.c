/* checkpointer: WAL checkpoints off the writer's thread (checkpointer.h). */
#include "checkpointer.h"

#include "db.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct checkpointer {
  sqlite3 *writer; /* the writer's connection (its thread calls the hook) */
  sqlite3 *db;     /* ours, used by the thread alone */
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_cond_t idle;        /* signalled when a background checkpoint ends */
  int wake_pages, hard_pages; /* the byte bounds in the file's pages */
  int wanted;                 /* a commit took the log past wake_pages */
  int running;                /* the thread is inside a checkpoint */
  int stop;
  long long background, inline_runs; /* under mu */
};

/* The writer's WAL hook: runs in the writer's thread after each commit,
 * with the log's size in pages. */
static int on_commit(void *arg, sqlite3 *db, const char *name, int pages)
{
  struct checkpointer *c = arg;
  if (pages >= c->hard_pages) {
    /* Only one connection checkpoints at a time: were the thread inside
     * one, ours would return SQLITE_BUSY having copied nothing, and the
     * log would grow by a commit each time until the thread is done. So
     * wait for it (it never waits for us), and let this checkpoint stand
     * for any the thread was about to start. */
    pthread_mutex_lock(&c->mu);
    while (c->running)
      pthread_cond_wait(&c->idle, &c->mu);
    c->wanted = 0;
    c->running = 1;
    pthread_mutex_unlock(&c->mu);
    /* Passive: copies what no reader still needs, never waits. */
    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    pthread_mutex_lock(&c->mu);
    c->running = 0;
    c->inline_runs++;
    pthread_cond_broadcast(&c->idle);
    pthread_mutex_unlock(&c->mu);
  } else if (pages >= c->wake_pages) {
    pthread_mutex_lock(&c->mu);
    if (!c->wanted) {
      c->wanted = 1;
      pthread_cond_signal(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
  }
  return SQLITE_OK;
}

static void *run(void *arg)
{
  struct checkpointer *c = arg;
  pthread_setname_np(pthread_self(), "spate-ckpt");
  pthread_mutex_lock(&c->mu);
  for (;;) {
    while (!c->wanted && !c->stop)
      pthread_cond_wait(&c->cv, &c->mu);
    if (c->stop)
      break;
    c->wanted = 0;
    c->running = 1;
    pthread_mutex_unlock(&c->mu);
    /* A failure (busy: another process's connection is checkpointing;
     * an I/O error) leaves the log as it was: the next commit asks
     * again, and the writer's own bound still holds. */
    sqlite3_wal_checkpoint_v2(c->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL,
                              NULL);
    pthread_mutex_lock(&c->mu);
    c->running = 0;
    c->background++;
    pthread_cond_broadcast(&c->idle);
  }
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

int checkpointer_start(struct checkpointer **out, sqlite3 *writer,
                       const char *path, char err[256])
{
  struct checkpointer *c = calloc(1, sizeof(*c));
  long page = 0;
  int rc;

  *out = NULL;
  if (!c) {
    snprintf(err, 256, "out of memory");
    return -ENOMEM;
  }
  c->writer = writer;
  rc = sqlite3_open_v2(path, &c->db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                           SQLITE_OPEN_EXRESCODE,
                       NULL);
  const char *why = NULL;
  if (rc) {
    why = c->db ? sqlite3_errmsg(c->db) : "out of memory";
  } else {
    /* A new connection knows the file is in WAL mode once it has read
     * it; until then a checkpoint call does nothing. */
    char mode[16], size[16];
    rc = db_query_text(c->db, "PRAGMA journal_mode", mode, sizeof(mode));
    if (!rc && strcmp(mode, "wal") != 0)
      why = "not in WAL mode";
    if (!rc && !why)
      rc = db_query_text(c->db, "PRAGMA page_size", size, sizeof(size));
    if (!rc && !why) {
      page = strtol(size, NULL, 10);
      if (page < 512 || page > 65536)
        why = "no page size";
    }
    if (rc)
      why = sqlite3_errmsg(c->db);
  }
  if (why) {
    snprintf(err, 256, "cannot open a checkpoint connection: %s", why);
    rc = rc ? db_errno(c->db, rc) : -EINVAL;
    sqlite3_close(c->db);
    free(c);
    return rc;
  }
  c->wake_pages = (int)(CHECKPOINTER_WAKE_BYTES / page);
  c->hard_pages = (int)(CHECKPOINTER_HARD_BYTES / page);
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cv, NULL);
  pthread_cond_init(&c->idle, NULL);
  rc = pthread_create(&c->thread, NULL, run, c);
  if (rc) {
    snprintf(err, 256, "cannot start the checkpoint thread: %s", strerror(rc));
    pthread_cond_destroy(&c->idle);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    sqlite3_close(c->db);
    free(c);
    return -rc;
  }
  sqlite3_wal_hook(writer, on_commit, c);
  *out = c;
  return 0;
}

void checkpointer_stop(struct checkpointer *c)
{
  if (!c)
    return;
  sqlite3_wal_autocheckpoint(c->writer, c->wake_pages);
  pthread_mutex_lock(&c->mu);
  c->stop = 1;
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
  pthread_join(c->thread, NULL);
  pthread_cond_destroy(&c->idle);
  pthread_cond_destroy(&c->cv);
  pthread_mutex_destroy(&c->mu);
  sqlite3_close(c->db);
  free(c);
}

void checkpointer_stats(struct checkpointer *c, struct checkpointer_stats *st)
{
  pthread_mutex_lock(&c->mu);
  st->background = c->background;
  st->inline_runs = c->inline_runs;
  pthread_mutex_unlock(&c->mu);
}
