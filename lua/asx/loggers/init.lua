-- Built-in loggers: CSV files, JSON-lines files and InfluxDB.
--
--   local loggers = require("asx.loggers")
--   local L = loggers.csv("trades.csv")                  -- the trades, one row each
--   local L = loggers.csv("run.csv", { events = "all" }) -- run-exchange.csv, run-order.csv, ...
--   local L = loggers.jsonl("events.jsonl")              -- every event, one JSON object a line
--   local L = loggers.influxdb({ url = "http://127.0.0.1:8086", db = "asx" })
--   local L = loggers.influxdb({ url = ..., org = "o", bucket = "b", token = "..." })
--   local L, err = loggers.from_cli("log", "trades.csv") -- what asx-host's flags call
--
-- Every logger has the generic method send_event(event_type, message) and the
-- fast one consume_events(ptr, n, exchange), which the exchange calls with
-- the book's own event records (const asx_event *) so that no Lua table is
-- built per event: the rows are formatted in C. Both paths write the same
-- text. flush() and close() return true or nil, err; stats() returns
-- { written =, dropped = }; report() returns a line for a summary.
--
-- Errors: a wrong argument raises, naming the function and the argument;
-- an outcome that can happen to correct code (a file that cannot be opened,
-- a URL that is not one) returns nil, err.
local common = require("asx.loggers.common")
local file = require("asx.loggers.file")
local influxdb = require("asx.loggers.influxdb")
local cli = require("asx.loggers.cli")

return {
  csv = file.csv,
  jsonl = file.jsonl,
  influxdb = influxdb.influxdb,
  mask_url = influxdb.mask_url,
  close_all = common.close_all,
  still_open = common.still_open,
  parse_influx_url = cli.parse_influx_url,
  describe = cli.describe,
  from_cli = cli.from_cli,
  CLI_FLAGS = cli.CLI_FLAGS,
  open_cli = cli.open_cli,
  finish = cli.finish,
  report = cli.report,
  counts = cli.counts,
}
