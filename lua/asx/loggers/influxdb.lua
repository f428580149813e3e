-- The InfluxDB logger: the book's events are encoded and sent by C
-- (asx_influx.h), the messages from Lua encoded by asx.event.
local ffi = require("ffi")
local F = require("asx.ffi")
local event = require("asx.event")
local common = require("asx.loggers.common")
local C = F.C

local check = require("asx.check")
require("asx.private")
-- P.session_id: the id of an exchange's events, which ex.session_id may not be.
local P = debug.getregistry()["asx.private"]
local core = require("asx.core")
local argerror, num = check.argerror, event.format_number
local errbuf = ffi.new("const char *[1]")
local ixbuf = ffi.new("asx_influx *[1]")

local M = {}

local Influx = {}
Influx.__index = Influx

-- A logger's C client, out of reach of Lua code (see handles above).
local influx_handles = setmetatable({}, { __mode = "k" })

-- Each logger by the number its client's finalizer keeps, weak so that the
-- finalizer holds nothing that keeps the client alive. lua_close runs every
-- finalizer, of objects still reachable too, in no set order: the logger
-- first loses its client, so that a finalizer run after this one that logs
-- finds it closed rather than a freed client (lua/asx/loggers/file.lua does
-- the same for files).
local owners = setmetatable({}, { __mode = "v" })
local n_owners = 0

local function ix_of(self)
  local ix = influx_handles[self]
  if ix == nil then
    error(rawget(self, "gone") and "this logger is closed (freed as Lua closes)" or "this logger is closed", 3)
  end
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
  common.check_consume_events(self, ptr, n)
  local id = P.session_id(ex)
  if ex and id ~= self.session then self:_session(id, ex:time()) end
  C.asx_influx_events(ix_of(self), ptr, n)
end

function Influx:send_event(event_type, message)
  common.check_send_event(self, event_type, message)
  local why = event.unwritable_type(event_type)
  if why then check.bad_argument(1, "send_event", why, ("%q"):format(event_type)) end
  local session = message.session
  if session ~= self.session or (event_type == "session" and message.state == "start") then
    self:_session(session, message.time)
  end
  local text = event.line(event_type, message, session)
  local t = message.time
  C.asx_influx_point(ix_of(self), text, #text, type(t) == "number" and t or 0)
end

function Influx:stats()
  if self.closed or self.gone then return self.final end
  local st = ffi.new("asx_influx_stats")
  C.asx_influx_stats_get(ix_of(self), st)
  local e = C.asx_influx_error(ix_of(self))
  return { written = tonumber(st.written), dropped = tonumber(st.dropped), queued = tonumber(st.queued),
    requests = tonumber(st.requests), failures = tonumber(st.failures),
    error = e ~= nil and ffi.string(e) or nil }
end

-- Runs the libuv loop until everything queued is written or timeout (default
-- opts.close_timeout) passes: after a session, or with none. While a session
-- runs, everything runs from inside its loop (its agents, and the lines typed
-- at its prompt), and libuv's loop cannot be run from inside itself: the
-- logger then sends by itself every flush_interval (and a session flushes
-- and closes the loggers it was given at its end). Returns why it cannot
-- wait now, or nil.
local function cannot_wait(what)
  local s = package.loaded["asx.session"] and package.loaded["asx.session"].running()
  if not s then
    if not core.http_in_callback() then return nil end
    return ("%s: cannot wait for InfluxDB inside core.http_listen's callback, which runs on the loop that "
      .. "sends the points: the logger sends them every flush_interval by itself, and stats() shows what "
      .. "is written"):format(what)
  end
  local does = what == "flush" and "flushes" or "closes it"
  if s.sched:current() then
    return ("%s: cannot wait for InfluxDB inside an agent (the session %s at its end)"):format(what, does)
  end
  return ("%s: cannot wait for InfluxDB while a session runs on the loop that sends the points (the "
    .. "prompt's lines do): the logger sends them every flush_interval by itself, and stats() shows what "
    .. "is written"):format(what)
end

function Influx:flush(timeout)
  if self.closed or self.gone then return true end
  local why = cannot_wait("flush")
  if why then return nil, why end
  if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout or timeout < 0) then
    argerror(1, "flush", "non-negative number of seconds expected", timeout)
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
  if self.gone then
    self.closed = true
    common.open[self] = nil
    return true
  end
  local why = cannot_wait("close")
  if why then return nil, why end
  if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout or timeout < 0) then
    argerror(1, "close", "non-negative number of seconds expected", timeout)
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
  common.open[self] = nil
  if left > 0 then return nil, ("%d points dropped at close%s"):format(left, st.error and (": " .. st.error) or "") end
  return true
end

function Influx:report()
  local st = self:stats()
  return ("influxdb: %d points written, %d dropped%s"):format(st.written, st.dropped,
    st.error and st.dropped > 0 and (" (" .. st.error .. ")") or "")
end

function Influx:__tostring() return ("influxdb logger(%s)"):format(self.url) end

-- Why a text option cannot be sent as given, or nil. C takes it up to its
-- first NUL byte, which cut it short. InfluxDB 1.x refuses a database name
-- with a control character, a slash or a backslash, or that is . or ..
-- ("invalid name", which came at the first write, and every point was
-- dropped); a quote is escaped in CREATE DATABASE (src/asx_influx_api.c).
M.DB_EXPECTED = "db: a database name without control characters, '/' or '\\', and not '.' or '..', expected"
function M.option_error(k, v)
  if v:find("%z") then return k .. ": text without NUL bytes expected" end
  if k == "db" and (v:find("[%c/\\]") or v == "." or v == "..") then return M.DB_EXPECTED end
  return nil
end

local function opt_string(o, k, fname)
  local v = o[k]
  if v ~= nil and type(v) ~= "string" then argerror(1, fname, k .. ": string expected", v, 3) end
  local why = v and M.option_error(k, v)
  if why then argerror(1, fname, why, v, 3) end
  return v
end

-- A count goes to C as a size_t, which a number past 2^64 does not convert
-- to: the bound is the largest exact integer, as for amounts.
local function opt_number(o, k, fname, integer)
  local v = o[k]
  if v ~= nil and (type(v) ~= "number" or v ~= v or v < 0 or v == 1 / 0
    or (integer and (v % 1 ~= 0 or v > check.MAX))) then
    argerror(1, fname, k .. (integer and ": non-negative integer up to 2^53 - 1 expected"
      or ": non-negative number expected"), v, 3)
  end
  return v or 0
end

-- A URL as messages show it: a password in it (http://user:PASSWORD@host/,
-- or p=PASSWORD) is masked, as the 2.x token is never shown.
local function mask_url(url)
  return (url:gsub("^(%a[%w+.-]*://[^/?#@]-:)[^/?#@]*@", "%1***@"):gsub("([?&]p=)[^&#]*", "%1***"))
end
M.mask_url = mask_url

function M.percent_decode(v)
  return (v:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- Splits "scheme://user:password@rest" into the URL without them, the user
-- and the password (nil when the URL has none).
function M.split_userinfo(url)
  local scheme, info, rest = url:match("^(%a[%w+.-]*://)([^/?#@]*)@(.*)$")
  if not scheme then return url end
  local user, password = info:match("^([^:]*):?(.*)$")
  return scheme .. rest, M.percent_decode(user), info:find(":", 1, true) and M.percent_decode(password) or nil
end

-- The options influxdb takes.
local OPTIONS = { "url", "db", "user", "password", "org", "bucket", "token", "batch_size", "max_points",
  "flush_interval", "timeout", "retry_min", "retry_max", "close_timeout", "start", "quiet", "session" }

function M.influxdb(opts)
  if type(opts) ~= "table" then argerror(1, "influxdb", "table of options expected", opts) end
  check.options(opts, OPTIONS, "influxdb", 1)
  local o = ffi.new("asx_influx_opts")
  local url = opt_string(opts, "url", "influxdb")
  if not url then argerror(1, "influxdb", "url: string expected", nil) end
  local keep = {} -- the strings must live until asx_influx_new has copied them
  local function s(k)
    local v = opt_string(opts, k, "influxdb")
    keep[#keep + 1] = v
    return v
  end
  -- Credentials in the URL go to the user and password options, so the URL
  -- that messages show has none.
  local bare, url_user, url_password = M.split_userinfo(url)
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
    argerror(1, "influxdb", "start: wall-clock seconds since the epoch expected", start)
  end
  o.quiet = opts.quiet and 1 or 0
  local rc = C.asx_influx_new(o, ixbuf, errbuf)
  local ix = ixbuf[0]
  ixbuf[0] = nil
  if rc ~= 0 then return nil, "influxdb: " .. ffi.string(errbuf[0]) end
  local self = setmetatable({ url = mask_url(url),
    close_timeout = close_timeout, closed = false, version = tonumber(o.version),
    start_ns = start and ffi.cast("int64_t", start * 1e6) * 1000 or nil }, Influx)
  -- A logger dropped unclosed is ended by its finalizer, which runs at
  -- whatever allocation starts a collection step: while a session runs,
  -- inside the loop, which closing would run again from inside itself (and
  -- with it the scheduler, resuming other agents in the middle of this
  -- one's call). It is abandoned there, elsewhere discarded: either way it
  -- sends nothing more, and says how many points it dropped (asx-host
  -- closes every logger still open at its end, lua/asx/host.lua).
  n_owners = n_owners + 1
  local id = n_owners
  owners[id] = self
  influx_handles[self] = ffi.gc(ix, function(p)
    local owner = owners[id]
    if owner ~= nil then
      -- Its last figures, the points it drops now among them: stats() gives
      -- them, flush() and close() have nothing left to do (all three
      -- raised), and send_event raises.
      local final = Influx.stats(owner)
      final.dropped, final.queued = final.dropped + final.queued, 0
      influx_handles[owner], owner.gone, owner.final = nil, true, final
    end
    owners[id] = nil
    local session = package.loaded["asx.session"]
    if session and session.running() or core.http_in_callback() then
      C.asx_influx_abandon(p)
    else
      C.asx_influx_discard(p)
    end
  end)
  if opts.session ~= nil or start then self:_session(opts.session, 0) end
  common.opened(self)
  return self
end

-- The exchange hands the book's raw event records to registered consumers
-- only (lua/asx/exchange.lua), so no Lua object can get a pointer into the book.
require("asx")
debug.getregistry()["asx.native_consumers"][Influx.consume_events] = true

return M
