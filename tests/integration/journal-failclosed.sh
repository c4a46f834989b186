#!/bin/bash
# journal-failclosed: when the journal cannot be written (its directory on
# a tiny tmpfs, filled up), every further open, create and mkdir fails
# with EIO, also once space is back, and the driver says why in its log;
# with -o journal_failopen the mount keeps serving instead, and says so.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR
# shellcheck source=policy-lib.sh
. "$(dirname "$0")/policy-lib.sh"

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
LOG=$WORK/driver.log
T=$WORK/small
J=$T/journal
make_passfile "$P" "journal fail closed test passphrase"
make_vault "$V" "$P"
mkdir "$T"
mount -t tmpfs -o size=64k,mode=0700 medfs-test-journal "$T"

# fill: takes every free byte of the journal's file system.
fill()
{
	head -c 1M /dev/zero >"$T/fill" 2>/dev/null || true
	sync -f "$T" 2>/dev/null || true
}

# until_eio: opens a file through the mount until an open fails; prints
# the outcome of the last one (EIO expected), after at most 500 tries.
until_eio()
{
	local i got=OK
	for i in $(seq 500); do
		got=$("$FSOP" read "$M/file" 2>&1) || true
		[ "$got" = OK ] || break
	done
	echo "$got after $i opens" >&2
	echo "$got"
}

step "the journal fills up: opens fail with EIO"
mount_fg "$V" "$M" "$P" "$LOG" -o journal="$J"
echo "content" >"$M/file"
mkdir "$M/dir"
fill
assert_eq EIO "$(until_eio)" "an open once the journal's file system is full"
assert_fails_with EIO read "$M/file"
assert_fails_with EIO open "$M/new" wronly,creat
assert_fails_with EIO mkdir "$M/dir2"
assert_fails_with EIO unlink "$M/file"
assert_fails_with EIO rename "$M/file" "$M/file2"
wait_log "$LOG" "journal $J cannot be written: No space left on device; every access through the mount now fails with EIO"
assert_eq 1 "$(grep -c 'cannot be written' "$LOG")" "times the failure is logged"

step "space back: still closed until a remount"
rm -f "$T/fill"
assert_fails_with EIO read "$M/file"
unmount "$M"

step "journal_failopen: the mount keeps serving"
mount_fg "$V" "$M" "$P" "$LOG.2" -o journal="$J",journal_failopen
assert_eq content "$(cat "$M/file")" "the file after the remount"
fill
assert_eq OK "$(until_eio)" "opens with journal_failopen on a full journal"
echo "more" >"$M/other" || fail "create with journal_failopen on a full journal"
assert_ok mkdir "$M/dir3"
wait_log "$LOG.2" "journal_failopen: serving without a journal"
rm -f "$T/fill"
unmount "$M"
finish
