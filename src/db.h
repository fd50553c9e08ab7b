/* db: what spate's SQLite users (the result sink, the crawl store) share
 * about SQLite itself. */
#ifndef SPATE_DB_H
#define SPATE_DB_H

#include <sqlite3.h>

/* Maps an SQLite result code to the negative errno spate reports: full
 * disk -ENOSPC, read-only -EROFS, I/O errors the system errno, and so on.
 * db may be NULL. */
int db_errno(sqlite3 *db, int rc);

#endif
