#!/bin/bash
# journal-noauditor: a vault without an auditor key refuses to mount, says
# how to make and record one, and writes no journal; once the key is
# recorded with medfs-key set-auditor it mounts and journals.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
make_passfile "$P" "journal no auditor test passphrase"
"$MEDFS_KEY" init "$V" --passphrase-file "$P" --kdf-time 1 --kdf-memory 8 >/dev/null ||
	fail "medfs-key init without an auditor key"
mkdir -p "$M"

step "no auditor key: no mount"
rc=0
out=$("$MEDFS" "$V" "$M" --passphrase-file "$P" 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "medfs mounted a vault without an auditor key"
assert_not_mounted "$M"
want="medfs: $V has no auditor key: create one with 'medfs-journal keygen --out PREFIX' and record it with 'medfs-key set-auditor $V PREFIX.pub'"
assert_eq "$want" "$out" "the message"
[ ! -e "$V/journal" ] || fail "a journal was started for a vault that does not mount"
# In the foreground too.
rc=0
out=$("$MEDFS" "$V" "$M" --passphrase-file "$P" -f 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "medfs -f mounted a vault without an auditor key"
assert_eq "$want" "$out" "the message in the foreground"
assert_not_mounted "$M"

step "with the key recorded, it mounts and journals"
make_auditor
assert_cmd_ok "medfs-key set-auditor" "$MEDFS_KEY" set-auditor "$V" "$AUDITOR.pub" --passphrase-file "$P"
mount_vault "$V" "$M" "$P"
echo hello >"$M/file"
unmount "$M"
assert_cmd_ok "medfs-journal verify" "$MEDFS_JOURNAL" verify "$V/journal" --key "$AUDITOR.key"
"$MEDFS_JOURNAL" show "$V/journal" --key "$AUDITOR.key" --op create >"$WORK/show" 2>/dev/null ||
	fail "medfs-journal show failed"
grep -q ' /file ' "$WORK/show" || fail "no create of /file in the journal"
finish
