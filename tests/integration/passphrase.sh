#!/bin/bash
# passphrase: a wrong passphrase is refused with a clear message and mounts
# nothing; the right one mounts; passphrase files with or without a
# trailing newline (or CRLF) give the same passphrase.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

V=$WORK/vault
M=$WORK/mnt
mkdir -p "$M"
printf 'Correct Horse Battery Staple\n' >"$WORK/right-nl"
printf 'Correct Horse Battery Staple' >"$WORK/right-no-nl"
printf 'Correct Horse Battery Staple\r\n' >"$WORK/right-crlf"
printf 'correct horse battery staple\n' >"$WORK/wrong-case"
printf 'Correct Horse Battery Staple \n' >"$WORK/wrong-space"
printf 'Correct Horse Battery Stapl\n' >"$WORK/wrong-short"
printf '\n' >"$WORK/empty-line"
: >"$WORK/empty"
# Passphrase files must be private (see the last step).
chmod 600 "$WORK"/right-* "$WORK"/wrong-* "$WORK"/empty*

# refused PASSFILE WHAT: medfs exits non-zero, says "wrong passphrase",
# and nothing is mounted.
refused()
{
	local rc=0 out
	out=$("$MEDFS" "$V" "$M" --passphrase-file "$1" 2>&1) || rc=$?
	if [ "$rc" -eq 0 ]; then
		fail "$2: medfs exited 0"
	fi
	if ! grep -qi "wrong passphrase" <<<"$out"; then
		fail "$2: message does not say 'wrong passphrase': $out"
	fi
	assert_not_mounted "$M" "$M after $2"
	if mountpoint -q "$M"; then
		unmount "$M"
	fi
}

# accepted PASSFILE WHAT: mounts, the data is there, unmounts.
accepted()
{
	mount_vault "$V" "$M" "$1" || return 0
	assert_eq "kept secret" "$(cat "$M/secret.txt" 2>&1)" "$2: content read through the mount"
	unmount "$M"
}

step "init with a passphrase file (trailing newline)"
make_vault "$V" "$WORK/right-nl"
[ "$(stat -c %a "$V/medfs.conf")" != 666 ] || fail "medfs.conf is world-writable"
mount_vault "$V" "$M" "$WORK/right-nl"
echo "kept secret" >"$M/secret.txt"
unmount "$M"

step "wrong passphrases are refused"
refused "$WORK/wrong-case" "a passphrase in the wrong case"
refused "$WORK/wrong-space" "a passphrase with a trailing space"
refused "$WORK/wrong-short" "a passphrase one letter short"

step "the right passphrase mounts, with or without newline"
accepted "$WORK/right-nl" "passphrase file with a newline"
accepted "$WORK/right-no-nl" "passphrase file without a newline"
accepted "$WORK/right-crlf" "passphrase file ending in CRLF"

step "empty and missing passphrase files"
for f in "$WORK/empty" "$WORK/empty-line" "$WORK/missing"; do
	rc=0
	"$MEDFS" "$V" "$M" --passphrase-file "$f" >/dev/null 2>&1 || rc=$?
	[ "$rc" -ne 0 ] || fail "medfs with passphrase file $(basename "$f") exited 0"
	assert_not_mounted "$M" "$M after passphrase file $(basename "$f")"
	if mountpoint -q "$M"; then unmount "$M"; fi
	assert_cmd_fails "medfs-key init with passphrase file $(basename "$f")" \
		"$MEDFS_KEY" init "$WORK/v-$(basename "$f")" --passphrase-file "$f" --kdf-time 1 --kdf-memory 8
	[ ! -e "$WORK/v-$(basename "$f")/medfs.conf" ] ||
		fail "medfs-key init with passphrase file $(basename "$f") wrote a config"
done

step "a vault made with a file without newline opens with one"
make_vault "$WORK/v2" "$WORK/right-no-nl"
mount_vault "$WORK/v2" "$M" "$WORK/right-crlf"
echo "kept secret" >"$M/secret.txt"
unmount "$M"
V=$WORK/v2
accepted "$WORK/right-nl" "second vault, passphrase file with a newline"
refused "$WORK/wrong-short" "second vault, wrong passphrase"

step "wrong passphrase with the backup config only"
mv "$V/medfs.conf" "$WORK/conf.saved"
refused "$WORK/wrong-case" "wrong passphrase, primary config missing"
accepted "$WORK/right-nl" "right passphrase, primary config missing"
mv "$WORK/conf.saved" "$V/medfs.conf"

step "a passphrase file others may read, or another user's, is refused, saying how to fix it"
V=$WORK/vault
cp "$WORK/right-nl" "$WORK/shared"
for mode in 644 640 604 660 620 602; do
	chmod "$mode" "$WORK/shared"
	rc=0
	out=$("$MEDFS" "$V" "$M" --passphrase-file "$WORK/shared" 2>&1) || rc=$?
	[ "$rc" -ne 0 ] || fail "medfs accepted a passphrase file of mode $mode"
	grep -qF "chmod 600 $WORK/shared" <<<"$out" ||
		fail "mode $mode: medfs does not say 'chmod 600 $WORK/shared': $out"
	assert_not_mounted "$M" "$M after a passphrase file of mode $mode"
	if mountpoint -q "$M"; then unmount "$M"; fi
done
chmod 644 "$WORK/shared"
for cmd in "init $WORK/v-shared" "add $V --recovery" "passwd $V 0 --new-passphrase-file $WORK/right-nl"; do
	rc=0
	# shellcheck disable=SC2086
	out=$("$MEDFS_KEY" $cmd --passphrase-file "$WORK/shared" 2>&1) || rc=$?
	[ "$rc" -ne 0 ] || fail "medfs-key ${cmd%% *} accepted a passphrase file of mode 644"
	grep -qF "chmod 600 $WORK/shared" <<<"$out" ||
		fail "medfs-key ${cmd%% *} does not say 'chmod 600': $out"
done
[ ! -e "$WORK/v-shared/medfs.conf" ] || fail "medfs-key init wrote a config"
rc=0
out=$("$MEDFS_KEY" passwd "$V" 0 --passphrase-file "$WORK/right-nl" \
	--new-passphrase-file "$WORK/shared" 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "medfs-key passwd accepted a new passphrase file of mode 644"
grep -qF "chmod 600 $WORK/shared" <<<"$out" || fail "passwd --new-passphrase-file: $out"
rc=0
out=$("$MEDFS_FSCK" "$V" --passphrase-file "$WORK/shared" 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "medfs-fsck accepted a passphrase file of mode 644"
grep -qF "chmod 600 $WORK/shared" <<<"$out" || fail "medfs-fsck does not say 'chmod 600': $out"
# Another user's file, even of mode 0600.
chmod 600 "$WORK/shared"
chown 4242:4242 "$WORK/shared"
rc=0
out=$("$MEDFS" "$V" "$M" --passphrase-file "$WORK/shared" 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "medfs accepted another user's passphrase file"
grep -q "belongs to another user (uid 4242)" <<<"$out" ||
	fail "another user's passphrase file: $out"
assert_not_mounted "$M" "$M after another user's passphrase file"
if mountpoint -q "$M"; then unmount "$M"; fi
chown 0:0 "$WORK/shared"
accepted "$WORK/shared" "the passphrase file, private again"

step "the passphrase is not in the vault"
if grep -rqaF "Correct Horse" "$WORK/vault" "$WORK/v2"; then
	fail "the passphrase appears in the vault"
fi
finish
