-- asx.session: traders as agents on the C scheduler (src/asx_sched.c).
--
--   local s = asx.session({ traders = { ... }, exchange = ex, logger = L,
--                           clock = "virtual", seed = 42, duration = 60 })
--   s:run()   -- until the duration, every agent finished, s:stop() or a signal
--   s:stop(); s:now()
--
-- Each trader's cycle(self) runs as a coroutine; self:sleep(seconds) yields
-- back to the scheduler, self:now() is the session time and self:random()
-- draws from a generator seeded from the session seed and the agent's
-- position in the session, so that a virtual-clock run is repeatable.
--
-- An agent that raises is stopped and its resting orders are cancelled; the
-- error, with the agent's name and a traceback, goes to opts.on_error (the
-- default prints it on stderr) and the session goes on, unless opts.strict,
-- which stops the session at the first error.
--
-- While it runs, a logger that raises (or trades, or yields) is the culprit,
-- not the agent whose order caused the event: it is detached, reported once
-- with its traceback through opts.on_logger_error (default: stderr), and the
-- events it then misses are counted; with opts.strict the session stops.
--
-- os.exit(code) called while a session runs stops the session instead of
-- the process: s:run() returns with s.exit_code set, and the caller (asx-host)
-- flushes its loggers, prints its summary and exits with that status.
local asx = require("asx")
local core = require("asx.core")
local loggers = require("asx.loggers")
local courier = require("asx.courier")
local terminal = require("asx.terminal")

local type, ipairs = type, ipairs
local getmetatable, setmetatable = getmetatable, setmetatable
local check = require("asx.check")
local memory = require("asx.memory")
local argerror, show = check.argerror, check.show
local floor, huge = math.floor, math.huge
-- asx's own, not the strategy's: a class may have a field or a method of
-- its own named position (self.position = 0, its count of what it holds).
local position = asx.Trader.position

local Session = {}
Session.__index = Session

-- os.exit ------------------------------------------------------------------------

-- The session whose run() is on the stack, if any.
local running_session
local real_exit = os.exit
-- What unwinds the code after os.exit where the caller cannot simply be
-- suspended (a logger, a REPL line).
local EXIT_MESSAGE = "os.exit: the session stops"

-- The status os.exit(code) exits with: true or nothing 0, false 1, else the
-- number, as the shell will see it (0 to 255).
local function exit_status(code)
  if code == nil or code == true then return 0 end
  if code == false then return 1 end
  local n = tonumber(code)
  if not n or n ~= n or n == huge or n == -huge then
    -- Level 3: os.exit's caller.
    argerror(1, "exit", "number expected", code, 3)
  end
  return floor(n) % 256
end

-- Loaded with the sessions, so a strategy that keeps os.exit in a local at
-- load time gets this one too. Outside a session it is the real os.exit,
-- after the open loggers are flushed and closed (their files are whole).
function os.exit(code, close) -- luacheck: ignore 122
  local status = exit_status(code)
  local s = running_session
  if s then return s:_exit(status) end
  loggers.close_all()
  return real_exit(status, close)
end

local MAX_KEPT_ERRORS = 100

-- A seed for runs that do not name one: it is printed, so any run can be
-- repeated with --seed.
local function fresh_seed()
  local f = io.open("/dev/urandom", "rb")
  if f then
    local b = f:read(4)
    f:close()
    if b and #b == 4 then
      local b1, b2, b3, b4 = b:byte(1, 4)
      return ((b1 * 256 + b2) * 256 + b3) * 256 + b4
    end
  end
  return os.time()
end

local is_trader = check.is_trader
local P = debug.getregistry()["asx.private"]
local account_of = P.account_of
-- A failed or stopped agent's orders are cancelled by its account, which
-- the session keeps (self.accounts), whatever its class made of cancel_all
-- or the agent of its own table.
local cancel_account = P.cancel_account

local error_text = check.error_text

-- A trader is the agent of one session at a time: two agents on one account
-- would trade its balances at once. Each session has a number, which the
-- account of each trader added to it keeps (asx_account.agent, in memory
-- the account has anyway), and which finds the session while it lives.
local session_at = setmetatable({}, { __mode = "v" })
local sessions_made = 0
local ffi = require("ffi")

-- Why t cannot be added to session s as an agent, or nil when it can: it is
-- an agent of s already, or of another session that has not ended.
local function agent_elsewhere(s, t)
  local other = session_at[account_of(t).agent]
  if other == s then return "this session" end
  if other and other:state() ~= "ended" then return "another session that has not ended" end
  return nil
end

-- Whether t belongs to another exchange than session s's, which it could
-- not join: checked before anything of the session changes.
local function of_another_exchange(s, t)
  local ex = P.exchange_of(t)
  return ex ~= nil and ex ~= s.exchange
end

-- An instrument that t's stocks option names and session s's exchange does
-- not have, or nil: t could not join it (see Exchange:register).
local function unknown_instrument(s, t)
  local wanted = P.wanted_positions[t]
  if wanted == nil then return nil end
  local index = P.state_of[s.exchange].index
  for name in pairs(wanted) do
    if index[name] == nil then return name end
  end
  return nil
end

-- The class of a trader: the name shown in errors and summaries. Read when
-- the trader is added (an agent may change its metatable later), as extend
-- gave it, whatever was done to the class's fields or metatable since.
local class_name = P.class_name
local function class_of(t)
  local cls = getmetatable(t)
  return cls, class_name(cls) or "trader"
end

-- Seconds of wall time an agent may run without yielding before a warning
-- says which agent it is and where (0: no warning).
local M = { Session = Session, STUCK_WARNING = 5 }

-- Starting stocks as asx-host and its REPL give them to agents: a number is
-- the position in each of ex's instruments (Trader:new takes a number as the
-- default instrument's only); a table by instrument, or nil, is kept.
function M.each_instrument(ex, stocks)
  local names = ex:instruments()
  if #names == 1 or type(stocks) ~= "number" then return stocks end
  local by = {}
  for _, name in ipairs(names) do by[name] = stocks end
  return by
end

-- The session id an exchange's events carry is its field session_id, which
-- a session sets when it is made and again when it runs, so that each
-- session on one exchange names its own events: a second session on an
-- exchange logged its events under the first's id, whatever its own
-- session_id. An id that code gave the exchange itself (ex.session_id =
-- "run-1") stands, unless the session was given one. s.session_id is the id
-- its events carry.
local ids_set = setmetatable({}, { __mode = "k" })
local function name_events(s)
  local ex = s.exchange
  local id = rawget(P.state_of[ex].fields, "session_id")
  if s.named or id == nil or id == ids_set[ex] then
    ex.session_id = s.own_id
    ids_set[ex] = s.own_id
  end
  s.session_id = P.session_id(ex)
end

-- The options asx.session takes.
local OPTIONS = { "traders", "exchange", "logger", "loggers", "clock", "seed", "duration", "strict",
  "stuck_warning", "latency", "instruments", "session_id", "on_error", "on_logger_error" }

function M.new(opts)
  if type(opts) ~= "table" then argerror(1, "session", "table of options expected", opts) end
  check.options(opts, OPTIONS, "session", 1)
  local clock = opts.clock == nil and "real" or opts.clock
  if clock ~= "real" and clock ~= "virtual" then
    argerror(1, "session", "clock: 'real' or 'virtual' expected", clock)
  end
  local seed = opts.seed
  if seed == nil then
    seed = fresh_seed()
  elseif not check.is_balance(seed) then
    argerror(1, "session", "seed: " .. check.BALANCE_EXPECTED, seed)
  end
  local duration = opts.duration
  if duration ~= nil and (type(duration) ~= "number" or duration ~= duration or duration < 0) then
    argerror(1, "session", "duration: non-negative number of seconds expected", duration)
  end
  local traders = opts.traders or {}
  if type(traders) ~= "table" then argerror(1, "session", "traders: array of traders expected", traders) end
  if opts.on_error ~= nil and type(opts.on_error) ~= "function" then
    argerror(1, "session", "on_error: function expected", opts.on_error)
  end
  if opts.on_logger_error ~= nil and type(opts.on_logger_error) ~= "function" then
    argerror(1, "session", "on_logger_error: function expected", opts.on_logger_error)
  end
  local stuck = opts.stuck_warning
  if stuck == nil then
    stuck = M.STUCK_WARNING
  elseif type(stuck) ~= "number" or not (stuck >= 0 and stuck < huge) then
    argerror(1, "session", "stuck_warning: non-negative number of seconds expected", stuck)
  end

  local latency = opts.latency
  if latency ~= nil and (type(latency) ~= "number" or not (latency >= 0 and latency < huge)) then
    argerror(1, "session", "latency: non-negative number of seconds expected", latency)
  end

  local session_id = opts.session_id
  if session_id ~= nil and type(session_id) ~= "string" then
    argerror(1, "session", "session_id: string expected", session_id)
  end
  -- Every event names its session. The default follows the seed, so that a
  -- repeated run writes the same files, event for event.
  session_id = session_id or ("%d"):format(seed)

  local ex = opts.exchange
  if ex == nil then
    ex = asx.exchange({ logger = opts.logger, loggers = opts.loggers, instruments = opts.instruments })
  elseif not asx.is_exchange(ex) then
    argerror(1, "session", "exchange: exchange expected", ex)
  elseif opts.instruments ~= nil then
    -- An exchange's instruments are made with it: the option was ignored,
    -- and an agent's first order in one of them failed as an unknown
    -- instrument, far from the mistake.
    argerror(1, "session", "instruments: nil expected with an exchange (an exchange has the instruments "
      .. "it was made with)", opts.instruments)
  else
    if opts.logger ~= nil then ex:add_logger(opts.logger) end
    for _, L in ipairs(opts.loggers or {}) do ex:add_logger(L) end
  end

  local sched = core.scheduler(clock, seed)
  if duration ~= nil then sched:duration(duration) end
  sched:watch(stuck)

  local s = setmetatable({
    exchange = ex, clock = clock, seed = seed, duration = duration,
    strict = opts.strict and true or false, on_error = opts.on_error,
    on_logger_error = opts.on_logger_error,
    traders = {}, accounts = {}, errors = {}, failed = 0, first_error = nil,
    -- { name, at, text } per logger detached after an error.
    logger_failures = {},
    -- Why the session ended before its time, for the summary; and the
    -- status os.exit asked for.
    stopped_by = nil, exit_code = nil,
    sched = sched, ran = false, wall = 0,
    -- Per class: { name, cls, agents, money, stocks } at the start.
    classes = {}, class_list = {},
    -- The agents' classes as runs of agent numbers: the first agent of
    -- each run and its class's record (first, c, first, c, ...).
    runs = {},
    -- Per run (by its index in runs): its first agent that may not have
    -- had its first turn yet (P.cycle_defined).
    fresh_from = {},
  }, Session)
  -- The scheduler's handlers find the session through a weak table. C keeps
  -- them in the registry, and a handler that held the session held it, its
  -- scheduler (whose __gc releases them), its exchange and traders for the
  -- life of the process: a script that ran 10,000 sessions in turn kept
  -- 50 MB. They run only inside s:run(), whose frame holds the session.
  local weak = setmetatable({ s }, { __mode = "v" })
  -- Orders and cancels of traders with a latency, and fill notices.
  s.courier = courier.new(s, latency)
  sched:on_courier(function() weak[1].courier:deliver() end)
  s.instrument_names = ex:instruments()
  s.own_id, s.named = session_id, opts.session_id ~= nil
  name_events(s)
  sched:on_error(function(agent, message) weak[1]:_agent_error(agent, message) end)
  sched:on_finish(function(agent) weak[1]:_agent_event(agent, "finished") end)
  -- Before the collection that follows an agent's running out of memory:
  -- what it kept in its trader's own fields is let go of, or the turns
  -- after it would run out in turn (lua/asx/trader.lua).
  local release_fields, session_traders = P.release_fields, s.traders
  sched:on_no_memory(function(agent) release_fields(session_traders[agent]) end)
  local seen = {}
  for i = 1, #traders do
    local t = traders[i]
    if not is_trader(t) or type(t.cycle) ~= "function" then
      argerror(1, "session", ("traders[%d]: trader with a cycle method expected"):format(i), t)
    end
    local elsewhere = seen[t] and "this session" or agent_elsewhere(s, t)
    if elsewhere then
      check.bad_argument(1, "session", ("traders[%d]: trader that is no agent yet expected"):format(i),
        ("trader#%d, an agent of %s"):format(account_of(t).id, elsewhere))
    end
    seen[t] = true
  end
  for i = 1, #traders do
    local t = traders[i]
    if of_another_exchange(s, t) then
      check.bad_argument(1, "session", ("traders[%d]: trader of the session's exchange expected"):format(i),
        ("trader#%d, registered with another"):format(account_of(t).id))
    end
    local unknown = unknown_instrument(s, t)
    if unknown then
      error(("bad argument #1 to 'session' (traders[%d]: stocks: unknown instrument %q)"):format(i, unknown), 2)
    end
  end
  sessions_made = sessions_made + 1
  s.number = sessions_made
  session_at[sessions_made] = s
  for i = 1, #traders do s:add(traders[i]) end
  return s
end

-- Each agent's coroutine starts in its class's start, as start(cycle,
-- trader), which goes on into cycle(trader) by a tail call, leaving no
-- frame of its own. start's trace is recorded beforehand, by calls with no
-- trader (warm), so it is only the test of its trader and a return; at an
-- agent's first turn that test fails, and the side trace LuaJIT records
-- from there runs the cycle's first lines in compiled code and on into the
-- trace of its loop, with no exit to the interpreter on the way
-- (src/asx_lua_agent.c, "How an agent starts"). Each class has a start
-- from a chunk of its own, hence traces of its own: a class whose first
-- lines LuaJIT cannot compile (one that makes a closure there) gives up
-- only its own.
local START = [[
return function(cycle, trader)
  if trader == nil then return end
  return cycle(trader)
end]]
local starts = setmetatable({}, { __mode = "k" })

-- Calls start with no trader often enough that LuaJIT compiles it: a
-- function is compiled after some hundred calls (112 with LuaJIT's default hotloop),
-- counted by the interpreter, so warm's own loop stays interpreted. The
-- scheduler calls warm_starts again after it drops what LuaJIT compiled
-- during agents' first turns (src/asx_lua_agent.c), for agents added later.
local WARM_CALLS = 1000
local function warm(start)
  for _ = 1, WARM_CALLS do start() end
end
jit.off(warm)

-- Only so many classes' starts are compiled: each is a trace, and LuaJIT
-- keeps at most 1,000 (its maxtrace) before it drops every trace there is,
-- the agents' loops included. A session of 5,000 one-agent classes (an
-- agent's own subclass for its parameters) compiled a start for each, at
-- each spawn and again after the first turns: 10.5 s for what took 0.4 s,
-- dropping all compiled code every thousand classes. The classes past these
-- start their agents' first turns in the interpreter, as before warm.
local MAX_WARMED = 100
local warmed = setmetatable({}, { __mode = "k" })

-- Whether start_of may compile one more class's start: fewer than
-- MAX_WARMED of those compiled are still alive (classes are collected).
local function may_warm()
  local n = 0
  for _ in pairs(warmed) do
    n = n + 1
    if n >= MAX_WARMED then return false end
  end
  return true
end

debug.getregistry()["asx.warm_starts"] = function()
  for _, start in pairs(warmed) do warm(start) end
end

-- The agent's error when its class's cycle was set to what is no function
-- before its first turn: it fails as an agent that raises does.
local function not_a_cycle(v)
  error(("cycle: function expected at the agent's first turn, got %s"):format(show(v)), 0)
end

-- A class's cycle redefined (at the prompt, after its agents were added,
-- before the first step) is the one they run, if they have not had their
-- first turn: each such agent of a class asx made, with no cycle of its own,
-- in a session that has not ended, starts in it (sched:set_cycle puts it
-- in its coroutine in place of the one add read). Done at the definition,
-- for each class whose cycle it changes (lua/asx/trader.lua, spread), so
-- that the first turn, which a million agents take at once, reads nothing
-- more (a read there cost 25 to 80 instructions a first turn). An agent
-- that has started runs on in the cycle it started in.
function P.cycle_defined(cls, cycle)
  local fn = cycle
  if type(fn) ~= "function" then fn = function() not_a_cycle(cycle) end end
  for _, s in pairs(session_at) do
    local c = s.classes[cls]
    if c and s.sched:state() ~= "ended" then
      local runs, traders, sched, fresh_from = s.runs, s.traders, s.sched, s.fresh_from
      for k = 1, #runs, 2 do
        if runs[k + 1] == c then
          -- An agent that set_cycle refuses has had its first turn (or
          -- ended) for good, and agents start in the order they were
          -- added: the run's agents up to the first one it took are passed
          -- over from then on. Without this, a cycle assigned at every
          -- turn walked every agent of the class each time (20,000 agents,
          -- 3 turns: 67 s, where 0.02 s was enough).
          local from, last = fresh_from[k] or runs[k], (runs[k + 2] or #traders + 1) - 1
          local advancing = true
          for i = from, last do
            local t = traders[i]
            if getmetatable(t) == cls and rawget(t, "cycle") == nil then
              if not sched:set_cycle(i, fn) and advancing then from = i + 1 else advancing = false end
            else
              advancing = false
            end
          end
          fresh_from[k] = from
        end
      end
    end
  end
end

local function start_of(cls)
  local start = starts[cls]
  if start == nil then
    start = assert(load(START, "=asx agent start"))()
    if may_warm() then
      warm(start)
      warmed[cls] = start
    end
    starts[cls] = start
  end
  return start
end

-- Adds a trader as the next agent: registers it with the session's exchange
-- (which raises if it belongs to another) and starts its cycle at the
-- current session time, after the agents added before it.
-- An ended session never runs again: an agent added to it would never start,
-- and its loggers were told it had.
local function refuse_ended(s, fname)
  if s.sched:state() == "ended" then error(fname .. ": this session has ended; make a new one", 3) end
end

function Session:add(t)
  refuse_ended(self, "add")
  -- The cycle is read once: a trader's own metatable could give another
  -- value at a second read, which the scheduler refused once the session
  -- had counted the agent (its summary then failed on it). A class's cycle
  -- defined later, before the agent's first turn, replaces it
  -- (P.cycle_defined).
  local cycle = is_trader(t) and t.cycle
  if type(cycle) ~= "function" then
    argerror(1, "add", "trader with a cycle method expected", t)
  end
  local elsewhere = agent_elsewhere(self, t)
  if elsewhere then
    check.bad_argument(1, "add", "trader that is no agent yet expected",
      ("trader#%d, an agent of %s"):format(account_of(t).id, elsewhere))
  end
  if of_another_exchange(self, t) then
    check.bad_argument(1, "add", "trader of the session's exchange expected",
      ("trader#%d, registered with another"):format(account_of(t).id))
  end
  local unknown = unknown_instrument(self, t)
  if unknown then error(("bad argument #1 to 'add' (stocks: unknown instrument %q)"):format(unknown), 2) end
  local full = memory.session_too_many(self, 1)
  if full then error(("bad argument #1 to 'add' (%s)"):format(full), 2) end
  self.exchange:register(t)
  local cls, name = class_of(t)
  local c = self.classes[cls]
  if not c then
    c = { name = name, cls = cls, agents = 0, money = 0, stocks = 0, positions = {},
      first = #self.traders + 1 }
    self.classes[cls] = c
    self.class_list[#self.class_list + 1] = c
  end
  c.agents = c.agents + 1
  -- From the account, as the session reads an agent everywhere: the
  -- trader's own metatable could raise here, past the counts above.
  local acct = account_of(t)
  c.money = c.money + tonumber(acct.money)
  c.stocks = c.stocks + tonumber(acct.stocks)
  -- Positions by instrument, without a table per agent: a million agents
  -- are added at the start.
  local names = self.instrument_names
  for i = 1, #names do
    local inst = names[i]
    c.positions[inst] = (c.positions[inst] or 0) + position(t, inst)
  end
  local n = #self.traders + 1
  self.traders[n] = t
  -- Its account, read where the session names, values or stops the agent:
  -- the trader's table is the strategy's, which may drop what asx keeps
  -- there (lua/asx/private.lua).
  self.accounts[n] = acct
  ffi.cast("asx_account_rw *", acct).agent = self.number
  local runs = self.runs
  if runs[#runs] ~= c then runs[#runs + 1], runs[#runs + 2] = n, c end
  self.sched:add(cycle, t, name, t.id, start_of(cls))
  -- Agents of a session that runs already start now; the others when it
  -- starts, after its own start event.
  if self.ran then self:_agent_event(n, "started") end
  return n
end

-- The record in class_list of agent i's class (as it was added).
function Session:_class(i)
  local runs = self.runs
  local lo, hi = 1, #runs / 2
  while lo < hi do
    local mid = floor((lo + hi + 1) / 2)
    if runs[2 * mid - 1] <= i then lo = mid else hi = mid - 1 end
  end
  return runs[2 * lo]
end

-- The agents in order: for i, t, c, acct in s:_agents(), c the record of
-- t's class as it was added, whatever the agent did to its metatable since,
-- and acct its account, whatever it did to its own table.
function Session:_agents()
  local traders, accounts, runs, i, k, c = self.traders, self.accounts, self.runs, 0, 1, nil
  return function()
    i = i + 1
    local t = traders[i]
    if t == nil then return nil end
    if runs[k] == i then c, k = runs[k + 1], k + 2 end
    return i, t, c, accounts[i]
  end
end

-- Agent i's id and name (random_trader#17), as errors and events give them:
-- read from its account and the class it was added with, not through its
-- metamethods, which are the strategy's to change and may raise.
function Session:_name(i)
  local id = self.accounts[i].id
  return id, ("%s#%d"):format(self:_class(i).name, id)
end

function Session:_agent_event(agent, state)
  -- Only a logger with send_event gets it (a million agents start at once).
  local ex = self.exchange
  if not ex:_logging() or ex:_emit_unheard() then return end
  -- An agent killed before the session ran never starts.
  if state == "started" and self.sched:state(agent) == "stopped" then state = "stopped" end
  local id, name = self:_name(agent)
  self:_emit("agent", { id = id, name = name, strategy = self:_class(agent).name, state = state })
end

-- Tells of a failed agent or logger (what): to handler(session, subject,
-- text) when the session has one, else on stderr after prefix; with
-- --strict, the session stops.
local function tell_failure(self, handler, subject, text, prefix, what)
  if handler then
    -- A handler that fails is said so, and the session goes on as it
    -- would have (--strict still stops it).
    local ok, err = pcall(handler, self, subject, text)
    if not ok then terminal.write(("asx: the %s error handler failed: %s\n"):format(what, error_text(err))) end
  else
    terminal.write(prefix, text, "\n")
  end
  if self.strict then
    self.stopped_by = self.stopped_by or ("a failed %s (--strict)"):format(what)
    self.sched:stop()
  end
end

function Session:_agent_error(agent, message)
  local t = self.traders[agent]
  local ex = self.exchange
  if ex:delivering() then ex:_abandon_delivery() end
  self.failed = self.failed + 1
  -- Its messages in flight are lost with it. Cancelling may deliver events
  -- to loggers, which may raise in turn: that must not hide the agent's own
  -- error. Done before its text is made: an agent that left no memory (it
  -- kept all it could get in a global) still has its orders cancelled when
  -- the text cannot be made (asx_lua_agent.c's report_error names it then).
  self.courier:drop(t)
  local ok, err = pcall(cancel_account, self.accounts[agent])
  local id, name = self:_name(agent)
  local text = ("%s: %s"):format(name, message)
  if not ok then text = text .. "\n(cancelling its orders failed: " .. error_text(err) .. ")" end
  if #self.errors < MAX_KEPT_ERRORS then self.errors[#self.errors + 1] = text end
  if not self.first_error then self.first_error = text end
  self:_emit("agent", { id = id, name = name, strategy = self:_class(agent).name, state = "failed",
    message = text })
  tell_failure(self, self.on_error, t, text, "", "agent")
end

-- A logger that takes every event and does nothing with it.
local function ignore() end
local COUNT_ONLY = { consume_events = ignore, send_event = ignore }

-- Whether a traceback's file is one of asx's own Lua files: a module of
-- asx's that is loaded, as "asx/check.lua" or "asx/repl/init.lua", matched
-- by its end (a traceback may cut a path short at the front). Read from
-- package.loaded rather than listed, where a list missed check.lua, through
-- which every refused argument is raised: a logger's `ex:set_time(-1)` was
-- said to have failed at check.lua:50 rather than at its own line.
local function is_own(file)
  local name = next(package.loaded)
  while name ~= nil do
    if type(name) == "string" and (name == "asx" or name:sub(1, 4) == "asx.") then
      local path = name:gsub("%.", "/")
      for _, f in ipairs({ path .. ".lua", path .. "/init.lua" }) do
        if file == f or file:sub(-#f - 1) == "/" .. f then return true end
      end
    end
    name = next(package.loaded, name)
  end
  return false
end

-- The first frame of a traceback in the user's code: "file:line".
local function culprit_frame(traceback)
  for file, line in traceback:gmatch("\n\t([^\n]-):(%d+):") do
    if file ~= "[C]" and not is_own(file) then return file .. ":" .. line end
  end
  return nil
end

-- The exchange's on_logger_error while the session runs: the logger is
-- detached already.
function Session:_logger_error(L, err, traceback, at)
  local name = loggers.describe(L)
  if err == EXIT_MESSAGE and self.exit_code ~= nil then
    self.stopped_by = ("os.exit(%d) in %s"):format(self.exit_code, name)
    return
  end
  local message = error_text(err)
  traceback = traceback or ""
  local where = culprit_frame(traceback)
  local text
  if where then
    -- The position is said once, where the logger was when it failed; one
    -- inside asx (an API call refusing a logger) would only mislead.
    local pos = message:match("^([^\n]-:%d+): ")
    if pos and (pos == where or is_own(pos:match("^(.*):%d+$"))) then
      message = message:sub(#pos + 3)
    end
    text = ("%s failed at %s and was detached: %s"):format(name, where, message)
  else
    text = ("%s failed and was detached: %s"):format(name, message)
  end
  -- One shape for every failure: that line, then the traceback when there
  -- is one (asx's own loggers fail in C, with none), never a blank line.
  if traceback ~= "" then text = text .. "\n" .. traceback end
  local failures = self.logger_failures
  failures[#failures + 1] = { name = name, at = at, text = text, logger = L }
  -- The missed events are counted as the exchange numbers them, which it
  -- does only while it has a logger to deliver to.
  local ex = self.exchange
  if not ex:_logging() then ex:add_logger(COUNT_ONLY) end
  tell_failure(self, self.on_logger_error, L, text, "asx: ", "logger")
end

-- os.exit(status) inside the running session: the session stops, and the
-- code after os.exit does not run. An agent is suspended for good (the
-- stopped session never resumes it); a logger or a line of the REPL is
-- unwound by an error instead.
function Session:_exit(status)
  local ex, sched = self.exchange, self.sched
  local agent = sched:current()
  if self.exit_code == nil then
    self.exit_code = status
    local where = ex:delivering() and "a logger" or agent and select(2, self:_name(agent))
      or "code outside any agent"
    self.stopped_by = ("os.exit(%d) in %s"):format(status, where)
  end
  sched:stop()
  if agent and not ex:delivering() then pcall(core.sleep, self.traders[agent], 0) end
  error(EXIT_MESSAGE, 0)
end

-- Session and agent events go to the exchange's loggers; a logger that
-- raises is reported and the session goes on.
function Session:_emit(event_type, message)
  local ex = self.exchange
  if not ex:_logging() then return end
  local ok, err = pcall(ex.emit, ex, event_type, message)
  if not ok then terminal.write(("asx: a logger failed on a %s event: %s\n"):format(event_type, error_text(err))) end
end

function Session:run()
  if self.ran then error("run: this session has run already; make a new one", 2) end
  -- Refused before anything changes: the scheduler's own refusal came after
  -- the exchange took this session's clock and courier and its loggers had
  -- its start, so the running session's later events read the wrong time and
  -- its traders' latency was gone.
  if running_session then error("run: another session is running (sessions do not nest)", 2) end
  self.ran = true
  local ex = self.exchange
  name_events(self)
  -- The book reads this session's clock from its start, not from when the
  -- session was made: another session made on the exchange meanwhile
  -- (even from inside this one, while it runs) would take it over.
  asx._set_clock(ex, self.sched)
  -- Until its first wake-up the book reads the time it kept: an earlier
  -- session's end, which stamped this one's start and its agents' started.
  ex:set_time(self.sched:now())
  local previous_handler = ex:on_logger_error(function(_, L, err, traceback, at)
    self:_logger_error(L, err, traceback, at)
  end)
  local previous_session = running_session
  running_session = self
  -- math.random follows the session seed too, for strategies that use it.
  math.randomseed(self.seed)
  self:_emit("session", { state = "start", seed = self.seed, clock = self.clock })
  if self.exchange:_logging() then
    for i = 1, #self.traders do self:_agent_event(i, "started") end
  end
  asx._set_courier(ex, self.courier)
  local t0 = core.hrtime()
  -- The wall time so far, for a summary taken while it runs (the live
  -- page, report() at the prompt), which read 0 s and 0 orders a second.
  self._wall_from = t0
  local ok, err = pcall(self.sched.run, self.sched)
  self.wall = core.hrtime() - t0
  self._wall_from = nil
  -- What is still in flight never arrives; the exchange acts at once again.
  self.courier:finish()
  asx._set_courier(ex, nil)
  -- The book read the time of the last wake-up; the session ended at its
  -- own time (its duration), and events after it (a trade, a kill) came
  -- before its stop in the logs.
  asx._set_clock(ex, nil)
  ex:set_time(self:now())
  if not ok then
    running_session = previous_session
    ex:on_logger_error(previous_handler)
    error(err, 0)
  end
  self:_emit("session", { time = self:now(), state = "stop", seed = self.seed, clock = self.clock })
  running_session = previous_session
  ex:on_logger_error(previous_handler)
  return self
end

function Session:stop() self.sched:stop() end
function Session:now() return self.sched:now() end
-- A pause needs something to end it: the prompt (asx.repl.attach) or the
-- live page's controls (http.serve with control) mark the session
-- _resumable; in any other session nothing would resume it, and run would
-- wait for ever.
function Session:pause(on)
  if on == nil then on = true end
  if on and not self._resumable then
    error("pause: nothing can resume this session (no prompt, no --http-control); s:stop() ends it", 2)
  end
  local sleeper = on and self._step_sleeper
  local ok = self.sched:pause(on)
  -- The prompt's `me`, asleep until the end of the step this pause cuts
  -- short (lua/asx/repl/init.lua), wakes where the step stopped instead.
  if sleeper then
    self._step_sleeper = nil
    self.sched:rewake(sleeper, 0)
  end
  return ok
end
function Session:step(seconds)
  if type(seconds) ~= "number" or not (seconds >= 0 and seconds < huge) then
    argerror(1, "step", "non-negative number of seconds expected", seconds)
  end
  -- Where it ends, for the prompt's `me`, which sleeps there when nothing
  -- else runs (lua/asx/repl/init.lua).
  -- A step that would end past the largest number ends at it, as a wake-up
  -- does (step(1e308) twice ended at inf, and the prompt's `me` failed on
  -- sleep(inf), ending the session).
  local now = self:now()
  if now + seconds == huge then
    seconds = 1.7976931348623157e308 - now
    if now + seconds == huge then seconds = seconds * (1 - 2 ^ -53) end
  end
  self._step_end = now + seconds
  return self.sched:step(seconds)
end
-- The real clock's factor; x sets it first. A factor for the virtual clock,
-- or for a session that has ended, was taken and did nothing.
M.NO_SPEED = "speed: the virtual clock has no speed; it runs as fast as it can (use step or resume)"
function Session:speed(x)
  if x ~= nil then
    if type(x) ~= "number" or not (x > 0 and x < huge) then
      argerror(1, "speed", "positive finite factor expected", x)
    end
    if self.clock ~= "real" then error(M.NO_SPEED, 2) end
    refuse_ended(self, "speed")
  end
  return self.sched:speed(x)
end

function Session:resume() return self.sched:pause(false) end
function Session:stepping() return self.sched:stepping() end
-- "new", "running", "paused" or "ended".
function Session:state() return self.sched:state() end

-- The agent number of a trader (or the number itself). The index is built
-- on first use, so sessions that never ask cost no table entry per agent.
function Session:_agent(t)
  if type(t) == "number" then return self.traders[t] and t or nil end
  local index = self._index
  if not index or index.n ~= #self.traders then
    index = { n = #self.traders }
    for i, tr in ipairs(self.traders) do index[tr] = i end
    self._index = index
  end
  return index[t]
end

-- "idle", "waiting", "running", "finished", "failed" or "stopped", for a
-- trader of the session or an agent number; nil for a trader or a number
-- that is no agent of it (an outcome: the prompt's traders() asks so of
-- every trader of the exchange). Anything else is a mistake, which raised
-- nothing and gave nil, as kill, add and spawn name it.
function Session:agent_state(t)
  if not (is_trader(t) or check.is_count(t)) then
    argerror(1, "agent_state", "trader or agent number expected", t)
  end
  local i = self:_agent(t)
  return i and self.sched:state(i) or nil
end

-- Stops an agent that is not the one running now: it is never resumed
-- again and its resting orders are cancelled. False when it had ended.
-- Loggers then get its cancels and an agent event "stopped", as they get
-- "failed" for an agent that raises (one stopped before the session runs:
-- at the start, in place of "started"). An ended session refuses, as add
-- does: its events would come after the session's stop event, and its
-- summary would change after the session.
function Session:kill(t)
  refuse_ended(self, "kill")
  local i = self:_agent(t)
  if not i then argerror(1, "kill", "trader of this session expected", t) end
  if self.sched:state(i) == "running" then
    error(("kill: %s is running; it can stop itself by returning"):format(select(2, self:_name(i))), 2)
  end
  if not self.sched:finish(i, "stopped") then return false end
  local tr = self.traders[i]
  self.courier:drop(tr)
  pcall(cancel_account, self.accounts[i])
  if self.ran then self:_agent_event(i, "stopped") end
  return true
end

-- Why trader t, made by spawn, cannot be added as an agent (the checks of
-- add), or nil.
local function unspawnable(self, t)
  if not (is_trader(t) and type(t.cycle) == "function") then
    return "not a trader with a cycle method (" .. check.show(t) .. ")"
  end
  local elsewhere = agent_elsewhere(self, t)
  if elsewhere then return ("trader#%d is an agent of %s"):format(account_of(t).id, elsewhere) end
  if of_another_exchange(self, t) then return "exchange: the session's expected, got another" end
  local unknown = unknown_instrument(self, t)
  if unknown then return ("stocks: unknown instrument %q"):format(unknown) end
  return nil
end

-- Adds count agents (default 1) of class cls, each made by cls:new(opts),
-- after the others; a session that runs starts them now. Returns them.
-- All or none: every agent is made and checked before any is added, so
-- that a new that raises part way (or makes one that add would refuse)
-- leaves the session as it was.
function Session:spawn(cls, count, opts)
  refuse_ended(self, "spawn")
  if not asx.is_trader_class(cls) or type(cls.cycle) ~= "function" then
    argerror(1, "spawn", "Trader class with cycle expected", cls)
  end
  if count == nil then count = 1 end
  if not check.is_count(count) then argerror(2, "spawn", check.COUNT_EXPECTED, count) end
  -- Before any agent is made: a count past the memory would take all the
  -- machine's memory until the kernel killed the process.
  local full = memory.session_too_many(self, count)
  if full then error(("bad argument #2 to 'spawn' (%s)"):format(full), 2) end
  local made, seen = {}, {}
  for i = 1, count do
    local ok, t = pcall(cls.new, cls, opts)
    if i == 1 then
      -- What the first agent cannot be made or added with, none can: it is
      -- an error of spawn's options, named so.
      if not ok then
        local why = type(t) == "string" and t:match("^[^\n]-bad argument #1 to 'new' %((.*)%)$")
        if why then error(("bad argument #3 to 'spawn' (%s)"):format(why), 2) end
        error(t, 0)
      end
      local unknown = unknown_instrument(self, t)
      if unknown then error(("bad argument #3 to 'spawn' (stocks: unknown instrument %q)"):format(unknown), 2) end
      if of_another_exchange(self, t) then
        error("bad argument #3 to 'spawn' (exchange: the session's expected, got another)", 2)
      end
    else
      local why = not ok and tostring(t) or unspawnable(self, t)
      -- A new that hands back a trader it made before (a cache, a
      -- singleton) would make one agent of two: add refused the second
      -- once the first had been added.
      if not why and seen[t] then
        why = ("the same trader as agent %d (trader#%d)"):format(seen[t], account_of(t).id)
      end
      if why then
        error(("spawn: agent %d of %d could not be made, so none was added: %s"):format(i, count, why), 2)
      end
    end
    made[i] = t
    if type(t) == "table" then seen[t] = i end
  end
  for i = 1, count do self:add(made[i]) end
  return made
end

-- The session whose run() is on the stack, if any: all code then runs
-- from its libuv loop (agents, loggers, the prompt's lines).
function M.running() return running_session end

-- summary() and totals() (lua/asx/summary.lua).
for name, method in pairs(require("asx.summary")) do Session[name] = method end

function Session:__tostring()
  return ("session(%s clock, seed %s, %d agents, t=%s)"):format(self.clock, show(self.seed),
    #self.traders, show(self:now()))
end

return M
