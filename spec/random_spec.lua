-- A seeded randomized run of the exchange core: 1,000 traders with
-- small balances, 1,000,000 random limit orders, market orders and cancels.
-- After every call the book is not crossed and the totals of money and stocks
-- are unchanged; every 10,000 calls and at the end, every resting amount is
-- positive and every level's total is the sum of its orders.
local asx = require("asx")
local F = require("asx.ffi")

local TRADERS, CALLS = 1000, 1000000

describe("a randomized session of the core", function()
  it("keeps the book sound and conserves money and stocks", function()
    math.randomseed(20261124)
    local random = math.random

    -- The logger names the traders each call touched, so the totals can be
    -- checked after every call from the balances that could have changed.
    local touched, n_touched = {}, 0
    local logger = {
      send_event = function(_, event_type, m)
        if event_type == "exchange" then
          touched[n_touched + 1] = m.buyer
          touched[n_touched + 2] = m.seller
          n_touched = n_touched + 2
        end
      end,
    }
    local ex = asx.exchange({ logger = logger })
    local traders, money, stocks = {}, {}, {}
    local total_money, total_stocks = 0, 0
    for i = 1, TRADERS do
      local t = asx.trader({ exchange = ex, money = random(0, 500), stocks = random(0, 20) })
      traders[i] = t
      money[t.id], stocks[t.id] = t.money, t.stocks
      total_money = total_money + t.money
      total_stocks = total_stocks + t.stocks
    end
    local by_id = ex.traders

    local function settle(id)
      local t = by_id[id]
      local m, s = t.money, t.stocks
      total_money = total_money + m - money[id]
      total_stocks = total_stocks + s - stocks[id]
      money[id], stocks[id] = m, s
    end

    local function full_check(call)
      local sum_m, sum_s = 0, 0
      for i = 1, TRADERS do
        local t = traders[i]
        assert(t.money >= 0 and t.stocks >= 0, "negative balance")
        assert(t.money == money[t.id] and t.stocks == stocks[t.id], "an untracked balance changed")
        sum_m, sum_s = sum_m + t.money, sum_s + t.stocks
      end
      assert.equal(total_money, sum_m)
      assert.equal(total_stocks, sum_s)
      for side, levels in pairs({ buy = (ex:orderbook()), sell = select(2, ex:orderbook()) }) do
        for price, total in pairs(levels) do
          local sum = 0
          for _, o in ipairs(ex:level(side, price)) do
            assert(o.amount > 0, "a resting amount is not positive")
            assert(o.status == "open")
            sum = sum + o.amount
          end
          if sum ~= total then
            error(("call %d: level %s %d totals %d, its orders sum to %d"):format(call, side, price, total, sum))
          end
        end
      end
      local broken = F.C.asx_book_check(asx._book(ex))
      if broken ~= nil then error(("call %d: %s"):format(call, F.ffi.string(broken))) end
    end

    local start_money, start_stocks = total_money, total_stocks
    local orders, n_orders = {}, 0
    for call = 1, CALLS do
      local t = traders[random(TRADERS)]
      n_touched = 0
      local r = random()
      if r < 0.70 then
        local o
        if random(2) == 1 then
          o = t:buy(random(10), random(40, 60))
        else
          o = t:sell(random(10), random(40, 60))
        end
        n_orders = n_orders + 1
        orders[n_orders] = o
      elseif r < 0.80 then
        if random(2) == 1 then t:buy(random(10)) else t:sell(random(10)) end
      elseif r < 0.98 then
        if n_orders > 0 then
          local i = random(n_orders)
          local o = orders[i]
          o.owner:cancel(o)
          orders[i] = orders[n_orders]
          orders[n_orders] = nil
          n_orders = n_orders - 1
        end
      else
        t:cancel_all()
      end

      settle(t.id)
      for i = 1, n_touched do settle(touched[i]) end
      if total_money ~= start_money or total_stocks ~= start_stocks then
        error(("call %d: totals changed: money %d -> %d, stocks %d -> %d"):format(
          call, start_money, total_money, start_stocks, total_stocks))
      end
      local bid, ask = ex:best_bid(), ex:best_ask()
      if bid and ask and bid >= ask then
        error(("call %d: the book is crossed: bid %d, ask %d"):format(call, bid, ask))
      end
      if call % 10000 == 0 then full_check(call) end
    end
    full_check(CALLS)
    assert.is_true(ex:stats().trades > 100000)
  end)
end)
