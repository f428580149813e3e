-- Benchmarks of the loggers, run by bench/run.sh from the
-- repository root: asx-host's host.orders_per_sec run (10,000 random traders,
-- virtual clock, 300 session seconds) without loggers, with the CSV logger
-- (--log FILE.csv, the trades), with the report page (--report FILE.html)
-- and with the InfluxDB logger (--influx, to an
-- influxd this script starts on a free loopback port and stops by pid, and
-- to a port where nothing listens, which isolates the logger's own cost).
-- Each figure is the median of three runs; prints `name: value` lines.
--
--   luajit bench/loggers_bench.lua BUILD_DIR
package.path = "spec/?.lua;" .. package.path
local influxd = require("helpers.influxd")
local net = require("helpers.net")
local run = require("helpers.run")

local build = arg[1] or "build"
local host = build:sub(1, 1) == "/" and build .. "/asx-host" or "./" .. build .. "/asx-host"
local RUN = host .. " -q --clock virtual --seed 1 -d 300 strategies/random_trader.lua:10000"
local RUNS = 3

local function median(xs)
  table.sort(xs)
  return xs[math.floor((#xs + 1) / 2)]
end

-- The orders per wall second of RUNS runs with the given extra flags, and
-- the last run's output.
local function rate(flags)
  local xs, out = {}, nil
  for i = 1, RUNS do
    out = run.output(RUN .. " " .. flags .. " 2>&1")
    xs[i] = tonumber(out:match("orders per wall second: (%d+)"))
    assert(xs[i], out)
  end
  return median(xs), out
end

local tmp = run.tmpdir()

local base = rate("")
print(("host.orders_per_sec.no_logger: %d"):format(base))

local csv, csv_out = rate(("--log %s/trades.csv"):format(tmp))
print(("host.orders_per_sec.csv_logger: %d"):format(csv))
print(("host.csv_logger_ratio: %.2f"):format(csv / base))
print(("host.csv_logger_rows: %s"):format(csv_out:match("csv: (%d+) rows") or "?"))

-- The report page (--report FILE.html): candles folded from the book's
-- events as they happen, and a sample of the market each session second.
local rep = rate(("--report %s/report.html"):format(tmp))
print(("host.orders_per_sec.report: %d"):format(rep))
print(("host.report_ratio: %.2f"):format(rep / base))
-- What the report costs the session: at most 0.10 is the aim.
print(("host.report_cost: %.2f"):format(1 - rep / base))
local page = io.open(tmp .. "/report.html", "rb")
print(("host.report_bytes: %d"):format(page and page:seek("end") or -1))
if page then page:close() end

-- The InfluxDB logger's own cost, without a server competing for the two
-- cores: nothing listens on the port, so the points are formatted and
-- queued, the requests fail fast, and the bounded queue drops the rest.
local down = rate(("--influx 'http://127.0.0.1:%d/?db=bench'"):format(net.free_port()))
print(("host.orders_per_sec.influx_logger_no_server: %d"):format(down))
print(("host.influx_logger_no_server_ratio: %.2f"):format(down / base))

-- influxd, as the specs run it, but at the lowest CPU priority: on this
-- two-core machine a server at full speed takes a core from the host it
-- serves, which on a real deployment it would not share. It still writes
-- what it can; the points it cannot take in time are dropped and counted.
local ok, srv = pcall(influxd.start, { nice = true })
if ok then
  local influx, out = rate(("--influx '%s/?db=bench'"):format(srv.url))
  print(("host.orders_per_sec.influx_logger: %d"):format(influx))
  print(("host.influx_logger_ratio: %.2f"):format(influx / base))
  local written, dropped = out:match("influxdb: (%d+) points written, (%d+) dropped")
  print(("host.influx_points_written: %s"):format(written or "?"))
  print(("host.influx_points_dropped: %s"):format(dropped or "?"))
  influxd.stop(srv)
else
  print("host.orders_per_sec.influx_logger: influxd did not start")
end
os.execute("rm -rf " .. tmp)
