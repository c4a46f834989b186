#!/bin/bash
# Builds medfs and runs every test suite: the README's test command.
#
#   sudo tests/run.sh [MESON TEST ARGS...]
#
# Installs the missing Debian packages (packaging/debian-deps.txt), sets up
# or reconfigures the meson build dir "build", compiles, runs
# `meson test --print-errorlogs` with any arguments given (for example
# `--suite unit`), then prints one summary line from meson's test log:
#   N passed, M failed[, K skipped]
# Exits with meson test's status (non-zero on a build failure too).
# `tests/run.sh --summary-only [TESTLOG]` prints the summary of the last run
# again (or of a given meson testlog .json, as the CI steps do).
# The integration tests mount FUSE file systems: they need root and
# /dev/fuse, and are skipped (exit 77) without them.
set -uo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${MEDFS_BUILD_DIR:-$src/build}
testlog=$build/meson-logs/testlog.json

# Prints "N passed, M failed[, K skipped]" from meson's testlog.json: one
# JSON object a line, whose "result" is OK, FAIL, SKIP, EXPECTEDFAIL,
# UNEXPECTEDPASS, TIMEOUT or ERROR. A test's own output sits in the same
# line with its quotes escaped, so only the real key matches.
summary()
{
	local log=$1

	if [ ! -s "$log" ]; then
		echo "0 passed, 0 failed"
		return
	fi
	sed -n 's/.*"result": *"\([A-Z]*\)".*/\1/p' "$log" | awk '
		$1 == "OK" || $1 == "EXPECTEDFAIL" { pass++ }
		$1 == "FAIL" || $1 == "TIMEOUT" || $1 == "ERROR" || $1 == "UNEXPECTEDPASS" { fail++ }
		$1 == "SKIP" { skip++ }
		END {
			line = sprintf("%d passed, %d failed", pass, fail)
			if (skip > 0)
				line = line sprintf(", %d skipped", skip)
			print line
		}'
}

if [ "${1:-}" = --summary-only ]; then
	summary "${2:-$testlog}"
	exit 0
fi

bash "$src/packaging/install-deps.sh" || {
	echo "run.sh: cannot install the build dependencies" >&2
	echo "0 passed, 0 failed"
	exit 1
}

cd "$src" || exit 1
if [ -f "$build/meson-private/coredata.dat" ]; then
	meson setup --reconfigure "$build" >/dev/null ||
		meson setup --wipe "$build"
else
	meson setup "$build"
fi
status=$?
if [ "$status" -eq 0 ]; then
	meson compile -C "$build"
	status=$?
fi
if [ "$status" -ne 0 ]; then
	echo "run.sh: the build failed" >&2
	echo "0 passed, 0 failed"
	exit "$status"
fi

if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/fuse ]; then
	echo "run.sh: not root or no /dev/fuse: the integration tests will be skipped" >&2
fi
rm -f "$testlog"
meson test -C "$build" --print-errorlogs "$@"
status=$?
line=$(summary "$testlog")
# meson's status is its failure count, which a multiple of 256 would hide.
case $line in
*" 0 failed"*) ;;
*) [ "$status" -ne 0 ] || status=1 ;;
esac
echo "$line"
exit "$status"
