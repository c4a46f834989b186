/* medfs: the vault, a directory tree of encrypted objects.
 *
 * This is the whole filesystem without FUSE: plaintext paths in, vault
 * operations out. Paths are absolute plaintext paths ("/", "/a/b").
 * Every function returns 0 (or a count) on success and a negative errno on
 * failure; -EBADMSG means an integrity failure (tampered or torn vault
 * data), which the driver reports as -EIO after recording it. All
 * functions are safe to call from several threads at once. */
#ifndef MEDFS_VAULT_H
#define MEDFS_VAULT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include "medfs/crypto.h"
#include "medfs/header.h" /* MEDFS_META_*, MEDFS_PREV_* */

struct medfs_vault;
struct medfs_file; /* one open regular file, shared by all its opens */

/* Called on every integrity failure: the vault-relative (encrypted) path of
 * the damaged object, the plaintext path when it is known (NULL otherwise),
 * the byte offset in the vault file (or -1) and what failed. The driver
 * journals it; the library itself only logs the vault path and offset. */
typedef void (*medfs_integrity_fn)(void *ctx, const char *vault_path,
				   const char *plain_path, int64_t offset,
				   const char *what);

/* Creates the tree of a new vault in vault_dir (whose config is already
 * written): VAULT/tree with its root directory header. Returns 0 or -errno. */
int medfs_vault_create_tree(const char *vault_dir,
			    const uint8_t vault_key[MEDFS_KEY_LEN]);

/* Opens the vault in vault_dir with its vault key (copied into secret
 * memory; the caller wipes its own copy). The block cipher comes from the
 * vault's config, authenticated under vault_key (medfs_config_load_key).
 * Returns 0; -ENOENT (no config or no tree); -EBADMSG (the config or the
 * root directory does not authenticate under vault_key); -ENOTSUP (blocks
 * of a cipher this CPU cannot run); -errno. */
int medfs_vault_open(struct medfs_vault **out, const char *vault_dir,
		     const uint8_t vault_key[MEDFS_KEY_LEN]);

/* The same for a caller that already holds the config, or has none (tests
 * of the tree alone): blocks use cipher (MEDFS_CIPHER_*). Returns 0;
 * -EINVAL for an unknown cipher; -ENOTSUP; -ENOENT; -EBADMSG; -errno. */
int medfs_vault_open_cipher(struct medfs_vault **out, const char *vault_dir,
			    const uint8_t vault_key[MEDFS_KEY_LEN], uint32_t cipher);
void medfs_vault_close(struct medfs_vault *v);

/* Careful mode (include/medfs/settle.h): file sizes read from headers,
 * for a vault whose last mount did not end cleanly. Off at open. */
void medfs_vault_set_careful(struct medfs_vault *v, bool careful);
bool medfs_vault_is_careful(struct medfs_vault *v);
/* How many failed changes left a file longer than its header says since
 * the vault was opened (each also turns careful mode on). */
unsigned medfs_vault_grown_changes(struct medfs_vault *v);

void medfs_vault_set_integrity_hook(struct medfs_vault *v, medfs_integrity_fn fn,
				    void *ctx);

/* Ownership of new objects: uid/gid to chown them to, or (uid_t)-1 and
 * (gid_t)-1 to leave them to the process. */
struct medfs_owner {
	uid_t uid;
	gid_t gid;
};

int medfs_vault_getattr(struct medfs_vault *v, const char *path, struct stat *st);
/* Calls fn with the attributes of each directory above path, from the
 * root down ("/" then "/a" for "/a/b"), until fn returns non-zero, which
 * is returned. The directories come from the cache of resolved
 * directories when there: one fstatat each, no header read. Returns 0,
 * fn's result, or -errno (-ENOENT, -ENOTDIR for a missing ancestor). */
int medfs_vault_ancestors(struct medfs_vault *v, const char *path,
			  int (*fn)(void *ctx, const struct stat *st), void *ctx);
int medfs_vault_mkdir(struct medfs_vault *v, const char *path, mode_t mode,
		      const struct medfs_owner *o);
int medfs_vault_rmdir(struct medfs_vault *v, const char *path);
int medfs_vault_unlink(struct medfs_vault *v, const char *path);
/* flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE. */
int medfs_vault_rename(struct medfs_vault *v, const char *from, const char *to,
		       unsigned int flags);
int medfs_vault_symlink(struct medfs_vault *v, const char *target, const char *path,
			const struct medfs_owner *o);
/* A FIFO or a Unix socket (mode's type S_IFIFO or S_IFSOCK, its permission
 * bits as given) at path: an entry of that type in the vault under the
 * encrypted name, with no content. A regular file (S_IFREG) is created
 * empty as by medfs_file_create. Device nodes: -EPERM; other types:
 * -EINVAL. */
int medfs_vault_mknod(struct medfs_vault *v, const char *path, mode_t mode,
		      const struct medfs_owner *o);
/* Copies the target, NUL-terminated and cut to size - 1, into buf. */
int medfs_vault_readlink(struct medfs_vault *v, const char *path, char *buf, size_t size);
int medfs_vault_chmod(struct medfs_vault *v, const char *path, mode_t mode);
int medfs_vault_chown(struct medfs_vault *v, const char *path, uid_t uid, gid_t gid);
int medfs_vault_utimens(struct medfs_vault *v, const char *path,
			const struct timespec tv[2]);
int medfs_vault_truncate(struct medfs_vault *v, const char *path, off_t size);
int medfs_vault_statfs(struct medfs_vault *v, struct statvfs *st);

/* Calls fill once per entry of directory path, with its plaintext name and
 * attributes ("." and ".." not included). A nonzero return from fill stops
 * the listing. Entries whose names fail to authenticate are skipped and
 * reported to the integrity hook. */
typedef int (*medfs_dir_fill_fn)(void *ctx, const char *name, const struct stat *st);
int medfs_vault_readdir(struct medfs_vault *v, const char *path, medfs_dir_fill_fn fill,
			void *ctx);

/* Makes the directory at path durable: fsync (fdatasync with datasync) of
 * its vault directory, so that its entries (files made, renamed or removed
 * in it) are, and of its directory header. Returns 0 or -errno (-EIO of
 * the disk, -ENOENT, -ENOTDIR, -EBADMSG for a header that does not
 * authenticate). */
int medfs_vault_fsyncdir(struct medfs_vault *v, const char *path, int datasync);

/* Extended attributes, on regular files only; only the "user." namespace
 * is stored (others answer -ENODATA, or -ENOTSUP when set). A file holds
 * at most MEDFS_XATTR_COUNT_MAX of them, whose values add up to at most
 * MEDFS_XATTR_BYTES_MAX bytes: a set beyond either fails with -ENOSPC (a
 * value over 65,496 bytes alone with -E2BIG), so that their list always
 * fits the 64 KiB that listxattr(2) can return, on the mount and in the
 * vault. */
#define MEDFS_XATTR_COUNT_MAX 100
#define MEDFS_XATTR_BYTES_MAX (256 * 1024)
int medfs_vault_setxattr(struct medfs_vault *v, const char *path, const char *name,
			 const void *value, size_t size, int flags);
ssize_t medfs_vault_getxattr(struct medfs_vault *v, const char *path, const char *name,
			     void *value, size_t size);
ssize_t medfs_vault_listxattr(struct medfs_vault *v, const char *path, char *list,
			      size_t size);
int medfs_vault_removexattr(struct medfs_vault *v, const char *path, const char *name);

/* Opens a regular file: flags as open(2) (O_TRUNC truncates). Each
 * successful open must be paired with medfs_file_release. */
int medfs_file_open(struct medfs_vault *v, const char *path, int flags,
		    struct medfs_file **out);
/* Creates and opens a regular file (O_EXCL honoured). */
int medfs_file_create(struct medfs_vault *v, const char *path, int flags, mode_t mode,
		      const struct medfs_owner *o, struct medfs_file **out);
void medfs_file_release(struct medfs_file *f);

/* Reads up to size bytes at off; returns the count (0 at end of file). */
ssize_t medfs_file_read(struct medfs_file *f, void *buf, size_t size, off_t off);
/* Writes size bytes at off, or at the end of file when append is nonzero;
 * a write past the end leaves a hole (zeros, no space) before it. Returns
 * size, or less when it would end past MEDFS_FILE_SIZE_MAX (holes.h);
 * -EFBIG when off is there already. A write that fails (-ENOSPC) leaves
 * the file as it was but for blocks overwritten in place. */
ssize_t medfs_file_write(struct medfs_file *f, const void *buf, size_t size, off_t off,
			 int append);
/* Growing leaves a hole; -EFBIG past MEDFS_FILE_SIZE_MAX. */
int medfs_file_truncate(struct medfs_file *f, off_t size);
/* fallocate mode 0: makes the file at least off + len bytes long (a hole:
 * nothing is reserved); -EFBIG past MEDFS_FILE_SIZE_MAX. */
int medfs_file_allocate(struct medfs_file *f, off_t off, off_t len);
/* fallocate with FALLOC_FL_KEEP_SIZE: the file does not change (a range
 * past its end is a hole when it grows over it) and nothing is reserved.
 * Returns 0, -EINVAL, -EBADF, or -EFBIG past MEDFS_FILE_SIZE_MAX. */
int medfs_file_reserve(struct medfs_file *f, off_t off, off_t len);
/* The first offset at or after off that is not in a hole of f (as
 * SEEK_DATA; off itself when it is data), at most f's size: what reads
 * as zeros without a block behind it need not be read. */
uint64_t medfs_file_next_data(struct medfs_file *f, uint64_t off);
/* Whether the vault file of f is longer than its header says (an
 * extension cut by a crash: read at the header's size, doc/FORMAT.md 12.1). */
bool medfs_file_grown(struct medfs_file *f);
/* Cuts a grown file's vault file back to its header's length (the next
 * write, truncation or allocation does it too). Returns 1 when it cut, 0
 * when there was nothing to do, -EBADF when f is not writable, or -errno. */
int medfs_file_settle(struct medfs_file *f);
int medfs_file_fsync(struct medfs_file *f, int datasync);
int medfs_file_getattr(struct medfs_file *f, struct stat *st);
uint64_t medfs_file_size(struct medfs_file *f);

/* Per-file metadata: one small sealed blob (at most MEDFS_META_MAX bytes)
 * bound to the file, invisible to listxattr; the driver keeps a DICOM
 * file's identifiers there for the journal. get returns the length,
 * -ENODATA when there is none, -ERANGE when size is too small, -EBADMSG
 * when it does not authenticate. It is stored in the vault xattr
 * MEDFS_META_XATTR (its record: medfs_meta_open in header.h). The previous
 * key of a file flagged MEDFS_HEADER_PREV is in MEDFS_PREV_XATTR
 * (medfs_prev_open). */
int medfs_file_set_meta(struct medfs_file *f, const void *data, size_t len);
ssize_t medfs_file_get_meta(struct medfs_file *f, void *buf, size_t size);
ssize_t medfs_vault_get_meta(struct medfs_vault *v, const char *path, void *buf,
			     size_t size);

#endif
