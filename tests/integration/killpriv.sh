#!/bin/bash
# killpriv: writes cost one round trip. The driver takes on dropping
# set-ID bits itself (FUSE_HANDLE_KILLPRIV_V2), so the kernel stops asking
# for security.capability (a GETXATTR) before every write; regular files
# never get set-ID bits, and a file that has them from an older vault
# loses them at its next write.
set -eu
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
LOG=$WORK/debug.log
make_passfile "$P" "killpriv test passphrase"
make_vault "$V" "$P"

getxattrs()
{
	grep -c "opcode: GETXATTR" "$LOG" || true
}

step "200 writes to one file ask for no extended attribute each"
mount_foreground "$LOG" "$V" "$M" "$P" -d # every request logged
echo x >"$M/f"
before=$(getxattrs)
exec 3<>"$M/f"
for _ in $(seq 200); do printf 'abcd' >&3; done
exec 3>&-
after=$(getxattrs)
# The first write may ask once, and once after each refresh of the
# attributes (attr_timeout 1 s).
[ $((after - before)) -le 5 ] ||
	fail "$((after - before)) GETXATTR requests for 200 writes"
assert_eq 800 "$(fsize "$M/f")" "size after the writes"

step "regular files never get set-ID bits; directories keep set-group-ID"
chmod 4755 "$M/f"
assert_eq 755 "$(stat -c %a "$M/f")" "mode after chmod 4755"
chmod 6775 "$M/f"
assert_eq 775 "$(stat -c %a "$M/f")" "mode after chmod 6775"
# set-group-ID without group execute is not a privilege: kept.
chmod 2745 "$M/f"
assert_eq 2745 "$(stat -c %a "$M/f")" "mode after chmod 2745"
echo y >>"$M/f"
assert_eq 2745 "$(stat -c %a "$M/f")" "mode 2745 after a write"
assert_eq OK "$(umask 0 && "$FSOP" open "$M/g" wronly,creat,excl 4755)" "create g 4755"
assert_eq 755 "$(stat -c %a "$M/g")" "mode of a file created 4755"
mkdir "$M/d"
chmod 2775 "$M/d"
assert_eq 2775 "$(stat -c %a "$M/d")" "directory mode after chmod 2775"
unmount "$M"

step "a file with set-ID bits from an older vault loses them at a write"
mount_vault "$V" "$M" "$P"
head -c 12345 /dev/zero >"$M/old"
unmount "$M"
vf=$(vault_file_of_size "$V" 12345)
chmod 4755 "$vf"
mount_vault "$V" "$M" "$P"
assert_eq 4755 "$(stat -c %a "$M/old")" "mode of the old file"
echo z >>"$M/old"
unmount "$M"
assert_eq 755 "$(stat -c %a "$vf")" "vault file mode after the write"
chmod 2775 "$vf"
mount_vault "$V" "$M" "$P"
truncate -s 100 "$M/old"
unmount "$M"
assert_eq 775 "$(stat -c %a "$vf")" "vault file mode after a truncation"

finish
