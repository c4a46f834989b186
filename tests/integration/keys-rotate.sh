#!/bin/bash
# keys-rotate: vault key rotation of a vault of 2,000 files, killed with
# SIGKILL again and again at growing delays and resumed each time, then
# the same with --reencrypt. Afterwards every file, name, symlink, xattr,
# mode and time reads back the same, every key slot still opens the vault
# (one secret rewrapped them all), contents were re-encrypted only with
# --reencrypt, and a config saved before the rotation opens nothing.
#
# Vaults are read through the library with $VAULTTOOL; the check that a
# mount is refused while a rotation is unfinished runs when `medfs --help`
# mentions --keyfile (a driver that unlocks through medfs_unlock).
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

VAULTTOOL=${VAULTTOOL:-$(dirname "$RWCHECK")/vaulttool}
[ -x "$VAULTTOOL" ] || { echo "FAIL: $VAULTTOOL is not built" >&2; exit 1; }
FILES=${FILES:-2000}
V=$WORK/vault
M=$WORK/mnt
mkdir -p "$M"
DRIVER_KEYS=0
if "$MEDFS" --help 2>&1 | grep -q -- --keyfile; then
	DRIVER_KEYS=1
fi

make_passfile "$WORK/p0" "rotation test passphrase"
MIX_CHECKED=0

# dump AUTH...: the whole tree, through the library.
dump()
{
	"$VAULTTOOL" "$V" "$@" dump
}

# rotate_with_kills WHAT ARGS...: runs `medfs-key rotate ARGS` and kills
# it with SIGKILL after 0.03 s, then 0.06 s, 0.1 s... of each run, until a
# run finishes on its own. Between runs, an unfinished rotation must keep
# the vault from being opened for use.
rotate_with_kills()
{
	local what=$1 t rc pid out kills=0
	shift
	for t in 0.03 0.06 0.1 0.15 0.2 0.3 0.5 0.8 1.2 2 3 5 8 13; do
		"$MEDFS_KEY" rotate "$V" "$@" >"$WORK/rotate.out" 2>&1 &
		pid=$!
		sleep "$t"
		kill -KILL "$pid" 2>/dev/null || true
		rc=0
		wait "$pid" 2>/dev/null || rc=$?
		if [ "$rc" -eq 0 ]; then
			echo "$what: finished after $kills kills"
			return 0
		fi
		[ "$rc" -eq 137 ] || { fail "$what: rotate exited $rc: $(cat "$WORK/rotate.out")"; return 0; }
		kills=$((kills + 1))
		# Killed before the config switched: nothing happened. After:
		# the vault refuses to be used until the rotation is done.
		if out=$("$VAULTTOOL" "$V" --keyfile "$WORK/k" unlock 2>&1); then
			out=$(dump --keyfile "$WORK/k" 2>&1) || true
			[ "$out" = "$(cat "$WORK/baseline")" ] ||
				fail "$what: killed after ${t}s, vault opens but differs"
			continue
		fi
		grep -q "vault is being rotated: run medfs-key rotate" <<<"$out" ||
			fail "$what: killed after ${t}s: $out"
		if [ "$DRIVER_KEYS" = 1 ]; then
			if out=$("$MEDFS" "$V" "$M" --passphrase-file "$WORK/p0" 2>&1); then
				fail "$what: mounted in the middle of a rotation"
				unmount "$M"
			elif ! grep -q "being rotated" <<<"$out"; then
				fail "$what: mount refused, but says: $out"
			fi
		fi
		if [ "$MIX_CHECKED" = 0 ] && [ "$1" != --reencrypt ]; then
			# A plain rotation is pending: --reencrypt must not mix in.
			MIX_CHECKED=1
			out=$("$MEDFS_KEY" rotate "$V" --reencrypt "$@" 2>&1) &&
				fail "$what: --reencrypt ran over a pending plain rotation"
			grep -q "without --reencrypt .* is in progress" <<<"$out" ||
				fail "$what: --reencrypt over a pending rotation says: $out"
		fi
	done
	"$MEDFS_KEY" rotate "$V" "$@" >"$WORK/rotate.out" 2>&1 ||
		fail "$what: last run failed: $(cat "$WORK/rotate.out")"
	echo "$what: finished after $kills kills"
}

# same_tree WHAT: every slot opens the vault, showing the baseline tree.
same_tree()
{
	local auth
	for auth in "--keyfile $WORK/k" "--passphrase-file $WORK/p0" \
		"--recovery-key-file $WORK/rec"; do
		# shellcheck disable=SC2086
		if ! dump $auth >"$WORK/after" 2>"$WORK/after.err"; then
			fail "$1: does not open with $auth: $(head -3 "$WORK/after.err")"
		elif ! cmp -s "$WORK/baseline" "$WORK/after"; then
			fail "$1: opened with $auth, the tree differs: $(diff "$WORK/baseline" "$WORK/after" | head -5)"
		fi
	done
	"$MEDFS_FSCK" "$V" --passphrase-file "$WORK/p0" >"$WORK/fsck.out" 2>&1 ||
		fail "$1: medfs-fsck: $(tail -5 "$WORK/fsck.out")"
}

# useless CONF WHAT: a config saved earlier opens nothing of the tree now.
useless()
{
	local s=$WORK/scratch out
	rm -rf "$s"
	mkdir "$s"
	cp "$1" "$s/medfs.conf"
	cp "$1" "$s/medfs.conf.bak"
	ln -s "$V/tree" "$s/tree"
	"$VAULTTOOL" "$s" --keyfile "$WORK/k" unlock >/dev/null 2>&1 ||
		fail "$2: the old config itself should still unlock (its own key)"
	if "$VAULTTOOL" "$s" --keyfile "$WORK/k" dump >/dev/null 2>&1; then
		fail "$2: the old key still opens the tree"
	fi
	out=$("$VAULTTOOL" "$s" --keyfile "$WORK/k" probe 2>&1)
	grep -q "^0 of [1-9][0-9]* names decrypt" <<<"$out" ||
		fail "$2: names decrypt under the old key: $out"
	out=$("$MEDFS_KEY" restore "$V" "$1" --keyfile "$WORK/k" 2>&1) &&
		fail "$2: restore of the old config was accepted"
	grep -q "does not open the tree" <<<"$out" || fail "$2: restore says: $out"
}

step "a vault of $FILES files, three kinds of key slots"
make_vault "$V" "$WORK/p0"
"$MEDFS_KEY" add "$V" --keyfile "$WORK/k" --passphrase-file "$WORK/p0" >/dev/null ||
	fail "add --keyfile"
"$MEDFS_KEY" add "$V" --recovery --passphrase-file "$WORK/p0" |
	grep -oE '[0-9A-Z]{5}(-[0-9A-Z]{5})+' | tr '\n' ' ' >"$WORK/rec"
chmod 600 "$WORK/rec" # secret files must be private
"$VAULTTOOL" "$V" --keyfile "$WORK/k" populate "$FILES" || fail "populate"
dump --keyfile "$WORK/k" >"$WORK/baseline" || fail "baseline dump"
[ "$(grep -c '^F ' "$WORK/baseline")" -ge $((FILES * 9 / 10)) ] || fail "baseline too small"
"$VAULTTOOL" "$V" blocks >"$WORK/blocks.0"
"$MEDFS_KEY" backup "$V" "$WORK/before.conf" >/dev/null || fail "backup"

step "rotate, killed and resumed"
rotate_with_kills "rotate" --keyfile "$WORK/k"
"$MEDFS_KEY" list "$V" | grep -q "rotation:" && fail "list still shows a rotation"
[ "$MIX_CHECKED" = 1 ] || echo "note: no kill landed after the config switch"
same_tree "after rotate"
"$VAULTTOOL" "$V" blocks >"$WORK/blocks.1"
cmp -s "$WORK/blocks.0" "$WORK/blocks.1" || fail "rotate without --reencrypt rewrote contents"
useless "$WORK/before.conf" "config from before the rotation"
"$MEDFS_KEY" backup "$V" "$WORK/mid.conf" >/dev/null || fail "backup"

step "rotate --reencrypt, killed and resumed"
rotate_with_kills "rotate --reencrypt" --reencrypt --recovery-key-file "$WORK/rec"
same_tree "after rotate --reencrypt"
"$VAULTTOOL" "$V" blocks >"$WORK/blocks.2"
[ "$(wc -l <"$WORK/blocks.2")" -eq "$(wc -l <"$WORK/blocks.1")" ] ||
	fail "not as many files with contents after rotate --reencrypt"
[ -z "$(comm -12 "$WORK/blocks.1" "$WORK/blocks.2" | head -1)" ] ||
	fail "rotate --reencrypt left sealed contents as they were"
useless "$WORK/mid.conf" "config from before the re-encryption"
useless "$WORK/before.conf" "config from before both rotations"
if find "$V/tree" -name '.tmp-*' | grep -q .; then fail "temporaries left in the vault"; fi

step "no rotation of a mounted vault"
"$VAULTTOOL" "$V" lock mount 30 >"$WORK/lock.out" &
holder=$!
for _ in $(seq 50); do grep -q locked "$WORK/lock.out" && break; sleep 0.1; done
out=$("$MEDFS_KEY" rotate "$V" --keyfile "$WORK/k" 2>&1) && fail "rotated a mounted vault"
grep -q "vault is mounted: unmount it first" <<<"$out" || fail "rotate when mounted says: $out"
kill "$holder"
wait "$holder" 2>/dev/null || true
if [ "$DRIVER_KEYS" = 1 ]; then
	mount_vault "$V" "$M" "$WORK/p0" && {
		out=$("$MEDFS_KEY" rotate "$V" --keyfile "$WORK/k" 2>&1) &&
			fail "rotated under a real mount"
		grep -q "vault is mounted" <<<"$out" || fail "rotate under a mount says: $out"
		unmount "$M"
	}
fi
finish
