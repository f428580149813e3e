#!/bin/sh
# make bench: every benchmark, printed as `name: value` lines.
# Usage: bench/run.sh BUILD_DIR
set -eu
build=${1:-build}
export LUA_PATH="lua/?.lua;lua/?/init.lua;;"
export LUA_CPATH="$build/?.so;;"

# The matching engine, through the C API and through Lua (issue 2).
"$build/bench_book"
luajit bench/book_bench.lua
