-- A study: how the market makers' spread changes the market.
--
-- Market makers quote a bid and an ask `spread` ticks apart and earn the
-- spread when both sides trade; random traders pay it. A wider spread should
-- earn the makers more per trade but leave more room for the price to jump
-- between their quotes. This study measures both, over 10 seeds per spread,
-- so that each answer comes with a confidence interval:
--
--   asx-sweep studies/spread.lua           # on this machine, GNU parallel
--   asx-sweep --slurm --wait studies/spread.lua   # on a Slurm cluster
--
-- The output folder (./spread, or --out DIR) then holds results.csv, one
-- row per run, and summary.csv, one row per spread: for each metric its
-- mean, standard deviation and 95% confidence interval over the seeds.
--
-- A study file is Lua that returns a table. Its fields:
return {
  -- The strategies of every run, as on asx-host's command line: FILE:COUNT
  -- (paths relative to this file). These are the examples in strategies/.
  strategies = {
    "../strategies/random_trader.lua:100",
    "../strategies/market_maker.lua:5",
  },

  -- Each run lasts two minutes of session time on the virtual clock (the
  -- default, and what makes runs repeatable: the same seed gives the same
  -- run, on any machine, however busy).
  duration = 120,

  -- What varies. Each name is CLASS.FIELD, set as asx-host's
  -- --set CLASS.FIELD=VALUE does: a class field the strategy reads (here
  -- MarketMaker.spread). With several names, every combination runs.
  parameters = {
    ["market_maker.spread"] = { 1, 2, 4, 8, 16 },
  },

  -- Ten runs per spread. Their seeds derive from `seed`, so rerunning the
  -- study gives byte-identical CSV files; every spread runs with the same
  -- ten seeds, so spreads differ by their spread, not by their luck.
  seeds = 10,
  seed = 2024,

  -- Which figures of each run's summary (asx-host --summary) to report;
  -- "value.CLASS.mean" reaches into the per-strategy tables.
  report = { "trades", "volatility", "mean_spread", "vwap" },

  -- More metrics, computed from a run's summary (the JSON as a Lua table).
  -- Here: what each group gained on average, valued at the closing price,
  -- so that the gain is trading profit, not the price's drift.
  metrics = function(s)
    return {
      maker_gain = s.value.market_maker.mean - s.value.market_maker.start,
      random_gain = s.value.random_trader.mean - s.value.random_trader.start,
    }
  end,
}
