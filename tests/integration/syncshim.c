/* syncshim: an LD_PRELOAD library for the durability test. Each fsync and
 * fdatasync of the process is written, with the path its descriptor
 * names, as one line "fsync PATH" or "fdatasync PATH" to the file named
 * by $MEDFS_SYNC_LOG; while the file $MEDFS_SYNC_LOG.fail exists, a sync
 * of a path ending in its first line fails with EIO, as on a failing
 * disk. Everything else goes to the kernel as usual. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int fsync(int fd);
int fdatasync(int fd);

/* Records the sync; 1 when it is to fail. */
static int seen(const char *what, int fd)
{
	const char *log = getenv("MEDFS_SYNC_LOG");
	char link[64], path[PATH_MAX], line[PATH_MAX + 32], failing[PATH_MAX + 8];
	ssize_t n;
	int out, ffd, fail = 0;

	if (log == NULL)
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	path[n < 0 ? 0 : n] = '\0';
	n = snprintf(line, sizeof(line), "%s %s\n", what, path);
	out = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (out >= 0) {
		if (write(out, line, (size_t)n) != n)
			fail = 0;
		close(out);
	}
	snprintf(failing, sizeof(failing), "%s.fail", log);
	ffd = open(failing, O_RDONLY | O_CLOEXEC);
	if (ffd >= 0) {
		char end[PATH_MAX];

		n = read(ffd, end, sizeof(end) - 1);
		close(ffd);
		end[n < 0 ? 0 : n] = '\0';
		end[strcspn(end, "\n")] = '\0';
		size_t a = strlen(path), b = strlen(end);

		fail = b > 0 && a >= b && strcmp(path + a - b, end) == 0;
	}
	return fail;
}

int fsync(int fd)
{
	if (seen("fsync", fd)) {
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_fsync, fd);
}

int fdatasync(int fd)
{
	if (seen("fdatasync", fd)) {
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_fdatasync, fd);
}
