/* Unit tests: content blocks and the disk/plain size mapping. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "kat.h"
#include "medfs/block.h"

static uint8_t key[MEDFS_KEY_LEN];
static uint8_t file_id[MEDFS_FILE_ID_LEN];

static void setup(void)
{
	randombytes_buf(key, sizeof(key));
	randombytes_buf(file_id, sizeof(file_id));
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static const size_t lengths[] = { 1, 17, 4095, 4096 };

START_TEST(test_round_trip)
{
	size_t len = lengths[_i];
	uint8_t plain[MEDFS_BLOCK_SIZE], back[MEDFS_BLOCK_SIZE];
	uint8_t sealed[MEDFS_BLOCK_DISK_SIZE], again[MEDFS_BLOCK_DISK_SIZE];

	randombytes_buf(plain, len);
	ck_assert_int_eq(medfs_block_seal(sealed, plain, len, key, file_id, 5),
			 (int)(len + MEDFS_BLOCK_OVERHEAD));
	ck_assert_int_eq(medfs_block_open(back, sealed, len + MEDFS_BLOCK_OVERHEAD, key,
					  file_id, 5),
			 (int)len);
	ck_assert_mem_eq(back, plain, len);
	/* Ciphertext is not the plaintext. */
	ck_assert(memcmp(sealed + MEDFS_BLOCK_NONCE_LEN, plain, len) != 0 || len < 4);
	/* A fresh nonce on every seal. */
	ck_assert_int_eq(medfs_block_seal(again, plain, len, key, file_id, 5),
			 (int)(len + MEDFS_BLOCK_OVERHEAD));
	ck_assert(memcmp(again, sealed, MEDFS_BLOCK_NONCE_LEN) != 0);
	ck_assert(memcmp(again, sealed, len + MEDFS_BLOCK_OVERHEAD) != 0);
}
END_TEST

START_TEST(test_invalid_lengths)
{
	uint8_t plain[MEDFS_BLOCK_SIZE + 1] = { 0 };
	uint8_t sealed[MEDFS_BLOCK_DISK_SIZE + 1] = { 0 };
	uint8_t nonce[MEDFS_BLOCK_NONCE_LEN] = { 0 };

	ck_assert_int_eq(medfs_block_seal(sealed, plain, 0, key, file_id, 0), -EINVAL);
	ck_assert_int_eq(
		medfs_block_seal(sealed, plain, MEDFS_BLOCK_SIZE + 1, key, file_id, 0),
		-EINVAL);
	ck_assert_int_eq(
		medfs_block_seal_with_nonce(sealed, plain, 0, key, file_id, 0, nonce),
		-EINVAL);
	ck_assert_int_eq(medfs_block_seal_with_nonce(sealed, plain, MEDFS_BLOCK_SIZE + 1,
						     key, file_id, 0, nonce),
			 -EINVAL);
	ck_assert_int_eq(medfs_block_open(plain, sealed, 0, key, file_id, 0), -EINVAL);
	ck_assert_int_eq(
		medfs_block_open(plain, sealed, MEDFS_BLOCK_OVERHEAD, key, file_id, 0),
		-EINVAL);
	ck_assert_int_eq(medfs_block_open(plain, sealed, MEDFS_BLOCK_DISK_SIZE + 1, key,
					  file_id, 0),
			 -EINVAL);
}
END_TEST

/* Flips single bits of a sealed block, at every position: every one
 * must fail and leave the output wiped. */
static void flip_all(size_t len, const uint8_t *masks, size_t nmasks)
{
	uint8_t plain[MEDFS_BLOCK_SIZE], out[MEDFS_BLOCK_SIZE];
	uint8_t sealed[MEDFS_BLOCK_DISK_SIZE];
	size_t sealed_len = len + MEDFS_BLOCK_OVERHEAD;

	randombytes_buf(plain, len);
	ck_assert_int_eq(medfs_block_seal(sealed, plain, len, key, file_id, 9),
			 (int)sealed_len);
	for (size_t pos = 0; pos < sealed_len; pos++) {
		for (size_t m = 0; m < nmasks; m++) {
			sealed[pos] ^= masks[m];
			memset(out, 0xa5, len);
			ck_assert_msg(medfs_block_open(out, sealed, sealed_len, key,
						       file_id, 9) == -EBADMSG,
				      "flip %02x at %zu of %zu opened", masks[m], pos,
				      sealed_len);
			ck_assert_msg(all_zero(out, len), "output not wiped");
			sealed[pos] ^= masks[m];
		}
	}
	/* Untouched, it still opens. */
	ck_assert_int_eq(medfs_block_open(out, sealed, sealed_len, key, file_id, 9),
			 (int)len);
	ck_assert_mem_eq(out, plain, len);
}

START_TEST(test_flip_every_bit_short)
{
	static const uint8_t masks[] = { 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80 };

	flip_all(1, masks, sizeof(masks));
	flip_all(17, masks, sizeof(masks));
}
END_TEST

START_TEST(test_flip_every_byte_full)
{
	static const uint8_t masks[] = { 0x01, 0x80, 0xff };

	flip_all(MEDFS_BLOCK_SIZE, masks, sizeof(masks));
	flip_all(MEDFS_BLOCK_SIZE - 1, masks, 1);
}
END_TEST

START_TEST(test_wrong_context)
{
	uint8_t plain[100], out[100], sealed[100 + MEDFS_BLOCK_OVERHEAD];
	uint8_t other_id[MEDFS_FILE_ID_LEN], other_key[MEDFS_KEY_LEN];
	const size_t n = sizeof(sealed);

	randombytes_buf(plain, sizeof(plain));
	ck_assert_int_eq(medfs_block_seal(sealed, plain, sizeof(plain), key, file_id, 1),
			 (int)n);

	memset(out, 0xa5, sizeof(out));
	ck_assert_int_eq(medfs_block_open(out, sealed, n, key, file_id, 0), -EBADMSG);
	ck_assert(all_zero(out, sizeof(out)));
	ck_assert_int_eq(medfs_block_open(out, sealed, n, key, file_id, 2), -EBADMSG);
	/* The index is 64-bit: a high bit alone must matter. */
	ck_assert_int_eq(
		medfs_block_open(out, sealed, n, key, file_id, 1 | UINT64_C(1) << 63),
		-EBADMSG);

	memcpy(other_id, file_id, sizeof(other_id));
	other_id[15] ^= 1;
	memset(out, 0xa5, sizeof(out));
	ck_assert_int_eq(medfs_block_open(out, sealed, n, key, other_id, 1), -EBADMSG);
	ck_assert(all_zero(out, sizeof(out)));

	memcpy(other_key, key, sizeof(other_key));
	other_key[0] ^= 1;
	memset(out, 0xa5, sizeof(out));
	ck_assert_int_eq(medfs_block_open(out, sealed, n, other_key, file_id, 1),
			 -EBADMSG);
	ck_assert(all_zero(out, sizeof(out)));

	ck_assert_int_eq(medfs_block_open(out, sealed, n, key, file_id, 1), 100);
	ck_assert_mem_eq(out, plain, sizeof(plain));
}
END_TEST

START_TEST(test_truncated_and_extended)
{
	uint8_t plain[MEDFS_BLOCK_SIZE], out[MEDFS_BLOCK_SIZE];
	uint8_t sealed[MEDFS_BLOCK_DISK_SIZE];
	const size_t len = 100, n = len + MEDFS_BLOCK_OVERHEAD;

	randombytes_buf(plain, len);
	ck_assert_int_eq(medfs_block_seal(sealed, plain, len, key, file_id, 0), (int)n);
	/* Shorter by one byte, or cut down to the last possible length. */
	memset(out, 0xa5, sizeof(out));
	ck_assert_int_eq(medfs_block_open(out, sealed, n - 1, key, file_id, 0), -EBADMSG);
	ck_assert(all_zero(out, len - 1));
	ck_assert_int_eq(
		medfs_block_open(out, sealed, MEDFS_BLOCK_OVERHEAD + 1, key, file_id, 0),
		-EBADMSG);
	ck_assert_int_eq(
		medfs_block_open(out, sealed, MEDFS_BLOCK_OVERHEAD, key, file_id, 0),
		-EINVAL);
	ck_assert_int_eq(
		medfs_block_open(out, sealed, MEDFS_BLOCK_NONCE_LEN, key, file_id, 0),
		-EINVAL);
	/* One byte appended. */
	sealed[n] = 0;
	ck_assert_int_eq(medfs_block_open(out, sealed, n + 1, key, file_id, 0), -EBADMSG);
	ck_assert(all_zero(out, len + 1));
}
END_TEST

START_TEST(test_all_zero_block)
{
	static const uint8_t zero[MEDFS_BLOCK_DISK_SIZE];
	uint8_t out[MEDFS_BLOCK_SIZE];

	/* A hole read back as zeros must not pass for a sealed block. */
	ck_assert_int_eq(medfs_block_open(out, zero, sizeof(zero), key, file_id, 0),
			 -EBADMSG);
	ck_assert(all_zero(out, sizeof(out)));
	ck_assert_int_eq(
		medfs_block_open(out, zero, MEDFS_BLOCK_OVERHEAD + 1, key, file_id, 0),
		-EBADMSG);
	memset(key, 0, sizeof(key));
	memset(file_id, 0, sizeof(file_id));
	ck_assert_int_eq(medfs_block_open(out, zero, sizeof(zero), key, file_id, 0),
			 -EBADMSG);
}
END_TEST

START_TEST(test_nonce_aliasing_out)
{
	uint8_t plain[32], out[32], sealed[32 + MEDFS_BLOCK_OVERHEAD];

	randombytes_buf(plain, sizeof(plain));
	randombytes_buf(sealed, MEDFS_BLOCK_NONCE_LEN);
	/* The nonce may already sit in out. */
	ck_assert_int_eq(medfs_block_seal_with_nonce(sealed, plain, sizeof(plain), key,
						     file_id, 4, sealed),
			 (int)sizeof(sealed));
	ck_assert_int_eq(medfs_block_open(out, sealed, sizeof(sealed), key, file_id, 4),
			 (int)sizeof(plain));
	ck_assert_mem_eq(out, plain, sizeof(plain));
}
END_TEST

START_TEST(test_kat)
{
	uint8_t fkey[MEDFS_KEY_LEN], fid[MEDFS_FILE_ID_LEN];
	uint8_t nonce[MEDFS_BLOCK_NONCE_LEN];
	uint8_t plain[MEDFS_BLOCK_SIZE], out[MEDFS_BLOCK_SIZE];
	uint8_t sealed[MEDFS_BLOCK_DISK_SIZE];
	char hex[2 * MEDFS_BLOCK_DISK_SIZE + 1];
	const size_t short_len = strlen(KAT_BLOCK10_PLAIN);

	kat_fill(fkey, sizeof(fkey), KAT_FILE_KEY_BASE);
	kat_fill(fid, sizeof(fid), KAT_FILE_ID_BASE);
	kat_fill(nonce, sizeof(nonce), KAT_BLOCK_NONCE_BASE);
	for (size_t i = 0; i < sizeof(plain); i++)
		plain[i] = (uint8_t)(i & 0xff);

	ck_assert_int_eq(medfs_block_seal_with_nonce(sealed, plain, MEDFS_BLOCK_SIZE,
						     fkey, fid, KAT_BLOCK4096_INDEX,
						     nonce),
			 MEDFS_BLOCK_DISK_SIZE);
	kat_hex(hex, sealed, MEDFS_BLOCK_DISK_SIZE);
	ck_assert_str_eq(hex, kat_block4096_hex);
	ck_assert_int_eq(medfs_block_open(out, sealed, MEDFS_BLOCK_DISK_SIZE, fkey, fid,
					  KAT_BLOCK4096_INDEX),
			 MEDFS_BLOCK_SIZE);
	ck_assert_mem_eq(out, plain, MEDFS_BLOCK_SIZE);

	ck_assert_int_eq(short_len, 10);
	ck_assert_int_eq(medfs_block_seal_with_nonce(
				 sealed, (const uint8_t *)KAT_BLOCK10_PLAIN, short_len,
				 fkey, fid, KAT_BLOCK10_INDEX, nonce),
			 (int)(short_len + MEDFS_BLOCK_OVERHEAD));
	kat_hex(hex, sealed, short_len + MEDFS_BLOCK_OVERHEAD);
	ck_assert_str_eq(hex, kat_block10_hex);
	ck_assert_int_eq(medfs_block_open(out, sealed, short_len + MEDFS_BLOCK_OVERHEAD,
					  fkey, fid, KAT_BLOCK10_INDEX),
			 (int)short_len);
	ck_assert_mem_eq(out, KAT_BLOCK10_PLAIN, short_len);
}
END_TEST

static const uint64_t plain_sizes[] = {
	0, 1, 4095, 4096, 4097, 10 * 4096 + 5, 8192, UINT64_C(1) << 40,
};

START_TEST(test_size_round_trip)
{
	uint64_t p = plain_sizes[_i];

	ck_assert_int_eq(medfs_plain_size(medfs_disk_size(p)), (int64_t)p);
}
END_TEST

START_TEST(test_size_values)
{
	ck_assert_uint_eq(medfs_disk_size(0), 104);
	ck_assert_uint_eq(medfs_disk_size(1), 104 + 41);
	ck_assert_uint_eq(medfs_disk_size(4095), 104 + 4135);
	ck_assert_uint_eq(medfs_disk_size(4096), 104 + 4136);
	ck_assert_uint_eq(medfs_disk_size(4097), 104 + 4136 + 41);
	ck_assert_uint_eq(medfs_disk_size(10 * 4096 + 5), 104 + 10 * 4136 + 45);

	ck_assert_int_eq(medfs_plain_size(104), 0);
	ck_assert_int_eq(medfs_plain_size(104 + 41), 1);
	ck_assert_int_eq(medfs_plain_size(104 + 4136), 4096);
	ck_assert_int_eq(medfs_plain_size(104 + 4136 + 41), 4097);

	ck_assert_uint_eq(medfs_block_disk_offset(0), 104);
	ck_assert_uint_eq(medfs_block_disk_offset(1), 104 + 4136);
	ck_assert_uint_eq(medfs_block_disk_offset(10), 104 + 10 * 4136);
}
END_TEST

START_TEST(test_size_invalid)
{
	ck_assert_int_eq(medfs_plain_size(0), -EBADMSG);
	ck_assert_int_eq(medfs_plain_size(50), -EBADMSG);
	ck_assert_int_eq(medfs_plain_size(103), -EBADMSG);
	ck_assert_int_eq(medfs_plain_size(104 + 1), -EBADMSG);
	ck_assert_int_eq(medfs_plain_size(104 + 40), -EBADMSG);
	ck_assert_int_eq(medfs_plain_size(104 + 4136 + 20), -EBADMSG);
	ck_assert_int_eq(medfs_plain_size(104 + 4136 + 40), -EBADMSG);
	ck_assert_int_eq(medfs_plain_size(UINT64_MAX), -EBADMSG);
}
END_TEST

static Suite *block_suite(void)
{
	Suite *s = suite_create("block");
	TCase *tc;

	tc = tcase_create("seal");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_loop_test(tc, test_round_trip, 0, sizeof(lengths) / sizeof(lengths[0]));
	tcase_add_test(tc, test_invalid_lengths);
	tcase_add_test(tc, test_nonce_aliasing_out);
	tcase_add_test(tc, test_kat);
	suite_add_tcase(s, tc);

	tc = tcase_create("tamper");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_flip_every_bit_short);
	tcase_add_test(tc, test_flip_every_byte_full);
	tcase_add_test(tc, test_wrong_context);
	tcase_add_test(tc, test_truncated_and_extended);
	tcase_add_test(tc, test_all_zero_block);
	suite_add_tcase(s, tc);

	tc = tcase_create("size");
	tcase_add_loop_test(tc, test_size_round_trip, 0,
			    sizeof(plain_sizes) / sizeof(plain_sizes[0]));
	tcase_add_test(tc, test_size_values);
	tcase_add_test(tc, test_size_invalid);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (medfs_crypto_init() != 0)
		return EXIT_FAILURE;
	sr = srunner_create(block_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
