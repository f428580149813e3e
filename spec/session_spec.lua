-- asx.session: traders as agents, on the virtual clock unless a test is
-- about the real one. Times, orders and balances are compared exactly.
local asx = require("asx")

-- A logger that keeps every event it is sent, as "type time fields".
local function recorder()
  local L = { events = {} }
  function L:send_event(event_type, m)
    if event_type == "exchange" then
      self.events[#self.events + 1] = ("trade %s %d@%d %d>%d"):format(m.time, m.amount, m.price,
        m.seller, m.buyer)
    elseif event_type == "order" then
      self.events[#self.events + 1] = ("order %s %s %d@%s by %d"):format(m.time, m.side, m.amount,
        tostring(m.price), m.trader)
    else
      self.events[#self.events + 1] = event_type .. " " .. tostring(m.time)
    end
  end
  return L
end

-- A class whose agents follow a script: a list of sleeps, logging each wake.
local function scripted(log)
  local Cls = asx.Trader:extend("scripted")
  function Cls:cycle()
    for _, d in ipairs(self.delays) do
      log[#log + 1] = ("%s@%s"):format(self.tag, self:now())
      self:sleep(d)
    end
  end
  return Cls
end

describe("asx.session", function()
  it("wakes agents in time order and equal times in the order they were set", function()
    local log = {}
    local S = scripted(log)
    local s = asx.session({ clock = "virtual", seed = 1, traders = {
      S:new({ tag = "a", delays = { 1, 0.5 } }),
      S:new({ tag = "b", delays = { 0.5, 1 } }),
      S:new({ tag = "c", delays = { 0.5, 0 } }),
    } })
    s:run()
    assert.are.same({ "a@0", "b@0", "c@0", "b@0.5", "c@0.5", "a@1" }, log)
    assert.are.equal(1.5, s:now())
  end)

  it("sleep(0) lets every other ready agent run first", function()
    local log = {}
    local S = scripted(log)
    local s = asx.session({ clock = "virtual", seed = 1, traders = {
      S:new({ tag = "a", delays = { 0, 0 } }),
      S:new({ tag = "b", delays = { 0 } }),
      S:new({ tag = "c", delays = {} }),
    } })
    s:run()
    assert.are.same({ "a@0", "b@0", "a@0" }, log)
  end)

  it("tells the loggers when agents start, finish and fail, in its session", function()
    local Quick = asx.Trader:extend("quick")
    function Quick:cycle() self:sleep(1) end
    local Broken = asx.Trader:extend("broken")
    function Broken:cycle() self:sleep(2); error("out of ideas", 0) end
    local seen = {}
    local L = { send_event = function(_, event_type, m)
      if event_type == "agent" or event_type == "session" then seen[#seen + 1] = m end
    end }
    local q, b = Quick:new(), Broken:new()
    local s = asx.session({ clock = "virtual", seed = 5, traders = { q, b }, logger = L,
      on_error = function() end })
    s:run()
    local failed = seen[5]
    assert.matches("^broken#%d+: out of ideas", failed.message)
    failed.message = nil
    assert.are.same({
      { time = 0, session = "5", state = "start", seed = 5, clock = "virtual" },
      { time = 0, session = "5", id = q.id, name = tostring(q), strategy = "quick", state = "started" },
      { time = 0, session = "5", id = b.id, name = tostring(b), strategy = "broken", state = "started" },
      { time = 1, session = "5", id = q.id, name = tostring(q), strategy = "quick", state = "finished" },
      { time = 2, session = "5", id = b.id, name = tostring(b), strategy = "broken", state = "failed" },
      { time = 2, session = "5", state = "stop", seed = 5, clock = "virtual" },
    }, seen)
  end)

  it("sets the exchange clock to the session time", function()
    local T = asx.Trader:extend("t")
    function T:cycle()
      self:sleep(0.25)
      self:sell(1, 10)
      self:sleep(0.5)
      self:buy(1, 10)
    end
    local L = recorder()
    local t = T:new({ money = 100, stocks = 5 })
    local s = asx.session({ clock = "virtual", seed = 1, traders = { t }, logger = L })
    s:run()
    -- The agent starts with the session and finishes when its cycle returns.
    assert.are.same({
      "session 0",
      "agent 0",
      ("order 0.25 sell 1@10 by %d"):format(t.id),
      ("order 0.75 buy 1@10 by %d"):format(t.id),
      ("trade 0.75 1@10 %d>%d"):format(t.id, t.id),
      "agent 0.75",
      "session 0.75",
    }, L.events)
    assert.are.equal(0.75, s.exchange:time())
  end)

  it("keeps its clock when another session is made on its exchange while it runs", function()
    local T = asx.Trader:extend("t")
    function T:cycle()
      self:sleep(1)
      self:buy(1, 10)
      self:sleep(1)
      asx.session({ clock = "virtual", seed = 2, exchange = self.exchange })
      self:sleep(1)
      self:buy(1, 10)
    end
    local L = recorder()
    local t = T:new({ money = 100 })
    asx.session({ clock = "virtual", seed = 1, traders = { t }, logger = L }):run()
    assert.are.same({ "session 0", "agent 0", ("order 1 buy 1@10 by %d"):format(t.id),
      ("order 3 buy 1@10 by %d"):format(t.id), "agent 3", "session 3" }, L.events)
  end)

  it("runs on its own clock when another session was made on its exchange before it ran", function()
    local T = asx.Trader:extend("t")
    function T:cycle()
      self:sleep(2)
      self:buy(1, 10)
    end
    local L = recorder()
    local ex = asx.exchange({ logger = L })
    local t = T:new({ money = 100, exchange = ex })
    local first = asx.session({ clock = "virtual", seed = 1, exchange = ex, traders = { t } })
    asx.session({ clock = "virtual", seed = 2, exchange = ex })
    first:run()
    assert.are.same({ "session 0", "agent 0", ("order 2 buy 1@10 by %d"):format(t.id), "agent 2", "session 2" },
      L.events)
  end)

  it("keeps the real clock's time finite at a speed near the largest double", function()
    -- At speed 1.7e308 the time passes the largest double once a second of
    -- wall time has gone: it stayed infinite, and the report's and the
    -- summary's per-second samplers looped for ever on it.
    local largest = 1.7976931348623157e308
    local T = asx.Trader:extend("t")
    local seen = {}
    function T:cycle()
      repeat
        self:sleep(1e307)
        seen[#seen + 1] = self:now()
      until self:now() >= largest
    end
    local s = asx.session({ clock = "real", seed = 1, traders = { T:new() } })
    s:speed(1.7e308)
    s:run()
    assert.are.equal(largest, seen[#seen])
    assert.are.equal(largest, s:now())
  end)

  it("names kill, speed and step in their errors, and kill of the agent that runs raises", function()
    local errors = {}
    local T = asx.Trader:extend("t")
    local s
    function T:cycle()
      self:sleep(1)
      s:kill(self)
    end
    s = asx.session({ clock = "virtual", seed = 1, traders = { T:new() },
      on_error = function(_, _, text) errors[#errors + 1] = text:match("^[^\n]*") end })
    for _, case in ipairs({
      { s.speed, 0 / 0, "bad argument #1 to 'speed' (positive finite factor expected, got nan)" },
      { s.speed, -1, "bad argument #1 to 'speed' (positive finite factor expected, got -1)" },
      { s.speed, "2", "bad argument #1 to 'speed' (positive finite factor expected, got string)" },
      { s.step, 1 / 0, "bad argument #1 to 'step' (non-negative number of seconds expected, got inf)" },
      { s.step, nil, "bad argument #1 to 'step' (non-negative number of seconds expected, got nil)" },
    }) do
      local ok, err = pcall(case[1], s, case[2])
      assert.is_false(ok)
      assert.are.equal(case[3], err)
    end
    s:run()
    assert.are.same({ ("t#N: spec/session_spec.lua:%d: kill: t#N is running; it can stop itself by returning")
      :format(debug.getinfo(T.cycle, "S").linedefined + 2) }, { (errors[1]:gsub("#%d+", "#N")) })
  end)

  it("ends at the duration: a wake-up at exactly the duration runs, the clock stops there", function()
    local log = {}
    local S = scripted(log)
    local s = asx.session({ clock = "virtual", seed = 1, duration = 2, traders = {
      S:new({ tag = "a", delays = { 2, 1 } }),
      S:new({ tag = "b", delays = { 1.5, 0.75 } }),
    } })
    s:run()
    assert.are.same({ "a@0", "b@0", "b@1.5", "a@2" }, log)
    assert.are.equal(2, s:now())
    -- now() keeps its value after run.
    assert.are.equal(2, s:now())
    assert.are.equal("waiting", s:agent_state(1))
  end)

  it("returns when every agent has finished", function()
    local log = {}
    local S = scripted(log)
    local s = asx.session({ clock = "virtual", seed = 1, duration = 100,
      traders = { S:new({ tag = "a", delays = { 3 } }) } })
    s:run()
    assert.are.equal(3, s:now())
    assert.are.equal("finished", s:agent_state(1))
    assert.are.equal("ended", s:state())
    assert.has_error(function() s:run() end, "run: this session has run already; make a new one")
  end)

  it("stops from an agent: nothing runs after the stopping agent's turn", function()
    local log = {}
    local S = scripted(log)
    local s
    local Stopper = asx.Trader:extend("stopper")
    function Stopper:cycle()
      self:sleep(1.25)
      s:stop()
      log[#log + 1] = "stopped"
    end
    s = asx.session({ clock = "virtual", seed = 1, traders = {
      S:new({ tag = "a", delays = { 1, 1, 1 } }), Stopper:new(),
    } })
    s:run()
    assert.are.same({ "a@0", "a@1", "stopped" }, log)
    assert.are.equal(1.25, s:now())
  end)

  it("stopped before run, runs nothing", function()
    local log = {}
    local s = asx.session({ clock = "virtual", seed = 1,
      traders = { scripted(log):new({ tag = "a", delays = { 1 } }) } })
    s:stop()
    s:run()
    assert.are.same({}, log)
    assert.are.equal(0, s:now())
  end)

  it("refuses a pause that nothing could resume: the agent that asks fails, naming pause, and the session goes on", function()
    local errors, log = {}, {}
    local s
    local Pauser = asx.Trader:extend("pauser")
    function Pauser:cycle()
      self:sleep(1)
      s:pause()
    end
    s = asx.session({ clock = "virtual", seed = 1, duration = 3,
      on_error = function(_, _, text) errors[#errors + 1] = text end,
      traders = { Pauser:new(), scripted(log):new({ tag = "a", delays = { 1, 1, 1, 1 } }) } })
    assert.has_error(function() s:pause(true) end,
      "pause: nothing can resume this session (no prompt, no --http-control); s:stop() ends it")
    assert.are.equal("new", s:state())
    s:run()
    assert.are.same({ "a@0", "a@1", "a@2", "a@3" }, log)
    assert.are.equal(3, s:now())
    assert.are.equal(1, #errors)
    assert.matches("^pauser#%d+: spec/session_spec%.lua:%d+: pause: nothing can resume this session", errors[1])
  end)

  it("goes on when a strategy writes the exchange's loggers and events: the fields change, not what the exchange does", function()
    local L = recorder()
    local errors = {}
    local Vandal = asx.Trader:extend("vandal")
    function Vandal:cycle()
      self:sleep(1)
      self.exchange.events = nil
      self.exchange.loggers = nil
      self:sleep(1)
      self:buy(1, 10)
      self:sleep(1)
    end
    local Seller = asx.Trader:extend("seller")
    function Seller:cycle()
      self:sleep(1.5)
      self:sell(1, 10)
    end
    local vandal, seller = Vandal:new({ money = 100 }), Seller:new({ stocks = 1 })
    local s = asx.session({ clock = "virtual", seed = 1, duration = 5, logger = L,
      on_error = function(_, _, text) errors[#errors + 1] = text end, traders = { vandal, seller } })
    s:run()
    assert.are.same({}, errors)
    assert.are.equal(3, s:now())
    assert.are.equal(1, vandal.stocks)
    local trade = ("trade 2 1@10 %d>%d"):format(seller.id, vandal.id)
    local found = false
    for _, e in ipairs(L.events) do found = found or e == trade end
    assert.is_true(found)
    assert.are.equal(#L.events, s.exchange.events)
  end)

  it("isolates a failing agent: it stops, its orders are cancelled, the others go on", function()
    local Bad = asx.Trader:extend("bad")
    function Bad:cycle()
      self:sell(2, 50)
      self:buy(1, 5)
      self:sleep(1)
      error("boom")
    end
    local Good = asx.Trader:extend("good")
    function Good:cycle()
      for _ = 1, 3 do self:sleep(1) end
      self.done = true
    end
    local errors = {}
    local bad, good = Bad:new({ money = 100, stocks = 10 }), Good:new()
    local s = asx.session({ clock = "virtual", seed = 1, traders = { bad, good },
      on_error = function(_, t, text) errors[#errors + 1] = { t, text } end })
    s:run()
    assert.is_true(good.done)
    assert.are.equal(3, s:now())
    assert.are.equal(1, #errors)
    assert.are.equal(bad, errors[1][1])
    assert.matches(("^bad#%d: spec/session_spec%%.lua:%%d+: boom\nstack traceback:\n"):format(bad.id),
      errors[1][2])
    assert.are.equal(1, s.failed)
    assert.are.equal("failed", s:agent_state(bad))
    assert.are.equal("finished", s:agent_state(good))
    local buys, sells = bad:standing_orders()
    assert.are.same({}, buys)
    assert.are.same({}, sells)
    assert.is_nil(s.exchange:best_bid())
    assert.is_nil(s.exchange:best_ask())
  end)

  it("runs each cycle at the bottom of its agent's coroutine: nothing of asx below it", function()
    local Bad = asx.Trader:extend("bad")
    local below = "unset"
    local first = debug.getinfo(1, "l").currentline + 1
    function Bad.cycle()
      below = debug.getinfo(2, "S")
      error("boom")
    end
    local errors = {}
    local bad = Bad:new()
    local s = asx.session({ clock = "virtual", seed = 1, traders = { bad },
      on_error = function(_, _, text) errors[#errors + 1] = text end })
    s:run()
    assert.is_nil(below)
    assert.are.same({ ("bad#%d: spec/session_spec.lua:%d: boom\nstack traceback:\n"
      .. "\t[C]: in function 'error'\n"
      .. "\tspec/session_spec.lua:%d: in function <spec/session_spec.lua:%d>"):format(
        bad.id, first + 2, first + 2, first) }, errors)
  end)

  it("reports an error object by its __tostring, as a logger's, else by its type", function()
    -- error(setmetatable({}, { __tostring = f })) was reported as
    -- "(error object is a table value)", here and in the failed event.
    local Bad = asx.Trader:extend("bad")
    local errors, failed = {}, {}
    local objects = {
      setmetatable({}, { __tostring = function() return "out of cash" end }),
      setmetatable({}, { __tostring = function() error("no text") end }),
      setmetatable({}, { __tostring = function() return 42 end }),
      { code = 3 },
    }
    function Bad:cycle() error(objects[self.n]) end
    local L = { send_event = function(_, event_type, m)
      if event_type == "agent" and m.state == "failed" then
        failed[#failed + 1] = m.message:match("^bad#%d+: ([^\n]*)")
      end
    end }
    local traders = {}
    for n = 1, #objects do traders[n] = Bad:new({ n = n }) end
    local s = asx.session({ clock = "virtual", seed = 1, traders = traders, logger = L,
      on_error = function(_, _, text) errors[#errors + 1] = text:match("^bad#%d+: ([^\n]*)") end })
    s:run()
    local want = { "out of cash", "(error object is a table value)", "(error object is a table value)",
      "(error object is a table value)" }
    assert.are.same(want, errors)
    assert.are.same(want, failed)
  end)

  it("ends at the first error with strict, also when its on_error handler raises", function()
    local Bad = asx.Trader:extend("bad")
    function Bad:cycle() self:sleep(1); error("boom") end
    local Good = asx.Trader:extend("good")
    function Good:cycle() for _ = 1, 5 do self:sleep(1) end end
    local told = 0
    local s = asx.session({ clock = "virtual", seed = 1, strict = true, traders = { Bad:new(), Good:new() },
      on_error = function() told = told + 1; error({}) end })
    s:run()
    assert.are.same({ 1, 1, "failed", "waiting", "a failed agent (--strict)" },
      { told, s:now(), s:agent_state(1), s:agent_state(2), s:summary().stopped_by })
  end)

  -- One wording for an error value, from one function (asx__lua_error_text,
  -- check.error_text): a table without __tostring was 'table: 0x...' from
  -- a raising on_error and an on_fill handler, and '?' from C.
  it("says an error value that is no string by its __tostring, else by its type, never its address", function()
    local run = require("helpers.run")
    local d = run.tmpdir()
    run.write(d .. "/raise.lua", [[
local asx = require("asx")
local Bad = asx.Trader:extend("bad")
function Bad:cycle() self:sleep(1); error("boom") end
for _, e in ipairs({ {}, setmetatable({}, { __tostring = function() return "a table's own text" end }),
    setmetatable({}, { __tostring = function() error("no") end }), 2 ^ 60, true }) do
  asx.session({ clock = "virtual", seed = 1, traders = { Bad:new() }, on_error = function() error(e, 0) end }):run()
end
local s = asx.session({ clock = "virtual", seed = 1, duration = 1, traders = { Bad:new() },
  on_error = function() end })
local ticks = { {}, setmetatable({}, { __tostring = function() return "tick's" end }) }
s.sched:on_tick(function() error(table.remove(ticks, 1)) end, 1)
s:run()
]])
    local r = run.sh(("'%s' \"$D/raise.lua\""):format(run.LUA), d)
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal(table.concat({
      "asx: the agent error handler failed: (error object is a table value)",
      "asx: the agent error handler failed: a table's own text",
      "asx: the agent error handler failed: (error object is a table value)",
      "asx: the agent error handler failed: 1152921504606846976",
      "asx: the agent error handler failed: (error object is a boolean value)",
      "asx: the tick function failed: (error object is a table value)",
      "asx: the tick function failed: tick's", "" }, "\n"), r.stderr)
    assert.are.equal(0, r.status)

    local errors = {}
    local Loud = asx.Trader:extend("loud")
    function Loud.on_fill() error({}) end
    function Loud:cycle() self:sell(1, 100); self:sleep(5) end
    local Taker = asx.Trader:extend("taker")
    function Taker:cycle() self:sleep(1); self:buy(1, 100) end
    local Big = asx.Trader:extend("big")
    function Big:cycle() self:sleep(2); error(2 ^ 60, 0) end
    asx.session({ clock = "virtual", seed = 1, traders = { Loud:new({ stocks = 1 }), Taker:new({ money = 100 }),
      Big:new() }, on_error = function(_, _, text) errors[#errors + 1] = (text:match("^[^\n]*"):gsub("#%d+", "#N")) end })
      :run()
    assert.are.same({ "loud#N: (error object is a table value)", "big#N: 1152921504606846976" }, errors)
  end)

  it("names the caller's line when os.exit is given what is no status", function()
    local errors = {}
    local T = asx.Trader:extend("t")
    function T:cycle()
      self:sleep(1)
      os.exit(0 / 0)
    end
    asx.session({ clock = "virtual", seed = 1, traders = { T:new() },
      on_error = function(_, _, text) errors[#errors + 1] = text:match("^[^\n]*") end }):run()
    assert.are.same({ ("t#N: spec/session_spec.lua:%d: bad argument #1 to 'exit' (number expected, got nan)")
      :format(debug.getinfo(T.cycle, "S").linedefined + 2) }, { (errors[1]:gsub("^t#%d+", "t#N")) })
  end)

  it("ends at the first error with strict", function()
    local log = {}
    local Bad = asx.Trader:extend("bad")
    function Bad:cycle()
      self:sleep(1)
      error("boom")
    end
    local s = asx.session({ clock = "virtual", seed = 1, strict = true, on_error = function() end,
      traders = { Bad:new(), scripted(log):new({ tag = "a", delays = { 1, 1, 1 } }) } })
    s:run()
    assert.are.same({ "a@0" }, log)
    assert.are.equal(1, s:now())
    assert.matches("^bad#%d+: ", s.first_error)
  end)

  it("raises in the agent for a bad sleep", function()
    local errors = {}
    local T = asx.Trader:extend("t")
    function T:cycle() self:sleep(-0.5) end
    local s = asx.session({ clock = "virtual", seed = 1, traders = { T:new() },
      on_error = function(_, _, text) errors[#errors + 1] = text end })
    s:run()
    assert.matches(": bad argument #1 to 'sleep' %(non%-negative number of seconds expected, got %-0%.5%)",
      errors[1])
  end)

  it("wakes a sleep past the largest time at the largest time, the agent going on", function()
    -- The second sleep's wake-up, 1e308 + 1e308, overflows to infinity.
    local errors, woke = {}, {}
    local T = asx.Trader:extend("t")
    function T:cycle()
      for _ = 1, 2 do
        self:sleep(1e308)
        woke[#woke + 1] = self:now()
      end
      self:sleep(1)
      woke[#woke + 1] = self:now()
    end
    local s = asx.session({ clock = "virtual", seed = 1, traders = { T:new() },
      on_error = function(_, _, text) errors[#errors + 1] = text end })
    s:run()
    assert.are.same({}, errors)
    assert.are.same({ 1e308, 1.7976931348623157e308, 1.7976931348623157e308 }, woke)
    assert.are.equal("finished", s:agent_state(1))
  end)

  it("names the caller's line in sleep's errors, for a bad argument and outside the agent's coroutine", function()
    local errors = {}
    local T = asx.Trader:extend("t")
    local line = debug.getinfo(1, "l").currentline
    function T:cycle()
      if self.nested then
        local ok, err = coroutine.resume(coroutine.create(function() self:sleep(1) end))
        error(ok and "slept" or err, 0)
      end
      -- 0.1 as the user wrote it, not 0.10000000000000001 (%.17g).
      self:sleep(-0.1)
    end
    local s = asx.session({ clock = "virtual", seed = 1, traders = { T:new(), T:new({ nested = true }) },
      on_error = function(_, _, text) errors[#errors + 1] = text:match("^t#%d+: ([^\n]*)") end })
    s:run()
    assert.are.same({
      ("spec/session_spec.lua:%d: bad argument #1 to 'sleep' (non-negative number of seconds expected, got -0.1)")
        :format(line + 7),
      ("spec/session_spec.lua:%d: sleep: only an agent can sleep, in its cycle's own coroutine"):format(line + 3),
    }, errors)
  end)

  it("raises sleep in a coroutine an agent makes with coroutine.wrap, and sleeps again in its own", function()
    local errors, woke = {}, {}
    local T = asx.Trader:extend("t")
    local line = debug.getinfo(1, "l").currentline
    function T:cycle()
      local step = coroutine.wrap(function()
        coroutine.yield(1)
        self:sleep(1)
      end)
      local first = step()
      local ok, err = pcall(function()
        local r = step()
        return r
      end)
      woke[#woke + 1] = { first, ok, err }
      self:sleep(2)
      woke[#woke + 1] = self:now()
    end
    local s = asx.session({ clock = "virtual", seed = 1, traders = { T:new() },
      on_error = function(_, _, text) errors[#errors + 1] = text end })
    s:run()
    assert.are.same({}, errors)
    assert.are.same({
      { 1, false, ("spec/session_spec.lua:%d: spec/session_spec.lua:%d: sleep: only an agent can sleep, "
        .. "in its cycle's own coroutine"):format(line + 8, line + 4) },
      2,
    }, woke)
  end)

  it("fails an agent that asks for a wake-up through the sleep gate with a delay sleep would refuse", function()
    -- The gate is FFI memory, kept where only code with the debug library
    -- reaches it: a request written there is not checked by sleep.
    local errors, after = {}, 0
    local T = asx.Trader:extend("t")
    function T.cycle(_)
      local private = debug.getregistry()["asx.private"]
      private.sleep_gate.delay = 0 / 0
      private.sleep_gate.req = 1
      private.raw_yield()
      after = after + 1
    end
    local s = asx.session({ clock = "virtual", seed = 1, traders = { T:new(), T:new() },
      on_error = function(_, _, text) errors[#errors + 1] = text:match("^[^\n]*") end })
    s:run()
    local want = "t#N: sleep: the wake-up's delay is not a non-negative finite number of seconds"
    assert.are.same({ want, want }, { (errors[1]:gsub("#%d+", "#N")), (errors[2]:gsub("#%d+", "#N")) })
    assert.are.equal(2, #errors)
    assert.are.equal(0, after)
    assert.are.same({ "failed", "failed" }, { s:agent_state(1), s:agent_state(2) })
  end)

  it("keeps coroutine.resume's and coroutine.wrap's results and errors, with the caller's line", function()
    local line = debug.getinfo(1, "l").currentline
    local boom = coroutine.wrap(function() error("boom") end)
    local done = coroutine.wrap(function() end)
    done()
    local gen = coroutine.wrap(function(a) local b = coroutine.yield(a + 1) return b * 2 end)
    local got = {}
    got[1] = { pcall(function() local r = boom() return r end) }
    got[2] = { pcall(function() local r = done() return r end) }
    got[3] = { pcall(function() local r = coroutine.resume(5) return r end) }
    got[4] = { pcall(function() local r = coroutine.wrap(5) return r end) }
    got[5] = { gen(1), gen(5) }
    got[6] = { coroutine.resume(coroutine.create(function(x) return x, coroutine.yield(x + 1) end), 1) }
    local here = "spec/session_spec.lua:"
    assert.are.same({
      { false, here .. (line + 6) .. ": " .. here .. (line + 1) .. ": boom" },
      { false, here .. (line + 7) .. ": cannot resume dead coroutine" },
      { false, here .. (line + 8) .. ": bad argument #1 to 'resume' (coroutine expected)" },
      { false, here .. (line + 9) .. ": bad argument #1 to 'wrap' (function expected, got number)" },
      { 2, 10 },
      { true, 2 },
    }, got)
  end)

  it("refuses a stray coroutine.yield after a sleep that could not yield", function()
    local errors, caught = {}, {}
    local T = asx.Trader:extend("t")
    function T:cycle()
      local ok, err = pcall(table.sort, { 3, 1, 2 }, function(a, b)
        self:sleep(1)
        return a < b
      end)
      caught[1], caught[2] = ok, err:match("attempt to yield across C%-call boundary")
      coroutine.yield()
    end
    local s = asx.session({ clock = "virtual", seed = 1, traders = { T:new() },
      on_error = function(_, _, text) errors[#errors + 1] = text:match("^t#%d+: ([^\n]*)") end })
    s:run()
    assert.are.same({ false, "attempt to yield across C-call boundary" }, caught)
    assert.are.same({ "coroutine.yield called in an agent's own coroutine (use self:sleep(seconds) to wait)" },
      errors)
  end)

  it("fails an agent whose cycle ends in a tail call of coroutine.yield, and nothing else", function()
    -- Resumed, such a cycle had no instruction left to run, so the agent
    -- counted finished and the error meant for it was raised in the next
    -- Lua code anywhere: the session's own handler of the agent's end
    -- ('asx: the agent finish handler failed: coroutine.yield called ...').
    local errors, events = {}, {}
    local T = asx.Trader:extend("t")
    function T:cycle()
      self:sleep(1)
      return coroutine.yield()
    end
    local Fine = asx.Trader:extend("fine")
    function Fine:cycle() self:sleep(2) end
    local L = { send_event = function(_, event_type, m)
      if event_type == "agent" then events[#events + 1] = m.strategy .. " " .. m.state .. " " .. m.time end
    end }
    local s = asx.session({ clock = "virtual", seed = 1, traders = { T:new(), Fine:new() }, logger = L,
      on_error = function(_, _, text) errors[#errors + 1] = text:match("^t#%d+: ([^\n]*)") end })
    s:run()
    assert.are.same({ "coroutine.yield called in an agent's own coroutine (use self:sleep(seconds) to wait)" },
      errors)
    assert.are.same({ "t started 0", "fine started 0", "t failed 1", "fine finished 2" }, events)
    assert.are.same({ "failed", "finished" }, { s:agent_state(s.traders[1]), s:agent_state(s.traders[2]) })
  end)

  it("lets an agent catch its stray coroutine.yield with pcall, whatever calls the yield", function()
    -- The error was raised by a hook at the instruction after the yield: past
    -- a pcall that called the yield itself, or whose function tail-called it,
    -- so the agent failed though it had caught the error.
    local caught, errors = {}, {}
    local T = asx.Trader:extend("t")
    function T:cycle()
      caught[#caught + 1] = select(2, pcall(coroutine.yield))
      caught[#caught + 1] = select(2, pcall(function() return coroutine.yield() end))
      caught[#caught + 1] = select(2, xpcall(coroutine.yield, function(e) return "handled: " .. e end))
      self:sleep(1)
    end
    local s = asx.session({ clock = "virtual", seed = 1, traders = { T:new() },
      on_error = function(_, _, text) errors[#errors + 1] = text end })
    s:run()
    local stray = "coroutine.yield called in an agent's own coroutine (use self:sleep(seconds) to wait)"
    assert.are.same({ stray, stray, "handled: " .. stray }, caught)
    assert.are.same({}, errors)
    assert.are.same({ "finished", 1 }, { s:agent_state(s.traders[1]), s:now() })
  end)

  -- A fixed, seeded market of random traders: returns its events and figures.
  local function market(seed, n)
    local Random = dofile("strategies/random_trader.lua")
    local L = recorder()
    local traders = {}
    for i = 1, n do traders[i] = Random:new({ money = 300, stocks = 10 }) end
    local s = asx.session({ clock = "virtual", seed = seed, duration = 30, traders = traders, logger = L })
    local m0, s0 = s:totals()
    s:run()
    -- Trader ids differ from run to run; events name them relative to the
    -- first, so two runs compare equal when the same agents traded.
    local base = traders[1].id - 1
    local events = {}
    for i, e in ipairs(L.events) do
      events[i] = e:gsub("by (%d+)", function(id) return "by " .. (id - base) end)
        :gsub("(%d+)>(%d+)", function(a, b) return (a - base) .. ">" .. (b - base) end)
    end
    local sum = s:summary()
    sum.wall_time, sum.orders_per_sec = nil, nil
    local m1, s1 = s:totals()
    return events, sum, { m0, s0, m1, s1 }
  end

  it("repeats a virtual-clock run exactly with the same seed, and differs with another", function()
    local e1, sum1 = market(11, 30)
    local e2, sum2 = market(11, 30)
    local e3 = market(12, 30)
    assert.is_true(#e1 > 100)
    assert.are.same(e1, e2)
    assert.are.same(sum1, sum2)
    assert.are_not.same(e1, e3)
    assert.are.equal(11, sum1.seed)
  end)

  -- The scheduler's handlers, which C keeps in the registry, held the
  -- session: every session a process made stayed, with its scheduler,
  -- exchange, traders and their coroutines (5 KB each with no agent).
  it("is collected once nothing reaches it, run or not, with its exchange and traders", function()
    local T = asx.Trader:extend("collected")
    function T:cycle() self:sleep(1) self:buy(1, 10) self:sleep(100) end
    local gone = setmetatable({}, { __mode = "k" })
    for _, runs in ipairs({ true, false }) do
      local s = asx.session({ clock = "virtual", seed = 1, duration = 5, traders = { T:new({}), T:new({}) } })
      if runs then s:run() end
      gone[s], gone[s.exchange], gone[s.traders[1]] = true, true, true
    end
    for _ = 1, 6 do collectgarbage() end
    assert.is_nil(next(gone))
  end)

  it("keeps the totals of money and stocks over a session", function()
    local _, sum, t = market(3, 50)
    assert.is_true(sum.trades > 0)
    assert.are.equal(t[1], t[3])
    assert.are.equal(t[2], t[4])
    assert.are.equal(50 * 300, t[3])
    assert.are.equal(50 * 10, t[4])
  end)

  it("seeds self:random from the agent's position, not its trader id", function()
    local function draws()
      local out = {}
      local T = asx.Trader:extend("d")
      function T:cycle() out[#out + 1] = self:random(1000000) end
      -- Making a trader first shifts every id by one between the runs.
      asx.trader()
      asx.session({ clock = "virtual", seed = 9, traders = { T:new(), T:new() } }):run()
      return out
    end
    local a, b = draws(), draws()
    assert.are.same(a, b)
    assert.are_not.equal(a[1], a[2])
  end)

  it("keeps an agent's draws its own when it makes a session of its own, or tries to run one", function()
    -- on_fill runs after the turn, outside the agent's coroutine, where
    -- self:random finds the generator through the scheduler that runs.
    local function draws(nest)
      local out = {}
      local T = asx.Trader:extend("n")
      function T:on_fill() out[#out + 1] = self:random(1000000) end
      function T:cycle()
        if nest then
          local inner = asx.session({ clock = "virtual", seed = 5 })
          out[#out + 1] = select(2, pcall(inner.run, inner))
        end
        out[#out + 1] = self:random(1000000)
        self:buy(1, 10)
        self:sell(1, 10)
        self:sleep(1)
        out[#out + 1] = self:random(1000000)
      end
      asx.session({ clock = "virtual", seed = 9, traders = { T:new({ money = 100, stocks = 10 }) } }):run()
      return out
    end
    local plain, nested = draws(false), draws(true)
    assert.are.equal(4, #plain)
    assert.are.same({ "run: another session is running (sessions do not nest)", unpack(plain) }, nested)
  end)

  it("refuses to run inside another session before it changes anything, on the same exchange", function()
    -- The refusal came from the scheduler, after the inner session had given
    -- the exchange its clock and courier and its loggers its start: the outer
    -- agent's order then acted at once, logged at the inner clock's 1 s.
    local ex = asx.exchange()
    local log = recorder()
    ex:add_logger(log)
    local out = {}
    local T = asx.Trader:extend("outer")
    local I = asx.Trader:extend("inner")
    function I:cycle() self:buy(1, 10) end
    local inner
    function T:cycle()
      self:sleep(1)
      inner = asx.session({ exchange = ex, clock = "virtual", seed = 2, traders = { I:new({ money = 100 }) } })
      out[#out + 1] = select(2, pcall(inner.run, inner))
      self:sleep(1)
      out[#out + 1] = self:sell(1, 10).status
    end
    local t = T:new({ money = 100, stocks = 5 })
    asx.session({ exchange = ex, clock = "virtual", seed = 1, latency = 0.5, traders = { t } }):run()
    assert.are.same({ "run: another session is running (sessions do not nest)", "pending" }, out)
    assert.are.same({ "session 0", "agent 0", "agent 2", "order 2.5 sell 1@10 by " .. t.id, "session 2.5" },
      log.events)
    -- Refused, it has not run: it runs once the other has ended.
    inner:run()
    assert.are.same({ 1, 90 }, { inner.traders[1].stocks, inner.traders[1].money })
  end)

  it("stamps a session's start at its own time 0 on an exchange an earlier session drove", function()
    local ex = asx.exchange()
    local log = recorder()
    ex:add_logger(log)
    local T = asx.Trader:extend("t")
    function T:cycle() self:sleep(self.d) end
    asx.session({ exchange = ex, clock = "virtual", seed = 1, traders = { T:new({ d = 2.5 }) } }):run()
    asx.session({ exchange = ex, clock = "virtual", seed = 1, traders = { T:new({ d = 1 }) } }):run()
    assert.are.same({ "session 0", "agent 0", "agent 2.5", "session 2.5",
      "session 0", "agent 0", "agent 1", "session 1" }, log.events)
  end)

  it("names each session's events by its own id on an exchange an earlier session drove", function()
    -- The exchange kept the first session's id: the second's events, its
    -- start included, said session "1" whatever its seed or session_id.
    local ex = asx.exchange()
    local seen = {}
    ex:add_logger({ send_event = function(_, event_type, m) seen[#seen + 1] = event_type .. " " .. m.session end })
    local T = asx.Trader:extend("t")
    function T:cycle() self:sleep(1) end
    local function run(opts)
      opts.exchange, opts.clock, opts.traders = ex, "virtual", { T:new() }
      local s = asx.session(opts)
      s:run()
      return s.session_id
    end
    -- Made before the first runs: each names its events when it runs.
    local second = asx.session({ exchange = ex, clock = "virtual", seed = 2, traders = { T:new() } })
    assert.are.equal("1", run({ seed = 1 }))
    second:run()
    assert.are.equal("2", second.session_id)
    assert.are.equal("b", run({ seed = 3, session_id = "b" }))
    assert.are.equal("4", run({ seed = 4 }))
    -- An id the code gave the exchange stands, unless the session has one.
    ex.session_id = "mine"
    assert.are.equal("mine", run({ seed = 5 }))
    assert.are.equal("c", run({ seed = 6, session_id = "c" }))
    local want = {}
    for _, id in ipairs({ "1", "2", "b", "4", "mine", "c" }) do
      for _, e in ipairs({ "session", "agent", "agent", "session" }) do want[#want + 1] = e .. " " .. id end
    end
    assert.are.same(want, seen)
  end)

  it("leaves the exchange at the session's end time, past its last wake-up", function()
    local ex = asx.exchange()
    local log = recorder()
    ex:add_logger(log)
    local T = asx.Trader:extend("t")
    function T:cycle() self:sleep(1.5) self:sell(1, 10) self:sleep(100) end
    local seller = T:new({ stocks = 1 })
    local s = asx.session({ exchange = ex, clock = "virtual", seed = 1, duration = 2, traders = { seller } })
    s:run()
    local buyer = asx.trader({ exchange = ex, money = 10 })
    buyer:buy(1, 10)
    assert.are.same({ 2, 2 }, { s:now(), ex:time() })
    assert.are.same({ "session 0", "agent 0", "order 1.5 sell 1@10 by " .. seller.id, "session 2",
      "order 2 buy 1@10 by " .. buyer.id, ("trade 2 1@10 %d>%d"):format(seller.id, buyer.id) }, log.events)
  end)

  it("seeds math.random from the session seed", function()
    local function first()
      local v
      local T = asx.Trader:extend("m")
      function T.cycle() v = math.random() end
      asx.session({ clock = "virtual", seed = 21, traders = { T:new() } }):run()
      return v
    end
    assert.are.equal(first(), first())
  end)

  it("runs on the real clock: session time is wall time since run", function()
    local times = {}
    local T = asx.Trader:extend("r")
    function T:cycle()
      for _ = 1, 3 do
        times[#times + 1] = self:now()
        self:sleep(0.01)
      end
    end
    local s = asx.session({ traders = { T:new() }, seed = 1 })
    assert.are.equal("real", s.clock)
    s:run()
    assert.are.equal(3, #times)
    -- Each wake comes no earlier than asked; exact times depend on the machine.
    for i = 2, 3 do assert.is_true(times[i] >= times[i - 1] + 0.01) end
    assert.is_true(s:now() >= times[3] + 0.01)
  end)

  it("ends a real-clock session at its duration", function()
    local T = asx.Trader:extend("r")
    function T:cycle() while true do self:sleep(0.02) end end
    local s = asx.session({ traders = { T:new() }, seed = 1, duration = 0.05 })
    s:speed(1)
    s:run()
    assert.are.equal(0.05, s:now())
  end)

  it("refuses a speed for the virtual clock and once the session has ended, telling the factor still", function()
    -- Both were taken and did nothing.
    local v = asx.session({ seed = 1, clock = "virtual", duration = 1 })
    assert.has_error(function() v:speed(2) end,
      "speed: the virtual clock has no speed; it runs as fast as it can (use step or resume)")
    assert.are.equal(1, v:speed())
    local r = asx.session({ seed = 1, duration = 0 })
    assert.are.equal(2, r:speed(2))
    r:run()
    assert.has_error(function() r:speed(3) end, "speed: this session has ended; make a new one")
    assert.are.equal(2, r:speed())
  end)

  it("refuses a trader that is an agent already, of this session or of another that has not ended", function()
    local T = asx.Trader:extend("once")
    local woke = 0
    function T:cycle()
      woke = woke + 1
      self:sleep(1)
    end
    local t = T:new()
    local s = asx.session({ clock = "virtual", seed = 1, traders = { t } })
    local line = debug.getinfo(1, "l").currentline
    local ok, err = pcall(s.add, s, t)
    assert.is_false(ok)
    assert.are.equal(("bad argument #1 to 'add' (trader that is no agent yet expected, got trader#%d, an agent of "
      .. "this session)"):format(t.id), err)
    assert.are.equal(1, #s.traders)
    local other = asx.session({ clock = "virtual", seed = 1, exchange = s.exchange })
    ok, err = pcall(function() other:add(t) end)
    assert.is_false(ok)
    assert.are.equal(("spec/session_spec.lua:%d: bad argument #1 to 'add' (trader that is no agent yet expected, got "
      .. "trader#%d, an agent of another session that has not ended)"):format(line + 7, t.id), err)
    ok, err = pcall(asx.session, { clock = "virtual", seed = 1, exchange = s.exchange, traders = { T:new(), t } })
    assert.is_false(ok)
    assert.are.equal(("bad argument #1 to 'session' (traders[2]: trader that is no agent yet expected, got "
      .. "trader#%d, an agent of another session that has not ended)"):format(t.id), err)
    local u = T:new({ exchange = s.exchange })
    ok, err = pcall(asx.session, { clock = "virtual", seed = 1, traders = { u, u } })
    assert.is_false(ok)
    assert.are.equal(("bad argument #1 to 'session' (traders[2]: trader that is no agent yet expected, got "
      .. "trader#%d, an agent of this session)"):format(u.id), err)
    s:run()
    assert.are.equal(1, woke)
    -- Once its session has ended, it may be another's agent.
    other:add(t)
    other:run()
    assert.are.equal(2, woke)
  end)

  it("registers traders with its exchange; one of another exchange raises", function()
    local ex = asx.exchange()
    local T = asx.Trader:extend("t")
    function T.cycle() end
    local mine = T:new({ exchange = ex })
    local s = asx.session({ clock = "virtual", seed = 1, exchange = ex, traders = { mine } })
    assert.are.equal(ex, s.exchange)
    assert.are.equal(ex, mine.exchange)
    local other = T:new({ exchange = asx.exchange() })
    -- Each error names the caller's line, the function and the argument,
    -- and the trader stays out of the session.
    local function err_of(f)
      local ok, err = pcall(f)
      assert.is_false(ok)
      local at, rest = err:match("^(spec/session_spec%.lua:%d+): (.*)$")
      assert.truthy(at, err)
      return rest
    end
    assert.are.equal(("bad argument #1 to 'session' (traders[1]: trader of the session's exchange expected, "
      .. "got trader#%d, registered with another)"):format(other.id), err_of(function()
      asx.session({ clock = "virtual", seed = 1, exchange = ex, traders = { other } })
    end))
    assert.are.equal(("bad argument #1 to 'add' (trader of the session's exchange expected, "
      .. "got trader#%d, registered with another)"):format(other.id), err_of(function() s:add(other) end))
    -- A trader whose stocks name an instrument the exchange lacks.
    local bolt = T:new({ stocks = { BOLT = 1 } })
    assert.are.equal([[bad argument #1 to 'session' (traders[1]: stocks: unknown instrument "BOLT")]],
      err_of(function() asx.session({ clock = "virtual", seed = 1, exchange = ex, traders = { bolt } }) end))
    assert.are.equal([[bad argument #1 to 'add' (stocks: unknown instrument "BOLT")]],
      err_of(function() s:add(bolt) end))
    assert.are.equal([[bad argument #3 to 'spawn' (stocks: unknown instrument "BOLT")]],
      err_of(function() s:spawn(T, 2, { stocks = { BOLT = 1 } }) end))
    -- spawn's options, which new and add checked, naming themselves and
    -- asx's own line.
    assert.are.equal("bad argument #3 to 'spawn' (latency: non-negative number of seconds or function expected, "
      .. "got -1)", err_of(function() s:spawn(T, 2, { latency = -1 }) end))
    assert.are.equal("bad argument #3 to 'spawn' (exchange: the session's expected, got another)",
      err_of(function() s:spawn(T, 2, { exchange = asx.exchange() }) end))
    assert.are.equal(1, #s.traders)
    assert.is_nil(bolt.exchange)
  end)

  it("adds its logger to a given exchange", function()
    local ex = asx.exchange()
    local L = recorder()
    asx.session({ clock = "virtual", seed = 1, exchange = ex, logger = L })
    assert.are.equal(L, ex.loggers[1])
  end)

  it("summarises per strategy", function()
    local A = asx.Trader:extend("alpha")
    function A:cycle() self:sell(1, 10) end
    local B = asx.Trader:extend("beta")
    function B:cycle()
      self:sleep(1)
      self:buy(1, 10)
      self:sleep(5)
    end
    local s = asx.session({ clock = "virtual", seed = 4, duration = 2, traders = {
      A:new({ money = 0, stocks = 5 }), A:new({ money = 0, stocks = 5 }), B:new({ money = 100 }),
    } })
    s:run()
    local r = s:summary()
    assert.are.equal(2, r.session_time)
    assert.are.equal(4, r.seed)
    assert.are.equal("virtual", r.clock)
    assert.are.equal(3, r.orders)
    assert.are.equal(1, r.trades)
    assert.are.equal(10, r.close)
    assert.are.same({ name = "alpha", agents = 2, running = 0, finished = 2, failed = 0, stopped = 0,
      start_value = 50, mean_value = 50, best_value = 50 }, r.strategies[1])
    assert.are.same({ name = "beta", agents = 1, running = 1, finished = 0, failed = 0, stopped = 0,
      start_value = 100, mean_value = 100, best_value = 100 }, r.strategies[2])
  end)

  it("checks its options", function()
    local T = asx.Trader:extend("t")
    function T.cycle() end
    for _, case in ipairs({
      { 42, "bad argument #1 to 'session' (table of options expected, got 42)" },
      { { clock = "fast" }, "bad argument #1 to 'session' (clock: 'real' or 'virtual' expected, got string)" },
      { { seed = -1 }, "bad argument #1 to 'session' (seed: non-negative integer up to 2^53 - 1 expected, got -1)" },
      { { seed = 1.5 }, "bad argument #1 to 'session' (seed: non-negative integer up to 2^53 - 1 expected, got 1.5)" },
      -- The fewest digits that read back as the number, as the files write it.
      { { seed = 0.1 }, "bad argument #1 to 'session' (seed: non-negative integer up to 2^53 - 1 expected, got 0.1)" },
      { { seed = 0.1 + 0.2 },
        "bad argument #1 to 'session' (seed: non-negative integer up to 2^53 - 1 expected, got 0.30000000000000004)" },
      -- A subnormal too, where 15 digits were written for one (4.94065645841247e-324).
      { { seed = 5e-324 }, "bad argument #1 to 'session' (seed: non-negative integer up to 2^53 - 1 expected, got 5e-324)" },
      { { duration = -2 },
        "bad argument #1 to 'session' (duration: non-negative number of seconds expected, got -2)" },
      { { duration = 0 / 0 },
        "bad argument #1 to 'session' (duration: non-negative number of seconds expected, got nan)" },
      { { traders = { asx.trader() } },
        "bad argument #1 to 'session' (traders[1]: trader with a cycle method expected, got table)" },
      { { traders = { 5 } },
        "bad argument #1 to 'session' (traders[1]: trader with a cycle method expected, got 5)" },
      { { session_id = 7 }, "bad argument #1 to 'session' (session_id: string expected, got 7)" },
      { { on_error = "print" }, "bad argument #1 to 'session' (on_error: function expected, got string)" },
      { { exchange = {} }, "bad argument #1 to 'session' (exchange: exchange expected, got table)" },
      -- Ignored: a session asked for on the virtual clock ran on the real one.
      { { clok = "virtual" }, "bad argument #1 to 'session' (unknown option \"clok\": traders, exchange, logger, "
        .. "loggers, clock, seed, duration, strict, stuck_warning, latency, instruments, session_id, on_error or "
        .. "on_logger_error expected)" },
      -- Ignored, where an agent's first order in ACME failed as an unknown instrument.
      { { exchange = asx.exchange(), instruments = { "ACME", "BOLT" } }, "bad argument #1 to 'session' "
        .. "(instruments: nil expected with an exchange (an exchange has the instruments it was made with), "
        .. "got table)" },
    }) do
      local ok, err = pcall(asx.session, case[1])
      assert.is_false(ok)
      assert.are.equal(case[2], (err:gsub("^[^:]*:%d+: ", "")))
    end
  end)
end)
