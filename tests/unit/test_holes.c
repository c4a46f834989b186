/* Unit tests: the hole map of sparse files (holes.h): run operations,
 * the encoding (known answer, every malformed map refused), sealing (every
 * bit flipped fails, bound to the file and to its own index). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "medfs/holes.h"

static uint8_t key[MEDFS_KEY_LEN];
static uint8_t file_id[MEDFS_FILE_ID_LEN];

static void setup(void)
{
	randombytes_buf(key, sizeof(key));
	randombytes_buf(file_id, sizeof(file_id));
}

/* h holds exactly the n runs given as start, end pairs. */
static void expect(const struct medfs_holes *h, uint32_t n, const uint64_t *pairs)
{
	ck_assert_uint_eq(h->n, n);
	for (uint32_t i = 0; i < n; i++) {
		ck_assert_uint_eq(h->run[i].start, pairs[2 * i]);
		ck_assert_uint_eq(h->run[i].end, pairs[2 * i + 1]);
	}
}

START_TEST(test_add_merges)
{
	struct medfs_holes h = { 0 };

	ck_assert_int_eq(medfs_holes_add(&h, 10, 20), 0);
	ck_assert_int_eq(medfs_holes_add(&h, 30, 40), 0);
	ck_assert_int_eq(medfs_holes_add(&h, 0, 5), 0);
	expect(&h, 3, (const uint64_t[]){ 0, 5, 10, 20, 30, 40 });
	/* Touching runs merge: 5..10 joins 0..5 and 10..20. */
	ck_assert_int_eq(medfs_holes_add(&h, 5, 10), 0);
	expect(&h, 2, (const uint64_t[]){ 0, 20, 30, 40 });
	/* Overlapping several. */
	ck_assert_int_eq(medfs_holes_add(&h, 15, 35), 0);
	expect(&h, 1, (const uint64_t[]){ 0, 40 });
	ck_assert_int_eq(medfs_holes_add(&h, 50, 50), -EINVAL);
	ck_assert_int_eq(medfs_holes_add(&h, 60, 50), -EINVAL);
	ck_assert_int_eq(medfs_holes_add(&h, 0, MEDFS_FILE_BLOCKS_MAX + 1), -EINVAL);
	ck_assert_int_eq(medfs_holes_add(&h, 0, MEDFS_FILE_BLOCKS_MAX), 0);
	expect(&h, 1, (const uint64_t[]){ 0, MEDFS_FILE_BLOCKS_MAX });
}
END_TEST

START_TEST(test_remove_splits)
{
	struct medfs_holes h = { 0 };

	ck_assert_int_eq(medfs_holes_add(&h, 0, 100), 0);
	ck_assert_int_eq(medfs_holes_remove(&h, 40, 50), 1);
	expect(&h, 2, (const uint64_t[]){ 0, 40, 50, 100 });
	ck_assert_int_eq(medfs_holes_remove(&h, 40, 50), 0); /* nothing there */
	ck_assert_int_eq(medfs_holes_remove(&h, 0, 1), 1);
	ck_assert_int_eq(medfs_holes_remove(&h, 99, 200), 1);
	expect(&h, 2, (const uint64_t[]){ 1, 40, 50, 99 });
	ck_assert_int_eq(medfs_holes_remove(&h, 30, 60), 1);
	expect(&h, 2, (const uint64_t[]){ 1, 30, 60, 99 });
	ck_assert_int_eq(medfs_holes_remove(&h, 0, 1000), 1);
	ck_assert_uint_eq(h.n, 0);
	ck_assert_int_eq(medfs_holes_remove(&h, 5, 5), 0);
}
END_TEST

START_TEST(test_has_covers_clip)
{
	struct medfs_holes h = { 0 };

	ck_assert(!medfs_holes_has(&h, 0));
	ck_assert(medfs_holes_covers(&h, 3, 3));
	ck_assert_int_eq(medfs_holes_add(&h, 10, 20), 0);
	ck_assert_int_eq(medfs_holes_add(&h, 30, 40), 0);
	ck_assert(!medfs_holes_has(&h, 9));
	ck_assert(medfs_holes_has(&h, 10));
	ck_assert(medfs_holes_has(&h, 19));
	ck_assert(!medfs_holes_has(&h, 20));
	ck_assert(medfs_holes_has(&h, 39));
	ck_assert(!medfs_holes_has(&h, 40));
	ck_assert(medfs_holes_covers(&h, 10, 20));
	ck_assert(!medfs_holes_covers(&h, 10, 21));
	ck_assert(!medfs_holes_covers(&h, 15, 35));
	ck_assert_uint_eq(medfs_holes_shortest(&h), 0);
	medfs_holes_clip(&h, 35);
	expect(&h, 2, (const uint64_t[]){ 10, 20, 30, 35 });
	ck_assert_uint_eq(medfs_holes_shortest(&h), 1);
	medfs_holes_clip(&h, 30);
	expect(&h, 1, (const uint64_t[]){ 10, 20 });
	medfs_holes_clip(&h, 0);
	ck_assert_uint_eq(h.n, 0);
}
END_TEST

/* Runs split one by one until the map is full: -ENOSPC, unchanged. */
START_TEST(test_capacity)
{
	struct medfs_holes h = { 0 }, before;

	ck_assert_int_eq(medfs_holes_add(&h, 0, 4 * MEDFS_HOLES_CAP), 0);
	for (uint32_t i = 1; i < MEDFS_HOLES_CAP; i++)
		ck_assert_int_eq(medfs_holes_remove(&h, 4 * i, 4 * i + 1), 1);
	ck_assert_uint_eq(h.n, MEDFS_HOLES_CAP);
	before = h;
	ck_assert_int_eq(medfs_holes_remove(&h, 2, 3), -ENOSPC);
	ck_assert_int_eq(memcmp(&h, &before, sizeof(h)), 0);
	ck_assert_int_eq(
		medfs_holes_add(&h, 10 * MEDFS_HOLES_CAP, 10 * MEDFS_HOLES_CAP + 1),
		-ENOSPC);
	ck_assert_int_eq(memcmp(&h, &before, sizeof(h)), 0);
	/* More runs than a stored map holds do not encode. */
	{
		uint8_t out[MEDFS_HOLES_PLAIN_MAX];

		ck_assert_int_eq(medfs_holes_encode(&h, out), -E2BIG);
	}
}
END_TEST

/* The encoding, pinned: a change is a format change (doc/FORMAT.md, 11). */
START_TEST(test_encoding_kat)
{
	static const uint8_t want[] = {
		0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, /* version 1, 2 runs */
		0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 5 */
		0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 7 */
		0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x20100 */
		0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, /* 2^32 */
	};
	struct medfs_holes h = { 0 }, back;
	uint8_t out[MEDFS_HOLES_PLAIN_MAX];

	ck_assert_int_eq(medfs_holes_add(&h, 5, 7), 0);
	ck_assert_int_eq(medfs_holes_add(&h, 0x20100, UINT64_C(1) << 32), 0);
	ck_assert_int_eq(medfs_holes_encode(&h, out), sizeof(want));
	ck_assert_mem_eq(out, want, sizeof(want));
	ck_assert_int_eq(medfs_holes_decode(&back, want, sizeof(want)), 0);
	ck_assert_int_eq(memcmp(&back.run, &h.run, 2 * sizeof(h.run[0])), 0);
	ck_assert_uint_eq(back.n, 2);
	/* The empty map. */
	h.n = 0;
	ck_assert_int_eq(medfs_holes_encode(&h, out), MEDFS_HOLES_HEAD_LEN);
	ck_assert_int_eq(medfs_holes_decode(&back, out, MEDFS_HOLES_HEAD_LEN), 0);
	ck_assert_uint_eq(back.n, 0);
}
END_TEST

static void put_run(uint8_t *map, uint32_t i, uint64_t start, uint64_t end)
{
	for (int b = 0; b < 8; b++) {
		map[MEDFS_HOLES_HEAD_LEN + 16 * i + b] = (uint8_t)(start >> (8 * b));
		map[MEDFS_HOLES_HEAD_LEN + 16 * i + 8 + b] = (uint8_t)(end >> (8 * b));
	}
}

/* Two runs: ok, then each malformation alone. */
static size_t two_runs(uint8_t *map, uint64_t s0, uint64_t e0, uint64_t s1, uint64_t e1)
{
	memset(map, 0, MEDFS_HOLES_PLAIN_MAX);
	map[0] = 1;
	map[4] = 2;
	put_run(map, 0, s0, e0);
	put_run(map, 1, s1, e1);
	return MEDFS_HOLES_HEAD_LEN + 2 * MEDFS_HOLES_RUN_LEN;
}

START_TEST(test_decode_refuses)
{
	uint8_t map[MEDFS_HOLES_PLAIN_MAX];
	struct medfs_holes h;
	size_t len;

	len = two_runs(map, 1, 3, 5, 9);
	ck_assert_int_eq(medfs_holes_decode(&h, map, len), 0);
	ck_assert_int_eq(medfs_holes_decode(&h, map, len - 1), -EBADMSG);
	ck_assert_int_eq(medfs_holes_decode(&h, map, len + 1), -EBADMSG);
	ck_assert_int_eq(medfs_holes_decode(&h, map, 7), -EBADMSG);
	map[0] = 2;
	ck_assert_int_eq(medfs_holes_decode(&h, map, len), -EPROTONOSUPPORT);
	len = two_runs(map, 3, 3, 5, 9); /* empty run */
	ck_assert_int_eq(medfs_holes_decode(&h, map, len), -EBADMSG);
	len = two_runs(map, 4, 3, 5, 9); /* backwards */
	ck_assert_int_eq(medfs_holes_decode(&h, map, len), -EBADMSG);
	len = two_runs(map, 1, 5, 5, 9); /* touching: would be one run */
	ck_assert_int_eq(medfs_holes_decode(&h, map, len), -EBADMSG);
	len = two_runs(map, 1, 6, 5, 9); /* overlapping */
	ck_assert_int_eq(medfs_holes_decode(&h, map, len), -EBADMSG);
	len = two_runs(map, 5, 9, 1, 3); /* unsorted */
	ck_assert_int_eq(medfs_holes_decode(&h, map, len), -EBADMSG);
	len = two_runs(map, 1, 3, 5, MEDFS_FILE_BLOCKS_MAX + 1); /* too far */
	ck_assert_int_eq(medfs_holes_decode(&h, map, len), -EBADMSG);
	ck_assert_uint_eq(h.n, 0);
	len = two_runs(map, 1, 3, 5, 9);
	map[4] = MEDFS_HOLES_MAX + 1; /* count beyond the maximum */
	ck_assert_int_eq(
		medfs_holes_decode(&h, map,
				   MEDFS_HOLES_HEAD_LEN +
					   (MEDFS_HOLES_MAX + 1) * MEDFS_HOLES_RUN_LEN),
		-EBADMSG);
}
END_TEST

START_TEST(test_seal_open)
{
	uint32_t cipher = medfs_block_cipher_default();
	struct medfs_holes h = { 0 }, back;
	uint8_t sealed[MEDFS_HOLES_SEALED_MAX], other_id[MEDFS_FILE_ID_LEN];
	uint8_t plain[MEDFS_BLOCK_SIZE] = { 0 };
	int n;

	ck_assert_int_eq(medfs_holes_add(&h, 2, 9), 0);
	ck_assert_int_eq(medfs_holes_add(&h, 100, 1000), 0);
	n = medfs_holes_seal(sealed, &h, cipher, key, file_id);
	ck_assert_int_eq(n, MEDFS_HOLES_HEAD_LEN + 2 * MEDFS_HOLES_RUN_LEN +
				    MEDFS_BLOCK_OVERHEAD);
	ck_assert_int_eq(medfs_holes_open(&back, sealed, (size_t)n, cipher, key, file_id),
			 0);
	ck_assert_uint_eq(back.n, 2);
	ck_assert_uint_eq(back.run[1].end, 1000);
	/* Every bit. */
	for (int i = 0; i < n * 8; i++) {
		sealed[i / 8] ^= (uint8_t)(1 << (i % 8));
		ck_assert_int_eq(
			medfs_holes_open(&back, sealed, (size_t)n, cipher, key, file_id),
			-EBADMSG);
		ck_assert_uint_eq(back.n, 0);
		sealed[i / 8] ^= (uint8_t)(1 << (i % 8));
	}
	/* Another file's, a shorter copy, a zeroed one. */
	memcpy(other_id, file_id, sizeof(other_id));
	other_id[0] ^= 1;
	ck_assert_int_eq(
		medfs_holes_open(&back, sealed, (size_t)n, cipher, key, other_id),
		-EBADMSG);
	ck_assert_int_eq(
		medfs_holes_open(&back, sealed, (size_t)n - 1, cipher, key, file_id),
		-EBADMSG);
	ck_assert_int_eq(medfs_holes_open(&back, sealed, MEDFS_BLOCK_OVERHEAD, cipher,
					  key, file_id),
			 -EBADMSG);
	memset(sealed, 0, sizeof(sealed));
	ck_assert_int_eq(medfs_holes_open(&back, sealed, (size_t)n, cipher, key, file_id),
			 -EBADMSG);
	/* A content block of the file holding a map's bytes does not open as
	 * the map: the map has its own index. */
	ck_assert_int_eq(medfs_holes_encode(&h, plain), n - MEDFS_BLOCK_OVERHEAD);
	ck_assert_int_eq(medfs_block_seal(sealed, plain, (size_t)n - MEDFS_BLOCK_OVERHEAD,
					  cipher, key, file_id, 0),
			 n);
	ck_assert_int_eq(medfs_holes_open(&back, sealed, (size_t)n, cipher, key, file_id),
			 -EBADMSG);
}
END_TEST

static Suite *holes_suite(void)
{
	Suite *s = suite_create("holes");
	TCase *tc = tcase_create("runs");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_add_merges);
	tcase_add_test(tc, test_remove_splits);
	tcase_add_test(tc, test_has_covers_clip);
	tcase_add_test(tc, test_capacity);
	suite_add_tcase(s, tc);
	tc = tcase_create("format");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_encoding_kat);
	tcase_add_test(tc, test_decode_refuses);
	tcase_add_test(tc, test_seal_open);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	sr = srunner_create(holes_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
