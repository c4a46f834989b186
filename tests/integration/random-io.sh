#!/bin/bash
# random-io: the same seeded random pwrite/pread/ftruncate sequence on a file
# under the mount and on a plain file, every read compared; a 64 MiB file;
# the results compared again after a reopen and after a remount.
# MEDFS_SEED=N replays a run.
set -eu
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
R=$WORK/ref
mkdir -p "$R"
make_passfile "$P" "random-io test passphrase"
make_vault "$V" "$P"
mount_vault "$V" "$M" "$P"

seed=${MEDFS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "random-io: seed $seed (rerun with MEDFS_SEED=$seed)"

step "small file, many operations near block boundaries"
"$RWCHECK" random "$M/small" "$R/small" "$seed" 8000 $((256 << 10)) ||
	fail "random I/O on a small file (seed $seed)"

step "1 MiB file"
mkdir "$M/sub"
"$RWCHECK" random "$M/sub/medium" "$R/medium" $((seed + 1)) 6000 $((1 << 20)) ||
	fail "random I/O on a 1 MiB file (seed $((seed + 1)))"

step "64 MiB file"
"$RWCHECK" random "$M/big" "$R/big" $((seed + 2)) 3000 $((64 << 20)) prefill ||
	fail "random I/O on a 64 MiB file (seed $((seed + 2)))"

step "compare after remount"
unmount "$M"
mount_vault "$V" "$M" "$P"
assert_file_eq "$R/small" "$M/small" "small file after remount"
assert_file_eq "$R/medium" "$M/sub/medium" "1 MiB file after remount"
assert_file_eq "$R/big" "$M/big" "64 MiB file after remount"

step "more random I/O on the remounted 64 MiB file"
"$RWCHECK" random "$M/big" "$R/big" $((seed + 3)) 1500 $((64 << 20)) keep ||
	fail "random I/O on the 64 MiB file after remount (seed $((seed + 3)))"
unmount "$M"
mount_vault "$V" "$M" "$P"
assert_file_eq "$R/big" "$M/big" "64 MiB file after a second remount"
unmount "$M"
finish
