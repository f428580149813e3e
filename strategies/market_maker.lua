-- The market maker: it always shows a price to buy and a price to sell,
-- a spread apart around the middle of the book, and earns the spread when
-- both sides trade. Every cycle it takes its old quotes down and puts new
-- ones up where the market has moved.
--
-- Run it with traders to quote for:
--   asx-host strategies/random_trader.lua strategies/market_maker.lua:5
local asx = require("asx")

local MarketMaker = asx.Trader:extend("market_maker")

MarketMaker.agents = 5
MarketMaker.money = 3000
MarketMaker.stocks = 100

-- The strategy's knobs, as class fields so a subclass can change them.
MarketMaker.spread = 2        -- ticks between its bid and its ask
MarketMaker.size = 5          -- shares on each side
MarketMaker.max_inventory = 200 -- it stops buying above this many shares
MarketMaker.min_inventory = 20  -- and stops selling below this many
MarketMaker.interval = 1      -- seconds between re-quotes

local floor = math.floor

function MarketMaker:cycle()
  local ex = self.exchange
  while true do
    -- Quotes left from the last cycle would be stale: the market moved.
    self:cancel_all()

    local bid, ask = ex:best_bid(), ex:best_ask()
    local mid
    if bid and ask then
      mid = (bid + ask) / 2
    else
      -- A one-sided or empty book: quote around what is there, or the last
      -- trade, or an opening price.
      mid = bid or ask or ex:last_price() or 10
    end
    local half = self.spread / 2
    local buy_at = floor(mid - half)
    local sell_at = floor(mid + half + 0.5)
    if buy_at < 1 then buy_at = 1 end
    if sell_at <= buy_at then sell_at = buy_at + 1 end

    -- Inventory limits keep one run of bad luck from leaving it all money
    -- or all stock: near a limit it quotes only the side that moves it
    -- back.
    local stocks = self.stocks
    if stocks < self.max_inventory then
      local n = floor(self.money / buy_at)
      if n > self.size then n = self.size end
      if n > 0 then self:buy(n, buy_at) end
    end
    if stocks > self.min_inventory then
      local n = stocks < self.size and stocks or self.size
      if n > 0 then self:sell(n, sell_at) end
    end

    -- A little jitter keeps market makers from all moving at the same
    -- instant.
    self:sleep(self.interval * (0.5 + self:random()))
  end
end

return MarketMaker
