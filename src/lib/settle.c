/* medfs: settling a vault after a mount that did not end cleanly
 * (include/medfs/settle.h, doc/FORMAT.md 12.3). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "medfs/settle.h"

static int open_vault_dir(const char *vault_dir)
{
	int fd = open(vault_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int medfs_mounted_mark(const char *vault_dir)
{
	int dfd, fd, r = 0;

	dfd = open_vault_dir(vault_dir);
	if (dfd < 0)
		return dfd;
	fd = openat(dfd, MEDFS_MOUNTED_NAME, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    0600);
	if (fd < 0 && errno == EEXIST) {
		r = 1;
	} else if (fd < 0) {
		r = -errno;
	} else {
		/* Made and on disk before anything can grow. */
		if (fsync(fd) < 0 || fsync(dfd) < 0)
			r = -errno;
		if (close(fd) < 0 && r == 0)
			r = -errno;
	}
	close(dfd);
	return r;
}

int medfs_mounted_present(const char *vault_dir)
{
	int dfd = open_vault_dir(vault_dir), r;
	struct stat st;

	if (dfd < 0)
		return dfd;
	if (fstatat(dfd, MEDFS_MOUNTED_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0)
		r = 1;
	else
		r = errno == ENOENT ? 0 : -errno;
	close(dfd);
	return r;
}

int medfs_mounted_clear(const char *vault_dir)
{
	int dfd = open_vault_dir(vault_dir), r = 0;

	if (dfd < 0)
		return dfd;
	/* Everything the mount wrote on disk first: a header still in the
	 * page cache with its blocks already on disk is a grown file after
	 * a power cut, which only the marker makes medfs look for. */
	if (syncfs(dfd) < 0)
		r = -errno;
	if (r == 0 && unlinkat(dfd, MEDFS_MOUNTED_NAME, 0) < 0 && errno != ENOENT)
		r = -errno;
	if (r == 0 && fsync(dfd) < 0)
		r = -errno;
	close(dfd);
	return r;
}

/* ---- the walk ---- */

struct names {
	char **name;
	unsigned char *is_dir;
	size_t n, cap;
	bool oom;
};

static int names_fill(void *ctx, const char *name, const struct stat *st)
{
	struct names *ns = ctx;

	if (!S_ISDIR(st->st_mode) && !S_ISREG(st->st_mode))
		return 0;
	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? ns->cap * 2 : 64;
		char **name2 = realloc(ns->name, cap * sizeof(*name2));
		unsigned char *dir2;

		if (!name2)
			return ns->oom = true;
		ns->name = name2;
		dir2 = realloc(ns->is_dir, cap);
		if (!dir2)
			return ns->oom = true;
		ns->is_dir = dir2;
		ns->cap = cap;
	}
	ns->name[ns->n] = strdup(name);
	if (!ns->name[ns->n])
		return ns->oom = true;
	ns->is_dir[ns->n++] = S_ISDIR(st->st_mode);
	return 0;
}

static void names_free(struct names *ns)
{
	for (size_t i = 0; i < ns->n; i++) {
		sodium_memzero(ns->name[i], strlen(ns->name[i]));
		free(ns->name[i]);
	}
	free(ns->name);
	free(ns->is_dir);
}

static void settle_file(struct medfs_vault *v, const char *path,
			struct medfs_settle_stats *st)
{
	struct medfs_file *f;
	int r;

	st->files++;
	r = medfs_file_open(v, path, O_RDONLY, &f);
	if (r == -EBADMSG || r == -ENOENT)
		return; /* reads EIO anyway (fsck's), or removed meanwhile */
	if (r < 0) {
		st->failed++;
		return;
	}
	if (medfs_file_grown(f)) {
		r = medfs_file_settle(f);
		if (r == 1)
			st->settled++;
		else if (r < 0)
			st->failed++;
	}
	medfs_file_release(f);
}

static int walk(struct medfs_vault *v, const char *dir, const atomic_bool *stop,
		struct medfs_settle_stats *st)
{
	struct names ns = { 0 };
	size_t dlen = strlen(dir);
	int r;

	/* Names first, then each: readdir holds the namespace lock. */
	r = medfs_vault_readdir(v, dir, names_fill, &ns);
	if (r == 0 && ns.oom)
		r = -ENOMEM;
	if (r < 0) {
		names_free(&ns);
		if (r == -EBADMSG || r == -ENOENT)
			return 0; /* a damaged or removed directory: fsck's */
		st->failed++;
		return 0;
	}
	for (size_t i = 0; i < ns.n && r == 0; i++) {
		size_t len = dlen + 1 + strlen(ns.name[i]) + 1;
		char *path;

		if (stop && atomic_load(stop)) {
			r = -ECANCELED;
			break;
		}
		path = malloc(len);
		if (!path) {
			r = -ENOMEM;
			break;
		}
		snprintf(path, len, "%s/%s", dlen == 1 ? "" : dir, ns.name[i]);
		if (ns.is_dir[i])
			r = walk(v, path, stop, st);
		else
			settle_file(v, path, st);
		sodium_memzero(path, strlen(path));
		free(path);
	}
	names_free(&ns);
	return r;
}

int medfs_settle_walk(struct medfs_vault *v, const atomic_bool *stop,
		      struct medfs_settle_stats *st)
{
	unsigned grew = medfs_vault_grown_changes(v);
	int r;

	memset(st, 0, sizeof(*st));
	r = walk(v, "/", stop, st);
	if (r < 0)
		return r;
	if (st->failed)
		return 1;
	if (medfs_vault_grown_changes(v) == grew)
		medfs_vault_set_careful(v, false);
	return 0;
}
