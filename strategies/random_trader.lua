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
-- Each exchange's instruments, asked once and shared by all its agents.
local names_of = setmetatable({}, { __mode = "k" })

-- The instruments an agent of exchange ex picks from: nil on an exchange of
-- one instrument, where every call takes the default one anyway.
local function choices(ex)
  local names = names_of[ex]
  if names == nil then
    names = ex:instruments()
    names_of[ex] = names
  end
  if #names > 1 then return names end
  return nil
end

-- One decision: look at the book, place one random order (or none). Given
-- the exchange's instruments (names), it picks one at random first (and
-- only then draws that number, so a one-instrument session draws what it
-- always has and repeats its old runs exactly); name nil is the default one.
function RandomTrader:trade(names)
  local ex = self.exchange
  local name = names and names[self:random(#names)]
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
  -- Asked once, before the loop: what does not change from one decision
  -- to the next is better kept in a local than looked up at each one.
  local names = choices(self.exchange)
  while true do
    -- self:random draws from this agent's own generator, seeded from the
    -- session seed and the agent's position, so a virtual-clock run with
    -- the same seed repeats exactly.
    self:sleep(self:random())
    self:trade(names)
  end
end

return RandomTrader
