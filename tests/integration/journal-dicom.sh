#!/bin/bash
# journal-dicom: a DICOM Part 10 file written through the mount under a
# UUID-like name gets its identifiers (patient, study, SOP instance and
# class, modality) kept in its encrypted metadata at release; its later
# opens and reads, also after a remount, name the patient and study in
# the journal, and `medfs-journal show --patient` finds them. A file
# rewritten as something else loses them; one written in small pieces has
# them too.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
if ! command -v jq >/dev/null; then
	echo "SKIP: jq not installed"
	exit 77
fi

DATA=$MEDFS_SOURCE_ROOT/tests/data/dicom
V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
J=$V/journal
make_passfile "$P" "journal dicom test passphrase"
make_vault "$V" "$P"

# The identifiers of the committed fixtures (tests/data/dicom/ct.dump).
CT_PATIENT=PAT001
CT_STUDY=1.2.826.0.1.3680043.8.498.1001
CT_SOP=1.2.826.0.1.3680043.8.498.1001.1.1
CT_CLASS=1.2.840.10008.5.1.4.1.1.2
UUID=5f0e8a52-3c1b-4c7e-9a0d-2b6f4e1d7c93
OTHER=0b7d2c1e-8f4a-4d3b-a6c5-9e2f1a0b3c4d

mount_vault "$V" "$M" "$P"
step "a DICOM file written, then read"
cp "$DATA/ct-explicit-deflen.dcm" "$M/$UUID"
cmp -s "$DATA/ct-explicit-deflen.dcm" "$M/$UUID" || fail "the DICOM file read back differs"
step "one whose header runs past its first 16 KiB"
# An element of 20,000 bytes (LO, explicit VR) before the sequence and
# the identifiers: the driver reads the header a few KiB at a time.
src=$DATA/ct-explicit-undef.dcm
at=$(LC_ALL=C grep -obUaP '\x08\x00\x40\x11SQ' "$src" | head -1 | cut -d: -f1)
{
	head -c "$at" "$src"
	printf '\x08\x00\x30\x10LO\x20\x4e'
	head -c 20000 /dev/zero | tr '\0' A
	tail -c +$((at + 1)) "$src"
} >"$M/big-header"
cat "$M/big-header" >/dev/null
step "one written in 100-byte pieces, one that stops being DICOM"
dd if="$DATA/ct-implicit-undef.dcm" of="$M/$OTHER" bs=100 status=none
cat "$M/$OTHER" >/dev/null
cp "$DATA/mr-implicit-pydicom.dcm" "$M/was-dicom"
echo "not an image any more" >"$M/was-dicom"
cat "$M/was-dicom" >/dev/null
unmount "$M"

step "after a remount, the identifiers are still known"
mount_vault "$V" "$M" "$P"
cat "$M/$UUID" >/dev/null
unmount "$M"

assert_cmd_ok "medfs-journal verify" "$MEDFS_JOURNAL" verify "$J" --key "$AUDITOR.key"
"$MEDFS_JOURNAL" export "$J" --key "$AUDITOR.key" --format jsonl >"$WORK/j.jsonl" 2>/dev/null ||
	fail "medfs-journal export failed"
count()
{
	jq -c "select($1)" "$WORK/j.jsonl" | grep -c . || true
}

step "the records of the open name the patient and study"
ids=".patient_id == \"$CT_PATIENT\" and .study_uid == \"$CT_STUDY\" and .sop_uid == \"$CT_SOP\" and .sop_class_uid == \"$CT_CLASS\" and .modality == \"CT\""
assert_eq 1 "$(count ".op == \"create\" and .path == \"/$UUID\"")" "create of the DICOM file"
assert_eq 1 "$(count ".op == \"write\" and .path == \"/$UUID\" and $ids")" \
	"write record of the DICOM file with its identifiers"
assert_eq 2 "$(count ".op == \"open\" and .path == \"/$UUID\" and $ids")" \
	"opens of the DICOM file (one per mount) with its identifiers"
assert_eq 2 "$(count ".op == \"read\" and .path == \"/$UUID\" and $ids")" \
	"reads of the DICOM file with its identifiers"
assert_eq 0 "$(count ".path == \"/$UUID\" and .op == \"read\" and .patient_id == null")" \
	"reads of the DICOM file without a patient"
assert_eq 1 "$(count ".op == \"read\" and .path == \"/$OTHER\" and .patient_id == \"$CT_PATIENT\"")" \
	"read of the file written in pieces"

assert_eq 1 "$(count ".op == \"write\" and .path == \"/big-header\" and $ids")" \
	"write record of the file with a long header, with its identifiers"

step "a file rewritten as text loses its identifiers"
assert_eq 1 "$(count '.op == "write" and .path == "/was-dicom" and .patient_id == "PAT-3003"')" \
	"the first write of was-dicom"
assert_eq 1 "$(count '.op == "open" and .path == "/was-dicom" and .flags % 4 == 1 and .patient_id == "PAT-3003"')" \
	"the rewrite's open, of a DICOM file still"
assert_eq 0 "$(count '.op == "read" and .path == "/was-dicom" and .patient_id != null')" \
	"the read of the rewritten file names a patient"

step "show --patient finds the patient's accesses"
"$MEDFS_JOURNAL" show "$J" --key "$AUDITOR.key" --patient "$CT_PATIENT" >"$WORK/show" 2>/dev/null ||
	fail "show --patient failed"
grep -q "open.*/$UUID .*$CT_PATIENT/$CT_STUDY" "$WORK/show" || fail "show --patient: no open of /$UUID"
grep -q "read.*/$UUID .*$CT_PATIENT/$CT_STUDY" "$WORK/show" || fail "show --patient: no read of /$UUID"
if grep -q "was-dicom" "$WORK/show"; then
	fail "show --patient $CT_PATIENT lists another patient's file"
fi
"$MEDFS_JOURNAL" show "$J" --key "$AUDITOR.key" --study "$CT_STUDY" --op read >"$WORK/show" 2>/dev/null ||
	fail "show --study failed"
# Two reads of /$UUID (one per mount), one of /$OTHER, one of /big-header.
[ "$(tail -n +2 "$WORK/show" | grep -c .)" -eq 4 ] || fail "show --study --op read: $(tail -n +2 "$WORK/show" | grep -c .) rows, not 4"

step "the identifiers are not in the vault in clear"
if grep -rqa -e "$CT_PATIENT" -e "$CT_STUDY" "$V"; then
	fail "a DICOM identifier is readable in the vault"
fi
finish
