-- asx.report.candles: the book's events aggregated into candles as they
-- happen, for the report page.
--
--   local cs = require("asx.report.candles").new()
--   cs:consume(ptr, n)       -- const asx_event *, as a logger's consume_events gets
--   cs:add_trade(t, price, amount); cs:add_order(t); cs:add_cancel(t)
--   cs.interval              -- seconds per candle (1, or coarser, see below)
--   cs:candles()             -- { {time, open, high, low, close, volume}, ... }
--   cs:activity()            -- { {time, trades, orders, cancels}, ... }
--
-- Memory is bounded by time, not by trades: one slot per interval of session
-- time, whatever happened in it. A slot's candle starts at k x interval and
-- holds the trades with k x interval <= time < (k + 1) x interval. When the
-- session outgrows MAX_SLOTS intervals, every slot is merged into the next
-- interval of LADDER, so a day-long real-clock session keeps 10-second
-- candles instead of a million one-second ones.
--
-- The slots are columns (one Lua array per figure), indexed k + 1, so a
-- trade costs a few array stores and no allocation; a slot whose trades
-- count is 0 has no candle (its price columns hold nothing valid).
local C = require("asx.ffi").C

local floor = math.floor

local M = {}

-- Candle intervals, in seconds, finest first; the page offers these.
M.LADDER = { 1, 10, 60, 300, 3600, 86400 }
M.MAX_SLOTS = 20000

local EV_TRADE, EV_ORDER, EV_CANCEL = C.ASX_EV_TRADE, C.ASX_EV_ORDER, C.ASX_EV_CANCEL

local Candles = {}
Candles.__index = Candles

function M.new(max_slots)
  local self = setmetatable({ rung = 1, interval = M.LADDER[1], slots = 0,
    max_slots = max_slots or M.MAX_SLOTS }, Candles)
  self:_clear()
  return self
end

function Candles:_clear()
  self.open, self.high, self.low, self.close, self.volume = {}, {}, {}, {}, {}
  self.trades, self.orders, self.cancels = {}, {}, {}
  self.slots = 0
end

-- Opens every slot up to k (empty ones in between) and returns k's index.
-- Past max_slots, the candles move to a coarser interval first.
function Candles:_slot(t)
  local k = floor(t / self.interval) + 1
  if k <= self.slots then return k end
  while k > self.max_slots and self.rung < #M.LADDER do
    self:_coarsen()
    k = floor(t / self.interval) + 1
    if k <= self.slots then return k end
  end
  local trades, orders, cancels = self.trades, self.orders, self.cancels
  for i = self.slots + 1, k do
    trades[i], orders[i], cancels[i] = 0, 0, 0
  end
  self.slots = k
  return k
end

-- Merges the slots into the next interval of the ladder.
function Candles:_coarsen()
  local old = { open = self.open, high = self.high, low = self.low, close = self.close,
    volume = self.volume, trades = self.trades, orders = self.orders, cancels = self.cancels }
  local n, from = self.slots, self.interval
  self.rung = self.rung + 1
  self.interval = M.LADDER[self.rung]
  local ratio = self.interval / from
  self:_clear()
  for i = 1, n do
    local k = floor((i - 1) / ratio) + 1
    if k > self.slots then
      for j = self.slots + 1, k do self.trades[j], self.orders[j], self.cancels[j] = 0, 0, 0 end
      self.slots = k
    end
    self.orders[k] = self.orders[k] + old.orders[i]
    self.cancels[k] = self.cancels[k] + old.cancels[i]
    local tr = old.trades[i]
    if tr > 0 then
      if self.trades[k] == 0 then
        self.open[k], self.high[k], self.low[k] = old.open[i], old.high[i], old.low[i]
        self.volume[k] = 0
      else
        if old.high[i] > self.high[k] then self.high[k] = old.high[i] end
        if old.low[i] < self.low[k] then self.low[k] = old.low[i] end
      end
      self.close[k] = old.close[i]
      self.volume[k] = self.volume[k] + old.volume[i]
      self.trades[k] = self.trades[k] + tr
    end
  end
end

function Candles:add_trade(t, price, amount)
  local k = self:_slot(t)
  local n = self.trades[k]
  if n == 0 then
    self.open[k], self.high[k], self.low[k], self.volume[k] = price, price, price, 0
  else
    if price > self.high[k] then self.high[k] = price end
    if price < self.low[k] then self.low[k] = price end
  end
  self.close[k] = price
  self.volume[k] = self.volume[k] + amount
  self.trades[k] = n + 1
end

function Candles:add_order(t)
  local k = self:_slot(t)
  self.orders[k] = self.orders[k] + 1
end

function Candles:add_cancel(t)
  local k = self:_slot(t)
  self.cancels[k] = self.cancels[k] + 1
end

-- Takes n records of the book (a const asx_event *): trades, orders and
-- cancels; trims change no candle. The page follows the default instrument
-- (prices of different instruments do not mix), so the others' are passed
-- over.
function Candles:consume(ptr, n)
  for i = 0, n - 1 do
    local e = ptr[i]
    local ty = e.instrument == 0 and e.type or nil
    if ty == EV_TRADE then
      self:add_trade(e.time, tonumber(e.price), tonumber(e.amount))
    elseif ty == EV_ORDER then
      self:add_order(e.time)
    elseif ty == EV_CANCEL then
      self:add_cancel(e.time)
    end
  end
end

-- The candles, oldest first: { time, open, high, low, close, volume } for
-- each interval that had a trade.
function Candles:candles()
  local out, iv = {}, self.interval
  for k = 1, self.slots do
    if self.trades[k] > 0 then
      out[#out + 1] = { (k - 1) * iv, self.open[k], self.high[k], self.low[k], self.close[k],
        self.volume[k] }
    end
  end
  return out
end

-- The activity, oldest first: { time, trades, orders, cancels } for each
-- interval that had any.
function Candles:activity()
  local out, iv = {}, self.interval
  for k = 1, self.slots do
    local tr, o, c = self.trades[k], self.orders[k], self.cancels[k]
    if tr + o + c > 0 then out[#out + 1] = { (k - 1) * iv, tr, o, c } end
  end
  return out
end

return M
