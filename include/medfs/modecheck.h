/* medfs: POSIX permission checks by mode bits, as the kernel makes them.
 *
 * Pure: handed the caller and the object's attributes, no I/O. The rules
 * are those of generic_permission(): the owner's bits for the owner, the
 * group's for a member of the object's group (primary or supplementary),
 * the others' for everybody else; root (uid 0, CAP_DAC_OVERRIDE) may read
 * and write anything and search any directory, but executes a file only
 * if some execute bit is set. */
#ifndef MEDFS_MODECHECK_H
#define MEDFS_MODECHECK_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Who asks: groups holds the supplementary groups (gid need not be in it;
 * may be NULL with ngroups 0). */
struct medfs_mode_caller {
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t ngroups;
};

/* mask: R_OK, W_OK and X_OK bits (<unistd.h>); 0 asks nothing. Returns 0
 * when the caller holds every bit asked on an object of that type, mode,
 * owner and group, else -EACCES. */
int medfs_mode_permits(const struct medfs_mode_caller *c, mode_t mode, uid_t uid,
		       gid_t gid, int mask);

/* Removing (unlink, rmdir, rename away) an object owned by obj_uid from a
 * directory: write and search on the directory; in a sticky directory
 * (S_ISVTX) only the object's owner, the directory's owner or root.
 * Returns 0, -EACCES (the directory's bits) or -EPERM (sticky). */
int medfs_mode_may_delete(const struct medfs_mode_caller *c, const struct stat *dir,
			  uid_t obj_uid);

/* chmod: the owner or root, else -EPERM. *mode loses S_ISGID when the
 * caller (not root) is not in the object's group, as the kernel does. */
int medfs_mode_may_chmod(const struct medfs_mode_caller *c, const struct stat *st,
			 mode_t *mode);

/* chown to uid and gid ((uid_t)-1, (gid_t)-1: unchanged): root may do
 * anything; the owner may keep the owner and set a group it is in (or
 * the object's own). Else -EPERM. */
int medfs_mode_may_chown(const struct medfs_mode_caller *c, const struct stat *st,
			 uid_t uid, gid_t gid);

/* utimens: explicit times need the owner or root (-EPERM); setting both
 * to now (to_now) also write permission (-EACCES). */
int medfs_mode_may_utimens(const struct medfs_mode_caller *c, const struct stat *st,
			   int to_now);

#endif
