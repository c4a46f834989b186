#!/bin/bash
# basic: init, mount, write and read back files of edge sizes, names stay
# out of the vault, unmount, and the driver's refusals.
set -eu
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
SRC=$WORK/src
mkdir -p "$SRC"
make_passfile "$P" "basic test passphrase"

# The option NAME=VALUE of the mount on MNT, as /proc/mounts shows it.
mount_option()
{
	awk -v m="$1" '$2 == m { print $4 }' /proc/mounts | tr , '\n' | grep "^$2="
}

step "init"
make_vault "$V" "$P"
[ "$(fsize "$V/medfs.conf")" -gt 0 ] || fail "empty medfs.conf"
cmp -s "$V/medfs.conf" "$V/medfs.conf.bak" || fail "the two config copies differ"
[ -f "$V/tree/.medfs-dir" ] || fail "no root directory header $V/tree/.medfs-dir"

step "mount"
mount_vault "$V" "$M" "$P"
assert_eq "" "$(ls -A "$M")" "listing of a new vault"
# Run as root, the driver reads ahead 4 MiB, not the kernel's 128 KiB
# for FUSE, in requests of 128 KiB, up to 64 of them in flight.
assert_eq 4096 "$(cat "/sys/class/bdi/$(mountpoint -d "$M")/read_ahead_kb")" \
	"the mount's readahead (KiB)"
assert_eq max_read=131072 "$(mount_option "$M" max_read)" "the mount's max_read"
# Read where the host has the fuse control file system mounted: the test
# mounts nothing of the host's.
conn=/sys/fs/fuse/connections/$(mountpoint -d "$M" | cut -d: -f2)
if [ -r "$conn/max_background" ]; then
	assert_eq 64 "$(cat "$conn/max_background")" "requests in the background"
	assert_eq 48 "$(cat "$conn/congestion_threshold")" "congestion threshold"
fi

step "write and read back"
# name -> size; odd names so a leak into the vault is easy to spot.
declare -A SIZES=(
	[alpha-small.txt]=13
	[bravo-empty.dat]=0
	[charlie-4095.bin]=4095
	[delta-4096.bin]=4096
	[echo-4097.bin]=4097
	[foxtrot-1MiB.bin]=1048576
	[golf-one.bin]=1
	[hotel-8193.bin]=8193
)
for n in "${!SIZES[@]}"; do
	random_file "$SRC/$n" "${SIZES[$n]}"
	cp "$SRC/$n" "$M/$n"
done
printf 'hello, medfs\n' >"$M/india-echo.txt"
printf 'hello, medfs\n' >"$SRC/india-echo.txt"
SIZES[india-echo.txt]=13
for n in "${!SIZES[@]}"; do
	assert_file_eq "$SRC/$n" "$M/$n" "read back of $n"
	assert_eq "${SIZES[$n]}" "$(fsize "$M/$n")" "stat size of $n"
done

step "ls shows the names"
expected=$(printf '%s\n' "${!SIZES[@]}" | LC_ALL=C sort)
assert_eq "$expected" "$(find "$M" -mindepth 1 -maxdepth 1 -printf '%f\n' | LC_ALL=C sort)" "names listed in the mount"
mkdir "$M/juliet-dir"
cp "$SRC/alpha-small.txt" "$M/juliet-dir/kilo-inner.txt"
assert_eq "kilo-inner.txt" "$(ls -A "$M/juliet-dir")" "ls of a subdirectory"
assert_file_eq "$SRC/alpha-small.txt" "$M/juliet-dir/kilo-inner.txt"
[ -d "$M/juliet-dir" ] || fail "stat of juliet-dir: not a directory"

step "the vault holds no plaintext name"
vault_names=$(find "$V" -printf '%f\n')
for n in "${!SIZES[@]}" juliet-dir kilo-inner.txt alpha bravo juliet kilo; do
	if grep -qF -- "$n" <<<"$vault_names"; then
		fail "plaintext name '$n' appears among the vault's file names"
	fi
done
# The vault files are the ciphertext sizes of the plaintext sizes.
for n in charlie-4095.bin delta-4096.bin echo-4097.bin foxtrot-1MiB.bin; do
	vault_file_of_size "$V" "${SIZES[$n]}" >/dev/null
done

step "unmount"
unmount "$M"
assert_eq "" "$(ls -A "$M")" "the mountpoint after unmount"

step "remount reads the same"
# With the user's max_read, which the driver repeats at INIT.
mount_vault "$V" "$M" "$P" -o max_read=1048576
assert_eq max_read=1048576 "$(mount_option "$M" max_read)" "the user's max_read"
for n in "${!SIZES[@]}"; do
	assert_file_eq "$SRC/$n" "$M/$n" "read back of $n after remount"
done
unmount "$M"

step "refusals"
# Missing vault directory.
mkdir -p "$WORK/mnt2"
rc=0
out=$("$MEDFS" "$WORK/no-such-vault" "$WORK/mnt2" --passphrase-file "$P" 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "medfs on a missing vault exited 0"
grep -q "not a medfs vault" <<<"$out" ||
	fail "medfs on a missing vault: message does not say 'not a medfs vault': $out"
assert_not_mounted "$WORK/mnt2"

# An existing directory that is no vault.
mkdir -p "$WORK/not-a-vault"
rc=0
out=$("$MEDFS" "$WORK/not-a-vault" "$WORK/mnt2" --passphrase-file "$P" 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "medfs on an empty directory exited 0"
grep -q "not a medfs vault" <<<"$out" ||
	fail "medfs on an empty directory: message does not say 'not a medfs vault': $out"
assert_not_mounted "$WORK/mnt2"

# Missing mountpoint.
rc=0
out=$("$MEDFS" "$V" "$WORK/no-such-mnt" --passphrase-file "$P" 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "medfs on a missing mountpoint exited 0"
grep -q "cannot mount on" <<<"$out" ||
	fail "medfs on a missing mountpoint: message does not say 'cannot mount on': $out"
assert_not_mounted "$WORK/no-such-mnt"
[ ! -e "$WORK/no-such-mnt" ] || fail "medfs created the missing mountpoint"

# A mountpoint that is a regular file.
: >"$WORK/mnt-file"
rc=0
out=$("$MEDFS" "$V" "$WORK/mnt-file" --passphrase-file "$P" 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "medfs on a regular file as mountpoint exited 0"
assert_not_mounted "$WORK/mnt-file"

# A non-empty mountpoint: libfuse 3 allows it, so either medfs refuses it
# clearly, or it mounts over it and the files beneath come back untouched.
mkdir -p "$WORK/mnt-busy"
echo "underneath" >"$WORK/mnt-busy/beneath.txt"
rc=0
out=$("$MEDFS" "$V" "$WORK/mnt-busy" --passphrase-file "$P" 2>&1) || rc=$?
if [ "$rc" -ne 0 ]; then
	assert_not_mounted "$WORK/mnt-busy"
	grep -q "cannot mount on" <<<"$out" ||
		fail "medfs on a non-empty mountpoint: message does not say 'cannot mount on': $out"
else
	echo "medfs mounts over a non-empty directory"
	assert_mounted "$WORK/mnt-busy"
	[ ! -e "$WORK/mnt-busy/beneath.txt" ] || fail "files beneath the mount show through it"
	assert_file_eq "$SRC/foxtrot-1MiB.bin" "$WORK/mnt-busy/foxtrot-1MiB.bin" "read back through a mount on a non-empty directory"
	unmount "$WORK/mnt-busy"
fi
assert_eq "underneath" "$(cat "$WORK/mnt-busy/beneath.txt")" "file beneath the mountpoint"

# Missing passphrase file.
rc=0
out=$("$MEDFS" "$V" "$WORK/mnt2" --passphrase-file "$WORK/no-such-pass" 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "medfs with a missing passphrase file exited 0"
assert_not_mounted "$WORK/mnt2"

# medfs-key init refuses a non-empty directory and leaves it alone.
mkdir -p "$WORK/busy"
echo keep >"$WORK/busy/file"
assert_cmd_fails "medfs-key init on a non-empty directory" \
	"$MEDFS_KEY" init "$WORK/busy" --passphrase-file "$P" --kdf-time 1 --kdf-memory 8
assert_eq "file" "$(ls -A "$WORK/busy")" "non-empty directory after a refused init"
# ... and an existing vault.
before=$(sha256sum <"$V/medfs.conf")
assert_cmd_fails "medfs-key init on an existing vault" \
	"$MEDFS_KEY" init "$V" --passphrase-file "$P" --kdf-time 1 --kdf-memory 8
assert_eq "$before" "$(sha256sum <"$V/medfs.conf")" "medfs.conf after a refused init"

finish
