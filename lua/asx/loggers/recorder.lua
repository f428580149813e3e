-- The trade history of the prompt's trades(n): a logger that keeps the last
-- `size` trades (default M.TRADES_KEPT) in parallel arrays used as a ring,
-- reading the book's event records directly (consume_events), so that
-- keeping the history costs no Lua table per event.
--
--   local L = require("asx.loggers.recorder").new(size)
--   exchange:add_logger(L); ...; L:last(n) -- the last n trades, oldest first
local event = require("asx.event")
local C = require("asx.ffi").C

local ipairs, setmetatable = ipairs, setmetatable

local M = {}

M.TRADES_KEPT = 10000 -- the trade history trades(n) can reach back into

local Recorder = {}
Recorder.__index = Recorder

-- The fields of a trade it keeps, read as the event schema says.
local TRADE_FIELDS = { "price", "amount", "buyer", "seller", "aggressor", "instrument" }
local read_trade = {}
for i, f in ipairs(TRADE_FIELDS) do read_trade[i] = event.reader(event.TRADE, f) end

function M.new(size)
  local self = { size = size or M.TRADES_KEPT, count = 0, total = 0, time = {} }
  for _, f in ipairs(TRADE_FIELDS) do self[f] = {} end
  return setmetatable(self, Recorder)
end

function Recorder:consume_events(evs, n)
  local size = self.size
  for i = 0, n - 1 do
    local e = evs[i]
    if e.type == C.ASX_EV_TRADE then
      local k = self.total % size + 1
      self.total = self.total + 1
      self.time[k] = e.time
      for j = 1, #TRADE_FIELDS do self[TRADE_FIELDS[j]][k] = read_trade[j](e) end
    end
  end
  self.count = self.total < size and self.total or size
end
-- The exchange hands the book's raw records to registered consumers only.
debug.getregistry()["asx.native_consumers"][Recorder.consume_events] = true

-- The last n trades, oldest first.
function Recorder:last(n, instrument)
  local out = {}
  local inst = self.instrument
  -- Newest first over what is kept, then put oldest first.
  for j = self.total - 1, self.total - self.count, -1 do
    if #out == n then break end
    local k = j % self.size + 1
    if instrument == nil or inst[k] == instrument then
      local row = { time = self.time[k] }
      for _, f in ipairs(TRADE_FIELDS) do row[f] = self[f][k] end
      out[#out + 1] = row
    end
  end
  for i = 1, #out / 2 do out[i], out[#out - i + 1] = out[#out - i + 1], out[i] end
  return out
end

return M
