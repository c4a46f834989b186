/* medfs: POSIX permission checks by mode bits (see modecheck.h). */
#include <errno.h>
#include <unistd.h>

#include "medfs/modecheck.h"

static int in_group(const struct medfs_mode_caller *c, gid_t gid)
{
	if (c->gid == gid)
		return 1;
	for (size_t i = 0; i < c->ngroups; i++)
		if (c->groups[i] == gid)
			return 1;
	return 0;
}

int medfs_mode_permits(const struct medfs_mode_caller *c, mode_t mode, uid_t uid,
		       gid_t gid, int mask)
{
	unsigned bits;

	mask &= R_OK | W_OK | X_OK;
	if (mask == 0)
		return 0;
	if (c->uid == 0) {
		/* CAP_DAC_OVERRIDE: all but executing a file no one may. */
		if (!(mask & X_OK) || S_ISDIR(mode) || (mode & (S_IXUSR | S_IXGRP | S_IXOTH)))
			return 0;
		return -EACCES;
	}
	if (c->uid == uid)
		bits = (mode >> 6) & 7;
	else if (in_group(c, gid))
		bits = (mode >> 3) & 7;
	else
		bits = mode & 7;
	/* R_OK, W_OK and X_OK are 4, 2 and 1, as the mode's bits. */
	return ((unsigned)mask & ~bits) == 0 ? 0 : -EACCES;
}
