/* medfs: system calls on vault paths of any length (see vpath.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h> /* renameat2 */
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "medfs/vpath.h"

/* Opens the directory at path below dirfd, following no symlink and
 * leaving no directory (RESOLVE_BENEATH): path is a run of vault entry
 * names, shorter than PATH_MAX. Where openat2 is missing, one component
 * at a time with O_NOFOLLOW. */
static int open_beneath(int dirfd, const char *path)
{
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	char name[NAME_MAX + 1];
	int fd, cur = dirfd;

	fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	/* EPERM: a seccomp profile that refuses the call. */
	if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
		return fd;
	while (*path) {
		size_t n = strcspn(path, "/");
		int next;

		if (n > NAME_MAX || (n == 2 && !memcmp(path, "..", 2))) {
			errno = n > NAME_MAX ? ENAMETOOLONG : EXDEV;
			next = -1;
		} else {
			memcpy(name, path, n);
			name[n] = '\0';
			next = n ? openat(cur, name,
					  O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
				 : openat(cur, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
			/* O_DIRECTORY makes a symlink ENOTDIR: say ELOOP, as
			 * openat2's RESOLVE_NO_SYMLINKS does. */
			if (next < 0 && errno == ENOTDIR) {
				struct stat sb;

				if (fstatat(cur, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
				    S_ISLNK(sb.st_mode))
					errno = ELOOP;
				else
					errno = ENOTDIR;
			}
		}
		if (cur != dirfd) {
			int e = errno;

			close(cur);
			errno = e;
		}
		if (next < 0)
			return -1;
		cur = next;
		path += n;
		while (*path == '/')
			path++;
	}
	return cur == dirfd ? openat(dirfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC) : cur;
}

/* Each thread keeps the directory where its last long walk ended: the
 * next operation is most often in the same directory or one below, and
 * starts from there. Keyed by the root's device and inode; dropped when
 * medfs_vpath_invalidate has been called since. */
struct walk_cache {
	uint64_t gen;
	dev_t dev;
	ino_t ino;
	char *prefix; /* vault path of the directory open at fd */
	size_t len;
	int fd;
};

static _Atomic uint64_t generation = 1;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_drop(struct walk_cache *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->prefix);
	c->prefix = NULL;
}

static void cache_free(void *p)
{
	cache_drop(p);
	free(p);
}

static void cache_key_init(void)
{
	pthread_key_create(&cache_key, cache_free);
}

static struct walk_cache *cache_get(void)
{
	struct walk_cache *c;

	pthread_once(&cache_once, cache_key_init);
	c = pthread_getspecific(cache_key);
	if (!c && (c = calloc(1, sizeof(*c)))) {
		c->fd = -1;
		if (pthread_setspecific(cache_key, c) != 0) {
			free(c);
			c = NULL;
		}
	}
	return c;
}

void medfs_vpath_invalidate(void)
{
	atomic_fetch_add(&generation, 1);
}

/* A descriptor (a dup) of the cached directory that vpath lies below, with
 * *rest set past it; -1 when there is none. */
static int cache_start(struct walk_cache *c, const struct stat *rst, const char *vpath,
		       const char **rest)
{
	if (!c || c->fd < 0)
		return -1;
	if (c->gen != atomic_load(&generation) || c->dev != rst->st_dev ||
	    c->ino != rst->st_ino) {
		cache_drop(c);
		return -1;
	}
	if (strncmp(vpath, c->prefix, c->len) != 0 || vpath[c->len] != '/')
		return -1;
	*rest = vpath + c->len + 1;
	return fcntl(c->fd, F_DUPFD_CLOEXEC, 0);
}

/* Remembers that the directory open at fd is vpath[0..len). */
static void cache_put(struct walk_cache *c, const struct stat *rst, uint64_t gen,
		      const char *vpath, size_t len, int fd)
{
	if (!c)
		return;
	cache_drop(c);
	c->prefix = strndup(vpath, len);
	c->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (!c->prefix || c->fd < 0) {
		cache_drop(c);
		return;
	}
	c->len = len;
	c->gen = gen;
	c->dev = rst->st_dev;
	c->ino = rst->st_ino;
}

int medfs_vpath_dir(int root, const char *vpath, const char **rel)
{
	const char *start = vpath;
	struct walk_cache *c;
	char chunk[PATH_MAX];
	struct stat rst;
	bool walked = false;
	uint64_t gen;
	int fd = root;

	if (!vpath[0]) {
		*rel = ".";
		return root;
	}
	if (strlen(vpath) < PATH_MAX) {
		*rel = vpath;
		return root;
	}
	if (fstat(root, &rst) < 0)
		return -1;
	gen = atomic_load(&generation);
	c = cache_get();
	fd = cache_start(c, &rst, start, &vpath);
	if (fd < 0) {
		fd = root;
		vpath = start;
	}
	while (strlen(vpath) >= PATH_MAX) {
		size_t cut = PATH_MAX - 1;
		int next;

		while (cut > 0 && vpath[cut] != '/')
			cut--;
		if (cut == 0) {
			medfs_vpath_dir_close(root, fd);
			errno = ENAMETOOLONG; /* a component longer than PATH_MAX */
			return -1;
		}
		memcpy(chunk, vpath, cut);
		chunk[cut] = '\0';
		next = open_beneath(fd, chunk);
		medfs_vpath_dir_close(root, fd);
		if (next < 0)
			return -1;
		fd = next;
		vpath += cut + 1;
		walked = true;
	}
	if (walked)
		cache_put(c, &rst, gen, start, (size_t)(vpath - start - 1), fd);
	*rel = vpath;
	return fd;
}

void medfs_vpath_dir_close(int root, int fd)
{
	if (fd >= 0 && fd != root) {
		int e = errno;

		close(fd);
		errno = e;
	}
}

int medfs_vpath_opendir(int root, const char *vpath)
{
	const char *rel;
	int d = medfs_vpath_dir(root, vpath, &rel), pfd, fd;

	if (d < 0)
		return -1;
	pfd = open_beneath(d, rel);
	medfs_vpath_dir_close(root, d);
	if (pfd < 0)
		return -1;
	fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		close(pfd);
		errno = e;
		return -1;
	}
	close(pfd);
	return fd;
}

char *medfs_vpath_join(const char *dir, const char *entry)
{
	size_t dl = strlen(dir), el = strlen(entry);
	char *p = malloc(dl + el + 2);

	if (!p)
		return NULL;
	if (dl) {
		memcpy(p, dir, dl);
		p[dl++] = '/';
	}
	memcpy(p + dl, entry, el + 1);
	return p;
}

char *medfs_vpath_cat(const char *a, const char *b)
{
	size_t al = strlen(a), bl = strlen(b);
	char *p = malloc(al + bl + 1);

	if (!p)
		return NULL;
	memcpy(p, a, al);
	memcpy(p + al, b, bl + 1);
	return p;
}

/* Runs CALL with dfd and rel set for vpath, keeping its errno. */
#define AT(ret, root, vpath, CALL)                                                       \
	do {                                                                             \
		const char *rel;                                                         \
		int dfd = medfs_vpath_dir((root), (vpath), &rel);                        \
                                                                                         \
		if (dfd < 0)                                                             \
			return -1;                                                       \
		ret = CALL;                                                              \
		medfs_vpath_dir_close((root), dfd);                                      \
	} while (0)

int medfs_vpath_fstatat(int root, const char *vpath, struct stat *st, int flags)
{
	int r;

	AT(r, root, vpath, fstatat(dfd, rel, st, flags));
	return r;
}

int medfs_vpath_openat(int root, const char *vpath, int flags, mode_t mode)
{
	int r;

	AT(r, root, vpath, openat(dfd, rel, flags, mode));
	return r;
}

int medfs_vpath_mkdirat(int root, const char *vpath, mode_t mode)
{
	int r;

	AT(r, root, vpath, mkdirat(dfd, rel, mode));
	return r;
}

int medfs_vpath_mknodat(int root, const char *vpath, mode_t mode, dev_t dev)
{
	int r;

	AT(r, root, vpath, mknodat(dfd, rel, mode, dev));
	return r;
}

int medfs_vpath_unlinkat(int root, const char *vpath, int flags)
{
	int r;

	AT(r, root, vpath, unlinkat(dfd, rel, flags));
	return r;
}

int medfs_vpath_renameat2(int root, const char *from, const char *to,
			  unsigned int flags)
{
	const char *frel, *trel;
	int ffd, tfd, r;

	ffd = medfs_vpath_dir(root, from, &frel);
	if (ffd < 0)
		return -1;
	tfd = medfs_vpath_dir(root, to, &trel);
	if (tfd < 0) {
		medfs_vpath_dir_close(root, ffd);
		return -1;
	}
	r = renameat2(ffd, frel, tfd, trel, flags);
	medfs_vpath_dir_close(root, tfd);
	medfs_vpath_dir_close(root, ffd);
	return r;
}

int medfs_vpath_symlinkat(const char *target, int root, const char *vpath)
{
	int r;

	AT(r, root, vpath, symlinkat(target, dfd, rel));
	return r;
}

ssize_t medfs_vpath_readlinkat(int root, const char *vpath, char *buf, size_t size)
{
	ssize_t r;

	AT(r, root, vpath, readlinkat(dfd, rel, buf, size));
	return r;
}

int medfs_vpath_fchownat(int root, const char *vpath, uid_t uid, gid_t gid, int flags)
{
	int r;

	AT(r, root, vpath, fchownat(dfd, rel, uid, gid, flags));
	return r;
}

int medfs_vpath_fchmodat(int root, const char *vpath, mode_t mode, int flags)
{
	int r;

	AT(r, root, vpath, fchmodat(dfd, rel, mode, flags));
	return r;
}

int medfs_vpath_utimensat(int root, const char *vpath, const struct timespec tv[2],
			  int flags)
{
	int r;

	AT(r, root, vpath, utimensat(dfd, rel, tv, flags));
	return r;
}
