-- asx-host's logging flags: --log FILE.csv|FILE.jsonl, --logger FILE.lua and
-- --influx URL, and what a host does with the loggers they open.
local check = require("asx.check")
local terminal = require("asx.terminal")
local error_text = check.error_text
local event = require("asx.event")
local file = require("asx.loggers.file")
local influxdb = require("asx.loggers.influxdb")

local mask_url, split_userinfo, percent_decode =
  influxdb.mask_url, influxdb.split_userinfo, influxdb.percent_decode

local M = {}

-- Parses --influx URL: http://HOST:PORT/?db=NAME (1.x; NAME defaults to
-- influxdb_exchange) or http://HOST:PORT/?org=ORG&bucket=BUCKET (2.x, with
-- the token from ASX_INFLUX_TOKEN). Returns the options for influxdb, or
-- nil, err.
function M.parse_influx_url(url, getenv)
  getenv = getenv or os.getenv
  local shown = type(url) == "string" and mask_url(url) or tostring(url)
  local bad = ("malformed URL '%s' (expected http://HOST:PORT/?db=NAME or "
    .. "http://HOST:PORT/?org=ORG&bucket=BUCKET)"):format(shown)
  if type(url) ~= "string" then return nil, bad end
  local bare, user, password = split_userinfo(url)
  local scheme, hostport, path, query = bare:match("^(https?)://([^/?#]+)([^?#]*)%??([^#]*)$")
  if not scheme then return nil, bad end
  local host, port = hostport:match("^(.-):(%d+)$")
  if hostport:find(":", 1, true) and not host then return nil, bad end
  if port and (tonumber(port) < 1 or tonumber(port) > 65535) then return nil, bad end
  if (host or hostport) == "" then return nil, bad end
  local params = {}
  for pair in query:gmatch("[^&]+") do
    local k, v = pair:match("^([^=]+)=(.*)$")
    if not k then return nil, bad end
    params[k] = percent_decode(v)
  end
  for k in pairs(params) do
    if k ~= "db" and k ~= "org" and k ~= "bucket" and k ~= "u" and k ~= "p" then
      return nil, ("unknown parameter '%s' in URL '%s' (expected db, or org and bucket)"):format(k, shown)
    end
  end
  local o = { url = scheme .. "://" .. hostport .. path:gsub("/+$", "") }
  if params.org or params.bucket then
    if not (params.org and params.bucket) or params.org == "" or params.bucket == "" then
      return nil, ("URL '%s' needs both org and bucket for InfluxDB 2.x"):format(shown)
    end
    if params.db then return nil, ("URL '%s' has db (1.x) and org/bucket (2.x)"):format(shown) end
    if user or params.u or params.p then
      return nil, ("URL '%s' has a user and password (1.x) and org/bucket (2.x, which takes "
        .. "the token from ASX_INFLUX_TOKEN)"):format(shown)
    end
    local token = getenv("ASX_INFLUX_TOKEN")
    if not token or token == "" then
      return nil, "ASX_INFLUX_TOKEN is not set (InfluxDB 2.x needs a token)"
    end
    o.org, o.bucket, o.token = params.org, params.bucket, token
  else
    if params.db == "" then return nil, ("empty db in URL '%s'"):format(shown) end
    o.db = params.db or "influxdb_exchange"
    o.user, o.password = params.u or user, params.p or password
  end
  -- Decoded, they may hold any byte (%22, %0A, %00).
  for _, k in ipairs({ "db", "org", "bucket", "user", "password" }) do
    local why = o[k] and influxdb.option_error(k, o[k])
    if why then return nil, ("%s, in URL '%s'"):format(why, shown) end
  end
  return o
end

-- The file each logger of --logger came from, so that a logger that fails
-- can be named by it.
local sources = setmetatable({}, { __mode = "k" })

-- Only asx's own loggers are handed the book's records (consume_events), so
-- a logger of one's own needs send_event.
local function is_logger(L)
  return (type(L) == "table" or type(L) == "userdata") and type(L.send_event) == "function"
end

local function load_logger_file(path)
  local chunk, err = loadfile(path)
  if not chunk then return nil, err end
  setfenv(chunk, require("asx.sandbox").environment())
  local ok, L = pcall(chunk)
  if not ok then return nil, ("%s: %s"):format(path, tostring(L)) end
  -- The object is the user's: even looking at its fields may raise.
  local looked, good = pcall(is_logger, L)
  if not (looked and good) then
    return nil, ("%s does not return a logger (an object with a send_event method)"):format(path)
  end
  sources[L] = path
  return L
end

-- A logger's name for messages: "logger FILE.lua" for one of --logger, the
-- built-in loggers' own (csv logger(trades.csv)), else what tostring says.
function M.describe(L)
  if sources[L] then return "logger " .. sources[L] end
  local ok, s = pcall(tostring, L)
  if ok and type(s) == "string" then
    return s:find("logger", 1, true) and s or "logger " .. s
  end
  return "logger (" .. type(L) .. ")"
end

-- The loggers of asx-host's flags: kind is "log" (--log FILE.csv|FILE.jsonl),
-- "logger" (--logger FILE.lua) or "influx" (--influx URL). Returns a logger,
-- or nil and a one-line reason naming the flag. Nothing is sent anywhere
-- yet, so a bad value is found before a session runs.
function M.from_cli(kind, value, opts)
  if type(value) ~= "string" or value == "" then
    return nil, ("--%s: a value is needed"):format(tostring(kind))
  end
  opts = opts or {}
  if kind == "log" then
    local ext = value:match("%.([^./]+)$")
    ext = ext and ext:lower()
    if ext == "csv" then
      local L, err = file.csv(value, { events = event.TRADE })
      if not L then return nil, "--log: " .. err end
      return L
    elseif ext == "jsonl" then
      local L, err = file.jsonl(value)
      if not L then return nil, "--log: " .. err end
      return L
    end
    return nil, ("--log: unknown extension in '%s' (expected .csv or .jsonl)"):format(value)
  elseif kind == "logger" then
    local L, err = load_logger_file(value)
    if not L then return nil, "--logger: " .. err end
    return L
  elseif kind == "influx" then
    local o, err = M.parse_influx_url(value, opts.getenv)
    if not o then return nil, "--influx: " .. err end
    for k, v in pairs(opts) do
      if k ~= "getenv" then o[k] = v end
    end
    local L, err2 = influxdb.influxdb(o)
    if not L then return nil, "--influx: " .. err2 end
    return L
  end
  check.bad_argument(1, "from_cli", "'log', 'logger' or 'influx' expected", tostring(kind))
end

-- asx-host's logging flags, by spelling, and the kind from_cli takes.
M.CLI_FLAGS = { ["--log"] = "log", ["--logger"] = "logger", ["--influx"] = "influx" }

-- Opens the loggers of a command line: specs is an array of { kind, value }
-- in the order given. Returns the array of loggers, or nil and the first
-- one-line reason (the loggers opened before it are closed again).
function M.open_cli(specs)
  -- One file named twice is refused before any file is opened: opening the
  -- first would already have emptied it.
  local logs = {}
  for _, spec in ipairs(specs or {}) do
    if spec[1] == "log" and type(spec[2]) == "string" then
      for _, earlier in ipairs(logs) do
        if file.same_file(earlier, spec[2]) then
          return nil, "--log: " .. file.already_open(spec[2], earlier)
        end
      end
      logs[#logs + 1] = spec[2]
    end
  end
  local out = {}
  for _, spec in ipairs(specs or {}) do
    local L, err = M.from_cli(spec[1], spec[2])
    if not L then
      for _, prev in ipairs(out) do
        if type(prev.close) == "function" then pcall(prev.close, prev) end
      end
      return nil, err
    end
    out[#out + 1] = L
  end
  return out
end

-- Ends the loggers of a run (after the session stopped, normally or by a
-- signal): flushes and closes each that has close, once. Returns true, or
-- nil and every error on one line, joined by "; ".
-- L:name(...) when L has such a method; true when it has none. Called
-- protected: a user's logger may raise even where its methods are looked up.
local function call_method(L, name)
  local f = L[name]
  if type(f) ~= "function" then return true end
  return f(L)
end

function M.finish(list)
  local errs = {}
  for _, L in ipairs(list or {}) do
    -- close may raise (anything), return nil, err, or return nothing (a user's).
    local ok, a, b = pcall(call_method, L, "close")
    local err
    if not ok then
      err = error_text(a)
    elseif a == nil and b ~= nil then
      err = error_text(b)
    end
    -- A --logger file's error is named by its file, as its other failures
    -- are; the built-in loggers' own errors name their files already.
    if err and (not ok or sources[L]) then err = ("%s failed in close: %s"):format(M.describe(L), err) end
    if err then errs[#errs + 1] = err end
  end
  if errs[1] then return nil, table.concat(errs, "; ") end
  return true
end

-- Each logger's counts, for --summary's JSON: { logger = its name
-- (describe), written =, lost = } (the rows, lines or points that did not
-- reach their file or server: stats().dropped), or nil for a count that a
-- logger of one's own does not keep. Called once the loggers are closed.
function M.counts(list)
  local out = {}
  for _, L in ipairs(list or {}) do
    local ok, st = pcall(call_method, L, "stats")
    local function count(k)
      local ok2, v = pcall(function() return st[k] end)
      if ok2 and type(v) == "number" and v >= 0 and v % 1 == 0 then return v end
    end
    local c = { logger = M.describe(L) }
    if ok and type(st) == "table" then c.written, c.lost = count("written"), count("dropped") end
    out[#out + 1] = c
  end
  return out
end

-- Writes one line per logger that has report() to out, for a summary. A
-- --logger's line is text its code chose, escaped as the summary's other
-- lines are (asx.terminal): it reached the terminal raw, and could clear
-- the screen under the summary.
function M.report(list, out)
  for _, L in ipairs(list or {}) do
    local ok, line = pcall(call_method, L, "report")
    if ok and type(line) == "string" then out:write(terminal.text(line), "\n") end
  end
end

return M
