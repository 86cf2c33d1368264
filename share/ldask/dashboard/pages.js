/* ldask dashboard: the pages. Each HTML page sets <body data-page="...">;
 * this file starts that page with the shared parts of dashboard.js: status
 * (task stream, progress, bytes stored, occupancy), workers (table), graph
 * (the current computation, SVG coloured by state), prefix, key, and report
 * (performance_report's self-contained file, from inline JSON). */
(function () {
  "use strict";
  var LD = window.LD;
  var el = LD.el;
  var $ = function (id) {
    return document.getElementById(id);
  };
  var PAGES = {};

  function setSummary(attrs) {
    var s = $("summary");
    for (var k in attrs) s.setAttribute("data-" + k, attrs[k]);
  }

  /* -------------------------------------------------------------------- status */

  function workerBars(workers) {
    LD.renderBars(
      $("memory"),
      workers.map(function (w) {
        var mem = w.memory || 0;
        var sp = w.spilled || 0;
        return {
          label: LD.workerName(w),
          parts: [
            [mem, "#1f77b4", LD.fmtBytes(mem) + " in memory"],
            [sp, "#9c9ede", LD.fmtBytes(sp) + " spilled to disk"],
          ],
          text: LD.fmtBytes(mem) + (sp ? " + " + LD.fmtBytes(sp) + " spilled" : ""),
          attrs: { "data-worker": w.address, "data-memory": mem, "data-spilled": sp },
        };
      })
    );
    LD.renderBars(
      $("occupancy"),
      workers.map(function (w) {
        var n = w.nthreads || 1;
        var busy = Math.min(w.processing || 0, n);
        return {
          label: LD.workerName(w),
          parts: [
            [busy, "#2ca02c", busy + " of " + n + " threads busy"],
            [Math.max((w.processing || 0) - n, 0), "#98df8a", "queued"],
          ],
          text: (w.processing || 0) + " / " + n + " threads",
          attrs: { "data-worker": w.address, "data-processing": w.processing || 0 },
        };
      }),
      workers.reduce(function (m, w) {
        return Math.max(m, w.nthreads || 1, w.processing || 0);
      }, 1)
    );
  }

  PAGES.status = function () {
    var stream = new LD.TaskStream($("task-stream"), { window: 60, summary: $("summary") });
    var chart = LD.chart($("tasks-chart"), [
      { label: "processing", stroke: "#2ca02c" },
      { label: "memory", stroke: "#1f77b4" },
    ], { ylabel: "tasks" });
    var t0 = null;
    var notDrawn = 0;
    LD.live({
      skipped: function (n) {
        notDrawn = n;
      },
      status: function (st) {
        var t = st.tasks || {};
        LD.renderProgress($("progress"), st.prefixes);
        $("totals").textContent =
          (st.workers || 0) + " workers, " + (st.threads || 0) + " threads · " +
          LD.fmtBytes(st.memory) + " stored" + (st.spilled ? ", " + LD.fmtBytes(st.spilled) + " spilled" : "") +
          " · tasks: " + (t.waiting || 0) + " waiting, " + (t.processing || 0) + " processing, " +
          (t.memory || 0) + " in memory, " + (t.erred || 0) + " erred" +
          (st.events_dropped ? " · " + st.events_dropped + " events dropped" : "") +
          (notDrawn ? " · " + notDrawn + " events not drawn (the newest " + LD.LIVE_EVENTS + " an update are)" : "");
        if (st.now !== undefined) {
          if (t0 === null) t0 = st.now;
          chart.push(st.now - t0, [t.processing || 0, t.memory || 0]);
        }
        setSummary({
          waiting: t.waiting || 0,
          processing: t.processing || 0,
          memory: t.memory || 0,
          erred: t.erred || 0,
          prefixes: (st.prefixes || []).length,
          updates: Number($("summary").getAttribute("data-updates") || 0) + 1,
        });
      },
      events: function (evs) {
        stream.add(evs);
      },
    });
    LD.every(2000, function () {
      return LD.api("/api/v1/workers").then(function (ws) {
        stream.setWorkers(ws);
        workerBars(ws);
        setSummary({ workers: ws.length });
      });
    });
  };

  /* ------------------------------------------------------------------- workers */

  var WORKER_COLUMNS = [
    ["address", "address", function (w) {
      return w.address;
    }],
    ["name", "name", function (w) {
      return w.name === undefined ? "" : w.name;
    }],
    ["nthreads", "threads", function (w) {
      return w.nthreads;
    }],
    ["memory", "memory", function (w) {
      return LD.fmtBytes(w.memory);
    }],
    ["spilled", "spilled", function (w) {
      return LD.fmtBytes(w.spilled);
    }],
    ["cpu", "CPU", function (w) {
      return (Number(w.cpu) || 0).toFixed(0) + " %";
    }],
    ["processing", "tasks", function (w) {
      return (w.processing || 0) + " processing, " + (w.stored || 0) + " stored";
    }],
    ["last_seen", "last seen", function (w) {
      return LD.fmtSeconds(w.last_seen) + " ago";
    }],
  ];

  PAGES.workers = function () {
    var sortBy = "address";
    var last = [];
    function render(ws) {
      last = ws;
      ws = ws.slice().sort(function (a, b) {
        var x = a[sortBy];
        var y = b[sortBy];
        if (typeof x === "number" && typeof y === "number") return y - x;
        return String(x) < String(y) ? -1 : String(x) > String(y) ? 1 : 0;
      });
      var head = el(
        "tr",
        null,
        WORKER_COLUMNS.map(function (c) {
          var th = el("th", { class: c[0] === sortBy ? "sorted" : "", title: "sort by " + c[1] }, c[1]);
          th.addEventListener("click", function () {
            sortBy = c[0];
            render(last);
          });
          return th;
        })
      );
      var body = el(
        "tbody",
        null,
        ws.map(function (w) {
          return el(
            "tr",
            { class: "worker", "data-address": w.address, "data-nthreads": w.nthreads },
            WORKER_COLUMNS.map(function (c) {
              return el("td", { class: typeof w[c[0]] === "number" ? "num" : "" }, c[2](w));
            })
          );
        })
      );
      var total = { threads: 0, memory: 0, spilled: 0 };
      ws.forEach(function (w) {
        total.threads += w.nthreads || 0;
        total.memory += w.memory || 0;
        total.spilled += w.spilled || 0;
      });
      LD.clear($("workers")).appendChild(el("table", { class: "grid" }, [el("thead", null, head), body]));
      $("totals").textContent =
        ws.length + " workers, " + total.threads + " threads, " + LD.fmtBytes(total.memory) + " stored, " +
        LD.fmtBytes(total.spilled) + " spilled";
      setSummary({ workers: ws.length, threads: total.threads });
    }
    LD.every(2000, function () {
      return LD.api("/api/v1/workers").then(function (ws) {
        LD.setConn("updated every 2 s");
        render(ws);
      });
    });
  };

  /* --------------------------------------------------------------------- graph */

  // Layered layout, left to right: a node's layer is the longest path from
  // a root to it; a layer taller than ROWS nodes wraps into several columns
  // (so a wide map stays a block, not a thin line). Returns {xy(k), w, h}.
  function layout(nodes, edges) {
    var n = nodes.length;
    var indeg = new Array(n).fill(0);
    var out = nodes.map(function () {
      return [];
    });
    edges.forEach(function (e) {
      if (e[0] < n && e[1] < n) {
        out[e[0]].push(e[1]);
        indeg[e[1]]++;
      }
    });
    var depth = new Array(n).fill(0);
    var queue = [];
    for (var i = 0; i < n; i++) if (!indeg[i]) queue.push(i);
    for (var q = 0; q < queue.length; q++) {
      var u = queue[q];
      out[u].forEach(function (v) {
        if (depth[u] + 1 > depth[v]) depth[v] = depth[u] + 1;
        if (--indeg[v] === 0) queue.push(v);
      });
    }
    var layers = [];
    var slot = [];
    for (var k = 0; k < n; k++) {
      var d = depth[k];
      layers[d] = layers[d] || [];
      slot[k] = layers[d].length;
      layers[d].push(k);
    }
    var rows = Math.max(8, Math.round(Math.sqrt(n / 1.6)));
    var DX = 14; // between the columns of one layer
    var GAP = 60; // between layers
    var DY = 14;
    var x0 = [];
    var x = 0;
    for (var l = 0; l < layers.length; l++) {
      var size = layers[l] ? layers[l].length : 0;
      x0[l] = x;
      x += Math.max(Math.ceil(size / rows) - 1, 0) * DX + GAP;
    }
    var tall = Math.min(rows, layers.reduce(function (m, ly) {
      return Math.max(m, ly ? ly.length : 0);
    }, 1));
    return {
      w: Math.max(x - GAP, 1),
      h: Math.max((tall - 1) * DY, 1),
      xy: function (k2) {
        var ly = depth[k2];
        var p = slot[k2];
        var inLayer = Math.min(layers[ly].length, rows);
        return [x0[ly] + Math.floor(p / rows) * DX, ((p % rows) + (tall - inLayer) / 2) * DY];
      },
    };
  }

  var SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }

  PAGES.graph = function () {
    var shape = "";
    function render(g) {
      var nodes = g.nodes || [];
      var edges = g.edges || [];
      var box = LD.clear($("graph"));
      var counts = {};
      nodes.forEach(function (nd) {
        counts[nd.state] = (counts[nd.state] || 0) + 1;
      });
      setSummary({ nodes: nodes.length, edges: edges.length, truncated: g.truncated ? "true" : "false" });
      $("totals").textContent =
        nodes.length + " tasks" + (g.truncated ? " (truncated: the graph is larger)" : "") + " · " +
        Object.keys(counts)
          .map(function (s) {
            return counts[s] + " " + s;
          })
          .join(", ");
      if (!nodes.length) {
        box.appendChild(el("p", { class: "empty" }, "no computation"));
        return;
      }
      var L = layout(nodes, edges);
      var root = svg("svg", {
        viewBox: "-20 -20 " + (L.w + 40) + " " + (L.h + 40),
        class: "graph",
        preserveAspectRatio: "xMidYMid meet",
      });
      var xy = L.xy;
      var lines = svg("g", { class: "edges" });
      edges.forEach(function (e) {
        if (e[0] >= nodes.length || e[1] >= nodes.length) return;
        var a = xy(e[0]);
        var b = xy(e[1]);
        lines.appendChild(svg("line", { x1: a[0], y1: a[1], x2: b[0], y2: b[1] }));
      });
      root.appendChild(lines);
      var dots = svg("g", { class: "nodes" });
      nodes.forEach(function (nd, k) {
        var p = xy(k);
        var c = svg("circle", {
          cx: p[0],
          cy: p[1],
          r: 5,
          fill: LD.STATE_COLORS[nd.state] || "#999",
          stroke: LD.prefixColor(nd.prefix),
          "data-state": nd.state,
          "data-key": nd.key,
        });
        var t = svg("title", {});
        t.textContent = nd.key + " (" + nd.state + ")";
        c.appendChild(t);
        c.addEventListener("click", function () {
          window.location.href = "/key/" + encodeURIComponent(nd.key);
        });
        dots.appendChild(c);
      });
      root.appendChild(dots);
      box.appendChild(root);
    }
    LD.every(2000, function () {
      return LD.api("/api/v1/graph").then(function (g) {
        LD.setConn("updated every 2 s");
        // redraw only when something changed
        var s = JSON.stringify(g);
        if (s !== shape) {
          shape = s;
          render(g);
        }
      });
    });
    var legend = $("legend");
    Object.keys(LD.STATE_COLORS).forEach(function (s) {
      legend.appendChild(el("span", { class: "legend" }, [el("span", { class: "swatch", style: "background:" + LD.STATE_COLORS[s] }), s]));
    });
  };

  /* -------------------------------------------------------------------- prefix */

  PAGES.prefix = function () {
    var prefix = LD.pathArg("/prefix/");
    document.title = prefix + " · ldask";
    $("title").textContent = "Task prefix " + prefix;
    var events = [];
    var chart = LD.chart($("durations"), [{ label: "duration (ms)", stroke: LD.prefixColor(prefix), points: true }], {
      ylabel: "ms",
      keep: 5000,
    });
    function renderEvents() {
      var rows = LD.profile(events);
      LD.renderProfile($("profile"), rows);
      var xs = [];
      var ys = [];
      events
        .slice()
        .sort(function (a, b) {
          return a.start - b.start;
        })
        .forEach(function (e) {
          xs.push(e.start);
          ys.push((e.stop - e.start) * 1e3);
        });
      chart.set([xs, ys]);
      setSummary({ computed: events.length });
    }
    LD.live({
      status: function (st) {
        var mine = (st.prefixes || []).filter(function (p) {
          return p.prefix === prefix;
        });
        LD.renderProgress($("progress"), mine);
        var p = mine[0] || {};
        setSummary({ total: p.total || 0, memory: p.memory || 0, erred: p.erred || 0 });
      },
      events: function (evs) {
        evs.forEach(function (e) {
          if (e.prefix === prefix && e.kind !== "transfer") events.push(e);
        });
        if (events.length > 20000) events.splice(0, events.length - 20000);
        renderEvents();
      },
    });
    LD.every(5000, function () {
      return LD.api("/api/v1/graph").then(function (g) {
        var keys = (g.nodes || []).filter(function (nd) {
          return nd.prefix === prefix;
        });
        var box = LD.clear($("keys"));
        keys.slice(0, 200).forEach(function (nd) {
          box.appendChild(el("li", { "data-state": nd.state }, [LD.keyLink(nd.key), " ", el("span", { class: "state " + nd.state }, nd.state)]));
        });
        if (keys.length > 200) box.appendChild(el("li", null, "… " + (keys.length - 200) + " more"));
        if (!keys.length) box.appendChild(el("li", { class: "empty" }, "none in the current computation"));
      });
    });
  };

  /* ----------------------------------------------------------------------- key */

  PAGES.key = function () {
    var key = LD.pathArg("/key/");
    document.title = key + " · ldask";
    $("title").textContent = key;
    var final = false;
    function list(keys) {
      if (!keys || !keys.length) return el("span", { class: "empty" }, "none");
      var ul = el("ul", { class: "keys" });
      keys.slice(0, 500).forEach(function (k) {
        ul.appendChild(el("li", null, LD.keyLink(k)));
      });
      if (keys.length > 500) ul.appendChild(el("li", null, "… " + (keys.length - 500) + " more"));
      return ul;
    }
    function render(k) {
      var box = LD.clear($("key"));
      if (k.notFound) {
        box.appendChild(el("p", { class: "error" }, "The scheduler does not know the key " + JSON.stringify(key) + " (released, or never submitted)."));
        setSummary({ state: "unknown" });
        return;
      }
      var rows = [
        ["state", el("span", { class: "state " + k.state }, k.state)],
        ["prefix", k.prefix ? LD.prefixLink(k.prefix) : ""],
        ["size", k.nbytes !== undefined && k.nbytes !== null ? LD.fmtBytes(k.nbytes) : "-"],
        ["who has it", list(k.who_has)],
        ["dependencies", list(k.dependencies)],
        ["dependents", list(k.dependents)],
      ];
      box.appendChild(
        el("table", { class: "props" }, rows.map(function (r) {
          return el("tr", null, [el("th", null, r[0]), el("td", null, r[1])]);
        }))
      );
      if (k.error) {
        box.appendChild(el("h2", null, "Error"));
        box.appendChild(el("pre", { class: "error", id: "error" }, k.error));
        if (k.traceback) {
          box.appendChild(el("h2", null, "Traceback"));
          box.appendChild(el("pre", { class: "traceback", id: "traceback" }, k.traceback));
        }
      }
      setSummary({ state: k.state, erred: k.error ? "true" : "false" });
      final = k.state === "memory" || k.state === "erred" || k.state === "released";
    }
    LD.every(2000, function () {
      if (final) return;
      return LD.api("/api/v1/key/" + encodeURIComponent(key)).then(function (k) {
        LD.setConn(final ? "" : "updated every 2 s");
        render(k);
      });
    });
  };

  /* -------------------------------------------------------------------- report */

  // performance_report's file: window.LDASK_REPORT holds {title, created,
  // duration, scheduler, nthreads, events, prefixes, ...}.
  PAGES.report = function () {
    var R = window.LDASK_REPORT || {};
    LD.offline = true;
    var events = R.events || [];
    var computes = events.filter(function (e) {
      return e.kind !== "transfer";
    });
    $("title").textContent = R.title || "ldask performance report";
    $("totals").textContent =
      (R.created ? R.created + " · " : "") + LD.fmtSeconds(R.duration) + " · " + computes.length + " tasks on " +
      (R.nthreads || "?") + " threads (" + (R.scheduler || "?") + ")" +
      (R.dropped ? " · " + R.dropped + " events dropped" : "");
    var stream = new LD.TaskStream($("task-stream"), { summary: $("summary"), clickable: false, max: events.length + 1 });
    if (R.workers) stream.setWorkers(R.workers);
    stream.add(events);
    stream.draw();
    LD.renderProgress($("progress"), R.prefixes || []);
    var rows = LD.profile(events);
    LD.renderProfile($("profile"), rows);
    var chart = LD.chart($("tasks-chart"), [{ label: "tasks running", stroke: "#2ca02c", fill: "rgba(44,160,44,0.15)", stepped: true }], {
      ylabel: "tasks",
    });
    chart.set(LD.occupancy(events));
    setSummary({ tasks: computes.length, prefixes: rows.length, duration: R.duration || 0 });
    if (R.notes && R.notes.length) {
      var ul = $("notes");
      R.notes.forEach(function (n) {
        ul.appendChild(el("li", null, n));
      });
    }
  };

  function boot() {
    var page = document.body.getAttribute("data-page");
    if (PAGES[page]) PAGES[page]();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
