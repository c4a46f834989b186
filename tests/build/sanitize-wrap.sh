#!/bin/bash
# sanitize-wrap: the meson test wrapper of tests/build/sanitize.sh. Runs one
# test (its command line is the arguments) with AddressSanitizer,
# LeakSanitizer and UndefinedBehaviorSanitizer writing their reports into
# a fresh directory instead of stderr, so that reports from every process
# the test starts are caught: the driver (a daemon, whose stderr nobody
# reads), the tools, fsop run as other users. The test fails when any
# report was written, even if the test itself passed (a tool that was
# expected to fail, a driver that crashed at unmount); the reports are
# printed on stderr, which meson keeps in its log.
#
#   sanitize-wrap.sh TEST [ARGS...]
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
logs=$(mktemp -d "${TMPDIR:-/tmp}/medfs-sanitize.XXXXXX") || exit 1
# The tests run programs as unprivileged users, who write here too.
chmod 1777 "$logs"
trap 'rm -rf "$logs"' EXIT
trap 'exit 143' TERM HUP
trap 'exit 130' INT

# detect_leaks: a leak in any process is a finding. abort_on_error: a
# report ends the process at once (no half-broken daemon serving on).
# verify_asan_link_order=0: the durability test LD_PRELOADs its shim
# into the driver, ahead of the ASan runtime when that is a library (gcc).
# suppressions: reports from code outside medfs, each explained there. halt_on_error: the first
# undefined behaviour stops the process, as it does for ASan.
export ASAN_OPTIONS="suppressions=$here/asan.supp:detect_leaks=1:abort_on_error=1:disable_coredump=1:log_path=$logs/asan:verify_asan_link_order=0:detect_stack_use_after_return=1:check_initialization_order=1:strict_string_checks=1${MEDFS_ASAN_OPTIONS:+:$MEDFS_ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:log_path=$logs/ubsan"

"$@"
status=$?

# The tests wait for their drivers to exit (lib.sh's unmount), and a
# process writes its leak report before it exits.
reports=$(find "$logs" -type f | sort)
if [ -n "$reports" ]; then
	for r in $reports; do
		echo "==== sanitizer report $(basename "$r") ====" >&2
		cat "$r" >&2
	done
	echo "FAIL: sanitizer reports above" >&2
	exit 1
fi
exit "$status"
