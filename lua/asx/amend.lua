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
local OPEN = C.ASX_OPEN

-- The methods, copied into the Trader class.
local Trader = {}

-- Whether o is one of self's orders resting in its exchange: the
-- exchange's state (found, as the order path finds it, by the number the
-- account carries), o's book and self's account, or nil.
local function own_resting(self, o, fname)
  local acct = account_of(self)
  if not acct then self_error(fname, "trader", self, 3) end
  if not istype(order_t, o) then argerror(1, fname, "order expected", o, 3) end
  -- nil for a trader with no exchange (tag 0).
  local st = state_at[acct.tag]
  if st == nil or o.trader_ ~= acct.id or o.status_ ~= OPEN then return nil end
  -- The book checks that o rests in it.
  return st, st.books[o.instrument_], acct
end

-- Reduces a resting order to amount, keeping its place in the queue: true,
-- or false when o is not a resting order of self. A larger amount would jump
-- the queue: it is refused (cancel and place again).
function Trader:amend(o, amount)
  local st, book = own_resting(self, o, "amend")
  if not is_count(amount) then argerror(2, "amend", "positive integer amount expected", amount) end
  if st == nil then return false end
  local now = tonumber(o.amount_)
  if amount > now then
    argerror(2, "amend", ("amount at most %d expected: an order cannot grow in place (cancel it and place "
      .. "another)"):format(now), amount)
  end
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
  local st, book, acct = own_resting(self, o, "replace")
  if not is_count(amount) then argerror(2, "replace", "positive integer amount expected", amount) end
  if price ~= nil and not is_count(price) then argerror(3, "replace", "positive integer price expected", price) end
  if st == nil then return nil end
  price = price or tonumber(o.price_)
  local inst, flags = order_options(st, opts, "replace", true, o.instrument_)
  if price * amount > MAX then
    error(("bad argument #3 to 'replace' (price × amount must not exceed 2^53 - 1, got %s × %s)")
      :format(show(price), show(amount)), 2)
  end
  if st.delivering and refuses(st) then error("replace: a logger must not trade", 2) end
  -- The new order must fit its level once the old one has left it.
  local side = o.side_
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

P.trader_amend = Trader
return true
