#!/bin/bash
# dead-mount: after kill -9 of the driver, its mount is left behind and
# every access to it fails with ENOTCONN. The next medfs on that mount
# point takes the dead medfs mount off and mounts, without a manual
# unmount; what was fsync'd before the kill reads back.
set -eu
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
make_passfile "$P" "dead-mount test passphrase"
make_vault "$V" "$P"

# kill_dead MNT: kill -9 of the driver of MNT, which stays mounted, dead.
kill_dead()
{
	kill_driver "$1"
	stat "$1" >/dev/null 2>"$WORK/err" && fail "$1 still answers after kill -9"
	grep -q "not connected" "$WORK/err" || fail "stat of the dead mount: $(cat "$WORK/err")"
}

step "kill -9 of the driver, then medfs again on the same mount point"
mount_vault "$V" "$M" "$P"
printf 'fsync before the kill\n' >"$WORK/want"
dd if="$WORK/want" of="$M/kept.txt" conv=fsync status=none
kill_dead "$M"
out=$("$MEDFS" "$V" "$M" --passphrase-file "$P" 2>&1) || fail "remount after kill -9 failed: $out"
grep -q "took off the mount of a medfs that had stopped" <<<"$out" ||
	fail "no word of the dead mount taken off: $out"
assert_mounted "$M"
DRIVER_PID[$M]=$(driver_pid "$M")
assert_file_eq "$WORK/want" "$M/kept.txt"
[ "$(grep -c " $M " /proc/self/mounts)" -eq 1 ] ||
	fail "$(grep -c " $M " /proc/self/mounts) mounts at $M, not 1"
unmount "$M"

finish
