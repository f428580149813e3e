-- require "asx": the exchange, its traders and their orders.
--
-- The book, the accounts and the matching live in C (src/asx_book.c); this
-- file checks arguments, keeps the Lua objects alive while C points at them,
-- and delivers the book's events to loggers after each call.
--
-- Error convention (README.md, "Errors"): a wrong argument raises a Lua error
-- naming the function and the argument and changes nothing; an expected
-- market outcome (nothing to cancel) returns false.
-- The FFI types and their metatypes exist once per Lua state, so this module
-- does too: a second load (a test runner that clears package.loaded) gets
-- the first one back rather than a copy with its own trader ids.
local registry = debug.getregistry()
if registry["asx.module"] then return registry["asx.module"] end

local F = require("asx.ffi")
local event = require("asx.event")
local ffi, C = F.ffi, F.C

local MAX = require("asx.check").MAX
local type, tostring, tonumber, rawset = type, tostring, tonumber, rawset
local setmetatable, error, pcall = setmetatable, error, pcall


local asx = { MAX_QTY = MAX, _VERSION = "0.1.0" }

local order_t = ffi.typeof("asx_order")
local account_t = ffi.typeof("asx_account")
local istype = ffi.istype

-- The core's enums, as locals for the paths that run per order.
local BUY, SELL, OPEN = C.ASX_BUY, C.ASX_SELL, C.ASX_OPEN

local SIDES = { [BUY] = "buy", [SELL] = "sell" }
local STATUS = { [C.ASX_OPEN] = "open", [C.ASX_FILLED] = "filled", [C.ASX_CANCELLED] = "cancelled",
  [C.ASX_NEW] = "new" }
local EVENT_TYPES = event.NAMES

-- Traders by id, weakly, so an order can name its owner without keeping it.
local owners = setmetatable({}, { __mode = "v" })
local next_trader_id = 0

-- What C relies on lives here, keyed weakly by the Lua objects, out of reach
-- of Lua code (rawset and setmetatable included): a trader's account and
-- exchange, and an exchange's book with the objects the book points at. No
-- value may lead back to its key: LuaJIT's weak tables are not ephemerons,
-- so such an entry would never be collected.
local account_of = setmetatable({}, { __mode = "k" })  -- trader -> asx_account
local exchange_of = setmetatable({}, { __mode = "k" }) -- trader -> exchange, for life
local state_of = setmetatable({}, { __mode = "k" })    -- exchange -> its private state
local classes = setmetatable({}, { __mode = "k" })     -- Trader and its subclasses

-- The built-in loggers' consume_events, the only ones given the book's raw
-- event records (lua/asx/loggers adds them). It is reached through the
-- registry so that no Lua code can add a function of its own.
local native_consumers = setmetatable({}, { __mode = "k" })
registry["asx.native_consumers"] = native_consumers

-- Argument checks --------------------------------------------------------

local check = require("asx.check")
local argerror, self_error, show = check.argerror, check.self_error, check.show
local is_count, is_balance = check.is_count, check.is_balance

-- The private state of self for a method named fname, called from the
-- method itself.
local function exchange_state(self, fname)
  local st = state_of[self]
  if not st then self_error(fname, "exchange", self, 3) end
  return st
end

local function trader_account(self, fname)
  local acct = account_of[self]
  if not acct then self_error(fname, "trader", self, 3) end
  return acct
end

-- Orders -------------------------------------------------------------------

local order_getters = {
  id = function(o) return tonumber(o.id_) end,
  side = function(o) return SIDES[o.side_] end,
  price = function(o)
    local p = o.price_
    if p == 0 then return nil end
    return tonumber(p)
  end,
  amount = function(o) return tonumber(o.amount_) end,
  filled = function(o) return tonumber(o.filled_) end,
  status = function(o) return STATUS[o.status_] end,
  owner = function(o) return owners[o.trader_] end,
  trader = function(o) return o.trader_ end,
}

ffi.metatype(order_t, {
  __index = function(o, k)
    local get = order_getters[k]
    if get then return get(o) end
    return nil
  end,
  __newindex = function(_, k)
    error(("order field '%s' is read-only"):format(tostring(k)), 2)
  end,
  __tostring = function(o)
    local p = o.price_
    return ("order#%d(%s %d @ %s, filled %d, %s)"):format(tonumber(o.id_), SIDES[o.side_],
      tonumber(o.amount_), p == 0 and "market" or tostring(tonumber(p)), tonumber(o.filled_),
      STATUS[o.status_])
  end,
})

-- Exchange -------------------------------------------------------------------

local Exchange = {}
Exchange.__index = Exchange
asx.Exchange = Exchange

local count_out = ffi.new("size_t[1]")

-- A book record as the Lua message loggers' send_event gets (asx.event).
local event_message = event.message

-- Loggers are user code, called from inside the call that caused the event
-- (an agent's buy, on the agent's coroutine). core.guard (src/asx_lua_guard.c)
-- calls a logger's method through a boundary that no yield crosses and
-- returns false, the error and the logger's own traceback when it raises, so
-- that whatever a logger does, the delivery completes and the exchange
-- leaves its delivering state.
local guard = F.core.guard

-- Only asx's own consume_events (native_consumers) are handed the book's
-- records, as they were when the logger was added: they never yield, so they
-- are called through a plain pcall, which compiled code runs without leaving
-- the trace, where guard costs a trip through C per delivery.

-- Records a logger's failure during a delivery. Without a handler (the
-- library's default) the logger keeps getting the later events and the first
-- error is raised to the caller once all are delivered. With
-- ex:on_logger_error(fn) the logger is detached at once and fn hears of it
-- when the delivery is over; the caller never sees the error.
local function logger_failed(ex, failed, L, err, tb, at)
  failed = failed or {}
  if type(err) == "string" then
    err = err:gsub("attempt to yield across C%-call boundary",
      "a logger must not yield (coroutine.yield or sleep inside a logger)", 1)
  end
  if ex._on_logger_error then
    ex:remove_logger(L)
    failed[L] = true
    failed[#failed + 1] = { L, err, tb, at }
  elseif not failed.raise then
    failed.raise, failed.err = true, err
  end
  return failed
end

local function report_failures(ex, failed)
  if failed.raise then error(failed.err, 0) end
  local handler = ex._on_logger_error
  for i = 1, #failed do
    local f = failed[i]
    handler(ex, f[1], f[2], f[3], f[4])
  end
end

-- Delivers the events of the call that just matched, in order, to every
-- logger, then clears them; the book stands whatever the loggers do. Events
-- are numbered from 1 per exchange (ex.events counts them), so that a
-- detached logger's missed events can be counted from the one it failed on.
local function deliver(ex)
  local st = state_of[ex]
  local evs = C.asx_book_events(st.book, count_out)
  local n = tonumber(count_out[0])
  if n == 0 then return end
  local loggers, native = ex.loggers, st.native
  local first = ex.events + 1
  ex.events = ex.events + n
  local failed
  st.delivering = true
  for j = 1, #loggers do
    local L = loggers[j]
    local consume = native[L]
    if consume then
      local ok, err = pcall(consume, L, evs, n, ex)
      if not ok then failed = logger_failed(ex, failed, L, err, nil, first) end
    end
  end
  if ex._lua_loggers > 0 then
    for i = 0, n - 1 do
      local e = evs[i]
      local m = event_message(e, ex.session_id)
      local name = EVENT_TYPES[e.type]
      for j = 1, #loggers do
        local L = loggers[j]
        if not native[L] and not (failed and failed[L]) then
          local ok, err, tb = guard(L, "send_event", name, m)
          if not ok then failed = logger_failed(ex, failed, L, err, tb, first + i) end
        end
      end
    end
  end
  C.asx_book_clear_events(st.book)
  st.delivering = false
  if failed then report_failures(ex, failed) end
end

local function check_logger(L, fname, n)
  if (type(L) ~= "table" and type(L) ~= "userdata" and type(L) ~= "cdata")
      or (type(L.send_event) ~= "function" and not native_consumers[L.consume_events]) then
    argerror(n or 1, fname, "logger with a send_event method expected", L, 3)
  end
end

function asx.exchange(opts)
  if opts ~= nil and type(opts) ~= "table" then
    argerror(1, "exchange", "table of options expected", opts)
  end
  opts = opts or {}
  local loggers = {}
  if opts.logger ~= nil then
    check_logger(opts.logger, "exchange")
    loggers[1] = opts.logger
  end
  if opts.loggers ~= nil then
    if type(opts.loggers) ~= "table" then
      argerror(1, "exchange", "loggers: array of loggers expected", opts.loggers)
    end
    for i = 1, #opts.loggers do
      check_logger(opts.loggers[i], "exchange")
      loggers[#loggers + 1] = opts.loggers[i]
    end
  end

  local book = C.asx_book_new()
  if book == nil then error("exchange: out of memory", 2) end
  -- C points at the orders resting in the book and at their accounts: each
  -- is kept here, at its order's slot, until another order takes the slot.
  -- The finalizer holds these tables too, so they outlive asx_book_free,
  -- which marks the orders cancelled.
  local anchors, accounts = {}, {}
  book = ffi.gc(book, function(b)
    local _ = anchors
    _ = accounts
    C.asx_book_free(b)
  end)
  -- Traders are listed weakly: a trader keeps its exchange alive, not the
  -- other way round (see account_of).
  local ex = setmetatable({
    traders = setmetatable({}, { __mode = "v" }), loggers = {}, events = 0,
    -- Loggers with send_event, as they were when added.
    _sends = {}, _lua_loggers = 0,
  }, Exchange)
  -- The loggers that take the book's records are here, with the function
  -- that does, as it was when they were added.
  state_of[ex] = { book = book, anchors = anchors, accounts = accounts, native = {},
    delivering = false }
  for i = 1, #loggers do ex:add_logger(loggers[i]) end
  return ex
end

-- True when v is an exchange made by asx.exchange.
function asx.is_exchange(v)
  return state_of[v] ~= nil
end

-- The book of an exchange, for code that calls the C core itself (tests
-- that check the book's invariants); holding it keeps the book alive.
function asx._book(ex)
  local st = state_of[ex]
  if not st then self_error("_book", "exchange", ex, 2) end
  return st.book
end

-- A session's scheduler drives the book's clock (asx_book_set_clock): the
-- book reads the time of the scheduler's last wake-up through the FFI, and
-- the exchange holds the scheduler as long as the book reads it. nil stops
-- the clock, the book keeping the time it had.
function asx._set_clock(ex, sched)
  local st = exchange_state(ex, "_set_clock")
  if sched == nil then
    C.asx_book_set_clock(st.book, nil, nil)
  elseif debug.getmetatable(sched) ~= registry["asx.scheduler"] then
    argerror(2, "_set_clock", "scheduler expected", sched)
  else
    C.asx_book_set_clock(st.book, C.asx_sched_clock_time, sched:clock_source())
  end
  st.clock_owner = sched
end

function Exchange:add_logger(L)
  local st = exchange_state(self, "add_logger")
  check_logger(L, "add_logger")
  local loggers = self.loggers
  for i = 1, #loggers do
    if loggers[i] == L then return end
  end
  loggers[#loggers + 1] = L
  local consume = L.consume_events
  if native_consumers[consume] then
    st.native[L] = consume
  else
    self._lua_loggers = self._lua_loggers + 1
  end
  if type(L.send_event) == "function" then self._sends[L] = true end
  C.asx_book_record_events(st.book, 1)
end

-- Detaches a logger; false when it was not attached. The loggers array is
-- replaced, not edited, so a delivery under way goes on over the old one.
function Exchange:remove_logger(L)
  local st = exchange_state(self, "remove_logger")
  local old, new, found = self.loggers, {}, false
  for i = 1, #old do
    if old[i] == L then found = true else new[#new + 1] = old[i] end
  end
  if not found then return false end
  self.loggers = new
  if st.native[L] then st.native[L] = nil else self._lua_loggers = self._lua_loggers - 1 end
  self._sends[L] = nil
  if not new[1] then C.asx_book_record_events(st.book, 0) end
  return true
end

-- Ends a delivery that cannot complete: the agent it ran in was suspended
-- inside a logger (only one of asx's own could be, its class altered to
-- yield) and has been stopped.
function Exchange:_abandon_delivery()
  local st = exchange_state(self, "_abandon_delivery")
  C.asx_book_clear_events(st.book)
  st.delivering = false
end

-- True while the exchange delivers events to its loggers (when trading
-- raises).
function Exchange:delivering()
  return exchange_state(self, "delivering").delivering
end

-- fn(ex, logger, err, traceback, event) is called after a delivery in which
-- a logger raised (or yielded); the logger is detached first and the call
-- that caused the event returns normally. event is the number (ex.events)
-- of the first event the logger did not take. nil restores the default:
-- the error is raised to that call and the logger stays.
function Exchange:on_logger_error(fn)
  exchange_state(self, "on_logger_error")
  if fn ~= nil and type(fn) ~= "function" then argerror(1, "on_logger_error", "function or nil expected", fn) end
  local previous = self._on_logger_error
  self._on_logger_error = fn
  return previous
end

-- Sends an event that is not the book's (an agent's, the session's) to every
-- logger that has send_event, with the time and session filled in. A logger
-- that raises is handled as in a delivery of the book's events.
function Exchange:emit(event_type, message)
  local st = exchange_state(self, "emit")
  if type(event_type) ~= "string" then argerror(1, "emit", "event type string expected", event_type) end
  if type(message) ~= "table" then argerror(2, "emit", "message table expected", message) end
  if message.time == nil then message.time = C.asx_book_time(st.book) end
  if message.session == nil then message.session = self.session_id end
  local loggers, sends = self.loggers, self._sends
  local at = self.events + 1
  self.events = at
  -- An emitted event is delivered like the book's: a logger must not trade
  -- from it either.
  local was_delivering = st.delivering
  local failed
  st.delivering = true
  for j = 1, #loggers do
    local L = loggers[j]
    if sends[L] then
      local ok, err, tb = guard(L, "send_event", event_type, message)
      if not ok then failed = logger_failed(self, failed, L, err, tb, at) end
    end
  end
  st.delivering = was_delivering
  if failed then report_failures(self, failed) end
end

function Exchange:set_time(t)
  local st = exchange_state(self, "set_time")
  if type(t) ~= "number" or t ~= t or t < 0 or t == 1 / 0 then
    argerror(1, "set_time", "non-negative number expected", t)
  end
  C.asx_book_set_time(st.book, t)
end

function Exchange:time()
  return C.asx_book_time(exchange_state(self, "time").book)
end

-- A trader belongs to the first exchange it is registered with, for life:
-- its account's orders can rest in that book only.
function Exchange:register(t)
  exchange_state(self, "register")
  local acct = account_of[t]
  if not acct then argerror(1, "register", "trader expected", t) end
  local current = exchange_of[t]
  if current == self then return t end
  if current ~= nil then
    error(("register: %s is already registered with another exchange"):format(tostring(t)), 2)
  end
  exchange_of[t] = self
  self.traders[acct.id] = t
  return t
end

local function orderbook(book, depth, fname)
  if depth ~= nil and not is_count(depth) then
    argerror(1, fname, "positive integer depth expected", depth, 3)
  end
  local result = {}
  for s = 0, 1 do
    local n = tonumber(C.asx_book_levels(book, s))
    if depth and depth < n then n = depth end
    local levels = {}
    if n > 0 then
      local prices = ffi.new("int64_t[?]", n)
      local amounts = ffi.new("int64_t[?]", n)
      local got = tonumber(C.asx_book_depth(book, s, prices, amounts, nil, n))
      for i = 0, got - 1 do
        levels[tonumber(prices[i])] = tonumber(amounts[i])
      end
    end
    result[s + 1] = levels
  end
  return result[1], result[2]
end

function Exchange:orderbook(depth)
  return orderbook(exchange_state(self, "orderbook").book, depth, "orderbook")
end

-- The non-empty levels of one side from the best price outwards, as an
-- array of { price =, amount =, orders = } (for displays, which need order).
function Exchange:depth(side, depth)
  local book = exchange_state(self, "depth").book
  local s = side == "buy" and 0 or side == "sell" and 1 or nil
  if not s then argerror(1, "depth", "'buy' or 'sell' expected", side) end
  if depth ~= nil and not is_count(depth) then
    argerror(2, "depth", "positive integer depth expected", depth)
  end
  local n = tonumber(C.asx_book_levels(book, s))
  if depth and depth < n then n = depth end
  local out = {}
  if n == 0 then return out end
  local prices = ffi.new("int64_t[?]", n)
  local amounts = ffi.new("int64_t[?]", n)
  local counts = ffi.new("uint32_t[?]", n)
  local got = tonumber(C.asx_book_depth(book, s, prices, amounts, counts, n))
  for i = 0, got - 1 do
    out[i + 1] = { price = tonumber(prices[i]), amount = tonumber(amounts[i]), orders = counts[i] }
  end
  return out
end

function Exchange:best_bid()
  local p = C.asx_book_best_bid(exchange_state(self, "best_bid").book)
  if p == 0 then return nil end
  return tonumber(p)
end

function Exchange:best_ask()
  local p = C.asx_book_best_ask(exchange_state(self, "best_ask").book)
  if p == 0 then return nil end
  return tonumber(p)
end

function Exchange:level(side, price)
  local st = exchange_state(self, "level")
  local s = side == "buy" and 0 or side == "sell" and 1 or nil
  if not s then argerror(1, "level", "'buy' or 'sell' expected", side) end
  if not is_count(price) then argerror(2, "level", "positive integer price expected", price) end
  local anchors = st.anchors
  local out, n = {}, 0
  local o = C.asx_book_level_first(st.book, s, price)
  while o ~= nil do
    n = n + 1
    out[n] = anchors[o.slot_]
    o = C.asx_order_next(o)
  end
  return out
end

-- Cancels o when it rests in this exchange's book (the book checks it, so an
-- order of another exchange, live or collected, is simply not resting here).
local function cancel(ex, st, o, fname)
  if st.delivering then error(fname .. ": a logger must not trade", 3) end
  local ok = C.asx_book_cancel(st.book, o) == 1
  if ok and ex.loggers[1] then deliver(ex) end
  return ok
end

function Exchange:cancel(o)
  local st = exchange_state(self, "cancel")
  if not istype(order_t, o) then argerror(1, "cancel", "order expected", o) end
  return cancel(self, st, o, "cancel")
end

local function last_price(book)
  local s = C.asx_book_stats(book)
  if s.trades == 0 then return nil end
  return tonumber(s.last)
end

-- The figures the book keeps, as a table.
function Exchange:stats()
  local book = exchange_state(self, "stats").book
  local s = C.asx_book_stats(book)
  return {
    orders = tonumber(s.orders), cancels = tonumber(s.cancels), trades = tonumber(s.trades),
    volume = C.asx_u128_double(s.volume), notional = C.asx_u128_double(s.notional),
    open = s.trades > 0 and tonumber(s.open) or nil, high = s.trades > 0 and tonumber(s.high) or nil,
    low = s.trades > 0 and tonumber(s.low) or nil, last = s.trades > 0 and tonumber(s.last) or nil,
    resting = tonumber(C.asx_book_resting(book)),
  }
end

function Exchange:last_price()
  return last_price(exchange_state(self, "last_price").book)
end

function Exchange:__tostring()
  local book = exchange_state(self, "tostring").book
  local bid, ask = C.asx_book_best_bid(book), C.asx_book_best_ask(book)
  return ("exchange(bid %s, ask %s, %d resting)"):format(bid == 0 and "nil" or tostring(tonumber(bid)),
    ask == 0 and "nil" or tostring(tonumber(ask)), tonumber(C.asx_book_resting(book)))
end

-- Traders ----------------------------------------------------------------------

-- A trader is a table of the user's own fields; its id, money and stocks live
-- in its C account and its exchange in exchange_of, read through the class's
-- __index. money and stocks are written through __newindex, so every write is
-- checked; id and exchange are read-only.
local virtual = {
  id = function(acct) return acct.id end,
  money = function(acct) return tonumber(acct.money) end,
  stocks = function(acct) return tonumber(acct.stocks) end,
}

local READ_ONLY = {
  id = "trader field 'id' is read-only",
  exchange = "trader field 'exchange' is read-only (a trader joins an exchange with ex:register(trader), for life)",
}

local function set_balance(t, k, v)
  local acct = account_of[t]
  if not acct then error(("bad value for '%s' (%s is not a trader)"):format(k, tostring(t)), 3) end
  if not is_balance(v) then
    error(("bad value for '%s' (non-negative integer expected, got %s)"):format(k, show(v)), 3)
  end
  if k == "money" then acct.money = v else acct.stocks = v end
end

local Trader = { name = "trader" }
asx.Trader = Trader

local function make_class(cls)
  cls.__index = function(t, k)
    local get = virtual[k]
    if get then
      local acct = account_of[t]
      return acct and get(acct)
    end
    if k == "exchange" then return exchange_of[t] end
    return cls[k]
  end
  cls.__newindex = function(t, k, v)
    if virtual[k] and k ~= "id" then
      set_balance(t, k, v)
      return
    end
    if READ_ONLY[k] then error(READ_ONLY[k], 2) end
    rawset(t, k, v)
  end
  cls.__tostring = function(t)
    local acct = account_of[t]
    return ("%s#%s"):format(tostring(cls.name), acct and acct.id or "?")
  end
  classes[cls] = true
  return cls
end
make_class(Trader)

-- Returns a subclass; its instances come from Cls:new(opts).
function Trader:extend(name)
  if not classes[self] then
    error("extend: call it on a class, as Class:extend(name)", 2)
  end
  if type(name) ~= "string" or name == "" then
    argerror(1, "extend", "non-empty class name expected", name)
  end
  local cls = make_class(setmetatable({ name = name, super = self }, { __index = self }))
  return cls
end

-- True when cls is Trader or one of its subclasses.
function asx.is_trader_class(cls)
  return classes[cls] == true
end

-- True when v is a trader made by Class:new.
function asx.is_trader(v)
  return account_of[v] ~= nil
end

local RESERVED = { money = true, stocks = true, exchange = true, id = true }

function Trader:new(opts)
  if not classes[self] then
    error("new: call it on a class, as Class:new(opts)", 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    argerror(1, "new", "table of options expected", opts)
  end
  opts = opts or {}
  local money = opts.money == nil and 0 or opts.money
  local stocks = opts.stocks == nil and 0 or opts.stocks
  if not is_balance(money) then argerror(1, "new", "money: non-negative integer expected", money) end
  if not is_balance(stocks) then argerror(1, "new", "stocks: non-negative integer expected", stocks) end
  local ex = opts.exchange
  if ex ~= nil and not state_of[ex] then
    argerror(1, "new", "exchange: exchange expected", ex)
  end

  -- Trader ids are the accounts' uint32_t ids; past them, ids would repeat.
  if next_trader_id == 0xFFFFFFFF then
    error("new: no trader ids left (a process makes at most 2^32 - 1 traders)", 2)
  end
  next_trader_id = next_trader_id + 1
  local acct = account_t()
  acct.id = next_trader_id
  acct.money = money
  acct.stocks = stocks
  local t = {}
  for k, v in pairs(opts) do
    if not RESERVED[k] then t[k] = v end
  end
  setmetatable(t, self)
  account_of[t] = acct
  owners[next_trader_id] = t
  if ex then ex:register(t) end
  return t
end

function asx.trader(opts)
  return Trader.new(Trader, opts)
end

-- The exchange of a trader, with its private state; raises when it has none.
local function trader_exchange(self, fname)
  local ex = exchange_of[self]
  if ex == nil then
    error(("%s: %s has no exchange (register it with ex:register(trader))"):format(fname, tostring(self)), 4)
  end
  return ex, state_of[ex]
end

local function place(self, side, fname, amount, price)
  local acct = account_of[self]
  if not acct then self_error(fname, "trader", self, 2) end
  if not is_count(amount) then
    argerror(1, fname, "positive integer amount expected", amount, 2)
  end
  if price == nil then
    price = 0
  elseif not is_count(price) then
    argerror(2, fname, "positive integer price expected", price, 2)
  elseif price * amount > MAX then
    error(("bad argument #2 to '%s' (price × amount must not exceed 2^53 - 1, got %s × %s)")
      :format(fname, show(price), show(amount)), 3)
  end
  local ex, st = trader_exchange(self, fname)
  if st.delivering then error(fname .. ": a logger must not trade", 3) end
  -- The order is matched in the exchange's spare order, which becomes the
  -- returned order only when it rests (the book then points at it, and a new
  -- spare is made on the next call). An order that ends at once is returned
  -- as a copy, which LuaJIT does not even allocate when the caller drops it.
  -- The spare never rests, so a submit never overwrites an order in the book.
  local o = st.spare
  if o == nil then
    o = order_t()
    st.spare = o
  end
  if C.asx_book_submit(st.book, o, acct, side, price, amount) == C.ASX_E_OVERFLOW then
    local total = tonumber(C.asx_book_level_amount(st.book, side, price))
    argerror(1, fname, ("amount at most %s expected: the level at price %s holds %s of at most 2^53 - 1")
      :format(show(MAX - total), show(price), show(total)), amount, 2)
  end
  if o.status_ == OPEN then
    local slot = o.slot_
    st.anchors[slot] = o
    st.accounts[slot] = acct
    st.spare = nil
  else
    o = order_t(o.id_, o.price_, o.amount_, o.filled_, o.trader_, o.side_, o.status_)
  end
  if ex.loggers[1] then deliver(ex) end
  return o
end

function Trader:buy(amount, price)
  return place(self, BUY, "buy", amount, price)
end

function Trader:sell(amount, price)
  return place(self, SELL, "sell", amount, price)
end

function Trader:cancel(o)
  local acct = trader_account(self, "cancel")
  if not istype(order_t, o) then argerror(1, "cancel", "order expected", o) end
  local ex = exchange_of[self]
  if ex == nil or o.trader_ ~= acct.id then return false end
  return cancel(ex, state_of[ex], o, "cancel")
end

function Trader:cancel_all()
  local acct = trader_account(self, "cancel_all")
  local ex = exchange_of[self]
  if ex == nil or acct.resting == 0 then return acct.resting == 0 end
  local st = state_of[ex]
  if st.delivering then error("cancel_all: a logger must not trade", 2) end
  local book = st.book
  local o = C.asx_account_first(acct)
  while o ~= nil do
    local next_o = C.asx_account_next(o)
    C.asx_book_cancel(book, o)
    o = next_o
  end
  if ex.loggers[1] then deliver(ex) end
  return acct.resting == 0
end

local function by_priority(a, b)
  if a.price_ ~= b.price_ then
    if a.side_ == BUY then return a.price_ > b.price_ end
    return a.price_ < b.price_
  end
  return a.id_ < b.id_
end

function Trader:standing_orders()
  local acct = trader_account(self, "standing_orders")
  local buys, sells = {}, {}
  local ex = exchange_of[self]
  if ex == nil then return buys, sells end
  local anchors = state_of[ex].anchors
  local o = C.asx_account_first(acct)
  while o ~= nil do
    local obj = anchors[o.slot_]
    if o.side_ == BUY then buys[#buys + 1] = obj else sells[#sells + 1] = obj end
    o = C.asx_account_next(o)
  end
  table.sort(buys, by_priority)
  table.sort(sells, by_priority)
  return buys, sells
end

function Trader:inspect_exchange()
  trader_account(self, "inspect_exchange")
  local ex = exchange_of[self]
  if ex == nil then
    error(("inspect_exchange: %s has no exchange"):format(tostring(self)), 2)
  end
  return orderbook(state_of[ex].book)
end

-- The mark-to-market value: money plus stocks at the last trade price (or
-- at the given price).
function Trader:value(price)
  local acct = trader_account(self, "value")
  if price == nil then
    local ex = exchange_of[self]
    price = ex and last_price(state_of[ex].book) or 0
  elseif type(price) ~= "number" or not (price >= 0 and price < 1 / 0) then
    argerror(1, "value", "non-negative price expected", price)
  end
  return tonumber(acct.money) + tonumber(acct.stocks) * price
end

-- An agent's calls, for a trader running as an agent of a session
-- (lua/asx/session.lua). They are methods of the base class, so they cost
-- no field per trader. sleep is the scheduler's C function, because it
-- yields; now and random check their trader in Lua, random over an FFI call so that
-- strategies that draw many numbers stay in compiled code.
Trader.sleep = F.core.sleep
local session_now = F.core.now
function Trader.now(self)
  if type(self) ~= "table" then self_error("now", "trader", self) end
  return session_now()
end

local draw = C.asx_sched_draw
local floor = math.floor

local function check_bound(v, n)
  if not check.is_finite(v) then argerror(n, "random", "finite number expected", v, 2) end
  return floor(v)
end

-- self:random(), self:random(m), self:random(m, n): math.random's results,
-- from the running agent's own generator (see asx_sched_draw).
function Trader.random(self, m, n)
  if type(self) ~= "table" then self_error("random", "trader", self) end
  local r = draw()
  if m == nil and n == nil then return r end
  if n == nil then
    m = check_bound(m, 1)
    if m < 1 then argerror(1, "random", "interval is empty", m, 1) end
    return floor(r * m) + 1
  end
  m, n = check_bound(m, 1), check_bound(n, 2)
  if m > n then argerror(2, "random", "interval is empty", n, 1) end
  return floor(r * (n - m + 1)) + m
end

-- Sessions (lua/asx/session.lua) need this module, so they load on first use.
function asx.session(opts) return require("asx.session").new(opts) end

registry["asx.module"] = asx
return asx
