#!/bin/bash
# persistence: a tree survives unmount/remount byte for byte; SIGTERM to the
# driver and umount(8) unmount cleanly and keep what was written.
set -eu
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
SRC=$WORK/src
make_passfile "$P" "persistence test passphrase"
make_vault "$V" "$P"

# manifest DIR: type, path, mode, owner, size and sha256 of files, mtime of
# files and symlink targets, sorted; the same tree gives the same text.
manifest()
{
	(
		cd "$1"
		find . -mindepth 1 \( -type f -printf '%y %p %m %u:%g %s %T@\n' \) -o \
			\( -type l -printf '%y %p %l\n' \) -o -printf '%y %p %m %u:%g\n' |
			sed 's/\.[0-9]*$//' | LC_ALL=C sort
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
	)
}

# build_tree DIR TAG: a tree with edge sizes, nesting, links, odd names.
build_tree()
{
	local d=$1 tag=$2
	mkdir -p "$d/study-$tag/series 1" "$d/study-$tag/series-2/deep/er" "$d/empty-dir-$tag"
	: >"$d/study-$tag/empty"
	head -c 1 /dev/urandom >"$d/study-$tag/one"
	head -c 4096 /dev/urandom >"$d/study-$tag/series 1/block"
	head -c 4097 /dev/urandom >"$d/study-$tag/series 1/block+1"
	head -c 200000 /dev/urandom >"$d/study-$tag/series-2/ct-slice.dcm"
	head -c $((3 << 20 | 5)) /dev/urandom >"$d/study-$tag/series-2/deep/er/big.dcm"
	printf 'résumé %s\n' "$tag" >"$d/study-$tag/série-ü.txt"
	ln -s "series-2/ct-slice.dcm" "$d/study-$tag/link"
	ln -s "/absolute/target/$tag" "$d/study-$tag/dangling"
	chmod 600 "$d/study-$tag/one"
	chmod 750 "$d/study-$tag/series-2"
	chown 1000:1000 "$d/study-$tag/empty"
	touch -d "2020-05-06 07:08:09" "$d/study-$tag/series 1/block"
}

mkdir -p "$SRC"
build_tree "$SRC" a

step "write a tree, compare"
mount_vault "$V" "$M" "$P"
cp -a "$SRC/." "$M/"
manifest "$SRC" >"$WORK/manifest.src"
manifest "$M" >"$WORK/manifest.mnt" || fail "reading the tree through the mount failed (manifest.mnt)"
assert_file_eq "$WORK/manifest.src" "$WORK/manifest.mnt" "manifest of the copied tree"

step "unmount, remount, compare"
unmount "$M"
mount_vault "$V" "$M" "$P"
manifest "$M" >"$WORK/manifest.remount" || fail "reading the tree through the mount failed (manifest.remount)"
assert_file_eq "$WORK/manifest.src" "$WORK/manifest.remount" "manifest after remount"

step "changes after a remount persist too"
for d in "$SRC" "$M"; do
	printf 'appended\n' >>"$d/study-a/série-ü.txt"
	truncate -s 100000 "$d/study-a/series-2/ct-slice.dcm"
	mv "$d/study-a/series 1" "$d/study-a/series-1-renamed"
	mv "$d/study-a/série-ü.txt" "$d/study-a/renamed.txt"
	mv "$d/study-a/series-2/ct-slice.dcm" "$d/study-a/series-1-renamed/moved.dcm"
	mv "$d/study-a/link" "$d/study-a/series-2/link-moved"
	rm "$d/study-a/one"
	rmdir "$d/empty-dir-a"
	dd if=/dev/zero of="$d/study-a/series-2/deep/er/big.dcm" bs=1 count=3 seek=1000000 conv=notrunc status=none
	# Both trees were changed a moment apart: give their files one mtime.
	find "$d/study-a" -type f -exec touch -m -d @1600000000.5 {} +
done
manifest "$SRC" >"$WORK/manifest.src"
unmount "$M"
mount_vault "$V" "$M" "$P"
manifest "$M" >"$WORK/manifest.remount" || fail "reading the tree through the mount failed (manifest.remount)"
assert_file_eq "$WORK/manifest.src" "$WORK/manifest.remount" "manifest after changes and remount"

step "SIGTERM to the background driver"
pid=$(driver_pid "$M")
[ -n "$pid" ] || fail "cannot find the driver process of $M"
build_tree "$SRC" b
cp -a "$SRC/study-b" "$SRC/empty-dir-b" "$M/"
manifest "$SRC" >"$WORK/manifest.src"
kill -TERM "$pid"
wait_pid_gone "$pid" 20 || fail "driver $pid still running 20 s after SIGTERM"
assert_not_mounted "$M" "$M after SIGTERM to the driver"
unset "DRIVER_PID[$M]"
assert_eq "" "$(ls -A "$M")" "the mountpoint after SIGTERM"
mount_vault "$V" "$M" "$P"
manifest "$M" >"$WORK/manifest.remount" || fail "reading the tree through the mount failed (manifest.remount)"
assert_file_eq "$WORK/manifest.src" "$WORK/manifest.remount" "manifest after SIGTERM and remount"

step "SIGTERM to a foreground driver"
unmount "$M"
"$MEDFS" "$V" "$M" --passphrase-file "$P" -f >"$WORK/fg.log" 2>&1 &
fgpid=$!
DRIVER_PID[$M]=$fgpid
for _ in $(seq 1 100); do
	mountpoint -q "$M" && break
	sleep 0.1
done
assert_mounted "$M" "$M with medfs -f"
build_tree "$SRC" c
cp -a "$SRC/study-c" "$SRC/empty-dir-c" "$M/"
manifest "$SRC" >"$WORK/manifest.src"
kill -TERM "$fgpid"
rc=0
wait "$fgpid" || rc=$?
# libfuse's own fuse_main exits 8 after a signal: only report it.
echo "medfs -f exited $rc after SIGTERM"
unset "DRIVER_PID[$M]"
assert_not_mounted "$M" "$M after SIGTERM to medfs -f"
mount_vault "$V" "$M" "$P"
manifest "$M" >"$WORK/manifest.remount" || fail "reading the tree through the mount failed (manifest.remount)"
assert_file_eq "$WORK/manifest.src" "$WORK/manifest.remount" "manifest after SIGTERM to medfs -f"

step "umount MNT as root"
pid=$(driver_pid "$M")
build_tree "$SRC" d
cp -a "$SRC/study-d" "$SRC/empty-dir-d" "$M/"
manifest "$SRC" >"$WORK/manifest.src"
umount "$M" || fail "umount $M failed"
assert_not_mounted "$M" "$M after umount"
if [ -n "$pid" ]; then
	wait_pid_gone "$pid" 20 || fail "driver $pid still running 20 s after umount"
fi
unset "DRIVER_PID[$M]"
mount_vault "$V" "$M" "$P"
manifest "$M" >"$WORK/manifest.remount" || fail "reading the tree through the mount failed (manifest.remount)"
assert_file_eq "$WORK/manifest.src" "$WORK/manifest.remount" "manifest after umount and remount"

step "fsck agrees the vault is clean"
unmount "$M"
rc=0
out=$("$MEDFS_FSCK" "$V" --passphrase-file "$P" 2>&1) || rc=$?
if [ "$rc" -ne 0 ]; then
	echo "$out" >&2
	fail "medfs-fsck of a clean vault exited $rc"
fi
finish
