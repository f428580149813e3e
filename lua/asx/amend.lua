-- A trader's calls on its resting orders: amend (smaller in place) and
-- replace (cancel and place again in one call). lua/asx/trader.lua copies
-- them into the Trader class; like every asx module, this one returns
-- nothing of the private state (lua/asx/private.lua).
require("asx.private")
local P = debug.getregistry()["asx.private"]
if P.trader_amend then return true end
require("asx.exchange")

local F = require("asx.ffi")
local check = require("asx.check")
local ffi, C = F.ffi, F.C
local tonumber, error, assert = tonumber, error, assert
local argerror, self_error, show = check.argerror, check.self_error, check.show
local is_count, MAX = check.is_count, check.MAX

require("asx.fills")
local fills = P.fills
local order_t, istype = P.order_t, ffi.istype
local account_of, exchange_at, state_at = P.account_of, P.exchange_at, P.state_at
local deliver, order_options, refuses = P.deliver, P.order_options, P.refuses
local used = P.used
local OPEN, PENDING = C.ASX_OPEN, C.ASX_NEW

-- The methods, copied into the Trader class.
local Trader = {}

-- Whether o is one of self's orders resting in its exchange, or on its way
-- there (pending, with a latency): the exchange's state (found, as the
-- order path finds it, by the number the account carries), o's book and
-- self's account, or nil.
local function own_order(self, o, fname)
  local acct = account_of(self)
  if not acct then self_error(fname, "trader", self, 3) end
  if not istype(order_t, o) then argerror(1, fname, "order expected", o, 3) end
  -- nil for a trader with no exchange (tag 0).
  local st = state_at[acct.tag]
  if st == nil or o.trader_ ~= acct.id or (o.status_ ~= OPEN and o.status_ ~= PENDING) then return nil end
  -- The book checks that o rests in it.
  return st, st.books[o.instrument_], acct
end

-- With a latency in a running session, a call on an order is a message
-- that acts when it reaches the book, after the trader's messages sent
-- before it, as a cancel is (lua/asx/courier.lua): the delay and the
-- courier, or nil when the call acts at once.
local function sent_later(self, st, fname)
  local courier = st.courier
  if courier == nil or not used.latency then return nil end
  if st.delivering and refuses(st) then error(fname .. ": a logger must not trade", 3) end
  local delay = courier:delay(self, 4)
  if delay then return delay, courier end
  return nil
end

-- Reduces a resting order to amount, keeping its place in the queue: true,
-- or false when o is not a resting order of self. A larger amount would jump
-- the queue: it is refused (cancel and place again).
function Trader:amend(o, amount)
  local st, book = own_order(self, o, "amend")
  if not is_count(amount) then argerror(2, "amend", check.AMOUNT_EXPECTED, amount) end
  if st == nil then return false end
  local now = tonumber(o.amount_)
  if amount > now then
    argerror(2, "amend", ("amount at most %d expected: an order cannot grow in place (cancel it and place "
      .. "another)"):format(now), amount)
  end
  local delay, courier = sent_later(self, st, "amend")
  if delay then
    courier:send_amend(self, delay, o, amount)
    return true
  end
  if o.status_ ~= OPEN then return false end
  if st.delivering and refuses(st) then error("amend: a logger must not trade", 2) end
  local ok = C.asx_book_amend(book, o, amount) == 1
  if ok and st.listening then deliver(exchange_at[st.tag], st) end
  return ok
end

-- Cancels a resting order and places a new one on the same instrument and
-- side (amount, price: the old price when nil; options as buy's, on the
-- same instrument), in one call; the new order queues behind the others at
-- its price. Returns the new order, or nil when o is not a resting order of
-- self (nothing is placed then).
function Trader:replace(o, amount, price, opts)
  local st, book, acct = own_order(self, o, "replace")
  if not is_count(amount) then argerror(2, "replace", check.AMOUNT_EXPECTED, amount) end
  if price ~= nil and not is_count(price) then argerror(3, "replace", check.PRICE_EXPECTED, price) end
  if st == nil then return nil end
  price = price or tonumber(o.price_)
  local inst, flags = order_options(st, opts, "replace", true, o.instrument_)
  if price * amount > MAX then
    error(("bad argument #3 to 'replace' (price × amount must not exceed 2^53 - 1, got %s × %s)")
      :format(show(price), show(amount)), 2)
  end
  local side = o.side_
  local delay, courier = sent_later(self, st, "replace")
  if delay then
    -- On its way: it acts on arrival (arrive_replace), the new order then
    -- matched as this object.
    local n = order_t(0, price, amount, 0, acct.id, side, PENDING, flags, 0, 0, inst)
    courier:send_replace(self, delay, o, n)
    return n
  end
  if o.status_ ~= OPEN then return nil end
  if st.delivering and refuses(st) then error("replace: a logger must not trade", 2) end
  -- The new order must fit its level once the old one has left it.
  local left = tonumber(C.asx_book_level_amount(book, side, price))
  if o.price_ == price then left = left - tonumber(o.amount_) end
  if left > MAX - amount then
    argerror(2, "replace", ("amount at most %s expected: the level at price %s holds %s of at most 2^53 - 1")
      :format(show(MAX - left), show(price), show(left)), amount)
  end
  -- Its fills reach the trader's on_fill as any order's do.
  local hears = used.on_fill and fills.hears(self, st)
  C.asx_book_cancel_why(book, o, C.ASX_CANCEL_REPLACE)
  local n = st.spare
  if n == nil then n = order_t() end
  st.spare = nil
  C.asx_book_submit_ex(book, n, acct, side, price, amount, flags)
  assert(inst == o.instrument_)
  if n.status_ == OPEN then
    st.anchors[n.slot_] = n
  end
  if hears then fills.watch(st, n) end
  if st.listening or st.watching then deliver(exchange_at[st.tag], st) end
  return n
end

-- An amend of t's reaches the book: o is reduced to amount if it still
-- rests with more than that (fills may have taken it there already).
local function arrive_amend(t, o, amount)
  local acct = account_of(t)
  local ex = acct and exchange_at[acct.tag]
  if ex == nil or not istype(order_t, o) or o.trader_ ~= acct.id or o.status_ ~= OPEN
      or amount > tonumber(o.amount_) then
    return
  end
  local st = state_at[acct.tag]
  if C.asx_book_amend(st.books[o.instrument_], o, amount) == 1 and (st.loggers[1] or st.watching) then
    deliver(ex)
  end
end

-- A replace of t's reaches the book: o is cancelled (reason "replace") and
-- n, pending, placed in its stead, if o still rests and n fits its level
-- then; else nothing happens and n ends cancelled, never placed, as replace
-- returns nil for an order that does not rest.
local function arrive_replace(t, o, n)
  local acct = account_of(t)
  local ex = acct and exchange_at[acct.tag]
  if ex == nil or not istype(order_t, n) or n.status_ ~= PENDING or n.id_ ~= 0 or n.trader_ ~= acct.id then
    return
  end
  local st = state_at[acct.tag]
  local book = st.books[n.instrument_]
  local price, amount, side = tonumber(n.price_), tonumber(n.amount_), n.side_
  local fits = false
  if istype(order_t, o) and o.trader_ == acct.id and o.status_ == OPEN and o.instrument_ == n.instrument_
      and o.side_ == side then
    local left = tonumber(C.asx_book_level_amount(book, side, price))
    if o.price_ == n.price_ then left = left - tonumber(o.amount_) end
    fits = left <= MAX - amount
  end
  if not fits then
    P.set_order_status(n, C.ASX_CANCELLED)
    return
  end
  local hears = used.on_fill and fills.hears(t, st)
  C.asx_book_cancel_why(book, o, C.ASX_CANCEL_REPLACE)
  C.asx_book_submit_ex(book, n, acct, side, price, amount, n.flags_)
  if n.status_ == OPEN then st.anchors[n.slot_] = n end
  if hears then fills.watch(st, n) end
  if st.loggers[1] or st.watching then deliver(ex) end
end

P.arrive_amend, P.arrive_replace = arrive_amend, arrive_replace

P.trader_amend = Trader
return true
