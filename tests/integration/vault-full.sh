#!/bin/bash
# vault-full: a writer with no quota fills the vault's disk with empty
# files (doc/ADMIN.md, "Bounding what writers can fill"). Done as
# doc/ADMIN.md says: the vault on a small file system of its own (a 2 MiB
# tmpfs here), the journal on another (-o journal=DIR). The writer's
# creates end with ENOSPC; the rest of the mount keeps working, and the
# journal keeps recording (the failed creates with their ENOSPC, the
# accesses after them) and verifies.
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

VFS=$WORK/vaultfs
JFS=$WORK/journalfs
V=$VFS/vault
J=$JFS/journal
M=$WORK/mnt
P=$WORK/pass
POL=$WORK/policy
LOG=$WORK/driver.log
mkdir -p "$VFS" "$JFS"
# As doc/ADMIN.md shows them, with tmpfs for a dedicated partition.
if ! mount -t tmpfs -o size=2m,mode=0700 medfs-vault "$VFS" ||
	! mount -t tmpfs -o size=64m,mode=0700 medfs-journal "$JFS"; then
	fail "cannot mount the test's two tmpfs"
	exit 1
fi
make_passfile "$P" "vault full test passphrase"
make_vault "$V" "$P"
mk_user BOB bob
write_policy "$POL" <<EOF
allow user:0 all /**
allow user:$BOB list,create,read /**
EOF
mount_fg "$V" "$M" "$P" "$LOG" -o allow_other,policy="$POL",journal="$J"
chmod 0777 "$M"
echo "kept" >"$M/kept.txt"
chmod 0644 "$M/kept.txt"

step "bob creates empty files until the vault's file system is full"
out=$(as "$BOB" bash -c 'i=0
	while (: >"$1/f$i") 2>/dev/null; do
		i=$((i + 1))
		[ "$i" -lt 5000 ] || break
	done
	echo "$i"
	: >"$1/last"' _ "$M" 2>&1) || true
n=$(head -n 1 <<<"$out")
echo "bob created $n empty files"
[ "$n" -gt 50 ] && [ "$n" -lt 5000 ] || fail "files created before the disk filled: $n"
grep -q "No space left on device" <<<"$out" || fail "bob's create on a full vault: '$out'"
[ "$(df --output=avail -B1 "$VFS" | tail -n 1)" -lt 8192 ] || fail "the vault's file system is not full"

step "the mount and the journal go on"
assert_eq kept "$(as "$BOB" cat "$M/kept.txt" 2>&1)" "bob reads a file on a full vault"
assert_eq kept "$(cat "$M/kept.txt")" "root reads a file on a full vault"
as "$BOB" ls "$M" >/dev/null 2>&1 || fail "bob lists the root of a full vault"
grep -q "journal.*cannot be written" "$LOG" && fail "the journal failed: $(grep journal "$LOG")"
unmount "$M"
echo "the journal holds $(du -sb "$J" | cut -f1) bytes"

step "the journal recorded the failed creates and what came after"
assert_cmd_ok "medfs-journal verify" "$MEDFS_JOURNAL" verify "$J" --key "$AUDITOR.key"
"$MEDFS_JOURNAL" export "$J" --key "$AUDITOR.key" --format jsonl >"$WORK/j.jsonl" 2>/dev/null ||
	fail "medfs-journal export failed"
count() { jq -c "select($1)" "$WORK/j.jsonl" | grep -c . || true; }
assert_eq "$n" "$(count '.op == "create" and .result == 0 and (.path | test("^/f[0-9]+$"))')" \
	"bob's creates journaled"
[ "$(count '.op == "create" and .result == 28')" -ge 2 ] ||
	fail "no create journaled with ENOSPC (28)"
[ "$(count '.op == "open" and .path == "/kept.txt" and .result == 0')" -ge 2 ] ||
	fail "the reads after the disk filled are not journaled"
assert_eq 1 "$(count '.op == "unmount"')" "unmount records"
finish
