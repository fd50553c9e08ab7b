/* spate dashboard (docs/LIVE.md): one tick arrives 10 times per second over
 * /ws (falling back to /events); the page shows the job's header, number
 * cards, three charts over the last two minutes, and the status, error,
 * host and source tables. No framework, no build step; Chart.js 3 is the
 * global `Chart` (from /vendor/chart.min.js) and is optional: without it
 * everything but the charts still works.
 *
 * Every field of a tick may be missing: numbers default to 0, strings to
 * "", lists and maps to empty. Text from the server only ever goes into
 * the page through textContent. */
(function () {
  "use strict";

  /* ---- settings ------------------------------------------------------ */

  var WINDOW_S = 120;        /* charts cover the last two minutes */
  var BUCKET_S = 0.5;        /* one drawn point per 500 ms */
  var GAP_S = 2.5;           /* a hole longer than this breaks the line */
  var CHART_EVERY_MS = 250;  /* charts and tables: at most 4 updates/s */
  var BACKOFF_MIN_MS = 1000, BACKOFF_MAX_MS = 10000;
  function isTerminal(state) { return state === "done" || state === "failed" || state === "stopped"; }

  /* The self-check a headless test reads: it is mutated in place. */
  var selfCheck = { ticks: 0, last: null };
  window.spateDashboard = selfCheck;

  /* ---- safe access --------------------------------------------------- */

  function num(v) {
    if (typeof v === "number") return isFinite(v) ? v : 0;
    if (typeof v === "string" && v.trim() !== "") { var n = Number(v); return isFinite(n) ? n : 0; }
    return 0;
  }
  function str(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    try { return JSON.stringify(v); } catch (e) { return ""; }
  }
  function isObj(v) { return !!v && typeof v === "object" && !Array.isArray(v); }
  function obj(v) { return isObj(v) ? v : {}; }
  function arr(v) { return Array.isArray(v) ? v : []; }
  function own(o, k) { return Object.prototype.hasOwnProperty.call(o, k); }

  /* ---- formatting ---------------------------------------------------- */

  var nf0 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  var nf1 = new Intl.NumberFormat(undefined, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  var nf2 = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });

  function fmtInt(v) { return nf0.format(Math.round(num(v))); }
  /* A rate: whole numbers from 100 on, one decimal below. */
  function fmtRate(v) {
    v = num(v);
    if (v === 0) return "0";
    return Math.abs(v) >= 100 ? nf0.format(v) : nf1.format(v);
  }
  function fmtPct(part, whole) {
    part = num(part); whole = num(whole);
    if (whole <= 0) return "0%";
    var p = 100 * part / whole;
    if (p === 0) return "0%";
    if (p < 0.1) return "<0.1%";
    if (p >= 99.95 && part < whole) return ">99.9%";
    return (p >= 10 ? nf0.format(p) : nf1.format(p)) + "%";
  }
  /* Decimal units (1 MB = 10^6 bytes), as network volumes usually are. */
  function bytesParts(v) {
    v = num(v);
    var units = ["B", "kB", "MB", "GB", "TB", "PB"];
    var i = 0;
    while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    var s = i === 0 ? nf0.format(v) : Math.abs(v) >= 100 ? nf0.format(v) : Math.abs(v) >= 10 ? nf1.format(v) : nf2.format(v);
    return [s, units[i]];
  }
  function fmtBytes(v) { var p = bytesParts(v); return p[0] + " " + p[1]; }
  function fmtMs(v) {
    v = num(v);
    if (v >= 10000) return nf1.format(v / 1000) + " s";
    if (v >= 1000) return nf2.format(v / 1000) + " s";
    if (v >= 100) return nf0.format(v) + " ms";
    return nf1.format(v) + " ms";
  }
  function pad2(n) { return (n < 10 ? "0" : "") + n; }
  function fmtElapsed(s) {
    s = Math.max(0, num(s));
    if (s < 60) return nf1.format(s) + " s";
    var t = Math.floor(s), h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), sec = t % 60;
    if (h > 0) return h + " h " + pad2(m) + " m " + pad2(sec) + " s";
    return m + " m " + pad2(sec) + " s";
  }
  /* Short axis labels: 1.2k, 3.4M. */
  function fmtCompact(v) {
    v = num(v);
    var a = Math.abs(v);
    if (a >= 1e9) return trimZero(v / 1e9) + "G";
    if (a >= 1e6) return trimZero(v / 1e6) + "M";
    if (a >= 1e4) return trimZero(v / 1e3) + "k";
    if (a >= 100 || v === Math.round(v)) return nf0.format(v);
    return String(Math.round(v * 100) / 100);
  }
  function trimZero(v) { return String(Math.round(v * 10) / 10); }

  /* ---- DOM helpers --------------------------------------------------- */

  function $(id) { return document.getElementById(id); }
  function setText(el, s) { if (el && el.textContent !== s) el.textContent = s; }
  function setTextId(id, s) { setText($(id), s); }
  /* The cards' big numbers share one type size, smaller as the longest
   * grows, so that 1,234,567,890 still fits a narrow card and the row
   * stays even. pages/s, a card of its own, is sized alone. */
  function sizeFor(n) { return n <= 7 ? "" : n <= 9 ? "m" : n <= 11 ? "s" : "xs"; }
  function setSize(e, size) {
    if ((e.getAttribute("data-size") || "") !== size) {
      if (size) e.setAttribute("data-size", size); else e.removeAttribute("data-size");
    }
  }
  function setValues(pairs) {
    var longest = 0;
    pairs.forEach(function (p) { setTextId(p[0], p[1]); if (p[1].length > longest) longest = p[1].length; });
    var size = sizeFor(longest);
    pairs.forEach(function (p) { setSize($(p[0]), size); });
  }
  function setValue(id, s) { setTextId(id, s); setSize($(id), sizeFor(s.length)); }
  function setClass(el, cls) { if (el && el.className !== cls) el.className = cls; }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function setWidth(span, frac) {
    frac = Math.max(0, Math.min(1, num(frac)));
    var w = (Math.round(frac * 1000) / 10) + "%";
    if (span.style.width !== w) span.style.width = w;
  }
  /* A CSS class fragment from server text: only [a-z0-9-]. */
  function slug(s) { return str(s).toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "unknown"; }

  /* ---- state --------------------------------------------------------- */

  var last = null;          /* last tick applied */
  var lastSeq = -1, lastTime = -Infinity, lastHere = 0;
  function clientNow() { return (window.performance && performance.now ? performance.now() : Date.now()) / 1000; }
  var ring = [];            /* {t, pages, errors, p50, p95, p99}, oldest first */
  var dirtySlow = false;    /* charts and tables need a redraw */
  var frameQueued = false;
  var stopping = Object.create(null);        /* source name -> true while a POST is out */

  /* ---- ticks --------------------------------------------------------- */

  function onMessage(text) {
    var t;
    try { t = JSON.parse(text); } catch (e) { return; }
    accept(t);
  }

  /* Applies a tick unless it is older than the one shown. A lower seq with
   * a later time is a new run (the server restarted): history is reset. */
  function accept(t) {
    if (!t || typeof t !== "object" || Array.isArray(t)) return false;
    if (t.type !== undefined && t.type !== "tick") return false;
    var hasSeq = typeof t.seq === "number" && isFinite(t.seq), seq = hasSeq ? t.seq : lastSeq;
    /* the server's clock; without one, the last tick's plus our own
     * elapsed time, so that the charts' x axis stays on one clock */
    var here = clientNow();
    var time = num(t.time) > 0 ? num(t.time) : last ? lastTime + (here - lastHere) : Date.now() / 1000;
    if (last && hasSeq && seq <= lastSeq) {
      if (seq < lastSeq && time > lastTime + 0.001) ring = [];
      else return false;
    }
    lastSeq = seq; lastTime = time; lastHere = here;
    last = t;
    selfCheck.ticks++;
    selfCheck.last = t;

    var rate = obj(t.rate), lat = obj(t.latency_ms);
    /* the ring stays in time order even if the server's clock steps back */
    var pt = ring.length && time < ring[ring.length - 1].t ? ring[ring.length - 1].t : time;
    ring.push({ t: pt, pages: num(rate.pages_s), errors: num(rate.errors_s),
                p50: num(lat.p50), p95: num(lat.p95), p99: num(lat.p99) });
    var cut = pt - WINDOW_S - 2 * BUCKET_S, drop = 0;
    while (drop < ring.length && ring[drop].t < cut) drop++;
    if (drop > 0) ring.splice(0, drop);

    dirtySlow = true;
    if (!frameQueued) {
      frameQueued = true;
      /* rAF pauses in a hidden tab; a timer keeps the title current. */
      if (document.hidden) setTimeout(renderFast, 250);
      else requestAnimationFrame(renderFast);
    }
    onJobState(str(obj(t.job).state));
    return true;
  }

  /* ---- rendering: header, cards, footer (every frame a tick arrived) -- */

  function renderFast() {
    frameQueued = false;
    var t = last;
    if (!t) return;
    var job = obj(t.job), tot = obj(t.totals), rate = obj(t.rate), srv = obj(t.server);
    var state = str(job.state) || "unknown";

    var name = str(job.name) || "spate";
    setTextId("job-name", name);
    if ($("job-name").title !== name) $("job-name").title = name;
    var kind = str(job.kind);
    var kindEl = $("job-kind");
    setText(kindEl, kind);
    kindEl.hidden = !kind;
    setTextId("job-state-text", state);
    setClass($("job-state"), "badge badge-" + slug(state));
    var elapsedEl = $("job-elapsed"), iso = "PT" + Math.max(0, num(job.elapsed_s)).toFixed(1) + "S";
    setText(elapsedEl, fmtElapsed(job.elapsed_s));
    if (elapsedEl.getAttribute("datetime") !== iso) elapsedEl.setAttribute("datetime", iso);
    var stopBtn = $("job-stop");
    var canStop = state === "running" && !stopping.job && job.kind !== "serve";
    if (stopBtn.disabled === canStop) stopBtn.disabled = !canStop;
    setText(stopBtn, state === "stopping" ? "Stopping…" : "Stop");

    /* cards */
    var done = num(tot.done), admitted = num(tot.admitted), ok = num(tot.ok), failed = num(tot.failed);
    setValue("c-rate", fmtRate(rate.pages_s));
    setTextId("c-rate-sub", isTerminal(state) ? "average " + fmtRate(num(job.elapsed_s) > 0 ? done / num(job.elapsed_s) : 0) + "/s"
                                              : "over the last second");
    var mb = num(tot.bytes) / 1e6, bytesVal, bytesUnit = "MB";
    if (mb >= 1e5) { var bp = bytesParts(tot.bytes); bytesVal = bp[0]; bytesUnit = bp[1]; }
    else bytesVal = mb >= 1000 ? nf0.format(mb) : mb >= 10 ? nf1.format(mb) : nf2.format(mb);
    setValues([["c-done", fmtInt(done)], ["c-ok", fmtInt(ok)], ["c-failed", fmtInt(failed)],
               ["c-inflight", fmtInt(tot.inflight)], ["c-queued", fmtInt(tot.queued)], ["c-bytes", bytesVal]]);
    setTextId("c-bytes-unit", bytesUnit);
    setTextId("c-admitted", fmtInt(admitted));
    setWidth($("c-done-bar"), admitted > 0 ? done / admitted : 0);
    setTextId("c-done-pct", fmtPct(done, admitted));
    setTextId("c-ok-sub", fmtPct(ok, done) + " of done");
    setClass($("c-failed"), failed > 0 ? "value bad" : "value");
    setTextId("c-failed-sub", "error rate " + fmtPct(failed, done) + " · " + fmtRate(rate.errors_s) + "/s");
    setClass($("c-failed-sub"), num(rate.errors_s) > 0 ? "sub bad" : "sub");
    setTextId("c-bytes-sub", fmtBytes(rate.bytes_s) + "/s");

    /* footer */
    setTextId("f-ws", fmtInt(srv.ws_clients));
    setTextId("f-sse", fmtInt(srv.sse_clients));
    setTextId("f-dropped", fmtInt(srv.dropped_slow));
    setTextId("f-seq", "#" + fmtInt(t.seq));

    renderEnded(state, job, tot);

    var title = "spate · " + state + (state === "running" ? " · " + fmtRate(rate.pages_s) + " pages/s" : "");
    if (document.title !== title) document.title = title;
  }

  function renderEnded(state, job, tot) {
    var box = $("ended");
    if (!isTerminal(state)) { box.hidden = true; return; }
    box.hidden = false;
    setClass(box, "ended is-" + state);
    setTextId("ended-title", state === "done" ? "Job done" : state === "stopped" ? "Job stopped" : "Job failed");
    setTextId("ended-detail",
      "after " + fmtElapsed(job.elapsed_s) + " · " + fmtInt(tot.done) + " done, " + fmtInt(tot.ok) + " ok, " +
      fmtInt(tot.failed) + " failed · " + fmtBytes(tot.bytes) + " received. The numbers below are the final ones.");
  }

  /* ---- rendering: tables (at most 4 times a second) ------------------ */

  var STATUS_ROWS = [["2xx", "2xx"], ["3xx", "3xx"], ["4xx", "4xx"], ["5xx", "5xx"], ["1xx", "1xx"], ["none", "no response"]];

  function renderTables() {
    var t = last;
    if (!t) return;
    var tot = obj(t.totals);

    /* status classes: a fixed set of rows, plus any class the server adds */
    var status = obj(t.status), rows = [], seen = Object.create(null), total = 0, k;
    for (k in status) if (own(status, k)) total += num(status[k]);
    STATUS_ROWS.forEach(function (r) { seen[r[0]] = true; rows.push({ key: r[0], label: r[1], n: num(status[r[0]]), cls: "c-" + r[0] }); });
    for (k in status) if (own(status, k) && !seen[k]) rows.push({ key: "x-" + k, label: k, n: num(status[k]), cls: "c-none" });
    syncRows($("t-status"), rows, function (r) { return r.key; }, buildShareRow, function (tr, r) { fillShareRow(tr, r, total); });

    /* error codes, most frequent first */
    var errs = obj(t.errors), erows = [], etotal = 0;
    for (k in errs) if (own(errs, k)) { erows.push({ key: k, label: k, n: num(errs[k]), cls: "c-err", wrap: true }); etotal += num(errs[k]); }
    erows.sort(function (a, b) { return b.n - a.n || (a.label < b.label ? -1 : a.label > b.label ? 1 : 0); });
    syncRows($("t-errors"), erows, function (r) { return r.key; }, buildShareRow, function (tr, r) { fillShareRow(tr, r, etotal); });
    $("t-errors-empty").hidden = erows.length > 0;
    setTextId("x-retries", fmtInt(tot.retries));
    setTextId("x-redirects", fmtInt(tot.redirects));
    setTextId("x-robots", fmtInt(tot.robots_fetched));

    /* hosts, in the server's order (busiest first) */
    var hosts = arr(t.hosts).filter(isObj);
    var hi = 0;
    syncRows($("t-hosts"), hosts, function (h) { return "h" + (str(h.host) || "#" + (hi++)); }, buildHostRow, fillHostRow);
    $("t-hosts-empty").hidden = hosts.length > 0;

    /* sources */
    var sources = arr(t.sources).filter(isObj);
    var si = 0;
    syncRows($("t-sources"), sources, function (s) { return "s" + (str(s.name) || "#" + (si++)); }, buildSourceRow, fillSourceRow);
    $("t-sources-empty").hidden = sources.length > 0;
  }

  /* Keyed rows: a row is built once per key and only its changed cells are
   * rewritten, so a button under the pointer is never replaced mid-click. */
  function syncRows(tbody, items, keyOf, build, fill) {
    var map = tbody._rows || (tbody._rows = new Map());
    var want = [], keys = new Set();
    items.forEach(function (it) {
      var key = keyOf(it);
      if (keys.has(key)) return; /* a duplicate key: show the first */
      keys.add(key);
      var tr = map.get(key);
      if (!tr) { tr = build(it); map.set(key, tr); }
      fill(tr, it);
      want.push(tr);
    });
    map.forEach(function (tr, key) { if (!keys.has(key)) { map.delete(key); if (tr.parentNode === tbody) tbody.removeChild(tr); } });
    for (var i = 0; i < want.length; i++) {
      if (tbody.children[i] !== want[i]) tbody.insertBefore(want[i], tbody.children[i] || null);
    }
  }

  function buildShareRow(r) {
    var tr = el("tr");
    tr._c = { label: el("td", r.wrap ? "mono code" : "mono nowrap", r.label), n: el("td", "num"), share: el("td", "share") };
    var wrap = el("div", "sharebar"), bar = el("div", "bar " + r.cls), fillSpan = el("span"), pct = el("span", "pct");
    bar.appendChild(fillSpan); wrap.appendChild(bar); wrap.appendChild(pct);
    tr._c.share.appendChild(wrap);
    tr._c.fill = fillSpan; tr._c.pct = pct;
    tr.appendChild(tr._c.label); tr.appendChild(tr._c.n); tr.appendChild(tr._c.share);
    return tr;
  }
  function fillShareRow(tr, r, total) {
    var c = tr._c;
    setText(c.n, fmtInt(r.n));
    setClass(c.n, r.n === 0 ? "num zero" : "num");
    setWidth(c.fill, total > 0 ? r.n / total : 0);
    setText(c.pct, fmtPct(r.n, total));
  }

  function buildHostRow() {
    var tr = el("tr");
    tr._c = { host: el("td", "host mono"), inflight: el("td", "num"), queued: el("td", "num"),
              done: el("td", "num"), failed: el("td", "num"), breaker: el("td") };
    tr._c.brk = el("span", "breaker");
    tr._c.breaker.appendChild(tr._c.brk);
    ["host", "inflight", "queued", "done", "failed", "breaker"].forEach(function (k) { tr.appendChild(tr._c[k]); });
    return tr;
  }
  function fillHostRow(tr, h) {
    var c = tr._c, host = str(h.host);
    setText(c.host, host);
    if (c.host.title !== host) c.host.title = host;
    ["inflight", "queued", "done"].forEach(function (k) {
      setText(c[k], fmtInt(h[k]));
      setClass(c[k], num(h[k]) === 0 ? "num zero" : "num");
    });
    setText(c.failed, fmtInt(h.failed));
    setClass(c.failed, num(h.failed) > 0 ? "num bad" : "num zero");
    var b = str(h.breaker) || "unknown";
    setText(c.brk, b);
    var bs = slug(b);
    if (bs === "half" || bs === "halfopen" || bs === "half-opened") bs = "half-open";
    setClass(c.brk, "breaker breaker-" + (bs === "closed" || bs === "open" || bs === "half-open" ? bs : "unknown"));
  }

  function buildSourceRow(s) {
    var tr = el("tr");
    var name = str(s.name);
    tr._name = name;
    tr._c = { name: el("td", "mono"), kind: el("td", "nowrap"), state: el("td"), err: el("td", "err"), values: el("td"), actions: el("td", "actions") };
    tr._c.badge = el("span", "badge");
    tr._c.state.appendChild(tr._c.badge);
    tr._c.vals = el("div", "values");
    tr._c.values.appendChild(tr._c.vals);
    tr._c.stop = el("button", "btn btn-sm btn-danger", "Stop");
    tr._c.start = el("button", "btn btn-sm", "Start");
    tr._c.stop.type = "button"; tr._c.start.type = "button";
    tr._c.stop.setAttribute("aria-label", "Stop source " + name);
    tr._c.start.setAttribute("aria-label", "Start source " + name);
    tr._c.stop.addEventListener("click", function () { sourceAction(name, "stop", tr._c.stop); });
    tr._c.start.addEventListener("click", function () { sourceAction(name, "start", tr._c.start); });
    tr._c.actions.appendChild(tr._c.stop);
    tr._c.actions.appendChild(tr._c.start);
    ["name", "kind", "state", "err", "values", "actions"].forEach(function (k) { tr.appendChild(tr._c[k]); });
    return tr;
  }
  function fillSourceRow(tr, s) {
    var c = tr._c, name = tr._name, kind = str(s.kind), state = str(s.state) || "unknown";
    setText(c.name, name || "—");
    setText(c.kind, kind || "—");
    setText(c.badge, state);
    setClass(c.badge, "badge badge-" + slug(state));
    var err = str(s.last_error);
    setText(c.err, err || "—");
    setClass(c.err, err ? "err" : "err none");

    var values = obj(s.values), sig = "";
    try { sig = JSON.stringify(values); } catch (e) { sig = ""; }
    if (c.vals._sig !== sig) {
      c.vals._sig = sig;
      while (c.vals.firstChild) c.vals.removeChild(c.vals.firstChild);
      var keys = Object.keys(values);
      if (keys.length === 0) c.vals.appendChild(el("span", "muted", "—"));
      keys.forEach(function (k) {
        var v = values[k];
        var chip = el("span", "kv");
        chip.appendChild(el("span", "k", k + ": "));
        chip.appendChild(el("span", "v", typeof v === "number" ? fmtValue(v) : str(v)));
        c.vals.appendChild(chip);
      });
    }

    /* Stop: while it runs (or is down, failing); Start: when stopped, and
     * never for the job itself (a fetch or crawl refuses it with 409). */
    var isJob = name === "job" || kind === "fetch" || kind === "crawl";
    var jobState = str(obj(last && last.job).state);
    var canStop = (state === "running" || state === "down") && !stopping[name] &&
                  !(isJob && jobState && jobState !== "running");
    var canStart = state === "stopped" && !isJob && !stopping[name];
    if (c.stop.disabled === canStop) c.stop.disabled = !canStop;
    if (c.start.disabled === canStart) c.start.disabled = !canStart;
  }
  function fmtValue(v) { return Math.round(v) === v ? nf0.format(v) : String(v); }

  /* ---- actions ------------------------------------------------------- */

  function post(path) {
    return fetch(path, { method: "POST", credentials: "same-origin", headers: { "Accept": "application/json, text/plain" } })
      .then(function (r) {
        return r.text().then(function (body) { return { ok: r.ok, status: r.status, statusText: r.statusText, body: body }; });
      });
  }
  /* A one-line summary of a response body: its "error"/"message"/"state"
   * if it is JSON, else its text, cut short. */
  function describe(res) {
    var text = (res.body || "").trim(), detail = text;
    try {
      var j = JSON.parse(text);
      if (j && typeof j === "object") {
        detail = str(j.error || j.message || j.reason || j.state || "") || text;
      } else if (typeof j === "string") detail = j;
    } catch (e) { /* not JSON */ }
    if (detail.length > 200) detail = detail.slice(0, 200) + "…";
    return res.status + " " + (res.statusText || "") + (detail ? " — " + detail : "");
  }
  function showMsg(id, text, kind) {
    var m = $(id);
    setText(m, text);
    m.className = "action-msg" + (kind ? " is-" + kind : "");
    m.hidden = false;
    clearTimeout(m._timer);
    m._timer = setTimeout(function () { m.hidden = true; }, 15000);
  }

  function sourceAction(name, action, btn) {
    if (!name) return;
    var msgId = name === "job" && btn === $("job-stop") ? "job-stop-msg" : "src-msg";
    stopping[name] = true;
    btn.disabled = true;
    showMsg(msgId, (action === "stop" ? "Stopping " : "Starting ") + name + "…", "");
    post("/api/sources/" + encodeURIComponent(name) + "/" + action)
      .then(function (res) {
        showMsg(msgId, action + " " + name + ": " + describe(res), res.ok ? "ok" : "error");
      }, function (err) {
        showMsg(msgId, action + " " + name + ": request failed — " + str(err && err.message), "error");
      })
      .then(function () {
        delete stopping[name];
        /* the next tick decides whether the buttons come back */
        dirtySlow = true;
        if (last) { renderFast(); renderTables(); }
      });
  }

  $("job-stop").addEventListener("click", function () { sourceAction("job", "stop", $("job-stop")); });

  /* ---- charts -------------------------------------------------------- */

  var charts = null;

  function cssVar(name, fallback) {
    var v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return v || fallback;
  }
  function alpha(color, a) {
    /* #rrggbb -> rgba(); anything else is returned as is */
    var m = /^#([0-9a-f]{6})$/i.exec(color);
    if (!m) return color;
    var n = parseInt(m[1], 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + a + ")";
  }

  function makeChart(canvasId, datasets, yFormat, legend) {
    var canvas = $(canvasId);
    return new window.Chart(canvas.getContext("2d"), {
      type: "line",
      data: { datasets: datasets.map(function (d) {
        return { label: d.label, data: [], _var: d.color, borderWidth: 1.6, pointRadius: 0, pointHoverRadius: 3,
                 tension: 0.25, fill: !!d.fill, spanGaps: false };
      }) },
      options: {
        animation: false,
        parsing: false,
        normalized: true,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        layout: { padding: { top: 4, right: 4 } },
        scales: {
          x: {
            type: "linear", min: -WINDOW_S, max: 0,
            grid: { display: false, drawBorder: false },
            ticks: { stepSize: 30, maxRotation: 0, callback: function (v) { return v === 0 ? "now" : "\u2212" + (v / 60 === Math.round(v / 60) ? -v / 60 + " min" : -v + " s"); } }
          },
          y: {
            beginAtZero: true,
            grace: "8%",
            grid: { drawBorder: false },
            ticks: { maxTicksLimit: 5, callback: function (v) { return fmtCompact(v); } }
          }
        },
        plugins: {
          legend: { display: !!legend, position: "top", align: "end",
                    labels: { boxWidth: 10, boxHeight: 2, padding: 10, font: { size: 11 } } },
          tooltip: {
            callbacks: {
              title: function (items) {
                var x = items.length ? items[0].parsed.x : 0;
                return x >= -0.25 ? "now" : nf1.format(-x) + " s ago";
              },
              label: function (item) { return " " + item.dataset.label + ": " + yFormat(item.parsed.y); }
            }
          },
          decimation: { enabled: false }
        }
      }
    });
  }

  function applyTheme() {
    if (!charts) return;
    var grid = cssVar("--chart-grid", "rgba(128,128,128,0.12)"), text = cssVar("--chart-text", "#888");
    charts.all.forEach(function (ch) {
      ch.data.datasets.forEach(function (ds) {
        var c = cssVar(ds._var, "#888");
        ds.borderColor = c;
        ds.backgroundColor = ds.fill ? alpha(c, 0.12) : c;
      });
      ["x", "y"].forEach(function (ax) {
        var s = ch.options.scales[ax];
        s.ticks.color = text;
        s.grid.color = grid;
      });
      ch.options.plugins.legend.labels.color = text;
      ch.update("none");
    });
  }

  function initCharts() {
    if (typeof window.Chart !== "function") {
      ["ch-throughput", "ch-latency", "ch-errors"].forEach(function (id) {
        var box = $(id).parentNode;
        box.removeChild($(id));
        box.appendChild(el("div", "chart-missing", "Charts unavailable (/vendor/chart.min.js did not load)."));
      });
      return;
    }
    var C = window.Chart;
    C.defaults.font.family = getComputedStyle(document.body).fontFamily;
    C.defaults.font.size = 11;
    var fmtR = function (v) { return fmtRate(v) + "/s"; };
    charts = {
      throughput: makeChart("ch-throughput", [{ label: "pages/s", color: "--chart-throughput", fill: true }], fmtR, false),
      latency: makeChart("ch-latency", [
        { label: "p50", color: "--chart-p50" }, { label: "p95", color: "--chart-p95" }, { label: "p99", color: "--chart-p99" }
      ], fmtMs, true),
      errors: makeChart("ch-errors", [{ label: "errors/s", color: "--chart-errors", fill: true }], fmtR, false)
    };
    charts.all = [charts.throughput, charts.latency, charts.errors];
    applyTheme();
    if (window.matchMedia) {
      var mq = window.matchMedia("(prefers-color-scheme: dark)");
      var onChange = function () { applyTheme(); };
      if (mq.addEventListener) mq.addEventListener("change", onChange);
      else if (mq.addListener) mq.addListener(onChange);
    }
  }

  /* The ring, one point per tick, down to one point per BUCKET_S: rates
   * are averaged over a bucket, latency percentiles take the bucket's
   * worst. x is seconds before the newest tick; a hole in the ticks (a
   * reconnect) becomes a break in the lines. */
  function decimate() {
    var out = { pages: [], errors: [], p50: [], p95: [], p99: [] };
    if (ring.length === 0) return out;
    var now = ring[ring.length - 1].t, from = now - WINDOW_S;
    var b = null, prevT = null;
    function flush() {
      if (!b) return;
      var x = Math.min(0, b.t - now);
      out.pages.push({ x: x, y: b.pages / b.n });
      out.errors.push({ x: x, y: b.errors / b.n });
      out.p50.push({ x: x, y: b.p50 });
      out.p95.push({ x: x, y: b.p95 });
      out.p99.push({ x: x, y: b.p99 });
    }
    function gap(x) {
      ["pages", "errors", "p50", "p95", "p99"].forEach(function (k) { out[k].push({ x: x, y: null }); });
    }
    for (var i = 0; i < ring.length; i++) {
      var p = ring[i];
      if (p.t < from) continue;
      var id = Math.floor(p.t / BUCKET_S);
      if (prevT !== null && p.t - prevT > GAP_S) { flush(); b = null; gap((prevT + p.t) / 2 - now); }
      if (!b || b.id !== id) {
        flush();
        b = { id: id, n: 0, t: p.t, pages: 0, errors: 0, p50: 0, p95: 0, p99: 0 };
      }
      b.n++; b.t = p.t;
      b.pages += p.pages; b.errors += p.errors;
      if (p.p50 > b.p50) b.p50 = p.p50;
      if (p.p95 > b.p95) b.p95 = p.p95;
      if (p.p99 > b.p99) b.p99 = p.p99;
      prevT = p.t;
    }
    flush();
    return out;
  }

  function renderCharts() {
    if (!charts) return;
    var d = decimate();
    charts.throughput.data.datasets[0].data = d.pages;
    charts.latency.data.datasets[0].data = d.p50;
    charts.latency.data.datasets[1].data = d.p95;
    charts.latency.data.datasets[2].data = d.p99;
    charts.errors.data.datasets[0].data = d.errors;
    charts.all.forEach(function (ch) { ch.update("none"); });
  }

  setInterval(function () {
    if (!dirtySlow) return;
    dirtySlow = false;
    try { renderTables(); } catch (e) { if (window.console) console.error("spate dashboard: tables", e); }
    try { renderCharts(); } catch (e) { if (window.console) console.error("spate dashboard: charts", e); }
  }, CHART_EVERY_MS);

  /* ---- connection ---------------------------------------------------- */

  /* Transports are tried in turn, WebSocket first, then Server-Sent
   * Events; when both have failed, wait (1 s, doubling, at most 10 s) and
   * start over. The state shown: connecting (first attempt), live (a
   * stream is open), reconnecting, ended (the job is done or failed; if
   * the stream is lost then, the page still tries now and then, at most
   * every 10 s, in case a new run starts). */
  var conn = { sock: null, es: null, open: "" /* the transport delivering, or "" */, backoff: BACKOFF_MIN_MS, timer: null, everLive: false, gen: 0,
               heard: 0 /* when the open stream last delivered a message (ms) */ };
  var STALL_MS = 5000;

  /* A job that runs ticks 10 times per second: an open stream silent for
   * STALL_MS while the job runs has stalled (a proxy, a suspended laptop):
   * drop it and reconnect. After the end nothing more is sent, rightly. */
  setInterval(function () {
    if (!conn.sock && !conn.es) return;
    var st = last ? str(obj(last.job).state) : "";
    if (!conn.heard || (st !== "running" && st !== "stopping")) return;
    if (Date.now() - conn.heard > STALL_MS) {
      closeAll();
      setTextId("f-transport", "—");
      retryLater("stalled");
    }
  }, 1000);

  function setConn(state, detail) {
    var box = $("conn");
    setClass(box, "conn conn-" + state);
    setText($("conn-text"), detail ? state + " · " + detail : state);
  }
  function jobEnded() { return !!(last && isTerminal(str(obj(last.job).state))); }

  /* The job's end ends the live view, whether or not the server keeps
   * the stream open; a new run on the same stream makes it live again. */
  function onJobState(state) {
    if (isTerminal(state)) { if (!/conn-ended/.test($("conn").className)) setConn("ended"); }
    else if (conn.open && /conn-ended/.test($("conn").className)) showLive();
  }
  function showLive() { setConn("live", conn.open === "WebSocket" ? "" : "SSE"); }

  function closeAll() {
    conn.gen++;
    conn.heard = 0;
    conn.open = "";
    if (conn.sock) { var s = conn.sock; conn.sock = null; s.onopen = s.onmessage = s.onclose = s.onerror = null; try { s.close(); } catch (e) {} }
    if (conn.es) { var es = conn.es; conn.es = null; es.onopen = es.onmessage = es.onerror = null; try { es.close(); } catch (e) {} }
  }

  function heardNow() {
    conn.heard = Date.now();
    conn.backoff = BACKOFF_MIN_MS; /* the stream works: the next drop retries soon */
  }

  function gotLive(transport) {
    conn.heard = Date.now();
    conn.everLive = true;
    conn.open = transport;
    setTextId("f-transport", transport);
    if (jobEnded()) setConn("ended"); else showLive();
    /* a run that has ended broadcasts nothing more: fetch its last tick */
    refreshStats();
  }

  /* step 0: WebSocket; step 1: SSE; then back off */
  function connect(step) {
    closeAll();
    clearTimeout(conn.timer);
    var gen = conn.gen;
    if (step === 0 && "WebSocket" in window) {
      var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
      var sock;
      try { sock = new WebSocket(url); } catch (e) { connect(1); return; }
      conn.sock = sock;
      var opened = false;
      sock.onopen = function () { if (gen !== conn.gen) return; opened = true; gotLive("WebSocket"); };
      sock.onmessage = function (ev) { if (gen !== conn.gen) return; heardNow(); if (typeof ev.data === "string") onMessage(ev.data); };
      sock.onerror = function () { /* onclose follows */ };
      sock.onclose = function () {
        if (gen !== conn.gen) return;
        conn.sock = null;
        /* a socket that never opened: try SSE now; one that dropped:
         * SSE too (the stream may have been cut by a proxy) */
        dropped(opened);
        connect(1);
      };
      return;
    }
    if (step <= 1 && "EventSource" in window) {
      var es;
      try { es = new EventSource("/events"); } catch (e) { retryLater(); return; }
      conn.es = es;
      var esOpened = false;
      es.onopen = function () { if (gen !== conn.gen) return; esOpened = true; gotLive("SSE"); };
      es.onmessage = function (ev) { if (gen !== conn.gen) return; heardNow(); onMessage(ev.data); };
      var end = function () {
        if (gen !== conn.gen) return;
        /* no automatic reconnects by EventSource: our own backoff rules */
        closeAll();
        dropped(esOpened);
        retryLater();
      };
      es.onerror = end;
      es.addEventListener("close", end); /* the server's "event: close" (too slow) */
      return;
    }
    retryLater();
  }

  function dropped(wasOpen) {
    if (wasOpen) setTextId("f-transport", "—");
  }

  function retryLater(why) {
    var wait = conn.backoff;
    conn.backoff = Math.min(BACKOFF_MAX_MS, conn.backoff * 2);
    if (jobEnded()) setConn("ended");
    else setConn(conn.everLive ? "reconnecting" : "connecting", (why ? why + ", " : "") + "retry in " + Math.round(wait / 1000) + " s");
    clearTimeout(conn.timer);
    conn.timer = setTimeout(function () { connect(0); }, wait);
    /* the stream is down, but /api/stats may still answer */
    refreshStats();
  }

  function refreshStats() {
    if (!window.fetch) return;
    fetch("/api/stats", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) { if (text) onMessage(text); })
      .catch(function () {});
  }

  /* ---- start --------------------------------------------------------- */

  try { initCharts(); } catch (e) { charts = null; if (window.console) console.error("spate dashboard: charts", e); }
  setConn("connecting");
  refreshStats();
  connect(0);
  window.addEventListener("pagehide", function () { closeAll(); clearTimeout(conn.timer); });
  window.addEventListener("pageshow", function (ev) { if (ev.persisted) connect(0); });
})();
