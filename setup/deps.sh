#!/bin/sh
# Installs the Debian packages asx needs, and only those that are missing.
# Every Makefile target runs this first, so a fresh Debian 12 machine needs
# nothing else. Without root it prints the apt-get line instead and fails.
set -eu

# clang and its runtime libraries build the libFuzzer target (make fuzz-c).
# nodejs and npm install the report page's charting library (setup/web);
# chromium runs the page's tests. libh2o-dev (libh2o built on libuv) serves
# the live page of --http.
packages="build-essential cmake pkg-config luajit libluajit-5.1-dev libuv1-dev
lua5.1 lua-busted lua-check lua-cjson libcmocka-dev libedit-dev libcurl4-openssl-dev
influxdb tmux curl clang libclang-rt-14-dev parallel slurm-wlm munge chromium nodejs
libh2o-dev"
# A Node.js from elsewhere (NodeSource) brings its own npm and conflicts
# with Debian's package.
command -v npm >/dev/null 2>&1 || packages="$packages npm"

missing=""
for p in $packages; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done

# The report page's charting library and the browser tests' driver, as
# setup/web/package-lock.json pins them; npm ci runs again only when the
# lock file changed since the last install.
web_modules() {
	dir=$(dirname "$0")/web
	if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.asx-lock.json"; then
		echo "setup: npm ci in $dir" >&2
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) &&
			cp "$dir/package-lock.json" "$dir/node_modules/.asx-lock.json"
	fi
}

if [ -z "$missing" ]; then
	web_modules
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "asx needs these Debian packages; install them with:" >&2
	echo "  sudo apt-get install -y$missing" >&2
	exit 1
fi

echo "setup: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# The package lists of a fresh machine are empty, so refresh them first.
apt-get update -qq
# influxdb's maintainer script starts the service where it can; the tests
# start their own server, so a failure to start it here does not matter.
apt-get install -y -qq --no-install-recommends $missing </dev/null
web_modules
