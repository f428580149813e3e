-- The parts of asx-sweep that need no engine: a study's expansion into
-- points, seeds and commands, and the statistics of summary.csv.
local study = require("asx.sweep.study")
local stats = require("asx.sweep.stats")
local results = require("asx.sweep.results")
local run = require("helpers.run")

local function write_study(text)
  local d = run.tmpdir()
  run.write(d .. "/s.lua", text)
  os.execute("touch '" .. d .. "/a.lua'")
  return d, d .. "/s.lua"
end

-- The study of the file at path and its runs, in folder d, each with a
-- summary file as asx-host would have left it: the text summary, or what
-- summary(i) gives for run i when it is a function.
local function with_summaries(d, path, summary)
  local st = study.load(path)
  local runs = study.runs(st, "asx-host", d)
  os.execute("mkdir -p '" .. d .. "/runs'")
  for i, r in ipairs(runs) do
    run.write(r.summary, type(summary) == "function" and summary(i) or summary)
  end
  return st, runs
end

-- Run i's summary: it made i trades.
local function trades(i) return '{"status":0,"trades":' .. i .. "}" end

describe("a study", function()
  it("crosses parameters in a fixed order, first name slowest, with the same seeds for every point", function()
    local d, path = write_study([[
      return { strategies = { "a.lua:3" }, duration = 5, seed = 7, seeds = 2,
        parameters = { ["b.y"] = { "p", "q" }, ["a.x"] = { 1, 2.5, true } } }]])
    local s = study.load(path)
    assert.are.same({ "a.x", "b.y" }, s.keys)
    assert.are.same({
      { ["a.x"] = 1, ["b.y"] = "p" }, { ["a.x"] = 1, ["b.y"] = "q" },
      { ["a.x"] = 2.5, ["b.y"] = "p" }, { ["a.x"] = 2.5, ["b.y"] = "q" },
      { ["a.x"] = true, ["b.y"] = "p" }, { ["a.x"] = true, ["b.y"] = "q" },
    }, s.points)
    -- The minimal standard generator from 7 % (2^31 - 2) + 1 = 8.
    assert.are.same({ 8 * 48271, 8 * 48271 * 48271 % 2147483647 }, s.seeds)
    local runs = study.runs(s, "/bin/asx-host", "/o")
    assert.are.equal(12, #runs)
    assert.are.same({ 3, 3, 386168 }, { runs[6].point, runs[5].point, runs[5].seed })
    assert.are.equal("/bin/asx-host -q --clock virtual -d 5 --seed 1460846352 --set a.x=2.5 --set b.y=p "
      .. "--summary /o/runs/0006.json " .. d .. "/a.lua:3 >/o/runs/0006.out 2>/o/runs/0006.err", runs[6].command)
    os.execute("rm -rf '" .. d .. "'")
  end)

  it("takes explicit points and a list of seeds", function()
    local d, path = write_study([[
      return { strategies = { "a.lua" }, duration = 1, seeds = { 5, 9 }, clock = "real",
        points = { { ["a.x"] = 1 }, { ["a.x"] = 3, ["a.z"] = "it's" } } }]])
    local s = study.load(path)
    assert.are.same({ "a.x", "a.z" }, s.keys)
    local runs = study.runs(s, "asx-host", "/o")
    assert.are.same({ 5, 9, 5, 9 }, { runs[1].seed, runs[2].seed, runs[3].seed, runs[4].seed })
    assert.are.equal("asx-host -q --clock real -d 1 --seed 9 --set a.x=3 --set 'a.z=it'\\''s' "
      .. "--summary /o/runs/0004.json " .. d .. "/a.lua >/o/runs/0004.out 2>/o/runs/0004.err", runs[4].command)
    os.execute("rm -rf '" .. d .. "'")
  end)

  it("passes numbers to its runs and files exactly, in the fewest digits that read back the same", function()
    local d, path = write_study([[
      return { strategies = { "a.lua" }, duration = 0.1 + 0.2, seeds = { 1 },
        points = { { ["a.x"] = 0.1 + 0.2 }, { ["a.x"] = 1 / 3 }, { ["a.x"] = 1e-20 }, { ["a.x"] = 0.1 } } }]])
    local s = study.load(path)
    local runs = study.runs(s, "asx-host", "/o")
    assert.are.equal("asx-host -q --clock virtual -d 0.30000000000000004 --seed 1 --set a.x=0.30000000000000004 "
      .. "--summary /o/runs/0001.json " .. d .. "/a.lua >/o/runs/0001.out 2>/o/runs/0001.err", runs[1].command)
    local params = require("asx.params")
    local want = { 0.1 + 0.2, 1 / 3, 1e-20, 0.1 }
    local texts = {}
    for i, r in ipairs(runs) do
      local text = r.command:match("%-%-set a%.x=(%S+)")
      texts[i] = text
      assert.are.equal(want[i], params.parse("a.x=" .. text).value)
    end
    assert.are.same({ "0.30000000000000004", "0.3333333333333333", "1e-20", "0.1" }, texts)
    -- results.csv and summary.csv write them so too.
    os.execute("mkdir -p '" .. d .. "/runs'")
    runs = study.runs(s, "asx-host", d)
    for _, r in ipairs(runs) do
      run.write(r.summary, '{"status":0,"trades":1}')
    end
    results.collect(s, runs, d)
    local csv = run.slurp(d .. "/results.csv")
    assert.are.equal("run,point,seed,status,a.x,trades,volatility,mean_spread\n"
      .. "1,1,1,ok,0.30000000000000004,1,,\n2,2,1,ok,0.3333333333333333,1,,\n3,3,1,ok,1e-20,1,,\n"
      .. "4,4,1,ok,0.1,1,,\n", csv)
    assert.matches("\n1,0.30000000000000004,1,", run.slurp(d .. "/summary.csv"), 1, true)
    os.execute("rm -rf '" .. d .. "'")
  end)

  it("passes integers of 2^53 or more in all their digits, never in exponent form", function()
    local d, path = write_study([[
      return { strategies = { "a.lua" }, duration = 2^60, seeds = { 1 },
        points = { { ["a.x"] = 2^53 }, { ["a.x"] = 2^60 }, { ["a.x"] = -2^63 }, { ["a.x"] = 1e22 } } }]])
    local s = study.load(path)
    local runs = study.runs(s, "asx-host", d)
    assert.are.equal("asx-host -q --clock virtual -d 1152921504606846976 --seed 1 --set a.x=9007199254740992 "
      .. "--summary " .. d .. "/runs/0001.json " .. d .. "/a.lua >" .. d .. "/runs/0001.out 2>" .. d
      .. "/runs/0001.err", runs[1].command)
    local params = require("asx.params")
    local want = { 2^53, 2^60, -2^63, 1e22 }
    local texts = {}
    for i, r in ipairs(runs) do
      texts[i] = r.command:match("%-%-set a%.x=(%S+)")
      assert.are.equal(want[i], params.parse("a.x=" .. texts[i]).value)
    end
    -- They were 1.152921504606847e+18, -9.223372036854776e+18 and 1e+22.
    assert.are.same({ "9007199254740992", "1152921504606846976", "-9223372036854775808",
      "10000000000000000000000" }, texts)
    os.execute("mkdir -p '" .. d .. "/runs'")
    for _, r in ipairs(runs) do
      run.write(r.summary, '{"status":0,"trades":1}')
    end
    results.collect(s, runs, d)
    assert.are.equal("run,point,seed,status,a.x,trades,volatility,mean_spread\n"
      .. "1,1,1,ok,9007199254740992,1,,\n2,2,1,ok,1152921504606846976,1,,\n3,3,1,ok,-9223372036854775808,1,,\n"
      .. "4,4,1,ok,10000000000000000000000,1,,\n", run.slurp(d .. "/results.csv"))
    assert.matches("\n2,1152921504606846976,1,", run.slurp(d .. "/summary.csv"), 1, true)
    os.execute("rm -rf '" .. d .. "'")
  end)

  it("refuses what it cannot run, saying why", function()
    local cases = {
      { "return 5", "does not return a table (got number)" },
      { "return { strategies = {}, duration = 1 }", 'strategies: a non-empty list of "FILE.lua[:COUNT]" expected' },
      { "return { strategies = { 'a.lua' } }", "duration: a positive number of seconds expected" },
      { "return { strategies = { 'a.lua' }, duration = 1, seeds = 0 }",
        "seeds: a positive count or a list of seeds expected" },
      { "return { strategies = { 'a.lua' }, duration = 1, parameters = { spread = { 1 } } }",
        "parameter names are CLASS.FIELD strings, got spread" },
      -- A class named with dots is reached by the last one; one named with
      -- "=" cannot be by --set, whose CLASS.FIELD ends at the first "=".
      { "return { strategies = { 'a.lua' }, duration = 1, parameters = { ['a=b.x'] = { 1 } } }",
        "parameter a=b.x: a class named with '=' cannot be set (--set CLASS.FIELD=VALUE ends CLASS.FIELD at the "
          .. "first '=')" },
      { "return { strategies = { 'a.lua' }, duration = 1, parameters = { ['.x'] = { 1 } } }",
        "parameter names are CLASS.FIELD strings, got .x" },
      { "return { strategies = { 'a.lua' }, duration = 1, points = { { ['a\\nb.x'] = 1 } } }",
        "parameter a?b.x: a name of valid UTF-8 without control characters (a line break, a tab) expected" },
      { "return { strategies = { 'a.lua' }, duration = 1, parameters = { ['a.b'] = {} } }",
        "parameter a.b: a non-empty list of values expected" },
      { "return { strategies = { 'a.lua' }, duration = 1, parameters = {}, points = {} }",
        "give parameters or points, not both" },
      { "return { strategies = { 'a.lua' }, duration = 1, clock = 'fast' }", "clock: 'virtual' or 'real' expected" },
      -- seeds = 1e9 built a table of a billion seeds (and parameters a
      -- product of their lists) until memory ran out, with nothing said.
      { "return { strategies = { 'a.lua' }, duration = 1, seeds = 1e9 }",
        "seeds: a study makes at most 1,000,000 runs, got 1000000000 seeds" },
      { "return { strategies = { 'a.lua' }, duration = 1, parameters = { ['a.x'] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 },"
          .. " ['a.y'] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, ['a.z'] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 },"
          .. " ['a.w'] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, ['a.v'] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 },"
          .. " ['a.u'] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, ['a.t'] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 } } }",
        "parameters: a study makes at most 1,000,000 runs, got 10000000 points" },
      { "return { strategies = { 'a.lua' }, duration = 1, seeds = 1000, parameters = { ['a.x'] = { 1, 2, 3, 4, 5,"
          .. " 6, 7, 8, 9, 10 }, ['a.y'] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, ['a.z'] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,"
          .. " 11 } } }",
        "a study makes at most 1,000,000 runs, got 1100 points times 1000 seeds" },
      -- asx-host refused the seed written as 9.007199254741e+15: every run failed.
      { "return { strategies = { 'a.lua' }, duration = 1, seeds = { 1, 2^53 } }",
        "seeds[2]: non-negative integer up to 2^53 - 1 expected" },
      -- The study's seed took 2^53, which a list of seeds refused, and its
      -- message did not say the limit.
      { "return { strategies = { 'a.lua' }, duration = 1, seed = 2^53 }",
        "seed: non-negative integer up to 2^53 - 1 expected" },
      { "return { strategies = { 'a.lua' }, duration = 1, seed = -1 }",
        "seed: non-negative integer up to 2^53 - 1 expected" },
      { "return { strategies = { 'a.lua' }, duration = 1, seed = 0.5 }",
        "seed: non-negative integer up to 2^53 - 1 expected" },
      -- The run's command spread over two lines of the commands and jobs files.
      { "return { strategies = { 'a.lua' }, duration = 1, parameters = { ['a.b'] = { 'x', 'y\\nz' } } }",
        "parameter a.b: text without control characters (a line break, a tab) expected" },
      -- A line break in args or a strategy's path split each run's command
      -- over two lines of the commands and jobs files, each run as a command.
      { "return { strategies = { 'a.lua' }, duration = 1, args = { '--money', '5\\nrm -rf x' } }",
        "args[2]: text without control characters (a line break, a tab) expected" },
      -- asx-host takes the last of an option given twice: every run had
      -- seed 5 while results.csv gave each its own, an sd of 0 over one run.
      { "return { strategies = { 'a.lua' }, duration = 1, args = { '--money', '5', '--seed', '5' } }",
        "args[3]: --seed is asx-sweep's to give each run (the study's seeds)" },
      { "return { strategies = { 'a.lua' }, duration = 1, args = { '-d30' } }",
        "args[1]: -d30 is asx-sweep's to give each run (the study's duration)" },
      { "return { strategies = { 'a.lua' }, duration = 1, args = { '--clock', 'real' } }",
        "args[1]: --clock is asx-sweep's to give each run (the study's clock)" },
      { "return { strategies = { 'a.lua' }, duration = 1, args = { '--summary', 'x.json' } }",
        "args[1]: --summary is asx-sweep's to give each run (the run's summary, which asx-sweep reads)" },
      -- asx-host takes --seed=5 as --seed 5: every run had seed 5 again.
      { "return { strategies = { 'a.lua' }, duration = 1, args = { '--money', '5', '--seed=5' } }",
        "args[3]: --seed=5 is asx-sweep's to give each run (the study's seeds)" },
      { "return { strategies = { 'a.lua' }, duration = 1, args = { '--duration=30' } }",
        "args[1]: --duration=30 is asx-sweep's to give each run (the study's duration)" },
      { "return { strategies = { 'a.lua' }, duration = 1, args = { '--clock=real' } }",
        "args[1]: --clock=real is asx-sweep's to give each run (the study's clock)" },
      { "return { strategies = { 'a.lua' }, duration = 1, args = { '--summary=x.json' } }",
        "args[1]: --summary=x.json is asx-sweep's to give each run (the run's summary, which asx-sweep reads)" },
      -- A report field that no summary has was an empty column, said nowhere.
      { "return { strategies = { 'a.lua' }, duration = 1, report = { 'trades', 'trade' } }",
        "report[2]: no summary field 'trade' (a summary's fields are agents, clock, close, duration, high, loggers, "
          .. "low, mean_spread, open, orders, parameters, seed, session_time, status, stopped_by, trades, value, "
          .. "volatility, volume, vwap, wall_time)" },
      { "return { strategies = { 'a.lua' }, duration = 1, report = { 'value.a.meen' } }",
        "report[1]: no summary field 'value.a.meen' (value.STRATEGY's fields are max, mean, median, min, start)" },
      { "return { strategies = { 'a.lua' }, duration = 1, report = { 'agents.a.failed.x' } }",
        "report[1]: no summary field 'agents.a.failed.x' (agents.STRATEGY's fields are agents, failed, finished, "
          .. "running)" },
      { "return { strategies = { 'a.lua' }, duration = 1, report = { 'trades.x' } }",
        "report[1]: no summary field 'trades.x' ('trades' is a figure, with no fields)" },
      -- loggers is a list: loggers.1.lost was read as loggers["1"], an empty column.
      { "return { strategies = { 'a.lua' }, duration = 1, report = { 'loggers.0.lost' } }",
        "report[1]: no summary field 'loggers.0.lost' (loggers is a list: loggers.N.FIELD, N from 1, FIELD one of "
          .. "logger, lost, missed, written)" },
      { "return { strategies = { 'a.lua' }, duration = 1, report = { 'loggers.csv.lost' } }",
        "report[1]: no summary field 'loggers.csv.lost' (loggers is a list: loggers.N.FIELD, N from 1, FIELD one of "
          .. "logger, lost, missed, written)" },
      { "return { strategies = { 'a.lua' }, duration = 1, report = { 'loggers.1.lots' } }",
        "report[1]: no summary field 'loggers.1.lots' (loggers is a list: loggers.N.FIELD, N from 1, FIELD one of "
          .. "logger, lost, missed, written)" },
      { "return { strategies = { 'a\\n.lua' }, duration = 1 }",
        "strategies[1]: a path without control characters (a line break, a tab) expected" },
      -- A misspelt field ran the study without it, with no word: every
      -- run at the class's own value, or with one seed.
      { "return { strategies = { 'a.lua' }, duration = 1, paramaters = { ['a.b'] = { 1, 2 } } }",
        "'paramaters': no such study field (a study's fields are args, clock, duration, metrics, name, parameters, "
          .. "points, report, seed, seeds, strategies)" },
      { "return { 'a.lua', duration = 1 }",
        "1: no such study field (a study's fields are args, clock, duration, metrics, name, parameters, "
          .. "points, report, seed, seeds, strategies)" },
      -- The CSV files held it as it was, and were no UTF-8 for their readers.
      { "return { strategies = { 'a.lua' }, duration = 1, parameters = { ['a.b'] = { 'x\\255y' } } }",
        "parameter a.b: text of valid UTF-8 expected" },
    }
    for _, c in ipairs(cases) do
      local d, path = write_study(c[1])
      local ok, err = pcall(study.load, path)
      assert.is_false(ok)
      assert.are.equal(c[2], (err.usage:gsub("^.-s%.lua: ", "")))
      os.execute("rm -rf '" .. d .. "'")
    end
  end)
end)

describe("a study's results", function()
  it("fail a run whose metrics give a table, and leave a NaN empty", function()
    local d, path = write_study([[
      return { strategies = { "a.lua" }, duration = 1, seeds = { 1, 2 }, report = { "trades" },
        metrics = function(s)
          if s.trades == 1 then return { gain = { mean = 1 } } end -- a forgotten .mean
          return { gain = 0 / 0, x = 2 }
        end }]])
    local st, runs = with_summaries(d, path, trades)
    assert.are.same({ "trades", "gain", "x" }, results.read(st, runs))
    assert.is_false(runs[1].ok)
    assert.are.equal("the study's metrics function returned a table for 'gain' (numbers expected)", runs[1].reason)
    assert.is_true(runs[2].ok)
    assert.are.same({ trades = 2, x = 2 }, runs[2].values)
    os.execute("rm -rf '" .. d .. "'")
  end)
end)

describe("a study's run whose summary file is no summary", function()
  it("fails, naming the file and what it holds, where it said \"exit status nil\"", function()
    local d, path = write_study([[
      return { strategies = { "a.lua" }, duration = 1, seeds = { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, report = { "trades" } }]])
    local held = { '[{"status":0}]', ' "done"', "12", "true", "null", "{}", '{"status":"0","trades":1}', "\n",
      '{"status":0,"trades":3}' }
    local st, runs = with_summaries(d, path, function(i) return held[i] end)
    results.read(st, runs)
    local function file(i) return ("its summary %s/runs/%04d.json "):format(d, i) end
    local reasons = {}
    for i, r in ipairs(runs) do reasons[i] = r.reason or "ok" end
    assert.are.same({
      file(1) .. "holds a JSON array, not a JSON object",
      file(2) .. "holds a JSON string, not a JSON object",
      file(3) .. "holds a JSON number, not a JSON object",
      file(4) .. "holds true, not a JSON object",
      file(5) .. "holds null, not a JSON object",
      file(6) .. 'has no exit status ("status": a number expected, got nil)',
      file(7) .. 'has no exit status ("status": a number expected, got string)',
      file(8) .. "is empty",
      "ok",
    }, reasons)
    assert.are.same({ trades = 3 }, runs[9].values)
    os.execute("rm -rf '" .. d .. "'")
  end)
end)

describe("a study's metric names", function()
  it("fail a run whose metric is named as a column of results.csv, a parameter or a report field", function()
    -- A metric "run" made a second column "run", which a reader keyed by
    -- name took for the run's number; one named "trades" replaced the
    -- summary's trades with its own figure.
    local cases = {
      { "run", "'run', a column of results.csv" },
      { "seed", "'seed', a column of results.csv" },
      { "a.x", "'a.x', a parameter of the study" },
      { "trades", "'trades', a report field of the study" },
    }
    for _, case in ipairs(cases) do
      local d, path = write_study(([[
        return { strategies = { "a.lua" }, duration = 1, seeds = { 1 }, report = { "trades" },
          parameters = { ["a.x"] = { 1 } }, metrics = function() return { [%q] = 7 } end }]]):format(case[1]))
      local st, runs = with_summaries(d, path, '{"status":0,"trades":4}')
      results.collect(st, runs, d)
      local csv = run.slurp(d .. "/results.csv")
      os.execute("rm -rf '" .. d .. "'")
      assert.are.same({ false, "the study's metrics function returned " .. case[2] .. " (a metric needs a name of "
        .. "its own)" }, { runs[1].ok, runs[1].reason }, case[1])
      assert.are.equal("run,point,seed,status,a.x,trades\n1,1,1,failed,1,\n", csv, case[1])
    end
  end)
end)

describe("a study's report fields", function()
  it("fail a run where one holds a table, naming it, as a metric that gives one does", function()
    -- report = { "value" } wrote the table's address, another in every run.
    local d, path = write_study([[
      return { strategies = { "a.lua" }, duration = 1, seeds = { 1 }, report = { "trades", "value", "agents.a.failed" } }]])
    local st, runs = with_summaries(d, path,
      '{"status":0,"trades":4,"value":{"a":{"mean":1}},"agents":{"a":{"failed":0}}}')
    assert.are.same({ "trades", "value", "agents.a.failed" }, results.read(st, runs))
    assert.are.same({ false, "the study's report field 'value' is a table in the summary (numbers expected)", {} },
      { runs[1].ok, runs[1].reason, runs[1].values })
    os.execute("rm -rf '" .. d .. "'")
  end)
end)

describe("a study's report field that no summary has", function()
  it("is said, naming it and the strategies, and the runs are kept", function()
    -- A strategy's name misspelt became an empty column, said nowhere. A
    -- null figure (close, before any trade) is there.
    local d, path = write_study([[
      return { strategies = { "a.lua" }, duration = 1, seeds = { 1, 2 }, report = { "trades", "value.b.mean", "close" } }]])
    local st, runs = with_summaries(d, path,
      '{"status":0,"trades":4,"close":null,"value":{"a":{"mean":1},"c":{"mean":2}}}')
    local names, problems = results.read(st, runs)
    assert.are.same({ "trades", "value.b.mean", "close" }, names)
    assert.are.same({ "the study's report field 'value.b.mean' is in no run's summary (its strategies: a, c); "
      .. "its column is empty" }, problems)
    assert.are.same({ true, true, { trades = 4 } }, { runs[1].ok, runs[2].ok, runs[1].values })
    -- No summary at all: nothing to tell a field by.
    for _, r in ipairs(runs) do os.remove(r.summary) end
    assert.are.same({}, select(2, results.read(st, runs)))
    os.execute("rm -rf '" .. d .. "'")
  end)
end)

describe("a study's report fields in the summary's loggers", function()
  it("index the list from 1, and say an index that no run's summary has", function()
    -- loggers.1.lost was looked up as loggers["1"]: never there, an empty column.
    local d, path = write_study([[
      return { strategies = { "a.lua" }, duration = 1, seeds = { 1 },
        report = { "loggers.1.lost", "loggers.2.missed", "loggers.2.logger", "loggers.3.lost" } }]])
    local st, runs = with_summaries(d, path, '{"status":0,"loggers":[{"logger":"csv logger(t.csv)","written":4,'
      .. '"lost":0,"missed":0},{"logger":"logger x.lua","written":null,"lost":null,"missed":7}]}')
    local names, problems = results.read(st, runs)
    assert.are.same({ "loggers.1.lost", "loggers.2.missed", "loggers.2.logger", "loggers.3.lost" }, names)
    assert.are.same({ "the study's report field 'loggers.3.lost' is in no run's summary (index 3 is out of range: "
      .. "no run's summary has more than 2 loggers); its column is empty" }, problems)
    assert.are.same({ true, { ["loggers.1.lost"] = 0, ["loggers.2.missed"] = 7, ["loggers.2.logger"] = "logger x.lua" } },
      { runs[1].ok, runs[1].values })
    os.execute("rm -rf '" .. d .. "'")
  end)
end)

describe("a study's CSV files", function()
  it("quote a metric's name by RFC 4180, in valid UTF-8, leave a NaN empty, and show it escaped", function()
    local d, path = write_study([[
      return { strategies = { "a.lua" }, duration = 1, seeds = { 1, 2 }, report = { "trades" },
        metrics = function() return { ["a\rb"] = 1, ["x\255"] = 2, big = 1 / 0 } end }]])
    local st, runs = with_summaries(d, path, trades)
    local points, names = results.collect(st, runs, d)
    -- The terminal's table shows the CR escaped, where it moved the cursor.
    assert.are.equal("point  runs  trades      a\\013b  big        x\255",
      results.table(st, points, names):match("^[^\n]*"))
    -- A bare CR ends a record for a reader, and 0xFF is no UTF-8; the sd of
    -- two infinite values is NaN, which was written "nan".
    assert.are.equal('run,point,seed,status,trades,"a\rb",big,x\239\191\189\n'
      .. "1,1,1,ok,1,1,inf,2\n2,1,2,ok,2,1,inf,2\n", run.slurp(d .. "/results.csv"))
    assert.are.equal("point,runs,failed,trades_mean,trades_sd,trades_ci95_low,trades_ci95_high,"
      .. '"a\rb_mean","a\rb_sd","a\rb_ci95_low","a\rb_ci95_high",big_mean,big_sd,big_ci95_low,big_ci95_high,'
      .. "x\239\191\189_mean,x\239\191\189_sd,x\239\191\189_ci95_low,x\239\191\189_ci95_high\n"
      .. "1,2,0,1.5,0.7071067811865476,-4.853102368,7.853102368,1,0,1,1,inf,,,,2,0,2,2\n",
      run.slurp(d .. "/summary.csv"))
    os.execute("rm -rf '" .. d .. "'")
  end)
end)

describe("the table at the end of a study", function()
  it("lines its columns up after names and values that are not ASCII", function()
    -- Each byte of "é" and "€" counted as a column (only "±" was known), so
    -- every column after one stood short of its place.
    local d, path = write_study([[
      return { strategies = { "a.lua" }, duration = 1, seeds = { 1, 2 }, report = { "trades" },
        parameters = { ["a.x"] = { "café", "b" } },
        metrics = function() return { ["prix€"] = 1, z = 2 } end }]])
    local st, runs = with_summaries(d, path, trades)
    local points, names = results.collect(st, runs, d)
    assert.are.equal("point  a.x   runs  trades      prix€  z\n"
      .. "1      café  2     1.5 ± 6.35  1 ± 0  2 ± 0\n"
      .. "2      b     2     3.5 ± 6.35  1 ± 0  2 ± 0\n", results.table(st, points, names))
    os.execute("rm -rf '" .. d .. "'")
  end)
end)

describe("a study's CSV files, with figures that do not exist", function()
  it("keep every value in its own column", function()
    -- A null in the summary (volatility, with fewer than two returns), a NaN
    -- metric and the sd of a point's only run are nil: each later value was
    -- written one column to the left, and the row ended early.
    local d, path = write_study([[
      return { strategies = { "a.lua" }, duration = 1, seeds = { 1 }, report = { "trades", "volatility" },
        parameters = { ["a.x"] = { 1, 2 } },
        metrics = function(s) return { a = 0 / 0, b = s.trades * 10 } end }]])
    local st, runs = with_summaries(d, path, function(i)
      return '{"status":0,"trades":' .. i .. ',"volatility":null}'
    end)
    results.collect(st, runs, d)
    assert.are.equal("run,point,seed,status,a.x,trades,volatility,a,b\n"
      .. "1,1,1,ok,1,1,,,10\n2,2,1,ok,2,2,,,20\n", run.slurp(d .. "/results.csv"))
    assert.are.equal("point,a.x,runs,failed,trades_mean,trades_sd,trades_ci95_low,trades_ci95_high,"
      .. "volatility_mean,volatility_sd,volatility_ci95_low,volatility_ci95_high,a_mean,a_sd,a_ci95_low,a_ci95_high,"
      .. "b_mean,b_sd,b_ci95_low,b_ci95_high\n"
      .. "1,1,1,0,1,,,,,,,,,,,,10,,,\n2,2,1,0,2,,,,,,,,,,,,20,,,\n", run.slurp(d .. "/summary.csv"))
    os.execute("rm -rf '" .. d .. "'")
  end)
end)

describe("the statistics of summary.csv", function()
  it("use Student's t for n - 1 degrees of freedom", function()
    assert.are.equal(12.706204736, stats.t975(1))
    assert.are.equal(2.776445105, stats.t975(4))
    assert.are.equal(2.042272456, stats.t975(30))
    -- Above the table, the expansion is within 1e-7 of the exact quantile.
    assert.is_true(math.abs(stats.t975(31) - 2.039513446) < 1e-7)
    assert.is_true(math.abs(stats.t975(100) - 1.983971519) < 1e-7)
  end)

  it("give the mean, the sample sd and the 95% interval", function()
    local d = stats.describe({ 1, 2, 3, 4 })
    local sd = math.sqrt(5 / 3)
    assert.are.same({ n = 4, mean = 2.5, sd = sd, low = 2.5 - 3.182446305 * sd / 2,
      high = 2.5 + 3.182446305 * sd / 2 }, d)
    assert.are.same({ n = 1, mean = 7 }, stats.describe({ 7 }))
    -- The same figure in every run is its own mean, with an sd of 0: the
    -- sum's rounding made three runs of 0.1 a mean of 0.10000000000000002,
    -- an sd of 1.7e-17 and an interval around neither.
    assert.are.same({ n = 3, mean = 0.1, sd = 0, low = 0.1, high = 0.1 }, stats.describe({ 0.1, 0.1, 0.1 }))
    assert.are.same({ n = 1, mean = 0.1 }, stats.describe({ 0.1 }))
    local inf = stats.describe({ 1 / 0, 1 / 0 })
    assert.are.equal(1 / 0, inf.mean)
    -- Figures near the largest double and the smallest: 1e308 in every run
    -- summed to inf, a mean of inf; squares of deviations of 2^900 were inf
    -- (an sd of inf), those of 2^-900 were 0 (an sd of 0 between runs that
    -- differed).
    assert.are.same({ n = 3, mean = 1e308, sd = 0, low = 1e308, high = 1e308 },
      stats.describe({ 1e308, 1e308, 1e308 }))
    for _, unit in ipairs({ 2 ^ 900, 2 ^ -900 }) do
      local sd2 = math.sqrt(2) * unit
      local half = 12.706204736 * sd2 / math.sqrt(2)
      assert.are.same({ n = 2, mean = 2 * unit, sd = sd2, low = 2 * unit - half, high = 2 * unit + half },
        stats.describe({ unit, 3 * unit }))
    end
    assert.are.same({ n = 2, mean = 0, sd = math.sqrt(2) * 1e308, low = -1 / 0, high = 1 / 0 },
      stats.describe({ -1e308, 1e308 }))
    assert.are.same({ n = 0 }, stats.describe({}))
  end)
end)
