#!/bin/bash
# journal-flood: a user with no rights at all cannot make the journal grow
# without bound. 20,000 denied stats of one file grow it by less than 1 MiB,
# and the number of repeats reaches the journal in a denied-summary record
# (medfs-journal show); 3,000 denied stats of different names are bounded
# by the uid's budget, their count summarized too. Denials of another user
# are still recorded one by one, and opens by an allowed user are journaled.
# With less than the reserve free on the journal's file system, denials are
# only counted, while opens are still journaled.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR
# shellcheck source=policy-lib.sh
. "$(dirname "$0")/policy-lib.sh"
if ! command -v perl >/dev/null; then
	echo "SKIP: perl not installed"
	exit 77
fi

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
J=$WORK/journal
POL=$WORK/policy
LOG=$WORK/driver.log
make_passfile "$P" "journal flood test passphrase"
make_vault "$V" "$P"

mk_user EVE eve
mk_user ALICE alice
mk_user BOB bob
write_policy "$POL" <<EOF2
version 1
allow user:$ALICE all /**
EOF2

# jsize: bytes in the journal directory.
jsize()
{
	du -sb "$J" | cut -f1
}

mount_fg "$V" "$M" "$P" "$LOG" -o allow_other,policy_only,policy="$POL",journal="$J"
as "$ALICE" sh -c "echo content >'$M/file'" || fail "alice cannot create a file"

step "20,000 denied stats of one file by a user without rights"
before=$(jsize)
as "$EVE" perl -e 'for (1..20000) { stat($ARGV[0]) }' "$M/file"
after_same=$(jsize)
echo "journal grew by $((after_same - before)) bytes" >&2
[ $((after_same - before)) -lt 1048576 ] ||
	fail "20,000 denied stats grew the journal by $((after_same - before)) bytes (1 MiB allowed)"

step "3,000 denied stats of different names"
as "$EVE" perl -e 'for (1..3000) { stat("$ARGV[0]/n$_") }' "$M"
after_many=$(jsize)
echo "journal grew by $((after_many - after_same)) bytes" >&2
[ $((after_many - after_same)) -lt 1048576 ] ||
	fail "3,000 denied stats of other names grew the journal by $((after_many - after_same)) bytes"

step "the others are still journaled"
expect "$BOB" EACCES stat "$M/file"
expect "$ALICE" OK read "$M/file"
unmount "$M"

"$MEDFS_JOURNAL" show "$J" --key "$AUDITOR.key" >"$WORK/show" 2>"$WORK/show.err" ||
	fail "medfs-journal show failed: $(cat "$WORK/show.err")"
sum=$(grep -F denied-summary "$WORK/show" | grep -F "/file" | grep -F "$EVE" || true)
[ -n "$sum" ] || fail "no denied-summary record of eve's stats of /file: $(grep -F "$EVE" "$WORK/show" | head)"
n=$(echo "$sum" | sed -n 's/.*count \([0-9]*\).*/\1/p' | head -n 1)
# each stat is a lookup; the first one is a record of its own
[ "${n:-0}" -ge 19999 ] || fail "denied-summary counts ${n:-nothing}, expected at least 19999: $sum"
over=$(grep -F denied-summary "$WORK/show" | grep -F "$EVE" | grep -F "not recorded one by one" || true)
n=$(echo "$over" | sed -n 's/.*count \([0-9]*\).*/\1/p' | head -n 1)
[ "${n:-0}" -ge 2900 ] || fail "the budget summary counts ${n:-nothing}, expected about 3000: $over"
records=$(grep -F "$EVE" "$WORK/show" | grep -cF " denied " || true)
[ "$records" -le 70 ] || fail "$records denied records of eve, expected at most the budget"
grep -F "$BOB" "$WORK/show" | grep -qF denied || fail "bob's denial is not journaled"
grep -F "$ALICE" "$WORK/show" | grep -F /file | grep -qF open || fail "alice's open is not journaled"
"$MEDFS_JOURNAL" export "$J" --key "$AUDITOR.key" --format jsonl >"$WORK/j.jsonl" 2>/dev/null ||
	fail "medfs-journal export failed"
grep -q '"op":"denied-summary".*"count":[1-9]' "$WORK/j.jsonl" ||
	fail "export has no denied-summary with its count"

step "under the reserve, denials are counted, opens still recorded"
T=$WORK/small
J2=$T/journal
mkdir "$T"
# 8 MiB: the reserve is a quarter of it, 2 MiB.
mount -t tmpfs -o size=8m,mode=0700 medfs-test-flood "$T"
mount_fg "$V" "$M" "$P" "$LOG.2" -o allow_other,policy_only,policy="$POL",journal="$J2"
free_kib=$(df -k --output=avail "$T" | tail -n 1)
head -c $(((free_kib - 1024) * 1024)) /dev/zero >"$T/fill"
sleep 1.5 # the driver looks at the free space every second
as "$EVE" perl -e 'for (1..200) { stat("$ARGV[0]/r$_") }' "$M"
as "$ALICE" cat "$M/file" >/dev/null || fail "alice cannot read under the reserve"
rm -f "$T/fill"
unmount "$M"
"$MEDFS_JOURNAL" show "$J2" --key "$AUDITOR.key" >"$WORK/show.2" 2>&1 ||
	fail "medfs-journal show failed: $(cat "$WORK/show.2")"
umount "$T"
n=$(grep -F "$EVE" "$WORK/show.2" | grep -cF " denied " || true)
assert_eq 0 "$n" "denial records of eve written under the reserve"
over=$(grep -F denied-summary "$WORK/show.2" | grep -F "$EVE" || true)
n=$(echo "$over" | sed -n 's/.*count \([0-9]*\).*/\1/p' | head -n 1)
assert_eq 200 "${n:-none}" "denials counted under the reserve"
grep -F "$ALICE" "$WORK/show.2" | grep -F /file | grep -qF open ||
	fail "alice's open under the reserve is not journaled"
finish
