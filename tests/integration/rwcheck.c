/* rwcheck: data checks for the integration tests.
 *
 *   rwcheck random FILE REF SEED OPS MAXSIZE [prefill]
 *       Applies the same pseudo-random sequence of pwrite, pread, ftruncate,
 *       fstat and reopen (offsets up to MAXSIZE, lengths 1 byte..300 KiB) to
 *       FILE (under the mount) and REF (in a plain directory), comparing
 *       every read, then the whole contents, then again after a reopen.
 *       "prefill" first writes MAXSIZE bytes of data; "keep" starts from
 *       the files as they are (they must be equal).
 *   rwcheck write FILE SIZE SEED        O_WRONLY|O_CREAT|O_TRUNC, write(2) of
 *                                       the pattern in odd-sized pieces,
 *                                       fdatasync (Orthanc's way)
 *   rwcheck verify FILE SIZE SEED       read(2) and compare with the pattern
 *   rwcheck mmap-write FILE SIZE SEED   new file, ftruncate, MAP_SHARED store,
 *                                       msync, munmap, then verify by read(2)
 *   rwcheck mmap-update FILE SIZE OLD NEW
 *                                       maps an existing file shared, checks
 *                                       it holds OLD, stores NEW, msync
 *   rwcheck mmap-read FILE SIZE SEED    read-only MAP_SHARED and MAP_PRIVATE
 *                                       maps compared with the pattern
 *   rwcheck concurrent FILE WRITERS READERS REGION SEED
 *       WRITERS threads (one open each) write their own REGION-byte part of
 *       FILE in random pieces and order while READERS threads read random
 *       ranges and check every byte is either the old or the new value;
 *       two rounds (empty file -> gen 1 -> gen 2), then a full check.
 *   rwcheck append FILE ID COUNT RECSIZE   COUNT O_APPEND records
 *   rwcheck check-append FILE NPROC COUNT RECSIZE
 *
 * The pattern of a seed is a fixed function of (seed, offset). Exit status 0
 * when every check passed, 1 on a mismatch or error (with what, where). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_IO (300 * 1024)
#define BLK 4096

static void die(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "rwcheck: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint8_t pat(uint64_t seed, uint64_t off)
{
	return (uint8_t)(splitmix(seed * 0x100000001b3ULL ^ (off >> 3)) >>
			 ((off & 7) * 8));
}

static void pat_fill(uint8_t *buf, size_t len, uint64_t seed, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pat(seed, off + i);
}

/* First offset in buf (at file offset off) not matching the pattern, or -1. */
static int64_t pat_check(const uint8_t *buf, size_t len, uint64_t seed, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pat(seed, off + i))
			return (int64_t)(off + i);
	return -1;
}

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	r->s += 0x9e3779b97f4a7c15ULL;
	return splitmix(r->s);
}

static uint64_t rnd_below(struct rng *r, uint64_t n)
{
	return n ? rnd(r) % n : 0;
}

static int xopen(const char *path, int flags)
{
	int fd = open(path, flags, 0644);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	return fd;
}

/* pread until len bytes or end of file; dies on error. */
static size_t pread_full(int fd, void *buf, size_t len, off_t off, const char *what)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = pread(fd, (uint8_t *)buf + got, len - got, off + (off_t)got);
		if (r < 0)
			die("pread %s at %lld (+%zu): %s", what, (long long)off, got,
			    strerror(errno));
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return got;
}

static void pwrite_full(int fd, const void *buf, size_t len, off_t off, const char *what)
{
	size_t done = 0;
	while (done < len) {
		ssize_t r = pwrite(fd, (const uint8_t *)buf + done, len - done,
				   off + (off_t)done);
		if (r < 0)
			die("pwrite %s at %lld (+%zu): %s", what, (long long)off, done,
			    strerror(errno));
		if (r == 0)
			die("pwrite %s at %lld: wrote nothing", what, (long long)off);
		done += (size_t)r;
	}
}

static off_t fd_size(int fd, const char *what)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		die("fstat %s: %s", what, strerror(errno));
	return st.st_size;
}

/* ---- random ----------------------------------------------------------- */

#define HIST 16
static char history[HIST][96];
static unsigned long hist_n;

static void note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(history[hist_n % HIST], sizeof(history[0]), fmt, ap);
	va_end(ap);
	hist_n++;
}

static void dump_history(void)
{
	unsigned long i = hist_n > HIST ? hist_n - HIST : 0;
	fprintf(stderr, "rwcheck: last operations:\n");
	for (; i < hist_n; i++)
		fprintf(stderr, "  #%lu %s\n", i, history[i % HIST]);
}

static void mismatch(const char *fmt, ...)
{
	va_list ap;
	dump_history();
	fprintf(stderr, "rwcheck: MISMATCH: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static int64_t first_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return (int64_t)i;
	return -1;
}

static uint64_t pick_len(struct rng *r)
{
	switch (rnd_below(r, 4)) {
	case 0:
		return 1 + rnd_below(r, 16);
	case 1: {
		uint64_t l = (1 + rnd_below(r, 8)) * BLK + rnd_below(r, 3);
		return l - 1;
	}
	default:
		return 1 + rnd_below(r, MAX_IO);
	}
}

static uint64_t pick_off(struct rng *r, uint64_t size, uint64_t max)
{
	int64_t off;
	switch (rnd_below(r, 3)) {
	case 0: /* at, just before or just after a block boundary */
		off = (int64_t)(rnd_below(r, max / BLK + 1) * BLK + rnd_below(r, 3)) - 1;
		break;
	case 1: /* around the end of file */
		off = (int64_t)size + (int64_t)rnd_below(r, 10001) - 5000;
		break;
	default:
		off = (int64_t)rnd_below(r, max + 1);
	}
	if (off < 0)
		off = 0;
	if ((uint64_t)off > max)
		off = (int64_t)max;
	return (uint64_t)off;
}

static void compare_whole(int fm, int fr, const char *when)
{
	static uint8_t a[1 << 20], b[1 << 20];
	off_t sm = fd_size(fm, "file"), sr = fd_size(fr, "ref");
	if (sm != sr)
		mismatch("%s: size %lld, expected %lld", when, (long long)sm,
			 (long long)sr);
	for (off_t off = 0;; off += (off_t)sizeof(a)) {
		size_t na = pread_full(fm, a, sizeof(a), off, "file");
		size_t nb = pread_full(fr, b, sizeof(b), off, "ref");
		if (na != nb)
			mismatch("%s: read at %lld gave %zu bytes, expected %zu", when,
				 (long long)off, na, nb);
		int64_t d = first_diff(a, b, na);
		if (d >= 0)
			mismatch("%s: contents differ at offset %lld (got %02x, expected "
				 "%02x)",
				 when, (long long)(off + d), a[d], b[d]);
		if (na < sizeof(a))
			break;
	}
}

static int cmd_random(int argc, char **argv)
{
	if (argc != 7 && argc != 8)
		die("usage: random FILE REF SEED OPS MAXSIZE [prefill|keep]");
	const char *file = argv[2], *ref = argv[3];
	uint64_t seed = strtoull(argv[4], NULL, 0);
	unsigned long ops = strtoul(argv[5], NULL, 0);
	uint64_t max = strtoull(argv[6], NULL, 0);
	int prefill = argc == 8 && !strcmp(argv[7], "prefill");
	int keep = argc == 8 && !strcmp(argv[7], "keep");
	struct rng r = { seed };
	uint8_t *wbuf = malloc(MAX_IO), *ra = malloc(MAX_IO), *rb = malloc(MAX_IO);
	unsigned long nw = 0, nr = 0, nt = 0, no = 0;

	printf("rwcheck random: seed %" PRIu64 ", %lu operations, offsets up to %" PRIu64
	       "%s\n",
	       seed, ops, max,
	       prefill ? ", prefilled"
	       : keep  ? ", on the existing files"
		       : "");
	int fm = xopen(file, O_RDWR | O_CREAT | (keep ? 0 : O_TRUNC));
	int fr = xopen(ref, O_RDWR | O_CREAT | (keep ? 0 : O_TRUNC));
	uint64_t size = 0;

	if (keep) {
		compare_whole(fm, fr, "before starting");
		size = (uint64_t)fd_size(fr, "ref");
	}

	if (prefill) {
		static uint8_t big[1 << 20];
		for (uint64_t off = 0; off < max; off += sizeof(big)) {
			size_t n = max - off < sizeof(big) ? (size_t)(max - off)
							   : sizeof(big);
			for (size_t i = 0; i < n; i++)
				big[i] = (uint8_t)rnd(&r);
			note("prefill %" PRIu64 " +%zu", off, n);
			pwrite_full(fm, big, n, (off_t)off, "file");
			pwrite_full(fr, big, n, (off_t)off, "ref");
		}
		size = max;
		compare_whole(fm, fr, "after prefill");
	}

	for (unsigned long i = 0; i < ops; i++) {
		uint64_t k = rnd_below(&r, 100);
		if (k < 45) {
			uint64_t off = pick_off(&r, size, max), len = pick_len(&r);
			for (uint64_t j = 0; j < len; j++)
				wbuf[j] = (uint8_t)rnd(&r);
			note("pwrite off %" PRIu64 " len %" PRIu64, off, len);
			pwrite_full(fm, wbuf, len, (off_t)off, "file");
			pwrite_full(fr, wbuf, len, (off_t)off, "ref");
			if (off + len > size)
				size = off + len;
			nw++;
		} else if (k < 85) {
			uint64_t off = pick_off(&r, size, max), len = pick_len(&r);
			note("pread off %" PRIu64 " len %" PRIu64, off, len);
			size_t na = pread_full(fm, ra, len, (off_t)off, "file");
			size_t nb = pread_full(fr, rb, len, (off_t)off, "ref");
			if (na != nb)
				mismatch("op %lu: pread at %" PRIu64 " len %" PRIu64
					 " returned %zu bytes, expected %zu",
					 i, off, len, na, nb);
			int64_t d = first_diff(ra, rb, na);
			if (d >= 0)
				mismatch("op %lu: pread at %" PRIu64 " len %" PRIu64
					 ": byte at offset %" PRIu64
					 " is %02x, expected %02x",
					 i, off, len, off + (uint64_t)d, ra[d], rb[d]);
			nr++;
		} else if (k < 92) {
			uint64_t ns;
			if (rnd_below(&r, 10) == 0)
				ns = rnd_below(&r, 3) == 0 ? 0 : rnd_below(&r, max + 1);
			else
				ns = pick_off(&r, size, max);
			note("ftruncate %" PRIu64 " (was %" PRIu64 ")", ns, size);
			if (ftruncate(fm, (off_t)ns) < 0)
				die("ftruncate file to %" PRIu64 ": %s", ns,
				    strerror(errno));
			if (ftruncate(fr, (off_t)ns) < 0)
				die("ftruncate ref to %" PRIu64 ": %s", ns,
				    strerror(errno));
			size = ns;
			nt++;
		} else if (k < 96) {
			note("fstat");
			off_t sm = fd_size(fm, "file");
			if ((uint64_t)sm != size)
				mismatch("op %lu: fstat size %lld, expected %" PRIu64, i,
					 (long long)sm, size);
		} else {
			note("reopen");
			close(fm);
			close(fr);
			fm = xopen(file, O_RDWR);
			fr = xopen(ref, O_RDWR);
			no++;
		}
	}
	note("final compare");
	compare_whole(fm, fr, "final");
	if (close(fm) < 0)
		die("close %s: %s", file, strerror(errno));
	close(fr);
	fm = xopen(file, O_RDONLY);
	fr = xopen(ref, O_RDONLY);
	note("compare after reopen");
	compare_whole(fm, fr, "after reopen");
	close(fm);
	close(fr);
	printf("rwcheck random: ok (%lu writes, %lu reads, %lu truncates, %lu reopens, "
	       "final size %" PRIu64 ")\n",
	       nw, nr, nt, no, size);
	free(wbuf);
	free(ra);
	free(rb);
	return 0;
}

/* ---- pattern files ---------------------------------------------------- */

static void verify_fd(int fd, uint64_t size, uint64_t seed, const char *path)
{
	static uint8_t buf[1 << 20];
	off_t s = fd_size(fd, path);
	if ((uint64_t)s != size)
		die("%s: size %lld, expected %" PRIu64, path, (long long)s, size);
	uint64_t off = 0;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0)
			die("read %s at %" PRIu64 ": %s", path, off, strerror(errno));
		if (n == 0)
			break;
		if (off + (uint64_t)n > size)
			die("%s: read past the size %" PRIu64, path, size);
		int64_t d = pat_check(buf, (size_t)n, seed, off);
		if (d >= 0)
			die("%s: byte at %" PRId64
			    " differs from the pattern of seed %" PRIu64,
			    path, d, seed);
		off += (uint64_t)n;
	}
	if (off != size)
		die("%s: read %" PRIu64 " bytes, expected %" PRIu64, path, off, size);
}

static int cmd_verify(const char *path, uint64_t size, uint64_t seed)
{
	int fd = xopen(path, O_RDONLY);
	verify_fd(fd, size, seed, path);
	close(fd);
	return 0;
}

static int cmd_write(const char *path, uint64_t size, uint64_t seed)
{
	static uint8_t buf[70000];
	int fd = xopen(path, O_WRONLY | O_CREAT | O_TRUNC);
	struct rng r = { seed };
	uint64_t off = 0;
	/* Odd-sized pieces, so pages are written partially. */
	while (off < size) {
		size_t n = 1 + rnd_below(&r, sizeof(buf));
		if (n > size - off)
			n = (size_t)(size - off);
		pat_fill(buf, n, seed, off);
		ssize_t w = write(fd, buf, n);
		if (w != (ssize_t)n)
			die("write %s at %" PRIu64 ": %s", path, off,
			    w < 0 ? strerror(errno) : "short write");
		off += n;
	}
	if (fdatasync(fd) < 0)
		die("fdatasync %s: %s", path, strerror(errno));
	if (close(fd) < 0)
		die("close %s: %s", path, strerror(errno));
	return 0;
}

static uint8_t *map(int fd, uint64_t size, int prot, int flags, const char *path)
{
	void *m = mmap(NULL, size, prot, flags, fd, 0);
	if (m == MAP_FAILED)
		die("mmap %s (%s%s): %s", path, prot & PROT_WRITE ? "rw" : "ro",
		    flags & MAP_SHARED ? ", shared" : ", private", strerror(errno));
	return m;
}

static int cmd_mmap_write(const char *path, uint64_t size, uint64_t seed)
{
	int fd = xopen(path, O_RDWR | O_CREAT | O_TRUNC);
	if (ftruncate(fd, (off_t)size) < 0)
		die("ftruncate %s: %s", path, strerror(errno));
	uint8_t *m = map(fd, size, PROT_READ | PROT_WRITE, MAP_SHARED, path);
	pat_fill(m, size, seed, 0);
	if (msync(m, size, MS_SYNC) < 0)
		die("msync %s: %s", path, strerror(errno));
	if (munmap(m, size) < 0)
		die("munmap %s: %s", path, strerror(errno));
	if (close(fd) < 0)
		die("close %s: %s", path, strerror(errno));
	return cmd_verify(path, size, seed);
}

static int cmd_mmap_update(const char *path, uint64_t size, uint64_t old, uint64_t seed)
{
	int fd = xopen(path, O_RDWR);
	if ((uint64_t)fd_size(fd, path) != size)
		die("%s: size is not %" PRIu64, path, size);
	uint8_t *m = map(fd, size, PROT_READ | PROT_WRITE, MAP_SHARED, path);
	int64_t d = pat_check(m, size, old, 0);
	if (d >= 0)
		die("%s: mapped byte at %" PRId64
		    " differs from the pattern of seed %" PRIu64,
		    path, d, old);
	pat_fill(m, size, seed, 0);
	if (msync(m, size, MS_SYNC) < 0)
		die("msync %s: %s", path, strerror(errno));
	if (munmap(m, size) < 0)
		die("munmap %s: %s", path, strerror(errno));
	if (close(fd) < 0)
		die("close %s: %s", path, strerror(errno));
	return cmd_verify(path, size, seed);
}

static int cmd_mmap_read(const char *path, uint64_t size, uint64_t seed)
{
	static const int kinds[2] = { MAP_SHARED, MAP_PRIVATE };
	int fd = xopen(path, O_RDONLY);
	if ((uint64_t)fd_size(fd, path) != size)
		die("%s: size is not %" PRIu64, path, size);
	for (int k = 0; k < 2; k++) {
		uint8_t *m = map(fd, size, PROT_READ, kinds[k], path);
		int64_t d = pat_check(m, size, seed, 0);
		if (d >= 0)
			die("%s: mapped byte at %" PRId64
			    " differs from the pattern of seed %" PRIu64,
			    path, d, seed);
		munmap(m, size);
	}
	close(fd);
	return 0;
}

/* ---- concurrent ------------------------------------------------------- */

struct conc {
	const char *path;
	uint64_t region, total, seed;
	int writers, gen; /* writing gen, over gen - 1 (0 = zeros) */
	volatile int writers_left;
	volatile int failed;
	pthread_mutex_t lock;
	unsigned long reads;
};

struct worker {
	struct conc *c;
	int idx;
};

static uint8_t gen_byte(const struct conc *c, int gen, uint64_t off)
{
	return gen == 0 ? 0 : pat(c->seed + (uint64_t)gen, off);
}

static void conc_fail(struct conc *c, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&c->lock);
	fprintf(stderr, "rwcheck concurrent: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	c->failed = 1;
	pthread_mutex_unlock(&c->lock);
}

static void *writer(void *arg)
{
	struct worker *w = arg;
	struct conc *c = w->c;
	struct rng r = { c->seed * 31 + (uint64_t)w->idx * 7 + (uint64_t)c->gen };
	uint64_t start = (uint64_t)w->idx * c->region;
	uint64_t piece = 1 + c->region / 64, n = (c->region + piece - 1) / piece;
	uint64_t *order = malloc(n * sizeof(*order));
	uint8_t *buf = malloc(piece);
	int fd = open(c->path, O_RDWR);

	if (fd < 0) {
		conc_fail(c, "writer %d: open: %s", w->idx, strerror(errno));
		goto out;
	}
	for (uint64_t i = 0; i < n; i++)
		order[i] = i;
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = rnd_below(&r, i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	/* Pieces of the region in random order, each in 1..4 writes of random
	 * length: neighbours share blocks across region edges. */
	for (uint64_t i = 0; i < n && !c->failed; i++) {
		uint64_t off = start + order[i] * piece;
		uint64_t end = off + piece;
		if (end > start + c->region)
			end = start + c->region;
		while (off < end) {
			uint64_t len = 1 + rnd_below(&r, piece);
			if (len > end - off)
				len = end - off;
			for (uint64_t j = 0; j < len; j++)
				buf[j] = gen_byte(c, c->gen, off + j);
			ssize_t wr = pwrite(fd, buf, len, (off_t)off);
			if (wr != (ssize_t)len) {
				conc_fail(c, "writer %d: pwrite at %" PRIu64 ": %s",
					  w->idx, off,
					  wr < 0 ? strerror(errno) : "short write");
				goto out;
			}
			off += len;
		}
	}
	if (fsync(fd) < 0)
		conc_fail(c, "writer %d: fsync: %s", w->idx, strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	free(order);
	free(buf);
	__atomic_sub_fetch(&c->writers_left, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void *reader(void *arg)
{
	struct worker *w = arg;
	struct conc *c = w->c;
	struct rng r = { c->seed * 977 + (uint64_t)w->idx + 1000 * (uint64_t)c->gen };
	uint8_t *buf = NULL;
	unsigned long reads = 0;
	/* Half the readers use O_DIRECT, so that their reads reach the driver
	 * while the writes go on instead of being served by the page cache. */
	int flags = O_RDONLY | (w->idx % 2 ? 0 : O_DIRECT);
	int fd = open(c->path, flags);

	if (fd < 0 && errno == EINVAL) {
		flags = O_RDONLY;
		fd = open(c->path, flags);
	}
	if (fd < 0) {
		conc_fail(c, "reader %d: open: %s", w->idx, strerror(errno));
		goto out;
	}
	if (posix_memalign((void **)&buf, 4096, MAX_IO)) {
		conc_fail(c, "reader %d: out of memory", w->idx);
		goto out;
	}
	while (__atomic_load_n(&c->writers_left, __ATOMIC_SEQ_CST) > 0 && !c->failed) {
		uint64_t off = rnd_below(&r, c->total),
			 len = 1 + rnd_below(&r, 128 * 1024);
		if (reads % 64 == 63) {
			/* A new open starts with an empty page cache. */
			close(fd);
			fd = open(c->path, flags);
			if (fd < 0) {
				conc_fail(c, "reader %d: reopen: %s", w->idx,
					  strerror(errno));
				goto out;
			}
		}
		ssize_t n = pread(fd, buf, len, (off_t)off);
		if (n < 0) {
			conc_fail(c, "reader %d: pread at %" PRIu64 ": %s", w->idx, off,
				  strerror(errno));
			break;
		}
		for (ssize_t i = 0; i < n; i++) {
			uint8_t b = buf[i];
			if (b != gen_byte(c, c->gen, off + (uint64_t)i) &&
			    b != gen_byte(c, c->gen - 1, off + (uint64_t)i)) {
				conc_fail(c,
					  "reader %d: byte at %" PRIu64
					  " is %02x: neither "
					  "the old (%02x) nor the new (%02x) value",
					  w->idx, off + (uint64_t)i, b,
					  gen_byte(c, c->gen - 1, off + (uint64_t)i),
					  gen_byte(c, c->gen, off + (uint64_t)i));
				goto out;
			}
		}
		reads++;
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	pthread_mutex_lock(&c->lock);
	c->reads += reads;
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

static int cmd_concurrent(int argc, char **argv)
{
	if (argc != 7)
		die("usage: concurrent FILE WRITERS READERS REGION SEED");
	struct conc c = {
		.path = argv[2],
		.writers = atoi(argv[3]),
		.region = strtoull(argv[5], NULL, 0),
		.seed = strtoull(argv[6], NULL, 0),
		.lock = PTHREAD_MUTEX_INITIALIZER,
	};
	int readers = atoi(argv[4]);
	int nthreads = c.writers + readers;
	pthread_t *t = calloc((size_t)nthreads, sizeof(*t));
	struct worker *w = calloc((size_t)nthreads, sizeof(*w));

	c.total = c.region * (uint64_t)c.writers;
	printf("rwcheck concurrent: seed %" PRIu64 ", %d writers x %" PRIu64
	       " bytes, %d readers\n",
	       c.seed, c.writers, c.region, readers);
	close(xopen(c.path, O_RDWR | O_CREAT | O_TRUNC));
	for (c.gen = 1; c.gen <= 2 && !c.failed; c.gen++) {
		c.writers_left = c.writers;
		c.reads = 0;
		for (int i = 0; i < nthreads; i++) {
			w[i].c = &c;
			w[i].idx = i < c.writers ? i : i - c.writers;
			if (pthread_create(&t[i], NULL, i < c.writers ? writer : reader,
					   &w[i]))
				die("pthread_create failed");
		}
		for (int i = 0; i < nthreads; i++)
			pthread_join(t[i], NULL);
		printf("rwcheck concurrent: round %d: %lu concurrent reads checked\n",
		       c.gen, c.reads);
		if (c.failed)
			break;
		int fd = xopen(c.path, O_RDONLY);
		verify_fd(fd, c.total, c.seed + (uint64_t)c.gen, c.path);
		close(fd);
	}
	free(t);
	free(w);
	if (c.failed)
		return 1;
	printf("rwcheck concurrent: ok\n");
	return 0;
}

/* ---- append ----------------------------------------------------------- */

static void record(uint8_t *buf, size_t recsize, uint32_t id, uint32_t seq)
{
	uint64_t tag = (uint64_t)id << 32 | seq;
	pat_fill(buf, recsize, tag + 12345, 0);
	memcpy(buf, &tag, recsize < 8 ? recsize : 8);
}

static int cmd_append(const char *path, uint32_t id, uint32_t count, size_t recsize)
{
	uint8_t *buf = malloc(recsize);
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	for (uint32_t s = 0; s < count; s++) {
		record(buf, recsize, id, s);
		ssize_t w = write(fd, buf, recsize);
		if (w != (ssize_t)recsize)
			die("append %u/%u: %s", id, s,
			    w < 0 ? strerror(errno) : "short write");
	}
	if (close(fd) < 0)
		die("close %s: %s", path, strerror(errno));
	free(buf);
	return 0;
}

static int cmd_check_append(const char *path, uint32_t nproc, uint32_t count,
			    size_t recsize)
{
	uint8_t *buf = malloc(recsize), *want = malloc(recsize);
	uint32_t *next = calloc(nproc, sizeof(*next));
	int fd = xopen(path, O_RDONLY);
	off_t size = fd_size(fd, path), expect = (off_t)nproc * count * (off_t)recsize;

	if (size != expect)
		die("%s: %lld bytes after the appends, expected %lld", path,
		    (long long)size, (long long)expect);
	for (off_t off = 0; off < size; off += (off_t)recsize) {
		uint64_t tag;
		if (pread_full(fd, buf, recsize, off, path) != recsize)
			die("%s: short read at %lld", path, (long long)off);
		memcpy(&tag, buf, 8);
		uint32_t id = (uint32_t)(tag >> 32), seq = (uint32_t)tag;
		if (id >= nproc || seq != next[id])
			die("%s: record at %lld is %u/%u: torn, lost or out of order",
			    path, (long long)off, id, seq);
		record(want, recsize, id, seq);
		if (memcmp(buf, want, recsize))
			die("%s: record %u/%u at %lld is damaged", path, id, seq,
			    (long long)off);
		next[id]++;
	}
	close(fd);
	free(buf);
	free(want);
	free(next);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		die("usage: see rwcheck.c");
	const char *m = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (!strcmp(m, "random"))
		return cmd_random(argc, argv);
	if (!strcmp(m, "concurrent"))
		return cmd_concurrent(argc, argv);
	if (argc == 5 && !strcmp(m, "write"))
		return cmd_write(argv[2], strtoull(argv[3], NULL, 0),
				 strtoull(argv[4], NULL, 0));
	if (argc == 5 && !strcmp(m, "verify"))
		return cmd_verify(argv[2], strtoull(argv[3], NULL, 0),
				  strtoull(argv[4], NULL, 0));
	if (argc == 5 && !strcmp(m, "mmap-write"))
		return cmd_mmap_write(argv[2], strtoull(argv[3], NULL, 0),
				      strtoull(argv[4], NULL, 0));
	if (argc == 6 && !strcmp(m, "mmap-update"))
		return cmd_mmap_update(argv[2], strtoull(argv[3], NULL, 0),
				       strtoull(argv[4], NULL, 0),
				       strtoull(argv[5], NULL, 0));
	if (argc == 5 && !strcmp(m, "mmap-read"))
		return cmd_mmap_read(argv[2], strtoull(argv[3], NULL, 0),
				     strtoull(argv[4], NULL, 0));
	if (argc == 6 && !strcmp(m, "append"))
		return cmd_append(argv[2], (uint32_t)strtoul(argv[3], NULL, 0),
				  (uint32_t)strtoul(argv[4], NULL, 0),
				  strtoull(argv[5], NULL, 0));
	if (argc == 6 && !strcmp(m, "check-append"))
		return cmd_check_append(argv[2], (uint32_t)strtoul(argv[3], NULL, 0),
					(uint32_t)strtoul(argv[4], NULL, 0),
					strtoull(argv[5], NULL, 0));
	die("unknown mode or wrong arguments: %s (see rwcheck.c)", m);
	return 1;
}
