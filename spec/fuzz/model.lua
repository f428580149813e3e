-- A reference model of the exchange, written from README.md ("Semantics",
-- "Instruments", "Order types", "Events", "Errors") and not from the C code,
-- for the differential fuzzer (spec/fuzz/differential.lua). It favours being
-- obviously right over being fast: each instrument's side is one array of
-- resting orders in fill order, searched linearly, and a fill-or-kill order
-- is matched on a copy of everything and kept only when it filled whole.
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

local function new_book(name)
  return { name = name, sides = { buy = {}, sell = {} }, -- resting orders, in fill order
    stats = { orders = 0, cancels = 0, trades = 0, volume = 0, notional = 0 } }
end

-- instruments: their names, the first the default ({ "STOCK" } when nil).
function Model.new(instruments)
  instruments = instruments or { "STOCK" }
  local books = {}
  for _, name in ipairs(instruments) do books[name] = new_book(name) end
  local self = setmetatable({
    next_id = 1,
    traders = {},                 -- by id: { money =, pos = { [instrument] = stocks } }
    instruments = instruments, books = books,
    events = {},                  -- of the current call
    touched = {},                 -- orders the current call changed
  }, Model)
  -- The default instrument's, as the model had before instruments.
  self.sides, self.stats = books[instruments[1]].sides, books[instruments[1]].stats
  return self
end

-- pos: the default instrument's position, or { [name] = stocks }.
function Model:add_trader(id, money, pos)
  local p = {}
  for _, name in ipairs(self.instruments) do p[name] = 0 end
  if type(pos) == "table" then
    for k, v in pairs(pos) do p[k] = v end
  else
    p[self.instruments[1]] = pos
  end
  self.traders[id] = { money = money, pos = p }
end

function Model:stocks(id, instrument)
  return self.traders[id].pos[instrument or self.instruments[1]]
end

-- Starts a call: its events and touched orders.
function Model:begin()
  self.events, self.touched = {}, {}
end

-- Every event of the book names its instrument.
local function emit(self, event_type, m, book)
  m.instrument = book.name
  self.events[#self.events + 1] = { type = event_type, m = m }
end

-- t.money = v, t.stocks = v: false for a bad value, which changes nothing.
function Model:set_balance(id, field, v)
  if not is_balance(v) then return false end
  if field == "money" then
    self.traders[id].money = v
  else
    self.traders[id].pos[self.instruments[1]] = v
  end
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

local function level_total(book, side, price)
  local total = 0
  for _, o in ipairs(book.sides[side]) do
    if o.price == price then total = total + o.amount end
  end
  return total
end

local function remove(self, o)
  local list = self.books[o.instrument].sides[o.side]
  for i = 1, #list do
    if list[i] == o then
      table.remove(list, i)
      return
    end
  end
  error("model: removing an order that does not rest")
end

local function rest(self, o)
  local list = self.books[o.instrument].sides[o.side]
  local i = #list + 1
  while i > 1 and before(o.side, o, list[i - 1]) do i = i - 1 end
  table.insert(list, i, o)
end

local function trim(self, o, to, price, reason)
  emit(self, "trim", { id = o.id, trader = o.trader, side = o.side, price = price,
    from = o.amount, to = to, reason = reason }, self.books[o.instrument])
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
  local book = self.books[o.instrument]
  local opposite = book.sides[o.side == "buy" and "sell" or "buy"]
  local inst = o.instrument
  while o.amount > 0 and opposite[1] and crosses(o, opposite[1].price) do
    local r = opposite[1]
    local price = r.price
    local buy, sell = o, r
    if o.side == "sell" then buy, sell = r, o end
    local buyer, seller = self.traders[buy.trader], self.traders[sell.trader]
    -- Positions of this instrument, as fields the rules below read.
    local bpos, spos = buyer.pos, seller.pos
    local qty = math.min(o.amount, r.amount)
    -- The buyer's money first, then the seller's stocks.
    if price * qty > buyer.money then
      local afford = idiv(buyer.money, price)
      trim(self, buy, afford, price, "money")
      qty = afford
    end
    if qty > spos[inst] then
      trim(self, sell, spos[inst], price, "stocks")
      qty = spos[inst]
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
        local room = math.min(idiv(MAX - seller.money, price), MAX - bpos[inst])
        if qty > room then qty, limited = room, true end
      end
      if qty > 0 then
        -- Take before giving, so that a self-trade never passes 2^53 - 1.
        buyer.money = buyer.money - price * qty
        seller.money = seller.money + price * qty
        spos[inst] = spos[inst] - qty
        bpos[inst] = bpos[inst] + qty
        o.amount, o.filled = o.amount - qty, o.filled + qty
        r.amount, r.filled = r.amount - qty, r.filled + qty
        self.touched[r] = true
        emit(self, "exchange", { price = price, amount = qty, buyer = buy.trader, seller = sell.trader,
          buy_order = buy.id, sell_order = sell.id, aggressor = o.side }, book)
        local st = book.stats
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

-- A deep copy of the state a fill-or-kill order could change, and its
-- restoring: the traders, every order of the instrument's book and the
-- statistics.
local function snapshot(self, book)
  local saved = { traders = {}, orders = {}, stats = {}, sides = {} }
  for id, t in pairs(self.traders) do
    local pos = {}
    for k, v in pairs(t.pos) do pos[k] = v end
    saved.traders[id] = { money = t.money, pos = pos }
  end
  for side, list in pairs(book.sides) do
    saved.sides[side] = { unpack(list) }
    for _, o in ipairs(list) do saved.orders[o] = { o.amount, o.filled, o.status } end
  end
  for k, v in pairs(book.stats) do saved.stats[k] = v end
  saved.events = #self.events
  return saved
end

local function restore(self, book, saved)
  self.traders = saved.traders
  for side, list in pairs(saved.sides) do book.sides[side] = list end
  for o, v in pairs(saved.orders) do o.amount, o.filled, o.status = v[1], v[2], v[3] end
  for k in pairs(book.stats) do book.stats[k] = saved.stats[k] end
  for k, v in pairs(saved.stats) do book.stats[k] = v end
  for i = #self.events, saved.events + 1, -1 do self.events[i] = nil end
end

local function drop(self, o, reason)
  o.status, o.reason = "cancelled", reason
  emit(self, "cancel", { id = o.id, trader = o.trader, side = o.side, remaining = o.amount, reason = reason },
    self.books[o.instrument])
end

-- t:buy(amount, price, opts) / t:sell(...): the order, or nil and the
-- number of the bad argument: 1 for the amount (also when the rest would
-- push its level past 2^53 - 1), 2 for the price (also when price x amount
-- passes 2^53 - 1). opts: { instrument =, tif =, post_only = } (valid; the
-- default instrument when nil). A refusal changes nothing.
function Model:place(trader, side, amount, price, opts)
  opts = opts or {}
  local inst = opts.instrument or self.instruments[1]
  local book = self.books[inst]
  if not is_count(amount) then return nil, 1 end
  if price ~= nil and (not is_count(price) or price * amount > MAX) then return nil, 2 end
  if price ~= nil and level_total(book, side, price) > MAX - amount then return nil, 1 end
  local o = { id = self.next_id, trader = trader, side = side, price = price, amount = amount,
    filled = 0, status = "new", instrument = inst }
  self.next_id = self.next_id + 1
  book.stats.orders = book.stats.orders + 1
  self.touched[o] = true
  emit(self, "order", { id = o.id, trader = trader, side = side, price = price, amount = amount }, book)
  if opts.post_only then
    local best = book.sides[side == "buy" and "sell" or "buy"][1]
    if best and crosses(o, best.price) then
      drop(self, o, "post_only")
      return o
    end
  end
  local saved = opts.tif == "fok" and snapshot(self, book)
  match(self, o)
  if saved and o.filled < amount then
    -- It did not fill whole: as if it had never matched.
    restore(self, book, saved)
    o.amount, o.filled = amount, 0
    drop(self, o, "fok")
    return o
  end
  if o.status == "cancelled" then return o end
  if o.amount == 0 then
    o.status = "filled"
  elseif price == nil or opts.tif == "ioc" then
    -- A market order's rest is dropped, never rested; so is an IOC order's.
    drop(self, o, opts.tif == "ioc" and "ioc" or nil)
  else
    o.status = "open"
    rest(self, o)
  end
  return o
end

-- ex:cancel(o), or t:cancel(o) with by = t's id: true when o rested (and,
-- for a trader, was its own).
function Model:cancel(o, by, reason)
  if o.status ~= "open" or (by ~= nil and by ~= o.trader) then return false end
  remove(self, o)
  o.status, o.reason = "cancelled", reason
  self.touched[o] = true
  local book = self.books[o.instrument]
  book.stats.cancels = book.stats.cancels + 1
  emit(self, "cancel", { id = o.id, trader = o.trader, side = o.side, remaining = o.amount, reason = reason },
    book)
  return true
end

function Model:cancel_all(trader)
  for _, name in ipairs(self.instruments) do
    for _, side in ipairs({ "buy", "sell" }) do
      local mine = {}
      for _, o in ipairs(self.books[name].sides[side]) do
        if o.trader == trader then mine[#mine + 1] = o end
      end
      for _, o in ipairs(mine) do self:cancel(o) end
    end
  end
  return true
end

-- t:amend(o, amount) with by = t's id: false when o is not a resting order
-- of by; nil and 2 when amount is more than o's (an error); else true.
function Model:amend(o, amount, by)
  if o.status ~= "open" or by ~= o.trader then return false end
  if amount > o.amount then return nil, 2 end
  emit(self, "amend", { id = o.id, trader = o.trader, side = o.side, price = o.price, from = o.amount,
    to = amount }, self.books[o.instrument])
  o.amount = amount
  self.touched[o] = true
  return true
end

-- t:replace(o, amount, price) with by = t's id: nil when o is not a resting
-- order of by; else the new order (valid arguments only).
function Model:replace(o, amount, price, by)
  if o.status ~= "open" or by ~= o.trader then return nil end
  self:cancel(o, by, "replace")
  return self:place(by, o.side, amount, price or o.price, { instrument = o.instrument })
end

function Model:best(side, instrument)
  local o = self.books[instrument or self.instruments[1]].sides[side][1]
  return o and o.price
end

-- { [price] = total } of one side, as ex:orderbook() gives it.
function Model:levels(side, instrument)
  local out = {}
  for _, o in ipairs(self.books[instrument or self.instruments[1]].sides[side]) do
    out[o.price] = (out[o.price] or 0) + o.amount
  end
  return out
end

function Model:resting(instrument)
  local sides = self.books[instrument or self.instruments[1]].sides
  return #sides.buy + #sides.sell
end

Model.MAX, Model.is_count = MAX, is_count
return Model
