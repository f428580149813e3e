-- The matching engine's benchmark through Lua: the same splitmix64
-- stream as bench/c/bench_book.c, replayed through t:buy and t:sell, then
-- again with a Lua logger. The replay and the full collection of the
-- garbage it made are timed (see replay); the median of 5 runs is printed
-- as name: value lines.
local asx = require("asx")
local ffi = require("ffi")

ffi.cdef("int clock_gettime(int clk, struct timespec_ *ts); struct timespec_ { long sec; long nsec; };")
local ts = ffi.new("struct timespec_")
local function now(clock)
  ffi.C.clock_gettime(clock or 1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.sec) + tonumber(ts.nsec) * 1e-9
end
-- The process's CPU time: on a machine that others share, the wall time
-- swings with their load, the CPU time much less.
local CPU = 2 -- CLOCK_PROCESS_CPUTIME_ID

-- ASX_BENCH_N=n: a stream of n orders rather than 200,000 (the first n of
-- the same stream: under callgrind, the difference of two lengths is the
-- cost of the orders between them, with the set-up dropped out).
local N, TRADERS, MID = tonumber(os.getenv("ASX_BENCH_N")) or 200000, 1000, 50
-- ASX_BENCH_ONCE=1: the replay without a logger, run once, and nothing
-- else (for a profiler: callgrind counts its instructions exactly, and
-- with --dump-before='*clock_gettime*' the third of its five parts is the
-- timed window alone: the replay and its collection, between the readings
-- of the two clocks that open and close it).
-- ASX_BENCH=logger: the replay with the logger alone; ASX_BENCH=plain: the
-- one without; ASX_BENCH_RUNS=k: k runs of each rather than 5.
local ONCE = os.getenv("ASX_BENCH_ONCE") == "1"
local ONLY = ONCE and "plain" or os.getenv("ASX_BENCH")
local RUNS = ONCE and 1 or tonumber(os.getenv("ASX_BENCH_RUNS")) or 5
local d = math.floor(math.sqrt(MID))

-- The stream is held in an FFI array, which the collector does not
-- traverse: held in four Lua tables, as it was, every collection in the
-- window marked their 800,000 slots, and the loop read them through
-- upvalues with a check of each table's bounds and each value's type,
-- some 150 instructions an order that were the benchmark's, not asx's
-- (README, "Benchmarks"). The orders are the same and go through t:buy and
-- t:sell as before, as Lua numbers.
local stream = ffi.new("struct { int32_t price; uint16_t who; uint8_t side, amount; }[?]", N + 1)
local state = ffi.new("uint64_t", 12345)
for i = 1, N do
  state = state + 0x9E3779B97F4A7C15ULL
  local z = state
  z = bit.bxor(z, bit.rshift(z, 30)) * 0xBF58476D1CE4E5B9ULL
  z = bit.bxor(z, bit.rshift(z, 27)) * 0x94D049BB133111EBULL
  local r = bit.bxor(z, bit.rshift(z, 31))
  local s = stream[i]
  s.side = tonumber(bit.band(r, 1ULL))
  s.price = MID - d + tonumber(bit.rshift(r, 1) % (2 * d + 1))
  s.amount = 1 + tonumber(bit.rshift(r, 16) % 10)
  s.who = 1 + tonumber(bit.rshift(r, 32) % TRADERS)
end

-- The replay's median rate over RUNS runs, per wall and per CPU second,
-- with the exchange's stats and the logger of the last run (a fresh one
-- each run when make_logger is given).
local function replay(make_logger)
  local times, cpu, stats, logger = {}, {}, nil, nil
  for run = 1, RUNS do
    logger = make_logger and make_logger()
    local ex = asx.exchange({ logger = logger })
    local traders = {}
    for i = 1, TRADERS do
      traders[i] = asx.trader({ exchange = ex, money = 2 ^ 40, stocks = 2 ^ 30 })
    end
    -- Each run starts from a full collection, so that none of the last
    -- run's garbage is collected in this one's window, and ends its window
    -- with another: the window counts the collection of all the garbage
    -- the replay made (the orders that rested and left, the messages a
    -- logger kept), as a long session pays it, and one mark of what
    -- survives (the books' resting orders, the traders). Without that last
    -- collection the collector's next cycle mostly began after the window
    -- (it starts once the heap has doubled), so the figures left out most
    -- of its work (README, "Benchmarks").
    -- The last run's exchange takes more than one collection to go (its
    -- private state is the value of a weak-keyed table, which LuaJIT frees
    -- a collection after the key, and its books' finalizers release the
    -- orders a collection after that): collecting until the heap stops
    -- shrinking keeps its book and resting orders out of this window.
    repeat
      local before = collectgarbage("count")
      collectgarbage()
    until collectgarbage("count") >= before
    local orders = stream
    local t0, c0 = now(), now(CPU)
    for i = 1, N do
      local s = orders[i]
      local t = traders[s.who]
      if s.side == 0 then t:buy(s.amount, s.price) else t:sell(s.amount, s.price) end
    end
    collectgarbage()
    times[run] = now() - t0
    cpu[run] = now(CPU) - c0
    stats = ex:stats()
  end
  table.sort(times)
  table.sort(cpu)
  local mid = math.ceil(RUNS / 2)
  return N / times[mid], N / cpu[mid], stats, logger
end

local rate, cpu_rate, stats
if ONLY ~= "logger" then
  rate, cpu_rate, stats = replay()
  print(("lua.orders_per_sec: %.0f"):format(rate))
  print(("lua.orders_per_cpu_sec: %.0f"):format(cpu_rate))
  print(("lua.trades: %d"):format(stats.trades))
  print(("lua.volume: %d"):format(stats.volume))
  print(("lua.notional: %d"):format(stats.notional))
end

-- The same stream with a Lua logger on the seed's interface that counts the
-- trades and their volume: the cost of delivering events to Lua.
local Counter = {}
Counter.__index = Counter
function Counter:send_event(event_type, m)
  if event_type == "exchange" then
    self.trades = self.trades + 1
    self.volume = self.volume + m.amount
  end
end
if ONLY == "plain" then return end
local counter
rate, cpu_rate, stats, counter = replay(function() return setmetatable({ trades = 0, volume = 0 }, Counter) end)
assert(counter.trades == stats.trades and counter.volume == stats.volume, "the logger missed events")
print(("lua.logger_orders_per_sec: %.0f"):format(rate))
print(("lua.logger_orders_per_cpu_sec: %.0f"):format(cpu_rate))
