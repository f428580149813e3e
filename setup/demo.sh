#!/bin/sh
# make demo: ten seconds of real-clock trading by the three example
# strategies (their class fields set how many agents of each run), with the
# progress line on a terminal and the summary at the end.
# Usage: setup/demo.sh BUILD_DIR
set -eu
build=${1:-build}
case $build in /*) ;; *) build="$PWD/$build" ;; esac
host="$build/asx-host"
# The strategies' paths, and the CSV file, are relative to the repository.
cd "$(dirname "$0")/.."

# The demo keeps its trades (asx-host --log FILE.csv says where at the end),
# when this asx-host has --log.
set --
if "$host" --help | grep -q -- "--log "; then
	csv="demo-$(date +%Y%m%d-%H%M%S).csv"
	set -- --log "$csv"
fi

"$host" --clock real --duration 10 "$@" \
	strategies/random_trader.lua strategies/market_maker.lua strategies/momentum.lua
