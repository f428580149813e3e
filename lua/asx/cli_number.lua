-- asx.cli_number: a number written on the command line (asx-host's -d,
-- --latency, --stuck-warning, --seed, -n, --money, --stocks and --set's
-- VALUE; asx-sweep's --jobs, --chunk and --timeout): one reader and one wording, so that an option never takes a text
-- another refuses, nor reads it as another value.
--
-- A text is a number if tonumber reads it, decimal or hexadecimal, and it
-- is finite (LuaJIT's tonumber reads "inf", "nan" and 1e999 too: they are
-- refused as such, not as "no number"). It must then read back as written: a double holds every
-- integer up to 2^53 but rounds those beyond, and a nonzero value below
-- 4.9e-324 reads as 0, either of which would run with another value than
-- the one the user typed (and the summary records). So an integer must be
-- exact in any spelling (9007199254740993, 9007199254740993.0 and
-- 9.007199254740993e15 would run as 9007199254740992), or written as the
-- fewest digits that read back as its double, the form the summary writes
-- it in (1e23, 1e308: the double nearest is what such a text means); a
-- decimal fraction, which no double holds exactly (0.1), is taken as its
-- nearest. A hexadecimal number holds bits, and must be exact
-- (0x20000000000001 rounds as 9007199254740993 does).
local format_number = require("asx.event").format_number

local M = {}

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

-- text -> the number it is; or nil and why it is no number ("not a finite
-- number", "too large ...", "too small ...", "not exact ..."), a text that
-- reads as one but not as the value written; or nil alone for a text that
-- is no number at all (the caller says what it expected).
function M.read(text)
  local n = tonumber(text)
  if not n then return nil end
  if n ~= n or n == math.huge or n == -math.huge then
    return nil, text:match("%d") and ("too large for a number (it would read as %s)"):format(format_number(n))
      or "not a finite number"
  end
  local why = inexact(text, n)
  if why then return nil, why end
  return n
end

-- The value text of a command-line option flag as a number that fits
-- (fits(n) is true), or nil and the one-line reason, naming the option: a
-- text that reads as another number than the one written in read's words
-- ("--latency 1e-400: too small for a number (it would read as 0)"), one
-- that is no number or does not fit as "FLAG: EXPECTED expected, got
-- 'TEXT'". asx-host's and asx-sweep's options both read so, so that they
-- agree on what is a number. -0 is 0 (as a class's latency = -0.0 is), so
-- that no summary shows -0.
function M.option(flag, text, expected, fits)
  local n, why = M.read(text)
  if why then return nil, ("%s %s: %s"):format(flag, text, why) end
  if n == nil or not fits(n) then return nil, ("%s: %s expected, got '%s'"):format(flag, expected, text) end
  return n == 0 and 0 or n
end

-- A number of seconds, as option reads one, in one wording for both hosts'
-- options: sign is "non-negative" (asx-host's -d, --latency and
-- --stuck-warning, where 0 means something: -d 0 runs the first turns only,
-- --latency 0 none) or "positive" (asx-sweep's --timeout: coreutils' timeout
-- takes 0 as no limit, which a user who typed 0 did not mean).
local SECONDS = {
  ["non-negative"] = function(n) return n >= 0 end,
  positive = function(n) return n > 0 end,
}
function M.seconds(flag, text, sign)
  local fits = SECONDS[sign] or error(("cli_number.seconds: no sign '%s'"):format(tostring(sign)), 2)
  return M.option(flag, text, sign .. " number of seconds", fits)
end

return M
