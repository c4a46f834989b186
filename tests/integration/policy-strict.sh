#!/bin/bash
# policy-strict: the policy file must be trusted (owned by root or the
# user who mounts, writable by nobody else, nor its directory) or the
# mount is refused with a clear message; so are a policy with errors and
# allow_other without a policy. Without a policy only the user who mounted
# gets in, root included when someone else mounted.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR
# shellcheck source=policy-lib.sh
. "$(dirname "$0")/policy-lib.sh"

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
POL=$WORK/policy
make_passfile "$P" "policy strict test passphrase"
make_vault "$V" "$P"
mkdir -p "$M"
mk_user ALICE alice
mk_user BOB bob

# refused WANT [medfs args]: the mount fails, exit status 1, WANT (a fixed
# string) in its message, nothing mounted.
refused()
{
	local want=$1 out rc=0
	shift
	out=$("$MEDFS" "$V" "$M" --passphrase-file "$P" "$@" 2>&1) || rc=$?
	if [ "$rc" -ne 1 ]; then
		fail "medfs $*: exit status $rc, expected 1 (output: $out)"
	fi
	if ! grep -qF -- "$want" <<<"$out"; then
		fail "medfs $*: expected '$want' in: $out"
	fi
	if mountpoint -q "$M"; then
		fail "medfs $*: mounted anyway"
		unmount "$M"
	fi
}

step "allow_other without a policy"
refused "medfs: allow_other needs an access policy (-o policy=FILE)" -o allow_other

step "untrusted policy files"
write_policy "$POL" <<EOF
allow user:$ALICE list,read /**
EOF
chmod 0664 "$POL"
refused "writable by group or others" -o allow_other,policy="$POL"
refused "untrusted policy" -o allow_other,policy="$POL"
chmod 0602 "$POL"
refused "writable by group or others" -o allow_other,policy="$POL"
chmod 0600 "$POL"
chown "$ALICE" "$POL"
refused "is owned by uid $(id -u "$ALICE")" -o allow_other,policy="$POL"
chown root "$POL"
mkdir -m 0777 "$WORK/open-dir"
cp -p "$POL" "$WORK/open-dir/policy"
refused "writable by group or others" -o allow_other,policy="$WORK/open-dir/policy"
ln -s "$WORK/open-dir/policy" "$WORK/link-to-policy"
refused "writable by group or others" -o allow_other,policy="$WORK/link-to-policy"
refused "cannot read policy" -o allow_other,policy="$WORK/no-such-policy"

step "policies with errors, each reported with file, line and column"
printf 'version 1\nallow user:%s list,read /a/**\nallow user:%s frobnicate /b/**\nallow someone list /c\n' \
	"$ALICE" "$ALICE" >"$WORK/bad"
chmod 0600 "$WORK/bad"
out=$(cd "$WORK" && "$MEDFS" "$V" "$M" --passphrase-file "$P" -o allow_other,policy=bad 2>&1) &&
	fail "a policy with errors was accepted"
grep -qE '^medfs: bad:3:[0-9]+: error: ' <<<"$out" || fail "no error for line 3 in: $out"
grep -qE '^medfs: bad:4:[0-9]+: error: ' <<<"$out" || fail "no error for line 4 in: $out"
mountpoint -q "$M" && fail "mounted with a bad policy" && unmount "$M"
printf 'allow user:nosuchuser%s list /a/**\n' "$TAG" >"$WORK/unknown"
chmod 0600 "$WORK/unknown"
refused "$WORK/unknown:1:" -o allow_other,policy="$WORK/unknown"

step "a trusted policy mounts"
chmod 0644 "$POL"
mount_vault "$V" "$M" "$P" -o allow_other,policy="$POL"
expect "$ALICE" OK stat "$M"
expect "$BOB" OK stat "$M"
expect "$BOB" EACCES listdir "$M"
unmount "$M"

step "no policy, no allow_other: only the user who mounted"
mount_vault "$V" "$M" "$P"
echo "root's file" >"$M/f"
expect root OK read "$M/f"
expect "$ALICE" EACCES stat "$M/f"
expect "$ALICE" EACCES listdir "$M"
unmount "$M"

step "mounted by a user: their own policy file is trusted, root gets nothing"
AV=$WORK/alice-vault
AM=$WORK/alice-mnt
AP=$WORK/alice-pass
make_passfile "$AP" "alice's passphrase"
make_vault "$AV" "$AP"
mkdir -p "$AM"
chown -R "$ALICE" "$AV" "$AM" "$AP"
# Her policy lets everyone (root too) list; owned by her, it is trusted.
printf 'allow user:%s all /**\nallow everyone list /**\n' "$ALICE" >"$WORK/alice-policy"
chmod 0600 "$WORK/alice-policy"
chown "$ALICE" "$WORK/alice-policy"
if ! as "$ALICE" test -r /dev/fuse -a -w /dev/fuse; then
	# No user mounts here: the policy must still pass, the mount
	# itself fail.
	out=$(as "$ALICE" "$MEDFS" "$AV" "$AM" --passphrase-file "$AP" -o policy="$WORK/alice-policy" 2>&1) &&
		fail "alice mounted without access to /dev/fuse"
	grep -qF "cannot mount on $AM" <<<"$out" || fail "alice's policy was not accepted: $out"
	echo "(/dev/fuse is not open to users here: alice's mount itself not tried)"
elif ! out=$(as "$ALICE" "$MEDFS" "$AV" "$AM" --passphrase-file "$AP" -o policy="$WORK/alice-policy" 2>&1); then
	fail "alice cannot mount with her own policy: $out"
else
	DRIVER_PID[$AM]=$(driver_pid "$AM")
	assert_cmd_ok "alice writes through her mount" as "$ALICE" sh -c "echo mine >'$AM/g'"
	expect "$ALICE" OK read "$AM/g"
	# Not allow_other: the kernel keeps everyone else out, root too.
	expect root EACCES stat "$AM/g"
	assert_cmd_ok "alice unmounts" as "$ALICE" fusermount3 -u "$AM"
	wait_pid_gone "${DRIVER_PID[$AM]}" 20 || fail "alice's driver still runs"
	unset "DRIVER_PID[$AM]"
fi
# A policy owned by someone else than her (and not root) is refused.
chmod 0644 "$WORK/alice-policy"
chown "$BOB" "$WORK/alice-policy"
out=$(as "$ALICE" "$MEDFS" "$AV" "$AM" --passphrase-file "$AP" -o policy="$WORK/alice-policy" 2>&1) &&
	fail "alice mounted with bob's policy"
grep -qF "is owned by uid $(id -u "$BOB"), not by root or uid $(id -u "$ALICE")" <<<"$out" ||
	fail "no ownership message in: $out"
mountpoint -q "$AM" && fusermount3 -u "$AM"
finish
