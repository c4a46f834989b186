#!/bin/bash
# clang-werror: builds everything (library, driver, tools, tests, fuzz
# targets) with clang and -Werror (meson's -Dwerror=true at warning_level
# 2: -Wall -Wextra and the project's warnings) in a build dir of its own.
# A CI step (.ci/run): it counts as one test.
#
#   tests/build/clang-werror.sh
#
# The build dir is $MEDFS_CLANG_BUILD_DIR (default build-clang next to the
# sources). Ends with "1 passed, 0 failed" or "0 passed, 1 failed".
set -uo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${MEDFS_CLANG_BUILD_DIR:-$src/build-clang}
cd "$src" || exit 1

if ! command -v clang >/dev/null; then
	echo "clang-werror: clang is not installed" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
if [ -f "$build/meson-private/coredata.dat" ]; then
	meson setup --reconfigure "$build" -Dwerror=true >/dev/null ||
		CC=clang meson setup --wipe "$build" -Dwerror=true
else
	CC=clang meson setup "$build" -Dwerror=true
fi &&
	meson compile -C "$build"
status=$?
if [ "$status" -ne 0 ]; then
	echo "clang-werror: the clang build with -Werror failed" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
echo "1 passed, 0 failed"
