-- Benchmarks of sessions, run by bench/run.sh through BUILD/asx-lua, so
-- that they run in the Lua state asx-host makes (its allocator, and the
-- Lua library of the tree being measured). Prints `name: value` lines.
-- Under a plain luajit (with LUA_PATH and LUA_CPATH set to the tree) they
-- measure LuaJIT's own allocator instead.
--
--   asx-lua bench/host_bench.lua idle N
--     N agents that only sleep: peak RSS of the process over N. Every agent
--     is a trader (table, account, coroutine) plus its scheduler entries.
--   asx-lua bench/host_bench.lua orders N SECONDS
--     N random traders for SECONDS of virtual time: orders per wall second
--     of the run, and per second of CPU time (building the traders, and
--     collecting what the build left, is not timed).
--   asx-lua bench/host_bench.lua wakeups N SECONDS
--     N agents that only sleep(self:random()) for SECONDS of virtual time:
--     wake-ups (resumes) per wall second, and per second of CPU time, the
--     scheduler's own cost.
local asx = require("asx")
local session = require("asx.session")
local core = require("asx.core")

local mode, n = arg[1], tonumber(arg[2])

-- The process's peak resident set, in bytes.
local function peak_rss()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmHWM:%s+(%d+) kB")
    if kb then return tonumber(kb) * 1024 end
  end
  error("no VmHWM in /proc/self/status")
end

local function fmt(v)
  return ("%d"):format(math.floor(v + 0.5))
end

-- Ends the collector's work on the build before the timed run. Building a
-- million traders makes some 700 MB of long-lived objects, and the last
-- cycle the build started (marking and sweeping all of them, a cache miss
-- an object) would otherwise run on in the session's first half second,
-- about a quarter of its CPU time, a cost no smaller population pays. The
-- timed run then starts, whatever the population, from a heap with no
-- cycle under way.
local function settle()
  collectgarbage()
end

if mode == "idle" then
  local Sleeper = asx.Trader:extend("sleeper")
  function Sleeper:cycle()
    while true do self:sleep(1000) end
  end
  -- Each agent runs once (it starts, then sleeps past the duration), so
  -- every coroutine has really run and holds its stack.
  local s = session.new({ clock = "virtual", seed = 1, duration = 1 })
  local opts = { money = 300, stocks = 10 }
  for _ = 1, n do s:add(Sleeper:new(opts)) end
  s:run()
  assert(s.sched:counts().waiting == n)
  print(("host.bytes_per_idle_agent: %s"):format(fmt(peak_rss() / n)))
  print(("host.idle_agents: %d"):format(n))
elseif mode == "orders" then
  local seconds = tonumber(arg[3])
  local Random = dofile("strategies/random_trader.lua")
  local s = session.new({ clock = "virtual", seed = 1, duration = seconds })
  local opts = { money = 300, stocks = 10 }
  for _ = 1, n do s:add(Random:new(opts)) end
  settle()
  local t0, c0 = core.hrtime(), os.clock()
  s:run()
  local wall, cpu = core.hrtime() - t0, os.clock() - c0
  local orders = s.exchange:stats().orders
  print(("host.orders_per_sec.agents_%d: %s"):format(n, fmt(orders / wall)))
  -- Over the process's CPU time: steadier than wall time on a shared machine.
  print(("host.orders_per_cpu_sec.agents_%d: %s"):format(n, fmt(orders / cpu)))
  print(("host.orders.agents_%d: %d"):format(n, orders))
elseif mode == "wakeups" then
  local seconds = tonumber(arg[3])
  local Sleeper = asx.Trader:extend("sleeper")
  function Sleeper:cycle()
    while true do self:sleep(self:random()) end
  end
  local s = session.new({ clock = "virtual", seed = 1, duration = seconds })
  local opts = { money = 300, stocks = 10 }
  for _ = 1, n do s:add(Sleeper:new(opts)) end
  settle()
  local t0, c0 = core.hrtime(), os.clock()
  s:run()
  local wall, cpu = core.hrtime() - t0, os.clock() - c0
  local wakeups = s.sched:resumes()
  print(("host.wakeups_per_sec.agents_%d: %s"):format(n, fmt(wakeups / wall)))
  -- Over the process's CPU time: steadier than wall time on a shared machine.
  print(("host.wakeups_per_cpu_sec.agents_%d: %s"):format(n, fmt(wakeups / cpu)))
  print(("host.wakeups.agents_%d: %d"):format(n, wakeups))
else
  io.stderr:write("usage: asx-lua bench/host_bench.lua idle N | orders N SECONDS"
    .. " | wakeups N SECONDS\n")
  os.exit(2)
end
