#!/bin/bash
# tamper: the tamper matrix. Each attack damages the unmounted vault in its
# own directory; then through the mount the damaged object answers EIO while
# the files beside it still read correctly, and medfs-fsck exits 4 naming
# the damaged plaintext path. Files have distinct sizes so that their vault
# files can be found by size.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
SRC=$WORK/src
BS=4136 # a block on disk
HDR=104
make_passfile "$P" "tamper test passphrase"
make_vault "$V" "$P"
mount_vault "$V" "$M" "$P"

# put PATH SIZE: a random file of SIZE bytes at $M/PATH, kept in $SRC/PATH.
put()
{
	mkdir -p "$(dirname "$SRC/$1")" "$(dirname "$M/$1")"
	random_file "$SRC/$1" "$2"
	cp "$SRC/$1" "$M/$1"
}

# intact PATH: reads back as written.
intact()
{
	assert_file_eq "$SRC/$1" "$M/$1" "$1 (not tampered with)"
}

# eio PATH WHAT: reading PATH fails with EIO, and so does cat.
eio()
{
	assert_fails_with EIO read "$M/$1"
	if cat "$M/$1" >/dev/null 2>&1; then
		fail "$2: cat $1 succeeded on a tampered file"
	fi
}

# Block i of a vault file: dd arguments.
blk() { echo $((HDR + $1 * BS)); }

copy_bytes() # SRC SRC_OFF DST DST_OFF LEN
{
	dd if="$1" of="$3" bs="$5" count=1 skip="$2" seek="$4" \
		iflag=skip_bytes oflag=seek_bytes conv=notrunc status=none
}

swap_names() # A B
{
	mv "$1" "$1.swap"
	mv "$2" "$1"
	mv "$1.swap" "$2"
}

step "write the files"
put control-file 5000
put t01-flip-block/data $((3 * 4096 + 100))
put t01-flip-block/intact-01 101
put t02-flip-header/data 9000
put t02-flip-header/intact-02 102
put t03-swap-blocks/data $((3 * 4096 + 200))
put t03-swap-blocks/intact-03 103
put t04-foreign-block/victim $((2 * 4096 + 300))
put t04-foreign-block/donor $((2 * 4096 + 301))
put t04-foreign-block/intact-04 104
put t05-zero-block/data $((3 * 4096 + 400))
put t05-zero-block/intact-05 105
put t06-cut-block/data 12288
put t06-cut-block/intact-06 106
put t07-extra-block/data 16384
put t07-extra-block/intact-07 107
put t08-swap-headers/first 7000
put t08-swap-headers/second 7001
put t08-swap-headers/intact-08 108
put t09-swap-names/first 6000
put t09-swap-names/second 6001
put t09-swap-names/intact-09 109
put t10-src/moved 5500
put t10-src/intact-10a 110
put t10-dst/intact-10b 111
put t11-src/g 5501
put t11-dst/h 5502
put t11-dst/intact-11 112
put t12-swap-dirs/d1/x1 3001
put t12-swap-dirs/d2/x2 3002
put t12-swap-dirs/intact-12 113
put t13-dir-header/d/x 3003
put t13-dir-header/intact-13 114
put t14-swap-links/intact-14 115
ln -s "target-one" "$M/t14-swap-links/l1"
ln -s "a/much/longer/target-two" "$M/t14-swap-links/l2"
put t16-flip-file-id/data 9100
put t16-flip-file-id/intact-16 116
put t17-cut-byte/data 10000
put t17-cut-byte/intact-17 117
# A DICOM file: the mount keeps its identifiers in its sealed metadata.
mkdir -p "$SRC/t18-meta" "$M/t18-meta"
cp "$MEDFS_SOURCE_ROOT/tests/data/dicom/ct-explicit-deflen.dcm" "$SRC/t18-meta/ct"
cp "$SRC/t18-meta/ct" "$M/t18-meta/ct"
put t18-meta/intact-18 118

step "renames through the mount update the bindings"
put t15-renamed/a 2001
put t15-renamed/c 2002
put t15-renamed/dd/y 2003
put t15-renamed/p 2004
put t15-renamed/q 2005
put t15-renamed/r 2006
put t15-renamed/s 2007
mkdir "$M/t15-renamed/sub"
mv "$M/t15-renamed/a" "$M/t15-renamed/b"
mv "$M/t15-renamed/c" "$M/t15-renamed/sub/c2"
mv "$M/t15-renamed/dd" "$M/t15-renamed/ee"
assert_ok rename "$M/t15-renamed/p" "$M/t15-renamed/q" exchange
mv -f "$M/t15-renamed/r" "$M/t15-renamed/s"
mkdir -p "$SRC/t15-renamed/sub"
mv "$SRC/t15-renamed/a" "$SRC/t15-renamed/b"
mv "$SRC/t15-renamed/c" "$SRC/t15-renamed/sub/c2"
mv "$SRC/t15-renamed/dd" "$SRC/t15-renamed/ee"
mv "$SRC/t15-renamed/p" "$SRC/t15-renamed/pq"
mv "$SRC/t15-renamed/q" "$SRC/t15-renamed/p"
mv "$SRC/t15-renamed/pq" "$SRC/t15-renamed/q"
mv -f "$SRC/t15-renamed/r" "$SRC/t15-renamed/s"
unmount "$M"

step "fsck of the untouched vault"
rc=0
out=$("$MEDFS_FSCK" "$V" --passphrase-file "$P" 2>&1) || rc=$?
if [ "$rc" -ne 0 ]; then
	echo "$out" >&2
	fail "medfs-fsck of an untouched vault exited $rc, expected 0"
fi

step "find the vault files"
vf() { vault_file_of_size "$V" "$1"; }
t01=$(vf $((3 * 4096 + 100)))
t02=$(vf 9000)
t03=$(vf $((3 * 4096 + 200)))
t04v=$(vf $((2 * 4096 + 300)))
t04d=$(vf $((2 * 4096 + 301)))
t05=$(vf $((3 * 4096 + 400)))
t06=$(vf 12288)
t07=$(vf 16384)
t08a=$(vf 7000)
t08b=$(vf 7001)
t09a=$(vf 6000)
t09b=$(vf 6001)
t10=$(vf 5500)
t10dst=$(dirname "$(vf 111)")
t11g=$(vf 5501)
t11h=$(vf 5502)
t12d1=$(dirname "$(vf 3001)")
t12d2=$(dirname "$(vf 3002)")
t13d=$(dirname "$(vf 3003)")
t14dir=$(dirname "$(vf 115)")
t16=$(vf 9100)
t17=$(vf 10000)
t18=$(vf "$(fsize "$SRC/t18-meta/ct")")
mapfile -t t14links < <(find "$t14dir" -maxdepth 1 -type l)
assert_eq 2 "${#t14links[@]}" "symlinks in the vault dir of t14-swap-links"
[ -f "$t13d/.medfs-dir" ] || fail "no .medfs-dir in $t13d"
assert_eq 40 "$(fsize "$t13d/.medfs-dir")" "size of a directory header"
assert_eq "MDFH" "$(head -c 4 "$t01")" "magic of a file header"
assert_eq "MDFD" "$(head -c 4 "$t13d/.medfs-dir")" "magic of a directory header"

step "tamper"
# t01: one byte of block 1's ciphertext.
assert_ok flip "$t01" $(($(blk 1) + 24 + 10))
# t02: one byte of the sealed part of the header.
assert_ok flip "$t02" 60
# t03: blocks 0 and 1 swapped.
copy_bytes "$t03" "$(blk 0)" "$WORK/block" 0 $BS
copy_bytes "$t03" "$(blk 1)" "$t03" "$(blk 0)" $BS
copy_bytes "$WORK/block" 0 "$t03" "$(blk 1)" $BS
# t04: block 1 of another file (same index, same length).
copy_bytes "$t04d" "$(blk 1)" "$t04v" "$(blk 1)" $BS
# t05: block 1 replaced by zeros.
copy_bytes /dev/zero 0 "$t05" "$(blk 1)" $BS
# t06: the last full block cut off (3 blocks -> 2).
truncate -s "$(blk 2)" "$t06"
# t07: a copy of the last block appended (4 blocks -> 5).
copy_bytes "$t07" "$(blk 3)" "$t07" "$(blk 4)" $BS
# t08: headers swapped.
copy_bytes "$t08a" 0 "$WORK/header" 0 $HDR
copy_bytes "$t08b" 0 "$t08a" 0 $HDR
copy_bytes "$WORK/header" 0 "$t08b" 0 $HDR
# t09: two vault names swapped in the same directory.
swap_names "$t09a" "$t09b"
# t10: moved into another vault directory under its own name.
t10name=$(basename "$t10")
mv "$t10" "$t10dst/$t10name"
# t11: moved into another vault directory under the name of a file there.
mv -f "$t11g" "$t11h"
# t12: two directories' vault names swapped.
swap_names "$t12d1" "$t12d2"
# t13: a byte of a directory header's tag.
assert_ok flip "$t13d/.medfs-dir" 30
# t14: two symlink targets swapped.
l1=$(readlink "${t14links[0]}")
l2=$(readlink "${t14links[1]}")
ln -sfn -- "$l2" "${t14links[0]}"
ln -sfn -- "$l1" "${t14links[1]}"
# t16: one byte of the file id (associated data of the header).
assert_ok flip "$t16" 10
# t17: one byte cut off the end.
truncate -s $(($(fsize "$t17") - 1)) "$t17"
# t18: one bit of the sealed metadata (past its 24-byte nonce).
meta=$(getfattr --absolute-names -n user.medfs-meta -e hex "$t18" 2>/dev/null |
	sed -n 's/^user.medfs-meta=0x//p')
if [ "${#meta}" -le 64 ]; then
	fail "the DICOM file's vault file has no metadata"
else
	setfattr -n user.medfs-meta \
		-v "0x${meta:0:60}$(printf '%x' $((0x${meta:60:1} ^ 1)))${meta:61}" "$t18"
fi

step "through the mount"
mount_vault "$V" "$M" "$P"
intact control-file
eio t01-flip-block/data "flipped block byte"
intact t01-flip-block/intact-01
eio t02-flip-header/data "flipped header byte"
intact t02-flip-header/intact-02
eio t03-swap-blocks/data "swapped blocks"
intact t03-swap-blocks/intact-03
eio t04-foreign-block/victim "block from another file"
intact t04-foreign-block/donor
intact t04-foreign-block/intact-04
eio t05-zero-block/data "zeroed block"
intact t05-zero-block/intact-05
eio t06-cut-block/data "last block cut off"
intact t06-cut-block/intact-06
# An appended block: EIO on a vault whose last mount ended cleanly (after
# a crash, the mount reads it at its header's size: doc/FORMAT.md 12.3,
# test grown); fsck reports it as longer than its header.
eio t07-extra-block/data "block appended"
intact t07-extra-block/intact-07
eio t08-swap-headers/first "swapped headers"
eio t08-swap-headers/second "swapped headers"
intact t08-swap-headers/intact-08
eio t09-swap-names/first "swapped names"
eio t09-swap-names/second "swapped names"
intact t09-swap-names/intact-09
# t10: the file left its directory, and its name means nothing in the other.
assert_fails_with ENOENT stat "$M/t10-src/moved"
assert_eq "intact-10b" "$(find "$M/t10-dst" -mindepth 1 -printf '%f\n' 2>&1)" \
	"listing of the directory holding a foreign vault entry"
intact t10-src/intact-10a
intact t10-dst/intact-10b
eio t11-dst/h "file moved over another directory's file"
intact t11-dst/intact-11
assert_fails_with ENOENT stat "$M/t11-src/g"
assert_fails_with EIO listdir "$M/t12-swap-dirs/d1"
assert_fails_with EIO listdir "$M/t12-swap-dirs/d2"
eio t12-swap-dirs/d1/x1 "file in a swapped directory"
eio t12-swap-dirs/d2/x2 "file in a swapped directory"
intact t12-swap-dirs/intact-12
assert_fails_with EIO listdir "$M/t13-dir-header/d"
eio t13-dir-header/d/x "file below a tampered directory header"
intact t13-dir-header/intact-13
assert_fails_with EIO readlink "$M/t14-swap-links/l1"
assert_fails_with EIO readlink "$M/t14-swap-links/l2"
intact t14-swap-links/intact-14
eio t16-flip-file-id/data "flipped file id"
intact t16-flip-file-id/intact-16
eio t17-cut-byte/data "one byte cut off"
intact t17-cut-byte/intact-17
# Its content is whole; the journal records the metadata's failure.
intact t18-meta/ct
intact t18-meta/intact-18
for f in b sub/c2 ee/y p q s; do
	intact "t15-renamed/$f"
done
assert_fails_with ENOENT stat "$M/t15-renamed/a"
assert_fails_with ENOENT stat "$M/t15-renamed/r"
# The mount still works for new files after all this.
echo "still writable" >"$M/after"
assert_eq "still writable" "$(cat "$M/after")" "new file after integrity failures"
rm "$M/after"
unmount "$M"

# t19: one byte of the journal's STATE, sealed under the vault key too
# (after the last mount: a mount refuses a STATE that does not unseal).
assert_ok flip "$V/journal/STATE" 100

step "fsck names every problem"
rc=0
"$MEDFS_FSCK" "$V" --passphrase-file "$P" >"$WORK/fsck.out" 2>&1 || rc=$?
assert_eq 4 "$rc" "exit status of medfs-fsck on a tampered vault"
# names PATTERN WHAT: the fsck output holds PATTERN (an extended regex).
names()
{
	if ! grep -qE -- "$1" "$WORK/fsck.out"; then
		fail "medfs-fsck does not report $2 (no match for '$1')"
	fi
}
names "t01-flip-block/data" "a flipped block byte"
names "t02-flip-header/data" "a flipped header byte"
names "t03-swap-blocks/data" "swapped blocks"
names "t04-foreign-block/victim" "a block from another file"
names "t05-zero-block/data" "a zeroed block"
names "t06-cut-block/data" "a cut-off block"
names "t07-extra-block/data: longer than its header" "an appended block"
names "t08-swap-headers/first" "swapped headers (first)"
names "t08-swap-headers/second" "swapped headers (second)"
names "t09-swap-names/first" "swapped names (first)"
names "t09-swap-names/second" "swapped names (second)"
names "$t10name" "a vault file moved into another directory (by its vault name)"
names "t11-dst/h" "a vault file moved over another directory's file"
names "t12-swap-dirs/d[12]" "swapped directories"
names "t13-dir-header/d" "a tampered directory header"
names "t14-swap-links/l1" "swapped symlink targets (l1)"
names "t14-swap-links/l2" "swapped symlink targets (l2)"
names "t16-flip-file-id/data" "a flipped file id"
names "t17-cut-byte/data" "a file one byte short"
names "t18-meta/ct: .*metadata" "tampered file metadata"
names "journal/STATE: journal state does not unseal" "a tampered journal state"
if grep -qE "intact|t15-renamed|control-file" "$WORK/fsck.out"; then
	fail "medfs-fsck reports intact files: $(grep -E "intact|t15-renamed|control-file" "$WORK/fsck.out")"
fi
if grep -q "tamper test passphrase" "$WORK/fsck.out"; then
	fail "medfs-fsck prints the passphrase"
fi
echo "--- medfs-fsck output ---"
cat "$WORK/fsck.out"
finish
