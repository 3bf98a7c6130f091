// Leaderboard table: filter (re-aggregating the chosen cells), sort, keep the state in the URL.
// No dependencies; works from file://. Data comes from <script type="application/json" id="lb-data">
// and is only ever written with textContent.
(function () {
  "use strict";
  var el = document.getElementById("lb-data");
  if (!el) return;
  var data = JSON.parse(el.textContent);
  var table = document.getElementById("board");
  var tbody = table.tBodies[0];
  var refBody = document.getElementById("refs");
  var FILTERS = ["pool", "budget", "benchmark", "track", "api", "verified"];
  var sortKey = "headline", sortDir = -1;
  var byRank = {};
  data.selectors.forEach(function (s) { byRank[s.slug] = s; });

  // enough decimals that a non-zero number never reads as zero (2 significant digits, at least 2 decimals)
  function decimals(x) { return x === 0 ? 2 : Math.min(8, Math.max(2, 1 - Math.floor(Math.log10(Math.abs(x))))); }
  function fmt(x) {
    if (x === null || x === undefined || !isFinite(x)) return "–";
    if (x === 0) return "0";
    return (x > 0 ? "+" : "") + x.toFixed(decimals(x));
  }
  function num(x) { return x === null || x === undefined || !isFinite(x) ? "–" : x === 0 ? "0" : x.toFixed(decimals(x)); }
  function pct(x) { return x === null || x === undefined || !isFinite(x) ? "–" : x === 0 ? "0%" : (100 * x).toFixed(decimals(100 * x)) + "%"; }
  function usd(x) {
    if (x === null || x === undefined || !isFinite(x)) return "–";
    if (x >= 100) return "$" + Math.round(x).toLocaleString("en-US");
    if (x >= 0.01) return "$" + x.toFixed(2);
    return x > 0 ? "$" + x.toFixed(decimals(x)) : "$0";
  }
  function td(text, cls) { var c = document.createElement("td"); c.textContent = text; if (cls) c.className = cls; return c; }
  function val(id) { return document.getElementById("filter-" + id).value; }
  function cellOk(c, f) {
    return (!f.pool || c[1] === f.pool) && (!f.budget || String(c[2]) === f.budget) && (!f.benchmark || c[3] === f.benchmark);
  }

  function aggregate() {
    var f = { pool: val("pool"), budget: val("budget"), benchmark: val("benchmark") };
    var cellFilter = !!(f.pool || f.budget || f.benchmark);
    var track = val("track"), api = val("api"), verified = val("verified");
    var acc = {};
    data.cells.forEach(function (c) {
      if (!cellOk(c, f)) return;
      var a = acc[c[0]] || (acc[c[0]] = { n: 0, h: 0, hv: 0, hn: 0, w: 0, t: 0, l: 0, sel: 0, gpu: 0, share: 0, sharen: 0 });
      a.n++; a.sel += c[7]; a.gpu += c[8];
      if (c[9] !== null) { a.share += c[9]; a.sharen++; }
      if (c[4] !== null) { a.h += c[4]; a.hn++; a.hv += (c[5] || 0) * (c[5] || 0); }
      if (c[6] === "w") a.w++; else if (c[6] === "l") a.l++; else a.t++;
    });
    var rows = [];
    data.selectors.forEach(function (s) {
      var a = acc[s.slug];
      if (!a) return;
      if (track && s.track !== track) return;
      var ext = s.uses_api || s.uses_external_model;
      if (api === "yes" && !ext) return;
      if (api === "no" && ext) return;
      if (verified === "yes" && s.status !== "verified") return;
      var h, lo, hi, mde;
      if (!cellFilter) { h = s.headline; lo = s.headline_ci_low; hi = s.headline_ci_high; mde = s.headline_mde; }
      else if (a.hn) {
        var se = Math.sqrt(a.hv) / a.hn;
        h = a.h / a.hn; lo = h - 1.96 * se; hi = h + 1.96 * se; mde = 2.8 * se;
      } else { h = null; lo = null; hi = null; mde = null; }
      var gpu = a.gpu / a.n;
      rows.push({ s: s, rank: cellFilter ? null : s.rank + (s.partial ? 1e6 : 0), name: s.name, status: s.status, track: s.track,
        headline: h === null ? -Infinity : h, hshown: h, ci: lo === null ? -Infinity : lo, lo: lo, hi: hi, mde: mde === null ? Infinity : mde, mdeShown: mde,
        wtl: (a.w - a.l) / a.n, w: a.w, t: a.t, l: a.l, runs: s.selector_runs_min, gpu_h: gpu, selection_usd: a.sel / a.n,
        share: a.sharen ? a.share / a.sharen : null, per_gpu_h: (lo !== null && lo > 0 && gpu > 0) ? h / gpu : null });
    });
    var refs = {};
    data.references.forEach(function (r) {
      if (!cellOk(r, f) || r[4] === null) return;
      var a = refs[r[0]] || (refs[r[0]] = { n: 0, gain: 0 });
      a.n++; a.gain += r[4];
    });
    return { rows: rows, refs: refs, cellFilter: cellFilter };
  }

  function writeState() {
    var parts = [];
    FILTERS.forEach(function (k) { var v = val(k); if (v) parts.push(k + "=" + encodeURIComponent(v)); });
    if (sortKey !== "headline" || sortDir !== -1) parts.push("sort=" + encodeURIComponent(sortKey) + "&dir=" + sortDir);
    var hash = parts.length ? "#" + parts.join("&") : "";
    if (window.location.hash !== hash) {
      try { history.replaceState(null, "", hash || window.location.pathname); } catch (e) { window.location.hash = hash; }
    }
  }

  function readState() {
    var h = window.location.hash.replace(/^#/, "");
    if (!h) return;
    h.split("&").forEach(function (kv) {
      var i = kv.indexOf("="), k = kv.slice(0, i), v = decodeURIComponent(kv.slice(i + 1));
      if (FILTERS.indexOf(k) >= 0) {
        var s = document.getElementById("filter-" + k);
        if (Array.prototype.some.call(s.options, function (o) { return o.value === v; })) s.value = v;
      } else if (k === "sort") sortKey = v;
      else if (k === "dir") sortDir = v === "1" ? 1 : -1;
    });
  }

  function render() {
    var agg = aggregate(), rows = agg.rows;
    rows.sort(function (a, b) {
      var x = a[sortKey], y = b[sortKey];
      if (typeof x === "string") return sortDir * x.localeCompare(y);
      if (x === null || x === undefined) x = sortDir < 0 ? -Infinity : Infinity;
      if (y === null || y === undefined) y = sortDir < 0 ? -Infinity : Infinity;
      return sortDir * ((x > y) - (x < y)) || a.name.localeCompare(b.name);
    });
    var frag = document.createDocumentFragment();
    rows.forEach(function (r) {
      var tr = document.createElement("tr");
      tr.dataset.slug = r.s.slug;
      var rank = td(agg.cellFilter ? "–" : (r.s.partial ? "p" : "") + String(r.s.rank) + " ");
      if (!agg.cellFilter) {
        var span = document.createElement("span"); span.className = "muted";
        span.textContent = "(" + r.s.rank_low + "–" + r.s.rank_high + ")"; rank.appendChild(span);
      }
      tr.appendChild(rank);
      var name = document.createElement("td"), a = document.createElement("a");
      a.href = "selectors/" + encodeURIComponent(r.s.slug) + ".html"; a.textContent = r.name; name.appendChild(a);
      if (r.s.partial) {
        var p = document.createElement("span"); p.className = "badge partial"; p.title = r.s.partial_reason; p.textContent = "partial";
        name.appendChild(document.createTextNode(" ")); name.appendChild(p);
      }
      tr.appendChild(name);
      var st = document.createElement("td"), badge = document.createElement("span");
      badge.className = "badge " + (r.status === "verified" ? "verified" : "community"); badge.textContent = r.status; st.appendChild(badge);
      tr.appendChild(st);
      var hd = td("", "num"), b = document.createElement("b"); b.textContent = fmt(r.hshown); hd.appendChild(b);
      tr.appendChild(hd);
      tr.appendChild(td(r.lo === null ? "–" : "[" + fmt(r.lo) + ", " + fmt(r.hi) + "]", "num"));
      tr.appendChild(td(num(r.mdeShown), "num"));
      tr.appendChild(td(r.w + " / " + r.t + " / " + r.l));
      tr.appendChild(td(String(r.runs), "num"));
      tr.appendChild(td(num(r.gpu_h), "num"));
      tr.appendChild(td(usd(r.selection_usd), "num"));
      var sh = td(pct(r.share), "num");
      if (r.s.break_even) { var f = document.createElement("span"); f.className = "flag"; f.textContent = " break-even"; sh.appendChild(f); }
      tr.appendChild(sh);
      tr.appendChild(td(num(r.per_gpu_h), "num"));
      tr.appendChild(td(r.track));
      frag.appendChild(tr);
    });
    tbody.replaceChildren(frag);
    var rfrag = document.createDocumentFragment();
    Object.keys(agg.refs).sort().forEach(function (k) {
      var a = agg.refs[k], tr = document.createElement("tr");
      tr.className = "ref";
      ["ref", k + " (reference)", ""].forEach(function (t) { tr.appendChild(td(t)); });
      tr.appendChild(td(fmt(a.gain / a.n), "num"));
      for (var i = 0; i < 9; i++) tr.appendChild(td(""));
      rfrag.appendChild(tr);
    });
    refBody.replaceChildren(rfrag);
    document.getElementById("shown").textContent = rows.length + " of " + data.selectors.length + " selectors";
    document.getElementById("empty").hidden = rows.length > 0;
    document.getElementById("rank-note").hidden = !agg.cellFilter;
    plot(rows);
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      if (th.dataset.key === sortKey) th.setAttribute("aria-sort", sortDir < 0 ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
    });
    writeState();
  }

  // the cost-vs-gain plot follows the filters: hide filtered-out dots, move dots to the filtered headline,
  // redraw the Pareto frontier through the dots shown
  function plot(rows) {
    var ax = data.plot, svg = document.getElementById("cost-gain");
    if (!ax || !svg) return;
    var byslug = {};
    rows.forEach(function (r) { byslug[r.s.slug] = r; });
    function sy(v) {
      var c = Math.max(ax.ylo, Math.min(ax.yhi, v));
      return ax.top + (ax.yhi - c) / (ax.yhi - ax.ylo) * (ax.bottom - ax.top);
    }
    var pts = [];
    svg.querySelectorAll("a[data-slug]").forEach(function (a) {
      var r = byslug[a.getAttribute("data-slug")], c = a.querySelector("circle");
      if (!r || r.hshown === null) { a.style.display = "none"; return; }
      a.style.display = "";
      c.setAttribute("cy", sy(r.hshown).toFixed(1));
      pts.push({ x: parseFloat(c.getAttribute("cx")), y: sy(r.hshown), slug: a.getAttribute("data-slug"), c: c });
    });
    pts.sort(function (p, q) { return p.x - q.x || p.y - q.y; });
    var best = Infinity, front = {}, line = [];
    pts.forEach(function (p) { if (p.y < best) { best = p.y; front[p.slug] = true; line.push(p.x.toFixed(1) + "," + p.y.toFixed(1)); } });
    pts.forEach(function (p) { p.c.setAttribute("class", front[p.slug] ? "pt front-pt" : "pt"); });
    var poly = svg.querySelector("polyline.front");
    if (poly) poly.setAttribute("points", line.join(" "));
    svg.querySelectorAll("text.frontlabel").forEach(function (t) {
      var slug = t.getAttribute("data-slug"), p = pts.filter(function (q) { return q.slug === slug; })[0];
      if (!p || !front[slug]) { t.style.display = "none"; return; }
      t.style.display = ""; t.setAttribute("y", (p.y - 8).toFixed(1));
    });
  }

  function sortBy(th) {
    var key = th.dataset.key;
    if (key === sortKey) sortDir = -sortDir;
    else { sortKey = key; sortDir = (key === "name" || key === "rank" || key === "status" || key === "track" || key === "mde") ? 1 : -1; }
    render();
  }
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
    th.addEventListener("click", function () { sortBy(th); });
    th.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(th); }
    });
  });
  document.querySelectorAll("select[data-filter]").forEach(function (s) { s.addEventListener("change", render); });
  readState();
  render();
})();
