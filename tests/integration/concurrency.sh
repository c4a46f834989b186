#!/bin/bash
# concurrency: concurrent writers and readers on one file, parallel creation
# of many files in one directory, concurrent O_APPEND writers.
set -eu
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
make_passfile "$P" "concurrency test passphrase"
make_vault "$V" "$P"
mount_vault "$V" "$M" "$P"

seed=${MEDFS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "concurrency: seed $seed (rerun with MEDFS_SEED=$seed)"

step "writers on distinct regions of one file, readers at the same time"
# Regions are not block-aligned, so neighbours share blocks.
"$RWCHECK" concurrent "$M/shared.bin" 4 3 $((2 << 20 | 1234)) "$seed" ||
	fail "concurrent writers and readers (seed $seed)"
"$RWCHECK" verify "$M/shared.bin" $((4 * (2 << 20 | 1234))) $((seed + 2)) ||
	fail "content of the concurrently written file, read again"
# The same with processes: several rwcheck at once on their own files and
# two on the same one.
pids=()
for i in 1 2 3; do
	"$RWCHECK" concurrent "$M/proc-$i.bin" 3 2 $((300 << 10 | 77)) $((seed + 10 * i)) >/dev/null &
	pids+=($!)
done
for pid in "${pids[@]}"; do
	wait "$pid" || fail "a concurrent rwcheck process failed"
done

step "parallel creation of many files in one directory"
mkdir "$M/incoming"
pids=()
for p in 1 2 3 4; do
	(
		for i in $(seq 1 150); do
			mkdir -p "$M/incoming/common"
			printf 'process %d file %d\n' "$p" "$i" >"$M/incoming/f-$p-$i"
			printf '%d-%d' "$p" "$i" >"$M/incoming/common/g-$p-$i"
		done
	) &
	pids+=($!)
done
# A reader listing the directory the whole time.
(
	while [ ! -e "$WORK/stop-ls" ]; do
		ls -A "$M/incoming" >/dev/null || exit 1
	done
) &
lspid=$!
for pid in "${pids[@]}"; do
	wait "$pid" || fail "a creating process failed"
done
touch "$WORK/stop-ls"
wait "$lspid" || fail "ls failed while files were being created"
assert_eq 601 "$(find "$M/incoming" -mindepth 1 -maxdepth 1 | wc -l)" "entries of incoming/"
assert_eq 600 "$(find "$M/incoming/common" -mindepth 1 | wc -l)" "entries of incoming/common/"
for p in 1 2 3 4; do
	for i in 1 75 150; do
		assert_eq "process $p file $i" "$(cat "$M/incoming/f-$p-$i")" "content of f-$p-$i"
		assert_eq "$p-$i" "$(cat "$M/incoming/common/g-$p-$i")" "content of common/g-$p-$i"
	done
done
bad=0
for f in "$M"/incoming/f-*; do
	n=${f##*/f-}
	[ "$(cat "$f")" = "process ${n%-*} file ${n#*-}" ] || bad=$((bad + 1))
done
assert_eq 0 "$bad" "files with wrong content after parallel creation"

step "parallel removal"
pids=()
for p in 1 2 3 4; do
	rm -f "$M"/incoming/f-"$p"-* &
	pids+=($!)
done
for pid in "${pids[@]}"; do
	wait "$pid" || fail "a removing process failed"
done
assert_eq "common" "$(find "$M/incoming" -mindepth 1 -maxdepth 1 -printf '%f\n')" "incoming/ after removal"

step "concurrent O_APPEND writers"
pids=()
for id in 0 1 2 3 4; do
	"$RWCHECK" append "$M/journal.log" "$id" 200 1000 &
	pids+=($!)
done
for pid in "${pids[@]}"; do
	wait "$pid" || fail "an appending process failed"
done
assert_eq $((5 * 200 * 1000)) "$(fsize "$M/journal.log")" "length after concurrent appends"
"$RWCHECK" check-append "$M/journal.log" 5 200 1000 ||
	fail "records of the concurrent appends"
pids=()
for id in 0 1 2 3 4 5; do
	(for i in $(seq 1 100); do printf '%s\n' "writer $id line $i"; done >>"$M/lines.log") &
	pids+=($!)
done
for pid in "${pids[@]}"; do
	wait "$pid" || fail "a shell appender failed"
done
assert_eq 600 "$(wc -l <"$M/lines.log")" "lines after concurrent shell appends"

step "after remount"
unmount "$M"
mount_vault "$V" "$M" "$P"
"$RWCHECK" verify "$M/shared.bin" $((4 * (2 << 20 | 1234))) $((seed + 2)) ||
	fail "concurrently written file after remount"
"$RWCHECK" check-append "$M/journal.log" 5 200 1000 ||
	fail "appended records after remount"
assert_eq 600 "$(find "$M/incoming/common" -mindepth 1 | wc -l)" "entries of incoming/common/ after remount"
unmount "$M"
finish
