-- The prompt of `asx-host -i`: a Lua REPL inside a live session.
--
-- Lines come from the line reader in src/asx_repl.c (libedit on a terminal,
-- plain reads from a pipe or a file), one at a time, from the same libuv loop
-- that runs the agents: with the real clock they keep trading while the user
-- types. Each line is evaluated in the session's own Lua state (globals are
-- the session's globals); the built-in commands live in an environment table
-- in front of _G, so they neither clobber nor depend on what strategies did
-- to the globals.
--
-- Every command returns its data as a Lua value whose printed form is the
-- display, so `book()` shows the ladder while `book().asks[1].price` is a
-- number. Misuse raises an error naming the command and the argument, as
-- everywhere in asx (README.md, "Errors"); the REPL prints it and goes on.
--
-- The REPL is a mode of the host: lua/asx/host.lua runs the session as it
-- always does and M.attach puts the prompt on it; the commands that act on
-- the session (pause, step, spawn, kill) are the session's own methods.
local asx = require("asx")
local fmt = require("asx.repl.format")
local commands = require("asx.repl.commands")
local complete = require("asx.repl.complete")
local recorder = require("asx.loggers.recorder")

local M = {}

-- Lines typed at the prompt may replace any global, the string library's
-- functions included; the REPL keeps its own references.
local type, tostring, tonumber, pairs, select = type, tostring, tonumber, pairs, select
local rawget, pcall, collectgarbage = rawget, pcall, collectgarbage
local concat = table.concat
local format, gsub, sub, find, match = string.format, string.gsub, string.sub, string.find, string.match
local gmatch = string.gmatch
local loadstring, setfenv, unpack, error = loadstring, setfenv, unpack, error
local jit_off = jit and jit.off
local argerror = require("asx.check").argerror
local terminal_text = require("asx.terminal").text
local flush_events = asx._flush_events

-- The source names of asx's own Lua files (this file's folder's parent):
-- Ctrl-C at the prompt lets a call to them finish (src/asx_lua_repl.c).
local LIBRARY = match(debug.getinfo(1, "S").source, "^(@.*/)repl/init%.lua$")

M.PROMPT = "asx> "
M.CONTINUE = ">> "

-- The value printer and completion, as the prompt uses them.
M.format = fmt.format
local cut = fmt.cut
M.complete = complete.complete

-- Evaluation ----------------------------------------------------------------

local function is_incomplete(err)
  return sub(err, -7) == "'<eof>'"
end

-- Compiles a chunk typed at the prompt: as an expression first, so that its
-- values print, then as a statement. Returns the function, or nil and
-- "incomplete" or the syntax error. The expression's values go through a
-- call to the function passed as the chunk's argument rather than straight
-- to `return`: `return f(x)` would be a tail call, and an error raised in f
-- would lose its "stdin:1:" position. The newline keeps a trailing comment
-- from swallowing the closing parenthesis.
--
-- first is the line of the script the chunk starts on (default 1). Lua
-- numbers a chunk's lines from 1, so a chunk from further down is named
-- "stdin:<lines before it>" and M.script_lines turns "stdin:6:2:" in
-- messages back into the script's "stdin:8:".
function M.compile(src, first)
  local name = (first or 1) > 1 and "=stdin:" .. (first - 1) or "=stdin"
  local f, experr = loadstring("local __values = ...; return __values(" .. src .. "\n)", name)
  if f then return f end
  local err
  f, err = loadstring(src, name)
  if f then return f end
  if is_incomplete(err) then return nil, "incomplete" end
  -- "1 +* 2" fails as a statement at its first token, which says little;
  -- the expression's error points at the real culprit.
  local near = match(err, "unexpected symbol near '(.-)'$")
  if near and match(src, "^%s*()") == find(src, near, 1, true) and not is_incomplete(experr) then
    return nil, experr
  end
  return nil, err
end

-- Whether text, the input left when the session ended (more: there was
-- more than text), holds a command that did not run: blank lines and
-- comments run nothing, and a quit() says the session was to end, so that
-- what comes after it would not have run either. Code is never taken for a
-- comment: a comment is cut from its "--", and a line of code has
-- something before that.
function M.commands_left(text, more)
  text = gsub(gsub(text, "%-%-%[(=*)%[.-%]%1%]", ""), "%-%-[^\n]*", "")
  for line in gmatch(text, "[^\n]+") do
    if match(line, "^%s*quit%s*%(%s*%)%s*;?%s*$") then return false end
    if find(line, "%S") then return true end
  end
  return more and true or false
end

-- Positions in chunks compiled by M.compile, as lines of the whole script.
function M.script_lines(text)
  return (gsub(text, "stdin:(%d+):(%d+)", function(before, line)
    return "stdin:" .. (tonumber(before) + tonumber(line))
  end))
end

local function pack(...) return { n = select("#", ...), ... } end
local function pack_values(...) return { n = select("#", ...), packed_ = pack, ... } end

-- The REPL -------------------------------------------------------------------

-- Starts the prompt. opts:
--   exchange   the session's exchange (required)
--   me         the user's trader (optional)
--   session    the asx.session the exchange belongs to (optional): the
--              commands pause, step, speed, spawn and kill are its methods
--   given      { money =, stocks = } of agents spawned without them, before
--              their class's fields (asx-host's --money and --stocks)
--   defaults   { money =, stocks = } of agents spawned without them, after
--              their class's fields
--   load_strategy  function(path) -> Trader class, used by spawn("file.lua")
--   too_many   function(count) -> why count more agents would not fit in the
--              memory available, or nil; spawn refuses them then
--   inputs     function() -> the files the session's code came from (its
--              strategies' and loggers'), which report() will not replace
--   history    a file name, or false for none (default ~/.asx_history)
--   on_exit    called once with "quit", "eof" or "interrupt" when the user
--              ends the REPL; the host then stops the session
--   stdout, stderr  file handles (default io.stdout, io.stderr)
-- Returns the REPL object (r:close() ends it without calling on_exit).
function M.start(opts)
  if type(opts) ~= "table" then argerror(1, "start", "table of options expected", opts) end
  local ex = opts.exchange
  if not asx.is_exchange(ex) then argerror(1, "start", "exchange: exchange expected", ex) end
  local out, errout = opts.stdout or io.stdout, opts.stderr or io.stderr
  local history = opts.history
  if history == nil then
    local home = os.getenv("HOME")
    history = home and home ~= "" and home .. "/.asx_history" or false
  end

  local self = { exchange = ex, me = opts.me, session = opts.session, buffer = nil, done = false }
  self.recorder = recorder.new(opts.trades_kept)
  ex:add_logger(self.recorder)

  local ctx = { exchange = ex, me = opts.me, session = opts.session, recorder = self.recorder,
    given = opts.given, defaults = opts.defaults,
    load_strategy = opts.load_strategy, too_many = opts.too_many, inputs = opts.inputs }
  local reader

  -- A __gc metamethod that raises makes whichever allocation runs it raise,
  -- once per finalizer, in the REPL's own code too: what the prompt cannot
  -- go on without is tried again.
  local function surely(f, ...)
    for _ = 1, 10 do
      if pcall(f, ...) then return end
    end
  end

  local function finish(reason)
    if self.done then return end
    self.done = true
    pcall(out.flush, out)
    if reader then surely(reader.close, reader) end
    if reason and opts.on_exit then surely(opts.on_exit, reason) end
  end
  ctx.quit = finish

  local cmd = commands.make(ctx)
  -- The prompt's own copies of the standard library's tables: a line that
  -- replaces string.format leaves asx's code the real one.
  -- A global the line assigns is _G's, shared with the strategies, but
  -- for the standard library's names (lua/asx/sandbox.lua).
  local env = require("asx.sandbox").environment(function(_, k)
    local v = cmd[k]
    if v ~= nil then return v end
    if k == "me" then return ctx.me end
    return _G[k]
  end)
  self.env = env
  self.commands = cmd

  -- Whether line numbers are the script's (pipe and file modes), and how
  -- many lines failed there: the exit status tells a script's caller.
  local script = false
  self.lineno, self.failures = 0, 0

  local function lines_of(text)
    return script and M.script_lines(text) or text
  end

  -- Writing must not fail the prompt either (a closed stdout). Returns
  -- whether the text was written.
  local function put(f, ...)
    local ok = pcall(f.write, f, ...)
    pcall(f.flush, f)
    return ok
  end

  -- An error's text is the user's (a strategy's, data's): its control
  -- characters are escaped, as in every error asx writes to stderr, so that
  -- it cannot drive the terminal.
  local function shown(msg)
    return terminal_text(msg)
  end

  -- With no memory left, the message goes as it is.
  local function print_error(msg)
    pcall(out.flush, out)
    local ok, text = pcall(shown, msg)
    return put(errout, ok and text or msg, "\n")
  end

  local function fail(msg)
    self.failures = self.failures + 1
    return print_error(msg)
  end

  -- An error's message with the script's line numbers, cut as a string
  -- value is (a 10 MB message printed whole); a value of another type as
  -- the prompt prints values, which cuts a __tostring's text so.
  local function message(e)
    if type(e) ~= "string" then return "error: " .. M.format(e) end
    local head, more = cut(lines_of(e))
    return head .. more
  end

  local function fail_with(e)
    return fail(message(e))
  end

  -- Evaluates one complete chunk and prints its values or its error.
  -- Returns "incomplete" when the chunk needs more lines.
  local function run(src, first)
    local f, err = M.compile(src, script and first or 1)
    if err == "incomplete" then return err end
    if not f then return fail_with(err) end
    setfenv(f, env)
    -- Interpreted, so that Ctrl-C can stop it (see asx_lua_repl.c).
    if jit_off then jit_off(f, true) end
    -- While the report is the exchange's only logger, the book hands it the
    -- records in batches; the line must see every record up to now, in
    -- ex.events as in what any logger made of them. A logger failing here is
    -- not the line's failure: it is said, and the line runs.
    local flushed, ferr = pcall(flush_events, ex)
    if not flushed then print_error(message(ferr)) end
    local res = pack(pcall(f, pack_values))
    if not res[1] then
      -- A line that failed inside a delivery of events to the loggers (a
      -- stack overflow in a recursion that trades) left the exchange
      -- delivering: it ends the delivery as an agent's failure does,
      -- rather than the next agent to trade failing on it.
      if ex:delivering() then ex:_abandon_delivery() end
      -- What the line made is garbage now, and LuaJIT does not collect when
      -- an allocation fails: without room, the message's cut and what runs
      -- after it ran out of memory again, and the error was said twice.
      if res[2] == "not enough memory" then pcall(collectgarbage) end
      return fail_with(res[2])
    end
    -- An expression returns its values packed; a statement returns nothing
    -- unless it says `return`, whose values print too.
    local values = res[2]
    if res.n == 2 and type(values) == "table" and rawget(values, "packed_") == pack then
      res = values
    else
      res = { n = res.n - 1, select(2, unpack(res, 1, res.n)) }
    end
    if res.n > 0 then
      local parts = {}
      for i = 1, res.n do parts[#parts + 1] = M.format(res[i]) end
      -- What a __tostring returned, and strings' C1 controls (U+009B is
      -- a CSI), are the user's text too: escaped as errors are.
      put(out, terminal_text(concat(parts, "\t")), "\n")
    end
  end

  -- The next line waits while a step runs: a script's `book()` after
  -- `step(5)` must see the book after the step.
  local function stepping()
    local ctl = ctx.session
    return ctl and type(ctl.stepping) == "function" and ctl:stepping()
  end
  -- A session that cannot even say (no memory left) is not stepping.
  local function ready()
    local ok, yes = pcall(stepping)
    return not (ok and yes)
  end

  local function next_prompt()
    if self.done then return end
    if self.buffer then
      reader:prompt(M.CONTINUE)
    else
      reader:prompt(M.PROMPT, ready)
    end
  end

  -- One line: the statement so far runs once it is complete.
  local function take_line(line)
    self.lineno = self.lineno + 1
    if not self.buffer then self.first = self.lineno end
    local src = self.buffer and self.buffer .. "\n" .. line or line
    if match(src, "^%s*$") then
      self.buffer = nil
      return
    end
    -- A leading "=" prints an expression, as in the stock Lua REPL.
    local status = run((gsub(src, "^%s*=", "return ", 1)), self.first)
    self.buffer = status == "incomplete" and src or nil
  end

  -- Nothing may escape to the reader: a callback that raises leaves it
  -- waiting for a prompt that never comes. The line runs where Ctrl-C can
  -- interrupt it (reader:pcall); whatever fails, the next prompt comes.
  -- Returns the line's error when there was no memory left to print it
  -- (even a call can need some, to grow the stack): the reader prints it.
  local function on_line(line)
    if self.done then return end
    if line == nil then
      if self.buffer then pcall(fail, "stdin: incomplete statement at end of input") end
      return finish("eof")
    end
    local ok, err = reader:pcall(take_line, line)
    if not ok then
      self.buffer = nil
      -- LuaJIT does not collect when an allocation fails: what the line
      -- made is garbage now, and the error's message needs the room.
      -- The collection may run out of memory itself (it can grow a table).
      if err == "not enough memory" then pcall(collectgarbage) end
      local called, printed = pcall(fail_with, err)
      if not (called and printed) then
        self.failures = self.failures + 1
        surely(next_prompt)
        return err
      end
    end
    surely(next_prompt)
  end

  local function on_interrupt(count)
    self.buffer = nil
    if count >= 2 then return finish("interrupt") end
    surely(next_prompt)
  end

  -- Ctrl-C during a line or the step it started: the line has been
  -- interrupted already if it could be; a step stops where it got to.
  local function on_break()
    local ctl = ctx.session
    if not self.done and ctl and type(ctl.stepping) == "function" and ctl:stepping() then
      surely(ctl.pause, ctl, true)
      print_error(format("interrupted: the step stopped at %s s", format("%.3f", ctl:now())))
    end
  end

  -- The names the REPL adds in front of the globals, for completion.
  local own = { me = ctx.me }
  for k, v in pairs(cmd) do own[k] = v end
  local function candidates(word)
    local ok, list = pcall(M.complete, own, word)
    return ok and list or {}
  end

  local core = require("asx.core")
  local err
  reader, err = core.repl_open({ on_line = on_line, on_interrupt = on_interrupt, on_break = on_break,
    complete = candidates, history = history or nil, library = LIBRARY })
  if not reader then error("start: " .. tostring(err), 2) end
  self.reader = reader
  self.mode = reader:mode()
  script = self.mode ~= "tty"
  -- A __tostring's error in a placeholder names the script's line too
  -- (`<table: __tostring raised: stdin:2: boom>`, where it said stdin:1:1).
  fmt.positions = script and M.script_lines or nil
  -- The session ended before the input did (its duration, a strategy's
  -- s:stop()): the lines left are not run, and a script's caller hears of
  -- it, on stderr and in the exit status, as of a line that failed. A
  -- signal or os.exit (a line's, a strategy's) stopped the session on
  -- purpose: nothing is said then; nor when what is left is no command
  -- (M.commands_left).
  self.close = function()
    local ctl = ctx.session
    if not self.done and script and ctl and not ctl.sched:signal() and ctl.exit_code == nil then
      local ok, left = pcall(reader.unread, reader)
      if ok and left then
        local read, text, more = pcall(reader.leftover, reader)
        left = not read or M.commands_left(text, more)
      end
      if self.buffer or (ok and left) then
        pcall(fail, format("the session ended before the input did: lines from stdin:%d on were not run",
          self.buffer and self.first or self.lineno + 1))
      end
    end
    finish(nil)
  end
  -- For output that does not come from the line being evaluated.
  local function print_out(text, stream)
    if self.done then
      put(stream == "stderr" and errout or out, text)
    else
      reader:print(text, stream)
    end
  end
  self.print = function(text, stream) print_out(lines_of(text), stream) end
  -- An error that is not the line's (an agent's, a logger's), printed on
  -- stderr: its message is cut as a line's error is (an agent's
  -- error(("x"):rep(1e7)) printed 10 MB during step), the traceback after
  -- it kept, and its control characters escaped.
  self.print_error = function(text)
    text = lines_of(text)
    local msg, traceback = match(text, "^(.-)(\nstack traceback:\n.*)$")
    if not msg then msg, traceback = text, "" end
    local head, more = cut(msg)
    print_out(shown(head .. more .. traceback) .. "\n", "stderr")
  end
  next_prompt()
  return self
end

-- asx-host -i ----------------------------------------------------------------

-- How often `me` wakes. As an agent `me` only keeps the session alive while
-- the prompt is open (a session ends when no agent waits any more), and lets
-- a virtual clock with nothing else to run pause instead of racing ahead.
M.KEEPALIVE = 1

-- Puts the prompt on a session host.run has made, before it runs: adds the
-- user's trader `me` as the last agent (so the strategies' agents keep the
-- positions, and so the random draws, they have in a run without -i),
-- pauses a virtual clock (nothing would be left to look at by the time the
-- first line is read), prints the start message unless opts.quiet, and
-- opens the reader. opts: money, stocks (me's), given, defaults, load_strategy,
-- too_many, inputs (see M.start), quiet. Returns the REPL object, or nil and why the reader
-- could not open.
function M.attach(s, opts)
  local Me = asx.Trader:extend("me")
  local agent -- me's number in the session
  function Me:cycle()
    while true do
      -- A virtual clock's step with no other agent to run sleeps to the
      -- step's end in one wake-up, as the clock jumps without -i: a wake-up
      -- a second made step(1e6) take some 17 s. A pause that cuts the step
      -- short (Ctrl-C, the live page's) moves that wake-up back to where
      -- it stopped (Session:pause), or a resume() with nothing else to run
      -- would jump the clock to the old end.
      local nap = M.KEEPALIVE
      if s.clock == "virtual" and s:stepping() then
        local c = s.sched:counts()
        if c.waiting == 0 and c.idle == 0 then nap = math.max(nap, s._step_end - s:now()) end
      end
      -- Past 2^53 s a second no longer moves the clock (now + 1 == now):
      -- me woke at the same instant for ever, and a step that reached such
      -- a time (step(1e16) after any line) never ended. now * 2^-52 is at
      -- least one unit of the last place of now, so the wake-up is later;
      -- at the largest number there is no later one (a wake-up past it is
      -- at it), and a step that reached it ends there.
      local now = s:now()
      if now + nap == now then nap = now * 2 ^ -52 end
      if now + nap == math.huge and s:stepping() then s:pause(true) end
      s._step_sleeper = nap > M.KEEPALIVE and agent or nil
      self:sleep(nap)
      s._step_sleeper = nil
      if s.clock == "virtual" and not s:stepping() then
        local c = s.sched:counts()
        if c.waiting == 0 and c.idle == 0 then s:pause(true) end
      end
    end
  end
  local me = Me:new({ money = opts.money, stocks = opts.stocks })
  agent = s:add(me)
  s._resumable = true
  if s.clock == "virtual" then s:pause(true) end

  if not opts.quiet then
    io.stderr:write(("asx-host: %d agents, %s clock, seed %d%s; you are %s (money %d, stocks %d)%s\n")
      :format(#s.traders - 1, s.clock, s.seed,
        s.duration and (", duration " .. fmt.fmt_num(s.duration) .. " s") or "", tostring(me), me.money,
        me.stocks, s.clock == "virtual" and "; paused: step(seconds) or resume()" or ""))
    io.stderr:write("type help() for the commands\n")
  end

  local ok, res = pcall(M.start, {
    exchange = s.exchange, me = me, session = s, given = opts.given, defaults = opts.defaults,
    load_strategy = opts.load_strategy, too_many = opts.too_many, inputs = opts.inputs,
    on_exit = function() s:stop() end,
  })
  if not ok then return nil, (tostring(res):gsub("^start: ", "")) end
  return res
end

return M
