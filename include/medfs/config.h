/* medfs: the vault config and its key slots.
 *
 * VAULT/medfs.conf (and its second copy VAULT/medfs.conf.bak) is a fixed
 * MEDFS_CONFIG_LEN-byte little-endian record: format version, vault id,
 * up to MEDFS_SLOTS key slots each wrapping the 256-bit vault key, room
 * for the auditor's public key, and a BLAKE2b-256 MAC over everything
 * under the config subkey of the vault key. See doc/FORMAT.md.
 *
 * Version 2 wraps the vault key in each slot for an X25519 public key
 * derived from the slot's secret, so that a new vault key can be wrapped
 * for every slot knowing only one slot's secret (key rotation). Version 1
 * configs (MEDFS_CONFIG_V1_LEN bytes, slots wrapped directly under their
 * secret) are still read and unlocked; every write produces version 2. */
#ifndef MEDFS_CONFIG_H
#define MEDFS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "medfs/block.h" /* MEDFS_CIPHER_* */
#include "medfs/crypto.h"

#define MEDFS_CONFIG_NAME "medfs.conf"
#define MEDFS_CONFIG_BACKUP_NAME "medfs.conf.bak"
#define MEDFS_TREE_NAME "tree" /* the encrypted file tree inside the vault */
#define MEDFS_CONFIG_MAGIC "MEDFSVLT"
#define MEDFS_CONFIG_VERSION 2
#define MEDFS_CONFIG_LEN 4384	 /* version 2, the longest known */
#define MEDFS_CONFIG_V1_LEN 3296 /* version 1 */
#define MEDFS_SLOTS 16
#define MEDFS_SLOT_LABEL_MAX 47
#define MEDFS_SALT_LEN 16
#define MEDFS_VAULT_ID_LEN 16
#define MEDFS_WRAP_PK_LEN 32 /* X25519 public keys */

enum medfs_slot_kind {
	MEDFS_SLOT_EMPTY = 0,
	MEDFS_SLOT_PASSPHRASE = 1, /* Argon2id of a passphrase */
	MEDFS_SLOT_KEYFILE = 2,	   /* 32 random bytes in a file */
	MEDFS_SLOT_RECOVERY = 3,   /* 32 random bytes shown once to the admin */
};

/* Values of medfs_config.rotation (version 2). */
enum medfs_rotation {
	MEDFS_ROTATION_NONE = 0,
	MEDFS_ROTATION_REKEY = 1,     /* new vault key, file keys kept */
	MEDFS_ROTATION_REENCRYPT = 2, /* new vault key and new file keys */
};

struct medfs_kdf_params {
	uint64_t opslimit; /* Argon2id passes */
	uint64_t memlimit; /* bytes */
};

struct medfs_slot {
	uint8_t kind;		     /* enum medfs_slot_kind */
	uint64_t created;	     /* Unix seconds */
	uint64_t opslimit, memlimit; /* passphrase slots only */
	uint32_t alg;		     /* crypto_pwhash_ALG_ARGON2ID13 */
	uint8_t salt[MEDFS_SALT_LEN];
	uint8_t nonce[24];
	uint8_t wrapped[MEDFS_KEY_LEN + 16];
	char label[MEDFS_SLOT_LABEL_MAX + 1];
	uint8_t pk[MEDFS_WRAP_PK_LEN]; /* version 2: public key of the slot's secret */
};

struct medfs_config {
	uint32_t version;
	uint32_t flags;
	uint8_t vault_id[MEDFS_VAULT_ID_LEN];
	uint64_t created;
	uint32_t block_size; /* 4096 */
	uint32_t cipher;     /* content blocks: MEDFS_CIPHER_* (block.h) */
	uint32_t rotation;   /* enum medfs_rotation (version 1: unused) */
	uint8_t has_auditor;
	uint8_t auditor_pk[32];
	struct medfs_slot slots[MEDFS_SLOTS];
	/* Version 2 only. */
	uint8_t wrap_pk[MEDFS_WRAP_PK_LEN];	    /* public half of the wrapping pair */
	uint8_t old_key_nonce[24];		    /* during a rotation: the previous */
	uint8_t old_key_sealed[MEDFS_KEY_LEN + 16]; /* vault key, sealed */
};

/* Defaults for new passphrase slots: about a second and 256 MiB here. */
#define MEDFS_KDF_OPSLIMIT_DEFAULT 6ULL
#define MEDFS_KDF_MEMLIMIT_DEFAULT (256ULL << 20)
/* The most a passphrase slot may ask for (libsodium would take up to 4 TiB
 * and 2^32 - 1 passes): 4 GiB, as LUKS2's Argon2 does, and 64 passes,
 * minutes at that much memory. A config asking for more is refused before
 * the key derivation allocates anything (-ERANGE). */
#define MEDFS_KDF_OPSLIMIT_MAX 64ULL
#define MEDFS_KDF_MEMLIMIT_MAX (4ULL << 30)

/* 1 when kdf is below the defaults' order of magnitude: less than a tenth
 * of MEDFS_KDF_MEMLIMIT_DEFAULT, or less than a tenth of the defaults'
 * cost (passes times memory, which is what a guess costs); else 0.
 * medfs-key warns of such a slot, and makes it all the same. */
int medfs_kdf_weak(const struct medfs_kdf_params *kdf);

/* Fills c for a new vault whose blocks use cipher (MEDFS_CIPHER_*, see
 * medfs_block_cipher_default): version 2, fresh vault id and wrapping
 * public key, time, no slots. An unknown cipher is kept, and makes
 * medfs_config_encode refuse c. */
void medfs_config_init(struct medfs_config *c, uint32_t cipher);

/* Serialises c (version 2 only) with its MAC under vault_key. Returns 0 or
 * -EINVAL. */
int medfs_config_encode(const struct medfs_config *c,
			const uint8_t vault_key[MEDFS_KEY_LEN],
			uint8_t out[MEDFS_CONFIG_LEN]);

/* Parses a config of either version without checking its MAC (that needs
 * the key). Returns 0; -EBADMSG for a wrong length, magic or field (an
 * unknown cipher among them); -EPROTONOSUPPORT for an unknown version;
 * -ERANGE for a passphrase slot asking for more Argon2id memory or passes
 * than MEDFS_KDF_MEMLIMIT_MAX / MEDFS_KDF_OPSLIMIT_MAX (damaged or forged:
 * nothing of its KDF is tried).
 * A known cipher this CPU cannot run decodes: see medfs_block_cipher_check. */
int medfs_config_decode(struct medfs_config *c, const uint8_t *in, size_t len);

/* Checks the MAC of a serialised config of either version (its length
 * follows from its version field). Returns 0 or -EBADMSG. */
int medfs_config_verify(const uint8_t *in, const uint8_t vault_key[MEDFS_KEY_LEN]);

/* Wraps vault_key into slot idx under secret (a passphrase for
 * MEDFS_SLOT_PASSPHRASE, 32 bytes for the other kinds). kdf may be NULL
 * for the defaults; label may be NULL. Returns 0, -EINVAL (also for a
 * version 1 config: see medfs_config_upgrade), -ENOMEM (the KDF could not
 * get its memory). */
int medfs_slot_set(struct medfs_config *c, int idx, enum medfs_slot_kind kind,
		   const uint8_t *secret, size_t secret_len,
		   const struct medfs_kdf_params *kdf, const char *label,
		   const uint8_t vault_key[MEDFS_KEY_LEN]);

/* Unwraps slot idx with secret into vault_key. Returns 0, -EKEYREJECTED
 * when the secret does not open it, -EINVAL for an empty slot. */
int medfs_slot_unwrap(const struct medfs_config *c, int idx, const uint8_t *secret,
		      size_t secret_len, uint8_t vault_key[MEDFS_KEY_LEN]);

/* Wipes slot idx. */
void medfs_slot_clear(struct medfs_config *c, int idx);

/* First empty slot, or -ENOSPC. */
int medfs_config_free_slot(const struct medfs_config *c);

/* Number of slots in use. */
int medfs_config_slot_count(const struct medfs_config *c);

/* Tries every slot of kind with secret. Returns the slot index that opened,
 * -EKEYREJECTED, or -ENOMEM when a slot's KDF could not get its memory and
 * no other slot opened. */
int medfs_config_unlock(const struct medfs_config *c, enum medfs_slot_kind kind,
			const uint8_t *secret, size_t secret_len,
			uint8_t vault_key[MEDFS_KEY_LEN]);

/* Turns a version 1 config into version 2, rewrapping slot idx (the one
 * secret opened) with a fresh salt; its kind, KDF parameters, label and
 * creation time are kept. Returns 0; -EINVAL when c is not version 1 or
 * the slot is empty; -ENOTSUP when another slot is in use (it cannot be
 * rewrapped without its own secret); -ENOMEM. */
int medfs_config_upgrade(struct medfs_config *c, int idx, const uint8_t *secret,
			 size_t secret_len, const uint8_t vault_key[MEDFS_KEY_LEN]);

/* Rewraps every slot of a version 2 config for new_key, knowing no slot's
 * secret, under a fresh wrapping key pair. With rotation REKEY or
 * REENCRYPT, old_key is kept in the config, sealed under new_key, until
 * medfs_config_end_rotation; with NONE, old_key may be NULL. Returns 0 or
 * -EINVAL (c is not version 2, or holds a malformed slot). */
int medfs_config_rekey(struct medfs_config *c, const uint8_t new_key[MEDFS_KEY_LEN],
		       const uint8_t *old_key, enum medfs_rotation rotation);

/* During a rotation, opens the previous vault key sealed in c under the
 * current vault_key. Returns 0; -ENOENT when no rotation is recorded;
 * -EBADMSG (old_key wiped). */
int medfs_config_old_key(const struct medfs_config *c,
			 const uint8_t vault_key[MEDFS_KEY_LEN],
			 uint8_t old_key[MEDFS_KEY_LEN]);

/* Ends a rotation: forgets the previous vault key. */
void medfs_config_end_rotation(struct medfs_config *c);

/* 1 when c records a key rotation that has not finished, else 0. */
int medfs_config_rotating(const struct medfs_config *c);

/* Decodes, unlocks and authenticates one serialised copy (len bytes).
 * Returns the slot index that opened; -EBADMSG; -EPROTONOSUPPORT;
 * -EKEYREJECTED; -ENOMEM. On failure c and vault_key are wiped. */
int medfs_config_open(const uint8_t *in, size_t len, enum medfs_slot_kind kind,
		      const uint8_t *secret, size_t secret_len, struct medfs_config *c,
		      uint8_t vault_key[MEDFS_KEY_LEN]);

/* Writes the config to VAULT/medfs.conf and VAULT/medfs.conf.bak, each
 * atomically (write a temporary, fsync, rename, fsync the directory).
 * Returns 0 or -errno. */
int medfs_config_save(const char *vault_dir, const struct medfs_config *c,
		      const uint8_t vault_key[MEDFS_KEY_LEN]);

/* The same for an already serialised config (len bytes; it must decode),
 * written byte for byte: medfs-key restore. Returns 0, -EBADMSG,
 * -EPROTONOSUPPORT or -errno. */
int medfs_config_write(const char *vault_dir, const uint8_t *in, size_t len);

/* Reads VAULT/name (a config copy) into buf, which has room for
 * MEDFS_CONFIG_LEN + 1 bytes, so that an overlong file shows in *len.
 * Returns 0 or -errno. */
int medfs_config_read(const char *vault_dir, const char *name,
		      uint8_t buf[MEDFS_CONFIG_LEN + 1], size_t *len);

/* The same for a config copy anywhere (a backup file). */
int medfs_config_read_file(const char *path, uint8_t buf[MEDFS_CONFIG_LEN + 1],
			   size_t *len);

/* Reads the config of vault_dir and authenticates it under vault_key,
 * which is already known (no slot is opened): the primary copy, or the
 * second one when the primary is missing, damaged or fails its MAC.
 * Returns 0; -ENOENT when vault_dir holds no config; -EBADMSG when no copy
 * authenticates; -EPROTONOSUPPORT; -errno. On failure c is wiped. */
int medfs_config_load_key(const char *vault_dir, const uint8_t vault_key[MEDFS_KEY_LEN],
			  struct medfs_config *c);

/* Reads, unlocks and authenticates the config of vault_dir. Uses the
 * primary copy, or the second one when the primary is missing, damaged or
 * fails its MAC (*used_backup is then 1). vault_key must be secret memory.
 * Returns the slot index that opened; -ENOENT when vault_dir holds no
 * config (not a vault); -EKEYREJECTED when no slot accepts the secret;
 * -EBADMSG when both copies are damaged; -EPROTONOSUPPORT; -errno. */
int medfs_config_load(const char *vault_dir, enum medfs_slot_kind kind,
		      const uint8_t *secret, size_t secret_len, struct medfs_config *c,
		      uint8_t vault_key[MEDFS_KEY_LEN], int *used_backup);

#endif
