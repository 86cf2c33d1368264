-- Functional specs of ldask-scheduler's dashboard server (docs/dashboard.md):
-- a scheduler with a token and two workers on 127.0.0.1 run a computation
-- (a map, a task fed from both workers so data moves, one task that
-- raises); a small HTTP client over raw sockets then checks /health,
-- /metrics, the JSON API's counts and shapes, the task stream's events,
-- the page of an erred key, the token flow (login page, ?token= once, the
-- cookie, the form, a bearer header), static files and what is refused
-- (path traversal, oversize headers and URLs, other methods and hosts, too
-- many connections and streams).
local cjson = require "cjson"
local helpers = require "helpers"
local ldask = require "ldask"
local socket = require "socket"
local wire = require "wire"

local opts = require("ldask.client").options
local sh = helpers.shell_quote

local read_all, eventually = helpers.read_all, helpers.eventually

-- The dashboard port a scheduler printed in LOG.
local function dashboard_port(log)
  local port
  eventually(function()
    port = read_all(log):match("dashboard at http://127%.0%.0%.1:(%d+)/status")
    return port
  end, 10)
  return assert(tonumber(port), "no dashboard line in the scheduler's output: " .. read_all(log))
end

-- Sends RAW (a whole request) to PORT and reads the answer until the
-- server closes: status, headers (lower-case names; set-cookie kept),
-- body.
local function raw_http(port, raw)
  local s = assert(socket.connect("127.0.0.1", port))
  s:settimeout(5)
  s:send(raw)
  local chunks = {}
  while true do
    local data, err, partial = s:receive(65536)
    if data then chunks[#chunks + 1] = data
    else
      if partial and #partial > 0 then chunks[#chunks + 1] = partial end
      if err == "closed" or err == "timeout" then break end
    end
  end
  s:close()
  local text = table.concat(chunks)
  local head, body = text:match("^(.-)\r\n\r\n(.*)$")
  if not head then return nil, {}, text end
  local status = tonumber(head:match("^HTTP/1%.1 (%d+)"))
  local headers = {}
  for name, value in head:gmatch("\r\n([^:\r\n]+): ([^\r\n]*)") do headers[name:lower()] = value end
  return status, headers, body
end

-- GET PATH with extra header lines HEADERS (a table of "Name: value").
local function get(port, path, headers, method)
  local lines = { (method or "GET") .. " " .. path .. " HTTP/1.1", "Host: 127.0.0.1:" .. port,
    "Connection: close" }
  for _, h in ipairs(headers or {}) do lines[#lines + 1] = h end
  return raw_http(port, table.concat(lines, "\r\n") .. "\r\n\r\n")
end

local function get_json(port, path, cookie)
  local status, headers, body = get(port, path, cookie and { "Cookie: " .. cookie } or nil)
  local ok, doc = pcall(cjson.decode, body)
  assert(ok, "not JSON from " .. path .. " (" .. tostring(status) .. "): " .. body)
  return doc, status, headers
end

-- The value of metric LINE_PREFIX (e.g. 'ldask_tasks{state="memory"}') in TEXT.
local function metric(text, line_prefix)
  for line in text:gmatch("[^\n]+") do
    if line:sub(1, #line_prefix + 1) == line_prefix .. " " then return tonumber(line:sub(#line_prefix + 2)) end
  end
end

local function inc(x) return x + 1 end
local function boom() error("boom: this task raises on purpose") end

describe("the dashboard server", function()
  local token_file = wire.token_file()
  local token = "0123456789abcdef0123456789abcdef"
  local fixture = helpers.root .. "/spec/fixtures/dashboard"
  local sched, port, c, cookie, wa_pid, wb_pid, addr_a, addr_b
  local map_futures, both, erred

  setup(function()
    sched = wire.start_scheduler("--dashboard-address 127.0.0.1:0 --auth-token-file " .. sh(token_file),
      "export LDASK_DASHBOARD_DIR=" .. sh(fixture) .. ";")
    port = dashboard_port(sched.log)
    wa_pid = wire.start_worker(sched.address, "--nthreads 2 --name w-a --auth-token-file " .. sh(token_file))
    wb_pid = wire.start_worker(sched.address, "--nthreads 2 --name w-b --auth-token-file " .. sh(token_file))
    c = ldask.Client(sched.address, { auth_token_file = token_file, set_as_default = false })
    local info = c:wait_for_workers(2, 20)
    for _, w in ipairs(info.workers) do
      if w.name == "w-a" then addr_a = w.address else addr_b = w.address end
    end
    local xs = {}
    for i = 1, 20 do xs[i] = i end
    map_futures = c:map(inc, xs)
    c:gather(map_futures)
    -- one input on each worker and a task on w-a that needs both: a transfer from w-b
    local a = c:submit(inc, 100, opts { workers = { "w-a" }, key = "left-input" })
    local b = c:submit(inc, 200, opts { workers = { "w-b" }, key = "right-input" })
    both = c:submit(function(x, y) return x + y end, a, b, opts { workers = { "w-a" }, key = "both-sum" })
    assert.equal(302, both:result(20))
    erred = c:submit(boom, opts { key = "boom-1" })
    assert.has_error(function() erred:result(20) end)
    -- the heartbeats carry the transfers, CPU and the workers' clocks (every 0.5 s)
    socket.sleep(1.2)
  end)

  teardown(function()
    if c then c:close() end
    for _, pid in ipairs({ wa_pid, wb_pid }) do if pid then os.execute("kill -TERM " .. pid .. " 2>/dev/null") end end
    if sched then
      local _, log = sched.stop()
      assert.is_falsy(wire.sanitizer_report(log), log)
    end
  end)

  it("answers /health without the token, and nothing else without it", function()
    local status, headers, body = get(port, "/health")
    assert.equal(200, status)
    assert.equal("ok", body)
    assert.truthy(headers["content-type"]:find("text/plain", 1, true))
    local doc, st = get_json(port, "/api/v1/status")
    assert.equal(401, st)
    assert.truthy(doc.error:find("token", 1, true))
    status, _, body = get(port, "/metrics")
    assert.equal(401, status)
    status, headers, body = get(port, "/status")
    assert.equal(401, status)
    assert.truthy(headers["content-type"]:find("text/html", 1, true))
    assert.truthy(body:find('<form method="post" action="/login">', 1, true), body)
    assert.falsy(body:find(token, 1, true))
  end)

  it("takes ?token= once: sets an HttpOnly SameSite=Strict cookie and drops it from the URL", function()
    local status, headers = get(port, "/workers?x=1&token=wrong-token")
    assert.equal(401, status)
    assert.is_nil(headers["set-cookie"])
    status, headers = get(port, "/workers?x=1&token=" .. token)
    assert.equal(302, status)
    assert.equal("/workers?x=1", headers.location)
    local sc = headers["set-cookie"]
    assert.truthy(sc:find("HttpOnly", 1, true) and sc:find("SameSite=Strict", 1, true), sc)
    assert.falsy(sc:find(token, 1, true), "the cookie holds a derived value, not the token")
    cookie = sc:match("^([^;]+)")
    local doc, st = get_json(port, "/api/v1/status", cookie)
    assert.equal(200, st)
    assert.equal(2, doc.workers)
    -- a forged cookie is refused
    local _, st2 = get_json(port, "/api/v1/status", "ldask_dashboard=" .. string.rep("0", 64))
    assert.equal(401, st2)
  end)

  it("logs in through the form, and scrapers through a bearer header", function()
    local form = "token=" .. token .. "%0A&next=%2Fgraph"
    local status, headers = raw_http(port, "POST /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" ..
      "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " .. #form .. "\r\n\r\n" .. form)
    assert.equal(303, status)
    assert.equal("/graph", headers.location)
    assert.truthy(headers["set-cookie"]:find("ldask_dashboard=", 1, true))
    form = "token=nope&next=%2F%2Fevil.example"
    status = raw_http(port, "POST /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" ..
      "Content-Length: " .. #form .. "\r\n\r\n" .. form)
    assert.equal(401, status)
    local st, _, body = get(port, "/metrics", { "Authorization: Bearer " .. token })
    assert.equal(200, st)
    assert.truthy(body:find("ldask_workers 2", 1, true))
    st = get(port, "/metrics", { "Authorization: Bearer not-it" })
    assert.equal(401, st)
  end)

  it("/metrics counts tasks by state, workers, memory, transfers, in Prometheus text format", function()
    local status, headers, body = get(port, "/metrics", { "Cookie: " .. cookie })
    assert.equal(200, status)
    assert.truthy(headers["content-type"]:find("version=0.0.4", 1, true))
    for _, name in ipairs({ "ldask_tasks", "ldask_workers", "ldask_worker_memory_bytes",
      "ldask_worker_spilled_bytes", "ldask_transfer_bytes_total", "ldask_events_dropped_total",
      "ldask_tasks_completed_total" }) do
      assert.truthy(body:find("# HELP " .. name .. " ", 1, true), name)
      assert.truthy(body:find("# TYPE " .. name .. " ", 1, true), name)
    end
    assert.equal(2, metric(body, "ldask_workers"))
    -- 20 map results, the two inputs and their sum are held (the client has futures)
    assert.equal(23, metric(body, 'ldask_tasks{state="memory"}'))
    assert.equal(1, metric(body, 'ldask_tasks{state="erred"}'))
    assert.equal(0, metric(body, 'ldask_tasks{state="processing"}'))
    assert.equal(23, metric(body, "ldask_tasks_completed_total"))
    assert.equal(0, metric(body, "ldask_events_dropped_total"))
    assert.is_true(metric(body, "ldask_transfer_bytes_total") > 0)
    assert.is_true(metric(body, 'ldask_worker_memory_bytes{worker="' .. addr_a .. '"}') > 0)
  end)

  it("/api/v1/status and /api/v1/workers have the counts and fields of the contract", function()
    local st = get_json(port, "/api/v1/status", cookie)
    assert.equal(sched.address, st.scheduler)
    assert.equal(2, st.workers)
    assert.equal(4, st.threads)
    assert.same({ 0, 0, 23, 1 }, { st.tasks.waiting, st.tasks.processing, st.tasks.memory, st.tasks.erred })
    local by = {}
    for _, p in ipairs(st.prefixes) do by[p.prefix] = p end
    assert.same({ prefix = "inc", waiting = 0, processing = 0, memory = 20, erred = 0, released = 0,
      cancelled = 0, total = 20 }, by.inc)
    assert.equal(1, by.boom.erred)
    assert.is_true(st.memory > 0)
    assert.equal(0, st.events_dropped)
    assert.is_true(st.now > 0)
    local ws = get_json(port, "/api/v1/workers", cookie)
    assert.equal(2, #ws)
    local stored = 0
    for _, w in ipairs(ws) do
      assert.truthy(w.name == "w-a" or w.name == "w-b")
      assert.equal(2, w.nthreads)
      assert.equal(0, w.processing)
      assert.is_true(w.last_seen >= 0 and w.last_seen < 5)
      assert.is_true(w.cpu >= 0)
      assert.equal("number", type(w.memory))
      assert.equal(0, w.spilled)
      stored = stored + w.stored
    end
    assert.is_true(stored >= 23, "every held result is on a worker (w-a holds a copy of right-input too)")
  end)

  it("/api/v1/task_stream has every compute with worker, thread and start <= stop, and the transfer", function()
    local ts = get_json(port, "/api/v1/task_stream?since=0", cookie)
    local computes, transfer, erred_ev = {}, nil, nil
    for _, e in ipairs(ts.events) do
      assert.is_true(e.start <= e.stop, e.key)
      assert.is_true(e.worker == addr_a or e.worker == addr_b, e.worker)
      if e.kind == "compute" then
        assert.is_true(e.thread == 0 or e.thread == 1, e.key)
        if e.status == "erred" then erred_ev = e else computes[e.key] = e end
      elseif e.kind == "transfer" then
        transfer = e
      end
    end
    local n = 0
    for key, e in pairs(computes) do
      n = n + 1
      if key:match("^inc%-") then assert.equal("inc", e.prefix) end
    end
    assert.equal(23, n)
    assert.equal("w-a", computes["both-sum"] and computes["both-sum"].worker == addr_a and "w-a")
    assert.equal("boom-1", erred_ev.key)
    assert.equal("boom", erred_ev.prefix)
    assert.truthy(transfer, "a transfer event from w-b to w-a")
    assert.equal("right-input", transfer.key)
    assert.equal(addr_a, transfer.worker)
    assert.equal(addr_b, transfer.peer)
    assert.is_true(transfer.bytes > 0)
    assert.equal(#ts.events, ts.seq)
    -- since=SEQ gives the events after it only
    local later = get_json(port, "/api/v1/task_stream?since=" .. (ts.seq - 2), cookie)
    assert.equal(2, #later.events)
    assert.equal(ts.seq - 1, later.events[1].seq)
    local none = get_json(port, "/api/v1/task_stream?since=" .. ts.seq, cookie)
    assert.equal(0, #none.events)
    local bad, st = get_json(port, "/api/v1/task_stream?since=abc", cookie)
    assert.equal(400, st)
    assert.truthy(bad.error:find("since", 1, true))
  end)

  it("/api/v1/graph has the nodes and edges of the computation", function()
    local g = get_json(port, "/api/v1/graph", cookie)
    assert.is_false(g.truncated)
    local ix = {}
    for i, node in ipairs(g.nodes) do ix[node.key] = i - 1 end
    assert.equal(24, #g.nodes)
    assert.equal("memory", g.nodes[ix["both-sum"] + 1].state)
    assert.equal("erred", g.nodes[ix["boom-1"] + 1].state)
    local into_sum = {}
    for _, e in ipairs(g.edges) do
      if e[2] == ix["both-sum"] then into_sum[#into_sum + 1] = g.nodes[e[1] + 1].key end
    end
    table.sort(into_sum)
    assert.same({ "left-input", "right-input" }, into_sum)
  end)

  it("/api/v1/key/<key> shows an erred key's error, and who has a key and its dependencies", function()
    local k = get_json(port, "/api/v1/key/boom-1", cookie)
    assert.equal("erred", k.state)
    assert.equal("boom", k.prefix)
    assert.truthy(k.error:find("boom: this task raises on purpose", 1, true), k.error)
    assert.equal("string", type(k.traceback))
    local s = get_json(port, "/api/v1/key/both-sum", cookie)
    assert.equal("memory", s.state)
    assert.same({ addr_a }, s.who_has)
    table.sort(s.dependencies)
    assert.same({ "left-input", "right-input" }, s.dependencies)
    local l = get_json(port, "/api/v1/key/left-input", cookie)
    assert.same({ "both-sum" }, l.dependents)
    local missing, st = get_json(port, "/api/v1/key/" .. "no%20such%2Fkey", cookie)
    assert.equal(404, st)
    assert.equal("no such/key", missing.key)
  end)

  it("escapes keys in JSON: quotes, control bytes, '<', UTF-8 kept, invalid UTF-8 replaced", function()
    local odd = 'we"ird\\key\n<b>é'
    local f = c:submit(inc, 1, opts { key = odd })
    local bad = c:submit(inc, 2, opts { key = "bad\255key" })
    assert.equal(2, f:result(10))
    assert.equal(3, bad:result(10))
    local enc = odd:gsub("[^%w]", function(ch) return ("%%%02X"):format(ch:byte()) end)
    local status, _, body = get(port, "/api/v1/key/" .. enc, { "Cookie: " .. cookie })
    assert.equal(200, status)
    assert.falsy(body:find("<b>", 1, true), "'<' is escaped")
    assert.equal(odd, cjson.decode(body).key)
    local k = get_json(port, "/api/v1/key/bad%FFkey", cookie)
    assert.equal("bad\239\191\189key", k.key)
    f:release(); bad:release()
  end)

  it("streams updates as Server-Sent Events, at most 4 at a time", function()
    local socks = {}
    for i = 1, 5 do
      local s = assert(socket.connect("127.0.0.1", port))
      s:settimeout(5)
      s:send("GET /api/v1/events HTTP/1.1\r\nHost: localhost\r\nCookie: " .. cookie .. "\r\n\r\n")
      socks[i] = s
      socket.sleep(0.05)
    end
    local first = socks[1]:receive("*l")
    assert.equal("HTTP/1.1 200 OK", first)
    local data
    for _ = 1, 20 do
      local line = socks[1]:receive("*l")
      if line and line:sub(1, 6) == "data: " then data = cjson.decode(line:sub(7)); break end
    end
    assert.truthy(data, "an update event")
    assert.equal(2, data.status.workers)
    assert.equal("table", type(data.task_stream.events))
    assert.is_true(#data.task_stream.events > 0)
    local fifth = socks[5]:receive("*l")
    assert.equal("HTTP/1.1 503 Service Unavailable", fifth)
    for _, s in ipairs(socks) do s:close() end
  end)

  it("gives an event stream the newest 2,000 events after since=SEQ, counting those it skipped", function()
    local xs = {}
    for i = 1, 2500 do xs[i] = i end
    local fs = c:map(inc, xs)
    c:gather(fs)
    local last = get_json(port, "/api/v1/status", cookie).seq
    assert.is_true(last > 2500)
    local function first_update(query)
      local s = assert(socket.connect("127.0.0.1", port))
      s:settimeout(5)
      s:send("GET /api/v1/events" .. query .. " HTTP/1.1\r\nHost: localhost\r\nCookie: " .. cookie .. "\r\n\r\n")
      local head = s:receive("*l")
      local data
      for _ = 1, 20 do
        local line = s:receive("*l")
        if line and line:sub(1, 6) == "data: " then data = cjson.decode(line:sub(7)); break end
        if line == nil then break end
      end
      s:close()
      return head, data
    end
    local head, d = first_update("?since=0")
    assert.equal("HTTP/1.1 200 OK", head)
    local ts = d.task_stream
    assert.equal(2000, #ts.events)
    assert.is_true(ts.seq >= last)
    assert.equal(ts.seq - 1999, ts.events[1].seq)
    assert.equal(ts.seq, ts.events[2000].seq)
    assert.equal(ts.seq - 2000, ts.skipped)
    assert.is_false(ts.more)
    -- after SEQ: only what came later, nothing skipped
    _, d = first_update("?since=" .. (ts.seq - 5))
    assert.equal(5, #d.task_stream.events)
    assert.equal(0, d.task_stream.skipped)
    -- the task_stream API still gives the oldest first, in pages
    local page = get_json(port, "/api/v1/task_stream?since=0", cookie)
    assert.equal(0, page.skipped)
    local bad = raw_http(port, "GET /api/v1/events?since=-1 HTTP/1.1\r\nHost: localhost\r\nCookie: " .. cookie
      .. "\r\nConnection: close\r\n\r\n")
    assert.equal(400, bad)
    for i = 1, #fs do fs[i]:release() end
  end)

  it("serves the pages and static files of its folder, and nothing outside it", function()
    local status, headers, body = get(port, "/status", { "Cookie: " .. cookie })
    assert.equal(200, status)
    assert.truthy(headers["content-type"]:find("text/html", 1, true))
    assert.truthy(body:find("fixture folder", 1, true))
    status, headers = get(port, "/key/" .. "boom-1", { "Cookie: " .. cookie })
    assert.equal(200, status)
    status, headers, body = get(port, "/static/app.js", { "Cookie: " .. cookie })
    assert.equal(200, status)
    assert.truthy(headers["content-type"]:find("text/javascript", 1, true))
    status, headers = get(port, "/", { "Cookie: " .. cookie })
    assert.equal(302, status)
    assert.equal("/status", headers.location)
    for _, evil in ipairs({ "/static/../dashboard_api_spec.lua", "/static/%2e%2e/%2e%2e/README.md",
      "/static//etc/passwd", "/static/app.js%00.html", "/static/.hidden", "/static/a/../app.js",
      "/static/..%5c..%5cREADME.md" }) do
      local st, _, b = get(port, evil, { "Cookie: " .. cookie })
      assert.equal(404, st, evil)
      assert.falsy(b:find("describe(", 1, true), evil)
    end
  end)

  it("refuses oversize headers (431), long URLs (414), other methods (405) and foreign hosts (403)", function()
    local status = get(port, "/health", { "X-Filler: " .. string.rep("a", 9000) })
    assert.equal(431, status)
    status = get(port, "/api/v1/key/" .. string.rep("k", 3000), { "Cookie: " .. cookie })
    assert.equal(414, status)
    status = get(port, "/api/v1/status", { "Cookie: " .. cookie }, "DELETE")
    assert.equal(405, status)
    status = raw_http(port, "GET /api/v1/status HTTP/1.1\r\nHost: evil.example:" .. port ..
      "\r\nCookie: " .. cookie .. "\r\nConnection: close\r\n\r\n")
    assert.equal(403, status)
    status = raw_http(port, "this is not HTTP\r\n\r\n")
    assert.equal(400, status)
  end)

  it("bounds its connections: beyond 64 open ones it answers 503, then serves again", function()
    local socks = {}
    for i = 1, 70 do socks[i] = assert(socket.connect("127.0.0.1", port)) end
    socks[70]:settimeout(5)
    local line = socks[70]:receive("*l")
    assert.equal("HTTP/1.1 503 Service Unavailable", line)
    for _, s in ipairs(socks) do s:close() end
    assert.is_true(eventually(function() return get(port, "/health") == 200 end, 5))
  end)

  it("keeps a connection alive across requests", function()
    local s = assert(socket.connect("127.0.0.1", port))
    s:settimeout(5)
    for _ = 1, 3 do
      s:send("GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
      assert.equal("HTTP/1.1 200 OK", s:receive("*l"))
      local len
      repeat
        local l = s:receive("*l")
        len = len or tonumber(l:match("^Content%-Length: (%d+)"))
      until l == ""
      assert.equal("ok", s:receive(len))
    end
    s:close()
  end)

  it("gives the client its link, with the token once", function()
    local link = c:dashboard_link()
    assert.equal("http://127.0.0.1:" .. port .. "/status?token=" .. token, link)
  end)
end)

describe("the dashboard's options", function()
  it("takes another free port when 8787 is taken, and says so", function()
    local holder = socket.bind("127.0.0.1", 8787) -- nil when someone else holds it: taken either way
    local sched = wire.start_scheduler("")
    local p = dashboard_port(sched.log)
    assert.are_not.equal(8787, p)
    assert.truthy(read_all(sched.log):find("port 8787 is already in use", 1, true))
    assert.equal(200, (get(p, "/health")))
    sched.stop()
    if holder then holder:close() end
  end)

  it("--no-dashboard runs without one; a missing folder answers 500 naming it, the API still works", function()
    local sched = wire.start_scheduler("--no-dashboard")
    socket.sleep(0.2)
    assert.falsy(read_all(sched.log):find("dashboard at", 1, true))
    sched.stop()
    sched = wire.start_scheduler("--dashboard-address 127.0.0.1:0", "export LDASK_DASHBOARD_DIR=/nonexistent/dash;")
    local p = dashboard_port(sched.log)
    local status, _, body = get(p, "/status")
    assert.equal(500, status)
    assert.truthy(body:find("/nonexistent/dash", 1, true), body)
    local doc, st = get_json(p, "/api/v1/status")
    assert.equal(200, st)
    assert.equal(0, doc.workers)
    sched.stop()
  end)

  it("refuses a bad --dashboard-address and a non-loopback one without a token", function()
    local out, rc = helpers.sh(helpers.bin .. "/ldask-scheduler --dashboard-address nonsense 2>&1")
    assert.equal(2, rc)
    assert.truthy(out:find("HOST:PORT", 1, true), out)
    out, rc = helpers.sh(helpers.bin .. "/ldask-scheduler --port 0 --dashboard-address 0.0.0.0:0 2>&1")
    assert.equal(2, rc)
    assert.truthy(out:find("dashboard", 1, true), out)
  end)

  it("local clusters have a dashboard on a free port unless dashboard = false", function()
    local c = ldask.Client({ n_workers = 1, set_as_default = false })
    local link = c:dashboard_link()
    assert.truthy(link:match("^http://127%.0%.0%.1:%d+/status%?token=%x+$"), link)
    local p = tonumber(link:match(":(%d+)/"))
    assert.equal(200, (get(p, "/health")))
    assert.truthy(tostring(c):find("dashboard http://127.0.0.1:" .. p .. "/status", 1, true))
    c:close()
    c = ldask.Client({ n_workers = 1, dashboard = false, set_as_default = false })
    assert.is_nil(c:dashboard_link())
    c:close()
    assert.has_error(function() ldask.Client({ n_workers = 0, dashboard_address = 8787 }) end,
      "ldask.Client: dashboard_address must be 'HOST:PORT' (e.g. '127.0.0.1:8787'), got 8787")
  end)
end)
