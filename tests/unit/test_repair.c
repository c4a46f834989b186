/* Check suite of the repair module: the pure helpers (fill pattern,
 * quarantine paths, the .lost-ranges text), then each repair on a fresh
 * vault damaged with plain POSIX calls, read back through the vault
 * module. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "medfs/block.h"
#include "medfs/config.h"
#include "medfs/crypto.h"
#include "medfs/header.h"
#include "medfs/log.h"
#include "medfs/name.h"
#include "medfs/repair.h"
#include "medfs/vault.h"

#define BLK MEDFS_BLOCK_SIZE
#define DBLK MEDFS_BLOCK_DISK_SIZE

static char base_dir[256];
static char vdir[512];
static uint8_t *vkey;
static struct medfs_vault *V;
static struct medfs_repair *R;

static void quiet(int priority, const char *msg)
{
	(void)priority;
	(void)msg;
}

static void setup(void)
{
	snprintf(vdir, sizeof(vdir), "%s/v.XXXXXX", base_dir);
	ck_assert_ptr_nonnull(mkdtemp(vdir));
	vkey = medfs_secret_alloc(MEDFS_KEY_LEN);
	ck_assert_ptr_nonnull(vkey);
	randombytes_buf(vkey, MEDFS_KEY_LEN);
	ck_assert_int_eq(medfs_vault_create_tree(vdir, vkey), 0);
	ck_assert_int_eq(
		medfs_vault_open_cipher(&V, vdir, vkey, MEDFS_CIPHER_XCHACHA20POLY1305),
		0);
	ck_assert_int_eq(medfs_repair_new(&R, vdir, vkey, MEDFS_CIPHER_XCHACHA20POLY1305),
			 0);
	medfs_repair_set_vault(R, V);
}

static void teardown(void)
{
	medfs_repair_free(R);
	R = NULL;
	if (V)
		medfs_vault_close(V);
	V = NULL;
	medfs_secret_free(vkey);
}

/* Reopens the vault (no cached directory). */
static void reopen(void)
{
	medfs_vault_close(V);
	ck_assert_int_eq(
		medfs_vault_open_cipher(&V, vdir, vkey, MEDFS_CIPHER_XCHACHA20POLY1305),
		0);
	medfs_repair_set_vault(R, V);
}

static void put(const char *path, const uint8_t *data, size_t len)
{
	struct medfs_file *f;

	ck_assert_int_eq(medfs_file_create(V, path, O_RDWR, 0640, NULL, &f), 0);
	if (len)
		ck_assert_int_eq(medfs_file_write(f, data, len, 0, 0), (ssize_t)len);
	medfs_file_release(f);
}

/* Reads path whole into buf (cap bytes); returns its length. */
static ssize_t get(const char *path, uint8_t *buf, size_t cap)
{
	struct medfs_file *f;
	ssize_t n;
	int r = medfs_file_open(V, path, O_RDONLY, &f);

	if (r < 0)
		return r;
	n = medfs_file_read(f, buf, cap, 0);
	medfs_file_release(f);
	return n;
}

/* The vault path ("tree/...") of plaintext path, found by its size: the
 * one vault file of that length below tree. */
static char found[PATH_MAX];
static off_t want_size;

static int find_size(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)ftw;
	if (type == FTW_F && st->st_size == want_size && !strstr(p, "/.") &&
	    p[strlen(p) - 1] != 'n')
		snprintf(found, sizeof(found), "%s", p + strlen(vdir) + 1);
	return 0;
}

static const char *vault_file(uint64_t plain)
{
	found[0] = '\0';
	want_size = (off_t)medfs_disk_size(plain);
	nftw(vdir, find_size, 16, FTW_PHYS);
	ck_assert_str_ne(found, "");
	return found;
}

static void flip(const char *vpath, off_t off)
{
	char p[PATH_MAX];
	uint8_t b;
	int fd;

	snprintf(p, sizeof(p), "%s/%s", vdir, vpath);
	fd = open(p, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &b, 1, off), 1);
	b ^= 0x20;
	ck_assert_int_eq(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

/* The binding of a file in the root. */
static struct medfs_binding root_binding(const char *name)
{
	struct medfs_binding b = { .name = name, .name_len = strlen(name) };
	uint8_t hdr[MEDFS_DIR_HEADER_LEN];
	char p[PATH_MAX];
	int fd;

	snprintf(p, sizeof(p), "%s/tree/%s", vdir, MEDFS_DIR_HEADER_NAME);
	fd = open(p, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(read(fd, hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
	close(fd);
	memcpy(b.parent_id, hdr + 8, MEDFS_DIR_ID_LEN);
	return b;
}

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *ftw);

static bool vexists(const char *rel)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", vdir, rel);
	return lstat(p, &st) == 0;
}

/* ---- pure helpers ---- */

START_TEST(test_fill)
{
	uint8_t b[40];

	medfs_repair_fill(b, sizeof(b), 0);
	ck_assert_int_eq(memcmp(b, "MEDFS LOST DATA\nMEDFS LOST DATA\nMEDFS LO", 40), 0);
	medfs_repair_fill(b, 5, 4096 + 3);
	ck_assert_int_eq(memcmp(b, "FS LO", 5), 0);
}
END_TEST

START_TEST(test_quarantined)
{
	ck_assert(medfs_repair_quarantined("/lost+found"));
	ck_assert(medfs_repair_quarantined("/lost+found/x"));
	ck_assert(medfs_repair_quarantined("/lost+found/x/y"));
	ck_assert(medfs_repair_quarantined("//lost+found"));
	ck_assert(!medfs_repair_quarantined("/"));
	ck_assert(!medfs_repair_quarantined("/lost+foundx"));
	ck_assert(!medfs_repair_quarantined("/lost+foun"));
	ck_assert(!medfs_repair_quarantined("/a/lost+found"));
}
END_TEST

START_TEST(test_ranges_format)
{
	const struct medfs_repair_range r[] = { { 4096, 4096 }, { 12288, 100 } };
	char *text = NULL;
	size_t len = 0;

	ck_assert_int_eq(medfs_repair_ranges_format(&text, &len, "/a/b", 12388, 12388,
						    1796677200, r, 2),
			 0);
	ck_assert_str_eq(text, "# medfs-fsck: what could not be read of a repaired file\n"
			       "original /a/b\n"
			       "repaired 2026-12-07T21:00:00Z\n"
			       "header-size 12388\n"
			       "size 12388\n"
			       "lost-bytes 4196\n"
			       "# each lost byte at offset o holds byte o % 16 of "
			       "\"MEDFS LOST DATA\\n\"\n"
			       "# lost OFFSET LENGTH\n"
			       "lost 4096 4096\n"
			       "lost 12288 100\n");
	ck_assert_uint_eq(len, strlen(text));
	free(text);
	/* A name with a newline adds no line: its bytes are escaped. */
	ck_assert_int_eq(medfs_repair_ranges_format(&text, &len, "/a\nlost 0 1\\\t", 1,
						    1, 1796677200, NULL, 0),
			 0);
	ck_assert_ptr_nonnull(strstr(text, "\noriginal /a\\012lost 0 1\\134\\011\n"));
	ck_assert_ptr_null(strstr(text, "\nlost 0 1"));
	free(text);
	ck_assert_int_eq(medfs_repair_ranges_format(&text, &len, NULL, 0, 0, 0, NULL, 0),
			 -EINVAL);
}
END_TEST

/* ---- salvage ---- */

START_TEST(test_salvage_flipped_block)
{
	const size_t len = 3 * BLK + 100;
	uint8_t *data = malloc(len), *back = malloc(len + 1), fill[BLK];
	struct medfs_binding b = root_binding("f");
	struct medfs_salvage sv;
	char ranges[1024];
	struct stat st;
	ssize_t n;

	randombytes_buf(data, len);
	put("/f", data, len);
	ck_assert_int_eq(medfs_vault_setxattr(V, "/f", "user.kept", "v", 1, 0), 0);
	flip(vault_file(len), MEDFS_HEADER_LEN + DBLK + 77);
	ck_assert_int_eq(medfs_repair_salvage_file(R, "/f", vault_file(len), &b, &sv), 0);
	ck_assert_str_eq(sv.name, "f");
	ck_assert_uint_eq(sv.size, len);
	ck_assert_uint_eq(sv.header_size, len);
	ck_assert_uint_eq(sv.lost, BLK);
	ck_assert_uint_eq(sv.n_ranges, 1);
	ck_assert_uint_eq(sv.xattrs_lost, 0);
	ck_assert(!sv.meta_lost);

	ck_assert_int_eq(medfs_vault_getattr(V, "/f", &st), -ENOENT);
	ck_assert_int_eq(medfs_vault_getattr(V, "/lost+found", &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0700);
	ck_assert_uint_eq(st.st_uid, 0);
	ck_assert_int_eq(get("/lost+found/f", back, len + 1), (ssize_t)len);
	ck_assert_int_eq(memcmp(back, data, BLK), 0);
	medfs_repair_fill(fill, BLK, BLK);
	ck_assert_int_eq(memcmp(back + BLK, fill, BLK), 0);
	ck_assert_int_eq(memcmp(back + 2 * BLK, data + 2 * BLK, len - 2 * BLK), 0);
	n = get("/lost+found/f.lost-ranges", (uint8_t *)ranges, sizeof(ranges) - 1);
	ck_assert_int_gt(n, 0);
	ranges[n] = '\0';
	ck_assert_ptr_nonnull(strstr(ranges, "\noriginal /f\n"));
	ck_assert_ptr_nonnull(strstr(ranges, "\nlost 4096 4096\n"));
	ck_assert_int_eq(
		medfs_vault_getxattr(V, "/lost+found/f", "user.kept", ranges, 10), 1);
	ck_assert_int_eq(ranges[0], 'v');
	free(data);
	free(back);
}
END_TEST

START_TEST(test_salvage_truncated)
{
	const size_t len = 2 * BLK + 500;
	uint8_t *data = malloc(len), *back = malloc(len + 1), fill[BLK];
	struct medfs_binding b = root_binding("t");
	struct medfs_salvage sv;
	char p[PATH_MAX];

	randombytes_buf(data, len);
	put("/t", data, len);
	snprintf(p, sizeof(p), "%s/%s", vdir, vault_file(len));
	ck_assert_int_eq(truncate(p, MEDFS_HEADER_LEN + DBLK + 20), 0);
	ck_assert_int_eq(
		medfs_repair_salvage_file(R, "/t", p + strlen(vdir) + 1, &b, &sv), 0);
	ck_assert_uint_eq(sv.size, len);
	ck_assert_uint_eq(sv.lost, len - BLK);
	ck_assert_uint_eq(sv.n_ranges, 1);
	ck_assert_int_eq(get("/lost+found/t", back, len + 1), (ssize_t)len);
	ck_assert_int_eq(memcmp(back, data, BLK), 0);
	medfs_repair_fill(fill, BLK, BLK);
	ck_assert_int_eq(memcmp(back + BLK, fill, BLK), 0);
	free(data);
	free(back);
}
END_TEST

START_TEST(test_salvage_grown)
{
	/* Blocks past the header's size that authenticate are kept: a
	 * growth whose header was not written. */
	const size_t len = 2 * BLK;
	uint8_t *data = malloc(len), *back = malloc(len + 1);
	struct medfs_binding b = root_binding("g");
	struct medfs_salvage sv;
	uint8_t hdr[MEDFS_HEADER_LEN], key[MEDFS_KEY_LEN], id[MEDFS_FILE_ID_LEN], hk[32];
	char p[PATH_MAX];
	uint64_t size;
	int fd;

	randombytes_buf(data, len);
	put("/g", data, len);
	snprintf(p, sizeof(p), "%s/%s", vdir, vault_file(len));
	/* The header sealed again with the size of one block. */
	ck_assert_int_eq(medfs_subkey_derive(hk, MEDFS_SUBKEY_HEADER, vkey), 0);
	fd = open(p, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
	ck_assert_int_eq(medfs_header_open(hdr, id, key, &size, hk, &b), 0);
	ck_assert_int_eq(medfs_header_seal(hdr, id, key, BLK, hk, &b), 0);
	ck_assert_int_eq(pwrite(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
	close(fd);
	ck_assert_int_eq(
		medfs_repair_salvage_file(R, "/g", p + strlen(vdir) + 1, &b, &sv), 0);
	ck_assert_uint_eq(sv.header_size, BLK);
	ck_assert_uint_eq(sv.size, len);
	ck_assert_uint_eq(sv.lost, 0);
	ck_assert_int_eq(get("/lost+found/g", back, len + 1), (ssize_t)len);
	ck_assert_int_eq(memcmp(back, data, len), 0);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(hk, sizeof(hk));
	free(data);
	free(back);
}
END_TEST

START_TEST(test_salvage_grown_torn)
{
	/* A growth cut short: the new last block is on disk, the header and
	 * the old last block (partial) are as they were before it. The bytes
	 * of the old last block past its old end are lost: they read as the
	 * fill pattern and are listed, never as whatever the repair's buffer
	 * held. */
	const size_t len1 = BLK + 100, len = 2 * BLK + 100;
	uint8_t *data = malloc(len), *back = malloc(len + 1), fill[BLK];
	uint8_t hdr[MEDFS_HEADER_LEN], old[100 + MEDFS_BLOCK_OVERHEAD];
	struct medfs_binding b = root_binding("w");
	struct medfs_salvage sv;
	struct medfs_file *f;
	char p[PATH_MAX], ranges[1024];
	ssize_t n;
	int fd;

	randombytes_buf(data, len);
	put("/w", data, len1);
	snprintf(p, sizeof(p), "%s/%s", vdir, vault_file(len1));
	fd = open(p, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
	ck_assert_int_eq(pread(fd, old, sizeof(old), MEDFS_HEADER_LEN + DBLK),
			 (ssize_t)sizeof(old));
	ck_assert_int_eq(medfs_file_open(V, "/w", O_RDWR, &f), 0);
	ck_assert_int_eq(medfs_file_write(f, data + len1, len - len1, (off_t)len1, 0),
			 (ssize_t)(len - len1));
	medfs_file_release(f);
	ck_assert_int_eq(pwrite(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
	ck_assert_int_eq(pwrite(fd, old, sizeof(old), MEDFS_HEADER_LEN + DBLK),
			 (ssize_t)sizeof(old));
	close(fd);
	reopen();
	ck_assert_int_eq(
		medfs_repair_salvage_file(R, "/w", p + strlen(vdir) + 1, &b, &sv), 0);
	ck_assert_uint_eq(sv.header_size, len1);
	ck_assert_uint_eq(sv.size, len);
	ck_assert_uint_eq(sv.lost, BLK - 100);
	ck_assert_uint_eq(sv.n_ranges, 1);
	ck_assert_int_eq(get("/lost+found/w", back, len + 1), (ssize_t)len);
	ck_assert_int_eq(memcmp(back, data, len1), 0);
	medfs_repair_fill(fill, BLK - 100, len1);
	ck_assert_int_eq(memcmp(back + len1, fill, BLK - 100), 0);
	ck_assert_int_eq(memcmp(back + 2 * BLK, data + 2 * BLK, 100), 0);
	n = get("/lost+found/w.lost-ranges", (uint8_t *)ranges, sizeof(ranges) - 1);
	ck_assert_int_gt(n, 0);
	ranges[n] = '\0';
	ck_assert_ptr_nonnull(strstr(ranges, "\nlost 4196 3996\n"));
	free(data);
	free(back);
}
END_TEST

START_TEST(test_salvage_holes)
{
	/* A file with holes (FORMAT.md, 11) and one damaged block: its holes
	 * read as zeros, so they are not lost, and the copy stays sparse. */
	const size_t len = 10 * BLK;
	uint8_t *data = malloc(len), *back = malloc(len + 1), fill[BLK];
	struct medfs_binding b = root_binding("s");
	struct medfs_salvage sv;
	struct medfs_file *f;
	char p[PATH_MAX];
	struct stat st;

	randombytes_buf(data, len);
	memset(data + BLK, 0, 8 * BLK);
	ck_assert_int_eq(medfs_file_create(V, "/s", O_RDWR, 0640, NULL, &f), 0);
	ck_assert_int_eq(medfs_file_write(f, data, BLK, 0, 0), (ssize_t)BLK);
	ck_assert_int_eq(medfs_file_write(f, data + 9 * BLK, BLK, 9 * BLK, 0),
			 (ssize_t)BLK);
	medfs_file_release(f);
	snprintf(p, sizeof(p), "%s/%s", vdir, vault_file(len));
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_lt(st.st_blocks * 512, 6 * DBLK); /* sparse, as written */
	flip(p + strlen(vdir) + 1, MEDFS_HEADER_LEN + 77);
	ck_assert_int_eq(
		medfs_repair_salvage_file(R, "/s", p + strlen(vdir) + 1, &b, &sv), 0);
	ck_assert_uint_eq(sv.size, len);
	ck_assert_uint_eq(sv.lost, BLK);
	ck_assert_uint_eq(sv.n_ranges, 1);
	ck_assert_int_eq(get("/lost+found/s", back, len + 1), (ssize_t)len);
	medfs_repair_fill(fill, BLK, 0);
	ck_assert_int_eq(memcmp(back, fill, BLK), 0);
	ck_assert_int_eq(memcmp(back + BLK, data + BLK, len - BLK), 0);
	snprintf(p, sizeof(p), "%s/%s", vdir, vault_file(len));
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_lt(st.st_blocks * 512, 6 * DBLK);
	free(data);
	free(back);
}
END_TEST

/* Seals user.NAME = value onto the vault file at p (file id id) as the
 * library stores it (FORMAT.md, 8), whatever the library's count bound. */
static void seal_xattr(const char *p, const uint8_t id[MEDFS_FILE_ID_LEN], const char *name,
		       const char *value)
{
	const size_t np = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	uint8_t nk[MEDFS_NAME_KEY_LEN], xk[MEDFS_KEY_LEN], ad[4 + MEDFS_FILE_ID_LEN + 300],
		sealed[256];
	char enc[MEDFS_NAME_ENC_MAX], vname[300], user[200];
	unsigned long long clen;
	int len;

	ck_assert_int_eq(medfs_subkey_derive(nk, MEDFS_SUBKEY_NAME_MAC, vkey), 0);
	ck_assert_int_eq(medfs_subkey_derive(nk + MEDFS_KEY_LEN, MEDFS_SUBKEY_NAME_ENC, vkey),
			 0);
	ck_assert_int_eq(medfs_subkey_derive(xk, MEDFS_SUBKEY_XATTR, vkey), 0);
	len = medfs_name_encrypt(enc, sizeof(enc), name, strlen(name), id, nk);
	ck_assert_int_gt(len, 0);
	snprintf(vname, sizeof(vname), "user.medfs.%.*s", len, enc);
	snprintf(user, sizeof(user), "user.%s", name);
	memcpy(ad, "MDFX", 4);
	memcpy(ad + 4, id, MEDFS_FILE_ID_LEN);
	memcpy(ad + 4 + MEDFS_FILE_ID_LEN, user, strlen(user));
	randombytes_buf(sealed, np);
	crypto_aead_xchacha20poly1305_ietf_encrypt(
		sealed + np, &clen, (const uint8_t *)value, strlen(value), ad,
		4 + MEDFS_FILE_ID_LEN + strlen(user), NULL, sealed, xk);
	ck_assert_int_eq(setxattr(p, vname, sealed, np + (size_t)clen, 0), 0);
	sodium_memzero(nk, sizeof(nk));
	sodium_memzero(xk, sizeof(xk));
}

START_TEST(test_salvage_xattrs_kept)
{
	/* A file holding more attributes than medfs takes now (an older
	 * medfs set them): the copy cannot take the last one, which still
	 * authenticates, so the original stays, with everything it holds. */
	uint8_t data[100] = { 7 }, id[MEDFS_FILE_ID_LEN], hdr[MEDFS_HEADER_LEN];
	char shm[64], p[PATH_MAX], name[32], value[8];
	struct medfs_binding b;
	struct medfs_salvage sv;
	struct stat st;
	int fd;

	/* Its own vault on tmpfs: ext4 keeps a file's attributes in 4 KiB. */
	teardown();
	snprintf(shm, sizeof(shm), "/dev/shm/medfs-test-repair.XXXXXX");
	if (!mkdtemp(shm)) {
		setup();
		return;
	}
	snprintf(vdir, sizeof(vdir), "%s", shm);
	vkey = medfs_secret_alloc(MEDFS_KEY_LEN);
	ck_assert_ptr_nonnull(vkey);
	randombytes_buf(vkey, MEDFS_KEY_LEN);
	ck_assert_int_eq(medfs_vault_create_tree(vdir, vkey), 0);
	ck_assert_int_eq(
		medfs_vault_open_cipher(&V, vdir, vkey, MEDFS_CIPHER_XCHACHA20POLY1305),
		0);
	ck_assert_int_eq(medfs_repair_new(&R, vdir, vkey, MEDFS_CIPHER_XCHACHA20POLY1305),
			 0);
	medfs_repair_set_vault(R, V);
	b = root_binding("x");
	put("/x", data, sizeof(data));
	for (int i = 0; i < MEDFS_XATTR_COUNT_MAX; i++) {
		snprintf(name, sizeof(name), "user.a%d", i);
		ck_assert_int_eq(medfs_vault_setxattr(V, "/x", name, "v", 1, 0), 0);
	}
	snprintf(p, sizeof(p), "%s/%s", vdir, vault_file(sizeof(data)));
	fd = open(p, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
	close(fd);
	memcpy(id, hdr + 8, sizeof(id));
	seal_xattr(p, id, "extra", "kept");
	reopen();
	ck_assert_int_eq(medfs_vault_getxattr(V, "/x", "user.extra", value, sizeof(value)),
			 4);
	flip(p + strlen(vdir) + 1, MEDFS_HEADER_LEN + 50);
	ck_assert_int_lt(medfs_repair_salvage_file(R, "/x", p + strlen(vdir) + 1, &b, &sv),
			 0);
	ck_assert_int_eq(lstat(p, &st), 0);
	ck_assert_int_eq(medfs_vault_getxattr(V, "/x", "user.extra", value, sizeof(value)),
			 4);
	ck_assert_int_eq(medfs_vault_getattr(V, "/lost+found/x", &st), -ENOENT);
	nftw(shm, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
END_TEST

START_TEST(test_salvage_bad_header)
{
	uint8_t data[100];
	struct medfs_binding b = root_binding("h");
	struct medfs_salvage sv;
	struct stat st;

	randombytes_buf(data, sizeof(data));
	put("/h", data, sizeof(data));
	flip(vault_file(sizeof(data)), 50);
	ck_assert_int_eq(
		medfs_repair_salvage_file(R, "/h", vault_file(sizeof(data)), &b, &sv),
		-EBADMSG);
	/* Left as it was; nothing made. */
	ck_assert(vexists(vault_file(sizeof(data))));
	ck_assert_int_eq(medfs_vault_getattr(V, "/lost+found", &st), -ENOENT);
	/* Bound to another name: the same. */
	flip(vault_file(sizeof(data)), 50);
	b = root_binding("other");
	ck_assert_int_eq(
		medfs_repair_salvage_file(R, "/h", vault_file(sizeof(data)), &b, &sv),
		-EBADMSG);
}
END_TEST

START_TEST(test_salvage_names)
{
	uint8_t data[200];
	struct medfs_binding b;
	struct medfs_salvage sv;
	char vpath[PATH_MAX];

	randombytes_buf(data, sizeof(data));
	put("/x", data, 150);
	snprintf(vpath, sizeof(vpath), "%s", vault_file(150));
	b = root_binding("x");
	ck_assert_int_eq(medfs_repair_salvage_file(R, "/x", vpath, &b, &sv), 0);
	ck_assert_str_eq(sv.name, "x");
	put("/x", data, 160);
	snprintf(vpath, sizeof(vpath), "%s", vault_file(160));
	ck_assert_int_eq(medfs_repair_salvage_file(R, "/x", vpath, &b, &sv), 0);
	ck_assert_str_eq(sv.name, "x.1");
	ck_assert_uint_eq(sv.lost, 0);
}
END_TEST

START_TEST(test_meta)
{
	uint8_t data[300], junk[100];
	char p[PATH_MAX], buf[64];
	struct medfs_file *f;

	randombytes_buf(data, sizeof(data));
	put("/m", data, sizeof(data));
	ck_assert_int_eq(medfs_file_open(V, "/m", O_RDWR, &f), 0);
	ck_assert_int_eq(medfs_file_set_meta(f, "patient_id=X\n", 13), 0);
	medfs_file_release(f);
	snprintf(p, sizeof(p), "%s/%s", vdir, vault_file(sizeof(data)));
	randombytes_buf(junk, sizeof(junk));
	ck_assert_int_eq(setxattr(p, MEDFS_META_XATTR, junk, sizeof(junk), 0), 0);
	ck_assert_int_eq(medfs_vault_get_meta(V, "/m", buf, sizeof(buf)), -EBADMSG);
	/* Not DICOM: empty metadata, which authenticates. */
	ck_assert_int_eq(medfs_repair_meta(R, "/m"), 0);
	ck_assert_int_eq(medfs_vault_get_meta(V, "/m", buf, sizeof(buf)), 0);
	ck_assert_int_eq(medfs_repair_meta(R, "/nothing"), -ENOENT);
}
END_TEST

/* ---- directory headers ---- */

/* The vault path of directory /NAME in the root. */
static void dir_vpath(const char *name, char *out, size_t outsz)
{
	char enc[MEDFS_NAME_ENC_MAX];
	uint8_t nk[MEDFS_NAME_KEY_LEN];
	struct medfs_binding b = root_binding(name);
	int n;

	ck_assert_int_eq(medfs_subkey_derive(nk, MEDFS_SUBKEY_NAME_MAC, vkey), 0);
	ck_assert_int_eq(medfs_subkey_derive(nk + 32, MEDFS_SUBKEY_NAME_ENC, vkey), 0);
	n = medfs_name_encrypt(enc, sizeof(enc), name, strlen(name), b.parent_id, nk);
	ck_assert_int_gt(n, 0);
	snprintf(out, outsz, "tree/%s", enc);
	sodium_memzero(nk, sizeof(nk));
}

START_TEST(test_salvage_torn_header)
{
	struct medfs_binding b = root_binding("z");
	struct medfs_salvage sv;
	char vz[1024], p[PATH_MAX];
	struct stat st;
	int fd;

	/* A create cut before its header: a 0-byte vault file, listed. */
	dir_vpath("z", vz, sizeof(vz));
	snprintf(p, sizeof(p), "%s/%s", vdir, vz);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(medfs_vault_getattr(V, "/z", &st), 0);
	ck_assert_int_eq(medfs_repair_salvage_file(R, "/z", vz, &b, &sv), 0);
	ck_assert(sv.torn_header);
	ck_assert_uint_eq(sv.size, 0);
	ck_assert_int_eq(medfs_vault_getattr(V, "/lost+found/z", &st), 0);
	ck_assert_int_eq(st.st_size, 0);
	ck_assert(!vexists(vz));
}
END_TEST

/* Makes path (len bytes of data, metadata meta) what a rekey leaves: its
 * header flagged PREV under a new file key that seals block 0, the other
 * blocks still under the previous key, which MEDFS_PREV_XATTR holds. */
static void put_prev(const char *path, const uint8_t *data, size_t len, const char *meta)
{
	uint8_t hk[MEDFS_KEY_LEN], xk[MEDFS_KEY_LEN], k0[MEDFS_KEY_LEN],
		k1[MEDFS_KEY_LEN];
	uint8_t id[MEDFS_FILE_ID_LEN], hdr[MEDFS_HEADER_LEN], sealed[DBLK];
	uint8_t prev[MEDFS_PREV_LEN];
	struct medfs_binding b = root_binding(path + 1);
	struct medfs_file *f;
	char p[PATH_MAX];
	uint64_t size;
	int fd;

	put(path, data, len);
	ck_assert_int_eq(medfs_file_open(V, path, O_RDWR, &f), 0);
	ck_assert_int_eq(medfs_file_set_meta(f, meta, strlen(meta)), 0);
	medfs_file_release(f);
	ck_assert_int_eq(medfs_subkey_derive(hk, MEDFS_SUBKEY_HEADER, vkey), 0);
	ck_assert_int_eq(medfs_subkey_derive(xk, MEDFS_SUBKEY_XATTR, vkey), 0);
	snprintf(p, sizeof(p), "%s/%s", vdir, vault_file(len));
	fd = open(p, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
	ck_assert_int_eq(medfs_header_open(hdr, id, k0, &size, hk, &b), 0);
	ck_assert_uint_eq(size, len);
	randombytes_buf(k1, sizeof(k1));
	ck_assert_int_ge(medfs_block_seal(sealed, data, BLK,
					  MEDFS_CIPHER_XCHACHA20POLY1305, k1, id, 0),
			 0);
	ck_assert_int_eq(pwrite(fd, sealed, DBLK, (off_t)medfs_block_disk_offset(0)),
			 DBLK);
	ck_assert_int_eq(medfs_header_seal_flags(hdr, id, k1, size, MEDFS_HEADER_PREV, hk,
						 &b, NULL),
			 0);
	ck_assert_int_eq(pwrite(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
	medfs_prev_seal(prev, k0, id, xk, NULL);
	ck_assert_int_eq(fsetxattr(fd, MEDFS_PREV_XATTR, prev, sizeof(prev), 0), 0);
	close(fd);
	sodium_memzero(k0, sizeof(k0));
	sodium_memzero(k1, sizeof(k1));
	sodium_memzero(hk, sizeof(hk));
	sodium_memzero(xk, sizeof(xk));
	reopen();
}

/* Salvage opens blocks under the previous key and copies the metadata;
 * a damaged previous key loses its blocks, damaged metadata is lost. */
START_TEST(test_salvage_prev_and_meta)
{
	static const char meta[] = "patient_id=P1\n";
	const size_t len = 3 * BLK, len2 = 2 * BLK + 10;
	uint8_t *data = malloc(len), *back = malloc(len + 1), fill[BLK],
		junk[MEDFS_PREV_LEN];
	struct medfs_binding b = root_binding("p");
	struct medfs_salvage sv;
	char buf[64], p[PATH_MAX];

	ck_assert_ptr_nonnull(data);
	ck_assert_ptr_nonnull(back);
	randombytes_buf(data, len);
	put_prev("/p", data, len, meta);
	ck_assert_int_eq(get("/p", back, len + 1), (ssize_t)len);
	ck_assert_int_eq(memcmp(back, data, len), 0);
	ck_assert_int_eq(medfs_repair_salvage_file(R, "/p", vault_file(len), &b, &sv), 0);
	ck_assert_uint_eq(sv.lost, 0);
	ck_assert(!sv.meta_lost);
	ck_assert_int_eq(get("/lost+found/p", back, len + 1), (ssize_t)len);
	ck_assert_int_eq(memcmp(back, data, len), 0);
	ck_assert_int_eq(medfs_vault_get_meta(V, "/lost+found/p", buf, sizeof(buf)),
			 (ssize_t)strlen(meta));
	ck_assert_int_eq(memcmp(buf, meta, strlen(meta)), 0);

	b = root_binding("q");
	put_prev("/q", data, len2, meta);
	snprintf(p, sizeof(p), "%s/%s", vdir, vault_file(len2));
	randombytes_buf(junk, sizeof(junk));
	ck_assert_int_eq(setxattr(p, MEDFS_PREV_XATTR, junk, sizeof(junk), 0), 0);
	ck_assert_int_eq(setxattr(p, MEDFS_META_XATTR, junk, sizeof(junk), 0), 0);
	ck_assert_int_eq(medfs_repair_salvage_file(R, "/q", vault_file(len2), &b, &sv),
			 0);
	ck_assert_uint_eq(sv.lost, BLK + 10);
	ck_assert(sv.meta_lost);
	ck_assert_int_eq(get("/lost+found/q", back, len + 1), (ssize_t)len2);
	ck_assert_int_eq(memcmp(back, data, BLK), 0);
	medfs_repair_fill(fill, BLK, BLK);
	ck_assert_int_eq(memcmp(back + BLK, fill, BLK), 0);
	medfs_repair_fill(fill, 10, 2 * BLK);
	ck_assert_int_eq(memcmp(back + 2 * BLK, fill, 10), 0);
	free(data);
	free(back);
}
END_TEST

static int count(void *ctx, const char *name, const struct stat *st)
{
	(void)name;
	(void)st;
	(*(int *)ctx)++;
	return 0;
}

START_TEST(test_dir_resealed)
{
	struct medfs_binding b = root_binding("d");
	char vd[1024], where[1024], hp[PATH_MAX];
	uint8_t data[10] = { 1 };
	size_t moved;
	int n = 0;

	ck_assert_int_eq(medfs_vault_mkdir(V, "/d", 0755, NULL), 0);
	put("/d/a", data, sizeof(data));
	dir_vpath("d", vd, sizeof(vd));
	snprintf(hp, sizeof(hp), "%s/%s", vd, MEDFS_DIR_HEADER_NAME);
	flip(hp, 30); /* the tag */
	reopen();
	ck_assert_int_eq(medfs_vault_readdir(V, "/d", count, &n), -EBADMSG);
	ck_assert_int_eq(medfs_repair_dir_header(R, vd, &b, &moved, where, sizeof(where)),
			 MEDFS_DIR_RESEALED);
	ck_assert_uint_eq(moved, 0);
	reopen();
	ck_assert_int_eq(medfs_vault_readdir(V, "/d", count, &n), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(get("/d/a", data, sizeof(data)), (ssize_t)sizeof(data));
	ck_assert_int_eq(data[0], 1);
}
END_TEST

START_TEST(test_dir_rebuilt_and_quarantined)
{
	struct medfs_binding be = root_binding("e"), bq = root_binding("q");
	char ve[1024], vq[1024], where[1024], hp[PATH_MAX], qp[PATH_MAX];
	uint8_t data[10] = { 1 };
	struct dirent *d;
	size_t moved;
	DIR *dir;
	int n = 0, files = 0;

	ck_assert_int_eq(medfs_vault_mkdir(V, "/e", 0755, NULL), 0);
	ck_assert_int_eq(medfs_vault_mkdir(V, "/q", 0755, NULL), 0);
	put("/q/a", data, sizeof(data));
	put("/q/b", data, sizeof(data) - 1);
	dir_vpath("e", ve, sizeof(ve));
	dir_vpath("q", vq, sizeof(vq));
	snprintf(hp, sizeof(hp), "%s/%s/%s", vdir, ve, MEDFS_DIR_HEADER_NAME);
	ck_assert_int_eq(unlink(hp), 0);
	snprintf(hp, sizeof(hp), "%s/%s/%s", vdir, vq, MEDFS_DIR_HEADER_NAME);
	ck_assert_int_eq(unlink(hp), 0);
	reopen();
	ck_assert_int_eq(
		medfs_repair_dir_header(R, ve, &be, &moved, where, sizeof(where)),
		MEDFS_DIR_REBUILT);
	ck_assert_int_eq(
		medfs_repair_dir_header(R, vq, &bq, &moved, where, sizeof(where)),
		MEDFS_DIR_QUARANTINED);
	ck_assert_uint_eq(moved, 2);
	ck_assert_int_eq(strncmp(where, MEDFS_REPAIR_QUARANTINE "/", 11), 0);
	snprintf(qp, sizeof(qp), "%s/%s", vdir, where);
	dir = opendir(qp);
	ck_assert_ptr_nonnull(dir);
	while ((d = readdir(dir)))
		files += d->d_name[0] != '.';
	closedir(dir);
	ck_assert_int_eq(files, 2);
	reopen();
	ck_assert_int_eq(medfs_vault_readdir(V, "/e", count, &n), 0);
	ck_assert_int_eq(medfs_vault_readdir(V, "/q", count, &n), 0);
	ck_assert_int_eq(n, 0);
}
END_TEST

/* ---- leftovers ---- */

static void make_file(const char *rel)
{
	char p[PATH_MAX];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", vdir, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "x", 1), 1);
	close(fd);
}

START_TEST(test_leftovers)
{
	char p[PATH_MAX];

	ck_assert(medfs_repair_is_leftover(".tmp-0011223344556677"));
	ck_assert(medfs_repair_is_leftover(".medfs-dir.tmp"));
	ck_assert(medfs_repair_is_leftover("medfs.conf.tmp"));
	ck_assert(medfs_repair_is_leftover("medfs.conf.bak.tmp"));
	ck_assert(!medfs_repair_is_leftover(".medfs-dir"));
	ck_assert(!medfs_repair_is_leftover("abc"));

	make_file("tree/.tmp-0011223344556677");
	ck_assert_int_eq(medfs_repair_remove_leftover(R, "tree/.tmp-0011223344556677"),
			 0);
	ck_assert(!vexists("tree/.tmp-0011223344556677"));
	make_file("tree/.medfs-dir.tmp");
	ck_assert_int_eq(medfs_repair_remove_leftover(R, "tree/.medfs-dir.tmp"), 0);
	ck_assert(!vexists("tree/.medfs-dir.tmp"));
	make_file("medfs.conf.tmp");
	ck_assert_int_eq(medfs_repair_remove_leftover(R, "medfs.conf.tmp"), 0);

	/* An interrupted mkdir: removed; one that holds more: left. */
	snprintf(p, sizeof(p), "%s/tree/.tmp-aaaaaaaaaaaaaaaa", vdir);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	make_file("tree/.tmp-aaaaaaaaaaaaaaaa/.medfs-dir");
	ck_assert_int_eq(medfs_repair_remove_leftover(R, "tree/.tmp-aaaaaaaaaaaaaaaa"),
			 0);
	ck_assert(!vexists("tree/.tmp-aaaaaaaaaaaaaaaa"));
	ck_assert_int_eq(mkdir(p, 0700), 0);
	make_file("tree/.tmp-aaaaaaaaaaaaaaaa/.medfs-dir");
	make_file("tree/.tmp-aaaaaaaaaaaaaaaa/data");
	ck_assert_int_eq(medfs_repair_remove_leftover(R, "tree/.tmp-aaaaaaaaaaaaaaaa"),
			 -ENOTEMPTY);
	ck_assert(vexists("tree/.tmp-aaaaaaaaaaaaaaaa/data"));

	/* Sidecars: an orphan goes, one with its entry stays. */
	make_file("tree/~orphan.n");
	ck_assert_int_eq(medfs_repair_remove_leftover(R, "tree/~orphan.n"), 0);
	ck_assert(!vexists("tree/~orphan.n"));
	make_file("tree/~kept.n");
	make_file("tree/~kept");
	ck_assert_int_eq(medfs_repair_remove_leftover(R, "tree/~kept.n"), -EEXIST);
	ck_assert(vexists("tree/~kept.n"));
	ck_assert_int_eq(medfs_repair_remove_leftover(R, "tree/~kept"), -EINVAL);
	ck_assert(vexists("tree/~kept"));
}
END_TEST

START_TEST(test_no_symlink_followed)
{
	/* A vault directory swapped for a symlink (by whoever can write the
	 * vault, while fsck runs as root) must not lead a repair out of the
	 * vault: nothing there is removed or moved. */
	struct medfs_binding b = root_binding("sub");
	char out[512], p[PATH_MAX], where[PATH_MAX];
	size_t moved = 99;
	struct stat st;
	int fd;

	snprintf(out, sizeof(out), "%s/out.XXXXXX", base_dir);
	ck_assert_ptr_nonnull(mkdtemp(out));
	snprintf(p, sizeof(p), "%s/.tmp-0011223344556677", out);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	snprintf(p, sizeof(p), "%s/sub", out);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/sub/precious", out);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	snprintf(p, sizeof(p), "%s/tree/evil", vdir);
	ck_assert_int_eq(symlink(out, p), 0);

	ck_assert_int_eq(medfs_repair_remove_leftover(R, "tree/evil/.tmp-0011223344556677"),
			 -ELOOP);
	snprintf(p, sizeof(p), "%s/.tmp-0011223344556677", out);
	ck_assert_int_eq(lstat(p, &st), 0);
	ck_assert_int_eq(
		medfs_repair_dir_header(R, "tree/evil/sub", &b, &moved, where, sizeof(where)),
		-ELOOP);
	ck_assert_uint_eq(moved, 0);
	snprintf(p, sizeof(p), "%s/sub/precious", out);
	ck_assert_int_eq(lstat(p, &st), 0);
	snprintf(p, sizeof(p), "%s/sub/%s", out, MEDFS_DIR_HEADER_NAME);
	ck_assert_int_ne(lstat(p, &st), 0);
	ck_assert(!vexists("quarantine"));
}
END_TEST

/* ---- config ---- */

static void read_copy(const char *name, uint8_t *buf, size_t *len)
{
	ck_assert_int_eq(medfs_config_read(vdir, name, buf, len), 0);
}

START_TEST(test_config)
{
	uint8_t a[MEDFS_CONFIG_LEN + 1], b[MEDFS_CONFIG_LEN + 1];
	uint8_t *other = medfs_secret_alloc(MEDFS_KEY_LEN);
	struct medfs_config c;
	size_t la, lb;
	char what[512], p[PATH_MAX];

	medfs_config_init(&c, MEDFS_CIPHER_XCHACHA20POLY1305);
	ck_assert_int_eq(medfs_config_save(vdir, &c, vkey), 0);
	ck_assert_int_eq(medfs_repair_config(R, vkey, what, sizeof(what)), 0);

	/* A torn second copy. */
	snprintf(p, sizeof(p), "%s/%s", vdir, MEDFS_CONFIG_BACKUP_NAME);
	ck_assert_int_eq(truncate(p, 100), 0);
	ck_assert_int_eq(medfs_repair_config(R, vkey, what, sizeof(what)), 1);
	read_copy(MEDFS_CONFIG_NAME, a, &la);
	read_copy(MEDFS_CONFIG_BACKUP_NAME, b, &lb);
	ck_assert_uint_eq(la, lb);
	ck_assert_int_eq(memcmp(a, b, la), 0);

	/* A missing primary. */
	snprintf(p, sizeof(p), "%s/%s", vdir, MEDFS_CONFIG_NAME);
	ck_assert_int_eq(unlink(p), 0);
	ck_assert_int_eq(medfs_repair_config(R, vkey, what, sizeof(what)), 1);
	read_copy(MEDFS_CONFIG_NAME, a, &la);
	ck_assert_int_eq(memcmp(a, b, la), 0);

	/* Both authentic, different: the primary is the newer. */
	c.created += 1;
	ck_assert_int_eq(medfs_config_encode(&c, vkey, a), 0);
	snprintf(p, sizeof(p), "%s/%s", vdir, MEDFS_CONFIG_NAME);
	{
		int fd = open(p, O_WRONLY | O_TRUNC);

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, a, MEDFS_CONFIG_LEN), MEDFS_CONFIG_LEN);
		close(fd);
	}
	ck_assert_int_eq(medfs_repair_config(R, vkey, what, sizeof(what)), 1);
	read_copy(MEDFS_CONFIG_BACKUP_NAME, b, &lb);
	ck_assert_int_eq(memcmp(a, b, MEDFS_CONFIG_LEN), 0);

	/* A copy under another key is not overwritten. */
	randombytes_buf(other, MEDFS_KEY_LEN);
	ck_assert_int_eq(medfs_config_encode(&c, other, a), 0);
	snprintf(p, sizeof(p), "%s/%s", vdir, MEDFS_CONFIG_BACKUP_NAME);
	{
		int fd = open(p, O_WRONLY | O_TRUNC);

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, a, MEDFS_CONFIG_LEN), MEDFS_CONFIG_LEN);
		close(fd);
	}
	ck_assert_int_eq(medfs_repair_config(R, vkey, what, sizeof(what)), -EBADMSG);
	read_copy(MEDFS_CONFIG_BACKUP_NAME, b, &lb);
	ck_assert_int_eq(memcmp(a, b, MEDFS_CONFIG_LEN), 0);
	medfs_secret_free(other);
}
END_TEST

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(p);
}

START_TEST(test_salvage_zero_header)
{
	/* A create whose header never reached the disk while the vault file
	 * got a length (SQLite's -shm grown with ftruncate, found by the
	 * crash checker): a header of zeros holds no key, so nothing could
	 * be read: an empty copy, as for a header cut short. */
	struct medfs_binding b = root_binding("zz");
	struct medfs_salvage sv;
	char vz[1024], p[PATH_MAX];
	struct stat st;
	int fd;

	dir_vpath("zz", vz, sizeof(vz));
	snprintf(p, sizeof(p), "%s/%s", vdir, vz);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, MEDFS_HEADER_LEN + 43), 0);
	close(fd);
	ck_assert_int_eq(medfs_vault_getattr(V, "/zz", &st), 0);
	ck_assert_int_eq(medfs_repair_salvage_file(R, "/zz", vz, &b, &sv), 0);
	ck_assert(sv.torn_header);
	ck_assert_uint_eq(sv.size, 0);
	ck_assert_uint_eq(sv.lost, 0);
	ck_assert_int_eq(medfs_vault_getattr(V, "/lost+found/zz", &st), 0);
	ck_assert_int_eq(st.st_size, 0);
	ck_assert(!vexists(vz));
}
END_TEST

START_TEST(test_salvage_zero_header_kept)
{
	/* A header that is not all zeros and does not open is left alone. */
	struct medfs_binding b = root_binding("zy");
	struct medfs_salvage sv;
	char vz[1024], p[PATH_MAX];
	uint8_t hdr[MEDFS_HEADER_LEN] = { 0 };
	int fd;

	dir_vpath("zy", vz, sizeof(vz));
	snprintf(p, sizeof(p), "%s/%s", vdir, vz);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	hdr[MEDFS_HEADER_LEN - 1] = 1;
	ck_assert_int_eq(write(fd, hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
	close(fd);
	ck_assert_int_eq(medfs_repair_salvage_file(R, "/zy", vz, &b, &sv), -EBADMSG);
	ck_assert(vexists(vz));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("repair");
	TCase *tc = tcase_create("repair");
	SRunner *sr;
	int failed;

	if (medfs_crypto_init() < 0)
		return 1;
	medfs_log_set(quiet);
	snprintf(base_dir, sizeof(base_dir), "/tmp/medfs-test-repair.XXXXXX");
	if (!mkdtemp(base_dir))
		return 1;
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_fill);
	tcase_add_test(tc, test_quarantined);
	tcase_add_test(tc, test_ranges_format);
	tcase_add_test(tc, test_salvage_flipped_block);
	tcase_add_test(tc, test_salvage_truncated);
	tcase_add_test(tc, test_salvage_grown);
	tcase_add_test(tc, test_salvage_grown_torn);
	tcase_add_test(tc, test_salvage_holes);
	tcase_add_test(tc, test_salvage_xattrs_kept);
	tcase_add_test(tc, test_salvage_bad_header);
	tcase_add_test(tc, test_salvage_names);
	tcase_add_test(tc, test_salvage_torn_header);
	tcase_add_test(tc, test_salvage_prev_and_meta);
	tcase_add_test(tc, test_salvage_zero_header);
	tcase_add_test(tc, test_salvage_zero_header_kept);
	tcase_add_test(tc, test_meta);
	tcase_add_test(tc, test_dir_resealed);
	tcase_add_test(tc, test_dir_rebuilt_and_quarantined);
	tcase_add_test(tc, test_leftovers);
	tcase_add_test(tc, test_no_symlink_followed);
	tcase_add_test(tc, test_config);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	nftw(base_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return failed ? 1 : 0;
}
