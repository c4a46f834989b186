/* medfs driver: one round trip per write, not two.
 *
 * Before every write to a FUSE file the kernel asks the driver for the
 * file's security.capability (a GETXATTR round trip), because FUSE inodes
 * are never marked S_NOSEC, unless the driver answers INIT with
 * FUSE_HANDLE_KILLPRIV_V2: it then drops set-user-ID and set-group-ID
 * bits itself (the vault does, see medfs_file_write) and the kernel marks
 * an inode S_NOSEC after its first write. medfs stores no
 * security.capability (only user.* attributes), so there is none to drop.
 *
 * libfuse 3.14 knows no capability for that flag: killpriv_offer puts
 * the session's replies through writev of its own and adds the flag to
 * the INIT reply, when the kernel offered it. */
#ifndef MEDFS_DRIVER_KILLPRIV_H
#define MEDFS_DRIVER_KILLPRIV_H

#include <fuse_lowlevel.h>

/* Call once, after the session is mounted and before its loop runs.
 * Returns 0 or -errno (the session then stays as it was). */
int killpriv_offer(struct fuse_session *se);

#endif
