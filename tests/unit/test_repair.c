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

START_TEST(test_salvage_holes)
{
	/* A damaged sparse file: its holes, which the hole map proves, are
	 * zeros in the copy (and holes again), not lost bytes. */
	const size_t len = 10 * BLK;
	uint8_t *data = malloc(BLK), *back = malloc(len + 1), fill[BLK], zero[BLK];
	struct medfs_binding b = root_binding("s");
	struct medfs_salvage sv;
	struct medfs_file *f;
	char p[PATH_MAX];
	struct stat st;

	randombytes_buf(data, BLK);
	memset(zero, 0, sizeof(zero));
	put("/s", data, BLK);
	ck_assert_int_eq(medfs_file_open(V, "/s", O_RDWR, &f), 0);
	ck_assert_int_eq(medfs_file_truncate(f, (off_t)len), 0);
	ck_assert_int_eq(medfs_file_write(f, data, BLK, 5 * BLK, 0), (ssize_t)BLK);
	medfs_file_release(f);
	/* Blocks 1-4 and 6-9 are holes; block 0 is damaged. */
	flip(vault_file(len), MEDFS_HEADER_LEN + 77);
	ck_assert_int_eq(medfs_repair_salvage_file(R, "/s", vault_file(len), &b, &sv), 0);
	ck_assert_uint_eq(sv.header_size, len);
	ck_assert_uint_eq(sv.size, len);
	ck_assert_uint_eq(sv.lost, BLK);
	ck_assert_uint_eq(sv.n_ranges, 1);
	ck_assert_int_eq(get("/lost+found/s", back, len + 1), (ssize_t)len);
	medfs_repair_fill(fill, BLK, 0);
	ck_assert_int_eq(memcmp(back, fill, BLK), 0);
	for (size_t i = 1; i < 10; i++)
		ck_assert_int_eq(memcmp(back + i * BLK, i == 5 ? data : zero, BLK), 0);
	/* The copy's holes cost no disk: its two blocks span four pages, and
	 * an xattr block (ten sealed blocks, eleven pages, without holes). */
	snprintf(p, sizeof(p), "%s/%s", vdir, vault_file(len));
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_le((long long)st.st_blocks * 512, 6 * 4096);
	free(data);
	free(back);
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
	tcase_add_test(tc, test_salvage_holes);
	tcase_add_test(tc, test_salvage_bad_header);
	tcase_add_test(tc, test_salvage_names);
	tcase_add_test(tc, test_salvage_torn_header);
	tcase_add_test(tc, test_salvage_zero_header);
	tcase_add_test(tc, test_salvage_zero_header_kept);
	tcase_add_test(tc, test_meta);
	tcase_add_test(tc, test_dir_resealed);
	tcase_add_test(tc, test_dir_rebuilt_and_quarantined);
	tcase_add_test(tc, test_leftovers);
	tcase_add_test(tc, test_config);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	nftw(base_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return failed ? 1 : 0;
}
