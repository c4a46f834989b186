#!/bin/bash
# leak: patient identifiers in file names, directory names, contents,
# symlink targets and extended attributes never reach the vault in clear.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
make_passfile "$P" "leak test passphrase"
make_vault "$V" "$P"
mount_vault "$V" "$M" "$P"

# The markers, and shorter pieces of them that must not show either.
MARKERS=("DUPONT^JEAN" "1.2.840.113619.2.55.3" "PatientID=PAT0042" "DUPONT" "PAT0042" "113619.2.55")
grep_args=()
for m in "${MARKERS[@]}"; do grep_args+=(-e "$m"); done
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }

step "write identifying data"
record="PatientName=DUPONT^JEAN;PatientID=PAT0042;StudyInstanceUID=1.2.840.113619.2.55.3;"
for _ in $(seq 1 2000); do printf '%s' "$record"; done >"$WORK/record"
mkdir -p "$M/PAT0042/1.2.840.113619.2.55.3/DUPONT^JEAN"
cp "$WORK/record" "$M/PAT0042/1.2.840.113619.2.55.3/DUPONT^JEAN/1.2.840.113619.2.55.3.1.dcm"
printf '%s\n' "$record" >"$M/PatientID=PAT0042"
printf 'DUPONT^JEAN' >"$M/short"
head -c 4096 "$WORK/record" >"$M/one-block"
head -c 100 "$WORK/record" >"$M/DUPONT^JEAN.txt"
# A long name (stored as a hash with a sidecar).
long=$(printf 'DUPONT^JEAN-PAT0042-%.0s' $(seq 1 12))
printf 'x' >"$M/$long"
mkdir "$M/$long.d"
# Symlink targets.
ln -s "PAT0042/1.2.840.113619.2.55.3/DUPONT^JEAN" "$M/link-to-study"
ln -s "/srv/pacs/PatientID=PAT0042/DUPONT^JEAN" "$M/DUPONT^JEAN-link"
# Renamed and truncated data.
cp "$WORK/record" "$M/tmp-name"
mv "$M/tmp-name" "$M/renamed-DUPONT^JEAN"
truncate -s 10 "$M/renamed-DUPONT^JEAN"
# Extended attributes: names and values.
: >"$M/with-xattrs"
assert_ok setxattr "$M/with-xattrs" "user.PatientID=PAT0042" "$(hex "DUPONT^JEAN")"
assert_ok setxattr "$M/with-xattrs" "user.study" "$(hex "1.2.840.113619.2.55.3")"
assert_ok setxattr "$M/PatientID=PAT0042" "user.DUPONT^JEAN" "$(hex "$record")"
# The data is really there, through the mount.
assert_file_eq "$WORK/record" "$M/PAT0042/1.2.840.113619.2.55.3/DUPONT^JEAN/1.2.840.113619.2.55.3.1.dcm"
assert_eq "PAT0042/1.2.840.113619.2.55.3/DUPONT^JEAN" "$(readlink "$M/link-to-study")" "symlink target"
assert_eq "x" "$(cat "$M/$long")" "file with a long identifying name"
grep -rqF "DUPONT^JEAN" "$M/PAT0042" || fail "marker not readable through the mount"
unmount "$M"

step "nothing identifying in the vault's contents"
if out=$(grep -raoF "${grep_args[@]}" "$V"); then
	fail "markers found in vault file contents: $(sort -u <<<"$out" | head -n 5)"
fi
if grep -qaiF -e dupont -e pat0042 "$V/medfs.conf" "$V/medfs.conf.bak"; then
	fail "marker found in medfs.conf"
fi

step "nothing identifying in the vault's names and symlink targets"
if out=$(find "$V" -printf '%p\n' | grep -F "${grep_args[@]}"); then
	fail "markers found in vault paths: $(head -n 5 <<<"$out")"
fi
if out=$(find "$V" -type l -printf '%l\n' | grep -F "${grep_args[@]}"); then
	fail "markers found in vault symlink targets: $(head -n 5 <<<"$out")"
fi
if find "$V" -iname '*dupont*' -o -iname '*pat0042*' | grep -q .; then
	fail "markers found in vault names (any case)"
fi

step "nothing identifying in the vault's extended attributes"
find "$V" -print0 | while IFS= read -r -d '' f; do
	"$FSOP" xattrs "$f" || true
done >"$WORK/vault-xattrs"
if out=$(grep -F "${grep_args[@]}" "$WORK/vault-xattrs"); then
	fail "markers found in vault xattr names: $(head -n 5 <<<"$out")"
fi
for m in "${MARKERS[@]}"; do
	if grep -qF "$(hex "$m")" "$WORK/vault-xattrs"; then
		fail "marker '$m' found in a vault xattr value"
	fi
done
grep -q "^user\." "$WORK/vault-xattrs" ||
	fail "no user.* xattr on any vault file: where did the attributes go?"

step "the data is still there"
mount_vault "$V" "$M" "$P"
assert_file_eq "$WORK/record" "$M/PAT0042/1.2.840.113619.2.55.3/DUPONT^JEAN/1.2.840.113619.2.55.3.1.dcm"
assert_eq "user.PatientID=PAT0042 user.study" \
	"$("$FSOP" xattrs "$M/with-xattrs" | sed 's/=[0-9a-f]*$//' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')" \
	"xattr names read back"
unmount "$M"
finish
