-- The differential fuzzer: random calls on a real exchange (require "asx")
-- and on the reference model (spec/fuzz/model.lua), compared after every
-- call: the call's result or error, every event a logger received, every
-- balance and position, the best prices and every order the call touched;
-- every 100 calls and at the end, the whole of every book, every order and
-- the statistics. Half the runs have one instrument, half two; orders come
-- with every time in force and post-only, and orders are amended and
-- replaced.
--
-- run(seed, n) returns true, or false and a report that names the seed, the
-- call and what differed. The same seed gives the same calls.
local asx = require("asx")
local Model = require("fuzz.model")

local MAX = Model.MAX
local random = math.random
local floor = math.floor

local M = {}

-- Whether replacing mo by amount at price (mo's when nil) would overflow
-- the new order's level, once mo has left it.
local function level_total_after(model, mo, amount, price)
  price = price or mo.price
  local total = 0
  for _, o in ipairs(model.books[mo.instrument].sides[mo.side]) do
    if o.price == price and o ~= mo then total = total + o.amount end
  end
  return total > MAX - amount
end

-- Values -----------------------------------------------------------------------

-- The run moves through regimes: a narrow band of prices where most orders
-- cross, a wide one where a deep book builds up, and values near 2^53.
local REGIMES = { "narrow", "deep", "extreme" }

local function pick(list) return list[random(#list)] end

local function big()
  local r = random(4)
  if r == 1 then return MAX - random(0, 3) end
  if r == 2 then return floor(MAX / random(1, 9)) end
  if r == 3 then return 2 ^ random(30, 52) end
  return random(1, MAX)
end

local function amount(regime)
  local r = random(100)
  if regime == "extreme" and r <= 50 then return big() end
  if r <= 75 then return random(1, 20) end
  if r <= 92 then return random(1, 2000) end
  if r <= 97 then return big() end
  return pick({ 0, -3, 2.5, 0 / 0, MAX + 1 }) -- bad
end

-- In the deep regime, buys stay below mid and sells above, so that the book
-- grows; elsewhere most orders cross.
local function price(regime, mid, side)
  local r = random(100)
  if regime == "extreme" and r <= 40 then return big() end
  if r <= 97 then
    if regime == "deep" then
      return math.max(1, side == "buy" and mid - random(0, 300) or mid + random(1, 300))
    end
    return math.max(1, mid + random(-6, 6))
  end
  if r <= 99 then return big() end
  return pick({ 0, -1, 1.5, 1 / 0, MAX + 1 }) -- bad
end

local function balance(regime)
  local r = random(100)
  if r <= 10 then return 0 end
  if r <= (regime == "extreme" and 50 or 15) then return MAX - random(0, 1000) end
  if r <= 20 then return big() end
  if r <= 98 then return random(0, regime == "extreme" and 10 ^ 12 or 5000) end
  return pick({ -1, 0.5, MAX + 1, 0 / 0 }) -- bad
end

-- Comparison -----------------------------------------------------------------

local function show(v)
  if type(v) == "number" and v % 1 == 0 and math.abs(v) < 2 ^ 63 then return ("%.0f"):format(v) end
  return tostring(v)
end

local function differ(what, want, got)
  error(("%s: model %s, asx %s"):format(what, show(want), show(got)), 0)
end

local function same(what, want, got)
  if want ~= got then differ(what, want, got) end
end

local EVENT_FIELDS = {
  exchange = { "price", "amount", "buyer", "seller", "buy_order", "sell_order", "aggressor", "instrument" },
  order = { "id", "trader", "side", "price", "amount", "instrument" },
  cancel = { "id", "trader", "side", "remaining", "reason", "instrument" },
  trim = { "id", "trader", "side", "price", "from", "to", "reason", "instrument" },
  amend = { "id", "trader", "side", "price", "from", "to", "instrument" },
}

local function by_order_id(a, b) return a.m.id < b.m.id end

local function format_event(e)
  local parts = {}
  for _, k in ipairs(EVENT_FIELDS[e.type] or {}) do parts[#parts + 1] = k .. "=" .. show(e.m[k]) end
  return e.type .. " " .. table.concat(parts, " ")
end

local function compare_events(want, got, sort)
  if sort then
    table.sort(want, by_order_id)
    table.sort(got, by_order_id)
  end
  for i = 1, math.max(#want, #got) do
    local w, g = want[i], got[i]
    if not w or not g then
      differ(("event %d"):format(i), w and w.type or "none", g and g.type or "none")
    end
    same(("event %d type"):format(i), w.type, g.type)
    local fields = EVENT_FIELDS[w.type]
    for _, k in ipairs(fields) do same(("event %d (%s) %s"):format(i, w.type, k), w.m[k], g.m[k]) end
    for k in pairs(g.m) do
      if w.m[k] == nil and k ~= "time" and k ~= "session" then
        differ(("event %d (%s) field %s"):format(i, w.type, k), nil, g.m[k])
      end
    end
  end
end

local function compare_order(mo, o)
  local what = "order#" .. mo.id
  same(what .. " id", mo.id, o.id)
  same(what .. " side", mo.side, o.side)
  same(what .. " price", mo.price, o.price)
  same(what .. " status", mo.status, o.status)
  same(what .. " amount", mo.amount, o.amount)
  same(what .. " filled", mo.filled, o.filled)
  same(what .. " instrument", mo.instrument, o.instrument)
  same(what .. " reason", mo.reason, o.reason)
end

-- The options of an order: mostly none, else a name or a table with a time
-- in force and now and then post-only (never both: that is a bad argument,
-- which the Lua specs check).
local function order_options(instruments, has_price)
  local r = random(100)
  if r <= 50 then return nil, {} end
  local name = instruments[random(#instruments)]
  if r <= 65 then return name, { instrument = name } end
  local opts = { instrument = random(2) == 1 and name or nil }
  local k = random(4)
  if k == 1 then opts.tif = "ioc" elseif k == 2 then opts.tif = "fok" elseif k == 3 then opts.tif = "gtc" end
  if k == 4 and has_price then opts.post_only = true end
  local copy = {}
  for key, v in pairs(opts) do copy[key] = v end
  return opts, copy
end

-- The run ----------------------------------------------------------------------

-- One run of n calls from seed. Returns true, or false and the report.
function M.run(seed, n, opts)
  opts = opts or {}
  math.randomseed(seed)
  local got = {}
  local logger = { send_event = function(_, event_type, m) got[#got + 1] = { type = event_type, m = m } end }
  local instruments = random(2) == 1 and { "STOCK" } or { "ACME", "BOLT" }
  local ex = asx.exchange({ logger = logger, instruments = instruments })
  local model = Model.new(instruments)

  local traders, by_id, orders = {}, {}, {} -- orders: every pair { model =, real = } made
  for i = 1, random(2, 6) do
    local m, pos = random(0, 5000), {}
    for _, name in ipairs(instruments) do pos[name] = random(0, 200) end
    local t = asx.trader({ exchange = ex, money = m, stocks = pos })
    traders[i], by_id[t.id] = t, t
    model:add_trader(t.id, m, pos)
  end
  local real_of = {} -- model order -> asx order

  local regime, mid = "narrow", 100
  local history = {}
  local seen, deepest = {}, 0 -- what the run covered, for -v

  local function check_balances()
    for _, t in ipairs(traders) do
      same(tostring(t) .. " money", model.traders[t.id].money, t.money)
      same(tostring(t) .. " stocks", model:stocks(t.id), t.stocks)
      for _, name in ipairs(instruments) do
        same(tostring(t) .. " position " .. name, model:stocks(t.id, name), t:position(name))
      end
    end
  end

  local function full_check()
    check_balances()
    for _, name in ipairs(instruments) do
      local sides = model.books[name].sides
      for side in pairs(sides) do
        for _, mo in ipairs(sides[side]) do compare_order(mo, real_of[mo]) end
      end
    end
    for i = math.max(1, #orders - 500), #orders do compare_order(orders[i].model, orders[i].real) end
    for _, name in ipairs(instruments) do
      local msides, mstats = model.books[name].sides, model.books[name].stats
      local function check_book()
    local bids, asks = ex:orderbook(nil, name)
    for side, levels in pairs({ buy = bids, sell = asks }) do
      local want = model:levels(side, name)
      for p, total in pairs(want) do same(("%s level %s"):format(side, show(p)), total, levels[p]) end
      for p, total in pairs(levels) do same(("%s level %s"):format(side, show(p)), want[p], total) end
    end
    -- Time priority within each level.
    for side, list in pairs(msides) do
      local i = 1
      while i <= #list do
        local level = ex:level(side, list[i].price, name)
        for j = 1, #level do
          local mo = list[i + j - 1]
          if not mo or level[j] ~= real_of[mo] then
            differ(("%s level %s position %d"):format(side, show(list[i].price), j),
              mo and mo.id, level[j].id)
          end
        end
        i = i + #level
      end
    end
    -- Each trader's standing orders, in fill order, and the depth view.
    for _, t in ipairs(traders) do
      local buys, sells = t:standing_orders(name)
      for side, list in pairs({ buy = buys, sell = sells }) do
        local j = 0
        for _, mo in ipairs(msides[side]) do
          if mo.trader == t.id then
            j = j + 1
            if list[j] ~= real_of[mo] then
              differ(("%s standing %s order %d"):format(tostring(t), side, j), mo.id, list[j] and list[j].id)
            end
          end
        end
        same(("%s standing %s orders"):format(tostring(t), side), j, #list)
      end
    end
    for side, list in pairs(msides) do
      local depth, totals, k, count = ex:depth(side, nil, name), model:levels(side, name), 0, 0
      for i, mo in ipairs(list) do
        count = count + 1
        if i == #list or list[i + 1].price ~= mo.price then
          k = k + 1
          local level = depth[k] or {}
          same(("%s depth %d price"):format(side, k), mo.price, level.price)
          same(("%s depth %d amount"):format(side, k), totals[mo.price], level.amount)
          same(("%s depth %d orders"):format(side, k), count, level.orders)
          count = 0
        end
      end
      same(side .. " depth levels", k, #depth)
    end
    local st, ms = ex:stats(name), mstats
    for _, k in ipairs({ "orders", "cancels", "trades", "open", "high", "low", "last" }) do
      same(name .. " stats " .. k, ms[k], st[k])
    end
    same(name .. " stats resting", model:resting(name), st.resting)
    deepest = math.max(deepest, st.resting)
    -- The model sums in doubles: exact below 2^53, close beyond.
    for _, k in ipairs({ "volume", "notional" }) do
      if ms[k] <= MAX then
        same("stats " .. k, ms[k], st[k])
      elseif math.abs(st[k] - ms[k]) > ms[k] * 2 ^ -40 then
        differ("stats " .. k, ms[k], st[k])
      end
    end
      end
      check_book()
    end
  end

  -- Calls, in thousandths: orders (the last part of them market orders),
  -- cancels, cancel_all, balance edits, and now and then (about every 250
  -- calls) a new regime. A deep regime places more and cancels less.
  local function one_call()
    local r = random(1000)
    local place_until = regime == "deep" and 900 or 600
    local t = pick(traders)
    local desc, want, ok, res
    local sort_events = false
    model:begin()
    got = {}
    local touched_orders = {}
    if r <= place_until then
      local side = random(2) == 1 and "buy" or "sell"
      local a = amount(regime)
      local p = r <= place_until - (regime == "deep" and 10 or 80) and price(regime, mid, side) or nil
      if p and Model.is_count(a) and Model.is_count(p) and p * a > MAX and random(10) > 1 then
        a = floor(MAX / p) -- mostly keep the product legal
      end
      local o_opts, mopts = order_options(instruments, p ~= nil)
      desc = ("%s:%s(%s, %s, %s)"):format(tostring(t), side, show(a), show(p),
        type(o_opts) == "table" and ("{%s %s %s}"):format(tostring(o_opts.instrument), tostring(o_opts.tif),
          tostring(o_opts.post_only)) or tostring(o_opts))
      local bad_arg
      want, bad_arg = model:place(t.id, side, a, p, mopts)
      ok, res = pcall(t[side], t, a, p, o_opts)
      if want then
        if not ok then differ(desc .. " raised", "an order", res) end
        real_of[want] = res
        orders[#orders + 1] = { model = want, real = res }
        touched_orders[#touched_orders + 1] = want
      else
        if ok then differ(desc .. " returned", "an error", res) end
        local prefix = ("bad argument #%d to '%s'"):format(bad_arg, side)
        local text = tostring(res):gsub("^[^:]*:%d+: ", "")
        if text:sub(1, #prefix) ~= prefix then differ(desc .. " error", prefix, res) end
        local k = text:find("the level at price", 1, true) and "refused: level full" or "refused: bad argument"
        seen[k] = (seen[k] or 0) + 1
      end
    elseif r <= 800 and #orders > 0 then
      local pair = orders[random(math.max(1, #orders - 50), #orders)]
      local how = random(10)
      if how <= 8 then
        -- Mostly the owner, sometimes another trader.
        local by = how <= 7 and by_id[pair.model.trader] or t
        desc = ("%s:cancel(order#%d)"):format(tostring(by), pair.model.id)
        want = model:cancel(pair.model, by.id)
        ok, res = pcall(by.cancel, by, pair.real)
      else
        desc = ("ex:cancel(order#%d)"):format(pair.model.id)
        want = model:cancel(pair.model)
        ok, res = pcall(ex.cancel, ex, pair.real)
      end
      if not ok then differ(desc .. " raised", want, res) end
      same(desc .. " result", want, res)
      touched_orders[#touched_orders + 1] = pair.model
    elseif r <= 830 and #orders > 0 then
      -- Amend or replace a recent order, mostly by its owner, with valid
      -- arguments (the Lua specs check the bad ones).
      -- Mostly a resting order, where amending and replacing do something.
      local pair = orders[random(math.max(1, #orders - 50), #orders)]
      local resting = model.books[pick(instruments)].sides[random(2) == 1 and "buy" or "sell"]
      if #resting > 0 and random(10) <= 8 then
        local mo = resting[random(#resting)]
        pair = { model = mo, real = real_of[mo] }
      end
      local by = random(10) <= 8 and by_id[pair.model.trader] or t
      local mo = pair.model
      if random(2) == 1 then
        local a = random(1, math.max(1, mo.amount))
        desc = ("%s:amend(order#%d, %s)"):format(tostring(by), mo.id, show(a))
        want = model:amend(mo, a, by.id)
        ok, res = pcall(by.amend, by, pair.real, a)
        if want == nil then
          if ok then differ(desc .. " returned", "an error", res) end
        else
          if not ok then differ(desc .. " raised", want, res) end
          same(desc .. " result", want, res)
        end
        touched_orders[#touched_orders + 1] = mo
      else
        local a = random(1, 20)
        local p = random(3) > 1 and mo.price and math.max(1, mo.price + random(-3, 3)) or nil
        if p and p * a > MAX then p = nil end
        if (p or mo.price or 1) * a > MAX then a = 1 end
        desc = ("%s:replace(order#%d, %s, %s)"):format(tostring(by), mo.id, show(a), show(p))
        local bad = mo.status == "open" and by.id == mo.trader
          and level_total_after(model, mo, a, p)
        if bad then
          -- The new order would not fit its level: both refuse alike.
          ok, res = pcall(by.replace, by, pair.real, a, p)
          if ok then differ(desc .. " returned", "an error", res) end
        else
          want = model:replace(mo, a, p, by.id)
          ok, res = pcall(by.replace, by, pair.real, a, p)
          if not ok then differ(desc .. " raised", "a result", res) end
          if want then
            if res == nil then differ(desc .. " returned", "an order", nil) end
            real_of[want] = res
            orders[#orders + 1] = { model = want, real = res }
            touched_orders[#touched_orders + 1] = want
          elseif res ~= nil then
            differ(desc .. " returned", "nil", res)
          end
        end
        touched_orders[#touched_orders + 1] = mo
      end
    elseif r <= 840 then
      desc = ("%s:cancel_all()"):format(tostring(t))
      want = model:cancel_all(t.id)
      ok, res = pcall(t.cancel_all, t)
      if not ok then differ(desc .. " raised", want, res) end
      same(desc .. " result", want, res)
      sort_events = true
    elseif r <= 996 then
      local field = random(2) == 1 and "money" or "stocks"
      local v = balance(regime)
      desc = ("%s.%s = %s"):format(tostring(t), field, show(v))
      want = model:set_balance(t.id, field, v)
      ok, res = pcall(function() t[field] = v end)
      if want and not ok then differ(desc .. " raised", "no error", res) end
      if not want and ok then differ(desc, "an error", "none") end
    else
      regime = pick(REGIMES)
      -- Values near 2^53 come as large prices with small amounts, or as
      -- large amounts at small prices, which fill levels to the limit.
      mid = regime == "extreme" and random(2) == 1 and big() or random(1, regime == "extreme" and 8 or 2000)
      desc = ("regime %s around %s"):format(regime, show(mid))
    end
    history[#history + 1] = desc
    if #history > 12 then table.remove(history, 1) end

    compare_events(model.events, got, sort_events)
    for _, e in ipairs(got) do
      local k = (e.type == "trim" or e.type == "cancel") and e.m.reason and e.type .. " " .. e.m.reason or e.type
      seen[k] = (seen[k] or 0) + 1
    end
    for _, name in ipairs(instruments) do
      same(name .. " best bid", model:best("buy", name), ex:best_bid(name))
      same(name .. " best ask", model:best("sell", name), ex:best_ask(name))
    end
    check_balances()
    for mo in pairs(model.touched) do touched_orders[#touched_orders + 1] = mo end
    for _, mo in ipairs(touched_orders) do
      if real_of[mo] then compare_order(mo, real_of[mo]) end
    end
  end

  for i = 1, n do
    local ok, err = pcall(function()
      one_call()
      if i % 100 == 0 or i == n then full_check() end
    end)
    if not ok then
      local report = {
        ("differential fuzzer: seed %d, call %d of %d: %s"):format(seed, i, n, tostring(err)),
        "last calls (oldest first):",
      }
      for _, d in ipairs(history) do report[#report + 1] = "  " .. d end
      for _, side in ipairs({ { "model", model.events }, { "asx", got } }) do
        report[#report + 1] = side[1] .. " events of the last call:"
        for _, e in ipairs(side[2]) do report[#report + 1] = "  " .. format_event(e) end
      end
      report[#report + 1] = ("replay: make fuzz SEED=%d N=%d"):format(seed, i)
      return false, table.concat(report, "\n")
    end
  end
  if opts.verbose then
    local kinds = {}
    for k, v in pairs(seen) do kinds[#kinds + 1] = ("%s %d"):format(k, v) end
    table.sort(kinds)
    io.write(("seed %d: %d calls, %d orders, at most %d resting; %s\n"):format(seed, n, #orders, deepest,
      table.concat(kinds, ", ")))
  end
  return true
end

return M
