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
local ffi = require("ffi")
local F = require("asx.ffi")
local C = F.C

local M = {}

-- The fields of each event type, in the order files show them. Every event
-- also has time and session, first. Fields a message has beyond these come
-- after them, sorted, in JSON and InfluxDB (CSV keeps its columns).
local FIELDS = {
  exchange = { "price", "amount", "buyer", "seller", "buy_order", "sell_order", "aggressor" },
  order = { "id", "trader", "side", "price", "amount" },
  cancel = { "id", "trader", "side", "remaining" },
  trim = { "id", "trader", "side", "price", "from", "to", "reason" },
  agent = { "id", "name", "strategy", "state", "message" },
  session = { "state", "seed", "clock" },
}
M.FIELDS = FIELDS
local BOOK_TYPES = { exchange = C.ASX_EV_TRADE, order = C.ASX_EV_ORDER, cancel = C.ASX_EV_CANCEL,
  trim = C.ASX_EV_TRIM }
local ALL_TYPES = { "exchange", "order", "cancel", "trim", "agent", "session" }

-- InfluxDB tags: trader ids, sides and other small sets of values; the rest
-- of a message goes to fields. The keys are listed in the order tags are
-- written (by key; session is put in its place).
local TAGS = {
  exchange = { "aggressor", "buyer", "seller" },
  order = { "side", "trader" },
  cancel = { "side", "trader" },
  trim = { "reason", "side", "trader" },
  agent = { "state", "strategy", "trader" },
  session = { "state" },
}

local function argerror(n, fname, expected, got, level)
  error(("bad argument #%d to '%s' (%s expected, got %s)"):format(n, fname, expected,
    type(got) == "string" and ("'" .. got .. "'") or tostring(got)), (level or 2) + 1)
end

-- Every logger still open, so a host can flush them all on a signal and
-- close them at exit; weak, so an abandoned logger is still collected.
local open_loggers = setmetatable({}, { __mode = "k" })

-- Numbers -----------------------------------------------------------------------

local numbuf = ffi.new("char[32]")
local function num(v)
  -- Small integers are the common case, and LuaJIT formats them exactly.
  if v % 1 == 0 and v >= -2 ^ 53 and v <= 2 ^ 53 then return ("%d"):format(v) end
  return ffi.string(numbuf, C.asx_fmt_double(numbuf, v))
end
M.format_number = num

-- Text ------------------------------------------------------------------------------

-- Files hold valid UTF-8 whatever bytes a message has: each invalid
-- sequence becomes U+FFFD, by the same C code the native rows use.
local function clean_utf8(s)
  if not s:find("[\128-\255]") then return s end
  local n = #s
  if C.asx_fmt_utf8_valid(s, n) == n then return s end
  local buf = ffi.new("char[?]", 3 * n)
  return ffi.string(buf, C.asx_fmt_utf8(buf, s, n))
end
M.clean_utf8 = clean_utf8

-- CSV --------------------------------------------------------------------------------

local function csv_field(v)
  local t = type(v)
  if t == "number" then return num(v) end
  if v == nil then return "" end
  if t ~= "string" then v = tostring(v) end
  v = clean_utf8(v)
  if v:find('[,"\r\n]') then return '"' .. v:gsub('"', '""') .. '"' end
  return v
end

-- JSON --------------------------------------------------------------------------------

local json_escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
local function json_string(s)
  return '"' .. clean_utf8(s):gsub('[%c"\\]', function(c)
    return json_escapes[c] or ("\\u%04x"):format(c:byte())
  end) .. '"'
end

local json_value
local function sorted_keys(t, skip)
  local keys = {}
  for k in pairs(t) do
    if type(k) == "string" and not (skip and skip[k]) then keys[#keys + 1] = k end
  end
  table.sort(keys)
  return keys
end

function json_value(v, depth)
  local t = type(v)
  if t == "number" then
    if v ~= v or v == 1 / 0 or v == -1 / 0 then return "null" end
    return num(v)
  elseif t == "string" then
    return json_string(v)
  elseif t == "boolean" then
    return tostring(v)
  elseif t == "table" and depth < 16 then
    local n = #v
    if n > 0 then
      local parts = {}
      for i = 1, n do parts[i] = json_value(v[i], depth + 1) end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    local parts = {}
    for _, k in ipairs(sorted_keys(v)) do
      parts[#parts + 1] = json_string(k) .. ":" .. json_value(v[k], depth + 1)
    end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif v == nil then
    return "null"
  end
  return json_string(tostring(v))
end

local skip_common = { type = true, time = true, session = true }
local skip_by_type = {}
for name, fields in pairs(FIELDS) do
  local s = { type = true, time = true, session = true }
  for _, f in ipairs(fields) do s[f] = true end
  skip_by_type[name] = s
end

local function json_line(event_type, m, session)
  local parts = { '{"type":', json_string(event_type), ',"time":', json_value(m.time or 0, 0),
    ',"session":', json_value(session, 0) }
  local fields = FIELDS[event_type]
  if fields then
    for _, k in ipairs(fields) do
      local v = m[k]
      if v ~= nil then parts[#parts + 1] = "," .. json_string(k) .. ":" .. json_value(v, 0) end
    end
  end
  for _, k in ipairs(sorted_keys(m, skip_by_type[event_type] or skip_common)) do
    parts[#parts + 1] = "," .. json_string(k) .. ":" .. json_value(m[k], 0)
  end
  parts[#parts + 1] = "}\n"
  return table.concat(parts)
end
M.json_line = json_line

-- Files ---------------------------------------------------------------------------------

local errbuf = ffi.new("const char *[1]")

-- Opens a log file; nil, err when it cannot be. A file that another open
-- logger writes, by whatever path, is refused, naming that path; a logger
-- that is no longer reachable is collected first, so only a live one counts.
local function open_file(path, append, max_bytes)
  local lf = C.asx_logfile_open(path, append and 1 or 0, max_bytes or 0, errbuf)
  if lf == nil and C.asx_logfile_holder(path) ~= nil then
    collectgarbage()
    lf = C.asx_logfile_open(path, append and 1 or 0, max_bytes or 0, errbuf)
  end
  if lf == nil then
    local holder = C.asx_logfile_holder(path)
    holder = holder ~= nil and ffi.string(holder)
    if holder and holder ~= path then
      return nil, ("cannot open '%s': already open for logging as '%s'"):format(path, holder)
    end
    return nil, ("cannot open '%s': %s"):format(path, ffi.string(errbuf[0]))
  end
  return ffi.gc(lf, C.asx_logfile_close)
end

-- The C handle of each open file, keyed by the file's record. Lua code can
-- reach the records (L.files) but not this table, and a closed file's record
-- has no handle left: a record kept, copied or reopened past its close can
-- raise, never reach the freed writer. The record's own field keeps the
-- handle alive (values are weak too, so that an unreachable logger's file
-- is closed in the same collection); Lua code that drops it only closes
-- the file.
local handles = setmetatable({}, { __mode = "kv" })

local function lf_of(f)
  local lf = handles[f]
  if lf == nil then error(("log file '%s' is closed"):format(tostring(f.path)), 3) end
  return lf
end

local function close_file(f)
  local lf = handles[f]
  if lf == nil then return true end
  handles[f], f.handle = nil, nil
  ffi.gc(lf, nil)
  local rc = C.asx_logfile_close(lf)
  return rc == 0
end

-- The session id as the C writer takes it: text, and whether it is a string.
local function set_file_session(lf, session)
  if session == nil then
    C.asx_logfile_set_session(lf, nil, 0, 0)
  elseif type(session) == "number" then
    local text = num(session)
    C.asx_logfile_set_session(lf, text, #text, 0)
  else
    local text = tostring(session):sub(1, 256)
    C.asx_logfile_set_session(lf, text, #text, 1)
  end
end

-- What file loggers share: the session, flush, close, stats.
local FileLogger = {}
FileLogger.__index = FileLogger

local function check_open(self, fname)
  if self.closed then error(fname .. ": this logger is closed", 3) end
end

function FileLogger:_session(session)
  self.session = session
  for _, f in ipairs(self.files) do set_file_session(lf_of(f), session) end
end

local function file_error(f)
  local e = C.asx_logfile_error(lf_of(f))
  return ("cannot write '%s': %s"):format(f.path, e ~= nil and ffi.string(e) or "unknown error")
end

function FileLogger:consume_events(ptr, n, ex)
  check_open(self, "consume_events")
  if ptr == nil then argerror(1, "consume_events", "event records", ptr) end
  if ex and ex.session_id ~= self.session then self:_session(ex.session_id) end
  local files = self.native
  for i = 1, #files do
    local f = files[i]
    if C.asx_logfile_events(lf_of(f), ptr, n) < 0 and not f.warned then
      f.warned = true
      io.stderr:write("asx: log: ", file_error(f), "\n")
    end
  end
end

function FileLogger:send_event(event_type, message)
  check_open(self, "send_event")
  if type(event_type) ~= "string" then argerror(1, "send_event", "event type string", event_type) end
  if type(message) ~= "table" then argerror(2, "send_event", "message table", message) end
  local session = message.session
  if session ~= self.session then self:_session(session) end
  local f = self.by_type[event_type] or self.any
  if not f then return end
  local line = self:_format(f, event_type, message)
  if C.asx_logfile_write(lf_of(f), line, #line) < 0 and not f.warned then
    f.warned = true
    io.stderr:write("asx: log: ", file_error(f), "\n")
  end
end

function FileLogger:flush()
  if self.closed then return true end
  local err
  for _, f in ipairs(self.files) do
    if C.asx_logfile_flush(lf_of(f)) ~= 0 and not err then err = file_error(f) end
  end
  if err then return nil, err end
  return true
end

function FileLogger:stats()
  if self.closed then return self.final end
  local st = ffi.new("asx_logfile_stats")
  local written, dropped = 0, 0
  for _, f in ipairs(self.files) do
    C.asx_logfile_stats_get(lf_of(f), st)
    -- Headers are lines too, but not rows. A file takes its lines in order,
    -- a prefix of them written and the rest dropped, so its header (its
    -- first line) is written when any line is, and dropped when the first
    -- lines are.
    local w, d = tonumber(st.written), tonumber(st.dropped)
    local header_written = math.min(w, f.headers)
    local header_dropped = math.max(0, math.min(w + d, f.headers) - w)
    written = written + w - header_written
    dropped = dropped + d - header_dropped
  end
  return { written = written, dropped = dropped }
end

-- A full disk fails every file on it: the error names each that failed.
function FileLogger:close()
  if self.closed then return true end
  local errs, failed = {}, {}
  for _, f in ipairs(self.files) do
    if C.asx_logfile_flush(lf_of(f)) ~= 0 then
      failed[f] = true
      errs[#errs + 1] = file_error(f)
    end
  end
  self.final = self:stats()
  for _, f in ipairs(self.files) do
    if not close_file(f) and not failed[f] then errs[#errs + 1] = ("cannot close '%s'"):format(f.path) end
  end
  self.closed = true
  open_loggers[self] = nil
  if errs[1] then return nil, table.concat(errs, "; ") end
  return true
end

function FileLogger:report()
  local st = self:stats()
  local paths = {}
  for _, f in ipairs(self.files) do paths[#paths + 1] = f.path end
  return ("%s: %d %s written to %s%s"):format(self.kind, st.written,
    self.kind == "csv" and "rows" or "lines", table.concat(paths, ", "),
    st.dropped > 0 and (", %d lost"):format(st.dropped) or "")
end

function FileLogger:__tostring()
  return ("%s logger(%s)"):format(self.kind, self.files[1] and self.files[1].path or "?")
end

local function check_common_opts(fname, path, opts)
  if type(path) ~= "string" or path == "" then argerror(1, fname, "file path string", path, 3) end
  if opts ~= nil and type(opts) ~= "table" then argerror(2, fname, "table of options", opts, 3) end
  opts = opts or {}
  local mb = opts.max_bytes
  if mb ~= nil and (type(mb) ~= "number" or mb < 0 or mb % 1 ~= 0) then
    argerror(2, fname, "max_bytes: non-negative integer", mb, 3)
  end
  return opts
end

local function new_file_logger(kind, files, opts)
  local self = setmetatable({ kind = kind, files = files, by_type = {}, native = {},
    session = nil, closed = false }, FileLogger)
  for _, f in ipairs(files) do
    if f.type then self.by_type[f.type] = f else self.any = f end
    if f.native then self.native[#self.native + 1] = f end
  end
  if opts.session ~= nil then self:_session(opts.session) end
  open_loggers[self] = true
  return self
end

-- Opens every file or none: on a failure the ones already open are closed.
local function open_all(specs, append, max_bytes)
  local files = {}
  for _, s in ipairs(specs) do
    local lf, err = open_file(s.path, append, max_bytes)
    if not lf then
      for _, f in ipairs(files) do close_file(f) end
      return nil, err
    end
    handles[s], s.handle = lf, lf
    s.headers = 0
    files[#files + 1] = s
  end
  return files
end

local function csv_format(_, f, _, m)
  local row = { csv_field(m.time or 0), csv_field(m.session) }
  for i, k in ipairs(f.columns) do row[i + 2] = csv_field(m[k]) end
  return table.concat(row, ",") .. "\n"
end

function M.csv(path, opts)
  opts = check_common_opts("csv", path, opts)
  local events = opts.events == nil and "exchange" or opts.events
  local types
  if events == "all" then
    types = ALL_TYPES
  elseif type(events) == "string" then
    types = { events }
  elseif type(events) == "table" and #events > 0 then
    types = events
  else
    argerror(2, "csv", "events: an event type, a list of them or 'all'", events)
  end
  local columns = opts.columns
  if columns ~= nil and (type(columns) ~= "table" or #types ~= 1) then
    argerror(2, "csv", "columns: an array of field names, for one event type", columns)
  end
  local specs = {}
  local seen = {}
  for _, t in ipairs(types) do
    if type(t) ~= "string" then argerror(2, "csv", "events: event type strings", t) end
    if seen[t] then argerror(2, "csv", "events: each type once", t) end
    seen[t] = true
    local cols = columns or FIELDS[t]
    if not cols then
      argerror(2, "csv", ("columns for event type '%s' (unknown type)"):format(t), nil)
    end
    local p = path
    if #types > 1 then
      if p:find("{type}", 1, true) then
        p = p:gsub("{type}", t)
      else
        local stem, ext = p:match("^(.-)(%.[^./]*)$")
        p = stem and (stem .. "-" .. t .. ext) or (p .. "-" .. t)
      end
    end
    specs[#specs + 1] = { path = p, type = t, columns = cols,
      native = BOOK_TYPES[t] ~= nil and columns == nil }
  end
  local files, err = open_all(specs, opts.append, opts.max_bytes)
  if not files then return nil, err end
  for _, f in ipairs(files) do
    if f.native then C.asx_logfile_set_format(lf_of(f), C.ASX_LOG_CSV, BOOK_TYPES[f.type]) end
    if opts.header ~= false then
      local h = "time,session," .. table.concat(f.columns, ",") .. "\n"
      C.asx_logfile_write(lf_of(f), h, #h)
      f.headers = 1
    end
  end
  local self = new_file_logger("csv", files, opts)
  self._format = csv_format
  return self
end

local function jsonl_format(self, _, event_type, m)
  return json_line(event_type, m, self.session)
end

function M.jsonl(path, opts)
  opts = check_common_opts("jsonl", path, opts)
  local files, err = open_all({ { path = path, native = true } }, opts.append, opts.max_bytes)
  if not files then return nil, err end
  C.asx_logfile_set_format(lf_of(files[1]), C.ASX_LOG_JSONL, 0)
  local self = new_file_logger("jsonl", files, opts)
  self._format = jsonl_format
  return self
end

-- InfluxDB -------------------------------------------------------------------------------

local function escape_key(s) return (s:gsub("([, =])", "\\%1")) end
local function escape_measurement(s) return (s:gsub("([, ])", "\\%1")) end
local function field_value(v)
  local t = type(v)
  if t == "number" then
    if v % 1 == 0 and v >= -2 ^ 53 and v <= 2 ^ 53 then return ("%di"):format(v) end
    if v ~= v or v == 1 / 0 or v == -1 / 0 then return nil end -- InfluxDB has no NaN
    return num(v)
  elseif t == "boolean" then
    return tostring(v)
  elseif t == "string" then
    return '"' .. v:gsub('(["\\])', "\\%1"):gsub("\n", "\\n") .. '"'
  end
  return nil
end

-- "measurement,tags fields" for a message; seq and the timestamp are added
-- in C. Tags are by key; an agent's id is its trader tag.
local function influx_text(event_type, m, session)
  local parts = { escape_measurement(event_type) }
  local tagkeys = TAGS[event_type] or {}
  local is_tag = {}
  local tags = {}
  for _, k in ipairs(tagkeys) do
    local v = m[k]
    if k == "trader" and event_type == "agent" then
      -- An agent's id is its trader id: a tag, like the traders of trades.
      v = m.id
      is_tag.id = true
    end
    if v ~= nil then tags[#tags + 1] = { k, v } end
    is_tag[k] = true
  end
  if session ~= nil then tags[#tags + 1] = { "session", session } end
  table.sort(tags, function(a, b) return a[1] < b[1] end)
  for _, kv in ipairs(tags) do
    local v = type(kv[2]) == "number" and num(kv[2]) or tostring(kv[2])
    if v ~= "" then parts[#parts + 1] = "," .. kv[1] .. "=" .. escape_key(v:gsub("\n", " ")) end
  end
  local fields = {}
  local function add(k, v)
    local fv = field_value(v)
    if fv then fields[#fields + 1] = escape_key(k) .. "=" .. fv end
  end
  for _, k in ipairs(FIELDS[event_type] or {}) do
    if not is_tag[k] then add(k, m[k]) end
  end
  for _, k in ipairs(sorted_keys(m, skip_by_type[event_type] or skip_common)) do
    if not is_tag[k] then add(k, m[k]) end
  end
  if #fields == 0 then fields[1] = "event=true" end
  return table.concat(parts) .. " " .. table.concat(fields, ",")
end
M.influx_text = influx_text

local Influx = {}
Influx.__index = Influx

-- A logger's C client, out of reach of Lua code (see handles above).
local influx_handles = setmetatable({}, { __mode = "k" })

local function ix_of(self)
  local ix = influx_handles[self]
  if ix == nil then error("this logger is closed", 3) end
  return ix
end

function Influx:_session(session, time)
  self.session = session
  local text = session ~= nil and (type(session) == "number" and num(session) or tostring(session)) or nil
  -- Session time 0 is now, wall clock, so a virtual-clock run lands on the
  -- time axis where it was run; opts.start pins it instead.
  local start = self.start_ns or (C.asx_wall_ns() - ffi.cast("int64_t", (time or 0) * 1e9))
  C.asx_influx_set_session(ix_of(self), text, start)
end

function Influx:consume_events(ptr, n, ex)
  check_open(self, "consume_events")
  if ptr == nil then argerror(1, "consume_events", "event records", ptr) end
  if ex and ex.session_id ~= self.session then self:_session(ex.session_id, ex:time()) end
  C.asx_influx_events(ix_of(self), ptr, n)
end

function Influx:send_event(event_type, message)
  check_open(self, "send_event")
  if type(event_type) ~= "string" then argerror(1, "send_event", "event type string", event_type) end
  if type(message) ~= "table" then argerror(2, "send_event", "message table", message) end
  local session = message.session
  if session ~= self.session or (event_type == "session" and message.state == "start") then
    self:_session(session, message.time)
  end
  local text = influx_text(event_type, message, session)
  local t = message.time
  C.asx_influx_point(ix_of(self), text, #text, type(t) == "number" and t or 0)
end

function Influx:stats()
  if self.closed then return self.final end
  local st = ffi.new("asx_influx_stats")
  C.asx_influx_stats_get(ix_of(self), st)
  local e = C.asx_influx_error(ix_of(self))
  return { written = tonumber(st.written), dropped = tonumber(st.dropped), queued = tonumber(st.queued),
    requests = tonumber(st.requests), failures = tonumber(st.failures),
    error = e ~= nil and ffi.string(e) or nil }
end

-- Runs the libuv loop until everything queued is written or timeout (default
-- opts.close_timeout) passes; call it between sessions, not from an agent.
-- Agents are coroutines resumed from inside the loop, and libuv's loop
-- cannot be run from inside itself: waiting for the server is for the main
-- thread, after a session.
local function in_agent()
  local co, main = coroutine.running()
  return co ~= nil and not main
end

function Influx:flush(timeout)
  if self.closed then return true end
  if in_agent() then return nil, "flush: cannot wait for InfluxDB inside an agent (the session flushes at its end)" end
  if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout or timeout < 0) then
    argerror(1, "flush", "non-negative number of seconds", timeout)
  end
  local left = tonumber(C.asx_influx_flush(ix_of(self), timeout or self.close_timeout))
  if left > 0 then
    local e = C.asx_influx_error(ix_of(self))
    return nil, ("%d points not written yet%s"):format(left, e ~= nil and (": " .. ffi.string(e)) or "")
  end
  return true
end

function Influx:close(timeout)
  if self.closed then return true end
  if in_agent() then return nil, "close: cannot wait for InfluxDB inside an agent (the session closes it at its end)" end
  if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout or timeout < 0) then
    argerror(1, "close", "non-negative number of seconds", timeout)
  end
  C.asx_influx_flush(ix_of(self), timeout or self.close_timeout)
  local st = self:stats()
  local ix = ix_of(self)
  influx_handles[self] = nil
  ffi.gc(ix, nil)
  local left = tonumber(C.asx_influx_close(ix, 0))
  st.dropped = st.dropped + left
  st.queued = 0
  self.final = st
  self.closed = true
  open_loggers[self] = nil
  if left > 0 then return nil, ("%d points dropped at close%s"):format(left, st.error and (": " .. st.error) or "") end
  return true
end

function Influx:report()
  local st = self:stats()
  return ("influxdb: %d points written, %d dropped%s"):format(st.written, st.dropped,
    st.error and st.dropped > 0 and (" (" .. st.error .. ")") or "")
end

function Influx:__tostring() return ("influxdb logger(%s)"):format(self.url) end

local function opt_string(o, k, fname)
  local v = o[k]
  if v ~= nil and type(v) ~= "string" then argerror(1, fname, k .. ": string", v, 3) end
  return v
end

local function opt_number(o, k, fname, integer)
  local v = o[k]
  if v ~= nil and (type(v) ~= "number" or v ~= v or v < 0 or v == 1 / 0 or (integer and v % 1 ~= 0)) then
    argerror(1, fname, k .. (integer and ": non-negative integer" or ": non-negative number"), v, 3)
  end
  return v or 0
end

-- A URL as messages show it: a password in it (http://user:PASSWORD@host/,
-- or p=PASSWORD) is masked, as the 2.x token is never shown.
local function mask_url(url)
  return (url:gsub("^(%a[%w+.-]*://[^/?#@]-:)[^/?#@]*@", "%1***@"):gsub("([?&]p=)[^&#]*", "%1***"))
end
M.mask_url = mask_url

local function percent_decode(v)
  return (v:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- Splits "scheme://user:password@rest" into the URL without them, the user
-- and the password (nil when the URL has none).
local function split_userinfo(url)
  local scheme, info, rest = url:match("^(%a[%w+.-]*://)([^/?#@]*)@(.*)$")
  if not scheme then return url end
  local user, password = info:match("^([^:]*):?(.*)$")
  return scheme .. rest, percent_decode(user), info:find(":", 1, true) and percent_decode(password) or nil
end

function M.influxdb(opts)
  if type(opts) ~= "table" then argerror(1, "influxdb", "table of options", opts) end
  local o = ffi.new("asx_influx_opts")
  local url = opt_string(opts, "url", "influxdb")
  if not url then argerror(1, "influxdb", "url: string", nil) end
  local keep = {} -- the strings must live until asx_influx_new has copied them
  local function s(k)
    local v = opt_string(opts, k, "influxdb")
    keep[#keep + 1] = v
    return v
  end
  -- Credentials in the URL go to the user and password options, so the URL
  -- that messages show has none.
  local bare, url_user, url_password = split_userinfo(url)
  keep[#keep + 1] = bare
  o.url = bare
  o.db, o.user, o.password = s("db"), s("user"), s("password")
  if opts.user == nil and url_user then
    keep[#keep + 1], keep[#keep + 2] = url_user, url_password
    o.user, o.password = url_user, url_password
  end
  o.org, o.bucket, o.token = s("org"), s("bucket"), s("token")
  o.version = (opts.org or opts.bucket or opts.token) and C.ASX_INFLUX_V2 or C.ASX_INFLUX_V1
  if o.version == C.ASX_INFLUX_V1 and opts.db == nil then o.db = "influxdb_exchange" end
  o.batch_size = opt_number(opts, "batch_size", "influxdb", true)
  o.max_points = opt_number(opts, "max_points", "influxdb", true)
  o.flush_interval = opt_number(opts, "flush_interval", "influxdb")
  o.timeout = opt_number(opts, "timeout", "influxdb")
  o.retry_min = opt_number(opts, "retry_min", "influxdb")
  o.retry_max = opt_number(opts, "retry_max", "influxdb")
  local close_timeout = opts.close_timeout == nil and 5 or opt_number(opts, "close_timeout", "influxdb")
  local start = opts.start
  if start ~= nil and (type(start) ~= "number" or start ~= start or start < 0 or start >= 2 ^ 33) then
    argerror(1, "influxdb", "start: wall-clock seconds since the epoch", start)
  end
  o.quiet = opts.quiet and 1 or 0
  local ix = C.asx_influx_new(o, errbuf)
  if ix == nil then return nil, "influxdb: " .. ffi.string(errbuf[0]) end
  local self = setmetatable({ url = mask_url(url),
    close_timeout = close_timeout, closed = false, version = tonumber(o.version),
    start_ns = start and ffi.cast("int64_t", start * 1e6) * 1000 or nil }, Influx)
  influx_handles[self] = ffi.gc(ix, function(p) C.asx_influx_close(p, 0) end)
  if opts.session ~= nil or start then self:_session(opts.session, 0) end
  open_loggers[self] = true
  return self
end

-- All loggers ------------------------------------------------------------------------------

-- Flushes every open logger: what a host does on SIGINT/SIGTERM before it
-- prints its summary. Returns true, or nil and the first error.
function M.flush_all()
  local first
  for L in pairs(open_loggers) do
    local ok, err = L:flush()
    if not ok and not first then first = err end
  end
  if first then return nil, first end
  return true
end

-- Closes every open logger (at the host's exit).
function M.close_all()
  local first
  for L in pairs(open_loggers) do
    local ok, err = L:close()
    if not ok and not first then first = err end
  end
  if first then return nil, first end
  return true
end

-- The command line -------------------------------------------------------------------------

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
      local L, err = M.csv(value, { events = "exchange" })
      if not L then return nil, "--log: " .. err end
      return L
    elseif ext == "jsonl" then
      local L, err = M.jsonl(value)
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
    local L, err2 = M.influxdb(o)
    if not L then return nil, "--influx: " .. err2 end
    return L
  end
  error(("bad argument #1 to 'from_cli' ('log', 'logger' or 'influx' expected, got %s)"):format(
    tostring(kind)), 2)
end

-- asx-host's logging flags, by spelling, and the kind from_cli takes.
M.CLI_FLAGS = { ["--log"] = "log", ["--logger"] = "logger", ["--influx"] = "influx" }

-- Opens the loggers of a command line: specs is an array of { kind, value }
-- in the order given. Returns the array of loggers, or nil and the first
-- one-line reason (the loggers opened before it are closed again).
function M.open_cli(specs)
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
function M.finish(list)
  local errs = {}
  for _, L in ipairs(list or {}) do
    if type(L.close) == "function" then
      -- close may raise, return nil, err, or return nothing (a user's).
      local ok, a, b = pcall(L.close, L)
      local err = not ok and a or (a == nil and b ~= nil and b) or nil
      if err then errs[#errs + 1] = tostring(err) end
    end
  end
  if errs[1] then return nil, table.concat(errs, "; ") end
  return true
end

-- Writes one line per logger that has report() to out, for a summary.
function M.report(list, out)
  for _, L in ipairs(list or {}) do
    if type(L.report) == "function" then
      local ok, line = pcall(L.report, L)
      if ok and type(line) == "string" then out:write(line, "\n") end
    end
  end
end

-- The exchange hands the book's raw event records to registered consumers
-- only (lua/asx/init.lua), so no Lua object can get a pointer into the book.
require("asx")
local native = debug.getregistry()["asx.native_consumers"]
native[FileLogger.consume_events] = true
native[Influx.consume_events] = true

return M
