/* medfs: the vault config and its key slots.
 *
 * VAULT/medfs.conf (and its second copy VAULT/medfs.conf.bak) is a fixed
 * MEDFS_CONFIG_LEN-byte little-endian record: format version, vault id,
 * up to MEDFS_SLOTS key slots each wrapping the 256-bit vault key, room
 * for the auditor's public key, and a BLAKE2b-256 MAC over everything
 * under the config subkey of the vault key. See doc/FORMAT.md. */
#ifndef MEDFS_CONFIG_H
#define MEDFS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "medfs/crypto.h"

#define MEDFS_CONFIG_NAME "medfs.conf"
#define MEDFS_CONFIG_BACKUP_NAME "medfs.conf.bak"
#define MEDFS_TREE_NAME "tree" /* the encrypted file tree inside the vault */
#define MEDFS_CONFIG_MAGIC "MEDFSVLT"
#define MEDFS_CONFIG_VERSION 1
#define MEDFS_CONFIG_LEN 3296
#define MEDFS_SLOTS 16
#define MEDFS_SLOT_LABEL_MAX 47
#define MEDFS_SALT_LEN 16
#define MEDFS_VAULT_ID_LEN 16
#define MEDFS_CIPHER_XCHACHA20POLY1305 1

enum medfs_slot_kind {
	MEDFS_SLOT_EMPTY = 0,
	MEDFS_SLOT_PASSPHRASE = 1, /* Argon2id of a passphrase */
	MEDFS_SLOT_KEYFILE = 2,    /* 32 random bytes in a file */
	MEDFS_SLOT_RECOVERY = 3,   /* 32 random bytes shown once to the admin */
};

struct medfs_kdf_params {
	uint64_t opslimit; /* Argon2id passes */
	uint64_t memlimit; /* bytes */
};

struct medfs_slot {
	uint8_t kind; /* enum medfs_slot_kind */
	uint64_t created; /* Unix seconds */
	uint64_t opslimit, memlimit; /* passphrase slots only */
	uint32_t alg;                /* crypto_pwhash_ALG_ARGON2ID13 */
	uint8_t salt[MEDFS_SALT_LEN];
	uint8_t nonce[24];
	uint8_t wrapped[MEDFS_KEY_LEN + 16];
	char label[MEDFS_SLOT_LABEL_MAX + 1];
};

struct medfs_config {
	uint32_t version;
	uint32_t flags;
	uint8_t vault_id[MEDFS_VAULT_ID_LEN];
	uint64_t created;
	uint32_t block_size; /* 4096 */
	uint32_t cipher;     /* MEDFS_CIPHER_XCHACHA20POLY1305 */
	uint32_t rotation;   /* reserved for key rotation state, 0 */
	uint8_t has_auditor;
	uint8_t auditor_pk[32];
	struct medfs_slot slots[MEDFS_SLOTS];
};

/* Defaults for new passphrase slots: about a second and 256 MiB here. */
#define MEDFS_KDF_OPSLIMIT_DEFAULT 3ULL
#define MEDFS_KDF_MEMLIMIT_DEFAULT (256ULL << 20)

/* Fills c for a new vault: fresh vault id, time, no slots. */
void medfs_config_init(struct medfs_config *c);

/* Serialises c with its MAC under vault_key. Returns 0 or -EINVAL. */
int medfs_config_encode(const struct medfs_config *c,
                        const uint8_t vault_key[MEDFS_KEY_LEN],
                        uint8_t out[MEDFS_CONFIG_LEN]);

/* Parses a config without checking its MAC (that needs the key).
 * Returns 0; -EBADMSG for a wrong length, magic or field; -EPROTONOSUPPORT
 * for an unknown version. */
int medfs_config_decode(struct medfs_config *c, const uint8_t *in, size_t len);

/* Checks the MAC of a serialised config. Returns 0 or -EBADMSG. */
int medfs_config_verify(const uint8_t in[MEDFS_CONFIG_LEN],
                        const uint8_t vault_key[MEDFS_KEY_LEN]);

/* Wraps vault_key into slot idx under secret (a passphrase for
 * MEDFS_SLOT_PASSPHRASE, 32 bytes for the other kinds). kdf may be NULL
 * for the defaults; label may be NULL. Returns 0, -EINVAL, -ENOMEM (the
 * KDF could not get its memory). */
int medfs_slot_set(struct medfs_config *c, int idx, enum medfs_slot_kind kind,
                   const uint8_t *secret, size_t secret_len,
                   const struct medfs_kdf_params *kdf, const char *label,
                   const uint8_t vault_key[MEDFS_KEY_LEN]);

/* Unwraps slot idx with secret into vault_key. Returns 0, -EKEYREJECTED
 * when the secret does not open it, -EINVAL for an empty slot. */
int medfs_slot_unwrap(const struct medfs_config *c, int idx,
                      const uint8_t *secret, size_t secret_len,
                      uint8_t vault_key[MEDFS_KEY_LEN]);

/* Wipes slot idx. */
void medfs_slot_clear(struct medfs_config *c, int idx);

/* First empty slot, or -ENOSPC. */
int medfs_config_free_slot(const struct medfs_config *c);

/* Tries every slot of kind with secret. Returns the slot index that opened,
 * -EKEYREJECTED, or -ENOMEM when a slot's KDF could not get its memory and
 * no other slot opened. */
int medfs_config_unlock(const struct medfs_config *c, enum medfs_slot_kind kind,
                        const uint8_t *secret, size_t secret_len,
                        uint8_t vault_key[MEDFS_KEY_LEN]);

/* Writes the config to VAULT/medfs.conf and VAULT/medfs.conf.bak, each
 * atomically (write a temporary, fsync, rename, fsync the directory).
 * Returns 0 or -errno. */
int medfs_config_save(const char *vault_dir, const struct medfs_config *c,
                      const uint8_t vault_key[MEDFS_KEY_LEN]);

/* Reads, unlocks and authenticates the config of vault_dir. Uses the
 * primary copy, or the second one when the primary is missing, damaged or
 * fails its MAC (*used_backup is then 1). vault_key must be secret memory.
 * Returns the slot index that opened; -ENOENT when vault_dir holds no
 * config (not a vault); -EKEYREJECTED when no slot accepts the secret;
 * -EBADMSG when both copies are damaged; -EPROTONOSUPPORT; -errno. */
int medfs_config_load(const char *vault_dir, enum medfs_slot_kind kind,
                      const uint8_t *secret, size_t secret_len,
                      struct medfs_config *c, uint8_t vault_key[MEDFS_KEY_LEN],
                      int *used_backup);

#endif
