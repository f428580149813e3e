-- The file loggers: CSV files (one event type each) and JSON-lines files.
-- The book's events are encoded in C (asx_logfile_events), the messages
-- from Lua by asx.event; both write the same text.
local ffi = require("ffi")
local F = require("asx.ffi")
local event = require("asx.event")
local common = require("asx.loggers.common")
local terminal = require("asx.terminal")
local C = F.C

local check = require("asx.check")
require("asx.private")
-- P.session_id: the id of an exchange's events, which ex.session_id may not be.
local P = debug.getregistry()["asx.private"]
local argerror, num = check.argerror, event.format_number

local M = {}

local errbuf = ffi.new("const char *[1]")
local lfbuf = ffi.new("asx_logfile *[1]")

-- Why path cannot be opened when the log file opened as holder writes it.
function M.already_open(path, holder)
  local as = holder ~= path and (" as '%s'"):format(holder) or ""
  return ("cannot open '%s': already open for logging%s"):format(path, as)
end

-- Opens a log file, whose handle finalize closes when it is collected; nil,
-- err when it cannot be. A file that another open logger writes, by
-- whatever path, is refused, naming that path; a logger that is no longer
-- reachable is collected first, so only a live one counts.
local function open_file(path, append, max_bytes, finalize)
  local rc = C.asx_logfile_open(path, append and 1 or 0, max_bytes or 0, lfbuf, errbuf)
  if rc ~= 0 and C.asx_logfile_holder(path) ~= nil then
    collectgarbage()
    rc = C.asx_logfile_open(path, append and 1 or 0, max_bytes or 0, lfbuf, errbuf)
  end
  local lf = lfbuf[0]
  lfbuf[0] = nil
  if rc ~= 0 then
    local holder = C.asx_logfile_holder(path)
    holder = holder ~= nil and ffi.string(holder)
    if holder then return nil, M.already_open(path, holder) end
    return nil, ("cannot open '%s': %s"):format(path, ffi.string(errbuf[0]))
  end
  return ffi.gc(lf, finalize)
end

-- True when paths a and b name the same file, existing or not yet created.
function M.same_file(a, b)
  return C.asx_logfile_same(a, b) == 1
end

-- The C handle of each open file, keyed by the file's record. Lua code can
-- reach the records (L.files) but not this table, and a closed file's record
-- has no handle left: a record kept, copied or reopened past its close can
-- raise, never reach the freed writer. The record's own field keeps the
-- handle alive (values are weak too, so that an unreachable logger's file
-- is closed in the same collection); Lua code that drops it only closes
-- the file.
local handles = setmetatable({}, { __mode = "kv" })

-- Each file's record by the number its handle's finalizer keeps. An
-- ordinary collection takes a record with its handle, which no one reaches
-- any more; but lua_close runs every finalizer, of objects still reachable
-- too, in no set order: a finalizer that traded or logged after this one
-- reached a freed writer. So the record first loses its handle, and a later
-- call finds the file closed. Weak, as handles is: the finalizer must hold
-- nothing that keeps the handle alive.
local records = setmetatable({}, { __mode = "v" })
local n_records = 0

-- A file freed so keeps its last counts (f.final), which its logger's
-- stats() then reads: the logger's flush() and close() have nothing left to
-- do for it, and stats(), flush() and close() raised where they had an
-- answer.
local function file_finalizer(id)
  return function(lf)
    local f = records[id]
    if f ~= nil then
      local st = ffi.new("asx_logfile_stats")
      C.asx_logfile_flush(lf)
      C.asx_logfile_stats_get(lf, st)
      f.final = { written = tonumber(st.written), dropped = tonumber(st.dropped) }
      handles[f], f.handle, f.gone = nil, nil, true
    end
    records[id] = nil
    C.asx_logfile_close(lf)
  end
end

local function lf_of(f)
  local lf = handles[f]
  if lf == nil then
    local why = f.gone and " (freed as Lua closes)" or ""
    error(("log file '%s' is closed%s"):format(tostring(f.path), why), 3)
  end
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

function FileLogger:_session(session)
  self.session = session
  for _, f in ipairs(self.files) do set_file_session(lf_of(f), session) end
end

local function file_error(f)
  local e = C.asx_logfile_error(lf_of(f))
  return ("cannot write '%s': %s"):format(f.path, e ~= nil and ffi.string(e) or "unknown error")
end

function FileLogger:consume_events(ptr, n, ex)
  common.check_consume_events(self, ptr, n)
  local id = P.session_id(ex)
  if ex and id ~= self.session then self:_session(id) end
  local files = self.native
  for i = 1, #files do
    local f = files[i]
    if C.asx_logfile_events(lf_of(f), ptr, n) < 0 and not f.warned then
      f.warned = true
      terminal.write("asx: log: ", file_error(f), "\n")
    end
  end
end

function FileLogger:send_event(event_type, message)
  common.check_send_event(self, event_type, message)
  local session = message.session
  if session ~= self.session then self:_session(session) end
  local f = self.by_type[event_type] or self.any
  if not f then return end
  -- JSON lines refuse tables nested past event.MAX_DEPTH (ex:emit refuses
  -- them before any logger gets them): the logger names itself and the field.
  local ok, line = pcall(self._format, self, f, event_type, message)
  if not ok then
    error(("send_event: %s: field '%s': %s"):format(tostring(self), tostring(event.too_deep(message)), line), 2)
  end
  if C.asx_logfile_write(lf_of(f), line, #line) < 0 and not f.warned then
    f.warned = true
    terminal.write("asx: log: ", file_error(f), "\n")
  end
end

function FileLogger:flush()
  if self.closed then return true end
  local err
  for _, f in ipairs(self.files) do
    if not f.gone and C.asx_logfile_flush(lf_of(f)) ~= 0 and not err then err = file_error(f) end
  end
  if err then return nil, err end
  return true
end

function FileLogger:stats()
  if self.closed then return self.final end
  local st = ffi.new("asx_logfile_stats")
  local written, dropped = 0, 0
  for _, f in ipairs(self.files) do
    local w, d
    if f.gone then
      w, d = f.final.written, f.final.dropped
    else
      C.asx_logfile_stats_get(lf_of(f), st)
      w, d = tonumber(st.written), tonumber(st.dropped)
    end
    -- Headers are lines too, but not rows. A file takes its lines in order,
    -- a prefix of them written and the rest dropped, so its header (its
    -- first line) is written when any line is, and dropped when the first
    -- lines are.
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
    if not f.gone and C.asx_logfile_flush(lf_of(f)) ~= 0 then
      failed[f] = true
      errs[#errs + 1] = file_error(f)
    end
  end
  self.final = self:stats()
  for _, f in ipairs(self.files) do
    if not close_file(f) and not failed[f] then errs[#errs + 1] = ("cannot close '%s'"):format(f.path) end
  end
  self.closed = true
  common.open[self] = nil
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

-- The options each file logger takes.
local OPTIONS = {
  csv = { "events", "columns", "header", "append", "max_bytes", "session" },
  jsonl = { "append", "max_bytes", "session" },
}

local function check_common_opts(fname, path, opts)
  if type(path) ~= "string" then argerror(1, fname, "file path string expected", path, 3) end
  if path == "" then check.bad_argument(1, fname, "file path string expected", "an empty string", 3) end
  if opts ~= nil and type(opts) ~= "table" then argerror(2, fname, "table of options expected", opts, 3) end
  opts = opts or {}
  check.options(opts, OPTIONS[fname], fname, 2, 3)
  -- C takes it as a size_t, which a number past 2^64 (or NaN) does not
  -- convert to: the bound is the largest exact integer, as for amounts.
  local mb = opts.max_bytes
  if mb ~= nil and (type(mb) ~= "number" or not (mb >= 0 and mb <= check.MAX) or mb % 1 ~= 0) then
    argerror(2, fname, "max_bytes: non-negative integer up to 2^53 - 1 expected", mb, 3)
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
  common.opened(self)
  return self
end

-- Opens every file or none: on a failure the ones already open are closed.
local function open_all(specs, append, max_bytes)
  local files = {}
  for _, s in ipairs(specs) do
    n_records = n_records + 1
    records[n_records] = s
    local lf, err = open_file(s.path, append, max_bytes, file_finalizer(n_records))
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
  return event.csv_row(f.columns, m)
end

function M.csv(path, opts)
  opts = check_common_opts("csv", path, opts)
  local events = opts.events == nil and event.TRADE or opts.events
  local types
  if events == "all" then
    types = event.TYPES
  elseif type(events) == "string" then
    types = { events }
  elseif type(events) == "table" and #events > 0 then
    types = events
  else
    argerror(2, "csv", "events: an event type, a list of them or 'all' expected", events)
  end
  local columns = opts.columns
  if columns ~= nil and (type(columns) ~= "table" or #types ~= 1) then
    argerror(2, "csv", "columns: an array of field names, for one event type expected", columns)
  end
  for i, c in ipairs(columns or {}) do
    if type(c) ~= "string" then argerror(2, "csv", ("columns[%d]: field name string expected"):format(i), c) end
  end
  local specs = {}
  local seen = {}
  for _, t in ipairs(types) do
    if type(t) ~= "string" then argerror(2, "csv", "events: event type strings expected", t) end
    -- The type itself says what is wrong, so it is shown, quoted.
    if seen[t] then check.bad_argument(2, "csv", "events: each type once expected", "'" .. t .. "'") end
    seen[t] = true
    local cols = columns or event.FIELDS[t]
    if not cols then
      argerror(2, "csv", ("columns for event type '%s' (unknown type) expected"):format(t), nil)
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
      native = event.CODES[t] ~= nil and columns == nil }
  end
  local files, err = open_all(specs, opts.append, opts.max_bytes)
  if not files then return nil, err end
  for _, f in ipairs(files) do
    if f.native then C.asx_logfile_set_format(lf_of(f), C.ASX_LOG_CSV, event.CODES[f.type]) end
    if opts.header ~= false then
      local h = event.csv_header(f.columns)
      C.asx_logfile_write(lf_of(f), h, #h)
      f.headers = 1
    end
  end
  local self = new_file_logger("csv", files, opts)
  self._format = csv_format
  return self
end

local function jsonl_format(self, _, event_type, m)
  return event.json_line(event_type, m, self.session)
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

-- The exchange hands the book's raw event records to registered consumers
-- only (lua/asx/exchange.lua), so no Lua object can get a pointer into the book.
require("asx")
debug.getregistry()["asx.native_consumers"][FileLogger.consume_events] = true

return M
