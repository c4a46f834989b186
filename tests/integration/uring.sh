#!/bin/bash
# uring: requests over io_uring (FUSE_OVER_IO_URING, Linux 6.14). The
# driver turns on the fuse module's enable_uring, answers INIT with the
# flag, and its threads answer every request but forgets and interrupts
# from their ring entries; -o no_uring and -s stay on /dev/fuse. The same
# data checks pass both ways.
set -eu
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

ENABLE=/sys/module/fuse/parameters/enable_uring
if [ ! -e "$ENABLE" ]; then
	echo "SKIP: this kernel has no FUSE over io_uring ($ENABLE)"
	exit 77
fi

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
REF=$WORK/ref
LOG=$WORK/driver.log
make_passfile "$P" "uring test passphrase"
make_vault "$V" "$P"
mkdir -p "$REF"
seed=$((RANDOM + 1))

# mount_fg [medfs options]: the driver in the foreground, its log in $LOG.
mount_fg()
{
	mount_foreground "$LOG" "$V" "$M" "$P" "$@"
}

# workload TAG: data and metadata through the mount, checked.
workload()
{
	local d=$M/$1 i
	mkdir -p "$d/dir"
	# Big reads and writes (1 MiB requests, readahead), odd sizes.
	"$RWCHECK" write "$d/big" $((8 << 20 | 4321)) "$seed" || fail "$1: write big"
	"$RWCHECK" verify "$d/big" $((8 << 20 | 4321)) "$seed" || fail "$1: verify big"
	cmp <(dd if="$d/big" bs=128k 2>/dev/null) <(dd if="$d/big" bs=1M 2>/dev/null) ||
		fail "$1: 128 KiB and 1 MiB reads differ"
	# Random reads, writes and truncations against a plain file.
	"$RWCHECK" random "$d/rand" "$REF/$1.rand" "$seed" 300 $((3 << 20)) prefill >/dev/null ||
		fail "$1: random reads and writes"
	# Readahead of several readers at once.
	for i in 1 2 3 4; do
		"$RWCHECK" verify "$d/big" $((8 << 20 | 4321)) "$seed" &
	done
	for i in 1 2 3 4; do
		wait -n || fail "$1: concurrent readers"
	done
	# Names, attributes, listings.
	for i in $(seq 200); do
		printf '%s' "$i" >"$d/dir/f$i"
	done
	assert_eq 200 "$(find "$d/dir" -type f | wc -l)" "$1: files listed"
	assert_eq 57 "$(cat "$d/dir/f57")" "$1: small file"
	mv "$d/dir/f57" "$d/dir/g57"
	setfattr -n user.medfs.test -v "uring-$1" "$d/dir/g57"
	assert_eq "uring-$1" "$(getfattr --only-values -n user.medfs.test "$d/dir/g57")" \
		"$1: extended attribute"
	rm -r "$d/dir"
	assert_cmd_fails "$1: removed directory" test -e "$d/dir"
}

step "the driver turns on enable_uring and takes requests over io_uring"
was=$(cat "$ENABLE")
echo N >"$ENABLE"
mount_fg
assert_eq Y "$(cat "$ENABLE")" "enable_uring after the mount"
grep -q "turned on FUSE over io_uring" "$LOG" || fail "no word of enable_uring: $(cat "$LOG")"
grep -q "requests come over io_uring" "$LOG" || fail "not over io_uring: $(cat "$LOG")"
workload uring
unmount "$M"
n=$(sed -n 's/.* \([0-9][0-9]*\) requests answered over io_uring.*/\1/p' "$LOG")
[ "${n:-0}" -ge 1000 ] || fail "only ${n:-0} requests answered over io_uring"

step "the data written over io_uring reads back over /dev/fuse (-o no_uring)"
mount_fg -o no_uring
"$RWCHECK" verify "$M/uring/big" $((8 << 20 | 4321)) "$seed" || fail "verify over /dev/fuse"
cmp "$M/uring/rand" "$REF/uring.rand" || fail "random file over /dev/fuse"
workload devfuse
unmount "$M"
if grep -q "io_uring" "$LOG"; then
	fail "-o no_uring used io_uring: $(cat "$LOG")"
fi

step "single-threaded (-s): /dev/fuse"
mount_fg -s
"$RWCHECK" verify "$M/devfuse/big" $((8 << 20 | 4321)) "$seed" || fail "verify with -s"
unmount "$M"
if grep -q "io_uring" "$LOG"; then
	fail "-s used io_uring: $(cat "$LOG")"
fi

step "and back over io_uring: what /dev/fuse wrote"
mount_fg
grep -q "requests come over io_uring" "$LOG" || fail "not over io_uring: $(cat "$LOG")"
"$RWCHECK" verify "$M/devfuse/big" $((8 << 20 | 4321)) "$seed" || fail "verify over io_uring"
cmp "$M/devfuse/rand" "$REF/devfuse.rand" || fail "random file over io_uring"
unmount "$M"
step "threads bind only to the CPUs the driver was given (taskset)"
if [ "$(nproc)" -ge 2 ]; then
	# The driver inherits this shell's CPUs.
	all_cpus=$(taskset -p $$ | awk '{ print $NF }')
	taskset -p -c 0 $$ >/dev/null
	mount_fg
	taskset -p "$all_cpus" $$ >/dev/null
	pid=${DRIVER_PID[$M]}
	grep -q "requests come over io_uring" "$LOG" || fail "not over io_uring: $(cat "$LOG")"
	# Small requests from both CPUs, and big reads.
	for cpu in 0 1; do
		taskset -c "$cpu" stat "$M/devfuse/big" >/dev/null
		taskset -c "$cpu" cat "$M/devfuse/big" >/dev/null
		taskset -c "$cpu" ls -l "$M/devfuse" >/dev/null
	done
	for t in /proc/"$pid"/task/*; do
		assert_eq 0 "$(awk '/^Cpus_allowed_list/ { print $2 }' "$t/status")" \
			"CPUs of driver thread $(basename "$t")"
	done
	unmount "$M"
else
	echo "one CPU: nothing to bind"
fi
echo "$was" >"$ENABLE"

finish
