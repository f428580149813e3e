-- asx-sweep end to end with the real GNU parallel: a small study (2 points
-- x 3 seeds of 10-second virtual runs), its CSV files, a rerun, a failed
-- run and --resume, --print and collect.
local run = require("helpers.run")

local lines, sh, tmpdir, slurp, read = run.lines, run.sh, run.tmpdir, run.slurp, run.read
local SWEEP = run.HOST:gsub("asx%-host$", "asx-sweep")
local STUDY = run.cwd .. "/spec/fixtures/studies/small.lua"

local function sweep(args, dir, env)
  return sh(("env -u LD_PRELOAD %s'%s' %s"):format(env or "", SWEEP, args), dir)
end

local RESULTS_HEAD = "run,point,seed,status,market_maker.spread,trades,volatility,mean_spread,"
  .. "value.random_trader.mean,mm_gain"

-- Writes the study d/NAME.lua: 5-second runs of the pair fixture, with
-- the study's other fields given as Lua text.
local function pair_study(d, name, fields)
  run.write(("%s/%s.lua"):format(d, name), ("return { strategies = { %q }, duration = 5, %s }\n")
    :format(run.cwd .. "/spec/fixtures/host/pair.lua", fields))
end

describe("asx-sweep on GNU parallel", function()
  local d, first
  setup(function()
    d = tmpdir()
    first = sweep('--jobs 2 -o "$D/study" ' .. STUDY, d)
  end)
  teardown(function() os.execute("rm -rf '" .. d .. "'") end)

  it("runs every point with every seed and writes results.csv and summary.csv", function()
    assert.are.equal(0, first.status)
    local results = lines(slurp(d .. "/study/results.csv"))
    assert.are.equal(7, #results)
    assert.are.equal(RESULTS_HEAD, results[1])
    -- Both points run with the same three seeds, derived from the study's.
    local seeds = { "2075653", "1409598201", "1842888923" }
    for i = 2, 7 do
      local p = i <= 4 and 1 or 2
      assert.matches(("^%d,%d,%s,ok,%d,%%d+,[%%d.]+,[%%d.]+,[%%d.]+,%%-?[%%d.]+$"):format(i - 1, p,
        seeds[(i - 2) % 3 + 1], p == 1 and 2 or 6), results[i])
    end
    local summary = lines(slurp(d .. "/study/summary.csv"))
    assert.are.equal(3, #summary)
    local head = { "point,market_maker.spread,runs,failed" }
    for _, m in ipairs({ "trades", "volatility", "mean_spread", "value.random_trader.mean", "mm_gain" }) do
      head[#head + 1] = ("%s_mean,%s_sd,%s_ci95_low,%s_ci95_high"):format(m, m, m, m)
    end
    assert.are.equal(table.concat(head, ","), summary[1])
    assert.matches("^1,2,3,0,", summary[2])
    assert.matches("^2,6,3,0,", summary[3])
    -- The table: a header and a line per point.
    local out = lines(first.stdout)
    assert.are.equal(3, #out)
    assert.matches("^point  market_maker.spread  runs  trades", out[1])
    assert.are.equal(("asx-sweep: 6 runs, 0 failed; results in %s/study/results.csv and summary.csv\n"):format(d),
      first.stderr)
  end)

  it("gives the same bytes when run again", function()
    local a, b = slurp(d .. "/study/results.csv"), slurp(d .. "/study/summary.csv")
    local again = sweep('--jobs 2 -q -o "$D/study" ' .. STUDY, d)
    assert.are.equal(0, again.status)
    assert.are.equal("", again.stdout)
    assert.are.equal(a, slurp(d .. "/study/results.csv"))
    assert.are.equal(b, slurp(d .. "/study/summary.csv"))
  end)

  it("reports a failed run, completes the others, and --resume re-runs only it", function()
    local good = lines(slurp(d .. "/study/results.csv"))
    local good_summary = slurp(d .. "/study/summary.csv")
    local commands = lines(slurp(d .. "/study/commands"))
    local r = sweep('--jobs 2 -q -o "$D/study" ' .. STUDY, d, "ASX_TEST_FAIL_RUN=0005.json ")
    assert.are.equal(1, r.status)
    assert.are.equal(table.concat({
      "asx-sweep: run 5 (point 2, seed 1409598201) failed: exit status 2, no summary",
      "  command: " .. commands[5],
      "  its stderr ends:",
      "    asx-host: " .. run.cwd .. "/spec/fixtures/studies/fragile.lua:10: fragile.lua: failing on purpose",
      "    usage: asx-host [options] FILE.lua[:COUNT]...",
      "    Try 'asx-host --help' for more.",
      ("asx-sweep: 6 runs, 1 failed; results in %s/study/results.csv and summary.csv"):format(d),
    }, "\n") .. "\n", r.stderr)
    local results = lines(slurp(d .. "/study/results.csv"))
    assert.are.equal("5,2,1409598201,failed,6,,,,,", results[6])
    results[6] = good[6]
    assert.are.same(good, results)
    assert.matches("^2,6,2,1,", lines(slurp(d .. "/study/summary.csv"))[3])

    local joblog = #lines(slurp(d .. "/study/joblog"))
    local resumed = sweep('--jobs 2 -q --resume -o "$D/study" ' .. STUDY, d)
    assert.are.equal(0, resumed.status)
    local log = lines(slurp(d .. "/study/joblog"))
    assert.are.equal(joblog + 1, #log)
    assert.matches("^5\t", log[#log])
    assert.are.same(good, lines(slurp(d .. "/study/results.csv")))
    assert.are.equal(good_summary, slurp(d .. "/study/summary.csv"))
  end)

  it("counts a run that a signal stopped early as failed, and --resume runs it again", function()
    local good = lines(slurp(d .. "/study/results.csv"))
    local good_summary = slurp(d .. "/study/summary.csv")
    local r = sweep('--jobs 2 -q -o "$D/study" ' .. STUDY, d, "ASX_TEST_TERM_RUN=0002.json ")
    assert.are.equal(1, r.status)
    assert.are.equal("asx-sweep: run 2 (point 1, seed 1409598201) failed: stopped by SIGTERM at 5 s of its "
      .. "10 s: run it again (--resume)\n", r.stderr:match("^[^\n]*\n"))
    assert.are.equal("2,1,1409598201,failed,2,,,,,", lines(slurp(d .. "/study/results.csv"))[3])
    assert.matches("^1,2,2,1,", lines(slurp(d .. "/study/summary.csv"))[2])

    local resumed = sweep('--jobs 2 -q --resume -o "$D/study" ' .. STUDY, d)
    assert.are.equal(0, resumed.status)
    assert.matches("^2\t", lines(slurp(d .. "/study/joblog"))[7])
    assert.are.same(good, lines(slurp(d .. "/study/results.csv")))
    assert.are.equal(good_summary, slurp(d .. "/study/summary.csv"))
  end)

  it("prints the runs' commands with --print, and collect reads what they made", function()
    local good = slurp(d .. "/study/results.csv")
    local r = sweep('--print -o "$D/printed" ' .. STUDY, d)
    assert.are.equal(0, r.status)
    assert.are.equal(6, #lines(r.stdout))
    assert.are.equal(slurp(d .. "/printed/commands"), r.stdout)
    assert.is_nil(read(d .. "/printed/runs/0001.json"))
    assert.are.equal((r.stdout:gsub("/printed/", "/study/")), slurp(d .. "/study/commands"))
    -- Any engine will do: here, the shell, one run after another.
    assert.are.equal(0, sh("sh '" .. d .. "/printed/commands'").status)
    local c = sweep('-q collect "$D/printed"', d)
    assert.are.equal(0, c.status)
    assert.are.equal(good, slurp(d .. "/printed/results.csv"))
  end)
end)

describe("asx-sweep and a run whose log lost rows", function()
  it("counts it failed, naming each logger and the rows it lost", function()
    -- asx-host exited 0 for a run whose --log lost rows, and its summary
    -- had no figure for them: the study took the run as whole. The log
    -- is a full disk (/dev/full) in one run and a file in the other.
    local d = tmpdir()
    pair_study(d, "lossy", ('points = { { ["pair.agents"] = 4 }, { ["pair.agents"] = 2 } }, seeds = { 7 }, '
      .. 'args = { "--log", %q }, report = { "trades" }'):format(d .. "/log.csv"))
    assert(os.execute("ln -s /dev/full '" .. d .. "/log.csv'") == 0)
    local r = sweep('-q --jobs 1 -o "$D/study" "$D/lossy.lua"', d)
    local results = slurp(d .. "/study/results.csv")
    local commands = lines(slurp(d .. "/study/commands"))
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal(1, r.status)
    assert.are.equal("run,point,seed,status,pair.agents,trades\n1,1,7,failed,4,\n2,2,7,failed,2,\n", results)
    assert.are.equal(table.concat({
      ("asx-sweep: run 1 (point 1, seed 7) failed: exit status 3, its logs lost rows: csv logger(%s/log.csv) "
        .. "lost 4 of 4"):format(d),
      "  command: " .. commands[1],
      "  its stderr ends:",
      ("    asx-host: cannot write '%s/log.csv': No space left on device"):format(d),
      ("asx-sweep: run 2 (point 2, seed 7) failed: exit status 3, its logs lost rows: csv logger(%s/log.csv) "
        .. "lost 2 of 2"):format(d),
      "  command: " .. commands[2],
      "  its stderr ends:",
      ("    asx-host: cannot write '%s/log.csv': No space left on device"):format(d),
      ("asx-sweep: 2 runs, 2 failed; results in %s/study/results.csv and summary.csv"):format(d),
    }, "\n") .. "\n", r.stderr)
  end)
end)

describe("asx-sweep and a run whose logger was detached after an error", function()
  it("counts it failed, naming the logger and the events it missed", function()
    -- asx-host exits 3 for a logger detached after an error (its summary's
    -- loggers say missed = 12), but the failure said only "exit status 3".
    local d = tmpdir()
    pair_study(d, "detached", ('seeds = { 1 }, args = { "--logger", %q }, report = { "trades" }')
      :format(run.cwd .. "/spec/fixtures/hostile/raises.lua"))
    local r = sweep('-q --jobs 1 -o "$D/study" "$D/detached.lua"', d)
    local results = slurp(d .. "/study/results.csv")
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal(1, r.status)
    assert.are.equal("run,point,seed,status,trades\n1,1,1,failed,\n", results)
    assert.are.equal(("asx-sweep: run 1 (point 1, seed 1) failed: exit status 3, its loggers missed events: logger "
      .. "%s/spec/fixtures/hostile/raises.lua: detached after an error, 12 events missed"):format(run.cwd),
      lines(r.stderr)[1])
  end)
end)

describe("asx-sweep and a report field that no run's summary has", function()
  it("exits 1 naming it and the strategies, after writing the results", function()
    -- value.pear.mean (for pair) was an empty column, and the sweep exited 0.
    local d = tmpdir()
    pair_study(d, "typo", 'seeds = { 7 }, report = { "trades", "value.pear.mean" }')
    local r = sweep('-q -o "$D/study" "$D/typo.lua"', d)
    local results = slurp(d .. "/study/results.csv")
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal(1, r.status)
    assert.are.equal("run,point,seed,status,trades,value.pear.mean\n1,1,7,ok,4,\n", results)
    assert.are.equal("asx-sweep: the study's report field 'value.pear.mean' is in no run's summary (its strategies: "
      .. ("pair); its column is empty\nasx-sweep: 1 runs, 0 failed; results in %s/study/results.csv and summary.csv\n")
      :format(d), r.stderr)
  end)
end)

describe("asx-sweep --timeout", function()
  it("stops a run that does not end in time, by its process group, counts it failed and goes on", function()
    -- Without the limit the sweep waited for the busy run for ever. It runs
    -- in a session of its own, killed whole if it is not done in time. The
    -- quick run needs well under 5 s, also under the sanitizers and load.
    local d = tmpdir()
    local study = run.cwd .. "/spec/fixtures/studies/stalling.lua"
    os.execute(("cd '%s' && setsid sh -c \"env -u LD_PRELOAD '%s' -q --jobs 4 --timeout 5 -o '%s/study' '%s' "
      .. ">'%s/out' 2>'%s/err'; echo \\$? >'%s/code'\" & echo $! >'%s/pid'")
      :format(run.cwd, SWEEP, d, study, d, d, d, d))
    local ok, code = pcall(run.wait_for, "asx-sweep to end", function()
      return tonumber(read(d .. "/code") or "")
    end, 60)
    if not ok then os.execute(("kill -KILL -- -%d"):format(tonumber(read(d .. "/pid")))) end
    assert(ok, code)
    local err, results, commands = slurp(d .. "/err"), slurp(d .. "/study/results.csv"),
      lines(slurp(d .. "/study/commands"))
    -- Any process left whose command line names the runs' files ([s]: not
    -- pgrep's own shell's).
    local asx_host_left = run.output(("pgrep -f -- '%s/[s]tudy/runs/' || true"):format(d))
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal(1, code)
    assert.are.equal("run,point,seed,status,stall.mode,orders\n1,1,96542,ok,quick,0\n2,2,96542,failed,slow,\n"
      .. "3,3,96542,failed,busy,\n4,4,96542,failed,killed,\n", results)
    -- The slow run's asx-host ended its session on the SIGTERM; the busy
    -- one's agent never yields, so the SIGKILL came.
    assert.are.equal("timeout -v -k 5 5 sh -c 'exec \"$@\" 2>\"$0\"' " .. d .. "/study/runs/0002.err " .. run.HOST
      .. " -q --clock virtual -d 1000000000000 --seed 96542 --set stall.mode=slow --summary " .. d
      .. "/study/runs/0002.json " .. study:gsub("stalling", "stall") .. " >" .. d .. "/study/runs/0002.out 2>" .. d
      .. "/study/runs/0002.timeout", commands[2])
    assert.matches("asx-sweep: run 2 (point 2, seed 96542) failed: timed out: still running after 5 s (--timeout), "
      .. "stopped by SIGTERM\n", err, 1, true)
    assert.matches("asx-sweep: run 3 (point 3, seed 96542) failed: timed out: still running after 5 s (--timeout), "
      .. "killed by SIGKILL 5 s later\n", err, 1, true)
    -- A SIGKILL from elsewhere (the kernel's, out of memory) is no timeout:
    -- its 137 was read as the timeout's.
    assert.matches("asx-sweep: run 4 (point 4, seed 96542) failed: killed by SIGKILL (exit status 137), no summary\n",
      err, 1, true)
    local last = ("\nasx-sweep: 4 runs, 3 failed; results in %s/study/results.csv and summary.csv\n"):format(d)
    assert.are.equal(last, err:sub(-#last))
    assert.are.equal("", asx_host_left)
  end)
end)

describe("asx-sweep and a strategy named with dots", function()
  it("sets its fields and reports them: the last dot ends the class's name", function()
    -- "my.maker.spread" was refused as no CLASS.FIELD, and a report field
    -- parameters.CLASS.FIELD split the name --set gave into two keys.
    local d = tmpdir()
    run.write(d .. "/maker.lua", 'local M = require("asx").Trader:extend("my.maker")\nM.spread = 1\n'
      .. "function M:cycle() self:sleep(1) end\nreturn M\n")
    run.write(d .. "/dotted.lua", 'return { strategies = { "maker.lua:2" }, duration = 2, seeds = { 1 }, '
      .. 'parameters = { ["my.maker.spread"] = { 3, 7 } }, '
      .. 'report = { "parameters.my.maker.spread", "agents.my.maker.agents", "value.my.maker.start" } }\n')
    local r = sweep('-q -o "$D/study" "$D/dotted.lua"', d)
    assert.are.equal("", (r.stderr:gsub("asx%-sweep: 2 runs, 0 failed;[^\n]*\n$", "")))
    assert.are.equal(0, r.status)
    assert.matches(" %-%-set my%.maker%.spread=7 ", lines(slurp(d .. "/study/commands"))[2])
    assert.are.equal("run,point,seed,status,my.maker.spread,parameters.my.maker.spread,agents.my.maker.agents,"
      .. "value.my.maker.start\n1,1,1,ok,3,3,2,300\n2,2,1,ok,7,7,2,300\n", slurp(d .. "/study/results.csv"))
    os.execute("rm -rf '" .. d .. "'")
  end)
end)

describe("asx-sweep's command line", function()
  local USAGE = "usage: asx-sweep [options] STUDY.lua\n       asx-sweep collect DIR\n"
    .. "Try 'asx-sweep --help' for more.\n"

  it("exits 2 with the reason for a bad option or study, running nothing", function()
    local d = tmpdir()
    run.write(d .. "/bad.lua", 'return { strategies = { "nope.lua" }, duration = 10 }\n')
    local cases = {
      { "--jobs 0 " .. STUDY, "--jobs: positive integer up to 2^53 - 1 expected, got '0'" },
      { "--chunk 2.5 " .. STUDY, "--chunk: positive integer up to 2^53 - 1 expected, got '2.5'" },
      { "--wait " .. STUDY, "--wait goes with --slurm" },
      { "--timeout 0 " .. STUDY, "--timeout: positive number of seconds expected, got '0'" },
      -- In asx-host's words, from the same reader (asx.cli_number).
      { "--timeout 1e-400 " .. STUDY, "--timeout 1e-400: too small for a number (it would read as 0)" },
      { "--timeout inf " .. STUDY, "--timeout inf: not a finite number" },
      { "--frobnicate " .. STUDY, "unknown option '--frobnicate'" },
      { "", "no study file given" },
      { '"$D/bad.lua"', "strategies[1]: no file 'nope.lua'" },
      { 'collect "$D"', "collect: '" .. d .. "' is not a study's folder (no study.json)" },
    }
    for _, c in ipairs(cases) do
      local r = sweep('-o "$D/study" ' .. c[1], d)
      assert.are.equal(2, r.status)
      assert.are.equal("asx-sweep: " .. c[2] .. "\n" .. USAGE, r.stderr)
    end
    assert.is_nil(read(d .. "/study/study.json"))
    -- A line break in the folder's path split every run's command in two.
    local r = sweep("-o \"$D/a\nb\" " .. STUDY, d)
    assert.are.equal(2, r.status)
    assert.are.equal("asx-sweep: --out: a folder path without control characters (a line break, a tab) expected\n"
      .. USAGE, r.stderr)
    os.execute("rm -rf '" .. d .. "'")
  end)

  it("reads its numbers as asx-host does: --timeout 1e3 is 1000 s", function()
    -- It was refused ('a positive number of seconds expected, got '1e3''),
    -- while asx-host took -d 1e3.
    local d = tmpdir()
    local r = sweep('--print --jobs 0x2 --timeout 1e3 -o "$D/study" ' .. STUDY, d)
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal(0, r.status)
    assert.are.equal("timeout -v -k 5 1000 sh -c ", lines(r.stdout)[1]:sub(1, 27))
  end)

  it("refuses a folder another asx-sweep is using (exit 2, nothing run), and so does collect", function()
    -- The second emptied the first's runs while they ran, and both wrote
    -- the CSV files. flock(1) holds the folder as a sweep does.
    local d = tmpdir()
    assert.are.equal(0, sweep('--print -o "$D/study" ' .. STUDY, d).status)
    local r = sh(("flock \"$D/study\" env -u LD_PRELOAD '%s' -o \"$D/study\" %s"):format(SWEEP, STUDY), d)
    assert.are.equal(2, r.status)
    assert.are.equal("asx-sweep: '" .. d .. "/study' is in use by another asx-sweep; wait for it to end, or choose "
      .. "another --out\n" .. USAGE, r.stderr)
    r = sh(("flock \"$D/study\" env -u LD_PRELOAD '%s' collect \"$D/study\""):format(SWEEP), d)
    assert.are.equal(2, r.status)
    assert.are.equal("asx-sweep: collect: '" .. d .. "/study' is in use by another asx-sweep; wait for it to end\n"
      .. USAGE, r.stderr)
    assert.is_nil(read(d .. "/study/joblog"))
    assert.are.equal(6, #lines(slurp(d .. "/study/commands")))
    os.execute("rm -rf '" .. d .. "'")
  end)

  it("names the folder it cannot make (exit 2, nothing run) and the file it cannot write (exit 1)", function()
    local d = tmpdir()
    assert(io.open(d .. "/file", "w")):close()
    local r = sweep('-o "$D/file/study" ' .. STUDY, d)
    assert.are.equal(2, r.status)
    assert.are.equal("asx-sweep: cannot make the folder '" .. d .. "/file/study/runs': Not a directory\n" .. USAGE,
      r.stderr)
    -- A full disk under results.csv: its temporary file is /dev/full.
    assert.are.equal(0, sweep('--print -o "$D/printed" ' .. STUDY, d).status)
    assert.are.equal(0, sh("sh '" .. d .. "/printed/commands'").status)
    assert(os.execute("ln -s /dev/full '" .. d .. "/printed/results.csv.tmp'") == 0)
    local c = sweep('-q collect "$D/printed"', d)
    assert.are.equal(1, c.status)
    assert.are.equal("asx-sweep: cannot write '" .. d .. "/printed/results.csv': No space left on device\n", c.stderr)
    assert.is_nil(read(d .. "/printed/results.csv"))
    os.execute("rm -rf '" .. d .. "'")
  end)
end)
