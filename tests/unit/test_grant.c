/* Unit tests: the emergency grants of a mount (medfs/grant.h). */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "medfs/grant.h"

#define S 1000000000ULL /* a second on the table's clock */

/* What on_end was told, last call first. */
static struct {
	unsigned calls;
	struct medfs_grant g;
	char how[64];
} ended;

static void on_end(void *ctx, const struct medfs_grant *g, const char *how)
{
	(*(unsigned *)ctx)++;
	ended.calls++;
	ended.g = *g;
	strncpy(ended.how, how, sizeof(ended.how) - 1);
}

static struct medfs_grants *t;
static unsigned ctx_calls;

static void setup(void)
{
	memset(&ended, 0, sizeof(ended));
	ctx_calls = 0;
	ck_assert_int_eq(medfs_grants_new(&t, on_end, &ctx_calls), 0);
}

static void teardown(void)
{
	medfs_grants_free(t);
	t = NULL;
}

START_TEST(test_start_and_expire)
{
	struct medfs_grant g;
	uint64_t serial;

	ck_assert_uint_eq(medfs_grants_active(t, 1001, 0), 0);
	ck_assert_int_eq(medfs_grants_start(t, 1001, 60, 10 * S, 5000, &g), 0);
	ck_assert_uint_ne(g.serial, 0);
	ck_assert_uint_eq(g.uid, 1001);
	ck_assert_int_eq(g.start, 5000);
	ck_assert_int_eq(g.end, 5060);
	ck_assert_uint_eq(g.deadline, 70 * S);
	ck_assert_uint_eq(g.accesses, 0);
	serial = g.serial;
	ck_assert_uint_eq(medfs_grants_active(t, 1001, 10 * S), serial);
	ck_assert_uint_eq(medfs_grants_active(t, 1002, 10 * S), 0);
	ck_assert_uint_eq(medfs_grants_next_deadline(t), 70 * S);
	/* One nanosecond before the deadline it runs; at it, it has ended. */
	ck_assert_uint_eq(medfs_grants_active(t, 1001, 70 * S - 1), serial);
	ck_assert_uint_eq(ended.calls, 0);
	ck_assert_uint_eq(medfs_grants_active(t, 1001, 70 * S), 0);
	ck_assert_uint_eq(ended.calls, 1);
	ck_assert_uint_eq(ctx_calls, 1);
	ck_assert_str_eq(ended.how, "expired");
	ck_assert_uint_eq(ended.g.serial, serial);
	ck_assert_uint_eq(medfs_grants_next_deadline(t), UINT64_MAX);
	ck_assert_int_eq(medfs_grants_get(t, 1001, 70 * S, &g), -ENODATA);
}
END_TEST

START_TEST(test_duration_bounds)
{
	ck_assert_int_eq(medfs_grants_start(t, 1, 0, 0, 0, NULL), -EINVAL);
	ck_assert_int_eq(
		medfs_grants_start(t, 1, MEDFS_GRANT_SECONDS_MAX + 1, 0, 0, NULL),
		-EINVAL);
	ck_assert_uint_eq(medfs_grants_list(t, 0, NULL, 0), 0);
	ck_assert_int_eq(medfs_grants_start(t, 1, MEDFS_GRANT_SECONDS_MAX, 0, 0, NULL),
			 0);
	ck_assert_uint_eq(medfs_grants_next_deadline(t), MEDFS_GRANT_SECONDS_MAX * S);
}
END_TEST

/* A renewal keeps the serial and the count and moves the deadline. */
START_TEST(test_renew)
{
	struct medfs_grant g, r;

	ck_assert_int_eq(medfs_grants_start(t, 7, 10, 0, 100, &g), 0);
	ck_assert_int_eq(medfs_grants_use(t, g.serial, 1 * S), 0);
	ck_assert_int_eq(medfs_grants_start(t, 7, 10, 5 * S, 105, &r), 0);
	ck_assert_uint_eq(r.serial, g.serial);
	ck_assert_uint_eq(r.accesses, 1);
	ck_assert_uint_eq(r.deadline, 15 * S);
	ck_assert_int_eq(r.start, 105);
	ck_assert_int_eq(r.end, 115);
	ck_assert_int_eq(medfs_grants_use(t, g.serial, 12 * S), 0);
	ck_assert_uint_eq(ended.calls, 0);
	ck_assert_uint_eq(medfs_grants_list(t, 12 * S, NULL, 0), 1);
}
END_TEST

/* The attack: a file opened under a grant is used after the grant ended,
 * then the holder asks again. Nothing counts or runs under the old serial. */
START_TEST(test_use_after_end)
{
	struct medfs_grant g, again;

	ck_assert_int_eq(medfs_grants_start(t, 42, 3, 0, 0, &g), 0);
	medfs_grants_hold(t, g.serial);
	ck_assert_int_eq(medfs_grants_use(t, g.serial, 1 * S), 0);
	ck_assert_int_eq(medfs_grants_use(t, g.serial, 2 * S), 0);
	ck_assert_int_eq(medfs_grants_use(t, g.serial, 3 * S), -EACCES);
	ck_assert_uint_eq(ended.calls, 1);
	ck_assert_uint_eq(ended.g.accesses, 2);
	ck_assert_uint_eq(ended.g.open, 1);
	ck_assert_int_eq(medfs_grants_use(t, g.serial, 4 * S), -EACCES);
	/* A new grant is a new serial: the old file stays refused. */
	ck_assert_int_eq(medfs_grants_start(t, 42, 3, 5 * S, 5, &again), 0);
	ck_assert_uint_ne(again.serial, g.serial);
	ck_assert_int_eq(medfs_grants_use(t, g.serial, 5 * S), -EACCES);
	ck_assert_int_eq(medfs_grants_use(t, again.serial, 5 * S), 0);
	medfs_grants_drop(t, g.serial); /* the old file's release: nothing */
	ck_assert_int_eq(medfs_grants_get(t, 42, 5 * S, &g), 0);
	ck_assert_uint_eq(g.open, 0);
	ck_assert_uint_eq(g.accesses, 1);
	ck_assert_int_eq(medfs_grants_use(t, 0, 5 * S), -EACCES);
}
END_TEST

START_TEST(test_end_by_holder)
{
	struct medfs_grant g;

	ck_assert_int_eq(medfs_grants_end(t, 5, 0, "ended by its holder"), -ENODATA);
	ck_assert_int_eq(medfs_grants_start(t, 5, 60, 0, 0, &g), 0);
	medfs_grants_hold(t, g.serial);
	medfs_grants_hold(t, g.serial);
	medfs_grants_drop(t, g.serial);
	ck_assert_int_eq(medfs_grants_use(t, g.serial, 1), 0);
	ck_assert_int_eq(medfs_grants_end(t, 5, 2, "ended by its holder"), 0);
	ck_assert_str_eq(ended.how, "ended by its holder");
	ck_assert_uint_eq(ended.g.accesses, 1);
	ck_assert_uint_eq(ended.g.open, 1);
	ck_assert_int_eq(medfs_grants_use(t, g.serial, 3), -EACCES);
	ck_assert_int_eq(medfs_grants_end(t, 5, 3, "ended by its holder"), -ENODATA);
	ck_assert_uint_eq(ended.calls, 1);
}
END_TEST

/* Many holders: each its own serial, the list sees them all, expiry ends
 * exactly the due ones, and the unmount the rest. */
START_TEST(test_many)
{
	struct medfs_grant list[40];
	uint64_t serial[40];
	size_t n;

	for (unsigned i = 0; i < 40; i++) {
		struct medfs_grant g;

		ck_assert_int_eq(medfs_grants_start(t, 100 + i, 1 + i, 0, 0, &g), 0);
		serial[i] = g.serial;
		for (unsigned j = 0; j < i; j++)
			ck_assert_uint_ne(serial[j], g.serial);
	}
	ck_assert_uint_eq(medfs_grants_list(t, 0, list, 10), 40);
	ck_assert_uint_eq(medfs_grants_next_deadline(t), 1 * S);
	medfs_grants_expire(t, 20 * S); /* grants of 1..20 s */
	ck_assert_uint_eq(ended.calls, 20);
	n = medfs_grants_list(t, 20 * S, list, 40);
	ck_assert_uint_eq(n, 20);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_ge(list[i].uid, 120);
	for (unsigned i = 0; i < 40; i++)
		ck_assert_int_eq(medfs_grants_use(t, serial[i], 20 * S),
				 i < 20 ? -EACCES : 0);
	medfs_grants_end_all(t, "ended at unmount");
	ck_assert_uint_eq(ended.calls, 40);
	ck_assert_str_eq(ended.how, "ended at unmount");
	ck_assert_uint_eq(ended.g.accesses, 1);
	ck_assert_uint_eq(medfs_grants_active(t, 139, 20 * S), 0);
}
END_TEST

/* Concurrent uses are all counted. */
struct user {
	uint64_t serial;
	unsigned n;
};

static void *use_many(void *arg)
{
	struct user *u = arg;

	for (unsigned i = 0; i < u->n; i++)
		ck_assert_int_eq(medfs_grants_use(t, u->serial, 1), 0);
	return NULL;
}

START_TEST(test_threads)
{
	struct user u = { 0, 20000 };
	pthread_t th[4];
	struct medfs_grant g;

	ck_assert_int_eq(medfs_grants_start(t, 9, 60, 0, 0, &g), 0);
	u.serial = g.serial;
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, use_many, &u), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_eq(medfs_grants_get(t, 9, 1, &g), 0);
	ck_assert_uint_eq(g.accesses, 80000);
}
END_TEST

/* The unmount ends what still runs, and tells on_end. */
START_TEST(test_free_ends)
{
	struct medfs_grants *u;
	unsigned calls = 0;

	ck_assert_int_eq(medfs_grants_new(&u, on_end, &calls), 0);
	ck_assert_int_eq(medfs_grants_start(u, 3, 60, 0, 0, NULL), 0);
	medfs_grants_free(u);
	ck_assert_uint_eq(calls, 1);
	ck_assert_str_eq(ended.how, "ended at unmount");
	medfs_grants_free(NULL);
	ck_assert_int_eq(medfs_grants_new(&u, NULL, NULL), 0);
	ck_assert_int_eq(medfs_grants_start(u, 3, 60, 0, 0, NULL), 0);
	medfs_grants_free(u);
}
END_TEST

static Suite *grant_suite(void)
{
	Suite *s = suite_create("grant");
	TCase *tc = tcase_create("grants");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_start_and_expire);
	tcase_add_test(tc, test_duration_bounds);
	tcase_add_test(tc, test_renew);
	tcase_add_test(tc, test_use_after_end);
	tcase_add_test(tc, test_end_by_holder);
	tcase_add_test(tc, test_many);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_free_ends);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(grant_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
