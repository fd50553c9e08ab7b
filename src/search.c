/* search: ranked full-text queries over a crawl store, and the
 * visible-text pass whose output the store indexes. See search.h. */
#include "search.h"

#include "html.h"

#include "buf.h"
#include "store.h"

#include <errno.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

/* ---- visible text ------------------------------------------------------- */

/* Byte classes of text runs: what ends a run of bytes copied as they
 * are. */
enum {
  B_SPACE = 1, /* whitespace and control bytes: a word break */
  B_AMP = 2,   /* '&': a character reference may start */
  B_LT = 4,    /* '<': markup may start */
};

static const unsigned char byte_class[256] = {
    [0] = B_SPACE,   [1] = B_SPACE,   [2] = B_SPACE,  [3] = B_SPACE,
    [4] = B_SPACE,   [5] = B_SPACE,   [6] = B_SPACE,  [7] = B_SPACE,
    [8] = B_SPACE,   [9] = B_SPACE,   [10] = B_SPACE, [11] = B_SPACE,
    [12] = B_SPACE,  [13] = B_SPACE,  [14] = B_SPACE, [15] = B_SPACE,
    [16] = B_SPACE,  [17] = B_SPACE,  [18] = B_SPACE, [19] = B_SPACE,
    [20] = B_SPACE,  [21] = B_SPACE,  [22] = B_SPACE, [23] = B_SPACE,
    [24] = B_SPACE,  [25] = B_SPACE,  [26] = B_SPACE, [27] = B_SPACE,
    [28] = B_SPACE,  [29] = B_SPACE,  [30] = B_SPACE, [31] = B_SPACE,
    [' '] = B_SPACE, [127] = B_SPACE, ['&'] = B_AMP,  ['<'] = B_LT,
};

static int is_alpha(unsigned char c)
{
  return (unsigned)((c | 0x20) - 'a') < 26;
}

/* Ends a tag name: the tokenizer's whitespace, '/' or '>'. */
static int is_delim(unsigned char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r' ||
         c == '/' || c == '>';
}

struct text_out {
  struct buf *b;
  size_t start; /* b->len when the pass began: trimming looks no further */
  size_t limit; /* b->len may not pass this */
  int space;    /* a space is owed before the next byte */
  int full;     /* limit reached: the pass stops */
  int err;
};

static void put_bytes(struct text_out *t, const char *p, size_t n)
{
  if (!n || t->full || t->err)
    return;
  if (t->space && t->b->len > t->start) {
    if (t->b->len >= t->limit) {
      t->full = 1;
      return;
    }
    if (buf_putc(t->b, ' ')) {
      t->err = -ENOMEM;
      return;
    }
  }
  t->space = 0;
  size_t room = t->limit - t->b->len;
  if (n > room) {
    n = room;
    while (n > 0 && ((unsigned char)p[n] & 0xC0) == 0x80)
      n--;
    t->full = 1;
  }
  if (n && buf_append(t->b, p, n))
    t->err = -ENOMEM;
}

static void put_cp(struct text_out *t, uint32_t cp)
{
  char u[4];
  size_t n;
  if (cp <= 0x20 || cp == 0xA0 || (cp >= 0x7F && cp <= 0x9F)) {
    t->space = 1; /* whitespace, no-break space, controls */
    return;
  }
  if (cp == 0xAD) /* soft hyphen: invisible, inside a word */
    return;
  if (cp < 0x80) {
    u[0] = (char)cp;
    n = 1;
  } else if (cp < 0x800) {
    u[0] = (char)(0xC0 | cp >> 6);
    u[1] = (char)(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    u[0] = (char)(0xE0 | cp >> 12);
    u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
    u[2] = (char)(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    u[0] = (char)(0xF0 | cp >> 18);
    u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    u[3] = (char)(0x80 | (cp & 0x3F));
    n = 4;
  }
  put_bytes(t, u, n);
}

size_t search_text_span(const char *p, size_t n, int stop_lt, int stop_amp)
{
  int stop = (stop_lt ? B_LT : 0) | (stop_amp ? B_AMP : 0) | B_SPACE;
  size_t i = 0;
#ifdef __SSE2__
  /* 16 bytes at a time, and the byte after them to see what follows a
   * space: a byte is copyable when its class is 0, or when it is a space
   * and the next byte's class is 0. */
  const __m128i sp = _mm_set1_epi8(' '), del = _mm_set1_epi8(0x7F);
  const __m128i lt = _mm_set1_epi8(stop_lt ? '<' : ' ');
  const __m128i amp = _mm_set1_epi8(stop_amp ? '&' : ' ');
  for (; i + 17 <= n; i += 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
    __m128i w = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 1));
    /* Not plain: <= 0x20 (unsigned), DEL, and the stops ('<' and '&'
     * fold into the space test when they are not stops). */
    __m128i vbad = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(v, sp), v),
                     _mm_cmpeq_epi8(v, del)),
        _mm_or_si128(_mm_cmpeq_epi8(v, lt), _mm_cmpeq_epi8(v, amp)));
    __m128i wbad = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(w, sp), w),
                     _mm_cmpeq_epi8(w, del)),
        _mm_or_si128(_mm_cmpeq_epi8(w, lt), _mm_cmpeq_epi8(w, amp)));
    __m128i lone = _mm_andnot_si128(wbad, _mm_cmpeq_epi8(v, sp));
    unsigned m = (unsigned)_mm_movemask_epi8(_mm_andnot_si128(lone, vbad));
    if (m)
      return i + (size_t)__builtin_ctz(m);
  }
#endif
  for (; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (!(byte_class[c] & stop))
      continue;
    if (c == ' ' && i + 1 < n && !(byte_class[(unsigned char)p[i + 1]] & stop))
      continue;
    break;
  }
  return i;
}

/* Copies plain bytes from p, collapsing whitespace, straight into the
 * output, until a byte of class stop or e. The hot loop of the pass: once
 * some text is out and no space is owed, runs that need no change (plain
 * bytes and single spaces between them) go over as blocks
 * (search_text_span); else one table lookup and one store per byte. */
static const char *copy_plain(struct text_out *t, const char *p, const char *e,
                              int stop)
{
  struct buf *b = t->b;
  size_t want = (size_t)(e - p) + 1, room = t->limit - b->len;
  if (want > room)
    want = room;
  if (buf_reserve(b, want)) {
    t->err = -ENOMEM;
    return p;
  }
  /* Locals only in the loop: a char store may alias *b and *t. */
  const char *p0 = p;
  char *const base = b->data + t->start;
  char *o = b->data + b->len, *oend = o + want;
  int space = t->space && o > base;
  while (p < e) {
    if (!space && o > base && e - p > 32 && oend - o > 32) {
      size_t run = (size_t)(oend - o) < (size_t)(e - p)
                       ? (size_t)(oend - o) - 1
                       : (size_t)(e - p);
      size_t k = search_text_span(p, run, stop & B_LT, stop & B_AMP);
      if (k) {
        memcpy(o, p, k);
        o += k;
        p += k;
        continue;
      }
    }
    unsigned char c = (unsigned char)*p;
    int cl = byte_class[c] & (stop | B_SPACE);
    if (!cl) {
      if (space) {
        if (o == oend)
          goto full;
        *o++ = ' ';
        space = 0;
      }
      if (o == oend)
        goto full;
      *o++ = (char)c;
      p++;
    } else if (cl & stop) {
      break;
    } else {
      /* A space is owed only after some text: that trims the start. */
      space = o > base;
      p++;
    }
  }
  b->len = (size_t)(o - b->data);
  b->data[b->len] = '\0';
  t->space = space;
  return p;
full:
  /* Plain bytes are copied one for one, so a UTF-8 sequence cut by the
   * limit is the one the next input byte continues: drop its start. */
  while (p > p0 && o > base && ((unsigned char)*p & 0xC0) == 0x80) {
    p--;
    o--;
  }
  b->len = (size_t)(o - b->data);
  b->data[b->len] = '\0';
  t->full = 1;
  return e;
}

/* Copies text from p up to e, or to the first '<' when stop_lt (returning
 * where it stopped), decoding references when refs. */
static const char *emit_run(struct text_out *t, const char *p, const char *e,
                            int stop_lt, int refs)
{
  int stop = (refs ? B_AMP : 0) | (stop_lt ? B_LT : 0);
  while (p < e && !t->full && !t->err) {
    p = copy_plain(t, p, e, stop);
    if (p >= e || t->full || t->err)
      return p;
    if (*p == '<')
      return p;
    uint32_t cp;
    size_t k = html_charref(++p, e, &cp);
    if (k) {
      put_cp(t, cp);
      p += k;
    } else {
      put_bytes(t, "&", 1);
    }
  }
  return p;
}

/* From just after a tag name to the byte after its '>', or NULL when the
 * input ends first (the tag is then dropped, as the spec says). A quoted
 * attribute value may hold a '>'. */
static const char *tag_end(const char *p, const char *e)
{
  while (p < e) {
    char c = *p++;
    if (c == '>')
      return p;
    if (c != '=')
      continue;
    while (p < e &&
           (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\f' || *p == '\r'))
      p++;
    if (p < e && (*p == '"' || *p == '\'')) {
      const char *q = memchr(p + 1, *p, (size_t)(e - p - 1));
      if (!q)
        return NULL;
      p = q + 1;
    }
  }
  return NULL;
}

static int name_is(const char *s, size_t n, const char *lit)
{
  size_t i = 0;
  for (; i < n && lit[i]; i++)
    if ((s[i] | 0x20) != lit[i])
      return 0;
  return i == n && lit[i] == '\0';
}

enum tag_kind {
  K_BLOCK,     /* ends a word */
  K_INLINE,    /* does not */
  K_SKIP,      /* its content is not visible text */
  K_RCDATA,    /* textarea: text with references, no tags */
  K_RAW,       /* xmp: text as written */
  K_PLAINTEXT, /* the rest of the input is text */
};

static const struct {
  const char *name;
  unsigned char kind;
} tag_kinds[] = {
    {"a", K_INLINE},        {"b", K_INLINE},
    {"i", K_INLINE},        {"q", K_INLINE},
    {"s", K_INLINE},        {"u", K_INLINE},
    {"em", K_INLINE},       {"rp", K_INLINE},
    {"rt", K_INLINE},       {"tt", K_INLINE},
    {"bdi", K_INLINE},      {"bdo", K_INLINE},
    {"big", K_INLINE},      {"del", K_INLINE},
    {"dfn", K_INLINE},      {"ins", K_INLINE},
    {"kbd", K_INLINE},      {"sub", K_INLINE},
    {"sup", K_INLINE},      {"var", K_INLINE},
    {"wbr", K_INLINE},      {"xmp", K_RAW},
    {"abbr", K_INLINE},     {"cite", K_INLINE},
    {"code", K_INLINE},     {"data", K_INLINE},
    {"font", K_INLINE},     {"mark", K_INLINE},
    {"nobr", K_INLINE},     {"ruby", K_INLINE},
    {"samp", K_INLINE},     {"span", K_INLINE},
    {"time", K_INLINE},     {"label", K_INLINE},
    {"small", K_INLINE},    {"style", K_SKIP},
    {"title", K_SKIP},      {"iframe", K_SKIP},
    {"script", K_SKIP},     {"strike", K_INLINE},
    {"strong", K_INLINE},   {"noembed", K_SKIP},
    {"noframes", K_SKIP},   {"template", K_SKIP},
    {"textarea", K_RCDATA}, {"plaintext", K_PLAINTEXT},
};

static enum tag_kind tag_kind(const char *s, size_t n)
{
  char c = (char)(s[0] | 0x20);
  for (size_t i = 0; i < sizeof(tag_kinds) / sizeof(tag_kinds[0]); i++)
    if (tag_kinds[i].name[0] == c && name_is(s, n, tag_kinds[i].name))
      return (enum tag_kind)tag_kinds[i].kind;
  return K_BLOCK;
}

int search_text_from_html(const char *html, size_t len, size_t max,
                          struct buf *out)
{
  struct text_out t = {.b = out, .start = out->len};
  const char *p = html, *e = html + len, *q;
  t.limit = max && max < SIZE_MAX - out->len ? out->len + max : SIZE_MAX;
  if (!html)
    return 0;

  while (p < e && !t.full && !t.err) {
    p = emit_run(&t, p, e, 1, 1);
    if (p >= e || t.full || t.err)
      break;
    p++; /* the '<' */
    if (p == e) {
      put_bytes(&t, "<", 1);
      break;
    }
    unsigned char c = (unsigned char)*p;
    if (is_alpha(c)) {
      const char *name = p;
      while (p < e && !is_delim((unsigned char)*p))
        p++;
      size_t n = (size_t)(p - name);
      enum tag_kind kind = tag_kind(name, n);
      if (!(p = tag_end(p, e)))
        break;
      if (kind != K_INLINE)
        t.space = 1;
      if (kind == K_PLAINTEXT) {
        emit_run(&t, p, e, 0, 0);
        break;
      }
      if (kind == K_SKIP || kind == K_RCDATA || kind == K_RAW) {
        /* The element name is ASCII letters here: the table holds it. */
        char lower[16];
        for (size_t i = 0; i < n && i < sizeof(lower) - 1; i++)
          lower[i] = (char)(name[i] | 0x20);
        lower[n < sizeof(lower) - 1 ? n : sizeof(lower) - 1] = '\0';
        /* Script's escaped states ("<!-- ... </script> -->") are not
         * modelled: the first "</script" ends it. */
        const char *lt = html_find_close(p, e, lower, n);
        if (kind != K_SKIP)
          emit_run(&t, p, lt ? lt : e, 0, kind == K_RCDATA);
        if (!lt || !(p = tag_end(lt + 2 + n, e)))
          break;
        t.space = 1;
      }
    } else if (c == '/') {
      p++;
      if (p == e)
        break;
      if (is_alpha((unsigned char)*p)) {
        const char *name = p;
        while (p < e && !is_delim((unsigned char)*p))
          p++;
        if (tag_kind(name, (size_t)(p - name)) != K_INLINE)
          t.space = 1;
        p = tag_end(p, e);
      } else if (*p == '>') {
        p++; /* "</>" is dropped */
      } else {
        q = memchr(p, '>', (size_t)(e - p)); /* bogus comment */
        p = q ? q + 1 : NULL;
      }
      if (!p)
        break;
    } else if (c == '!' || c == '?') {
      p++;
      if (c == '!' && e - p >= 2 && p[0] == '-' && p[1] == '-') {
        p = html_comment_end(p + 2, e);
      } else {
        q = p < e ? memchr(p, '>', (size_t)(e - p)) : NULL;
        p = q ? q + 1 : NULL;
      }
      if (!p)
        break;
    } else {
      put_bytes(&t, "<", 1); /* a '<' that starts no markup is text */
    }
  }
  return t.err;
}

/* ---- queries ------------------------------------------------------------ */

/* bm25 weights: title, body. */
static const char search_sql[] =
    "SELECT p.url, p.title,"
    " snippet(pages_fts, -1, char(1), char(2), '\xE2\x80\xA6', 24), rank"
    " FROM pages_fts JOIN pages AS p ON p.id = pages_fts.rowid"
    " WHERE pages_fts MATCH ?1 AND rank MATCH 'bm25(10.0, 1.0)'"
    " ORDER BY rank LIMIT ?2";

enum mark_mode { MARK_TTY, MARK_TEXT };

/* Appends s with control characters (C0, DEL, C1) as spaces, so page text
 * cannot move a terminal's cursor; with marks, also turns the snippet's
 * 0x01/0x02 into the highlight markers and a « or » of the text into ‹ or
 * › (outside a terminal, where « » are the markers). */
static int put_clean(struct buf *b, const char *s, int marks,
                     enum mark_mode mode)
{
  const unsigned char *p = (const unsigned char *)s;
  int rc = 0;
  if (!s)
    return 0;
  while (*p && !rc) {
    const unsigned char *q = p;
    while (*q >= 0x20 && *q != 0x7F && *q != 0xC2)
      q++;
    rc = buf_append(b, p, (size_t)(q - p));
    p = q;
    if (!*p || rc)
      break;
    if (*p == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F) {
      rc = buf_putc(b, ' ');
      p += 2;
    } else if (*p == 0xC2 && marks && mode == MARK_TEXT &&
               (p[1] == 0xAB || p[1] == 0xBB)) {
      rc = buf_puts(b, p[1] == 0xAB ? "\xE2\x80\xB9" : "\xE2\x80\xBA");
      p += 2;
    } else if (*p == 0xC2) {
      rc = buf_putc(b, (char)*p++);
    } else if (marks && (*p == 0x01 || *p == 0x02)) {
      int open = *p++ == 0x01;
      if (mode == MARK_TTY)
        rc = buf_puts(b, open ? SEARCH_TTY_OPEN : SEARCH_TTY_CLOSE);
      else
        rc = buf_puts(b, open ? SEARCH_MARK_OPEN : SEARCH_MARK_CLOSE);
    } else {
      rc = buf_putc(b, ' ');
      p++;
    }
  }
  return rc ? -ENOMEM : 0;
}

static int format_text(struct buf *line, int rank, const char *url,
                       const char *title, const char *snippet, int tty)
{
  enum mark_mode mode = tty ? MARK_TTY : MARK_TEXT;
  int rc = buf_printf(line, "%s%s%d. ", rank > 1 ? "\n" : "",
                      tty ? SEARCH_TTY_OPEN : "", rank);
  if (!rc)
    rc = title && *title ? put_clean(line, title, 0, mode)
                         : buf_puts(line, "(no title)");
  if (!rc && tty)
    rc = buf_puts(line, SEARCH_TTY_CLOSE);
  if (!rc)
    rc = buf_puts(line, "\n   ");
  if (!rc)
    rc = put_clean(line, url, 0, mode);
  if (!rc && snippet && *snippet) {
    rc = buf_puts(line, "\n   ");
    if (!rc)
      rc = put_clean(line, snippet, 1, mode);
  }
  if (!rc)
    rc = buf_putc(line, '\n');
  return rc ? -ENOMEM : 0;
}

static int format_json(struct buf *line, struct buf *tmp, int rank,
                       const char *url, const char *title, const char *snippet,
                       double score)
{
  int rc = buf_printf(line, "{\"rank\":%d,\"url\":", rank);
  if (!rc)
    rc = buf_json_str(line, url ? url : "", url ? strlen(url) : 0);
  if (!rc)
    rc = buf_puts(line, ",\"title\":");
  if (!rc)
    rc = title ? buf_json_str(line, title, strlen(title))
               : buf_puts(line, "null");
  buf_reset(tmp);
  if (!rc)
    rc = put_clean(tmp, snippet ? snippet : "", 1, MARK_TEXT);
  if (!rc)
    rc = buf_puts(line, ",\"snippet\":");
  if (!rc)
    rc = buf_json_str(line, tmp->data ? tmp->data : "", tmp->len);
  if (!rc)
    rc = buf_printf(line, ",\"score\":%.6g}\n", score);
  return rc ? -ENOMEM : 0;
}

/* err is one line: a query echoed in a message may hold a newline. */
static void one_line(char *err)
{
  for (char *p = err; *p; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
}

/* A query's cost grows faster than its size (bm25 per phrase, NEAR over
 * many prefixes): one typed by a person fits these, one that does not gets
 * a clear refusal instead of minutes of CPU. */
#define QUERY_MAX_BYTES 1024
#define QUERY_MAX_WORDS 64
#define QUERY_MAX_MS 10000

static int query_words(const char *q)
{
  int n = 0;
  for (const char *p = q; *p;) {
    p += strspn(p, " \t\r\n\f\v(),");
    if (!*p)
      break;
    n++;
    p += strcspn(p, " \t\r\n\f\v(),");
  }
  return n;
}

/* sqlite3_progress_handler: non-zero stops the query. arg: the deadline,
 * in uv_hrtime's nanoseconds. */
static int past_deadline(void *arg)
{
  return uv_hrtime() >= *(const uint64_t *)arg;
}

int search_query(const char *db_path, const char *query, int limit, int json,
                 int max_ms, FILE *out, char err[256])
{
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  struct buf line = {0}, tmp = {0};
  int rc, n = 0;
  int tty = !json && isatty(fileno(out));

  err[0] = '\0';
  if (!query || !query[strspn(query, " \t\r\n\f\v")]) {
    snprintf(err, 256, "empty query");
    return -EINVAL;
  }
  size_t qlen = strlen(query);
  int words = query_words(query);
  if (qlen > QUERY_MAX_BYTES || words > QUERY_MAX_WORDS) {
    snprintf(err, 256,
             "bad query: too long (%zu bytes, %d words; at most %d and %d)",
             qlen, words, QUERY_MAX_BYTES, QUERY_MAX_WORDS);
    return -EINVAL;
  }
  if (limit <= 0)
    limit = 10;
  if (access(db_path, F_OK) != 0) {
    rc = -errno;
    snprintf(err, 256, "%s: %s", db_path, strerror(errno));
    return rc;
  }
  rc = sqlite3_open_v2(db_path, &db,
                       SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX |
                           SQLITE_OPEN_EXRESCODE,
                       NULL);
  if (rc) {
    snprintf(err, 256, "%s: cannot open: %s", db_path,
             db ? sqlite3_errmsg(db) : "out of memory");
    rc = db ? -EIO : -ENOMEM;
    goto out;
  }
  sqlite3_busy_timeout(db, 5000);
  rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'format'",
                          -1, &st, NULL);
  if (!rc) {
    int step = sqlite3_step(st);
    const char *v =
        step == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    if (step != SQLITE_ROW && step != SQLITE_DONE)
      rc = step;
    else if (!v || strcmp(v, STORE_FORMAT) != 0)
      rc = SQLITE_NOTFOUND;
  }
  sqlite3_finalize(st);
  st = NULL;
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(db, search_sql, -1, &st, NULL);
  if (rc) {
    if ((rc & 0xff) == SQLITE_ERROR || rc == SQLITE_NOTFOUND ||
        (rc & 0xff) == SQLITE_NOTADB) {
      snprintf(err, 256, "%s: not a spate crawl store", db_path);
      rc = -EINVAL;
    } else {
      snprintf(err, 256, "%s: %s", db_path, sqlite3_errmsg(db));
      rc = (rc & 0xff) == SQLITE_BUSY ? -EBUSY : -EIO;
    }
    goto out;
  }
  sqlite3_bind_text(st, 1, query, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, limit);
  if (max_ms <= 0)
    max_ms = QUERY_MAX_MS;
  uint64_t deadline = uv_hrtime() + (uint64_t)max_ms * 1000000;
  sqlite3_progress_handler(db, 1000, past_deadline, &deadline);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *url = (const char *)sqlite3_column_text(st, 0);
    const char *title = (const char *)sqlite3_column_text(st, 1);
    const char *snip = (const char *)sqlite3_column_text(st, 2);
    /* FTS5's bm25 is lower-is-better; people expect the opposite. */
    double score = -sqlite3_column_double(st, 3);
    buf_reset(&line);
    n++;
    int frc = json ? format_json(&line, &tmp, n, url, title, snip, score)
                   : format_text(&line, n, url, title, snip, tty);
    if (frc) {
      snprintf(err, 256, "out of memory");
      rc = frc;
      goto out;
    }
    if (fwrite(line.data, 1, line.len, out) != line.len) {
      rc = -(errno ? errno : EIO);
      snprintf(err, 256, "cannot write the results: %s", strerror(-rc));
      goto out;
    }
  }
  if (rc != SQLITE_DONE) {
    if (rc == SQLITE_INTERRUPT) {
      snprintf(err, 256,
               "bad query: gave up after %g s (too many terms or prefixes "
               "to rank; --max-time)",
               max_ms / 1000.0);
      rc = -EINVAL;
    } else if ((rc & 0xff) == SQLITE_ERROR) {
      /* FTS5 reports a query it cannot parse (or a column filter naming
       * no column) when the statement first runs. */
      snprintf(err, 256, "bad query: %s", sqlite3_errmsg(db));
      rc = -EINVAL;
    } else {
      snprintf(err, 256, "%s: %s", db_path, sqlite3_errmsg(db));
      rc = (rc & 0xff) == SQLITE_BUSY ? -EBUSY : -EIO;
    }
    goto out;
  }
  if (fflush(out) != 0) {
    rc = -(errno ? errno : EIO);
    snprintf(err, 256, "cannot write the results: %s", strerror(-rc));
    goto out;
  }
  rc = n;
out:
  one_line(err);
  sqlite3_finalize(st);
  sqlite3_close(db);
  buf_free(&line);
  buf_free(&tmp);
  return rc;
}
