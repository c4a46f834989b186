#!/bin/bash
# journal-ops: the access journal of a real mount records each operation:
# open, reads coalesced into a few ranges records (a 64 MiB file read with
# dd bs=128k), write, create, mkdir, symlink, delete, rename old -> new,
# truncate, setattr, xattr, and a denied open (allow_other, a policy and a
# real user) as DENIED with the rule line; an emergency grant (its start
# with the reason, the accesses it allowed flagged, its end); an
# integrity failure with the plaintext path and the offset; every record
# names the user and the program; medfs-journal verify passes after each
# unmount.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR
# shellcheck source=policy-lib.sh
. "$(dirname "$0")/policy-lib.sh"
for _cmd in jq setfattr getfattr; do
	if ! command -v "$_cmd" >/dev/null; then
		echo "SKIP: $_cmd not installed"
		exit 77
	fi
done

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
POL=$WORK/policy
LOG=$WORK/driver.log
J=$V/journal
make_passfile "$P" "journal ops test passphrase"
make_vault "$V" "$P"
mk_user BOB bob

write_policy "$POL" <<EOF
version 1
emergency-duration 1h
allow user:0 all /**
allow user:$BOB list /**
allow user:$BOB list,read /shared.txt
deny user:$BOB read /secret.txt
emergency allow user:$BOB list,read /ward/**
EOF
DENY_LINE=$(grep -n '^deny' "$POL" | cut -d: -f1)
EMERGENCY_LINE=$(grep -n '^emergency allow' "$POL" | cut -d: -f1)
REASON="resuscitation bed 4 MARTIN"
mount_fg "$V" "$M" "$P" "$LOG" -o allow_other,policy_only,policy="$POL"

step "operations through the mount"
echo "first" >"$M/old.txt"
cat "$M/old.txt" >/dev/null
mv "$M/old.txt" "$M/new.txt"
truncate -s 3 "$M/new.txt"
chmod 0640 "$M/new.txt"
touch -d "2020-01-01 00:00:00" "$M/new.txt"
setfattr -n user.note -v "a note" "$M/new.txt"
setfattr -x user.note "$M/new.txt"
rm "$M/new.txt"
mkdir "$M/dir"
ln -s target "$M/dir/link"
rm "$M/dir/link"
rmdir "$M/dir"
echo "top secret" >"$M/secret.txt"
echo "for all" >"$M/shared.txt"
head -c $((1 << 20)) /dev/urandom >"$M/mid"
mkdir "$M/ward"
echo "the chart of the ward" >"$M/ward/chart.txt"
head -c $((64 << 20)) /dev/urandom >"$WORK/big"
dd if="$WORK/big" of="$M/big" bs=1M status=none
dd if="$M/big" of="$WORK/big.back" bs=128k status=none
assert_file_eq "$WORK/big" "$WORK/big.back" "the 64 MiB file read back"

step "a denied open, and an allowed one, by a real user"
expect "$BOB" EACCES read "$M/secret.txt"
expect "$BOB" OK read "$M/shared.txt"

step "an emergency grant, an access under it, its end"
expect "$BOB" EACCES read "$M/ward/chart.txt"
as "$BOB" setfattr -n user.medfs.emergency -v "$REASON" "$M" || fail "bob's emergency grant"
expect "$BOB" OK read "$M/ward/chart.txt"
as "$BOB" setfattr -x user.medfs.emergency "$M" || fail "the end of bob's grant"
expect "$BOB" EACCES read "$M/ward/chart.txt"

step "policy reloads: one accepted, one rejected"
kill -HUP "$FG_PID"
wait_log "$LOG" "policy reloaded from"
cp "$POL" "$WORK/policy.good"
echo "allow nobody-such-user read /**" | cat "$WORK/policy.good" - | write_policy "$POL"
kill -HUP "$FG_PID"
wait_log "$LOG" "rejected: the policy in force stays"
unmount "$M"

step "the journal verifies"
assert_cmd_ok "medfs-journal verify" "$MEDFS_JOURNAL" verify "$J" --key "$AUDITOR.key"
"$MEDFS_JOURNAL" export "$J" --key "$AUDITOR.key" --format jsonl >"$WORK/j.jsonl" 2>/dev/null ||
	fail "medfs-journal export failed"

# count FILTER: the number of records jq FILTER selects.
count()
{
	jq -c "select($1)" "$WORK/j.jsonl" | grep -c . || true
}
# has WHAT FILTER: at least one record matches.
has()
{
	[ "$(count "$2")" -ge 1 ] || fail "no $1 record ($2)"
}

step "each operation has its record"
has "mount" '.op == "mount" and (.path | endswith("/vault")) and (.path2 | endswith("/mnt")) and (.detail | test("allow_other"))'
has "policy load" '.op == "policy-load" and (.detail | test("^loaded; digest [0-9a-f]{64}$"))'
assert_eq 2 "$(count '.op == "policy-load" and .result == 0')" "policy loads (mount and reload)"
assert_eq 1 "$(count '.op == "policy-load" and .result == 22 and (.detail | test("rejected"))')" \
	"rejected policy reloads"
assert_eq 1 "$(jq -s '[.[] | select(.op == "policy-load") | .detail | capture("digest (?<d>[0-9a-f]+)").d] | unique | length' "$WORK/j.jsonl")" \
	"distinct policy digests (the same policy in force throughout)"
has "create" '.op == "create" and .path == "/old.txt" and .result == 0'
has "write" '.op == "write" and .path == "/old.txt" and .bytes == 6 and .ranges == [{"offset":0,"length":6}]'
has "open" '.op == "open" and .path == "/old.txt" and .flags % 4 == 0 and (.program | endswith("/cat"))'
has "read" '.op == "read" and .path == "/old.txt" and .bytes == 6 and (.program | endswith("/cat"))'
has "rename" '.op == "rename" and .path == "/old.txt" and .path2 == "/new.txt" and .result == 0'
has "truncate" '.op == "truncate" and .path == "/new.txt" and .bytes == 3'
has "chmod" '.op == "setattr" and .path == "/new.txt" and .detail == "chmod 0640"'
has "utimens" '.op == "setattr" and .path == "/new.txt" and .detail == "utimens" and (.program | endswith("/touch"))'
has "setxattr" '.op == "xattr" and .path == "/new.txt" and .detail == "set user.note"'
has "removexattr" '.op == "xattr" and .path == "/new.txt" and .detail == "remove user.note"'
has "unlink" '.op == "delete" and .path == "/new.txt" and .detail == "unlink" and (.program | endswith("/rm"))'
has "mkdir" '.op == "mkdir" and .path == "/dir"'
has "symlink" '.op == "symlink" and .path == "/dir/link" and .path2 == "target"'
has "link unlink" '.op == "delete" and .path == "/dir/link"'
has "rmdir" '.op == "delete" and .path == "/dir" and .detail == "rmdir"'
has "unmount" '.op == "unmount"'
[ "$(count '.op == "mount"')" -eq 1 ] || fail "not one mount record"

step "the 64 MiB read: a handful of coalesced records covering the file"
n=$(count '.op == "read" and .path == "/big"')
echo "64 MiB read with dd bs=128k: $n read record(s)"
if [ "$n" -lt 1 ] || [ "$n" -gt 8 ]; then
	fail "$n read records for one sequential read (expected a handful)"
fi
total=$(jq -s '[.[] | select(.op == "read" and .path == "/big") | .bytes] | add' "$WORK/j.jsonl")
# Bytes transferred: the kernel may read a page twice.
if [ "$total" -lt $((64 << 20)) ]; then
	fail "bytes in the read records of /big: $total, less than the file"
fi
# The ranges, merged across records, cover the file exactly.
cover=$(jq -s -c '[.[] | select(.op == "read" and .path == "/big") | .ranges[]] | sort_by(.offset)
	| reduce .[] as $r ([]; if length > 0 and .[-1].end >= $r.offset
		then .[-1].end = ([.[-1].end, $r.offset + $r.length] | max)
		else . + [{start: $r.offset, end: ($r.offset + $r.length)}] end)' "$WORK/j.jsonl")
assert_eq "[{\"start\":0,\"end\":$((64 << 20))}]" "$cover" "ranges read of /big"
n=$(count '.op == "write" and .path == "/big"')
if [ "$n" -lt 1 ] || [ "$n" -gt 8 ]; then
	fail "$n write records for one sequential write"
fi

step "the denial: DENIED with the rule line, the user and the program"
has "denied open" ".op == \"denied\" and .path == \"/secret.txt\" and .user == \"$BOB\" and .rule_line == $DENY_LINE and .result == 13 and (.detail | test(\"op=open\")) and (.program | endswith(\"/fsop\"))"
has "bob's open" ".op == \"open\" and .path == \"/shared.txt\" and .user == \"$BOB\" and .rule_line > 0"
[ "$(count ".op == \"open\" and .path == \"/secret.txt\" and .user == \"$BOB\"")" -eq 0 ] ||
	fail "the denied open is journaled as an open"

step "every access record names its user and program"
n=$(count '(.op | IN("open","read","write","create","delete","rename","truncate","setattr","xattr","mkdir","symlink","denied")) and (.user == null or .program == null)')
assert_eq 0 "$n" "access records without a user name or program"

step "the emergency: its start with the reason, the accesses flagged, its end"
has "emergency start" ".op == \"emergency-start\" and .user == \"$BOB\" and .emergency and (.detail | contains(\"$REASON\"))"
has "open under the grant" ".op == \"open\" and .path == \"/ward/chart.txt\" and .user == \"$BOB\" and .emergency and .rule_line == $EMERGENCY_LINE"
has "read under the grant" ".op == \"read\" and .path == \"/ward/chart.txt\" and .user == \"$BOB\" and .emergency"
has "emergency end" ".op == \"emergency-end\" and .user == \"$BOB\" and (.detail | test(\"ended by its holder after [1-9]\"))"
# The second, the same denial within a minute, is counted in a summary.
assert_eq 2 "$(jq -s '[.[] | select(.path == "/ward/chart.txt") |
	if .op == "denied" then 1 elif .op == "denied-summary" then .count else 0 end] | add' \
	"$WORK/j.jsonl")" "denials of the chart, before and after the grant"
assert_eq 0 "$(count ".path == \"/ward/chart.txt\" and .user == \"$BOB\" and (.op | IN(\"denied\", \"denied-summary\") | not) and (.emergency | not)")" \
	"accesses of bob to the chart not flagged as emergency"

step "nothing about paths, nor the reason, reaches the driver's log"
log_has_no_path "$LOG" old.txt new.txt secret.txt shared.txt chart.txt "$REASON"

step "an integrity failure; and journal_every_read"
vf=$(vault_file_of_size "$V" 11)
"$FSOP" flip "$vf" 130 >/dev/null || fail "cannot damage the vault file of /secret.txt"
mount_vault "$V" "$M" "$P" -o journal_every_read
assert_fails_with EIO read "$M/secret.txt"
dd if="$M/mid" of=/dev/null bs=128k status=none
unmount "$M"
assert_cmd_ok "medfs-journal verify" "$MEDFS_JOURNAL" verify "$J" --key "$AUDITOR.key"
"$MEDFS_JOURNAL" export "$J" --key "$AUDITOR.key" --format jsonl >"$WORK/j.jsonl" 2>/dev/null ||
	fail "medfs-journal export failed"
has "integrity failure" '.op == "integrity" and .path == "/secret.txt" and .offset >= 0 and .result == 74 and (.detail | test("vault file tree/")) and (.program | endswith("/fsop"))'
# One record per read request (merged, one read of the file would be one).
n=$(count '.op == "read" and .path == "/mid" and (.ranges | length) == 1')
echo "1 MiB read with dd bs=128k and journal_every_read: $n read record(s)"
if [ "$n" -lt 2 ]; then
	fail "journal_every_read: $n read records for 1 MiB, not one per read request"
fi
finish
