-- The state asx's own modules share and Lua code must not reach: what the C
-- core relies on, keyed weakly by the Lua objects, and the internal functions
-- that take it on trust. It lives in the Lua registry, under "asx.private",
-- so that plain Lua code (without the debug library) can neither read nor
-- write it, rawset and setmetatable included. require("asx.private") makes
-- it and returns nothing of it: asx's modules read it from the registry.
--
-- No value may lead back to its key: LuaJIT's weak tables are not
-- ephemerons, so such an entry would never be collected.
local registry = debug.getregistry()
if registry["asx.private"] then return true end

local function weak(mode) return setmetatable({}, { __mode = mode }) end

-- The built-in loggers' consume_events, the only ones given the book's raw
-- event records (lua/asx/loggers adds them). They are listed in the registry
-- so that no Lua code can add a function of its own. The value is true, or
-- for one that can take them in C, in batches, a function of the logger
-- that returns the book's sink for it (lua/asx/exchange.lua).
registry["asx.native_consumers"] = weak("k")

-- A trader's C account and its exchange are kept in the trader's own table,
-- under these keys, rather than in tables keyed by the traders: a trader's
-- calls find them in the lines of the trader they read anyway, where a
-- table keyed by a million traders costs a cache miss per call (and a weak
-- one, work for the collector over all its keys). The keys are functions
-- that only asx holds, so no field of the user's can clash with them:
-- functions, because compiled code takes a function held in a variable
-- that is never assigned again as a constant, and finds a constant key at
-- the slot of the table's hash part it saw when it compiled (a table or a
-- light userdata key is hashed again on every look-up). pairs(t) lists
-- them, and the account it shows is read-only (lua/asx/ffi.lua). The exchange is
-- there only so that a trader keeps it alive: it is found by the number its
-- account carries (acct.tag, exchange_at).
local function ACCOUNT() end
local function EXCHANGE() end

registry["asx.private"] = {
  ACCOUNT = ACCOUNT,
  EXCHANGE = EXCHANGE,
  -- exchange -> its private state (book, anchors, ...), which the exchange
  -- itself keeps alive (lua/asx/exchange.lua)
  state_of = weak("kv"),
  -- exchange -> true once lua_close freed its books (lua/asx/exchange.lua,
  -- book_finalizer): its methods say so rather than "exchange expected"
  gone = weak("k"),
  classes = weak("k"),     -- Trader and its subclasses
  owners = weak("v"),      -- trader id -> trader, so an order can name its owner without keeping it
  -- trader -> { [instrument name] = stocks } asked for by asx.trader{ stocks = { ... } }, until
  -- the trader joins its exchange and its account gets them.
  wanted_positions = weak("k"),
  native_consumers = registry["asx.native_consumers"],
  -- Set by the modules that define them (lua/asx/order.lua, exchange.lua,
  -- queries.lua): order_t, the exchange's deliver and cancel, and its
  -- queries' exchange_state, book_of, orderbook, last_price and methods.
}

local P = registry["asx.private"]

-- The account of t when t is a trader (made by Class:new), else nil.
-- Compiled code checks the key and the value's type and reads on.
local ffi = require("ffi")
require("asx.ffi")
local account_t, istype, type, rawget = ffi.typeof("asx_account"), ffi.istype, type, rawget
local function account_of(t)
  if type(t) ~= "table" then return nil end
  local acct = rawget(t, ACCOUNT)
  if istype(account_t, acct) then return acct end
  return nil
end
P.account_of = account_of

-- Every exchange's state and the exchange itself by a number of its own,
-- which the accounts of its traders carry (asx_account.tag, 0 for none), so
-- that a trader's calls find them with an array index. Weak: a trader keeps
-- its exchange (under EXCHANGE), and so its state, alive.
local state_at = weak("v")
local exchange_at = weak("v")
P.state_at, P.exchange_at = state_at, exchange_at

-- The session id an exchange's events carry, or nil: the one its
-- __newindex checked (a string or a number) and keeps in its own fields,
-- st.fields (lua/asx/exchange.lua), never a field that rawset put in the
-- exchange's table, which ex.session_id would read (rawset(ex,
-- "session_id", {}) was written as "table: 0x..." by the loggers' own
-- fields). Every writer of the id reads it here, so that the book's events,
-- ex:emit, the fills and the loggers write the same id. session_id takes
-- anything, and gives nil for what is no exchange.
local function session_of(st) return rawget(st.fields, "session_id") end
P.session_of = session_of
function P.session_id(ex)
  local st = P.state_of[ex]
  return st and session_of(st)
end

-- What asx's Lua code uses at all, so that the paths of an order cost one
-- test more where nobody does: set on the first trader or class that has a
-- `latency` or an `on_fill` (lua/asx/trader.lua), or a session with a
-- default latency; `any` when either is. Set through P.note_used
-- (lua/asx/trader.lua), which the order path's copy of `any` follows.
P.used = { latency = false, on_fill = false, any = false }
-- Every registered account by its id, weakly: an order finds its account,
-- and so whether its exchange still lives (lua/asx/order.lua).
P.account_at = weak("v")

-- The instrument names of each trader's exchange, by trader id, so that an
-- order (which holds its trader's id and its instrument's number, no more)
-- names its instrument after its trader and its exchange are collected.
-- Exchanges with the same instruments share one list of names (interned:
-- as many kept as there are distinct lists); each id's list number is in C
-- arrays of 4,096, which the collector never walks and which grow a chunk
-- at a time (a doubling array would jump by megabytes at a million ids).
local bit = require("bit")
local rshift, band = bit.rshift, bit.band
local name_lists, list_no, id_lists = {}, {}, {}
local chunk_t = ffi.typeof("uint32_t[4096]")

-- The shared list equal to names ({ [0] = name, ... }), and its number.
function P.intern_names(names, n)
  local key = table.concat(names, ",", 0, n - 1)
  local no = list_no[key]
  if no == nil then
    no = #name_lists + 1
    name_lists[no], list_no[key] = names, no
  end
  return name_lists[no], no
end

-- Records that trader id's exchange has the names of list number no.
function P.set_names(id, no)
  local hi = rshift(id, 12)
  local chunk = id_lists[hi]
  if chunk == nil then chunk = chunk_t(); id_lists[hi] = chunk end
  chunk[band(id, 4095)] = no
end

-- The name of instrument i of trader id's exchange (nil for an id never
-- registered).
function P.instrument_name(id, i)
  local chunk = id_lists[rshift(id, 12)]
  local names = chunk and name_lists[chunk[band(id, 4095)]]
  return names and names[i]
end

-- The exchange of trader t, or nil (t is no trader, or has none).
function P.exchange_of(t)
  local acct = account_of(t)
  return acct and exchange_at[acct.tag]
end

-- The account of trader self, for its method fname, called from the method
-- itself: the error names the method and the caller's line.
local self_error = require("asx.check").self_error
function P.trader_account(self, fname)
  local acct = account_of(self)
  if not acct then self_error(fname, "trader", self, 3) end
  return acct
end
return true
