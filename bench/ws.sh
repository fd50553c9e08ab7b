#!/bin/bash
# bench/ws.sh — the live hub under load: spate's /ws (`spate fetch --dashboard`,
# ticks 10 times a second) beside the course's Python hub (websockets + asyncio,
# bench/peers/ws_broadcast.py), both measured by one load client (bench/wsload.c)
# on loopback. Prints a table and writes it, with the machine's facts, to
# bench/results/ws-<UTC date-time>.md and bench/results/ws-latest.md.
#
#   bench/ws.sh                  1,000 and 10,000 clients, 20 s each, per hub; then
#                                1,000 readers + 10 stalled clients, per hub, until
#                                spate has dropped all 10 (at most --stall-max s;
#                                about 5 minutes in all)
#   bench/ws.sh --quick          the stalled runs last --duration s too (about 3 minutes)
#   bench/ws.sh --duration S     seconds measured per run (default 20)
#   bench/ws.sh --clients "N.."  reader counts (default "1000 10000")
#   bench/ws.sh --stall-max S    limit of a stalled run (default 900)
#   bench/ws.sh --no-python      spate only
#   bench/ws.sh --keep           keep the scratch directory (every run's output)
#   bench/ws.sh --report DIR     no runs: write the report again from a kept scratch dir
#
# This is a report, not a test: exit 0 even when a target is missed, 1 when a
# run failed to execute (a server that did not start or died, a load client that
# crashed or timed out), 2 when the set-up failed (no spate, no C compiler/libuv).
# Environment: SPATE (binary, default build/spate).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=ws.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh" || exit 2
SPATE=${SPATE:-$ROOT/build/spate}
PY=/usr/bin/python3 # Debian's python, where python3-websockets lives
DURATION=20
CLIENTS="1000 10000"
STALL_READERS=1000
STALLED=5       # stalled with the system's socket buffers
STALLED_SMALL=5 # stalled with SO_RCVBUF 4096 set before connecting
STALL_MAX=900
QUICK=0
KEEP=0
PYTHON=1
REPORT_DIR=
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1 ;;
    --duration) DURATION=${2:?--duration needs seconds}; shift ;;
    --clients) CLIENTS=${2:?--clients needs a list}; shift ;;
    --stall-max) STALL_MAX=${2:?--stall-max needs seconds}; shift ;;
    --no-python) PYTHON=0 ;;
    --keep) KEEP=1 ;;
    --report) REPORT_DIR=${2:?--report needs a kept scratch dir}; shift ;;
    -h | --help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "ws.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
for v in "$DURATION" "$STALL_MAX" $CLIENTS; do
  case $v in '' | *[!0-9]* | 0) echo "ws.sh: --duration, --stall-max and --clients want positive whole numbers" >&2; exit 2 ;; esac
done

# Loopback only: no proxy may take these requests.
unset http_proxy https_proxy all_proxy no_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY NO_PROXY
export LC_ALL=C

if [ -n "$REPORT_DIR" ]; then
  [ -f "$REPORT_DIR/meta" ] || { echo "ws.sh: $REPORT_DIR/meta missing: not a kept scratch dir of a complete run" >&2; exit 2; }
  WORK=$(cd "$REPORT_DIR" && pwd)
  KEEP=1
else
  WORK=$(mktemp -d /tmp/spate-ws.XXXXXX)
fi
mkdir -p "$WORK/runs"
CHILD=   # the load client being waited for
SRV_PID= # the hub under test
SRV_FD=  # the write end of spate's stdin fifo, held open
POLL_PID=
FAILS=0
NOTES=$WORK/notes
BUGS=$WORK/bugs
: >"$NOTES"
: >"$BUGS"

bug() { echo "- $*" >>"$BUGS"; log "  MISBEHAVIOUR: $*"; }

stop_poll() {
  [ -n "$POLL_PID" ] || return 0
  kill -TERM "$POLL_PID" 2>/dev/null
  wait "$POLL_PID" 2>/dev/null
  POLL_PID=
}
stop_server() {
  stop_poll
  if [ -n "$SRV_PID" ]; then
    local pid=$SRV_PID
    SRV_PID=
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "  server (pid $pid) did not stop on TERM in 5 s; sending KILL"
      kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
  fi
  if [ -n "$SRV_FD" ]; then
    exec {SRV_FD}>&-
    SRV_FD=
  fi
}
CLEANUP_STOPS=stop_server
set_traps

val() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "$WORK/runs/$2.out" 2>/dev/null; }

if [ -z "$REPORT_DIR" ]; then # the measuring; with --report, only the report below
# ---------------------------------------------------------------- preflight
log "== spate live hub bench, scratch $WORK"
build_spate 900 cmake --build "$ROOT/build" -j2
snapshot_spate
"$SPATE" fetch --help 2>&1 | grep -q -- '--dashboard' ||
  { echo "ws.sh: $SPATE_SRC has no fetch --dashboard" >&2; exit 2; }
for p in cc pkg-config curl timeout; do
  command -v "$p" >/dev/null 2>&1 || { echo "ws.sh: $p missing" >&2; exit 2; }
done
# shellcheck disable=SC2046
cc -O2 -std=c17 -o "$WORK/wsload" "$ROOT/bench/wsload.c" $(pkg-config --cflags --libs libuv) -lm \
  2>"$WORK/cc.err" || { cat "$WORK/cc.err" >&2; echo "ws.sh: cannot build bench/wsload.c (libuv1-dev?)" >&2; exit 2; }
WSLOAD=$WORK/wsload
HAVE_PY=0
if [ "$PYTHON" = 1 ]; then
  if "$PY" -c 'import websockets' 2>/dev/null; then
    HAVE_PY=1
  else
    fail "$PY cannot import websockets (apt-get install python3-websockets): no Python rows"
  fi
fi

# 10,000 connections on each side, in two processes: each needs ~10,100 descriptors.
raise_nofile 30000 30000
MAXN=0
for n in $CLIENTS "$STALL_READERS"; do [ "$n" -gt "$MAXN" ] && MAXN=$n; done
[ "$NOFILE" -ge "$WANT_NOFILE" ] ||
  note "ulimit -n is $NOFILE (the hard limit here; raising it needs CAP_SYS_RESOURCE), not the $WANT_NOFILE wanted; $([ "$NOFILE" -gt $((MAXN + 200)) ] && echo "enough for $MAXN clients per process" || echo "NOT enough for $MAXN clients")"

mark_start

# ---------------------------------------------------------------- servers
# start_server KIND NAME: sets SRV_PID and SRV_PORT, or returns 1.
start_server() {
  local kind=$1 name=$2
  SRV_PORT=
  if [ "$kind" = spate ]; then
    # stdin: a fifo held open and never written, so the fetch job runs (and ticks) until stopped.
    local fifo=$WORK/$name.stdin
    mkfifo "$fifo" || return 1
    "$SPATE" fetch --dashboard 127.0.0.1:0 --no-progress <"$fifo" >"$WORK/runs/$name.srv.out" 2>"$WORK/runs/$name.srv.err" &
    SRV_PID=$!
    exec {SRV_FD}>"$fifo"
    for _ in $(seq 100); do
      SRV_PORT=$(sed -n 's|^spate: dashboard on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$WORK/runs/$name.srv.err" | head -n 1)
      [ -n "$SRV_PORT" ] && break
      kill -0 "$SRV_PID" 2>/dev/null || break
      sleep 0.1
    done
  else
    "$PY" "$ROOT/bench/peers/ws_broadcast.py" --host 127.0.0.1 --port 0 \
      >"$WORK/runs/$name.srv.out" 2>"$WORK/runs/$name.srv.err" &
    SRV_PID=$!
    for _ in $(seq 100); do
      SRV_PORT=$(sed -n 's/^listening on \([0-9]*\)$/\1/p' "$WORK/runs/$name.srv.out" | head -n 1)
      [ -n "$SRV_PORT" ] && break
      kill -0 "$SRV_PID" 2>/dev/null || break
      sleep 0.1
    done
  fi
  if [ -z "$SRV_PORT" ]; then
    fail "$name: the $kind hub did not start: $(tail -n 2 "$WORK/runs/$name.srv.err" 2>/dev/null | tr '\n' ' ' | cut -c1-200)"
    stop_server
    return 1
  fi
  if [ "$kind" = spate ]; then
    for _ in $(seq 50); do
      [ "$(curl -q -s --noproxy '*' --max-time 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SRV_PORT/api/stats")" = 200 ] && break
      sleep 0.1
    done
  fi
  sleep 1 # a second of ticks with no client: the RSS before
  return 0
}

metrics() { # metrics NAME -> value of one spate_live_* series
  curl -q -s --noproxy '*' --max-time 3 "http://127.0.0.1:$SRV_PORT/metrics" 2>/dev/null |
    awk -v k="$1" '$1 == k { print $2; exit }'
}

# One second at a time: "unix_time ws_clients dropped_slow broadcasts max_send_q",
# the last the largest Send-Q (bytes in the kernel) of the hub's sockets.
start_poll() {
  local out=$1 port=$SRV_PORT
  (
    trap 'exit 0' TERM
    while :; do
      curl -q -s --noproxy '*' --max-time 1 "http://127.0.0.1:$port/metrics" 2>/dev/null |
        awk -v t="$(date +%s.%N | cut -c1-14)" '
          $1 == "spate_live_clients{kind=\"ws\"}" { c = $2 }
          $1 == "spate_live_dropped_slow_total" { d = $2 }
          $1 == "spate_live_broadcasts_total" { b = $2 }
          END { if (c != "") printf "%s %s %s %s ", t, c, d, b }'
      ss -tnH state established "( sport = :$port )" 2>/dev/null | awk '$2 > m { m = $2 } END { print m + 0 }'
      sleep 1 &
      wait $!
    done
  ) >>"$out" &
  POLL_PID=$!
}

# run_load NAME TIMEOUT ARGS...: the load client against SRV_PORT, SRV_PID.
# With STOP_ON_DROP=N set, ends the measuring (SIGUSR1) 12 s after spate's
# dropped_slow reaches N (its DROP_GRACE_MS is 5 s).
run_load() {
  local name=$1 tmo=$2
  shift 2
  timeout -k 5 "$tmo" "$WSLOAD" -p "$SRV_PORT" -P "$SRV_PID" "$@" >"$WORK/runs/$name.out" 2>"$WORK/runs/$name.err" &
  CHILD=$!
  DROP_AT=
  if [ -n "${STOP_ON_DROP:-}" ]; then
    local signalled=0 wpid
    wpid=$(pgrep -P "$CHILD" -x wsload | head -n 1) # timeout's child
    while kill -0 "$CHILD" 2>/dev/null; do
      sleep 1 &
      wait $!
      [ "$signalled" = 1 ] && continue
      local last
      last=$(tail -n 1 "$WORK/runs/$name.poll" 2>/dev/null)
      if [ -z "$DROP_AT" ] && [ -n "$last" ] && [ "$(echo "$last" | awk '{ print $3 + 0 }')" -ge "$STOP_ON_DROP" ]; then
        DROP_AT=$(date +%s)
        log "  $STOP_ON_DROP stalled clients dropped by the server; ending the run in 12 s"
      fi
      if [ -n "$DROP_AT" ] && [ $(($(date +%s) - DROP_AT)) -ge 12 ]; then
        [ -n "$wpid" ] || wpid=$(pgrep -P "$CHILD" -x wsload | head -n 1)
        [ -n "$wpid" ] && kill -USR1 "$wpid" 2>/dev/null
        signalled=1
      fi
    done
  fi
  wait "$CHILD"
  L_RC=$?
  CHILD=
  if [ "$L_RC" != 0 ] || ! grep -q '^messages_per_s ' "$WORK/runs/$name.out"; then
    local why="exit $L_RC"
    [ "$L_RC" = 124 ] && why="timed out after $tmo s"
    fail "$name: the load client did not complete ($why): $(tail -n 2 "$WORK/runs/$name.err" 2>/dev/null | tr '\n' ' ' | cut -c1-200)"
    return 1
  fi
  return 0
}

# A run: hub KIND, readers N, stalled K (system buffers) and KS (small rcvbuf), seconds D.
run_case() { # run_case NAME KIND N K KS D
  local name=$1 kind=$2 n=$3 k=$4 ks=$5 d=$6 tmo
  log "== $name: $kind hub, $n readers$([ $((k + ks)) -gt 0 ] && echo " + $((k + ks)) stalled"), up to $d s measured"
  start_server "$kind" "$name" || return 1
  if [ "$kind" = spate ]; then
    : >"$WORK/runs/$name.poll"
    start_poll "$WORK/runs/$name.poll"
  fi
  tmo=$((d + 240))
  local iv=5
  [ "$d" -gt 120 ] && iv=30
  run_load "$name" "$tmo" -n "$n" -k "$k" -s "$ks" -d "$d" -i "$iv" -w 200 -g 5 -r 180
  local ok=$?
  if kill -0 "$SRV_PID" 2>/dev/null; then
    if [ "$kind" = spate ]; then
      metrics spate_live_dropped_slow_total >"$WORK/runs/$name.dropped"
      metrics spate_live_broadcasts_total >"$WORK/runs/$name.broadcasts"
    fi
  else
    wait "$SRV_PID" 2>/dev/null
    fail "$name: the $kind hub died during the run (exit $?): $(tail -n 2 "$WORK/runs/$name.srv.err" | tr '\n' ' ' | cut -c1-200)"
    bug "$name: the $kind hub died under load: $(tail -n 2 "$WORK/runs/$name.srv.err" | tr '\n' ' ' | cut -c1-200)"
    SRV_PID=
    ok=1
  fi
  stop_server
  [ "$ok" = 0 ] && log "  $(tail -n 1 "$WORK/runs/$name.err")"
  return "$ok"
}

# ---------------------------------------------------------------- runs
HUBS=spate
[ "$HAVE_PY" = 1 ] && HUBS="spate python"
for n in $CLIENTS; do
  for hub in $HUBS; do
    run_case "$hub-$n" "$hub" "$n" 0 0 "$DURATION"
    sleep 2 # let the closed connections' TIME_WAIT settle a little
  done
done

NSTALL=$((STALLED + STALLED_SMALL))
STALL_D=$STALL_MAX
[ "$QUICK" = 1 ] && STALL_D=$DURATION
# The run ends once every stalled client is dropped (or at STALL_D).
STOP_ON_DROP=$NSTALL run_case "spate-stall" spate "$STALL_READERS" "$STALLED" "$STALLED_SMALL" "$STALL_D"
# The Python hub gets as long as spate's stalled run took (it has no drop counter).
SPATE_STALL_S=$(val measured_s spate-stall | cut -d. -f1)
if [ "$HAVE_PY" = 1 ]; then
  PY_STALL_D=${SPATE_STALL_S:-$STALL_D}
  [ -n "$PY_STALL_D" ] && [ "$PY_STALL_D" -gt 0 ] 2>/dev/null || PY_STALL_D=$STALL_D
  run_case "python-stall" python "$STALL_READERS" "$STALLED" "$STALLED_SMALL" "$PY_STALL_D"
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(($(date +%s) - T0))
ENDED=$(date -u '+%H:%M:%S UTC')
git_rev
# What the report needs, so that --report can write it again from this dir.
declare -p STARTED ENDED STAMP ELAPSED LOAD_START LOAD_END NOFILE GITREV SPATE SPATE_SRC SPATE_MTIME \
  SPATE_SUM HAVE_PY HUBS CLIENTS DURATION QUICK STALL_D STALL_READERS STALLED STALLED_SMALL NSTALL \
  FAILS >"$WORK/meta"
cp "$NOTES" "$WORK/notes.runs"
cp "$BUGS" "$WORK/bugs.runs"
else
  # shellcheck disable=SC1091
  . "$WORK/meta"
  cp "$WORK/notes.runs" "$NOTES"
  cp "$WORK/bugs.runs" "$BUGS"
  log "== report again from $WORK (runs of $STARTED)"
fi

# ---------------------------------------------------------------- report
have() { [ -s "$WORK/runs/$1.out" ] && grep -q '^messages_per_s ' "$WORK/runs/$1.out"; }
# RSS per client in KiB: (VmRSS with N connected, at the end of the measuring - VmRSS before) / N
rss_per_client() {
  local r0 r1 c
  r0=$(val server_rss0_kib "$1") r1=$(val server_rss_end_kib "$1") c=$(val connected "$1")
  # A run that did not happen (--no-python) has no values: "-", not an awk error.
  r0=${r0:-0} r1=${r1:-0} c=${c:-0}
  calc "if ($c > 0 && $r0 > 0 && $r1 > 0) printf \"%.1f\", ($r1 - $r0) / $c; else print \"-\""
}
mib() { calc "if ($1 > 0) printf \"%.1f\", $1 / 1024; else print \"-\""; }
ticks_per_client() { val messages_per_client_s "$1"; }
ms() { calc "v = \"$1\"; if (v == \"\" || v == \"nan\") print \"-\"; else printf \"%.1f\", v"; }

TABLE1=$WORK/table1
{
  echo "| hub | readers | connected (failed) | ramp s | hub ticks/s | received per client /s | messages/s | latency p50 ms | p95 | p99 | max | longest silence ms | readers with a seq gap | readers lost | server RSS before → with N, MiB | **RSS per client KiB** | server CPU s (% of a core) | server waited for a CPU s | load client CPU s |"
  echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
  for n in $CLIENTS; do
    for hub in $HUBS; do
      r=$hub-$n
      have "$r" || { echo "| $hub | $n | run failed (see Notes) | | | | | | | | | | | | | | | | |"; continue; }
      meas=$(val measured_s "$r")
      scpu=$(val server_cpu_measured_s "$r")
      printf '| %s | %s | %s (%s) | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s → %s | %s | %s (%s%%) | %s | %s |\n' \
        "$([ "$hub" = spate ] && echo spate || echo 'Python websockets 10.4 + asyncio.gather')" "$n" \
        "$(val connected "$r")" "$(val connect_failures "$r")" "$(val ramp_s "$r")" \
        "$(val hub_ticks_per_s "$r")" "$(ticks_per_client "$r")" "$(val messages_per_s "$r")" \
        "$(ms "$(val lat_p50_ms "$r")")" "$(ms "$(val lat_p95_ms "$r")")" "$(ms "$(val lat_p99_ms "$r")")" \
        "$(ms "$(val lat_max_ms "$r")")" "$(ms "$(val silence_max_ms "$r")")" "$(val readers_with_gap "$r")" "$(val readers_lost "$r")" \
        "$(mib "$(val server_rss0_kib "$r")")" "$(mib "$(val server_rss_end_kib "$r")")" "$(rss_per_client "$r")" \
        "$scpu" "$(calc "if ($meas > 0) printf \"%.0f\", $scpu / $meas * 100; else print \"-\"")" \
        "$(val server_runq_wait_s "$r")" "$(val client_cpu_measured_s "$r")"
    done
  done
} >"$TABLE1"

# Where a stalled run's time went: the poller's timeline, first drop, all dropped.
stall_story() { # stall_story RUN -> lines of markdown
  local r=$1 k s
  have "$r" || { echo "- $r: run failed (see Notes)"; return; }
  local cu meas
  cu=$(val stalled_connected_unix "$r")
  [ -n "$cu" ] || cu=$(val stalled_small_connected_unix "$r")
  meas=$(val measured_s "$r")
  echo "- measured $meas s with $(val connected "$r") readers and $(val connected_stalled "$r") stalled connected (stalled ones connected at the end of the ramp; times below are from then)"
  if [ -s "$WORK/runs/$r.poll" ]; then
    awk -v c0="$cu" -v want="$NSTALL" '
      $3 > 0 && !first { first = $1; printf "- server: first subscriber dropped for being slow (spate_live_dropped_slow_total > 0) %.0f s after the stalled clients connected\n", first - c0 }
      $3 >= want && !all { all = $1; printf "- server: all %d stalled dropped %.0f s after they connected\n", want, all - c0 }
      { last = $3; t = $1; if ($5 > mq) { mq = $5; mqt = $1 } }
      END {
        if (mq) printf "- server: max Send-Q of its sockets %.2f MB, first reached %.0f s after the stalled clients connected\n", mq / 1e6, mqt - c0
        if (!first) printf "- server: **no subscriber dropped** in %.0f s (spate_live_dropped_slow_total stayed 0)\n", t - c0
        else if (!all) printf "- server: %d of %d stalled dropped by the end (%.0f s)\n", last, want, t - c0
      }' "$WORK/runs/$r.poll"
    echo "- spate_live_dropped_slow_total at the end: $(cat "$WORK/runs/$r.dropped" 2>/dev/null || echo '?')"
  fi
  for g in stalled stalled_small; do
    k=$(val "${g}_end" "$r")
    [ -n "$k" ] || continue
    local label="with the system's socket buffers"
    [ "$g" = stalled_small ] && label="with SO_RCVBUF $(val small_rcvbuf "$r") (set before connecting)"
    s=$(val "${g}_last_tick_after_connect_s" "$r")
    echo "- stalled $label ($([ "$g" = stalled ] && echo "$STALLED" || echo "$STALLED_SMALL")): TCP state when the run ended: $(val "${g}_tcp_at_end" "$r"); read afterwards: $(val "${g}_end" "$r") (close frames with 1008: $(val "${g}_close_1008" "$r"), other codes: $(val "${g}_close_other" "$r")); each had $(val "${g}_backlog_kib_avg" "$r") KiB ($(val "${g}_backlog_ticks_avg" "$r") ticks) waiting in socket buffers$([ "$s" != "- -" ] && [ -n "$s" ] && echo "; the last tick the server got to them was sent ${s% *}–${s#* } s after they connected")"
  done
  # the readers, over time
  if grep -q '^iv ' "$WORK/runs/$r.out"; then
    echo "- readers over time (s into the measuring: messages, latency max ms, latencies > 100 ms, server VmRSS MiB): $(awk '/^iv / { printf "%s%s: %s, %s, %s, %.1f", (n++ ? "; " : ""), $2, $3, $4, $5, $6 / 1024 }' "$WORK/runs/$r.out")"
  fi
}

TABLE2=$WORK/table2
{
  echo "| hub | readers + stalled | measured s | hub ticks/s | received per reader /s | p50 ms | p99 | max | longest silence ms (readers silent > 1 s) | readers with a gap | readers lost | stalled dropped by the server (how) |"
  echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|"
  for hub in $HUBS; do
    r=$hub-stall
    have "$r" || { echo "| $hub | $STALL_READERS + $NSTALL | run failed | | | | | | | | | |"; continue; }
    how="$(val stalled_end "$r"); $(val stalled_small_end "$r")"
    printf '| %s | %s + %s | %s | %s | %s | %s | %s | %s | %s (%s) | %s | %s | %s |\n' "$hub" "$(val connected "$r")" \
      "$(val connected_stalled "$r")" "$(val measured_s "$r")" "$(val hub_ticks_per_s "$r")" "$(ticks_per_client "$r")" \
      "$(ms "$(val lat_p50_ms "$r")")" "$(ms "$(val lat_p99_ms "$r")")" "$(ms "$(val lat_max_ms "$r")")" \
      "$(ms "$(val silence_max_ms "$r")")" "$(val readers_silent_1s "$r")" "$(val readers_with_gap "$r")" "$(val readers_lost "$r")" \
      "$([ "$hub" = spate ] && echo "$(cat "$WORK/runs/$r.dropped" 2>/dev/null || echo '?') of $NSTALL by dropped_slow; " || echo "")read afterwards: $how"
  done
} >"$TABLE2"

# ---------------------------------------------------------------- targets
BIG=0
for n in $CLIENTS; do [ "$n" -gt "$BIG" ] && BIG=$n; done
TABLE3=$WORK/table3
SUMMARY=
{
  echo "| target | spate | verdict | Python websockets (same load) |"
  echo "|---|--:|---|--:|"
  S=spate-$BIG P=python-$BIG
  pyfig() { have "$P" && echo "$1" || echo "-"; }
  if have "$S"; then
    x=$(rss_per_client "$S")
    v=$(verdict "\"$x\" != \"-\" && $x < 8")
    echo "| RSS per client < 8 KiB with $BIG clients | $x KiB | $v | $(pyfig "$(rss_per_client "$P") KiB") |"
    SUMMARY="RSS/client $v ($x KiB)"
    p=$(val lat_p99_ms "$S")
    v=$(verdict "\"$p\" != \"nan\" && $p < 100")
    echo "| p99 delivery < 100 ms with $BIG clients at 10 ticks/s | $(ms "$p") ms | $v | $(pyfig "$(ms "$(val lat_p99_ms "$P")") ms") |"
    SUMMARY="$SUMMARY; p99 $v ($(ms "$p") ms)"
    t=$(ticks_per_client "$S")
    v=$(verdict "$t >= 9.5")
    echo "| every client gets the 10 ticks a second (≥ 9.5/s received) with $BIG clients | $t /s (the hub ticked $(val hub_ticks_per_s "$S")/s) | $v | $(pyfig "$(ticks_per_client "$P") /s") |"
    SUMMARY="$SUMMARY; 10 ticks/s $v ($t/s)"
    g=$(val readers_with_gap "$S")
    v=$(verdict "$g == 0")
    echo "| no client misses a tick (seq gaps) | $g readers with a gap | $v | $(pyfig "$(val readers_with_gap "$P") readers") |"
  else
    echo "| RSS per client < 8 KiB, p99 < 100 ms with $BIG clients | no figure | FAIL | |"
    SUMMARY="no figure for spate with $BIG clients"
  fi
  R=spate-stall A=spate-$STALL_READERS
  if have "$R"; then
    d=$(cat "$WORK/runs/$R.dropped" 2>/dev/null || echo 0)
    v=$(verdict "${d:-0} >= $NSTALL")
    first=$(awk -v c0="$(val stalled_connected_unix "$R")" '$3 > 0 { printf ", the first %.0f s after connecting", $1 - c0; exit }' "$WORK/runs/$R.poll" 2>/dev/null)
    echo "| the $NSTALL stalled subscribers are dropped (1008) within the run ($(val measured_s "$R") s) | ${d:-0} of $NSTALL$first | $v | $(have python-stall && echo "read afterwards: $(val stalled_end python-stall); $(val stalled_small_end python-stall) (its keepalive: ping every 20 s, 20 s to answer)" || echo -) |"
    SUMMARY="$SUMMARY; stalled dropped $v (${d:-0}/$NSTALL)"
    if have "$A"; then
      p1=$(val lat_p99_ms "$R") p0=$(val lat_p99_ms "$A") q1=$(val readers_silent_1s "$R")
      v=$(verdict "$p1 <= 2 * $p0 + 5 && ${q1:-1} == 0")
      echo "| readers unaffected by the stalled ones: p99 ≤ 2 × the $STALL_READERS-client run's + 5 ms, and no reader over 1 s without a tick | $(ms "$p1") vs $(ms "$p0") ms; longest silence $(ms "$(val silence_max_ms "$R")") ms | $v | $(have python-stall && have "python-$STALL_READERS" && echo "$(ms "$(val lat_p99_ms python-stall)") vs $(ms "$(val lat_p99_ms "python-$STALL_READERS")") ms; longest silence $(ms "$(val silence_max_ms python-stall)") ms ($(val readers_silent_1s python-stall) readers over 1 s)" || echo -) |"
      SUMMARY="$SUMMARY; readers unaffected $v"
    fi
  fi
} >"$TABLE3"

# ---------------------------------------------------------------- misbehaviour
for f in "$WORK"/runs/*.out; do
  [ -e "$f" ] || continue
  r=$(basename "$f" .out)
  case $r in *.srv) continue ;; esac
  have "$r" || continue
  hub=${r%%-*}
  g=$(val readers_with_gap "$r") l=$(val readers_lost "$r") cf=$(val connect_failures "$r")
  [ "${g:-0}" = 0 ] || bug "$r ($hub): $g readers saw a gap in seq ($(val ticks_missed "$r") ticks missed)"
  [ "${l:-0}" = 0 ] || bug "$r ($hub): $l readers were disconnected during the run ($(val readers_lost_how "$r"); close codes $(val readers_close_codes "$r"))"
  q=$(val readers_silent_1s "$r")
  [ "${q:-0}" = 0 ] || bug "$r ($hub): $q readers went over 1 s without a tick (the longest wait $(ms "$(val silence_max_ms "$r")") ms): the hub stopped broadcasting for a while; latency does not show it, as no tick was stamped meanwhile"
  [ "${cf:-0}" = 0 ] || bug "$r ($hub): $cf connections failed (first: $(val first_failure "$r"))"
  for k in bad_ticks fragmented masked_from_server protocol_errors reorders lat_negative; do
    x=$(val "$k" "$r")
    [ "${x:-0}" = 0 ] || bug "$r ($hub): $k = $x"
  done
  t=$(ticks_per_client "$r") h=$(val hub_ticks_per_s "$r")
  [ -n "$h" ] && [ "$(verdict "$h >= 9.5")" = PASS ] ||
    bug "$r ($hub): the hub ticked $h times a second, not 10 (each reader received $t/s; the server's threads waited $(val server_runq_wait_s "$r") s for a CPU in $(val measured_s "$r") s, used $(val server_cpu_measured_s "$r") s)"
  [ -n "$t" ] && [ -n "$h" ] && [ "$(verdict "$t >= 0.95 * $h")" = PASS ] ||
    note "$r ($hub): readers received $t ticks/s each while the hub stamped $h/s (they fell behind the hub)"
  case $r in *-stall)
    grep -q 'eof_midframe' "$f" && bug "$r ($hub): a stalled connection ended in the middle of a frame (TCP closed after a partial write; no close frame)"
    ;;
  esac
  if [ -s "$WORK/runs/$r.srv.err" ]; then
    extra=$(grep -v -e '^spate: dashboard on ' -e '^stats ' -e '^spate: [0-9]* URLs in ' -e '^ *status:' -e ' MB received, ' "$WORK/runs/$r.srv.err" | head -n 3 | tr '\n' ' ' | cut -c1-300)
    [ -z "$extra" ] || note "$r: the hub's stderr: $extra"
  fi
done

FACTS=$WORK/facts
{
  echo "- date: $STARTED (start), $ENDED (end); $ELAPSED s in all"
  machine_facts
  echo "- ulimit -n: $NOFILE; net.core.somaxconn $(cat /proc/sys/net/core/somaxconn); tcp_wmem $(tr '\t' ' ' </proc/sys/net/ipv4/tcp_wmem); tcp_rmem $(tr '\t' ' ' </proc/sys/net/ipv4/tcp_rmem)"
  spate_fact
  echo "- load client: bench/wsload.c (libuv $(pkg-config --modversion libuv), one thread), $(ver cc --version)"
  [ "$HAVE_PY" = 1 ] && echo "- python: $(ver "$PY" --version) ($PY), websockets $("$PY" -c 'import websockets; print(websockets.__version__)')"
} >"$FACTS"

REPORT=$WORK/report.md
{
  echo "# spate live hub under load — $STARTED"
  echo
  echo "\`bench/ws.sh$([ "$QUICK" = 1 ] && echo ' --quick')\`: one load client (bench/wsload.c) opens the connections to \`ws://127.0.0.1:PORT/ws\` (at most 200 handshakes in flight), then measures for $DURATION s."
  echo "Delivery latency = the client's CLOCK_REALTIME at receipt − the tick's \"time\" (stamped by the hub when it builds the tick; same machine). Messages/s and latency count only the measured seconds."
  echo "spate: \`spate fetch --dashboard 127.0.0.1:0 --no-progress\` with stdin an open, empty fifo (the job runs and ticks 10 times a second, ~600-byte ticks)."
  echo "Python: bench/peers/ws_broadcast.py, websockets' defaults, a tick of the same shape and size on a 100 ms grid sent with \`asyncio.gather(*(ws.send(msg) for ws in clients))\`."
  echo "Each run has a fresh hub. Server RSS: VmRSS before the first connection (after 1 s of ticks) and at the end of the measuring; RSS per client = the difference / readers. Server CPU = utime + stime over the measured seconds."
  echo
  echo "## Machine"
  echo
  cat "$FACTS"
  echo
  echo "## Broadcast: every client reads"
  echo
  cat "$TABLE1"
  echo
  echo "Hub ticks/s: the rate the hub stamped ticks at (seq and \"time\" of the first and last tick seen while measuring; 10 is the promise). Received per client: messages per reader per measured second. Longest silence: the longest any reader waited between two ticks (100 ms when all is well; it shows a hub that stops stamping ticks, which latency cannot). A seq gap is a tick a reader never got. Server RSS is VmRSS: user memory only, the kernel's socket buffers are not in it. Server waited for a CPU: run-queue time of its threads (/proc/PID/task/*/schedstat), high when the shared machine is busy."
  echo
  echo "## Stalled subscribers: $STALL_READERS readers + $NSTALL clients that complete the handshake and never read"
  echo
  echo "$STALLED stalled clients keep the system's socket buffers, $STALLED_SMALL set SO_RCVBUF to 4 KiB before connecting. After the measuring each stalled socket's TCP state is taken, then it is read to its end: what the hub did with it."
  echo "spate's run ends 12 s after /metrics shows all $NSTALL dropped (spate_live_dropped_slow_total), or after $STALL_D s; the Python hub (no such counter) gets as long as spate's run took. spate drops a subscriber whose backlog (its queue plus the bytes the kernel holds unacknowledged, SIOCOUTQ) stays over 64 KiB for 10 s, whose queue would pass 256 KiB, or (WebSocket) that has not answered the ping sent 20 s after its last pong within 20 s."
  echo "Before a hub's own queue can grow, the kernel takes the ticks: its send buffer autotunes up to tcp_wmem's maximum, the client's receive buffer grows too; \"max Send-Q\" below is the most bytes the kernel held for one of spate's sockets."
  echo
  cat "$TABLE2"
  echo
  for hub in $HUBS; do
    echo "**$hub**"
    echo
    stall_story "$hub-stall"
    echo
  done
  echo "## Targets"
  echo
  cat "$TABLE3"
  echo
  echo "## Misbehaviour seen"
  echo
  if [ -s "$BUGS" ]; then cat "$BUGS"; else echo "- none: no gap, lost reader, failed connection, protocol error or late tick rate"; fi
  echo
  echo "## Notes"
  echo
  if [ -s "$NOTES" ]; then cat "$NOTES"; else echo "- none"; fi
  for r in python-stall $(for n in $CLIENTS; do echo "python-$n"; done); do
    [ -s "$WORK/runs/$r.srv.err" ] && grep -q '^stats ' "$WORK/runs/$r.srv.err" &&
      echo "- $r, the Python hub's own counters: $(grep '^stats ' "$WORK/runs/$r.srv.err" | tail -n 1 | cut -c7-)"
  done
  echo
  echo "<details><summary>Every run's raw figures (wsload output)</summary>"
  echo
  echo '```'
  for f in "$WORK"/runs/*.out; do
    [ -e "$f" ] || continue
    r=$(basename "$f" .out)
    case $r in *.srv) continue ;; esac
    echo "## $r"
    grep -v '^iv ' "$f" | tr '\n' ';' | sed 's/;/; /g'
    echo
  done
  echo '```'
  echo
  echo "</details>"
} >"$REPORT"

publish ws-
echo "targets: $SUMMARY"
echo "written: $OUT (and bench/results/ws-latest.md); $ELAPSED s"
finish
