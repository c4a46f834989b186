#!/bin/bash
# keys-rotate-dicom: key rotation of a vault holding DICOM files, whose
# identifiers the mount keeps in each file's sealed metadata. A rotation,
# plain then with --reencrypt, each interrupted half way (a vault file made
# immutable stops it) and resumed, moves the metadata to the new key with
# everything else: medfs-fsck stays clean, reading the files after each
# rotation journals no integrity failure, and `medfs-journal show
# --patient` finds the reads made after the rotations.
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
make_passfile "$P" "rotate dicom test passphrase"
make_vault "$V" "$P"

CT_PATIENT=PAT001
CT_STUDY=1.2.826.0.1.3680043.8.498.1001
MR_PATIENT=PAT-3003
CT=5f0e8a52-3c1b-4c7e-9a0d-2b6f4e1d7c93
CT2=0b7d2c1e-8f4a-4d3b-a6c5-9e2f1a0b3c4d
MR=9a3c6e1f-2b4d-4e8a-b1c7-3d5f7a9e0c2b
FILES=("studies/$CT" "studies/$CT2" "studies/$MR" "other/$CT")

step "DICOM files written through the mount, and read"
mount_vault "$V" "$M" "$P"
mkdir -p "$M/studies" "$M/other"
cp "$DATA/ct-explicit-deflen.dcm" "$M/studies/$CT"
cp "$DATA/ct-implicit-undef.dcm" "$M/studies/$CT2"
cp "$DATA/mr-implicit-pydicom.dcm" "$M/studies/$MR"
cp "$DATA/ct-explicit-undef.dcm" "$M/other/$CT"
setfattr -n user.note -v "a sealed xattr beside the metadata" "$M/studies/$CT"
echo "not an image" >"$M/other/notes.txt"
for f in "${FILES[@]}"; do
	cat "$M/$f" >/dev/null
done
unmount "$M"
# Each DICOM file has its metadata (the rotation has something to move).
n=$(getfattr -R --absolute-names -n user.medfs-meta "$V/tree" 2>/dev/null | grep -c '^user.medfs-meta=' || true)
[ "$n" -eq 4 ] || fail "$n vault files with metadata, not 4"
assert_cmd_ok "medfs-fsck before the rotations" "$MEDFS_FSCK" "$V" --passphrase-file "$P"

# The vault file made immutable (its inode: the rotation renames its
# directory), made mutable again on every exit.
PINNED=
unpin()
{
	[ -n "$PINNED" ] || return 0
	find "$V/tree" -inum "$PINNED" -exec chattr -i {} + 2>/dev/null
	PINNED=
}
trap 'rc=$?; set +e; unpin; (exit $rc); cleanup' EXIT

# rotate WHAT [--reencrypt]: a rotation stopped half way by an immutable
# vault file, then resumed; then fsck, and a mount that reads every file.
rotate()
{
	local what=$1 vf out
	shift
	step "$what: interrupted"
	vf=$(vault_file_of_size "$V" "$(fsize "$DATA/ct-implicit-undef.dcm")")
	if chattr +i "$vf" 2>/dev/null; then
		PINNED=$(stat -c %i "$vf")
		if out=$("$MEDFS_KEY" rotate "$V" --passphrase-file "$P" "$@" 2>&1); then
			fail "$what: rotate went through an immutable vault file: $out"
		fi
		unpin
		"$MEDFS_KEY" list "$V" | grep -q "rotation: *in progress" ||
			fail "$what: no rotation in progress after the interruption: $out"
		out=$("$MEDFS_FSCK" "$V" --passphrase-file "$P" 2>&1) &&
			fail "$what: fsck of a half-rotated vault is clean"
	else
		echo "note: chattr +i does not work here: the rotation runs whole"
	fi
	step "$what: resumed"
	out=$("$MEDFS_KEY" rotate "$V" --passphrase-file "$P" "$@" 2>&1) ||
		fail "$what: rotate failed: $out"
	if "$MEDFS_KEY" list "$V" | grep -q "rotation:"; then
		fail "$what: rotation still in progress"
	fi
	if ! out=$("$MEDFS_FSCK" "$V" --passphrase-file "$P" 2>&1); then
		fail "$what: medfs-fsck after the rotation: $out"
	fi
	step "$what: the files read through the mount"
	mount_vault "$V" "$M" "$P"
	# One open and one read of each file.
	cmp -s "$DATA/ct-explicit-deflen.dcm" "$M/studies/$CT" || fail "$what: /studies/$CT differs"
	for f in "${FILES[@]:1}"; do
		cat "$M/$f" >/dev/null || fail "$what: cannot read /$f"
	done
	assert_eq "a sealed xattr beside the metadata" \
		"$(getfattr --absolute-names --only-values -n user.note "$M/studies/$CT" 2>&1)" \
		"$what: user.note"
	unmount "$M"
}
rotate "rotate"
rotate "rotate --reencrypt" --reencrypt

step "the journal"
assert_cmd_ok "medfs-journal verify" "$MEDFS_JOURNAL" verify "$J" --key "$AUDITOR.key"
"$MEDFS_JOURNAL" export "$J" --key "$AUDITOR.key" --format jsonl >"$WORK/j.jsonl" 2>/dev/null ||
	fail "medfs-journal export failed"
count()
{
	jq -c "select($1)" "$WORK/j.jsonl" | grep -c . || true
}
assert_eq 0 "$(count '.op == "integrity"')" "integrity records"
# One open and one read of each file per mount: three mounts read them.
for f in "studies/$CT" "studies/$CT2" "other/$CT"; do
	assert_eq 3 "$(count ".op == \"open\" and .path == \"/$f\" and .patient_id == \"$CT_PATIENT\" and .study_uid == \"$CT_STUDY\"")" \
		"opens of /$f naming the patient and study"
	assert_eq 3 "$(count ".op == \"read\" and .path == \"/$f\" and .patient_id == \"$CT_PATIENT\"")" \
		"reads of /$f naming the patient"
done
assert_eq 3 "$(count ".op == \"read\" and .path == \"/studies/$MR\" and .patient_id == \"$MR_PATIENT\"")" \
	"reads of /studies/$MR naming its patient"

step "show --patient finds the reads made after the rotations"
"$MEDFS_JOURNAL" show "$J" --key "$AUDITOR.key" --patient "$CT_PATIENT" --op read >"$WORK/show" 2>/dev/null ||
	fail "show --patient failed"
for f in "studies/$CT" "studies/$CT2" "other/$CT"; do
	assert_eq 3 "$(grep -c "read.*/$f .*$CT_PATIENT" "$WORK/show" || true)" \
		"show --patient $CT_PATIENT --op read: reads of /$f"
done
if grep -q "$MR" "$WORK/show"; then
	fail "show --patient $CT_PATIENT lists another patient's file"
fi
"$MEDFS_JOURNAL" show "$J" --key "$AUDITOR.key" --patient "$MR_PATIENT" --op read >"$WORK/show" 2>/dev/null ||
	fail "show --patient failed"
assert_eq 3 "$(grep -c "read.*/studies/$MR " "$WORK/show" || true)" \
	"show --patient $MR_PATIENT --op read: reads of /studies/$MR"
finish
