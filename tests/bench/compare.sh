#!/bin/bash
# compare: medfs against its peers on the workloads of a clinic, in one run,
# on the same backing storage. See tests/bench/README.md for what each
# workload does and how to read the report.
#
# Systems, each with its defaults:
#   medfs        the real configuration of a server (a PACS): an access
#                policy granting root all rights on /** (-o policy=FILE),
#                and the access journal on (a vault made with an auditor
#                key) when medfs-key has --auditor-key; mounted by root for
#                root alone, so the kernel keeps names for a second
#   medfs-shared the same, mounted with -o allow_other as on a clinic
#                workstation that several users share: medfs then keeps
#                entry_timeout=0 under a policy (every lookup meets it) and
#                adds default_permissions
#   medfs-bare   medfs without a policy, and without the journal when the
#                driver can turn it off (a medfs that refuses vaults without
#                an auditor key keeps it: the report says which)
#   gocryptfs    gocryptfs -init -passfile, mounted with -passfile only
#   passthrough  libfuse's example passthrough_ll, built here from
#                /usr/share/doc/libfuse3-dev/examples against the installed
#                headers, with -o source=DIR only (cache=normal: 1 s timeouts,
#                no keep_cache, no writeback cache, no xattr, multi-threaded)
#   plain        a directory on the backing storage, without FUSE
#
# The systems take turns within each round (the order rotates from round
# to round), and the report gives the median of the rounds. Timings are
# only reported, never asserted: the script fails only when something does
# not work. Run as root (it mounts, installs the packages of
# tests/bench/debian-deps.txt when missing, and with --drop-caches drops
# the page cache of the whole machine).
# shellcheck disable=SC2317 # functions run through measure and the traps
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage()
{
	cat <<EOF
usage: $0 [options]

  --quick            a short run (a few minutes): 1 round, files of 256 MiB,
                     500 DICOM files, 2,000 files for metadata, 3 s random I/O
  --backing LIST     tmpfs,disk (default both): tmpfs under --tmpfs-dir
                     ($TMPFS_DIR), disk under --disk-dir ($DISK_DIR)
  --rounds N         rounds; the report gives the median (default $ROUNDS)
  --workloads LIST   seq,rand,dicom,meta,small (default all)
  --systems LIST     medfs,medfs-shared,medfs-bare,gocryptfs,passthrough,plain
                     (default all; medfs-shared is medfs with -o allow_other)
  --size MIB         file size for seq and rand (default $SIZE_MIB)
  --files N          DICOM files to ingest and read (default $FILES)
  --file-kib K       size of each DICOM file (default $FILE_KIB)
  --meta-files N     files of the metadata tree (default $META_FILES)
  --meta-dirs N      directories of the metadata tree (default $META_DIRS)
  --runtime S        seconds of each random I/O run (default $RUNTIME)
  --small N          small files read by open-read-close (default $SMALL)
  --hold N           files held open for the memory figure (default $HOLD)
  --out FILE         markdown report (default tests/bench/results-latest.md;
                     the raw figures go to the same name with .tsv)
  --perf DIR         record the medfs driver with perf during each workload
                     (perf record -a -g, reported for its pid) into DIR
  --perf-callgraph M perf's --call-graph mode (default fp; dwarf attributes
                     the time of stripped libraries to medfs's functions)
  --tmpfs-dir DIR, --disk-dir DIR   where the backing directories go
  --drop-caches      drop the page cache of the WHOLE MACHINE
                     (echo 3 > /proc/sys/vm/drop_caches) before each
                     cold-cache step and random I/O run: it slows down
                     everything else running here; without it those steps
                     run with warm caches, and the report says so
  --no-install       do not install missing packages
  -h, --help         this help

Extra options may also come from MEDFS_BENCH_ARGS (meson test --benchmark).
EOF
}

# ---- options ------------------------------------------------------------

BACKINGS=tmpfs,disk
ROUNDS=3
WORKLOADS=seq,rand,dicom,meta,small
SYSTEMS=medfs,medfs-shared,medfs-bare,gocryptfs,passthrough,plain
SIZE_MIB=1024
FILES=2000
FILE_KIB=512
META_FILES=10000
META_DIRS=100
RUNTIME=10
SMALL=1000
HOLD=1000
SMALL_ROUNDS=5
OUT=$HERE/results-latest.md
PERF_DIR=
PERF_GRAPH=fp
TMPFS_DIR=/dev/shm
DISK_DIR=/var/tmp
INSTALL=1
DROP=0

# shellcheck disable=SC2206 # word splitting is the point
args=(${MEDFS_BENCH_ARGS:-} "$@")
set -- "${args[@]}"
while [ $# -gt 0 ]; do
	case $1 in
	--quick)
		ROUNDS=1 SIZE_MIB=256 FILES=500 META_FILES=2000 META_DIRS=20 RUNTIME=3
		;;
	--backing) BACKINGS=$2 && shift ;;
	--rounds) ROUNDS=$2 && shift ;;
	--workloads) WORKLOADS=$2 && shift ;;
	--systems) SYSTEMS=$2 && shift ;;
	--size) SIZE_MIB=$2 && shift ;;
	--files) FILES=$2 && shift ;;
	--file-kib) FILE_KIB=$2 && shift ;;
	--meta-files) META_FILES=$2 && shift ;;
	--meta-dirs) META_DIRS=$2 && shift ;;
	--runtime) RUNTIME=$2 && shift ;;
	--small) SMALL=$2 && shift ;;
	--hold) HOLD=$2 && shift ;;
	--out) OUT=$2 && shift ;;
	--perf) PERF_DIR=$2 && shift ;;
	--perf-callgraph) PERF_GRAPH=$2 && shift ;;
	--tmpfs-dir) TMPFS_DIR=$2 && shift ;;
	--disk-dir) DISK_DIR=$2 && shift ;;
	--no-install) INSTALL=0 ;;
	--drop-caches) DROP=1 ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		usage >&2
		exit 2
		;;
	esac
	shift
done
for n in ROUNDS SIZE_MIB FILES FILE_KIB META_FILES META_DIRS RUNTIME SMALL HOLD; do
	if ! [[ ${!n} =~ ^[1-9][0-9]*$ ]]; then
		echo "compare: $n must be a positive number, not '${!n}'" >&2
		exit 2
	fi
done
if [ $((META_FILES % META_DIRS)) -ne 0 ] || [ "$META_DIRS" -gt 1000 ]; then
	echo "compare: --meta-files must be a multiple of --meta-dirs (at most 1000)" >&2
	exit 2
fi
META_PER=$((META_FILES / META_DIRS))
[ "$SMALL" -ge "$HOLD" ] || SMALL=$HOLD

want()
{
	[[ ,$1, == *,$2,* ]]
}
for w in ${WORKLOADS//,/ }; do
	case $w in seq | rand | dicom | meta | small) ;; *)
		echo "compare: unknown workload '$w'" >&2
		exit 2
		;;
	esac
done
RUN_SYSTEMS=()
for s in ${SYSTEMS//,/ }; do
	case $s in medfs | medfs-shared | medfs-bare | gocryptfs | passthrough | plain)
		RUN_SYSTEMS+=("$s")
		;;
	*)
		echo "compare: unknown system '$s'" >&2
		exit 2
		;;
	esac
done
ran()
{
	local s
	for s in "${RUN_SYSTEMS[@]}"; do
		[ "$s" = "$1" ] && return 0
	done
	return 1
}

for b in ${BACKINGS//,/ }; do
	case $b in tmpfs | disk) ;; *)
		echo "compare: unknown backing '$b'" >&2
		exit 2
		;;
	esac
done

# ---- packages -------------------------------------------------------------

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: the benchmark needs root"
	exit 77
fi

installed()
{
	dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

# install_missing PACKAGE...: apt-get install those not installed.
install_missing()
{
	local p missing=()
	command -v dpkg-query >/dev/null || return 0
	for p in "$@"; do
		installed "$p" || missing+=("$p")
	done
	[ "${#missing[@]}" -gt 0 ] || return 0
	if [ "$INSTALL" = 0 ]; then
		echo "compare: missing packages: ${missing[*]} (and --no-install)" >&2
		exit 1
	fi
	echo "compare: installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		"${missing[@]}"
}

mapfile -t DEPS < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$HERE/debian-deps.txt" | grep -v '^$')
install_missing "${DEPS[@]}"
[ -z "$PERF_DIR" ] || install_missing linux-perf

# ---- the harness ----------------------------------------------------------

# shellcheck source-path=SCRIPTDIR
# shellcheck source=../integration/lib.sh
. "$HERE/../integration/lib.sh"

BENCH_BUILD=$_build/tests/bench
OPENREAD=${OPENREAD:-$BENCH_BUILD/openread}
INGEST=${INGEST:-$BENCH_BUILD/ingest}
HOLDOPEN=${HOLDOPEN:-$BENCH_BUILD/holdopen}
MEDFS_JOURNAL=${MEDFS_JOURNAL:-$_build/medfs-journal}
PASSTHROUGH=${PASSTHROUGH:-$(dirname "$OPENREAD")/passthrough_ll}
for exe in "$OPENREAD" "$INGEST" "$HOLDOPEN"; do
	if [ ! -x "$exe" ]; then
		echo "FAIL: $exe is not built (run ninja -C build)" >&2
		exit 1
	fi
done
TCK=$(getconf CLK_TCK)

# The binaries as they are now, so that a rebuild during a long run does
# not mix two versions of medfs in one report.
mkdir "$WORK/bin"
for v in MEDFS MEDFS_KEY MEDFS_JOURNAL; do
	if [ -x "${!v}" ]; then
		cp "${!v}" "$WORK/bin/"
		printf -v "$v" '%s' "$WORK/bin/$(basename "${!v}")"
	fi
done
MEDFS_DESCRIBE=$(git -C "$MEDFS_SOURCE_ROOT" describe --always --dirty --tags 2>/dev/null ||
	echo unknown)

# Everything mounted or made here, removed on exit (lib.sh's cleanup then
# unmounts what is left under $WORK and removes it).
BASES=()
declare -A TARGET=() PID=() MNT=()
bench_cleanup()
{
	local s b
	set +e
	for s in "${!MNT[@]}"; do
		if mountpoint -q "${MNT[$s]}"; then
			fusermount3 -u "${MNT[$s]}" 2>/dev/null || umount -l "${MNT[$s]}"
		fi
		if [ -n "${PID[$s]:-}" ]; then
			wait_pid_gone "${PID[$s]}" 20
		fi
	done
	for b in "${BASES[@]}"; do
		[ -d "$b" ] && rm -rf --one-file-system "$b"
	done
}
trap 'rc=$?; bench_cleanup; (exit $rc); cleanup' EXIT

# ---- the passthrough ceiling ----------------------------------------------

# Builds libfuse's passthrough_ll example into the build dir (not into the
# sources), unless it is there and newer than the example.
build_passthrough()
{
	local ex=/usr/share/doc/libfuse3-dev/examples src=
	if [ -f "$ex/passthrough_ll.c" ]; then
		src=$ex/passthrough_ll.c
	elif [ -f "$ex/passthrough_ll.c.gz" ]; then
		zcat "$ex/passthrough_ll.c.gz" >"$WORK/passthrough_ll.c"
		if [ -f "$ex/passthrough_helpers.h.gz" ]; then
			zcat "$ex/passthrough_helpers.h.gz" >"$WORK/passthrough_helpers.h"
		else
			cp "$ex/passthrough_helpers.h" "$WORK/"
		fi
		src=$WORK/passthrough_ll.c
	else
		echo "FAIL: no passthrough_ll.c in $ex (package libfuse3-dev)" >&2
		exit 1
	fi
	if [ -x "$PASSTHROUGH" ] && [ "$PASSTHROUGH" -nt "$src" ]; then
		return 0
	fi
	mkdir -p "$(dirname "$PASSTHROUGH")"
	# shellcheck disable=SC2046 # pkg-config's flags are words
	cc -O2 -Wall -I"$(dirname "$src")" $(pkg-config --cflags fuse3) "$src" \
		-o "$PASSTHROUGH" $(pkg-config --libs fuse3) -lpthread
}
! ran passthrough || build_passthrough

# ---- measuring ------------------------------------------------------------

# Only when asked (--drop-caches): a host-wide setting of sorts, which
# the script never touches on its own.
drop_caches()
{
	[ "$DROP" = 1 ] || return 0
	sync -f "$BASE/" 2>/dev/null || sync
	if ! echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then
		echo "compare: cannot drop caches here: the cold-cache figures are warm" >&2
		DROP=0
	fi
}

# Driver process figures.
cpu_ticks()
{
	local s f
	s=$(<"/proc/$1/stat")
	s=${s##*) }
	read -r -a f <<<"$s"
	echo $((f[11] + f[12]))
}
status_kib()
{
	awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"
}

# Pid of the process named $1 (comm) that has the argument $2.
pid_serving()
{
	local d comm
	for d in /proc/[0-9]*; do
		read -r comm 2>/dev/null <"$d/comm" || continue
		[ "$comm" = "${1:0:15}" ] || continue
		if tr '\0' '\n' <"$d/cmdline" 2>/dev/null | grep -qxF -- "$2"; then
			echo "${d#/proc/}"
			return 0
		fi
	done
}

elapsed()
{
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'
}

RAW=${OUT%.md}.tsv
BACKING=
ROUND=

# record SYSTEM STEP VALUE CPU HWM
record()
{
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$BACKING" "$ROUND" "$1" "$2" "$3" "$4" "$5" >>"$RAW"
}

# measure SYSTEM STEP CMD...: runs CMD, whose first word of output is the
# step's figure, and records it with the driver's CPU seconds
# (utime+stime) and peak RSS (VmHWM, reset first) over the step.
measure()
{
	local sys=$1 st=$2 pid=${PID[$1]:-} c0=0 cpu=- hwm=- v perf_pid=
	shift 2
	if [ -n "$pid" ]; then
		c0=$(cpu_ticks "$pid")
		echo 5 >"/proc/$pid/clear_refs"
	fi
	if [ -n "$PERF_DIR" ] && [ "$sys" = medfs ]; then
		# DWARF stacks are large: fewer of them.
		perf record -q -a --call-graph "$PERF_GRAPH" \
			-F "$([ "$PERF_GRAPH" = fp ] && echo 2999 || echo 499)" \
			-o "$PERF_DIR/$BACKING-$st.data" \
			>"$PERF_DIR/$BACKING-$st.log" 2>&1 &
		perf_pid=$!
		echo "$pid" >"$PERF_DIR/$BACKING-$st.pid"
		sleep 1
	fi
	v=$("$@")
	v=${v%% *}
	if [ -n "$perf_pid" ]; then
		kill -INT "$perf_pid"
		wait "$perf_pid" || true
	fi
	if [ -n "$pid" ]; then
		cpu=$(awk -v a="$c0" -v b="$(cpu_ticks "$pid")" -v t="$TCK" \
			'BEGIN { printf "%.2f\n", (b - a) / t }')
		hwm=$(status_kib "$pid" VmHWM)
	fi
	record "$sys" "$st" "$v" "$cpu" "$hwm"
	printf '  %-12s %-10s %12s   driver cpu %6s s, peak rss %s KiB\n' "$sys" "$st" "$v" \
		"$cpu" "$hwm"
}

# ---- workloads --------------------------------------------------------------
# Each prints its figure first: a rate (higher is better) or seconds.

fio_iops()
{
	local rw=$1 file=$2 field=8
	[ "$rw" = randread ] || field=49
	fio --name="$rw" --filename="$file" --rw="$rw" --bs=4k --size="${SIZE_MIB}M" \
		--ioengine=psync --iodepth=1 --numjobs=1 --runtime="$RUNTIME" --time_based \
		--fallocate=none --randrepeat=1 --output-format=terse --terse-version=3 |
		awk -F';' -v f="$field" '{ print $f }'
}

# secs CMD...: the second word of CMD's output (seconds, from the helpers).
secs()
{
	"$@" | awk '{ print $2 }'
}

timed()
{
	local t0 t1
	t0=$EPOCHREALTIME
	"$@" >/dev/null
	t1=$EPOCHREALTIME
	elapsed "$t0" "$t1"
}

# hold SYSTEM DIR: the driver's RSS with HOLD files of DIR held open.
hold()
{
	local sys=$1 dir=$2 pid=${PID[$1]:-} out=$WORK/holdopen.out hp n=600 idle held
	[ -n "$pid" ] || return 0
	idle=$(status_kib "$pid" VmRSS)
	echo 5 >"/proc/$pid/clear_refs"
	"$HOLDOPEN" "$dir" "$HOLD" >"$out" &
	hp=$!
	while ! grep -q '^ready' "$out"; do
		n=$((n - 1))
		if [ "$n" -le 0 ] || ! kill -0 "$hp" 2>/dev/null; then
			fail "holdopen on $sys did not get ready"
		fi
		sleep 0.1
	done
	held=$(status_kib "$pid" VmRSS)
	record "$sys" rss-idle "$idle" - -
	record "$sys" rss-hold "$held" - "$(status_kib "$pid" VmHWM)"
	kill "$hp"
	wait "$hp"
	echo "  $sys: driver rss $idle KiB, with $HOLD files open $held KiB"
}

# rss_after SYSTEM WORKLOAD: the driver's current RSS (VmRSS) once the
# workload is done, for the timeline of the report.
rss_after()
{
	[ -z "${PID[$1]:-}" ] || record "$1" "rss-after-$2" "$(status_kib "${PID[$1]}" VmRSS)" - -
}

# round_for SYSTEM: every chosen workload once, in a fresh directory.
round_for()
{
	local sys=$1 d=${TARGET[$1]}/round$ROUND
	step "$BACKING round $ROUND: $sys"
	mkdir "$d"
	if want "$WORKLOADS" seq || want "$WORKLOADS" rand; then
		if want "$WORKLOADS" seq; then
			measure "$sys" seqwrite "$INGEST" seqwrite "$d/big" "$SIZE_MIB"
			drop_caches
			measure "$sys" seqread "$INGEST" seqread "$d/big"
			# The file stays for rand.
			rss_after "$sys" seq
		else
			"$INGEST" seqwrite "$d/big" "$SIZE_MIB" >/dev/null
		fi
		if want "$WORKLOADS" rand; then
			drop_caches
			measure "$sys" randread fio_iops randread "$d/big"
			drop_caches
			measure "$sys" randwrite fio_iops randwrite "$d/big"
		fi
		rm -f "$d/big"
		! want "$WORKLOADS" rand || rss_after "$sys" rand
	fi
	if want "$WORKLOADS" dicom; then
		measure "$sys" ingest "$INGEST" write "$d/dicom" "$FILES" "$FILE_KIB"
		drop_caches
		measure "$sys" series "$INGEST" read "$d/dicom" "$FILES"
		rm -rf "$d/dicom"
		rss_after "$sys" dicom
	fi
	if want "$WORKLOADS" meta; then
		measure "$sys" create "$OPENREAD" mktree "$d/meta" "$META_DIRS" "$META_PER" 1024
		drop_caches
		measure "$sys" stat secs "$OPENREAD" stat "$d/meta" "$META_DIRS" "$META_PER"
		measure "$sys" lslR timed ls -lR "$d/meta"
		measure "$sys" rmrf timed rm -rf "$d/meta"
		rss_after "$sys" meta
	fi
	if want "$WORKLOADS" small; then
		"$OPENREAD" create "$d/small" "$SMALL" 4096
		"$OPENREAD" read "$d/small" "$SMALL" 1 >/dev/null
		measure "$sys" small "$OPENREAD" read "$d/small" "$SMALL" "$SMALL_ROUNDS"
		hold "$sys" "$d/small"
		rm -rf "$d/small"
		rss_after "$sys" small
	fi
	rm -rf "$d"
}

# ---- systems --------------------------------------------------------------

P=$WORK/pass
POL=$WORK/policy
make_passfile "$P" "benchmark passphrase"
printf 'version 1\nallow user:root all /**\n' >"$POL"
chmod 0600 "$POL"
# The access journal: on in medfs's real configuration when the vault
# can have an auditor key; off in medfs-bare when the driver has a way to
# turn it off (else a vault without a key, if the driver mounts one).
JOURNAL=off
BARE_JOURNAL=off
BARE_OPTS=()
BARE_KEY=0
if "$MEDFS_KEY" init --help 2>&1 | grep -q -- '--auditor-key' && [ -x "$MEDFS_JOURNAL" ]; then
	"$MEDFS_JOURNAL" keygen --out "$WORK/bench-auditor" >/dev/null
	JOURNAL=on
	off=$("$MEDFS" --help 2>&1 | grep -oE -- '-o (no_?journal|journal=(off|none))' |
		head -n 1 || true)
	if [ -n "$off" ]; then
		BARE_OPTS=(-o "${off#-o }")
		BARE_KEY=1
	elif "$MEDFS_KEY" init --help 2>&1 | tr -s ' \n' ' ' | grep -q 'without one does not mount'; then
		BARE_JOURNAL="on (this medfs cannot turn it off)"
		BARE_KEY=1
	fi
fi

# new_vault VAULT WITH_KEY: a vault, with the auditor key when WITH_KEY=1.
new_vault()
{
	local key=()
	[ "$2" = 0 ] || key=(--auditor-key "$WORK/bench-auditor.pub")
	"$MEDFS_KEY" init "$1" --passphrase-file "$P" --kdf-time 1 --kdf-memory 8 "${key[@]}" \
		>/dev/null || fail "medfs-key init $1 failed"
}

# mount_system SYSTEM: makes its storage under $BASE and mounts it.
mount_system()
{
	local sys=$1 m=$WORK/mnt-$BACKING-$1
	case $sys in
	medfs | medfs-shared)
		new_vault "$BASE/$sys.vault" "$([ "$JOURNAL" = on ] && echo 1 || echo 0)"
		if [ "$sys" = medfs ]; then
			mount_vault "$BASE/$sys.vault" "$m" "$P" -o policy="$POL"
		else
			mount_vault "$BASE/$sys.vault" "$m" "$P" -o policy="$POL" -o allow_other
		fi
		PID[$sys]=${DRIVER_PID[$m]}
		;;
	medfs-bare)
		new_vault "$BASE/medfs-bare.vault" "$BARE_KEY"
		mount_vault "$BASE/medfs-bare.vault" "$m" "$P" "${BARE_OPTS[@]}"
		PID[$sys]=${DRIVER_PID[$m]}
		;;
	gocryptfs)
		mkdir "$BASE/gocryptfs.cipher" "$m"
		gocryptfs -init -q -passfile "$P" "$BASE/gocryptfs.cipher" >/dev/null
		# Its complaints about a missing syslog go to a file.
		gocryptfs -q -passfile "$P" "$BASE/gocryptfs.cipher" "$m" \
			>>"$WORK/gocryptfs.log" 2>&1
		PID[$sys]=$(pid_serving gocryptfs "$m")
		;;
	passthrough)
		mkdir "$BASE/passthrough.src" "$m"
		"$PASSTHROUGH" -o source="$BASE/passthrough.src" "$m"
		PID[$sys]=$(pid_serving "$(basename "$PASSTHROUGH")" "$m")
		;;
	plain)
		mkdir "$BASE/plain"
		TARGET[$sys]=$BASE/plain
		return 0
		;;
	esac
	mountpoint -q "$m" || fail "$sys: $m is not mounted"
	[ -n "${PID[$sys]}" ] || fail "$sys: no driver process found for $m"
	MNT[$sys]=$m
	TARGET[$sys]=$m
}

unmount_system()
{
	local sys=$1
	[ -n "${MNT[$sys]:-}" ] || return 0
	fusermount3 -u "${MNT[$sys]}" || fail "fusermount3 -u ${MNT[$sys]} failed"
	wait_pid_gone "${PID[$sys]}" 20 || fail "$sys: driver still running after unmount"
	unset "DRIVER_PID[${MNT[$sys]}]" "MNT[$sys]" "PID[$sys]"
}

# ---- the run --------------------------------------------------------------

mkdir -p "$(dirname "$OUT")"
: >"$RAW"
[ -z "$PERF_DIR" ] || mkdir -p "$PERF_DIR"
START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
echo "compare: backings $BACKINGS, $ROUNDS round(s), workloads $WORKLOADS," \
	"systems ${RUN_SYSTEMS[*]}, journal $JOURNAL (medfs-bare: $BARE_JOURNAL); raw figures in $RAW"

for BACKING in ${BACKINGS//,/ }; do
	if [ "$BACKING" = tmpfs ]; then
		root=$TMPFS_DIR
		[ "$(stat -f -c %T "$root")" = tmpfs ] || fail "$root is not a tmpfs"
	else
		root=$DISK_DIR
	fi
	BASE=$(mktemp -d "$root/medfs-compare.XXXXXX")
	BASES+=("$BASE")
	ROUND=-
	record - fstype "$(findmnt -n -o FSTYPE -T "$BASE" 2>/dev/null ||
		stat -f -c %T "$BASE")" - -
	for s in "${RUN_SYSTEMS[@]}"; do
		mount_system "$s"
	done
	for s in "${RUN_SYSTEMS[@]}"; do
		[ -z "${PID[$s]:-}" ] || record "$s" rss-start "$(status_kib "${PID[$s]}" VmRSS)" - -
	done
	for ROUND in $(seq 1 "$ROUNDS"); do
		n=${#RUN_SYSTEMS[@]}
		for i in $(seq 0 $((n - 1))); do
			round_for "${RUN_SYSTEMS[$(((i + ROUND - 1) % n))]}"
		done
	done
	ROUND=-
	drop_caches
	for s in "${RUN_SYSTEMS[@]}"; do
		[ -z "${PID[$s]:-}" ] || record "$s" rss-end "$(status_kib "${PID[$s]}" VmRSS)" - -
		unmount_system "$s"
	done
	rm -rf --one-file-system "$BASE"
done

# ---- perf reports -----------------------------------------------------------

if [ -n "$PERF_DIR" ]; then
	for data in "$PERF_DIR"/*.data; do
		[ -f "$data" ] || continue
		# Self time of the driver's own samples (all its threads), in per
		# cent of them: by shared object, then the top symbols, the
		# unnamed addresses of a stripped library counted together.
		perf report -i "$data" --pid "$(cat "${data%.data}.pid")" --no-children \
			--percentage relative --sort dso,sym --stdio -g none 2>/dev/null |
			awk '/^ *[0-9.]+%/ {
				p = $1; sub(/%/, "", p); dso = $2; sym = $4
				for (i = 5; i <= NF; i++) sym = sym " " $i
				if (sym ~ /^0x/) sym = "[unnamed code]"
				d[dso] += p; k[dso "  " sym] += p
			}
			END {
				for (x in d) printf "dso %6.2f%%  %s\n", d[x], x
				for (x in k) printf "sym %6.2f%%  %s\n", k[x], x
			}' | sort -k1,1 -k2,2nr | awk '$1 == "dso" || n++ < 40' \
			>"${data%.data}.txt" || true
		# Time spent in each of medfs's own functions and what they
		# call (inclusive), which says who calls the crypto.
		perf report -i "$data" --pid "$(cat "${data%.data}.pid")" --children \
			--percentage relative --sort dso,sym --stdio -g none 2>/dev/null |
			awk '/^ *[0-9.]+%/ && $3 ~ /medfs/ && n++ < 40 {
				printf "incl %6s  %s\n", $1, $5 }' >>"${data%.data}.txt" || true
		echo "perf: ${data%.data}.txt"
	done
fi

# ---- the report ---------------------------------------------------------------

# Medians of the rounds: backing system step value cpu hwm(KiB) rounds,
# and the spread of the values (largest over smallest).
MED=$WORK/medians
awk -F'\t' '
function median(s,    a, n, i, j, t) {
	n = split(s, a, " ")
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	if (n == 0) return "-"
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function spread(s,    a, n, i, lo, hi) {
	n = split(s, a, " ")
	if (n < 2) return "-"
	lo = hi = a[1] + 0
	for (i = 2; i <= n; i++) {
		if (a[i] + 0 < lo) lo = a[i] + 0
		if (a[i] + 0 > hi) hi = a[i] + 0
	}
	return lo > 0 ? hi / lo : "-"
}
{
	k = $1 "\t" $3 "\t" $4
	if (!(k in seen)) { seen[k] = 1; keys[++nk] = k }
	if ($5 != "-") v[k] = v[k] " " $5
	if ($6 != "-") c[k] = c[k] " " $6
	if ($7 != "-") h[k] = h[k] " " $7
	if ($1 != "-" && $2 != "-") r[k]++
}
END {
	for (i = 1; i <= nk; i++) {
		k = keys[i]
		print k "\t" median(v[k]) "\t" median(c[k]) "\t" median(h[k]) "\t" r[k] + 0 \
			"\t" spread(v[k])
	}
}' "$RAW" >"$MED"

declare -A V=() C=() H=() SP=()
while IFS=$'\t' read -r b s st v c h _ sp; do
	V[$b,$s,$st]=$v
	C[$b,$s,$st]=$c
	H[$b,$s,$st]=$h
	SP[$b,$s,$st]=$sp
done <"$MED"

# Rows: step, label, unit, better (hi or lo).
ROWS=()
want "$WORKLOADS" seq && ROWS+=(
	"seqwrite|sequential write, ${SIZE_MIB} MiB in 1 MiB writes, fsync|MiB/s|hi"
	"seqread|sequential read, cold cache|MiB/s|hi")
want "$WORKLOADS" rand && ROWS+=(
	"randread|random 4 KiB reads, psync QD1, ${RUNTIME} s|IOPS|hi"
	"randwrite|random 4 KiB writes, psync QD1, ${RUNTIME} s|IOPS|hi")
want "$WORKLOADS" dicom && ROWS+=(
	"ingest|DICOM ingest, ${FILES} x ${FILE_KIB} KiB, fdatasync each|files/s|hi"
	"series|series read of them, cold cache|files/s|hi")
want "$WORKLOADS" meta && ROWS+=(
	"create|create ${META_FILES} files of 1 KiB in ${META_DIRS} dirs|files/s|hi"
	"stat|stat them, cold cache|s|lo"
	"lslR|ls -lR of them|s|lo"
	"rmrf|rm -rf of them|s|lo")
want "$WORKLOADS" small && ROWS+=(
	"small|open-read-close, ${SMALL} files of 4 KiB, x${SMALL_ROUNDS}|files/s|hi")

num()
{
	awk -v v="$1" 'BEGIN {
		if (v == "" || v == "-") { print "–"; exit }
		a = v < 0 ? -v : v
		if (a >= 100) printf "%.0f\n", v
		else if (a >= 10) printf "%.1f\n", v
		else if (a >= 1) printf "%.2f\n", v
		else printf "%.3g\n", v }'
}

# mib KIB: in MiB, one decimal.
mib()
{
	awk -v k="$1" 'BEGIN { if (k == "" || k == "-") print "–"; else printf "%.1f\n", k / 1024 }'
}

# ratio BETTER A B: how many times faster A is than B.
ratio()
{
	awk -v w="$1" -v a="$2" -v b="$3" 'BEGIN {
		if (a == "" || b == "" || a == "-" || b == "-" || a + 0 == 0 || b + 0 == 0) {
			print "–"; exit }
		printf "%.2f\n", w == "hi" ? a / b : b / a }'
}

RATIOS=()
for pair in medfs:gocryptfs medfs-shared:gocryptfs medfs-bare:gocryptfs medfs:plain \
	medfs:passthrough medfs:medfs-bare medfs-shared:medfs gocryptfs:plain; do
	ran "${pair%%:*}" && ran "${pair#*:}" && RATIOS+=("$pair")
done
# The FUSE systems, and those of them that are medfs.
FUSE_SYSTEMS=() MEDFS_SYSTEMS=()
for s in "${RUN_SYSTEMS[@]}"; do
	[ "$s" = plain ] || FUSE_SYSTEMS+=("$s")
	[[ $s != medfs* ]] || MEDFS_SYSTEMS+=("$s")
done

# table_head LEAD SEP LABEL...: a table's header and separator lines: the
# leading columns (LEAD, SEP), then one right-aligned column per LABEL.
table_head()
{
	local hdr=$1 sep=$2 label
	shift 2
	for label in "$@"; do
		hdr+=" $label |"
		sep+="---:|"
	done
	echo "$hdr"
	echo "$sep"
}

# per_system_table B WHAT SYSTEM...: workloads by systems, for backing B:
# WHAT is spread (SP), cpu (C) or peak (H, in MiB).
per_system_table()
{
	local b=$1 what=$2 row st label unit better s line x
	shift 2
	table_head "| workload |" "|---|" "$@"
	for row in "${ROWS[@]}"; do
		IFS='|' read -r st label unit better <<<"$row"
		line="| $st |"
		for s in "$@"; do
			case $what in
			spread) x=$(awk -v x="${SP[$b,$s,$st]:-}" 'BEGIN {
				if (x == "" || x == "-") print "–"; else printf "%.2f\n", x }') ;;
			cpu) x=$(num "${C[$b,$s,$st]:-}") ;;
			peak) x=$(mib "${H[$b,$s,$st]:-}") ;;
			esac
			line+=" $x |"
		done
		echo "$line"
	done
	echo
}

backing_tables()
{
	local b=$1 row st label unit better s pair line labels
	echo "## $b: $([ "$b" = tmpfs ] && echo "$TMPFS_DIR" || echo "$DISK_DIR")" \
		"(${V[$b,-,fstype]:-?})"
	echo
	echo "Median of $ROUNDS round(s)."
	echo
	table_head "| workload | unit |" "|---|---|" "${RUN_SYSTEMS[@]}"
	for row in "${ROWS[@]}"; do
		IFS='|' read -r st label unit better <<<"$row"
		line="| $label | $unit |"
		for s in "${RUN_SYSTEMS[@]}"; do
			line+=" $(num "${V[$b,$s,$st]:-}") |"
		done
		echo "$line"
	done
	echo
	if [ "${#RATIOS[@]}" -gt 0 ]; then
		echo "Speed ratios of those medians (x faster; above 1: the first is faster):"
		echo
		labels=()
		for pair in "${RATIOS[@]}"; do
			labels+=("${pair%%:*} ÷ ${pair#*:}")
		done
		table_head "| workload |" "|---|" "${labels[@]}"
		for row in "${ROWS[@]}"; do
			IFS='|' read -r st label unit better <<<"$row"
			line="| $st |"
			for pair in "${RATIOS[@]}"; do
				line+=" $(ratio "$better" "${V[$b,${pair%%:*},$st]:-}" \
					"${V[$b,${pair#*:},$st]:-}") |"
			done
			echo "$line"
		done
		echo
	fi
	if [ "$ROUNDS" -gt 1 ]; then
		echo "Spread between rounds (largest ÷ smallest of each system's figures):"
		echo
		per_system_table "$b" spread "${RUN_SYSTEMS[@]}"
	fi
	[ "${#FUSE_SYSTEMS[@]}" -gt 0 ] || return 0
	echo "Driver CPU seconds during the workload (utime+stime of the FUSE process,"
	echo "all its threads; medians):"
	echo
	per_system_table "$b" cpu "${FUSE_SYSTEMS[@]}"
	echo "Driver peak RSS during the workload (VmHWM, reset before each, MiB; medians):"
	echo
	per_system_table "$b" peak "${FUSE_SYSTEMS[@]}"
}

memory_table()
{
	local b s
	[ "${#FUSE_SYSTEMS[@]}" -gt 0 ] || return 0
	echo "## Driver memory"
	echo
	echo "RSS in MiB: after mounting; idle before and with $HOLD files held open"
	echo "(medians); at the end of the whole run (after the last round and a cache"
	echo "drop); the peak over all workloads and the holding of files."
	echo
	echo "| backing | system | after mount | idle | $HOLD files open | end of run | peak |"
	echo "|---|---|---:|---:|---:|---:|---:|"
	for b in ${BACKINGS//,/ }; do
		for s in "${FUSE_SYSTEMS[@]}"; do
			echo "| $b | $s | $(mib "${V[$b,$s,rss-start]:-}") | $(mib "${V[$b,$s,rss-idle]:-}")" \
				"| $(mib "${V[$b,$s,rss-hold]:-}") | $(mib "${V[$b,$s,rss-end]:-}")" \
				"| $(awk -F'\t' -v b="$b" -v s="$s" '$1 == b && $3 == s && $7 != "-" &&
					$7 > m { m = $7 } END { if (m) printf "%.1f\n", m / 1024; else print "–" }' "$RAW") |"
		done
	done
	echo
	timeline_table
}

# The driver's RSS samples in the order taken (after mount, after each
# workload of every round, end of run): LAST[b,s,step] those of the last
# round, and FLAT[b,s] = "MAX-MIN N", in KiB, over the N samples of the
# second half of the run (the later half of the samples).
declare -A LAST=() FLAT=()
while IFS=$'\t' read -r b r s st v _; do
	[ "$r" != "$ROUNDS" ] || [[ $st != rss-after-* ]] || LAST[$b,$s,$st]=$v
done <"$RAW"
while read -r b s x n; do
	FLAT[$b,$s]="$x $n"
done < <(awk -F'\t' '$4 == "rss-start" || $4 ~ /^rss-after-/ || $4 == "rss-end" {
		k = $1 " " $3
		if (!(k in n)) keys[++nk] = k
		v[k, ++n[k]] = $5
	}
	END {
		for (i = 1; i <= nk; i++) {
			k = keys[i]
			lo = hi = ""
			for (j = int(n[k] / 2) + 1; j <= n[k]; j++) {
				if (lo == "" || v[k, j] + 0 < lo) lo = v[k, j] + 0
				if (hi == "" || v[k, j] + 0 > hi) hi = v[k, j] + 0
			}
			print k, hi - lo, n[k] - int(n[k] / 2)
		}
	}' "$RAW")

# flat B S: max-min of the second half of the run, in MiB.
flat()
{
	local x=${FLAT[$1,$2]:-}
	mib "${x%% *}"
}

timeline_table()
{
	local b s w cols=() labels line n=
	for b in ${BACKINGS//,/ }; do
		for s in "${MEDFS_SYSTEMS[@]}"; do
			cols+=("$b,$s")
			[ -n "$n" ] || n=${FLAT[$b,$s]#* }
		done
	done
	[ "${#cols[@]}" -gt 0 ] || return 0
	echo "### RSS timeline (MiB)"
	echo
	echo "Is the driver's memory flat over a long run? Its current RSS (VmRSS, not"
	echo "the peak): after mounting, after each workload of the last round (round"
	echo "$ROUNDS) in the order run, and at the end of the run. The last line is the"
	echo "largest minus the smallest sample over the second half of the run (the"
	echo "later half of all samples: after mount, after each workload of every round,"
	echo "end of run): near 0 when memory has levelled off, large when it still grows."
	echo
	labels=()
	for b in "${cols[@]}"; do
		labels+=("${b%%,*}: ${b#*,}")
	done
	table_head "| after |" "|---|" "${labels[@]}"
	line="| mount |"
	for b in "${cols[@]}"; do
		line+=" $(mib "${V[$b,rss-start]:-}") |"
	done
	echo "$line"
	for w in seq rand dicom meta small; do
		want "$WORKLOADS" "$w" || continue
		line="| $w$([ "$w" != small ] || echo " (and holding $HOLD files)") |"
		for b in "${cols[@]}"; do
			line+=" $(mib "${LAST[$b,rss-after-$w]:-}") |"
		done
		echo "$line"
	done
	line="| end of run (cache dropped) |"
	for b in "${cols[@]}"; do
		line+=" $(mib "${V[$b,rss-end]:-}") |"
	done
	echo "$line"
	line="| **max − min, second half** ($n samples) |"
	for b in "${cols[@]}"; do
		line+=" $(flat "${b%%,*}" "${b#*,}") |"
	done
	echo "$line"
	echo
}

# target_line LABEL STEP OTHER MIN BETTER: one line of the targets table,
# each medfs system of TCOLS (backing,system) against OTHER.
target_line()
{
	local label=$1 st=$2 other=$3 min=$4 better=$5 c line r
	line="| $label | ≥ $min |"
	for c in "${TCOLS[@]}"; do
		r=$(ratio "$better" "${V[$c,$st]:-}" "${V[${c%%,*},$other,$st]:-}")
		if [ "$r" = "–" ]; then
			line+=" – |"
		elif awk -v r="$r" -v m="$min" 'BEGIN { exit !(r >= m) }'; then
			line+=" $r met |"
		else
			line+=" $r **missed** |"
		fi
	done
	echo "$line"
}

TCOLS=()
for b in ${BACKINGS//,/ }; do
	for s in medfs medfs-shared; do
		! ran "$s" || TCOLS+=("$b,$s")
	done
done

targets_table()
{
	local c line sep row st label unit better min r
	[ "${#TCOLS[@]}" -gt 0 ] || return 0
	echo "## The issue's targets"
	echo
	echo "For medfs as on a server (medfs) and on a shared workstation"
	echo "(medfs-shared). Ratios of medians, as above; informational (timings are"
	echo "never asserted)."
	echo
	line="| target | wanted |"
	sep="|---|---|"
	for c in "${TCOLS[@]}"; do
		line+=" ${c%%,*}: ${c#*,} |"
		sep+="---|"
	done
	echo "$line"
	echo "$sep"
	if ran gocryptfs; then
		for row in "${ROWS[@]}"; do
			IFS='|' read -r st label unit better <<<"$row"
			case $st in
			seqwrite | seqread) min=1.3 ;;
			randread) min=1.0 ;;
			randwrite) min=3 ;;
			ingest | series) min=1.5 ;;
			*) min=1.0 ;;
			esac
			target_line "$st ÷ gocryptfs" "$st" gocryptfs "$min" "$better"
		done
	fi
	if ran medfs-bare; then
		for row in "${ROWS[@]}"; do
			IFS='|' read -r st label unit better <<<"$row"
			min=0.9
			[ "$st" != seqread ] || min=0.95
			target_line "$st ÷ medfs-bare" "$st" medfs-bare "$min" "$better"
		done
	fi
	if want "$WORKLOADS" small; then
		line="| RSS with $HOLD files open | ≤ 64 MiB |"
		for c in "${TCOLS[@]}"; do
			r=$(mib "${V[$c,rss-hold]:-}")
			if [ "$r" = "–" ]; then
				line+=" – |"
			elif awk -v r="$r" 'BEGIN { exit !(r <= 64) }'; then
				line+=" $r MiB met |"
			else
				line+=" $r MiB **missed** |"
			fi
		done
		echo "$line"
	fi
	line="| RSS max − min, second half of the run | flat |"
	for c in "${TCOLS[@]}"; do
		line+=" $(flat "${c%%,*}" "${c#*,}") MiB |"
	done
	echo "$line"
	echo
}

{
	echo "# medfs compared with gocryptfs, a FUSE passthrough and a plain directory"
	echo
	echo "Generated by tests/bench/compare.sh, started $START. Numbers from a shared"
	echo "machine are noisy: compare ratios within one run, not across runs."
	echo
	echo "- machine: $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
		"$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
	echo "- medfs $MEDFS_DESCRIBE ($("$MEDFS" --version 2>&1 | grep -m 1 '^medfs'));" \
		"$(gocryptfs --version 2>/dev/null | head -n 1);" \
		"fuse3 $(dpkg-query -W -f='${Version}' fuse3 2>/dev/null); $(fio --version)"
	echo "- medfs: vault made with medfs-key init --kdf-time 1 --kdf-memory 8 (unlock cost only)," \
		"default mount options, policy \`allow user:root all /**\`, access journal $JOURNAL;" \
		"medfs-shared: the same mounted with \`-o allow_other\` (so entry_timeout=0 and" \
		"default_permissions);" \
		"medfs-bare: no policy, access journal $BARE_JOURNAL${BARE_OPTS[*]:+ (${BARE_OPTS[*]})}"
	echo "- gocryptfs: \`-init -passfile\`, mounted with \`-passfile\` only (its defaults)"
	echo "- passthrough: libfuse $(dpkg-query -W -f='${Version}' libfuse3-dev 2>/dev/null)" \
		"example passthrough_ll, \`-o source=DIR\` only: cache=normal (1 s timeouts," \
		"no keep_cache), no writeback cache, no xattr, multi-threaded"
	echo "- caches dropped (sync; echo 3 > /proc/sys/vm/drop_caches) before every" \
		"cold-cache step and before each random I/O run: $([ "$DROP" = 1 ] && echo yes || echo "no (--drop-caches not given, or not allowed here)")"
	echo "- rounds: $ROUNDS, systems in turn, the order rotating each round"
	echo
	for b in ${BACKINGS//,/ }; do
		backing_tables "$b"
	done
	memory_table
	targets_table
} >"$OUT"

echo
cat "$OUT"
echo
echo "compare: report in $OUT, raw figures in $RAW"
finish
