#!/bin/bash
# sanitize: builds medfs with AddressSanitizer and UndefinedBehaviorSanitizer
# (meson's -Db_sanitize=address,undefined) in a build dir of its own and runs
# every test there, integration tests included, through sanitize-wrap.sh:
# a test fails when any process it started (the driver daemon, the tools,
# the test programs) wrote a sanitizer report. A CI step (.ci/run).
#
#   tests/build/sanitize.sh [MESON TEST ARGS...]
#
# The build dir is $MEDFS_SANITIZE_BUILD_DIR (default build-sanitize next to
# the sources). Ends with the line "N passed, M failed" of tests/run.sh;
# exits non-zero when the build or a test failed.
set -uo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${MEDFS_SANITIZE_BUILD_DIR:-$src/build-sanitize}
cd "$src" || exit 1

# clang: with gcc, UBSan's runtime is a library of its own that ignores
# log_path when ASan is there, and its reports would go to the stderr of
# whichever process hit them, unseen when a test expects that process to
# fail. With clang, both report through one runtime into the log files.
# b_lundef=false: the shared module the durability test preloads takes
# the sanitizer runtime from the executable. No _FORTIFY_SOURCE under the
# sanitizers (see meson.build): the hardening test, which checks the
# fortified calls, belongs to the normal build (--no-suite build below).
if ! command -v clang >/dev/null; then
	echo "sanitize: clang is not installed" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
opts=(-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized)
if [ -f "$build/meson-private/coredata.dat" ]; then
	meson setup --reconfigure "$build" "${opts[@]}" >/dev/null ||
		CC=clang meson setup --wipe "$build" "${opts[@]}"
else
	CC=clang meson setup "$build" "${opts[@]}"
fi
status=$?
if [ "$status" -eq 0 ]; then
	meson compile -C "$build"
	status=$?
fi
if [ "$status" -ne 0 ]; then
	echo "sanitize: the build failed" >&2
	echo "0 passed, 1 failed"
	exit "$status"
fi

rm -f "$build/meson-logs/testlog-sanitize-wrap.sh.json"
# Sanitized code runs 2-3 times slower: timeouts are doubled.
meson test -C "$build" --print-errorlogs --timeout-multiplier 2 \
	--wrapper "$src/tests/build/sanitize-wrap.sh" --no-suite build "$@"
status=$?
# (meson names the log after the wrapper)
line=$(bash "$src/tests/run.sh" --summary-only "$build/meson-logs/testlog-sanitize-wrap.sh.json")
case $line in
*" 0 failed"*) ;;
*) [ "$status" -ne 0 ] || status=1 ;;
esac
echo "$line"
exit "$status"
