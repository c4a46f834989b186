#!/bin/bash
# policy-hidden: the names (.fuse_hidden<16 hex digits>) under which libfuse
# keeps a file unlinked while open belong to their own directory and go
# through the policy as the path the file had: a user who may list one
# directory cannot stat or drop, under a guessed name there, the deleted
# but open file of a directory denied to him; a user who may list the
# directory but not the file cannot stat it under its hidden name; the
# file, its hidden name and fstat survive such attempts, and follow a
# rename of their directory. A user allowed a single file may still unlink
# it while open.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR
# shellcheck source=policy-lib.sh
. "$(dirname "$0")/policy-lib.sh"

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
POL=$WORK/policy
LOG=$WORK/driver.log
make_passfile "$P" "policy hidden test passphrase"
make_vault "$V" "$P"

mk_user EVE eve
mk_user ZOE zoe
mk_user WIL wil
write_policy "$POL" <<EOF
version 1
allow user:0 all /**
allow user:$EVE list,read,delete /pub/**
deny user:$EVE all /secret/**
allow user:$ZOE list /secret/**
deny user:$ZOE all /secret/f.txt
allow user:$WIL all /w/mine.txt
EOF
mount_fg "$V" "$M" "$P" "$LOG" -o allow_other,policy_only,policy="$POL"
mkdir "$M/pub" "$M/secret" "$M/w"
echo "public" >"$M/pub/p.txt"
echo "the deleted secret" >"$M/secret/f.txt"
chmod 0777 "$M/w"

# probe USER DIR: the hidden names that USER can stat in DIR, out of
# those libfuse gives (node ids and counters up to 64 and 8).
probe()
{
	# shellcheck disable=SC2016 # expanded by the inner shell
	as "$1" bash -c '
		for n in $(seq 1 64); do
			for c in $(seq 1 8); do
				f=$(printf "%s/.fuse_hidden%08x%08x" "$1" "$n" "$c")
				if [ -e "$f" ]; then echo "${f##*/}"; fi
			done
		done' probe "$2"
}

step "root holds the secret open and unlinks it"
exec 9<"$M/secret/f.txt"
rm "$M/secret/f.txt"
HIDDEN=$(probe root "$M/secret")
[ -n "$HIDDEN" ] || fail "root cannot stat the hidden name of its open file"
assert_eq 1 "$(echo "$HIDDEN" | wc -l)" "one hidden name in /secret"

step "eve, who may list /pub only, guesses the name in /pub"
assert_eq "" "$(probe "$EVE" "$M/pub")" "hidden names eve sees in /pub"
expect "$EVE" ENOENT stat "$M/pub/$HIDDEN"
expect "$EVE" ENOENT unlink "$M/pub/$HIDDEN"
expect "$EVE" EACCES stat "$M/secret/$HIDDEN"

step "zoe, who may list /secret but not the file, is denied its hidden name"
expect "$ZOE" EACCES stat "$M/secret/$HIDDEN"
expect "$ZOE" OK listdir "$M/secret"

step "the open file is untouched: fstat and read through the descriptor"
assert_cmd_ok "fstat of the unlinked open file" stat -L /proc/self/fd/9
assert_eq "the deleted secret" "$(cat <&9)" "read through the descriptor"
expect root OK stat "$M/secret/$HIDDEN"

step "the hidden name follows its directory"
mv "$M/secret" "$M/secret2"
expect root ENOENT stat "$M/secret/$HIDDEN"
expect root OK stat "$M/secret2/$HIDDEN"
assert_cmd_ok "fstat after the directory's rename" stat -L /proc/self/fd/9
exec 9<&-
# The last close dropped it.
n=0
while as root test -e "$M/secret2/$HIDDEN"; do
	n=$((n + 1))
	[ "$n" -lt 50 ] || fail "the hidden name outlives the last close"
	sleep 0.1
done

step "a user allowed a single file unlinks it while open"
expect "$WIL" OK unlinked-open "$M/w/mine.txt"
unmount "$M"
finish
