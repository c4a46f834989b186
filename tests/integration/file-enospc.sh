#!/bin/bash
# file-enospc: a write, truncation, allocation or copy_file_range that
# meets a full vault disk fails with ENOSPC (or succeeds without space: a
# hole) and leaves the file readable, with its old content, before and
# after space is freed; medfs-fsck finds the vault clean (issue 15). The
# vault sits on a small tmpfs of its own, the journal elsewhere.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

VFS=$WORK/vaultfs
V=$VFS/vault
J=$WORK/journal
M=$WORK/mnt
P=$WORK/pass
mkdir -p "$VFS"
if ! mount -t tmpfs -o size=8m,mode=0700 medfs-enospc "$VFS"; then
	fail "cannot mount the test's tmpfs"
	exit 1
fi
make_passfile "$P" "enospc test passphrase"
make_vault "$V" "$P"
mount_vault "$V" "$M" "$P" -o journal="$J"

# Leaves about $1 KiB free on the vault's file system.
fill_to()
{
	rm -f "$VFS/filler"
	dd if=/dev/zero of="$VFS/filler" bs=64k status=none 2>/dev/null || true
	sync
	truncate -s "-$1K" "$VFS/filler"
	echo "free on the vault disk: $(df --output=avail -B1K "$VFS" | tail -n 1) KiB"
}

# The file at $1 reads whole and holds the file $2 followed by a prefix of
# the file $3 (what a failed append may have written: the kernel cuts a
# write in requests, and those before the failure stay), at least $2.
holds_prefix()
{
	local size old got
	size=$(fsize "$1")
	old=$(fsize "$2")
	if [ "$size" -lt "$old" ]; then
		fail "$4: $size bytes, fewer than the $old it held"
		return
	fi
	got=$(cmp "$1" <(cat "$2" && head -c $((size - old)) "$3") 2>&1) || fail "$4: $got"
	echo "$4: $((size - old)) bytes of the failed write stayed"
}

random_file "$WORK/a" $((2 << 20))
cp "$WORK/a" "$M/a"
head -c 5000 /dev/urandom >"$WORK/b"
cp "$WORK/b" "$M/b"
sync

random_file "$WORK/add" $((1 << 20))
step "appending 1 MiB to a 2 MiB file with 256 KiB free: ENOSPC, the file as it was"
fill_to 256
out=$(dd if="$WORK/add" of="$M/a" bs=1M oflag=append conv=notrunc 2>&1) &&
	fail "the append did not fail: $out"
grep -q "No space left on device" <<<"$out" || fail "the append failed but not with ENOSPC: $out"
holds_prefix "$M/a" "$WORK/a" "$WORK/add" "the file after the failed append"
cp "$M/a" "$WORK/a"

step "the same on a file whose last block is partial (resealed longer)"
fill_to 0
out=$(dd if="$WORK/add" of="$M/b" bs=1M oflag=append conv=notrunc 2>&1) &&
	fail "the append did not fail: $out"
grep -q "No space left on device" <<<"$out" || fail "not ENOSPC: $out"
holds_prefix "$M/b" "$WORK/b" "$WORK/add" "the partial file after the failed append"
cp "$M/b" "$WORK/b"

step "copy_file_range of 1 MiB to the end of a file: ENOSPC, the file as it was"
random_file "$WORK/src" $((1 << 20))
rm -f "$VFS/filler"
cp "$WORK/src" "$M/src"
fill_to 256
out=$(python3 - "$M/src" "$M/a" <<'EOF' 2>&1
import os, sys
s = os.open(sys.argv[1], os.O_RDONLY)
d = os.open(sys.argv[2], os.O_WRONLY)
end = os.fstat(d).st_size
done = 0
try:
    while done < 1 << 20:
        n = os.copy_file_range(s, d, (1 << 20) - done, done, end + done)
        if n == 0:
            break
        done += n
except OSError as e:
    print(e.strerror)
    sys.exit(1)
EOF
) && fail "copy_file_range did not fail"
grep -q "No space left on device" <<<"$out" || fail "copy_file_range: not ENOSPC: $out"
holds_prefix "$M/a" "$WORK/a" "$WORK/src" "the file after a failed copy_file_range"
cp "$M/a" "$WORK/a"

step "truncate up on a full disk: a partial last block needs room to grow"
random_file "$WORK/c" 8192
rm -f "$VFS/filler"
cp "$WORK/c" "$M/c"
fill_to 0
bsize=$(fsize "$WORK/b")
if ! out=$(truncate -s 3M "$M/b" 2>&1); then
	grep -q "No space left on device" <<<"$out" || fail "truncate up: not ENOSPC: $out"
	cmp "$M/b" "$WORK/b" || fail "the file after a failed truncate up"
else
	cmp "$M/b" <(cat "$WORK/b" && head -c $(((3 << 20) - bsize)) /dev/zero) ||
		fail "the file after truncate up"
fi

step "truncate and fallocate up of a file of whole blocks on a full disk: holes, no space"
truncate -s 3M "$M/c" || fail "truncate up on a full disk"
cmp "$M/c" <(cat "$WORK/c" && head -c $(((3 << 20) - 8192)) /dev/zero) ||
	fail "the file after truncate up"
fallocate -l 5M "$M/c" || fail "fallocate on a full disk"
assert_eq $((5 << 20)) "$(fsize "$M/c")" "size after fallocate"
fallocate -n -o 5M -l 1M "$M/c" || fail "fallocate --keep-size"
assert_eq $((5 << 20)) "$(fsize "$M/c")" "size after fallocate --keep-size"

step "a write into a hole on a full disk: ENOSPC, the hole still zeros"
out=$(dd if="$WORK/add" of="$M/c" bs=1M seek=2 conv=notrunc 2>&1) &&
	fail "the write into the hole did not fail: $out"
grep -q "No space left on device" <<<"$out" || fail "not ENOSPC: $out"
cmp "$M/c" <(cat "$WORK/c" && head -c $(((5 << 20) - 8192)) /dev/zero) ||
	fail "the file after a failed write into its hole"

step "a truncation down on a full disk"
truncate -s 4000 "$M/c" || fail "truncate down on a full disk"
cmp "$M/c" <(head -c 4000 "$WORK/c") || fail "the truncated file"

step "space freed: everything reads, and the same append works"
rm -f "$VFS/filler"
cmp -n $((2 << 20)) "$M/a" "$WORK/a" || fail "a after space is freed"
cat "$M/a" "$M/b" "$M/c" >/dev/null || fail "the files do not read after space is freed"
head -c 1M /dev/urandom >>"$M/a" || fail "the append with space"
unmount "$M"

step "medfs-fsck finds the vault clean"
"$MEDFS_FSCK" "$V" --passphrase-file "$P" >"$WORK/fsck.out" 2>&1 ||
	fail "medfs-fsck: $(cat "$WORK/fsck.out")"
mount_vault "$V" "$M" "$P" -o journal="$J"
cmp -n $((2 << 20)) "$M/a" "$WORK/a" || fail "a after a remount"
cmp "$M/c" <(head -c 4000 "$WORK/c") || fail "c after a remount"
cmp -n "$bsize" "$M/b" "$WORK/b" || fail "b after a remount"
unmount "$M"
finish
