/* medfs-fsck: the walk over the tree. The first pass goes through the
 * library with plaintext paths; the second lists each vault directory
 * directly and reports what the first could not see. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "fsck.h"
#include "medfs/block.h"
#include "medfs/config.h"
#include "medfs/crypto.h"
#include "medfs/header.h"
#include "medfs/journal.h"
#include "medfs/name.h"
#include "medfs/repair.h"
#include "medfs/vault.h"
#include "medfs/vpath.h"

struct child {
	char *name;
	mode_t mode;
};

struct children {
	struct child *v;
	size_t n, cap;
	bool oom;
};

static char *join(const char *dir, const char *name)
{
	char *out;

	if (asprintf(&out, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", name) < 0)
		return NULL;
	return out;
}

/* Reads [off, off + len) again one block at a time to name each bad block. */
static void narrow_down(struct fsck *k, struct medfs_file *f, const char *path,
			uint64_t off, size_t len)
{
	for (uint64_t b = off; b < off + len; b += MEDFS_BLOCK_SIZE) {
		size_t n = off + len - b < MEDFS_BLOCK_SIZE ? off + len - b
							    : MEDFS_BLOCK_SIZE;
		ssize_t r = medfs_file_read(f, k->buf, n, (off_t)b);

		if (r < 0)
			failed(k, path, (int64_t)b, "read", (int)r);
		else
			flush_events(k, path, (int64_t)b);
	}
}

static void check_xattrs(struct fsck *k, const char *path)
{
	char *list = NULL, *value = NULL;
	ssize_t size, r;

	size = medfs_vault_listxattr(k->vault, path, NULL, 0);
	if (size < 0) {
		failed(k, path, -1, "listing extended attributes", (int)size);
		return;
	}
	drop_events(k); /* the listing below reports the same again */
	if (size == 0)
		return;
	list = malloc((size_t)size);
	if (!list) {
		k->oom = true;
		return;
	}
	size = medfs_vault_listxattr(k->vault, path, list, (size_t)size);
	if (size < 0) {
		failed(k, path, -1, "listing extended attributes", (int)size);
		goto out;
	}
	flush_events(k, path, -1);
	for (char *name = list; name < list + size; name += strlen(name) + 1) {
		r = medfs_vault_getxattr(k->vault, path, name, NULL, 0);
		if (r > 0) {
			value = medfs_secret_alloc((size_t)r);
			if (!value) {
				k->oom = true;
				goto out;
			}
			r = medfs_vault_getxattr(k->vault, path, name, value, (size_t)r);
			medfs_secret_free(value);
			value = NULL;
		}
		if (r < 0) {
			char op[300];

			snprintf(op, sizeof(op), "extended attribute %s", name);
			failed(k, path, -1, op, (int)r);
		} else {
			flush_events(k, path, -1);
		}
	}
out:
	free(list);
}

/* The file's sealed metadata (a DICOM file's identifiers), if it has any:
 * it names the patient in the journal, so metadata that does not
 * authenticate (tampered, or left under an old key) is a problem. */
static bool check_meta(struct fsck *k, struct medfs_file *f, const char *path)
{
	char *meta = medfs_secret_alloc(MEDFS_META_MAX);
	ssize_t r;

	if (!meta) {
		k->oom = true;
		return false;
	}
	r = medfs_file_get_meta(f, meta, MEDFS_META_MAX);
	if (r < 0 && r != -ENODATA)
		failed(k, path, -1, "file metadata", (int)r);
	else
		flush_events(k, path, -1);
	medfs_secret_free(meta);
	return r == -EBADMSG;
}

/* Checks the regular file path, vault file vpath bound to b; a file that
 * cannot be read whole is salvaged when repairing. */
static void check_file(struct fsck *k, const char *path, const char *vpath,
		       const struct medfs_binding *b)
{
	unsigned long snapshot = k->problems, meta_snapshot;
	struct medfs_file *f = NULL;
	uint64_t size, off = 0;
	bool damaged = false, meta_bad, grown;
	int ret;

	ret = medfs_file_open(k->vault, path, O_RDONLY, &f);
	if (ret < 0) {
		failed(k, path, -1, "open", ret);
		if (ret == -EBADMSG)
			salvage(k, snapshot, path, vpath, b);
		return;
	}
	flush_events(k, path, -1);
	grown = medfs_file_grown(f);
	if (grown)
		problem(k, path, -1, vpath, -1,
			"longer than its header (an extension interrupted by a crash): "
			"read at the header's size");
	size = medfs_file_size(f);
	/* Holes are skipped: a 16 TiB sparse file, which any user of the
	 * mount can make at no cost, is checked in the time of its data. */
	while ((off = medfs_file_next_data(f, off)) < size) {
		size_t n = size - off < READ_CHUNK ? size - off : READ_CHUNK;
		ssize_t r = medfs_file_read(f, k->buf, n, (off_t)off);

		if (r == -EBADMSG) {
			drop_events(k); /* reported again, block by block */
			narrow_down(k, f, path, off, n);
			damaged = true;
			off += n;
			continue;
		}
		if (r < 0) {
			failed(k, path, (int64_t)off, "read", (int)r);
			off += n;
			continue;
		}
		flush_events(k, path, (int64_t)off);
		if (r == 0) {
			problem(k, path, (int64_t)off, NULL, -1,
				"file ends before its size of %" PRIu64 " bytes", size);
			damaged = true;
			break;
		}
		off += (uint64_t)r;
	}
	sodium_memzero(k->buf, READ_CHUNK);
	meta_snapshot = k->problems;
	meta_bad = check_meta(k, f, path);
	meta_snapshot = k->problems - meta_snapshot; /* the problems it reported */
	medfs_file_release(f);
	flush_events(k, path, -1);
	check_xattrs(k, path);
	if (damaged) {
		salvage(k, snapshot, path, vpath, b);
		return;
	}
	if (grown)
		settle_file(k, k->problems - 1, path, vpath);
	if (meta_bad)
		repair_meta(k, k->problems - meta_snapshot, path, vpath);
}

static void check_link(struct fsck *k, const char *path)
{
	char *target = medfs_secret_alloc(MEDFS_LINK_MAX + 1);
	int ret;

	if (!target) {
		k->oom = true;
		return;
	}
	ret = medfs_vault_readlink(k->vault, path, target, MEDFS_LINK_MAX + 1);
	if (ret < 0)
		failed(k, path, -1, "symlink target", ret);
	else
		flush_events(k, path, -1);
	medfs_secret_free(target);
}

static int fill_child(void *ctx, const char *name, const struct stat *st)
{
	struct children *c = ctx;
	struct child *v;

	v = grow(c->v, &c->cap, c->n + 1, sizeof(*v));
	if (!v)
		goto oom;
	c->v = v;
	v[c->n].name = strdup(name);
	if (!v[c->n].name)
		goto oom;
	v[c->n].mode = st ? st->st_mode : 0;
	c->n++;
	return 0;
oom:
	c->oom = true;
	return 1;
}

static int cmp_child(const void *a, const void *b)
{
	return strcmp(((const struct child *)a)->name, ((const struct child *)b)->name);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Opens vpath, relative to the vault directory, with flags: vault paths of
 * deep trees are many times PATH_MAX long (see vpath.h). -1 and errno on
 * failure. */
static int open_in_vault(const struct fsck *k, const char *vpath, int flags)
{
	int vfd = open(k->vault_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd, e;

	if (vfd < 0)
		return -1;
	fd = medfs_vpath_openat(vfd, vpath, flags, 0);
	e = errno;
	close(vfd);
	errno = e;
	return fd;
}

/* Opens the directory header of vault directory vdir bound to b. */
static int read_dir_id(struct fsck *k, const char *vdir, const struct medfs_binding *b,
		       uint8_t dir_id[MEDFS_DIR_ID_LEN])
{
	uint8_t hdr[MEDFS_DIR_HEADER_LEN];
	char *p;
	int fd, ret;
	ssize_t r;

	if (asprintf(&p, "%s/%s", vdir, MEDFS_DIR_HEADER_NAME) < 0)
		return -ENOMEM;
	fd = open_in_vault(k, p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(p);
	if (fd < 0)
		return -errno;
	r = pread(fd, hdr, sizeof(hdr), 0);
	ret = r < 0 ? -errno : 0;
	close(fd);
	if (ret < 0)
		return ret;
	if (r != (ssize_t)sizeof(hdr))
		return -EBADMSG;
	return medfs_dir_header_open(hdr, dir_id, k->dir_key, b);
}

/* Lists vault directory vdir directly and reports what the listing through
 * the library did not show. entries holds the entry names of the children
 * that it did show, sorted. */
static void check_vault_dir(struct fsck *k, const char *plain, const char *vdir,
			    char **entries, size_t n_entries)
{
	struct dirent *d;
	char *vpath;
	DIR *dir = NULL;
	int dfd;

	dfd = open_in_vault(k, vdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd >= 0 && !(dir = fdopendir(dfd)))
		close(dfd);
	if (!dir) {
		problem(k, plain, -1, vdir, -1, "cannot list vault directory: %s",
			strerror(errno));
		return;
	}
	dfd = dirfd(dir);
	while ((d = readdir(dir)) != NULL) {
		const char *e = d->d_name;
		struct stat st;

		if (strcmp(e, ".") == 0 || strcmp(e, "..") == 0 ||
		    strcmp(e, MEDFS_DIR_HEADER_NAME) == 0)
			continue;
		if (asprintf(&vpath, "%s/%s", vdir, e) < 0) {
			k->oom = true;
			break;
		}
		if (has_suffix(e, MEDFS_LONGNAME_SUFFIX) && e[0] != '.') {
			char base[NAME_MAX + 1];
			size_t bl = strlen(e) - strlen(MEDFS_LONGNAME_SUFFIX);

			memcpy(base, e, bl);
			base[bl] = '\0';
			if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) != 0 &&
			    !was_reported(k, vpath)) {
				problem(k, NULL, -1, vpath, -1,
					"orphan long-name sidecar (no entry %s)", base);
				remove_leftover(k, vpath, "orphan long-name sidecar");
			}
		} else if (medfs_repair_is_leftover(e)) {
			problem(k, plain, -1, vpath, -1,
				"temporary left by an interrupted operation");
			remove_leftover(k, vpath, "temporary");
		} else if (e[0] == '.') {
			if (k->verbose)
				fprintf(stderr,
					"medfs-fsck: note: unknown internal vault "
					"entry %s left alone\n",
					vpath);
		} else if (!bsearch(&e, entries, n_entries, sizeof(*entries), cmp_str)) {
			char *dirvp = NULL;

			/* A damaged directory may have been reported by its header. */
			if (asprintf(&dirvp, "%s/%s", vpath, MEDFS_DIR_HEADER_NAME) < 0)
				dirvp = NULL;
			if (!was_reported(k, vpath) && !(dirvp && was_reported(k, dirvp)))
				problem(k, plain, -1, vpath, -1,
					"entry not visible: its %s does not authenticate",
					medfs_name_is_long(e) ? "long name (sidecar)"
							      : "name");
			free(dirvp);
		}
		free(vpath);
	}
	closedir(dir);
}

/* Checks directory plain, stored as vault directory vdir ("tree/...") and
 * bound to b, and everything below it. */
void check_dir(struct fsck *k, const char *plain, const char *vdir,
	       const struct medfs_binding *b, bool again)
{
	unsigned long snapshot = k->problems;
	struct children c = { 0 };
	uint8_t dir_id[MEDFS_DIR_ID_LEN];
	char **entries = NULL;
	size_t n_entries = 0;
	int ret;

	ret = medfs_vault_readdir(k->vault, plain, fill_child, &c);
	if (c.oom) {
		k->oom = true;
		goto out;
	}
	if (ret < 0) {
		failed(k, plain, -1, "listing (contents not checked)", ret);
		if (!again && (ret == -EBADMSG || ret == -ENOENT) &&
		    repair_dir(k, snapshot, plain, vdir, b))
			goto again;
		goto out;
	}
	flush_events(k, plain, -1);
	/* The library accepted the header; its id names the children. */
	ret = read_dir_id(k, vdir, b, dir_id);
	if (ret < 0) {
		problem(k, plain, -1, vdir, -1,
			"directory header: %s (contents not checked)",
			ret == -EBADMSG ? "does not authenticate" : strerror(-ret));
		if (!again && repair_dir(k, snapshot, plain, vdir, b))
			goto again;
		goto out;
	}
	if (b->name_len == 0)
		memcpy(k->root_id, dir_id, sizeof(dir_id));
	if (c.n) /* an empty directory has no array (NULL): not for qsort */
		qsort(c.v, c.n, sizeof(*c.v), cmp_child);

	entries = calloc(c.n ? c.n : 1, sizeof(*entries));
	if (!entries) {
		k->oom = true;
		goto out;
	}
	for (size_t i = 0; i < c.n && !k->oom; i++) {
		char enc[MEDFS_NAME_ENC_MAX], entry[MEDFS_NAME_ENC_MAX];
		char *path = NULL, *cvdir = NULL;
		int len;

		path = join(plain, c.v[i].name);
		if (!path) {
			k->oom = true;
			break;
		}
		k->objects++;
		progress(k);
		if (k->verbose) {
			progress_clear(k);
			fputs("medfs-fsck: checking ", stderr);
			put_path(stderr, path);
			fputc('\n', stderr);
		}

		len = medfs_name_encrypt(enc, sizeof(enc), c.v[i].name,
					 strlen(c.v[i].name), dir_id, k->name_key);
		if (len >= 0)
			len = medfs_name_entry(entry, sizeof(entry), enc, (size_t)len,
					       k->name_key);
		if (len < 0) {
			problem(k, path, -1, NULL, -1, "cannot encrypt name: %s",
				strerror(-len));
			free(path);
			continue;
		}
		entries[n_entries] = strdup(entry);
		if (!entries[n_entries]) {
			free(path);
			k->oom = true;
			break;
		}
		n_entries++;

		if (S_ISDIR(c.v[i].mode)) {
			struct medfs_binding cb = { .name = c.v[i].name,
						    .name_len = strlen(c.v[i].name) };

			memcpy(cb.parent_id, dir_id, MEDFS_DIR_ID_LEN);
			if (asprintf(&cvdir, "%s/%s", vdir, entry) < 0) {
				free(path);
				k->oom = true;
				break;
			}
			check_dir(k, path, cvdir, &cb, false);
			free(cvdir);
		} else if (S_ISREG(c.v[i].mode)) {
			struct medfs_binding fb = { .name = c.v[i].name,
						    .name_len = strlen(c.v[i].name) };

			memcpy(fb.parent_id, dir_id, MEDFS_DIR_ID_LEN);
			if (asprintf(&cvdir, "%s/%s", vdir, entry) < 0) {
				free(path);
				k->oom = true;
				break;
			}
			check_file(k, path, cvdir, &fb);
			free(cvdir);
		} else if (S_ISLNK(c.v[i].mode)) {
			check_link(k, path);
		} else if (!S_ISFIFO(c.v[i].mode) && !S_ISSOCK(c.v[i].mode)) {
			/* FIFOs and sockets have a name and no content. */
			problem(k, path, -1, NULL, -1,
				"not a regular file, directory, symlink, FIFO or socket "
				"(mode %o)",
				(unsigned)c.v[i].mode);
		}
		free(path);
	}
	if (!k->oom) {
		qsort(entries, n_entries, sizeof(*entries), cmp_str);
		check_vault_dir(k, plain, vdir, entries, n_entries);
	}
out:
	for (size_t i = 0; i < n_entries; i++)
		free(entries[i]);
	free(entries);
	for (size_t i = 0; i < c.n; i++)
		free(c.v[i].name);
	free(c.v);
	return;
again:
	for (size_t i = 0; i < c.n; i++)
		free(c.v[i].name);
	free(c.v);
	check_dir(k, plain, vdir, b, true);
}
