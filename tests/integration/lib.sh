# shellcheck shell=bash
# Shared helpers of the medfs integration tests: sourced by each test, never
# run. Gives a private work dir removed (and unmounted) on exit, vault and
# mount helpers, and assertions that say what failed.
#
# Environment (set by meson; defaults to the build dir next to the sources):
#   MEDFS MEDFS_KEY MEDFS_FSCK MEDFS_JOURNAL RWCHECK FSOP MEDFS_SOURCE_ROOT
# MEDFS_KEEP_WORK=1 keeps the work dir for a post-mortem.

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: the integration tests need root"
	exit 77
fi
if [ ! -c /dev/fuse ]; then
	echo "SKIP: no /dev/fuse"
	exit 77
fi

TEST_NAME=$(basename "$0" .sh)
MEDFS_SOURCE_ROOT=${MEDFS_SOURCE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
_build=${MEDFS_BUILD_DIR:-$MEDFS_SOURCE_ROOT/build}
MEDFS=${MEDFS:-$_build/medfs}
MEDFS_KEY=${MEDFS_KEY:-$_build/medfs-key}
MEDFS_FSCK=${MEDFS_FSCK:-$_build/medfs-fsck}
MEDFS_JOURNAL=${MEDFS_JOURNAL:-$_build/medfs-journal}
RWCHECK=${RWCHECK:-$_build/tests/rwcheck}
FSOP=${FSOP:-$_build/tests/fsop}
for _exe in "$MEDFS" "$MEDFS_KEY" "$MEDFS_FSCK" "$MEDFS_JOURNAL" "$RWCHECK" "$FSOP"; do
	if [ ! -x "$_exe" ]; then
		echo "FAIL: $_exe is not built (run ninja -C build)" >&2
		exit 1
	fi
done
export MEDFS MEDFS_KEY MEDFS_FSCK MEDFS_JOURNAL RWCHECK FSOP MEDFS_SOURCE_ROOT

FAILS=0
SOFT=${SOFT:-0}
# Mountpoint -> pid of its driver, for unmount and clean-up.
declare -A DRIVER_PID=()

WORK=$(mktemp -d "${TMPDIR:-/tmp}/medfs-$TEST_NAME.XXXXXX")
WORK=$(cd "$WORK" && pwd -P)
# The auditor of the test's vaults (make_vault): $AUDITOR.pub is recorded
# in each vault, $AUDITOR.key reads their journals.
AUDITOR=$WORK/auditor

# Mountpoints under $WORK, deepest first.
mounts_under()
{
	awk -v p="$1/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r
}

pid_alive()
{
	local st
	[ -r "/proc/$1/stat" ] || return 1
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# Waits up to $2 seconds (default 20) for pid $1 to end.
wait_pid_gone()
{
	local pid=$1 n=$((${2:-20} * 10))
	while pid_alive "$pid"; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.1
	done
}

cleanup()
{
	local rc=$? mp pid
	set +e
	for mp in $(mounts_under "$WORK"); do
		echo "cleanup: unmounting $mp" >&2
		if command -v fusermount3 >/dev/null; then
			fusermount3 -u "$mp" 2>/dev/null || umount "$mp" 2>/dev/null || umount -l "$mp"
		else
			umount "$mp" 2>/dev/null || umount -l "$mp"
		fi
	done
	# Only drivers this test started, by pid.
	for pid in "${DRIVER_PID[@]}"; do
		if pid_alive "$pid" && ! wait_pid_gone "$pid" 5; then
			kill "$pid" 2>/dev/null
		fi
	done
	if [ -n "$(mounts_under "$WORK")" ]; then
		echo "cleanup: something is still mounted under $WORK" >&2
		[ "$rc" -ne 0 ] || rc=1
	elif [ "${MEDFS_KEEP_WORK:-0}" = 1 ]; then
		echo "kept $WORK" >&2
	else
		rm -rf --one-file-system "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# ---- reporting ----------------------------------------------------------

step()
{
	echo "== $TEST_NAME: $*"
}

# Reports a failed check. Exits, unless SOFT=1, where it counts the failure
# and lets the test go on; finish then exits 1.
fail()
{
	echo "FAIL: $TEST_NAME: $*" >&2
	if [ "$SOFT" = 1 ]; then
		FAILS=$((FAILS + 1))
		return 0
	fi
	exit 1
}

finish()
{
	if [ "$FAILS" -ne 0 ]; then
		echo "$TEST_NAME: $FAILS check(s) failed" >&2
		exit 1
	fi
	echo "PASS: $TEST_NAME"
	exit 0
}

# ---- assertions ---------------------------------------------------------

# assert_eq EXPECTED GOT WHAT
assert_eq()
{
	if [ "$1" != "$2" ]; then
		fail "$3: expected '$1', got '$2'"
	fi
}

# assert_file_eq EXPECTED_FILE GOT_FILE [WHAT]
assert_file_eq()
{
	local out
	if ! out=$(cmp -- "$1" "$2" 2>&1); then
		fail "${3:-content of $2}: differs from $1: $out"
	fi
}

# assert_fails_with ERRNO-NAME OP ARGS...: runs one system call through
# $FSOP (see fsop.c) and checks that it fails with that errno.
assert_fails_with()
{
	local want=$1 got
	shift
	got=$("$FSOP" "$@" 2>&1) || true
	if [ "$got" != "$want" ]; then
		fail "fsop $*: expected $want, got '$got'"
	fi
}

# assert_ok OP ARGS...: the call through $FSOP succeeds.
assert_ok()
{
	local got
	got=$("$FSOP" "$@" 2>&1) || true
	if [ "$got" != OK ]; then
		fail "fsop $*: expected success, got '$got'"
	fi
}

# assert_cmd_fails WHAT CMD...: the command exits non-zero.
assert_cmd_fails()
{
	local what=$1
	shift
	if "$@" >/dev/null 2>&1; then
		fail "$what: '$*' succeeded, expected a failure"
	fi
}

# assert_cmd_ok WHAT CMD...: the command exits 0 (its output is shown if not).
assert_cmd_ok()
{
	local what=$1 out
	shift
	if ! out=$("$@" 2>&1); then
		fail "$what: '$*' failed: $out"
	fi
}

assert_mounted()
{
	if ! mountpoint -q "$1"; then
		fail "${2:-$1}: not mounted"
	fi
}

assert_not_mounted()
{
	if mountpoint -q "$1" || awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts; then
		fail "${2:-$1}: still mounted"
	fi
}

# ---- vaults and mounts --------------------------------------------------

# make_passfile FILE PASSPHRASE: one line with a trailing newline.
make_passfile()
{
	printf '%s\n' "$2" >"$1"
	chmod 600 "$1"
}

# make_auditor: the test's auditor key pair, $AUDITOR.pub and .key (once).
make_auditor()
{
	local out
	[ ! -f "$AUDITOR.pub" ] || return 0
	if ! out=$("$MEDFS_JOURNAL" keygen --out "$AUDITOR" 2>&1); then
		echo "$out" >&2
		fail "medfs-journal keygen --out $AUDITOR failed"
		return 1
	fi
}

# make_vault VAULT PASSFILE [extra medfs-key args]: with the test's auditor
# key (a vault without one does not mount).
make_vault()
{
	local vault=$1 pf=$2 out
	shift 2
	make_auditor || return 1
	if ! out=$("$MEDFS_KEY" init "$vault" --passphrase-file "$pf" \
		--kdf-time 1 --kdf-memory 8 --auditor-key "$AUDITOR.pub" "$@" 2>&1); then
		echo "$out" >&2
		fail "medfs-key init $vault failed"
		return 1
	fi
	if [ ! -f "$vault/medfs.conf" ] || [ ! -d "$vault/tree" ]; then
		fail "medfs-key init $vault: no medfs.conf or tree/"
		return 1
	fi
}

# Pid of the driver serving mountpoint $1 (a process running $MEDFS with
# $1 among its arguments), or nothing.
driver_pid()
{
	local mnt=$1 d comm args name
	name=$(basename "$MEDFS")
	for d in /proc/[0-9]*; do
		read -r comm 2>/dev/null <"$d/comm" || continue
		[ "$comm" = "${name:0:15}" ] || continue
		args=$(tr '\0' '\n' <"$d/cmdline" 2>/dev/null) || continue
		[ "$(head -n 1 <<<"$args")" = "$MEDFS" ] || continue
		if grep -qxF -- "$mnt" <<<"$args"; then
			echo "${d#/proc/}"
			return 0
		fi
	done
}

# fsck_status VAULT PASSFILE OUT ARGS...: medfs-fsck on VAULT, its output
# in OUT; prints its exit status (e2fsck's: 0, 1, 4, 8, added up).
fsck_status()
{
	local vault=$1 pf=$2 out=$3 rc=0
	shift 3
	"$MEDFS_FSCK" "$vault" --passphrase-file "$pf" "$@" >"$out" 2>&1 || rc=$?
	echo "$rc"
}

# kill_driver MNT: kill -9 of the driver of MNT, which leaves its mount
# behind, dead ("Transport endpoint is not connected").
kill_driver()
{
	local pid
	pid=$(driver_pid "$1")
	[ -n "$pid" ] || fail "no driver for $1"
	kill -9 "$pid"
	wait_pid_gone "$pid" 20 || fail "driver $pid still alive after kill -9"
	unset "DRIVER_PID[$1]"
}

# mount_foreground LOG VAULT MNT PASSFILE [extra medfs args]: the driver
# in the foreground (-f), its output in LOG; returns once mounted.
mount_foreground()
{
	local log=$1 vault=$2 mnt=$3 pf=$4 n=100
	shift 4
	mkdir -p "$mnt"
	"$MEDFS" "$vault" "$mnt" --passphrase-file "$pf" -f "$@" >"$log" 2>&1 &
	DRIVER_PID[$mnt]=$!
	while ! mountpoint -q "$mnt"; do
		n=$((n - 1))
		if [ "$n" -le 0 ]; then
			fail "no mount after 10 s: $(tail -5 "$log")"
			return 1
		fi
		sleep 0.1
	done
}

# mount_vault VAULT MNT PASSFILE [extra medfs args]: background mode; the
# driver must return only once the filesystem is mounted.
mount_vault()
{
	local vault=$1 mnt=$2 pf=$3 out pid
	shift 3
	mkdir -p "$mnt"
	if ! out=$("$MEDFS" "$vault" "$mnt" --passphrase-file "$pf" "$@" 2>&1); then
		echo "$out" >&2
		fail "medfs $vault $mnt exited non-zero"
		return 1
	fi
	if ! mountpoint -q "$mnt"; then
		echo "$out" >&2
		fail "medfs $vault $mnt exited 0 but $mnt is not a mountpoint"
		return 1
	fi
	pid=$(driver_pid "$mnt")
	if [ -n "$pid" ]; then
		DRIVER_PID[$mnt]=$pid
	fi
}

# unmount MNT: fusermount3 -u, then waits for the driver to exit.
unmount()
{
	local mnt=$1 pid
	pid=${DRIVER_PID[$mnt]:-$(driver_pid "$mnt")}
	if command -v fusermount3 >/dev/null; then
		fusermount3 -u "$mnt" || fail "fusermount3 -u $mnt failed"
	else
		umount "$mnt" || fail "umount $mnt failed"
	fi
	if [ -n "$pid" ] && ! wait_pid_gone "$pid" 20; then
		fail "driver $pid of $mnt still running 20 s after unmount"
	fi
	unset "DRIVER_PID[$mnt]"
	assert_not_mounted "$mnt"
}

# ---- vault inspection ---------------------------------------------------

# Size of the vault file holding a plaintext file of $1 bytes.
disk_size()
{
	local p=$1 n r
	n=$((p / 4096))
	r=$((p % 4096))
	if [ "$r" -eq 0 ]; then
		echo $((104 + n * 4136))
	else
		echo $((104 + n * 4136 + r + 40))
	fi
}

# vault_file_of_size VAULT PLAIN_SIZE: the one vault file that holds a
# plaintext file of that size (tests give their files distinct sizes).
vault_file_of_size()
{
	local vault=$1 d found n
	d=$(disk_size "$2")
	found=$(find "$vault/tree" -type f -size "${d}c" ! -name '.*' ! -name '*.n')
	n=$(grep -c . <<<"$found" || true)
	if [ "$n" -ne 1 ]; then
		fail "expected one vault file of $d bytes (plaintext $2), found $n"
		return 1
	fi
	echo "$found"
}

# A file of $2 random bytes at $1.
random_file()
{
	head -c "$2" /dev/urandom >"$1"
}

# Exact size of a file.
fsize()
{
	stat -c %s -- "$1"
}
