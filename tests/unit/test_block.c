/* Unit tests: content blocks with both ciphers, and the disk/plain size
 * mapping. */
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

/* Both ciphers, in the order of the loop tests below. */
static const uint32_t ciphers[] = { MEDFS_CIPHER_XCHACHA20POLY1305,
				    MEDFS_CIPHER_AES256GCM };
#define NCIPHERS (sizeof(ciphers) / sizeof(ciphers[0]))

/* false (after checking that blocks of cipher are refused as such) when
 * this CPU cannot run cipher: the test has nothing more to do. */
static bool usable(uint32_t cipher)
{
	uint8_t plain[1] = { 0 }, sealed[1 + MEDFS_BLOCK_OVERHEAD] = { 0 };

	if (medfs_block_cipher_check(cipher) == 0)
		return true;
	ck_assert_uint_eq(cipher, MEDFS_CIPHER_AES256GCM);
	ck_assert_int_eq(medfs_block_seal(sealed, plain, 1, cipher, key, file_id, 0),
			 -ENOTSUP);
	ck_assert_int_eq(
		medfs_block_open(plain, sealed, sizeof(sealed), cipher, key, file_id, 0),
		-ENOTSUP);
	return false;
}

/* Where the nonce proper ends in the nonce field. */
static size_t nonce_len(uint32_t cipher)
{
	return cipher == MEDFS_CIPHER_AES256GCM ? MEDFS_BLOCK_AES_NONCE_LEN
						: MEDFS_BLOCK_NONCE_LEN;
}

static const size_t lengths[] = { 1, 17, 4095, 4096 };
#define NLENGTHS (sizeof(lengths) / sizeof(lengths[0]))

START_TEST(test_round_trip)
{
	uint32_t cipher = ciphers[_i / NLENGTHS];
	size_t len = lengths[_i % NLENGTHS], n = nonce_len(cipher);
	uint8_t plain[MEDFS_BLOCK_SIZE], back[MEDFS_BLOCK_SIZE];
	uint8_t sealed[MEDFS_BLOCK_DISK_SIZE], again[MEDFS_BLOCK_DISK_SIZE];

	if (!usable(cipher))
		return;
	randombytes_buf(plain, len);
	ck_assert_int_eq(medfs_block_seal(sealed, plain, len, cipher, key, file_id, 5),
			 (int)(len + MEDFS_BLOCK_OVERHEAD));
	ck_assert_int_eq(medfs_block_open(back, sealed, len + MEDFS_BLOCK_OVERHEAD,
					  cipher, key, file_id, 5),
			 (int)len);
	ck_assert_mem_eq(back, plain, len);
	/* Ciphertext is not the plaintext. */
	ck_assert(memcmp(sealed + MEDFS_BLOCK_NONCE_LEN, plain, len) != 0 || len < 4);
	/* The nonce field: a nonce, then zeros up to its end. */
	ck_assert(all_zero(sealed + n, MEDFS_BLOCK_NONCE_LEN - n));
	ck_assert(!all_zero(sealed, n));
	/* A fresh nonce on every seal. */
	ck_assert_int_eq(medfs_block_seal(again, plain, len, cipher, key, file_id, 5),
			 (int)(len + MEDFS_BLOCK_OVERHEAD));
	ck_assert(memcmp(again, sealed, n) != 0);
	ck_assert(memcmp(again, sealed, len + MEDFS_BLOCK_OVERHEAD) != 0);
}
END_TEST

/* A block sealed with one cipher does not open with the other. */
START_TEST(test_cipher_mismatch)
{
	uint8_t plain[100], out[100], sealed[100 + MEDFS_BLOCK_OVERHEAD];
	uint32_t cipher = ciphers[_i], other = ciphers[(_i + 1) % NCIPHERS];

	if (!usable(MEDFS_CIPHER_AES256GCM))
		return;
	randombytes_buf(plain, sizeof(plain));
	ck_assert_int_eq(
		medfs_block_seal(sealed, plain, sizeof(plain), cipher, key, file_id, 1),
		(int)sizeof(sealed));
	memset(out, 0xa5, sizeof(out));
	ck_assert_int_eq(
		medfs_block_open(out, sealed, sizeof(sealed), other, key, file_id, 1),
		-EBADMSG);
	ck_assert(all_zero(out, sizeof(out)));
	ck_assert_int_eq(
		medfs_block_open(out, sealed, sizeof(sealed), cipher, key, file_id, 1),
		(int)sizeof(plain));
}
END_TEST

START_TEST(test_unknown_cipher)
{
	static const uint32_t bad[] = { 0, 3, 0x102, UINT32_MAX };
	uint8_t plain[16] = { 0 }, sealed[16 + MEDFS_BLOCK_OVERHEAD] = { 0 };
	uint8_t nonce[MEDFS_BLOCK_NONCE_LEN] = { 0 };
	uint32_t c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(medfs_block_cipher_check(bad[i]), -EINVAL);
		ck_assert_ptr_null(medfs_block_cipher_name(bad[i]));
		ck_assert_int_eq(medfs_block_seal(sealed, plain, sizeof(plain), bad[i],
						  key, file_id, 0),
				 -EINVAL);
		ck_assert_int_eq(medfs_block_seal_with_nonce(sealed, plain, sizeof(plain),
							     bad[i], key, file_id, 0,
							     nonce),
				 -EINVAL);
		ck_assert_int_eq(medfs_block_open(plain, sealed, sizeof(sealed), bad[i],
						  key, file_id, 0),
				 -EINVAL);
	}
	/* Names, both ways. */
	ck_assert_str_eq(medfs_block_cipher_name(MEDFS_CIPHER_AES256GCM), "aes256gcm");
	ck_assert_str_eq(medfs_block_cipher_name(MEDFS_CIPHER_XCHACHA20POLY1305),
			 "xchacha20poly1305");
	ck_assert_int_eq(medfs_block_cipher_from_name("aes256gcm", &c), 0);
	ck_assert_uint_eq(c, MEDFS_CIPHER_AES256GCM);
	ck_assert_int_eq(medfs_block_cipher_from_name("xchacha20poly1305", &c), 0);
	ck_assert_uint_eq(c, MEDFS_CIPHER_XCHACHA20POLY1305);
	ck_assert_int_eq(medfs_block_cipher_from_name("AES256GCM", &c), -EINVAL);
	ck_assert_int_eq(medfs_block_cipher_from_name("aes", &c), -EINVAL);
	ck_assert_int_eq(medfs_block_cipher_from_name("", &c), -EINVAL);
	/* The default is what this CPU runs best. */
	ck_assert_uint_eq(medfs_block_cipher_default(),
			  crypto_aead_aes256gcm_is_available()
				  ? MEDFS_CIPHER_AES256GCM
				  : MEDFS_CIPHER_XCHACHA20POLY1305);
	ck_assert_int_eq(medfs_block_cipher_check(medfs_block_cipher_default()), 0);
}
END_TEST

START_TEST(test_invalid_lengths)
{
	uint32_t cipher = ciphers[_i];
	uint8_t plain[MEDFS_BLOCK_SIZE + 1] = { 0 };
	uint8_t sealed[MEDFS_BLOCK_DISK_SIZE + 1] = { 0 };
	uint8_t nonce[MEDFS_BLOCK_NONCE_LEN] = { 0 };

	if (!usable(cipher))
		return;
	ck_assert_int_eq(medfs_block_seal(sealed, plain, 0, cipher, key, file_id, 0),
			 -EINVAL);
	ck_assert_int_eq(medfs_block_seal(sealed, plain, MEDFS_BLOCK_SIZE + 1, cipher,
					  key, file_id, 0),
			 -EINVAL);
	ck_assert_int_eq(medfs_block_seal_with_nonce(sealed, plain, 0, cipher, key,
						     file_id, 0, nonce),
			 -EINVAL);
	ck_assert_int_eq(medfs_block_seal_with_nonce(sealed, plain, MEDFS_BLOCK_SIZE + 1,
						     cipher, key, file_id, 0, nonce),
			 -EINVAL);
	ck_assert_int_eq(medfs_block_open(plain, sealed, 0, cipher, key, file_id, 0),
			 -EINVAL);
	ck_assert_int_eq(medfs_block_open(plain, sealed, MEDFS_BLOCK_OVERHEAD, cipher,
					  key, file_id, 0),
			 -EINVAL);
	ck_assert_int_eq(medfs_block_open(plain, sealed, MEDFS_BLOCK_DISK_SIZE + 1,
					  cipher, key, file_id, 0),
			 -EINVAL);
}
END_TEST

/* Flips single bits of a sealed block, at every position: every one
 * must fail and leave the output wiped. */
static void flip_all(uint32_t cipher, size_t len, const uint8_t *masks, size_t nmasks)
{
	uint8_t plain[MEDFS_BLOCK_SIZE], out[MEDFS_BLOCK_SIZE];
	uint8_t sealed[MEDFS_BLOCK_DISK_SIZE];
	size_t sealed_len = len + MEDFS_BLOCK_OVERHEAD;

	randombytes_buf(plain, len);
	ck_assert_int_eq(medfs_block_seal(sealed, plain, len, cipher, key, file_id, 9),
			 (int)sealed_len);
	for (size_t pos = 0; pos < sealed_len; pos++) {
		for (size_t m = 0; m < nmasks; m++) {
			sealed[pos] ^= masks[m];
			memset(out, 0xa5, len);
			ck_assert_msg(medfs_block_open(out, sealed, sealed_len, cipher,
						       key, file_id, 9) == -EBADMSG,
				      "cipher %u: flip %02x at %zu of %zu opened", cipher,
				      masks[m], pos, sealed_len);
			ck_assert_msg(all_zero(out, len), "output not wiped");
			sealed[pos] ^= masks[m];
		}
	}
	/* Untouched, it still opens. */
	ck_assert_int_eq(
		medfs_block_open(out, sealed, sealed_len, cipher, key, file_id, 9),
		(int)len);
	ck_assert_mem_eq(out, plain, len);
}

START_TEST(test_flip_every_bit_short)
{
	static const uint8_t masks[] = { 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80 };

	if (!usable(ciphers[_i]))
		return;
	flip_all(ciphers[_i], 1, masks, sizeof(masks));
	flip_all(ciphers[_i], 17, masks, sizeof(masks));
}
END_TEST

START_TEST(test_flip_every_byte_full)
{
	static const uint8_t masks[] = { 0x01, 0x80, 0xff };

	if (!usable(ciphers[_i]))
		return;
	flip_all(ciphers[_i], MEDFS_BLOCK_SIZE, masks, sizeof(masks));
	flip_all(ciphers[_i], MEDFS_BLOCK_SIZE - 1, masks, 1);
}
END_TEST

/* AES-256-GCM: the nonce field's last 12 bytes are outside the AEAD's
 * nonce. A block with them non-zero does not open, even when sealed so by
 * hand with the right key, nonce and AD. */
START_TEST(test_aes_nonce_padding)
{
	const uint32_t aes = MEDFS_CIPHER_AES256GCM;
	uint8_t plain[64], out[64], sealed[64 + MEDFS_BLOCK_OVERHEAD];
	uint8_t nonce[MEDFS_BLOCK_NONCE_LEN], ad[28];

	if (!usable(aes))
		return;
	randombytes_buf(plain, sizeof(plain));
	/* Whatever the caller's nonce holds past 12 bytes, zeros are written. */
	memset(nonce, 0xee, sizeof(nonce));
	ck_assert_int_eq(medfs_block_seal_with_nonce(sealed, plain, sizeof(plain), aes,
						     key, file_id, 7, nonce),
			 (int)sizeof(sealed));
	ck_assert_mem_eq(sealed, nonce, MEDFS_BLOCK_AES_NONCE_LEN);
	ck_assert(all_zero(sealed + MEDFS_BLOCK_AES_NONCE_LEN,
			   MEDFS_BLOCK_NONCE_LEN - MEDFS_BLOCK_AES_NONCE_LEN));
	ck_assert_int_eq(
		medfs_block_open(out, sealed, sizeof(sealed), aes, key, file_id, 7),
		(int)sizeof(plain));
	ck_assert_mem_eq(out, plain, sizeof(plain));
	/* Each padding byte set in turn. */
	for (size_t i = MEDFS_BLOCK_AES_NONCE_LEN; i < MEDFS_BLOCK_NONCE_LEN; i++) {
		sealed[i] = 1;
		memset(out, 0xa5, sizeof(out));
		ck_assert_int_eq(medfs_block_open(out, sealed, sizeof(sealed), aes, key,
						  file_id, 7),
				 -EBADMSG);
		ck_assert(all_zero(out, sizeof(out)));
		sealed[i] = 0;
	}
	/* A valid AES-GCM ciphertext behind a non-zero padding. */
	memcpy(ad, "MDFB", 4);
	memcpy(ad + 4, file_id, MEDFS_FILE_ID_LEN);
	for (int i = 0; i < 8; i++)
		ad[20 + i] = (uint8_t)(i == 0 ? 7 : 0);
	memset(sealed + MEDFS_BLOCK_AES_NONCE_LEN, 0xee,
	       MEDFS_BLOCK_NONCE_LEN - MEDFS_BLOCK_AES_NONCE_LEN);
	crypto_aead_aes256gcm_encrypt(sealed + MEDFS_BLOCK_NONCE_LEN, NULL, plain,
				      sizeof(plain), ad, sizeof(ad), NULL, sealed, key);
	ck_assert_int_eq(
		medfs_block_open(out, sealed, sizeof(sealed), aes, key, file_id, 7),
		-EBADMSG);
	memset(sealed + MEDFS_BLOCK_AES_NONCE_LEN, 0,
	       MEDFS_BLOCK_NONCE_LEN - MEDFS_BLOCK_AES_NONCE_LEN);
	ck_assert_int_eq(
		medfs_block_open(out, sealed, sizeof(sealed), aes, key, file_id, 7),
		(int)sizeof(plain));
	ck_assert_mem_eq(out, plain, sizeof(plain));
}
END_TEST

START_TEST(test_wrong_context)
{
	uint32_t cipher = ciphers[_i];
	uint8_t plain[100], out[100], sealed[100 + MEDFS_BLOCK_OVERHEAD];
	uint8_t other_id[MEDFS_FILE_ID_LEN], other_key[MEDFS_KEY_LEN];
	const size_t n = sizeof(sealed);

	if (!usable(cipher))
		return;
	randombytes_buf(plain, sizeof(plain));
	ck_assert_int_eq(
		medfs_block_seal(sealed, plain, sizeof(plain), cipher, key, file_id, 1),
		(int)n);

	memset(out, 0xa5, sizeof(out));
	ck_assert_int_eq(medfs_block_open(out, sealed, n, cipher, key, file_id, 0),
			 -EBADMSG);
	ck_assert(all_zero(out, sizeof(out)));
	ck_assert_int_eq(medfs_block_open(out, sealed, n, cipher, key, file_id, 2),
			 -EBADMSG);
	/* The index is 64-bit: a high bit alone must matter. */
	ck_assert_int_eq(medfs_block_open(out, sealed, n, cipher, key, file_id,
					  1 | UINT64_C(1) << 63),
			 -EBADMSG);

	memcpy(other_id, file_id, sizeof(other_id));
	other_id[15] ^= 1;
	memset(out, 0xa5, sizeof(out));
	ck_assert_int_eq(medfs_block_open(out, sealed, n, cipher, key, other_id, 1),
			 -EBADMSG);
	ck_assert(all_zero(out, sizeof(out)));

	memcpy(other_key, key, sizeof(other_key));
	other_key[0] ^= 1;
	memset(out, 0xa5, sizeof(out));
	ck_assert_int_eq(medfs_block_open(out, sealed, n, cipher, other_key, file_id, 1),
			 -EBADMSG);
	ck_assert(all_zero(out, sizeof(out)));

	ck_assert_int_eq(medfs_block_open(out, sealed, n, cipher, key, file_id, 1), 100);
	ck_assert_mem_eq(out, plain, sizeof(plain));
}
END_TEST

START_TEST(test_truncated_and_extended)
{
	uint32_t cipher = ciphers[_i];
	uint8_t plain[MEDFS_BLOCK_SIZE], out[MEDFS_BLOCK_SIZE];
	uint8_t sealed[MEDFS_BLOCK_DISK_SIZE];
	const size_t len = 100, n = len + MEDFS_BLOCK_OVERHEAD;

	if (!usable(cipher))
		return;
	randombytes_buf(plain, len);
	ck_assert_int_eq(medfs_block_seal(sealed, plain, len, cipher, key, file_id, 0),
			 (int)n);
	/* Shorter by one byte, or cut down to the last possible length. */
	memset(out, 0xa5, sizeof(out));
	ck_assert_int_eq(medfs_block_open(out, sealed, n - 1, cipher, key, file_id, 0),
			 -EBADMSG);
	ck_assert(all_zero(out, len - 1));
	ck_assert_int_eq(medfs_block_open(out, sealed, MEDFS_BLOCK_OVERHEAD + 1, cipher,
					  key, file_id, 0),
			 -EBADMSG);
	ck_assert_int_eq(medfs_block_open(out, sealed, MEDFS_BLOCK_OVERHEAD, cipher, key,
					  file_id, 0),
			 -EINVAL);
	ck_assert_int_eq(medfs_block_open(out, sealed, MEDFS_BLOCK_NONCE_LEN, cipher, key,
					  file_id, 0),
			 -EINVAL);
	/* One byte appended. */
	sealed[n] = 0;
	ck_assert_int_eq(medfs_block_open(out, sealed, n + 1, cipher, key, file_id, 0),
			 -EBADMSG);
	ck_assert(all_zero(out, len + 1));
}
END_TEST

START_TEST(test_all_zero_block)
{
	uint32_t cipher = ciphers[_i];
	static const uint8_t zero[MEDFS_BLOCK_DISK_SIZE];
	uint8_t out[MEDFS_BLOCK_SIZE];

	if (!usable(cipher))
		return;
	/* A hole read back as zeros must not pass for a sealed block. */
	ck_assert_int_eq(
		medfs_block_open(out, zero, sizeof(zero), cipher, key, file_id, 0),
		-EBADMSG);
	ck_assert(all_zero(out, sizeof(out)));
	ck_assert_int_eq(medfs_block_open(out, zero, MEDFS_BLOCK_OVERHEAD + 1, cipher,
					  key, file_id, 0),
			 -EBADMSG);
	memset(key, 0, sizeof(key));
	memset(file_id, 0, sizeof(file_id));
	ck_assert_int_eq(
		medfs_block_open(out, zero, sizeof(zero), cipher, key, file_id, 0),
		-EBADMSG);
}
END_TEST

START_TEST(test_nonce_aliasing_out)
{
	uint32_t cipher = ciphers[_i];
	uint8_t plain[32], out[32], sealed[32 + MEDFS_BLOCK_OVERHEAD];

	if (!usable(cipher))
		return;
	randombytes_buf(plain, sizeof(plain));
	randombytes_buf(sealed, MEDFS_BLOCK_NONCE_LEN);
	/* The nonce may already sit in out. */
	ck_assert_int_eq(medfs_block_seal_with_nonce(sealed, plain, sizeof(plain), cipher,
						     key, file_id, 4, sealed),
			 (int)sizeof(sealed));
	ck_assert_int_eq(
		medfs_block_open(out, sealed, sizeof(sealed), cipher, key, file_id, 4),
		(int)sizeof(plain));
	ck_assert_mem_eq(out, plain, sizeof(plain));
}
END_TEST

START_TEST(test_kat)
{
	const uint32_t xc = MEDFS_CIPHER_XCHACHA20POLY1305;
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

	ck_assert_int_eq(medfs_block_seal_with_nonce(sealed, plain, MEDFS_BLOCK_SIZE, xc,
						     fkey, fid, KAT_BLOCK4096_INDEX,
						     nonce),
			 MEDFS_BLOCK_DISK_SIZE);
	kat_hex(hex, sealed, MEDFS_BLOCK_DISK_SIZE);
	ck_assert_str_eq(hex, kat_block4096_hex);
	ck_assert_int_eq(medfs_block_open(out, sealed, MEDFS_BLOCK_DISK_SIZE, xc, fkey,
					  fid, KAT_BLOCK4096_INDEX),
			 MEDFS_BLOCK_SIZE);
	ck_assert_mem_eq(out, plain, MEDFS_BLOCK_SIZE);

	ck_assert_int_eq(short_len, 10);
	ck_assert_int_eq(medfs_block_seal_with_nonce(
				 sealed, (const uint8_t *)KAT_BLOCK10_PLAIN, short_len,
				 xc, fkey, fid, KAT_BLOCK10_INDEX, nonce),
			 (int)(short_len + MEDFS_BLOCK_OVERHEAD));
	kat_hex(hex, sealed, short_len + MEDFS_BLOCK_OVERHEAD);
	ck_assert_str_eq(hex, kat_block10_hex);
	ck_assert_int_eq(medfs_block_open(out, sealed, short_len + MEDFS_BLOCK_OVERHEAD,
					  xc, fkey, fid, KAT_BLOCK10_INDEX),
			 (int)short_len);
	ck_assert_mem_eq(out, KAT_BLOCK10_PLAIN, short_len);
}
END_TEST

START_TEST(test_kat_aes)
{
	const uint32_t aes = MEDFS_CIPHER_AES256GCM;
	uint8_t fkey[MEDFS_KEY_LEN], fid[MEDFS_FILE_ID_LEN];
	uint8_t nonce[MEDFS_BLOCK_NONCE_LEN], ad[28], hash[32];
	uint8_t plain[MEDFS_BLOCK_SIZE], out[MEDFS_BLOCK_SIZE];
	uint8_t sealed[MEDFS_BLOCK_DISK_SIZE], direct[MEDFS_BLOCK_DISK_SIZE];
	char hex[2 * MEDFS_BLOCK_DISK_SIZE + 1];
	const size_t short_len = strlen(KAT_BLOCK10_PLAIN);

	if (!usable(aes))
		return;
	kat_fill(fkey, sizeof(fkey), KAT_FILE_KEY_BASE);
	kat_fill(fid, sizeof(fid), KAT_FILE_ID_BASE);
	kat_fill(nonce, sizeof(nonce), KAT_BLOCK_NONCE_BASE);
	for (size_t i = 0; i < sizeof(plain); i++)
		plain[i] = (uint8_t)(i & 0xff);

	ck_assert_int_eq(medfs_block_seal_with_nonce(sealed, plain, MEDFS_BLOCK_SIZE, aes,
						     fkey, fid, KAT_BLOCK4096_INDEX,
						     nonce),
			 MEDFS_BLOCK_DISK_SIZE);
	crypto_generichash(hash, sizeof(hash), sealed, MEDFS_BLOCK_DISK_SIZE, NULL, 0);
	kat_hex(hex, hash, sizeof(hash));
	ck_assert_str_eq(hex, kat_aes_block4096_blake2b_hex);
	kat_hex(hex, sealed, 64);
	ck_assert_str_eq(hex, kat_aes_block4096_head_hex);
	kat_hex(hex, sealed + MEDFS_BLOCK_DISK_SIZE - MEDFS_BLOCK_TAG_LEN,
		MEDFS_BLOCK_TAG_LEN);
	ck_assert_str_eq(hex, kat_aes_block4096_tag_hex);
	ck_assert_int_eq(medfs_block_open(out, sealed, MEDFS_BLOCK_DISK_SIZE, aes, fkey,
					  fid, KAT_BLOCK4096_INDEX),
			 MEDFS_BLOCK_SIZE);
	ck_assert_mem_eq(out, plain, MEDFS_BLOCK_SIZE);

	/* The layout of doc/FORMAT.md 4.2, built from libsodium directly:
	 * nonce (12) || 12 zero bytes || AES-256-GCM(file key, nonce, AD). */
	memset(direct, 0, sizeof(direct));
	memcpy(direct, nonce, MEDFS_BLOCK_AES_NONCE_LEN);
	memcpy(ad, "MDFB", 4);
	memcpy(ad + 4, fid, MEDFS_FILE_ID_LEN);
	for (int i = 0; i < 8; i++)
		ad[20 + i] = (uint8_t)((uint64_t)KAT_BLOCK4096_INDEX >> (8 * i));
	crypto_aead_aes256gcm_encrypt(direct + MEDFS_BLOCK_NONCE_LEN, NULL, plain,
				      MEDFS_BLOCK_SIZE, ad, sizeof(ad), NULL, direct,
				      fkey);
	ck_assert_mem_eq(direct, sealed, MEDFS_BLOCK_DISK_SIZE);

	ck_assert_int_eq(medfs_block_seal_with_nonce(
				 sealed, (const uint8_t *)KAT_BLOCK10_PLAIN, short_len,
				 aes, fkey, fid, KAT_BLOCK10_INDEX, nonce),
			 (int)(short_len + MEDFS_BLOCK_OVERHEAD));
	kat_hex(hex, sealed, short_len + MEDFS_BLOCK_OVERHEAD);
	ck_assert_str_eq(hex, kat_aes_block10_hex);
	ck_assert_int_eq(medfs_block_open(out, sealed, short_len + MEDFS_BLOCK_OVERHEAD,
					  aes, fkey, fid, KAT_BLOCK10_INDEX),
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
	tcase_add_loop_test(tc, test_round_trip, 0, NCIPHERS * NLENGTHS);
	tcase_add_loop_test(tc, test_invalid_lengths, 0, NCIPHERS);
	tcase_add_loop_test(tc, test_nonce_aliasing_out, 0, NCIPHERS);
	tcase_add_loop_test(tc, test_cipher_mismatch, 0, NCIPHERS);
	tcase_add_test(tc, test_unknown_cipher);
	tcase_add_test(tc, test_kat);
	tcase_add_test(tc, test_kat_aes);
	suite_add_tcase(s, tc);

	tc = tcase_create("tamper");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_flip_every_bit_short, 0, NCIPHERS);
	tcase_add_loop_test(tc, test_flip_every_byte_full, 0, NCIPHERS);
	tcase_add_test(tc, test_aes_nonce_padding);
	tcase_add_loop_test(tc, test_wrong_context, 0, NCIPHERS);
	tcase_add_loop_test(tc, test_truncated_and_extended, 0, NCIPHERS);
	tcase_add_loop_test(tc, test_all_zero_block, 0, NCIPHERS);
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
