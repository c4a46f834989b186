/* medfs: unlocking a vault with any kind of key slot, and the vault lock.
 *
 * Secrets come from a file or the terminal, never from the command line
 * or the environment, and live in secret memory (medfs_secret_alloc):
 *   passphrase    the first line of a file, or asked on /dev/tty;
 *   key file      exactly 32 raw bytes, or 64 hexadecimal digits and an
 *                 optional newline;
 *   recovery key  the printed text form (medfs_recovery_encode), read
 *                 from a file or asked on /dev/tty; spaces, dashes and
 *                 newlines are ignored, and its check characters catch
 *                 any single mistyped character.
 *
 * The vault lock is VAULT/medfs.lock, held with open file description
 * locks (F_OFD_SETLK) on two bytes: byte 0 is shared by every mount and
 * key change and taken alone by a rotation; byte 1 is taken alone by key
 * changes and rotations. So a rotation runs only on a vault that nobody
 * has mounted, two key changes never interleave, and adding or removing
 * a key slot works while the vault is mounted. */
#ifndef MEDFS_UNLOCK_H
#define MEDFS_UNLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "medfs/config.h"
#include "medfs/crypto.h"

#define MEDFS_LOCK_NAME "medfs.lock"
#define MEDFS_RECOVERY_GROUPS 13
#define MEDFS_RECOVERY_GROUP_LEN 5 /* 4 data characters and a check character */
/* Five characters, a dash, five more...: 13 groups of 5 and 12 dashes. */
#define MEDFS_RECOVERY_TEXT_LEN                                                          \
	(MEDFS_RECOVERY_GROUPS * MEDFS_RECOVERY_GROUP_LEN + MEDFS_RECOVERY_GROUPS - 1)
#define MEDFS_KEYFILE_LEN 32

enum medfs_lock_mode {
	MEDFS_LOCK_MOUNT,  /* the driver, for as long as the vault is mounted */
	MEDFS_LOCK_KEYS,   /* medfs-key changing key slots or restoring a config */
	MEDFS_LOCK_ROTATE, /* medfs-key rotate: nobody else */
};

/* Takes the vault lock of vault_dir in the given mode, without waiting.
 * Returns a file descriptor: the lock lasts while it (or a copy made by
 * fork or dup) stays open. Errors: -EBUSY (ROTATE only) when the vault is
 * mounted; -EAGAIN when a rotation (MOUNT), or a rotation or another key
 * change (KEYS, ROTATE), holds the lock; -errno of open. */
int medfs_vault_lock(const char *vault_dir, enum medfs_lock_mode mode);

/* Writes the text form of a recovery key into out (at least
 * MEDFS_RECOVERY_TEXT_LEN + 1 bytes): 13 dash-separated groups of 5
 * characters of Crockford's base32. Returns 0 or -EINVAL (out too small). */
int medfs_recovery_encode(char *out, size_t outsz, const uint8_t key[MEDFS_KEY_LEN]);

/* Parses the text form of a recovery key (len bytes). Spaces, tabs, dashes
 * and newlines are ignored, letters may be in either case, and O, I and L
 * are read as 0, 1 and 1. Returns 0; -EINVAL for a character that is not
 * part of a recovery key (*where = its 1-based position in text);
 * -EMSGSIZE for a wrong number of characters (*where = how many);
 * -EBADMSG when a check fails (*where = the 1-based group, or 0 when each
 * group checks but the whole does not). key is wiped on failure. */
int medfs_recovery_decode(uint8_t key[MEDFS_KEY_LEN], const char *text, size_t len,
			  int *where);

/* Parses the content of a key file: 32 raw bytes, or 64 hexadecimal digits
 * with an optional "\n" or "\r\n". Returns 0 or -EINVAL. */
int medfs_keyfile_parse(uint8_t key[MEDFS_KEY_LEN], const uint8_t *buf, size_t len);

/* Reads the secret of a slot kind from file, or asks for it on the
 * terminal when file is NULL (passphrases and recovery keys; vault_dir
 * names the vault in the prompt). On success *out is secret memory of
 * *len bytes (the passphrase, or the 32-byte key) to free with
 * medfs_secret_free. Returns 0 or -errno with a message in why: -EINVAL
 * (empty passphrase, not a key file, no key file given), -EBADMSG or
 * -EMSGSIZE (a mistyped recovery key), -E2BIG, -ENXIO (no terminal),
 * -EPERM (a file its group or others may access, or another user's: why
 * says how to fix it, "chmod 600 FILE"). */
int medfs_secret_read(enum medfs_slot_kind kind, const char *file, const char *vault_dir,
		      uint8_t **out, size_t *len, char *why, size_t whysz);

/* Unlocks the vault in vault_dir for mounting: reads the secret of kind
 * from secret_file (or asks on the terminal, see medfs_secret_read), loads
 * and authenticates the config, and refuses a vault whose key rotation has
 * not finished. On success returns 0, with the config in c, the vault key
 * in vault_key (secret memory), the slot that opened in *slot and, in
 * *used_backup, 1 when the second copy of the config had to be used (why
 * then says so: a warning to show). On failure returns -errno, wipes c and
 * vault_key, and puts a message for the user in why (no program name):
 *   -ENOENT        not a medfs vault (no medfs.conf)
 *   -EKEYREJECTED  wrong passphrase / key file / recovery key
 *   -EBADMSG       both copies of the config damaged, or a mistyped
 *                  recovery key
 *   -EBUSY         "vault is being rotated: run medfs-key rotate VAULT to
 *                  finish"
 *   -ENOTSUP       the vault's blocks use AES-256-GCM and this CPU has no
 *                  AES-NI
 *   -EPROTONOSUPPORT, -EINVAL, -ENXIO, -ENOMEM, ... */
int medfs_unlock(const char *vault_dir, enum medfs_slot_kind kind,
		 const char *secret_file, struct medfs_config *c,
		 uint8_t vault_key[MEDFS_KEY_LEN], int *slot, int *used_backup, char *why,
		 size_t whysz);

/* medfs_unlock for medfs-key: with MEDFS_UNLOCK_ROTATING a pending
 * rotation is no error; with secret_out non-NULL the secret is handed
 * back (secret memory, *secret_out_len bytes, to free with
 * medfs_secret_free) rather than wiped. */
#define MEDFS_UNLOCK_ROTATING 1u
int medfs_unlock_ex(const char *vault_dir, enum medfs_slot_kind kind,
		    const char *secret_file, unsigned int flags, struct medfs_config *c,
		    uint8_t vault_key[MEDFS_KEY_LEN], int *slot, int *used_backup,
		    uint8_t **secret_out, size_t *secret_out_len, char *why,
		    size_t whysz);

#endif
