-- Tab completion at the prompt: global names (and commands) for a bare
-- word; fields and methods after "." and ":". Lookups are raw and follow only
-- __index tables, never functions: completing a name must not have effects.
local fmt = require("asx.repl.format")

local M = {}

-- Lines typed at the prompt may replace any global, the string library's
-- functions included; the REPL keeps its own references.
local type, pairs = type, pairs
local rawget, getmetatable = rawget, getmetatable
local sort = table.sort
local gmatch, sub, match = string.gmatch, string.sub, string.match
local is_ident, KEYWORDS = fmt.is_ident, fmt.KEYWORDS
local is_trader = require("asx.check").is_trader

-- Strings' metatable shows a face in asx-host (lua/asx/sandbox.lua); their
-- methods are the string library's.
-- An exchange's methods are behind a read-only face (lua/asx/exchange.lua).
local STRINGS = { __index = string }
require("asx")
local EXCHANGES = { __index = debug.getregistry()["asx.private"].exchange_methods }
local is_exchange = require("asx").is_exchange
local function metatable_of(v)
  if type(v) == "string" then return STRINGS end
  if is_exchange(v) then return EXCHANGES end
  return getmetatable(v)
end

local function lookup(v, k)
  local depth = 0
  while type(v) == "table" and depth < 8 do
    local x = rawget(v, k)
    if x ~= nil then return x end
    local mt = metatable_of(v)
    v = type(mt) == "table" and rawget(mt, "__index") or nil
    depth = depth + 1
  end
  return nil
end

-- A trader's methods live on its class, reached through an __index
-- function (id, exchange, money and stocks are virtual); walk the class
-- chain instead (each class's look-ups pass through its latency box on the
-- way to its parent).
local function class_fields(cls, out)
  local depth = 0
  while type(cls) == "table" and depth < 32 do
    for k in pairs(cls) do
      if is_ident(k) and sub(k, 1, 1) ~= "_" then out[k] = true end
    end
    local mt = getmetatable(cls)
    cls = (type(mt) == "table" and type(rawget(mt, "__index")) == "table" and rawget(mt, "__index"))
      or rawget(cls, "super") or nil
    depth = depth + 1
  end
end

local function fields(v, out)
  local private = is_trader(v) and "_" or "__"
  if private == "_" then
    out.id, out.exchange, out.money, out.stocks = true, true, true, true
    class_fields(getmetatable(v), out)
  end
  local depth = 0
  while v ~= nil and depth < 8 do
    if type(v) == "table" then
      for k in pairs(v) do
        if is_ident(k) and sub(k, 1, #private) ~= private then out[k] = true end
      end
    end
    local mt = metatable_of(v)
    local idx = type(mt) == "table" and rawget(mt, "__index")
    v = type(idx) == "table" and idx or nil
    depth = depth + 1
  end
end

-- Returns the candidates for word, each the whole replacement, sorted.
function M.complete(names_of, word)
  local base, sep, prefix = match(word, "^(.-)([.:])([%w_]*)$")
  local names = {}
  if not base then
    if not match(word, "^[%a_]?[%w_]*$") then return {} end
    prefix = word
    fields(_G, names)
    for k in pairs(names_of) do names[k] = true end
    for k in pairs(KEYWORDS) do names[k] = true end
  else
    local v
    for part in gmatch(base .. ".", "(.-)[.:]") do
      if not is_ident(part) then return {} end
      if v == nil then v = names_of[part] or rawget(_G, part) else v = lookup(v, part) end
      if v == nil then return {} end
    end
    fields(v, names)
  end
  local out = {}
  for k in pairs(names) do
    if sub(k, 1, #prefix) == prefix then
      out[#out + 1] = base and base .. sep .. k or k
    end
  end
  sort(out)
  return out
end

return M
