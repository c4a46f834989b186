/* medfs: reading a policy file, after checking that it can be trusted.
 *
 * Kept apart from policy.c, which does no I/O. The checks follow sshd's
 * StrictModes: whoever can change the file, or replace it through its
 * directory, decides who reads the patients' files, so that must be root
 * or the user who mounts. The file is checked through the descriptor it is
 * read from, so it cannot be swapped between the check and the read. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "medfs/log.h"
#include "medfs/policy.h"

#define POLICY_FILE_MAX (1 << 20)


/* Owned by root or owner, and not writable by group or others (a
 * directory may be if it is sticky: then only a file's owner can rename
 * or remove it). Returns 0 or -EPERM with the reason. */
static int trusted(const char *path, const struct stat *st, uid_t owner, char *why,
		   size_t whysz)
{
	const char *what = S_ISDIR(st->st_mode) ? "directory " : "";

	if (st->st_uid != 0 && st->st_uid != owner) {
		medfs_reason(why, whysz, "%s%s is owned by uid %lu, not by root or uid %lu",
		       what, path, (unsigned long)st->st_uid, (unsigned long)owner);
		return -EPERM;
	}
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) &&
	    !(S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX))) {
		medfs_reason(why, whysz, "%s%s is writable by group or others (mode %04o)",
		       what, path, (unsigned)(st->st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

/* Reads to the end, at most POLICY_FILE_MAX bytes (the file may have grown
 * since it was checked). The text gets a NUL after it. */
static int read_all(int fd, size_t hint, char **text, size_t *len)
{
	size_t cap = (hint < POLICY_FILE_MAX ? hint : POLICY_FILE_MAX) + 1, n = 0;
	char *buf, *nbuf;
	ssize_t r;

	buf = malloc(cap + 1);
	if (buf == NULL)
		return -ENOMEM;
	for (;;) {
		if (n == cap) {
			if (cap > POLICY_FILE_MAX) {
				free(buf);
				return -EFBIG;
			}
			cap = cap * 2 < POLICY_FILE_MAX + 1 ? cap * 2
							    : POLICY_FILE_MAX + 1;
			nbuf = realloc(buf, cap + 1);
			if (nbuf == NULL) {
				free(buf);
				return -ENOMEM;
			}
			buf = nbuf;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			r = -errno;
			free(buf);
			return (int)r;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return 0;
}

int medfs_policy_read_file(const char *path, uid_t owner, char **text, size_t *len,
			   char *why, size_t whysz)
{
	char *real = NULL, *slash;
	struct stat st, dst;
	int fd = -1, ret;

	medfs_reason(why, whysz, "%s", "");
	/* Check where the file really is, not where a symbolic link says. */
	real = realpath(path, NULL);
	if (real == NULL) {
		ret = -errno;
		medfs_reason(why, whysz, "%s: %s", path, strerror(-ret));
		goto out;
	}
	fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		medfs_reason(why, whysz, "%s: %s", path, strerror(-ret));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EPERM;
		medfs_reason(why, whysz, "%s is not a regular file", path);
		goto out;
	}
	ret = trusted(path, &st, owner, why, whysz);
	if (ret < 0)
		goto out;
	if (st.st_size > POLICY_FILE_MAX) {
		ret = -EFBIG;
		medfs_reason(why, whysz, "%s is larger than 1 MiB", path);
		goto out;
	}

	slash = strrchr(real, '/');
	if (slash == real)
		slash[1] = '\0'; /* the file is in "/" */
	else
		*slash = '\0';
	if (stat(real, &dst) < 0) {
		ret = -errno;
		medfs_reason(why, whysz, "directory %s: %s", real, strerror(-ret));
		goto out;
	}
	ret = trusted(real, &dst, owner, why, whysz);
	if (ret < 0)
		goto out;

	ret = read_all(fd, (size_t)st.st_size, text, len);
	if (ret == -EFBIG)
		medfs_reason(why, whysz, "%s is larger than 1 MiB", path);
	else if (ret < 0)
		medfs_reason(why, whysz, "cannot read %s: %s", path, strerror(-ret));
out:
	if (fd >= 0)
		close(fd);
	free(real);
	return ret;
}
