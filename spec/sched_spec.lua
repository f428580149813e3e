-- The scheduler's Lua binding (src/asx_lua_sched.c) without sessions: plain
-- functions as agents, on the virtual clock, so every time is exact.
local core = require("asx.core")
require("asx.session") -- installs sleep, now and random on asx.Trader

-- Agents here are functions of one argument; sleep is called as a method on
-- that argument, as traders do.
local function agent(log, name, delays)
  return function(me)
    for _, d in ipairs(delays) do
      log[#log + 1] = ("%s@%s"):format(name, core.now())
      core.sleep(me, d)
    end
    log[#log + 1] = ("%s@%s end"):format(name, core.now())
  end
end

describe("core.scheduler", function()
  it("wakes agents in time order, equal times in the order they were set", function()
    local log = {}
    local s = core.scheduler("virtual", 1)
    s:add(agent(log, "a", { 0.5, 0.25 }), {})
    s:add(agent(log, "b", { 0.25, 0.5 }), {})
    s:add(agent(log, "c", { 0.75 }), {})
    s:run()
    assert.are.same({
      "a@0", "b@0", "c@0",
      "b@0.25",
      -- All three wake at 0.75: c set its wake-up at 0, b at 0.25 and a at
      -- 0.5, so c, then b, then a.
      "a@0.5", "c@0.75 end", "b@0.75 end", "a@0.75 end",
    }, log)
    assert.are.equal(0.75, s:now())
    assert.are.equal("ended", s:state())
    assert.are.same({ idle = 0, waiting = 0, running = 0, finished = 3, failed = 0, stopped = 0 },
      s:counts())
  end)

  it("runs every ready agent before one that slept 0", function()
    local log = {}
    local s = core.scheduler("virtual", 1)
    s:add(agent(log, "a", { 0, 0 }), {})
    s:add(agent(log, "b", {}), {})
    s:add(agent(log, "c", {}), {})
    s:run()
    assert.are.same({ "a@0", "b@0 end", "c@0 end", "a@0", "a@0 end" }, log)
  end)

  it("ends at the duration; a wake-up at exactly the duration still runs", function()
    local log = {}
    local s = core.scheduler("virtual", 1)
    s:duration(1)
    s:add(agent(log, "a", { 1, 1 }), {})
    s:add(agent(log, "b", { 0.5, 0.5001 }), {})
    s:run()
    assert.are.same({ "a@0", "b@0", "b@0.5", "a@1" }, log)
    assert.are.equal(1, s:now())
    assert.are.equal("waiting", s:state(1))
    assert.are.equal("waiting", s:state(2))
  end)

  it("fails an agent that raises and goes on with the others", function()
    local log, errors = {}, {}
    local s = core.scheduler("virtual", 1)
    s:on_error(function(i, msg) errors[#errors + 1] = { i, msg } end)
    s:add(function(me)
      core.sleep(me, 1)
      error("boom")
    end, {})
    s:add(agent(log, "b", { 1, 1 }), {})
    s:run()
    assert.are.same({ "b@0", "b@1", "b@2 end" }, log)
    assert.are.equal(1, #errors)
    assert.are.equal(1, errors[1][1])
    assert.matches("^spec/sched_spec%.lua:%d+: boom\nstack traceback:\n", errors[1][2])
    assert.are.equal("failed", s:state(1))
    assert.are.equal("finished", s:state(2))
  end)

  it("starts an agent as via(fn, arg) when given via", function()
    local log = {}
    local s = core.scheduler("virtual", 1)
    local me = {}
    local fn = agent(log, "a", { 1 })
    s:add(fn, me, nil, nil, function(f, arg)
      log[#log + 1] = { f == fn, arg == me, core.now() }
      return f(arg)
    end)
    s:run()
    assert.are.same({ { true, true, 0 }, "a@0", "a@1 end" }, log)
    assert.are.equal("finished", s:state(1))
  end)

  it("tells a stray coroutine.yield from sleep and fails that agent", function()
    local errors = {}
    local s = core.scheduler("virtual", 1)
    s:on_error(function(_, msg) errors[#errors + 1] = msg end)
    s:add(function() coroutine.yield(1) end, {})
    s:run()
    assert.are.equal("failed", s:state(1))
    assert.matches("^coroutine%.yield called in an agent's own coroutine %(use self:sleep%(seconds%) to wait%)",
      errors[1])
  end)

  it("raises a stray coroutine.yield where it was called, never leaving the agent suspended", function()
    local got = {}
    local s = core.scheduler("virtual", 1)
    s:add(function(me)
      got.co = coroutine.running()
      got[1], got[2] = pcall(function() coroutine.yield(1) end)
      core.sleep(me, 1)
      got[3] = coroutine.status(got.co)
    end, {})
    s:run()
    assert.are.same({ false, "coroutine.yield called in an agent's own coroutine (use self:sleep(seconds) to wait)",
      "running" }, { got[1], got[2], got[3] })
    assert.are.equal(1, s:now())
    assert.are.equal("finished", s:state(1))
  end)

  it("fails an agent whose coroutine other code resumed to its end, and resumes nothing", function()
    local errors, log, held = {}, {}, nil
    local s = core.scheduler("virtual", 1)
    s:on_error(function(n, msg) errors[#errors + 1] = { n, msg:match("^[^\n]*") } end)
    s:add(function(me)
      held = coroutine.running()
      core.sleep(me, 2)
      log[#log + 1] = "a woke at " .. core.now()
    end, {})
    s:add(function(me)
      core.sleep(me, 1)
      local ok = coroutine.resume(held)
      log[#log + 1] = "b resumed a: " .. tostring(ok)
      core.sleep(me, 2)
    end, {})
    s:run()
    assert.are.same({ "a woke at 1", "b resumed a: true" }, log)
    assert.are.same({ { 1, "the agent's coroutine was resumed by other code (coroutine.resume) and ended there" } },
      errors)
    assert.are.same({ "failed", "finished" }, { s:state(1), s:state(2) })
    assert.are.equal(3, s:now())
  end)

  it("lets an agent's own coroutines yield to it", function()
    local got
    local s = core.scheduler("virtual", 1)
    s:add(function(me)
      local gen = coroutine.wrap(function() coroutine.yield(1) coroutine.yield(2) end)
      core.sleep(me, 1)
      got = gen() + gen()
    end, {})
    s:run()
    assert.are.equal(3, got)
    assert.are.equal("finished", s:state(1))
  end)

  it("raises a bad argument error in the agent for a bad sleep", function()
    for _, case in ipairs({
      { -1, "got -1" }, { 0 / 0, "got nan" }, { 1 / 0, "got inf" }, { "1", "got string" },
      { nil, "got nil" },
    }) do
      local errors = {}
      local s = core.scheduler("virtual", 1)
      s:on_error(function(_, msg) errors[#errors + 1] = msg end)
      s:add(function(me) core.sleep(me, case[1]) end, {})
      s:run()
      assert.are.equal(1, #errors)
      assert.matches("^spec/sched_spec%.lua:%d+: bad argument #1 to 'sleep' %(non%-negative number of seconds "
        .. "expected, " .. case[2]:gsub("%p", "%%%0") .. "%)", errors[1])
    end
  end)

  it("refuses sleep outside an agent", function()
    local ok, err = pcall(core.sleep, {}, 1)
    assert.is_false(ok)
    assert.matches("sleep: no session is running %(sleep works inside an agent's cycle%)$", err)
  end)

  it("stops: the running agent ends its turn and no agent runs again", function()
    local log = {}
    local s = core.scheduler("virtual", 1)
    s:add(agent(log, "a", { 1, 1, 1 }), {})
    s:add(function(me)
      core.sleep(me, 1.5)
      log[#log + 1] = "stop"
      s:stop()
      log[#log + 1] = "after stop"
    end, {})
    s:run()
    assert.are.same({ "a@0", "a@1", "stop", "after stop" }, log)
    assert.are.equal(1.5, s:now())
    assert.are.equal("waiting", s:state(1))
  end)

  it("finishes a waiting agent so that it never runs again", function()
    local log = {}
    local s = core.scheduler("virtual", 1)
    s:add(agent(log, "a", { 1, 1 }), {})
    s:add(function(me)
      core.sleep(me, 0.5)
      assert.is_true(s:finish(1))
      assert.is_false(s:finish(1))
    end, {})
    s:run()
    assert.are.same({ "a@0" }, log)
    assert.are.equal("stopped", s:state(1))
    assert.are.equal(0.5, s:now())
  end)

  it("pauses and steps on the virtual clock", function()
    local log = {}
    local s = core.scheduler("virtual", 1)
    s:add(agent(log, "a", { 0.25, 0.25, 0.25 }), {})
    s:add(function(me)
      -- An agent can pause the session, as the REPL will.
      core.sleep(me, 0.4)
      s:pause()
      log[#log + 1] = "paused"
      core.sleep(me, 0.6)
      log[#log + 1] = "b@" .. core.now()
    end, {})
    s:add(function(me)
      core.sleep(me, 0.45)
      -- Runs only once the session is stepped: the pause stopped time.
      log[#log + 1] = "c@" .. core.now()
    end, {})
    assert.are.equal("new", s:state())
    -- A paused virtual session waits for a step; the progress callback,
    -- which the loop calls between batches, plays the REPL's part here.
    local steps = 0
    s:on_progress(function()
      if s:state() == "paused" and not s:stepping() then
        steps = steps + 1
        if steps == 1 then
          s:step(0.1) -- to 0.5
        else
          s:pause(false)
        end
      end
    end, 0.001)
    s:run()
    assert.are.same({ "a@0", "a@0.25", "paused", "c@0.45", "a@0.5", "a@0.75 end", "b@1" }, log)
    assert.are.equal(2, steps)
    assert.are.equal(1, s:now())
  end)

  it("never calls a progress function whose interval is longer than the session (1e300 s)", function()
    -- Its milliseconds passed what uint64_t holds, and the conversion gave
    -- 0: the function was called once, at the start.
    local s = core.scheduler("virtual", 1)
    s:add(agent({}, "a", { 1, 1 }), {})
    local calls = 0
    s:on_progress(function() calls = calls + 1 end, 1e300)
    s:run()
    assert.are.equal(0, calls)
    assert.are.equal(2, s:now())
  end)

  it("draws reproducible numbers per agent position", function()
    local function draws(seed)
      local out = {}
      local s = core.scheduler("virtual", seed)
      for i = 1, 3 do
        s:add(function(me)
          out[i] = { me:random(), me:random(6), me:random(-2, 2) }
        end, require("asx").trader())
      end
      s:run()
      return out
    end
    local a, b, c = draws(5), draws(5), draws(6)
    assert.are.same(a, b)
    assert.are_not.same(a, c)
    assert.are_not.same(a[1], a[2])
    for i = 1, 3 do
      assert.is_true(a[i][1] >= 0 and a[i][1] < 1)
      assert.is_true(a[i][2] >= 1 and a[i][2] <= 6 and a[i][2] % 1 == 0)
      assert.is_true(a[i][3] >= -2 and a[i][3] <= 2 and a[i][3] % 1 == 0)
    end
  end)

  -- Trader.random draws the running agent's numbers in Lua, through a
  -- pointer to its generator's state that the resume sets; core.random
  -- draws in C. Both follow one sequence per agent, across its turns, and
  -- when an agent adds agents in the middle of its turn (which moves the
  -- scheduler's).
  it("draws one sequence per agent, in Lua or in C, across turns and added agents", function()
    local asx = require("asx")
    local function draws(lua_draws, spawn)
      local out = {}
      local s = core.scheduler("virtual", 3)
      s:add(function(me)
        for turn = 1, 3 do
          for i = 1, 100 do
            -- Every tenth number from C, the rest from Trader.random, which
            -- compiled code runs after a few dozen.
            local lua = lua_draws and i % 10 ~= 0
            out[#out + 1] = lua and me:random(1000) or core.random(me, 1000)
            if spawn and turn == 2 and i == 50 then
              for _ = 1, 300 do s:add(function() end, asx.trader()) end
            end
          end
          me:sleep(1)
        end
      end, asx.trader())
      s:run()
      return out
    end
    -- The sequence itself: splitmix64 from the agent's seed (asx_sched.c).
    local bit = require("bit")
    local function mix(z)
      z = bit.bxor(z, bit.rshift(z, 30)) * 0xBF58476D1CE4E5B9ULL
      z = bit.bxor(z, bit.rshift(z, 27)) * 0x94D049BB133111EBULL
      return bit.bxor(z, bit.rshift(z, 31))
    end
    local state = mix(bit.bxor(3ULL, mix(1ULL * 0xD1B54A32D192ED03ULL)))
    local want = {}
    for i = 1, 300 do
      state = state + 0x9E3779B97F4A7C15ULL
      want[i] = math.floor(tonumber(bit.rshift(mix(state), 11)) * 2 ^ -53 * 1000) + 1
    end
    assert.are.same(want, draws(false, false))
    assert.are.same(want, draws(true, false))
    assert.are.same(want, draws(true, true))
    assert.are.same(want, draws(false, true))
  end)

  it("checks its own arguments", function()
    assert.has_error(function() core.scheduler("fast", 1) end)
    assert.has_error(function() core.scheduler("virtual", -1) end)
    assert.has_error(function() core.scheduler("virtual", 1.5) end)
    local s = core.scheduler("virtual", 1)
    assert.has_error(function() s:add(42, {}) end)
    assert.has_error(function() s:add(function() end, {}, nil, nil, 42) end,
      "bad argument #5 to 'add' (function expected, got number)")
    assert.has_error(function() s:speed(0) end)
    assert.has_error(function() s:duration(-1) end)
  end)
end)
