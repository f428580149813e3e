-- A study: who is in the market changes the market.
--
-- Random traders trade on no information; momentum traders buy into a rise
-- and sell into a fall, and so push the price further the way it already
-- moves. This study crosses how many of each take part, and measures how
-- the price moves and what each kind of trader earns:
--
--   asx-sweep studies/population.lua
--
-- Read summary.csv (one row per mix of traders) for the answer: each
-- metric's mean over the seeds, and a 95% confidence interval for it. If
-- two mixes' intervals do not overlap, the seeds alone are unlikely to
-- explain the difference.
return {
  -- No :COUNT for the random and momentum traders: their numbers are the
  -- parameters below, set through each class's `agents` field, the count
  -- asx-host uses when the command line gives none. The market makers keep
  -- a fixed five.
  strategies = {
    "../strategies/random_trader.lua",
    "../strategies/momentum.lua",
    "../strategies/market_maker.lua:5",
  },
  duration = 120,

  -- Two names, so every combination runs: 3 x 3 = 9 mixes of traders.
  -- Points are numbered with the names in alphabetical order, the first
  -- varying slowest: point 1 is 1 momentum and 30 random traders.
  parameters = {
    ["random_trader.agents"] = { 30, 100, 300 },
    ["momentum.agents"] = { 1, 20, 80 },
  },
  -- Instead of crossing, a study can list its points:
  --   points = { { ["random_trader.agents"] = 100, ["momentum.agents"] = 1 },
  --              { ["random_trader.agents"] = 30, ["momentum.agents"] = 80 } },

  -- Eight seeds per mix; or a list of seeds, seeds = { 1, 2, 3 }, to run
  -- exactly those.
  seeds = 8,
  seed = 7,

  report = { "trades", "volatility", "close", "value.momentum.mean", "value.random_trader.mean" },

  -- Gains of each kind of trader against its start, at the closing price,
  -- and the price range as a fraction of the VWAP. A summary field may be
  -- nil (JSON null): there is no VWAP in a run without trades; a metric that
  -- is nil is left empty in results.csv and out of the statistics.
  metrics = function(s)
    return {
      momentum_gain = s.value.momentum.mean - s.value.momentum.start,
      random_gain = s.value.random_trader.mean - s.value.random_trader.start,
      range = s.vwap and (s.high - s.low) / s.vwap,
    }
  end,
}
