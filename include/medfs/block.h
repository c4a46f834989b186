/* medfs: content blocks.
 *
 * A file's plaintext is cut into 4 KiB blocks. Each block is sealed under
 * the per-file key with the vault's block cipher (the config's cipher
 * field): XChaCha20-Poly1305-IETF or AES-256-GCM. A fresh random nonce is
 * drawn on every write, and the file id and block index are the associated
 * data, so a block moved to another position or file fails to open.
 * On disk a block is nonce (24) || ciphertext (len) || tag (16) with
 * either cipher; AES-256-GCM takes the first 12 bytes of the nonce field
 * as its nonce and requires the other 12 to be zero. */
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
#define MEDFS_BLOCK_AES_NONCE_LEN 12 /* AES-256-GCM: the nonce field's first bytes */

/* Block ciphers, as recorded in the config (doc/FORMAT.md, section 4.2). */
#define MEDFS_CIPHER_XCHACHA20POLY1305 1
#define MEDFS_CIPHER_AES256GCM 2

/* Returns 0 when blocks of cipher can be sealed and opened here; -EINVAL
 * for an unknown cipher; -ENOTSUP for AES-256-GCM on a CPU without AES-NI
 * and PCLMULQDQ (libsodium has no portable AES-GCM). */
int medfs_block_cipher_check(uint32_t cipher);

/* The cipher for new vaults: AES-256-GCM when this CPU runs it, else
 * XChaCha20-Poly1305. */
uint32_t medfs_block_cipher_default(void);

/* The name of cipher as the tools spell it ("aes256gcm",
 * "xchacha20poly1305"), or NULL for an unknown cipher. */
const char *medfs_block_cipher_name(uint32_t cipher);

/* The cipher named name (as medfs_block_cipher_name). Returns 0 or
 * -EINVAL. */
int medfs_block_cipher_from_name(const char *name, uint32_t *cipher);

/* Seals len (1..MEDFS_BLOCK_SIZE) plaintext bytes with cipher into out,
 * which must hold len + MEDFS_BLOCK_OVERHEAD bytes. Returns the sealed
 * length; -EINVAL for a bad length or an unknown cipher; -ENOTSUP when
 * this CPU cannot run cipher. out and plain must not overlap. */
int medfs_block_seal(uint8_t *out, const uint8_t *plain, size_t len, uint32_t cipher,
		     const uint8_t key[MEDFS_KEY_LEN],
		     const uint8_t file_id[MEDFS_FILE_ID_LEN], uint64_t index);

/* The same with a caller-chosen nonce: for known-answer tests, and for
 * callers that draw fresh random nonces for many blocks at once. With
 * AES-256-GCM only the first MEDFS_BLOCK_AES_NONCE_LEN bytes of nonce are
 * used, and the rest of the nonce field is written as zeros. nonce may
 * point into out. */
int medfs_block_seal_with_nonce(uint8_t *out, const uint8_t *plain, size_t len,
				uint32_t cipher, const uint8_t key[MEDFS_KEY_LEN],
				const uint8_t file_id[MEDFS_FILE_ID_LEN], uint64_t index,
				const uint8_t nonce[MEDFS_BLOCK_NONCE_LEN]);

/* Opens a block of sealed_len bytes sealed with cipher into plain (room
 * for sealed_len - MEDFS_BLOCK_OVERHEAD bytes). Returns the plaintext
 * length; -EINVAL for an impossible length or an unknown cipher; -ENOTSUP
 * when this CPU cannot run cipher; -EBADMSG when authentication fails, or
 * with AES-256-GCM when the nonce field's last 12 bytes are not zero
 * (plain is then wiped). */
int medfs_block_open(uint8_t *plain, const uint8_t *sealed, size_t sealed_len,
		     uint32_t cipher, const uint8_t key[MEDFS_KEY_LEN],
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
