/* ldask dashboard: the shared parts of the pages (and of performance_report's
 * self-contained file): formatting, the JSON API and its live feed (Server-Sent
 * Events from /api/v1/events, polling when they fail), the task stream (canvas),
 * progress bars per task prefix, bytes stored and occupancy per worker, and the
 * uPlot time-series helper. The page-specific code is in pages.js. No framework,
 * no build step: plain ES5 with DOM calls. docs/dashboard.md describes the pages. */
(function () {
  "use strict";
  var LD = (window.LD = {});

  /* ---------------------------------------------------------------- utilities */

  // el("div", {class: "x", "data-n": 3}, [children or text]) -> element
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) {
      for (var k in attrs) {
        if (attrs[k] === undefined || attrs[k] === null) continue;
        if (k === "text") e.textContent = attrs[k];
        else if (k === "style") e.style.cssText = attrs[k];
        else e.setAttribute(k, attrs[k]);
      }
    }
    if (children !== undefined && children !== null) {
      if (!Array.isArray(children)) children = [children];
      children.forEach(function (c) {
        if (c === null || c === undefined) return;
        e.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
      });
    }
    return e;
  }
  LD.el = el;

  LD.clear = function (node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  };

  LD.fmtBytes = function (n) {
    n = Number(n) || 0;
    var units = ["B", "kiB", "MiB", "GiB", "TiB"];
    var i = 0;
    while (Math.abs(n) >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return (i === 0 ? n.toFixed(0) : n.toFixed(n < 10 ? 2 : 1)) + " " + units[i];
  };

  LD.fmtSeconds = function (s) {
    s = Number(s) || 0;
    if (s < 1e-3) return (s * 1e6).toFixed(0) + " µs";
    if (s < 1) return (s * 1e3).toFixed(1) + " ms";
    if (s < 60) return s.toFixed(2) + " s";
    if (s < 3600) return Math.floor(s / 60) + " m " + (s % 60).toFixed(0) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " m";
  };

  // A colour per task prefix: the palette's colours in the order the page
  // first meets the prefixes (distinct for the first 20), then a hue from a
  // hash of the name.
  var PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#dbdb8d", "#9edae5", "#393b79", "#637939", "#8c6d31",
  ];
  LD.TRANSFER = "#d62728"; // transfers are red, as in dask
  LD.ERRED = "#111111"; // erred tasks black, as in dask
  var assigned = {};
  var nassigned = 0;
  LD.prefixColor = function (prefix) {
    var s = String(prefix);
    if (assigned[s]) return assigned[s];
    if (nassigned < PALETTE.length) {
      nassigned++;
      return (assigned[s] = PALETTE[nassigned - 1]);
    }
    var h = 2166136261;
    for (var i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 16777619) >>> 0;
    }
    return (assigned[s] = "hsl(" + (h % 360) + ",55%,55%)");
  };

  LD.STATE_COLORS = {
    waiting: "#c7c7c7",
    released: "#e8e8e8",
    processing: "#2ca02c",
    memory: "#1f77b4",
    erred: "#d62728",
    forgotten: "#f4f4f4",
  };

  // Links to the key and prefix pages (plain text in an offline report).
  LD.keyLink = function (key, text) {
    if (LD.offline) return el("span", { class: "key" }, text || key);
    return el("a", { href: "/key/" + encodeURIComponent(key), class: "key" }, text || key);
  };
  LD.prefixLink = function (prefix) {
    return el(LD.offline ? "span" : "a", { href: LD.offline ? null : "/prefix/" + encodeURIComponent(prefix) }, [
      el("span", { class: "swatch", style: "background:" + LD.prefixColor(prefix) }),
      prefix,
    ]);
  };

  // The last path segment after BASE ("/key/") of location, decoded.
  LD.pathArg = function (base) {
    var p = window.location.pathname;
    var i = p.indexOf(base);
    if (i < 0) return "";
    try {
      return decodeURIComponent(p.slice(i + base.length));
    } catch (e) {
      return p.slice(i + base.length);
    }
  };

  /* -------------------------------------------------------------- the JSON API */

  // GET PATH as JSON; rejects with an Error naming the path and status.
  LD.api = function (path) {
    return fetch(path, { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      if (r.status === 404) {
        return r.json().then(
          function (j) {
            j.notFound = true;
            return j;
          },
          function () {
            return { notFound: true };
          }
        );
      }
      if (!r.ok) throw new Error(path + ": HTTP " + r.status);
      return r.json();
    });
  };

  // The connection line of a page: "live", "polling", or an error.
  LD.setConn = function (text, bad) {
    var c = document.getElementById("conn");
    if (!c) return;
    c.textContent = text;
    c.className = bad ? "conn bad" : "conn";
    var s = document.getElementById("summary");
    if (s) s.setAttribute("data-conn", text);
  };

  // Feeds ON.status(statusJSON) and ON.events([task_stream events]) from the
  // scheduler: the task stream's history first, then the SSE stream of
  // /api/v1/events; polling /api/v1/status and task_stream every POLL ms when
  // the SSE stream fails or ?poll=1 is in the page's URL. Live, the page
  // takes at most the newest LD.LIVE_EVENTS events an update (more than a
  // screen shows; what the scheduler serializes for a page stays bounded):
  // ON.skipped(total) counts those passed over.
  LD.LIVE_EVENTS = 2000;
  LD.live = function (on, poll) {
    poll = poll || 1000;
    var seq = 0;
    var skipped = 0;
    function skip(n) {
      if (n > 0) {
        skipped += n;
        if (on.skipped) on.skipped(skipped);
      }
    }
    function ingest(ts) {
      if (!ts || !ts.events) return;
      skip(ts.skipped || 0);
      var fresh = [];
      for (var i = 0; i < ts.events.length; i++) {
        var e = ts.events[i];
        if (e.seq === undefined || e.seq > seq) fresh.push(e);
      }
      for (var j = 0; j < fresh.length; j++) if (fresh[j].seq > seq) seq = fresh[j].seq;
      if (ts.dropped && on.dropped) on.dropped(ts.dropped);
      if (fresh.length && on.events) on.events(fresh);
    }
    function fetchStream() {
      return LD.api("/api/v1/task_stream?since=" + seq).then(function (ts) {
        ingest(ts);
        // at most 10,000 events per answer: ask again while there are more
        if (ts.more && ts.events && ts.events.length) return fetchStream();
      });
    }
    function fetchStatus() {
      return LD.api("/api/v1/status").then(function (st) {
        if (on.status) on.status(st);
      });
    }
    // the status, then the newest LD.LIVE_EVENTS events after it
    function fetchLive() {
      return LD.api("/api/v1/status").then(function (st) {
        if (on.status) on.status(st);
        if (st.seq !== undefined && st.seq - seq > LD.LIVE_EVENTS) {
          skip(st.seq - LD.LIVE_EVENTS - seq);
          seq = st.seq - LD.LIVE_EVENTS;
        }
        return fetchStream();
      });
    }
    function polling() {
      LD.setConn("polling every " + poll / 1000 + " s");
      (function tick() {
        fetchLive()
          .then(function () {
            LD.setConn("polling every " + poll / 1000 + " s");
          })
          .catch(function (err) {
            LD.setConn("cannot reach the scheduler: " + err.message, true);
          })
          .then(function () {
            setTimeout(tick, poll);
          });
      })();
    }
    // ?updates=N: close the stream after N updates (a page that stops, for
    // snapshots: headless browsers wait for open streams before rendering)
    var maxUpdates = Number((/[?&]updates=(\d+)/.exec(window.location.search) || [])[1] || 0);
    var nupdates = 0;
    function sse() {
      var es = new EventSource("/api/v1/events?since=" + seq);
      es.addEventListener("update", function (m) {
        if (maxUpdates && ++nupdates >= maxUpdates) {
          es.onerror = null;
          es.close();
        }
        var d;
        try {
          d = JSON.parse(m.data);
        } catch (e) {
          return;
        }
        LD.setConn(maxUpdates && nupdates >= maxUpdates ? "stopped after " + nupdates + " updates" : "live");
        var st = d.status || d;
        if (on.status) on.status(st);
        var ts = d.task_stream || { seq: d.seq, events: d.events || [], dropped: d.dropped };
        ingest(ts);
      });
      es.onerror = function () {
        es.close();
        polling();
      };
    }
    var forcePoll = /[?&]poll=1/.test(window.location.search);
    Promise.all([fetchStatus(), fetchStream()])
      .catch(function (err) {
        LD.setConn("cannot reach the scheduler: " + err.message, true);
      })
      .then(function () {
        if (!forcePoll && window.EventSource) sse();
        else polling();
      });
  };

  // Calls FN now and every MS milliseconds (after each call's promise ends).
  LD.every = function (ms, fn) {
    (function tick() {
      Promise.resolve()
        .then(fn)
        .catch(function (err) {
          LD.setConn("cannot reach the scheduler: " + err.message, true);
        })
        .then(function () {
          setTimeout(tick, ms);
        });
    })();
  };

  /* ---------------------------------------------------------- the task stream */

  // One row per worker thread, one bar per task (coloured by prefix),
  // transfers in red, drawn on a canvas. Keeps at most MAX events; shows the
  // last WINDOW seconds (0: everything kept). Writes what it drew to
  // SUMMARY's data-bars / data-transfers / data-rows attributes.
  function TaskStream(canvas, opts) {
    opts = opts || {};
    this.canvas = canvas;
    this.max = opts.max || 20000;
    this.window = opts.window || 0;
    this.rowHeight = opts.rowHeight || 18;
    this.summary = opts.summary || null;
    this.clickable = opts.clickable !== false;
    this.events = [];
    this.rows = {}; // "worker\u0000thread" -> {worker, thread}
    this.drawn = [];
    this.pending = false;
    var self = this;
    canvas.addEventListener("mousemove", function (ev) {
      var b = self.hit(ev);
      canvas.title = b
        ? (b.kind === "transfer" ? "transfer of " : "") +
          b.key + "\n" + LD.fmtSeconds(b.stop - b.start) +
          (b.bytes ? "  " + LD.fmtBytes(b.bytes) : "") +
          "\n" + b.worker + " thread " + b.thread +
          (b.status === "erred" ? "\nerred" : "")
        : "";
      canvas.style.cursor = b && self.clickable ? "pointer" : "default";
    });
    canvas.addEventListener("click", function (ev) {
      var b = self.hit(ev);
      if (b && self.clickable) window.location.href = "/key/" + encodeURIComponent(b.key);
    });
  }

  function rowId(worker, thread) {
    return String(worker) + "\u0000" + String(thread);
  }

  // Makes sure every thread of WORKERS ([{address, nthreads}]) has a row.
  TaskStream.prototype.setWorkers = function (workers) {
    var self = this;
    (workers || []).forEach(function (w) {
      for (var t = 0; t < (w.nthreads || 1); t++) {
        var id = rowId(w.address, t);
        if (!self.rows[id]) self.rows[id] = { worker: w.address, thread: t };
      }
    });
    this.redraw();
  };

  TaskStream.prototype.add = function (events) {
    for (var i = 0; i < events.length; i++) {
      var e = events[i];
      if (e.start === undefined || e.stop === undefined) continue;
      var thread = e.thread === undefined || e.thread === null ? 0 : e.thread;
      e.thread = thread;
      var id = rowId(e.worker, thread);
      if (!this.rows[id]) this.rows[id] = { worker: e.worker, thread: thread };
      this.events.push(e);
    }
    if (this.events.length > this.max * 1.25) this.events.splice(0, this.events.length - this.max);
    this.redraw();
  };

  // Coalesces redraws into one per animation frame (immediately when hidden).
  TaskStream.prototype.redraw = function () {
    if (this.pending) return;
    this.pending = true;
    var self = this;
    var go = function () {
      self.pending = false;
      self.draw();
    };
    if (document.hidden || !window.requestAnimationFrame) setTimeout(go, 0);
    else window.requestAnimationFrame(go);
  };

  TaskStream.prototype.rowList = function () {
    var self = this;
    return Object.keys(this.rows)
      .map(function (k) {
        return self.rows[k];
      })
      .sort(function (a, b) {
        if (a.worker !== b.worker) return String(a.worker) < String(b.worker) ? -1 : 1;
        return a.thread - b.thread;
      });
  };

  TaskStream.prototype.draw = function () {
    var canvas = this.canvas;
    var rows = this.rowList();
    var index = {};
    rows.forEach(function (r, i) {
      index[rowId(r.worker, r.thread)] = i;
    });
    var label = 150;
    var axis = 20;
    var rh = this.rowHeight;
    var cssW = canvas.parentNode ? canvas.parentNode.clientWidth || 800 : 800;
    var cssH = Math.max(rows.length, 1) * rh + axis;
    var dpr = window.devicePixelRatio || 1;
    canvas.style.width = cssW + "px";
    canvas.style.height = cssH + "px";
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
    var g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, cssW, cssH);
    g.font = "11px sans-serif";
    g.textBaseline = "middle";
    var t1 = 0;
    var t0 = Infinity;
    var ev = this.events;
    for (var i = 0; i < ev.length; i++) {
      if (ev[i].stop > t1) t1 = ev[i].stop;
      if (ev[i].start < t0) t0 = ev[i].start;
    }
    if (this.window && t1 - t0 > this.window) t0 = t1 - this.window;
    if (!(t0 < t1)) {
      t0 = 0;
      t1 = 1;
    }
    var plotW = cssW - label - 10;
    var sx = plotW / (t1 - t0);
    // rows: alternating background, worker/thread labels
    rows.forEach(function (r, k) {
      g.fillStyle = k % 2 ? "#fafafa" : "#f2f2f2";
      g.fillRect(label, k * rh, plotW, rh);
      g.fillStyle = "#333";
      var name = String(r.worker).replace(/^[a-z]+:\/\//, "");
      if (name.length > 18) name = "…" + name.slice(-17);
      g.fillText(name + " #" + r.thread, 4, k * rh + rh / 2);
    });
    var drawn = [];
    var nbars = 0;
    var ntransfers = 0;
    for (var j = 0; j < ev.length; j++) {
      var e = ev[j];
      if (e.stop < t0) continue;
      var row = index[rowId(e.worker, e.thread)];
      if (row === undefined) continue;
      var x = label + (Math.max(e.start, t0) - t0) * sx;
      var w = Math.max((e.stop - Math.max(e.start, t0)) * sx, 1);
      var transfer = e.kind === "transfer";
      var y = row * rh + (transfer ? rh * 0.55 : 2);
      var h = transfer ? rh * 0.4 : rh - 4;
      g.fillStyle = transfer ? LD.TRANSFER : e.status === "erred" ? LD.ERRED : LD.prefixColor(e.prefix);
      g.fillRect(x, y, w, h);
      drawn.push({ x: x, y: y, w: w, h: h, e: e });
      if (transfer) ntransfers++;
      else nbars++;
    }
    // time axis
    g.fillStyle = "#555";
    g.textBaseline = "top";
    var span = t1 - t0;
    var step = Math.pow(10, Math.floor(Math.log(span / 4) / Math.LN10));
    if (span / step > 10) step *= 2;
    if (span / step > 10) step *= 2.5;
    for (var tt = Math.ceil(t0 / step) * step; tt <= t1 + 1e-9; tt += step) {
      var tx = label + (tt - t0) * sx;
      g.fillRect(tx, rows.length * rh, 1, 4);
      g.fillText(LD.fmtSeconds(tt), tx + 2, rows.length * rh + 5);
    }
    this.drawn = drawn;
    if (this.summary) {
      this.summary.setAttribute("data-bars", nbars);
      this.summary.setAttribute("data-transfers", ntransfers);
      this.summary.setAttribute("data-rows", rows.length);
    }
  };

  // The bar under mouse event EV, or null.
  TaskStream.prototype.hit = function (ev) {
    var r = this.canvas.getBoundingClientRect();
    var x = ev.clientX - r.left;
    var y = ev.clientY - r.top;
    for (var i = this.drawn.length - 1; i >= 0; i--) {
      var d = this.drawn[i];
      if (x >= d.x - 1 && x <= d.x + d.w + 1 && y >= d.y && y <= d.y + d.h) return d.e;
    }
    return null;
  };
  LD.TaskStream = TaskStream;

  /* ------------------------------------------------------------------ progress */

  // Progress bars per task prefix into CONTAINER: stored (memory), processing,
  // erred and waiting parts of each prefix's total, with the counts. Each row
  // carries data-prefix / data-waiting / data-processing / data-memory /
  // data-erred / data-total.
  LD.renderProgress = function (container, prefixes) {
    LD.clear(container);
    prefixes = (prefixes || []).slice().sort(function (a, b) {
      return a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0;
    });
    if (!prefixes.length) container.appendChild(el("p", { class: "empty" }, "no tasks"));
    prefixes.forEach(function (p) {
      var total = p.total || 0;
      var parts = [
        ["memory", p.memory || 0, LD.prefixColor(p.prefix)],
        ["released", p.released || 0, LD.prefixColor(p.prefix) + ";opacity:0.45"],
        ["processing", p.processing || 0, "#9edf9e"],
        ["erred", p.erred || 0, LD.STATE_COLORS.erred],
      ];
      var bar = el("div", { class: "pbar" });
      parts.forEach(function (q) {
        if (!q[1] || !total) return;
        bar.appendChild(
          el("div", {
            class: "part " + q[0],
            style: "width:" + ((100 * q[1]) / total).toFixed(2) + "%;background:" + q[2],
            title: q[1] + " " + q[0],
          })
        );
      });
      var done = (p.memory || 0) + (p.released || 0);
      container.appendChild(
        el(
          "div",
          {
            class: "prefix-row",
            "data-prefix": p.prefix,
            "data-waiting": p.waiting || 0,
            "data-processing": p.processing || 0,
            "data-memory": p.memory || 0,
            "data-erred": p.erred || 0,
            "data-total": total,
          },
          [
            el("div", { class: "plabel" }, LD.prefixLink(p.prefix)),
            bar,
            el(
              "div",
              { class: "pcount" },
              done + " / " + total +
                (p.processing ? "  ·  " + p.processing + " processing" : "") +
                (p.waiting ? "  ·  " + p.waiting + " waiting" : "") +
                (p.erred ? "  ·  " + p.erred + " erred" : "")
            ),
          ]
        )
      );
    });
  };

  /* ------------------------------------------------------- per-worker bar lists */

  // Horizontal bars, one per item: ITEMS [{label, parts: [[value, colour, title]],
  // text, attrs}], scaled to MAXV (or the largest sum).
  LD.renderBars = function (container, items, maxv) {
    LD.clear(container);
    var m = maxv || 0;
    if (!m) {
      items.forEach(function (it) {
        var s = 0;
        it.parts.forEach(function (p) {
          s += p[0];
        });
        if (s > m) m = s;
      });
    }
    if (!items.length) container.appendChild(el("p", { class: "empty" }, "no workers"));
    items.forEach(function (it) {
      var bar = el("div", { class: "pbar" });
      it.parts.forEach(function (p) {
        if (!p[0] || !m) return;
        bar.appendChild(
          el("div", {
            class: "part",
            style: "width:" + Math.min((100 * p[0]) / m, 100).toFixed(2) + "%;background:" + p[1],
            title: p[2],
          })
        );
      });
      var attrs = { class: "bar-row" };
      for (var k in it.attrs || {}) attrs[k] = it.attrs[k];
      container.appendChild(
        el("div", attrs, [el("div", { class: "plabel", title: it.label }, it.label), bar, el("div", { class: "pcount" }, it.text)])
      );
    });
  };

  LD.workerName = function (w) {
    return w.name && w.name !== w.address ? w.name : String(w.address).replace(/^[a-z]+:\/\//, "");
  };

  /* -------------------------------------------------------------- uPlot charts */

  // A time-series chart in CONTAINER (uPlot when loaded). SERIES: [{label,
  // stroke}]. Returns {push(t, values), set(data)} keeping the last KEEP points.
  LD.chart = function (container, series, opts) {
    opts = opts || {};
    var keep = opts.keep || 300;
    var data = [[]];
    series.forEach(function () {
      data.push([]);
    });
    var plot = null;
    function make() {
      if (!window.uPlot || plot) return;
      var w = container.clientWidth || 400;
      plot = new window.uPlot(
        {
          width: w,
          height: opts.height || 160,
          scales: { x: { time: false } },
          axes: [{ label: opts.xlabel || "seconds" }, { label: opts.ylabel || "" }],
          series: [{}].concat(
            series.map(function (s) {
              return {
                label: s.label,
                stroke: s.stroke,
                fill: s.fill,
                width: 1.5,
                // points only (a scatter), steps, or lines
                paths: s.points
                  ? function () {
                      return null;
                    }
                  : s.stepped && window.uPlot.paths.stepped
                  ? window.uPlot.paths.stepped({ align: 1 })
                  : undefined,
                points: s.points ? { show: true, size: 4, fill: s.stroke } : { show: false },
              };
            })
          ),
        },
        data,
        container
      );
    }
    return {
      push: function (t, values) {
        data[0].push(t);
        for (var i = 0; i < values.length; i++) data[i + 1].push(values[i]);
        if (data[0].length > keep) data.forEach(function (d) {
          d.splice(0, d.length - keep);
        });
        make();
        if (plot) plot.setData(data);
      },
      set: function (d) {
        data = d;
        make();
        if (plot) plot.setData(data);
      },
    };
  };

  // The number of tasks running at each moment of EVENTS (computes only):
  // uPlot data [[t...], [n...]] of the step function.
  LD.occupancy = function (events) {
    var marks = [];
    events.forEach(function (e) {
      if (e.kind === "transfer") return;
      marks.push([e.start, 1]);
      marks.push([e.stop, -1]);
    });
    marks.sort(function (a, b) {
      return a[0] - b[0] || a[1] - b[1];
    });
    var ts = [];
    var ns = [];
    var n = 0;
    marks.forEach(function (m) {
      n += m[1];
      if (ts.length && ts[ts.length - 1] === m[0]) ns[ns.length - 1] = n;
      else {
        ts.push(m[0]);
        ns.push(n);
      }
    });
    // at most 2,000 points: keep the extremes of each bucket's first point
    if (ts.length > 2000) {
      var k = Math.ceil(ts.length / 2000);
      var t2 = [];
      var n2 = [];
      for (var i = 0; i < ts.length; i += k) {
        var mx = 0;
        for (var j = i; j < Math.min(i + k, ts.length); j++) if (ns[j] > mx) mx = ns[j];
        t2.push(ts[i]);
        n2.push(mx);
      }
      ts = t2;
      ns = n2;
    }
    return [ts, ns];
  };

  // Per prefix {prefix, count, total, mean, max} of EVENTS' computes, by total.
  LD.profile = function (events) {
    var acc = {};
    events.forEach(function (e) {
      if (e.kind === "transfer") return;
      var a = acc[e.prefix] || (acc[e.prefix] = { prefix: e.prefix, count: 0, total: 0, max: 0 });
      var d = e.stop - e.start;
      a.count++;
      a.total += d;
      if (d > a.max) a.max = d;
    });
    return Object.keys(acc)
      .map(function (k) {
        var a = acc[k];
        a.mean = a.total / a.count;
        return a;
      })
      .sort(function (x, y) {
        return y.total - x.total;
      });
  };

  // A table of LD.profile rows into CONTAINER.
  LD.renderProfile = function (container, rows) {
    LD.clear(container);
    var all = 0;
    rows.forEach(function (r) {
      all += r.total;
    });
    var tb = el("tbody");
    rows.forEach(function (r) {
      tb.appendChild(
        el("tr", { class: "profile-row", "data-prefix": r.prefix, "data-count": r.count }, [
          el("td", null, LD.prefixLink(r.prefix)),
          el("td", { class: "num" }, r.count),
          el("td", { class: "num" }, LD.fmtSeconds(r.total)),
          el("td", { class: "num" }, LD.fmtSeconds(r.mean)),
          el("td", { class: "num" }, LD.fmtSeconds(r.max)),
          el("td", { class: "num" }, all > 0 ? ((100 * r.total) / all).toFixed(1) + " %" : "-"),
        ])
      );
    });
    container.appendChild(
      el("table", { class: "grid" }, [
        el("thead", null, el("tr", null, ["prefix", "tasks", "total", "mean", "max", "share"].map(function (h) {
          return el("th", null, h);
        }))),
        tb,
      ])
    );
  };
})();
