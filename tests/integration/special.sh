#!/bin/bash
# special: FIFOs and Unix sockets in a mount, as programs that keep one in
# their data directory need (issue 15). A FIFO carries data from a writer
# to a reader; a socket bound in the mount takes a connection; both are
# vault entries of their type under encrypted names, listed, renamed,
# still there after a remount and after a key rotation, and medfs-fsck
# calls nothing damaged. Device nodes are refused with EPERM. Under a
# policy, creating one is decided (and journaled) as creating a file.
set -eu
SOFT=1
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR
# shellcheck source=policy-lib.sh
. "$(dirname "$0")/policy-lib.sh"
for _cmd in python3 jq; do
	if ! command -v "$_cmd" >/dev/null; then
		echo "SKIP: $_cmd not installed"
		exit 77
	fi
done

V=$WORK/vault
M=$WORK/mnt
P=$WORK/pass
POL=$WORK/policy
LOG=$WORK/driver.log
J=$V/journal
make_passfile "$P" "special files test passphrase"
make_vault "$V" "$P"

# sock_echo SOCKET: listens on SOCKET (bound there by this call, when it
# does not exist yet), and in the same process connects to it, sends
# "ping" and reads the reply the server thread sent ("pong: ping").
sock_echo()
{
	python3 - "$1" <<'EOF'
import os, socket, sys, threading
path = sys.argv[1]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
if os.path.exists(path):
    os.unlink(path)
srv.bind(path)
srv.listen(1)
def serve():
    c, _ = srv.accept()
    c.sendall(b"pong: " + c.recv(64))
    c.close()
t = threading.Thread(target=serve)
t.start()
cl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
cl.connect(path)
cl.sendall(b"ping")
print(cl.recv(64).decode())
t.join()
EOF
}

step "a FIFO carries data from a writer to a reader"
mount_vault "$V" "$M" "$P"
mkdir "$M/data"
mkfifo -m 0640 "$M/data/fifo" || fail "mkfifo in the mount"
[ -p "$M/data/fifo" ] || fail "data/fifo is not a FIFO"
assert_eq "640" "$(stat -c %a "$M/data/fifo")" "the FIFO's mode"
cat "$M/data/fifo" >"$WORK/fifo.out" &
reader=$!
seq 1 20000 >"$WORK/fifo.in"
cat "$WORK/fifo.in" >"$M/data/fifo"
wait "$reader" || fail "the reader of the FIFO"
assert_file_eq "$WORK/fifo.in" "$WORK/fifo.out"

step "a Unix socket bound in the mount takes a connection"
assert_eq "pong: ping" "$(sock_echo "$M/data/sock" 2>&1)" "a round trip through data/sock"
[ -S "$M/data/sock" ] || fail "data/sock is not a socket"

step "device nodes are refused with EPERM"
assert_eq "EPERM" "$("$FSOP" mknod-chr "$M/data/null" 2>&1)" "mknod of a character device"
assert_cmd_fails "mknod of a block device" mknod "$M/data/blk" b 7 0
assert_eq "fifo sock" "$(ls "$M/data" | tr '\n' ' ' | sed 's/ $//')" "the listing of data"

step "in the vault: a FIFO and a socket under encrypted names"
assert_eq "1" "$(find "$V/tree" -type p | wc -l)" "FIFOs in the vault"
assert_eq "1" "$(find "$V/tree" -type s | wc -l)" "sockets in the vault"
assert_eq "" "$(find "$V/tree" -name '*fifo*' -o -name '*sock*')" "plaintext names in the vault"

step "renamed, still there after a remount, a key rotation and medfs-fsck"
mv "$M/data/fifo" "$M/fifo2" || fail "rename of the FIFO"
mv "$M/data/sock" "$M/data/sock2" || fail "rename of the socket"
unmount "$M"
out=$("$MEDFS_KEY" rotate "$V" --passphrase-file "$P" 2>&1) || fail "medfs-key rotate: $out"
if grep -qi "left as it is" <<<"$out"; then
	fail "medfs-key rotate complains: $out"
fi
out=$("$MEDFS_FSCK" "$V" --passphrase-file "$P" 2>&1) || fail "medfs-fsck: $out"
mount_vault "$V" "$M" "$P"
[ -p "$M/fifo2" ] || fail "fifo2 is not a FIFO after a remount"
[ -S "$M/data/sock2" ] || fail "data/sock2 is not a socket after a remount"
cat "$M/fifo2" >"$WORK/fifo.out" &
reader=$!
echo "after the remount" >"$M/fifo2"
wait "$reader" || fail "the reader of fifo2"
assert_eq "after the remount" "$(cat "$WORK/fifo.out")" "fifo2 after the remount"
assert_eq "pong: ping" "$(sock_echo "$M/data/sock2" 2>&1)" "a round trip through a socket bound again"
rm "$M/fifo2" "$M/data/sock2" || fail "unlink of the FIFO and the socket"
assert_eq "0" "$(find "$V/tree" -type p -o -type s | wc -l)" "FIFOs and sockets left in the vault"
mkdir "$M/inbox" "$M/ro"
chmod 0777 "$M/inbox" "$M/ro"
unmount "$M"

step "under a policy: created as files are, by users who may create"
mk_user ALICE alice
mk_user BOB bob
write_policy "$POL" <<EOF
version 1
allow user:$ALICE all /inbox/**
allow user:$BOB list /inbox/**
allow everyone list /ro/**
EOF
mount_fg "$V" "$M" "$P" "$LOG" -o allow_other,policy="$POL"
expect "$ALICE" OK mkfifo "$M/inbox/a-fifo"
expect "$ALICE" OK bind "$M/inbox/a-sock"
expect "$ALICE" EPERM mknod-chr "$M/inbox/a-null"
expect "$BOB" EACCES mkfifo "$M/inbox/b-fifo"
expect "$BOB" EACCES bind "$M/inbox/b-sock"
expect "$ALICE" EACCES mkfifo "$M/ro/a-fifo"
assert_eq "alice" "$(as "$ALICE" stat -c %U "$M/inbox/a-fifo" | sed "s/^m$TAG//")" "owner of alice's FIFO"
expect "$BOB" OK stat "$M/inbox/a-fifo"
expect "$BOB" EACCES unlink "$M/inbox/a-fifo"
expect "$ALICE" OK unlink "$M/inbox/a-fifo"
expect "$ALICE" OK unlink "$M/inbox/a-sock"
unmount "$M"

step "the journal has the creates and the refusals"
"$MEDFS_JOURNAL" export "$J" --key "$AUDITOR.key" --format jsonl >"$WORK/j.jsonl" 2>/dev/null ||
	fail "medfs-journal export failed"
creates=$(jq -r 'select(.op == "create") | .path + " " + .detail' "$WORK/j.jsonl")
grep -qx "/inbox/a-fifo fifo mode 0644" <<<"$creates" || fail "no create of a-fifo in: $creates"
grep -qx "/inbox/a-sock socket mode 0755" <<<"$creates" ||
	grep -q "^/inbox/a-sock socket mode" <<<"$creates" || fail "no create of a-sock in: $creates"
grep -q "^/data/fifo fifo mode 0640" <<<"$creates" || fail "no create of data/fifo in: $creates"
denied=$(jq -r 'select(.op == "denied") | .path' "$WORK/j.jsonl")
grep -qx "/inbox/b-fifo" <<<"$denied" || fail "bob's refused FIFO not journaled: $denied"

finish
