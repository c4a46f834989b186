#!/bin/bash
# journal-forge: a host compromised at time T holds the writer's STATE and
# key; afterwards it can still append records (inherent: doc/JOURNAL.md
# section 12), but not date them before T, nor slip them into a segment
# the writer closed, nor start a segment of its own without the writer's
# journal-open record: verify reports each, at the forged record. The
# journal is written by the library's writer (journal-sample, as the
# driver would), the forged records by journal-forge, which holds a copy
# of STATE and the state key and appends as the writer does. No mount.
set -eu

src=${MEDFS_SOURCE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
build=${MEDFS_BUILD_DIR:-$src/build}
if [ -n "${MEDFS:-}" ]; then
	build=$(dirname "$MEDFS")
fi
J=${MEDFS_JOURNAL:-$build/medfs-journal}
SAMPLE=${JOURNAL_SAMPLE:-$build/tests/journal-sample}
FORGE=${JOURNAL_FORGE:-$build/tests/journal-forge}
for exe in "$J" "$SAMPLE" "$FORGE"; do
	if [ ! -x "$exe" ]; then
		echo "FAIL: $exe is not built (run ninja -C build)" >&2
		exit 1
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/medfs-journal-forge.XXXXXX")
trap 'rm -rf "$work"' EXIT
fails=0
fail()
{
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

"$J" keygen --out "$work/auditor" >/dev/null
# One clinic day from 2025-03-14T09:26:53Z (T is its end, 09:27:07).
"$SAMPLE" "$work/j" "$work/auditor.pub"
"$J" verify "$work/j" --key "$work/auditor.key" >"$work/out" 2>&1 ||
	fail "the sample journal does not verify"
cp -a "$work/j" "$work/clean"
BEFORE=1741940000 # 2025-03-14T08:13:20Z, before T
AFTER=$(($(date +%s) + 3600))

# forged MODE TIME: a copy of the clean journal with one forged record;
# prints its segment and seq ("segment N seq M").
forged()
{
	rm -rf "$work/f"
	cp -a "$work/clean" "$work/f"
	"$FORGE" "$work/f" "$work/auditor.pub" "$1" "$2"
}
# verify_reports WHERE TEXT: verify fails and reports TEXT at WHERE.
verify_reports()
{
	local got=0
	"$J" verify "$work/f" --key "$work/auditor.key" >"$work/out" 2>&1 || got=$?
	[ "$got" -eq 1 ] || fail "verify exit $got, not 1, for: $2"
	grep -F "$1" "$work/out" | grep -qF "$2" || {
		fail "verify does not report '$2' at $1"
		sed 's/^/  | /' "$work/out" >&2
	}
}
where()
{
	set -- $1
	printf 'seg-%016d.mdj record %s' "$2" "$4"
}

echo "== a backdated record appended to the last segment"
at=$(where "$(forged append $BEFORE)")
"$J" show "$work/f" --key "$work/auditor.key" --patient PAT-FORGED >"$work/show"
grep -q mallory "$work/show" || fail "the forged record is not in the journal"
verify_reports "$at" "time went backwards"
verify_reports "$at" "closed segment"

echo "== a record dated after T, appended to the closed segment"
at=$(where "$(forged append $AFTER)")
verify_reports "$at" "closed segment"

echo "== a new segment without the writer's journal-open record"
at=$(where "$(forged segment $AFTER)")
verify_reports "$at" "not with a writer's journal-open record"

echo "== a new session, opened as a writer would, with a backdated record"
at=$(where "$(forged session $BEFORE)")
verify_reports "$at" "time went backwards"
grep -c '^ERROR' "$work/out" | grep -qx 1 || fail "more than one error: $(cat "$work/out")"

echo "== a new segment of the format of before these checks"
forged old $BEFORE >/dev/null
verify_reports "seg-0000000000000002.mdj" "format version 1 after"

echo "== the same session dated after T: accepted (inherent, documented)"
forged session $AFTER >/dev/null
"$J" verify "$work/f" --key "$work/auditor.key" >"$work/out" 2>&1 ||
	fail "a record appended after T by the STATE holder is refused: $(cat "$work/out")"

if [ "$fails" -ne 0 ]; then
	echo "journal-forge: $fails failure(s)" >&2
	exit 1
fi
echo "journal-forge: ok"
