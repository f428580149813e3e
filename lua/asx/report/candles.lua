-- asx.report.candles: the book's events folded into candles as they happen,
-- for the report page; the fold is C's (src/asx_candles.h), this is its Lua
-- face.
--
--   local cs = require("asx.report.candles").new()
--   cs:consume(ptr, n)       -- const asx_event *, as a logger's consume_events gets
--   cs:add_trade(t, price, amount); cs:add_order(t); cs:add_cancel(t)
--   cs:interval()            -- seconds per candle (1, or coarser, see below)
--   cs:slots()               -- intervals opened, from time 0 to the latest event's
--   cs:candles([from])       -- { {time, open, high, low, close, volume}, ... }
--   cs:activity([from])      -- { {time, trades, orders, cancels}, ... }
--   cs.sync = fn             -- called before each of the four above reads: a
--                            -- fold fed in batches gets the rest there
--   cs:sink()                -- C function, data: a book's sink (asx_book.h)
--
-- Memory is bounded by time, not by trades: one slot per interval of session
-- time, whatever happened in it. When the session outgrows max_slots
-- intervals (MAX_SLOTS by default), every slot is merged into the next
-- interval of LADDER, so a day-long real-clock session keeps 10-second
-- candles instead of a million one-second ones.
local F = require("asx.ffi")
require("asx.private")
local P = debug.getregistry()["asx.private"]
local ffi, C = F.ffi, F.C

local floor, max = math.floor, math.max
local is_records = require("asx.event").is_records
local check_args = require("asx.check")
local argerror, is_balance, is_count = check_args.argerror, check_args.is_balance, check_args.is_count

local M = {}

-- Candle intervals, in seconds, finest first; the page offers these.
M.LADDER = {}
do
  local n = ffi.new("size_t[1]")
  local ladder = C.asx_candles_ladder(n)
  for i = 1, tonumber(n[0]) do M.LADDER[i] = ladder[i - 1] end
end
M.MAX_SLOTS = C.ASX_CANDLES_MAX_SLOTS

-- Plain methods (no __index function): consume runs on every call that
-- trades, inside the agents' traces.
local Candles = {}
Candles.__index = Candles

local function check(rc)
  if rc ~= 0 then error("asx.report.candles: out of memory", 3) end
end

-- Each fold's C state (asx_candles *), by its Lua object, out of that
-- object's fields: Lua code that wrote its count or slot pointer, or put a
-- light userdata (which the FFI takes as any address) in its place, would
-- make C read and write past its memory. Weak: the object keeps it.
local folds = setmetatable({}, { __mode = "k" })

-- Each fold by the number its C state's finalizer keeps, weak so that the
-- finalizer holds nothing that keeps the state alive. lua_close runs every
-- finalizer, of objects still reachable too, in no set order: the fold
-- first loses its state, and the books stop handing it records
-- (exchange.lua, P.unsink), so that a finalizer run after this one that
-- trades finds the fold gone rather than freed memory.
local owners = setmetatable({}, { __mode = "v" })
local n_owners = 0

local function fold_finalizer(id)
  return function(c)
    local self = owners[id]
    if self ~= nil then folds[self], self.gone = nil, true end
    owners[id] = nil
    if P.unsink then P.unsink(c) end
    C.asx_candles_free(c)
  end
end

function M.new(max_slots)
  if max_slots ~= nil and not is_count(max_slots) then
    argerror(1, "new", check_args.integer("positive", "number of slots") .. " expected", max_slots)
  end
  local c = C.asx_candles_new(max_slots or 0)
  if c == nil then error("asx.report.candles: out of memory", 2) end
  local self = setmetatable({}, Candles)
  n_owners = n_owners + 1
  owners[n_owners] = self
  folds[self] = ffi.gc(c, fold_finalizer(n_owners))
  return self
end

-- The C state of fold self, for its method fname.
local function fold_of(self, fname)
  local c = folds[self]
  if c == nil then
    if rawget(self, "gone") then error(("%s: these candles are gone (freed as Lua closes)"):format(fname), 3) end
    error(("bad argument #1 to '%s' (candles expected)"):format(fname), 3)
  end
  return c
end

-- The fold, once whatever it is owed has come.
local function synced(self, fname)
  local c = fold_of(self, fname)
  local sync = self.sync
  if sync then sync() end
  return c
end

-- True when v is a fold made by new.
function M.is_candles(v)
  return folds[v] ~= nil
end

-- The fold as a book's sink (asx_book_set_sink): the C function and its
-- data, which the caller keeps while the book may call it; nil when self
-- is not a fold.
function Candles:sink()
  local c = folds[self]
  if c == nil then return nil end
  return C.asx_candles_take, c
end

function Candles:interval()
  return synced(self, "interval").interval
end

function Candles:slots()
  return tonumber(synced(self, "slots").count)
end

function Candles:add_trade(t, price, amount)
  local c = fold_of(self, "add_trade")
  if not is_count(price) then argerror(2, "add_trade", check_args.PRICE_EXPECTED, price) end
  if not is_count(amount) then argerror(3, "add_trade", check_args.AMOUNT_EXPECTED, amount) end
  check(C.asx_candles_trade(c, t, price, amount))
end

function Candles:add_order(t)
  check(C.asx_candles_order(fold_of(self, "add_order"), t))
end

function Candles:add_cancel(t)
  check(C.asx_candles_cancel(fold_of(self, "add_cancel"), t))
end

-- Takes n records of the book (a const asx_event *): trades, orders and
-- cancels; trims change no candle. The page follows the default instrument
-- (prices of different instruments do not mix), so the others' records are
-- passed over.
function Candles:consume(ptr, n)
  local c = fold_of(self, "consume")
  if not is_records(ptr) then argerror(1, "consume", "event records expected", ptr) end
  if not is_balance(n) then argerror(2, "consume", "record count expected", n) end
  check(C.asx_candles_consume(c, ptr, n))
end

-- The first slot (from 0) of the intervals that start at or after time from.
local function first(c, from)
  if not from or from <= 0 then return 0 end
  return max(0, floor(from / c.interval))
end

-- The candles, oldest first: { time, open, high, low, close, volume } for
-- each interval that had a trade, from the one holding time from (default
-- 0) on.
function Candles:candles(from)
  local c = synced(self, "candles")
  local out, iv, slot = {}, c.interval, c.slot
  for k = first(c, from), tonumber(c.count) - 1 do
    local s = slot[k]
    if s.trades > 0 then
      out[#out + 1] = { k * iv, tonumber(s.open), tonumber(s.high), tonumber(s.low),
        tonumber(s.close), tonumber(s.volume) }
    end
  end
  return out
end

-- The activity, oldest first: { time, trades, orders, cancels } for each
-- interval that had any, from the one holding time from (default 0) on.
function Candles:activity(from)
  local c = synced(self, "activity")
  local out, iv, slot = {}, c.interval, c.slot
  for k = first(c, from), tonumber(c.count) - 1 do
    local s = slot[k]
    if s.trades + s.orders + s.cancels > 0 then
      out[#out + 1] = { k * iv, tonumber(s.trades), tonumber(s.orders), tonumber(s.cancels) }
    end
  end
  return out
end

return M
