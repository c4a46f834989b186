#!/bin/bash
# uring: requests over io_uring (FUSE_OVER_IO_URING, Linux 6.14). The fuse
# module's enable_uring is the administrator's: the driver reads it and
# never writes it (nor does this test). When it is on, the driver answers
# INIT with the flag and its threads answer every request but forgets and
# interrupts from their ring entries; -o no_uring and -s stay on
# /dev/fuse; the same data checks pass both ways. When it is off (here,
# or seen so by a driver in a mount namespace of its own where a file
# saying N is bound over it), the mount works on /dev/fuse and the driver
# says once how to turn it on.
set -eu
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

ENABLE=/sys/module/fuse/parameters/enable_uring
HINT="echo Y > $ENABLE"
host_setting=$(cat "$ENABLE" 2>/dev/null || echo absent)

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

# on_devfuse TAG: the mount (in $LOG) took its requests from /dev/fuse.
on_devfuse()
{
	if grep -q "requests come over io_uring" "$LOG"; then
		fail "$1: requests came over io_uring: $(cat "$LOG")"
	fi
}

# saw_uring TAG: true when the mount in $LOG took its requests over
# io_uring (and its driver said nothing of enabling it); false when its
# driver read enable_uring N and said once how to turn it on, or the kernel
# has no such parameter. enable_uring is the administrator's and another
# process may change it at any time: each driver follows what it read at
# its mount.
saw_uring()
{
	if grep -q "requests come over io_uring" "$LOG"; then
		if grep -qF "$HINT" "$LOG"; then
			fail "$1: over io_uring, yet the driver says how to turn it on: $(cat "$LOG")"
		fi
		return 0
	fi
	if grep -qF "$HINT" "$LOG"; then
		assert_eq 1 "$(grep -cF "$HINT" "$LOG")" "$1: times the driver says how to enable io_uring"
		echo "$1: the driver read enable_uring N, said how to turn it on, and stayed on /dev/fuse"
		return 1
	fi
	[ ! -e "$ENABLE" ] || fail "$1: neither io_uring nor a word of enabling it: $(cat "$LOG")"
	return 1
}

step "the first mount: over io_uring where enable_uring is on, else /dev/fuse and a hint"
mount_fg
workload uring
unmount "$M"
if ! saw_uring "first mount"; then
	on_devfuse "first mount"
	echo "the io_uring part needs enable_uring=Y, which only an administrator sets: not tested"
	finish
fi
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
saw_uring "back over io_uring" || true
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
	saw_uring "taskset" || true
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

step "enable_uring off (seen through a mount namespace of the driver's own): /dev/fuse, and a hint"
# A private mount namespace binds a file saying N over the parameter for
# the driver alone; the host's setting and mounts stay as they are.
if command -v unshare >/dev/null && unshare -m --propagation private true 2>/dev/null; then
	echo N >"$WORK/enable_off"
	LOG_OFF=$WORK/driver-off.log
	# shellcheck disable=SC2016
	unshare -m --propagation private env ENABLE="$ENABLE" OFF="$WORK/enable_off" \
		MEDFS="$MEDFS" V="$V" M="$M" P="$P" REF="$REF" LOG_OFF="$LOG_OFF" bash -c '
		set -eu
		mount --bind "$OFF" "$ENABLE"
		[ "$(cat "$ENABLE")" = N ] || { echo "the bind mount does not show N"; exit 1; }
		"$MEDFS" "$V" "$M" --passphrase-file "$P" -f >"$LOG_OFF" 2>&1 &
		pid=$!
		for _ in $(seq 100); do mountpoint -q "$M" && break; sleep 0.1; done
		mountpoint -q "$M" || { echo "no mount: $(cat "$LOG_OFF")"; exit 1; }
		printf "written with enable_uring off" >"$M/off.txt"
		[ "$(cat "$M/off.txt")" = "written with enable_uring off" ] || { echo "read back"; exit 1; }
		cmp <(cat "$M/devfuse/rand") "$REF/devfuse.rand" || { echo "random file"; exit 1; }
		fusermount3 -u "$M" 2>/dev/null || umount "$M"
		wait "$pid"
	' || fail "mount with enable_uring off (seen N): $(cat "$LOG_OFF" 2>/dev/null)"
	LOG=$LOG_OFF on_devfuse "enable_uring seen N"
	assert_eq 1 "$(grep -cF "$HINT" "$LOG_OFF")" "times the driver says how to enable io_uring"
	# What the driver read it never wrote.
	assert_eq N "$(cat "$WORK/enable_off")" "enable_uring as the driver saw it, after its mount"
	mount_fg -o no_uring
	assert_eq "written with enable_uring off" "$(cat "$M/off.txt")" "file written on /dev/fuse"
	unmount "$M"
else
	echo "no unshare -m here: the hint with enable_uring off is not tested"
fi
if [ "$host_setting" != "$(cat "$ENABLE")" ]; then
	echo "note: enable_uring went from $host_setting to $(cat "$ENABLE") during the test: another process wrote it"
fi

finish
