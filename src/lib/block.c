/* medfs: content blocks. The per-block hot path: no allocation, no
 * logging, associated data built on the stack. The cipher is a number
 * (MEDFS_CIPHER_*) checked on every call: a switch, and for AES-256-GCM
 * libsodium's cached CPU feature flags. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "medfs/block.h"

#define BLOCK_AD_LEN (4 + MEDFS_FILE_ID_LEN + 8)

_Static_assert(MEDFS_BLOCK_NONCE_LEN == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
	       "block nonce length");
_Static_assert(MEDFS_BLOCK_TAG_LEN == crypto_aead_xchacha20poly1305_ietf_ABYTES,
	       "block tag length");
_Static_assert(MEDFS_KEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
	       "file key length");
_Static_assert(BLOCK_AD_LEN == 28, "block AD layout");

_Static_assert(MEDFS_BLOCK_AES_NONCE_LEN == crypto_aead_aes256gcm_NPUBBYTES,
	       "AES-GCM nonce length");
_Static_assert(MEDFS_BLOCK_AES_NONCE_LEN <= MEDFS_BLOCK_NONCE_LEN, "AES-GCM nonce field");
_Static_assert(MEDFS_BLOCK_TAG_LEN == crypto_aead_aes256gcm_ABYTES, "AES-GCM tag length");
_Static_assert(MEDFS_KEY_LEN == crypto_aead_aes256gcm_KEYBYTES, "AES-GCM key length");

static const struct {
	uint32_t cipher;
	const char *name;
} cipher_names[] = {
	{ MEDFS_CIPHER_XCHACHA20POLY1305, "xchacha20poly1305" },
	{ MEDFS_CIPHER_AES256GCM, "aes256gcm" },
};

int medfs_block_cipher_check(uint32_t cipher)
{
	switch (cipher) {
	case MEDFS_CIPHER_XCHACHA20POLY1305:
		return 0;
	case MEDFS_CIPHER_AES256GCM:
		/* Without AES-NI libsodium's AES-GCM would fault. */
		return crypto_aead_aes256gcm_is_available() ? 0 : -ENOTSUP;
	default:
		return -EINVAL;
	}
}

uint32_t medfs_block_cipher_default(void)
{
	return crypto_aead_aes256gcm_is_available() ? MEDFS_CIPHER_AES256GCM
						    : MEDFS_CIPHER_XCHACHA20POLY1305;
}

const char *medfs_block_cipher_name(uint32_t cipher)
{
	for (size_t i = 0; i < sizeof(cipher_names) / sizeof(cipher_names[0]); i++)
		if (cipher_names[i].cipher == cipher)
			return cipher_names[i].name;
	return NULL;
}

int medfs_block_cipher_from_name(const char *name, uint32_t *cipher)
{
	for (size_t i = 0; i < sizeof(cipher_names) / sizeof(cipher_names[0]); i++) {
		if (strcmp(cipher_names[i].name, name) == 0) {
			*cipher = cipher_names[i].cipher;
			return 0;
		}
	}
	return -EINVAL;
}

/* AD = "MDFB" || file id || index u64 LE: binds a block to its place. */
static void block_ad(uint8_t ad[BLOCK_AD_LEN], const uint8_t file_id[MEDFS_FILE_ID_LEN],
		     uint64_t index)
{
	memcpy(ad, "MDFB", 4);
	memcpy(ad + 4, file_id, MEDFS_FILE_ID_LEN);
	for (int i = 0; i < 8; i++)
		ad[4 + MEDFS_FILE_ID_LEN + i] = (uint8_t)(index >> (8 * i));
}

/* Seals plain into out, whose first MEDFS_BLOCK_NONCE_LEN bytes already
 * hold the nonce field. cipher has been checked. */
static int seal(uint8_t *out, const uint8_t *plain, size_t len, uint32_t cipher,
		const uint8_t key[MEDFS_KEY_LEN],
		const uint8_t file_id[MEDFS_FILE_ID_LEN], uint64_t index)
{
	uint8_t ad[BLOCK_AD_LEN];

	block_ad(ad, file_id, index);
	if (cipher == MEDFS_CIPHER_AES256GCM)
		crypto_aead_aes256gcm_encrypt(out + MEDFS_BLOCK_NONCE_LEN, NULL, plain,
					      len, ad, sizeof(ad), NULL, out, key);
	else
		crypto_aead_xchacha20poly1305_ietf_encrypt(out + MEDFS_BLOCK_NONCE_LEN,
							   NULL, plain, len, ad,
							   sizeof(ad), NULL, out, key);
	return (int)(len + MEDFS_BLOCK_OVERHEAD);
}

/* Length of the nonce proper of cipher, at the start of the nonce field;
 * the rest of the field is zero. */
static size_t nonce_len(uint32_t cipher)
{
	return cipher == MEDFS_CIPHER_AES256GCM ? MEDFS_BLOCK_AES_NONCE_LEN
						: MEDFS_BLOCK_NONCE_LEN;
}

int medfs_block_seal(uint8_t *out, const uint8_t *plain, size_t len, uint32_t cipher,
		     const uint8_t key[MEDFS_KEY_LEN],
		     const uint8_t file_id[MEDFS_FILE_ID_LEN], uint64_t index)
{
	size_t n = nonce_len(cipher);
	int r;

	if (len == 0 || len > MEDFS_BLOCK_SIZE)
		return -EINVAL;
	r = medfs_block_cipher_check(cipher);
	if (r < 0)
		return r;
	randombytes_buf(out, n);
	memset(out + n, 0, MEDFS_BLOCK_NONCE_LEN - n);
	return seal(out, plain, len, cipher, key, file_id, index);
}

int medfs_block_seal_with_nonce(uint8_t *out, const uint8_t *plain, size_t len,
				uint32_t cipher, const uint8_t key[MEDFS_KEY_LEN],
				const uint8_t file_id[MEDFS_FILE_ID_LEN], uint64_t index,
				const uint8_t nonce[MEDFS_BLOCK_NONCE_LEN])
{
	size_t n = nonce_len(cipher);
	int r;

	if (len == 0 || len > MEDFS_BLOCK_SIZE)
		return -EINVAL;
	r = medfs_block_cipher_check(cipher);
	if (r < 0)
		return r;
	memmove(out, nonce, n);
	memset(out + n, 0, MEDFS_BLOCK_NONCE_LEN - n);
	return seal(out, plain, len, cipher, key, file_id, index);
}

int medfs_block_open(uint8_t *plain, const uint8_t *sealed, size_t sealed_len,
		     uint32_t cipher, const uint8_t key[MEDFS_KEY_LEN],
		     const uint8_t file_id[MEDFS_FILE_ID_LEN], uint64_t index)
{
	uint8_t ad[BLOCK_AD_LEN];
	size_t len, n;
	int r;

	if (sealed_len <= MEDFS_BLOCK_OVERHEAD || sealed_len > MEDFS_BLOCK_DISK_SIZE)
		return -EINVAL;
	r = medfs_block_cipher_check(cipher);
	if (r < 0)
		return r;
	len = sealed_len - MEDFS_BLOCK_OVERHEAD;
	n = nonce_len(cipher);
	block_ad(ad, file_id, index);
	/* The nonce field's padding is not authenticated by the AEAD: it
	 * must be zero, so that no byte of a block can change unnoticed. */
	if (!sodium_is_zero(sealed + n, MEDFS_BLOCK_NONCE_LEN - n))
		r = -1;
	else if (cipher == MEDFS_CIPHER_AES256GCM)
		r = crypto_aead_aes256gcm_decrypt(
			plain, NULL, NULL, sealed + MEDFS_BLOCK_NONCE_LEN,
			sealed_len - MEDFS_BLOCK_NONCE_LEN, ad, sizeof(ad), sealed, key);
	else
		r = crypto_aead_xchacha20poly1305_ietf_decrypt(
			plain, NULL, NULL, sealed + MEDFS_BLOCK_NONCE_LEN,
			sealed_len - MEDFS_BLOCK_NONCE_LEN, ad, sizeof(ad), sealed, key);
	if (r != 0) {
		sodium_memzero(plain, len);
		return -EBADMSG;
	}
	return (int)len;
}

uint64_t medfs_disk_size(uint64_t plain_size)
{
	uint64_t n = plain_size / MEDFS_BLOCK_SIZE;
	uint64_t r = plain_size % MEDFS_BLOCK_SIZE;

	return MEDFS_HEADER_LEN + n * MEDFS_BLOCK_DISK_SIZE +
	       (r ? r + MEDFS_BLOCK_OVERHEAD : 0);
}

int64_t medfs_plain_size(uint64_t disk_size)
{
	uint64_t n, r;

	if (disk_size < MEDFS_HEADER_LEN)
		return -EBADMSG;
	n = (disk_size - MEDFS_HEADER_LEN) / MEDFS_BLOCK_DISK_SIZE;
	r = (disk_size - MEDFS_HEADER_LEN) % MEDFS_BLOCK_DISK_SIZE;
	/* A tail of only nonce and tag (or less) holds no plaintext byte. */
	if (r != 0 && r <= MEDFS_BLOCK_OVERHEAD)
		return -EBADMSG;
	if (n >= (uint64_t)INT64_MAX / MEDFS_BLOCK_SIZE)
		return -EBADMSG;
	return (int64_t)(n * MEDFS_BLOCK_SIZE + (r ? r - MEDFS_BLOCK_OVERHEAD : 0));
}
