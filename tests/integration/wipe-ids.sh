#!/bin/bash
# wipe-ids: the driver keeps no copy of a DICOM file's patient identifiers
# once it is done with them (issue 15). DICOM files are written, read,
# rewritten for another patient (an attribution record), renamed and
# removed through the mount; then, with every file closed, the driver's
# writable memory (/proc/PID/mem) is searched for the two patient IDs and
# the study UID: each may show only where it sits in a copy of the file's
# bytes (after its element's tag, as in the file: the blocks the driver
# was handed), never as the copies the journal glue makes (identifiers,
# metadata records, journal records) left behind on a stack or in freed
# memory.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
if ! command -v python3 >/dev/null; then
	echo "SKIP: python3 not installed"
	exit 77
fi

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
DCM=$MEDFS_SOURCE_ROOT/tests/data/dicom/ct-explicit-deflen.dcm
# Identifiers found nowhere else (the same lengths as the fixture's).
ID1=ZQ7W41
ID2=KV3X88
STUDY=1.2.826.0.1.3680043.8.498.1001
make_passfile "$P" "wipe ids test passphrase"
make_vault "$V" "$P"

# The fixture (patient PAT001) for another patient.
python3 - "$DCM" "$WORK/a.dcm" "$ID1" "$WORK/b.dcm" "$ID2" <<'PY'
import sys
src = open(sys.argv[1], "rb").read()
assert src.count(b"PAT001") == 1
for out, pid in ((sys.argv[2], sys.argv[3]), (sys.argv[4], sys.argv[5])):
    open(out, "wb").write(src.replace(b"PAT001", pid.encode()))
PY

mount_vault "$V" "$M" "$P"
PID=$(driver_pid "$M")
[ -n "$PID" ] || fail "no driver process for $M"

step "DICOM files written, read, re-attributed, renamed, removed"
for i in 1 2 3 4; do
	cp "$WORK/a.dcm" "$M/x$i"
	cat "$M/x$i" >/dev/null
	cp "$WORK/b.dcm" "$M/x$i" # another patient: an attribution record
	cat "$M/x$i" >/dev/null
	mv "$M/x$i" "$M/y$i"
	cmp -s "$WORK/b.dcm" "$M/y$i" || fail "y$i reads back wrong"
done
cp "$WORK/a.dcm" "$M/kept"
rm -f "$M"/y*
ls -l "$M" >/dev/null
sleep 1

step "the driver's memory holds no identifier outside the file's bytes"
python3 - "$PID" "$ID1" "$ID2" "$STUDY" >"$WORK/stray" 2>"$WORK/stray.ctx" <<'PY' ||
import re
import sys

pid = int(sys.argv[1])
# The element tags before each value in the file, little endian.
tags = {sys.argv[2].encode(): b"\x10\x00\x20\x00", sys.argv[3].encode(): b"\x10\x00\x20\x00",
        sys.argv[4].encode(): b"\x20\x00\x0d\x00"}
stray = 0
with open("/proc/%d/maps" % pid) as maps, open("/proc/%d/mem" % pid, "rb", 0) as mem:
    for line in maps:
        f = line.split()
        if not f[1].startswith("rw") or (len(f) > 5 and f[5] in ("[vvar]", "[vsyscall]")):
            continue
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        # Regions over 1 GiB are reservations, not the driver's data:
        # ASan's shadow memory (terabytes) under the sanitizer build.
        if hi - lo > 1 << 30:
            continue
        # In chunks of 16 MiB, each read with 64 bytes on both sides, a
        # match counted in the chunk where it starts.
        at = lo
        while at < hi:
            start = max(lo, at - 64)
            try:
                mem.seek(start)
                data = mem.read(min(hi, at + (16 << 20) + 64) - start)
            except (OSError, OverflowError):
                break
            for ident, tag in tags.items():
                # The identifier itself, not the start of a longer UID.
                for m in re.finditer(re.escape(ident) + rb"(?![0-9.])", data):
                    s = m.start()
                    if not at <= start + s < at + (16 << 20):
                        continue  # the chunk before's, or the next one's
                    if data[max(0, s - 8):s - 4] == tag:
                        continue  # the file's own bytes
                    stray += 1
                    print("%s %s +%#x: %r" % (ident.decode(),
                                             f[5] if len(f) > 5 else "anon",
                                             start + s - lo,
                                             data[max(0, s - 40):s + 40]), file=sys.stderr)
            at += 16 << 20
print(stray)
PY
	fail "cannot read the driver's memory: $(cat "$WORK/stray.ctx")"
assert_eq 0 "$(cat "$WORK/stray")" "identifiers left in the driver's memory ($(head -c 3000 "$WORK/stray.ctx"))"
unmount "$M"
finish
