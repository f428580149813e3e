-- The matching engine's benchmark through Lua (issue 2): the same splitmix64
-- stream as bench/c/bench_book.c, replayed through t:buy and t:sell. Only
-- the replay is timed; the median of 5 runs is printed as name: value lines.
local asx = require("asx")
local ffi = require("ffi")

ffi.cdef("int clock_gettime(int clk, struct timespec_ *ts); struct timespec_ { long sec; long nsec; };")
local ts = ffi.new("struct timespec_")
local function now()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.sec) + tonumber(ts.nsec) * 1e-9
end

local N, TRADERS, MID, RUNS = 200000, 1000, 50, 5
local d = math.floor(math.sqrt(MID))

local sides, prices, amounts, who = {}, {}, {}, {}
local state = ffi.new("uint64_t", 12345)
for i = 1, N do
  state = state + 0x9E3779B97F4A7C15ULL
  local z = state
  z = bit.bxor(z, bit.rshift(z, 30)) * 0xBF58476D1CE4E5B9ULL
  z = bit.bxor(z, bit.rshift(z, 27)) * 0x94D049BB133111EBULL
  local r = bit.bxor(z, bit.rshift(z, 31))
  sides[i] = tonumber(bit.band(r, 1ULL))
  prices[i] = MID - d + tonumber(bit.rshift(r, 1) % (2 * d + 1))
  amounts[i] = 1 + tonumber(bit.rshift(r, 16) % 10)
  who[i] = 1 + tonumber(bit.rshift(r, 32) % TRADERS)
end

local times, stats = {}, nil
for run = 1, RUNS do
  local ex = asx.exchange()
  local traders = {}
  for i = 1, TRADERS do
    traders[i] = asx.trader({ exchange = ex, money = 2 ^ 40, stocks = 2 ^ 30 })
  end
  collectgarbage()
  local t0 = now()
  for i = 1, N do
    local t = traders[who[i]]
    if sides[i] == 0 then t:buy(amounts[i], prices[i]) else t:sell(amounts[i], prices[i]) end
  end
  times[run] = now() - t0
  stats = ex:stats()
end
table.sort(times)
print(("lua.orders_per_sec: %.0f"):format(N / times[math.ceil(RUNS / 2)]))
print(("lua.trades: %d"):format(stats.trades))
print(("lua.volume: %d"):format(stats.volume))
print(("lua.notional: %d"):format(stats.notional))
