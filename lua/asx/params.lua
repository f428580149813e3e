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

local format_number = require("asx.event").format_number

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
  local value, not_finite
  if raw == "true" then
    value = true
  elseif raw == "false" then
    value = false
  else
    local n = tonumber(raw)
    if n and n == n and n ~= math.huge and n ~= -math.huge and raw:match("^%s*[-+%d.]") then
      value = n
    else
      -- Kept as text, for a string field; a number field says why it is
      -- none: "a number expected" misled for 1e309, which is one.
      value = raw
      if n then
        not_finite = raw:match("%d") and ("too large for a number (it would read as %s)"):format(format_number(n))
          or "not a finite number"
      end
    end
  end
  return { class = class, field = field, value = value, raw = raw, key = class .. "." .. field,
    not_finite = not_finite }
end

local WANTED = { number = "a number", boolean = "true or false" }

-- Why the number n that text raw reads as is not the number written, or
-- nil. A double holds every integer up to 2^53 but rounds those beyond,
-- and a nonzero value below 4.9e-324 reads as 0: either would run a study
-- with another value than the one its --set records. So an integer must be
-- exact in any spelling (9007199254740993, 9007199254740993.0 and
-- 9.007199254740993e15 would run as 9007199254740992), or written as the
-- fewest digits that read back as its double, the form the summary writes
-- it in (1e23, 1e308: the double nearest is what such a text means); a
-- decimal fraction, which no double holds exactly (0.1), is taken as its
-- nearest. A hexadecimal number holds bits, and must be exact
-- (0x20000000000001 rounds as 9007199254740993 does).
local ldexp = math.ldexp

local ROUNDS = "not exact as a number (integers beyond 2^53 round; it would read as %.0f)"
local ZERO = "too small for a number (it would read as 0)"

-- A hexadecimal number holds bits: it is exact when its significant bits
-- fit a double's 53 and survive its exponent (n scaled back gives them).
local function inexact_hex(n, int, frac, exp)
  local digits = (int .. frac):gsub("^0+", "")
  if digits == "" then return nil end
  if n == 0 then return ZERO end
  local shift = (tonumber(exp) or 0) - 4 * #frac
  digits = digits:gsub("0+$", function(z) shift = shift + 4 * #z; return "" end)
  -- Its bits from the first one set to the last: more than 53 round.
  local first, last = tonumber(digits:sub(1, 1), 16), tonumber(digits:sub(-1), 16)
  local bits = 4 * #digits - (first >= 8 and 0 or first >= 4 and 1 or first >= 2 and 2 or 3)
  while last % 2 == 0 do last, bits = last / 2, bits - 1 end
  if bits > 53 or ldexp(math.abs(n), -shift) ~= tonumber(digits, 16) then
    if math.abs(n) >= 2 ^ 53 then return ROUNDS:format(n) end
    return ("not exact as a number (it would read as %s)"):format(format_number(n))
  end
  return nil
end

-- A decimal's significant digits and the power of ten of its last one
-- (1e23: "1", 23; 0.30: "3", -1), or "" for zero; nil for no decimal.
local function decimal(text)
  local int, frac, exp = text:match("^%s*[-+]?(%d*)%.?(%d*)[eE]?([-+]?%d*)%s*$")
  if not int then return nil end
  local shift = (tonumber(exp) or 0) - #frac
  local digits = (int .. frac):gsub("^0+", ""):gsub("0+$", function(z) shift = shift + #z; return "" end)
  return digits, digits == "" and 0 or shift
end

local function inexact(raw, n)
  local int, frac, exp = raw:match("^%s*[-+]?0[xX](%x*)%.?(%x*)[pP]?([-+]?%d*)%s*$")
  if int then return inexact_hex(n, int, frac, exp) end
  local digits, shift = decimal(raw)
  if digits == nil or digits == "" then return nil end
  if n == 0 then return ZERO end
  -- A fraction, or an integer that a double holds whole.
  if shift < 0 or math.abs(n) < 2 ^ 53 then return nil end
  local exact = ("%.0f"):format(math.abs(n))
  if exact == digits .. ("0"):rep(shift) then return nil end
  local short, short_shift = decimal(format_number(math.abs(n)))
  if short == digits and short_shift == shift then return nil end
  return ROUNDS:format(n)
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
      elseif kind == "number" and st.not_finite then
        return nil, ("--set %s=%s: %s"):format(st.key, st.raw, st.not_finite)
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
