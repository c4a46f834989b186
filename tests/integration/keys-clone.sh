#!/bin/bash
# keys-clone: copies of a vault (issue 21). A copy made with `cp -a` shares
# the vault key and id with the original: once the two diverge, a file of
# one put into the other is served without error (shown here, as the
# documented limit). `medfs-key clone` makes an independent vault instead:
# killed again and again and resumed, it yields a vault that reads the same
# plaintext, mounts, passes medfs-fsck, leaves the source as it was, and
# whose files and directories, put into the original (and the original's
# into it), read as I/O errors.
set -eu
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

VAULTTOOL=${VAULTTOOL:-$(dirname "$RWCHECK")/vaulttool}
[ -x "$VAULTTOOL" ] || { echo "FAIL: $VAULTTOOL is not built" >&2; exit 1; }
FILES=${FILES:-400}
V=$WORK/vault
C=$WORK/clone
D=$WORK/cpcopy
M=$WORK/mnt
SIZE=123457 # the test file's size: no populated file is that large

make_passfile "$WORK/p0" "clone test passphrase"

# reads_eio VAULT PATH WHAT: PATH of VAULT (through a mount) reads as EIO.
reads_eio()
{
	local out
	mount_vault "$1" "$M" "$WORK/p0" || return 0
	if out=$(cat "$M/$2" 2>&1 >/dev/null); then
		fail "$3: read without error"
	elif ! grep -q "Input/output error" <<<"$out"; then
		fail "$3: $out"
	fi
	unmount "$M"
}

# lists_eio VAULT DIR WHAT: listing DIR of VAULT (through a mount) is EIO.
lists_eio()
{
	local out
	mount_vault "$1" "$M" "$WORK/p0" || return 0
	if out=$(ls "$M/$2" 2>&1); then
		fail "$3: listed without error: $out"
	elif ! grep -q "Input/output error" <<<"$out"; then
		fail "$3: $out"
	fi
	unmount "$M"
}

step "a vault of $FILES files, and drill/unique.bin, drill/sub/note.txt"
make_vault "$V" "$WORK/p0"
"$VAULTTOOL" "$V" --passphrase-file "$WORK/p0" populate "$FILES" || fail "populate"
random_file "$WORK/unique" "$SIZE"
mount_vault "$V" "$M" "$WORK/p0"
mkdir -p "$M/drill/sub"
cp "$WORK/unique" "$M/drill/unique.bin"
echo "a note" >"$M/drill/sub/note.txt"
unmount "$M"
"$VAULTTOOL" "$V" --passphrase-file "$WORK/p0" dump >"$WORK/baseline" || fail "dump"
"$VAULTTOOL" "$V" blocks >"$WORK/blocks.src"
cp "$V/medfs.conf" "$WORK/conf.src"

step "the limit: a cp -a copy, once diverged, passes its files off as the original's"
cp -a "$V" "$D"
rm -f "$D/medfs.lock"
mount_vault "$D" "$M" "$WORK/p0"
head -c "$SIZE" /dev/zero | tr '\0' x >"$M/drill/unique.bin"
unmount "$M"
vf=$(vault_file_of_size "$V" "$SIZE")
cp -a "$vf" "$WORK/orig.vf"
cp "$(vault_file_of_size "$D" "$SIZE")" "$vf"
mount_vault "$V" "$M" "$WORK/p0"
[ "$(head -c 1 "$M/drill/unique.bin" 2>&1)" = x ] ||
	fail "control: the copy's file was not served by the original (cp -a copies share keys)"
unmount "$M"
cp -a "$WORK/orig.vf" "$vf"
rm -rf "$D"

step "a DST that holds more than a killed clone's medfs.conf.tmp is refused, untouched"
mkdir -p "$WORK/notempty"
echo keep >"$WORK/notempty/medfs.conf.tmp"
echo keep >"$WORK/notempty/other"
assert_cmd_fails "$MEDFS_KEY" clone "$V" "$WORK/notempty" --passphrase-file "$WORK/p0"
[ -f "$WORK/notempty/medfs.conf.tmp" ] || fail "clone removed a medfs.conf.tmp of a DST it refused"
rm -rf "$WORK/notempty"

step "medfs-key clone, killed and resumed"
kills=0
killed_finished=
for t in 0.05 0.1 0.2 0.3 0.5 0.8 1.2 2 3 5 8 13; do
	"$MEDFS_KEY" clone "$V" "$C" --passphrase-file "$WORK/p0" >"$WORK/clone.out" 2>&1 &
	pid=$!
	sleep "$t"
	kill -KILL "$pid" 2>/dev/null || true
	rc=0
	wait "$pid" 2>/dev/null || rc=$?
	[ "$rc" -eq 0 ] && break
	[ "$rc" -eq 137 ] || fail "clone exited $rc: $(cat "$WORK/clone.out")"
	kills=$((kills + 1))
	# Unfinished, the clone cannot be used. One that unlocks was killed
	# between writing its finished config and exiting: it is finished
	# (the checks below and 'clone over a finished clone' say so).
	if [ -f "$C/medfs.conf" ]; then
		if out=$("$VAULTTOOL" "$C" --passphrase-file "$WORK/p0" unlock 2>&1); then
			echo "killed after ${t}s, once the clone had finished"
			killed_finished=1
			rc=0
			break
		fi
		grep -q "being rotated" <<<"$out" || fail "killed after ${t}s: $out"
	fi
done
if [ "$rc" -ne 0 ]; then
	"$MEDFS_KEY" clone "$V" "$C" --passphrase-file "$WORK/p0" >"$WORK/clone.out" 2>&1 ||
		fail "last clone run: $(cat "$WORK/clone.out")"
fi
echo "clone finished after $kills kills"
[ "$kills" -gt 0 ] || echo "note: no kill landed before the clone finished"
[ -n "$killed_finished" ] ||
	grep -q "cloned .* under a vault id and keys of its own" "$WORK/clone.out" ||
	fail "clone says: $(cat "$WORK/clone.out")"
out=$("$MEDFS_KEY" clone "$V" "$C" --passphrase-file "$WORK/p0" 2>&1) &&
	fail "clone over a finished clone was accepted"
grep -q "not an unfinished clone" <<<"$out" || fail "clone over a clone says: $out"

step "the clone: same plaintext, its own id and keys; the source unchanged"
"$VAULTTOOL" "$C" --passphrase-file "$WORK/p0" dump >"$WORK/clone.dump" ||
	fail "dump of the clone"
cmp -s "$WORK/baseline" "$WORK/clone.dump" ||
	fail "the clone differs: $(diff "$WORK/baseline" "$WORK/clone.dump" | head -5)"
"$VAULTTOOL" "$V" --passphrase-file "$WORK/p0" dump | cmp -s "$WORK/baseline" - ||
	fail "the source's tree changed"
"$VAULTTOOL" "$V" blocks | cmp -s "$WORK/blocks.src" - || fail "the source's blocks changed"
cmp -s "$WORK/conf.src" "$V/medfs.conf" || fail "the source's config changed"
[ "$(od -An -tx1 -j16 -N16 "$V/medfs.conf")" != "$(od -An -tx1 -j16 -N16 "$C/medfs.conf")" ] ||
	fail "the clone has the source's vault id"
"$VAULTTOOL" "$C" blocks | sort >"$WORK/blocks.clone"
[ -z "$(sort "$WORK/blocks.src" | comm -12 - "$WORK/blocks.clone")" ] ||
	fail "the clone shares sealed blocks with the source"
for vault in "$V" "$C"; do
	"$MEDFS_FSCK" "$vault" --passphrase-file "$WORK/p0" >"$WORK/fsck.out" 2>&1 ||
		fail "medfs-fsck $vault: $(tail -5 "$WORK/fsck.out")"
done
mount_vault "$C" "$M" "$WORK/p0" && {
	cmp -s "$WORK/unique" "$M/drill/unique.bin" || fail "the clone's mount reads otherwise"
	unmount "$M"
}

step "a file of the clone put into the original, and the other way round: EIO"
vf=$(vault_file_of_size "$V" "$SIZE")
cf=$(vault_file_of_size "$C" "$SIZE")
cp -a "$vf" "$WORK/orig.vf"
cp -a "$cf" "$WORK/clone.vf"
cp "$WORK/clone.vf" "$vf"
reads_eio "$V" drill/unique.bin "the clone's file in the original"
"$MEDFS_FSCK" "$V" --passphrase-file "$WORK/p0" >/dev/null 2>&1 &&
	fail "medfs-fsck finds nothing wrong with the clone's file in the original"
cp "$WORK/orig.vf" "$vf"
cp "$WORK/orig.vf" "$cf"
reads_eio "$C" drill/unique.bin "the original's file in the clone"
cp "$WORK/clone.vf" "$cf"

step "a directory of the clone put into the original, and the other way round: EIO"
vsub=$(find "$(dirname "$vf")" -mindepth 1 -maxdepth 1 -type d)
csub=$(find "$(dirname "$cf")" -mindepth 1 -maxdepth 1 -type d)
if [ ! -d "$vsub" ] || [ ! -d "$csub" ]; then fail "no vault directory for drill/sub"; fi
cp -a "$vsub" "$WORK/orig.sub"
cp -a "$csub" "$WORK/clone.sub"
rm -rf "${vsub:?}"/* "$vsub"/.medfs-dir
cp -a "$WORK/clone.sub/." "$vsub/"
lists_eio "$V" drill/sub "the clone's directory in the original"
rm -rf "${csub:?}"/* "$csub"/.medfs-dir
cp -a "$WORK/orig.sub/." "$csub/"
lists_eio "$C" drill/sub "the original's directory in the clone"

finish
