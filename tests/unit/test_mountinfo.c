/* Unit tests: finding what is mounted where in mountinfo text. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "medfs/mountinfo.h"

static const char text[] =
	"22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
	"40 22 0:35 / /var/tmp/m rw,nosuid,nodev,relatime shared:20 - fuse.medfs "
	"/var/tmp/v rw,user_id=0,group_id=0\n"
	"41 22 0:36 / /srv/with\\040space rw - fuse.medfs /v2 rw\n"
	"not a mountinfo line\n"
	"42 40 0:37 / /var/tmp/m rw - tmpfs tmpfs rw\n"
	"43 22 0:38 / /no/fstype rw -\n"
	"44 22 0:39 / /var/tmp/mm rw - fuse.gocryptfs x rw";

START_TEST(test_find)
{
	char t[32];

	ck_assert_int_eq(medfs_mountinfo_find(text, "/", t, sizeof(t)), 0);
	ck_assert_str_eq(t, "ext4");
	/* The topmost of two mounts at one place: the later line. */
	ck_assert_int_eq(medfs_mountinfo_find(text, "/var/tmp/m", t, sizeof(t)), 0);
	ck_assert_str_eq(t, "tmpfs");
	ck_assert_int_eq(medfs_mountinfo_find(text, "/srv/with space", t, sizeof(t)), 0);
	ck_assert_str_eq(t, "fuse.medfs");
	/* A last line without a newline. */
	ck_assert_int_eq(medfs_mountinfo_find(text, "/var/tmp/mm", t, sizeof(t)), 0);
	ck_assert_str_eq(t, "fuse.gocryptfs");
	/* Cut to fit. */
	ck_assert_int_eq(medfs_mountinfo_find(text, "/var/tmp/mm", t, 5), 0);
	ck_assert_str_eq(t, "fuse");
}
END_TEST

START_TEST(test_not_found)
{
	char t[32] = "unchanged";

	ck_assert_int_eq(medfs_mountinfo_find(text, "/var/tmp", t, sizeof(t)), -ENOENT);
	ck_assert_int_eq(medfs_mountinfo_find(text, "/srv/with\\040space", t, sizeof(t)),
			 -ENOENT);
	ck_assert_int_eq(medfs_mountinfo_find(text, "/no/fstype", t, sizeof(t)), -ENOENT);
	ck_assert_int_eq(medfs_mountinfo_find("", "/", t, sizeof(t)), -ENOENT);
	ck_assert_str_eq(t, "unchanged");
}
END_TEST

static Suite *mountinfo_suite(void)
{
	Suite *s = suite_create("mountinfo");
	TCase *tc = tcase_create("find");

	tcase_add_test(tc, test_find);
	tcase_add_test(tc, test_not_found);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(mountinfo_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
