#!/bin/sh
# Runs the C unit tests (ctest) and the busted specs against one build tree.
# Usage: spec/run.sh BUILD_DIR [sanitize]
set -eu
build=$1
mode=${2:-plain}

echo "== C unit tests ($build)"
ctest --test-dir "$build" --output-on-failure

export ASX_BUILD="$build"
if [ "$mode" = sanitize ]; then
	# busted runs on the stock luajit binary, so the sanitizer runtimes must be
	# loaded before anything else. LuaJIT's allocator frees its arenas at
	# lua_close, but busted leaves the state open at exit: leak checks are for
	# the C unit tests, which run with them on.
	LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
	export LD_PRELOAD
	export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi

echo "== busted specs ($build)"
busted
