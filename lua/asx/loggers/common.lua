-- What the built-in loggers share: the checks of their calls
-- and the registry of open loggers, which os.exit closes (asx.session).
local argerror = require("asx.check").argerror
local type, error = type, error

local M = {}

-- Raises when the logger is closed; level counts as check.argerror's does.
function M.check_open(self, fname, level)
  if self.closed then error(fname .. ": this logger is closed", (level or 2) + 1) end
end

-- The checks of consume_events(ptr, n), called from consume_events: C
-- reads n records from ptr, so ptr must be the book's own.
local is_records, is_balance = require("asx.event").is_records, require("asx.check").is_balance
function M.check_consume_events(self, ptr, n)
  M.check_open(self, "consume_events", 3)
  if not is_records(ptr) then argerror(1, "consume_events", "event records expected", ptr, 3) end
  if not is_balance(n) then argerror(2, "consume_events", "record count expected", n, 3) end
end

-- The checks of send_event(event_type, message), called from send_event.
function M.check_send_event(self, event_type, message)
  M.check_open(self, "send_event", 3)
  if type(event_type) ~= "string" then argerror(1, "send_event", "event type string expected", event_type, 3) end
  if type(message) ~= "table" then argerror(2, "send_event", "message table expected", message, 3) end
end

-- Every logger still open, with the number of its opening; weak, so an
-- abandoned logger is still collected.
M.open = setmetatable({}, { __mode = "k" })
local opened = 0

-- Notes that logger L is open (its constructor calls it).
function M.opened(L)
  opened = opened + 1
  M.open[L] = opened
end

-- The loggers still open, in the order they were opened.
function M.still_open()
  local list = {}
  for L in pairs(M.open) do list[#list + 1] = L end
  table.sort(list, function(a, b) return M.open[a] < M.open[b] end)
  return list
end

-- Closes every open logger (at the host's exit). Returns true, or nil and
-- the first error.
function M.close_all()
  local first
  for _, L in ipairs(M.still_open()) do
    local ok, err = L:close()
    if not ok and not first then first = err end
  end
  if first then return nil, first end
  return true
end

return M
