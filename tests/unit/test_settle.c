/* Unit tests: the mounted marker and the settling walk (medfs/settle.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdatomic.h>

#include <check.h>
#include <sodium.h>

#include "medfs/block.h"
#include "medfs/crypto.h"
#include "medfs/header.h"
#include "medfs/settle.h"
#include "medfs/vault.h"

static char base_dir[PATH_MAX - 64];
static char vdir[PATH_MAX - 32];
static uint8_t *vkey;
static struct medfs_vault *V;

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void setup(void)
{
	ck_assert_int_eq(medfs_crypto_init(), 0);
	snprintf(vdir, sizeof(vdir), "%s/vault-XXXXXX", base_dir);
	ck_assert_ptr_nonnull(mkdtemp(vdir));
	vkey = medfs_secret_alloc(MEDFS_KEY_LEN);
	ck_assert_ptr_nonnull(vkey);
	randombytes_buf(vkey, MEDFS_KEY_LEN);
	ck_assert_int_eq(medfs_vault_create_tree(vdir, vkey), 0);
	ck_assert_int_eq(medfs_vault_open_cipher(&V, vdir, vkey, MEDFS_CIPHER_XCHACHA20POLY1305),
			 0);
}

static void teardown(void)
{
	medfs_vault_close(V);
	V = NULL;
	medfs_secret_free(vkey);
	nftw(vdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void put(const char *path, const uint8_t *data, size_t len)
{
	struct medfs_file *f;

	ck_assert_int_eq(medfs_file_create(V, path, O_RDWR, 0600, NULL, &f), 0);
	ck_assert_int_eq(medfs_file_write(f, data, len, 0, 0), (ssize_t)len);
	medfs_file_release(f);
}

/* The vault file of the regular file whose inode is ino. */
static ino_t find_ino;
static char find_out[PATH_MAX];

static int find_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)flag;
	(void)ftw;
	if (S_ISREG(st->st_mode) && st->st_ino == find_ino) {
		snprintf(find_out, sizeof(find_out), "%s", p);
		return 1;
	}
	return 0;
}

static void host_of(const char *path, char *out)
{
	char tree[PATH_MAX];
	struct stat st;

	ck_assert_int_eq(medfs_vault_getattr(V, path, &st), 0);
	find_ino = st.st_ino;
	snprintf(tree, sizeof(tree), "%s/tree", vdir);
	ck_assert_int_eq(nftw(tree, find_one, 16, FTW_PHYS), 1);
	snprintf(out, PATH_MAX, "%s", find_out);
}

static off_t host_size(const char *host)
{
	struct stat st;

	ck_assert_int_eq(stat(host, &st), 0);
	return st.st_size;
}

/* Appends more bytes to path through the library, then puts its header
 * from before back: a crash's extension whose header did not reach the
 * disk. */
static void grow_behind(const char *path, size_t len, size_t more)
{
	uint8_t hdr[MEDFS_HEADER_LEN], *junk = malloc(more);
	char host[PATH_MAX];
	struct medfs_file *f;
	int fd;

	ck_assert_ptr_nonnull(junk);
	randombytes_buf(junk, more);
	host_of(path, host);
	fd = open(host, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
	ck_assert_int_eq(medfs_file_open(V, path, O_RDWR, &f), 0);
	ck_assert_int_eq(medfs_file_write(f, junk, more, (off_t)len, 0), (ssize_t)more);
	medfs_file_release(f);
	ck_assert_int_eq(pwrite(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
	close(fd);
	free(junk);
	ck_assert_int_eq(host_size(host), (off_t)medfs_disk_size(len + more));
}

START_TEST(test_marker)
{
	char p[PATH_MAX + 32];

	snprintf(p, sizeof(p), "%s/%s", vdir, MEDFS_MOUNTED_NAME);
	ck_assert_int_eq(medfs_mounted_present(vdir), 0);
	ck_assert_int_eq(medfs_mounted_mark(vdir), 0);
	ck_assert_int_eq(access(p, F_OK), 0);
	ck_assert_int_eq(medfs_mounted_present(vdir), 1);
	/* A second mark: the last mount did not end cleanly. */
	ck_assert_int_eq(medfs_mounted_mark(vdir), 1);
	ck_assert_int_eq(medfs_mounted_clear(vdir), 0);
	ck_assert_int_eq(medfs_mounted_present(vdir), 0);
	ck_assert_int_eq(medfs_mounted_clear(vdir), 0);
	ck_assert_int_eq(medfs_mounted_mark(vdir), 0);
	ck_assert_int_eq(medfs_mounted_clear(vdir), 0);
	ck_assert_int_eq(medfs_mounted_mark("/nonexistent-medfs-dir"), -ENOENT);
}
END_TEST

struct sizes {
	long a, b;
};

static int fill_sizes(void *ctx, const char *name, const struct stat *st)
{
	struct sizes *s = ctx;

	if (!strcmp(name, "a"))
		s->a = (long)st->st_size;
	else if (!strcmp(name, "b"))
		s->b = (long)st->st_size;
	return 0;
}

START_TEST(test_walk)
{
	const size_t la = 2 * MEDFS_BLOCK_SIZE + 100, lb = MEDFS_BLOCK_SIZE;
	uint8_t *data = malloc(la);
	struct medfs_settle_stats st;
	struct sizes sz = { -1, -1 };
	char host_a[PATH_MAX], host_b[PATH_MAX], host_c[PATH_MAX];
	struct stat s;
	uint8_t got[64];
	struct medfs_file *f;

	ck_assert_ptr_nonnull(data);
	randombytes_buf(data, la);
	ck_assert_int_eq(medfs_vault_mkdir(V, "/d", 0700, NULL), 0);
	ck_assert_int_eq(medfs_vault_mkdir(V, "/d/e", 0700, NULL), 0);
	put("/d/a", data, la);
	put("/d/e/b", data, lb);
	put("/c", data, 100);
	put("/sound", data, 300);
	grow_behind("/d/a", la, MEDFS_BLOCK_SIZE + 7);
	grow_behind("/d/e/b", lb, 50);
	grow_behind("/c", 100, 10);
	host_of("/d/a", host_a);
	host_of("/d/e/b", host_b);
	host_of("/c", host_c);
	/* /c's header does not authenticate: left to fsck, not a failure. */
	{
		int fd = open(host_c, O_RDWR);
		uint8_t x;

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(pread(fd, &x, 1, 40), 1);
		x ^= 1;
		ck_assert_int_eq(pwrite(fd, &x, 1, 40), 1);
		close(fd);
	}

	/* Careful: stat and readdir give the headers' sizes. */
	medfs_vault_set_careful(V, true);
	ck_assert_int_eq(medfs_vault_getattr(V, "/d/a", &s), 0);
	ck_assert_int_eq(s.st_size, (off_t)la);
	ck_assert_int_eq(medfs_vault_readdir(V, "/d", fill_sizes, &sz), 0);
	ck_assert_int_eq(sz.a, (long)la);
	ck_assert_int_eq(medfs_vault_readdir(V, "/d/e", fill_sizes, &sz), 0);
	ck_assert_int_eq(sz.b, (long)lb);

	ck_assert_int_eq(medfs_settle_walk(V, NULL, &st), 0);
	ck_assert_uint_eq(st.files, 4);
	ck_assert_uint_eq(st.settled, 2);
	ck_assert_uint_eq(st.failed, 0);
	ck_assert(!medfs_vault_is_careful(V));
	ck_assert_int_eq(host_size(host_a), (off_t)medfs_disk_size(la));
	ck_assert_int_eq(host_size(host_b), (off_t)medfs_disk_size(lb));

	/* Not careful any more, and sizes from lengths agree. */
	ck_assert_int_eq(medfs_vault_getattr(V, "/d/a", &s), 0);
	ck_assert_int_eq(s.st_size, (off_t)la);
	ck_assert_int_eq(medfs_file_open(V, "/d/a", O_RDONLY, &f), 0);
	ck_assert_int_eq(medfs_file_read(f, got, sizeof(got), (off_t)la - sizeof(got)),
			 (ssize_t)sizeof(got));
	ck_assert_mem_eq(got, data + la - sizeof(got), sizeof(got));
	ck_assert_int_eq(medfs_file_read(f, got, sizeof(got), (off_t)la), 0);
	medfs_file_release(f);

	/* A walk told to stop stops, and leaves the vault careful. */
	{
		atomic_bool stop = true;

		medfs_vault_set_careful(V, true);
		ck_assert_int_eq(medfs_settle_walk(V, &stop, &st), -ECANCELED);
		ck_assert(medfs_vault_is_careful(V));
	}
	free(data);
}
END_TEST

/* A truncation cut by a crash after its header (written first): the new
 * header, the old blocks (the new last block as sealed before, longer).
 * A careful vault reads the file at its new size, exactly, and the walk
 * cuts it. */
START_TEST(test_shrink_cut)
{
	const size_t len = 3 * MEDFS_BLOCK_SIZE + 500, to = MEDFS_BLOCK_SIZE + 100;
	uint8_t *data = malloc(len), *old = malloc(MEDFS_BLOCK_DISK_SIZE * 4 + 200),
		got[MEDFS_BLOCK_SIZE * 2];
	struct medfs_settle_stats st;
	char host[PATH_MAX];
	struct medfs_file *f;
	uint8_t hdr[MEDFS_HEADER_LEN];
	ssize_t n;
	int fd;

	ck_assert_ptr_nonnull(data);
	ck_assert_ptr_nonnull(old);
	randombytes_buf(data, len);
	put("/t", data, len);
	host_of("/t", host);
	fd = open(host, O_RDWR);
	ck_assert_int_ge(fd, 0);
	n = pread(fd, old, MEDFS_BLOCK_DISK_SIZE * 4 + 200, 0);
	ck_assert_int_eq(n, (ssize_t)medfs_disk_size(len));
	ck_assert_int_eq(medfs_vault_truncate(V, "/t", (off_t)to), 0);
	ck_assert_int_eq(pread(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
	/* The crash state: the new header over the old vault file. */
	memcpy(old, hdr, sizeof(hdr));
	ck_assert_int_eq(pwrite(fd, old, (size_t)n, 0), n);
	close(fd);
	medfs_vault_set_careful(V, true);
	ck_assert_int_eq(medfs_file_open(V, "/t", O_RDONLY, &f), 0);
	ck_assert_uint_eq(medfs_file_size(f), to);
	ck_assert_int_eq(medfs_file_read(f, got, sizeof(got), 0), (ssize_t)to);
	ck_assert_mem_eq(got, data, to);
	medfs_file_release(f);
	ck_assert_int_eq(medfs_settle_walk(V, NULL, &st), 0);
	ck_assert_uint_eq(st.settled, 1);
	ck_assert_int_eq(host_size(host), (off_t)medfs_disk_size(to));
	ck_assert_int_eq(medfs_file_open(V, "/t", O_RDONLY, &f), 0);
	ck_assert_int_eq(medfs_file_read(f, got, sizeof(got), 0), (ssize_t)to);
	ck_assert_mem_eq(got, data, to);
	medfs_file_release(f);
	free(data);
	free(old);
}
END_TEST

/* An entry swapped for a FIFO behind medfs's back: a careful stat or
 * listing must not hang opening it (under the namespace lock). */
START_TEST(test_fifo_swapped)
{
	uint8_t data[100] = { 0 };
	struct sizes sz = { -1, -1 };
	char host[PATH_MAX];
	struct stat s;

	put("/a", data, sizeof(data));
	host_of("/a", host);
	ck_assert_int_eq(unlink(host), 0);
	ck_assert_int_eq(mkfifo(host, 0600), 0);
	medfs_vault_set_careful(V, true);
	ck_assert_int_eq(medfs_vault_getattr(V, "/a", &s), 0);
	ck_assert(S_ISFIFO(s.st_mode));
	ck_assert_int_eq(medfs_vault_readdir(V, "/", fill_sizes, &sz), 0);
}
END_TEST

static Suite *settle_suite(void)
{
	Suite *s = suite_create("settle");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_marker);
	tcase_add_test(tc, test_walk);
	tcase_add_test(tc, test_fifo_swapped);
	tcase_add_test(tc, test_shrink_cut);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	SRunner *sr;
	int failed;

	if (medfs_crypto_init() < 0)
		return EXIT_FAILURE;
	snprintf(base_dir, sizeof(base_dir), "%s/medfs-test-settle-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(base_dir))
		return EXIT_FAILURE;
	sr = srunner_create(settle_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	rmdir(base_dir);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
