#!/bin/bash
# keys-revoke: the attack on revocation (issue 21), performed for real. A
# holder of a passphrase keeps a copy of the config and of a file's vault
# header, then loses the passphrase (medfs-key remove) and the vault key
# is rotated. Data written through the mount after the rotation must not
# open with what the holder kept: the removed passphrase opens the old
# config, its vault key the old header, and its file key is tried on
# every block of the file as it is now ($VAULTTOOL steal). Blocks not
# written since stay readable to it (the documented limit of a rotation
# without --reencrypt); after `rotate --reencrypt` none is. A second
# rotation, with writes in between, exercises the folding of a file's
# two keys; contents read back right and medfs-fsck finds nothing wrong.
set -eu
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

VAULTTOOL=${VAULTTOOL:-$(dirname "$RWCHECK")/vaulttool}
[ -x "$VAULTTOOL" ] || { echo "FAIL: $VAULTTOOL is not built" >&2; exit 1; }
V=$WORK/vault
M=$WORK/mnt
KDF=(--kdf-time 1 --kdf-memory 8)

make_passfile "$WORK/p0" "revocation test passphrase"
make_passfile "$WORK/p1" "the passphrase of someone who leaves"

# block N FILL: 4096 bytes of FILL, for block N of the test file.
block()
{
	head -c 4096 /dev/zero | tr '\0' "$1"
}

# put_block N FILL: writes block N of doc.dcm through the mount.
put_block()
{
	block "$2" >"$WORK/blk"
	dd if="$WORK/blk" of="$M/study/doc.dcm" bs=4096 seek="$1" conv=notrunc \
		status=none || fail "write of block $1"
	dd if="$WORK/blk" of="$WORK/expect" bs=4096 seek="$1" conv=notrunc status=none
}

# vault_file: the vault file of study/doc.dcm (the only file of the vault).
vault_file()
{
	find "$V/tree" -mindepth 2 -type f ! -name '.medfs-dir' ! -name '*.n' | head -1
}

# keep TAG: the copies a holder of a secret keeps: config, header, the
# directory header (its id is in the clear anyway).
keep()
{
	local f
	f=$(vault_file)
	mkdir -p "$WORK/$1"
	cp "$V/medfs.conf" "$WORK/$1/medfs.conf"
	cp "$V/medfs.conf" "$WORK/$1/medfs.conf.bak"
	ln -s "$V/tree" "$WORK/$1/tree"
	head -c 104 "$f" >"$WORK/$1/header"
	cp "$(dirname "$f")/.medfs-dir" "$WORK/$1/dirheader"
}

# steal TAG PASSFILE: which blocks of the file as it is now open with the
# copies kept at TAG and the passphrase.
steal()
{
	"$VAULTTOOL" "$WORK/$1" --passphrase-file "$2" steal "$WORK/$1/header" \
		"$WORK/$1/dirheader" doc.dcm "$(vault_file)"
}

# check_content WHAT: the file reads back as expected; fsck is clean.
check_content()
{
	mount_vault "$V" "$M" "$WORK/p0" || return 0
	cmp -s "$WORK/expect" "$M/study/doc.dcm" || fail "$1: content differs"
	unmount "$M"
	"$MEDFS_FSCK" "$V" --passphrase-file "$WORK/p0" >"$WORK/fsck.out" 2>&1 ||
		fail "$1: medfs-fsck: $(tail -5 "$WORK/fsck.out")"
}

step "a vault with two passphrases; a file of 4 blocks"
make_vault "$V" "$WORK/p0"
"$MEDFS_KEY" add "$V" --passphrase --new-passphrase-file "$WORK/p1" "${KDF[@]}" \
	--passphrase-file "$WORK/p0" >/dev/null || fail "add the second passphrase"
mount_vault "$V" "$M" "$WORK/p1"
mkdir "$M/study"
: >"$WORK/expect"
for i in 0 1 2 3; do put_block "$i" a; done
unmount "$M"
keep before
assert_eq "block 0 open
block 1 open
block 2 open
block 3 open" "$(steal before "$WORK/p1")" "the holder's copies open the file (control)"

step "the passphrase is removed, the vault key rotated, new data written"
"$MEDFS_KEY" remove "$V" 1 --passphrase-file "$WORK/p0" >/dev/null || fail "remove"
"$MEDFS_KEY" rotate "$V" --passphrase-file "$WORK/p0" >/dev/null || fail "rotate"
"$VAULTTOOL" "$V" --passphrase-file "$WORK/p1" unlock >/dev/null 2>&1 &&
	fail "the removed passphrase still opens the vault"
mount_vault "$V" "$M" "$WORK/p0"
put_block 1 b
put_block 4 c
unmount "$M"
out=$(steal before "$WORK/p1")
assert_eq "block 0 open
block 1 sealed
block 2 open
block 3 open
block 4 sealed" "$out" "blocks written after the rotation (1, 4) against the removed passphrase"
check_content "after the rotation"

step "a second rotation, new data again (the file's two keys folded)"
keep mid
"$MEDFS_KEY" rotate "$V" --passphrase-file "$WORK/p0" >/dev/null || fail "rotate 2"
mount_vault "$V" "$M" "$WORK/p0"
put_block 2 d
unmount "$M"
# The copies of between the rotations open nothing written after the
# second (block 2); the fold resealed the blocks still under the first
# file key (0, 3) under the second, so the first holder opens nothing.
out=$(steal mid "$WORK/p0")
assert_eq "block 0 open
block 1 open
block 2 sealed
block 3 open
block 4 open" "$out" "blocks against the config and header of between the rotations"
out=$(steal before "$WORK/p1")
assert_eq "block 0 sealed
block 1 sealed
block 2 sealed
block 3 sealed
block 4 sealed" "$out" "the first holder, after the fold"
check_content "after the second rotation"

step "rotate --reencrypt: nothing opens with the old copies"
"$MEDFS_KEY" rotate "$V" --reencrypt --passphrase-file "$WORK/p0" >/dev/null ||
	fail "rotate --reencrypt"
for tag in before mid; do
	pf=$WORK/p0
	[ "$tag" = before ] && pf=$WORK/p1
	out=$(steal "$tag" "$pf")
	[ "$(grep -c ' open$' <<<"$out")" = 0 ] ||
		fail "after --reencrypt, copies of '$tag' still open: $(tr '\n' ' ' <<<"$out")"
	[ "$(grep -c ' sealed$' <<<"$out")" = 5 ] || fail "steal $tag: $out"
done
check_content "after rotate --reencrypt"

step "a file emptied after a rotation starts again under a new key"
keep pre3
"$MEDFS_KEY" rotate "$V" --passphrase-file "$WORK/p0" >/dev/null || fail "rotate 4"
mount_vault "$V" "$M" "$WORK/p0"
: >"$M/study/doc.dcm"
: >"$WORK/expect"
put_block 0 e
unmount "$M"
assert_eq "block 0 sealed" "$(steal pre3 "$WORK/p0")" "truncated to zero, then written"
check_content "after truncation"

finish
