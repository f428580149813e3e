-- Fills heard without polling: t:on_fill(fn), or a class's on_fill(order,
-- fill) method, is called once for each fill of one of the trader's orders,
-- with the order (as it is when the handler runs) and the trade as loggers
-- get it (price, amount, buyer, seller, buy_order, sell_order, aggressor,
-- time).
--
-- When it runs: never inside matching. Without a session, right after the
-- call that traded has delivered its events to the loggers, before that call
-- returns. In a session, in a turn of the agent's own at the fill's time,
-- right after the turn in which the fill happened (lua/asx/courier.lua).
--
-- How: an order of a trader that hears its fills is watched (st.watched,
-- by order id) while it can still trade; once an exchange watches an order
-- its book records events whether or not a logger listens, and each
-- delivery reads its trades for watched orders. Exchanges where nobody
-- listens pay nothing.
require("asx.private")
local P = debug.getregistry()["asx.private"]
-- Its functions take the exchange's private state on trust: they live in
-- the private state too, and require("asx.fills") returns nothing of them.
if P.fills then return true end

local F = require("asx.ffi")
local check = require("asx.check")
local event = require("asx.event")
local C = F.C
local type, tonumber, pcall, error = type, tonumber, pcall, error

local TRADE, CANCEL, TRIM, OPEN = C.ASX_EV_TRADE, C.ASX_EV_CANCEL, C.ASX_EV_TRIM, C.ASX_OPEN
local owners, account_of, state_of = P.owners, P.account_of, P.state_of

local M = {}

-- Handlers registered with t:on_fill(fn).
local handlers = setmetatable({}, { __mode = "k" })

local function register(self, fn)
  if not account_of(self) then check.self_error("on_fill", "trader", self, 2) end
  if fn ~= nil and type(fn) ~= "function" then
    check.argerror(1, "on_fill", "function or nil expected", fn)
  end
  handlers[self] = fn
  if fn then
    P.note_used("on_fill")
    M.watch_resting(self)
  end
end
-- Trader.on_fill: t:on_fill(fn) sets fn(t, order, fill) as t's handler (nil
-- removes it). A class that defines on_fill(order, fill) itself is its own
-- handler.
M.register = register

-- The function to call for t's fills, or nil.
function M.handler(t)
  local fn = handlers[t]
  if fn then return fn end
  local m = t.on_fill
  if m ~= register and type(m) == "function" then return m end
  return nil
end

-- Makes the exchange's book record its events from now on, and the
-- exchange deliver them after each call (lua/asx/exchange.lua).
local function start(ex, st)
  P.start_watching(ex, st)
  st.watched = st.watched or {}
  C.asx_book_record_events(st.book, 1)
end

-- Before a submit by t: true when t hears of its fills (its book records
-- events then, so the submit's trades can be read).
function M.hears(t, st)
  if not M.handler(t) then return false end
  if not st.watching then start(P.exchange_at[st.tag], st) end
  return true
end

function M.watch(st, o)
  st.watched[tonumber(o.id_)] = o
end

-- Watches the orders of t resting now (a handler set after they rested).
function M.watch_resting(t)
  local ex = P.exchange_of(t)
  if ex == nil then return end
  local st = state_of[ex]
  if not st.watching then start(ex, st) end
  local acct, anchors = account_of(t), st.anchors
  local o = C.asx_account_first(acct)
  while o ~= nil do
    M.watch(st, anchors[o.slot_])
    o = C.asx_account_next(o)
  end
end

-- Whether the exchange must deliver a call's events though no logger
-- listens; and whether its book may stop recording them.
function M.watching(st) return st.watching end

-- Reads a delivery's events for fills of watched orders: each goes to
-- notify(t, order, fill). Orders that can no longer trade stop being
-- watched.
function M.collect(ex, st, evs, n, notify)
  local watched = st.watched
  local done
  for i = 0, n - 1 do
    local e = evs[i]
    local ty = e.type
    if ty == TRADE then
      for side = 1, 2 do
        local id = tonumber(side == 1 and e.order or e.order2)
        local o = watched[id]
        if o then
          local t = owners[o.trader_]
          if t then notify(t, o, event.message(e, P.session_id(ex))) end
          done = done or {}
          done[#done + 1] = id
        end
      end
    elseif ty == CANCEL or (ty == TRIM and e.amount2 == 0) then
      watched[tonumber(e.order)] = nil
    end
  end
  if done then
    for i = 1, #done do
      local o = watched[done[i]]
      if o and o.status_ ~= OPEN then watched[done[i]] = nil end
    end
  end
end

-- A handler that trades may be filled at once, and the handlers of those
-- fills run inside its call: an on_fill whose orders fill against its own
-- (or two traders' handlers quoting into each other) nested without end,
-- and as each level ran its other handlers after the first error, the
-- calls grew exponentially, with the memory, and never returned. Past
-- MAX_DEPTH nested deliveries the whole chain stops, with one error.
M.MAX_DEPTH = 100
local depth, overflow = 0, nil

local function invoke(t, o, fill)
  local fn = M.handler(t)
  if fn then fn(t, o, fill) end
end

-- Without a session: calls the handlers of a delivery's fills, in order;
-- the first error is raised once all have run.
function M.call_now(list)
  if depth >= M.MAX_DEPTH then
    overflow = overflow or ("on_fill: handlers nested %d deep (an on_fill whose orders fill at once, again "
      .. "and again)"):format(M.MAX_DEPTH)
    error(overflow, 0)
  end
  depth = depth + 1
  local first_err
  for i = 1, #list, 3 do
    if overflow then break end
    local ok, err = pcall(invoke, list[i], list[i + 1], list[i + 2])
    if not ok and first_err == nil then first_err = err end
  end
  depth = depth - 1
  if depth == 0 then overflow = nil end
  if first_err ~= nil then error(first_err, 0) end
end

P.fills = M
return true
