#!/bin/bash
# journal-crash: the driver killed with SIGKILL in the middle of a loop of
# creates, writes, opens and reads loses no open: each one made before the
# kill is in the journal, which verifies (the unsealed tail is only a
# warning). The next mount seals that tail, continues the chain, and the
# journal still verifies.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
if ! command -v jq >/dev/null; then
	echo "SKIP: jq not installed"
	exit 77
fi

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
J=$V/journal
DONE=$WORK/done
make_passfile "$P" "journal crash test passphrase"
make_vault "$V" "$P"
mount_vault "$V" "$M" "$P"
pid=${DRIVER_PID[$M]:-}
[ -n "$pid" ] || fail "no driver pid for $M"

step "a loop of creates and reads, and the driver killed under it"
# Each name goes to $DONE only once its create and its read returned.
(
	i=0
	while :; do
		i=$((i + 1))
		head -c $((i * 1000)) /dev/zero >"$M/f$i" 2>/dev/null || exit 0
		cat "$M/f$i" >/dev/null 2>&1 || exit 0
		echo "f$i" >>"$DONE"
	done
) &
loop=$!
# Killed once a few files are done (up to 60 s: a slow build, such as the
# sanitizers', takes more than a second for the first ones), in the
# middle of the next ones.
n=0
while [ "$(cat "$DONE" 2>/dev/null | wc -l)" -lt 5 ] && [ "$n" -lt 600 ]; do
	n=$((n + 1))
	sleep 0.1
done
sleep 0.5
kill -9 "$pid"
wait "$loop" || true
wait_pid_gone "$pid" 10 || fail "the killed driver $pid is still there"
unset "DRIVER_PID[$M]"
fusermount3 -u "$M" 2>/dev/null || umount -l "$M"
assert_not_mounted "$M"
n=$(grep -c . "$DONE" || true)
echo "$n files created and read before the kill"
[ "$n" -ge 5 ] || fail "only $n files made before the kill"

# check_opens WHAT: every file of $DONE has its create and its open
# (by cat) journaled, with a read range.
check_opens()
{
	local f missing=0
	"$MEDFS_JOURNAL" export "$J" --key "$AUDITOR.key" --format jsonl >"$WORK/j.jsonl" 2>/dev/null ||
		fail "$1: medfs-journal export failed"
	jq -r 'select(.op == "create" or .op == "open") | "\(.op) \(.path)"' "$WORK/j.jsonl" |
		sort -u >"$WORK/opens"
	while read -r f; do
		grep -qx "create /$f" "$WORK/opens" || { fail "$1: no create of /$f"; missing=$((missing + 1)); }
		grep -qx "open /$f" "$WORK/opens" || { fail "$1: no open of /$f"; missing=$((missing + 1)); }
	done <"$DONE"
	echo "$1: every create and open of the $(grep -c . "$DONE") files is journaled ($missing missing)"
}

step "the journal after the crash: verifies, and holds every open"
out=$("$MEDFS_JOURNAL" verify "$J" --key "$AUDITOR.key" 2>&1) || fail "verify after the crash: $out"
echo "$out" | tail -n 3
check_opens "after the crash"
# Reads were flushed at least every second: all but the last ones are in.
reads=$(jq -r 'select(.op == "read") | .path' "$WORK/j.jsonl" | sort -u | grep -c . || true)
[ "$reads" -ge $((n - 20)) ] || fail "only $reads files have read records, of $n read"

step "a remount continues the chain"
mount_vault "$V" "$M" "$P"
echo after >"$M/after-crash"
cat "$M/after-crash" >/dev/null
unmount "$M"
out=$("$MEDFS_JOURNAL" verify "$J" --key "$AUDITOR.key" 2>&1) || fail "verify after the remount: $out"
echo "$out" | tail -n 3
if grep -q "^WARNING" <<<"$out"; then
	fail "verify after a clean unmount still warns: $out"
fi
check_opens "after the remount"
assert_eq 2 "$(jq -c 'select(.op == "mount")' "$WORK/j.jsonl" | grep -c .)" "mount records"
assert_eq 1 "$(jq -c 'select(.op == "create" and .path == "/after-crash")' "$WORK/j.jsonl" | grep -c .)" \
	"the create after the remount"
finish
