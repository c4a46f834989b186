# shellcheck shell=bash
# shellcheck disable=SC2034,SC2153 # DRIVER_PID, FSOP: lib.sh's
# Shared helpers of the access policy tests (policy-*.sh), sourced after
# lib.sh, never run: real users and groups made for the test and removed
# on exit, commands run as them, policy files, and a driver kept in the
# foreground so its log (denials, reloads, emergency grants) can be read.
#
# Users and groups get the test's pid in their names, so tests running in
# parallel never share one. MEDFS_WRAPPER (for example "valgrind -q
# --error-exitcode=99") is put before the driver started by mount_fg.

for _cmd in useradd userdel groupadd groupdel setpriv; do
	if ! command -v "$_cmd" >/dev/null; then
		echo "SKIP: $_cmd not installed"
		exit 77
	fi
done

TAG=$$
POLICY_USERS=()
POLICY_GROUPS=()

# Other users must reach the mount and the helpers.
chmod 0755 "$WORK"
mkdir -p "$WORK/bin"
cp "$FSOP" "$WORK/bin/fsop"
chmod 0755 "$WORK/bin" "$WORK/bin/fsop"
UFSOP=$WORK/bin/fsop

policy_cleanup()
{
	local rc=$? u g
	set +e
	# The driver runs as root and goes with lib.sh's cleanup; no
	# process of the test users outlives its command.
	for u in "${POLICY_USERS[@]}"; do
		userdel -f "$u" >/dev/null 2>&1 || userdel -f "$u" >/dev/null 2>&1
		groupdel "$u" >/dev/null 2>&1
	done
	for g in "${POLICY_GROUPS[@]}"; do
		groupdel "$g" >/dev/null 2>&1
	done
	(exit "$rc")
	cleanup
}
trap policy_cleanup EXIT

# retry CMD...: the shadow tools refuse while another one holds the lock
# of /etc/passwd or /etc/group (tests run in parallel).
retry()
{
	local n=0 out
	until out=$("$@" 2>&1); do
		n=$((n + 1))
		if [ "$n" -ge 40 ]; then
			echo "$out" >&2
			return 1
		fi
		sleep 0.25
	done
}

# mk_group VAR NAME: makes a group named NAME with the test's tag; VAR
# gets its real name. (Not from a $(...) subshell: the clean-up must
# learn of it.)
mk_group()
{
	local g=m${TAG}$2
	retry groupadd "$g" || fail "groupadd $g"
	POLICY_GROUPS+=("$g")
	printf -v "$1" '%s' "$g"
}

# mk_user VAR NAME [GROUP,...]: a user with its own group, member of the
# given (real) groups; VAR gets its real name.
mk_user()
{
	local u=m${TAG}$2 groups=${3:-}
	local args=(-M -U -s /usr/sbin/nologin -d /nonexistent)
	[ -z "$groups" ] || args+=(-G "$groups")
	retry useradd "${args[@]}" "$u" || fail "useradd $u"
	POLICY_USERS+=("$u")
	printf -v "$1" '%s' "$u"
}

# as USER CMD...: runs CMD as USER, with its groups.
as()
{
	local u=$1
	shift
	setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups -- "$@"
}

# expect USER RESULT OP ARGS...: one call through fsop as USER ends with
# RESULT (OK or an errno name).
expect()
{
	local u=$1 want=$2 got
	shift 2
	got=$(as "$u" "$UFSOP" "$@" 2>&1) || true
	if [ "$got" != "$want" ]; then
		fail "as $u: fsop $*: expected $want, got '$got'"
	fi
}

# listing USER DIR: the names USER sees in DIR, sorted, on one line.
listing()
{
	as "$1" ls -A "$2" 2>&1 | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//'
}

# write_policy FILE: the policy text from stdin, owned by root, mode 0600.
write_policy()
{
	cat >"$1.tmp"
	chmod 0600 "$1.tmp"
	mv -f "$1.tmp" "$1"
}

# mount_fg VAULT MNT PASSFILE LOG [medfs args]: the driver in the
# foreground (-f) in the background of the test, its stderr in LOG;
# returns once MNT is mounted. The driver's pid is in FG_PID.
mount_fg()
{
	local vault=$1 mnt=$2 pf=$3 log=$4 n=0
	shift 4
	mkdir -p "$mnt"
	# shellcheck disable=SC2086 # MEDFS_WRAPPER is a command line
	${MEDFS_WRAPPER:-} "$MEDFS" "$vault" "$mnt" --passphrase-file "$pf" -f "$@" 2>"$log" &
	FG_PID=$!
	# shellcheck disable=SC2004 # an associative array (lib.sh)
	DRIVER_PID[$mnt]=$FG_PID
	until mountpoint -q "$mnt"; do
		if ! pid_alive "$FG_PID"; then
			cat "$log" >&2
			fail "medfs -f $vault $mnt exited before mounting"
			return 1
		fi
		n=$((n + 1))
		if [ "$n" -gt 600 ]; then
			fail "medfs -f $vault $mnt: not mounted after 60 s"
			return 1
		fi
		sleep 0.1
	done
}

# wait_log LOG TEXT: waits up to 10 s for a line holding TEXT in LOG.
wait_log()
{
	local n=0
	until grep -qF -- "$2" "$1"; do
		n=$((n + 1))
		if [ "$n" -gt 100 ]; then
			fail "no '$2' in the driver's log $1"
			return 1
		fi
		sleep 0.1
	done
}

# log_has_no_path LOG WORD...: none of the words (file and directory
# names) appears in the driver's log, as a word ("admin" is not in "An
# administrator may turn it on", the driver's notice on a host without
# FUSE over io_uring).
log_has_no_path()
{
	local log=$1 w
	shift
	for w in "$@"; do
		if grep -qwF -- "$w" "$log"; then
			fail "the driver's log names '$w': $(grep -wF -- "$w" "$log" | head -n 3)"
		fi
	done
}
