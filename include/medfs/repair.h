/* medfs: repairs of a damaged vault, for medfs-fsck --repair.
 *
 * The checker (tools/medfs-fsck.c) finds what is wrong; this module
 * changes the vault, and only in ways that lose nothing that can still be
 * read (doc/ADMIN.md, "Repairing a vault"; doc/FORMAT.md, 12.1):
 *
 * - a regular file that cannot be read whole is copied through the vault
 *   into the quarantine directory /lost+found (root's, mode 0700) with
 *   every block that still authenticates; each lost block reads as the
 *   fill pattern, and a sidecar NAME.lost-ranges, a vault file like any
 *   other, lists the lost byte ranges. The damaged original is removed
 *   once the copy is durable;
 * - a directory header that no longer authenticates where it is (an
 *   interrupted rename, a torn or flipped header) is sealed again to its
 *   place when its directory id, which is in the clear, is proven by the
 *   names of its entries; a header whose id is lost is rebuilt with a new
 *   id, and the entries that id made unreadable are moved, as they are,
 *   out of the tree into VAULT/quarantine;
 * - leftovers of interrupted operations (orphan long-name sidecars, ".tmp-"
 *   objects and ".medfs-dir.tmp" in the tree, "medfs.conf.tmp") are
 *   removed;
 * - a torn, missing or outdated config copy is written again from the
 *   copy that authenticates under the vault key.
 *
 * Every function returns 0 (or a count) on success and a negative errno
 * on failure; -EBADMSG means that what is there cannot be repaired (it
 * does not authenticate, and nothing proves what it should be). */
#ifndef MEDFS_REPAIR_H
#define MEDFS_REPAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "medfs/crypto.h"
#include "medfs/header.h"

struct medfs_vault;

/* The quarantine directory, in the root of the plaintext tree. */
#define MEDFS_REPAIR_LOST_FOUND "lost+found"
#define MEDFS_REPAIR_LOST_FOUND_PATH "/" MEDFS_REPAIR_LOST_FOUND
#define MEDFS_REPAIR_LOST_FOUND_MODE 0700
/* The sidecar of a repaired file: NAME + this suffix, in lost+found. */
#define MEDFS_REPAIR_RANGES_SUFFIX ".lost-ranges"
/* Where unreadable vault objects are moved, as they are, out of the tree:
 * VAULT/quarantine/<time>-<8 hex>/ (mode 0700). */
#define MEDFS_REPAIR_QUARANTINE "quarantine"
/* The fill pattern of a lost byte at file offset o: FILL[o % FILL_LEN]. */
#define MEDFS_REPAIR_FILL "MEDFS LOST DATA\n"
#define MEDFS_REPAIR_FILL_LEN 16

/* True when path (an absolute plaintext path) is the quarantine
 * directory or lies below it. The mount lets nobody but root reach it,
 * whatever the policy says (doc/POLICY.md). Pure. */
bool medfs_repair_quarantined(const char *path);

/* Writes the fill pattern of the len bytes at file offset off into buf.
 * Pure. */
void medfs_repair_fill(uint8_t *buf, size_t len, uint64_t off);

/* A lost byte range of a repaired file. */
struct medfs_repair_range {
	uint64_t off, len;
};

/* The text of a .lost-ranges sidecar (doc/ADMIN.md): the original path,
 * the sizes, the fill pattern and one "lost OFFSET LENGTH" line a range,
 * in a malloc'd string (*out, *len bytes without the NUL). Returns 0,
 * -EINVAL or -ENOMEM. Pure (time is given). */
int medfs_repair_ranges_format(char **out, size_t *len, const char *original,
			       uint64_t header_size, uint64_t size, int64_t time,
			       const struct medfs_repair_range *r, size_t n);

struct medfs_repair;

/* Holds what the repairs need: the vault's directory, its subkeys
 * (derived from vault_key, which is not kept) and the block cipher.
 * The vault handle is set apart (it may be opened only after the root's
 * header is repaired). Returns 0, -ENOMEM or -EINVAL. */
int medfs_repair_new(struct medfs_repair **out, const char *vault_dir,
		     const uint8_t vault_key[MEDFS_KEY_LEN], uint32_t cipher);
void medfs_repair_set_vault(struct medfs_repair *r, struct medfs_vault *v);
void medfs_repair_free(struct medfs_repair *r);

/* What a salvage did. */
struct medfs_salvage {
	char name[256];	      /* the copy's name in lost+found */
	uint64_t header_size; /* the size the header gave */
	uint64_t size;	      /* the copy's size */
	uint64_t lost;	      /* bytes lost (filled) */
	size_t n_ranges;      /* lost ranges */
	bool torn_header;     /* no header (short or zeros): an empty copy */
	bool meta_lost;	      /* the file metadata could not be copied */
	unsigned xattrs_lost; /* extended attributes that could not be */
};

/* Salvages the regular file at plaintext path, whose vault file is vpath
 * (relative to the vault: "tree/...") bound to b: copies it into
 * lost+found (made if needed) with every block that authenticates under
 * its key (or previous key), the fill pattern elsewhere, and its
 * NAME.lost-ranges sidecar; copies its extended attributes and metadata
 * that authenticate; makes both durable; then removes the original. A
 * vault file shorter than a header, or whose header is all zeros (a create
 * cut short), holds nothing to read: its copy is empty (out->torn_header). Needs the
 * vault handle. Returns 0; -EBADMSG when its header does not open where it is (no byte
 * can be read: the file is left as it is); -EPROTONOSUPPORT; -errno (the original is then
 * left as it is). */
int medfs_repair_salvage_file(struct medfs_repair *r, const char *path, const char *vpath,
			      const struct medfs_binding *b, struct medfs_salvage *out);

enum medfs_dir_repair {
	MEDFS_DIR_RESEALED = 1,	   /* its own id, proven, sealed to its place */
	MEDFS_DIR_REBUILT = 2,	   /* empty: a new id */
	MEDFS_DIR_QUARANTINED = 3, /* a new id; its entries moved to quarantine */
};

/* Repairs the header of vault directory vdir ("tree/..."), which must be
 * bound to b. Candidate ids come from its damaged header and a leftover
 * .medfs-dir.tmp; one is taken when some entry name decrypts under it
 * (or the directory holds no entry). Without one, a new id is drawn and
 * the entries are moved to VAULT/quarantine/ (*moved says how many; the
 * directory's quarantine path, relative to the vault, goes into where,
 * wheresz bytes). Returns the enum medfs_dir_repair value, or -errno.
 * Does not need the vault handle; the caller reopens or forgets cached
 * directories itself. */
int medfs_repair_dir_header(struct medfs_repair *r, const char *vdir,
			    const struct medfs_binding *b, size_t *moved, char *where,
			    size_t wheresz);

/* True for the vault entry names that interrupted operations leave:
 * ".tmp-*", ".medfs-dir.tmp", "medfs.conf.tmp" and "medfs.conf.bak.tmp". */
bool medfs_repair_is_leftover(const char *entry);

/* Removes a leftover (vpath relative to the vault): a temporary as above,
 * or a long-name sidecar whose entry does not exist. A ".tmp-" directory
 * is removed only when it holds nothing but directory headers. Returns 0;
 * -EEXIST (the sidecar's entry exists); -ENOTEMPTY; -EINVAL (not a
 * leftover); -errno. */
int medfs_repair_remove_leftover(struct medfs_repair *r, const char *vpath);

/* Seals the metadata of the regular file at path again from its contents
 * (its DICOM identifiers, read from its first 4 MiB as the driver reads
 * them; none when it is not a DICOM file), over metadata that does not
 * authenticate (left under an old key by an old medfs-key rotate, or
 * damaged). The former patients it named cannot be read and are lost.
 * Needs the vault handle. Returns 1 (the file is DICOM: identifiers
 * stored), 0 (not DICOM: empty metadata stored), or -errno. */
#define MEDFS_REPAIR_DICOM_SCAN_MAX (4 << 20)
int medfs_repair_meta(struct medfs_repair *r, const char *path);

/* Cuts the vault file of the regular file at path back to its header's
 * length when it is longer (an extension cut by a crash before its header:
 * doc/FORMAT.md 12.1), and syncs it. Needs the vault handle. Returns 1
 * when it cut, 0 when there was nothing to cut, or -errno. */
int medfs_repair_settle(struct medfs_repair *r, const char *path);

/* Makes both config copies the same authentic config: the primary when
 * it authenticates under the vault key, else the second copy, is written
 * again over a copy that is missing, torn (does not decode) or different
 * and authentic. A copy that decodes but does not authenticate under this
 * key is left alone (another key's config: a key change or a forgery is
 * not repaired by overwriting it). Returns 1 (repaired), 0 (nothing to
 * do), -EBADMSG (cannot), -errno. what (whatsz bytes) says what was done
 * or why not. */
int medfs_repair_config(struct medfs_repair *r, const uint8_t vault_key[MEDFS_KEY_LEN],
			char *what, size_t whatsz);

#endif
