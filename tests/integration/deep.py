#!/usr/bin/env python3
"""Helper of deep.sh: acts at the bottom of a chain of directories in a
mount, a level at a time by descriptor (the absolute path of the bottom,
mount point included, is beyond PATH_MAX).

  deep.py act MNT TOP NAME_LEN LEVELS   files, links, xattrs, renames and
                                        the refusals at the PATH_MAX limit
  deep.py check MNT TOP NAME_LEN LEVELS what act left reads back
  deep.py put MNT TOP NAME_LEN LEVELS   a file g of 1000 bytes at the bottom
  deep.py eio MNT TOP NAME_LEN LEVELS   reading g fails with EIO
  deep.py flip VAULT SIZE               flips a byte of block 0 of the vault
                                        file of SIZE bytes with the longest
                                        vault path; prints that path,
                                        relative to VAULT

The plaintext path of the bottom directory inside the mount is
"/TOP" + LEVELS * ("/" + NAME) with NAME of NAME_LEN bytes. Prints one
line per failure and exits 1 when there is any."""
import errno
import os
import stat
import sys

PATH_MAX = 4096
fails = []


def fail(msg):
    fails.append(msg)
    print("FAIL: " + msg)


def bottom(mnt, top, name, levels):
    fd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
    for comp in [top] + [name] * levels:
        nfd = os.open(comp, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    return fd


def expect_errno(what, want, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except OSError as e:
        if e.errno != want:
            fail("%s: %s, not %s" % (what, os.strerror(e.errno), errno.errorcode[want]))
        return
    fail("%s: succeeded, not %s" % (what, errno.errorcode[want]))


def act(fd, plen):
    data = b"deep data\n" * 100
    f = os.open("f", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o640, dir_fd=fd)
    os.write(f, data)
    os.fsync(f)
    os.close(f)
    f = os.open("f", os.O_RDONLY, dir_fd=fd)
    got = os.read(f, 1 << 20)
    os.close(f)
    if got != data:
        fail("f reads back %d bytes, not the %d written" % (len(got), len(data)))
    st = os.stat("f", dir_fd=fd)
    if st.st_size != len(data) or st.st_mode & 0o7777 != 0o640:
        fail("stat of f: size %d mode %o" % (st.st_size, st.st_mode))
    f = os.open("f", os.O_RDONLY, dir_fd=fd)
    os.setxattr(f, "user.k", b"v")
    if os.getxattr(f, "user.k") != b"v":
        fail("xattr of f")
    os.close(f)
    os.symlink("f", "l", dir_fd=fd)
    if os.readlink("l", dir_fd=fd) != "f":
        fail("readlink of l")
    os.rename("f", "g", src_dir_fd=fd, dst_dir_fd=fd)
    os.chmod("g", 0o600, dir_fd=fd)
    if sorted(os.listdir(fd)) != ["g", "l"]:
        fail("listing of the bottom: %s" % sorted(os.listdir(fd)))
    # Up to PATH_MAX - 1 bytes: fine; PATH_MAX: ENAMETOOLONG, nothing made.
    room = PATH_MAX - 1 - plen - 1
    if 1 <= room <= 255:
        os.mkdir("m" * room, dir_fd=fd)
        os.rmdir("m" * room, dir_fd=fd)
    over = "o" * (room + 1)
    if room + 1 <= 255:
        expect_errno("mkdir at PATH_MAX", errno.ENAMETOOLONG, os.mkdir, over, dir_fd=fd)
        expect_errno("create at PATH_MAX", errno.ENAMETOOLONG, os.open, over,
                     os.O_CREAT | os.O_WRONLY, 0o600, dir_fd=fd)
        expect_errno("symlink at PATH_MAX", errno.ENAMETOOLONG, os.symlink, "g", over,
                     dir_fd=fd)
        expect_errno("mkfifo at PATH_MAX", errno.ENAMETOOLONG, os.mkfifo, over,
                     dir_fd=fd)
        expect_errno("rename to PATH_MAX", errno.ENAMETOOLONG, os.rename, "g", over,
                     src_dir_fd=fd, dst_dir_fd=fd)
    if sorted(os.listdir(fd)) != ["g", "l"]:
        fail("listing of the bottom after the refusals: %s" % sorted(os.listdir(fd)))


def check(fd):
    if sorted(os.listdir(fd)) != ["g", "l"]:
        fail("listing of the bottom after a remount: %s" % sorted(os.listdir(fd)))
    f = os.open("g", os.O_RDONLY, dir_fd=fd)
    got = os.read(f, 1 << 20)
    os.close(f)
    if got != b"deep data\n" * 100:
        fail("g after a remount: %d bytes" % len(got))
    if os.readlink("l", dir_fd=fd) != "f":
        fail("readlink of l after a remount")
    f = os.open("g", os.O_RDONLY, dir_fd=fd)
    if os.getxattr(f, "user.k") != b"v":
        fail("xattr of g after a remount")
    os.close(f)


def put(fd):
    f = os.open("g", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600, dir_fd=fd)
    os.write(f, b"deep data\n" * 100)
    os.close(f)


def eio(fd):
    f = os.open("g", os.O_RDONLY, dir_fd=fd)
    expect_errno("read of a damaged g", errno.EIO, os.read, f, 1 << 20)
    os.close(f)


def flip(vault, size):
    """A walk a directory at a time (os.fwalk recurses, and keeps a
    descriptor open per level): any depth."""
    best = None  # (components below the vault, inode)
    fd = os.open(os.path.join(vault, "tree"), os.O_RDONLY | os.O_DIRECTORY)
    comps = ["tree"]
    todo = [os.listdir(fd)]
    while todo:
        if not todo[-1]:
            todo.pop()
            comps.pop()
            if todo:
                nfd = os.open("..", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                os.close(fd)
                fd = nfd
            continue
        name = todo[-1].pop()
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nfd
            comps.append(name)
            todo.append(os.listdir(fd))
        elif (stat.S_ISREG(st.st_mode) and st.st_size == size and
              not name.startswith(".") and not name.endswith(".n")):
            path = comps + [name]
            if best is None or len("/".join(path)) > len("/".join(best[0])):
                best = (path, st.st_ino)
    os.close(fd)
    if best is None:
        fail("no vault file of %d bytes" % size)
        return
    # Open it again a component at a time, from the vault.
    fd = os.open(vault, os.O_RDONLY | os.O_DIRECTORY)
    for comp in best[0][:-1]:
        nfd = os.open(comp, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        os.close(fd)
        fd = nfd
    f = os.open(best[0][-1], os.O_RDWR, dir_fd=fd)
    os.close(fd)
    if os.fstat(f).st_ino != best[1]:
        fail("the vault file changed under the walk")
    at = 104 + 50  # in block 0
    b = os.pread(f, 1, at)
    os.pwrite(f, bytes([b[0] ^ 0x20]), at)
    os.close(f)
    print("/".join(best[0]))


def main():
    if sys.argv[1] == "flip":
        flip(sys.argv[2], int(sys.argv[3]))
        sys.exit(1 if fails else 0)
    mode, mnt, top, name_len, levels = sys.argv[1:6]
    name_len, levels = int(name_len), int(levels)
    name = "n" * name_len
    plen = 1 + len(top) + levels * (name_len + 1)
    fd = bottom(mnt, top, name, levels)
    if mode == "act":
        act(fd, plen)
    elif mode == "put":
        put(fd)
    elif mode == "eio":
        eio(fd)
    else:
        check(fd)
    os.close(fd)
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
