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

local M = {}

-- "CLASS.FIELD=VALUE" -> { class =, field =, value =, key = "CLASS.FIELD" },
-- or nil and the reason.
function M.parse(text)
  local class, field, raw = text:match("^([%w_]+)%.([%a_][%w_]*)=(.*)$")
  if not class then
    return nil, ("'%s': CLASS.FIELD=VALUE expected"):format(text)
  end
  local value
  if raw == "true" then
    value = true
  elseif raw == "false" then
    value = false
  else
    local n = tonumber(raw)
    if n and n == n and n ~= math.huge and n ~= -math.huge and raw:match("^%s*[-+%d.]") then
      value = n
    else
      value = raw
    end
  end
  return { class = class, field = field, value = value, raw = raw, key = class .. "." .. field }
end

local WANTED = { number = "a number", boolean = "true or false" }

-- Why the number n that text raw reads as is not the number written, or
-- nil: a double holds every integer up to 2^53 but rounds those beyond,
-- and a nonzero value below 4.9e-324 reads as 0. Either would run a study
-- with another value than the one its --set records.
local function inexact(raw, n)
  local digits = raw:match("^%s*[-+]?0*(%d+)%s*$")
  if digits and math.abs(n) >= 2 ^ 53 and ("%.0f"):format(math.abs(n)) ~= digits then
    return ("not exact as a number (integers beyond 2^53 round; it would read as %.0f)"):format(n)
  end
  local mantissa = raw:match("^%s*[-+]?([%d.]+)")
  if n == 0 and mantissa and mantissa:find("[1-9]") then
    return "too small for a number (it would read as 0)"
  end
  return nil
end

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
      elseif type(v) ~= kind then
        return nil, ("--set %s=%s: %s expected"):format(st.key, st.raw, WANTED[kind])
      end
      local bad = kind == "number" and inexact(st.raw, v)
        or FIELD_ERRORS[st.field] and FIELD_ERRORS[st.field](v)
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
