#!/bin/bash
# journal-keys: what an auditor expects beside file access reaches the
# journal: failed unlock attempts (a wrong passphrase at mount, in
# medfs-key and medfs-fsck) and every change of the vault's keys (init, slots added and
# removed, passphrase changed, rotation), made while the vault is mounted
# (the running driver appends them within a second) or not (the next
# mount does); and the slot kind each mount was unlocked with. They are
# shown by medfs-journal show and exported as DICOM audit messages (110114
# User Authentication, 110113 Security Alert), valid against the schema.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

V=$WORK/vault
M=$WORK/mnt
J=$V/journal
SPOOL=$V/journal-spool
KDF=(--kdf-time 1 --kdf-memory 8)
make_passfile "$WORK/p0" "journal keys test passphrase"
make_passfile "$WORK/p1" "journal keys test new passphrase"
make_passfile "$WORK/wrong" "not a passphrase of this vault"

# spooled: the number of records waiting in the spool.
spooled()
{
	find "$SPOOL" -name 'rec-*' 2>/dev/null | wc -l
}

# until_ingested: waits up to 10 s for the running driver to take them.
until_ingested()
{
	local n=0
	while [ "$(spooled)" -ne 0 ]; do
		n=$((n + 1))
		[ "$n" -lt 100 ] || {
			fail "$(spooled) records still in the spool of a mounted vault"
			return 0
		}
		sleep 0.1
	done
}

step "a wrong passphrase at mount and in medfs-key, the vault not mounted"
make_vault "$V" "$WORK/p0"
mkdir -p "$M"
if "$MEDFS" "$V" "$M" --passphrase-file "$WORK/wrong" >"$WORK/mount.out" 2>&1; then
	fail "mounted with a wrong passphrase"
	unmount "$M"
fi
assert_cmd_fails "add with a wrong passphrase" "$MEDFS_KEY" add "$V" --keyfile "$WORK/k1" \
	--passphrase-file "$WORK/wrong"
assert_cmd_fails "fsck with a wrong passphrase" "$MEDFS_FSCK" "$V" --passphrase-file "$WORK/wrong"
# init, and the three failures
assert_eq 4 "$(spooled)" "records spooled before the first mount"
assert_eq 700 "$(stat -c %a "$SPOOL")" "mode of the spool"

step "mounted: key changes reach the journal within a second"
mount_vault "$V" "$M" "$WORK/p0"
until_ingested
assert_cmd_ok "add a key file" "$MEDFS_KEY" add "$V" --keyfile "$WORK/k1" \
	--passphrase-file "$WORK/p0" --label boot
assert_cmd_ok "change the passphrase" "$MEDFS_KEY" passwd "$V" 0 \
	--new-passphrase-file "$WORK/p1" "${KDF[@]}" --keyfile "$WORK/k1"
assert_cmd_fails "remove with the old passphrase" "$MEDFS_KEY" remove "$V" 1 \
	--passphrase-file "$WORK/p0"
assert_cmd_ok "remove the key file slot" "$MEDFS_KEY" remove "$V" 1 \
	--passphrase-file "$WORK/p1"
until_ingested
unmount "$M"

step "a rotation, journaled at the next mount"
assert_cmd_ok "rotate" "$MEDFS_KEY" rotate "$V" --passphrase-file "$WORK/p1"
assert_eq 1 "$(spooled)" "records spooled by the rotation"
mount_vault "$V" "$M" "$WORK/p1"
until_ingested
unmount "$M"

step "medfs-journal show"
"$MEDFS_JOURNAL" verify "$J" --key "$AUDITOR.key" >"$WORK/verify" 2>&1 ||
	fail "the journal does not verify: $(cat "$WORK/verify")"
"$MEDFS_JOURNAL" show "$J" --key "$AUDITOR.key" >"$WORK/show" 2>"$WORK/show.err" ||
	fail "medfs-journal show failed: $(cat "$WORK/show.err")"
has()
{
	grep -F -- "$1" "$WORK/show" | grep -qF -- "$2" || fail "no $1 record saying '$2': $(cat "$WORK/show")"
}
has unlock-failed "medfs mount: wrong passphrase"
has unlock-failed "medfs-key add: wrong passphrase"
has unlock-failed "medfs-key remove: wrong passphrase"
has unlock-failed "medfs-fsck: wrong passphrase"
assert_eq 4 "$(grep -cF unlock-failed "$WORK/show")" "unlock-failed records"
has key-change "medfs-key init: created the vault"
has key-change "added key slot 1 (keyfile, label boot); authorized by slot 0 (passphrase)"
has key-change "changed the passphrase of key slot 0; authorized by slot 1 (keyfile)"
has key-change "removed key slot 1 (keyfile); authorized by slot 0 (passphrase)"
has key-change "medfs-key rotate: rotated the vault key"
assert_eq 2 "$(grep -F " mount " "$WORK/show" | grep -cF "unlocked with slot 0 (passphrase)")" \
	"mount records naming the slot that unlocked"
grep -F unlock-failed "$WORK/show" | grep -qF "$V" || fail "unlock-failed records do not name the vault"

step "DICOM export: 110114 for the failures, 110113 for the changes, valid"
"$MEDFS_JOURNAL" export "$J" --key "$AUDITOR.key" --format dicom --output-dir "$WORK/xml" ||
	fail "export --format dicom failed"
count()
{
	grep -l -- "$1" "$WORK"/xml/audit-*.xml | xargs -r grep -l -- "$2" | wc -l
}
assert_eq 4 "$(count '<EventID csd-code="110114"' 'EventTypeCode csd-code="110122"')" \
	"110114 User Authentication messages (login failed)"
assert_eq 4 "$(grep -l '<EventID csd-code="110114"' "$WORK"/xml/audit-*.xml | xargs grep -l 'EventOutcomeIndicator="4"' | wc -l)" \
	"failed logins with outcome 4"
[ "$(count '<EventID csd-code="110113"' 'medfs-key')" -ge 5 ] ||
	fail "key changes are not 110113 messages"
if command -v jing >/dev/null; then
	if ! out=$(jing -c "$MEDFS_SOURCE_ROOT/tests/data/dicom/audit-message.rnc" "$WORK"/xml/audit-*.xml 2>/dev/null); then
		echo "$out" >&2
		fail "jing rejects the exported messages"
	fi
else
	echo "jing not installed: schema not checked" >&2
fi
finish
