#!/bin/bash
# journal-failclosed: when the journal cannot be written (its directory on
# a tiny tmpfs, filled up), every further request that reveals names,
# attributes or contents (open, create, mkdir, stat, readdir, getxattr,
# listxattr, readlink) fails with EIO, and the driver says why in its log;
# once space is back the mount resumes by itself and journals the outage
# (when, how long, how many requests were refused). With -o
# journal_failopen the mount keeps serving instead, and says so.
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
echo "inner" >"$M/dir/inner"
ln -s file "$M/link"
assert_ok setxattr "$M/file" user.patient 446f655e4a616e65
fill
assert_eq EIO "$(until_eio)" "an open once the journal's file system is full"
assert_fails_with EIO read "$M/file"
assert_fails_with EIO open "$M/new" wronly,creat
assert_fails_with EIO mkdir "$M/dir2"
assert_fails_with EIO unlink "$M/file"
assert_fails_with EIO rename "$M/file" "$M/file2"
wait_log "$LOG" "journal $J cannot be written: No space left on device; every access through the mount now fails with EIO"
assert_eq 1 "$(grep -c 'cannot be written' "$LOG")" "times the failure is logged"

step "while it is full, nothing is revealed"
# The kernel keeps names and attributes for a second (entry_timeout,
# attr_timeout): let them expire.
sleep 1.5
assert_fails_with EIO stat "$M/file"
assert_fails_with EIO stat "$M/dir/inner"
assert_fails_with EIO stat "$M"
assert_fails_with EIO listdir "$M"
assert_fails_with EIO listdir "$M/dir"
assert_fails_with EIO getxattr "$M/file" user.patient
assert_fails_with EIO listxattr "$M/file"
assert_fails_with EIO readlink "$M/link"

step "space back: the mount resumes by itself and journals the outage"
rm -f "$T/fill"
got=EIO
for _ in $(seq 50); do
	got=$("$FSOP" read "$M/file" 2>&1) || true
	[ "$got" != OK ] || break
	sleep 0.2
done
assert_eq OK "$got" "an open once space is back"
wait_log "$LOG" "journal $J can be written again after"
assert_eq content "$(cat "$M/file")" "the file once space is back"
assert_ok stat "$M/dir/inner"
assert_ok listdir "$M/dir"
assert_ok getxattr "$M/file" user.patient
assert_ok readlink "$M/link"
echo "after" >"$M/after" || fail "create once space is back"
unmount "$M"
"$MEDFS_JOURNAL" verify "$J" --key "$AUDITOR.key" >"$WORK/verify" 2>&1 ||
	fail "the journal does not verify after the outage: $(cat "$WORK/verify")"
"$MEDFS_JOURNAL" show "$J" --key "$AUDITOR.key" >"$WORK/show" 2>"$WORK/show.err" ||
	fail "medfs-journal show failed: $(cat "$WORK/show.err")"
out=$(grep -F journal-outage "$WORK/show" || true)
[ -n "$out" ] || fail "no journal-outage record: $(cat "$WORK/show")"
echo "$out" | grep -q "requests refused with EIO" || fail "outage record: $out"
echo "$out" | grep -q "No space left on device" || fail "outage record: $out"
n=$(echo "$out" | sed -n 's/.*count \([0-9]*\).*/\1/p')
[ "${n:-0}" -ge 9 ] || fail "outage record counts ${n:-no} refused requests, expected 9 or more: $out"
grep -F /after "$WORK/show" | grep -q create || fail "the create after the outage is not journaled"

step "journal_failopen: the mount keeps serving"
mount_fg "$V" "$M" "$P" "$LOG.2" -o journal="$J",journal_failopen
assert_eq content "$(cat "$M/file")" "the file after the remount"
fill
assert_eq OK "$(until_eio)" "opens with journal_failopen on a full journal"
echo "more" >"$M/other" || fail "create with journal_failopen on a full journal"
assert_ok mkdir "$M/dir3"
wait_log "$LOG.2" "journal_failopen: serving without a journal"
rm -f "$T/fill"
wait_log "$LOG.2" "requests were served unrecorded meanwhile"
unmount "$M"
"$MEDFS_JOURNAL" show "$J" --key "$AUDITOR.key" --op journal-outage >"$WORK/show.2" 2>&1 ||
	fail "medfs-journal show failed: $(cat "$WORK/show.2")"
grep -q "served unrecorded (journal_failopen)" "$WORK/show.2" ||
	fail "no outage record with journal_failopen: $(cat "$WORK/show.2")"
finish
