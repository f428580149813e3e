-- asx-host end to end: run the built program as a user would and check its
-- exit status and exactly what it prints.
local run = require("helpers.run")

local BUILD, USAGE, cwd = run.BUILD, run.USAGE, run.cwd
local F = "spec/fixtures/host/"
local lines, sh, tmpdir = run.lines, run.sh, run.tmpdir

local function host(args)
  return sh('"$HOST" ' .. args)
end

local steady = run.steady

describe("asx-host", function()
  it("runs a session and prints the summary", function()
    local r = host("--clock virtual --seed 5 -d 10 " .. F .. "pair.lua")
    assert.are.equal(0, r.status)
    assert.are.equal("asx-host: 4 agents, virtual clock, seed 5, duration 10 s (Ctrl-C stops)\n", r.stderr)
    local out = lines(r.stdout)
    assert.matches("^wall time: %d+%.%d%d%d s$", out[4])
    assert.matches("^orders per wall second: %d+$", out[10])
    assert.are.same({
      "seed: 5",
      "clock: virtual",
      "session time: 1.000 s",
      "agents pair: 4 (0 running, 4 finished, 0 failed)",
      "orders: 8",
      "trades: 4",
      "volume: 4",
      "open/high/low/close: 10/10/10/10",
      "value pair: mean 400.00, best 400, start 400.00",
    }, steady(r.stdout))
  end)

  it("takes counts, -n, --money and --stocks, and -q silences stderr", function()
    local r = host("-q --clock=virtual --seed 1 -n 2 --money 50 --stocks 1 " .. F .. "pair.lua " .. F
      .. "pair.lua:3")
    assert.are.equal(0, r.status)
    assert.are.equal("", r.stderr)
    local out = steady(r.stdout)
    -- Two files of the same class name are one strategy of that name, as
    -- in --summary's JSON and the report.
    assert.are.equal("agents pair: 5 (0 running, 5 finished, 0 failed)", out[4])
    assert.are.equal("orders: 10", out[5])
    assert.are.equal("value pair: mean 60.00, best 60, start 60.00", out[9])
  end)

  it("takes seconds in exponent notation, a negative exponent included", function()
    local r = host("-q --clock virtual --seed 1 -d 25e-1 --latency 1e-3 --stuck-warning 5E+0 " .. F .. "pair.lua")
    assert.are.equal(0, r.status, r.stderr)
    -- The pairs' last orders arrive 1e-3 s after they are sent at 1 s.
    assert.are.equal("session time: 1.001 s", r.stdout:match("session time: [^\n]*"))
  end)

  it("repeats a virtual-clock run with the same seed", function()
    local args = "-q --clock virtual --seed 77 -d 20 strategies/random_trader.lua:30 "
      .. "strategies/market_maker.lua:3 strategies/momentum.lua:5"
    local a, b = host(args), host(args)
    local c = host(args:gsub("77", "78"))
    assert.are.equal(0, a.status)
    assert.are.same(steady(a.stdout), steady(b.stdout))
    assert.are_not.same(steady(a.stdout), steady(c.stdout))
    assert.are.equal("agents random_trader: 30 (30 running, 0 finished, 0 failed)", steady(a.stdout)[4])
  end)

  it("runs on the real clock until the duration", function()
    local r = host("-q --seed 3 -d 0.2 " .. F .. "pair.lua")
    assert.are.equal(0, r.status)
    local out = steady(r.stdout)
    assert.are.equal("clock: real", out[2])
    assert.are.equal("session time: 0.200 s", out[3])
    assert.are.equal("agents pair: 4 (4 running, 0 finished, 0 failed)", out[4])
    assert.are.equal("orders: 4", out[5])
    assert.are.equal("trades: 0", out[6])
  end)

  it("reports a failing agent and goes on; --strict ends with status 1", function()
    local r = host("-q --clock virtual --seed 1 " .. F .. "boom.lua")
    assert.are.equal(0, r.status)
    assert.matches("^boom#%d+: spec/fixtures/host/boom%.lua:9: boom\nstack traceback:\n", r.stderr)
    local _, errors = r.stderr:gsub("boom#%d+: ", "")
    assert.are.equal(2, errors)
    assert.are.equal("agents boom: 2 (0 running, 0 finished, 2 failed)", steady(r.stdout)[4])

    r = host("-q --strict --clock virtual --seed 1 " .. F .. "boom.lua")
    assert.are.equal(1, r.status)
    local _, n = r.stderr:gsub("boom#%d+: ", "")
    assert.are.equal(1, n)
    -- The summary says why the session ended before its time.
    assert.are.equal("stopped by: a failed agent (--strict)", steady(r.stdout)[4])
    assert.are.equal("agents boom: 2 (1 running, 0 finished, 1 failed)", steady(r.stdout)[5])
  end)

  it("prints help and version", function()
    local r = host("--help")
    assert.are.equal(0, r.status)
    assert.are.equal("usage: asx-host [options] FILE.lua[:COUNT]...", lines(r.stdout)[1])
    assert.are.equal("", r.stderr)
    r = host("--version")
    assert.are.equal(0, r.status)
    assert.matches("^asx%-host %d+%.%d+%.%d+\n$", r.stdout)
  end)

  it("works from another directory", function()
    local r = sh('cd / && "$HOST" -q --clock virtual --seed 5 "' .. cwd .. '/' .. F .. 'pair.lua"')
    assert.are.equal(0, r.status)
    assert.are.equal("trades: 4", steady(r.stdout)[6])
  end)

  it("works after cmake --install", function()
    local dir = tmpdir()
    local r = sh(('cmake --install "%s" --prefix "%s/prefix" >/dev/null && cd / && '
      .. '"%s/prefix/bin/asx-host" -q --clock virtual --seed 5 "%s/%spair.lua"')
      :format(BUILD, dir, dir, cwd, F))
    os.execute("rm -rf '" .. dir .. "'")
    assert.are.equal(0, r.status)
    assert.are.equal("trades: 4", steady(r.stdout)[6])
  end)

  describe("refuses a bad command line with status 2, a reason and the usage", function()
    local syntax_dir = tmpdir()
    local syntax = syntax_dir .. "/syntax.lua"
    run.write(syntax, "local asx = require('asx')\nthis is not Lua\n")
    local _, syntax_err = loadfile(syntax)

    local cases = {
      { "--bogus " .. F .. "pair.lua", "unknown option '--bogus'" },
      { "-x " .. F .. "pair.lua", "unknown option '-x'" },
      { "", "no strategy file given" },
      { "-q", "no strategy file given" },
      { "missing.lua", "cannot read 'missing.lua': No such file or directory" },
      { "spec/fixtures", "cannot read 'spec/fixtures': Is a directory" },
      { syntax, syntax_err },
      { F .. "not_trader.lua",
        F .. "not_trader.lua: does not return a Trader subclass with a cycle method (got number)" },
      { F .. "no_cycle.lua",
        F .. "no_cycle.lua: class 'lazy' has no cycle method (each agent runs cycle(self))" },
      { F .. "plain_table.lua",
        F .. "plain_table.lua: does not return a Trader subclass with a cycle method (got a table that is no "
        .. "Trader class)" },
      { F .. "base_class.lua",
        F .. "base_class.lua: returns asx.Trader itself (make a subclass: asx.Trader:extend(\"name\"))" },
      { F .. "raises.lua", F .. "raises.lua:2: cannot load me" },
      { F .. "replaced_index.lua", F .. "replaced_index.lua: the class's __index is replaced (asx finds its "
        .. "traders' accounts, exchanges and methods through it)" },
      { F .. "hidden_class.lua", F .. "hidden_class.lua:6: class field '__metatable' is read-only (asx names a "
        .. "trader's class by its metatable)" },
      { F .. "pair.lua:0", "bad agent count in '" .. F .. "pair.lua:0' (positive integer up to 2^53 - 1 expected, got '0')" },
      { F .. "pair.lua:x", "bad agent count in '" .. F .. "pair.lua:x' (positive integer up to 2^53 - 1 expected, got 'x')" },
      { F .. "pair.lua:-3", "bad agent count in '" .. F .. "pair.lua:-3' (positive integer up to 2^53 - 1 expected, got '-3')" },
      { "-n 0 " .. F .. "pair.lua", "-n: positive integer up to 2^53 - 1 expected, got '0'" },
      { "--agents=1.5 " .. F .. "pair.lua", "--agents: positive integer up to 2^53 - 1 expected, got '1.5'" },
      { "-n abc " .. F .. "pair.lua", "-n: positive integer up to 2^53 - 1 expected, got 'abc'" },
      -- Past the limit it said only "positive integer expected".
      { "-n 9007199254740992 " .. F .. "pair.lua",
        "-n: positive integer up to 2^53 - 1 expected, got '9007199254740992'" },
      { "--stocks 0x20000000000000 " .. F .. "pair.lua",
        "--stocks: non-negative integer up to 2^53 - 1 expected, got '0x20000000000000'" },
      { "-d -1 " .. F .. "pair.lua", "-d: non-negative number of seconds expected, got '-1'" },
      { "--duration=soon " .. F .. "pair.lua", "--duration: non-negative number of seconds expected, got 'soon'" },
      { "--clock fast " .. F .. "pair.lua", "--clock: 'real' or 'virtual' expected, got 'fast'" },
      -- Every number on the command line is read as --set reads its VALUE,
      -- and refused in its words: --latency 1e-400 ran as 0, and -d inf
      -- said only what it expected.
      { "-d nan " .. F .. "pair.lua", "-d nan: not a finite number" },
      { "-d inf " .. F .. "pair.lua", "-d inf: not a finite number" },
      { "-d 1e999 " .. F .. "pair.lua", "-d 1e999: too large for a number (it would read as inf)" },
      { "--latency 1e-400 " .. F .. "pair.lua", "--latency 1e-400: too small for a number (it would read as 0)" },
      { "--stuck-warning=0x1p-1080 " .. F .. "pair.lua",
        "--stuck-warning 0x1p-1080: too small for a number (it would read as 0)" },
      { "--seed 9007199254740993 " .. F .. "pair.lua", "--seed 9007199254740993: not exact as a number "
        .. "(integers beyond 2^53 round; it would read as 9007199254740992)" },
      { "-n 1e309 " .. F .. "pair.lua", "-n 1e309: too large for a number (it would read as inf)" },
      { "--money=-nan " .. F .. "pair.lua", "--money -nan: not a finite number" },
      { F .. "pair.lua:1e400", "bad agent count in '" .. F .. "pair.lua:1e400' (too large for a number "
        .. "(it would read as inf))" },
      { "--seed 2^53 " .. F .. "pair.lua", "--seed: non-negative integer up to 2^53 - 1 expected, got '2^53'" },
      { F .. "bad_money.lua",
        F .. "bad_money.lua: the class's money field must be a non-negative integer up to 2^53 - 1 (got -1)" },
      { F .. "bad_stocks.lua",
        F .. "bad_stocks.lua: the class's stocks field must be a non-negative integer up to 2^53 - 1 (got string)" },
      { "--money -5 " .. F .. "pair.lua", "--money: non-negative integer up to 2^53 - 1 expected, got '-5'" },
      { "--stocks 1.5 " .. F .. "pair.lua", "--stocks: non-negative integer up to 2^53 - 1 expected, got '1.5'" },
      { "--seed -1 " .. F .. "pair.lua", "--seed: non-negative integer up to 2^53 - 1 expected, got '-1'" },
      { "--seed " .. F .. "pair.lua", "--seed: non-negative integer up to 2^53 - 1 expected, got '" .. F .. "pair.lua'" },
      { F .. "pair.lua --seed", "option '--seed' needs a value" },
      { "--strict=yes " .. F .. "pair.lua", "option '--strict' takes no value" },
    }
    for _, case in ipairs(cases) do
      it(case[2], function()
        local r = host(case[1])
        assert.are.equal(2, r.status)
        assert.are.equal("", r.stdout)
        assert.are.equal("asx-host: " .. case[2] .. "\n" .. USAGE, r.stderr)
      end)
    end
    it("(cleans up)", function() os.execute("rm -rf '" .. syntax_dir .. "'") end)
  end)

  it("refuses more agents than the memory available can hold, before making any", function()
    for _, args in ipairs({ "-n 9007199254740991 " .. F .. "pair.lua", F .. "pair.lua:100000000000" }) do
      local r = host("--clock virtual " .. args)
      assert.are.equal(2, r.status)
      assert.are.equal("", r.stdout)
      local n = args:match("(%d%d%d%d+)")
      assert.matches("^asx%-host: " .. n .. " agents need about [%d.]+ GB of memory %(807 bytes each%) and "
        .. "[%d.]+ GB are available\n", r.stderr)
    end
  end)

  it("counts each agent's position in every instrument when it estimates their memory", function()
    -- 15,000 instruments make each agent 120 KB more, which the estimate
    -- left out: a run that passed the check ran out of memory building them.
    local names = {}
    for i = 1, 15000 do names[i] = "I" .. i end
    local r = host("--clock virtual --instruments " .. table.concat(names, ",") .. " " .. F .. "pair.lua:1000000")
    assert.are.equal(2, r.status)
    assert.matches("^asx%-host: 1000000 agents need about 120%.8 GB of memory %(120799 bytes each%) and "
      .. "[%d.]+ GB are available\n", r.stderr)
  end)

  -- The signal specs wait for what the host writes on stderr (through a
  -- FIFO) before each signal, so they need no sleeps and no timing.
  local function with_signals(plan, args)
    return sh(([[
dir=$(mktemp -d)
mkfifo "$dir/fifo"
"$HOST" %s 2>"$dir/fifo" &
pid=$!
exec 3<"$dir/fifo"
for step in %s; do
  case $step in
    read) IFS= read -r line <&3; printf '%%s\n' "$line" >&2 ;;
    int) kill -INT $pid ;;
    term) kill -TERM $pid ;;
  esac
done
cat <&3 >&2
wait $pid
status=$?
rm -rf "$dir"
exit $status
]]):format(args, plan))
  end

  it("stops gracefully on SIGINT and prints the summary", function()
    local r = with_signals("read int", "--clock virtual --seed 8 " .. F .. "forever.lua:3")
    assert.are.equal(0, r.status)
    assert.are.equal("asx-host: 3 agents, virtual clock, seed 8 (Ctrl-C stops)\n"
      .. "asx-host: interrupted, stopping (send it again to quit at once)\n", r.stderr)
    local out = steady(r.stdout)
    assert.are.equal("seed: 8", out[1])
    assert.are.equal("stopped by: SIGINT", out[4])
    assert.are.equal("agents forever: 3 (3 running, 0 finished, 0 failed)", out[5])
  end)

  it("stops gracefully on SIGTERM", function()
    local r = with_signals("read term", "--clock virtual --seed 8 " .. F .. "forever.lua:2")
    assert.are.equal(0, r.status)
    assert.are.equal("asx-host: 2 agents, virtual clock, seed 8 (Ctrl-C stops)\n"
      .. "asx-host: terminated, stopping (send it again to quit at once)\n", r.stderr)
    assert.are.equal("stopped by: SIGTERM", steady(r.stdout)[4])
  end)

  it("quits at once on a second SIGINT, naming the agent stuck in a loop", function()
    local r = with_signals("read read int read int", "--clock virtual --seed 8 " .. F .. "stuck.lua")
    assert.are.equal(130, r.status)
    -- Left out: the line saying the stop waits for the stuck agent, which
    -- comes only if the second signal takes a while.
    local err = {}
    for _, l in ipairs(lines(r.stderr)) do
      if not l:match("has not yielded") then err[#err + 1] = l end
    end
    assert.are.equal(4, #err)
    assert.are.equal("stuck", err[2])
    assert.are.equal("asx-host: interrupted, stopping (send it again to quit at once)", err[3])
    assert.matches("^asx%-host: quitting at once while stuck#%d+ was running$", err[4])
    assert.are.equal("", r.stdout)
  end)
end)
