#!/bin/bash
# deep: trees as deep as the plaintext PATH_MAX allows, through a real
# mount. Encrypted names are longer than their plaintext (a 3-byte name
# takes 43 bytes in the vault), so the vault path of the bottom is
# several times PATH_MAX. For names of 8, 16, 100 and 255 bytes: mkdir -p to
# a plaintext path of PATH_MAX - 1 bytes less room for a file, then at the
# bottom a file written and read back, a symlink, an xattr, a rename and a
# listing; one byte beyond PATH_MAX is refused with ENAMETOOLONG and leaves
# nothing in the vault; after a remount all of it reads back, a key
# rotation converts all of it and medfs-fsck finds the vault clean, and
# rm -rf through the mount leaves the vault's tree empty but for its
# header. A block damaged in a file at the bottom of a tree of 1-byte
# names (a vault path of some 90 KB) is reported with that path in full:
# in the driver's log, in the journal (in parts) and by medfs-fsck.
set -eu
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
if ! command -v python3 >/dev/null; then
	echo "SKIP: python3 not installed"
	exit 77
fi
DEEP=$(dirname "$0")/deep.py

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
make_passfile "$P" "deep trees test passphrase"
make_vault "$V" "$P"

# vault_entries: every name in the vault's tree (find walks any depth).
vault_entries()
{
	find "$V/tree" | wc -l
}

# chain LEN LEVELS: "n...n/n...n/..." (LEVELS names of LEN bytes).
chain()
{
	python3 -c 'import sys; n, l = int(sys.argv[1]), int(sys.argv[2]); print("/".join(["n" * n] * l))' "$1" "$2"
}

LENS="8 16 100 255"
mount_vault "$V" "$M" "$P"
for len in $LENS; do
	top=t$len
	# "/tN" + LEVELS * "/NAME", with room for "/g" below.
	levels=$(((4095 - 2 - 1 - ${#top}) / (len + 1)))
	step "names of $len bytes: $levels levels (plaintext path $((1 + ${#top} + levels * (len + 1))) bytes)"
	mkdir "$M/$top"
	(cd "$M/$top" && mkdir -p "$(chain "$len" "$levels")") ||
		fail "mkdir -p of $levels levels of $len-byte names"
	before=$(vault_entries)
	python3 "$DEEP" act "$M" "$top" "$len" "$levels" ||
		fail "at the bottom of $levels levels of $len-byte names"
	# g and l: nothing else was left.
	assert_eq "$((before + 2))" "$(vault_entries)" \
		"vault entries after the bottom's work ($len-byte names)"
done
unmount "$M"

step "after a remount, everything reads back"
mount_vault "$V" "$M" "$P"
for len in $LENS; do
	top=t$len
	levels=$(((4095 - 2 - 1 - ${#top}) / (len + 1)))
	python3 "$DEEP" check "$M" "$top" "$len" "$levels" ||
		fail "after a remount, $len-byte names"
done
unmount "$M"

step "medfs-key rotate converts all of it; medfs-fsck finds the vault clean"
out=$("$MEDFS_KEY" rotate "$V" --passphrase-file "$P" 2>&1) || fail "medfs-key rotate: $out"
if grep -qi "left as it is" <<<"$out"; then
	fail "medfs-key rotate left objects behind: $out"
fi
out=$("$MEDFS_FSCK" "$V" --passphrase-file "$P" 2>&1) || fail "medfs-fsck: $out"

step "rm -rf through the mount empties the vault"
mount_vault "$V" "$M" "$P"
(cd "$M" && rm -rf -- t*) || fail "rm -rf of the deep trees"
assert_eq "" "$(ls -A "$M")" "the mount after rm -rf"
unmount "$M"
# The tree itself and its header.
assert_eq "2" "$(vault_entries)" "vault entries after rm -rf"

step "a damaged block at the bottom of 1-byte names is reported with its full vault path"
# 2044 levels: a vault path of some 90 KB, longer than one journal string
# (64 KiB), so the journal's integrity record comes in parts. In a vault
# of its own, left to the work dir's clean-up: removing 2044 levels
# through the mount takes minutes (each rmdir resolves the path again).
V=$WORK/vault1
M=$WORK/mnt1
make_vault "$V" "$P"
mount_vault "$V" "$M" "$P"
levels=$(((4095 - 2 - 1 - 3) / 2))
mkdir "$M/t1"
(cd "$M/t1" && mkdir -p "$(chain 1 "$levels")") || fail "mkdir -p of $levels levels of 1-byte names"
python3 "$DEEP" put "$M" t1 1 "$levels" || fail "a file at the bottom of $levels levels"
unmount "$M"
vp=$(python3 "$DEEP" flip "$V" "$(disk_size 1000)") || fail "cannot damage t1's g"
[ "${#vp}" -gt 65536 ] || fail "the vault path of t1's g is ${#vp} bytes, not beyond 64 KiB"
mount_foreground "$WORK/driver.log" "$V" "$M" "$P"
python3 "$DEEP" eio "$M" t1 1 "$levels" || fail "reading the damaged g"
unmount "$M"
# The driver's log names it in full (the library's line, relative to the
# tree, and the audit line, relative to the vault).
grep -qF -- "integrity failure: ${vp#tree/}: " "$WORK/driver.log" ||
	fail "the log does not name the vault path in full: $(cut -c 1-300 "$WORK/driver.log")"
grep -qF -- "vault file $vp offset " "$WORK/driver.log" ||
	fail "the audit log does not name the vault path in full"
# The journal: the parts of each failure's records, joined, are the path.
"$MEDFS_JOURNAL" export "$V/journal" --key "$AUDITOR.key" --format jsonl >"$WORK/j.jsonl" \
	2>/dev/null || fail "medfs-journal export failed"
python3 - "$WORK/j.jsonl" "$vp" "/t1/$(chain 1 "$levels")/g" <<'PY' || fail "the journal does not name the vault path in full"
import json, re, sys
want, plain = sys.argv[2], sys.argv[3]
recs = [r for r in map(json.loads, open(sys.argv[1])) if r.get("op") == "integrity"]
whole, parts, n = 0, [], None
for r in recs:
    d = r.get("detail", "")
    if r.get("path") != plain:
        print("integrity record of another path: %s" % r.get("path", "")[:80])
        sys.exit(1)
    m = re.match(r"(.*); vault file (.*) \(part (\d+) of (\d+)\)$", d, re.S)
    if not m:
        print("integrity record without parts: %s" % d[:200])
        sys.exit(1)
    i, n = int(m.group(3)), int(m.group(4))
    if i != len(parts) + 1:
        print("part %d where %d was due" % (i, len(parts) + 1))
        sys.exit(1)
    parts.append(m.group(2))
    if i == n:
        if "".join(parts) != want:
            print("joined parts: %d bytes, not the %d of the vault path" % (len("".join(parts)), len(want)))
            sys.exit(1)
        whole, parts = whole + 1, []
if whole == 0 or parts:
    print("%d integrity records, %d whole paths, %d parts left over" % (len(recs), whole, len(parts)))
    sys.exit(1)
PY
rc=0
"$MEDFS_FSCK" "$V" --passphrase-file "$P" >"$WORK/fsck.out" 2>&1 || rc=$?
assert_eq 4 "$rc" "medfs-fsck's exit status on the damaged g"
grep -qF -- "(vault file $vp, offset " "$WORK/fsck.out" ||
	fail "medfs-fsck does not name the vault path in full: $(cut -c 1-300 "$WORK/fsck.out")"

finish
