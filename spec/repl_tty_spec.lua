-- End-to-end specs of `asx-host -i` in a real terminal: tmux (Debian's
-- package) runs it in a detached pane, send-keys types, capture-pane reads
-- the screen. They check what only a terminal has: line editing, history
-- kept across runs, completion, Ctrl-C and Ctrl-D, and that with the real
-- clock the agents trade while the prompt waits.
--
-- Every wait polls the screen a bounded number of times; nothing sleeps a
-- fixed time to let the program catch up.
local HOST = (os.getenv("ASX_BUILD") or "build") .. "/asx-host"

local function pid()
  local f = io.open("/proc/self/stat")
  local s = f and f:read("*l") or tostring(os.time())
  if f then f:close() end
  return s:match("^(%d+)") or s
end

-- A private server, so the specs never touch a user's tmux. LD_PRELOAD (the
-- sanitizer runtimes spec/run.sh preloads for luajit) is not for tmux; the
-- sanitized asx-host links its runtimes itself.
local SOCKET = "asx-test-" .. pid()
local TMUX = "env -u LD_PRELOAD tmux -L " .. SOCKET .. " "

local function sh_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function tmux(args)
  local p = io.popen(TMUX .. args .. " 2>&1")
  local out = p:read("*a")
  p:close()
  return out
end

local function have_tmux()
  return os.execute("command -v tmux >/dev/null 2>&1") == 0
end

local function mkdtemp()
  local p = io.popen("mktemp -d")
  local d = p:read("*l")
  p:close()
  return d
end

local function read_file(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

-- Starts asx-host -i ARGS in a new pane with HOME at home. The pane's shell
-- prints "[exit N]" when asx-host ends and then waits, so the last screen
-- stays readable.
local function start(home, args)
  tmux("kill-session -t repl")
  local env = ("HOME=%s TERM=xterm ASAN_OPTIONS=%s UBSAN_OPTIONS=%s"):format(sh_quote(home),
    sh_quote(os.getenv("ASAN_OPTIONS") or ""), sh_quote(os.getenv("UBSAN_OPTIONS") or ""))
  local cmd = ("%s %s -i %s; echo \"[exit $?]\"; sleep 600"):format(env, HOST, args or "")
  -- Killing the last session makes the server exit, and a new-session sent
  -- while it does so can reach the dying server and be lost: try again
  -- until the session exists.
  for _ = 1, 50 do
    tmux("new-session -d -s repl -x 100 -y 40 " .. sh_quote(cmd))
    if os.execute(TMUX .. "has-session -t repl 2>/dev/null") == 0 then return end
    os.execute("sleep 0.05")
  end
  error("tmux could not start a session")
end

-- The whole pane, scrollback included, so counts of prompts keep growing.
local function screen()
  return tmux("capture-pane -p -S - -t repl")
end

-- The screen's lines, without the blank ones at the bottom.
local function screen_lines()
  local out = {}
  for l in screen():gmatch("([^\n]*)\n") do out[#out + 1] = l end
  while #out > 0 and out[#out] == "" do out[#out] = nil end
  return out
end

-- Polls the screen until test(text) is true, at most `tries` times 50 ms
-- apart (default 600: thirty seconds, for a slow sanitized build on a loaded machine). Returns the
-- last screen either way.
local function wait_for(test, tries)
  if type(test) == "string" then
    local pattern = test
    test = function(s) return s:find(pattern, 1, true) ~= nil end
  end
  local s
  for _ = 1, tries or 600 do
    s = screen()
    if test(s) then return s, true end
    os.execute("sleep 0.05")
  end
  return s, false
end

local function count(s, needle)
  local n, i = 0, 1
  while true do
    local j = s:find(needle, i, true)
    if not j then return n end
    n, i = n + 1, j + #needle
  end
end

-- Waits for the nth prompt line to appear (the REPL is ready for input).
-- capture-pane trims trailing blanks, so an empty prompt reads "asx>".
local function wait_prompts(n)
  local s, ok = wait_for(function(text) return count(text, "asx>") >= n end)
  assert(ok, "no prompt #" .. n .. " on screen:\n" .. s)
  return s
end

local function send(...)
  tmux("send-keys -t repl " .. table.concat({ ... }, " "))
end

local function type_text(text)
  tmux("send-keys -t repl -l " .. sh_quote(text))
end

local function last_line()
  local l = screen_lines()
  return l[#l]
end

-- Waits until the terminal is back in cooked mode with signals on: the line
-- just typed has been taken and is running, so Ctrl-C is now a SIGINT.
local function wait_running()
  local tty = tmux("display -p -t repl '#{pane_tty}'"):match("^(%S+)")
  for _ = 1, 200 do
    local p = io.popen("stty -a -F " .. tty .. " 2>/dev/null")
    local modes = p:read("*a")
    p:close()
    if modes:find("%sisig") then return end
    os.execute("sleep 0.05")
  end
  error("the line did not start running:\n" .. screen())
end

local function file_mode(path)
  local p = io.popen("stat -c %a " .. sh_quote(path))
  local mode = p:read("*l")
  p:close()
  return mode
end

local describe_tty = have_tmux() and describe or pending

describe_tty("asx-host -i in a terminal", function()
  local home

  before_each(function()
    home = mkdtemp()
  end)

  after_each(function()
    tmux("kill-server")
    os.execute("rm -rf " .. sh_quote(home))
  end)

  it("edits the line: cursor keys, Ctrl-A, Ctrl-E, backspace", function()
    start(home, "-q")
    wait_prompts(1)
    type_text("1+2")
    send("Left", "Left", "Left")
    type_text("10")          -- 101+2
    send("C-e", "BSpace")    -- 101+
    type_text("5")           -- 101+5
    send("C-a")
    type_text("-")           -- -101+5
    send("Enter")
    local s = wait_for("\n-96\n")
    assert.truthy(s:find("asx> -101+5\n-96\n", 1, true), s)
  end)

  it("keeps history across runs in ~/.asx_history", function()
    start(home, "-q")
    wait_prompts(1)
    type_text("x = 40")
    send("Enter")
    wait_prompts(2)
    type_text("x + 2")
    send("Enter")
    wait_for("\n42\n")
    send("C-d")
    local s, ok = wait_for("[exit 0]")
    assert.is_true(ok, s)
    assert.are.equal("x = 40\nx + 2\n", read_file(home .. "/.asx_history"))

    start(home, "-q")
    wait_prompts(1)
    send("Up")
    wait_for("asx> x + 2")
    send("Up")
    s, ok = wait_for(function(text) return last_line() == "asx> x = 40" and text end)
    assert.is_true(ok, s)
    send("Enter")
    wait_prompts(2)
    type_text("x")
    send("Enter")
    s, ok = wait_for("asx> x\n40\n")
    assert.is_true(ok, s)
    send("C-d")
    wait_for("[exit 0]")
    assert.are.equal("x = 40\nx + 2\nx = 40\nx\n", read_file(home .. "/.asx_history"))
  end)

  it("appends each line to the history file, where it rewrote the whole file", function()
    local path = home .. "/.asx_history"
    local function inode()
      local p = io.popen("stat -c %i " .. sh_quote(path))
      local i = p:read("*l")
      p:close()
      return i
    end
    start(home, "-q")
    wait_prompts(1)
    type_text("1")
    send("Enter")
    wait_prompts(2)
    local first = inode()
    type_text("2")
    send("Enter")
    wait_prompts(3)
    assert.are.equal(first, inode())
    assert.are.equal("1\n2\n", read_file(path))
    send("C-d")
    wait_for("[exit 0]")
    assert.are.equal(first, inode())
  end)

  it("says once that the history cannot be saved, and goes on", function()
    local path = home .. "/.asx_history"
    local function warning(reason)
      return "asx: cannot save the history in '" .. path .. "': " .. reason .. " (the file is left as it was; "
        .. "no more lines are saved in it)"
    end
    -- A path that cannot be a file (the specs may run as root, whom file
    -- permissions do not stop).
    os.execute("mkdir " .. sh_quote(path))
    start(home, "-q")
    wait_prompts(1)
    for i = 1, 2 do
      type_text(tostring(i))
      send("Enter")
      wait_prompts(i + 1)
    end
    send("C-d")
    local s = wait_for("[exit 0]")
    -- The pane is 100 columns wide: the warning wraps.
    assert.are.equal(1, count((s:gsub("\n", "")), warning("Is a directory")), s)
    os.execute("rmdir " .. sh_quote(path))
    -- A full disk: /dev/full takes no byte (and is not read as history,
    -- where its zeros never ended).
    os.execute("ln -s /dev/full " .. sh_quote(path))
    start(home, "-q")
    wait_prompts(1)
    for i = 1, 2 do
      type_text(tostring(i))
      send("Enter")
      wait_prompts(i + 1)
    end
    send("C-d")
    s = wait_for("[exit 0]")
    assert.are.equal(1, count((s:gsub("\n", "")), warning("No space left on device")), s)
    os.execute("rm -f " .. sh_quote(path))
  end)

  it("keeps at most 1,000 lines of history", function()
    local f = assert(io.open(home .. "/.asx_history", "w"))
    for i = 1, 1005 do f:write("h", i, "\n") end
    f:close()
    start(home, "-q")
    wait_prompts(1)
    send("Up")
    local s, ok = wait_for(function() return last_line() == "asx> h1005" end)
    assert.is_true(ok, s)
    send("C-u")
    type_text("1")
    send("Enter")
    wait_prompts(2)
    send("C-d")
    wait_for("[exit 0]")
    local lines = {}
    for l in read_file(home .. "/.asx_history"):gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
    assert.are.equal(1000, #lines)
    assert.are.equal("h7", lines[1])
    assert.are.equal("h1005", lines[999])
    assert.are.equal("1", lines[1000])
  end)

  it("completes globals, commands, and fields after . and :", function()
    start(home, "-q")
    wait_prompts(1)
    type_text("me:bu")
    send("Tab")
    local s, ok = wait_for(function() return last_line() == "asx> me:buy" end)
    assert.is_true(ok, s)
    type_text("(1, 5)")
    send("Enter")
    s, ok = wait_for("order#1(buy 1 @ 5, filled 0, open)")
    assert.is_true(ok, s)
    type_text("stri")
    send("Tab")
    type_text(".rep")
    send("Tab")
    s, ok = wait_for(function() return last_line() == "asx> string.rep" end)
    assert.is_true(ok, s)
    type_text("('ab', 2)")
    send("Enter")
    s, ok = wait_for('\n"abab"\n')
    assert.is_true(ok, s)
    -- Two candidates: Tab twice lists them.
    type_text("trade")
    send("Tab", "Tab")
    s, ok = wait_for(function(text) return text:find("traders", 1, true) and text:find("trades", 1, true) end)
    assert.is_true(ok, s)
  end)

  it("Ctrl-C clears the line and the pending statement; the prompt comes back", function()
    start(home, "-q")
    wait_prompts(1)
    type_text("error('never')")
    send("C-c")
    local s, ok = wait_for("asx> error('never')^C\nasx>")
    assert.is_true(ok, s)
    type_text("for i = 1, 2 do")
    send("Enter")
    s, ok = wait_for("\n>>")
    assert.is_true(ok, s)
    send("C-c")
    wait_prompts(3)
    type_text("7")
    send("Enter")
    s, ok = wait_for("asx> 7\n7\n")
    assert.is_true(ok, s)
    assert.falsy(s:find("never", s:find("^C", 1, true) + 2, true), s)
  end)

  it("Ctrl-C twice in a row stops the session with the summary", function()
    start(home, "-q --clock virtual --seed 3")
    wait_prompts(1)
    type_text("abc")
    send("C-c")
    wait_prompts(2)
    send("C-c")
    local s, ok = wait_for("[exit 0]")
    assert.is_true(ok, s)
    assert.truthy(s:find("\nseed: 3\nclock: virtual\n", 1, true), s)
  end)

  it("Ctrl-C, a key, then Ctrl-C does not stop", function()
    start(home, "-q")
    wait_prompts(1)
    send("C-c")
    wait_prompts(2)
    type_text("1")
    send("C-c")
    wait_prompts(3)
    type_text("2")
    send("Enter")
    local s, ok = wait_for("asx> 2\n2\n")
    assert.is_true(ok, s)
    assert.falsy(s:find("[exit", 1, true), s)
  end)

  it("Ctrl-D on an empty line stops the session with the summary", function()
    start(home, "-q --seed 9")
    wait_prompts(1)
    send("C-d")
    local s, ok = wait_for("[exit 0]")
    assert.is_true(ok, s)
    assert.truthy(s:find("asx>\nseed: 9\n", 1, true) or s:find("asx> ^D\nseed: 9\n", 1, true), s)
  end)

  it("SIGTERM at the prompt stops the session gracefully and restores the terminal", function()
    start(home, "-q --seed 4 spec/fixtures/quoter.lua")
    wait_prompts(1)
    -- The REPL runs in asx-host's own Lua state, so it can tell its pid.
    type_text([[io.open("/proc/self/stat"):read("*l"):match("^%d+")]])
    send("Enter")
    local host_pid
    local s, ok = wait_for(function(text)
      host_pid = text:match('\n"(%d+)"\n')
      return host_pid ~= nil
    end)
    assert.is_true(ok, s)
    wait_prompts(2)
    assert.is_true(os.execute("kill -TERM " .. host_pid) == 0)
    s, ok = wait_for("[exit 0]")
    assert.is_true(ok, s)
    assert.truthy(s:find("\nseed: 4\n", 1, true), s)
    assert.truthy(s:find("\nstopped by: SIGTERM\n", 1, true), s)
    -- Back in cooked mode: the shell's echo works again.
    assert.are.equal("", tmux("send-keys -t repl -l 'typed'"))
    s, ok = wait_for("[exit 0]\ntyped")
    assert.is_true(ok, s)
  end)

  it("Ctrl-C interrupts a statement that never ends and gives the prompt back", function()
    start(home, "-q --clock virtual")
    wait_prompts(1)
    type_text("n = 0 while true do n = n + 1 end")
    send("Enter")
    wait_running()
    send("C-c")
    local s, ok = wait_for("\nstdin:1: interrupted\nasx>")
    assert.is_true(ok, s)
    -- capture-pane shows the tab between values as spaces.
    type_text("n > 0, stats().state")
    send("Enter")
    s, ok = wait_for(function(text) return text:find('asx> n > 0, stats%(%)%.state\ntrue%s+"paused"\n') end)
    assert.is_true(ok, s)
  end)

  it("Ctrl-C during a statement that trades lets each order finish: the exchange takes orders after, "
    .. "and no logger is detached", function()
    -- A Lua logger that takes a while over each event, so that most of a
    -- Ctrl-C's chances fall inside a delivery to it. Cut short there, the
    -- exchange refused every later order as if a logger traded, or the
    -- logger was detached as failed.
    local logger = home .. "/busy.lua"
    local f = assert(io.open(logger, "w"))
    f:write("local n = 0\nreturn { send_event = function() for i = 1, 300 do n = n + i % 7 end end }\n")
    f:close()
    start(home, "-q --clock virtual --logger " .. sh_quote(logger))
    wait_prompts(1)
    for round = 1, 3 do
      type_text("for i = 1, 1e9 do me:sell(1, 100) me:buy(1, 100) end")
      send("Enter")
      wait_running()
      send("C-c")
      local s, ok = wait_for(function(text)
        return count(text, "stdin:1: interrupted") >= round and count(text, "asx>") >= round + 1
      end)
      assert.is_true(ok, s)
    end
    type_text("me.exchange:delivering(), me:buy(1, 1).status")
    send("Enter")
    local s, ok = wait_for(function(text) return text:find('\nfalse%s+"open"\n') end)
    assert.is_true(ok, s)
    assert.falsy(s:find("detached", 1, true), s)
    assert.falsy(s:find("must not trade", 1, true), s)
  end)

  it("Ctrl-C during step(n) stops the step, keeps the session and gives the prompt back", function()
    start(home, "-q --clock virtual --seed 5 spec/fixtures/quoter.lua")
    wait_prompts(1)
    type_text("step(1e9)")
    send("Enter")
    wait_running()
    send("C-c")
    local s, ok = wait_for(function(text) return text:find("\ninterrupted: the step stopped at %d+%.%d+ s\nasx>") end)
    assert.is_true(ok, s)
    local at = tonumber(s:match("the step stopped at (%d+%.%d+) s"))
    type_text("stats().state, stats().time == " .. ("%.3f"):format(at) .. ", stats().time < 1e9")
    send("Enter")
    s, ok = wait_for(function(text) return text:find('\n"paused"%s+true%s+true\n') end)
    assert.is_true(ok, s)
    -- The session goes on: a new step runs from there.
    type_text("step(1)")
    send("Enter")
    wait_prompts(4)
    type_text("stats().time == " .. ("%.3f"):format(at + 1))
    send("Enter")
    s, ok = wait_for("\ntrue\n")
    assert.is_true(ok, s)
    assert.falsy(s:find("[exit", 1, true), s)
  end)

  it("Ctrl-C at the prompt interrupts an agent that holds the loop; the session goes on", function()
    start(home, "-q --stuck-warning 0 --clock real")
    wait_prompts(1)
    type_text([[spawn("spec/fixtures/host/spin.lua")]])
    send("Enter")
    local s, ok = wait_for("spinning\n")
    assert.is_true(ok, s)
    -- The agent holds the loop that reads the keys: the terminal soon takes
    -- Ctrl-C as a signal (ISIG), which reaches the host at once.
    wait_running()
    send("C-c")
    s, ok = wait_for("spin#2: spec/fixtures/host/spin.lua:11: interrupted\nstack traceback:")
    assert.is_true(ok, s)
    -- The prompt is back, the keys are keys again, and the session is whole.
    type_text("#traders('failed')")
    send("Enter")
    s, ok = wait_for("\n1\n")
    assert.is_true(ok, s)
    send("C-d")
    s, ok = wait_for("[exit 0]")
    assert.is_true(ok, s)
    assert.truthy(s:find("agents spin: 1 (0 running, 0 finished, 1 failed)", 1, true), s)
  end)

  it("Ctrl-C during step(n) interrupts an agent that does not yield; the session goes on", function()
    start(home, "-q --stuck-warning 0 --clock virtual spec/fixtures/host/spin.lua")
    wait_prompts(1)
    type_text("step(1)")
    send("Enter")
    local s, ok = wait_for("spinning\n")
    assert.is_true(ok, s)
    wait_running()
    send("C-c")
    s, ok = wait_for("spin#1: spec/fixtures/host/spin.lua:11: interrupted\nstack traceback:")
    assert.is_true(ok, s)
    -- The prompt comes back (the step ended, or stopped where it got to).
    wait_prompts(2)
    type_text("#traders('failed')")
    send("Enter")
    s, ok = wait_for("\n1\n")
    assert.is_true(ok, s)
    send("C-d")
    s, ok = wait_for("[exit 0]")
    assert.is_true(ok, s)
  end)

  it("Ctrl-C at the prompt reaches an agent looping in compiled code: the next stops the session, "
    .. "the third quits", function()
    start(home, "-q --stuck-warning 0 --clock real")
    wait_prompts(1)
    type_text([[spawn("spec/fixtures/host/stuck.lua")]])
    send("Enter")
    local s, ok = wait_for("stuck\n")
    assert.is_true(ok, s)
    wait_running()
    -- The first Ctrl-C arms a hook that compiled code never meets, and
    -- shows ^C; the next stops the session; each waits for the one before
    -- to show, as signals sent together may arrive as one.
    send("C-c")
    s, ok = wait_for("stuck\n^C")
    assert.is_true(ok, s)
    send("C-c")
    s, ok = wait_for("asx-host: interrupted, stopping (send it again to quit at once)")
    assert.is_true(ok, s)
    send("C-c")
    s, ok = wait_for("[exit 130]")
    assert.is_true(ok, s)
    assert.truthy(s:find("asx-host: quitting at once while stuck#2 was running", 1, true), s)
    -- The shell gets its terminal back as it was, not in the prompt's raw
    -- mode without echo.
    local tty = tmux("display -p -t repl '#{pane_tty}'"):match("^(%S+)")
    local p = io.popen("stty -a -F " .. tty .. " 2>/dev/null")
    local modes = p:read("*a")
    p:close()
    assert.truthy(modes:find("%sicanon") and modes:find("%secho%s"), modes)
  end)

  it("a loop LuaJIT compiled ignores the first Ctrl-C; the next two stop the session as without -i", function()
    start(home, "-q --clock virtual")
    wait_prompts(1)
    -- Code from outside the prompt (here loadstring's) may be compiled. The
    -- loop says it spins from inside, a million turns in, long after LuaJIT
    -- compiled it, with calls the compiler keeps in its trace: from then on
    -- no interpreted code runs, however late the Ctrl-C. (Said before the
    -- loop, a Ctrl-C could find it not yet compiled on a loaded machine,
    -- where the hook stops it.)
    type_text([[f = loadstring("local n = 0 while true do n = n + 1 ]]
      .. [[io.write(string.sub('spinning\\n', 1, 9 * math.max(0, 1 - math.abs(n - 1e6)))) io.flush() end")]])
    send("Enter")
    wait_prompts(2)
    type_text("f()")
    send("Enter")
    wait_running()
    local s, ok = wait_for("asx> f()\nspinning\n")
    assert.is_true(ok, s)
    -- Signals sent together may arrive as one: each waits for the newline
    -- the REPL writes when it takes a Ctrl-C.
    send("C-c")
    s, ok = wait_for("asx> f()\nspinning\n^C\n")
    assert.is_true(ok, s)
    send("C-c")
    s, ok = wait_for("asx-host: interrupted, stopping (send it again to quit at once)")
    assert.is_true(ok, s)
    send("C-c")
    s, ok = wait_for("[exit 130]")
    assert.is_true(ok, s)
  end)

  it("drops a line typed longer than 4,096 bytes, with the rest of the paste, and goes on", function()
    -- libedit (Debian 12's) corrupted its heap once the line grew past some
    -- 6,000 bytes, and asx-host aborted ("malloc(): invalid next size").
    start(home, "-q")
    wait_prompts(1)
    type_text("x = '" .. ("a"):rep(7000) .. "'")
    send("Enter")
    local s, ok = wait_for("\nasx repl: a line typed at the prompt holds at most 4096 bytes; this one was dropped")
    assert.is_true(ok, s)
    wait_prompts(2)
    type_text("x == nil")
    send("Enter")
    s, ok = wait_for("asx> x == nil\ntrue\n")
    assert.is_true(ok, s)
  end)

  it("a value whose __tostring raises prints a placeholder and the prompt comes back", function()
    start(home, "-q")
    wait_prompts(1)
    type_text([[setmetatable({}, { __tostring = function() error("no text") end })]])
    send("Enter")
    local s, ok = wait_for("\n<table: __tostring raised: stdin:1: no text>\nasx>")
    assert.is_true(ok, s)
    type_text("1 + 1")
    send("Enter")
    s, ok = wait_for("asx> 1 + 1\n2\n")
    assert.is_true(ok, s)
  end)

  it("completing fields of an object whose __index raises shows its own fields and nothing else", function()
    start(home, "-q")
    wait_prompts(1)
    type_text([[x = setmetatable({ only = 1 }, { __index = function() error("must not run") end })]])
    send("Enter")
    wait_prompts(2)
    type_text("x.")
    send("Tab")
    local s, ok = wait_for(function() return last_line() == "asx> x.only" end)
    assert.is_true(ok, s)
    type_text(".")
    send("Tab", "Tab")
    send("C-u")
    type_text("x.only + 1")
    send("Enter")
    s, ok = wait_for("asx> x.only + 1\n2\n")
    assert.is_true(ok, s)
    assert.falsy(s:find(": must not run", 1, true), s)
    assert.falsy(s:find("asx repl: error", 1, true), s)
  end)

  it("creates the history file readable by its owner only, and keeps the mode it has", function()
    start(home, "-q")
    wait_prompts(1)
    type_text("1")
    send("Enter")
    wait_prompts(2)
    assert.are.equal("600", file_mode(home .. "/.asx_history"))
    send("C-d")
    wait_for("[exit 0]")
    -- A mode the user chose survives the rewrite, and so does a link.
    os.execute("mv " .. sh_quote(home .. "/.asx_history") .. " " .. sh_quote(home .. "/real_history"))
    os.execute("chmod 640 " .. sh_quote(home .. "/real_history"))
    os.execute("ln -s real_history " .. sh_quote(home .. "/.asx_history"))
    start(home, "-q")
    wait_prompts(1)
    type_text("2")
    send("Enter")
    wait_prompts(2)
    send("C-d")
    wait_for("[exit 0]")
    assert.are.equal("640", file_mode(home .. "/real_history"))
    assert.are.equal("1\n2\n", read_file(home .. "/real_history"))
    local p = io.popen("readlink " .. sh_quote(home .. "/.asx_history"))
    assert.are.equal("real_history", p:read("*l"))
    p:close()
  end)

  it("an agent's error printed while the user types leaves the typed line intact", function()
    start(home, "-q spec/fixtures/crasher.lua")
    wait_prompts(1)
    type_text("abc")
    local s, ok = wait_for(function(text)
      return text:find("crashed on purpose", 1, true) and last_line() == "asx> abc"
    end)
    assert.is_true(ok, s)
    assert.truthy(s:find("^crasher#1: spec/fixtures/crasher.lua:10: crashed on purpose\nstack traceback:\n"), s)
    send("C-u")
    type_text("1")
    send("Enter")
    s, ok = wait_for("asx> 1\n1\n")
    assert.is_true(ok, s)
  end)

  it("with the real clock agents trade while the prompt waits", function()
    -- Balances for hours of trading: the fixture's own money buys only 9
    -- shares, and a loaded machine may read the count after the 9th.
    start(home, "-q --clock real --seed 2 --money 1000000 --stocks 1000000 spec/fixtures/quoter.lua")
    wait_prompts(1)
    -- Ten times faster: the quoters trade ten times a second.
    type_text("speed(10)")
    send("Enter")
    wait_prompts(2)
    -- A half-typed line must not hold the agents up either.
    type_text("stats().tr")
    local first
    type_text("ades")
    send("Enter")
    local s, ok = wait_for(function(text)
      first = tonumber(text:match("asx> stats%(%)%.trades\n(%d+)\n"))
      return first ~= nil
    end)
    assert.is_true(ok, s)
    -- Poll stats() a bounded number of times until more trades happened.
    local later
    for i = 1, 50 do
      type_text("stats().trades")
      send("Enter")
      s = wait_prompts(3 + i)
      local values = {}
      for v in s:gmatch("asx> stats%(%)%.trades\n(%d+)\n") do values[#values + 1] = tonumber(v) end
      later = values[#values]
      if later and later > first then break end
      os.execute("sleep 0.1")
    end
    assert.is_true(later > first, s)
  end)
end)
