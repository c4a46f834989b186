#!/bin/bash
# keys: key slots of every kind. add, list, remove, passwd, backup and
# restore round trips; each kind of slot opens the vault and a removed one
# no longer does; wrong and mistyped secrets are refused with a clear
# message; a damaged config copy is survived; the vault lock keeps key
# changes apart and rotations away from mounts.
#
# Vaults are opened through the library with $VAULTTOOL (medfs_unlock),
# and through a mount where the driver takes that kind of secret: the
# --keyfile and --recovery-key-file mounts run only when `medfs --help`
# mentions them.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# Secret files are refused unless private (mode 0600 or 0400): every file
# this test writes is made so.
umask 077

VAULTTOOL=${VAULTTOOL:-$(dirname "$RWCHECK")/vaulttool}
[ -x "$VAULTTOOL" ] || { echo "FAIL: $VAULTTOOL is not built" >&2; exit 1; }
V=$WORK/vault
M=$WORK/mnt
KDF=(--kdf-time 1 --kdf-memory 8)
DRIVER_KEYS=0
if "$MEDFS" --help 2>&1 | grep -q -- --keyfile; then
	DRIVER_KEYS=1
fi

make_passfile "$WORK/p0" "first admin passphrase"
make_passfile "$WORK/p1" "second passphrase, for the night shift"
make_passfile "$WORK/p2" "changed passphrase"
make_passfile "$WORK/wrong" "not a passphrase of this vault"
head -c 32 /dev/urandom >"$WORK/randkey"

# key ARGS...: medfs-key, output in $OUT, status in $RC.
key()
{
	RC=0
	OUT=$("$MEDFS_KEY" "$@" 2>&1) || RC=$?
}

# opens KIND FILE WHAT: the vault opens with that secret and shows the
# same tree as at the start.
opens()
{
	local out
	if ! out=$("$VAULTTOOL" "$V" "--$1" "$2" dump 2>&1); then
		fail "$3: vault does not open: $out"
		return 0
	fi
	if [ "$out" != "$(cat "$WORK/baseline")" ]; then
		fail "$3: the tree differs from the baseline"
	fi
}

# refused KIND FILE PATTERN WHAT: unlocking fails, saying PATTERN.
refused()
{
	local out rc=0
	out=$("$VAULTTOOL" "$V" "--$1" "$2" unlock 2>&1) || rc=$?
	if [ "$rc" -eq 0 ]; then
		fail "$4: unlocked (slot: $out)"
	elif ! grep -q -- "$3" <<<"$out"; then
		fail "$4: message does not say '$3': $out"
	fi
}

# slot_line N: the line of `medfs-key list` for slot N, or nothing.
slot_line()
{
	"$MEDFS_KEY" list "$V" | awk -v n="$1" '$1 == n && $2 != "KIND" { print }'
}

step "init, and list with one slot"
make_vault "$V" "$WORK/p0" --label admin
key list "$V"
[ "$RC" -eq 0 ] || fail "list failed: $OUT"
grep -q "key slots: 1 of 16" <<<"$OUT" || fail "list does not count 1 slot: $OUT"
grep -qE '^0 +passphrase .*argon2id t=1 m=8MiB +admin$' <<<"$OUT" ||
	fail "list does not show slot 0 as expected: $OUT"
grep -q "format: *2" <<<"$OUT" || fail "list does not show format 2: $OUT"
"$VAULTTOOL" "$V" --passphrase-file "$WORK/p0" populate 30 || fail "populate failed"
"$VAULTTOOL" "$V" --passphrase-file "$WORK/p0" dump >"$WORK/baseline" || fail "dump failed"
[ "$(wc -l <"$WORK/baseline")" -gt 30 ] || fail "baseline dump too short"

step "add a new key file slot (the file is created, mode 0400)"
key add "$V" --keyfile "$WORK/k1" --passphrase-file "$WORK/p0" --label boot
[ "$RC" -eq 0 ] || fail "add --keyfile: $OUT"
assert_eq 400 "$(stat -c %a "$WORK/k1" 2>&1)" "mode of the new key file"
assert_eq 32 "$(fsize "$WORK/k1" 2>&1)" "size of the new key file"
grep -qE '^1 +keyfile .* - +boot$' <<<"$(slot_line 1)" || fail "slot 1: $(slot_line 1)"
opens keyfile "$WORK/k1" "new key file slot"

step "add an existing key file, in hex, authorized by another key file"
od -An -tx1 -v "$WORK/randkey" | tr -d ' \n' >"$WORK/k2hex"
echo >>"$WORK/k2hex"
cp "$WORK/k2hex" "$WORK/k2hex.orig"
key add "$V" --keyfile "$WORK/k2hex" --auth-keyfile "$WORK/k1"
[ "$RC" -eq 0 ] || fail "add --keyfile (hex, existing): $OUT"
assert_file_eq "$WORK/k2hex.orig" "$WORK/k2hex" "an existing key file is left as it is"
opens keyfile "$WORK/k2hex" "hex key file slot"
opens keyfile "$WORK/randkey" "the same key, raw"

step "add a recovery key: shown once, in checked groups"
key add "$V" --recovery --auth-keyfile "$WORK/k1" --label safe
[ "$RC" -eq 0 ] || fail "add --recovery: $OUT"
grep -oE '[0-9A-Z]{5}(-[0-9A-Z]{5})+' <<<"$OUT" | tr '\n' ' ' >"$WORK/rec"
assert_eq 65 "$(tr -d ' -' <"$WORK/rec" | wc -c)" "characters of the printed recovery key"
grep -qE '^3 +recovery .* safe$' <<<"$(slot_line 3)" || fail "slot 3: $(slot_line 3)"
opens recovery-key-file "$WORK/rec" "recovery key"
# As typed from paper: lower case, spaces for dashes, line breaks.
tr 'A-Z-' 'a-z ' <"$WORK/rec" | fold -w 20 >"$WORK/rec-typed"
opens recovery-key-file "$WORK/rec-typed" "recovery key typed in lower case"
# One mistyped character: caught by its group's check.
r=$(cat "$WORK/rec")
c=${r:13:1}
if [ "$c" = A ]; then t=B; else t=A; fi
printf '%s%s%s\n' "${r:0:13}" "$t" "${r:14}" >"$WORK/rec-typo"
refused recovery-key-file "$WORK/rec-typo" "mistyped: group 3" "recovery key with a typo"
printf '%s\n' "${r:0:70}" >"$WORK/rec-short"
refused recovery-key-file "$WORK/rec-short" "characters; a recovery key has 65" "truncated recovery key"

step "add a passphrase, authorized by the recovery key"
key add "$V" --passphrase --new-passphrase-file "$WORK/p1" "${KDF[@]}" \
	--recovery-key-file "$WORK/rec" --label "night shift"
[ "$RC" -eq 0 ] || fail "add --passphrase: $OUT"
grep -qE '^4 +passphrase .*argon2id t=1 m=8MiB +night shift$' <<<"$(slot_line 4)" ||
	fail "slot 4: $(slot_line 4)"
opens passphrase-file "$WORK/p1" "second passphrase"
mount_vault "$V" "$M" "$WORK/p1" && {
	[ -n "$(ls "$M")" ] || fail "nothing listed through a mount with the new passphrase"
	unmount "$M"
}

step "wrong secrets are refused, each by name"
refused passphrase-file "$WORK/wrong" "wrong passphrase: no key slot" "wrong passphrase"
refused keyfile "$WORK/wrong" "not a medfs key file" "a passphrase file as key file"
head -c 32 /dev/urandom >"$WORK/k-wrong"
refused keyfile "$WORK/k-wrong" "wrong key file: no key slot of" "unknown key file"
"$MEDFS_KEY" init "$WORK/other" --passphrase-file "$WORK/p0" "${KDF[@]}" >/dev/null
"$MEDFS_KEY" add "$WORK/other" --recovery --passphrase-file "$WORK/p0" |
	grep -oE '[0-9A-Z]{5}(-[0-9A-Z]{5})+' | tr '\n' ' ' >"$WORK/rec-other"
refused recovery-key-file "$WORK/rec-other" "wrong recovery key: no key slot" \
	"another vault's recovery key"
key add "$V" --keyfile "$WORK/k9" --passphrase-file "$WORK/wrong"
[ "$RC" -eq 1 ] || fail "add authorized by a wrong passphrase: status $RC"
grep -q "wrong passphrase" <<<"$OUT" || fail "add with a wrong passphrase says: $OUT"
[ ! -e "$WORK/k9" ] || fail "a refused add left its key file behind"

step "usage errors"
for args in "add $V" "add $V --passphrase --recovery" "remove $V abc" "remove $V 16" \
	"add $V --keyfile $WORK/x --keyfile $WORK/y" \
	"remove $V 1 --passphrase-file $WORK/p0 --keyfile $WORK/k1" \
	"add $V --recovery --kdf-time 2" "passwd $V" "frobnicate $V"; do
	# shellcheck disable=SC2086
	key $args
	[ "$RC" -eq 2 ] || fail "medfs-key $args: status $RC, expected 2 ($OUT)"
done
for cmd in init list add remove passwd backup restore rotate; do
	"$MEDFS_KEY" "$cmd" --help >/dev/null || fail "medfs-key $cmd --help failed"
done

step "passwd: a new passphrase in the same slot"
key passwd "$V" 4 --new-passphrase-file "$WORK/p2" --passphrase-file "$WORK/p1"
[ "$RC" -eq 0 ] || fail "passwd: $OUT"
refused passphrase-file "$WORK/p1" "wrong passphrase" "old passphrase after passwd"
opens passphrase-file "$WORK/p2" "new passphrase after passwd"
grep -qE '^4 +passphrase .*night shift$' <<<"$(slot_line 4)" ||
	fail "slot 4 after passwd: $(slot_line 4)"
key passwd "$V" 1 --new-passphrase-file "$WORK/p2" --passphrase-file "$WORK/p0"
[ "$RC" -eq 1 ] && grep -q "not a passphrase" <<<"$OUT" ||
	fail "passwd of a key file slot: $RC $OUT"
key passwd "$V" 9 --new-passphrase-file "$WORK/p2" --passphrase-file "$WORK/p0"
[ "$RC" -eq 1 ] && grep -q "has no key slot 9" <<<"$OUT" ||
	fail "passwd of an empty slot: $RC $OUT"

step "backup"
key backup "$V" "$WORK/b1.conf"
[ "$RC" -eq 0 ] || fail "backup: $OUT"
assert_eq 600 "$(stat -c %a "$WORK/b1.conf" 2>&1)" "mode of the backup"
cmp -s "$WORK/b1.conf" "$V/medfs.conf" || fail "the backup is not the config"
key backup "$V" "$WORK/b1.conf"
[ "$RC" -eq 1 ] && grep -q "exists" <<<"$OUT" || fail "backup over a file: $RC $OUT"

step "remove: the slot no longer opens; the last slot stays"
key remove "$V" 2 --keyfile "$WORK/k1"
[ "$RC" -eq 0 ] || fail "remove 2: $OUT"
refused keyfile "$WORK/k2hex" "wrong key file" "removed key file slot"
[ -z "$(slot_line 2)" ] || fail "list still shows slot 2: $(slot_line 2)"
key remove "$V" 2 --keyfile "$WORK/k1"
[ "$RC" -eq 1 ] && grep -q "has no key slot 2" <<<"$OUT" || fail "remove 2 twice: $OUT"
# The wrapped key of a removed slot is gone from both copies.
cmp -s "$V/medfs.conf" "$V/medfs.conf.bak" || fail "the two config copies differ"
if cmp -s "$WORK/b1.conf" "$V/medfs.conf"; then fail "remove changed nothing"; fi

step "restore: a backup brings its slots back, as with LUKS"
key add "$V" --keyfile "$WORK/k3" --passphrase-file "$WORK/p0"
[ "$RC" -eq 0 ] || fail "add k3: $OUT"
key restore "$V" "$WORK/b1.conf" --auth-keyfile "$WORK/k3"
[ "$RC" -eq 1 ] && grep -q "no key slot of .*b1.conf accepts" <<<"$OUT" ||
	fail "restore authorized by a slot the backup lacks: $RC $OUT"
key restore "$V" "$WORK/b1.conf" --passphrase-file "$WORK/p2"
[ "$RC" -eq 0 ] || fail "restore: $OUT"
cmp -s "$WORK/b1.conf" "$V/medfs.conf" || fail "restore did not write medfs.conf"
cmp -s "$WORK/b1.conf" "$V/medfs.conf.bak" || fail "restore did not write medfs.conf.bak"
opens keyfile "$WORK/k2hex" "removed slot, back from the backup"
refused keyfile "$WORK/k3" "wrong key file" "slot added after the backup"
key backup "$WORK/other" "$WORK/other.conf"
key restore "$V" "$WORK/other.conf" --passphrase-file "$WORK/p0"
[ "$RC" -eq 1 ] && grep -q "another vault" <<<"$OUT" || fail "restore of another vault: $OUT"

step "a damaged config copy: the other one is used, and the next change heals it"
printf 'X' | dd of="$V/medfs.conf" bs=1 seek=300 conv=notrunc 2>/dev/null
out=$("$VAULTTOOL" "$V" --keyfile "$WORK/k1" unlock 2>&1) || fail "damaged primary: $out"
grep -q "medfs.conf.bak" <<<"$out" || fail "no word of the second copy: $out"
key add "$V" --keyfile "$WORK/k4" --passphrase-file "$WORK/p0"
[ "$RC" -eq 0 ] || fail "add with a damaged primary: $OUT"
grep -q "warning: .*medfs.conf.bak" <<<"$OUT" || fail "add does not warn about the copy: $OUT"
cmp -s "$V/medfs.conf" "$V/medfs.conf.bak" || fail "the two copies still differ"
"$MEDFS_KEY" list "$V" >/dev/null || fail "list after healing"
cp "$V/medfs.conf" "$WORK/conf.good"
printf 'X' | dd of="$V/medfs.conf" bs=1 seek=300 conv=notrunc 2>/dev/null
printf 'X' | dd of="$V/medfs.conf.bak" bs=1 seek=300 conv=notrunc 2>/dev/null
refused keyfile "$WORK/k1" "both copies of the config" "both copies damaged"
key restore "$V" "$WORK/conf.good" --keyfile "$WORK/k1"
[ "$RC" -eq 0 ] || fail "restore over two damaged copies: $OUT"
opens keyfile "$WORK/k1" "after restoring a damaged config"

step "the vault lock"
"$VAULTTOOL" "$V" lock mount 30 >"$WORK/lock.out" &
holder=$!
for _ in $(seq 50); do grep -q locked "$WORK/lock.out" && break; sleep 0.1; done
grep -q locked "$WORK/lock.out" || fail "the test could not take the mount lock"
key rotate "$V" --keyfile "$WORK/k1"
[ "$RC" -eq 1 ] && grep -q "vault is mounted: unmount it first" <<<"$OUT" ||
	fail "rotate of a mounted vault: $RC $OUT"
key add "$V" --keyfile "$WORK/k5" --passphrase-file "$WORK/p0"
[ "$RC" -eq 0 ] || fail "add while mounted: $OUT"
kill "$holder"
wait "$holder" 2>/dev/null || true
"$VAULTTOOL" "$V" lock keys 30 >"$WORK/lock.out" &
holder=$!
for _ in $(seq 50); do grep -q locked "$WORK/lock.out" && break; sleep 0.1; done
key remove "$V" 5 --passphrase-file "$WORK/p0"
[ "$RC" -eq 1 ] && grep -q "locked by another medfs-key" <<<"$OUT" ||
	fail "two key changes at once: $RC $OUT"
kill "$holder"
wait "$holder" 2>/dev/null || true

step "the last slot cannot be removed"
for n in 1 2 3 4 5 6; do
	key remove "$V" "$n" --passphrase-file "$WORK/p0"
done
key list "$V"
grep -q "key slots: 1 of 16" <<<"$OUT" || fail "expected one slot left: $OUT"
key remove "$V" 0 --passphrase-file "$WORK/p0"
[ "$RC" -eq 1 ] && grep -q "last one" <<<"$OUT" || fail "remove of the last slot: $RC $OUT"
opens passphrase-file "$WORK/p0" "the last slot"

if [ "$DRIVER_KEYS" = 1 ]; then
	step "mounts with a key file and a recovery key"
	key add "$V" --keyfile "$WORK/km" --passphrase-file "$WORK/p0"
	key add "$V" --recovery --passphrase-file "$WORK/p0"
	grep -oE '[0-9A-Z]{5}(-[0-9A-Z]{5})+' <<<"$OUT" | tr '\n' ' ' >"$WORK/recm"
	mkdir -p "$M"
	for opt in "--keyfile $WORK/km" "--recovery-key-file $WORK/recm"; do
		# shellcheck disable=SC2086
		if out=$("$MEDFS" "$V" "$M" $opt 2>&1) && mountpoint -q "$M"; then
			DRIVER_PID[$M]=$(driver_pid "$M")
			[ -n "$(ls "$M")" ] || fail "mount with $opt: nothing listed"
			key rotate "$V" --passphrase-file "$WORK/p0"
			[ "$RC" -eq 1 ] && grep -q "vault is mounted" <<<"$OUT" ||
				fail "rotate under a mount: $RC $OUT"
			unmount "$M"
		else
			fail "mount with $opt: $out"
		fi
	done
	# shellcheck disable=SC2086
	out=$("$MEDFS" "$V" "$M" --keyfile "$WORK/k-wrong" 2>&1) && fail "wrong key file mounted"
	grep -q "wrong key file" <<<"$out" || fail "mount with a wrong key file says: $out"
	if mountpoint -q "$M"; then unmount "$M"; fi
else
	echo "SKIP: part: $MEDFS has no --keyfile yet (mounts with key files not tested)"
fi

step "key files, recovery keys and auditor keys others may read are refused, saying how to fix it"
# not_private FILE WHAT CMD...: CMD fails, names FILE and "chmod 600 FILE".
not_private()
{
	local file=$1 what=$2 out rc=0
	shift 2
	out=$("$@" 2>&1) || rc=$?
	[ "$rc" -ne 0 ] || fail "$what: accepted a secret file of mode $(stat -c %a "$file")"
	grep -qF "chmod 600 $file" <<<"$out" || fail "$what: does not say 'chmod 600 $file': $out"
	if mountpoint -q "$M"; then
		fail "$what: mounted"
		unmount "$M"
	fi
}
key add "$V" --keyfile "$WORK/k-shared" --passphrase-file "$WORK/p0"
[ "$RC" -eq 0 ] || fail "add --keyfile: $OUT"
key add "$V" --recovery --passphrase-file "$WORK/p0"
[ "$RC" -eq 0 ] || fail "add --recovery: $OUT"
grep -oE '[0-9A-Z]{5}(-[0-9A-Z]{5})+' <<<"$OUT" | tr '\n' ' ' >"$WORK/rec-shared"
cp "$AUDITOR.key" "$WORK/auditor-shared.key"
chmod 640 "$WORK/k-shared"
chmod 604 "$WORK/rec-shared"
chmod 644 "$WORK/auditor-shared.key"
mkdir -p "$M"
not_private "$WORK/k-shared" "medfs --keyfile" "$MEDFS" "$V" "$M" --keyfile "$WORK/k-shared"
not_private "$WORK/rec-shared" "medfs --recovery-key-file" \
	"$MEDFS" "$V" "$M" --recovery-key-file "$WORK/rec-shared"
not_private "$WORK/k-shared" "medfs-key --auth-keyfile" \
	"$MEDFS_KEY" add "$V" --recovery --auth-keyfile "$WORK/k-shared"
not_private "$WORK/k-shared" "medfs-key add --keyfile (an existing key file)" \
	"$MEDFS_KEY" add "$V" --keyfile "$WORK/k-shared" --passphrase-file "$WORK/p0"
not_private "$WORK/rec-shared" "medfs-key --recovery-key-file" \
	"$MEDFS_KEY" add "$V" --recovery --recovery-key-file "$WORK/rec-shared"
not_private "$WORK/k-shared" "medfs-fsck --keyfile" "$MEDFS_FSCK" "$V" --keyfile "$WORK/k-shared"
not_private "$WORK/auditor-shared.key" "medfs-journal verify --key" \
	"$MEDFS_JOURNAL" verify "$V/journal" --key "$WORK/auditor-shared.key"
not_private "$WORK/auditor-shared.key" "medfs-journal show --key" \
	"$MEDFS_JOURNAL" show "$V/journal" --key "$WORK/auditor-shared.key"
# Another user's key file, even of mode 0400, is refused too.
chmod 400 "$WORK/k-shared"
chown 4242 "$WORK/k-shared"
out=$("$MEDFS_FSCK" "$V" --keyfile "$WORK/k-shared" 2>&1) &&
	fail "medfs-fsck accepted another user's key file"
grep -q "belongs to another user (uid 4242)" <<<"$out" ||
	fail "another user's key file: the message does not say so: $out"
# Made private again, each is accepted.
chown 0 "$WORK/k-shared"
chmod 600 "$WORK/rec-shared" "$WORK/auditor-shared.key"
opens keyfile "$WORK/k-shared" "the key file, private again"
opens recovery-key-file "$WORK/rec-shared" "the recovery key, private again"
assert_cmd_ok "medfs-journal verify with a private key" \
	"$MEDFS_JOURNAL" verify "$V/journal" --key "$WORK/auditor-shared.key"

step "fsck is clean, and no secret is in the vault"
"$MEDFS_FSCK" "$V" --passphrase-file "$WORK/p0" >"$WORK/fsck.out" 2>&1 ||
	fail "medfs-fsck: $(cat "$WORK/fsck.out")"
for s in "first admin passphrase" "night shift$" "changed passphrase"; do
	if grep -rqa -- "$s" "$V"; then fail "'$s' appears in the vault"; fi
done
if grep -rqaF -- "$(tr -d ' ' <"$WORK/rec")" "$V"; then fail "the recovery key is in the vault"; fi
finish
