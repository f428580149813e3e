-- A session's agents as the prompt drives them: spawn adds agents to a
-- session, kill stops one, agent_state tells where each is.
local asx = require("asx")

-- Sleeps `nap` seconds at a time, counting its wake-ups.
local Sleeper = asx.Trader:extend("sleeper")
function Sleeper:cycle()
  self.woke = 0
  while true do
    self:sleep(self.nap or 1)
    self.woke = self.woke + 1
  end
end

describe("session:spawn", function()
  it("adds count agents of a class, made with the options, after the others", function()
    local s = asx.session({ clock = "virtual", seed = 1, duration = 3, traders = { Sleeper:new({}) } })
    local added = s:spawn(Sleeper, 2, { money = 7, stocks = 3 })
    assert.are.equal(2, #added)
    assert.are.equal(3, #s.traders)
    assert.are.equal(added[1], s.traders[2])
    assert.are.equal(added[2], s.traders[3])
    assert.are.same({ 7, 3 }, { added[1].money, added[1].stocks })
    s:run()
    assert.are.same({ 3, 3, 3 }, { s.traders[1].woke, added[1].woke, added[2].woke })
  end)

  -- The agents made before the one whose new raised stayed in the
  -- session, two of them here.
  it("adds none when a class's new raises part way, or makes one add refuses, naming that one", function()
    local s = asx.session({ clock = "virtual", seed = 1, duration = 1, instruments = { "A" } })
    local news, fail_at, bad = 0, 3, nil
    local Flaky = asx.Trader:extend("flaky")
    Flaky.cycle = Sleeper.cycle
    function Flaky.new(cls, opts)
      news = news + 1
      if news == fail_at then
        if bad then return bad end
        error("no room for a third", 0)
      end
      return asx.Trader.new(cls, opts)
    end
    assert.are.same({ false, "spawn: agent 3 of 5 could not be made, so none was added: no room for a third" },
      { pcall(s.spawn, s, Flaky, 5) })
    news, bad = 0, asx.Trader.new(Flaky, { stocks = { B = 1 } })
    assert.are.same({ false, "spawn: agent 3 of 4 could not be made, so none was added: "
      .. 'stocks: unknown instrument "B"' }, { pcall(s.spawn, s, Flaky, 4) })
    news, bad = 0, {}
    assert.are.same({ false, "spawn: agent 3 of 3 could not be made, so none was added: "
      .. "not a trader with a cycle method (table)" }, { pcall(s.spawn, s, Flaky, 3) })
    -- A new that hands back the trader it made before: add refused the
    -- second once the first had been added, which stayed.
    news, bad = 0, nil
    local made
    function Flaky.new(cls, opts)
      made = made or asx.Trader.new(cls, opts)
      return made
    end
    local ok, err = pcall(s.spawn, s, Flaky, 2)
    assert.are.same({ false, ("spawn: agent 2 of 2 could not be made, so none was added: "
      .. "the same trader as agent 1 (trader#%d)"):format(made.id) }, { ok, err })
    assert.are.same({ 0, 0 }, { #s.traders, #s.class_list })
    Flaky.new = nil
    news = 0
    assert.are.equal(2, #s:spawn(Flaky, 2))
    assert.are.equal(2, #s.traders)
  end)

  it("adds one agent by default", function()
    local s = asx.session({ clock = "virtual", seed = 1, duration = 1 })
    assert.are.equal(1, #s:spawn(Sleeper))
  end)

  it("names the argument it cannot use, and adds nothing", function()
    local s = asx.session({ clock = "virtual", seed = 1, duration = 1 })
    assert.has_error(function() s:spawn({}) end,
      "bad argument #1 to 'spawn' (Trader class with cycle expected, got table)")
    assert.has_error(function() s:spawn(Sleeper, 0) end,
      "bad argument #2 to 'spawn' (positive integer count up to 2^53 - 1 expected, got 0)")
    -- Past the limit it said only "positive integer count expected".
    assert.has_error(function() s:spawn(Sleeper, 2 ^ 53) end,
      "bad argument #2 to 'spawn' (positive integer count up to 2^53 - 1 expected, got 9007199254740992)")
    assert.are.equal(0, #s.traders)
  end)

  it("refuses more agents than the memory available can hold, as asx-host does, making none", function()
    -- A library script's spawn(Cls, 1e9) took all the machine's memory
    -- until the kernel killed it.
    local news = 0
    local Counted = Sleeper:extend("counted")
    function Counted.new(cls, opts) news = news + 1 return asx.Trader.new(cls, opts) end
    local s = asx.session({ clock = "virtual", seed = 1, duration = 1, traders = { Sleeper:new({}) } })
    local ok, err = pcall(s.spawn, s, Counted, 1e12)
    assert.is_false(ok)
    assert.matches("^bad argument #2 to 'spawn' %(1000000000000 agents need about 807000%.0 GB of memory "
      .. "%(807 bytes each%) and [%d.]+ GB are available%)$", err)
    assert.are.same({ 1, 0 }, { #s.traders, news })
    -- Two instruments: each agent holds a second position.
    local two = asx.session({ clock = "virtual", seed = 1, duration = 1, instruments = { "A", "B" } })
    err = select(2, pcall(two.spawn, two, Counted, 1e12))
    assert.matches("^bad argument #2 to 'spawn' %(1000000000000 agents need about 815000%.0 GB of memory "
      .. "%(815 bytes each%)", err)
    -- A count that fits is added.
    assert.are.equal(2, #s:spawn(Counted, 2))
    assert.are.same({ 3, 2 }, { #s.traders, news })
  end)

  it("refuses add() once the memory read last, less what the agents added since take, is used up", function()
    local s = asx.session({ clock = "virtual", seed = 1, duration = 1 })
    s:spawn(Sleeper, 1)
    -- The reading spawn took, as if the machine had 807 bytes left: one
    -- more agent of 807 bytes fits, a second needs a fresh reading.
    s.memory_read = { available = 807, agents = 1 }
    s:add(Sleeper:new({}))
    assert.are.same({ available = 807, agents = 1 }, s.memory_read)
    s:add(Sleeper:new({}))
    assert.are_not.equal(807, s.memory_read.available)
    assert.are.equal(2, s.memory_read.agents)
    -- A reading that leaves less than one agent: add refuses, adds nothing.
    s.memory_read = nil
    local memory = require("asx.memory")
    local real = memory.available
    memory.available = function() return 806 end
    local t = Sleeper:new({})
    local ok, err = pcall(s.add, s, t)
    memory.available = real
    assert.is_false(ok)
    assert.are.equal("bad argument #1 to 'add' (1 agent needs about 0.0 GB of memory (807 bytes each) and "
      .. "0.0 GB are available)", err)
    assert.are.equal(3, #s.traders)
    assert.is_nil(s:agent_state(t))
  end)

  it("refuses an ended session, with add, before any agent is made or any event logged", function()
    -- They were added, and their loggers told they had started, by a
    -- session that would never run them.
    local seen = {}
    local L = { send_event = function(_, event_type, m) seen[#seen + 1] = event_type .. " " .. m.time end }
    local s = asx.session({ clock = "virtual", seed = 1, duration = 2, logger = L, traders = { Sleeper:new({}) } })
    s:run()
    local made = asx.Trader:extend("made")
    made.cycle = Sleeper.cycle
    local news = 0
    function made.new(cls, opts) news = news + 1 return asx.Trader.new(cls, opts) end
    local t = Sleeper:new({})
    assert.has_error(function() s:spawn(made, 2) end, "spawn: this session has ended; make a new one")
    assert.has_error(function() s:add(t) end, "add: this session has ended; make a new one")
    assert.are.same({ 1, 0 }, { #s.traders, news })
    assert.are.same({ "session 0", "agent 0", "session 2" }, seen)
    assert.is_nil(s:agent_state(t))
  end)
end)

describe("session:add", function()
  it("reads a trader's cycle and balances once, so that a metatable of its own cannot leave half an agent", function()
    -- A trader whose own metatable gave a cycle at the check and a number
    -- when the scheduler took it, or raised for its money, was refused
    -- after the session had counted it: the next agent was another's
    -- number, and the summary failed ('state' (agent number expected)).
    local s = asx.session({ clock = "virtual", seed = 1, duration = 2 })
    local a, b = Sleeper:new({ money = 5 }), Sleeper:new({ money = 7 })
    local class_index = getmetatable(a).__index
    local reads = 0
    setmetatable(a, { __index = function(t, k)
      if k == "cycle" then
        reads = reads + 1
        return reads == 1 and Sleeper.cycle or 42
      end
      if k == "money" then error("no money here") end
      return class_index(t, k)
    end })
    assert.are.equal(1, s:add(a))
    assert.are.equal(2, s:add(b))
    assert.are.equal(1, reads)
    s:run()
    assert.are.same({ "waiting", "waiting" }, { s:agent_state(a), s:agent_state(b) })
    local summary = s:summary()
    assert.are.same({ { "trader", 1, 5 }, { "sleeper", 1, 7 } }, {
      { summary.strategies[1].name, summary.strategies[1].agents, summary.strategies[1].start_value },
      { summary.strategies[2].name, summary.strategies[2].agents, summary.strategies[2].start_value } })
  end)
end)

describe("an agent's cycle", function()
  -- A class's cycle redefined at the prompt after its agents were added
  -- was not the one they ran: each had taken its cycle at add.
  it("is its class's as it is at the agent's first turn: a redefinition before then is the one that runs", function()
    local Cls = asx.Trader:extend("redefined")
    local Sub = Cls:extend("sub")
    local ran = {}
    function Cls:cycle() ran[#ran + 1] = "old " .. self.id end
    local s = asx.session({ clock = "virtual", seed = 1, duration = 3 })
    local a, b, c, own = Cls:new({}), Cls:new({}), Sub:new({}), Cls:new({})
    -- A cycle of the trader's own is not its class's.
    function own.cycle(self) ran[#ran + 1] = "own " .. self.id end
    s:add(a)
    s:add(c)
    s:add(own)
    function Cls:cycle()
      ran[#ran + 1] = "new " .. self.id .. " at " .. self:now()
      self:sleep(2)
      ran[#ran + 1] = "new again " .. self.id .. " at " .. self:now()
    end
    -- At time 1 the cycle changes again: a, which has started, runs on in
    -- its own; b, added then, starts in the newest.
    local Adder = asx.Trader:extend("adder")
    function Adder:cycle()
      self:sleep(1)
      Cls.cycle = function(t) ran[#ran + 1] = "newest " .. t.id .. " at " .. t:now() end
      s:add(b)
    end
    s:add(Adder:new({}))
    s:run()
    assert.are.same({ "new " .. a.id .. " at 0", "new " .. c.id .. " at 0", "own " .. own.id,
      "newest " .. b.id .. " at 1", "new again " .. a.id .. " at 2", "new again " .. c.id .. " at 2" }, ran)
  end)

  -- Each class's start is called beforehand with no trader, so that
  -- LuaJIT compiles it (lua/asx/session.lua, warm), and again after the
  -- first turns: none of those calls reaches the cycle.
  it("runs once per agent, with its trader, for agents added before and after the first turns", function()
    local Cls = asx.Trader:extend("counted")
    local ran = {}
    function Cls:cycle()
      ran[#ran + 1] = ("%s at %s"):format(tostring(self), self:now())
      self:sleep(10)
    end
    local s = asx.session({ clock = "virtual", seed = 1, duration = 3 })
    local early = { Cls:new({}), Cls:new({}) }
    for _, t in ipairs(early) do s:add(t) end
    local late = { Cls:new({}), Cls:new({}) }
    local Adder = asx.Trader:extend("adder")
    function Adder:cycle()
      self:sleep(1)
      for _, t in ipairs(late) do s:add(t) end
    end
    s:add(Adder:new({}))
    s:run()
    assert.are.same({ tostring(early[1]) .. " at 0", tostring(early[2]) .. " at 0",
      tostring(late[1]) .. " at 1", tostring(late[2]) .. " at 1" }, ran)
  end)

  -- Each class's start compiled is a trace, and LuaJIT drops every trace
  -- past 1,000 (its maxtrace): a start compiled for each of 2,000
  -- one-agent classes dropped all compiled code, the agents' loops
  -- included, again and again (5,000 such classes at the prompt: 10.5 s
  -- where 0.4 s was enough). Their agents still run, each its one turn.
  it("compiles the starts of a bounded number of classes, so many classes flush no compiled code", function()
    local s = asx.session({ clock = "virtual", seed = 1, duration = 3 })
    local ran = 0
    local function cycle(self)
      ran = ran + 1
      self:sleep(1)
    end
    jit.flush()
    local flushes = 0
    local function on_trace(what) if what == "flush" then flushes = flushes + 1 end end
    jit.attach(on_trace, "trace")
    local ok, err = pcall(function()
      for i = 1, 2000 do
        local Cls = asx.Trader:extend("own" .. i)
        Cls.cycle = cycle
        s:add(Cls:new({}))
      end
      s:run()
    end)
    jit.attach(on_trace)
    assert(ok, err)
    assert.are.equal(2000, ran)
    -- The one flush is the scheduler's own, at the end of the first turns.
    assert.are.equal(1, flushes)
  end)

  -- A class's cycle assigned at every turn walked every agent of the class
  -- each time, asking the scheduler to replace the cycle of agents long
  -- started: 20,000 agents for 3 turns took 67 s. The agents that have
  -- started are passed over from then on.
  it("redefined at every turn, looks at the agents that have not started, not at every agent", function()
    local C = asx.Trader:extend("redefined")
    local turns = 0
    local function loop(self)
      while true do
        self:sleep(1)
        turns = turns + 1
        C.cycle = loop
      end
    end
    C.cycle = loop
    local traders = {}
    for i = 1, 1000 do traders[i] = C:new({}) end
    local s = asx.session({ clock = "virtual", seed = 1, duration = 3, traders = traders })
    -- The scheduler's method, counted (its metatable is in the registry).
    local methods = debug.getregistry()["asx.scheduler"].__index
    local set_cycle, asked = methods.set_cycle, 0
    methods.set_cycle = function(...)
      asked = asked + 1
      return set_cycle(...)
    end
    local ok, err = pcall(s.run, s)
    methods.set_cycle = set_cycle
    assert(ok, err)
    assert.are.equal(3000, turns)
    -- Each agent once, when the first assignment finds it started (it was
    -- 3,000,000: every agent at each of the 3,000 assignments).
    assert.are.equal(1000, asked)
  end)

  it("fails the agent alone, naming the cycle, when it is no function at the first turn", function()
    local Cls = asx.Trader:extend("unset")
    Cls.cycle = function() end
    local errors = {}
    local s = asx.session({ clock = "virtual", seed = 1, duration = 1,
      on_error = function(_, _, text) errors[#errors + 1] = text:match("^[^\n]*") end })
    local t = Cls:new({ money = 5 })
    s:add(t)
    s:add(Sleeper:new({}))
    Cls.cycle = false
    s:run()
    assert.are.same({ "unset#" .. t.id .. ": cycle: function expected at the agent's first turn, got boolean" },
      errors)
    assert.are.same({ "failed", "waiting" }, { s:agent_state(1), s:agent_state(2) })
    assert.are.same({ "unset", 1, 5 }, { s:summary().strategies[1].name, s:summary().strategies[1].agents,
      s:summary().strategies[1].start_value })
  end)
end)

describe("session:kill", function()
  it("stops a waiting agent for good and tells its state; false once it has ended", function()
    local s = asx.session({ clock = "virtual", seed = 1, duration = 5,
      traders = { Sleeper:new({}), Sleeper:new({}) } })
    local a, b = s.traders[1], s.traders[2]
    -- The second agent kills the first after two seconds.
    local Killer = asx.Trader:extend("killer")
    function Killer:cycle()
      self:sleep(2.5)
      self.result = s:kill(a)
      self.again = s:kill(a)
    end
    local k = Killer:new({})
    s:add(k)
    s:run()
    assert.is_true(k.result)
    assert.is_false(k.again)
    assert.are.equal("stopped", s:agent_state(a))
    assert.are.equal(2, a.woke)
    assert.are.equal(5, b.woke)
    assert.are.equal("waiting", s:agent_state(b))
    assert.is_nil(s:agent_state(Sleeper:new({})))
  end)

  it("agent_state tells nil for a trader or number that is no agent, and refuses anything else", function()
    -- A string or a table that is no trader gave nil too, as if it were a
    -- trader outside the session.
    local s = asx.session({ clock = "virtual", seed = 1, duration = 1, traders = { Sleeper:new({}) } })
    assert.are.same({ "waiting", nil, nil }, { s:agent_state(1), s:agent_state(2), s:agent_state(Sleeper:new({})) })
    for _, case in ipairs({ { "1", "string" }, { {}, "table" }, { 0, "0" }, { 1.5, "1.5" }, { nil, "nil" } }) do
      assert.has_error(function() s:agent_state(case[1]) end,
        ("bad argument #1 to 'agent_state' (trader or agent number expected, got %s)"):format(case[2]))
    end
  end)

  it("tells the loggers: the agent's cancels, then an agent event \"stopped\"", function()
    local Offer = asx.Trader:extend("offer")
    function Offer:cycle()
      self:sell(2, 101)
      while true do self:sleep(1) end
    end
    local seen = {}
    local L = { send_event = function(_, event_type, m)
      if event_type == "agent" then
        seen[#seen + 1] = ("agent %s %s at %s"):format(m.name, m.state, m.time)
      elseif event_type == "cancel" then
        seen[#seen + 1] = ("cancel %d remaining %d at %s"):format(m.id, m.remaining, m.time)
      end
    end }
    local o = Offer:new({ money = 0, stocks = 2 })
    local s = asx.session({ clock = "virtual", seed = 1, duration = 3, logger = L, traders = { o } })
    local Killer = asx.Trader:extend("killer")
    function Killer:cycle()
      self:sleep(1.5)
      s:kill(o)
    end
    local k = Killer:new({})
    s:add(k)
    s:run()
    assert.are.same({
      ("agent %s started at 0"):format(tostring(o)),
      ("agent %s started at 0"):format(tostring(k)),
      "cancel 1 remaining 2 at 1.5",
      ("agent %s stopped at 1.5"):format(tostring(o)),
      ("agent %s finished at 1.5"):format(tostring(k)),
    }, seen)
  end)

  it("tells of an agent killed before the session runs as stopped, never started", function()
    local states = {}
    local L = { send_event = function(_, event_type, m)
      if event_type == "agent" then states[#states + 1] = m.name .. " " .. m.state end
    end }
    local s = asx.session({ clock = "virtual", seed = 1, duration = 1, logger = L,
      traders = { Sleeper:new({}), Sleeper:new({}) } })
    local a, b = s.traders[1], s.traders[2]
    assert.is_true(s:kill(a))
    s:run()
    assert.are.same({ tostring(a) .. " stopped", tostring(b) .. " started" }, states)
  end)

  it("refuses an ended session, before any cancel or event is logged after its end", function()
    -- kill logged the agent's cancels and "stopped" after the session's
    -- stop event, and the summary changed after the session had ended.
    local Offer = asx.Trader:extend("offer")
    function Offer:cycle()
      self:sell(2, 101)
      while true do self:sleep(1) end
    end
    local seen = {}
    local L = { send_event = function(_, event_type, m)
      if event_type == "agent" or event_type == "session" or event_type == "cancel" then
        seen[#seen + 1] = ("%s %s at %s"):format(event_type, m.state or m.remaining or "", m.time)
      end
    end }
    local o = Offer:new({ money = 0, stocks = 2 })
    local s = asx.session({ clock = "virtual", seed = 1, duration = 2, logger = L, traders = { o } })
    s:run()
    assert.has_error(function() s:kill(o) end, "kill: this session has ended; make a new one")
    assert.are.same({ "session start at 0", "agent started at 0", "session stop at 2" }, seen)
    assert.are.equal("waiting", s:agent_state(o))
    assert.are.equal(1, s:summary().strategies[1].running)
  end)

  it("counts a killed agent as stopped in the summary, not as running", function()
    local s = asx.session({ clock = "virtual", seed = 1, duration = 3,
      traders = { Sleeper:new({}), Sleeper:new({}), Sleeper:new({}) } })
    s:kill(s.traders[2])
    s:run()
    local r = s:summary().strategies[1]
    assert.are.same({ "sleeper", 3, 2, 0, 0, 1 }, { r.name, r.agents, r.running, r.finished, r.failed, r.stopped })
  end)
end)
