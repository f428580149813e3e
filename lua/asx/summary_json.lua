-- asx.summary_json: `asx-host --summary FILE.json`, the run's summary for
-- programs (asx-sweep reads it). It holds what the printed summary shows and
-- the figures a study compares:
--
--   seed, clock, duration (null: none), session_time, wall_time, stopped_by,
--   parameters   { ["CLASS.FIELD"] = value } from --set
--   orders, trades, volume, open, high, low, close (null before any trade)
--   vwap         volume-weighted average trade price
--   volatility   standard deviation of the one-second log returns
--   mean_spread  best ask - best bid, sampled each second (asx.sampler)
--   agents       { [strategy] = { agents, running, finished, failed } }
--   value        { [strategy] = { mean, median, min, max, start } }, where
--                value is money + each position x its last price
--   loggers      [ { logger, written, lost, missed } ] per logger (null: a
--                count that a logger of one's own does not keep)
--   status       asx-host's exit status
--
-- The file is written through asx.outfile: FILE.json.tmp, then renamed, so
-- a reader never sees half a summary, and a run that stopped early leaves none.
local cjson = require("cjson").new()
local event = require("asx.event")
local json = event.json
local params = require("asx.params")
local outfile = require("asx.outfile")
require("asx")
-- Each agent's value by its account (see lua/asx/summary.lua).
local account_value = debug.getregistry()["asx.private"].account_value

local M = {}

local null = cjson.null

local function opt(v) if v == nil then return null end return v end

-- The fields of a summary, as build makes them, for a study's report
-- fields, which lua/asx/sweep/study.lua checks before anything runs: true
-- for a figure; for agents and value, the fields each strategy has there;
-- "table" for a table whose keys a run decides (--set's); for a list, its
-- entries' fields under `list`.
M.FIELDS = {
  seed = true, clock = true, duration = true, session_time = true, wall_time = true, stopped_by = true,
  orders = true, trades = true, volume = true, open = true, high = true, low = true, close = true,
  vwap = true, volatility = true, mean_spread = true, status = true,
  parameters = "table",
  loggers = { list = { "logger", "lost", "missed", "written" } },
  agents = { "agents", "failed", "finished", "running" },
  value = { "max", "mean", "median", "min", "start" },
}

-- The keys that a study's report field f names in a summary, in order. Dots
-- separate them, but a strategy's name or a --set name may hold dots of its
-- own: agents.STRATEGY.x and value.STRATEGY.x take all between the first
-- and the last dot as the strategy ("value.my.maker.mean"), and
-- parameters.CLASS.FIELD all after the first as the name --set gave
-- ("parameters.market_maker.spread" is parameters["market_maker.spread"]).
-- A list's entry is its number, counted from 1 as Lua does
-- ("loggers.1.lost" is loggers[1].lost); any other text there is kept as
-- it is, for lua/asx/sweep/study.lua to refuse.
function M.field_keys(f)
  local first, rest = f:match("^([^.]*)%.(.+)$")
  local kind = M.FIELDS[first]
  if type(kind) == "table" and kind.list then
    local keys = { first }
    for part in rest:gmatch("[^.]+") do keys[#keys + 1] = part end
    if keys[2]:find("^[1-9]%d*$") then keys[2] = tonumber(keys[2]) end
    return keys
  elseif type(kind) == "table" then
    local name, stat = rest:match("^(.+)%.([^.]*)$")
    if name then return { first, name, stat } end
    return { first, rest }
  elseif first == "parameters" then
    return { first, rest }
  end
  local keys = {}
  for part in f:gmatch("[^.]+") do keys[#keys + 1] = part end
  return keys
end

-- The name of a signal that stopped the session, as the summaries say it.
M.signal_name = require("asx.signals").name

-- Whether path can be written (asx.outfile), before the session runs; a file
-- an earlier run left there is removed.
function M.check(path)
  local ok, err = outfile.check(path)
  if not ok then return nil, "--summary: " .. err end
  return true
end

local function value_stats(vs, start)
  table.sort(vs)
  local n, sum = #vs, 0
  for i = 1, n do sum = sum + vs[i] end
  local median = n % 2 == 1 and vs[(n + 1) / 2] or (vs[n / 2] + vs[n / 2 + 1]) / 2
  return { mean = sum / n, median = median, min = vs[1], max = vs[n], start = start }
end

-- The loggers' counts as a JSON array (an empty one, not {}, with none).
local function logger_counts(counts)
  local out = setmetatable({}, event.array_mt)
  for i, c in ipairs(counts or {}) do
    out[i] = { logger = c.logger, written = opt(c.written), lost = opt(c.lost), missed = c.missed or 0 }
  end
  return out
end

-- The summary as a Lua table (cjson.null for absent figures).
function M.build(s, opts, sampler, status, counts)
  local r = s:summary()
  local values = {}
  for _, c in ipairs(s.class_list) do values[c.name] = {} end
  for _, _, c, acct in s:_agents() do
    local vs = values[c.name]
    vs[#vs + 1] = account_value(acct)
  end
  -- By name, as Session:summary counts them: two classes of one name (a
  -- file given twice) are one strategy, their values pooled.
  local agents, value = {}, {}
  for _, st in ipairs(r.strategies) do
    agents[st.name] = { agents = st.agents, running = st.running, finished = st.finished, failed = st.failed }
    value[st.name] = value_stats(values[st.name], st.start_value)
  end
  local sig = r.signal
  return {
    seed = r.seed, clock = r.clock, duration = opt(opts.duration), session_time = r.session_time,
    wall_time = r.wall_time,
    -- As the printed summary says it: a signal, os.exit, --strict.
    stopped_by = sig and M.signal_name(sig) or opt(r.stopped_by),
    parameters = params.as_table(opts.sets),
    orders = r.orders, trades = r.trades, volume = r.volume,
    open = opt(r.open), high = opt(r.high), low = opt(r.low), close = opt(r.close),
    vwap = opt(r.vwap),
    volatility = opt(sampler:volatility()), mean_spread = opt(sampler:mean_spread()),
    agents = agents, value = value, status = status, loggers = logger_counts(counts),
  }
end

-- The summary as JSON text, every number exact (asx.event.json: lua-cjson
-- keeps 14 significant digits), keys sorted.
function M.encode(summary)
  return json(summary, null)
end

-- Writes the summary to path; returns true, or nil and the reason.
function M.write(path, s, opts, sampler, status, counts)
  local ok, err = outfile.write(path, M.encode(M.build(s, opts, sampler, status, counts)), "\n")
  if not ok then return nil, "--summary: " .. err end
  return true
end

return M
