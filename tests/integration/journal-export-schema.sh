#!/bin/bash
# journal-export-schema: what `medfs-journal export` makes of a real journal
# (written by the library's writer through the journal-sample helper) is
# valid: every DICOM audit message against the PS3.15 A.5.1 schema with
# `jing -c` (one file per message, and the messages of one stream split
# apart), the FHIR bundle and each JSON line as JSON. Needs jing (skipped,
# exit 77, without it); the JSON checks need python3. No mount, no root.
set -eu

src=${MEDFS_SOURCE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
build=${MEDFS_BUILD_DIR:-$src/build}
if [ -n "${MEDFS:-}" ]; then
	build=$(dirname "$MEDFS")
fi
MEDFS_JOURNAL=${MEDFS_JOURNAL:-$build/medfs-journal}
JOURNAL_SAMPLE=${JOURNAL_SAMPLE:-$build/tests/journal-sample}
SCHEMA=$src/tests/data/dicom/audit-message.rnc

if ! command -v jing >/dev/null; then
	echo "SKIP: jing is not installed (Debian package jing)"
	exit 77
fi
for exe in "$MEDFS_JOURNAL" "$JOURNAL_SAMPLE"; do
	if [ ! -x "$exe" ]; then
		echo "FAIL: $exe is not built (run ninja -C build)" >&2
		exit 1
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/medfs-journal-export-schema.XXXXXX")
trap 'rm -rf "$work"' EXIT
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
# jing prints its findings on stdout; its start-up warnings go away.
validate()
{
	jing -c "$SCHEMA" "$@" 2>/dev/null
}

step "a journal of two mounts"
"$MEDFS_JOURNAL" keygen --out "$work/auditor" >/dev/null
"$JOURNAL_SAMPLE" "$work/journal" "$work/auditor.pub" --segment-bytes 4096
"$JOURNAL_SAMPLE" "$work/journal" "$work/auditor.pub" --batch 1 --start 1741951613
"$MEDFS_JOURNAL" verify "$work/journal" --key "$work/auditor.key" --quiet ||
	fail "the sample journal does not verify"

step "the schema rejects what it must (jing really validates)"
cat >"$work/bad.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<AuditMessage>
  <EventIdentification EventActionCode="R" EventDateTime="2025-03-14T09:26:53Z" EventOutcomeIndicator="0">
    <EventID code="110103" displayName="DICOM Instances Accessed"/>
  </EventIdentification>
</AuditMessage>
XML
if validate "$work/bad.xml" >/dev/null; then
	fail "jing accepts a message in the old RFC 3881 form"
fi

step "export --format dicom --output-dir: one valid file per message"
"$MEDFS_JOURNAL" export "$work/journal" --key "$work/auditor.key" --format dicom \
	--output-dir "$work/xml" --source medfs@pacs-01 --site "Clinique Exemple" \
	--host ws-irm-02
n=$(find "$work/xml" -name 'audit-*.xml' | wc -l)
# per mount: 110100 mount and unmount; 110113 policy load, the denial, the
# integrity failure, emergency start and end; 110103 alice's study, bob's,
# carol's access under the emergency grant, create, write, rename, and a
# failed open
if [ "$n" -ne 28 ]; then
	fail "expected 28 messages, got $n"
fi
if ! out=$(validate "$work"/xml/audit-*.xml); then
	echo "$out" >&2
	fail "jing rejects exported messages"
fi
count()
{
	grep -l -- "$1" "$work"/xml/audit-*.xml | wc -l
}
[ "$(count '<EventID csd-code="110103"')" -eq 14 ] || fail "110103 messages: $(count '<EventID csd-code="110103"')"
[ "$(count '<EventID csd-code="110113"')" -eq 10 ] || fail "110113 messages: $(count '<EventID csd-code="110113"')"
[ "$(count '<EventID csd-code="110100"')" -eq 4 ] || fail "110100 messages"
[ "$(count '<EventTypeCode csd-code="110127"')" -eq 2 ] || fail "no emergency start (110127)"
[ "$(count '<EventTypeCode csd-code="110138"')" -eq 2 ] || fail "no emergency stop (110138)"
[ "$(count '<EventTypeCode csd-code="110132"')" -eq 2 ] || fail "no denial (110132)"
[ "$(count 'EventOutcomeIndicator="8"')" -eq 2 ] || fail "no integrity failure (outcome 8)"
# alice's three CT instances of one study: one message listing them
f=$(grep -l 'UserID="alice"' "$work"/xml/audit-*.xml | xargs grep -l 'NumberOfInstances="3"' | head -n 1)
if [ -z "$f" ]; then
	fail "no message groups alice's three instances"
else
	[ "$(grep -c '<Instance UID=' "$f")" -eq 3 ] || fail "$f: not 3 instances"
	grep -q 'ParticipantObjectID="PAT001"' "$f" || fail "$f: no patient"
	grep -q '6 records: open, read; 36864 bytes' "$f" || fail "$f: description"
fi

step "export --format dicom to a stream: each document valid"
"$MEDFS_JOURNAL" export "$work/journal" --key "$work/auditor.key" --format dicom \
	--output "$work/stream.xml" --group-window all
mkdir "$work/split"
awk -v dir="$work/split" '/^<\?xml / { n++ } { print > sprintf("%s/m-%04d.xml", dir, n) }' \
	"$work/stream.xml"
n=$(find "$work/split" -name 'm-*.xml' | wc -l)
# the seven access groups of the second mount join the first's
[ "$n" -eq 21 ] || fail "expected 21 messages with --group-window all, got $n"
if ! out=$(validate "$work"/split/m-*.xml); then
	echo "$out" >&2
	fail "jing rejects streamed messages"
fi
[ "$(stat -c %a "$work/stream.xml")" = 600 ] || fail "export file is not mode 0600"

step "filters apply to the export"
"$MEDFS_JOURNAL" export "$work/journal" --key "$work/auditor.key" --format dicom \
	--output-dir "$work/xml-patient" --patient PAT002
for f in "$work"/xml-patient/*.xml; do
	grep -q 'ParticipantObjectID="PAT002"' "$f" || fail "$f: not about PAT002"
done
validate "$work"/xml-patient/*.xml >/dev/null || fail "jing rejects filtered messages"

if command -v python3 >/dev/null; then
	step "export --format fhir: a valid JSON bundle of AuditEvents"
	"$MEDFS_JOURNAL" export "$work/journal" --key "$work/auditor.key" --format fhir \
		>"$work/bundle.json" 2>/dev/null
	python3 - "$work/bundle.json" <<'PY' || fail "the FHIR bundle"
import json, sys
b = json.load(open(sys.argv[1]))
assert b["resourceType"] == "Bundle" and b["type"] == "collection", b.keys()
events = [e["resource"] for e in b["entry"]]
assert len(events) == 28, len(events)
for ev in events:
    assert ev["resourceType"] == "AuditEvent"
    assert ev["outcome"] in ("0", "4", "8")
    assert ev["source"]["observer"]["display"]
    assert any(a["requestor"] for a in ev["agent"])
    assert all("network" not in a for a in ev["agent"])
codes = [ev["type"]["code"] for ev in events]
assert codes.count("110113") == 10, codes
ids = [ev["id"] for ev in events]
assert len(set(ids)) == len(ids), ids
PY

	step "export --format jsonl: one JSON object per record"
	"$MEDFS_JOURNAL" export "$work/journal" --key "$work/auditor.key" --format jsonl \
		>"$work/records.jsonl" 2>/dev/null
	python3 - "$work/records.jsonl" <<'PY' || fail "the JSON lines"
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
assert len(lines) == 38, len(lines)
recs = [json.loads(l) for l in lines]
assert [r["seq"] for r in recs] == sorted(r["seq"] for r in recs)
odd = [r for r in recs if r["path"] and r["path"].startswith("/tmp/b0/")][0]
assert odd["path"] == "/tmp/b0/\x1b[31mred\nline\ufffd", repr(odd["path"])
assert odd["error"] == "ENOENT"
rd = [r for r in recs if r["op"] == "read" and r["user"] == "alice"][0]
assert rd["ranges"] == [{"offset": 0, "length": 4096}, {"offset": 65536, "length": 8192}]
assert rd["patient_id"] == "PAT001" and rd["modality"] == "CT"
PY
else
	echo "(python3 not installed: JSON checks skipped)"
fi

if [ "$fails" -ne 0 ]; then
	echo "journal-export-schema: $fails failure(s)" >&2
	exit 1
fi
echo "journal-export-schema: all checks passed"
