/* medfs: file and directory headers.
 *
 * A regular file starts with a 104-byte header holding its random file id
 * and, sealed under the header subkey, its random file key and plaintext
 * size. The associated data binds the header to where the file lives: the
 * id of its parent directory and its plaintext name. A file moved or
 * renamed in the vault, or a header swapped between files, fails to open.
 *
 * Every vault directory holds a 40-byte directory header (MEDFS_DIR_HEADER_NAME)
 * with its random directory id, MACed under the directory subkey with the
 * same kind of binding to its parent and name. */
#ifndef MEDFS_HEADER_H
#define MEDFS_HEADER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "medfs/crypto.h"

#define MEDFS_FILE_ID_LEN 16
#define MEDFS_DIR_ID_LEN 16
#define MEDFS_HEADER_LEN 104
#define MEDFS_HEADER_VERSION 1	     /* a file header without flags */
#define MEDFS_HEADER_VERSION_FLAGS 2 /* a file header with flags (bytes 6..8) */
/* File header flags (doc/FORMAT.md, 4.1). */
#define MEDFS_HEADER_STALE 0x0001 /* key drawn before the last rotation */
#define MEDFS_HEADER_PREV 0x0002  /* blocks may be under the previous key */
#define MEDFS_HEADER_HOLES 0x0004 /* a hole map in MEDFS_HOLES_XATTR (holes.h) */
#define MEDFS_HEADER_FLAGS_KNOWN                                                         \
	(MEDFS_HEADER_STALE | MEDFS_HEADER_PREV | MEDFS_HEADER_HOLES)
#define MEDFS_DIR_HEADER_LEN 40
#define MEDFS_DIR_HEADER_NAME ".medfs-dir"

/* Where an object lives: its parent directory's id and its plaintext name.
 * The root directory is bound to an all-zero parent id and the empty name. */
struct medfs_binding {
	uint8_t parent_id[MEDFS_DIR_ID_LEN];
	const char *name;
	size_t name_len;
};

/* Seals a file header into out. Returns 0 or -EINVAL. */
int medfs_header_seal(uint8_t out[MEDFS_HEADER_LEN],
		      const uint8_t file_id[MEDFS_FILE_ID_LEN],
		      const uint8_t file_key[MEDFS_KEY_LEN], uint64_t size,
		      const uint8_t header_key[MEDFS_KEY_LEN],
		      const struct medfs_binding *b);

/* For known-answer tests only: the same with a caller-chosen nonce. */
int medfs_header_seal_with_nonce(uint8_t out[MEDFS_HEADER_LEN],
				 const uint8_t file_id[MEDFS_FILE_ID_LEN],
				 const uint8_t file_key[MEDFS_KEY_LEN], uint64_t size,
				 const uint8_t header_key[MEDFS_KEY_LEN],
				 const struct medfs_binding *b, const uint8_t nonce[24]);

/* Opens a file header. Returns 0; -EPROTONOSUPPORT for a known magic with
 * an unknown version; -EBADMSG for a bad magic or failed authentication
 * (outputs wiped). Flags are ignored: for tests and tools that only look
 * at a header, never for reading blocks (use medfs_header_open_flags). */
int medfs_header_open(const uint8_t in[MEDFS_HEADER_LEN],
		      uint8_t file_id[MEDFS_FILE_ID_LEN], uint8_t file_key[MEDFS_KEY_LEN],
		      uint64_t *size, const uint8_t header_key[MEDFS_KEY_LEN],
		      const struct medfs_binding *b);

/* Seals a file header with flags (MEDFS_HEADER_*): version 1 when flags
 * is 0, byte for byte what medfs_header_seal writes, else version 2 with
 * the flags in bytes 6..8. Returns 0 or -EINVAL (unknown flags or a bad
 * binding). nonce NULL draws a fresh one (known-answer tests pass one). */
int medfs_header_seal_flags(uint8_t out[MEDFS_HEADER_LEN],
			    const uint8_t file_id[MEDFS_FILE_ID_LEN],
			    const uint8_t file_key[MEDFS_KEY_LEN], uint64_t size,
			    uint16_t flags, const uint8_t header_key[MEDFS_KEY_LEN],
			    const struct medfs_binding *b, const uint8_t *nonce);

/* Opens a header of either version; *flags gets its flags (0 for version
 * 1). Returns as medfs_header_open; -EBADMSG also for a version 1 header
 * with non-zero reserved bytes or a version 2 header with no flag, and
 * -EPROTONOSUPPORT for an authentic header with a flag this build does
 * not know. */
int medfs_header_open_flags(const uint8_t in[MEDFS_HEADER_LEN],
			    uint8_t file_id[MEDFS_FILE_ID_LEN],
			    uint8_t file_key[MEDFS_KEY_LEN], uint64_t *size,
			    uint16_t *flags, const uint8_t header_key[MEDFS_KEY_LEN],
			    const struct medfs_binding *b);

/* Builds a directory header for dir_id. Returns 0 or -EINVAL. */
int medfs_dir_header_seal(uint8_t out[MEDFS_DIR_HEADER_LEN],
			  const uint8_t dir_id[MEDFS_DIR_ID_LEN],
			  const uint8_t dir_key[MEDFS_KEY_LEN],
			  const struct medfs_binding *b);

/* Checks a directory header; on success copies its id to dir_id and
 * returns 0. -EPROTONOSUPPORT or -EBADMSG as for file headers. */
int medfs_dir_header_open(const uint8_t in[MEDFS_DIR_HEADER_LEN],
			  uint8_t dir_id[MEDFS_DIR_ID_LEN],
			  const uint8_t dir_key[MEDFS_KEY_LEN],
			  const struct medfs_binding *b);

/* Sealed records kept in vault xattrs of a file, bound to its file id
 * (doc/FORMAT.md, 4.4 and 8.1): nonce (24) || XChaCha20-Poly1305(XATTR
 * subkey, nonce, data, AD = tag (4) || file id (16)).
 *   MEDFS_PREV_XATTR: the previous file key (32 bytes) of a file whose
 *   header is flagged MEDFS_HEADER_PREV;
 *   MEDFS_META_XATTR: the file's metadata, at most MEDFS_META_MAX bytes
 *   (a DICOM file's identifiers, for the journal). */
#define MEDFS_META_XATTR "user.medfs-meta"
#define MEDFS_META_AD_TAG "MDFM"
#define MEDFS_META_MAX 4096
#define MEDFS_PREV_XATTR "user.medfs-prev"
#define MEDFS_PREV_AD_TAG "MDFP"
#define MEDFS_XATTR_NONCE_LEN 24
#define MEDFS_XATTR_OVERHEAD (MEDFS_XATTR_NONCE_LEN + 16) /* nonce and tag */
#define MEDFS_PREV_LEN (MEDFS_XATTR_OVERHEAD + MEDFS_KEY_LEN)
#define MEDFS_META_SEALED_MAX (MEDFS_XATTR_OVERHEAD + MEDFS_META_MAX)

/* Seals the previous file key into out. nonce NULL draws a fresh one
 * (known-answer tests and the fuzz corpus pass one). */
void medfs_prev_seal(uint8_t out[MEDFS_PREV_LEN], const uint8_t key[MEDFS_KEY_LEN],
		     const uint8_t file_id[MEDFS_FILE_ID_LEN],
		     const uint8_t xattr_key[MEDFS_KEY_LEN], const uint8_t *nonce);

/* Opens a previous-key record of len bytes into key. Returns 0, or
 * -EBADMSG (wrong length, or it does not authenticate; key wiped). */
int medfs_prev_open(uint8_t key[MEDFS_KEY_LEN], const uint8_t *in, size_t len,
		    const uint8_t file_id[MEDFS_FILE_ID_LEN],
		    const uint8_t xattr_key[MEDFS_KEY_LEN]);

/* Seals len (at most MEDFS_META_MAX) bytes of metadata into out, which
 * gets len + MEDFS_XATTR_OVERHEAD bytes. Returns 0 or -E2BIG. */
int medfs_meta_seal(uint8_t *out, const void *data, size_t len,
		    const uint8_t file_id[MEDFS_FILE_ID_LEN],
		    const uint8_t xattr_key[MEDFS_KEY_LEN], const uint8_t *nonce);

/* Opens a metadata record of len bytes into out (room for cap bytes).
 * Returns the metadata's length; -EBADMSG when it is too short or too long
 * to be one or does not authenticate; -ERANGE when it is longer than cap;
 * -ENOMEM. On failure out is wiped (cap bytes). */
ssize_t medfs_meta_open(void *out, size_t cap, const uint8_t *in, size_t len,
			const uint8_t file_id[MEDFS_FILE_ID_LEN],
			const uint8_t xattr_key[MEDFS_KEY_LEN]);

#endif
