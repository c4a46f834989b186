#!/bin/bash
# fsck-repair: medfs-fsck --repair on a vault damaged on purpose. A flipped
# block and a truncated file go to /lost+found with their good blocks, the
# fill pattern where blocks were lost, and a .lost-ranges sidecar; a torn
# config copy is written again; orphan sidecars and temporaries are
# removed. -n changes no byte, a wrong passphrase exits 8, a mounted vault
# is refused (8); the repair exits 1, the next check 0, the mount serves
# the rest of the tree intact, /lost+found is root's even under a policy
# that allows everyone everything, and the journal has the repairs.
# Something that cannot be repaired (a file header that does not open)
# exits 4 and is left in place.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
SRC=$WORK/src
BS=4136 # a block on disk
HDR=104
FILL="MEDFS LOST DATA"
LONG=$(printf 'l%.0s' $(seq 1 130)) # a long name: stored with a sidecar
make_passfile "$P" "fsck repair test passphrase"
make_passfile "$WORK/wrong" "not this vault's passphrase"
make_vault "$V" "$P"
mount_vault "$V" "$M" "$P"

# put PATH SIZE: a random file at $M/PATH, kept in $SRC/PATH.
put()
{
	mkdir -p "$(dirname "$SRC/$1")" "$(dirname "$M/$1")"
	random_file "$SRC/$1" "$2"
	cp "$SRC/$1" "$M/$1"
}

# Every byte of the vault: names, modes and contents.
vault_bytes()
{
	(cd "$V" && find . -printf '%p %m %s\n' | sort && find . -type f -print0 | sort -z |
		xargs -0 sha256sum)
}

# says OUT PATTERN WHAT: the output holds PATTERN (extended regex).
says()
{
	grep -qE -- "$2" "$1" || fail "$3: no '$2' in: $(cat "$1")"
}

step "write the tree"
put keep/a.txt 5000
put keep/sub/b.bin 70000
put flip/data $((3 * 4096 + 100))
put trunc/data 9001
put "long/$LONG" 333
put long/other 334
put zero/data 777
mkdir -p "$M/empty"
DCM=$MEDFS_SOURCE_ROOT/tests/data/dicom/ct-explicit-deflen.dcm
cp "$DCM" "$M/keep/ct.dcm"
cat "$M/keep/ct.dcm" >/dev/null
unmount "$M"

step "damage the vault"
flip=$(vault_file_of_size "$V" $((3 * 4096 + 100)))
printf '\xff' | dd of="$flip" bs=1 seek=$((HDR + BS + 50)) conv=notrunc status=none
trunc=$(vault_file_of_size "$V" 9001)
truncate -s $((HDR + BS + 1000)) "$trunc" # block 1 torn, block 2 gone
truncate -s 0 "$(vault_file_of_size "$V" 777)" # a create cut before its header
longside=$(find "$V/tree" -name '~*.n')
[ "$(grep -c . <<<"$longside")" = 1 ] || fail "expected one long-name sidecar: $longside"
rm -f "${longside%.n}" # its entry gone: the sidecar is an orphan
orphan_dir=$(dirname "$longside")
head -c 104 /dev/urandom >"$V/tree/.tmp-0123456789abcdef" # an interrupted create
mkdir "$V/tree/.tmp-fedcba9876543210"                      # an interrupted mkdir
head -c 40 /dev/urandom >"$V/tree/.tmp-fedcba9876543210/.medfs-dir"
head -c 40 /dev/urandom >"$orphan_dir/.medfs-dir.tmp" # an interrupted header write
cp "$V/medfs.conf" "$V/medfs.conf.tmp"                # an interrupted key change
ct=$(vault_file_of_size "$V" "$(fsize "$DCM")")
getfattr -n user.medfs-meta "$ct" >/dev/null 2>&1 || fail "the DICOM file has no metadata"
# Metadata that no key opens, as an old medfs-key rotate left it.
setfattr -n user.medfs-meta -v "0x$(head -c 120 /dev/urandom | od -An -tx1 | tr -d ' \n')" "$ct"
truncate -s 1000 "$V/medfs.conf.bak"                  # a torn config copy

step "-n changes nothing and exits 4"
before=$(vault_bytes)
rc=$(fsck_status "$V" "$P" "$WORK/n.out" -n)
assert_eq 4 "$rc" "exit status of fsck -n on a damaged vault"
after=$(vault_bytes)
[ "$before" = "$after" ] || fail "fsck -n changed the vault: $(diff <(echo "$before") <(echo "$after"))"
says "$WORK/n.out" "/flip/data: block does not authenticate" "fsck -n names the flipped block"
says "$WORK/n.out" "/trunc/data: file length does not match" "fsck -n names the truncated file"
says "$WORK/n.out" "orphan long-name sidecar" "fsck -n names the orphan sidecar"
says "$WORK/n.out" "temporary left by an interrupted operation \(vault file tree/\.tmp-0123456789abcdef\)" "fsck -n names the temporary"
says "$WORK/n.out" "medfs.conf.bak: second copy of the vault config is damaged" "fsck -n names the torn copy"
says "$WORK/n.out" "medfs.conf.tmp: temporary" "fsck -n names the config temporary"
says "$WORK/n.out" "/keep/ct.dcm: file metadata does not authenticate" "fsck -n names the metadata"
rc=$(fsck_status "$V" "$P" "$WORK/default.out")
assert_eq 4 "$rc" "exit status of fsck without -n (checks only)"
[ "$before" = "$(vault_bytes)" ] || fail "fsck without options changed the vault"

step "a wrong passphrase exits 8, a missing vault too"
rc=0
"$MEDFS_FSCK" "$V" --passphrase-file "$WORK/wrong" -y >"$WORK/wrong.out" 2>&1 || rc=$?
assert_eq 8 "$rc" "exit status of fsck with a wrong passphrase"
rc=0
"$MEDFS_FSCK" "$WORK/nothing" --passphrase-file "$P" >"$WORK/none.out" 2>&1 || rc=$?
assert_eq 8 "$rc" "exit status of fsck of a missing vault"

step "a mounted vault is refused"
mount_vault "$V" "$M" "$P"
rc=$(fsck_status "$V" "$P" "$WORK/mounted.out" -y)
assert_eq 8 "$rc" "exit status of fsck -y on a mounted vault"
says "$WORK/mounted.out" "is mounted: unmount it first" "fsck says the vault is mounted"
rc=$(fsck_status "$V" "$P" "$WORK/mounted-n.out" -n)
assert_eq 8 "$rc" "exit status of fsck -n on a mounted vault"
unmount "$M"
rm -f "$V"/journal-spool/rec-* # the mount ingested them; the wrong passphrase's is gone

step "--repair without a terminal asks for -y"
rc=0
setsid "$MEDFS_FSCK" "$V" --passphrase-file "$P" --repair </dev/null >"$WORK/ask.out" 2>&1 || rc=$?
assert_eq 8 "$rc" "exit status of --repair with no terminal"
says "$WORK/ask.out" "give -y" "--repair with no terminal"

step "fsck -y repairs: exit 1"
rc=$(fsck_status "$V" "$P" "$WORK/y.out" -y)
cat "$WORK/y.out"
assert_eq 1 "$rc" "exit status of fsck -y"
says "$WORK/y.out" "/flip/data: repaired: moved to /lost\+found/data, 12388 bytes, 4096 of them lost in 1 ranges" "the flipped file"
says "$WORK/y.out" "/trunc/data: repaired: moved to /lost\+found/data.1, 9001 bytes, 4905 of them lost in 1 ranges" "the truncated file"
says "$WORK/y.out" "repaired: orphan long-name sidecar removed" "the orphan sidecar"
says "$WORK/y.out" "tmp-0123456789abcdef: repaired: temporary removed" "the temporary file"
says "$WORK/y.out" "tmp-fedcba9876543210: repaired: temporary removed" "the temporary directory"
says "$WORK/y.out" "medfs.conf.bak: repaired: wrote medfs.conf.bak again from medfs.conf" "the config copy"
says "$WORK/y.out" "/keep/ct.dcm: repaired: metadata sealed again with the DICOM identifiers" "the metadata"
says "$WORK/y.out" "/zero/data: repaired: its header was never written whole .* moved to /lost\+found/data.2, empty" "the torn header"
says "$WORK/y.out" "0 left" "nothing left"
[ ! -e "$longside" ] || fail "the orphan sidecar is still there"
[ ! -e "$V/tree/.tmp-0123456789abcdef" ] || fail "the temporary file is still there"
[ ! -e "$V/tree/.tmp-fedcba9876543210" ] || fail "the temporary directory is still there"
[ ! -e "$orphan_dir/.medfs-dir.tmp" ] || fail ".medfs-dir.tmp is still there"
[ ! -e "$V/medfs.conf.tmp" ] || fail "medfs.conf.tmp is still there"
cmp -s "$V/medfs.conf" "$V/medfs.conf.bak" || fail "the config copies differ after the repair"
[ ! -e "$flip" ] || fail "the damaged original of /flip/data is still in the vault"
[ -n "$(ls "$V"/journal-spool/rec-* 2>/dev/null)" ] || fail "no repair record spooled"

step "fsck is clean afterwards: exit 0"
rc=$(fsck_status "$V" "$P" "$WORK/clean.out")
assert_eq 0 "$rc" "exit status of fsck after the repair: $(cat "$WORK/clean.out")"

step "the mount serves the repaired vault"
mount_vault "$V" "$M" "$P"
for f in keep/a.txt keep/sub/b.bin long/other; do
	assert_file_eq "$SRC/$f" "$M/$f" "$f after the repair"
done
assert_file_eq "$DCM" "$M/keep/ct.dcm" "the DICOM file after the repair"
[ ! -e "$M/flip/data" ] || fail "/flip/data is still in its place"
[ -d "$M/empty" ] || fail "/empty is gone"
assert_eq "700 0 0" "$(stat -c '%a %u %g' "$M/lost+found")" "mode and owner of /lost+found"
lf=$M/lost+found
# The flipped file: blocks 0, 2 and 3 as written, block 1 the fill pattern.
cmp -s <(head -c 4096 "$SRC/flip/data") <(head -c 4096 "$lf/data") || fail "block 0 of the flipped file"
cmp -s <(tail -c +8193 "$SRC/flip/data") <(tail -c +8193 "$lf/data") || fail "blocks 2-3 of the flipped file"
cmp -s <(for _ in $(seq 256); do echo "$FILL"; done) <(dd if="$lf/data" bs=4096 skip=1 count=1 status=none) ||
	fail "block 1 of the flipped file is not the fill pattern"
says "$lf/data.lost-ranges" "^original /flip/data$" "the sidecar names the original"
says "$lf/data.lost-ranges" "^lost 4096 4096$" "the sidecar lists the lost block"
# The truncated file: block 0 as written, the rest lost.
assert_eq 9001 "$(fsize "$lf/data.1")" "size of the truncated file's copy"
cmp -s <(head -c 4096 "$SRC/trunc/data") <(head -c 4096 "$lf/data.1") || fail "block 0 of the truncated file"
says "$lf/data.1.lost-ranges" "^original /trunc/data$" "the truncated file's sidecar"
says "$lf/data.1.lost-ranges" "^lost 4096 4905$" "the truncated file's lost range"
unmount "$M"

step "/lost+found is root's alone under a policy that allows everyone everything"
chmod 0755 "$WORK"
POL=$WORK/everyone.policy
printf 'version 1\nallow everyone all /**\n' >"$POL"
chmod 0644 "$POL"
mount_vault "$V" "$M" "$P" -o allow_other,policy_only,policy="$POL"
if setpriv --reuid=65534 --regid=65534 --clear-groups ls "$M/lost+found" >/dev/null 2>&1; then
	fail "another user lists /lost+found"
fi
if setpriv --reuid=65534 --regid=65534 --clear-groups ls -a "$M" | grep -q 'lost+found'; then
	fail "another user sees /lost+found in the root's listing"
fi
setpriv --reuid=65534 --regid=65534 --clear-groups cat "$M/keep/a.txt" >/dev/null ||
	fail "the policy no longer lets another user read /keep/a.txt"
ls "$M/lost+found" >/dev/null || fail "root cannot list /lost+found"
unmount "$M"

step "the journal has the repairs"
"$MEDFS_JOURNAL" show "$V/journal" --key "$AUDITOR.key" >"$WORK/show" 2>&1 ||
	fail "medfs-journal show: $(cat "$WORK/show")"
says "$WORK/show" "repair.*medfs-fsck --repair: moved vault file tree/" "a salvage record"
says "$WORK/show" "repair.*medfs-fsck --repair: done: .* 0 left" "the summary record"
if grep -q "flip/data\|trunc/data\|$LONG" "$V"/journal-spool/* 2>/dev/null; then
	fail "a plaintext name in the spool"
fi

step "what cannot be repaired exits 4 and stays"
a=$(vault_file_of_size "$V" 5000)
printf '\x00' | dd of="$a" bs=1 seek=60 conv=notrunc status=none # its header
rc=$(fsck_status "$V" "$P" "$WORK/left.out" -y)
assert_eq 4 "$rc" "exit status of fsck -y with an unrepairable header"
says "$WORK/left.out" "/keep/a.txt: not repaired: its header does not open" "the unrepairable file"
[ -f "$a" ] || fail "the unrepairable file was removed"
rc=$(fsck_status "$V" "$P" "$WORK/left2.out" -n)
assert_eq 4 "$rc" "exit status of the check after"

step "a name with terminal escapes is printed escaped"
mount_vault "$V" "$M" "$P"
ESC=$(printf 'esc\033[2Jname')
head -c 6001 /dev/urandom >"$M/$ESC"
unmount "$M"
e=$(vault_file_of_size "$V" 6001)
printf '\xff' | dd of="$e" bs=1 seek=$((HDR + 10)) conv=notrunc status=none
rc=$(fsck_status "$V" "$P" "$WORK/esc.out" -n)
assert_eq 4 "$rc" "exit status of the check of the escaped name"
grep -qF '/esc\033[2Jname: block does not authenticate' "$WORK/esc.out" ||
	fail "the name is not printed escaped: $(cat -v "$WORK/esc.out")"
if grep -q "$(printf '\033')" "$WORK/esc.out"; then
	fail "a raw escape byte in fsck's output"
fi

finish
