#!/bin/bash
# Crash-state checker (README.md): each workload recorded through a real
# medfs mount (or medfs-key rotate), then vault states a power cut could
# leave, replayed and checked. Short by default (the CI test); --long for
# the benchmark-style run: bigger workloads, many more states.
#
#   tests/crash/run.sh [--long] [--states N] [--seed S] [WORKLOAD...]
#
# WORKLOAD: orthanc sqlite journal rotate rekey (default: all). Needs root and
# /dev/fuse (exit 77 without). MEDFS_KEEP_WORK=1 keeps the scratch dir.
set -u
if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/fuse ]; then
	echo "SKIP: the crash checker needs root and /dev/fuse"
	exit 77
fi
# Under ASan (tests/build/sanitize.sh) the driver's calls go through the
# sanitizer's own interceptors, which the preloaded recorder never sees:
# nothing would be recorded. The sanitizers check the driver in every
# other test; the crash states are checked in the normal build.
if [ -n "${MEDFS:-}" ] && grep -qa __asan_init "$MEDFS" 2>/dev/null; then
	echo "SKIP: the recording shim cannot sit under an ASan build of medfs"
	exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)
long=0 states="" seed=${CRASH_SEED:-1} loads=()
while [ $# -gt 0 ]; do
	case $1 in
	--long) long=1 ;;
	--states) states=$2; shift ;;
	--seed) seed=$2; shift ;;
	-h|--help) sed -n '2,11p' "$0"; exit 0 ;;
	*) loads+=("$1") ;;
	esac
	shift
done
[ ${#loads[@]} -gt 0 ] || loads=(orthanc sqlite journal rotate rekey)
declare -A budget=([orthanc]=24 [sqlite]=18 [journal]=10 [rotate]=16 [rekey]=24)
if [ "$long" = 1 ]; then
	budget=([orthanc]=600 [sqlite]=400 [journal]=150 [rotate]=400 [rekey]=200)
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/medfs-crash.XXXXXX")
cleanup()
{
	local mp
	for mp in $(awk -v p="$work/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r); do
		fusermount3 -u "$mp" 2>/dev/null || umount -l "$mp"
	done
	if [ "${MEDFS_KEEP_WORK:-0}" = 1 ]; then
		echo "kept $work" >&2
	else
		rm -rf --one-file-system "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
rc=0
for w in "${loads[@]}"; do
	args=("$w" --work "$work/$w" --seed "$seed" --states "${states:-${budget[$w]}}"
		--known "$here/known.txt" --json "$work/$w.json")
	[ "$long" = 1 ] && args+=(--long)
	python3 "$here/crashcheck.py" "${args[@]}" || rc=1
done
if [ "$rc" -ne 0 ]; then
	echo "FAIL: crash: a crash state broke a promise (above)" >&2
else
	echo "PASS: crash"
fi
exit "$rc"
