/* medfs: repairs of a damaged vault (medfs/repair.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
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
#include "medfs/dicom.h"
#include "medfs/dicom_meta.h"
#include "medfs/header.h"
#include "medfs/holes.h"
#include "medfs/io.h"
#include "medfs/name.h"
#include "medfs/repair.h"
#include "medfs/vault.h"
#include "medfs/vpath.h"

#define COPY_BLOCKS 256 /* blocks copied per write: 1 MiB */
#define DIR_HEADER_TMP MEDFS_DIR_HEADER_NAME ".tmp"
#define TMP_PREFIX ".tmp-"

_Static_assert(sizeof(MEDFS_REPAIR_FILL) - 1 == MEDFS_REPAIR_FILL_LEN, "fill pattern");

/* Secret: the subkeys, in one sodium_malloc'd block. */
struct repair_keys {
	uint8_t header[MEDFS_KEY_LEN];
	uint8_t dir[MEDFS_KEY_LEN];
	uint8_t xattr[MEDFS_KEY_LEN];
	uint8_t name[MEDFS_NAME_KEY_LEN];
};

struct medfs_repair {
	char *vault_dir;
	int vault_fd;
	uint32_t cipher;
	struct repair_keys *keys;
	struct medfs_vault *vault;
};

bool medfs_repair_quarantined(const char *path)
{
	size_t n = strlen(MEDFS_REPAIR_LOST_FOUND_PATH);

	while (path[0] == '/' && path[1] == '/')
		path++;
	return strncmp(path, MEDFS_REPAIR_LOST_FOUND_PATH, n) == 0 &&
	       (path[n] == '\0' || path[n] == '/');
}

void medfs_repair_fill(uint8_t *buf, size_t len, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)MEDFS_REPAIR_FILL[(off + i) % MEDFS_REPAIR_FILL_LEN];
}

int medfs_repair_ranges_format(char **out, size_t *len, const char *original,
			       uint64_t header_size, uint64_t size, int64_t time,
			       const struct medfs_repair_range *r, size_t n)
{
	char *buf = NULL;
	size_t cap = 0;
	uint64_t lost = 0;
	struct tm tm;
	time_t t = (time_t)time;
	char when[32];
	FILE *f;

	if (!out || !len || !original || (n && !r))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		lost += r[i].len;
	if (!gmtime_r(&t, &tm) ||
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -EINVAL;
	f = open_memstream(&buf, &cap);
	if (!f)
		return -ENOMEM;
	fprintf(f, "# medfs-fsck: what could not be read of a repaired file\n");
	/* A name may hold any byte but '/' and NUL: one with a newline must
	 * not add lines of its own. Control bytes, DEL and '\\' as \ooo. */
	fputs("original ", f);
	for (const unsigned char *c = (const unsigned char *)original; *c; c++) {
		if (*c < 0x20 || *c == 0x7f || *c == '\\')
			fprintf(f, "\\%03o", *c);
		else
			fputc(*c, f);
	}
	fputc('\n', f);
	fprintf(f, "repaired %s\n", when);
	fprintf(f, "header-size %" PRIu64 "\n", header_size);
	fprintf(f, "size %" PRIu64 "\n", size);
	fprintf(f, "lost-bytes %" PRIu64 "\n", lost);
	fprintf(f, "# each lost byte at offset o holds byte o %% 16 of \"MEDFS LOST "
		   "DATA\\n\"\n");
	fprintf(f, "# lost OFFSET LENGTH\n");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "lost %" PRIu64 " %" PRIu64 "\n", r[i].off, r[i].len);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	*len = cap;
	return 0;
}

int medfs_repair_new(struct medfs_repair **out, const char *vault_dir,
		     const uint8_t vault_key[MEDFS_KEY_LEN], uint32_t cipher)
{
	struct medfs_repair *r;
	int ret = -ENOMEM;

	*out = NULL;
	if (medfs_block_cipher_check(cipher) == -EINVAL)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->vault_fd = -1;
	r->cipher = cipher;
	r->vault_dir = strdup(vault_dir);
	r->keys = medfs_secret_alloc(sizeof(*r->keys));
	if (!r->vault_dir || !r->keys)
		goto fail;
	if ((ret = medfs_subkey_derive(r->keys->header, MEDFS_SUBKEY_HEADER, vault_key)) <
		    0 ||
	    (ret = medfs_subkey_derive(r->keys->dir, MEDFS_SUBKEY_DIR, vault_key)) < 0 ||
	    (ret = medfs_subkey_derive(r->keys->xattr, MEDFS_SUBKEY_XATTR, vault_key)) <
		    0 ||
	    (ret = medfs_subkey_derive(r->keys->name, MEDFS_SUBKEY_NAME_MAC, vault_key)) <
		    0 ||
	    (ret = medfs_subkey_derive(r->keys->name + MEDFS_KEY_LEN,
				       MEDFS_SUBKEY_NAME_ENC, vault_key)) < 0)
		goto fail;
	r->vault_fd = open(vault_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->vault_fd < 0) {
		ret = -errno;
		goto fail;
	}
	*out = r;
	return 0;
fail:
	medfs_repair_free(r);
	return ret;
}

void medfs_repair_set_vault(struct medfs_repair *r, struct medfs_vault *v)
{
	r->vault = v;
}

void medfs_repair_free(struct medfs_repair *r)
{
	if (!r)
		return;
	if (r->vault_fd >= 0)
		close(r->vault_fd);
	medfs_secret_free(r->keys);
	free(r->vault_dir);
	free(r);
}

/* ---- small helpers ---- */

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Opens the vault directory that holds vpath (relative to the vault) and
 * points *last at vpath's last component. Vault paths are not trusted:
 * no symlink is followed on the way (a directory swapped for one while
 * fsck runs must not lead a repair out of the vault), and a deep tree's
 * are longer than PATH_MAX (medfs/vpath.h). Returns the descriptor or
 * -errno. */
static int open_parent(struct medfs_repair *r, const char *vpath, const char **last)
{
	const char *s = strrchr(vpath, '/');
	char *dir = strndup(vpath, s ? (size_t)(s - vpath) : 0);
	int fd;

	*last = s ? s + 1 : vpath;
	if (!dir)
		return -ENOMEM;
	fd = medfs_vpath_opendir(r->vault_fd, dir);
	if (fd < 0)
		fd = -errno;
	free(dir);
	return fd;
}

/* Fsyncs the vault directory that holds vpath (relative to the vault). */
static int sync_parent(struct medfs_repair *r, const char *vpath)
{
	const char *last;
	int fd = open_parent(r, vpath, &last), ret = 0;

	if (fd < 0)
		return fd;
	if (fsync(fd) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* ---- salvage of a regular file ---- */

/* What the vault file holds, block by block. */
struct salvage {
	int fd;
	uint64_t disk;	/* vault file length */
	uint64_t hsize; /* size in the header */
	uint8_t id[MEDFS_FILE_ID_LEN];
	uint8_t *key; /* secret: file key, then previous key (or NULL) */
	uint8_t *prev;
	struct medfs_holes *holes; /* of a HOLES file whose map opens, or NULL */
	struct medfs_repair_range *ranges;
	size_t n_ranges, cap_ranges;
	uint64_t size; /* of the copy */
};

static int lost_range(struct salvage *s, uint64_t off, uint64_t len)
{
	struct medfs_repair_range *r;

	if (len == 0)
		return 0;
	if (s->n_ranges &&
	    s->ranges[s->n_ranges - 1].off + s->ranges[s->n_ranges - 1].len == off) {
		s->ranges[s->n_ranges - 1].len += len;
		return 0;
	}
	if (s->n_ranges == s->cap_ranges) {
		size_t cap = s->cap_ranges ? 2 * s->cap_ranges : 16;

		r = realloc(s->ranges, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		s->ranges = r;
		s->cap_ranges = cap;
	}
	s->ranges[s->n_ranges++] = (struct medfs_repair_range){ off, len };
	return 0;
}

static uint64_t blocks_of(uint64_t size)
{
	return (size + MEDFS_BLOCK_SIZE - 1) / MEDFS_BLOCK_SIZE;
}

static size_t header_block_len(uint64_t size, uint64_t i)
{
	uint64_t start = i * MEDFS_BLOCK_SIZE;

	if (start >= size)
		return 0;
	return size - start < MEDFS_BLOCK_SIZE ? (size_t)(size - start)
					       : MEDFS_BLOCK_SIZE;
}

/* Loads the previous key of a PREV file; none (NULL) when it is missing or
 * does not authenticate: blocks under it are then lost. */
static void prev_load(struct medfs_repair *r, struct salvage *s)
{
	uint8_t sealed[MEDFS_PREV_LEN + 1];
	ssize_t n = fgetxattr(s->fd, MEDFS_PREV_XATTR, sealed, sizeof(sealed));

	if (n >= 0 &&
	    medfs_prev_open(s->prev, sealed, (size_t)n, s->id, r->keys->xattr) == 0)
		return;
	medfs_secret_free(s->prev);
	s->prev = NULL;
}

/* Loads the hole map of a HOLES file (doc/FORMAT.md, 11), under the file
 * key or the previous one; none (NULL) when it is missing or does not
 * authenticate: its holes then count as lost, like any block that does
 * not open. Returns 0 or -ENOMEM. */
static int holes_load(struct medfs_repair *r, struct salvage *s)
{
	uint8_t sealed[MEDFS_HOLES_SEALED_MAX + 1];
	ssize_t n = fgetxattr(s->fd, MEDFS_HOLES_XATTR, sealed, sizeof(sealed));

	s->holes = malloc(sizeof(*s->holes));
	if (!s->holes)
		return -ENOMEM;
	if (n > 0 && (medfs_holes_open(s->holes, sealed, (size_t)n, r->cipher, s->key,
				       s->id) == 0 ||
		      (s->prev && medfs_holes_open(s->holes, sealed, (size_t)n, r->cipher,
						   s->prev, s->id) == 0)))
		return 0;
	free(s->holes);
	s->holes = NULL;
	return 0;
}

/* A hole reads as zeros: nothing of it is lost. */
static bool is_hole(const struct salvage *s, uint64_t i)
{
	return s->holes && medfs_holes_has(s->holes, i);
}

/* Opens block i into plain (MEDFS_BLOCK_SIZE bytes). Returns its length,
 * or 0 when it is lost. */
static size_t salvage_block(struct medfs_repair *r, struct salvage *s, uint64_t i,
			    uint8_t *plain, uint8_t *sealed)
{
	uint64_t at = medfs_block_disk_offset(i);
	size_t avail, want = header_block_len(s->hsize, i);
	size_t tries[2];
	ssize_t n;

	if (at >= s->disk)
		return 0;
	avail = s->disk - at < MEDFS_BLOCK_DISK_SIZE ? (size_t)(s->disk - at)
						     : MEDFS_BLOCK_DISK_SIZE;
	if (avail <= MEDFS_BLOCK_OVERHEAD)
		return 0;
	n = medfs_pread_full(s->fd, sealed, avail, (off_t)at);
	if (n != (ssize_t)avail)
		return 0;
	/* The length on disk first; the header's, when it is shorter (a
	 * shrink that did not finish). */
	tries[0] = avail;
	tries[1] = want && want + MEDFS_BLOCK_OVERHEAD < avail
			   ? want + MEDFS_BLOCK_OVERHEAD
			   : 0;
	for (size_t t = 0; t < 2; t++) {
		int k;

		if (!tries[t])
			continue;
		k = medfs_block_open(plain, sealed, tries[t], r->cipher, s->key, s->id,
				     i);
		if (k == -EBADMSG && s->prev)
			k = medfs_block_open(plain, sealed, tries[t], r->cipher, s->prev,
					     s->id, i);
		if (k > 0)
			return (size_t)k;
	}
	return 0;
}

/* Picks a name in lost+found for a copy of base (and its sidecar) that is
 * free: base, base.1, base.2... cut to fit. */
static int pick_name(struct medfs_repair *r, const char *base, char out[256])
{
	size_t max = MEDFS_NAME_MAX - strlen(MEDFS_REPAIR_RANGES_SUFFIX) - 5;
	size_t bl = strlen(base);
	char cand[PATH_MAX];
	struct stat st;

	if (bl > max) {
		bl = max;
		/* Not in the middle of a UTF-8 sequence. */
		while (bl > 1 && ((unsigned char)base[bl] & 0xc0) == 0x80)
			bl--;
	}
	for (unsigned i = 0; i < 10000; i++) {
		int a, b;

		if (i == 0)
			snprintf(out, 256, "%.*s", (int)bl, base);
		else
			snprintf(out, 256, "%.*s.%u", (int)bl, base, i);
		snprintf(cand, sizeof(cand), "%s/%s", MEDFS_REPAIR_LOST_FOUND_PATH, out);
		a = medfs_vault_getattr(r->vault, cand, &st);
		snprintf(cand, sizeof(cand), "%s/%s%s", MEDFS_REPAIR_LOST_FOUND_PATH, out,
			 MEDFS_REPAIR_RANGES_SUFFIX);
		b = medfs_vault_getattr(r->vault, cand, &st);
		if (a == -ENOENT && b == -ENOENT)
			return 0;
		if (a < 0 && a != -ENOENT && a != -EBADMSG)
			return a;
	}
	return -EEXIST;
}

/* Makes /lost+found, root's, mode 0700, or puts it back so. */
static int lost_found(struct medfs_repair *r)
{
	const struct medfs_owner root = { 0, 0 };
	struct stat st;
	int ret;

	ret = medfs_vault_getattr(r->vault, MEDFS_REPAIR_LOST_FOUND_PATH, &st);
	if (ret == -ENOENT)
		return medfs_vault_mkdir(r->vault, MEDFS_REPAIR_LOST_FOUND_PATH,
					 MEDFS_REPAIR_LOST_FOUND_MODE, &root);
	if (ret < 0)
		return ret;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (st.st_uid != 0 || st.st_gid != 0)
		ret = medfs_vault_chown(r->vault, MEDFS_REPAIR_LOST_FOUND_PATH, 0, 0);
	if (ret == 0 && (st.st_mode & 07777) != MEDFS_REPAIR_LOST_FOUND_MODE)
		ret = medfs_vault_chmod(r->vault, MEDFS_REPAIR_LOST_FOUND_PATH,
					MEDFS_REPAIR_LOST_FOUND_MODE);
	return ret;
}

/* Writes the whole file at path (new) with len bytes of data. */
static int write_new(struct medfs_repair *r, const char *path, const void *data,
		     size_t len, mode_t mode, const struct medfs_owner *o)
{
	struct medfs_file *f;
	ssize_t n = 0;
	int ret;

	ret = medfs_file_create(r->vault, path, O_RDWR | O_EXCL, mode, o, &f);
	if (ret < 0)
		return ret;
	if (len)
		n = medfs_file_write(f, data, len, 0, 0);
	ret = n < 0 ? (int)n : medfs_file_fsync(f, 0);
	medfs_file_release(f);
	return ret;
}

#define XATTR_VAULT_PREFIX "user.medfs."
#define XATTR_VALUE_MAX 65536

/* Opens one sealed value (nonce || AEAD) of len bytes under the XATTR
 * subkey with ad into plain. Returns the plaintext length or -EBADMSG. */
static ssize_t xattr_open(struct medfs_repair *r, uint8_t *plain, const uint8_t *sealed,
			  size_t len, const uint8_t *ad, size_t ad_len)
{
	const size_t np = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	unsigned long long plen;

	if (len < np + crypto_aead_xchacha20poly1305_ietf_ABYTES ||
	    crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &plen, NULL, sealed + np,
						       len - np, ad, ad_len, sealed,
						       r->keys->xattr) != 0)
		return -EBADMSG;
	return (ssize_t)plen;
}

/* Copies the extended attributes and metadata of the vault file s->fd
 * that authenticate to copy, reading them as they are stored (the header
 * of the original may not match its length, which the library refuses).
 * Those that do not authenticate are counted as lost in out. Returns 0, or
 * -errno when one that authenticates could not be copied: the original,
 * which still holds it, must then stay. */
static int copy_attrs(struct medfs_repair *r, struct salvage *s, const char *copy,
		      struct medfs_salvage *out)
{
	uint8_t *sealed = malloc(XATTR_VALUE_MAX + 64),
		*plain = medfs_secret_alloc(XATTR_VALUE_MAX);
	uint8_t ad[4 + MEDFS_FILE_ID_LEN + sizeof("user.") + MEDFS_NAME_MAX];
	char *list = malloc(XATTR_VALUE_MAX), name[MEDFS_NAME_MAX + 1];
	ssize_t size, n;
	int ret = 0;

	if (!sealed || !plain || !list) {
		ret = -ENOMEM;
		goto out;
	}
	n = fgetxattr(s->fd, MEDFS_META_XATTR, sealed, XATTR_VALUE_MAX + 64);
	if (n >= 0) {
		struct medfs_file *f;

		n = medfs_meta_open(plain, MEDFS_META_MAX, sealed, (size_t)n, s->id,
				    r->keys->xattr);
		if (n < 0) {
			out->meta_lost = true;
		} else if ((ret = medfs_file_open(r->vault, copy, O_RDWR, &f)) == 0) {
			ret = medfs_file_set_meta(f, plain, (size_t)n);
			if (ret == 0)
				ret = medfs_file_fsync(f, 0);
			medfs_file_release(f);
		}
		if (ret < 0)
			goto out;
	} else if (errno != ENODATA) {
		ret = -errno;
		goto out;
	}
	size = flistxattr(s->fd, list, XATTR_VALUE_MAX);
	if (size < 0) {
		ret = -errno;
		goto out;
	}
	for (char *v = list; size > 0 && v < list + size; v += strlen(v) + 1) {
		const char *enc = v + strlen(XATTR_VAULT_PREFIX);
		char user[sizeof("user.") + MEDFS_NAME_MAX];
		int len;

		if (strncmp(v, XATTR_VAULT_PREFIX, strlen(XATTR_VAULT_PREFIX)) != 0)
			continue;
		len = medfs_name_decrypt(name, sizeof(name), enc, strlen(enc), s->id,
					 r->keys->name);
		n = len < 0 ? -1 : fgetxattr(s->fd, v, sealed, XATTR_VALUE_MAX + 64);
		if (n >= 0) {
			snprintf(user, sizeof(user), "user.%s", name);
			memcpy(ad, "MDFX", 4);
			memcpy(ad + 4, s->id, MEDFS_FILE_ID_LEN);
			memcpy(ad + 4 + MEDFS_FILE_ID_LEN, user, strlen(user));
			n = xattr_open(r, plain, sealed, (size_t)n, ad,
				       4 + MEDFS_FILE_ID_LEN + strlen(user));
		}
		if (n < 0)
			out->xattrs_lost++;
		else if ((ret = medfs_vault_setxattr(r->vault, copy, user, plain, (size_t)n,
						     0)) < 0)
			break;
	}
out:
	sodium_memzero(name, sizeof(name));
	free(sealed);
	free(list);
	medfs_secret_free(plain);
	return ret;
}

static int salvage_copy(struct medfs_repair *r, struct salvage *s, const char *copy,
			const struct stat *st)
{
	const struct medfs_owner o = { st->st_uid, st->st_gid };
	uint64_t n = blocks_of(s->hsize), nd = 0;
	uint8_t *buf = NULL, *sealed = NULL;
	struct medfs_file *f = NULL;
	int ret;

	if (s->disk > MEDFS_HEADER_LEN)
		nd = (s->disk - MEDFS_HEADER_LEN + MEDFS_BLOCK_DISK_SIZE - 1) /
		     MEDFS_BLOCK_DISK_SIZE;
	if (nd > n)
		n = nd;
	buf = medfs_secret_alloc((size_t)COPY_BLOCKS * MEDFS_BLOCK_SIZE);
	sealed = malloc(MEDFS_BLOCK_DISK_SIZE);
	if (!buf || !sealed) {
		ret = -ENOMEM;
		goto out;
	}
	ret = medfs_file_create(r->vault, copy, O_RDWR | O_EXCL, st->st_mode & 0777, &o,
				&f);
	if (ret < 0)
		goto out;
	/* The copy's size: the header's, or the end of the last block past
	 * it that authenticates (a growth whose header was not written).
	 * Known first, so that every byte below it that does not open, past
	 * the header's size too, is filled and listed as lost. */
	s->size = s->hsize;
	for (uint64_t i = n; i > 0 && i >= blocks_of(s->hsize); i--) {
		size_t got = is_hole(s, i - 1) ? 0 : salvage_block(r, s, i - 1, buf, sealed);

		if (got) {
			if ((i - 1) * MEDFS_BLOCK_SIZE + got > s->size)
				s->size = (i - 1) * MEDFS_BLOCK_SIZE + got;
			break;
		}
	}
	n = blocks_of(s->size);
	for (uint64_t first = 0; first < n; first += COPY_BLOCKS) {
		uint64_t last = first + COPY_BLOCKS < n ? first + COPY_BLOCKS : n;
		uint64_t end = last * MEDFS_BLOCK_SIZE < s->size ? last * MEDFS_BLOCK_SIZE
								 : s->size;

		if (s->holes && medfs_holes_covers(s->holes, first, last))
			continue;
		for (uint64_t i = first; i < last; i++) {
			uint8_t *p = buf + (i - first) * MEDFS_BLOCK_SIZE;
			size_t got, want = header_block_len(s->size, i);
			uint64_t at = i * MEDFS_BLOCK_SIZE;

			if (is_hole(s, i))
				continue;
			got = salvage_block(r, s, i, p, sealed);
			if (got < want) {
				medfs_repair_fill(p + got, want - got, at + got);
				ret = lost_range(s, at + got, want - got);
				if (ret < 0)
					goto out;
			}
		}
		/* Each run of blocks that are not holes: the copy's holes stay
		 * holes (a write past the end leaves one), costing no space. */
		for (uint64_t i = first, run = first; i <= last; i++) {
			uint64_t a = run * MEDFS_BLOCK_SIZE, e;
			ssize_t w;

			if (i < last && !is_hole(s, i))
				continue;
			e = i * MEDFS_BLOCK_SIZE < end ? i * MEDFS_BLOCK_SIZE : end;
			if (e > a) {
				w = medfs_file_write(f, buf + (run - first) * MEDFS_BLOCK_SIZE,
						     e - a, (off_t)a, 0);
				if (w < 0) {
					ret = (int)w;
					goto out;
				}
			}
			run = i + 1;
		}
	}
	if (medfs_file_size(f) < s->size) { /* holes at the end */
		ret = medfs_file_truncate(f, (off_t)s->size);
		if (ret < 0)
			goto out;
	}
	ret = medfs_file_fsync(f, 0);
out:
	if (f)
		medfs_file_release(f);
	medfs_secret_free(buf);
	free(sealed);
	return ret;
}

int medfs_repair_salvage_file(struct medfs_repair *r, const char *path, const char *vpath,
			      const struct medfs_binding *b, struct medfs_salvage *out)
{
	struct salvage s = { .fd = -1 };
	char copy[PATH_MAX], side[PATH_MAX];
	const char *last;
	int pfd;
	uint8_t hdr[MEDFS_HEADER_LEN];
	char *text = NULL;
	size_t text_len;
	uint16_t flags = 0;
	struct stat st;
	ssize_t n;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!r->vault)
		return -EINVAL;
	s.key = medfs_secret_alloc(MEDFS_KEY_LEN);
	s.prev = medfs_secret_alloc(MEDFS_KEY_LEN);
	if (!s.key || !s.prev) {
		ret = -ENOMEM;
		goto out;
	}
	pfd = open_parent(r, vpath, &last);
	if (pfd < 0) {
		ret = pfd;
		goto out;
	}
	s.fd = openat(pfd, last, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	close(pfd);
	if (s.fd < 0 || fstat(s.fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		goto out;
	}
	s.disk = (uint64_t)st.st_size;
	n = medfs_pread_full(s.fd, hdr, sizeof(hdr), 0);
	if (n < 0) {
		ret = (int)n;
		goto out;
	}
	if (n != (ssize_t)sizeof(hdr) || sodium_is_zero(hdr, sizeof(hdr))) {
		/* A create cut before its header was written whole, or before
		 * it was written at all while the vault file got its length
		 * (grown over holes: zeros): no key, so nothing to read, and
		 * nothing that could be lost. */
		out->torn_header = true;
		s.disk = 0;
	} else {
		ret = medfs_header_open_flags(hdr, s.id, s.key, &s.hsize, &flags,
					      r->keys->header, b);
		if (ret < 0)
			goto out;
	}
	if (flags & MEDFS_HEADER_PREV)
		prev_load(r, &s);
	else {
		medfs_secret_free(s.prev);
		s.prev = NULL;
	}
	if ((flags & MEDFS_HEADER_HOLES) && (ret = holes_load(r, &s)) < 0)
		goto out;

	ret = lost_found(r);
	if (ret < 0)
		goto out;
	ret = pick_name(r, base_name(path), out->name);
	if (ret < 0)
		goto out;
	snprintf(copy, sizeof(copy), "%s/%s", MEDFS_REPAIR_LOST_FOUND_PATH, out->name);
	snprintf(side, sizeof(side), "%s/%s%s", MEDFS_REPAIR_LOST_FOUND_PATH, out->name,
		 MEDFS_REPAIR_RANGES_SUFFIX);
	ret = salvage_copy(r, &s, copy, &st);
	if (ret < 0) {
		medfs_vault_unlink(r->vault, copy);
		goto out;
	}
	if (!out->torn_header) {
		ret = copy_attrs(r, &s, copy, out);
		if (ret < 0) {
			medfs_vault_unlink(r->vault, copy);
			goto out;
		}
	}
	ret = medfs_repair_ranges_format(&text, &text_len, path, s.hsize, s.size,
					 (int64_t)time(NULL), s.ranges, s.n_ranges);
	if (ret == 0) {
		const struct medfs_owner root = { 0, 0 };

		ret = write_new(r, side, text, text_len, 0600, &root);
	}
	if (ret < 0) {
		medfs_vault_unlink(r->vault, copy);
		goto out;
	}
	/* The copy and its sidecar are durable, and so is their directory:
	 * only now does the original go. */
	ret = medfs_vault_fsyncdir(r->vault, MEDFS_REPAIR_LOST_FOUND_PATH, 0);
	if (ret < 0)
		goto out;
	ret = medfs_vault_unlink(r->vault, path);
	if (ret < 0 && ret != -ENOENT)
		goto out;
	ret = sync_parent(r, vpath);
	out->header_size = s.hsize;
	out->size = s.size;
	out->n_ranges = s.n_ranges;
	for (size_t i = 0; i < s.n_ranges; i++)
		out->lost += s.ranges[i].len;
out:
	if (text) {
		sodium_memzero(text, text_len);
		free(text);
	}
	if (s.fd >= 0)
		close(s.fd);
	medfs_secret_free(s.key);
	medfs_secret_free(s.prev);
	free(s.holes);
	free(s.ranges);
	sodium_memzero(hdr, sizeof(hdr));
	return ret;
}

/* ---- directory headers ---- */

/* How many entries of vault directory dfd there are (*total) and how many
 * of their names decrypt under id (returned). */
static size_t names_under(struct medfs_repair *r, int dfd,
			  const uint8_t id[MEDFS_DIR_ID_LEN], size_t *total)
{
	char plain[MEDFS_NAME_MAX + 1], enc[MEDFS_NAME_ENC_MAX];
	struct dirent *d;
	size_t ok = 0;
	DIR *dir;
	int fd;

	*total = 0;
	fd = dup(dfd);
	if (fd < 0)
		return 0;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return 0;
	}
	rewinddir(dir);
	while ((d = readdir(dir)) != NULL) {
		const char *e = d->d_name;
		size_t len;

		if (strcmp(e, ".") == 0 || strcmp(e, "..") == 0 ||
		    medfs_name_is_internal(e))
			continue;
		(*total)++;
		if (medfs_name_is_long(e)) {
			char side[NAME_MAX + 1], check[MEDFS_NAME_ENC_MAX];
			ssize_t n;
			int sfd;

			snprintf(side, sizeof(side), "%s%s", e, MEDFS_LONGNAME_SUFFIX);
			sfd = openat(dfd, side, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (sfd < 0)
				continue;
			n = read(sfd, enc, sizeof(enc) - 1);
			close(sfd);
			if (n <= 0)
				continue;
			enc[n] = '\0';
			len = (size_t)n;
			if (medfs_name_entry(check, sizeof(check), enc, len,
					     r->keys->name) < 0 ||
			    strcmp(check, e) != 0)
				continue;
		} else {
			len = strlen(e);
			if (len >= sizeof(enc))
				continue;
			memcpy(enc, e, len + 1);
		}
		if (medfs_name_decrypt(plain, sizeof(plain), enc, len, id,
				       r->keys->name) >= 0)
			ok++;
	}
	closedir(dir);
	sodium_memzero(plain, sizeof(plain));
	return ok;
}

/* The directory id held by header file name in dfd, if it has one. */
static bool candidate_id(int dfd, const char *name, uint8_t id[MEDFS_DIR_ID_LEN])
{
	uint8_t hdr[MEDFS_DIR_HEADER_LEN];
	ssize_t n;
	int fd;

	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = medfs_pread_full(fd, hdr, sizeof(hdr), 0);
	close(fd);
	if (n < 8 + MEDFS_DIR_ID_LEN)
		return false;
	memcpy(id, hdr + 8, MEDFS_DIR_ID_LEN);
	return true;
}

static int write_dir_header(struct medfs_repair *r, int dfd,
			    const uint8_t id[MEDFS_DIR_ID_LEN],
			    const struct medfs_binding *b)
{
	uint8_t hdr[MEDFS_DIR_HEADER_LEN];
	int fd, ret;

	ret = medfs_dir_header_seal(hdr, id, r->keys->dir, b);
	if (ret < 0)
		return ret;
	fd = openat(dfd, DIR_HEADER_TMP,
		    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	ret = medfs_write_all(fd, hdr, sizeof(hdr));
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && renameat(dfd, DIR_HEADER_TMP, dfd, MEDFS_DIR_HEADER_NAME) < 0)
		ret = -errno;
	if (ret < 0)
		unlinkat(dfd, DIR_HEADER_TMP, 0);
	else if (fsync(dfd) < 0)
		ret = -errno;
	return ret;
}

/* Moves every entry of dfd but its headers into a new directory of
 * VAULT/quarantine. */
static int quarantine_entries(struct medfs_repair *r, int dfd, size_t *moved, char *where,
			      size_t wheresz)
{
	char sub[64];
	uint8_t rnd[4];
	struct dirent *d;
	int qfd = -1, sfd = -1, fd, ret = 0;
	DIR *dir;

	randombytes_buf(rnd, sizeof(rnd));
	snprintf(sub, sizeof(sub), "%" PRId64 "-%02x%02x%02x%02x", (int64_t)time(NULL),
		 rnd[0], rnd[1], rnd[2], rnd[3]);
	if (mkdirat(r->vault_fd, MEDFS_REPAIR_QUARANTINE, 0700) < 0 && errno != EEXIST)
		return -errno;
	qfd = openat(r->vault_fd, MEDFS_REPAIR_QUARANTINE,
		     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (qfd < 0)
		return -errno;
	if (mkdirat(qfd, sub, 0700) < 0) {
		ret = -errno;
		goto out;
	}
	sfd = openat(qfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0) {
		ret = -errno;
		goto out;
	}
	snprintf(where, wheresz, "%s/%s", MEDFS_REPAIR_QUARANTINE, sub);
	fd = dup(dfd);
	dir = fd < 0 ? NULL : fdopendir(fd);
	if (!dir) {
		ret = -errno;
		if (fd >= 0)
			close(fd);
		goto out;
	}
	rewinddir(dir);
	while ((d = readdir(dir)) != NULL) {
		const char *e = d->d_name;

		if (strcmp(e, ".") == 0 || strcmp(e, "..") == 0)
			continue;
		/* The damaged header and a leftover .medfs-dir.tmp go too,
		 * for whoever can tell their id (the new header is written
		 * through a new .medfs-dir.tmp). */
		if (renameat(dfd, e, sfd, e) < 0) {
			ret = -errno;
			break;
		}
		if (!medfs_name_is_internal(e))
			(*moved)++;
	}
	closedir(dir);
	if (fsync(sfd) < 0 && ret == 0)
		ret = -errno;
	if (fsync(qfd) < 0 && ret == 0)
		ret = -errno;
out:
	if (sfd >= 0)
		close(sfd);
	close(qfd);
	return ret;
}

int medfs_repair_dir_header(struct medfs_repair *r, const char *vdir,
			    const struct medfs_binding *b, size_t *moved, char *where,
			    size_t wheresz)
{
	static const char *const sources[] = { MEDFS_DIR_HEADER_NAME, DIR_HEADER_TMP };
	uint8_t id[MEDFS_DIR_ID_LEN] = { 0 };
	size_t total = 0;
	int dfd, ret;

	*moved = 0;
	if (wheresz)
		where[0] = '\0';
	dfd = medfs_vpath_opendir(r->vault_fd, vdir);
	if (dfd < 0)
		return -errno;
	for (size_t i = 0; i < sizeof(sources) / sizeof(*sources); i++) {
		if (!candidate_id(dfd, sources[i], id))
			continue;
		if (names_under(r, dfd, id, &total) > 0) {
			ret = write_dir_header(r, dfd, id, b);
			ret = ret < 0 ? ret : MEDFS_DIR_RESEALED;
			goto out;
		}
	}
	names_under(r, dfd, id, &total);
	randombytes_buf(id, sizeof(id));
	if (total == 0) {
		ret = write_dir_header(r, dfd, id, b);
		ret = ret < 0 ? ret : MEDFS_DIR_REBUILT;
		goto out;
	}
	ret = quarantine_entries(r, dfd, moved, where, wheresz);
	if (ret == 0)
		ret = write_dir_header(r, dfd, id, b);
	ret = ret < 0 ? ret : MEDFS_DIR_QUARANTINED;
out:
	close(dfd);
	return ret;
}

/* ---- leftovers ---- */

bool medfs_repair_is_leftover(const char *entry)
{
	return strncmp(entry, TMP_PREFIX, strlen(TMP_PREFIX)) == 0 ||
	       strcmp(entry, DIR_HEADER_TMP) == 0 ||
	       strcmp(entry, MEDFS_CONFIG_NAME ".tmp") == 0 ||
	       strcmp(entry, MEDFS_CONFIG_BACKUP_NAME ".tmp") == 0;
}

/* Removes the ".tmp-" directory e of pfd when it holds only directory
 * headers. */
static int remove_tmp_dir(int pfd, const char *e)
{
	struct dirent *d;
	int dfd, fd, ret = 0;
	DIR *dir;

	dfd = openat(pfd, e, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	fd = dup(dfd);
	dir = fd < 0 ? NULL : fdopendir(fd);
	if (!dir) {
		ret = -errno;
		if (fd >= 0)
			close(fd);
		close(dfd);
		return ret;
	}
	while ((d = readdir(dir)) != NULL) {
		const char *n = d->d_name;

		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 ||
		    strcmp(n, MEDFS_DIR_HEADER_NAME) == 0 || strcmp(n, DIR_HEADER_TMP) == 0)
			continue;
		ret = -ENOTEMPTY;
	}
	if (ret == 0) {
		unlinkat(dfd, MEDFS_DIR_HEADER_NAME, 0);
		unlinkat(dfd, DIR_HEADER_TMP, 0);
		if (unlinkat(pfd, e, AT_REMOVEDIR) < 0)
			ret = -errno;
	}
	closedir(dir);
	close(dfd);
	return ret;
}

int medfs_repair_remove_leftover(struct medfs_repair *r, const char *vpath)
{
	const char *e;
	struct stat st;
	int pfd = open_parent(r, vpath, &e), ret = 0;

	if (pfd < 0)
		return pfd;
	if (fstatat(pfd, e, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		ret = -errno;
	} else if (has_suffix(e, MEDFS_LONGNAME_SUFFIX) && e[0] != '.') {
		char entry[NAME_MAX + 1];
		size_t n = strlen(e) - strlen(MEDFS_LONGNAME_SUFFIX);

		if (n >= sizeof(entry) || !S_ISREG(st.st_mode)) {
			ret = -EINVAL;
		} else {
			memcpy(entry, e, n);
			entry[n] = '\0';
			if (fstatat(pfd, entry, &st, AT_SYMLINK_NOFOLLOW) == 0)
				ret = -EEXIST;
		}
	} else if (!medfs_repair_is_leftover(e)) {
		ret = -EINVAL;
	} else if (S_ISDIR(st.st_mode)) {
		ret = strncmp(e, TMP_PREFIX, strlen(TMP_PREFIX)) != 0 ? -EINVAL
								       : remove_tmp_dir(pfd, e);
		if (ret == 0 && fsync(pfd) < 0)
			ret = -errno;
		close(pfd);
		return ret;
	}
	if (ret == 0 && unlinkat(pfd, e, 0) < 0)
		ret = -errno;
	if (ret == 0 && fsync(pfd) < 0)
		ret = -errno;
	close(pfd);
	return ret;
}

/* ---- file metadata ---- */

#define DICOM_WINDOW (64 * 1024)

int medfs_repair_meta(struct medfs_repair *r, const char *path)
{
	struct medfs_dicom_scan sc;
	struct medfs_dicom_meta m;
	struct medfs_file *f = NULL;
	char *meta = NULL;
	uint8_t *buf = NULL;
	size_t cap = 0, len = 0;
	int ret, dicom;
	ssize_t n;

	if (!r->vault)
		return -EINVAL;
	ret = medfs_file_open(r->vault, path, O_RDWR, &f);
	if (ret < 0)
		return ret;
	meta = medfs_secret_alloc(MEDFS_META_MAX);
	if (!meta) {
		ret = -ENOMEM;
		goto out;
	}
	medfs_dicom_scan_init(&sc);
	ret = -EAGAIN;
	while (ret == -EAGAIN && sc.pos < MEDFS_REPAIR_DICOM_SCAN_MAX) {
		size_t want = sc.need > DICOM_WINDOW ? sc.need : DICOM_WINDOW;

		if (want > MEDFS_REPAIR_DICOM_SCAN_MAX - sc.pos)
			want = MEDFS_REPAIR_DICOM_SCAN_MAX - sc.pos;
		if (want < sc.need)
			break;
		if (want > cap) {
			medfs_secret_free(buf);
			buf = medfs_secret_alloc(want);
			if (!buf) {
				ret = -ENOMEM;
				goto out;
			}
			cap = want;
		}
		len = 0;
		while (len < want && (n = medfs_file_read(f, buf + len, want - len,
							  (off_t)(sc.pos + len))) > 0)
			len += (size_t)n;
		ret = medfs_dicom_scan_feed(&sc, buf, len);
		if (len < want)
			break;
	}
	memset(&m, 0, sizeof(m));
	dicom = ret == 0 || ret == -EAGAIN;
	if (dicom)
		medfs_dicom_meta_update(&m, &sc.ids, NULL);
	dicom = dicom && (m.ids.patient_id[0] || m.ids.study_uid[0] ||
			  m.ids.series_uid[0] || m.ids.sop_uid[0]);
	ret = medfs_dicom_meta_encode(&m, meta, MEDFS_META_MAX);
	if (ret >= 0)
		ret = medfs_file_set_meta(f, meta, (size_t)ret);
	if (ret == 0)
		ret = medfs_file_fsync(f, 0);
	if (ret == 0)
		ret = dicom;
out:
	sodium_memzero(&m, sizeof(m));
	sodium_memzero(&sc, sizeof(sc));
	medfs_secret_free(buf);
	medfs_secret_free(meta);
	if (f)
		medfs_file_release(f);
	return ret;
}

/* ---- config ---- */

enum copy_state { COPY_GOOD, COPY_MISSING, COPY_TORN, COPY_FOREIGN };

static enum copy_state config_copy(struct medfs_repair *r, const char *name, uint8_t *buf,
				   size_t *len, const uint8_t vault_key[MEDFS_KEY_LEN])
{
	struct medfs_config c;
	int ret = medfs_config_read(r->vault_dir, name, buf, len);

	if (ret == -ENOENT)
		return COPY_MISSING;
	if (ret < 0)
		return COPY_TORN;
	ret = medfs_config_decode(&c, buf, *len);
	sodium_memzero(&c, sizeof(c));
	if (ret < 0)
		return COPY_TORN;
	return medfs_config_verify(buf, vault_key) == 0 ? COPY_GOOD : COPY_FOREIGN;
}

int medfs_repair_config(struct medfs_repair *r, const uint8_t vault_key[MEDFS_KEY_LEN],
			char *what, size_t whatsz)
{
	static const char *const why[] = { "", "missing", "torn: it does not decode",
					   "not authentic under this vault key" };
	uint8_t primary[MEDFS_CONFIG_LEN + 1], backup[MEDFS_CONFIG_LEN + 1];
	size_t lp = 0, lb = 0;
	enum copy_state p, b;
	const uint8_t *good;
	size_t good_len;
	int ret;

	p = config_copy(r, MEDFS_CONFIG_NAME, primary, &lp, vault_key);
	b = config_copy(r, MEDFS_CONFIG_BACKUP_NAME, backup, &lb, vault_key);
	if (p == COPY_GOOD && b == COPY_GOOD && lp == lb &&
	    memcmp(primary, backup, lp) == 0) {
		snprintf(what, whatsz, "both copies agree");
		return 0;
	}
	if (p == COPY_FOREIGN || b == COPY_FOREIGN ||
	    (p != COPY_GOOD && b != COPY_GOOD)) {
		snprintf(what, whatsz,
			 "not repaired: %s is %s, %s is %s; restore the config from a "
			 "backup (medfs-key restore)",
			 MEDFS_CONFIG_NAME, p == COPY_GOOD ? "authentic" : why[p],
			 MEDFS_CONFIG_BACKUP_NAME, b == COPY_GOOD ? "authentic" : why[b]);
		return -EBADMSG;
	}
	/* The primary is written first: when both are authentic, it is the
	 * newer (an interrupted key change). */
	good = p == COPY_GOOD ? primary : backup;
	good_len = p == COPY_GOOD ? lp : lb;
	ret = medfs_config_write(r->vault_dir, good, good_len);
	if (ret < 0) {
		snprintf(what, whatsz, "cannot write the config: %s", strerror(-ret));
		return ret;
	}
	if (p == COPY_GOOD && b == COPY_GOOD)
		snprintf(what, whatsz, "wrote %s again as %s (an interrupted key change)",
			 MEDFS_CONFIG_NAME, MEDFS_CONFIG_BACKUP_NAME);
	else
		snprintf(what, whatsz, "wrote %s again from %s (it was %s)",
			 p == COPY_GOOD ? MEDFS_CONFIG_BACKUP_NAME : MEDFS_CONFIG_NAME,
			 p == COPY_GOOD ? MEDFS_CONFIG_NAME : MEDFS_CONFIG_BACKUP_NAME,
			 p == COPY_GOOD ? why[b] : why[p]);
	return 1;
}

int medfs_repair_settle(struct medfs_repair *r, const char *path)
{
	struct medfs_file *f = NULL;
	int ret;

	if (!r->vault)
		return -EINVAL;
	ret = medfs_file_open(r->vault, path, O_RDWR, &f);
	if (ret < 0)
		return ret;
	ret = medfs_file_settle(f);
	if (ret > 0 && medfs_file_fsync(f, 0) < 0)
		ret = -EIO;
	medfs_file_release(f);
	return ret;
}
