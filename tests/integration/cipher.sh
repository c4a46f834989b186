#!/bin/bash
# cipher: the two block ciphers (doc/FORMAT.md 4.2). One vault made with
# --cipher xchacha20poly1305 and one with aes256gcm: each mounted for real,
# a few MiB written and read back, the cipher shown by medfs-key list and
# seen in the nonce fields on disk, a flipped byte in a block read as EIO,
# and a rotation with --reencrypt that keeps the cipher. Without AES-NI the
# AES vault cannot be made and the test says so.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

P=$WORK/pass
BS=4136 # a block on disk
HDR=104
SIZE=$((3 * 1024 * 1024 + 12345)) # not a whole number of blocks
make_passfile "$P" "cipher test passphrase"

if grep -qw aes /proc/cpuinfo && grep -qw pclmulqdq /proc/cpuinfo; then
	CIPHERS="xchacha20poly1305 aes256gcm"
	DEFAULT=aes256gcm
else
	CIPHERS="xchacha20poly1305"
	DEFAULT=xchacha20poly1305
	echo "note: no AES-NI here: only the XChaCha20-Poly1305 vault is tested"
fi

# nonce_pad FILE BLOCK: the hex of bytes 12..24 of the nonce field of block
# BLOCK of vault file FILE.
nonce_pad()
{
	od -An -v -tx1 -j $((HDR + $2 * BS + 12)) -N 12 -- "$1" | tr -d ' \n'
}

step "the default cipher of medfs-key init"
make_vault "$WORK/default" "$P"
out=$("$MEDFS_KEY" list "$WORK/default")
grep -qx "cipher:    $DEFAULT" <<<"$out" || fail "default vault: list says: $out"

step "an unknown --cipher is a usage error"
rc=0
out=$("$MEDFS_KEY" init "$WORK/bad" --cipher aes128 --passphrase-file "$P" 2>&1) || rc=$?
assert_eq 2 "$rc" "medfs-key init --cipher aes128 exit status"
grep -q "unknown --cipher 'aes128'" <<<"$out" || fail "--cipher aes128: $out"
[ ! -e "$WORK/bad" ] || fail "--cipher aes128 left $WORK/bad behind"

for c in $CIPHERS; do
	V=$WORK/vault-$c
	M=$WORK/mnt-$c
	SRC=$WORK/src-$c

	step "$c: init, list"
	make_vault "$V" "$P" --cipher "$c"
	out=$("$MEDFS_KEY" list "$V")
	grep -qx "cipher:    $c" <<<"$out" || fail "$c: medfs-key list says: $out"

	step "$c: write and read $SIZE bytes through a mount"
	random_file "$SRC" "$SIZE"
	random_file "$SRC.small" 5000
	mount_vault "$V" "$M" "$P"
	cp "$SRC" "$M/big"
	cp "$SRC.small" "$M/small"
	assert_file_eq "$SRC" "$M/big" "$c: big, before unmount"
	# Partial overwrites in the middle of blocks.
	printf 'patched' | dd of="$SRC" bs=1 seek=5000 conv=notrunc status=none
	printf 'patched' | dd of="$M/big" bs=1 seek=5000 conv=notrunc status=none
	sync
	unmount "$M"
	mount_vault "$V" "$M" "$P"
	assert_file_eq "$SRC" "$M/big" "$c: big, after remount"
	assert_file_eq "$SRC.small" "$M/small" "$c: small, after remount"
	unmount "$M"

	step "$c: the nonce fields on disk"
	F=$(vault_file_of_size "$V" "$SIZE")
	pad0=$(nonce_pad "$F" 0)
	pad1=$(nonce_pad "$F" 1)
	if [ "$c" = aes256gcm ]; then
		assert_eq 000000000000000000000000 "$pad0" "$c: nonce padding of block 0"
		assert_eq 000000000000000000000000 "$pad1" "$c: nonce padding of block 1"
	elif [ "$pad0" = 000000000000000000000000 ] || [ "$pad1" = 000000000000000000000000 ]; then
		fail "$c: a 24-byte random nonce ends in 12 zero bytes"
	fi

	step "$c: medfs-fsck checks the blocks with the vault's cipher"
	out=$("$MEDFS_FSCK" "$V" --passphrase-file "$P" --verbose 2>&1) ||
		fail "$c: medfs-fsck of the intact vault: $out"
	grep -q "content blocks: $c" <<<"$out" || fail "$c: medfs-fsck --verbose: $out"

	step "$c: rotate --reencrypt keeps the cipher"
	out=$("$MEDFS_KEY" rotate "$V" --reencrypt --passphrase-file "$P" 2>&1) ||
		fail "$c: rotate --reencrypt: $out"
	out=$("$MEDFS_KEY" list "$V")
	grep -qx "cipher:    $c" <<<"$out" || fail "$c: after rotate, list says: $out"
	F=$(vault_file_of_size "$V" "$SIZE")
	if [ "$c" = aes256gcm ]; then
		assert_eq 000000000000000000000000 "$(nonce_pad "$F" 2)" \
			"$c: nonce padding after rotate --reencrypt"
	fi
	mount_vault "$V" "$M" "$P"
	assert_file_eq "$SRC" "$M/big" "$c: big, after rotate --reencrypt"
	unmount "$M"

	step "$c: a flipped byte in a block reads as EIO"
	# Block 1 of big: a ciphertext byte. Block 3: the last byte of the
	# nonce field (AES-256-GCM: padding that must stay zero).
	assert_ok flip "$F" $((HDR + BS + 24 + 1000))
	assert_ok flip "$F" $((HDR + 3 * BS + 23))
	mount_vault "$V" "$M" "$P"
	assert_fails_with EIO read "$M/big"
	if dd if="$M/big" of=/dev/null bs=4096 skip=1 count=1 status=none 2>/dev/null; then
		fail "$c: block 1 with a flipped ciphertext byte read"
	fi
	if dd if="$M/big" of=/dev/null bs=4096 skip=3 count=1 status=none 2>/dev/null; then
		fail "$c: block 3 with a flipped nonce byte read"
	fi
	# The blocks around them still read.
	cmp -s <(dd if="$M/big" bs=4096 count=1 status=none) \
		<(dd if="$SRC" bs=4096 count=1 status=none) ||
		fail "$c: block 0 does not read back"
	cmp -s <(dd if="$M/big" bs=4096 skip=2 count=1 status=none) \
		<(dd if="$SRC" bs=4096 skip=2 count=1 status=none) ||
		fail "$c: block 2 does not read back"
	assert_file_eq "$SRC.small" "$M/small" "$c: small, beside the damaged file"
	unmount "$M"
	rc=0
	"$MEDFS_FSCK" "$V" --passphrase-file "$P" >"$WORK/fsck.out" 2>&1 || rc=$?
	assert_eq 4 "$rc" "$c: medfs-fsck exit status on the damaged vault"
	grep -q "/big" "$WORK/fsck.out" || fail "$c: medfs-fsck does not name /big: $(cat "$WORK/fsck.out")"
done

finish
