/* medfs: file and directory headers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "medfs/header.h"
#include "medfs/name.h"

#define HDR_MAGIC "MDFH"
#define DIR_MAGIC "MDFD"
#define HDR_FIXED_LEN 24 /* magic, version, reserved, id: the clear part */
#define HDR_NONCE_OFF 24
#define HDR_BOX_OFF 48
#define HDR_PLAIN_LEN (MEDFS_KEY_LEN + 8) /* file key || size u64 LE */
#define DIR_TAG_OFF 24
#define DIR_TAG_LEN 16
#define AD_MAX (HDR_FIXED_LEN + MEDFS_DIR_ID_LEN + MEDFS_NAME_MAX)

_Static_assert(HDR_BOX_OFF ==
		       HDR_NONCE_OFF + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
	       "header nonce layout");
_Static_assert(MEDFS_HEADER_LEN == HDR_BOX_OFF + HDR_PLAIN_LEN +
					   crypto_aead_xchacha20poly1305_ietf_ABYTES,
	       "file header layout");
_Static_assert(MEDFS_DIR_HEADER_LEN == DIR_TAG_OFF + DIR_TAG_LEN, "dir header layout");
_Static_assert(MEDFS_FILE_ID_LEN == 16 && MEDFS_DIR_ID_LEN == 16, "id lengths");

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* The clear 24 bytes: magic, version, flags (reserved zero in version 1),
 * id. */
static void put_fixed(uint8_t *out, const char *magic, const uint8_t id[16],
		      uint16_t flags)
{
	memcpy(out, magic, 4);
	put_u16(out + 4, flags ? MEDFS_HEADER_VERSION_FLAGS : MEDFS_HEADER_VERSION);
	put_u16(out + 6, flags);
	memcpy(out + 8, id, 16);
}

/* Bad magic is an integrity failure; a known magic with another version
 * is a format this build does not speak. */
static int check_fixed(const uint8_t *in, const char *magic)
{
	if (memcmp(in, magic, 4) != 0)
		return -EBADMSG;
	if (get_u16(in + 4) != MEDFS_HEADER_VERSION)
		return -EPROTONOSUPPORT;
	return 0;
}

/* A file header: version 1, or 2 (with flags) for files. */
static int check_file_fixed(const uint8_t in[MEDFS_HEADER_LEN])
{
	if (memcmp(in, HDR_MAGIC, 4) != 0)
		return -EBADMSG;
	if (get_u16(in + 4) != MEDFS_HEADER_VERSION &&
	    get_u16(in + 4) != MEDFS_HEADER_VERSION_FLAGS)
		return -EPROTONOSUPPORT;
	return 0;
}

/* AD = fixed bytes 0..24 || parent id || name. Returns its length or
 * -EINVAL for a binding that cannot exist. */
static int build_ad(uint8_t ad[AD_MAX], const uint8_t *fixed,
		    const struct medfs_binding *b)
{
	if (!b || b->name_len > MEDFS_NAME_MAX || (b->name_len && !b->name))
		return -EINVAL;
	memcpy(ad, fixed, HDR_FIXED_LEN);
	memcpy(ad + HDR_FIXED_LEN, b->parent_id, MEDFS_DIR_ID_LEN);
	if (b->name_len)
		memcpy(ad + HDR_FIXED_LEN + MEDFS_DIR_ID_LEN, b->name, b->name_len);
	return (int)(HDR_FIXED_LEN + MEDFS_DIR_ID_LEN + b->name_len);
}

static void seal_header(uint8_t out[MEDFS_HEADER_LEN],
			const uint8_t file_key[MEDFS_KEY_LEN], uint64_t size,
			const uint8_t header_key[MEDFS_KEY_LEN], const uint8_t *ad,
			size_t ad_len)
{
	uint8_t plain[HDR_PLAIN_LEN];

	memcpy(plain, file_key, MEDFS_KEY_LEN);
	put_u64(plain + MEDFS_KEY_LEN, size);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + HDR_BOX_OFF, NULL, plain,
						   sizeof(plain), ad, ad_len, NULL,
						   out + HDR_NONCE_OFF, header_key);
	sodium_memzero(plain, sizeof(plain));
}

int medfs_header_seal_flags(uint8_t out[MEDFS_HEADER_LEN],
			    const uint8_t file_id[MEDFS_FILE_ID_LEN],
			    const uint8_t file_key[MEDFS_KEY_LEN], uint64_t size,
			    uint16_t flags, const uint8_t header_key[MEDFS_KEY_LEN],
			    const struct medfs_binding *b, const uint8_t *nonce)
{
	uint8_t ad[AD_MAX];
	int ad_len;

	if (flags & ~MEDFS_HEADER_FLAGS_KNOWN) {
		sodium_memzero(out, MEDFS_HEADER_LEN);
		return -EINVAL;
	}
	put_fixed(out, HDR_MAGIC, file_id, flags);
	ad_len = build_ad(ad, out, b);
	if (ad_len < 0) {
		sodium_memzero(out, MEDFS_HEADER_LEN);
		return ad_len;
	}
	if (nonce)
		memmove(out + HDR_NONCE_OFF, nonce,
			crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	else
		randombytes_buf(out + HDR_NONCE_OFF,
				crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	seal_header(out, file_key, size, header_key, ad, (size_t)ad_len);
	sodium_memzero(ad, sizeof(ad)); /* holds the plaintext name */
	return 0;
}

int medfs_header_seal_with_nonce(uint8_t out[MEDFS_HEADER_LEN],
				 const uint8_t file_id[MEDFS_FILE_ID_LEN],
				 const uint8_t file_key[MEDFS_KEY_LEN], uint64_t size,
				 const uint8_t header_key[MEDFS_KEY_LEN],
				 const struct medfs_binding *b, const uint8_t nonce[24])
{
	return medfs_header_seal_flags(out, file_id, file_key, size, 0, header_key, b,
				       nonce);
}

int medfs_header_seal(uint8_t out[MEDFS_HEADER_LEN],
		      const uint8_t file_id[MEDFS_FILE_ID_LEN],
		      const uint8_t file_key[MEDFS_KEY_LEN], uint64_t size,
		      const uint8_t header_key[MEDFS_KEY_LEN],
		      const struct medfs_binding *b)
{
	return medfs_header_seal_flags(out, file_id, file_key, size, 0, header_key, b,
				       NULL);
}

int medfs_header_open_flags(const uint8_t in[MEDFS_HEADER_LEN],
			    uint8_t file_id[MEDFS_FILE_ID_LEN],
			    uint8_t file_key[MEDFS_KEY_LEN], uint64_t *size,
			    uint16_t *flags, const uint8_t header_key[MEDFS_KEY_LEN],
			    const struct medfs_binding *b)
{
	uint8_t ad[AD_MAX];
	uint8_t plain[HDR_PLAIN_LEN];
	uint16_t fl = get_u16(in + 6);
	int ret;

	ret = check_file_fixed(in);
	if (ret < 0)
		goto out;
	ret = build_ad(ad, in, b);
	if (ret < 0)
		goto out;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		    plain, NULL, NULL, in + HDR_BOX_OFF, MEDFS_HEADER_LEN - HDR_BOX_OFF,
		    ad, (size_t)ret, in + HDR_NONCE_OFF, header_key) != 0) {
		ret = -EBADMSG;
		goto out;
	}
	/* Authentic: only the key holder wrote these bytes. A version 1
	 * header has zero there, a version 2 header at least one flag. */
	if ((get_u16(in + 4) == MEDFS_HEADER_VERSION) != (fl == 0)) {
		ret = -EBADMSG;
		goto out;
	}
	if (fl & ~MEDFS_HEADER_FLAGS_KNOWN) {
		ret = -EPROTONOSUPPORT;
		goto out;
	}
	memcpy(file_id, in + 8, MEDFS_FILE_ID_LEN);
	memcpy(file_key, plain, MEDFS_KEY_LEN);
	*size = get_u64(plain + MEDFS_KEY_LEN);
	*flags = fl;
	ret = 0;
out:
	sodium_memzero(plain, sizeof(plain));
	sodium_memzero(ad, sizeof(ad));
	if (ret < 0) {
		sodium_memzero(file_id, MEDFS_FILE_ID_LEN);
		sodium_memzero(file_key, MEDFS_KEY_LEN);
		*size = 0;
		*flags = 0;
	}
	return ret;
}

int medfs_header_open(const uint8_t in[MEDFS_HEADER_LEN],
		      uint8_t file_id[MEDFS_FILE_ID_LEN], uint8_t file_key[MEDFS_KEY_LEN],
		      uint64_t *size, const uint8_t header_key[MEDFS_KEY_LEN],
		      const struct medfs_binding *b)
{
	uint16_t flags;

	return medfs_header_open_flags(in, file_id, file_key, size, &flags, header_key,
				       b);
}

/* tag = BLAKE2b-128 keyed with the dir subkey over the AD. */
static void dir_tag(uint8_t tag[DIR_TAG_LEN], const uint8_t *ad, size_t ad_len,
		    const uint8_t dir_key[MEDFS_KEY_LEN])
{
	crypto_generichash(tag, DIR_TAG_LEN, ad, ad_len, dir_key, MEDFS_KEY_LEN);
}

int medfs_dir_header_seal(uint8_t out[MEDFS_DIR_HEADER_LEN],
			  const uint8_t dir_id[MEDFS_DIR_ID_LEN],
			  const uint8_t dir_key[MEDFS_KEY_LEN],
			  const struct medfs_binding *b)
{
	uint8_t ad[AD_MAX];
	int ad_len;

	put_fixed(out, DIR_MAGIC, dir_id, 0);
	ad_len = build_ad(ad, out, b);
	if (ad_len < 0) {
		sodium_memzero(out, MEDFS_DIR_HEADER_LEN);
		return ad_len;
	}
	dir_tag(out + DIR_TAG_OFF, ad, (size_t)ad_len, dir_key);
	sodium_memzero(ad, sizeof(ad)); /* holds the plaintext name */
	return 0;
}

int medfs_dir_header_open(const uint8_t in[MEDFS_DIR_HEADER_LEN],
			  uint8_t dir_id[MEDFS_DIR_ID_LEN],
			  const uint8_t dir_key[MEDFS_KEY_LEN],
			  const struct medfs_binding *b)
{
	uint8_t ad[AD_MAX];
	uint8_t tag[DIR_TAG_LEN];
	int ret;

	ret = check_fixed(in, DIR_MAGIC);
	if (ret < 0)
		goto out;
	ret = build_ad(ad, in, b);
	if (ret < 0)
		goto out;
	dir_tag(tag, ad, (size_t)ret, dir_key);
	/* Bytes 6..8 are reserved, zero (what seal writes): authentic but
	 * not zero is a header this build did not write. */
	if (sodium_memcmp(tag, in + DIR_TAG_OFF, DIR_TAG_LEN) != 0 || get_u16(in + 6) != 0) {
		ret = -EBADMSG;
		goto out;
	}
	memcpy(dir_id, in + 8, MEDFS_DIR_ID_LEN);
	ret = 0;
out:
	sodium_memzero(ad, sizeof(ad));
	if (ret < 0)
		sodium_memzero(dir_id, MEDFS_DIR_ID_LEN);
	return ret;
}

/* ---- sealed xattr records (previous key, metadata) ---- */

_Static_assert(MEDFS_XATTR_NONCE_LEN == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
	       "xattr nonce length");
_Static_assert(MEDFS_XATTR_OVERHEAD == MEDFS_XATTR_NONCE_LEN +
					       crypto_aead_xchacha20poly1305_ietf_ABYTES,
	       "xattr record overhead");

#define BLOB_AD_LEN (4 + MEDFS_FILE_ID_LEN)

static void blob_ad(uint8_t ad[BLOB_AD_LEN], const char *tag,
		    const uint8_t file_id[MEDFS_FILE_ID_LEN])
{
	memcpy(ad, tag, 4);
	memcpy(ad + 4, file_id, MEDFS_FILE_ID_LEN);
}

static void blob_seal(uint8_t *out, const char *tag, const uint8_t *data, size_t len,
		      const uint8_t file_id[MEDFS_FILE_ID_LEN],
		      const uint8_t xattr_key[MEDFS_KEY_LEN], const uint8_t *nonce)
{
	uint8_t ad[BLOB_AD_LEN];

	blob_ad(ad, tag, file_id);
	if (nonce)
		memmove(out, nonce, MEDFS_XATTR_NONCE_LEN);
	else
		randombytes_buf(out, MEDFS_XATTR_NONCE_LEN);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + MEDFS_XATTR_NONCE_LEN, NULL, data,
						   len, ad, sizeof(ad), NULL, out,
						   xattr_key);
}

/* Opens a record of len bytes whose plaintext must be at most cap bytes.
 * Returns the plaintext length or -EBADMSG (out wiped). */
static ssize_t blob_open(uint8_t *out, size_t cap, const char *tag, const uint8_t *in,
			 size_t len, const uint8_t file_id[MEDFS_FILE_ID_LEN],
			 const uint8_t xattr_key[MEDFS_KEY_LEN])
{
	uint8_t ad[BLOB_AD_LEN];
	unsigned long long plen;

	if (len < MEDFS_XATTR_OVERHEAD || len - MEDFS_XATTR_OVERHEAD > cap) {
		sodium_memzero(out, cap);
		return -EBADMSG;
	}
	blob_ad(ad, tag, file_id);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		    out, &plen, NULL, in + MEDFS_XATTR_NONCE_LEN,
		    len - MEDFS_XATTR_NONCE_LEN, ad, sizeof(ad), in, xattr_key) != 0) {
		sodium_memzero(out, cap);
		return -EBADMSG;
	}
	return (ssize_t)plen;
}

void medfs_prev_seal(uint8_t out[MEDFS_PREV_LEN], const uint8_t key[MEDFS_KEY_LEN],
		     const uint8_t file_id[MEDFS_FILE_ID_LEN],
		     const uint8_t xattr_key[MEDFS_KEY_LEN], const uint8_t *nonce)
{
	blob_seal(out, MEDFS_PREV_AD_TAG, key, MEDFS_KEY_LEN, file_id, xattr_key, nonce);
}

int medfs_prev_open(uint8_t key[MEDFS_KEY_LEN], const uint8_t *in, size_t len,
		    const uint8_t file_id[MEDFS_FILE_ID_LEN],
		    const uint8_t xattr_key[MEDFS_KEY_LEN])
{
	if (len != MEDFS_PREV_LEN) {
		sodium_memzero(key, MEDFS_KEY_LEN);
		return -EBADMSG;
	}
	return blob_open(key, MEDFS_KEY_LEN, MEDFS_PREV_AD_TAG, in, len, file_id,
			 xattr_key) < 0
		       ? -EBADMSG
		       : 0;
}

int medfs_meta_seal(uint8_t *out, const void *data, size_t len,
		    const uint8_t file_id[MEDFS_FILE_ID_LEN],
		    const uint8_t xattr_key[MEDFS_KEY_LEN], const uint8_t *nonce)
{
	if (len > MEDFS_META_MAX)
		return -E2BIG;
	blob_seal(out, MEDFS_META_AD_TAG, data, len, file_id, xattr_key, nonce);
	return 0;
}

ssize_t medfs_meta_open(void *out, size_t cap, const uint8_t *in, size_t len,
			const uint8_t file_id[MEDFS_FILE_ID_LEN],
			const uint8_t xattr_key[MEDFS_KEY_LEN])
{
	uint8_t *plain;
	ssize_t n;

	if (len < MEDFS_XATTR_OVERHEAD || len > MEDFS_META_SEALED_MAX) {
		sodium_memzero(out, cap);
		return -EBADMSG;
	}
	if (len - MEDFS_XATTR_OVERHEAD <= cap)
		return blob_open(out, cap, MEDFS_META_AD_TAG, in, len, file_id, xattr_key);
	/* Authentic but too long for out, or not authentic: which one? */
	plain = sodium_malloc(MEDFS_META_MAX);
	if (!plain)
		return -ENOMEM;
	n = blob_open(plain, MEDFS_META_MAX, MEDFS_META_AD_TAG, in, len, file_id,
		      xattr_key);
	sodium_free(plain); /* wipes */
	sodium_memzero(out, cap);
	return n < 0 ? n : -ERANGE;
}
