-- A reference model of the exchange, written from README.md ("Semantics",
-- "Events", "Errors") and not from the C code, for the differential fuzzer
-- (spec/fuzz/differential.lua). It favours being obviously right over being
-- fast: each side is one array of resting orders in fill order, searched
-- linearly.
--
-- Numbers are Lua doubles, so every step keeps its values within 2^53 - 1,
-- where doubles are exact, or compares in a way a rounding cannot flip (a
-- sum or product that passes 2^53 - 1 rounds to at least 2^53).
local MAX = 2 ^ 53 - 1

local Model = {}
Model.__index = Model

-- floor(a / b) for integers 0 <= a, 1 <= b, exactly: a / b alone may round
-- up to the next integer.
local function idiv(a, b)
  return (a - math.fmod(a, b)) / b
end

local function is_count(v)
  return type(v) == "number" and v >= 1 and v <= MAX and v % 1 == 0
end

local function is_balance(v)
  return type(v) == "number" and v >= 0 and v <= MAX and v % 1 == 0
end

function Model.new()
  return setmetatable({
    next_id = 1,
    traders = {},                 -- by id: { money =, stocks = }
    sides = { buy = {}, sell = {} }, -- resting orders, in fill order
    events = {},                  -- of the current call
    touched = {},                 -- orders the current call changed
    stats = { orders = 0, cancels = 0, trades = 0, volume = 0, notional = 0 },
  }, Model)
end

function Model:add_trader(id, money, stocks)
  self.traders[id] = { money = money, stocks = stocks }
end

-- Starts a call: its events and touched orders.
function Model:begin()
  self.events, self.touched = {}, {}
end

-- Every event of the book names its instrument.
local function emit(self, event_type, m)
  m.instrument = "STOCK"
  self.events[#self.events + 1] = { type = event_type, m = m }
end

-- t.money = v, t.stocks = v: false for a bad value, which changes nothing.
function Model:set_balance(id, field, v)
  if not is_balance(v) then return false end
  self.traders[id][field] = v
  return true
end

-- True when order a fills before order b on one side.
local function before(side, a, b)
  if a.price ~= b.price then
    if side == "buy" then return a.price > b.price end
    return a.price < b.price
  end
  return a.id < b.id
end

local function level_total(self, side, price)
  local total = 0
  for _, o in ipairs(self.sides[side]) do
    if o.price == price then total = total + o.amount end
  end
  return total
end

local function remove(self, o)
  local list = self.sides[o.side]
  for i = 1, #list do
    if list[i] == o then
      table.remove(list, i)
      return
    end
  end
  error("model: removing an order that does not rest")
end

local function rest(self, o)
  local list = self.sides[o.side]
  local i = #list + 1
  while i > 1 and before(o.side, o, list[i - 1]) do i = i - 1 end
  table.insert(list, i, o)
end

local function trim(self, o, to, price, reason)
  emit(self, "trim", { id = o.id, trader = o.trader, side = o.side, price = price,
    from = o.amount, to = to, reason = reason })
  o.amount = to
  self.touched[o] = true
end

local function crosses(o, price)
  if o.price == nil then return true end
  if o.side == "buy" then return price <= o.price end
  return price >= o.price
end

-- Matches the incoming order o while it crosses; README "Semantics".
local function match(self, o)
  local opposite = self.sides[o.side == "buy" and "sell" or "buy"]
  while o.amount > 0 and opposite[1] and crosses(o, opposite[1].price) do
    local r = opposite[1]
    local price = r.price
    local buy, sell = o, r
    if o.side == "sell" then buy, sell = r, o end
    local buyer, seller = self.traders[buy.trader], self.traders[sell.trader]
    local qty = math.min(o.amount, r.amount)
    -- The buyer's money first, then the seller's stocks.
    if price * qty > buyer.money then
      local afford = idiv(buyer.money, price)
      trim(self, buy, afford, price, "money")
      qty = afford
    end
    if qty > seller.stocks then
      trim(self, sell, seller.stocks, price, "stocks")
      qty = seller.stocks
    end
    if qty == 0 then
      if o.amount == 0 then
        o.status = "cancelled"
        return
      end
      -- The resting order was trimmed to nothing: it leaves without trading.
      r.status = "cancelled"
      remove(self, r)
    else
      -- A fill that would push a receiving balance past 2^53 - 1 stops the
      -- incoming order there. A self-trade moves no balance.
      local limited = false
      if buyer ~= seller then
        local room = math.min(idiv(MAX - seller.money, price), MAX - buyer.stocks)
        if qty > room then qty, limited = room, true end
      end
      if qty > 0 then
        -- Take before giving, so that a self-trade never passes 2^53 - 1.
        buyer.money = buyer.money - price * qty
        seller.money = seller.money + price * qty
        seller.stocks = seller.stocks - qty
        buyer.stocks = buyer.stocks + qty
        o.amount, o.filled = o.amount - qty, o.filled + qty
        r.amount, r.filled = r.amount - qty, r.filled + qty
        self.touched[r] = true
        emit(self, "exchange", { price = price, amount = qty, buyer = buy.trader, seller = sell.trader,
          buy_order = buy.id, sell_order = sell.id, aggressor = o.side })
        local st = self.stats
        st.trades = st.trades + 1
        st.volume = st.volume + qty
        st.notional = st.notional + price * qty
        if st.trades == 1 then st.open, st.high, st.low = price, price, price end
        st.high, st.low, st.last = math.max(st.high, price), math.min(st.low, price), price
        if r.amount == 0 then
          r.status = "filled"
          remove(self, r)
        end
      end
      if limited then
        trim(self, o, 0, price, "limit")
        o.status = "cancelled"
        return
      end
    end
  end
end

-- t:buy(amount, price) / t:sell(...): the order, or nil and the number of
-- the bad argument: 1 for the amount (also when the rest would push its level
-- past 2^53 - 1), 2 for the price (also when price x amount passes 2^53 - 1).
-- A refusal changes nothing.
function Model:place(trader, side, amount, price)
  if not is_count(amount) then return nil, 1 end
  if price ~= nil and (not is_count(price) or price * amount > MAX) then return nil, 2 end
  if price ~= nil and level_total(self, side, price) > MAX - amount then return nil, 1 end
  local o = { id = self.next_id, trader = trader, side = side, price = price, amount = amount,
    filled = 0, status = "new" }
  self.next_id = self.next_id + 1
  self.stats.orders = self.stats.orders + 1
  self.touched[o] = true
  emit(self, "order", { id = o.id, trader = trader, side = side, price = price, amount = amount })
  match(self, o)
  if o.status == "cancelled" then return o end
  if o.amount == 0 then
    o.status = "filled"
  elseif price == nil then
    -- A market order's rest is dropped, never rested.
    o.status = "cancelled"
    emit(self, "cancel", { id = o.id, trader = trader, side = side, remaining = o.amount })
  else
    o.status = "open"
    rest(self, o)
  end
  return o
end

-- ex:cancel(o), or t:cancel(o) with by = t's id: true when o rested (and,
-- for a trader, was its own).
function Model:cancel(o, by)
  if o.status ~= "open" or (by ~= nil and by ~= o.trader) then return false end
  remove(self, o)
  o.status = "cancelled"
  self.touched[o] = true
  self.stats.cancels = self.stats.cancels + 1
  emit(self, "cancel", { id = o.id, trader = o.trader, side = o.side, remaining = o.amount })
  return true
end

function Model:cancel_all(trader)
  for _, side in ipairs({ "buy", "sell" }) do
    local mine = {}
    for _, o in ipairs(self.sides[side]) do
      if o.trader == trader then mine[#mine + 1] = o end
    end
    for _, o in ipairs(mine) do self:cancel(o) end
  end
  return true
end

function Model:best(side)
  local o = self.sides[side][1]
  return o and o.price
end

-- { [price] = total } of one side, as ex:orderbook() gives it.
function Model:levels(side)
  local out = {}
  for _, o in ipairs(self.sides[side]) do out[o.price] = (out[o.price] or 0) + o.amount end
  return out
end

function Model:resting()
  return #self.sides.buy + #self.sides.sell
end

Model.MAX, Model.is_count = MAX, is_count
return Model
