-- asx-host's command line: load strategy files, run them as agents on one
-- exchange, print a summary. src/asx_host_main.c calls main(arg) and exits
-- with the status it returns:
--   0  the session ran (to its duration, until every agent finished, or
--      until SIGINT/SIGTERM stopped it);
--   1  --strict and an agent or a logger raised, or the --summary file
--      could not be written;
--   3  a logger lost rows (a full disk, a file that became unwritable, an
--      InfluxDB server that did not take them) or was detached after an
--      error (it missed the events after): the session ran, its logs are
--      not whole (M.LOST_ROWS);
--   N  a strategy or logger called os.exit(N) during the session;
--   2  a bad command line, or a strategy file that cannot be used; nothing
--      ran then.
-- (A second SIGINT while stopping exits 130 from the signal handler.)
local asx = require("asx")
local check = require("asx.check")
local session = require("asx.session")
local core = require("asx.core")
local loggers = require("asx.loggers")
local params = require("asx.params")
local summary_json = require("asx.summary_json")
local courier = require("asx.courier")
local sandbox = require("asx.sandbox")
local terminal = require("asx.terminal")
-- The standard streams as asx-host found them: a strategy that assigns
-- io.stdout or io.stderr (its own output to a file, say) does not take the
-- summary and the messages with it.
local stdout, stderr = io.stdout, io.stderr

local M = {}

-- The exit status of a session whose loggers lost rows (see above).
M.LOST_ROWS = 3

local PROG = "asx-host"
-- The command line (lua/asx/host_args.lua).
local host_args = require("asx.host_args")
local USAGE, HELP = host_args.USAGE, host_args.HELP
M.parse = host_args.parse

local DEFAULT_AGENTS, DEFAULT_MONEY, DEFAULT_STOCKS = 100, 300, 10

-- A bad command line: main prints it with the usage and returns 2.
local usage = require("asx.usage")
local usage_error = usage.fail

-- Loads a strategy file; returns its class or raises a usage error.
function M.load_strategy(path)
  local f, err = io.open(path, "r")
  if not f then usage_error("cannot read '%s': %s", path, (err or ""):gsub("^[^:]*: ", "")) end
  local _, rerr = f:read(0)
  f:close()
  if rerr then usage_error("cannot read '%s': %s", path, rerr) end
  local chunk, serr = loadfile(path)
  if not chunk then usage_error("%s", serr) end
  setfenv(chunk, sandbox.environment())
  local ok, cls = pcall(chunk)
  if not ok then usage_error("%s", tostring(cls)) end
  local private = debug.getregistry()["asx.private"]
  if type(cls) ~= "table" or not asx.is_trader_class(cls) then
    usage_error("%s: does not return a Trader subclass with a cycle method (got %s)", path,
      type(cls) == "table" and "a table that is no Trader class" or type(cls))
  elseif cls == asx.Trader then
    usage_error("%s: returns asx.Trader itself (make a subclass: asx.Trader:extend(\"name\"))", path)
  elseif type(cls.cycle) ~= "function" then
    -- The class is right but its agents would have nothing to run.
    usage_error("%s: class '%s' has no cycle method (each agent runs cycle(self))", path,
      private.class_name(cls))
  end
  local meddled, why = private.class_meddled(cls)
  if meddled then usage_error("%s: the class's %s is replaced (%s)", path, meddled, why) end
  return cls
end

-- Why n more agents would not fit in the memory (lua/asx/memory.lua).
local memory = require("asx.memory")
local too_many = memory.too_many

-- A class's stocks: one number (each instrument's), or { [name] = n }.
local function is_stocks(v)
  if check.is_balance(v) then return true end
  if type(v) ~= "table" then return false end
  for k, n in pairs(v) do
    if type(k) ~= "string" or not check.is_balance(n) then return false end
  end
  return true
end

-- Each strategy's agent count and starting balances: the command line's,
-- else the class's fields, else the defaults. A class field of the wrong
-- kind, or more agents than the memory available can hold, is a usage
-- error, found before anything is made.
local function plan_agents(classes, files, opts, available)
  local plan, total = {}, 0
  for i, cls in ipairs(classes) do
    local path = files[i].path
    local function field(name, ok, what)
      local v = cls[name]
      if v ~= nil and not ok(v) then
        usage_error("%s: the class's %s field must be %s (got %s)", path, name, what, check.show(v))
      end
      return v
    end
    local n = files[i].count or opts.agents or field("agents", check.is_count, "a " .. check.integer("positive"))
      or DEFAULT_AGENTS
    -- Checked on assignment too, but rawset passes by that check.
    field("latency", courier.is_latency, "a " .. courier.LATENCY)
    plan[i] = {
      count = n,
      money = opts.money or field("money", check.is_balance, "a " .. check.integer("non-negative")) or DEFAULT_MONEY,
      stocks = opts.stocks or field("stocks", is_stocks, "a " .. check.integer("non-negative")) or DEFAULT_STOCKS,
    }
    -- A table of stocks by instrument names only instruments traded: its
    -- agents could not join the exchange.
    if type(plan[i].stocks) == "table" then
      local traded = {}
      for _, name in ipairs(opts.instruments or { "STOCK" }) do traded[name] = true end
      for name in pairs(plan[i].stocks) do
        if not traded[name] then
          usage_error("%s: the class's stocks field names an instrument that is not traded (%q; --instruments: %s)",
            path, name, table.concat(opts.instruments or { "STOCK" }, ","))
        end
      end
    end
    total = total + n
  end
  local why = too_many(total, available, opts.instruments and #opts.instruments)
  if why then usage_error("%s", why) end
  return plan
end

-- Whole numbers as the JSON lines write them (event.format_number,
-- asx_fmt_double): in all their digits below 1e21, so that a best value of
-- 2^53 is 9007199254740992 here and in --summary's JSON, not
-- 9007199254740992.00. Fractions with two decimals, as money is read.
local format_number = require("asx.event").format_number
local function fmt_num(v)
  if v == nil then return "-" end
  if v % 1 == 0 then return format_number(v) end
  return ("%.2f"):format(v)
end

-- The summary, on stdout. Lines are "key: value", one fact each; the
-- strategies' names are their classes', escaped as on stderr.
function M.summary(s, out)
  local r = s:summary()
  local w = function(line) out:write(terminal.text(line), "\n") end
  w(("seed: %d"):format(r.seed))
  w(("clock: %s"):format(r.clock))
  w(("session time: %.3f s"):format(r.session_time))
  w(("wall time: %.3f s"):format(r.wall_time))
  if r.signal then
    w(("stopped by: %s"):format(summary_json.signal_name(r.signal)))
  elseif r.stopped_by then
    w(("stopped by: %s"):format(r.stopped_by))
  end
  for _, st in ipairs(r.strategies) do
    -- Agents are stopped only by kill at the prompt: said only then.
    w(("agents %s: %d (%d running, %d finished, %d failed%s)"):format(st.name, st.agents, st.running,
      st.finished, st.failed, st.stopped > 0 and (", %d stopped"):format(st.stopped) or ""))
  end
  w(("orders: %d"):format(r.orders))
  w(("trades: %d"):format(r.trades))
  w(("volume: %.0f"):format(r.volume)) -- %d would wrap past 2^63
  -- One line of prices per instrument, named when there are several.
  for _, p in ipairs(r.instruments) do
    w(("open/high/low/close%s: %s/%s/%s/%s"):format(#r.instruments > 1 and " " .. p.name or "",
      fmt_num(p.open), fmt_num(p.high), fmt_num(p.low), fmt_num(p.close)))
  end
  w(("orders per wall second: %d"):format(math.floor(r.orders_per_sec + 0.5)))
  for _, st in ipairs(r.strategies) do
    w(("value %s: mean %.2f, best %s, start %.2f"):format(st.name, st.mean_value, fmt_num(st.best_value),
      st.start_value))
  end
  for _, d in ipairs(r.detached_loggers) do
    w(("%s: detached after an error, %d events missed"):format(d.name, d.missed))
  end
end

-- The end of a run, with or without -i: every logger flushed and closed,
-- the summary, and the exit status (os.exit's, else 1 for --strict with a
-- failed agent or logger, else 3 when a logger lost rows or was detached
-- after an error, else 0). Returns
-- the status and each logger's counts (loggers.counts), the command
-- line's and then those the session's code left open.
function M.finish(s, logs, opts)
  local log_ok, close_err = loggers.finish(logs)
  -- The built-in loggers that the session's own code opened (at the prompt,
  -- in a strategy) and left open are closed too, and named in the summary:
  -- the rows and points they still held were lost at exit, unsaid.
  local others = loggers.still_open()
  local others_ok, others_err = loggers.finish(others)
  M.summary(s, stdout)
  loggers.report(logs, stdout)
  loggers.report(others, stdout)
  if not log_ok then terminal.write(("%s: %s\n"):format(PROG, close_err)) end
  if not others_ok then terminal.write(("%s: %s\n"):format(PROG, others_err)) end
  -- The summary is the run's result: one that stdout did not take (a full
  -- disk: asx-host > /dev/full exited 0 with nothing written) is said, and
  -- the status is 1, as for --summary's file. A reader that left (a pipe
  -- that head -1 closed) took what it wanted: that is no failure of the run.
  local flushed, flush_err = stdout:flush()
  local summary_lost = not flushed and not tostring(flush_err):find("Broken pipe", 1, true)
  if summary_lost then
    terminal.write(("%s: cannot write the summary to stdout: %s\n"):format(PROG, tostring(flush_err)))
  end
  local counts = loggers.counts(logs)
  for _, c in ipairs(loggers.counts(others)) do counts[#counts + 1] = c end
  -- A logger detached after an error missed every event from the one it
  -- failed on: its log is not whole either, as a full disk's is not. Its
  -- entry says how many (missed); one the session's code added, which is
  -- in neither list, gets an entry of its own.
  local listed = {}
  for i, L in ipairs(logs or {}) do listed[L] = counts[i] end
  for i, L in ipairs(others) do listed[L] = counts[#(logs or {}) + i] end
  for _, d in ipairs(s:summary().detached_loggers) do
    local c = listed[d.logger]
    if not c then
      c = { logger = d.name }
      counts[#counts + 1] = c
      listed[d.logger] = c
    end
    c.missed = (c.missed or 0) + d.missed
  end
  local lost = false
  for _, c in ipairs(counts) do lost = lost or (c.lost or 0) > 0 or (c.missed or 0) > 0 end
  if summary_lost then return 1, counts end
  if s.exit_code then return s.exit_code, counts end
  if opts.strict and (s.failed > 0 or #s.logger_failures > 0) then return 1, counts end
  return lost and M.LOST_ROWS or 0, counts
end

local function progress_line(s, t0)
  local st = s.exchange:stats()
  local wall = core.hrtime() - t0
  local rate = wall > 0 and st.orders / wall or 0
  return ("\r\27[Kt=%.1fs  orders %d  trades %d  last %s  %.0f orders/s"):format(s:now(), st.orders,
    st.trades, fmt_num(st.last), rate)
end

-- Refuses two outputs at one file (by whatever path), which the one written
-- last replaced: a --summary or --report over a --log's rows, which the
-- summary counted as written (two --log at one file, open_cli refuses). A
-- device or a pipe (/dev/stdout) is written into, not replaced: it may be
-- shared. An output at a strategy's or a logger's file is refused too: the
-- run replaced the user's code with its page, summary or rows
-- (`--summary mine.lua mine.lua`, a file name forgotten).
local function refuse_shared_outputs(opts, files)
  local same_file = require("asx.loggers.file").same_file
  local special = require("asx.ffi").C.asx_logfile_special
  local inputs, outputs = {}, {}
  for _, f in ipairs(files) do inputs[#inputs + 1] = { "the strategy file", f.path } end
  for _, spec in ipairs(opts.loggers or {}) do
    if spec[1] == "log" then outputs[#outputs + 1] = { "--log", spec[2] } end
    if spec[1] == "logger" then inputs[#inputs + 1] = { "the --logger file", spec[2] } end
  end
  if opts.summary then outputs[#outputs + 1] = { "--summary", opts.summary } end
  if opts.report then outputs[#outputs + 1] = { "--report", opts.report } end
  for _, b in ipairs(outputs) do
    for _, a in ipairs(inputs) do
      if special(b[2]) ~= 1 and same_file(a[2], b[2]) then
        usage_error("%s: '%s' is %s '%s'", b[1], b[2], a[1], a[2])
      end
    end
  end
  for i = 2, #outputs do
    local b = outputs[i]
    for j = 1, i - 1 do
      local a = outputs[j]
      if b[1] ~= "--log" and special(b[2]) ~= 1 and same_file(a[2], b[2]) then
        usage_error("%s: '%s' is the file of %s '%s' too", b[1], b[2], a[1], a[2])
      end
    end
  end
end

-- Runs a session: the agents of the strategy files, the loggers, and with
-- opts.interactive the prompt of lua/asx/repl/ on the same session.
-- Returns the exit status.
function M.run(opts, files)
  -- A file given twice on the command line is two strategies of one name.
  -- With -i, one class per file: spawn("x.lua") at the prompt of a file
  -- given on the command line adds agents of the same strategy, not of a
  -- look-alike the summary would count apart.
  local loaded = opts.interactive and {}
  local function load(path)
    local cls = loaded and loaded[path]
    if not cls then
      cls = M.load_strategy(path)
      if loaded then loaded[path] = cls end
    end
    return cls
  end
  local classes = {}
  for i, f in ipairs(files) do classes[i] = load(f.path) end
  local set_ok, set_err = params.apply(opts.sets, classes)
  if not set_ok then usage_error("%s", set_err) end
  refuse_shared_outputs(opts, files)
  if opts.summary then
    local ok, err = summary_json.check(opts.summary)
    if not ok then usage_error("%s", err) end
  end
  if opts.report then
    local ok, err = require("asx.report.html").check(opts.report)
    if not ok then usage_error("--report: %s", err) end
  end
  local plan = plan_agents(classes, files, opts)

  -- The live page's address is taken before the log files open (and
  -- truncate what an earlier run wrote): one in use, or no address, is a
  -- bad command line that leaves them as they were.
  local listener
  if opts.http then
    local err
    listener, err = require("asx.http").listen({ host = opts.http.host, port = opts.http.port,
      control = opts.http_control })
    if not listener then usage_error("--http: %s", err) end
  end

  -- The loggers open once the strategies loaded, before anything
  -- runs, so a bad value exits 2 with nothing done.
  local logs, log_err = loggers.open_cli(opts.loggers)
  if not logs then usage_error("%s", log_err) end

  -- With -i an agent's error arrives while the user may be typing: it goes
  -- through the reader, which moves the prompt below it.
  local prompt
  local function report(text)
    if prompt then
      prompt.print_error(text)
    else
      terminal.write(text, "\n")
    end
  end
  local s = session.new({
    clock = opts.clock, seed = opts.seed, duration = opts.duration, strict = opts.strict,
    loggers = logs, stuck_warning = opts.stuck_warning, latency = opts.latency,
    instruments = opts.instruments,
    on_error = opts.interactive and function(_, _, text) report(text) end or nil,
    on_logger_error = opts.interactive and function(_, _, text) report("asx: " .. text) end or nil,
  })
  -- One options table for every trader: Cls:new copies what it needs, so a
  -- million agents do not make a million tables of garbage.
  local topts = {}
  -- With several instruments, a number of stocks is each one's position.
  local function each(stocks) return session.each_instrument(s.exchange, stocks) end
  for i, cls in ipairs(classes) do
    local p = plan[i]
    topts.money, topts.stocks = p.money, each(p.stocks)
    for _ = 1, p.count do s:add(cls:new(topts)) end
  end

  s.sched:catch_signals(PROG)

  if opts.interactive then
    local err
    prompt, err = require("asx.repl").attach(s, {
      stdout = stdout, stderr = stderr,
      money = opts.money or DEFAULT_MONEY, stocks = each(opts.stocks or DEFAULT_STOCKS),
      -- spawn()'s agents start as plan_agents starts those of the command
      -- line: --money/--stocks, else the class's fields, else the defaults.
      given = { money = opts.money, stocks = opts.stocks },
      defaults = { money = DEFAULT_MONEY, stocks = DEFAULT_STOCKS }, quiet = opts.quiet,
      too_many = function(n) return memory.session_too_many(s, n) end,
      load_strategy = function(path)
        local ok, cls = pcall(load, path)
        if ok then return cls end
        error(type(cls) == "table" and cls.usage or tostring(cls), 0)
      end,
      -- What report("FILE") must not replace, as --report may not: the
      -- strategies' files (spawned ones too) and the --logger files.
      inputs = function()
        local out = {}
        for path in pairs(loaded) do out[#out + 1] = { "the strategy file", path } end
        for _, spec in ipairs(opts.loggers or {}) do
          if spec[1] == "logger" then out[#out + 1] = { "the --logger file", spec[2] } end
        end
        return out
      end,
    })
    -- Nothing ran: like a bad command line, -i without an input is status 2.
    if not prompt then
      stderr:write(("%s: -i needs a standard input to read (%s)\n"):format(PROG, err))
      return 2
    end
  end
  local sampler = opts.summary and require("asx.sampler").attach(s)
  -- The report of --report, also kept at the prompt for chart() and report().
  local page = (opts.report or opts.interactive or opts.http)
    and require("asx.report").attach(s, { on_tick = sampler and sampler.take })
  -- The live page (--http), on the session's loop.
  local live
  if opts.http then
    local err
    live, err = require("asx.http").start(s, page, opts, PROG, listener)
    if not live then usage_error("--http: %s", err) end
  end

  local tty = not opts.quiet and not prompt and core.isatty(2)
  if not opts.quiet and not prompt then
    stderr:write(("%s: %d agents, %s clock, seed %d%s (Ctrl-C stops)\n"):format(PROG, #s.traders,
      s.clock, s.seed, s.duration and (", duration " .. fmt_num(s.duration) .. " s") or ""))
  end
  if tty then
    local t0 = core.hrtime()
    s.sched:on_progress(function() stderr:write(progress_line(s, t0)) end, 0.2)
  end
  s:run()
  if sampler then sampler:finish() end
  if tty then stderr:write("\r\27[K") end
  if prompt then
    prompt.close()
    stdout:flush()
  end
  -- After the prompt: closing runs the loop until the streams have ended.
  if live then live.close() end
  local status, counts = M.finish(s, logs, opts)
  -- A script's caller learns that some of its lines failed, unless a line
  -- chose the status itself (os.exit).
  if prompt and status == 0 and s.exit_code == nil and prompt.mode ~= "tty" and prompt.failures > 0 then
    status = 1
  end
  if opts.report then
    local ok, err = page:write(opts.report, { parameters = params.as_table(opts.sets) })
    if not ok then
      stderr:write(("%s: --report: %s\n"):format(PROG, err))
      status = 1
    end
  end
  if opts.summary then
    local ok, err = summary_json.write(opts.summary, s, opts, sampler, status, counts)
    if not ok then
      stderr:write(("%s: %s\n"):format(PROG, err))
      status = 1
    end
  end
  return status
end

function M.main(argv)
  argv = argv or {}
  require("asx.sandbox").install()
  local ok, res, files = pcall(M.parse, argv)
  if ok and not res.help and not res.version and not res.interactive and #files == 0 then
    ok, res = false, { usage = "no strategy file given" }
  end
  if ok and res.http_control and not res.http then
    ok, res = false, { usage = "--http-control needs --http" }
  end
  if ok and res.interactive and res.report then
    ok, res = false, { usage = "--report is for runs without -i (report(\"FILE.html\") at the prompt)" }
  end
  if ok and res.interactive and (res.sets or res.summary) then
    ok, res = false, { usage = "--set and --summary are for runs without -i" }
  end
  if ok and res.help then
    stdout:write(USAGE, "\n", HELP, "\n")
    return 0
  elseif ok and res.version then
    stdout:write(("%s %s\n"):format(PROG, argv.version or asx._VERSION))
    return 0
  end
  if ok then ok, res = pcall(M.run, res, files) end
  return usage.exit(PROG, USAGE, ok, res)
end

return M
