/* Unit tests: file and directory headers. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "kat.h"
#include "medfs/header.h"

static uint8_t hkey[MEDFS_KEY_LEN];
static uint8_t dkey[MEDFS_KEY_LEN];
static uint8_t file_id[MEDFS_FILE_ID_LEN];
static uint8_t file_key[MEDFS_KEY_LEN];
static struct medfs_binding bind;

static void setup(void)
{
	randombytes_buf(hkey, sizeof(hkey));
	randombytes_buf(dkey, sizeof(dkey));
	randombytes_buf(file_id, sizeof(file_id));
	randombytes_buf(file_key, sizeof(file_key));
	randombytes_buf(bind.parent_id, sizeof(bind.parent_id));
	bind.name = "patient-0001.dcm";
	bind.name_len = strlen(bind.name);
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* Opens in and checks the result: on failure every output is wiped. */
static int open_file(const uint8_t in[MEDFS_HEADER_LEN], const uint8_t *key,
		     const struct medfs_binding *b)
{
	uint8_t id[MEDFS_FILE_ID_LEN], fk[MEDFS_KEY_LEN];
	uint64_t size = 12345;
	int ret;

	memset(id, 0xa5, sizeof(id));
	memset(fk, 0xa5, sizeof(fk));
	ret = medfs_header_open(in, id, fk, &size, key, b);
	if (ret < 0) {
		ck_assert(all_zero(id, sizeof(id)));
		ck_assert(all_zero(fk, sizeof(fk)));
		ck_assert_uint_eq(size, 0);
	}
	return ret;
}

static int open_dir(const uint8_t in[MEDFS_DIR_HEADER_LEN], const uint8_t *key,
		    const struct medfs_binding *b)
{
	uint8_t id[MEDFS_DIR_ID_LEN];
	int ret;

	memset(id, 0xa5, sizeof(id));
	ret = medfs_dir_header_open(in, id, key, b);
	if (ret < 0)
		ck_assert(all_zero(id, sizeof(id)));
	return ret;
}

START_TEST(test_round_trip)
{
	uint8_t hdr[MEDFS_HEADER_LEN], again[MEDFS_HEADER_LEN];
	uint8_t id[MEDFS_FILE_ID_LEN], fk[MEDFS_KEY_LEN];
	uint64_t size;

	ck_assert_int_eq(medfs_header_seal(hdr, file_id, file_key,
					   UINT64_C(0x0123456789abcdef), hkey, &bind),
			 0);
	ck_assert_mem_eq(hdr, "MDFH\x01\x00\x00\x00", 8);
	ck_assert_mem_eq(hdr + 8, file_id, sizeof(file_id));
	ck_assert_int_eq(medfs_header_open(hdr, id, fk, &size, hkey, &bind), 0);
	ck_assert_mem_eq(id, file_id, sizeof(id));
	ck_assert_mem_eq(fk, file_key, sizeof(fk));
	ck_assert_uint_eq(size, UINT64_C(0x0123456789abcdef));
	/* A fresh nonce at every write. */
	ck_assert_int_eq(medfs_header_seal(again, file_id, file_key,
					   UINT64_C(0x0123456789abcdef), hkey, &bind),
			 0);
	ck_assert(memcmp(again + 24, hdr + 24, 24) != 0);
	ck_assert(memcmp(again + 48, hdr + 48, 56) != 0);
}
END_TEST

START_TEST(test_root_and_long_binding)
{
	struct medfs_binding root = { .name = NULL, .name_len = 0 };
	struct medfs_binding longest = { .name_len = 255 };
	char name[256];
	uint8_t hdr[MEDFS_HEADER_LEN], dh[MEDFS_DIR_HEADER_LEN];

	ck_assert_int_eq(medfs_header_seal(hdr, file_id, file_key, 0, hkey, &root), 0);
	ck_assert_int_eq(open_file(hdr, hkey, &root), 0);
	ck_assert_int_eq(open_file(hdr, hkey, &bind), -EBADMSG);
	ck_assert_int_eq(medfs_dir_header_seal(dh, file_id, dkey, &root), 0);
	ck_assert_int_eq(open_dir(dh, dkey, &root), 0);

	memset(name, 'n', sizeof(name));
	longest.name = name;
	ck_assert_int_eq(medfs_header_seal(hdr, file_id, file_key, 1, hkey, &longest), 0);
	ck_assert_int_eq(open_file(hdr, hkey, &longest), 0);
	ck_assert_int_eq(medfs_dir_header_seal(dh, file_id, dkey, &longest), 0);
	ck_assert_int_eq(open_dir(dh, dkey, &longest), 0);
}
END_TEST

START_TEST(test_invalid_binding)
{
	struct medfs_binding too_long = { .name_len = 256 };
	struct medfs_binding null_name = { .name = NULL, .name_len = 3 };
	char name[256];
	uint8_t hdr[MEDFS_HEADER_LEN], dh[MEDFS_DIR_HEADER_LEN];
	uint8_t id[MEDFS_FILE_ID_LEN], fk[MEDFS_KEY_LEN];
	uint64_t size;

	memset(name, 'n', sizeof(name));
	too_long.name = name;
	ck_assert_int_eq(medfs_header_seal(hdr, file_id, file_key, 0, hkey, &too_long),
			 -EINVAL);
	ck_assert_int_eq(medfs_header_seal(hdr, file_id, file_key, 0, hkey, &null_name),
			 -EINVAL);
	ck_assert_int_eq(medfs_header_seal(hdr, file_id, file_key, 0, hkey, NULL),
			 -EINVAL);
	ck_assert_int_eq(medfs_dir_header_seal(dh, file_id, dkey, &too_long), -EINVAL);
	ck_assert_int_eq(medfs_dir_header_seal(dh, file_id, dkey, NULL), -EINVAL);

	ck_assert_int_eq(medfs_header_seal(hdr, file_id, file_key, 0, hkey, &bind), 0);
	ck_assert_int_eq(open_file(hdr, hkey, &too_long), -EINVAL);
	ck_assert_int_eq(medfs_header_open(hdr, id, fk, &size, hkey, NULL), -EINVAL);
	ck_assert_int_eq(medfs_dir_header_seal(dh, file_id, dkey, &bind), 0);
	ck_assert_int_eq(open_dir(dh, dkey, &too_long), -EINVAL);
}
END_TEST

START_TEST(test_flip_every_bit)
{
	uint8_t hdr[MEDFS_HEADER_LEN];

	ck_assert_int_eq(medfs_header_seal(hdr, file_id, file_key, 4096, hkey, &bind), 0);
	for (size_t pos = 0; pos < sizeof(hdr); pos++) {
		for (int bit = 0; bit < 8; bit++) {
			/* The version field answers "unknown version" first. */
			int want = (pos == 4 || pos == 5) ? -EPROTONOSUPPORT : -EBADMSG;

			hdr[pos] ^= (uint8_t)(1 << bit);
			ck_assert_msg(open_file(hdr, hkey, &bind) == want,
				      "bit %d of byte %zu", bit, pos);
			hdr[pos] ^= (uint8_t)(1 << bit);
		}
		hdr[pos] ^= 0xff;
		ck_assert_int_lt(open_file(hdr, hkey, &bind), 0);
		hdr[pos] ^= 0xff;
	}
	ck_assert_int_eq(open_file(hdr, hkey, &bind), 0);
}
END_TEST

START_TEST(test_wrong_binding)
{
	uint8_t hdr[MEDFS_HEADER_LEN], other_key[MEDFS_KEY_LEN];
	struct medfs_binding b = bind;

	ck_assert_int_eq(medfs_header_seal(hdr, file_id, file_key, 7, hkey, &bind), 0);
	b.parent_id[0] ^= 1;
	ck_assert_int_eq(open_file(hdr, hkey, &b), -EBADMSG);
	b = bind;
	b.name = "patient-0002.dcm";
	ck_assert_int_eq(open_file(hdr, hkey, &b), -EBADMSG);
	b = bind;
	b.name_len--; /* a prefix of the name */
	ck_assert_int_eq(open_file(hdr, hkey, &b), -EBADMSG);
	b = bind;
	b.name = "patient-0001.dcm~";
	b.name_len++;
	ck_assert_int_eq(open_file(hdr, hkey, &b), -EBADMSG);
	b = bind;
	b.name_len = 0;
	ck_assert_int_eq(open_file(hdr, hkey, &b), -EBADMSG);
	memcpy(other_key, hkey, sizeof(other_key));
	other_key[7] ^= 0x10;
	ck_assert_int_eq(open_file(hdr, other_key, &bind), -EBADMSG);
	ck_assert_int_eq(open_file(hdr, hkey, &bind), 0);
}
END_TEST

START_TEST(test_swapped_headers)
{
	uint8_t a[MEDFS_HEADER_LEN], b[MEDFS_HEADER_LEN], mix[MEDFS_HEADER_LEN];
	uint8_t other_id[MEDFS_FILE_ID_LEN];

	memcpy(other_id, file_id, sizeof(other_id));
	other_id[0] ^= 1;
	ck_assert_int_eq(medfs_header_seal(a, file_id, file_key, 1, hkey, &bind), 0);
	ck_assert_int_eq(medfs_header_seal(b, other_id, file_key, 1, hkey, &bind), 0);
	/* Another file's id with this file's sealed part. */
	memcpy(mix, b, 24);
	memcpy(mix + 24, a + 24, MEDFS_HEADER_LEN - 24);
	ck_assert_int_eq(open_file(mix, hkey, &bind), -EBADMSG);
}
END_TEST

/* Version 2 headers carry flags (doc/FORMAT.md, 4.1 and 4.4): version 1
 * without, authenticated both; unknown flags are a newer format. */
START_TEST(test_flags)
{
	uint8_t hdr[MEDFS_HEADER_LEN], v1[MEDFS_HEADER_LEN], nonce[24];
	uint8_t id[MEDFS_FILE_ID_LEN], fk[MEDFS_KEY_LEN];
	uint8_t ad[24 + MEDFS_DIR_ID_LEN + 64];
	uint64_t size;
	uint16_t flags = 0xffff;

	randombytes_buf(nonce, sizeof(nonce));
	ck_assert_int_eq(
		medfs_header_seal_flags(hdr, file_id, file_key, 7, 0, hkey, &bind, nonce),
		0);
	ck_assert_int_eq(medfs_header_seal_with_nonce(v1, file_id, file_key, 7, hkey,
						      &bind, nonce),
			 0);
	ck_assert_mem_eq(hdr, v1, sizeof(hdr)); /* no flag: version 1 as before */
	ck_assert_int_eq(medfs_header_open_flags(hdr, id, fk, &size, &flags, hkey, &bind),
			 0);
	ck_assert_uint_eq(flags, 0);

	ck_assert_int_eq(medfs_header_seal_flags(hdr, file_id, file_key, 7,
						 MEDFS_HEADER_STALE | MEDFS_HEADER_PREV,
						 hkey, &bind, NULL),
			 0);
	ck_assert_mem_eq(hdr, "MDFH\x02\x00\x03\x00", 8);
	ck_assert_int_eq(medfs_header_open_flags(hdr, id, fk, &size, &flags, hkey, &bind),
			 0);
	ck_assert_uint_eq(flags, MEDFS_HEADER_STALE | MEDFS_HEADER_PREV);
	ck_assert_mem_eq(fk, file_key, sizeof(fk));
	ck_assert_uint_eq(size, 7);
	/* Flags are authenticated: dropping one, or the version with them. */
	hdr[6] = MEDFS_HEADER_PREV;
	ck_assert_int_eq(open_file(hdr, hkey, &bind), -EBADMSG);
	hdr[6] = 3;
	hdr[4] = 1;
	ck_assert_int_eq(open_file(hdr, hkey, &bind), -EBADMSG);
	hdr[4] = 2;
	ck_assert_int_eq(open_file(hdr, hkey, &bind), 0);

	ck_assert_int_eq(
		medfs_header_seal_flags(hdr, file_id, file_key, 7, 8, hkey, &bind, NULL),
		-EINVAL);
	ck_assert(all_zero(hdr, sizeof(hdr)));

	/* Made by the key holder, with a flag this build does not know. */
	memcpy(hdr, "MDFH\x02\x00\x08\x00", 8);
	memcpy(hdr + 8, file_id, 16);
	randombytes_buf(hdr + 24, 24);
	memcpy(ad, hdr, 24);
	memcpy(ad + 24, bind.parent_id, MEDFS_DIR_ID_LEN);
	memcpy(ad + 40, bind.name, bind.name_len);
	{
		uint8_t plain[40] = { 0 };

		memcpy(plain, file_key, 32);
		crypto_aead_xchacha20poly1305_ietf_encrypt(
			hdr + 48, NULL, plain, sizeof(plain), ad, 40 + bind.name_len,
			NULL, hdr + 24, hkey);
	}
	ck_assert_int_eq(medfs_header_open_flags(hdr, id, fk, &size, &flags, hkey, &bind),
			 -EPROTONOSUPPORT);
	ck_assert(all_zero(fk, sizeof(fk)));
	ck_assert_uint_eq(flags, 0);
	/* Version 2 with no flag is never written. */
	memset(hdr + 6, 0, 2);
	memcpy(ad, hdr, 24);
	crypto_aead_xchacha20poly1305_ietf_encrypt(hdr + 48, NULL, hdr + 48, 40, ad,
						   40 + bind.name_len, NULL, hdr + 24,
						   hkey);
	ck_assert_int_eq(open_file(hdr, hkey, &bind), -EBADMSG);
}
END_TEST

START_TEST(test_magic_and_version)
{
	uint8_t hdr[MEDFS_HEADER_LEN], dh[MEDFS_DIR_HEADER_LEN];

	ck_assert_int_eq(medfs_header_seal(hdr, file_id, file_key, 7, hkey, &bind), 0);
	hdr[0] = 'X';
	ck_assert_int_eq(open_file(hdr, hkey, &bind), -EBADMSG);
	memcpy(hdr, "MDFD", 4); /* a directory magic is not a file magic */
	ck_assert_int_eq(open_file(hdr, hkey, &bind), -EBADMSG);
	memcpy(hdr, "MDFH", 4);
	hdr[4] = 3;
	ck_assert_int_eq(open_file(hdr, hkey, &bind), -EPROTONOSUPPORT);
	hdr[4] = 2; /* a version that exists, but authenticated */
	ck_assert_int_eq(open_file(hdr, hkey, &bind), -EBADMSG);
	hdr[4] = 0;
	ck_assert_int_eq(open_file(hdr, hkey, &bind), -EPROTONOSUPPORT);
	hdr[4] = 1;
	hdr[5] = 1; /* version 257 */
	ck_assert_int_eq(open_file(hdr, hkey, &bind), -EPROTONOSUPPORT);
	hdr[5] = 0;
	hdr[6] = 1; /* reserved bytes are authenticated */
	ck_assert_int_eq(open_file(hdr, hkey, &bind), -EBADMSG);
	hdr[6] = 0;
	ck_assert_int_eq(open_file(hdr, hkey, &bind), 0);
	memset(hdr, 0, sizeof(hdr));
	ck_assert_int_eq(open_file(hdr, hkey, &bind), -EBADMSG);

	ck_assert_int_eq(medfs_dir_header_seal(dh, file_id, dkey, &bind), 0);
	ck_assert_mem_eq(dh, "MDFD\x01\x00\x00\x00", 8);
	dh[3] = 'H';
	ck_assert_int_eq(open_dir(dh, dkey, &bind), -EBADMSG);
	dh[3] = 'D';
	dh[4] = 2;
	ck_assert_int_eq(open_dir(dh, dkey, &bind), -EPROTONOSUPPORT);
	dh[4] = 1;
	ck_assert_int_eq(open_dir(dh, dkey, &bind), 0);
	memset(dh, 0, sizeof(dh));
	ck_assert_int_eq(open_dir(dh, dkey, &bind), -EBADMSG);
}
END_TEST

START_TEST(test_dir_round_trip)
{
	uint8_t dh[MEDFS_DIR_HEADER_LEN], id[MEDFS_DIR_ID_LEN];
	uint8_t dir_id[MEDFS_DIR_ID_LEN];

	randombytes_buf(dir_id, sizeof(dir_id));
	ck_assert_int_eq(medfs_dir_header_seal(dh, dir_id, dkey, &bind), 0);
	ck_assert_mem_eq(dh + 8, dir_id, sizeof(dir_id));
	ck_assert_int_eq(medfs_dir_header_open(dh, id, dkey, &bind), 0);
	ck_assert_mem_eq(id, dir_id, sizeof(id));
}
END_TEST

START_TEST(test_dir_flip_every_bit)
{
	uint8_t dh[MEDFS_DIR_HEADER_LEN];

	ck_assert_int_eq(medfs_dir_header_seal(dh, file_id, dkey, &bind), 0);
	for (size_t pos = 0; pos < sizeof(dh); pos++) {
		for (int bit = 0; bit < 8; bit++) {
			int want = (pos == 4 || pos == 5) ? -EPROTONOSUPPORT : -EBADMSG;

			dh[pos] ^= (uint8_t)(1 << bit);
			ck_assert_msg(open_dir(dh, dkey, &bind) == want,
				      "bit %d of byte %zu", bit, pos);
			dh[pos] ^= (uint8_t)(1 << bit);
		}
	}
	ck_assert_int_eq(open_dir(dh, dkey, &bind), 0);
}
END_TEST

/* Bytes 6..8 of a directory header are reserved, zero: one that is not,
 * even with a tag that matches (only the key holder could make it), is
 * refused, as a version 1 file header with flags is. */
START_TEST(test_dir_reserved)
{
	uint8_t dh[MEDFS_DIR_HEADER_LEN], id[MEDFS_DIR_ID_LEN];
	uint8_t ad[24 + MEDFS_DIR_ID_LEN + 64];
	size_t ad_len = 24 + MEDFS_DIR_ID_LEN + bind.name_len;

	ck_assert_int_eq(medfs_dir_header_seal(dh, file_id, dkey, &bind), 0);
	dh[6] = 0x01;
	memcpy(ad, dh, 24);
	memcpy(ad + 24, bind.parent_id, MEDFS_DIR_ID_LEN);
	memcpy(ad + 24 + MEDFS_DIR_ID_LEN, bind.name, bind.name_len);
	crypto_generichash(dh + 24, 16, ad, ad_len, dkey, MEDFS_KEY_LEN);
	memset(id, 0xaa, sizeof(id));
	ck_assert_int_eq(medfs_dir_header_open(dh, id, dkey, &bind), -EBADMSG);
	ck_assert(all_zero(id, sizeof(id)));
	/* The same computation with the reserved bytes zero is the seal's. */
	dh[6] = 0;
	memcpy(ad, dh, 24);
	crypto_generichash(dh + 24, 16, ad, ad_len, dkey, MEDFS_KEY_LEN);
	ck_assert_int_eq(medfs_dir_header_open(dh, id, dkey, &bind), 0);
}
END_TEST

START_TEST(test_dir_wrong_binding)
{
	uint8_t dh[MEDFS_DIR_HEADER_LEN], other_key[MEDFS_KEY_LEN];
	uint8_t hdr[MEDFS_HEADER_LEN];
	struct medfs_binding b = bind;
	struct medfs_binding root = { .name = "", .name_len = 0 };

	ck_assert_int_eq(medfs_dir_header_seal(dh, file_id, dkey, &bind), 0);
	b.parent_id[15] ^= 0x80;
	ck_assert_int_eq(open_dir(dh, dkey, &b), -EBADMSG);
	b = bind;
	b.name = "patient-0001.dcN";
	ck_assert_int_eq(open_dir(dh, dkey, &b), -EBADMSG);
	b = bind;
	b.name_len = 3; /* prefix */
	ck_assert_int_eq(open_dir(dh, dkey, &b), -EBADMSG);
	ck_assert_int_eq(open_dir(dh, dkey, &root), -EBADMSG);
	memcpy(other_key, dkey, sizeof(other_key));
	other_key[31] ^= 1;
	ck_assert_int_eq(open_dir(dh, other_key, &bind), -EBADMSG);
	ck_assert_int_eq(open_dir(dh, dkey, &bind), 0);
	/* A file header's first bytes are no directory header. */
	ck_assert_int_eq(medfs_header_seal(hdr, file_id, file_key, 0, dkey, &bind), 0);
	ck_assert_int_eq(open_dir(hdr, dkey, &bind), -EBADMSG);
}
END_TEST

START_TEST(test_kat)
{
	uint8_t vk[MEDFS_KEY_LEN], hk[MEDFS_KEY_LEN], dk[MEDFS_KEY_LEN];
	uint8_t fid[MEDFS_FILE_ID_LEN], fk[MEDFS_KEY_LEN], nonce[24];
	uint8_t did[MEDFS_DIR_ID_LEN], rid[MEDFS_DIR_ID_LEN];
	uint8_t hdr[MEDFS_HEADER_LEN], dh[MEDFS_DIR_HEADER_LEN];
	uint8_t id[MEDFS_FILE_ID_LEN], key[MEDFS_KEY_LEN];
	char hex[2 * MEDFS_HEADER_LEN + 1];
	struct medfs_binding b = { .name = KAT_HEADER_NAME };
	struct medfs_binding bd = { .name = KAT_DIR_NAME };
	struct medfs_binding root = { .name = "", .name_len = 0 };
	uint64_t size;

	kat_fill(vk, sizeof(vk), KAT_VAULT_KEY_BASE);
	ck_assert_int_eq(medfs_subkey_derive(hk, MEDFS_SUBKEY_HEADER, vk), 0);
	ck_assert_int_eq(medfs_subkey_derive(dk, MEDFS_SUBKEY_DIR, vk), 0);
	kat_fill(fid, sizeof(fid), KAT_FILE_ID_BASE);
	kat_fill(fk, sizeof(fk), KAT_FILE_KEY_BASE);
	kat_fill(nonce, sizeof(nonce), KAT_HEADER_NONCE_BASE);
	kat_fill(did, sizeof(did), KAT_DIR_ID_BASE);
	kat_fill(rid, sizeof(rid), KAT_ROOT_ID_BASE);
	kat_fill(b.parent_id, sizeof(b.parent_id), KAT_PARENT_ID_BASE);
	b.name_len = strlen(b.name);
	kat_fill(bd.parent_id, sizeof(bd.parent_id), KAT_PARENT_ID_BASE);
	bd.name_len = strlen(bd.name);

	ck_assert_int_eq(medfs_header_seal_with_nonce(hdr, fid, fk, KAT_HEADER_SIZE, hk,
						      &b, nonce),
			 0);
	kat_hex(hex, hdr, sizeof(hdr));
	ck_assert_str_eq(hex, kat_header_hex);
	ck_assert_int_eq(medfs_header_open(hdr, id, key, &size, hk, &b), 0);
	ck_assert_mem_eq(id, fid, sizeof(id));
	ck_assert_mem_eq(key, fk, sizeof(key));
	ck_assert_uint_eq(size, KAT_HEADER_SIZE);

	{
		uint16_t flags;

		ck_assert_int_eq(
			medfs_header_seal_flags(hdr, fid, fk, KAT_HEADER_SIZE,
						MEDFS_HEADER_STALE | MEDFS_HEADER_PREV,
						hk, &b, nonce),
			0);
		kat_hex(hex, hdr, sizeof(hdr));
		ck_assert_str_eq(hex, kat_header_v2_hex);
		ck_assert_int_eq(
			medfs_header_open_flags(hdr, id, key, &size, &flags, hk, &b), 0);
		ck_assert_uint_eq(flags, MEDFS_HEADER_STALE | MEDFS_HEADER_PREV);
	}

	ck_assert_int_eq(medfs_dir_header_seal(dh, did, dk, &bd), 0);
	kat_hex(hex, dh, sizeof(dh));
	ck_assert_str_eq(hex, kat_dir_header_hex);
	ck_assert_int_eq(medfs_dir_header_open(dh, id, dk, &bd), 0);
	ck_assert_mem_eq(id, did, sizeof(id));

	ck_assert_int_eq(medfs_dir_header_seal(dh, rid, dk, &root), 0);
	kat_hex(hex, dh, sizeof(dh));
	ck_assert_str_eq(hex, kat_root_header_hex);
}
END_TEST

/* The previous-key record: round trip, bound to the file id and to its
 * own tag, every byte flip and every wrong length refused, key wiped. */
START_TEST(test_prev_record)
{
	uint8_t rec[MEDFS_PREV_LEN], bad[MEDFS_PREV_LEN + 1], key[MEDFS_KEY_LEN];
	uint8_t other_id[MEDFS_FILE_ID_LEN], meta[64];

	medfs_prev_seal(rec, file_key, file_id, hkey, NULL);
	ck_assert_int_eq(medfs_prev_open(key, rec, sizeof(rec), file_id, hkey), 0);
	ck_assert_mem_eq(key, file_key, sizeof(key));
	for (size_t i = 0; i < sizeof(rec); i++) {
		memcpy(bad, rec, sizeof(rec));
		bad[i] ^= 0x01;
		memset(key, 0xaa, sizeof(key));
		ck_assert_int_eq(medfs_prev_open(key, bad, sizeof(rec), file_id, hkey),
				 -EBADMSG);
		ck_assert(all_zero(key, sizeof(key)));
	}
	memcpy(bad, rec, sizeof(rec));
	bad[sizeof(rec)] = 0;
	ck_assert_int_eq(medfs_prev_open(key, bad, sizeof(rec) + 1, file_id, hkey),
			 -EBADMSG);
	ck_assert_int_eq(medfs_prev_open(key, rec, sizeof(rec) - 1, file_id, hkey),
			 -EBADMSG);
	ck_assert_int_eq(medfs_prev_open(key, rec, 0, file_id, hkey), -EBADMSG);
	memcpy(other_id, file_id, sizeof(other_id));
	other_id[0] ^= 1;
	ck_assert_int_eq(medfs_prev_open(key, rec, sizeof(rec), other_id, hkey), -EBADMSG);
	/* A metadata record of 32 bytes is not a previous key. */
	ck_assert_int_eq(medfs_meta_seal(rec, file_key, MEDFS_KEY_LEN, file_id, hkey, NULL),
			 0);
	ck_assert_int_eq(medfs_prev_open(key, rec, sizeof(rec), file_id, hkey), -EBADMSG);
	ck_assert_int_eq(medfs_meta_open(meta, sizeof(meta), rec, sizeof(rec), file_id,
					 hkey),
			 MEDFS_KEY_LEN);
}
END_TEST

/* The metadata record: empty and longest round trip, -ERANGE for a buffer
 * too small, -EBADMSG for a record too short, too long or flipped. */
START_TEST(test_meta_record)
{
	static uint8_t data[MEDFS_META_MAX], out[MEDFS_META_MAX];
	static uint8_t rec[MEDFS_META_SEALED_MAX + 1];
	const size_t o = MEDFS_XATTR_OVERHEAD;

	randombytes_buf(data, sizeof(data));
	ck_assert_int_eq(medfs_meta_seal(rec, data, 0, file_id, hkey, NULL), 0);
	ck_assert_int_eq(medfs_meta_open(out, sizeof(out), rec, o, file_id, hkey), 0);
	ck_assert_int_eq(medfs_meta_open(out, sizeof(out), rec, o - 1, file_id, hkey),
			 -EBADMSG);
	ck_assert_int_eq(medfs_meta_seal(rec, data, MEDFS_META_MAX + 1, file_id, hkey, NULL),
			 -E2BIG);
	ck_assert_int_eq(medfs_meta_seal(rec, data, MEDFS_META_MAX, file_id, hkey, NULL), 0);
	ck_assert_int_eq(medfs_meta_open(out, sizeof(out), rec, MEDFS_META_SEALED_MAX,
					 file_id, hkey),
			 MEDFS_META_MAX);
	ck_assert_mem_eq(out, data, sizeof(out));
	ck_assert_int_eq(medfs_meta_open(out, 100, rec, MEDFS_META_SEALED_MAX, file_id,
					 hkey),
			 -ERANGE);
	ck_assert(all_zero(out, 100));
	ck_assert_int_eq(medfs_meta_open(out, sizeof(out), rec, MEDFS_META_SEALED_MAX + 1,
					 file_id, hkey),
			 -EBADMSG);
	ck_assert_int_eq(medfs_meta_seal(rec, data, 100, file_id, hkey, NULL), 0);
	for (size_t i = 0; i < 100 + o; i++) {
		rec[i] ^= 0x80;
		ck_assert_int_eq(medfs_meta_open(out, sizeof(out), rec, 100 + o, file_id,
						 hkey),
				 -EBADMSG);
		rec[i] ^= 0x80;
	}
	ck_assert_int_eq(medfs_meta_open(out, sizeof(out), rec, 100 + o, file_id, hkey),
			 100);
	ck_assert_mem_eq(out, data, 100);
}
END_TEST

static Suite *header_suite(void)
{
	Suite *s = suite_create("header");
	TCase *tc;

	tc = tcase_create("file");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_root_and_long_binding);
	tcase_add_test(tc, test_invalid_binding);
	tcase_add_test(tc, test_flip_every_bit);
	tcase_add_test(tc, test_wrong_binding);
	tcase_add_test(tc, test_swapped_headers);
	tcase_add_test(tc, test_magic_and_version);
	tcase_add_test(tc, test_flags);
	tcase_add_test(tc, test_kat);
	suite_add_tcase(s, tc);

	tc = tcase_create("dir");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_dir_round_trip);
	tcase_add_test(tc, test_dir_flip_every_bit);
	tcase_add_test(tc, test_dir_wrong_binding);
	tcase_add_test(tc, test_dir_reserved);
	suite_add_tcase(s, tc);

	tc = tcase_create("xattr records");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_prev_record);
	tcase_add_test(tc, test_meta_record);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (medfs_crypto_init() != 0)
		return EXIT_FAILURE;
	sr = srunner_create(header_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
