/* medfs: content blocks. The per-block hot path: no allocation, no
 * logging, associated data built on the stack. */
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
 * hold the nonce. */
static int seal(uint8_t *out, const uint8_t *plain, size_t len,
		const uint8_t key[MEDFS_KEY_LEN],
		const uint8_t file_id[MEDFS_FILE_ID_LEN], uint64_t index)
{
	uint8_t ad[BLOCK_AD_LEN];

	block_ad(ad, file_id, index);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + MEDFS_BLOCK_NONCE_LEN, NULL,
						   plain, len, ad, sizeof(ad), NULL, out,
						   key);
	return (int)(len + MEDFS_BLOCK_OVERHEAD);
}

int medfs_block_seal(uint8_t *out, const uint8_t *plain, size_t len,
		     const uint8_t key[MEDFS_KEY_LEN],
		     const uint8_t file_id[MEDFS_FILE_ID_LEN], uint64_t index)
{
	if (len == 0 || len > MEDFS_BLOCK_SIZE)
		return -EINVAL;
	randombytes_buf(out, MEDFS_BLOCK_NONCE_LEN);
	return seal(out, plain, len, key, file_id, index);
}

int medfs_block_seal_with_nonce(uint8_t *out, const uint8_t *plain, size_t len,
				const uint8_t key[MEDFS_KEY_LEN],
				const uint8_t file_id[MEDFS_FILE_ID_LEN], uint64_t index,
				const uint8_t nonce[MEDFS_BLOCK_NONCE_LEN])
{
	if (len == 0 || len > MEDFS_BLOCK_SIZE)
		return -EINVAL;
	memmove(out, nonce, MEDFS_BLOCK_NONCE_LEN);
	return seal(out, plain, len, key, file_id, index);
}

int medfs_block_open(uint8_t *plain, const uint8_t *sealed, size_t sealed_len,
		     const uint8_t key[MEDFS_KEY_LEN],
		     const uint8_t file_id[MEDFS_FILE_ID_LEN], uint64_t index)
{
	uint8_t ad[BLOCK_AD_LEN];
	size_t len;

	if (sealed_len <= MEDFS_BLOCK_OVERHEAD || sealed_len > MEDFS_BLOCK_DISK_SIZE)
		return -EINVAL;
	len = sealed_len - MEDFS_BLOCK_OVERHEAD;
	block_ad(ad, file_id, index);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		    plain, NULL, NULL, sealed + MEDFS_BLOCK_NONCE_LEN,
		    sealed_len - MEDFS_BLOCK_NONCE_LEN, ad, sizeof(ad), sealed,
		    key) != 0) {
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
