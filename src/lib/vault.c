/* medfs: the vault, a directory tree of encrypted objects.
 *
 * Plaintext paths are translated to vault paths one directory at a time:
 * each vault directory carries a header with its random id, bound to its
 * parent and name, and names are encrypted under that id. Translations of
 * directories are cached; anything that moves or removes a directory
 * empties the cache.
 *
 * Regular files are shared between their opens through one struct
 * medfs_file per vault inode, which holds the file key, the authoritative
 * plaintext size and the binding (parent id and name) that the header is
 * sealed with. Readers share its lock; writers and truncation hold it
 * alone. Inode numbers are a safe key: an object keeps its vault file
 * open, so its inode cannot be reused while it lives. An object found by
 * inode is served only under the name its header is bound to: a vault
 * file linked or renamed over another outside the mount is not that file. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <sodium.h>

#include "medfs/block.h"
#include "medfs/config.h"
#include "medfs/header.h"
#include "medfs/holes.h"
#include "medfs/io.h"
#include "medfs/log.h"
#include "medfs/name.h"
#include "medfs/parallel.h"
#include "medfs/vault.h"
#include "medfs/vpath.h"

#define DIRCACHE_BUCKETS 4096
#define DIRCACHE_MAX 65536
#define FILES_BUCKETS 1024
#define CHUNK_BLOCKS 256 /* blocks sealed per pwrite: 1 MiB of plaintext */
#define XATTR_PREFIX "user."
#define XATTR_VAULT_PREFIX "user.medfs."
#define XATTR_VALUE_MAX 65536

/* Secret key material, one sodium allocation, read-only once derived. */
struct vault_keys {
	uint8_t header[MEDFS_KEY_LEN];
	uint8_t name[MEDFS_NAME_KEY_LEN];
	uint8_t dir[MEDFS_KEY_LEN];
	uint8_t link[MEDFS_KEY_LEN];
	uint8_t xattr[MEDFS_KEY_LEN];
};

struct dircache_entry {
	struct dircache_entry *next;
	uint64_t hash;
	char *path;  /* plaintext */
	char *vpath; /* relative to the tree, "" for the root */
	uint8_t id[MEDFS_DIR_ID_LEN];
};

struct medfs_vault {
	int tree_fd;
	uint32_t cipher; /* of content blocks, MEDFS_CIPHER_* */
	struct vault_keys *keys;
	/* Namespace lock: rename and rmdir hold it alone, so that they see
	 * directories whose emptiness and headers cannot change under them. */
	pthread_rwlock_t ns_lock;
	pthread_mutex_t dc_lock;
	struct dircache_entry *dc[DIRCACHE_BUCKETS];
	size_t dc_count;
	pthread_mutex_t files_lock;
	/* File keys of open files, in slabs of locked memory. */
	pthread_mutex_t keys_lock;
	struct key_slab *slabs;
	struct medfs_file *files[FILES_BUCKETS];
	medfs_integrity_fn hook;
	void *hook_ctx;
	/* Sizes come from file headers: a file may be longer than its
	 * header says (after an unclean end, include/medfs/settle.h). */
	atomic_bool careful;
	atomic_uint grown_changes; /* failed changes that left a file grown */
};

struct medfs_file {
	struct medfs_file *next;
	struct medfs_vault *v;
	dev_t dev;
	ino_t ino;
	int fd;
	bool writable;
	atomic_bool warmed; /* its vault file was read ahead (see warm) */
	atomic_bool setid;  /* its vault file has bits to drop (made before file_mode) */
	unsigned refs;	    /* under v->files_lock */
	pthread_rwlock_t lock;
	uint8_t *key;	/* secret memory */
	uint8_t *prev;	/* the previous file key (MEDFS_HEADER_PREV), or NULL */
	uint16_t flags; /* of the header, MEDFS_HEADER_* */
	uint8_t id[MEDFS_FILE_ID_LEN];
	uint64_t size;
	/* The vault file is longer than the header says: an extension cut
	 * by a crash before its header (see header_read, open_tail, settle). */
	bool grown;
	struct medfs_holes *holes; /* MEDFS_HEADER_HOLES: its hole map, else NULL */
	bool holes_dirty;	   /* holes differs from the stored map */
	uint8_t parent_id[MEDFS_DIR_ID_LEN];
	char name[MEDFS_NAME_MAX + 1];
	size_t name_len;
	/* Its vault path, for integrity reports: as long as it is (many
	 * times PATH_MAX deep in a tree), from malloc. Replaced by a rename
	 * under v->ns_lock and f->lock, both held for writing: readers hold
	 * either. */
	char *vpath;
};

/* File keys live in slabs of secret memory: one sodium_malloc per open
 * (guard pages, mlock, mprotect, munmap) dominated small-file opens. */
#define SLAB_KEYS 1024

struct key_slab {
	struct key_slab *next;
	uint8_t *mem; /* SLAB_KEYS keys, secret memory */
	uint64_t used[SLAB_KEYS / 64];
	unsigned int n;
};

/* Where a plaintext path lives in the vault. Vault paths may be many
 * times PATH_MAX long (see vpath.h): they live in memory from malloc. */
struct loc {
	char *dir_vpath;
	uint8_t dir_id[MEDFS_DIR_ID_LEN];
	const char *name;
	size_t name_len;
	char enc[MEDFS_NAME_ENC_MAX]; /* full vault name */
	size_t enc_len;
	char entry[MEDFS_NAME_ENC_MAX]; /* entry name in the vault dir */
	bool is_long;
	char *vpath;
};

static struct loc *loc_new(void)
{
	return calloc(1, sizeof(struct loc));
}

static void loc_free(struct loc *l)
{
	if (!l)
		return;
	free(l->dir_vpath);
	free(l->vpath);
	free(l);
}

/* Per-thread buffer for sealed blocks: no allocation on the block path
 * once it has grown to a request's size. */
static pthread_key_t buf_key;
static pthread_once_t buf_once = PTHREAD_ONCE_INIT;

struct tbuf {
	size_t cap;
	uint8_t data[];
};

static void buf_key_init(void)
{
	pthread_key_create(&buf_key, free);
}

static uint8_t *thread_buf(size_t len)
{
	struct tbuf *b;

	pthread_once(&buf_once, buf_key_init);
	b = pthread_getspecific(buf_key);
	if (b && b->cap >= len)
		return b->data;
	free(b);
	b = malloc(sizeof(*b) + len);
	pthread_setspecific(buf_key, b);
	if (!b)
		return NULL;
	b->cap = len;
	return b->data;
}

static void report(struct medfs_vault *v, const char *vpath, const char *plain,
		   int64_t offset, const char *what)
{
	if (offset >= 0)
		medfs_log(LOG_ERR, "integrity failure: %s: %s at offset %lld",
			  vpath[0] ? vpath : ".", what, (long long)offset);
	else
		medfs_log(LOG_ERR, "integrity failure: %s: %s", vpath[0] ? vpath : ".",
			  what);
	if (v->hook) {
		/* Relative to the vault directory, at its full length (out
		 * of memory: relative to the tree). */
		char *full = vpath[0] ? medfs_vpath_join(MEDFS_TREE_NAME, vpath)
				      : strdup(MEDFS_TREE_NAME);

		v->hook(v->hook_ctx, full ? full : vpath, plain, offset, what);
		free(full);
	}
}

/* A plaintext path that a new object may take: shorter than PATH_MAX, as
 * a path given to a system call must be. Deeper objects could be made
 * (relative to a working directory deep down) and would work, but no
 * program could name them from the root; renames may still move a tree
 * below that depth, and what is there can always be listed and removed. */
static int new_path_fits(const char *path)
{
	return strlen(path) < PATH_MAX ? 0 : -ENAMETOOLONG;
}

/* fsync (fdatasync with datasync) of fd: 0 or -errno. */
static int sync_fd(int fd, int datasync)
{
	return (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0;
}

/* Closes fd (if open), keeping the first error: r, else close's. */
static int close_keep(int fd, int r)
{
	if (fd >= 0 && close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

/* ---- directory cache ---- */

static uint64_t hash_str(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* Sets *vpath to a copy (from malloc) of the cached vault path of the
 * directory at path[0..len): false when not cached (or out of memory). */
static bool dc_get(struct medfs_vault *v, const char *path, size_t len, char **vpath,
		   uint8_t id[MEDFS_DIR_ID_LEN])
{
	uint64_t h = hash_str(path, len);
	bool found = false;

	pthread_mutex_lock(&v->dc_lock);
	for (struct dircache_entry *e = v->dc[h % DIRCACHE_BUCKETS]; e; e = e->next) {
		if (e->hash == h && strlen(e->path) == len &&
		    !memcmp(e->path, path, len)) {
			char *copy = strdup(e->vpath);

			if (copy) {
				free(*vpath);
				*vpath = copy;
				memcpy(id, e->id, MEDFS_DIR_ID_LEN);
				found = true;
			}
			break;
		}
	}
	pthread_mutex_unlock(&v->dc_lock);
	return found;
}

static void dc_clear_locked(struct medfs_vault *v)
{
	for (size_t i = 0; i < DIRCACHE_BUCKETS; i++) {
		struct dircache_entry *e = v->dc[i];

		while (e) {
			struct dircache_entry *next = e->next;

			free(e->path);
			free(e->vpath);
			free(e);
			e = next;
		}
		v->dc[i] = NULL;
	}
	v->dc_count = 0;
}

static void dc_clear(struct medfs_vault *v)
{
	medfs_vpath_invalidate(); /* directories moved or removed */
	pthread_mutex_lock(&v->dc_lock);
	dc_clear_locked(v);
	pthread_mutex_unlock(&v->dc_lock);
}

static void dc_put(struct medfs_vault *v, const char *path, size_t len, const char *vpath,
		   const uint8_t id[MEDFS_DIR_ID_LEN])
{
	struct dircache_entry *e = calloc(1, sizeof(*e));

	if (!e)
		return;
	e->path = strndup(path, len);
	e->vpath = strdup(vpath);
	if (!e->path || !e->vpath) {
		free(e->path);
		free(e->vpath);
		free(e);
		return;
	}
	e->hash = hash_str(path, len);
	memcpy(e->id, id, MEDFS_DIR_ID_LEN);
	pthread_mutex_lock(&v->dc_lock);
	if (v->dc_count >= DIRCACHE_MAX)
		dc_clear_locked(v);
	e->next = v->dc[e->hash % DIRCACHE_BUCKETS];
	v->dc[e->hash % DIRCACHE_BUCKETS] = e;
	v->dc_count++;
	pthread_mutex_unlock(&v->dc_lock);
}

/* ---- names ---- */

/* Encrypts one name for dir_id into l->enc and l->entry. */
static int encode_name(struct medfs_vault *v, struct loc *l)
{
	int n;

	if (l->name_len > MEDFS_NAME_MAX)
		return -ENAMETOOLONG;
	n = medfs_name_encrypt(l->enc, sizeof(l->enc), l->name, l->name_len, l->dir_id,
			       v->keys->name);
	if (n < 0)
		return n;
	l->enc_len = n;
	n = medfs_name_entry(l->entry, sizeof(l->entry), l->enc, l->enc_len,
			     v->keys->name);
	if (n < 0)
		return n;
	l->is_long = medfs_name_is_long(l->entry);
	free(l->vpath);
	l->vpath = medfs_vpath_join(l->dir_vpath, l->entry);
	return l->vpath ? 0 : -ENOMEM;
}

static int read_dir_header(struct medfs_vault *v, const char *vpath,
			   const struct medfs_binding *b, uint8_t id[MEDFS_DIR_ID_LEN])
{
	char *hpath;
	uint8_t buf[MEDFS_DIR_HEADER_LEN];
	struct stat st;
	ssize_t n;
	int fd, r;

	if (medfs_vpath_fstatat(v->tree_fd, vpath, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	hpath = medfs_vpath_join(vpath, MEDFS_DIR_HEADER_NAME);
	if (!hpath)
		return -ENOMEM;
	fd = medfs_vpath_openat(v->tree_fd, hpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
	free(hpath);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT) {
			report(v, vpath, NULL, -1, "directory header missing");
			return -EBADMSG;
		}
		return r;
	}
	n = medfs_pread_full(fd, buf, sizeof(buf), 0);
	close(fd);
	if (n < 0)
		return n;
	if (n != sizeof(buf)) {
		report(v, vpath, NULL, -1, "directory header truncated");
		return -EBADMSG;
	}
	r = medfs_dir_header_open(buf, id, v->keys->dir, b);
	if (r == -EBADMSG)
		report(v, vpath, NULL, -1,
		       "directory header does not authenticate (moved, swapped or "
		       "modified)");
	return r;
}

static int write_dir_header(struct medfs_vault *v, const char *vpath,
			    const uint8_t id[MEDFS_DIR_ID_LEN],
			    const struct medfs_binding *b)
{
	char *hpath = NULL, *tmp = NULL;
	uint8_t buf[MEDFS_DIR_HEADER_LEN];
	int fd, r;

	r = medfs_dir_header_seal(buf, id, v->keys->dir, b);
	if (r < 0)
		return r;
	hpath = medfs_vpath_join(vpath, MEDFS_DIR_HEADER_NAME);
	tmp = medfs_vpath_join(vpath, MEDFS_DIR_HEADER_NAME ".tmp");
	if (!hpath || !tmp) {
		r = -ENOMEM;
		goto out;
	}
	fd = medfs_vpath_openat(v->tree_fd, tmp,
				O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = medfs_pwrite_full(fd, buf, sizeof(buf), 0);
	/* On disk before the rename publishes it: a crash never leaves a
	 * directory with an empty header. */
	if (r == 0)
		r = sync_fd(fd, 1);
	r = close_keep(fd, r);
	if (r == 0 && medfs_vpath_renameat2(v->tree_fd, tmp, hpath, 0) < 0)
		r = -errno;
	if (r < 0)
		medfs_vpath_unlinkat(v->tree_fd, tmp, 0);
out:
	free(hpath);
	free(tmp);
	return r;
}

/* Finds the vault path (into *vpath, from malloc, freed by the caller
 * whatever the result) and id of the directory at plaintext path[0..len). */
static int dir_lookup(struct medfs_vault *v, const char *path, size_t len, char **vpath,
		      uint8_t id[MEDFS_DIR_ID_LEN])
{
	struct loc *l;
	size_t pos, from;
	int r = 0;

	while (len > 1 && path[len - 1] == '/')
		len--;
	if (len <= 1) {
		len = 1;
		path = "/";
	}
	if (dc_get(v, path, len, vpath, id))
		return 0;
	l = loc_new();
	if (!l)
		return -ENOMEM;
	/* Walk down from the deepest directory above that the cache holds
	 * (usually the parent): asking for every prefix from the root would
	 * hash a deep path once per level. */
	from = 0;
	pos = len;
	while (pos > 1) {
		size_t slash = pos - 1;

		while (slash > 0 && path[slash] != '/')
			slash--;
		if (slash == 0)
			break;
		if (dc_get(v, path, slash, &l->dir_vpath, l->dir_id)) {
			from = slash + 1;
			break;
		}
		pos = slash;
	}
	pos = from ? from : 1;
	if (!from && !dc_get(v, "/", 1, &l->dir_vpath, l->dir_id)) {
		struct medfs_binding root = { .name = "", .name_len = 0 };
		uint8_t rid[MEDFS_DIR_ID_LEN];

		l->dir_vpath = strdup("");
		if (!l->dir_vpath) {
			r = -ENOMEM;
			goto out;
		}
		r = read_dir_header(v, "", &root, rid);
		if (r < 0)
			goto out;
		memcpy(l->dir_id, rid, sizeof(rid));
		dc_put(v, "/", 1, "", rid);
	}
	while (pos < len) {
		size_t end = pos;
		uint8_t child[MEDFS_DIR_ID_LEN];

		while (end < len && path[end] != '/')
			end++;
		if (end == pos) {
			pos++;
			continue;
		}
		if (!dc_get(v, path, end, &l->vpath, child)) {
			struct medfs_binding b = { .name = path + pos,
						   .name_len = end - pos };

			l->name = b.name;
			l->name_len = b.name_len;
			r = encode_name(v, l);
			if (r < 0)
				goto out;
			memcpy(b.parent_id, l->dir_id, sizeof(b.parent_id));
			r = read_dir_header(v, l->vpath, &b, child);
			if (r < 0)
				goto out;
			dc_put(v, path, end, l->vpath, child);
		}
		free(l->dir_vpath);
		l->dir_vpath = l->vpath;
		l->vpath = NULL;
		memcpy(l->dir_id, child, sizeof(child));
		pos = end + 1;
	}
	free(*vpath);
	*vpath = l->dir_vpath;
	l->dir_vpath = NULL;
	memcpy(id, l->dir_id, MEDFS_DIR_ID_LEN);
out:
	loc_free(l);
	return r;
}

/* Resolves a non-root plaintext path to its parent and entry. */
static int resolve(struct medfs_vault *v, const char *path, struct loc *l)
{
	size_t len = strlen(path), slash;
	int r;

	while (len > 1 && path[len - 1] == '/')
		len--;
	if (len <= 1 || path[0] != '/')
		return -EINVAL;
	slash = len - 1;
	while (path[slash] != '/')
		slash--;
	l->name = path + slash + 1;
	l->name_len = len - slash - 1;
	r = dir_lookup(v, path, slash ? slash : 1, &l->dir_vpath, l->dir_id);
	if (r < 0)
		return r;
	return encode_name(v, l);
}

static bool is_root(const char *path)
{
	while (*path == '/')
		path++;
	return *path == '\0';
}

static void loc_binding(const struct loc *l, struct medfs_binding *b)
{
	memcpy(b->parent_id, l->dir_id, sizeof(b->parent_id));
	b->name = l->name;
	b->name_len = l->name_len;
}

/* Long names: the sidecar holds the full vault name of its entry. */
static int sidecar_write(struct medfs_vault *v, const struct loc *l)
{
	char *p;
	int fd, r;

	if (!l->is_long)
		return 0;
	p = medfs_vpath_cat(l->vpath, MEDFS_LONGNAME_SUFFIX);
	if (!p)
		return -ENOMEM;
	fd = medfs_vpath_openat(v->tree_fd, p,
				O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	free(p);
	if (fd < 0)
		return -errno;
	r = medfs_pwrite_full(fd, l->enc, l->enc_len, 0);
	if (r == 0 && ftruncate(fd, l->enc_len) < 0)
		r = -errno;
	/* On disk before the rename of its entry publishes the long name. */
	if (r == 0)
		r = sync_fd(fd, 1);
	return close_keep(fd, r);
}

static void sidecar_remove(struct medfs_vault *v, const struct loc *l)
{
	char *p;

	if (!l->is_long)
		return;
	p = medfs_vpath_cat(l->vpath, MEDFS_LONGNAME_SUFFIX);
	if (p)
		medfs_vpath_unlinkat(v->tree_fd, p, 0);
	free(p);
}

/* New objects are built under a temporary internal name and renamed into
 * place once complete, so that no reader ever sees one half made. */
#define TMP_PREFIX ".tmp-"

/* A fresh temporary vault path in dir_vpath, from malloc; NULL when out
 * of memory. */
static char *tmp_path(const char *dir_vpath)
{
	uint8_t rnd[8];
	char name[sizeof(TMP_PREFIX) + 2 * sizeof(rnd)];

	randombytes_buf(rnd, sizeof(rnd));
	memcpy(name, TMP_PREFIX, strlen(TMP_PREFIX));
	sodium_bin2hex(name + strlen(TMP_PREFIX), sizeof(name) - strlen(TMP_PREFIX), rnd,
		       sizeof(rnd));
	return medfs_vpath_join(dir_vpath, name);
}

static bool is_leftover(const char *entry)
{
	return !strncmp(entry, TMP_PREFIX, strlen(TMP_PREFIX)) ||
	       !strcmp(entry, MEDFS_DIR_HEADER_NAME ".tmp");
}

/* ---- attributes ---- */

/* A directory's link count would be 2 plus its subdirectories, hidden
 * ones included: it is 1, the value that tells find and fts to count
 * nothing on it (as on file systems that keep no such count). */
#define MEDFS_DIR_NLINK 1

static void plain_stat(struct medfs_vault *v, const char *vpath, struct stat *st)
{
	if (S_ISDIR(st->st_mode)) {
		st->st_nlink = MEDFS_DIR_NLINK;
	} else if (S_ISREG(st->st_mode)) {
		int64_t size = medfs_plain_size(st->st_size);

		/* A torn or tampered file shows size 0; opening it says EIO. */
		st->st_size = size < 0 ? 0 : size;
	} else if (S_ISLNK(st->st_mode)) {
		int len = medfs_link_plain_len(st->st_size);

		st->st_size = len < 0 ? 0 : len;
	}
	(void)v;
	(void)vpath;
}

static void header_size(struct medfs_vault *v, int dirfd, const char *entry,
			const struct medfs_binding *b, struct stat *st);

int medfs_vault_getattr(struct medfs_vault *v, const char *path, struct stat *st)
{
	struct loc *l;
	int r;

	if (is_root(path)) {
		if (fstatat(v->tree_fd, ".", st, 0) < 0)
			return -errno;
		plain_stat(v, NULL, st);
		return 0;
	}
	l = loc_new();
	if (!l)
		return -ENOMEM;
	pthread_rwlock_rdlock(&v->ns_lock);
	r = resolve(v, path, l);
	if (r == 0 && medfs_vpath_fstatat(v->tree_fd, l->vpath, st, AT_SYMLINK_NOFOLLOW) < 0)
		r = -errno;
	if (r == 0)
		plain_stat(v, l->vpath, st);
	if (r == 0 && S_ISREG(st->st_mode)) {
		struct medfs_binding b;

		loc_binding(l, &b);
		header_size(v, v->tree_fd, l->vpath, &b, st);
	}
	pthread_rwlock_unlock(&v->ns_lock);
	loc_free(l);
	return r;
}

int medfs_vault_ancestors(struct medfs_vault *v, const char *path,
			  int (*fn)(void *ctx, const struct stat *st), void *ctx)
{
	char *vpath = NULL;
	uint8_t id[MEDFS_DIR_ID_LEN];
	size_t len = strlen(path), end;
	struct stat st;
	int r = 0;

	while (len > 1 && path[len - 1] == '/')
		len--;
	if (len <= 1 || path[0] != '/')
		return 0; /* the root has nothing above it */
	pthread_rwlock_rdlock(&v->ns_lock);
	for (end = 1; r == 0 && end < len; end++) {
		if (end > 1 && path[end] != '/')
			continue;
		r = dir_lookup(v, path, end, &vpath, id);
		if (r == 0 &&
		    medfs_vpath_fstatat(v->tree_fd, vpath, &st, AT_SYMLINK_NOFOLLOW) < 0)
			r = -errno;
		if (r == 0) {
			plain_stat(v, NULL, &st);
			r = fn(ctx, &st);
		}
	}
	pthread_rwlock_unlock(&v->ns_lock);
	free(vpath);
	return r;
}

static int set_owner(struct medfs_vault *v, const char *vpath,
		     const struct medfs_owner *o)
{
	if (!o || (o->uid == (uid_t)-1 && o->gid == (gid_t)-1))
		return 0;
	if (medfs_vpath_fchownat(v->tree_fd, vpath, o->uid, o->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

/* The first steps of every create (a file, a directory, a symlink, a FIFO
 * or a socket at path): a path other than the root that fits, *l with its
 * parent resolved, and *tmp (from malloc) a fresh temporary vault path in
 * that parent, where the caller makes the new object. Returns 0 with the
 * namespace lock held for reading, to be ended by create_end; or -EEXIST
 * for the root, -ENAMETOOLONG, resolve's error or -ENOMEM, with nothing
 * held or allocated. */
static int create_begin(struct medfs_vault *v, const char *path, struct loc **l,
			char **tmp)
{
	int r;

	*l = NULL;
	*tmp = NULL;
	if (is_root(path))
		return -EEXIST;
	if ((r = new_path_fits(path)) < 0)
		return r;
	if (!(*l = loc_new()))
		return -ENOMEM;
	pthread_rwlock_rdlock(&v->ns_lock);
	r = resolve(v, path, *l);
	if (r == 0 && !(*tmp = tmp_path((*l)->dir_vpath)))
		r = -ENOMEM;
	if (r < 0) {
		pthread_rwlock_unlock(&v->ns_lock);
		loc_free(*l);
		*l = NULL;
	}
	return r;
}

/* Ends what create_begin began: the lock released, l and tmp freed.
 * Returns r. */
static int create_end(struct medfs_vault *v, struct loc *l, char *tmp, int r)
{
	pthread_rwlock_unlock(&v->ns_lock);
	free(tmp);
	loc_free(l);
	return r;
}

/* Publishes the object made at tmp under l's name, unless r (the outcome
 * of making it) is an error: its owner, its long-name sidecar, then a
 * rename that never replaces. Returns 0, r or -errno; on failure the
 * sidecar is gone and tmp is left to the caller. */
static int publish(struct medfs_vault *v, const char *tmp, const struct loc *l,
		   const struct medfs_owner *o, int r)
{
	if (r == 0)
		r = set_owner(v, tmp, o);
	if (r == 0)
		r = sidecar_write(v, l);
	if (r == 0 &&
	    medfs_vpath_renameat2(v->tree_fd, tmp, l->vpath, RENAME_NOREPLACE) < 0) {
		r = -errno;
		if (r != -EEXIST)
			sidecar_remove(v, l);
	}
	return r;
}

/* publish for an object with no content (a symlink or a special file):
 * on failure nothing is left, tmp included. */
static int publish_tmp(struct medfs_vault *v, const char *tmp, const struct loc *l,
		       const struct medfs_owner *o, int r)
{
	r = publish(v, tmp, l, o, r);
	if (r < 0)
		medfs_vpath_unlinkat(v->tree_fd, tmp, 0);
	return r;
}

/* ---- directories ---- */

int medfs_vault_mkdir(struct medfs_vault *v, const char *path, mode_t mode,
		      const struct medfs_owner *o)
{
	struct loc *l;
	char *tmp, *hpath;
	struct medfs_binding b;
	uint8_t id[MEDFS_DIR_ID_LEN];
	int r;

	if ((r = create_begin(v, path, &l, &tmp)) < 0)
		return r;
	hpath = medfs_vpath_join(tmp, MEDFS_DIR_HEADER_NAME);
	if (!hpath) {
		r = -ENOMEM;
		goto out;
	}
	if (medfs_vpath_mkdirat(v->tree_fd, tmp, 0700) < 0) {
		r = -errno;
		goto out;
	}
	randombytes_buf(id, sizeof(id));
	loc_binding(l, &b);
	r = write_dir_header(v, tmp, id, &b);
	if (r == 0 && medfs_vpath_fchmodat(v->tree_fd, tmp, mode & 07777, 0) < 0)
		r = -errno;
	r = publish(v, tmp, l, o, r);
	if (r < 0) {
		medfs_vpath_unlinkat(v->tree_fd, hpath, 0);
		medfs_vpath_unlinkat(v->tree_fd, tmp, AT_REMOVEDIR);
	}
out:
	free(hpath);
	return create_end(v, l, tmp, r);
}

/* 0 when the vault directory holds nothing but its header. */
static int dir_empty(struct medfs_vault *v, const char *vpath)
{
	int fd = medfs_vpath_openat(v->tree_fd, vpath,
				    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    !strcmp(de->d_name, MEDFS_DIR_HEADER_NAME))
			continue;
		/* Leftovers of a crash: nothing can be building them now,
		 * for callers hold ns_lock alone. */
		if (is_leftover(de->d_name)) {
			if (unlinkat(fd, de->d_name, 0) < 0 && errno == EISDIR) {
				char h[NAME_MAX + sizeof(MEDFS_DIR_HEADER_NAME) + 2];

				snprintf(h, sizeof(h), "%s/%s", de->d_name,
					 MEDFS_DIR_HEADER_NAME);
				unlinkat(fd, h, 0);
				unlinkat(fd, de->d_name, AT_REMOVEDIR);
			}
			continue;
		}
		r = -ENOTEMPTY;
		break;
	}
	closedir(d);
	return r;
}

/* Removes an empty vault directory; the caller holds ns_lock alone. */
static int remove_dir(struct medfs_vault *v, const struct loc *l)
{
	char *hpath;
	uint8_t hdr[MEDFS_DIR_HEADER_LEN];
	ssize_t n = -1;
	int r, fd;

	r = dir_empty(v, l->vpath);
	if (r < 0)
		return r;
	hpath = medfs_vpath_join(l->vpath, MEDFS_DIR_HEADER_NAME);
	if (!hpath)
		return -ENOMEM;
	/* Keep the header to put it back should rmdir fail. */
	fd = medfs_vpath_openat(v->tree_fd, hpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
	if (fd >= 0) {
		n = medfs_pread_full(fd, hdr, sizeof(hdr), 0);
		close(fd);
	}
	medfs_vpath_unlinkat(v->tree_fd, hpath, 0);
	if (medfs_vpath_unlinkat(v->tree_fd, l->vpath, AT_REMOVEDIR) < 0) {
		r = -errno;
		if (n == sizeof(hdr)) {
			fd = medfs_vpath_openat(v->tree_fd, hpath,
						O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
						0600);
			if (fd >= 0) {
				medfs_pwrite_full(fd, hdr, sizeof(hdr), 0);
				close(fd);
			}
		}
	}
	free(hpath);
	return r;
}

int medfs_vault_rmdir(struct medfs_vault *v, const char *path)
{
	struct loc *l;
	struct stat st;
	int r;

	if (is_root(path))
		return -EBUSY;
	l = loc_new();
	if (!l)
		return -ENOMEM;
	pthread_rwlock_wrlock(&v->ns_lock);
	r = resolve(v, path, l);
	if (r < 0)
		goto out;
	if (medfs_vpath_fstatat(v->tree_fd, l->vpath, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		r = -ENOTDIR;
		goto out;
	}
	r = remove_dir(v, l);
	if (r == 0) {
		sidecar_remove(v, l);
		dc_clear(v);
	}
out:
	pthread_rwlock_unlock(&v->ns_lock);
	loc_free(l);
	return r;
}

struct readdir_state {
	struct medfs_vault *v;
	const char *dir_path;
	const char *dir_vpath;
	const uint8_t *dir_id;
	int dfd;
};

/* Decrypts one vault entry's name; returns its length or -EBADMSG. */
static int entry_name(struct readdir_state *s, const char *entry, char *out, size_t outsz)
{
	char enc[MEDFS_NAME_ENC_MAX], check[MEDFS_NAME_ENC_MAX];
	size_t enc_len;
	int r;

	if (medfs_name_is_long(entry)) {
		char side[NAME_MAX + 1];
		ssize_t n;
		int fd;

		snprintf(side, sizeof(side), "%s%s", entry, MEDFS_LONGNAME_SUFFIX);
		fd = openat(s->dfd, side, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -EBADMSG;
		n = medfs_pread_full(fd, enc, sizeof(enc) - 1, 0);
		close(fd);
		if (n <= 0)
			return -EBADMSG;
		enc_len = n;
		enc[enc_len] = '\0';
		r = medfs_name_entry(check, sizeof(check), enc, enc_len,
				     s->v->keys->name);
		if (r < 0 || strcmp(check, entry))
			return -EBADMSG;
	} else {
		enc_len = strlen(entry);
		if (enc_len >= sizeof(enc))
			return -EBADMSG;
		memcpy(enc, entry, enc_len + 1);
	}
	return medfs_name_decrypt(out, outsz, enc, enc_len, s->dir_id, s->v->keys->name);
}

int medfs_vault_readdir(struct medfs_vault *v, const char *path, medfs_dir_fill_fn fill,
			void *ctx)
{
	char *vpath = NULL, name[MEDFS_NAME_MAX + 1];
	uint8_t id[MEDFS_DIR_ID_LEN];
	struct readdir_state s;
	struct dirent *de;
	DIR *d;
	int r, fd;

	pthread_rwlock_rdlock(&v->ns_lock);
	r = dir_lookup(v, path, strlen(path), &vpath, id);
	if (r < 0)
		goto out;
	fd = medfs_vpath_openat(v->tree_fd, vpath,
				O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		goto out;
	}
	s = (struct readdir_state){ v, path, vpath, id, fd };
	while ((de = readdir(d))) {
		struct stat st;
		int n;

		if (medfs_name_is_internal(de->d_name))
			continue;
		n = entry_name(&s, de->d_name, name, sizeof(name));
		if (n < 0) {
			char *bad = medfs_vpath_join(vpath, de->d_name);

			if (bad)
				report(v, bad, NULL, -1,
				       "entry name does not authenticate");
			free(bad);
			continue;
		}
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* removed meanwhile */
		plain_stat(v, NULL, &st);
		if (S_ISREG(st.st_mode)) {
			struct medfs_binding b = { .name = name, .name_len = (size_t)n };

			memcpy(b.parent_id, id, sizeof(b.parent_id));
			header_size(v, fd, de->d_name, &b, &st);
		}
		if (fill(ctx, name, &st))
			break;
	}
	closedir(d);
	sodium_memzero(name, sizeof(name));
out:
	pthread_rwlock_unlock(&v->ns_lock);
	free(vpath);
	return r;
}

/* ---- symlinks ---- */

int medfs_vault_fsyncdir(struct medfs_vault *v, const char *path, int datasync)
{
	char *vpath = NULL;
	uint8_t id[MEDFS_DIR_ID_LEN];
	int dfd = -1, hfd = -1, r;

	pthread_rwlock_rdlock(&v->ns_lock);
	r = dir_lookup(v, path, strlen(path), &vpath, id);
	if (r == 0) {
		dfd = medfs_vpath_openat(v->tree_fd, vpath,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
		if (dfd < 0)
			r = -errno;
	}
	if (r == 0) {
		hfd = openat(dfd, MEDFS_DIR_HEADER_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (hfd < 0)
			r = -errno;
	}
	pthread_rwlock_unlock(&v->ns_lock);
	free(vpath);
	/* Outside the namespace lock: a slow disk holds up no rename. */
	if (r == 0)
		r = sync_fd(hfd, datasync);
	if (r == 0)
		r = sync_fd(dfd, datasync);
	r = close_keep(hfd, r);
	return close_keep(dfd, r);
}

int medfs_vault_symlink(struct medfs_vault *v, const char *target, const char *path,
			const struct medfs_owner *o)
{
	struct loc *l;
	char *enc, *tmp;
	struct medfs_binding b;
	int r;

	if ((r = create_begin(v, path, &l, &tmp)) < 0)
		return r;
	if (!(enc = malloc(MEDFS_LINK_ENC_MAX))) {
		r = -ENOMEM;
		goto out;
	}
	loc_binding(l, &b);
	r = medfs_link_encrypt(enc, MEDFS_LINK_ENC_MAX, target, strlen(target),
			       v->keys->link, &b);
	if (r < 0)
		goto out;
	if (medfs_vpath_symlinkat(enc, v->tree_fd, tmp) < 0) {
		r = -errno;
		goto out;
	}
	r = publish_tmp(v, tmp, l, o, 0);
out:
	free(enc);
	return create_end(v, l, tmp, r);
}

/* ---- FIFOs and sockets: a name, a mode and an owner, no content ---- */

int medfs_vault_mknod(struct medfs_vault *v, const char *path, mode_t mode,
		      const struct medfs_owner *o)
{
	struct loc *l;
	char *tmp;
	int r;

	switch (mode & S_IFMT) {
	case S_IFIFO:
	case S_IFSOCK:
		break;
	case S_IFREG: {
		struct medfs_file *f;

		r = medfs_file_create(v, path, O_WRONLY | O_CREAT | O_EXCL, mode & 07777, o,
				      &f);
		medfs_file_release(f);
		return r;
	}
	case S_IFCHR:
	case S_IFBLK:
		return -EPERM;
	default:
		return -EINVAL;
	}
	if ((r = create_begin(v, path, &l, &tmp)) < 0)
		return r;
	if (medfs_vpath_mknodat(v->tree_fd, tmp, (mode & S_IFMT) | 0600, 0) < 0) {
		r = -errno;
		goto out;
	}
	/* The mode as asked, whatever the process umask. */
	r = medfs_vpath_fchmodat(v->tree_fd, tmp, mode & 07777, 0) < 0 ? -errno : 0;
	r = publish_tmp(v, tmp, l, o, r);
out:
	return create_end(v, l, tmp, r);
}

/* Reads and opens the target of the symlink at l into out. */
static int read_link(struct medfs_vault *v, const struct loc *l, char *out, size_t outsz)
{
	char *enc = malloc(MEDFS_LINK_ENC_MAX);
	struct medfs_binding b;
	ssize_t n;
	int r;

	if (!enc)
		return -ENOMEM;
	n = medfs_vpath_readlinkat(v->tree_fd, l->vpath, enc, MEDFS_LINK_ENC_MAX - 1);
	if (n < 0) {
		r = errno == EINVAL ? -EINVAL : -errno;
		goto out;
	}
	enc[n] = '\0';
	loc_binding(l, &b);
	r = medfs_link_decrypt(out, outsz, enc, n, v->keys->link, &b);
	if (r == -EBADMSG)
		report(v, l->vpath, NULL, -1,
		       "symlink target does not authenticate (moved, swapped or "
		       "modified)");
out:
	free(enc);
	return r;
}

int medfs_vault_readlink(struct medfs_vault *v, const char *path, char *buf, size_t size)
{
	struct loc *l;
	char *target;
	int r;

	if (size == 0)
		return -EINVAL;
	l = loc_new();
	target = malloc(MEDFS_LINK_MAX + 1);
	if (!l || !target) {
		r = -ENOMEM;
		goto out;
	}
	pthread_rwlock_rdlock(&v->ns_lock);
	r = resolve(v, path, l);
	if (r == 0)
		r = read_link(v, l, target, MEDFS_LINK_MAX + 1);
	pthread_rwlock_unlock(&v->ns_lock);
	if (r < 0)
		goto out;
	if ((size_t)r >= size)
		r = size - 1;
	memcpy(buf, target, r);
	buf[r] = '\0';
	r = 0;
out:
	free(target);
	loc_free(l);
	return r;
}

/* The set-user-ID bit, and the set-group-ID bit where group may execute,
 * of a regular file: what a write or a truncation would have to drop
 * (the driver tells the kernel it drops them itself, see the driver's
 * killpriv.h). A vault holds no programs to run with privileges, and
 * dropping them at a write would leave the kernel's cached mode stale:
 * regular files never get them (file_mode). */
static mode_t setid_bits(mode_t mode)
{
	mode_t bits = mode & S_ISUID;

	if ((mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
		bits |= S_ISGID;
	return S_ISREG(mode) ? bits : 0;
}

/* The permission bits a regular file gets for the mode asked. */
static mode_t file_mode(mode_t mode)
{
	return mode & 07777 & ~setid_bits(S_IFREG | (mode & 07777));
}

/* ---- simple attribute changes ---- */

typedef int (*loc_fn)(struct medfs_vault *v, const char *vpath, const void *arg);

static int with_path(struct medfs_vault *v, const char *path, loc_fn fn, const void *arg)
{
	struct loc *l;
	int r;

	if (is_root(path))
		return fn(v, "", arg);
	l = loc_new();
	if (!l)
		return -ENOMEM;
	pthread_rwlock_rdlock(&v->ns_lock);
	r = resolve(v, path, l);
	if (r == 0)
		r = fn(v, l->vpath, arg);
	pthread_rwlock_unlock(&v->ns_lock);
	loc_free(l);
	return r;
}

static int do_chmod(struct medfs_vault *v, const char *vpath, const void *arg)
{
	mode_t mode = *(const mode_t *)arg & 07777;
	struct stat st;

	if (mode != file_mode(mode)) {
		if (medfs_vpath_fstatat(v->tree_fd, vpath, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		if (S_ISREG(st.st_mode))
			mode = file_mode(mode);
	}
	if (medfs_vpath_fchmodat(v->tree_fd, vpath, mode, 0) < 0)
		return -errno;
	return 0;
}

static int do_chown(struct medfs_vault *v, const char *vpath, const void *arg)
{
	return set_owner(v, vpath, arg);
}

static int do_utimens(struct medfs_vault *v, const char *vpath, const void *arg)
{
	if (medfs_vpath_utimensat(v->tree_fd, vpath, arg, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

int medfs_vault_chmod(struct medfs_vault *v, const char *path, mode_t mode)
{
	return with_path(v, path, do_chmod, &mode);
}

int medfs_vault_chown(struct medfs_vault *v, const char *path, uid_t uid, gid_t gid)
{
	struct medfs_owner o = { uid, gid };

	return with_path(v, path, do_chown, &o);
}

int medfs_vault_utimens(struct medfs_vault *v, const char *path,
			const struct timespec tv[2])
{
	return with_path(v, path, do_utimens, tv);
}

int medfs_vault_statfs(struct medfs_vault *v, struct statvfs *st)
{
	if (fstatvfs(v->tree_fd, st) < 0)
		return -errno;
	st->f_namemax = MEDFS_NAME_MAX;
	return 0;
}

/* ---- regular files ---- */

/* Writes f's header with key (f->key unless the key is being changed) and
 * flags. */
static int header_write_key(struct medfs_file *f, const uint8_t *key, uint16_t flags)
{
	uint8_t hdr[MEDFS_HEADER_LEN];
	struct medfs_binding b = { .name = f->name, .name_len = f->name_len };
	int r;

	memcpy(b.parent_id, f->parent_id, sizeof(b.parent_id));
	r = medfs_header_seal_flags(hdr, f->id, key, f->size, flags, f->v->keys->header,
				    &b, NULL);
	if (r < 0)
		return r;
	return medfs_pwrite_full(f->fd, hdr, sizeof(hdr), 0);
}

static int header_write(struct medfs_file *f)
{
	return header_write_key(f, f->key, f->flags);
}

/* Reads and opens the header of the vault file open at fd; its flags go
 * to *flags when flags is not NULL. A vault file longer than the header
 * says is read at the header's size (the size is authenticated: what lies
 * past it is the unsynced part of an extension cut by a crash, doc/FORMAT.md
 * 12.1): *grown (when not NULL) tells. A shorter one is EIO. */
static int header_read(struct medfs_vault *v, int fd, const char *vpath,
		       const struct medfs_binding *b, uint8_t id[MEDFS_FILE_ID_LEN],
		       uint8_t *key, uint64_t *size, uint16_t *flags, bool *grown)
{
	uint8_t hdr[MEDFS_HEADER_LEN];
	uint16_t fl;
	struct stat st;
	ssize_t n;
	int r;

	if (fstat(fd, &st) < 0)
		return -errno;
	n = medfs_pread_full(fd, hdr, sizeof(hdr), 0);
	if (n < 0)
		return n;
	if (n != sizeof(hdr)) {
		report(v, vpath, NULL, 0, "file header truncated");
		return -EBADMSG;
	}
	r = medfs_header_open_flags(hdr, id, key, size, &fl, v->keys->header, b);
	if (flags)
		*flags = fl;
	if (r == -EBADMSG) {
		report(v, vpath, NULL, 0,
		       "file header does not authenticate (moved, renamed, swapped or "
		       "modified)");
		return r;
	}
	if (r < 0)
		return r;
	if (*size > MEDFS_FILE_SIZE_MAX || (uint64_t)st.st_size < medfs_disk_size(*size)) {
		sodium_memzero(key, MEDFS_KEY_LEN);
		report(v, vpath, NULL, (int64_t)st.st_size,
		       "file length does not match its header (truncated)");
		return -EBADMSG;
	}
	if ((uint64_t)st.st_size > medfs_disk_size(*size) &&
	    (!grown || !atomic_load_explicit(&v->careful, memory_order_relaxed))) {
		/* Only a crash or a failed change makes it, and they leave
		 * the vault careful: otherwise bytes appended behind medfs's
		 * back, which the length would show as zeros. */
		sodium_memzero(key, MEDFS_KEY_LEN);
		report(v, vpath, NULL, (int64_t)st.st_size,
		       "file length does not match its header (extended)");
		return -EBADMSG;
	}
	if (grown)
		*grown = (uint64_t)st.st_size > medfs_disk_size(*size);
	return 0;
}

static struct medfs_file **files_slot(struct medfs_vault *v, dev_t dev, ino_t ino)
{
	return &v->files[(ino ^ (dev << 7)) % FILES_BUCKETS];
}

static struct medfs_file *files_find(struct medfs_vault *v, dev_t dev, ino_t ino)
{
	for (struct medfs_file *f = *files_slot(v, dev, ino); f; f = f->next)
		if (f->dev == dev && f->ino == ino)
			return f;
	return NULL;
}

static uint8_t *key_get(struct medfs_vault *v)
{
	struct key_slab *s;
	uint8_t *k = NULL;

	pthread_mutex_lock(&v->keys_lock);
	for (s = v->slabs; s && s->n == SLAB_KEYS; s = s->next)
		;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (s)
			s->mem = medfs_secret_alloc(SLAB_KEYS * MEDFS_KEY_LEN);
		if (!s || !s->mem) {
			free(s);
			goto out;
		}
		s->next = v->slabs;
		v->slabs = s;
	}
	for (unsigned int w = 0; w < SLAB_KEYS / 64; w++) {
		if (s->used[w] == UINT64_MAX)
			continue;
		unsigned int b = __builtin_ctzll(~s->used[w]);

		s->used[w] |= UINT64_C(1) << b;
		s->n++;
		k = s->mem + (w * 64 + b) * MEDFS_KEY_LEN;
		break;
	}
out:
	pthread_mutex_unlock(&v->keys_lock);
	return k;
}

static void key_put(struct medfs_vault *v, uint8_t *k)
{
	if (!k)
		return;
	sodium_memzero(k, MEDFS_KEY_LEN);
	pthread_mutex_lock(&v->keys_lock);
	for (struct key_slab *s = v->slabs; s; s = s->next) {
		if (k >= s->mem && k < s->mem + SLAB_KEYS * MEDFS_KEY_LEN) {
			size_t i = (size_t)(k - s->mem) / MEDFS_KEY_LEN;

			s->used[i / 64] &= ~(UINT64_C(1) << (i % 64));
			s->n--;
			break;
		}
	}
	pthread_mutex_unlock(&v->keys_lock);
}

static void file_free(struct medfs_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	key_put(f->v, f->key);
	key_put(f->v, f->prev);
	free(f->holes);
	pthread_rwlock_destroy(&f->lock);
	sodium_memzero(f->name, sizeof(f->name));
	free(f->vpath);
	free(f);
}

static struct medfs_file *file_new(struct medfs_vault *v, const struct loc *l)
{
	struct medfs_file *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->vpath = strdup(l->vpath);
	f->key = f->vpath ? key_get(v) : NULL;
	if (!f->key) {
		free(f->vpath);
		free(f);
		return NULL;
	}
	f->v = v;
	f->fd = -1;
	f->refs = 1;
	pthread_rwlock_init(&f->lock, NULL);
	memcpy(f->parent_id, l->dir_id, sizeof(f->parent_id));
	memcpy(f->name, l->name, l->name_len);
	f->name[l->name_len] = '\0';
	f->name_len = l->name_len;
	return f;
}

/* Whether the open object f is the one that may be served at l: its header
 * is bound to l's directory and name. Open objects are found by inode, and
 * every rename through the vault rebinds the open object it moves (under
 * the namespace lock, which callers hold), so a mismatch means the vault
 * file was linked or renamed behind the vault's back. */
static bool file_bound_to(const struct medfs_file *f, const struct loc *l)
{
	return f->name_len == l->name_len &&
	       memcmp(f->parent_id, l->dir_id, sizeof(f->parent_id)) == 0 &&
	       memcmp(f->name, l->name, l->name_len) == 0;
}

/* ---- file keys across rotations (doc/FORMAT.md, 4.4) ----
 *
 * A rotation without re-encryption marks every file header STALE: its key
 * was drawn before the rotation, so whoever held the vault key then may
 * know it. The first write after that gives the file a new key: the old
 * one goes, sealed under the current vault key, into the vault xattr
 * MEDFS_PREV_XATTR and the header is flagged PREV, so that the blocks not
 * rewritten since still open. A file that is STALE and PREV at once has
 * blocks under two keys that both predate the rotation: they are folded
 * under the current one first (in place; each block opens under one of
 * the two keys at every moment), so that a file never needs more than two
 * keys. */
/* Loads the previous key of f (flagged PREV). One that is missing or does
 * not authenticate is reported: the file opens, its blocks under that key
 * read as EIO. Returns 0 or -ENOMEM. */
static int prev_load(struct medfs_file *f)
{
	uint8_t sealed[MEDFS_PREV_LEN + 1];
	ssize_t n = fgetxattr(f->fd, MEDFS_PREV_XATTR, sealed, sizeof(sealed));

	f->prev = key_get(f->v);
	if (!f->prev)
		return -ENOMEM;
	if (n < 0 ||
	    medfs_prev_open(f->prev, sealed, (size_t)n, f->id, f->v->keys->xattr) < 0) {
		key_put(f->v, f->prev);
		f->prev = NULL;
		report(f->v, f->vpath, NULL, -1,
		       "previous file key missing or does not authenticate");
	}
	return 0;
}

/* Stores key as the previous key of f, durably (before any header that
 * needs it). Returns 0 or -errno. */
static int prev_store(struct medfs_file *f, const uint8_t key[MEDFS_KEY_LEN])
{
	uint8_t sealed[MEDFS_PREV_LEN];

	medfs_prev_seal(sealed, key, f->id, f->v->keys->xattr, NULL);
	if (fsetxattr(f->fd, MEDFS_PREV_XATTR, sealed, sizeof(sealed), 0) < 0 ||
	    fsync(f->fd) < 0)
		return -errno;
	return 0;
}

/* Opens block index of f (sealed_len bytes) under its key, else under its
 * previous key. Returns as medfs_block_open. */
static int file_block_open(const struct medfs_file *f, uint8_t *plain,
			   const uint8_t *sealed, size_t sealed_len, uint64_t index)
{
	int r = medfs_block_open(plain, sealed, sealed_len, f->v->cipher, f->key, f->id,
				 index);

	if (r == -EBADMSG && f->prev)
		r = medfs_block_open(plain, sealed, sealed_len, f->v->cipher, f->prev,
				     f->id, index);
	return r;
}

static size_t block_len(uint64_t size, uint64_t index);

/* ---- holes (doc/FORMAT.md, 11) ----
 *
 * A file flagged MEDFS_HEADER_HOLES has a hole map: the blocks it names
 * have no bytes in the vault (the vault file is sparse there) and read as
 * zeros; every other block must authenticate. f->holes is the map, kept
 * in memory while the file is open and stored (sealed under the file key)
 * before the header of any change that needs it. */
static bool is_hole(const struct medfs_file *f, uint64_t index)
{
	return f->holes && f->holes->n && medfs_holes_has(f->holes, index);
}

static uint64_t nblocks_of(uint64_t size)
{
	return (size + MEDFS_BLOCK_SIZE - 1) / MEDFS_BLOCK_SIZE;
}

/* Drops the holes of f at or past block nblocks. The map in memory
 * is then not the stored one: stale runs would make blocks written past
 * the end later read as holes. */
static void holes_clip(struct medfs_file *f, uint64_t nblocks)
{
	uint32_t n;
	uint64_t end;

	if (!f->holes || !f->holes->n)
		return;
	n = f->holes->n;
	end = f->holes->run[n - 1].end;
	medfs_holes_clip(f->holes, nblocks);
	if (f->holes->n != n || f->holes->run[n - 1].end != end)
		f->holes_dirty = true;
}

/* Loads the hole map of f (flagged HOLES), sealed under its key or its
 * previous key. One that is missing or does not authenticate is reported:
 * the file does not open. Returns 0 or -errno. */
static int holes_load(struct medfs_file *f)
{
	uint8_t sealed[MEDFS_HOLES_SEALED_MAX + 1];
	ssize_t n = fgetxattr(f->fd, MEDFS_HOLES_XATTR, sealed, sizeof(sealed));
	int r = -EBADMSG;

	f->holes = malloc(sizeof(*f->holes));
	if (!f->holes)
		return -ENOMEM;
	f->holes->n = 0;
	if (n < 0 && errno != ENODATA)
		return -errno; /* the disk's error, not the map's */
	if (n > 0) {
		r = medfs_holes_open(f->holes, sealed, (size_t)n, f->v->cipher, f->key,
				     f->id);
		if (r == -EBADMSG && f->prev)
			r = medfs_holes_open(f->holes, sealed, (size_t)n, f->v->cipher,
					     f->prev, f->id);
	}
	if (r == -EBADMSG || r == -EPROTONOSUPPORT) {
		/* A map of another version fails as one that does not open. */
		report(f->v, f->vpath, NULL, -1,
		       "hole map missing or does not authenticate");
		r = -EBADMSG;
	}
	if (r < 0)
		return r;
	/* Runs past the end are left by a change that failed after
	 * storing its map: they mean nothing (and go with the next store). */
	holes_clip(f, nblocks_of(f->size));
	return 0;
}

/* Stores f's hole map sealed under key. Returns 0 or -errno. */
static int holes_store(struct medfs_file *f, const uint8_t *key)
{
	uint8_t sealed[MEDFS_HOLES_SEALED_MAX];
	int n = medfs_holes_seal(sealed, f->holes, f->v->cipher, key, f->id);

	if (n < 0)
		return n;
	if (fsetxattr(f->fd, MEDFS_HOLES_XATTR, sealed, (size_t)n, 0) < 0)
		return -errno;
	f->holes_dirty = false;
	return 0;
}

/* Makes blocks [start, end) of f holes. Returns 0 or -errno. */
static int holes_add(struct medfs_file *f, uint64_t start, uint64_t end)
{
	int r;

	if (!f->holes) {
		f->holes = calloc(1, sizeof(*f->holes));
		if (!f->holes)
			return -ENOMEM;
	}
	r = medfs_holes_add(f->holes, start, end);
	if (r == 0) {
		f->holes_dirty = true;
		f->flags |= MEDFS_HEADER_HOLES;
	}
	return r;
}

/* Blocks [start, end) of f were written. Returns 0 or -errno. */
static int holes_written(struct medfs_file *f, uint64_t start, uint64_t end)
{
	int r;

	if (!f->holes || !f->holes->n)
		return 0;
	r = medfs_holes_remove(f->holes, start, end);
	if (r > 0)
		f->holes_dirty = true;
	return r < 0 ? r : 0;
}

/* Reseals, in place, every block of f that opens only under its previous
 * key under its key. Blocks that open under neither stay as they are.
 * Caller holds f->lock alone. Returns 0 or -errno. */
static int fold(struct medfs_file *f)
{
	uint64_t nblocks = (f->size + MEDFS_BLOCK_SIZE - 1) / MEDFS_BLOCK_SIZE;
	uint8_t sealed[MEDFS_BLOCK_DISK_SIZE], plain[MEDFS_BLOCK_SIZE];
	int r = 0;

	for (uint64_t i = 0; i < nblocks && r == 0; i++) {
		size_t len = block_len(f->size, i) + MEDFS_BLOCK_OVERHEAD;
		ssize_t n;

		if (is_hole(f, i))
			continue;
		n = medfs_pread_full(f->fd, sealed, len, medfs_block_disk_offset(i));
		if (n < 0) {
			r = (int)n;
			break;
		}
		if ((size_t)n != len || !f->prev ||
		    medfs_block_open(plain, sealed, len, f->v->cipher, f->key, f->id,
				     i) >= 0 ||
		    medfs_block_open(plain, sealed, len, f->v->cipher, f->prev, f->id,
				     i) < 0)
			continue;
		r = medfs_block_seal(sealed, plain, len - MEDFS_BLOCK_OVERHEAD,
				     f->v->cipher, f->key, f->id, i);
		if (r > 0)
			r = medfs_pwrite_full(f->fd, sealed, len, medfs_block_disk_offset(i));
	}
	sodium_memzero(plain, sizeof(plain));
	if (r == 0 && fsync(f->fd) < 0)
		r = -errno;
	return r;
}

/* Before the first change to a STALE file: a new file key, the current
 * one kept as the previous key (section 4.4 of doc/FORMAT.md). O(1) but
 * for a file that was already PREV (fold). Caller holds f->lock alone.
 * Returns 0 or -errno. */
static int rekey(struct medfs_file *f)
{
	uint8_t *fresh, *prev;
	int r;

	if (!(f->flags & MEDFS_HEADER_STALE))
		return 0;
	fresh = key_get(f->v);
	if (!fresh)
		return -ENOMEM;
	randombytes_buf(fresh, MEDFS_KEY_LEN);
	if (f->size == 0) {
		/* No block to keep: a new key and nothing else. */
		r = header_write_key(f, fresh, 0);
		if (r == 0) {
			if (fremovexattr(f->fd, MEDFS_PREV_XATTR) < 0 && errno != ENODATA)
				report(f->v, f->vpath, NULL, -1,
				       "previous file key could not be removed");
			key_put(f->v, f->prev);
			f->prev = NULL;
		}
		goto out;
	}
	if ((f->flags & MEDFS_HEADER_PREV) && (r = fold(f)) < 0)
		goto out;
	/* A slot of its own until the header is written: a slot left in
	 * f->prev by a failure would hold no secret (zeros, or fresh memory),
	 * and every block would also open under it. */
	if (!(prev = f->prev ? f->prev : key_get(f->v))) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = prev_store(f, f->key)) < 0 ||
	    (r = header_write_key(
		     f, fresh, MEDFS_HEADER_PREV | (f->flags & MEDFS_HEADER_HOLES))) < 0) {
		if (prev != f->prev)
			key_put(f->v, prev);
		goto out;
	}
	memcpy(prev, f->key, MEDFS_KEY_LEN);
	f->prev = prev;
	/* Until this lands, the map opens under the previous key. The header
	 * that knows the new key goes to disk first: an xattr may reach it
	 * before a write does, and a map under a key that the header on disk
	 * does not know fails the whole file (tests/crash, workload rekey). */
	if ((f->flags & MEDFS_HEADER_HOLES) && sync_fd(f->fd, 1) == 0)
		(void)holes_store(f, fresh);
out:
	if (r == 0) {
		memcpy(f->key, fresh, MEDFS_KEY_LEN);
		f->flags = f->size == 0
				   ? 0
				   : MEDFS_HEADER_PREV | (f->flags & MEDFS_HEADER_HOLES);
	}
	key_put(f->v, fresh);
	return r;
}

static bool wants_write(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

/* Takes a reference on the object of the vault file open at fd (which it
 * consumes), creating it from the header when it is not open yet. */
static int file_get(struct medfs_vault *v, int fd, bool writable, const struct loc *l,
		    struct medfs_file **out)
{
	struct medfs_binding b;
	struct medfs_file *f;
	struct stat st;
	int r = 0;

	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	}
	pthread_mutex_lock(&v->files_lock);
	f = files_find(v, st.st_dev, st.st_ino);
	if (f && !file_bound_to(f, l)) {
		/* Its vault file was linked or renamed over l's outside the
		 * mount: what it holds is not l's. */
		close(fd);
		f = NULL;
		r = -EBADMSG;
		report(v, l->vpath, NULL, 0,
		       "vault file of an open file is bound elsewhere (hard-linked or "
		       "renamed in the vault)");
		goto out;
	}
	if (f) {
		f->refs++;
		if (writable && !f->writable) {
			/* Readers may be using the old descriptor: swap it
			 * under the object's lock. */
			pthread_rwlock_wrlock(&f->lock);
			if (dup3(fd, f->fd, O_CLOEXEC) < 0)
				r = -errno; /* the old, read-only one stays */
			else
				f->writable = true;
			pthread_rwlock_unlock(&f->lock);
		}
		close(fd);
		if (r < 0) {
			f->refs--;
			f = NULL;
		}
		goto out;
	}
	f = file_new(v, l);
	if (!f) {
		close(fd);
		r = -ENOMEM;
		goto out;
	}
	f->fd = fd;
	f->writable = writable;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	atomic_init(&f->setid, setid_bits(st.st_mode) != 0);
	loc_binding(l, &b);
	r = header_read(v, fd, l->vpath, &b, f->id, f->key, &f->size, &f->flags,
			&f->grown);
	if (r == 0 && (f->flags & MEDFS_HEADER_PREV))
		r = prev_load(f);
	if (r == 0 && (f->flags & MEDFS_HEADER_HOLES))
		r = holes_load(f);
	if (r < 0) {
		file_free(f);
		f = NULL;
		goto out;
	}
	f->next = *files_slot(v, f->dev, f->ino);
	*files_slot(v, f->dev, f->ino) = f;
out:
	pthread_mutex_unlock(&v->files_lock);
	*out = f;
	return r;
}

void medfs_file_release(struct medfs_file *f)
{
	struct medfs_vault *v;

	if (!f)
		return;
	v = f->v;
	pthread_mutex_lock(&v->files_lock);
	if (--f->refs > 0) {
		pthread_mutex_unlock(&v->files_lock);
		return;
	}
	for (struct medfs_file **p = files_slot(v, f->dev, f->ino); *p; p = &(*p)->next) {
		if (*p == f) {
			*p = f->next;
			break;
		}
	}
	pthread_mutex_unlock(&v->files_lock);
	file_free(f);
}

/* Opens a vault file without touching its atime: reading a header at open
 * is not a read of the file. O_NOATIME needs ownership or CAP_FOWNER. */
static int openat_noatime(int root, const char *vpath, int flags)
{
	int fd = medfs_vpath_openat(root, vpath, flags | O_NOATIME, 0);

	if (fd < 0 && errno == EPERM)
		fd = medfs_vpath_openat(root, vpath, flags, 0);
	return fd;
}

/* In careful mode (after an unclean end, include/medfs/settle.h), the
 * size of a regular file (its vault file entry at dirfd, bound to b, its
 * stat in st) is its header's, not its vault file's length: a file grown
 * by an extension cut by a crash before its header is longer
 * (doc/FORMAT.md 12.3). An open file's size, else the header's, read
 * here without a report: a header that does not open leaves the size from
 * the length, and the open says EIO. */
static void header_size(struct medfs_vault *v, int dirfd, const char *entry,
			const struct medfs_binding *b, struct stat *st)
{
	uint8_t hdr[MEDFS_HEADER_LEN], id[MEDFS_FILE_ID_LEN];
	struct medfs_file *f;
	uint64_t size;
	uint16_t flags;
	uint8_t *key;
	int fd;

	if (!atomic_load_explicit(&v->careful, memory_order_relaxed))
		return;
	pthread_mutex_lock(&v->files_lock);
	f = files_find(v, st->st_dev, st->st_ino);
	if (f && f->name_len == b->name_len &&
	    memcmp(f->parent_id, b->parent_id, sizeof(f->parent_id)) == 0 &&
	    memcmp(f->name, b->name, b->name_len) == 0) {
		/* Not f->lock under files_lock: a long write holds it. */
		f->refs++;
		pthread_mutex_unlock(&v->files_lock);
		pthread_rwlock_rdlock(&f->lock);
		st->st_size = (off_t)f->size;
		pthread_rwlock_unlock(&f->lock);
		medfs_file_release(f);
		return;
	}
	pthread_mutex_unlock(&v->files_lock);
	/* O_NONBLOCK: an entry swapped for a FIFO must not hang the open
	 * under the namespace lock (regular files ignore it). */
	fd = openat_noatime(dirfd, entry, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	key = key_get(v);
	if (key && medfs_pread_full(fd, hdr, sizeof(hdr), 0) == (ssize_t)sizeof(hdr) &&
	    medfs_header_open_flags(hdr, id, key, &size, &flags, v->keys->header, b) == 0 &&
	    size <= MEDFS_FILE_SIZE_MAX) {
		struct stat now;

		if (fstat(fd, &now) == 0 && (uint64_t)now.st_size >= medfs_disk_size(size))
			st->st_size = (off_t)size;
	}
	if (key)
		key_put(v, key);
	close(fd);
}

void medfs_vault_set_careful(struct medfs_vault *v, bool careful)
{
	atomic_store(&v->careful, careful);
}

bool medfs_vault_is_careful(struct medfs_vault *v)
{
	return atomic_load(&v->careful);
}

unsigned medfs_vault_grown_changes(struct medfs_vault *v)
{
	return atomic_load(&v->grown_changes);
}

static int open_vault_file(struct medfs_vault *v, const char *vpath, int flags,
			   bool *writable)
{
	int fd = openat_noatime(v->tree_fd, vpath, O_RDWR | O_NOFOLLOW | O_CLOEXEC);

	*writable = true;
	if (fd < 0 && errno == EACCES && !wants_write(flags)) {
		fd = openat_noatime(v->tree_fd, vpath,
				    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		*writable = false;
	}
	if (fd < 0)
		return errno == ELOOP ? -EINVAL : -errno;
	return fd;
}

/* A file opened to be read and written in place (a database, an index)
 * gets its writes at any block: a block is 4,136 bytes on disk, so most
 * straddle two pages of the vault file, which the kernel must read before
 * it can write part of them, one synchronous read at a time. At the first
 * such open a thread reads the whole vault file ahead, in the order of the
 * file (POSIX_FADV_WILLNEED alone reads only the first few hundred KiB).
 * Up to a sixteenth of the memory; files opened for reading, or created
 * and written in order, are left alone. */
#define WARM_STEP (4 << 20)

struct warm_job {
	int fd; /* a dup of the file's: the file may be closed meanwhile */
	uint64_t size;
};

static void *warm_main(void *arg)
{
	struct warm_job *w = arg;

	for (uint64_t off = 0; off < w->size; off += WARM_STEP)
		if (readahead(w->fd, (off64_t)off, WARM_STEP) < 0)
			break;
	close(w->fd);
	free(w);
	return NULL;
}

static void warm(struct medfs_file *f, int flags)
{
	struct warm_job *w;
	pthread_attr_t attr;
	pthread_t t;
	uint64_t size, limit;
	bool no = false;

	if ((flags & O_ACCMODE) != O_RDWR || (flags & O_TRUNC) || atomic_load(&f->warmed))
		return;
	limit = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE) / 16;
	size = medfs_disk_size(medfs_file_size(f));
	if (size <= MEDFS_HEADER_LEN + MEDFS_BLOCK_DISK_SIZE || size > limit ||
	    !atomic_compare_exchange_strong(&f->warmed, &no, true))
		return;
	w = malloc(sizeof(*w));
	if (!w)
		return;
	w->size = size;
	w->fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 0);
	if (w->fd < 0 || pthread_attr_init(&attr) != 0) {
		if (w->fd >= 0)
			close(w->fd);
		free(w);
		return;
	}
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (medfs_thread_start(&t, &attr, warm_main, w) != 0) {
		close(w->fd);
		free(w);
	}
	pthread_attr_destroy(&attr);
}

static int open_at_loc(struct medfs_vault *v, const struct loc *l, int flags,
		       struct medfs_file **out)
{
	bool writable;
	int fd, r;

	fd = open_vault_file(v, l->vpath, flags, &writable);
	if (fd < 0)
		return fd;
	r = file_get(v, fd, writable, l, out);
	if (r < 0)
		return r;
	warm(*out, flags);
	if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY) {
		r = medfs_file_truncate(*out, 0);
		if (r < 0) {
			medfs_file_release(*out);
			*out = NULL;
		}
	}
	return r;
}

int medfs_file_open(struct medfs_vault *v, const char *path, int flags,
		    struct medfs_file **out)
{
	struct loc *l;
	int r;

	*out = NULL;
	if (is_root(path))
		return -EISDIR;
	l = loc_new();
	if (!l)
		return -ENOMEM;
	pthread_rwlock_rdlock(&v->ns_lock);
	r = resolve(v, path, l);
	if (r == 0)
		r = open_at_loc(v, l, flags, out);
	pthread_rwlock_unlock(&v->ns_lock);
	loc_free(l);
	return r;
}

static void files_insert(struct medfs_vault *v, struct medfs_file *f)
{
	pthread_mutex_lock(&v->files_lock);
	f->next = *files_slot(v, f->dev, f->ino);
	*files_slot(v, f->dev, f->ino) = f;
	pthread_mutex_unlock(&v->files_lock);
}

static void files_remove(struct medfs_vault *v, struct medfs_file *f)
{
	pthread_mutex_lock(&v->files_lock);
	for (struct medfs_file **p = files_slot(v, f->dev, f->ino); *p; p = &(*p)->next) {
		if (*p == f) {
			*p = f->next;
			break;
		}
	}
	pthread_mutex_unlock(&v->files_lock);
}

int medfs_file_create(struct medfs_vault *v, const char *path, int flags, mode_t mode,
		      const struct medfs_owner *o, struct medfs_file **out)
{
	struct loc *l;
	struct medfs_file *f = NULL;
	char *tmp;
	bool listed = false;
	struct stat st;
	int r, fd;

	*out = NULL;
	if ((r = create_begin(v, path, &l, &tmp)) < 0)
		return r;
	fd = medfs_vpath_openat(v->tree_fd, tmp,
				O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	f = file_new(v, l);
	if (!f) {
		r = -ENOMEM;
		goto fail;
	}
	f->fd = fd;
	f->writable = true;
	randombytes_buf(f->id, sizeof(f->id));
	randombytes_buf(f->key, MEDFS_KEY_LEN);
	/* The mode as asked, whatever the process umask. */
	if (fchmod(fd, file_mode(mode)) < 0 || fstat(fd, &st) < 0) {
		r = -errno;
		goto fail;
	}
	if ((r = header_write(f)) < 0 || (r = set_owner(v, tmp, o)) < 0 ||
	    (r = sidecar_write(v, l)) < 0)
		goto fail;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	atomic_init(&f->setid, setid_bits(st.st_mode) != 0);
	/* Listed before it gets its name, so that an open racing with this
	 * create finds this object rather than making a second one. */
	files_insert(v, f);
	listed = true;
	if (medfs_vpath_renameat2(v->tree_fd, tmp, l->vpath, RENAME_NOREPLACE) < 0) {
		r = -errno;
		if (r == -EEXIST && !(flags & O_EXCL)) {
			files_remove(v, f);
			file_free(f);
			medfs_vpath_unlinkat(v->tree_fd, tmp, 0);
			r = open_at_loc(v, l, flags, out);
			goto out;
		}
		goto fail;
	}
	*out = f;
	goto out;
fail:
	if (r != -EEXIST)
		sidecar_remove(v, l);
	medfs_vpath_unlinkat(v->tree_fd, tmp, 0);
	if (listed)
		files_remove(v, f);
	if (f)
		file_free(f);
	else
		close(fd);
out:
	return create_end(v, l, tmp, r);
}

uint64_t medfs_file_size(struct medfs_file *f)
{
	uint64_t size;

	pthread_rwlock_rdlock(&f->lock);
	size = f->size;
	pthread_rwlock_unlock(&f->lock);
	return size;
}

int medfs_file_getattr(struct medfs_file *f, struct stat *st)
{
	int r = 0;

	pthread_rwlock_rdlock(&f->lock);
	if (fstat(f->fd, st) < 0)
		r = -errno;
	else
		st->st_size = f->size;
	pthread_rwlock_unlock(&f->lock);
	return r;
}

static size_t block_len(uint64_t size, uint64_t index)
{
	uint64_t start = index * MEDFS_BLOCK_SIZE;

	if (start >= size)
		return 0;
	return size - start >= MEDFS_BLOCK_SIZE ? MEDFS_BLOCK_SIZE : size - start;
}

/* Opens the partial last block of a grown file (index, at the header's
 * size) as the extension left it: resealed longer, at the length the vault
 * file holds (up to a whole block). out gets MEDFS_BLOCK_SIZE bytes; only
 * block_len(f->size, index) of them are the file's. Returns 0 or -EBADMSG. */
static int open_tail(const struct medfs_file *f, uint64_t index, uint8_t *out)
{
	uint8_t sealed[MEDFS_BLOCK_DISK_SIZE];
	size_t blen = block_len(f->size, index);
	ssize_t got;

	if (!f->grown || blen == MEDFS_BLOCK_SIZE || index != f->size / MEDFS_BLOCK_SIZE)
		return -EBADMSG;
	got = medfs_pread_full(f->fd, sealed, sizeof(sealed), medfs_block_disk_offset(index));
	if (got <= (ssize_t)(blen + MEDFS_BLOCK_OVERHEAD) ||
	    file_block_open(f, out, sealed, (size_t)got, index) < 0)
		return -EBADMSG;
	return 0;
}

static int block_fail(struct medfs_file *f, uint64_t index)
{
	report(f->v, f->vpath, NULL, (int64_t)medfs_block_disk_offset(index),
	       "block does not authenticate (modified, moved, replaced or zeroed)");
	return -EBADMSG;
}

/* The blocks of one chunk, opened or sealed in slices (see parallel.h):
 * at least this many blocks (128 KiB) per slice. */
#define SLICE_BLOCKS 32
/* A slice of a write goes to the vault file this many blocks at a time. */
#define BATCH_BLOCKS 32

/* Lowest index in *at, atomically. */
static void note_bad(_Atomic uint64_t *at, uint64_t index)
{
	uint64_t cur = atomic_load(at);

	while (index < cur && !atomic_compare_exchange_weak(at, &cur, index))
		;
}

/* One chunk of a read: blocks c.. of f into out (the caller's buffer,
 * which starts at plaintext offset off and ends at end). Each slice reads
 * its own sealed blocks, so the copy out of the vault file is shared
 * between the threads and the helpers start at once. */
struct open_job {
	struct medfs_file *f;
	uint8_t *out;
	uint64_t c, off, end;
	_Atomic uint64_t bad; /* lowest block that failed; UINT64_MAX: none */
	atomic_int err;	      /* a read error, or ENOMEM */
};

static void open_slice(void *arg, size_t from, size_t to)
{
	struct open_job *j = arg;
	struct medfs_file *f = j->f;
	uint64_t a = j->c + from, b = j->c + to - 1;
	size_t disk_len = medfs_block_disk_offset(b) - medfs_block_disk_offset(a) +
			  block_len(f->size, b) + MEDFS_BLOCK_OVERHEAD;
	uint8_t *sealed = thread_buf(disk_len);
	uint8_t tmp[MEDFS_BLOCK_SIZE];
	ssize_t n;

	if (!sealed) {
		atomic_store(&j->err, -ENOMEM);
		return;
	}
	if (f->holes && f->holes->n && medfs_holes_covers(f->holes, a, b + 1)) {
		/* All holes: nothing to read. */
		uint64_t lo =
			a * MEDFS_BLOCK_SIZE < j->off ? j->off : a * MEDFS_BLOCK_SIZE;
		uint64_t hi = (b + 1) * MEDFS_BLOCK_SIZE < j->end
				      ? (b + 1) * MEDFS_BLOCK_SIZE
				      : j->end;

		memset(j->out + (lo - j->off), 0, hi - lo);
		return;
	}
	n = medfs_pread_full(f->fd, sealed, disk_len, medfs_block_disk_offset(a));
	if (n < 0) {
		atomic_store(&j->err, (int)n);
		return;
	}
	if ((size_t)n != disk_len) {
		/* The vault file ends inside this slice. */
		note_bad(&j->bad, a + (size_t)n / MEDFS_BLOCK_DISK_SIZE);
		b = a + (size_t)n / MEDFS_BLOCK_DISK_SIZE;
		if (b == a)
			return;
		b--;
	}
	for (uint64_t i = a; i <= b; i++) {
		size_t blen = block_len(f->size, i);
		const uint8_t *s = sealed + (i - a) * MEDFS_BLOCK_DISK_SIZE;
		uint64_t bstart = i * MEDFS_BLOCK_SIZE;
		uint64_t lo = bstart < j->off ? j->off : bstart;
		uint64_t hi = bstart + blen < j->end ? bstart + blen : j->end;

		bool whole = lo == bstart && hi == bstart + blen;

		if (is_hole(f, i)) {
			memset(j->out + (lo - j->off), 0, hi - lo);
		} else if (whole && file_block_open(f, j->out + (bstart - j->off), s,
						    blen + MEDFS_BLOCK_OVERHEAD, i) >= 0) {
			continue;
		} else if ((!whole && file_block_open(f, tmp, s,
						      blen + MEDFS_BLOCK_OVERHEAD, i) >= 0) ||
			   open_tail(f, i, tmp) == 0) {
			memcpy(j->out + (lo - j->off), tmp + (lo - bstart), hi - lo);
		} else {
			note_bad(&j->bad, i);
		}
	}
	sodium_memzero(tmp, sizeof(tmp));
}

ssize_t medfs_file_read(struct medfs_file *f, void *buf, size_t size, off_t off)
{
	struct open_job j = { .f = f, .out = buf };
	uint64_t end, first, last;
	ssize_t r;

	if (off < 0)
		return -EINVAL;
	pthread_rwlock_rdlock(&f->lock);
	if ((uint64_t)off >= f->size || size == 0) {
		r = 0;
		goto out;
	}
	end = (uint64_t)off + size;
	if (end > f->size)
		end = f->size;
	first = off / MEDFS_BLOCK_SIZE;
	last = (end - 1) / MEDFS_BLOCK_SIZE;
	r = end - off;
	j.off = (uint64_t)off;
	j.end = end;
	/* A chunk at a time, so that no thread's buffer outgrows one. */
	for (uint64_t c = first; c <= last; c += CHUNK_BLOCKS) {
		uint64_t c_last =
			c + CHUNK_BLOCKS - 1 < last ? c + CHUNK_BLOCKS - 1 : last;
		int err;

		j.c = c;
		atomic_store(&j.bad, UINT64_MAX);
		atomic_store(&j.err, 0);
		medfs_parallel_for(c_last - c + 1, SLICE_BLOCKS, open_slice, &j);
		if ((err = atomic_load(&j.err)) < 0) {
			r = err;
			goto out;
		}
		/* Reported here, on the caller's thread, where the journal
		 * knows who asked. */
		if (atomic_load(&j.bad) != UINT64_MAX) {
			r = block_fail(f, atomic_load(&j.bad));
			goto out;
		}
	}
out:
	pthread_rwlock_unlock(&f->lock);
	if (r < 0 && r != -ENOMEM && size)
		sodium_memzero(buf, size);
	return r;
}

/* One chunk of a write: blocks first..last sealed into sealed, block i at
 * (i - first) * MEDFS_BLOCK_DISK_SIZE (only the file's last block is
 * shorter, and it is the chunk's last), written to the vault file a batch
 * at a time as the slices seal them. The old content a partial write keeps
 * (of the chunk's first and last block only) is opened before any slice
 * starts: a block that fails leaves the chunk as it was. */
struct seal_job {
	struct medfs_file *f;
	const uint8_t *data; /* NULL: zeros */
	uint64_t data_off;   /* plaintext offset of data[0] */
	uint64_t off, c_end; /* the chunk's bytes to write */
	uint64_t first, last, new_size;
	uint8_t *sealed;
	const uint8_t (*nonces)[MEDFS_BLOCK_NONCE_LEN];
	const uint8_t *old[2]; /* plaintext kept of first and last, or NULL */
	atomic_int err;
};

/* The part of block i that the chunk writes: [*s, *e) of the block. */
static void chunk_part(const struct seal_job *j, uint64_t i, size_t *s, size_t *e)
{
	uint64_t bstart = i * MEDFS_BLOCK_SIZE;

	*s = j->off > bstart ? j->off - bstart : 0;
	*e = j->c_end - bstart < MEDFS_BLOCK_SIZE ? j->c_end - bstart : MEDFS_BLOCK_SIZE;
}

/* Whether the chunk keeps part of block i's old content. */
static bool keeps_old(const struct seal_job *j, uint64_t i)
{
	size_t old_len = block_len(j->f->size, i), s, e;

	chunk_part(j, i, &s, &e);
	return old_len > 0 && (s > 0 || e < old_len);
}

/* Opens block i of f into out (MEDFS_BLOCK_SIZE bytes, zero-padded). */
static int open_old(struct medfs_file *f, uint64_t i, uint8_t *out)
{
	uint8_t old[MEDFS_BLOCK_DISK_SIZE];
	size_t old_len = block_len(f->size, i);
	ssize_t got = is_hole(f, i)
			      ? 0
			      : medfs_pread_full(f->fd, old, old_len + MEDFS_BLOCK_OVERHEAD,
					   medfs_block_disk_offset(i));
	int r = 0;

	memset(out, 0, MEDFS_BLOCK_SIZE);
	if (is_hole(f, i))
		r = 0;
	else if (got < 0)
		r = (int)got;
	else if ((size_t)got != old_len + MEDFS_BLOCK_OVERHEAD ||
		 file_block_open(f, out, old, got, i) < 0)
		r = block_fail(f, i);
	sodium_memzero(old, sizeof(old));
	return r;
}

/* Seals blocks a..b of the chunk and writes them to the vault file. */
static int seal_batch(struct seal_job *j, uint64_t a, uint64_t b, uint8_t *tmp)
{
	struct medfs_file *f = j->f;
	int n = 0;

	for (uint64_t i = a; i <= b && n >= 0; i++) {
		uint64_t bstart = i * MEDFS_BLOCK_SIZE;
		uint8_t *p = j->sealed + (i - j->first) * MEDFS_BLOCK_DISK_SIZE;
		size_t new_len = block_len(j->new_size, i);
		const uint8_t *old = i == j->first  ? j->old[0]
				     : i == j->last ? j->old[1]
						    : NULL;
		const uint8_t *src;
		size_t s, e;

		chunk_part(j, i, &s, &e);
		src = j->data ? j->data + (bstart + s - j->data_off) : NULL;
		if (!old && s == 0 && src) {
			/* The whole block is new: seal straight from the
			 * caller's buffer. */
			n = medfs_block_seal_with_nonce(p, src, new_len, f->v->cipher,
							f->key, f->id, i,
							j->nonces[i - j->first]);
			continue;
		}
		if (old)
			memcpy(tmp, old, MEDFS_BLOCK_SIZE);
		else
			memset(tmp, 0, MEDFS_BLOCK_SIZE);
		if (src)
			memcpy(tmp + s, src, e - s);
		else
			memset(tmp + s, 0, e - s);
		n = medfs_block_seal_with_nonce(p, tmp, new_len, f->v->cipher, f->key,
						f->id, i, j->nonces[i - j->first]);
	}
	if (n < 0)
		return n;
	return medfs_pwrite_full(f->fd, j->sealed + (a - j->first) * MEDFS_BLOCK_DISK_SIZE,
			   (b - a) * MEDFS_BLOCK_DISK_SIZE + block_len(j->new_size, b) +
				   MEDFS_BLOCK_OVERHEAD,
			   medfs_block_disk_offset(a));
}

/* A slice in batches: while one thread copies a batch into the vault
 * file, the other seals. */
static void seal_slice(void *arg, size_t from, size_t to)
{
	struct seal_job *j = arg;
	uint64_t last = j->first + to - 1;
	uint8_t tmp[MEDFS_BLOCK_SIZE];
	int n = 0;

	for (uint64_t a = j->first + from; a <= last && n >= 0; a += BATCH_BLOCKS)
		n = seal_batch(j, a,
			       a + BATCH_BLOCKS - 1 < last ? a + BATCH_BLOCKS - 1 : last,
			       tmp);
	sodium_memzero(tmp, sizeof(tmp));
	if (n < 0)
		atomic_store(&j->err, n);
}

/* Writes len bytes of data (zeros when data is NULL) at off, which must not
 * be past the end of file; grows f->size. Caller holds f->lock alone. */
static int write_range(struct medfs_file *f, const uint8_t *data, uint64_t off,
		       uint64_t len)
{
	/* Fresh random nonces for a whole chunk: a seed from the system,
	 * stretched by libsodium's ChaCha20 (randombytes_buf_deterministic).
	 * Drawing them all from the system took 24 getrandom() calls of 256
	 * bytes per MiB, 3-4% of the time of sealing it. */
	uint8_t nonces[CHUNK_BLOCKS][MEDFS_BLOCK_NONCE_LEN];
	uint8_t seed[randombytes_SEEDBYTES];
	uint8_t old[2][MEDFS_BLOCK_SIZE];
	struct seal_job j = { .f = f, .data = data, .data_off = off, .nonces = nonces };
	uint64_t end = off + len;
	int r = 0;

	while (off < end) {
		uint64_t first = off / MEDFS_BLOCK_SIZE;
		uint64_t last = (end - 1) / MEDFS_BLOCK_SIZE;
		uint64_t c_end;

		if (last - first >= CHUNK_BLOCKS)
			last = first + CHUNK_BLOCKS - 1;
		c_end = (last + 1) * MEDFS_BLOCK_SIZE < end
				? (last + 1) * MEDFS_BLOCK_SIZE
				: end;
		j.off = off;
		j.c_end = c_end;
		j.first = first;
		j.last = last;
		j.new_size = c_end > f->size ? c_end : f->size;
		j.old[0] = j.old[1] = NULL;
		if (keeps_old(&j, first)) {
			if ((r = open_old(f, first, old[0])) < 0)
				break;
			j.old[0] = old[0];
		}
		if (last != first && keeps_old(&j, last)) {
			if ((r = open_old(f, last, old[1])) < 0)
				break;
			j.old[1] = old[1];
		}
		j.sealed = thread_buf((last - first + 1) * MEDFS_BLOCK_DISK_SIZE);
		if (!j.sealed) {
			r = -ENOMEM;
			break;
		}
		randombytes_buf(seed, sizeof(seed));
		randombytes_buf_deterministic(
			nonces, (last - first + 1) * MEDFS_BLOCK_NONCE_LEN, seed);
		atomic_store(&j.err, 0);
		medfs_parallel_for(last - first + 1, SLICE_BLOCKS, seal_slice, &j);
		if ((r = atomic_load(&j.err)) < 0)
			break;
		if ((r = holes_written(f, first, last + 1)) < 0)
			break;
		f->size = j.new_size;
		off = c_end;
	}
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(old, sizeof(old));
	return r;
}

/* Makes a grown file's vault file match its header again (doc/FORMAT.md
 * 12.1): its partial last block resealed at the header's length, when the
 * extension left it longer, and the vault file cut to the header's length.
 * Every change of the file does this first, as the write path reckons
 * offsets and lengths from the header's size. Caller holds f->lock alone.
 * Returns 1 when it cut, 0 when there was nothing to do, or -errno. */
static int settle(struct medfs_file *f)
{
	uint64_t idx = f->size / MEDFS_BLOCK_SIZE;
	size_t blen = block_len(f->size, idx);
	uint8_t sealed[MEDFS_BLOCK_DISK_SIZE], plain[MEDFS_BLOCK_SIZE];
	int r = 0;

	if (!f->grown)
		return 0;
	if (blen && !is_hole(f, idx)) {
		ssize_t got = medfs_pread_full(f->fd, sealed, blen + MEDFS_BLOCK_OVERHEAD,
					 medfs_block_disk_offset(idx));

		if (got < 0)
			r = (int)got;
		else if (got == (ssize_t)(blen + MEDFS_BLOCK_OVERHEAD) &&
			 file_block_open(f, plain, sealed, (size_t)got, idx) >= 0)
			r = 0; /* sealed at the header's length already */
		else if (open_tail(f, idx, plain) < 0)
			r = block_fail(f, idx);
		else if ((r = medfs_block_seal(sealed, plain, blen, f->v->cipher, f->key,
					       f->id, idx)) > 0)
			r = medfs_pwrite_full(f->fd, sealed, (size_t)r,
					medfs_block_disk_offset(idx));
	}
	sodium_memzero(plain, sizeof(plain));
	if (r == 0 && ftruncate(f->fd, (off_t)medfs_disk_size(f->size)) < 0)
		r = -errno;
	if (r < 0)
		return r;
	f->grown = false;
	return 1;
}

/* A file of a vault made before file_mode may still have set-ID bits: a
 * write, a truncation or an allocation drops them, whoever makes it (the
 * kernel does not tell whether the caller may keep them). Caller holds
 * f->lock alone. */
static int drop_setid(struct medfs_file *f)
{
	struct stat st;

	if (!atomic_load_explicit(&f->setid, memory_order_relaxed))
		return 0;
	atomic_store(&f->setid, false);
	if (fstat(f->fd, &st) < 0)
		return -errno;
	if (file_mode(st.st_mode) != (st.st_mode & 07777) &&
	    fchmod(f->fd, file_mode(st.st_mode)) < 0)
		return -errno;
	return 0;
}

/* ---- changes of size (doc/FORMAT.md, 11 and 12) ----
 *
 * A write, a truncation or an allocation writes blocks first, then the
 * hole map, the vault file's length and the header last. When a step
 * fails (ENOSPC on a full disk), the change is undone: the vault file
 * goes back to its old length, the block it may have resealed at another
 * length is put back as it was, and the header is never written, so the
 * file reads as before (blocks overwritten in place keep their new
 * content, as on any file system). */
struct change {
	uint64_t size;		   /* before the change */
	uint16_t flags;		   /* before the change */
	struct medfs_holes *holes; /* a copy of the map before, or NULL */
	bool dirty;		   /* f->holes_dirty before */
	bool grows;		   /* the vault file may end past its old end */
	bool stored;		   /* the map was stored */
	bool header_done;	   /* shrink wrote the header already */
	bool saved;		   /* block saved_index was saved */
	uint64_t saved_index;
	size_t saved_len;
	uint8_t saved_plain[MEDFS_BLOCK_SIZE];
};

/* Saves block index (len bytes) of f, when it authenticates, so that an
 * undo can put it back. */
static void change_save(struct medfs_file *f, struct change *c, uint64_t index,
			size_t len)
{
	uint8_t sealed[MEDFS_BLOCK_DISK_SIZE];

	c->saved = false;
	if (len == 0 || is_hole(f, index))
		return;
	if (medfs_pread_full(f->fd, sealed, len + MEDFS_BLOCK_OVERHEAD,
		       medfs_block_disk_offset(index)) ==
		    (ssize_t)(len + MEDFS_BLOCK_OVERHEAD) &&
	    file_block_open(f, c->saved_plain, sealed, len + MEDFS_BLOCK_OVERHEAD,
			    index) >= 0) {
		c->saved = true;
		c->saved_index = index;
		c->saved_len = len;
	}
}

/* Begins a change of f that may grow it to new_size. Caller holds f->lock
 * alone. Returns 0 or -ENOMEM. */
static int change_begin(struct medfs_file *f, struct change *c, uint64_t new_size)
{
	c->size = f->size;
	c->flags = f->flags;
	c->dirty = f->holes_dirty;
	c->stored = false;
	c->header_done = false;
	c->saved = false;
	c->holes = NULL;
	c->grows = new_size > f->size;
	if (f->holes) {
		c->holes = malloc(sizeof(*c->holes));
		if (!c->holes)
			return -ENOMEM;
		*c->holes = *f->holes;
	}
	/* The last block, when partial, is resealed longer as the file
	 * grows: it is what a failure would leave torn. */
	if (c->grows && f->size % MEDFS_BLOCK_SIZE)
		change_save(f, c, f->size / MEDFS_BLOCK_SIZE, f->size % MEDFS_BLOCK_SIZE);
	return 0;
}

static void change_end(struct change *c)
{
	free(c->holes);
	sodium_memzero(c->saved_plain, sizeof(c->saved_plain));
}

/* Puts f back as it was at change_begin, as far as the vault goes. */
static void change_undo(struct medfs_file *f, struct change *c)
{
	uint8_t sealed[MEDFS_BLOCK_DISK_SIZE];
	int n;

	if (c->stored && (c->flags & MEDFS_HEADER_HOLES)) {
		/* The stored map is the new one: it stays (it says the same
		 * of every block below the old size). */
		f->holes_dirty = false;
	} else if (c->holes) {
		*f->holes = *c->holes;
		f->holes_dirty = c->dirty;
	} else if (f->holes) {
		f->holes->n = 0;
		f->holes_dirty = false;
	}
	f->size = c->size;
	f->flags = c->flags;
	holes_clip(f, nblocks_of(f->size));
	if (ftruncate(f->fd, (off_t)medfs_disk_size(f->size)) < 0) {
		report(f->v, f->vpath, NULL, -1, "a failed change could not be undone");
		if (c->grows) {
			/* Longer than its header says, as after a crash:
			 * sizes from headers until it is settled. */
			f->grown = true;
			atomic_fetch_add(&f->v->grown_changes, 1);
			atomic_store(&f->v->careful, true);
		}
	}
	if (c->saved) {
		n = medfs_block_seal(sealed, c->saved_plain, c->saved_len, f->v->cipher,
				     f->key, f->id, c->saved_index);
		if (n < 0 || medfs_pwrite_full(f->fd, sealed, (size_t)n,
					 medfs_block_disk_offset(c->saved_index)) < 0)
			report(f->v, f->vpath, NULL, -1,
			       "a failed change could not be undone");
	}
}

/* Stores what the change made: the hole map (at most MEDFS_HOLES_MAX runs:
 * the shortest holes beyond that are written as sealed zeros), the vault
 * file's length, the header. Undoes the change when r or a step fails.
 * Returns r or the step's -errno. */
static int change_commit(struct medfs_file *f, struct change *c, int r)
{
	/* After a shrink's header, nothing is stored that could fail it. */
	if (r == 0 && f->holes && !c->header_done) {
		holes_clip(f, nblocks_of(f->size));
		while (r == 0 && f->holes->n > MEDFS_HOLES_MAX) {
			struct medfs_hole_run h =
				f->holes->run[medfs_holes_shortest(f->holes)];
			uint64_t end = h.end * MEDFS_BLOCK_SIZE;

			if (end > f->size)
				end = f->size;
			r = write_range(f, NULL, h.start * MEDFS_BLOCK_SIZE,
					end - h.start * MEDFS_BLOCK_SIZE);
		}
		if (r == 0 && f->holes_dirty && (f->flags & MEDFS_HEADER_HOLES)) {
			r = holes_store(f, f->key);
			c->stored = r == 0;
		}
	}
	/* A file that now ends in a hole ends past its last written byte:
	 * the vault file gets its length (sparse) here. */
	if (r == 0 && c->grows && is_hole(f, nblocks_of(f->size) - 1) &&
	    ftruncate(f->fd, (off_t)medfs_disk_size(f->size)) < 0)
		r = -errno;
	if (r == 0 && !c->header_done && (f->size != c->size || f->flags != c->flags))
		r = header_write(f);
	if (r < 0)
		change_undo(f, c);
	change_end(c);
	return r;
}

/* Grows the file to size: the partial last block, if written, is
 * resealed longer with zeros, the blocks after it become holes. Caller
 * holds f->lock alone. */
static int extend(struct medfs_file *f, uint64_t size)
{
	uint64_t from, to;
	int r;

	if (size <= f->size)
		return 0;
	if (f->size % MEDFS_BLOCK_SIZE && !is_hole(f, f->size / MEDFS_BLOCK_SIZE)) {
		uint64_t e = (f->size / MEDFS_BLOCK_SIZE + 1) * MEDFS_BLOCK_SIZE;

		r = write_range(f, NULL, f->size, (e < size ? e : size) - f->size);
		if (r < 0)
			return r;
	}
	from = nblocks_of(f->size);
	to = nblocks_of(size);
	if (to > from && (r = holes_add(f, from, to)) < 0)
		return r;
	f->size = size;
	return 0;
}

ssize_t medfs_file_write(struct medfs_file *f, const void *buf, size_t size, off_t off,
			 int append)
{
	struct change c;
	int r;

	if (off < 0 && !append)
		return -EINVAL;
	if (!f->writable)
		return -EBADF;
	if (size == 0)
		return 0;
	pthread_rwlock_wrlock(&f->lock);
	if (append)
		off = f->size;
	/* As ext4: past the largest size nothing, up to it what fits. */
	if ((uint64_t)off >= MEDFS_FILE_SIZE_MAX) {
		r = -EFBIG;
		goto out;
	}
	if (size > MEDFS_FILE_SIZE_MAX - (uint64_t)off)
		size = MEDFS_FILE_SIZE_MAX - (uint64_t)off;
	r = settle(f);
	if (r >= 0)
		r = drop_setid(f);
	if (r == 0)
		r = rekey(f);
	if (r == 0)
		r = change_begin(f, &c, (uint64_t)off + size);
	if (r < 0)
		goto out;
	r = extend(f, off);
	if (r == 0)
		r = write_range(f, buf, off, size);
	r = change_commit(f, &c, r);
out:
	pthread_rwlock_unlock(&f->lock);
	return r < 0 ? r : (ssize_t)size;
}

/* Shrinks the file to size, header first (doc/FORMAT.md 12): until the
 * vault file is cut, it is longer than its header says, which a crash
 * leaves readable at the new size (careful mode, 12.3), the new last block
 * opening as sealed before. Once the header is written the change is
 * made: a later step that fails leaves the file grown, and the vault
 * careful, not undone. Caller holds f->lock alone. */
static int shrink(struct medfs_file *f, struct change *c, uint64_t size)
{
	uint64_t idx = size / MEDFS_BLOCK_SIZE;
	size_t keep = size % MEDFS_BLOCK_SIZE;
	uint8_t sealed[MEDFS_BLOCK_DISK_SIZE], tmp[MEDFS_BLOCK_SIZE];
	int r = 0;

	/* The new last block, opened before anything changes. */
	if (keep && !is_hole(f, idx))
		r = open_old(f, idx, tmp);
	if (r < 0)
		return r;
	f->size = size;
	holes_clip(f, nblocks_of(size));
	if (size == 0) {
		f->flags &= ~MEDFS_HEADER_HOLES;
		f->holes_dirty = false;
	}
	/* The clipped map before the header: runs past the end would come
	 * back below it once the file grows again. It fails as a change
	 * that is undone; a crash after it leaves the blocks being cut
	 * reading EIO under the old header. */
	if (f->holes_dirty && (f->flags & MEDFS_HEADER_HOLES)) {
		r = holes_store(f, f->key);
		c->stored = r == 0;
		if (r == 0)
			f->holes_dirty = false;
	}
	if (r == 0)
		r = header_write(f);
	if (r < 0) {
		sodium_memzero(tmp, sizeof(tmp));
		return r; /* undone by change_commit */
	}
	c->header_done = true;
	f->grown = true;
	if (keep && !is_hole(f, idx)) {
		r = medfs_block_seal(sealed, tmp, keep, f->v->cipher, f->key, f->id, idx);
		if (r > 0)
			r = medfs_pwrite_full(f->fd, sealed, (size_t)r, medfs_block_disk_offset(idx));
	}
	sodium_memzero(tmp, sizeof(tmp));
	if (r >= 0 && ftruncate(f->fd, (off_t)medfs_disk_size(size)) < 0)
		r = -errno;
	if (r < 0) {
		report(f->v, f->vpath, NULL, -1,
		       "a truncation could not cut the vault file: it reads at its "
		       "new size until settled");
		atomic_fetch_add(&f->v->grown_changes, 1);
		atomic_store(&f->v->careful, true);
		return 0;
	}
	f->grown = false;
	return 0;
}

int medfs_file_truncate(struct medfs_file *f, off_t size)
{
	struct change c;
	bool had_holes;
	int r = 0;

	if (size < 0)
		return -EINVAL;
	if ((uint64_t)size > MEDFS_FILE_SIZE_MAX)
		return -EFBIG;
	if (!f->writable)
		return -EBADF;
	pthread_rwlock_wrlock(&f->lock);
	r = settle(f);
	if (r >= 0)
		r = drop_setid(f);
	/* To zero: nothing to keep, the new key comes after. */
	if (r == 0 && size > 0)
		r = rekey(f);
	if (r == 0)
		r = change_begin(f, &c, size);
	if (r < 0)
		goto out;
	had_holes = f->flags & MEDFS_HEADER_HOLES;
	if ((uint64_t)size > f->size)
		r = extend(f, size);
	else if ((uint64_t)size < f->size)
		r = shrink(f, &c, size);
	r = change_commit(f, &c, r);
	if (r == 0 && size == 0 && had_holes &&
	    fremovexattr(f->fd, MEDFS_HOLES_XATTR) < 0 && errno != ENODATA)
		report(f->v, f->vpath, NULL, -1, "hole map could not be removed");
	if (r == 0 && size == 0)
		r = rekey(f);
out:
	pthread_rwlock_unlock(&f->lock);
	return r;
}

int medfs_file_allocate(struct medfs_file *f, off_t off, off_t len)
{
	struct change c;
	int r;

	if (off < 0 || len <= 0)
		return -EINVAL;
	if ((uint64_t)off > MEDFS_FILE_SIZE_MAX ||
	    (uint64_t)len > MEDFS_FILE_SIZE_MAX - (uint64_t)off)
		return -EFBIG;
	if (!f->writable)
		return -EBADF;
	pthread_rwlock_wrlock(&f->lock);
	r = settle(f);
	if (r >= 0)
		r = drop_setid(f);
	if (r == 0 && (uint64_t)off + len > f->size)
		r = rekey(f);
	if (r == 0)
		r = change_begin(f, &c, (uint64_t)off + len);
	if (r < 0)
		goto out;
	r = extend(f, (uint64_t)off + len);
	r = change_commit(f, &c, r);
out:
	pthread_rwlock_unlock(&f->lock);
	return r;
}

int medfs_file_reserve(struct medfs_file *f, off_t off, off_t len)
{
	if (off < 0 || len <= 0)
		return -EINVAL;
	if ((uint64_t)off > MEDFS_FILE_SIZE_MAX ||
	    (uint64_t)len > MEDFS_FILE_SIZE_MAX - (uint64_t)off)
		return -EFBIG;
	if (!f->writable)
		return -EBADF;
	return 0;
}

uint64_t medfs_file_next_data(struct medfs_file *f, uint64_t off)
{
	uint64_t idx = off / MEDFS_BLOCK_SIZE;

	pthread_rwlock_rdlock(&f->lock);
	/* Runs are merged: one jump lands past the hole. */
	for (uint32_t i = 0; f->holes && off < f->size && i < f->holes->n; i++) {
		const struct medfs_hole_run *h = &f->holes->run[i];

		if (h->start <= idx && idx < h->end) {
			off = h->end * MEDFS_BLOCK_SIZE;
			break;
		}
	}
	if (off > f->size)
		off = f->size;
	pthread_rwlock_unlock(&f->lock);
	return off;
}

bool medfs_file_grown(struct medfs_file *f)
{
	bool g;

	pthread_rwlock_rdlock(&f->lock);
	g = f->grown;
	pthread_rwlock_unlock(&f->lock);
	return g;
}

int medfs_file_settle(struct medfs_file *f)
{
	int r;

	if (!f->writable)
		return -EBADF;
	pthread_rwlock_wrlock(&f->lock);
	r = settle(f);
	pthread_rwlock_unlock(&f->lock);
	return r;
}

int medfs_file_fsync(struct medfs_file *f, int datasync)
{
	int r;

	pthread_rwlock_rdlock(&f->lock);
	/* fdatasync may leave an xattr behind: a file with holes needs its
	 * map on disk with its blocks. */
	r = datasync && !(f->flags & MEDFS_HEADER_HOLES) ? fdatasync(f->fd)
							 : fsync(f->fd);
	pthread_rwlock_unlock(&f->lock);
	return r < 0 ? -errno : 0;
}

int medfs_vault_truncate(struct medfs_vault *v, const char *path, off_t size)
{
	struct medfs_file *f;
	int r;

	r = medfs_file_open(v, path, O_WRONLY, &f);
	if (r < 0)
		return r;
	r = medfs_file_truncate(f, size);
	medfs_file_release(f);
	return r;
}

int medfs_vault_unlink(struct medfs_vault *v, const char *path)
{
	struct loc *l;
	struct stat st;
	int r;

	if (is_root(path))
		return -EISDIR;
	l = loc_new();
	if (!l)
		return -ENOMEM;
	/* Alone: a concurrent create of the same long name shares its sidecar. */
	pthread_rwlock_wrlock(&v->ns_lock);
	r = resolve(v, path, l);
	if (r < 0)
		goto out;
	if (medfs_vpath_fstatat(v->tree_fd, l->vpath, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		r = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		r = -EISDIR;
		goto out;
	}
	if (medfs_vpath_unlinkat(v->tree_fd, l->vpath, 0) < 0) {
		r = -errno;
		goto out;
	}
	sidecar_remove(v, l);
out:
	pthread_rwlock_unlock(&v->ns_lock);
	loc_free(l);
	return r;
}

/* ---- rename: every moved object is sealed again to its new place ---- */

/* What a moved object needs to be bound to its new place. */
struct moved {
	mode_t type;
	struct medfs_file *f; /* regular file, opened for the move */
	uint8_t dir_id[MEDFS_DIR_ID_LEN];
	char *target; /* symlink */
	size_t target_len;
};

static int moved_load(struct medfs_vault *v, struct loc *l, struct moved *m)
{
	struct stat st;
	int r;

	memset(m, 0, sizeof(*m));
	if (medfs_vpath_fstatat(v->tree_fd, l->vpath, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	m->type = st.st_mode & S_IFMT;
	switch (m->type) {
	case S_IFREG:
		return open_at_loc(v, l, O_RDWR, &m->f);
	case S_IFDIR: {
		struct medfs_binding b;

		loc_binding(l, &b);
		return read_dir_header(v, l->vpath, &b, m->dir_id);
	}
	case S_IFIFO:
	case S_IFSOCK:
		return 0; /* no content bound to its place: its name moves it */
	case S_IFLNK:
		m->target = malloc(MEDFS_LINK_MAX + 1);
		if (!m->target)
			return -ENOMEM;
		r = read_link(v, l, m->target, MEDFS_LINK_MAX + 1);
		if (r < 0)
			return r;
		m->target_len = r;
		return 0;
	default:
		return -EPERM;
	}
}

static void moved_free(struct moved *m)
{
	if (m->f)
		medfs_file_release(m->f);
	if (m->target) {
		sodium_memzero(m->target, MEDFS_LINK_MAX + 1);
		free(m->target);
	}
}

static int moved_store_at(struct medfs_vault *v, const struct loc *l, struct moved *m);

/* Seals a moved object to its new place l. A rename changes no time of
 * the object itself, so the times that resealing touches are put back. */
static int moved_store(struct medfs_vault *v, const struct loc *l, struct moved *m)
{
	struct stat st;
	int r, have = medfs_vpath_fstatat(v->tree_fd, l->vpath, &st, AT_SYMLINK_NOFOLLOW) == 0;

	r = moved_store_at(v, l, m);
	if (r == 0 && have) {
		struct timespec tv[2] = { st.st_atim, st.st_mtim };

		medfs_vpath_utimensat(v->tree_fd, l->vpath, tv, AT_SYMLINK_NOFOLLOW);
	}
	return r;
}

static int moved_store_at(struct medfs_vault *v, const struct loc *l, struct moved *m)
{
	struct medfs_binding b;
	int r = 0;

	loc_binding(l, &b);
	switch (m->type) {
	case S_IFREG: {
		struct medfs_file *f = m->f;
		/* Out of memory: its reports name where it was. */
		char *vpath = strdup(l->vpath);

		pthread_rwlock_wrlock(&f->lock);
		memcpy(f->parent_id, l->dir_id, sizeof(f->parent_id));
		memcpy(f->name, l->name, l->name_len);
		f->name[l->name_len] = '\0';
		f->name_len = l->name_len;
		if (vpath) {
			free(f->vpath);
			f->vpath = vpath;
		}
		r = header_write(f);
		/* On disk before the rename returns: an fsync of the directory
		 * makes the rename durable, and the file must then open under
		 * its new name (a header left bound to the old name reads EIO;
		 * the crash checker, tests/crash, found it). */
		if (r == 0)
			r = sync_fd(f->fd, 1);
		pthread_rwlock_unlock(&f->lock);
		return r;
	}
	case S_IFDIR:
		return write_dir_header(v, l->vpath, m->dir_id, &b);
	case S_IFLNK: {
		char *enc = malloc(MEDFS_LINK_ENC_MAX);
		char *tmp = NULL;
		struct stat st;
		bool made;

		if (!enc)
			return -ENOMEM;
		r = medfs_link_encrypt(enc, MEDFS_LINK_ENC_MAX, m->target, m->target_len,
				       v->keys->link, &b);
		if (r >= 0)
			r = (tmp = tmp_path(l->dir_vpath)) ? 0 : -ENOMEM;
		if (r == 0 && medfs_vpath_symlinkat(enc, v->tree_fd, tmp) < 0)
			r = -errno;
		made = r == 0;
		/* The new link keeps the owner of the one it replaces. */
		if (r == 0 &&
		    medfs_vpath_fstatat(v->tree_fd, l->vpath, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    medfs_vpath_fchownat(v->tree_fd, tmp, st.st_uid, st.st_gid,
					 AT_SYMLINK_NOFOLLOW) < 0)
			r = -errno;
		if (r == 0 && medfs_vpath_renameat2(v->tree_fd, tmp, l->vpath, 0) < 0)
			r = -errno;
		if (r < 0 && made)
			medfs_vpath_unlinkat(v->tree_fd, tmp, 0);
		free(tmp);
		free(enc);
		return r;
	}
	}
	return 0;
}

/* Open files below a moved directory keep their binding (their parent's
 * id does not change) but their vault path, used in reports, does. */
static void files_repath(struct medfs_vault *v, const char *from, const char *to,
			 bool exchange)
{
	size_t fl = strlen(from), tl = strlen(to);

	pthread_mutex_lock(&v->files_lock);
	for (size_t i = 0; i < FILES_BUCKETS; i++) {
		for (struct medfs_file *f = v->files[i]; f; f = f->next) {
			const char *new_prefix = NULL;
			size_t old_len = 0;
			char *vpath;

			if (!strncmp(f->vpath, from, fl) && f->vpath[fl] == '/') {
				new_prefix = to;
				old_len = fl;
			} else if (exchange && !strncmp(f->vpath, to, tl) &&
				   f->vpath[tl] == '/') {
				new_prefix = from;
				old_len = tl;
			}
			if (!new_prefix)
				continue;
			/* Out of memory: its reports name where it was. */
			vpath = medfs_vpath_cat(new_prefix, f->vpath + old_len);
			if (!vpath)
				continue;
			pthread_rwlock_wrlock(&f->lock);
			free(f->vpath);
			f->vpath = vpath;
			pthread_rwlock_unlock(&f->lock);
		}
	}
	pthread_mutex_unlock(&v->files_lock);
}

int medfs_vault_rename(struct medfs_vault *v, const char *from, const char *to,
		       unsigned int flags)
{
	struct loc *a = NULL, *b = NULL;
	struct moved ma, mb;
	struct stat st;
	bool target_exists = false, target_dir_emptied = false;
	uint8_t target_dir_id[MEDFS_DIR_ID_LEN];
	int r;

	memset(&ma, 0, sizeof(ma));
	memset(&mb, 0, sizeof(mb));
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if (is_root(from) || is_root(to))
		return -EBUSY;
	a = loc_new();
	b = loc_new();
	if (!a || !b) {
		loc_free(a);
		loc_free(b);
		return -ENOMEM;
	}
	pthread_rwlock_wrlock(&v->ns_lock);
	if ((r = resolve(v, from, a)) < 0 || (r = resolve(v, to, b)) < 0)
		goto out;
	/* A name exchanged takes the other's place, whose path fits already. */
	if (!(flags & RENAME_EXCHANGE) && (r = new_path_fits(to)) < 0)
		goto out;
	if ((r = moved_load(v, a, &ma)) < 0)
		goto out;
	if (medfs_vpath_fstatat(v->tree_fd, b->vpath, &st, AT_SYMLINK_NOFOLLOW) == 0)
		target_exists = true;
	else if (errno != ENOENT) {
		r = -errno;
		goto out;
	}
	if (!strcmp(a->vpath, b->vpath)) {
		r = (flags & RENAME_NOREPLACE) ? -EEXIST : 0;
		goto out;
	}
	if (flags & RENAME_EXCHANGE) {
		if (!target_exists) {
			r = -ENOENT;
			goto out;
		}
		if ((r = moved_load(v, b, &mb)) < 0)
			goto out;
	} else if (target_exists) {
		if (flags & RENAME_NOREPLACE) {
			r = -EEXIST;
			goto out;
		}
		if (S_ISDIR(st.st_mode)) {
			struct medfs_binding tb;

			if (ma.type != S_IFDIR) {
				r = -EISDIR;
				goto out;
			}
			/* The vault directory holds its header: remove it so
			 * that the vault can replace an empty directory. */
			if ((r = dir_empty(v, b->vpath)) < 0)
				goto out;
			loc_binding(b, &tb);
			if ((r = read_dir_header(v, b->vpath, &tb, target_dir_id)) < 0)
				goto out;
			{
				char *hpath = medfs_vpath_join(b->vpath,
							       MEDFS_DIR_HEADER_NAME);

				if (!hpath) {
					r = -ENOMEM;
					goto out;
				}
				medfs_vpath_unlinkat(v->tree_fd, hpath, 0);
				free(hpath);
			}
			target_dir_emptied = true;
		} else if (ma.type == S_IFDIR) {
			r = -ENOTDIR;
			goto out;
		}
	}
	if ((r = sidecar_write(v, b)) < 0)
		goto restore;
	if (flags & RENAME_EXCHANGE)
		r = sidecar_write(v, a);
	if (r == 0 && medfs_vpath_renameat2(v->tree_fd, a->vpath, b->vpath, flags) < 0)
		r = -errno;
	if (r == 0 && (ma.type == S_IFDIR || mb.type == S_IFDIR))
		medfs_vpath_invalidate(); /* before any path below them is used */
	if (r < 0) {
		if (!target_exists)
			sidecar_remove(v, b);
		goto restore;
	}
	r = moved_store(v, b, &ma);
	if (flags & RENAME_EXCHANGE) {
		int r2 = moved_store(v, a, &mb);

		if (r == 0)
			r = r2;
	} else {
		sidecar_remove(v, a);
	}
	if (ma.type == S_IFDIR || mb.type == S_IFDIR) {
		dc_clear(v);
		files_repath(v, a->vpath, b->vpath, flags & RENAME_EXCHANGE);
	}
	goto out;
restore:
	if (target_dir_emptied) {
		struct medfs_binding tb;

		loc_binding(b, &tb);
		write_dir_header(v, b->vpath, target_dir_id, &tb);
	}
out:
	pthread_rwlock_unlock(&v->ns_lock);
	moved_free(&ma);
	moved_free(&mb);
	loc_free(a);
	loc_free(b);
	return r;
}

/* ---- extended attributes ---- */

/* Opens the regular file at path and authenticates its header, for the
 * file id that xattrs are bound to. With need, a vault xattr the file must
 * have (-ENODATA otherwise), checked before the header is read. */
static int xattr_file(struct medfs_vault *v, const char *path, bool write,
		      const char *need, uint8_t id[MEDFS_FILE_ID_LEN],
		      char **vpath)
{
	struct loc *l;
	struct medfs_binding b;
	uint8_t *key = NULL;
	struct stat st;
	uint64_t size;
	bool grown;
	int fd = -1, r;

	if (is_root(path))
		return -ENOTSUP;
	l = loc_new();
	if (!l)
		return -ENOMEM;
	pthread_rwlock_rdlock(&v->ns_lock);
	r = resolve(v, path, l);
	if (r < 0)
		goto out;
	*vpath = strdup(l->vpath); /* the caller's, for reports */
	if (!*vpath) {
		r = -ENOMEM;
		goto out;
	}
	if (medfs_vpath_fstatat(v->tree_fd, l->vpath, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = write ? -ENOTSUP : -ENODATA;
		goto out;
	}
	fd = openat_noatime(v->tree_fd, l->vpath, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (need && fgetxattr(fd, need, NULL, 0) < 0) {
		r = -errno;
		goto out;
	}
	key = medfs_secret_alloc(MEDFS_KEY_LEN);
	if (!key) {
		r = -ENOMEM;
		goto out;
	}
	loc_binding(l, &b);
	r = header_read(v, fd, l->vpath, &b, id, key, &size, NULL, &grown);
out:
	pthread_rwlock_unlock(&v->ns_lock);
	medfs_secret_free(key);
	loc_free(l);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		free(*vpath);
		*vpath = NULL;
		return r;
	}
	return fd;
}

static int xattr_vault_name(struct medfs_vault *v, const char *name,
			    const uint8_t id[MEDFS_FILE_ID_LEN], char *out, size_t outsz)
{
	char enc[MEDFS_NAME_ENC_MAX];
	size_t len;
	int n;

	if (strncmp(name, XATTR_PREFIX, strlen(XATTR_PREFIX)))
		return -ENOTSUP;
	name += strlen(XATTR_PREFIX);
	len = strlen(name);
	if (len == 0)
		return -EINVAL;
	if (len > MEDFS_NAME_MAX)
		return -ERANGE;
	n = medfs_name_encrypt(enc, sizeof(enc), name, len, id, v->keys->name);
	if (n < 0)
		return n == -ENAMETOOLONG ? -ERANGE : n;
	/* The encrypted name must fit the vault's own limit. */
	if (strlen(XATTR_VAULT_PREFIX) + n >= XATTR_NAME_MAX ||
	    strlen(XATTR_VAULT_PREFIX) + n >= outsz)
		return -ERANGE;
	memcpy(out, XATTR_VAULT_PREFIX, strlen(XATTR_VAULT_PREFIX));
	memcpy(out + strlen(XATTR_VAULT_PREFIX), enc, n + 1);
	return 0;
}

static void xattr_ad(uint8_t *ad, size_t *ad_len, const uint8_t id[MEDFS_FILE_ID_LEN],
		     const char *name)
{
	size_t nlen = strlen(name);

	memcpy(ad, "MDFX", 4);
	memcpy(ad + 4, id, MEDFS_FILE_ID_LEN);
	memcpy(ad + 4 + MEDFS_FILE_ID_LEN, name, nlen);
	*ad_len = 4 + MEDFS_FILE_ID_LEN + nlen;
}

/* The bounds keep both lists within listxattr's 64 KiB (XATTR_LIST_MAX):
 * the mount's ("user." and a name of at most MEDFS_NAME_MAX bytes each),
 * and the vault's (vault names under XATTR_NAME_MAX bytes each), even
 * while a key rotation holds every attribute twice, under its old and its
 * new name, with room left for medfs's own attributes of the file. */
#define XATTR_LIST_ENTRY_MAX (sizeof(XATTR_PREFIX) + MEDFS_NAME_MAX) /* "user.NAME\0" */
_Static_assert(MEDFS_XATTR_COUNT_MAX *XATTR_LIST_ENTRY_MAX <= 65536,
	       "the mount's list of attribute names fits XATTR_LIST_MAX");
_Static_assert(2 * MEDFS_XATTR_COUNT_MAX * XATTR_NAME_MAX + 4096 <= 65536,
	       "the vault's list of attribute names fits XATTR_LIST_MAX");

/* Serialises the check of a file's attributes with the set that follows
 * (sets are rare: one lock for them all). */
static pthread_mutex_t xattr_set_lock = PTHREAD_MUTEX_INITIALIZER;

/* Whether fd may take the vault attribute vname with a value of size
 * (plaintext) bytes within the bounds: 0, or -ENOSPC. Replacing a value
 * counts the new value instead of the old one. Under xattr_set_lock. */
static int xattr_room(int fd, const char *vname, size_t size)
{
	const size_t over = crypto_aead_xchacha20poly1305_ietf_ABYTES +
			    crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	const size_t plen = strlen(XATTR_VAULT_PREFIX);
	size_t count = 1, bytes = size;
	char *list = NULL;
	ssize_t n;
	int r = 0;

	n = flistxattr(fd, NULL, 0);
	if (n < 0)
		return -errno;
	list = malloc((size_t)n + 1);
	if (!list)
		return -ENOMEM;
	n = flistxattr(fd, list, (size_t)n);
	if (n < 0) {
		/* Beyond listxattr already (a vault filled before the
		 * bounds): no more. */
		r = errno == E2BIG ? -ENOSPC : -errno;
		goto out;
	}
	list[n] = '\0';
	for (char *p = list; p < list + n; p += strlen(p) + 1) {
		ssize_t len;

		if (strncmp(p, XATTR_VAULT_PREFIX, plen) || strcmp(p, vname) == 0)
			continue;
		len = fgetxattr(fd, p, NULL, 0);
		count++;
		bytes += len > (ssize_t)over ? (size_t)len - over : 0;
	}
	if (count > MEDFS_XATTR_COUNT_MAX || bytes > MEDFS_XATTR_BYTES_MAX)
		r = -ENOSPC;
out:
	free(list);
	return r;
}

int medfs_vault_setxattr(struct medfs_vault *v, const char *path, const char *name,
			 const void *value, size_t size, int flags)
{
	char *vpath = NULL;
	uint8_t id[MEDFS_FILE_ID_LEN], ad[4 + MEDFS_FILE_ID_LEN + XATTR_NAME_MAX + 1];
	char vname[XATTR_NAME_MAX + 1];
	uint8_t *sealed = NULL;
	size_t ad_len;
	int fd, r;

	if (strncmp(name, XATTR_PREFIX, strlen(XATTR_PREFIX)))
		return -ENOTSUP;
	if (strlen(name) > XATTR_NAME_MAX)
		return -ERANGE;
	if (size > XATTR_VALUE_MAX - crypto_aead_xchacha20poly1305_ietf_ABYTES -
			   crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
		return -E2BIG;
	fd = xattr_file(v, path, true, NULL, id, &vpath);
	if (fd < 0)
		return fd;
	r = xattr_vault_name(v, name, id, vname, sizeof(vname));
	if (r < 0)
		goto out;
	sealed = malloc(size + crypto_aead_xchacha20poly1305_ietf_ABYTES +
			crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	if (!sealed) {
		r = -ENOMEM;
		goto out;
	}
	randombytes_buf(sealed, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	xattr_ad(ad, &ad_len, id, name);
	crypto_aead_xchacha20poly1305_ietf_encrypt(
		sealed + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, NULL, value, size,
		ad, ad_len, NULL, sealed, v->keys->xattr);
	pthread_mutex_lock(&xattr_set_lock);
	r = xattr_room(fd, vname, size);
	if (r == 0 && fsetxattr(fd, vname, sealed,
				size + crypto_aead_xchacha20poly1305_ietf_ABYTES +
					crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
				flags) < 0)
		r = -errno;
	pthread_mutex_unlock(&xattr_set_lock);
out:
	free(sealed);
	free(vpath);
	close(fd);
	return r;
}

ssize_t medfs_vault_getxattr(struct medfs_vault *v, const char *path, const char *name,
			     void *value, size_t size)
{
	char *vpath = NULL;
	uint8_t id[MEDFS_FILE_ID_LEN], ad[4 + MEDFS_FILE_ID_LEN + XATTR_NAME_MAX + 1];
	const size_t over = crypto_aead_xchacha20poly1305_ietf_ABYTES +
			    crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	char vname[XATTR_NAME_MAX + 1];
	uint8_t *sealed = NULL, *plain = NULL;
	unsigned long long plen;
	size_t ad_len;
	ssize_t n, r;
	int fd;

	if (strncmp(name, XATTR_PREFIX, strlen(XATTR_PREFIX)))
		return -ENODATA;
	if (strlen(name) > XATTR_NAME_MAX)
		return -ERANGE;
	fd = xattr_file(v, path, false, NULL, id, &vpath);
	if (fd < 0)
		return fd;
	r = xattr_vault_name(v, name, id, vname, sizeof(vname));
	if (r < 0) {
		r = r == -ERANGE ? -ENODATA : r;
		goto out;
	}
	sealed = malloc(XATTR_VALUE_MAX);
	if (!sealed) {
		r = -ENOMEM;
		goto out;
	}
	n = fgetxattr(fd, vname, sealed, XATTR_VALUE_MAX);
	if (n < 0) {
		r = -errno;
		goto out;
	}
	if ((size_t)n < over) {
		report(v, vpath, NULL, -1, "extended attribute truncated");
		r = -EBADMSG;
		goto out;
	}
	plain = malloc(n - over + 1);
	if (!plain) {
		r = -ENOMEM;
		goto out;
	}
	xattr_ad(ad, &ad_len, id, name);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		    plain, &plen, NULL,
		    sealed + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
		    n - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, ad, ad_len, sealed,
		    v->keys->xattr) != 0) {
		report(v, vpath, NULL, -1,
		       "extended attribute does not authenticate (moved or modified)");
		r = -EBADMSG;
		goto out;
	}
	r = plen;
	if (size) {
		if (plen > size)
			r = -ERANGE;
		else
			memcpy(value, plain, plen);
	}
out:
	if (plain) {
		sodium_memzero(plain, n - over + 1);
		free(plain);
	}
	free(sealed);
	free(vpath);
	close(fd);
	return r;
}

ssize_t medfs_vault_listxattr(struct medfs_vault *v, const char *path, char *list,
			      size_t size)
{
	char *vpath = NULL;
	const size_t plen = strlen(XATTR_VAULT_PREFIX);
	uint8_t id[MEDFS_FILE_ID_LEN];
	char name[MEDFS_NAME_MAX + 1];
	char *vlist = NULL;
	ssize_t n, r = 0;
	size_t used = 0;
	int fd;

	fd = xattr_file(v, path, false, NULL, id, &vpath);
	if (fd == -ENODATA)
		return 0;
	if (fd < 0)
		return fd;
	n = flistxattr(fd, NULL, 0);
	if (n <= 0) {
		r = n < 0 ? -errno : 0;
		goto out;
	}
	vlist = malloc(n + 1);
	if (!vlist) {
		r = -ENOMEM;
		goto out;
	}
	n = flistxattr(fd, vlist, n);
	if (n < 0) {
		r = -errno;
		goto out;
	}
	for (char *p = vlist; p < vlist + n; p += strlen(p) + 1) {
		int len;

		if (strncmp(p, XATTR_VAULT_PREFIX, plen))
			continue;
		len = medfs_name_decrypt(name, sizeof(name), p + plen, strlen(p + plen),
					 id, v->keys->name);
		if (len < 0) {
			report(v, vpath, NULL, -1,
			       "extended attribute name does not authenticate");
			continue;
		}
		if (size) {
			if (used + strlen(XATTR_PREFIX) + len + 1 > size) {
				r = -ERANGE;
				goto out;
			}
			memcpy(list + used, XATTR_PREFIX, strlen(XATTR_PREFIX));
			memcpy(list + used + strlen(XATTR_PREFIX), name, len + 1);
		}
		used += strlen(XATTR_PREFIX) + len + 1;
	}
	r = used;
out:
	sodium_memzero(name, sizeof(name));
	free(vlist);
	free(vpath);
	close(fd);
	return r;
}

int medfs_vault_removexattr(struct medfs_vault *v, const char *path, const char *name)
{
	char *vpath = NULL;
	uint8_t id[MEDFS_FILE_ID_LEN];
	char vname[XATTR_NAME_MAX + 1];
	int fd, r;

	if (strncmp(name, XATTR_PREFIX, strlen(XATTR_PREFIX)))
		return -ENODATA;
	fd = xattr_file(v, path, true, NULL, id, &vpath);
	if (fd < 0)
		return fd == -ENOTSUP ? -ENODATA : fd;
	r = xattr_vault_name(v, name, id, vname, sizeof(vname));
	if (r == 0 && fremovexattr(fd, vname) < 0)
		r = -errno;
	if (r == -ERANGE)
		r = -ENODATA;
	free(vpath);
	close(fd);
	return r;
}

/* ---- per-file metadata (the journal's DICOM identifiers) ---- */

/* A sealed blob in a vault xattr outside the names listxattr decrypts,
 * bound to the file id. */
#define META_VAULT_NAME MEDFS_META_XATTR

static int meta_seal_set(struct medfs_vault *v, int fd,
			 const uint8_t id[MEDFS_FILE_ID_LEN], const void *data,
			 size_t len)
{
	uint8_t sealed[MEDFS_META_SEALED_MAX];
	int r = medfs_meta_seal(sealed, data, len, id, v->keys->xattr, NULL);

	if (r < 0)
		return r;
	if (fsetxattr(fd, META_VAULT_NAME, sealed, len + MEDFS_XATTR_OVERHEAD, 0) < 0)
		return -errno;
	return 0;
}

static ssize_t meta_get(struct medfs_vault *v, int fd,
			const uint8_t id[MEDFS_FILE_ID_LEN], const char *vpath, void *buf,
			size_t size)
{
	uint8_t sealed[MEDFS_META_SEALED_MAX + 1];
	ssize_t n = fgetxattr(fd, META_VAULT_NAME, sealed, sizeof(sealed));

	if (n < 0)
		return errno == ERANGE ? -EBADMSG : -errno;
	n = medfs_meta_open(buf, size, sealed, (size_t)n, id, v->keys->xattr);
	if (n == -EBADMSG)
		report(v, vpath, NULL, -1, "file metadata does not authenticate");
	return n;
}

int medfs_file_set_meta(struct medfs_file *f, const void *data, size_t len)
{
	int r;

	if (!f->writable)
		return -EBADF;
	pthread_rwlock_wrlock(&f->lock);
	r = meta_seal_set(f->v, f->fd, f->id, data, len);
	pthread_rwlock_unlock(&f->lock);
	return r;
}

ssize_t medfs_file_get_meta(struct medfs_file *f, void *buf, size_t size)
{
	ssize_t r;

	pthread_rwlock_rdlock(&f->lock);
	r = meta_get(f->v, f->fd, f->id, f->vpath, buf, size);
	pthread_rwlock_unlock(&f->lock);
	return r;
}

ssize_t medfs_vault_get_meta(struct medfs_vault *v, const char *path, void *buf,
			     size_t size)
{
	uint8_t id[MEDFS_FILE_ID_LEN];
	char *vpath = NULL;
	ssize_t r;
	/* Most files have none (rm -rf asks of each): no header read then. */
	int fd = xattr_file(v, path, false, META_VAULT_NAME, id, &vpath);

	if (fd < 0)
		return fd;
	r = meta_get(v, fd, id, vpath, buf, size);
	free(vpath);
	close(fd);
	return r;
}

/* ---- the vault ---- */

static int derive_keys(struct vault_keys *k, const uint8_t vault_key[MEDFS_KEY_LEN])
{
	int r;

	if ((r = medfs_subkey_derive(k->header, MEDFS_SUBKEY_HEADER, vault_key)) < 0 ||
	    (r = medfs_subkey_derive(k->name, MEDFS_SUBKEY_NAME_MAC, vault_key)) < 0 ||
	    (r = medfs_subkey_derive(k->name + MEDFS_KEY_LEN, MEDFS_SUBKEY_NAME_ENC,
				     vault_key)) < 0 ||
	    (r = medfs_subkey_derive(k->dir, MEDFS_SUBKEY_DIR, vault_key)) < 0 ||
	    (r = medfs_subkey_derive(k->link, MEDFS_SUBKEY_LINK, vault_key)) < 0 ||
	    (r = medfs_subkey_derive(k->xattr, MEDFS_SUBKEY_XATTR, vault_key)) < 0)
		return r;
	return 0;
}

int medfs_vault_create_tree(const char *vault_dir, const uint8_t vault_key[MEDFS_KEY_LEN])
{
	struct medfs_binding root = { .name = "", .name_len = 0 };
	uint8_t hdr[MEDFS_DIR_HEADER_LEN], id[MEDFS_DIR_ID_LEN];
	uint8_t *dir_key = medfs_secret_alloc(MEDFS_KEY_LEN);
	int vfd = -1, tfd = -1, fd = -1, r;

	if (!dir_key)
		return -ENOMEM;
	r = medfs_subkey_derive(dir_key, MEDFS_SUBKEY_DIR, vault_key);
	if (r < 0)
		goto out;
	randombytes_buf(id, sizeof(id));
	r = medfs_dir_header_seal(hdr, id, dir_key, &root);
	if (r < 0)
		goto out;
	/* The tree's mode is the mount root's: 0755, like any new root
	 * directory (the vault directory itself stays private). */
	vfd = open(vault_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (vfd < 0 || mkdirat(vfd, MEDFS_TREE_NAME, 0700) < 0 ||
	    fchmodat(vfd, MEDFS_TREE_NAME, 0755, 0) < 0) {
		r = -errno;
		goto out;
	}
	tfd = openat(vfd, MEDFS_TREE_NAME, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tfd < 0) {
		r = -errno;
		goto out;
	}
	fd = openat(tfd, MEDFS_DIR_HEADER_NAME, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0600);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = medfs_pwrite_full(fd, hdr, sizeof(hdr), 0);
	if (r == 0 && (fsync(fd) < 0 || fsync(tfd) < 0 || fsync(vfd) < 0))
		r = -errno;
out:
	if (fd >= 0)
		close(fd);
	if (tfd >= 0)
		close(tfd);
	if (vfd >= 0)
		close(vfd);
	medfs_secret_free(dir_key);
	return r;
}

int medfs_vault_open(struct medfs_vault **out, const char *vault_dir,
		     const uint8_t vault_key[MEDFS_KEY_LEN])
{
	struct medfs_config c;
	int r;

	*out = NULL;
	r = medfs_config_load_key(vault_dir, vault_key, &c);
	if (r < 0)
		return r;
	return medfs_vault_open_cipher(out, vault_dir, vault_key, c.cipher);
}

int medfs_vault_open_cipher(struct medfs_vault **out, const char *vault_dir,
			    const uint8_t vault_key[MEDFS_KEY_LEN], uint32_t cipher)
{
	struct medfs_vault *v;
	char *vpath = NULL;
	uint8_t id[MEDFS_DIR_ID_LEN];
	int vfd, r;

	*out = NULL;
	r = medfs_block_cipher_check(cipher);
	if (r < 0)
		return r;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->tree_fd = -1;
	v->cipher = cipher;
	{
		/* Renames must not starve behind a stream of lookups. */
		pthread_rwlockattr_t attr;

		pthread_rwlockattr_init(&attr);
		pthread_rwlockattr_setkind_np(
			&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&v->ns_lock, &attr);
		pthread_rwlockattr_destroy(&attr);
	}
	pthread_mutex_init(&v->dc_lock, NULL);
	pthread_mutex_init(&v->files_lock, NULL);
	pthread_mutex_init(&v->keys_lock, NULL);
	v->keys = medfs_secret_alloc(sizeof(*v->keys));
	if (!v->keys) {
		r = -ENOMEM;
		goto fail;
	}
	r = derive_keys(v->keys, vault_key);
	if (r < 0)
		goto fail;
	sodium_mprotect_readonly(v->keys);
	vfd = open(vault_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (vfd < 0) {
		r = -errno;
		goto fail;
	}
	v->tree_fd = openat(vfd, MEDFS_TREE_NAME, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = -errno;
	close(vfd);
	if (v->tree_fd < 0)
		goto fail;
	/* The root header must authenticate under this key. */
	r = dir_lookup(v, "/", 1, &vpath, id);
	free(vpath);
	if (r < 0)
		goto fail;
	*out = v;
	return 0;
fail:
	medfs_vault_close(v);
	return r;
}

void medfs_vault_set_integrity_hook(struct medfs_vault *v, medfs_integrity_fn fn,
				    void *ctx)
{
	v->hook = fn;
	v->hook_ctx = ctx;
}

void medfs_vault_close(struct medfs_vault *v)
{
	if (!v)
		return;
	dc_clear(v);
	for (size_t i = 0; i < FILES_BUCKETS; i++) {
		struct medfs_file *f = v->files[i];

		while (f) {
			struct medfs_file *next = f->next;

			file_free(f);
			f = next;
		}
	}
	while (v->slabs) {
		struct key_slab *next = v->slabs->next;

		medfs_secret_free(v->slabs->mem);
		free(v->slabs);
		v->slabs = next;
	}
	if (v->tree_fd >= 0)
		close(v->tree_fd);
	medfs_secret_free(v->keys);
	pthread_rwlock_destroy(&v->ns_lock);
	pthread_mutex_destroy(&v->dc_lock);
	pthread_mutex_destroy(&v->files_lock);
	pthread_mutex_destroy(&v->keys_lock);
	free(v);
}
