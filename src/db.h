/* db: what spate's SQLite users (the result sink, the crawl store) share
 * about SQLite itself. */
#ifndef SPATE_DB_H
#define SPATE_DB_H

#include <sqlite3.h>
#include <stddef.h>

/* Maps an SQLite result code to the negative errno spate reports: full
 * disk -ENOSPC, read-only -EROFS, I/O errors the system errno, and so on.
 * db may be NULL. */
int db_errno(sqlite3 *db, int rc);
/* Reads the first column of a one-row query into out[0..cap) ("" when
 * there is no row or the value is NULL). Returns an SQLite code. */
int db_query_text(sqlite3 *db, const char *sql, char *out, size_t cap);

#endif
