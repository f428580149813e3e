-- The exchange core's Lua API: every rule and every bad input.
local asx = require("asx")

local MAX = 9007199254740991

-- A logger that keeps what it is sent.
local function recorder()
  local L = { events = {} }
  function L:send_event(event_type, message)
    self.events[#self.events + 1] = { type = event_type, m = message }
  end
  return L
end

local function setup(...)
  local ex = asx.exchange()
  local traders = {}
  for i, spec in ipairs({ ... }) do
    traders[i] = asx.trader({ exchange = ex, money = spec[1], stocks = spec[2] })
  end
  return ex, unpack(traders)
end

local function book_state(ex)
  local b, s = ex:orderbook()
  return { bids = b, asks = s, bid = ex:best_bid(), ask = ex:best_ask() }
end

describe("asx.trader and asx.exchange", function()
  it("makes traders with ids that count up, and balances", function()
    local a = asx.trader({ money = 100, stocks = 10 })
    local b = asx.trader()
    assert.equal(a.id + 1, b.id)
    assert.equal(100, a.money)
    assert.equal(10, a.stocks)
    assert.equal(0, b.money)
    assert.equal(0, b.stocks)
    assert.is_nil(a.exchange)
  end)

  it("registers a trader with an exchange, once", function()
    local ex = asx.exchange()
    local t = asx.trader({ money = 1 })
    ex:register(t)
    assert.equal(ex, t.exchange)
    assert.equal(t, ex.traders[t.id])
    ex:register(t) -- again with the same exchange: nothing happens
    assert.equal(ex, t.exchange)
    local other = asx.exchange()
    assert.has_error(function() other:register(t) end,
      ("register: trader#%d is already registered with another exchange"):format(t.id))
    local t2 = asx.trader({ exchange = ex })
    assert.equal(ex, t2.exchange)
  end)

  it("sends each trader's orders to its own exchange's book, among several", function()
    local exs, traders = {}, {}
    for i = 1, 3 do
      exs[i] = asx.exchange()
      traders[i] = asx.trader({ exchange = exs[i], money = 1000, stocks = 10 })
    end
    -- An exchange made and dropped in between leaves the others' books as they are.
    asx.exchange()
    collectgarbage()
    local loner = asx.trader({ money = 1000 })
    for i = 1, 3 do
      traders[i]:sell(i, 10 + i)
      traders[i]:buy(i, i)
    end
    for i = 1, 3 do
      assert.same({ bids = { [i] = i }, asks = { [10 + i] = i }, bid = i, ask = 10 + i }, book_state(exs[i]))
    end
    local ok, err = pcall(function() loner:buy(1, 5) end)
    assert.is_false(ok)
    assert.matches("^spec/core_spec%.lua:%d+: ", err)
    assert.are.equal(("buy: %s has no exchange (register it with ex:register(trader))"):format(tostring(loner)),
      (err:gsub("^spec/core_spec%.lua:%d+: ", "")))
    exs[2]:register(loner)
    local o = loner:buy(2, 12)
    assert.equal("filled", o.status)
    assert.same({ bids = { [2] = 2 }, asks = {}, bid = 2 }, book_state(exs[2]))
    assert.same({ bids = { [3] = 3 }, asks = { [13] = 3 }, bid = 3, ask = 13 }, book_state(exs[3]))
  end)

  it("lets money and stocks be written, and checks the values", function()
    local t = asx.trader({ money = 5, stocks = 6 })
    t.money = 70
    t.stocks = 0
    assert.equal(70, t.money)
    assert.equal(0, t.stocks)
    for _, bad in ipairs({ -1, 0.5, 0 / 0, 1 / 0, MAX + 1, "7", {} }) do
      assert.has_error(function() t.money = bad end)
      assert.has_error(function() t.stocks = bad end)
    end
    assert.has_error(function() t.money = -5 end, "bad value for 'money' (non-negative integer up to 2^53 - 1 expected, got -5)")
    assert.has_error(function() t.stocks = 1.5 end,
      "bad value for 'stocks' (non-negative integer up to 2^53 - 1 expected, got 1.5)")
    assert.equal(70, t.money)
    assert.equal(0, t.stocks)
  end)

  it("refuses bad balances at creation", function()
    assert.has_error(function() asx.trader({ money = -1 }) end,
      "bad argument #1 to 'new' (money: non-negative integer up to 2^53 - 1 expected, got -1)")
    assert.has_error(function() asx.trader({ stocks = 0.25 }) end,
      "bad argument #1 to 'new' (stocks: non-negative integer up to 2^53 - 1 expected, got 0.25)")
    assert.has_error(function() asx.trader(5) end, "bad argument #1 to 'new' (table of options expected, got 5)")
    assert.has_error(function() asx.trader({ exchange = {} }) end,
      "bad argument #1 to 'new' (exchange: exchange expected, got table)")
    assert.has_error(function() asx.exchange({ logger = {} }) end,
      "bad argument #1 to 'exchange' (logger with a send_event method expected, got table)")
    assert.has_error(function() asx.exchange(1) end,
      "bad argument #1 to 'exchange' (table of options expected, got 1)")
    -- A misspelt option was ignored: this exchange had no logger.
    assert.has_error(function() asx.exchange({ loger = { send_event = function() end } }) end,
      "bad argument #1 to 'exchange' (unknown option \"loger\": logger, loggers or instruments expected)")
    assert.has_error(function() asx.exchange():register({}) end,
      "bad argument #1 to 'register' (trader expected, got table)")
  end)

  it("makes subclasses with extend and new", function()
    local Cls = asx.Trader:extend("patient")
    function Cls:greet() return "hi " .. self.name end
    local t = Cls:new({ money = 3, stocks = 4, patience = 9 })
    assert.equal("hi patient", t:greet())
    assert.equal(9, t.patience)
    assert.equal(3, t.money)
    assert.equal(("patient#%d"):format(t.id), tostring(t))
    assert.is_function(t.buy)
    local Sub = Cls:extend("more")
    local u = Sub:new()
    assert.equal("hi more", u:greet())
    assert.is_true(asx.is_trader_class(Sub))
    assert.is_false(asx.is_trader_class({}))
    assert.has_error(function() Cls:extend(42) end, "bad argument #1 to 'extend' (non-empty class name expected, got 42)")
  end)

  it("lets a class be edited after its subclasses and instances: they see it unless they have their own", function()
    local Base = asx.Trader:extend("base")
    local Mid = Base:extend("mid")
    local Leaf = Mid:extend("leaf")
    local b, m, l = Base:new(), Mid:new(), Leaf:new()
    -- Defined on Base after the subclasses and instances were made.
    function Base:greet() return "base " .. self.name end
    assert.same({ "base base", "base mid", "base leaf" }, { b:greet(), m:greet(), l:greet() })
    -- Replaced: a field the class has already.
    function Base:greet() return "new " .. self.name end
    assert.same({ "new base", "new mid", "new leaf" }, { b:greet(), m:greet(), l:greet() })
    -- Mid's own hides Base's from Mid and Leaf; Base's later edits stay Base's.
    function Mid.greet() return "mid" end
    Base.greet = function() return "newer" end
    assert.same({ "newer", "mid", "mid" }, { b:greet(), m:greet(), l:greet() })
    assert.equal(Mid.greet, Leaf.greet)
    -- Removing Mid's own uncovers Base's current one.
    Mid.greet = nil
    assert.same({ "newer", "newer", "newer" }, { b:greet(), m:greet(), l:greet() })
    assert.equal(Base.greet, Leaf.greet)
    -- Plain fields and edits of asx.Trader itself, restored afterwards.
    Base.spread = 2
    assert.same({ 2, 2, 2 }, { b.spread, Leaf.spread, l.spread })
    l.spread = 5
    assert.same({ 5, 2 }, { l.spread, m.spread })
    local now = asx.Trader.now
    asx.Trader.now = function() return 42 end
    local ok, got = pcall(function() return l:now() end)
    asx.Trader.now = now
    assert.is_true(ok)
    assert.equal(42, got)
    assert.equal(now, Leaf.now)
    assert.same({ "base", "mid", "leaf" }, { Base.name, Mid.name, Leaf.name })
    assert.equal(Mid, Leaf.super)
  end)

  it("refuses to rename a class or change its parent: extend names it, and sessions name agents so", function()
    local Named = asx.Trader:extend("named")
    assert.has_error(function() Named.name = "x" end,
      "class field 'name' is read-only (a class is named by extend: Trader:extend(\"name\"))")
    assert.has_error(function() Named.name = nil end,
      "class field 'name' is read-only (a class is named by extend: Trader:extend(\"name\"))")
    assert.has_error(function() Named.super = asx.Trader end, "class field 'super' is read-only (the class it extends)")
    assert.has_error(function() asx.Trader.name = "x" end,
      "class field 'name' is read-only (a class is named by extend: Trader:extend(\"name\"))")
    assert.same({ "named", "trader", asx.Trader }, { Named.name, asx.Trader.name, Named.super })
    -- An instance's own field of that name is its own; a rawset on the
    -- class is what the class reads, not the name its agents go by.
    function Named.cycle() end
    local t = Named:new()
    t.name = "mine"
    rawset(Named, "name", "raw")
    local s = asx.session({ clock = "virtual", seed = 1, duration = 1 })
    s:add(t)
    s:run()
    assert.same({ "mine", "raw", "named" }, { t.name, Named.name, s:summary().strategies[1].name })
    assert.equal("named#" .. t.id, tostring(t))
  end)
end)

describe("matching", function()
  it("trades at the resting price, best price first, oldest first", function()
    local ex, s1, s2, s3, b = setup({ 0, 10 }, { 0, 10 }, { 0, 10 }, { 1000, 0 })
    local o1 = s1:sell(2, 11)
    local o2 = s2:sell(2, 10)
    local o3 = s3:sell(2, 10)
    local o = b:buy(5, 12)
    -- 2 from s2 at 10 (oldest at the best price), 2 from s3 at 10, 1 from s1 at 11.
    assert.equal("filled", o.status)
    assert.equal(5, o.filled)
    assert.equal(0, o.amount)
    assert.same({ "filled", "filled", "open" }, { o2.status, o3.status, o1.status })
    assert.equal(1, o1.amount)
    assert.equal(1, o1.filled)
    assert.equal(1000 - 20 - 20 - 11, b.money)
    assert.equal(5, b.stocks)
    assert.equal(11, s1.money)
    assert.equal(20, s2.money)
    assert.equal(8, s2.stocks)
    assert.same({ bids = {}, asks = { [11] = 1 }, ask = 11 }, book_state(ex))
  end)

  it("rests what is left of a limit order at its price", function()
    local ex, s, b = setup({ 0, 3 }, { 1000, 0 })
    s:sell(3, 10)
    local o = b:buy(5, 10)
    assert.equal("open", o.status)
    assert.equal(2, o.amount)
    assert.equal(3, o.filled)
    assert.equal(10, ex:best_bid())
    assert.is_nil(ex:best_ask())
    assert.same({ o }, ex:level("buy", 10))
  end)

  it("returns each order that does not rest as its own object, which later orders leave alone", function()
    local ex, s, b = setup({ 0, 10 }, { 1000, 0 })
    s:sell(4, 10)
    local filled = b:buy(3, 10)
    local market = b:buy(5)
    local rests = b:buy(2, 9)
    local next_rests = b:buy(1, 8)
    assert.is_true(rawequal(rests, ex:level("buy", 9)[1]))
    assert.is_true(rawequal(next_rests, ex:level("buy", 8)[1]))
    s:sell(3, 8)
    assert.is_false(rawequal(filled, market))
    assert.same({ 2, "buy", 10, 0, 3, "filled" },
      { filled.id, filled.side, filled.price, filled.amount, filled.filled, filled.status })
    assert.equal(b, filled.owner)
    assert.equal("order#2(buy 0 @ 10, filled 3, filled)", tostring(filled))
    assert.equal("order#3(buy 4 @ market, filled 1, cancelled)", tostring(market))
    assert.equal("order#4(buy 0 @ 9, filled 2, filled)", tostring(rests))
    assert.equal("order#5(buy 0 @ 8, filled 1, filled)", tostring(next_rests))
    -- Prices of 10^14 and more are written in full too.
    assert.equal("order#7(sell 1 @ 9007199254740991, filled 0, open)", tostring(s:sell(1, 2 ^ 53 - 1)))
    assert.is_false(b:cancel(filled))
    assert.is_false(ex:cancel(market))
    assert.equal(1000 - 40 - 18 - 8, b.money)
  end)

  it("does not trade when prices do not cross", function()
    local ex, s, b = setup({ 0, 3 }, { 1000, 0 })
    s:sell(3, 11)
    b:buy(3, 10)
    assert.same({ bids = { [10] = 3 }, asks = { [11] = 3 }, bid = 10, ask = 11 }, book_state(ex))
    assert.equal(1000, b.money)
  end)

  it("lets a trader trade with itself", function()
    local ex, t = setup({ 100, 5 })
    t:sell(2, 10)
    local o = t:buy(2, 10)
    assert.equal("filled", o.status)
    assert.equal(100, t.money)
    assert.equal(5, t.stocks)
    assert.equal(1, ex:stats().trades)
  end)

  it("counts order ids up from 1 per exchange", function()
    local ex, t = setup({ 100, 5 })
    assert.equal(1, t:buy(1, 1).id)
    assert.equal(2, t:sell(1, 50).id)
    local ex2 = asx.exchange()
    local u = asx.trader({ exchange = ex2, money = 10 })
    assert.equal(1, u:buy(1, 1).id)
    assert.equal(3, t:buy(1, 2).id)
    assert.truthy(ex)
  end)

  it("describes orders", function()
    local _, t = setup({ 100, 5 })
    local o = t:buy(2, 10)
    assert.equal("buy", o.side)
    assert.equal(10, o.price)
    assert.equal(t, o.owner)
    assert.equal(("order#%d(buy 2 @ 10, filled 0, open)"):format(o.id), tostring(o))
    assert.has_error(function() o.amount = 3 end, "order field 'amount' is read-only")
  end)
end)

describe("balances checked at each fill", function()
  it("reserves nothing when an order is placed", function()
    local ex, t = setup({ 10, 1 })
    t:buy(5, 10)
    t:buy(5, 10)
    t:sell(7, 20)
    assert.same({ [10] = 10 }, (ex:orderbook()))
    assert.equal(10, t.money)
  end)

  it("trims a buyer who cannot pay to floor(money / price), for good", function()
    local ex, s, b = setup({ 0, 10 }, { 25, 0 })
    local L = recorder()
    ex:add_logger(L)
    s:sell(10, 10)
    local o = b:buy(5, 10)
    -- 25 / 10 = 2 shares; the order is trimmed to 2, fills and is done.
    assert.equal("filled", o.status)
    assert.equal(2, o.filled)
    assert.equal(0, o.amount)
    assert.equal(5, b.money)
    assert.equal(2, b.stocks)
    assert.same({ id = o.id, trader = b.id, side = "buy", price = 10, from = 5, to = 2, reason = "money",
      instrument = "STOCK", time = 0 }, L.events[3].m)
    assert.equal("trim", L.events[3].type)
  end)

  it("trims a resting buyer that cannot pay, and goes on matching", function()
    local ex, b1, b2, s = setup({ 15, 0 }, { 100, 0 }, { 0, 10 })
    local o1 = b1:buy(4, 10) -- can pay for 1
    local o2 = b2:buy(4, 10)
    local o = s:sell(6, 10)
    assert.equal("filled", o1.status)
    assert.equal(1, o1.filled)
    assert.equal(5, b1.money)
    -- b1 pays for 1 of its 4: trimmed to 1, filled; then b2's 4 fill.
    assert.equal("filled", o2.status)
    assert.equal(4, o2.filled)
    assert.equal(60, b2.money)
    assert.equal("open", o.status)
    assert.equal(1, o.amount)
    assert.same({ {}, { [10] = 1 } }, { ex:orderbook() })
  end)

  it("removes a resting order trimmed to nothing without trading", function()
    local ex, b1, b2, s = setup({ 5, 0 }, { 100, 0 }, { 0, 10 })
    local o1 = b1:buy(4, 10) -- cannot pay for one share
    local o2 = b2:buy(4, 10)
    local o = s:sell(3, 10)
    assert.equal("cancelled", o1.status)
    assert.equal(0, o1.amount)
    assert.equal(0, o1.filled)
    assert.equal(5, b1.money)
    assert.equal("open", o2.status)
    assert.equal(1, o2.amount)
    assert.equal(3, o2.filled)
    assert.equal("filled", o.status)
    assert.same({ [10] = 1 }, (ex:orderbook()))
  end)

  it("stops an incoming order trimmed to nothing; it does not rest", function()
    local ex, s, b = setup({ 0, 10 }, { 5, 0 })
    s:sell(3, 10)
    local o = b:buy(3, 10)
    assert.equal("cancelled", o.status)
    assert.equal(0, o.amount)
    assert.is_nil(ex:best_bid())
    assert.equal(10, ex:best_ask())
  end)

  it("checks the buyer's money before the seller's stocks", function()
    local ex, s, b = setup({ 0, 1 }, { 25, 0 })
    local L = recorder()
    ex:add_logger(L)
    local so = s:sell(5, 10)
    local bo = b:buy(5, 10)
    -- Money first: the buy becomes 2; then the seller holds 1: the sell becomes 1.
    assert.equal(1, bo.filled)
    assert.equal(1, so.filled)
    local trims = {}
    for _, e in ipairs(L.events) do
      if e.type == "trim" then trims[#trims + 1] = e.m.reason .. ":" .. e.m.from .. ">" .. e.m.to end
    end
    assert.same({ "money:5>2", "stocks:5>1" }, trims)
    -- The sell was trimmed to 1, filled, and is done; the buy rests with 1.
    assert.equal("filled", so.status)
    assert.equal("open", bo.status)
    assert.equal(1, bo.amount)
    assert.equal(15, b.money)
    assert.same({ [10] = 1 }, (ex:orderbook()))
  end)

  it("needs money and stocks for a self-trade too", function()
    local ex, t = setup({ 5, 3 })
    t:sell(3, 10)
    local o = t:buy(3, 10)
    assert.equal("cancelled", o.status)
    assert.equal(0, o.filled)
    assert.equal(5, t.money)
    assert.equal(10, ex:best_ask())
  end)
end)

describe("market orders", function()
  it("sweep the other side until filled", function()
    local ex, s1, s2, b = setup({ 0, 5 }, { 0, 5 }, { 1000, 0 })
    s1:sell(2, 10)
    s2:sell(5, 12)
    local o = b:buy(4)
    assert.is_nil(o.price)
    assert.equal("filled", o.status)
    assert.equal(1000 - 20 - 24, b.money)
    assert.same({ [12] = 3 }, select(2, ex:orderbook()))
  end)

  it("drop their rest when the side is empty, never resting", function()
    local ex, s, b = setup({ 0, 5 }, { 1000, 0 })
    s:sell(2, 10)
    local o = b:buy(5)
    assert.equal("cancelled", o.status)
    assert.equal(2, o.filled)
    assert.equal(3, o.amount)
    assert.is_nil(ex:best_bid())
    local o2 = s:sell(1)
    assert.equal("cancelled", o2.status)
    assert.equal(0, o2.filled)
  end)

  it("sell into the bids, best first", function()
    local ex, b1, b2, s = setup({ 100, 0 }, { 100, 0 }, { 0, 5 })
    b1:buy(1, 9)
    b2:buy(2, 11)
    local o = s:sell(3)
    assert.equal("filled", o.status)
    assert.equal(31, s.money)
    assert.is_nil(ex:best_bid())
  end)

  it("sweep a very deep book without recursion", function()
    local ex = asx.exchange()
    local s = asx.trader({ exchange = ex, stocks = 100000 })
    for i = 1, 100000 do s:sell(1, 1 + i % 50) end
    local b = asx.trader({ exchange = ex, money = 10000000 })
    local o = b:buy(100000)
    assert.equal("filled", o.status)
    assert.is_nil(ex:best_ask())
    assert.equal(100000, ex:stats().trades)
  end)
end)

describe("cancel", function()
  it("cancels a resting order once, and only the owner's", function()
    local ex, t, u = setup({ 100, 0 }, { 100, 0 })
    local o = t:buy(2, 10)
    assert.is_false(u:cancel(o))
    assert.is_true(t:cancel(o))
    assert.equal("cancelled", o.status)
    assert.is_false(t:cancel(o))
    assert.is_false(ex:cancel(o))
    assert.is_nil(ex:best_bid())
  end)

  it("returns false for filled orders and for another exchange's", function()
    local ex, s, b = setup({ 0, 5 }, { 100, 0 })
    local o = s:sell(1, 10)
    b:buy(1, 10)
    assert.is_false(s:cancel(o))
    local o2 = b:buy(1, 5)
    assert.is_false(asx.exchange():cancel(o2))
    assert.is_true(ex:cancel(o2))
  end)

  it("cancel_all leaves nothing of the trader's", function()
    local ex, t, u = setup({ 100, 5 }, { 100, 5 })
    t:buy(1, 5)
    t:buy(1, 6)
    t:sell(1, 20)
    u:buy(1, 5)
    assert.is_true(t:cancel_all())
    local bids, asks = ex:orderbook()
    assert.same({ [5] = 1 }, bids)
    assert.same({}, asks)
    assert.is_true(t:cancel_all())
    assert.is_true(asx.trader():cancel_all())
  end)

  it("rejects what is not an order", function()
    local _, t = setup({ 1, 1 })
    assert.has_error(function() t:cancel({}) end, "bad argument #1 to 'cancel' (order expected, got table)")
    assert.has_error(function() t:cancel() end, "bad argument #1 to 'cancel' (order expected, got nil)")
  end)
end)

describe("views of the book", function()
  local ex, t
  before_each(function()
    ex = asx.exchange()
    t = asx.trader({ exchange = ex, money = 1000, stocks = 100 })
    t:buy(1, 8); t:buy(2, 9); t:buy(3, 9); t:buy(4, 7)
    t:sell(5, 12); t:sell(6, 11); t:sell(7, 13)
  end)

  it("orderbook gives totals per price, depth levels per side", function()
    assert.same({ { [7] = 4, [8] = 1, [9] = 5 }, { [11] = 6, [12] = 5, [13] = 7 } }, { ex:orderbook() })
    assert.same({ { [9] = 5, [8] = 1 }, { [11] = 6, [12] = 5 } }, { ex:orderbook(2) })
    assert.same({ ex:orderbook() }, { t:inspect_exchange() })
    assert.equal(9, ex:best_bid())
    assert.equal(11, ex:best_ask())
  end)

  it("standing_orders lists a trader's orders in fill order", function()
    local buys, sells = t:standing_orders()
    local function show(list)
      local out = {}
      for i, o in ipairs(list) do out[i] = o.price .. "x" .. o.amount end
      return out
    end
    assert.same({ "9x2", "9x3", "8x1", "7x4" }, show(buys))
    assert.same({ "11x6", "12x5", "13x7" }, show(sells))
  end)

  it("level lists the orders at one price, oldest first", function()
    local level = ex:level("buy", 9)
    assert.equal(2, #level)
    assert.equal(2, level[1].amount)
    assert.equal(3, level[2].amount)
    assert.same({}, ex:level("sell", 9))
  end)

  it("rejects bad sides, prices and depths", function()
    assert.has_error(function() ex:level("bid", 9) end, "bad argument #1 to 'level' ('buy' or 'sell' expected, got string)")
    assert.has_error(function() ex:level("buy", 0) end,
      "bad argument #2 to 'level' (positive integer price up to 2^53 - 1 expected, got 0)")
    assert.has_error(function() ex:orderbook(0) end,
      "bad argument #1 to 'orderbook' (positive integer depth up to 2^53 - 1 expected, got 0)")
    assert.has_error(function() ex:orderbook(1.5) end,
      "bad argument #1 to 'orderbook' (positive integer depth up to 2^53 - 1 expected, got 1.5)")
  end)

  it("names the caller's file and line in errors of orderbook and random", function()
    -- orderbook's were raised a level too high (no position at all), and
    -- random's inside lua/asx/trader.lua.
    local trader = asx.trader({ exchange = ex })
    for _, case in ipairs({
      { function() local _ = ex:orderbook(0) end,
        "bad argument #1 to 'orderbook' (positive integer depth up to 2^53 - 1 expected, got 0)" },
      { function() local _ = trader:random("x") end, "bad argument #1 to 'random' (finite number expected, got string)" },
      { function() local _ = trader:random(0) end, "bad argument #1 to 'random' (interval is empty, got 0)" },
      { function() local _ = trader:random(5, 1) end, "bad argument #2 to 'random' (interval is empty, got 1)" },
    }) do
      local ok, err = pcall(case[1])
      assert.is_false(ok)
      assert.matches("^spec/core_spec%.lua:%d+: ", err)
      assert.are.equal(case[2], (err:gsub("^spec/core_spec%.lua:%d+: ", "")))
    end
  end)
end)

describe("bad orders raise and change nothing", function()
  local bad_amounts = { 0, -5, 2.5, 0 / 0, 1 / 0, -1 / 0, MAX + 1, 2 ^ 60, "5", {}, true }
  local bad_prices = { 0, -5, 2.5, 0 / 0, 1 / 0, MAX + 1, "10", {} }

  it("for amounts and prices", function()
    for _, side in ipairs({ "buy", "sell" }) do
      local ex, t, u = setup({ 1000, 100 }, { 1000, 100 })
      u:sell(1, 10)
      u:buy(1, 5)
      local before = book_state(ex)
      for _, a in ipairs(bad_amounts) do
        assert.has_error(function() t[side](t, a, 10) end)
        assert.has_error(function() t[side](t, a) end)
      end
      for _, p in ipairs(bad_prices) do
        assert.has_error(function() t[side](t, 1, p) end)
      end
      assert.same(before, book_state(ex))
      assert.equal(1000, t.money)
      assert.equal(100, t.stocks)
      assert.equal(3, t[side](t, 1, 7).id) -- no id was used up
    end
  end)

  it("with exact messages", function()
    local _, t = setup({ 1000, 100 })
    assert.has_error(function() t:buy(-5) end,
      "bad argument #1 to 'buy' (positive integer amount up to 2^53 - 1 expected, got -5)")
    assert.has_error(function() t:sell(0 / 0, 3) end,
      "bad argument #1 to 'sell' (positive integer amount up to 2^53 - 1 expected, got nan)")
    assert.has_error(function() t:buy(1, 1 / 0) end,
      "bad argument #2 to 'buy' (positive integer price up to 2^53 - 1 expected, got inf)")
    assert.has_error(function() t:sell(1, "10") end,
      "bad argument #2 to 'sell' (positive integer price up to 2^53 - 1 expected, got string)")
    -- Past the limit they said only "positive integer amount expected", as
    -- if 2^53 were no positive integer.
    assert.has_error(function() t:buy(2 ^ 53, 10) end,
      "bad argument #1 to 'buy' (positive integer amount up to 2^53 - 1 expected, got 9007199254740992)")
    assert.has_error(function() t:sell(1, 2 ^ 53) end,
      "bad argument #2 to 'sell' (positive integer price up to 2^53 - 1 expected, got 9007199254740992)")
    assert.has_error(function() t:buy(2 ^ 30, 2 ^ 30) end,
      "bad argument #2 to 'buy' (price × amount must not exceed 2^53 - 1, got 1073741824 × 1073741824)")
  end)

  it("for a trader with no exchange, at the caller's line", function()
    local t = asx.trader({ money = 10 })
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() t:buy(1, 1) end)
    assert.is_false(ok)
    assert.are.equal(("spec/core_spec.lua:%d: buy: trader#%d has no exchange (register it with ex:register(trader))")
      :format(line, t.id), err)
    ok, err = pcall(function() t:sell(1) end)
    assert.is_false(ok)
    assert.matches("^spec/core_spec%.lua:%d+: sell: trader#%d+ has no exchange", err)
  end)

  it("accepts the largest exact values", function()
    local ex, s, b = setup({ 0, MAX }, { MAX, 0 })
    local o = s:sell(MAX, 1)
    assert.equal(MAX, o.amount)
    local bo = b:buy(3, 1)
    assert.equal("filled", bo.status)
    assert.equal(MAX - 3, b.money)
    assert.equal(MAX - 3, ex:level("sell", 1)[1].amount)
  end)
end)

describe("arithmetic at 2^53 - 1", function()
  it("refuses a limit order that would push its level past 2^53 - 1, changing nothing", function()
    local L = recorder()
    local ex = asx.exchange({ logger = L })
    local a = asx.trader({ exchange = ex, money = MAX, stocks = MAX })
    assert.equal("open", a:sell(MAX, 1).status)
    L.events = {}
    assert.has_error(function() a:sell(MAX, 1) end,
      "bad argument #1 to 'sell' (amount at most 0 expected: the level at price 1 holds 9007199254740991"
      .. " of at most 2^53 - 1, got 9007199254740991)")
    assert.has_error(function() a:sell(1, 1) end)
    assert.same({}, L.events)
    assert.same({ [1] = MAX }, select(2, ex:orderbook()))
    assert.same({ MAX, MAX, 1 }, { a.money, a.stocks, ex:stats().orders })
  end)

  it("lets a level hold exactly 2^53 - 1, and take more once it went down", function()
    local ex, a, b = setup({ MAX, 0 }, { 0, 10 })
    a:buy(MAX - 8, 1)
    a:buy(8, 1)
    assert.same({ [1] = MAX }, (ex:orderbook()))
    assert.has_error(function() a:buy(1, 1) end,
      "bad argument #1 to 'buy' (amount at most 0 expected: the level at price 1 holds 9007199254740991"
      .. " of at most 2^53 - 1, got 1)")
    b:sell(5) -- a market sell into the full level
    assert.same({ [1] = MAX - 5 }, (ex:orderbook()))
    assert.has_error(function() a:buy(6, 1) end,
      "bad argument #1 to 'buy' (amount at most 5 expected: the level at price 1 holds 9007199254740986"
      .. " of at most 2^53 - 1, got 6)")
    local o = a:buy(5, 1)
    assert.same({ 4, "open", 5 }, { o.id, o.status, o.amount })
    assert.same({ [1] = MAX }, (ex:orderbook()))
  end)

  it("refuses a trader past the last 32-bit trader id", function()
    -- The counter is an upvalue of Trader.new; the spec moves it to the end
    -- and back rather than make four billion traders.
    local new = asx.Trader.new
    local slot, saved
    for i = 1, math.huge do
      local name, value = debug.getupvalue(new, i)
      if name == nil then break end
      if name == "next_trader_id" then slot, saved = i, value end
    end
    assert.is_not_nil(slot)
    debug.setupvalue(new, slot, 2 ^ 32 - 2)
    local ok, last = pcall(asx.trader, { money = 1 })
    local ok2, err = pcall(asx.trader)
    debug.setupvalue(new, slot, saved)
    assert.is_true(ok)
    assert.equal(2 ^ 32 - 1, last.id)
    assert.is_false(ok2)
    assert.matches("new: no trader ids left %(a process makes at most 2^32 %- 1 traders%)$", err)
    assert.equal(saved + 1, asx.trader().id)
  end)

  it("keeps stats volume and notional exact up to 2^53 and never wraps them", function()
    local ex, a = setup({ MAX, MAX })
    a:sell(MAX, 1); a:buy(MAX, 1)
    assert.same({ MAX, MAX }, { ex:stats().volume, ex:stats().notional })
    a:sell(1, 1); a:buy(1, 1)
    assert.equal(2 ^ 53, ex:stats().volume)
    -- 1,025 self-trades of 2^53 - 1 pass 2^63, where a signed sum wraps.
    for _ = 2, 1025 do a:sell(MAX, 1); a:buy(MAX, 1) end
    local st = ex:stats()
    assert.equal(1026, st.trades)
    assert.equal("9232379236109516800", ("%.0f"):format(st.volume)) -- 1025 × (2^53 - 1) + 1, rounded
    assert.equal(st.volume, st.notional)
    assert.same({ MAX, MAX }, { a.money, a.stocks })
  end)
end)

describe("events", function()
  it("reports every trade to the logger after matching, in order", function()
    local L = recorder()
    local ex = asx.exchange({ logger = L })
    local s = asx.trader({ exchange = ex, stocks = 10 })
    local b = asx.trader({ exchange = ex, money = 100 })
    local so = s:sell(2, 10)
    local so2 = s:sell(2, 11)
    local bo = b:buy(3, 11)
    local trades = {}
    for _, e in ipairs(L.events) do
      if e.type == "exchange" then trades[#trades + 1] = e.m end
    end
    assert.same({
      { price = 10, amount = 2, buyer = b.id, seller = s.id, buy_order = bo.id, sell_order = so.id,
        aggressor = "buy", instrument = "STOCK", time = 0 },
      { price = 11, amount = 1, buyer = b.id, seller = s.id, buy_order = bo.id, sell_order = so2.id,
        aggressor = "buy", instrument = "STOCK", time = 0 },
    }, trades)
    assert.same({ "order", "order", "order", "exchange", "exchange" },
      (function() local t = {} for i, e in ipairs(L.events) do t[i] = e.type end return t end)())
  end)

  it("stamps events with the exchange clock", function()
    local L = recorder()
    local ex = asx.exchange({ logger = L })
    ex:set_time(12.5)
    local t = asx.trader({ exchange = ex, money = 100 })
    t:buy(1, 1)
    assert.equal(12.5, L.events[1].m.time)
    assert.has_error(function() ex:set_time(-1) end, "bad argument #1 to 'set_time' (non-negative number expected, got -1)")
  end)

  it("a logger that raises leaves the book intact and gets all events", function()
    local seen = 0
    local L = { send_event = function(_, ty) seen = seen + 1; if ty == "order" then error("disk full") end end }
    local L2 = recorder()
    local ex = asx.exchange({ loggers = { L, L2 } })
    local s = asx.trader({ exchange = ex, stocks = 10 })
    local b = asx.trader({ exchange = ex, money = 100 })
    assert.has_error(function() s:sell(2, 10) end)
    local ok, err = pcall(b.buy, b, 2, 10)
    assert.is_false(ok)
    assert.matches("disk full", err)
    assert.equal(100 - 20, b.money)
    assert.equal(3, seen) -- the sell's order, then the buy's order and its trade
    assert.equal(3, #L2.events)
    assert.is_nil(ex:best_ask())
  end)

  it("a logger must not trade", function()
    local ex = asx.exchange()
    local t = asx.trader({ exchange = ex, money = 100, stocks = 5 })
    local resting = t:buy(1, 1)
    ex:add_logger({ send_event = function() t:buy(1, 1) end })
    assert.has_error(function() t:sell(1, 50) end, "buy: a logger must not trade")
    ex:remove_logger(ex.loggers[1])
    ex:add_logger({ send_event = function() t:cancel(resting) end })
    assert.has_error(function() t:sell(1, 50) end, "cancel: a logger must not trade")
    assert.equal("open", resting.status)
  end)

  it("add_logger adds a logger whose other fields raise whole, and both loggers get every event", function()
    local L = recorder()
    local ex = asx.exchange({ logger = L })
    local t = asx.trader({ exchange = ex, money = 100, stocks = 5 })
    -- A logger with send_event, whose other fields raise: add_logger reads
    -- its consume_events (which raised, and was then added half) as none.
    local types = {}
    local strict = setmetatable({ send_event = function(_, ty) types[#types + 1] = ty end }, {
      __index = function(_, k) error("no field " .. k) end })
    ex:add_logger(strict)
    assert.same({ L, strict }, ex.loggers)
    t:buy(1, 2)
    t:sell(1, 2)
    assert.same({ "order", "order", "exchange" },
      (function() local r = {} for i, e in ipairs(L.events) do r[i] = e.type end return r end)())
    assert.same({ "order", "order", "exchange" }, types)
    assert.is_true(ex:remove_logger(L))
    assert.is_true(ex:remove_logger(strict))
  end)
end)
