#!/usr/bin/env python3
"""crashcheck: the crash-state checker of medfs (issue 15).

For one workload: creates a vault, copies it, runs the workload through a
real medfs mount (or medfs-key rotate) with recshim.so preloaded, which
logs every change the process makes to the vault and every sync; then
builds vault states a power cut could leave from the copy and the log, and
checks each: fsck (check mode; its exit is reported), a mount, what the
workload had made durable before the cut reads back exactly, what reads
at all reads right, the journal verifies (a torn tail is a warning) and
verifies again after a mount, a rotation resumes and keeps every file.

The crash model (README.md): the log is a sequence of calls; a cut at k
keeps calls 0..k-1 at most. A call before the cut is *forced* (on disk
for sure) when a later sync before the cut covers it: fsync or fdatasync
of a file covers the calls that changed that file (writes, truncations,
xattrs, mode) and the call that created it; of a directory, the entries
made, renamed or removed in it and its own changes; syncfs everything.
Every other call before the cut may or may not have reached the disk,
independently, and a write that did may have reached it in part (a prefix
of 512-byte sectors or any subset of its 4 KiB pages). States per cut:
"all" (everything before the cut persisted: a killed process), "min"
(only the forced calls) and "rand" (a random subset, torn writes).

Exit status: 0 when no state breaks a promise, 1 otherwise, 77 to skip.
"""
import argparse
import ctypes
import errno
import hashlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

SRC = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("MEDFS_BUILD_DIR", os.path.join(SRC, "..", "..", "build"))


def exe(env, name):
    return os.environ.get(env) or os.path.join(BUILD, name)


MEDFS = exe("MEDFS", "medfs")
MEDFS_KEY = exe("MEDFS_KEY", "medfs-key")
MEDFS_FSCK = exe("MEDFS_FSCK", "medfs-fsck")
MEDFS_JOURNAL = exe("MEDFS_JOURNAL", "medfs-journal")
VAULTTOOL = exe("VAULTTOOL", "tests/vaulttool")
RECSHIM = exe("RECSHIM", "tests/crash/recshim.so")

libc = ctypes.CDLL(None, use_errno=True)


def log(msg):
    print(msg, flush=True)


def sha(b):
    return hashlib.sha256(b).hexdigest()[:32]


def run(args, **kw):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=kw.pop("timeout", 120), **kw)


# ---- the recorded log ----------------------------------------------------

class Op:
    __slots__ = ("i", "kind", "ino", "path", "args", "parents", "makes", "append")

    def __init__(self, i, kind, ino, path, args):
        self.i, self.kind, self.ino, self.path, self.args = i, kind, ino, path, args
        self.parents = ()   # inodes of the directories whose entries it changes
        self.makes = False  # it creates its inode's name
        self.append = False  # a write past the end the file had then


ENTRY = {"create", "mkdir", "symlink", "link", "rename", "unlink", "rmdir"}
DATA = {"write", "trunc", "falloc", "setxattr", "rmxattr", "chmod", "chown", "utimens"}
BARRIER = {"fsync", "fdatasync", "syncfs"}


def parent(p):
    d = os.path.dirname(p)
    return d if d else "."


class Log:
    """The calls (ops) and the workload's markers, each marker placed at the
    number of calls logged before it."""

    def __init__(self, path, inodes, sizes):
        self.ops, self.markers = [], []
        self.sizes = dict(sizes)
        self.data = open(path + ".data", "rb").read() if os.path.exists(path + ".data") else b""
        ns = dict((p, ino) for ino, ps in inodes.items() for p in ps)
        with open(path, "r", errors="replace") as f:
            for line in f:
                line = line.rstrip("\n")
                if not line:
                    continue
                fs = line.split("\t")
                if fs[0] == "M":
                    self.markers.append((len(self.ops), fs[1:]))
                    continue
                op = Op(len(self.ops), fs[0], fs[1], fs[2], fs[3:])
                self._namespace(op, ns)
                self.ops.append(op)

    def _namespace(self, op, ns):
        k = op.kind
        sz = self.sizes
        if k == "create" and (op.args[0] == "1" or ns.get(op.path) != op.ino):
            sz[op.ino] = 0
        elif k == "write":
            end = int(op.args[0]) + int(op.args[1])
            op.append = end > sz.get(op.ino, 0)
            sz[op.ino] = max(sz.get(op.ino, 0), end)
        elif k == "trunc":
            sz[op.ino] = int(op.args[0])
        elif k == "falloc" and op.args[0] == "0":
            sz[op.ino] = max(sz.get(op.ino, 0), int(op.args[1]) + int(op.args[2]))
        if k in ("create", "mkdir", "symlink"):
            op.parents = (ns.get(parent(op.path)),)
            op.makes = k != "create" or ns.get(op.path) != op.ino
            ns[op.path] = op.ino
        elif k == "link":
            b = op.args[0]
            op.parents = (ns.get(parent(b)),)
            op.makes = True
            ns[b] = op.ino
        elif k == "rename":
            a, b = op.path, op.args[0]
            op.parents = (ns.get(parent(a)), ns.get(parent(b)))
            op.makes = True
            moved = {}
            for p in list(ns):
                if p == a or p.startswith(a + "/"):
                    moved[b + p[len(a):]] = ns.pop(p)
            if int(op.args[1]) & 2:  # RENAME_EXCHANGE
                for p in list(ns):
                    if p == b or p.startswith(b + "/"):
                        moved[a + p[len(b):]] = ns.pop(p)
            else:
                for p in list(ns):
                    if p == b or p.startswith(b + "/"):
                        del ns[p]
            ns.update(moved)
        elif k in ("unlink", "rmdir"):
            op.parents = (ns.get(parent(op.path)),)
            ns.pop(op.path, None)

    def forced(self, cut):
        """Indices of the calls before cut that a sync before cut covers."""
        ops = self.ops[:cut]
        forced = set()
        synced_inos = {}  # ino -> index of the last sync of it
        last_all = -1
        for op in ops:
            if op.kind == "syncfs":
                last_all = op.i
            elif op.kind in ("fsync", "fdatasync"):
                synced_inos[op.ino] = op.i
        for op in ops:
            if op.kind in BARRIER:
                forced.add(op.i)
                continue
            if op.i < last_all:
                forced.add(op.i)
                continue
            s = synced_inos.get(op.ino, -1)
            if op.kind in DATA and s > op.i:
                forced.add(op.i)
            elif op.kind in ENTRY:
                if op.makes and s > op.i:
                    forced.add(op.i)  # a synced file keeps the name it was made with
                if any(synced_inos.get(p, -1) > op.i for p in op.parents if p):
                    forced.add(op.i)
        return forced


# ---- replay ---------------------------------------------------------------

def walk_inodes(root):
    """dev:ino -> set of paths relative to root, for everything below it;
    dev:ino -> size."""
    out, sizes = {}, {}

    def add(p, rel):
        st = os.lstat(p)
        out.setdefault("%d:%d" % (st.st_dev, st.st_ino), set()).add(rel)
        sizes["%d:%d" % (st.st_dev, st.st_ino)] = st.st_size

    add(root, ".")
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            add(p, os.path.relpath(p, root))
    return out, sizes


class Replay:
    def __init__(self, log, snap, inodes, dest):
        self.log, self.dest = log, dest
        if os.path.exists(dest):
            shutil.rmtree(dest)
        r = run(["cp", "-a", snap, dest])
        if r.returncode != 0:
            raise RuntimeError("cp -a: " + r.stdout.decode())
        self.where = {ino: set(ps) for ino, ps in inodes.items()}

    def p(self, rel):
        return os.path.join(self.dest, rel) if rel != "." else self.dest

    def obj(self, op):
        return self.obj_ino(op.ino)

    def made(self, op, rel):
        """A name made: for a new object (its inode number may be one the
        run reused) the only one."""
        self.forget(rel)
        if op.makes:
            self.where[op.ino] = {rel}
        else:
            self.where.setdefault(op.ino, set()).add(rel)

    def forget(self, rel):
        for ps in self.where.values():
            for q in [q for q in ps if q == rel or q.startswith(rel + "/")]:
                ps.discard(q)

    def apply(self, op, part=None):
        """Applies one call; part: for a write, the byte ranges of it that
        persisted. A call whose object or directory is missing is
        skipped (its effect was lost with what it depended on)."""
        self.skip(op)
        try:
            getattr(self, "op_" + op.kind)(op, part)
        except (OSError, ValueError):
            pass

    def skip(self, op):
        """A call not replayed: an inode number it gives a new object (one
        the run reused) no longer names the old one."""
        if op.makes and op.kind in ("create", "mkdir", "symlink"):
            self.where.pop(op.ino, None)

    def under(self, dir_ino, rel):
        """rel's last part in the directory dir_ino, wherever this state has
        that directory (a rename of it may not have persisted)."""
        if dir_ino:
            d = self.obj_ino(dir_ino)
            if d is not None:
                b = os.path.basename(rel)
                return b if d == "." else os.path.join(d, b)
        return rel

    def obj_ino(self, ino):
        for rel in sorted(self.where.get(ino, ())):
            if os.path.lexists(self.p(rel)):
                return rel
        return None

    def op_create(self, op, part):
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if op.args[0] == "1" else 0)
        rel = self.under(op.parents[0], op.path)
        fd = os.open(self.p(rel), flags, int(op.args[1], 8))
        os.close(fd)
        self.made(op, rel)

    def op_write(self, op, part):
        rel = self.obj(op)
        if rel is None:
            return
        off, n, at = int(op.args[0]), int(op.args[1]), int(op.args[2])
        buf = self.log.data[at:at + n]
        fd = os.open(self.p(rel), os.O_WRONLY)
        try:
            for a, b in (part or [(0, n)]):
                os.pwrite(fd, buf[a:b], off + a)
        finally:
            os.close(fd)

    def op_trunc(self, op, part):
        rel = self.obj(op)
        if rel is not None:
            os.truncate(self.p(rel), int(op.args[0]))

    def op_falloc(self, op, part):
        rel = self.obj(op)
        mode, off, n = int(op.args[0]), int(op.args[1]), int(op.args[2])
        if rel is not None and mode == 0 and os.path.getsize(self.p(rel)) < off + n:
            os.truncate(self.p(rel), off + n)

    def op_mkdir(self, op, part):
        rel = self.under(op.parents[0], op.path)
        os.mkdir(self.p(rel), int(op.args[0], 8))
        self.made(op, rel)

    def op_symlink(self, op, part):
        at, n = int(op.args[0]), int(op.args[1])
        rel = self.under(op.parents[0], op.path)
        os.symlink(self.log.data[at:at + n].decode(), self.p(rel))
        self.made(op, rel)

    def op_link(self, op, part):
        src = self.obj(op)
        if src is None:
            return
        dst = self.under(op.parents[0], op.args[0])
        os.link(self.p(src), self.p(dst), follow_symlinks=False)
        self.where.setdefault(op.ino, set()).add(dst)

    def op_rename(self, op, part):
        a = self.under(op.parents[0], op.path)
        b, flags = self.under(op.parents[1], op.args[0]), int(op.args[1])
        if not os.path.lexists(self.p(a)):
            return
        r = libc.renameat2(-100, self.p(a).encode(), -100, self.p(b).encode(), flags)
        if r != 0:
            return
        moved = []
        for ino, ps in self.where.items():
            for q in list(ps):
                if q == a or q.startswith(a + "/"):
                    moved.append((ino, q, b + q[len(a):]))
                elif flags & 2 and (q == b or q.startswith(b + "/")):
                    moved.append((ino, q, a + q[len(b):]))
                elif q == b or q.startswith(b + "/"):
                    ps.discard(q)
        for ino, q, nq in moved:
            self.where[ino].discard(q)
        for ino, q, nq in moved:
            self.where[ino].add(nq)

    def op_unlink(self, op, part):
        rel = self.under(op.parents[0], op.path)
        os.unlink(self.p(rel))
        self.forget(rel)

    def op_rmdir(self, op, part):
        rel = self.under(op.parents[0], op.path)
        os.rmdir(self.p(rel))
        self.forget(rel)

    def op_setxattr(self, op, part):
        rel = self.obj(op)
        if rel is not None:
            at, n = int(op.args[1]), int(op.args[2])
            os.setxattr(self.p(rel), op.args[0], self.log.data[at:at + n],
                        follow_symlinks=False)

    def op_rmxattr(self, op, part):
        rel = self.obj(op)
        if rel is not None:
            os.removexattr(self.p(rel), op.args[0], follow_symlinks=False)

    def op_chmod(self, op, part):
        rel = self.obj(op)
        if rel is not None and not os.path.islink(self.p(rel)):
            os.chmod(self.p(rel), int(op.args[0]))

    def op_chown(self, op, part):
        rel = self.obj(op)
        if rel is not None:
            os.chown(self.p(rel), int(op.args[0]), int(op.args[1]), follow_symlinks=False)

    def op_utimens(self, op, part):
        rel = self.obj(op)
        if rel is not None:
            os.utime(self.p(rel), ns=(int(op.args[0]), int(op.args[1])),
                     follow_symlinks=False)

    def op_fsync(self, op, part):
        pass

    op_fdatasync = op_syncfs = op_fsync


def torn(rng, n):
    """Byte ranges of a write of n bytes that reached the disk in part."""
    if rng.random() < 0.5:
        return [(0, min(n, 512 * rng.randrange(0, n // 512 + 1)))]
    pages = []
    for a in range(0, n, 4096):
        if rng.random() < 0.5:
            pages.append((a, min(n, a + 4096)))
    return pages


def plan_states(log, budget, rng):
    """(cut, variant, seed) triples: every cut when they fit, else cuts just
    before and after syncs and markers first, then random ones."""
    n = len(log.ops)
    cuts = list(range(n + 1))
    variants = ["all", "min", "rand"]
    if 3 * len(cuts) <= budget:
        return [(c, v, rng.randrange(1 << 30)) for c in cuts for v in variants] + \
               [(rng.choice(cuts), "rand", rng.randrange(1 << 30))
                for _ in range(budget - 3 * len(cuts))]
    key = set([0, n])
    for op in log.ops:
        if op.kind in BARRIER:
            key.update((op.i, op.i + 1))
    for at, _ in log.markers:
        key.add(at)
    key = sorted(key)
    rng.shuffle(key)
    rest = [c for c in cuts if c not in set(key)]
    rng.shuffle(rest)
    order = key[: budget * 2 // 3] + rest
    out = []
    for j, c in enumerate(order[:budget]):
        out.append((c, variants[j % 3], rng.randrange(1 << 30)))
    return sorted(out)


def build_state(log, snap, inodes, dest, cut, variant, seed, posix, tears=None):
    """Replays into dest the calls before cut that variant keeps.

    Default model (a journaling file system, ext4 data=ordered or XFS):
    changes to names and metadata (everything but the bytes of writes)
    reach the disk in order, so a prefix of them persists, at least up
    to the last one a sync forced; the bytes of each unforced write may
    be lost or torn independently, except that appends to a file land in
    order (once one is lost or torn, the later unforced ones to that
    file are lost too). With posix, every unforced call is kept or lost
    on its own and appends may land out of order. tears, a list, gets
    the torn writes: (op, the byte ranges of it that persisted)."""
    rng = random.Random(seed)
    forced = log.forced(cut)
    rp = Replay(log, snap, inodes, dest)
    dropped = torn_n = 0
    cut_tail = set()
    meta_end = cut
    if not posix and variant != "all":
        last = max([i for i in forced if log.ops[i].kind != "write"] + [-1]) + 1
        meta_end = last if variant == "min" else rng.randint(last, cut)
    for op in log.ops[:cut]:
        part = None
        if op.i not in forced and variant != "all":
            if op.kind != "write" and not posix:
                if op.i >= meta_end:
                    dropped += 1
                    rp.skip(op)
                    continue
            elif (variant == "min" or rng.random() < 0.4 or
                  (op.append and not posix and op.ino in cut_tail)):
                dropped += 1
                rp.skip(op)
                if op.append:
                    cut_tail.add(op.ino)
                continue
            elif op.kind == "write" and rng.random() < 0.3:
                n = int(op.args[1])
                part = torn(rng, n) if posix or not op.append else \
                    [(0, min(n, 512 * rng.randrange(0, n // 512 + 1)))]
                torn_n += 1
                if tears is not None:
                    tears.append((op, part))
                if op.append:
                    cut_tail.add(op.ino)
        rp.apply(op, part)
    return forced, dropped, torn_n


# ---- mounts ---------------------------------------------------------------

class Mount:
    def __init__(self, vault, mnt, pf, extra=(), env=None):
        self.mnt = mnt
        os.makedirs(mnt, exist_ok=True)
        self.out = open(mnt + ".log", "wb")
        self.proc = subprocess.Popen([MEDFS, vault, mnt, "--passphrase-file", pf, "-f"] +
                                     list(extra), stdout=self.out, stderr=subprocess.STDOUT,
                                     env=env)
        self.ok = False
        for _ in range(200):
            if os.path.ismount(mnt):
                self.ok = True
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)

    def why(self):
        self.out.flush()
        with open(self.mnt + ".log", "rb") as f:
            return f.read().decode(errors="replace").strip().splitlines()[-3:]

    def close(self):
        if os.path.ismount(self.mnt):
            subprocess.run(["fusermount3", "-u", self.mnt], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            subprocess.run(["fusermount3", "-uz", self.mnt], stderr=subprocess.DEVNULL)
        self.out.close()


def read_file(p):
    try:
        with open(p, "rb") as f:
            return f.read(), 0
    except OSError as e:
        return None, e.errno


# ---- workloads --------------------------------------------------------------
# Each records through the mount, writing markers to the log; check(ctx,
# markers) reads a mounted state and returns a list of problems.

class Marks:
    def __init__(self, path):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND)

    def __call__(self, *fields):
        os.write(self.fd, ("\t".join(["M"] + [str(f) for f in fields]) + "\n").encode())


def content(seed, n):
    out, i = bytearray(), 0
    while len(out) < n:
        out += hashlib.sha256(b"%d:%d" % (seed, i)).digest()
        i += 1
    return bytes(out[:n])


def fsync_path(p):
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Orthanc:
    """Orthanc-like: files of a study written as a temporary, fdatasync'd,
    renamed into place, the directory fsync'd; a few deleted."""
    name = "orthanc"
    mounted = True

    def __init__(self, long):
        self.files = 40 if long else 10

    def sizes(self, i):
        return [0, 1, 4095, 4096, 4097, 9000, 70000, 300][i % 8] + (i * 37) % 5000

    def run(self, mnt, mark):
        d = os.path.join(mnt, "ab", "cd")
        os.makedirs(d)
        fsync_path(os.path.join(mnt, "ab"))
        fsync_path(mnt)
        fsync_path(d)
        mark("dir", "ab/cd")
        for i in range(self.files):
            data = content(i, self.sizes(i))
            tmp, fin = "ab/cd/tmp-%d" % i, "ab/cd/study-%d.dcm" % i
            fd = os.open(os.path.join(mnt, tmp), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, data)
            os.fdatasync(fd)
            os.close(fd)
            mark("data", tmp, sha(data))
            mark("rename", tmp, fin)
            os.rename(os.path.join(mnt, tmp), os.path.join(mnt, fin))
            fsync_path(d)
            mark("synced", fin, sha(data))
            if i % 4 == 3:
                gone = "ab/cd/study-%d.dcm" % (i - 2)
                mark("gone", gone)
                os.unlink(os.path.join(mnt, gone))
                fsync_path(d)

    def full(self, rel):
        """All that was ever written to rel (None: nothing)."""
        b = os.path.basename(rel)
        for pre in ("tmp-", "study-"):
            if b.startswith(pre):
                i = int(b[len(pre):].split(".")[0])
                return content(i, self.sizes(i))
        return None

    def plausible(self, rel, data):
        """Any bytes that read at all: a prefix of what was written there."""
        full = self.full(rel)
        return full is not None and full[:len(data)] == data

    def check(self, mnt, markers, lf=None):
        return check_files(mnt, markers, self.plausible, self.full, lf)


LOST_FOUND = "lost+found"
RANGES_SUFFIX = ".lost-ranges"
FILL = b"MEDFS LOST DATA\n"  # byte o % 16 of it at offset o of a lost byte
# Copies in /lost+found checked after repairs: all, and those holding
# synced data (so that a run shows the copies were there to check).
COPIES = dict(all=0, synced=0)
# Per copy in /lost+found, why its lost blocks were lost, when the state
# says (see torn_note): set by check_repaired.
NOTES = {}
BLOCK, BLOCK_DISK, HEADER = 4096, 4136, 104  # doc/FORMAT.md 4.1, 4.2


def torn_note(tears, vpath, ranges, synced_end):
    """Whether every block of the lost ranges of a copy of vault file vpath
    that held synced bytes (began before synced_end in the vault file) was
    hit by a write the cut tore (doc/FORMAT.md 12.1, item 4: a block
    resealed by an unsynced write and torn loses its synced bytes too)."""
    left, hit = [], 0
    for off, n in ranges:
        for b in range(off // BLOCK, (off + n - 1) // BLOCK + 1):
            lo, hi = HEADER + b * BLOCK_DISK, HEADER + (b + 1) * BLOCK_DISK
            hit += lo < synced_end
            if lo < synced_end and not any(op.path == vpath and int(op.args[0]) < hi and
                       int(op.args[0]) + int(op.args[1]) > lo for op, _ in tears):
                left.append(b)
    if not hit:
        return " (no lost block held synced bytes)" if ranges else ""
    if not left:
        return " (each lost block torn by the cut: 12.1, item 4)"
    return " (lost blocks not torn by the cut: %s)" % ", ".join(map(str, left[:8]))


def lost_found(mnt):
    """What medfs-fsck -y quarantined (doc/FORMAT.md 12.2): original path
    (relative) -> [(copy, lost ranges)], the copy relative to mnt; and the
    problems of reading it."""
    lf, problems = {}, []
    d = os.path.join(mnt, LOST_FOUND)
    if not os.path.isdir(d):
        return lf, problems
    for n in sorted(os.listdir(d)):
        if not n.endswith(RANGES_SUFFIX):
            continue
        text, err = read_file(os.path.join(d, n))
        if text is None:
            problems.append("%s/%s: %s" % (LOST_FOUND, n, os.strerror(err)))
            continue
        orig, ranges = None, []
        for l in text.decode(errors="replace").splitlines():
            f = l.split(" ")
            if f[0] == "original" and len(f) > 1:
                orig = l[len("original "):].lstrip("/")
            elif f[0] == "lost" and len(f) == 3:
                ranges.append((int(f[1]), int(f[2])))
        copy = os.path.join(LOST_FOUND, n[:-len(RANGES_SUFFIX)])
        if orig is None or not os.path.lexists(os.path.join(mnt, copy)):
            problems.append("%s/%s: no original or no copy %s" % (LOST_FOUND, n, copy))
            continue
        lf.setdefault(orig, []).append((copy, ranges))
    return lf, problems


def fmt_ranges(ranges):
    s = ", ".join("%d+%d" % r for r in ranges[:4])
    return s + (", ..." if len(ranges) > 4 else "")


def check_copy(copy, data, ranges, full, synced):
    """A copy in lost+found against all that was written to its original
    (full): every byte not in a lost range is the original's, every lost
    byte the fill pattern; with synced, none of full's bytes is lost."""
    problems = []
    lost = bytearray(len(data))
    for off, n in ranges:
        for o in range(off, min(off + n, len(data))):
            lost[o] = 1
            if data[o] != FILL[o % len(FILL)]:
                problems.append("%s: lost byte %d is not the fill pattern" % (copy, o))
                break
    for o in range(min(len(data), len(full))):
        if not lost[o] and data[o] != full[o]:
            problems.append("%s: reads wrong data at %d, not lost" % (copy, o))
            break
    if len(data) > len(full) and not all(lost[len(full):]):
        problems.append("%s: reads %d bytes, %d were ever written there" % (
            copy, len(data), len(full)))
    if synced:
        gone = sum(max(0, min(off + n, len(full)) - off) for off, n in ranges)
        if gone:
            problems.append("%s: %d synced bytes in its lost ranges (%s)%s" % (
                copy, gone, fmt_ranges(ranges), NOTES.get(copy, "")))
        if len(data) < len(full):
            problems.append("%s: %d bytes, %d synced" % (copy, len(data), len(full)))
    return problems


def check_files(mnt, markers, plausible, full=None, lf=None):
    """The marker promises: "synced P H" (P reads H, must exist), "data P H"
    (P, if present, reads H), "rename A B" (what A promised, one of A or B
    keeps), "gone P" (P promises nothing), "dir P" (P lists).

    After medfs-fsck -y (lf: what it quarantined, from lost_found), a file
    may instead be a copy in /lost+found whose original is one of its
    names: its synced bytes must read exactly there (not in a lost range),
    and every copy reads only bytes written to its original or the fill
    pattern where lost."""
    problems, expect, dirs = [], {}, set()
    for _, m in markers:
        if m[0] == "synced":
            expect.pop(m[1], None)
            for k in [k for k in expect if m[1] in k]:
                del expect[k]
            expect[(m[1],)] = (m[2], True)
        elif m[0] == "data":
            expect[(m[1],)] = (m[2], False)
        elif m[0] == "rename":
            e = expect.pop((m[1],), None)
            if e:
                expect[(m[1], m[2])] = e
        elif m[0] == "gone":
            expect.pop((m[1],), None)
        elif m[0] == "dir":
            dirs.add(m[1])
    for d in dirs:
        try:
            os.listdir(os.path.join(mnt, d))
        except OSError as e:
            problems.append("directory %s lost: %s" % (d, os.strerror(e.errno)))
    checked = set()
    for names, (h, must) in expect.items():
        seen = []
        for n in names:
            p = os.path.join(mnt, n)
            if not os.path.lexists(p):
                continue
            data, err = read_file(p)
            if data is None:
                problems.append("%s (%s): %s, data synced" % (
                    n, "renamed %s -> %s" % names if len(names) > 1 else "synced" if must
                    else "fdatasync'd", os.strerror(err)))
            elif sha(data) != h:
                problems.append("%s: wrong content (%d bytes), data synced" % (n, len(data)))
            seen.append(n)
        for n in names if lf else ():
            for copy, ranges in lf.get(n, ()):
                checked.add(copy)
                COPIES["all"] += 1
                COPIES["synced"] += 1
                data, err = read_file(os.path.join(mnt, copy))
                f = full(n) if full else None
                if data is None:
                    problems.append("%s (of %s): %s, data synced" % (copy, n, os.strerror(err)))
                elif f is None or sha(f) != h:
                    problems.append("%s (of %s): what was synced is not known" % (copy, n))
                else:
                    problems += check_copy(copy, data, ranges, f, True)
                seen.append(copy)
        if must and not seen:
            problems.append("%s: missing, %s" % (" or ".join(names),
                            "renamed while synced" if len(names) > 1 else "synced"))
    for d, subdirs, files in os.walk(mnt):
        if d == mnt and LOST_FOUND in subdirs:
            subdirs.remove(LOST_FOUND)
        for n in files:
            p = os.path.join(d, n)
            rel = os.path.relpath(p, mnt)
            data, err = read_file(p)
            if data is not None and not plausible(rel, data):
                problems.append("%s: reads %d bytes never written there" % (rel, len(data)))
    for orig, copies in (lf or {}).items():
        for copy, ranges in copies:
            if copy in checked:
                continue
            COPIES["all"] += 1
            data, err = read_file(os.path.join(mnt, copy))
            f = full(orig) if full else None
            if data is None:
                problems.append("%s (of %s): %s" % (copy, orig, os.strerror(err)))
            elif f is None:
                problems.append("%s: a copy of %s, never written" % (copy, orig))
            else:
                problems += check_copy(copy, data, ranges, f, False)
    return problems


class Sqlite:
    """SQLite in WAL mode (its -shm is a shared writable mmap), synchronous
    FULL: every committed transaction survives."""
    name = "sqlite"
    mounted = True

    def __init__(self, long):
        self.txns = 60 if long else 12

    @staticmethod
    def row(i):
        return content(1000 + i, 50 + (i * 97) % 3000)

    def run(self, mnt, mark):
        os.makedirs(os.path.join(mnt, "db"))
        fsync_path(mnt)
        db = sqlite3.connect(os.path.join(mnt, "db", "index.db"), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA wal_autocheckpoint=20")
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
        mark("sqlite", 0)
        n = 0
        for t in range(self.txns):
            db.execute("BEGIN")
            for _ in range(1 + t % 4):
                n += 1
                db.execute("INSERT INTO t VALUES (?, ?)", (n, self.row(n)))
            if t % 5 == 4:
                db.execute("UPDATE t SET v = ? WHERE id = ?", (self.row(n), n - 1))
                db.execute("DELETE FROM t WHERE id = ?", (n - 2,))
            db.execute("COMMIT")
            mark("sqlite", n)
        db.close()

    def check(self, mnt, markers, lf=None):
        """The database as SQLite recovers it from copies of the main file
        and the WAL (the -shm is never synced: SQLite rebuilds it), then in
        place on the mount. After medfs-fsck -y (lf), a file missing from
        db/ is taken from its copy in /lost+found, lost ranges and all (the
        database is then not opened in place: it needs that copy back)."""
        committed = -1
        for _, m in markers:
            if m[0] == "sqlite":
                committed = int(m[1])
        if committed < 0:
            return []
        d = os.path.join(mnt, "db")
        local = os.path.join(os.path.dirname(mnt), "sqlite-copy")
        shutil.rmtree(local, ignore_errors=True)
        os.makedirs(local)
        problems, moved = [], []
        for suffix in ("", "-wal"):
            p = os.path.join(d, "index.db" + suffix)
            if not os.path.exists(p):
                copies = (lf or {}).get("db/index.db" + suffix)
                if not copies:
                    continue
                copy, ranges = copies[-1]
                COPIES["all"] += 1
                COPIES["synced"] += 1
                p = os.path.join(mnt, copy)
                moved.append("index.db%s from /%s, lost %s%s" % (
                    suffix, copy, fmt_ranges(ranges) or "nothing", NOTES.get(copy, "")))
            data, err = read_file(p)
            if data is None:
                problems.append("db/index.db%s (%d rows committed): %s" % (
                    suffix, committed, os.strerror(err)))
                return problems
            with open(os.path.join(local, "index.db" + suffix), "wb") as f:
                f.write(data)
        problems += self.rows(os.path.join(local, "index.db"), committed,
                              " (%s)" % "; ".join(moved) if moved else "")
        if not problems and not moved:
            problems += self.rows(os.path.join(d, "index.db"), committed, " in place")
        return problems

    def rows(self, p, committed, where):
        db = None
        try:
            db = sqlite3.connect(p, isolation_level=None, timeout=0.5)
            ok = db.execute("PRAGMA integrity_check").fetchone()[0]
            rows = db.execute("SELECT id, v FROM t ORDER BY id").fetchall()
        except sqlite3.Error as e:
            if db is not None:
                db.close()  # else the mount stays busy
            why = str(e)
            shm = p + "-shm"
            if where == " in place" and os.path.exists(shm) and read_file(shm)[0] is None:
                why += " (its -shm, never synced, reads %s)" % os.strerror(read_file(shm)[1])
            return ["index.db%s (%d rows committed): %s" % (where, committed, why)]
        db.close()
        problems = [] if ok == "ok" else ["index.db%s: integrity_check: %s" % (where, ok)]
        top = max([r[0] for r in rows] or [0])
        if top < committed:
            problems.append("index.db%s: %d rows committed, %d read" % (where, committed, top))
        for i, v in rows:
            if v != self.row(i) and v != self.row(i + 1):
                problems.append("index.db%s: row %d has wrong content" % (where, i))
                break
        return problems


class Journal:
    """Journal appends: many opens and reads (each an access record)."""
    name = "journal"
    mounted = True

    def __init__(self, long):
        self.rounds = 400 if long else 60

    def run(self, mnt, mark):
        for i in range(4):
            with open(os.path.join(mnt, "f%d" % i), "wb") as f:
                f.write(content(i, 5000))
                os.fsync(f.fileno())
        fsync_path(mnt)
        for i in range(4):
            mark("synced", "f%d" % i, sha(content(i, 5000)))
        for r in range(self.rounds):
            with open(os.path.join(mnt, "f%d" % (r % 4)), "rb") as f:
                f.read()
            if r % 20 == 19:
                time.sleep(1.1)  # a journal tick: checkpoint, fdatasync

    def full(self, rel):
        return content(int(rel[1:]), 5000) if re.fullmatch(r"f[0-9]+", rel) else None

    def plausible(self, rel, data):
        full = self.full(rel)
        return full is not None and full[:len(data)] == data

    def check(self, mnt, markers, lf=None):
        return check_files(mnt, markers, self.plausible, self.full, lf)


class Rotate:
    """medfs-key rotate (vault key rotation; --reencrypt in the long run)
    cut anywhere: a resumed rotation finishes and every object reads back
    the same as before."""
    name = "rotate"
    mounted = False

    def __init__(self, long):
        self.long = long

    def prepare(self, ctx):
        r = run([VAULTTOOL, ctx.vault, "--passphrase-file", ctx.pf, "populate",
                 "40" if self.long else "12"])
        if r.returncode != 0:
            raise RuntimeError("vaulttool populate: " + r.stdout.decode())
        self.dump = self.dumpof(ctx.vault, ctx.pf)

    def dumpof(self, vault, pf):
        """The tree through the library, without times (a time put back
        by an unsynced futimens may be lost: not data)."""
        r = run([VAULTTOOL, vault, "--passphrase-file", pf, "dump"])
        lines = []
        for l in r.stdout.decode(errors="replace").splitlines():
            lines.append(re.sub(r" [0-9]+\.[0-9]{9}( |$)", r" T\1", l))
        return r.returncode, lines

    def args(self):
        return ["--reencrypt"] if self.long else []

    def record(self, ctx, env):
        r = run([MEDFS_KEY, "rotate", ctx.vault, "--passphrase-file", ctx.pf] + self.args(),
                env=env)
        if r.returncode != 0:
            raise RuntimeError("medfs-key rotate: " + r.stdout.decode())

    def check_state(self, ctx, state):
        r = run([MEDFS_KEY, "rotate", state, "--passphrase-file", ctx.pf] + self.args())
        if r.returncode != 0:
            return ["resumed rotate exits %d: %s" % (
                r.returncode, r.stdout.decode(errors="replace").strip().splitlines()[-1:])]
        rc, out = self.dumpof(state, ctx.pf)
        if rc != 0 or out != self.dump[1]:
            return ["after the resumed rotation the tree differs (dump exit %d)" % rc]
        return []


class Rekey:
    """The first write after a rotation to files with holes (doc/FORMAT.md,
    4.4 and 11): each gets a new key, its hole map is resealed under it. The
    part of each file synced before (and not written since) reads back in
    every state: a map under a key that the header on disk does not know
    would make the whole file EIO."""
    name = "rekey"
    mounted = True
    OFF = 500000  # into the hole

    def __init__(self, long):
        self.files = 12 if long else 4

    def old(self, i):
        return content(i, 5000) + bytes(8192 - 5000)

    def prepare(self, ctx):
        m = Mount(ctx.vault, ctx.mnt, ctx.pf)
        try:
            if not m.ok:
                raise RuntimeError("mount: %s" % m.why())
            for i in range(self.files):
                with open(os.path.join(ctx.mnt, "f%d" % i), "wb") as f:
                    f.write(content(i, 5000))
                    f.truncate(1 << 20)  # blocks 2.. a hole
                    os.fsync(f.fileno())
            fsync_path(ctx.mnt)
        finally:
            m.close()
        r = run([MEDFS_KEY, "rotate", ctx.vault, "--passphrase-file", ctx.pf])
        if r.returncode != 0:
            raise RuntimeError("medfs-key rotate: " + r.stdout.decode())

    def run(self, mnt, mark):
        for i in range(self.files):
            fd = os.open(os.path.join(mnt, "f%d" % i), os.O_WRONLY)
            try:
                os.pwrite(fd, content(100 + i, 100), self.OFF)
            finally:
                os.close(fd)
            mark("rekeyed", "f%d" % i)

    def check(self, mnt, markers, lf=None):
        problems = []
        for i in range(self.files):
            rel, want = "f%d" % i, self.old(i)
            try:
                with open(os.path.join(mnt, rel), "rb") as f:
                    data = f.read(8192)
            except OSError as e:
                # After fsck -y, the file may be a copy in /lost+found:
                # its synced blocks exact there, none in a lost range.
                copies = (lf or {}).get(rel, ())
                if not copies:
                    problems.append("%s: %s, synced before the rotation" % (
                        rel, os.strerror(e.errno)))
                for copy, ranges in copies:
                    COPIES["all"] += 1
                    COPIES["synced"] += 1
                    got, err = read_file(os.path.join(mnt, copy))
                    if got is None:
                        problems.append("%s (of %s): %s" % (copy, rel, os.strerror(err)))
                    elif got[:len(want)] != want or any(
                            off < len(want) for off, _ in ranges):
                        problems.append("%s (of %s): synced blocks lost or wrong" % (
                            copy, rel))
                continue
            if data != want:
                problems.append("%s: wrong content in its synced blocks" % rel)
        return problems


WORKLOADS = {w.name: w for w in (Orthanc, Sqlite, Journal, Rotate, Rekey)}


# ---- the run ------------------------------------------------------------------

class Ctx:
    pass


def make_vault(ctx):
    os.makedirs(ctx.work, exist_ok=True)
    with open(ctx.pf, "w") as f:
        f.write("crash checker passphrase\n")
    os.chmod(ctx.pf, 0o600)
    aud = os.path.join(ctx.work, "auditor")
    r = run([MEDFS_JOURNAL, "keygen", "--out", aud])
    if r.returncode != 0:
        raise RuntimeError("keygen: " + r.stdout.decode())
    ctx.auditor = aud + ".key"
    r = run([MEDFS_KEY, "init", ctx.vault, "--passphrase-file", ctx.pf, "--kdf-time", "1",
             "--kdf-memory", "8", "--auditor-key", aud + ".pub"])
    if r.returncode != 0:
        raise RuntimeError("medfs-key init: " + r.stdout.decode())


def journal_verify(vault, key):
    j = os.path.join(vault, "journal")
    if not os.path.isdir(j):
        return 0, ""
    r = run([MEDFS_JOURNAL, "verify", j, "--key", key])
    return r.returncode, r.stdout.decode(errors="replace")


def fsck_says(ctx, problem):
    """A problem about a file that reads EIO, with what fsck says of it."""
    if "Input/output error" not in problem:
        return problem
    path = "/" + problem.split(" ")[0].rstrip(":")
    for l in ctx.fsck_lines:
        if l.startswith("medfs-fsck: %s: " % path):
            return "%s [fsck: %s]" % (problem, l[len("medfs-fsck: %s: " % path):].split(" (vault")[0])
    return problem


def check_state(ctx, wl, state, markers):
    """Problems of one state, and its fsck exit."""
    problems = []
    fsck = run([MEDFS_FSCK, state, "--passphrase-file", ctx.pf], timeout=300)
    ctx.fsck_lines = fsck.stdout.decode(errors="replace").splitlines()
    if not wl.mounted:
        ctx.raw_verify = 0
        return wl.check_state(ctx, state), fsck.returncode
    # As the cut left it, the journal may need the writer's recovery (a
    # checkpoint whose HEAD was not yet written, a torn tail): counted;
    # after a mount it must verify.
    ctx.raw_verify, _ = journal_verify(state, ctx.auditor)
    m = Mount(state, ctx.mnt, ctx.pf)
    try:
        if not m.ok:
            problems.append("does not mount (fsck exit %d): %s" % (fsck.returncode, m.why()))
        else:
            problems += [fsck_says(ctx, p) for p in wl.check(ctx.mnt, markers)]
    finally:
        m.close()
    if m.ok:
        jrc, jout = journal_verify(state, ctx.auditor)
        if jrc != 0:
            problems.append("journal verify after a mount exits %d: %s" % (
                jrc, " / ".join(l for l in jout.splitlines() if "ERROR" in l)[:300]))
    return problems, fsck.returncode


def fsck_problems(lines):
    """The problems an fsck run printed (not its summary, not what it
    repaired, not the note that the vault's medfs.mounted marker stays
    while problems are left: doc/FORMAT.md 12.3)."""
    return [l[len("medfs-fsck: "):] for l in lines
            if l.startswith("medfs-fsck: ") and " objects checked" not in l and
            ": repaired: " not in l and not l.startswith("medfs-fsck: warning") and
            "the last mount did not end cleanly; the next mount" not in l]


# What no repair undoes: wrong data read as it is.
WRONG = ("never written there", "wrong content", "integrity_check")


def check_repaired(ctx, wl, state, markers, tears, synced):
    """A state (a copy, rebuilt) after medfs-fsck -y: fsck exits 0 or 1 and
    then finds nothing; the vault mounts; the workload's promises hold,
    with files fsck quarantined read from /lost+found; the journal
    verifies. Returns (problems, fsck -y exit, what fsck -y said it could
    not repair, repairs made)."""
    problems = []
    # Vault files of the plaintext paths, as fsck named them.
    vfile = {}
    for l in ctx.fsck_lines:
        m = re.match(r"medfs-fsck: /(.*?): .*\(vault file (\S+), offset", l)
        if m:
            vfile.setdefault(m.group(1), m.group(2))
    fsck = run([MEDFS_FSCK, state, "--passphrase-file", ctx.pf, "-y"], timeout=300)
    lines = fsck.stdout.decode(errors="replace").splitlines()
    done = sum(": repaired: " in l for l in lines)
    not_done = [l[len("medfs-fsck: "):] for l in lines if ": not repaired: " in l]
    if fsck.returncode not in (0, 1):
        problems += ["fsck -y exits %d: %s" % (fsck.returncode, w) for w in not_done] or \
            ["fsck -y exits %d: %s" % (fsck.returncode, " / ".join(lines[-3:]))]
    again = run([MEDFS_FSCK, state, "--passphrase-file", ctx.pf], timeout=300)
    ctx.fsck_lines = again.stdout.decode(errors="replace").splitlines()
    if again.returncode != 0:
        problems += ["fsck after -y exits %d: %s" % (again.returncode, l)
                     for l in fsck_problems(ctx.fsck_lines)] or \
            ["fsck after -y exits %d: %s" % (again.returncode, " / ".join(ctx.fsck_lines[-3:]))]
    if not wl.mounted:
        return problems + wl.check_state(ctx, state), fsck.returncode, not_done, done
    m = Mount(state, ctx.mnt, ctx.pf)
    try:
        if not m.ok:
            problems.append("does not mount after fsck -y: %s" % m.why())
        else:
            lf, lfp = lost_found(ctx.mnt)
            problems += lfp
            NOTES.clear()
            for orig, copies in lf.items():
                for copy, ranges in copies:
                    NOTES[copy] = torn_note(tears, vfile.get(orig), ranges,
                                            synced.get(vfile.get(orig), 0))
            problems += [fsck_says(ctx, p) for p in wl.check(ctx.mnt, markers, lf)]
    finally:
        m.close()
    if m.ok:
        jrc, jout = journal_verify(state, ctx.auditor)
        if jrc != 0:
            problems.append("journal verify after fsck -y and a mount exits %d: %s" % (
                jrc, " / ".join(l for l in jout.splitlines() if "ERROR" in l)[:300]))
    return problems, fsck.returncode, not_done, done


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workload", choices=sorted(WORKLOADS))
    ap.add_argument("--work", required=True, help="a scratch directory (created)")
    ap.add_argument("--states", type=int, default=30, help="crash states to check")
    ap.add_argument("--long", action="store_true", help="the bigger workload")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("CRASH_SEED", "1")))
    ap.add_argument("--known", default="", help="file of known problem patterns: "
                    "states showing only those are counted, not failed")
    ap.add_argument("--json", help="write the per-state results here")
    ap.add_argument("--replay", nargs=3, metavar=("CUT", "VARIANT", "SEED"),
                    help="only rebuild one state of an earlier run kept in --work "
                    "(MEDFS_KEEP_WORK=1), into WORK/replay")
    ap.add_argument("--repairs", type=int, default=-1, help="at most this many "
                    "states with problems repaired by medfs-fsck -y and checked again "
                    "(default: all of them)")
    ap.add_argument("--posix", action="store_true", help="appends to a file may reach "
                    "the disk out of order (default: in order, as ext4 data=ordered)")
    a = ap.parse_args()
    for p in (MEDFS, MEDFS_KEY, MEDFS_FSCK, MEDFS_JOURNAL, VAULTTOOL, RECSHIM):
        if not os.access(p, os.X_OK) and not p.endswith(".so"):
            print("FAIL: %s is not built" % p, file=sys.stderr)
            return 1
    known = []
    if a.known:
        with open(a.known) as f:
            known = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    wl = WORKLOADS[a.workload](a.long)
    ctx = Ctx()
    ctx.work = os.path.abspath(a.work)
    if a.replay:
        with open(os.path.join(ctx.work, "inodes.json")) as f:
            j = json.load(f)
        inodes = {k: set(v) for k, v in j["inodes"].items()}
        lg = Log(os.path.join(ctx.work, "ops.log"), inodes, j["sizes"])
        dest = os.path.join(ctx.work, "replay")
        forced, dropped, torn_n = build_state(lg, os.path.join(ctx.work, "snap"), inodes, dest,
                                              int(a.replay[0]), a.replay[1],
                                              int(a.replay[2]), a.posix)
        log("%s: %d forced, %d dropped, %d torn" % (dest, len(forced), dropped, torn_n))
        return 0
    ctx.vault = os.path.join(ctx.work, "vault")
    ctx.pf = os.path.join(ctx.work, "pass")
    ctx.mnt = os.path.join(ctx.work, "mnt")
    make_vault(ctx)
    if hasattr(wl, "prepare"):
        wl.prepare(ctx)
    snap = os.path.join(ctx.work, "snap")
    run(["cp", "-a", ctx.vault, snap])
    inodes, sizes = walk_inodes(ctx.vault)
    with open(os.path.join(ctx.work, "inodes.json"), "w") as f:
        json.dump(dict(inodes={k: sorted(v) for k, v in inodes.items()}, sizes=sizes), f)
    logp = os.path.join(ctx.work, "ops.log")
    open(logp, "w").close()
    open(logp + ".data", "w").close()
    env = dict(os.environ, LD_PRELOAD=RECSHIM, CRASH_LOG=logp, CRASH_ROOT=ctx.vault)
    t0 = time.time()
    if wl.mounted:
        m = Mount(ctx.vault, ctx.mnt, ctx.pf, env=env)
        if not m.ok:
            print("FAIL: the recorded mount failed: %s" % m.why(), file=sys.stderr)
            return 1
        try:
            wl.run(ctx.mnt, Marks(logp))
        finally:
            m.close()
    else:
        wl.record(ctx, env)
    lg = Log(logp, inodes, sizes)
    kinds = {}
    for op in lg.ops:
        kinds[op.kind] = kinds.get(op.kind, 0) + 1
    log("%s: recorded %d calls in %.1f s (%s), %d markers" % (
        wl.name, len(lg.ops), time.time() - t0,
        ", ".join("%s %d" % kv for kv in sorted(kinds.items())), len(lg.markers)))
    if not lg.ops:
        print("FAIL: nothing recorded: is recshim loaded?", file=sys.stderr)
        return 1
    rng = random.Random(a.seed)
    plan = plan_states(lg, a.states, rng)
    state = os.path.join(ctx.work, "state")
    fixed = os.path.join(ctx.work, "repaired")
    results, bad, fsck_codes, raw_bad = [], 0, {}, 0
    tags = dict(ok=0, repaired=0, known=0, FAIL=0)
    unrepaired, repairs, t_repair = [], 0, 0.0
    t0 = time.time()
    for cut, variant, seed in plan:
        forced, dropped, torn_n = build_state(lg, snap, inodes, state, cut, variant, seed,
                                              a.posix)
        markers = [m for m in lg.markers if m[0] <= cut]
        problems, fsck_rc = check_state(ctx, wl, state, markers)
        fsck_codes[fsck_rc] = fsck_codes.get(fsck_rc, 0) + 1
        raw_bad += ctx.raw_verify != 0
        last = lg.ops[cut - 1] if cut else None
        where = "after #%d %s %s" % (cut - 1, last.kind, last.path) if last else "before any call"
        res = dict(cut=cut, variant=variant, seed=seed, forced=len(forced),
                   dropped=dropped, torn=torn_n, fsck=fsck_rc,
                   journal_raw=ctx.raw_verify, problems=problems, where=where)
        tag, after = "ok", []
        if (problems or fsck_rc & 4) and a.repairs != 0:
            # The state as the cut left it, again (the check mounted this
            # one), repaired by medfs-fsck -y and checked again. (fsck
            # exit 8 is a rotation it leaves to medfs-key rotate.)
            a.repairs -= 1
            t1 = time.time()
            tears, synced = [], {}
            forced, _, _ = build_state(lg, snap, inodes, fixed, cut, variant, seed, a.posix,
                                       tears)
            for i in forced:  # the end of what was synced, in each vault file
                op = lg.ops[i]
                if op.kind == "write":
                    synced[op.path] = max(synced.get(op.path, 0),
                                          int(op.args[0]) + int(op.args[1]))
            after, rc_y, not_done, done = check_repaired(ctx, wl, fixed, markers, tears,
                                                         synced)
            t_repair += time.time() - t1
            repairs += 1
            res.update(fsck_y=rc_y, fsck_y_repairs=done, fsck_y_not_repaired=not_done,
                       after_fsck_y=after)
            wrong = [p for p in problems if any(w in p for w in WRONG)]
            if not after and not wrong:
                tag = "repaired"
            else:
                left = wrong + after
                tag = "FAIL" if [p for p in left if not any(k in p for k in known)] \
                    else "known"
                unrepaired.append((cut, variant, seed, tag, left))
        elif problems:
            tag = "FAIL" if [p for p in problems if not any(k in p for k in known)] \
                else "known"
            unrepaired.append((cut, variant, seed, tag, problems))
        tags[tag] += 1
        bad += tag == "FAIL"
        res["tag"] = tag
        results.append(res)
        if problems or after:
            log("  %s: cut %d/%d (%s) %s, %d dropped, %d torn, fsck %d%s:" % (
                tag, cut, len(lg.ops), where, variant, dropped, torn_n, fsck_rc,
                ", fsck -y %d (%d repairs)" % (res["fsck_y"], res["fsck_y_repairs"])
                if "fsck_y" in res else ""))
            for p in problems[:6]:
                log("      " + p)
            for p in after[:6]:
                log("      after fsck -y: " + p)
    shutil.rmtree(state, ignore_errors=True)
    shutil.rmtree(fixed, ignore_errors=True)
    log("%s: %d crash states checked in %.1f s (of %d cuts x reorderings; seed %d): "
        "%d passed as is, %d repaired by fsck -y, %d not repaired (%d known losses, "
        "%d failed); fsck exits %s; fsck -y runs: %d (%.1f s), copies in /lost+found "
        "checked: %d (%d with synced data); journal needing the writer's recovery: %d" % (
            wl.name, len(plan), time.time() - t0, len(lg.ops) + 1, a.seed,
            tags["ok"], tags["repaired"], tags["known"] + tags["FAIL"], tags["known"],
            tags["FAIL"], ", ".join("%d: %d" % kv for kv in sorted(fsck_codes.items())),
            repairs, t_repair, COPIES["all"], COPIES["synced"], raw_bad))
    for cut, variant, seed, tag, left in unrepaired:
        log("  not repaired (%s): cut %d %s seed %d: %s" % (
            tag, cut, variant, seed, " | ".join(left[:3])))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(workload=wl.name, calls=len(lg.ops), kinds=kinds,
                           counts=tags, copies=COPIES, states=results), f, indent=1)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
