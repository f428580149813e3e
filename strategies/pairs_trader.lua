-- The pairs trader: it trades the spread between two instruments whose
-- prices usually move together. When one has run ahead of the other (the
-- spread is far from its recent average), it sells the dear one and buys the
-- cheap one, betting that the gap closes; once it has closed, it unwinds.
--
--   asx-host --instruments ACME,BOLT strategies/random_trader.lua:200 strategies/pairs_trader.lua:5
--
-- What it shows: naming an instrument in queries (ex:last_price("BOLT")) and
-- orders (the third argument), positions per instrument (self:position),
-- and immediate-or-cancel orders, which trade what they can at once and
-- leave nothing resting: a pairs trade wants both legs now or not at all,
-- not a stale order that fills after the gap has closed.
local asx = require("asx")

local Pairs = asx.Trader:extend("pairs_trader")

Pairs.agents = 5
Pairs.money = 2000

Pairs.first = ""      -- the two instruments ("": the exchange's first two)
Pairs.second = ""
Pairs.window = 20     -- how many observations of the spread make its average
Pairs.entry = 2       -- open a trade when the spread is this many deviations away
Pairs.exit = 0.5      -- unwind when it is back within this many
Pairs.size = 2        -- shares per leg

local log, sqrt = math.log, math.sqrt

-- The spread is the log of the price ratio: a 1% move of either price moves
-- it by about 0.01 whatever the price levels, so the two need not trade at
-- similar prices.
local function spread(a, b) return log(a) - log(b) end

-- One leg, immediate-or-cancel at the touch: buying at the best ask (or
-- selling at the best bid) trades now if anything is there, and whatever
-- does not fill is cancelled rather than left in the book.
function Pairs:leg(side, instrument)
  local ex = self.exchange
  if side == "buy" then
    local ask = ex:best_ask(instrument)
    if ask and self.money >= ask * self.size then
      self:buy(self.size, ask, { instrument = instrument, tif = "ioc" })
    end
  else
    local bid = ex:best_bid(instrument)
    if bid and self:position(instrument) >= self.size then
      self:sell(self.size, bid, { instrument = instrument, tif = "ioc" })
    end
  end
end

function Pairs:cycle()
  local ex = self.exchange
  local names = ex:instruments()
  local a = self.first ~= "" and self.first or names[1]
  local b = self.second ~= "" and self.second or names[2]
  if not b then error("pairs_trader needs two instruments (asx-host --instruments A,B)") end

  -- The recent spreads, a ring buffer with their running sum and sum of
  -- squares: a cycle allocates nothing.
  local seen, n, next_slot, sum, sum2 = {}, 0, 1, 0, 0
  local holding = 0 -- +1: long a, short b; -1: the reverse; 0: flat
  while true do
    self:sleep(0.5 + self:random())
    local pa, pb = ex:last_price(a), ex:last_price(b)
    if pa and pb then
      local s = spread(pa, pb)
      if n == self.window then
        local mean = sum / n
        local var = sum2 / n - mean * mean
        local sd = var > 0 and sqrt(var) or 0
        local z = sd > 0 and (s - mean) / sd or 0
        if holding == 0 and z > self.entry then
          -- a is dear against b: sell a, buy b.
          self:leg("sell", a)
          self:leg("buy", b)
          holding = -1
        elseif holding == 0 and z < -self.entry then
          self:leg("buy", a)
          self:leg("sell", b)
          holding = 1
        elseif holding ~= 0 and z < self.exit and z > -self.exit then
          -- The gap has closed: undo the trade.
          if holding == 1 then
            self:leg("sell", a)
            self:leg("buy", b)
          else
            self:leg("buy", a)
            self:leg("sell", b)
          end
          holding = 0
        end
        local old = seen[next_slot]
        sum, sum2 = sum - old, sum2 - old * old
      else
        n = n + 1
      end
      seen[next_slot] = s
      sum, sum2 = sum + s, sum2 + s * s
      next_slot = next_slot % self.window + 1
    end
  end
end

return Pairs
