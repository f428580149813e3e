-- Order-entry latency and on_fill: messages that reach the book later than
-- they were sent, through the session's scheduler, and fills heard without
-- polling. Everything runs on the virtual clock; times and balances are
-- compared exactly.
local asx = require("asx")
local run = require("spec.helpers.run")

-- A logger that keeps the book's events as "time type fields" lines.
local function recorder()
  local L = { lines = {} }
  function L:send_event(event_type, m)
    local line
    if event_type == "exchange" then
      line = ("%s trade %d@%d %d>%d"):format(m.time, m.amount, m.price, m.seller, m.buyer)
    elseif event_type == "order" then
      line = ("%s order #%d %s %d@%s by %d"):format(m.time, m.id, m.side, m.amount,
        tostring(m.price), m.trader)
    elseif event_type == "cancel" then
      line = ("%s cancel #%d by %d remaining %d%s"):format(m.time, m.id, m.trader, m.remaining,
        m.reason and (" " .. m.reason) or "")
    else
      return
    end
    self.lines[#self.lines + 1] = line
  end
  return L
end

-- An agent that follows a script: { at = session time, fn(self) } steps,
-- sleeping from one to the next.
local Scripted = asx.Trader:extend("scripted")
function Scripted:cycle()
  for _, step in ipairs(self.steps) do
    -- On the real clock a turn may start a little after its time.
    self:sleep(math.max(0, step[1] - self:now()))
    step[2](self)
  end
end

local function agent(opts, steps)
  opts.steps = steps
  if opts.money == nil then opts.money = 10000 end
  if opts.stocks == nil then opts.stocks = 100 end
  return Scripted:new(opts)
end

local function session(traders, opts)
  opts = opts or {}
  opts.clock, opts.seed, opts.traders = "virtual", opts.seed or 1, traders
  return asx.session(opts)
end

describe("latency", function()
  it("delivers an order at send time + latency; it is pending until then", function()
    local seen = {}
    local a = agent({ latency = 0.5 }, {
      { 0, function(self)
        local o = self:sell(5, 100)
        seen.order = o
        seen.at_send = { o.status, o.id, o.amount, o.filled, o.side, o.price }
      end },
    })
    local watcher = agent({}, {
      { 0.25, function(self) seen.at_025 = { seen.order.status, self.exchange:best_ask() } end },
      -- A message due at an instant reaches the book before the agents due then.
      { 0.5, function(self) seen.at_05 = { seen.order.status, seen.order.id, self.exchange:best_ask() } end },
    })
    local L = recorder()
    local s = session({ a, watcher }, { logger = L })
    s:run()
    assert.are.same({ "pending", nil, 5, 0, "sell", 100 }, seen.at_send)
    assert.are.same({ "pending" }, seen.at_025)
    assert.are.same({ "open", 1, 100 }, seen.at_05)
    assert.are.same({ ("0.5 order #1 sell 5@100 by %d"):format(a.id) }, L.lines)
    assert.are.equal(0.5, s:now())
  end)

  it("orders two agents' crossing orders by arrival, not by sending", function()
    -- a sends first but is slower: b's sell rests first, and a's buy takes it at b's price.
    local a = agent({ latency = 0.3, money = 1000, stocks = 0 }, {
      { 0, function(self) self:buy(5, 101) end },
    })
    local b = agent({ latency = 0.1, money = 0, stocks = 5 }, {
      { 0.1, function(self) self:sell(5, 99) end },
    })
    local L = recorder()
    session({ a, b }, { logger = L }):run()
    assert.are.same({
      ("0.2 order #1 sell 5@99 by %d"):format(b.id),
      ("0.3 order #2 buy 5@101 by %d"):format(a.id),
      ("0.3 trade 5@99 %d>%d"):format(b.id, a.id),
    }, L.lines)
    assert.are.same({ 505, 5 }, { a.money, a.stocks })
    assert.are.same({ 495, 0 }, { b.money, b.stocks })
  end)

  it("breaks a tie in arrival time by the order of sending", function()
    local a = agent({ latency = 0.2, stocks = 5 }, { { 0, function(self) self:sell(5, 100) end } })
    local b = agent({ latency = 0.1, stocks = 5 }, { { 0.1, function(self) self:sell(5, 100) end } })
    local c = agent({ money = 500, stocks = 0 }, { { 1, function(self) self:buy(5, 100) end } })
    session({ a, b, c }):run()
    assert.are.same({ 10500, 0 }, { a.money, a.stocks })
    assert.are.same({ 10000, 5 }, { b.money, b.stocks })
    assert.are.same({ 0, 5 }, { c.money, c.stocks })
    local _, sells = b:standing_orders()
    assert.are.equal(1, #sells)
  end)

  describe("a cancel racing a fill", function()
    local function race(taker_sends_at)
      local st = {}
      local maker = agent({ latency = 1, money = 0, stocks = 10 }, {
        { 0, function(self) st.order = self:sell(10, 100) end },
        { 2, function(self) st.cancel = self:cancel(st.order) end },
      })
      local taker = agent({ latency = 0.5, money = 1000, stocks = 0 }, {
        { taker_sends_at, function(self) st.buy = self:buy(10, 100) end },
      })
      local L = recorder()
      session({ maker, taker }, { logger = L }):run()
      return st, maker, taker, L.lines
    end

    it("is too late when the fill arrives first: nothing to undo", function()
      local st, maker, taker, lines = race(2.2)
      assert.is_true(st.cancel)
      assert.are.same({ "filled", 0, 10 }, { st.order.status, st.order.amount, st.order.filled })
      assert.are.same({ 1000, 0 }, { maker.money, maker.stocks })
      assert.are.same({ 0, 10 }, { taker.money, taker.stocks })
      assert.are.same({
        ("1 order #1 sell 10@100 by %d"):format(maker.id),
        ("2.7 order #2 buy 10@100 by %d"):format(taker.id),
        ("2.7 trade 10@100 %d>%d"):format(maker.id, taker.id),
        ("3 cancel #1 by %d remaining 0 too_late"):format(maker.id),
      }, lines)
    end)

    it("writes the too late cancel to the built-in JSONL and CSV logs like any book event", function()
      local path = run.tmpname(".jsonl")
      local st = {}
      local maker = agent({ latency = 1, money = 0, stocks = 10 }, {
        { 0, function(self) st.order = self:sell(10, 100) end },
        { 2, function(self) self:cancel(st.order) end },
      })
      local taker = agent({ latency = 0.5, money = 1000, stocks = 0 }, {
        { 2.2, function(self) self:buy(10, 100) end },
      })
      local loggers = require("asx.loggers")
      local log, csv = loggers.jsonl(path), loggers.csv(path .. ".csv", { events = { "cancel" } })
      session({ maker, taker }, { loggers = { log, csv } }):run()
      log:close()
      csv:close()
      local rows = run.slurp(path .. ".csv")
      os.remove(path .. ".csv")
      assert.are.equal(("time,session,id,trader,side,remaining,reason,instrument\n"
        .. "3,1,1,%d,sell,0,too_late,STOCK\n"):format(maker.id), rows)
      local cancels = {}
      for l in run.slurp(path):gmatch("[^\n]+") do
        if l:find('"type":"cancel"', 1, true) then cancels[#cancels + 1] = l end
      end
      os.remove(path)
      assert.are.same({ ('{"type":"cancel","time":3,"session":"1","id":1,"trader":%d,"side":"sell","remaining":0,'
        .. '"reason":"too_late","instrument":"STOCK"}'):format(maker.id) }, cancels)
    end)

    it("wins when it arrives first: the buy rests, nothing trades", function()
      local st, maker, taker, lines = race(2.6)
      assert.are.same({ "cancelled", 0 }, { st.order.status, st.order.filled })
      assert.are.same({ "open", 10 }, { st.buy.status, st.buy.amount })
      assert.are.same({ 0, 10 }, { maker.money, maker.stocks })
      assert.are.same({ 1000, 0 }, { taker.money, taker.stocks })
      assert.are.same({
        ("1 order #1 sell 10@100 by %d"):format(maker.id),
        ("3 cancel #1 by %d remaining 10"):format(maker.id),
        ("3.1 order #2 buy 10@100 by %d"):format(taker.id),
      }, lines)
    end)
  end)

  it("cancels a pending order once it has arrived: a trader's messages never overtake", function()
    local st = {}
    local lat = { 1, 0.1 }
    local a = agent({ latency = function(self)
      self.sent = (self.sent or 0) + 1
      return lat[self.sent]
    end }, {
      { 0, function(self)
        st.order = self:buy(5, 90)
        st.cancel = self:cancel(st.order)
        st.status = st.order.status
      end },
    })
    local L = recorder()
    session({ a }, { logger = L }):run()
    assert.are.same({ true, "pending", "cancelled" }, { st.cancel, st.status, st.order.status })
    assert.are.same({
      ("1 order #1 buy 5@90 by %d"):format(a.id),
      ("1 cancel #1 by %d remaining 5"):format(a.id),
    }, L.lines)
  end)

  it("draws a latency function once per message, with the agent's own generator", function()
    local drawn = {}
    local A = asx.Trader:extend("jittery")
    A.latency = function(self)
      local d = 0.01 + self:random() * 0.01
      drawn[#drawn + 1] = d
      return d
    end
    function A:cycle()
      for _ = 1, 3 do
        self:buy(1, 10)
        self:sleep(1)
      end
    end
    local t = A:new({ money = 100 })
    local times = {}
    local L = { send_event = function(_, event_type, m)
      if event_type == "order" then times[#times + 1] = m.time end
    end }
    session({ t }, { logger = L, seed = 7 }):run()
    assert.are.equal(3, #drawn)
    assert.are.same({ drawn[1], 1 + drawn[2], 2 + drawn[3] }, times)
  end)

  it("changes nothing with latency 0, with a session default of 0, or without a session", function()
    local function lines_of(field, default)
      local R = asx.Trader:extend("r")
      R.latency = field
      function R:cycle()
        for _ = 1, 200 do
          if self:random() < 0.5 then
            self:buy(self:random(1, 5), self:random(95, 105))
          else
            self:sell(self:random(1, 5), self:random(95, 105))
          end
          self:sleep(self:random())
        end
      end
      local traders = {}
      for i = 1, 5 do traders[i] = R:new({ money = 5000, stocks = 50 }) end
      local L = recorder()
      session(traders, { logger = L, seed = 11, latency = default }):run()
      -- Trader ids differ from run to run; their positions do not.
      local lines, first = {}, traders[1].id - 1
      for i, line in ipairs(L.lines) do
        lines[i] = line:gsub("(%d+)>(%d+)", function(a, b) return (a - first) .. ">" .. (b - first) end)
          :gsub("by (%d+)", function(a) return "by " .. (a - first) end)
      end
      for i, t in ipairs(traders) do lines[#lines + 1] = ("%d %d %d"):format(i, t.money, t.stocks) end
      return lines
    end
    local plain = lines_of(nil, nil)
    assert.is_true(#plain > 500)
    assert.are.same(plain, lines_of(0, nil))
    assert.are.same(plain, lines_of(nil, 0))
    assert.are.same(plain, lines_of(function() return 0 end, nil))

    local ex = asx.exchange()
    local t = asx.trader({ exchange = ex, money = 0, stocks = 5, latency = 3 })
    local o = t:sell(5, 100)
    assert.are.same({ "open", 1 }, { o.status, o.id })
  end)

  it("uses the session default for traders without the field; the field wins", function()
    local a = agent({}, { { 0, function(self) self:sell(1, 100) end } })
    local b = agent({ latency = 0.25 }, { { 0, function(self) self:sell(1, 101) end } })
    local L = recorder()
    session({ a, b }, { logger = L, latency = 0.5 }):run()
    assert.are.same({
      ("0.25 order #1 sell 1@101 by %d"):format(b.id),
      ("0.5 order #2 sell 1@100 by %d"):format(a.id),
    }, L.lines)
  end)

  describe("messages in flight", function()
    it("are dropped when their agent is killed: its pending orders end cancelled", function()
      local st = {}
      local a = agent({ latency = 1 }, {
        { 0, function(self) st.o = self:sell(5, 100) end },
        { 5, function() end },
      })
      local s
      local killer = agent({}, { { 0.5, function() st.killed = s:kill(a) end } })
      s = session({ a, killer })
      s:run()
      assert.is_true(st.killed)
      assert.are.same({ "cancelled", 0, 5 }, { st.o.status, st.o.filled, st.o.amount })
      assert.are.same(0, s.exchange:stats().orders)
      assert.is_nil(s.exchange:best_ask())
    end)

    it("are dropped when their agent fails", function()
      local st = {}
      local a = agent({ latency = 1 }, {
        { 0, function(self) st.o = self:sell(5, 100); error("broken", 0) end },
      })
      local s = session({ a }, { on_error = function(_, _, text) st.err = text end })
      s:run()
      assert.matches("broken", st.err)
      assert.are.equal("cancelled", st.o.status)
      assert.are.same(0, s.exchange:stats().orders)
    end)

    it("keep the session going until they arrive, within the duration", function()
      local st = {}
      local a = agent({ latency = 2 }, { { 1, function(self) st.o = self:sell(5, 100) end } })
      local s = session({ a })
      s:run()
      assert.are.equal(3, s:now())
      assert.are.equal("open", st.o.status)
    end)

    it("arrive at the largest time when send time + latency overflows it, in order", function()
      local st = {}
      local a = agent({ latency = 1e308 }, { { 1e308, function(self)
        st.o = self:sell(5, 100)
        st.c = self:cancel(st.o)
        st.b = self:buy(1, 50)
      end } })
      local s = session({ a })
      s:run()
      assert.are.equal(1.7976931348623157e308, s:now())
      assert.are.same({ "cancelled", "open" }, { st.o.status, st.b.status })
      assert.are.same({ 2, 1 }, { s.exchange:stats().orders, s.exchange:stats().cancels })
      assert.are.equal(50, s.exchange:best_bid())
    end)

    it("never arrive after the session's end: pending orders end cancelled", function()
      local st = {}
      local a = agent({ latency = 2 }, { { 1, function(self)
        st.o = self:sell(5, 100)
        st.b = self:buy(1, 50)
      end } })
      local s = session({ a }, { duration = 2 })
      s:run()
      assert.are.equal(2, s:now())
      assert.are.same({ "cancelled", "cancelled" }, { st.o.status, st.b.status })
      assert.are.same(0, s.exchange:stats().orders)
      -- The exchange works on without the session, at once.
      local o = a:sell(1, 100)
      assert.are.equal("open", o.status)
    end)

    it("are not the exchange's to cancel: ex:cancel of a pending order is false", function()
      local st = {}
      local a = agent({ latency = 1 }, { { 0, function(self)
        st.o = self:sell(5, 100)
        st.ex_cancel = self.exchange:cancel(st.o)
      end } })
      session({ a }):run()
      assert.are.same({ false, "open" }, { st.ex_cancel, st.o.status })
    end)

    it("cancel_all on arrival cancels every order sent before it", function()
      local st = {}
      local a = agent({ latency = 1 }, {
        { 0, function(self)
          st.o1 = self:sell(5, 100)
          st.sent = self:cancel_all()
          st.o2 = self:sell(5, 101)
        end },
      })
      session({ a }):run()
      assert.are.same({ true, "cancelled", "open" }, { st.sent, st.o1.status, st.o2.status })
    end)

    it("amend and replace travel too, after the messages sent before them", function()
      -- They acted at once, overtaking the trader's order still in flight:
      -- a latency could be passed by with replace.
      local st, lines = {}, {}
      local L = { send_event = function(_, t, m)
        if t == "order" or t == "cancel" or t == "amend" then
          lines[#lines + 1] = ("%s %s #%d%s%s"):format(m.time, t, m.id, m.to and (" to " .. m.to) or "",
            m.reason and (" " .. m.reason) or "")
        end
      end }
      local a = agent({ latency = 1 }, {
        { 0, function(self)
          local o = self:sell(5, 100)
          st.amended = self:amend(o, 3)
          st.n = self:replace(o, 2, 101)
          st.at_send = { o.status, o.amount, st.n.status, st.n.id }
          -- A replace of an order that no longer rests when it arrives
          -- places nothing.
          local gone = self:sell(1, 99)
          self:cancel(gone)
          st.n2 = self:replace(gone, 1, 98)
        end },
        { 0.5, function() st.at_05 = { st.n.status, st.n2.status } end },
        { 1, function(self)
          st.at_1 = { st.n.status, st.n.id, st.n.amount, st.n2.status, self.exchange:best_ask() }
          st.late = self:amend(st.n, 1)
          self:cancel(st.n)
        end },
      })
      session({ a }, { logger = L }):run()
      assert.are.same({ "pending", 5, "pending", nil }, st.at_send)
      assert.is_true(st.amended)
      assert.are.same({ "pending", "pending" }, st.at_05)
      assert.are.same({ "open", 2, 2, "cancelled", 101 }, st.at_1)
      assert.is_true(st.late)
      assert.are.same({ "1 order #1", "1 amend #1 to 3", "1 cancel #1 replace", "1 order #2", "1 order #3",
        "1 cancel #3", "2 amend #2 to 1", "2 cancel #2" }, lines)
    end)
  end)

  it("repeats a run from its seed, byte for byte (asx-host)", function()
    local dir = run.tmpdir()
    local f = assert(io.open(dir .. "/jit.lua", "w"))
    f:write([[
local asx = require("asx")
local J = asx.Trader:extend("jit")
J.money, J.stocks = 5000, 50
function J:latency() return self:random() * 0.2 end
function J:cycle()
  while true do
    local p = self:random(95, 105)
    local o = self:random() < 0.5 and self:buy(self:random(1, 3), p) or self:sell(self:random(1, 3), p)
    if self:random() < 0.3 then self:cancel(o) end
    self:sleep(self:random() * 0.3)
  end
end
return J
]])
    f:close()
    local r = run.sh([[
for i in 1 2; do
  "$HOST" -q --clock virtual --seed 9 -d 20 --latency 0.05 --log "$D/run$i.jsonl" "$D/jit.lua:20" > "$D/out$i.txt"
done]], dir)
    assert.are.equal(0, r.status)
    local one, two = run.slurp(dir .. "/run1.jsonl"), run.slurp(dir .. "/run2.jsonl")
    assert.is_true(#one > 10000)
    assert.are.equal(one, two)
    assert.truthy(one:find('"reason":"too_late"', 1, true))
    local function summary(i) return (run.slurp(("%s/out%d.txt"):format(dir, i)):gsub("run%d%.jsonl", "run.jsonl")) end
    assert.are.same(run.steady(summary(1)), run.steady(summary(2)))
    os.execute("rm -rf " .. dir)
  end)

  it("asx-host --latency sets the default; a strategy's field wins", function()
    local dir = run.tmpdir()
    local function strategy(name, field, price)
      local f = assert(io.open(("%s/%s.lua"):format(dir, name), "w"))
      f:write(([[
local asx = require("asx")
local S = asx.Trader:extend("%s")
S.latency = %s
function S:cycle() self:sell(1, %d) end
return S
]]):format(name, field, price))
      f:close()
    end
    strategy("plain", "nil", 100)
    strategy("quick", "0.125", 101)
    -- Each order's time@price, as the run with this --latency logs them.
    local function orders(latency)
      local r = run.sh([["$HOST" -q --clock virtual --seed 1 --latency ]] .. latency .. [[ --log "$D/o.jsonl" ]]
        .. [["$D/plain.lua:1" "$D/quick.lua:1"]], dir)
      assert.are.same({ 0, "" }, { r.status, r.stderr })
      local times = {}
      for line in run.slurp(dir .. "/o.jsonl"):gmatch("[^\n]+") do
        if line:find('"type":"order"', 1, true) then
          times[#times + 1] = line:match('"time":([%d.]+)') .. "@" .. line:match('"price":(%d+)')
        end
      end
      return times
    end
    assert.are.same({ "0.125@101", "0.5@100" }, orders("0.5"))
    local r = run.sh([["$HOST" --latency -1 x.lua]], dir)
    assert.are.equal(2, r.status)
    assert.matches("%-%-latency: non%-negative number of seconds expected, got '%-1'", r.stderr)
    -- -0 is 0, as a class's latency = -0.0 is: it was refused here.
    for _, zero in ipairs({ "-0", "-0.0", "-0e3" }) do
      assert.are.same({ "0@100", "0.125@101" }, orders(zero))
    end
    -- Hexadecimal, as --set plain.latency=0x1p-1 takes it: it was refused here.
    assert.are.same({ "0.125@101", "0.5@100" }, orders("0x1p-1"))
    assert.are.same({ "0.125@101", "0.25@100" }, orders("0x.4"))
    r = run.sh([["$HOST" --latency -0.5 x.lua]], dir)
    assert.are.equal(2, r.status)
    assert.matches("%-%-latency: non%-negative number of seconds expected, got '%-0%.5'", r.stderr)
    os.execute("rm -rf " .. dir)
  end)

  it("works on the real clock: the scheduler wakes for an arrival no agent waits for", function()
    local st = {}
    local a = agent({ latency = 0.1 }, { { 0, function(self) st.o = self:sell(5, 100) end } })
    local times = {}
    local L = { send_event = function(_, event_type, m)
      if event_type == "order" then times[#times + 1] = m.time end
    end }
    local s = asx.session({ clock = "real", seed = 1, traders = { a }, logger = L, duration = 5 })
    s:run()
    -- The session ends once the last message has arrived, long before 5 s.
    assert.are.equal("open", st.o.status)
    assert.are.equal(1, #times)
    assert.is_true(times[1] >= 0.1 and s:now() >= 0.1 and s:now() < 5)
  end)

  it("arrives in the REPL's step that reaches its time", function()
    local dir = run.tmpdir()
    local f = assert(io.open(dir .. "/s.lua", "w"))
    f:write([[
local asx = require("asx")
local S = asx.Trader:extend("seller")
function S:cycle() self:sell(1, 100); self:sleep(10) end
return S
]])
    f:close()
    local r = run.sh([[printf 'step(0.25)\nbook()\nstep(0.25)\nbook()\no = me:buy(1, 100)\no.status\n]]
      .. [[step(0.5)\no.status\n' | "$HOST" -i -q --seed 1 --clock virtual --latency 0.5 "$D/s.lua:1"]], dir)
    assert.are.equal(0, r.status)
    assert.are.same(run.block([[
buy  price  sell
----------------
spread -, mid -
buy  price  sell
       100  1 (1)  best ask
---------------------------
spread -, mid -
"pending"
"filled"]]), { unpack(run.lines(r.stdout), 1, 9) })
    os.execute("rm -rf " .. dir)
  end)

  it("is safe against Lua code that calls the session's courier itself", function()
    local st = {}
    local a = agent({ latency = 1 }, {
      { 0, function(self)
        st.rest = self:sell(5, 100)
      end },
      { 2, function(self)
        local c = st.session.courier
        -- A resting order sent again, an order dropped twice, a message of no trader's:
        c:send_order(self, 0, st.rest, 1, 100, 5)
        c:send_order({}, 0, st.rest, 1, 100, 5)
        c:send_cancel(self, 0, "not an order")
        c:drop(self)
      end },
    })
    local s = session({ a })
    st.session = s
    s:run()
    assert.are.same({ "open", 5, 1 }, { st.rest.status, st.rest.amount, s.exchange:stats().orders })
    assert.are.equal(nil, require("asx.ffi").C.asx_book_check(asx._book(s.exchange)))
  end)

  it("keeps the book whole when Lua code replaces the courier's notice with trading", function()
    local errs = {}
    local maker = agent({ stocks = 5 }, { { 0, function(self) self:sell(5, 100) end } })
    maker:on_fill(function() end)
    local s
    local taker = agent({ money = 1000 }, { { 1, function(self)
      s.courier.notice = function() self:buy(1, 1) end
      self:buy(2, 100)
    end } })
    s = session({ maker, taker }, { on_error = function(_, _, text) errs[#errs + 1] = text:match("^[^\n]*") end })
    s:run()
    assert.matches(": buy: a logger must not trade$", errs[1])
    assert.are.same({ 102, 3 }, { taker.stocks, maker.stocks })
    assert.are.equal(nil, require("asx.ffi").C.asx_book_check(asx._book(s.exchange)))
    assert.is_false(s.exchange:delivering())
  end)

  describe("bad arguments", function()
    local function err_of(fn)
      local ok, e = pcall(fn)
      assert.is_false(ok)
      return (tostring(e):gsub("^[^:]*:%d+: ", ""))
    end

    it("name the function and the argument and change nothing", function()
      assert.are.equal("bad argument #1 to 'new' (latency: non-negative number of seconds or function expected, got -1)",
        err_of(function() asx.trader({ latency = -1 }) end))
      assert.are.equal("bad argument #1 to 'new' (latency: non-negative number of seconds or function expected, got inf)",
        err_of(function() asx.trader({ latency = math.huge }) end))
      local t = asx.trader({ money = 10 })
      assert.are.equal("bad value for 'latency' (non-negative number of seconds or function expected, got string)",
        err_of(function() t.latency = "fast" end))
      assert.are.equal("bad value for 'latency' (non-negative number of seconds or function expected, got nan)",
        err_of(function() t.latency = 0 / 0 end))
      assert.is_nil(t.latency)
      assert.are.equal("bad argument #1 to 'session' (latency: non-negative number of seconds expected, got -0.5)",
        err_of(function() asx.session({ latency = -0.5 }) end))
      assert.are.equal("bad argument #1 to 'session' (latency: non-negative number of seconds expected, got function)",
        err_of(function() asx.session({ latency = print }) end))
      assert.are.equal("bad argument #1 to 'on_fill' (function or nil expected, got 5)",
        err_of(function() t:on_fill(5) end))
      assert.are.equal("bad argument #1 to 'on_fill' (trader expected, got string)",
        err_of(function() t.on_fill("x") end))
      assert.are.equal("bad value for 'on_fill' (function or nil expected, got boolean)",
        err_of(function() t.on_fill = true end))
      assert.are.equal("bad value for 'on_fill' (function or nil expected, got string)",
        err_of(function() asx.Trader:extend("x").on_fill = "later" end))
      assert.are.equal("bad argument #1 to 'new' (on_fill: function expected, got 1)",
        err_of(function() asx.trader({ on_fill = 1 }) end))
      assert.is_nil(rawget(t, "on_fill"))
    end)

    it("replacing a trader's latency is checked too, and a bad value changes nothing", function()
      local t = asx.trader({ money = 10, latency = 0.25 })
      for _, case in ipairs({
        { -1, "-1" }, { 0 / 0, "nan" }, { math.huge, "inf" }, { "fast", "string" }, { true, "boolean" },
      }) do
        assert.are.equal("bad value for 'latency' (non-negative number of seconds or function expected, got "
          .. case[2] .. ")", err_of(function() t.latency = case[1] end))
        assert.are.equal(0.25, t.latency)
      end
      local f = function() return 1 end
      t.latency = 0.5
      t.latency = f
      assert.are.equal(f, t.latency)
      assert.are.equal("bad value for 'latency' (non-negative number of seconds or function expected, got -2)",
        err_of(function() t.latency = -2 end))
      assert.are.equal(f, t.latency)
      -- nil removes the trader's own value: its class's (or the session's) applies.
      local Slow = asx.Trader:extend("slow")
      Slow.latency = 3
      local u = Slow:new({ latency = 1 })
      u.latency = nil
      assert.are.equal(3, u.latency)
      assert.are.equal("bad value for 'latency' (non-negative number of seconds or function expected, got -1)",
        err_of(function() u.latency = -1 end))
      assert.are.equal(3, u.latency)
    end)

    it("replacing a class's latency is checked on every assignment, and a bad value changes nothing", function()
      local Slow = asx.Trader:extend("slow")
      Slow.latency = 0.5
      Slow.latency = 2
      for _, case in ipairs({ { -1, "-1" }, { 0 / 0, "nan" }, { math.huge, "inf" }, { "fast", "string" } }) do
        assert.are.equal("bad value for 'latency' (non-negative number of seconds or function expected, got "
          .. case[2] .. ")", err_of(function() Slow.latency = case[1] end))
        assert.are.equal(2, Slow.latency)
      end
      -- A subclass inherits it and may have its own; nil gives the parent's back.
      local Slower = Slow:extend("slower")
      local t = Slower:new({ money = 10 })
      assert.are.equal(2, Slower.latency)
      assert.are.equal(2, t.latency)
      Slower.latency = 4
      Slower.latency = 5
      assert.are.same({ 5, 5, 2 }, { Slower.latency, t.latency, Slow.latency })
      assert.are.equal("bad value for 'latency' (non-negative number of seconds or function expected, got -5)",
        err_of(function() Slower.latency = -5 end))
      assert.are.equal(5, t.latency)
      Slower.latency = nil
      assert.are.same({ 2, 2 }, { Slower.latency, t.latency })
      assert.are.equal("bad value for 'latency' (non-negative number of seconds or function expected, got -1)",
        err_of(function() asx.Trader.latency = -1 end))
      assert.is_nil(asx.Trader.latency)
    end)

    it("a latency function that refers to its trader or class does not keep it alive", function()
      local gone = setmetatable({}, { __mode = "k" })
      do
        local t = asx.trader({ money = 10 })
        t.latency = function() return t.money / 100 end
        assert.are.equal(0.1, t.latency(t))
        local u
        u = asx.trader({ money = 10, latency = function() return u.money end })
        local Cls = asx.Trader:extend("kept")
        Cls.latency = function() return Cls.name == "kept" and 1 or 0 end
        local v = Cls:new({ money = 10 })
        assert.are.equal(1, v.latency(v))
        gone[t], gone[u], gone[Cls], gone[v] = "trader", "trader from new", "class", "instance"
      end
      collectgarbage("collect")
      collectgarbage("collect")
      assert.are.same({}, (function()
        local left = {}
        for _, what in pairs(gone) do left[#left + 1] = what end
        return left
      end)())
    end)

    it("a --set latency or a class's latency that is not one stops asx-host before it runs", function()
      local dir = run.tmpdir()
      local f = assert(io.open(dir .. "/slow.lua", "w"))
      f:write([[
local asx = require("asx")
local S = asx.Trader:extend("slow")
S.latency = 0.5
S.latency = tonumber(os.getenv("LATENCY") or "0.5") -- a replacement: checked too
-- rawset passes by the check on assignment; asx-host checks before it starts.
if os.getenv("RAW") then rawset(S, "latency", tonumber(os.getenv("RAW"))) end
function S:cycle() self:sell(1, 100) end
return S
]])
      f:close()
      for _, case in ipairs({
        { "--set slow.latency=-1", "asx-host: --set slow.latency=-1: bad value for 'latency' "
          .. "(non-negative number of seconds or function expected, got -1)" },
        { "--set slow.latency=-0.25", "asx-host: --set slow.latency=-0.25: bad value for 'latency' "
          .. "(non-negative number of seconds or function expected, got -0.25)" },
        { "--set slow.latency=inf", "asx-host: --set slow.latency=inf: not a finite number" },
      }) do
        local r = run.sh([["$HOST" -q --clock virtual -d 1 ]] .. case[1] .. [[ "$D/slow.lua:1"]], dir)
        assert.are.equal(2, r.status)
        assert.are.equal(case[2], r.stderr:match("^[^\n]*"))
      end
      local r = run.sh([[LATENCY=-3 "$HOST" -q --clock virtual -d 1 "$D/slow.lua:1"]], dir)
      assert.are.equal(2, r.status)
      assert.are.equal(("asx-host: %s/slow.lua:4: bad value for 'latency' (non-negative number of "
        .. "seconds or function expected, got -3)"):format(dir), r.stderr:match("^[^\n]*"))
      r = run.sh([[RAW=-3 "$HOST" -q --clock virtual -d 1 "$D/slow.lua:1"]], dir)
      assert.are.equal(2, r.status)
      assert.are.equal(("asx-host: %s/slow.lua: the class's latency field must be a non-negative number of "
        .. "seconds or function (got -3)"):format(dir), r.stderr:match("^[^\n]*"))
      r = run.sh([["$HOST" -q --clock virtual -d 1 --set slow.latency=0.25 "$D/slow.lua:1"]], dir)
      assert.are.equal(0, r.status)
      os.execute("rm -rf " .. dir)
    end)

    it("a bad latency at send time fails the call and changes nothing", function()
      local errs = {}
      local Bad = asx.Trader:extend("bad")
      assert.are.equal("bad value for 'latency' (non-negative number of seconds or function expected, got -2)",
        err_of(function() Bad.latency = -2 end))
      -- rawset passes by the check on assignment; the send checks again.
      rawset(Bad, "latency", -2)
      function Bad:cycle() self:buy(1, 10) end
      local Nan = asx.Trader:extend("nan")
      function Nan.latency() return 0 / 0 end
      function Nan:cycle() self:sell(1, 10) end
      local b, n = Bad:new({ money = 10 }), Nan:new({ stocks = 1 })
      local s = session({ b, n }, { on_error = function(_, _, text) errs[#errs + 1] = text:match("^[^\n]*") end })
      s:run()
      assert.are.same({
        tostring(b) .. ": bad value for 'latency' (non-negative number of seconds or function expected, got -2)",
        tostring(n) .. ": bad value for 'latency' (non-negative number of seconds expected from the latency function, got nan)",
      }, (function()
        local out = {}
        -- Each names the line of the call that sent, in this file.
        for i, e in ipairs(errs) do
          local count
          out[i], count = e:gsub(": spec/latency_spec%.lua:%d+: ", ": ", 1)
          assert.are.equal(1, count, e)
        end
        return out
      end)())
      assert.are.same(0, s.exchange:stats().orders)
    end)
  end)
end)

describe("on_fill", function()
  it("hears the fills of an order that replace placed, at once and later", function()
    -- They were never heard: replace did not watch its new order.
    local ex = asx.exchange()
    local a = asx.trader({ exchange = ex, money = 1000, stocks = 10 })
    local b = asx.trader({ exchange = ex, money = 1000, stocks = 10 })
    local heard = {}
    a:on_fill(function(_, o, fill) heard[#heard + 1] = { o.id, o.status, fill.amount, fill.price } end)
    b:sell(2, 12)
    local n = a:replace(a:buy(3, 10), 3, 12)
    b:sell(1, 12)
    assert.are.same({ { 3, "open", 2, 12 }, { 3, "filled", 1, 12 } }, heard)
    assert.are.equal("filled", n.status)
  end)

  it("without a session runs right after the call that filled, before it returns", function()
    local ex = asx.exchange()
    local calls = {}
    local maker = asx.trader({ exchange = ex, money = 0, stocks = 20 })
    local taker = asx.trader({ exchange = ex, money = 10000 })
    maker:on_fill(function(self, o, fill)
      calls[#calls + 1] = { self == maker, o.id, o.status, fill.price, fill.amount, fill.buyer, fill.seller }
    end)
    local rest = maker:sell(10, 100)
    taker:buy(4, 100)
    assert.are.same({ { true, 1, "open", 100, 4, taker.id, maker.id } }, calls)
    assert.are.equal(rest, ex:level("sell", 100)[1])
    taker:buy(6, 100)
    assert.are.same({ true, 1, "filled", 100, 6, taker.id, maker.id }, calls[2])
    maker:on_fill(nil)
    maker:sell(1, 100)
    taker:buy(1, 100)
    assert.are.equal(2, #calls)
    -- A handler set after an order rested hears of its fills too; one that
    -- raises does so once the call's effects stand.
    local late = maker:sell(2, 100)
    maker:on_fill(function(_, o) calls[#calls + 1] = o.id; error("handler says no", 0) end)
    local ok, err = pcall(taker.buy, taker, 2, 100)
    assert.are.same({ false, "handler says no", late.id, "filled", 1300 },
      { ok, err, calls[3], late.status, maker.money })
  end)

  it("without a session stops a handler whose orders fill at once again and again, with one error", function()
    -- Each fill of a self-trade calls the handler twice (buyer and seller):
    -- past the first error each level ran the other, and the calls doubled
    -- with each level, the memory with them, without end.
    local ex = asx.exchange()
    local t = asx.trader({ exchange = ex, money = 10000, stocks = 100 })
    local calls = 0
    t:on_fill(function(self)
      calls = calls + 1
      self:sell(1, 10)
      self:buy(1, 10)
    end)
    t:sell(1, 10)
    assert.are.same({ false, "on_fill: handlers nested 100 deep (an on_fill whose orders fill at once, again and again)" },
      { pcall(t.buy, t, 1, 10) })
    assert.are.same({ 100, false }, { calls, ex:delivering() })
    -- The exchange and the handlers work as before.
    t:on_fill(function() calls = calls + 1 end)
    t:sell(1, 20)
    assert.are.equal("filled", t:buy(1, 20).status)
    assert.are.equal(102, calls)
  end)

  it("stops the session from a handler that calls os.exit", function()
    local H = asx.Trader:extend("exiting")
    function H.on_fill() os.exit(4) end
    function H:cycle() self:sell(1, 100); self:sleep(5) end
    local h = H:new({ stocks = 1 })
    local after = {}
    local taker = agent({ money = 100 }, {
      { 1, function(self) self:buy(1, 100) end },
      { 2, function() after[#after + 1] = "ran" end },
    })
    local s = session({ h, taker })
    s:run()
    assert.are.same({ 4, 1, {} }, { s.exit_code, s:now(), after })
    assert.matches("^os.exit%(4%) in exiting#%d+$", s.stopped_by)
  end)

  it("in a session runs after the turn that filled, at its time, before the next agent", function()
    local log = {}
    local Maker = asx.Trader:extend("maker")
    function Maker:on_fill(o, fill)
      log[#log + 1] = ("fill %s #%d %d@%d %s"):format(self:now(), o.id, fill.amount, fill.price, o.status)
      -- It may trade: the hedge goes out with the agent's latency.
      self:buy(fill.amount, fill.price - 1)
    end
    function Maker:cycle()
      self:sell(3, 100)
      self:sleep(10)
    end
    local m = Maker:new({ money = 1000, stocks = 3, latency = 0.5 })
    local taker = agent({ money = 1000, stocks = 0 }, {
      { 1, function(self) self:buy(2, 100); log[#log + 1] = "taker turn ends" end },
      { 1, function() log[#log + 1] = "taker next turn" end },
    })
    local other = agent({}, { { 1, function() log[#log + 1] = "other at 1" end } })
    local L = recorder()
    session({ m, taker, other }, { logger = L }):run()
    assert.are.same({ "taker turn ends", "fill 1 #1 2@100 open", "other at 1", "taker next turn" }, log)
    assert.are.same(("1.5 order #3 buy 2@99 by %d"):format(m.id), L.lines[#L.lines])
    assert.are.same({ 1000 + 200, 1 }, { m.money, m.stocks })
  end)

  it("fails its agent when it raises or sleeps, and is not called for ended agents", function()
    local errs = {}
    local Loud = asx.Trader:extend("loud")
    function Loud.on_fill() error("no thanks", 0) end
    function Loud:cycle() self:sell(1, 100); self:sell(1, 101); self:sleep(5) end
    local Sleepy = asx.Trader:extend("sleepy")
    function Sleepy:on_fill() self:sleep(1) end
    function Sleepy:cycle() self:sell(1, 100); self:sleep(5) end
    local calls = 0
    local Gone = asx.Trader:extend("gone")
    function Gone.on_fill() calls = calls + 1 end
    function Gone:cycle() self:sell(1, 100) end
    local loud, sleepy, gone = Loud:new({ stocks = 2 }), Sleepy:new({ stocks = 1 }), Gone:new({ stocks = 1 })
    local taker = agent({ money = 1000 }, { { 1, function(self) self:buy(3, 100) end } })
    local s = session({ loud, sleepy, gone, taker }, { on_error = function(_, t, text)
      errs[#errs + 1] = tostring(t) .. " " .. text:match("^[^\n]*")
    end })
    s:run()
    assert.are.equal(2, #errs)
    assert.matches("^loud#%d+ loud#%d+: no thanks$", errs[1])
    assert.matches("^sleepy#%d+ sleepy#%d+: .*sleep: only an agent can sleep", errs[2])
    assert.are.equal(0, calls)
    -- loud's other order was cancelled with the failure.
    assert.are.same({ "failed", 0 }, { s.sched:state(1), #select(2, loud:standing_orders()) })
    assert.are.same({ 100, 1 }, { loud.money, loud.stocks })
    assert.are.same({ 100, 0 }, { sleepy.money, sleepy.stocks })
    assert.are.same({ 100, 0 }, { gone.money, gone.stocks })
  end)
end)

describe("orders without latency or on_fill", function()
  it("take the path that looks for neither until a trader or class sets one", function()
    local dir = run.tmpdir()
    local f = assert(io.open(dir .. "/probe.lua", "w"))
    f:write([[
local asx = require("asx")
local used = debug.getregistry()["asx.private"].used
local Probe = asx.Trader:extend("probe")
function Probe:cycle()
  print("before:", used.any, used.on_fill, used.latency)
  self.on_fill = function() end
  print("after:", used.any, used.on_fill, used.latency)
end
return Probe
]])
    f:close()
    local r = run.sh([["$HOST" -q --clock virtual -d 1 "$D/probe.lua:1"]], dir)
    assert.are.equal(0, r.status)
    assert.truthy(r.stdout:find("before:\tfalse\tfalse\tfalse\nafter:\ttrue\ttrue\tfalse\n"), r.stdout)
    os.execute("rm -rf " .. dir)
  end)

  -- Each case runs in a process of its own, where no other trader or class
  -- has noted a latency or on_fill: the field then acted only once another
  -- had, so the same trader's order rested at once ("open"), or its fill
  -- went unheard (0).
  it("act when set past the assignment (rawset, the class's table), from register and s:add on", function()
    local cases = {
      { "instance latency", "rawset(t, 'latency', 1)", "pending\t0\t1" },
      { "class latency", "rawset(C, 'latency', 1)", "pending\t0\t1" },
      { "instance on_fill", "rawset(t, 'on_fill', heard)", "open\t1\t1" },
      { "on_fill in the class's table", "getmetatable(C).__index.on_fill = heard", "open\t1\t1" },
    }
    local dir = run.tmpdir()
    for _, case in ipairs(cases) do
      local f = assert(io.open(dir .. "/case.lua", "w"))
      f:write(([[
local asx = require("asx")
local C = asx.Trader:extend("c")
local n = 0
local function heard() n = n + 1 end
local t = C:new({ money = 1000, stocks = 10 })
%s
local status
function C:cycle()
  status = self:sell(1, 100).status
  self:sleep(2)
end
local ex = asx.exchange()
local u = asx.trader({ exchange = ex, money = 1000 })
local B = asx.Trader:extend("b")
function B:cycle() self:sleep(1.5); u:buy(1, 100) end
asx.session({ traders = { t, B:new({}) }, exchange = ex, clock = "virtual", seed = 1, duration = 3 }):run()
print(status, n, ex:stats().trades)
]]):format(case[2]))
      f:close()
      local out = run.output(("'%s' '%s/case.lua' 2>&1"):format(run.LUA, dir))
      assert.are.equal(case[1] .. ": " .. case[3] .. "\n", case[1] .. ": " .. out)
    end
    os.execute("rm -rf " .. dir)
  end)
end)
