#include "db.h"

#include <errno.h>
#include <stdio.h>

int db_errno(sqlite3 *db, int rc)
{
  int sys = db ? sqlite3_system_errno(db) : 0;
  switch (rc & 0xff) {
  case SQLITE_NOMEM:
    return -ENOMEM;
  case SQLITE_FULL:
    return -ENOSPC;
  case SQLITE_READONLY:
    return -EROFS;
  case SQLITE_PERM:
  case SQLITE_AUTH:
    return -EACCES;
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return -EBUSY;
  case SQLITE_CANTOPEN:
  case SQLITE_IOERR:
    return sys > 0 ? -sys : -EIO;
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB:
  case SQLITE_SCHEMA:
  case SQLITE_CONSTRAINT:
  case SQLITE_MISMATCH:
    return -EINVAL;
  default:
    return -EIO;
  }
}

int db_query_text(sqlite3 *db, const char *sql, char *out, size_t cap)
{
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  if (rc)
    return rc;
  out[0] = '\0';
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    const unsigned char *v = sqlite3_column_text(st, 0);
    snprintf(out, cap, "%s", v ? (const char *)v : "");
    rc = SQLITE_OK;
  } else if (rc == SQLITE_DONE) {
    rc = SQLITE_OK;
  }
  sqlite3_finalize(st);
  return rc;
}
