-- Calling a logger: send(L, name, m) runs L:send_event(name, m) so that
-- whatever the logger does, its caller goes on. The exchange delivers its
-- events from inside the call that caused them (an agent's buy, on the
-- agent's coroutine), once per event and logger, so this is on the order
-- path of every session with a Lua logger.
--
-- A protected call that compiled code runs without leaving the trace is
-- xpcall; its handler keeps the logger's own traceback. But LuaJIT's xpcall
-- lets a coroutine.yield through: a logger that yields would suspend the
-- agent in the middle of a delivery. So the code that sends counts its
-- sends under way (sending(1) before, sending(-1) after: a store that
-- compiled code makes in place), and the yields check: coroutine.yield,
-- replaced here once per Lua state, and an agent's sleep (in C) raise the
-- logger's error where they are called inside a send on their own
-- coroutine (src/asx_lua_guard.c); a coroutine that a logger resumes
-- itself yields as usual.
--
--   guard.send(L, name, m)        true, or false, the error as raised and
--                                 the logger's traceback
--   guard.sending(d)              adds d to the count of sends under way
local registry = debug.getregistry()
if registry["asx.guard"] then return registry["asx.guard"] end
local F = require("asx.ffi")
local core = F.core

local xpcall, getinfo, concat, error = xpcall, debug.getinfo, table.concat, error

local M = {}

-- The count C reads (asx__lua_sends).
local sends = F.ffi.cast("int *", core.sends)
function M.sending(d)
  sends[0] = sends[0] + d
end

-- coroutine.yield, refused inside a send on the yielding coroutine.
local raw_yield, in_send, LOGGER_WAITS = coroutine.yield, core.in_send, core.LOGGER_WAITS
local function yield(...)
  if sends[0] > 0 and in_send() then error(LOGGER_WAITS, 2) end
  return raw_yield(...)
end
coroutine.yield = yield -- luacheck: ignore 122 (replaced on purpose)

-- Calls L:send_event(name, m) by a tail call, so that the logger's method is the
-- first frame above xpcall, named by its file and line as a traceback names
-- a function called from C. Its look-up is inside the protected call: an
-- __index that raises is the logger's error.
local function call_send(L, name, m)
  return L.send_event(L, name, m)
end

-- The handler keeps the error and the traceback of the frames from where it
-- was raised down to the logger's method (the ones below are the
-- exchange's), in luaL_traceback's form, and returns a marker: a call that
-- succeeds allocates nothing.
local FAILED = {}
local failed_err, failed_tb
local function on_error(err)
  local parts = { "stack traceback:" }
  local level = 2 -- 1 is this handler
  while true do
    local ar = getinfo(level, "Snlf")
    if ar == nil or ar.func == xpcall or ar.func == call_send then break end
    -- A refused yield is the logger's own call to it: the wrapper is not.
    if ar.func ~= yield then
      local where
      if ar.namewhat ~= "" then
        where = " in function '" .. ar.name .. "'"
      elseif ar.what == "main" then
        where = " in main chunk"
      elseif ar.what == "C" then
        where = " in ?"
      else
        where = (" in function <%s:%d>"):format(ar.short_src, ar.linedefined)
      end
      parts[#parts + 1] = "\n\t" .. ar.short_src .. ":" .. (ar.currentline > 0 and ar.currentline .. ":" or "")
        .. where
    end
    level = level + 1
  end
  failed_err, failed_tb = err, concat(parts)
  return FAILED
end

-- The traceback is nil when the handler itself failed (out of memory).
function M.send(L, name, m)
  local ok, err = xpcall(call_send, on_error, L, name, m)
  if ok then return true end
  if err ~= FAILED then return false, err end
  local tb
  err, tb, failed_err, failed_tb = failed_err, failed_tb, nil, nil
  return false, err, tb
end

-- The frame the yields look for.
registry[core.SEND_KEY] = M.send
registry["asx.guard"] = M
return M
