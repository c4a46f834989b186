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

static Suite *modecheck_suite(void)
{
	Suite *s = suite_create("modecheck");
	TCase *tc = tcase_create("modes");

	tcase_add_loop_test(tc, test_modes, 0, N(cases));
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
