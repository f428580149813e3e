-- asx.report.series: figures sampled over session time, in bounded memory,
-- for the report page's spread and strategy-value charts.
--
--   local sr = require("asx.report.series").new()
--   sr:sample(now, { spread = 2, ["value momentum"] = 301.5 })  -- nil: no value
--   sr:points("spread")  -- { {time, value}, ... }, oldest first
--   sr:points("spread", t)  -- those at or after time t
--
-- A sample is kept when its time is a multiple of the current period (from
-- 1 s). When MAX_POINTS samples are held, every other one is dropped and the
-- period doubles: a long session keeps up to MAX_POINTS evenly spaced
-- samples, a short one every second.
local floor = math.floor

local M = {}

M.MAX_POINTS = 2000

local Series = {}
Series.__index = Series

function M.new(max_points)
  return setmetatable({ period = 1, times = {}, cols = {}, max_points = max_points or M.MAX_POINTS },
    Series)
end

-- Halves the samples held: the ones at odd multiples of the period go.
function Series:_thin()
  self.period = self.period * 2
  local times, keep = self.times, {}
  local n = 0
  for i = 1, #times do
    if times[i] % self.period == 0 then
      n = n + 1
      keep[n] = i
    end
  end
  local new_times = {}
  for j = 1, n do new_times[j] = times[keep[j]] end
  self.times = new_times
  for name, col in pairs(self.cols) do
    local new = {}
    for j = 1, n do new[j] = col[keep[j]] end
    self.cols[name] = new
  end
end

-- Records the values at time t (whole seconds, increasing); a value that is
-- false is a gap. A figure first seen now has gaps before.
function Series:sample(t, values)
  if t % self.period ~= 0 then return end
  local times = self.times
  if #times > 0 and times[#times] == t then return end
  if #times >= self.max_points then
    self:_thin()
    if t % self.period ~= 0 then return end
    times = self.times
  end
  local i = #times + 1
  times[i] = t
  local cols = self.cols
  for name in pairs(values) do
    if not cols[name] then
      local col = {}
      for j = 1, i - 1 do col[j] = false end
      cols[name] = col
    end
  end
  for name, col in pairs(cols) do col[i] = values[name] or false end
end

-- Records the same values at every whole second from..to: the seconds
-- between two wake-ups of a session saw the same market. Only the multiples
-- of the period are visited (the others are not kept), so a gap of 1e9 s
-- (agents that sleep for ever) takes a few thousand steps, where a step a
-- second took minutes and past 2^53 s never ended.
function Series:fill(from, to, values)
  local t = from
  while t <= to do
    self:sample(t, values)
    local p = self.period
    t = (floor(t / p) + 1) * p
  end
end

-- The samples of one figure that have a value: { {time, value}, ... },
-- those at or after time from (default: all).
function Series:points(name, from)
  local col, out = self.cols[name], {}
  if not col then return out end
  from = from or -math.huge
  for i, t in ipairs(self.times) do
    if col[i] and t >= from then out[#out + 1] = { t, col[i] } end
  end
  return out
end

-- The time of the latest sample, or nil before the first.
function Series:latest()
  return self.times[#self.times]
end

return M
