-- A session's figures (Session:summary, the table asx-host prints at the
-- end of a run and --summary writes as JSON, lua/asx/summary_json.lua) and
-- its traders' totals. lua/asx/session.lua copies these methods into its
-- Session class.
local ipairs, pairs = ipairs, pairs
local flush_events = require("asx.exchange").flush_events
local hrtime = require("asx.core").hrtime
-- An agent's value by the account the session keeps (Session:_agents):
-- its metatable and its table are the strategy's, which may have changed
-- them.
local account_value = debug.getregistry()["asx.private"].account_value

local Session = {}

-- The figures a summary shows, as a table.
function Session:summary()
  local ex = self.exchange
  local st = ex:stats()
  -- Each instrument's prices; the whole exchange's are the first's when it
  -- has one instrument, as before there were several.
  local instruments, last, vwap = {}, {}, nil
  for i, name in ipairs(ex:instruments()) do
    local s = ex:stats(name)
    instruments[i] = { name = name, open = s.open, high = s.high, low = s.low, close = s.last }
    last[name] = s.last or 0
    -- A price, so the default instrument's, as open ... close are: prices
    -- of different instruments do not mix.
    if i == 1 and s.volume > 0 then vwap = s.notional / s.volume end
  end
  local wall = self._wall_from and hrtime() - self._wall_from or self.wall
  local out = {
    instruments = instruments,
    session_time = self:now(), wall_time = wall, seed = self.seed, clock = self.clock,
    agents = #self.traders, failed = self.failed, orders = st.orders, trades = st.trades,
    volume = st.volume, notional = st.notional, vwap = vwap,
    open = instruments[1].open, high = instruments[1].high, low = instruments[1].low,
    close = instruments[1].close, signal = self.sched:signal(),
    stopped_by = self.stopped_by, exit_code = self.exit_code,
    orders_per_sec = wall > 0 and st.orders / wall or 0,
    strategies = {},
  }
  -- By name: two classes of one name (a file given twice) are one
  -- strategy, their agents counted and valued together, in the printed
  -- summary, --summary's JSON and the report alike; its start, their
  -- agents' mean start.
  local by_cls, by_name = {}, {}
  for _, c in ipairs(self.class_list) do
    local start = c.money
    for name, v in pairs(c.positions) do start = start + v * last[name] end
    local r = by_name[c.name]
    if not r then
      r = { name = c.name, agents = 0, running = 0, finished = 0, failed = 0, stopped = 0,
        start_value = 0, value_sum = 0, best_value = nil }
      by_name[c.name] = r
      out.strategies[#out.strategies + 1] = r
    end
    r.agents = r.agents + c.agents
    r.start_value = r.start_value + start
    by_cls[c] = r
  end
  local sched = self.sched
  for i, _, c, acct in self:_agents() do
    local r = by_cls[c]
    local state = sched:state(i)
    if state == "finished" then
      r.finished = r.finished + 1
    elseif state == "failed" then
      r.failed = r.failed + 1
    elseif state == "stopped" then -- killed (Session:kill): no longer running
      r.stopped = r.stopped + 1
    else
      r.running = r.running + 1
    end
    -- Money and every position at its instrument's last price.
    local v = account_value(acct)
    r.value_sum = r.value_sum + v
    if r.best_value == nil or v > r.best_value then r.best_value = v end
  end
  for _, r in ipairs(out.strategies) do
    r.start_value = r.start_value / r.agents
    r.mean_value = r.value_sum / r.agents
    r.value_sum = nil
  end
  -- A detached logger missed the event it failed on and every one after,
  -- counted once the events held back for the report are numbered.
  local events = flush_events(ex)
  out.detached_loggers = {}
  for i, f in ipairs(self.logger_failures) do
    out.detached_loggers[i] = { name = f.name, missed = events - f.at + 1, logger = f.logger }
  end
  return out
end

-- Totals over the session's traders, for checks that nothing was created or
-- lost.
function Session:totals()
  local money, stocks = 0, 0
  for _, acct in ipairs(self.accounts) do
    money = money + tonumber(acct.money)
    stocks = stocks + tonumber(acct.stocks)
  end
  return money, stocks
end

return Session
