#!/bin/bash
# modes-kernel: with allow_other, the driver checks permission bits itself
# (no default_permissions) and answers as the kernel does (issue 14). The
# same matrix of operations, as several real users (the owner, a member of
# the group, another user, root), runs on a plain directory of the host
# and through a mount whose policy allows everything, and every errno must
# be the same: owner, group (supplementary) and other bits, root's
# override (but not to execute what has no x bit), search permission on
# every ancestor, sticky directories, chmod (setgid dropped for a
# non-member), chown, utimens, truncate, extended attributes, access(2).
# Then both trees must hold the same modes, owners and sizes. Refusals by
# mode are journaled.
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
LOG=$WORK/driver.log
PLAIN=$WORK/plain
J=$V/journal
make_passfile "$P" "modes kernel test passphrase"
make_vault "$V" "$P"
mk_group G grp
mk_user OWN own
mk_user MEM mem "$G"
mk_user OTH oth
G_ID=$(getent group "$G" | cut -d: -f3)
OWN_ID=$(id -u "$OWN")
MEM_ID=$(id -u "$MEM")
write_policy "$POL" <<EOF
version 1
allow everyone all /**
EOF
mount_fg "$V" "$M" "$P" "$LOG" -o allow_other,policy="$POL"
mkdir -p "$PLAIN"
chmod 0755 "$PLAIN"
umask 022

step "the same tree on both"
# tree ROOT: directories and files of every kind of mode, owned by own
# (group G) unless said otherwise.
tree()
{
	local r=$1 d m
	for d in d755 d750 d700 d711 d770 d777 d300 t1777; do
		mkdir "$r/$d"
		for m in 644 640 600 660 606 000 700 755; do
			echo "content $m" >"$r/$d/f$m"
			chmod "$m" "$r/$d/f$m"
		done
		mkdir "$r/$d/sub" "$r/$d/sub2"
		echo deep >"$r/$d/sub/deep"
		chown -R "$OWN:$G" "$r/$d"
	done
	chmod 0755 "$r/d755"
	chmod 0750 "$r/d750"
	chmod 0700 "$r/d700"
	chmod 0711 "$r/d711"
	chmod 0770 "$r/d770"
	chmod 0777 "$r/d777"
	chmod 0300 "$r/d300"
	chown root:root "$r/t1777"
	chmod 1777 "$r/t1777"
	echo mine >"$r/t1777/mem-file"
	chown "$MEM" "$r/t1777/mem-file"
	chmod 0666 "$r/t1777/mem-file"
	chmod 0700 "$r/d700/sub"
}
tree "$PLAIN"
tree "$M"

# both USER OP ARGS... (paths relative to the trees' roots, prefixed @):
# queues one fsop call for USER; run_queued runs USER's calls, all on the
# host's tree then all through medfs, each in one process, and compares
# the errno of every call.
N_OPS=0
QUEUE=$WORK/queue
: >"$QUEUE"
both()
{
	shift
	echo "$*" >>"$QUEUE"
}
run_queued()
{
	local u=$1 i=0 op want got
	sed "s|@|$PLAIN/|g" "$QUEUE" >"$WORK/q.plain"
	sed "s|@|$M/|g" "$QUEUE" >"$WORK/q.mnt"
	chmod 0644 "$WORK/q.plain" "$WORK/q.mnt"
	as "$u" "$UFSOP" batch "$WORK/q.plain" >"$WORK/r.plain" 2>/dev/null || true
	as "$u" "$UFSOP" batch "$WORK/q.mnt" >"$WORK/r.mnt" 2>/dev/null || true
	assert_eq "$(wc -l <"$QUEUE")" "$(wc -l <"$WORK/r.mnt")" "results of $u's calls"
	while IFS=$'\t' read -r op want got; do
		i=$((i + 1))
		[ "$want" = "$got" ] || fail "as $u: fsop $op: $want on the host, $got through medfs"
	done < <(paste "$QUEUE" "$WORK/r.plain" "$WORK/r.mnt")
	N_OPS=$((N_OPS + i))
	: >"$QUEUE"
}

USERS="$OWN $MEM $OTH root"
DIRS="d755 d750 d700 d711 d770 d777 d300 t1777"
step "reads, opens, access, listings"
for u in $USERS; do
	for d in $DIRS; do
		both "$u" stat "@$d"
		both "$u" listdir "@$d"
		both "$u" stat "@$d/sub/deep"
		both "$u" read "@$d/sub/deep"
		both "$u" access "@$d" x
		both "$u" access "@$d/sub" rwx
		for m in 644 640 600 660 606 000 700 755; do
			both "$u" stat "@$d/f$m"
			both "$u" read "@$d/f$m"
			both "$u" open "@$d/f$m" wronly
			both "$u" open "@$d/f$m" rdwr
			# (not rdonly,trunc: Linux truncates, medfs leaves the
			# file alone, by design of medfs_file_open)
			both "$u" access "@$d/f$m" r
			both "$u" access "@$d/f$m" w
			both "$u" access "@$d/f$m" x
			both "$u" getxattr "@$d/f$m" user.none
		done
	done
	run_queued "$u"
done

step "changes: create, write, delete, rename, attributes"
for u in $USERS; do
	n=${u: -3}
	for d in $DIRS; do
		both "$u" open "@$d/new-$n" wronly,creat,excl
		both "$u" mkdir "@$d/dir-$n"
		both "$u" symlink target "@$d/link-$n"
		both "$u" truncate "@$d/f660" 3
		both "$u" setxattr "@$d/f660" user.a 6869
		both "$u" setxattr "@$d/f606" user.a 6869
		both "$u" setxattr "@$d/f644" user.a 6869
		both "$u" utimens "@$d/f660" now
		both "$u" utimens "@$d/f606" past
		both "$u" utimens "@$d/f644" now
		both "$u" chmod "@$d/f644" 2644
		both "$u" chmod "@$d/f755" 0755
		both "$u" chown "@$d/f640" -1 "$G_ID"
		both "$u" chown "@$d/f640" "$MEM_ID" -1
		both "$u" chown "@$d/f640" "$OWN_ID" -1
		both "$u" rename "@$d/new-$n" "@$d/renamed-$n"
		both "$u" rename "@$d/sub2" "@d777/moved-$n-$d"
		both "$u" rename "@$d/f600" "@$d/f600-$n"
		both "$u" unlink "@$d/f606"
		both "$u" unlink "@$d/link-$n"
		both "$u" rmdir "@$d/dir-$n"
	done
	both "$u" unlink "@t1777/mem-file"
	run_queued "$u"
done
step "root's override and its limit"
both root access "@d700/f600" x
both root access "@d700/f700" x
both root read "@d300/f000"
run_queued root

step "the trees are alike"
listing_of()
{
	(cd "$1" && find . -mindepth 1 -printf '%P %y %m %u %g\n' -type f -printf '%P size %s\n' | LC_ALL=C sort)
}
listing_of "$PLAIN" >"$WORK/plain.list"
listing_of "$M" >"$WORK/mnt.list"
if ! diff -u "$WORK/plain.list" "$WORK/mnt.list" >"$WORK/diff"; then
	fail "the trees differ: $(head -n 20 "$WORK/diff")"
fi
[ "$N_OPS" -gt 1000 ] || fail "only $N_OPS operations compared"
echo "$N_OPS operations compared"
unmount "$M"

step "refusals by mode are journaled"
"$MEDFS_JOURNAL" export "$J" --key "$AUDITOR.key" --format jsonl >"$WORK/j.jsonl" 2>/dev/null ||
	fail "medfs-journal export failed"
n=$(jq -c "select(.op == \"denied\" and .user == \"$OTH\" and .path == \"/d700/f600\" and (.detail | test(\"right=mode\")))" "$WORK/j.jsonl" | grep -c . || true)
[ "$n" -ge 1 ] || fail "no journaled refusal by mode of /d700/f600 for $OTH"
n=$(jq -c "select(.op == \"denied\" and .user == \"$MEM\" and .path == \"/d755/f600\" and (.detail | test(\"op=open right=mode\")))" "$WORK/j.jsonl" | grep -c . || true)
[ "$n" -ge 1 ] || fail "no journaled refusal by mode of the open of /d755/f600 for $MEM"
finish
