-- A trader's read-only queries: position, positions, standing_orders,
-- inspect_exchange and value. lua/asx/trader.lua copies them into the
-- Trader class; like every asx module, this one returns nothing of the
-- private state (lua/asx/private.lua).
require("asx.private")
local P = debug.getregistry()["asx.private"]
if P.trader_queries then return true end
require("asx.exchange")

local F = require("asx.ffi")
local check = require("asx.check")
local C = F.C
local type, tostring, tonumber, pairs, error = type, tostring, tonumber, pairs, error
local argerror = check.argerror

local state_at = P.state_at
local book_of, orderbook, last_price = P.book_of, P.orderbook, P.last_price
local wanted_positions = P.wanted_positions
local BUY = C.ASX_BUY

-- The methods, copied into the Trader class.
local Trader = {}

local trader_account = P.trader_account

-- The position in an instrument (the default one when name is nil).
function Trader:position(name)
  local acct = trader_account(self, "position")
  if name == nil then return tonumber(acct.stocks) end
  -- nil for a trader with no exchange (tag 0).
  local st = state_at[acct.tag]
  if st == nil then
    local wanted = wanted_positions[self]
    if type(name) ~= "string" then argerror(1, "position", "instrument name expected", name) end
    return wanted and wanted[name] or 0
  end
  local i = st.index[name]
  if i == nil then
    if type(name) ~= "string" then argerror(1, "position", "instrument name expected", name) end
    error(("bad argument #1 to 'position' (unknown instrument %q)"):format(name), 2)
  end
  return tonumber(C.asx_account_position(acct, i))
end

-- { [name] = position } over the exchange's instruments.
function Trader:positions()
  local acct = trader_account(self, "positions")
  local st = state_at[acct.tag]
  local out = {}
  if st == nil then
    for k, v in pairs(wanted_positions[self] or {}) do out[k] = v end
    return out
  end
  for i = 0, st.n - 1 do out[st.names[i]] = tonumber(C.asx_account_position(acct, i)) end
  return out
end

local function by_priority(a, b)
  if a.price_ ~= b.price_ then
    if a.side_ == BUY then return a.price_ > b.price_ end
    return a.price_ < b.price_
  end
  return a.id_ < b.id_
end

-- The resting orders of self, in one instrument or (name nil) all.
function Trader:standing_orders(instrument)
  local acct = trader_account(self, "standing_orders")
  local buys, sells = {}, {}
  local st = state_at[acct.tag]
  if st == nil then return buys, sells end
  local only = instrument ~= nil and C.asx_book_instrument(book_of(st, instrument, "standing_orders", 1))
  local anchors = st.anchors
  local o = C.asx_account_first(acct)
  while o ~= nil do
    if not only or o.instrument_ == only then
      local obj = anchors[o.slot_]
      if o.side_ == BUY then buys[#buys + 1] = obj else sells[#sells + 1] = obj end
    end
    o = C.asx_account_next(o)
  end
  table.sort(buys, by_priority)
  table.sort(sells, by_priority)
  return buys, sells
end

function Trader:inspect_exchange(instrument)
  local st = state_at[trader_account(self, "inspect_exchange").tag]
  if st == nil then
    error(("inspect_exchange: %s has no exchange"):format(tostring(self)), 2)
  end
  return orderbook(book_of(st, instrument, "inspect_exchange", 1))
end

-- The mark-to-market value: money plus each position at its instrument's
-- last trade price (0 before the first trade); price, when given, values
-- the default instrument instead.
-- The value of an account, for price nil or a checked one: what a session
-- reads of its agents, by the accounts it keeps, whatever the agents did to
-- their own tables.
local function account_value(acct, price)
  local st = state_at[acct.tag]
  if price == nil then price = st and last_price(st.book) or 0 end
  local v = tonumber(acct.money) + tonumber(acct.stocks) * price
  if st and st.n > 1 then
    for i = 1, st.n - 1 do
      local p = last_price(st.books[i]) or 0
      v = v + tonumber(C.asx_account_position(acct, i)) * p
    end
  end
  return v
end
P.account_value = account_value

function Trader:value(price)
  local acct = trader_account(self, "value")
  if price ~= nil and (type(price) ~= "number" or not (price >= 0 and price < 1 / 0)) then
    argerror(1, "value", "non-negative price expected", price)
  end
  return account_value(acct, price)
end

P.trader_queries = Trader
return true
