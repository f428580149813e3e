-- Hostile loggers and strategies: loggers that yield, sleep, trade or raise,
-- and code that calls os.exit. Whatever they do, the exchange stays usable,
-- the innocent agents go on, the culprit is named with its file and line,
-- money and stocks are conserved, and the log files are whole.
local asx = require("asx")
local json = require("dkjson")
local run = require("helpers.run")

local lines, sh, slurp, tmpdir = run.lines, run.sh, run.slurp, run.tmpdir
local HOSTILE = "spec/fixtures/hostile/"
local PAIR = "spec/fixtures/host/pair.lua"

-- A logger that keeps the type of every event it is sent.
local function recorder()
  local L = { types = {} }
  function L:send_event(t) self.types[#self.types + 1] = t end
  return L
end

-- Two traders who can trade with each other, and their totals.
local function market(ex)
  local s = asx.trader({ exchange = ex, money = 0, stocks = 10 })
  local b = asx.trader({ exchange = ex, money = 1000, stocks = 0 })
  return s, b, function() return s.money + b.money, s.stocks + b.stocks end
end

-- Runs a Lua script in a separate luajit (so that it can take the standard
-- coroutine.yield before it loads asx) as file path, which is removed after.
local function run_script(path, text)
  run.write(path, text)
  local r = run.sh(("LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='%s/?.so;;' luajit %s 2>&1")
    :format(run.BUILD, path))
  os.remove(path)
  return r
end

describe("a hostile logger on an exchange (library calls)", function()
  it("that yields raises to the caller, and the exchange stays usable", function()
    local ex = asx.exchange()
    local s, b, totals = market(ex)
    local L = { send_event = function(_, t) if t == "exchange" then coroutine.yield("stolen") end end }
    ex:add_logger(L)
    s:sell(5, 10)
    local co = coroutine.create(function() return b:buy(2, 10) end)
    local ok, err = coroutine.resume(co)
    -- The coroutine ran to its end: the yield did not suspend it.
    assert.is_false(ok)
    assert.are.equal("dead", coroutine.status(co))
    assert.matches("^spec/hostile_loggers_spec%.lua:%d+: a logger must not yield %(coroutine%.yield or "
      .. "sleep inside a logger%)$", err)
    assert.are.same({ 1000, 10 }, { totals() })
    assert.are.equal(3, ex:level("sell", 10)[1].amount)
    -- Not stuck delivering: the next order trades and the logger hears of it.
    ex:remove_logger(L)
    local rec = recorder()
    ex:add_logger(rec)
    b:buy(1, 10)
    assert.are.same({ "order", "exchange" }, rec.types)
    assert.are.same({ 1000, 10 }, { totals() })
  end)

  it("that yields gets the same error from a protected call and from an emitted event", function()
    local ex = asx.exchange()
    local s, b, totals = market(ex)
    local L = { send_event = function(_, t) if t ~= "order" then coroutine.yield("stolen") end end }
    ex:add_logger(L)
    s:sell(5, 10)
    local ok, err = pcall(b.buy, b, 2, 10)
    assert.is_false(ok)
    assert.matches("^spec/hostile_loggers_spec%.lua:%d+: a logger must not yield %(coroutine%.yield or "
      .. "sleep inside a logger%)$", err)
    assert.are.same({ 1000, 10 }, { totals() })
    local co = coroutine.create(function() return ex:emit("note", {}) end)
    ok, err = coroutine.resume(co)
    assert.is_false(ok)
    assert.are.equal("dead", coroutine.status(co))
    assert.matches("^spec/hostile_loggers_spec%.lua:%d+: a logger must not yield", err)
    assert.is_false(ex:delivering())
    -- Yields outside any logger are as they were.
    local gen = coroutine.wrap(function() coroutine.yield(1) coroutine.yield(2) end)
    assert.are.same({ 1, 2 }, { gen(), gen() })
  end)

  it("may run coroutines of its own that yield, and they yield to it", function()
    local ex = asx.exchange()
    local s, b = market(ex)
    local seen = {}
    -- Each event's type, letter by letter, through a generator.
    local L = {}
    function L.send_event(_, t)
      local letters = coroutine.wrap(function()
        for c in t:gmatch(".") do coroutine.yield(c) end
      end)
      local word = {}
      for c in letters do word[#word + 1] = c end
      seen[#seen + 1] = table.concat(word)
    end
    ex:add_logger(L)
    s:sell(5, 10)
    b:buy(1, 10)
    local co = coroutine.create(function() return b:buy(1, 10) end)
    assert.is_true(coroutine.resume(co))
    assert.are.equal("dead", coroutine.status(co))
    assert.are.same({ "order", "order", "exchange", "order", "exchange" }, seen)
    assert.are.same({ 20, 8, 980, 2 }, { s.money, s.stocks, b.money, b.stocks })
  end)

  it("that trades raises 'a logger must not trade' to the caller, with the book intact", function()
    local ex = asx.exchange()
    local s, b, totals = market(ex)
    ex:add_logger({ send_event = function() b:buy(1, 1) end })
    assert.has_error(function() s:sell(5, 10) end, "buy: a logger must not trade")
    assert.are.equal(5, ex:level("sell", 10)[1].amount)
    -- emit delivers like the book's events: no trading there either.
    assert.has_error(function() ex:emit("note", {}) end, "buy: a logger must not trade")
    assert.is_nil(ex:best_bid())
    assert.are.same({ 1000, 10 }, { totals() })
  end)

  it("is not lost when code writes fields of the exchange's that sound internal", function()
    local ex = asx.exchange()
    local s, b, totals = market(ex)
    local rec = recorder()
    local handled = {}
    ex:add_logger(rec)
    ex:add_logger({ send_event = function(_, t) if t == "exchange" then error("bad", 0) end end })
    ex:on_logger_error(function(_, _, err) handled[#handled + 1] = err end)
    ex._lua_loggers, ex._sends, ex._on_logger_error = nil, nil, nil
    s:sell(5, 10)
    b:buy(2, 10)
    ex:emit("note", {})
    assert.are.same({ "order", "order", "exchange", "note" }, rec.types)
    assert.are.same({ "bad" }, handled)
    assert.is_false(ex:delivering())
    assert.are.same({ 1000, 10 }, { totals() })
  end)

  it("takes orders again when the stack overflowed in a delivery, outside the logger's protected call", function()
    local ex = asx.exchange()
    local s, b, totals = market(ex)
    local got = 0
    ex:add_logger({ send_event = function() got = got + 1 end })
    local reached
    local function down(d)
      if d == 0 then
        reached = true
        pcall(s.sell, s, 1, 10)
        return 0
      end
      return 1 + down(d - 1)
    end
    -- The deepest recursion that still reaches its order, then shallower
    -- ones, whose orders overflow the stack ever later in the call: some in
    -- the delivery of their event, which numbered it but never sent it.
    -- Interpreted: compiled code checks the stack once for a whole trace.
    jit.off()
    jit.flush()
    finally(function() jit.on() end)
    local lo, hi = 1, 2
    while true do reached = false; pcall(down, hi); if not reached then break end; lo, hi = hi, hi * 2 end
    while hi - lo > 1 do
      local mid = math.floor((lo + hi) / 2)
      reached = false
      pcall(down, mid)
      if reached then lo = mid else hi = mid end
    end
    local depth = lo
    repeat
      depth = depth - 1
      pcall(down, depth)
    until ex.events ~= got or depth == lo - 100
    assert.are_not.equal(got, ex.events)
    -- The next order abandons what is left of that delivery, and trades.
    local before = ex.events
    got = before
    b:buy(1, 10)
    assert.are.same({ before + 2, before + 2 }, { ex.events, got })
    assert.is_false(ex:delivering())
    assert.are.same({ 1000, 10 }, { totals() })
  end)

  it("is kept when code edits the list ex.loggers shows in place", function()
    local ex = asx.exchange()
    local s, b = market(ex)
    local rec, other = recorder(), recorder()
    ex:add_logger(rec)
    ex:add_logger(other)
    table.remove(ex.loggers, 1)
    ex.loggers[2] = 5
    ex.loggers[3] = rec
    s:sell(5, 10)
    b:buy(2, 10)
    assert.are.same({ "order", "order", "exchange" }, rec.types)
    assert.are.same({ "order", "order", "exchange" }, other.types)
    assert.is_true(ex:remove_logger(other))
    assert.are.same({ rec }, ex.loggers)
  end)

  it("goes to on_logger_error instead, detached, and the call returns", function()
    local ex = asx.exchange()
    local s, b, totals = market(ex)
    local rec = recorder()
    local bad = { n = 0 }
    function bad:send_event(t)
      self.n = self.n + 1
      if t == "exchange" then error("bad logger") end
    end
    ex:add_logger(bad)
    ex:add_logger(rec)
    local seen = {}
    assert.is_nil(ex:on_logger_error(function(e, L, err, tb, at)
      seen[#seen + 1] = { e == ex, L == bad, err, tb:match("^stack traceback:\n\t%[C%]: in function 'error'\n\t"
        .. "(spec/hostile_loggers_spec%.lua:%d+:) in function"), at }
    end))
    s:sell(5, 10)
    local o = b:buy(2, 10)
    assert.are.equal("filled", o.status)
    assert.are.equal(1, #seen)
    assert.is_true(seen[1][1] and seen[1][2])
    assert.matches("^spec/hostile_loggers_spec%.lua:%d+: bad logger$", seen[1][3])
    assert.is_not_nil(seen[1][4])
    -- Events 1 (the sell's order) and 2 (the buy's order) were taken; the
    -- trade, event 3, was not.
    assert.are.equal(3, seen[1][5])
    assert.are.equal(3, bad.n)
    assert.are.same({ rec }, ex.loggers)
    assert.are.same({ "order", "order", "exchange" }, rec.types)
    assert.are.equal(3, ex.events)
    b:buy(1, 10)
    assert.are.equal(3, bad.n)
    assert.are.same({ 30, 7, 970, 3 }, { s.money, s.stocks, b.money, b.stocks })
    assert.are.same({ 1000, 10 }, { totals() })
  end)

  it("alone, that raises on one event of a call, gets the call's later events, then the call raises", function()
    local ex = asx.exchange()
    local s, b, totals = market(ex)
    local got = {}
    local L = {}
    function L.send_event(_, t, m)
      got[#got + 1] = ("%s %d"):format(t, m.price)
      if t == "exchange" and m.price == 10 then error("first trade", 0) end
    end
    ex:add_logger(L)
    s:sell(1, 10)
    s:sell(1, 11)
    -- The buy makes three events: its order, then a trade at each price.
    local ok, err = pcall(b.buy, b, 2, 11)
    assert.are.same({ false, "first trade" }, { ok, err })
    assert.are.same({ "order 10", "order 11", "order 11", "exchange 10", "exchange 11" }, got)
    assert.are.equal(5, ex.events)
    assert.are.same({ 21, 8, 979, 2 }, { s.money, s.stocks, b.money, b.stocks })
    assert.are.same({ 1000, 10 }, { totals() })
    assert.is_nil(ex:best_ask())
  end)

  it("alone, detached by on_logger_error, gets nothing after the event it failed on", function()
    local ex = asx.exchange()
    local s, b = market(ex)
    local got = {}
    local L = {}
    function L.send_event(_, t, m)
      got[#got + 1] = ("%s %d"):format(t, m.price)
      if t == "exchange" then error("no trades", 0) end
    end
    ex:add_logger(L)
    local seen
    ex:on_logger_error(function(_, logger, err, _, at) seen = { logger == L, err, at } end)
    s:sell(1, 10)
    s:sell(1, 11)
    assert.are.equal("filled", b:buy(2, 11).status)
    assert.are.same({ "order 10", "order 11", "order 11", "exchange 10" }, got)
    assert.are.same({ true, "no trades", 4 }, seen)
    assert.are.same({}, ex.loggers)
    assert.are.equal(5, ex.events)
  end)

  it("alone, that raises on a call's first trade, gets the same events for calls of two to six events", function()
    -- A call of up to three events is sent in a line, a longer one in a
    -- loop: both keep delivering after the error, or both stop at it.
    for fills = 1, 5 do
      for _, detach in ipairs({ false, true }) do
        local ex = asx.exchange()
        local s, b = market(ex)
        for i = 1, fills do s:sell(1, 10 + i) end
        local got = {}
        local L = {}
        function L.send_event(_, t, m)
          got[#got + 1] = ("%s %d"):format(t, m.price)
          if t == "exchange" then error("trade " .. m.price, 0) end
        end
        ex:add_logger(L)
        local seen
        if detach then ex:on_logger_error(function(_, _, err, _, at) seen = { err, at } end) end
        local ok, err = pcall(b.buy, b, fills, 10 + fills)
        local want = { ("order %d"):format(10 + fills) }
        for i = 1, detach and 1 or fills do want[#want + 1] = ("exchange %d"):format(10 + i) end
        assert.are.same(want, got)
        assert.are.equal(fills + 1, ex.events)
        if detach then
          assert.are.same({ true, "filled" }, { ok, err.status })
          assert.are.same({ "trade 11", 2 }, seen)
          assert.are.same({}, ex.loggers)
        else
          assert.are.same({ false, "trade 11" }, { ok, err })
          assert.are.same({ L }, ex.loggers)
        end
        assert.are.same({ fills, 10 - fills }, { b.stocks, s.stocks })
      end
    end
  end)

  it("is reported with its own frames only, the same on the main thread and on a coroutine", function()
    local function deep() error("deep trouble") end
    local bad = {}
    function bad.send_event(_, t)
      if t == "exchange" then deep() end
    end
    local deep_line = debug.getinfo(deep, "S").linedefined
    local send_line = debug.getinfo(bad.send_event, "S").linedefined
    local src = "spec/hostile_loggers_spec.lua"
    local want = ("stack traceback:\n\t[C]: in function 'error'\n\t%s:%d: in function 'deep'\n\t"
      .. "%s:%d: in function <%s:%d>"):format(src, deep_line, src, send_line + 1, src, send_line)
    local function failure(on_coroutine)
      local ex = asx.exchange({ logger = bad })
      local s, b = market(ex)
      local seen
      ex:on_logger_error(function(_, L, err, tb, at) seen = { L == bad, err, tb, at } end)
      s:sell(5, 10)
      if on_coroutine then
        local co = coroutine.create(function() return b:buy(2, 10) end)
        assert.is_true(coroutine.resume(co))
        assert.are.equal("dead", coroutine.status(co))
      else
        b:buy(2, 10)
      end
      return seen
    end
    local want_err = ("%s:%d: deep trouble"):format(src, deep_line)
    assert.are.same({ true, want_err, want, 3 }, failure(false))
    assert.are.same({ true, want_err, want, 3 }, failure(true))
  end)

  it("whose send_event cannot be looked up fails like one that raises", function()
    local ex = asx.exchange()
    local s, b = market(ex)
    local function index(_, k)
      if k == "send_event" and ex.events >= 2 then error("no method today", 0) end
      return function() end
    end
    local L = setmetatable({}, { __index = index })
    ex:add_logger(L)
    local seen
    ex:on_logger_error(function(_, logger, err, tb, at) seen = { logger == L, err, tb, at } end)
    s:sell(5, 10)
    b:buy(2, 10)
    local line = debug.getinfo(index, "S").linedefined
    -- Event 2, the buy's order, is the first after the method went away.
    assert.are.same({ true, "no method today", ("stack traceback:\n\t[C]: in function 'error'\n\t"
      .. "spec/hostile_loggers_spec.lua:%d: in function '__index'"):format(line + 1), 2 }, seen)
  end)

  it("remove_logger detaches once; without loggers nothing is recorded", function()
    local ex = asx.exchange()
    local s = market(ex)
    local rec = recorder()
    ex:add_logger(rec)
    assert.is_true(ex:remove_logger(rec))
    assert.is_false(ex:remove_logger(rec))
    s:sell(1, 10)
    assert.are.same({}, rec.types)
    assert.are.equal(0, ex.events)
    assert.has_error(function() ex:on_logger_error(5) end,
      "bad argument #1 to 'on_logger_error' (function or nil expected, got 5)")
  end)

  it("removing one of two loggers leaves the other hearing; one added again hears from then on", function()
    local ex = asx.exchange()
    local s = market(ex)
    local a, b = recorder(), recorder()
    ex:add_logger(a)
    ex:add_logger(b)
    assert.is_true(ex:remove_logger(a))
    s:sell(1, 10)
    assert.is_true(ex:remove_logger(b))
    s:sell(1, 11)
    ex:add_logger(a)
    s:sell(1, 12)
    assert.are.same({ "order" }, a.types)
    assert.are.same({ "order" }, b.types)
    assert.are.equal(2, ex.events)
  end)
end)

describe("a hostile logger in a session (library)", function()
  it("is reported once and detached; the agents go on; the default comes back after run", function()
    local ex = asx.exchange()
    local L = { send_event = function(_, t) if t == "exchange" then error("no trades, please") end end }
    local Pair = dofile(PAIR)
    local traders = {}
    for i = 1, 4 do traders[i] = Pair:new({ money = 300, stocks = 10 }) end
    local reports = {}
    local s = asx.session({ exchange = ex, logger = L, traders = traders, clock = "virtual", seed = 1,
      on_logger_error = function(_, logger, text) reports[#reports + 1] = { logger, text } end })
    s:run()
    assert.are.equal(1, #reports)
    assert.are.equal(L, reports[1][1])
    assert.matches("^logger table: 0x%x+ failed at spec/hostile_loggers_spec%.lua:%d+ and was detached: "
      .. "no trades, please\nstack traceback:\n", reports[1][2])
    local sum = s:summary()
    assert.are.equal(0, sum.failed)
    assert.are.equal(4, sum.trades)
    assert.are.same({ 1200, 40 }, { s:totals() })
    -- The events after the first trade, the one it failed on included: 3 more
    -- trades, 3 orders, 4 agents finished, the session's stop.
    assert.are.equal(1, #sum.detached_loggers)
    assert.are.equal(4 + 3 + 4 + 1, sum.detached_loggers[1].missed)
    assert.is_nil(sum.stopped_by)
    -- Outside the session, a failing logger is the caller's error again.
    ex:add_logger(L)
    local t = traders[1]
    t:sell(1, 10)
    assert.has_error(function() t:buy(1, 10) end)
  end)

  it("stops a strict session", function()
    local L = { send_event = function(_, t) if t == "exchange" then error("no") end end }
    local Pair = dofile(PAIR)
    local traders = {}
    for i = 1, 4 do traders[i] = Pair:new({ money = 300, stocks = 10 }) end
    local s = asx.session({ logger = L, traders = traders, clock = "virtual", seed = 1, strict = true,
      on_logger_error = function() end })
    s:run()
    local sum = s:summary()
    assert.are.equal("a failed logger (--strict)", sum.stopped_by)
    assert.are.equal(1, sum.trades)
  end)

  it("one of asx's own loggers altered to yield is detached, and its agent goes on", function()
    local path = run.tmpname(".csv")
    local L = assert(require("asx.loggers").csv(path))
    -- Its consume_events runs outside the guard of Lua loggers, for speed,
    -- and calls the logger's _session when the session changes: made to
    -- yield, the yield raises where it was called (the scheduler resumes
    -- the agent at once), so the logger fails and the agent trades on.
    -- (Its consume_events itself cannot be replaced: the exchange calls the
    -- one the logger had when added.)
    local Pair = dofile(PAIR)
    local Tamper = Pair:extend("tamper")
    function Tamper:cycle()
      L.session, L._session = "elsewhere", function() coroutine.yield() end
      Pair.cycle(self)
    end
    local traders = { Tamper:new({ money = 300, stocks = 10 }), Pair:new({ money = 300, stocks = 10 }) }
    local errors, detached = {}, {}
    local s = asx.session({ logger = L, traders = traders, clock = "virtual", seed = 1,
      on_error = function(_, _, text) errors[#errors + 1] = text:match("^[^\n]*") end,
      on_logger_error = function(_, logger, text) detached[#detached + 1] = { logger, text:match("^[^\n]*") } end })
    local ok, err = pcall(s.run, s)
    assert(ok, err)
    assert.are.same({}, errors)
    assert.are.same({ { L, "csv logger(" .. path .. ") failed and was detached: coroutine.yield called "
      .. "in an agent's own coroutine (use self:sleep(seconds) to wait)" } }, detached)
    assert.are.same({ "finished", "finished" }, { s:agent_state(1), s:agent_state(2) })
    assert.are.equal(2, s:summary().trades)
    assert.is_false(s.exchange:delivering())
    assert.are.same({ 600, 20 }, { s:totals() })
    assert.are.equal(0, s.exchange:stats().resting)
    L:close()
    os.remove(path)
  end)

  -- Agent a of the two scripts below: it sells 10 to 14, then buys them
  -- all at 20, an exchange event and five trades for their logger.
  local SELLS_THEN_BUYS = [=[
local A = asx.Trader:extend("a")
function A:cycle()
  for p = 10, 14 do self:sell(1, p) end
  self:buy(5, 20)
  self:sleep(0.5)
end
]=]

  it("that yields by a coroutine.yield saved before asx was loaded is detached; no delivery is left half "
    .. "done for code holding the coroutine to resume later", function()
    -- A separate process, so that coroutine.yield is the standard one when
    -- the logger takes it. The logger keeps the agent's coroutine and
    -- yields in the middle of a delivery of six records; another agent
    -- then sweeps a thousand offers (the book's records move to a larger
    -- buffer) and resumes the kept coroutine. The yield raised in the
    -- logger instead, so the coroutine kept is the agent's, which has
    -- finished: there is nothing to resume.
    local script = run.tmpname(".lua")
    local r = run_script(script, [=[
local raw_yield = coroutine.yield
local asx = require("asx")
local held, after = nil, {}
local L = { send_event = function(_, ty, m)
  if held then after[#after + 1] = ty end
  if ty == "exchange" and not held then held = coroutine.running(); raw_yield() end
end }
]=] .. SELLS_THEN_BUYS .. [=[
local B = asx.Trader:extend("b")
function B:cycle()
  self:sleep(1)
  for k = 1, 1000 do self:sell(1, 10 + k) end
  self:buy(1000, 5000)
  print("resumed", coroutine.resume(held))
  self:sleep(1)
end
local s = asx.session({ clock = "virtual", seed = 1, duration = 5, logger = L,
  on_logger_error = function(_, _, text) print(text:match("^[^\n]*")) end,
  traders = { A:new({ money = 1e9, stocks = 10 }), B:new({ money = 1e9, stocks = 1000 }) } })
s:run()
print(#after, s:agent_state(1), s:agent_state(2), s:summary().trades, s.exchange:delivering())
]=])
    assert.are.equal(0, r.status, r.stdout)
    assert.are.same({
      -- Failed at the line it had reached when the yield raised (the hook
      -- that raises runs at the next instruction); the message names the
      -- line of the yield.
      "logger table: 0x failed at " .. script .. ":7 and was detached: " .. script .. ":6: a logger must "
        .. "not yield (coroutine.yield or sleep inside a logger)",
      "resumed\tfalse\tcannot resume dead coroutine",
      "0\tfinished\tfinished\t1005\tfalse",
    }, run.lines((r.stdout:gsub("table: 0x%x+", "table: 0x"))))
  end)

  it("that ends in a tail call of a coroutine.yield saved before asx was loaded is detached, and its agent "
    .. "goes on", function()
    -- The tail call left no frame of the logger's: resumed, the yield
    -- returned past the protected call, where its refusal was raised as
    -- the agent's error ('a#1: a logger must not yield ...').
    local script = run.tmpname(".lua")
    local r = run_script(script, [=[
local raw_yield = coroutine.yield
local asx = require("asx")
local L = { send_event = function(_, ty)
  if ty == "exchange" then return raw_yield() end
end }
]=] .. SELLS_THEN_BUYS .. [=[
local s = asx.session({ clock = "virtual", seed = 1, duration = 5, logger = L,
  on_error = function(_, _, text) print("agent failed: " .. text:match("^[^\n]*")) end,
  on_logger_error = function(_, _, text) print(text:match("^[^\n]*")) end,
  traders = { A:new({ money = 1e9, stocks = 10 }) } })
s:run()
print(s:agent_state(1), s:summary().trades, s.exchange:delivering())
]=])
    assert.are.equal(0, r.status, r.stdout)
    assert.are.same({
      "logger table: 0x failed and was detached: a logger must not yield (coroutine.yield or sleep inside a logger)",
      "finished\t5\tfalse",
    }, run.lines((r.stdout:gsub("table: 0x%x+", "table: 0x"))))
  end)

  it("that yields past the check in a coroutine of its caller's own, left suspended when an agent fails on "
    .. "the exchange it left delivering, stops when resumed later, reading no record of later calls", function()
    -- The logger yields with the standard coroutine.yield in the middle of
    -- a delivery of several records, in a coroutine that agent a made. a
    -- then trades, is refused (the exchange is delivering) and fails, which
    -- abandons the delivery. b makes more than a thousand records (the
    -- book's buffer would grow, and move) and then resumes the coroutine:
    -- the delivery stops where it was, sending the logger nothing more.
    local script = run.tmpname(".lua")
    local r = run_script(script, [=[
local raw_yield = coroutine.yield
local asx = require("asx")
local held, yielded, stale = nil, false, 0
local L = { send_event = function(_, ty)
  if yielded and coroutine.running() == held then stale = stale + 1 end
  if ty == "exchange" and not yielded then yielded = true; raw_yield() end
end }
local A = asx.Trader:extend("a")
function A:cycle()
  for p = 10, 14 do self:sell(1, p) end
  held = coroutine.create(function() return self:buy(5, 20).status end)
  print("first", coroutine.resume(held))
  self:sell(1, 30)
end
local B = asx.Trader:extend("b")
function B:cycle()
  self:sleep(1)
  for k = 1, 1000 do self:sell(1, 100 + k) end
  self:buy(1000, 5000)
  print("resumed", coroutine.resume(held))
  self:sleep(1)
end
local s = asx.session({ clock = "virtual", seed = 1, duration = 5, logger = L,
  on_error = function(_, _, text) print((text:gsub("\n.*", ""))) end,
  traders = { A:new({ money = 1e9, stocks = 10 }), B:new({ money = 1e9, stocks = 1000 }) } })
s:run()
print(stale, s:agent_state(1), s:agent_state(2), s:summary().trades, s.exchange:delivering())
]=])
    assert.are.equal(0, r.status, r.stdout)
    assert.are.same({
      "first\ttrue",
      "a#1: sell: a logger must not trade",
      "resumed\ttrue\tfilled",
      "0\tfailed\tfinished\t1005\tfalse",
    }, run.lines(r.stdout))
  end)

  it("os.exit in an agent stops the session, not the process", function()
    local Exiter = asx.Trader:extend("exiter")
    local after = 0
    function Exiter:cycle()
      self:sleep(1)
      os.exit(7)
      after = after + 1
    end
    local a, b = Exiter:new(), Exiter:new()
    local s = asx.session({ traders = { a, b }, clock = "virtual", seed = 1 })
    s:run()
    assert.are.equal(0, after)
    assert.are.equal(7, s.exit_code)
    assert.are.equal(("os.exit(7) in %s"):format(tostring(a)), s:summary().stopped_by)
    assert.are.equal(0, s:summary().failed)
    assert.are.equal(1, s:summary().session_time)
  end)

  it("that fails with no traceback (one of asx's own, closed under it) is reported in the same shape: "
    .. "one line, no blank line after it", function()
    local script, path = run.tmpname(".lua"), run.tmpname(".csv")
    local r = run_script(script, [=[
local asx = require("asx")
local L = require("asx.loggers").csv("]=] .. path .. [=[")
local T = asx.Trader:extend("closer")
function T:cycle()
  L:close()
  self:buy(1, 10)
end
asx.session({ clock = "virtual", seed = 1, logger = L, traders = { T:new({ money = 100, stocks = 1 }) } }):run()
io.stderr:write("end\n")
]=])
    assert.are.equal(0, r.status, r.stdout)
    os.remove(path)
    assert.are.equal("asx: csv logger(" .. path .. ") failed and was detached: consume_events: "
      .. "this logger is closed\nend\n", r.stdout)
  end)
end)

-- Checks a CSV file of trades: its header, then whole rows; returns the
-- row count.
local function csv_rows(text)
  assert.are.equal("\n", text:sub(-1))
  local rows = 0
  for i, l in ipairs(lines(text)) do
    if i == 1 then
      assert.are.equal("time,session,price,amount,buyer,seller,buy_order,sell_order,aggressor,instrument", l)
    else
      assert.matches("^[%d.]+,%d*,%d+,%d+,%d+,%d+,%d+,%d+,[bs][ue][yl]l?,STOCK$", l)
      rows = rows + 1
    end
  end
  return rows
end

-- Checks a JSONL file: whole lines, each an event; returns their types.
local function jsonl_types(text)
  assert.are.equal("\n", text:sub(-1))
  local types = {}
  for _, l in ipairs(lines(text)) do
    local e = json.decode(l)
    assert(type(e) == "table" and type(e.type) == "string", "not an event: " .. l)
    types[#types + 1] = e.type
  end
  return types
end

local function index_of(list, v)
  for i, x in ipairs(list) do
    if x == v then return i end
  end
end

local summary_lines = run.steady

-- asx-host with the pair strategy, a hostile --logger, and a CSV and a JSONL
-- log; returns the result, the summary lines, CSV rows and JSONL types.
local function host_with(logger, extra)
  local dir = tmpdir()
  local r = sh('"$HOST" -q --clock virtual --seed 1 ' .. (extra or "") .. " " .. PAIR
    .. ' --log "$D/t.csv" --log "$D/e.jsonl" --logger ' .. HOSTILE .. logger, dir)
  local rows, types = csv_rows(slurp(dir .. "/t.csv")), jsonl_types(slurp(dir .. "/e.jsonl"))
  os.execute("rm -rf '" .. dir .. "'")
  return r, summary_lines(r.stdout), rows, types
end

describe("asx-host with a hostile logger", function()
  -- Each fails on the first trade (trades.lua on the first order), is named
  -- with its file and line, once, and detached.
  local cases = {
    { "yields.lua", "spec/fixtures/hostile/yields.lua:6",
      "a logger must not yield (coroutine.yield or sleep inside a logger)", "exchange" },
    { "sleeps.lua", "spec/fixtures/hostile/sleeps.lua:8",
      "a logger must not yield (coroutine.yield or sleep inside a logger)", "exchange" },
    { "trades.lua", "spec/fixtures/hostile/trades.lua:7", "buy: a logger must not trade", "order" },
    { "raises.lua", "spec/fixtures/hostile/raises.lua:5", "cannot log this trade", "exchange" },
    { "raises_table.lua", "spec/fixtures/hostile/raises_table.lua:6", "(error object is a table value)",
      "exchange" },
    -- Raised through asx's check.lua, which the session took for the
    -- logger's code: "failed at .../lua/asx/check.lua:50".
    { "bad_call.lua", "spec/fixtures/hostile/bad_call.lua:8",
      "bad argument #1 to 'exchange' (instruments: non-empty array of names expected, got 5)", "exchange" },
  }
  for _, case in ipairs(cases) do
    local file, where, message, failed_on = case[1], case[2], case[3], case[4]
    it(file .. " is named, detached and counted; the agents go on", function()
      local r, out, rows, types = host_with(file)
      -- 3: the detached logger missed the events after (it was 0, the
      -- summary saying they were missed).
      assert.are.equal(3, r.status, r.stdout)
      local err = lines(r.stderr)
      assert.are.equal(("asx: logger spec/fixtures/hostile/%s failed at %s and was detached: %s")
        :format(file, where, message), err[1])
      assert.are.equal("stack traceback:", err[2])
      assert.is_truthy(r.stderr:find("\n\t" .. where .. ": in function", 1, true))
      local _, reports = r.stderr:gsub("asx: ", "")
      assert.are.equal(1, reports)
      -- No agent paid for it: all finished, every trade made, nothing lost.
      assert.are.same({
        "seed: 1", "clock: virtual", "session time: 1.000 s",
        "agents pair: 4 (0 running, 4 finished, 0 failed)",
        "orders: 8", "trades: 4", "volume: 4", "open/high/low/close: 10/10/10/10",
        "value pair: mean 400.00, best 400, start 400.00",
        ("logger spec/fixtures/hostile/%s: detached after an error, %d events missed")
          :format(file, #types - index_of(types, failed_on) + 1),
      }, { unpack(out, 1, 10) })
      assert.are.equal(4, rows)
      assert.are.equal(22, #types)
      assert.are.equal("session", types[#types])
    end)
  end

  it("says in --summary's loggers, as the printed summary does, how many events a detached logger missed",
    function()
    local dir = tmpdir()
    local r = sh('"$HOST" -q --clock virtual --seed 1 ' .. PAIR .. ' --logger ' .. HOSTILE
      .. 'raises.lua --summary "$D/s.json"', dir)
    local summary = require("cjson").decode(slurp(dir .. "/s.json"))
    os.execute("rm -rf '" .. dir .. "'")
    assert.are.equal(3, r.status)
    assert.is_truthy(r.stdout:find("logger spec/fixtures/hostile/raises.lua: detached after an error, "
      .. "12 events missed\n", 1, true))
    assert.are.same({ 3, { { logger = "logger spec/fixtures/hostile/raises.lua", written = require("cjson").null,
      lost = require("cjson").null, missed = 12 } } }, { summary.status, summary.loggers })
  end)

  it("--strict stops the session at a failing logger, status 1", function()
    local r, out, rows, types = host_with("raises.lua", "--strict")
    assert.are.equal(1, r.status)
    assert.are.equal("stopped by: a failed logger (--strict)", out[4])
    assert.are.equal("trades: 1", out[7])
    assert.are.equal(1, rows)
    assert.are.equal("session", types[#types])
  end)

  it("whose close raises an error without text is reported after the whole summary", function()
    local r, out, rows, types = host_with("close_raises.lua")
    assert.are.equal(0, r.status)
    assert.are.equal("asx-host: logger spec/fixtures/hostile/close_raises.lua failed in close: "
      .. "(error object is a table value)\n", r.stderr)
    assert.are.equal("agents pair: 4 (0 running, 4 finished, 0 failed)", out[4])
    assert.are.equal("value pair: mean 400.00, best 400, start 400.00", out[9])
    assert.are.equal(4, rows)
    assert.are.equal(22, #types)
  end)

  it("whose close returns an error is named with it after the whole summary", function()
    local r, out, rows = host_with("close_fails.lua")
    assert.are.equal(0, r.status)
    assert.are.equal("asx-host: logger spec/fixtures/hostile/close_fails.lua failed in close: the disk went away\n",
      r.stderr)
    assert.are.equal("value pair: mean 400.00, best 400, start 400.00", out[9])
    assert.are.equal(4, rows)
  end)

  it("whose line for the summary holds control characters has them escaped, as every text of the user's", function()
    local r = host_with("report_escapes.lua")
    assert.are.equal(0, r.status)
    assert.are.equal("mine: 3 kept\\027[2J\\027]0;pwned\\007\n", r.stdout:match("[^\n]*\n$"))
  end)

  it("os.exit in a logger stops the session with that status", function()
    local r, out, rows = host_with("exits.lua")
    assert.are.equal(5, r.status)
    assert.are.equal("", r.stderr)
    assert.are.equal("stopped by: os.exit(5) in logger spec/fixtures/hostile/exits.lua", out[4])
    assert.are.equal("trades: 1", out[7])
    assert.are.equal(1, rows)
  end)
end)

describe("asx-host with a strategy calling os.exit", function()
  it("stops the session with that status, the logs whole and the summary printed", function()
    local dir = tmpdir()
    local r = sh('"$HOST" -q --clock virtual --seed 1 ' .. HOSTILE .. 'exiting_pair.lua'
      .. ' --log "$D/t.csv" --log "$D/e.jsonl" --summary "$D/s.json"', dir)
    local rows, types = csv_rows(slurp(dir .. "/t.csv")), jsonl_types(slurp(dir .. "/e.jsonl"))
    -- --summary says who stopped it as the printed summary does, where it
    -- said null (it named signals only).
    local summary = require("cjson").decode(slurp(dir .. "/s.json"))
    assert.are.same({ "os.exit(3) in pair#2", 3 }, { summary.stopped_by, summary.status })
    os.execute("rm -rf '" .. dir .. "'")
    assert.are.equal(3, r.status)
    assert.are.equal("", r.stderr)
    local out = summary_lines(r.stdout)
    assert.are.same({
      "seed: 1", "clock: virtual", "session time: 1.000 s", "stopped by: os.exit(3) in pair#2",
      -- pair#2 is suspended for good: never resumed, it did not fail.
      "agents pair: 4 (3 running, 1 finished, 0 failed)",
      "orders: 6", "trades: 2", "volume: 2", "open/high/low/close: 10/10/10/10",
      "value pair: mean 400.00, best 400, start 400.00",
      "csv: 2 rows written to " .. dir .. "/t.csv",
      ("jsonl: %d lines written to %s/e.jsonl"):format(#types, dir),
    }, out)
    assert.are.equal(2, rows)
    assert.are.equal("session", types[#types])
  end)
end)

describe("os.exit elsewhere", function()
  it("at the prompt stops the session with that status and prints the summary", function()
    local dir = tmpdir()
    local r = sh([[printf 'me:sell(1, 10)\nos.exit(4)\nprint("not run")\n' | "$HOST" -i -q --clock virtual ]]
      .. [[--seed 2 --log "$D/t.csv"]], dir)
    local rows = csv_rows(slurp(dir .. "/t.csv"))
    os.execute("rm -rf '" .. dir .. "'")
    assert.are.equal(4, r.status)
    assert.are.equal("os.exit: the session stops\n", r.stderr)
    local out = summary_lines(r.stdout)
    assert.are.equal("order#1(sell 1 @ 10, filled 0, open)", out[1])
    assert.are.equal("stopped by: os.exit(4) in code outside any agent", out[5])
    assert.are.equal("orders: 1", out[7])
    assert.are.equal(0, rows)
  end)

  it("outside a session closes the open loggers first, so their files are whole", function()
    local dir = tmpdir()
    local r = sh([[export D; LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="]] .. run.BUILD .. [[/?.so;;" luajit -e '
      local asx = require("asx")
      require("asx.session")
      local L = require("asx.loggers").csv(os.getenv("D") .. "/t.csv")
      local ex = asx.exchange({ logger = L })
      local a = asx.trader({ exchange = ex, money = 100, stocks = 1 })
      a:sell(1, 10)
      a:buy(1, 10)
      os.exit(6)']], dir)
    local text = slurp(dir .. "/t.csv")
    os.execute("rm -rf '" .. dir .. "'")
    assert.are.equal(6, r.status)
    assert.are.equal(1, csv_rows(text))
  end)
end)
