/* medfs: vault key rotation.
 *
 * A rotation draws a new vault key and moves everything the vault key
 * protects over to it, without re-encrypting file contents: every file
 * header is resealed (same file id, file key, size and binding), every
 * directory header re-MACed, every entry name re-encrypted (and renamed in
 * the vault directory), every symlink target, extended attribute and
 * file metadata (MEDFS_META_XATTR) resealed, and so is the access
 * journal's STATE (medfs_rotate_journal). With MEDFS_ROTATION_REENCRYPT
 * each file also gets a new file key and its blocks are re-encrypted into
 * a temporary that replaces it.
 *
 * The config carries the state: medfs_rotate_start rewraps every key slot
 * for the new key and keeps the old key sealed under the new one in the
 * config (see medfs_config_rekey), in one atomic config write, before the
 * tree is touched. The tree is then converted object by object, each step
 * atomic and idempotent: an object that already opens under the new key
 * is left alone, one that opens under the old key is converted. So a
 * rotation killed at any point resumes by running medfs_rotate_tree again,
 * and medfs_rotate_finish drops the old key once the tree is on disk.
 *
 * The primitives below convert one object in memory; they return 1 when
 * the object was under the old key (its new form is in the outputs), 0
 * when it is already under the new key, and -EBADMSG when neither key
 * opens it (a damaged object, which a rotation leaves as it is). */
#ifndef MEDFS_ROTATE_H
#define MEDFS_ROTATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "medfs/config.h"
#include "medfs/crypto.h"
#include "medfs/header.h"
#include "medfs/name.h"

#define MEDFS_XATTR_VAULT_PREFIX "user.medfs."

/* The subkeys of the old and the new vault key, in secret memory. */
struct medfs_rotate_keys;

/* Returns 0 or -ENOMEM / -EINVAL. */
int medfs_rotate_keys_new(struct medfs_rotate_keys **out,
			  const uint8_t old_key[MEDFS_KEY_LEN],
			  const uint8_t new_key[MEDFS_KEY_LEN]);
void medfs_rotate_keys_free(struct medfs_rotate_keys *k);

/* A file header, resealed in place under the new header subkey and flagged
 * MEDFS_HEADER_STALE (its key predates the rotation: the file gets a new
 * one at its next write). The file id is copied to file_id in both success
 * cases. */
int medfs_rotate_header(const struct medfs_rotate_keys *k, uint8_t hdr[MEDFS_HEADER_LEN],
			const struct medfs_binding *b,
			uint8_t file_id[MEDFS_FILE_ID_LEN]);

/* A directory header, re-MACed in place; its id goes to dir_id. */
int medfs_rotate_dir_header(const struct medfs_rotate_keys *k,
			    uint8_t hdr[MEDFS_DIR_HEADER_LEN],
			    const struct medfs_binding *b,
			    uint8_t dir_id[MEDFS_DIR_ID_LEN]);

/* A vault name (enc, enc_len bytes) of directory dir_id. The plaintext
 * name goes to name (NUL-terminated, *name_len bytes) in both success
 * cases; when 1 is returned, new_enc holds the new vault name
 * (MEDFS_NAME_ENC_MAX is enough). -EINVAL for too small a buffer. */
int medfs_rotate_name(const struct medfs_rotate_keys *k, const char *enc, size_t enc_len,
		      const uint8_t dir_id[MEDFS_DIR_ID_LEN], char *name, size_t namesz,
		      size_t *name_len, char *new_enc, size_t new_encsz);

/* The entry name of a vault name under the new (new_key 1) or old (0)
 * key: the name itself or its long-name hash, as medfs_name_entry. */
int medfs_rotate_entry(const struct medfs_rotate_keys *k, int new_key, const char *enc,
		       size_t enc_len, char *out, size_t outsz);

/* A sealed symlink target; when 1 is returned, out (MEDFS_LINK_ENC_MAX is
 * enough) holds the new one. */
int medfs_rotate_link(const struct medfs_rotate_keys *k, const char *enc, size_t enc_len,
		      const struct medfs_binding *b, char *out, size_t outsz);

/* One extended attribute of the file with id file_id as stored in the
 * vault: name "user.medfs.<encrypted name>" and value. When 1 is
 * returned, new_name (XATTR_NAME_MAX + 1 bytes is enough) and new_value
 * (value_len bytes) hold its new form. -EINVAL for a name that is not a
 * vault xattr name or too small a buffer. */
int medfs_rotate_xattr(const struct medfs_rotate_keys *k,
		       const uint8_t file_id[MEDFS_FILE_ID_LEN], const char *name,
		       const uint8_t *value, size_t value_len, char *new_name,
		       size_t new_namesz, uint8_t *new_value);

/* The sealed metadata of the file with id file_id (MEDFS_META_XATTR, see
 * vault.h), value_len bytes. When 1 is returned, new_value (value_len
 * bytes) holds it resealed under the new key with a fresh nonce. Returns
 * -EBADMSG for a value too short or too long to be one (MEDFS_META_MAX),
 * or -ENOMEM. */
int medfs_rotate_meta(const struct medfs_rotate_keys *k,
		      const uint8_t file_id[MEDFS_FILE_ID_LEN], const uint8_t *value,
		      size_t value_len, uint8_t *new_value);

/* The previous key of a file (MEDFS_PREV_XATTR, see vault.h), value_len
 * bytes: the same as medfs_rotate_meta. */
int medfs_rotate_prev(const struct medfs_rotate_keys *k,
		      const uint8_t file_id[MEDFS_FILE_ID_LEN], const uint8_t *value,
		      size_t value_len, uint8_t *new_value);

/* The access journal's STATE (doc/JOURNAL.md, section 8) is sealed under
 * the JOURNAL subkey of the vault key: it must follow the vault key, or
 * the next mount could not continue the journal's chain. */
#define MEDFS_ROTATE_JOURNAL_STATE_LEN 168
#define MEDFS_ROTATE_JOURNAL_DEFAULT "journal" /* VAULT/journal */

/* One STATE record (len bytes), resealed in place with a fresh nonce.
 * Returns 1, 0 or -EBADMSG as above, or -ENOMEM. */
int medfs_rotate_journal_state(const struct medfs_rotate_keys *k, uint8_t *state,
			       size_t len);

/* The STATE file of the journal directory journal_dir, replaced
 * atomically (no journal writer may run). Returns 1 converted, 0 already
 * under the new key, -ENOENT when there is no journal (or no STATE) there,
 * -EBADMSG when neither key opens it, or -errno. */
int medfs_rotate_journal(const char *journal_dir, const uint8_t old_key[MEDFS_KEY_LEN],
			 const uint8_t new_key[MEDFS_KEY_LEN]);

/* Progress of medfs_rotate_tree: objects (files, directories, symlinks)
 * done of the total, and with re-encryption the plaintext bytes. */
struct medfs_rotate_progress {
	uint64_t done, total;
	uint64_t bytes_done, bytes_total;
};

struct medfs_rotate_ops {
	/* Called after each object; a nonzero return stops the walk, which
	 * then returns -ECANCELED (run it again to resume). May be NULL. */
	int (*progress)(void *ctx, const struct medfs_rotate_progress *p);
	/* Called for each damaged object left as it is, with its vault
	 * path ("tree/...") and what is wrong. May be NULL. */
	void (*problem)(void *ctx, const char *vault_path, const char *what);
	void *ctx;
};

struct medfs_rotate_stats {
	uint64_t objects;   /* objects met */
	uint64_t converted; /* moved to the new key by this walk */
	uint64_t damaged;   /* opened under neither key: left as they were */
	uint64_t leftovers; /* temporaries of interrupted operations removed */
};

/* Starts a rotation of the vault in vault_dir, whose version 2 config c
 * was unlocked with the vault key in vault_key (secret memory): draws a
 * new vault key, rewraps every slot for it, records mode and the sealed
 * old key, and saves the config. On success the new key replaces the old
 * one in vault_key and c holds the saved config. Returns 0; -EINVAL (c is
 * version 1, or a rotation is already recorded); -errno of the save (the
 * old config is then written back). */
int medfs_rotate_start(const char *vault_dir, struct medfs_config *c,
		       uint8_t vault_key[MEDFS_KEY_LEN], enum medfs_rotation mode);

/* Converts the tree of vault_dir from old_key to new_key (mode REKEY or
 * REENCRYPT), then syncs the file system. cipher is the vault's block
 * cipher (the config's): REENCRYPT opens and seals blocks with it, so a
 * vault keeps its cipher. Returns 0 (damaged objects are counted in st,
 * not errors); -EINVAL (mode or cipher unknown); -ENOTSUP (a cipher this
 * CPU cannot run); -ECANCELED when ops->progress asked to stop; -errno of
 * a failed read or write (run it again once fixed). */
int medfs_rotate_tree(const char *vault_dir, const uint8_t old_key[MEDFS_KEY_LEN],
		      const uint8_t new_key[MEDFS_KEY_LEN], enum medfs_rotation mode,
		      uint32_t cipher, const struct medfs_rotate_ops *ops,
		      struct medfs_rotate_stats *st);

/* Ends a rotation whose tree is converted: saves c without the old key.
 * Returns 0 or -errno. */
int medfs_rotate_finish(const char *vault_dir, struct medfs_config *c,
			const uint8_t vault_key[MEDFS_KEY_LEN]);

/* Clones (medfs-key clone): a copy of a vault that is a vault of its own,
 * with its own vault id and keys, made as a copy of the tree followed by a
 * rotation with re-encryption of the copy.
 *
 * medfs_rotate_clone_config turns c, the unlocked config of the source
 * (version 2, no rotation pending), into the clone's: a new random vault
 * id and creation time, a new vault key (into new_key, secret memory),
 * every slot rewrapped for it (the source's secrets open the clone), a
 * rotation with re-encryption recorded, holding old_key (the source's).
 * Returns 0, -EINVAL or the error of medfs_config_rekey.
 *
 * medfs_rotate_copy_tree copies the tree of src_vault as it is on disk
 * (entries, xattrs, modes, owners, times; no leftover temporaries) into
 * dst_vault/tree.clone, syncs it and renames it to dst_vault/tree. It does
 * nothing when dst_vault/tree exists; run again after an interruption, it
 * skips the files copied already (same size and mtime). ops->progress is
 * called after each entry (a nonzero return stops the copy:
 * -ECANCELED). Returns 0 or -errno. */
int medfs_rotate_clone_config(struct medfs_config *c, uint8_t new_key[MEDFS_KEY_LEN],
			      const uint8_t old_key[MEDFS_KEY_LEN]);
int medfs_rotate_copy_tree(const char *src_vault, const char *dst_vault,
			   const struct medfs_rotate_ops *ops);

#endif
