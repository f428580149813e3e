-- The report page in a real browser: Debian's chromium, headless, driven by
-- playwright-core (spec/browser/report_page.js) with the network cut off.
-- Each page opens without a request or a console error, draws as many
-- candles, with as much volume, as the CSV log of the same run has at each
-- interval the page offers, and paints a picture that is not blank. The
-- pictures are kept in BUILD/report-screenshots/ for people to look at.
local cjson = require("cjson")
local run = require("helpers.run")

local F = "spec/fixtures/report/"
local SHOTS = run.BUILD .. "/report-screenshots"
os.execute("mkdir -p '" .. SHOTS .. "'")

-- Candles per interval from the CSV log: the trades grouped by
-- floor(time / interval), counted, and their amounts summed.
local function from_csv(path, intervals)
  local out = {}
  for _, iv in ipairs(intervals) do out[iv] = { buckets = {}, candles = 0, volume = 0 } end
  local first = true
  for line in io.lines(path) do
    if first then
      assert(line:match("^time,session,price,amount,"), line)
      first = false
    else
      local t, amount = line:match("^([^,]*),[^,]*,[^,]*,([^,]*),")
      t, amount = tonumber(t), tonumber(amount)
      for _, iv in ipairs(intervals) do
        local o = out[iv]
        local b = math.floor(t / iv)
        if not o.buckets[b] then
          o.buckets[b] = true
          o.candles = o.candles + 1
        end
        o.volume = o.volume + amount
      end
    end
  end
  return out
end

-- Runs asx-host with --report and --log, opens the page, and checks it
-- against the log; returns what the browser saw.
local function check(name, args, intervals)
  local d = run.tmpdir()
  local r = run.sh(('"$HOST" -q --clock virtual %s --report "$D/r.html" --log "$D/t.csv"'):format(args), d)
  assert.are.equal(0, r.status, r.stderr)
  local shot = SHOTS .. "/" .. name .. ".png"
  local out = run.output(("NODE_PATH=setup/web/node_modules node spec/browser/report_page.js '%s' '%s' 2>&1")
    :format(d .. "/r.html", shot))
  local ok, seen = pcall(cjson.decode, out)
  assert(ok and type(seen) == "table", out)
  local want = from_csv(d .. "/t.csv", intervals)
  local data = cjson.decode(run.slurp(d .. "/r.html")
    :match('<script type="application/json" id="asx%-data">(.-)</script>'))
  os.execute("rm -rf '" .. d .. "'")
  assert.are.same({}, seen.errors)
  assert.are.same({}, seen.requests)
  assert.are.same(intervals, seen.intervals)
  for _, iv in ipairs(intervals) do
    local drawn = seen.drawn[tostring(iv)]
    assert.are.same({ interval = iv, candles = want[iv].candles, volume = want[iv].volume, pressed = true },
      drawn)
  end
  -- A blank page is one or two colours; charts, text and tables are many.
  assert.is_true(seen.screenshot.colors > 50, "colours: " .. seen.screenshot.colors)
  return seen, want, data
end

describe("the report page in chromium #browser", function()
  it("draws a market of random traders, at each interval, as the CSV log has it", function()
    local seen, want = check("random_traders", "--seed 1 -d 300 strategies/random_trader.lua:500 "
      .. "strategies/market_maker.lua:2 strategies/momentum.lua:10", { 1, 10, 60, 300 })
    assert.are.equal(1, seen.default)
    assert.are.equal(300, want[1].candles)
    assert.are.equal(1, want[300].candles)
  end)

  it("draws one trade as one candle", function()
    local seen, want = check("one_trade", "--seed 5 -d 3 " .. F .. "one_trade.lua", { 1, 10, 60, 300 })
    assert.are.equal(1, want[1].candles)
    assert.are.equal(1, seen.drawn["1"].volume)
  end)

  it("says what ended the session: its duration only when it reached it", function()
    -- Both agents end at 101.5 s: the page of a run of -d 200 said
    -- "duration", which the run of -d 3 reaches.
    local seen = check("all_done", "--seed 5 -d 200 " .. F .. "one_trade.lua", { 1, 10, 60, 300 })
    assert.are.equal("all agents done", seen.facts["stopped by"])
    assert.are.equal("all agents done", seen.params["stopped by"])
    seen = check("duration", "--seed 5 -d 3 " .. F .. "one_trade.lua", { 1, 10, 60, 300 })
    assert.are.equal("duration", seen.facts["stopped by"])
    assert.are.equal("duration", seen.params["stopped by"])
  end)

  it("says that the session goes on on the page report() writes at the prompt", function()
    local d = run.tmpdir()
    local r = run.sh(('printf \'step(3)\\nreport("%s/r.html")\\n\' | "$HOST" -i -q --clock virtual --seed 5 -d 200 %s')
      :format(d, F .. "one_trade.lua"), d)
    assert.are.equal(0, r.status, r.stderr)
    local out = run.output(("NODE_PATH=setup/web/node_modules node spec/browser/report_page.js '%s' '%s' 2>&1")
      :format(d .. "/r.html", SHOTS .. "/at_the_prompt.png"))
    os.execute("rm -rf '" .. d .. "'")
    local seen = cjson.decode(out)
    assert.are.same({}, seen.errors)
    -- It said "duration", as if the session had ended at 3 s.
    assert.are.equal("not yet (paused)", seen.facts["stopped by"])
    assert.are.equal("not yet (paused)", seen.params["stopped by"])
    assert.are.equal("3.000 s", seen.params["session time"])
  end)

  it("draws one value line for a file given twice, the name's data", function()
    local seen, _, data = check("given_twice", "--seed 1 -d 20 strategies/random_trader.lua:20 "
      .. "strategies/random_trader.lua:10", { 1, 10, 60, 300 })
    assert.are.equal(1, #data.strategies)
    assert.are.equal(30, data.strategies[1].agents)
    assert.are.equal(21, #data.values.random_trader) -- seconds 0 to 20
    assert.are.same({ { title = "random_trader", values = data.values.random_trader } }, seen.lines)
  end)

  it("draws a flat candle, depth and values near 2^53, where the page hung", function()
    -- A range of numbers one double apart made the price scale's tick step
    -- smaller than that spacing: its loop never moved, and the page never
    -- loaded.
    local seen = check("near_2_53", "--seed 1 -d 3 " .. F .. "near_2_53_seller.lua " .. F .. "near_2_53_buyer.lua",
      { 1, 10, 60, 300 })
    assert.are.same({ interval = 1, candles = 1, volume = 1, pressed = true }, seen.drawn["1"])
  end)

  it("draws a session without trades with no candle", function()
    local seen = check("no_trades", "--seed 1 -d 5 " .. F .. "quiet.lua", { 1, 10, 60, 300 })
    assert.are.equal(0, seen.drawn["1"].candles)
  end)

  it("draws a million trades as candles, and picks a coarser interval for a long session", function()
    local seen, want = check("million_trades", "--seed 1 -d 800 strategies/random_trader.lua:1000",
      { 1, 10, 60, 300 })
    -- 800 one-second candles are more than the page draws at first.
    assert.are.equal(10, seen.default)
    assert.are.equal(80, want[10].candles)
  end)
end)

describe("the live page in chromium #browser", function()
  -- Runs asx-host -i --http ARGS with the page open in chromium, types
  -- LINES, writes the report of the moment and quits; returns what the page
  -- held then and the report's data. With kill, it types LINES and kills
  -- asx-host (SIGKILL, the session still running) instead, and returns what
  -- the page showed once its stream was cut.
  local function live(args, lines, dir, kill)
    assert(os.execute(("mkfifo '%s/in'"):format(dir)) == 0)
    os.execute(("('%s' -i -q --clock virtual --seed 1 --http 127.0.0.1:0 %s <'%s/in' >'%s/out' 2>'%s/err'; "
      .. "echo $? >'%s/code') &"):format(run.HOST, args, dir, dir, dir, dir))
    local fifo = assert(io.open(dir .. "/in", "w"))
    local url = run.wait_for("the URL", function()
      return (run.read(dir .. "/err") or ""):match("live page at (http://%S+/)")
    end)
    local node = assert(io.popen(("env -u LD_PRELOAD NODE_PATH=setup/web/node_modules "
      .. "node spec/browser/live_page.js '%s' '%s' --wait-close 2>&1"):format(url, SHOTS .. "/live-names.png")))
    local seen = cjson.decode(node:read("*l"))
    assert.are.same({}, seen.errors)
    fifo:write(table.concat(lines, "\n"), "\n", kill
      and 'os.execute("kill -KILL " .. io.open("/proc/self/stat"):read("*l"):match("^%d+"))\n'
      or ('report("%s/page.html")\nquit()\n'):format(dir))
    fifo:close()
    local closed = cjson.decode(node:read("*l"))
    node:close()
    local code = run.wait_for("the host to exit", function() return tonumber(run.read(dir .. "/code") or "") end)
    assert.are.equal(kill and 128 + 9 or 0, code)
    if kill then return closed end
    assert.are.same({}, closed.errors)
    return closed.held, cjson.decode(run.slurp(dir .. "/page.html")
      :match('<script type="application/json" id="asx%-data">(.-)</script>')), closed.lines, seen, closed
  end

  -- A figure as the page writes it (toLocaleString("en-US")): an integer
  -- with thousands separators, another number with two decimals.
  local function en(v)
    if v == nil or v == cjson.null then return "-" end
    local s = v % 1 == 0 and ("%d"):format(math.abs(v)) or ("%.2f"):format(math.abs(v))
    local whole, frac = s:match("^(%d+)(.*)$")
    return (v < 0 and "-" or "") .. whole:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "") .. frac
  end
  -- JavaScript's Number(v.toFixed(2)).
  local function cents(v) return tonumber(("%.2f"):format(v)) end

  it("keeps drawing strategies named like the properties of JavaScript objects", function()
    -- Strategies called __proto__, constructor, toString and hasOwnProperty
    -- beside random_trader: each one's value series follows the stream.
    local d = run.tmpdir()
    local files = {}
    for _, name in ipairs({ "__proto__", "constructor", "toString", "hasOwnProperty" }) do
      run.write(("%s/%s.lua"):format(d, name), ('return dofile("strategies/random_trader.lua"):extend(%q)\n'):format(name))
      files[#files + 1] = ("'%s/%s.lua:20'"):format(d, name)
    end
    local held, want = live(table.concat(files, " ") .. " strategies/random_trader.lua:20", { "step(5)" }, d)
    os.execute("rm -rf '" .. d .. "'")
    for _, name in ipairs({ "__proto__", "constructor", "toString", "hasOwnProperty", "random_trader" }) do
      assert.are.equal(6, #want.values[name], name) -- seconds 0 to 5
      assert.are.same(want.values[name], held.values[name], name)
    end
  end)

  it("keeps one value line up to date for two classes of one name", function()
    -- Two files whose classes are both called twin: the page drew a line
    -- per class, and the first kept the values of the moment it was made.
    local d = run.tmpdir()
    for _, file in ipairs({ "a", "b" }) do
      run.write(("%s/%s.lua"):format(d, file), 'return dofile("strategies/random_trader.lua"):extend("twin")\n')
    end
    local held, want, lines = live(("'%s/a.lua:20' '%s/b.lua:10'"):format(d, d), { "step(5)" }, d)
    os.execute("rm -rf '" .. d .. "'")
    -- The line of the prompt's own trader, me, follows.
    assert.are.same({ { title = "twin", values = want.values.twin }, { title = "me", values = want.values.me } },
      lines)
    assert.are.same({ "twin", "me" }, { want.strategies[1].name, want.strategies[2].name })
    assert.are.same({ 30, 2 }, { want.strategies[1].agents, #want.strategies })
    assert.are.equal(6, #want.values.twin) -- seconds 0 to 5
    assert.are.same(want.values.twin, held.values.twin)
  end)

  it("keeps its summary and strategies tables up to date, in place", function()
    -- They were drawn from the page's data and never again: 0 trades at
    -- the end of a session that made thousands.
    local d = run.tmpdir()
    local _, want, _, seen, closed = live("strategies/random_trader.lua:20 strategies/market_maker.lua:2",
      { "step(5)", 'spawn("strategies/momentum.lua", 3)', "step(1)" }, d)
    os.execute("rm -rf '" .. d .. "'")
    local head = { "orders", "trades", "volume", "open", "high", "low", "close", "VWAP", "orders/wall s" }
    local strategy_head = { "strategy", "agents", "running", "finished", "failed", "stopped", "start value",
      "mean value", "best value" }
    -- The page opened on the session at 0 s, which had no trade yet.
    assert.are.same(head, seen.tables[1][1])
    assert.are.same({ "0", "0", "-", "-", "-", "-" }, { unpack(seen.tables[1][2], 2, 7) })
    assert.are.same({ strategy_head, "random_trader", "market_maker" },
      { seen.tables[2][1], seen.tables[2][2][1], seen.tables[2][3][1] })
    -- At the end, the figures of the report written then, in as many rows
    -- (orders/wall s is wall time's, another at each moment).
    local sm = want.summary
    local rows = { head, { en(sm.orders), en(sm.trades), en(sm.volume), en(sm.open), en(sm.high), en(sm.low),
      en(sm.close), en(cents(sm.vwap)), closed.tables[1][2][9] } }
    assert.are.same(rows, closed.tables[1])
    local strategies = { strategy_head }
    for i, st in ipairs(want.strategies) do
      strategies[i + 1] = { st.name, en(st.agents), en(st.running), en(st.finished), en(st.failed), en(st.stopped),
        en(cents(st.start_value)), en(cents(st.mean_value)), en(st.best_value) }
    end
    assert.are.same(strategies, closed.tables[2])
    local agents = {}
    for i, st in ipairs(want.strategies) do agents[i] = st.name .. " " .. st.agents end
    -- me is the prompt's own trader; momentum came at 5 s.
    assert.are.same({ "random_trader 20", "market_maker 2", "me 1", "momentum 3" }, agents)
    -- The same seed makes the same session: 146 trades in its 6 s.
    assert.are.same({ "236", "146", "647" }, { unpack(closed.tables[1][2], 1, 3) })
    assert.are.equal("disconnected: the session has ended", closed.status)
  end)

  it("says the session has ended only when it has: a stream cut while it runs asks for a reload", function()
    -- A stream cut by the server's write timeout (a laptop waking up), or
    -- by asx-host's end, said "the session has ended" as one that ended did.
    local d = run.tmpdir()
    local closed = live("strategies/random_trader.lua:20", { "step(2)" }, d, true)
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal("disconnected (reload to reconnect)", closed.status)
    -- chromium's word for a chunked answer cut before its end, the page's none.
    assert.are.same({ "Failed to load resource: net::ERR_INCOMPLETE_CHUNKED_ENCODING" }, closed.errors)
  end)

  it("draws a strategy spawned at the prompt after the page was made", function()
    local d = run.tmpdir()
    local held, want = live("strategies/random_trader.lua:20",
      { "step(2)", 'spawn("strategies/momentum.lua", 5)', "step(3)" }, d)
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal(3, #want.values.momentum) -- seconds 3 to 5: second 2 was sampled before it came
    assert.are.same(want.values.momentum, held.values.momentum)
    assert.are.same(want.values.random_trader, held.values.random_trader)
  end)
end)
