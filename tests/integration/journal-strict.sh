#!/bin/bash
# journal-strict: which reads reach the journal. By default each open
# starts with an empty page cache, so two readers one after the other are
# both journaled, but a reader whose open came before another's reads is
# served from the cache they filled, unrecorded. With -o audit=strict every
# read(2) reaches the driver: both overlapping readers are journaled, and
# a re-read counts its bytes again; shared writable and read-only maps
# still work (their page-ins are journaled as reads).
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
if ! command -v perl >/dev/null; then
	echo "SKIP: perl not installed"
	exit 77
fi

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
J=$WORK/journal
make_passfile "$P" "journal strict test passphrase"
make_vault "$V" "$P"
SIZE=65536

# readers FILE: opens FILE twice, then reads it whole through the first
# handle, then through the second, then the first again from the start.
readers()
{
	perl -e '
		open(my $a, "<", $ARGV[0]) or die "open: $!";
		open(my $b, "<", $ARGV[0]) or die "open: $!";
		my $buf;
		sysread($a, $buf, 1 << 20) == $ARGV[1] or die "read a";
		sysread($b, $buf, 1 << 20) == $ARGV[1] or die "read b";
		sysseek($a, 0, 0);
		sysread($a, $buf, 1 << 20) == $ARGV[1] or die "read a again";
	' "$1" "$SIZE"
}

# reads FILE: the read records of FILE, as "bytes" per record, sorted.
reads()
{
	"$MEDFS_JOURNAL" export "$J" --key "$AUDITOR.key" --format jsonl 2>/dev/null |
		grep -F "\"path\":\"$1\"" | grep -F '"op":"read"' |
		sed -n 's/.*"bytes":\([0-9]*\).*/\1/p' | sort -n | tr '\n' ' ' | sed 's/ $//'
}

step "default: a second, overlapping reader is served from the cache"
mount_vault "$V" "$M" "$P" -o journal="$J"
head -c $SIZE /dev/urandom >"$WORK/data"
cp "$WORK/data" "$M/a.dcm"
"$RWCHECK" write "$M/seq.dcm" $SIZE 1 || fail "write seq.dcm"
unmount "$M"
mount_vault "$V" "$M" "$P" -o journal="$J"
readers "$M/a.dcm" || fail "readers of a.dcm"
"$RWCHECK" verify "$M/seq.dcm" $SIZE 1 || fail "first reader of seq.dcm"
"$RWCHECK" verify "$M/seq.dcm" $SIZE 1 || fail "second reader of seq.dcm"
unmount "$M"
assert_eq "$SIZE $SIZE" "$(reads /seq.dcm)" "read records of two successive readers (default)"
assert_eq "$SIZE" "$(reads /a.dcm)" "read records of two overlapping readers (default: one)"

step "audit=strict: every read is journaled"
rm -rf "$J"
mount_vault "$V" "$M" "$P" -o journal="$J",journal_restart,audit=strict
readers "$M/a.dcm" || fail "readers of a.dcm"
"$RWCHECK" verify "$M/seq.dcm" $SIZE 1 || fail "first reader of seq.dcm"
"$RWCHECK" verify "$M/seq.dcm" $SIZE 1 || fail "second reader of seq.dcm"
cmp "$WORK/data" "$M/a.dcm" || fail "content of a.dcm under audit=strict"

step "audit=strict: maps still work"
SHM=32768
BIG=$((1 << 20 | 123))
"$RWCHECK" mmap-write "$M/index-shm" $SHM 1 || fail "shared writable map of a new file"
"$RWCHECK" mmap-write "$M/mapped.bin" $BIG 2 || fail "shared writable map of a new $BIG-byte file"
"$RWCHECK" mmap-update "$M/mapped.bin" $BIG 2 3 || fail "shared writable map of an existing file"
"$RWCHECK" verify "$M/mapped.bin" $BIG 3 || fail "read(2) after a shared map"
"$RWCHECK" mmap-read "$M/mapped.bin" $BIG 3 || fail "read-only map"
"$RWCHECK" mmap-read "$M/seq.dcm" $SIZE 1 || fail "read-only map of seq.dcm"
unmount "$M"
mount_vault "$V" "$M" "$P" -o journal="$J",audit=strict
"$RWCHECK" verify "$M/mapped.bin" $BIG 3 || fail "mapped file after a remount"
"$RWCHECK" verify "$M/index-shm" $SHM 1 || fail "-shm after a remount"
unmount "$M"
assert_eq "$SIZE $SIZE $((2 * SIZE))" "$(reads /a.dcm)" \
	"read records of two overlapping readers, the first reading twice (strict)"
# two read(2) readers, and the page-ins of rwcheck's two maps (shared,
# then private: each mmap drops the cached pages, so both read them)
assert_eq "$SIZE $SIZE $((2 * SIZE))" "$(reads /seq.dcm)" "read records of seq.dcm (strict)"
"$MEDFS_JOURNAL" show "$J" --key "$AUDITOR.key" --op mount 2>/dev/null | grep -q "audit=strict" ||
	fail "the mount record does not say audit=strict"
finish
