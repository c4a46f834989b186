#!/bin/bash
# journal-attribution: who the journal says was read. A writer chooses
# the patient a file's header names; medfs cannot check it, but records
# each change. Here, as real users under a policy:
#  - mallory rewrites only the PatientID bytes of an existing file: the
#    journal has an attribution record (old and new patient, by mallory),
#    alice's later reads name the new patient and list the old one among
#    the file's former patients, and `show --patient OLD` still finds them;
#  - a PatientID after a 100 KiB private element is found (the header is
#    read past the first 64 KiB, skipping the element unread);
#  - control characters in a PatientID written show sanitized ('?') in
#    every record, the write records too.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=policy-lib.sh
. "$(dirname "$0")/policy-lib.sh"
for cmd in jq python3; do
	if ! command -v "$cmd" >/dev/null; then
		echo "SKIP: $cmd not installed"
		exit 77
	fi
done

DATA=$MEDFS_SOURCE_ROOT/tests/data/dicom
V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
J=$V/journal
POL=$WORK/policy
LOG=$WORK/driver.log
make_passfile "$P" "journal attribution test passphrase"
make_vault "$V" "$P"
mount_vault "$V" "$M" "$P"
mkdir "$M/pacs"
chmod 0777 "$M/pacs"
unmount "$M"

mk_user MALLORY mallory
mk_user ALICE alice
write_policy "$POL" <<EOF
version 1
allow user:$MALLORY all /pacs/**
allow user:$ALICE list,read /pacs/**
EOF

# The fixtures' patient (tests/data/dicom/ct.dump).
SRC=$DATA/ct-explicit-deflen.dcm
PATIENT=PAT001
# A copy of SRC with a private element of 100 KiB (OB) before group 0010.
python3 - "$SRC" "$WORK/big.dcm" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read()
at = d.index(b'\x10\x00\x10\x00PN')  # (0010,0010) Patient's Name, explicit LE
assert at > 132
priv = (b'\x09\x00\x10\x00LO' + struct.pack('<H', 10) + b'MEDFS TEST' +
        b'\x09\x00\x00\x10OB\x00\x00' + struct.pack('<I', 100 * 1024) + b'\x5a' * (100 * 1024))
open(sys.argv[2], 'wb').write(d[:at] + priv + d[at:])
PY
# A copy whose PatientID holds a bell and an escape: P\a\e001.
python3 - "$SRC" "$WORK/ctrl.dcm" <<'PY'
import sys
d = open(sys.argv[1], 'rb').read()
assert d.count(b'PAT001') == 1
open(sys.argv[2], 'wb').write(d.replace(b'PAT001', b'P\x07\x1b001'))
PY
chmod 0644 "$WORK/big.dcm" "$WORK/ctrl.dcm"

mount_fg "$V" "$M" "$P" "$LOG" -o allow_other,policy_only,policy="$POL"
step "mallory stores a study, alice reads it"
as "$MALLORY" cp "$SRC" "$M/pacs/ct.dcm" || fail "mallory cannot store ct.dcm"
as "$ALICE" cat "$M/pacs/ct.dcm" >/dev/null || fail "alice cannot read ct.dcm"

step "mallory rewrites only the PatientID bytes, alice reads the file again"
at=$(LC_ALL=C grep -obUa PAT001 "$SRC" | head -1 | cut -d: -f1)
printf PAT999 | as "$MALLORY" dd of="$M/pacs/ct.dcm" bs=6 seek="$at" oflag=seek_bytes conv=notrunc status=none ||
	fail "mallory cannot patch ct.dcm"
as "$ALICE" cat "$M/pacs/ct.dcm" >/dev/null || fail "alice cannot read ct.dcm again"

step "a PatientID after a 100 KiB private element"
as "$MALLORY" cp "$WORK/big.dcm" "$M/pacs/big.dcm" || fail "mallory cannot store big.dcm"
as "$ALICE" cat "$M/pacs/big.dcm" >/dev/null || fail "alice cannot read big.dcm"

step "a PatientID with control characters"
as "$MALLORY" cp "$WORK/ctrl.dcm" "$M/pacs/ctrl.dcm" || fail "mallory cannot store ctrl.dcm"
as "$ALICE" cat "$M/pacs/ctrl.dcm" >/dev/null || fail "alice cannot read ctrl.dcm"
unmount "$M"

assert_cmd_ok "medfs-journal verify" "$MEDFS_JOURNAL" verify "$J" --key "$AUDITOR.key"
"$MEDFS_JOURNAL" export "$J" --key "$AUDITOR.key" --format jsonl >"$WORK/j.jsonl" 2>/dev/null ||
	fail "medfs-journal export failed"
count()
{
	jq -c "select($1)" "$WORK/j.jsonl" | grep -c . || true
}

step "the change is recorded: old and new patient, by mallory"
assert_eq 1 "$(count ".op == \"attribution\" and .path == \"/pacs/ct.dcm\" and .prior_patient_id == \"$PATIENT\" and .patient_id == \"PAT999\" and .user == \"$MALLORY\" and .prior_study_uid == .study_uid")" \
	"attribution record of ct.dcm"
assert_eq 2 "$(count ".op == \"read\" and .path == \"/pacs/ct.dcm\" and .user == \"$ALICE\"")" \
	"alice's reads of ct.dcm"
assert_eq 1 "$(count ".op == \"read\" and .path == \"/pacs/ct.dcm\" and .user == \"$ALICE\" and .patient_id == \"PAT999\" and .former_patient_ids == [\"$PATIENT\"]")" \
	"alice's read after the change: new patient, the old one among the former"

step "show --patient $PATIENT still finds every read of the file"
"$MEDFS_JOURNAL" show "$J" --key "$AUDITOR.key" --patient "$PATIENT" --path /pacs/ct.dcm --op read >"$WORK/show" 2>/dev/null ||
	fail "show --patient failed"
assert_eq 2 "$(tail -n +2 "$WORK/show" | grep -c "$ALICE" || true)" "reads of ct.dcm listed by show --patient $PATIENT"
"$MEDFS_JOURNAL" show "$J" --key "$AUDITOR.key" --patient "$PATIENT" --op attribution >"$WORK/show" 2>/dev/null ||
	fail "show --patient --op attribution failed"
grep -q "PAT999/.* was $PATIENT/" "$WORK/show" || fail "show: the attribution record does not say what changed: $(cat "$WORK/show")"

step "the PatientID after the private element is found"
assert_eq 1 "$(count ".op == \"read\" and .path == \"/pacs/big.dcm\" and .patient_id == \"$PATIENT\"")" \
	"read of big.dcm attributed to $PATIENT"
assert_eq 1 "$(count ".op == \"write\" and .path == \"/pacs/big.dcm\" and .patient_id == \"$PATIENT\"")" \
	"write record of big.dcm attributed to $PATIENT"

step "control characters are sanitized in every record"
assert_eq 1 "$(count '.op == "write" and .path == "/pacs/ctrl.dcm" and .patient_id == "P??001"')" \
	"write record of ctrl.dcm with the sanitized patient"
assert_eq 1 "$(count '.op == "read" and .path == "/pacs/ctrl.dcm" and .patient_id == "P??001"')" \
	"read record of ctrl.dcm with the sanitized patient"
assert_eq 0 "$(count '[.patient_id, .prior_patient_id, .study_uid, .sop_uid, .modality] | map(select(. != null) | test("[\u0000-\u001f\u007f]")) | any')" \
	"records with a control character in an identifier"
finish
