#!/bin/bash
# hardening: each binary given is built hardened, as Debian's
# hardening-check judges it: a position-independent executable (PIE),
# relocations read-only after start (RELRO) and bound at start
# (BIND_NOW), stack protector (__stack_chk_fail), fortified libc calls
# (*_chk). Reads the ELF with readelf; also runs hardening-check when it
# is installed.
#
#   hardening.sh BINARY...
set -u

if ! command -v readelf >/dev/null; then
	echo "SKIP: no readelf (binutils)"
	exit 77
fi
[ "$#" -gt 0 ] || { echo "usage: hardening.sh BINARY..." >&2; exit 2; }

fails=0
bad()
{
	echo "FAIL: $1: $2" >&2
	fails=$((fails + 1))
}

for bin in "$@"; do
	name=$(basename "$bin")
	before=$fails
	header=$(readelf -W -h "$bin") || { bad "$name" "not an ELF file"; continue; }
	dynamic=$(readelf -W -d "$bin")
	segments=$(readelf -W -l "$bin")
	symbols=$(readelf -W --dyn-syms "$bin")

	# PIE: a shared object type with the PIE flag (a shared library has
	# no such flag).
	grep -Eq 'Type:[[:space:]]+DYN' <<<"$header" || bad "$name" "not PIE (ELF type is not DYN)"
	grep -Eq 'FLAGS_1.*\bPIE\b' <<<"$dynamic" || bad "$name" "not PIE (no DF_1_PIE)"
	grep -q 'GNU_RELRO' <<<"$segments" || bad "$name" "no RELRO segment"
	grep -Eq '\(FLAGS\).*\bBIND_NOW\b|FLAGS_1.*\bNOW\b|\(BIND_NOW\)' <<<"$dynamic" ||
		bad "$name" "no BIND_NOW (lazy binding)"
	grep -q '__stack_chk_fail' <<<"$symbols" || bad "$name" "no stack protector (__stack_chk_fail)"
	grep -Eq '__[a-z0-9_]+_chk(@|[[:space:]]|$)' <<<"$(grep -v __stack_chk_fail <<<"$symbols")" ||
		bad "$name" "no fortified libc call (*_chk): _FORTIFY_SOURCE missing"
	if grep -q 'GNU_STACK.*RWE' <<<"$segments"; then
		bad "$name" "executable stack"
	fi
	if command -v hardening-check >/dev/null; then
		out=$(hardening-check --nocfprotection "$bin" 2>&1) || bad "$name" "hardening-check: $out"
	fi
	[ "$fails" -eq "$before" ] && echo "$name: PIE, RELRO, BIND_NOW, stack protector, fortified"
done

if [ "$fails" -gt 0 ]; then
	echo "$fails failure(s)" >&2
	exit 1
fi
