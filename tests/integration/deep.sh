#!/bin/bash
# deep: trees as deep as the plaintext PATH_MAX allows, through a real
# mount. Encrypted names are longer than their plaintext (a 3-byte name
# takes 43 bytes in the vault), so the vault path of the bottom is
# several times PATH_MAX. For names of 8, 16, 100 and 255 bytes: mkdir -p to
# a plaintext path of PATH_MAX - 1 bytes less room for a file, then at the
# bottom a file written and read back, a symlink, an xattr, a rename and a
# listing; one byte beyond PATH_MAX is refused with ENAMETOOLONG and leaves
# nothing in the vault; after a remount all of it reads back, a key
# rotation converts all of it and medfs-fsck finds the vault clean, and
# rm -rf through the mount leaves the vault's tree empty but for its
# header.
set -eu
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
if ! command -v python3 >/dev/null; then
	echo "SKIP: python3 not installed"
	exit 77
fi
DEEP=$(dirname "$0")/deep.py

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
make_passfile "$P" "deep trees test passphrase"
make_vault "$V" "$P"

# vault_entries: every name in the vault's tree (find walks any depth).
vault_entries()
{
	find "$V/tree" | wc -l
}

# chain LEN LEVELS: "n...n/n...n/..." (LEVELS names of LEN bytes).
chain()
{
	python3 -c 'import sys; n, l = int(sys.argv[1]), int(sys.argv[2]); print("/".join(["n" * n] * l))' "$1" "$2"
}

LENS="8 16 100 255"
mount_vault "$V" "$M" "$P"
for len in $LENS; do
	top=t$len
	# "/tN" + LEVELS * "/NAME", with room for "/g" below.
	levels=$(((4095 - 2 - 1 - ${#top}) / (len + 1)))
	step "names of $len bytes: $levels levels (plaintext path $((1 + ${#top} + levels * (len + 1))) bytes)"
	mkdir "$M/$top"
	(cd "$M/$top" && mkdir -p "$(chain "$len" "$levels")") ||
		fail "mkdir -p of $levels levels of $len-byte names"
	before=$(vault_entries)
	python3 "$DEEP" act "$M" "$top" "$len" "$levels" ||
		fail "at the bottom of $levels levels of $len-byte names"
	# g and l: nothing else was left.
	assert_eq "$((before + 2))" "$(vault_entries)" \
		"vault entries after the bottom's work ($len-byte names)"
done
unmount "$M"

step "after a remount, everything reads back"
mount_vault "$V" "$M" "$P"
for len in $LENS; do
	top=t$len
	levels=$(((4095 - 2 - 1 - ${#top}) / (len + 1)))
	python3 "$DEEP" check "$M" "$top" "$len" "$levels" ||
		fail "after a remount, $len-byte names"
done
unmount "$M"

step "medfs-key rotate converts all of it; medfs-fsck finds the vault clean"
out=$("$MEDFS_KEY" rotate "$V" --passphrase-file "$P" 2>&1) || fail "medfs-key rotate: $out"
if grep -qi "left as it is" <<<"$out"; then
	fail "medfs-key rotate left objects behind: $out"
fi
out=$("$MEDFS_FSCK" "$V" --passphrase-file "$P" 2>&1) || fail "medfs-fsck: $out"

step "rm -rf through the mount empties the vault"
mount_vault "$V" "$M" "$P"
(cd "$M" && rm -rf -- t*) || fail "rm -rf of the deep trees"
assert_eq "" "$(ls -A "$M")" "the mount after rm -rf"
unmount "$M"
# The tree itself and its header.
assert_eq "2" "$(vault_entries)" "vault entries after rm -rf"

finish
