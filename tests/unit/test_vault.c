/* Check suite of the vault module: the whole filesystem without FUSE.
 *
 * Each test gets a fresh vault (a temporary directory with a tree, no
 * config: the vault module does not need one) under a random vault key.
 * The whole suite runs once for each block cipher.
 * Integrity tests damage the vault directory with plain POSIX calls, as an
 * attacker with access to the storage would, and expect -EBADMSG for the
 * damaged object while everything else keeps working. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "medfs/block.h"
#include "medfs/config.h"
#include "medfs/crypto.h"
#include "medfs/header.h"
#include "medfs/holes.h"
#include "medfs/log.h"
#include "medfs/name.h"
#include "medfs/vault.h"

#define MIB (1024 * 1024)
#define BLK MEDFS_BLOCK_SIZE
#define DBLK MEDFS_BLOCK_DISK_SIZE

/* All per-test vaults live below base_dir, which main removes at the end,
 * so that a failed test (whose teardown does not run) leaves nothing. */
static char base_dir[PATH_MAX - 64];

static char vdir[PATH_MAX];
static uint8_t *vkey;
static struct medfs_vault *V;
static uint32_t cipher; /* of the suite's run, set by main */

/* Zeroed test memory, freed by teardown: a failed assertion leaves a
 * test early, and must not leak what it allocated. */
#define TALLOC_MAX 64
static void *tallocs[TALLOC_MAX];
static int ntallocs;

static void *talloc(size_t len)
{
	void *p = calloc(1, len ? len : 1);

	ck_assert_ptr_nonnull(p);
	ck_assert_int_lt(ntallocs, TALLOC_MAX);
	tallocs[ntallocs++] = p;
	return p;
}

/* ---- fsync, seen and failed at will ----
 *
 * The vault module is linked into this program, so these take the place
 * of libc's fsync and fdatasync for it: each sync is recorded by what its
 * descriptor names, and those of a path ending in sync_fail (every one
 * with sync_fail_all) fail with EIO, as a failing disk makes them. */
#define SYNCED_MAX 32
static char synced[SYNCED_MAX][PATH_MAX];
static int nsynced;
static const char *sync_fail;
static bool sync_fail_all;
static pthread_mutex_t sync_lock = PTHREAD_MUTEX_INITIALIZER;

static bool ends_with(const char *s, const char *end)
{
	size_t a = strlen(s), b = strlen(end);

	return a >= b && strcmp(s + a - b, end) == 0;
}

/* Records the sync of fd; true when it is to fail. */
static bool sync_seen(int fd)
{
	char link[64], path[PATH_MAX];
	ssize_t n;
	bool fail;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	path[n < 0 ? 0 : n] = '\0';
	pthread_mutex_lock(&sync_lock);
	if (nsynced < SYNCED_MAX)
		snprintf(synced[nsynced++], PATH_MAX, "%s", path);
	fail = sync_fail_all || (sync_fail && ends_with(path, sync_fail));
	pthread_mutex_unlock(&sync_lock);
	return fail;
}

int fsync(int fd)
{
	if (sync_seen(fd)) {
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_fsync, fd);
}

int fdatasync(int fd)
{
	if (sync_seen(fd)) {
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_fdatasync, fd);
}

static void sync_reset(void)
{
	pthread_mutex_lock(&sync_lock);
	nsynced = 0;
	sync_fail = NULL;
	sync_fail_all = false;
	pthread_mutex_unlock(&sync_lock);
}

/* How many recorded syncs named a path ending in end. */
static int synced_ending(const char *end)
{
	int n = 0;

	for (int i = 0; i < nsynced; i++)
		n += ends_with(synced[i], end);
	return n;
}

/* ---- integrity hook and log sink ---- */

struct hook_rec {
	int calls;
	char vpath[16 * PATH_MAX]; /* deep in a tree, a vault path is long */
	int64_t offset;
	char what[256];
};

static struct hook_rec hk;
static pthread_mutex_t hk_lock = PTHREAD_MUTEX_INITIALIZER;

static void hook(void *ctx, const char *vault_path, const char *plain_path,
		 int64_t offset, const char *what)
{
	struct hook_rec *h = ctx;

	pthread_mutex_lock(&hk_lock);
	h->calls++;
	snprintf(h->vpath, sizeof(h->vpath), "%s", vault_path);
	(void)plain_path;
	h->offset = offset;
	snprintf(h->what, sizeof(h->what), "%s", what);
	pthread_mutex_unlock(&hk_lock);
}

static char logbuf[65536];
static size_t loglen;

static void log_sink(int priority, const char *msg)
{
	size_t n = strlen(msg);

	(void)priority;
	pthread_mutex_lock(&hk_lock);
	if (loglen + n + 2 < sizeof(logbuf)) {
		memcpy(logbuf + loglen, msg, n);
		loglen += n;
		logbuf[loglen++] = '\n';
		logbuf[loglen] = '\0';
	}
	pthread_mutex_unlock(&hk_lock);
}

static void hook_reset(void)
{
	memset(&hk, 0, sizeof(hk));
}

/* ---- fixture ---- */

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(p) < 0 ? -1 : 0;
}

static int rm_tree(const char *dir)
{
	return nftw(dir, rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

static int vault_open_again(void)
{
	int r;

	medfs_vault_close(V);
	V = NULL;
	r = medfs_vault_open_cipher(&V, vdir, vkey, cipher);
	if (r == 0)
		medfs_vault_set_integrity_hook(V, hook, &hk);
	return r;
}

static void setup(void)
{
	ck_assert_int_eq(medfs_crypto_init(), 0);
	medfs_log_set(log_sink);
	loglen = 0;
	logbuf[0] = '\0';
	hook_reset();
	snprintf(vdir, sizeof(vdir), "%s/vault-XXXXXX", base_dir);
	ck_assert_ptr_nonnull(mkdtemp(vdir));
	vkey = medfs_secret_alloc(MEDFS_KEY_LEN);
	ck_assert_ptr_nonnull(vkey);
	randombytes_buf(vkey, MEDFS_KEY_LEN);
	ck_assert_int_eq(medfs_vault_create_tree(vdir, vkey), 0);
	V = NULL;
	ck_assert_int_eq(medfs_vault_open_cipher(&V, vdir, vkey, cipher), 0);
	ck_assert_ptr_nonnull(V);
	medfs_vault_set_integrity_hook(V, hook, &hk);
}

static void teardown(void)
{
	medfs_vault_close(V);
	V = NULL;
	medfs_secret_free(vkey);
	vkey = NULL;
	rm_tree(vdir);
	medfs_log_set(NULL);
	while (ntallocs > 0)
		free(tallocs[--ntallocs]);
}

/* ---- data helpers ---- */

static uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 2685821657736338717ULL;
}

/* Deterministic bytes, different for each seed and position. */
static void pattern(uint8_t *p, size_t len, uint64_t seed)
{
	rng_state = seed * 0x9e3779b97f4a7c15ULL + 1;
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(rng() >> 56);
}

static uint8_t *pattern_alloc(size_t len, uint64_t seed)
{
	uint8_t *p = talloc(len);

	pattern(p, len, seed);
	return p;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* Creates (or truncates) path with the given content. 0 or -errno. */
static int put(const char *path, const void *data, size_t len)
{
	struct medfs_file *f;
	ssize_t n = 0;
	int r;

	r = medfs_file_create(V, path, O_RDWR | O_CREAT | O_TRUNC, 0644, NULL, &f);
	if (r < 0)
		return r;
	if (len)
		n = medfs_file_write(f, data, len, 0, 0);
	medfs_file_release(f);
	if (n < 0)
		return (int)n;
	return n == (ssize_t)len ? 0 : -EIO;
}

/* Compares path with the expected content through a fresh open, and the
 * sizes seen by the handle and by the vault. 0 when equal, -errno on an
 * error, 1 for a size mismatch, 2 for a content mismatch, 3 for a getattr
 * size mismatch. */
static int check_file(const char *path, const void *exp, size_t len)
{
	struct medfs_file *f;
	struct stat st;
	uint8_t *buf;
	ssize_t n;
	int r;

	r = medfs_file_open(V, path, O_RDONLY, &f);
	if (r < 0)
		return r;
	buf = malloc(len + 17);
	ck_assert_ptr_nonnull(buf);
	n = medfs_file_read(f, buf, len + 17, 0);
	if (n < 0)
		r = (int)n;
	else if ((size_t)n != len || medfs_file_size(f) != len)
		r = 1;
	else if (len && memcmp(buf, exp, len))
		r = 2;
	if (r == 0 && (medfs_file_getattr(f, &st) != 0 || (size_t)st.st_size != len))
		r = 3;
	if (r == 0 &&
	    (medfs_vault_getattr(V, path, &st) != 0 || (size_t)st.st_size != len))
		r = 3;
	medfs_file_release(f);
	free(buf);
	return r;
}

static int check_str(const char *path, const char *s)
{
	return check_file(path, s, strlen(s));
}

/* ---- vault-side helpers ---- */

static ino_t find_ino;
static char find_out[PATH_MAX];

static int find_one(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)type;
	(void)ftw;
	if (st->st_ino == find_ino) {
		snprintf(find_out, sizeof(find_out), "%s", p);
		return 1;
	}
	return 0;
}

/* The host path of the vault object behind plaintext path, found by its
 * inode (getattr answers the vault object's stat). 0 or -errno. */
static int vault_path_of(const char *path, char *out, size_t outsz)
{
	char tree[PATH_MAX + 8];
	struct stat st;
	int r;

	r = medfs_vault_getattr(V, path, &st);
	if (r < 0)
		return r;
	find_ino = st.st_ino;
	find_out[0] = '\0';
	snprintf(tree, sizeof(tree), "%s/%s", vdir, MEDFS_TREE_NAME);
	if (nftw(tree, find_one, 32, FTW_PHYS) != 1)
		return -ENOENT;
	snprintf(out, outsz, "%s", find_out);
	return 0;
}

/* The vault path as the hook names it: relative to the vault dir. */
static const char *hook_name(const char *host_path)
{
	return host_path + strlen(vdir) + 1;
}

static int flip_byte(const char *host_path, off_t off, uint8_t mask)
{
	uint8_t c;
	int fd = open(host_path, O_RDWR);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (pread(fd, &c, 1, off) != 1)
		r = -EIO;
	c ^= mask;
	if (r == 0 && pwrite(fd, &c, 1, off) != 1)
		r = -EIO;
	close(fd);
	return r;
}

static int copy_range(const char *from, off_t from_off, const char *to, off_t to_off,
		      size_t len)
{
	uint8_t buf[DBLK];
	int fd1, fd2, r = 0;

	ck_assert_uint_le(len, sizeof(buf));
	fd1 = open(from, O_RDONLY);
	fd2 = open(to, O_RDWR);
	if (fd1 < 0 || fd2 < 0 || pread(fd1, buf, len, from_off) != (ssize_t)len ||
	    pwrite(fd2, buf, len, to_off) != (ssize_t)len)
		r = -EIO;
	if (fd1 >= 0)
		close(fd1);
	if (fd2 >= 0)
		close(fd2);
	return r;
}

static int zero_range(const char *host_path, off_t off, size_t len)
{
	uint8_t buf[DBLK] = { 0 };
	int fd = open(host_path, O_RDWR), r = 0;

	ck_assert_uint_le(len, sizeof(buf));
	if (fd < 0)
		return -errno;
	if (pwrite(fd, buf, len, off) != (ssize_t)len)
		r = -EIO;
	close(fd);
	return r;
}

static int swap_entries(const char *a, const char *b)
{
	char tmp[PATH_MAX + 8];

	snprintf(tmp, sizeof(tmp), "%s.swap", a);
	if (rename(a, tmp) < 0 || rename(b, a) < 0 || rename(tmp, b) < 0)
		return -errno;
	return 0;
}

static off_t host_size(const char *host_path)
{
	struct stat st;

	if (stat(host_path, &st) < 0)
		return -1;
	return st.st_size;
}

/* Counts the entries of a host directory whose name ends with suffix. */
static int count_suffix(const char *host_dir, const char *suffix)
{
	DIR *d = opendir(host_dir);
	struct dirent *de;
	size_t sl = strlen(suffix);
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (l >= sl && !strcmp(de->d_name + l - sl, suffix))
			n++;
	}
	closedir(d);
	return n;
}

static const char *tree_dir(void)
{
	static char p[PATH_MAX + 8];

	snprintf(p, sizeof(p), "%s/%s", vdir, MEDFS_TREE_NAME);
	return p;
}

/* True when some entry name anywhere in the tree contains s. */
static const char *grep_name;
static int grep_one(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	return strstr(p + ftw->base, grep_name) ? 1 : 0;
}

static bool tree_has_name(const char *s)
{
	grep_name = s;
	return nftw(tree_dir(), grep_one, 32, FTW_PHYS) == 1;
}

/* ---- readdir collector ---- */

#define NAMES_MAX 64

struct names {
	int n;
	int stop_after;
	char name[NAMES_MAX][MEDFS_NAME_MAX + 1];
	mode_t mode[NAMES_MAX];
	off_t size[NAMES_MAX];
};

static int collect(void *ctx, const char *name, const struct stat *st)
{
	struct names *ns = ctx;

	ck_assert_int_lt(ns->n, NAMES_MAX);
	ck_assert_uint_le(strlen(name), MEDFS_NAME_MAX);
	strcpy(ns->name[ns->n], name);
	ns->mode[ns->n] = st->st_mode;
	ns->size[ns->n] = st->st_size;
	ns->n++;
	return ns->stop_after && ns->n >= ns->stop_after;
}

static int list_dir(const char *path, struct names *ns)
{
	memset(ns, 0, sizeof(*ns));
	return medfs_vault_readdir(V, path, collect, ns);
}

/* Index of name in ns, -1 when absent; fails when listed twice. */
static int names_find(const struct names *ns, const char *name)
{
	int at = -1;

	for (int i = 0; i < ns->n; i++) {
		if (!strcmp(ns->name[i], name)) {
			ck_assert_int_eq(at, -1);
			at = i;
		}
	}
	return at;
}

/* ================= create / write / read ================= */

START_TEST(test_empty_file)
{
	struct medfs_file *f;
	struct stat st;
	char host[PATH_MAX];
	uint8_t buf[16];

	ck_assert_int_eq(medfs_file_create(V, "/empty", O_RDWR | O_CREAT, 0640, NULL, &f),
			 0);
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(medfs_file_size(f), 0);
	ck_assert_int_eq(medfs_file_read(f, buf, sizeof(buf), 0), 0);
	ck_assert_int_eq(medfs_file_read(f, buf, sizeof(buf), 5000), 0);
	ck_assert_int_eq(medfs_file_write(f, buf, 0, 0, 0), 0);
	ck_assert_int_eq(medfs_file_getattr(f, &st), 0);
	ck_assert_int_eq(st.st_size, 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(st.st_mode & 07777, 0640);
	medfs_file_release(f);

	ck_assert_int_eq(medfs_vault_getattr(V, "/empty", &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(st.st_size, 0);
	ck_assert_int_eq(st.st_mode & 07777, 0640);
	ck_assert_int_eq(vault_path_of("/empty", host, sizeof(host)), 0);
	ck_assert_int_eq(host_size(host), MEDFS_HEADER_LEN);
	ck_assert_int_eq(check_file("/empty", "", 0), 0);
	ck_assert_int_eq(vault_open_again(), 0);
	ck_assert_int_eq(check_file("/empty", "", 0), 0);
}
END_TEST

START_TEST(test_sizes)
{
	static const size_t sizes[] = { 1, 4095, 4096, 4097, 8192, MIB + 3 };
	char path[32], host[PATH_MAX];

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t len = sizes[k];
		uint8_t *data = pattern_alloc(len, k + 1);
		uint8_t *buf = talloc(len + 100);
		struct medfs_file *f;
		struct stat st;
		size_t done;

		snprintf(path, sizeof(path), "/size-%zu", len);
		ck_assert_int_eq(medfs_file_create(V, path, O_RDWR | O_CREAT | O_EXCL,
						   0600, NULL, &f),
				 0);
		ck_assert_int_eq(medfs_file_write(f, data, len, 0, 0), (ssize_t)len);
		ck_assert_uint_eq(medfs_file_size(f), len);
		ck_assert_int_eq(medfs_file_getattr(f, &st), 0);
		ck_assert_int_eq(st.st_size, (off_t)len);
		ck_assert_int_eq(medfs_vault_getattr(V, path, &st), 0);
		ck_assert_int_eq(st.st_size, (off_t)len);

		/* One read, then odd-sized pieces. */
		ck_assert_int_eq(medfs_file_read(f, buf, len + 100, 0), (ssize_t)len);
		ck_assert_mem_eq(buf, data, len);
		memset(buf, 0xaa, len);
		for (done = 0; done < len;) {
			ssize_t n = medfs_file_read(f, buf + done, 1000, done);

			ck_assert_int_eq(
				n, (ssize_t)(len - done < 1000 ? len - done : 1000));
			done += n;
		}
		ck_assert_mem_eq(buf, data, len);
		/* At and past the end. */
		ck_assert_int_eq(medfs_file_read(f, buf, 10, len), 0);
		ck_assert_int_eq(medfs_file_read(f, buf, 10, len + 4096), 0);
		ck_assert_int_eq(medfs_file_read(f, buf, 10, len - 1), 1);
		ck_assert_uint_eq(buf[0], data[len - 1]);
		ck_assert_int_eq(medfs_file_read(f, buf, 0, 0), 0);
		medfs_file_release(f);

		ck_assert_int_eq(vault_path_of(path, host, sizeof(host)), 0);
		ck_assert_int_eq(host_size(host), (off_t)medfs_disk_size(len));
		ck_assert_int_eq(check_file(path, data, len), 0);
	}
	ck_assert_int_eq(vault_open_again(), 0);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		uint8_t *data = pattern_alloc(sizes[k], k + 1);

		snprintf(path, sizeof(path), "/size-%zu", sizes[k]);
		ck_assert_int_eq(check_file(path, data, sizes[k]), 0);
	}
}
END_TEST

/* Writes across the 1 MiB chunk boundary of a large file. */
START_TEST(test_large_unaligned)
{
	size_t len = 2 * MIB + 777;
	uint8_t *data = pattern_alloc(len, 99), *patch = pattern_alloc(70000, 100);
	uint8_t *buf = talloc(len);
	struct medfs_file *f;

	ck_assert_int_eq(medfs_file_create(V, "/big", O_RDWR | O_CREAT, 0600, NULL, &f),
			 0);
	ck_assert_int_eq(medfs_file_write(f, data, len, 0, 0), (ssize_t)len);
	ck_assert_int_eq(medfs_file_write(f, patch, 70000, MIB - 33333, 0), 70000);
	memcpy(data + MIB - 33333, patch, 70000);
	ck_assert_int_eq(medfs_file_read(f, buf, 100000, MIB - 50000), 100000);
	ck_assert_mem_eq(buf, data + MIB - 50000, 100000);
	medfs_file_release(f);
	ck_assert_int_eq(check_file("/big", data, len), 0);
}
END_TEST

/* Every block written gets a nonce of its own: within a chunk, across
 * chunks, and when the same blocks are written again. */
static int nonce_cmp(const void *a, const void *b)
{
	return memcmp(a, b, MEDFS_BLOCK_NONCE_LEN);
}

START_TEST(test_nonces_fresh)
{
	enum { BLOCKS = 384 }; /* one chunk and a half */
	size_t len = (size_t)BLOCKS * MEDFS_BLOCK_SIZE;
	uint8_t *data = pattern_alloc(len, 7);
	uint8_t(*seen)[MEDFS_BLOCK_NONCE_LEN] =
		talloc(2 * BLOCKS * MEDFS_BLOCK_NONCE_LEN);
	struct medfs_file *f;
	char host[PATH_MAX];
	int fd;

	ck_assert_int_eq(medfs_file_create(V, "/n", O_RDWR | O_CREAT, 0600, NULL, &f), 0);
	ck_assert_int_eq(vault_path_of("/n", host, sizeof(host)), 0);
	fd = open(host, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	for (int round = 0; round < 2; round++) {
		ck_assert_int_eq(medfs_file_write(f, data, len, 0, 0), (ssize_t)len);
		for (int i = 0; i < BLOCKS; i++)
			ck_assert_int_eq(pread(fd, seen[round * BLOCKS + i],
					       MEDFS_BLOCK_NONCE_LEN,
					       medfs_block_disk_offset(i)),
					 MEDFS_BLOCK_NONCE_LEN);
	}
	close(fd);
	medfs_file_release(f);
	qsort(seen, 2 * BLOCKS, MEDFS_BLOCK_NONCE_LEN, nonce_cmp);
	for (int i = 1; i < 2 * BLOCKS; i++)
		ck_assert_int_ne(nonce_cmp(seen[i - 1], seen[i]), 0);
	ck_assert_int_eq(check_file("/n", data, len), 0);
}
END_TEST

START_TEST(test_write_past_eof)
{
	struct medfs_file *f;
	uint8_t buf[20000], exp[20000];

	memset(exp, 0, sizeof(exp));
	ck_assert_int_eq(medfs_file_create(V, "/gap", O_RDWR | O_CREAT, 0600, NULL, &f),
			 0);
	ck_assert_int_eq(medfs_file_write(f, "abc", 3, 0, 0), 3);
	ck_assert_int_eq(medfs_file_write(f, "xyz", 3, 10000, 0), 3);
	memcpy(exp, "abc", 3);
	memcpy(exp + 10000, "xyz", 3);
	ck_assert_uint_eq(medfs_file_size(f), 10003);
	memset(buf, 0xee, sizeof(buf));
	ck_assert_int_eq(medfs_file_read(f, buf, sizeof(buf), 0), 10003);
	ck_assert_mem_eq(buf, exp, 10003);
	/* The gap alone, across block boundaries. */
	ck_assert_int_eq(medfs_file_read(f, buf, 9997, 3), 9997);
	ck_assert(all_zero(buf, 9997));
	medfs_file_release(f);
	ck_assert_int_eq(check_file("/gap", exp, 10003), 0);

	/* A write starting exactly at a block boundary past the end. */
	ck_assert_int_eq(medfs_file_create(V, "/gap2", O_RDWR | O_CREAT, 0600, NULL, &f),
			 0);
	ck_assert_int_eq(medfs_file_write(f, "q", 1, 8192, 0), 1);
	ck_assert_uint_eq(medfs_file_size(f), 8193);
	medfs_file_release(f);
	memset(exp, 0, sizeof(exp));
	exp[8192] = 'q';
	ck_assert_int_eq(check_file("/gap2", exp, 8193), 0);
	ck_assert_int_eq(vault_open_again(), 0);
	ck_assert_int_eq(check_file("/gap2", exp, 8193), 0);
}
END_TEST

START_TEST(test_overwrite_middle)
{
	size_t len = 3 * BLK + 500;
	uint8_t *data = pattern_alloc(len, 7), *patch = pattern_alloc(300, 8);
	struct medfs_file *f;
	uint8_t buf[3 * BLK + 500];

	ck_assert_int_eq(put("/mid", data, len), 0);
	ck_assert_int_eq(medfs_file_open(V, "/mid", O_RDWR, &f), 0);
	/* Inside one block. */
	ck_assert_int_eq(medfs_file_write(f, patch, 100, BLK + 1000, 0), 100);
	memcpy(data + BLK + 1000, patch, 100);
	/* Across a block boundary. */
	ck_assert_int_eq(medfs_file_write(f, patch + 100, 40, 2 * BLK - 20, 0), 40);
	memcpy(data + 2 * BLK - 20, patch + 100, 40);
	/* Into the short last block, ending before the end of file. */
	ck_assert_int_eq(medfs_file_write(f, patch + 140, 10, 3 * BLK + 5, 0), 10);
	memcpy(data + 3 * BLK + 5, patch + 140, 10);
	/* One full block exactly. */
	ck_assert_int_eq(medfs_file_write(f, data, BLK, 2 * BLK, 0), BLK);
	memcpy(data + 2 * BLK, data, BLK);
	ck_assert_uint_eq(medfs_file_size(f), len);
	ck_assert_int_eq(medfs_file_read(f, buf, len, 0), (ssize_t)len);
	ck_assert_mem_eq(buf, data, len);
	medfs_file_release(f);
	ck_assert_int_eq(check_file("/mid", data, len), 0);
}
END_TEST

START_TEST(test_append)
{
	struct medfs_file *f;

	ck_assert_int_eq(medfs_file_create(V, "/log", O_WRONLY | O_CREAT | O_APPEND, 0600,
					   NULL, &f),
			 0);
	ck_assert_int_eq(medfs_file_write(f, "first ", 6, 0, 1), 6);
	/* The offset is ignored when appending. */
	ck_assert_int_eq(medfs_file_write(f, "second ", 7, 0, 1), 7);
	ck_assert_int_eq(medfs_file_write(f, "third", 5, 2, 1), 5);
	ck_assert_uint_eq(medfs_file_size(f), 18);
	medfs_file_release(f);
	ck_assert_int_eq(check_str("/log", "first second third"), 0);

	/* Appending through a later open, across a block boundary. */
	{
		uint8_t *big = pattern_alloc(5000, 3);
		uint8_t *exp = talloc(5018);

		ck_assert_int_eq(medfs_file_open(V, "/log", O_WRONLY | O_APPEND, &f), 0);
		ck_assert_int_eq(medfs_file_write(f, big, 5000, 0, 1), 5000);
		medfs_file_release(f);
		memcpy(exp, "first second third", 18);
		memcpy(exp + 18, big, 5000);
		ck_assert_int_eq(check_file("/log", exp, 5018), 0);
	}
}
END_TEST

START_TEST(test_truncate)
{
	size_t len = 10000;
	uint8_t *data = pattern_alloc(len, 11);
	uint8_t exp[10000];
	struct medfs_file *f;
	char host[PATH_MAX];

	ck_assert_int_eq(put("/t", data, len), 0);
	ck_assert_int_eq(vault_path_of("/t", host, sizeof(host)), 0);
	ck_assert_int_eq(medfs_file_open(V, "/t", O_RDWR, &f), 0);

	ck_assert_int_eq(medfs_file_truncate(f, 5000), 0);
	ck_assert_uint_eq(medfs_file_size(f), 5000);
	ck_assert_int_eq(host_size(host), (off_t)medfs_disk_size(5000));
	ck_assert_int_eq(check_file("/t", data, 5000), 0);

	ck_assert_int_eq(medfs_file_truncate(f, 8192), 0);
	memcpy(exp, data, 5000);
	memset(exp + 5000, 0, 8192 - 5000);
	ck_assert_int_eq(host_size(host), (off_t)medfs_disk_size(8192));
	ck_assert_int_eq(check_file("/t", exp, 8192), 0);

	ck_assert_int_eq(medfs_file_truncate(f, 3), 0);
	ck_assert_int_eq(check_file("/t", data, 3), 0);
	ck_assert_int_eq(host_size(host), (off_t)medfs_disk_size(3));

	/* Growing again must not bring back old bytes. */
	ck_assert_int_eq(medfs_file_truncate(f, 5000), 0);
	memcpy(exp, data, 3);
	memset(exp + 3, 0, 5000 - 3);
	ck_assert_int_eq(check_file("/t", exp, 5000), 0);

	ck_assert_int_eq(medfs_file_truncate(f, 0), 0);
	ck_assert_uint_eq(medfs_file_size(f), 0);
	ck_assert_int_eq(host_size(host), MEDFS_HEADER_LEN);
	ck_assert_int_eq(check_file("/t", "", 0), 0);

	ck_assert_int_eq(medfs_file_truncate(f, 0), 0);
	ck_assert_int_eq(medfs_file_truncate(f, -1), -EINVAL);
	ck_assert_int_eq(medfs_file_write(f, data, len, 0, 0), (ssize_t)len);
	medfs_file_release(f);

	/* By path, and to a block boundary. */
	ck_assert_int_eq(medfs_vault_truncate(V, "/t", 8192), 0);
	ck_assert_int_eq(check_file("/t", data, 8192), 0);
	ck_assert_int_eq(medfs_vault_truncate(V, "/t", 4096), 0);
	ck_assert_int_eq(check_file("/t", data, 4096), 0);
	ck_assert_int_eq(medfs_vault_truncate(V, "/missing", 0), -ENOENT);

	/* O_TRUNC at open. */
	ck_assert_int_eq(medfs_file_open(V, "/t", O_WRONLY | O_TRUNC, &f), 0);
	ck_assert_uint_eq(medfs_file_size(f), 0);
	medfs_file_release(f);
	ck_assert_int_eq(check_file("/t", "", 0), 0);

	ck_assert_int_eq(put("/t", data, len), 0);
	ck_assert_int_eq(vault_open_again(), 0);
	ck_assert_int_eq(check_file("/t", data, len), 0);
}
END_TEST

/* Holes (doc/FORMAT.md, 11): a file grown to 1 GiB takes no space and
 * reads zeros; a write in it reads back; a written block zeroed in the
 * vault fails, the holes around it do not; sizes past the largest file
 * are EFBIG. */
START_TEST(test_holes)
{
	const off_t giga = (off_t)1 << 30, mid = giga / 2 + 100;
	uint8_t buf[8192], zero[8192] = { 0 };
	struct medfs_file *f;
	char host[PATH_MAX];
	struct stat st;
	ssize_t n;
	int fd;

	ck_assert_int_eq(medfs_file_create(V, "/h", O_RDWR | O_CREAT, 0600, NULL, &f), 0);
	ck_assert_int_eq(vault_path_of("/h", host, sizeof(host)), 0);
	ck_assert_int_eq(medfs_file_truncate(f, giga), 0);
	ck_assert_int_eq(host_size(host), (off_t)medfs_disk_size(giga));
	ck_assert_int_eq(stat(host, &st), 0);
	ck_assert_int_lt(st.st_blocks, 64); /* sparse: a few KiB at most */
	ck_assert_int_eq(medfs_file_read(f, buf, sizeof(buf), giga - 5000), 5000);
	ck_assert_mem_eq(buf, zero, 5000);
	/* Nothing but a hole: no data before the end. */
	ck_assert_uint_eq(medfs_file_next_data(f, 0), (uint64_t)giga);
	ck_assert_int_eq(medfs_file_write(f, "written", 7, mid, 0), 7);
	/* Data in the block of mid; holes before and after it. */
	ck_assert_uint_eq(medfs_file_next_data(f, 0),
			  (uint64_t)mid / MEDFS_BLOCK_SIZE * MEDFS_BLOCK_SIZE);
	ck_assert_uint_eq(medfs_file_next_data(f, (uint64_t)mid), (uint64_t)mid);
	ck_assert_uint_eq(medfs_file_next_data(f, (uint64_t)mid + MEDFS_BLOCK_SIZE),
			  (uint64_t)giga);
	ck_assert_int_eq(medfs_file_read(f, buf, sizeof(buf), mid - 4000), sizeof(buf));
	ck_assert_mem_eq(buf, zero, 4000);
	ck_assert_mem_eq(buf + 4000, "written", 7);
	ck_assert_mem_eq(buf + 4007, zero, sizeof(buf) - 4007);

	/* The largest file, and past it. */
	ck_assert_int_eq(medfs_file_truncate(f, (off_t)MEDFS_FILE_SIZE_MAX + 1), -EFBIG);
	ck_assert_int_eq(medfs_file_allocate(f, (off_t)MEDFS_FILE_SIZE_MAX, 1), -EFBIG);
	ck_assert_int_eq(medfs_file_allocate(f, 1, INT64_MAX), -EFBIG);
	ck_assert_int_eq(medfs_file_write(f, "x", 1, (off_t)MEDFS_FILE_SIZE_MAX, 0),
			 -EFBIG);
	/* What fits; or EFBIG from a backing file system that takes no
	 * vault file that long (ext4), and then the file as it was. */
	n = medfs_file_write(f, "xy", 2, (off_t)MEDFS_FILE_SIZE_MAX - 1, 0);
	ck_assert(n == 1 || n == -EFBIG);
	ck_assert_uint_eq(medfs_file_size(f),
			  n == 1 ? MEDFS_FILE_SIZE_MAX : (uint64_t)giga);
	ck_assert_int_eq(host_size(host), (off_t)medfs_disk_size(medfs_file_size(f)));
	ck_assert_int_eq(medfs_file_read(f, buf, 7, mid), 7);
	ck_assert_mem_eq(buf, "written", 7);
	ck_assert_int_eq(medfs_file_reserve(f, 0, (off_t)MEDFS_FILE_SIZE_MAX + 1),
			 -EFBIG);
	ck_assert_int_eq(medfs_file_reserve(f, 0, 10), 0);
	ck_assert_int_eq(medfs_file_truncate(f, giga), 0);
	medfs_file_release(f);

	/* Again from the vault. */
	ck_assert_int_eq(vault_open_again(), 0);
	ck_assert_int_eq(medfs_file_open(V, "/h", O_RDWR, &f), 0);
	ck_assert_uint_eq(medfs_file_size(f), (uint64_t)giga);
	ck_assert_int_eq(medfs_file_read(f, buf, 7, mid), 7);
	ck_assert_mem_eq(buf, "written", 7);
	medfs_file_release(f);

	/* The written block zeroed in the vault: EIO there, zeros around. */
	fd = open(host, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, zero, 64, (off_t)medfs_block_disk_offset(mid / 4096)),
			 64);
	close(fd);
	ck_assert_int_eq(vault_open_again(), 0);
	ck_assert_int_eq(medfs_file_open(V, "/h", O_RDONLY, &f), 0);
	ck_assert_int_eq(medfs_file_read(f, buf, 7, mid), -EBADMSG);
	ck_assert_int_eq(medfs_file_read(f, buf, sizeof(buf), mid + 8192), sizeof(buf));
	ck_assert_mem_eq(buf, zero, sizeof(buf));
	medfs_file_release(f);

	/* Truncated to zero: no map any more. */
	ck_assert_int_eq(medfs_vault_truncate(V, "/h", 0), 0);
	ck_assert_int_eq(getxattr(host, MEDFS_HOLES_XATTR, buf, sizeof(buf)), -1);
	ck_assert_int_eq(errno, ENODATA);
}
END_TEST

/* A change that fails half-way (here the vault file may not grow past a
 * limit, as on a full disk) is undone: the file reads as before, also
 * once the vault is opened again (doc/FORMAT.md, 12). */
static void limit_vault_files(off_t max)
{
	struct rlimit rl = { .rlim_cur = (rlim_t)max, .rlim_max = RLIM_INFINITY };

	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

START_TEST(test_failed_change_undone)
{
	const size_t len = (2 << 20) + 100; /* a partial last block */
	const size_t big = 64 << 20;
	uint8_t *data = pattern_alloc(len + (1 << 20), 77);
	uint8_t *exp = talloc(big + (1 << 20));
	struct medfs_file *f;
	char host[PATH_MAX];

	ck_assert_int_eq(put("/u", data, len), 0);
	ck_assert_int_eq(vault_path_of("/u", host, sizeof(host)), 0);
	ck_assert_int_eq(medfs_file_open(V, "/u", O_RDWR, &f), 0);
	limit_vault_files((off_t)medfs_disk_size(len) + (256 << 10));

	/* 1 MiB appended: the first blocks fit, the rest do not. */
	ck_assert_int_eq(medfs_file_write(f, data + len, 1 << 20, len, 0), -EFBIG);
	ck_assert_uint_eq(medfs_file_size(f), len);
	ck_assert_int_eq(host_size(host), (off_t)medfs_disk_size(len));
	ck_assert_int_eq(check_file("/u", data, len), 0);
	/* Past a hole, past the limit: the vault file's length is what
	 * fails, after the map is stored. */
	ck_assert_int_eq(medfs_file_write(f, data, 4096, len + (8 << 20), 0), -EFBIG);
	ck_assert_int_eq(medfs_file_truncate(f, big), -EFBIG);
	ck_assert_uint_eq(medfs_file_size(f), len);
	ck_assert_int_eq(host_size(host), (off_t)medfs_disk_size(len));
	ck_assert_int_eq(check_file("/u", data, len), 0);

	/* With holes: appending past the limit fails, a write into a hole
	 * (no growth) works, and the file reads right. */
	limit_vault_files(RLIM_INFINITY);
	ck_assert_int_eq(medfs_file_truncate(f, big), 0);
	limit_vault_files((off_t)medfs_disk_size(big) + (256 << 10));
	ck_assert_int_eq(medfs_file_write(f, data + len, 1 << 20, big, 0), -EFBIG);
	ck_assert_int_eq(medfs_file_write(f, data, 1 << 20, 32 << 20, 0), 1 << 20);
	medfs_file_release(f);
	memcpy(exp, data, len);
	memcpy(exp + (32 << 20), data, 1 << 20);
	ck_assert_int_eq(vault_open_again(), 0);
	ck_assert_int_eq(check_file("/u", exp, big), 0);

	limit_vault_files(RLIM_INFINITY);
	ck_assert_int_eq(medfs_file_open(V, "/u", O_RDWR, &f), 0);
	ck_assert_int_eq(medfs_file_write(f, data + len, 1 << 20, big, 0), 1 << 20);
	medfs_file_release(f);
	memcpy(exp + big, data + len, 1 << 20);
	ck_assert_int_eq(check_file("/u", exp, big + (1 << 20)), 0);
}
END_TEST

START_TEST(test_allocate)
{
	struct medfs_file *f;
	uint8_t exp[14000];

	ck_assert_int_eq(medfs_file_create(V, "/a", O_RDWR | O_CREAT, 0600, NULL, &f), 0);
	ck_assert_int_eq(medfs_file_allocate(f, 0, 10000), 0);
	ck_assert_uint_eq(medfs_file_size(f), 10000);
	memset(exp, 0, sizeof(exp));
	ck_assert_int_eq(check_file("/a", exp, 10000), 0);

	ck_assert_int_eq(medfs_file_write(f, "data", 4, 9000, 0), 4);
	memcpy(exp + 9000, "data", 4);
	/* Inside the file: nothing changes. */
	ck_assert_int_eq(medfs_file_allocate(f, 100, 10), 0);
	ck_assert_uint_eq(medfs_file_size(f), 10000);
	ck_assert_int_eq(check_file("/a", exp, 10000), 0);
	/* Past the end: grows, content kept. */
	ck_assert_int_eq(medfs_file_allocate(f, 9000, 5000), 0);
	ck_assert_uint_eq(medfs_file_size(f), 14000);
	ck_assert_int_eq(check_file("/a", exp, 14000), 0);

	ck_assert_int_eq(medfs_file_allocate(f, 0, 0), -EINVAL);
	ck_assert_int_eq(medfs_file_allocate(f, -1, 10), -EINVAL);
	ck_assert_uint_eq(medfs_file_size(f), 14000);
	medfs_file_release(f);
	ck_assert_int_eq(vault_open_again(), 0);
	ck_assert_int_eq(check_file("/a", exp, 14000), 0);
}
END_TEST

START_TEST(test_bad_offsets)
{
	struct medfs_file *f;
	uint8_t buf[8];

	ck_assert_int_eq(medfs_file_create(V, "/o", O_RDWR | O_CREAT, 0600, NULL, &f), 0);
	ck_assert_int_eq(medfs_file_read(f, buf, sizeof(buf), -1), -EINVAL);
	ck_assert_int_eq(medfs_file_write(f, "x", 1, -1, 0), -EINVAL);
	ck_assert_uint_eq(medfs_file_size(f), 0);
	ck_assert_int_eq(medfs_file_fsync(f, 0), 0);
	ck_assert_int_eq(medfs_file_fsync(f, 1), 0);
	medfs_file_release(f);
}
END_TEST

/* 2,000 seeded random operations on a vault file and a memory mirror. */
START_TEST(test_random_ops)
{
	enum { RMAX = 160 * 1024, OPS = 2000 };
	uint8_t *mirror = talloc(RMAX), *buf = talloc(RMAX + 16000);
	uint8_t *src = talloc(RMAX + 1000);
	struct medfs_file *f;
	struct stat st;
	size_t size = 0;

	pattern(src, RMAX + 1000, 4242);
	ck_assert_int_eq(medfs_file_create(V, "/rand", O_RDWR | O_CREAT, 0600, NULL, &f),
			 0);
	/* pattern() above reseeded the generator: from here on it is fixed. */
	rng_state = 0x6d65646673763121ULL;
	for (int i = 0; i < OPS; i++) {
		unsigned op = rng() % 100;
		size_t off, len, from;
		ssize_t n;

		if (op < 40 || (op < 45 && size + 10000 > RMAX)) {
			/* pwrite, sometimes past the end of file */
			len = rng() % 4 ? 1 + rng() % 10000 : 1 + rng() % 64;
			off = rng() % (size + 9000);
			if (off + len > RMAX)
				off = RMAX - len;
			from = rng() % 1000;
			n = medfs_file_write(f, src + from, len, off, 0);
			ck_assert_msg(n == (ssize_t)len, "op %d: write %zu at %zu: %zd",
				      i, len, off, n);
			memcpy(mirror + off, src + from, len);
			if (off + len > size)
				size = off + len;
		} else if (op < 45) { /* append */
			len = 1 + rng() % 10000;
			from = rng() % 1000;
			n = medfs_file_write(f, src + from, len, rng() % 100, 1);
			ck_assert_msg(n == (ssize_t)len, "op %d: append %zu: %zd", i, len,
				      n);
			memcpy(mirror + size, src + from, len);
			size += len;
		} else if (op < 80) { /* pread, sometimes past the end of file */
			size_t want;

			off = rng() % (size + 5000);
			len = rng() % 4 ? rng() % 12000 : rng() % 16;
			want = off >= size ? 0 : (size - off < len ? size - off : len);
			n = medfs_file_read(f, buf, len, off);
			ck_assert_msg(n == (ssize_t)want,
				      "op %d: read %zu at %zu (size %zu): %zd", i, len,
				      off, size, n);
			ck_assert_msg(!memcmp(buf, mirror + off, want),
				      "op %d: read %zu at %zu: content differs", i, len,
				      off);
		} else if (op <
			   92) { /* truncate, up or down, sometimes to a block edge */
			size_t ns = rng() % (RMAX / 2);

			if (rng() % 3 == 0)
				ns -= ns % BLK;
			ck_assert_msg(medfs_file_truncate(f, ns) == 0,
				      "op %d: truncate %zu", i, ns);
			if (ns < size)
				memset(mirror + ns, 0, size - ns);
			size = ns;
		} else if (op < 95) { /* allocate */
			off = rng() % (size + 8000);
			len = 1 + rng() % 8000;
			if (off + len > RMAX)
				continue;
			ck_assert_msg(medfs_file_allocate(f, off, len) == 0,
				      "op %d: allocate", i);
			if (off + len > size)
				size = off + len;
		} else { /* release and open again: the header must carry the size */
			medfs_file_release(f);
			ck_assert_int_eq(medfs_file_open(V, "/rand", O_RDWR, &f), 0);
		}
		ck_assert_msg(medfs_file_size(f) == size,
			      "op %d: size %llu, expected %zu", i,
			      (unsigned long long)medfs_file_size(f), size);
		if (i % 50 == 0) {
			ck_assert_int_eq(medfs_file_getattr(f, &st), 0);
			ck_assert_int_eq(st.st_size, (off_t)size);
			ck_assert_int_eq(medfs_vault_getattr(V, "/rand", &st), 0);
			ck_assert_int_eq(st.st_size, (off_t)size);
		}
	}
	ck_assert_int_eq(medfs_file_read(f, buf, RMAX, 0), (ssize_t)size);
	ck_assert_mem_eq(buf, mirror, size);
	medfs_file_release(f);
	ck_assert_int_eq(check_file("/rand", mirror, size), 0);
	ck_assert_int_eq(vault_open_again(), 0);
	ck_assert_int_eq(check_file("/rand", mirror, size), 0);
}
END_TEST

/* ================= opens ================= */

START_TEST(test_shared_opens)
{
	struct medfs_file *f1, *f2, *f3;
	uint8_t buf[64];

	ck_assert_int_eq(medfs_file_create(V, "/s", O_RDWR | O_CREAT, 0600, NULL, &f1),
			 0);
	ck_assert_int_eq(medfs_file_write(f1, "hello", 5, 0, 0), 5);
	ck_assert_int_eq(medfs_file_open(V, "/s", O_RDWR, &f2), 0);
	/* One object per file, shared by its opens. */
	ck_assert_ptr_eq(f1, f2);
	ck_assert_uint_eq(medfs_file_size(f2), 5);
	ck_assert_int_eq(medfs_file_write(f2, " world", 6, 5, 0), 6);
	ck_assert_int_eq(medfs_file_read(f1, buf, sizeof(buf), 0), 11);
	ck_assert_mem_eq(buf, "hello world", 11);
	ck_assert_int_eq(medfs_file_open(V, "/s", O_RDONLY, &f3), 0);
	ck_assert_int_eq(medfs_file_read(f3, buf, sizeof(buf), 0), 11);

	/* First open released first: the others go on. */
	medfs_file_release(f1);
	ck_assert_int_eq(medfs_file_write(f2, "!", 1, 11, 0), 1);
	ck_assert_int_eq(medfs_file_read(f3, buf, sizeof(buf), 0), 12);
	ck_assert_mem_eq(buf, "hello world!", 12);
	medfs_file_release(f3);
	ck_assert_int_eq(medfs_file_truncate(f2, 5), 0);
	medfs_file_release(f2);
	ck_assert_int_eq(check_str("/s", "hello"), 0);

	/* Last open released first. */
	ck_assert_int_eq(medfs_file_open(V, "/s", O_RDONLY, &f1), 0);
	ck_assert_int_eq(medfs_file_open(V, "/s", O_RDWR, &f2), 0);
	ck_assert_int_eq(medfs_file_write(f2, "HELLO", 5, 0, 0), 5);
	medfs_file_release(f2);
	ck_assert_int_eq(medfs_file_read(f1, buf, sizeof(buf), 0), 5);
	ck_assert_mem_eq(buf, "HELLO", 5);
	medfs_file_release(f1);
	medfs_file_release(NULL);
	ck_assert_int_eq(check_str("/s", "HELLO"), 0);

	/* Two different files are two objects. */
	ck_assert_int_eq(put("/other", "x", 1), 0);
	ck_assert_int_eq(medfs_file_open(V, "/s", O_RDONLY, &f1), 0);
	ck_assert_int_eq(medfs_file_open(V, "/other", O_RDONLY, &f2), 0);
	ck_assert_ptr_ne(f1, f2);
	medfs_file_release(f2);
	medfs_file_release(f1);

	/* Handles left open are freed by close. */
	ck_assert_int_eq(medfs_file_open(V, "/s", O_RDONLY, &f1), 0);
	(void)f1;
}
END_TEST

START_TEST(test_create_open_flags)
{
	struct medfs_file *f;
	struct stat st;

	ck_assert_int_eq(put("/c", "content", 7), 0);
	f = (struct medfs_file *)&f;
	ck_assert_int_eq(
		medfs_file_create(V, "/c", O_RDWR | O_CREAT | O_EXCL, 0600, NULL, &f),
		-EEXIST);
	ck_assert_ptr_null(f);
	/* Without O_EXCL an existing file is opened as it is. */
	ck_assert_int_eq(medfs_file_create(V, "/c", O_RDWR | O_CREAT, 0600, NULL, &f), 0);
	ck_assert_uint_eq(medfs_file_size(f), 7);
	medfs_file_release(f);
	ck_assert_int_eq(check_str("/c", "content"), 0);
	ck_assert_int_eq(
		medfs_file_create(V, "/c", O_RDWR | O_CREAT | O_TRUNC, 0600, NULL, &f),
		0);
	ck_assert_uint_eq(medfs_file_size(f), 0);
	medfs_file_release(f);
	ck_assert_int_eq(check_str("/c", ""), 0);
	/* O_TRUNC with O_RDONLY leaves the file alone. */
	ck_assert_int_eq(put("/c", "content", 7), 0);
	ck_assert_int_eq(medfs_file_open(V, "/c", O_RDONLY | O_TRUNC, &f), 0);
	medfs_file_release(f);

	/* The mode as asked, whatever the umask. */
	ck_assert_int_eq(medfs_file_create(V, "/m", O_RDWR | O_CREAT, 0751, NULL, &f), 0);
	medfs_file_release(f);
	ck_assert_int_eq(medfs_vault_getattr(V, "/m", &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0751);
	ck_assert_int_eq(medfs_vault_chmod(V, "/m", 0604), 0);
	ck_assert_int_eq(medfs_vault_getattr(V, "/m", &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0604);

	f = (struct medfs_file *)&f;
	ck_assert_int_eq(medfs_file_open(V, "/nope", O_RDONLY, &f), -ENOENT);
	ck_assert_ptr_null(f);
	ck_assert_int_eq(medfs_vault_mkdir(V, "/d", 0700, NULL), 0);
	ck_assert_int_eq(medfs_file_open(V, "/d", O_RDONLY, &f), -EISDIR);
	ck_assert_int_eq(medfs_file_open(V, "/", O_RDONLY, &f), -EISDIR);
	ck_assert_int_eq(medfs_file_create(V, "/", O_RDWR | O_CREAT, 0600, NULL, &f),
			 -EEXIST);
	/* The root exists: every kind of create refuses it alike. */
	ck_assert_int_eq(medfs_vault_mkdir(V, "/", 0700, NULL), -EEXIST);
	ck_assert_int_eq(medfs_vault_symlink(V, "t", "//", NULL), -EEXIST);
	ck_assert_int_eq(medfs_vault_mknod(V, "/", S_IFIFO | 0600, NULL), -EEXIST);
	ck_assert_int_eq(
		medfs_file_create(V, "/d", O_RDWR | O_CREAT | O_EXCL, 0600, NULL, &f),
		-EEXIST);
	ck_assert_int_eq(medfs_file_create(V, "/d", O_RDWR | O_CREAT, 0600, NULL, &f),
			 -EISDIR);
	ck_assert_ptr_null(f);
	ck_assert_int_eq(check_str("/c", "content"), 0);
}
END_TEST

/* Regular files never get set-ID bits (the driver promised the kernel to
 * drop them at writes); one that has them from an older vault loses them
 * at its next write or truncation. */
START_TEST(test_setid_bits)
{
	struct medfs_file *f;
	struct stat st;
	char host[PATH_MAX];

	ck_assert_int_eq(medfs_file_create(V, "/s", O_RDWR | O_CREAT, 06755, NULL, &f),
			 0);
	medfs_file_release(f);
	ck_assert_int_eq(medfs_vault_getattr(V, "/s", &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0755);
	ck_assert_int_eq(medfs_vault_chmod(V, "/s", 04711), 0);
	ck_assert_int_eq(medfs_vault_getattr(V, "/s", &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0711);
	/* Set-group-ID without group execute is no privilege: kept. */
	ck_assert_int_eq(medfs_vault_chmod(V, "/s", 02745), 0);
	ck_assert_int_eq(medfs_vault_getattr(V, "/s", &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 02745);
	ck_assert_int_eq(medfs_vault_mkdir(V, "/sd", 0755, NULL), 0);
	ck_assert_int_eq(medfs_vault_chmod(V, "/sd", 02775), 0);
	ck_assert_int_eq(medfs_vault_getattr(V, "/sd", &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 02775);

	/* Older vaults: the bits set behind the library's back. */
	ck_assert_int_eq(vault_path_of("/s", host, sizeof(host)), 0);
	ck_assert_int_eq(chmod(host, 04755), 0);
	ck_assert_int_eq(medfs_file_open(V, "/s", O_RDWR, &f), 0);
	ck_assert_int_eq(medfs_vault_getattr(V, "/s", &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 04755);
	ck_assert_int_eq(medfs_file_write(f, "x", 1, 0, 0), 1);
	ck_assert_int_eq(medfs_vault_getattr(V, "/s", &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0755);
	medfs_file_release(f);
	ck_assert_int_eq(chmod(host, 02775), 0);
	ck_assert_int_eq(medfs_file_open(V, "/s", O_RDWR, &f), 0);
	ck_assert_int_eq(medfs_file_truncate(f, 0), 0);
	ck_assert_int_eq(medfs_vault_getattr(V, "/s", &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0775);
	medfs_file_release(f);
}
END_TEST

/* ================= names ================= */

START_TEST(test_mkdir_nested)
{
	struct stat st;
	struct names ns;

	ck_assert_int_eq(medfs_vault_getattr(V, "/", &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(medfs_vault_mkdir(V, "/a", 0755, NULL), 0);
	ck_assert_int_eq(medfs_vault_mkdir(V, "/a/b", 0700, NULL), 0);
	ck_assert_int_eq(medfs_vault_mkdir(V, "/a/b/c", 0750, NULL), 0);
	ck_assert_int_eq(medfs_vault_mkdir(V, "/a", 0755, NULL), -EEXIST);
	ck_assert_int_eq(put("/a/b/c/f", "deep", 4), 0);
	ck_assert_int_eq(put("/a/g", "shallow", 7), 0);
	ck_assert_int_eq(medfs_vault_getattr(V, "/a/b/c", &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(st.st_mode & 07777, 0750);
	ck_assert_int_eq(medfs_vault_getattr(V, "/a", &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0755);
	/* A link count that would count the subdirectories (2 + 1 here)
	 * would tell of those a caller may not see: always 1. */
	ck_assert_uint_eq(st.st_nlink, 1);
	ck_assert_int_eq(medfs_vault_getattr(V, "/", &st), 0);
	ck_assert_uint_eq(st.st_nlink, 1);
	ck_assert_int_eq(medfs_vault_getattr(V, "/a/b/c/", &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(check_str("/a/b/c/f", "deep"), 0);

	ck_assert_int_eq(list_dir("/a", &ns), 0);
	ck_assert_int_eq(ns.n, 2);
	ck_assert_int_ge(names_find(&ns, "b"), 0);
	ck_assert(S_ISDIR(ns.mode[names_find(&ns, "b")]));
	ck_assert_int_ge(names_find(&ns, "g"), 0);
	ck_assert(S_ISREG(ns.mode[names_find(&ns, "g")]));
	ck_assert_int_eq(ns.size[names_find(&ns, "g")], 7);
	ck_assert_int_eq(list_dir("/a/b/c", &ns), 0);
	ck_assert_int_eq(ns.n, 1);
	ck_assert_str_eq(ns.name[0], "f");
	ck_assert_int_eq(list_dir("/", &ns), 0);
	ck_assert_int_eq(ns.n, 1);
	ck_assert_str_eq(ns.name[0], "a");

	/* Same names in different directories are different objects. */
	ck_assert_int_eq(put("/a/b/g", "other", 5), 0);
	ck_assert_int_eq(check_str("/a/g", "shallow"), 0);
	ck_assert_int_eq(check_str("/a/b/g", "other"), 0);

	ck_assert_int_eq(vault_open_again(), 0);
	ck_assert_int_eq(check_str("/a/b/c/f", "deep"), 0);
	ck_assert_int_eq(list_dir("/a/b", &ns), 0);
	ck_assert_int_eq(ns.n, 2);
}
END_TEST

static int collect_mode(void *ctx, const struct stat *st)
{
	mode_t *modes = ctx;

	while (*modes)
		modes++;
	*modes = st->st_mode & 07777;
	return st->st_mode & 01000 ? -EACCES : 0;
}

/* medfs_vault_ancestors: every directory above a path, from the root. */
START_TEST(test_ancestors)
{
	mode_t modes[8] = { 0 }, root_mode;
	struct stat st;

	ck_assert_int_eq(medfs_vault_getattr(V, "/", &st), 0);
	root_mode = st.st_mode & 07777;
	ck_assert_int_eq(medfs_vault_mkdir(V, "/a", 0751, NULL), 0);
	ck_assert_int_eq(medfs_vault_mkdir(V, "/a/b", 0710, NULL), 0);
	ck_assert_int_eq(put("/a/b/f", "x", 1), 0);
	ck_assert_int_eq(medfs_vault_ancestors(V, "/a/b/f", collect_mode, modes), 0);
	ck_assert_int_eq(modes[0], root_mode);
	ck_assert_int_eq(modes[1], 0751);
	ck_assert_int_eq(modes[2], 0710);
	ck_assert_int_eq(modes[3], 0);
	memset(modes, 0, sizeof(modes));
	ck_assert_int_eq(medfs_vault_ancestors(V, "/", collect_mode, modes), 0);
	ck_assert_int_eq(modes[0], 0);
	ck_assert_int_eq(medfs_vault_ancestors(V, "/a", collect_mode, modes), 0);
	ck_assert_int_eq(modes[0], root_mode);
	ck_assert_int_eq(modes[1], 0);
	/* fn's refusal stops the walk and is returned. */
	ck_assert_int_eq(medfs_vault_chmod(V, "/a", 01751), 0);
	memset(modes, 0, sizeof(modes));
	ck_assert_int_eq(medfs_vault_ancestors(V, "/a/b/f", collect_mode, modes), -EACCES);
	ck_assert_int_eq(modes[2], 0);
	/* A missing directory on the way. */
	ck_assert_int_lt(medfs_vault_ancestors(V, "/x/y", collect_mode, modes), 0);
}
END_TEST

START_TEST(test_readdir_exact)
{
	char n255[256], n112[113], n113[114], path[300];
	/* 127 two-byte characters and one ASCII: 255 bytes of UTF-8. */
	char utf255[256];
	const char *names[16];
	int count = 0;
	struct names ns;
	char host[PATH_MAX];

	memset(n255, 'L', 255);
	n255[255] = '\0';
	memset(n112, 'm', 112);
	n112[112] = '\0';
	memset(n113, 'n', 113);
	n113[113] = '\0';
	for (int i = 0; i < 127; i++)
		memcpy(utf255 + 2 * i, "\xc3\xa9", 2);
	utf255[254] = 'z';
	utf255[255] = '\0';
	ck_assert_uint_eq(strlen(utf255), 255);

	names[count++] = "plain";
	names[count++] = "Ünïcødé-名前-💾";
	names[count++] = "exactly16bytes!!";
	names[count++] = "x";
	names[count++] = "with space & dots...";
	names[count++] = n112; /* longest name kept as a direct entry */
	names[count++] = n113; /* shortest name stored as a long name */
	names[count++] = n255;
	names[count++] = utf255;
	for (int i = 0; i < count; i++) {
		snprintf(path, sizeof(path), "/%s", names[i]);
		ck_assert_int_eq(put(path, names[i], strlen(names[i])), 0);
	}
	ck_assert_int_eq(medfs_vault_mkdir(V, "/dir", 0700, NULL), 0);
	names[count++] = "dir";
	ck_assert_int_eq(medfs_vault_symlink(V, "target", "/link", NULL), 0);
	names[count++] = "link";
	snprintf(path, sizeof(path), "/%sD", n112);
	ck_assert_int_eq(medfs_vault_mkdir(V, path, 0700, NULL), 0);
	names[count++] = path + 1;

	ck_assert_int_eq(list_dir("/", &ns), 0);
	ck_assert_int_eq(ns.n, count);
	for (int i = 0; i < count; i++)
		ck_assert_msg(names_find(&ns, names[i]) >= 0, "%d not listed", i);
	for (int i = 0; i < ns.n; i++) {
		ck_assert_str_ne(ns.name[i], MEDFS_DIR_HEADER_NAME);
		ck_assert_ptr_null(strstr(ns.name[i], MEDFS_LONGNAME_SUFFIX));
	}
	ck_assert(S_ISLNK(ns.mode[names_find(&ns, "link")]));
	ck_assert_int_eq(ns.size[names_find(&ns, "link")], 6);
	ck_assert_int_eq(ns.size[names_find(&ns, n255)], 255);
	/* The long names have sidecars; nothing else does. */
	ck_assert_int_eq(count_suffix(tree_dir(), MEDFS_LONGNAME_SUFFIX), 4);
	for (int i = 0; i < 9; i++) {
		snprintf(path, sizeof(path), "/%s", names[i]);
		ck_assert_int_eq(check_str(path, names[i]), 0);
	}
	/* Plaintext names never appear in the vault. */
	ck_assert(!tree_has_name("plain"));
	ck_assert(!tree_has_name("exactly16bytes"));
	ck_assert(!tree_has_name("mmmmmmmmmm"));
	ck_assert_int_eq(vault_path_of("/plain", host, sizeof(host)), 0);
	ck_assert_ptr_null(strstr(host + strlen(vdir), "plain"));

	/* A nonzero fill return stops the listing. */
	memset(&ns, 0, sizeof(ns));
	ns.stop_after = 3;
	ck_assert_int_eq(medfs_vault_readdir(V, "/", collect, &ns), 0);
	ck_assert_int_eq(ns.n, 3);
	ck_assert_int_eq(list_dir("/dir", &ns), 0);
	ck_assert_int_eq(ns.n, 0);

	ck_assert_int_eq(vault_open_again(), 0);
	ck_assert_int_eq(list_dir("/", &ns), 0);
	ck_assert_int_eq(ns.n, count);
	snprintf(path, sizeof(path), "/%s", n255);
	ck_assert_int_eq(check_str(path, n255), 0);
	ck_assert_int_eq(hk.calls, 0);
}
END_TEST

START_TEST(test_name_too_long)
{
	char n256[258], n255[257];
	struct medfs_file *f;
	struct stat st;
	char buf[16];

	n256[0] = '/';
	memset(n256 + 1, 'a', 256);
	n256[257] = '\0';
	ck_assert_int_eq(medfs_file_create(V, n256, O_RDWR | O_CREAT, 0600, NULL, &f),
			 -ENAMETOOLONG);
	ck_assert_int_eq(medfs_file_open(V, n256, O_RDONLY, &f), -ENAMETOOLONG);
	ck_assert_int_eq(medfs_vault_mkdir(V, n256, 0700, NULL), -ENAMETOOLONG);
	ck_assert_int_eq(medfs_vault_getattr(V, n256, &st), -ENAMETOOLONG);
	ck_assert_int_eq(medfs_vault_symlink(V, "t", n256, NULL), -ENAMETOOLONG);
	ck_assert_int_eq(medfs_vault_readlink(V, n256, buf, sizeof(buf)), -ENAMETOOLONG);
	ck_assert_int_eq(medfs_vault_unlink(V, n256), -ENAMETOOLONG);
	memcpy(n255, n256, 256);
	n255[256] = '\0';
	ck_assert_int_eq(put(n255, "ok", 2), 0);
	ck_assert_int_eq(medfs_vault_rename(V, n255, n256, 0), -ENAMETOOLONG);
	ck_assert_int_eq(check_str(n255, "ok"), 0);
	/* Nothing was left behind. */
	ck_assert_int_eq(count_suffix(tree_dir(), MEDFS_LONGNAME_SUFFIX), 1);
}
END_TEST

START_TEST(test_missing_and_notdir)
{
	struct medfs_file *f;
	struct stat st;
	struct names ns;
	char buf[16];

	ck_assert_int_eq(medfs_vault_getattr(V, "/nope", &st), -ENOENT);
	ck_assert_int_eq(medfs_vault_getattr(V, "/nope/x", &st), -ENOENT);
	ck_assert_int_eq(medfs_file_open(V, "/nope", O_RDONLY, &f), -ENOENT);
	ck_assert_int_eq(
		medfs_file_create(V, "/nope/x", O_RDWR | O_CREAT, 0600, NULL, &f),
		-ENOENT);
	ck_assert_int_eq(list_dir("/nope", &ns), -ENOENT);
	ck_assert_int_eq(medfs_vault_unlink(V, "/nope"), -ENOENT);
	ck_assert_int_eq(medfs_vault_rmdir(V, "/nope"), -ENOENT);
	ck_assert_int_eq(medfs_vault_readlink(V, "/nope", buf, sizeof(buf)), -ENOENT);
	ck_assert_int_eq(medfs_vault_mkdir(V, "/nope/x", 0700, NULL), -ENOENT);
	ck_assert_int_eq(medfs_vault_rename(V, "/nope", "/other", 0), -ENOENT);
	ck_assert_int_eq(medfs_vault_chmod(V, "/nope", 0600), -ENOENT);

	ck_assert_int_eq(put("/f", "file", 4), 0);
	ck_assert_int_eq(medfs_vault_getattr(V, "/f/x", &st), -ENOTDIR);
	ck_assert_int_eq(medfs_file_open(V, "/f/x", O_RDONLY, &f), -ENOTDIR);
	ck_assert_int_eq(medfs_file_create(V, "/f/x", O_RDWR | O_CREAT, 0600, NULL, &f),
			 -ENOTDIR);
	ck_assert_int_eq(medfs_vault_mkdir(V, "/f/x", 0700, NULL), -ENOTDIR);
	ck_assert_int_eq(medfs_vault_mkdir(V, "/f/x/y", 0700, NULL), -ENOTDIR);
	ck_assert_int_eq(list_dir("/f", &ns), -ENOTDIR);
	ck_assert_int_eq(medfs_vault_rmdir(V, "/f"), -ENOTDIR);
	ck_assert_int_eq(check_str("/f", "file"), 0);
	ck_assert_int_eq(hk.calls, 0);
}
END_TEST

START_TEST(test_rmdir_unlink)
{
	char longname[201], path[300], sub[PATH_MAX];
	struct medfs_file *f;
	struct stat st;
	struct names ns;
	uint8_t buf[16];

	memset(longname, 'q', 200);
	longname[200] = '\0';
	ck_assert_int_eq(medfs_vault_mkdir(V, "/d", 0700, NULL), 0);
	ck_assert_int_eq(put("/d/f", "x", 1), 0);
	ck_assert_int_eq(medfs_vault_rmdir(V, "/d"), -ENOTEMPTY);
	ck_assert_int_eq(medfs_vault_unlink(V, "/d"), -EISDIR);
	ck_assert_int_eq(medfs_vault_unlink(V, "/d/f"), 0);
	ck_assert_int_eq(medfs_vault_getattr(V, "/d/f", &st), -ENOENT);
	ck_assert_int_eq(medfs_vault_unlink(V, "/d/f"), -ENOENT);

	/* A long-named entry, and its sidecar, keep the directory busy. */
	snprintf(path, sizeof(path), "/d/%s", longname);
	ck_assert_int_eq(put(path, "long", 4), 0);
	ck_assert_int_eq(vault_path_of("/d", sub, sizeof(sub)), 0);
	ck_assert_int_eq(count_suffix(sub, MEDFS_LONGNAME_SUFFIX), 1);
	ck_assert_int_eq(medfs_vault_rmdir(V, "/d"), -ENOTEMPTY);
	ck_assert_int_eq(medfs_vault_unlink(V, path), 0);
	ck_assert_int_eq(count_suffix(sub, MEDFS_LONGNAME_SUFFIX), 0);
	ck_assert_int_eq(list_dir("/d", &ns), 0);
	ck_assert_int_eq(ns.n, 0);

	ck_assert_int_eq(medfs_vault_mkdir(V, "/d/e", 0700, NULL), 0);
	ck_assert_int_eq(medfs_vault_rmdir(V, "/d"), -ENOTEMPTY);
	ck_assert_int_eq(medfs_vault_rmdir(V, "/d/e"), 0);
	ck_assert_int_eq(medfs_vault_rmdir(V, "/d"), 0);
	ck_assert_int_eq(medfs_vault_getattr(V, "/d", &st), -ENOENT);
	ck_assert_int_eq(medfs_vault_rmdir(V, "/"), -EBUSY);
	ck_assert_int_eq(list_dir("/", &ns), 0);
	ck_assert_int_eq(ns.n, 0);

	/* A long-named directory. */
	snprintf(path, sizeof(path), "/%s", longname);
	ck_assert_int_eq(medfs_vault_mkdir(V, path, 0700, NULL), 0);
	ck_assert_int_eq(count_suffix(tree_dir(), MEDFS_LONGNAME_SUFFIX), 1);
	ck_assert_int_eq(medfs_vault_rmdir(V, path), 0);
	ck_assert_int_eq(count_suffix(tree_dir(), MEDFS_LONGNAME_SUFFIX), 0);
	/* A directory made again after rmdir is a new, empty one. */
	ck_assert_int_eq(medfs_vault_mkdir(V, "/d", 0700, NULL), 0);
	ck_assert_int_eq(put("/d/new", "n", 1), 0);
	ck_assert_int_eq(check_str("/d/new", "n"), 0);

	/* An unlinked open file stays usable through its handle. */
	ck_assert_int_eq(put("/u", "abc", 3), 0);
	ck_assert_int_eq(medfs_file_open(V, "/u", O_RDWR, &f), 0);
	ck_assert_int_eq(medfs_vault_unlink(V, "/u"), 0);
	ck_assert_int_eq(medfs_vault_getattr(V, "/u", &st), -ENOENT);
	ck_assert_int_eq(medfs_file_write(f, "defg", 4, 3, 0), 4);
	ck_assert_int_eq(medfs_file_read(f, buf, sizeof(buf), 0), 7);
	ck_assert_mem_eq(buf, "abcdefg", 7);
	/* A new file of the same name is another file. */
	ck_assert_int_eq(put("/u", "new", 3), 0);
	medfs_file_release(f);
	ck_assert_int_eq(check_str("/u", "new"), 0);
}
END_TEST

/* ================= rename ================= */

START_TEST(test_rename_file)
{
	struct stat st;
	struct names ns;

	ck_assert_int_eq(put("/a", "alpha", 5), 0);
	ck_assert_int_eq(medfs_vault_rename(V, "/a", "/b", 0), 0);
	ck_assert_int_eq(medfs_vault_getattr(V, "/a", &st), -ENOENT);
	ck_assert_int_eq(check_str("/b", "alpha"), 0);
	ck_assert_int_eq(medfs_vault_mkdir(V, "/d", 0700, NULL), 0);
	ck_assert_int_eq(medfs_vault_rename(V, "/b", "/d/c", 0), 0);
	ck_assert_int_eq(check_str("/d/c", "alpha"), 0);
	ck_assert_int_eq(medfs_vault_rename(V, "/d/c", "/d/c", 0), 0);
	ck_assert_int_eq(medfs_vault_rename(V, "/d/c", "/d/c", RENAME_NOREPLACE),
			 -EEXIST);
	ck_assert_int_eq(check_str("/d/c", "alpha"), 0);
	ck_assert_int_eq(medfs_vault_rename(V, "/d/c", "/", 0), -EBUSY);
	ck_assert_int_eq(medfs_vault_rename(V, "/d/c", "/e", 0x80), -EINVAL);
	ck_assert_int_eq(list_dir("/", &ns), 0);
	ck_assert_int_eq(ns.n, 1);
	ck_assert_int_eq(vault_open_again(), 0);
	ck_assert_int_eq(check_str("/d/c", "alpha"), 0);
	ck_assert_int_eq(list_dir("/d", &ns), 0);
	ck_assert_int_eq(ns.n, 1);
	ck_assert_str_eq(ns.name[0], "c");
}
END_TEST

START_TEST(test_rename_dir)
{
	struct stat st;
	struct names ns;

	ck_assert_int_eq(medfs_vault_mkdir(V, "/d", 0700, NULL), 0);
	ck_assert_int_eq(medfs_vault_mkdir(V, "/d/sub", 0700, NULL), 0);
	ck_assert_int_eq(put("/d/x", "xx", 2), 0);
	ck_assert_int_eq(put("/d/sub/y", "yy", 2), 0);
	ck_assert_int_eq(medfs_vault_symlink(V, "../x", "/d/sub/l", NULL), 0);
	/* Warm the directory cache before the move. */
	ck_assert_int_eq(check_str("/d/sub/y", "yy"), 0);
	ck_assert_int_eq(medfs_vault_rename(V, "/d", "/e", 0), 0);
	ck_assert_int_eq(medfs_vault_getattr(V, "/d", &st), -ENOENT);
	ck_assert_int_eq(medfs_vault_getattr(V, "/d/x", &st), -ENOENT);
	ck_assert_int_eq(check_str("/e/x", "xx"), 0);
	ck_assert_int_eq(check_str("/e/sub/y", "yy"), 0);
	/* Into another parent. */
	ck_assert_int_eq(medfs_vault_mkdir(V, "/p", 0700, NULL), 0);
	ck_assert_int_eq(medfs_vault_rename(V, "/e", "/p/e", 0), 0);
	ck_assert_int_eq(check_str("/p/e/sub/y", "yy"), 0);
	ck_assert_int_eq(list_dir("/p/e", &ns), 0);
	ck_assert_int_eq(ns.n, 2);
	/* A directory cannot move below itself. */
	ck_assert_int_eq(medfs_vault_rename(V, "/p", "/p/e/sub/p", 0), -EINVAL);
	ck_assert_int_eq(vault_open_again(), 0);
	ck_assert_int_eq(check_str("/p/e/x", "xx"), 0);
	ck_assert_int_eq(check_str("/p/e/sub/y", "yy"), 0);
	{
		char buf[16];

		ck_assert_int_eq(medfs_vault_readlink(V, "/p/e/sub/l", buf, sizeof(buf)),
				 0);
		ck_assert_str_eq(buf, "../x");
	}
	ck_assert_int_eq(hk.calls, 0);
}
END_TEST

START_TEST(test_rename_replace)
{
	struct names ns;

	ck_assert_int_eq(put("/a", "AAA", 3), 0);
	ck_assert_int_eq(put("/b", "BBBB", 4), 0);
	ck_assert_int_eq(medfs_vault_rename(V, "/a", "/b", RENAME_NOREPLACE), -EEXIST);
	ck_assert_int_eq(check_str("/a", "AAA"), 0);
	ck_assert_int_eq(check_str("/b", "BBBB"), 0);
	ck_assert_int_eq(medfs_vault_rename(V, "/a", "/b", 0), 0);
	ck_assert_int_eq(check_str("/b", "AAA"), 0);
	ck_assert_int_eq(check_file("/a", "", 0), -ENOENT);
	ck_assert_int_eq(list_dir("/", &ns), 0);
	ck_assert_int_eq(ns.n, 1);
	ck_assert_str_eq(ns.name[0], "b");
	ck_assert_int_eq(medfs_vault_rename(V, "/b", "/c", RENAME_NOREPLACE), 0);
	ck_assert_int_eq(check_str("/c", "AAA"), 0);

	/* Directories: over an empty one yes, over a full one no. */
	ck_assert_int_eq(medfs_vault_mkdir(V, "/d1", 0700, NULL), 0);
	ck_assert_int_eq(medfs_vault_mkdir(V, "/d2", 0700, NULL), 0);
	ck_assert_int_eq(medfs_vault_mkdir(V, "/d3", 0700, NULL), 0);
	ck_assert_int_eq(put("/d1/in1", "1", 1), 0);
	ck_assert_int_eq(put("/d3/in3", "3", 1), 0);
	ck_assert_int_eq(medfs_vault_rename(V, "/d1", "/d2", 0), 0);
	ck_assert_int_eq(check_str("/d2/in1", "1"), 0);
	ck_assert_int_eq(medfs_vault_rename(V, "/d2", "/d3", 0), -ENOTEMPTY);
	ck_assert_int_eq(check_str("/d2/in1", "1"), 0);
	ck_assert_int_eq(check_str("/d3/in3", "3"), 0);
	ck_assert_int_eq(medfs_vault_rename(V, "/c", "/d3", 0), -EISDIR);
	ck_assert_int_eq(medfs_vault_rename(V, "/d3", "/c", 0), -ENOTDIR);
	ck_assert_int_eq(check_str("/c", "AAA"), 0);
	ck_assert_int_eq(check_str("/d3/in3", "3"), 0);
	ck_assert_int_eq(vault_open_again(), 0);
	ck_assert_int_eq(check_str("/d2/in1", "1"), 0);
	ck_assert_int_eq(check_str("/d3/in3", "3"), 0);
	ck_assert_int_eq(list_dir("/", &ns), 0);
	ck_assert_int_eq(ns.n, 3);
	ck_assert_int_eq(hk.calls, 0);
}
END_TEST

START_TEST(test_rename_exchange)
{
	struct stat st;

	ck_assert_int_eq(put("/a", "AAA", 3), 0);
	ck_assert_int_eq(put("/b", "BBBB", 4), 0);
	ck_assert_int_eq(medfs_vault_rename(V, "/a", "/b", RENAME_EXCHANGE), 0);
	ck_assert_int_eq(check_str("/a", "BBBB"), 0);
	ck_assert_int_eq(check_str("/b", "AAA"), 0);
	ck_assert_int_eq(medfs_vault_rename(V, "/a", "/none", RENAME_EXCHANGE), -ENOENT);
	ck_assert_int_eq(check_str("/a", "BBBB"), 0);

	/* A file and a directory with a child. */
	ck_assert_int_eq(medfs_vault_mkdir(V, "/d", 0700, NULL), 0);
	ck_assert_int_eq(put("/d/child", "kid", 3), 0);
	ck_assert_int_eq(medfs_vault_rename(V, "/a", "/d", RENAME_EXCHANGE), 0);
	ck_assert_int_eq(medfs_vault_getattr(V, "/a", &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(medfs_vault_getattr(V, "/d", &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(check_str("/a/child", "kid"), 0);
	ck_assert_int_eq(check_str("/d", "BBBB"), 0);
	ck_assert_int_eq(medfs_vault_getattr(V, "/d/child", &st), -ENOTDIR);

	ck_assert_int_eq(vault_open_again(), 0);
	ck_assert_int_eq(check_str("/a/child", "kid"), 0);
	ck_assert_int_eq(check_str("/d", "BBBB"), 0);
	ck_assert_int_eq(check_str("/b", "AAA"), 0);
	ck_assert_int_eq(hk.calls, 0);
}
END_TEST

START_TEST(test_rename_long_names)
{
	char l1[201], l2[256], p1[210], p2[260];
	struct names ns;
	struct stat st;

	memset(l1, 'L', 200);
	l1[200] = '\0';
	memset(l2, 'M', 255);
	l2[255] = '\0';
	snprintf(p1, sizeof(p1), "/%s", l1);
	snprintf(p2, sizeof(p2), "/%s", l2);
	ck_assert_int_eq(put(p1, "long", 4), 0);
	ck_assert_int_eq(count_suffix(tree_dir(), MEDFS_LONGNAME_SUFFIX), 1);
	ck_assert_int_eq(medfs_vault_rename(V, p1, "/s", 0), 0);
	ck_assert_int_eq(count_suffix(tree_dir(), MEDFS_LONGNAME_SUFFIX), 0);
	ck_assert_int_eq(check_str("/s", "long"), 0);
	ck_assert_int_eq(medfs_vault_rename(V, "/s", p1, 0), 0);
	ck_assert_int_eq(count_suffix(tree_dir(), MEDFS_LONGNAME_SUFFIX), 1);
	ck_assert_int_eq(check_str(p1, "long"), 0);
	ck_assert_int_eq(medfs_vault_getattr(V, "/s", &st), -ENOENT);
	/* Long to long. */
	ck_assert_int_eq(medfs_vault_rename(V, p1, p2, 0), 0);
	ck_assert_int_eq(count_suffix(tree_dir(), MEDFS_LONGNAME_SUFFIX), 1);
	ck_assert_int_eq(check_str(p2, "long"), 0);
	/* Long over an existing short, and exchange long with short. */
	ck_assert_int_eq(put("/short", "short", 5), 0);
	ck_assert_int_eq(medfs_vault_rename(V, p2, "/short", RENAME_EXCHANGE), 0);
	ck_assert_int_eq(check_str(p2, "short"), 0);
	ck_assert_int_eq(check_str("/short", "long"), 0);
	ck_assert_int_eq(count_suffix(tree_dir(), MEDFS_LONGNAME_SUFFIX), 1);
	ck_assert_int_eq(medfs_vault_rename(V, p2, "/short", 0), 0);
	ck_assert_int_eq(count_suffix(tree_dir(), MEDFS_LONGNAME_SUFFIX), 0);
	ck_assert_int_eq(check_str("/short", "short"), 0);
	/* A long-named directory with children. */
	ck_assert_int_eq(medfs_vault_mkdir(V, "/dd", 0700, NULL), 0);
	ck_assert_int_eq(put("/dd/k", "k", 1), 0);
	ck_assert_int_eq(medfs_vault_rename(V, "/dd", p1, 0), 0);
	snprintf(p2, sizeof(p2), "%s/k", p1);
	ck_assert_int_eq(check_str(p2, "k"), 0);
	ck_assert_int_eq(count_suffix(tree_dir(), MEDFS_LONGNAME_SUFFIX), 1);
	ck_assert_int_eq(list_dir("/", &ns), 0);
	ck_assert_int_eq(ns.n, 2);
	ck_assert_int_ge(names_find(&ns, l1), 0);
	ck_assert_int_ge(names_find(&ns, "short"), 0);
	ck_assert_int_eq(vault_open_again(), 0);
	ck_assert_int_eq(check_str(p2, "k"), 0);
	ck_assert_int_eq(hk.calls, 0);
}
END_TEST

START_TEST(test_rename_open_file)
{
	struct medfs_file *f, *g;
	struct stat st;
	uint8_t buf[32];
	char v[8];

	ck_assert_int_eq(medfs_file_create(V, "/a", O_RDWR | O_CREAT, 0600, NULL, &f), 0);
	ck_assert_int_eq(medfs_file_write(f, "hello", 5, 0, 0), 5);
	ck_assert_int_eq(medfs_vault_setxattr(V, "/a", "user.k", "v1", 2, 0), 0);
	ck_assert_int_eq(medfs_vault_mkdir(V, "/d", 0700, NULL), 0);
	ck_assert_int_eq(medfs_vault_rename(V, "/a", "/d/b", 0), 0);
	ck_assert_int_eq(medfs_vault_getattr(V, "/a", &st), -ENOENT);
	/* The open handle follows the file, and seals it to its new place. */
	ck_assert_int_eq(medfs_file_write(f, " world", 6, 5, 0), 6);
	ck_assert_int_eq(medfs_file_read(f, buf, sizeof(buf), 0), 11);
	ck_assert_mem_eq(buf, "hello world", 11);
	ck_assert_int_eq(medfs_file_open(V, "/d/b", O_RDONLY, &g), 0);
	ck_assert_ptr_eq(f, g);
	medfs_file_release(g);
	medfs_file_release(f);
	ck_assert_int_eq(check_str("/d/b", "hello world"), 0);
	ck_assert_int_eq(medfs_vault_getxattr(V, "/d/b", "user.k", v, sizeof(v)), 2);
	ck_assert_mem_eq(v, "v1", 2);

	/* Renamed while open, then grown and shrunk: the header must carry
	 * the new place when it is written again. */
	ck_assert_int_eq(medfs_file_open(V, "/d/b", O_RDWR, &f), 0);
	ck_assert_int_eq(medfs_vault_rename(V, "/d/b", "/c", 0), 0);
	ck_assert_int_eq(medfs_file_truncate(f, 5), 0);
	medfs_file_release(f);
	ck_assert_int_eq(vault_open_again(), 0);
	ck_assert_int_eq(check_str("/c", "hello"), 0);
	ck_assert_int_eq(medfs_vault_getxattr(V, "/c", "user.k", v, sizeof(v)), 2);
	ck_assert_int_eq(hk.calls, 0);
}
END_TEST

/* ================= symlinks ================= */

START_TEST(test_symlink)
{
	char buf[MEDFS_LINK_MAX + 2], *big;
	struct stat st;
	char n255[257];
	struct names ns;

	ck_assert_int_eq(medfs_vault_symlink(V, "../some/target", "/l", NULL), 0);
	ck_assert_int_eq(medfs_vault_readlink(V, "/l", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "../some/target");
	ck_assert_int_eq(medfs_vault_getattr(V, "/l", &st), 0);
	ck_assert(S_ISLNK(st.st_mode));
	ck_assert_int_eq(st.st_size, 14);
	ck_assert(!tree_has_name("some"));

	/* Cut to size - 1 and NUL-terminated. */
	memset(buf, 'X', 16);
	ck_assert_int_eq(medfs_vault_readlink(V, "/l", buf, 5), 0);
	ck_assert_str_eq(buf, "../s");
	ck_assert_int_eq(medfs_vault_readlink(V, "/l", buf, 1), 0);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(medfs_vault_readlink(V, "/l", buf, 15), 0);
	ck_assert_str_eq(buf, "../some/target");
	ck_assert_int_eq(medfs_vault_readlink(V, "/l", buf, 14), 0);
	ck_assert_str_eq(buf, "../some/targe");
	ck_assert_int_eq(medfs_vault_readlink(V, "/l", buf, 0), -EINVAL);

	ck_assert_int_eq(medfs_vault_symlink(V, "other", "/l", NULL), -EEXIST);
	ck_assert_int_eq(put("/f", "x", 1), 0);
	ck_assert_int_eq(medfs_vault_readlink(V, "/f", buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(medfs_vault_readlink(V, "/none", buf, sizeof(buf)), -ENOENT);

	/* Longest target, and one byte more. */
	big = talloc(MEDFS_LINK_MAX + 2);
	memset(big, 't', MEDFS_LINK_MAX + 1);
	big[MEDFS_LINK_MAX + 1] = '\0';
	ck_assert_int_eq(medfs_vault_symlink(V, big, "/toolong", NULL), -ENAMETOOLONG);
	big[MEDFS_LINK_MAX] = '\0';
	ck_assert_int_eq(medfs_vault_symlink(V, big, "/big", NULL), 0);
	ck_assert_int_eq(medfs_vault_readlink(V, "/big", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, big);
	ck_assert_int_eq(medfs_vault_getattr(V, "/big", &st), 0);
	ck_assert_int_eq(st.st_size, MEDFS_LINK_MAX);

	/* Long link name, rename, unlink. */
	n255[0] = '/';
	memset(n255 + 1, 'k', 255);
	n255[256] = '\0';
	ck_assert_int_eq(medfs_vault_symlink(V, "/abs/target", n255, NULL), 0);
	ck_assert_int_eq(medfs_vault_readlink(V, n255, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/abs/target");
	ck_assert_int_eq(medfs_vault_rename(V, n255, "/moved", 0), 0);
	ck_assert_int_eq(medfs_vault_readlink(V, "/moved", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/abs/target");
	ck_assert_int_eq(medfs_vault_mkdir(V, "/d", 0700, NULL), 0);
	ck_assert_int_eq(medfs_vault_rename(V, "/moved", "/d/m", 0), 0);
	ck_assert_int_eq(medfs_vault_readlink(V, "/d/m", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/abs/target");
	ck_assert_int_eq(count_suffix(tree_dir(), MEDFS_LONGNAME_SUFFIX), 0);
	ck_assert_int_eq(medfs_vault_unlink(V, "/l"), 0);
	ck_assert_int_eq(medfs_vault_readlink(V, "/l", buf, sizeof(buf)), -ENOENT);
	ck_assert_int_eq(list_dir("/", &ns), 0);
	ck_assert_int_eq(ns.n, 3); /* f, big, d */
	ck_assert_int_eq(vault_open_again(), 0);
	ck_assert_int_eq(medfs_vault_readlink(V, "/big", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, big);
	ck_assert_int_eq(hk.calls, 0);
}
END_TEST

/* ================= extended attributes ================= */

/* Per-file metadata: round trip through the file and the path, hidden from
 * listxattr, and bound to its file. */
START_TEST(test_meta)
{
	struct medfs_file *f;
	char buf[64], ha[PATH_MAX], hb[PATH_MAX], sealed[256];
	ssize_t n;

	ck_assert_int_eq(put("/a", "x", 1), 0);
	ck_assert_int_eq(put("/b", "y", 1), 0);
	ck_assert_int_eq(medfs_vault_get_meta(V, "/a", buf, sizeof(buf)), -ENODATA);
	ck_assert_int_eq(medfs_file_open(V, "/a", O_RDWR, &f), 0);
	ck_assert_int_eq(medfs_file_set_meta(f, "PAT0042", 7), 0);
	ck_assert_int_eq(medfs_file_get_meta(f, buf, sizeof(buf)), 7);
	ck_assert_mem_eq(buf, "PAT0042", 7);
	ck_assert_int_eq(medfs_file_get_meta(f, buf, 3), -ERANGE);
	medfs_file_release(f);
	ck_assert_int_eq(medfs_vault_get_meta(V, "/a", buf, sizeof(buf)), 7);
	ck_assert_int_eq(medfs_vault_listxattr(V, "/a", buf, sizeof(buf)), 0);
	/* Copied onto another file, it does not authenticate. */
	ck_assert_int_eq(vault_path_of("/a", ha, sizeof(ha)), 0);
	ck_assert_int_eq(vault_path_of("/b", hb, sizeof(hb)), 0);
	n = getxattr(ha, "user.medfs-meta", sealed, sizeof(sealed));
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(setxattr(hb, "user.medfs-meta", sealed, (size_t)n, 0), 0);
	ck_assert_int_eq(medfs_vault_get_meta(V, "/b", buf, sizeof(buf)), -EBADMSG);
}
END_TEST

/* The bounds on a file's attributes, on a file system that would take
 * thousands of them (tmpfs: /dev/shm), where 20,000 made the list too long
 * for listxattr (E2BIG). Skipped where /dev/shm is not such a tmpfs. */
START_TEST(test_xattr_bounds)
{
	static char list[65536];
	char shm[64] = "/dev/shm/medfs-test-xattr-XXXXXX", name[200], host[PATH_MAX];
	static uint8_t big[65496];
	struct medfs_vault *keep = V;
	char keep_dir[sizeof(vdir)];
	ssize_t n;
	int r;

	if (!mkdtemp(shm))
		return;
	if (setxattr(shm, "user.probe", "1", 1, 0) < 0 && errno != EPERM) {
		rmdir(shm); /* no user attributes there */
		return;
	}
	ck_assert_int_eq(medfs_vault_create_tree(shm, vkey), 0);
	V = NULL;
	ck_assert_int_eq(medfs_vault_open_cipher(&V, shm, vkey, cipher), 0);
	memcpy(keep_dir, vdir, sizeof(vdir));
	snprintf(vdir, sizeof(vdir), "%s", shm); /* for vault_path_of */
	ck_assert_int_eq(put("/f", "x", 1), 0);
	/* The longest names (160 bytes after "user."): the worst case for
	 * both lists. */
	for (int i = 0; i < MEDFS_XATTR_COUNT_MAX; i++) {
		snprintf(name, sizeof(name), "user.%0160d", i);
		r = medfs_vault_setxattr(V, "/f", name, "v", 1, 0);
		ck_assert_msg(r == 0, "attribute %d: %d", i, r);
	}
	snprintf(name, sizeof(name), "user.%0160d", MEDFS_XATTR_COUNT_MAX);
	ck_assert_int_eq(medfs_vault_setxattr(V, "/f", name, "v", 1, 0), -ENOSPC);
	ck_assert_int_eq(medfs_vault_setxattr(V, "/f", "user.short", "v", 1, 0), -ENOSPC);
	/* Replacing one is no new one; removing one makes room. */
	snprintf(name, sizeof(name), "user.%0160d", 7);
	ck_assert_int_eq(medfs_vault_setxattr(V, "/f", name, "new", 3, XATTR_REPLACE), 0);
	n = medfs_vault_listxattr(V, "/f", list, sizeof(list));
	ck_assert_int_eq(n, MEDFS_XATTR_COUNT_MAX * (5 + 160 + 1));
	ck_assert_int_eq(vault_path_of("/f", host, sizeof(host)), 0);
	n = listxattr(host, NULL, 0);
	ck_assert_int_gt(n, 0);
	ck_assert_int_le(n, 65536);
	ck_assert_int_eq(medfs_vault_removexattr(V, "/f", name), 0);
	ck_assert_int_eq(medfs_vault_setxattr(V, "/f", "user.short", "v", 1, 0), 0);
	ck_assert_int_eq(medfs_vault_removexattr(V, "/f", "user.short"), 0);
	for (int i = 0; i < MEDFS_XATTR_COUNT_MAX; i++) {
		snprintf(name, sizeof(name), "user.%0160d", i);
		r = medfs_vault_removexattr(V, "/f", name);
		ck_assert_int_eq(r, i == 7 ? -ENODATA : 0);
	}
	ck_assert_int_eq(medfs_vault_listxattr(V, "/f", NULL, 0), 0);

	/* The values' total: four of the largest fill 256 KiB but for 160
	 * bytes; a fifth value does not fit, a small one does, and a larger
	 * replacement of one of them does not. */
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "user.big%d", i);
		ck_assert_int_eq(medfs_vault_setxattr(V, "/f", name, big, sizeof(big), 0),
				 0);
	}
	ck_assert_int_eq(medfs_vault_setxattr(V, "/f", "user.big4", big, 1000, 0),
			 -ENOSPC);
	ck_assert_int_eq(medfs_vault_setxattr(V, "/f", "user.small", big, 100, 0), 0);
	ck_assert_int_eq(medfs_vault_setxattr(V, "/f", "user.small", big, 160, 0), 0);
	ck_assert_int_eq(medfs_vault_setxattr(V, "/f", "user.small", big, 161, 0),
			 -ENOSPC);
	ck_assert_int_eq(medfs_vault_setxattr(V, "/f", "user.big0", big, 65000, 0), 0);
	ck_assert_int_eq(medfs_vault_setxattr(V, "/f", "user.big0", big, sizeof(big), 0),
			 0);
	ck_assert_int_eq(
		medfs_vault_setxattr(V, "/f", "user.big0", big, sizeof(big) + 1, 0),
		-E2BIG);
	ck_assert_int_eq(medfs_vault_getxattr(V, "/f", "user.small", NULL, 0), 160);

	medfs_vault_close(V);
	V = keep;
	memcpy(vdir, keep_dir, sizeof(vdir));
	rm_tree(shm);
}
END_TEST

START_TEST(test_xattr)
{
	char buf[256], host[PATH_MAX];
	ssize_t n;

	ck_assert_int_eq(put("/f", "x", 1), 0);
	ck_assert_int_eq(medfs_vault_setxattr(V, "/f", "user.patient", "Jane Doe", 8, 0),
			 0);
	ck_assert_int_eq(medfs_vault_getxattr(V, "/f", "user.patient", buf, sizeof(buf)),
			 8);
	ck_assert_mem_eq(buf, "Jane Doe", 8);
	/* Size 0 asks for the length. */
	ck_assert_int_eq(medfs_vault_getxattr(V, "/f", "user.patient", NULL, 0), 8);
	ck_assert_int_eq(medfs_vault_getxattr(V, "/f", "user.patient", buf, 7), -ERANGE);
	ck_assert_int_eq(medfs_vault_getxattr(V, "/f", "user.patient", buf, 8), 8);

	ck_assert_int_eq(
		medfs_vault_setxattr(V, "/f", "user.patient", "X", 1, XATTR_CREATE),
		-EEXIST);
	ck_assert_int_eq(medfs_vault_setxattr(V, "/f", "user.new", "X", 1, XATTR_REPLACE),
			 -ENODATA);
	ck_assert_int_eq(
		medfs_vault_setxattr(V, "/f", "user.patient", "John", 4, XATTR_REPLACE),
		0);
	ck_assert_int_eq(medfs_vault_getxattr(V, "/f", "user.patient", buf, sizeof(buf)),
			 4);
	ck_assert_mem_eq(buf, "John", 4);
	ck_assert_int_eq(medfs_vault_getxattr(V, "/f", "user.missing", buf, sizeof(buf)),
			 -ENODATA);
	ck_assert_int_eq(medfs_vault_setxattr(V, "/f", "user.empty", "", 0, XATTR_CREATE),
			 0);
	ck_assert_int_eq(medfs_vault_getxattr(V, "/f", "user.empty", buf, sizeof(buf)),
			 0);

	/* Other namespaces are not stored. */
	ck_assert_int_eq(medfs_vault_setxattr(V, "/f", "trusted.x", "1", 1, 0), -ENOTSUP);
	ck_assert_int_eq(medfs_vault_setxattr(V, "/f", "security.selinux", "1", 1, 0),
			 -ENOTSUP);
	ck_assert_int_eq(
		medfs_vault_getxattr(V, "/f", "security.selinux", buf, sizeof(buf)),
		-ENODATA);
	ck_assert_int_eq(medfs_vault_getxattr(V, "/f", "system.posix_acl_access", buf,
					      sizeof(buf)),
			 -ENODATA);
	ck_assert_int_eq(medfs_vault_removexattr(V, "/f", "trusted.x"), -ENODATA);

	/* List: "user.patient\0user.empty\0" in any order. */
	n = medfs_vault_listxattr(V, "/f", NULL, 0);
	ck_assert_int_eq(n, 13 + 11);
	ck_assert_int_eq(medfs_vault_listxattr(V, "/f", buf, sizeof(buf)), 24);
	ck_assert(!memcmp(buf, "user.patient\0user.empty", 24) ||
		  !memcmp(buf, "user.empty\0user.patient", 24));
	ck_assert_int_eq(medfs_vault_listxattr(V, "/f", buf, 23), -ERANGE);
	ck_assert_int_eq(medfs_vault_listxattr(V, "/f", buf, 5), -ERANGE);

	ck_assert_int_eq(medfs_vault_removexattr(V, "/f", "user.empty"), 0);
	ck_assert_int_eq(medfs_vault_removexattr(V, "/f", "user.empty"), -ENODATA);
	ck_assert_int_eq(medfs_vault_getxattr(V, "/f", "user.empty", buf, sizeof(buf)),
			 -ENODATA);
	ck_assert_int_eq(medfs_vault_listxattr(V, "/f", buf, sizeof(buf)), 13);
	ck_assert_str_eq(buf, "user.patient");

	/* Neither the name nor the value is stored in the clear. */
	ck_assert_int_eq(vault_path_of("/f", host, sizeof(host)), 0);
	{
		char raw[4096];
		ssize_t rl = llistxattr(host, raw, sizeof(raw));

		ck_assert_int_gt(rl, 0);
		ck_assert_ptr_null(memmem(raw, rl, "patient", 7));
		for (char *p = raw; p < raw + rl; p += strlen(p) + 1) {
			char val[512];
			ssize_t vl = lgetxattr(host, p, val, sizeof(val));

			ck_assert_int_ge(vl, 0);
			ck_assert_ptr_null(memmem(val, vl, "John", 4));
		}
	}

	/* The longest name whose encrypted form fits the vault's xattr name
	 * limit (160 bytes after "user."), and one byte more. */
	{
		char lname[5 + 162];

		memcpy(lname, "user.", 5);
		memset(lname + 5, 'n', 161);
		lname[5 + 160] = '\0';
		ck_assert_int_eq(medfs_vault_setxattr(V, "/f", lname, "long", 4, 0), 0);
		ck_assert_int_eq(medfs_vault_getxattr(V, "/f", lname, buf, sizeof(buf)),
				 4);
		ck_assert_int_eq(medfs_vault_listxattr(V, "/f", NULL, 0), 13 + 166);
		ck_assert_int_eq(medfs_vault_removexattr(V, "/f", lname), 0);
		lname[5 + 160] = 'n';
		lname[5 + 161] = '\0';
		ck_assert_int_eq(medfs_vault_setxattr(V, "/f", lname, "long", 4, 0),
				 -ERANGE);
		ck_assert_int_eq(medfs_vault_getxattr(V, "/f", lname, buf, sizeof(buf)),
				 -ENODATA);
		ck_assert_int_eq(medfs_vault_setxattr(V, "/f", "user.", "x", 1, 0),
				 -EINVAL);
	}

	/* Directories and the root hold none. */
	ck_assert_int_eq(medfs_vault_mkdir(V, "/d", 0700, NULL), 0);
	ck_assert_int_eq(medfs_vault_setxattr(V, "/d", "user.a", "1", 1, 0), -ENOTSUP);
	ck_assert_int_eq(medfs_vault_getxattr(V, "/d", "user.a", buf, sizeof(buf)),
			 -ENODATA);
	ck_assert_int_eq(medfs_vault_listxattr(V, "/d", buf, sizeof(buf)), 0);
	ck_assert_int_eq(medfs_vault_getxattr(V, "/none", "user.a", buf, sizeof(buf)),
			 -ENOENT);

	/* Kept through a reopen and a truncation. */
	ck_assert_int_eq(medfs_vault_truncate(V, "/f", 0), 0);
	ck_assert_int_eq(vault_open_again(), 0);
	ck_assert_int_eq(medfs_vault_getxattr(V, "/f", "user.patient", buf, sizeof(buf)),
			 4);
	ck_assert_mem_eq(buf, "John", 4);
	ck_assert_int_eq(hk.calls, 0);
}
END_TEST

/* ================= integrity ================= */

/* A file of 3 full blocks and a short one, with a control file beside it. */
#define TLEN (3 * BLK + 100)

static uint8_t *make_victim(const char *path, uint64_t seed)
{
	uint8_t *data = pattern_alloc(TLEN, seed);

	ck_assert_int_eq(put(path, data, TLEN), 0);
	return data;
}

static int read_at(struct medfs_file *f, off_t off, size_t len, const uint8_t *exp)
{
	uint8_t buf[TLEN];
	ssize_t n = medfs_file_read(f, buf, len, off);

	if (n < 0)
		return (int)n;
	if ((size_t)n != len)
		return 1;
	return memcmp(buf, exp + off, len) ? 2 : 0;
}

START_TEST(test_tamper_block)
{
	uint8_t *data = make_victim("/victim", 1), *ctl = make_victim("/control", 2);
	char host[PATH_MAX];
	struct medfs_file *f;
	/* Positions in block 1: nonce, ciphertext, tag. */
	static const off_t pos[] = { 0, 23, 24, 100, 24 + BLK - 1, 24 + BLK, DBLK - 1 };

	ck_assert_int_eq(vault_path_of("/victim", host, sizeof(host)), 0);
	for (size_t k = 0; k < sizeof(pos) / sizeof(pos[0]); k++) {
		off_t at = MEDFS_HEADER_LEN + DBLK + pos[k];

		hook_reset();
		ck_assert_int_eq(flip_byte(host, at, 0x04), 0);
		ck_assert_int_eq(medfs_file_open(V, "/victim", O_RDWR, &f), 0);
		/* The damaged block fails, alone or within a larger read. */
		ck_assert_int_eq(read_at(f, BLK, BLK, data), -EBADMSG);
		ck_assert_int_eq(hk.calls, 1);
		ck_assert_str_eq(hk.vpath, hook_name(host));
		ck_assert_int_eq(strncmp(hk.vpath, "tree/", 5), 0);
		ck_assert_int_eq(hk.offset, 104 + 1 * 4136);
		ck_assert_int_eq(read_at(f, BLK + 10, 5, data), -EBADMSG);
		ck_assert_int_eq(read_at(f, 0, TLEN, data), -EBADMSG);
		ck_assert_int_eq(read_at(f, BLK - 1, 2, data), -EBADMSG);
		ck_assert_int_eq(hk.offset, 104 + 1 * 4136);
		/* The other blocks of the file still read. */
		ck_assert_int_eq(read_at(f, 0, BLK, data), 0);
		ck_assert_int_eq(read_at(f, 2 * BLK, BLK + 100, data), 0);
		ck_assert_int_eq(read_at(f, 3 * BLK + 50, 50, data), 0);
		/* A partial write needs the old block: it fails too. */
		ck_assert_int_eq(medfs_file_write(f, "zz", 2, BLK + 7, 0), -EBADMSG);
		medfs_file_release(f);
		ck_assert_int_eq(check_file("/control", ctl, TLEN), 0);
		ck_assert_int_eq(flip_byte(host, at, 0x04), 0);
		ck_assert_int_eq(check_file("/victim", data, TLEN), 0);
	}

	/* The short last block. */
	hook_reset();
	ck_assert_int_eq(flip_byte(host, MEDFS_HEADER_LEN + 3 * DBLK + 30, 0x80), 0);
	ck_assert_int_eq(medfs_file_open(V, "/victim", O_RDONLY, &f), 0);
	ck_assert_int_eq(read_at(f, 3 * BLK, 100, data), -EBADMSG);
	ck_assert_int_eq(hk.offset, 104 + 3 * 4136);
	ck_assert_int_eq(read_at(f, 0, 3 * BLK, data), 0);
	/* Truncating into the damaged block must not launder it. */
	ck_assert_int_eq(medfs_file_truncate(f, 3 * BLK + 50), -EBADMSG);
	ck_assert_uint_eq(medfs_file_size(f), TLEN);
	medfs_file_release(f);
	ck_assert_int_eq(check_file("/control", ctl, TLEN), 0);
	/* No plaintext name in the log. */
	ck_assert_int_gt(loglen, 0);
	ck_assert_ptr_null(strstr(logbuf, "victim"));
}
END_TEST

/* A file of several chunks, read and written in slices on several threads:
 * the lowest damaged block is the one named, a damaged block at either end
 * of a partial write leaves the whole file as it was, and a vault file cut
 * short fails at its first missing block. */
#define BIG_BLOCKS 300
#define BIG_LEN (BIG_BLOCKS * BLK - 1000)

START_TEST(test_tamper_large)
{
	uint8_t *data = pattern_alloc(BIG_LEN, 7), *buf = malloc(BIG_LEN);
	uint8_t *zz = calloc(1, 190 * BLK);
	char host[PATH_MAX];
	struct medfs_file *f;
	int fd;

	ck_assert_ptr_nonnull(buf);
	ck_assert_ptr_nonnull(zz);
	ck_assert_int_eq(put("/big", data, BIG_LEN), 0);
	ck_assert_int_eq(vault_path_of("/big", host, sizeof(host)), 0);
	ck_assert_int_eq(medfs_file_open(V, "/big", O_RDWR, &f), 0);
	ck_assert_int_eq(medfs_file_read(f, buf, BIG_LEN, 0), BIG_LEN);
	ck_assert_mem_eq(buf, data, BIG_LEN);

	/* Block 200, late in the first chunk's last slice. */
	hook_reset();
	ck_assert_int_eq(flip_byte(host, MEDFS_HEADER_LEN + 200 * DBLK + 50, 0x10), 0);
	ck_assert_int_eq(medfs_file_read(f, buf, BIG_LEN, 0), -EBADMSG);
	ck_assert_int_eq(hk.offset, MEDFS_HEADER_LEN + 200 * DBLK);
	/* Block 70 too: the lowest is named. */
	ck_assert_int_eq(flip_byte(host, MEDFS_HEADER_LEN + 70 * DBLK + 50, 0x10), 0);
	ck_assert_int_eq(medfs_file_read(f, buf, BIG_LEN, 0), -EBADMSG);
	ck_assert_int_eq(hk.offset, MEDFS_HEADER_LEN + 70 * DBLK);
	ck_assert_int_eq(flip_byte(host, MEDFS_HEADER_LEN + 70 * DBLK + 50, 0x10), 0);
	ck_assert_int_eq(medfs_file_read(f, buf, 200 * BLK, 0), 200 * BLK);
	ck_assert_mem_eq(buf, data, 200 * BLK);

	/* A write from inside block 10 to inside block 200 needs both old
	 * blocks; block 200 fails, so nothing of the write lands. */
	ck_assert_int_eq(medfs_file_write(f, zz, 190 * BLK, 10 * BLK + 9, 0), -EBADMSG);
	ck_assert_int_eq(flip_byte(host, MEDFS_HEADER_LEN + 200 * DBLK + 50, 0x10), 0);
	ck_assert_int_eq(medfs_file_read(f, buf, BIG_LEN, 0), BIG_LEN);
	ck_assert_mem_eq(buf, data, BIG_LEN);

	/* Now it lands, both edges kept. */
	ck_assert_int_eq(medfs_file_write(f, zz, 190 * BLK, 10 * BLK + 9, 0), 190 * BLK);
	memset(data + 10 * BLK + 9, 0, 190 * BLK);
	ck_assert_int_eq(medfs_file_read(f, buf, BIG_LEN, 0), BIG_LEN);
	ck_assert_mem_eq(buf, data, BIG_LEN);

	/* The vault file cut inside block 280. */
	hook_reset();
	fd = open(host, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, MEDFS_HEADER_LEN + 280 * DBLK + 100), 0);
	close(fd);
	ck_assert_int_eq(medfs_file_read(f, buf, BIG_LEN, 0), -EBADMSG);
	ck_assert_int_eq(hk.offset, MEDFS_HEADER_LEN + 280 * DBLK);
	ck_assert_int_eq(medfs_file_read(f, buf, 280 * BLK, 0), 280 * BLK);
	ck_assert_mem_eq(buf, data, 280 * BLK);
	medfs_file_release(f);
	free(buf);
	free(zz);
}
END_TEST

START_TEST(test_tamper_block_moved)
{
	uint8_t *data = make_victim("/victim", 1), *ctl = make_victim("/control", 2);
	char host[PATH_MAX], chost[PATH_MAX];
	struct medfs_file *f;

	ck_assert_int_eq(vault_path_of("/victim", host, sizeof(host)), 0);
	ck_assert_int_eq(vault_path_of("/control", chost, sizeof(chost)), 0);
	/* Block 2 copied over block 1 of the same file. */
	ck_assert_int_eq(copy_range(host, MEDFS_HEADER_LEN + 2 * DBLK, host,
				    MEDFS_HEADER_LEN + DBLK, DBLK),
			 0);
	/* Block 0 of another file over block 0. */
	ck_assert_int_eq(
		copy_range(chost, MEDFS_HEADER_LEN, host, MEDFS_HEADER_LEN, DBLK), 0);
	ck_assert_int_eq(medfs_file_open(V, "/victim", O_RDONLY, &f), 0);
	ck_assert_int_eq(read_at(f, 0, BLK, data), -EBADMSG);
	ck_assert_int_eq(hk.offset, 104);
	ck_assert_int_eq(read_at(f, BLK, BLK, data), -EBADMSG);
	ck_assert_int_eq(hk.offset, 104 + 4136);
	ck_assert_int_eq(read_at(f, 2 * BLK, BLK, data), 0);
	medfs_file_release(f);
	ck_assert_int_eq(check_file("/control", ctl, TLEN), 0);
}
END_TEST

START_TEST(test_tamper_zero_block)
{
	uint8_t *data = make_victim("/victim", 1), *ctl = make_victim("/control", 2);
	char host[PATH_MAX];
	struct medfs_file *f;

	ck_assert_int_eq(vault_path_of("/victim", host, sizeof(host)), 0);
	ck_assert_int_eq(zero_range(host, MEDFS_HEADER_LEN + 2 * DBLK, DBLK), 0);
	ck_assert_int_eq(medfs_file_open(V, "/victim", O_RDONLY, &f), 0);
	ck_assert_int_eq(read_at(f, 2 * BLK, BLK, data), -EBADMSG);
	ck_assert_int_eq(hk.calls, 1);
	ck_assert_int_eq(hk.offset, 104 + 2 * 4136);
	ck_assert_str_eq(hk.vpath, hook_name(host));
	ck_assert_int_eq(read_at(f, 0, 2 * BLK, data), 0);
	ck_assert_int_eq(read_at(f, 3 * BLK, 100, data), 0);
	medfs_file_release(f);
	ck_assert_int_eq(check_file("/control", ctl, TLEN), 0);
}
END_TEST

START_TEST(test_tamper_block_after_dir_rename)
{
	uint8_t *data = pattern_alloc(TLEN, 5);
	char host[PATH_MAX];
	struct medfs_file *f;

	ck_assert_int_eq(medfs_vault_mkdir(V, "/d", 0700, NULL), 0);
	ck_assert_int_eq(put("/d/f", data, TLEN), 0);
	ck_assert_int_eq(medfs_file_open(V, "/d/f", O_RDONLY, &f), 0);
	/* The file stays open while its directory moves. */
	ck_assert_int_eq(medfs_vault_rename(V, "/d", "/e", 0), 0);
	ck_assert_int_eq(vault_path_of("/e/f", host, sizeof(host)), 0);
	ck_assert_int_eq(flip_byte(host, MEDFS_HEADER_LEN + 100, 0x01), 0);
	hook_reset();
	ck_assert_int_eq(read_at(f, 0, BLK, data), -EBADMSG);
	ck_assert_int_eq(hk.calls, 1);
	ck_assert_int_eq(hk.offset, 104);
	/* The report names where the damaged file is now. */
	ck_assert_str_eq(hk.vpath, hook_name(host));
	ck_assert_int_eq(read_at(f, BLK, BLK, data), 0);
	medfs_file_release(f);
}
END_TEST

START_TEST(test_tamper_header)
{
	uint8_t *data = make_victim("/victim", 1), *ctl = make_victim("/control", 2);
	char host[PATH_MAX];
	struct medfs_file *f;

	ck_assert_int_eq(vault_path_of("/victim", host, sizeof(host)), 0);
	for (off_t i = 0; i < MEDFS_HEADER_LEN; i++) {
		int exp = (i == 4 || i == 5) ? -EPROTONOSUPPORT : -EBADMSG;

		hook_reset();
		ck_assert_int_eq(flip_byte(host, i, 0x01), 0);
		f = (struct medfs_file *)&f;
		ck_assert_msg(medfs_file_open(V, "/victim", O_RDONLY, &f) == exp,
			      "header byte %d", (int)i);
		ck_assert_ptr_null(f);
		if (exp == -EBADMSG) {
			ck_assert_int_eq(hk.calls, 1);
			ck_assert_str_eq(hk.vpath, hook_name(host));
			ck_assert_int_eq(hk.offset, 0);
		}
		ck_assert_int_eq(flip_byte(host, i, 0x01), 0);
		if (i % 13 == 0)
			ck_assert_int_eq(check_file("/control", ctl, TLEN), 0);
	}
	ck_assert_int_eq(check_file("/victim", data, TLEN), 0);

	/* Truncated header. */
	ck_assert_int_eq(truncate(host, 50), 0);
	ck_assert_int_eq(medfs_file_open(V, "/victim", O_RDONLY, &f), -EBADMSG);
	ck_assert_int_eq(check_file("/control", ctl, TLEN), 0);
	ck_assert_ptr_null(strstr(logbuf, "victim"));
}
END_TEST

START_TEST(test_tamper_swap_files)
{
	uint8_t *a = make_victim("/a", 1), *b = make_victim("/b", 2);
	uint8_t *ctl = make_victim("/control", 3);
	char ha[PATH_MAX], hb[PATH_MAX];
	struct medfs_file *f;

	ck_assert_int_eq(vault_path_of("/a", ha, sizeof(ha)), 0);
	ck_assert_int_eq(vault_path_of("/b", hb, sizeof(hb)), 0);
	ck_assert_int_eq(swap_entries(ha, hb), 0);
	ck_assert_int_eq(medfs_file_open(V, "/a", O_RDONLY, &f), -EBADMSG);
	ck_assert_str_eq(hk.vpath, hook_name(ha));
	ck_assert_int_eq(medfs_file_open(V, "/b", O_RDONLY, &f), -EBADMSG);
	ck_assert_str_eq(hk.vpath, hook_name(hb));
	ck_assert_int_eq(medfs_vault_truncate(V, "/a", 0), -EBADMSG);
	ck_assert_int_eq(medfs_vault_rename(V, "/a", "/c", 0), -EBADMSG);
	ck_assert_int_eq(medfs_vault_getxattr(V, "/b", "user.x", NULL, 0), -EBADMSG);
	ck_assert_int_eq(check_file("/control", ctl, TLEN), 0);
	/* Swapped back, both are whole again. */
	ck_assert_int_eq(swap_entries(ha, hb), 0);
	ck_assert_int_eq(check_file("/a", a, TLEN), 0);
	ck_assert_int_eq(check_file("/b", b, TLEN), 0);

	/* A file moved to another directory in the vault. */
	ck_assert_int_eq(medfs_vault_mkdir(V, "/d", 0700, NULL), 0);
	{
		char hd[PATH_MAX], moved[PATH_MAX * 2];
		const char *entry = strrchr(ha, '/') + 1;
		struct names ns;

		ck_assert_int_eq(vault_path_of("/d", hd, sizeof(hd)), 0);
		snprintf(moved, sizeof(moved), "%s/%s", hd, entry);
		ck_assert_int_eq(rename(ha, moved), 0);
		hook_reset();
		ck_assert_int_eq(list_dir("/d", &ns), 0);
		ck_assert_int_eq(ns.n, 0);
		ck_assert_int_eq(hk.calls, 1);
		ck_assert_str_eq(hk.vpath, hook_name(moved));
		ck_assert_int_eq(list_dir("/", &ns), 0);
		ck_assert_int_eq(ns.n, 3); /* b, control, d */
	}
}
END_TEST

/* A vault file linked or renamed over another's while it is open: the open
 * object, found by inode, is not served under the other name. */
START_TEST(test_tamper_open_file_linked)
{
	uint8_t *a = make_victim("/a", 1);
	char ha[PATH_MAX], hb[PATH_MAX], buf[16];
	struct medfs_file *fa, *f = NULL;

	make_victim("/b", 2);
	ck_assert_int_eq(vault_path_of("/a", ha, sizeof(ha)), 0);
	ck_assert_int_eq(vault_path_of("/b", hb, sizeof(hb)), 0);
	ck_assert_int_eq(medfs_file_open(V, "/a", O_RDONLY, &fa), 0);

	/* Hard link: both names are A's inode. */
	ck_assert_int_eq(unlink(hb), 0);
	ck_assert_int_eq(link(ha, hb), 0);
	hook_reset();
	ck_assert_int_eq(medfs_file_open(V, "/b", O_RDONLY, &f), -EBADMSG);
	ck_assert_ptr_null(f);
	ck_assert_int_eq(medfs_file_open(V, "/b", O_RDWR, &f), -EBADMSG);
	ck_assert_int_eq(medfs_vault_truncate(V, "/b", 0), -EBADMSG);
	ck_assert_int_eq(hk.calls, 3);
	ck_assert_str_eq(hk.vpath, hook_name(hb));
	ck_assert_ptr_nonnull(strstr(hk.what, "bound elsewhere"));
	/* A itself still opens and reads, shared with the open object. */
	ck_assert_int_eq(check_file("/a", a, TLEN), 0);
	ck_assert_int_eq(medfs_file_read(fa, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	ck_assert_mem_eq(buf, a, sizeof(buf));

	/* Rename: A's vault file replaces B's. */
	ck_assert_int_eq(unlink(hb), 0);
	ck_assert_int_eq(rename(ha, hb), 0);
	hook_reset();
	ck_assert_int_eq(medfs_file_open(V, "/b", O_RDONLY, &f), -EBADMSG);
	ck_assert_int_eq(hk.calls, 1);
	ck_assert_ptr_nonnull(strstr(hk.what, "bound elsewhere"));
	ck_assert_int_eq(medfs_file_open(V, "/a", O_RDONLY, &f), -ENOENT);

	/* Closed, the header's binding refuses it as before. */
	medfs_file_release(fa);
	hook_reset();
	ck_assert_int_eq(medfs_file_open(V, "/b", O_RDONLY, &f), -EBADMSG);
	ck_assert_int_eq(hk.calls, 1);
	ck_assert_ptr_nonnull(strstr(hk.what, "does not authenticate"));
	/* Put back under its own name, it is whole. */
	ck_assert_int_eq(rename(hb, ha), 0);
	ck_assert_int_eq(check_file("/a", a, TLEN), 0);
}
END_TEST

/* Writes saved back over host_path and gives it length len. */
static int restore_file(const char *host_path, const uint8_t *saved, off_t len)
{
	int fd = open(host_path, O_WRONLY), r = 0;

	if (fd < 0)
		return -errno;
	if (pwrite(fd, saved, len, 0) != len || ftruncate(fd, len) < 0)
		r = -EIO;
	close(fd);
	return r;
}

START_TEST(test_tamper_length)
{
	uint8_t *data = make_victim("/victim", 1), *ctl = make_victim("/control", 2);
	uint8_t saved[MEDFS_HEADER_LEN + 4 * DBLK];
	char host[PATH_MAX];
	struct medfs_file *f;
	off_t d;
	int fd;

	ck_assert_int_eq(vault_path_of("/victim", host, sizeof(host)), 0);
	d = host_size(host);
	ck_assert_int_eq(d, (off_t)medfs_disk_size(TLEN));
	fd = open(host, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, saved, d, 0), d);
	close(fd);

	/* One block cut off the end. */
	ck_assert_int_eq(truncate(host, d - DBLK), 0);
	hook_reset();
	ck_assert_int_eq(medfs_file_open(V, "/victim", O_RDONLY, &f), -EBADMSG);
	ck_assert_int_eq(hk.calls, 1);
	ck_assert_str_eq(hk.vpath, hook_name(host));
	ck_assert_int_eq(check_file("/control", ctl, TLEN), 0);
	/* One block added, on a vault that is not careful (whose last
	 * mount ended cleanly): tampering, not a crash. */
	ck_assert_int_eq(restore_file(host, saved, d), 0);
	ck_assert_int_eq(truncate(host, d + DBLK), 0);
	ck_assert_int_eq(medfs_file_open(V, "/victim", O_RDONLY, &f), -EBADMSG);
	/* A length no plaintext size gives. */
	ck_assert_int_eq(restore_file(host, saved, d), 0);
	ck_assert_int_eq(truncate(host, MEDFS_HEADER_LEN + 3 * DBLK + 20), 0);
	ck_assert_int_eq(medfs_file_open(V, "/victim", O_RDONLY, &f), -EBADMSG);
	/* Whole block boundary: the last block gone. */
	ck_assert_int_eq(truncate(host, MEDFS_HEADER_LEN + 3 * DBLK), 0);
	ck_assert_int_eq(medfs_file_open(V, "/victim", O_RDONLY, &f), -EBADMSG);
	ck_assert_int_eq(restore_file(host, saved, d), 0);
	ck_assert_int_eq(check_file("/victim", data, TLEN), 0);

	/* Cut while open: the missing block fails to read, the rest reads. */
	ck_assert_int_eq(medfs_file_open(V, "/victim", O_RDONLY, &f), 0);
	ck_assert_int_eq(truncate(host, d - 100 - MEDFS_BLOCK_OVERHEAD), 0);
	hook_reset();
	ck_assert_int_eq(read_at(f, 3 * BLK, 100, data), -EBADMSG);
	ck_assert_int_eq(hk.offset, 104 + 3 * 4136);
	ck_assert_int_eq(read_at(f, 0, TLEN, data), -EBADMSG);
	ck_assert_int_eq(read_at(f, 0, 3 * BLK, data), 0);
	medfs_file_release(f);
	ck_assert_int_eq(check_file("/control", ctl, TLEN), 0);
}
END_TEST

/* Reads path through a fresh open: exactly len bytes equal to exp, at the
 * handle's size len, and the path's size len (the header's, not the vault
 * file's length). 0 when so, -errno, 1 for a size mismatch, 2 for a content
 * mismatch, 3 for a getattr size mismatch. */
static int check_open(const char *path, const void *exp, size_t len, bool *grown)
{
	struct medfs_file *f;
	uint8_t *buf = malloc(len + 3 * BLK);
	struct stat st;
	ssize_t n;
	int r;

	ck_assert_ptr_nonnull(buf);
	if (medfs_vault_getattr(V, path, &st) != 0 || (size_t)st.st_size != len) {
		free(buf);
		return 3;
	}
	r = medfs_file_open(V, path, O_RDONLY, &f);
	if (r < 0) {
		free(buf);
		return r;
	}
	n = medfs_file_read(f, buf, len + 3 * BLK, 0);
	if (n < 0)
		r = (int)n;
	else if ((size_t)n != len || medfs_file_size(f) != len)
		r = 1;
	else if (len && memcmp(buf, exp, len))
		r = 2;
	/* Reads at and past the header's size see its end. */
	if (r == 0 && medfs_file_read(f, buf, BLK, (off_t)len) != 0)
		r = 1;
	if (r == 0 && len > 10 && (medfs_file_read(f, buf, 10, (off_t)len - 10) != 10 ||
				   memcmp(buf, (const uint8_t *)exp + len - 10, 10)))
		r = 2;
	if (grown)
		*grown = medfs_file_grown(f);
	medfs_file_release(f);
	free(buf);
	return r;
}

/* Makes /g of len bytes, then grows it through the library by more bytes
 * written at its end, and puts its old header back: the state a crash
 * leaves when an extension's blocks reached the disk and its header did
 * not (doc/FORMAT.md 12.1). Returns the vault file's length before. */
static off_t grow_behind(const char *host, const uint8_t *data, size_t len, size_t more)
{
	uint8_t hdr[MEDFS_HEADER_LEN], *junk = pattern_alloc(more, 99);
	struct medfs_file *f;
	off_t d;
	int fd;

	ck_assert_int_eq(put("/g", data, len), 0);
	d = host_size(host);
	fd = open(host, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
	ck_assert_int_eq(medfs_file_open(V, "/g", O_RDWR, &f), 0);
	ck_assert_int_eq(medfs_file_write(f, junk, more, (off_t)len, 0), (ssize_t)more);
	medfs_file_release(f);
	ck_assert_int_eq(pwrite(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
	close(fd);
	ck_assert_int_eq(host_size(host), (off_t)medfs_disk_size(len + more));
	return d;
}

START_TEST(test_grown_file)
{
	const size_t len = 2 * BLK + 100;
	uint8_t *data = pattern_alloc(len + BLK, 5), *junk = pattern_alloc(3 * DBLK, 6);
	char host[PATH_MAX];
	struct medfs_file *f;
	bool grown;
	off_t d;
	int fd;

	ck_assert_int_eq(put("/g", data, len), 0);
	ck_assert_int_eq(vault_path_of("/g", host, sizeof(host)), 0);

	/* A vault that is not careful says EIO, and its size from the
	 * length: bytes appended behind its back. */
	d = grow_behind(host, data, len, BLK + 7);
	hook_reset();
	ck_assert_int_eq(medfs_file_open(V, "/g", O_RDONLY, &f), -EBADMSG);
	ck_assert_int_eq(hk.calls, 1);
	ck_assert_int_eq(check_open("/g", data, len, &grown), 3);
	/* A careful one (after a mount that did not end cleanly). */
	medfs_vault_set_careful(V, true);
	ck_assert(medfs_vault_is_careful(V));

	/* Grown past its last block: that block resealed whole, one more. */
	d = grow_behind(host, data, len, BLK + 7);
	hook_reset();
	ck_assert_int_eq(check_open("/g", data, len, &grown), 0);
	ck_assert(grown);
	ck_assert_int_eq(hk.calls, 0);
	/* Grown inside its last block: resealed at the vault file's length. */
	d = grow_behind(host, data, len, 50);
	ck_assert_int_eq(check_open("/g", data, len, &grown), 0);
	ck_assert(grown);
	/* Whole sealed blocks of an extension, the last block not resealed
	 * (its new content did not reach the disk), and junk. */
	ck_assert_int_eq(put("/g", data, len), 0);
	d = host_size(host);
	fd = open(host, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, junk, 3 * DBLK - 5), (ssize_t)(3 * DBLK - 5));
	close(fd);
	ck_assert_int_eq(check_open("/g", data, len, &grown), 0);
	ck_assert(grown);
	/* A file of whole blocks, with junk past them. */
	ck_assert_int_eq(put("/g", data, 2 * BLK), 0);
	fd = open(host, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, junk, 20), 20);
	close(fd);
	ck_assert_int_eq(check_open("/g", data, 2 * BLK, &grown), 0);
	ck_assert(grown);

	/* Shorter than its header says: still EIO, reported. */
	d = grow_behind(host, data, len, BLK + 7);
	ck_assert_int_eq(truncate(host, d - 1), 0);
	hook_reset();
	ck_assert_int_eq(medfs_file_open(V, "/g", O_RDONLY, &f), -EBADMSG);
	ck_assert_int_eq(hk.calls, 1);
	ck_assert_int_eq(medfs_vault_unlink(V, "/g"), 0);

	/* An append cuts the leftover first: the file is consistent again. */
	d = grow_behind(host, data, len, BLK + 7);
	ck_assert_int_eq(medfs_file_open(V, "/g", O_WRONLY | O_APPEND, &f), 0);
	ck_assert_int_eq(medfs_file_write(f, data + len, 30, 0, 1), 30);
	medfs_file_release(f);
	ck_assert_int_eq(host_size(host), (off_t)medfs_disk_size(len + 30));
	ck_assert_int_eq(check_file("/g", data, len + 30), 0);
	ck_assert_int_eq(check_open("/g", data, len + 30, &grown), 0);
	ck_assert(!grown);
	/* So does a truncation up, and one down. */
	grow_behind(host, data, len, 50);
	ck_assert_int_eq(medfs_vault_truncate(V, "/g", (off_t)len + 10), 0);
	memset(data + len, 0, 10);
	ck_assert_int_eq(check_file("/g", data, len + 10), 0);
	grow_behind(host, data, len, BLK);
	ck_assert_int_eq(medfs_vault_truncate(V, "/g", (off_t)len - 30), 0);
	ck_assert_int_eq(check_file("/g", data, len - 30), 0);
	/* And medfs_file_settle alone, when asked. */
	grow_behind(host, data, len, BLK + 1);
	ck_assert_int_eq(medfs_file_open(V, "/g", O_RDWR, &f), 0);
	ck_assert(medfs_file_grown(f));
	ck_assert_int_eq(medfs_file_settle(f), 1);
	ck_assert(!medfs_file_grown(f));
	ck_assert_int_eq(medfs_file_settle(f), 0);
	medfs_file_release(f);
	ck_assert_int_eq(host_size(host), (off_t)medfs_disk_size(len));
	ck_assert_int_eq(check_file("/g", data, len), 0);
}
END_TEST

START_TEST(test_tamper_dirs)
{
	char ha[PATH_MAX], hb[PATH_MAX], hdr[PATH_MAX + 16];
	struct names ns;
	struct stat st;
	struct medfs_file *f;

	ck_assert_int_eq(medfs_vault_mkdir(V, "/a", 0700, NULL), 0);
	ck_assert_int_eq(medfs_vault_mkdir(V, "/b", 0700, NULL), 0);
	ck_assert_int_eq(medfs_vault_mkdir(V, "/a/sub", 0700, NULL), 0);
	ck_assert_int_eq(put("/a/x", "ax", 2), 0);
	ck_assert_int_eq(put("/b/y", "by", 2), 0);
	ck_assert_int_eq(put("/z", "zz", 2), 0);
	ck_assert_int_eq(vault_path_of("/a", ha, sizeof(ha)), 0);
	ck_assert_int_eq(vault_path_of("/b", hb, sizeof(hb)), 0);

	/* Swap the two vault directories, as an attacker would offline. */
	medfs_vault_close(V);
	V = NULL;
	ck_assert_int_eq(swap_entries(ha, hb), 0);
	ck_assert_int_eq(vault_open_again(), 0);
	hook_reset();
	ck_assert_int_eq(medfs_vault_getattr(V, "/a/x", &st), -EBADMSG);
	ck_assert_int_eq(hk.calls, 1);
	ck_assert_str_eq(hk.vpath, hook_name(ha));
	ck_assert_int_eq(hk.offset, -1);
	ck_assert_int_eq(medfs_file_open(V, "/a/x", O_RDONLY, &f), -EBADMSG);
	ck_assert_int_eq(medfs_file_open(V, "/b/y", O_RDONLY, &f), -EBADMSG);
	ck_assert_int_eq(medfs_vault_getattr(V, "/a/sub", &st), -EBADMSG);
	ck_assert_int_eq(medfs_vault_getattr(V, "/a/sub/deeper", &st), -EBADMSG);
	ck_assert_int_eq(list_dir("/a", &ns), -EBADMSG);
	ck_assert_int_eq(list_dir("/b", &ns), -EBADMSG);
	ck_assert_int_eq(medfs_file_create(V, "/a/new", O_RDWR | O_CREAT, 0600, NULL, &f),
			 -EBADMSG);
	ck_assert_int_eq(medfs_vault_mkdir(V, "/b/new", 0700, NULL), -EBADMSG);
	ck_assert_int_eq(medfs_vault_rename(V, "/a", "/c", 0), -EBADMSG);
	/* The rest is served. */
	ck_assert_int_eq(check_str("/z", "zz"), 0);
	ck_assert_int_eq(list_dir("/", &ns), 0);
	ck_assert_int_eq(ns.n, 3);
	medfs_vault_close(V);
	V = NULL;
	ck_assert_int_eq(swap_entries(ha, hb), 0);
	ck_assert_int_eq(vault_open_again(), 0);
	ck_assert_int_eq(check_str("/a/x", "ax"), 0);
	ck_assert_int_eq(check_str("/b/y", "by"), 0);

	/* A modified directory header. */
	snprintf(hdr, sizeof(hdr), "%s/%s", ha, MEDFS_DIR_HEADER_NAME);
	/* Magic, version, reserved, id, tag. */
	static const off_t hpos[] = { 0, 3, 4, 5, 6, 8, 23, 24, 39 };

	for (size_t k = 0; k < sizeof(hpos) / sizeof(hpos[0]); k++) {
		off_t i = hpos[k];
		int exp = (i == 4 || i == 5) ? -EPROTONOSUPPORT : -EBADMSG;

		ck_assert_int_eq(flip_byte(hdr, i, 0x10), 0);
		ck_assert_int_eq(vault_open_again(), 0);
		ck_assert_msg(medfs_vault_getattr(V, "/a/x", &st) == exp,
			      "dir header byte %d", (int)i);
		ck_assert_int_eq(check_str("/b/y", "by"), 0);
		ck_assert_int_eq(flip_byte(hdr, i, 0x10), 0);
	}
	/* A missing directory header. */
	ck_assert_int_eq(unlink(hdr), 0);
	ck_assert_int_eq(vault_open_again(), 0);
	ck_assert_int_eq(medfs_vault_getattr(V, "/a/x", &st), -EBADMSG);
	ck_assert_int_eq(check_str("/b/y", "by"), 0);
	ck_assert_ptr_null(strstr(logbuf, "sub"));
}
END_TEST

START_TEST(test_tamper_names_links)
{
	char hv[PATH_MAX], bad[PATH_MAX + 8], hl1[PATH_MAX], hl2[PATH_MAX];
	char t1[MEDFS_LINK_ENC_MAX], t2[MEDFS_LINK_ENC_MAX], buf[64];
	struct names ns;
	struct stat st;
	ssize_t n1, n2;
	char *entry;

	ck_assert_int_eq(put("/good", "g", 1), 0);
	ck_assert_int_eq(put("/victim", "v", 1), 0);
	ck_assert_int_eq(vault_path_of("/victim", hv, sizeof(hv)), 0);
	/* One character of the vault name changed. */
	snprintf(bad, sizeof(bad), "%s", hv);
	entry = strrchr(bad, '/') + 1;
	entry[5] = entry[5] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(rename(hv, bad), 0);
	hook_reset();
	ck_assert_int_eq(list_dir("/", &ns), 0);
	ck_assert_int_eq(ns.n, 1);
	ck_assert_str_eq(ns.name[0], "good");
	ck_assert_int_eq(hk.calls, 1);
	ck_assert_str_eq(hk.vpath, hook_name(bad));
	ck_assert_int_eq(medfs_vault_getattr(V, "/victim", &st), -ENOENT);
	ck_assert_int_eq(rename(bad, hv), 0);
	ck_assert_int_eq(check_str("/victim", "v"), 0);

	/* Swapped symlink targets. */
	ck_assert_int_eq(medfs_vault_symlink(V, "target-one", "/l1", NULL), 0);
	ck_assert_int_eq(medfs_vault_symlink(V, "target-two", "/l2", NULL), 0);
	ck_assert_int_eq(vault_path_of("/l1", hl1, sizeof(hl1)), 0);
	ck_assert_int_eq(vault_path_of("/l2", hl2, sizeof(hl2)), 0);
	n1 = readlink(hl1, t1, sizeof(t1) - 1);
	n2 = readlink(hl2, t2, sizeof(t2) - 1);
	ck_assert_int_gt(n1, 0);
	ck_assert_int_gt(n2, 0);
	t1[n1] = '\0';
	t2[n2] = '\0';
	ck_assert_ptr_null(strstr(t1, "target"));
	ck_assert_int_eq(unlink(hl1), 0);
	ck_assert_int_eq(unlink(hl2), 0);
	ck_assert_int_eq(symlink(t2, hl1), 0);
	ck_assert_int_eq(symlink(t1, hl2), 0);
	hook_reset();
	ck_assert_int_eq(medfs_vault_readlink(V, "/l1", buf, sizeof(buf)), -EBADMSG);
	ck_assert_int_eq(hk.calls, 1);
	ck_assert_str_eq(hk.vpath, hook_name(hl1));
	ck_assert_int_eq(medfs_vault_readlink(V, "/l2", buf, sizeof(buf)), -EBADMSG);
	ck_assert_int_eq(medfs_vault_rename(V, "/l1", "/l3", 0), -EBADMSG);
	/* A modified target. */
	t1[10] = t1[10] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(unlink(hl1), 0);
	ck_assert_int_eq(symlink(t1, hl1), 0);
	ck_assert_int_eq(medfs_vault_readlink(V, "/l1", buf, sizeof(buf)), -EBADMSG);
	ck_assert_int_eq(check_str("/good", "g"), 0);
	ck_assert_ptr_null(strstr(logbuf, "victim"));
}
END_TEST

START_TEST(test_tamper_xattr)
{
	char host[PATH_MAX], raw[1024], val[1024];
	ssize_t rl, vl;
	char buf[64];

	ck_assert_int_eq(put("/f", "x", 1), 0);
	ck_assert_int_eq(medfs_vault_setxattr(V, "/f", "user.k", "value", 5, 0), 0);
	ck_assert_int_eq(vault_path_of("/f", host, sizeof(host)), 0);
	rl = llistxattr(host, raw, sizeof(raw));
	ck_assert_int_gt(rl, 0);
	ck_assert_int_eq(strncmp(raw, "user.medfs.", 11), 0);
	vl = lgetxattr(host, raw, val, sizeof(val));
	ck_assert_int_eq(vl, 24 + 5 + 16);
	val[30] ^= 1;
	ck_assert_int_eq(lsetxattr(host, raw, val, vl, 0), 0);
	hook_reset();
	ck_assert_int_eq(medfs_vault_getxattr(V, "/f", "user.k", buf, sizeof(buf)),
			 -EBADMSG);
	ck_assert_int_eq(hk.calls, 1);
	/* The report names the damaged object, not the vault root. */
	ck_assert_str_eq(hk.vpath, hook_name(host));
	ck_assert_int_eq(medfs_vault_getxattr(V, "/f", "user.k", NULL, 0), -EBADMSG);
	/* Restored, it opens again. */
	val[30] ^= 1;
	ck_assert_int_eq(lsetxattr(host, raw, val, vl, 0), 0);
	ck_assert_int_eq(medfs_vault_getxattr(V, "/f", "user.k", buf, sizeof(buf)), 5);

	/* A modified vault xattr name: no longer listed, and reported. */
	{
		char bad[1024];

		snprintf(bad, sizeof(bad), "%s", raw);
		bad[15] = bad[15] == 'A' ? 'B' : 'A';
		ck_assert_int_eq(lsetxattr(host, bad, val, vl, 0), 0);
		ck_assert_int_eq(lremovexattr(host, raw), 0);
		hook_reset();
		ck_assert_int_eq(medfs_vault_listxattr(V, "/f", buf, sizeof(buf)), 0);
		ck_assert_int_eq(hk.calls, 1);
		ck_assert_str_eq(hk.vpath, hook_name(host));
		ck_assert_int_eq(
			medfs_vault_getxattr(V, "/f", "user.k", buf, sizeof(buf)),
			-ENODATA);
	}
	ck_assert_int_eq(check_str("/f", "x"), 0);
}
END_TEST

START_TEST(test_vault_key)
{
	uint8_t *other = medfs_secret_alloc(MEDFS_KEY_LEN);
	struct medfs_vault *v2 = (struct medfs_vault *)&v2;
	char empty[PATH_MAX + 8];

	ck_assert_ptr_nonnull(other);
	ck_assert_int_eq(put("/f", "secret", 6), 0);
	memcpy(other, vkey, MEDFS_KEY_LEN);
	other[31] ^= 1;
	ck_assert_int_eq(medfs_vault_open_cipher(&v2, vdir, other, cipher), -EBADMSG);
	ck_assert_ptr_null(v2);
	randombytes_buf(other, MEDFS_KEY_LEN);
	ck_assert_int_eq(medfs_vault_open_cipher(&v2, vdir, other, cipher), -EBADMSG);
	ck_assert_ptr_null(v2);
	/* A second handle with the right key sees the same tree. */
	ck_assert_int_eq(medfs_vault_open_cipher(&v2, vdir, vkey, cipher), 0);
	{
		struct medfs_file *f;
		uint8_t buf[16];

		ck_assert_int_eq(medfs_file_open(v2, "/f", O_RDONLY, &f), 0);
		ck_assert_int_eq(medfs_file_read(f, buf, sizeof(buf), 0), 6);
		ck_assert_mem_eq(buf, "secret", 6);
		medfs_file_release(f);
	}
	medfs_vault_close(v2);
	/* Not a vault at all. */
	snprintf(empty, sizeof(empty), "%s/empty-XXXXXX", base_dir);
	ck_assert_ptr_nonnull(mkdtemp(empty));
	ck_assert_int_eq(medfs_vault_open_cipher(&v2, empty, vkey, cipher), -ENOENT);
	ck_assert_ptr_null(v2);
	ck_assert_int_eq(medfs_vault_open(&v2, empty, vkey), -ENOENT);
	ck_assert_ptr_null(v2);
	/* No cipher but the known ones. */
	ck_assert_int_eq(medfs_vault_open_cipher(&v2, vdir, vkey, 3), -EINVAL);
	ck_assert_ptr_null(v2);
	/* A tree cannot be created twice. */
	ck_assert_int_eq(medfs_vault_create_tree(vdir, vkey), -EEXIST);
	rmdir(empty);
	medfs_secret_free(other);
}
END_TEST

/* medfs_vault_open takes the cipher from the config, authenticated under
 * the vault key; blocks of the other cipher do not open. */
/* Pages of host_path in the page cache, and its page count. */
static size_t resident_pages(const char *host_path, size_t *pages)
{
	long ps = sysconf(_SC_PAGESIZE);
	unsigned char *vec;
	struct stat st;
	size_t n = 0;
	void *map;
	int fd = open(host_path, O_RDONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	*pages = ((size_t)st.st_size + (size_t)ps - 1) / (size_t)ps;
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	vec = malloc(*pages);
	ck_assert_ptr_nonnull(vec);
	ck_assert_int_eq(mincore(map, (size_t)st.st_size, vec), 0);
	for (size_t i = 0; i < *pages; i++)
		n += vec[i] & 1;
	free(vec);
	munmap(map, (size_t)st.st_size);
	close(fd);
	return n;
}

/* A file opened to be read and written in place has its whole vault file
 * read ahead (its partial-page block writes then need no reads); one
 * opened for reading does not. Where the page cache cannot be emptied
 * (tmpfs), there is nothing to see. */
START_TEST(test_warm_rdwr)
{
	const size_t len = 8 << 20;
	uint8_t *data = pattern_alloc(len, 77);
	char host[PATH_MAX];
	struct medfs_file *f;
	size_t pages, n;
	int fd;

	ck_assert_int_eq(put("/db", data, len), 0);
	ck_assert_int_eq(vault_path_of("/db", host, sizeof(host)), 0);
	fd = open(host, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fdatasync(fd), 0);
	ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	close(fd);
	if (resident_pages(host, &pages) > pages / 2)
		return;

	ck_assert_int_eq(medfs_file_open(V, "/db", O_RDONLY, &f), 0);
	medfs_file_release(f);
	ck_assert_uint_le(resident_pages(host, &pages), pages / 2);

	ck_assert_int_eq(medfs_file_open(V, "/db", O_RDWR, &f), 0);
	for (int i = 0; i < 500 && (n = resident_pages(host, &pages)) < pages; i++)
		usleep(10000);
	ck_assert_uint_eq(n, pages);
	medfs_file_release(f);
	ck_assert_int_eq(check_file("/db", data, len), 0);
}
END_TEST

START_TEST(test_open_config_cipher)
{
	uint32_t other = cipher == MEDFS_CIPHER_AES256GCM ? MEDFS_CIPHER_XCHACHA20POLY1305
							  : MEDFS_CIPHER_AES256GCM;
	struct medfs_vault *v2 = NULL;
	struct medfs_config c;
	struct medfs_file *f;
	char host[PATH_MAX], path[PATH_MAX + 32];
	uint8_t buf[16], nonce_field[MEDFS_BLOCK_NONCE_LEN], *wrong;
	int fd;

	ck_assert_int_eq(put("/f", "contents", 8), 0);
	/* No config: the vault cannot know its cipher. */
	ck_assert_int_eq(medfs_vault_open(&v2, vdir, vkey), -ENOENT);
	medfs_config_init(&c, cipher);
	ck_assert_int_eq(medfs_config_save(vdir, &c, vkey), 0);
	ck_assert_int_eq(medfs_vault_open(&v2, vdir, vkey), 0);
	ck_assert_int_eq(medfs_file_open(v2, "/f", O_RDONLY, &f), 0);
	ck_assert_int_eq(medfs_file_read(f, buf, sizeof(buf), 0), 8);
	ck_assert_mem_eq(buf, "contents", 8);
	medfs_file_release(f);
	medfs_vault_close(v2);
	v2 = NULL;
	/* The nonce field tells the ciphers apart on disk. */
	ck_assert_int_eq(vault_path_of("/f", host, sizeof(host)), 0);
	fd = open(host, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, nonce_field, sizeof(nonce_field), MEDFS_HEADER_LEN),
			 (ssize_t)sizeof(nonce_field));
	close(fd);
	ck_assert_int_eq(
		sodium_is_zero(nonce_field + MEDFS_BLOCK_AES_NONCE_LEN,
			       MEDFS_BLOCK_NONCE_LEN - MEDFS_BLOCK_AES_NONCE_LEN),
		cipher == MEDFS_CIPHER_AES256GCM);
	/* A config saying the other cipher: the blocks fail to open. */
	if (medfs_block_cipher_check(other) == 0) {
		hook_reset();
		medfs_config_init(&c, other);
		ck_assert_int_eq(medfs_config_save(vdir, &c, vkey), 0);
		ck_assert_int_eq(medfs_vault_open(&v2, vdir, vkey), 0);
		medfs_vault_set_integrity_hook(v2, hook, &hk);
		ck_assert_int_eq(medfs_file_open(v2, "/f", O_RDONLY, &f), 0);
		ck_assert_int_eq(medfs_file_read(f, buf, sizeof(buf), 0), -EBADMSG);
		ck_assert_int_eq(hk.calls, 1);
		medfs_file_release(f);
		medfs_vault_close(v2);
		v2 = NULL;
	}
	/* A config under another key does not authenticate. */
	wrong = medfs_secret_alloc(MEDFS_KEY_LEN);
	ck_assert_ptr_nonnull(wrong);
	randombytes_buf(wrong, MEDFS_KEY_LEN);
	medfs_config_init(&c, cipher);
	ck_assert_int_eq(medfs_config_save(vdir, &c, wrong), 0);
	ck_assert_int_eq(medfs_vault_open(&v2, vdir, vkey), -EBADMSG);
	ck_assert_ptr_null(v2);
	medfs_secret_free(wrong);
	snprintf(path, sizeof(path), "%s/%s", vdir, MEDFS_CONFIG_NAME);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%s", vdir, MEDFS_CONFIG_BACKUP_NAME);
	unlink(path);
}
END_TEST

START_TEST(test_statfs_attrs)
{
	struct statvfs sv;
	struct stat st;
	struct timespec tv[2] = { { 1000000000, 5 }, { 1200000000, 7 } };

	ck_assert_int_eq(medfs_vault_statfs(V, &sv), 0);
	ck_assert_uint_eq(sv.f_namemax, MEDFS_NAME_MAX);
	ck_assert_int_eq(put("/f", "x", 1), 0);
	ck_assert_int_eq(medfs_vault_utimens(V, "/f", tv), 0);
	ck_assert_int_eq(medfs_vault_getattr(V, "/f", &st), 0);
	ck_assert_int_eq(st.st_mtim.tv_sec, 1200000000);
	ck_assert_int_eq(st.st_atim.tv_sec, 1000000000);
	ck_assert_int_eq(medfs_vault_chown(V, "/f", getuid(), getgid()), 0);
	ck_assert_int_eq(medfs_vault_chown(V, "/f", (uid_t)-1, (gid_t)-1), 0);
	ck_assert_int_eq(medfs_vault_chmod(V, "/", 0711), 0);
	ck_assert_int_eq(medfs_vault_getattr(V, "/", &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0711);
	ck_assert_int_eq(medfs_vault_chmod(V, "/", 0700), 0);
}
END_TEST

/* ================= concurrency ================= */

/* vault.h: "All functions are safe to call from several threads at once."
 * Readers racing with a rename or an rmdir must see the old or the new
 * state, never an integrity failure, and nothing may get lost. Threads
 * only count; the assertions are made by the test thread. */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct race {
	atomic_int stop; /* set by the thread that ends the race */
	int iterations;
	long ok, noent, badmsg, other;
	long lost, errors;
};

static void race_count(struct race *rc, long r, long ok_value)
{
	if (r == ok_value)
		__atomic_add_fetch(&rc->ok, 1, __ATOMIC_RELAXED);
	else if (r == -ENOENT)
		__atomic_add_fetch(&rc->noent, 1, __ATOMIC_RELAXED);
	else if (r == -EBADMSG)
		__atomic_add_fetch(&rc->badmsg, 1, __ATOMIC_RELAXED);
	else
		__atomic_add_fetch(&rc->other, 1, __ATOMIC_RELAXED);
}

static void *rename_dirs(void *arg)
{
	struct race *rc = arg;
	double end = now() + 2.0;

	for (int i = 0; i < 1000 && now() < end; i++) {
		if (medfs_vault_rename(V, i % 2 ? "/e" : "/d", i % 2 ? "/d" : "/e", 0))
			rc->errors++;
		rc->iterations++;
	}
	rc->stop = 1;
	return NULL;
}

static void *look_below(void *arg)
{
	struct race *rc = arg;

	while (!rc->stop) {
		struct stat st;

		race_count(rc, medfs_vault_getattr(V, "/d/x", &st), 0);
		race_count(rc, medfs_vault_getattr(V, "/e/x", &st), 0);
	}
	return NULL;
}

START_TEST(test_race_rename_dir_lookup)
{
	struct race rc = { 0 };
	pthread_t a, b;

	ck_assert_int_eq(medfs_vault_mkdir(V, "/d", 0700, NULL), 0);
	ck_assert_int_eq(put("/d/x", "x", 1), 0);
	ck_assert_int_eq(pthread_create(&b, NULL, look_below, &rc), 0);
	ck_assert_int_eq(pthread_create(&a, NULL, rename_dirs, &rc), 0);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	ck_assert_int_eq(rc.errors, 0);
	ck_assert_int_gt(rc.ok, 0);
	ck_assert_msg(
		rc.badmsg == 0 && rc.other == 0 && hk.calls == 0,
		"lookups below a directory being renamed: %ld -EBADMSG, %ld other "
		"errors, %d integrity reports (and %ld ok, %ld -ENOENT) in %d renames",
		rc.badmsg, rc.other, hk.calls, rc.ok, rc.noent, rc.iterations);
	ck_assert_int_eq(check_str(rc.iterations % 2 ? "/e/x" : "/d/x", "x"), 0);
}
END_TEST

static void *rename_objects(void *arg)
{
	struct race *rc = arg;
	double end = now() + 2.0;

	for (int i = 0; i < 1000 && now() < end; i++) {
		if (medfs_vault_rename(V, i % 2 ? "/b" : "/a", i % 2 ? "/a" : "/b", 0) ||
		    medfs_vault_rename(V, i % 2 ? "/lb" : "/la", i % 2 ? "/la" : "/lb",
				       0))
			rc->errors++;
		rc->iterations++;
	}
	rc->stop = 1;
	return NULL;
}

static void *look_objects(void *arg)
{
	struct race *rc = arg;
	char buf[16];

	while (!rc->stop) {
		race_count(rc, medfs_vault_getxattr(V, "/a", "user.k", buf, sizeof(buf)),
			   1);
		race_count(rc, medfs_vault_getxattr(V, "/b", "user.k", buf, sizeof(buf)),
			   1);
		race_count(rc, medfs_vault_readlink(V, "/la", buf, sizeof(buf)), 0);
		race_count(rc, medfs_vault_readlink(V, "/lb", buf, sizeof(buf)), 0);
	}
	return NULL;
}

START_TEST(test_race_rename_file_link)
{
	struct race rc = { 0 };
	pthread_t a, b;

	ck_assert_int_eq(put("/a", "x", 1), 0);
	ck_assert_int_eq(medfs_vault_setxattr(V, "/a", "user.k", "v", 1, 0), 0);
	ck_assert_int_eq(medfs_vault_symlink(V, "target", "/la", NULL), 0);
	ck_assert_int_eq(pthread_create(&b, NULL, look_objects, &rc), 0);
	ck_assert_int_eq(pthread_create(&a, NULL, rename_objects, &rc), 0);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	ck_assert_int_eq(rc.errors, 0);
	ck_assert_msg(
		rc.badmsg == 0 && rc.other == 0 && hk.calls == 0,
		"getxattr/readlink of files and links being renamed: %ld -EBADMSG, "
		"%ld other errors, %d integrity reports (and %ld ok, %ld -ENOENT) in "
		"%d renames",
		rc.badmsg, rc.other, hk.calls, rc.ok, rc.noent, rc.iterations);
}
END_TEST

static void *look_d(void *arg)
{
	struct race *rc = arg;

	while (!rc->stop) {
		struct stat st;

		/* /d/x never exists: 0 is as wrong as -EBADMSG. */
		race_count(rc, medfs_vault_getattr(V, "/d/x", &st), 0);
	}
	return NULL;
}

START_TEST(test_race_mkdir_rmdir)
{
	struct race rc = { 0 };
	pthread_t b, c;
	double end = now() + 3.0;
	int first_lost = -1, iterations = 0;

	ck_assert_int_eq(pthread_create(&b, NULL, look_d, &rc), 0);
	ck_assert_int_eq(pthread_create(&c, NULL, look_d, &rc), 0);
	for (int i = 0; i < 3000 && now() < end; i++) {
		struct stat st;

		if (medfs_vault_mkdir(V, "/d", 0700, NULL) || put("/d/y", "y", 1)) {
			rc.errors++;
			break;
		}
		/* Some other directory's removal empties the cache: a fresh
		 * lookup of the file must find it. */
		if (medfs_vault_mkdir(V, "/other", 0700, NULL) ||
		    medfs_vault_rmdir(V, "/other")) {
			rc.errors++;
			break;
		}
		if (medfs_vault_getattr(V, "/d/y", &st) != 0) {
			rc.lost++;
			first_lost = i;
			break;
		}
		if (medfs_vault_unlink(V, "/d/y") || medfs_vault_rmdir(V, "/d")) {
			rc.errors++;
			break;
		}
		iterations++;
	}
	rc.stop = 1;
	pthread_join(b, NULL);
	pthread_join(c, NULL);
	ck_assert_msg(rc.lost == 0 && rc.badmsg == 0 && rc.ok == 0 && rc.other == 0,
		      "mkdir/create/rmdir of /d with concurrent lookups of /d/x: file "
		      "created in the new /d lost at iteration %d (-1: none); lookups: "
		      "%ld -EBADMSG, %ld found, %ld other errors (%ld -ENOENT); %d "
		      "integrity reports; %d iterations",
		      first_lost, rc.badmsg, rc.ok, rc.other, rc.noent, hk.calls,
		      iterations);
	ck_assert_int_eq(rc.errors, 0);
	ck_assert_int_eq(hk.calls, 0);
}
END_TEST

static volatile int create_cur = -1;

static void *create_files(void *arg)
{
	struct race *rc = arg;
	double end = now() + 2.0;
	char p[32];

	for (int i = 0; i < 2000 && now() < end; i++) {
		struct medfs_file *f;

		snprintf(p, sizeof(p), "/f%d", i);
		__atomic_store_n(&create_cur, i, __ATOMIC_RELEASE);
		if (medfs_file_create(V, p, O_RDWR | O_CREAT | O_EXCL, 0600, NULL, &f) ==
		    0)
			medfs_file_release(f);
		else
			rc->errors++;
		rc->iterations++;
	}
	rc->stop = 1;
	return NULL;
}

static void *open_files(void *arg)
{
	struct race *rc = arg;
	char p[32];

	while (!rc->stop) {
		struct medfs_file *f;
		int r;

		snprintf(p, sizeof(p), "/f%d",
			 __atomic_load_n(&create_cur, __ATOMIC_ACQUIRE));
		r = medfs_file_open(V, p, O_RDONLY, &f);
		if (r == 0)
			medfs_file_release(f);
		race_count(rc, r, 0);
	}
	return NULL;
}

START_TEST(test_race_create_open)
{
	struct race rc = { 0 };
	pthread_t a, b;

	ck_assert_int_eq(pthread_create(&b, NULL, open_files, &rc), 0);
	ck_assert_int_eq(pthread_create(&a, NULL, create_files, &rc), 0);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	ck_assert_int_eq(rc.errors, 0);
	ck_assert_msg(rc.badmsg == 0 && rc.other == 0 && hk.calls == 0,
		      "opens of a file being created: %ld -EBADMSG, %ld other errors, %d "
		      "integrity reports (and %ld ok, %ld -ENOENT) in %d creates",
		      rc.badmsg, rc.other, hk.calls, rc.ok, rc.noent, rc.iterations);
}
END_TEST

/* ================= durability ================= */

/* No entry of the vault directory dir (below the tree) is a leftover
 * temporary. */
static void assert_no_leftover(const char *dir)
{
	char path[PATH_MAX * 2];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s%s%s", vdir, MEDFS_TREE_NAME,
		 dir[0] ? "/" : "", dir);
	d = opendir(path);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)))
		ck_assert_msg(strncmp(de->d_name, ".tmp-", 5) != 0 &&
				      strcmp(de->d_name, ".medfs-dir.tmp") != 0,
			      "leftover %s", de->d_name);
	closedir(d);
}

/* fsyncdir reaches the disk: the vault directory and its header. */
START_TEST(test_fsyncdir)
{
	char tree[PATH_MAX + 16];
	struct stat st;
	int dirs = 0;

	ck_assert_int_eq(medfs_vault_mkdir(V, "/d", 0700, NULL), 0);
	ck_assert_int_eq(put("/d/f", "data", 4), 0);
	sync_reset();
	ck_assert_int_eq(medfs_vault_fsyncdir(V, "/d", 0), 0);
	ck_assert_int_eq(nsynced, 2);
	ck_assert_int_eq(synced_ending("/" MEDFS_DIR_HEADER_NAME), 1);
	for (int i = 0; i < nsynced; i++)
		if (stat(synced[i], &st) == 0 && S_ISDIR(st.st_mode) &&
		    strncmp(synced[i], vdir, strlen(vdir)) == 0)
			dirs++;
	ck_assert_int_eq(dirs, 1);

	/* The root: the tree itself. */
	sync_reset();
	ck_assert_int_eq(medfs_vault_fsyncdir(V, "/", 1), 0);
	snprintf(tree, sizeof(tree), "%s/%s", vdir, MEDFS_TREE_NAME);
	ck_assert_int_eq(synced_ending(tree), 1);
	ck_assert_int_eq(synced_ending(MEDFS_TREE_NAME "/" MEDFS_DIR_HEADER_NAME), 1);
	sync_reset();
}
END_TEST

/* Each failure of fsyncdir comes back: a missing directory, a file, and
 * a disk that fails the sync of the header or of the directory. */
START_TEST(test_fsyncdir_errors)
{
	ck_assert_int_eq(medfs_vault_mkdir(V, "/d", 0700, NULL), 0);
	ck_assert_int_eq(put("/d/f", "data", 4), 0);
	sync_reset();
	ck_assert_int_eq(medfs_vault_fsyncdir(V, "/nope", 0), -ENOENT);
	ck_assert_int_eq(medfs_vault_fsyncdir(V, "/d/f", 0), -ENOTDIR);
	sync_fail = "/" MEDFS_DIR_HEADER_NAME;
	ck_assert_int_eq(medfs_vault_fsyncdir(V, "/d", 0), -EIO);
	ck_assert_int_eq(medfs_vault_fsyncdir(V, "/", 1), -EIO);
	sync_reset();
	sync_fail_all = true;
	ck_assert_int_eq(medfs_vault_fsyncdir(V, "/d", 1), -EIO);
	sync_reset();
	ck_assert_int_eq(medfs_vault_fsyncdir(V, "/d", 0), 0);
}
END_TEST

/* A directory header, and a long name's sidecar, are synced before the
 * rename that publishes them; when that sync fails, nothing is published
 * and nothing is left behind. A failed fsync of a file comes back too. */
START_TEST(test_sync_before_publish)
{
	char longname[256];
	struct medfs_file *f;
	struct stat st;

	sync_reset();
	ck_assert_int_eq(medfs_vault_mkdir(V, "/d", 0700, NULL), 0);
	ck_assert_int_eq(synced_ending(".tmp"), 1); /* its header, before the rename */
	sync_fail = ".tmp";
	ck_assert_int_eq(medfs_vault_mkdir(V, "/e", 0700, NULL), -EIO);
	ck_assert_int_eq(medfs_vault_getattr(V, "/e", &st), -ENOENT);
	assert_no_leftover("");

	/* A long name (past MEDFS_NAME_MAX_SHORT bytes encrypted) has a
	 * sidecar. */
	sync_reset();
	memset(longname, 'n', sizeof(longname));
	longname[0] = '/';
	longname[200] = '\0';
	ck_assert_int_eq(medfs_file_create(V, longname, O_RDWR, 0600, NULL, &f), 0);
	medfs_file_release(f);
	ck_assert_int_eq(synced_ending(MEDFS_LONGNAME_SUFFIX), 1);
	longname[1] = 'm';
	sync_fail = MEDFS_LONGNAME_SUFFIX;
	ck_assert_int_eq(medfs_file_create(V, longname, O_RDWR, 0600, NULL, &f), -EIO);
	ck_assert_int_eq(medfs_vault_getattr(V, longname, &st), -ENOENT);
	ck_assert_int_eq(medfs_vault_mkdir(V, longname, 0700, NULL), -EIO);
	ck_assert_int_eq(medfs_vault_getattr(V, longname, &st), -ENOENT);
	assert_no_leftover("");

	sync_reset();
	ck_assert_int_eq(put("/d/f", "data", 4), 0);
	ck_assert_int_eq(medfs_file_open(V, "/d/f", O_RDWR, &f), 0);
	sync_fail_all = true;
	ck_assert_int_eq(medfs_file_fsync(f, 0), -EIO);
	ck_assert_int_eq(medfs_file_fsync(f, 1), -EIO);
	sync_reset();
	ck_assert_int_eq(medfs_file_fsync(f, 0), 0);
	medfs_file_release(f);
}
END_TEST

/* ================= deep trees, FIFOs and sockets ================= */

/* Counts the entries of the vault directory open at dfd, hidden ones
 * included; only_dir (when not NULL) gets the name of a directory among
 * them, "" when there is none. */
static int count_entries(int dfd, char *only_dir, size_t size)
{
	int fd = dup(dfd), n = 0;
	struct dirent *de;
	DIR *d;

	ck_assert_int_ge(fd, 0);
	d = fdopendir(fd);
	ck_assert_ptr_nonnull(d);
	rewinddir(d);
	if (only_dir)
		only_dir[0] = '\0';
	while ((de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n++;
		if (only_dir && fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode))
			snprintf(only_dir, size, "%s", de->d_name);
	}
	closedir(d);
	return n;
}

/* Opens the deepest vault directory of a tree that is one chain of
 * directories, a level at a time (its vault path is far beyond PATH_MAX);
 * *levels gets the number of directories below the tree. */
static int open_chain_bottom(int *levels)
{
	char sub[NAME_MAX + 1];
	int fd = open(tree_dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	*levels = 0;
	for (;;) {
		int next;

		count_entries(fd, sub, sizeof(sub));
		if (!sub[0])
			return fd;
		next = openat(fd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		ck_assert_int_ge(next, 0);
		close(fd);
		fd = next;
		(*levels)++;
	}
}

/* path with "/name" appended, in out. */
static const char *child_of(char *out, size_t size, const char *path, const char *name)
{
	ck_assert_int_lt(snprintf(out, size, "%s/%s", path, name), (int)size);
	return out;
}

/* A chain of directories of 15-byte names down to plaintext PATH_MAX:
 * every operation works at the bottom, whose vault path is some 11 KiB
 * long (15-byte names are 43 bytes in the vault); what would reach
 * PATH_MAX is refused with ENAMETOOLONG and leaves nothing behind;
 * everything can be removed again, down to an empty tree. */
START_TEST(test_deep_tree)
{
	const int depth = (PATH_MAX - 1 - 3) / 16; /* 16-byte levels, then "/aaa...a" */
	const size_t sz = PATH_MAX + 64;
	char *path = talloc(sz), *p = talloc(sz), *q = talloc(sz);
	struct medfs_owner o = { (uid_t)-1, (gid_t)-1 };
	struct medfs_file *f;
	struct names ns;
	struct stat st;
	char buf[64];
	size_t len = 0;
	int fd, levels;

	for (int i = 0; i < depth; i++) {
		memcpy(path + len, "/aaaaaaaaaaaaaaa", 17);
		len += 16;
		ck_assert_int_eq(medfs_vault_mkdir(V, path, 0750, NULL), 0);
	}
	memcpy(path + len, "/aaaaaaaaaaa", 13); /* 255 * 16 + 12 = 4092 */
	len += 12;
	ck_assert_int_eq(medfs_vault_mkdir(V, path, 0750, NULL), 0);
	ck_assert_int_eq(len, PATH_MAX - 1 - 3); /* 4092: "/xy" still fits */
	fd = open_chain_bottom(&levels);
	ck_assert_int_eq(levels, depth + 1);
	ck_assert_int_eq(count_entries(fd, NULL, 0), 1); /* its header */

	/* Files, xattrs, symlinks, FIFOs, renames at the bottom. */
	ck_assert_int_eq(put(child_of(p, sz, path, "f"), "deep", 4), 0);
	ck_assert_int_eq(check_str(p, "deep"), 0);
	ck_assert_int_eq(medfs_vault_setxattr(V, p, "user.k", "v", 1, 0), 0);
	ck_assert_int_eq(medfs_vault_getxattr(V, p, "user.k", buf, sizeof(buf)), 1);
	ck_assert_int_eq(buf[0], 'v');
	ck_assert_int_eq(medfs_vault_rename(V, p, child_of(q, sz, path, "g"), 0), 0);
	ck_assert_int_eq(check_str(q, "deep"), 0);
	ck_assert_int_eq(medfs_vault_symlink(V, "target", child_of(p, sz, path, "l"), &o),
			 0);
	ck_assert_int_eq(medfs_vault_readlink(V, p, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "target");
	ck_assert_int_eq(medfs_vault_mknod(V, child_of(p, sz, path, "p"), S_IFIFO | 0600,
					   NULL),
			 0);
	ck_assert_int_eq(medfs_vault_chmod(V, p, 0640), 0);
	ck_assert_int_eq(medfs_vault_getattr(V, p, &st), 0);
	ck_assert(S_ISFIFO(st.st_mode));
	ck_assert_int_eq(st.st_mode & 07777, 0640);
	ck_assert_int_eq(medfs_vault_getattr(V, path, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(medfs_vault_fsyncdir(V, path, 0), 0);
	/* A plaintext path of PATH_MAX - 1 bytes still fits. */
	ck_assert_int_eq(medfs_vault_mkdir(V, child_of(p, sz, path, "xy"), 0700, NULL), 0);
	ck_assert_int_eq(strlen(p), PATH_MAX - 1);
	ck_assert_int_eq(medfs_vault_rmdir(V, p), 0);

	/* One byte more is refused, whatever would make it, and leaves
	 * nothing in the vault. */
	ck_assert_int_eq(count_entries(fd, NULL, 0), 4); /* header, g, l, p */
	child_of(p, sz, path, "xyz");
	ck_assert_int_eq(strlen(p), PATH_MAX);
	ck_assert_int_eq(medfs_vault_mkdir(V, p, 0700, NULL), -ENAMETOOLONG);
	ck_assert_int_eq(medfs_file_create(V, p, O_RDWR | O_CREAT, 0600, NULL, &f),
			 -ENAMETOOLONG);
	ck_assert_int_eq(medfs_vault_symlink(V, "t", p, NULL), -ENAMETOOLONG);
	ck_assert_int_eq(medfs_vault_mknod(V, p, S_IFIFO | 0600, NULL), -ENAMETOOLONG);
	ck_assert_int_eq(medfs_vault_mknod(V, p, S_IFSOCK | 0600, NULL), -ENAMETOOLONG);
	ck_assert_int_eq(medfs_vault_rename(V, q, p, 0), -ENAMETOOLONG);
	ck_assert_int_eq(count_entries(fd, NULL, 0), 4);
	ck_assert_int_eq(list_dir(path, &ns), 0);
	ck_assert_int_eq(ns.n, 3);
	ck_assert_int_ge(names_find(&ns, "g"), 0);
	ck_assert_int_ge(names_find(&ns, "l"), 0);
	ck_assert_int_ge(names_find(&ns, "p"), 0);

	/* A fresh vault (no cache) finds them all again. */
	ck_assert_int_eq(vault_open_again(), 0);
	ck_assert_int_eq(check_str(q, "deep"), 0);

	/* Everything goes, down to the root's header alone. */
	ck_assert_int_eq(medfs_vault_unlink(V, q), 0);
	ck_assert_int_eq(medfs_vault_unlink(V, child_of(p, sz, path, "l")), 0);
	ck_assert_int_eq(medfs_vault_unlink(V, child_of(p, sz, path, "p")), 0);
	ck_assert_int_eq(count_entries(fd, NULL, 0), 1);
	close(fd);
	ck_assert_int_eq(medfs_vault_rmdir(V, path), 0);
	len -= 12;
	path[len] = '\0';
	for (int i = 0; i < depth; i++) {
		ck_assert_int_eq(medfs_vault_rmdir(V, path), 0);
		len -= 16;
		path[len] = '\0';
	}
	fd = open(tree_dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(count_entries(fd, NULL, 0), 1);
	close(fd);
	ck_assert_int_eq(hk.calls, 0);
}
END_TEST

/* A directory moved below another tree may end up deeper than PATH_MAX:
 * what is in it can still be read and removed. */
START_TEST(test_deep_rename)
{
	const int depth = 150, below = 125; /* 2,400 + 2,000 plaintext bytes */
	const size_t sz = 2 * PATH_MAX;
	char *path = talloc(sz), *p = talloc(sz);
	size_t len = 0;

	for (int i = 0; i < depth; i++) {
		memcpy(path + len, "/bbbbbbbbbbbbbbb", 17);
		len += 16;
		ck_assert_int_eq(medfs_vault_mkdir(V, path, 0700, NULL), 0);
	}
	ck_assert_int_eq(medfs_vault_mkdir(V, "/m", 0700, NULL), 0);
	snprintf(p, sz, "/m");
	for (int i = 0; i < below; i++) {
		strcat(p, "/ccccccccccccccc");
		ck_assert_int_eq(medfs_vault_mkdir(V, p, 0700, NULL), 0);
	}
	ck_assert_int_eq(put(child_of(path + len, sz - len, p, "f"), "moved", 5), 0);
	memcpy(path + len, "/m", 3);
	ck_assert_int_eq(medfs_vault_rename(V, "/m", path, 0), 0);
	/* path/c/c/.../c/f: beyond PATH_MAX in plaintext too. */
	snprintf(p, sz, "%s", path);
	for (int i = 0; i < below; i++)
		strcat(p, "/ccccccccccccccc");
	strcat(p, "/f");
	ck_assert_int_gt(strlen(p), PATH_MAX);
	ck_assert_int_eq(check_str(p, "moved"), 0);
	ck_assert_int_eq(medfs_vault_unlink(V, p), 0);
	p[strlen(p) - 2] = '\0'; /* "/f" */
	for (int i = 0; i < below; i++) {
		ck_assert_int_eq(medfs_vault_rmdir(V, p), 0);
		p[strlen(p) - 16] = '\0';
	}
	ck_assert_int_eq(medfs_vault_rmdir(V, path), 0); /* the moved m */
	ck_assert_int_eq(hk.calls, 0);
}
END_TEST

/* Opens the vault object at vpath (relative to the vault directory, as
 * the hook names it) a component at a time, since a vault path deep in a
 * tree is far beyond PATH_MAX. Returns an fd or -errno. */
static int open_vpath(const char *vpath, int flags)
{
	int fd = open(vdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	const char *p = vpath;

	if (fd < 0)
		return -errno;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		char name[NAME_MAX + 1];
		int next, e;

		if (n == 0 || n > NAME_MAX) {
			close(fd);
			return -EINVAL;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		next = openat(fd, name,
			      (slash ? O_RDONLY | O_DIRECTORY : flags) | O_NOFOLLOW | O_CLOEXEC);
		e = errno;
		close(fd);
		if (next < 0)
			return -e;
		if (!slash)
			return next;
		fd = next;
		p = slash + 1;
	}
}

/* Whether the hook's last report names, in full, the vault file open at fd;
 * and the log, the same path (relative to the tree). */
static bool reported_in_full(int fd)
{
	struct stat a, b;
	int vfd = open_vpath(hk.vpath, O_RDONLY);
	bool same;

	if (vfd < 0)
		return false;
	same = fstat(fd, &a) == 0 && fstat(vfd, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
	close(vfd);
	return same && strncmp(hk.vpath, "tree/", 5) == 0 && strstr(logbuf, hk.vpath + 5);
}

/* An integrity failure of a file at the bottom of a tree near plaintext
 * PATH_MAX (a vault path of some 11 KiB) is reported with its vault path in
 * full, by the hook and in the log; still so once a directory above it and
 * the file itself are renamed while it is open. */
START_TEST(test_deep_report)
{
	const int depth = (PATH_MAX - 1 - 3) / 16;
	const size_t sz = PATH_MAX + 64;
	char *path = talloc(sz), *p = talloc(sz), *q = talloc(sz);
	char entry[NAME_MAX + 1] = "";
	struct medfs_file *f;
	struct dirent *de;
	uint8_t *data, c;
	size_t len = 0;
	int dfd, vfd, levels;
	DIR *d;

	for (int i = 0; i < depth; i++) {
		memcpy(path + len, "/aaaaaaaaaaaaaaa", 17);
		len += 16;
		ck_assert_int_eq(medfs_vault_mkdir(V, path, 0700, NULL), 0);
	}
	data = make_victim(child_of(p, sz, path, "f"), 7);
	dfd = open_chain_bottom(&levels);
	ck_assert_int_eq(levels, depth);
	d = fdopendir(dup(dfd));
	ck_assert_ptr_nonnull(d);
	rewinddir(d); /* the offset is shared with dfd's, at its end */
	while ((de = readdir(d)))
		if (de->d_type == DT_REG && strcmp(de->d_name, MEDFS_DIR_HEADER_NAME))
			snprintf(entry, sizeof(entry), "%s", de->d_name);
	closedir(d);
	ck_assert_str_ne(entry, "");
	vfd = openat(dfd, entry, O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(vfd, 0);
	ck_assert_int_eq(pread(vfd, &c, 1, MEDFS_HEADER_LEN + DBLK + 100), 1);
	c ^= 0x10;
	ck_assert_int_eq(pwrite(vfd, &c, 1, MEDFS_HEADER_LEN + DBLK + 100), 1);

	ck_assert_int_eq(medfs_file_open(V, p, O_RDONLY, &f), 0);
	hook_reset();
	ck_assert_int_eq(read_at(f, BLK, BLK, data), -EBADMSG);
	ck_assert_int_eq(hk.calls, 1);
	ck_assert_int_gt(strlen(hk.vpath), 2 * PATH_MAX);
	ck_assert(reported_in_full(vfd));

	/* Its top directory renamed while it is open. */
	ck_assert_int_eq(medfs_vault_rename(V, "/aaaaaaaaaaaaaaa", "/bbbbbbbbbbbbbbb", 0), 0);
	memset(path + 1, 'b', 15);
	memset(p + 1, 'b', 15);
	hook_reset();
	loglen = 0;
	logbuf[0] = '\0';
	ck_assert_int_eq(read_at(f, BLK, BLK, data), -EBADMSG);
	ck_assert_int_eq(hk.calls, 1);
	ck_assert(reported_in_full(vfd));
	/* The file itself renamed while it is open. */
	ck_assert_int_eq(medfs_vault_rename(V, p, child_of(q, sz, path, "g"), 0), 0);
	hook_reset();
	loglen = 0;
	logbuf[0] = '\0';
	ck_assert_int_eq(read_at(f, BLK, BLK, data), -EBADMSG);
	ck_assert_int_eq(hk.calls, 1);
	ck_assert(reported_in_full(vfd));
	medfs_file_release(f);
	close(vfd);
	close(dfd);

	ck_assert_int_eq(medfs_vault_unlink(V, q), 0);
	for (int i = 0; i < depth; i++) {
		ck_assert_int_eq(medfs_vault_rmdir(V, path), 0);
		len -= 16;
		path[len] = '\0';
	}
}
END_TEST

/* FIFOs and sockets: entries of their type under the encrypted name, with
 * their mode and owner; device nodes are refused. */
START_TEST(test_mknod)
{
	struct medfs_owner o = { 1234, 5678 };
	char longname[202], buf[16];
	struct medfs_file *f;
	struct names ns;
	struct stat st;

	ck_assert_int_eq(medfs_vault_mknod(V, "/fifo", S_IFIFO | 0640, &o), 0);
	ck_assert_int_eq(medfs_vault_mknod(V, "/sock", S_IFSOCK | 0755, NULL), 0);
	ck_assert_int_eq(medfs_vault_mknod(V, "/fifo", S_IFIFO | 0640, NULL), -EEXIST);
	ck_assert_int_eq(medfs_vault_mknod(V, "/chr", S_IFCHR | 0600, NULL), -EPERM);
	ck_assert_int_eq(medfs_vault_mknod(V, "/blk", S_IFBLK | 0600, NULL), -EPERM);
	ck_assert_int_eq(medfs_vault_mknod(V, "/dir", S_IFDIR | 0600, NULL), -EINVAL);
	ck_assert_int_eq(medfs_vault_mknod(V, "/reg", S_IFREG | 0604, NULL), 0);
	ck_assert_int_eq(check_str("/reg", ""), 0);
	ck_assert_int_eq(medfs_vault_mknod(V, "/nope/fifo", S_IFIFO | 0600, NULL),
			 -ENOENT);

	ck_assert_int_eq(medfs_vault_getattr(V, "/fifo", &st), 0);
	ck_assert(S_ISFIFO(st.st_mode));
	ck_assert_int_eq(st.st_mode & 07777, 0640);
	if (geteuid() == 0) {
		ck_assert_int_eq(st.st_uid, 1234);
		ck_assert_int_eq(st.st_gid, 5678);
	}
	ck_assert_int_eq(medfs_vault_getattr(V, "/sock", &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(st.st_mode & 07777, 0755);
	ck_assert_int_eq(medfs_vault_getattr(V, "/reg", &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(st.st_mode & 07777, 0604);
	/* Names are encrypted, as for any entry. */
	ck_assert(!tree_has_name("fifo"));
	ck_assert(!tree_has_name("sock"));

	ck_assert_int_eq(list_dir("/", &ns), 0);
	ck_assert_int_eq(ns.n, 3);
	ck_assert(S_ISFIFO(ns.mode[names_find(&ns, "fifo")]));
	ck_assert(S_ISSOCK(ns.mode[names_find(&ns, "sock")]));

	/* No content: no open, no attributes, no integrity report. */
	ck_assert_int_ne(medfs_file_open(V, "/fifo", O_RDONLY | O_NONBLOCK, &f), 0);
	ck_assert_int_eq(medfs_vault_getxattr(V, "/fifo", "user.x", buf, sizeof(buf)),
			 -ENODATA);
	ck_assert_int_eq(medfs_vault_setxattr(V, "/sock", "user.x", "v", 1, 0), -ENOTSUP);

	/* Renamed (to another directory, to a long name), still there after
	 * a remount, removed. */
	memset(longname, 'n', sizeof(longname));
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	ck_assert_int_eq(medfs_vault_mkdir(V, "/d", 0700, NULL), 0);
	ck_assert_int_eq(medfs_vault_rename(V, "/fifo", "/d/fifo", 0), 0);
	ck_assert_int_eq(medfs_vault_rename(V, "/sock", longname, 0), 0);
	ck_assert_int_eq(count_suffix(tree_dir(), MEDFS_LONGNAME_SUFFIX), 1);
	ck_assert_int_eq(medfs_vault_rename(V, "/d/fifo", "/reg", RENAME_EXCHANGE), 0);
	ck_assert_int_eq(vault_open_again(), 0);
	ck_assert_int_eq(medfs_vault_getattr(V, "/reg", &st), 0);
	ck_assert(S_ISFIFO(st.st_mode));
	ck_assert_int_eq(check_str("/d/fifo", ""), 0);
	ck_assert_int_eq(medfs_vault_getattr(V, longname, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(medfs_vault_unlink(V, longname), 0);
	ck_assert_int_eq(count_suffix(tree_dir(), MEDFS_LONGNAME_SUFFIX), 0);
	ck_assert_int_eq(medfs_vault_unlink(V, "/reg"), 0);
	ck_assert_int_eq(medfs_vault_getattr(V, "/reg", &st), -ENOENT);
	ck_assert_int_eq(hk.calls, 0);
}
END_TEST

/* ================= runner ================= */

static Suite *vault_suite(const char *name)
{
	Suite *s = suite_create(name);
	TCase *tc;

#define TC(name)                                                                         \
	do {                                                                             \
		tc = tcase_create(name);                                                 \
		tcase_add_checked_fixture(tc, setup, teardown);                          \
		tcase_set_timeout(tc, 120);                                              \
		suite_add_tcase(s, tc);                                                  \
	} while (0)

	TC("io");
	tcase_add_test(tc, test_empty_file);
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_large_unaligned);
	tcase_add_test(tc, test_nonces_fresh);
	tcase_add_test(tc, test_write_past_eof);
	tcase_add_test(tc, test_overwrite_middle);
	tcase_add_test(tc, test_append);
	tcase_add_test(tc, test_truncate);
	tcase_add_test(tc, test_allocate);
	tcase_add_test(tc, test_bad_offsets);
	tcase_add_test(tc, test_holes);
	tcase_add_test(tc, test_failed_change_undone);
	tcase_add_test(tc, test_random_ops);

	TC("opens");
	tcase_add_test(tc, test_shared_opens);
	tcase_add_test(tc, test_create_open_flags);
	tcase_add_test(tc, test_setid_bits);

	TC("names");
	tcase_add_test(tc, test_mkdir_nested);
	tcase_add_test(tc, test_ancestors);
	tcase_add_test(tc, test_readdir_exact);
	tcase_add_test(tc, test_name_too_long);
	tcase_add_test(tc, test_missing_and_notdir);
	tcase_add_test(tc, test_rmdir_unlink);
	tcase_add_test(tc, test_statfs_attrs);

	TC("durability");
	tcase_add_test(tc, test_fsyncdir);
	tcase_add_test(tc, test_fsyncdir_errors);
	tcase_add_test(tc, test_sync_before_publish);

	TC("rename");
	tcase_add_test(tc, test_rename_file);
	tcase_add_test(tc, test_rename_dir);
	tcase_add_test(tc, test_rename_replace);
	tcase_add_test(tc, test_rename_exchange);
	tcase_add_test(tc, test_rename_long_names);
	tcase_add_test(tc, test_rename_open_file);

	TC("symlink");
	tcase_add_test(tc, test_symlink);

	TC("deep");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_deep_tree);
	tcase_add_test(tc, test_deep_rename);
	tcase_add_test(tc, test_deep_report);
	tcase_add_test(tc, test_mknod);

	TC("xattr");
	tcase_add_test(tc, test_xattr);
	tcase_add_test(tc, test_xattr_bounds);
	tcase_add_test(tc, test_meta);

	TC("integrity");
	tcase_add_test(tc, test_tamper_block);
	tcase_add_test(tc, test_tamper_large);
	tcase_add_test(tc, test_tamper_block_moved);
	tcase_add_test(tc, test_tamper_zero_block);
	tcase_add_test(tc, test_tamper_block_after_dir_rename);
	tcase_add_test(tc, test_tamper_header);
	tcase_add_test(tc, test_tamper_swap_files);
	tcase_add_test(tc, test_tamper_open_file_linked);
	tcase_add_test(tc, test_tamper_length);
	tcase_add_test(tc, test_grown_file);
	tcase_add_test(tc, test_tamper_dirs);
	tcase_add_test(tc, test_tamper_names_links);
	tcase_add_test(tc, test_tamper_xattr);
	tcase_add_test(tc, test_vault_key);
	tcase_add_test(tc, test_open_config_cipher);
	tcase_add_test(tc, test_warm_rdwr);

	TC("concurrency");
	tcase_add_test(tc, test_race_rename_dir_lookup);
	tcase_add_test(tc, test_race_rename_file_link);
	tcase_add_test(tc, test_race_mkdir_rmdir);
	tcase_add_test(tc, test_race_create_open);
#undef TC
	return s;
}

int main(void)
{
	static const uint32_t ciphers[] = { MEDFS_CIPHER_AES256GCM,
					    MEDFS_CIPHER_XCHACHA20POLY1305 };
	const char *tmp = getenv("TMPDIR");
	SRunner *sr;
	int failed;

	if (medfs_crypto_init() < 0)
		return EXIT_FAILURE;
	snprintf(base_dir, sizeof(base_dir), "%s/medfs-test-vault-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(base_dir)) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	failed = 0;
	for (size_t i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++) {
		char name[64];

		cipher = ciphers[i];

		if (medfs_block_cipher_check(cipher) < 0) {
			printf("vault: skipping %s (this CPU cannot run it)\n",
			       medfs_block_cipher_name(cipher));
			continue;
		}
		snprintf(name, sizeof(name), "vault %s", medfs_block_cipher_name(cipher));
		sr = srunner_create(vault_suite(name));
		srunner_run_all(sr, CK_NORMAL);
		failed += srunner_ntests_failed(sr);
		srunner_free(sr);
	}
	rm_tree(base_dir);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
