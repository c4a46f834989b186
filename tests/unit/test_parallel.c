/* Unit tests: slices of a range on helper threads. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include <check.h>

#include "medfs/parallel.h"

#define MAX_N 4096

struct marks {
	atomic_int count[MAX_N];
	atomic_int threads_seen; /* slices run off the calling thread */
	pthread_t caller;
	size_t n, min_slice;
};

static void mark(void *arg, size_t from, size_t to)
{
	struct marks *m = arg;

	ck_assert_uint_lt(from, to);
	/* Only the last slice may be shorter than asked. */
	ck_assert(to - from >= m->min_slice || to == m->n);
	if (!pthread_equal(pthread_self(), m->caller))
		atomic_fetch_add(&m->threads_seen, 1);
	for (size_t i = from; i < to; i++)
		atomic_fetch_add(&m->count[i], 1);
}

static void run_fn_and_check(struct marks *m, size_t n, size_t min_slice,
			     void (*fn)(void *arg, size_t from, size_t to))
{
	for (size_t i = 0; i < MAX_N; i++)
		atomic_store(&m->count[i], 0);
	m->caller = pthread_self();
	m->n = n;
	m->min_slice = min_slice;
	medfs_parallel_for(n, min_slice, fn, m);
	/* One assertion per call, not per item: each costs Check a write,
	 * which made this suite take minutes (and hours under valgrind). */
	size_t wrong = 0, first = MAX_N;
	for (size_t i = 0; i < MAX_N; i++)
		if (atomic_load(&m->count[i]) != (i < n ? 1 : 0)) {
			wrong++;
			if (first == MAX_N)
				first = i;
		}
	ck_assert_msg(wrong == 0, "%zu items of %zu done other than once (first: %zu)", wrong,
		      n, first);
}

static void run_and_check(struct marks *m, size_t n, size_t min_slice)
{
	run_fn_and_check(m, n, min_slice, mark);
}

START_TEST(test_every_item_once)
{
	static struct marks m;
	const size_t sizes[] = { 1,   2,   3,	7,   63,  64,	65,  127,
				 128, 129, 255, 256, 257, 4095, 4096 };
	const size_t slices[] = { 0, 1, 2, 16, 64, 1000 };

	for (size_t a = 0; a < sizeof(sizes) / sizeof(sizes[0]); a++)
		for (size_t b = 0; b < sizeof(slices) / sizeof(slices[0]); b++)
			run_and_check(&m, sizes[a], slices[b]);
}
END_TEST

START_TEST(test_small_stays_here)
{
	static struct marks m;

	atomic_store(&m.threads_seen, 0);
	run_and_check(&m, 127, 64);
	run_and_check(&m, 1, 1);
	run_and_check(&m, 0, 1);
	ck_assert_int_eq(atomic_load(&m.threads_seen), 0);
}
END_TEST

/* A slice that takes long enough for any helper to wake. */
static void slow_mark(void *arg, size_t from, size_t to)
{
	usleep(2000);
	mark(arg, from, to);
}

START_TEST(test_helpers_take_slices)
{
	static struct marks m;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned want = cpus > 1 ? (unsigned)(cpus - 1) : 0;

	if (want > 3)
		want = 3;
	atomic_store(&m.threads_seen, 0);
	/* An idle helper is always claimed, and wakes while the caller is
	 * busy: each large call has a slice done off the caller's thread. */
	for (int i = 0; i < 50; i++)
		run_fn_and_check(&m, 4096, 64, slow_mark);
	ck_assert_uint_eq(medfs_parallel_helpers(), want);
	if (want > 0)
		ck_assert_int_ge(atomic_load(&m.threads_seen), 50);
	else
		ck_assert_int_eq(atomic_load(&m.threads_seen), 0);
}
END_TEST

/* Callers at once: some find every helper busy and do all the work. */
static void *caller_main(void *arg)
{
	struct marks *m = calloc(1, sizeof(*m));

	(void)arg;
	ck_assert_ptr_nonnull(m);
	for (int i = 0; i < 300; i++)
		run_and_check(m, 64 + (size_t)i * 13, 32);
	free(m);
	return NULL;
}

START_TEST(test_concurrent_callers)
{
	pthread_t t[6];

	for (int i = 0; i < 6; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, caller_main, NULL), 0);
	for (int i = 0; i < 6; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
}
END_TEST

/* Threads of medfs_thread_start take no signal; the caller's mask is
 * left as it was. */
static void *mask_of(void *arg)
{
	pthread_sigmask(SIG_SETMASK, NULL, arg);
	return NULL;
}

START_TEST(test_thread_start_blocks_signals)
{
	sigset_t in_thread, before, after;
	pthread_t t;

	pthread_sigmask(SIG_SETMASK, NULL, &before);
	ck_assert(!sigismember(&before, SIGTERM));
	ck_assert_int_eq(medfs_thread_start(&t, NULL, mask_of, &in_thread), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert(sigismember(&in_thread, SIGTERM));
	ck_assert(sigismember(&in_thread, SIGHUP));
	ck_assert(sigismember(&in_thread, SIGINT));
	pthread_sigmask(SIG_SETMASK, NULL, &after);
	ck_assert(!sigismember(&after, SIGTERM));
}
END_TEST

static Suite *parallel_suite(void)
{
	Suite *s = suite_create("parallel");
	TCase *tc = tcase_create("parallel");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_every_item_once);
	tcase_add_test(tc, test_small_stays_here);
	tcase_add_test(tc, test_helpers_take_slices);
	tcase_add_test(tc, test_concurrent_callers);
	tcase_add_test(tc, test_thread_start_blocks_signals);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(parallel_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
