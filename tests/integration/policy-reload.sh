#!/bin/bash
# policy-reload: SIGHUP makes the driver read its policy file again. A
# good new policy changes the next decisions (cached ones included); a bad
# one (syntax error, unknown user, untrusted file, missing file) is
# rejected with its errors in the log, and the policy in force stays.
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
LOG=$WORK/driver.log
make_passfile "$P" "policy reload test passphrase"
make_vault "$V" "$P"

step "the tree"
mount_vault "$V" "$M" "$P"
mkdir -p "$M/a" "$M/b"
echo "in a" >"$M/a/f"
echo "in b" >"$M/b/g"
unmount "$M"

mk_user ALICE alice
write_policy "$POL" <<EOF
allow user:$ALICE list,read /a/**
EOF
mount_fg "$V" "$M" "$P" "$LOG" -o allow_other,policy="$POL"

# hup_and_wait reloaded|rejected: sends SIGHUP and waits for one more
# such message in the log.
reloads=0
rejects=0
hup_and_wait()
{
	local what=$1 n want
	if [ "$what" = reloaded ]; then
		reloads=$((reloads + 1))
		want=$reloads
	else
		rejects=$((rejects + 1))
		want=$rejects
	fi
	kill -HUP "$FG_PID"
	for n in $(seq 1 100); do
		if [ "$(grep -c "policy.* $what" "$LOG")" -ge "$want" ]; then
			return 0
		fi
		sleep 0.1
	done
	fail "no 'policy ... $what' in the log after SIGHUP"
}

step "the first policy"
# Twice each, so that the second decision comes from the cache.
for _ in 1 2; do
	expect "$ALICE" OK read "$M/a/f"
	expect "$ALICE" EACCES read "$M/b/g"
done
assert_eq "a" "$(listing "$ALICE" "$M")" "alice's listing"

step "SIGHUP with a good policy changes the decisions"
write_policy "$POL" <<EOF
allow user:$ALICE list,read /b/**
EOF
hup_and_wait reloaded
expect "$ALICE" EACCES read "$M/a/f"
expect "$ALICE" OK read "$M/b/g"
assert_eq "b" "$(listing "$ALICE" "$M")" "alice's listing after the reload"

step "a policy with a syntax error is rejected, the old one stays"
write_policy "$POL" <<EOF
allow user:$ALICE list,read /a/**
allow user:$ALICE frobnicate /a/**
EOF
hup_and_wait rejected
wait_log "$LOG" "$POL:2:"
if ! grep -F "$POL:2:" "$LOG" | grep -q ": error: "; then
	fail "the syntax error is not reported as FILE:LINE:COL: error: MSG"
fi
pid_alive "$FG_PID" || fail "the driver died on a bad policy"
assert_mounted "$M"
expect "$ALICE" EACCES read "$M/a/f"
expect "$ALICE" OK read "$M/b/g"

step "a policy naming an unknown user is rejected"
write_policy "$POL" <<EOF
allow user:$ALICE list,read /a/**
allow user:nosuchuser$TAG list,read /a/**
EOF
hup_and_wait rejected
wait_log "$LOG" "$POL:2:"
expect "$ALICE" EACCES read "$M/a/f"
expect "$ALICE" OK read "$M/b/g"

step "an untrusted policy file is rejected"
write_policy "$POL" <<EOF
allow user:$ALICE list,read /a/**
EOF
chmod 0666 "$POL"
hup_and_wait rejected
wait_log "$LOG" "untrusted policy"
expect "$ALICE" EACCES read "$M/a/f"
chmod 0600 "$POL"
chown "$ALICE" "$POL"
hup_and_wait rejected
expect "$ALICE" EACCES read "$M/a/f"
chown root "$POL"

step "a missing policy file is rejected"
mv "$POL" "$POL.away"
hup_and_wait rejected
wait_log "$LOG" "cannot read policy"
expect "$ALICE" OK read "$M/b/g"
mv "$POL.away" "$POL"

step "the fixed file is taken"
hup_and_wait reloaded
expect "$ALICE" OK read "$M/a/f"
expect "$ALICE" EACCES read "$M/b/g"
pid_alive "$FG_PID" || fail "the driver is gone"

step "reloads under load"
# Reads keep going while the policy flips between two that both allow
# them: no read may fail, and the driver survives.
write_policy "$POL" <<EOF
allow user:$ALICE list,read /a/**
allow user:$ALICE list,read /b/**
EOF
hup_and_wait reloaded
as "$ALICE" sh -c "i=0; while [ \$i -lt 300 ]; do cat '$M/a/f' '$M/b/g' >/dev/null || exit 1; i=\$((i + 1)); done" &
reader=$!
for _ in $(seq 1 20); do
	kill -HUP "$FG_PID"
	sleep 0.05
done
wait "$reader" || fail "a read failed while the policy was being reloaded"
pid_alive "$FG_PID" || fail "the driver died during reloads"
unmount "$M"

step "a mount only its owner reaches keeps names; rules bound to programs are refused on reload"
# Without allow_other the kernel keeps looked-up names for a second (one
# identity asks); a rule bound to a program would have two processes of
# that identity told different things, so a reload refuses it.
LOG=$WORK/driver-single.log
reloads=0
rejects=0
write_policy "$POL" <<EOF
allow user:root all /**
EOF
mount_fg "$V" "$M" "$P" "$LOG" -o policy="$POL"
assert_eq "in a" "$(cat "$M/a/f")" "root reads a/f"
write_policy "$POL" <<EOF
allow user:root program /bin/cat all /**
EOF
hup_and_wait rejected
wait_log "$LOG" "binds rules to programs"
assert_eq "in b" "$(cat "$M/b/g")" "root still reads b/g under the policy in force"
unmount "$M"

step "with entry_timeout=0 the same mount takes rules bound to programs"
LOG=$WORK/driver-single0.log
reloads=0
rejects=0
write_policy "$POL" <<EOF
allow user:root all /**
EOF
mount_fg "$V" "$M" "$P" "$LOG" -o policy="$POL",entry_timeout=0
write_policy "$POL" <<EOF
allow user:root program $(readlink -f /bin/cat) list,read /**
EOF
hup_and_wait reloaded
assert_eq "in a" "$(cat "$M/a/f")" "cat, the program named, reads a/f"
assert_cmd_fails "head, another program, reads a/f" head -c 4 "$M/a/f"
unmount "$M"
finish
