#!/bin/bash
# journal-full: the journal's file system fills up just before an unmount.
# The records of the unmount and its closing checkpoint still fit in the
# last page of the segment, but nothing else does: the new HEAD cannot be
# written. Whatever step fails, the journal left behind verifies (HEAD
# names the last checkpoint in the segments, or an earlier one with no
# checkpoint after it), the driver says in its log that the final
# checkpoint failed and why, and once space is back a mount seals what was
# left unsealed, and no record written before the failure is lost.
# Repeated with the segment ending at several places in its last page, so
# that the failure hits each step of the close: the unmount record, the
# checkpoint, HEAD. Then the disk fails (EIO) on the sync of HEAD, and on
# the sync of the segment after the closing checkpoint (tests/syncshim.so).
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
T=$WORK/small
J=$T/journal
PAGE=4096
make_passfile "$P" "journal full test passphrase"
make_vault "$V" "$P"
mkdir "$T"
if ! mount -t tmpfs -o size=256k,mode=0700 medfs-test-journal "$T"; then
	fail "cannot mount the test's tmpfs"
	exit 1
fi

# The last (current) segment of the journal, and where it ends in its page.
last_segment() { find "$J" -name 'seg-*.mdj' | sort | tail -n 1; }
slack() { echo $((PAGE - $(stat -c %s "$(last_segment)") % PAGE)); }

verify()
{
	"$MEDFS_JOURNAL" verify "$J" --key "$AUDITOR.key" >"$WORK/verify" 2>&1
}

# One round: mount, write marker files (journaled creates), journal reads
# until the segment leaves between $1 and $2 free bytes in its last page,
# fill the file system, unmount; check the journal, free the space, remount.
round()
{
	local lo=$1 hi=$2 tag=$3 i s log=$WORK/driver.$3.log
	mount_fg "$V" "$M" "$P" "$log" -o journal="$J"
	for i in 1 2 3; do
		echo "$tag $i" >"$M/$tag-$i" || fail "create $tag-$i"
	done
	sync -f "$T"
	for i in $(seq 300); do
		s=$(slack)
		[ "$s" -lt "$lo" ] || [ "$s" -gt "$hi" ] || break
		cat "$M/$tag-1" >/dev/null
	done
	echo "round $tag: the segment leaves $(slack) bytes in its last page"
	head -c 1M /dev/zero >"$T/fill" 2>/dev/null || true
	unmount "$M"
	echo "round $tag: driver log:"
	grep journal "$log" | sed 's/^/  /' || true
	if verify; then
		echo "round $tag: verify on a full disk: ok"
	else
		fail "round $tag: the journal does not verify after an unmount on a full disk: $(cat "$WORK/verify")"
	fi
	rm -f "$T/fill"
	ls -la "$J" >"$WORK/ls.$tag"
	grep -q '\.tmp' "$WORK/ls.$tag" && echo "round $tag: a temporary file is left: $(cat "$WORK/ls.$tag")"
	verify || fail "round $tag: the journal does not verify once space is back: $(cat "$WORK/verify")"
}

step "the disk fills with room left for the closing checkpoint, not for HEAD"
round 900 3000 a
step "room for the unmount record only"
round 150 300 b
step "no room at all"
round 1 60 c
step "room for a few records and the checkpoint"
round 600 900 d

# eio_round TAG SUFFIX WHAT: the disk fails (EIO) on the syncs of the files
# whose path ends in SUFFIX during the unmount: the driver logs WHAT, and
# the journal still verifies.
eio_round()
{
	local tag=$1 suffix=$2 what=$3 i log=$WORK/driver.$1.log
	MEDFS_WRAPPER="env LD_PRELOAD=$SYNCSHIM MEDFS_SYNC_LOG=$WORK/syncs" \
		mount_fg "$V" "$M" "$P" "$log" -o journal="$J"
	for i in 1 2 3; do
		echo "$tag $i" >"$M/$tag-$i" || fail "create $tag-$i"
	done
	echo "$suffix" >"$WORK/syncs.fail"
	unmount "$M"
	rm -f "$WORK/syncs.fail"
	grep -q "$what" "$log" || fail "round $tag: no '$what' in the driver's log: $(cat "$log")"
	grep -q "was not closed cleanly: Input/output error" "$log" ||
		fail "round $tag: the driver does not say the journal was not closed cleanly: $(cat "$log")"
	verify || fail "round $tag: the journal does not verify after a failed sync at unmount: $(cat "$WORK/verify")"
	[ ! -e "$J/HEAD.tmp" ] || fail "round $tag: HEAD.tmp left behind"
}

SYNCSHIM=${SYNCSHIM:-$(dirname "$RWCHECK")/syncshim.so}
if [ -f "$SYNCSHIM" ]; then
	step "the disk fails while HEAD is written, after the closing checkpoint"
	eio_round e /HEAD.tmp "writing HEAD failed (segment [0-9]*): Input/output error"
	step "the disk fails while the closing checkpoint is synced"
	eio_round f .mdj "syncing a segment failed (segment [0-9]*): Input/output error"
else
	fail "$SYNCSHIM is not built"
fi

step "space back: a mount seals what was left, nothing is lost"
mount_fg "$V" "$M" "$P" "$WORK/driver.last.log" -o journal="$J"
assert_eq "a 1" "$(cat "$M/a-1")" "a file written before the disk filled"
unmount "$M"
verify || fail "the journal does not verify after the last mount: $(cat "$WORK/verify")"
grep -q "HEAD" "$WORK/verify" && fail "verify still speaks of HEAD: $(cat "$WORK/verify")"
# stderr apart: its "N records" line would land in the middle of a record
# line wherever stdout's buffer was flushed.
"$MEDFS_JOURNAL" show "$J" --key "$AUDITOR.key" >"$WORK/show" 2>"$WORK/show.err" ||
	fail "medfs-journal show failed: $(cat "$WORK/show.err")"
for tag in a b c d e f; do
	for i in 1 2 3; do
		grep -F "/$tag-$i" "$WORK/show" | grep -q create ||
			fail "the create of /$tag-$i is not in the journal"
	done
done
n=$(grep -c unmount "$WORK/show" || true)
[ "$n" -ge 4 ] || fail "unmount records: $n, expected at least 4 (one a round that had room for it, and the last)"
finish
