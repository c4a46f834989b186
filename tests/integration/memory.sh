#!/bin/bash
# memory: the driver's memory stays flat while files come and go. Rounds
# of create 300 files, list them (ls -l), read them, remove them; after a
# warm-up, two windows of 30 rounds each. A leak grows both; the pool
# starting one more thread (its buffers) is a single step, in one window
# at most: so the smaller of the two may not exceed 512 KiB. libfuse 3.14
# kept a node for good at every readdirplus reply, which grew the driver
# by ~80 KiB a round here (~2.4 MiB a window).
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# AddressSanitizer keeps freed memory in quarantine (up to 256 MiB): the
# driver's RSS then says nothing about leaks, which LeakSanitizer checks.
# (gcc links the ASan runtime as a library, clang into the executable.)
if ldd "$MEDFS" 2>/dev/null | grep -q libasan ||
	readelf -W --dyn-syms "$MEDFS" 2>/dev/null | grep -q __asan_init; then
	echo "SKIP: $MEDFS is built with AddressSanitizer"
	exit 77
fi

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
make_passfile "$P" "memory test passphrase"
make_vault "$V" "$P"
mount_vault "$V" "$M" "$P"
PID=$(driver_pid "$M")
[ -n "$PID" ] || fail "no driver process for $M"

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status"; }

round()
{
	mkdir "$M/d"
	(cd "$M/d" && touch f{001..300} && ls -l >/dev/null && cat ./* >/dev/null)
	ls -l "$M/d" >/dev/null
	rm -rf "$M/d"
}

threads() { awk '/^Threads:/ { print $2 }' "/proc/$PID/status"; }

step "warm-up"
# Many readers at once first, so that the thread pool reaches its size.
head -c $((8 << 20)) /dev/urandom >"$M/big"
for _ in $(seq 1 3); do
	for _ in $(seq 1 16); do cat "$M/big" >/dev/null & done
	wait
done
rm "$M/big"
for _ in $(seq 1 10); do round; done
r0=$(rss_kib)
t0=$(threads)

step "two windows of 30 rounds"
for _ in $(seq 1 30); do round; done
r1=$(rss_kib)
for _ in $(seq 1 30); do round; done
r2=$(rss_kib)
echo "driver RSS (KiB): $r0 after warm-up, $r1 after 30 more rounds, $r2 after 60;" \
	"threads $t0, then $(threads)"
g1=$((r1 - r0))
g2=$((r2 - r1))
[ "$g1" -lt 512 ] || [ "$g2" -lt 512 ] ||
	fail "the driver grew by $g1 then $g2 KiB over two windows of 30 rounds of files created, listed and removed"
unmount "$M"
finish
