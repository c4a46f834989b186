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
		if (!(mask & X_OK) || S_ISDIR(mode) ||
		    (mode & (S_IXUSR | S_IXGRP | S_IXOTH)))
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

int medfs_mode_may_delete(const struct medfs_mode_caller *c, const struct stat *dir,
			  uid_t obj_uid)
{
	int ret = medfs_mode_permits(c, dir->st_mode, dir->st_uid, dir->st_gid,
				     W_OK | X_OK);

	if (ret < 0)
		return ret;
	if ((dir->st_mode & S_ISVTX) && c->uid != 0 && c->uid != obj_uid &&
	    c->uid != dir->st_uid)
		return -EPERM;
	return 0;
}

int medfs_mode_may_chmod(const struct medfs_mode_caller *c, const struct stat *st,
			 mode_t *mode)
{
	if (c->uid != 0 && c->uid != st->st_uid)
		return -EPERM;
	if (c->uid != 0 && !in_group(c, st->st_gid))
		*mode &= ~(mode_t)S_ISGID;
	return 0;
}

int medfs_mode_may_chown(const struct medfs_mode_caller *c, const struct stat *st,
			 uid_t uid, gid_t gid)
{
	if (c->uid == 0)
		return 0;
	if (uid != (uid_t)-1 && !(uid == st->st_uid && c->uid == st->st_uid))
		return -EPERM;
	if (gid != (gid_t)-1 && gid != st->st_gid &&
	    !(c->uid == st->st_uid && in_group(c, gid)))
		return -EPERM;
	if (gid != (gid_t)-1 && gid == st->st_gid && c->uid != st->st_uid)
		return -EPERM;
	return 0;
}

int medfs_mode_may_utimens(const struct medfs_mode_caller *c, const struct stat *st,
			   int to_now)
{
	if (c->uid == 0 || c->uid == st->st_uid)
		return 0;
	if (!to_now)
		return -EPERM;
	return medfs_mode_permits(c, st->st_mode, st->st_uid, st->st_gid, W_OK);
}
