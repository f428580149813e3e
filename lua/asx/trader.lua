-- Traders: a class (Trader) that strategies extend, whose instances hold
-- their own fields and reach their C account (id, money, stocks) and their
-- exchange through the class's metamethods; the calls that trade (buy, sell,
-- cancel, cancel_all; amend and replace are in lua/asx/amend.lua, the
-- read-only queries in lua/asx/trader_queries.lua); and the calls of a
-- trader running as an agent of a session (sleep, now, random). Part of require "asx" (lua/asx/init.lua), which hands
-- out what this module returns.
require("asx.private")
local P = debug.getregistry()["asx.private"]
-- One Trader class per Lua state, as there is one asx.
if P.trader_module then return P.trader_module end
require("asx.exchange")

local F = require("asx.ffi")
local check = require("asx.check")
local ffi, C = F.ffi, F.C
local new_table = require("table.new")
local type, tostring, tonumber, rawset, next = type, tostring, tonumber, rawset, next
local setmetatable, getmetatable, rawget, error = setmetatable, getmetatable, rawget, error
local argerror, self_error, show = check.argerror, check.self_error, check.show
local is_count, is_balance, MAX = check.is_count, check.is_balance, check.MAX

local order_t, account_t, istype = P.order_t, ffi.typeof("asx_account"), ffi.istype
local account_of, state_of = P.account_of, P.state_of
local state_at, exchange_at = P.state_at, P.exchange_at
local ACCOUNT, EXCHANGE = P.ACCOUNT, P.EXCHANGE
local classes, owners = P.classes, P.owners
local deliver, cancel, refuses = P.deliver, P.cancel, P.refuses
require("asx.fills")
local fills = P.fills
local courier_module = require("asx.courier")
local latency_error, LATENCY_EXPECTED = courier_module.latency_error, courier_module.LATENCY_EXPECTED
-- Whether any trader or class has a latency or an on_fill (asx.private).
local used = P.used
-- used.any, for place to test per order: compiled code tests a variable
-- with one guard, 2 instructions, where used.any took five guards, 12
-- (the table's upvalue, its type, its shape, the key, the value). Both
-- are set by note_used, and only there.
local any_used = used.any
local function note_used(kind)
  used[kind], used.any = true, true
  any_used = true
end
P.note_used = note_used
local order_options = P.order_options
local wanted_positions = P.wanted_positions

-- The core's enums, as locals for the paths that run per order.
local BUY, SELL, OPEN, PENDING = C.ASX_BUY, C.ASX_SELL, C.ASX_OPEN, C.ASX_NEW
local OVERFLOW = C.ASX_E_OVERFLOW

local next_trader_id = 0

local M = {}

local trader_account = P.trader_account

-- A trader is a table of the user's own fields; its id, money and stocks live
-- in its C account, kept in the table under a key of asx's own (ACCOUNT, see
-- lua/asx/private.lua), and its exchange is found by the account's number,
-- read through the class's __index. money and stocks are written through __newindex, so every write is
-- checked; id and exchange are read-only.
local READ_ONLY = {
  id = "trader field 'id' is read-only",
  exchange = "trader field 'exchange' is read-only (a trader joins an exchange with ex:register(trader), for life)",
}

local function set_balance(t, k, v)
  local acct = account_of(t)
  if not acct then error(("bad value for '%s' (%s is not a trader)"):format(k, tostring(t)), 3) end
  if not is_balance(v) then
    error(("bad value for '%s' (%s, got %s)"):format(k, check.BALANCE_EXPECTED, show(v)), 3)
  end
  -- Lua's view of the account is read-only: the core writes the balances.
  if k == "money" then
    C.asx_account_set(acct, v, acct.stocks)
  else
    C.asx_account_set(acct, acct.money, v)
  end
end

-- The fields that change how a trader's orders travel or are heard of:
-- they are noted in `used` wherever they are set (an instance, a class, the
-- options of new), and a latency is checked there.
local function note_field(k, v, fname)
  if k == "latency" then
    local bad = v ~= nil and latency_error(v)
    if bad then
      if fname then argerror(1, fname, "latency: " .. LATENCY_EXPECTED, v, 3) end
      error(bad, 3)
    end
    note_used("latency")
  elseif k == "on_fill" then
    if v ~= nil and type(v) ~= "function" then
      if fname then argerror(1, fname, "on_fill: function expected", v, 3) end
      error(("bad value for 'on_fill' (function or nil expected, got %s)"):format(show(v)), 3)
    end
    note_used("on_fill")
  end
end

-- A latency is never stored under "latency" in the table that has it, so
-- that every assignment reaches __newindex and is checked, not only the
-- first (Lua calls __newindex only for a key the table does not hold).
-- A trader keeps its own in its table under this key: not in a table keyed
-- by the trader, which a latency function that refers to its trader would
-- then keep alive for good (LuaJIT's weak tables are not ephemerons).
local LATENCY = setmetatable({}, { __tostring = function() return "asx.latency" end })

-- asx's own keys in a trader's table; every other is the strategy's.
local OWN_KEYS = { [ACCOUNT] = true, [EXCHANGE] = true, [LATENCY] = true }

-- Lets go of the strategy's own fields of trader t, all but asx's keys: an
-- agent that ran out of memory may have kept all it made there, which its
-- trader, held by the session for its summary, would keep for good
-- (lua/asx/session.lua, on_no_memory). It allocates nothing: memory is
-- exhausted when it runs. Clearing a field while next walks the table is
-- what Lua allows.
function P.release_fields(t)
  for k in next, t do
    if not OWN_KEYS[k] then rawset(t, k, nil) end
  end
end

-- A class is a table that holds none of its fields itself, only the
-- metamethods of its instances (__index, __newindex, __tostring), so that
-- every write to a class reaches its __newindex: a latency or on_fill
-- written there is checked and noted (above), and every field reaches the
-- class's flat table, which holds its own fields and those it inherits,
-- copied. An instance then finds any method with one look-up in its class's
-- flat table, however deep the class, rather than one per class up the
-- chain (random traders: about 150 instructions fewer per order). A write
-- to a class is copied down to each subclass that has no field of its own
-- by that name, so a later edit of a class is seen by the instances of its
-- subclasses as before. Reading a class's field (Cls.x) reads the flat
-- table, through the class's metatable.
--
-- A class's state is kept in its metatable under the key STATE: { cls =,
-- own = its own fields, flat = own and inherited, parent = the parent's
-- state, children = { [a subclass's state] = true } }. Not in a table keyed
-- by the class: a method or latency function that refers to its class
-- would then keep it alive for good (weak tables are not ephemerons).
local STATE = setmetatable({}, { __tostring = function() return "asx.class" end })

local function state_of_class(cls)
  local mt = getmetatable(cls)
  return type(mt) == "table" and rawget(mt, STATE) or nil
end

-- Sets field k of a class's flat table to v, and of each subclass's that
-- does not have its own field k.
local function spread(st, k, v)
  st.flat[k] = v
  -- Agents of the class that have not started take the new cycle
  -- (lua/asx/session.lua).
  if k == "cycle" and P.cycle_defined then P.cycle_defined(st.cls, v) end
  for child in pairs(st.children) do
    if child.own[k] == nil then spread(child, k, v) end
  end
end

-- Defines field k of the class with state st (nil: removes its own,
-- uncovering the inherited one), without the checks of an assignment.
local function define(st, k, v)
  st.own[k] = v
  if v == nil and st.parent ~= nil then v = st.parent.flat[k] end
  spread(st, k, v)
end

-- A class's name and parent are what extend made it: the session, the
-- summary, the events and --set name a strategy by its class's name, as it
-- was given to extend, and a second way to rename it would change them
-- with no word (a field of its own named so is an instance's to have).
-- Nor may it hide the class from getmetatable, by which asx names a
-- trader's class.
local CLASS_READ_ONLY = {
  name = "class field 'name' is read-only (a class is named by extend: Trader:extend(\"name\"))",
  super = "class field 'super' is read-only (the class it extends)",
  __metatable = "class field '__metatable' is read-only (asx names a trader's class by its metatable)",
}

-- The metamethods through which asx reads and checks a class's instances.
-- The class holds them itself, so an assignment replaces them with no
-- __newindex to refuse it: asx-host checks them before it starts
-- (P.class_meddled). A class's __tostring is its own to define.
local CLASS_OWN = {
  __index = "asx finds its traders' accounts, exchanges and methods through it",
  __newindex = "asx checks its traders' money, stocks and latency through it",
}
P.CLASS_READ_ONLY = CLASS_READ_ONLY

local function class_newindex(cls, k, v)
  if CLASS_READ_ONLY[k] then error(CLASS_READ_ONLY[k], 2) end
  note_field(k, v)
  local st = state_of_class(cls)
  if st == nil then
    rawset(cls, k, v)
    return
  end
  -- Metamethods take effect only as the metatable's own fields.
  if type(k) == "string" and k:sub(1, 2) == "__" then rawset(cls, k, v) end
  define(st, k, v)
end

-- A class's latency as its instances read it: a field set with rawset on
-- the class or a class it extends is read too, so that a send checks it.
local function class_latency(st)
  while st ~= nil do
    local v = rawget(st.cls, "latency")
    if v == nil then v = st.own.latency end
    if v ~= nil then return v end
    st = st.parent
  end
  return nil
end

-- A latency or on_fill that reached a trader or its class past their
-- __newindex (rawset, or a write to the table the class's metatable gives)
-- was never noted, so it acted only once some other trader's or class's
-- assignment had noted its kind: the same trader's orders travelled at once
-- or late, and its fills were heard or not, by what unrelated code did. It
-- is noted when the trader joins an exchange or a session (register, which
-- s:add calls), from the fields as they are read later (the trader's own
-- and its class's: lua/asx/courier.lua, lua/asx/fills.lua), with no call
-- of user code.
function P.note_fields(t)
  if used.latency and used.on_fill then return end
  local cst = state_of_class(getmetatable(t))
  if not used.latency and (rawget(t, "latency") ~= nil or (cst and class_latency(cst) ~= nil)) then
    note_used("latency")
  end
  if not used.on_fill then
    local fn = rawget(t, "on_fill")
    if fn == nil and cst then fn = cst.flat.on_fill end
    if type(fn) == "function" and fn ~= fills.register then note_used("on_fill") end
  end
end

-- The trader's __index tells its computed fields apart by comparing the key
-- rather than by a table of them: where the key is a constant (t.money,
-- self:sleep), compiled code folds the comparisons away, and a method costs
-- only the look-up in its class's flat table.
local function new_class(parent)
  local flat, cls = {}, {}
  if parent ~= nil then
    for k, v in pairs(parent.flat) do flat[k] = v end
  end
  local st = { cls = cls, own = {}, flat = flat, parent = parent,
    children = setmetatable({}, { __mode = "k" }) }
  rawset(cls, "__index", function(t, k)
    if k == "money" then
      local acct = account_of(t)
      return acct and tonumber(acct.money)
    elseif k == "stocks" then
      local acct = account_of(t)
      return acct and tonumber(acct.stocks)
    elseif k == "id" then
      local acct = account_of(t)
      return acct and acct.id
    elseif k == "exchange" then
      -- By the account's number: compiled code then reads the trader's
      -- account once for its exchange, money and orders.
      local acct = account_of(t)
      return acct and exchange_at[acct.tag]
    elseif k == "latency" then
      local v = rawget(t, LATENCY)
      if v ~= nil then return v end
      return class_latency(st)
    end
    return flat[k]
  end)
  rawset(cls, "__newindex", function(t, k, v)
    if k == "money" or k == "stocks" then
      set_balance(t, k, v)
      return
    end
    if READ_ONLY[k] then error(READ_ONLY[k], 2) end
    note_field(k, v)
    rawset(t, k == "latency" and LATENCY or k, v)
  end)
  st.metamethods = { __index = rawget(cls, "__index"), __newindex = rawget(cls, "__newindex") }
  rawset(cls, "__tostring", function(t)
    local acct = account_of(t)
    return ("%s#%s"):format(st.own.name, acct and acct.id or "?")
  end)
  if parent ~= nil then parent.children[st] = true end
  setmetatable(cls, { __index = flat, __newindex = class_newindex, [STATE] = st })
  classes[cls] = true
  return cls, st
end

local Trader, trader_state = new_class(nil)
define(trader_state, "name", "trader")
M.Trader = Trader

-- Returns a subclass; its instances come from Cls:new(opts).
function Trader:extend(name)
  if not classes[self] then
    error("extend: call it on a class, as Class:extend(name)", 2)
  end
  if type(name) ~= "string" or name == "" then
    argerror(1, "extend", "non-empty class name expected", name)
  end
  local parent = state_of_class(self)
  if parent == nil then error("extend: call it on a class, as Class:extend(name)", 2) end
  local cls, st = new_class(parent)
  define(st, "name", name)
  define(st, "super", self)
  return cls
end

-- The name cls was given by extend ("trader" for Trader), or nil when cls
-- is no class: the name a rawset on the class does not change.
function P.class_name(cls)
  local st = classes[cls] and state_of_class(cls)
  return st and st.own.name
end

-- The name of a metamethod of asx's own that code replaced in class cls,
-- and why it is asx's; nil when there is none.
function P.class_meddled(cls)
  local st = classes[cls] and state_of_class(cls)
  if st == nil then return nil end
  for _, k in ipairs({ "__index", "__newindex" }) do
    if rawget(cls, k) ~= st.metamethods[k] then return k, CLASS_OWN[k] end
  end
  return nil
end

-- True when cls is Trader or one of its subclasses.
function M.is_trader_class(cls)
  return classes[cls] == true
end

-- True when v is a trader made by Class:new.
function M.is_trader(v)
  return account_of(v) ~= nil
end

-- Options that are not copied into the trader: its balances, what is
-- read-only, and asx's own keys (copied from another trader by pairs).
local RESERVED = { money = true, stocks = true, exchange = true, id = true, [ACCOUNT] = true, [EXCHANGE] = true }

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
  if not is_balance(money) then argerror(1, "new", "money: " .. check.BALANCE_EXPECTED, money) end
  -- stocks: the default instrument's position, or { [name] = position }
  -- for several, given to the account when it joins its exchange.
  local wanted
  if type(stocks) == "table" then
    wanted = {}
    for name, v in pairs(stocks) do
      if type(name) ~= "string" then argerror(1, "new", "stocks: instrument names as keys expected", name) end
      if not is_balance(v) then
        argerror(1, "new", ("stocks.%s: %s"):format(name, check.BALANCE_EXPECTED), v)
      end
      wanted[name] = v
    end
    stocks = 0
  elseif not is_balance(stocks) then
    argerror(1, "new", "stocks: " .. check.BALANCE_EXPECTED, stocks)
  end
  local ex = opts.exchange
  if ex ~= nil and not state_of[ex] then
    argerror(1, "new", "exchange: exchange expected", ex)
  end
  if opts.latency ~= nil then note_field("latency", opts.latency, "new") end
  if opts.on_fill ~= nil then note_field("on_fill", opts.on_fill, "new") end
  if ex ~= nil and wanted then
    for name in pairs(wanted) do
      if state_of[ex].index[name] == nil then
        error(("bad argument #1 to 'new' (stocks: unknown instrument %q)"):format(name), 2)
      end
    end
  end

  -- Trader ids are the accounts' uint32_t ids; past them, ids would repeat.
  if next_trader_id == 0xFFFFFFFF then
    error("new: no trader ids left (a process makes at most 2^32 - 1 traders)", 2)
  end
  next_trader_id = next_trader_id + 1
  -- Lua's view of an account is read-only: its first fields are set here,
  -- in its constructor.
  local acct = account_t(money, stocks, next_trader_id)
  -- Room for the account and the exchange (register) beside the user's
  -- fields, in one allocation from the start.
  local t = new_table(0, 2)
  for k, v in pairs(opts) do
    if not RESERVED[k] then t[k == "latency" and LATENCY or k] = v end
  end
  t[ACCOUNT] = acct
  setmetatable(t, self)
  owners[next_trader_id] = t
  wanted_positions[t] = wanted
  if ex then ex:register(t) end
  return t
end

function M.trader(opts)
  return Trader.new(Trader, opts)
end

-- The exchange of a trader (with account acct), with its private state;
-- raises when it has none.
local function trader_exchange(self, acct, fname)
  local ex = exchange_at[acct.tag]
  if ex == nil then
    -- A trader keeps its exchange alive: one it was registered with (tag
    -- not 0) is gone only when lua_close has freed it (lua/asx/exchange.lua,
    -- book_finalizer), and a finalizer trades.
    if acct.tag ~= 0 then
      error(("%s: the exchange of %s is gone (freed as Lua closes)"):format(fname, tostring(self)), 3)
    end
    error(("%s: %s has no exchange (register it with ex:register(trader))"):format(fname, tostring(self)), 3)
  end
  return ex, state_at[acct.tag]
end

local function place_any(self, side, fname, amount, price, opts)
  local acct = account_of(self)
  if not acct then self_error(fname, "trader", self, 2) end
  if not is_count(amount) then
    argerror(1, fname, check.AMOUNT_EXPECTED, amount, 2)
  end
  if price == nil then
    price = 0
  elseif not is_count(price) then
    argerror(2, fname, check.PRICE_EXPECTED, price, 2)
  elseif price * amount > MAX then
    error(("bad argument #2 to '%s' (price × amount must not exceed 2^53 - 1, got %s × %s)")
      :format(fname, show(price), show(amount)), 3)
  end
  local ex, st = trader_exchange(self, acct, fname)
  local book, inst, flags = st.book, 0, 0
  if opts ~= nil then inst, flags = order_options(st, opts, fname, price ~= 0) end
  if st.delivering and refuses(st) then error(fname .. ": a logger must not trade", 3) end
  local hears = false
  if used.any then
    local courier = st.courier
    if courier ~= nil and used.latency then
      local delay = courier:delay(self, 3)
      if delay then
        -- On its way: it reaches the book later (arrive_order), as this object.
        local o = order_t(0, price, amount, 0, acct.id, side, PENDING, flags, 0, 0, inst)
        courier:send_order(self, delay, o, side, price, amount)
        return o
      end
    end
    hears = used.on_fill and fills.hears(self, st)
  end
  -- The order is matched in the exchange's spare order, which becomes the
  -- returned order only when it rests (the book then points at it, and a new
  -- spare is made on the next call). An order that ends at once is returned
  -- as a copy, which LuaJIT does not even allocate when the caller drops it.
  -- The spare never rests, so a submit never overwrites an order in the book:
  -- it is taken out of st while it is matched (see place).
  local o = st.spare
  if o == nil then
    o = order_t()
  else
    st.spare = nil
  end
  local rc
  if opts == nil then
    rc = C.asx_book_submit(book, o, acct, side, price, amount)
  else
    book = st.books[inst]
    rc = C.asx_book_submit_ex(book, o, acct, side, price, amount, flags)
  end
  if rc == C.ASX_E_OVERFLOW then
    st.spare = o
    local total = tonumber(C.asx_book_level_amount(book, side, price))
    argerror(1, fname, ("amount at most %s expected: the level at price %s holds %s of at most 2^53 - 1")
      :format(show(MAX - total), show(price), show(total)), amount, 2)
  end
  if o.status_ == OPEN then
    st.anchors[o.slot_] = o
  else
    st.spare = o
    o = order_t(o.id_, o.price_, o.amount_, o.filled_, o.trader_, o.side_, o.status_, o.flags_,
      o.reason_, 0, o.instrument_)
  end
  if hears then fills.watch(st, o) end
  if st.loggers[1] or (used.any and st.watching) then deliver(ex) end
  return o
end

-- The common call: a limit order with no options from a trader of an
-- exchange, while no trader uses a latency or on_fill and no logger is being
-- delivered to. It takes the steps place_any takes for it, with the trader's
-- account found directly and its exchange's state by the number the account
-- carries (no per-trader record: at a million agents it would cost more
-- memory than it saves instructions); every other call, bad arguments
-- included, goes on to place_any (a tail call, so its errors name the
-- caller's line), which checks and raises in its order.
local function place(self, side, fname, amount, price, opts)
  local acct = account_of(self)
  -- Positive integers whose product is at most 2^53 - 1: then each is, and
  -- neither is NaN (which fails >= 1) nor infinite.
  if acct == nil or opts ~= nil or type(amount) ~= "number" or type(price) ~= "number"
      or not (amount >= 1 and price >= 1 and price * amount <= MAX) or amount % 1 ~= 0 or price % 1 ~= 0 then
    return place_any(self, side, fname, amount, price, opts)
  end
  -- nil for a trader with no exchange (tag 0).
  local st = state_at[acct.tag]
  if st == nil or st.delivering or any_used then return place_any(self, side, fname, amount, price, opts) end
  -- The spare is out of st while it is matched and, once it rests, until
  -- the next is made: an allocation on the way (the next spare's) may run a
  -- finalizer (newproxy's __gc) that places an order, which took the spare
  -- when it rested already and submitted it again, breaking the book's
  -- lists. The test of its status between the two stores keeps LuaJIT from
  -- dropping the first as overwritten.
  local o = st.spare
  if o == nil then
    o = order_t()
  else
    st.spare = nil
  end
  -- A refused order changes nothing: place_any submits it again and raises.
  if C.asx_book_submit(st.book, o, acct, side, price, amount) == OVERFLOW then
    st.spare = o
    return place_any(self, side, fname, amount, price, opts)
  end
  if o.status_ == OPEN then
    st.anchors[o.slot_] = o
    -- The next spare now, so that the next call finds one.
    st.spare = order_t()
    if st.listening then deliver(exchange_at[acct.tag], st) end
    return o
  end
  st.spare = o
  -- The copy is made once the loggers have the events (nothing on this path
  -- can trade meanwhile, so the spare still holds the order): the delivery
  -- runs through traces of its own, and a copy made before it would be
  -- allocated for them even when the caller drops it. What the call gave
  -- (price, side, trader) or left unset (no flags, the first instrument) is
  -- not read back.
  if st.listening then deliver(exchange_at[acct.tag], st) end
  return order_t(o.id_, price, o.amount_, o.filled_, acct.id, side, o.status_, 0, o.reason_, 0, 0)
end

-- An order of t's that was on its way reaches the book: it is matched as
-- itself (the object t holds), as place would have matched it.
local function arrive_order(t, o, side, price, amount)
  local acct = account_of(t)
  local ex = acct and exchange_at[acct.tag]
  -- Only a pending order is matched, once: submitting an order that rests
  -- would overwrite it in the book.
  if ex == nil or not istype(order_t, o) or o.status_ ~= PENDING or o.id_ ~= 0
      or o.trader_ ~= acct.id then
    return
  end
  local st = state_at[acct.tag]
  local hears = used.on_fill and fills.hears(t, st)
  -- A level that cannot take the amount: the order could not have rested;
  -- with no caller left to tell, it ends cancelled, as it was never placed.
  -- The order carries its instrument and flags from place.
  if C.asx_book_submit_ex(st.books[o.instrument_], o, acct, side, price, amount, o.flags_) ~= 0 then
    P.set_order_status(o, C.ASX_CANCELLED)
    return
  end
  if o.status_ == OPEN then
    st.anchors[o.slot_] = o
  end
  if hears then fills.watch(st, o) end
  if st.loggers[1] or st.watching then deliver(ex) end
end

-- t:buy(amount, price, options): options is an instrument's name or a
-- table { instrument =, tif = "gtc" | "ioc" | "fok", post_only = true }
-- (lua/asx/order.lua reads it).
function Trader:buy(amount, price, opts)
  return place(self, BUY, "buy", amount, price, opts)
end

function Trader:sell(amount, price, opts)
  return place(self, SELL, "sell", amount, price, opts)
end

-- The delay of a cancel of t's in a session, or nil when it acts at once.
local function cancel_delay(t, st, fname)
  local courier = st.courier
  if courier == nil or not used.latency then return nil end
  if st.delivering and refuses(st) then error(fname .. ": a logger must not trade", 4) end
  return courier:delay(t, 4), courier
end

-- With a latency, a cancel is sent (true) when o is pending or resting; it
-- acts on arrival (arrive_cancel). The trader's exchange's state is found
-- as place finds it, by the number its account carries.
function Trader:cancel(o)
  local acct = account_of(self)
  if acct == nil then self_error("cancel", "trader", self) end
  if not istype(order_t, o) then argerror(1, "cancel", "order expected", o) end
  -- nil for a trader with no exchange (tag 0).
  local st = state_at[acct.tag]
  if st == nil or o.trader_ ~= acct.id then return false end
  if used.latency then
    local delay, courier = cancel_delay(self, st, "cancel")
    if delay then
      if o.status_ ~= OPEN and o.status_ ~= PENDING then return false end
      courier:send_cancel(self, delay, o)
      return true
    end
  end
  local ok = cancel(st, o, "cancel")
  if ok and (st.listening or st.watching) then deliver(exchange_at[acct.tag], st) end
  return ok
end

-- A cancel of t's arrives: o is cancelled if it still rests; else it is too
-- late, and the book records a cancel event that says so (remaining 0), which
-- every logger, the built-in ones included, gets like any other.
local function arrive_cancel(t, o)
  local acct = account_of(t)
  local ex = acct and exchange_at[acct.tag]
  if ex == nil or not istype(order_t, o) then return end
  local st = state_at[acct.tag]
  local book = st.books[o.instrument_]
  if book == nil then return end
  -- An order the book refused on arrival never had an id: no event names it.
  if C.asx_book_cancel(book, o) ~= 1 and o.id_ ~= 0 then C.asx_book_cancel_late(book, o) end
  if st.loggers[1] or st.watching then deliver(ex) end
end

local function cancel_resting(acct, st)
  local books = st.books
  local o = C.asx_account_first(acct)
  while o ~= nil do
    local next_o = C.asx_account_next(o)
    C.asx_book_cancel(books[o.instrument_], o)
    o = next_o
  end
  if st.listening or st.watching then deliver(exchange_at[acct.tag], st) end
  return acct.resting == 0
end

-- Cancels every resting order of an account at once, for a session whose
-- agent failed or was stopped (its messages in flight are dropped): by the
-- account the session keeps, whatever the agent did to its own table. True
-- when nothing of it is left resting.
function P.cancel_account(acct)
  local st = state_at[acct.tag]
  if st == nil or acct.resting == 0 then return acct.resting == 0 end
  if st.delivering and refuses(st) then error("cancel_all: a logger must not trade", 2) end
  return cancel_resting(acct, st)
end

-- With a latency, one message cancels on arrival every order of the
-- trader's resting then (those sent before it have arrived); true when sent.
function Trader:cancel_all()
  local acct = trader_account(self, "cancel_all")
  local st = state_at[acct.tag]
  if st ~= nil and used.latency then
    local delay, courier = cancel_delay(self, st, "cancel_all")
    if delay then
      courier:send_cancel_all(self, delay)
      return true
    end
  end
  if st == nil or acct.resting == 0 then return acct.resting == 0 end
  if st.delivering and refuses(st) then error("cancel_all: a logger must not trade", 2) end
  return cancel_resting(acct, st)
end

-- What the courier (lua/asx/courier.lua) does when a message arrives.
P.arrive = {
  order = arrive_order,
  cancel = arrive_cancel,
  cancel_all = function(t)
    local acct = account_of(t)
    local st = acct and state_at[acct.tag]
    if st ~= nil and acct.resting > 0 then cancel_resting(acct, st) end
  end,
  -- A pending order that will never arrive.
  dropped = function(o)
    if istype(order_t, o) and o.status_ == PENDING then P.set_order_status(o, C.ASX_CANCELLED) end
  end,
}

-- Defined past the assignment's note: the base class's own method is not
-- a handler, and noting it (class_newindex) would put every order on the
-- path that looks for one.
define(trader_state, "on_fill", fills.register)

-- The calls on resting orders (lua/asx/amend.lua) and the read-only
-- queries (lua/asx/trader_queries.lua).
require("asx.amend")
require("asx.trader_queries")
for name, method in pairs(P.trader_amend) do Trader[name] = method end
for name, method in pairs(P.trader_queries) do Trader[name] = method end

-- An agent's calls, for a trader running as an agent of a session
-- (lua/asx/session.lua). They are methods of the base class, so they cost
-- no field per trader. sleep's common call, a trader and a number of
-- seconds in the agent's own coroutine and outside any logger, is checked
-- here, where compiled code does it almost for nothing, and asks for the
-- wake-up through the sleep gate (src/asx_lua_agent.c) before it yields
-- with the raw coroutine.yield; any other call goes to core.sleep, which
-- checks all and raises, by a tail call so that its errors name the
-- caller's line. now and random check their trader in Lua, and random
-- draws in Lua too (below), so that strategies that draw many numbers stay
-- in compiled code.
require("asx.guard")
local core_sleep, gate, raw_yield = F.core.sleep, P.sleep_gate, P.raw_yield
local sends = ffi.cast("int *", F.core.sends)
local huge = math.huge
function Trader.sleep(self, seconds)
  if gate.open ~= 0 and sends[0] == 0 and type(self) == "table" and type(seconds) == "number"
      and seconds >= 0 and seconds < huge then
    gate.delay = seconds
    gate.req = 1
    return raw_yield()
  end
  return core_sleep(self, seconds)
end
local session_now = F.core.now
function Trader.now(self)
  if type(self) ~= "table" then self_error("now", "trader", self) end
  return session_now()
end

local draw = C.asx_sched_draw
local floor = math.floor
local bxor, rshift, cast = bit.bxor, bit.rshift, ffi.cast

-- The running agent's generator (src/asx_lua_agent.c): while an agent runs,
-- rng.state points at its state, and the next draw is made here as
-- asx_sched_draw makes it (splitmix64: the same numbers in the same order),
-- which compiled code runs inline, with no call; outside an agent's run, by
-- asx_sched_draw itself.
local rng = cast("struct { uint64_t *state; } *", F.core.agent_rng)
local UNIT = 2 ^ -53

local function next_draw()
  local state = rng.state
  if state == nil then return draw() end
  local z = state[0] + 0x9E3779B97F4A7C15ULL
  state[0] = z
  z = bxor(z, rshift(z, 30)) * 0xBF58476D1CE4E5B9ULL
  z = bxor(z, rshift(z, 27)) * 0x94D049BB133111EBULL
  z = bxor(z, rshift(z, 31))
  -- The top 53 bits, which an int64_t holds and converts exactly.
  return tonumber(cast("int64_t", rshift(z, 11))) * UNIT
end

local is_finite = check.is_finite

local function check_bound(v, n)
  if not is_finite(v) then argerror(n, "random", "finite number expected", v, 3) end
  return floor(v)
end

-- self:random(), self:random(m), self:random(m, n): math.random's results,
-- from the running agent's own generator (see asx_sched_draw).
function Trader.random(self, m, n)
  if type(self) ~= "table" then self_error("random", "trader", self) end
  local r = next_draw()
  if m == nil and n == nil then return r end
  if n == nil then
    m = check_bound(m, 1)
    if m < 1 then argerror(1, "random", "interval is empty", m) end
    return floor(r * m) + 1
  end
  m, n = check_bound(m, 1), check_bound(n, 2)
  if m > n then argerror(2, "random", "interval is empty", n) end
  return floor(r * (n - m + 1)) + m
end


P.trader_module = M
return M
