#!/bin/bash
# passphrase: a wrong passphrase is refused with a clear message and mounts
# nothing; the right one mounts; passphrase files with or without a
# trailing newline (or CRLF) give the same passphrase.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

VAULTTOOL=${VAULTTOOL:-$(dirname "$RWCHECK")/vaulttool}
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

step "weak settings for a new passphrase are warned of, not refused"
# warns OUT WHAT PATTERN: the output says PATTERN.
weak_kdf="far below the defaults"
short_pass="characters; at least 12 are advised"
printf 'short pass\n' >"$WORK/short"
printf 'a long enough passphrase of several words\n' >"$WORK/long"
chmod 600 "$WORK/short" "$WORK/long"
out=$("$MEDFS_KEY" init "$WORK/v-weak" --passphrase-file "$WORK/short" \
	--kdf-time 1 --kdf-memory 8 2>&1) || fail "init with weak settings refused: $out"
grep -q "warning: Argon2id with 1 passes and 8 MiB is $weak_kdf" <<<"$out" ||
	fail "init with 1 pass and 8 MiB does not warn: $out"
grep -q "warning: the passphrase has 10 $short_pass" <<<"$out" ||
	fail "init with a passphrase of 10 characters does not warn: $out"
[ -f "$WORK/v-weak/medfs.conf" ] || fail "init with weak settings made no vault"
# 2 passes of 128 MiB: a sixth of the defaults' cost, the same order.
out=$("$MEDFS_KEY" init "$WORK/v-strong" --passphrase-file "$WORK/long" \
	--kdf-time 2 --kdf-memory 128 2>&1) || fail "init with 2 passes and 128 MiB: $out"
if grep -q "warning" <<<"$out"; then fail "init with 2 passes and 128 MiB warns: $out"; fi
out=$("$MEDFS_KEY" passwd "$WORK/v-strong" 0 --passphrase-file "$WORK/long" \
	--new-passphrase-file "$WORK/short" 2>&1) || fail "passwd to a short passphrase: $out"
grep -q "warning: the passphrase has 10 $short_pass" <<<"$out" ||
	fail "passwd to a short passphrase does not warn: $out"
if grep -q "$weak_kdf" <<<"$out"; then fail "passwd keeping 2 passes and 128 MiB warns of them: $out"; fi
out=$("$MEDFS_KEY" add "$WORK/v-strong" --passphrase --passphrase-file "$WORK/short" \
	--new-passphrase-file "$WORK/long" --kdf-time 2 --kdf-memory 16 2>&1) ||
	fail "add with weak settings: $out"
grep -q "warning: Argon2id with 2 passes and 16 MiB is $weak_kdf" <<<"$out" ||
	fail "add with 2 passes and 16 MiB does not warn: $out"
if grep -q "$short_pass" <<<"$out"; then fail "add warns of a long passphrase: $out"; fi

step "a config asking for 1 TiB for its key derivation is refused before deriving anything"
# Slot 0 (a passphrase) of both copies asks for 1 TiB of Argon2id memory
# (memlimit: 8 bytes, little-endian, at byte 24 of the slot at 256).
cp -a "$WORK/v-weak" "$WORK/v-forged"
for f in medfs.conf medfs.conf.bak; do
	printf '\x00\x00\x00\x00\x00\x01\x00\x00' |
		dd of="$WORK/v-forged/$f" bs=1 seek=280 conv=notrunc status=none
done
bounds="beyond medfs's bounds (at most 4096 MiB of memory and 64 passes)"
rc=0
out=$(timeout 60 "$MEDFS" "$WORK/v-forged" "$M" --passphrase-file "$WORK/short" 2>&1) || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "medfs with the forged config: status $rc: $out"
grep -qF "$bounds" <<<"$out" || fail "medfs does not say the config is beyond bounds: $out"
assert_not_mounted "$M" "$M after the forged config"
if mountpoint -q "$M"; then unmount "$M"; fi
rc=0
out=$(timeout 60 "$MEDFS_KEY" add "$WORK/v-forged" --recovery --passphrase-file "$WORK/short" 2>&1) ||
	rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "medfs-key with the forged config: status $rc: $out"
grep -qF "$bounds" <<<"$out" || fail "medfs-key does not say the config is beyond bounds: $out"
out=$("$MEDFS_KEY" list "$WORK/v-forged" 2>&1) && fail "medfs-key list showed the forged config"
grep -q "beyond medfs's bounds" <<<"$out" || fail "medfs-key list: $out"
# With one good copy left, that one is used.
cp "$WORK/v-weak/medfs.conf.bak" "$WORK/v-forged/medfs.conf.bak"
assert_cmd_ok "the forged primary, a good second copy" \
	"$VAULTTOOL" "$WORK/v-forged" --passphrase-file "$WORK/short" unlock

step "the passphrase is not in the vault"
if grep -rqaF "Correct Horse" "$WORK/vault" "$WORK/v2"; then
	fail "the passphrase appears in the vault"
fi
finish
