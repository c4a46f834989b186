#!/bin/bash
# grown: a vault file longer than its header says (an extension whose
# blocks reached the disk and whose header did not, as a crash leaves it:
# doc/FORMAT.md 12.1) reads at its header's size, through the mount; the
# next write cuts the leftover. medfs-fsck -n reports it (exit 4), -y cuts
# it back (exit 1), the next check is clean (exit 0). A vault file shorter
# than its header says still reads EIO.
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

# run_fsck OUT ARGS...: medfs-fsck on the vault, output in OUT; prints its
# exit status.
run_fsck()
{
	local out=$1 rc=0
	shift
	"$MEDFS_FSCK" "$V" --passphrase-file "$P" "$@" >"$out" 2>&1 || rc=$?
	echo "$rc"
}

step "write the files"
mount_vault "$V" "$M" "$P"
random_file "$SRC/a" 9001  # its last block partial
random_file "$SRC/b" 5000
random_file "$SRC/c" 8192  # whole blocks
for f in a b c; do cp "$SRC/$f" "$M/$f"; done
unmount "$M"
va=$(vault_file_of_size "$V" 9001)
vb=$(vault_file_of_size "$V" 5000)
vc=$(vault_file_of_size "$V" 8192)

step "append raw bytes to vault files on the unmounted vault"
head -c 5000 /dev/urandom >>"$va"
head -c $((2 * 4136 + 7)) /dev/urandom >>"$vc"

step "the mount reads them at their headers' sizes"
mount_vault "$V" "$M" "$P"
assert_file_eq "$SRC/a" "$M/a" "/a grown behind medfs's back"
assert_file_eq "$SRC/c" "$M/c" "/c grown behind medfs's back"
assert_eq 9001 "$(wc -c <"$M/a")" "bytes read of /a"
unmount "$M"
assert_eq $(($(disk_size 9001) + 5000)) "$(fsize "$va")" "the mount left the vault file of /a as it was"

step "fsck -n reports them and changes nothing: exit 4"
rc=$(run_fsck "$WORK/n.out" -n)
cat "$WORK/n.out"
assert_eq 4 "$rc" "exit status of fsck -n"
grep -q "/a: longer than its header (an extension interrupted by a crash)" "$WORK/n.out" ||
	fail "fsck -n does not report /a"
grep -q "/c: longer than its header" "$WORK/n.out" || fail "fsck -n does not report /c"
grep -q "/b:" "$WORK/n.out" && fail "fsck -n reports /b, which is sound"
assert_eq $(($(disk_size 9001) + 5000)) "$(fsize "$va")" "fsck -n left /a's vault file"

step "fsck -y cuts them back: exit 1, then clean: exit 0"
rc=$(run_fsck "$WORK/y.out" -y)
cat "$WORK/y.out"
assert_eq 1 "$rc" "exit status of fsck -y"
grep -q "/a: repaired: cut back to the length its header says" "$WORK/y.out" ||
	fail "fsck -y does not say it cut /a"
assert_eq "$(disk_size 9001)" "$(fsize "$va")" "/a's vault file after fsck -y"
assert_eq "$(disk_size 8192)" "$(fsize "$vc")" "/c's vault file after fsck -y"
rc=$(run_fsck "$WORK/clean.out")
assert_eq 0 "$rc" "exit status of fsck after the repair: $(cat "$WORK/clean.out")"

step "an append through the mount cuts the leftover first"
head -c 3000 /dev/urandom >>"$va"
mount_vault "$V" "$M" "$P"
printf 'xyz' >>"$M/a"
cat "$SRC/a" >"$SRC/a2"
printf 'xyz' >>"$SRC/a2"
assert_file_eq "$SRC/a2" "$M/a" "/a appended to after growing behind medfs's back"
unmount "$M"
assert_eq "$(disk_size 9004)" "$(fsize "$va")" "/a's vault file after the append"
mount_vault "$V" "$M" "$P"
assert_file_eq "$SRC/a2" "$M/a" "/a after a remount"
unmount "$M"

step "a vault file shorter than its header says still reads EIO"
truncate -s $(($(disk_size 5000) - 1)) "$vb"
mount_vault "$V" "$M" "$P"
cat "$M/b" >/dev/null 2>"$WORK/b.err" && fail "a shortened vault file reads"
grep -q "Input/output error" "$WORK/b.err" || fail "not EIO: $(cat "$WORK/b.err")"
unmount "$M"

finish
