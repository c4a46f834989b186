/* ingest: the I/O workloads of the medfs comparison benchmark that need
 * exact timing (tests/bench/compare.sh).
 *
 *   ingest write DIR COUNT KIB [SEED]
 *       DICOM ingest as a PACS does it (Orthanc): COUNT DICOM Part 10 CT
 *       images of KIB KiB each, at DIR/xx/yy/<uuid> where xx and yy are
 *       the first four hex digits of the uuid; parent directories made as
 *       needed; each file opened O_WRONLY|O_CREAT|O_TRUNC, written in one
 *       write(2), fdatasync(2)ed and closed.
 *   ingest read DIR COUNT [SEED]
 *       reads the same files whole (1 MiB reads to the end of each), in
 *       the order they were written, as a viewer loads a series.
 *   ingest seqwrite FILE MIB
 *       writes MIB MiB to FILE (created or truncated) in 1 MiB write(2)
 *       calls, then fsync(2) and close(2).
 *   ingest seqread FILE
 *       reads FILE to its end in 1 MiB read(2) calls.
 *
 * Each prints "<rate> <seconds> <bytes>" on one line: rate in files per
 * second for write and read, in MiB per second for seqwrite and seqread;
 * seconds by CLOCK_MONOTONIC from the first open to the last close (the
 * fsync included). The uuids come from SEED (default 1), so that every
 * system under test gets the same names and layout. The images carry the
 * identifiers the access journal reads (patient, study, series, instance,
 * SOP class, modality) in explicit VR little endian; four series of 500
 * images in two studies of one patient, then the pixel data. Exit status
 * 1 when a call fails (the path and errno are printed), 2 on bad
 * arguments. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1U << 20)
#define SERIES_SIZE 500			      /* images per series */
#define STUDY_SERIES 2			      /* series per study */
#define UID_ROOT "1.2.826.0.1.3680043.9.7433" /* a private test root */
#define CT_IMAGE_STORAGE "1.2.840.10008.5.1.4.1.1.2"
#define EXPLICIT_VR_LE "1.2.840.10008.1.2.1"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int failed(const char *what, const char *path)
{
	fprintf(stderr, "ingest: %s %s: %s\n", what, path, strerror(errno));
	return 1;
}

/* Flushes fd (fdatasync, or fsync with whole) and closes it, whatever
 * happens; says what failed. 0 or -1. */
static int sync_close(int fd, const char *path, int whole)
{
	if ((whole ? fsync(fd) : fdatasync(fd)) < 0) {
		failed(whole ? "fsync" : "fdatasync", path);
		close(fd);
		return -1;
	}
	if (close(fd) < 0) {
		failed("close", path);
		return -1;
	}
	return 0;
}

/* The result line: things a second, seconds, bytes. */
static void result(double things, double secs, unsigned long long bytes)
{
	printf("%.1f %.3f %llu\n", secs > 0 ? things / secs : 0.0, secs, bytes);
}

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void fill_random(uint8_t *buf, size_t len, uint64_t seed)
{
	uint64_t st = seed, v;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		v = splitmix64(&st);
		memcpy(buf + i, &v, 8);
	}
	for (v = splitmix64(&st); i < len; i++, v >>= 8)
		buf[i] = (uint8_t)v;
}

/* Orthanc's layout: DIR/xx/yy/<uuid>, uuid 8-4-4-4-12 lower-case hex. */
static void image_path(char *out, size_t size, const char *dir, uint64_t seed, long i)
{
	uint64_t st = seed * 0x100000001b3ULL + (uint64_t)i;
	uint64_t a = splitmix64(&st), b = splitmix64(&st);
	char u[37];

	snprintf(u, sizeof(u),
		 "%08" PRIx32 "-%04" PRIx32 "-4%03" PRIx32 "-%04" PRIx32 "-%012" PRIx64,
		 (uint32_t)(a >> 32), (uint32_t)(a >> 16) & 0xffff, (uint32_t)a & 0xfff,
		 0x8000 | ((uint32_t)(b >> 48) & 0x3fff), b & (uint64_t)0xffffffffffff);
	snprintf(out, size, "%s/%.2s/%.2s/%s", dir, u, u + 2, u);
}

/* ---- a minimal DICOM Part 10 writer (explicit VR little endian) ---- */

struct out {
	uint8_t *buf;
	size_t pos;
};

static void put16(struct out *o, uint16_t v)
{
	o->buf[o->pos++] = (uint8_t)v;
	o->buf[o->pos++] = (uint8_t)(v >> 8);
}

static void put32(struct out *o, uint32_t v)
{
	put16(o, (uint16_t)v);
	put16(o, (uint16_t)(v >> 16));
}

/* One element with a short (16-bit) length, padded to even length with
 * pad (NUL for UI, space for text). */
static void element(struct out *o, uint16_t group, uint16_t elem, const char *vr,
		    const void *val, size_t len, uint8_t pad)
{
	size_t even = len + (len & 1);

	put16(o, group);
	put16(o, elem);
	o->buf[o->pos++] = (uint8_t)vr[0];
	o->buf[o->pos++] = (uint8_t)vr[1];
	put16(o, (uint16_t)even);
	memcpy(o->buf + o->pos, val, len);
	o->pos += len;
	if (even != len)
		o->buf[o->pos++] = pad;
}

static void text(struct out *o, uint16_t group, uint16_t elem, const char *vr,
		 const char *s)
{
	element(o, group, elem, vr, s, strlen(s), vr[0] == 'U' && vr[1] == 'I' ? 0 : ' ');
}

static void u16(struct out *o, uint16_t group, uint16_t elem, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	element(o, group, elem, "US", b, 2, 0);
}

/* The header of image i in buf; returns its length. The pixel data
 * element's value runs from there to total (which must be even and larger
 * than the header). */
static size_t dicom_header(uint8_t *buf, size_t total, uint64_t seed, long i)
{
	struct out o = { .buf = buf, .pos = 0 };
	char sop[64], study[64], series[64], num[16];
	size_t meta_start, meta_len_at;
	long series_no = i / SERIES_SIZE, study_no = series_no / STUDY_SERIES;
	static const uint8_t version[2] = { 0, 1 };

	snprintf(sop, sizeof(sop), UID_ROOT ".%" PRIu64 ".3.%ld", seed, i + 1);
	snprintf(study, sizeof(study), UID_ROOT ".%" PRIu64 ".1.%ld", seed, study_no + 1);
	snprintf(series, sizeof(series), UID_ROOT ".%" PRIu64 ".2.%ld", seed,
		 series_no + 1);

	memset(buf, 0, 128);
	o.pos = 128;
	memcpy(buf + o.pos, "DICM", 4);
	o.pos += 4;
	/* (0002,0000) UL group length, filled in below */
	put16(&o, 0x0002);
	put16(&o, 0x0000);
	o.buf[o.pos++] = 'U';
	o.buf[o.pos++] = 'L';
	put16(&o, 4);
	meta_len_at = o.pos;
	put32(&o, 0);
	meta_start = o.pos;
	/* (0002,0001) OB: long form */
	put16(&o, 0x0002);
	put16(&o, 0x0001);
	o.buf[o.pos++] = 'O';
	o.buf[o.pos++] = 'B';
	put16(&o, 0);
	put32(&o, 2);
	memcpy(o.buf + o.pos, version, 2);
	o.pos += 2;
	text(&o, 0x0002, 0x0002, "UI", CT_IMAGE_STORAGE);
	text(&o, 0x0002, 0x0003, "UI", sop);
	text(&o, 0x0002, 0x0010, "UI", EXPLICIT_VR_LE);
	text(&o, 0x0002, 0x0012, "UI", UID_ROOT ".0.1");
	{
		struct out m = { .buf = buf, .pos = meta_len_at };

		put32(&m, (uint32_t)(o.pos - meta_start));
	}

	text(&o, 0x0008, 0x0016, "UI", CT_IMAGE_STORAGE);
	text(&o, 0x0008, 0x0018, "UI", sop);
	text(&o, 0x0008, 0x0060, "CS", "CT");
	text(&o, 0x0010, 0x0010, "PN", "BENCH^PATIENT");
	text(&o, 0x0010, 0x0020, "LO", "BENCH0001");
	text(&o, 0x0020, 0x000D, "UI", study);
	text(&o, 0x0020, 0x000E, "UI", series);
	snprintf(num, sizeof(num), "%ld", i % SERIES_SIZE + 1);
	text(&o, 0x0020, 0x0013, "IS", num);
	u16(&o, 0x0028, 0x0002, 1);
	text(&o, 0x0028, 0x0004, "CS", "MONOCHROME2");
	u16(&o, 0x0028, 0x0010, 512);
	u16(&o, 0x0028, 0x0011, 512);
	u16(&o, 0x0028, 0x0100, 16);
	u16(&o, 0x0028, 0x0101, 16);
	u16(&o, 0x0028, 0x0102, 15);
	u16(&o, 0x0028, 0x0103, 1);
	/* (7FE0,0010) OW: long form, the rest of the file */
	put16(&o, 0x7FE0);
	put16(&o, 0x0010);
	o.buf[o.pos++] = 'O';
	o.buf[o.pos++] = 'W';
	put16(&o, 0);
	put32(&o, (uint32_t)(total - o.pos - 4));
	return o.pos;
}

/* mkdir -p of the two levels above path (DIR itself exists). */
static int make_parents(char *path)
{
	char *slash = strrchr(path, '/');
	char *mid;
	int ret = 0;

	*slash = '\0';
	mid = strrchr(path, '/');
	*mid = '\0';
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		ret = failed("mkdir", path);
	*mid = '/';
	if (ret == 0 && mkdir(path, 0755) < 0 && errno != EEXIST)
		ret = failed("mkdir", path);
	*slash = '/';
	return ret;
}

static int write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int ingest_write(const char *dir, long count, size_t size, uint64_t seed)
{
	char path[4096];
	uint8_t *buf;
	double start, secs;
	int ret = 1;

	buf = malloc(size);
	if (!buf) {
		fprintf(stderr, "ingest: out of memory\n");
		return 1;
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		failed("mkdir", dir);
		goto out;
	}
	fill_random(buf, size, seed);
	start = now();
	for (long i = 0; i < count; i++) {
		size_t hdr = dicom_header(buf, size, seed, i);
		uint64_t salt = (uint64_t)i;
		int fd;

		/* Each image's pixels differ a little. */
		memcpy(buf + hdr, &salt, sizeof(salt));
		image_path(path, sizeof(path), dir, seed, i);
		if (make_parents(path) != 0)
			goto out;
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0) {
			failed("open", path);
			goto out;
		}
		if (write_all(fd, buf, size) < 0) {
			failed("write", path);
			close(fd);
			goto out;
		}
		if (sync_close(fd, path, 0) < 0)
			goto out;
	}
	secs = now() - start;
	result((double)count, secs, (unsigned long long)count * size);
	ret = 0;
out:
	free(buf);
	return ret;
}

/* Reads fd to its end; returns the bytes read, or -1. */
static long long read_to_end(int fd, uint8_t *buf)
{
	long long total = 0;
	ssize_t n;

	for (;;) {
		n = read(fd, buf, CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		total += n;
	}
	return n < 0 ? -1 : total;
}

static int ingest_read(const char *dir, long count, uint64_t seed)
{
	char path[4096];
	unsigned long long bytes = 0;
	uint8_t *buf;
	double start, secs;
	int ret = 1;

	buf = malloc(CHUNK);
	if (!buf) {
		fprintf(stderr, "ingest: out of memory\n");
		return 1;
	}
	start = now();
	for (long i = 0; i < count; i++) {
		long long n;
		int fd;

		image_path(path, sizeof(path), dir, seed, i);
		fd = open(path, O_RDONLY);
		if (fd < 0) {
			failed("open", path);
			goto out;
		}
		n = read_to_end(fd, buf);
		if (n < 0) {
			failed("read", path);
			close(fd);
			goto out;
		}
		bytes += (unsigned long long)n;
		close(fd);
	}
	secs = now() - start;
	result((double)count, secs, bytes);
	ret = 0;
out:
	free(buf);
	return ret;
}

static int seq_write(const char *file, long mib)
{
	uint8_t *buf;
	double start, secs;
	int fd, ret = 1;

	buf = malloc(CHUNK);
	if (!buf) {
		fprintf(stderr, "ingest: out of memory\n");
		return 1;
	}
	fill_random(buf, CHUNK, 42);
	start = now();
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		failed("open", file);
		goto out;
	}
	for (long i = 0; i < mib; i++) {
		uint64_t salt = (uint64_t)i;

		memcpy(buf, &salt, sizeof(salt));
		if (write_all(fd, buf, CHUNK) < 0) {
			failed("write", file);
			close(fd);
			goto out;
		}
	}
	if (sync_close(fd, file, 1) < 0)
		goto out;
	secs = now() - start;
	result((double)mib, secs, (unsigned long long)mib * CHUNK);
	ret = 0;
out:
	free(buf);
	return ret;
}

static int seq_read(const char *file)
{
	uint8_t *buf;
	long long n;
	double start, secs;
	int fd, ret = 1;

	buf = malloc(CHUNK);
	if (!buf) {
		fprintf(stderr, "ingest: out of memory\n");
		return 1;
	}
	start = now();
	fd = open(file, O_RDONLY);
	if (fd < 0) {
		failed("open", file);
		goto out;
	}
	n = read_to_end(fd, buf);
	if (n < 0) {
		failed("read", file);
		close(fd);
		goto out;
	}
	close(fd);
	secs = now() - start;
	result((double)n / CHUNK, secs, (unsigned long long)n);
	ret = 0;
out:
	free(buf);
	return ret;
}

static int number(const char *s, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && *out > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	long count, kib, seed = 1;

	if (argc < 3)
		goto usage;
	if (strcmp(argv[1], "write") == 0 && (argc == 5 || argc == 6)) {
		if (number(argv[3], &count) < 0 || number(argv[4], &kib) < 0 || kib < 1 ||
		    (argc == 6 && number(argv[5], &seed) < 0))
			goto usage;
		return ingest_write(argv[2], count, (size_t)kib * 1024, (uint64_t)seed);
	}
	if (strcmp(argv[1], "read") == 0 && (argc == 4 || argc == 5)) {
		if (number(argv[3], &count) < 0 ||
		    (argc == 5 && number(argv[4], &seed) < 0))
			goto usage;
		return ingest_read(argv[2], count, (uint64_t)seed);
	}
	if (strcmp(argv[1], "seqwrite") == 0 && argc == 4) {
		if (number(argv[3], &count) < 0)
			goto usage;
		return seq_write(argv[2], count);
	}
	if (strcmp(argv[1], "seqread") == 0 && argc == 3)
		return seq_read(argv[2]);
usage:
	fprintf(stderr, "usage: ingest write DIR COUNT KIB [SEED]\n"
			"       ingest read DIR COUNT [SEED]\n"
			"       ingest seqwrite FILE MIB\n"
			"       ingest seqread FILE\n");
	return 2;
}
