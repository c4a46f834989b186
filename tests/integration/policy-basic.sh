#!/bin/bash
# policy-basic: an access policy through a real mount with allow_other and
# real users and groups: entries listed and hidden per user, EACCES for
# each right (list, read, write, create, delete, setattr), rename across
# rights, deny beating allow, root with no implicit right, nohide, and
# denials logged with uid, operation and rule line but no path.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR
# shellcheck source=policy-lib.sh
. "$(dirname "$0")/policy-lib.sh"
if ! command -v setfattr >/dev/null; then
	echo "SKIP: setfattr not installed (Debian package attr)"
	exit 77
fi

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
POL=$WORK/policy
LOG=$WORK/driver.log
make_passfile "$P" "policy basic test passphrase"
make_vault "$V" "$P"

step "the tree, made without a policy by the user who mounts"
mount_vault "$V" "$M" "$P"
mkdir -p "$M/studies/s1" "$M/studies/s2" "$M/reports" "$M/admin" "$M/inbox"
echo "A-content" >"$M/studies/s1/a.dcm"
echo "B-content" >"$M/studies/s1/b.dcm"
echo "C-content" >"$M/studies/s2/c.dcm"
echo "D-content" >"$M/studies/s2/d.dcm"
ln -s a.dcm "$M/studies/s1/link"
echo "report one" >"$M/reports/r1.txt"
echo "report two" >"$M/reports/r2.txt"
echo "secret" >"$M/admin/secret.txt"
echo "public" >"$M/public.txt"
ln -s public.txt "$M/public-link"
setfattr -n user.note -v "a-note" "$M/studies/s1/a.dcm"
unmount "$M"

mk_group RAD rad
mk_group FRONT front
mk_user ALICE alice "$RAD"
mk_user BOB bob "$FRONT"
mk_user CAROL carol
mk_user DAVE dave

write_policy "$POL" <<EOF
version 1
# radiologists read studies; alice owns the inbox, bob may drop files in
allow group:$RAD list,read /studies/**
allow user:$ALICE all /inbox/**
allow user:$BOB list,create /inbox/**
allow everyone list,read /public.txt
allow everyone list /public-link
allow user:$CAROL list,read,write,create /reports/**
allow user:$CAROL list,read,delete /studies/s2/**
allow user:$CAROL setattr /reports/r2.txt
allow everyone list,read /studies/s1/b.dcm
deny group:$FRONT all /studies/**
EOF
DENY_LINE=$(grep -n '^deny' "$POL" | cut -d: -f1)
# policy_only: the policy alone decides here, so that each right is seen
# on its own; the kernel's mode checks are tested at the end.
mount_fg "$V" "$M" "$P" "$LOG" -o allow_other,policy_only,policy="$POL"

step "list: each user sees what the policy lets it list"
assert_eq "inbox public-link public.txt studies" "$(listing "$ALICE" "$M")" "alice's listing of /"
assert_eq "inbox public-link public.txt" "$(listing "$BOB" "$M")" "bob's listing of / (studies denied)"
assert_eq "public-link public.txt reports studies" "$(listing "$CAROL" "$M")" "carol's listing of /"
assert_eq "public-link public.txt studies" "$(listing "$DAVE" "$M")" "dave's listing of /"
assert_eq "s1" "$(listing "$DAVE" "$M/studies")" "dave's listing of /studies"
assert_eq "b.dcm" "$(listing "$DAVE" "$M/studies/s1")" "dave's listing of /studies/s1"
assert_eq "a.dcm b.dcm link" "$(listing "$ALICE" "$M/studies/s1")" "alice's listing of /studies/s1"
assert_eq "s1 s2" "$(listing "$ALICE" "$M/studies")" "alice's listing of /studies"
expect "$DAVE" EACCES stat "$M/admin"
expect "$DAVE" EACCES stat "$M/reports/r1.txt"
expect "$ALICE" EACCES stat "$M/admin"
expect "$ALICE" EACCES listdir "$M/admin"
expect "$BOB" EACCES listdir "$M/studies"
expect "$ALICE" OK stat "$M/studies/s1/a.dcm"
expect "$DAVE" EACCES stat "$M/studies/s1/a.dcm"

step "read"
assert_eq "A-content" "$(as "$ALICE" cat "$M/studies/s1/a.dcm" 2>&1)" "alice reads a.dcm"
expect "$ALICE" OK read "$M/studies/s2/c.dcm"
expect "$DAVE" EACCES read "$M/studies/s1/a.dcm"
expect "$DAVE" OK read "$M/studies/s1/b.dcm"
expect "$BOB" EACCES read "$M/studies/s1/b.dcm"
expect "$BOB" EACCES read "$M/admin/secret.txt"
expect "$ALICE" OK readlink "$M/studies/s1/link"
expect "$DAVE" EACCES readlink "$M/public-link"
expect "$ALICE" OK getxattr "$M/studies/s1/a.dcm" user.note
expect "$ALICE" OK listxattr "$M/studies/s1/a.dcm"
# user.* needs read; other namespaces hold nothing here and need list.
expect "$DAVE" EACCES getxattr "$M/studies/s1" user.none
expect "$DAVE" EACCES listxattr "$M/studies/s1"
expect "$DAVE" ENODATA getxattr "$M/studies/s1" security.none
expect "$CAROL" ENODATA getxattr "$M/reports/r1.txt" user.none

step "write"
expect "$ALICE" EACCES open "$M/studies/s1/a.dcm" wronly
expect "$ALICE" EACCES open "$M/studies/s1/a.dcm" rdwr
expect "$ALICE" EACCES open "$M/studies/s1/a.dcm" rdonly,trunc
expect "$ALICE" EACCES truncate "$M/studies/s1/a.dcm" 0
expect "$CAROL" OK open "$M/reports/r1.txt" rdwr
assert_cmd_ok "carol appends to r1.txt" as "$CAROL" sh -c "echo more >>'$M/reports/r1.txt'"
expect "$CAROL" OK truncate "$M/reports/r1.txt" 6
assert_eq "report" "$(as "$CAROL" cat "$M/reports/r1.txt" 2>&1)" "r1.txt after carol's truncate"
assert_eq "A-content" "$(as "$ALICE" cat "$M/studies/s1/a.dcm" 2>&1)" "a.dcm untouched"

step "create"
expect "$BOB" OK open "$M/inbox/drop1" wronly,creat
assert_cmd_ok "bob writes a new file" as "$BOB" sh -c "echo dropped >'$M/inbox/drop2'"
expect "$BOB" EACCES open "$M/inbox/drop2" wronly,trunc
expect "$BOB" EACCES read "$M/inbox/drop2"
assert_eq "dropped" "$(as "$ALICE" cat "$M/inbox/drop2" 2>&1)" "alice reads bob's drop"
expect "$ALICE" EACCES mkdir "$M/studies/s3"
expect "$ALICE" EACCES open "$M/studies/s1/new.dcm" wronly,creat
expect "$ALICE" OK mkdir "$M/inbox/sub"
expect "$ALICE" OK symlink target "$M/inbox/sym"
expect "$CAROL" EACCES symlink target "$M/studies/s2/sym"
expect "$DAVE" EACCES open "$M/inbox/x" wronly,creat
expect "$CAROL" EACCES mkdir "$M/admin/x"

step "delete"
expect "$BOB" EACCES unlink "$M/inbox/drop1"
expect "$ALICE" OK unlink "$M/inbox/drop1"
expect "$ALICE" OK rmdir "$M/inbox/sub"
expect "$ALICE" EACCES unlink "$M/studies/s1/a.dcm"
expect "$CAROL" EACCES unlink "$M/reports/r1.txt"
expect "$CAROL" EACCES rmdir "$M/studies/s1"
# A file unlinked while open stays usable through its descriptor.
as "$ALICE" sh -c "echo open >'$M/inbox/u1'"
expect "$ALICE" OK unlinked-open "$M/inbox/u1"
expect "$ALICE" ENOENT stat "$M/inbox/u1"

step "setattr"
assert_cmd_fails "alice chmods a.dcm" as "$ALICE" chmod 600 "$M/studies/s1/a.dcm"
assert_cmd_ok "alice chmods her inbox file" as "$ALICE" chmod 600 "$M/inbox/drop2"
assert_cmd_fails "carol chmods r1.txt (no setattr)" as "$CAROL" chmod 600 "$M/reports/r1.txt"
assert_cmd_ok "carol chmods r2.txt (setattr)" as "$CAROL" chmod 600 "$M/reports/r2.txt"
assert_cmd_fails "carol sets r1.txt's times (no setattr)" as "$CAROL" touch -d 2001-01-01 "$M/reports/r1.txt"
assert_cmd_ok "carol touches r1.txt to now (write)" as "$CAROL" touch "$M/reports/r1.txt"
assert_cmd_ok "carol sets r2.txt's times (setattr)" as "$CAROL" touch -d 2001-01-01 "$M/reports/r2.txt"
assert_cmd_fails "alice touches a.dcm (neither)" as "$ALICE" touch "$M/studies/s1/a.dcm"
expect "$CAROL" EACCES setxattr "$M/reports/r1.txt" user.x 6869
expect "$CAROL" OK setxattr "$M/reports/r2.txt" user.x 6869
expect "$CAROL" OK removexattr "$M/reports/r2.txt" user.x
expect "$ALICE" EACCES setxattr "$M/studies/s1/a.dcm" user.x 6869
expect "$ALICE" EACCES removexattr "$M/studies/s1/a.dcm" user.note

step "rename across rights"
expect "$CAROL" OK rename "$M/studies/s2/c.dcm" "$M/reports/c.dcm"
assert_eq "C-content" "$(as "$CAROL" cat "$M/reports/c.dcm" 2>&1)" "the renamed file"
expect "$CAROL" EACCES rename "$M/reports/r1.txt" "$M/studies/s2/r1.txt"
expect "$ALICE" EACCES rename "$M/inbox/drop2" "$M/studies/s1/drop2"
expect "$BOB" EACCES rename "$M/inbox/drop2" "$M/inbox/drop3"
expect "$ALICE" OK rename "$M/inbox/drop2" "$M/inbox/drop3"
# Replacing a target deletes it: carol may create in /reports, not delete.
expect "$CAROL" EACCES rename "$M/studies/s2/d.dcm" "$M/reports/r2.txt"
expect "$CAROL" EEXIST rename "$M/studies/s2/d.dcm" "$M/reports/r2.txt" noreplace
expect "$CAROL" OK rename "$M/studies/s2/d.dcm" "$M/reports/d.dcm" noreplace
assert_eq "report two" "$(as "$CAROL" cat "$M/reports/r2.txt" 2>&1)" "r2.txt not replaced"
as "$ALICE" sh -c "echo x >'$M/inbox/ex1'; echo y >'$M/inbox/ex2'"
expect "$ALICE" OK rename "$M/inbox/ex1" "$M/inbox/ex2" exchange
assert_eq "x" "$(as "$ALICE" cat "$M/inbox/ex2" 2>&1)" "exchanged file"
expect "$CAROL" EACCES rename "$M/reports/r1.txt" "$M/reports/c.dcm" exchange

step "root has no implicit right"
assert_eq "public-link public.txt studies" "$(listing root "$M")" "root's listing of /"
expect root EACCES read "$M/admin/secret.txt"
expect root EACCES stat "$M/admin"
expect root EACCES open "$M/newfile" wronly,creat
expect root EACCES read "$M/studies/s1/a.dcm"
expect root OK read "$M/public.txt"
expect root EACCES unlink "$M/public.txt"

step "denials are logged with uid, operation and rule line, without paths"
wait_log "$LOG" "denied: uid=$(id -u "$ALICE") op=open right=write rule=0"
wait_log "$LOG" "denied: uid=$(id -u "$BOB") op=getattr right=list rule=$DENY_LINE"
wait_log "$LOG" "denied: uid=$(id -u "$CAROL") op=rename right=delete rule=0"
wait_log "$LOG" "denied: uid=0 op=getattr right=list rule=0"
log_has_no_path "$LOG" studies a.dcm b.dcm secret admin inbox reports r1.txt drop public
unmount "$M"

step "nohide lists everything, and reaching it is still denied"
mount_fg "$V" "$M" "$P" "$WORK/driver-nohide.log" -o allow_other,policy_only,nohide,policy="$POL"
assert_eq "admin inbox public-link public.txt reports studies" "$(listing "$DAVE" "$M")" "dave's listing of / with nohide"
expect "$DAVE" EACCES stat "$M/admin"
expect "$DAVE" EACCES read "$M/admin/secret.txt"
assert_eq "a.dcm b.dcm link" "$(as "$DAVE" ls -A "$M/studies/s1" 2>/dev/null | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')" "dave's listing of /studies/s1 with nohide"
unmount "$M"

step "by default allow_other adds the kernel's mode checks: both must allow"
mount_fg "$V" "$M" "$P" "$WORK/driver-modes.log" -o allow_other,policy="$POL"
# r1.txt belongs to root, mode 0644: the policy lets carol write it, the
# mode bits do not.
expect "$CAROL" OK read "$M/reports/r1.txt"
expect "$CAROL" EACCES open "$M/reports/r1.txt" rdwr
unmount "$M"

step "the vault is intact"
assert_cmd_ok "medfs-fsck" "$MEDFS_FSCK" "$V" --passphrase-file "$P"
finish
