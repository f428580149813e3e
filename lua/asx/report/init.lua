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
-- so what it keeps grows with session time, not with trades. While it is
-- the exchange's only logger the book hands the records to the fold itself,
-- in batches, and the candles ask for the rest before they are read. Once per
-- session second, on the scheduler's tick, it samples the spread and each
-- strategy's mean value (asx.report.series). write() adds the book's depth
-- and the summary at that moment and fills the page template, which the
-- build makes from web/ with the charting library inlined (asx/report.html,
-- beside the native module).
local cjson = require("cjson").new()
local asx = require("asx")
local candles = require("asx.report.candles")
local series = require("asx.report.series")
local check_consume_events = require("asx.loggers.common").check_consume_events
local html = require("asx.report.html")
local signal_name = require("asx.summary_json").signal_name
-- Each agent's value by its account (see lua/asx/summary.lua).
local account_value = debug.getregistry()["asx.private"].account_value

-- The page's data as JSON, every number exact (lua-cjson keeps 14
-- significant digits).
local json = require("asx.event").json

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
  local ex = s.exchange
  self.candles.sync = function() asx._flush_events(ex) end
  self.tick = function(now) self:_sample(now) end
  s.exchange:add_logger(self)
  s.sched:on_tick(self.tick, 1)
  by_exchange[s.exchange] = self
  return self
end

function Report:consume_events(ptr, n)
  check_consume_events(self, ptr, n)
  self.candles:consume(ptr, n)
end
-- The exchange hands the book's raw records to registered consumers only
-- (lua/asx/exchange.lua); while the report is its only logger, the book
-- hands them to the candles' fold itself, in batches.
debug.getregistry()["asx.native_consumers"][Report.consume_events] = function(R)
  local cs = rawget(R, "candles")
  if candles.is_candles(cs) then return cs:sink() end
  return nil
end

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
  local values = { spread = bid and ask and ask - bid or false }
  -- By strategy name: two classes of one name (a file given twice) are
  -- one strategy, their agents valued together.
  local agents = {}
  for _, c in ipairs(s.class_list) do agents[c.name] = (agents[c.name] or 0) + c.agents end
  if #s.instrument_names > 1 then
    -- With several instruments each position counts at its own last price.
    local sums = {}
    for _, c in ipairs(s.class_list) do sums[c.name] = 0 end
    for _, _, c, acct in s:_agents() do sums[c.name] = sums[c.name] + account_value(acct) end
    for name, sum in pairs(sums) do values["value " .. name] = agents[name] > 0 and sum / agents[name] end
  else
    -- Balances are integers below 2^53, so the sums are exact, and the
    -- same as the sum of each trader's money + stocks x price.
    local money, stocks = {}, {}
    for c, accts in pairs(self:_accounts()) do
      local m, n = money[c.name] or 0, stocks[c.name] or 0
      for i = 1, #accts do
        local a = accts[i]
        m = m + tonumber(a.money)
        n = n + tonumber(a.stocks)
      end
      money[c.name], stocks[c.name] = m, n
    end
    for name, m in pairs(money) do
      values["value " .. name] = agents[name] > 0 and (m + stocks[name] * price) / agents[name]
    end
  end
  self.series:fill(self.sampled + 1, upto, values)
  self.sampled = upto
end

-- Each strategy's accounts: { [class] = { asx_account, ... } }, read
-- directly at each sample rather than through every trader's fields; made
-- again when the session has another number of agents (spawn).
function Report:_accounts()
  local s = self.session
  local traders = s.traders
  if self.accounts_of ~= #traders then
    local lists = {}
    for _, c in ipairs(s.class_list) do lists[c] = {} end
    for _, _, c, acct in s:_agents() do
      local l = lists[c]
      l[#l + 1] = acct
    end
    self.accounts, self.accounts_of = lists, #traders
  end
  return self.accounts
end

-- The samples at or after session time from (default: all), as the page
-- draws them: { period, spread = { {time, value}, ... }, values = { [strategy
-- name] = { {time, value}, ... } } }.
function Report:samples(from)
  local sr = self.series
  local values = {}
  for _, c in ipairs(self.session.class_list) do
    values[c.name] = sr:points("value " .. c.name, from)
  end
  return { period = sr.period, spread = sr:points("spread", from), values = values }
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

-- The page's summary and strategies tables from a session's summary r
-- (Session:summary): what the page draws there, and what the live page's
-- stream sends again to keep them up to date (asx.http).
local function tables(s, r)
  -- By name, as Session:summary counts them: two classes of one name (a
  -- file given twice) are one strategy. A row per class drew a second line
  -- for the name, which the live page then never updated.
  local strategies, of_name = {}, {}
  for i, st in ipairs(r.strategies) do
    local m = { name = st.name, agents = st.agents, running = st.running, finished = st.finished,
      failed = st.failed, stopped = st.stopped, money = 0, stocks = 0, start_value = st.start_value,
      mean_value = st.mean_value, best_value = opt(st.best_value) }
    of_name[st.name] = m
    strategies[i] = m
  end
  for _, c in ipairs(s.class_list) do
    local m = of_name[c.name]
    m.money, m.stocks = m.money + c.money, m.stocks + c.stocks
  end
  for _, m in ipairs(strategies) do m.money, m.stocks = m.money / m.agents, m.stocks / m.agents end
  local summary = {
    orders = r.orders, trades = r.trades, volume = r.volume,
    open = opt(r.open), high = opt(r.high), low = opt(r.low), close = opt(r.close),
    vwap = opt(r.vwap),
    orders_per_sec = r.orders_per_sec,
  }
  return summary, strategies
end

-- The summary and strategies tables of the moment, as Report:data has
-- them: { summary, strategies }.
function Report:tables()
  local s = self.session
  local summary, strategies = tables(s, s:summary())
  return { summary = summary, strategies = strategies }
end

-- What the page draws, as a Lua table (see the README's Reports section).
-- extra.parameters: the --set values; extra.duration, extra.title.
function Report:data(extra)
  extra = extra or {}
  local s = self.session
  self:_sample(s:now())
  local r = s:summary()
  local summary, strategies = tables(s, r)
  local ex = s.exchange
  local cs = self.candles
  local samples = self:samples()
  return {
    version = 1,
    title = extra.title or "asx session",
    session = {
      seed = r.seed, clock = r.clock, duration = opt(extra.duration or s.duration),
      session_time = r.session_time, wall_time = r.wall_time,
      stopped_by = opt(r.signal and signal_name(r.signal) or r.stopped_by),
      -- "ended", or a page of a session that goes on (report() at the
      -- prompt): the page then says so, not what stopped it.
      state = s:state(),
      parameters = extra.parameters or {},
    },
    summary = summary,
    strategies = strategies,
    interval = cs:interval(),
    intervals = candles.LADDER,
    candles = cs:candles(),
    activity = cs:activity(),
    sample_period = samples.period,
    spread = samples.spread,
    values = samples.values,
    book = { bids = levels(ex, "buy"), asks = levels(ex, "sell") },
  }
end

-- The data as JSON: every number exact, every text valid UTF-8 whatever
-- bytes a strategy's name or a --set text holds (asx.event.json).
function Report:json(extra)
  return json(self:data(extra), cjson.null)
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
