/* medfs: content blocks.
 *
 * A file's plaintext is cut into 4 KiB blocks. Each block is sealed with
 * XChaCha20-Poly1305-IETF under the per-file key, with a fresh random
 * nonce on every write and the file id and block index as associated
 * data, so a block moved to another position or file fails to open.
 * On disk a block is nonce (24) || ciphertext (len) || tag (16). */
#ifndef MEDFS_BLOCK_H
#define MEDFS_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "medfs/crypto.h"
#include "medfs/header.h"

#define MEDFS_BLOCK_SIZE 4096
#define MEDFS_BLOCK_NONCE_LEN 24
#define MEDFS_BLOCK_TAG_LEN 16
#define MEDFS_BLOCK_OVERHEAD (MEDFS_BLOCK_NONCE_LEN + MEDFS_BLOCK_TAG_LEN)
#define MEDFS_BLOCK_DISK_SIZE (MEDFS_BLOCK_SIZE + MEDFS_BLOCK_OVERHEAD)

/* Seals len (1..MEDFS_BLOCK_SIZE) plaintext bytes into out, which must
 * hold len + MEDFS_BLOCK_OVERHEAD bytes. Returns the sealed length, or
 * -EINVAL for a bad length. out and plain must not overlap. */
int medfs_block_seal(uint8_t *out, const uint8_t *plain, size_t len,
		     const uint8_t key[MEDFS_KEY_LEN],
		     const uint8_t file_id[MEDFS_FILE_ID_LEN], uint64_t index);

/* The same with a caller-chosen nonce: for known-answer tests, and for
 * callers that draw fresh random nonces for many blocks at once. */
int medfs_block_seal_with_nonce(uint8_t *out, const uint8_t *plain, size_t len,
				const uint8_t key[MEDFS_KEY_LEN],
				const uint8_t file_id[MEDFS_FILE_ID_LEN], uint64_t index,
				const uint8_t nonce[MEDFS_BLOCK_NONCE_LEN]);

/* Opens a sealed block of sealed_len bytes into plain (room for
 * sealed_len - MEDFS_BLOCK_OVERHEAD bytes). Returns the plaintext length,
 * -EINVAL for an impossible length, or -EBADMSG when authentication fails
 * (plain is then wiped). */
int medfs_block_open(uint8_t *plain, const uint8_t *sealed, size_t sealed_len,
		     const uint8_t key[MEDFS_KEY_LEN],
		     const uint8_t file_id[MEDFS_FILE_ID_LEN], uint64_t index);

/* Where block index starts in the vault file. */
static inline uint64_t medfs_block_disk_offset(uint64_t index)
{
	return MEDFS_HEADER_LEN + index * (uint64_t)MEDFS_BLOCK_DISK_SIZE;
}

/* Size of the vault file that holds plain_size plaintext bytes. */
uint64_t medfs_disk_size(uint64_t plain_size);

/* Plaintext size of a vault file of disk_size bytes, or -EBADMSG when no
 * plaintext size gives that length (torn or tampered file). */
int64_t medfs_plain_size(uint64_t disk_size);

#endif
