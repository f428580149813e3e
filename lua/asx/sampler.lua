-- asx.sampler: the market once every whole second of session time, for the
-- figures that need a time grid: the volatility of one-second returns and
-- the mean spread.
--
--   local smp = require("asx.sampler").attach(session)
--   session:run(); smp:finish()
--   smp:volatility(), smp:mean_spread()
--
-- Second k is sampled just before the first wake-up due at or after k runs,
-- so it shows the book every earlier wake-up left; seconds with no wake-up
-- between them repeat the same book. The last sample is the book at the
-- session's end. The sampler rides on the scheduler's tick (no agent, no
-- random draw), so a session with a sampler makes exactly the same events
-- as one without.
--
-- The seconds are kept as runs of equal samples (smp.runs: { price, spread,
-- seconds }, price and spread false where there was no trade yet, or no bid
-- or no ask), so that a session whose clock jumps far ahead (agents that
-- sleep 1e9 s, for ever) costs one run, where a sample a second took
-- memory and time without bound, and past 2^53 seconds never ended.
local log, sqrt = math.log, math.sqrt
local floor = math.floor

local Sampler = {}
Sampler.__index = Sampler

local M = {}

function M.attach(s)
  local ex = s.exchange
  local smp = setmetatable({ session = s, runs = {}, seconds = 0 }, Sampler)
  smp.take = function(now)
    local k = smp.seconds
    if now < k then return end
    local n = floor(now) - k + 1
    local last = ex:last_price() or false
    local bid, ask = ex:best_bid(), ex:best_ask()
    local spread = bid and ask and ask - bid or false
    local runs = smp.runs
    local run = runs[#runs]
    if run and run[1] == last and run[2] == spread then
      run[3] = run[3] + n
    else
      runs[#runs + 1] = { last, spread, n }
    end
    smp.seconds = k + n
  end
  s.sched:on_tick(smp.take, 1)
  return smp
end

-- Samples the seconds between the last tick and the session's end.
function Sampler:finish()
  self.take(self.session:now())
end

-- Up to this many equal terms of a sum are added one at a time, in the
-- order a sample a second added them (the same bits); more at once.
local ONE_BY_ONE = 2 ^ 24

local function add_times(sum, x, n)
  if n > ONE_BY_ONE then return sum + x * n end
  for _ = 1, n do sum = sum + x end
  return sum
end

-- The sample standard deviation of ln(p[k] / p[k-1]) over consecutive
-- seconds that both had a last price; nil with fewer than two returns. A
-- run of n seconds at one price holds n - 1 returns of 0.
function Sampler:volatility()
  local runs = self.runs
  local n, sum = 0, 0
  for j = 1, #runs do
    local p, prev = runs[j][1], runs[j - 1]
    if p then
      if prev and prev[1] then n, sum = n + 1, sum + log(p / prev[1]) end
      n = n + runs[j][3] - 1
    end
  end
  if n < 2 then return nil end
  local mean = sum / n
  local ss = 0
  for j = 1, #runs do
    local p, prev = runs[j][1], runs[j - 1]
    if p then
      if prev and prev[1] then ss = ss + (log(p / prev[1]) - mean) ^ 2 end
      ss = add_times(ss, (0 - mean) ^ 2, runs[j][3] - 1)
    end
  end
  return sqrt(ss / (n - 1))
end

-- The mean of best ask - best bid over the seconds with both sides; nil if
-- there was none.
function Sampler:mean_spread()
  local sum, n = 0, 0
  for _, run in ipairs(self.runs) do
    if run[2] then sum, n = add_times(sum, run[2], run[3]), n + run[3] end
  end
  return n > 0 and sum / n or nil
end

return M
