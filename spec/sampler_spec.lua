-- The scheduler's tick (sched:on_tick) and the per-second sampler built on
-- it, on the virtual clock, so every time is exact.
local core = require("asx.core")
local asx = require("asx")
local sampler = require("asx.sampler")

describe("sched:on_tick", function()
  it("calls once per whole interval reached, before the agents due then, and once for a gap", function()
    local log = {}
    local s = core.scheduler("virtual", 1)
    s:add(function(me)
      for _, d in ipairs({ 0.5, 0.5, 0.25, 3.5 }) do
        log[#log + 1] = "agent@" .. core.now()
        core.sleep(me, d)
      end
    end, {})
    s:on_tick(function(now) log[#log + 1] = "tick@" .. now end, 1)
    s:run()
    assert.are.same({
      "tick@0", "agent@0", "agent@0.5", "tick@1", "agent@1", "agent@1.25",
      -- Nothing woke between 1.25 and 4.75: one call for seconds 2, 3 and 4.
      "tick@4.75",
    }, log)
  end)

  it("refuses an interval that is not a positive number", function()
    local s = core.scheduler("virtual", 1)
    assert.has_error(function() s:on_tick(function() end, 0) end,
      "bad argument #2 to 'on_tick' (positive number of seconds expected)")
  end)
end)

describe("asx.sampler", function()
  it("samples the last price and the spread at every whole second, and gives their figures", function()
    local ex = asx.exchange()
    local maker = asx.trader({ exchange = ex, money = 1000, stocks = 10 })
    local taker = asx.trader({ exchange = ex, money = 1000, stocks = 10 })
    maker.cycle = function(me)
      me:buy(1, 8)
      me:sell(1, 14)
      me:sleep(1.5)
      me:sell(1, 10)
      me:sleep(1)
      me:sell(1, 12)
      me:sleep(10)
    end
    taker.cycle = function(me)
      me:sleep(1.5)
      me:buy(1, 10)
      me:sleep(1)
      me:buy(1, 12)
      me:sleep(10)
    end
    local s = asx.session({ exchange = ex, traders = { maker, taker }, clock = "virtual", duration = 4 })
    local smp = sampler.attach(s)
    s:run()
    smp:finish()
    -- Second 0 comes before the first quotes, second 1 before the first
    -- trade; seconds 3 and 4 have no wake-up and are sampled by finish, at
    -- the session's end.
    assert.are.same({ { false, false, 1 }, { false, 6, 1 }, { 10, 6, 1 }, { 12, 6, 2 } }, smp.runs)
    assert.are.equal(6, smp:mean_spread())
    local r = math.log(12 / 10)
    local mean = r / 2
    assert.are.equal(math.sqrt(((r - mean) ^ 2 + mean ^ 2) / 1), smp:volatility())
  end)

  it("takes a session whose clock jumps 1e9 s and past 2^53 s ahead in one run each, and ends", function()
    local ex = asx.exchange()
    local maker = asx.trader({ exchange = ex, money = 1000, stocks = 10 })
    local taker = asx.trader({ exchange = ex, money = 1000, stocks = 10 })
    -- Agents that sleep "for ever": a sample a second took memory without
    -- bound, and past 2^53 s (where k + 1 == k) never ended.
    maker.cycle = function(me)
      me:buy(1, 8)
      me:sell(1, 10)
      me:sell(1, 20)
      me:sleep(1e9)
      me:sell(1, 12)
      me:sleep(1e17)
    end
    taker.cycle = function(me)
      me:sleep(0.5)
      me:buy(1, 10)
      me:sleep(1e9)
      me:buy(1, 12)
    end
    local s = asx.session({ exchange = ex, traders = { maker, taker }, clock = "virtual" })
    local smp = sampler.attach(s)
    s:run()
    smp:finish()
    assert.are.equal(1e9 + 1e17, s:now())
    -- Second 0 before the first quotes; then a price of 10 up to 1e9 s and
    -- 12 after (1e17 seconds more, as doubles count them past 2^53), the
    -- spread 20 - 8 throughout.
    assert.are.same({ { false, false, 1 }, { 10, 12, 1e9 }, { 12, 12, 1e17 } }, smp.runs)
    assert.are.equal(12, smp:mean_spread())
    -- 1e9 - 1 returns of 0, one of ln(12 / 10), 1e17 - 1 of 0.
    local r = math.log(12 / 10)
    local n = (1e9 - 1) + 1 + (1e17 - 1)
    local mean = r / n
    local ss = (0 - mean) ^ 2 * (1e9 - 1) + (r - mean) ^ 2 + (0 - mean) ^ 2 * (1e17 - 1)
    assert.are.equal(math.sqrt(ss / (n - 1)), smp:volatility())
  end)
end)
