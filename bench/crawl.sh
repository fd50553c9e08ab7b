#!/bin/bash
# bench/crawl.sh — spate crawl beside wget2 -r and Scrapy's crawl mode on one nginx
# origin on loopback, then spate's memory as a crawl grows from 20,000 to 200,000
# pages; prints a table and writes it, with the machine's facts, to
# bench/results/crawl-<UTC date-time>.md and bench/results/crawl-latest.md.
#
#   bench/crawl.sh            3 runs per client, medians (about 6 minutes)
#   bench/crawl.sh --quick    1 run each (about 2 minutes)
#   bench/crawl.sh --runs N   N runs per client
#   bench/crawl.sh --keep     keep the scratch directory (stderr of each run)
#   bench/crawl.sh --no-growth   skip the 20,000 → 200,000-page memory case
#
# Needs the peers: scripts/install-deps --bench, and sqlite3. This is a report,
# not a test: it exits 0 even when a target is missed, 1 when a run failed to
# execute (timeout, crash, missing program such as a spate without `crawl`),
# 2 when set-up failed (site, robots.txt, origin).
# Environment: SPATE (binary, default build/spate), BENCH_PEERS (peer programs,
# default /work/shared/bench-peers), WGET2_THREADS (candidates for wget2's
# --max-threads, default "5 16 32": its fastest is its row), SCRAPY_PAGES (Scrapy's
# page cap, default 2000), SPATE_CRAWL_ARGS (extra options for spate crawl).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=crawl.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh" || exit 2
SPATE=${SPATE:-$ROOT/build/spate}
PEERS_SRC=${BENCH_PEERS:-/work/shared/bench-peers}
SITE=/tmp/rig-site          # paths fixed by the peers' nginx.conf
NGINX_PREFIX=/tmp/rig-nginx
ORIGIN=http://127.0.0.1:8089
SEED_URL=$ORIGIN/index.html
NPAGES=20000
GROW_PAGES=200000           # spate origin --pages for the memory case
GROW_SMALL=20000            # its first --max-pages
WGET2_THREADS=${WGET2_THREADS:-5 16 32}
SCRAPY_PAGES=${SCRAPY_PAGES:-2000}
SPATE_CRAWL_ARGS=${SPATE_CRAWL_ARGS:-}
ROBOTS_TXT=$'User-agent: *\nDisallow: /private/\n'
PY=/usr/bin/python3         # Debian's python, where python3-scrapy lives
TIME=/usr/bin/time
RSS_FLAT=1.25               # "flat": peak RSS at 200k ≤ this × peak RSS at 20k

RUNS=3
QUICK=0
KEEP=0
GROWTH=1
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1; RUNS=1 ;;
    --runs) RUNS=${2:?--runs needs a number}; shift ;;
    --keep) KEEP=1 ;;
    --no-growth) GROWTH=0 ;;
    -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "crawl.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
case $RUNS in '' | *[!0-9]* | 0) echo "crawl.sh: --runs wants a positive number" >&2; exit 2 ;; esac
case $SCRAPY_PAGES in '' | *[!0-9]* | 0) echo "crawl.sh: SCRAPY_PAGES wants a positive number" >&2; exit 2 ;; esac
for t in $WGET2_THREADS; do
  case $t in *[!0-9]* | 0) echo "crawl.sh: WGET2_THREADS wants positive numbers" >&2; exit 2 ;; esac
done
[ -n "${WGET2_THREADS// /}" ] || { echo "crawl.sh: WGET2_THREADS is empty" >&2; exit 2; }

# Loopback only: no proxy may take these requests.
unset http_proxy https_proxy all_proxy ftp_proxy no_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY FTP_PROXY NO_PROXY
export LC_ALL=C

WORK=$(mktemp -d /tmp/spate-crawl.XXXXXX)
RES=$WORK/res
mkdir -p "$RES" "$WORK/cwd" "$WORK/peers"
CHILD=
NGINX_PID=  # set only when this script started nginx
ORIGIN2_PID= # the `spate origin` of the memory case (a `timeout` wrapping it)
FAILS=0
NOTES=$WORK/notes
: >"$NOTES"

stop_origin2() {
  [ -n "$ORIGIN2_PID" ] || return 0
  local pid=$ORIGIN2_PID
  ORIGIN2_PID=
  stop_pid "$pid" "spate origin" # timeout passes TERM on to the origin
  wait "$pid" 2>/dev/null
}

CLEANUP_STOPS="stop_origin2 stop_nginx"
set_traps
RECORD_NONE="stored no page" # what record() says of a run that stored nothing

# Pages in a spate store: "status-200 rows, of them /p/N.html pages, /private/ pages".
count_store() {
  sqlite3 -readonly "$1" "select count(*), count(case when url like '%/p/%' then 1 end),
    count(case when url like '%/private/%' then 1 end) from pages where status = 200" 2>/dev/null |
    tr '|' ' '
}
# Scrapy's JSON lines: "status-200 lines, of them /p/ pages, distinct URLs among those".
count_scrapy() {
  "$PY" - "$1" <<'EOF'
import json, sys
ok = pages = 0
seen = set()
try:
    f = open(sys.argv[1], encoding="utf-8", errors="replace")
except OSError:
    print(0, 0, 0); sys.exit()
for line in f:
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if r.get("status") != 200:
        continue
    ok += 1
    if "/p/" in r.get("url", ""):
        pages += 1
        seen.add(r["url"])
print(ok, pages, len(seen))
EOF
}
# wget2's tree: "/p/ pages saved, robots.txt saved (1/0)".
count_wget2() {
  local n r=0
  n=$(find "$1" -path '*/p/*.html' -type f 2>/dev/null | wc -l)
  [ -n "$(find "$1" -maxdepth 2 -name robots.txt -type f 2>/dev/null)" ] && r=1
  echo "$n $r"
}

# Remove a run's output outside the timing, and let its writeback settle, so the
# next run does not pay for this one's dirty pages.
scrub() {
  rm -rf "$@"
  sync -f "$WORK" 2>/dev/null || sync
}

# ---------------------------------------------------------------- preflight
log "== spate crawl bench ($([ $QUICK = 1 ] && echo quick || echo "$RUNS runs per client")), scratch $WORK"
build_spate 600 make -C "$ROOT" build
snapshot_spate
require "$TIME" timeout curl nginx ss
HAVE_CRAWL=0
if timeout 10 "$SPATE" crawl --help >/dev/null 2>&1; then
  if need sqlite3; then HAVE_CRAWL=1; else fail "sqlite3 missing: cannot count spate's pages; spate rows skipped"; fi
else
  fail "$SPATE_SRC has no working 'crawl' command ('spate crawl --help' fails); spate rows skipped"
fi
MISSING=
if need wget2; then HAVE_WGET2=1; else HAVE_WGET2=0 MISSING="$MISSING wget2"; fi
HAVE_SCRAPY=0
if need "$PY"; then
  "$PY" -c 'import scrapy' 2>/dev/null && HAVE_SCRAPY=1 || MISSING="$MISSING python3-scrapy"
else
  MISSING="$MISSING $PY"
fi
[ -z "$MISSING" ] || fail "missing peers:$MISSING (scripts/install-deps --bench); their rows are skipped"
copy_peers gensite.py nginx.conf scrapy_spider.py

# As run.sh: raise ulimit -n as far as allowed (nginx inherits it when started here).
raise_nofile 30000 65536

mark_start

# ---------------------------------------------------------------- site
ensure_site
# gensite.py writes no robots.txt; without one, nobody would parse any rules.
if [ "$(cat "$SITE/robots.txt" 2>/dev/null)" != "${ROBOTS_TXT%$'\n'}" ]; then
  printf '%s' "$ROBOTS_TXT" >"$SITE/robots.txt" || { echo "crawl.sh: cannot write $SITE/robots.txt" >&2; exit 2; }
  log "site: wrote $SITE/robots.txt (Disallow: /private/)"
fi

# ---------------------------------------------------------------- origin
ensure_origin
read -r code _ < <(answers /robots.txt)
if [ "${code:-000}" != 200 ] || [ "$(cat "$WORK/probe.body")" != "${ROBOTS_TXT%$'\n'}" ]; then
  echo "crawl.sh: $ORIGIN/robots.txt answers ${code:-nothing}, not 200 with $SITE/robots.txt" >&2
  exit 2
fi
read -r code _ < <(answers /index.html)
[ "${code:-000}" = 200 ] || { echo "crawl.sh: $SEED_URL answers ${code:-nothing}, not 200" >&2; exit 2; }

cd "$WORK/cwd" || exit 2 # wget2 and Scrapy write relative to the cwd: keep it scratch

progress() { # progress LABEL RUN PAGES EXPECTED
  log "$(printf '  %-22s run %s/%s  %7s s  user %6s  sys %6s  rss %7s KiB  pages %s/%s' \
    "$1" "$2" "$RUNS" "$T_WALL" "$T_USER" "$T_SYS" "$T_RSS" "$3" "$4")"
}

# ---------------------------------------------------------------- crawl
# Clients take turns within each round, so a burst of load from elsewhere hits
# all of them alike. Every run starts from nothing: no store, no directory.
log "== crawl: $NPAGES-page site from $SEED_URL, robots on, dedup on, pages stored"
for i in $(seq "$RUNS"); do
  if [ "$HAVE_CRAWL" = 1 ]; then
    DB=$WORK/site.db
    scrub "$DB" "$DB-wal" "$DB-shm" "$DB-journal"
    # shellcheck disable=SC2086 # SPATE_CRAWL_ARGS is a list of options
    run_timed spate 300 "$SPATE" crawl "$SEED_URL" -o "$DB" -q $SPATE_CRAWL_ARGS
    if executed spate; then
      read -r ok p priv < <(count_store "$DB")
      record spate "${p:-0}"
      progress spate "$i" "${p:-0}" "$NPAGES"
      [ "${p:-0}" = "$NPAGES" ] && [ "${ok:-0}" = $((NPAGES + 1)) ] ||
        note "WARNING spate run $i: ${ok:-0} pages with status 200, ${p:-0} of them /p/ pages (want $((NPAGES + 1)) and $NPAGES)"
      [ "${priv:-0}" = 0 ] || note "WARNING spate run $i stored ${priv} /private/ pages despite robots.txt"
      echo "$i $(du -ck "$DB"* 2>/dev/null | tail -n 1 | cut -f1)" >>"$WORK/spate-dbsize"
    fi
  fi

  if [ "$HAVE_WGET2" = 1 ]; then
    for t in $WGET2_THREADS; do
      D=$WORK/wget2-site
      scrub "$D"
      run_timed "wget2-$t" 300 wget2 --no-config -r -l inf --robots=on -np -nv --max-threads="$t" \
        -P "$D" "$SEED_URL"
      if executed "wget2-$t"; then
        read -r p robots < <(count_wget2 "$D")
        record "wget2-$t" "$p"
        progress "wget2 --max-threads=$t" "$i" "$p" "$NPAGES"
        [ "$p" = "$NPAGES" ] || note "WARNING wget2 --max-threads=$t run $i: $p of $NPAGES /p/ pages saved"
        [ "$robots" = 1 ] || note "WARNING wget2 --max-threads=$t run $i: no robots.txt in its tree (robots not fetched?)"
        [ -z "$(find "$D" -path '*/private/*' 2>/dev/null | head -1)" ] || note "WARNING wget2 run $i saved /private/ pages"
      fi
    done
    scrub "$WORK/wget2-site"
    [ -z "$(ls -A "$WORK/cwd")" ] || note "a client left files in its cwd: $(ls -A "$WORK/cwd" | head -3 | tr '\n' ' ')"
  fi

  if [ "$HAVE_SCRAPY" = 1 ]; then
    scrub "$WORK/scrapy.jsonl"
    # LOG_LEVEL=INFO only adds the stats dump at the end: it shows robots.txt was fetched.
    run_timed scrapy 300 "$PY" -m scrapy runspider "$PEERS/scrapy_spider.py" \
      -a mode=crawl -a start="$SEED_URL" -s ROBOTSTXT_OBEY=True \
      -s CLOSESPIDER_PAGECOUNT="$SCRAPY_PAGES" -s LOG_LEVEL=INFO -O "$WORK/scrapy.jsonl"
    if executed scrapy; then
      read -r ok p distinct < <(count_scrapy "$WORK/scrapy.jsonl")
      record scrapy "$p"
      progress "Scrapy (capped)" "$i" "$p" "≥$SCRAPY_PAGES"
      [ "$p" -ge $((SCRAPY_PAGES - 2)) ] || note "WARNING Scrapy run $i: $p /p/ pages, fewer than its cap of $SCRAPY_PAGES responses"
      [ "$distinct" = "$p" ] || note "WARNING Scrapy run $i: $p /p/ pages but $distinct distinct URLs (dedup?)"
      grep -q "'robotstxt/response_status_count/200': 1" "$WORK/scrapy.err" ||
        note "WARNING Scrapy run $i: its stats show no robots.txt fetched with 200"
      grep -q 'Traceback\|\] ERROR' "$WORK/scrapy.err" && note "Scrapy run $i logged errors: $(grep -m1 'Traceback\|\] ERROR' "$WORK/scrapy.err" | cut -c1-160)"
      sed -n "s/.*'finish_reason': '\([a-z_]*\)'.*/\1/p" "$WORK/scrapy.err" >>"$WORK/scrapy-finish"
    fi
  fi
done
scrub "$WORK/site.db" "$WORK/scrapy.jsonl"

# wget2's row: the --max-threads whose median run is fastest.
WGET2_BEST='' WGET2_BEST_PPS=''
for t in $WGET2_THREADS; do
  pps=$(median "wget2-$t" 1 | awk '{ print $1 }') || continue
  [ -n "$pps" ] || continue
  if [ -z "$WGET2_BEST" ] || awk -v a="$pps" -v b="$WGET2_BEST_PPS" 'BEGIN { exit !(a > b) }'; then
    WGET2_BEST=$t WGET2_BEST_PPS=$pps
  fi
done
[ -z "$WGET2_BEST" ] || log "  wget2: fastest median at --max-threads=$WGET2_BEST"

# ---------------------------------------------------------------- growth
# spate's memory as the crawl grows: the same command on spate's own origin,
# 20,000 pages and then the whole 200,000.
ORIGIN2=
if [ "$GROWTH" = 1 ] && [ "$HAVE_CRAWL" = 1 ]; then
  log "== growth: spate crawl of spate origin --pages $GROW_PAGES, --max-pages $GROW_SMALL and $GROW_PAGES"
  # Bounded like every run: the origin outlives the crawls, not the script.
  timeout -k 5 7200 "$SPATE" origin --port 0 --pages "$GROW_PAGES" -q >"$WORK/origin2.out" 2>"$WORK/origin2.err" &
  ORIGIN2_PID=$!
  for _ in $(seq 100); do
    ORIGIN2=$(sed -n '1s|^origin listening on \(http://127\.0\.0\.1:[0-9]*\)/ .*|\1|p' "$WORK/origin2.out")
    [ -n "$ORIGIN2" ] && break
    kill -0 "$ORIGIN2_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$ORIGIN2" ]; then
    fail "spate origin --pages $GROW_PAGES did not start: $(head -c 200 "$WORK/origin2.out" "$WORK/origin2.err" 2>/dev/null | tr '\n' ' ')"
    stop_origin2
  else
    log "  origin: $ORIGIN2 (pid $ORIGIN2_PID, under timeout)"
    for i in $(seq "$RUNS"); do
      for cap in "$GROW_SMALL" "$GROW_PAGES"; do
        DB=$WORK/grow.db
        scrub "$DB" "$DB-wal" "$DB-shm" "$DB-journal"
        # shellcheck disable=SC2086
        run_timed "grow-$cap" 600 "$SPATE" crawl "$ORIGIN2/index.html" -o "$DB" -q --max-pages "$cap" $SPATE_CRAWL_ARGS
        if executed "grow-$cap"; then
          read -r ok p priv < <(count_store "$DB")
          record "grow-$cap" "${ok:-0}"
          progress "spate --max-pages $cap" "$i" "${ok:-0}" "$cap"
          [ "${ok:-0}" -ge $((cap - 1)) ] || note "WARNING growth run $i: ${ok:-0} pages with status 200 at --max-pages $cap"
          [ "${priv:-0}" = 0 ] || note "WARNING growth run $i stored ${priv} /private/ pages despite robots.txt"
          echo "$cap $(du -ck "$DB"* 2>/dev/null | tail -n 1 | cut -f1)" >>"$WORK/grow-dbsize"
        fi
        kill -0 "$ORIGIN2_PID" 2>/dev/null || { fail "spate origin died during growth run $i"; break 2; }
      done
    done
    scrub "$WORK/grow.db" "$WORK/grow.db-wal" "$WORK/grow.db-shm"
    stop_origin2
  fi
elif [ "$GROWTH" = 1 ]; then
  log "== growth: skipped (no spate crawl)"
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(($(date +%s) - T0))

# ---------------------------------------------------------------- report
mib() { calc "printf \"%.1f\", $1 / 1024"; }
cpu_per_k() { calc "if ($3 > 0) printf \"%.3f\", ($1 + $2) / $3 * 1000; else print \"-\""; }

SP=$(fig spate)
SP_PPS=$(echo "$SP" | awk '{ print $1 }') # for ratio

SPATE_HOW="crawl -o site.db -q${SPATE_CRAWL_ARGS:+ $SPATE_CRAWL_ARGS} (its defaults otherwise); SQLite store: pages, links, full-text index"
TABLE1=$WORK/table1
{
  echo "| client | how | pages stored (median run) | wall s | pages/s | CPU s / 1,000 pages | peak RSS MiB | spate ÷ peer |"
  echo "|---|---|--:|--:|--:|--:|--:|--:|"
  rows=spate
  for t in $WGET2_THREADS; do rows="$rows wget2-$t"; done
  rows="$rows scrapy"
  for c in $rows; do
    line=$(fig "$c") || continue
    read -r pps wall user sys rss ok <<<"$line"
    case $c in
      spate) label=spate how=$SPATE_HOW ;;
      wget2-*)
        t=${c#wget2-}
        label="wget2 -r"
        [ "$t" = "$WGET2_BEST" ] && label="**wget2 -r** (its fastest)"
        how="--max-threads=$t -l inf --robots=on -np; one file per page" ;;
      scrapy) label="Scrapy crawl (capped)" how="scrapy_spider.py mode=crawl, 256 concurrent, ROBOTSTXT_OBEY, CLOSESPIDER_PAGECOUNT=$SCRAPY_PAGES; JSON lines + title" ;;
    esac
    r=$(ratio "$pps")
    [ "$c" = spate ] && r="1.00"
    printf '| %s | %s | %s | %.2f | %.0f | %s | %.1f | %s |\n' "$label" "$how" "$ok" "$wall" "$pps" \
      "$(cpu_per_k "$user" "$sys" "$ok")" "$(mib "$rss")" "${r:--}"
  done
} >"$TABLE1"

TABLE2=$WORK/table2
{
  echo "| spate crawl of \`spate origin --pages $GROW_PAGES\` | rows with status 200 (median run) | wall s | pages/s | CPU s / 1,000 pages | peak RSS MiB | store MiB |"
  echo "|---|--:|--:|--:|--:|--:|--:|"
  for cap in "$GROW_SMALL" "$GROW_PAGES"; do
    line=$(fig "grow-$cap" 5) || continue
    read -r pps wall user sys rss ok <<<"$line"
    size=$(awk -v c="$cap" '$1 == c { s = $2 } END { if (s != "") printf "%.0f", s / 1024; else print "-" }' "$WORK/grow-dbsize" 2>/dev/null)
    printf '| --max-pages %s | %s | %.2f | %.0f | %s | %.1f | %s |\n' "$cap" "$ok" "$wall" "$pps" \
      "$(cpu_per_k "$user" "$sys" "$ok")" "$(mib "$rss")" "${size:--}"
  done
} >"$TABLE2"

TABLE3=$WORK/table3
SUMMARY=
{
  echo "| target | figure | verdict |"
  echo "|---|--:|---|"
  cmp_peer() { # cmp_peer LABEL SHORT PEER_PPS MIN_RATIO
    local v
    if [ -z "$SP_PPS" ] || [ -z "$3" ]; then
      row "$1" "no figure" FAIL
      SUMMARY="$SUMMARY; $2: no figure"
      return
    fi
    v=$(verdict "q >= $4" "q = $SP_PPS / $3")
    row "$1" "$(printf '%.0f vs %.0f pages/s = %s×' "$SP_PPS" "$3" "$(ratio "$3")")" "$v"
    SUMMARY="$SUMMARY; $2 $v ($(ratio "$3")×)"
  }
  cmp_peer "spate pages/s ≥ 2× wget2 -r (its fastest, --max-threads=${WGET2_BEST:-?})" "≥2× wget2" "$WGET2_BEST_PPS" 2
  cmp_peer "spate pages/s ≥ 50× Scrapy crawl (Scrapy capped at $SCRAPY_PAGES pages)" "≥50× Scrapy" \
    "$(fig scrapy | awk '{ print $1 }')" 50
  S=$(fig "grow-$GROW_SMALL" 5) L=$(fig "grow-$GROW_PAGES" 5)
  if [ -n "$S" ] && [ -n "$L" ]; then
    rs=$(echo "$S" | awk '{ print $5 }') rl=$(echo "$L" | awk '{ print $5 }')
    x=$(calc "printf \"%.2f\", $rl / $rs")
    v=$(verdict "$x <= $RSS_FLAT")
    row "peak RSS flat as the crawl grows: at $GROW_PAGES pages ≤ $RSS_FLAT× at $GROW_SMALL" \
      "$(mib "$rl") vs $(mib "$rs") MiB = ${x}×" "$v"
    SUMMARY="$SUMMARY; flat RSS $v (${x}×)"
  else
    row "peak RSS flat as the crawl grows ($GROW_SMALL → $GROW_PAGES pages)" "no figure" \
      "$([ "$GROWTH" = 0 ] && echo skipped || echo FAIL)"
    SUMMARY="$SUMMARY; flat RSS: $([ "$GROWTH" = 0 ] && echo skipped || echo 'no figure')"
  fi
} >"$TABLE3"
SUMMARY="targets: ${SUMMARY#; }"

git_rev
FACTS=$WORK/facts
{
  echo "- date: $STARTED (start), $(date -u '+%H:%M:%S UTC') (end); $ELAPSED s of measuring"
  machine_facts "; scratch on $(df -PT "$WORK" | awk 'NR == 2 { print $2 }')"
  echo "- ulimit -n: $NOFILE; origin: $ORIGIN_NOTE; robots.txt \`User-agent: * / Disallow: /private/\` in $SITE"
  spate_fact
  echo "- wget2: $(ver wget2 --version | sed 's/ - .*//')"
  echo "- python: $(ver "$PY" --version) ($PY); scrapy $("$PY" -c 'import scrapy; print(scrapy.__version__)' 2>/dev/null || echo missing)"
  echo "- nginx: $(ver nginx -v | sed 's/^nginx version: //'), one worker, $PEERS_SRC/nginx.conf; sqlite3 $(ver sqlite3 --version | cut -d' ' -f1)"
} >"$FACTS"

REPORT=$WORK/report.md
{
  echo "# spate crawl side by side — $STARTED"
  echo
  echo "\`bench/crawl.sh$([ "$QUICK" = 1 ] && echo ' --quick')\`: $RUNS run(s) per client; each row is the median run (by pages/s; growth rows by peak RSS)."
  echo "Each run under \`/usr/bin/time -f \"%e %U %S %M\"\`, from an empty store or directory; CPU = user + sys of the client (the origin not included)."
  echo "Pages stored = /p/N.html pages with status 200 (spate: rows of \`pages\`; wget2: files under \`127.0.0.1*/p/\`; Scrapy: JSON lines); pages/s = pages stored / wall."
  echo
  echo "## Machine"
  echo
  cat "$FACTS"
  echo
  echo "## Crawl: the $NPAGES-page site (~6.6 KB, ~15 links a page) from nginx on loopback"
  echo
  echo "Seed $SEED_URL; robots.txt fetched and obeyed, every URL fetched once, every page stored."
  echo
  cat "$TABLE1"
  echo
  echo "wget2 ran at each of --max-threads $WGET2_THREADS; its row for the targets is the fastest median${WGET2_BEST:+ (--max-threads=$WGET2_BEST)}."
  echo "Scrapy stops after $SCRAPY_PAGES responses (its full crawl would take minutes) and finishes the requests in flight, so it stores a few more; its start-up (~1 s) weighs in its pages/s."
  echo
  echo "## Memory as the crawl grows"
  echo
  if [ -s "$TABLE2" ] && [ "$(wc -l <"$TABLE2")" -gt 2 ]; then
    echo "The same command with --max-pages, on spate's own origin (pages generated per request) from its /index.html."
    echo "--max-pages counts every row of \`pages\`; the index links to /private/index.html, which robots.txt disallows"
    echo "and spate records as a row of its own (status 0, error \`robots\`), so the rows with status 200 are the cap less one."
    echo
    cat "$TABLE2"
  else
    echo "Not measured$([ "$GROWTH" = 0 ] && echo ' (--no-growth)' || echo ': no spate crawl, or it failed (see Notes)')."
  fi
  echo
  echo "## Targets"
  echo
  cat "$TABLE3"
  echo
  echo "## Notes"
  echo
  if [ -s "$NOTES" ]; then cat "$NOTES"; else echo "- none: every run executed and stored every page expected"; fi
  [ -s "$WORK/scrapy-finish" ] && echo "- Scrapy finish_reason: $(sort "$WORK/scrapy-finish" | uniq -c | awk '{ printf "%s%s ×%s", (NR > 1 ? ", " : ""), $2, $1 }')"
  [ -s "$WORK/spate-dbsize" ] && echo "- spate's store of the $NPAGES-page crawl: $(awk '{ s = $2 } END { printf "%.0f", s / 1024 }' "$WORK/spate-dbsize") MiB"
  echo
  echo "<details><summary>All runs (pages/s, wall s, user s, sys s, peak RSS KiB, pages stored)</summary>"
  echo
  all_runs
  echo
  echo "</details>"
} >"$REPORT"

publish crawl-
echo "$SUMMARY"
echo "written: $OUT (and bench/results/crawl-latest.md); $ELAPSED s"
finish
