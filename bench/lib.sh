# bench/lib.sh — shell helpers shared by bench/run.sh, bench/crawl.sh and bench/ws.sh.
# Sourced, not run: `. "$ROOT/bench/lib.sh"`. It only defines functions; the
# script keeps `set -uo pipefail`, and nothing here reads a variable before the
# script has set it (optional ones are read as ${VAR:-}).
#
# Every script sets, before calling these:
#   BENCH   its name in messages ("run.sh")
#   ROOT    the repository; WORK the scratch dir; KEEP (1: keep WORK at exit)
#   NOTES   the notes file; FAILS the count of failed runs (0); CHILD (empty)
# Reporting:
#   log MSG...           to stderr
#   note MSG...          a line in $NOTES, and logged
#   fail MSG...          FAILS+1, a "FAILED:" line in $NOTES, and logged
# Processes and traps:
#   stop_pid PID NAME    TERM, up to 5 s, then KILL; logs "NAME (pid PID) stopped"
#   stop_nginx           stop_pid $NGINX_PID (set only when this script started
#                        nginx) and empty it; does nothing when NGINX_PID is empty
#   cleanup              TERM and reap $CHILD, run each function named in
#                        $CLEANUP_STOPS (in order), then remove $WORK (or log it when KEEP=1)
#   on_signal            "$BENCH: interrupted; cleaning up", cleanup, exit 130
#   set_traps            trap cleanup on EXIT, on_signal on INT TERM HUP
# Timed runs (run.sh, crawl.sh; need TIME=/usr/bin/time, RES=$WORK/res):
#   run_timed NAME TMO CMD...  CMD under timeout and GNU time, in the background
#                        (CHILD while it runs); stdout/stderr to $WORK/NAME.out/.err;
#                        sets T_RC T_WALL T_USER T_SYS T_RSS (KiB)
#   executed LABEL       0 if the run went to completion (else fail, 1); a note on
#                        a non-zero exit status
#   record CLIENT N      appends "N/wall wall user sys rss N" to $RES/CLIENT; N = 0
#                        is a failure "ran but $RECORD_NONE" (default "fetched no page")
#   median CLIENT COL    the median line of $RES/CLIENT sorted by column COL
#   fig CLIENT [COL]     median, by column 1 unless told
#   ratio PPS            $SP_PPS ÷ PPS to 2 places ("-" for 0); fails without a figure
# Figures and checks:
#   calc PROGRAM         awk "BEGIN { PROGRAM }"
#   verdict EXPR [SETUP] PASS or MISS
#   row A B C            "| A | B | C |"
#   ver CMD...           the first line CMD prints (stdout and stderr)
#   need PROG            PROG on PATH or an executable path
#   require PROG...      need each, or exit 2 "PROG missing (scripts/install-deps --bench)"
# Set-up (exit 2 with "$BENCH: ..." on failure):
#   build_spate TMO CMD...  when $SPATE is not executable: log and run CMD under timeout
#   snapshot_spate       copy $SPATE into $WORK; sets SPATE_SRC SPATE_SUM SPATE_MTIME,
#                        and SPATE to the copy
#   copy_peers FILE...   copy each FILE of $PEERS_SRC into $WORK/peers; sets PEERS
#   raise_nofile WANT CAP  raise ulimit -Hn to WANT if below it, then ulimit -n to
#                        CAP (or the hard limit if lower); sets WANT_NOFILE NOFILE
#   mark_start           sets LOAD_START STAMP (names the results file) STARTED T0
#   ensure_site          $NPAGES pages in $SITE, or generate them with $PEERS/gensite.py
#   answers PATH         "code seconds" of $ORIGIN/PATH; body in $WORK/probe.body
#   listening            something listens on 127.0.0.1:8089
#   ensure_origin [EXTRA]  reuse what answers $ORIGIN/p/0.html (ORIGIN_REUSED=1), or
#                        start nginx ($PEERS/nginx.conf under $NGINX_PREFIX; sets
#                        NGINX_PID); sets ORIGIN_NOTE, EXTRA added after the pid in it
# Report:
#   git_rev              sets GITREV (with a mark when src/ has uncommitted changes)
#   machine_facts [TAIL] the "- machine:", "- kernel:" (+TAIL) and "- load average:"
#                        lines (needs LOAD_START LOAD_END)
#   spate_fact           the "- spate:" line (needs SPATE SPATE_SRC SPATE_MTIME SPATE_SUM GITREV)
#   all_runs             every $RES file's lines, prefixed by its name, in a ``` block
#   publish PREFIX       $REPORT to bench/results/PREFIX$STAMP.md (sets OUT) and
#                        PREFIXlatest.md, then prints it between blank lines
#   finish               exit 1 with a message when FAILS > 0, else exit 0

# The variables set here are read by the scripts:
# shellcheck shell=bash disable=SC2034

# ---------------------------------------------------------------- reporting
log() { echo "$*" >&2; }
note() { echo "- $*" >>"$NOTES"; log "  note: $*"; }
fail() { FAILS=$((FAILS + 1)); echo "- FAILED: $*" >>"$NOTES"; log "  FAILED: $*"; }

# ---------------------------------------------------------------- processes, traps
# Stop a process this script started: TERM, up to 5 s, then KILL.
stop_pid() { # stop_pid PID NAME
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || { log "$2 (pid $pid) stopped"; return 0; }
    sleep 0.1
  done
  log "$2 (pid $pid) did not stop on TERM; sending KILL"
  kill -KILL "$pid" 2>/dev/null
}
# Only an nginx this script started: NGINX_PID is set nowhere else.
stop_nginx() {
  [ -n "${NGINX_PID:-}" ] || return 0
  local pid=$NGINX_PID
  NGINX_PID=
  stop_pid "$pid" nginx
}

cleanup() {
  local stop
  if [ -n "$CHILD" ]; then
    kill -TERM "$CHILD" 2>/dev/null
    wait "$CHILD" 2>/dev/null
    CHILD=
  fi
  for stop in ${CLEANUP_STOPS:-}; do "$stop"; done
  if [ "$KEEP" = 1 ]; then log "scratch kept in $WORK"; else rm -rf "$WORK"; fi
}
on_signal() {
  log "$BENCH: interrupted; cleaning up"
  trap - EXIT INT TERM HUP
  cleanup
  exit 130
}
set_traps() {
  trap cleanup EXIT
  trap on_signal INT TERM HUP
}

# ---------------------------------------------------------------- timed runs
# Run a command in the background and wait, so that a signal reaches our trap at
# once; `timeout` is outermost (it forwards TERM to its process group), GNU time
# inside it measures the command. Sets T_RC, T_WALL, T_USER, T_SYS, T_RSS (KiB).
run_timed() {
  local name=$1 tmo=$2 tf=$WORK/$1.time
  shift 2
  rm -f "$tf"
  timeout -k 5 "$tmo" "$TIME" -f "%e %U %S %M" -o "$tf" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  CHILD=$!
  wait "$CHILD"
  T_RC=$?
  CHILD=
  T_WALL='' T_USER='' T_SYS='' T_RSS=''
  if [ -s "$tf" ]; then read -r T_WALL T_USER T_SYS T_RSS < <(tail -n 1 "$tf"); fi
  case $T_WALL in '' | *[!0-9.]*) T_WALL= ;; esac
}

# The run executed (it may still have failed URLs or missed pages)? Else count a failure.
executed() {
  local label=$1
  if [ -z "$T_WALL" ] || [ "$T_RC" -ge 124 ]; then
    local why="exit $T_RC"
    [ "$T_RC" = 124 ] && why="timed out"
    [ "$T_RC" = 127 ] && why="not found"
    fail "$label: did not run to completion ($why): $(tail -n 2 "$WORK/$label.err" 2>/dev/null | tr '\n' ' ' | cut -c1-200)"
    return 1
  fi
  [ "$T_RC" = 0 ] || note "$label: exit status $T_RC ($(tail -n 1 "$WORK/$label.err" 2>/dev/null | cut -c1-160))"
  return 0
}

# "pps wall user sys rss_kib ok" per run, one line each, in $RES/<client>.
record() { # record CLIENT OK
  if [ "${2:-0}" -eq 0 ]; then # ran, but to no effect: a failure, not a figure
    fail "$1: ran but ${RECORD_NONE:-fetched no page} (its stderr: $(tail -n 1 "$WORK/$1.err" 2>/dev/null | cut -c1-160))"
    return
  fi
  awk -v w="$T_WALL" -v u="$T_USER" -v s="$T_SYS" -v m="$T_RSS" -v ok="$2" \
    'BEGIN { printf "%.1f %s %s %s %s %s\n", (w > 0 ? ok / w : 0), w, u, s, m, ok }' >>"$RES/$1"
}
# Median run: by pages/s (column 1), wall time (column 2) or peak RSS (column 5).
median() { # median CLIENT COL
  [ -s "$RES/$1" ] || return 1
  local n
  n=$(wc -l <"$RES/$1")
  sort -g -k"$2,$2" "$RES/$1" | sed -n "$(((n + 1) / 2))p"
}
fig() { median "$1" "${2:-1}"; }
ratio() { # spate pages/s ÷ peer pages/s
  [ -n "$SP_PPS" ] && [ -n "$1" ] && calc "if ($1 > 0) printf \"%.2f\", $SP_PPS / $1; else print \"-\""
}

# ---------------------------------------------------------------- figures, checks
calc() { awk "BEGIN { $1 }"; }
verdict() { awk "BEGIN { ${2:-}; print (($1) ? \"PASS\" : \"MISS\") }"; } # verdict EXPR [SETUP]
row() { printf '| %s | %s | %s |\n' "$1" "$2" "$3"; }
ver() { "$@" 2>&1 | head -n 1; }
need() { command -v "$1" >/dev/null 2>&1 || [ -x "$1" ]; }
require() {
  local p
  for p in "$@"; do
    need "$p" || { echo "$BENCH: $p missing (scripts/install-deps --bench)" >&2; exit 2; }
  done
}

# ---------------------------------------------------------------- set-up
build_spate() { # build_spate TIMEOUT CMD...
  [ ! -x "$SPATE" ] || return 0
  local tmo=$1
  shift
  log "building spate ($*)"
  timeout "$tmo" "$@" >&2 || { echo "$BENCH: build failed" >&2; exit 2; }
}
# Measure one binary throughout, even if build/ is rebuilt meanwhile.
snapshot_spate() {
  SPATE_SRC=$SPATE
  SPATE_SUM=$(sha256sum "$SPATE_SRC" | cut -c1-12)
  SPATE_MTIME=$(date -u -r "$SPATE_SRC" '+%Y-%m-%d %H:%M UTC')
  cp "$SPATE_SRC" "$WORK/spate" || { echo "$BENCH: cannot copy $SPATE_SRC" >&2; exit 2; }
  SPATE=$WORK/spate
}
copy_peers() {
  local f
  for f in "$@"; do
    [ -f "$PEERS_SRC/$f" ] || { echo "$BENCH: $PEERS_SRC/$f missing" >&2; exit 2; }
    cp "$PEERS_SRC/$f" "$WORK/peers/"
  done
  PEERS=$WORK/peers
}
raise_nofile() { # raise_nofile WANT CAP
  local hard
  WANT_NOFILE=$1
  hard=$(ulimit -Hn)
  if [ "$hard" != unlimited ] && [ "$hard" -lt "$WANT_NOFILE" ]; then
    ulimit -Hn "$WANT_NOFILE" 2>/dev/null
    hard=$(ulimit -Hn)
  fi
  if [ "$hard" = unlimited ] || [ "$hard" -ge "$2" ]; then ulimit -n "$2"; else ulimit -n "$hard"; fi
  NOFILE=$(ulimit -n)
}
mark_start() {
  LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
  STAMP=$(date -u +%Y-%m-%dT%H-%M-%SZ) # names the results file: when the run started
  STARTED=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
  T0=$(date +%s)
}

site_ok() {
  [ -f "$SITE/urls.txt" ] && [ -f "$SITE/slow-urls.txt" ] && [ -f "$SITE/index.html" ] &&
    [ "$(wc -l <"$SITE/urls.txt")" -eq "$NPAGES" ] &&
    [ "$(find "$SITE/p" -maxdepth 1 -name '*.html' 2>/dev/null | wc -l)" -eq "$NPAGES" ]
}
ensure_site() {
  if site_ok; then
    log "site: $SITE has $NPAGES pages"
    return 0
  fi
  log "site: generating $NPAGES pages into $SITE"
  timeout 600 "$PY" "$PEERS/gensite.py" "$SITE" "$NPAGES" &
  CHILD=$!
  wait "$CHILD" || { CHILD=; echo "$BENCH: gensite.py failed" >&2; exit 2; }
  CHILD=
  site_ok || { echo "$BENCH: $SITE incomplete after gensite.py" >&2; exit 2; }
}

answers() { # answers PATH -> prints "code seconds"
  curl -q -s --noproxy '*' --max-time 3 -o "$WORK/probe.body" -w '%{http_code} %{time_total}' "$ORIGIN$1" 2>/dev/null
}
listening() { ss -ltnH 'sport = :8089' 2>/dev/null | grep -q .; }

ensure_origin() { # ensure_origin [EXTRA for the note's parentheses]
  local code pid
  ORIGIN_NOTE='' ORIGIN_REUSED=0
  read -r code _ < <(answers /p/0.html)
  if [ "${code:-000}" = 200 ]; then
    ORIGIN_REUSED=1
    ORIGIN_NOTE="reused the nginx already on 127.0.0.1:8089 (left running)"
    log "origin: $ORIGIN_NOTE"
    cmp -s "$WORK/probe.body" "$SITE/p/0.html" ||
      note "the server on :8089 answers /p/0.html with other bytes than $SITE/p/0.html"
    return 0
  fi
  if listening; then
    echo "$BENCH: something listens on 127.0.0.1:8089 but does not answer /p/0.html with 200; not touching it" >&2
    exit 2
  fi
  mkdir -p "$NGINX_PREFIX"
  rm -f "$NGINX_PREFIX/nginx.pid"
  # nginx inherits the ulimit -n raised by raise_nofile (worker_connections 20000 in the conf).
  timeout 10 nginx -c "$PEERS/nginx.conf" -p "$NGINX_PREFIX" 2>"$WORK/nginx-start.err" ||
    { echo "$BENCH: nginx did not start: $(cat "$WORK/nginx-start.err")" >&2; exit 2; }
  for _ in $(seq 50); do [ -s "$NGINX_PREFIX/nginx.pid" ] && break; sleep 0.1; done
  pid=$(cat "$NGINX_PREFIX/nginx.pid" 2>/dev/null)
  if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q '^nginx: master'; then
    NGINX_PID=$pid
  else
    echo "$BENCH: nginx started but its pid file $NGINX_PREFIX/nginx.pid is unusable" >&2
    exit 2
  fi
  for _ in $(seq 50); do
    read -r code _ < <(answers /p/0.html)
    [ "${code:-000}" = 200 ] && break
    sleep 0.1
  done
  [ "${code:-000}" = 200 ] || { echo "$BENCH: nginx (pid $NGINX_PID) does not answer /p/0.html" >&2; exit 2; }
  ORIGIN_NOTE="started nginx for this run (pid $NGINX_PID${1:-}), stopped at the end"
  log "origin: $ORIGIN_NOTE"
}

# ---------------------------------------------------------------- report
git_rev() {
  GITREV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)
  [ -n "$(git -C "$ROOT" status --porcelain -- src 2>/dev/null)" ] && GITREV="$GITREV (src/ has uncommitted changes)"
}
machine_facts() { # machine_facts [TAIL of the kernel line]
  echo "- machine: nproc $(nproc), $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1), $(free -m | awk '/^Mem:/ { print $2 " MiB RAM" }')"
  # shellcheck disable=SC1091
  echo "- kernel: $(uname -sr); $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")${1:-}"
  echo "- load average: $LOAD_START at start, $LOAD_END at end (the machine is shared: compare within this run)"
}
spate_fact() {
  echo "- spate: $(ver "$SPATE" --version | sed 's/ (.*//'), $SPATE_SRC built $SPATE_MTIME, sha256 $SPATE_SUM…, tree at commit $GITREV"
}
all_runs() {
  local f
  echo '```'
  for f in "$RES"/*; do
    [ -e "$f" ] || continue
    sed "s|^|$(basename "$f") |" "$f"
  done
  echo '```'
}
publish() { # publish PREFIX
  mkdir -p "$ROOT/bench/results"
  OUT=$ROOT/bench/results/$1$STAMP.md
  cp "$REPORT" "$OUT" && cp "$REPORT" "$ROOT/bench/results/${1}latest.md"
  echo
  cat "$REPORT"
  echo
}
finish() {
  [ "$FAILS" = 0 ] || { echo "$BENCH: $FAILS run(s) failed to execute; see Notes" >&2; exit 1; }
  exit 0
}
