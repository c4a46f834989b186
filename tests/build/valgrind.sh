#!/bin/bash
# valgrind: runs the unit suites under valgrind's memcheck, through meson's
# test setup "valgrind" (meson.build: any error or definite leak fails the
# test; suppressions in tests/valgrind.supp). A CI step (.ci/run), run
# after tests/run.sh has built the build dir.
#
#   tests/build/valgrind.sh [MESON TEST ARGS...]
#
# The build dir is $MEDFS_BUILD_DIR (default build next to the sources), a
# build without sanitizers. Ends with the line "N passed, M failed";
# exits non-zero when a test failed.
set -uo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${MEDFS_BUILD_DIR:-$src/build}
log=$build/meson-logs/testlog-valgrind.json

if ! command -v valgrind >/dev/null; then
	echo "valgrind: not installed" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
rm -f "$log"
meson test -C "$build" --setup valgrind --print-errorlogs "$@"
status=$?
line=$(bash "$src/tests/run.sh" --summary-only "$log")
case $line in
*" 0 failed"*) ;;
*) [ "$status" -ne 0 ] || status=1 ;;
esac
echo "$line"
exit "$status"
