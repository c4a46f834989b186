/* Unit tests: encrypted names, long names and symlink targets. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "kat.h"
#include "medfs/name.h"

#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

static uint8_t name_key[MEDFS_NAME_KEY_LEN];
static uint8_t link_key[MEDFS_KEY_LEN];
static uint8_t dir_id[MEDFS_DIR_ID_LEN];

static void setup(void)
{
	randombytes_buf(name_key, sizeof(name_key));
	randombytes_buf(link_key, sizeof(link_key));
	randombytes_buf(dir_id, sizeof(dir_id));
}

/* A name of len bytes, never '/', NUL, "." or "..". */
static void make_name(char *name, size_t len)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789 ._-+,;=#";

	for (size_t i = 0; i < len; i++)
		name[i] = chars[randombytes_uniform(sizeof(chars) - 1)];
	name[0] = 'N';
	name[len] = '\0';
}

/* The vault name length for a plaintext of len bytes. */
static size_t enc_len_for(size_t len)
{
	size_t padded = (len + 15) / 16 * 16;

	return sodium_base64_ENCODED_LEN(16 + padded, B64) - 1;
}

/* Builds a vault name by hand: siv over the first siv_len bytes of padded,
 * stream over all padded_len bytes. Lets tests authenticate plaintexts the
 * library would never produce. */
static void forge(char *out, size_t outsz, const uint8_t *padded, size_t padded_len,
		  size_t siv_len, const uint8_t dir[MEDFS_DIR_ID_LEN])
{
	uint8_t raw[16 + 512], nonce[24] = { 0 };
	crypto_generichash_state st;

	crypto_generichash_init(&st, name_key, 32, 16);
	crypto_generichash_update(&st, (const uint8_t *)"MDFN", 4);
	crypto_generichash_update(&st, dir, MEDFS_DIR_ID_LEN);
	crypto_generichash_update(&st, padded, siv_len);
	crypto_generichash_final(&st, raw, 16);
	memcpy(nonce, raw, 16);
	crypto_stream_xchacha20_xor(raw + 16, padded, padded_len, nonce, name_key + 32);
	sodium_bin2base64(out, outsz, raw, 16 + padded_len, B64);
}

static const size_t lengths[] = { 1, 15, 16, 17, 112, 113, 200, 255 };

START_TEST(test_round_trip)
{
	size_t len = lengths[_i];
	char name[MEDFS_NAME_MAX + 1], enc[MEDFS_NAME_ENC_MAX];
	char back[MEDFS_NAME_MAX + 1], forged[MEDFS_NAME_ENC_MAX];
	uint8_t padded[256] = { 0 };
	int n;

	make_name(name, len);
	n = medfs_name_encrypt(enc, sizeof(enc), name, len, dir_id, name_key);
	ck_assert_int_eq(n, (int)enc_len_for(len));
	ck_assert_uint_eq(strlen(enc), (size_t)n);
	ck_assert_uint_eq(strspn(enc,
				 "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				 "0123456789-_"),
			  (size_t)n);
	ck_assert_int_eq(
		medfs_name_decrypt(back, sizeof(back), enc, (size_t)n, dir_id, name_key),
		(int)len);
	ck_assert_str_eq(back, name);
	/* The construction, rebuilt by hand, gives the same vault name. */
	memcpy(padded, name, len);
	forge(forged, sizeof(forged), padded, (len + 15) / 16 * 16, len, dir_id);
	ck_assert_str_eq(forged, enc);
}
END_TEST

/* libsodium 1.0.18 reads bytes 0x80..0xff as '_': such a byte in place of
 * an '_' (or of any character) must not authenticate. */
START_TEST(test_non_alphabet_rejected)
{
	char enc[MEDFS_NAME_ENC_MAX], back[MEDFS_NAME_MAX + 1];
	int n, tried = 0;

	/* Names until one encodes with an '_' in it. */
	for (unsigned k = 0; k < 1000 && !tried; k++) {
		char name[32];
		char *u;

		snprintf(name, sizeof(name), "scan-%u.dcm", k);
		n = medfs_name_encrypt(enc, sizeof(enc), name, strlen(name), dir_id,
				       name_key);
		ck_assert_int_gt(n, 0);
		u = memchr(enc, '_', (size_t)n);
		if (!u)
			continue;
		for (unsigned c = 0x80; c <= 0xff; c++) {
			*u = (char)c;
			ck_assert_int_eq(medfs_name_decrypt(back, sizeof(back), enc,
							    (size_t)n, dir_id, name_key),
					 -EBADMSG);
		}
		tried = 1;
	}
	ck_assert_int_eq(tried, 1);
}
END_TEST

START_TEST(test_round_trip_utf8)
{
	static const char *const names[] = {
		"Ærøskøbing-患者-ﬁ.dcm", "Страница 1 — résumé.txt",
		"\xf0\x9f\xa9\xbb\xf0\x9f\x93\x81", /* four-byte sequences */
	};
	char name[MEDFS_NAME_MAX + 1], enc[MEDFS_NAME_ENC_MAX], back[MEDFS_NAME_MAX + 1];
	int n;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t len = strlen(names[i]);

		n = medfs_name_encrypt(enc, sizeof(enc), names[i], len, dir_id, name_key);
		ck_assert_int_eq(n, (int)enc_len_for(len));
		ck_assert_int_eq(medfs_name_decrypt(back, sizeof(back), enc, (size_t)n,
						    dir_id, name_key),
				 (int)len);
		ck_assert_str_eq(back, names[i]);
	}
	/* 255 bytes of UTF-8: 127 two-byte "é" and one 'x'. */
	for (int i = 0; i < 127; i++)
		memcpy(name + 2 * i, "\xc3\xa9", 2);
	memcpy(name + 254, "x", 2);
	ck_assert_uint_eq(strlen(name), 255);
	n = medfs_name_encrypt(enc, sizeof(enc), name, 255, dir_id, name_key);
	ck_assert_int_eq(n, (int)enc_len_for(255));
	ck_assert_int_eq(
		medfs_name_decrypt(back, sizeof(back), enc, (size_t)n, dir_id, name_key),
		255);
	ck_assert_str_eq(back, name);
}
END_TEST

START_TEST(test_deterministic_per_dir)
{
	const char *name = "patient-0001.dcm";
	char a[MEDFS_NAME_ENC_MAX], b[MEDFS_NAME_ENC_MAX], back[MEDFS_NAME_MAX + 1];
	uint8_t other_dir[MEDFS_DIR_ID_LEN], other_key[MEDFS_NAME_KEY_LEN];
	int n;

	n = medfs_name_encrypt(a, sizeof(a), name, strlen(name), dir_id, name_key);
	ck_assert_int_eq(n, 43);
	ck_assert_int_eq(
		medfs_name_encrypt(b, sizeof(b), name, strlen(name), dir_id, name_key),
		n);
	ck_assert_str_eq(a, b);

	memcpy(other_dir, dir_id, sizeof(other_dir));
	other_dir[0] ^= 1;
	ck_assert_int_eq(
		medfs_name_encrypt(b, sizeof(b), name, strlen(name), other_dir, name_key),
		n);
	ck_assert_str_ne(a, b);
	memset(back, 0x55, sizeof(back));
	ck_assert_int_eq(
		medfs_name_decrypt(back, sizeof(back), a, (size_t)n, other_dir, name_key),
		-EBADMSG);
	ck_assert_int_eq(
		medfs_name_decrypt(back, sizeof(back), b, (size_t)n, dir_id, name_key),
		-EBADMSG);

	/* Either half of the name key matters. */
	for (size_t half = 0; half < 2; half++) {
		memcpy(other_key, name_key, sizeof(other_key));
		other_key[half * 32 + 5] ^= 1;
		ck_assert_int_eq(medfs_name_decrypt(back, sizeof(back), a, (size_t)n,
						    dir_id, other_key),
				 -EBADMSG);
	}

	/* Names differing in one byte, or by a trailing byte, differ. */
	ck_assert_int_eq(medfs_name_encrypt(b, sizeof(b), "patient-0001.dcn", 16, dir_id,
					    name_key),
			 n);
	ck_assert_str_ne(a, b);
	ck_assert_int_eq(medfs_name_encrypt(a, sizeof(a), "abc", 3, dir_id, name_key),
			 43);
	ck_assert_int_eq(medfs_name_encrypt(b, sizeof(b), "abcd", 4, dir_id, name_key),
			 43);
	ck_assert(memcmp(a, b, 22) != 0); /* the SIVs differ */
}
END_TEST

START_TEST(test_flip_chars)
{
	char name[201], enc[MEDFS_NAME_ENC_MAX], bad[MEDFS_NAME_ENC_MAX + 8];
	char back[MEDFS_NAME_MAX + 1];
	static const size_t sizes[] = { 1, 16, 17, 200 };

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		int n;

		make_name(name, sizes[s]);
		n = medfs_name_encrypt(enc, sizeof(enc), name, sizes[s], dir_id,
				       name_key);
		ck_assert_int_gt(n, 0);
		for (int pos = 0; pos < n; pos++) {
			static const char repl[] = { 'A', 'B', '-', '_', '0' };

			memcpy(bad, enc, (size_t)n + 1);
			bad[pos] ^= 0x01;
			ck_assert_msg(medfs_name_decrypt(back, sizeof(back), bad,
							 (size_t)n, dir_id,
							 name_key) == -EBADMSG,
				      "xor at %d", pos);
			for (size_t r = 0; r < sizeof(repl); r++) {
				if (enc[pos] == repl[r])
					continue;
				bad[pos] = repl[r];
				ck_assert_msg(medfs_name_decrypt(back, sizeof(back), bad,
								 (size_t)n, dir_id,
								 name_key) == -EBADMSG,
					      "%c at %d", repl[r], pos);
			}
		}
		/* Shortened, lengthened, or with non-alphabet characters. */
		ck_assert_int_eq(medfs_name_decrypt(back, sizeof(back), enc,
						    (size_t)n - 1, dir_id, name_key),
				 -EBADMSG);
		ck_assert_int_eq(medfs_name_decrypt(back, sizeof(back), enc,
						    (size_t)n - 4, dir_id, name_key),
				 -EBADMSG);
		memcpy(bad, enc, (size_t)n);
		memcpy(bad + n, "AAAA", 5);
		ck_assert_int_eq(medfs_name_decrypt(back, sizeof(back), bad,
						    (size_t)n + 4, dir_id, name_key),
				 -EBADMSG);
		memcpy(bad, enc, (size_t)n + 1);
		bad[n / 2] = '=';
		ck_assert_int_eq(medfs_name_decrypt(back, sizeof(back), bad, (size_t)n,
						    dir_id, name_key),
				 -EBADMSG);
		bad[n / 2] = '+';
		ck_assert_int_eq(medfs_name_decrypt(back, sizeof(back), bad, (size_t)n,
						    dir_id, name_key),
				 -EBADMSG);
	}
}
END_TEST

START_TEST(test_decrypt_garbage)
{
	char back[MEDFS_NAME_MAX + 1], big[1000];

	ck_assert_int_eq(medfs_name_decrypt(back, sizeof(back), "", 0, dir_id, name_key),
			 -EBADMSG);
	ck_assert_int_eq(
		medfs_name_decrypt(back, sizeof(back), "hello", 5, dir_id, name_key),
		-EBADMSG);
	ck_assert_int_eq(medfs_name_decrypt(back, sizeof(back), ".medfs-dir", 10, dir_id,
					    name_key),
			 -EBADMSG);
	/* 16 bytes: a SIV and no name. */
	ck_assert_int_eq(medfs_name_decrypt(back, sizeof(back), "AAAAAAAAAAAAAAAAAAAAAA",
					    22, dir_id, name_key),
			 -EBADMSG);
	memset(big, 'A', sizeof(big));
	ck_assert_int_eq(medfs_name_decrypt(back, sizeof(back), big, sizeof(big), dir_id,
					    name_key),
			 -EBADMSG);
	ck_assert_int_eq(medfs_name_decrypt(back, sizeof(back), big,
					    MEDFS_NAME_ENC_MAX - 1, dir_id, name_key),
			 -EBADMSG);
}
END_TEST

/* Authentic plaintexts that are still not acceptable names. */
START_TEST(test_decrypt_forged)
{
	char enc[MEDFS_NAME_ENC_MAX + 64], back[MEDFS_NAME_MAX + 1];
	uint8_t padded[512];

	memset(padded, 0, sizeof(padded));
	memcpy(padded, "ok", 2);
	forge(enc, sizeof(enc), padded, 16, 2, dir_id);
	ck_assert_int_eq(medfs_name_decrypt(back, sizeof(back), enc, strlen(enc), dir_id,
					    name_key),
			 2);
	/* Too small an output. */
	ck_assert_int_eq(medfs_name_decrypt(back, 2, enc, strlen(enc), dir_id, name_key),
			 -EINVAL);
	ck_assert_int_eq(medfs_name_decrypt(back, 3, enc, strlen(enc), dir_id, name_key),
			 2);

	/* A whole block of zero padding. */
	forge(enc, sizeof(enc), padded, 32, 2, dir_id);
	ck_assert_int_eq(medfs_name_decrypt(back, sizeof(back), enc, strlen(enc), dir_id,
					    name_key),
			 -EBADMSG);
	/* Exactly 16 zero bytes after a 16-byte name. */
	memcpy(padded, "0123456789abcdef", 16);
	forge(enc, sizeof(enc), padded, 16, 16, dir_id);
	ck_assert_int_eq(medfs_name_decrypt(back, sizeof(back), enc, strlen(enc), dir_id,
					    name_key),
			 16);
	forge(enc, sizeof(enc), padded, 32, 16, dir_id);
	ck_assert_int_eq(medfs_name_decrypt(back, sizeof(back), enc, strlen(enc), dir_id,
					    name_key),
			 -EBADMSG);
	memset(padded, 0, 16);
	memcpy(padded, "ok", 2);
	/* Not a multiple of 16. */
	forge(enc, sizeof(enc), padded, 20, 2, dir_id);
	ck_assert_int_eq(medfs_name_decrypt(back, sizeof(back), enc, strlen(enc), dir_id,
					    name_key),
			 -EBADMSG);
	/* All zeros: an empty name. */
	forge(enc, sizeof(enc), padded + 100, 16, 0, dir_id);
	ck_assert_int_eq(medfs_name_decrypt(back, sizeof(back), enc, strlen(enc), dir_id,
					    name_key),
			 -EBADMSG);
	/* Longer than 255 bytes (272 padded). */
	memset(padded, 'z', 260);
	forge(enc, sizeof(enc), padded, 272, 260, dir_id);
	ck_assert_int_eq(medfs_name_decrypt(back, sizeof(back), enc, strlen(enc), dir_id,
					    name_key),
			 -EBADMSG);

	static const struct {
		const char *s;
		size_t len;
	} bad[] = { { ".", 1 }, { "..", 2 }, { "a/b", 3 }, { "/", 1 }, { "a\0b", 3 } };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(padded, 0, sizeof(padded));
		memcpy(padded, bad[i].s, bad[i].len);
		forge(enc, sizeof(enc), padded, 16, bad[i].len, dir_id);
		ck_assert_msg(medfs_name_decrypt(back, sizeof(back), enc, strlen(enc),
						 dir_id, name_key) == -EBADMSG,
			      "forged name %zu accepted", i);
	}
}
END_TEST

START_TEST(test_invalid_names)
{
	char enc[MEDFS_NAME_ENC_MAX], name[300];

	ck_assert_int_eq(medfs_name_encrypt(enc, sizeof(enc), ".", 1, dir_id, name_key),
			 -EINVAL);
	ck_assert_int_eq(medfs_name_encrypt(enc, sizeof(enc), "..", 2, dir_id, name_key),
			 -EINVAL);
	ck_assert_int_eq(medfs_name_encrypt(enc, sizeof(enc), "a/b", 3, dir_id, name_key),
			 -EINVAL);
	ck_assert_int_eq(medfs_name_encrypt(enc, sizeof(enc), "/", 1, dir_id, name_key),
			 -EINVAL);
	ck_assert_int_eq(medfs_name_encrypt(enc, sizeof(enc), "", 0, dir_id, name_key),
			 -EINVAL);
	ck_assert_int_eq(
		medfs_name_encrypt(enc, sizeof(enc), "a\0b", 3, dir_id, name_key),
		-EINVAL);
	make_name(name, 256);
	ck_assert_int_eq(
		medfs_name_encrypt(enc, sizeof(enc), name, 256, dir_id, name_key),
		-ENAMETOOLONG);
	/* "..." and ".x" are ordinary names. */
	ck_assert_int_eq(medfs_name_encrypt(enc, sizeof(enc), "...", 3, dir_id, name_key),
			 43);
	ck_assert_int_eq(medfs_name_encrypt(enc, sizeof(enc), ".x", 2, dir_id, name_key),
			 43);
	/* Output room: 43 characters and the NUL. */
	ck_assert_int_eq(medfs_name_encrypt(enc, 43, "a", 1, dir_id, name_key), -EINVAL);
	ck_assert_int_eq(medfs_name_encrypt(enc, 44, "a", 1, dir_id, name_key), 43);
	make_name(name, 255);
	ck_assert_int_eq(
		medfs_name_encrypt(enc, sizeof(enc), name, 255, dir_id, name_key),
		(int)enc_len_for(255));
	ck_assert_int_lt(enc_len_for(255), MEDFS_NAME_ENC_MAX);
}
END_TEST

START_TEST(test_entry)
{
	char name[256], enc[MEDFS_NAME_ENC_MAX], entry[MEDFS_NAME_ENC_MAX];
	char entry2[MEDFS_NAME_ENC_MAX];
	uint8_t other_key[MEDFS_NAME_KEY_LEN];
	int n;

	/* 112 bytes is the longest name kept as is (171 characters). */
	make_name(name, 112);
	n = medfs_name_encrypt(enc, sizeof(enc), name, 112, dir_id, name_key);
	ck_assert_int_eq(n, 171);
	ck_assert_int_eq(medfs_name_entry(entry, sizeof(entry), enc, (size_t)n, name_key),
			 n);
	ck_assert_str_eq(entry, enc);
	ck_assert(!medfs_name_is_long(entry));

	make_name(name, 113);
	n = medfs_name_encrypt(enc, sizeof(enc), name, 113, dir_id, name_key);
	ck_assert_int_eq(n, 192);
	ck_assert_int_eq(medfs_name_entry(entry, sizeof(entry), enc, (size_t)n, name_key),
			 MEDFS_LONGNAME_LEN);
	ck_assert_uint_eq(strlen(entry), MEDFS_LONGNAME_LEN);
	ck_assert_int_eq(entry[0], '~');
	ck_assert(medfs_name_is_long(entry));
	ck_assert(!medfs_name_is_internal(entry));
	/* Deterministic, and keyed. */
	ck_assert_int_eq(
		medfs_name_entry(entry2, sizeof(entry2), enc, (size_t)n, name_key),
		MEDFS_LONGNAME_LEN);
	ck_assert_str_eq(entry, entry2);
	memcpy(other_key, name_key, sizeof(other_key));
	other_key[0] ^= 1;
	ck_assert_int_eq(
		medfs_name_entry(entry2, sizeof(entry2), enc, (size_t)n, other_key),
		MEDFS_LONGNAME_LEN);
	ck_assert_str_ne(entry, entry2);
	/* Only the MAC half keys the hash. */
	memcpy(other_key, name_key, sizeof(other_key));
	other_key[40] ^= 1;
	ck_assert_int_eq(
		medfs_name_entry(entry2, sizeof(entry2), enc, (size_t)n, other_key),
		MEDFS_LONGNAME_LEN);
	ck_assert_str_eq(entry, entry2);

	/* The boundary on the encoded length itself. */
	memset(enc, 'A', sizeof(enc));
	ck_assert_int_eq(medfs_name_entry(entry, sizeof(entry), enc, MEDFS_NAME_SHORT_MAX,
					  name_key),
			 MEDFS_NAME_SHORT_MAX);
	ck_assert_uint_eq(strlen(entry), MEDFS_NAME_SHORT_MAX);
	ck_assert_int_eq(medfs_name_entry(entry, sizeof(entry), enc,
					  MEDFS_NAME_SHORT_MAX + 1, name_key),
			 MEDFS_LONGNAME_LEN);
	/* Output room. */
	ck_assert_int_eq(medfs_name_entry(entry, MEDFS_LONGNAME_LEN, enc,
					  MEDFS_NAME_SHORT_MAX + 1, name_key),
			 -EINVAL);
	ck_assert_int_eq(medfs_name_entry(entry, MEDFS_LONGNAME_LEN + 1, enc,
					  MEDFS_NAME_SHORT_MAX + 1, name_key),
			 MEDFS_LONGNAME_LEN);
	ck_assert_int_eq(medfs_name_entry(entry, 10, enc, 10, name_key), -EINVAL);
	ck_assert_int_eq(medfs_name_entry(entry, 11, enc, 10, name_key), 10);
}
END_TEST

START_TEST(test_is_long_internal)
{
	char sidecar[MEDFS_LONGNAME_LEN + 3];
	char longname[MEDFS_LONGNAME_LEN + 1];

	memset(longname, 'Q', MEDFS_LONGNAME_LEN);
	longname[0] = '~';
	longname[MEDFS_LONGNAME_LEN] = '\0';
	snprintf(sidecar, sizeof(sidecar), "%s%s", longname, MEDFS_LONGNAME_SUFFIX);

	ck_assert(medfs_name_is_long(longname));
	ck_assert(!medfs_name_is_long(sidecar));
	ck_assert(!medfs_name_is_long("~short"));
	ck_assert(!medfs_name_is_long(kat_name_a));
	ck_assert(!medfs_name_is_long(MEDFS_DIR_HEADER_NAME));
	ck_assert(!medfs_name_is_long(""));

	ck_assert(medfs_name_is_internal(MEDFS_DIR_HEADER_NAME));
	ck_assert(medfs_name_is_internal(sidecar));
	ck_assert(medfs_name_is_internal("abc.n"));
	ck_assert(medfs_name_is_internal(".n"));
	ck_assert(medfs_name_is_internal("."));
	ck_assert(medfs_name_is_internal(".."));
	ck_assert(medfs_name_is_internal(".hidden"));
	ck_assert(!medfs_name_is_internal(longname));
	ck_assert(!medfs_name_is_internal(kat_name_a));
	ck_assert(!medfs_name_is_internal(kat_name_200));
	ck_assert(!medfs_name_is_internal("n"));
	ck_assert(!medfs_name_is_internal("abc.nn"));
	ck_assert(!medfs_name_is_internal(""));
}
END_TEST

START_TEST(test_kat)
{
	uint8_t vk[MEDFS_KEY_LEN], key[MEDFS_NAME_KEY_LEN], dir[MEDFS_DIR_ID_LEN];
	char name[201], enc[MEDFS_NAME_ENC_MAX], entry[MEDFS_NAME_ENC_MAX];
	char back[MEDFS_NAME_MAX + 1];
	int n;

	kat_fill(vk, sizeof(vk), KAT_VAULT_KEY_BASE);
	ck_assert_int_eq(medfs_subkey_derive(key, MEDFS_SUBKEY_NAME_MAC, vk), 0);
	ck_assert_int_eq(medfs_subkey_derive(key + 32, MEDFS_SUBKEY_NAME_ENC, vk), 0);
	kat_fill(dir, sizeof(dir), KAT_DIR_ID_BASE);

	n = medfs_name_encrypt(enc, sizeof(enc), "a", 1, dir, key);
	ck_assert_int_eq(n, (int)strlen(kat_name_a));
	ck_assert_str_eq(enc, kat_name_a);

	n = medfs_name_encrypt(enc, sizeof(enc), "patient-0001.dcm", 16, dir, key);
	ck_assert_int_eq(n, (int)strlen(kat_name_patient));
	ck_assert_str_eq(enc, kat_name_patient);

	for (int i = 0; i < 200; i++)
		name[i] = (char)('a' + i % 26);
	name[200] = '\0';
	n = medfs_name_encrypt(enc, sizeof(enc), name, 200, dir, key);
	ck_assert_int_eq(n, (int)strlen(kat_name_200));
	ck_assert_str_eq(enc, kat_name_200);
	ck_assert_int_eq(medfs_name_decrypt(back, sizeof(back), kat_name_200,
					    strlen(kat_name_200), dir, key),
			 200);
	ck_assert_str_eq(back, name);

	ck_assert_int_eq(medfs_name_entry(entry, sizeof(entry), enc, (size_t)n, key),
			 MEDFS_LONGNAME_LEN);
	ck_assert_str_eq(entry, kat_entry_200);
}
END_TEST

START_TEST(test_link_round_trip)
{
	static const size_t lens[] = { 1, 2, 3, 11, 100, 1000, MEDFS_LINK_MAX };
	char target[MEDFS_LINK_MAX + 1], enc[MEDFS_LINK_ENC_MAX],
		enc2[MEDFS_LINK_ENC_MAX];
	char back[MEDFS_LINK_MAX + 1];
	struct medfs_binding b = { .name = "link", .name_len = 4 };

	memcpy(b.parent_id, dir_id, sizeof(dir_id));
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t len = lens[i];
		int n;

		make_name(target, len);
		target[len / 2] = '/';
		n = medfs_link_encrypt(enc, sizeof(enc), target, len, link_key, &b);
		ck_assert_int_gt(n, 0);
		ck_assert_uint_eq(strlen(enc), (size_t)n);
		ck_assert_int_eq(medfs_link_plain_len((size_t)n), (int)len);
		ck_assert_int_eq(medfs_link_decrypt(back, sizeof(back), enc, (size_t)n,
						    link_key, &b),
				 (int)len);
		ck_assert_str_eq(back, target);
		/* Random nonce: sealing twice differs. */
		ck_assert_int_eq(
			medfs_link_encrypt(enc2, sizeof(enc2), target, len, link_key, &b),
			n);
		ck_assert_str_ne(enc, enc2);
	}
}
END_TEST

START_TEST(test_link_tamper)
{
	const char *target = "../studies/2024/ct-0001";
	size_t len = strlen(target);
	char enc[MEDFS_LINK_ENC_MAX], bad[MEDFS_LINK_ENC_MAX], back[MEDFS_LINK_MAX + 1];
	uint8_t other_key[MEDFS_KEY_LEN];
	struct medfs_binding b = { .name = "link", .name_len = 4 };
	struct medfs_binding w;
	int n;

	memcpy(b.parent_id, dir_id, sizeof(dir_id));
	n = medfs_link_encrypt(enc, sizeof(enc), target, len, link_key, &b);
	ck_assert_int_gt(n, 0);

	w = b;
	w.parent_id[3] ^= 1;
	memset(back, 0x55, sizeof(back));
	ck_assert_int_eq(
		medfs_link_decrypt(back, sizeof(back), enc, (size_t)n, link_key, &w),
		-EBADMSG);
	for (size_t i = 0; i <= len; i++)
		ck_assert_int_eq(back[i], 0);
	w = b;
	w.name = "lint";
	ck_assert_int_eq(
		medfs_link_decrypt(back, sizeof(back), enc, (size_t)n, link_key, &w),
		-EBADMSG);
	w = b;
	w.name_len = 3;
	ck_assert_int_eq(
		medfs_link_decrypt(back, sizeof(back), enc, (size_t)n, link_key, &w),
		-EBADMSG);
	memcpy(other_key, link_key, sizeof(other_key));
	other_key[9] ^= 4;
	ck_assert_int_eq(
		medfs_link_decrypt(back, sizeof(back), enc, (size_t)n, other_key, &b),
		-EBADMSG);

	for (int pos = 0; pos < n; pos++) {
		memcpy(bad, enc, (size_t)n + 1);
		bad[pos] = bad[pos] == 'A' ? 'B' : 'A';
		ck_assert_msg(medfs_link_decrypt(back, sizeof(back), bad, (size_t)n,
						 link_key, &b) == -EBADMSG,
			      "change at %d", pos);
		bad[pos] = '*';
		ck_assert_int_eq(medfs_link_decrypt(back, sizeof(back), bad, (size_t)n,
						    link_key, &b),
				 -EBADMSG);
	}
	ck_assert_int_eq(
		medfs_link_decrypt(back, sizeof(back), enc, (size_t)n - 1, link_key, &b),
		-EBADMSG);
	ck_assert_int_eq(
		medfs_link_decrypt(back, sizeof(back), enc, (size_t)n - 4, link_key, &b),
		-EBADMSG);
	/* Output room: len + NUL. */
	ck_assert_int_eq(medfs_link_decrypt(back, len, enc, (size_t)n, link_key, &b),
			 -EINVAL);
	ck_assert_int_eq(medfs_link_decrypt(back, len + 1, enc, (size_t)n, link_key, &b),
			 (int)len);
	ck_assert_str_eq(back, target);
}
END_TEST

START_TEST(test_link_invalid)
{
	char target[MEDFS_LINK_MAX + 2], enc[MEDFS_LINK_ENC_MAX];
	struct medfs_binding b = { .name = "l", .name_len = 1 };
	struct medfs_binding too_long = { .name = target, .name_len = 256 };

	memset(target, 'x', sizeof(target));
	ck_assert_int_eq(medfs_link_encrypt(enc, sizeof(enc), "", 0, link_key, &b),
			 -EINVAL);
	ck_assert_int_eq(medfs_link_encrypt(enc, sizeof(enc), target, MEDFS_LINK_MAX + 1,
					    link_key, &b),
			 -ENAMETOOLONG);
	ck_assert_int_eq(medfs_link_encrypt(enc, sizeof(enc), "a\0b", 3, link_key, &b),
			 -EINVAL);
	ck_assert_int_eq(
		medfs_link_encrypt(enc, sizeof(enc), "ab", 2, link_key, &too_long),
		-EINVAL);
	ck_assert_int_eq(medfs_link_encrypt(enc, sizeof(enc), "ab", 2, link_key, NULL),
			 -EINVAL);
	/* 1 + 40 raw bytes = 55 characters + NUL. */
	ck_assert_int_eq(medfs_link_encrypt(enc, 55, "a", 1, link_key, &b), -EINVAL);
	ck_assert_int_eq(medfs_link_encrypt(enc, 56, "a", 1, link_key, &b), 55);

	ck_assert_int_eq(medfs_link_plain_len(0), -EBADMSG);
	ck_assert_int_eq(medfs_link_plain_len(1), -EBADMSG);
	ck_assert_int_eq(medfs_link_plain_len(5), -EBADMSG);
	ck_assert_int_eq(medfs_link_plain_len(54), -EBADMSG); /* 40 bytes: empty */
	ck_assert_int_eq(medfs_link_plain_len(53), -EBADMSG); /* % 4 == 1 */
	ck_assert_int_eq(medfs_link_plain_len(55), 1);
	ck_assert_int_eq(medfs_link_plain_len(56), 2);
	ck_assert_int_eq(medfs_link_plain_len(58), 3);
	ck_assert_int_eq(medfs_link_plain_len(4054), MEDFS_LINK_MAX);
	ck_assert_int_eq(medfs_link_plain_len(4055), -EBADMSG);
	ck_assert_int_eq(medfs_link_plain_len(100000), -EBADMSG);
	ck_assert_int_eq(medfs_link_decrypt(enc, sizeof(enc), "AAAAA", 5, link_key, &b),
			 -EBADMSG);
}
END_TEST

static Suite *name_suite(void)
{
	Suite *s = suite_create("name");
	TCase *tc;

	tc = tcase_create("names");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_round_trip, 0, sizeof(lengths) / sizeof(lengths[0]));
	tcase_add_test(tc, test_round_trip_utf8);
	tcase_add_test(tc, test_non_alphabet_rejected);
	tcase_add_test(tc, test_deterministic_per_dir);
	tcase_add_test(tc, test_flip_chars);
	tcase_add_test(tc, test_decrypt_garbage);
	tcase_add_test(tc, test_decrypt_forged);
	tcase_add_test(tc, test_invalid_names);
	tcase_add_test(tc, test_entry);
	tcase_add_test(tc, test_is_long_internal);
	tcase_add_test(tc, test_kat);
	suite_add_tcase(s, tc);

	tc = tcase_create("links");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_link_round_trip);
	tcase_add_test(tc, test_link_tamper);
	tcase_add_test(tc, test_link_invalid);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (medfs_crypto_init() != 0)
		return EXIT_FAILURE;
	sr = srunner_create(name_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
