-- asx-host's command line: its usage and help texts, and the parsing of
-- argv into options and strategy files (lua/asx/host.lua runs them). A bad
-- command line raises usage.fail (lua/asx/usage.lua).
local check = require("asx.check")
local cli_number = require("asx.cli_number")
local loggers = require("asx.loggers")
local params = require("asx.params")

local M = {}

local USAGE = "usage: asx-host [options] FILE.lua[:COUNT]..."
local HELP = [[
Runs trading strategies as agents on one exchange and prints a summary.
Each FILE.lua returns a Trader subclass (asx.Trader:extend("name")) with a
cycle(self) method; COUNT agents of it run (default: -n, else the class's
`agents` field, else 100).

options:
  -n, --agents N         agents per strategy without :COUNT
      --money M          starting money of each agent (default: the
                         class's `money`, else 300)
      --stocks S         starting stocks of each agent, in each instrument
                         (default: the class's `stocks`, else 10)
      --instruments A,B  the instruments traded, the first the default
                         (default: one, STOCK)
  -d, --duration SECONDS session time to run (default: until stopped)
      --clock real|virtual
                         real: sleeping takes wall time (default);
                         virtual: discrete events, as fast as possible
      --seed N           seed of every random generator (default: fresh,
                         printed in the summary)
      --strict           end the session on the first agent or logger error,
                         status 1
      --stuck-warning SECONDS
                         warn about an agent that runs that long without
                         yielding, naming its file:line (default 5; 0: never)
      --latency SECONDS  orders and cancels reach the book that long after
                         they are sent (default 0; a strategy's `latency`
                         field wins)
  -q, --quiet            no progress line and no start message
      --log FILE.csv     write the trades to FILE.csv (header, one row each);
      --log FILE.jsonl   or every event to FILE.jsonl; repeatable
      --logger FILE.lua  send every event to the logger FILE.lua returns
      --influx URL       send every event to InfluxDB: http://HOST:PORT/?db=NAME
                         (1.x) or http://HOST:PORT/?org=ORG&bucket=BUCKET (2.x,
                         token in ASX_INFLUX_TOKEN)
      --set CLASS.FIELD=VALUE
                         set a strategy class's field before its agents are
                         made (a number, true/false or a string); repeatable
      --summary FILE.json
                         also write the summary, and more figures, as JSON
      --report FILE.html write a report page: candles, depth, spread, values
                         by strategy and the summary (opens offline)
      --http [HOST:]PORT serve the live page while the session runs (default
                         host 127.0.0.1); read-only unless --http-control
      --http-control     let the live page pause, resume, step and speed up
  -i, --interactive      a Lua prompt on the running session (FILEs optional;
                         the virtual clock starts paused); type help() there
  -h, --help             this help
      --version          the version

Ctrl-C (or SIGTERM, SIGHUP) stops the session and prints the summary; a second
Ctrl-C quits at once.]]

-- A bad command line: main prints it with the usage and returns 2.
local usage = require("asx.usage")
local usage_error = usage.fail

-- A number option's value, read as --set reads its VALUE (asx.cli_number),
-- so that the options agree on what is a number (0x10 is 16 in both) and a
-- text that reads as another number than the one written (1e-400, 1e999,
-- nan, 9007199254740993) is refused in --set's words, naming the option.
local function number(flag, v, expected, fits)
  local n, err = cli_number.option(flag, v, expected, fits)
  if n == nil then usage_error("%s", err) end
  return n
end

-- Options that take a value, by every spelling, and the name they set.
local VALUED = {
  ["-n"] = "agents", ["--agents"] = "agents", ["--money"] = "money", ["--stocks"] = "stocks",
  ["-d"] = "duration", ["--duration"] = "duration", ["--clock"] = "clock", ["--seed"] = "seed",
  ["--summary"] = "summary", ["--set"] = "set", ["--report"] = "report", ["--http"] = "http",
  ["--stuck-warning"] = "stuck_warning", ["--latency"] = "latency", ["--instruments"] = "instruments",
}
local FLAGS = {
  ["--strict"] = "strict", ["-q"] = "quiet", ["--quiet"] = "quiet", ["-h"] = "help",
  ["--help"] = "help", ["--version"] = "version",
  -- -i runs the session with a Lua prompt, lua/asx/repl/.
  ["-i"] = "interactive", ["--interactive"] = "interactive",
  ["--http-control"] = "http_control",
}

local function check_value(name, flag, v)
  if name == "agents" then
    return number(flag, v, check.integer("positive"), check.is_count)
  elseif name == "money" or name == "stocks" or name == "seed" then
    return number(flag, v, check.integer("non-negative"), check.is_balance)
  elseif name == "duration" or name == "stuck_warning" or name == "latency" then
    local n, err = cli_number.seconds(flag, v, "non-negative")
    if n == nil then usage_error("%s", err) end
    return n
  elseif name == "clock" then
    if v ~= "real" and v ~= "virtual" then
      usage_error("%s: 'real' or 'virtual' expected, got '%s'", flag, v)
    end
    return v
  elseif name == "http" then
    local host, port = require("asx.http").parse_address(v)
    if not host then usage_error("%s: %s", flag, port) end
    return { host = host, port = port }
  elseif name == "instruments" then
    local list, seen = {}, {}
    for name_ in (v .. ","):gmatch("([^,]*),") do
      if not name_:find("^[%w_.-]+$") or #name_ > 32 then
        usage_error("%s: names of 1 to 32 letters, digits, '_', '.' or '-', comma-separated expected, got '%s'",
          flag, v)
      end
      if seen[name_] then usage_error("%s: '%s' is named twice", flag, name_) end
      seen[name_] = true
      list[#list + 1] = name_
    end
    return list
  elseif name == "summary" or name == "report" then
    if v == "" then usage_error("%s: file name expected", flag) end
    return v
  end
end

-- Parses argv (arg[1..n]) into options and a list of { path, count }.
function M.parse(argv)
  local opts, files = { clock = "real" }, {}
  usage.each_option(argv, {
    -- -n5, -d10: a short option glued to its value; after --, only files.
    glued = { ["-n"] = true, ["-d"] = true }, dashdash = true,
    valued = setmetatable({}, { __index = function(_, flag) return loggers.CLI_FLAGS[flag] or VALUED[flag] end }),
    flags = FLAGS,
    on_value = function(flag, value)
      -- The loggers' flags (--log, --logger, --influx) repeat and keep their order.
      if loggers.CLI_FLAGS[flag] then
        opts.loggers = opts.loggers or {}
        opts.loggers[#opts.loggers + 1] = { loggers.CLI_FLAGS[flag], value }
      elseif VALUED[flag] == "set" then
        local setting, err = params.parse(value)
        if not setting then usage_error("--set %s", err) end
        opts.sets = opts.sets or {}
        opts.sets[#opts.sets + 1] = setting
      else
        opts[VALUED[flag]] = check_value(VALUED[flag], flag, value)
      end
    end,
    on_flag = function(flag) opts[FLAGS[flag]] = true end,
    on_word = function(a)
      local path, count = a, nil
      local f = io.open(a, "r")
      if f then
        f:close()
      else
        local p, c = a:match("^(.*):([^:]*)$")
        if p then
          path = p
          local n, why = cli_number.read(c)
          count = check.is_count(n) and n or usage_error("bad agent count in '%s' (%s)", a,
            why or ("%s expected, got '%s'"):format(check.integer("positive"), c))
        end
      end
      files[#files + 1] = { path = path, count = count, arg = a }
    end,
  })
  return opts, files
end

M.USAGE, M.HELP = USAGE, HELP
return M
