-- The differential fuzzer: random calls on a real exchange (require "asx")
-- and on the reference model (spec/fuzz/model.lua), compared after every
-- call: the call's result or error, every event a logger received, every
-- balance, the best prices and every order the call touched; every 100 calls
-- and at the end, the whole book, every order and the statistics.
--
-- run(seed, n) returns true, or false and a report that names the seed, the
-- call and what differed. The same seed gives the same calls.
local asx = require("asx")
local Model = require("fuzz.model")

local MAX = Model.MAX
local random = math.random
local floor = math.floor

local M = {}

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
  exchange = { "price", "amount", "buyer", "seller", "buy_order", "sell_order", "aggressor" },
  order = { "id", "trader", "side", "price", "amount" },
  cancel = { "id", "trader", "side", "remaining" },
  trim = { "id", "trader", "side", "price", "from", "to", "reason" },
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
end

-- The run ----------------------------------------------------------------------

-- One run of n calls from seed. Returns true, or false and the report.
function M.run(seed, n, opts)
  opts = opts or {}
  math.randomseed(seed)
  local got = {}
  local logger = { send_event = function(_, event_type, m) got[#got + 1] = { type = event_type, m = m } end }
  local ex = asx.exchange({ logger = logger })
  local model = Model.new()

  local traders, by_id, orders = {}, {}, {} -- orders: every pair { model =, real = } made
  for i = 1, random(2, 6) do
    local m, s = random(0, 5000), random(0, 200)
    local t = asx.trader({ exchange = ex, money = m, stocks = s })
    traders[i], by_id[t.id] = t, t
    model:add_trader(t.id, m, s)
  end
  local real_of = {} -- model order -> asx order

  local regime, mid = "narrow", 100
  local history = {}
  local seen, deepest = {}, 0 -- what the run covered, for -v

  local function full_check()
    for _, t in ipairs(traders) do
      same(tostring(t) .. " money", model.traders[t.id].money, t.money)
      same(tostring(t) .. " stocks", model.traders[t.id].stocks, t.stocks)
    end
    -- The resting orders and the last ones made: an order that ended
    -- changes no more, and was compared when it ended.
    for side in pairs(model.sides) do
      for _, mo in ipairs(model.sides[side]) do compare_order(mo, real_of[mo]) end
    end
    for i = math.max(1, #orders - 500), #orders do compare_order(orders[i].model, orders[i].real) end
    local bids, asks = ex:orderbook()
    for side, levels in pairs({ buy = bids, sell = asks }) do
      local want = model:levels(side)
      for p, total in pairs(want) do same(("%s level %s"):format(side, show(p)), total, levels[p]) end
      for p, total in pairs(levels) do same(("%s level %s"):format(side, show(p)), want[p], total) end
    end
    -- Time priority within each level.
    for side, list in pairs(model.sides) do
      local i = 1
      while i <= #list do
        local level = ex:level(side, list[i].price)
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
      local buys, sells = t:standing_orders()
      for side, list in pairs({ buy = buys, sell = sells }) do
        local j = 0
        for _, mo in ipairs(model.sides[side]) do
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
    for side, list in pairs(model.sides) do
      local depth, totals, k, count = ex:depth(side), model:levels(side), 0, 0
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
    local st, ms = ex:stats(), model.stats
    for _, k in ipairs({ "orders", "cancels", "trades", "open", "high", "low", "last" }) do
      same("stats " .. k, ms[k], st[k])
    end
    same("stats resting", model:resting(), st.resting)
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
      desc = ("%s:%s(%s, %s)"):format(tostring(t), side, show(a), show(p))
      local bad_arg
      want, bad_arg = model:place(t.id, side, a, p)
      ok, res = pcall(t[side], t, a, p)
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
      local k = e.type == "trim" and "trim " .. e.m.reason or e.type
      seen[k] = (seen[k] or 0) + 1
    end
    same("best bid", model:best("buy"), ex:best_bid())
    same("best ask", model:best("sell"), ex:best_ask())
    for _, tr in ipairs(traders) do
      same(tostring(tr) .. " money", model.traders[tr.id].money, tr.money)
      same(tostring(tr) .. " stocks", model.traders[tr.id].stocks, tr.stocks)
    end
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
