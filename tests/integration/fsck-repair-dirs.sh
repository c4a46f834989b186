#!/bin/bash
# fsck-repair-dirs: medfs-fsck -y on damaged directory headers. A header
# left bound to its old name by an interrupted rename, and one whose tag
# was flipped, are sealed again to their place (their id is in the clear
# and the names of their entries prove it): every file below reads back.
# The root's header, flipped, likewise. A lost header of an empty
# directory is rebuilt; a lost header of a directory with entries is
# rebuilt with a new id and the entries, unreadable without the old one,
# are moved as they are to VAULT/quarantine. Then fsck is clean and the
# mount serves the tree.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
SRC=$WORK/src
make_passfile "$P" "fsck repair dirs test passphrase"
make_vault "$V" "$P"
mount_vault "$V" "$M" "$P"

put()
{
	mkdir -p "$(dirname "$SRC/$1")" "$(dirname "$M/$1")"
	random_file "$SRC/$1" "$2"
	cp "$SRC/$1" "$M/$1"
}

# The vault directory of the plaintext directory $1 (the newest one made).
newest_vault_dir()
{
	find "$V/tree" -mindepth 1 -type d -newer "$WORK/stamp" -printf '%T@ %p\n' |
		sort -n | tail -n 1 | cut -d' ' -f2-
}

says()
{
	grep -qE -- "$2" "$1" || fail "$3: no '$2' in: $(cat "$1")"
}

step "write the tree"
touch "$WORK/stamp"
sleep 0.01
mkdir "$M/renamed-old"
renamed=$(newest_vault_dir)
put renamed-old/r.bin 5001
put renamed-old/deeper/s.bin 5002
touch "$WORK/stamp"
sleep 0.01
mkdir "$M/flipped"
flipped=$(newest_vault_dir)
put flipped/f.bin 5003
touch "$WORK/stamp"
sleep 0.01
mkdir "$M/lost-empty"
lost_empty=$(newest_vault_dir)
touch "$WORK/stamp"
sleep 0.01
mkdir "$M/lost-full"
lost_full=$(newest_vault_dir)
put lost-full/g.bin 5004
put lost-full/h.bin 5005
put top.bin 5006
cp "$renamed/.medfs-dir" "$WORK/old-header"
mv "$M/renamed-old" "$M/renamed-new"
unmount "$M"
# Its vault directory under the new name: the one with the same id.
for d in "$V"/tree/*/; do
	if cmp -s -n 16 "$d/.medfs-dir" "$WORK/old-header" 8 8 &&
		! cmp -s "$d/.medfs-dir" "$WORK/old-header"; then
		renamed=${d%/}
	fi
done

step "damage the headers"
# The rename's header rewrite never happened: bound to the old name.
cp "$WORK/old-header" "$renamed/.medfs-dir"
printf '\x01' | dd of="$flipped/.medfs-dir" bs=1 seek=30 conv=notrunc status=none
rm "$lost_empty/.medfs-dir"
rm "$lost_full/.medfs-dir"
# A leftover candidate header that proves nothing: kept with the entries.
head -c 40 /dev/urandom >"$lost_full/.medfs-dir.tmp"
cp "$lost_full/.medfs-dir.tmp" "$WORK/candidate"
printf '\x01' | dd of="$V/tree/.medfs-dir" bs=1 seek=35 conv=notrunc status=none

step "fsck -n reports the root, and changes nothing"
rc=$(fsck_status "$V" "$P" "$WORK/n.out" -n)
assert_eq 4 "$rc" "exit status of fsck -n"
says "$WORK/n.out" "root directory header does not authenticate" "the root"

step "fsck -y repairs the root, then the rest"
rc=$(fsck_status "$V" "$P" "$WORK/y.out" -y)
cat "$WORK/y.out"
assert_eq 1 "$rc" "exit status of fsck -y"
says "$WORK/y.out" "^medfs-fsck: /: repaired: directory header sealed again" "the root"
says "$WORK/y.out" "/renamed-new: repaired: directory header sealed again" "the interrupted rename"
says "$WORK/y.out" "/flipped: repaired: directory header sealed again" "the flipped header"
says "$WORK/y.out" "/lost-empty: repaired: directory header rebuilt \(the directory was empty\)" "the empty directory"
says "$WORK/y.out" "/lost-full: repaired: directory header rebuilt with a new id: .* its 2 entries, moved as they are to $V/quarantine/" "the directory whose id was lost"
says "$WORK/y.out" "0 left" "nothing left"
[ "$(find "$V/quarantine" -type f ! -name '.*' | wc -l)" = 2 ] ||
	fail "the quarantine does not hold the two entries: $(find "$V/quarantine")"
cand=$(find "$V/quarantine" -name .medfs-dir.tmp)
[ -n "$cand" ] && cmp -s "$cand" "$WORK/candidate" ||
	fail "the leftover candidate header was not kept in the quarantine: $(find "$V/quarantine")"

step "fsck is clean afterwards"
rc=$(fsck_status "$V" "$P" "$WORK/clean.out")
assert_eq 0 "$rc" "exit status after the repair: $(cat "$WORK/clean.out")"

step "the mount serves the tree"
mount_vault "$V" "$M" "$P"
assert_file_eq "$SRC/renamed-old/r.bin" "$M/renamed-new/r.bin" "a file in the renamed directory"
assert_file_eq "$SRC/renamed-old/deeper/s.bin" "$M/renamed-new/deeper/s.bin" "a file below it"
assert_file_eq "$SRC/flipped/f.bin" "$M/flipped/f.bin" "a file in the flipped directory"
assert_file_eq "$SRC/top.bin" "$M/top.bin" "a file in the root"
[ -z "$(ls -A "$M/lost-full")" ] || fail "/lost-full is not empty: $(ls -A "$M/lost-full")"
[ -d "$M/lost-empty" ] || fail "/lost-empty is gone"
echo new >"$M/lost-full/new" || fail "cannot write in the rebuilt directory"
rmdir "$M/lost-empty" || fail "cannot remove the rebuilt empty directory"
unmount "$M"

finish
