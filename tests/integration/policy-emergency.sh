#!/bin/bash
# policy-emergency: break the glass. A user named by an emergency rule is
# denied until it sets user.medfs.emergency (with a reason) on the mount
# root; then the emergency rule applies, every access under it is counted
# and logged (without the reason nor any path), the grant is visible to
# the user who mounted and root, and it ends on time or on removal. Users
# no emergency rule names are refused the grant.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR
# shellcheck source=policy-lib.sh
. "$(dirname "$0")/policy-lib.sh"
if ! command -v setfattr >/dev/null || ! command -v getfattr >/dev/null; then
	echo "SKIP: setfattr/getfattr not installed (Debian package attr)"
	exit 77
fi

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
POL=$WORK/policy
LOG=$WORK/driver.log
make_passfile "$P" "policy emergency test passphrase"
make_vault "$V" "$P"

step "the tree"
mount_vault "$V" "$M" "$P"
mkdir -p "$M/studies/s1"
echo "study data" >"$M/studies/s1/a.dcm"
# With allow_other the kernel checks modes too (default_permissions):
# setting the attribute on the mount root needs write permission there.
chmod 0777 "$M"
unmount "$M"

mk_group PHYS phys
mk_user ALICE alice "$PHYS"
mk_user DAVE dave
write_policy "$POL" <<EOF
emergency-duration 3s
allow group:$PHYS list /
allow user:$DAVE list /
emergency allow group:$PHYS list,read /studies/**
EOF
RULE=$(grep -n '^emergency allow' "$POL" | cut -d: -f1)
mount_fg "$V" "$M" "$P" "$LOG" -o allow_other,policy="$POL"
AUID=$(id -u "$ALICE")
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
REASON="cardiac arrest ward 3 DUPONT"
# own USER: the user's own grant, as getfattr shows its value.
own() { as "$1" getfattr --absolute-names --only-values -n user.medfs.emergency "$M" 2>&1; }
grants() { getfattr --absolute-names --only-values -n user.medfs.emergency.grants "$M" 2>&1; }

step "no grant for users no emergency rule names"
expect "$DAVE" EACCES setxattr "$M" user.medfs.emergency "$(hex "$REASON")"
expect "$DAVE" ENODATA getxattr "$M" user.medfs.emergency
wait_log "$LOG" "denied: uid=$(id -u "$DAVE") op=emergency"

step "before the grant: denied"
expect "$ALICE" EACCES read "$M/studies/s1/a.dcm"
expect "$ALICE" EACCES listdir "$M/studies"
expect "$ALICE" ENODATA getxattr "$M" user.medfs.emergency
assert_eq "" "$(grants)" "the grants before any"
expect "$ALICE" EINVAL setxattr "$M" user.medfs.emergency ""
expect "$ALICE" EINVAL setxattr "$M" user.medfs.emergency "$(hex "  ")"
expect "$ALICE" EPERM setxattr "$M" user.medfs.emergency.grants "$(hex "x")"

step "with the grant: allowed, counted, logged"
expect "$ALICE" OK setxattr "$M" user.medfs.emergency "$(hex "$REASON")"
start=$(date +%s)
assert_eq "study data" "$(as "$ALICE" cat "$M/studies/s1/a.dcm" 2>&1)" "alice reads under the grant"
assert_eq "s1" "$(listing "$ALICE" "$M/studies")" "alice lists under the grant"
[ $(($(date +%s) - start)) -lt 3 ] || echo "(slow machine: the checks above ran past the grant)"
own "$ALICE" | grep -qE '^active until [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' ||
	fail "alice's grant as getfattr shows it: $(own "$ALICE")"
expect "$DAVE" ENODATA getxattr "$M" user.medfs.emergency
list=$(grants)
grep -qE "^uid=$AUID start=[0-9T:-]+Z end=[0-9T:-]+Z accesses=[1-9][0-9]*$" <<<"$list" ||
	fail "root's list of grants: '$list'"
expect "$ALICE" EACCES getxattr "$M" user.medfs.emergency.grants
expect "$DAVE" EACCES getxattr "$M" user.medfs.emergency.grants
wait_log "$LOG" "emergency access granted: uid=$AUID"
wait_log "$LOG" "emergency access: uid=$AUID op=open right=read rule=$RULE"
wait_log "$LOG" "emergency access: uid=$AUID op=readdir right=list rule=$RULE"

step "the grant expires on time"
sleep 3.5
expect "$ALICE" EACCES read "$M/studies/s1/a.dcm"
expect "$ALICE" ENODATA getxattr "$M" user.medfs.emergency
assert_eq "" "$(grants)" "the grants after expiry"
wait_log "$LOG" "emergency access of uid=$AUID expired"

step "the holder ends it early"
expect "$ALICE" OK setxattr "$M" user.medfs.emergency "$(hex "$REASON")"
expect "$ALICE" OK read "$M/studies/s1/a.dcm"
expect "$ALICE" OK removexattr "$M" user.medfs.emergency
expect "$ALICE" EACCES read "$M/studies/s1/a.dcm"
expect "$ALICE" ENODATA removexattr "$M" user.medfs.emergency
wait_log "$LOG" "emergency access of uid=$AUID ended by its holder"

step "the keeper ends an idle grant at its deadline"
expect "$ALICE" OK setxattr "$M" user.medfs.emergency "$(hex "$REASON")"
n=$(grep -c "uid=$AUID expired" "$LOG")
sleep 3.5
[ "$(grep -c "uid=$AUID expired" "$LOG")" -gt "$n" ] || fail "the idle grant's end was not logged on time"

step "the log holds neither the reason nor a path"
log_has_no_path "$LOG" DUPONT cardiac studies a.dcm
unmount "$M"
finish
