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

local xpcall, getinfo, concat, error, collectgarbage = xpcall, debug.getinfo, table.concat, error, collectgarbage
local next, rawset = next, rawset

local M = {}

-- The count C reads (asx__lua_sends).
local sends = F.ffi.cast("int *", core.sends)
function M.sending(d)
  sends[0] = sends[0] + d
end

-- The sleep gate (src/asx_lua_agent.c): an agent's sleep yields from Lua,
-- with the raw coroutine.yield, while the gate is open, which it is only
-- while the agent runs in its own coroutine. It is a pointer, which the
-- FFI lets code index past its end (gate[1000].delay = 1 writes anywhere):
-- asx's own code finds it in the private state (lua/asx/private.lua), with
-- the raw yield, and no module hands it out.
require("asx.private")
local P = registry["asx.private"]
local gate = F.ffi.cast("struct { int open; int req; double delay; } *", core.sleep_gate)
P.sleep_gate = gate

-- coroutine.yield, refused inside a send on the yielding coroutine. A
-- yield here is never a sleep: it clears a request that a sleep left when
-- it could not yield (across a C call), so the agent's resume refuses it.
-- In the agent's own coroutine (the gate open) it raises where it was
-- called, so that a pcall around it catches it: yielding first left the
-- error to the hook at the next instruction, past a pcall that called the
-- yield itself (pcall(coroutine.yield)) or by a tail call, which then
-- failed the agent though its code had caught the error.
local raw_yield, in_send, LOGGER_WAITS = coroutine.yield, core.in_send, core.LOGGER_WAITS
local STRAY_YIELD = core.STRAY_YIELD
P.raw_yield = raw_yield
local function yield(...)
  if sends[0] > 0 and in_send() then error(LOGGER_WAITS, 2) end
  if gate.open ~= 0 then error(STRAY_YIELD, 0) end
  gate.req = 0
  return raw_yield(...)
end
coroutine.yield = yield -- luacheck: ignore 122 (replaced on purpose)

-- coroutine.resume and the functions of coroutine.wrap shut the sleep gate
-- while the coroutine they run runs, and put it back as it was when it
-- yields, returns or raises: a sleep inside it then goes to C, which
-- raises (only an agent can sleep, in its own coroutine). Bad arguments go
-- on to the built-in by a tail call, so their errors name the caller's line
-- as before; the error of a wrapped coroutine is raised again at the
-- caller's line, as the built-in wrap does.
local raw_resume, raw_wrap, pcall = coroutine.resume, coroutine.wrap, pcall

-- They count the coroutines they run one inside another, too: LuaJIT counts
-- no C calls, and a recursion through resume (each coroutine resuming a new
-- one) overflows the C stack, a segmentation fault, some hundred thousand
-- deep. Past MAX_NESTING, resume returns false and the reason, as for a
-- coroutine it cannot resume, and a function of wrap raises it.
local MAX_NESTING = 1000
local NESTING = ("coroutines nested more than %d deep (a recursion through coroutine.resume "
  .. "would overflow the C stack)"):format(MAX_NESTING)
local nesting = 0

local function reopen(was, ...)
  gate.open = was
  nesting = nesting - 1
  return ...
end

local function resume(co, ...)
  if type(co) ~= "thread" then return raw_resume(co, ...) end
  if nesting >= MAX_NESTING then return false, NESTING end
  local was = gate.open
  gate.open = 0
  nesting = nesting + 1
  return reopen(was, raw_resume(co, ...))
end
coroutine.resume = resume -- luacheck: ignore 122 (replaced on purpose)

local function rewrap(was, ok, ...)
  gate.open = was
  nesting = nesting - 1
  if ok then return ... end
  local err = ...
  error(err, type(err) == "string" and 2 or 0)
end

local function wrap(f)
  if type(f) ~= "function" then return raw_wrap(f) end
  local w = raw_wrap(f)
  return function(...)
    if nesting >= MAX_NESTING then error(NESTING, 2) end
    local was = gate.open
    gate.open = 0
    nesting = nesting + 1
    return rewrap(was, pcall(w, ...))
  end
end
coroutine.wrap = wrap -- luacheck: ignore 122 (replaced on purpose)

-- Calls L:send_event(name, m). Its look-up is inside the protected call: an
-- __index that raises is the logger's error. Not by a tail call: a
-- send_event that ends in a tail call of a yield the check does not see (a
-- coroutine.yield saved before asx was loaded) leaves no frame of the
-- logger's, and the refused yield's error, raised at the next instruction
-- once resumed (src/asx_lua_agent.c), would be raised in send past xpcall:
-- the agent's error. Here it is this frame's, inside the protected call.
-- The traceback names the method by its file and line (on_error), as it
-- did when it was the first frame above xpcall.
local function call_send(L, name, m)
  L.send_event(L, name, m)
end

-- The handler keeps the error and the traceback of the frames from where it
-- was raised down to the logger's method (the ones below are the
-- exchange's), in luaL_traceback's form, and returns a marker: a call that
-- succeeds allocates nothing.
local FAILED = {}
local failed_err, failed_tb
-- An error raised for the caller (level 2: a refused yield, an asx call
-- that a logger must not make) names the line of the call; when the logger
-- made it by a tail call, that line is call_send's, which is asx's and
-- says nothing: the error is then given without it, as it was when
-- call_send made a tail call too and the caller found was xpcall.
local GUARD_SRC = debug.getinfo(1, "S").short_src .. ":"
local function on_error(err)
  if type(err) == "string" and err:sub(1, #GUARD_SRC) == GUARD_SRC then
    err = err:gsub("^[^\n]-:%d+: ", "", 1)
  end
  local parts = { "stack traceback:" }
  local level = 2 -- 1 is this handler
  while true do
    local ar = getinfo(level, "Snlf")
    if ar == nil or ar.func == xpcall or ar.func == call_send then break end
    -- A refused yield is the logger's own call to it: the wrapper is not.
    if ar.func ~= yield then
      local where
      local caller = getinfo(level + 1, "f")
      if ar.namewhat ~= "" and not (ar.name == "send_event" and caller and caller.func == call_send) then
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
  -- A logger that ran out of memory left its garbage: LuaJIT does not
  -- collect when an allocation fails, and reporting the failure (then the
  -- agent's next steps) would run out of memory again, failing the agent.
  if err == "not enough memory" then collectgarbage() end
  if err ~= FAILED then return false, err end
  local tb
  err, tb, failed_err, failed_tb = failed_err, failed_tb, nil, nil
  return false, err, tb
end

-- Lets go of what a logger that ran out of memory kept in its own fields
-- (self.kept), once it is detached: the session holds it for the summary,
-- so the collection could not take what it kept, and each agent after it
-- ran out of memory in turn. Every field goes, its methods too, as an agent
-- loses its trader's own fields (lua/asx/trader.lua, P.release_fields):
-- what is left of it is never sent an event again, and close or stats is
-- not called on it (it has none). Its metatable stays, so it is named as
-- before. In the private state: a module hands out no function that clears
-- the fields of whatever table it is given.
function P.release_logger(L)
  if type(L) ~= "table" then return end
  for k in next, L do rawset(L, k, nil) end
  collectgarbage()
end

-- The frame the yields look for.
registry[core.SEND_KEY] = M.send
registry["asx.guard"] = M
return M
