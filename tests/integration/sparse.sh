#!/bin/bash
# sparse: holes cost no space and stay authenticated, and sizes past the
# largest file answer EFBIG (doc/FORMAT.md, 11; issue 15). A 64 GiB file on
# a vault whose disk is a 64 MiB tmpfs: it reads as zeros, a write in its
# middle reads back, the vault stays small; a written block zeroed in the
# vault reads EIO while the holes around it still read zeros; a removed or
# altered hole map makes the file EIO.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

VFS=$WORK/vaultfs
V=$VFS/vault
J=$WORK/journal
M=$WORK/mnt
P=$WORK/pass
G64=$((64 << 30))
MAX=$((1 << 44))
mkdir -p "$VFS"
if ! mount -t tmpfs -o size=64m,mode=0700 medfs-sparse "$VFS"; then
	fail "cannot mount the test's tmpfs"
	exit 1
fi
make_passfile "$P" "sparse test passphrase"
make_vault "$V" "$P"
mount_vault "$V" "$M" "$P" -o journal="$J"

vault_kib() { du -sk "$V" | cut -f1; }

step "truncate to 64 GiB: no space, zeros"
truncate -s "$G64" "$M/big" || fail "truncate -s 64G"
assert_eq "$G64" "$(fsize "$M/big")" "size"
[ "$(vault_kib)" -lt 4096 ] || fail "the vault holds $(vault_kib) KiB after truncate"
for off in 0 $((1 << 30)) $((G64 - 4096)); do
	cmp <(dd if="$M/big" bs=4096 skip=$((off / 4096)) count=1 status=none) \
		<(head -c 4096 /dev/zero) || fail "the hole at $off is not zeros"
done

step "a write in the middle reads back; the holes around it still zeros"
random_file "$WORK/mid" $((1 << 20))
dd if="$WORK/mid" of="$M/big" bs=1M seek=$((32 << 10)) conv=notrunc status=none ||
	fail "the write at 32 GiB"
# Not on a block boundary either.
random_file "$WORK/odd" 10000
dd if="$WORK/odd" of="$M/big" bs=1 seek=$(((16 << 30) + 1234)) conv=notrunc status=none ||
	fail "the write at 16 GiB + 1234"
assert_eq "$G64" "$(fsize "$M/big")" "size after the writes"
cmp <(dd if="$M/big" bs=1M skip=$((32 << 10)) count=1 status=none) "$WORK/mid" ||
	fail "the data at 32 GiB"
cmp <(dd if="$M/big" bs=1 skip=$(((16 << 30) + 1234)) count=10000 status=none) "$WORK/odd" ||
	fail "the data at 16 GiB + 1234"
cmp <(dd if="$M/big" bs=4096 skip=$(((16 << 18))) count=1 status=none | head -c 1234) \
	<(head -c 1234 /dev/zero) || fail "the zeros before 16 GiB + 1234"
cmp <(dd if="$M/big" bs=1M skip=$(((32 << 10) - 1)) count=1 status=none) \
	<(head -c 1M /dev/zero) || fail "the hole before 32 GiB"
cmp <(dd if="$M/big" bs=1M skip=$(((32 << 10) + 1)) count=1 status=none) \
	<(head -c 1M /dev/zero) || fail "the hole after 32 GiB"
[ "$(vault_kib)" -lt 8192 ] || fail "the vault holds $(vault_kib) KiB after the writes"

step "fallocate and a write far past the end: holes"
: >"$M/fa"
fallocate -l 10G "$M/fa" || fail "fallocate -l 10G"
fallocate -n -o 10G -l 10G "$M/fa" || fail "fallocate --keep-size"
assert_eq $((10 << 30)) "$(fsize "$M/fa")" "size after fallocate"
printf 'end' | dd of="$M/far" bs=1 seek=$((20 << 30)) status=none || fail "a write at 20 GiB"
assert_eq $(((20 << 30) + 3)) "$(fsize "$M/far")" "size after the far write"
assert_eq end "$(tail -c 3 "$M/far")" "the far write"
[ "$(vault_kib)" -lt 8192 ] || fail "the vault holds $(vault_kib) KiB"

step "many holes: more runs than a map holds are written as zeros, reads stay right"
truncate -s 64M "$M/many"
for i in $(seq 0 200); do
	printf 'x' | dd of="$M/many" bs=1 seek=$((i * 65536 * 4 + 4096)) conv=notrunc status=none
done
for i in 0 100 200; do
	assert_eq x "$(dd if="$M/many" bs=1 skip=$((i * 65536 * 4 + 4096)) count=1 status=none)" \
		"byte $i of the many"
done
assert_eq 201 "$(tr -d '\0' <"$M/many" | wc -c)" "bytes that are not zero in the many"
echo "the vault holds $(vault_kib) KiB with the many"
rm "$M/many"

step "random operations up to 7 GiB: the vault stays small, every read matches"
# Writes, reads, truncations and allocations at random, through the mount
# and on a sparse reference file beside it; sizes up to 7 GiB.
cat >"$WORK/ops.py" <<'PY'
import ctypes, os, random, sys
a, b, seed, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
libc = ctypes.CDLL(None, use_errno=True)
rnd = random.Random(seed)
fa = os.open(a, os.O_RDWR | os.O_CREAT, 0o600)
fb = os.open(b, os.O_RDWR | os.O_CREAT, 0o600)
top, peak = 7 << 30, 0
for i in range(n):
    size = os.fstat(fb).st_size
    op = rnd.random()
    if op < 0.35:
        off = rnd.randrange(0, min(top, size + (256 << 20)))
        data = os.urandom(rnd.randrange(1, 200000))
        if os.pwrite(fa, data, off) != len(data):
            sys.exit("op %d: short write" % i)
        os.pwrite(fb, data, off)
    elif op < 0.65:
        off, ln = rnd.randrange(0, size + 10000), rnd.randrange(0, 300000)
        if os.pread(fa, ln, off) != os.pread(fb, ln, off):
            sys.exit("op %d: read %d at %d differs" % (i, ln, off))
    elif op < 0.8:
        ns = rnd.randrange(0, top) if rnd.random() < 0.5 else rnd.randrange(0, size + 1000000)
        os.ftruncate(fa, ns)
        os.ftruncate(fb, ns)
    elif op < 0.9:
        off, ln = rnd.randrange(0, min(top, size + (64 << 20))), rnd.randrange(1, 1 << 24)
        if libc.fallocate(fa, 0, ctypes.c_long(off), ctypes.c_long(ln)) != 0:
            sys.exit("op %d: fallocate: %s" % (i, os.strerror(ctypes.get_errno())))
        if off + ln > size:
            os.ftruncate(fb, off + ln)
    else:
        os.close(fa)
        fa = os.open(a, os.O_RDWR)
    if os.fstat(fa).st_size != os.fstat(fb).st_size:
        sys.exit("op %d: size %d, expected %d" % (i, os.fstat(fa).st_size, os.fstat(fb).st_size))
    peak = max(peak, os.fstat(fb).st_size)
print("%d operations, peak size %d" % (n, peak))
PY
before=$(vault_kib)
python3 "$WORK/ops.py" "$M/ops" "$WORK/ops.ref" 15 600 || fail "random operations"
ref=$(du -k "$WORK/ops.ref" | cut -f1)
echo "the vault grew by $(($(vault_kib) - before)) KiB; the reference takes $ref KiB"
[ $(($(vault_kib) - before)) -lt $((2 * ref + 4096)) ] ||
	fail "the vault grew by $(($(vault_kib) - before)) KiB"
rm -f "$M/ops" "$WORK/ops.ref"

step "EFBIG past the largest file ($MAX bytes)"
out=$(truncate -s 999999999999999 "$M/big" 2>&1) && fail "truncate -s 999999999999999 worked"
grep -q "File too large" <<<"$out" || fail "truncate past the largest size: $out"
out=$(fallocate -l 999999999999999 "$M/fa" 2>&1) && fail "fallocate past the largest size worked"
grep -q "File too large" <<<"$out" || fail "fallocate past the largest size: $out"
out=$(printf x | dd of="$M/far" bs=1 seek="$MAX" conv=notrunc 2>&1) &&
	fail "a write at the largest size worked"
grep -q "File too large" <<<"$out" || fail "a write at the largest size: $out"
truncate -s "$MAX" "$M/max" || fail "truncate to the largest size"
assert_eq "$MAX" "$(fsize "$M/max")" "the largest file"
out=$(truncate -s $((MAX + 1)) "$M/max" 2>&1) && fail "truncate to the largest size + 1 worked"
assert_eq "$G64" "$(fsize "$M/big")" "size after the refusals"
[ "$(vault_kib)" -lt 8192 ] || fail "the vault holds $(vault_kib) KiB"
rm -f "$M/max"

step "truncate down through holes and data, up again"
truncate -s $(((32 << 30) + 100)) "$M/big"
cmp <(dd if="$M/big" bs=1M skip=$((32 << 10)) status=none) <(head -c 100 "$WORK/mid") ||
	fail "the data after truncate down"
truncate -s "$G64" "$M/big"
cmp <(dd if="$M/big" bs=1M skip=$((32 << 10)) count=1 status=none) \
	<(head -c 100 "$WORK/mid" && head -c $(((1 << 20) - 100)) /dev/zero) ||
	fail "the data after truncate up again"
unmount "$M"

step "medfs-fsck finds the vault clean"
"$MEDFS_FSCK" "$V" --passphrase-file "$P" >"$WORK/fsck.out" 2>&1 ||
	fail "medfs-fsck: $(cat "$WORK/fsck.out")"

step "rotation: the first write after it gives a new key; --reencrypt keeps the holes"
check_big()
{
	cmp <(dd if="$M/big" bs=1M skip=$((32 << 10)) count=1 status=none) \
		<(head -c 100 "$WORK/mid" && head -c $(((1 << 20) - 100)) /dev/zero) ||
		fail "$1: the data at 32 GiB"
	cmp <(dd if="$M/big" bs=1 skip=$(((16 << 30) + 1234)) count=10000 status=none) \
		"$WORK/odd" || fail "$1: the data at 16 GiB + 1234"
	cmp <(dd if="$M/big" bs=1M skip=100 count=1 status=none) <(head -c 1M /dev/zero) ||
		fail "$1: a hole"
}
"$MEDFS_KEY" rotate "$V" --journal "$J" --passphrase-file "$P" >"$WORK/rotate.out" 2>&1 ||
	fail "rotate: $(cat "$WORK/rotate.out")"
mount_vault "$V" "$M" "$P" -o journal="$J"
check_big "after a rotation"
printf 'y' | dd of="$M/big" bs=1 seek=$((8 << 30)) conv=notrunc status=none ||
	fail "the first write after a rotation"
check_big "after the first write after a rotation"
assert_eq y "$(dd if="$M/big" bs=1 skip=$((8 << 30)) count=1 status=none)" "the write"
unmount "$M"
"$MEDFS_KEY" rotate "$V" --reencrypt --journal "$J" --passphrase-file "$P" >"$WORK/rotate.out" 2>&1 ||
	fail "rotate --reencrypt: $(cat "$WORK/rotate.out")"
[ "$(vault_kib)" -lt 8192 ] || fail "the vault holds $(vault_kib) KiB after --reencrypt"
mount_vault "$V" "$M" "$P" -o journal="$J"
check_big "after rotate --reencrypt"
assert_eq y "$(dd if="$M/big" bs=1 skip=$((8 << 30)) count=1 status=none)" \
	"the write after rotate --reencrypt"
unmount "$M"
"$MEDFS_FSCK" "$V" --passphrase-file "$P" >"$WORK/fsck.out" 2>&1 ||
	fail "medfs-fsck after the rotations: $(cat "$WORK/fsck.out")"

step "a clone keeps the holes"
C=$VFS/clone
"$MEDFS_KEY" clone "$V" "$C" --passphrase-file "$P" >"$WORK/clone.out" 2>&1 ||
	fail "clone: $(cat "$WORK/clone.out")"
[ "$(du -sk "$C" | cut -f1)" -lt 8192 ] || fail "the clone holds $(du -sk "$C" | cut -f1) KiB"
mount_vault "$C" "$M" "$P" -o journal="$WORK/cjournal"
check_big "in the clone"
unmount "$M"
rm -rf "$C"

step "a written block zeroed in the vault reads EIO; the holes still zeros"
vf=$(vault_file_of_size "$V" "$G64")
blk=$(((32 << 30) / 4096))
dd if=/dev/zero of="$vf" bs=4136 count=1 seek=$((104 + blk * 4136)) oflag=seek_bytes \
	conv=notrunc status=none
mount_vault "$V" "$M" "$P" -o journal="$J"
if dd if="$M/big" of=/dev/null bs=4096 skip="$blk" count=1 status=none 2>"$WORK/err"; then
	fail "a zeroed written block read"
fi
grep -q "Input/output error" "$WORK/err" || fail "the zeroed block: $(cat "$WORK/err")"
cmp <(dd if="$M/big" bs=1M skip=1 count=1 status=none) <(head -c 1M /dev/zero) ||
	fail "a hole of a file with a zeroed block"
unmount "$M"

step "the hole map removed or altered: EIO"
cp -a "$vf" "$WORK/saved"
setfattr -x user.medfs-holes "$vf"
mount_vault "$V" "$M" "$P" -o journal="$J"
head -c 1 "$M/big" >/dev/null 2>"$WORK/err" && fail "a file without its hole map read"
grep -q "Input/output error" "$WORK/err" || fail "no map: $(cat "$WORK/err")"
unmount "$M"
map=$(getfattr --only-values -n user.medfs-holes "$WORK/saved" 2>/dev/null | xxd -p | tr -d '\n')
flipped=$(printf '%s' "$map" | sed 's/^\(.\{60\}\)\(.\)/\1f/')
[ "$flipped" != "$map" ] || flipped=$(printf '%s' "$map" | sed 's/^\(.\{60\}\)\(.\)/\10/')
setfattr -n user.medfs-holes -v "0x$flipped" "$vf"
mount_vault "$V" "$M" "$P" -o journal="$J"
head -c 1 "$M/big" >/dev/null 2>"$WORK/err" && fail "a file with an altered hole map read"
grep -q "Input/output error" "$WORK/err" || fail "altered map: $(cat "$WORK/err")"
unmount "$M"

step "medfs-fsck skips holes: a 16 TiB sparse file is checked in the time of its data"
V2=$VFS/vault2
make_vault "$V2" "$P"
mount_vault "$V2" "$M" "$P"
truncate -s "$MAX" "$M/max"
printf 'data in the middle' | dd of="$M/max" bs=1 seek=$((MAX / 2)) conv=notrunc status=none
unmount "$M"
"$MEDFS_FSCK" "$V2" --passphrase-file "$P" >"$WORK/fsck2.out" 2>&1 ||
	fail "medfs-fsck of the 16 TiB file: $(cat "$WORK/fsck2.out")"
finish
