#!/bin/bash
# policy-program: rules bound to the calling program. A viewer (a copy of
# cat at its own path) may read what the same user cannot read through
# cat, nor through another copy of the same binary; a program-bound deny
# stops cp and nothing else.
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
make_passfile "$P" "policy program test passphrase"
make_vault "$V" "$P"

CAT=$(readlink -f "$(command -v cat)")
CP=$(readlink -f "$(command -v cp)")
VIEWER=$WORK/bin/viewer
cp "$CAT" "$VIEWER"
cp "$CAT" "$WORK/bin/other-viewer"
chmod 0755 "$VIEWER" "$WORK/bin/other-viewer"
mkdir -m 0777 "$WORK/out"

step "the tree"
mount_vault "$V" "$M" "$P"
mkdir -p "$M/images"
echo "pixel data" >"$M/images/i1.dcm"
echo "more pixels" >"$M/images/i2.dcm"
unmount "$M"

mk_user ALICE alice
mk_user BOB bob
write_policy "$POL" <<EOF
# alice may list the images with anything, read them only with the viewer
allow user:$ALICE list /images/**
allow user:$ALICE program $VIEWER read /images/**
# bob may read with anything but cp
allow user:$BOB list,read /images/**
deny user:$BOB program $CP read /images/**
EOF
mount_fg "$V" "$M" "$P" "$LOG" -o allow_other,policy="$POL"

step "a rule bound to a program"
assert_eq "i1.dcm i2.dcm" "$(listing "$ALICE" "$M/images")" "alice lists the images"
assert_eq "pixel data" "$(as "$ALICE" "$VIEWER" "$M/images/i1.dcm" 2>&1)" "alice reads through the viewer"
assert_cmd_fails "alice reads through cat" as "$ALICE" "$CAT" "$M/images/i1.dcm"
assert_cmd_fails "alice reads through a copy of the viewer" as "$ALICE" "$WORK/bin/other-viewer" "$M/images/i1.dcm"
expect "$ALICE" EACCES read "$M/images/i2.dcm"
assert_eq "more pixels" "$(as "$ALICE" sh -c "'$VIEWER' '$M/images/i2.dcm'" 2>&1)" "the viewer run from a shell"

step "a deny bound to a program"
assert_eq "pixel data" "$(as "$BOB" "$CAT" "$M/images/i1.dcm" 2>&1)" "bob reads through cat"
assert_cmd_fails "bob copies through cp" as "$BOB" "$CP" "$M/images/i1.dcm" "$WORK/out/i1.dcm"
[ ! -s "$WORK/out/i1.dcm" ] || fail "cp got the data of i1.dcm"
expect "$BOB" OK read "$M/images/i2.dcm"

step "the log names the program's rule, not the path"
wait_log "$LOG" "denied: uid=$(id -u "$ALICE") op=open right=read rule=0"
wait_log "$LOG" "denied: uid=$(id -u "$BOB") op=open right=read rule=$(grep -n '^deny' "$POL" | cut -d: -f1)"
log_has_no_path "$LOG" images i1.dcm i2.dcm
unmount "$M"
finish
