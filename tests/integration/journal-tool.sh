#!/bin/bash
# journal-tool: medfs-journal on a real journal (written by the library's
# writer through the journal-sample helper): keygen, verify (intact and
# tampered), show with every filter and its escaping of hostile names,
# tail -n and tail -f following a writer, prune then verify, and the exit
# statuses of misuse. No mount, no root.
set -eu

src=${MEDFS_SOURCE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
build=${MEDFS_BUILD_DIR:-$src/build}
if [ -n "${MEDFS:-}" ]; then
	build=$(dirname "$MEDFS")
fi
J=${MEDFS_JOURNAL:-$build/medfs-journal}
SAMPLE=${JOURNAL_SAMPLE:-$build/tests/journal-sample}
for exe in "$J" "$SAMPLE"; do
	if [ ! -x "$exe" ]; then
		echo "FAIL: $exe is not built (run ninja -C build)" >&2
		exit 1
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/medfs-journal-tool.XXXXXX")
tail_pid=
cleanup()
{
	if [ -n "$tail_pid" ]; then
		kill "$tail_pid" 2>/dev/null || true
		wait "$tail_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
fails=0
fail()
{
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}
step()
{
	echo "== $*"
}
# expect STATUS COMMAND...: runs COMMAND, output to $work/out and $work/err
expect()
{
	local want=$1 got=0
	shift
	"$@" >"$work/out" 2>"$work/err" || got=$?
	if [ "$got" -ne "$want" ]; then
		fail "exit $got, not $want: $*"
		sed 's/^/  | /' "$work/err" >&2
	fi
}
has()
{
	grep -q -- "$1" "$work/out" || fail "output lacks '$1'"
}
lacks()
{
	! grep -q -- "$1" "$work/out" || fail "output has '$1'"
}
rows()
{
	# table rows, without the header
	tail -n +2 "$work/out" | grep -c . || true
}

K=$work/auditor.key
D=$work/journal

step "keygen"
expect 0 "$J" keygen --out "$work/auditor"
[ "$(stat -c %a "$K")" = 600 ] || fail "the secret key is not mode 0600"
grep -q '^medfs-auditor-v1 ' "$work/auditor.pub" || fail "public key format"
expect 1 "$J" keygen --out "$work/auditor"
grep -q 'exists already' "$work/err" || fail "keygen overwrote or said nothing"
expect 2 "$J" keygen

step "a journal of one mount, verified"
"$SAMPLE" "$D" "$work/auditor.pub" --segment-bytes 2048
expect 0 "$J" verify "$D" --key "$K"
has "intact (0 errors"
# the key may be named by its prefix
expect 0 "$J" verify "$D" --key "$work/auditor" --quiet
[ ! -s "$work/out" ] || fail "verify --quiet printed something"

step "show: the table and its filters"
expect 0 "$J" show "$D" --key "$K"
head -n 1 "$work/out" | grep -q '^TIME (UTC) *USER(UID) *PROGRAM\[PID\] *OP *PATH *RESULT *BYTES *PATIENT/STUDY *E *DETAIL$' ||
	fail "table header: $(head -n 1 "$work/out")"
[ "$(rows)" -eq 19 ] || fail "show: $(rows) rows, not 19"
has "alice(1000) *weasis\[4242\] *read *"
has "12288 \[0+4096,65536+8192\]"
has "EACCES rule:12"
has "@8192"
has "PAT002/1.2.826.0.1.3680043.8.498.2  *E"
has "/reports/b0/résumé \"1\".pdf -> /reports/b0/final.pdf"
# a hostile name reaches the terminal escaped, on one line
has '/tmp/b0/\\x1b\[31mred\\x0aline\\xff'
if grep -q "$(printf '\033')" "$work/out"; then
	fail "an escape character reached the table"
fi
expect 0 "$J" show "$D" --key "$K" --patient PAT002
[ "$(rows)" -eq 2 ] || fail "--patient PAT002: $(rows) rows"
has "bob(1001)"
has "carol(1003)"
expect 0 "$J" show "$D" --key "$K" --user alice --op read,open
[ "$(rows)" -eq 7 ] || fail "--user alice --op read,open: $(rows) rows"
expect 0 "$J" show "$D" --key "$K" --user 1002
[ "$(rows)" -eq 1 ] || fail "--user 1002: $(rows) rows"
has "mallory"
expect 0 "$J" show "$D" --key "$K" --path '/reports/*'
[ "$(rows)" -eq 3 ] || fail "--path: $(rows) rows"
expect 0 "$J" show "$D" --key "$K" --path '*/final.pdf'
[ "$(rows)" -eq 1 ] || fail "--path matching a rename target: $(rows) rows"
expect 0 "$J" show "$D" --key "$K" --since 2025-03-14T09:27:01 --until "2025-03-14 09:27:03Z"
[ "$(rows)" -eq 2 ] || fail "--since/--until: $(rows) rows"
expect 0 "$J" show "$D" --key "$K" --since 2025-03-14T10:27:01+01:00 --until 2025-03-14T09:27:01.5
[ "$(rows)" -eq 1 ] || fail "--since with an offset: $(rows) rows"
expect 0 "$J" show "$D" --key "$K" --study 1.2.826.0.1.3680043.8.498.1 --op integrity
[ "$(rows)" -eq 1 ] || fail "--study --op integrity: $(rows) rows"
expect 0 "$J" show "$D" --key "$K" --since 2025-03-15
[ "$(rows)" -eq 0 ] || fail "--since after every record: $(rows) rows"
expect 2 "$J" show "$D" --key "$K" --since 2025-02-30
expect 2 "$J" show "$D" --key "$K" --op nonsense
expect 2 "$J" show "$D"
expect 2 "$J" show "$D" --key "$K" --bogus
expect 1 "$J" show "$work/nowhere" --key "$K"

step "another auditor's key opens nothing"
"$J" keygen --out "$work/other" >/dev/null
expect 1 "$J" show "$D" --key "$work/other.key"
expect 1 "$J" verify "$D" --key "$work/other.key"

step "tail -n, and tail -f following a writer"
expect 0 "$J" tail -n 2 "$D" --key "$K"
[ "$(rows)" -eq 2 ] || fail "tail -n 2: $(rows) rows"
has "unmount"
"$J" tail -f -n 1 "$D" --key "$K" --op read >"$work/follow" 2>"$work/follow.err" &
tail_pid=$!
sleep 1
"$SAMPLE" "$D" "$work/auditor.pub" --batch 1 --start 1741948013 --segment-bytes 2048
for _ in $(seq 50); do
	[ "$(grep -c '/pacs/b1/' "$work/follow" || true)" -ge 5 ] && break
	sleep 0.2
done
kill "$tail_pid"
wait "$tail_pid" || true
tail_pid=
[ "$(grep -c '/pacs/b0/' "$work/follow" || true)" -eq 1 ] || fail "tail -f -n 1: not one past record"
[ "$(grep -c '/pacs/b1/' "$work/follow" || true)" -eq 5 ] ||
	fail "tail -f: $(grep -c '/pacs/b1/' "$work/follow" || true) new reads, not 5"
expect 0 "$J" verify "$D" --key "$K"

step "verify names a modified record"
cp -a "$D" "$work/tampered"
seg=$(find "$work/tampered" -name 'seg-*.mdj' | sort | sed -n 2p)
printf '\x00' | dd of="$seg" bs=1 seek=600 conv=notrunc 2>/dev/null
expect 1 "$J" verify "$work/tampered" --key "$K"
has "^ERROR: .*$(basename "$seg") record [0-9]*: "
has "NOT INTACT"
# show skips what does not authenticate, says so, and fails
expect 1 "$J" show "$work/tampered" --key "$K"
grep -q 'does not authenticate, skipped' "$work/err" || fail "show did not report the bad record"

step "prune"
nseg=$(find "$D" -name 'seg-*.mdj' | wc -l)
expect 0 "$J" prune "$D" --before 2000-01-01 --key "$K"
has "removed 0 segments"
expect 2 "$J" prune "$D" --before yesterday --key "$K"
expect 1 "$J" prune "$work/tampered" --before 2999-01-01 --key "$K"
[ "$(find "$work/tampered" -name 'seg-*.mdj' | wc -l)" -eq "$nseg" ] ||
	fail "prune removed segments of a journal that does not verify"
expect 0 "$J" prune "$D" --before 2999-01-01 --key "$K"
has "removed $((nseg - 1)) segments"
[ "$(find "$D" -name 'seg-*.mdj' | wc -l)" -eq 1 ] || fail "prune did not keep only the last segment"
[ -f "$D/PRUNED" ] || fail "no PRUNED manifest"
expect 0 "$J" verify "$D" --key "$K"
has "segments pruned"

step "usage"
expect 0 "$J" --help
expect 0 "$J" help export
has "--format"
for c in keygen verify show tail export prune; do
	expect 0 "$J" "$c" --help
done
expect 2 "$J"
expect 2 "$J" frobnicate

if [ "$fails" -ne 0 ]; then
	echo "journal-tool: $fails failure(s)" >&2
	exit 1
fi
echo "journal-tool: all checks passed"
