#!/bin/bash
# small-files: open/read/close throughput of small files through a medfs
# mount, without and with an access policy, with the vault on tmpfs and on
# the disk under $TMPDIR. Prints a table of files per second; asserts
# nothing about timing (it fails only if something does not work).
#
# Columns: the same files in a plain directory (no FUSE, for scale); the
# mount without a policy; with a policy (kernel caches of names and
# attributes off, so every lookup reaches the policy: the default); with a
# policy and entry_timeout=1,attr_timeout=1.
#
# Environment: BENCH_FILES (2000), BENCH_SIZE (bytes, 2048), BENCH_ROUNDS
# (reads of every file per measure, 5), BENCH_REPEAT (measures, the best
# kept, 3), OPENREAD (the helper), and lib.sh's.
set -eu
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"

OPENREAD=${OPENREAD:-$_build/tests/bench/openread}
FILES=${BENCH_FILES:-2000}
SIZE=${BENCH_SIZE:-2048}
ROUNDS=${BENCH_ROUNDS:-5}
REPEAT=${BENCH_REPEAT:-3}
[ -x "$OPENREAD" ] || {
	echo "FAIL: $OPENREAD is not built" >&2
	exit 1
}

P=$WORK/pass
POL=$WORK/policy
make_passfile "$P" "benchmark passphrase"

# A policy of some size, most of it for others, as a site would have: the
# reader (root here, a subject like any other) is allowed by a late rule.
{
	echo "version 1"
	for i in $(seq 1 20); do
		echo "allow user:$((60000 + i)) list,read /ward$i/**"
		echo "allow group:$((61000 + i)) list /ward$i/*/index"
	done
	echo "deny user:60100 all /**"
	echo "deny group:61100 read /data/**"
	echo "emergency allow group:61200 list,read /**"
	echo "allow user:0 list,read /data/**"
} >"$POL"
chmod 0600 "$POL"

# rate DIR: files per second reading the FILES files of DIR, after one
# round to warm up the caches of the kernel and of the driver; the best of
# REPEAT measures, as other work on the machine only ever slows one down.
rate()
{
	local best=0 r _
	"$OPENREAD" read "$1" "$FILES" 1 >/dev/null
	for _ in $(seq 1 "$REPEAT"); do
		r=$("$OPENREAD" read "$1" "$FILES" "$ROUNDS" | cut -d' ' -f1)
		[ "$r" -le "$best" ] || best=$r
	done
	echo "$best"
}

# measure NAME DIR: one line of the table, for storage at DIR.
declare -A RESULT
measure()
{
	local name=$1 dir=$2 v m
	v=$dir/vault
	m=$WORK/mnt-$name
	step "$name ($(stat -f -c %T "$dir")): $FILES files of $SIZE bytes"
	"$OPENREAD" create "$dir/plain" "$FILES" "$SIZE"
	RESULT[$name, plain]=$(rate "$dir/plain")

	make_vault "$v" "$P"
	mount_vault "$v" "$m" "$P"
	"$OPENREAD" create "$m/data" "$FILES" "$SIZE"
	RESULT[$name, none]=$(rate "$m/data")
	unmount "$m"

	mount_vault "$v" "$m" "$P" -o policy="$POL"
	RESULT[$name, policy]=$(rate "$m/data")
	unmount "$m"

	mount_vault "$v" "$m" "$P" -o policy="$POL",entry_timeout=1,attr_timeout=1
	RESULT[$name, cached]=$(rate "$m/data")
	unmount "$m"
}

mkdir "$WORK/tmpfs" "$WORK/disk"
mount -t tmpfs -o size=1g,mode=0700 medfs-bench "$WORK/tmpfs"
measure tmpfs "$WORK/tmpfs"
measure disk "$WORK/disk"

echo
echo "open-read-close of $FILES files of $SIZE bytes, files per second (best of $REPEAT x $ROUNDS rounds):"
printf '%-8s %12s %12s %12s %16s\n' storage plain "no policy" policy "policy+timeouts"
for name in tmpfs disk; do
	printf '%-8s %12s %12s %12s %16s\n' "$name" "${RESULT[$name, plain]}" \
		"${RESULT[$name, none]}" "${RESULT[$name, policy]}" "${RESULT[$name, cached]}"
done
finish
