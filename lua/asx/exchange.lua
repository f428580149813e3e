-- The exchange: one order book per instrument (src/asx_book.c), the traders
-- registered with it, and the delivery of the books' events to its loggers
-- after each call that made them; its read-only queries are in
-- lua/asx/queries.lua. Part of require "asx" (lua/asx/init.lua),
-- which hands out what this module returns; the book and the objects it
-- points at are kept in the private state (lua/asx/private.lua), where the
-- traders' orders (lua/asx/trader.lua) reach them.
require("asx.private")
local registry = debug.getregistry()
local P = registry["asx.private"]
-- One Exchange class per Lua state, as there is one asx.
if P.exchange_module then return P.exchange_module end
require("asx.order")
require("asx.fills")
require("asx.queries")
local fills = P.fills

local F = require("asx.ffi")
local event = require("asx.event")
local check = require("asx.check")
local ffi, C = F.ffi, F.C
local type, tostring, tonumber, rawget, rawset = type, tostring, tonumber, rawget, rawset
local setmetatable, error, pcall = setmetatable, error, pcall
local argerror, self_error = check.argerror, check.self_error
local unwritable_type, too_deep = event.unwritable_type, event.too_deep

local order_t, istype = P.order_t, ffi.istype
local account_of, state_of, EXCHANGE = P.account_of, P.state_of, P.EXCHANGE
local exchange_state = P.exchange_state
local native_consumers = P.native_consumers

local M = {}

-- Every exchange's state and the exchange itself by its number
-- (lua/asx/private.lua), which its traders' accounts carry.
local state_at, exchange_at, gone = P.state_at, P.exchange_at, P.gone
local n_exchanges = 0

local Exchange = {}
Exchange.__index = Exchange
-- The key of an exchange's state in its own metatable (M.new).
local STATE = {}
-- asx.Exchange, and getmetatable(ex): a face of Exchange whose methods are
-- read-only, as asx's own code calls them on the exchanges strategies share
-- (asx.Exchange.stats = nil took the session's summary down); a new method
-- goes to Exchange, for every exchange. OWN is filled at the end.
local OWN = {}
local Public = setmetatable({}, {
  __index = Exchange,
  __newindex = function(_, k, v)
    if OWN[k] then error(("asx.Exchange: the %s method is read-only (asx's own code calls it)"):format(k), 2) end
    Exchange[k] = v
  end,
  __metatable = false,
})
-- The methods are everyone's who holds the exchange: asx's own code (the
-- session's summary, the report) calls them on the exchange its strategies
-- share, so a field that hid one (a strategy's self.exchange.stats = {})
-- took the end of the session down. Assigning one raises; any other field
-- is the caller's.
--
-- session_id, the id every event carries, is a string or a number (or nil):
-- a table or a boolean was written one way by the book's events (its
-- address, "table: 0x...") and another by the loggers' own fields. It is
-- kept in the exchange's own fields (st.fields, behind the exchange's table
-- and before Exchange), never in the exchange's table, so that every
-- assignment comes here: a field of the table itself takes the next ones
-- past __newindex.
function Exchange.__newindex(ex, k, v)
  if type(rawget(Exchange, k)) == "function" then
    error(("exchange field '%s' is read-only (a method of the exchange)"):format(k), 2)
  end
  if k == "session_id" then
    if v ~= nil and type(v) ~= "string" and type(v) ~= "number" then
      error(("exchange field 'session_id': string or number expected, got %s"):format(type(v)), 2)
    end
    rawset(state_of[ex].fields, k, v)
    return
  end
  rawset(ex, k, v)
end

-- The session id of st's events, or nil (lua/asx/private.lua).
local session_of = P.session_of
M.Exchange = Public
-- Behind an exchange's own fields (its session_id), its methods.
local FIELDS = { __index = Exchange }
-- The read-only queries (lua/asx/queries.lua).
for name, method in pairs(P.exchange_queries) do Exchange[name] = method end

-- A book record's type name and the Lua message loggers' send_event gets
-- (asx.event).
local named_message = event.named_message

-- Loggers are user code, called from inside the call that caused the event
-- (an agent's buy, on the agent's coroutine), through guard.send
-- (lua/asx/guard.lua), so that whatever a logger does, the delivery
-- completes and the exchange leaves its delivering state. The sends are
-- counted (guard.sending) so that a logger's yield is refused.
local guard = require("asx.guard")
local send, sending = guard.send, guard.sending
-- A call that ends the trace of compiled code (see send_messages).
local seam = F.core.seam

-- Only asx's own consume_events (native_consumers) are handed the book's
-- records, as they were when the logger was added: they never yield, so they
-- are called through a plain pcall.

-- Records a logger's failure during a delivery. Without a handler (the
-- library's default) the logger keeps getting the later events and the first
-- error is raised to the caller once all are delivered. With
-- ex:on_logger_error(fn) the logger is detached at once and fn hears of it
-- when the delivery is over; the caller never sees the error.
local function logger_failed(ex, failed, L, err, tb, at)
  local detach = state_of[ex].on_logger_error
  -- Before anything allocates (the list of failures would run out too).
  if detach and err == "not enough memory" then P.release_logger(L) end
  failed = failed or {}
  if detach then
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
  local handler = state_of[ex].on_logger_error
  for i = 1, #failed do
    local f = failed[i]
    handler(ex, f[1], f[2], f[3], f[4])
  end
end

-- The messages of the book's records evs[0 .. n - 1], each sent to every
-- logger without consume_events that has not failed in this delivery (the
-- first numbered first). Returns failed. The loop starts past a seam, as
-- send_lone_events's does (a lone Lua logger has a delivery of its own:
-- deliver_lone).
local function send_messages(ex, st, loggers, native, evs, n, first, failed)
  local session, names = session_of(st), st.names
  local abandoned = st.abandoned
  seam()
  for i = 0, n - 1 do
    local e = evs[i]
    local name, m = named_message(e, session, names)
    for j = 1, #loggers do
      local L = loggers[j]
      if not native[L] and not (failed and failed[L]) then
        local ok, err, tb = send(L, name, m)
        if not ok then failed = logger_failed(ex, failed, L, err, tb, first + i) end
        if st.abandoned ~= abandoned then return failed end
      end
    end
  end
  return failed
end

-- Sends the book's record e, the event numbered at, to the lone Lua logger
-- L (deliver_lone). Returns failed.
local function send_lone(ex, L, e, session, names, at, failed)
  local ok, err, tb = send(L, named_message(e, session, names))
  if not ok then failed = logger_failed(ex, failed, L, err, tb, at) end
  return failed
end

-- The events of a call that made more than deliver_lone sends in a line,
-- to a lone Lua logger, in one loop past a seam (core.seam, which ends the
-- trace of the call that made them). A loop in the caller's trace is
-- unrolled there for the count of events it first had, with a side trace
-- for each other count, and a side trace made in the middle of an agent's
-- call and its delivery has more live values than LuaJIT's register
-- allocator can hand over (it gives up, again and again, and the exit
-- stays in the interpreter); past the seam, the traces hold the delivery's
-- values alone. The loop takes the first event too: sent before the seam,
-- in the caller's trace, it left a trace that the seam's exit ended for
-- every call that traded. Returns failed.
local function send_lone_events(ex, st, L, evs, n, session, names, first)
  local failed
  local abandoned = st.abandoned
  seam()
  for i = 0, n - 1 do
    if failed and failed[L] then break end
    local e = evs[i]
    local ok, err, tb = send(L, named_message(e, session, names))
    if not ok then failed = logger_failed(ex, failed, L, err, tb, first + i) end
    if st.abandoned ~= abandoned then return failed end
  end
  return failed
end

-- The fills of watched orders (lua/asx/fills.lua) in a delivery: in a
-- session they go to the courier, which runs each handler in a turn of its
-- agent's own; without one they are returned, as a list of (trader, order,
-- fill), for the handlers to be called once the loggers have the events.
local function hear_fills(ex, st, evs, n)
  local courier = st.courier
  if courier then
    fills.collect(ex, st, evs, n, function(t, o, fill) courier:notice(t, o, fill) end)
    return nil
  end
  local list = {}
  fills.collect(ex, st, evs, n, function(t, o, fill)
    list[#list + 1], list[#list + 2], list[#list + 3] = t, o, fill
  end)
  return list[1] and list or nil
end

-- The book's event records and their count, read in place where the book
-- keeps them (st.ev_buffer, st.ev_count: no call into C per delivery, and
-- st.ev_count[0] = 0 clears them). Their address is kept in st while it
-- stays the same: a pointer that compiled code reads from a table is not
-- allocated anew, as one read from C memory is for every delivery when it
-- outlives the trace that got it (delivering to a Lua logger spans
-- several).
local function book_events(st)
  local evs = st.ev_buffer[0]
  if evs ~= st.evs then st.evs = evs end
  return st.evs, tonumber(st.ev_count[0])
end

-- Delivers the events the book holds, in order, to every logger, then
-- clears them; the book stands whatever the loggers do. Events are numbered
-- from 1 per exchange (ex.events counts them), so that a detached logger's
-- missed events can be counted from the one it failed on. Fills of watched
-- orders are read first (hear_fills); their handlers run once the loggers
-- have the events.
local function deliver_now(ex, st)
  local evs, n = book_events(st)
  if n == 0 then return end
  local abandoned = st.abandoned
  local heard
  if st.watching then
    -- The courier is the session's, which Lua code can reach and alter:
    -- whatever it runs here finds the exchange delivering, so it cannot
    -- trade while evs is read, and the events are cleared whatever it does.
    st.delivering = true
    local ok, got = pcall(hear_fills, ex, st, evs, n)
    if st.abandoned ~= abandoned then return end
    st.delivering = false
    if not ok or not st.loggers[1] then
      -- Recorded for the fills alone.
      C.asx_book_clear_events(st.book)
      if not ok then error(got, 0) end
      if got then fills.call_now(got) end
      return
    end
    heard = got
  end
  local loggers, native = st.loggers, st.native
  local first = st.events + 1
  st.events = st.events + n
  ex.events = st.events
  local failed
  st.delivering = true
  -- Counted, so that a delivery to Lua loggers alone takes no length of the
  -- loggers array (a call out of compiled code).
  if st.natives > 0 then
    for j = 1, #loggers do
      local L = loggers[j]
      local consume = native[L]
      if consume then
        local ok, err = pcall(consume, L, evs, n, ex)
        if not ok then failed = logger_failed(ex, failed, L, err, nil, first) end
        if st.abandoned ~= abandoned then
          if failed then report_failures(ex, failed) end
          return
        end
      end
    end
  end
  if st.lua_loggers > 0 then
    sending(1)
    failed = send_messages(ex, st, loggers, native, evs, n, first, failed)
    sending(-1)
  end
  -- A delivery abandoned while it was suspended in a logger
  -- (_abandon_delivery) has had its records dropped, and the exchange may
  -- have delivered others since: it leaves both as they are.
  if st.abandoned == abandoned then
    st.ev_count[0] = 0
    st.delivering = false
  end
  local ok, err = true, nil
  if heard then ok, err = pcall(fills.call_now, heard) end
  if failed then report_failures(ex, failed) end
  if not ok then error(err, 0) end
end

-- A logger of asx's own that folds the records in C (the report) takes
-- them from the book itself while it is the only logger: the book hands
-- them to its sink (asx_book_set_sink) once BATCH are held, so the calls
-- that trade hand nothing to Lua, and Lua delivers the rest before anything
-- reads what the logger made (flush). Its consume_events is registered
-- with a function that gives the sink: sink_of(L) -> C function, data (or
-- nil: records each call). A batch of 4096 records takes 288 KiB.
local BATCH = 4096

-- deliver_now for an exchange whose only logger is L, a Lua logger, with
-- no fills watched (st.lone, which update_batched keeps). A call that made
-- at most LINE events (an order that rests without trading, the most
-- common, or one that trades with one or two resting orders: nine calls in
-- ten) sends them in the trace of the call, in a straight line: no loop,
-- whose count of turns the trace would guard, and no seam, whose exit goes
-- through the interpreter (past the seam, the replay of
-- bench/book_bench.lua with its counting logger took 1,370 instructions an
-- order where it takes 1,260, and asx-host's 1,000 random traders with
-- that logger 3,040 where they take 2,820). LuaJIT does not even allocate
-- a message the logger does not keep. A call that made more events sends
-- them past the seam (send_lone_events).
local LINE = 3
local function deliver_lone(ex, st, L)
  local evs, n = book_events(st)
  if n == 0 then return end
  local abandoned = st.abandoned
  local first = st.events + 1
  st.events = st.events + n
  ex.events = st.events
  st.delivering = true
  sending(1)
  local session, names = session_of(st), st.names
  local failed
  if n <= LINE then
    -- Each event is sent unless the logger was detached (failed[L]) or the
    -- delivery abandoned by the last one.
    failed = send_lone(ex, L, evs[0], session, names, first, nil)
    if n > 1 and st.abandoned == abandoned and not (failed and failed[L]) then
      failed = send_lone(ex, L, evs[1], session, names, first + 1, failed)
      if n > 2 and st.abandoned == abandoned and not (failed and failed[L]) then
        failed = send_lone(ex, L, evs[2], session, names, first + 2, failed)
      end
    end
  else
    failed = send_lone_events(ex, st, L, evs, n, session, names, first)
  end
  sending(-1)
  -- As in deliver_now.
  if st.abandoned == abandoned then
    st.ev_count[0] = 0
    st.delivering = false
  end
  if failed then report_failures(ex, failed) end
end

-- After each call that recorded events: delivers them, unless the book's
-- sink takes them (st.batched). st is ex's state, when the caller has it
-- (the order path finds it by number, without a look-up keyed by a table).
local function deliver(ex, st)
  st = st or state_of[ex]
  -- st.lone changes with the loggers (update_batched), in the same steps.
  local lone = st.lone
  if lone ~= nil then return deliver_lone(ex, st, lone) end
  if st.batched then return end
  deliver_now(ex, st)
end

-- Sets the book's sink when the exchange's only logger has one and no
-- fills are watched (their handlers run after the call that traded); else
-- unsets it. The sink's data is kept here while the book may call it.
local function update_batched(_, st)
  local loggers = st.loggers
  local L = loggers[1]
  local sink_of = L ~= nil and loggers[2] == nil and not st.watching and native_consumers[st.native[L]]
  local fn, data
  if type(sink_of) == "function" then fn, data = sink_of(L) end
  st.batched, st.sink = fn ~= nil, data
  -- A lone Lua logger, while no fills are watched, has a delivery of its
  -- own (deliver_lone).
  st.lone = L ~= nil and loggers[2] == nil and not st.watching and not st.native[L] and L or nil
  -- The order path delivers after each call only to loggers the sink does
  -- not feed.
  st.listening = loggers[1] ~= nil and fn == nil
  if fn ~= nil then
    C.asx_book_set_sink(st.book, fn, data, BATCH)
  else
    C.asx_book_set_sink(st.book, nil, nil, 0)
  end
end

-- Stops every book handing its records to the sink whose data is data: its
-- finalizer frees it (lua/asx/report/candles.lua), which an ordinary
-- collection does only with the exchange that keeps it (st.sink), but
-- lua_close in no set order. The records then go to the logger by
-- consume_events, which finds the data gone and says so.
function P.unsink(data)
  for _, st in pairs(state_at) do
    if st.sink == data then
      C.asx_book_set_sink(st.book, nil, nil, 0)
      st.batched, st.sink, st.listening = false, nil, true
    end
  end
end

-- Delivers what the book's sink has not taken, and counts what it took:
-- before anything that must find the records delivered (a query of the
-- logger's data, another logger, an emitted event, watched fills), never
-- inside a delivery, whose records are the ones in the book. A sink that
-- failed was unset by the book: it is set again, and the logger gets the
-- records it did not take through consume_events, which fails as it may.
local function flush(ex)
  local st = state_of[ex]
  if st.batched and not st.delivering then
    st.events = st.events + tonumber(C.asx_book_take_sunk(st.book))
    ex.events = st.events
    update_batched(ex, st)
    deliver_now(ex, st)
  end
end

local function get(L, k) return L[k] end

-- A logger's consume_events, or nil where reading it raises: the object is
-- the user's, and a strict one (an __index that raises for a field it does
-- not have) is a logger all the same; asx-host ended with status 1 and a
-- traceback from here.
local function field_of(L, k)
  local ok, v = pcall(get, L, k)
  if ok then return v end
  return nil
end
local function consume_of(L) return field_of(L, "consume_events") end

-- send_event is read so too: a userdata with no __index (newproxy()), or
-- a cdata without the field, raised from here ("attempt to index local
-- 'L'"), where it is no logger, a bad argument.
local function check_logger(L, fname, n)
  if (type(L) ~= "table" and type(L) ~= "userdata" and type(L) ~= "cdata")
      or (type(field_of(L, "send_event")) ~= "function" and not native_consumers[consume_of(L)]) then
    argerror(n or 1, fname, "logger with a send_event method expected", L, 3)
  end
end

-- The instruments of asx.exchange{ instruments = ... }: their names by
-- number from 0, and the numbers by name. Names are what every output
-- writes as they are, so they are checked here as the C core checks them.
-- The list is read raw, as its length counts: a table whose __index gave a
-- first name while it had none of its own passed the test with a length
-- of 0, and the exchange was made with no book (a segmentation fault at
-- its first call).
local function instrument_names(list)
  if list == nil then return { [0] = "STOCK" }, { STOCK = 0 }, 1 end
  if type(list) ~= "table" or #list == 0 or rawget(list, 1) == nil then
    argerror(1, "exchange", "instruments: non-empty array of names expected", list, 3)
  end
  local names, index, n = {}, {}, #list
  for i = 1, n do
    local name = rawget(list, i)
    if type(name) ~= "string" or not name:find("^[%w_.-]+$") or #name > 32 then
      argerror(1, "exchange", ("instruments[%d]: a name of 1 to 32 letters, digits, '_', '.' or '-' expected")
        :format(i), name, 3)
    end
    if index[name] then
      error(("bad argument #1 to 'exchange' (instruments: %q is named twice)"):format(name), 3)
    end
    names[i - 1], index[name] = name, i - 1
  end
  return names, index, n
end

-- The finalizer of the books of exchange number tag. An ordinary collection
-- takes the books with their exchange, which no one reaches any more; but
-- lua_close runs every finalizer, of objects still reachable too, and the
-- cdata's (these) before newproxy's __gc: a __gc that traded then reached
-- freed books. So the exchange leaves first the tables every call finds it
-- by (lua/asx/private.lua); a call then finds no exchange, and raises or
-- returns as for a trader that has none (trader.lua's trader_exchange says
-- it is gone). Those tables are weak, so the finalizer holds nothing that
-- would keep the books alive; in an ordinary collection their entries are
-- gone already.
local function book_finalizer(tag)
  return function(b)
    local ex = exchange_at[tag]
    if ex ~= nil then state_of[ex], gone[ex] = nil, true end
    state_at[tag], exchange_at[tag] = nil, nil
    C.asx_book_free_orphaned(b)
  end
end

-- The options asx.exchange takes.
local OPTIONS = { "logger", "loggers", "instruments" }

function M.new(opts)
  if opts ~= nil and type(opts) ~= "table" then
    argerror(1, "exchange", "table of options expected", opts)
  end
  opts = opts or {}
  check.options(opts, OPTIONS, "exchange", 1)
  local names, index, n_instruments = instrument_names(opts.instruments)
  local names_no
  names, names_no = P.intern_names(names, n_instruments)
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

  -- One book per instrument; they share ids, slots, the clock and the event
  -- record, so one anchors table, one delivery and one clock serve them all.
  -- C points at the orders resting in the books and at their accounts: each
  -- order is kept here, at its slot, until another order takes the slot, and
  -- each account in `kept` from its registration (keep_account).
  -- The books go when nothing reaches the exchange, in the collection that
  -- takes the exchange, its state and the orders no one holds: their
  -- finalizers hold nothing, so that one collection frees it all, and free
  -- the books without reading an order (asx_book_free_orphaned), as those
  -- orders are gone by then. An order someone holds reads "cancelled" from
  -- then on (lua/asx/order.lua), and no book is given it again (cancel).
  local anchors, kept = {}, {}
  local books = {}
  -- The tags are the accounts' int32_t (a signed field, whose value compiled
  -- code uses as an index without a conversion): past them, they would repeat.
  if n_exchanges == 0x7FFFFFFF then
    error("exchange: no exchange numbers left (a process makes at most 2^31 - 1 exchanges)", 2)
  end
  -- The number is taken now: books made for an exchange that then failed
  -- (out of memory) must not clear, when collected, the entries of the next.
  n_exchanges = n_exchanges + 1
  local free_book = book_finalizer(n_exchanges)
  for i = 0, n_instruments - 1 do
    local b = i == 0 and C.asx_book_new() or C.asx_book_new_instrument(books[0])
    if b == nil then error("exchange: out of memory", 2) end
    books[i] = ffi.gc(b, free_book)
    assert(C.asx_book_set_name(b, names[i]) == 0)
  end
  local book = books[0]
  -- Traders are listed weakly: a trader keeps its exchange alive, not the
  -- other way round (see EXCHANGE in lua/asx/private.lua).
  local traders = setmetatable({}, { __mode = "v" })
  -- The loggers that take the book's records are here (native, natives of
  -- them), with the function that does, as it was when they were added.
  -- listening says whether
  -- a call must deliver to them (ex.loggers has any the book's sink does
  -- not feed: update_batched keeps it), for the order path to test per
  -- order.
  local st = { book = book, books = books, names = names, index = index, n = n_instruments,
    ev_buffer = C.asx_book_event_buffer(book), ev_count = C.asx_book_event_count(book),
    anchors = anchors, kept = kept, kept_n = 0, kept_limit = 64,
    native = {}, natives = 0, delivering = false, abandoned = 0, listening = false,
    batched = false, watching = false, tag = n_exchanges, names_no = names_no,
    -- ex.loggers and ex.events show copies of these: a strategy that
    -- writes those fields, or edits that list in place, changes what it
    -- reads there, not what the exchange does.
    loggers = {}, events = 0,
    -- ex.traders as it was made: code that writes that field changes what
    -- it reads there, not the list that register keeps and the REPL reads.
    traders = traders,
    -- Loggers with send_event, as they were when added; the number of
    -- loggers without consume_events; ex:on_logger_error's handler.
    sends = {}, lua_loggers = 0, on_logger_error = nil }
  -- The exchange keeps its state, in a metatable of its own behind Exchange
  -- (getmetatable gives Exchange; setmetatable raises); state_of holds both
  -- weakly, so the state goes in the collection that takes the exchange,
  -- where a weak-keyed table's value outlived its key by one collection.
  st.fields = setmetatable({}, FIELDS)
  local ex = setmetatable({ traders = traders, loggers = {}, events = 0 }, { __index = st.fields,
    __newindex = Exchange.__newindex, __tostring = Exchange.__tostring, __metatable = Public, [STATE] = st })
  state_of[ex] = st
  state_at[n_exchanges] = st
  exchange_at[n_exchanges] = ex
  for i = 1, #loggers do ex:add_logger(loggers[i]) end
  return ex
end

-- True when v is an exchange made by asx.exchange.
function M.is_exchange(v)
  return state_of[v] ~= nil
end

-- The book of an exchange, for code that calls the C core itself (tests
-- that check the book's invariants); holding it keeps the book alive.
function M.book(ex)
  local st = state_of[ex]
  if not st then self_error("_book", "exchange", ex, 2) end
  return st.book
end

-- A session's scheduler drives the book's clock (asx_book_set_clock): the
-- book reads the time of the scheduler's last wake-up through the FFI, and
-- the exchange holds the scheduler as long as the book reads it. nil stops
-- the clock, the book keeping the time it had.
function M.set_clock(ex, sched)
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

-- A running session's courier (lua/asx/courier.lua) carries the orders and
-- cancels of traders with a latency, and their fill notices; nil when the
-- session ends.
function M.set_courier(ex, courier)
  exchange_state(ex, "_set_courier").courier = courier
end

local function copy(list)
  local c = {}
  for i = 1, #list do c[i] = list[i] end
  return c
end

function Exchange:add_logger(L)
  local st = exchange_state(self, "add_logger")
  check_logger(L, "add_logger")
  local loggers = st.loggers
  for i = 1, #loggers do
    if loggers[i] == L then return end
  end
  -- A new logger gets the events from now on only.
  flush(self)
  -- The logger's fields are read before the list changes: no code of the
  -- logger's (an __index) runs between the change and update_batched, so
  -- st.lone is always the list's lone Lua logger (deliver relies on it).
  local consume, sends = consume_of(L), type(L.send_event) == "function"
  loggers[#loggers + 1] = L
  if native_consumers[consume] then
    st.native[L] = consume
    st.natives = st.natives + 1
  else
    st.lua_loggers = st.lua_loggers + 1
  end
  if sends then st.sends[L] = true end
  update_batched(self, st)
  self.loggers = copy(loggers)
  C.asx_book_record_events(st.book, 1)
end

-- Detaches a logger; false when it was not attached. The loggers array is
-- replaced, not edited, so a delivery under way goes on over the old one.
function Exchange:remove_logger(L)
  local st = exchange_state(self, "remove_logger")
  local old, new, found = st.loggers, {}, false
  for i = 1, #old do
    if old[i] == L then found = true else new[#new + 1] = old[i] end
  end
  if not found then return false end
  -- A logger removed gets the events held back for it first.
  flush(self)
  st.loggers, self.loggers = new, copy(new)
  if st.native[L] then
    st.native[L] = nil
    st.natives = st.natives - 1
  else
    st.lua_loggers = st.lua_loggers - 1
  end
  st.sends[L] = nil
  update_batched(self, st)
  if not new[1] and not st.watching then C.asx_book_record_events(st.book, 0) end
  return true
end

-- Ends a delivery that cannot complete: it is suspended in a logger that
-- yielded past the yield's check, in a coroutine that code made and has not
-- resumed, and an agent failed on the exchange it left delivering. The
-- book keeps the records' buffer (asx_book_abandon_events), so the
-- suspended delivery, if it is ever resumed, reads records that exist; it
-- sees st.abandoned changed and stops there. With no delivery under way
-- it does nothing and returns false: the records held then are not yet
-- delivered (a batched logger's), and each buffer set aside is kept until
-- the book goes.
function Exchange:_abandon_delivery()
  local st = exchange_state(self, "_abandon_delivery")
  if not st.delivering then return false end
  C.asx_book_abandon_events(st.book)
  st.abandoned = st.abandoned + 1
  st.delivering = false
  return true
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
  local st = exchange_state(self, "on_logger_error")
  if fn ~= nil and type(fn) ~= "function" then argerror(1, "on_logger_error", "function or nil expected", fn) end
  local previous = st.on_logger_error
  st.on_logger_error = fn
  return previous
end

-- The event of emit, sent to every logger with send_event. Returns the
-- failures.
local function send_emitted(ex, loggers, sends, event_type, message, at)
  local failed
  for j = 1, #loggers do
    local L = loggers[j]
    if sends[L] then
      local ok, err, tb = send(L, event_type, message)
      if not ok then failed = logger_failed(ex, failed, L, err, tb, at) end
    end
  end
  return failed
end

-- Sends an event that is not the book's (an agent's, the session's) to every
-- logger that has send_event, with the time and session filled in. A logger
-- that raises is handled as in a delivery of the book's events.
function Exchange:emit(event_type, message)
  local st = exchange_state(self, "emit")
  if type(event_type) ~= "string" then argerror(1, "emit", "event type string expected", event_type) end
  -- Every logger must be able to write what it is sent: InfluxDB drops or
  -- refuses some names (asx.event).
  local why = unwritable_type(event_type)
  if why then check.bad_argument(1, "emit", why, ("%q"):format(event_type)) end
  if type(message) ~= "table" then argerror(2, "emit", "message table expected", message) end
  -- Nor can a JSON file write tables nested without end (asx.event).
  local deep = too_deep(message)
  if deep then
    check.bad_argument(2, "emit", ("message of tables nested at most %d deep expected"):format(event.MAX_DEPTH),
      ("field '%s' nested deeper (or in a cycle)"):format(deep))
  end
  if message.time == nil then message.time = C.asx_book_time(st.book) end
  if message.session == nil then message.session = session_of(st) end
  -- The book's earlier events are numbered, and delivered, first.
  flush(self)
  local loggers, sends = st.loggers, st.sends
  local at = st.events + 1
  st.events, self.events = at, at
  -- An emitted event is delivered like the book's: a logger must not trade
  -- from it either.
  local was_delivering = st.delivering
  local failed
  st.delivering = true
  sending(1)
  failed = send_emitted(self, loggers, sends, event_type, message, at)
  sending(-1)
  st.delivering = was_delivering
  if failed then report_failures(self, failed) end
end

-- For code about to make an event to emit: true when no logger would get
-- it (none has send_event), once it is numbered as emit numbers it, so that
-- its message need not be made.
function Exchange:_emit_unheard()
  local st = exchange_state(self, "_emit_unheard")
  if next(st.sends) ~= nil then return false end
  flush(self)
  st.events = st.events + 1
  self.events = st.events
  return true
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

-- The positions of an account in the instruments after the first, which C
-- reads through acct.positions: kept as long as the account.
local positions_of = setmetatable({}, { __mode = "k" })

-- Gives acct a position in every instrument of st, from wanted ({ [name] =
-- stocks }, checked by the trader: asx.trader{ stocks = { ... } }). Raises
-- for a name st does not have, before anything changes.
local function set_positions(st, acct, wanted, fname)
  if wanted then
    for name in pairs(wanted) do
      if st.index[name] == nil then
        error(("bad argument #1 to '%s' (stocks: unknown instrument %q)"):format(fname, name), 3)
      end
    end
  end
  if st.n > 1 then
    local arr = ffi.new("int64_t[?]", st.n - 1)
    positions_of[acct] = arr
    local rw = ffi.cast("asx_account_rw *", acct)
    rw.positions = arr
    rw.n_positions = st.n - 1
  end
  if wanted then
    for name, v in pairs(wanted) do C.asx_account_set_position(acct, st.index[name], v) end
  end
end

-- Keeps the account of a trader that joins the exchange of state st alive
-- while C may point at it (while an order of its rests), the trader
-- collected or not. It is kept from the registration on, not per resting
-- order, so that the order path writes nothing for it: an account at each
-- resting order's slot cost a table store per order, and the collector a
-- second array as long as the anchors to mark. The accounts of collected
-- traders with nothing resting are dropped when the kept ones have doubled
-- since the last look, so the table holds at most twice those still needed.
local owners = P.owners
local account_at = P.account_at
local function keep_account(st, acct)
  local kept = st.kept
  kept[acct.id] = acct
  account_at[acct.id] = acct
  local n = st.kept_n + 1
  if n > st.kept_limit then
    n = 0
    for id, a in pairs(kept) do
      if a.resting == 0 and owners[id] == nil then kept[id] = nil else n = n + 1 end
    end
    st.kept_limit = 2 * n + 64
  end
  st.kept_n = n
end

-- A trader belongs to the first exchange it is registered with, for life:
-- its account's orders can rest in that exchange's books only, and it holds
-- a position in each of its instruments.
function Exchange:register(t)
  local st = exchange_state(self, "register")
  local acct = account_of(t)
  if not acct then argerror(1, "register", "trader expected", t) end
  P.note_fields(t)
  if acct.tag == st.tag then return t end
  if acct.tag ~= 0 then
    error(("register: %s is already registered with another exchange"):format(tostring(t)), 2)
  end
  set_positions(st, acct, P.wanted_positions[t], "register")
  P.wanted_positions[t] = nil
  -- The trader keeps its exchange alive; its calls find it by acct.tag.
  rawset(t, EXCHANGE, self)
  ffi.cast("asx_account_rw *", acct).tag = st.tag
  st.traders[acct.id] = t
  keep_account(st, acct)
  P.set_names(acct.id, st.names_no)
  return t
end

-- Whether a call that trades on the exchange of state st, made while st
-- is delivering, is refused: yes from inside the delivery (a logger that
-- trades) and from any coroutine (an agent's, whose failure on it the
-- session handles, or one that a logger runs). On the main thread, with no
-- delivery below the call, the delivery was cut short by an error outside
-- the loggers' protected calls (the stack overflowed, or memory ran out, in
-- a recursion that trades) or is suspended in a coroutine: it is
-- abandoned, as an agent's failure abandons it in a session, and the call
-- goes on; else the exchange would refuse every order from then on.
local running, getinfo = coroutine.running, debug.getinfo
local function refuses(st)
  if running() ~= nil then return true end
  local level = 2
  while true do
    local info = getinfo(level, "f")
    if info == nil then break end
    local f = info.func
    if f == send or f == deliver_now or f == deliver_lone then return true end
    level = level + 1
  end
  exchange_at[st.tag]:_abandon_delivery()
  return false
end
P.refuses = refuses

-- The exchange's traders by id, weakly: the list register keeps, whatever
-- code did to ex.traders.
function P.traders_of(ex) return state_of[ex].traders end

-- Cancels o when it rests in one of st's books (the book checks it, so an
-- order of another exchange, live or collected, is simply not resting
-- there): true when it did. The caller then delivers the cancel's event when
-- st.listening or st.watching; it has the exchange, or finds it only then.
local function cancel(st, o, fname)
  if st.delivering and refuses(st) then error(fname .. ": a logger must not trade", 3) end
  local book = st.books[o.instrument_]
  return book ~= nil and C.asx_book_cancel(book, o) == 1
end

function Exchange:cancel(o)
  local st = exchange_state(self, "cancel")
  if not istype(order_t, o) then argerror(1, "cancel", "order expected", o) end
  -- An order resting here is at its slot; one of a collected exchange,
  -- whose book was freed without reading it, must not reach a book.
  if st.anchors[o.slot_] ~= o then return false end
  local ok = cancel(st, o, "cancel")
  if ok and (st.listening or st.watching) then deliver(self) end
  return ok
end

-- What the traders' calls (lua/asx/trader.lua) share with the exchange's.
P.deliver, P.cancel = deliver, cancel
-- Fills are watched from now on (lua/asx/fills.lua): the records held back
-- are delivered before, and the next ones after each call.
function P.start_watching(ex, st)
  flush(ex)
  st.watching = true
  update_batched(ex, st)
end

-- Delivers the records held back for the loggers that take them in
-- batches (the report), for code that reads what those loggers made.
-- Returns the number of events (ex.events, as the exchange has it).
function M.flush_events(ex)
  local st = exchange_state(ex, "_flush_events")
  flush(ex)
  return st.events
end

-- True when the exchange has a logger (ex.loggers, as the exchange has it).
function Exchange:_logging()
  return exchange_state(self, "_logging").loggers[1] ~= nil
end

for k in pairs(Exchange) do OWN[k] = true end
-- The methods, for the prompt's completion (lua/asx/repl/complete.lua).
P.exchange_methods = Exchange
P.exchange_module = M
return M
