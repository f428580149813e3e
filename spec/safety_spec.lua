-- Memory safety from Lua: whatever plain Lua code (no ffi module) does to
-- traders, exchanges and orders -- writing their fields, rawset, setmetatable,
-- dropping them while C still points at them -- C never reads freed or wrong
-- memory. The use-after-free cases are provoked with full collections, so the
-- ASan run of this file (make test) catches any regression.
local asx = require("asx")
local F = require("asx.ffi")
local run = require("helpers.run")

-- Full collections, enough for weak entries and finalized objects to go.
local function collect()
  for _ = 1, 4 do collectgarbage("collect") end
end

-- Checks that f raises msg at the position of its call, which is on the line
-- where f is written (f is a one-line function).
local function raises(f, msg)
  local ok, err = pcall(f)
  assert.is_false(ok, "no error raised")
  local info = debug.getinfo(f, "S")
  assert.are.equal(("%s:%d: %s"):format(info.short_src, info.linedefined, msg), err)
end

local function check_book(ex)
  local broken = F.C.asx_book_check(asx._book(ex))
  assert.is_nil(broken ~= nil and F.ffi.string(broken) or nil)
end

local EXCHANGE_RO = "trader field 'exchange' is read-only "
  .. "(a trader joins an exchange with ex:register(trader), for life)"

describe("memory safety from Lua", function()
  describe("a trader's fields that C relies on", function()
    it("are read-only: exchange and id raise, naming the field, and change nothing", function()
      local ex, ex2 = asx.exchange(), asx.exchange()
      local t = asx.trader({ exchange = ex, money = 100, stocks = 5 })
      local loose = asx.trader({ money = 100 })
      local id = t.id
      raises(function() t.exchange = ex2 end, EXCHANGE_RO)
      raises(function() t.exchange = nil end, EXCHANGE_RO)
      raises(function() loose.exchange = ex end, EXCHANGE_RO)
      raises(function() t.id = "x" end, "trader field 'id' is read-only")
      assert.are.equal(ex, t.exchange)
      assert.is_nil(loose.exchange)
      assert.are.equal(id, t.id)
      assert.are.equal("trader#" .. id, tostring(t))
      assert.are.equal(t, ex.traders[id])
      assert.is_nil(ex2.traders[id])
    end)

    it("give money and stocks errors the caller's position", function()
      local t = asx.trader({ money = 100, stocks = 5 })
      raises(function() t.money = -1 end, "bad value for 'money' (non-negative integer up to 2^53 - 1 expected, got -1)")
      raises(function() t.stocks = 0.5 end, "bad value for 'stocks' (non-negative integer up to 2^53 - 1 expected, got 0.5)")
      assert.are.same({ 100, 5 }, { t.money, t.stocks })
    end)

    it("do not depend on rawset or setmetatable", function()
      local ex, other = asx.exchange(), asx.exchange()
      local seller = asx.trader({ exchange = ex, stocks = 10 })
      local buyer = asx.trader({ exchange = ex, money = 1000 })
      seller:sell(4, 10)
      rawset(seller, "exchange", other)
      rawset(seller, "id", "x")
      rawset(seller, "_acct", 5)
      seller:sell(3, 11) -- still its own exchange
      setmetatable(seller, nil)
      collect()
      assert.are.equal(2, ex:stats().resting)
      assert.are.equal(0, other:stats().resting)
      buyer:buy(7, 11)
      assert.are.same({ 7, 1000 - 40 - 33 }, { buyer.stocks, buyer.money })
      assert.are.equal(0, ex:stats().resting)
      -- The methods still work on it through the class, with its account.
      assert.are.equal(76, asx.Trader.value(seller, 1))
      assert.is_true(asx.Trader.cancel_all(seller))
      check_book(ex)
    end)
  end)

  describe("the keys asx keeps in a trader", function()
    it("hold its account, read-only, and its exchange; new copies neither; without them, no trader", function()
      local ex = asx.exchange()
      local t = asx.trader({ exchange = ex, money = 100, stocks = 5, note = "x" })
      -- The user's field, and two of asx's own, under keys that are functions.
      local acct, account_key, exchange, user = nil, nil, nil, {}
      for k, v in pairs(t) do
        if type(k) ~= "function" then
          user[#user + 1] = k
        elseif type(v) == "cdata" then
          acct, account_key = v, k
        else
          exchange = v
        end
      end
      assert.are.same({ "note" }, user)
      assert.are.equal(ex, exchange)
      assert.are.equal(t.id, acct.id)
      -- Lua's view of the account is read-only: its balances change through t.
      assert.is_false((pcall(function() acct.money = 5 end)))
      assert.is_false((pcall(function() acct.n_positions = 9 end)))
      assert.is_false((pcall(function() acct.tag = 0 end)))
      t.money = 40
      assert.are.equal(40, tonumber(acct.money))
      -- A trader made from t's fields is another trader.
      local opts = {}
      for k, v in pairs(t) do opts[k] = v end
      local u = asx.trader(opts)
      assert.are_not.equal(t.id, u.id)
      assert.is_nil(u.exchange)
      assert.are.same({ 0, 0, "x" }, { u.money, u.stocks, u.note })
      t:sell(2, 10)
      -- Without its account (or with something else there), t is no trader.
      rawset(t, account_key, 5)
      raises(function() t:buy(1, 10) end, "bad argument #1 to 'buy' (trader expected, got table)")
      raises(function() t.money = 1 end, "bad value for 'money' (" .. tostring(t) .. " is not a trader)")
      assert.is_false(asx.is_trader(t))
      assert.are.same({ 1, 10 }, { ex:stats().resting, ex:best_ask() })
      check_book(ex)
    end)
  end)

  describe("lifetimes", function()
    it("keeps the account of a collected trader while its order rests", function()
      local ex = asx.exchange()
      local buyer = asx.trader({ exchange = ex, money = 1000 })
      local seller_id
      do
        local seller = asx.trader({ exchange = ex, stocks = 10 })
        seller_id = seller.id
        for price = 10, 19 do seller:sell(1, price) end
      end
      collect()
      assert.is_nil(ex.traders[seller_id])
      local o = buyer:buy(10, 19)
      assert.are.same({ 10, "filled" }, { o.filled, o.status })
      assert.are.same({ 10, 1000 - 145 }, { buyer.stocks, buyer.money })
      assert.are.same({ trades = 10, volume = 10, resting = 0 },
        { trades = ex:stats().trades, volume = ex:stats().volume, resting = ex:stats().resting })
      check_book(ex)
    end)

    it("lets the account of a collected trader go once nothing of it rests", function()
      local ex = asx.exchange()
      local buyer = asx.trader({ exchange = ex, money = 10 ^ 6 })
      local gone = setmetatable({}, { __mode = "k" })
      do
        local seller = asx.trader({ exchange = ex, stocks = 10 })
        seller:sell(2, 10)
        seller:sell(3, 11)
        for k, v in pairs(seller) do
          if F.ffi.istype("asx_account", v) then gone[v] = k end
        end
      end
      collect()
      assert.is_not_nil(next(gone))
      -- The account still holds the stocks the resting orders sell.
      assert.are.equal(5, buyer:buy(5, 11).filled)
      assert.are.equal(5, buyer.stocks)
      -- Other traders join and rest orders, well past the kept accounts'
      -- doubling: the seller's account, with nothing resting, is let go.
      for i = 1, 300 do
        local t = asx.trader({ exchange = ex, stocks = 1 })
        t:sell(1, 100 + i)
      end
      collect()
      assert.is_nil(next(gone))
      assert.are.equal(300, ex:stats().resting)
      check_book(ex)
    end)

    it("keeps the exchange of a trader alive, and frees both once dropped", function()
      local t = asx.trader({ exchange = asx.exchange(), money = 100, stocks = 10 })
      collect()
      t:sell(2, 10)
      assert.are.equal(10, t.exchange:best_ask())
      local gone = setmetatable({ ex = t.exchange, t = t }, { __mode = "v" })
      t = nil -- luacheck: ignore 311
      collect()
      assert.is_nil(gone.t)
      assert.is_nil(gone.ex)
    end)

    it("frees a dropped exchange in one full collection, its book of 100,000 orders included", function()
      collect()
      local base = collectgarbage("count")
      local gone = setmetatable({}, { __mode = "v" })
      local held
      -- In a function of its own, so that no stack slot of this one keeps
      -- the exchange or a trader.
      local function fill()
        local ex = asx.exchange({ instruments = { "ACME", "BOLT" } })
        local t = asx.trader({ exchange = ex, money = 0, stocks = { ACME = 100002 } })
        for i = 1, 100000 do t:sell(1, 1000 + i % 5000, "ACME") end
        held = t:sell(2, 7, "ACME")
        gone.ex, gone.t, gone.first = ex, t, ex:level("sell", 1001, "ACME")[1]
      end
      fill()
      local used = collectgarbage("count") - base
      assert.is_true(used > 10000, used)
      collectgarbage("collect")
      assert.is_nil(next(gone))
      local left = collectgarbage("count") - base
      assert.is_true(left < 100, left)
      -- The order someone holds reads cancelled, and no exchange takes it.
      assert.are.same({ "cancelled", 2, 0 }, { held.status, held.amount, held.filled })
      assert.are.equal("order#100001(sell 2 @ 7, filled 0, cancelled)", tostring(held))
      assert.is_false(asx.exchange({ instruments = { "ACME", "BOLT" } }):cancel(held))
    end)

    it("cancels the orders of a collected exchange, which no other exchange can touch", function()
      local ex2 = asx.exchange()
      local t2 = asx.trader({ exchange = ex2, money = 1000, stocks = 10 })
      t2:buy(1, 5)
      local o
      do
        local t = asx.trader({ exchange = asx.exchange(), stocks = 10 })
        o = t:sell(3, 10)
        assert.is_false(ex2:cancel(o))
        assert.is_false(t2:cancel(o))
        assert.are.equal("open", o.status)
      end
      collect()
      assert.are.same({ "cancelled", 3, 0 }, { o.status, o.amount, o.filled })
      assert.is_false(ex2:cancel(o))
      assert.are.equal(1, ex2:stats().resting)
      check_book(ex2)
    end)

    it("keeps an order's instrument readable once its trader or its exchange is collected", function()
      local ex = asx.exchange({ instruments = { "ACME", "BOLT" } })
      local resting, filled, orphan
      do
        local t = asx.trader({ exchange = ex, money = 1000, stocks = { BOLT = 5 } })
        resting = t:sell(3, 101, "BOLT")
        filled = t:buy(1, 101, "BOLT")
        orphan = asx.trader({ exchange = ex, stocks = { ACME = 1 } }):sell(1, 50, "ACME")
      end
      collect()
      -- The traders are gone; the exchange lives and their orders rest on.
      assert.are.same({ "ACME", "open" }, { orphan.instrument, orphan.status })
      ex = nil -- luacheck: ignore 311
      collect()
      assert.are.same({ "BOLT", "cancelled", 2, 1 },
        { resting.instrument, resting.status, resting.amount, resting.filled })
      assert.are.same({ "BOLT", "filled", 0, 1 }, { filled.instrument, filled.status, filled.amount, filled.filled })
      assert.are.equal("ACME", orphan.instrument)
      assert.are.equal("order#1(sell 2 BOLT @ 101, filled 1, cancelled)", tostring(resting))
    end)

    it("a trader cannot move: another exchange refuses it and its orders stay in one book", function()
      local ex1 = asx.exchange()
      local t = asx.trader({ exchange = ex1, money = 1000, stocks = 10 })
      local a = t:sell(1, 20)
      do
        local ex2 = asx.exchange()
        assert.has_error(function() ex2:register(t) end,
          ("register: %s is already registered with another exchange"):format(tostring(t)))
        pcall(function() t.exchange = ex2 end)
        rawset(t, "exchange", ex2)
        t:sell(1, 21)
        rawset(t, "exchange", nil)
        assert.are.equal(0, ex2:stats().resting)
      end
      collect()
      local buys, sells = t:standing_orders()
      assert.are.same({ 0, 2, a }, { #buys, #sells, sells[1] })
      assert.are.same({ 20, 21 }, { sells[1].price, sells[2].price })
      assert.is_true(t:cancel_all())
      assert.are.same({ "cancelled", "cancelled" }, { sells[1].status, sells[2].status })
      assert.are.equal(0, ex1:stats().resting)
      check_book(ex1)
    end)

    it("a session runs on when its exchange is replaced, and a book's clock takes only a scheduler", function()
      local s = asx.session({ exchange = asx.exchange(), clock = "virtual", seed = 1, duration = 2 })
      s.exchange = asx.exchange()
      collect()
      local Napper = asx.Trader:extend("napper")
      function Napper:cycle()
        for _ = 1, 4 do self:sleep(0.5); collectgarbage("collect") end
      end
      s:add(Napper:new({}))
      s:run()
      assert.are.equal(2, s:now())
      -- A book's clock takes a scheduler, nothing else (no address).
      assert.has_error(function() asx._set_clock(s.exchange, 4096) end,
        "bad argument #2 to '_set_clock' (scheduler expected, got 4096)")
      assert.has_error(function() asx._set_clock(s.exchange, s.exchange) end,
        "bad argument #2 to '_set_clock' (scheduler expected, got table)")
    end)
  end)

  describe("orders", function()
    it("are read-only and hand out no pointer, whatever the field", function()
      local ex = asx.exchange()
      local t = asx.trader({ exchange = ex, money = 1000, stocks = 10 })
      local a = t:sell(2, 10)
      local b = t:sell(3, 10)
      for _, k in ipairs({ "id_", "price_", "amount_", "filled_", "trader_", "side_", "status_", "flags_",
                           "reason_", "slot_", "instrument_", "acct_", "prev_", "next_", "level_" }) do
        local ok, err = pcall(function() b[k] = 0 end)
        assert.is_false(ok)
        assert.matches("attempt to write to constant location", err)
      end
      for _, k in ipairs({ "acct_", "prev_", "next_", "level_" }) do
        -- An address at most, never something to follow.
        assert.matches("^%d+ULL$", tostring(a[k]))
      end
      assert.are.equal("order#2(sell 3 @ 10, filled 0, open)", tostring(b))
      assert.are.same({ 2, 5 }, { #ex:level("sell", 10), ex:depth("sell")[1].amount })
      check_book(ex)
    end)

    it("of one exchange cannot be cancelled on another", function()
      local ex1, ex2 = asx.exchange(), asx.exchange()
      local t1 = asx.trader({ exchange = ex1, stocks = 10 })
      asx.trader({ exchange = ex2, stocks = 10 }):sell(1, 9)
      local o = t1:sell(2, 10)
      assert.is_false(ex2:cancel(o))
      assert.are.equal("open", o.status)
      assert.are.same({ 1, 1 }, { ex1:stats().resting, ex2:stats().resting })
      assert.is_true(ex1:cancel(o))
      check_book(ex1)
      check_book(ex2)
    end)
  end)

  describe("methods called without a trader or an exchange name themselves", function()
    local t = asx.trader({ exchange = asx.exchange(), money = 10, stocks = 10 })
    local ex = t.exchange

    it("for every trader method", function()
      raises(function() t.buy(5, 100) end, "bad argument #1 to 'buy' (trader expected, got number)")
      raises(function() t.sell(5, 100) end, "bad argument #1 to 'sell' (trader expected, got number)")
      raises(function() t.cancel() end, "bad argument #1 to 'cancel' (trader expected, got nil)")
      raises(function() t.cancel_all({}) end, "bad argument #1 to 'cancel_all' (trader expected, got table)")
      raises(function() t.standing_orders(ex) end,
        "bad argument #1 to 'standing_orders' (trader expected, got table)")
      raises(function() t.inspect_exchange("t") end,
        "bad argument #1 to 'inspect_exchange' (trader expected, got string)")
      raises(function() t.value(3) end, "bad argument #1 to 'value' (trader expected, got number)")
      raises(function() t.sleep(1) end, "bad argument #1 to 'sleep' (trader expected, got number)")
      raises(function() t.now() end, "bad argument #1 to 'now' (trader expected, got nil)")
      raises(function() t.random(1, 6) end, "bad argument #1 to 'random' (trader expected, got number)")
    end)

    it("for every exchange method", function()
      local L = { send_event = function() end }
      raises(function() ex.add_logger(L) end, "bad argument #1 to 'add_logger' (exchange expected, got table)")
      raises(function() ex.emit("x", {}) end, "bad argument #1 to 'emit' (exchange expected, got string)")
      raises(function() ex.set_time(1) end, "bad argument #1 to 'set_time' (exchange expected, got number)")
      raises(function() ex.time() end, "bad argument #1 to 'time' (exchange expected, got nil)")
      raises(function() ex.register(t) end, "bad argument #1 to 'register' (exchange expected, got table)")
      raises(function() ex.orderbook(5) end, "bad argument #1 to 'orderbook' (exchange expected, got number)")
      raises(function() ex.depth("buy") end, "bad argument #1 to 'depth' (exchange expected, got string)")
      raises(function() ex.best_bid() end, "bad argument #1 to 'best_bid' (exchange expected, got nil)")
      raises(function() ex.best_ask() end, "bad argument #1 to 'best_ask' (exchange expected, got nil)")
      raises(function() ex.level("buy", 1) end, "bad argument #1 to 'level' (exchange expected, got string)")
      raises(function() ex.cancel(t) end, "bad argument #1 to 'cancel' (exchange expected, got table)")
      raises(function() ex.stats() end, "bad argument #1 to 'stats' (exchange expected, got nil)")
      raises(function() ex.last_price() end, "bad argument #1 to 'last_price' (exchange expected, got nil)")
      -- asx.Exchange's methods are read-only: asx's own code calls them on
      -- the exchanges strategies share. A new one is every exchange's.
      raises(function() asx.Exchange.stats = nil end, "asx.Exchange: the stats method is read-only "
        .. "(asx's own code calls it)")
      raises(function() asx.Exchange.__index = {} end, "asx.Exchange: the __index method is read-only "
        .. "(asx's own code calls it)")
      assert.are.equal(0, ex:stats().orders)
      function asx.Exchange.spec_mid() return 7 end
      assert.are.equal(7, ex:spec_mid())
      asx.Exchange.spec_mid = nil
      assert.is_nil(ex.spec_mid)
      assert.are.equal(asx.Exchange, getmetatable(ex))
      -- A table dressed as an exchange is not one.
      raises(function() ex.best_bid(setmetatable({}, asx.Exchange)) end,
        "bad argument #1 to 'best_bid' (exchange expected, got table)")
    end)

    it("value checks its price", function()
      raises(function() t:value("x") end, "bad argument #1 to 'value' (non-negative price expected, got string)")
      raises(function() t:value(0 / 0) end, "bad argument #1 to 'value' (non-negative price expected, got nan)")
      raises(function() t:value(1 / 0) end, "bad argument #1 to 'value' (non-negative price expected, got inf)")
      raises(function() t:value(-1) end, "bad argument #1 to 'value' (non-negative price expected, got -1)")
      assert.are.same({ 10, 35, 40 }, { t:value(), t:value(2.5), t:value(3) })
    end)
  end)

  describe("asx's own modules", function()
    it("hand out through require only what asx itself hands out", function()
      assert.are.equal(true, require("asx.private"))
      assert.are.equal(true, require("asx.order"))
      assert.are.equal(true, require("asx.fills"))
      assert.are.equal(true, require("asx.queries"))
      assert.are.equal(true, require("asx.amend"))
      assert.are.equal(true, require("asx.trader_queries"))
      local Session = require("asx.session").Session
      assert.are.same({ summary = Session.summary, totals = Session.totals }, require("asx.summary"))
      local exchange, trader = require("asx.exchange"), require("asx.trader")
      assert.are.same({ Exchange = asx.Exchange, new = asx.exchange, is_exchange = asx.is_exchange,
        book = asx._book, set_clock = asx._set_clock, set_courier = asx._set_courier,
        flush_events = asx._flush_events }, exchange)
      assert.are.same({ Trader = asx.Trader, is_trader_class = asx.is_trader_class,
        is_trader = asx.is_trader, trader = asx.trader }, trader)
      -- No pointer either, which the FFI would let code index past its end.
      local guard = require("asx.guard")
      assert.are.same({ send = guard.send, sending = guard.sending }, guard)
    end)
  end)

  describe("classes", function()
    it("only Trader and its subclasses make traders", function()
      for _, cls in ipairs({ {}, { __index = {} }, setmetatable({ __index = 1 }, { __index = asx.Trader }) }) do
        raises(function() asx.Trader.new(cls, {}) end, "new: call it on a class, as Class:new(opts)")
        raises(function() asx.Trader.extend(cls, "x") end, "extend: call it on a class, as Class:extend(name)")
      end
      assert.is_false(asx.is_trader(setmetatable({}, asx.Trader)))
      raises(function() asx.Trader.buy(setmetatable({}, asx.Trader), 1, 1) end,
        "bad argument #1 to 'buy' (trader expected, got table)")
    end)
  end)

  describe("loggers", function()
    it("a logger of one's own never gets the book's raw records", function()
      local ex = asx.exchange()
      local got = {}
      local L = {
        consume_events = function() error("handed raw records") end,
        send_event = function(_, event_type) got[#got + 1] = event_type end,
      }
      ex:add_logger(L)
      assert.has_error(function() ex:add_logger({ consume_events = function() end }) end,
        "bad argument #1 to 'add_logger' (logger with a send_event method expected, got table)")
      -- Objects whose send_event cannot be read at all: it raised from
      -- asx's own code ("attempt to index local 'L' (a userdata value)").
      local ffi = require("ffi")
      for _, v in ipairs({ { newproxy(), "userdata" }, { ffi.new("int[1]"), "cdata" },
        { setmetatable({}, { __index = function(_, k) error("no field " .. k) end }), "table" } }) do
        assert.has_error(function() ex:add_logger(v[1]) end,
          "bad argument #1 to 'add_logger' (logger with a send_event method expected, got " .. v[2] .. ")")
      end
      asx.trader({ exchange = ex, stocks = 1 }):sell(1, 5)
      assert.are.same({ "order" }, got)
    end)

    it("a built-in logger refuses records that are not the book's", function()
      local loggers = require("asx.loggers")
      local path = os.tmpname()
      local L = assert(loggers.jsonl(path))
      assert.has_error(function() L:consume_events(nil, 5) end,
        "bad argument #1 to 'consume_events' (event records expected, got nil)")
      L:close()
      os.remove(path)
    end)

    it("a built-in logger refuses a light userdata, which the FFI would take as any pointer", function()
      local core = require("asx.core")
      local sched = core.scheduler("virtual", 1)
      local path = os.tmpname()
      local L = assert(require("asx.loggers").jsonl(path))
      for _, p in ipairs({ core.sends, sched:clock_source() }) do
        assert.has_error(function() L:consume_events(p, 1000) end,
          "bad argument #1 to 'consume_events' (event records expected, got userdata)")
      end
      L:close()
      os.remove(path)
      local s = asx.session({ clock = "virtual", seed = 1 })
      local R = require("asx.report").attach(s)
      assert.has_error(function() R:consume_events(core.sends, 1000) end,
        "bad argument #1 to 'consume_events' (event records expected, got userdata)")
    end)

    it("the report's candles keep their C state where Lua code does not reach it", function()
      local core = require("asx.core")
      local cs = require("asx.report.candles").new()
      assert.is_nil(cs.c)
      cs.c = core.sends
      cs:add_trade(0.5, 10, 3)
      assert.are.same({ { 0, 10, 10, 10, 10, 3 } }, cs:candles())
      assert.has_error(function() cs:consume(core.sends, 1000) end,
        "bad argument #1 to 'consume' (event records expected, got userdata)")
      assert.has_error(function() cs.add_trade({}, 1, 10, 1) end, "bad argument #1 to 'add_trade' (candles expected)")
    end)

    it("a closed file logger cannot reach its writer again, whatever its fields say", function()
      local loggers = require("asx.loggers")
      local a, b = os.tmpname(), os.tmpname()
      local csv = assert(loggers.csv(a .. ".csv", { events = "all" }))
      local jsonl = assert(loggers.jsonl(b .. ".jsonl"))
      local record = csv.files[2]
      assert.is_true(csv:close())
      csv.closed = false
      assert.has_error(function() csv:flush() end, ("log file '%s-exchange.csv' is closed"):format(a))
      jsonl.files[1], jsonl.native[1] = record, record
      assert.has_error(function() jsonl:flush() end, ("log file '%s-order.csv' is closed"):format(a))
      for _, p in ipairs({ a, b, b .. ".jsonl" }) do os.remove(p) end
      for _, t in ipairs({ "exchange", "order", "cancel", "trim", "agent", "session" }) do
        os.remove(("%s-%s.csv"):format(a, t))
      end
    end)

    it("a closed InfluxDB logger cannot reach its client again", function()
      local loggers = require("asx.loggers")
      local L = assert(loggers.influxdb({ url = "http://127.0.0.1:9/", quiet = true }))
      assert.is_true(L:close(0))
      L.closed = false
      assert.has_error(function() L:flush(0) end, "this logger is closed")
      assert.has_error(function() L:send_event("x", {}) end, "this logger is closed")
    end)
  end)
  describe("a finalizer that trades", function()
    it("cannot put the order that just rested back in the book", function()
      -- LuaJIT runs a userdata's finalizer at an allocation, in the middle
      -- of an order call; the one that made the next spare order ran while
      -- the order that had just rested was still the spare, and a sell made
      -- there submitted that resting order again: the book's lists broke
      -- (orders counted twice, standing_orders walking for ever). It runs
      -- in a luajit of its own, interpreted, where every finalizer runs at
      -- that allocation, the loop's only one (compiled code runs them where
      -- its trace exits); an earlier spec may also have loaded asx-host's
      -- sandbox, whose newproxy refuses finalizers.
      local r = run.sh(("cat >\"$D/gc.lua\" <<'EOF'\n%s\nEOF\n"
        .. "LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='%s/?.so;;' luajit -joff \"$D/gc.lua\""):format([[
local asx, F = require("asx"), require("asx.ffi")
local ex = asx.exchange()
local buyer = asx.trader({ exchange = ex, money = 1e12 })
local seller = asx.trader({ exchange = ex, stocks = 1e9 })
local sold, trading = 0, true
local function arm()
  local p = newproxy(true)
  getmetatable(p).__gc = function()
    if trading then sold = sold + 1; seller:sell(1, 1000); arm() end
  end
end
arm()
collectgarbage("setpause", 1)
collectgarbage("setstepmul", 10000)
for i = 1, 2000 do buyer:buy(1, 1 + i % 50) end
trading = false
local broken = F.C.asx_book_check(asx._book(ex))
-- A broken book's lists may never end.
if broken ~= nil then print(F.ffi.string(broken)) os.exit(1) end
local bids, asks = ex:orderbook(100)
local n = 0
for _, amount in pairs(bids) do n = n + amount end
local buys, sells = buyer:standing_orders()
print("whole", sold > 10, ex:stats().orders - sold,
  ex:stats().resting - sold, n, asks[1000] - sold, #buys, #sells)]], run.BUILD))
      assert.are.same({ 0, "whole\ttrue\t2000\t2000\t2000\t0\t2000\t0\n", "" },
        { r.status, r.stdout, r.stderr })
    end)
  end)
end)

describe("asx's own userdata", function()
  -- A __gc set on their metatable would run at any allocation, and one that
  -- raises crashes LuaJIT: plain Lua code must not reach the metatable.
  it("hide their metatables from getmetatable", function()
    local core = require("asx.core")
    local sched = core.scheduler("virtual", 1)
    assert.are.equal(false, getmetatable(sched))
    local srv = assert(core.http_listen({ host = "127.0.0.1", port = 0, on_request = function() end }))
    assert.are.equal(false, getmetatable(srv))
    srv:close()
  end)
end)
