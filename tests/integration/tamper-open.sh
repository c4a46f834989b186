#!/bin/bash
# tamper-open: a vault file put over another's while it is open. With A
# held open by a process, the storage's root (write access to the vault,
# no key) hard-links or renames A's vault file over B's. Opening B through
# the mount then answers EIO, and the journal holds an integrity record of
# B, while A is open and after it is closed, with and without a policy:
# an open file is never served under a name its header is not bound to.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR
# shellcheck source=policy-lib.sh
. "$(dirname "$0")/policy-lib.sh"
if ! command -v jq >/dev/null; then
	echo "SKIP: jq not installed"
	exit 77
fi

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
POL=$WORK/policy
J=$V/journal
SIG=$WORK/sig # where holders and the test signal each other
mkdir -m 0777 "$SIG"
make_passfile "$P" "tamper open test passphrase"
make_vault "$V" "$P"
mk_user ALICE alice
write_policy "$POL" <<EOF
version 1
allow user:$ALICE list,read /**
EOF

CASES=(link rename link-policy rename-policy)
step "write A and B of each case"
mount_vault "$V" "$M" "$P"
i=0
for c in "${CASES[@]}"; do
	mkdir -p "$M/$c" "$WORK/src/$c"
	random_file "$WORK/src/$c/A" $((7000 + i))
	random_file "$WORK/src/$c/B" $((7100 + i))
	random_file "$WORK/src/$c/C" $((7200 + i))
	cp "$WORK/src/$c/A" "$WORK/src/$c/B" "$WORK/src/$c/C" "$M/$c/"
	chmod 0644 "$M/$c/A" "$M/$c/B" "$M/$c/C"
	i=$((i + 1))
done
unmount "$M"

# hold USER FILE: a process of USER holds FILE open (for reading) until
# release; returns once it is open.
hold()
{
	local n=0
	rm -f "$SIG/open" "$SIG/go"
	# shellcheck disable=SC2016 # expanded by the holder's shell
	as "$1" bash -c 'exec 3<"$1" && : >"$2/open"; n=0
		until [ -e "$2/go" ] || [ "$n" -ge 600 ]; do sleep 0.1; n=$((n + 1)); done' \
		_ "$2" "$SIG" &
	HOLDER=$!
	until [ -e "$SIG/open" ]; do
		n=$((n + 1))
		if [ "$n" -gt 200 ] || ! kill -0 "$HOLDER" 2>/dev/null; then
			fail "$1 could not hold $2 open"
			return 1
		fi
		sleep 0.1
	done
}

release()
{
	: >"$SIG/go"
	wait "$HOLDER" || true
}

# attack CASE: A's vault file put over B's, by a hard link or a rename.
attack()
{
	local a b
	i=0
	for c in "${CASES[@]}"; do
		[ "$c" = "$1" ] && break
		i=$((i + 1))
	done
	a=$(vault_file_of_size "$V" $((7000 + i)))
	b=$(vault_file_of_size "$V" $((7100 + i)))
	case $1 in
	link*) ln -f "$a" "$b" ;;
	rename*) mv -f "$a" "$b" ;;
	esac
}

# try USER CASE WHEN: reading B answers EIO, and cat gives nothing of A.
try()
{
	local u=$1 c=$2
	if [ "$u" = root ]; then
		assert_fails_with EIO read "$M/$c/B"
		cat "$M/$c/B" >"$WORK/got" 2>/dev/null || true
	else
		expect "$u" EIO read "$M/$c/B"
		as "$u" cat "$M/$c/B" >"$WORK/got" 2>/dev/null || true
	fi
	if cmp -s "$WORK/got" "$WORK/src/$c/A"; then
		fail "$c, $3: B read through the mount gives A's plaintext"
	fi
	if [ -s "$WORK/got" ]; then
		fail "$c, $3: B read through the mount gives $(fsize "$WORK/got") bytes"
	fi
}

# run USER CASE: the attack with A held open by USER, then after.
run()
{
	local u=$1 c=$2
	step "$c: A held open by $u, its vault file put over B's"
	hold "$u" "$M/$c/A" || return
	attack "$c"
	try "$u" "$c" "A open"
	release
	try "$u" "$c" "A closed"
	if [ "$u" = root ]; then
		assert_file_eq "$WORK/src/$c/C" "$M/$c/C" "$c/C beside the attack"
	else
		as "$u" cat "$M/$c/C" >"$WORK/got" 2>/dev/null || true
		assert_file_eq "$WORK/src/$c/C" "$WORK/got" "$c/C beside the attack"
	fi
	case $c in
	link*)
		# A itself is intact and still served under its own name.
		if [ "$u" = root ]; then
			assert_file_eq "$WORK/src/$c/A" "$M/$c/A" "$c/A, hard-linked over B"
		else
			as "$u" cat "$M/$c/A" >"$WORK/got" 2>/dev/null || true
			assert_file_eq "$WORK/src/$c/A" "$WORK/got" "$c/A, hard-linked over B"
		fi
		;;
	esac
}

step "without a policy"
mount_vault "$V" "$M" "$P"
run root link
run root rename
unmount "$M"

step "with a policy"
mount_fg "$V" "$M" "$P" "$WORK/driver.log" -o allow_other,policy="$POL"
run "$ALICE" link-policy
run "$ALICE" rename-policy
unmount "$M"

step "the journal holds each integrity failure"
assert_cmd_ok "medfs-journal verify" "$MEDFS_JOURNAL" verify "$J" --key "$AUDITOR.key"
"$MEDFS_JOURNAL" export "$J" --key "$AUDITOR.key" --format jsonl >"$WORK/j.jsonl" 2>/dev/null ||
	fail "medfs-journal export failed"
count()
{
	jq -c "select($1)" "$WORK/j.jsonl" | grep -c . || true
}
for c in "${CASES[@]}"; do
	integ=".op == \"integrity\" and .path == \"/$c/B\" and .result == 74"
	n=$(count "$integ")
	# Two reads while A is open (fsop, cat), two after.
	[ "$n" -ge 4 ] || fail "$c: $n integrity record(s) of /$c/B, not 4 or more"
	n=$(count "$integ and (.detail | test(\"bound elsewhere\"))")
	[ "$n" -ge 2 ] || fail "$c: $n integrity record(s) of /$c/B open while A was, not 2"
	n=$(count ".op == \"read\" and .path == \"/$c/B\"")
	assert_eq 0 "$n" "$c: read records of /$c/B"
done
n=$(count ".op == \"integrity\" and .path == \"/link-policy/B\" and .user == \"$ALICE\"")
[ "$n" -ge 4 ] || fail "link-policy: $n integrity records of /link-policy/B name $ALICE, not 4"
finish
