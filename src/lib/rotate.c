/* medfs: vault key rotation (see rotate.h and doc/FORMAT.md, "Key
 * rotation").
 *
 * The walker works on the vault tree directly, one directory at a time
 * through directory file descriptors: it reads a directory's listing
 * first, then converts each entry, so that its own renames cannot make it
 * skip or revisit an entry. Each change is one atomic step (a rename, a
 * write of at most one header, an xattr set), done in an order that a
 * rerun recognises:
 *   - a name is renamed first (long names: new sidecar, rename, old
 *     sidecar removed; an orphan sidecar left by a crash is removed);
 *   - then the object under its new name: header resealed in place,
 *     directory header and symlink replaced through a temporary and a
 *     rename, each xattr set under its new name before the old one goes;
 *     with re-encryption the whole file is rewritten into ".tmp-<hex>",
 *     fsynced and renamed over the original.
 * The times of every object and directory touched are put back, so the
 * plaintext view does not change. Nothing plaintext is ever logged: only
 * vault paths. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "medfs/block.h"
#include "medfs/config.h"
#include "medfs/crypto.h"
#include "medfs/header.h"
#include "medfs/holes.h"
#include "medfs/io.h"
#include "medfs/name.h"
#include "medfs/rotate.h"
#include "medfs/vault.h"
#include "medfs/vpath.h"

#define XATTR_PREFIX "user."
#define XATTR_VALUE_MAX 65536
#define XATTR_AD_TAG "MDFX"
#define TMP_PREFIX ".tmp-"
#define CHUNK_BLOCKS 64 /* blocks re-encrypted per read: 256 KiB of plaintext */
#define TIMES_XATTR "user.medfs-rotate-times" /* see struct times_guard */
/* The access journal's STATE (doc/JOURNAL.md, section 8): magic, nonce,
 * then the state sealed under the JOURNAL subkey with AD = bytes 0..32. */
#define JSTATE_NAME "STATE"
#define JSTATE_MAGIC "MDJSTAT1"
#define JSTATE_HEAD 32
#define JSTATE_PLAIN 120
#define TIMES_LEN 32
#define AEAD_NPUB crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define AEAD_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES
/* "user." and a plaintext xattr name, NUL-terminated. */
#define FULL_NAME_MAX (sizeof(XATTR_PREFIX) + MEDFS_NAME_MAX)

struct key_set {
	uint8_t journal[MEDFS_KEY_LEN];
	uint8_t header[MEDFS_KEY_LEN];
	uint8_t name[MEDFS_NAME_KEY_LEN];
	uint8_t dir[MEDFS_KEY_LEN];
	uint8_t link[MEDFS_KEY_LEN];
	uint8_t xattr[MEDFS_KEY_LEN];
};

struct medfs_rotate_keys {
	struct key_set old, new;
};

static int derive_set(struct key_set *s, const uint8_t key[MEDFS_KEY_LEN])
{
	int r;

	if ((r = medfs_subkey_derive(s->header, MEDFS_SUBKEY_HEADER, key)) < 0 ||
	    (r = medfs_subkey_derive(s->name, MEDFS_SUBKEY_NAME_MAC, key)) < 0 ||
	    (r = medfs_subkey_derive(s->name + MEDFS_KEY_LEN, MEDFS_SUBKEY_NAME_ENC,
				     key)) < 0 ||
	    (r = medfs_subkey_derive(s->dir, MEDFS_SUBKEY_DIR, key)) < 0 ||
	    (r = medfs_subkey_derive(s->link, MEDFS_SUBKEY_LINK, key)) < 0 ||
	    (r = medfs_subkey_derive(s->xattr, MEDFS_SUBKEY_XATTR, key)) < 0 ||
	    (r = medfs_subkey_derive(s->journal, MEDFS_SUBKEY_JOURNAL, key)) < 0)
		return r;
	return 0;
}

int medfs_rotate_keys_new(struct medfs_rotate_keys **out,
			  const uint8_t old_key[MEDFS_KEY_LEN],
			  const uint8_t new_key[MEDFS_KEY_LEN])
{
	struct medfs_rotate_keys *k = medfs_secret_alloc(sizeof(*k));
	int r;

	*out = NULL;
	if (k == NULL)
		return -ENOMEM;
	r = derive_set(&k->old, old_key);
	if (r == 0)
		r = derive_set(&k->new, new_key);
	if (r < 0) {
		medfs_secret_free(k);
		return r;
	}
	sodium_mprotect_readonly(k);
	*out = k;
	return 0;
}

void medfs_rotate_keys_free(struct medfs_rotate_keys *k)
{
	medfs_secret_free(k);
}

/* ---- primitives ---- */

int medfs_rotate_header(const struct medfs_rotate_keys *k, uint8_t hdr[MEDFS_HEADER_LEN],
			const struct medfs_binding *b, uint8_t file_id[MEDFS_FILE_ID_LEN])
{
	uint8_t *key = medfs_secret_alloc(MEDFS_KEY_LEN);
	uint64_t size;
	uint16_t flags;
	int r;

	if (key == NULL)
		return -ENOMEM;
	r = medfs_header_open_flags(hdr, file_id, key, &size, &flags, k->new.header, b);
	if (r == 0)
		goto out;
	r = medfs_header_open_flags(hdr, file_id, key, &size, &flags, k->old.header, b);
	if (r < 0)
		goto out;
	/* The key stays, but the old vault key's holders may know it: the
	 * file gets a new one at its next write (doc/FORMAT.md, 4.4). */
	r = medfs_header_seal_flags(hdr, file_id, key, size, flags | MEDFS_HEADER_STALE,
				    k->new.header, b, NULL);
	if (r == 0)
		r = 1;
out:
	medfs_secret_free(key);
	return r;
}

int medfs_rotate_dir_header(const struct medfs_rotate_keys *k,
			    uint8_t hdr[MEDFS_DIR_HEADER_LEN],
			    const struct medfs_binding *b,
			    uint8_t dir_id[MEDFS_DIR_ID_LEN])
{
	int r;

	if (medfs_dir_header_open(hdr, dir_id, k->new.dir, b) == 0)
		return 0;
	r = medfs_dir_header_open(hdr, dir_id, k->old.dir, b);
	if (r < 0)
		return r;
	r = medfs_dir_header_seal(hdr, dir_id, k->new.dir, b);
	return r < 0 ? r : 1;
}

int medfs_rotate_name(const struct medfs_rotate_keys *k, const char *enc, size_t enc_len,
		      const uint8_t dir_id[MEDFS_DIR_ID_LEN], char *name, size_t namesz,
		      size_t *name_len, char *new_enc, size_t new_encsz)
{
	int n;

	*name_len = 0;
	n = medfs_name_decrypt(name, namesz, enc, enc_len, dir_id, k->new.name);
	if (n >= 0) {
		*name_len = (size_t)n;
		return 0;
	}
	if (n != -EBADMSG)
		return n;
	n = medfs_name_decrypt(name, namesz, enc, enc_len, dir_id, k->old.name);
	if (n < 0)
		return n;
	*name_len = (size_t)n;
	n = medfs_name_encrypt(new_enc, new_encsz, name, *name_len, dir_id, k->new.name);
	if (n < 0) {
		sodium_memzero(name, namesz);
		*name_len = 0;
		return n;
	}
	return 1;
}

int medfs_rotate_entry(const struct medfs_rotate_keys *k, int new_key, const char *enc,
		       size_t enc_len, char *out, size_t outsz)
{
	return medfs_name_entry(out, outsz, enc, enc_len,
				new_key ? k->new.name : k->old.name);
}

int medfs_rotate_link(const struct medfs_rotate_keys *k, const char *enc, size_t enc_len,
		      const struct medfs_binding *b, char *out, size_t outsz)
{
	char *target = malloc(MEDFS_LINK_MAX + 1);
	int n;

	if (target == NULL)
		return -ENOMEM;
	n = medfs_link_decrypt(target, MEDFS_LINK_MAX + 1, enc, enc_len, k->new.link, b);
	if (n >= 0) {
		n = 0;
		goto out;
	}
	n = medfs_link_decrypt(target, MEDFS_LINK_MAX + 1, enc, enc_len, k->old.link, b);
	if (n < 0)
		goto out;
	n = medfs_link_encrypt(out, outsz, target, (size_t)n, k->new.link, b);
	if (n >= 0)
		n = 1;
out:
	sodium_memzero(target, MEDFS_LINK_MAX + 1);
	free(target);
	return n;
}

/* Opens one xattr value (nonce || ct || tag) bound to file id and the full
 * plaintext name into plain. Returns the plaintext length or -EBADMSG. */
static ssize_t xattr_open(uint8_t *plain, const uint8_t *value, size_t len,
			  const uint8_t id[MEDFS_FILE_ID_LEN], const char *full_name,
			  const uint8_t key[MEDFS_KEY_LEN])
{
	uint8_t ad[4 + MEDFS_FILE_ID_LEN + FULL_NAME_MAX];
	size_t nlen = strlen(full_name);
	unsigned long long plen;

	if (len < AEAD_NPUB + AEAD_TAG || nlen >= FULL_NAME_MAX)
		return -EBADMSG;
	memcpy(ad, XATTR_AD_TAG, 4);
	memcpy(ad + 4, id, MEDFS_FILE_ID_LEN);
	memcpy(ad + 4 + MEDFS_FILE_ID_LEN, full_name, nlen);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		    plain, &plen, NULL, value + AEAD_NPUB, len - AEAD_NPUB, ad,
		    4 + MEDFS_FILE_ID_LEN + nlen, value, key) != 0)
		return -EBADMSG;
	return (ssize_t)plen;
}

int medfs_rotate_xattr(const struct medfs_rotate_keys *k,
		       const uint8_t file_id[MEDFS_FILE_ID_LEN], const char *name,
		       const uint8_t *value, size_t value_len, char *new_name,
		       size_t new_namesz, uint8_t *new_value)
{
	const size_t plen = strlen(MEDFS_XATTR_VAULT_PREFIX);
	char plain_name[MEDFS_NAME_MAX + 1], full[FULL_NAME_MAX];
	char enc[MEDFS_NAME_ENC_MAX];
	const struct key_set *from;
	uint8_t *plain = NULL;
	ssize_t vlen;
	size_t len;
	int n, r;

	if (strncmp(name, MEDFS_XATTR_VAULT_PREFIX, plen) != 0)
		return -EINVAL;
	name += plen;
	len = strlen(name);
	from = &k->new;
	n = medfs_name_decrypt(plain_name, sizeof(plain_name), name, len, file_id,
			       from->name);
	if (n < 0) {
		from = &k->old;
		n = medfs_name_decrypt(plain_name, sizeof(plain_name), name, len, file_id,
				       from->name);
	}
	if (n < 0)
		return -EBADMSG;
	snprintf(full, sizeof(full), "%s%s", XATTR_PREFIX, plain_name);
	plain = malloc(value_len + 1);
	if (plain == NULL) {
		r = -ENOMEM;
		goto out;
	}
	vlen = xattr_open(plain, value, value_len, file_id, full, from->xattr);
	if (vlen < 0) {
		r = -EBADMSG;
		goto out;
	}
	if (from == &k->new) {
		r = 0;
		goto out;
	}
	n = medfs_name_encrypt(enc, sizeof(enc), plain_name, (size_t)n, file_id,
			       k->new.name);
	if (n < 0 || plen + (size_t)n + 1 > new_namesz) {
		r = n < 0 ? n : -EINVAL;
		goto out;
	}
	memcpy(new_name, MEDFS_XATTR_VAULT_PREFIX, plen);
	memcpy(new_name + plen, enc, (size_t)n + 1);
	{
		uint8_t ad[4 + MEDFS_FILE_ID_LEN + FULL_NAME_MAX];
		size_t flen = strlen(full);

		memcpy(ad, XATTR_AD_TAG, 4);
		memcpy(ad + 4, file_id, MEDFS_FILE_ID_LEN);
		memcpy(ad + 4 + MEDFS_FILE_ID_LEN, full, flen);
		randombytes_buf(new_value, AEAD_NPUB);
		crypto_aead_xchacha20poly1305_ietf_encrypt(
			new_value + AEAD_NPUB, NULL, plain, (size_t)vlen, ad,
			4 + MEDFS_FILE_ID_LEN + flen, NULL, new_value, k->new.xattr);
	}
	r = 1;
out:
	if (plain != NULL) {
		sodium_memzero(plain, value_len + 1);
		free(plain);
	}
	sodium_memzero(plain_name, sizeof(plain_name));
	sodium_memzero(full, sizeof(full));
	return r;
}

/* Opens a previous file key (prev) or file metadata sealed in value under
 * xattr_key into plain (MEDFS_META_MAX bytes): its length, or -EBADMSG
 * (plain wiped). */
static ssize_t blob_open(bool prev, uint8_t *plain, const uint8_t *value,
			 size_t value_len, const uint8_t file_id[MEDFS_FILE_ID_LEN],
			 const uint8_t xattr_key[MEDFS_KEY_LEN])
{
	if (prev)
		return medfs_prev_open(plain, value, value_len, file_id, xattr_key) < 0
			       ? -EBADMSG
			       : MEDFS_KEY_LEN;
	return medfs_meta_open(plain, MEDFS_META_MAX, value, value_len, file_id,
			       xattr_key);
}

/* A previous file key (prev) or file metadata, as medfs_rotate_prev and
 * medfs_rotate_meta: 0 under the new key, 1 resealed from the old one into
 * new_value, -EBADMSG under neither, -ENOMEM. */
static int reseal_blob(const struct medfs_rotate_keys *k, bool prev,
		       const uint8_t file_id[MEDFS_FILE_ID_LEN], const uint8_t *value,
		       size_t value_len, uint8_t *new_value)
{
	uint8_t *plain = medfs_secret_alloc(MEDFS_META_MAX);
	ssize_t n;
	int r = -EBADMSG;

	if (plain == NULL)
		return -ENOMEM;
	if (blob_open(prev, plain, value, value_len, file_id, k->new.xattr) >= 0) {
		r = 0;
	} else if ((n = blob_open(prev, plain, value, value_len, file_id,
				  k->old.xattr)) >= 0) {
		if (prev)
			medfs_prev_seal(new_value, plain, file_id, k->new.xattr, NULL);
		else /* n is at most MEDFS_META_MAX: no -E2BIG */
			(void)medfs_meta_seal(new_value, plain, (size_t)n, file_id,
					      k->new.xattr, NULL);
		r = 1;
	}
	medfs_secret_free(plain);
	return r;
}

int medfs_rotate_meta(const struct medfs_rotate_keys *k,
		      const uint8_t file_id[MEDFS_FILE_ID_LEN], const uint8_t *value,
		      size_t value_len, uint8_t *new_value)
{
	return reseal_blob(k, false, file_id, value, value_len, new_value);
}

int medfs_rotate_prev(const struct medfs_rotate_keys *k,
		      const uint8_t file_id[MEDFS_FILE_ID_LEN], const uint8_t *value,
		      size_t value_len, uint8_t *new_value)
{
	return reseal_blob(k, true, file_id, value, value_len, new_value);
}

/* The previous file key held by the vault file open at fd (header flagged
 * PREV), opened under the old vault key into key. Returns 0, or -EBADMSG
 * when it is missing or does not authenticate (key wiped). */
static int prev_open_old(const struct medfs_rotate_keys *k, int fd,
			 const uint8_t file_id[MEDFS_FILE_ID_LEN], uint8_t *key)
{
	uint8_t sealed[MEDFS_PREV_LEN + 1];
	ssize_t n = fgetxattr(fd, MEDFS_PREV_XATTR, sealed, sizeof(sealed));

	if (n < 0)
		return -EBADMSG;
	return medfs_prev_open(key, sealed, (size_t)n, file_id, k->old.xattr);
}


int medfs_rotate_journal_state(const struct medfs_rotate_keys *k, uint8_t *state,
			       size_t len)
{
	uint8_t *plain;
	int r = -EBADMSG;

	if (len != MEDFS_ROTATE_JOURNAL_STATE_LEN || memcmp(state, JSTATE_MAGIC, 8) != 0)
		return -EBADMSG;
	plain = medfs_secret_alloc(JSTATE_PLAIN);
	if (plain == NULL)
		return -ENOMEM;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		    plain, NULL, NULL, state + JSTATE_HEAD, len - JSTATE_HEAD, state,
		    JSTATE_HEAD, state + 8, k->new.journal) == 0) {
		r = 0;
		goto out;
	}
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		    plain, NULL, NULL, state + JSTATE_HEAD, len - JSTATE_HEAD, state,
		    JSTATE_HEAD, state + 8, k->old.journal) != 0)
		goto out;
	randombytes_buf(state + 8, JSTATE_HEAD - 8);
	crypto_aead_xchacha20poly1305_ietf_encrypt(state + JSTATE_HEAD, NULL, plain,
						   JSTATE_PLAIN, state, JSTATE_HEAD, NULL,
						   state + 8, k->new.journal);
	r = 1;
out:
	medfs_secret_free(plain);
	return r;
}

int medfs_rotate_journal(const char *journal_dir, const uint8_t old_key[MEDFS_KEY_LEN],
			 const uint8_t new_key[MEDFS_KEY_LEN])
{
	uint8_t state[MEDFS_ROTATE_JOURNAL_STATE_LEN + 1];
	struct medfs_rotate_keys *k = NULL;
	char tmp[sizeof(JSTATE_NAME) + 4];
	ssize_t n;
	int dfd, fd = -1, r;

	dfd = open(journal_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	fd = openat(dfd, JSTATE_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	n = medfs_pread_full(fd, state, sizeof(state), 0);
	close(fd);
	fd = -1;
	if (n < 0) {
		r = (int)n;
		goto out;
	}
	r = medfs_rotate_keys_new(&k, old_key, new_key);
	if (r < 0)
		goto out;
	r = medfs_rotate_journal_state(k, state, (size_t)n);
	if (r <= 0)
		goto out;
	/* The journal's own way to replace STATE: no writer runs now. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", JSTATE_NAME);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		    0600);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = medfs_pwrite_full(fd, state, MEDFS_ROTATE_JOURNAL_STATE_LEN, 0);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	fd = -1;
	if (r == 0 && renameat(dfd, tmp, dfd, JSTATE_NAME) < 0)
		r = -errno;
	if (r == 0 && fsync(dfd) < 0)
		r = -errno;
	if (r < 0)
		unlinkat(dfd, tmp, 0);
	else
		r = 1;
out:
	medfs_rotate_keys_free(k);
	close(dfd);
	return r;
}

/* ---- the walk ---- */

struct walk {
	int vfd; /* the vault directory */
	struct medfs_rotate_keys *k;
	enum medfs_rotation mode;
	uint32_t cipher; /* of content blocks: kept by a re-encryption */
	const struct medfs_rotate_ops *ops;
	struct medfs_rotate_stats *st;
	struct medfs_rotate_progress prog;
	uint8_t *plain;	 /* secret: one chunk of plaintext blocks */
	uint8_t *sealed; /* one chunk of sealed blocks */
	uint8_t *resealed;
	uint8_t *xvalue, *xnew; /* xattr values */
	char *xlist;
	size_t xlist_cap;
	bool stopped;
};

static void problem(struct walk *w, const char *vpath, const char *what)
{
	w->st->damaged++;
	if (w->ops != NULL && w->ops->problem != NULL)
		w->ops->problem(w->ops->ctx, vpath, what);
}

/* Counts one object done; returns -ECANCELED when asked to stop. */
static int step(struct walk *w, bool converted)
{
	w->st->objects++;
	if (converted)
		w->st->converted++;
	w->prog.done++;
	if (w->prog.done > w->prog.total)
		w->prog.total = w->prog.done;
	if (w->ops != NULL && w->ops->progress != NULL &&
	    w->ops->progress(w->ops->ctx, &w->prog) != 0)
		w->stopped = true;
	return w->stopped ? -ECANCELED : 0;
}

static int open_noatime(int dirfd, const char *name, int flags)
{
	int fd = openat(dirfd, name, flags | O_NOATIME | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 && errno == EPERM)
		fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC);
	return fd;
}

static void tmp_name(char out[sizeof(TMP_PREFIX) + 16])
{
	uint8_t rnd[8];

	randombytes_buf(rnd, sizeof(rnd));
	memcpy(out, TMP_PREFIX, strlen(TMP_PREFIX));
	sodium_bin2hex(out + strlen(TMP_PREFIX), 17, rnd, sizeof(rnd));
}

/* Gives the new file open at fd the mode and owner of the one it
 * replaces: the driver may run as another user than the rotation. */
static int copy_owner(int fd, const struct stat *like)
{
	if (like == NULL)
		return 0;
	if (fchmod(fd, like->st_mode & 07777) < 0)
		return -errno;
	if (fchown(fd, like->st_uid, like->st_gid) < 0 && errno != EPERM)
		return -errno;
	return 0;
}

/* Writes buf to dirfd/name through a temporary made in tmpfd and a
 * rename; the new file gets the times tv and the mode and owner of like.
 * A temporary outside dirfd leaves dirfd's own times alone until the
 * rename. */
static int replace_small(int tmpfd, int dirfd, const char *name, const void *buf,
			 size_t len, const struct timespec tv[2], const struct stat *like)
{
	char tmp[sizeof(TMP_PREFIX) + 16];
	int fd, r;

	tmp_name(tmp);
	fd = openat(tmpfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    0600);
	if (fd < 0)
		return -errno;
	r = medfs_pwrite_full(fd, buf, len, 0);
	if (r == 0)
		r = copy_owner(fd, like);
	if (r == 0 && futimens(fd, tv) < 0)
		r = -errno;
	/* On disk before the rename: a power cut must not leave the name
	 * on an empty file (the crash checker, tests/crash, found a root
	 * header lost that way). */
	if (r == 0 && fdatasync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && renameat(tmpfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r < 0)
		unlinkat(tmpfd, tmp, 0);
	return r;
}

/* Rewriting a file in place changes its mtime, which must come back even
 * when the rotation is killed in between: the original times are saved in
 * an xattr of the vault file (not a vault xattr: the library never lists
 * it) before the first change, put back, then the xattr is dropped. */
struct times_guard {
	int fd;
	struct timespec tv[2];
	bool saved;
};

static void times_encode(uint8_t out[TIMES_LEN], const struct timespec tv[2])
{
	for (int i = 0; i < 2; i++) {
		uint64_t sec = (uint64_t)tv[i].tv_sec, nsec = (uint64_t)tv[i].tv_nsec;

		for (int b = 0; b < 8; b++) {
			out[16 * i + b] = (uint8_t)(sec >> (8 * b));
			out[16 * i + 8 + b] = (uint8_t)(nsec >> (8 * b));
		}
	}
}

static void times_decode(struct timespec tv[2], const uint8_t in[TIMES_LEN])
{
	for (int i = 0; i < 2; i++) {
		uint64_t sec = 0, nsec = 0;

		for (int b = 0; b < 8; b++) {
			sec |= (uint64_t)in[16 * i + b] << (8 * b);
			nsec |= (uint64_t)in[16 * i + 8 + b] << (8 * b);
		}
		tv[i].tv_sec = (time_t)sec;
		tv[i].tv_nsec = nsec < 1000000000 ? (long)nsec : 0;
	}
}

/* The times to put back on the file open at fd: saved by an interrupted
 * run, or its current ones. */
static void guard_init(struct times_guard *g, int fd, const struct stat *st)
{
	uint8_t buf[TIMES_LEN];

	g->fd = fd;
	g->tv[0] = st->st_atim;
	g->tv[1] = st->st_mtim;
	g->saved = fgetxattr(fd, TIMES_XATTR, buf, sizeof(buf)) == TIMES_LEN;
	if (g->saved)
		times_decode(g->tv, buf);
}

/* Called before the first change. Returns 0 or -errno. */
static int guard_save(struct times_guard *g)
{
	uint8_t buf[TIMES_LEN];

	if (g->saved)
		return 0;
	times_encode(buf, g->tv);
	if (fsetxattr(g->fd, TIMES_XATTR, buf, sizeof(buf), 0) < 0 && errno != ENOTSUP)
		return -errno;
	g->saved = true;
	return 0;
}

/* Puts the times back once the file is converted. */
static int guard_done(struct times_guard *g)
{
	if (!g->saved)
		return 0;
	if (futimens(g->fd, g->tv) < 0)
		return -errno;
	if (fremovexattr(g->fd, TIMES_XATTR) < 0 && errno != ENODATA && errno != ENOTSUP)
		return -errno;
	return 0;
}

/* Reads the xattr names of fd into w->xlist. Returns their total length
 * or -errno. */
static ssize_t list_xattrs(struct walk *w, int fd)
{
	for (;;) {
		ssize_t n = flistxattr(fd, NULL, 0);
		char *p;

		if (n < 0)
			return errno == ENOTSUP ? 0 : -errno;
		if (n == 0)
			return 0;
		if ((size_t)n + 1 > w->xlist_cap) {
			p = realloc(w->xlist, (size_t)n + 1);
			if (p == NULL)
				return -ENOMEM;
			w->xlist = p;
			w->xlist_cap = (size_t)n + 1;
		}
		n = flistxattr(fd, w->xlist, w->xlist_cap - 1);
		if (n >= 0)
			return n;
		if (errno != ERANGE)
			return -errno;
	}
}

#define XATTR_DAMAGED "extended attribute authenticates under neither key (left as it is)"
#define META_DAMAGED "file metadata authenticates under neither key (left as it is)"
#define PREV_DAMAGED "previous file key authenticates under neither key (left as it is)"

/* Moves the sealed xattrs of the open file from (vault xattrs and the
 * file's metadata) to the new key: in place (to == from), or onto the file
 * to, copying the other user xattrs as they are. Returns 1 when something
 * changed, 0, or -errno. */
static int convert_xattrs(struct walk *w, int from, int to,
			  const uint8_t id[MEDFS_FILE_ID_LEN], const char *vpath,
			  struct times_guard *g)
{
	const size_t plen = strlen(MEDFS_XATTR_VAULT_PREFIX);
	char new_name[XATTR_NAME_MAX + 1];
	ssize_t n, vlen;
	bool changed = false;
	int r;

	n = list_xattrs(w, from);
	if (n <= 0)
		return (int)n;
	for (char *p = w->xlist; p < w->xlist + n; p += strlen(p) + 1) {
		bool meta = strcmp(p, MEDFS_META_XATTR) == 0;
		bool prev = strcmp(p, MEDFS_PREV_XATTR) == 0;
		bool ours =
			meta || prev || strncmp(p, MEDFS_XATTR_VAULT_PREFIX, plen) == 0;

		/* A re-encrypted file has one key: no previous one; its
		 * hole map is sealed anew under it. */
		if ((prev || strcmp(p, MEDFS_HOLES_XATTR) == 0) && to != from)
			continue;
		if (!ours &&
		    (to == from || strncmp(p, XATTR_PREFIX, strlen(XATTR_PREFIX)) ||
		     !strcmp(p, TIMES_XATTR)))
			continue;
		vlen = fgetxattr(from, p, w->xvalue, XATTR_VALUE_MAX);
		if (vlen < 0) {
			if (errno == ENODATA)
				continue;
			return -errno;
		}
		if (meta || prev) {
			r = meta ? medfs_rotate_meta(w->k, id, w->xvalue, (size_t)vlen,
						     w->xnew)
				 : medfs_rotate_prev(w->k, id, w->xvalue, (size_t)vlen,
						     w->xnew);
			snprintf(new_name, sizeof(new_name), "%s", p);
		} else {
			r = ours ? medfs_rotate_xattr(w->k, id, p, w->xvalue,
						      (size_t)vlen, new_name,
						      sizeof(new_name), w->xnew)
				 : 0;
		}
		if (r == -EBADMSG)
			problem(w, vpath,
				meta   ? META_DAMAGED
				: prev ? PREV_DAMAGED
				       : XATTR_DAMAGED);
		else if (r < 0)
			return r;
		if (r == 1) {
			if (g != NULL && (r = guard_save(g)) < 0)
				return r;
			if (fsetxattr(to, new_name, w->xnew, (size_t)vlen, 0) < 0)
				return -errno;
			if (to == from && strcmp(new_name, p) != 0 &&
			    fremovexattr(from, p) < 0 && errno != ENODATA)
				return -errno;
			changed = true;
		} else if (to != from &&
			   fsetxattr(to, p, w->xvalue, (size_t)vlen, 0) < 0) {
			return -errno;
		}
	}
	return changed;
}

/* Length of block index of a file of size bytes. */
static size_t block_len(uint64_t size, uint64_t index)
{
	uint64_t start = index * MEDFS_BLOCK_SIZE;
	uint64_t left = size - start;

	return left < MEDFS_BLOCK_SIZE ? (size_t)left : MEDFS_BLOCK_SIZE;
}

/* The hole map of the file open at fd (header flagged HOLES), sealed
 * under key or prev. Returns 0 or -EBADMSG. */
static int holes_open_old(int fd, uint32_t cipher, const uint8_t *key,
			  const uint8_t *prev, const uint8_t id[MEDFS_FILE_ID_LEN],
			  struct medfs_holes *h)
{
	uint8_t sealed[MEDFS_HOLES_SEALED_MAX + 1];
	ssize_t n = fgetxattr(fd, MEDFS_HOLES_XATTR, sealed, sizeof(sealed));
	int r = -EBADMSG;

	if (n > 0) {
		r = medfs_holes_open(h, sealed, (size_t)n, cipher, key, id);
		if (r < 0 && prev != NULL)
			r = medfs_holes_open(h, sealed, (size_t)n, cipher, prev, id);
	}
	return r < 0 ? -EBADMSG : 0;
}

/* Writes the blocks of a chunk that are not holes. */
static int write_written(int tfd, const uint8_t *resealed, uint64_t i, uint64_t n,
			 uint64_t size, const struct medfs_holes *h)
{
	size_t disk = 0;
	int r = 0;

	for (uint64_t j = 0; j < n && r == 0; j++) {
		size_t len = block_len(size, i + j) + MEDFS_BLOCK_OVERHEAD;

		if (!medfs_holes_has(h, i + j))
			r = medfs_pwrite_full(tfd, resealed + disk, len,
					(off_t)medfs_block_disk_offset(i + j));
		disk += len;
	}
	return r;
}

/* Rewrites the regular file open at fd (header opened under the old key:
 * id, key, size; its hole map h, or NULL) with a new file key into a
 * temporary that replaces dirfd/entry. Holes stay holes. Returns 0 or
 * -errno. */
static int reencrypt_file(struct walk *w, int dirfd, const char *entry, int fd,
			  const struct stat *st, const struct timespec times[2],
			  const struct medfs_binding *b,
			  const uint8_t id[MEDFS_FILE_ID_LEN], const uint8_t *old_fkey,
			  const uint8_t *prev_fkey, uint64_t size,
			  const struct medfs_holes *h, const char *vpath)
{
	uint8_t map[MEDFS_HOLES_SEALED_MAX];
	char tmp[sizeof(TMP_PREFIX) + 16];
	uint8_t hdr[MEDFS_HEADER_LEN];
	uint64_t nblocks = (size + MEDFS_BLOCK_SIZE - 1) / MEDFS_BLOCK_SIZE, i;
	uint8_t *fkey = medfs_secret_alloc(MEDFS_KEY_LEN);
	bool reported = false;
	int tfd = -1, r;

	if (fkey == NULL)
		return -ENOMEM;
	randombytes_buf(fkey, MEDFS_KEY_LEN);
	tmp_name(tmp);
	tfd = openat(dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		     0600);
	if (tfd < 0) {
		r = -errno;
		goto out;
	}
	for (i = 0; i < nblocks; i += CHUNK_BLOCKS) {
		uint64_t n = nblocks - i < CHUNK_BLOCKS ? nblocks - i : CHUNK_BLOCKS, j;
		off_t off = (off_t)medfs_block_disk_offset(i);
		size_t disk = 0;
		ssize_t got;

		if (h != NULL && medfs_holes_covers(h, i, i + n)) {
			w->prog.bytes_done += n * MEDFS_BLOCK_SIZE;
			continue;
		}
		for (j = 0; j < n; j++)
			disk += block_len(size, i + j) + MEDFS_BLOCK_OVERHEAD;
		got = medfs_pread_full(fd, w->sealed, disk, off);
		if (got < 0) {
			r = (int)got;
			goto out;
		}
		if ((size_t)got != disk) {
			r = -EIO; /* the file changed under us */
			goto out;
		}
		disk = 0;
		for (j = 0; j < n; j++) {
			size_t len = block_len(size, i + j);
			uint8_t *in = w->sealed + disk, *out = w->resealed + disk;

			if (h != NULL && medfs_holes_has(h, i + j)) {
				/* A hole: nothing to seal, nothing written. */
			} else if (medfs_block_open(w->plain, in,
						    len + MEDFS_BLOCK_OVERHEAD, w->cipher,
						    old_fkey, id, i + j) < 0 &&
				   (prev_fkey == NULL ||
				    medfs_block_open(
					    w->plain, in, len + MEDFS_BLOCK_OVERHEAD,
					    w->cipher, prev_fkey, id, i + j) < 0)) {
				/* Stays damaged: copied as it is, it fails
				 * under the new file key as it did before. */
				memcpy(out, in, len + MEDFS_BLOCK_OVERHEAD);
				if (!reported)
					problem(w, vpath,
						"block authenticates under neither key "
						"(copied as it is)");
				reported = true;
			} else if ((r = medfs_block_seal(out, w->plain, len, w->cipher,
							 fkey, id, i + j)) < 0) {
				goto out;
			}
			disk += len + MEDFS_BLOCK_OVERHEAD;
			w->prog.bytes_done += len;
		}
		sodium_memzero(w->plain, (size_t)CHUNK_BLOCKS * MEDFS_BLOCK_SIZE);
		r = h != NULL ? write_written(tfd, w->resealed, i, n, size, h)
			      : medfs_pwrite_full(tfd, w->resealed, disk, off);
		if (r < 0)
			goto out;
	}
	if (h != NULL) {
		/* The temporary gets its length (sparse where the holes are)
		 * and the map under the new key before the header. */
		int m = medfs_holes_seal(map, h, w->cipher, fkey, id);

		r = m < 0 ? m : 0;
		if (r == 0 && (ftruncate(tfd, (off_t)medfs_disk_size(size)) < 0 ||
			       fsetxattr(tfd, MEDFS_HOLES_XATTR, map, (size_t)m, 0) < 0))
			r = -errno;
		if (r < 0)
			goto out;
	}
	r = medfs_header_seal_flags(hdr, id, fkey, size,
				    h != NULL ? MEDFS_HEADER_HOLES : 0, w->k->new.header,
				    b, NULL);
	if (r == 0)
		r = medfs_pwrite_full(tfd, hdr, sizeof(hdr), 0);
	if (r == 0) {
		r = convert_xattrs(w, fd, tfd, id, vpath, NULL);
		r = r < 0 ? r : 0;
	}
	if (r == 0 && fchmod(tfd, st->st_mode & 07777) < 0)
		r = -errno;
	if (r == 0 && fchown(tfd, st->st_uid, st->st_gid) < 0 && errno != EPERM)
		r = -errno;
	if (r == 0 && (futimens(tfd, times) < 0 || fsync(tfd) < 0))
		r = -errno;
	if (r == 0 && renameat(dirfd, tmp, dirfd, entry) < 0)
		r = -errno;
out:
	if (tfd >= 0) {
		close(tfd);
		if (r < 0)
			unlinkat(dirfd, tmp, 0);
	}
	medfs_secret_free(fkey);
	return r;
}

/* One regular file. Returns 1 converted, 0 already new, or -errno. */
static int convert_file(struct walk *w, int dirfd, const char *entry,
			const struct medfs_binding *b, const char *vpath)
{
	uint8_t hdr[MEDFS_HEADER_LEN], id[MEDFS_FILE_ID_LEN];
	uint8_t *fkey = NULL, *prev = NULL;
	struct medfs_holes *holes = NULL;
	struct times_guard g;
	struct stat st;
	uint64_t size = 0;
	uint16_t flags = 0;
	int64_t disk_plain;
	ssize_t n;
	int fd, r, changed = 0;

	fd = open_noatime(dirfd, entry, O_RDWR);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	guard_init(&g, fd, &st);
	n = medfs_pread_full(fd, hdr, sizeof(hdr), 0);
	if (n < 0) {
		r = (int)n;
		goto out;
	}
	r = 0;
	if (n != sizeof(hdr)) {
		problem(w, vpath, "file header truncated (left as it is)");
		goto done;
	}
	if (w->mode == MEDFS_ROTATION_REKEY) {
		r = medfs_rotate_header(w->k, hdr, b, id);
		if (r == -EBADMSG) {
			problem(w, vpath,
				"file header authenticates under neither key (left as it "
				"is)");
			r = 0;
			goto done;
		}
		if (r < 0)
			goto out;
		if (r == 1) {
			if ((r = guard_save(&g)) < 0 ||
			    (r = medfs_pwrite_full(fd, hdr, sizeof(hdr), 0)) < 0)
				goto out;
			changed = 1;
		}
		r = convert_xattrs(w, fd, fd, id, vpath, &g);
		if (r < 0)
			goto out;
		changed |= r;
		r = 0;
		goto done;
	}

	r = -ENOMEM;
	fkey = medfs_secret_alloc(2 * MEDFS_KEY_LEN);
	if (fkey == NULL)
		goto out;
	r = 0;
	if (medfs_header_open(hdr, id, fkey, &size, w->k->new.header, b) == 0) {
		/* Re-encrypted already; its xattrs went with it. */
		w->prog.bytes_done += size;
		goto done;
	}
	if (medfs_header_open_flags(hdr, id, fkey, &size, &flags, w->k->old.header, b) <
	    0) {
		problem(w, vpath,
			"file header authenticates under neither key (left as it is)");
		goto done;
	}
	if (flags & MEDFS_HEADER_PREV) {
		prev = fkey + MEDFS_KEY_LEN;
		if (prev_open_old(w->k, fd, id, prev) < 0) {
			problem(w, vpath, PREV_DAMAGED);
			prev = NULL;
		}
	}
	disk_plain = medfs_plain_size((uint64_t)st.st_size);
	if (disk_plain < 0 || (uint64_t)disk_plain != size) {
		/* Unreadable either way; moving its header over keeps its
		 * blocks readable should its length ever be put right. */
		problem(w, vpath,
			"file length does not match its header (header moved to the new "
			"key, content left as it is)");
		if ((r = medfs_header_seal_flags(hdr, id, fkey, size,
						 flags | MEDFS_HEADER_STALE,
						 w->k->new.header, b, NULL)) < 0 ||
		    (r = guard_save(&g)) < 0 ||
		    (r = medfs_pwrite_full(fd, hdr, sizeof(hdr), 0)) < 0 ||
		    (r = convert_xattrs(w, fd, fd, id, vpath, &g)) < 0)
			goto out;
		r = 0;
		changed = 1;
		goto done;
	}
	if (flags & MEDFS_HEADER_HOLES) {
		holes = malloc(sizeof(*holes));
		if (holes == NULL) {
			r = -ENOMEM;
			goto out;
		}
		if (holes_open_old(fd, w->cipher, fkey, prev, id, holes) < 0) {
			/* Its blocks are left as they are: the file stays
			 * unreadable, as it was. */
			problem(w, vpath,
				"hole map does not authenticate (file left as it is)");
			goto done;
		}
		medfs_holes_clip(holes, (size + MEDFS_BLOCK_SIZE - 1) / MEDFS_BLOCK_SIZE);
	}
	r = reencrypt_file(w, dirfd, entry, fd, &st, g.tv, b, id, fkey, prev, size, holes,
			   vpath);
	if (r < 0)
		goto out;
	changed = 1;
	/* The replaced original holds the guard: nothing to put back. */
	g.saved = false;
done:
	r = guard_done(&g);
out:
	free(holes);
	medfs_secret_free(fkey);
	sodium_memzero(hdr, sizeof(hdr));
	close(fd);
	return r < 0 ? r : changed;
}

/* One symlink. Returns 1 converted, 0 already new, or -errno. */
static int convert_link(struct walk *w, int dirfd, const char *entry,
			const struct medfs_binding *b, const struct stat *st,
			const char *vpath)
{
	char *enc = malloc(MEDFS_LINK_ENC_MAX), *out = malloc(MEDFS_LINK_ENC_MAX);
	char tmp[sizeof(TMP_PREFIX) + 16];
	ssize_t n;
	int r;

	if (enc == NULL || out == NULL) {
		r = -ENOMEM;
		goto out;
	}
	n = readlinkat(dirfd, entry, enc, MEDFS_LINK_ENC_MAX - 1);
	if (n < 0) {
		r = -errno;
		goto out;
	}
	enc[n] = '\0';
	r = medfs_rotate_link(w->k, enc, (size_t)n, b, out, MEDFS_LINK_ENC_MAX);
	if (r == -EBADMSG) {
		problem(w, vpath,
			"symlink target authenticates under neither key (left as it is)");
		r = 0;
	}
	if (r <= 0)
		goto out;
	tmp_name(tmp);
	if (symlinkat(out, dirfd, tmp) < 0) {
		r = -errno;
		goto out;
	}
	{
		struct timespec tv[2] = { st->st_atim, st->st_mtim };

		if ((fchownat(dirfd, tmp, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) <
			     0 &&
		     errno != EPERM) ||
		    utimensat(dirfd, tmp, tv, AT_SYMLINK_NOFOLLOW) < 0 ||
		    renameat(dirfd, tmp, dirfd, entry) < 0) {
			r = -errno;
			unlinkat(dirfd, tmp, 0);
			goto out;
		}
	}
	r = 1;
out:
	free(enc);
	free(out);
	return r;
}

static int walk_dir(struct walk *w, int dfd, const char *vpath,
		    const struct medfs_binding *b, bool renamed);

/* The name of one entry: its vault name (from the sidecar for a long name),
 * the plaintext name and, when it changes, the new vault name and entry.
 * Returns 1 (renamed), 0 (already new) or -EBADMSG / -errno. */
static int convert_name(struct walk *w, int dirfd, const char *entry,
			const uint8_t dir_id[MEDFS_DIR_ID_LEN], char *name,
			size_t *name_len, char *new_entry, size_t new_entrysz)
{
	char enc[MEDFS_NAME_ENC_MAX], new_enc[MEDFS_NAME_ENC_MAX],
		check[MEDFS_NAME_ENC_MAX];
	char side[NAME_MAX + 1];
	bool is_long = medfs_name_is_long(entry);
	struct stat side_st;
	size_t enc_len;
	int r, n;

	if (is_long) {
		ssize_t got;
		int fd;

		snprintf(side, sizeof(side), "%s%s", entry, MEDFS_LONGNAME_SUFFIX);
		fd = openat(dirfd, side, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return errno == ENOENT ? -EBADMSG : -errno;
		got = fstat(fd, &side_st) < 0 ? -errno
					      : medfs_pread_full(fd, enc, sizeof(enc) - 1, 0);
		close(fd);
		if (got <= 0)
			return got < 0 ? (int)got : -EBADMSG;
		enc_len = (size_t)got;
		enc[enc_len] = '\0';
	} else {
		enc_len = strlen(entry);
		if (enc_len >= sizeof(enc))
			return -EBADMSG;
		memcpy(enc, entry, enc_len + 1);
	}
	r = medfs_rotate_name(w->k, enc, enc_len, dir_id, name, MEDFS_NAME_MAX + 1,
			      name_len, new_enc, sizeof(new_enc));
	if (r < 0)
		return r == -EINVAL ? -EBADMSG : r;
	/* A long name's entry must be the hash of its vault name. */
	if (is_long) {
		n = medfs_rotate_entry(w->k, r == 0, enc, enc_len, check, sizeof(check));
		if (n < 0 || strcmp(check, entry) != 0)
			return -EBADMSG;
	}
	if (r == 0) {
		snprintf(new_entry, new_entrysz, "%s", entry);
		return 0;
	}
	n = medfs_rotate_entry(w->k, 1, new_enc, strlen(new_enc), new_entry, new_entrysz);
	if (n < 0)
		return n;
	if (medfs_name_is_long(new_entry)) {
		char nside[MEDFS_NAME_ENC_MAX + sizeof(MEDFS_LONGNAME_SUFFIX)];
		int fd;

		snprintf(nside, sizeof(nside), "%s%s", new_entry, MEDFS_LONGNAME_SUFFIX);
		fd = openat(dirfd, nside,
			    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		r = medfs_pwrite_full(fd, new_enc, strlen(new_enc), 0);
		if (r == 0 && ftruncate(fd, (off_t)strlen(new_enc)) < 0)
			r = -errno;
		if (r == 0 && is_long)
			r = copy_owner(fd, &side_st);
		/* On disk before the rename publishes the long name (as in
		 * vault.c): a power cut must not leave the entry without it. */
		if (r == 0 && fdatasync(fd) < 0)
			r = -errno;
		close(fd);
		if (r < 0)
			return r;
	}
	if (renameat2(dirfd, entry, dirfd, new_entry, RENAME_NOREPLACE) < 0)
		return errno == EEXIST ? -EEXIST : -errno;
	if (is_long)
		unlinkat(dirfd, side, 0);
	return 1;
}

/* One entry of a directory (not internal). Returns 0 or -errno. */
static int convert_entry(struct walk *w, int dirfd, const char *dir_vpath,
			 const uint8_t dir_id[MEDFS_DIR_ID_LEN], const char *entry)
{
	char name[MEDFS_NAME_MAX + 1], cur[MEDFS_NAME_ENC_MAX];
	/* For reports: a deep tree's vault paths are longer than PATH_MAX. */
	char *vpath = medfs_vpath_join(dir_vpath, entry);
	struct medfs_binding b;
	size_t name_len = 0;
	struct stat st;
	int r, renamed, changed = 0;

	if (!vpath)
		return -ENOMEM;
	renamed =
		convert_name(w, dirfd, entry, dir_id, name, &name_len, cur, sizeof(cur));
	if (renamed == -EBADMSG || renamed == -EEXIST) {
		problem(w, vpath,
			renamed == -EEXIST
				? "entry exists under both keys (left as it is)"
				: "entry name authenticates under neither key (left as "
				  "it is)");
		r = 0;
		goto out;
	}
	if (renamed < 0) {
		r = renamed;
		goto out;
	}
	if (renamed) {
		free(vpath);
		vpath = medfs_vpath_join(dir_vpath, cur);
		if (!vpath) {
			r = -ENOMEM;
			goto out;
		}
	}
	memcpy(b.parent_id, dir_id, MEDFS_DIR_ID_LEN);
	b.name = name;
	b.name_len = name_len;
	if (fstatat(dirfd, cur, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		r = -errno;
		goto out;
	}
	if (S_ISREG(st.st_mode)) {
		r = convert_file(w, dirfd, cur, &b, vpath);
	} else if (S_ISLNK(st.st_mode)) {
		r = convert_link(w, dirfd, cur, &b, &st, vpath);
	} else if (S_ISDIR(st.st_mode)) {
		int cfd = openat(dirfd, cur,
				 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (cfd < 0) {
			r = -errno;
			goto out;
		}
		r = walk_dir(w, cfd, vpath, &b, renamed > 0);
		close(cfd);
		/* walk_dir counted the directory itself. */
		sodium_memzero(name, sizeof(name));
		free(vpath);
		return r < 0 ? r : 0;
	} else if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) {
		r = 0; /* no content: its name is all there is to convert */
	} else {
		problem(w, vpath,
			"not a regular file, directory, symlink, FIFO or socket (left as "
			"it is)");
		r = 0;
	}
	if (r < 0)
		goto out;
	changed = r;
	r = 0;
out:
	sodium_memzero(name, sizeof(name));
	free(vpath);
	if (r < 0)
		return r;
	return step(w, changed || renamed > 0);
}

/* Removes the leftover dirfd/entry of an interrupted operation. */
static void remove_leftover(struct walk *w, int dirfd, const char *entry)
{
	if (unlinkat(dirfd, entry, 0) == 0) {
		w->st->leftovers++;
		return;
	}
	if (errno == EISDIR) {
		char h[NAME_MAX + sizeof(MEDFS_DIR_HEADER_NAME) + 2];

		/* An interrupted mkdir: empty but for its header. */
		snprintf(h, sizeof(h), "%s/%s", entry, MEDFS_DIR_HEADER_NAME);
		unlinkat(dirfd, h, 0);
		if (unlinkat(dirfd, entry, AT_REMOVEDIR) == 0)
			w->st->leftovers++;
	}
}

struct names {
	char **v;
	size_t n, cap;
};

static void names_free(struct names *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

/* Reads the entries of the directory open at dfd. */
static int list_dir(int dfd, struct names *l)
{
	struct dirent *de;
	DIR *d;
	int fd = dup(dfd), r = 0;

	memset(l, 0, sizeof(*l));
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -errno;
	}
	rewinddir(d);
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (l->n == l->cap) {
			size_t cap = l->cap ? 2 * l->cap : 64;
			char **v = realloc(l->v, cap * sizeof(*v));

			if (v == NULL) {
				r = -ENOMEM;
				break;
			}
			l->v = v;
			l->cap = cap;
		}
		l->v[l->n] = strdup(de->d_name);
		if (l->v[l->n] == NULL) {
			r = -ENOMEM;
			break;
		}
		l->n++;
		errno = 0;
	}
	if (r == 0 && de == NULL && errno != 0)
		r = -errno;
	closedir(d);
	if (r < 0)
		names_free(l);
	return r;
}

static bool is_sidecar(const char *entry)
{
	size_t len = strlen(entry), slen = strlen(MEDFS_LONGNAME_SUFFIX);

	return len > slen && !strcmp(entry + len - slen, MEDFS_LONGNAME_SUFFIX);
}

/* One directory, open at dfd, bound to b (and renamed already when
 * renamed): its header, then its entries, then orphan sidecars; its times
 * are put back. Counts itself as one object. Returns 0 or -errno. */
static int walk_dir(struct walk *w, int dfd, const char *vpath,
		    const struct medfs_binding *b, bool renamed)
{
	uint8_t hdr[MEDFS_DIR_HEADER_LEN], id[MEDFS_DIR_ID_LEN];
	struct timespec tv[2], htv[2];
	char *hpath;
	struct names l;
	struct stat st, hst;
	bool changed = false;
	ssize_t n;
	size_t i;
	int fd, r;

	if (fstat(dfd, &st) < 0)
		return -errno;
	tv[0] = st.st_atim;
	tv[1] = st.st_mtim;
	hpath = medfs_vpath_join(vpath, MEDFS_DIR_HEADER_NAME);
	if (!hpath)
		return -ENOMEM;
	fd = openat(dfd, MEDFS_DIR_HEADER_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT) {
			problem(w, hpath,
				"directory header missing (directory left as it is)");
			r = step(w, renamed);
		}
		free(hpath);
		return r;
	}
	n = fstat(fd, &hst) < 0 ? -errno : medfs_pread_full(fd, hdr, sizeof(hdr), 0);
	close(fd);
	if (n < 0)
		return (int)n;
	/* A header converted by an interrupted run carries the directory's
	 * original times (see below): the directory's own changed since. */
	htv[0] = hst.st_atim;
	htv[1] = hst.st_mtim;
	r = n == sizeof(hdr) ? medfs_rotate_dir_header(w->k, hdr, b, id) : -EBADMSG;
	if (r == -EBADMSG)
		problem(w, hpath,
			"directory header authenticates under neither key (directory "
			"left as it is)");
	free(hpath);
	if (r == -EBADMSG)
		return step(w, renamed);
	if (r < 0)
		return r;
	if (r == 1) {
		/* The temporary goes in the vault directory, outside the
		 * tree: a kill before the rename leaves this directory's
		 * times as they were. */
		r = replace_small(w->vfd, dfd, MEDFS_DIR_HEADER_NAME, hdr, sizeof(hdr),
				  tv, &hst);
		if (r == -EXDEV)
			r = replace_small(dfd, dfd, MEDFS_DIR_HEADER_NAME, hdr,
					  sizeof(hdr), tv, &hst);
		if (r < 0)
			return r;
		changed = true;
	} else {
		tv[0] = htv[0];
		tv[1] = htv[1];
	}
	r = step(w, changed || renamed);
	if (r < 0)
		return r;

	r = list_dir(dfd, &l);
	if (r < 0)
		return r;
	for (i = 0; i < l.n && r == 0; i++) {
		const char *e = l.v[i];

		if (!strncmp(e, TMP_PREFIX, strlen(TMP_PREFIX)) ||
		    !strcmp(e, MEDFS_DIR_HEADER_NAME ".tmp")) {
			remove_leftover(w, dfd, e);
			continue;
		}
		if (medfs_name_is_internal(e))
			continue;
		r = convert_entry(w, dfd, vpath, id, e);
	}
	/* Sidecars whose entry is gone: left by an interrupted rename. */
	for (i = 0; i < l.n && r == 0; i++) {
		char stem[NAME_MAX + 1];
		struct stat sst;
		size_t len = strlen(l.v[i]);

		if (!is_sidecar(l.v[i]) || l.v[i][0] == '.')
			continue;
		memcpy(stem, l.v[i], len - strlen(MEDFS_LONGNAME_SUFFIX));
		stem[len - strlen(MEDFS_LONGNAME_SUFFIX)] = '\0';
		if (fstatat(dfd, stem, &sst, AT_SYMLINK_NOFOLLOW) < 0 &&
		    errno == ENOENT && unlinkat(dfd, l.v[i], 0) == 0)
			w->st->leftovers++;
	}
	names_free(&l);
	if (r == 0 && futimens(dfd, tv) < 0)
		r = -errno;
	return r;
}

/* Removes the temporaries an interrupted run left in the vault directory
 * itself (directory headers on their way into the tree). */
static void remove_vault_temporaries(int vfd)
{
	struct names l;

	if (list_dir(vfd, &l) < 0)
		return;
	for (size_t i = 0; i < l.n; i++)
		if (!strncmp(l.v[i], TMP_PREFIX, strlen(TMP_PREFIX)))
			unlinkat(vfd, l.v[i], 0);
	names_free(&l);
}

/* Counts the objects (and plaintext bytes, for re-encryption) below the
 * directory open at dfd. Best effort: only for the progress display. */
static void count_tree(int dfd, bool bytes, struct medfs_rotate_progress *p)
{
	struct names l;

	if (list_dir(dfd, &l) < 0)
		return;
	for (size_t i = 0; i < l.n; i++) {
		struct stat st;

		if (medfs_name_is_internal(l.v[i]))
			continue;
		if (fstatat(dfd, l.v[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		p->total++;
		if (S_ISDIR(st.st_mode)) {
			int cfd = openat(dfd, l.v[i],
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (cfd >= 0) {
				count_tree(cfd, bytes, p);
				close(cfd);
			}
		} else if (bytes && S_ISREG(st.st_mode)) {
			int64_t size = medfs_plain_size((uint64_t)st.st_size);

			if (size > 0)
				p->bytes_total += (uint64_t)size;
		}
	}
	names_free(&l);
}

int medfs_rotate_tree(const char *vault_dir, const uint8_t old_key[MEDFS_KEY_LEN],
		      const uint8_t new_key[MEDFS_KEY_LEN], enum medfs_rotation mode,
		      uint32_t cipher, const struct medfs_rotate_ops *ops,
		      struct medfs_rotate_stats *st)
{
	struct medfs_binding root = { .name = "", .name_len = 0 };
	struct medfs_rotate_stats dummy;
	struct walk w;
	int vfd = -1, tfd = -1, r;

	if (st == NULL)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	memset(&w, 0, sizeof(w));
	w.vfd = -1;
	if (mode != MEDFS_ROTATION_REKEY && mode != MEDFS_ROTATION_REENCRYPT)
		return -EINVAL;
	r = medfs_block_cipher_check(cipher);
	if (r < 0)
		return r;
	w.mode = mode;
	w.cipher = cipher;
	w.ops = ops;
	w.st = st;
	memset(root.parent_id, 0, sizeof(root.parent_id));
	r = medfs_rotate_keys_new(&w.k, old_key, new_key);
	if (r < 0)
		return r;
	r = -ENOMEM;
	w.xvalue = malloc(XATTR_VALUE_MAX);
	w.xnew = malloc(XATTR_VALUE_MAX);
	if (w.xvalue == NULL || w.xnew == NULL)
		goto out;
	if (mode == MEDFS_ROTATION_REENCRYPT) {
		w.plain = medfs_secret_alloc((size_t)CHUNK_BLOCKS * MEDFS_BLOCK_SIZE);
		w.sealed = malloc((size_t)CHUNK_BLOCKS * MEDFS_BLOCK_DISK_SIZE);
		w.resealed = malloc((size_t)CHUNK_BLOCKS * MEDFS_BLOCK_DISK_SIZE);
		if (w.plain == NULL || w.sealed == NULL || w.resealed == NULL)
			goto out;
	}
	vfd = open(vault_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (vfd < 0) {
		r = -errno;
		goto out;
	}
	tfd = openat(vfd, MEDFS_TREE_NAME,
		     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (tfd < 0) {
		r = -errno;
		goto out;
	}
	w.vfd = vfd;
	remove_vault_temporaries(vfd);
	w.prog.total = 1; /* the root */
	count_tree(tfd, mode == MEDFS_ROTATION_REENCRYPT, &w.prog);
	r = walk_dir(&w, tfd, MEDFS_TREE_NAME, &root, false);
	/* Everything converted must be on disk before the old key goes. */
	if (r == 0 && syncfs(tfd) < 0)
		r = -errno;
out:
	if (tfd >= 0)
		close(tfd);
	if (vfd >= 0)
		close(vfd);
	medfs_rotate_keys_free(w.k);
	free(w.xvalue);
	if (w.xnew != NULL) {
		sodium_memzero(w.xnew, XATTR_VALUE_MAX);
		free(w.xnew);
	}
	free(w.xlist);
	medfs_secret_free(w.plain);
	free(w.sealed);
	free(w.resealed);
	return r;
}

/* ---- clones: a copy of the tree, for a rotation with re-encryption ---- */

#define CLONE_STAGING "tree.clone" /* the copy being made, in the clone's dir */

/* Copies the user xattrs of the file open at from onto the one at to. */
static int copy_xattrs(struct walk *w, int from, int to)
{
	ssize_t n = list_xattrs(w, from), vlen;

	if (n <= 0)
		return (int)n;
	for (char *p = w->xlist; p < w->xlist + n; p += strlen(p) + 1) {
		if (strncmp(p, XATTR_PREFIX, strlen(XATTR_PREFIX)) != 0 ||
		    !strcmp(p, TIMES_XATTR))
			continue;
		vlen = fgetxattr(from, p, w->xvalue, XATTR_VALUE_MAX);
		if (vlen < 0) {
			if (errno == ENODATA)
				continue;
			return -errno;
		}
		if (fsetxattr(to, p, w->xvalue, (size_t)vlen, 0) < 0)
			return -errno;
	}
	return 0;
}

/* Copies the regular file sdir/entry (st) to ddir/entry through a
 * temporary, unless a copy of the same size and mtime is there already
 * (an interrupted clone resumed). Returns 0 or -errno. */
static int copy_file(struct walk *w, int sdir, int ddir, const char *entry,
		     const struct stat *st)
{
	char tmp[sizeof(TMP_PREFIX) + 16];
	struct timespec tv[2] = { st->st_atim, st->st_mtim };
	struct stat dst;
	int in, out, r = 0;

	if (fstatat(ddir, entry, &dst, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(dst.st_mode) && dst.st_size == st->st_size &&
	    dst.st_mtim.tv_sec == st->st_mtim.tv_sec &&
	    dst.st_mtim.tv_nsec == st->st_mtim.tv_nsec)
		return 0;
	in = open_noatime(sdir, entry, O_RDONLY);
	if (in < 0)
		return -errno;
	tmp_name(tmp);
	out = openat(ddir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		     0600);
	if (out < 0) {
		r = -errno;
		close(in);
		return r;
	}
	/* Only the data: a file with holes (FORMAT.md, 11) stays sparse. */
	for (off_t off = 0, end = 0; off < st->st_size && r == 0;) {
		ssize_t n;

		if (off >= end) {
			off_t data = lseek(in, off, SEEK_DATA);

			if (data < 0 && errno == ENXIO)
				break;
			if (data < 0) { /* no SEEK_DATA here: all of it */
				data = off;
				end = st->st_size;
			} else if ((end = lseek(in, data, SEEK_HOLE)) < 0) {
				end = st->st_size;
			}
			off = data;
		}
		n = medfs_pread_full(in, w->sealed,
			       end - off < (off_t)CHUNK_BLOCKS * MEDFS_BLOCK_DISK_SIZE
				       ? (size_t)(end - off)
				       : (size_t)CHUNK_BLOCKS * MEDFS_BLOCK_DISK_SIZE,
			       off);
		if (n <= 0) {
			r = n < 0 ? (int)n : -EIO; /* the file changed under us */
			break;
		}
		r = medfs_pwrite_full(out, w->sealed, (size_t)n, off);
		off += n;
	}
	if (r == 0 && ftruncate(out, st->st_size) < 0)
		r = -errno;
	if (r == 0)
		r = copy_xattrs(w, in, out);
	if (r == 0)
		r = copy_owner(out, st);
	if (r == 0 && futimens(out, tv) < 0)
		r = -errno;
	if (close(out) < 0 && r == 0)
		r = -errno;
	close(in);
	if (r == 0 && renameat(ddir, tmp, ddir, entry) < 0)
		r = -errno;
	if (r < 0)
		unlinkat(ddir, tmp, 0);
	return r;
}

/* Copies the symlink sdir/entry (st) to ddir/entry. Returns 0 or -errno. */
static int copy_link(int sdir, int ddir, const char *entry, const struct stat *st)
{
	char *target = malloc(PATH_MAX);
	char tmp[sizeof(TMP_PREFIX) + 16];
	struct timespec tv[2] = { st->st_atim, st->st_mtim };
	ssize_t n;
	int r = 0;

	if (target == NULL)
		return -ENOMEM;
	n = readlinkat(sdir, entry, target, PATH_MAX - 1);
	if (n < 0) {
		r = -errno;
		goto out;
	}
	target[n] = '\0';
	tmp_name(tmp);
	if (symlinkat(target, ddir, tmp) < 0) {
		r = -errno;
		goto out;
	}
	if ((fchownat(ddir, tmp, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0 &&
	     errno != EPERM) ||
	    utimensat(ddir, tmp, tv, AT_SYMLINK_NOFOLLOW) < 0 ||
	    renameat(ddir, tmp, ddir, entry) < 0) {
		r = -errno;
		unlinkat(ddir, tmp, 0);
	}
out:
	free(target);
	return r;
}

/* A FIFO or socket: its name, mode, owner and times. */
static int copy_special(int ddir, const char *entry, const struct stat *st)
{
	struct timespec tv[2] = { st->st_atim, st->st_mtim };
	char tmp[sizeof(TMP_PREFIX) + 16];
	int r = 0;

	tmp_name(tmp);
	if (mknodat(ddir, tmp, (st->st_mode & S_IFMT) | 0600, 0) < 0)
		return -errno;
	if (fchmodat(ddir, tmp, st->st_mode & 07777, 0) < 0 ||
	    (fchownat(ddir, tmp, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0 &&
	     errno != EPERM) ||
	    utimensat(ddir, tmp, tv, AT_SYMLINK_NOFOLLOW) < 0 ||
	    renameat(ddir, tmp, ddir, entry) < 0) {
		r = -errno;
		unlinkat(ddir, tmp, 0);
	}
	return r;
}

/* Copies the directory open at sdir into the one open at ddir, entries
 * first, then ddir's mode, owner and times. Returns 0 or -errno. */
static int copy_dir(struct walk *w, int sdir, int ddir, const struct stat *sst)
{
	struct timespec tv[2] = { sst->st_atim, sst->st_mtim };
	struct names l;
	int r;

	/* Temporaries of an interrupted copy. */
	r = list_dir(ddir, &l);
	if (r < 0)
		return r;
	for (size_t i = 0; i < l.n; i++)
		if (!strncmp(l.v[i], TMP_PREFIX, strlen(TMP_PREFIX)))
			unlinkat(ddir, l.v[i], 0);
	names_free(&l);
	r = list_dir(sdir, &l);
	if (r < 0)
		return r;
	for (size_t i = 0; i < l.n && r == 0; i++) {
		const char *e = l.v[i];
		struct stat st;

		/* Leftovers of an interrupted operation in the source. */
		if (!strncmp(e, TMP_PREFIX, strlen(TMP_PREFIX)) ||
		    !strcmp(e, MEDFS_DIR_HEADER_NAME ".tmp"))
			continue;
		if (fstatat(sdir, e, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = -errno;
			break;
		}
		if (S_ISREG(st.st_mode)) {
			r = copy_file(w, sdir, ddir, e, &st);
		} else if (S_ISLNK(st.st_mode)) {
			r = copy_link(sdir, ddir, e, &st);
		} else if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) {
			r = copy_special(ddir, e, &st);
		} else if (S_ISDIR(st.st_mode)) {
			int s2, d2;

			if (mkdirat(ddir, e, 0700) < 0 && errno != EEXIST) {
				r = -errno;
				break;
			}
			s2 = openat(sdir, e,
				    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			d2 = openat(ddir, e,
				    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (s2 < 0 || d2 < 0)
				r = -errno;
			else
				r = copy_dir(w, s2, d2, &st);
			if (s2 >= 0)
				close(s2);
			if (d2 >= 0)
				close(d2);
		}
		/* Anything else is not part of a vault (medfs-fsck reports
		 * it): not copied. */
		if (r == 0 && w->ops != NULL && w->ops->progress != NULL) {
			if (++w->prog.done > w->prog.total)
				w->prog.total = w->prog.done;
			if (w->ops->progress(w->ops->ctx, &w->prog) != 0)
				r = -ECANCELED;
		}
	}
	names_free(&l);
	if (r == 0)
		r = copy_owner(ddir, sst);
	if (r == 0 && futimens(ddir, tv) < 0)
		r = -errno;
	return r;
}

int medfs_rotate_copy_tree(const char *src_vault, const char *dst_vault,
			   const struct medfs_rotate_ops *ops)
{
	struct medfs_rotate_stats dummy;
	struct walk w;
	struct stat st;
	int sv = -1, dv = -1, st_fd = -1, dt_fd = -1, r;

	memset(&w, 0, sizeof(w));
	w.ops = ops;
	w.st = &dummy;
	sv = open(src_vault, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dv = open(dst_vault, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sv < 0 || dv < 0) {
		r = -errno;
		goto out;
	}
	if (fstatat(dv, MEDFS_TREE_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		r = 0; /* copied already */
		goto out;
	}
	r = -ENOMEM;
	w.xvalue = malloc(XATTR_VALUE_MAX);
	w.sealed = malloc((size_t)CHUNK_BLOCKS * MEDFS_BLOCK_DISK_SIZE);
	if (w.xvalue == NULL || w.sealed == NULL)
		goto out;
	st_fd = openat(sv, MEDFS_TREE_NAME,
		       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (st_fd < 0 || fstat(st_fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (mkdirat(dv, CLONE_STAGING, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		goto out;
	}
	dt_fd = openat(dv, CLONE_STAGING,
		       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dt_fd < 0) {
		r = -errno;
		goto out;
	}
	count_tree(st_fd, false, &w.prog);
	r = copy_dir(&w, st_fd, dt_fd, &st);
	if (r == 0 && syncfs(dt_fd) < 0)
		r = -errno;
	if (r == 0 && renameat(dv, CLONE_STAGING, dv, MEDFS_TREE_NAME) < 0)
		r = -errno;
	if (r == 0 && fsync(dv) < 0)
		r = -errno;
out:
	if (dt_fd >= 0)
		close(dt_fd);
	if (st_fd >= 0)
		close(st_fd);
	if (dv >= 0)
		close(dv);
	if (sv >= 0)
		close(sv);
	free(w.xvalue);
	free(w.sealed);
	free(w.xlist);
	return r;
}

int medfs_rotate_clone_config(struct medfs_config *c, uint8_t new_key[MEDFS_KEY_LEN],
			      const uint8_t old_key[MEDFS_KEY_LEN])
{
	if (c->version != MEDFS_CONFIG_VERSION || medfs_config_rotating(c))
		return -EINVAL;
	randombytes_buf(c->vault_id, sizeof(c->vault_id));
	c->created = (uint64_t)time(NULL);
	randombytes_buf(new_key, MEDFS_KEY_LEN);
	return medfs_config_rekey(c, new_key, old_key, MEDFS_ROTATION_REENCRYPT);
}

int medfs_rotate_start(const char *vault_dir, struct medfs_config *c,
		       uint8_t vault_key[MEDFS_KEY_LEN], enum medfs_rotation mode)
{
	struct medfs_config next;
	uint8_t *new_key;
	int r;

	if (c->version != MEDFS_CONFIG_VERSION || medfs_config_rotating(c) ||
	    (mode != MEDFS_ROTATION_REKEY && mode != MEDFS_ROTATION_REENCRYPT))
		return -EINVAL;
	new_key = medfs_secret_alloc(MEDFS_KEY_LEN);
	if (new_key == NULL)
		return -ENOMEM;
	randombytes_buf(new_key, MEDFS_KEY_LEN);
	next = *c;
	r = medfs_config_rekey(&next, new_key, vault_key, mode);
	if (r == 0)
		r = medfs_config_save(vault_dir, &next, new_key);
	if (r < 0) {
		/* The primary may be the new one already: put the old back. */
		medfs_config_save(vault_dir, c, vault_key);
		goto out;
	}
	*c = next;
	memcpy(vault_key, new_key, MEDFS_KEY_LEN);
out:
	medfs_secret_free(new_key);
	return r;
}

int medfs_rotate_finish(const char *vault_dir, struct medfs_config *c,
			const uint8_t vault_key[MEDFS_KEY_LEN])
{
	struct medfs_config next = *c;
	int r;

	medfs_config_end_rotation(&next);
	r = medfs_config_save(vault_dir, &next, vault_key);
	if (r == 0)
		*c = next;
	return r;
}
