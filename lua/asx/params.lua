-- asx.params: `--set CLASS.FIELD=VALUE`, which changes a strategy class's
-- field before any agent of it is made (market_maker.spread=4).
--
-- VALUE is read as true or false, else a number, else a string, and must
-- fit the field it replaces: a number field takes only numbers, a boolean
-- field only true or false, a string field any text. Only fields the class
-- has (its own or inherited) can be set, and never methods or tables, so
-- that a misspelt name stops the run instead of being silently ignored.
require("asx")
local P = debug.getregistry()["asx.private"]
local class_name = P.class_name

local cli_number = require("asx.cli_number")

local M = {}

-- "CLASS.FIELD" -> CLASS, FIELD; or nil when key is none. FIELD is a Lua
-- name, after the last dot, so a class named with dots by extend is reached
-- ("my.maker.spread": field spread of class my.maker); CLASS is everything
-- before it but "=", which ends CLASS.FIELD in CLASS.FIELD=VALUE: a class
-- named with one cannot be set.
function M.split(key)
  return key:match("^([^=]+)%.([%a_][%w_]*)$")
end

-- "CLASS.FIELD=VALUE" -> { class =, field =, value =, key = "CLASS.FIELD" },
-- or nil and the reason. CLASS.FIELD ends at the first "=" (VALUE may hold
-- more).
function M.parse(text)
  local key, raw = text:match("^([^=]*)=(.*)$")
  local class, field = M.split(key or "")
  if not class then
    return nil, ("'%s': CLASS.FIELD=VALUE expected"):format(text)
  end
  local value, not_number
  if raw == "true" then
    value = true
  elseif raw == "false" then
    value = false
  else
    -- Read as the command line's other numbers are (asx.cli_number). A
    -- text that is none stays text, for a string field; one that reads as
    -- a number but not as the one written (1e309, nan, 9007199254740993)
    -- too, and a number field says why.
    local n
    n, not_number = cli_number.read(raw)
    value = n or raw
  end
  return { class = class, field = field, value = value, raw = raw, key = class .. "." .. field,
    not_number = not_number }
end

local WANTED = { number = "a number", boolean = "true or false" }

-- Fields whose values are checked where they are set: the same check, so
-- that a bad value stops the run here instead of in every agent.
local FIELD_ERRORS = { latency = require("asx.courier").latency_error }
for k, why in pairs(P.CLASS_READ_ONLY) do
  FIELD_ERRORS[k] = function() return why end
end

-- Sets each parsed setting on the classes named so (class.name); returns
-- true, or nil and the reason, having changed nothing.
function M.apply(settings, classes)
  local targets = {}
  for _, st in ipairs(settings or {}) do
    local found = {}
    for _, cls in ipairs(classes) do
      if class_name(cls) == st.class then found[#found + 1] = cls end
    end
    if not found[1] then
      return nil, ("--set %s: no strategy class named '%s'"):format(st.key .. "=" .. st.raw, st.class)
    end
    for _, cls in ipairs(found) do
      local old = cls[st.field]
      local kind = type(old)
      if old == nil then
        return nil, ("--set %s=%s: class %s has no field '%s'"):format(st.key, st.raw, st.class, st.field)
      elseif kind ~= "number" and kind ~= "boolean" and kind ~= "string" then
        return nil, ("--set %s=%s: field '%s' of %s is a %s, not a setting"):format(st.key, st.raw,
          st.field, st.class, kind)
      end
      local v = st.value
      if kind == "string" then
        v = st.raw
      elseif kind == "number" and st.not_number then
        return nil, ("--set %s=%s: %s"):format(st.key, st.raw, st.not_number)
      elseif type(v) ~= kind then
        return nil, ("--set %s=%s: %s expected"):format(st.key, st.raw, WANTED[kind])
      end
      local bad = FIELD_ERRORS[st.field] and FIELD_ERRORS[st.field](v)
      if bad then return nil, ("--set %s=%s: %s"):format(st.key, st.raw, bad) end
      targets[#targets + 1] = { cls, st.field, v, st }
    end
  end
  for _, t in ipairs(targets) do
    t[1][t[2]] = t[3]
    t[4].value = t[3]
  end
  return true
end

-- { ["CLASS.FIELD"] = value } as the classes received them, for summaries.
function M.as_table(settings)
  local out = {}
  for _, st in ipairs(settings or {}) do out[st.key] = st.value end
  return out
end

return M
