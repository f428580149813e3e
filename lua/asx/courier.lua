-- asx.courier: what travels between a session's traders and its exchange.
--
-- A trader with a latency (its `latency` field, seconds or a function
-- (self) -> seconds drawn per message; else the session's default) sends
-- orders and cancels that reach the book later: an order sent at session
-- time t arrives at t + latency. A trader's messages never overtake one
-- another (a cancel never arrives before its order): each arrives at
-- max(t + latency, the arrival of the trader's previous message).
--
-- Messages wait in one binary heap per session, ordered by (arrival time,
-- send sequence), so a run is repeatable from its seed; no message needs an
-- agent or a libuv handle. The scheduler runs the courier at the earliest
-- arrival (sched:courier_at), before any agent due at the same instant, one
-- message per call, so stops, pauses, steps and batches treat messages as
-- they treat wake-ups.
--
-- The heap also carries fill notices: an agent with an on_fill handler
-- hears of each fill of its orders in a turn of its own, at the fill's time,
-- right after the turn in which it happened (before the next agent due
-- then). A notice runs for a live agent only; an error in the handler
-- (sleeping included: only the agent's cycle can sleep) fails the agent.
--
-- What happens to messages in flight: an agent that fails or is stopped
-- loses them (its pending orders end "cancelled", never reaching the book);
-- the session does not end before the last message arrives, unless the
-- duration comes first: then messages still in flight are dropped and their
-- orders end "cancelled". Nothing of a dropped message is logged: it never
-- reached the exchange.
local check = require("asx.check")
require("asx.private")
local P = debug.getregistry()["asx.private"]
require("asx.fills")
local fills = P.fills

local type, ipairs = type, ipairs
local pcall, xpcall, error, setmetatable, collectgarbage = pcall, xpcall, error, setmetatable, collectgarbage
local huge, traceback = math.huge, debug.traceback
-- The largest time, DBL_MAX.
local LATEST = 1.7976931348623157e308

local ORDER, CANCEL, CANCEL_ALL, NOTICE, AMEND, REPLACE = 1, 2, 3, 4, 5, 6

local Courier = {}
Courier.__index = Courier

local M = {}

-- (time, seq) order of two messages.
local function before(a, b)
  if a.time ~= b.time then return a.time < b.time end
  return a.seq < b.seq
end

local function push(heap, m)
  local n = #heap + 1
  heap[n] = m
  while n > 1 do
    local p = (n - n % 2) / 2
    if not before(heap[n], heap[p]) then break end
    heap[n], heap[p] = heap[p], heap[n]
    n = p
  end
end

local function pop(heap)
  local top, n = heap[1], #heap
  heap[1] = heap[n]
  heap[n] = nil
  n = n - 1
  local i = 1
  while true do
    local l, r, m = 2 * i, 2 * i + 1, i
    if l <= n and before(heap[l], heap[m]) then m = l end
    if r <= n and before(heap[r], heap[m]) then m = r end
    if m == i then break end
    heap[i], heap[m] = heap[m], heap[i]
    i = m
  end
  return top
end

-- True when v is a latency a field may hold.
function M.is_latency(v)
  return type(v) == "function" or (type(v) == "number" and v >= 0 and v < huge)
end
-- What a latency is, for every error about one.
M.LATENCY = "non-negative number of seconds or function"
M.LATENCY_EXPECTED = M.LATENCY .. " expected"

-- The error of a latency field that would hold v, or nil when v is a
-- latency: one message for every place that sets or reads the field.
function M.latency_error(v)
  if M.is_latency(v) then return nil end
  return ("bad value for 'latency' (%s, got %s)"):format(M.LATENCY_EXPECTED, check.show(v))
end

-- A courier for session s, whose traders without a latency field have
-- default (seconds). What a message does when it arrives is the traders'
-- own code (P.arrive, lua/asx/trader.lua), out of reach of Lua code, which
-- checks that what it is given is what it sent: the courier object itself
-- is the session's, and Lua code may call it with anything.
function M.new(s, default)
  if default and default > 0 then P.note_used("latency") end
  return setmetatable({
    session = s, sched = s.sched, default = default or 0,
    heap = {}, seq = 0,
    -- Per trader: messages in flight, and the arrival of the last one sent.
    inflight = {}, last = {},
    -- Traders whose agent failed or was stopped: what they still send (the
    -- session cancelling their orders) acts at once.
    gone = {},
  }, Courier)
end

-- The delay of t's next message, or nil when it goes to the book at once:
-- latency 0 and nothing of t's in flight, which is today's path exactly.
-- level: where a bad latency is reported (the caller of buy, sell, cancel).
function Courier:delay(t, level)
  if self.gone[t] then return nil end
  local d = t.latency
  if d == nil then d = self.default end
  if type(d) == "function" then
    d = d(t)
    if type(d) ~= "number" or not (d >= 0 and d < huge) then
      error(("bad value for 'latency' (non-negative number of seconds expected from the latency function, got %s)")
        :format(check.show(d)), level)
    end
  elseif type(d) ~= "number" or not (d >= 0 and d < huge) then
    error(M.latency_error(d), level)
  end
  if d == 0 and not self.inflight[t] then return nil end
  return d
end

function Courier:_arm()
  local head = self.heap[1]
  self.sched:courier_at(head and head.time or nil)
end

function Courier:_push(m)
  self.seq = self.seq + 1
  m.seq = self.seq
  local heap = self.heap
  push(heap, m)
  if heap[1] == m then self:_arm() end
end

-- Sends a message of t's that arrives after delay seconds.
function Courier:send(t, delay, kind, o, side, price, amount, new)
  local at = self.sched:now() + delay
  -- A time past the largest number (1e308 s after 1e308 s) arrives at that
  -- number, as a wake-up does: the scheduler reads inf as no message at all.
  if at == huge then at = LATEST end
  local last = self.last[t]
  if last and last > at then at = last end
  self.last[t] = at
  self.inflight[t] = (self.inflight[t] or 0) + 1
  self:_push({ time = at, kind = kind, trader = t, order = o, side = side, price = price,
    amount = amount, new = new })
end

function Courier:send_order(t, delay, o, side, price, amount)
  self:send(t, delay, ORDER, o, side, price, amount)
end

function Courier:send_cancel(t, delay, o)
  self:send(t, delay, CANCEL, o)
end

function Courier:send_cancel_all(t, delay)
  self:send(t, delay, CANCEL_ALL)
end

-- t:amend(o, amount) and t:replace(o, ...), whose new order n is pending
-- until it arrives (lua/asx/amend.lua).
function Courier:send_amend(t, delay, o, amount)
  self:send(t, delay, AMEND, o, nil, nil, amount)
end

function Courier:send_replace(t, delay, o, n)
  self:send(t, delay, REPLACE, o, nil, nil, nil, n)
end

-- A fill of order o, for t's handler, now.
function Courier:notice(t, o, fill)
  self:_push({ time = self.sched:now(), kind = NOTICE, trader = t, order = o, fill = fill })
end

-- A handler's error as text with its traceback: debug.traceback gives any
-- other value back as it is, whose tostring was an address.
local function handler_error(e)
  return traceback(check.error_text(e))
end

-- Runs a handler for t's agent as a turn of its own; an error fails it.
function Courier:_notify(m)
  local s, sched = self.session, self.sched
  local agent = s:_agent(m.trader)
  if not agent or sched:state(agent) ~= "waiting" then return end
  local handler = fills.handler(m.trader)
  if not handler then return end
  sched:act_for(agent)
  local ok, err = xpcall(handler, handler_error, m.trader, m.order, m.fill)
  sched:act_for(nil)
  if ok or s.exit_code ~= nil then return end
  -- A handler that ran out of memory left its garbage: LuaJIT does not
  -- collect when an allocation fails, and the report of the failure (then
  -- the next agents' turns) ran out of memory again (as guard.send). What
  -- it kept in its trader's own fields is let go of first, as for a cycle
  -- (lua/asx/trader.lua, P.release_fields).
  if err == "not enough memory" then
    P.release_fields(m.trader)
    collectgarbage()
  end
  sched:finish(agent, "failed")
  s:_agent_error(agent, err)
end

-- What message m does on arrival.
function Courier:_act(m)
  local ops, t, kind = P.arrive, m.trader, m.kind
  if kind == ORDER then
    ops.order(t, m.order, m.side, m.price, m.amount)
  elseif kind == CANCEL then
    ops.cancel(t, m.order)
  elseif kind == CANCEL_ALL then
    ops.cancel_all(t)
  elseif kind == AMEND then
    P.arrive_amend(t, m.order, m.amount)
  elseif kind == REPLACE then
    P.arrive_replace(t, m.order, m.new)
  else
    self:_notify(m)
  end
end

-- The scheduler's courier: delivers the first message (its time has come)
-- and sets the time of the next, whatever the first does.
function Courier:deliver()
  local heap = self.heap
  local m = heap[1]
  local ok, err = true, nil
  if m then
    pop(heap)
    local t = m.trader
    if m.kind ~= NOTICE then
      local n = (self.inflight[t] or 1) - 1
      if n == 0 then
        self.inflight[t], self.last[t] = nil, nil
      else
        self.inflight[t] = n
      end
    end
    if not m.dead then ok, err = pcall(self._act, self, m) end
  end
  self:_arm()
  if not ok then error(err, 0) end
end

-- Drops t's messages in flight (its agent failed or was stopped): its
-- pending orders end cancelled.
function Courier:drop(t)
  self.gone[t] = true
  for _, m in ipairs(self.heap) do
    if m.trader == t and not m.dead then
      m.dead = true
      if m.kind == ORDER then P.arrive.dropped(m.order) end
      if m.kind == REPLACE then P.arrive.dropped(m.new) end
    end
  end
end

-- The session is over: what is still in flight never arrives.
function Courier:finish()
  for _, m in ipairs(self.heap) do
    if m.kind == ORDER and not m.dead then P.arrive.dropped(m.order) end
    if m.kind == REPLACE and not m.dead then P.arrive.dropped(m.new) end
  end
  self.heap = {}
  self.inflight = {}
  self.last = {}
  self.sched:courier_at(nil)
end

return M
