-- Several instruments, the order types (IOC, FOK, post-only) and amending,
-- through the Lua API: every rule with exact balances, and every new
-- argument's bad values (a clear error naming the function and argument,
-- nothing changed).
local asx = require("asx")

-- A logger that keeps every event as (type, message).
local function recorder()
  local L = { events = {} }
  function L:send_event(t, m) self.events[#self.events + 1] = { type = t, m = m } end
  function L:types()
    local out = {}
    for i, e in ipairs(self.events) do out[i] = e.type end
    return out
  end
  return L
end

-- The error message of f(...) without its "file:line: " prefix.
local function err_of(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok)
  return (tostring(err):gsub("^[^:]*:%d+: ", ""))
end

local function two()
  local L = recorder()
  local ex = asx.exchange({ instruments = { "ACME", "BOLT" }, logger = L })
  return ex, L
end

describe("instruments", function()
  it("are one named STOCK by default, else the ones given, the first the default", function()
    assert.are.same({ "STOCK" }, asx.exchange():instruments())
    local ex = two()
    assert.are.same({ "ACME", "BOLT" }, ex:instruments())
    local t = asx.trader({ exchange = ex, money = 100, stocks = 5 })
    assert.are.same({ ACME = 5, BOLT = 0 }, t:positions())
    assert.are.equal(5, t:position("ACME"))
    assert.are.equal(5, t:position())
  end)

  it("refuse bad lists with a named error", function()
    assert.are.equal("bad argument #1 to 'exchange' (instruments: non-empty array of names expected, got table)",
      err_of(asx.exchange, { instruments = {} }))
    assert.are.equal("bad argument #1 to 'exchange' (instruments: non-empty array of names expected, got string)",
      err_of(asx.exchange, { instruments = "ACME" }))
    assert.are.equal("bad argument #1 to 'exchange' (instruments[2]: a name of 1 to 32 letters, digits, '_', "
      .. "'.' or '-' expected, got string)", err_of(asx.exchange, { instruments = { "A", "B C" } }))
    assert.are.equal("bad argument #1 to 'exchange' (instruments[1]: a name of 1 to 32 letters, digits, '_', "
      .. "'.' or '-' expected, got 7)", err_of(asx.exchange, { instruments = { 7 } }))
    assert.are.equal('bad argument #1 to \'exchange\' (instruments: "A" is named twice)',
      err_of(asx.exchange, { instruments = { "A", "A" } }))
    -- A list whose names come from its __index has a length of 0: the
    -- exchange was made with no book, and its first call was a
    -- segmentation fault.
    local proxy = setmetatable({}, { __index = function(_, i) if i <= 2 then return "N" .. i end end })
    assert.are.equal("bad argument #1 to 'exchange' (instruments: non-empty array of names expected, got table)",
      err_of(asx.exchange, { instruments = proxy }))
  end)

  it("give each trader a position per instrument, money shared", function()
    local ex, L = two()
    local a = asx.trader({ exchange = ex, money = 1000, stocks = { ACME = 3, BOLT = 8 } })
    local b = asx.trader({ money = 500, stocks = { BOLT = 2 } })
    assert.are.equal(2, b:position("BOLT"))
    ex:register(b)
    assert.are.same({ ACME = 0, BOLT = 2 }, b:positions())
    assert.are.equal(0, b.stocks)
    local s = a:sell(5, 20, "BOLT")
    assert.are.equal("BOLT", s.instrument)
    assert.are.equal("order#1(sell 5 BOLT @ 20, filled 0, open)", tostring(s))
    assert.is_nil(ex:best_ask())
    assert.are.equal(20, ex:best_ask("BOLT"))
    assert.are.same({ { s } }, { ex:level("sell", 20, "BOLT") })
    assert.are.same({ { price = 20, amount = 5, orders = 1 } }, ex:depth("sell", 3, "BOLT"))
    local bids, asks = ex:orderbook(nil, "BOLT")
    assert.are.same({ {}, { [20] = 5 } }, { bids, asks })
    local o = b:buy(4, 25, "BOLT")
    assert.are.equal("filled", o.status)
    assert.are.same({ 1080, 3, 4 }, { a.money, a.stocks, a:position("BOLT") })
    assert.are.same({ 420, 0, 6 }, { b.money, b.stocks, b:position("BOLT") })
    assert.are.equal(20, ex:last_price("BOLT"))
    assert.is_nil(ex:last_price())
    local st = ex:stats("BOLT")
    assert.are.same({ 2, 1, 4, 80, 20, 1 }, { st.orders, st.trades, st.volume, st.notional, st.last, st.resting })
    assert.are.same({ orders = 2, cancels = 0, trades = 1, volume = 4, notional = 80, resting = 1 }, ex:stats())
    assert.are.equal(0, ex:stats("ACME").orders)
    -- Every event names its instrument.
    for _, e in ipairs(L.events) do assert.are.equal("BOLT", e.m.instrument) end
    assert.are.same({ "order", "order", "exchange" }, L:types())
    -- Valued at each instrument's last price: BOLT at 20, ACME has none yet.
    assert.are.equal(420 + 6 * 20, b:value())
    assert.are.equal(1080 + 3 * 10 + 4 * 20, a:value(10))
  end)

  it("check money across instruments at each fill", function()
    local ex = two()
    local a = asx.trader({ exchange = ex, money = 100 })
    local b = asx.trader({ exchange = ex, stocks = { ACME = 10, BOLT = 10 } })
    a:buy(6, 10)
    local bid = a:buy(6, 10, "BOLT")
    b:sell(6, 10)
    assert.are.equal(40, a.money)
    local o = b:sell(6, 10, "BOLT")
    -- The BOLT bid could pay for 4 only: trimmed to them, for good.
    assert.are.same({ "filled", 4 }, { bid.status, bid.filled })
    assert.are.same({ "open", 2, 4 }, { o.status, o.amount, o.filled })
    assert.are.same({ 0, 6, 4 }, { a.money, a.stocks, a:position("BOLT") })
  end)

  it("are named in cancels and trader calls across books", function()
    local ex = two()
    local t = asx.trader({ exchange = ex, money = 1000, stocks = { ACME = 5, BOLT = 5 } })
    local o1 = t:sell(1, 30)
    local o2 = t:sell(1, 31, "BOLT")
    local o3 = t:buy(1, 5, { instrument = "BOLT" })
    local buys, sells = t:standing_orders("BOLT")
    assert.are.same({ { o3 }, { o2 } }, { buys, sells })
    assert.are.equal(2, #select(2, t:standing_orders()))
    assert.are.same({ [5] = 1 }, (t:inspect_exchange("BOLT")))
    assert.is_true(ex:cancel(o2))
    assert.is_true(t:cancel(o3))
    assert.are.equal("cancelled", o3.status)
    assert.is_nil(o3.reason)
    assert.is_true(t:cancel_all())
    assert.are.equal("cancelled", o1.status)
    assert.are.equal(0, ex:stats().resting)
  end)

  it("unknown or bad names raise, naming the function and argument, and change nothing", function()
    local ex = two()
    local t = asx.trader({ exchange = ex, money = 100, stocks = 5 })
    local cases = {
      { "bad argument #1 to 'best_bid' (unknown instrument \"NOPE\")", ex.best_bid, ex, "NOPE" },
      { "bad argument #1 to 'best_ask' (instrument name expected, got 3)", ex.best_ask, ex, 3 },
      { "bad argument #2 to 'orderbook' (unknown instrument \"x\")", ex.orderbook, ex, nil, "x" },
      { "bad argument #3 to 'level' (unknown instrument \"x\")", ex.level, ex, "buy", 1, "x" },
      { "bad argument #3 to 'depth' (unknown instrument \"x\")", ex.depth, ex, "buy", 1, "x" },
      { "bad argument #1 to 'stats' (unknown instrument \"x\")", ex.stats, ex, "x" },
      { "bad argument #1 to 'last_price' (instrument name expected, got table)", ex.last_price, ex, {} },
      { "bad argument #3 to 'buy' (unknown instrument \"x\")", t.buy, t, 1, 10, "x" },
      { "bad argument #3 to 'sell' (instrument: name expected, got boolean)", t.sell, t, 1, 10,
        { instrument = true } },
      { "bad argument #3 to 'buy' (instrument name or table of options expected, got 5)", t.buy, t, 1, 10, 5 },
      { "bad argument #1 to 'position' (unknown instrument \"x\")", t.position, t, "x" },
      { "bad argument #1 to 'standing_orders' (unknown instrument \"x\")", t.standing_orders, t, "x" },
      { "bad argument #1 to 'inspect_exchange' (unknown instrument \"x\")", t.inspect_exchange, t, "x" },
      { "bad argument #1 to 'new' (stocks: unknown instrument \"x\")", asx.trader, { exchange = ex, stocks = { x = 1 } } },
      { "bad argument #1 to 'new' (stocks.BOLT: non-negative integer up to 2^53 - 1 expected, got -1)", asx.trader,
        { stocks = { BOLT = -1 } } },
      { "bad argument #1 to 'new' (stocks: non-negative integer up to 2^53 - 1 expected, got string)",
        asx.trader, { stocks = "5" } },
    }
    for _, c in ipairs(cases) do
      assert.are.equal(c[1], err_of(select(2, unpack(c))))
    end
    local u = asx.trader({ stocks = { NOPE = 1 } })
    assert.are.equal("bad argument #1 to 'register' (stocks: unknown instrument \"NOPE\")", err_of(ex.register, ex, u))
    assert.is_nil(u.exchange)
    -- Nothing was placed: the next order is the first.
    assert.are.equal(1, t:sell(1, 50).id)
  end)
end)

describe("order types", function()
  local ex, L, a, b, c
  before_each(function()
    L = recorder()
    ex = asx.exchange({ logger = L })
    a = asx.trader({ exchange = ex, money = 1000 })
    b = asx.trader({ exchange = ex, stocks = 10 })
    c = asx.trader({ exchange = ex, stocks = 10 })
  end)

  it("ioc: trades what it can at once, cancels the rest, trims as always", function()
    b:sell(5, 10)
    c:sell(5, 10)
    b.stocks = 2
    local o = a:buy(9, 10, { tif = "ioc" })
    assert.are.same({ "cancelled", "ioc", 2, 7, "ioc" }, { o.status, o.reason, o.amount, o.filled, o.tif })
    assert.are.same({ 930, 7 }, { a.money, a.stocks })
    assert.are.same({ 20, 0, 50, 5 }, { b.money, b.stocks, c.money, c.stocks })
    assert.is_nil(ex:best_bid())
    assert.are.same({ "order", "order", "order", "trim", "exchange", "exchange", "cancel" }, L:types())
    assert.are.same({ id = o.id, trader = a.id, side = "buy", remaining = 2, reason = "ioc", instrument = "STOCK",
      time = 0 }, L.events[7].m)
  end)

  it("fok: fills whole, or nothing trades when the money runs out mid-sweep", function()
    b:sell(3, 10)
    c:sell(3, 11)
    a.money = 50
    local o = a:buy(5, 11, { tif = "fok" })  -- 3 x 10 + 2 x 11 = 52
    assert.are.same({ "cancelled", "fok", 5, 0 }, { o.status, o.reason, o.amount, o.filled })
    assert.are.same({ 50, 0, 0, 10, 0, 10 }, { a.money, a.stocks, b.money, b.stocks, c.money, c.stocks })
    assert.are.same({ 3, 3 }, { ex:level("sell", 10)[1].amount, ex:level("sell", 11)[1].amount })
    assert.are.same({ "order", "order", "order", "cancel" }, L:types())
    assert.are.equal("fok", L.events[4].m.reason)
    o = a:buy(4, 11, { tif = "fok" })  -- 41
    assert.are.same({ "filled", 4 }, { o.status, o.filled })
    assert.are.same({ 9, 4, 30, 11 }, { a.money, a.stocks, b.money, c.money })
    -- Not enough at the limit: nothing either.
    o = a:buy(3, 11, { tif = "fok" })
    assert.are.same({ "cancelled", 0 }, { o.status, o.filled })
  end)

  it("post_only: refused at the touch (reason post_only), rests behind it", function()
    b:sell(3, 10)
    local o = a:buy(2, 10, { post_only = true })
    assert.are.same({ "cancelled", "post_only", 0 }, { o.status, o.reason, o.filled })
    assert.are.same({ 1000, 0 }, { a.money, a.stocks })
    o = a:buy(2, 9, { post_only = true })
    assert.are.same({ "open", true }, { o.status, o.post_only })
    assert.are.equal(9, ex:best_bid())
    assert.are.equal("cancel", L.events[3].type)
    assert.are.equal("post_only", L.events[3].m.reason)
  end)

  it("amend: reduces in place, keeping time priority; an increase is refused", function()
    local first = b:sell(5, 10)
    local second = c:sell(5, 10)
    assert.is_true(b:amend(first, 2))
    assert.are.same({ 2, "open" }, { first.amount, first.status })
    assert.are.same({ type = "amend", m = { id = first.id, trader = b.id, side = "sell", price = 10, from = 5, to = 2,
      instrument = "STOCK", time = 0 } }, L.events[3])
    assert.are.equal("bad argument #2 to 'amend' (amount at most 2 expected: an order cannot grow in place "
      .. "(cancel it and place another), got 3)", err_of(b.amend, b, first, 3))
    assert.are.equal("bad argument #2 to 'amend' (positive integer amount up to 2^53 - 1 expected, got 0)",
      err_of(b.amend, b, first, 0))
    assert.are.equal("bad argument #1 to 'amend' (order expected, got 1)", err_of(b.amend, b, 1, 1))
    assert.is_false(c:amend(first, 1)) -- not c's
    assert.are.equal(2, first.amount)
    a:buy(3, 10)
    assert.are.same({ "filled", 2 }, { first.status, first.filled })
    assert.are.same({ 4, 1 }, { second.amount, second.filled })
    assert.are.same({ 20, 8, 10, 9, 970, 3 }, { b.money, b.stocks, c.money, c.stocks, a.money, a.stocks })
    assert.is_false(b:amend(first, 1)) -- filled
  end)

  it("replace: cancels and places anew, losing priority; returns the new order", function()
    local first = b:sell(5, 10)
    local second = c:sell(5, 10)
    local n = b:replace(first, 4)
    assert.are.same({ "cancelled", "replace" }, { first.status, first.reason })
    assert.are.same({ "open", 10, 4, 3 }, { n.status, n.price, n.amount, n.id })
    assert.are.same({ "cancel", "order" }, { L.events[3].type, L.events[4].type })
    assert.are.equal("replace", L.events[3].m.reason)
    a:buy(6, 10)
    assert.are.same({ "filled", 1 }, { second.status, n.filled })
    n = b:replace(n, 2, 12, { post_only = true })
    assert.are.same({ 12, 2, true }, { n.price, n.amount, n.post_only })
    assert.is_nil(b:replace(first, 1))
    assert.are.equal("bad argument #3 to 'replace' (positive integer price up to 2^53 - 1 expected, got -1)",
      err_of(b.replace, b, n, 1, -1))
    assert.are.equal("bad argument #2 to 'replace' (positive integer amount up to 2^53 - 1 expected, got 1.5)",
      err_of(b.replace, b, n, 1.5))
    assert.are.equal("open", n.status)
  end)

  it("bad options raise, naming the function and argument, and change nothing", function()
    local cases = {
      { "bad argument #3 to 'buy' (tif: \"gtc\", \"ioc\" or \"fok\" expected, got string)", { tif = "day" } },
      { "bad argument #3 to 'buy' (post_only: boolean expected, got 1)", { post_only = 1 } },
      { "bad argument #3 to 'buy' (unknown option \"tiff\": instrument, tif or post_only expected)", { tiff = "ioc" } },
      { "bad argument #3 to 'buy' (post_only cannot be immediate: tif \"ioc\" with post_only)",
        { tif = "ioc", post_only = true } },
    }
    for _, case in ipairs(cases) do
      assert.are.equal(case[1], err_of(a.buy, a, 1, 10, case[2]))
    end
    assert.are.equal("bad argument #3 to 'sell' (post_only needs a price: a market order always trades)",
      err_of(b.sell, b, 1, nil, { post_only = true }))
    assert.are.equal(0, #L.events)
    assert.are.equal(1, a:buy(1, 1, { tif = "gtc" }).id)
  end)
end)

describe("orders with a latency", function()
  it("reach their instrument's book with their time in force", function()
    local Scripted = asx.Trader:extend("markets_scripted")
    local seen = {}
    function Scripted:cycle()
      if self.role == "seller" then
        self:sell(3, 20, "BOLT")
      else
        self:sleep(0.1)
        local o = self:buy(5, 20, { instrument = "BOLT", tif = "ioc" })
        seen.sent = { o.status, o.instrument }
        self:sleep(1)
        seen.after = { o.status, o.instrument, o.filled, o.reason }
      end
    end
    local seller = Scripted:new({ role = "seller", money = 0, stocks = { BOLT = 3 } })
    local buyer = Scripted:new({ role = "buyer", money = 1000, latency = 0.5 })
    local s = asx.session({ clock = "virtual", seed = 1, instruments = { "ACME", "BOLT" },
      traders = { seller, buyer } })
    s:run()
    assert.are.same({ "pending", "BOLT" }, seen.sent)
    assert.are.same({ "cancelled", "BOLT", 3, "ioc" }, seen.after)
    assert.are.same({ 940, 3, 0 }, { buyer.money, buyer:position("BOLT"), buyer.stocks })
    assert.is_nil(s.exchange:best_bid("BOLT"))
  end)
end)
