-- asx-host --set and --summary, end to end: the settings reach the classes
-- or stop the run with a one-line reason, and the JSON summary holds what
-- the printed summary says plus the figures a study compares.
local run = require("helpers.run")
local cjson = require("cjson")

local USAGE = run.USAGE
local F = "spec/fixtures/host/"
local sh, tmpdir, slurp = run.sh, run.tmpdir, run.slurp

local function host(args, dir)
  return sh('"$HOST" ' .. args, dir)
end

local without_wall = run.steady

describe("asx-host --set", function()
  it("sets numbers, booleans and strings on a class before its agents are made", function()
    local r = host("-q --clock virtual -d 1 --set tape.agents=3 --set tape.loud=true --set tape.label=boom "
      .. F .. "tape.lua")
    assert.are.equal(0, r.status)
    assert.are.equal("agents tape: 3 (0 running, 0 finished, 3 failed)", without_wall(r.stdout)[4])
    local _, booms = r.stderr:gsub(": boom\n", "")
    assert.are.equal(3, booms)
  end)

  it("exits 2 with the reason for an unknown class or field, or a value of the wrong kind", function()
    local cases = {
      { "nope.label=x", "--set nope.label=x: no strategy class named 'nope'" },
      { "tape.lable=x", "--set tape.lable=x: class tape has no field 'lable'" },
      { "tape.agents=many", "--set tape.agents=many: a number expected" },
      { "tape.agents=true", "--set tape.agents=true: a number expected" },
      { "tape.loud=1", "--set tape.loud=1: true or false expected" },
      { "tape.money=9007199254740993", "--set tape.money=9007199254740993: not exact as a number "
        .. "(integers beyond 2^53 round; it would read as 9007199254740992)" },
      { "tape.money=-0018014398509481985", "--set tape.money=-0018014398509481985: not exact as a number "
        .. "(integers beyond 2^53 round; it would read as -18014398509481984)" },
      { "tape.money=1e-400", "--set tape.money=1e-400: too small for a number (it would read as 0)" },
      -- Numbers past the largest double, and infinity or NaN by name, were
      -- "a number expected".
      { "tape.money=1e309", "--set tape.money=1e309: too large for a number (it would read as inf)" },
      { "tape.money=-0x1p1024", "--set tape.money=-0x1p1024: too large for a number (it would read as -inf)" },
      { "tape.money=nan", "--set tape.money=nan: not a finite number" },
      -- Other spellings of an integer that rounds, and of a value too small,
      -- ran as the number they became.
      { "tape.money=9007199254740993.0", "--set tape.money=9007199254740993.0: not exact as a number "
        .. "(integers beyond 2^53 round; it would read as 9007199254740992)" },
      { "tape.money=9.007199254740993e15", "--set tape.money=9.007199254740993e15: not exact as a number "
        .. "(integers beyond 2^53 round; it would read as 9007199254740992)" },
      { "tape.money=0x20000000000001", "--set tape.money=0x20000000000001: not exact as a number "
        .. "(integers beyond 2^53 round; it would read as 9007199254740992)" },
      { "tape.money=123456789012345678", "--set tape.money=123456789012345678: not exact as a number "
        .. "(integers beyond 2^53 round; it would read as 123456789012345680)" },
      { "tape.money=0x1p-1080", "--set tape.money=0x1p-1080: too small for a number (it would read as 0)" },
      { "tape.money=0x3p-1075", "--set tape.money=0x3p-1075: not exact as a number (it would read as 1e-323)" },
      { "tape.cycle=1", "--set tape.cycle=1: field 'cycle' of tape is a function, not a setting" },
      { "tape.name=x", "--set tape.name=x: class field 'name' is read-only (a class is named by extend: "
        .. "Trader:extend(\"name\"))" },
      { "label=x", "--set 'label=x': CLASS.FIELD=VALUE expected" },
      -- The field is after the last dot: the class may be named with dots.
      { "tape.x.label=x", "--set tape.x.label=x: no strategy class named 'tape.x'" },
    }
    for _, c in ipairs(cases) do
      local r = host("-q --clock virtual -d 1 --set " .. c[1] .. " " .. F .. "tape.lua")
      assert.are.equal(2, r.status)
      assert.are.equal("asx-host: " .. c[2] .. "\n" .. USAGE, r.stderr)
      assert.are.equal("", r.stdout)
    end
  end)
end)

describe("asx-host's printed summary", function()
  -- It exited 0 with nothing written and nothing said.
  it("that stdout does not take (a full disk) is said, and the status is 1; a reader that left is no failure",
    function()
    local r = sh('"$HOST" -q --clock virtual --seed 3 -d 1 ' .. F .. 'tape.lua >/dev/full')
    assert.are.equal(1, r.status)
    assert.are.equal("asx-host: cannot write the summary to stdout: No space left on device\n", r.stderr)
    local piped = sh('{ "$HOST" -q --clock virtual --seed 3 -d 1 ' .. F .. 'tape.lua; echo "$?" >&2; } | head -1')
    assert.are.equal("seed: 3\n", piped.stdout)
    assert.are.equal("0\n", piped.stderr)
  end)
end)

describe("asx-host --summary", function()
  it("refuses a path that --log or --report writes too, before anything runs", function()
    -- The summary, written last, replaced the log's rows, which it counted
    -- as written.
    local d = tmpdir()
    for _, case in ipairs({
      { '--log "$D/x.csv" --summary "$D/x.csv"', "--summary: '%s/x.csv' is the file of --log '%s/x.csv' too" },
      { '--summary "$D/s" --report "$D/../' .. d:match("[^/]+$") .. '/s"',
        "--report: '%s/../" .. d:match("[^/]+$") .. "/s' is the file of --summary '%s/s' too" },
    }) do
      local r = host("-q --clock virtual -d 1 " .. case[1] .. " " .. F .. "tape.lua", d)
      assert.are.equal(2, r.status)
      assert.are.equal("asx-host: " .. case[2]:format(d, d) .. "\n" .. USAGE, r.stderr)
      assert.are.equal("", r.stdout)
    end
    assert.is_nil(io.open(d .. "/x.csv"))
    os.execute("rm -rf '" .. d .. "'")
  end)

  it("counts and values the agents of two files of one strategy name together, as the report does", function()
    -- The JSON kept the second file's agents only (2 of 3), with a value
    -- pooled from both, and the report's series the second's mean.
    local d = tmpdir()
    for name, money in pairs({ a = 100, b = 400 }) do
      run.write(("%s/%s.lua"):format(d, name), ([[
local asx = require("asx")
local S = asx.Trader:extend("same")
S.money, S.stocks = %d, 0
function S:cycle() self:sleep(1) end
return S
]]):format(money))
    end
    local r = host('-q --clock virtual --seed 1 -d 2 --summary "$D/s.json" --report "$D/r.html" "$D/a.lua:1" "$D/b.lua:2"', d)
    assert.are.equal(0, r.status, r.stderr)
    local j = cjson.decode(slurp(d .. "/s.json"))
    local data = cjson.decode(slurp(d .. "/r.html"):match('<script type="application/json" id="asx%-data">(.-)</script>'))
    os.execute("rm -rf '" .. d .. "'")
    assert.are.same({ same = { agents = 3, running = 0, finished = 3, failed = 0 } }, j.agents)
    assert.are.same({ same = { mean = 300, median = 400, min = 100, max = 400, start = 300 } }, j.value)
    assert.are.same({ same = { { 0, 300 }, { 1, 300 } } }, data.values)
  end)

  it("writes the summary as JSON, with VWAP, volatility and spread on the one-second grid", function()
    local d = tmpdir()
    local r = host("-q --clock virtual --seed 3 -d 4 --set tape.label=x --summary \"$D/s.json\" " .. F
      .. "tape.lua", d)
    assert.are.equal(0, r.status)
    local text = slurp(d .. "/s.json")
    local j = cjson.decode(text)
    os.execute("rm -rf '" .. d .. "'")
    -- No logger: an empty list, not an empty object.
    assert.matches('"loggers":[],', text, 1, true)
    -- The fields a study's report may name are these (asx-sweep checks
    -- them before it runs anything).
    local keys, fields = {}, {}
    for k in pairs(j) do keys[#keys + 1] = k end
    for k in pairs(require("asx.summary_json").FIELDS) do fields[#fields + 1] = k end
    table.sort(keys)
    table.sort(fields)
    assert.are.same(fields, keys)
    assert.is_true(j.wall_time >= 0)
    j.wall_time = nil
    -- Seconds 1 to 4 saw the last prices 10, 11, 12, 12 and a bid of 8 under
    -- an ask of 14; second 0 had neither a trade nor a quote yet.
    local r1, r2 = math.log(11 / 10), math.log(12 / 11)
    local m = (r1 + r2) / 3
    local sd = math.sqrt(((r1 - m) ^ 2 + (r2 - m) ^ 2 + m ^ 2) / 2)
    assert.are.equal(("%.12g"):format(sd), ("%.12g"):format(j.volatility))
    j.volatility = nil
    assert.are.same({
      seed = 3, clock = "virtual", duration = 4, session_time = 4, stopped_by = cjson.null,
      parameters = { ["tape.label"] = "x" },
      orders = 8, trades = 3, volume = 4, open = 10, high = 12, low = 10, close = 12,
      vwap = 11.25, mean_spread = 6,
      agents = { tape = { agents = 2, running = 2, finished = 0, failed = 0 } },
      value = { tape = { mean = 1120, median = 1120, min = 1117, max = 1123, start = 1120 } },
      loggers = {}, status = 0,
    }, j)
  end)

  it("writes numeric parameters exactly, in the fewest digits that read back the same", function()
    local d = tmpdir()
    local r = host("-q --clock virtual --seed 3 -d 1 --set momentum.threshold=0.30000000000000004 "
      .. "--set momentum.window=7 --summary \"$D/s.json\" strategies/momentum.lua", d)
    local text = slurp(d .. "/s.json")
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal(0, r.status, r.stderr)
    assert.matches('"parameters":{"momentum.threshold":0.30000000000000004,"momentum.window":7}', text, 1, true)
    assert.are.same({ ["momentum.threshold"] = 0.1 + 0.2, ["momentum.window"] = 7 }, cjson.decode(text).parameters)
  end)

  it("writes an integer parameter past 2^53 in all its digits, as it was given", function()
    -- It was 1.152921504606847e+18, which --set would refuse as not exact.
    local d = tmpdir()
    local r = host("-q --clock virtual --seed 3 -d 1 --set momentum.threshold=1152921504606846976 "
      .. "--summary \"$D/s.json\" strategies/momentum.lua", d)
    local text = slurp(d .. "/s.json")
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal(0, r.status, r.stderr)
    assert.matches('"parameters":{"momentum.threshold":1152921504606846976}', text, 1, true)
  end)

  it("takes an integer written in its double's fewest digits as that double, as a fraction is", function()
    -- 1e23 is what the summary writes for the double nearest 10^23; an
    -- integer that does not read back as written (9007199254740993) exits 2.
    local d = tmpdir()
    local r = host("-q --clock virtual --seed 3 -d 1 --set momentum.threshold=1e23 "
      .. "--set momentum.window=100000000000000000000000 --summary \"$D/s.json\" strategies/momentum.lua", d)
    local text = slurp(d .. "/s.json")
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal(0, r.status, r.stderr)
    assert.matches('"parameters":{"momentum.threshold":1e+23,"momentum.window":1e+23}', text, 1, true)
  end)

  it("writes every number exactly: prices, volumes and values past 14 digits, and fractions", function()
    -- lua-cjson writes at most 14 significant digits: a price of 15 read
    -- back as another price, and a VWAP of a price and a half as a price.
    local d = tmpdir()
    local r = host("-q --clock virtual --seed 3 -d 2 --summary \"$D/s.json\" " .. F .. "big_prices.lua", d)
    local text = slurp(d .. "/s.json")
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal(0, r.status, r.stderr)
    assert.matches('"vwap":123456789012345.5,', text, 1, true)
    assert.matches('"value":{"big":{"max":1372813484867317,"mean":1372813484867316,"median":1372813484867316,'
      .. '"min":1372813484867315,"start":1372813484867316}}', text, 1, true)
    local j = cjson.decode(text)
    j.wall_time = nil
    assert.are.same({
      seed = 3, clock = "virtual", duration = 2, session_time = 1, stopped_by = cjson.null,
      parameters = {}, orders = 3, trades = 2, volume = 2,
      open = 123456789012345, high = 123456789012346, low = 123456789012345, close = 123456789012346,
      vwap = 123456789012345.5, volatility = cjson.null, mean_spread = cjson.null,
      agents = { big = { agents = 2, running = 0, finished = 2, failed = 0 } },
      value = { big = { mean = 1372813484867316, median = 1372813484867316, min = 1372813484867315,
        max = 1372813484867317, start = 1372813484867316 } },
      loggers = {}, status = 0,
    }, j)
  end)

  it("prints whole prices and values from 1e15 up in all their digits, as --summary's JSON writes them", function()
    -- They were printed with %.2f (1000000000000000.00, a best value past
    -- 2^53 as 14503599627370508.00); the mean and start keep two decimals.
    local d = tmpdir()
    local r = host("-q --clock virtual --seed 3 -d 2 --set big.price=1000000000000000 --set big.money=4503599627370496 "
      .. "--set big.stocks=10 --summary \"$D/s.json\" " .. F .. "big_prices.lua", d)
    local j = cjson.decode(slurp(d .. "/s.json"))
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal(0, r.status, r.stderr)
    local out = without_wall(r.stdout)
    assert.are.equal("open/high/low/close: 1000000000000000/1000000000000001/1000000000000000/1000000000000001",
      out[8])
    assert.are.equal("value big: mean 14503599627370506.00, best 14503599627370508, start 14503599627370506.00",
      out[9])
    assert.are.equal(14503599627370508, j.value.big.max)
  end)

  it("matches the printed summary, and changes no event of the run", function()
    local d = tmpdir()
    local args = "-q --clock virtual --seed 11 -d 20 strategies/random_trader.lua:40 strategies/market_maker.lua:3"
    local plain = host(args .. ' --log "$D/a.csv"', d)
    local r = host(args .. ' --log "$D/b.csv" --summary "$D/s.json"', d)
    assert.are.equal(0, r.status)
    assert.are.equal(slurp(d .. "/a.csv"), slurp(d .. "/b.csv"))
    assert.are.same(without_wall((plain.stdout:gsub("a%.csv", "b.csv"))), without_wall(r.stdout))
    local j = cjson.decode(slurp(d .. "/s.json"))
    os.execute("rm -rf '" .. d .. "'")
    local function n(v) return v % 1 == 0 and ("%d"):format(v) or ("%.2f"):format(v) end
    local expected = {
      "seed: " .. j.seed, "clock: " .. j.clock, ("session time: %.3f s"):format(j.session_time),
    }
    for _, name in ipairs({ "random_trader", "market_maker" }) do
      local a = j.agents[name]
      expected[#expected + 1] = ("agents %s: %d (%d running, %d finished, %d failed)"):format(name, a.agents,
        a.running, a.finished, a.failed)
    end
    expected[#expected + 1] = "orders: " .. j.orders
    expected[#expected + 1] = "trades: " .. j.trades
    expected[#expected + 1] = "volume: " .. j.volume
    expected[#expected + 1] = ("open/high/low/close: %s/%s/%s/%s"):format(n(j.open), n(j.high), n(j.low), n(j.close))
    for _, name in ipairs({ "random_trader", "market_maker" }) do
      local v = j.value[name]
      expected[#expected + 1] = ("value %s: mean %.2f, best %s, start %.2f"):format(name, v.mean, n(v.max), v.start)
    end
    expected[#expected + 1] = ("csv: %d rows written to %s/b.csv"):format(j.trades, d)
    assert.are.same(expected, without_wall(r.stdout))
    assert.is_true(j.trades > 100)
    assert.is_true(j.low <= j.vwap and j.vwap <= j.high)
  end)

  it("writes into a pipe at its path rather than replace it", function()
    local d = tmpdir()
    local r = sh('mkfifo "$D/p" && { timeout 30 cat "$D/p" > "$D/got" & } && "$HOST" -q --clock virtual '
      .. '--seed 3 -d 2 --summary "$D/p" ' .. F .. 'pair.lua && wait && test -p "$D/p" && echo still a pipe', d)
    local got = slurp(d .. "/got")
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal(0, r.status)
    assert.are.equal("still a pipe", run.lines(r.stdout)[#run.lines(r.stdout)])
    assert.are.equal(8, cjson.decode(got).orders)
  end)

  it("exits 2 before running for a directory at the path, empty or not, and leaves it", function()
    -- It ran the session, then failed to write (status 1); an empty
    -- directory was removed by the check that clears an earlier run's file.
    local d = tmpdir()
    local r = sh('mkdir "$D/empty" "$D/full" && touch "$D/full/x" && for p in empty full; do "$HOST" -q '
      .. '--clock virtual -d 1 --summary "$D/$p" ' .. F .. 'tape.lua; echo "status $?"; done; '
      .. 'test -d "$D/empty" && test -f "$D/full/x" && echo both there', d)
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal("status 2\nstatus 2\nboth there\n", r.stdout)
    assert.are.equal(("asx-host: --summary: cannot write '%s/empty': Is a directory\n%s"
      .. "asx-host: --summary: cannot write '%s/full': Is a directory\n%s"):format(d, USAGE, d, USAGE), r.stderr)
  end)

  it("exits 2 and leaves the file as it was when an output is a strategy's or a logger's file", function()
    -- The page, the summary or the rows replaced the user's code: a file
    -- name forgotten after --summary makes the strategy the output.
    local d = tmpdir()
    assert(os.execute("cp " .. F .. "tape.lua '" .. d .. "/mine.lua' && echo 'return {}' >'" .. d .. "/lg.lua'"))
    local code = slurp(d .. "/mine.lua")
    local cases = {
      { "--summary mine.lua mine.lua", "--summary: 'mine.lua' is the strategy file 'mine.lua'" },
      { "--report ./mine.lua mine.lua:2", "--report: './mine.lua' is the strategy file 'mine.lua'" },
      { "--logger lg.lua --summary lg.lua mine.lua", "--summary: 'lg.lua' is the --logger file 'lg.lua'" },
    }
    for _, c in ipairs(cases) do
      local r = sh('cd "$D" && "$HOST" -q --clock virtual -d 1 ' .. c[1], d)
      assert.are.equal(2, r.status, c[1])
      assert.are.equal("asx-host: " .. c[2] .. "\n" .. USAGE, r.stderr)
    end
    local kept, logger = slurp(d .. "/mine.lua"), slurp(d .. "/lg.lua")
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal(code, kept)
    assert.are.equal("return {}\n", logger)
  end)

  it("exits 2 before running when the file cannot be written", function()
    local r = host("-q --clock virtual -d 1 --summary /nonexistent/s.json " .. F .. "tape.lua")
    assert.are.equal(2, r.status)
    assert.are.equal("asx-host: --summary: cannot write '/nonexistent/s.json': No such file or directory\n"
      .. USAGE, r.stderr)
  end)

  it("names the temporary file it could not make beside a file that exists, with that call's reason", function()
    -- /proc/version exists, but /proc takes no new file: the reason of
    -- creating /proc/version.tmp was given as /proc/version's own, which
    -- is there ("No such file or directory").
    local r = host("-q --clock virtual -d 1 --summary /proc/version " .. F .. "tape.lua")
    assert.are.equal(2, r.status)
    assert.are.equal("asx-host: --summary: cannot write '/proc/version': cannot create '/proc/version.tmp': "
      .. "No such file or directory\n" .. USAGE, r.stderr)
  end)
end)
