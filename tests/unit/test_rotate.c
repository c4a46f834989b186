/* Unit tests of key rotation (rotate.h): each primitive in memory, then
 * whole trees rotated, interrupted after every object, resumed from
 * half-done steps, and with damaged objects.
 *
 * A tree is compared before and after through the vault library: every
 * path, mode, mtime, size, content hash, symlink target and xattr must be
 * the same under the new key, and nothing may open under the old one. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <sodium.h>

#include "medfs/block.h"
#include "medfs/config.h"
#include "medfs/crypto.h"
#include "medfs/header.h"
#include "medfs/journal.h"
#include "medfs/log.h"
#include "medfs/name.h"
#include "medfs/rotate.h"
#include "medfs/vault.h"

#define LONG_FILE_LEN 150 /* a plaintext name stored as a long name */

static uint8_t old_key[MEDFS_KEY_LEN], new_key[MEDFS_KEY_LEN];
/* The block cipher of the test vaults: each test that changes it runs in
 * its own process (Check's fork mode). */
static uint32_t cipher = MEDFS_CIPHER_XCHACHA20POLY1305;
static char base[200], vdir[256];
static struct medfs_rotate_keys *K;

static void quiet(int priority, const char *msg)
{
	(void)priority;
	(void)msg;
}

static void setup(void)
{
	ck_assert_int_eq(medfs_crypto_init(), 0);
	randombytes_buf(old_key, sizeof(old_key));
	randombytes_buf(new_key, sizeof(new_key));
	ck_assert_int_eq(medfs_rotate_keys_new(&K, old_key, new_key), 0);
	medfs_log_set(quiet);
}

static void drop_vault(void);

/* Also removes the vault of a test that failed half-way. */
static void teardown(void)
{
	drop_vault();
	medfs_rotate_keys_free(K);
	K = NULL;
	medfs_log_set(NULL);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static void subkey(uint8_t *out, enum medfs_subkey id, const uint8_t *key)
{
	ck_assert_int_eq(medfs_subkey_derive(out, id, key), 0);
}

static void name_key(uint8_t out[MEDFS_NAME_KEY_LEN], const uint8_t *key)
{
	subkey(out, MEDFS_SUBKEY_NAME_MAC, key);
	subkey(out + MEDFS_KEY_LEN, MEDFS_SUBKEY_NAME_ENC, key);
}

static struct medfs_binding binding(const uint8_t parent[16], const char *name)
{
	struct medfs_binding b;

	memcpy(b.parent_id, parent, 16);
	b.name = name;
	b.name_len = strlen(name);
	return b;
}

/* ---- primitives ---- */

START_TEST(test_header)
{
	uint8_t hk[32], hdr[MEDFS_HEADER_LEN], copy[MEDFS_HEADER_LEN];
	uint8_t id[16], fkey[32], got_id[16], got_key[32], parent[16];
	struct medfs_binding b, other;
	uint64_t size;

	randombytes_buf(id, sizeof(id));
	randombytes_buf(fkey, sizeof(fkey));
	randombytes_buf(parent, sizeof(parent));
	b = binding(parent, "scan.dcm");
	other = binding(parent, "other.dcm");
	subkey(hk, MEDFS_SUBKEY_HEADER, old_key);
	ck_assert_int_eq(medfs_header_seal(hdr, id, fkey, 123456, hk, &b), 0);

	ck_assert_int_eq(medfs_rotate_header(K, hdr, &other, got_id), -EBADMSG);
	ck_assert_int_eq(medfs_rotate_header(K, hdr, &b, got_id), 1);
	ck_assert_mem_eq(got_id, id, 16);
	/* Same file id, key, size and binding, under the new header key. */
	ck_assert_int_eq(medfs_header_open(hdr, got_id, got_key, &size, hk, &b),
			 -EBADMSG);
	subkey(hk, MEDFS_SUBKEY_HEADER, new_key);
	{
		uint16_t flags;

		ck_assert_int_eq(medfs_header_open_flags(hdr, got_id, got_key, &size,
							 &flags, hk, &b),
				 0);
		/* Its key predates the rotation: replaced at the next write. */
		ck_assert_uint_eq(flags, MEDFS_HEADER_STALE);
	}
	ck_assert_mem_eq(got_key, fkey, 32);
	ck_assert_uint_eq(size, 123456);
	ck_assert_mem_eq(hdr + 8, id, 16);
	/* Done once: left alone. */
	memcpy(copy, hdr, sizeof(hdr));
	ck_assert_int_eq(medfs_rotate_header(K, hdr, &b, got_id), 0);
	ck_assert_mem_eq(hdr, copy, sizeof(hdr));
	/* Any flipped byte: neither key. */
	for (size_t i = 0; i < sizeof(hdr); i++) {
		memcpy(hdr, copy, sizeof(hdr));
		hdr[i] ^= 0x10;
		ck_assert_int_lt(medfs_rotate_header(K, hdr, &b, got_id), 0);
	}
}
END_TEST

START_TEST(test_dir_header)
{
	uint8_t dk[32], hdr[MEDFS_DIR_HEADER_LEN], copy[MEDFS_DIR_HEADER_LEN];
	uint8_t id[16], got[16], parent[16] = { 0 };
	struct medfs_binding root = { .name = "", .name_len = 0 };
	struct medfs_binding b;

	randombytes_buf(id, sizeof(id));
	memset(root.parent_id, 0, 16);
	b = binding(parent, "study");
	subkey(dk, MEDFS_SUBKEY_DIR, old_key);
	ck_assert_int_eq(medfs_dir_header_seal(hdr, id, dk, &root), 0);
	ck_assert_int_eq(medfs_rotate_dir_header(K, hdr, &b, got), -EBADMSG);
	ck_assert_int_eq(medfs_rotate_dir_header(K, hdr, &root, got), 1);
	ck_assert_mem_eq(got, id, 16);
	subkey(dk, MEDFS_SUBKEY_DIR, new_key);
	ck_assert_int_eq(medfs_dir_header_open(hdr, got, dk, &root), 0);
	memcpy(copy, hdr, sizeof(hdr));
	ck_assert_int_eq(medfs_rotate_dir_header(K, hdr, &root, got), 0);
	ck_assert_mem_eq(hdr, copy, sizeof(hdr));
	hdr[30] ^= 1;
	ck_assert_int_eq(medfs_rotate_dir_header(K, hdr, &root, got), -EBADMSG);
}
END_TEST

START_TEST(test_name)
{
	uint8_t nk_old[MEDFS_NAME_KEY_LEN], nk_new[MEDFS_NAME_KEY_LEN], dir_id[16];
	char enc[MEDFS_NAME_ENC_MAX], new_enc[MEDFS_NAME_ENC_MAX],
		plain[MEDFS_NAME_MAX + 1];
	char e_old[MEDFS_NAME_ENC_MAX], e_new[MEDFS_NAME_ENC_MAX], long_name[200];
	size_t len;
	int n;

	randombytes_buf(dir_id, sizeof(dir_id));
	name_key(nk_old, old_key);
	name_key(nk_new, new_key);
	n = medfs_name_encrypt(enc, sizeof(enc), "image-0001.dcm", 14, dir_id, nk_old);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(medfs_rotate_name(K, enc, (size_t)n, dir_id, plain,
					   sizeof(plain), &len, new_enc, sizeof(new_enc)),
			 1);
	ck_assert_uint_eq(len, 14);
	ck_assert_str_eq(plain, "image-0001.dcm");
	ck_assert_str_ne(new_enc, enc);
	ck_assert_int_eq(medfs_name_decrypt(plain, sizeof(plain), new_enc,
					    strlen(new_enc), dir_id, nk_new),
			 14);
	/* Already new: the name comes back, nothing to rename. */
	memset(plain, 0, sizeof(plain));
	ck_assert_int_eq(medfs_rotate_name(K, new_enc, strlen(new_enc), dir_id, plain,
					   sizeof(plain), &len, enc, sizeof(enc)),
			 0);
	ck_assert_str_eq(plain, "image-0001.dcm");
	/* Another directory, or garbage: neither key. */
	dir_id[0] ^= 1;
	ck_assert_int_eq(medfs_rotate_name(K, new_enc, strlen(new_enc), dir_id, plain,
					   sizeof(plain), &len, enc, sizeof(enc)),
			 -EBADMSG);
	ck_assert_int_eq(
		medfs_rotate_name(K, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 43,
				  dir_id, plain, sizeof(plain), &len, enc, sizeof(enc)),
		-EBADMSG);

	/* A long name: its entry (the hash) changes with the key too. */
	memset(long_name, 'L', LONG_FILE_LEN);
	n = medfs_name_encrypt(enc, sizeof(enc), long_name, LONG_FILE_LEN, dir_id,
			       nk_old);
	ck_assert_int_gt(n, MEDFS_NAME_SHORT_MAX);
	ck_assert_int_eq(medfs_rotate_name(K, enc, (size_t)n, dir_id, plain,
					   sizeof(plain), &len, new_enc, sizeof(new_enc)),
			 1);
	ck_assert_uint_eq(len, LONG_FILE_LEN);
	ck_assert_int_eq(medfs_rotate_entry(K, 0, enc, (size_t)n, e_old, sizeof(e_old)),
			 MEDFS_LONGNAME_LEN);
	ck_assert_int_eq(
		medfs_rotate_entry(K, 1, new_enc, strlen(new_enc), e_new, sizeof(e_new)),
		MEDFS_LONGNAME_LEN);
	ck_assert(medfs_name_is_long(e_old) && medfs_name_is_long(e_new));
	ck_assert_str_ne(e_old, e_new);
	ck_assert_int_eq(
		medfs_name_entry(e_old, sizeof(e_old), new_enc, strlen(new_enc), nk_new),
		MEDFS_LONGNAME_LEN);
	ck_assert_str_eq(e_old, e_new);
	/* Too small a buffer. */
	n = medfs_name_encrypt(enc, sizeof(enc), "x", 1, dir_id, nk_old);
	ck_assert_int_eq(medfs_rotate_name(K, enc, (size_t)n, dir_id, plain,
					   sizeof(plain), &len, new_enc, 10),
			 -EINVAL);
}
END_TEST

START_TEST(test_link)
{
	uint8_t lk_old[32], lk_new[32], parent[16];
	char enc[MEDFS_LINK_ENC_MAX], out[MEDFS_LINK_ENC_MAX], target[MEDFS_LINK_MAX + 1];
	struct medfs_binding b;
	int n;

	randombytes_buf(parent, sizeof(parent));
	b = binding(parent, "latest");
	subkey(lk_old, MEDFS_SUBKEY_LINK, old_key);
	subkey(lk_new, MEDFS_SUBKEY_LINK, new_key);
	n = medfs_link_encrypt(enc, sizeof(enc), "../series-1/image.dcm", 21, lk_old, &b);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(medfs_rotate_link(K, enc, (size_t)n, &b, out, sizeof(out)), 1);
	ck_assert_int_eq(
		medfs_link_decrypt(target, sizeof(target), out, strlen(out), lk_new, &b),
		21);
	ck_assert_str_eq(target, "../series-1/image.dcm");
	ck_assert_uint_eq(strlen(out), (size_t)n);
	ck_assert_int_eq(medfs_rotate_link(K, out, strlen(out), &b, enc, sizeof(enc)), 0);
	b.name = "moved";
	b.name_len = 5;
	ck_assert_int_eq(medfs_rotate_link(K, out, strlen(out), &b, enc, sizeof(enc)),
			 -EBADMSG);
}
END_TEST

/* An xattr as the vault stores it, under key. */
static void seal_xattr(const uint8_t *key, const uint8_t id[16], const char *name,
		       const void *value, size_t len, char *vname, uint8_t *sealed)
{
	uint8_t nk[MEDFS_NAME_KEY_LEN], xk[32], ad[4 + 16 + 300];
	char enc[MEDFS_NAME_ENC_MAX], full[300];
	int n;

	name_key(nk, key);
	subkey(xk, MEDFS_SUBKEY_XATTR, key);
	n = medfs_name_encrypt(enc, sizeof(enc), name, strlen(name), id, nk);
	ck_assert_int_gt(n, 0);
	sprintf(vname, "user.medfs.%s", enc);
	snprintf(full, sizeof(full), "user.%s", name);
	memcpy(ad, "MDFX", 4);
	memcpy(ad + 4, id, 16);
	memcpy(ad + 20, full, strlen(full));
	randombytes_buf(sealed, 24);
	crypto_aead_xchacha20poly1305_ietf_encrypt(sealed + 24, NULL, value, len, ad,
						   20 + strlen(full), NULL, sealed, xk);
}

START_TEST(test_xattr)
{
	uint8_t id[16], sealed[64 + 40], out[64 + 40], again[64 + 40];
	char vname[XATTR_NAME_MAX + 1], new_name[XATTR_NAME_MAX + 1],
		check[XATTR_NAME_MAX + 1];
	uint8_t expect[64 + 40];

	randombytes_buf(id, sizeof(id));
	seal_xattr(old_key, id, "patient", "Doe^John", 8, vname, sealed);
	ck_assert_int_eq(medfs_rotate_xattr(K, id, vname, sealed, 8 + 40, new_name,
					    sizeof(new_name), out),
			 1);
	/* What the vault itself would write under the new key. */
	seal_xattr(new_key, id, "patient", "Doe^John", 8, check, expect);
	ck_assert_str_eq(new_name, check);
	ck_assert_int_eq(medfs_rotate_xattr(K, id, new_name, out, 8 + 40, check,
					    sizeof(check), again),
			 0);
	/* Bound to the file id, and authenticated. */
	id[0] ^= 1;
	ck_assert_int_eq(medfs_rotate_xattr(K, id, vname, sealed, 8 + 40, new_name,
					    sizeof(new_name), out),
			 -EBADMSG);
	id[0] ^= 1;
	sealed[30] ^= 1;
	ck_assert_int_eq(medfs_rotate_xattr(K, id, vname, sealed, 8 + 40, new_name,
					    sizeof(new_name), out),
			 -EBADMSG);
	ck_assert_int_eq(medfs_rotate_xattr(K, id, vname, sealed, 10, new_name,
					    sizeof(new_name), out),
			 -EBADMSG);
	ck_assert_int_eq(medfs_rotate_xattr(K, id, "user.other", sealed, 48, new_name,
					    sizeof(new_name), out),
			 -EINVAL);
	sealed[30] ^= 1;
	ck_assert_int_eq(medfs_rotate_xattr(K, id, vname, sealed, 48, new_name, 12, out),
			 -EINVAL);
}
END_TEST

/* File metadata as the vault stores it, under key. */
static void seal_meta(const uint8_t *key, const uint8_t id[16], const void *data,
		      size_t len, uint8_t *sealed)
{
	uint8_t xk[32], ad[4 + 16];

	subkey(xk, MEDFS_SUBKEY_XATTR, key);
	memcpy(ad, "MDFM", 4);
	memcpy(ad + 4, id, 16);
	randombytes_buf(sealed, 24);
	crypto_aead_xchacha20poly1305_ietf_encrypt(sealed + 24, NULL, data, len, ad,
						   sizeof(ad), NULL, sealed, xk);
}

/* Opens sealed metadata under key into plain; its length or -1. */
static long open_meta(const uint8_t *key, const uint8_t id[16], const uint8_t *sealed,
		      size_t len, uint8_t *plain)
{
	uint8_t xk[32], ad[4 + 16];
	unsigned long long plen;

	subkey(xk, MEDFS_SUBKEY_XATTR, key);
	memcpy(ad, "MDFM", 4);
	memcpy(ad + 4, id, 16);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &plen, NULL, sealed + 24,
						       len - 24, ad, sizeof(ad), sealed,
						       xk) != 0)
		return -1;
	return (long)plen;
}

/* A file's previous key (MEDFS_PREV_XATTR): resealed like metadata, with
 * its own AD tag, and exactly one key long. */
START_TEST(test_prev)
{
	uint8_t id[16], fk[32], xk[32], ad[20], sealed[72], out[72], again[72], plain[32];

	randombytes_buf(id, sizeof(id));
	randombytes_buf(fk, sizeof(fk));
	subkey(xk, MEDFS_SUBKEY_XATTR, old_key);
	memcpy(ad, MEDFS_PREV_AD_TAG, 4);
	memcpy(ad + 4, id, 16);
	randombytes_buf(sealed, 24);
	crypto_aead_xchacha20poly1305_ietf_encrypt(sealed + 24, NULL, fk, 32, ad,
						   sizeof(ad), NULL, sealed, xk);
	ck_assert_int_eq(medfs_rotate_prev(K, id, sealed, sizeof(sealed), out), 1);
	subkey(xk, MEDFS_SUBKEY_XATTR, new_key);
	ck_assert_int_eq(crypto_aead_xchacha20poly1305_ietf_decrypt(plain, NULL, NULL,
								    out + 24, 48, ad,
								    sizeof(ad), out, xk),
			 0);
	ck_assert_mem_eq(plain, fk, 32);
	ck_assert_int_eq(medfs_rotate_prev(K, id, out, sizeof(out), again), 0);
	for (size_t i = 0; i < sizeof(sealed); i++) {
		sealed[i] ^= 0x04;
		ck_assert_int_eq(medfs_rotate_prev(K, id, sealed, sizeof(sealed), out),
				 -EBADMSG);
		sealed[i] ^= 0x04;
	}
	ck_assert_int_eq(medfs_rotate_prev(K, id, sealed, sizeof(sealed) - 1, out),
			 -EBADMSG);
	/* Metadata under the same subkey is not a key: another AD tag. */
	{
		uint8_t meta[72];

		seal_meta(old_key, id, fk, 32, meta);
		ck_assert_int_eq(medfs_rotate_prev(K, id, meta, sizeof(meta), out),
				 -EBADMSG);
	}
}
END_TEST

START_TEST(test_meta)
{
	static const char ids[] = "patient_id=PAT001\nstudy_uid=1.2.3\n";
	const size_t len = sizeof(ids) - 1, slen = len + 40;
	uint8_t id[16], sealed[128], out[128], again[128], plain[128];
	uint8_t big[MEDFS_META_MAX + 41];

	randombytes_buf(id, sizeof(id));
	seal_meta(old_key, id, ids, len, sealed);
	ck_assert_int_eq(medfs_rotate_meta(K, id, sealed, slen, out), 1);
	/* What the vault would read under the new key, and only under it. */
	ck_assert_int_eq(open_meta(new_key, id, out, slen, plain), (long)len);
	ck_assert_mem_eq(plain, ids, len);
	ck_assert_int_eq(open_meta(old_key, id, out, slen, plain), -1);
	ck_assert(memcmp(out, sealed, 24) != 0); /* a fresh nonce */
	ck_assert_int_eq(medfs_rotate_meta(K, id, out, slen, again), 0);
	/* Bound to the file id, and authenticated: every byte. */
	id[0] ^= 1;
	ck_assert_int_eq(medfs_rotate_meta(K, id, sealed, slen, out), -EBADMSG);
	id[0] ^= 1;
	for (size_t i = 0; i < slen; i++) {
		sealed[i] ^= 0x20;
		ck_assert_int_eq(medfs_rotate_meta(K, id, sealed, slen, out), -EBADMSG);
		sealed[i] ^= 0x20;
	}
	ck_assert_int_eq(medfs_rotate_meta(K, id, sealed, 39, out), -EBADMSG);
	ck_assert_int_eq(medfs_rotate_meta(K, id, sealed, 0, out), -EBADMSG);
	/* A byte short, or longer than any metadata. */
	ck_assert_int_eq(medfs_rotate_meta(K, id, sealed, slen - 1, out), -EBADMSG);
	memset(big, 0, sizeof(big));
	ck_assert_int_eq(medfs_rotate_meta(K, id, big, sizeof(big), out), -EBADMSG);
	/* The largest the vault writes converts. */
	{
		uint8_t *data = calloc(1, MEDFS_META_MAX),
			*s2 = malloc(MEDFS_META_MAX + 40),
			*o2 = malloc(MEDFS_META_MAX + 40);

		ck_assert_ptr_nonnull(data);
		ck_assert_ptr_nonnull(s2);
		ck_assert_ptr_nonnull(o2);
		seal_meta(old_key, id, data, MEDFS_META_MAX, s2);
		ck_assert_int_eq(medfs_rotate_meta(K, id, s2, MEDFS_META_MAX + 40, o2),
				 1);
		free(data);
		free(s2);
		free(o2);
	}
}
END_TEST

/* ---- whole trees ---- */

struct dump {
	char *buf;
	size_t len, cap;
};

static void out(struct dump *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void out(struct dump *d, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ck_assert(n > 0 && (size_t)n < sizeof(line));
	if (d->len + (size_t)n + 1 > d->cap) {
		d->cap = (d->len + (size_t)n + 1) * 2;
		d->buf = realloc(d->buf, d->cap);
		ck_assert_ptr_nonnull(d->buf);
	}
	memcpy(d->buf + d->len, line, (size_t)n + 1);
	d->len += (size_t)n;
}

struct entries {
	char names[64][MEDFS_NAME_MAX + 1];
	int n;
};

static int collect(void *ctx, const char *name, const struct stat *st)
{
	struct entries *e = ctx;

	(void)st;
	ck_assert_int_lt(e->n, 64);
	strcpy(e->names[e->n++], name);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int cmp_ptrs(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Everything visible under path, in order. Returns 0 or the first error. */
static int dump_dir(struct medfs_vault *v, const char *path, struct dump *d)
{
	struct entries *e = calloc(1, sizeof(*e));
	int r;

	ck_assert_ptr_nonnull(e);
	r = medfs_vault_readdir(v, path, collect, e);
	qsort(e->names, (size_t)e->n, sizeof(e->names[0]), cmp_names);
	for (int i = 0; i < e->n && r == 0; i++) {
		char p[PATH_MAX], target[512];
		struct stat st;

		snprintf(p, sizeof(p), "%s/%s", strcmp(path, "/") ? path : "",
			 e->names[i]);
		r = medfs_vault_getattr(v, p, &st);
		if (r < 0)
			break;
		out(d, "%s %o %lld.%ld\n", p, st.st_mode, (long long)st.st_mtim.tv_sec,
		    st.st_mtim.tv_nsec);
		if (S_ISDIR(st.st_mode)) {
			r = dump_dir(v, p, d);
		} else if (S_ISLNK(st.st_mode)) {
			r = medfs_vault_readlink(v, p, target, sizeof(target));
			if (r == 0)
				out(d, "  -> %s\n", target);
		} else {
			static uint8_t data[1 << 16];
			char xl[1024], hex[33];
			uint8_t h[16];
			struct medfs_file *f;
			ssize_t n, xn;

			r = medfs_file_open(v, p, O_RDONLY, &f);
			if (r < 0)
				break;
			n = medfs_file_read(f, data, sizeof(data), 0);
			medfs_file_release(f);
			if (n < 0) {
				r = (int)n;
				break;
			}
			crypto_generichash(h, sizeof(h), data, (size_t)n, NULL, 0);
			sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
			out(d, "  %zd %s\n", n, hex);
			xn = medfs_vault_listxattr(v, p, xl, sizeof(xl));
			if (xn < 0) {
				r = (int)xn;
				break;
			}
			/* In name order: the file system's order may change. */
			char *names[32];
			int nx = 0;

			for (char *x = xl; x < xl + xn && nx < 32; x += strlen(x) + 1)
				names[nx++] = x;
			qsort(names, (size_t)nx, sizeof(names[0]), cmp_ptrs);
			for (int j = 0; j < nx && r == 0; j++) {
				char val[256];
				ssize_t vn = medfs_vault_getxattr(v, p, names[j], val,
								  sizeof(val));

				if (vn < 0)
					r = (int)vn;
				else
					out(d, "  %s=%.*s\n", names[j], (int)vn, val);
			}
			/* The metadata (a DICOM file's identifiers). */
			if (r == 0) {
				char meta[256];

				n = medfs_vault_get_meta(v, p, meta, sizeof(meta));
				if (n >= 0)
					out(d, "  meta %.*s\n", (int)n, meta);
				else if (n != -ENODATA)
					r = (int)n;
			}
		}
	}
	free(e);
	return r;
}

/* The tree under key, or NULL when any of it does not open. */
static char *dump(const uint8_t *key)
{
	struct dump d = { NULL, 0, 0 };
	struct medfs_vault *v;
	struct stat st;
	int r;

	out(&d, "\n");
	if (medfs_vault_open_cipher(&v, vdir, key, cipher) < 0) {
		free(d.buf);
		return NULL;
	}
	r = medfs_vault_getattr(v, "/", &st);
	if (r == 0) {
		out(&d, "/ %lld.%ld\n", (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
		r = dump_dir(v, "/", &d);
	}
	medfs_vault_close(v);
	if (r < 0) {
		free(d.buf);
		return NULL;
	}
	return d.buf;
}

static void write_file(struct medfs_vault *v, const char *path, size_t len)
{
	struct medfs_file *f;
	uint8_t *buf = malloc(len + 1);

	ck_assert_ptr_nonnull(buf);
	randombytes_buf(buf, len);
	ck_assert_int_eq(medfs_file_create(v, path, O_RDWR | O_EXCL, 0640, NULL, &f), 0);
	if (len > 0)
		ck_assert_int_eq(medfs_file_write(f, buf, len, 0, 0), (ssize_t)len);
	medfs_file_release(f);
	free(buf);
}

static void set_meta(struct medfs_vault *v, const char *path, const char *text)
{
	struct medfs_file *f;

	ck_assert_int_eq(medfs_file_open(v, path, O_RDWR, &f), 0);
	ck_assert_int_eq(medfs_file_set_meta(f, text, strlen(text)), 0);
	medfs_file_release(f);
}

static char long_file[LONG_FILE_LEN + 8], long_dir[140];

/* A fresh vault under old_key: files of several sizes, nested and
 * long-named directories and files, symlinks, xattrs: OBJECTS objects with
 * the root. */
static void make_vault(void)
{
	struct medfs_vault *v;
	char p[PATH_MAX];

	snprintf(base, sizeof(base), "/tmp/medfs-test-rotate-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(base));
	snprintf(vdir, sizeof(vdir), "%s/vault", base);
	ck_assert_int_eq(mkdir(vdir, 0700), 0);
	ck_assert_int_eq(medfs_vault_create_tree(vdir, old_key), 0);
	ck_assert_int_eq(medfs_vault_open_cipher(&v, vdir, old_key, cipher), 0);
	memset(long_file, 'F', LONG_FILE_LEN);
	long_file[LONG_FILE_LEN] = '\0';
	memset(long_dir, 'D', 130);
	long_dir[130] = '\0';

	write_file(v, "/a.txt", 5000);
	set_meta(v, "/a.txt", "patient_id=PAT001\nstudy_uid=1.2.3\n");
	ck_assert_int_eq(medfs_vault_setxattr(v, "/a.txt", "user.one", "1", 1, 0), 0);
	ck_assert_int_eq(medfs_vault_setxattr(v, "/a.txt", "user.two", "second", 6, 0),
			 0);
	write_file(v, "/empty", 0);
	write_file(v, "/big", 3 * MEDFS_BLOCK_SIZE + 17);
	ck_assert_int_eq(medfs_vault_mkdir(v, "/dir", 0750, NULL), 0);
	ck_assert_int_eq(medfs_vault_mkdir(v, "/dir/sub", 0700, NULL), 0);
	write_file(v, "/dir/sub/deep.bin", 100);
	snprintf(p, sizeof(p), "/dir/%s", long_file);
	write_file(v, p, 4096);
	ck_assert_int_eq(medfs_vault_setxattr(v, p, "user.study", "CT", 2, 0), 0);
	set_meta(v, p, "patient_id=PAT002\n");
	set_meta(v, "/dir/sub/deep.bin", "patient_id=PAT003\nmodality=MR\n");
	snprintf(p, sizeof(p), "/%s", long_dir);
	ck_assert_int_eq(medfs_vault_mkdir(v, p, 0755, NULL), 0);
	snprintf(p, sizeof(p), "/%s/inner", long_dir);
	write_file(v, p, 10);
	ck_assert_int_eq(medfs_vault_symlink(v, "../a.txt", "/dir/link", NULL), 0);
	snprintf(p, sizeof(p), "/%s/%s", long_dir, long_file);
	ck_assert_int_eq(medfs_vault_symlink(v, "/somewhere/else", p, NULL), 0);
	ck_assert_int_eq(medfs_vault_mkdir(v, "/emptydir", 0700, NULL), 0);
	medfs_vault_close(v);
}

static void drop_vault(void)
{
	if (base[0] != '\0')
		nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	base[0] = '\0';
}

#define OBJECTS 13

struct stop_after {
	uint64_t n;
	uint64_t calls;
	int problems;
	char last_problem[PATH_MAX];
};

static int stop_cb(void *ctx, const struct medfs_rotate_progress *p)
{
	struct stop_after *s = ctx;

	s->calls++;
	ck_assert_uint_le(p->done, p->total);
	return s->n > 0 && p->done >= s->n;
}

static void problem_cb(void *ctx, const char *vpath, const char *what)
{
	struct stop_after *s = ctx;

	(void)what;
	s->problems++;
	snprintf(s->last_problem, sizeof(s->last_problem), "%s", vpath);
}

/* Bytes of the vault file holding a plaintext of size bytes after its
 * header, found by its length (each test file has its own). */
static uint8_t *vault_blocks(size_t plain, size_t *len)
{
	char path[PATH_MAX], cmd[PATH_MAX + 100];
	uint8_t *buf;
	FILE *f;
	int fd;

	snprintf(cmd, sizeof(cmd),
		 "find %s/tree -type f -size %zuc ! -name '.*' ! -name '*.n'", vdir,
		 (size_t)medfs_disk_size(plain));
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(path, sizeof(path), f));
	pclose(f);
	path[strcspn(path, "\n")] = '\0';
	*len = (size_t)medfs_disk_size(plain) - MEDFS_HEADER_LEN;
	buf = malloc(*len);
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, buf, *len, MEDFS_HEADER_LEN), (ssize_t)*len);
	close(fd);
	return buf;
}

/* Number of long-name sidecars whose entry is missing. */
static int orphans(void)
{
	char cmd[PATH_MAX + 200];
	int n = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd),
		 "find %s/tree -name '*.n' | while read s; do "
		 "[ -e \"${s%%.n}\" ] || [ -L \"${s%%.n}\" ] || echo \"$s\"; done",
		 vdir);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(cmd, sizeof(cmd), f) != NULL) {
		n++;
	}
	pclose(f);
	return n;
}

/* 1 when every block of blocks (len bytes of a file's blocks) has the
 * nonce field of an AES-256-GCM block: its last 12 bytes zero. */
static int aes_nonce_fields(const uint8_t *blocks, size_t len)
{
	for (size_t off = 0; off < len; off += MEDFS_BLOCK_DISK_SIZE)
		if (!sodium_is_zero(blocks + off + MEDFS_BLOCK_AES_NONCE_LEN,
				    MEDFS_BLOCK_NONCE_LEN - MEDFS_BLOCK_AES_NONCE_LEN))
			return 0;
	return 1;
}

static void rotate_whole(enum medfs_rotation mode, uint32_t with)
{
	struct medfs_rotate_stats st;
	struct stop_after s = { 0 };
	struct medfs_rotate_ops ops = { stop_cb, problem_cb, &s };
	char *before, *after;
	uint8_t *blocks, *blocks_after;
	char cmd[400];
	size_t len;

	cipher = with;
	make_vault();
	before = dump(old_key);
	ck_assert_ptr_nonnull(before);
	ck_assert_ptr_null(dump(new_key));
	blocks = vault_blocks(3 * MEDFS_BLOCK_SIZE + 17, &len);
	ck_assert_int_eq(orphans(), 0);
	/* Owned by another user (the driver's), as root can arrange. */
	if (geteuid() == 0) {
		snprintf(cmd, sizeof(cmd), "chown -h -R 4321:4321 %s/tree", vdir);
		ck_assert_int_eq(system(cmd), 0);
	}

	ck_assert_int_eq(
		medfs_rotate_tree(vdir, old_key, new_key, mode, cipher, &ops, &st), 0);
	ck_assert_int_eq(orphans(), 0);
	ck_assert_uint_eq(st.objects, OBJECTS);
	ck_assert_uint_eq(st.converted, OBJECTS);
	ck_assert_uint_eq(st.damaged, 0);
	ck_assert_uint_eq(s.calls, OBJECTS);
	ck_assert_int_eq(s.problems, 0);
	after = dump(new_key);
	ck_assert_ptr_nonnull(after);
	ck_assert_str_eq(after, before);
	ck_assert_ptr_null(dump(old_key));

	/* Every vault object kept its owner. */
	if (geteuid() == 0) {
		snprintf(cmd, sizeof(cmd), "find %s/tree ! -uid 4321 | grep -q .", vdir);
		ck_assert_int_ne(system(cmd), 0);
	}
	/* Contents: untouched, or re-encrypted. */
	blocks_after = vault_blocks(3 * MEDFS_BLOCK_SIZE + 17, &len);
	if (mode == MEDFS_ROTATION_REKEY)
		ck_assert_mem_eq(blocks, blocks_after, len);
	else
		ck_assert(memcmp(blocks, blocks_after, 40) != 0);
	/* Re-encrypted with the vault's cipher (dump opened them with it). */
	ck_assert_int_eq(aes_nonce_fields(blocks, len), cipher == MEDFS_CIPHER_AES256GCM);
	ck_assert_int_eq(aes_nonce_fields(blocks_after, len),
			 cipher == MEDFS_CIPHER_AES256GCM);

	/* Again: nothing left to do. */
	ck_assert_int_eq(
		medfs_rotate_tree(vdir, old_key, new_key, mode, cipher, &ops, &st), 0);
	ck_assert_uint_eq(st.objects, OBJECTS);
	ck_assert_uint_eq(st.converted, 0);
	free(after);
	after = dump(new_key);
	ck_assert_str_eq(after, before);
	free(before);
	free(after);
	free(blocks);
	free(blocks_after);
	drop_vault();
}

START_TEST(test_tree_rekey)
{
	rotate_whole(MEDFS_ROTATION_REKEY, MEDFS_CIPHER_XCHACHA20POLY1305);
}
END_TEST

START_TEST(test_tree_reencrypt)
{
	rotate_whole(MEDFS_ROTATION_REENCRYPT, MEDFS_CIPHER_XCHACHA20POLY1305);
}
END_TEST

START_TEST(test_tree_aes)
{
	if (medfs_block_cipher_check(MEDFS_CIPHER_AES256GCM) < 0)
		return; /* no AES-NI here */
	rotate_whole(MEDFS_ROTATION_REKEY, MEDFS_CIPHER_AES256GCM);
	rotate_whole(MEDFS_ROTATION_REENCRYPT, MEDFS_CIPHER_AES256GCM);
}
END_TEST

/* Stopped after each object in turn, then resumed: the same tree. */
static void interrupt_everywhere(enum medfs_rotation mode)
{
	struct medfs_rotate_stats st;

	for (uint64_t k = 1; k < OBJECTS; k++) {
		struct stop_after s = { .n = k };
		struct medfs_rotate_ops ops = { stop_cb, problem_cb, &s };
		char *before, *after;

		make_vault();
		before = dump(old_key);
		ck_assert_ptr_nonnull(before);
		ck_assert_int_eq(medfs_rotate_tree(vdir, old_key, new_key, mode, cipher,
						   &ops, &st),
				 -ECANCELED);
		ck_assert_uint_eq(st.objects, k);
		/* Half done: the whole opens under neither key (the root
		 * went first; names still old are not listed). */
		ck_assert_ptr_null(dump(old_key));
		after = dump(new_key);
		ck_assert(after == NULL || strcmp(after, before) != 0);
		free(after);
		s.n = 0;
		ck_assert_int_eq(medfs_rotate_tree(vdir, old_key, new_key, mode, cipher,
						   &ops, &st),
				 0);
		ck_assert_uint_eq(st.converted, OBJECTS - k);
		ck_assert_int_eq(s.problems, 0);
		after = dump(new_key);
		ck_assert_ptr_nonnull(after);
		ck_assert_str_eq(after, before);
		free(before);
		free(after);
		drop_vault();
	}
}

START_TEST(test_interrupt_rekey)
{
	interrupt_everywhere(MEDFS_ROTATION_REKEY);
}
END_TEST

START_TEST(test_interrupt_reencrypt)
{
	interrupt_everywhere(MEDFS_ROTATION_REENCRYPT);
}
END_TEST

/* Path of the vault entry of plaintext name in the vault directory at
 * dir_path (relative to vdir/tree, "" for the root) whose id is dir_id. */
static void entry_of(char *out, size_t outsz, const char *dir_path,
		     const uint8_t dir_id[16], const char *name, const uint8_t *key,
		     char *enc_out)
{
	uint8_t nk[MEDFS_NAME_KEY_LEN];
	char enc[MEDFS_NAME_ENC_MAX], entry[MEDFS_NAME_ENC_MAX];

	name_key(nk, key);
	ck_assert_int_gt(
		medfs_name_encrypt(enc, sizeof(enc), name, strlen(name), dir_id, nk), 0);
	ck_assert_int_gt(medfs_name_entry(entry, sizeof(entry), enc, strlen(enc), nk), 0);
	snprintf(out, outsz, "%s/tree%s%s/%s", vdir, *dir_path ? "/" : "", dir_path,
		 entry);
	if (enc_out != NULL)
		strcpy(enc_out, enc);
}

static void dir_id_of(const char *vault_dir_path, uint8_t id[16])
{
	char p[PATH_MAX + 32];
	int fd;

	snprintf(p, sizeof(p), "%s/.medfs-dir", vault_dir_path);
	fd = open(p, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, id, 16, 8), 16);
	close(fd);
}

/* States a killed rotation leaves in the middle of one object's step. */
START_TEST(test_half_steps)
{
	struct medfs_rotate_stats st;
	char root[512], dirp[1024], p[PATH_MAX], side[PATH_MAX + 8];
	char enc_new[MEDFS_NAME_ENC_MAX], newp[PATH_MAX], new_name[XATTR_NAME_MAX + 1];
	char *before, *after, vname[XATTR_NAME_MAX + 1], list[1024];
	uint8_t root_id[16], dir_id[16], file_id[16], val[256], nval[256], times[32];
	struct timespec tv[2], root_tv[2], dir_tv[2];
	struct stat sb;
	ssize_t n, vn;
	int fd;

	make_vault();
	before = dump(old_key);
	ck_assert_ptr_nonnull(before);
	snprintf(root, sizeof(root), "%s/tree", vdir);
	dir_id_of(root, root_id);

	/* 1. A long name: the new sidecar written, the rename not done. */
	entry_of(dirp, sizeof(dirp), "", root_id, "dir", old_key, NULL);
	dir_id_of(dirp, dir_id);
	ck_assert_int_eq(stat(root, &sb), 0);
	root_tv[0] = sb.st_atim;
	root_tv[1] = sb.st_mtim;
	ck_assert_int_eq(stat(dirp, &sb), 0);
	dir_tv[0] = sb.st_atim;
	dir_tv[1] = sb.st_mtim;
	entry_of(p, sizeof(p), dirp + strlen(root) + 1, dir_id, long_file, new_key,
		 enc_new);
	snprintf(side, sizeof(side), "%s.n", p);
	fd = open(side, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, enc_new, strlen(enc_new)), (ssize_t)strlen(enc_new));
	close(fd);

	/* 2. A file's new xattr set, its old one not yet removed; its mtime
	 * changed by the header write, the original saved aside. */
	entry_of(p, sizeof(p), "", root_id, "a.txt", old_key, NULL);
	fd = open(p, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, file_id, 16, 8), 16);
	n = flistxattr(fd, list, sizeof(list));
	ck_assert_int_gt(n, 0);
	vname[0] = '\0';
	for (char *x = list; x < list + n && !vname[0]; x += strlen(x) + 1)
		if (strncmp(x, MEDFS_XATTR_VAULT_PREFIX,
			    strlen(MEDFS_XATTR_VAULT_PREFIX)) == 0)
			strcpy(vname, x);
	ck_assert(vname[0] != '\0'); /* not the metadata */
	vn = fgetxattr(fd, vname, val, sizeof(val));
	ck_assert_int_gt(vn, 0);
	ck_assert_int_eq(medfs_rotate_xattr(K, file_id, vname, val, (size_t)vn, new_name,
					    sizeof(new_name), nval),
			 1);
	ck_assert_int_eq(fsetxattr(fd, new_name, nval, (size_t)vn, 0), 0);
	ck_assert_int_eq(fstat(fd, &sb), 0);
	memset(times, 0, sizeof(times));
	for (int b = 0; b < 8; b++) {
		times[b] = (uint8_t)((uint64_t)sb.st_atim.tv_sec >> (8 * b));
		times[8 + b] = (uint8_t)((uint64_t)sb.st_atim.tv_nsec >> (8 * b));
		times[16 + b] = (uint8_t)((uint64_t)sb.st_mtim.tv_sec >> (8 * b));
		times[24 + b] = (uint8_t)((uint64_t)sb.st_mtim.tv_nsec >> (8 * b));
	}
	ck_assert_int_eq(fsetxattr(fd, "user.medfs-rotate-times", times, 32, 0), 0);
	tv[0].tv_sec = tv[1].tv_sec = 1000;
	tv[0].tv_nsec = tv[1].tv_nsec = 0;
	ck_assert_int_eq(futimens(fd, tv), 0);
	close(fd);

	/* 3. A renamed file whose header is still under the old key. */
	entry_of(p, sizeof(p), "", root_id, "big", old_key, NULL);
	entry_of(newp, sizeof(newp), "", root_id, "big", new_key, NULL);
	ck_assert_int_eq(rename(p, newp), 0);

	/* 4. Leftovers of interrupted operations, and an orphan sidecar. */
	snprintf(p, sizeof(p), "%s/.tmp-0123456789abcdef", dirp);
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	snprintf(p, sizeof(p), "%s/~orphanorphanorphanorphanorphanorphanorphan.n", root);
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	/* A directory header on its way in from the vault directory. */
	snprintf(side, sizeof(side), "%s/.tmp-fedcba9876543210", vdir);
	fd = open(side, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	/* The directories' times as they were: an unconverted directory
	 * header means nothing in it was touched by the rotation yet. */
	ck_assert_int_eq(utimensat(AT_FDCWD, root, root_tv, 0), 0);
	ck_assert_int_eq(utimensat(AT_FDCWD, dirp, dir_tv, 0), 0);

	ck_assert_int_eq(medfs_rotate_tree(vdir, old_key, new_key, MEDFS_ROTATION_REKEY,
					   cipher, NULL, &st),
			 0);
	ck_assert_uint_eq(st.damaged, 0);
	ck_assert_uint_ge(st.leftovers, 2);
	after = dump(new_key);
	ck_assert_ptr_nonnull(after);
	ck_assert_str_eq(after, before);
	/* No sidecar without its entry, no temporary, no saved times left. */
	ck_assert_int_eq(access(p, F_OK), -1);
	entry_of(dirp, sizeof(dirp), "", root_id, "dir", new_key, NULL);
	ck_assert_int_eq(orphans(), 0);
	ck_assert_int_eq(access(side, F_OK), -1);
	snprintf(p, sizeof(p), "find %s -name '.tmp-*' | grep -q .", root);
	ck_assert_int_ne(system(p), 0);
	entry_of(p, sizeof(p), "", root_id, "a.txt", new_key, NULL);
	ck_assert_int_lt(getxattr(p, "user.medfs-rotate-times", val, sizeof(val)), 0);
	free(before);
	free(after);
	drop_vault();
}
END_TEST

/* Damaged objects are reported and left as they are; the rest rotates. */
START_TEST(test_damaged)
{
	struct stop_after s = { 0 };
	struct medfs_rotate_ops ops = { NULL, problem_cb, &s };
	struct medfs_rotate_stats st;
	char root[512], p[PATH_MAX];
	uint8_t root_id[16], byte;
	struct medfs_vault *v;
	struct medfs_file *f;
	int fd;

	make_vault();
	snprintf(root, sizeof(root), "%s/tree", vdir);
	dir_id_of(root, root_id);
	entry_of(p, sizeof(p), "", root_id, "empty", old_key, NULL);
	fd = open(p, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &byte, 1, 60), 1);
	byte ^= 1;
	ck_assert_int_eq(pwrite(fd, &byte, 1, 60), 1);
	close(fd);
	/* The metadata of /dir/sub/deep.bin, one byte of its ciphertext. */
	{
		char d[PATH_MAX], sub[PATH_MAX];
		uint8_t id[16], meta[256];
		ssize_t n;

		entry_of(d, sizeof(d), "", root_id, "dir", old_key, NULL);
		dir_id_of(d, id);
		entry_of(sub, sizeof(sub), strrchr(d, '/') + 1, id, "sub", old_key, NULL);
		dir_id_of(sub, id);
		snprintf(d, sizeof(d), "%s", sub + strlen(vdir) + strlen("/tree/"));
		entry_of(p, sizeof(p), d, id, "deep.bin", old_key, NULL);
		n = getxattr(p, MEDFS_META_XATTR, meta, sizeof(meta));
		ck_assert_int_gt(n, 40);
		meta[30] ^= 1;
		ck_assert_int_eq(setxattr(p, MEDFS_META_XATTR, meta, (size_t)n, 0), 0);
	}
	snprintf(p, sizeof(p), "%s/not-a-vault-name", root);
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);

	ck_assert_int_eq(medfs_rotate_tree(vdir, old_key, new_key,
					   MEDFS_ROTATION_REENCRYPT, cipher, &ops, &st),
			 0);
	ck_assert_uint_eq(st.damaged, 3);
	ck_assert_int_eq(s.problems, 3);
	ck_assert_ptr_nonnull(strstr(s.last_problem, "tree/"));
	ck_assert_int_eq(access(p, F_OK), 0);
	ck_assert_int_eq(medfs_vault_open_cipher(&v, vdir, new_key, cipher), 0);
	ck_assert_int_eq(medfs_file_open(v, "/empty", O_RDONLY, &f), -EBADMSG);
	ck_assert_int_eq(medfs_file_open(v, "/a.txt", O_RDONLY, &f), 0);
	medfs_file_release(f);
	/* The damaged metadata stays damaged; the rest moved with its file. */
	{
		char meta[256];

		ck_assert_int_eq(
			medfs_vault_get_meta(v, "/dir/sub/deep.bin", meta, sizeof(meta)),
			-EBADMSG);
		ck_assert_int_eq(medfs_vault_get_meta(v, "/a.txt", meta, sizeof(meta)),
				 (ssize_t)strlen("patient_id=PAT001\nstudy_uid=1.2.3\n"));
		ck_assert_int_eq(medfs_file_open(v, "/dir/sub/deep.bin", O_RDONLY, &f),
				 0);
		medfs_file_release(f);
	}
	medfs_vault_close(v);
	drop_vault();
}
END_TEST

START_TEST(test_start_finish)
{
	struct medfs_config c, loaded;
	uint8_t kf[32], *key = medfs_secret_alloc(32), *got = medfs_secret_alloc(32);
	uint8_t old[32];
	int used;

	ck_assert_ptr_nonnull(key);
	ck_assert_ptr_nonnull(got);
	make_vault();
	memcpy(key, old_key, 32);
	randombytes_buf(kf, sizeof(kf));
	medfs_config_init(&c, cipher);
	ck_assert_int_eq(
		medfs_slot_set(&c, 2, MEDFS_SLOT_KEYFILE, kf, 32, NULL, "k", key), 0);
	ck_assert_int_eq(medfs_config_save(vdir, &c, key), 0);

	ck_assert_int_eq(medfs_rotate_start(vdir, &c, key, 0), -EINVAL);
	ck_assert_int_eq(medfs_rotate_start(vdir, &c, key, MEDFS_ROTATION_REENCRYPT), 0);
	ck_assert(memcmp(key, old_key, 32) != 0);
	ck_assert_int_eq(medfs_config_rotating(&c), 1);
	/* What is on disk: the new key behind every slot, the old one kept. */
	ck_assert_int_eq(
		medfs_config_load(vdir, MEDFS_SLOT_KEYFILE, kf, 32, &loaded, got, &used),
		2);
	ck_assert_mem_eq(got, key, 32);
	ck_assert_uint_eq(loaded.rotation, MEDFS_ROTATION_REENCRYPT);
	ck_assert_int_eq(medfs_config_old_key(&loaded, got, old), 0);
	ck_assert_mem_eq(old, old_key, 32);
	/* Not twice. */
	ck_assert_int_eq(medfs_rotate_start(vdir, &c, key, MEDFS_ROTATION_REKEY),
			 -EINVAL);

	ck_assert_int_eq(medfs_rotate_tree(vdir, old, key, loaded.rotation, loaded.cipher,
					   NULL, NULL),
			 0);
	ck_assert_int_eq(medfs_rotate_finish(vdir, &c, key), 0);
	ck_assert_int_eq(medfs_config_rotating(&c), 0);
	ck_assert_int_eq(
		medfs_config_load(vdir, MEDFS_SLOT_KEYFILE, kf, 32, &loaded, got, &used),
		2);
	ck_assert_int_eq(medfs_config_rotating(&loaded), 0);
	ck_assert_int_eq(medfs_config_old_key(&loaded, got, old), -ENOENT);
	{
		struct medfs_vault *v;

		ck_assert_int_eq(medfs_vault_open(&v, vdir, got), 0);
		medfs_vault_close(v);
	}
	/* A format 1 config cannot start one. */
	c.version = 1;
	ck_assert_int_eq(medfs_rotate_start(vdir, &c, key, MEDFS_ROTATION_REKEY),
			 -EINVAL);
	ck_assert_int_eq(medfs_rotate_tree(vdir, old, key, 0, cipher, NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(medfs_rotate_tree(vdir, old, key, MEDFS_ROTATION_REENCRYPT, 3,
					   NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(medfs_rotate_tree("/nonexistent-medfs", old, key,
					   MEDFS_ROTATION_REKEY, cipher, NULL, NULL),
			 -ENOENT);
	medfs_secret_free(key);
	medfs_secret_free(got);
	drop_vault();
}
END_TEST

/* The access journal's STATE follows the vault key: the journal writer
 * continues its chain under the new key after a rotation. */
START_TEST(test_journal)
{
	struct medfs_auditor_key *ak;
	struct medfs_journal_writer *w;
	uint8_t jk_old[32], jk_new[32], vault_id[16],
		state[MEDFS_ROTATE_JOURNAL_STATE_LEN];
	char jdir[300], p[400];
	int fd;

	make_vault();
	snprintf(jdir, sizeof(jdir), "%s/journal", vdir);
	ck_assert_int_eq(medfs_rotate_journal(jdir, old_key, new_key), -ENOENT);
	subkey(jk_old, MEDFS_SUBKEY_JOURNAL, old_key);
	subkey(jk_new, MEDFS_SUBKEY_JOURNAL, new_key);
	randombytes_buf(vault_id, sizeof(vault_id));
	ck_assert_int_eq(medfs_auditor_key_generate(&ak), 0);
	ck_assert_int_eq(medfs_journal_writer_open(&w, jdir, medfs_auditor_key_box_pk(ak),
						   vault_id, jk_old, NULL),
			 0);
	ck_assert_int_eq(medfs_journal_writer_close(w), 0);
	/* Before the rotation the new key does not continue the journal. */
	ck_assert_int_eq(medfs_journal_writer_open(&w, jdir, medfs_auditor_key_box_pk(ak),
						   vault_id, jk_new, NULL),
			 -EBADMSG);

	ck_assert_int_eq(medfs_rotate_journal(jdir, old_key, new_key), 1);
	ck_assert_int_eq(medfs_rotate_journal(jdir, old_key, new_key), 0);
	ck_assert_int_eq(medfs_journal_writer_open(&w, jdir, medfs_auditor_key_box_pk(ak),
						   vault_id, jk_new, NULL),
			 0);
	ck_assert_int_eq(medfs_journal_writer_close(w), 0);

	/* The record itself: a flipped byte opens under neither key. */
	snprintf(p, sizeof(p), "%s/STATE", jdir);
	fd = open(p, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(read(fd, state, sizeof(state)), (ssize_t)sizeof(state));
	close(fd);
	ck_assert_int_eq(medfs_rotate_journal_state(K, state, sizeof(state)), 0);
	state[100] ^= 1;
	ck_assert_int_eq(medfs_rotate_journal_state(K, state, sizeof(state)), -EBADMSG);
	state[100] ^= 1;
	ck_assert_int_eq(medfs_rotate_journal_state(K, state, sizeof(state) - 1),
			 -EBADMSG);
	state[0] ^= 1;
	ck_assert_int_eq(medfs_rotate_journal_state(K, state, sizeof(state)), -EBADMSG);
	medfs_auditor_key_free(ak);
	drop_vault();
}
END_TEST

/* Reads the whole of path through the vault opened with key. */
static uint8_t *read_all(const uint8_t *key, const char *path, size_t len)
{
	struct medfs_vault *v;
	struct medfs_file *f;
	uint8_t *buf = malloc(len);

	ck_assert_int_eq(medfs_vault_open_cipher(&v, vdir, key, cipher), 0);
	ck_assert_int_eq(medfs_file_open(v, path, O_RDONLY, &f), 0);
	ck_assert_int_eq(medfs_file_read(f, buf, len, 0), (ssize_t)len);
	medfs_file_release(f);
	medfs_vault_close(v);
	return buf;
}

/* Writes len bytes of fill at off of path through the vault opened with key. */
static void write_at(const uint8_t *key, const char *path, off_t off, size_t len,
		     int fill, uint8_t *mirror)
{
	struct medfs_vault *v;
	struct medfs_file *f;
	uint8_t buf[MEDFS_BLOCK_SIZE];

	memset(buf, fill, len);
	memset(mirror + off, fill, len);
	ck_assert_int_eq(medfs_vault_open_cipher(&v, vdir, key, cipher), 0);
	ck_assert_int_eq(medfs_file_open(v, path, O_RDWR, &f), 0);
	ck_assert_int_eq(medfs_file_write(f, buf, len, off, 0), (ssize_t)len);
	medfs_file_release(f);
	medfs_vault_close(v);
}

/* The vault path of /big under key. */
static void big_path(char *out, size_t outsz, const uint8_t *key, uint8_t root[16])
{
	char tree[PATH_MAX];

	snprintf(tree, sizeof(tree), "%s/tree", vdir);
	dir_id_of(tree, root);
	entry_of(out, outsz, "", root, "big", key, NULL);
}

/* The flags and file key of the header of /big under key. */
static uint16_t big_header(const uint8_t *key, uint8_t fkey[32])
{
	uint8_t hk[32], hdr[MEDFS_HEADER_LEN], id[16], root[16];
	struct medfs_binding b;
	char path[PATH_MAX];
	uint64_t size;
	uint16_t flags;
	int fd;

	big_path(path, sizeof(path), key, root);
	b = binding(root, "big");
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
	close(fd);
	subkey(hk, MEDFS_SUBKEY_HEADER, key);
	ck_assert_int_eq(medfs_header_open_flags(hdr, id, fkey, &size, &flags, hk, &b),
			 0);
	return flags;
}

/* Which blocks of /big (vault key key) open under fkey: bit i for block i. */
static unsigned big_blocks_under(const uint8_t *key, const uint8_t fkey[32])
{
	uint8_t sealed[MEDFS_BLOCK_DISK_SIZE], out[MEDFS_BLOCK_SIZE], id[16], root[16];
	char path[PATH_MAX];
	unsigned mask = 0;
	int fd;

	big_path(path, sizeof(path), key, root);
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, id, 16, 8), 16); /* in the clear */
	for (unsigned i = 0; i < 4; i++) {
		size_t blen = (i < 3 ? MEDFS_BLOCK_SIZE : 17) + MEDFS_BLOCK_OVERHEAD;

		ck_assert_int_eq(pread(fd, sealed, blen, medfs_block_disk_offset(i)),
				 (ssize_t)blen);
		if (medfs_block_open(out, sealed, blen, cipher, fkey, id, i) >= 0)
			mask |= 1u << i;
	}
	close(fd);
	return mask;
}

/* Revocation (doc/FORMAT.md, 4.4): after a rotation, a file's first write
 * draws a new key, so what is written is not under a key from before;
 * older blocks stay readable under the previous key; a second rotation
 * and write fold the oldest key away. */
START_TEST(test_new_key_at_write)
{
	const size_t len = 3 * MEDFS_BLOCK_SIZE + 17;
	uint8_t k0[32], k1[32], k2[32], third[32], *expect, *got;
	struct medfs_rotate_stats st;

	make_vault();
	expect = read_all(old_key, "/big", len);
	ck_assert_uint_eq(big_header(old_key, k0), 0);
	ck_assert_uint_eq(big_blocks_under(old_key, k0), 0xf);

	ck_assert_int_eq(medfs_rotate_tree(vdir, old_key, new_key, MEDFS_ROTATION_REKEY,
					   cipher, NULL, &st),
			 0);
	ck_assert_uint_eq(big_header(new_key, k1), MEDFS_HEADER_STALE);
	ck_assert_mem_eq(k1, k0, 32); /* kept until the next write */
	got = read_all(new_key, "/big", len);
	ck_assert_mem_eq(got, expect, len);
	free(got);
	ck_assert_uint_eq(big_header(new_key, k1),
			  MEDFS_HEADER_STALE); /* reads keep it */

	write_at(new_key, "/big", MEDFS_BLOCK_SIZE + 10, 100, 'n', expect);
	ck_assert_uint_eq(big_header(new_key, k1), MEDFS_HEADER_PREV);
	ck_assert(memcmp(k1, k0, 32) != 0);
	ck_assert_uint_eq(big_blocks_under(new_key, k0), 0xd); /* block 1 is not */
	ck_assert_uint_eq(big_blocks_under(new_key, k1), 0x2);
	got = read_all(new_key, "/big", len);
	ck_assert_mem_eq(got, expect, len);
	free(got);

	/* A second rotation, a write: blocks 0, 2, 3 folded under k1 first. */
	randombytes_buf(third, sizeof(third));
	medfs_rotate_keys_free(K);
	memcpy(old_key, new_key, 32);
	memcpy(new_key, third, 32);
	ck_assert_int_eq(medfs_rotate_keys_new(&K, old_key, new_key), 0);
	ck_assert_int_eq(medfs_rotate_tree(vdir, old_key, new_key, MEDFS_ROTATION_REKEY,
					   cipher, NULL, &st),
			 0);
	ck_assert_uint_eq(big_header(new_key, k2),
			  MEDFS_HEADER_STALE | MEDFS_HEADER_PREV);
	ck_assert_mem_eq(k2, k1, 32);
	write_at(new_key, "/big", 0, 1, 'z', expect);
	ck_assert_uint_eq(big_header(new_key, k2), MEDFS_HEADER_PREV);
	ck_assert_uint_eq(big_blocks_under(new_key, k0), 0);
	ck_assert_uint_eq(big_blocks_under(new_key, k1), 0xe);
	ck_assert_uint_eq(big_blocks_under(new_key, k2), 0x1);
	got = read_all(new_key, "/big", len);
	ck_assert_mem_eq(got, expect, len);
	free(got);

	/* Re-encryption: one new key, no flag, no previous key. */
	randombytes_buf(third, sizeof(third));
	medfs_rotate_keys_free(K);
	memcpy(old_key, new_key, 32);
	memcpy(new_key, third, 32);
	ck_assert_int_eq(medfs_rotate_keys_new(&K, old_key, new_key), 0);
	ck_assert_int_eq(medfs_rotate_tree(vdir, old_key, new_key,
					   MEDFS_ROTATION_REENCRYPT, cipher, NULL, &st),
			 0);
	ck_assert_uint_eq(big_header(new_key, k0), 0);
	ck_assert_uint_eq(big_blocks_under(new_key, k0), 0xf);
	ck_assert_uint_eq(big_blocks_under(new_key, k1) | big_blocks_under(new_key, k2),
			  0);
	got = read_all(new_key, "/big", len);
	ck_assert_mem_eq(got, expect, len);
	free(got);
	free(expect);
	drop_vault();
}
END_TEST

/* Clones: the tree copied (stopped and resumed), then re-encrypted under a
 * key of its own, reads the same; the source is untouched. */
START_TEST(test_copy_tree)
{
	struct medfs_rotate_stats st;
	char src[256], dst[256], p[PATH_MAX + 32];
	char *before, *after;
	struct stat sb;

	make_vault();
	before = dump(old_key);
	ck_assert_ptr_nonnull(before);
	snprintf(src, sizeof(src), "%s", vdir);
	ck_assert_int_lt(snprintf(dst, sizeof(dst), "%s/clone", base), (int)sizeof(dst));
	ck_assert_int_eq(mkdir(dst, 0700), 0);
	for (uint64_t k = 1;; k++) {
		struct stop_after s = { .n = k };
		struct medfs_rotate_ops ops = { stop_cb, problem_cb, &s };
		int r = medfs_rotate_copy_tree(src, dst, &ops);

		if (r == 0)
			break;
		ck_assert_int_eq(r, -ECANCELED);
		snprintf(p, sizeof(p), "%s/tree", dst);
		ck_assert_int_ne(stat(p, &sb), 0); /* not there until complete */
		ck_assert_uint_lt(k, 100);
	}
	ck_assert_int_eq(medfs_rotate_copy_tree(src, dst, NULL), 0); /* done: nothing */
	snprintf(vdir, sizeof(vdir), "%s", dst);
	after = dump(old_key);
	ck_assert_ptr_nonnull(after);
	ck_assert_str_eq(after, before);
	free(after);
	ck_assert_int_eq(medfs_rotate_tree(dst, old_key, new_key,
					   MEDFS_ROTATION_REENCRYPT, cipher, NULL, &st),
			 0);
	after = dump(new_key);
	ck_assert_ptr_nonnull(after);
	ck_assert_str_eq(after, before);
	free(after);
	ck_assert_ptr_null(dump(old_key));
	snprintf(vdir, sizeof(vdir), "%s", src);
	after = dump(old_key);
	ck_assert_ptr_nonnull(after);
	ck_assert_str_eq(after, before);
	free(after);
	free(before);
	drop_vault();
}
END_TEST

static Suite *rotate_suite(void)
{
	Suite *s = suite_create("rotate");
	TCase *tc;

	tc = tcase_create("primitives");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_header);
	tcase_add_test(tc, test_dir_header);
	tcase_add_test(tc, test_name);
	tcase_add_test(tc, test_link);
	tcase_add_test(tc, test_xattr);
	tcase_add_test(tc, test_meta);
	tcase_add_test(tc, test_prev);
	suite_add_tcase(s, tc);

	tc = tcase_create("tree");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_tree_rekey);
	tcase_add_test(tc, test_tree_reencrypt);
	tcase_add_test(tc, test_tree_aes);
	tcase_add_test(tc, test_interrupt_rekey);
	tcase_add_test(tc, test_interrupt_reencrypt);
	tcase_add_test(tc, test_half_steps);
	tcase_add_test(tc, test_damaged);
	tcase_add_test(tc, test_start_finish);
	tcase_add_test(tc, test_journal);
	tcase_add_test(tc, test_new_key_at_write);
	tcase_add_test(tc, test_copy_tree);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rotate_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
