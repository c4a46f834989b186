/* Unit tests: permission checks by mode bits, against the rules of the
 * kernel's generic_permission(). */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "medfs/modecheck.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const gid_t supp[] = { 7, 50 };

static const struct mode_case {
	struct medfs_mode_caller c;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	int mask;
	int want;
} cases[] = {
	/* Owner: the owner's bits only, even when others have more. */
	{ { 1000, 100, NULL, 0 }, S_IFREG | 0600, 1000, 100, R_OK | W_OK, 0 },
	{ { 1000, 100, NULL, 0 }, S_IFREG | 0600, 1000, 100, X_OK, -EACCES },
	{ { 1000, 100, NULL, 0 }, S_IFREG | 0077, 1000, 100, R_OK, -EACCES },
	{ { 1000, 100, NULL, 0 }, S_IFREG | 0444, 1000, 100, W_OK, -EACCES },
	{ { 1000, 100, NULL, 0 }, S_IFREG | 0444, 1000, 100, 0, 0 },
	/* Group, primary or supplementary; not others' bits then. */
	{ { 1001, 100, NULL, 0 }, S_IFREG | 0640, 1000, 100, R_OK, 0 },
	{ { 1001, 100, NULL, 0 }, S_IFREG | 0604, 1000, 100, R_OK, -EACCES },
	{ { 1001, 9, supp, N(supp) }, S_IFREG | 0660, 1000, 50, R_OK | W_OK, 0 },
	{ { 1001, 9, supp, N(supp) }, S_IFREG | 0660, 1000, 51, R_OK, -EACCES },
	/* Others. */
	{ { 1002, 9, NULL, 0 }, S_IFREG | 0604, 1000, 100, R_OK, 0 },
	{ { 1002, 9, NULL, 0 }, S_IFREG | 0604, 1000, 100, W_OK, -EACCES },
	{ { 1002, 9, NULL, 0 }, S_IFDIR | 0751, 1000, 100, X_OK, 0 },
	{ { 1002, 9, NULL, 0 }, S_IFDIR | 0751, 1000, 100, R_OK, -EACCES },
	/* Root: reads and writes anything, searches any directory, executes
	 * a file only if some x bit is set (issue 15: 0600 is EACCES). */
	{ { 0, 0, NULL, 0 }, S_IFREG | 0000, 1000, 100, R_OK | W_OK, 0 },
	{ { 0, 0, NULL, 0 }, S_IFREG | 0600, 1000, 100, X_OK, -EACCES },
	{ { 0, 0, NULL, 0 }, S_IFREG | 0600, 0, 0, X_OK, -EACCES },
	{ { 0, 0, NULL, 0 }, S_IFREG | 0601, 1000, 100, X_OK, 0 },
	{ { 0, 0, NULL, 0 }, S_IFREG | 0610, 1000, 100, R_OK | X_OK, 0 },
	{ { 0, 0, NULL, 0 }, S_IFDIR | 0000, 1000, 100, R_OK | W_OK | X_OK, 0 },
};

START_TEST(test_modes)
{
	const struct mode_case *t = &cases[_i];

	ck_assert_int_eq(medfs_mode_permits(&t->c, t->mode, t->uid, t->gid, t->mask),
			 t->want);
}
END_TEST

static struct stat st_of(mode_t mode, uid_t uid, gid_t gid)
{
	struct stat st = { 0 };

	st.st_mode = mode;
	st.st_uid = uid;
	st.st_gid = gid;
	return st;
}

START_TEST(test_delete)
{
	const struct medfs_mode_caller own = { 1000, 100, NULL, 0 },
				       other = { 1002, 9, NULL, 0 },
				       diro = { 1003, 9, NULL, 0 },
				       root = { 0, 0, NULL, 0 };
	struct stat d = st_of(S_IFDIR | 0755, 1000, 100);
	struct stat t = st_of(S_IFDIR | 01777, 1003, 100);

	ck_assert_int_eq(medfs_mode_may_delete(&own, &d, 1002), 0);
	ck_assert_int_eq(medfs_mode_may_delete(&other, &d, 1002), -EACCES);
	/* Sticky: the entry's owner, the directory's, root; not another. */
	ck_assert_int_eq(medfs_mode_may_delete(&other, &t, 1002), 0);
	ck_assert_int_eq(medfs_mode_may_delete(&other, &t, 1000), -EPERM);
	ck_assert_int_eq(medfs_mode_may_delete(&diro, &t, 1000), 0);
	ck_assert_int_eq(medfs_mode_may_delete(&root, &t, 1000), 0);
	d.st_mode = S_IFDIR | 0500;
	ck_assert_int_eq(medfs_mode_may_delete(&own, &d, 1000), -EACCES);
	ck_assert_int_eq(medfs_mode_may_delete(&root, &d, 1000), 0);
}
END_TEST

START_TEST(test_attributes)
{
	const struct medfs_mode_caller own = { 1000, 9, NULL, 0 },
				       member = { 1000, 9, supp, N(supp) },
				       other = { 1002, 9, NULL, 0 },
				       root = { 0, 0, NULL, 0 };
	struct stat st = st_of(S_IFREG | 0644, 1000, 50);
	mode_t m;

	/* chmod: owner or root; setgid dropped outside the group. */
	m = 02755;
	ck_assert_int_eq(medfs_mode_may_chmod(&own, &st, &m), 0);
	ck_assert_int_eq(m, 0755);
	m = 02755;
	ck_assert_int_eq(medfs_mode_may_chmod(&member, &st, &m), 0);
	ck_assert_int_eq(m, 02755);
	m = 02755;
	ck_assert_int_eq(medfs_mode_may_chmod(&root, &st, &m), 0);
	ck_assert_int_eq(m, 02755);
	ck_assert_int_eq(medfs_mode_may_chmod(&other, &st, &m), -EPERM);
	/* chown: root; the owner to a group of its own, keeping itself. */
	ck_assert_int_eq(medfs_mode_may_chown(&root, &st, 5, 5), 0);
	ck_assert_int_eq(medfs_mode_may_chown(&own, &st, (uid_t)-1, 9), 0);
	ck_assert_int_eq(medfs_mode_may_chown(&own, &st, (uid_t)-1, 50), 0);
	ck_assert_int_eq(medfs_mode_may_chown(&own, &st, (uid_t)-1, 51), -EPERM);
	ck_assert_int_eq(medfs_mode_may_chown(&member, &st, 1000, 7), 0);
	ck_assert_int_eq(medfs_mode_may_chown(&own, &st, 1002, (gid_t)-1), -EPERM);
	ck_assert_int_eq(medfs_mode_may_chown(&other, &st, (uid_t)-1, 50), -EPERM);
	ck_assert_int_eq(medfs_mode_may_chown(&other, &st, (uid_t)-1, (gid_t)-1), 0);
	/* utimens: explicit times for owner and root; now also for writers. */
	ck_assert_int_eq(medfs_mode_may_utimens(&other, &st, 0), -EPERM);
	ck_assert_int_eq(medfs_mode_may_utimens(&other, &st, 1), -EACCES);
	st.st_mode = S_IFREG | 0646;
	ck_assert_int_eq(medfs_mode_may_utimens(&other, &st, 1), 0);
	ck_assert_int_eq(medfs_mode_may_utimens(&own, &st, 0), 0);
	ck_assert_int_eq(medfs_mode_may_utimens(&root, &st, 0), 0);
}
END_TEST

static Suite *modecheck_suite(void)
{
	Suite *s = suite_create("modecheck");
	TCase *tc = tcase_create("modes");

	tcase_add_loop_test(tc, test_modes, 0, N(cases));
	tcase_add_test(tc, test_delete);
	tcase_add_test(tc, test_attributes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(modecheck_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
