-- The momentum trader: it believes a price that has been rising will rise
-- further. It watches the last trade price, compares it with the average of
-- what it saw recently, and buys into a rise or sells into a fall.
--
--   asx-host strategies/random_trader.lua strategies/momentum.lua:10
local asx = require("asx")

local Momentum = asx.Trader:extend("momentum")

Momentum.agents = 10
Momentum.money = 1000
Momentum.stocks = 30

Momentum.window = 10     -- how many observations make the average
Momentum.threshold = 0.02 -- how far (a fraction) above or below it counts as a trend
Momentum.size = 3        -- shares per order

local floor = math.floor

function Momentum:cycle()
  local ex = self.exchange
  -- The recent prices, a ring buffer: a cycle allocates nothing.
  local seen, n, next_slot, sum = {}, 0, 1, 0
  while true do
    self:sleep(0.5 + self:random())

    local last = ex:last_price()
    if last then
      -- Enough history: compare before adding the new price, so the price
      -- is judged against the past, not against itself.
      if n == self.window then
        local avg = sum / n
        if last > avg * (1 + self.threshold) then
          -- Rising: buy at the ask (or a tick above the last trade) so the
          -- order trades now rather than waiting for the trend to pass.
          local price = ex:best_ask() or last + 1
          local amount = floor(self.money / price)
          if amount > self.size then amount = self.size end
          if amount > 0 then self:buy(amount, price) end
        elseif last < avg * (1 - self.threshold) then
          local price = ex:best_bid() or last - 1
          local amount = self.stocks < self.size and self.stocks or self.size
          if amount > 0 and price >= 1 then self:sell(amount, price) end
        end
        sum = sum - seen[next_slot]
      else
        n = n + 1
      end
      seen[next_slot] = last
      sum = sum + last
      next_slot = next_slot % self.window + 1
    end
  end
end

return Momentum
