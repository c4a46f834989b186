#!/bin/bash
# posix: every filesystem operation through the mount, with exact errors,
# each result compared with the same operation on a plain directory.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
R=$WORK/ref # the plain reference directory
mkdir -p "$R"
make_passfile "$P" "posix test passphrase"
make_vault "$V" "$P"
mount_vault "$V" "$M" "$P"

# listed DIR NAME: readdir of DIR holds NAME (any byte but '/' and NUL).
listed()
{
	local e
	for e in "$1"/* "$1"/.*; do
		[ "$e" != "$1/$2" ] || return 0
	done
	return 1
}

# same_file NAME: $M/NAME and $R/NAME have the same size and bytes.
same_file()
{
	assert_eq "$(fsize "$R/$1")" "$(fsize "$M/$1" 2>&1)" "size of $1"
	assert_file_eq "$R/$1" "$M/$1" "content of $1"
}

step "mkdir / rmdir"
mkdir "$M/d"
[ -d "$M/d" ] || fail "mkdir d: no directory"
assert_fails_with EEXIST mkdir "$M/d"
rmdir "$M/d"
assert_fails_with ENOENT stat "$M/d"
mkdir "$M/full"
echo x >"$M/full/child"
assert_fails_with ENOTEMPTY rmdir "$M/full"
mkdir "$M/full/sub"
rm "$M/full/child"
assert_fails_with ENOTEMPTY rmdir "$M/full"
rmdir "$M/full/sub"
assert_ok rmdir "$M/full"
assert_fails_with ENOENT rmdir "$M/full"
echo x >"$M/plain"
assert_fails_with ENOTDIR rmdir "$M/plain"
assert_fails_with ENOTDIR mkdir "$M/plain/sub"
rm "$M/plain"

step "create, O_EXCL, O_TRUNC"
assert_ok open "$M/c" wronly,creat,excl 0644
assert_eq 0 "$(fsize "$M/c")" "size of a new file"
assert_fails_with EEXIST open "$M/c" wronly,creat,excl
assert_fails_with ENOENT open "$M/nope" rdonly
printf 'some content\n' >"$M/c"
assert_eq 13 "$(fsize "$M/c")" "size after write"
assert_ok open "$M/c" wronly,trunc
assert_eq 0 "$(fsize "$M/c")" "size after O_TRUNC"
assert_eq "" "$(cat "$M/c")" "content after O_TRUNC"
printf 'again\n' >"$M/c"
: >"$M/c"
assert_eq 0 "$(fsize "$M/c")" "size after shell truncation"
mkdir "$M/adir"
assert_fails_with EISDIR open "$M/adir" wronly
assert_fails_with ENOENT open "$M/nodir/x" wronly,creat

step "O_APPEND"
for d in "$M" "$R"; do
	printf 'one\n' >"$d/app"
	printf 'two\n' >>"$d/app"
	printf 'three\n' >>"$d/app"
done
same_file app
assert_ok append2 "$M/app2"

step "writes past the end leave zero holes"
head -c 3000 /dev/urandom >"$WORK/chunk"
for d in "$M" "$R"; do
	printf 'start' >"$d/hole"
	dd if="$WORK/chunk" of="$d/hole" bs=1000 seek=10 conv=notrunc status=none
	dd if="$WORK/chunk" of="$d/hole" bs=4096 seek=100 conv=notrunc status=none
	dd if="$WORK/chunk" of="$d/hole" bs=1 seek=1000000 conv=notrunc status=none
done
same_file hole
assert_eq 1003000 "$(fsize "$M/hole")" "size after writes past the end"
cmp -s -n 4995 -i 5:0 "$M/hole" /dev/zero || fail "hole after 'start' does not read zeros"
# Sparse files.
truncate -s 3M "$M/sparse"
assert_eq $((3 << 20)) "$(fsize "$M/sparse")" "size of truncate -s 3M"
cmp -s -n $((3 << 20)) "$M/sparse" /dev/zero || fail "truncate -s 3M does not read zeros"
for d in "$M" "$R"; do
	dd if="$WORK/chunk" of="$d/sparse2" bs=4096 seek=300 status=none
done
same_file sparse2

step "truncate / ftruncate up and down"
head -c 50000 /dev/urandom >"$WORK/50k"
for d in "$M" "$R"; do cp "$WORK/50k" "$d/tr"; done
for s in 40000 12288 8193 8192 4097 4095 1 0 5000 123457 65536 0 1; do
	truncate -s "$s" "$M/tr"
	truncate -s "$s" "$R/tr"
	same_file tr
done
for d in "$M" "$R"; do cp "$WORK/50k" "$d/ftr"; done
for s in 45000 4096 4095 100000 1 0 77777; do
	assert_ok ftruncate "$M/ftr" "$s"
	truncate -s "$s" "$R/ftr"
	same_file ftr
	assert_eq "$s" "$(fsize "$M/ftr")" "size after ftruncate to $s"
done
# Truncate then write in the middle of the new zeros.
for d in "$M" "$R"; do
	cp "$WORK/50k" "$d/trw"
	truncate -s 10001 "$d/trw"
	truncate -s 30000 "$d/trw"
	dd if="$WORK/chunk" of="$d/trw" bs=1 seek=20000 count=100 conv=notrunc status=none
done
same_file trw

step "unlink"
echo gone >"$M/u"
rm "$M/u"
assert_fails_with ENOENT stat "$M/u"
assert_fails_with ENOENT unlink "$M/u"
! listed "$M" u || fail "unlinked file still listed"
assert_fails_with EISDIR unlink "$M/adir"

step "rename"
echo "content A" >"$M/ra"
mv "$M/ra" "$M/rb"
assert_fails_with ENOENT stat "$M/ra"
assert_eq "content A" "$(cat "$M/rb")" "renamed file content"
mkdir -p "$M/rdir/sub"
echo child1 >"$M/rdir/c1"
echo child2 >"$M/rdir/sub/c2"
mv "$M/rdir" "$M/rdir2"
assert_fails_with ENOENT stat "$M/rdir"
assert_eq "child1" "$(cat "$M/rdir2/c1")" "child of a renamed directory"
assert_eq "child2" "$(cat "$M/rdir2/sub/c2")" "grandchild of a renamed directory"
mkdir "$M/other"
mv "$M/rdir2" "$M/other/moved"
assert_eq "child2" "$(cat "$M/other/moved/sub/c2")" "grandchild of a moved directory"
mv "$M/rb" "$M/other/moved/sub/rc"
assert_eq "content A" "$(cat "$M/other/moved/sub/rc")" "file moved to another directory"
# Over an existing file.
echo "new" >"$M/src1"
echo "old old old" >"$M/dst1"
mv -f "$M/src1" "$M/dst1"
assert_eq "new" "$(cat "$M/dst1")" "rename over an existing file"
assert_fails_with ENOENT stat "$M/src1"
# Over an empty and a non-empty directory.
mkdir -p "$M/rd1" "$M/rd2" "$M/rd3"
echo in >"$M/rd1/f"
echo busy >"$M/rd3/f"
assert_ok rename "$M/rd1" "$M/rd2"
assert_eq "in" "$(cat "$M/rd2/f")" "rename of a directory over an empty one"
assert_fails_with ENOTEMPTY rename "$M/rd2" "$M/rd3"
assert_fails_with EISDIR rename "$M/dst1" "$M/rd3"
assert_fails_with ENOTDIR rename "$M/rd3" "$M/dst1"
# RENAME_NOREPLACE.
echo one >"$M/nr1"
echo two >"$M/nr2"
assert_fails_with EEXIST rename "$M/nr1" "$M/nr2" noreplace
assert_eq "two" "$(cat "$M/nr2")" "target of a refused RENAME_NOREPLACE"
assert_eq "one" "$(cat "$M/nr1")" "source of a refused RENAME_NOREPLACE"
assert_ok rename "$M/nr1" "$M/nr3" noreplace
assert_eq "one" "$(cat "$M/nr3")" "RENAME_NOREPLACE to a free name"
# RENAME_EXCHANGE, files.
head -c 7000 /dev/urandom >"$WORK/x1"
head -c 300 /dev/urandom >"$WORK/x2"
cp "$WORK/x1" "$M/x1"
cp "$WORK/x2" "$M/x2"
assert_ok rename "$M/x1" "$M/x2" exchange
assert_file_eq "$WORK/x2" "$M/x1" "x1 after RENAME_EXCHANGE"
assert_file_eq "$WORK/x1" "$M/x2" "x2 after RENAME_EXCHANGE"
assert_eq 300 "$(fsize "$M/x1")" "size of x1 after RENAME_EXCHANGE"
assert_fails_with ENOENT rename "$M/x1" "$M/x-none" exchange
# RENAME_EXCHANGE, directories (and a file with a directory).
mkdir -p "$M/xd1/deep" "$M/xd2"
echo "in xd1" >"$M/xd1/deep/f"
echo "in xd2" >"$M/xd2/g"
assert_ok rename "$M/xd1" "$M/xd2" exchange
assert_eq "in xd1" "$(cat "$M/xd2/deep/f")" "xd2 after RENAME_EXCHANGE of directories"
assert_eq "in xd2" "$(cat "$M/xd1/g")" "xd1 after RENAME_EXCHANGE of directories"
assert_ok rename "$M/xd1" "$M/x1" exchange
{ [ -d "$M/x1" ] && [ -f "$M/xd1" ]; } || fail "RENAME_EXCHANGE of a directory with a file"
assert_eq "in xd2" "$(cat "$M/x1/g")" "directory exchanged with a file"
assert_file_eq "$WORK/x2" "$M/xd1" "file exchanged with a directory"
# Exchange across directories.
assert_ok rename "$M/x2" "$M/xd2/deep/f" exchange
assert_eq "in xd1" "$(cat "$M/x2")" "exchange across directories (1)"
assert_file_eq "$WORK/x1" "$M/xd2/deep/f" "exchange across directories (2)"

step "symlink / readlink"
ln -s "c" "$M/l1"
assert_eq "c" "$(readlink "$M/l1")" "readlink of a short target"
echo "via link" >"$M/lt"
ln -s "lt" "$M/l2"
assert_eq "via link" "$(cat "$M/l2")" "read through a symlink"
ln -s "/nowhere/at/all" "$M/l3"
assert_eq "/nowhere/at/all" "$(readlink "$M/l3")" "readlink of a dangling target"
assert_fails_with ENOENT read "$M/l3"
long=$(printf 'dir%04d/' $(seq 1 125))
assert_eq 1000 "${#long}" "length of the long target"
ln -s "$long" "$M/l4"
assert_eq "$long" "$(readlink "$M/l4")" "readlink of a 1000-byte target"
[ -L "$M/l4" ] || fail "l4 is not a symlink"
assert_eq 1000 "$(stat -c %s "$M/l4")" "stat size of a symlink with a 1000-byte target"
ln -s "été/東京 ☃" "$M/l5"
assert_eq "été/東京 ☃" "$(readlink "$M/l5")" "readlink of a UTF-8 target"
assert_fails_with EEXIST symlink "x" "$M/l1"
mv "$M/l4" "$M/other/l4moved"
assert_eq "$long" "$(readlink "$M/other/l4moved")" "readlink after moving the symlink"
rm "$M/l1"
assert_fails_with ENOENT stat "$M/l1"
assert_fails_with EINVAL readlink "$M/lt"

step "hard links are refused"
assert_fails_with EPERM link "$M/lt" "$M/hard"
assert_fails_with ENOENT stat "$M/hard"

step "chmod / chown"
echo m >"$M/perm"
chmod 640 "$M/perm"
assert_eq 640 "$(stat -c %a "$M/perm")" "mode after chmod 640"
chmod 2745 "$M/perm"
assert_eq 2745 "$(stat -c %a "$M/perm")" "mode after chmod 2745"
chmod 700 "$M/adir"
assert_eq 700 "$(stat -c %a "$M/adir")" "directory mode after chmod 700"
chown 1234:5678 "$M/perm"
assert_eq "1234:5678" "$(stat -c %u:%g "$M/perm")" "owner after chown"
chown 4321 "$M/adir"
assert_eq 4321 "$(stat -c %u "$M/adir")" "directory owner after chown"
chown -h 77:88 "$M/l2"
assert_eq "77:88" "$(stat -c %u:%g "$M/l2")" "symlink owner after chown -h"
(umask 022 && echo n >"$M/owned")
assert_eq "0:0" "$(stat -c %u:%g "$M/owned")" "owner of a file root created"
assert_eq 644 "$(stat -c %a "$M/owned")" "mode of a new file under umask 022"
(umask 077 && mkdir "$M/privdir")
assert_eq 700 "$(stat -c %a "$M/privdir")" "mode of a new directory under umask 077"

step "utimens"
touch -d "2001-02-03 04:05:06 UTC" "$M/perm"
assert_eq 981173106 "$(stat -c %Y "$M/perm")" "mtime after touch -d"
assert_eq 981173106 "$(stat -c %X "$M/perm")" "atime after touch -d"
touch -m -d "@1500000000.123456789" "$M/perm"
assert_eq 1500000000 "$(stat -c %Y "$M/perm")" "mtime after touch -m"
assert_eq 981173106 "$(stat -c %X "$M/perm")" "atime after touch -m only"
touch -d "2010-01-01 00:00:00 UTC" "$M/adir"
assert_eq 1262304000 "$(stat -c %Y "$M/adir")" "directory mtime after touch -d"
before=$(stat -c %Y "$M/owned")
touch -d "2000-01-01 UTC" "$M/owned"
echo later >>"$M/owned"
after=$(stat -c %Y "$M/owned")
[ "$after" -gt 946684800 ] || fail "a write does not update mtime ($before -> $after)"

step "statfs"
assert_cmd_ok "df of the mount" df "$M"
assert_cmd_ok "stat -f of the mount" stat -f "$M"
bs=$(stat -f -c %S "$M")
[ "$bs" -gt 0 ] || fail "statfs block size is $bs"
blocks=$(stat -f -c %b "$M")
[ "$blocks" -gt 0 ] || fail "statfs reports $blocks blocks"

step "fsync / fdatasync"
echo sync >"$M/sync"
assert_ok fsync "$M/sync"
assert_ok fdatasync "$M/sync"
assert_cmd_ok "sync FILE" sync "$M/sync"

step "fallocate"
fallocate -l 100000 "$M/fa"
assert_eq 100000 "$(fsize "$M/fa")" "size after fallocate -l 100000"
cmp -s -n 100000 "$M/fa" /dev/zero || fail "fallocated file does not read zeros"
for d in "$M" "$R"; do
	head -c 5000 "$WORK/50k" >"$d/fa2"
	fallocate -l 20000 "$d/fa2"
done
same_file fa2
fallocate -l 1000 "$M/fa2"
assert_eq 20000 "$(fsize "$M/fa2")" "fallocate shorter than the file keeps the size"

step "long names"
n200=$(printf 'n%.0s' $(seq 1 200))
n255=$(printf 'L%.0s' $(seq 1 255))
n256=$(printf 'x%.0s' $(seq 1 256))
for n in "$n200" "$n255"; do
	echo "named ${#n}" >"$M/$n"
	assert_eq "named ${#n}" "$(cat "$M/$n")" "file with a ${#n}-byte name"
	listed "$M" "$n" || fail "ls does not show the ${#n}-byte name"
done
mkdir "$M/d${n255:1}"
[ -d "$M/d${n255:1}" ] || fail "mkdir with a 255-byte name"

assert_fails_with ENAMETOOLONG open "$M/$n256" wronly,creat
assert_fails_with ENAMETOOLONG mkdir "$M/$n256"
assert_fails_with ENAMETOOLONG stat "$M/$n256"
mv "$M/$n200" "$M/${n255:0:254}k"
assert_eq "named 200" "$(cat "$M/${n255:0:254}k")" "rename to a 255-byte name"
assert_fails_with ENOENT stat "$M/$n200"
assert_fails_with ENAMETOOLONG rename "$M/$n255" "$M/$n256"
mv "$M/$n255" "$M/short-again"
assert_eq "named 255" "$(cat "$M/short-again")" "rename from a 255-byte name"
mv "$M/short-again" "$M/other/$n255"
assert_eq "named 255" "$(cat "$M/other/$n255")" "move to another directory with a 255-byte name"
ln -s "$n255" "$M/${n255:0:250}-link"
assert_eq "$n255" "$(readlink "$M/${n255:0:250}-link")" "symlink with a long name"
rm "$M/${n255:0:254}k" "$M/other/$n255" "$M/${n255:0:250}-link"
assert_fails_with ENOENT stat "$M/other/$n255"
echo "dir long" >"$M/d${n255:1}/inside"
assert_eq "dir long" "$(cat "$M/d${n255:1}/inside")" "file in a directory with a 255-byte name"
rm -r "$M/d${n255:1}"
assert_fails_with ENOENT stat "$M/d${n255:1}"
if find "$M" -maxdepth 1 -name 'LLLLLLLLLLLLLLLLLLLL*' | grep -q .; then
	fail "a removed long name is still listed"
fi

step "deep directories"
deep=$M
for i in $(seq 1 40); do deep=$deep/level-$i; done
mkdir -p "$deep"
echo bottom >"$deep/file"
assert_eq bottom "$(cat "$deep/file")" "file 40 directories deep"
mv "$M/level-1" "$M/top"
assert_eq bottom "$(cat "$M/top${deep#"$M"/level-1}/file")" "deep file after renaming the top"
rm -r "$M/top"
assert_fails_with ENOENT stat "$M/top"

step "names with spaces and UTF-8"
for n in "a b c" " leading" "trailing " "été – 東京 ☃.dcm" "tab	in" "new
line" "-dash" "\$dollar" "quote\"'" "...dots" "%41%42"; do
	printf '%s' "$n" >"$M/$n"
	assert_eq "$n" "$(cat "$M/$n")" "content of file named '$n'"
	mkdir "$M/$n.dir"
	printf 'in dir' >"$M/$n.dir/f"
	assert_eq "in dir" "$(cat "$M/$n.dir/f")" "file in a directory named '$n'"
	listed "$M" "$n" || fail "readdir does not list '$n'"
done
mv "$M/été – 東京 ☃.dcm" "$M/other/Ωmega.dcm"
assert_eq "été – 東京 ☃.dcm" "$(cat "$M/other/Ωmega.dcm")" "rename with UTF-8 names"

step "unlinked but open file"
assert_ok unlinked-open "$M/unl" # see fsop.c: write, unlink, read, pwrite, fstat, ftruncate
assert_fails_with ENOENT stat "$M/unl"
echo "written before unlink" >"$M/unl2"
exec 7<"$M/unl2"
rm "$M/unl2"
assert_eq "written before unlink" "$(cat <&7 2>&1 || true)" "reading an unlinked file through an open fd"
exec 7<&-

step "readdir sees everything after many operations"
mkdir "$M/many"
for i in $(seq 1 300); do : >"$M/many/file-$i"; done
assert_eq 300 "$(find "$M/many" -mindepth 1 | wc -l)" "entries in a directory of 300 files"
rm "$M/many"/file-1*
assert_eq 189 "$(find "$M/many" -mindepth 1 | wc -l)" "entries after removing 111"

unmount "$M"
finish
