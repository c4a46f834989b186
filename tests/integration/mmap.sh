#!/bin/bash
# mmap: MAP_SHARED writable maps (SQLite's -shm), read-only maps (viewers),
# files written O_WRONLY read back (Orthanc), all again after a remount.
set -eu
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
make_passfile "$P" "mmap test passphrase"
make_vault "$V" "$P"
mount_vault "$V" "$M" "$P"

SHM=32768                 # an SQLite -shm file
BIG=$((1 << 20 | 123))    # not a whole number of pages
SLICE=$((512 * 512 * 2 + 1234)) # about a CT slice

step "MAP_SHARED write, msync, munmap, read(2)"
"$RWCHECK" mmap-write "$M/index-shm" $SHM 1 || fail "shared writable map of a new $SHM-byte file"
"$RWCHECK" mmap-write "$M/mapped.bin" $BIG 2 || fail "shared writable map of a new $BIG-byte file"
"$RWCHECK" mmap-update "$M/mapped.bin" $BIG 2 3 || fail "shared writable map of an existing file"

step "read-only map of a file written with write(2)"
"$RWCHECK" write "$M/written.dcm" $SLICE 4 || fail "write(2) of a slice"
"$RWCHECK" mmap-read "$M/written.dcm" $SLICE 4 || fail "read-only map of a file written with write(2)"

step "a file created O_WRONLY reads back"
mkdir -p "$M/Storage/ab/cd"
"$RWCHECK" write "$M/Storage/ab/cd/0f1e2d3c-uuid" $SLICE 5 || fail "O_WRONLY|O_CREAT|O_TRUNC write"
"$RWCHECK" verify "$M/Storage/ab/cd/0f1e2d3c-uuid" $SLICE 5 || fail "read back of a file created O_WRONLY"
"$RWCHECK" mmap-read "$M/Storage/ab/cd/0f1e2d3c-uuid" $SLICE 5 || fail "map of a file created O_WRONLY"
# Written again over a larger old version (O_TRUNC), then read back.
"$RWCHECK" write "$M/Storage/ab/cd/0f1e2d3c-uuid" 5000 6 || fail "O_TRUNC rewrite"
"$RWCHECK" verify "$M/Storage/ab/cd/0f1e2d3c-uuid" 5000 6 || fail "read back of an O_TRUNC rewrite"

step "after a remount (the restart that breaks SQLite)"
unmount "$M"
mount_vault "$V" "$M" "$P"
"$RWCHECK" verify "$M/index-shm" $SHM 1 || fail "mapped file after remount"
"$RWCHECK" verify "$M/mapped.bin" $BIG 3 || fail "updated mapped file after remount"
"$RWCHECK" mmap-read "$M/written.dcm" $SLICE 4 || fail "map of a written file after remount"
"$RWCHECK" verify "$M/Storage/ab/cd/0f1e2d3c-uuid" 5000 6 || fail "O_WRONLY file after remount"
"$RWCHECK" mmap-update "$M/index-shm" $SHM 1 7 || fail "shared writable map of -shm after remount"
"$RWCHECK" mmap-update "$M/written.dcm" $SLICE 4 8 || fail "shared writable map of a written file after remount"
unmount "$M"
mount_vault "$V" "$M" "$P"
"$RWCHECK" verify "$M/index-shm" $SHM 7 || fail "-shm updated through a map, after a second remount"
"$RWCHECK" verify "$M/written.dcm" $SLICE 8 || fail "file updated through a map, after a second remount"
unmount "$M"
finish
