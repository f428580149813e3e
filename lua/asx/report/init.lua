-- asx.report: the session as one self-contained HTML page, for
-- `asx-host --report FILE.html` and the REPL's report().
--
--   local report = require("asx.report")
--   local R = report.attach(session)      -- before session:run()
--   session:run()
--   local ok, err = R:write("run.html", { parameters = ... })
--
-- R is a logger on the session's exchange: it takes the book's records
-- through consume_events and folds them into candles (asx.report.candles),
-- so what it keeps grows with session time, not with trades. Once per
-- session second, on the scheduler's tick, it samples the spread and each
-- strategy's mean value (asx.report.series). write() adds the book's depth
-- and the summary at that moment and fills the page template, which the
-- build makes from web/ with the charting library inlined (asx/report.html,
-- beside the native module).
local cjson = require("cjson").new()
require("asx")
local candles = require("asx.report.candles")
local series = require("asx.report.series")
local html = require("asx.report.html")

-- lua-cjson keeps at most 14 significant digits: prices, amounts and
-- counts are exact below 10^14.
cjson.encode_number_precision(14)

local M = {}

-- Levels of each side the page's depth chart shows.
M.DEPTH_LEVELS = 500

local Report = {}
Report.__index = Report

local floor = math.floor

-- The report attached to each exchange, for the REPL's commands.
local by_exchange = setmetatable({}, { __mode = "k" })

-- The report attached to an exchange, or nil.
function M.of(ex)
  return by_exchange[ex]
end

-- Attaches a report to a session that has not run yet. opts.on_tick is
-- called with the time of each tick too: the scheduler has one tick hook,
-- which the report then shares (asx.sampler's take, for --summary).
function M.attach(s, opts)
  opts = opts or {}
  local self = setmetatable({ session = s, candles = candles.new(), series = series.new(),
    on_tick = opts.on_tick, sampled = -1 }, Report)
  self.tick = function(now) self:_sample(now) end
  s.exchange:add_logger(self)
  s.sched:on_tick(self.tick, 1)
  by_exchange[s.exchange] = self
  return self
end

function Report:consume_events(ptr, n)
  if ptr == nil then error("bad argument #1 to 'consume_events' (event records expected, got nil)", 2) end
  self.candles:consume(ptr, n)
end
-- The exchange hands the book's raw records to registered consumers only
-- (lua/asx/exchange.lua).
debug.getregistry()["asx.native_consumers"][Report.consume_events] = true

-- Takes the spread and the strategies' mean values for every whole second
-- up to session time now: a tick comes before the first wake-up due at or
-- after a second, so the market it sees is the one those seconds saw.
function Report:_sample(now)
  if self.on_tick then self.on_tick(now) end
  local upto = floor(now)
  if upto <= self.sampled then return end
  local s = self.session
  local ex = s.exchange
  local bid, ask = ex:best_bid(), ex:best_ask()
  local price = ex:last_price() or 0
  local sums, by_cls = {}, {}
  for _, c in ipairs(s.class_list) do
    by_cls[c.cls] = c
    sums[c] = 0
  end
  local traders = s.traders
  -- With several instruments each position counts at its own last price.
  local several = #s.instrument_names > 1
  for i = 1, #traders do
    local t = traders[i]
    local c = by_cls[getmetatable(t)]
    sums[c] = sums[c] + (several and t:value() or t.money + t.stocks * price)
  end
  local values = { spread = bid and ask and ask - bid or false }
  for c, sum in pairs(sums) do values["value " .. c.name] = c.agents > 0 and sum / c.agents end
  self.series:fill(self.sampled + 1, upto, values)
  self.sampled = upto
end

-- The book's levels on one side, best first, as { price, amount, orders }.
local function levels(ex, side)
  local out = {}
  for i, l in ipairs(ex:depth(side, M.DEPTH_LEVELS)) do out[i] = { l.price, l.amount, l.orders } end
  return out
end

local function opt(v)
  if v == nil then return cjson.null end
  return v
end

-- What the page draws, as a Lua table (see the README's Reports section).
-- extra.parameters: the --set values; extra.duration, extra.title.
function Report:data(extra)
  extra = extra or {}
  local s = self.session
  self:_sample(s:now())
  local r = s:summary()
  local strategies, values = {}, {}
  for i, st in ipairs(r.strategies) do
    local c = s.class_list[i]
    strategies[i] = { name = st.name, agents = st.agents, running = st.running,
      finished = st.finished, failed = st.failed, money = c.money / c.agents,
      stocks = c.stocks / c.agents, start_value = st.start_value, mean_value = st.mean_value,
      best_value = opt(st.best_value) }
    values[st.name] = self.series:points("value " .. st.name)
  end
  local ex = s.exchange
  local cs = self.candles
  return {
    version = 1,
    title = extra.title or "asx session",
    session = {
      seed = r.seed, clock = r.clock, duration = opt(extra.duration or s.duration),
      session_time = r.session_time, wall_time = r.wall_time,
      stopped_by = opt(r.signal and (r.signal == 2 and "SIGINT" or r.signal == 15 and "SIGTERM"
        or ("signal " .. r.signal)) or r.stopped_by),
      parameters = extra.parameters or {},
    },
    summary = {
      orders = r.orders, trades = r.trades, volume = r.volume,
      open = opt(r.open), high = opt(r.high), low = opt(r.low), close = opt(r.close),
      vwap = r.volume > 0 and r.notional / r.volume or cjson.null,
      orders_per_sec = r.orders_per_sec,
    },
    strategies = strategies,
    interval = cs.interval,
    intervals = candles.LADDER,
    candles = cs:candles(),
    activity = cs:activity(),
    sample_period = self.series.period,
    spread = self.series:points("spread"),
    values = values,
    book = { bids = levels(ex, "buy"), asks = levels(ex, "sell") },
  }
end

function Report:json(extra)
  return cjson.encode(self:data(extra))
end

-- Writes the page to path; true, or nil and the reason.
function Report:write(path, extra)
  return html.write(path, self:json(extra))
end

-- Detaches the report from the exchange; the data stays.
function Report:close()
  self.session.exchange:remove_logger(self)
  by_exchange[self.session.exchange] = nil
  return true
end

function Report.__tostring()
  return "report logger"
end

return M
