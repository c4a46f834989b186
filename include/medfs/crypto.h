/* medfs: key derivation and secret memory.
 *
 * Every purpose gets its own subkey of the vault key, derived with
 * crypto_kdf_derive_from_key under the context "medfs-v1". The ids below
 * are part of the on-disk format: never renumber them. */
#ifndef MEDFS_CRYPTO_H
#define MEDFS_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define MEDFS_KEY_LEN 32
#define MEDFS_KDF_CONTEXT "medfs-v1" /* exactly crypto_kdf_CONTEXTBYTES (8) */

enum medfs_subkey {
	MEDFS_SUBKEY_HEADER = 1,   /* wraps per-file keys in file headers */
	MEDFS_SUBKEY_NAME_MAC = 2, /* synthetic IV of encrypted names */
	MEDFS_SUBKEY_NAME_ENC = 3, /* stream key of encrypted names */
	MEDFS_SUBKEY_DIR = 4,	   /* MAC of directory headers */
	MEDFS_SUBKEY_LINK = 5,	   /* symlink targets */
	MEDFS_SUBKEY_XATTR = 6,	   /* extended attribute values */
	MEDFS_SUBKEY_CONFIG = 7,   /* MAC of the vault config */
	MEDFS_SUBKEY_JOURNAL = 8,  /* the journal writer's STATE file */
	MEDFS_SUBKEY_ROTATE = 9,   /* seals the old vault key during a rotation */
};

/* sodium_init(); returns 0, or -EIO when libsodium cannot start. */
int medfs_crypto_init(void);

/* Derives the subkey for one purpose. Returns 0 or -EINVAL. */
int medfs_subkey_derive(uint8_t out[MEDFS_KEY_LEN], enum medfs_subkey id,
			const uint8_t vault_key[MEDFS_KEY_LEN]);

/* Guarded, mlocked memory for secrets (sodium_malloc); NULL on failure.
 * medfs_secret_free wipes and frees; NULL is allowed. */
void *medfs_secret_alloc(size_t len);
void medfs_secret_free(void *p);

/* Whether a file holding a secret (a passphrase, key file, recovery key or
 * auditor key), open on fd, is private, as ssh judges private keys: a
 * regular file must give no permission at all to its group or others, and
 * belong to the effective user or to root. Pipes and terminals pass (a
 * secret typed or piped in is not stored). Returns 0, -EPERM when the file
 * is not private, or -errno of fstat. Readers of secret files call it
 * between open and read. */
int medfs_secret_file_check(int fd);

/* After -EPERM from medfs_secret_file_check: writes into why (whysz
 * bytes) what is wrong with the file at path and the command that fixes
 * it ("chmod 600 PATH", "chown ..."). Returns 1, or 0 when path looks
 * private now (why is then left alone). */
int medfs_secret_file_why(const char *path, char *why, size_t whysz);

/* Turns core dumps off for this process (RLIMIT_CORE 0, PR_SET_DUMPABLE 0),
 * so no secret or plaintext lands in a dump. Returns 0 or -errno. */
int medfs_disable_core_dumps(void);

#endif
