#!/bin/bash
# durability: fsync of a directory on the mount (fsyncdir) reaches the
# vault: the driver syncs the vault directory and its directory header,
# and a failing sync there (EIO, as from a failing disk) comes back to the
# caller. The driver runs with $SYNCSHIM preloaded, which records each of
# its fsyncs and fails those asked for.
set -eu
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

SYNCSHIM=${SYNCSHIM:-$(dirname "$RWCHECK")/syncshim.so}
[ -f "$SYNCSHIM" ] || { echo "FAIL: $SYNCSHIM is not built" >&2; exit 1; }
V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
SYNCS=$WORK/syncs
make_passfile "$P" "durability test passphrase"
make_vault "$V" "$P"

# synced_dirs: the vault directories (below the tree, not the tree itself)
# the driver synced since the log was emptied, and whose header it synced.
synced_dirs()
{
	local d
	sed -n 's/^f\(data\)\{0,1\}sync //p' "$SYNCS" 2>/dev/null | sort -u |
		while read -r d; do
			case $d in "$V/tree/"*) ;; *) continue ;; esac
			[ -d "$d" ] || continue
			grep -qxE "f(data)?sync $d/\.medfs-dir" "$SYNCS" && echo "$d"
		done
}

step "mount with the sync recorder"
export MEDFS_SYNC_LOG=$SYNCS
LD_PRELOAD=$SYNCSHIM mount_foreground "$WORK/driver.log" "$V" "$M" "$P"
# The recorder is in the driver, and only there (fsop's own fsync must
# reach the mount).
tr '\0' '\n' <"/proc/${DRIVER_PID[$M]}/environ" | grep -qx "LD_PRELOAD=$SYNCSHIM" ||
	fail "the driver runs without the sync recorder"
[ -z "${LD_PRELOAD:-}" ] || fail "the recorder is preloaded into the test itself"
mkdir -p "$M/studies/ct"
echo "report" >"$M/studies/ct/report.txt"

step "fsync of a directory syncs its vault directory and header"
: >"$SYNCS"
assert_eq OK "$("$FSOP" fsync "$M/studies/ct")" "fsync of a directory"
dirs=$(synced_dirs)
assert_eq 1 "$(grep -c . <<<"$dirs")" "vault directories synced with their header: $dirs"
# It is the directory of ct: the one holding the vault file of report.txt.
assert_eq 1 "$(find "$dirs" -maxdepth 1 -type f ! -name '.*' | wc -l)" \
	"files in the synced vault directory"
: >"$SYNCS"
assert_eq OK "$("$FSOP" fdatasync "$M")" "fdatasync of the root"
grep -qx "fdatasync $V/tree" "$SYNCS" || fail "the root's vault directory was not synced: $(cat "$SYNCS")"
grep -qx "fdatasync $V/tree/.medfs-dir" "$SYNCS" || fail "the root's header was not synced"

step "a failing sync of the header, or of the directory, comes back as EIO"
echo ".medfs-dir" >"$SYNCS.fail"
assert_eq EIO "$("$FSOP" fsync "$M/studies/ct")" "fsync of a directory whose header fails to sync"
echo "$dirs" >"$SYNCS.fail"
assert_eq EIO "$("$FSOP" fsync "$M/studies/ct")" "fsync of a directory that fails to sync"
assert_eq OK "$("$FSOP" fsync "$M/studies")" "fsync of its parent, which syncs"
rm -f "$SYNCS.fail"
assert_eq OK "$("$FSOP" fsync "$M/studies/ct")" "fsync once the disk is well again"

step "a failing sync of a new directory's header fails the mkdir, leaving nothing"
echo ".medfs-dir.tmp" >"$SYNCS.fail"
assert_eq EIO "$("$FSOP" mkdir "$M/studies/mr")" "mkdir whose header fails to sync"
rm -f "$SYNCS.fail"
assert_eq ENOENT "$("$FSOP" stat "$M/studies/mr")" "the directory after a failed mkdir"
assert_eq OK "$("$FSOP" mkdir "$M/studies/mr")" "mkdir once the disk is well again"
unmount "$M"
unset MEDFS_SYNC_LOG
mount_vault "$V" "$M" "$P"
assert_eq "report" "$(cat "$M/studies/ct/report.txt")" "the file after a remount"
assert_eq OK "$("$FSOP" stat "$M/studies/mr")" "the directory made after the failure"
unmount "$M"
finish
