// Leaderboard table: filter (re-aggregating the chosen cells) and sort. No dependencies; works from file://.
// Data comes from <script type="application/json" id="lb-data"> and is only ever written with textContent.
(function () {
  "use strict";
  var el = document.getElementById("lb-data");
  if (!el) return;
  var data = JSON.parse(el.textContent);
  var table = document.getElementById("board");
  var tbody = table.tBodies[0];
  var refBody = document.getElementById("refs");
  var sortKey = "cost_adjusted_gain", sortDir = -1;

  function val(id) { return document.getElementById(id).value; }
  function fmt(x) { return x === null || !isFinite(x) ? "–" : (x >= 0 ? "+" : "") + x.toFixed(3); }
  function usd(x) {
    if (x === null || !isFinite(x)) return "–";
    if (x >= 100) return "$" + Math.round(x).toLocaleString("en-US");
    if (x >= 0.01) return "$" + x.toFixed(2);
    return x > 0 ? "$" + x.toPrecision(2) : "$0";
  }
  function td(text, cls) { var c = document.createElement("td"); c.textContent = text; if (cls) c.className = cls; return c; }
  function cellOk(c, f) {
    return (!f.pool || c[1] === f.pool) && (!f.budget || String(c[2]) === f.budget) && (!f.benchmark || c[3] === f.benchmark);
  }

  function aggregate() {
    var f = { pool: val("filter-pool"), budget: val("filter-budget"), benchmark: val("filter-benchmark") };
    var track = val("filter-track"), api = val("filter-api");
    var acc = {};
    data.cells.forEach(function (c) {
      if (!cellOk(c, f)) return;
      var a = acc[c[0]] || (acc[c[0]] = { n: 0, w: 0, t: 0, l: 0, gain: 0, sel: 0, ft: 0 });
      a.n++; a.gain += c[4]; a.sel += c[6]; a.ft += c[7];
      if (c[5] === "w") a.w++; else if (c[5] === "l") a.l++; else a.t++;
    });
    var rows = [];
    data.selectors.forEach(function (s) {
      var a = acc[s.slug];
      if (!a) return;
      if (track && s.track !== track) return;
      var ext = s.uses_api || s.uses_external_model;
      if (api === "yes" && !ext) return;
      if (api === "no" && ext) return;
      var gain = a.gain / a.n, sel = a.sel / a.n, ft = a.ft / a.n;
      rows.push({ s: s, rank: s.rank, name: s.name, status: s.status, track: s.track, wtl: (a.w - a.l) / a.n,
        w: a.w, t: a.t, l: a.l, mean_gain: gain, selection_usd: sel, finetune_usd: ft,
        cost_adjusted_gain: gain / (1 + sel / ft), break_even: s.break_even ? 1 : 0 });
    });
    var refs = {};
    data.references.forEach(function (r) {
      if (!cellOk(r, f)) return;
      var a = refs[r[0]] || (refs[r[0]] = { n: 0, gain: 0, ft: 0 });
      a.n++; a.gain += r[4]; a.ft += r[5] || 0;
    });
    return { rows: rows, refs: refs };
  }

  function render() {
    var agg = aggregate(), rows = agg.rows;
    rows.sort(function (a, b) {
      var x = a[sortKey], y = b[sortKey];
      if (typeof x === "string") return sortDir * x.localeCompare(y);
      return sortDir * (x - y) || a.name.localeCompare(b.name);
    });
    var frag = document.createDocumentFragment();
    rows.forEach(function (r) {
      var tr = document.createElement("tr");
      tr.dataset.slug = r.s.slug;
      var rank = td(String(r.s.rank) + " ");
      var span = document.createElement("span"); span.className = "muted";
      span.textContent = "(" + r.s.rank_low + "–" + r.s.rank_high + ")"; rank.appendChild(span);
      tr.appendChild(rank);
      var name = document.createElement("td"), a = document.createElement("a");
      a.href = "selectors/" + encodeURIComponent(r.s.slug) + ".html"; a.textContent = r.name; name.appendChild(a);
      tr.appendChild(name);
      var st = document.createElement("td"), badge = document.createElement("span");
      badge.className = "badge " + (r.status === "verified" ? "verified" : "community"); badge.textContent = r.status; st.appendChild(badge);
      tr.appendChild(st);
      tr.appendChild(td(r.track));
      tr.appendChild(td(r.w + " / " + r.t + " / " + r.l));
      tr.appendChild(td(fmt(r.mean_gain), "num"));
      tr.appendChild(td(usd(r.selection_usd), "num"));
      tr.appendChild(td(usd(r.finetune_usd), "num"));
      var cag = td("", "num"), b = document.createElement("b"); b.textContent = fmt(r.cost_adjusted_gain); cag.appendChild(b);
      tr.appendChild(cag);
      var be = td(r.break_even ? "yes" : "no"); if (r.break_even) be.className = "flag";
      tr.appendChild(be);
      frag.appendChild(tr);
    });
    tbody.replaceChildren(frag);
    var rfrag = document.createDocumentFragment();
    Object.keys(agg.refs).sort().forEach(function (k) {
      var a = agg.refs[k], g = a.gain / a.n, tr = document.createElement("tr");
      tr.className = "ref";
      [ "ref", k + " (reference)", "", "", "" ].forEach(function (t) { tr.appendChild(td(t)); });
      tr.appendChild(td(fmt(g), "num")); tr.appendChild(td("$0", "num")); tr.appendChild(td(usd(a.ft / a.n), "num"));
      tr.appendChild(td(fmt(g), "num")); tr.appendChild(td(""));
      rfrag.appendChild(tr);
    });
    var rnd = document.createElement("tr"); rnd.className = "ref";
    ["ref", "random (reference)", "", "", "", "+0.000", "$0", "", "+0.000", ""].forEach(function (t, i) { rnd.appendChild(td(t, i >= 5 && i <= 8 ? "num" : "")); });
    rfrag.appendChild(rnd);
    refBody.replaceChildren(rfrag);
    document.getElementById("shown").textContent = rows.length + " of " + data.selectors.length + " selectors";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      if (th.dataset.key === sortKey) th.setAttribute("aria-sort", sortDir < 0 ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
    });
  }

  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
    th.addEventListener("click", function () {
      var key = th.dataset.key;
      if (key === sortKey) sortDir = -sortDir;
      else { sortKey = key; sortDir = (key === "name" || key === "rank" || key === "status" || key === "track") ? 1 : -1; }
      render();
    });
  });
  document.querySelectorAll("select[data-filter]").forEach(function (s) { s.addEventListener("change", render); });
  render();
})();
