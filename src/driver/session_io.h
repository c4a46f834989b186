/* medfs driver: the session's own reads and writes of /dev/fuse.
 *
 * libfuse 3.14 reads requests and writes replies for us; through
 * fuse_session_custom_io the driver sees them first, for what that
 * libfuse version does not know:
 *
 * - FUSE_HANDLE_KILLPRIV_V2 in the INIT reply: one round trip per write,
 *   not two. Before every write to a FUSE file the kernel asks the driver
 *   for the file's security.capability (a GETXATTR round trip), because
 *   FUSE inodes are never marked S_NOSEC, unless the driver answers INIT
 *   with that flag: it then drops set-user-ID and set-group-ID bits itself
 *   (the vault does, see medfs_file_write) and the kernel marks an inode
 *   S_NOSEC after its first write. medfs stores no security.capability
 *   (only user.* attributes), so there is none to drop.
 * - FUSE_OVER_IO_URING in the INIT reply, and the replies to requests
 *   that came over io_uring (uring.h).
 * - FUSE_DIRECT_IO_ALLOW_MMAP (protocol 7.39) in the INIT reply, with -o
 *   audit=strict: files are opened with direct_io so that every read(2)
 *   reaches the driver, and this keeps shared writable maps working (the
 *   kernel then writes a map's dirty pages back before a direct read of
 *   them, and drops the page cache at each mmap). */
#ifndef MEDFS_DRIVER_SESSION_IO_H
#define MEDFS_DRIVER_SESSION_IO_H

#include <stdbool.h>

#include <fuse_lowlevel.h>

/* Call once, after the session is mounted and before its loop runs;
 * with_uring asks for requests over io_uring where the kernel offers it
 * (uring_enabled, before the mount).
 * Returns 0 or -errno (the session then stays as it was). */
int session_io_install(struct fuse_session *se, bool with_uring);

/* Before session_io_install: whether to answer INIT with
 * FUSE_DIRECT_IO_ALLOW_MMAP (when the kernel offers it). */
void session_io_allow_mmap(bool allow);

/* After the unmount, before the session is destroyed: ends the io_uring
 * threads, if any. */
void session_io_stop(void);

#endif
