#!/bin/bash
# bench/run.sh — spate beside its peers (curl --parallel, wget2, asyncio+aiohttp,
# Scrapy, wrk) against one nginx origin on loopback; prints a table and writes it,
# with the machine's facts, to bench/results/<UTC date-time>.md and latest.md.
#
#   bench/run.sh            3 runs per client, medians (about 4-5 minutes)
#   bench/run.sh --quick    1 run each; no untuned aiohttp, no Scrapy
#   bench/run.sh --runs N   N runs per client
#   bench/run.sh --keep     keep the scratch directory (outputs, stderr of each run)
#
# Needs the peers: scripts/install-deps --bench. This is a report, not a test:
# it exits 0 even when a target is missed, 1 when a run failed to execute
# (timeout, crash, missing program), 2 when the origin could not be set up.
# Environment: SPATE (binary, default build/spate), CURLFLOOR (libcurl alone,
# default curlfloor beside SPATE), BENCH_PEERS (peer programs, default
# /work/shared/bench-peers).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=run.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh" || exit 2
SPATE=${SPATE:-$ROOT/build/spate}
CURLFLOOR=${CURLFLOOR:-$(dirname "$SPATE")/curlfloor} # bench/curlfloor.c, built with spate
PEERS_SRC=${BENCH_PEERS:-/work/shared/bench-peers}
SITE=/tmp/rig-site          # paths fixed by the peers' nginx.conf
NGINX_PREFIX=/tmp/rig-nginx
ORIGIN=http://127.0.0.1:8089
NPAGES=20000
SUBSET=2000                 # URLs for the slow Python peers (untuned aiohttp, Scrapy)
PY=/usr/bin/python3         # Debian's python, where python3-aiohttp & co. live
TIME=/usr/bin/time

RUNS=3
QUICK=0
KEEP=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1; RUNS=1 ;;
    --runs) RUNS=${2:?--runs needs a number}; shift ;;
    --keep) KEEP=1 ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
case $RUNS in '' | *[!0-9]* | 0) echo "run.sh: --runs wants a positive number" >&2; exit 2 ;; esac

# Loopback only: no proxy may take these requests.
unset http_proxy https_proxy all_proxy ftp_proxy no_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY FTP_PROXY NO_PROXY
export LC_ALL=C

WORK=$(mktemp -d /tmp/spate-bench.XXXXXX)
RES=$WORK/res
mkdir -p "$RES" "$WORK/cwd" "$WORK/peers"
CHILD=
NGINX_PID= # set only when this script started nginx
FAILS=0
NOTES=$WORK/notes
: >"$NOTES"
CLEANUP_STOPS=stop_nginx
set_traps

# JSON lines out of spate, aio_fetch.py, Scrapy: "lines status200 titled".
check_jsonl() {
  "$PY" - "$1" <<'EOF'
import json, sys
n = ok = titled = 0
try:
    f = open(sys.argv[1], encoding="utf-8", errors="replace")
except OSError:
    print(0, 0, 0); sys.exit()
for line in f:
    if not line.strip():
        continue
    n += 1
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if r.get("status") == 200:
        ok += 1
        titled += bool(r.get("title"))
print(n, ok, titled)
EOF
}

# ---------------------------------------------------------------- preflight
log "== spate bench ($([ $QUICK = 1 ] && echo quick || echo "$RUNS runs per client")), scratch $WORK"
build_spate 600 make -C "$ROOT" build
snapshot_spate
require "$TIME" timeout curl nginx
MISSING=
for p in wget2 wrk "$PY"; do need "$p" || MISSING="$MISSING $p"; done
HAVE_AIO=0 HAVE_SCRAPY=0
"$PY" -c 'import aiohttp' 2>/dev/null && HAVE_AIO=1 || MISSING="$MISSING python3-aiohttp"
"$PY" -c 'import scrapy' 2>/dev/null && HAVE_SCRAPY=1 || MISSING="$MISSING python3-scrapy"
[ -z "$MISSING" ] || fail "missing peers:$MISSING (scripts/install-deps --bench); their rows are skipped"
need wget2 && HAVE_WGET2=1 || HAVE_WGET2=0
need wrk && HAVE_WRK=1 || HAVE_WRK=0
copy_peers gensite.py nginx.conf aio_fetch.py scrapy_spider.py rotate.lua

# Many sockets at once: 10,000 in flight, plus nginx's side when we start it.
raise_nofile 30000 65536
[ "$NOFILE" -ge "$WANT_NOFILE" ] ||
  note "ulimit -n is $NOFILE (the hard limit here; raising it needs CAP_SYS_RESOURCE), not the $WANT_NOFILE wanted; enough for 10,000 in flight"

mark_start

# ---------------------------------------------------------------- site
ensure_site

# ---------------------------------------------------------------- origin
ensure_origin ", ulimit -n $NOFILE"
if [ "$ORIGIN_REUSED" = 1 ]; then
  # Its descriptor limit decides whether it can take 10,000 connections.
  for pid in $(ss -ltnpH 'sport = :8089' 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
    lim=$(awk '/^Max open files/ { print $4 }' "/proc/$pid/limits" 2>/dev/null)
    case $lim in '' | unlimited) ;; *)
      [ "$lim" -ge 10100 ] || note "reused origin process $pid has ulimit -n $lim: it may not take 10,000 connections" ;;
    esac
  done
fi
read -r code secs < <(answers /slow/0)
if [ "${code:-000}" != 200 ] || awk -v s="${secs:-0}" 'BEGIN { exit !(s < 0.18) }'; then
  fail "origin: /slow/0 answered ${code:-nothing} in ${secs:-?} s, not 200 after 200 ms (echo module?)"
fi

# ---------------------------------------------------------------- inputs
cd "$WORK/cwd" || exit 2 # wget2 and Scrapy write relative to the cwd: keep it scratch
URLS=$SITE/urls.txt
SLOW=$SITE/slow-urls.txt
NSLOW=$(wc -l <"$SLOW")
head -n "$SUBSET" "$URLS" >"$WORK/urls-subset.txt"
seq 0 9999 | sed "s|^|$ORIGIN/slow/|" >"$WORK/slow10k.txt"
head -n 1 "$WORK/slow10k.txt" >"$WORK/slow1.txt"
curl_cfg() { awk '{ printf "url = \"%s\"\noutput = \"/dev/null\"\n", $0 }' "$1" >"$2"; }
curl_cfg "$URLS" "$WORK/curl-urls.cfg"
curl_cfg "$SLOW" "$WORK/curl-slow.cfg"

progress() { # progress LABEL RUN OK EXPECTED
  log "$(printf '  %-22s run %s/%s  %6s s  user %5s  sys %5s  rss %6s KiB  ok %s/%s' \
    "$1" "$2" "$RUNS" "$T_WALL" "$T_USER" "$T_SYS" "$T_RSS" "$3" "$4")"
}

# ---------------------------------------------------------------- fetch list
log "== fetch list: $NPAGES pages from $ORIGIN"
for i in $(seq "$RUNS"); do
  # spate
  rm -f "$WORK/spate.jsonl"
  run_timed spate 120 "$SPATE" fetch -q -i "$URLS" -c 100 --per-host 100 -o "$WORK/spate.jsonl"
  if executed spate; then
    read -r n ok titled < <(check_jsonl "$WORK/spate.jsonl")
    record spate "$ok"
    progress spate "$i" "$ok" "$NPAGES"
    [ "$n" = "$NPAGES" ] && [ "$ok" = "$NPAGES" ] && [ "$titled" = "$NPAGES" ] ||
      note "WARNING spate run $i: $n lines, $ok with status 200, $titled with a title (want $NPAGES each)"
  fi

  # libcurl alone (bench/curlfloor.c): the floor of any libcurl client, spate's ceiling here
  if [ -x "$CURLFLOOR" ]; then
    run_timed floor 120 "$CURLFLOOR" "$URLS" 100
    if executed floor; then
      read -r n ok < "$WORK/floor.out"
      record floor "${ok:-0}"
      progress "libcurl alone" "$i" "${ok:-0}" "$NPAGES"
      [ "${ok:-0}" = "$NPAGES" ] || note "WARNING libcurl-alone run $i: ${ok:-0} of $NPAGES transfers answered 200"
    fi
  fi

  # curl --parallel: no extraction; -w gives one status code per transfer
  run_timed curl 120 curl -q --noproxy '*' --no-progress-meter --parallel --parallel-max 100 \
    -K "$WORK/curl-urls.cfg" -w '%{http_code}\n'
  if executed curl; then
    ok=$(grep -c '^200$' "$WORK/curl.out")
    record curl "$ok"
    progress "curl --parallel" "$i" "$ok" "$NPAGES"
    [ "$ok" = "$NPAGES" ] || note "WARNING curl run $i: $ok of $NPAGES transfers answered 200"
  fi

  # wget2: bodies to /dev/null (nothing lands in the cwd); --stats-site lists each URL's status
  if [ "$HAVE_WGET2" = 1 ]; then
    rm -f "$WORK/wget2-stats.csv"
    run_timed wget2 120 wget2 --no-config -q --max-threads=16 -i "$URLS" -O /dev/null \
      --stats-site="csv:$WORK/wget2-stats.csv"
    if executed wget2; then
      ok=$(awk -F, 'NR > 1 && $4 == 200' "$WORK/wget2-stats.csv" 2>/dev/null | wc -l)
      record wget2 "$ok"
      progress wget2 "$i" "$ok" "$NPAGES"
      [ "$ok" = "$NPAGES" ] || note "WARNING wget2 run $i: $ok of $NPAGES URLs answered 200"
      [ -z "$(ls -A "$WORK/cwd")" ] || note "wget2 left files in its cwd: $(ls -A "$WORK/cwd" | head -3 | tr '\n' ' ')"
    fi
  fi

  if [ "$HAVE_AIO" = 1 ]; then
    rm -f "$WORK/aio.jsonl"
    run_timed aio-tuned 300 "$PY" "$PEERS/aio_fetch.py" "$URLS" "$WORK/aio.jsonl" 100 --tuned
    if executed aio-tuned; then
      read -r n ok titled < <(check_jsonl "$WORK/aio.jsonl")
      record aio-tuned "$ok"
      progress "aiohttp --tuned" "$i" "$ok" "$NPAGES"
      [ "$ok" = "$NPAGES" ] && [ "$titled" = "$NPAGES" ] ||
        note "WARNING aiohttp tuned run $i: $ok of $NPAGES with status 200, $titled with a title"
    fi
    if [ "$QUICK" = 0 ]; then
      rm -f "$WORK/aio-untuned.jsonl"
      run_timed aio-untuned 300 "$PY" "$PEERS/aio_fetch.py" "$WORK/urls-subset.txt" "$WORK/aio-untuned.jsonl" 100
      if executed aio-untuned; then
        read -r n ok titled < <(check_jsonl "$WORK/aio-untuned.jsonl")
        record aio-untuned "$ok"
        progress "aiohttp untuned" "$i" "$ok" "$SUBSET"
        [ "$ok" = "$SUBSET" ] && [ "$titled" = "$SUBSET" ] ||
          note "WARNING aiohttp untuned run $i: $ok of $SUBSET with status 200, $titled with a title"
      fi
    fi
  fi

  if [ "$HAVE_SCRAPY" = 1 ] && [ "$QUICK" = 0 ]; then
    rm -f "$WORK/scrapy.jsonl"
    run_timed scrapy 300 "$PY" -m scrapy runspider "$PEERS/scrapy_spider.py" \
      -a mode=list -a urls="$WORK/urls-subset.txt" -O "$WORK/scrapy.jsonl"
    if executed scrapy; then
      read -r n ok titled < <(check_jsonl "$WORK/scrapy.jsonl")
      record scrapy "$ok"
      progress scrapy "$i" "$ok" "$SUBSET"
      [ "$ok" = "$SUBSET" ] && [ "$titled" = "$SUBSET" ] ||
        note "WARNING Scrapy run $i: $ok of $SUBSET with status 200, $titled with a title"
      grep -q 'ERROR\|Traceback' "$WORK/scrapy.err" && note "Scrapy run $i logged errors: $(grep -m1 'ERROR\|Error' "$WORK/scrapy.err" | cut -c1-160)"
    fi
  fi

  # wrk: the ceiling of origin + loopback, no parsing, nothing kept
  if [ "$HAVE_WRK" = 1 ]; then
    run_timed wrk 30 wrk -t1 -c100 -d5s -s "$PEERS/rotate.lua" "$ORIGIN"
    if executed wrk; then
      rps=$(awk '/^Requests\/sec:/ { print $2 }' "$WORK/wrk.out")
      if [ -n "$rps" ]; then
        echo "$rps $T_WALL $T_USER $T_SYS $T_RSS 0" >>"$RES/wrk"
        log "$(printf '  %-22s run %s/%s  %s requests/s' wrk "$i" "$RUNS" "$rps")"
      else
        fail "wrk run $i: no Requests/sec in its output"
      fi
      grep -q 'Non-2xx\|Socket errors' "$WORK/wrk.out" &&
        note "wrk run $i: $(grep 'Non-2xx\|Socket errors' "$WORK/wrk.out" | tr -s ' ' | tr '\n' ';')"
    fi
  fi
done

# ---------------------------------------------------------------- latency-bound
log "== latency-bound: $NSLOW URLs x 200 ms at 1,000 in flight; spate at 10,000 in flight"
for i in $(seq "$RUNS"); do
  rm -f "$WORK/spate-slow.jsonl"
  run_timed spate-slow 60 "$SPATE" fetch -q -i "$SLOW" -c 1000 --per-host 1000 -o "$WORK/spate-slow.jsonl"
  if executed spate-slow; then
    read -r n ok titled < <(check_jsonl "$WORK/spate-slow.jsonl")
    record spate-slow "$ok"
    progress "spate c=1000" "$i" "$ok" "$NSLOW"
    [ "$ok" = "$NSLOW" ] || note "WARNING spate latency run $i: $ok of $NSLOW with status 200"
  fi

  if [ "$HAVE_AIO" = 1 ]; then
    rm -f "$WORK/aio-slow.jsonl"
    run_timed aio-slow 120 "$PY" "$PEERS/aio_fetch.py" "$SLOW" "$WORK/aio-slow.jsonl" 1000 --tuned
    if executed aio-slow; then
      read -r n ok titled < <(check_jsonl "$WORK/aio-slow.jsonl")
      record aio-slow "$ok"
      progress "aiohttp tuned c=1000" "$i" "$ok" "$NSLOW"
      [ "$ok" = "$NSLOW" ] || note "WARNING aiohttp latency run $i: $ok of $NSLOW with status 200"
    fi
  fi

  run_timed curl-slow 120 curl -q --noproxy '*' --no-progress-meter --parallel --parallel-max 1000 \
    -K "$WORK/curl-slow.cfg" -w '%{http_code}\n'
  if executed curl-slow; then
    ok=$(grep -c '^200$' "$WORK/curl-slow.out")
    record curl-slow "$ok"
    progress "curl c=1000" "$i" "$ok" "$NSLOW"
    [ "$ok" = "$NSLOW" ] || note "WARNING curl latency run $i: $ok of $NSLOW answered 200"
  fi

  rm -f "$WORK/spate-10k.jsonl"
  run_timed spate-10k 120 "$SPATE" fetch -q -i "$WORK/slow10k.txt" -c 10000 --per-host 10000 -o "$WORK/spate-10k.jsonl"
  if executed spate-10k; then
    read -r n ok titled < <(check_jsonl "$WORK/spate-10k.jsonl")
    record spate-10k "$ok"
    progress "spate c=10000" "$i" "$ok" 10000
    [ "$ok" = 10000 ] || note "WARNING spate 10,000-in-flight run $i: $ok of 10000 with status 200"
  fi

  # Baseline for memory per in-flight request: one URL, one slot.
  run_timed spate-1 30 "$SPATE" fetch -q -i "$WORK/slow1.txt" -c 1 --per-host 1 -o "$WORK/spate-1.jsonl"
  if executed spate-1; then
    read -r n ok titled < <(check_jsonl "$WORK/spate-1.jsonl")
    record spate-1 "$ok"
  fi
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
# Figures of the median run (fig, in lib.sh): pps wall user sys rss ok
SP=$(fig spate)
SP_PPS=$(echo "$SP" | awk '{ print $1 }')

declare -A LABEL CMDLINE URLSN
LABEL=([spate]="spate" [floor]="libcurl alone (floor)" [curl]="curl --parallel" [wget2]="wget2" [aio-tuned]="aiohttp tuned"
  [aio-untuned]="aiohttp untuned (subset)" [scrapy]="Scrapy (subset)" [wrk]="wrk (ceiling)")
CMDLINE=([spate]="fetch -c 100 --per-host 100, JSONL + title" [floor]="bench/curlfloor.c, 100 at once, bodies dropped" [curl]="--parallel-max 100, bodies to /dev/null"
  [wget2]="--max-threads=16, bodies to /dev/null" [aio-tuned]="aio_fetch.py 100 --tuned, JSONL + title"
  [aio-untuned]="aio_fetch.py 100, JSONL + title" [scrapy]="list mode, 256 concurrent, JSONL + title"
  [wrk]="-t1 -c100 -d5s, rotate.lua")
URLSN=([spate]=$NPAGES [floor]=$NPAGES [curl]=$NPAGES [wget2]=$NPAGES [aio-tuned]=$NPAGES [aio-untuned]=$SUBSET
  [scrapy]=$SUBSET [wrk]="5 s")

TABLE1=$WORK/table1
{
  echo "| client | how | URLs | pages ok (median run) | pages/s | CPU s / 1,000 pages | peak RSS MiB | spate ÷ peer |"
  echo "|---|---|--:|--:|--:|--:|--:|--:|"
  for c in spate floor curl wget2 aio-tuned aio-untuned scrapy wrk; do
    line=$(fig "$c") || continue
    read -r pps wall user sys rss ok <<<"$line"
    if [ "$c" = wrk ]; then
      printf '| %s | %s | %s | – | %.0f req/s | – | – | %s |\n' "${LABEL[$c]}" "${CMDLINE[$c]}" "${URLSN[$c]}" \
        "$pps" "$(ratio "$pps")"
      continue
    fi
    cpu=$(calc "if ($ok > 0) printf \"%.3f\", ($user + $sys) / $ok * 1000; else print \"-\"")
    r=$(ratio "$pps")
    [ "$c" = spate ] && r="1.00"
    printf '| %s | %s | %s | %s | %.0f | %s | %.1f | %s |\n' "${LABEL[$c]}" "${CMDLINE[$c]}" "${URLSN[$c]}" \
      "$ok" "$pps" "$cpu" "$(calc "print $rss / 1024")" "${r:--}"
  done
} >"$TABLE1"

TABLE2=$WORK/table2
declare -A LLABEL LINFL LURLS LIDEAL
LLABEL=([spate-slow]="spate" [aio-slow]="aiohttp tuned" [curl-slow]="curl --parallel" [spate-10k]="spate")
LINFL=([spate-slow]=1000 [aio-slow]=1000 [curl-slow]=1000 [spate-10k]=10000)
LURLS=([spate-slow]=$NSLOW [aio-slow]=$NSLOW [curl-slow]=$NSLOW [spate-10k]=10000)
IDEAL_SLOW=$(calc "printf \"%.1f\", $NSLOW / 1000 * 0.2")
LIDEAL=([spate-slow]=$IDEAL_SLOW [aio-slow]=$IDEAL_SLOW [curl-slow]=$IDEAL_SLOW [spate-10k]=0.2)
{
  echo "| client | in flight | URLs × 200 ms | ok (median run) | wall s | ideal s | × ideal | CPU s | peak RSS MiB |"
  echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|"
  for c in spate-slow aio-slow curl-slow spate-10k; do
    line=$(fig "$c" 2) || continue
    read -r pps wall user sys rss ok <<<"$line"
    printf '| %s | %s | %s | %s | %.2f | %s | %.2f | %.2f | %.1f |\n' "${LLABEL[$c]}" "${LINFL[$c]}" "${LURLS[$c]}" \
      "$ok" "$wall" "${LIDEAL[$c]}" "$(calc "print $wall / ${LIDEAL[$c]}")" "$(calc "print $user + $sys")" \
      "$(calc "print $rss / 1024")"
  done
} >"$TABLE2"

# Memory per in-flight request: (peak RSS at 10,000 − peak RSS of a 1-URL run) / 10,000.
PER_INFLIGHT=
K10=$(fig spate-10k 5) # median runs by peak RSS here
K1=$(fig spate-1 5)
if [ -n "$K10" ] && [ -n "$K1" ]; then
  rss10=$(echo "$K10" | awk '{ print $5 }')
  rss1=$(echo "$K1" | awk '{ print $5 }')
  PER_INFLIGHT=$(calc "printf \"%.1f\", ($rss10 - $rss1) / 10000")
  echo >>"$TABLE2"
  echo "RSS per in-flight request at 10,000: (median peak RSS $rss10 KiB − $rss1 KiB for a 1-URL run at -c 1) / 10,000 = **$PER_INFLIGHT KiB**" >>"$TABLE2"
fi

# Targets
TABLE3=$WORK/table3
pps_of() { fig "$1" | awk '{ print $1 }'; }
{
  echo "| target | figure | verdict |"
  echo "|---|--:|---|"
  cmp_peer() { # cmp_peer LABEL CLIENT MIN_RATIO
    local p r
    p=$(pps_of "$2")
    if [ -z "$SP_PPS" ] || [ -z "$p" ]; then row "$1" "no figure" "$([ -z "$p" ] && [ "$QUICK" = 1 ] && echo skipped || echo FAIL)"; return; fi
    r=$(ratio "$p")
    # $3 is the test on the unrounded ratio q, e.g. "q >= 10" or "q > 1"
    row "$1" "$(printf '%.0f vs %.0f pages/s = %s×' "$SP_PPS" "$p" "$r")" "$(verdict "$3" "q = $SP_PPS / $p")"
  }
  cmp_peer "spate pages/s ≥ 10× aiohttp tuned" aio-tuned "q >= 10"
  cmp_peer "spate pages/s ahead of curl --parallel" curl "q > 1"
  cmp_peer "spate pages/s ahead of wget2 (SPEC)" wget2 "q > 1"
  cmp_peer "spate pages/s ahead of Scrapy (SPEC; Scrapy on a $SUBSET-URL subset)" scrapy "q > 1"
  if [ -n "$SP" ]; then
    read -r pps wall user sys rss ok <<<"$SP"
    cpu=$(calc "if ($ok > 0) printf \"%.3f\", ($user + $sys) / $ok * 1000; else print 999")
    row "spate ≤ 0.06 CPU s per 1,000 pages" "$cpu s" "$(verdict "$cpu <= 0.06")"
  else
    row "spate ≤ 0.06 CPU s per 1,000 pages" "no figure" FAIL
  fi
  L=$(fig spate-slow 2)
  if [ -n "$L" ]; then
    read -r pps wall user sys rss ok <<<"$L"
    x=$(calc "printf \"%.2f\", $wall / $IDEAL_SLOW")
    row "latency-bound ($NSLOW × 200 ms at 1,000 in flight) within 1.2× of ideal $IDEAL_SLOW s" \
      "$wall s = $x×" "$(verdict "$x <= 1.2 && $ok == $NSLOW")"
  else
    row "latency-bound within 1.2× of ideal" "no figure" FAIL
  fi
  if [ -n "$PER_INFLIGHT" ]; then
    ok10=$(echo "$K10" | awk '{ print $6 }')
    row "10,000 in flight, < 16 KiB RSS per in-flight request" "$PER_INFLIGHT KiB ($ok10/10000 ok)" \
      "$(verdict "$PER_INFLIGHT < 16 && $ok10 == 10000")"
  else
    row "10,000 in flight, < 16 KiB RSS per in-flight request" "no figure" FAIL
  fi
  F=$(pps_of floor)
  [ -n "$F" ] && [ -n "$SP_PPS" ] &&
    row "spate beside libcurl alone, the floor of a libcurl client (no threshold)" "$(printf '%.0f of %.0f pages/s = %s×' "$SP_PPS" "$F" "$(ratio "$F")")" info
  WG=$(pps_of wget2)
  [ -n "$F" ] && [ -n "$WG" ] &&
    row "libcurl alone beside wget2 (no threshold)" "$(printf '%.0f vs %.0f pages/s = %s×' "$F" "$WG" "$(calc "printf \"%.2f\", $F / $WG")")" info
  W=$(pps_of wrk)
  [ -n "$W" ] && [ -n "$SP_PPS" ] &&
    row "within reach of wrk's ceiling (SPEC; no threshold)" "$(printf '%.0f of %.0f req/s = %s×' "$SP_PPS" "$W" "$(ratio "$W")")" info
} >"$TABLE3"

# Machine facts
git_rev
FACTS=$WORK/facts
{
  echo "- date: $STARTED (start), $(date -u '+%H:%M:%S UTC') (end)"
  machine_facts
  echo "- ulimit -n: $NOFILE; origin: $ORIGIN_NOTE"
  spate_fact
  echo "  - $(ver "$SPATE" --version | sed 's/^[^(]*(//; s/)$//')"
  echo "- curl: $(ver curl --version | cut -d' ' -f1-2)"
  echo "- wget2: $(ver wget2 --version | sed 's/ - .*//')"
  echo "- python: $(ver "$PY" --version) ($PY); aiohttp $("$PY" -c 'import aiohttp; print(aiohttp.__version__)' 2>/dev/null || echo missing); scrapy $("$PY" -c 'import scrapy; print(scrapy.__version__)' 2>/dev/null || echo missing)"
  echo "- nginx: $(ver nginx -v | sed 's/^nginx version: //'), one worker, $PEERS_SRC/nginx.conf"
  echo "- wrk: $(ver wrk -v | cut -d' ' -f1-2)"
} >"$FACTS"

REPORT=$WORK/report.md
{
  echo "# spate side by side — $STARTED"
  echo
  echo "\`bench/run.sh$([ "$QUICK" = 1 ] && echo ' --quick')\`: $RUNS run(s) per client; each row is the median run (by pages/s; latency rows by wall time)."
  echo "Each run under \`/usr/bin/time -f \"%e %U %S %M\"\`; CPU = user + sys of the client (nginx not included)."
  echo
  echo "## Machine"
  echo
  cat "$FACTS"
  echo
  echo "## Fetch list: $NPAGES pages (~6.6 KB each) from nginx on loopback"
  echo
  cat "$TABLE1"
  echo
  if grep -q subset "$TABLE1"; then
    echo "Subset rows fetch the first $SUBSET URLs only (those peers are slow), so their start-up costs weigh more; spate ÷ peer still compares pages/s."
    echo
  fi
  echo "## Latency-bound: every response after 200 ms"
  echo
  cat "$TABLE2"
  echo
  echo "## Targets"
  echo
  cat "$TABLE3"
  echo
  echo "## Notes"
  echo
  if [ -s "$NOTES" ]; then cat "$NOTES"; else echo "- none: every run executed and every client fetched every page"; fi
  echo
  echo "<details><summary>All runs (pages/s or req/s, wall s, user s, sys s, peak RSS KiB, ok)</summary>"
  echo
  all_runs
  echo
  echo "</details>"
} >"$REPORT"

publish ""
echo "written: $OUT (and bench/results/latest.md)"
finish
