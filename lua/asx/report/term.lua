-- asx.report.term: candles drawn with Unicode block characters, for the
-- REPL's chart() on a terminal (over SSH, where no browser is at hand).
--
--   print(require("asx.report.term").draw(candles, { width = 80, height = 12 }))
--
-- candles are { time, open, high, low, close, volume } arrays, oldest first
-- (asx.report.candles); the newest that fit the width are drawn, one column
-- each: a body of "█" for a candle that closed at or above its open, "░"
-- for one that closed below, and "│" for the wicks; with color = true the
-- bodies are also green and red. Prices run down the right-hand side, the
-- session times of the first and last candle along the bottom.
local M = {}

local floor, max, min = math.floor, math.max, math.min
local concat = table.concat

local UP, DOWN, WICK = "█", "░", "│"
local GREEN, RED, RESET = "\27[32m", "\27[31m", "\27[0m"

local function clock(t)
  t = floor(t)
  local h, m, s = floor(t / 3600), floor(t % 3600 / 60), t % 60
  if h > 0 then return ("%d:%02d:%02d"):format(h, m, s) end
  return ("%d:%02d"):format(m, s)
end

local function price_label(p)
  if p % 1 == 0 then return ("%d"):format(p) end
  return ("%.1f"):format(p)
end

-- The chart as text (lines joined by "\n", no final newline).
function M.draw(candles, opts)
  opts = opts or {}
  local height = opts.height or 12
  if #candles == 0 then return "no trades yet" end
  local lo, hi = math.huge, -math.huge
  for _, c in ipairs(candles) do
    lo, hi = min(lo, c[4]), max(hi, c[3])
  end
  local label_width = max(#price_label(lo), #price_label(hi)) + 1
  local cols = max(1, (opts.width or 80) - label_width - 1)
  local first = max(1, #candles - cols + 1)
  lo, hi = math.huge, -math.huge
  for i = first, #candles do
    lo, hi = min(lo, candles[i][4]), max(hi, candles[i][3])
  end
  -- Row r (0 at the top) holds the prices from hi - (r + 1) x step to
  -- hi - r x step; a flat market gets one row in the middle.
  local step = (hi - lo) / height
  local function row(p)
    if step == 0 then return floor(height / 2) end
    return min(height - 1, max(0, floor((hi - p) / step)))
  end
  local grid = {}
  for r = 0, height - 1 do
    grid[r] = {}
    for x = 1, #candles - first + 1 do grid[r][x] = " " end
  end
  for i = first, #candles do
    local c = candles[i]
    local x = i - first + 1
    local up = c[5] >= c[2]
    local body = up and UP or DOWN
    if opts.color then body = (up and GREEN or RED) .. body .. RESET end
    for r = row(c[3]), row(c[4]) do grid[r][x] = WICK end
    for r = row(max(c[2], c[5])), row(min(c[2], c[5])) do grid[r][x] = body end
  end
  local lines = {}
  for r = 0, height - 1 do
    local label = ""
    if step == 0 then
      if r == row(lo) then label = price_label(lo) end
    elseif r == 0 then
      label = price_label(hi)
    elseif r == height - 1 then
      label = price_label(lo)
    elseif r == floor(height / 2) then
      label = price_label((hi + lo) / 2)
    end
    lines[#lines + 1] = concat(grid[r]) .. " " .. label
  end
  local n = #candles - first + 1
  local from, to = clock(candles[first][1]), clock(candles[#candles][1])
  local gap = max(1, n - #from - #to)
  lines[#lines + 1] = n > #from + #to and (from .. (" "):rep(gap) .. to) or to
  return concat(lines, "\n")
end

return M
