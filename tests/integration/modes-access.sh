#!/bin/bash
# modes-access: access(2) through a mount without a policy answers as the
# kernel does on a plain directory (issue 15): the same matrix of modes
# and masks, as root, on both, compared errno for errno; root's X_OK on a
# file without any x bit is EACCES. Each refusal is journaled (op access,
# right mode). The other mode checks of issue 14 (item 3: the driver
# checking modes itself instead of default_permissions) are not done yet.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
if ! command -v jq >/dev/null; then
	echo "SKIP: jq not installed"
	exit 77
fi

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
PLAIN=$WORK/plain
J=$V/journal
make_passfile "$P" "modes access test passphrase"
make_vault "$V" "$P"
mount_vault "$V" "$M" "$P"
mkdir -p "$PLAIN"

MODES="0000 0400 0600 0644 0700 0755 0010 0001 0100 4600"
MASKS="f r w x rw rx wx rwx"
step "the same files and directories on both"
for d in "$PLAIN" "$M"; do
	for m in $MODES; do
		echo data >"$d/f$m"
		chmod "$m" "$d/f$m"
		mkdir "$d/d$m"
		chmod "$m" "$d/d$m"
	done
done

step "access(2) as root: errno for errno"
: >"$WORK/denied"
for m in $MODES; do
	for k in $MASKS; do
		for t in f d; do
			want=$("$FSOP" access "$PLAIN/$t$m" "$k" || true)
			got=$("$FSOP" access "$M/$t$m" "$k" || true)
			assert_eq "$want" "$got" "access($t$m, $k)"
			[ "$got" = OK ] || echo "/$t$m" >>"$WORK/denied"
		done
	done
done
assert_eq EACCES "$("$FSOP" access "$M/f0600" x || true)" "root's X_OK on a 0600 file"
[ -s "$WORK/denied" ] || fail "no refusal in the matrix"
unmount "$M"

step "each refusal is journaled"
# The journal keeps the first denial of a path and operation in a minute
# (and summarizes the others): every refused path has its record.
"$MEDFS_JOURNAL" export "$J" --key "$AUDITOR.key" --format jsonl >"$WORK/j.jsonl" 2>/dev/null ||
	fail "medfs-journal export failed"
jq -r 'select(.op == "denied" and (.detail | test("op=access right=mode"))) | .path' "$WORK/j.jsonl" |
	sort -u >"$WORK/journaled"
sort -u "$WORK/denied" >"$WORK/denied.sorted"
assert_eq "$(cat "$WORK/denied.sorted")" "$(cat "$WORK/journaled")" "the paths of the journaled refusals by mode"
grep -qx /f0600 "$WORK/journaled" || fail "no journaled refusal of X_OK on /f0600"
finish
