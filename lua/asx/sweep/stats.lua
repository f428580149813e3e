-- The statistics of a study's summary.csv: over the seeds of one parameter
-- point, a metric's mean, its sample standard deviation (n - 1 in the
-- denominator) and a 95% confidence interval for its mean,
--
--   mean -/+ t(0.975, n - 1) * sd / sqrt(n),
--
-- with Student's t quantile, since a study has few seeds per point and the
-- normal 1.96 would make the intervals too narrow (with 5 seeds, t is 2.78).
-- The interval assumes the runs' outcomes are independent and roughly
-- normal across seeds; it needs n >= 2.
local sqrt = math.sqrt

local M = {}

-- t(0.975, df) for df = 1 .. 30, to nine decimals.
local T975 = {
  12.706204736, 4.302652730, 3.182446305, 2.776445105, 2.570581836, 2.446911851, 2.364624252,
  2.306004135, 2.262157163, 2.228138852, 2.200985160, 2.178812830, 2.160368656, 2.144786688,
  2.131449546, 2.119905299, 2.109815578, 2.100922040, 2.093024054, 2.085963447, 2.079613845,
  2.073873068, 2.068657610, 2.063898562, 2.059538553, 2.055529439, 2.051830516, 2.048407142,
  2.045229642, 2.042272456,
}
local Z975 = 1.959963984540054

-- The 0.975 quantile of Student's t with df degrees of freedom: the table up
-- to 30, above it the Cornish-Fisher expansion around the normal quantile
-- (Abramowitz and Stegun 26.7.5), within 1e-7 there.
function M.t975(df)
  assert(df >= 1 and df % 1 == 0, "t975: positive integer degrees of freedom expected")
  if df <= 30 then return T975[df] end
  local z = Z975
  local z2 = z * z
  local g1 = (z2 + 1) * z / 4
  local g2 = ((5 * z2 + 16) * z2 + 3) * z / 96
  local g3 = (((3 * z2 + 19) * z2 + 17) * z2 - 15) * z / 384
  local g4 = ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) * z / 92160
  return z + g1 / df + g2 / df ^ 2 + g3 / df ^ 3 + g4 / df ^ 4
end

-- Figures beyond these magnitudes are summed and squared scaled by a power
-- of two, which is exact: a metric of 1e308 in every run summed to inf (a
-- mean of inf, where every run had 1e308), one of 1e200 squared its
-- deviations to inf (an sd of inf), and one of 1e-200 to 0 (an sd of 0
-- between runs that differed).
local BIG, SMALL = 2 ^ 500, 2 ^ -500
local SHRINK, GROW = 2 ^ -600, 2 ^ 600

-- { n, mean, sd, low, high } of the numbers in xs; sd, low and high are nil
-- with fewer than two, mean too with none.
function M.describe(xs)
  local n = #xs
  local r = { n = n }
  if n == 0 then return r end
  local top = 0
  for i = 1, n do
    local a = math.abs(xs[i])
    if a > top and a < math.huge then top = a end
  end
  local scale = top > BIG and SHRINK or (top > 0 and top < SMALL) and GROW or 1
  local sum = 0
  for i = 1, n do sum = sum + xs[i] * scale end
  local mean = sum / n
  -- The sum's rounding, taken back by the mean of the deviations (the
  -- corrected two-pass method): three runs of 0.1 summed to
  -- 0.30000000000000004, a mean of 0.10000000000000002 with an sd of
  -- 1.7e-17, where every run had the same figure. Not for an infinite mean,
  -- whose deviations are NaN.
  if mean - mean == 0 then
    local dev = 0
    for i = 1, n do dev = dev + (xs[i] * scale - mean) end
    mean = mean + dev / n
  end
  r.mean = mean / scale
  if n < 2 then return r end
  local ss = 0
  for i = 1, n do ss = ss + (xs[i] * scale - mean) ^ 2 end
  local sd = sqrt(ss / (n - 1))
  local half = M.t975(n - 1) * sd / sqrt(n)
  r.sd = sd / scale
  r.low, r.high = (mean - half) / scale, (mean + half) / scale
  return r
end

return M
