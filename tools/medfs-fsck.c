/* medfs-fsck: checks every directory header, name, file header, block,
 * symlink target, extended attribute and file metadata of a vault, its
 * config copies and its journal's STATE.
 *
 * Two walks over the same tree. The first goes through the library with
 * plaintext paths, reads everything back and collects what the integrity
 * hook reports, so a problem is named by its plaintext path and by the
 * vault file and offset where it lies. The second lists each vault
 * directory directly and reports what the first walk could not see:
 * entries whose names do not authenticate and orphan long-name sidecars.
 *
 * Exit status: 0 clean, 1 problems found, 2 could not run. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "medfs/block.h"
#include "medfs/config.h"
#include "medfs/crypto.h"
#include "medfs/header.h"
#include "medfs/journal.h"
#include "medfs/log.h"
#include "medfs/name.h"
#include "medfs/rotate.h"
#include "medfs/unlock.h"
#include "medfs/vault.h"

#define READ_CHUNK (1024 * 1024)
#define EXIT_CLEAN 0
#define EXIT_PROBLEMS 1
#define EXIT_FAILED 2

/* One report of the integrity hook, kept until the walk knows which
 * plaintext path and offset it belongs to. */
struct event {
	char *vault_path;
	char *plain_path;
	int64_t offset;
	char *what;
};

struct fsck {
	const char *vault_dir;
	struct medfs_vault *vault;
	bool verbose;
	bool oom;
	uint8_t *name_key; /* secret: NAME_MAC subkey || NAME_ENC subkey */
	uint8_t *dir_key;  /* secret: DIR subkey */
	uint8_t *buf;	   /* secret: plaintext read buffer */
	struct event *events;
	size_t n_events, cap_events;
	char **reported; /* vault paths already named in a problem */
	size_t n_reported, cap_reported;
	unsigned long objects;
	unsigned long problems;
};

struct child {
	char *name;
	mode_t mode;
};

struct children {
	struct child *v;
	size_t n, cap;
	bool oom;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: medfs-fsck VAULT [--passphrase-file FILE | --keyfile FILE |\n"
		"                  --recovery-key-file FILE] [-v] [--help]\n"
		"\n"
		"Checks every directory header, name, file header, block, symlink\n"
		"target and extended attribute of the medfs vault VAULT, which should\n"
		"not be mounted while it runs.\n"
		"\n"
		"  --passphrase-file FILE  read the passphrase from the first line\n"
		"                          of FILE (default: ask on the terminal)\n"
		"  --keyfile FILE          unlock with a key file slot\n"
		"  --recovery-key-file FILE  unlock with a recovery key, as printed\n"
		"  -v, --verbose           name every object as it is checked\n"
		"  -h, --help              show this help\n"
		"\n"
		"Exit status: 0 no problem, 1 problems found, 2 could not run.\n");
}

static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 16;
	void *q;

	if (need <= *cap)
		return p;
	while (n < need)
		n *= 2;
	q = realloc(p, n * elem);
	if (q)
		*cap = n;
	return q;
}

/* Vault paths as "tree/...", whatever form the library hands them in. */
static char *vault_rel(const struct fsck *k, const char *p)
{
	size_t vl = strlen(k->vault_dir);
	char *out;

	if (!p)
		return NULL;
	if (strncmp(p, k->vault_dir, vl) == 0 && p[vl] == '/')
		p += vl + 1;
	while (*p == '/')
		p++;
	if (strncmp(p, MEDFS_TREE_NAME "/", sizeof(MEDFS_TREE_NAME)) == 0 ||
	    strcmp(p, MEDFS_TREE_NAME) == 0 || strcmp(p, MEDFS_CONFIG_NAME) == 0 ||
	    strcmp(p, MEDFS_CONFIG_BACKUP_NAME) == 0)
		return strdup(p);
	if (asprintf(&out, "%s%s%s", MEDFS_TREE_NAME, *p ? "/" : "", p) < 0)
		return NULL;
	return out;
}

static bool was_reported(const struct fsck *k, const char *vpath)
{
	for (size_t i = 0; i < k->n_reported; i++)
		if (strcmp(k->reported[i], vpath) == 0)
			return true;
	return false;
}

static void remember(struct fsck *k, const char *vpath)
{
	char **r;

	if (!vpath || was_reported(k, vpath))
		return;
	r = grow(k->reported, &k->cap_reported, k->n_reported + 1, sizeof(*r));
	if (!r) {
		k->oom = true;
		return;
	}
	k->reported = r;
	r[k->n_reported] = strdup(vpath);
	if (!r[k->n_reported]) {
		k->oom = true;
		return;
	}
	k->n_reported++;
}

/* Prints one problem: "medfs-fsck: /plain: what at offset N (vault file V,
 * offset M)", or "medfs-fsck: vault file V: what at offset M" when no
 * plaintext path is known. Offsets below zero are left out. */
static void problem(struct fsck *k, const char *plain, int64_t plain_off,
		    const char *vpath, int64_t vault_off, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void problem(struct fsck *k, const char *plain, int64_t plain_off,
		    const char *vpath, int64_t vault_off, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);

	if (plain) {
		printf("medfs-fsck: %s: %s", plain, what);
		if (plain_off >= 0)
			printf(" at offset %" PRId64, plain_off);
		if (vpath) {
			printf(" (vault file %s", vpath);
			if (vault_off >= 0)
				printf(", offset %" PRId64, vault_off);
			printf(")");
		}
	} else {
		printf("medfs-fsck: vault file %s: %s", vpath ? vpath : "?", what);
		if (vault_off >= 0)
			printf(" at offset %" PRId64, vault_off);
	}
	printf("\n");
	fflush(stdout);
	k->problems++;
	remember(k, vpath);
}

static void integrity_hook(void *ctx, const char *vault_path, const char *plain_path,
			   int64_t offset, const char *what)
{
	struct fsck *k = ctx;
	struct event *e;

	e = grow(k->events, &k->cap_events, k->n_events + 1, sizeof(*e));
	if (!e) {
		k->oom = true;
		return;
	}
	k->events = e;
	e += k->n_events;
	e->vault_path = vault_rel(k, vault_path);
	e->plain_path = plain_path ? strdup(plain_path) : NULL;
	e->offset = offset;
	e->what = strdup(what ? what : "integrity failure");
	if (!e->what || (vault_path && !e->vault_path) ||
	    (plain_path && !e->plain_path)) {
		free(e->vault_path);
		free(e->plain_path);
		free(e->what);
		k->oom = true;
		return;
	}
	k->n_events++;
}

static void drop_events(struct fsck *k)
{
	for (size_t i = 0; i < k->n_events; i++) {
		free(k->events[i].vault_path);
		free(k->events[i].plain_path);
		free(k->events[i].what);
	}
	k->n_events = 0;
}

/* Prints the hook's pending reports as problems of plain (unless the hook
 * named a plaintext path itself) at plaintext offset plain_off. Returns how
 * many were printed. */
static size_t flush_events(struct fsck *k, const char *plain, int64_t plain_off)
{
	size_t n = k->n_events;

	for (size_t i = 0; i < n; i++) {
		const struct event *e = &k->events[i];

		problem(k, e->plain_path ? e->plain_path : plain, plain_off,
			e->vault_path, e->offset, "%s", e->what);
	}
	drop_events(k);
	return n;
}

/* A failed library call: what the hook said about it, or the error itself
 * when the hook said nothing. */
static void failed(struct fsck *k, const char *plain, int64_t plain_off, const char *op,
		   int err)
{
	if (flush_events(k, plain, plain_off) > 0)
		return;
	if (err == -EBADMSG)
		problem(k, plain, plain_off, NULL, -1, "%s: integrity failure", op);
	else
		problem(k, plain, plain_off, NULL, -1, "%s: %s", op, strerror(-err));
}

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
static void check_meta(struct fsck *k, struct medfs_file *f, const char *path)
{
	char *meta = medfs_secret_alloc(MEDFS_META_MAX);
	ssize_t r;

	if (!meta) {
		k->oom = true;
		return;
	}
	r = medfs_file_get_meta(f, meta, MEDFS_META_MAX);
	if (r < 0 && r != -ENODATA)
		failed(k, path, -1, "file metadata", (int)r);
	else
		flush_events(k, path, -1);
	medfs_secret_free(meta);
}

static void check_file(struct fsck *k, const char *path)
{
	struct medfs_file *f = NULL;
	uint64_t size, off = 0;
	int ret;

	ret = medfs_file_open(k->vault, path, O_RDONLY, &f);
	if (ret < 0) {
		failed(k, path, -1, "open", ret);
		return;
	}
	flush_events(k, path, -1);
	size = medfs_file_size(f);
	while (off < size) {
		size_t n = size - off < READ_CHUNK ? size - off : READ_CHUNK;
		ssize_t r = medfs_file_read(f, k->buf, n, (off_t)off);

		if (r == -EBADMSG) {
			drop_events(k); /* reported again, block by block */
			narrow_down(k, f, path, off, n);
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
			break;
		}
		off += (uint64_t)r;
	}
	sodium_memzero(k->buf, READ_CHUNK);
	check_meta(k, f, path);
	medfs_file_release(f);
	flush_events(k, path, -1);
	check_xattrs(k, path);
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

/* Opens the directory header of vault directory vdir bound to b. */
static int read_dir_id(struct fsck *k, const char *vdir, const struct medfs_binding *b,
		       uint8_t dir_id[MEDFS_DIR_ID_LEN])
{
	uint8_t hdr[MEDFS_DIR_HEADER_LEN];
	char *p;
	int fd, ret;
	ssize_t r;

	if (asprintf(&p, "%s/%s/%s", k->vault_dir, vdir, MEDFS_DIR_HEADER_NAME) < 0)
		return -ENOMEM;
	fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
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
	char *p, *vpath;
	DIR *dir;
	int dfd;

	if (asprintf(&p, "%s/%s", k->vault_dir, vdir) < 0) {
		k->oom = true;
		return;
	}
	dir = opendir(p);
	free(p);
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
			    !was_reported(k, vpath))
				problem(k, NULL, -1, vpath, -1,
					"orphan long-name sidecar (no entry %s)", base);
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
static void check_dir(struct fsck *k, const char *plain, const char *vdir,
		      const struct medfs_binding *b)
{
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
		goto out;
	}
	flush_events(k, plain, -1);
	/* The library accepted the header; its id names the children. */
	ret = read_dir_id(k, vdir, b, dir_id);
	if (ret < 0) {
		problem(k, plain, -1, vdir, -1,
			"directory header: %s (contents not checked)",
			ret == -EBADMSG ? "does not authenticate" : strerror(-ret));
		goto out;
	}
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
		if (k->verbose)
			fprintf(stderr, "medfs-fsck: checking %s\n", path);

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
			check_dir(k, path, cvdir, &cb);
			free(cvdir);
		} else if (S_ISREG(c.v[i].mode)) {
			check_file(k, path);
		} else if (S_ISLNK(c.v[i].mode)) {
			check_link(k, path);
		} else {
			problem(k, path, -1, NULL, -1,
				"not a regular file, directory or symlink (mode %o)",
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
}

/* Reads one copy of the config (either format); returns 0, -ENOENT or
 * -EBADMSG. */
static int read_config_copy(const struct fsck *k, const char *name,
			    uint8_t out[MEDFS_CONFIG_LEN + 1], size_t *len,
			    const uint8_t vault_key[MEDFS_KEY_LEN])
{
	struct medfs_config c;
	int ret;

	ret = medfs_config_read(k->vault_dir, name, out, len);
	if (ret == 0)
		ret = medfs_config_decode(&c, out, *len);
	if (ret == 0)
		ret = medfs_config_verify(out, vault_key);
	return ret == -ENOENT ? ret : ret < 0 ? -EBADMSG : 0;
}

/* Both copies of the config must authenticate and be the same. */
static void check_config(struct fsck *k, const uint8_t vault_key[MEDFS_KEY_LEN])
{
	static uint8_t primary[MEDFS_CONFIG_LEN + 1], backup[MEDFS_CONFIG_LEN + 1];
	size_t lp = 0, lb = 0;
	int rp, rb;

	rp = read_config_copy(k, MEDFS_CONFIG_NAME, primary, &lp, vault_key);
	rb = read_config_copy(k, MEDFS_CONFIG_BACKUP_NAME, backup, &lb, vault_key);
	if (rp < 0)
		problem(k, NULL, -1, MEDFS_CONFIG_NAME, -1, "vault config %s",
			rp == -EBADMSG ? "is damaged or fails authentication"
				       : strerror(-rp));
	if (rb < 0)
		problem(k, NULL, -1, MEDFS_CONFIG_BACKUP_NAME, -1,
			"second copy of the "
			"vault config %s",
			rb == -EBADMSG ? "is damaged or fails authentication"
				       : strerror(-rb));
	if (rp == 0 && rb == 0 && (lp != lb || sodium_memcmp(primary, backup, lp) != 0))
		problem(k, NULL, -1, MEDFS_CONFIG_BACKUP_NAME, -1,
			"differs from %s (interrupted key change? write the config "
			"again with medfs-key)",
			MEDFS_CONFIG_NAME);
}

/* The access journal's STATE (VAULT/journal/STATE, when the journal is
 * there), sealed under the vault key like the tree: one that does not
 * unseal (damaged, or left under an old key by a rotation) stops the next
 * mount from continuing the journal's chain. */
static void check_journal_state(struct fsck *k, const uint8_t vault_key[MEDFS_KEY_LEN])
{
	uint8_t state[MEDFS_ROTATE_JOURNAL_STATE_LEN + 1];
	struct medfs_rotate_keys *rk = NULL;
	char path[PATH_MAX];
	ssize_t n;
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s/STATE", k->vault_dir,
		 MEDFS_ROTATE_JOURNAL_DEFAULT);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return; /* no journal here (it may be kept elsewhere) */
	n = read(fd, state, sizeof(state));
	r = n < 0 ? -errno : 0;
	close(fd);
	/* Under the vault key alone: both keys of a rotation are this one. */
	if (r == 0)
		r = medfs_rotate_keys_new(&rk, vault_key, vault_key);
	if (r == 0)
		r = medfs_rotate_journal_state(rk, state, (size_t)n);
	medfs_rotate_keys_free(rk);
	if (r == -ENOMEM)
		k->oom = true;
	else if (r < 0)
		problem(k, NULL, -1, MEDFS_ROTATE_JOURNAL_DEFAULT "/STATE", -1,
			"journal state %s",
			r == -EBADMSG
				? "does not unseal under the vault key (the next "
				  "mount must start a new chain: -o journal_restart)"
				: strerror(-r));
}

static void log_sink_quiet(int priority, const char *msg)
{
	(void)priority;
	(void)msg;
}

static void log_sink_verbose(int priority, const char *msg)
{
	(void)priority;
	fprintf(stderr, "medfs-fsck: library: %s\n", msg);
}

static bool exists(const char *dir, const char *name)
{
	struct stat st;
	char *p;
	int r;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return false;
	r = lstat(p, &st);
	free(p);
	return r == 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "passphrase-file", required_argument, NULL, 'p' },
		{ "keyfile", required_argument, NULL, 'k' },
		{ "recovery-key-file", required_argument, NULL, 'r' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fsck k = { 0 };
	struct medfs_config config;
	const char *secret_file = NULL;
	enum medfs_slot_kind kind = MEDFS_SLOT_PASSPHRASE;
	char why[512];
	int secret_given = 0;
	uint8_t *vault_key = NULL;
	struct medfs_binding root = { .name = "", .name_len = 0 };
	char *vault_dir = NULL;
	struct stat st;
	int c, ret, slot, used_backup = 0, status = EXIT_FAILED;

	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
		case 'k':
		case 'r':
			if (secret_given++) {
				fprintf(stderr,
					"medfs-fsck: give one of --passphrase-file, "
					"--keyfile and --recovery-key-file\n");
				return EXIT_FAILED;
			}
			secret_file = optarg;
			kind = c == 'p'	  ? MEDFS_SLOT_PASSPHRASE
			       : c == 'k' ? MEDFS_SLOT_KEYFILE
					  : MEDFS_SLOT_RECOVERY;
			break;
		case 'v':
			k.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_CLEAN;
		default:
			usage(stderr);
			return EXIT_FAILED;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return EXIT_FAILED;
	}
	vault_dir = strdup(argv[optind]);
	if (!vault_dir) {
		fprintf(stderr, "medfs-fsck: out of memory\n");
		return EXIT_FAILED;
	}
	/* "VAULT/" and "VAULT" name the same vault paths. */
	for (size_t n = strlen(vault_dir); n > 1 && vault_dir[n - 1] == '/'; n--)
		vault_dir[n - 1] = '\0';
	k.vault_dir = vault_dir;

	if (medfs_crypto_init() < 0) {
		fprintf(stderr, "medfs-fsck: cannot start libsodium\n");
		goto out;
	}
	ret = medfs_disable_core_dumps();
	if (ret < 0)
		fprintf(stderr, "medfs-fsck: warning: cannot disable core dumps: %s\n",
			strerror(-ret));
	medfs_log_set(k.verbose ? log_sink_verbose : log_sink_quiet);

	if (stat(vault_dir, &st) != 0) {
		fprintf(stderr, "medfs-fsck: cannot open %s: %s\n", vault_dir,
			strerror(errno));
		goto out;
	}
	if (!S_ISDIR(st.st_mode) || (!exists(vault_dir, MEDFS_CONFIG_NAME) &&
				     !exists(vault_dir, MEDFS_CONFIG_BACKUP_NAME))) {
		fprintf(stderr, "medfs-fsck: %s is not a medfs vault (no %s)\n",
			vault_dir, MEDFS_CONFIG_NAME);
		goto out;
	}

	vault_key = medfs_secret_alloc(MEDFS_KEY_LEN);
	k.name_key = medfs_secret_alloc(MEDFS_NAME_KEY_LEN);
	k.dir_key = medfs_secret_alloc(MEDFS_KEY_LEN);
	k.buf = medfs_secret_alloc(READ_CHUNK);
	if (!vault_key || !k.name_key || !k.dir_key || !k.buf) {
		fprintf(stderr, "medfs-fsck: cannot allocate secure memory\n");
		goto out;
	}

	ret = medfs_unlock(vault_dir, kind, secret_file, &config, vault_key, &slot,
			   &used_backup, why, sizeof(why));
	if (ret < 0) {
		fprintf(stderr, "medfs-fsck: %s\n", why);
		/* Journaled through the spool (medfs/journal.h). */
		if (ret == -EKEYREJECTED &&
		    medfs_journal_spool_tool(
			    vault_dir, MEDFS_OP_UNLOCK_FAILED,
			    kind == MEDFS_SLOT_KEYFILE ? "medfs-fsck: wrong key file"
			    : kind == MEDFS_SLOT_RECOVERY
				    ? "medfs-fsck: wrong recovery key"
				    : "medfs-fsck: wrong passphrase") < 0)
			fprintf(stderr, "medfs-fsck: warning: cannot journal the failed "
					"attempt\n");
		goto out;
	}
	if (k.verbose)
		fprintf(stderr, "medfs-fsck: key slot %d opened the %s\n", slot,
			used_backup ? "second copy of the config" : "config");
	if (used_backup)
		fprintf(stderr,
			"medfs-fsck: warning: %s is missing or damaged; used "
			"the second copy %s\n",
			MEDFS_CONFIG_NAME, MEDFS_CONFIG_BACKUP_NAME);

	if (medfs_subkey_derive(k.name_key, MEDFS_SUBKEY_NAME_MAC, vault_key) < 0 ||
	    medfs_subkey_derive(k.name_key + MEDFS_KEY_LEN, MEDFS_SUBKEY_NAME_ENC,
				vault_key) < 0 ||
	    medfs_subkey_derive(k.dir_key, MEDFS_SUBKEY_DIR, vault_key) < 0) {
		fprintf(stderr, "medfs-fsck: cannot derive subkeys\n");
		goto out;
	}
	if (k.verbose)
		fprintf(stderr, "medfs-fsck: content blocks: %s\n",
			medfs_block_cipher_name(config.cipher));
	/* Blocks are checked with the cipher of the config that opened. */
	ret = medfs_vault_open_cipher(&k.vault, vault_dir, vault_key, config.cipher);
	if (ret == -EBADMSG || ret == -ENOENT || ret == -ENOTDIR) {
		/* A damaged root is a finding, not a failure to run. */
		check_config(&k, vault_key);
		problem(&k, "/", -1, MEDFS_TREE_NAME, -1, "%s (nothing below it checked)",
			ret == -EBADMSG ? "root directory header does not authenticate"
					: "root directory missing");
		printf("medfs-fsck: 1 objects checked, %lu problems\n", k.problems);
		status = EXIT_PROBLEMS;
		goto out;
	}
	if (ret < 0) {
		fprintf(stderr, "medfs-fsck: cannot open the vault %s: %s\n", vault_dir,
			strerror(-ret));
		goto out;
	}
	medfs_vault_set_integrity_hook(k.vault, integrity_hook, &k);

	check_config(&k, vault_key);
	check_journal_state(&k, vault_key);
	medfs_secret_free(vault_key);
	vault_key = NULL;

	k.objects++; /* the root directory */
	memset(root.parent_id, 0, sizeof(root.parent_id));
	check_dir(&k, "/", MEDFS_TREE_NAME, &root);
	flush_events(&k, NULL, -1);

	if (k.oom) {
		fprintf(stderr, "medfs-fsck: out of memory; the check is incomplete\n");
		goto out;
	}
	printf("medfs-fsck: %lu objects checked, %lu problems\n", k.objects, k.problems);
	status = k.problems ? EXIT_PROBLEMS : EXIT_CLEAN;
out:
	if (k.vault)
		medfs_vault_close(k.vault);
	drop_events(&k);
	free(k.events);
	for (size_t i = 0; i < k.n_reported; i++)
		free(k.reported[i]);
	free(k.reported);
	medfs_secret_free(vault_key);
	medfs_secret_free(k.name_key);
	medfs_secret_free(k.dir_key);
	medfs_secret_free(k.buf);
	free(vault_dir);
	return status;
}
