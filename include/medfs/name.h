/* medfs: encrypted names and symlink targets.
 *
 * Names are encrypted deterministically per directory, so that a lookup
 * needs no scan, and authenticated: a synthetic IV construction.
 *   siv = BLAKE2b-128(key = name MAC key, "MDFN" || dir_id || name)
 *   ct  = XChaCha20(key = name stream key, nonce = siv || 0^8, name || 0-padding)
 * The name is zero-padded to a multiple of 16 bytes (names hold no NUL),
 * and the vault name is base64url without padding of siv || ct.
 *
 * A vault name longer than MEDFS_NAME_SHORT_MAX characters is stored as
 * "~" + base64url(BLAKE2b-256(key = name MAC key, "MDFL" || vault name)), with the
 * full vault name in a sidecar file of that name plus MEDFS_LONGNAME_SUFFIX.
 *
 * Symlink targets are sealed with XChaCha20-Poly1305 under the link subkey
 * with a random nonce, bound to the link's parent id and name ("MDFS" ||
 * parent id || name as associated data), and stored
 * as base64url(nonce || ct || tag). */
#ifndef MEDFS_NAME_H
#define MEDFS_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "medfs/crypto.h"
#include "medfs/header.h"

#define MEDFS_NAME_MAX 255		       /* plaintext bytes */
#define MEDFS_NAME_KEY_LEN (2 * MEDFS_KEY_LEN) /* MAC key || stream key */
#define MEDFS_NAME_SHORT_MAX 176	       /* longest vault name kept as is */
#define MEDFS_NAME_ENC_MAX 372 /* longest vault name + NUL (255 -> 256 padded + 16) */
#define MEDFS_LONGNAME_LEN 44  /* "~" + 43 base64url chars */
#define MEDFS_LONGNAME_SUFFIX ".n"
#define MEDFS_LINK_MAX 3000	/* longest plaintext symlink target */
#define MEDFS_LINK_ENC_MAX 4096 /* room for an encoded target + NUL */

/* Encrypts name (name_len bytes, 1..MEDFS_NAME_MAX, no '/' or NUL, not "."
 * or "..") for directory dir_id into out (NUL-terminated, outsz bytes;
 * MEDFS_NAME_ENC_MAX is always enough). Returns the encoded length;
 * -ENAMETOOLONG; -EINVAL for an invalid name or too small a buffer. */
int medfs_name_encrypt(char *out, size_t outsz, const char *name, size_t name_len,
		       const uint8_t dir_id[MEDFS_DIR_ID_LEN],
		       const uint8_t name_key[MEDFS_NAME_KEY_LEN]);

/* Decrypts a vault name (not a long-name hash) for directory dir_id into
 * out (NUL-terminated; MEDFS_NAME_MAX + 1 is enough). Returns the
 * plaintext length, -EBADMSG when the name does not authenticate or does
 * not decode, -EINVAL when out is too small. */
int medfs_name_decrypt(char *out, size_t outsz, const char *enc, size_t enc_len,
		       const uint8_t dir_id[MEDFS_DIR_ID_LEN],
		       const uint8_t name_key[MEDFS_NAME_KEY_LEN]);

/* The entry name under which a vault name is stored: the name itself when
 * it is at most MEDFS_NAME_SHORT_MAX characters, else its long-name hash.
 * out needs MEDFS_NAME_ENC_MAX bytes. Returns the entry name's length. */
int medfs_name_entry(char *out, size_t outsz, const char *enc, size_t enc_len,
		     const uint8_t name_key[MEDFS_NAME_KEY_LEN]);

/* True when a vault entry name is a long-name hash ("~..."), false for a
 * direct name. Sidecars and the directory header are neither: see
 * medfs_name_is_internal. */
bool medfs_name_is_long(const char *entry);

/* True for vault entries that are not user objects: names starting with
 * '.', and long-name sidecars. */
bool medfs_name_is_internal(const char *entry);

/* Seals a symlink target (1..MEDFS_LINK_MAX bytes) bound to b into out
 * (NUL-terminated, MEDFS_LINK_ENC_MAX is enough). Returns the encoded
 * length, -ENAMETOOLONG or -EINVAL. */
int medfs_link_encrypt(char *out, size_t outsz, const char *target, size_t len,
		       const uint8_t link_key[MEDFS_KEY_LEN],
		       const struct medfs_binding *b);

/* Opens a sealed symlink target into out (NUL-terminated). Returns the
 * plaintext length; -EBADMSG; -EINVAL when out is too small. */
int medfs_link_decrypt(char *out, size_t outsz, const char *enc, size_t enc_len,
		       const uint8_t link_key[MEDFS_KEY_LEN],
		       const struct medfs_binding *b);

/* Plaintext length of a sealed target from its encoded length alone (for
 * stat), or -EBADMSG for an impossible length. */
int medfs_link_plain_len(size_t enc_len);

#endif
