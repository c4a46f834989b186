/* Unit tests: whole reads and writes (medfs/io.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "medfs/io.h"

START_TEST(test_whole)
{
	char path[] = "/tmp/medfs-test-io-XXXXXX";
	uint8_t buf[100000], back[100000];
	int fd = mkstemp(path), p[2];

	ck_assert_int_ge(fd, 0);
	unlink(path);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7);
	ck_assert_int_eq(medfs_pwrite_full(fd, buf, sizeof(buf), 10), 0);
	/* Up to the end of the file: short only there. */
	ck_assert_int_eq(medfs_pread_full(fd, back, sizeof(back), 10), (ssize_t)sizeof(back));
	ck_assert_mem_eq(back, buf, sizeof(buf));
	ck_assert_int_eq(medfs_pread_full(fd, back, sizeof(back), (off_t)sizeof(buf) + 10), 0);
	ck_assert_int_eq(medfs_pread_full(fd, back, 50, (off_t)sizeof(buf) - 30), 40);
	ck_assert_int_eq(medfs_pread_full(-1, back, 1, 0), -EBADF);
	ck_assert_int_eq(medfs_pwrite_full(-1, buf, 1, 0), -EBADF);
	close(fd);
	/* A pipe takes writes in parts: all of it still arrives. */
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(fcntl(p[1], F_SETPIPE_SZ, 4096) >= 0, 1);
	if (fork() == 0) {
		_exit(medfs_write_all(p[1], buf, sizeof(buf)) == 0 ? 0 : 1);
	}
	close(p[1]);
	{
		size_t got = 0;
		ssize_t n;

		while ((n = read(p[0], back + got, sizeof(back) - got)) > 0)
			got += (size_t)n;
		ck_assert_uint_eq(got, sizeof(buf));
		ck_assert_mem_eq(back, buf, sizeof(buf));
	}
	close(p[0]);
	ck_assert_int_eq(medfs_write_all(-1, buf, 1), -EBADF);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("io");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_whole);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
