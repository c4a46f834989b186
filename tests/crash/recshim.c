/* recshim: an LD_PRELOAD library for the crash-state checker. Loaded into
 * a medfs process (the driver, medfs-key), it records, in order, every
 * call that changes the tree below $CRASH_ROOT (the vault): creating
 * opens, writes, truncations, allocations, renames, links, unlinks,
 * directories, symlinks, xattrs, modes and owners, and the barriers
 * (fsync, fdatasync, syncfs, sync). One line per call goes to
 * $CRASH_LOG, tab-separated:
 *
 *   OP  INODE  PATH  ARGS...
 *
 * INODE is "dev:ino" of the object the call acts on, PATH its path
 * relative to $CRASH_ROOT ("." for the root itself) at the time of the
 * call. The bytes of writes, xattr values and symlink targets go to
 * $CRASH_LOG.data; the line gives their offset and length there. Each call
 * is made and logged under one lock, so the log's order is the order in
 * which the calls took effect. Lines are whole single write()s to an
 * O_APPEND file: another process (the workload) may append its own marker
 * lines ("M ...") and they fall between the calls that finished before.
 * Calls outside $CRASH_ROOT and failed calls are not logged. Without
 * $CRASH_LOG the library does nothing but pass the calls on. */
/* Every name is defined here as itself: no redirection to the *64 ones
 * (which are defined below too). */
#undef _FILE_OFFSET_BITS
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int log_fd = -1, data_fd = -1;
static char root[PATH_MAX];
static size_t root_len;
static uint64_t data_off;

static void setup(void)
{
	const char *log = getenv("CRASH_LOG"), *r = getenv("CRASH_ROOT");
	char dpath[PATH_MAX];
	struct stat st;

	if (!log || !r || !realpath(r, root))
		return;
	root_len = strlen(root);
	snprintf(dpath, sizeof(dpath), "%s.data", log);
	log_fd = (int)syscall(SYS_openat, AT_FDCWD, log,
			      O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	data_fd = (int)syscall(SYS_openat, AT_FDCWD, dpath,
			       O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (data_fd >= 0 && fstat(data_fd, &st) == 0)
		data_off = (uint64_t)st.st_size;
}

static int active(void)
{
	pthread_once(&once, setup);
	return log_fd >= 0 && data_fd >= 0;
}

/* PATH relative to the root into out; 0 when it is below the root. */
static int rel(const char *abs, char *out, size_t outsz)
{
	if (strncmp(abs, root, root_len) != 0)
		return -1;
	if (abs[root_len] == '\0')
		snprintf(out, outsz, ".");
	else if (abs[root_len] == '/')
		snprintf(out, outsz, "%s", abs + root_len + 1);
	else
		return -1;
	return 0;
}

static int fd_rel(int fd, char *out, size_t outsz)
{
	char link[64], abs[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, abs, sizeof(abs) - 1);
	if (n < 0)
		return -1;
	abs[n] = '\0';
	return rel(abs, out, outsz);
}

/* dirfd + path as an absolute path, without resolving the last part. */
static int at_rel(int dirfd, const char *path, char *out, size_t outsz)
{
	char base[PATH_MAX], abs[PATH_MAX * 2];
	ssize_t n;

	if (path[0] == '/') {
		snprintf(abs, sizeof(abs), "%s", path);
	} else {
		if (dirfd == AT_FDCWD) {
			if (!getcwd(base, sizeof(base)))
				return -1;
		} else {
			char link[64];

			snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
			n = readlink(link, base, sizeof(base) - 1);
			if (n < 0)
				return -1;
			base[n] = '\0';
		}
		if (!strcmp(path, "."))
			snprintf(abs, sizeof(abs), "%s", base);
		else
			snprintf(abs, sizeof(abs), "%s/%s", base, path);
	}
	/* Strip "./" and trailing slashes, enough for what medfs passes. */
	for (char *p; (p = strstr(abs, "/./"));)
		memmove(p, p + 2, strlen(p + 2) + 1);
	for (size_t l = strlen(abs); l > 1 && abs[l - 1] == '/'; l--)
		abs[l - 1] = '\0';
	if (strlen(abs) >= PATH_MAX)
		return -1;
	return rel(abs, out, outsz);
}

static void ino_of_st(const struct stat *st, char *out, size_t outsz)
{
	snprintf(out, outsz, "%llu:%llu", (unsigned long long)st->st_dev,
		 (unsigned long long)st->st_ino);
}

static void ino_fd(int fd, char *out, size_t outsz)
{
	struct stat st;

	if (fstat(fd, &st) == 0)
		ino_of_st(&st, out, outsz);
	else
		snprintf(out, outsz, "?");
}

static void ino_at(int dirfd, const char *path, char *out, size_t outsz)
{
	struct stat st;

	if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0)
		ino_of_st(&st, out, outsz);
	else
		snprintf(out, outsz, "?");
}

static void put_line(const char *fmt, ...)
{
	char line[3 * PATH_MAX + 512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 1)
		return;
	line[n++] = '\n';
	if (syscall(SYS_write, log_fd, line, (size_t)n) != n)
		return;
}

/* Appends buf to the data file; its offset there. */
static uint64_t put_data(const void *buf, size_t len)
{
	uint64_t at = data_off;
	size_t done = 0;

	while (done < len) {
		long n = syscall(SYS_write, data_fd, (const char *)buf + done, len - done);

		if (n <= 0)
			break;
		done += (size_t)n;
	}
	data_off += done;
	return at;
}

#define REAL(name) \
	static __typeof__(name) *real_##name; \
	if (!real_##name) \
		real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

/* ---- opens ---- */

static void log_open(int fd, int flags, mode_t mode)
{
	char p[PATH_MAX], ino[64];

	if (fd < 0 || !(flags & (O_CREAT | O_TRUNC)) || (flags & O_ACCMODE) == O_RDONLY ||
	    fd_rel(fd, p, sizeof(p)) < 0)
		return;
	ino_fd(fd, ino, sizeof(ino));
	put_line("create\t%s\t%s\t%d\t%o", ino, p, (flags & O_TRUNC) ? 1 : 0,
		 (unsigned)mode & 07777);
}

static int do_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	int fd, e;

	if (!active() || !(flags & (O_CREAT | O_TRUNC)))
		return (int)syscall(SYS_openat, dirfd, path, flags, mode);
	pthread_mutex_lock(&lock);
	fd = (int)syscall(SYS_openat, dirfd, path, flags, mode);
	e = errno;
	log_open(fd, flags, mode);
	pthread_mutex_unlock(&lock);
	errno = e;
	return fd;
}

static mode_t arg_mode(int flags, va_list ap)
{
	return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t m;

	va_start(ap, flags);
	m = arg_mode(flags, ap);
	va_end(ap);
	return do_openat(AT_FDCWD, path, flags, m);
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t m;

	va_start(ap, flags);
	m = arg_mode(flags, ap);
	va_end(ap);
	return do_openat(AT_FDCWD, path, flags, m);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t m;

	va_start(ap, flags);
	m = arg_mode(flags, ap);
	va_end(ap);
	return do_openat(dirfd, path, flags, m);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t m;

	va_start(ap, flags);
	m = arg_mode(flags, ap);
	va_end(ap);
	return do_openat(dirfd, path, flags, m);
}

/* The _FORTIFY_SOURCE entry points (flags not known at compile time). */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

int __open_2(const char *path, int flags)
{
	return do_openat(AT_FDCWD, path, flags, 0);
}

int __open64_2(const char *path, int flags)
{
	return do_openat(AT_FDCWD, path, flags, 0);
}

int __openat_2(int dirfd, const char *path, int flags)
{
	return do_openat(dirfd, path, flags, 0);
}

int __openat64_2(int dirfd, const char *path, int flags)
{
	return do_openat(dirfd, path, flags, 0);
}

int creat(const char *path, mode_t mode)
{
	return do_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int creat64(const char *path, mode_t mode)
{
	return do_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

/* ---- writes ---- */

/* Logs a write of the n bytes of iov that landed at off (-1: at the
 * position the write left, minus n). */
static void log_write(int fd, const struct iovec *iov, int iovcnt, ssize_t n, off_t off)
{
	char p[PATH_MAX], ino[64];
	uint64_t at = data_off;
	size_t left = (size_t)n;

	if (n <= 0 || fd_rel(fd, p, sizeof(p)) < 0)
		return;
	if (off < 0)
		off = lseek(fd, 0, SEEK_CUR) - n;
	for (int i = 0; i < iovcnt && left > 0; i++) {
		size_t l = iov[i].iov_len < left ? iov[i].iov_len : left;

		put_data(iov[i].iov_base, l);
		left -= l;
	}
	ino_fd(fd, ino, sizeof(ino));
	put_line("write\t%s\t%s\t%lld\t%zd\t%llu", ino, p, (long long)off, n,
		 (unsigned long long)at);
}

static int is_file(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

static ssize_t do_writev(int fd, const struct iovec *iov, int cnt, off_t off, int positional)
{
	ssize_t n;
	int e;

	if (!active() || !is_file(fd)) {
		if (positional)
			return syscall(SYS_pwritev, fd, iov, cnt, (long)off, 0L);
		return syscall(SYS_writev, fd, iov, cnt);
	}
	pthread_mutex_lock(&lock);
	if (positional)
		n = syscall(SYS_pwritev, fd, iov, cnt, (long)off, 0L);
	else
		n = syscall(SYS_writev, fd, iov, cnt);
	e = errno;
	log_write(fd, iov, cnt, n, positional ? off : -1);
	pthread_mutex_unlock(&lock);
	errno = e;
	return n;
}

ssize_t write(int fd, const void *buf, size_t len)
{
	struct iovec v = { (void *)buf, len };

	return do_writev(fd, &v, 1, 0, 0);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	struct iovec v = { (void *)buf, len };

	return do_writev(fd, &v, 1, off, 1);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	struct iovec v = { (void *)buf, len };

	return do_writev(fd, &v, 1, off, 1);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	return do_writev(fd, iov, cnt, 0, 0);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	return do_writev(fd, iov, cnt, off, 1);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
{
	return do_writev(fd, iov, cnt, off, 1);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	if (flags == 0 && off >= 0)
		return do_writev(fd, iov, cnt, off, 1);
	if (flags == 0)
		return do_writev(fd, iov, cnt, 0, 0);
	errno = EOPNOTSUPP; /* medfs passes no flags; nothing goes unlogged */
	return -1;
}

ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	return pwritev2(fd, iov, cnt, off, flags);
}

/* ---- sizes ---- */

static int do_ftruncate(int fd, off_t len)
{
	char p[PATH_MAX], ino[64];
	int r, e;

	if (!active())
		return (int)syscall(SYS_ftruncate, fd, len);
	pthread_mutex_lock(&lock);
	r = (int)syscall(SYS_ftruncate, fd, len);
	e = errno;
	if (r == 0 && fd_rel(fd, p, sizeof(p)) == 0) {
		ino_fd(fd, ino, sizeof(ino));
		put_line("trunc\t%s\t%s\t%lld", ino, p, (long long)len);
	}
	pthread_mutex_unlock(&lock);
	errno = e;
	return r;
}

int ftruncate(int fd, off_t len)
{
	return do_ftruncate(fd, len);
}

int ftruncate64(int fd, off_t len)
{
	return do_ftruncate(fd, len);
}

static int do_truncate(const char *path, off_t len)
{
	int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CLOEXEC), r, e;

	if (fd < 0)
		return -1;
	r = do_ftruncate(fd, len);
	e = errno;
	close(fd);
	errno = e;
	return r;
}

int truncate(const char *path, off_t len)
{
	return do_truncate(path, len);
}

int truncate64(const char *path, off_t len)
{
	return do_truncate(path, len);
}

static int do_fallocate(int fd, int mode, off_t off, off_t len)
{
	char p[PATH_MAX], ino[64];
	int r, e;

	if (!active())
		return (int)syscall(SYS_fallocate, fd, mode, off, len);
	pthread_mutex_lock(&lock);
	r = (int)syscall(SYS_fallocate, fd, mode, off, len);
	e = errno;
	if (r == 0 && fd_rel(fd, p, sizeof(p)) == 0) {
		ino_fd(fd, ino, sizeof(ino));
		put_line("falloc\t%s\t%s\t%d\t%lld\t%lld", ino, p, mode, (long long)off,
			 (long long)len);
	}
	pthread_mutex_unlock(&lock);
	errno = e;
	return r;
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
	return do_fallocate(fd, mode, off, len);
}

int fallocate64(int fd, int mode, off_t off, off_t len)
{
	return do_fallocate(fd, mode, off, len);
}

int posix_fallocate(int fd, off_t off, off_t len)
{
	int e = errno, r = do_fallocate(fd, 0, off, len) < 0 ? errno : 0;

	errno = e;
	return r;
}

int posix_fallocate64(int fd, off_t off, off_t len)
{
	return posix_fallocate(fd, off, len);
}

/* ---- names ---- */

static int do_renameat2(int od, const char *op, int nd, const char *np, unsigned int flags)
{
	char a[PATH_MAX], b[PATH_MAX], ino[64];
	int r, e, la, lb;

	if (!active())
		return (int)syscall(SYS_renameat2, od, op, nd, np, flags);
	pthread_mutex_lock(&lock);
	la = at_rel(od, op, a, sizeof(a));
	lb = at_rel(nd, np, b, sizeof(b));
	ino_at(od, op, ino, sizeof(ino));
	r = (int)syscall(SYS_renameat2, od, op, nd, np, flags);
	e = errno;
	if (r == 0 && la == 0 && lb == 0)
		put_line("rename\t%s\t%s\t%s\t%u", ino, a, b, flags);
	pthread_mutex_unlock(&lock);
	errno = e;
	return r;
}

int rename(const char *a, const char *b)
{
	return do_renameat2(AT_FDCWD, a, AT_FDCWD, b, 0);
}

int renameat(int od, const char *a, int nd, const char *b)
{
	return do_renameat2(od, a, nd, b, 0);
}

int renameat2(int od, const char *a, int nd, const char *b, unsigned int flags)
{
	return do_renameat2(od, a, nd, b, flags);
}

static int do_unlinkat(int dirfd, const char *path, int flags)
{
	char p[PATH_MAX], ino[64];
	int r, e, l;

	if (!active())
		return (int)syscall(SYS_unlinkat, dirfd, path, flags);
	pthread_mutex_lock(&lock);
	l = at_rel(dirfd, path, p, sizeof(p));
	ino_at(dirfd, path, ino, sizeof(ino));
	r = (int)syscall(SYS_unlinkat, dirfd, path, flags);
	e = errno;
	if (r == 0 && l == 0)
		put_line("%s\t%s\t%s", (flags & AT_REMOVEDIR) ? "rmdir" : "unlink", ino, p);
	pthread_mutex_unlock(&lock);
	errno = e;
	return r;
}

int unlink(const char *path)
{
	return do_unlinkat(AT_FDCWD, path, 0);
}

int rmdir(const char *path)
{
	return do_unlinkat(AT_FDCWD, path, AT_REMOVEDIR);
}

int unlinkat(int dirfd, const char *path, int flags)
{
	return do_unlinkat(dirfd, path, flags);
}

static int do_mkdirat(int dirfd, const char *path, mode_t mode)
{
	char p[PATH_MAX], ino[64];
	int r, e;

	if (!active())
		return (int)syscall(SYS_mkdirat, dirfd, path, mode);
	pthread_mutex_lock(&lock);
	r = (int)syscall(SYS_mkdirat, dirfd, path, mode);
	e = errno;
	if (r == 0 && at_rel(dirfd, path, p, sizeof(p)) == 0) {
		ino_at(dirfd, path, ino, sizeof(ino));
		put_line("mkdir\t%s\t%s\t%o", ino, p, (unsigned)mode & 07777);
	}
	pthread_mutex_unlock(&lock);
	errno = e;
	return r;
}

int mkdir(const char *path, mode_t mode)
{
	return do_mkdirat(AT_FDCWD, path, mode);
}

int mkdirat(int dirfd, const char *path, mode_t mode)
{
	return do_mkdirat(dirfd, path, mode);
}

static int do_linkat(int od, const char *op, int nd, const char *np, int flags)
{
	char a[PATH_MAX], b[PATH_MAX], ino[64];
	int r, e, la, lb;

	if (!active())
		return (int)syscall(SYS_linkat, od, op, nd, np, flags);
	pthread_mutex_lock(&lock);
	la = at_rel(od, op, a, sizeof(a));
	lb = at_rel(nd, np, b, sizeof(b));
	r = (int)syscall(SYS_linkat, od, op, nd, np, flags);
	e = errno;
	if (r == 0 && la == 0 && lb == 0) {
		ino_at(nd, np, ino, sizeof(ino));
		put_line("link\t%s\t%s\t%s", ino, a, b);
	}
	pthread_mutex_unlock(&lock);
	errno = e;
	return r;
}

int link(const char *a, const char *b)
{
	return do_linkat(AT_FDCWD, a, AT_FDCWD, b, 0);
}

int linkat(int od, const char *a, int nd, const char *b, int flags)
{
	return do_linkat(od, a, nd, b, flags);
}

static int do_symlinkat(const char *target, int dirfd, const char *path)
{
	char p[PATH_MAX], ino[64];
	int r, e;

	if (!active())
		return (int)syscall(SYS_symlinkat, target, dirfd, path);
	pthread_mutex_lock(&lock);
	r = (int)syscall(SYS_symlinkat, target, dirfd, path);
	e = errno;
	if (r == 0 && at_rel(dirfd, path, p, sizeof(p)) == 0) {
		uint64_t at = put_data(target, strlen(target));

		ino_at(dirfd, path, ino, sizeof(ino));
		put_line("symlink\t%s\t%s\t%llu\t%zu", ino, p, (unsigned long long)at,
			 strlen(target));
	}
	pthread_mutex_unlock(&lock);
	errno = e;
	return r;
}

int symlink(const char *target, const char *path)
{
	return do_symlinkat(target, AT_FDCWD, path);
}

int symlinkat(const char *target, int dirfd, const char *path)
{
	return do_symlinkat(target, dirfd, path);
}

/* ---- attributes, modes, owners ---- */

/* fd >= 0: the object open at fd; else path (not followed with nofollow). */
static int obj(int fd, const char *path, int nofollow, char *p, size_t psz, char *ino,
	       size_t isz)
{
	struct stat st;

	if (fd >= 0) {
		ino_fd(fd, ino, isz);
		return fd_rel(fd, p, psz);
	}
	if ((nofollow ? lstat(path, &st) : stat(path, &st)) == 0)
		ino_of_st(&st, ino, isz);
	else
		snprintf(ino, isz, "?");
	return at_rel(AT_FDCWD, path, p, psz);
}

static int do_setxattr(int fd, const char *path, int nofollow, const char *name,
		       const void *val, size_t len, int flags)
{
	char p[PATH_MAX], ino[64];
	int r, e;

	if (!active())
		return (int)(fd >= 0 ? syscall(SYS_fsetxattr, fd, name, val, len, flags)
				     : syscall(nofollow ? SYS_lsetxattr : SYS_setxattr, path,
					       name, val, len, flags));
	pthread_mutex_lock(&lock);
	r = (int)(fd >= 0 ? syscall(SYS_fsetxattr, fd, name, val, len, flags)
			  : syscall(nofollow ? SYS_lsetxattr : SYS_setxattr, path, name, val,
				    len, flags));
	e = errno;
	if (r == 0 && obj(fd, path, nofollow, p, sizeof(p), ino, sizeof(ino)) == 0) {
		uint64_t at = put_data(val, len);

		put_line("setxattr\t%s\t%s\t%s\t%llu\t%zu", ino, p, name,
			 (unsigned long long)at, len);
	}
	pthread_mutex_unlock(&lock);
	errno = e;
	return r;
}

int setxattr(const char *path, const char *name, const void *val, size_t len, int flags)
{
	return do_setxattr(-1, path, 0, name, val, len, flags);
}

int lsetxattr(const char *path, const char *name, const void *val, size_t len, int flags)
{
	return do_setxattr(-1, path, 1, name, val, len, flags);
}

int fsetxattr(int fd, const char *name, const void *val, size_t len, int flags)
{
	return do_setxattr(fd, NULL, 0, name, val, len, flags);
}

static int do_removexattr(int fd, const char *path, int nofollow, const char *name)
{
	char p[PATH_MAX], ino[64];
	int r, e;

	if (!active())
		return (int)(fd >= 0 ? syscall(SYS_fremovexattr, fd, name)
				     : syscall(nofollow ? SYS_lremovexattr : SYS_removexattr,
					       path, name));
	pthread_mutex_lock(&lock);
	r = (int)(fd >= 0 ? syscall(SYS_fremovexattr, fd, name)
			  : syscall(nofollow ? SYS_lremovexattr : SYS_removexattr, path, name));
	e = errno;
	if (r == 0 && obj(fd, path, nofollow, p, sizeof(p), ino, sizeof(ino)) == 0)
		put_line("rmxattr\t%s\t%s\t%s", ino, p, name);
	pthread_mutex_unlock(&lock);
	errno = e;
	return r;
}

int removexattr(const char *path, const char *name)
{
	return do_removexattr(-1, path, 0, name);
}

int lremovexattr(const char *path, const char *name)
{
	return do_removexattr(-1, path, 1, name);
}

int fremovexattr(int fd, const char *name)
{
	return do_removexattr(fd, NULL, 0, name);
}

static void log_attr_at(int dirfd, const char *path, int fd, const char *what,
			unsigned long a, unsigned long b)
{
	char p[PATH_MAX], ino[64];
	int l;

	if (fd >= 0) {
		l = fd_rel(fd, p, sizeof(p));
		ino_fd(fd, ino, sizeof(ino));
	} else {
		l = at_rel(dirfd, path, p, sizeof(p));
		ino_at(dirfd, path, ino, sizeof(ino));
	}
	if (l == 0)
		put_line("%s\t%s\t%s\t%lu\t%lu", what, ino, p, a, b);
}

int fchmod(int fd, mode_t mode)
{
	int r, e;

	if (!active())
		return (int)syscall(SYS_fchmod, fd, mode);
	pthread_mutex_lock(&lock);
	r = (int)syscall(SYS_fchmod, fd, mode);
	e = errno;
	if (r == 0)
		log_attr_at(AT_FDCWD, NULL, fd, "chmod", mode & 07777, 0);
	pthread_mutex_unlock(&lock);
	errno = e;
	return r;
}

int fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
	int r, e;
	REAL(fchmodat);

	if (!active())
		return real_fchmodat(dirfd, path, mode, flags);
	pthread_mutex_lock(&lock);
	r = real_fchmodat(dirfd, path, mode, flags);
	e = errno;
	if (r == 0)
		log_attr_at(dirfd, path, -1, "chmod", mode & 07777, 0);
	pthread_mutex_unlock(&lock);
	errno = e;
	return r;
}

int fchown(int fd, uid_t uid, gid_t gid)
{
	int r, e;

	if (!active())
		return (int)syscall(SYS_fchown, fd, uid, gid);
	pthread_mutex_lock(&lock);
	r = (int)syscall(SYS_fchown, fd, uid, gid);
	e = errno;
	if (r == 0)
		log_attr_at(AT_FDCWD, NULL, fd, "chown", uid, gid);
	pthread_mutex_unlock(&lock);
	errno = e;
	return r;
}

int fchownat(int dirfd, const char *path, uid_t uid, gid_t gid, int flags)
{
	int r, e;

	if (!active())
		return (int)syscall(SYS_fchownat, dirfd, path, uid, gid, flags);
	pthread_mutex_lock(&lock);
	r = (int)syscall(SYS_fchownat, dirfd, path, uid, gid, flags);
	e = errno;
	if (r == 0 && !(flags & AT_EMPTY_PATH))
		log_attr_at(dirfd, path, -1, "chown", uid, gid);
	else if (r == 0)
		log_attr_at(AT_FDCWD, NULL, dirfd, "chown", uid, gid);
	pthread_mutex_unlock(&lock);
	errno = e;
	return r;
}

/* Times: what the object has after the call (UTIME_NOW and UTIME_OMIT
 * resolved), as "atime_ns mtime_ns". */
static void log_times(int dirfd, const char *path, int fd, int flags)
{
	char p[PATH_MAX], ino[64];
	struct stat st;
	int l;

	if (fd >= 0) {
		l = fd_rel(fd, p, sizeof(p));
		if (fstat(fd, &st) < 0)
			return;
	} else {
		l = at_rel(dirfd, path, p, sizeof(p));
		if (fstatat(dirfd, path, &st, flags & AT_SYMLINK_NOFOLLOW) < 0)
			return;
	}
	ino_of_st(&st, ino, sizeof(ino));
	if (l == 0)
		put_line("utimens\t%s\t%s\t%lld\t%lld", ino, p,
			 (long long)st.st_atim.tv_sec * 1000000000LL + st.st_atim.tv_nsec,
			 (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec);
}

/* utimensat and futimens (path NULL, which glibc's utimensat declares
 * nonnull). */
static int times_at(int dirfd, const char *path, const struct timespec tv[2], int flags)
{
	int r, e;

	if (!active())
		return (int)syscall(SYS_utimensat, dirfd, path, tv, flags);
	pthread_mutex_lock(&lock);
	r = (int)syscall(SYS_utimensat, dirfd, path, tv, flags);
	e = errno;
	if (r == 0)
		log_times(dirfd, path, path ? -1 : dirfd, flags);
	pthread_mutex_unlock(&lock);
	errno = e;
	return r;
}

int utimensat(int dirfd, const char *path, const struct timespec tv[2], int flags)
{
	return times_at(dirfd, path, tv, flags);
}

int futimens(int fd, const struct timespec tv[2])
{
	return times_at(fd, NULL, tv, 0);
}

/* ---- barriers ---- */

static int do_sync(int fd, int data)
{
	char p[PATH_MAX], ino[64];
	int r, e;

	if (!active())
		return (int)syscall(data ? SYS_fdatasync : SYS_fsync, fd);
	pthread_mutex_lock(&lock);
	r = (int)syscall(data ? SYS_fdatasync : SYS_fsync, fd);
	e = errno;
	if (r == 0 && fd_rel(fd, p, sizeof(p)) == 0) {
		ino_fd(fd, ino, sizeof(ino));
		put_line("%s\t%s\t%s", data ? "fdatasync" : "fsync", ino, p);
	}
	pthread_mutex_unlock(&lock);
	errno = e;
	return r;
}

int fsync(int fd)
{
	return do_sync(fd, 0);
}

int fdatasync(int fd)
{
	return do_sync(fd, 1);
}

int syncfs(int fd)
{
	int r, e;

	if (!active())
		return (int)syscall(SYS_syncfs, fd);
	pthread_mutex_lock(&lock);
	r = (int)syscall(SYS_syncfs, fd);
	e = errno;
	if (r == 0)
		put_line("syncfs\t?\t.");
	pthread_mutex_unlock(&lock);
	errno = e;
	return r;
}

void sync(void)
{
	if (!active()) {
		syscall(SYS_sync);
		return;
	}
	pthread_mutex_lock(&lock);
	syscall(SYS_sync);
	put_line("syncfs\t?\t.");
	pthread_mutex_unlock(&lock);
}
