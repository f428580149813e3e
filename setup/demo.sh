#!/bin/sh
# make demo: ten seconds of real-clock trading by the three example
# strategies (their class fields set how many agents of each run), with the
# progress line on a terminal and the summary at the end.
# Usage: setup/demo.sh BUILD_DIR
set -eu
build=${1:-build}
host="$build/asx-host"

# Once asx-host can log trades (--log FILE.csv), the demo keeps them.
set --
if "$host" --help | grep -q -- "--log "; then
	csv="demo-$(date +%Y%m%d-%H%M%S).csv"
	set -- --log "$csv"
fi

"$host" --clock real --duration 10 "$@" \
	strategies/random_trader.lua strategies/market_maker.lua strategies/momentum.lua
if [ $# -gt 0 ]; then
	echo "demo: the trades are in $csv"
fi
