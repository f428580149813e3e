-- asx-host against strategies that make stopping hard: agents that are
-- always due, agents that never yield, and a forced quit with log files
-- open. Each run goes through a plan that reads what the host writes on
-- stderr (through a FIFO) before it sends a signal, and polls files for a
-- condition: no sleep stands for synchronisation. A deadline kills a host
-- that does not stop (status 137), which fails the spec instead of hanging
-- it; the deadlines are far beyond what a working host needs.
local run = require("helpers.run")

local F = "spec/fixtures/hostile/"
local lines, sh, tmpdir, slurp = run.lines, run.sh, run.tmpdir, run.slurp

-- Runs "$HOST ARGS" with a plan of steps, separated by spaces:
--   read            read one line of the host's stderr
--   until:WORDS     read lines until one contains WORDS ("+" for a space)
--   int, term       send SIGINT or SIGTERM
--   rows:FILE:N     poll until FILE (in $D) has N lines
-- then reads the rest of stderr and waits for the host. Returns the result
-- of run.sh (status, stdout, stderr with every line the host wrote).
local function plan(args, steps, dir, deadline)
  return sh(([[
mkfifo "$D/fifo"
"$HOST" %s 2>"$D/fifo" &
pid=$!
( i=0; while [ $i -lt %d ] && kill -0 $pid 2>/dev/null; do sleep 0.1; i=$((i+1)); done
  kill -KILL $pid 2>/dev/null ) &
killer=$!
exec 3<"$D/fifo"
for step in %s; do
  case $step in
    read) IFS= read -r line <&3; printf '%%s\n' "$line" >&2 ;;
    until:*) word=$(printf '%%s' "${step#until:}" | tr + ' ')
      while IFS= read -r line <&3; do
        printf '%%s\n' "$line" >&2
        case $line in *"$word"*) break ;; esac
      done ;;
    int) kill -INT $pid ;;
    term) kill -TERM $pid ;;
    rows:*) spec=${step#rows:}; file=${spec%%:*}; n=${spec##*:}
      while kill -0 $pid 2>/dev/null && [ "$(wc -l <"$D/$file" 2>/dev/null || echo 0)" -lt "$n" ]; do
        sleep 0.05
      done ;;
  esac
done
cat <&3 >&2
wait $pid
status=$?
kill $killer 2>/dev/null
rm -f "$D/fifo"
exit $status
]]):format(args, (deadline or 30) * 10, steps), dir)
end

local function with_dir(fn)
  local dir = tmpdir()
  local ok, err = pcall(fn, dir)
  os.execute("rm -rf '" .. dir .. "'")
  if not ok then error(err, 0) end
end

local function summary_value(stdout, key)
  for _, l in ipairs(lines(stdout)) do
    local v = l:match("^" .. key:gsub("%p", "%%%0") .. ": (.*)$")
    if v then return v end
  end
end

describe("asx-host stopping", function()
  it("stops on SIGINT while an agent on the real clock is always due", function()
    with_dir(function(dir)
      -- The agent loops on sleep(0): there is always a wake-up due, and the
      -- signal must still be served as soon as the agent yields.
      local r = plan("--seed 3 " .. F .. "spin.lua", "read read int", dir)
      assert.are.equal(0, r.status)
      assert.are.equal("asx-host: 1 agents, real clock, seed 3 (Ctrl-C stops)\nspinning\n"
        .. "asx-host: interrupted, stopping (send it again to quit at once)\n", r.stderr)
      assert.are.equal("SIGINT", summary_value(r.stdout, "stopped by"))
      assert.are.equal("1 (1 running, 0 finished, 0 failed)", summary_value(r.stdout, "agents spin"))
    end)
  end)

  it("stops on SIGTERM while thousands of agents on the real clock are always due", function()
    with_dir(function(dir)
      local r = plan("-q --seed 3 " .. F .. "spin.lua:20000", "read term", dir)
      assert.are.equal(0, r.status)
      assert.are.equal("SIGTERM", summary_value(r.stdout, "stopped by"))
    end)
  end)

  it("ends a real-clock session whose agent sleeps 0 at the duration", function()
    with_dir(function(dir)
      local r = plan("-q --seed 3 -d 0.2 " .. F .. "spin.lua", "", dir)
      assert.are.equal(0, r.status)
      assert.are.equal("spinning\n", r.stderr)
      assert.are.equal("0.200 s", summary_value(r.stdout, "session time"))
      assert.is_nil(summary_value(r.stdout, "stopped by"))
    end)
  end)

  it("ends a virtual-clock session whose agent sleeps 0 at the duration", function()
    with_dir(function(dir)
      local r = plan("-q --clock virtual --seed 3 -d 5 " .. F .. "spin_at_end.lua", "", dir)
      assert.are.equal(0, r.status)
      -- The agent runs once at exactly the duration, then the session ends.
      assert.are.equal("at 5\n", r.stderr)
      assert.are.equal("5.000 s", summary_value(r.stdout, "session time"))
      assert.are.equal("1 (1 running, 0 finished, 0 failed)",
        summary_value(r.stdout, "agents spin_at_end"))
    end)
  end)

  it("reports the session time of the stop, not that of the last wake-up", function()
    with_dir(function(dir)
      -- The only wake-up is at the start; the agent then holds the session
      -- for half a second of processor time before it sleeps, so a stop
      -- after its "ready" comes at least half a second in.
      local r = plan("--seed 3 " .. F .. "late_ready.lua", "read read int", dir)
      assert.are.equal(0, r.status)
      assert.are.equal("SIGINT", summary_value(r.stdout, "stopped by"))
      local t = tonumber(summary_value(r.stdout, "session time"):match("^([%d.]+) s$"))
      assert.is_true(t >= 0.5, "session time " .. t)
    end)
  end)

  it("leaves whole log files with their header when a second signal quits at once", function()
    with_dir(function(dir)
      -- Ten trades are logged, then the agent loops without yielding: the
      -- logs' writers put the rows in the files by themselves (each on its
      -- own thread, so both files are polled: 11 CSV lines, and 32 JSON
      -- lines for the session, the agent, 20 orders and 10 trades), and the
      -- forced quit leaves them whole.
      local r = plan(("--seed 3 --stuck-warning 0 --log $D/t.csv --log $D/e.jsonl %strade_then_stick.lua")
        :format(F), "read until:stuck rows:t.csv:11 rows:e.jsonl:32 int read int", dir)
      assert.are.equal(130, r.status)
      assert.are.equal("", r.stdout)
      local err = lines(r.stderr)
      assert.are.equal("stuck", err[2])
      assert.are.equal("asx-host: interrupted, stopping (send it again to quit at once)", err[3])
      assert.matches("^asx%-host: quitting at once while trade_then_stick#%d+ was running$", err[#err])
      local csv = slurp(dir .. "/t.csv")
      local rows = lines(csv)
      assert.are.equal("\n", csv:sub(-1))
      assert.are.equal(11, #rows)
      assert.are.equal("time,session,price,amount,buyer,seller,buy_order,sell_order,aggressor,instrument", rows[1])
      for i = 2, 11 do
        assert.matches("^[%d.e-]+,3,100,1,1,1," .. (2 * i - 2) .. "," .. (2 * i - 3) .. ",buy,STOCK$", rows[i])
      end
      -- The JSON lines hold at least the session's start and the trades,
      -- every line whole.
      local jsonl = slurp(dir .. "/e.jsonl")
      assert.are.equal("\n", jsonl:sub(-1))
      local trades = 0
      for _, l in ipairs(lines(jsonl)) do
        assert.matches("^{\"type\":\"%a+\",.*}$", l)
        if l:match("^{\"type\":\"exchange\"") then trades = trades + 1 end
      end
      assert.are.equal(10, trades)
    end)
  end)
end)

describe("asx-host and agents that do not yield", function()
  local where = F .. "busy_wait.lua:12"

  it("runs to its end, its log whole, when the reader of its stdout leaves", function()
    -- head takes the first line and leaves; the strategy prints on into
    -- the pipe. Its SIGPIPE ended asx-host (status 141) with the log file
    -- empty: the rows waiting in memory were lost.
    local dir = tmpdir()
    local r = sh([[
{ "$HOST" --clock virtual --seed 3 -d 600 --log "$D/piped.csv" ]] .. F .. [[printer.lua:1 \
    strategies/random_trader.lua:50; echo $? >"$D/status"; } | head -1
"$HOST" -q --clock virtual --seed 3 -d 600 --log "$D/alone.csv" ]] .. F .. [[printer.lua:1 \
  strategies/random_trader.lua:50 >/dev/null
]], dir)
    assert.are.equal(0, r.status)
    assert.are.equal(1, #lines(r.stdout))
    assert.are.equal("0\n", slurp(dir .. "/status"))
    local alone = slurp(dir .. "/alone.csv")
    assert.is_true(#lines(alone) > 1000)
    assert.are.equal(alone, slurp(dir .. "/piped.csv"))
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("warns about an agent stuck for --stuck-warning seconds, naming its file:line", function()
    with_dir(function(dir)
      local r = plan("--seed 3 --stuck-warning 0.5 " .. F .. "busy_wait.lua",
        "read read until:warning int until:the+signal+again int", dir)
      assert.are.equal(130, r.status)
      local err = lines(r.stderr)
      assert.are.equal("busy", err[2])
      -- The warning, with a traceback.
      local w = err[3]:match("^asx%-host: warning: busy_wait#1 has not yielded for ([%d.]+) s, at (.*)$")
      assert.is_truthy(w, err[3])
      assert.is_true(tonumber(w) >= 0.5)
      assert.are.equal("asx-host: warning: busy_wait#1 has not yielded for " .. w .. " s, at " .. where, err[3])
      assert.are.equal("stack traceback:", err[4])
      -- On SIGINT, where the agent the stop waits for is.
      local i = 5
      while not err[i]:match("^asx%-host: interrupted") do i = i + 1 end
      assert.are.equal("asx-host: interrupted, stopping (send it again to quit at once)", err[i])
      assert.matches("^asx%-host: busy_wait#1 has not yielded for [%d.]+ s, at "
        .. where:gsub("%p", "%%%0") .. " %(send the signal again to quit at once%)$", err[i + 1])
      assert.are.equal("asx-host: quitting at once while busy_wait#1 was running at " .. where, err[#err])
    end)
  end)

  it("says where a stuck agent is on SIGINT, also without the warning", function()
    with_dir(function(dir)
      local r = plan("--seed 3 --stuck-warning 0 " .. F .. "busy_wait.lua", "read read int until:the+signal+again int", dir)
      assert.are.equal(130, r.status)
      local err = lines(r.stderr)
      assert.are.equal("asx-host: interrupted, stopping (send it again to quit at once)", err[3])
      assert.matches("^asx%-host: busy_wait#1 has not yielded for [%d.]+ s, at "
        .. where:gsub("%p", "%%%0") .. " %(send the signal again to quit at once%)$", err[4])
      assert.are.equal("stack traceback:", err[5])
      assert.are.equal("asx-host: quitting at once while busy_wait#1 was running at " .. where, err[#err])
    end)
  end)

  it("warns without a position when the agent loops in compiled code", function()
    with_dir(function(dir)
      -- LuaJIT runs no debug hook in compiled code: the watchdog names the
      -- agent and says why there is no position.
      local r = plan("--seed 3 --stuck-warning 0.5 spec/fixtures/host/stuck.lua", "read read until:warning int read int",
        dir)
      assert.are.equal(130, r.status)
      local err = lines(r.stderr)
      assert.matches("^asx%-host: warning: stuck#1 has not yielded for [%d.]+ s %(in compiled code: where is not known%)$",
        err[3])
      assert.are.equal("asx-host: quitting at once while stuck#1 was running", err[#err])
    end)
  end)

  it("names the agent's own line when it died in the C call it was stuck in", function()
    -- The agent reads a FIFO that this script holds open for writing (a
    -- read-write open does not wait for a reader) and closes once the
    -- watchdog's warning is out, which the hook could not make while the
    -- read lasted: the watchdog warns without a position, and the hook,
    -- which fires once the read has raised, gives the agent's line.
    local r = sh([[
mkfifo "$D/fifo"
exec 3<>"$D/fifo"
: >"$D/host.err"
ASX_SPEC_FIFO="$D/fifo" "$HOST" -q --clock virtual --seed 3 --stuck-warning 0.1 ]] .. F .. [[stuck_in_c.lua \
  3>&- 2>"$D/host.err" &
i=0
until grep -q "has not yielded" "$D/host.err" || [ $i -ge 1200 ]; do sleep 0.05; i=$((i+1)); done
exec 3>&-
wait $!
status=$?
cat "$D/host.err" >&2
exit $status]])
    assert.are.equal(0, r.status)
    local err = lines(r.stderr)
    local line = F .. "stuck_in_c.lua:14"
    assert.are.equal("asx-host: warning: stuck_in_c#1 has not yielded for 0.1 s (in compiled code: where is not known)",
      (err[1]:gsub("for [%d.]+ s", "for 0.1 s")))
    assert.are.equal("asx-host: warning: stuck_in_c#1 has not yielded for 0.1 s, at " .. line,
      (err[2]:gsub("for [%d.]+ s", "for 0.1 s")))
    assert.are.same({ "stack traceback:", "\t[C]: in function 'read'", "\t" .. line .. ": in function <"
      .. F .. "stuck_in_c.lua:11>" }, { err[3], err[4], err[5] })
    assert.are.equal("stuck_in_c#1: " .. line .. ": bad argument #2 to 'read' (invalid option)", err[#err - 3])
  end)

  it("refuses a bad --stuck-warning", function()
    local cases = {
      { "-1", "--stuck-warning: non-negative number of seconds expected, got '-1'" },
      { "x", "--stuck-warning: non-negative number of seconds expected, got 'x'" },
      { "inf", "--stuck-warning inf: not a finite number" },
      { "nan", "--stuck-warning nan: not a finite number" },
      { "1e999", "--stuck-warning 1e999: too large for a number (it would read as inf)" },
    }
    for _, case in ipairs(cases) do
      local r = sh('"$HOST" --stuck-warning ' .. case[1] .. " " .. F .. "spin.lua")
      assert.are.equal(2, r.status)
      assert.are.equal("asx-host: " .. case[2] .. "\n" .. run.USAGE, r.stderr)
    end
  end)
end)

describe("asx.session's stuck_warning", function()
  it("refuses what is not a non-negative number of seconds", function()
    local asx = require("asx")
    for _, case in ipairs({ { -1, "-1" }, { math.huge, "inf" }, { 0 / 0, "nan" }, { "5", "string" } }) do
      local ok, err = pcall(asx.session, { stuck_warning = case[1] })
      assert.is_false(ok)
      assert.are.equal("bad argument #1 to 'session' (stuck_warning: non-negative number of seconds expected, got "
        .. case[2] .. ")", err)
    end
  end)
end)
