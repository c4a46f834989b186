#!/bin/bash
# rekey-fail: the first write to a file after a rotation gives it a new key
# and keeps the old one as its previous key (doc/FORMAT.md, 4.4). When that
# fails before the previous key is stored (here the vault file is made
# immutable, so that its xattr cannot be written: a full disk does the
# same), the write fails and the open file must be left with the key it
# had and no other. A block forged in the vault under a key anyone can
# guess (a key slot of zeros, or of libsodium's fresh-memory 0xdb bytes,
# which the failed change drew) must read EIO, never as plaintext.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

VAULTTOOL=${VAULTTOOL:-$(dirname "$RWCHECK")/vaulttool}
[ -x "$VAULTTOOL" ] || { echo "FAIL: $VAULTTOOL is not built" >&2; exit 1; }
V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
SIZE=20000 # blocks 0..3 whole, block 4 partial

make_passfile "$P" "rekey-fail test passphrase"
make_vault "$V" "$P" --cipher xchacha20poly1305
mount_vault "$V" "$M" "$P"
random_file "$WORK/data" "$SIZE"
cp "$WORK/data" "$M/f"
unmount "$M"
"$MEDFS_KEY" rotate "$V" --passphrase-file "$P" >/dev/null || fail "rotate"
F=$(vault_file_of_size "$V" "$SIZE")

step "a write after the rotation that cannot store the previous key fails"
mount_vault "$V" "$M" "$P"
exec 3<>"$M/f"
if ! chattr +i "$F" 2>/dev/null; then
	exec 3>&-
	unmount "$M"
	echo "SKIP: chattr +i is not supported on $WORK"
	exit 77
fi
if printf x >&3 2>/dev/null; then
	fail "a write succeeded although the previous key could not be stored"
fi
chattr -i "$F"

step "blocks forged under guessable keys read EIO, the others read back"
"$VAULTTOOL" "$F" forge 0 0 1 || fail "forge block 0"
"$VAULTTOOL" "$F" forge 1 219 1 || fail "forge block 1"
for b in 0 1; do
	if out=$(dd if="$M/f" bs=4096 skip=$b count=1 status=none 2>/dev/null); then
		if grep -q FORGED <<<"$out"; then
			fail "block $b, forged under a known key, reads as plaintext"
		else
			fail "block $b, forged, reads without error"
		fi
	fi
done
cmp <(dd if="$M/f" bs=4096 skip=2 count=3 status=none) \
	<(dd if="$WORK/data" bs=4096 skip=2 count=3 status=none) ||
	fail "blocks 2..4 do not read back"
exec 3>&-
unmount "$M"
finish
