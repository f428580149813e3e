-- The InfluxDB logger against real servers: Debian's influxd (1.x), started
-- by the spec in a temporary directory on free loopback ports and stopped by
-- its pid, and a one-shot HTTP listener for the 2.x request format. Also
-- the Grafana dashboard: its JSON is valid and its queries, run on the
-- server, find what the logger wrote.
local asx = require("asx")
local loggers = require("asx.loggers")
local influxd = require("helpers.influxd")
local net = require("helpers.net")
local run = require("helpers.run")
local json = require("dkjson")

-- Runs an InfluxQL query with the HTTP API (curl is one of asx's Debian
-- packages); returns the decoded JSON.
local function query(srv, db, q)
  local cmd = ("curl -sS -G '%s/query' --data-urlencode 'db=%s' --data-urlencode %q"):format(
    srv.url, db, "q=" .. q)
  local out = run.output(cmd)
  local doc = json.decode(out)
  assert(doc, "not JSON: " .. out)
  return doc
end

-- The first row of the first series of a query's result, as { column = value }.
local function first_row(doc)
  local series = doc.results and doc.results[1].series
  if not series then return nil end
  local row = {}
  for i, c in ipairs(series[1].columns) do row[c] = series[1].values[1][i] end
  return row
end

-- A trader that trades fast around 10, so a short session makes many
-- events of every kind.
local Busy = asx.Trader:extend("busy")
function Busy:cycle()
  while true do
    self:sleep(self:random() * 0.02)
    local price = 8 + self:random(0, 4)
    local r = self:random(4)
    if r == 1 then
      self:buy(self:random(3), price)
    elseif r == 2 then
      self:sell(self:random(3), price)
    elseif r == 3 then
      self:buy(1)
    else
      self:cancel_all()
    end
  end
end

-- Counts the events of each type the exchange delivers, on the generic path.
local function counter()
  return { n = {}, total = 0, send_event = function(self, t)
    self.n[t] = (self.n[t] or 0) + 1
    self.total = self.total + 1
  end }
end

describe("the InfluxDB logger with influxd 1.x", function()
  local srv
  setup(function() srv = influxd.start() end)
  teardown(function() if srv then influxd.stop(srv) end end)

  it("writes every event as its own point, and the totals match the session's", function()
    local L = assert(loggers.influxdb({ url = srv.url, db = "asx spec", batch_size = 500, quiet = true }))
    local count = counter()
    local traders = {}
    for i = 1, 20 do traders[i] = Busy:new({ money = 1000, stocks = 50 }) end
    local s = asx.session({ traders = traders, loggers = { L, count }, clock = "virtual", seed = 3,
      duration = 5 })
    s.exchange.session_id = "spec-1"
    s:run()
    assert.is_true(L:close(20))
    local sum = s:summary()
    assert.is_true(sum.trades > 100)
    assert.are.same({ written = count.total, dropped = 0 },
      { written = L:stats().written, dropped = L:stats().dropped })

    local row = first_row(query(srv, "asx spec",
      'SELECT count("amount") AS n, sum("amount") AS volume FROM "exchange" WHERE "session" = \'spec-1\''))
    assert.are.same({ n = sum.trades, volume = sum.volume }, { n = row.n, volume = row.volume })
    row = first_row(query(srv, "asx spec", 'SELECT count("id") AS n FROM "order"'))
    assert.are.equal(sum.orders, row.n)
    row = first_row(query(srv, "asx spec", 'SELECT count("remaining") AS n FROM "cancel"'))
    assert.are.equal(count.n.cancel, row.n)
    -- The session's own events (start and stop), when it sends them.
    row = first_row(query(srv, "asx spec", 'SELECT count("seed") AS n FROM "session"'))
    assert.are.equal(count.n.session or 0, row and row.n or 0)
    -- Trader ids, sides and instruments are tags: one series per buyer,
    -- seller, side and instrument.
    local doc = query(srv, "asx spec", 'SHOW TAG KEYS FROM "exchange"')
    local keys = {}
    for _, v in ipairs(doc.results[1].series[1].values) do keys[#keys + 1] = v[1] end
    assert.are.same({ "aggressor", "buyer", "instrument", "seller", "session" }, keys)
  end)

  it("is what asx-host --influx URL uses", function()
    local out = run.output(("%s -q --clock virtual --seed 9 -d 20 strategies/random_trader.lua:30 --influx '%s/?db=e2e'"
      .. " 2>&1"):format(run.HOST, srv.url))
    local trades = tonumber(out:match("\ntrades: (%d+)\n"))
    local volume = tonumber(out:match("\nvolume: (%d+)\n"))
    assert(trades and trades > 0, out)
    local written = tonumber(out:match("\ninfluxdb: (%d+) points written, 0 dropped\n$"))
    assert(written and written > trades, out)
    local row = first_row(query(srv, "e2e", 'SELECT count("amount") AS n, sum("amount") AS v FROM "exchange"'))
    assert.are.same({ trades, volume }, { row.n, row.v })
  end)

  it("at the prompt, says why flush and close cannot wait there, and sends the points by itself", function()
    -- The prompt's lines come from a FIFO, so that the spec decides when
    -- the next one comes: after the server has the point.
    local d = run.tmpdir()
    assert(os.execute(("mkfifo '%s/in'"):format(d)) == 0)
    os.execute(("('%s' -i -q --clock virtual --seed 1 <'%s/in' >'%s/out' 2>&1; echo $? >'%s/code') &")
      :format(run.HOST, d, d, d))
    local fifo = assert(io.open(d .. "/in", "w"))
    fifo:write(('L = require("asx.loggers").influxdb({ url = "%s", db = "prompt", flush_interval = 0.05 })\n')
      :format(srv.url), "me.exchange:add_logger(L)\n", "me:buy(1, 10)\n", "L:flush()\n", "L:close()\n")
    fifo:flush()
    local function orders()
      local row = first_row(query(srv, "prompt", 'SELECT count("id") AS n FROM "order"'))
      return row and row.n
    end
    assert.is_true(net.wait_until(function() return orders() == 1 end), run.read(d .. "/out"))
    fifo:write("quit()\n")
    fifo:close()
    run.wait_for("the host to exit", function() return tonumber(run.read(d .. "/code") or "") end)
    local out = run.lines(run.slurp(d .. "/out"))
    os.execute("rm -rf '" .. d .. "'")
    local why = "cannot wait for InfluxDB while a session runs on the loop that sends the points (the prompt's "
      .. "lines do): the logger sends them every flush_interval by itself, and stats() shows what is written"
    assert.are.same({ "order#1(buy 1 @ 10, filled 0, open)", 'nil\t"flush: ' .. why .. '"',
      'nil\t"close: ' .. why .. '"' }, { out[1], out[2], out[3] })
  end)

  it("at the prompt, is closed at the end of the session however it ends, its points on the server", function()
    -- A logger the user opened at the prompt and left open: its points
    -- wait for a flush an hour away when the session ends. The summary
    -- names it as it names those of the command line.
    local function lines(db)
      return ('L = require("asx.loggers").influxdb({ url = "%s", db = "%s", flush_interval = 3600 })\n'
        .. 'me.exchange:add_logger(L)\nme:sell(1, 10)\nme:buy(1, 10)\n'):format(srv.url, db)
    end
    local function counts(db)
      local out = {}
      for _, m in ipairs({ "order", "exchange", "session" }) do
        local row = first_row(query(srv, db, ('SELECT count("seq") AS n FROM "%s"'):format(m)))
        out[m] = row and row.n
      end
      return out
    end
    local want = { order = 2, exchange = 1, session = 1 }
    -- The end of its input, and quit().
    for db, script in pairs({ ["prompt eof"] = lines("prompt eof"), ["prompt quit"] = lines("prompt quit") .. "quit()\n" }) do
      local _, status, summary = run.repl(script, "--clock virtual --seed 1")
      assert.are.equal(0, status)
      assert.are.equal("influxdb: 4 points written, 0 dropped", summary[#summary], db)
      assert.are.same(want, counts(db), db)
    end
    -- SIGTERM, once the lines have run (their input stays open).
    local d = run.tmpdir()
    assert(os.execute(("mkfifo '%s/in'"):format(d)) == 0)
    os.execute(("('%s' -i -q --clock virtual --seed 1 <'%s/in' >'%s/out' 2>&1 & echo $! >'%s/pid'; wait $!; "
      .. "echo $? >'%s/code') &"):format(run.HOST, d, d, d, d))
    local fifo = assert(io.open(d .. "/in", "w"))
    -- A value: the prompt flushes those at once.
    fifo:write(lines("prompt term"), '"ran"\n')
    fifo:flush()
    run.wait_for("the lines to run", function() return (run.read(d .. "/out") or ""):find('\n"ran"\n') end)
    local pid = run.wait_for("the pid", function() return tonumber(run.read(d .. "/pid") or "") end)
    os.execute("kill -TERM " .. pid)
    run.wait_for("the host to exit", function() return tonumber(run.read(d .. "/code") or "") end)
    fifo:close()
    local out = run.lines(run.slurp(d .. "/out"))
    local code = tonumber(run.read(d .. "/code"))
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal(0, code)
    assert.are.equal("stopped by: SIGTERM", out[9])
    assert.are.equal("influxdb: 4 points written, 0 dropped", out[#out])
    assert.are.same(want, counts("prompt term"))
  end)

  it("runs the dashboard's queries on what the logger wrote", function()
    local f = assert(io.open("setup/influxdb/grafana/dashboards/asx.json"))
    local dash = json.decode(f:read("*a"))
    f:close()
    local ok = 0
    for _, panel in ipairs(dash.panels) do
      for _, target in ipairs(panel.targets) do
        local q = target.query:gsub("%$timeFilter", "time > 0"):gsub("%$__interval", "1h")
          :gsub("%$session", ".*"):gsub("%$instrument", "STOCK")
        local doc = query(srv, "asx spec", q)
        assert.is_nil(doc.results[1].error, q)
        assert.is_table(doc.results[1].series, q)
        ok = ok + 1
      end
    end
    assert.are.equal(6, ok)
    -- The candlestick's open, high, low, close and volume over the whole run.
    local q = dash.panels[1].targets[1].query:gsub("%$timeFilter", "time > 0")
      :gsub("GROUP BY.*", ""):gsub("%$session", ".*"):gsub("%$instrument", "STOCK")
    local row = first_row(query(srv, "asx spec", q))
    local all = first_row(query(srv, "asx spec", 'SELECT sum("amount") AS v FROM "exchange"'))
    assert.are.equal(all.v, row.volume)
    assert.is_true(row.low <= row.open and row.open <= row.high)
  end)

  it("creates and fills a database whose name holds double quotes", function()
    -- The name went into CREATE DATABASE "..." as it was: the statement was
    -- a syntax error, the database was never made, and no point was written.
    local name = 'my "quoted", db é'
    local L = assert(loggers.influxdb({ url = srv.url, db = name, quiet = true }))
    local ex = asx.exchange({ logger = L })
    local a = asx.trader({ exchange = ex, money = 100, stocks = 1 })
    a:sell(1, 7)
    a:buy(1)
    assert.are.same({ true }, { L:flush(10) })
    assert.are.same({ 3, 0 }, { L:stats().written, L:stats().dropped })
    assert.is_true(L:close())
    local row = first_row(query(srv, name, 'SELECT count("amount") AS n, sum("amount") AS volume FROM "exchange"'))
    assert.are.same({ 1, 1 }, { row.n, row.volume })
    local names = {}
    for _, v in ipairs(query(srv, name, "SHOW DATABASES").results[1].series[1].values) do names[v[1]] = true end
    assert.is_true(names[name])
  end)

  it("reports the server's message when it refuses a write", function()
    local L = assert(loggers.influxdb({ url = srv.url, db = "asx refuse", quiet = true }))
    -- A float price first: the integer prices of trades then conflict.
    L:send_event("exchange", { time = 0, price = 1.5, amount = 1, buyer = 1, seller = 2 })
    assert.is_true(L:flush(10))
    local ex = asx.exchange({ logger = L })
    local a = asx.trader({ exchange = ex, money = 100, stocks = 1 })
    a:sell(1, 7)
    a:buy(1, 7)
    assert.is_true(L:flush(10))
    local st = L:stats()
    -- The batch had the two orders and the trade: InfluxDB stored the orders.
    assert.are.same({ 3, 1 }, { st.written, st.dropped })
    assert.matches('^the server refused the write %(HTTP 400%): partial write: field type conflict: '
      .. 'input field "price" on measurement "exchange" is type integer, already exists as type float',
      st.error)
    assert.is_true(L:close())
  end)

  it("writes names and tags that end in a backslash as points the server takes", function()
    -- InfluxDB takes the separator after a backslash as escaped: a session
    -- id, a strategy, an event type or a field name ending in one made
    -- points the server refused ("invalid tag format"), on the C path and
    -- the Lua path. The backslash at the end is dropped, as a line break is.
    local L = assert(loggers.influxdb({ url = srv.url, db = "asx backslash", quiet = true }))
    local ex = asx.exchange({ logger = L })
    ex.session_id = "run\\"
    local a = asx.trader({ exchange = ex, money = 100, stocks = 1 })
    a:sell(1, 7)
    a:buy(1, 7)
    L:send_event("agent", { time = 1, id = 1, name = "mm#1", strategy = "mm\\", state = "started" })
    L:send_event("note\\", { time = 2, ["size\\"] = 3 })
    assert.is_true(L:flush(10))
    assert.are.same({ written = 5, dropped = 0 }, { written = L:stats().written, dropped = L:stats().dropped })
    assert.is_nil(L:stats().error)
    local row = first_row(query(srv, "asx backslash", 'SELECT count("amount") AS n FROM "exchange" WHERE "session" = \'run\''))
    assert.are.equal(1, row.n)
    row = first_row(query(srv, "asx backslash", 'SELECT count("seq") AS n FROM "agent" WHERE "strategy" = \'mm\''))
    assert.are.equal(1, row.n)
    row = first_row(query(srv, "asx backslash", 'SELECT "size" FROM "note"'))
    assert.are.equal(3, row.size)
    assert.is_true(L:close())
  end)

  it("refuses at emit an event type whose points InfluxDB would drop or refuse, naming it", function()
    -- A line that starts with '#' (after tabs or NULs, which InfluxDB
    -- skips) is a comment to the server, dropped without a word while the
    -- logger counted it written; an empty name is a line it refuses.
    local L = assert(loggers.influxdb({ url = srv.url, db = "asx types", quiet = true }))
    local ex = asx.exchange({ logger = L })
    local comment = "event type not starting with '#' expected (InfluxDB takes its points for comments)"
    local empty = "event type with a character other than a backslash, tab or NUL expected"
    for _, case in ipairs({ { "#x", comment }, { "\t#x", comment }, { "\0#", comment }, { "", empty },
        { "\\", empty }, { "\t\\", empty } }) do
      local ok, err = pcall(ex.emit, ex, case[1], { size = 1 })
      assert.is_false(ok)
      assert.are.equal(("bad argument #1 to 'emit' (%s, got %q)"):format(case[2], case[1]), err)
      ok, err = pcall(L.send_event, L, case[1], { time = 1, size = 1 })
      assert.is_false(ok)
      assert.are.equal(("bad argument #1 to 'send_event' (%s, got %q)"):format(case[2], case[1]), err)
    end
    assert.are.equal(0, ex.events)
    -- What InfluxDB does take: a tab inside, a '#' after the start, a
    -- backslash before the end.
    for _, t in ipairs({ "a\tb", "x#", "\\y", " #z" }) do ex:emit(t, { size = 1 }) end
    assert.is_true(L:flush(10))
    assert.are.same({ written = 4, dropped = 0 }, { written = L:stats().written, dropped = L:stats().dropped })
    local doc = query(srv, "asx types", "SHOW MEASUREMENTS")
    local names = {}
    for _, v in ipairs(doc.results[1].series[1].values) do names[#names + 1] = v[1] end
    assert.are.same({ " #z", "\\y", "a\tb", "x#" }, names)
    assert.is_true(L:close())
  end)

  it("goes on when the server stops, and counts the points it lost", function()
    local srv2 = influxd.start()
    local L = assert(loggers.influxdb({ url = srv2.url, db = "asx", batch_size = 20, flush_interval = 0.05,
      retry_min = 0.02, retry_max = 0.05, close_timeout = 0.3, quiet = true }))
    local count = counter()
    local traders = {}
    for i = 1, 10 do traders[i] = Busy:new({ money = 1000, stocks = 50 }) end
    -- Once the logger has written something, stop the server under it.
    local Killer = asx.Trader:extend("killer")
    function Killer:cycle()
      while L:stats().written == 0 do self:sleep(0.01) end
      influxd.kill(srv2)
    end
    traders[#traders + 1] = Killer:new({})
    local s = asx.session({ traders = traders, loggers = { L, count }, clock = "real", seed = 5,
      duration = 1 })
    s:run()
    assert.is_true(srv2.killed)
    assert.are.equal(1, s:now()) -- the session ran to its end
    local ok, err = L:close()
    assert.is_nil(ok)
    local st = L:stats()
    assert.is_true(st.written > 0)
    assert.is_true(st.dropped > 0)
    assert.are.equal(count.total, st.written + st.dropped)
    assert.matches("^%d+ points dropped at close: cannot reach the server at http://127%.0%.0%.1:%d+", err)
    assert.matches(("^influxdb: %d points written, %d dropped %%(cannot reach"):format(st.written,
      st.dropped), L:report())
    influxd.stop(srv2)
  end)
end)

describe("the InfluxDB logger with a 2.x listener", function()
  -- Starts the one-shot listener; returns its pipe and port.
  local function listener(status, body)
    local p = assert(io.popen(("env -u LD_PRELOAD luajit spec/helpers/http_listener.lua %d '%s'"):format(
      status, body or "")))
    local port, pid = p:read("*l"):match("^(%d+) (%d+)$")
    return p, tonumber(port), tonumber(pid)
  end

  it("posts the line protocol to /api/v2/write with the token", function()
    local p, port = listener(204)
    local L = assert(loggers.influxdb({ url = ("http://127.0.0.1:%d/"):format(port), org = "my org",
      bucket = "trades", token = "s3cret-t0ken", start = 1700000000, session = "s1", quiet = true }))
    local ex = asx.exchange({ logger = L })
    ex.session_id = "s1"
    -- Past the assignment's check: the tag was session=table:\ 0x...
    rawset(ex, "session_id", {})
    local a = asx.trader({ exchange = ex, money = 100, stocks = 1 })
    ex:set_time(0.25)
    a:sell(1, 7)
    a:buy(1)
    ex:emit("agent", { id = a.id, name = "t#1", strategy = "t", state = "failed", message = 'x "y"' })
    assert.is_true(L:flush(10))
    assert.are.same({ 4, 0 }, { L:stats().written, L:stats().dropped })
    assert.is_true(L:close())
    local request = p:read("*a")
    p:close()
    local head, body = request:match("^(.-\r\n)\r\n(.*)$")
    assert.matches("^POST /api/v2/write%?org=my%%20org&bucket=trades&precision=ns HTTP/1%.1\r\n", head)
    assert.matches("\r\nAuthorization: Token s3cret%-t0ken\r\n", head)
    assert.matches("\r\nContent%-Type: text/plain; charset=utf%-8\r\n", head)
    local id = a.id
    assert.are.equal(table.concat({
      ("order,instrument=STOCK,session=s1,side=sell,trader=%d id=1i,price=7i,amount=1i,seq=1i 1700000000250000000"):format(id),
      ("order,instrument=STOCK,session=s1,side=buy,trader=%d id=2i,amount=1i,seq=2i 1700000000250000001"):format(id),
      ("exchange,aggressor=buy,buyer=%d,instrument=STOCK,seller=%d,session=s1 price=7i,amount=1i,buy_order=2i,sell_order=1i,"
        .. "seq=3i 1700000000250000002"):format(id, id),
      ('agent,session=s1,state=failed,strategy=t,trader=%d name="t#1",message="x \\"y\\"",seq=4i '
        .. "1700000000250000003"):format(id),
    }, "\n") .. "\n", body)
  end)

  it("waits as long as flush is given, math.huge included", function()
    -- A number of milliseconds past uint64_t's range made the deadline
    -- come at once, and flush returned before the server had the points.
    for _, timeout in ipairs({ 1e300, math.huge }) do
      local p, port = listener(204)
      local L = assert(loggers.influxdb({ url = ("http://127.0.0.1:%d/"):format(port), org = "o", bucket = "b",
        token = "t", timeout = 1e300, flush_interval = 1e300, retry_max = 1e300, quiet = true }))
      local ex = asx.exchange({ logger = L })
      asx.trader({ exchange = ex, money = 100, stocks = 1 }):sell(1, 7)
      assert.are.same({ true }, { L:flush(timeout) })
      assert.are.same({ 1, 0 }, { L:stats().written, L:stats().dropped })
      assert.is_true(L:close())
      assert.matches("^POST /api/v2/write%?org=o&bucket=b&precision=ns HTTP/1%.1\r\n", p:read("*a"))
      p:close()
    end
  end)

  it("reports a refused token with the server's message and never prints the token", function()
    local p, port = listener(401, '{"code":"unauthorized","message":"unauthorized access"}')
    local L = assert(loggers.influxdb({ url = ("http://127.0.0.1:%d"):format(port), org = "o",
      bucket = "b", token = "s3cret-t0ken", quiet = true }))
    L:send_event("session", { time = 0, state = "start", seed = 1, clock = "real" })
    assert.is_true(L:flush(10))
    p:read("*a")
    p:close()
    local st = L:stats()
    assert.are.same({ 0, 1 }, { st.written, st.dropped })
    assert.are.equal("the server refused the write (HTTP 401): unauthorized access", st.error)
    assert.is_nil(L:report():find("s3cret", 1, true))
    assert.is_true(L:close())
  end)
end)

describe("asx.loggers.influxdb collected unclosed", function()
  it("says on stderr how many points it dropped, unless quiet", function()
    -- No server listens on port 1: nothing could have been sent anyway.
    local script = [[
      local loggers = require("asx.loggers")
      for _, quiet in ipairs({ false, true }) do
        local L = loggers.influxdb({ url = "http://127.0.0.1:1", db = "gone", quiet = quiet })
        for i = 1, 3 do L:send_event("note", { time = i }) end
      end
      collectgarbage()
      collectgarbage()
      io.stdout:write("done\n")
    ]]
    local path = run.tmpname(".lua")
    run.write(path, script)
    -- asx-lua runs a script with the build's own library, as luajit would
    -- (and, under the sanitizers, with their runtimes first).
    local out = run.output(("'%s' '%s' 2>&1"):format(run.LUA, path))
    os.remove(path)
    assert.are.equal("asx: influxdb: 3 points dropped: the logger was collected before it was closed "
      .. "(its close() sends them)\ndone\n", out)
  end)
end)

describe("asx.loggers.influxdb inside a session", function()
  it("refuses to wait for the server from inside an agent", function()
    local L = assert(loggers.influxdb({ url = ("http://127.0.0.1:%d"):format(net.free_port()), quiet = true }))
    local got = {}
    local Impatient = asx.Trader:extend("impatient")
    Impatient.cycle = function()
      got = { L:flush() }
      got[3] = select(2, L:close())
    end
    asx.session({ traders = { Impatient:new({}) }, logger = L, clock = "virtual", seed = 1 }):run()
    assert.are.same({ nil, "flush: cannot wait for InfluxDB inside an agent (the session flushes at its end)",
      "close: cannot wait for InfluxDB inside an agent (the session closes it at its end)" }, got)
    L:close(0)
  end)
end)

describe("asx.loggers.influxdb arguments", function()
  it("rejects bad options with errors naming them, and bad values with nil, err", function()
    assert.has_error(function() loggers.influxdb() end,
      "bad argument #1 to 'influxdb' (table of options expected, got nil)")
    assert.has_error(function() loggers.influxdb({}) end,
      "bad argument #1 to 'influxdb' (url: string expected, got nil)")
    assert.has_error(function() loggers.influxdb({ url = "http://h", database = "asx" }) end,
      "bad argument #1 to 'influxdb' (unknown option \"database\": url, db, user, password, org, bucket, token, "
        .. "batch_size, max_points, flush_interval, timeout, retry_min, retry_max, close_timeout, start, quiet or "
        .. "session expected)")
    assert.has_error(function() loggers.influxdb({ url = "http://h", batch_size = 1.5 }) end,
      "bad argument #1 to 'influxdb' (batch_size: non-negative integer up to 2^53 - 1 expected, got 1.5)")
    -- C takes it as an int64_t, which 1e300 does not convert to.
    assert.has_error(function() loggers.influxdb({ url = "http://h", max_points = 1e300 }) end,
      "bad argument #1 to 'influxdb' (max_points: non-negative integer up to 2^53 - 1 expected, got 1e+300)")
    assert.has_error(function() loggers.influxdb({ url = "http://h", timeout = -1 }) end,
      "bad argument #1 to 'influxdb' (timeout: non-negative number expected, got -1)")
    assert.are.same({ nil, "influxdb: url must start with http:// or https://" },
      { loggers.influxdb({ url = "h:1" }) })
    assert.are.same({ nil, "influxdb: 2.x needs a token" },
      { loggers.influxdb({ url = "http://h", org = "o", bucket = "b" }) })
    -- C took a text up to its first NUL byte, and InfluxQL's quoted names
    -- end at a line break.
    -- InfluxDB 1.x refuses these names: every point was dropped.
    for _, db in ipairs({ "a\nb", "a/b", "a\\b", ".", ".." }) do
      assert.has_error(function() loggers.influxdb({ url = "http://h", db = db }) end,
        "bad argument #1 to 'influxdb' (db: a database name without control characters, '/' or '\\', and not '.' "
        .. "or '..', expected, got string)")
    end
    assert.has_error(function() loggers.influxdb({ url = "http://h", org = "o", bucket = "b", token = "t\0u" }) end,
      "bad argument #1 to 'influxdb' (token: text without NUL bytes expected, got string)")
    assert.are.same({ nil, "db: a database name without control characters, '/' or '\\', and not '.' or '..', "
      .. "expected, in URL 'http://h:1/?db=a%5Cb'" }, { loggers.parse_influx_url("http://h:1/?db=a%5Cb") })
    assert.are.same({ nil, "password: text without NUL bytes expected, in URL 'http://u:***@h:1/?db=x'" },
      { loggers.parse_influx_url("http://u:p%00@h:1/?db=x") })
  end)
end)
