/* Check suite of the vpath module: system calls on vault paths longer than
 * PATH_MAX, from a root directory, following no symlink on the way and
 * never leaving the root. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "medfs/vpath.h"

/* A component of 200 bytes: 30 of them make a path of 6,030 bytes. */
#define COMP_LEN 200
#define LEVELS 30

static char base[PATH_MAX];
static int root = -1;
static char comp[COMP_LEN + 1];
static char *deep;  /* comp/comp/.../comp, LEVELS times */
static char *below; /* deep + "/x" */

/* Removes everything below the directory open at dfd, by descriptor (the
 * tree is deeper than PATH_MAX). */
static void rm_below(int dfd)
{
	char names[64][NAME_MAX + 1];
	int n = 0, fd = dup(dfd);
	struct dirent *de;
	DIR *d;

	ck_assert_int_ge(fd, 0);
	d = fdopendir(fd);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) && n < 64) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			snprintf(names[n++], sizeof(names[0]), "%s", de->d_name);
	}
	closedir(d);
	for (int i = 0; i < n; i++) {
		if (unlinkat(dfd, names[i], 0) == 0)
			continue;
		ck_assert_int_eq(errno, EISDIR);
		fd = openat(dfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
		ck_assert_int_ge(fd, 0);
		rm_below(fd);
		close(fd);
		ck_assert_int_eq(unlinkat(dfd, names[i], AT_REMOVEDIR), 0);
	}
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");
	size_t len = 0;
	int fd;

	snprintf(base, sizeof(base), "%s/medfs-test-vpath-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(base));
	root = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(root, 0);
	memset(comp, 'c', COMP_LEN);
	comp[COMP_LEN] = '\0';
	deep = malloc(LEVELS * (COMP_LEN + 1) + 1);
	below = malloc(LEVELS * (COMP_LEN + 1) + 3);
	ck_assert_ptr_nonnull(deep);
	ck_assert_ptr_nonnull(below);
	/* Built a level at a time, as the kernel takes no longer path. */
	fd = dup(root);
	for (int i = 0; i < LEVELS; i++) {
		int next;

		ck_assert_int_eq(mkdirat(fd, comp, 0700), 0);
		next = openat(fd, comp, O_RDONLY | O_DIRECTORY);
		ck_assert_int_ge(next, 0);
		close(fd);
		fd = next;
		if (i)
			deep[len++] = '/';
		memcpy(deep + len, comp, COMP_LEN);
		len += COMP_LEN;
	}
	close(fd);
	deep[len] = '\0';
	snprintf(below, len + 3, "%s/x", deep);
	ck_assert_int_gt(strlen(deep), PATH_MAX);
}

static void teardown(void)
{
	rm_below(root);
	close(root);
	rmdir(base);
	free(deep);
	free(below);
}

START_TEST(test_short_is_direct)
{
	const char *rel;

	ck_assert_int_eq(medfs_vpath_dir(root, "a/b", &rel), root);
	ck_assert_str_eq(rel, "a/b");
	ck_assert_int_eq(medfs_vpath_dir(root, "", &rel), root);
	ck_assert_str_eq(rel, ".");
}
END_TEST

START_TEST(test_long_dir)
{
	const char *rel;
	struct stat a, b;
	int fd = medfs_vpath_dir(root, below, &rel);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_ne(fd, root);
	ck_assert_int_lt(strlen(rel), PATH_MAX);
	/* rel is the tail of the path, from a component boundary. */
	ck_assert_int_eq(rel[-1], '/');
	ck_assert_str_eq(rel + strlen(rel) - 2, "/x");
	medfs_vpath_dir_close(root, fd);
	ck_assert_int_eq(medfs_vpath_fstatat(root, deep, &a, AT_SYMLINK_NOFOLLOW), 0);
	ck_assert(S_ISDIR(a.st_mode));
	/* The same directory as a walk a level at a time finds. */
	fd = dup(root);
	for (int i = 0; i < LEVELS; i++) {
		int next = openat(fd, comp, O_RDONLY | O_DIRECTORY);

		ck_assert_int_ge(next, 0);
		close(fd);
		fd = next;
	}
	ck_assert_int_eq(fstat(fd, &b), 0);
	close(fd);
	ck_assert_int_eq(a.st_ino, b.st_ino);
	ck_assert_int_eq(a.st_dev, b.st_dev);
}
END_TEST

/* Every call works on a path beyond PATH_MAX. */
START_TEST(test_long_calls)
{
	char *to = malloc(strlen(deep) + 3), target[16];
	struct timespec tv[2] = { { 1000, 0 }, { 2000, 0 } };
	struct stat st;
	int fd;

	ck_assert_ptr_nonnull(to);
	snprintf(to, strlen(deep) + 3, "%s/y", deep);
	fd = medfs_vpath_openat(root, below, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "deep", 4), 4);
	close(fd);
	ck_assert_int_eq(medfs_vpath_fchmodat(root, below, 0640, 0), 0);
	ck_assert_int_eq(medfs_vpath_fchownat(root, below, geteuid(), getegid(),
					      AT_SYMLINK_NOFOLLOW),
			 0);
	ck_assert_int_eq(medfs_vpath_utimensat(root, below, tv, AT_SYMLINK_NOFOLLOW), 0);
	ck_assert_int_eq(medfs_vpath_fstatat(root, below, &st, AT_SYMLINK_NOFOLLOW), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(st.st_mode & 07777, 0640);
	ck_assert_int_eq(st.st_size, 4);
	ck_assert_int_eq(st.st_mtim.tv_sec, 2000);
	ck_assert_int_eq(medfs_vpath_renameat2(root, below, to, RENAME_NOREPLACE), 0);
	ck_assert_int_eq(medfs_vpath_fstatat(root, below, &st, 0), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(medfs_vpath_unlinkat(root, to, 0), 0);
	ck_assert_int_eq(medfs_vpath_symlinkat("tgt", root, below), 0);
	ck_assert_int_eq(medfs_vpath_readlinkat(root, below, target, sizeof(target)), 3);
	ck_assert_int_eq(memcmp(target, "tgt", 3), 0);
	ck_assert_int_eq(medfs_vpath_unlinkat(root, below, 0), 0);
	ck_assert_int_eq(medfs_vpath_mknodat(root, below, S_IFIFO | 0600, 0), 0);
	ck_assert_int_eq(medfs_vpath_fstatat(root, below, &st, AT_SYMLINK_NOFOLLOW), 0);
	ck_assert(S_ISFIFO(st.st_mode));
	ck_assert_int_eq(medfs_vpath_unlinkat(root, below, 0), 0);
	ck_assert_int_eq(medfs_vpath_mkdirat(root, below, 0700), 0);
	ck_assert_int_eq(medfs_vpath_unlinkat(root, below, AT_REMOVEDIR), 0);
	/* The root itself, by "". */
	ck_assert_int_eq(medfs_vpath_fstatat(root, "", &st, 0), 0);
	ck_assert(S_ISDIR(st.st_mode));
	free(to);
}
END_TEST

/* A symlink on the way of a long path is refused, even to a directory
 * inside the root; so is a way out of the root. */
START_TEST(test_long_no_symlink)
{
	char *p = strdup(below), *dot;
	struct stat st;
	int fd;

	ck_assert_ptr_nonnull(p);
	/* Replace the first component by a symlink to a copy of the chain. */
	ck_assert_int_eq(renameat(root, comp, root, "real"), 0);
	ck_assert_int_eq(symlinkat("real", root, comp), 0);
	ck_assert_int_eq(medfs_vpath_fstatat(root, deep, &st, 0), -1);
	ck_assert_int_eq(errno, ELOOP);
	fd = medfs_vpath_openat(root, below, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(errno, ELOOP);
	ck_assert_int_eq(unlinkat(root, comp, 0), 0);
	ck_assert_int_eq(renameat(root, "real", root, comp), 0);
	ck_assert_int_eq(medfs_vpath_fstatat(root, deep, &st, 0), 0);
	/* "..": never above the root. */
	dot = p;
	memcpy(dot, "..", 2);
	memmove(dot + 2, dot + COMP_LEN, strlen(dot + COMP_LEN) + 1);
	ck_assert_int_eq(medfs_vpath_fstatat(root, p, &st, 0), -1);
	ck_assert_int_eq(errno, EXDEV);
	free(p);
}
END_TEST

/* medfs_vpath_opendir: a real directory descriptor at any length, and no
 * symlink followed, on the way or at the end, short path or long. */
START_TEST(test_opendir)
{
	struct stat st, dst;
	int fd;

	fd = medfs_vpath_opendir(root, deep);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fsync(fd), 0); /* not an O_PATH descriptor */
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(medfs_vpath_fstatat(root, deep, &dst, 0), 0);
	ck_assert_uint_eq(st.st_ino, dst.st_ino);
	close(fd);
	fd = medfs_vpath_opendir(root, "");
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(mkdirat(root, "real", 0700), 0);
	ck_assert_int_eq(mkdirat(root, "real/sub", 0700), 0);
	ck_assert_int_eq(symlinkat("real", root, "link"), 0);
	ck_assert_int_eq(medfs_vpath_opendir(root, "link/sub"), -1);
	ck_assert_int_eq(errno, ELOOP);
	ck_assert_int_eq(medfs_vpath_opendir(root, "link"), -1);
	ck_assert_int_eq(errno, ELOOP);
	fd = medfs_vpath_opendir(root, "real/sub");
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(unlinkat(root, "link", 0), 0);
	ck_assert_int_eq(unlinkat(root, "real/sub", AT_REMOVEDIR), 0);
	ck_assert_int_eq(unlinkat(root, "real", AT_REMOVEDIR), 0);
	/* On the long path too. */
	ck_assert_int_eq(renameat(root, comp, root, "real"), 0);
	ck_assert_int_eq(symlinkat("real", root, comp), 0);
	medfs_vpath_invalidate();
	ck_assert_int_eq(medfs_vpath_opendir(root, deep), -1);
	ck_assert_int_eq(errno, ELOOP);
	ck_assert_int_eq(unlinkat(root, comp, 0), 0);
	ck_assert_int_eq(renameat(root, "real", root, comp), 0);
}
END_TEST

/* The walk a thread made last is where the next one starts, until a
 * move is announced. */
START_TEST(test_cache_invalidate)
{
	struct stat a, b, c;
	int fd;

	ck_assert_int_eq(medfs_vpath_fstatat(root, deep, &a, 0), 0);
	ck_assert_int_eq(medfs_vpath_fstatat(root, deep, &b, 0), 0);
	ck_assert_int_eq(a.st_ino, b.st_ino);
	/* Another chain of the same names takes the place of the first. */
	ck_assert_int_eq(renameat(root, comp, root, "old"), 0);
	fd = dup(root);
	for (int i = 0; i < LEVELS; i++) {
		int next;

		ck_assert_int_eq(mkdirat(fd, comp, 0700), 0);
		next = openat(fd, comp, O_RDONLY | O_DIRECTORY);
		ck_assert_int_ge(next, 0);
		close(fd);
		fd = next;
	}
	ck_assert_int_eq(fstat(fd, &c), 0);
	close(fd);
	ck_assert_int_ne(c.st_ino, a.st_ino);
	medfs_vpath_invalidate();
	ck_assert_int_eq(medfs_vpath_fstatat(root, deep, &b, 0), 0);
	ck_assert_int_eq(b.st_ino, c.st_ino);
}
END_TEST

START_TEST(test_join)
{
	char *p = medfs_vpath_join("", "e");

	ck_assert_str_eq(p, "e");
	free(p);
	p = medfs_vpath_join("a/b", "e");
	ck_assert_str_eq(p, "a/b/e");
	free(p);
	p = medfs_vpath_cat("a/b", ".n");
	ck_assert_str_eq(p, "a/b.n");
	free(p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vpath");
	TCase *tc = tcase_create("vpath");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_short_is_direct);
	tcase_add_test(tc, test_long_dir);
	tcase_add_test(tc, test_long_calls);
	tcase_add_test(tc, test_long_no_symlink);
	tcase_add_test(tc, test_opendir);
	tcase_add_test(tc, test_cache_invalidate);
	tcase_add_test(tc, test_join);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
