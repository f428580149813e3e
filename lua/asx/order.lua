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

local SIDES = { [C.ASX_BUY] = "buy", [C.ASX_SELL] = "sell" }
local STATUS = { [C.ASX_OPEN] = "open", [C.ASX_FILLED] = "filled", [C.ASX_CANCELLED] = "cancelled",
  [C.ASX_NEW] = "pending" }
local owners = P.owners

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
  status = function(o) return STATUS[o.status_] end,
  owner = function(o) return owners[o.trader_] end,
  trader = function(o) return o.trader_ end,
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
    return ("order#%s(%s %d @ %s, filled %d, %s)"):format(o.id_ == 0 and "?" or tostring(tonumber(o.id_)), SIDES[o.side_],
      tonumber(o.amount_), p == 0 and "market" or tostring(tonumber(p)), tonumber(o.filled_),
      STATUS[o.status_])
  end,
})
P.order_t = order_t

-- Lua's view of an order is const: the book sets every status but that of
-- an order that never reached it (pending, then dropped: lua/asx/courier.lua).
local STATUS_AT = ffi.offsetof(order_t, "status_")
function P.set_order_status(o, status)
  ffi.cast("uint8_t *", o)[STATUS_AT] = status
end
return true
