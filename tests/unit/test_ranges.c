/* Unit tests: the byte ranges of a read or write record (medfs/ranges.h). */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "medfs/journal.h"
#include "medfs/ranges.h"

static struct medfs_ranges g;

static void setup(void)
{
	memset(&g, 0, sizeof(g));
}

static void teardown(void)
{
	medfs_ranges_free(&g);
}

/* The set is sorted, disjoint and not adjacent, every range non-empty
 * and ending at or before UINT64_MAX. */
static void check_shape(const struct medfs_ranges *s)
{
	ck_assert_uint_le(s->n, s->cap);
	for (size_t i = 0; i < s->n; i++) {
		ck_assert_uint_gt(s->r[i].length, 0);
		ck_assert_uint_le(s->r[i].length, UINT64_MAX - s->r[i].offset);
		if (i > 0)
			ck_assert_uint_gt(s->r[i].offset,
					  s->r[i - 1].offset + s->r[i - 1].length);
	}
}

/* g is exactly these n (offset, length) pairs. */
static void expect(size_t n, const uint64_t *pairs)
{
	check_shape(&g);
	ck_assert_uint_eq(g.n, n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(g.r[i].offset, pairs[2 * i]);
		ck_assert_uint_eq(g.r[i].length, pairs[2 * i + 1]);
	}
}

/* The first ranges of g are these pairs. */
#define EXPECT_HEAD(...)                                                                 \
	do {                                                                             \
		const uint64_t p_[] = { __VA_ARGS__ };                                   \
		for (size_t i_ = 0; i_ < sizeof(p_) / sizeof(p_[0]) / 2; i_++) {         \
			ck_assert_uint_eq(g.r[i_].offset, p_[2 * i_]);                   \
			ck_assert_uint_eq(g.r[i_].length, p_[2 * i_ + 1]);               \
		}                                                                        \
	} while (0)

#define EXPECT(...)                                                                      \
	do {                                                                             \
		const uint64_t p_[] = { __VA_ARGS__ };                                   \
		expect(sizeof(p_) / sizeof(p_[0]) / 2, p_);                              \
	} while (0)

START_TEST(test_empty)
{
	ck_assert_uint_eq(g.n, 0);
	ck_assert_int_eq(medfs_ranges_add(&g, 100, 0), 0);
	ck_assert_int_eq(medfs_ranges_add(&g, UINT64_MAX, 0), 0);
	ck_assert_uint_eq(g.n, 0);
	ck_assert_uint_eq(g.bytes, 0);
	medfs_ranges_clear(&g);
	medfs_ranges_free(&g);
	medfs_ranges_free(&g); /* twice: empty again */
	ck_assert_ptr_null(g.r);
}
END_TEST

START_TEST(test_sequential)
{
	/* A file read front to back: one range that grows. */
	for (uint64_t i = 0; i < 10000; i++)
		ck_assert_int_eq(medfs_ranges_add(&g, i * 4096, 4096), 0);
	EXPECT(0, 10000 * 4096);
	ck_assert_uint_eq(g.bytes, 10000 * 4096);
}
END_TEST

START_TEST(test_adjacent)
{
	ck_assert_int_eq(medfs_ranges_add(&g, 10, 10), 0);
	ck_assert_int_eq(medfs_ranges_add(&g, 30, 10), 0);
	EXPECT(10, 10, 30, 10);
	/* Touching on the left, then on the right: merged. */
	ck_assert_int_eq(medfs_ranges_add(&g, 0, 10), 0);
	EXPECT(0, 20, 30, 10);
	ck_assert_int_eq(medfs_ranges_add(&g, 40, 5), 0);
	EXPECT(0, 20, 30, 15);
	/* Filling the gap exactly joins both. */
	ck_assert_int_eq(medfs_ranges_add(&g, 20, 10), 0);
	EXPECT(0, 45);
	ck_assert_uint_eq(g.bytes, 45);
	/* One byte apart is not adjacent. */
	ck_assert_int_eq(medfs_ranges_add(&g, 46, 1), 0);
	EXPECT(0, 45, 46, 1);
}
END_TEST

START_TEST(test_overlapping)
{
	ck_assert_int_eq(medfs_ranges_add(&g, 0, 10), 0);
	ck_assert_int_eq(medfs_ranges_add(&g, 5, 10), 0);
	EXPECT(0, 15);
	/* Inside: nothing changes but the bytes. */
	ck_assert_int_eq(medfs_ranges_add(&g, 3, 4), 0);
	EXPECT(0, 15);
	ck_assert_uint_eq(g.bytes, 24);
	/* The same range again. */
	ck_assert_int_eq(medfs_ranges_add(&g, 0, 15), 0);
	EXPECT(0, 15);
	ck_assert_uint_eq(g.bytes, 39);
	/* Over the start of a later range, not the first. */
	ck_assert_int_eq(medfs_ranges_add(&g, 100, 10), 0);
	ck_assert_int_eq(medfs_ranges_add(&g, 200, 10), 0);
	ck_assert_int_eq(medfs_ranges_add(&g, 95, 10), 0);
	EXPECT(0, 15, 95, 15, 200, 10);
	/* Over the end of a middle range. */
	ck_assert_int_eq(medfs_ranges_add(&g, 105, 20), 0);
	EXPECT(0, 15, 95, 30, 200, 10);
}
END_TEST

START_TEST(test_spanning)
{
	for (uint64_t i = 0; i < 10; i++)
		ck_assert_int_eq(medfs_ranges_add(&g, 100 * i + 10, 10), 0);
	ck_assert_uint_eq(g.n, 10);
	/* From inside the third to inside the sixth: four become one. */
	ck_assert_int_eq(medfs_ranges_add(&g, 215, 300), 0);
	EXPECT(10, 10, 110, 10, 210, 310, 610, 10, 710, 10, 810, 10, 910, 10);
	/* From before the first to past the last. */
	ck_assert_int_eq(medfs_ranges_add(&g, 0, 2000), 0);
	EXPECT(0, 2000);
	ck_assert_uint_eq(g.bytes, 100 + 300 + 2000);
}
END_TEST

START_TEST(test_out_of_order)
{
	/* Backwards, as a reader walking a file from its end. */
	for (uint64_t i = 100; i-- > 0;)
		ck_assert_int_eq(medfs_ranges_add(&g, i * 512, 512), 0);
	EXPECT(0, 51200);
	medfs_ranges_clear(&g);
	/* Every other block backwards, then the rest forwards. */
	for (uint64_t i = 100; i-- > 0;)
		if (i % 2)
			ck_assert_int_eq(medfs_ranges_add(&g, i * 512, 512), 0);
	ck_assert_uint_eq(g.n, 50);
	check_shape(&g);
	ck_assert_uint_eq(g.r[0].offset, 512);
	for (uint64_t i = 0; i < 100; i += 2)
		ck_assert_int_eq(medfs_ranges_add(&g, i * 512, 512), 0);
	EXPECT(0, 51200);
	ck_assert_uint_eq(g.bytes, 51200);
}
END_TEST

/* The pseudo-random generator of the tests: xorshift64, fixed seed. */
static uint64_t rnd_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

#define SPACE 4096

/* Many small reads anywhere in a small file, checked after each against
 * a map of the bytes read. */
START_TEST(test_many_small_random)
{
	static unsigned char model[SPACE];
	uint64_t bytes = 0;

	rnd_state = 0x9e3779b97f4a7c15ULL + (uint64_t)_i;
	memset(model, 0, sizeof(model));
	for (int step = 0; step < 1000; step++) {
		uint64_t off = rnd() % SPACE, len = 1 + rnd() % 48;
		size_t k = 0;

		if (len > SPACE - off)
			len = SPACE - off;
		ck_assert_int_eq(medfs_ranges_add(&g, off, len), 0);
		memset(model + off, 1, len);
		bytes += len;
		ck_assert_uint_eq(g.bytes, bytes);
		check_shape(&g);
		/* The ranges are the runs of the map. */
		for (uint64_t b = 0; b < SPACE;) {
			uint64_t e;

			if (!model[b]) {
				b++;
				continue;
			}
			for (e = b; e < SPACE && model[e]; e++)
				;
			ck_assert_uint_lt(k, g.n);
			ck_assert_uint_eq(g.r[k].offset, b);
			ck_assert_uint_eq(g.r[k].length, e - b);
			k++;
			b = e;
		}
		ck_assert_uint_eq(k, g.n);
	}
}
END_TEST

START_TEST(test_limit)
{
	size_t cap;

	/* MEDFS_RANGES_MAX disjoint ranges, in reverse: the last add says the
	 * set is full. */
	for (uint64_t i = MEDFS_RANGES_MAX; i-- > 1;)
		ck_assert_int_eq(medfs_ranges_add(&g, 2 * i, 1), 0);
	ck_assert_uint_eq(g.n, MEDFS_RANGES_MAX - 1);
	ck_assert_int_eq(medfs_ranges_add(&g, 0, 1), 1);
	ck_assert_uint_eq(g.n, MEDFS_RANGES_MAX);
	check_shape(&g);
	/* A merge makes room (two ranges become one)... */
	ck_assert_int_eq(medfs_ranges_add(&g, 1, 1), 0);
	ck_assert_uint_eq(g.n, MEDFS_RANGES_MAX - 1);
	EXPECT_HEAD(0, 3, 4, 1);
	ck_assert_int_eq(medfs_ranges_add(&g, 6000, 1), 1);
	/* ...and a caller that goes on past the limit is told again. */
	ck_assert_int_eq(medfs_ranges_add(&g, 7000, 1), 1);
	ck_assert_uint_eq(g.n, MEDFS_RANGES_MAX + 1);
	check_shape(&g);
	/* Cleared, it keeps its memory and starts again. */
	cap = g.cap;
	medfs_ranges_clear(&g);
	ck_assert_uint_eq(g.n, 0);
	ck_assert_uint_eq(g.bytes, 0);
	ck_assert_uint_eq(g.cap, cap);
	ck_assert_int_eq(medfs_ranges_add(&g, 7, 3), 0);
	EXPECT(7, 3);
	ck_assert_uint_eq(g.bytes, 3);
}
END_TEST

/* A full set goes into one journal record with the longest strings a
 * driver's record holds, and comes back out the same. */
START_TEST(test_limit_fits_a_record)
{
	struct medfs_journal_record_buf back = MEDFS_JOURNAL_RECORD_BUF_INIT;
	struct medfs_journal_record r;
	static char path[PATH_MAX], program[PATH_MAX], user[256], id[65],
		former[16 * 65 + 1];
	uint8_t *body;
	size_t len;
	int ret = 0;

	for (uint64_t i = 0; ret == 0; i++)
		ret = medfs_ranges_add(&g, UINT64_MAX - 4 * (i + 1), 2);
	ck_assert_int_eq(ret, 1);
	ck_assert_uint_eq(g.n, MEDFS_RANGES_MAX);
	memset(path, 'p', sizeof(path) - 1);
	memset(program, 'x', sizeof(program) - 1);
	memset(user, 'u', sizeof(user) - 1);
	memset(id, '1', sizeof(id) - 1);
	for (size_t i = 0; i < 16; i++) {
		memset(former + 65 * i, 'f', 64);
		former[65 * i + 64] = '\n';
	}
	memset(&r, 0, sizeof(r));
	r.time_us = 1;
	r.op = MEDFS_OP_READ;
	r.user = user;
	r.program = program;
	r.path = path;
	r.offset = -1;
	r.patient_id = r.study_uid = r.sop_uid = r.sop_class_uid = id;
	r.modality = "CT";
	r.former_patient_ids = former;
	r.ranges = g.r;
	r.nranges = g.n;
	r.bytes = g.bytes;
	ck_assert_int_eq(medfs_journal_record_encode(&r, NULL, 0, &len), -ENOBUFS);
	ck_assert_uint_le(len, MEDFS_JOURNAL_BODY_MAX);
	body = malloc(len);
	ck_assert_ptr_nonnull(body);
	ck_assert_int_eq(medfs_journal_record_encode(&r, body, len, &len), 0);
	ck_assert_int_eq(medfs_journal_record_decode(body, len, &back), 0);
	ck_assert_uint_eq(back.rec.nranges, MEDFS_RANGES_MAX);
	ck_assert_mem_eq(back.rec.ranges, g.r, g.n * sizeof(*g.r));
	ck_assert_uint_eq(back.rec.bytes, 2 * MEDFS_RANGES_MAX);
	medfs_journal_record_buf_free(&back);
	free(body);
}
END_TEST

START_TEST(test_top_of_64_bits)
{
	const uint64_t top = UINT64_MAX;

	/* A range may end at UINT64_MAX, not past it. */
	ck_assert_int_eq(medfs_ranges_add(&g, top - 10, 10), 0);
	EXPECT(top - 10, 10);
	ck_assert_int_eq(medfs_ranges_add(&g, top - 10, 11), -EOVERFLOW);
	ck_assert_int_eq(medfs_ranges_add(&g, top, 1), -EOVERFLOW);
	ck_assert_int_eq(medfs_ranges_add(&g, top - 5, top), -EOVERFLOW);
	ck_assert_int_eq(medfs_ranges_add(&g, 1, top), -EOVERFLOW);
	ck_assert_int_eq(medfs_ranges_add(&g, top, top), -EOVERFLOW);
	EXPECT(top - 10, 10); /* unchanged, bytes not counted */
	ck_assert_uint_eq(g.bytes, 10);
	/* Adjacent and overlapping below it, in and out of order. */
	ck_assert_int_eq(medfs_ranges_add(&g, top - 30, 10), 0);
	EXPECT(top - 30, 10, top - 10, 10);
	ck_assert_int_eq(medfs_ranges_add(&g, top - 20, 10), 0);
	EXPECT(top - 30, 30);
	ck_assert_int_eq(medfs_ranges_add(&g, top - 1, 1), 0);
	ck_assert_int_eq(medfs_ranges_add(&g, top - 40, 15), 0);
	EXPECT(top - 40, 40);
	ck_assert_int_eq(medfs_ranges_add(&g, 0, 1), 0);
	EXPECT(0, 1, top - 40, 40);
	/* A range of the whole 64-bit space but its last byte swallows all. */
	ck_assert_int_eq(medfs_ranges_add(&g, 0, top), 0);
	EXPECT(0, top);
	check_shape(&g);
	/* bytes stops at UINT64_MAX. */
	ck_assert_uint_eq(g.bytes, UINT64_MAX);
	ck_assert_int_eq(medfs_ranges_add(&g, 5, 5), 0);
	ck_assert_uint_eq(g.bytes, UINT64_MAX);
}
END_TEST

START_TEST(test_top_random)
{
	/* Random small ranges in the last 4 KiB of the 64-bit space (up to
	 * UINT64_MAX, not including it), checked as test_many_small_random's,
	 * the map shifted. */
	static unsigned char model[SPACE];
	const uint64_t base = UINT64_MAX - SPACE;

	rnd_state = 0x2545f4914f6cdd1dULL;
	memset(model, 0, sizeof(model));
	for (int step = 0; step < 2000; step++) {
		uint64_t off = rnd() % SPACE, len = 1 + rnd() % 64;
		size_t k = 0;

		if (len > SPACE - off) {
			ck_assert_int_eq(medfs_ranges_add(&g, base + off, len),
					 -EOVERFLOW);
			len = SPACE - off;
		}
		ck_assert_int_eq(medfs_ranges_add(&g, base + off, len), 0);
		memset(model + off, 1, len);
		check_shape(&g);
		for (uint64_t b = 0; b < SPACE;) {
			uint64_t e;

			if (!model[b]) {
				b++;
				continue;
			}
			for (e = b; e < SPACE && model[e]; e++)
				;
			ck_assert_uint_lt(k, g.n);
			ck_assert_uint_eq(g.r[k].offset, base + b);
			ck_assert_uint_eq(g.r[k].length, e - b);
			k++;
			b = e;
		}
		ck_assert_uint_eq(k, g.n);
	}
}
END_TEST

static Suite *ranges_suite(void)
{
	Suite *s = suite_create("ranges");
	TCase *tc;

	tc = tcase_create("merge");
	/* The random run scans a 4 KiB map 3000 times in all: slow under valgrind
	 * and on a loaded machine, never near a minute. */
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_sequential);
	tcase_add_test(tc, test_adjacent);
	tcase_add_test(tc, test_overlapping);
	tcase_add_test(tc, test_spanning);
	tcase_add_test(tc, test_out_of_order);
	tcase_add_loop_test(tc, test_many_small_random, 0, 3);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_limit);
	tcase_add_test(tc, test_limit_fits_a_record);
	tcase_add_test(tc, test_top_of_64_bits);
	tcase_add_test(tc, test_top_random);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(ranges_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
