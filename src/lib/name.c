/* medfs: encrypted names (deterministic SIV per directory) and symlink
 * targets. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <sodium.h>

#include "medfs/name.h"

#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define SIV_LEN 16
#define PAD 16
#define NAME_PADDED_MAX (MEDFS_NAME_MAX + 1) /* 255 rounds up to 256 */
#define NAME_RAW_MAX (SIV_LEN + NAME_PADDED_MAX)
#define LONG_HASH_LEN 32
#define LINK_NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define LINK_TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES
#define LINK_OVERHEAD (LINK_NONCE_LEN + LINK_TAG_LEN)
#define LINK_RAW_MAX (MEDFS_LINK_MAX + LINK_OVERHEAD)
#define LINK_AD_MAX (4 + MEDFS_DIR_ID_LEN + MEDFS_NAME_MAX)

_Static_assert(NAME_PADDED_MAX % PAD == 0, "padded name length");
_Static_assert(sodium_base64_ENCODED_LEN(NAME_RAW_MAX, B64) <= MEDFS_NAME_ENC_MAX,
	       "MEDFS_NAME_ENC_MAX too small");
_Static_assert(sodium_base64_ENCODED_LEN(LONG_HASH_LEN, B64) == MEDFS_LONGNAME_LEN,
	       "long name: '~' + hash + NUL");
_Static_assert(sodium_base64_ENCODED_LEN(LINK_RAW_MAX, B64) <= MEDFS_LINK_ENC_MAX,
	       "MEDFS_LINK_ENC_MAX too small");
_Static_assert(crypto_stream_xchacha20_NONCEBYTES == SIV_LEN + 8, "SIV nonce");

static const uint8_t *mac_key(const uint8_t name_key[MEDFS_NAME_KEY_LEN])
{
	return name_key;
}

static const uint8_t *enc_key(const uint8_t name_key[MEDFS_NAME_KEY_LEN])
{
	return name_key + MEDFS_KEY_LEN;
}

static bool name_valid(const char *name, size_t len)
{
	if (len == 0 || len > MEDFS_NAME_MAX)
		return false;
	if (memchr(name, '/', len) || memchr(name, '\0', len))
		return false;
	if ((len == 1 && name[0] == '.') || (len == 2 && !memcmp(name, "..", 2)))
		return false;
	return true;
}

/* siv = BLAKE2b-128(key = NAME_MAC, "MDFN" || dir_id || name) */
static void name_siv(uint8_t siv[SIV_LEN], const char *name, size_t len,
		     const uint8_t dir_id[MEDFS_DIR_ID_LEN],
		     const uint8_t name_key[MEDFS_NAME_KEY_LEN])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, mac_key(name_key), MEDFS_KEY_LEN, SIV_LEN);
	crypto_generichash_update(&st, (const uint8_t *)"MDFN", 4);
	crypto_generichash_update(&st, dir_id, MEDFS_DIR_ID_LEN);
	crypto_generichash_update(&st, (const uint8_t *)name, len);
	crypto_generichash_final(&st, siv, SIV_LEN);
	sodium_memzero(&st, sizeof(st));
}

/* The stream is keyed by the SIV, so encryption and decryption are one
 * xor. */
static void name_xor(uint8_t *out, const uint8_t *in, size_t len,
		     const uint8_t siv[SIV_LEN],
		     const uint8_t name_key[MEDFS_NAME_KEY_LEN])
{
	uint8_t nonce[crypto_stream_xchacha20_NONCEBYTES] = { 0 };

	memcpy(nonce, siv, SIV_LEN);
	crypto_stream_xchacha20_xor(out, in, len, nonce, enc_key(name_key));
}

int medfs_name_encrypt(char *out, size_t outsz, const char *name, size_t name_len,
		       const uint8_t dir_id[MEDFS_DIR_ID_LEN],
		       const uint8_t name_key[MEDFS_NAME_KEY_LEN])
{
	uint8_t padded[NAME_PADDED_MAX];
	uint8_t raw[NAME_RAW_MAX];
	size_t padded_len, enc_size;

	if (name_len > MEDFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (!name_valid(name, name_len))
		return -EINVAL;
	padded_len = (name_len + PAD - 1) / PAD * PAD;
	enc_size = sodium_base64_ENCODED_LEN(SIV_LEN + padded_len, B64);
	if (outsz < enc_size)
		return -EINVAL;

	memset(padded, 0, padded_len);
	memcpy(padded, name, name_len);
	name_siv(raw, name, name_len, dir_id, name_key);
	name_xor(raw + SIV_LEN, padded, padded_len, raw, name_key);
	sodium_memzero(padded, sizeof(padded));
	sodium_bin2base64(out, outsz, raw, SIV_LEN + padded_len, B64);
	return (int)(enc_size - 1);
}

/* libsodium 1.0.18 decodes bytes 0x80..0xff as '_' (63): an altered
 * encoding would still authenticate. Only the base64url alphabet passes. */
static bool is_b64url(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

int medfs_name_decrypt(char *out, size_t outsz, const char *enc, size_t enc_len,
		       const uint8_t dir_id[MEDFS_DIR_ID_LEN],
		       const uint8_t name_key[MEDFS_NAME_KEY_LEN])
{
	uint8_t raw[NAME_RAW_MAX];
	uint8_t padded[NAME_PADDED_MAX];
	uint8_t siv[SIV_LEN];
	size_t raw_len, padded_len, len;
	int ret = -EBADMSG;

	/* b64_end NULL: trailing garbage and non-canonical tails fail. */
	if (enc_len >= MEDFS_NAME_ENC_MAX || !is_b64url(enc, enc_len) ||
	    sodium_base642bin(raw, sizeof(raw), enc, enc_len, NULL, &raw_len, NULL,
			      B64) != 0)
		return -EBADMSG;
	if (raw_len < SIV_LEN + PAD || (raw_len - SIV_LEN) % PAD != 0)
		return -EBADMSG;
	padded_len = raw_len - SIV_LEN;
	name_xor(padded, raw + SIV_LEN, padded_len, raw, name_key);

	len = padded_len;
	while (len > 0 && padded[len - 1] == 0)
		len--;
	if (len == 0 || padded_len - len >= PAD)
		goto out;
	name_siv(siv, (const char *)padded, len, dir_id, name_key);
	if (sodium_memcmp(siv, raw, SIV_LEN) != 0)
		goto out;
	if (!name_valid((const char *)padded, len))
		goto out;
	if (outsz < len + 1) {
		ret = -EINVAL;
		goto out;
	}
	memcpy(out, padded, len);
	out[len] = '\0';
	ret = (int)len;
out:
	sodium_memzero(padded, sizeof(padded));
	return ret;
}

int medfs_name_entry(char *out, size_t outsz, const char *enc, size_t enc_len,
		     const uint8_t name_key[MEDFS_NAME_KEY_LEN])
{
	uint8_t hash[LONG_HASH_LEN];
	crypto_generichash_state st;

	if (enc_len == 0)
		return -EINVAL;
	if (enc_len <= MEDFS_NAME_SHORT_MAX) {
		if (outsz < enc_len + 1)
			return -EINVAL;
		memcpy(out, enc, enc_len);
		out[enc_len] = '\0';
		return (int)enc_len;
	}
	if (outsz < MEDFS_LONGNAME_LEN + 1)
		return -EINVAL;
	/* "~" + base64url(BLAKE2b-256(key = NAME_MAC, "MDFL" || vault name)) */
	crypto_generichash_init(&st, mac_key(name_key), MEDFS_KEY_LEN, sizeof(hash));
	crypto_generichash_update(&st, (const uint8_t *)"MDFL", 4);
	crypto_generichash_update(&st, (const uint8_t *)enc, enc_len);
	crypto_generichash_final(&st, hash, sizeof(hash));
	sodium_memzero(&st, sizeof(st));
	out[0] = '~';
	sodium_bin2base64(out + 1, outsz - 1, hash, sizeof(hash), B64);
	return MEDFS_LONGNAME_LEN;
}

bool medfs_name_is_long(const char *entry)
{
	return entry[0] == '~' && strlen(entry) == MEDFS_LONGNAME_LEN;
}

bool medfs_name_is_internal(const char *entry)
{
	size_t len = strlen(entry);
	size_t sfx = strlen(MEDFS_LONGNAME_SUFFIX);

	if (entry[0] == '.')
		return true;
	return len >= sfx && !strcmp(entry + len - sfx, MEDFS_LONGNAME_SUFFIX);
}

/* AD = "MDFS" || parent id || name. Returns its length or -EINVAL. */
static int link_ad(uint8_t ad[LINK_AD_MAX], const struct medfs_binding *b)
{
	if (!b || b->name_len > MEDFS_NAME_MAX || (b->name_len && !b->name))
		return -EINVAL;
	memcpy(ad, "MDFS", 4);
	memcpy(ad + 4, b->parent_id, MEDFS_DIR_ID_LEN);
	if (b->name_len)
		memcpy(ad + 4 + MEDFS_DIR_ID_LEN, b->name, b->name_len);
	return (int)(4 + MEDFS_DIR_ID_LEN + b->name_len);
}

int medfs_link_encrypt(char *out, size_t outsz, const char *target, size_t len,
		       const uint8_t link_key[MEDFS_KEY_LEN],
		       const struct medfs_binding *b)
{
	uint8_t ad[LINK_AD_MAX];
	uint8_t raw[LINK_RAW_MAX];
	size_t enc_size;
	int ad_len;

	if (len > MEDFS_LINK_MAX)
		return -ENAMETOOLONG;
	if (len == 0 || memchr(target, '\0', len))
		return -EINVAL;
	enc_size = sodium_base64_ENCODED_LEN(len + LINK_OVERHEAD, B64);
	if (outsz < enc_size)
		return -EINVAL;
	ad_len = link_ad(ad, b);
	if (ad_len < 0)
		return ad_len;

	randombytes_buf(raw, LINK_NONCE_LEN);
	crypto_aead_xchacha20poly1305_ietf_encrypt(raw + LINK_NONCE_LEN, NULL,
						   (const uint8_t *)target, len, ad,
						   (size_t)ad_len, NULL, raw, link_key);
	sodium_memzero(ad, sizeof(ad));
	sodium_bin2base64(out, outsz, raw, len + LINK_OVERHEAD, B64);
	return (int)(enc_size - 1);
}

int medfs_link_decrypt(char *out, size_t outsz, const char *enc, size_t enc_len,
		       const uint8_t link_key[MEDFS_KEY_LEN],
		       const struct medfs_binding *b)
{
	uint8_t ad[LINK_AD_MAX];
	uint8_t raw[LINK_RAW_MAX];
	size_t raw_len, len;
	int ret;

	ret = medfs_link_plain_len(enc_len);
	if (ret < 0)
		return ret;
	len = (size_t)ret;
	if (outsz < len + 1)
		return -EINVAL;
	if (!is_b64url(enc, enc_len) ||
	    sodium_base642bin(raw, sizeof(raw), enc, enc_len, NULL, &raw_len, NULL,
			      B64) != 0 ||
	    raw_len != len + LINK_OVERHEAD)
		return -EBADMSG;
	ret = link_ad(ad, b);
	if (ret < 0)
		return ret;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		    (uint8_t *)out, NULL, NULL, raw + LINK_NONCE_LEN,
		    raw_len - LINK_NONCE_LEN, ad, (size_t)ret, raw, link_key) != 0 ||
	    memchr(out, '\0', len)) {
		ret = -EBADMSG;
		goto out;
	}
	out[len] = '\0';
	ret = (int)len;
out:
	sodium_memzero(ad, sizeof(ad));
	if (ret < 0)
		sodium_memzero(out, len + 1);
	return ret;
}

int medfs_link_plain_len(size_t enc_len)
{
	size_t raw;

	/* Unpadded base64 never ends with a lone 6-bit character. */
	if (enc_len % 4 == 1 || enc_len >= MEDFS_LINK_ENC_MAX)
		return -EBADMSG;
	raw = enc_len * 3 / 4;
	if (raw <= LINK_OVERHEAD || raw - LINK_OVERHEAD > MEDFS_LINK_MAX)
		return -EBADMSG;
	return (int)(raw - LINK_OVERHEAD);
}
