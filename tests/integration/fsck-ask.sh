#!/bin/bash
# fsck-ask: medfs-fsck --repair asks on its terminal before each repair,
# driven here through a real pseudo-terminal (fsck-ask.py). A vault with a
# flipped block and a temporary left by an interrupted create: answering
# yes to the salvage and no to the removal repairs the one (the file goes
# to /lost+found), leaves the other as it was, and exits 5 (1 corrected +
# 4 left, as e2fsck), each question naming its object even when the
# report goes to a file; a second --repair answered yes (on the terminal)
# exits 1, and the check after it 0. Without a terminal --repair refuses
# to run (8).
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
if ! command -v python3 >/dev/null; then
	echo "SKIP: python3 not installed"
	exit 77
fi
ASK=$(dirname "$0")/fsck-ask.py

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
BS=4136 # a block on disk
HDR=104
TMP=.tmp-0123456789abcdef
make_passfile "$P" "fsck ask test passphrase"
make_vault "$V" "$P"

# ask OUT ARGS...: medfs-fsck --repair on its own terminal (fsck-ask.py
# ARGS), what the terminal showed in OUT, the prompts and replies in
# OUT.prompts; prints its exit status.
ask()
{
	local out=$1 rc=0
	shift
	python3 "$ASK" "$@" -- "$MEDFS_FSCK" "$V" --passphrase-file "$P" --repair \
		>"$out" 2>"$out.prompts" || rc=$?
	echo "$rc"
}

# says FILE PATTERN WHAT: FILE holds PATTERN (extended regex).
says()
{
	grep -qE -- "$2" "$1" || fail "$3: no '$2' in: $(cat "$1")"
}

step "a tree, then a flipped block and an interrupted create"
mount_vault "$V" "$M" "$P"
random_file "$WORK/keep" 5000
cp "$WORK/keep" "$M/keep"
random_file "$WORK/flip" $((3 * 4096 + 100))
cp "$WORK/flip" "$M/flip"
unmount "$M"
flip=$(vault_file_of_size "$V" $((3 * 4096 + 100)))
printf '\xff' | dd of="$flip" bs=1 seek=$((HDR + BS + 50)) conv=notrunc status=none
head -c 104 /dev/urandom >"$V/tree/$TMP"

step "--repair without a terminal refuses to run"
rc=0
setsid -w "$MEDFS_FSCK" "$V" --passphrase-file "$P" --repair </dev/null >"$WORK/notty.out" 2>&1 || rc=$?
assert_eq 8 "$rc" "exit status of --repair without a terminal"
[ -f "$V/tree/$TMP" ] || fail "--repair without a terminal removed the temporary"

step "yes to the salvage, no to the removal, the report to a file: exit 5"
# The report goes to a file, as doc/ADMIN.md has it: each question names
# its object.
rc=$(ask "$WORK/1.out" --stdout "$WORK/1.report" --answer 'lost\+found=y' \
	--answer 'remove the temporary=n')
assert_eq 5 "$rc" "exit status of --repair, one repair made and one refused"
says "$WORK/1.out.prompts" "medfs-fsck: /flip: move what can be read of it to /lost\+found\? \[y/N\] -> y" \
	"the salvage was asked, naming the file"
says "$WORK/1.out.prompts" "medfs-fsck: vault file tree/$TMP: remove the temporary\? \[y/N\] -> n" \
	"the removal was asked, naming the temporary"
assert_eq 2 "$(grep -c '^PROMPT:' "$WORK/1.out.prompts")" "prompts of the first --repair"
says "$WORK/1.report" "/flip: repaired: moved to /lost\+found/" "the salvage is said"
says "$WORK/1.report" "2 problems, 1 corrected, 1 left" "the summary"
[ -f "$V/tree/$TMP" ] || fail "the temporary was removed though the answer was no"
[ ! -e "$flip" ] || fail "the damaged vault file is still in place after its salvage"

step "the mount: /flip is gone, /lost+found holds what could be read"
mount_vault "$V" "$M" "$P"
assert_file_eq "$WORK/keep" "$M/keep" "the file beside the damage"
[ ! -e "$M/flip" ] || fail "/flip is still there after its salvage"
lf=$(find "$M/lost+found" -maxdepth 1 -type f ! -name '*.lost-ranges' | head -n 1)
[ -n "$lf" ] || fail "nothing in /lost+found"
if [ -n "$lf" ]; then
	assert_eq "$(fsize "$WORK/flip")" "$(fsize "$lf")" "size of the salvaged file"
	cmp -s -n 4096 "$WORK/flip" "$lf" || fail "block 0 of the salvaged file differs"
	cmp -s -i $((2 * 4096)) "$WORK/flip" "$lf" || fail "blocks 2 and on of the salvaged file differ"
fi
unmount "$M"

step "a second --repair, yes to what is left: exit 1; then clean"
rc=$(ask "$WORK/2.out" --answer 'remove the temporary=y')
assert_eq 1 "$rc" "exit status of the second --repair"
assert_eq 1 "$(grep -c '^PROMPT:' "$WORK/2.out.prompts")" "prompts of the second --repair"
[ ! -e "$V/tree/$TMP" ] || fail "the temporary is still there after a yes"
rc=0
"$MEDFS_FSCK" "$V" --passphrase-file "$P" >"$WORK/3.out" 2>&1 || rc=$?
assert_eq 0 "$rc" "exit status of the check after the repairs: $(cat "$WORK/3.out")"
finish
