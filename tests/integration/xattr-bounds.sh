#!/bin/bash
# xattr-bounds: a user fills a file with extended attributes through the
# mount (the red team's 20,000, which made listxattr fail with E2BIG).
# The vault is on a tmpfs of its own (a file system that takes thousands
# of attributes per file; ext4 stops at one 4 KiB block). Beyond 100
# attributes, or 256 KiB of values, setfattr fails with ENOSPC, and the
# file's attributes can always be listed, by the user and in the vault.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR
# shellcheck source=policy-lib.sh
. "$(dirname "$0")/policy-lib.sh"
if ! command -v setfattr >/dev/null || ! command -v getfattr >/dev/null; then
	echo "SKIP: setfattr/getfattr not installed (Debian package attr)"
	exit 77
fi

FS=$WORK/fs
V=$FS/vault
M=$WORK/mnt
P=$WORK/pass
POL=$WORK/policy
LOG=$WORK/driver.log
mkdir -p "$FS"
if ! mount -t tmpfs -o size=256m,mode=0700 medfs-test "$FS"; then
	fail "mount tmpfs on $FS"
	exit 1
fi
if ! setfattr -n user.probe -v 1 "$FS" 2>/dev/null; then
	echo "SKIP: this kernel's tmpfs takes no user attributes"
	exit 77
fi
make_passfile "$P" "xattr bounds test passphrase"
make_vault "$V" "$P"
mk_user BOB bob
write_policy "$POL" <<EOF
allow user:0 all /**
allow user:$BOB all /**
EOF
mount_fg "$V" "$M" "$P" "$LOG" -o allow_other,policy="$POL"
chmod 0777 "$M"
F=$M/notes.txt
as "$BOB" sh -c "echo note >'$F'" || fail "bob creates a file"

step "the red team's attack: 20,000 attributes on one file, as a user"
{
	echo "# file: $F"
	for i in $(seq 1 20000); do echo "user.a$i=\"v\""; done
} >"$WORK/attrs"
chmod 0644 "$WORK/attrs"
as "$BOB" setfattr --restore="$WORK/attrs" >"$WORK/restore.out" 2>&1 || true
grep -q "No space left on device" "$WORK/restore.out" ||
	fail "setting 20,000 attributes: no ENOSPC ($(head -c 300 "$WORK/restore.out"))"
names=$(as "$BOB" getfattr --absolute-names -m '^user\.' "$F" 2>&1 | grep -c '^user\.' || true)
assert_eq 100 "$names" "attributes bob lists"
expect "$BOB" OK listxattr "$F"
expect "$BOB" ENOSPC setxattr "$F" user.more 76
out=$(as "$BOB" setfattr -n user.more -v x "$F" 2>&1) && fail "a 101st attribute was set"
grep -q "No space left on device" <<<"$out" || fail "setfattr's error: '$out'"
step "the vault's own list fits listxattr too"
vf=$(find "$V/tree" -type f -size -4096c ! -name '*.n' ! -name '.*' | head -n 1)
getfattr --absolute-names -m - "$vf" >/dev/null 2>&1 || fail "the vault file's attributes do not list"

step "a replacement fits, a removal makes room"
expect "$BOB" OK setxattr "$F" user.a1 6e6577
assert_eq new "$(as "$BOB" getfattr --absolute-names --only-values -n user.a1 "$F")" \
	"the replaced value"
as "$BOB" setfattr -x user.a2 "$F" || fail "bob removes an attribute"
expect "$BOB" OK setxattr "$F" user.more 76
expect "$BOB" ENOSPC setxattr "$F" user.evenmore 76

step "the values' total: 256 KiB"
G=$M/big.txt
as "$BOB" sh -c "echo big >'$G'" || fail "bob creates a second file"
v=$(head -c 65000 /dev/zero | tr '\0' a | od -An -v -tx1 | tr -d ' \n')
# setbig NAME WANT: a value of 65,000 bytes (not shown when it fails).
setbig()
{
	local got
	got=$(as "$BOB" "$UFSOP" setxattr "$G" "$1" "$v" 2>&1) || true
	assert_eq "$2" "$got" "bob sets 65,000 bytes in $1"
}
for i in 1 2 3 4; do setbig "user.big$i" OK; done
setbig user.big5 ENOSPC
expect "$BOB" OK listxattr "$G"

step "after a remount"
unmount "$M"
mount_fg "$V" "$M" "$P" "$LOG" -o allow_other,policy="$POL"
names=$(as "$BOB" getfattr --absolute-names -m '^user\.' "$F" 2>&1 | grep -c '^user\.' || true)
assert_eq 100 "$names" "attributes bob lists after a remount"
unmount "$M"
finish
