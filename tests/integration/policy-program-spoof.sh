#!/bin/bash
# policy-program-spoof: a rule bound to a program holds against the
# program's own user trying to pass something else off as it (issue 14):
# another binary mounted over its path in a user namespace, a user
# namespace alone, a library of the user's preloaded into it, a tracer from
# its start or attached while it runs, an exec of another binary right
# after an allowed access, and the program file changed or replaced after
# the policy was loaded. Each attack is carried out for real and refused,
# the refusal logged (why, never a path) and journaled as a denial; the
# real program still works throughout, and a reload binds a program's new
# file.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR
# shellcheck source=policy-lib.sh
. "$(dirname "$0")/policy-lib.sh"

TRACER=${TRACER:-$(dirname "$FSOP")/tracer}
MEDFS_POLICY=${MEDFS_POLICY:-$(dirname "$MEDFS")/medfs-policy}
for _cmd in unshare jq; do
	if ! command -v "$_cmd" >/dev/null; then
		echo "SKIP: $_cmd not installed"
		exit 77
	fi
done

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
POL=$WORK/policy
LOG=$WORK/driver.log
make_passfile "$P" "policy program spoof test passphrase"
make_vault "$V" "$P"

CAT=$(readlink -f "$(command -v cat)")
HEAD=$(readlink -f "$(command -v head)")
BASH=$(readlink -f "$(command -v bash)")
VIEWER=$WORK/bin/viewer # the program the policy names: a copy of cat
VSH=$WORK/bin/vsh       # another one: a copy of bash
cp "$CAT" "$VIEWER"
cp "$CAT" "$WORK/viewer.orig"
cp "$BASH" "$VSH"
cp "$TRACER" "$WORK/bin/tracer"
cp "$HEAD" "$WORK/bin/writable"
chmod 0755 "$VIEWER" "$VSH" "$WORK/bin/tracer"
chmod 0775 "$WORK/bin/writable"
UTRACER=$WORK/bin/tracer

step "the tree"
mount_vault "$V" "$M" "$P"
mkdir -p "$M/images"
for i in 0 1 2 3 4 5 6 7 8; do
	echo "secret $i" >"$M/images/a$i.dcm"
done
unmount "$M"

mk_user ALICE alice
HOMEDIR=$WORK/alice
mkdir -m 0700 "$HOMEDIR"
chown "$ALICE:" "$HOMEDIR"
write_policy "$POL" <<EOF
allow user:$ALICE list /images/**
allow user:$ALICE program $VIEWER read /images/**
allow user:$ALICE program $VSH read /images/**
allow user:$ALICE program $WORK/bin/writable read /images/**
EOF

# read_as CMD...: what alice gets (stdout and stderr) running CMD.
read_as()
{
	as "$ALICE" "$@" 2>&1 || true
}
# refused WHAT OUT N: OUT (an attack's output) lacks image N's content.
refused()
{
	case $2 in
	*"secret $3"*) fail "$1: the program rule let it read a$3.dcm: $2" ;;
	esac
}

SCOPE=$(cat /proc/sys/kernel/yama/ptrace_scope 2>/dev/null || echo none)
step "medfs-policy check warns (ptrace_scope: $SCOPE)"
out=$("$MEDFS_POLICY" check "$POL" 2>&1) || fail "medfs-policy check: $out"
case $out in
*":4:1: warning: the program file is not owned by root or is writable by group or others"*) ;;
*) fail "medfs-policy check does not warn of the group-writable program: $out" ;;
esac
case $SCOPE in
2 | 3)
	case $out in *"debugs the program"*) fail "a ptrace warning with ptrace_scope $SCOPE: $out" ;; esac
	;;
*)
	case $out in
	*"warning: rules bound to programs do not hold against a user who debugs the program"*) ;;
	*) fail "medfs-policy check does not warn of ptrace_scope $SCOPE: $out" ;;
	esac
	;;
esac

mount_fg "$V" "$M" "$P" "$LOG" -o allow_other,policy="$POL"
wait_log "$LOG" "policy:4:1: warning: the program file is not owned by root"
case $SCOPE in
2 | 3) ;;
*) wait_log "$LOG" "warning: rules bound to programs do not hold against a user who debugs the program" ;;
esac

step "the real program"
assert_eq "secret 0" "$(read_as "$VIEWER" "$M/images/a0.dcm")" "alice reads through the viewer"
assert_eq "secret 0" "$(read_as "$VSH" -c "read l <'$M/images/a0.dcm'; echo \$l")" \
	"alice reads through vsh"
assert_cmd_fails "alice reads through cat" as "$ALICE" "$CAT" "$M/images/a0.dcm"
assert_cmd_fails "a group-writable program is bound to nothing" \
	as "$ALICE" "$WORK/bin/writable" "$M/images/a0.dcm"

step "another binary mounted over the program's path in a user namespace"
out=$(read_as unshare -Urm sh -c \
	"mount --bind '$HEAD' '$VIEWER' && cmp -s '$HEAD' '$VIEWER' && echo bound && exec '$VIEWER' '$M/images/a1.dcm'")
case $out in *bound*) ;; *) fail "the bind mount in alice's namespace did not happen: $out" ;; esac
refused "head mounted over the viewer" "$out" 1
wait_log "$LOG" "program of the rule at line 2 refused to pid="

step "the real program in another user namespace"
out=$(read_as unshare -Ur "$VIEWER" "$M/images/a2.dcm")
refused "the viewer in a user namespace" "$out" 2
wait_log "$LOG" "runs in another user namespace"

step "a library of the user's preloaded into the program"
LIBM=$(ldconfig -p | awk '/libm\.so\.6 / { print $NF; exit }')
[ -n "$LIBM" ] || fail "no libm.so.6 to preload"
cp "$LIBM" "$HOMEDIR/libx.so"
chown "$ALICE:" "$HOMEDIR/libx.so"
chmod 0644 "$HOMEDIR/libx.so"
cp "$LIBM" "$WORK/bin/libroot.so"
chmod 0644 "$WORK/bin/libroot.so"
out=$(read_as env LD_PRELOAD="$HOMEDIR/libx.so" "$VSH" -c \
	"grep -c libx.so /proc/\$\$/maps; read l <'$M/images/a3.dcm'; echo \$l")
case $out in [1-9]*) ;; *) fail "the library was not preloaded: $out" ;; esac
refused "vsh with the user's library" "$out" 3
wait_log "$LOG" "maps code from a file not owned by root or writable by others"
assert_eq "secret 0" "$(read_as env LD_PRELOAD="$WORK/bin/libroot.so" "$VIEWER" "$M/images/a0.dcm")" \
	"a preloaded library of root's is trusted"

step "the program run under a tracer"
out=$(read_as "$UTRACER" "$VIEWER" "$M/images/a4.dcm")
refused "the viewer under a tracer" "$out" 4
wait_log "$LOG" "is traced by another process"

step "a tracer attached to the running program"
case $SCOPE in
0 | none)
	FLAG=$HOMEDIR/attached
	as "$ALICE" "$VSH" -c "echo pid:\$\$; read l <'$M/images/a0.dcm' && echo first:\$l
		i=0; while [ ! -e '$FLAG' ] && [ \$i -lt 500 ]; do sleep 0.02; i=\$((i + 1)); done
		read l <'$M/images/a5.dcm' && echo second:\$l" >"$WORK/attach.out" 2>&1 &
	bg=$!
	n=0
	until grep -q first: "$WORK/attach.out" || [ "$n" -gt 100 ]; do
		sleep 0.05
		n=$((n + 1))
	done
	vpid=$(sed -n 's/^pid://p' "$WORK/attach.out")
	as "$ALICE" "$UTRACER" -p "$vpid" "$FLAG" || fail "the tracer could not attach"
	wait "$bg" || true
	out=$(cat "$WORK/attach.out")
	case $out in *"first:secret 0"*) ;; *) fail "vsh did not read before the attach: $out" ;; esac
	[ -e "$FLAG" ] || fail "the tracer never attached"
	refused "vsh with a tracer attached" "$out" 5
	;;
*) echo "ptrace_scope $SCOPE: alice cannot attach to her own processes; not tried" ;;
esac

step "an exec of another binary right after an allowed access"
out=$(read_as "$VSH" -c "read l <'$M/images/a0.dcm' && echo first:\$l; exec '$HEAD' '$M/images/a6.dcm'")
case $out in *"first:secret 0"*) ;; *) fail "vsh did not read before the exec: $out" ;; esac
refused "head exec'd by vsh" "$out" 6

step "the program file changed after the policy was loaded"
cat "$HEAD" >"$VIEWER"
out=$(read_as "$VIEWER" "$M/images/a7.dcm")
refused "head written into the viewer's file" "$out" 7
wait_log "$LOG" "program of the rule at line 2 refused to pid="
wait_log "$LOG" "its file changed since the policy was loaded (digest mismatch); reload the policy"
cat "$WORK/viewer.orig" >"$VIEWER"
assert_eq "secret 0" "$(read_as "$VIEWER" "$M/images/a0.dcm")" \
	"the viewer's file with its content back"
cp "$HEAD" "$VIEWER.new"
chmod 0755 "$VIEWER.new"
mv -f "$VIEWER.new" "$VIEWER"
out=$(read_as "$VIEWER" "$M/images/a8.dcm")
refused "head renamed over the viewer" "$out" 8
wait_log "$LOG" "runs another file shown at the program's path"
# The remedy the message gives: a reload binds the new file.
kill -HUP "$FG_PID"
wait_log "$LOG" "policy reloaded from"
assert_eq "secret 0" "$(read_as "$VIEWER" "$M/images/a0.dcm")" \
	"the new file of the viewer, once the policy is reloaded"

step "the real program still works, and the log names no path"
assert_eq "secret 0" "$(read_as "$VSH" -c "read l <'$M/images/a0.dcm'; echo \$l")" \
	"alice still reads through vsh"
log_has_no_path "$LOG" a1.dcm a2.dcm a3.dcm a4.dcm a5.dcm a6.dcm a7.dcm a8.dcm images
unmount "$M"

step "every refusal is journaled as a denial"
"$MEDFS_JOURNAL" export "$V/journal" --key "$AUDITOR.key" --format jsonl >"$WORK/j.jsonl" \
	2>/dev/null || fail "medfs-journal export failed"
for i in 1 2 3 4 5 6 7 8; do
	[ "$i" != 5 ] || case $SCOPE in 0 | none) ;; *) continue ;; esac
	n=$(jq -c "select(.op == \"denied\" and .path == \"/images/a$i.dcm\" and .user == \"$ALICE\")" \
		"$WORK/j.jsonl" | grep -c . || true)
	[ "$n" -ge 1 ] || fail "no denial journaled for a$i.dcm"
done
n=$(jq -c 'select(.op == "denied" and .path == "/images/a0.dcm")' "$WORK/j.jsonl" | grep -c . || true)
# a0 is read by the real program, and denied to cat and to the writable one.
assert_eq 2 "$n" "denials of a0.dcm"
finish
