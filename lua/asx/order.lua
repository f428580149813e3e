-- Orders as Lua code sees them: the book's asx_order records, read through
-- getters that return plain Lua numbers and strings, every field read-only
-- (the FFI view in lua/asx/ffi.lua holds no pointer). Part of require "asx";
-- the order type is kept in the private state (lua/asx/private.lua), where
-- the exchange and the traders make orders of it.
require("asx.private")
local P = debug.getregistry()["asx.private"]
-- A metatype is set once per Lua state.
if P.order_t then return true end

local F = require("asx.ffi")
local ffi, C = F.ffi, F.C
local tonumber, tostring, error = tonumber, tostring, error

local check = require("asx.check")
local event = require("asx.event")
local argerror = check.argerror
local type, pairs = type, pairs

local SIDES = { [C.ASX_BUY] = "buy", [C.ASX_SELL] = "sell" }
local CANCEL_REASONS = event.CANCEL_REASONS
local STATUS = { [C.ASX_OPEN] = "open", [C.ASX_FILLED] = "filled", [C.ASX_CANCELLED] = "cancelled",
  [C.ASX_NEW] = "pending" }
local owners = P.owners
local OPEN, CANCELLED = C.ASX_OPEN, C.ASX_CANCELLED
local account_at, state_at = P.account_at, P.state_at

-- An order's status. One that rested in the book of an exchange that was
-- collected stays open in C (the book was freed without reading it, see
-- lua/asx/exchange.lua): it reads "cancelled", its account or the
-- account's exchange being gone.
local function status_of(o)
  local s = o.status_
  if s == OPEN then
    local acct = account_at[o.trader_]
    if acct == nil or state_at[acct.tag] == nil then s = CANCELLED end
  end
  return STATUS[s]
end

local order_getters = {
  -- An order gets its id from the book it reaches: none while pending.
  id = function(o)
    local id = o.id_
    if id == 0 then return nil end
    return tonumber(id)
  end,
  side = function(o) return SIDES[o.side_] end,
  price = function(o)
    local p = o.price_
    if p == 0 then return nil end
    return tonumber(p)
  end,
  amount = function(o) return tonumber(o.amount_) end,
  filled = function(o) return tonumber(o.filled_) end,
  status = status_of,
  owner = function(o) return owners[o.trader_] end,
  trader = function(o) return o.trader_ end,
  -- The instrument's name, also once the owner or its exchange is collected.
  instrument = function(o) return P.instrument_name(o.trader_, o.instrument_) end,
  -- Why a cancelled order was cancelled: nil when its trader asked (or for
  -- a market order's rest), else "ioc", "fok", "post_only" or "replace".
  reason = function(o) return CANCEL_REASONS[o.reason_] end,
  tif = function(o)
    local f = o.flags_
    return f == C.ASX_IOC and "ioc" or f == C.ASX_FOK and "fok" or "gtc"
  end,
  post_only = function(o) return o.flags_ == C.ASX_POST_ONLY end,
}

local order_t = ffi.typeof("asx_order")
ffi.metatype(order_t, {
  __index = function(o, k)
    local get = order_getters[k]
    if get then return get(o) end
    return nil
  end,
  __newindex = function(_, k)
    error(("order field '%s' is read-only"):format(tostring(k)), 2)
  end,
  __tostring = function(o)
    local p = o.price_
    -- The default instrument goes unnamed, as before there were others.
    local inst = o.instrument_ ~= 0 and " " .. tostring(order_getters.instrument(o)) or ""
    -- Integers in full: tostring writes those past 10^14 with an exponent.
    return ("order#%s(%s %d%s @ %s, filled %d, %s)"):format(o.id_ == 0 and "?" or ("%d"):format(tonumber(o.id_)),
      SIDES[o.side_], tonumber(o.amount_), inst, p == 0 and "market" or ("%d"):format(tonumber(p)),
      tonumber(o.filled_), status_of(o))
  end,
})
P.order_t = order_t

-- Lua's view of an order is const: the book sets every status but that of
-- an order that never reached it (pending, then dropped: lua/asx/courier.lua).
local STATUS_AT = ffi.offsetof(order_t, "status_")
function P.set_order_status(o, status)
  ffi.cast("uint8_t *", o)[STATUS_AT] = status
end

-- The options of an order call (the third argument of buy and sell, the
-- fourth of replace): nil, an instrument's name, or a table { instrument =
-- name, tif = "gtc" | "ioc" | "fok", post_only = true }. Returns the
-- instrument's number and the ASX_* flags; raises naming fname and the
-- argument for anything else, before anything changes. limit says whether
-- the order has a price (post_only needs one); only, when given, is the one
-- instrument allowed (replace keeps its order's).
local TIF = { gtc = 0, ioc = C.ASX_IOC, fok = C.ASX_FOK }
local KNOWN = { instrument = true, tif = true, post_only = true }
function P.order_options(st, opts, fname, limit, only)
  local n = only and 4 or 3
  local name, flags = opts, 0
  if type(opts) == "table" then
    for k in pairs(opts) do
      if not KNOWN[k] then
        error(("bad argument #%d to '%s' (unknown option %s: instrument, tif or post_only expected)")
          :format(n, fname, type(k) == "string" and ("%q"):format(k) or type(k)), 3)
      end
    end
    name = opts.instrument
    local tif = opts.tif
    if tif ~= nil then
      flags = TIF[tif]
      if flags == nil then argerror(n, fname, "tif: \"gtc\", \"ioc\" or \"fok\" expected", tif, 3) end
    end
    local post = opts.post_only
    if post ~= nil and type(post) ~= "boolean" then argerror(n, fname, "post_only: boolean expected", post, 3) end
    if post then
      if flags ~= 0 then
        error(("bad argument #%d to '%s' (post_only cannot be immediate: tif %q with post_only)")
          :format(n, fname, tif), 3)
      end
      if not limit then
        error(("bad argument #%d to '%s' (post_only needs a price: a market order always trades)")
          :format(n, fname), 3)
      end
      flags = C.ASX_POST_ONLY
    end
  elseif opts ~= nil and type(opts) ~= "string" then
    argerror(n, fname, "instrument name or table of options expected", opts, 3)
  end
  local inst = 0
  if name ~= nil then
    inst = st.index[name]
    if inst == nil then
      if type(name) ~= "string" then argerror(n, fname, "instrument: name expected", name, 3) end
      error(("bad argument #%d to '%s' (unknown instrument %q)"):format(n, fname, name), 3)
    end
  end
  if only and name ~= nil and inst ~= only then
    error(("bad argument #%d to '%s' (a replacing order stays on its instrument %q, got %q)")
      :format(n, fname, st.names[only], name), 3)
  end
  return only or inst, flags
end
return true
