#!/bin/bash
# medfs demo: builds medfs, creates a demo vault with a fake imaging study
# in it, mounts it, and shows what to try. Run it again at any time: it
# unmounts and replaces the previous demo.
#
#   sudo tools/demo.sh
#
# Everything lives in /var/tmp/medfs-demo (MEDFS_DEMO_DIR to change it):
#   vault/       the encrypted vault: what a disk, a backup or a thief sees
#   mnt/         the mount: plaintext, for the processes allowed to see it
#   passphrase   the vault's passphrase, generated for this demo
#
# DEMO ONLY: the passphrase is written in a file next to the vault so that
# the demo can run unattended. A real vault's passphrase is typed at the
# prompt, or kept in a root-only file on another disk than the vault.
#
# Each step is one function; main runs them in order. Steps that set up the
# vault (access policy, auditor key) go between create_vault and mount.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${MEDFS_BUILD_DIR:-$SRC/build}
DEMO=${MEDFS_DEMO_DIR:-/var/tmp/medfs-demo}
VAULT=$DEMO/vault
MNT=$DEMO/mnt
PASS=$DEMO/passphrase
POLICY=$DEMO/policy
AUDITOR=$DEMO/auditor
STUDY_DIR=Patients/DEMO-0001/CT-2024-03-14

say()
{
	printf '== %s\n' "$*"
}

die()
{
	printf 'demo: %s\n' "$*" >&2
	exit 1
}

is_mounted()
{
	awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/self/mounts
}

# ---- steps ------------------------------------------------------------------

install_dependencies()
{
	say "dependencies (packaging/debian-deps.txt)"
	bash "$SRC/packaging/install-deps.sh"
}

build()
{
	say "building medfs in $BUILD"
	local log
	log=$(mktemp)
	if { [ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" "$SRC"; } >"$log" 2>&1 &&
		meson compile -C "$BUILD" medfs:executable medfs-key medfs-fsck medfs-policy \
			medfs-journal >"$log" 2>&1; then
		rm -f "$log"
		return
	fi
	cat "$log" >&2
	rm -f "$log"
	die "the build failed"
}

unmount_previous()
{
	if is_mounted "$MNT"; then
		say "unmounting the previous demo"
		fusermount3 -u "$MNT" 2>/dev/null || umount "$MNT" 2>/dev/null ||
			fusermount3 -uz "$MNT" ||
			die "cannot unmount $MNT: is a shell or program still using it?"
	fi
	# Only the demo's own folders, and only once nothing is mounted there.
	rm -rf --one-file-system "$VAULT" "$MNT" "$PASS" "$POLICY" "$AUDITOR.pub" \
		"$AUDITOR.key"
}

create_vault()
{
	say "creating the vault $VAULT"
	mkdir -p "$DEMO" "$MNT"
	(
		umask 077
		head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$PASS"
		printf '\n' >>"$PASS"
	)
	chmod 600 "$PASS"
	say "making the auditor's key pair $AUDITOR.pub / $AUDITOR.key"
	"$BUILD/medfs-journal" keygen --out "$AUDITOR" >/dev/null
	"$BUILD/medfs-key" init "$VAULT" --passphrase-file "$PASS" --label "demo" \
		--auditor-key "$AUDITOR.pub"
}

# A sample access policy: root (who runs the demo) may do everything,
# the users group may read the studies, and anyone may break the glass
# for a quarter of an hour. Owned by root, writable by nobody else.
write_policy()
{
	say "writing the sample access policy $POLICY"
	(
		umask 077
		cat >"$POLICY" <<-'POLICY'
			# medfs demo policy (see doc/POLICY.md)
			emergency-duration 15m
			allow user:root all /**
			allow group:users list,read /Patients/**
			emergency allow everyone list,read /Patients/**
		POLICY
	)
}

mount_vault()
{
	say "mounting it on $MNT"
	"$BUILD/medfs" "$VAULT" "$MNT" --passphrase-file "$PASS" \
		-o allow_other,policy="$POLICY"
	is_mounted "$MNT" || die "medfs returned but $MNT is not mounted"
}

# Binary helpers for the fake DICOM files: escapes for printf %b.
le16()
{
	printf '\\x%02x\\x%02x' $(($1 & 255)) $((($1 >> 8) & 255))
}

le32()
{
	printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $((($1 >> 8) & 255)) \
		$((($1 >> 16) & 255)) $((($1 >> 24) & 255))
}

# One explicit-VR little-endian element with a short (16-bit) length.
# Odd values are padded: UIDs with a NUL, text with a space.
elem()
{
	local group=$1 element=$2 vr=$3 value=$4
	if [ $((${#value} % 2)) -eq 1 ]; then
		if [ "$vr" = UI ]; then value+='\x00'; else value+=' '; fi
	fi
	local len=${#value}
	[[ $value == *'\x00' ]] && len=$((len - 3))
	printf '%b' "$(le16 "$group")$(le16 "$element")$vr$(le16 "$len")"
	printf '%b' "$value"
}

elem_us()
{
	printf '%b' "$(le16 "$1")$(le16 "$2")US$(le16 2)$(le16 "$3")"
}

# A fresh UID under the 2.25 (UUID-derived) root.
uid()
{
	local digits
	digits=$(od -An -tu8 -N16 /dev/urandom | tr -d ' \n' | sed 's/^0*//')
	printf '2.25.%s' "${digits:0:38}"
}

# Writes a small CT-like DICOM Part 10 file: 128-byte preamble, "DICM",
# file meta group, a few patient/study tags and 64x64 16-bit pixels.
fake_dicom()
{
	local out=$1 study=$2 series=$3 number=$4 sop meta
	sop=$(uid)
	meta=$(mktemp)
	{
		elem 0x0002 0x0002 UI "1.2.840.10008.5.1.4.1.1.2"
		elem 0x0002 0x0003 UI "$sop"
		elem 0x0002 0x0010 UI "1.2.840.10008.1.2.1"
	} >"$meta"
	{
		head -c 128 /dev/zero
		printf 'DICM'
		printf '%b' "$(le16 0x0002)$(le16 0x0000)UL$(le16 4)$(le32 "$(stat -c %s "$meta")")"
		cat "$meta"
		elem 0x0008 0x0016 UI "1.2.840.10008.5.1.4.1.1.2"
		elem 0x0008 0x0018 UI "$sop"
		elem 0x0008 0x0020 DA "20240314"
		elem 0x0008 0x0060 CS "CT"
		elem 0x0010 0x0010 PN "DEMO^ANONYMOUS"
		elem 0x0010 0x0020 LO "DEMO-0001"
		elem 0x0020 0x000D UI "$study"
		elem 0x0020 0x000E UI "$series"
		elem 0x0020 0x0013 IS "$number"
		elem_us 0x0028 0x0002 1
		elem 0x0028 0x0004 CS "MONOCHROME2"
		elem_us 0x0028 0x0010 64
		elem_us 0x0028 0x0011 64
		elem_us 0x0028 0x0100 16
		elem_us 0x0028 0x0101 12
		elem_us 0x0028 0x0102 11
		elem_us 0x0028 0x0103 0
		printf '%b' "$(le16 0x7FE0)$(le16 0x0010)OW\\x00\\x00$(le32 8192)"
		head -c 8192 /dev/urandom
	} >"$out"
	rm -f "$meta"
}

sample_tree()
{
	local top=$MNT/Patients/DEMO-0001 study series
	say "writing a fake imaging study through the mount"
	mkdir -p "$MNT/$STUDY_DIR/series-001"
	cat >"$top/README.txt" <<-'TEXT'
		This folder is demo data made up by tools/demo.sh: no real patient.
		It stands for what a PACS or an imaging workstation keeps on disk:
		one CT study with a series of DICOM files and a report.
	TEXT
	cat >"$MNT/$STUDY_DIR/report.txt" <<-'TEXT'
		CT CHEST WITHOUT CONTRAST (demo)
		Findings: no acute abnormality. Lungs clear.
		Impression: normal study. This report is fictitious.
	TEXT
	study=$(uid)
	series=$(uid)
	for n in 1 2 3; do
		fake_dicom "$MNT/$STUDY_DIR/series-001/IM-000$n.dcm" "$study" "$series" "$n"
	done
	ln -s CT-2024-03-14 "$top/latest"
	setfattr -n user.reviewed-by -v "Dr Demo" "$MNT/$STUDY_DIR/report.txt"
}

tour()
{
	cat <<-TEXT

		The demo vault is mounted.
		  vault (ciphertext):  $VAULT
		  mount (plaintext):   $MNT
		  passphrase:          $PASS   (generated for this demo only)
		  access policy:       $POLICY
		  access journal:      $VAULT/journal (auditor key $AUDITOR.key)

		Things to try:
		  ls -lR $MNT
		      the study as applications see it
		  cat $MNT/$STUDY_DIR/report.txt
		  find $VAULT | head -20
		      the same tree in the vault: encrypted names, one .medfs-dir per folder
		  ls -l $VAULT/tree/*/*/*
		      sizes, times, owners and the tree's shape are visible there; names
		      and contents are not
		  echo "addendum: demo" >> $MNT/$STUDY_DIR/report.txt
		  getfattr -d $MNT/$STUDY_DIR/report.txt
		  $BUILD/medfs-policy explain $POLICY --user nobody /Patients/DEMO-0001/README.txt read
		      who may do what, and which rule decides
		  runuser -u nobody -- ls $MNT
		      a user the policy names nowhere sees nothing (EACCES)
		  $BUILD/medfs-journal show $VAULT/journal --key $AUDITOR.key
		      every access so far, decrypted with the auditor's key
		  $BUILD/medfs-journal show $VAULT/journal --key $AUDITOR.key --patient DEMO-0001
		      who accessed this patient's files
		  fusermount3 -u $MNT
		  $BUILD/medfs-journal verify $VAULT/journal --key $AUDITOR.key
		      checks the journal's chain and signed checkpoints
		  $BUILD/medfs-fsck $VAULT --passphrase-file $PASS
		      checks every header, name and block (run it on the unmounted vault);
		      flip a byte of a vault file with dd and run it again
		  $BUILD/medfs $VAULT $MNT --passphrase-file $PASS -o allow_other,policy=$POLICY
		      mounts it again
		Run tools/demo.sh again to start over.
	TEXT
}

main()
{
	install_dependencies
	build
	unmount_previous
	create_vault
	write_policy
	mount_vault
	sample_tree
	tour
}

main "$@"
