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
local log, sqrt = math.log, math.sqrt

local Sampler = {}
Sampler.__index = Sampler

local M = {}

function M.attach(s)
  local ex = s.exchange
  -- prices[k + 1] and spreads[k + 1] hold second k; false where there was
  -- no trade yet, or no bid or no ask.
  local smp = setmetatable({ session = s, prices = {}, spreads = {}, seconds = 0 }, Sampler)
  smp.take = function(now)
    local last = ex:last_price() or false
    local bid, ask = ex:best_bid(), ex:best_ask()
    local spread = bid and ask and ask - bid or false
    local prices, spreads, k = smp.prices, smp.spreads, smp.seconds
    while k <= now do
      prices[k + 1], spreads[k + 1] = last, spread
      k = k + 1
    end
    smp.seconds = k
  end
  s.sched:on_tick(smp.take, 1)
  return smp
end

-- Samples the seconds between the last tick and the session's end.
function Sampler:finish()
  self.take(self.session:now())
end

local function sd(xs)
  local n = #xs
  if n < 2 then return nil end
  local mean = 0
  for i = 1, n do mean = mean + xs[i] end
  mean = mean / n
  local ss = 0
  for i = 1, n do ss = ss + (xs[i] - mean) ^ 2 end
  return sqrt(ss / (n - 1))
end

-- The sample standard deviation of ln(p[k] / p[k-1]) over consecutive
-- seconds that both had a last price; nil with fewer than two returns.
function Sampler:volatility()
  local p, r = self.prices, {}
  for k = 2, #p do
    if p[k] and p[k - 1] then r[#r + 1] = log(p[k] / p[k - 1]) end
  end
  return sd(r)
end

-- The mean of best ask - best bid over the seconds with both sides; nil if
-- there was none.
function Sampler:mean_spread()
  local sum, n = 0, 0
  for _, v in ipairs(self.spreads) do
    if v then sum, n = sum + v, n + 1 end
  end
  return n > 0 and sum / n or nil
end

return M
