/* wsload: a WebSocket load client for the live hub benchmark (bench/ws.sh).
 *
 * Opens N reader connections (and some "stalled" ones) to ws://HOST:PORT/PATH
 * on one libuv loop, at most W handshakes in flight at a time so that the
 * server's accept backlog is never overrun. Each connection does the
 * RFC 6455 opening handshake (random Sec-WebSocket-Key, the server's
 * Sec-WebSocket-Accept checked), then reads frames: text frames are ticks,
 * pings are answered with masked pongs, a close frame is answered with a
 * masked close.
 *
 * From each tick it takes "seq" and "time" (the sender's Unix time in
 * seconds) with a plain scan for the two keys, and records the delivery
 * latency = CLOCK_REALTIME at receipt - time (sender and receiver on the
 * same machine) in a histogram, and a gap whenever seq is not the previous
 * seq + 1 on that connection.
 *
 * Phases: ramp (connect everyone), then D seconds of measuring (only the
 * messages received in this window count for messages/s and latency;
 * SIGUSR1 ends it early), then a drain of G seconds for the stalled
 * connections: a stalled connection completes its handshake and never
 * reads until the measuring is over (-k: with the system's socket buffers;
 * -s: with SO_RCVBUF set to -R bytes before connecting); then its TCP
 * state is taken (TCP_INFO) and it is read to the end, to see what the
 * server did with it: a close frame (and its code), an EOF (after a whole
 * frame or in the middle of one), a reset, or nothing (still open).
 *
 * With -P PID (the server's pid, same machine) it reads the server's VmRSS
 * before the first connection, at the start and at the end of the
 * measuring, and its CPU time (utime + stime) over the measuring.
 *
 * Output: "key value" lines on stdout (read by bench/ws.sh), a summary on
 * stderr. Exit 0 when the run completed (whatever the figures), 2 on a
 * usage or set-up error.
 *
 *   cc -O2 -o wsload bench/wsload.c $(pkg-config --cflags --libs libuv) -lm
 *   wsload -p PORT [-H 127.0.0.1] [-u /ws] [-n 1000] [-k 0] [-s 0] [-d 20]
 *          [-w 200] [-g 3] [-r 120] [-P SERVER_PID] [-R 4096] [-i 0]
 *
 * -w: handshakes in flight at most; -g: drain seconds; -r: the ramp's
 * limit in seconds (then it measures with what is connected); -i: print
 * an "iv" line (messages, latency max, latencies over 100 ms, the server's
 * VmRSS) every so many seconds of the measuring. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

/* ---- SHA-1 and base64, for Sec-WebSocket-Accept ------------------------ */

#define ROL(x, n) (((x) << (n)) | ((x) >> (32 - (n))))

static void sha1(const unsigned char *msg, size_t len, unsigned char out[20])
{
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  size_t total = ((len + 8) / 64 + 1) * 64;
  unsigned char *m = calloc(1, total);
  if (!m)
    abort();
  memcpy(m, msg, len);
  m[len] = 0x80;
  uint64_t bits = (uint64_t)len * 8;
  for (int i = 0; i < 8; i++)
    m[total - 1 - i] = (unsigned char)(bits >> (8 * i));
  for (size_t off = 0; off < total; off += 64) {
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
      w[i] = (uint32_t)m[off + 4 * i] << 24 |
             (uint32_t)m[off + 4 * i + 1] << 16 |
             (uint32_t)m[off + 4 * i + 2] << 8 | m[off + 4 * i + 3];
    for (int i = 16; i < 80; i++)
      w[i] = ROL(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
      uint32_t f, k;
      if (i < 20)
        f = (b & c) | (~b & d), k = 0x5A827999;
      else if (i < 40)
        f = b ^ c ^ d, k = 0x6ED9EBA1;
      else if (i < 60)
        f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
      else
        f = b ^ c ^ d, k = 0xCA62C1D6;
      uint32_t t = ROL(a, 5) + f + e + k + w[i];
      e = d, d = c, c = ROL(b, 30), b = a, a = t;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
  }
  free(m);
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 4; j++)
      out[4 * i + j] = (unsigned char)(h[i] >> (24 - 8 * j));
}

static void base64(const unsigned char *in, size_t n, char *out)
{
  static const char t[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i, o = 0;
  for (i = 0; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = t[v >> 18], out[o++] = t[(v >> 12) & 63];
    out[o++] = t[(v >> 6) & 63], out[o++] = t[v & 63];
  }
  if (i < n) {
    uint32_t v =
        (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
    out[o++] = t[v >> 18], out[o++] = t[(v >> 12) & 63];
    out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  out[o] = 0;
}

/* ---- small helpers ----------------------------------------------------- */

static uint64_t rng_state = 88172645463325252ull;
static uint32_t rnd32(void)
{
  uint64_t x = rng_state;
  x ^= x << 13, x ^= x >> 7, x ^= x << 17;
  rng_state = x;
  return (uint32_t)(x >> 16);
}

static double realtime_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double mono_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double self_cpu_s(void)
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* A field of /proc/PID/status in KiB ("VmRSS"), or -1. */
static long proc_status_kib(int pid, const char *field)
{
  char path[64], line[256];
  snprintf(path, sizeof path, pid ? "/proc/%d/status" : "/proc/self/status",
           pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  long v = -1;
  size_t fl = strlen(field);
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, field, fl) && line[fl] == ':') {
      v = strtol(line + fl + 1, NULL, 10);
      break;
    }
  fclose(f);
  return v;
}

/* utime + stime of PID in seconds, or -1. */
static double proc_cpu_s(int pid)
{
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p)
    return -1;
  /* after ") ": state(3) ppid pgrp session tty tpgid flags minflt cminflt
   * majflt cmajflt utime(14) stime(15) */
  unsigned long ut = 0, st = 0;
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
             &st) != 2)
    return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Time the threads of PID (0: this process) spent runnable but waiting for
 * a CPU, in seconds: the second field of /proc/PID/task/TID/schedstat,
 * summed. */
static double runq_wait_s(int pid)
{
  char path[300];
  snprintf(path, sizeof path, pid ? "/proc/%d/task" : "/proc/self/task", pid);
  DIR *d = opendir(path);
  if (!d)
    return NAN;
  double sum = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    char p2[600];
    snprintf(p2, sizeof p2, "%s/%s/schedstat", path, e->d_name);
    FILE *f = fopen(p2, "r");
    if (!f)
      continue;
    unsigned long long run, wait;
    if (fscanf(f, "%llu %llu", &run, &wait) == 2)
      sum += (double)wait / 1e9;
    fclose(f);
  }
  closedir(d);
  return sum;
}

/* ---- latency histogram: 10 us steps to 100 ms, then 1 ms to 120 s ------ */

#define H_FINE 10000    /* 10 us each: 0 .. 100 ms */
#define H_COARSE 119900 /* 1 ms each: 100 ms .. 120 s */
static uint64_t hist[H_FINE + H_COARSE + 1];
static uint64_t hist_n;
static double hist_max, hist_sum;
static uint64_t
    hist_negative; /* receipt before the stamped time (clock skew) */

static void hist_add(double s)
{
  if (s < 0) {
    hist_negative++;
    s = 0;
  }
  size_t b;
  if (s < 0.1)
    b = (size_t)(s * 1e5);
  else if (s < 120)
    b = H_FINE + (size_t)((s - 0.1) * 1e3);
  else
    b = H_FINE + H_COARSE;
  if (b > H_FINE + H_COARSE)
    b = H_FINE + H_COARSE;
  hist[b]++;
  hist_n++;
  hist_sum += s;
  if (s > hist_max)
    hist_max = s;
}

/* The q-quantile in ms: the upper edge of the bucket that holds it. */
static double hist_q_ms(double q)
{
  if (!hist_n)
    return NAN;
  uint64_t want = (uint64_t)ceil(q * (double)hist_n), acc = 0;
  if (want < 1)
    want = 1;
  for (size_t b = 0; b <= H_FINE + H_COARSE; b++) {
    acc += hist[b];
    if (acc >= want) {
      double up = b < H_FINE ? (double)(b + 1) * 0.01
                             : 100.0 + (double)(b - H_FINE + 1);
      return up > hist_max * 1e3 ? hist_max * 1e3 : up;
    }
  }
  return hist_max * 1e3;
}

/* ---- connections ------------------------------------------------------- */

enum { C_IDLE, C_CONNECTING, C_HANDSHAKE, C_OPEN, C_CLOSED };
enum {
  END_NONE,
  END_CLOSE_EOF,
  END_EOF,
  END_EOF_MIDFRAME,
  END_RESET,
  END_ERROR
};
/* SIGUSR1: end the measuring now (bench/ws.sh, once the server has dropped
 * the stalled connections). */
static void on_usr1(uv_signal_t *s, int signum);

static const char *end_names[] = {"open",         "close_frame", "eof",
                                  "eof_midframe", "reset",       "error"};

struct conn {
  uv_tcp_t tcp;
  uv_connect_t creq;
  unsigned char state, stalled, reading, gapped, got_close, sent_close, end,
      tcp_state_at_drain, opened, silent;
  unsigned short close_code;
  char accept[29]; /* the Sec-WebSocket-Accept expected */
  unsigned char
      *buf; /* bytes not consumed yet: handshake or part of a frame */
  size_t blen, bcap;
  int64_t last_seq;
  double last_time; /* the "time" of the last tick received */
  double last_rx;   /* when it was received */
  uint64_t msgs, backlog_ticks, backlog_bytes;
  double t_start;
};

enum { PH_RAMP, PH_MEASURE, PH_DRAIN, PH_DONE };

static struct {
  uv_loop_t *loop;
  struct sockaddr_in addr;
  const char *host, *path;
  int port, n, k, ks, total, window, server_pid, stalled_rcvbuf;
  double duration, drain_s, ramp_max, hs_timeout;
  struct conn *c;
  int next, pending, open_readers, open_stalled, opened_readers,
      opened_stalled;
  int phase;
  double ramp_t0, meas_t0, meas_t1, drain_t0, drain_rt0, meas_rt0,
      stalled_connected_rt[3];
  uint64_t msgs_ramp, msgs_measure, bytes_measure, msgs_after;
  uint64_t gaps, gap_missing, reorders, bad_ticks, frag_frames, masked_frames,
      pings, protocol_errors;
  double silence_max; /* the longest a reader waited between two ticks while
                         measuring */
  int readers_silent; /* readers that once waited over 1 s */
  int readers_gapped, readers_lost, readers_lost_why[6], reader_close_codes[4];
  int fail_connect, fail_handshake, fail_timeout, fail_closed;
  char first_fail[200];
  long srv_rss0, srv_rss_start, srv_rss_end, srv_hwm_end;
  double srv_cpu_start, srv_cpu_end, cpu_start, cpu_end;
  uint64_t max_seq;
  int64_t seq_first,
      seq_last; /* the ticks seen while measuring, and their stamps */
  double stamp_first, stamp_last;
  double srv_wait_start, srv_wait_end, self_wait_start, self_wait_end;
  uv_timer_t timer;
  uv_signal_t sig;
  double iv_len, iv_t0, iv_max; /* interval lines ("iv ...") while measuring */
  uint64_t iv_msgs, iv_over;
} G;

static unsigned char rdbuf[256 * 1024];

static void alloc_cb(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
  (void)h, (void)sz;
  *b = uv_buf_init((char *)rdbuf, sizeof rdbuf);
}

static void start_more(void);
static void begin_measure(void);

static void note_fail(const char *what, const char *why)
{
  if (!G.first_fail[0])
    snprintf(G.first_fail, sizeof G.first_fail, "%s: %s", what, why);
}

static void end_conn(struct conn *c, int why)
{
  if (c->state == C_CLOSED)
    return;
  int st = c->state;
  c->state = C_CLOSED;
  if (c->end == END_NONE)
    c->end = (unsigned char)why;
  uv_close((uv_handle_t *)&c->tcp, NULL);
  free(c->buf);
  c->buf = NULL;
  c->blen = c->bcap = 0;
  if (st == C_CONNECTING || st == C_HANDSHAKE) {
    G.pending--;
    if (why == END_ERROR && st == C_CONNECTING)
      G.fail_connect++;
    else if (why == END_ERROR)
      G.fail_handshake++;
    else
      G.fail_closed++;
    start_more();
    return;
  }
  if (c->stalled) {
    G.open_stalled--;
    return;
  }
  G.open_readers--;
  if (G.phase <= PH_MEASURE) {
    G.readers_lost++;
    G.readers_lost_why[c->end]++;
  }
}

struct wreq {
  uv_write_t w;
  size_t len;
  char data[];
};

static void write_done(uv_write_t *w, int status)
{
  (void)status; /* a failed write shows up as a read error or EOF */
  free(w);
}

static void send_raw(struct conn *c, const void *p, size_t len)
{
  struct wreq *r = malloc(sizeof *r + len);
  if (!r)
    abort();
  memcpy(r->data, p, len);
  r->len = len;
  uv_buf_t b = uv_buf_init(r->data, (unsigned)len);
  if (uv_write(&r->w, (uv_stream_t *)&c->tcp, &b, 1, write_done))
    free(r);
}

/* A masked control frame (RFC 6455 5.3: every client frame is masked). */
static void send_control(struct conn *c, int op, const unsigned char *pl,
                         size_t len)
{
  unsigned char f[2 + 4 + 125];
  if (len > 125)
    len = 125;
  f[0] = (unsigned char)(0x80 | op);
  f[1] = (unsigned char)(0x80 | len);
  uint32_t m = rnd32();
  memcpy(f + 2, &m, 4);
  for (size_t i = 0; i < len; i++)
    f[6 + i] = pl[i] ^ f[2 + (i & 3)];
  send_raw(c, f, 6 + len);
}

/* ---- ticks ------------------------------------------------------------- */

/* The number after "key": in p[0..n), or 0 with *ok = 0. */
static double scan_num(const char *p, size_t n, const char *key, int *ok)
{
  size_t kl = strlen(key);
  const char *q = memmem(p, n, key, kl);
  *ok = 0;
  if (!q)
    return 0;
  q += kl;
  while (q < p + n && (*q == ' ' || *q == ':'))
    q++;
  char tmp[40];
  size_t m = 0;
  while (q < p + n && m < sizeof tmp - 1 &&
         ((*q >= '0' && *q <= '9') || *q == '.' || *q == '-' || *q == '+' ||
          *q == 'e' || *q == 'E'))
    tmp[m++] = *q++;
  tmp[m] = 0;
  if (!m)
    return 0;
  char *end;
  double v = strtod(tmp, &end);
  *ok = *end == 0;
  return v;
}

static void on_tick(struct conn *c, const char *p, size_t n)
{
  double now = realtime_s();
  int ok1, ok2;
  double seqd = scan_num(p, n, "\"seq\"", &ok1);
  double t = scan_num(p, n, "\"time\"", &ok2);
  if (!ok1 || !ok2) {
    G.bad_ticks++;
    return;
  }
  int64_t seq = (int64_t)seqd;
  c->msgs++;
  if (c->last_seq) {
    if (seq > c->last_seq + 1) {
      if (!c->stalled && G.phase <= PH_MEASURE) {
        G.gaps++;
        G.gap_missing += (uint64_t)(seq - c->last_seq - 1);
        if (!c->gapped)
          G.readers_gapped++;
      }
      c->gapped = 1;
    } else if (seq <= c->last_seq && !c->stalled) {
      G.reorders++;
    }
  }
  c->last_seq = seq;
  c->last_time = t;
  if (c->stalled && G.phase >= PH_DRAIN && t < G.drain_rt0) {
    c->backlog_ticks++; /* sent before the drain began: it waited in buffers */
    c->backlog_bytes += n + (n < 126 ? 2 : 4);
  }
  if ((uint64_t)seq > G.max_seq && !c->stalled)
    G.max_seq = (uint64_t)seq;
  if (c->stalled)
    return;
  if (G.phase == PH_MEASURE && c->last_rx > 0) {
    double quiet = now - c->last_rx;
    if (quiet > G.silence_max)
      G.silence_max = quiet;
    if (quiet > 1.0 && !c->silent) {
      c->silent = 1;
      G.readers_silent++;
    }
  }
  c->last_rx = now;
  if (G.phase == PH_RAMP)
    G.msgs_ramp++;
  else if (G.phase == PH_MEASURE) {
    G.msgs_measure++;
    G.bytes_measure += n;
    hist_add(now - t);
    G.iv_msgs++;
    if (!G.seq_first || seq < G.seq_first)
      G.seq_first = seq, G.stamp_first = t;
    if (seq > G.seq_last)
      G.seq_last = seq, G.stamp_last = t;
    if (now - t > G.iv_max)
      G.iv_max = now - t;
    if (now - t > 0.1)
      G.iv_over++;
  } else
    G.msgs_after++;
}

/* ---- reading: handshake, then frames ---------------------------------- */

static int ci_prefix(const char *s, const char *pre)
{
  return strncasecmp(s, pre, strlen(pre)) == 0;
}

/* The 101 response in p[0..n) up to and with its blank line; returns the
 * bytes used, 0 when incomplete, -1 when refused. */
static long handshake(struct conn *c, const unsigned char *p, size_t n)
{
  const unsigned char *e = memmem(p, n, "\r\n\r\n", 4);
  if (!e) {
    if (n > 16384) {
      note_fail("handshake", "response headers over 16 KiB");
      return -1;
    }
    return 0;
  }
  size_t hl = (size_t)(e - p) + 4;
  char *h = malloc(hl + 1);
  if (!h)
    abort();
  memcpy(h, p, hl);
  h[hl] = 0;
  int ok = !strncmp(h, "HTTP/1.1 101", 12), acc = 0;
  if (!ok) {
    char *nl = strstr(h, "\r\n");
    if (nl)
      *nl = 0;
    note_fail("handshake answered", h);
  } else {
    for (char *l = strstr(h, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
      char *v = l + 2;
      if (ci_prefix(v, "Sec-WebSocket-Accept:")) {
        v += 21;
        while (*v == ' ')
          v++;
        acc = !strncmp(v, c->accept, 28);
      }
    }
    if (!acc) {
      ok = 0;
      note_fail("handshake", "missing or wrong Sec-WebSocket-Accept");
    }
  }
  free(h);
  return ok ? (long)hl : -1;
}

static void handshake_done(struct conn *c)
{
  c->state = C_OPEN;
  c->opened = 1;
  G.pending--;
  if (c->stalled) {
    G.opened_stalled++;
    G.open_stalled++;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
    G.stalled_connected_rt[c->stalled] = realtime_s();
  } else {
    G.opened_readers++;
    G.open_readers++;
  }
  start_more();
}

/* Frames in p[0..n); returns the bytes consumed, or -1 to drop the
 * connection. */
static long frames(struct conn *c, unsigned char *p, size_t n)
{
  size_t off = 0;
  while (n - off >= 2) {
    unsigned char b0 = p[off], b1 = p[off + 1];
    int fin = b0 & 0x80, op = b0 & 0x0f, masked = b1 & 0x80;
    uint64_t len = b1 & 0x7f;
    size_t hl = 2;
    if (len == 126) {
      if (n - off < 4)
        break;
      len = (uint64_t)p[off + 2] << 8 | p[off + 3];
      hl = 4;
    } else if (len == 127) {
      if (n - off < 10)
        break;
      len = 0;
      for (int i = 0; i < 8; i++)
        len = len << 8 | p[off + 2 + i];
      hl = 10;
    }
    if (masked)
      hl += 4;
    if (len > (16u << 20)) {
      G.protocol_errors++;
      note_fail("frame", "over 16 MiB");
      return -1;
    }
    if (n - off < hl + len)
      break;
    unsigned char *pl = p + off + hl;
    if (masked) { /* a server must not mask (RFC 6455 5.1) */
      G.masked_frames++;
      for (uint64_t i = 0; i < len; i++)
        pl[i] ^= p[off + hl - 4 + (i & 3)];
    }
    if (op == 1 || op == 0) {
      if (!fin || op == 0)
        G.frag_frames++;
      else
        on_tick(c, (const char *)pl, (size_t)len);
    } else if (op == 8) {
      c->got_close = 1;
      c->close_code = len >= 2 ? (unsigned short)(pl[0] << 8 | pl[1]) : 1005;
      if (!c->sent_close) {
        c->sent_close = 1;
        send_control(c, 8, pl, len >= 2 ? 2 : 0);
      }
    } else if (op == 9) {
      G.pings++;
      send_control(c, 10, pl, (size_t)len);
    } else if (op == 2 || op == 10) {
      /* binary or pong: ignored */
    } else {
      G.protocol_errors++;
    }
    off += hl + (size_t)len;
  }
  return (long)off;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
  struct conn *c = s->data;
  if (c->state == C_CLOSED)
    return;
  if (nread < 0) {
    int why = END_ERROR;
    if (nread == UV_EOF)
      why = c->got_close ? END_CLOSE_EOF
            : c->blen    ? END_EOF_MIDFRAME
                         : END_EOF;
    else if (nread == UV_ECONNRESET)
      why = END_RESET;
    if (c->state == C_HANDSHAKE)
      note_fail("handshake", nread == UV_EOF ? "closed by the server"
                                             : uv_strerror((int)nread));
    end_conn(c, why);
    return;
  }
  if (nread == 0)
    return;
  unsigned char *p = (unsigned char *)b->base;
  size_t n = (size_t)nread;
  if (c->blen) { /* a part came before: join them */
    if (c->blen + n > c->bcap) {
      size_t cap = (c->blen + n) * 2;
      unsigned char *nb = realloc(c->buf, cap);
      if (!nb)
        abort();
      c->buf = nb, c->bcap = cap;
    }
    memcpy(c->buf + c->blen, p, n);
    c->blen += n;
    p = c->buf, n = c->blen;
  }
  size_t used = 0;
  if (c->state == C_HANDSHAKE) {
    long r = handshake(c, p, n);
    if (r < 0) {
      end_conn(c, END_CLOSE_EOF);
      return;
    }
    used = (size_t)r;
    if (r > 0)
      handshake_done(c);
  }
  if (c->state == C_OPEN && used < n && (c->reading || c->stalled)) {
    long r = frames(c, p + used, n - used);
    if (r < 0) {
      end_conn(c, END_ERROR);
      return;
    }
    used += (size_t)r;
  }
  size_t rest = n - used;
  if (!rest) {
    c->blen = 0;
  } else if (p == c->buf) {
    memmove(c->buf, c->buf + used, rest);
    c->blen = rest;
  } else {
    if (rest > c->bcap) {
      unsigned char *nb = realloc(c->buf, rest < 4096 ? 4096 : rest);
      if (!nb)
        abort();
      c->buf = nb, c->bcap = rest < 4096 ? 4096 : rest;
    }
    memcpy(c->buf, p + used, rest);
    c->blen = rest;
  }
}

static void on_connect(uv_connect_t *r, int status)
{
  struct conn *c = r->data;
  if (c->state == C_CLOSED)
    return;
  if (status < 0) {
    note_fail("connect", uv_strerror(status));
    end_conn(c, END_ERROR);
    return;
  }
  c->state = C_HANDSHAKE;
  unsigned char key[16];
  for (int i = 0; i < 16; i += 4) {
    uint32_t v = rnd32();
    memcpy(key + i, &v, 4);
  }
  char k64[25], req[512];
  base64(key, 16, k64);
  char cat[64];
  snprintf(cat, sizeof cat, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", k64);
  unsigned char dg[20];
  sha1((unsigned char *)cat, strlen(cat), dg);
  base64(dg, 20, c->accept);
  int len = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     G.path, G.host, G.port, k64);
  send_raw(c, req, (size_t)len);
  c->reading = 1;
  int rc = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
  if (rc) {
    note_fail("read", uv_strerror(rc));
    end_conn(c, END_ERROR);
  }
}

static void start_one(int i)
{
  struct conn *c = &G.c[i];
  c->stalled = i < G.n ? 0 : i < G.n + G.k ? 1 : 2;
  c->t_start = mono_s();
  c->state = C_CONNECTING;
  G.pending++;
  int rc = uv_tcp_init_ex(G.loop, &c->tcp, AF_INET);
  if (rc) {
    note_fail("socket", uv_strerror(rc));
    c->state = C_CLOSED;
    G.pending--;
    G.fail_connect++;
    return;
  }
  c->tcp.data = c;
  c->creq.data = c;
  uv_tcp_nodelay(&c->tcp, 1);
  if (c->stalled == 2 && G.stalled_rcvbuf > 0) {
    uv_os_fd_t fd;
    if (!uv_fileno((uv_handle_t *)&c->tcp, &fd))
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &G.stalled_rcvbuf, sizeof(int));
  }
  rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&G.addr,
                      on_connect);
  if (rc) {
    note_fail("connect", uv_strerror(rc));
    end_conn(c, END_ERROR);
  }
}

static void start_more(void)
{
  if (G.phase != PH_RAMP)
    return;
  while (G.pending < G.window && G.next < G.total)
    start_one(G.next++);
  if (G.next >= G.total && G.pending == 0)
    begin_measure();
}

static void begin_measure(void)
{
  if (G.phase != PH_RAMP)
    return;
  G.phase = PH_MEASURE;
  G.meas_t0 = mono_s();
  G.meas_rt0 = realtime_s();
  G.cpu_start = self_cpu_s();
  if (G.server_pid) {
    G.srv_rss_start = proc_status_kib(G.server_pid, "VmRSS");
    G.srv_cpu_start = proc_cpu_s(G.server_pid);
  }
  G.iv_t0 = G.meas_t0;
  G.self_wait_start = runq_wait_s(0);
  if (G.server_pid)
    G.srv_wait_start = runq_wait_s(G.server_pid);
  fprintf(stderr,
          "wsload: %d readers and %d stalled connected in %.1f s; measuring "
          "%.0f s\n",
          G.open_readers, G.open_stalled, G.meas_t0 - G.ramp_t0, G.duration);
}

static int tcp_state(struct conn *c)
{
  uv_os_fd_t fd;
  struct tcp_info ti;
  socklen_t sl = sizeof ti;
  if (uv_fileno((uv_handle_t *)&c->tcp, &fd) ||
      getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &sl))
    return -1;
  return ti.tcpi_state;
}

static void end_measure(void)
{
  G.phase = PH_DRAIN;
  G.meas_t1 = mono_s();
  G.cpu_end = self_cpu_s();
  if (G.server_pid) {
    G.srv_rss_end = proc_status_kib(G.server_pid, "VmRSS");
    G.srv_hwm_end = proc_status_kib(G.server_pid, "VmHWM");
    G.srv_cpu_end = proc_cpu_s(G.server_pid);
  }
  G.drain_t0 = G.meas_t1;
  G.self_wait_end = runq_wait_s(0);
  if (G.server_pid)
    G.srv_wait_end = runq_wait_s(G.server_pid);
  G.drain_rt0 = realtime_s();
  /* The stalled connections: what TCP says now, then read what is left. */
  for (int i = G.n; i < G.total; i++) {
    struct conn *c = &G.c[i];
    if (c->state != C_OPEN)
      continue;
    c->tcp_state_at_drain = (unsigned char)tcp_state(c);
    c->reading = 1;
    if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read))
      end_conn(c, END_ERROR);
  }
}

static void on_timer(uv_timer_t *t)
{
  (void)t;
  double now = mono_s();
  if (G.phase == PH_RAMP) {
    for (int i = 0; i < G.next; i++) {
      struct conn *c = &G.c[i];
      if ((c->state == C_CONNECTING || c->state == C_HANDSHAKE) &&
          now - c->t_start > G.hs_timeout) {
        note_fail("handshake", "timed out");
        G.fail_timeout++;
        G.fail_closed--; /* end_conn counts it as closed: it is a timeout */
        end_conn(c, END_CLOSE_EOF);
      }
    }
    if (G.phase == PH_RAMP && now - G.ramp_t0 > G.ramp_max) {
      fprintf(stderr,
              "wsload: ramp over %.0f s; measuring with what is connected\n",
              G.ramp_max);
      G.next = G.total; /* start no more */
      for (int i = 0; i < G.total; i++) {
        struct conn *c = &G.c[i];
        if (c->state == C_CONNECTING || c->state == C_HANDSHAKE) {
          G.fail_timeout++;
          G.fail_closed--;
          end_conn(c, END_CLOSE_EOF);
        }
      }
      begin_measure();
    }
  } else if (G.phase == PH_MEASURE && now - G.meas_t0 >= G.duration) {
    end_measure();
  } else if (G.phase == PH_MEASURE && G.iv_len > 0 &&
             now - G.iv_t0 >= G.iv_len) {
    /* seconds since the measuring began, messages, latency max, over 100 ms,
     * server VmRSS */
    printf("iv %.0f %llu %.1f %llu %ld\n", now - G.meas_t0,
           (unsigned long long)G.iv_msgs, G.iv_max * 1e3,
           (unsigned long long)G.iv_over,
           G.server_pid ? proc_status_kib(G.server_pid, "VmRSS") : -1L);
    fflush(stdout);
    G.iv_t0 = now;
    G.iv_msgs = G.iv_over = 0;
    G.iv_max = 0;
  } else if (G.phase == PH_DRAIN &&
             (now - G.drain_t0 >= G.drain_s || G.open_stalled == 0)) {
    G.phase = PH_DONE;
    uv_stop(G.loop);
  }
}

/* What became of the stalled connections of one group. */
static void report_stalled(int group, const char *pre)
{
  int st[4] = {0}, ends[6] = {0}, c1008 = 0, cother = 0, other_code = 0,
      any = 0, closed = 0;
  uint64_t bticks = 0, bbytes = 0;
  double last_min = 0, last_max = 0;
  for (int i = G.n; i < G.total; i++) {
    struct conn *c = &G.c[i];
    if (c->stalled != group || !c->opened)
      continue;
    any++;
    int s = c->tcp_state_at_drain;
    st[s == 1 ? 0 : s == 8 ? 1 : s == 7 ? 2 : 3]++;
    ends[c->state == C_CLOSED ? c->end : END_NONE]++;
    if (c->got_close && c->close_code == 1008)
      c1008++;
    else if (c->got_close) {
      cother++;
      other_code = c->close_code;
    }
    bticks += c->backlog_ticks;
    bbytes += c->backlog_bytes;
    if (c->state == C_CLOSED &&
        c->msgs) { /* the last tick the server sent it */
      closed++;
      if (c->last_time > last_max)
        last_max = c->last_time;
      if (!last_min || c->last_time < last_min)
        last_min = c->last_time;
    }
  }
  if (!any)
    return;
  printf("%s_connected_unix %.3f\n", pre, G.stalled_connected_rt[group]);
  printf("%s_tcp_at_end established=%d close_wait=%d closed=%d other=%d\n",
         pre, st[0], st[1], st[2], st[3]);
  printf("%s_end", pre);
  for (int w = 0; w < 6; w++)
    if (ends[w])
      printf(" %s=%d", end_names[w], ends[w]);
  printf("\n%s_close_1008 %d\n%s_close_other %d", pre, c1008, pre, cother);
  if (cother)
    printf(" (%d)", other_code);
  printf("\n");
  printf("%s_backlog_ticks_avg %.0f\n%s_backlog_kib_avg %.0f\n", pre,
         (double)bticks / any, pre, (double)bbytes / 1024.0 / any);
  if (closed)
    printf("%s_last_tick_after_connect_s %.1f %.1f\n", pre,
           last_min - G.stalled_connected_rt[group],
           last_max - G.stalled_connected_rt[group]);
  else
    printf("%s_last_tick_after_connect_s - -\n", pre);
}

static void on_usr1(uv_signal_t *s, int signum)
{
  (void)s, (void)signum;
  if (G.phase == PH_MEASURE)
    end_measure();
}

static void usage(void)
{
  fprintf(
      stderr,
      "usage: wsload -p PORT [-H HOST] [-u PATH] [-n READERS] [-k STALLED] "
      "[-d SECONDS] [-w WINDOW] [-g DRAIN_S] [-r RAMP_MAX_S] [-P SERVER_PID] "
      "[-s STALLED_SMALL] [-R SMALL_RCVBUF] [-i INTERVAL_S]\n"
      "  -k: stalled connections with the system's socket buffers; -s: "
      "stalled ones\n"
      "  whose SO_RCVBUF is set to -R bytes (default 4096) before "
      "connecting;\n"
      "  -i: an \"iv SECONDS MESSAGES LAT_MAX_MS OVER_100MS SERVER_RSS_KIB\" "
      "line per interval;\n"
      "  SIGUSR1 ends the measuring early\n");
  exit(2);
}

int main(int argc, char **argv)
{
  G.host = "127.0.0.1";
  G.path = "/ws";
  G.n = 1000;
  G.duration = 20;
  G.window = 200;
  G.drain_s = 3;
  G.ramp_max = 120;
  G.hs_timeout = 15;
  G.stalled_rcvbuf = 4096;
  int o;
  while ((o = getopt(argc, argv, "p:H:u:n:k:s:d:w:g:r:P:R:i:")) != -1) {
    switch (o) {
    case 'p':
      G.port = atoi(optarg);
      break;
    case 'H':
      G.host = optarg;
      break;
    case 'u':
      G.path = optarg;
      break;
    case 'n':
      G.n = atoi(optarg);
      break;
    case 'k':
      G.k = atoi(optarg);
      break;
    case 's':
      G.ks = atoi(optarg);
      break;
    case 'd':
      G.duration = atof(optarg);
      break;
    case 'w':
      G.window = atoi(optarg);
      break;
    case 'g':
      G.drain_s = atof(optarg);
      break;
    case 'r':
      G.ramp_max = atof(optarg);
      break;
    case 'P':
      G.server_pid = atoi(optarg);
      break;
    case 'R':
      G.stalled_rcvbuf = atoi(optarg);
      break;
    case 'i':
      G.iv_len = atof(optarg);
      break;
    default:
      usage();
    }
  }
  if (G.port <= 0 || G.port > 65535 || G.n < 0 || G.k < 0 || G.ks < 0 ||
      G.n + G.k + G.ks < 1 || G.window < 1 || G.duration <= 0)
    usage();
  if (uv_ip4_addr(G.host, G.port, &G.addr)) {
    fprintf(stderr, "wsload: %s is not an IPv4 address\n", G.host);
    return 2;
  }
  struct rlimit rl;
  if (!getrlimit(RLIMIT_NOFILE, &rl) &&
      rl.rlim_cur < (rlim_t)(G.n + G.k + G.ks + 64))
    fprintf(stderr,
            "wsload: ulimit -n is %lu, fewer than %d connections need\n",
            (unsigned long)rl.rlim_cur, G.n + G.k + G.ks + 64);
  signal(SIGPIPE,
         SIG_IGN); /* a write to a closed socket is an error, not an exit */
  rng_state ^= (uint64_t)getpid() << 32 ^ (uint64_t)(realtime_s() * 1e6);
  G.total = G.n + G.k + G.ks;
  G.c = calloc((size_t)G.total, sizeof *G.c);
  if (!G.c) {
    fprintf(stderr, "wsload: out of memory\n");
    return 2;
  }
  G.loop = uv_default_loop();
  if (G.server_pid)
    G.srv_rss0 = proc_status_kib(G.server_pid, "VmRSS");
  G.ramp_t0 = mono_s();
  double ramp_rt0 = realtime_s();
  uv_timer_init(G.loop, &G.timer);
  uv_timer_start(&G.timer, on_timer, 50, 50);
  uv_signal_init(G.loop, &G.sig);
  uv_signal_start(&G.sig, on_usr1, SIGUSR1);
  uv_unref((uv_handle_t *)&G.sig);
  start_more();
  uv_run(G.loop, UV_RUN_DEFAULT);

  /* ---- report ---- */
  double meas = G.meas_t1 - G.meas_t0;
  int fails =
      G.fail_connect + G.fail_handshake + G.fail_timeout + G.fail_closed;

  printf("readers %d\nstalled %d\nstalled_small %d\nsmall_rcvbuf %d\n", G.n,
         G.k, G.ks, G.stalled_rcvbuf);
  printf("connected %d\nconnected_stalled %d\n", G.opened_readers,
         G.opened_stalled);
  printf("connect_failures %d\n", fails);
  printf(
      "fail_connect %d\nfail_handshake %d\nfail_timeout %d\nfail_closed %d\n",
      G.fail_connect, G.fail_handshake, G.fail_timeout, G.fail_closed);
  printf("first_failure %s\n", G.first_fail[0] ? G.first_fail : "-");
  printf("ramp_s %.2f\n", G.meas_t0 - G.ramp_t0);
  printf("ramp_start_unix %.3f\nmeasure_start_unix %.3f\n", ramp_rt0,
         G.meas_rt0);
  printf("measured_s %.2f\n", meas);
  printf("messages_ramp %llu\n", (unsigned long long)G.msgs_ramp);
  printf("messages %llu\n", (unsigned long long)G.msgs_measure);
  printf("messages_per_s %.0f\n",
         meas > 0 ? (double)G.msgs_measure / meas : 0);
  printf("messages_per_client_s %.2f\n",
         meas > 0 && G.opened_readers
             ? (double)G.msgs_measure / meas / G.opened_readers
             : 0);
  printf("tick_bytes_avg %.0f\n",
         G.msgs_measure ? (double)G.bytes_measure / (double)G.msgs_measure
                        : 0);
  printf("lat_p50_ms %.2f\nlat_p95_ms %.2f\nlat_p99_ms %.2f\nlat_max_ms "
         "%.2f\nlat_mean_ms %.2f\n",
         hist_q_ms(0.50), hist_q_ms(0.95), hist_q_ms(0.99),
         hist_n ? hist_max * 1e3 : NAN,
         hist_n ? hist_sum / (double)hist_n * 1e3 : NAN);
  printf("lat_negative %llu\n", (unsigned long long)hist_negative);
  printf("readers_with_gap %d\ngaps %llu\nticks_missed %llu\nreorders %llu\n",
         G.readers_gapped, (unsigned long long)G.gaps,
         (unsigned long long)G.gap_missing, (unsigned long long)G.reorders);
  printf("silence_max_ms %.1f\nreaders_silent_1s %d\n", G.silence_max * 1e3,
         G.readers_silent);
  printf("readers_lost %d\n", G.readers_lost);
  printf("readers_lost_how");
  for (int w = 1; w < 6; w++)
    if (G.readers_lost_why[w])
      printf(" %s=%d", end_names[w], G.readers_lost_why[w]);
  printf("%s\n", G.readers_lost ? "" : " -");
  {
    /* close codes seen by readers */
    int codes[8] = {0}, ncodes = 0;
    int counts[8] = {0};
    for (int i = 0; i < G.n; i++) {
      struct conn *c = &G.c[i];
      if (!c->got_close)
        continue;
      int j;
      for (j = 0; j < ncodes && codes[j] != c->close_code; j++)
        ;
      if (j == ncodes && ncodes < 8)
        codes[ncodes++] = c->close_code;
      if (j < 8)
        counts[j]++;
    }
    printf("readers_close_codes");
    for (int j = 0; j < ncodes; j++)
      printf(" %d=%d", codes[j], counts[j]);
    printf("%s\n", ncodes ? "" : " -");
  }
  printf("bad_ticks %llu\nfragmented %llu\nmasked_from_server %llu\npings "
         "%llu\nprotocol_errors %llu\n",
         (unsigned long long)G.bad_ticks, (unsigned long long)G.frag_frames,
         (unsigned long long)G.masked_frames, (unsigned long long)G.pings,
         (unsigned long long)G.protocol_errors);
  printf("max_seq %llu\n", (unsigned long long)G.max_seq);
  /* The hub's own rate: ticks stamped per second, from the first and last
   * ticks seen while measuring. */
  printf("hub_ticks_per_s %.2f\n", G.stamp_last > G.stamp_first
                                       ? (double)(G.seq_last - G.seq_first) /
                                             (G.stamp_last - G.stamp_first)
                                       : 0);
  printf("client_cpu_measured_s %.2f\nclient_cpu_total_s %.2f\nclient_rss_kib "
         "%ld\n",
         G.cpu_end - G.cpu_start, self_cpu_s(), proc_status_kib(0, "VmHWM"));
  printf("client_runq_wait_s %.2f\n", G.self_wait_end - G.self_wait_start);
  if (G.server_pid) {
    printf("server_rss0_kib %ld\nserver_rss_start_kib %ld\nserver_rss_end_kib "
           "%ld\nserver_hwm_kib %ld\n",
           G.srv_rss0, G.srv_rss_start, G.srv_rss_end, G.srv_hwm_end);
    printf("server_cpu_measured_s %.2f\n",
           G.srv_cpu_end >= 0 && G.srv_cpu_start >= 0
               ? G.srv_cpu_end - G.srv_cpu_start
               : NAN);
    printf("server_runq_wait_s %.2f\n", G.srv_wait_end - G.srv_wait_start);
  }
  report_stalled(1, "stalled");
  report_stalled(2, "stalled_small");
  fprintf(stderr,
          "wsload: %d connected (%d failed), %llu messages in %.1f s "
          "(%.0f/s), latency p50 %.2f "
          "p99 %.2f max %.2f ms, %d readers with a gap, %d lost, cpu %.2f s\n",
          G.opened_readers + G.opened_stalled, fails,
          (unsigned long long)G.msgs_measure, meas,
          meas > 0 ? (double)G.msgs_measure / meas : 0, hist_q_ms(0.5),
          hist_q_ms(0.99), hist_max * 1e3, G.readers_gapped, G.readers_lost,
          G.cpu_end - G.cpu_start);
  fflush(stdout);
  _exit(0);
}
