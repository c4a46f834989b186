#!/bin/bash
# Runs every libFuzzer target (tests/fuzz/fuzz_NAME.c with a seed corpus in
# tests/fuzz/corpus/NAME/) for SECONDS each, one after the other, and prints
# one line a target with its executions and result, then the totals; the
# last line is the summary of tests/run.sh, a target a test:
#   N passed, M failed
# Used by .ci/run (30 seconds each: 12 targets, under 7 minutes with the
# build) and for the long runs of README.md.
#
#   tests/fuzz/run-all.sh SECONDS [NAME...]
#
# Needs clang (packaging/debian-deps.txt): builds the targets with
# -Dfuzzing=true in $MEDFS_FUZZ_BUILD (default build-fuzz next to the
# sources), fuzzes a scratch copy of each corpus (the committed one is
# never changed) and leaves what a crashing target wrote (crash-*, leak-*,
# timeout-*) and its log in $MEDFS_FUZZ_OUT (default a new directory
# under /tmp, printed). Exits 1 when a target crashed or found a leak,
# a timeout or a sanitizer error, 2 when it cannot build or run them,
# 77 when clang is missing.
set -uo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
seconds=${1:-}
case $seconds in
'' | *[!0-9]*)
	echo "usage: $0 SECONDS [NAME...]" >&2
	exit 2
	;;
esac
shift

if ! command -v clang >/dev/null; then
	echo "fuzz: clang is not installed (packaging/debian-deps.txt): not run" >&2
	exit 77
fi
build=${MEDFS_FUZZ_BUILD:-$src/build-fuzz}
out=${MEDFS_FUZZ_OUT:-$(mktemp -d /tmp/medfs-fuzz.XXXXXX)}
mkdir -p "$out" || exit 2

# The targets: every fuzz_NAME.c with a corpus, or the names given.
if [ "$#" -gt 0 ]; then
	targets=("$@")
else
	targets=()
	for f in "$src"/tests/fuzz/fuzz_*.c; do
		t=$(basename "$f" .c)
		t=${t#fuzz_}
		[ -d "$src/tests/fuzz/corpus/$t" ] && targets+=("$t")
	done
fi

if [ -f "$build/meson-private/coredata.dat" ]; then
	meson setup --reconfigure "$build" -Dfuzzing=true >"$out/setup.log" 2>&1
else
	CC=clang meson setup "$build" -Dfuzzing=true >"$out/setup.log" 2>&1
fi || {
	cat "$out/setup.log" >&2
	echo "fuzz: cannot set up $build" >&2
	exit 2
}
exes=()
for t in "${targets[@]}"; do
	exes+=("tests/fuzz/fuzz-$t")
done
if ! ninja -C "$build" "${exes[@]}" >"$out/build.log" 2>&1; then
	tail -n 30 "$out/build.log" >&2
	echo "fuzz: the targets do not build" >&2
	exit 2
fi

# Options of each target: a dictionary, the largest input worth trying.
options()
{
	case $1 in
	policy) echo "-dict=$src/tests/fuzz/policy.dict -max_len=4096" ;;
	config | slots) echo "-max_len=8192" ;;
	dicom) echo "-max_len=16384" ;;
	journal | torn) echo "-max_len=8192" ;;
	*) echo "-max_len=4096" ;;
	esac
}

failed=0
total=0
echo "fuzz: ${#targets[@]} targets, $seconds s each; logs in $out"
for t in "${targets[@]}"; do
	work=$out/$t
	mkdir -p "$work/corpus"
	cp "$src/tests/fuzz/corpus/$t"/* "$work/corpus/" 2>/dev/null
	# shellcheck disable=SC2046 # options() gives separate words
	(cd "$work" && "$build/tests/fuzz/fuzz-$t" $(options "$t") \
		-max_total_time="$seconds" -print_final_stats=1 \
		-close_fd_mask=1 "$work/corpus") >"$work/log" 2>&1
	status=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$work/log" | tail -n 1)
	execs=${execs:-0}
	total=$((total + execs))
	cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -n 1)
	if [ "$status" -eq 0 ]; then
		echo "fuzz: $t: ok, $execs executions in $seconds s, ${cov:-cov: ?}, corpus $(find "$work/corpus" -type f | wc -l) inputs"
	else
		failed=$((failed + 1))
		echo "fuzz: $t: FAILED (status $status) after $execs executions; log $work/log"
		grep -m 5 -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$work/log" | sed 's/^/  /'
		ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null | sed 's/^/  input: /'
	fi
done
echo "fuzz: ${#targets[@]} targets, $failed failed, $total executions"
echo "$((${#targets[@]} - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
