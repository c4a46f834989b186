#!/bin/bash
# xattr: user.* extended attributes through the mount (several, binary,
# ~4 KiB, replace, remove, list), after rename and remount; the vault holds
# no plaintext attribute name or value; an attribute moved between vault
# files does not authenticate.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
if ! command -v setfattr >/dev/null || ! command -v getfattr >/dev/null; then
	echo "SKIP: setfattr/getfattr not installed (Debian package attr)"
	exit 77
fi

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
make_passfile "$P" "xattr test passphrase"
make_vault "$V" "$P"
mount_vault "$V" "$M" "$P"

# get FILE NAME: the value in hex ("0x..."), or the error.
get() { getfattr --absolute-names -e hex -n "$2" "$1" 2>&1 | sed -n "s/^$2=//p"; }
# names FILE: the user.* attribute names, sorted, on one line.
names() { getfattr --absolute-names -m '^user\.' "$1" 2>/dev/null | grep '^user\.' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//'; }
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }

# The vault file carries the sealed value (40 bytes more) under a longer
# name; ext4 keeps all of a file's attributes in one 4 KiB block, so ~3.8 KiB
# is about the largest value a vault on ext4 can hold.
big=0x$(head -c 3800 /dev/urandom | od -An -tx1 | tr -d ' \n')
medium=0x$(head -c 1000 /dev/urandom | od -An -tx1 | tr -d ' \n')
text="Hello-plaintext-attribute-value"

step "set, get, list"
head -c 1111 /dev/urandom >"$M/f1"
setfattr -n user.patient-name -v "$text" "$M/f1"
setfattr -n user.binary-blob -v 0x00ff1000fe7f "$M/f1"
setfattr -n user.medium-value -v "$medium" "$M/f1"
head -c 1234 /dev/urandom >"$M/fbig"
setfattr -n user.big-value -v "$big" "$M/fbig"
setfattr -n user.empty-value "$M/f1"
assert_eq "$text" "$(getfattr --absolute-names --only-values -n user.patient-name "$M/f1")" "text value"
assert_eq "0x00ff1000fe7f" "$(get "$M/f1" user.binary-blob)" "binary value"
assert_eq "$medium" "$(get "$M/f1" user.medium-value)" "1000-byte value"
assert_eq "$big" "$(get "$M/fbig" user.big-value)" "3800-byte value"
assert_eq "" "$(getfattr --absolute-names --only-values -n user.empty-value "$M/f1")" "empty value"
assert_ok getxattr "$M/f1" user.empty-value
assert_eq "user.binary-blob user.empty-value user.medium-value user.patient-name" "$(names "$M/f1")" "attribute list"
assert_fails_with ENODATA getxattr "$M/f1" user.never-set
assert_eq 1111 "$(fsize "$M/f1")" "file size with attributes"

step "replace, remove"
setfattr -n user.patient-name -v "replaced value" "$M/f1"
assert_eq "replaced value" "$(getfattr --absolute-names --only-values -n user.patient-name "$M/f1")" "replaced value"
setfattr -n user.binary-blob -v 0x01 "$M/f1"
assert_eq "0x01" "$(get "$M/f1" user.binary-blob)" "replaced binary value"
setfattr -x user.binary-blob "$M/f1"
assert_fails_with ENODATA getxattr "$M/f1" user.binary-blob
assert_fails_with ENODATA removexattr "$M/f1" user.binary-blob
assert_eq "user.empty-value user.medium-value user.patient-name" "$(names "$M/f1")" "list after remove"
setfattr -n user.binary-blob -v 0x00ff1000fe7f "$M/f1"
setfattr -n user.patient-name -v "$text" "$M/f1"

step "other namespaces are refused"
assert_fails_with EOPNOTSUPP setxattr "$M/f1" trusted.medfs-test 6869
assert_fails_with ENODATA getxattr "$M/f1" trusted.medfs-test

step "attributes follow renames and survive a remount"
mkdir "$M/dir"
mv "$M/f1" "$M/dir/f1-renamed"
assert_eq "$text" "$(getfattr --absolute-names --only-values -n user.patient-name "$M/dir/f1-renamed")" "value after rename"
head -c 2222 /dev/urandom >"$M/f2"
setfattr -n user.patient-name -v "B-value-1" "$M/f2"
setfattr -n user.other -v "B-other-value-of-some-length!!" "$M/f2"
head -c 3333 /dev/urandom >"$M/f3"
setfattr -n user.patient-name -v "C-value-1" "$M/f3"
setfattr -n user.other -v "C-other-value-of-some-length!!" "$M/f3"
unmount "$M"
mount_vault "$V" "$M" "$P"
assert_eq "$text" "$(getfattr --absolute-names --only-values -n user.patient-name "$M/dir/f1-renamed")" "value after remount"
assert_eq "0x00ff1000fe7f" "$(get "$M/dir/f1-renamed" user.binary-blob)" "binary value after remount"
assert_eq "$medium" "$(get "$M/dir/f1-renamed" user.medium-value)" "1000-byte value after remount"
assert_eq "$big" "$(get "$M/fbig" user.big-value)" "3800-byte value after remount"
assert_eq "user.binary-blob user.empty-value user.medium-value user.patient-name" "$(names "$M/dir/f1-renamed")" "list after remount"
unmount "$M"

step "the vault's attributes hold no plaintext"
v1=$(vault_file_of_size "$V" 1111)
v2=$(vault_file_of_size "$V" 2222)
v3=$(vault_file_of_size "$V" 3333)
vbig=$(vault_file_of_size "$V" 1234)
getfattr --absolute-names -d -m - -e hex "$v1" "$v2" "$v3" "$vbig" >"$WORK/vault-xattrs" 2>&1
for n in patient-name binary-blob big-value medium-value empty-value other; do
	if grep -qF -- "$n" "$WORK/vault-xattrs"; then
		fail "plaintext attribute name '$n' in the vault's xattrs"
	fi
done
for v in "$text" "B-value-1" "B-other-value-of-some-length!!"; do
	if grep -qF -- "$(hex "$v")" "$WORK/vault-xattrs"; then
		fail "plaintext attribute value '$v' in the vault's xattrs"
	fi
done
if grep -qF -e "${big:2:64}" -e "${medium:2:64}" "$WORK/vault-xattrs"; then
	fail "a large value is in the vault's xattrs in clear"
fi
assert_eq 4 "$(getfattr --absolute-names -d -m '^user\.' "$v1" | grep -c '^user\.')" \
	"vault attributes of f1 (one per plaintext attribute)"

# vattr FILE VALUE_LEN: the vault attribute "name=0xvalue" of FILE whose
# sealed value holds VALUE_LEN plaintext bytes (24 + VALUE_LEN + 16).
vattr()
{
	getfattr --absolute-names -d -m '^user\.' -e hex "$1" |
		awk -F= -v l=$(((24 + $2 + 16) * 2 + 2)) '/^user\./ && length($2) == l'
}

step "attributes moved between vault files do not authenticate"
# B (f2) gets A's (f1's) sealed user.patient-name under A's vault name.
a_attr=$(vattr "$v1" ${#text})
assert_eq 1 "$(grep -c . <<<"$a_attr")" "A's user.patient-name found in the vault"
setfattr -n "${a_attr%%=*}" -v "${a_attr#*=}" "$v2"
# C (f3) gets A's sealed value under its own vault name of user.patient-name.
c_attr=$(vattr "$v3" 9)
assert_eq 1 "$(grep -c . <<<"$c_attr")" "C's user.patient-name found in the vault"
setfattr -n "${c_attr%%=*}" -v "${a_attr#*=}" "$v3"

mount_vault "$V" "$M" "$P"
assert_eq "B-value-1" "$(getfattr --absolute-names --only-values -n user.patient-name "$M/f2" 2>&1)" \
	"B's own attribute beside a copied one"
list=$(getfattr --absolute-names -m '^user\.' "$M/f2" 2>&1 || true)
if grep -q "Input/output error" <<<"$list"; then
	echo "listing B answers EIO (accepted)"
else
	assert_eq "user.other user.patient-name" "$(names "$M/f2")" "B's attribute list with a copied attribute"
fi
assert_fails_with EIO getxattr "$M/f3" user.patient-name
if getfattr --absolute-names --only-values -n user.patient-name "$M/f3" 2>/dev/null | grep -qF "$text"; then
	fail "C shows A's attribute value"
fi
assert_eq "C-other-value-of-some-length!!" "$(getfattr --absolute-names --only-values -n user.other "$M/f3" 2>&1)" \
	"C's other attribute"
assert_eq "$text" "$(getfattr --absolute-names --only-values -n user.patient-name "$M/dir/f1-renamed" 2>&1)" \
	"A's attribute after the copies"
unmount "$M"
finish
