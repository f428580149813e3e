#!/bin/sh
# make bench: every benchmark, printed as `name: value` lines.
# Usage: bench/run.sh BUILD_DIR
set -eu
build=${1:-build}
export LUA_PATH="lua/?.lua;lua/?/init.lua;;"
export LUA_CPATH="$build/?.so;;"

# The matching engine, through the C API and through Lua.
"$build/bench_book"
luajit bench/book_bench.lua

# The wake-up queue against the heap it replaced, with no Lua
# (sched.heap.* and sched.ladder.*, at 1,000 to 1,000,000 waiting agents).
"$build/bench_sched"

# ---- Sessions and asx-host ----------------------------------------------------
# host.orders_per_sec: asx-host itself, 10,000 random traders on the virtual
# clock for 300 session seconds (a little over 5,000,000 orders); the rate is
# orders over the wall time of the session, as its summary prints it.
"$build/asx-host" -q --clock virtual --seed 1 -d 300 strategies/random_trader.lua:10000 |
	awk -F': ' '/^orders: /{print "host.orders: " $2} /^orders per wall second: /{print "host.orders_per_sec: " $2}'
# Sessions in the Lua state asx-host makes (its allocator puts a million
# agents on huge pages), through asx-lua. Peak RSS over 1,000,000 agents
# that only sleep, per agent.
"$build/asx-lua" bench/host_bench.lua idle 1000000
# The scheduler's own rate: agents that only sleep(self:random()), about
# 4,000,000 and 6,700,000 wake-ups.
"$build/asx-lua" bench/host_bench.lua wakeups 10000 200
"$build/asx-lua" bench/host_bench.lua wakeups 1000000 3
# The cost per order as the population grows: about 1,000,000 orders each.
"$build/asx-lua" bench/host_bench.lua orders 1000 500
"$build/asx-lua" bench/host_bench.lua orders 100000 5
"$build/asx-lua" bench/host_bench.lua orders 1000000 0.5

# ---- Loggers ----------------------------------------------------------------
# host.orders_per_sec with the CSV logger (--log FILE.csv), with the report
# page (--report FILE.html, host.orders_per_sec.report) and with the
# InfluxDB logger (--influx, to an influxd started on a free loopback port),
# against the same run without loggers; medians of three runs each.
luajit bench/loggers_bench.lua "$build"
