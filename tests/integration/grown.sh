#!/bin/bash
# grown: a vault file longer than its header says, as a crash (or kill -9)
# in the middle of an extension leaves it: the new blocks reached the disk,
# the header with the new size did not (doc/FORMAT.md 12.3).
# - A vault whose last mount did not end cleanly (VAULT/medfs.mounted left
#   by a kill -9 of the driver) reads such a file at its header's size,
#   stat and ls -l included, its synced content intact; the mount cuts it
#   back in the background, and removes the marker at a clean unmount.
# - Bytes appended behind medfs's back to a vault that ended cleanly read
#   EIO (they would otherwise show as zeros past the end).
# - medfs-fsck -n reports a grown file (exit 4), -y cuts it back and
#   removes the marker (exit 1), the next check is clean (exit 0);
#   medfs-key rotate refuses to start until then.
# - A vault file shorter than its header says still reads EIO.
set -eu
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
SRC=$WORK/src
mkdir -p "$SRC"
make_passfile "$P" "grown test passphrase"
make_vault "$V" "$P"

# crash_grow NAME BYTES: appends BYTES to /NAME through a mount and leaves
# its vault file as a crash in that append can: the new blocks (and the
# last block resealed longer) on disk, the header the one from before.
crash_grow()
{
	local name=$1 bytes=$2 vf hdr
	vf=$(vault_file_of_size "$V" "$(wc -c <"$SRC/$name")")
	hdr=$WORK/$name.hdr
	head -c 104 "$vf" >"$hdr"
	mount_vault "$V" "$M" "$P"
	head -c "$bytes" /dev/urandom >>"$M/$name"
	unmount "$M"
	dd if="$hdr" of="$vf" conv=notrunc status=none
	echo "$vf"
}

step "write the files"
mount_vault "$V" "$M" "$P"
random_file "$SRC/a" 9001 # its last block partial
random_file "$SRC/b" 5000
random_file "$SRC/c" 8192 # whole blocks
for f in a b c; do dd if="$SRC/$f" of="$M/$f" conv=fsync status=none; done
unmount "$M"
[ -e "$V/medfs.mounted" ] && fail "medfs.mounted left by a clean unmount"

step "bytes appended behind medfs's back read EIO on a vault that ended cleanly"
va=$(vault_file_of_size "$V" 9001)
cp "$va" "$WORK/a.vault"
head -c 5000 /dev/urandom >>"$va"
mount_vault "$V" "$M" "$P"
[ -e "$V/medfs.mounted" ] || fail "no medfs.mounted while mounted"
cat "$M/a" >/dev/null 2>"$WORK/a.err" && fail "a vault file extended behind medfs's back reads"
grep -q "Input/output error" "$WORK/a.err" || fail "not EIO: $(cat "$WORK/a.err")"
unmount "$M"
cp "$WORK/a.vault" "$va"

step "extensions cut by a crash: the driver killed, the headers from before"
va=$(crash_grow a 5000)
vc=$(crash_grow c $((2 * 4096 + 7)))
mount_vault "$V" "$M" "$P"
kill_driver "$M"
umount -l "$M" 2>/dev/null || fusermount3 -uz "$M"
[ -e "$V/medfs.mounted" ] || fail "kill -9 did not leave medfs.mounted"
grown_a=$(fsize "$va")
[ "$grown_a" -gt "$(disk_size 9001)" ] || fail "/a's vault file is not longer than its header says"

step "fsck -n reports them and changes nothing: exit 4"
rc=$(fsck_status "$V" "$P" "$WORK/n.out" -n)
cat "$WORK/n.out"
assert_eq 4 "$rc" "exit status of fsck -n"
grep -q "/a: longer than its header (an extension interrupted by a crash)" "$WORK/n.out" ||
	fail "fsck -n does not report /a"
grep -q "/c: longer than its header" "$WORK/n.out" || fail "fsck -n does not report /c"
grep -q "/b:" "$WORK/n.out" && fail "fsck -n reports /b, which is sound"
grep -q "the last mount did not end cleanly" "$WORK/n.out" || fail "fsck -n does not tell of the marker"
assert_eq "$grown_a" "$(fsize "$va")" "fsck -n left /a's vault file"

step "medfs-key rotate refuses to start on it"
assert_cmd_fails "$MEDFS_KEY" rotate "$V" --passphrase-file "$P"
"$MEDFS_KEY" rotate "$V" --passphrase-file "$P" 2>&1 | grep -q "did not end cleanly" ||
	fail "medfs-key rotate does not say why"

step "the next mount reads them at their headers' sizes and settles them"
cp -a "$V" "$WORK/vault-crashed"
mount_vault "$V" "$M" "$P"
assert_eq 9001 "$(stat -c %s "$M/a")" "stat size of /a"
ls -l "$M" >"$WORK/ls.out"
grep -q " 9001 .* a$" "$WORK/ls.out" || fail "ls -l does not show 9001 for /a: $(cat "$WORK/ls.out")"
assert_file_eq "$SRC/a" "$M/a" "/a after the crash"
assert_file_eq "$SRC/c" "$M/c" "/c after the crash"
assert_file_eq "$SRC/b" "$M/b" "/b after the crash"
n=200
while [ "$(fsize "$va")" != "$(disk_size 9001)" ] || [ "$(fsize "$vc")" != "$(disk_size 8192)" ]; do
	n=$((n - 1))
	[ "$n" -gt 0 ] || fail "the mount did not cut /a and /c back in 20 s"
	sleep 0.1
done
printf 'xyz' >>"$M/a"
cat "$SRC/a" >"$SRC/a2"
printf 'xyz' >>"$SRC/a2"
assert_file_eq "$SRC/a2" "$M/a" "/a appended to after the settling"
unmount "$M"
[ -e "$V/medfs.mounted" ] && fail "medfs.mounted left by the clean unmount after settling"
assert_eq "$(disk_size 9004)" "$(fsize "$va")" "/a's vault file after the append"
rc=$(fsck_status "$V" "$P" "$WORK/clean1.out")
assert_eq 0 "$rc" "exit status of fsck after the mount settled: $(cat "$WORK/clean1.out")"

step "fsck -y cuts them back and removes the marker: exit 1, then clean: exit 0"
rm -rf "$V"
mv "$WORK/vault-crashed" "$V"
rc=$(fsck_status "$V" "$P" "$WORK/y.out" -y)
cat "$WORK/y.out"
assert_eq 1 "$rc" "exit status of fsck -y"
grep -q "/a: repaired: cut back to the length its header says" "$WORK/y.out" ||
	fail "fsck -y does not say it cut /a"
assert_eq "$(disk_size 9001)" "$(fsize "$va")" "/a's vault file after fsck -y"
assert_eq "$(disk_size 8192)" "$(fsize "$vc")" "/c's vault file after fsck -y"
[ -e "$V/medfs.mounted" ] && fail "fsck -y left medfs.mounted"
rc=$(fsck_status "$V" "$P" "$WORK/clean.out")
assert_eq 0 "$rc" "exit status of fsck after the repair: $(cat "$WORK/clean.out")"
mount_vault "$V" "$M" "$P"
assert_file_eq "$SRC/a" "$M/a" "/a after fsck -y"
assert_file_eq "$SRC/c" "$M/c" "/c after fsck -y"
unmount "$M"

step "a vault file shorter than its header says still reads EIO"
vb=$(vault_file_of_size "$V" 5000)
truncate -s $(($(disk_size 5000) - 1)) "$vb"
mount_vault "$V" "$M" "$P"
cat "$M/b" >/dev/null 2>"$WORK/b.err" && fail "a shortened vault file reads"
grep -q "Input/output error" "$WORK/b.err" || fail "not EIO: $(cat "$WORK/b.err")"
unmount "$M"

finish
