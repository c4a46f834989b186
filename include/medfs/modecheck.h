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

#endif
