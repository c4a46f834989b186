/* openread: small-file throughput for the medfs benchmarks.
 *
 *   openread create DIR COUNT SIZE   writes COUNT files of SIZE bytes,
 *                                    DIR/f00000, DIR/f00001, ...
 *   openread read DIR COUNT ROUNDS   opens, reads to the end and closes
 *                                    each of them, ROUNDS times over
 *   openread mktree DIR DIRS PER SIZE  makes DIR/d000 ... DIR/d<DIRS-1>,
 *                                    each with PER files of SIZE bytes
 *                                    made as create does
 *   openread stat DIR DIRS PER       lstat()s every file of that tree
 *
 * read, mktree and stat print "<files per second> <seconds> <files>" on
 * one line, timed with CLOCK_MONOTONIC around the loops only. Exit status 1 when a call
 * fails (the file and errno are printed), 2 on bad arguments. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char buf[1 << 16];

static int failed(const char *what, const char *path)
{
	fprintf(stderr, "openread: %s %s: %s\n", what, path, strerror(errno));
	return 1;
}

static void name(char *out, size_t size, const char *dir, long i)
{
	snprintf(out, size, "%s/f%05ld", dir, i);
}

static int create(const char *dir, long count, size_t size)
{
	char path[4096];

	if (size > sizeof(buf))
		size = sizeof(buf);
	for (size_t i = 0; i < size; i++)
		buf[i] = (char)('a' + i % 26);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return failed("mkdir", dir);
	for (long i = 0; i < count; i++) {
		int fd;

		name(path, sizeof(path), dir, i);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			return failed("open", path);
		if (write(fd, buf, size) != (ssize_t)size) {
			close(fd);
			return failed("write", path);
		}
		if (close(fd) < 0)
			return failed("close", path);
	}
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int read_all(const char *dir, long count, long rounds)
{
	char path[4096];
	double start, secs;

	start = now();
	for (long r = 0; r < rounds; r++) {
		for (long i = 0; i < count; i++) {
			ssize_t n;
			int fd;

			name(path, sizeof(path), dir, i);
			fd = open(path, O_RDONLY);
			if (fd < 0)
				return failed("open", path);
			do {
				n = read(fd, buf, sizeof(buf));
			} while (n > 0);
			if (n < 0) {
				close(fd);
				return failed("read", path);
			}
			close(fd);
		}
	}
	secs = now() - start;
	printf("%.0f %.3f %ld\n", secs > 0 ? (double)(count * rounds) / secs : 0.0, secs,
	       count * rounds);
	return 0;
}

static void subdir(char *out, size_t size, const char *dir, long d)
{
	snprintf(out, size, "%s/d%03ld", dir, d);
}

static int mktree(const char *dir, long dirs, long per, size_t size)
{
	char sub[4096];
	double start, secs;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return failed("mkdir", dir);
	start = now();
	for (long d = 0; d < dirs; d++) {
		subdir(sub, sizeof(sub), dir, d);
		if (create(sub, per, size) != 0)
			return 1;
	}
	secs = now() - start;
	printf("%.0f %.6f %ld\n", secs > 0 ? (double)(dirs * per) / secs : 0.0, secs,
	       dirs * per);
	return 0;
}

static int stat_tree(const char *dir, long dirs, long per)
{
	char sub[4000], path[4096];
	struct stat st;
	double start, secs;

	start = now();
	for (long d = 0; d < dirs; d++) {
		subdir(sub, sizeof(sub), dir, d);
		for (long i = 0; i < per; i++) {
			name(path, sizeof(path), sub, i);
			if (lstat(path, &st) < 0)
				return failed("lstat", path);
		}
	}
	secs = now() - start;
	printf("%.0f %.6f %ld\n", secs > 0 ? (double)(dirs * per) / secs : 0.0, secs,
	       dirs * per);
	return 0;
}

int main(int argc, char **argv)
{
	long count, n;

	if (argc == 6 && strcmp(argv[1], "mktree") == 0) {
		long dirs = strtol(argv[3], NULL, 10), per = strtol(argv[4], NULL, 10);

		n = strtol(argv[5], NULL, 10);
		if (dirs <= 0 || dirs > 1000 || per <= 0 || n < 0)
			goto usage;
		return mktree(argv[2], dirs, per, (size_t)n);
	}
	if (argc != 5)
		goto usage;
	count = strtol(argv[3], NULL, 10);
	n = strtol(argv[4], NULL, 10);
	if (count <= 0 || n < 0)
		goto usage;
	if (strcmp(argv[1], "create") == 0)
		return create(argv[2], count, (size_t)n);
	if (strcmp(argv[1], "read") == 0 && n > 0)
		return read_all(argv[2], count, n);
	if (strcmp(argv[1], "stat") == 0 && count <= 1000 && n > 0)
		return stat_tree(argv[2], count, n);
usage:
	fprintf(stderr, "usage: openread create DIR COUNT SIZE\n"
			"       openread read DIR COUNT ROUNDS\n"
			"       openread mktree DIR DIRS PER SIZE\n"
			"       openread stat DIR DIRS PER\n");
	return 2;
}
