-- asx-host with loggers, end to end: --log FILE.csv and FILE.jsonl give
-- files that agree with the summary, two runs with one seed give the same
-- files, a SIGINT leaves complete files, and bad values exit 2 first.
local json = require("dkjson")
local run = require("helpers.run")

local USAGE = run.USAGE
local lines, sh, slurp, tmpdir = run.lines, run.sh, run.slurp, run.tmpdir

-- The value of a "key: value" summary line.
local function summary_value(stdout, key)
  return stdout:match("\n" .. key .. ": ([^\n]*)") or stdout:match("^" .. key .. ": ([^\n]*)")
end

-- Checks that a CSV file of trades is whole: a header, rows of 9 fields
-- that end in a newline; returns the row count and the volume.
local function check_trades_csv(text)
  assert.are.equal("\n", text:sub(-1))
  local rows, volume = 0, 0
  for i, l in ipairs(lines(text)) do
    if i == 1 then
      assert.are.equal("time,session,price,amount,buyer,seller,buy_order,sell_order,aggressor,instrument", l)
    else
      local amount = l:match("^[%d.e+-]+,[^,]*,%d+,(%d+),%d+,%d+,%d+,%d+,[bs][ue][yl]l?,STOCK$")
      assert(amount, "not a trade row: " .. l)
      rows, volume = rows + 1, volume + tonumber(amount)
    end
  end
  return rows, volume
end

-- Checks that every line of a JSONL file is an object; returns the count
-- of each event type.
local function check_jsonl(text)
  assert.are.equal("\n", text:sub(-1))
  local n = {}
  for _, l in ipairs(lines(text)) do
    local e = json.decode(l)
    assert(type(e) == "table" and type(e.type) == "string", "not an event: " .. l)
    n[e.type] = (n[e.type] or 0) + 1
  end
  return n
end

describe("asx-host --log", function()
  it("writes the trades to CSV and every event to JSONL, as the summary counts them", function()
    local dir = tmpdir()
    local r = sh('"$HOST" -q --clock virtual --seed 11 -d 30 strategies/random_trader.lua:40 '
      .. '--log "$D/t.csv" --log "$D/e.jsonl"', dir)
    assert.are.equal(0, r.status)
    assert.are.equal("", r.stderr)
    local trades, volume = tonumber(summary_value(r.stdout, "trades")), tonumber(summary_value(r.stdout, "volume"))
    assert.is_true(trades > 100)
    local rows, vol = check_trades_csv(slurp(dir .. "/t.csv"))
    assert.are.same({ trades, volume }, { rows, vol })
    local n = check_jsonl(slurp(dir .. "/e.jsonl"))
    assert.are.equal(trades, n.exchange)
    assert.are.equal(tonumber(summary_value(r.stdout, "orders")), n.order)
    local out = lines(r.stdout)
    assert.are.equal(("csv: %d rows written to %s/t.csv"):format(trades, dir), out[#out - 1])
    local total = 0
    for _, c in pairs(n) do total = total + c end
    assert.are.equal(("jsonl: %d lines written to %s/e.jsonl"):format(total, dir), out[#out])

    -- The same seed again: the same files, byte for byte.
    local first_csv, first_jsonl = slurp(dir .. "/t.csv"), slurp(dir .. "/e.jsonl")
    r = sh('"$HOST" -q --clock virtual --seed 11 -d 30 strategies/random_trader.lua:40 '
      .. '--log "$D/t.csv" --log "$D/e.jsonl"', dir)
    assert.are.equal(0, r.status)
    assert.are.equal(first_csv, slurp(dir .. "/t.csv"))
    assert.are.equal(first_jsonl, slurp(dir .. "/e.jsonl"))
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("leaves complete files when SIGINT stops the session", function()
    local dir = tmpdir()
    -- The host's first stderr line says the session starts; the signal
    -- goes after it, read through a FIFO: no sleep, no timing.
    local r = sh([[
mkfifo "$D/fifo"
"$HOST" --clock virtual --seed 3 strategies/random_trader.lua:200 --log "$D/t.csv" --log "$D/e.jsonl" \
  2>"$D/fifo" &
pid=$!
exec 3<"$D/fifo"
IFS= read -r line <&3
printf '%s\n' "$line" >&2
kill -INT $pid
cat <&3 >&2
wait $pid
]], dir)
    assert.are.equal(0, r.status)
    assert.are.equal("SIGINT", summary_value(r.stdout, "stopped by"))
    local trades = tonumber(summary_value(r.stdout, "trades"))
    local rows = check_trades_csv(slurp(dir .. "/t.csv"))
    assert.are.equal(trades, rows)
    local n = check_jsonl(slurp(dir .. "/e.jsonl"))
    assert.are.equal(trades, n.exchange or 0)
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("leaves complete files and a summary when SIGHUP stops the session (its terminal closed)", function()
    -- SIGHUP's default action ended asx-host with no summary, and the rows
    -- the files still held in memory lost.
    local dir = tmpdir()
    local r = sh([[
mkfifo "$D/fifo"
"$HOST" --clock virtual --seed 3 strategies/random_trader.lua:200 --log "$D/t.csv" --summary "$D/s.json" \
  --report "$D/r.html" 2>"$D/fifo" &
pid=$!
exec 3<"$D/fifo"
IFS= read -r line <&3
printf '%s\n' "$line" >&2
kill -HUP $pid
cat <&3 >&2
wait $pid
]], dir)
    assert.are.equal(0, r.status)
    assert.are.equal("asx-host: hangup, stopping (send it again to quit at once)\n",
      lines(r.stderr)[2] .. "\n")
    assert.are.equal("SIGHUP", summary_value(r.stdout, "stopped by"))
    assert.are.equal("SIGHUP", json.decode(slurp(dir .. "/s.json")).stopped_by)
    local page = slurp(dir .. "/r.html")
    local data = json.decode(page:match('<script type="application/json" id="asx%-data">(.-)</script>'))
    assert.are.equal("SIGHUP", data.session.stopped_by)
    local trades = tonumber(summary_value(r.stdout, "trades"))
    assert.are.equal(trades, check_trades_csv(slurp(dir .. "/t.csv")))
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("keeps ignoring SIGHUP under nohup", function()
    -- The hangup comes first and is ignored; the interrupt then stops the
    -- session (handled, the hangup would have stopped it, and the
    -- interrupt, a second signal, quit at once with status 130).
    local dir = tmpdir()
    local r = sh([[
mkfifo "$D/fifo"
trap '' HUP
"$HOST" --clock virtual --seed 3 strategies/random_trader.lua:200 2>"$D/fifo" &
pid=$!
exec 3<"$D/fifo"
IFS= read -r line <&3
kill -HUP $pid
kill -INT $pid
cat <&3 >&2
wait $pid
]], dir)
    assert.are.equal(0, r.status)
    assert.are.equal("SIGINT", summary_value(r.stdout, "stopped by"))
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("keeps its messages and summary out of the log files when stdout and stderr are closed", function()
    -- The first log file opened took the number of the closed stream, 2
    -- or 1, and the agent's error, or the summary, went into it.
    local dir = tmpdir()
    local args = '-q --clock virtual --seed 3 -d 5 spec/fixtures/hostile/fails_late.lua spec/fixtures/host/pair.lua '
    local r = sh('"$HOST" ' .. args .. '--log "$D/no_stderr.csv" >/dev/null 2>&- && "$HOST" ' .. args
      .. '--log "$D/no_stdout.csv" >&- 2>/dev/null && "$HOST" ' .. args .. '--log "$D/open.csv" >/dev/null 2>&1',
      dir)
    assert.are.equal(0, r.status)
    local want = slurp(dir .. "/open.csv")
    assert.are.equal("time,session,price,amount,buyer,seller,buy_order,sell_order,aggressor,instrument\n",
      lines(want)[1] .. "\n")
    assert.are.equal(want, slurp(dir .. "/no_stderr.csv"))
    assert.are.equal(want, slurp(dir .. "/no_stdout.csv"))
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("reports a log pipe whose reader left as a write error, and the session ends whole", function()
    -- The reader takes 10 bytes and leaves; the log is megabytes, far
    -- more than a pipe holds, so a later write finds no reader. That write
    -- raised SIGPIPE in the writer thread, which killed asx-host (status
    -- 141) with no summary and the other files' last lines lost.
    local dir = tmpdir()
    local r = sh([[
mkfifo "$D/p.csv"
head -c 10 "$D/p.csv" >/dev/null &
"$HOST" -q --clock virtual --seed 3 -d 300 strategies/random_trader.lua:100 --log "$D/p.csv" --log "$D/t.csv"
]], dir)
    -- The session ran whole; its log did not (the status of lost rows).
    assert.are.equal(3, r.status)
    -- Said when the session notices it (if it does before its end), and
    -- at the end.
    local err = ("cannot write '%s/p.csv': Broken pipe\n"):format(dir)
    assert.is_true(r.stderr == "asx-host: " .. err or r.stderr == "asx: log: " .. err .. "asx-host: " .. err)
    local trades = tonumber(summary_value(r.stdout, "trades"))
    local out = lines(r.stdout)
    local written, lost = out[#out - 1]:match("^csv: (%d+) rows written to .*/p%.csv, (%d+) lost$")
    assert.are.equal(trades, tonumber(written) + tonumber(lost))
    assert.are.equal(("csv: %d rows written to %s/t.csv"):format(trades, dir), out[#out])
    assert.are.equal(trades, check_trades_csv(slurp(dir .. "/t.csv")))
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("exits 3 when a log lost rows, and --summary's JSON counts each logger's", function()
    -- The run said so on stderr and in the printed summary, but exited 0,
    -- and its summary.json had no figure for it: a sweep took it as whole.
    -- t.csv is a full disk (/dev/full); e.jsonl takes every line.
    local dir = tmpdir()
    local r = sh('ln -s /dev/full "$D/t.csv" && "$HOST" -q --clock virtual --seed 3 -d 5 '
      .. 'spec/fixtures/host/pair.lua --log "$D/t.csv" --log "$D/e.jsonl" --summary "$D/s.json"', dir)
    local summary = json.decode(slurp(dir .. "/s.json"))
    os.execute("rm -rf '" .. dir .. "'")
    assert.are.equal(3, r.status)
    assert.are.equal(("asx-host: cannot write '%s/t.csv': No space left on device\n"):format(dir), r.stderr)
    local out = lines(r.stdout)
    assert.are.equal(("csv: 0 rows written to %s/t.csv, 4 lost"):format(dir), out[#out - 1])
    assert.are.same({
      { logger = ("csv logger(%s/t.csv)"):format(dir), written = 0, lost = 4, missed = 0 },
      { logger = ("jsonl logger(%s/e.jsonl)"):format(dir), written = 22, lost = 0, missed = 0 },
    }, summary.loggers)
    assert.are.equal(3, summary.status)
  end)

  it("keeps its exit status 0 with no rows lost, and --strict's 1 and os.exit's before 3", function()
    local dir = tmpdir()
    local r = sh('"$HOST" -q --clock virtual --seed 3 -d 5 spec/fixtures/host/pair.lua --log "$D/t.csv" '
      .. '--summary "$D/s.json"', dir)
    local summary = json.decode(slurp(dir .. "/s.json"))
    local strict = sh('ln -s /dev/full "$D/f.csv" && "$HOST" -q --strict --clock virtual --seed 3 -d 5 '
      .. 'spec/fixtures/hostile/fails_late.lua spec/fixtures/host/pair.lua --log "$D/f.csv"', dir)
    local exits = sh('"$HOST" -q --clock virtual --seed 3 -d 5 spec/fixtures/host/pair.lua --log "$D/f.csv" '
      .. '--logger spec/fixtures/hostile/exits.lua', dir)
    os.execute("rm -rf '" .. dir .. "'")
    assert.are.equal(0, r.status)
    assert.are.same({ { logger = ("csv logger(%s/t.csv)"):format(dir), written = 4, lost = 0, missed = 0 } }, summary.loggers)
    assert.are.equal(1, strict.status)
    assert.are.equal(5, exits.status)
  end)

  it("exits 2 with a one-line reason for a bad value, before anything runs", function()
    local dir = tmpdir()
    for _, case in ipairs({
      { "--log $D/x.txt", "--log: unknown extension in '$D/x.txt' (expected .csv or .jsonl)" },
      { "--log $D/no/x.csv", "--log: cannot open '$D/no/x.csv': No such file or directory" },
      { "--influx localhost:8086", "--influx: malformed URL 'localhost:8086' (expected http://HOST:PORT/?db=NAME "
        .. "or http://HOST:PORT/?org=ORG&bucket=BUCKET)" },
      { "--influx 'http://127.0.0.1:1/?org=o&bucket=b'",
        "--influx: ASX_INFLUX_TOKEN is not set (InfluxDB 2.x needs a token)" },
      { "--logger $D/none.lua", "--logger: cannot open $D/none.lua" },
    }) do
      local r = sh('unset ASX_INFLUX_TOKEN; "$HOST" -d 1 --clock virtual strategies/random_trader.lua:2 '
        .. case[1], dir)
      assert.are.equal(2, r.status)
      assert.are.equal("", r.stdout)
      local want = "asx-host: " .. case[2]:gsub("%$D", dir)
      assert.are.equal(want, r.stderr:sub(1, #want))
      assert.are.equal(USAGE, r.stderr:sub(-#USAGE))
    end
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("exits 2 for one file given twice, by whatever path", function()
    local dir = tmpdir()
    local r = sh('echo keep > "$D/a.csv" && ln -s a.csv "$D/sym.jsonl" && ln "$D/a.csv" "$D/hard.csv"', dir)
    assert.are.equal(0, r.status)
    local a = dir .. "/a.csv"
    for _, case in ipairs({
      { a, "already open for logging" },
      { dir .. "/./a.csv", "already open for logging as '" .. a .. "'" },
      { dir .. "/sym.jsonl", "already open for logging as '" .. a .. "'" },
      { dir .. "/hard.csv", "already open for logging as '" .. a .. "'" },
    }) do
      r = sh(('"$HOST" -d 1 --clock virtual strategies/random_trader.lua:2 --log "%s" --log "%s"')
        :format(a, case[1]), dir)
      assert.are.equal(2, r.status)
      assert.are.equal("", r.stdout)
      assert.are.equal(("asx-host: --log: cannot open '%s': %s"):format(case[1], case[2]), lines(r.stderr)[1])
      assert.are.equal(USAGE, r.stderr:sub(-#USAGE))
      -- Refused before any file was opened: the first is not emptied.
      local f = assert(io.open(a))
      assert.are.equal("keep\n", f:read("*a"))
      f:close()
    end
    -- A file that does not exist yet, named twice, is not created.
    r = sh('"$HOST" -d 1 --clock virtual strategies/random_trader.lua:2 --log "$D/x.csv" --log "$D/x.csv"', dir)
    assert.are.equal(2, r.status)
    assert.are.equal(("asx-host: --log: cannot open '%s/x.csv': already open for logging"):format(dir),
      lines(r.stderr)[1])
    assert.is_nil(io.open(dir .. "/x.csv"))
    r = sh('"$HOST" -d 1 --clock virtual strategies/random_trader.lua:2 --log "$D/new.jsonl" --log "$D/./new.jsonl"',
      dir)
    assert.are.equal(2, r.status)
    assert.are.equal(("asx-host: --log: cannot open '%s/./new.jsonl': already open for logging as '%s/new.jsonl'")
      :format(dir, dir), lines(r.stderr)[1])
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("sends every event to the user's logger from --logger FILE.lua", function()
    local dir = tmpdir()
    run.write(dir .. "/count.lua", [[
-- A user's logger: counts the trades and prints the count at close.
local L = { trades = 0 }
function L:send_event(event_type) if event_type == "exchange" then self.trades = self.trades + 1 end end
function L:close() io.stdout:write("my logger: ", self.trades, " trades\n") end
return L
]])
    local r = sh('"$HOST" -q --clock virtual --seed 2 -d 10 strategies/random_trader.lua:20 --logger "$D/count.lua"',
      dir)
    assert.are.equal(0, r.status)
    -- Closed once, before the summary.
    assert.are.equal("my logger: " .. summary_value(r.stdout, "trades") .. " trades", lines(r.stdout)[1])
    assert.is_nil(r.stdout:find("my logger", 2, true))
    os.execute("rm -rf '" .. dir .. "'")
  end)
end)
