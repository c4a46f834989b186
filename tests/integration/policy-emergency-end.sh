#!/bin/bash
# policy-emergency-end: what an emergency grant opened dies with it. A
# user opens a file (read and write) under a grant and keeps the
# descriptor; once the grant ends (removed by its holder, or expired),
# reads (also of ranges read before, which the kernel then forgets),
# writes and ftruncate through
# that descriptor fail with EACCES, each refusal logged and journaled as a
# denial; the grant's summary counts the reads and writes made under it.
# A reason longer than 4,000 bytes is refused with E2BIG (never cut), and
# one of exactly 4,000 bytes is taken whole.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR
# shellcheck source=policy-lib.sh
. "$(dirname "$0")/policy-lib.sh"
for _cmd in setfattr getfattr /usr/bin/python3 jq; do
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
J=$V/journal
make_passfile "$P" "policy emergency end test passphrase"
make_vault "$V" "$P"

step "the tree"
mount_vault "$V" "$M" "$P"
mkdir -p "$M/studies/s1"
random_file "$M/studies/s1/a.dcm" $((8 << 20))
chmod 0777 "$M"
chmod 0666 "$M/studies/s1/a.dcm"
unmount "$M"

mk_group PHYS phys
mk_user ALICE alice "$PHYS"
write_policy "$POL" <<EOF
emergency-duration 4s
allow group:$PHYS list /
emergency allow group:$PHYS list,read,write /studies/**
EOF
mount_fg "$V" "$M" "$P" "$LOG" -o allow_other,policy="$POL"
AUID=$(id -u "$ALICE")
F=$M/studies/s1/a.dcm

# The holder: a process of alice that opens F read-write, says "opened"
# (or the errno), then runs one "read OFFSET" (64 KiB), "write OFFSET"
# (one byte) or "ftruncate SIZE" per line and answers OK or the errno.
cat >"$WORK/bin/holder" <<'EOF'
import errno, os, sys
try:
    fd = os.open(sys.argv[1], os.O_RDWR)
    print("opened", flush=True)
except OSError as e:
    print(errno.errorcode[e.errno], flush=True)
    sys.exit(1)
for line in sys.stdin:
    op, arg = line.split()
    try:
        if op == "read":
            os.pread(fd, 65536, int(arg))
        elif op == "write":
            os.pwrite(fd, b"x", int(arg))
        else:
            os.ftruncate(fd, int(arg))
        print("OK", flush=True)
    except OSError as e:
        print(errno.errorcode[e.errno], flush=True)
EOF
chmod 0644 "$WORK/bin/holder"

# ask OP ARG WANT: one request to the holder, its answer checked.
ask()
{
	local got
	echo "$1 $2" >&"${HOLDER[1]}"
	read -r -t 20 got <&"${HOLDER[0]}" || got="(no answer)"
	assert_eq "$3" "$got" "alice's $1 at $2 through the descriptor"
}
# ask_until OP ARG WANT: asks again (up to 5 s) until the answer is WANT:
# the kernel's cached pages go a moment after the grant's end.
ask_until()
{
	local got n=0
	while :; do
		echo "$1 $2" >&"${HOLDER[1]}"
		read -r -t 20 got <&"${HOLDER[0]}" || got="(no answer)"
		[ "$got" != "$3" ] || return 0
		n=$((n + 1))
		[ "$n" -lt 50 ] || break
		sleep 0.1
	done
	fail "alice's $1 at $2 through the descriptor: expected '$3', got '$got' for 5 s"
}
start_holder()
{
	local got
	coproc HOLDER { as "$ALICE" /usr/bin/python3 "$WORK/bin/holder" "$F" 2>&1; }
	read -r -t 20 got <&"${HOLDER[0]}" || got="(no answer)"
	assert_eq opened "$got" "alice's open under the grant"
}
stop_holder()
{
	local pid=$HOLDER_PID
	eval "exec ${HOLDER[1]}>&-"
	wait "$pid" || true
}
hex() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
# accesses: alice's grant's count of accesses, as root lists it.
accesses()
{
	getfattr --absolute-names --only-values -n user.medfs.emergency.grants "$M" 2>/dev/null |
		sed -n "s/^uid=$AUID .* accesses=\([0-9]*\)$/\1/p"
}
REASON="cardiac arrest ward 3 DUPONT"

step "a reason longer than 4000 bytes is refused, not cut"
LONG=$(head -c 4001 /dev/zero | tr '\0' r)
got=$(as "$ALICE" "$UFSOP" setxattr "$M" user.medfs.emergency "$(hex "$LONG")" 2>&1) || true
assert_eq E2BIG "$got" "alice asks for a grant with a reason of 4001 bytes"
expect "$ALICE" ENODATA getxattr "$M" user.medfs.emergency
wait_log "$LOG" "emergency access refused: uid=$AUID: a reason of 4001 bytes" || true
out=$(as "$ALICE" setfattr -n user.medfs.emergency -v "$LONG" "$M" 2>&1) &&
	fail "setfattr with a reason of 4001 bytes succeeded"
grep -q "Argument list too long" <<<"$out" || fail "setfattr's error: '$out'"
expect "$ALICE" EACCES read "$F"
EXACT=$(head -c 3990 /dev/zero | tr '\0' e)MAXREASON
expect "$ALICE" OK setxattr "$M" user.medfs.emergency "$(hex "$EXACT")"
expect "$ALICE" OK removexattr "$M" user.medfs.emergency

step "a descriptor opened under a grant dies with it (ended by its holder)"
expect "$ALICE" OK setxattr "$M" user.medfs.emergency "$(hex "$REASON")"
start_holder
before=$(accesses)
ask read 0 OK
ask read $((1 << 20)) OK
ask write 100 OK
after=$(accesses)
[ -n "$before" ] && [ -n "$after" ] && [ "$after" -ge $((before + 3)) ] ||
	fail "the reads and writes through the descriptor are not counted: $before then $after"
expect "$ALICE" OK removexattr "$M" user.medfs.emergency
wait_log "$LOG" "emergency access of uid=$AUID ended by its holder after" || true
wait_log "$LOG" "1 files opened under it are refused from now on" || true
ask read $((2 << 20)) EACCES
ask_until read 0 EACCES # what was read before the end, cached by the kernel
ask write 200 EACCES
ask ftruncate 100 EACCES
wait_log "$LOG" "denied: uid=$AUID op=read right=read rule=0: the emergency grant" || true
wait_log "$LOG" "denied: uid=$AUID op=write right=write rule=0: the emergency grant" || true
step "a new grant does not revive the old descriptor"
expect "$ALICE" OK setxattr "$M" user.medfs.emergency "$(hex "$REASON")"
ask read $((3 << 20)) EACCES
expect "$ALICE" OK read "$F"
expect "$ALICE" OK removexattr "$M" user.medfs.emergency
stop_holder

step "a descriptor opened under a grant dies with it (expired)"
expect "$ALICE" OK setxattr "$M" user.medfs.emergency "$(hex "$REASON")"
start_holder
ask read $((4 << 20)) OK
sleep 4.5
ask read $((5 << 20)) EACCES
ask_until read $((4 << 20)) EACCES
ask write 300 EACCES
wait_log "$LOG" "emergency access of uid=$AUID expired after" || true
stop_holder
log_has_no_path "$LOG" DUPONT MAXREASON studies a.dcm
unmount "$M"

step "what reached the file"
mount_vault "$V" "$M" "$P"
[ "$(head -c 101 "$F" | tail -c 1)" = x ] || fail "the write under the grant did not reach the file"
[ "$(head -c 201 "$F" | tail -c 1)" != x ] || fail "a write after the grant's end reached the file"
[ "$(head -c 301 "$F" | tail -c 1)" != x ] || fail "a write after the grant's expiry reached the file"
assert_eq $((8 << 20)) "$(fsize "$F")" "the size after an ftruncate refused"
unmount "$M"

step "the journal: the reason whole, the refusals as denials, the counts"
"$MEDFS_JOURNAL" export "$J" --key "$AUDITOR.key" --format jsonl >"$WORK/j.jsonl" 2>/dev/null ||
	fail "medfs-journal export failed"
count() { jq -c "select($1)" "$WORK/j.jsonl" | grep -c . || true; }
assert_eq 1 "$(count '.op == "emergency-start" and (.detail | endswith("MAXREASON"))')" \
	"grants whose reason of 4000 bytes is journaled whole"
assert_eq 0 "$(count '.op == "emergency-start" and (.detail | contains("rrrr"))')" \
	"grants with the refused reason"
denials=$(count '.op == "denied" and .path == "/studies/s1/a.dcm" and .result == 13 and (.detail | contains("emergency grant has ended"))')
[ "$denials" -ge 8 ] || fail "journaled refusals through the descriptors: $denials, expected 8"
n=$(jq -r 'select(.op == "emergency-end" and (.detail | startswith("ended by its holder"))) | .detail' "$WORK/j.jsonl" | sed -n 2p | sed 's/.* after \([0-9]*\) accesses/\1/')
[ -n "$n" ] && [ "$n" -ge 3 ] || fail "the summary of the grant of the first descriptor: '$n' accesses"
finish
