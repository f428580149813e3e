-- asx.http: `asx-host --http [HOST:]PORT`, the live page of a running
-- session, served from the session's own libuv loop (libh2o; see
-- src/asx_httpd.h).
--
--   local http = require("asx.http")
--   local host, port = http.parse_address("8080")     -- "127.0.0.1", 8080
--   local srv = assert(http.serve(session, report, { host = host, port = port, control = false }))
--   srv.url                                           -- "http://127.0.0.1:8080/"
--   session:run(); srv:close()
--
-- GET /               the report page in live mode (the data so far, then
--                     the stream)
-- GET /api/summary    the session's figures, as JSON
-- GET /api/book?depth=N  the top N levels of each side (default 10), as
--                     { time, bids = { {price, amount, orders}, ... }, asks }
-- GET /api/stream     server-sent events, sent every STREAM_EVERY wall
--                     seconds whatever the session's pace: `candle` (the
--                     candles and activity changed since the last),
--                     `series` (the spread and value samples since the
--                     last), `book` (as /api/book), `trade` (the trades
--                     since the last, at most TRADES_KEPT), `session`
--                     (clock, state, figures, agents by state), and once
--                     a second and at the end `tables` (the page's
--                     summary and strategies tables, as /api/summary has
--                     them)
-- POST /api/control   only with control = true (--http-control): a JSON
--                     body { "action": "pause" | "resume" | "step" | "speed",
--                     "seconds": s, "x": factor }
-- Any other method is refused with 405 by the server, with the methods the
-- path takes in Allow: POST for /api/control (none without control), GET
-- and HEAD for the others; an unknown path is 404. The server normalises
-- the path before all this (src/asx_urlpath.h); the query is decoded here.
local cjson = require("cjson").new()
local core = require("asx.core")
require("asx")
local html = require("asx.report.html")

local json = require("asx.event").json
-- The prompt's and s:speed's words, so that the live page says the same.
local NO_SPEED = require("asx.session").NO_SPEED

-- Every number exact, where lua-cjson keeps 14 significant digits.
local function encode(v) return json(v, cjson.null) end

local M = {}

M.STREAM_EVERY = 0.25
M.TRADES_KEPT = 50
M.BOOK_DEPTH = 10
local MAX_DEPTH = 1000

-- "[HOST:]PORT" -> host, port; nil, err when it is not one. An IPv6 host
-- is written in brackets: [::1]:8080.
function M.parse_address(s)
  if type(s) ~= "string" then return nil, "[HOST:]PORT expected" end
  local host, port = s:match("^%[([%x:.]+)%]:(%d+)$")
  if not host then host, port = s:match("^([^:]+):(%d+)$") end
  if not host then host, port = "127.0.0.1", s:match("^(%d+)$") end
  port = tonumber(port)
  if not port or port > 65535 then return nil, ("'%s': [HOST:]PORT expected"):format(s) end
  if host == "localhost" then host = "127.0.0.1" end
  return host, port
end

-- Whether a host address is this machine's loopback.
local function is_loopback(host)
  return host:match("^127%.") ~= nil or host == "::1"
end

-- The last trades, in a ring: a logger with a cheap consume_events.
local Tape = {}
Tape.__index = Tape
local C = require("asx.ffi").C
local EV_TRADE = C.ASX_EV_TRADE

local function new_tape(n)
  return setmetatable({ n = n, count = 0, ring = {} }, Tape)
end

function Tape:consume_events(ptr, n)
  if ptr == nil then error("bad argument #1 to 'consume_events' (event records expected, got nil)", 2) end
  for i = 0, n - 1 do
    local e = ptr[i]
    -- The default instrument's trades: the page follows it.
    if e.type == EV_TRADE and e.instrument == 0 then
      local c = self.count + 1
      self.count = c
      self.ring[(c - 1) % self.n + 1] = { e.time, tonumber(e.price), tonumber(e.amount),
        e.side == C.ASX_BUY and "buy" or "sell" }
    end
  end
end

-- The exchange hands the book's raw records to registered consumers only
-- (lua/asx/exchange.lua).
debug.getregistry()["asx.native_consumers"][Tape.consume_events] = true

-- The trades after the first `since` ones, oldest first (at most n).
function Tape:since(since)
  local out = {}
  for c = math.max(since + 1, self.count - self.n + 1), self.count do
    out[#out + 1] = self.ring[(c - 1) % self.n + 1]
  end
  return out
end

local function levels(ex, side, depth)
  local out = {}
  for i, l in ipairs(ex:depth(side, depth)) do out[i] = { l.price, l.amount, l.orders } end
  return out
end

local function book(s, depth)
  local ex = s.exchange
  return { time = s:now(), bids = levels(ex, "buy", depth), asks = levels(ex, "sell", depth) }
end

local function agents_by_state(s)
  local counts = {}
  local sched = s.sched
  for i = 1, #s.traders do
    local st = sched:state(i)
    counts[st] = (counts[st] or 0) + 1
  end
  return counts
end

local function session_event(s, counts)
  local ex = s.exchange
  local st = ex:stats()
  -- The last price is the default instrument's, as the page's: the whole
  -- exchange's stats have none with several instruments, and the page's
  -- last price went blank at the stream's first message.
  return { time = s:now(), clock = s.clock, state = s:state(), orders = st.orders, trades = st.trades,
    volume = st.volume, last = ex:last_price() or cjson.null, agents = counts }
end

local function json_response(v)
  return 200, "application/json", encode(v)
end

local function unescape(s)
  return (s:gsub("+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- The query of a request's path as a table of its names and values,
-- percent-decoded, "+" a space (as forms send it; the last of a repeated
-- name wins); or nil and what is wrong (the server normalised the path
-- before it, src/asx_urlpath.h, and left the query as it came).
local function query(path)
  local s = path:match("%?(.*)$") or ""
  for at in s:gmatch("()%%") do
    if not s:find("^%x%x", at + 1) then
      return nil, ("query: '%%' at byte %d is not followed by two hex digits"):format(at)
    end
  end
  local q = {}
  for k, v in s:gmatch("([^&=]+)=([^&]*)") do q[unescape(k)] = unescape(v) end
  return q
end

-- The integer a query gives for name, from lo to hi, or default when it
-- gives none; or nil and the 400's text, which names it. Every numeric
-- query parameter is read here. A number is decimal digits only: tonumber
-- took 1e2, 0x10, " 5" and 10.0 as well, spellings no client means.
local function query_integer(q, name, default, lo, hi)
  local v = q[name]
  if v == nil then return default end
  local n = v:find("^%d+$") and tonumber(v)
  if not n or n < lo or n > hi then
    return nil, ("%s: integer from %d to %d (decimal digits) expected"):format(name, lo, hi)
  end
  return n
end

-- Listens on opts.host and opts.port (0: any free one), with POST taken at
-- /api/control when opts.control, before there is a session to serve:
-- asx-host listens before it opens the log files, so that an address it
-- cannot listen on is a bad command line that truncated no log. Until
-- M.serve takes it over, a request (should a logger run the loop) is
-- answered 503. Returns the listener, or nil and the reason.
function M.listen(opts)
  local handlers = {
    on_request = function() return 503, "text/plain", "the session is starting\n" end,
    on_tick = function() end,
  }
  local srv, err = core.http_listen({ host = opts.host, port = opts.port,
    on_request = function(...) return handlers.on_request(...) end,
    every = M.STREAM_EVERY, on_tick = function() return handlers.on_tick() end,
    post = "/api/control", post_off = not opts.control })
  if not srv then return nil, ("cannot serve on %s:%d: %s"):format(opts.host, opts.port, err) end
  return { srv = srv, handlers = handlers, host = opts.host, control = opts.control }
end

-- Serves the live page of session s, whose report R is attached, on
-- opts.listener (M.listen), else on a new one of opts.host, opts.port and
-- opts.control. Returns the server ({ url, host, port, close }), or nil and
-- the reason.
function M.serve(s, R, opts)
  local listener = opts.listener
  if not listener then
    local err
    listener, err = M.listen(opts)
    if not listener then return nil, err end
  end
  local tape = new_tape(M.TRADES_KEPT)
  s.exchange:add_logger(tape)
  local control = listener.control
  if control then s._resumable = true end
  local sent_trades, ticks = 0, 0
  -- What the stream has sent (see on_tick).
  local sent_interval, sent_candle, sent_events, sent_period, sent_sample
  -- The session time, interval and sample period of the last page served.
  local served
  local counts = agents_by_state(s)

  local function event(name, v)
    return "event: " .. name .. "\ndata: " .. encode(v) .. "\n\n"
  end

  local function do_control(body)
    local ok, req = pcall(cjson.decode, body)
    if not ok or type(req) ~= "table" then return 400, "text/plain", "JSON body expected\n" end
    local a = req.action
    local state = s:state()
    if state == "ended" or state == "new" then return 409, "text/plain", "the session is " .. state .. "\n" end
    if a == "pause" then
      s:pause(true)
    elseif a == "resume" then
      s:pause(false)
    elseif a == "step" then
      -- Absent, one second; a value that is no number ("abc", null) is a
      -- bad body, where it stepped one second as if absent.
      local secs = req.seconds
      if secs == nil then secs = 1 end
      if not (type(secs) == "number" and secs > 0 and secs < math.huge) then
        return 400, "text/plain", "seconds: positive number\n"
      end
      if s:stepping() then return 409, "text/plain", "a step is under way\n" end
      s:pause(true)
      s:step(secs)
    elseif a == "speed" then
      local x = req.x
      if s.clock ~= "real" then return 409, "text/plain", NO_SPEED .. "\n" end
      if not (type(x) == "number" and x > 0 and x < math.huge) then return 400, "text/plain", "x: positive number\n" end
      s:speed(x)
    else
      return 400, "text/plain", "action: pause, resume, step or speed\n"
    end
    return json_response({ state = s:state(), time = s:now() })
  end

  -- The server lets through GET and HEAD, and POST to /api/control with
  -- control only (nothing else there): it refuses the rest (src/asx_httpd.h).
  local function on_request(method, path, body)
    local route = path:match("^[^?]*")
    if method == "POST" then return do_control(body) end
    -- Every route's query is checked, whether the route reads it or not:
    -- a bad escape is the client's mistake wherever it was sent.
    local q, qerr = query(path)
    if not q then return 400, "text/plain", qerr .. "\n" end
    if route == "/" or route == "/index.html" then
      -- HEAD: the page's headers, with no page made, so that no stream
      -- takes it as the page a new client has.
      if method == "HEAD" then return 200, "text/html; charset=utf-8", "" end
      local data = R:data({ title = "asx session (live)" })
      served = { time = data.session.session_time, interval = data.interval, period = data.sample_period }
      data.live = { control = control and true or false, every = M.STREAM_EVERY,
        trades = tape:since(math.max(0, tape.count - 20)) }
      local page, err = html.page(encode(data))
      if not page then return 500, "text/plain", err .. "\n" end
      return 200, "text/html; charset=utf-8", page
    elseif route == "/api/summary" then
      local d = R:data()
      return json_response({ session = d.session, summary = d.summary, strategies = d.strategies,
        time = s:now(), state = s:state() })
    elseif route == "/api/book" then
      local n, bad = query_integer(q, "depth", M.BOOK_DEPTH, 1, MAX_DEPTH)
      if not n then return 400, "text/plain", bad .. "\n" end
      return json_response(book(s, n))
    elseif route == "/api/stream" then
      -- HEAD gets the headers only (src/asx_httpd.c), and no client comes.
      if method == "HEAD" then return "stream" end
      -- The new client has the page of a moment ago (or none): the next
      -- messages start from the time that page was made, so that it misses
      -- nothing in between, or from 0 when its interval or period is no
      -- longer the stream's.
      local p = served
      if p and p.interval == sent_interval and p.period == sent_period then
        sent_candle = math.min(sent_candle, math.floor(p.time / p.interval) * p.interval)
        sent_sample = math.min(sent_sample, math.floor(p.time))
        sent_events = -1
      else
        sent_interval, sent_period = nil, nil
      end
      return "stream"
    end
    return 404, "text/plain", "not found\n"
  end

  -- Every STREAM_EVERY wall seconds: what changed, to every open stream.
  -- The newest interval may still change, so each candle message starts
  -- again from the last one sent; a series message starts after the last
  -- sample sent. `from` is that session time: the page replaces what it
  -- has from there on. When the candles moved to a coarser interval, or the
  -- samples to a longer period, everything goes again (from 0).
  local srv = listener.srv
  local function on_tick(last)
    ticks = ticks + 1
    local cs = R.candles
    local parts = {}
    local iv, slots = cs:interval(), cs:slots()
    if iv ~= sent_interval then sent_interval, sent_candle, sent_events = iv, 0, -1 end
    local events = s.exchange.events
    if slots > 0 and events ~= sent_events then
      local from = sent_candle
      sent_events = events
      sent_candle = (slots - 1) * iv
      parts[#parts + 1] = event("candle", { interval = iv, from = from, candles = cs:candles(from),
        activity = cs:activity(from) })
    end
    local sr = R.series
    if sr.period ~= sent_period then sent_period, sent_sample = sr.period, 0 end
    local latest = sr:latest()
    if latest and latest >= sent_sample then
      local m = R:samples(sent_sample)
      m.from = sent_sample
      -- Samples are taken at whole seconds and never change once taken.
      sent_sample = latest + 1
      parts[#parts + 1] = event("series", m)
    end
    local trades = tape:since(sent_trades)
    sent_trades = tape.count
    if #trades > 0 then parts[#parts + 1] = event("trade", trades) end
    parts[#parts + 1] = event("book", book(s, M.BOOK_DEPTH))
    -- Counting agents is one look per agent: once a second is enough. The
    -- tables value every agent too; the page drew them once and never
    -- again, and the last figures go with the end of the stream.
    local second = ticks % math.max(1, math.floor(1 / M.STREAM_EVERY)) == 0
    if second then counts = agents_by_state(s) end
    if second or last then parts[#parts + 1] = event("tables", R:tables()) end
    parts[#parts + 1] = event("session", session_event(s, counts))
    srv:broadcast(table.concat(parts))
  end

  listener.handlers.on_request, listener.handlers.on_tick = on_request, on_tick
  local host = listener.host
  local port = srv:port()
  local shown = host:find(":", 1, true) and ("[" .. host .. "]") or host
  return {
    host = host, port = port, url = ("http://%s:%d/"):format(shown, port),
    close = function()
      on_tick(true) -- the last figures, then the end of every stream
      srv:close()
      s.exchange:remove_logger(tape)
    end,
    dropped = function() return srv:dropped() end,
  }
end

-- What asx-host does for --http: serves session s (with its report R, or
-- a new one) on listener (M.listen) or opts.http ({ host, port }), prints
-- the URL on stderr, and a warning for an address other machines can
-- reach. Returns the server, or nil and the reason.
function M.start(s, R, opts, prog, listener)
  R = R or require("asx.report").attach(s)
  local srv, err = M.serve(s, R, { host = opts.http.host, port = opts.http.port,
    control = opts.http_control, listener = listener })
  if not srv then return nil, err end
  if not is_loopback(srv.host) then
    io.stderr:write(("%s: warning: --http on %s: other machines can see this session%s\n"):format(prog,
      srv.host, opts.http_control and " and control it" or ""))
  end
  io.stderr:write(("%s: live page at %s%s\n"):format(prog, srv.url,
    opts.http_control and " (with controls)" or ""))
  io.stderr:flush()
  return srv
end

return M
