// Tarmac catalog: a small single-page app with no dependencies.
// Data comes from window.TARMAC_DATA and the chunks of assets/data/ (the
// static site written by `tarmac docs generate`) or from the server's /api
// (`tarmac docs serve`).
(function () {
  "use strict";

  // ---------- data ----------
  // The static site's data.js holds the index only; each page's details
  // are in assets/data/<k>.js, chunk k holding the nodes at index positions
  // k*chunk_size ... (k+1)*chunk_size-1. A chunk is a script, not a fetch,
  // so the site also works opened as a file; it is loaded when a page of
  // it is first opened, so opening the site never reads every node's data.
  var STATIC = window.TARMAC_DATA || null;
  var chunks = {};       // k -> Promise of {id: details}
  window.TARMAC_CHUNK = function (k, details) {
    var c = chunks[k];
    if (c && c.resolve) c.resolve(details);
  };
  function loadChunk(k) {
    if (chunks[k]) return chunks[k].promise;
    var entry = {};
    entry.promise = new Promise(function (resolve, reject) {
      entry.resolve = resolve;
      var s = document.createElement("script");
      s.src = "assets/data/" + k + ".js";
      s.onerror = function () {
        delete chunks[k];
        reject(new Error("could not load assets/data/" + k + ".js: run `tarmac docs generate` again"));
      };
      document.head.appendChild(s);
    });
    chunks[k] = entry;
    return entry.promise;
  }
  var Data = {
    index: function () {
      if (STATIC) return Promise.resolve(STATIC.index);
      return fetchJson("api/index");
    },
    node: function (id) {
      if (STATIC) {
        var missing = function () { return Promise.reject(new Error("no node '" + id + "' in the manifest")); };
        var i = BY_ID[id];
        if (i == null) return missing();
        return loadChunk(Math.floor(i / STATIC.chunk_size)).then(function (details) {
          return details[id] || missing();
        });
      }
      return fetchJson("api/node/" + encodeURIComponent(id));
    }
  };
  function fetchJson(url) {
    return fetch(url).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (!r.ok) throw new Error(body.error || ("HTTP " + r.status));
        return body;
      });
    });
  }

  var INDEX = null;      // the index document
  var BY_ID = {};        // id -> position
  var DOCS = [];         // search documents
  var nodeCache = {};

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function el(id) { return document.getElementById(id); }
  function href(id) { return "#/node/" + encodeURIComponent(id); }
  function lineageHref(id) { return "#/lineage/" + encodeURIComponent(id); }
  function fmtInt(n) { return n == null ? "—" : Number(n).toLocaleString("en-US"); }
  function badge(type) { return '<span class="badge ' + esc(type) + '">' + esc(type) + "</span>"; }
  function statusBadge(st) {
    var s = st || "not run";
    return '<span class="status ' + esc(s.replace(/\s+/g, "-")) + '">' + esc(s) + "</span>";
  }

  // ---------- search ----------
  // Each document: the node's name, type, path, tags, description, and its
  // columns with their descriptions. Scoring favours names, then columns,
  // then descriptions; every word of the query must match somewhere.
  function buildDocs(index) {
    return index.nodes.map(function (n, i) {
      return {
        i: i,
        name: n.name.toLowerCase(),
        desc: (n.desc || "").toLowerCase(),
        path: (n.path || "").toLowerCase(),
        tags: (n.tags || []).join(" ").toLowerCase(),
        type: n.type,
        cols: (n.cols || []).map(function (c) { return [String(c[0]).toLowerCase(), String(c[1] || "").toLowerCase()]; })
      };
    });
  }
  function scoreWord(d, w) {
    var best = 0, why = null;
    if (d.name === w) { best = 100; why = ["name"]; }
    else if (d.name.indexOf(w) === 0) { best = 70; why = ["name"]; }
    else if (d.name.indexOf(w) >= 0) { best = 50; why = ["name"]; }
    for (var k = 0; k < d.cols.length && best < 40; k++) {
      var c = d.cols[k];
      if (c[0] === w) { best = 40; why = ["column", k]; }
      else if (c[0].indexOf(w) >= 0 && best < 30) { best = 30; why = ["column", k]; }
    }
    if (best < 20 && (d.tags.indexOf(w) >= 0 || d.type === w)) { best = 20; why = ["tag"]; }
    if (best < 15 && d.desc.indexOf(w) >= 0) { best = 15; why = ["description"]; }
    if (best < 10 && d.path.indexOf(w) >= 0) { best = 10; why = ["path"]; }
    for (var j = 0; j < d.cols.length && best < 8; j++) {
      if (d.cols[j][1].indexOf(w) >= 0) { best = 8; why = ["column description", j]; }
    }
    return [best, why];
  }
  function search(q) {
    var words = q.toLowerCase().split(/\s+/).filter(Boolean);
    if (!words.length) return [];
    var out = [];
    for (var i = 0; i < DOCS.length; i++) {
      var d = DOCS[i], total = 0, why = null, ok = true;
      for (var k = 0; k < words.length; k++) {
        var r = scoreWord(d, words[k]);
        if (!r[0]) { ok = false; break; }
        total += r[0];
        if (!why || r[0] < 50) why = why && why[0] === "name" ? r[1] : (why || r[1]);
      }
      if (ok) out.push({ i: d.i, score: total, why: why });
    }
    out.sort(function (a, b) {
      return b.score - a.score || INDEX.nodes[a.i].name.localeCompare(INDEX.nodes[b.i].name);
    });
    return out;
  }
  function mark(text, q) {
    var t = esc(text);
    q.toLowerCase().split(/\s+/).filter(Boolean).forEach(function (w) {
      var re = new RegExp("(" + esc(w).replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + ")", "ig");
      t = t.replace(re, "<mark>$1</mark>");
    });
    return t;
  }
  function whyText(r, q) {
    var n = INDEX.nodes[r.i];
    var w = r.why || ["name"];
    if (w[0] === "column") return "column: " + mark(n.cols[w[1]][0], q);
    if (w[0] === "column description") return "column " + esc(n.cols[w[1]][0]) + ": " + mark(snippet(n.cols[w[1]][1], q), q);
    if (w[0] === "description") return mark(snippet(n.desc, q), q);
    if (w[0] === "path") return mark(n.path, q);
    if (w[0] === "tag") return "tags: " + mark((n.tags || []).join(", "), q);
    return esc(n.path || "");
  }
  function snippet(text, q) {
    text = String(text || "");
    var w = q.toLowerCase().split(/\s+/).filter(Boolean)[0] || "";
    var at = text.toLowerCase().indexOf(w);
    if (at < 0 || text.length < 120) return text.slice(0, 140);
    var start = Math.max(0, at - 50);
    return (start > 0 ? "…" : "") + text.slice(start, start + 140) + "…";
  }
  function resultHtml(r, q, cls) {
    var n = INDEX.nodes[r.i];
    return '<a class="' + cls + '" href="' + href(n.id) + '" data-id="' + esc(n.id) + '">' +
      badge(n.type) + " <strong>" + mark(n.name, q) + "</strong>" +
      '<span class="why">' + whyText(r, q) + "</span></a>";
  }

  var active = -1;
  function showResults() {
    var q = el("search").value.trim();
    var box = el("results");
    if (!q || !INDEX) { box.hidden = true; box.innerHTML = ""; return; }
    var rs = search(q);
    var html = rs.slice(0, 12).map(function (r) { return resultHtml(r, q, "result"); }).join("");
    if (!rs.length) html = '<div class="result muted">No match for “' + esc(q) + "”</div>";
    else if (rs.length > 12) html += '<a class="result more" href="#/search/' + encodeURIComponent(q) + '">All ' + rs.length + " results…</a>";
    box.innerHTML = html;
    box.hidden = false;
    active = -1;
  }
  function moveActive(delta) {
    var items = el("results").querySelectorAll("a.result");
    if (!items.length) return;
    active = (active + delta + items.length) % items.length;
    items.forEach(function (a, k) { a.classList.toggle("active", k === active); });
    items[active].scrollIntoView({ block: "nearest" });
  }
  function wireSearch() {
    var input = el("search");
    input.addEventListener("input", showResults);
    input.addEventListener("focus", showResults);
    input.addEventListener("keydown", function (e) {
      if (e.key === "ArrowDown") { moveActive(1); e.preventDefault(); }
      else if (e.key === "ArrowUp") { moveActive(-1); e.preventDefault(); }
      else if (e.key === "Escape") { el("results").hidden = true; input.blur(); }
      else if (e.key === "Enter") {
        var items = el("results").querySelectorAll("a.result");
        if (active >= 0 && items[active]) location.hash = items[active].getAttribute("href");
        else if (input.value.trim()) location.hash = "#/search/" + encodeURIComponent(input.value.trim());
        el("results").hidden = true;
      }
    });
    el("results").addEventListener("mousedown", function (e) { e.preventDefault(); });
    el("results").addEventListener("click", function (e) {
      var a = e.target.closest("a");
      if (a) { location.hash = a.getAttribute("href"); el("results").hidden = true; input.blur(); }
    });
    input.addEventListener("blur", function () { setTimeout(function () { el("results").hidden = true; }, 100); });
    document.addEventListener("keydown", function (e) {
      if (e.key === "/" && document.activeElement !== input) { input.focus(); e.preventDefault(); }
    });
  }

  // ---------- sidebar ----------
  var TYPE_ORDER = ["source", "seed", "model", "snapshot", "analysis", "exposure"];
  var TYPE_LABEL = { source: "Sources", seed: "Seeds", model: "Models", snapshot: "Snapshots", analysis: "Analyses", exposure: "Exposures" };
  function folderOf(n) {
    return n.type === "source" ? n.name.split(".")[0] : (n.path || "").split("/").slice(1, -1).join("/");
  }
  function renderSidebar() {
    var groups = {};
    INDEX.nodes.forEach(function (n, i) {
      var folder = folderOf(n);
      var g = groups[n.type] || (groups[n.type] = {});
      (g[folder] || (g[folder] = [])).push(i);
    });
    var html = "";
    TYPE_ORDER.forEach(function (t) {
      if (!groups[t]) return;
      var folders = Object.keys(groups[t]).sort();
      var count = folders.reduce(function (s, f) { return s + groups[t][f].length; }, 0);
      html += '<details open><summary>' + TYPE_LABEL[t] + " (" + count + ")</summary>";
      folders.forEach(function (f) {
        var items = groups[t][f];
        if (f) html += '<details data-lazy="' + esc(t + ":" + f) + '"><summary>' + esc(f) + " (" + items.length + ")</summary></details>";
        else html += itemsHtml(items);
      });
      html += "</details>";
    });
    el("sidebar").innerHTML = html;
    el("sidebar").querySelectorAll("details[data-lazy]").forEach(function (d) {
      d.addEventListener("toggle", function () {
        if (!d.open || d.dataset.filled) return;
        var at = d.dataset.lazy.indexOf(":");
        var items = groups[d.dataset.lazy.slice(0, at)][d.dataset.lazy.slice(at + 1)] || [];
        d.insertAdjacentHTML("beforeend", itemsHtml(items));
        d.dataset.filled = "1";
        markCurrent();
      });
    });
  }
  function itemsHtml(items) {
    return items.slice().sort(function (a, b) { return INDEX.nodes[a].name.localeCompare(INDEX.nodes[b].name); })
      .map(function (i) {
        var n = INDEX.nodes[i];
        var label = n.type === "source" ? n.name.split(".").slice(1).join(".") : n.name;
        return '<a class="item" href="' + href(n.id) + '" data-id="' + esc(n.id) + '" title="' + esc(n.id) + '">' + esc(label) + "</a>";
      }).join("");
  }
  var currentId = null;
  function markCurrent() {
    // open the folder of the current node (its items are added on opening)
    var i = currentId == null ? null : BY_ID[currentId];
    if (i != null) {
      var key = INDEX.nodes[i].type + ":" + folderOf(INDEX.nodes[i]);
      el("sidebar").querySelectorAll("details[data-lazy]").forEach(function (d) {
        if (d.dataset.lazy === key && !d.open) d.open = true;
      });
    }
    el("sidebar").querySelectorAll("a.item").forEach(function (a) {
      a.classList.toggle("current", a.dataset.id === currentId);
    });
  }

  // ---------- pages ----------
  function setMain(html) { el("main").innerHTML = html; window.scrollTo(0, 0); }

  function overview() {
    currentId = null; markCurrent();
    var counts = {};
    INDEX.nodes.forEach(function (n) { counts[n.type] = (counts[n.type] || 0) + 1; });
    var tests = { pass: 0, fail: 0, warn: 0, error: 0 };
    INDEX.nodes.forEach(function (n) { Object.keys(n.tests || {}).forEach(function (k) { tests[k] = (tests[k] || 0) + n.tests[k]; }); });
    var html = "<h1>" + esc(INDEX.project || "Project") + "</h1>";
    html += '<p class="muted">Manifest generated ' + esc(INDEX.generated_at || "?") +
      (INDEX.run_results_at ? " · last results " + esc(INDEX.run_results_at) : " · no run_results.json yet") + "</p>";
    if (!INDEX.catalog) html += '<div class="note">No catalog.json: column types and row counts appear after <code>tarmac docs generate</code>.</div>';
    html += '<div class="facts">' + TYPE_ORDER.filter(function (t) { return counts[t]; }).map(function (t) {
      return '<div class="fact"><div class="k">' + TYPE_LABEL[t] + '</div><div class="v">' + fmtInt(counts[t]) + "</div></div>";
    }).join("") + '<div class="fact"><div class="k">Tests</div><div class="v">' +
      ["pass", "fail", "warn", "error"].filter(function (k) { return tests[k]; }).map(function (k) { return statusBadge(k) + " " + tests[k]; }).join(" ") +
      (tests.pass + tests.fail + tests.warn + tests.error ? "" : '<span class="muted">none run</span>') + "</div></div></div>";
    if (INDEX.overview_html) html += '<div class="desc">' + INDEX.overview_html + "</div>";
    else html += '<div class="desc"><p>Search above (press <kbd>/</kbd>) or pick a node on the left. Each page shows the node\'s description, columns with their types and tests, its lineage graph and column-level lineage, and its SQL.</p></div>';
    setMain(html);
  }

  function searchPage(q) {
    currentId = null; markCurrent();
    el("search").value = q;
    var rs = search(q);
    setMain("<h1>Search: " + esc(q) + '</h1><p class="muted">' + rs.length + " result" + (rs.length === 1 ? "" : "s") + "</p>" +
      rs.slice(0, 500).map(function (r) { return resultHtml(r, q, "hit"); }).join(""));
  }

  function nodePage(id) {
    currentId = id; markCurrent();
    setMain('<p class="muted">Loading ' + esc(id) + "…</p>");
    var p = nodeCache[id] ? Promise.resolve(nodeCache[id]) : Data.node(id);
    p.then(function (d) {
      nodeCache[id] = d;
      if (currentId !== id) return;
      renderNode(d);
    }).catch(function (e) {
      setMain('<div class="error">' + esc(e.message) + "</div>");
    });
  }

  function testRow(t, withColumn) {
    var msg = t.message != null && t.message !== "" ? esc(t.message) : "";
    if (t.failures != null && t.status && t.status !== "pass") msg += (msg ? " · " : "") + esc(t.failures) + " failing row" + (t.failures === 1 ? "" : "s");
    return "<tr><td>" + statusBadge(t.status) + "</td><td class=\"long\"><strong>" + esc(t.kind) + "</strong><div class=\"muted mono\">" + esc(t.name) + "</div></td>" +
      (withColumn ? "<td>" + esc(t.column || "—") + "</td>" : "") +
      "<td>" + esc(t.severity || "") + "</td><td class=\"long\">" + msg + '</td><td class="muted">' + esc(t.completed_at || "") + "</td></tr>";
  }

  function renderNode(d) {
    var html = "<h1>" + esc(d.name) + " " + badge(d.type) +
      (d.materialized && d.materialized !== d.type ? ' <span class="badge">' + esc(d.materialized) + "</span>" : "") + "</h1>";
    html += '<div class="muted mono">' + esc(d.relation || d.id) + "</div>";
    var testsCount = { pass: 0, other: 0 };
    (d.tests || []).forEach(function (t) { if (t.status === "pass") testsCount.pass++; else testsCount.other++; });
    var facts = [
      ["Materialization", esc(d.materialized || "—")],
      ["Rows", d.row_count != null ? fmtInt(d.row_count) : '<span class="muted">' + (d.relation_type === "VIEW" ? "view" : "unknown") + "</span>"],
      ["Relation", esc(d.relation_type || (d.materialized === "ephemeral" ? "none (ephemeral)" : "not built"))],
      ["Last run", d.last_run ? statusBadge(d.last_run.status) + ' <span class="muted">' + esc((d.last_run.completed_at || "").replace("T", " ").slice(0, 19)) + "</span>" : '<span class="muted">no result</span>'],
      ["Tests", (d.tests || []).length ? testsSummary(d.tests) : '<span class="muted">none</span>'],
      ["File", '<span class="mono">' + esc(d.path || "") + "</span>"]
    ];
    html += '<div class="facts">' + facts.map(function (f) { return '<div class="fact"><div class="k">' + f[0] + '</div><div class="v">' + f[1] + "</div></div>"; }).join("") + "</div>";
    if ((d.tags || []).length) html += "<div>" + d.tags.map(function (t) { return '<span class="tag">' + esc(t) + "</span>"; }).join("") + "</div>";
    html += "<h2>Description</h2><div class=\"desc\">" + (d.description_html || "").trim() + "</div>";
    if (d.source_description_html && d.source_description_html.trim()) html += '<h2>Source</h2><div class="desc">' + d.source_description_html + "</div>";

    html += '<h2>Lineage <a class="aside lineage-link" href="' + lineageHref(d.id) + '">Open the lineage page →</a></h2>' +
      '<div class="graphbox" id="graph"></div>';

    html += "<h2>Columns</h2>";
    if (!d.columns.length) html += '<p class="muted">No columns known (document them in YAML, or build the node and run <code>tarmac docs generate</code>).</p>';
    else {
      html += '<table class="columns"><thead><tr><th>Column</th><th>Type</th><th>Description</th><th>Tests</th><th>Fed by (column lineage)</th></tr></thead><tbody>';
      d.columns.forEach(function (c) {
        html += "<tr id=\"col-" + esc(c.name) + "\"><td class=\"long\"><strong class=\"mono\">" + esc(c.name) + "</strong>" +
          (c.in_db || !INDEX.catalog ? "" : ' <span class="status warn" title="documented but not in the warehouse">not in DB</span>') + "</td>" +
          '<td class="type mono">' + esc(c.type || "") + "</td><td class=\"long\">" + (c.description_html || "") + "</td><td>" +
          (c.tests || []).map(function (t) { return statusBadge(t.status) + " " + esc(t.kind); }).join("<br>") + '</td><td class="fedby long">' + fedBy(c, d) + "</td></tr>";
      });
      html += "</tbody></table>";
      if (d.lineage_error) html += '<p class="muted">Column lineage unavailable: ' + esc(d.lineage_error) + "</p>";
    }

    html += "<h2>Tests</h2>";
    if (!(d.tests || []).length) html += '<p class="muted">No tests on this node.</p>';
    else html += "<table><thead><tr><th>Status</th><th>Test</th><th>Column</th><th>Severity</th><th>Message</th><th>Completed</th></tr></thead><tbody>" +
      d.tests.map(function (t) { return testRow(t, true); }).join("") + "</tbody></table>";

    if (d.compiled_code || d.raw_code) {
      html += "<h2>SQL</h2>";
      if (d.compiled_code) html += '<details class="code" open><summary>Compiled SQL</summary><pre class="sql">' + esc(d.compiled_code) + "</pre></details>";
      if (d.raw_code) html += '<details class="code"' + (d.compiled_code ? "" : " open") + '><summary>Source (Jinja)</summary><pre class="sql">' + esc(d.raw_code) + "</pre></details>";
    }
    html += "<h2>Depends on / referenced by</h2><table><tbody><tr><th>Depends on</th><td>" + links(d.parents) + "</td></tr><tr><th>Referenced by</th><td>" + links(d.children) + "</td></tr></tbody></table>";
    setMain(html);
    drawGraph(el("graph"), d.id);
  }

  // The lineage page: the graph around one node on its own address
  // (#/lineage/<id>), the whole window high; a click on a node centres the
  // page on that node, and the heading links to the node's own page.
  function lineagePage(id) {
    currentId = id; markCurrent();
    var i = BY_ID[id];
    if (i == null) { setMain('<div class="error">no node \'' + esc(id) + "' in the manifest</div>"); return; }
    var n = INDEX.nodes[i];
    setMain("<h1>Lineage of " + esc(n.name) + " " + badge(n.type) + "</h1>" +
      '<p class="muted">Upstream on the left, downstream on the right. Click a node to centre the lineage on it; ' +
      '<a href="' + href(id) + '">open ' + esc(n.name) + "’s page</a> for its columns, tests and SQL.</p>" +
      '<div class="graphbox full" id="lineage"></div>');
    drawGraph(el("lineage"), id, lineageHref);
  }

  function testsSummary(tests) {
    var c = {};
    tests.forEach(function (t) { var s = t.status || "not run"; c[s] = (c[s] || 0) + 1; });
    return Object.keys(c).map(function (k) { return statusBadge(k) + " " + c[k]; }).join(" ");
  }

  function fedBy(c, d) {
    if (!c.lineage) return d.has_lineage ? '<span class="muted">—</span>' : "";
    if (!c.lineage.sources.length) return '<span class="muted">constant / computed</span>';
    return c.lineage.sources.map(function (s) {
      var label = esc(s.name) + "." + esc(s.column);
      return s.known ? '<a class="mono" href="' + href(s.id) + '" title="' + esc(s.id) + '">' + label + "</a>" : '<span class="mono muted">' + label + "</span>";
    }).join("") + ' <span class="kind">' + (c.lineage.direct ? "passed through" : "derived") + "</span>";
  }

  function links(ids) {
    if (!ids || !ids.length) return '<span class="muted">none</span>';
    return ids.map(function (id) {
      var i = BY_ID[id];
      var n = i == null ? null : INDEX.nodes[i];
      return '<a href="' + href(id) + '">' + (n ? badge(n.type) + " " + esc(n.name) : esc(id)) + "</a>";
    }).join(" &nbsp; ");
  }

  // ---------- lineage graph ----------
  // The subgraph around the focused node (upstream and downstream up to a
  // depth), laid out in layers by longest path from the focus, ordered
  // within layers by the barycentre of their neighbours. Only the
  // neighbourhood is drawn, so a 10,000-node project draws as fast as a
  // small one.
  var graphDepth = { up: 2, down: 2 };
  var MAX_GRAPH = 250;

  function neighbourhood(f, depthUp, depthDown) {
    var up = {}, down = {};
    function walk(start, edges, depth, seen) {
      var frontier = [start];
      for (var d = 0; d < depth && frontier.length; d++) {
        var next = [];
        frontier.forEach(function (x) {
          edges[x].forEach(function (y) {
            if (seen[y] == null && y !== f) { seen[y] = d + 1; next.push(y); }
          });
        });
        frontier = next;
      }
    }
    walk(f, INDEX.up, depthUp, up);
    walk(f, INDEX.down, depthDown, down);
    return { up: up, down: down };
  }

  function layout(f) {
    var nb, du = graphDepth.up, dd = graphDepth.down;
    for (;;) {
      nb = neighbourhood(f, du, dd);
      var count = 1 + Object.keys(nb.up).length + Object.keys(nb.down).length;
      if (count <= MAX_GRAPH || (du <= 1 && dd <= 1)) break;
      if (du >= dd && du > 1) du--; else dd--;
    }
    var inSet = {}; inSet[f] = true;
    Object.keys(nb.up).forEach(function (k) { inSet[k] = true; });
    Object.keys(nb.down).forEach(function (k) { inSet[k] = true; });
    // layers: longest path to/from the focus inside the subgraph
    var layer = {}; layer[f] = 0;
    var memoU = {}, memoD = {};
    function upL(x) { // distance of an upstream node from the focus (negative)
      if (x == f) return 0;
      if (memoU[x] != null) return memoU[x];
      memoU[x] = -1;
      var best = -1;
      INDEX.down[x].forEach(function (c) {
        if (c == f || nb.up[c] != null) best = Math.min(best, upL(c) - 1);
      });
      return (memoU[x] = best);
    }
    function downL(x) {
      if (x == f) return 0;
      if (memoD[x] != null) return memoD[x];
      memoD[x] = 1;
      var best = 1;
      INDEX.up[x].forEach(function (p) {
        if (p == f || nb.down[p] != null) best = Math.max(best, downL(p) + 1);
      });
      return (memoD[x] = best);
    }
    Object.keys(nb.up).forEach(function (k) { layer[k] = upL(+k); });
    Object.keys(nb.down).forEach(function (k) { if (layer[k] == null) layer[k] = downL(+k); });
    var ids = Object.keys(inSet).map(Number);
    var edges = [];
    ids.forEach(function (x) {
      INDEX.up[x].forEach(function (p) { if (inSet[p] && layer[p] < layer[x]) edges.push([p, x]); });
    });
    var byLayer = {};
    ids.forEach(function (x) { (byLayer[layer[x]] || (byLayer[layer[x]] = [])).push(x); });
    var layers = Object.keys(byLayer).map(Number).sort(function (a, b) { return a - b; });
    layers.forEach(function (l) { byLayer[l].sort(function (a, b) { return INDEX.nodes[a].name.localeCompare(INDEX.nodes[b].name); }); });
    var order = {};
    function setOrder() { layers.forEach(function (l) { byLayer[l].forEach(function (x, k) { order[x] = k; }); }); }
    setOrder();
    for (var pass = 0; pass < 4; pass++) {
      var seq = pass % 2 ? layers.slice().reverse() : layers;
      seq.forEach(function (l) {
        var bc = {};
        byLayer[l].forEach(function (x) {
          var ns = edges.filter(function (e) { return pass % 2 ? e[0] === x : e[1] === x; }).map(function (e) { return order[pass % 2 ? e[1] : e[0]]; });
          bc[x] = ns.length ? ns.reduce(function (a, b) { return a + b; }, 0) / ns.length : order[x];
        });
        byLayer[l].sort(function (a, b) { return bc[a] - bc[b]; });
      });
      setOrder();
    }
    var W = 190, H = 40, GX = 80, GY = 18;
    var tallest = Math.max.apply(null, layers.map(function (l) { return byLayer[l].length; }));
    var pos = {};
    layers.forEach(function (l, li) {
      var col = byLayer[l];
      var offset = (tallest - col.length) * (H + GY) / 2;
      col.forEach(function (x, k) { pos[x] = { x: li * (W + GX), y: offset + k * (H + GY) }; });
    });
    return { ids: ids, edges: edges, pos: pos, W: W, H: H, width: layers.length * (W + GX) - GX, height: tallest * (H + GY) - GY, truncated: du < graphDepth.up || dd < graphDepth.down, du: du, dd: dd };
  }

  var TYPE_COLOR = { model: "#2456c9", source: "#1a7f37", seed: "#7b3fb0", snapshot: "#b26a00" };

  // `nav` makes the address a click on a node goes to (a node page by
  // default; the lineage page keeps to lineage pages).
  function drawGraph(box, focusId, nav) {
    nav = nav || href;
    var f = BY_ID[focusId];
    if (f == null || !box) return;
    var L = layout(f);
    var svgNS = "http://www.w3.org/2000/svg";
    var parts = [];
    L.edges.forEach(function (e) {
      var a = L.pos[e[0]], b = L.pos[e[1]];
      var x1 = a.x + L.W, y1 = a.y + L.H / 2, x2 = b.x, y2 = b.y + L.H / 2, mx = (x1 + x2) / 2;
      var d = "M" + x1 + "," + y1 + " C" + mx + "," + y1 + " " + mx + "," + y2 + " " + x2 + "," + y2;
      var from = INDEX.nodes[e[0]].id, to = INDEX.nodes[e[1]].id;
      parts.push('<path class="hit" d="' + d + '" data-from="' + esc(from) + '" data-to="' + esc(to) + '"><title>' + esc(INDEX.nodes[e[0]].name + " → " + INDEX.nodes[e[1]].name) + '</title></path><path class="edge" d="' + d + '" marker-end="url(#arrow)"></path>');
    });
    L.ids.forEach(function (x) {
      var n = INDEX.nodes[x], p = L.pos[x];
      var name = n.name.length > 24 ? n.name.slice(0, 23) + "…" : n.name;
      var failing = n.tests && (n.tests.fail || n.tests.error);
      parts.push('<g class="gnode' + (x === f ? " focus" : "") + '" data-id="' + esc(n.id) + '" transform="translate(' + p.x + "," + p.y + ')">' +
        "<title>" + esc(n.id) + "</title>" +
        '<rect width="' + L.W + '" height="' + L.H + '" rx="6"></rect>' +
        '<rect class="bar" width="5" height="' + L.H + '" rx="2" fill="' + (TYPE_COLOR[n.type] || "#6b7385") + '"></rect>' +
        '<text class="t" x="12" y="13">' + esc(n.type + (n.mat && n.mat !== n.type ? " · " + n.mat : "")) + (failing ? " · failing tests" : "") + "</text>" +
        '<text x="12" y="29">' + esc(name) + "</text></g>");
    });
    var pad = 30;
    // never zoomed in past 1:1 at first: a small graph keeps its size in a big box
    var vb = { x: -pad, y: -pad, w: Math.max(L.width + 2 * pad, box.clientWidth || 400), h: Math.max(L.height + 2 * pad, box.clientHeight || 200) };
    box.innerHTML = '<svg xmlns="' + svgNS + '" role="img" aria-label="lineage graph"><defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#9aa6bd"></path></marker></defs><g class="viewport">' + parts.join("") + "</g></svg>" +
      '<div class="graphtools"><span class="muted">upstream</span><button data-act="up-" title="fewer upstream levels">−</button><span>' + L.du + '</span><button data-act="up+" title="more upstream levels">+</button>' +
      '<span class="muted">downstream</span><button data-act="down-">−</button><span>' + L.dd + '</span><button data-act="down+">+</button>' +
      '<span class="muted">zoom</span><button data-act="zin" title="zoom in">+</button><button data-act="zout" title="zoom out">−</button><button data-act="fit" title="fit the graph">fit</button></div>';
    var svg = box.querySelector("svg");
    var fitVb = { x: vb.x, y: vb.y, w: vb.w, h: vb.h };
    function apply() { svg.setAttribute("viewBox", vb.x + " " + vb.y + " " + vb.w + " " + vb.h); }
    function fit() { vb = { x: fitVb.x, y: fitVb.y, w: fitVb.w, h: fitVb.h }; apply(); }
    fit();
    function zoom(factor, cx, cy) {
      var r = svg.getBoundingClientRect();
      var px = cx == null ? 0.5 : (cx - r.left) / r.width, py = cy == null ? 0.5 : (cy - r.top) / r.height;
      // the point under the cursor stays put (preserveAspectRatio meet is close enough)
      var nw = Math.min(Math.max(vb.w * factor, 80), fitVb.w * 8), nh = nw * vb.h / vb.w;
      vb.x += (vb.w - nw) * px; vb.y += (vb.h - nh) * py; vb.w = nw; vb.h = nh;
      apply();
    }
    svg.addEventListener("wheel", function (e) { e.preventDefault(); zoom(e.deltaY > 0 ? 1.15 : 1 / 1.15, e.clientX, e.clientY); }, { passive: false });
    var drag = null, moved = false;
    svg.addEventListener("mousedown", function (e) { drag = { x: e.clientX, y: e.clientY, vx: vb.x, vy: vb.y }; moved = false; });
    window.addEventListener("mousemove", function (e) {
      if (!drag) return;
      var r = svg.getBoundingClientRect();
      var s = Math.max(vb.w / r.width, vb.h / r.height);
      if (Math.abs(e.clientX - drag.x) + Math.abs(e.clientY - drag.y) > 3) { moved = true; svg.classList.add("dragging"); }
      vb.x = drag.vx - (e.clientX - drag.x) * s; vb.y = drag.vy - (e.clientY - drag.y) * s; apply();
    });
    window.addEventListener("mouseup", function () { drag = null; svg.classList.remove("dragging"); });
    svg.addEventListener("click", function (e) {
      if (moved) return;
      var g = e.target.closest("g.gnode");
      if (g) { location.hash = nav(g.dataset.id); return; }
      var h = e.target.closest("path.hit");
      if (h) {
        // follow the edge: to its other end from the focused node
        var target = h.dataset.from === focusId ? h.dataset.to : h.dataset.from;
        location.hash = nav(target);
      }
    });
    box.querySelector(".graphtools").addEventListener("click", function (e) {
      var act = e.target.dataset && e.target.dataset.act;
      if (!act) return;
      if (act === "zin") zoom(1 / 1.3);
      else if (act === "zout") zoom(1.3);
      else if (act === "fit") fit();
      else {
        if (act === "up+") graphDepth.up = Math.min(graphDepth.up + 1, 20);
        if (act === "up-") graphDepth.up = Math.max(graphDepth.up - 1, 0);
        if (act === "down+") graphDepth.down = Math.min(graphDepth.down + 1, 20);
        if (act === "down-") graphDepth.down = Math.max(graphDepth.down - 1, 0);
        drawGraph(box, focusId, nav);
      }
    });
  }

  // ---------- routing ----------
  function route() {
    if (!INDEX) return;
    var h = location.hash || "#/";
    var m;
    if ((m = h.match(/^#\/node\/(.+)$/))) { el("search").value = ""; nodePage(decodeURIComponent(m[1])); }
    else if ((m = h.match(/^#\/lineage\/(.+)$/))) { el("search").value = ""; lineagePage(decodeURIComponent(m[1])); }
    else if ((m = h.match(/^#\/search\/(.*)$/))) searchPage(decodeURIComponent(m[1]));
    else overview();
  }

  function start() {
    wireSearch();
    Data.index().then(function (index) {
      INDEX = index;
      BY_ID = {};
      index.nodes.forEach(function (n, i) { BY_ID[n.id] = i; });
      DOCS = buildDocs(index);
      el("project").textContent = index.project || "";
      document.title = (index.project ? index.project + " · " : "") + "Tarmac catalog";
      renderSidebar();
      window.addEventListener("hashchange", route);
      route();
      document.body.dataset.ready = "1";
    }).catch(function (e) {
      setMain('<div class="error"><strong>The catalog cannot be shown.</strong><br>' + esc(e.message) + "</div>");
      document.body.dataset.ready = "error";
    });
  }
  start();
})();
