-- The random trader: it wakes at random moments and places a random order
-- near the middle of the book. A crowd of them makes a market with a price
-- that wanders, which is what the other strategies trade against.
--
-- Run it:  asx-host strategies/random_trader.lua:100 --clock virtual -d 60
--
-- A strategy file returns a Trader subclass with a cycle method. Each agent
-- is one instance; cycle runs as a coroutine, and self:sleep(seconds) hands
-- control back to the scheduler until that much session time has passed.
local asx = require("asx")

local RandomTrader = asx.Trader:extend("random_trader")

-- Class fields give the defaults asx-host uses when the command line does
-- not say otherwise: how many agents, and what each starts with.
RandomTrader.agents = 100
RandomTrader.money = 300
RandomTrader.stocks = 10

local floor, sqrt = math.floor, math.sqrt

-- One decision: look at the book of instrument name (nil: the default one)
-- and place one random order there, or none.
function RandomTrader:trade(name)
  local ex = self.exchange
  local bid, ask = ex:best_bid(name), ex:best_ask(name)
  local price
  if not bid and not ask then
    -- Someone has to open the market: an empty book trades at 10.
    price = 10
  else
    local mid = floor(((bid or ask) + (ask or bid)) / 2)
    -- The spread of prices grows with the price, as with real stocks.
    local d = floor(sqrt(mid))
    if d < 1 then d = 1 end
    price = mid + self:random(-d, d)
    if price < 1 then price = 1 end
  end

  -- A random side, then a random amount it can pay for or deliver. Nothing
  -- is reserved when an order rests, so the book trims it later if the
  -- money or the stocks are gone by then.
  if self:random(2) == 1 then
    local most = floor(self.money / price)
    if most > 0 then self:buy(self:random(most), price, name) end
  else
    local most = self:position(name)
    if most > 0 then self:sell(self:random(most), price, name) end
  end
end

-- The agent's life: sleep a random 0 to 1 s, trade, again, until the
-- session ends.
--
-- The decision is a method of its own, not inlined in this loop, for
-- speed: LuaJIT cannot compile a loop whose body yields (sleep does), but
-- it compiles a function that is called often, such as trade, to machine
-- code. Strategies with real work per wake-up gain from the same split.
function RandomTrader:cycle()
  -- The exchange's instruments do not change during a session: asked once.
  local names = self.exchange:instruments()
  local several = #names > 1
  while true do
    -- self:random draws from this agent's own generator, seeded from the
    -- session seed and the agent's position, so a virtual-clock run with
    -- the same seed repeats exactly.
    self:sleep(self:random())
    -- On an exchange of several instruments, one of them at random (a
    -- session of one draws no number here, and repeats its old runs).
    self:trade(several and names[self:random(#names)] or nil)
  end
end

return RandomTrader
