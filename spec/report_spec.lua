-- The report page's data: candles and samples in bounded memory
-- (asx.report.candles, asx.report.series), and `asx-host --report` end to
-- end, read back from the page's asx-data block. spec/report_browser_spec.lua
-- opens the same pages in a browser.
local cjson = require("cjson")
local candles = require("asx.report.candles")
local series = require("asx.report.series")
local run = require("helpers.run")

local F = "spec/fixtures/report/"

-- The JSON of a page's asx-data block, decoded.
local function page_data(path)
  local page = run.slurp(path)
  local json = page:match('<script type="application/json" id="asx%-data">(.-)</script>')
  return cjson.decode(json), page
end

describe("asx.report.candles", function()
  it("folds trades into one-second candles and counts orders and cancels per second", function()
    local cs = candles.new()
    cs:add_order(0.2)
    cs:add_trade(0.5, 10, 3)
    cs:add_trade(0.9, 12, 1)
    cs:add_trade(0.99, 9, 2)
    cs:add_trade(1.0, 11, 4)
    cs:add_cancel(3.5)
    assert.are.equal(1, cs:interval())
    assert.are.same({ { 0, 10, 12, 9, 9, 6 }, { 1, 11, 11, 11, 11, 4 } }, cs:candles())
    assert.are.same({ { 0, 3, 1, 0 }, { 1, 1, 0, 0 }, { 3, 0, 0, 1 } }, cs:activity())
  end)

  it("checks its size and trades, and sums a volume past 2^63 shares", function()
    assert.has_error(function() candles.new(-1) end,
      "bad argument #1 to 'new' (positive integer number of slots up to 2^53 - 1 expected, got -1)")
    assert.has_error(function() candles.new(0 / 0) end,
      "bad argument #1 to 'new' (positive integer number of slots up to 2^53 - 1 expected, got nan)")
    local cs = candles.new()
    assert.has_error(function() cs:add_trade(1, 10, 0) end,
      "bad argument #3 to 'add_trade' (positive integer amount up to 2^53 - 1 expected, got 0)")
    assert.has_error(function() cs:add_trade(1, 2 ^ 63, 1) end,
      "bad argument #2 to 'add_trade' (positive integer price up to 2^53 - 1 expected, got 9223372036854775808)")
    local max, volume = 2 ^ 53 - 1, 0
    for _ = 1, 1100 do
      cs:add_trade(0.5, 10, max)
      volume = volume + max
    end
    assert.is_true(volume > 2 ^ 63)
    assert.are.same({ { 0, 10, 10, 10, 10, volume } }, cs:candles())
  end)

  it("moves to the next interval of the ladder when the session outgrows its slots", function()
    local cs = candles.new(20)
    cs:add_trade(0, 10, 1)
    cs:add_trade(9.5, 14, 2)
    cs:add_trade(10, 8, 1)
    cs:add_order(19)
    assert.are.equal(1, cs:interval())
    assert.are.equal(20, cs:slots())
    cs:add_trade(25, 7, 5) -- second 25 needs slot 26 of 20: 10-second candles
    assert.are.equal(10, cs:interval())
    assert.are.same({ { 0, 10, 14, 10, 14, 3 }, { 10, 8, 8, 8, 8, 1 }, { 20, 7, 7, 7, 7, 5 } },
      cs:candles())
    assert.are.same({ { 0, 2, 0, 0 }, { 10, 1, 1, 0 }, { 20, 1, 0, 0 } }, cs:activity())
    cs:add_trade(1000, 9, 1) -- past 200 s: one-minute candles
    assert.are.equal(60, cs:interval())
    assert.are.same({ 0, 10, 14, 7, 7, 9 }, cs:candles()[1])
    assert.are.same({ 960, 9, 9, 9, 9, 1 }, cs:candles()[2])
  end)
end)

describe("asx.report.series", function()
  it("keeps a sample a second, then every other one when full", function()
    local sr = series.new(4)
    for t = 0, 3 do sr:sample(t, { spread = t + 1, value = t % 2 == 0 and 10 * t or false }) end
    assert.are.same({ { 0, 1 }, { 1, 2 }, { 2, 3 }, { 3, 4 } }, sr:points("spread"))
    assert.are.same({ { 0, 0 }, { 2, 20 } }, sr:points("value"))
    sr:sample(4, { spread = 5, value = 40 })
    assert.are.equal(2, sr.period)
    assert.are.same({ { 0, 1 }, { 2, 3 }, { 4, 5 } }, sr:points("spread"))
    sr:sample(5, { spread = 6 }) -- not a multiple of the period
    sr:sample(6, { spread = 7, other = 1 })
    assert.are.same({ { 0, 1 }, { 2, 3 }, { 4, 5 }, { 6, 7 } }, sr:points("spread"))
    assert.are.same({ { 6, 1 } }, sr:points("other"))
    assert.are.same({}, sr:points("none"))
  end)

  it("fills a gap as a sample a second would, also one of 1e17 s, in a few steps", function()
    local by_second, filled = series.new(4), series.new(4)
    for t = 3, 40 do by_second:sample(t, { spread = 1 }) end
    filled:fill(3, 40, { spread = 1 })
    assert.are.same(by_second:points("spread"), filled:points("spread"))
    assert.are.equal(16, filled.period)
    -- Past 2^53 s, t + 1 == t: a step a second never ended.
    filled:fill(41, 1e17, { spread = 2 })
    assert.are.same({ { 2 ^ 55, 2 }, { 2 ^ 56, 2 } }, filled:points("spread"))
    assert.are.equal(2 ^ 55, filled.period)
  end)
end)

describe("asx-host --report", function()
  it("writes a page whose data has the session's one trade, book, samples and summary", function()
    local d = run.tmpdir()
    local r = run.sh('"$HOST" -q --clock virtual --seed 5 -d 3 ' .. F .. 'one_trade.lua --report "$D/r.html"', d)
    assert.are.equal(0, r.status, r.stderr)
    local data, page = page_data(d .. "/r.html")
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal(1, data.interval)
    assert.are.same({ { 1, 10, 10, 10, 10, 1 } }, data.candles)
    -- Orders: the bid and the offer at 0.5 s, the buy at 1.5 s.
    assert.are.same({ { 0, 0, 2, 0 }, { 1, 1, 1, 0 } }, data.activity)
    assert.are.same({ bids = { { 8, 1, 1 } }, asks = {} }, data.book)
    -- No spread at 0 s (an empty book), 8 to 10 at 1 s, no ask after.
    assert.are.same({ { 1, 2 } }, data.spread)
    -- Value of each agent: 100 + 5 x the last price (0 before the trade).
    assert.are.same({ { 0, 100 }, { 1, 100 }, { 2, 150 }, { 3, 150 } }, data.values.one)
    assert.are.same({ 1, 10, 60, 300, 3600, 86400 }, data.intervals)
    assert.are.equal(5, data.session.seed)
    assert.are.equal("virtual", data.session.clock)
    assert.are.equal(3, data.session.duration)
    assert.are.equal(1, data.summary.trades)
    assert.are.equal(10, data.summary.vwap)
    assert.are.same({ name = "one", agents = 2, running = 2, finished = 0, failed = 0, stopped = 0, money = 100,
      stocks = 5, start_value = 150, mean_value = 150, best_value = 150 }, data.strategies[1])
    -- The library is inlined: the page refers to no other file.
    assert.is_nil(page:find("<script src", 1, true))
    assert.is_nil(page:find("<link", 1, true))
    assert.truthy(page:find("TradingView Lightweight Charts", 1, true))
  end)

  it("counts two classes of one name as one strategy, as --summary's JSON does", function()
    -- Two files whose classes are both called twin: one agent that sells 1
    -- at 10 at 0.5 s (100 and 5 shares), three that hold 1000 (the first
    -- buys it at 1.5 s). The page drew a line per class, the live page
    -- updating only the second, and listed the name twice.
    local d = run.tmpdir()
    run.write(d .. "/a.lua", [[
local A = require("asx").Trader:extend("twin")
A.agents, A.money, A.stocks = 1, 100, 5
function A:cycle() self:sleep(0.5) self:sell(1, 10) self:sleep(100) end
return A
]])
    run.write(d .. "/b.lua", [[
local B = require("asx").Trader:extend("twin")
B.agents, B.money, B.stocks = 3, 1000, 0
local n = 0
function B:cycle()
  n = n + 1
  local first = n == 1
  self:sleep(1.5)
  if first then self:buy(1, 10) end
  self:sleep(100)
end
return B
]])
    local r = run.sh('"$HOST" -q --clock virtual --seed 1 -d 3 "$D/a.lua" "$D/b.lua" --report "$D/r.html" '
      .. '--summary "$D/s.json"', d)
    assert.are.equal(0, r.status, r.stderr)
    local data = page_data(d .. "/r.html")
    local summary = cjson.decode(run.slurp(d .. "/s.json"))
    os.execute("rm -rf '" .. d .. "'")
    -- Values at the end: 110 + 4 x 10 for the seller, 990 + 10 and 1000
    -- for the others; at the start 100 + 5 x 10 and 1000.
    assert.are.same({ { name = "twin", agents = 4, running = 4, finished = 0, failed = 0, stopped = 0,
      money = 775, stocks = 1.25, start_value = 787.5, mean_value = 787.5, best_value = 1000 } }, data.strategies)
    assert.are.same({ { 0, 775 }, { 1, 775 }, { 2, 787.5 }, { 3, 787.5 } }, data.values.twin)
    assert.are.same({ twin = { agents = 4, running = 4, finished = 0, failed = 0 } }, summary.agents)
    assert.are.same({ twin = { mean = 787.5, median = 1000, min = 150, max = 1000, start = 787.5 } }, summary.value)
    -- The printed summary too: it had a line per class, "agents twin: 1"
    -- and "agents twin: 3", each valued apart.
    local printed = {}
    for line in r.stdout:gmatch("[^\n]+") do
      if line:match("^agents ") or line:match("^value ") then printed[#printed + 1] = line end
    end
    assert.are.same({ "agents twin: 4 (4 running, 0 finished, 0 failed)",
      "value twin: mean 787.50, best 1000, start 787.50" }, printed)
  end)

  it("writes a page with no candles for a session without trades", function()
    local d = run.tmpdir()
    local r = run.sh('"$HOST" -q --clock virtual --seed 1 -d 5 ' .. F .. 'quiet.lua --report "$D/r.html"', d)
    assert.are.equal(0, r.status, r.stderr)
    local data = page_data(d .. "/r.html")
    os.execute("rm -rf '" .. d .. "'")
    -- lua-cjson writes an empty array as {}.
    assert.are.same({}, data.candles)
    assert.are.same({ { 1, 0, 2, 0 }, { 2, 0, 2, 0 }, { 3, 0, 2, 0 } }, data.activity)
    assert.are.same({ bids = { { 9, 1, 1 }, { 8, 2, 1 }, { 7, 3, 1 } },
      asks = { { 21, 1, 1 }, { 22, 2, 1 }, { 23, 3, 1 } } }, data.book)
    assert.are.same({ { 2, 12 }, { 3, 12 }, { 4, 12 }, { 5, 12 } }, data.spread)
    assert.are.equal(cjson.null, data.summary.close)
  end)

  it("writes every number exactly: prices and values past 14 digits, and fractions", function()
    local d = run.tmpdir()
    local r = run.sh('"$HOST" -q --clock virtual --seed 3 -d 2 spec/fixtures/host/big_prices.lua --report "$D/r.html"',
      d)
    assert.are.equal(0, r.status, r.stderr)
    local data, page = page_data(d .. "/r.html")
    os.execute("rm -rf '" .. d .. "'")
    assert.truthy(page:find('"vwap":123456789012345.5}', 1, true))
    assert.are.same({ { 1, 123456789012345, 123456789012346, 123456789012345, 123456789012346, 2 } }, data.candles)
    assert.are.same({ 123456789012345.5, 1372813484867316 }, { data.summary.vwap, data.strategies[1].mean_value })
  end)

  it("writes names that hold markup so that the data block ends where the page ends it", function()
    local d = run.tmpdir()
    local r = run.sh('"$HOST" -q --clock virtual --seed 1 -d 1 ' .. F .. 'markup_name.lua --report "$D/r.html"', d)
    assert.are.equal(0, r.status, r.stderr)
    local page = run.slurp(d .. "/r.html")
    local data = page_data(d .. "/r.html")
    os.execute("rm -rf '" .. d .. "'")
    local block = page:match('<script type="application/json" id="asx%-data">(.-)</script>')
    assert.are.equal("x</script><!--<script>y", data.strategies[1].name)
    -- No "<" at all: neither "</script>" nor "<!--<script>" can change where
    -- a browser ends the block.
    assert.is_nil(block:find("<", 1, true))
  end)

  it("stays small with a million trades: candles are per second, not per trade", function()
    local d = run.tmpdir()
    local r = run.sh('"$HOST" -q --clock virtual --seed 1 -d 800 strategies/random_trader.lua:1000 '
      .. '--report "$D/r.html"', d)
    assert.are.equal(0, r.status, r.stderr)
    local data, page = page_data(d .. "/r.html")
    os.execute("rm -rf '" .. d .. "'")
    local trades = tonumber(r.stdout:match("\ntrades: (%d+)\n"))
    local volume = tonumber(r.stdout:match("\nvolume: (%d+)\n"))
    assert.is_true(trades >= 1000000, "trades: " .. trades)
    assert.are.equal(800, #data.candles)
    local v, n = 0, 0
    for _, c in ipairs(data.candles) do v = v + c[6] end
    for _, a in ipairs(data.activity) do n = n + a[2] end
    assert.are.equal(volume, v)
    assert.are.equal(trades, n)
    assert.is_true(#page < 600000, "page of " .. #page .. " bytes")
  end)

  it("refuses a path it cannot write before the session runs, and -i", function()
    local r = run.sh('"$HOST" -q --clock virtual -d 1 ' .. F .. 'quiet.lua --report /nonexistent/r.html')
    assert.are.equal(2, r.status)
    assert.are.equal("asx-host: --report: cannot write '/nonexistent/r.html': No such file or directory\n"
      .. run.USAGE, r.stderr)
    -- A directory, empty or not, is refused and left as it was: the check
    -- removed an empty one, and a full one failed only after the run.
    local d = os.tmpname()
    os.remove(d)
    assert(os.execute("mkdir -p '" .. d .. "/empty.html' '" .. d .. "/full.json' && touch '" .. d .. "/full.json/x'"))
    r = run.sh('"$HOST" -q --clock virtual -d 1 ' .. F .. 'quiet.lua --report ' .. d .. '/empty.html')
    assert.are.equal(2, r.status)
    assert.are.equal("asx-host: --report: cannot write '" .. d .. "/empty.html': Is a directory\n"
      .. run.USAGE, r.stderr)
    r = run.sh('"$HOST" -q --clock virtual -d 1 ' .. F .. 'quiet.lua --summary ' .. d .. '/full.json')
    assert.are.equal(2, r.status)
    assert.are.equal("asx-host: --summary: cannot write '" .. d .. "/full.json': Is a directory\n"
      .. run.USAGE, r.stderr)
    local kept = io.popen("cd '" .. d .. "' && find . | sort"):read("*a")
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal(".\n./empty.html\n./full.json\n./full.json/x\n", kept)
    r = run.sh('"$HOST" -i --report r.html </dev/null')
    assert.are.equal(2, r.status)
    assert.are.equal('asx-host: --report is for runs without -i (report("FILE.html") at the prompt)\n'
      .. run.USAGE, r.stderr)
  end)
end)

describe("the report's records", function()
  local asx = require("asx")
  local report = require("asx.report")
  local Random = dofile("strategies/random_trader.lua")

  -- A Lua logger that counts the book's events by type.
  local function counter()
    local L = { n = {} }
    function L:send_event(t) self.n[t] = (self.n[t] or 0) + 1 end
    return L
  end

  -- 300 random traders for 20 session seconds (over 10,000 records, so
  -- the book hands the report several batches), with its report; extra
  -- agents and loggers as given.
  local function session(extra, loggers)
    local traders = {}
    for i = 1, 300 do traders[i] = Random:new({ money = 300, stocks = 10 }) end
    for _, t in ipairs(extra or {}) do traders[#traders + 1] = t end
    local s = asx.session({ traders = traders, loggers = loggers, clock = "virtual", seed = 7,
      duration = 20 })
    return s, report.attach(s)
  end

  local function totals(R)
    local n = { trades = 0, orders = 0, cancels = 0 }
    for _, a in ipairs(R.candles:activity()) do
      n.trades, n.orders, n.cancels = n.trades + a[2], n.orders + a[3], n.cancels + a[4]
    end
    return n
  end

  it("writes no page under a name cut at a NUL byte", function()
    -- The system's calls read the name up to its NUL: the page went to 'a'.
    local s, R = session()
    s:run()
    local d = run.tmpdir()
    assert.are.same({ nil, ("cannot write '%s/a\0b.html': a file name cannot hold a NUL byte"):format(d) },
      { R:write(d .. "/a\0b.html") })
    local cut = run.read(d .. "/a")
    os.execute("rm -rf '" .. d .. "'")
    assert.is_nil(cut)
  end)

  it("folds the same candles alone (records in batches) as beside another logger (after each call)", function()
    local alone, R1 = session()
    alone:run()
    local shared, R2 = session(nil, { counter() })
    shared:run()
    local n = totals(R1)
    local st = alone.exchange:stats()
    assert.is_true(n.orders > 10000)
    assert.are.equal(st.orders, n.orders)
    assert.are.equal(st.trades, n.trades)
    assert.are.same(totals(R2), n)
    assert.are.same(R2.candles:candles(), R1.candles:candles())
    -- Every event numbered alike, the agents' and the session's included.
    assert.are.equal(shared.exchange.events, alone.exchange.events)
  end)

  it("hands a logger added while it is alone the events from then on only", function()
    local L, orders_before = counter(), nil
    local Adder = asx.Trader:extend("adder")
    function Adder:cycle()
      self:sleep(10)
      orders_before = self.exchange:stats().orders
      self.exchange:add_logger(L)
    end
    local s, R = session({ Adder:new({ money = 0, stocks = 0 }) })
    s:run()
    local st = s.exchange:stats()
    assert.is_true(orders_before > 1000)
    assert.are.equal(st.orders - orders_before, L.n.order)
    assert.are.equal(st.orders, totals(R).orders)
    assert.are.equal(st.trades, totals(R).trades)
  end)

  it("loses no record held for it when a strategy calls _abandon_delivery with no delivery under way", function()
    local Abandoner = asx.Trader:extend("abandoner")
    local returned
    function Abandoner:cycle()
      self:sleep(0.5)
      returned = self.exchange:_abandon_delivery()
    end
    local s, R = session({ Abandoner:new({ money = 0, stocks = 0 }) })
    s:run()
    local st = s.exchange:stats()
    assert.is_true(st.orders > 10000)
    assert.are.equal(st.orders, totals(R).orders)
    assert.are.equal(st.trades, totals(R).trades)
    assert.is_false(returned)
  end)
end)
