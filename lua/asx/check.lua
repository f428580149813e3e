-- asx.check: the one way asx checks arguments and reports a bad one
-- (README.md, "Errors"). A wrong argument raises
--
--   bad argument #1 to 'buy' (positive integer amount up to 2^53 - 1 expected, got -5)
--
-- from the caller's line; an expected outcome is a return value, not an
-- error. Every module of lua/asx checks its arguments with these, so the
-- messages read alike and a bad value is shown the same way everywhere.
local type, error = type, error

local M = {}

M.MAX = 9007199254740991 -- 2^53 - 1: the largest amount, price or balance
local MAX = M.MAX

-- What an integer checked against MAX must be, with the limit, said here
-- once for every message of such a check: a value past it (2^53, which a
-- double holds) was refused as if it were no integer at all ("positive
-- integer amount expected, got 9007199254740992"). sign is "positive" or
-- "non-negative"; noun, if any, says what the integer counts.
function M.integer(sign, noun)
  return ("%s integer%s up to 2^53 - 1"):format(sign, noun and " " .. noun or "")
end
M.COUNT_EXPECTED = M.integer("positive", "count") .. " expected" -- spawn's agents, trades(n)
M.AMOUNT_EXPECTED = M.integer("positive", "amount") .. " expected"
M.PRICE_EXPECTED = M.integer("positive", "price") .. " expected"
M.DEPTH_EXPECTED = M.integer("positive", "depth") .. " expected"
M.BALANCE_EXPECTED = M.integer("non-negative") .. " expected" -- money, stocks, a seed

-- How a bad value appears in a message: a number as the files write it
-- (asx_fmt_double: integers in full, others in the fewest digits that read
-- back as the same number, 0.1 as 0.1; nan and inf by name), anything else
-- as its type, since a string or table may be long, or hold the secret
-- being checked.
function M.show(v)
  if type(v) == "number" then return require("asx.event").format_number(v) end
  return type(v)
end
local show = M.show

-- An error value as text for a message, whatever it is (user code may
-- raise anything): a string as it is, a number as the files write it, what
-- its own __tostring gives, else "(error object is a table value)" (its
-- type), never tostring's address. The C reports (an agent's error, a
-- failed tick) say the same from the same function (asx__lua_error_text in
-- src/asx_lua_core.c), so the wording is in one place.
M.error_text = require("asx.core").error_text

-- Raises "bad argument #n to 'fname' (expected, got text)". level counts as
-- error's does, from the function that calls bad_argument: 2, the default,
-- blames the line that called that function, the user's line for an API
-- call that checks its own arguments. text is shown as given: for a word
-- the user chose (an event type named twice), where the word itself says
-- what is wrong.
function M.bad_argument(n, fname, expected, text, level)
  error(("bad argument #%d to '%s' (%s, got %s)"):format(n, fname, expected, text), (level or 2) + 1)
end

-- The same for a value v, shown as show(v); expected ends in "expected"
-- (check.AMOUNT_EXPECTED).
function M.argerror(n, fname, expected, v, level)
  M.bad_argument(n, fname, expected, show(v), (level or 2) + 1)
end

-- A method called on something other than its object (a dot for a colon:
-- t.buy(5, 100)) names itself and the type it got.
function M.self_error(fname, what, v, level)
  error(("bad argument #1 to '%s' (%s expected, got %s)"):format(fname, what, type(v)), (level or 2) + 1)
end

-- Raises, naming fname and argument n, for a key of the options table opts
-- that is none of known's (a list, in the order the message gives them): a
-- misspelt option was ignored, with no word (asx.session{ clok = "virtual" }
-- ran on the real clock; loggers.csv(path, { apend = true }) wrote over the
-- file). The key, the word the caller chose, is shown quoted. Keys are read
-- with next, which LuaJIT's pairs bug (see the README) does not touch.
function M.options(opts, known, fname, n, level)
  local k = next(opts)
  while k ~= nil do
    local found = false
    for i = 1, #known do found = found or known[i] == k end
    if not found then
      error(("bad argument #%d to '%s' (unknown option %s: %s or %s expected)"):format(n, fname,
        type(k) == "string" and ("%q"):format(k) or type(k), table.concat(known, ", ", 1, #known - 1),
        known[#known]), (level or 2) + 1)
    end
    k = next(opts, k)
  end
end

-- NaN fails v >= 1 and infinity fails v <= MAX, so one test covers both.
-- An amount, a price, a depth: a positive integer up to 2^53 - 1.
function M.is_count(v)
  return type(v) == "number" and v >= 1 and v <= MAX and v % 1 == 0
end

-- A trader's money or stocks: a non-negative integer up to 2^53 - 1.
function M.is_balance(v)
  return type(v) == "number" and v >= 0 and v <= MAX and v % 1 == 0
end

-- A number that is neither NaN nor infinite.
function M.is_finite(v)
  return type(v) == "number" and v == v and v ~= 1 / 0 and v ~= -1 / 0
end

-- A trader made by Class:new: what has an account on the exchange module,
-- which keeps the accounts (and requires this module, hence the late look-up).
function M.is_trader(v)
  return require("asx").is_trader(v)
end

return M
