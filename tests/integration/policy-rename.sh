#!/bin/bash
# policy-rename: a rename does not change anybody's rights below it (issue
# 14). A user allowed everything under /reports but denied one file in it
# cannot rename its parent directory (or the file) to escape the deny; a
# directory cannot be moved to where other users' rules see it otherwise;
# a file the renamer may read can (it could be copied); renames within
# what the rules treat alike still work, exchanges too. Each refusal is
# EACCES, in the system log without a path and in the journal with it.
# Also: a directory's link count says nothing of hidden subdirectories.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR
# shellcheck source=policy-lib.sh
. "$(dirname "$0")/policy-lib.sh"
if ! command -v jq >/dev/null; then
	echo "SKIP: jq not installed"
	exit 77
fi

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
POL=$WORK/policy
LOG=$WORK/driver.log
J=$V/journal
make_passfile "$P" "policy rename test passphrase"
make_vault "$V" "$P"

mk_group RAD rad
mk_user XAV xav
mk_user RITA rita "$RAD"
mk_user MOV mov
write_policy "$POL" <<EOF
version 1
allow user:0 all /**
allow user:$XAV all /reports/**
deny user:$XAV all /reports/x/secret.txt
allow group:$RAD list,read /reports/shared/**
allow user:$MOV list,create,delete /reports/**
EOF
DENY_LINE=$(grep -n '^deny' "$POL" | cut -d: -f1)
mount_fg "$V" "$M" "$P" "$LOG" -o allow_other,policy_only,policy="$POL"
mkdir -p "$M/reports/x" "$M/reports/shared" "$M/reports/private/sub" "$M/reports/a"
echo "the secret" >"$M/reports/x/secret.txt"
echo "other" >"$M/reports/x/other.txt"
echo "private" >"$M/reports/private/p.txt"
echo "report" >"$M/reports/r.txt"
echo "one" >"$M/reports/a/1.txt"
chown -R "$XAV" "$M/reports"

step "the deny holds"
expect "$XAV" EACCES read "$M/reports/x/secret.txt"
expect "$XAV" OK read "$M/reports/x/other.txt"

step "renaming the parent of the denied file is refused"
expect "$XAV" EACCES rename "$M/reports/x" "$M/reports/y"
expect "$XAV" ENOENT read "$M/reports/y/secret.txt"
expect "$XAV" EACCES read "$M/reports/x/secret.txt"
expect "$XAV" EACCES rename "$M/reports" "$M/reports2"
expect "$XAV" EACCES rename "$M/reports/x/secret.txt" "$M/reports/x/s2.txt"
mkdir "$M/reports/z"
chown "$XAV" "$M/reports/z"
expect "$XAV" EACCES rename "$M/reports/z" "$M/reports/x" exchange
expect "$XAV" ENOENT read "$M/reports/z/secret.txt"

step "moving what one may not read where others' rules differ is refused"
# mov may rename anything in /reports but read nothing: what he moves
# into /reports/shared, radiologists could read.
expect "$RITA" EACCES read "$M/reports/private/p.txt"
expect "$MOV" EACCES rename "$M/reports/private" "$M/reports/shared/private"
expect "$RITA" ENOENT read "$M/reports/shared/private/p.txt"
expect "$MOV" EACCES rename "$M/reports/private/p.txt" "$M/reports/shared/p.txt"
expect "$MOV" EACCES rename "$M/reports/shared" "$M/reports/shared2"
expect "$RITA" ENOENT read "$M/reports/shared/p.txt"

step "what the rules treat alike moves; what its renamer could copy too"
expect "$MOV" OK rename "$M/reports/a" "$M/reports/b"
expect "$MOV" OK rename "$M/reports/b/1.txt" "$M/reports/private/sub/1.txt"
expect "$MOV" OK rename "$M/reports/private/sub" "$M/reports/sub"
expect "$MOV" OK rename "$M/reports/b" "$M/reports/sub" exchange
expect "$XAV" OK rename "$M/reports/r.txt" "$M/reports/shared/r.txt"
expect "$RITA" OK read "$M/reports/shared/r.txt"
expect "$XAV" OK rename "$M/reports/private" "$M/reports/shared/private"
expect "$RITA" OK read "$M/reports/shared/private/p.txt"
expect "$XAV" OK read "$M/reports/x/other.txt"
expect root OK rename "$M/reports/x" "$M/reports/y"

step "link counts of directories hide what is hidden"
mkdir -p "$M/reports/shared/d1" "$M/reports/shared/d2"
n_root=$(stat -c %h "$M/reports/shared")
n_rita=$(as "$RITA" stat -c %h "$M/reports/shared")
assert_eq "$n_root" "$n_rita" "the link count of /reports/shared for root and for rita"
assert_eq 1 "$n_rita" "the link count of a directory"
assert_eq 1 "$(as "$RITA" find "$M/reports/shared" -maxdepth 0 -printf '%n')" "the link count through readdir"
assert_eq 1 "$(find "$M/reports" -maxdepth 1 -name shared -printf '%n')" "the link count of an entry of a listing"

step "the refusals are logged without paths and journaled with them"
wait_log "$LOG" "denied: uid=$(id -u "$XAV") op=rename right=move rule=$DENY_LINE"
log_has_no_path "$LOG" secret private shared reports other.txt
unmount "$M"
"$MEDFS_JOURNAL" export "$J" --key "$AUDITOR.key" --format jsonl >"$WORK/j.jsonl" 2>/dev/null ||
	fail "medfs-journal export failed"
n=$(jq -c "select(.op == \"denied\" and .path == \"/reports/x\" and .rule_line == $DENY_LINE and (.detail | test(\"op=rename right=move\")))" "$WORK/j.jsonl" | grep -c . || true)
# (the journal keeps the first denial of a path and operation in a
# minute, and summarizes the others)
[ "$n" -ge 1 ] || fail "no journaled refusal of the rename of /reports/x"
n=$(jq -c "select(.op == \"denied\" and .path == \"/reports/private\" and .user == \"$MOV\" and (.detail | test(\"op=rename right=move\")))" "$WORK/j.jsonl" | grep -c . || true)
[ "$n" -ge 1 ] || fail "no journaled refusal of the move of /reports/private"
finish
