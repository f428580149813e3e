-- Finalizers in asx-host's Lua state.
--
-- LuaJIT runs a userdata's __gc at whatever allocation starts a collection
-- step, compiled traces included. An error raised there unwinds through the
-- trace, and LuaJIT 2.1 (Debian 12's) then crashes with a segmentation fault
-- instead of raising a Lua error; a finalizer that trades would also run in
-- the middle of another order's matching and delivery. Plain Lua reaches
-- __gc only through newproxy (tables have no __gc in Lua 5.1, and cdata
-- finalizers need the ffi module), so asx-host replaces newproxy with one
-- whose proxies refuse a __gc: the error names newproxy and is raised where
-- the strategy sets it, and every other metamethod works as before.
local M = {}

local real_newproxy = newproxy
local rawset, setmetatable, getmetatable, error, tostring = rawset, setmetatable, getmetatable, error, tostring

local REFUSED = {
  __gc = "finalizers (__gc) are not available in asx-host",
  -- The real metatable must stay hidden, or __gc could be set on it raw.
  __metatable = "the metatable of a proxy cannot be replaced in asx-host",
}

-- getmetatable(proxy) returns this face instead of the real metatable: reads
-- go through to it, writes are checked, and a rawset on the face changes
-- only the face.
local function face_of(mt)
  return setmetatable({}, {
    __index = mt,
    __newindex = function(_, k, v)
      local why = REFUSED[k]
      if why then error(("newproxy: %s (setting %s)"):format(why, tostring(k)), 2) end
      rawset(mt, k, v)
    end,
  })
end

local function safe_newproxy(arg)
  if arg ~= true then return real_newproxy(arg) end
  local u = real_newproxy(true)
  local mt = getmetatable(u)
  mt.__metatable = face_of(mt)
  return u
end

-- Installs the safe newproxy as the global of the running Lua state.
function M.install()
  if real_newproxy then newproxy = safe_newproxy end -- luacheck: ignore 121
end

return M
