/* Check suite of the journal module: record encoding, writer, reader,
 * verifier, key evolution, prune.
 *
 * Every tamper test builds a clean journal of several segments and epochs,
 * damages it with plain file operations, as someone with write access to
 * the journal directory would, and expects verify's first error to name
 * the damaged segment and record. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "journal_forge.h"
#include "medfs/crypto.h"
#include "medfs/journal.h"
#include "medfs/log.h"

#define NONE MEDFS_JOURNAL_NONE
#define HDR MEDFS_JOURNAL_SEGMENT_HEADER_LEN
#define T0 UINT64_C(1700000000000000)

/* Short enough that every path built below them fits in PATH_MAX. */
#define DIR_MAX 1024
static char base_dir[DIR_MAX - 64];
static char jdir[DIR_MAX];
static char jdir2[DIR_MAX];
static struct medfs_auditor_key *akey, *akey2;
static uint8_t vault_id[MEDFS_JOURNAL_VAULT_ID_LEN];
static uint8_t state_key[MEDFS_KEY_LEN];

/* Small segments and frequent checkpoints: many segments and epochs. */
static const struct medfs_journal_config small_cfg = {
	.segment_max_bytes = 2000,
	.checkpoint_records = 4,
};

static void quiet_log(int priority, const char *msg)
{
	(void)priority;
	(void)msg;
}

/* A fresh name below base_dir, not yet a directory (unique also across
 * Check's forked tests). */
static void new_dir(char *out)
{
	snprintf(out, DIR_MAX, "%s/jXXXXXX", base_dir);
	ck_assert_ptr_nonnull(mkdtemp(out));
	ck_assert_int_eq(rmdir(out), 0);
}

static void setup(void)
{
	new_dir(jdir);
	new_dir(jdir2);
	ck_assert_int_eq(medfs_auditor_key_generate(&akey), 0);
	ck_assert_int_eq(medfs_auditor_key_generate(&akey2), 0);
	randombytes_buf(vault_id, sizeof(vault_id));
	randombytes_buf(state_key, sizeof(state_key));
}

static void teardown(void)
{
	medfs_auditor_key_free(akey);
	medfs_auditor_key_free(akey2);
	akey = akey2 = NULL;
}

/* ---- helpers ---- */

/* Per thread: the concurrency test builds records in several threads. */
static _Thread_local char path_buf[8][64];
static struct medfs_journal_range range_buf[3] = { { 0, 4096 },
						   { 8192, 100 },
						   { 1 << 20, 7 } };

static void make_record(struct medfs_journal_record *r, unsigned int i)
{
	char *p = path_buf[i % 8];

	memset(r, 0, sizeof(*r));
	snprintf(p, sizeof(path_buf[0]), "/patients/%06u/img.dcm", i);
	r->time_us = T0 + i;
	r->op = i % 3 == 0 ? MEDFS_OP_OPEN : MEDFS_OP_READ;
	r->uid = 1000 + i;
	r->gid = 100;
	r->pid = (int32_t)(4000 + i);
	r->user = "dr-house";
	r->program = "/usr/bin/dcmview";
	r->path = p;
	r->offset = -1;
	r->bytes = i * 10;
	if (r->op == MEDFS_OP_READ) {
		r->ranges = range_buf;
		r->nranges = 1 + i % 3;
	}
	r->patient_id = "PAT-42";
}

static void open_writer(struct medfs_journal_writer **w, const char *dir,
			const struct medfs_journal_config *cfg)
{
	ck_assert_int_eq(medfs_journal_writer_open(w, dir, medfs_auditor_key_box_pk(akey),
						   vault_id, state_key, cfg),
			 0);
}

static void append_n(struct medfs_journal_writer *w, unsigned int from, unsigned int n,
		     int durable)
{
	struct medfs_journal_record r;

	for (unsigned int i = from; i < from + n; i++) {
		make_record(&r, i);
		ck_assert_int_eq(medfs_journal_append(w, &r, durable), 0);
	}
}

/* A closed journal of n records in dir. */
static void build(const char *dir, unsigned int n, const struct medfs_journal_config *cfg)
{
	struct medfs_journal_writer *w;

	open_writer(&w, dir, cfg);
	append_n(w, 0, n, 0);
	ck_assert_int_eq(medfs_journal_writer_close(w), 0);
}

struct report {
	int error;
	uint64_t segment, seq;
	char msg[256];
};

struct collect {
	int n;
	struct report it[256];
};

static void collect_fn(void *ctx, int error, uint64_t segment, uint64_t seq,
		       const char *msg)
{
	struct collect *c = ctx;

	if (c->n < 256) {
		c->it[c->n].error = error;
		c->it[c->n].segment = segment;
		c->it[c->n].seq = seq;
		snprintf(c->it[c->n].msg, sizeof(c->it[0].msg), "%s", msg);
		c->n++;
	}
}

static void dump(const struct collect *c)
{
	for (int i = 0; i < c->n; i++)
		fprintf(stderr, "  %s seg %lld seq %lld: %s\n",
			c->it[i].error ? "error" : "warning", (long long)c->it[i].segment,
			(long long)c->it[i].seq, c->it[i].msg);
}

static int verify(const char *dir, struct collect *c,
		  struct medfs_journal_verify_stats *st)
{
	memset(c, 0, sizeof(*c));
	return medfs_journal_verify(dir, akey, collect_fn, c, st);
}

static void expect_clean(const char *dir, struct medfs_journal_verify_stats *st)
{
	struct collect c;
	int r = verify(dir, &c, st);

	if (r != 0 || c.n != 0)
		dump(&c);
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(c.n, 0);
}

/* verify fails, and its first error names segment and seq. */
static void expect_first_error(const char *dir, uint64_t segment, uint64_t seq)
{
	struct collect c;
	int r = verify(dir, &c, NULL), i;

	for (i = 0; i < c.n && !c.it[i].error; i++)
		;
	if (r <= 0 || i == c.n || c.it[i].segment != segment || c.it[i].seq != seq) {
		fprintf(stderr, "expected an error at segment %llu seq %llu, got %d:\n",
			(unsigned long long)segment, (unsigned long long)seq, r);
		dump(&c);
	}
	ck_assert_int_gt(r, 0);
	ck_assert_int_lt(i, c.n);
	ck_assert_uint_eq(c.it[i].segment, segment);
	ck_assert_uint_eq(c.it[i].seq, seq);
}

static void seg_path(char *out, const char *dir, uint64_t n)
{
	char name[MEDFS_JOURNAL_SEGMENT_NAME_LEN];

	medfs_journal_segment_name(name, n);
	snprintf(out, PATH_MAX, "%s/%s", dir, name);
}

static uint8_t *read_all(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static void write_all(const char *path, const uint8_t *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

#define MAXF 256

/* One segment file, cut into its frames. */
struct seg {
	uint8_t *data;
	size_t len;
	struct medfs_journal_segment_header h;
	int n;
	size_t off[MAXF], flen[MAXF];
	uint64_t seq[MAXF];
};

static void seg_load(const char *dir, uint64_t n, struct seg *s)
{
	char p[PATH_MAX];
	size_t off = HDR;

	seg_path(p, dir, n);
	s->data = read_all(p, &s->len);
	ck_assert_int_eq(medfs_journal_segment_header_parse(s->data, s->len, &s->h), 0);
	s->n = 0;
	while (off < s->len) {
		struct medfs_journal_frame f;
		ssize_t l = medfs_journal_frame_parse(s->data + off, s->len - off, &f);

		ck_assert_int_gt(l, 0);
		ck_assert_int_lt(s->n, MAXF);
		s->off[s->n] = off;
		s->flen[s->n] = (size_t)l;
		s->seq[s->n] = f.seq;
		s->n++;
		off += (size_t)l;
	}
}

static void seg_store(const char *dir, uint64_t n, const uint8_t *data, size_t len)
{
	char p[PATH_MAX];

	seg_path(p, dir, n);
	write_all(p, data, len);
}

static uint64_t last_segment(const char *dir)
{
	struct medfs_journal_verify_stats st;
	struct collect c;

	ck_assert_int_eq(verify(dir, &c, &st), 0);
	return st.last_segment;
}

static void copy_file(const char *from, const char *to)
{
	size_t len;
	uint8_t *b = read_all(from, &len);

	write_all(to, b, len);
	free(b);
}

/* Copies every file of journal dir from to a new dir to. */
static void copy_dir(const char *from, const char *to)
{
	struct dirent *de;
	DIR *d = opendir(from);

	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(mkdir(to, 0700), 0);
	while ((de = readdir(d))) {
		char a[PATH_MAX], b[PATH_MAX];

		if (de->d_name[0] == '.')
			continue;
		snprintf(a, sizeof(a), "%s/%s", from, de->d_name);
		snprintf(b, sizeof(b), "%s/%s", to, de->d_name);
		copy_file(a, b);
	}
	closedir(d);
}

/* Reads every record (checkpoints included); returns the count and
 * checks seqs follow each other. */
static unsigned int read_all_records(const char *dir, unsigned int flags,
				     unsigned int *nrecords)
{
	struct medfs_journal_record_buf b = MEDFS_JOURNAL_RECORD_BUF_INIT;
	struct medfs_journal_reader *rd;
	struct medfs_journal_pos pos;
	unsigned int n = 0, nr = 0;
	uint64_t seq = 0;
	int r;

	ck_assert_int_eq(medfs_journal_reader_open(&rd, dir, akey, flags), 0);
	while ((r = medfs_journal_reader_next(rd, &b, &pos)) == 1) {
		if (n)
			ck_assert_uint_gt(pos.seq, seq);
		seq = pos.seq;
		if (b.rec.op != MEDFS_OP_CHECKPOINT && b.rec.op != MEDFS_OP_JOURNAL_OPEN)
			nr++;
		n++;
	}
	ck_assert_int_eq(r, 0);
	medfs_journal_record_buf_free(&b);
	medfs_journal_reader_close(rd);
	if (nrecords)
		*nrecords = nr;
	return n;
}

/* ---- encoding ---- */

START_TEST(test_encode_round_trip)
{
	static const struct medfs_journal_range rg[] = { { 0, 4096 },
							 { UINT64_MAX - 5, 5 },
							 { 12345, 0 } };
	struct medfs_journal_record r = {
		.time_us = UINT64_C(1712345678901234),
		.op = MEDFS_OP_RENAME,
		.uid = 4294967295u,
		.gid = 17,
		.pid = -2,
		.user = "alice",
		.program = "/usr/bin/mv",
		.path = "/a/b c/é.dcm",
		.path2 = "",
		.result = -13,
		.flags = 0x8241,
		.rule_line = 99,
		.emergency = 1,
		.bytes = UINT64_C(0xfedcba9876543210),
		.offset = INT64_MIN,
		.ranges = rg,
		.nranges = 3,
		.patient_id = "P1",
		.study_uid = "1.2.840.113619.2.55",
		.sop_uid = "1.2.3.4.5.6",
		.sop_class_uid = "1.2.840.10008.5.1.4.1.1.2",
		.modality = "CT",
		.detail = "policy sha256:00ff",
	};
	struct medfs_journal_record_buf b = MEDFS_JOURNAL_RECORD_BUF_INIT;
	uint8_t buf[1024];
	size_t len, l2;

	ck_assert_int_eq(medfs_journal_record_encode(&r, NULL, 0, &len), -ENOBUFS);
	ck_assert_uint_gt(len, 0);
	ck_assert_int_eq(medfs_journal_record_encode(&r, buf, len - 1, &l2), -ENOBUFS);
	ck_assert_int_eq(medfs_journal_record_encode(&r, buf, sizeof(buf), &l2), 0);
	ck_assert_uint_eq(len, l2);
	ck_assert_int_eq(medfs_journal_record_decode(buf, len, &b), 0);
	ck_assert_uint_eq(b.rec.time_us, r.time_us);
	ck_assert_uint_eq(b.rec.op, r.op);
	ck_assert_uint_eq(b.rec.uid, r.uid);
	ck_assert_uint_eq(b.rec.gid, r.gid);
	ck_assert_int_eq(b.rec.pid, r.pid);
	ck_assert_str_eq(b.rec.user, r.user);
	ck_assert_str_eq(b.rec.program, r.program);
	ck_assert_str_eq(b.rec.path, r.path);
	ck_assert_str_eq(b.rec.path2, "");
	ck_assert_int_eq(b.rec.result, r.result);
	ck_assert_uint_eq(b.rec.flags, r.flags);
	ck_assert_uint_eq(b.rec.rule_line, r.rule_line);
	ck_assert_uint_eq(b.rec.emergency, r.emergency);
	ck_assert_uint_eq(b.rec.bytes, r.bytes);
	ck_assert(b.rec.offset == INT64_MIN);
	ck_assert_uint_eq(b.rec.nranges, 3);
	ck_assert_mem_eq(b.rec.ranges, rg, sizeof(rg));
	ck_assert_str_eq(b.rec.patient_id, r.patient_id);
	ck_assert_str_eq(b.rec.study_uid, r.study_uid);
	ck_assert_str_eq(b.rec.sop_uid, r.sop_uid);
	ck_assert_str_eq(b.rec.sop_class_uid, r.sop_class_uid);
	ck_assert_str_eq(b.rec.modality, r.modality);
	ck_assert_str_eq(b.rec.detail, r.detail);

	/* A minimal record: NULL strings stay NULL, offset -1, no ranges;
	 * decoding into a used buf frees what it held. */
	memset(&r, 0, sizeof(r));
	r.op = MEDFS_OP_OPEN;
	r.offset = -1;
	ck_assert_int_eq(medfs_journal_record_encode(&r, buf, sizeof(buf), &len), 0);
	ck_assert_uint_eq(len, 2 * 6 + 8 + 4); /* time and op only */
	ck_assert_int_eq(medfs_journal_record_decode(buf, len, &b), 0);
	ck_assert_uint_eq(b.rec.op, MEDFS_OP_OPEN);
	ck_assert_ptr_null(b.rec.user);
	ck_assert_ptr_null(b.rec.program);
	ck_assert_ptr_null(b.rec.path);
	ck_assert_ptr_null(b.rec.path2);
	ck_assert_ptr_null(b.rec.patient_id);
	ck_assert_ptr_null(b.rec.study_uid);
	ck_assert_ptr_null(b.rec.sop_uid);
	ck_assert_ptr_null(b.rec.sop_class_uid);
	ck_assert_ptr_null(b.rec.modality);
	ck_assert_ptr_null(b.rec.detail);
	ck_assert_ptr_null(b.rec.ranges);
	ck_assert_uint_eq(b.rec.nranges, 0);
	ck_assert(b.rec.offset == -1);
	ck_assert_int_eq(b.rec.pid, 0);
	r.offset = 0; /* 0 is a value, not "absent" */
	ck_assert_int_eq(medfs_journal_record_encode(&r, buf, sizeof(buf), &len), 0);
	ck_assert_int_eq(medfs_journal_record_decode(buf, len, &b), 0);
	ck_assert(b.rec.offset == 0);
	medfs_journal_record_buf_free(&b);

	ck_assert_str_eq(medfs_journal_op_name(MEDFS_OP_OPEN), "open");
	ck_assert_str_eq(medfs_journal_op_name(MEDFS_OP_CHECKPOINT), "checkpoint");
	ck_assert_ptr_null(medfs_journal_op_name(999));
}
END_TEST

START_TEST(test_encode_invalid)
{
	struct medfs_journal_record r = { .op = MEDFS_OP_READ, .offset = -1 };
	static char big[MEDFS_JOURNAL_STRING_MAX + 2];
	uint8_t buf[64];
	size_t len;

	r.op = 0;
	ck_assert_int_eq(medfs_journal_record_encode(&r, buf, sizeof(buf), &len),
			 -EINVAL);
	r.op = MEDFS_OP_CHECKPOINT;
	ck_assert_int_eq(medfs_journal_record_encode(&r, buf, sizeof(buf), &len),
			 -EINVAL);
	r.op = MEDFS_OP_READ;
	r.nranges = 2;
	ck_assert_int_eq(medfs_journal_record_encode(&r, buf, sizeof(buf), &len),
			 -EINVAL);
	r.ranges = range_buf;
	r.nranges = MEDFS_JOURNAL_BODY_MAX / 16 + 1;
	ck_assert_int_eq(medfs_journal_record_encode(&r, NULL, 0, &len), -E2BIG);
	r.nranges = 0;
	memset(big, 'x', sizeof(big) - 1);
	r.detail = big;
	ck_assert_int_eq(medfs_journal_record_encode(&r, NULL, 0, &len), -EINVAL);
	big[MEDFS_JOURNAL_STRING_MAX] = '\0';
	ck_assert_int_eq(medfs_journal_record_encode(&r, NULL, 0, &len), -ENOBUFS);
}
END_TEST

static void put_tlv(uint8_t *b, size_t *pos, unsigned int tag, const void *v, uint32_t l)
{
	b[*pos] = (uint8_t)tag;
	b[*pos + 1] = (uint8_t)(tag >> 8);
	b[*pos + 2] = (uint8_t)l;
	b[*pos + 3] = (uint8_t)(l >> 8);
	b[*pos + 4] = (uint8_t)(l >> 16);
	b[*pos + 5] = (uint8_t)(l >> 24);
	memcpy(b + *pos + 6, v, l);
	*pos += 6 + l;
}

START_TEST(test_decode_malformed)
{
	struct medfs_journal_record_buf b = MEDFS_JOURNAL_RECORD_BUF_INIT;
	const uint8_t t8[8] = { 1 }, op4[4] = { 4 }, cp4[4] = { 0, 1 }, z[64] = { 0 };
	struct medfs_journal_record r;
	uint8_t buf[512], m[512];
	size_t len, pos;

	/* Every cut of a valid body is malformed or a shorter valid one. */
	make_record(&r, 1);
	ck_assert_int_eq(medfs_journal_record_encode(&r, buf, sizeof(buf), &len), 0);
	for (size_t cut = 0; cut < len; cut++) {
		int ret = medfs_journal_record_decode(buf, cut, &b);

		ck_assert(ret == 0 || ret == -EBADMSG);
		if (ret < 0)
			ck_assert_ptr_null(b.mem);
	}
	/* Tags out of order, repeated, wrong sizes, NUL in a string, no op,
	 * checkpoint fields in a record, a checkpoint without its fields. */
	pos = 0;
	put_tlv(m, &pos, 2, op4, 4);
	put_tlv(m, &pos, 1, t8, 8);
	ck_assert_int_eq(medfs_journal_record_decode(m, pos, &b), -EBADMSG);
	pos = 0;
	put_tlv(m, &pos, 1, t8, 8);
	put_tlv(m, &pos, 1, t8, 8);
	ck_assert_int_eq(medfs_journal_record_decode(m, pos, &b), -EBADMSG);
	pos = 0;
	put_tlv(m, &pos, 1, t8, 4);
	put_tlv(m, &pos, 2, op4, 4);
	ck_assert_int_eq(medfs_journal_record_decode(m, pos, &b), -EBADMSG);
	pos = 0;
	put_tlv(m, &pos, 1, t8, 8);
	ck_assert_int_eq(medfs_journal_record_decode(m, pos, &b), -EBADMSG);
	pos = 0;
	put_tlv(m, &pos, 1, t8, 8);
	put_tlv(m, &pos, 2, op4, 4);
	put_tlv(m, &pos, 8, "a\0b", 3);
	ck_assert_int_eq(medfs_journal_record_decode(m, pos, &b), -EBADMSG);
	pos = 0;
	put_tlv(m, &pos, 1, t8, 8);
	put_tlv(m, &pos, 2, op4, 4);
	put_tlv(m, &pos, 16, z, 15);
	ck_assert_int_eq(medfs_journal_record_decode(m, pos, &b), -EBADMSG);
	pos = 0;
	put_tlv(m, &pos, 1, t8, 8);
	put_tlv(m, &pos, 2, op4, 4);
	put_tlv(m, &pos, 32, z, 8);
	ck_assert_int_eq(medfs_journal_record_decode(m, pos, &b), -EBADMSG);
	pos = 0;
	put_tlv(m, &pos, 1, t8, 8);
	put_tlv(m, &pos, 2, cp4, 4);
	put_tlv(m, &pos, 32, z, 8);
	ck_assert_int_eq(medfs_journal_record_decode(m, pos, &b), -EBADMSG);
	/* A length past the end. */
	pos = 0;
	put_tlv(m, &pos, 1, t8, 8);
	put_tlv(m, &pos, 2, op4, 4);
	m[pos - 4 - 4] = 0xff;
	ck_assert_int_eq(medfs_journal_record_decode(m, pos, &b), -EBADMSG);
	/* An unknown (later) tag is skipped. */
	pos = 0;
	put_tlv(m, &pos, 1, t8, 8);
	put_tlv(m, &pos, 2, op4, 4);
	put_tlv(m, &pos, 200, "future", 6);
	ck_assert_int_eq(medfs_journal_record_decode(m, pos, &b), 0);
	ck_assert_uint_eq(b.rec.op, 4);
	medfs_journal_record_buf_free(&b);
}
END_TEST

/* The TLV layout of doc/JOURNAL.md section 5, built by hand. */
START_TEST(test_encode_layout)
{
	static const struct medfs_journal_range rg[] = { { 0x0102030405060708ull, 9 } };
	const struct medfs_journal_record r = {
		.time_us = 0x1122334455667788ull,
		.op = MEDFS_OP_READ,
		.uid = 1000,
		.pid = -1,
		.path = "/a",
		.result = 0,
		.offset = -1,
		.ranges = rg,
		.nranges = 1,
		.modality = "",
	};
	const uint8_t t8[8] = { 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 };
	const uint8_t op4[4] = { 5 }, uid4[4] = { 0xe8, 3 },
		      pid4[4] = { 0xff, 0xff, 0xff, 0xff };
	const uint8_t rg16[16] = { 8, 7, 6, 5, 4, 3, 2, 1, 9 };
	uint8_t want[256], got[256];
	size_t wl = 0, gl;

	put_tlv(want, &wl, 1, t8, 8);
	put_tlv(want, &wl, 2, op4, 4);
	put_tlv(want, &wl, 3, uid4, 4);
	put_tlv(want, &wl, 5, pid4, 4);
	put_tlv(want, &wl, 8, "/a", 2);
	put_tlv(want, &wl, 16, rg16, 16);
	put_tlv(want, &wl, 21, "", 0);
	ck_assert_int_eq(medfs_journal_record_encode(&r, got, sizeof(got), &gl), 0);
	ck_assert_uint_eq(gl, wl);
	ck_assert_mem_eq(got, want, wl);
}
END_TEST

START_TEST(test_framing_names)
{
	char name[MEDFS_JOURNAL_SEGMENT_NAME_LEN];
	struct medfs_journal_segment_header h;
	struct medfs_journal_frame f;
	uint8_t buf[HDR] = "MDJSEG02";
	uint64_t n;

	medfs_journal_segment_name(name, 42);
	ck_assert_str_eq(name, "seg-0000000000000042.mdj");
	ck_assert_int_eq(medfs_journal_segment_name_parse(name, &n), 0);
	ck_assert_uint_eq(n, 42);
	ck_assert_int_eq(medfs_journal_segment_name_parse("seg-000000000000004x.mdj", &n),
			 -EINVAL);
	ck_assert_int_eq(medfs_journal_segment_name_parse("seg-42.mdj", &n), -EINVAL);
	ck_assert_int_eq(medfs_journal_segment_header_parse(buf, HDR - 1, &h), -EAGAIN);
	ck_assert_int_eq(medfs_journal_segment_header_parse(buf, HDR, &h), 0);
	ck_assert_uint_eq(h.version, 2);
	buf[7] = '1'; /* before journal-open records: still read */
	ck_assert_int_eq(medfs_journal_segment_header_parse(buf, HDR, &h), 0);
	ck_assert_uint_eq(h.version, 1);
	buf[7] = '3';
	ck_assert_int_eq(medfs_journal_segment_header_parse(buf, HDR, &h),
			 -EPROTONOSUPPORT);
	buf[0] = 'X';
	ck_assert_int_eq(medfs_journal_segment_header_parse(buf, HDR, &h), -EBADMSG);

	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(medfs_journal_frame_parse(buf, 3, &f), 0);
	ck_assert_int_eq(medfs_journal_frame_parse(buf, 100, &f),
			 -EBADMSG); /* length 0 */
	buf[0] = 60;
	ck_assert_int_eq(medfs_journal_frame_parse(buf, 63, &f), 0);
	ck_assert_int_eq(medfs_journal_frame_parse(buf, 100, &f), 64);
	ck_assert_uint_eq(f.ct_len, 64 - MEDFS_JOURNAL_FRAME_HEADER_LEN);
	buf[3] = 0x7f;
	ck_assert_int_eq(medfs_journal_frame_parse(buf, 100, &f), -EBADMSG);

	/* Evolution is BLAKE2b-256 keyed with the seed over "MDJ-evolve". */
	{
		uint8_t s[32], e[32], x[32];

		memset(s, 7, sizeof(s));
		crypto_generichash(x, 32, (const uint8_t *)"MDJ-evolve", 10, s, 32);
		medfs_journal_seed_evolve(e, s);
		ck_assert_mem_eq(e, x, 32);
		medfs_journal_seed_evolve(s, s);
		ck_assert_mem_eq(s, x, 32);
	}
}
END_TEST

/* ---- keys ---- */

START_TEST(test_auditor_keys)
{
	struct medfs_auditor_key *pub, *sec;
	char prefix[DIR_MAX + 16], p[PATH_MAX];
	struct stat st;
	uint8_t *text;
	size_t len;

	ck_assert_int_eq(mkdir(jdir, 0700), 0);
	snprintf(prefix, sizeof(prefix), "%s/auditor", jdir);
	ck_assert_int_eq(medfs_auditor_keygen(prefix), 0);
	ck_assert_int_eq(medfs_auditor_keygen(prefix), -EEXIST);
	snprintf(p, sizeof(p), "%s.key", prefix);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(medfs_auditor_key_read_secret(p, &sec), 0);
	ck_assert(medfs_auditor_key_has_secret(sec));
	text = read_all(p, &len);
	ck_assert_int_eq(memcmp(text, "medfs-auditor-secret-v1 ", 24), 0);
	ck_assert_int_eq(text[len - 1], '\n');
	/* A .key whose Ed25519 halves disagree is refused. */
	{
		struct medfs_auditor_key *bad;
		uint8_t raw[96];
		size_t bl;
		char enc[200];

		ck_assert_int_eq(sodium_base642bin(raw, sizeof(raw), (char *)text + 24,
						   len - 25, NULL, &bl, NULL,
						   sodium_base64_VARIANT_ORIGINAL),
				 0);
		raw[95] ^= 1;
		memcpy(enc, "medfs-auditor-secret-v1 ", 24);
		sodium_bin2base64(enc + 24, sizeof(enc) - 24, raw, sizeof(raw),
				  sodium_base64_VARIANT_ORIGINAL);
		ck_assert_int_eq(medfs_auditor_key_parse_secret(enc, strlen(enc), &bad),
				 -EKEYREJECTED);
		ck_assert_ptr_null(bad);
		sodium_memzero(raw, sizeof(raw));
	}
	sodium_memzero(text, len);
	free(text);
	snprintf(p, sizeof(p), "%s.pub", prefix);
	ck_assert_int_eq(medfs_auditor_key_read_public(p, &pub), 0);
	ck_assert(!medfs_auditor_key_has_secret(pub));
	ck_assert_mem_eq(medfs_auditor_key_box_pk(pub), medfs_auditor_key_box_pk(sec),
			 32);
	ck_assert_mem_eq(medfs_auditor_key_sign_pk(pub), medfs_auditor_key_sign_pk(sec),
			 32);
	/* A public key reads nothing. */
	{
		struct medfs_journal_reader *rd;

		ck_assert_int_eq(medfs_journal_reader_open(&rd, jdir, pub, 0), -EINVAL);
		ck_assert_int_eq(medfs_journal_verify(jdir, pub, NULL, NULL, NULL),
				 -EINVAL);
	}
	medfs_auditor_key_free(pub);
	ck_assert_int_eq(
		medfs_auditor_key_parse_public("medfs-auditor-v1 AAAA\n", 22, &pub),
		-EBADMSG);
	ck_assert_int_eq(medfs_auditor_key_read_public("/nonexistent/x.pub", &pub),
			 -ENOENT);
	/* A .pub is not a .key, nor the other way round; and a .pub, which
	 * all may read, is not even private. */
	ck_assert_int_eq(medfs_auditor_key_read_secret(p, &pub), -EPERM);
	ck_assert_int_eq(chmod(p, 0600), 0);
	ck_assert_int_eq(medfs_auditor_key_read_secret(p, &pub), -EBADMSG);
	snprintf(p, sizeof(p), "%s.key", prefix);
	ck_assert_int_eq(medfs_auditor_key_read_public(p, &pub), -EBADMSG);
	/* A .key its group or others may read is refused. */
	ck_assert_int_eq(chmod(p, 0640), 0);
	ck_assert_int_eq(medfs_auditor_key_read_secret(p, &pub), -EPERM);
	ck_assert_ptr_null(pub);
	ck_assert_int_eq(chmod(p, 0600), 0);
	ck_assert_int_eq(medfs_auditor_key_read_secret(p, &pub), 0);
	medfs_auditor_key_free(pub);
	medfs_auditor_key_free(sec);
}
END_TEST

/* ---- writer, reader, verifier on clean journals ---- */

START_TEST(test_clean_journal)
{
	struct medfs_journal_record_buf b = MEDFS_JOURNAL_RECORD_BUF_INIT;
	struct medfs_journal_verify_stats st;
	struct medfs_journal_reader *rd;
	struct medfs_journal_pos pos;
	struct medfs_journal_record r;
	unsigned int n, nr, i = 0;

	build(jdir, 60, &small_cfg);
	expect_clean(jdir, &st);
	ck_assert_uint_ge(st.segments, 4);
	ck_assert_uint_eq(st.first_segment, 1);
	ck_assert_uint_eq(st.first_seq, 0);
	ck_assert_uint_ge(st.checkpoints, 15);
	ck_assert_uint_eq(st.epoch, st.checkpoints);
	ck_assert_uint_eq(st.records, st.next_seq);
	ck_assert_uint_eq(st.unsealed, 0);
	ck_assert_mem_eq(st.vault_id, vault_id, sizeof(vault_id));

	n = read_all_records(jdir, MEDFS_JOURNAL_READ_CHECKPOINTS, &nr);
	ck_assert_uint_eq(nr, 60);
	ck_assert_uint_eq(n, st.records);

	/* Without checkpoints: exactly the records, in order, intact. */
	ck_assert_int_eq(medfs_journal_reader_open(&rd, jdir, akey, 0), 0);
	while (medfs_journal_reader_next(rd, &b, &pos) == 1) {
		make_record(&r, i);
		ck_assert_uint_eq(b.rec.time_us, r.time_us);
		ck_assert_uint_eq(b.rec.op, r.op);
		ck_assert_uint_eq(b.rec.uid, r.uid);
		ck_assert_int_eq(b.rec.pid, r.pid);
		ck_assert_str_eq(b.rec.path, r.path);
		ck_assert_str_eq(b.rec.user, r.user);
		ck_assert_uint_eq(b.rec.nranges, r.nranges);
		if (r.nranges)
			ck_assert_mem_eq(b.rec.ranges, r.ranges,
					 r.nranges * sizeof(*r.ranges));
		ck_assert_uint_ge(pos.segment, 1);
		ck_assert_uint_le(pos.segment, st.last_segment);
		i++;
	}
	ck_assert_uint_eq(i, 60);
	medfs_journal_record_buf_free(&b);
	medfs_journal_reader_close(rd);
}
END_TEST

START_TEST(test_state_continuation)
{
	struct medfs_journal_verify_stats st, st2;
	struct medfs_journal_writer *w, *w2;
	unsigned int nr;

	build(jdir, 10, &small_cfg);
	expect_clean(jdir, &st);
	open_writer(&w, jdir, &small_cfg);
	/* One writer per directory. */
	ck_assert_int_eq(medfs_journal_writer_open(&w2, jdir,
						   medfs_auditor_key_box_pk(akey),
						   vault_id, state_key, NULL),
			 -EBUSY);
	append_n(w, 10, 10, 1);
	ck_assert_int_eq(medfs_journal_writer_close(w), 0);
	expect_clean(jdir, &st2);
	/* A new segment, continuing seq, epoch and chain. */
	ck_assert_uint_eq(st2.first_seq, 0);
	ck_assert_uint_gt(st2.segments, st.segments);
	ck_assert_uint_gt(st2.epoch, st.epoch);
	read_all_records(jdir, 0, &nr);
	ck_assert_uint_eq(nr, 20);
	/* An empty session: a header-only last segment is fine. */
	open_writer(&w, jdir, NULL);
	ck_assert_int_eq(medfs_journal_writer_close(w), 0);
	expect_clean(jdir, NULL);
	/* The wrong state key: STATE does not unseal. */
	state_key[0] ^= 1;
	medfs_log_set(quiet_log);
	ck_assert_int_eq(medfs_journal_writer_open(&w, jdir,
						   medfs_auditor_key_box_pk(akey),
						   vault_id, state_key, NULL),
			 -EBADMSG);
	medfs_log_set(NULL);
	state_key[0] ^= 1;
}
END_TEST

START_TEST(test_wrong_key)
{
	struct medfs_journal_reader *rd;
	struct collect c;

	build(jdir, 10, &small_cfg);
	ck_assert_int_eq(medfs_journal_reader_open(&rd, jdir, akey2, 0), -EKEYREJECTED);
	ck_assert_ptr_null(rd);
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(medfs_journal_verify(jdir, akey2, collect_fn, &c, NULL),
			 -EKEYREJECTED);
	ck_assert_int_eq(c.n, 0);
	ck_assert_int_eq(
		medfs_journal_verify("/nonexistent-journal", akey, NULL, NULL, NULL),
		-ENOENT);
}
END_TEST

/* ---- tamper cases ---- */

START_TEST(test_tamper_modify)
{
	struct seg s;
	char p[PATH_MAX];

	build(jdir, 40, &small_cfg);
	seg_load(jdir, 2, &s);
	ck_assert_int_ge(s.n, 3);
	/* Every byte of one record: each flip is caught at that record. */
	seg_path(p, jdir, 2);
	for (size_t i = 0; i < s.flen[1]; i++) {
		s.data[s.off[1] + i] ^= 0x01;
		write_all(p, s.data, s.len);
		expect_first_error(jdir, 2, s.seq[1]);
		s.data[s.off[1] + i] ^= 0x01;
	}
	write_all(p, s.data, s.len);
	expect_clean(jdir, NULL);
	free(s.data);
}
END_TEST

START_TEST(test_tamper_delete)
{
	struct seg s;
	uint8_t *d;
	size_t l;

	build(jdir, 40, &small_cfg);
	seg_load(jdir, 2, &s);
	d = malloc(s.len);
	l = s.off[1];
	memcpy(d, s.data, l);
	memcpy(d + l, s.data + s.off[2], s.len - s.off[2]);
	l += s.len - s.off[2];
	seg_store(jdir, 2, d, l);
	expect_first_error(jdir, 2, s.seq[1]);
	free(d);
	free(s.data);
}
END_TEST

START_TEST(test_tamper_insert)
{
	struct seg s;
	uint8_t *d;
	size_t l;

	build(jdir, 40, &small_cfg);
	seg_load(jdir, 2, &s);
	/* A copy of record 0 inserted after record 1. */
	d = malloc(s.len + s.flen[0]);
	l = s.off[2];
	memcpy(d, s.data, l);
	memcpy(d + l, s.data + s.off[0], s.flen[0]);
	l += s.flen[0];
	memcpy(d + l, s.data + s.off[2], s.len - s.off[2]);
	l += s.len - s.off[2];
	seg_store(jdir, 2, d, l);
	expect_first_error(jdir, 2, s.seq[2]);
	free(d);
	free(s.data);
}
END_TEST

START_TEST(test_tamper_reorder)
{
	struct seg s;
	uint8_t *d;
	size_t l;

	build(jdir, 40, &small_cfg);
	seg_load(jdir, 2, &s);
	d = malloc(s.len);
	l = s.off[1];
	memcpy(d, s.data, l);
	memcpy(d + l, s.data + s.off[2], s.flen[2]);
	l += s.flen[2];
	memcpy(d + l, s.data + s.off[1], s.flen[1]);
	l += s.flen[1];
	memcpy(d + l, s.data + s.off[3], s.len - s.off[3]);
	seg_store(jdir, 2, d, s.len);
	expect_first_error(jdir, 2, s.seq[1]);
	free(d);
	free(s.data);
}
END_TEST

START_TEST(test_tamper_truncate_last)
{
	uint64_t last;
	struct seg s;
	char p[PATH_MAX];

	build(jdir, 40, &small_cfg);
	last = last_segment(jdir);
	seg_load(jdir, last, &s);
	ck_assert_int_ge(s.n, 2);
	/* Cut back before the last checkpoint (the closing one, which HEAD
	 * names): the last record and the checkpoint go. */
	seg_path(p, jdir, last);
	ck_assert_int_eq(truncate(p, (off_t)s.off[s.n - 2]), 0);
	expect_first_error(jdir, last, s.seq[s.n - 1]);
	free(s.data);
}
END_TEST

START_TEST(test_tamper_truncate_middle)
{
	struct collect c;
	struct seg s;
	char p[PATH_MAX];
	int r, i;

	build(jdir, 40, &small_cfg);
	seg_load(jdir, 2, &s);
	seg_path(p, jdir, 2);
	ck_assert_int_eq(truncate(p, (off_t)s.off[s.n - 2]), 0);
	r = verify(jdir, &c, NULL);
	for (i = 0; i < c.n && !c.it[i].error; i++)
		;
	ck_assert_int_gt(r, 0);
	ck_assert_uint_eq(c.it[i].segment, 2);
	ck_assert_uint_ge(c.it[i].seq, s.seq[0]);
	ck_assert_uint_le(c.it[i].seq, s.seq[s.n - 1]);
	free(s.data);
}
END_TEST

START_TEST(test_tamper_replace_other_journal)
{
	char a[PATH_MAX], b[PATH_MAX];

	build(jdir, 40, &small_cfg);
	/* Another journal of the same vault and auditor. */
	randombytes_buf(state_key, sizeof(state_key));
	build(jdir2, 40, &small_cfg);
	expect_clean(jdir2, NULL);
	seg_path(a, jdir2, 2);
	seg_path(b, jdir, 2);
	copy_file(a, b);
	expect_first_error(jdir, 2, NONE);
}
END_TEST

/* Seals a STATE (doc/JOURNAL.md) the way a writer would, so a test can
 * make a writer continue any chain it likes: an attacker holding the
 * state key and the public auditor key. */
static void forge_state(const char *dir, const uint8_t seed[32], uint64_t epoch,
			uint64_t seq, const uint8_t chain[32], uint64_t segment,
			uint64_t offset)
{
	uint8_t plain[120], buf[8 + 24 + 120 + 16];
	char p[PATH_MAX];

	memcpy(plain, seed, 32);
	for (int i = 0; i < 8; i++) {
		plain[32 + i] = (uint8_t)(epoch >> (8 * i));
		plain[40 + i] = (uint8_t)(seq >> (8 * i));
		plain[80 + i] = (uint8_t)(segment >> (8 * i));
		plain[88 + i] = (uint8_t)(offset >> (8 * i));
		plain[112 + i] = 0;
	}
	memcpy(plain + 48, chain, 32);
	memcpy(plain + 96, vault_id, 16);
	memcpy(buf, "MDJSTAT1", 8);
	randombytes_buf(buf + 8, 24);
	crypto_aead_xchacha20poly1305_ietf_encrypt(buf + 32, NULL, plain, sizeof(plain),
						   buf, 32, NULL, buf + 8, state_key);
	mkdir(dir, 0700);
	snprintf(p, sizeof(p), "%s/STATE", dir);
	write_all(p, buf, sizeof(buf));
}

START_TEST(test_tamper_replace_fresh_seed)
{
	struct medfs_journal_writer *w;
	uint8_t seed[32];
	char a[PATH_MAX], b[PATH_MAX];
	struct seg s;

	build(jdir, 40, &small_cfg);
	seg_load(jdir, 2, &s);
	/* A well-formed segment 2 made anew: same start seq, epoch and chain
	 * hash, its own records and checkpoints, under a fresh seed. */
	randombytes_buf(seed, sizeof(seed));
	forge_state(jdir2, seed, s.h.start_epoch, s.h.start_seq, s.h.prev_hash, 1, HDR);
	medfs_log_set(quiet_log);
	open_writer(&w, jdir2, &(struct medfs_journal_config){ .checkpoint_records = 4 });
	medfs_log_set(NULL);
	append_n(w, 100, 5, 0);
	ck_assert_int_eq(medfs_journal_writer_close(w), 0);
	seg_path(a, jdir2, 2);
	seg_path(b, jdir, 2);
	copy_file(a, b);
	expect_first_error(jdir, 2, NONE);
	free(s.data);
}
END_TEST

START_TEST(test_tamper_delete_last_segment)
{
	uint64_t last;
	struct seg s;
	char p[PATH_MAX];

	build(jdir, 40, &small_cfg);
	last = last_segment(jdir);
	seg_load(jdir, last, &s);
	seg_path(p, jdir, last);
	ck_assert_int_eq(unlink(p), 0);
	/* HEAD names the closing checkpoint, now gone. */
	expect_first_error(jdir, last, s.seq[s.n - 1]);
	free(s.data);
}
END_TEST

START_TEST(test_tamper_delete_middle_segment)
{
	char p[PATH_MAX];

	build(jdir, 40, &small_cfg);
	seg_path(p, jdir, 3);
	ck_assert_int_eq(unlink(p), 0);
	expect_first_error(jdir, 4, NONE);
	/* And the first one: no PRUNED vouches for the start. */
	seg_path(p, jdir, 1);
	ck_assert_int_eq(unlink(p), 0);
	expect_first_error(jdir, 2, NONE);
}
END_TEST

START_TEST(test_tamper_replay_segment)
{
	char a[PATH_MAX], b[PATH_MAX];
	uint64_t last;

	build(jdir, 40, &small_cfg);
	last = last_segment(jdir);
	ck_assert_uint_ge(last, 4);
	/* An earlier segment copied over a later one... */
	seg_path(a, jdir, 1);
	seg_path(b, jdir, 3);
	copy_file(a, b);
	expect_first_error(jdir, 3, NONE);
	/* ...and appended under a new number. */
	new_dir(jdir);
	build(jdir, 40, &small_cfg);
	seg_path(a, jdir, 2);
	seg_path(b, jdir, last + 1);
	copy_file(a, b);
	expect_first_error(jdir, last + 1, NONE);
}
END_TEST

START_TEST(test_tamper_head_rollback)
{
	struct medfs_journal_writer *w;
	char p[PATH_MAX];
	uint64_t last;
	uint8_t *old;
	size_t len;
	struct seg s;

	build(jdir, 20, &small_cfg);
	snprintf(p, sizeof(p), "%s/HEAD", jdir);
	old = read_all(p, &len);
	open_writer(&w, jdir, &small_cfg);
	append_n(w, 20, 10, 0);
	ck_assert_int_eq(medfs_journal_writer_close(w), 0);
	last = last_segment(jdir);
	seg_load(jdir, last, &s);
	write_all(p, old, len);
	/* The error names the checkpoint HEAD should name. */
	expect_first_error(jdir, last, s.seq[s.n - 1]);
	/* A HEAD that is not signed by its epoch's key. */
	old[len - 1] ^= 1;
	write_all(p, old, len);
	expect_first_error(jdir, last, s.seq[s.n - 1]);
	free(old);
	free(s.data);
}
END_TEST

/* ---- crashes, failures ---- */

START_TEST(test_unsealed_tail_warning)
{
	struct medfs_journal_verify_stats st;
	struct medfs_journal_writer *w;
	struct collect c;
	unsigned int nr;
	uint64_t last;
	struct seg s;
	char p[PATH_MAX];
	int fd;

	/* The journal as a crash leaves it: a copy taken while the writer
	 * is still open, two records after the last checkpoint (15 with the
	 * journal-open record). */
	open_writer(&w, jdir, &(struct medfs_journal_config){ .checkpoint_records = 4 });
	append_n(w, 0, 13, 1);
	copy_dir(jdir, jdir2);
	ck_assert_int_eq(medfs_journal_writer_close(w), 0);
	ck_assert_int_eq(verify(jdir2, &c, &st), 0);
	ck_assert_int_eq(c.n, 1);
	ck_assert_int_eq(c.it[0].error, 0);
	ck_assert_uint_eq(st.unsealed, 2);
	ck_assert_uint_eq(c.it[0].segment, st.last_segment);
	ck_assert_uint_eq(c.it[0].seq, st.next_seq - 2);
	/* Plus a torn record at the end: still only warnings. */
	last = st.last_segment;
	seg_load(jdir2, last, &s);
	seg_path(p, jdir2, last);
	fd = open(p, O_WRONLY | O_APPEND);
	ck_assert_int_eq(write(fd, s.data + s.off[0], 30), 30);
	close(fd);
	ck_assert_int_eq(verify(jdir2, &c, &st), 0);
	ck_assert_int_eq(c.n, 2);
	/* The next writer cuts the torn bytes and seals the tail. */
	medfs_log_set(quiet_log);
	open_writer(&w, jdir2, &small_cfg);
	medfs_log_set(NULL);
	append_n(w, 13, 3, 0);
	ck_assert_int_eq(medfs_journal_writer_close(w), 0);
	expect_clean(jdir2, &st);
	read_all_records(jdir2, 0, &nr);
	ck_assert_uint_eq(nr, 16);
	free(s.data);
}
END_TEST

START_TEST(test_tail_mismatch_recorded)
{
	struct medfs_journal_record_buf b = MEDFS_JOURNAL_RECORD_BUF_INIT;
	struct medfs_journal_writer *w;
	struct medfs_journal_reader *rd;
	uint64_t last;
	char p[PATH_MAX];
	int found = 0;

	build(jdir, 20, &small_cfg);
	last = last_segment(jdir);
	seg_path(p, jdir, last);
	ck_assert_int_eq(unlink(p), 0);
	medfs_log_set(quiet_log);
	open_writer(&w, jdir, &small_cfg);
	medfs_log_set(NULL);
	ck_assert_int_eq(medfs_journal_writer_close(w), 0);
	ck_assert_int_eq(medfs_journal_reader_open(&rd, jdir, akey, 0), 0);
	while (medfs_journal_reader_next(rd, &b, NULL) == 1)
		if (b.rec.op == MEDFS_OP_INTEGRITY && b.rec.detail &&
		    strstr(b.rec.detail, "journal tail does not match state"))
			found = 1;
	medfs_journal_record_buf_free(&b);
	medfs_journal_reader_close(rd);
	ck_assert(found);
	/* The gap stays visible to verify. */
	expect_first_error(jdir, last + 1, NONE);
}
END_TEST

START_TEST(test_restart_without_state)
{
	struct medfs_journal_writer *w;
	char p[PATH_MAX];
	uint64_t last;

	build(jdir, 20, &small_cfg);
	last = last_segment(jdir);
	snprintf(p, sizeof(p), "%s/STATE", jdir);
	ck_assert_int_eq(unlink(p), 0);
	medfs_log_set(quiet_log);
	ck_assert_int_eq(medfs_journal_writer_open(&w, jdir,
						   medfs_auditor_key_box_pk(akey),
						   vault_id, state_key, &small_cfg),
			 -EBADMSG);
	open_writer(&w, jdir,
		    &(struct medfs_journal_config){ .flags = MEDFS_JOURNAL_RESTART });
	medfs_log_set(NULL);
	append_n(w, 0, 3, 0);
	ck_assert_int_eq(medfs_journal_writer_close(w), 0);
	/* A new chain under a fresh seed is a break verify reports. */
	expect_first_error(jdir, last + 1, NONE);
}
END_TEST

/* A power cut while the first mount creates the journal (found by the
 * crash checker, tests/crash): segment 1 is on disk, with its header, all
 * of it or none, and STATE is not yet. The next mount starts the journal
 * anew instead of refusing it as one that lost its STATE. */
START_TEST(test_crash_while_creating)
{
	const off_t sizes[] = { MEDFS_JOURNAL_SEGMENT_HEADER_LEN, 17, 0 };
	struct medfs_journal_verify_stats st;
	struct medfs_journal_writer *w;
	char p[PATH_MAX];
	int fd;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		open_writer(&w, jdir, &small_cfg);
		ck_assert_int_eq(medfs_journal_writer_close(w), 0);
		ck_assert_uint_eq(last_segment(jdir), 1);
		seg_path(p, jdir, 1);
		fd = open(p, O_WRONLY);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(ftruncate(fd, sizes[i]), 0);
		close(fd);
		snprintf(p, sizeof(p), "%s/STATE", jdir);
		ck_assert_int_eq(unlink(p), 0);
		snprintf(p, sizeof(p), "%s/HEAD", jdir);
		unlink(p);
		open_writer(&w, jdir, &small_cfg);
		append_n(w, 0, 3, 1);
		ck_assert_int_eq(medfs_journal_writer_close(w), 0);
		expect_clean(jdir, &st);
		/* Once anything was recorded, a lost STATE is refused. */
		snprintf(p, sizeof(p), "%s/STATE", jdir);
		ck_assert_int_eq(unlink(p), 0);
		medfs_log_set(quiet_log);
		ck_assert_int_eq(medfs_journal_writer_open(&w, jdir,
							   medfs_auditor_key_box_pk(akey),
							   vault_id, state_key, &small_cfg),
				 -EBADMSG);
		medfs_log_set(NULL);
		new_dir(jdir);
	}
}
END_TEST

START_TEST(test_fail_closed)
{
	struct medfs_journal_writer *w;
	struct medfs_journal_verify_stats st;
	struct medfs_journal_record r;
	struct rlimit old, lim;
	struct collect c;
	struct stat sb;
	char p[PATH_MAX];
	int ret = 0, i;

	/* The segment file cannot grow past RLIMIT_FSIZE: write(2) fails
	 * with EFBIG (after a short write), as on a full disk. */
	signal(SIGXFSZ, SIG_IGN);
	open_writer(&w, jdir,
		    &(struct medfs_journal_config){ .checkpoint_records = 1000 });
	append_n(w, 0, 5, 1);
	seg_path(p, jdir, 1);
	ck_assert_int_eq(stat(p, &sb), 0);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)sb.st_size + 300;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	medfs_log_set(quiet_log);
	for (i = 5; i < 50 && ret == 0; i++) {
		make_record(&r, (unsigned int)i);
		ret = medfs_journal_append(w, &r, 1);
	}
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	ck_assert_int_eq(ret, -EIO);
	/* Failed for good, even once the disk has room again. */
	make_record(&r, 99);
	ck_assert_int_eq(medfs_journal_append(w, &r, 0), -EIO);
	ck_assert_int_eq(medfs_journal_append(w, &r, 1), -EIO);
	ck_assert_int_eq(medfs_journal_tick(w, T0), -EIO);
	ck_assert_int_eq(medfs_journal_checkpoint(w), -EIO);
	ck_assert_int_eq(medfs_journal_writer_status(w), -EIO);
	ck_assert_int_eq(medfs_journal_writer_close(w), -EIO);
	medfs_log_set(NULL);
	/* What was acknowledged is there; the torn write is only a warning. */
	ck_assert_int_eq(verify(jdir, &c, &st), 0);
	ck_assert_uint_eq(st.unsealed, (uint64_t)i); /* i - 1 and journal-open */
	/* The next writer recovers: tail sealed, torn bytes cut. */
	medfs_log_set(quiet_log);
	open_writer(&w, jdir, NULL);
	medfs_log_set(NULL);
	ck_assert_int_eq(medfs_journal_writer_close(w), 0);
	expect_clean(jdir, NULL);
	signal(SIGXFSZ, SIG_DFL);
}
END_TEST

/* After a failure, resume continues the chain once the disk has room:
 * the torn write is cut, the tail sealed, and the journal verifies. */
START_TEST(test_resume)
{
	struct medfs_journal_writer *w;
	struct medfs_journal_verify_stats st;
	struct medfs_journal_record r;
	struct rlimit old, lim;
	struct stat sb;
	char p[PATH_MAX];
	unsigned int nr;
	int ret = 0, i;

	signal(SIGXFSZ, SIG_IGN);
	open_writer(&w, jdir,
		    &(struct medfs_journal_config){ .checkpoint_records = 1000 });
	append_n(w, 0, 5, 1);
	ck_assert_int_eq(medfs_journal_writer_resume(w), 0); /* not failed: nothing */
	seg_path(p, jdir, 1);
	ck_assert_int_eq(stat(p, &sb), 0);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)sb.st_size + 300;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	medfs_log_set(quiet_log);
	for (i = 5; i < 50 && ret == 0; i++) {
		make_record(&r, (unsigned int)i);
		ret = medfs_journal_append(w, &r, 1);
	}
	ck_assert_int_eq(ret, -EIO);
	/* Still no room: resume fails, and the writer stays failed. */
	ck_assert_int_lt(medfs_journal_writer_resume(w), 0);
	ck_assert_int_lt(medfs_journal_writer_status(w), 0);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	ck_assert_int_eq(medfs_journal_writer_resume(w), 0);
	medfs_log_set(NULL);
	ck_assert_int_eq(medfs_journal_writer_status(w), 0);
	append_n(w, 100, 3, 1);
	ck_assert_int_eq(medfs_journal_writer_close(w), 0);
	expect_clean(jdir, &st);
	/* i - 1 records acknowledged before the failure, 3 after */
	read_all_records(jdir, 0, &nr);
	ck_assert_uint_eq(nr, (unsigned int)(i - 1) + 3);
	signal(SIGXFSZ, SIG_DFL);
}
END_TEST

/* ---- the spool ---- */

START_TEST(test_spool)
{
	struct medfs_journal_record_buf b = MEDFS_JOURNAL_RECORD_BUF_INIT;
	struct medfs_journal_record r = { 0 };
	struct medfs_journal_writer *w;
	struct medfs_journal_reader *rd;
	char spool[DIR_MAX + 16], bad[DIR_MAX + 64];
	uint32_t ops[8];
	unsigned int n = 0;
	DIR *d;
	struct dirent *de;

	snprintf(spool, sizeof(spool), "%s-spool", jdir);
	open_writer(&w, jdir, NULL);
	ck_assert_int_eq(medfs_journal_ingest(w, spool), 0); /* none yet */
	r.op = MEDFS_OP_OPEN;
	r.offset = -1;
	ck_assert_int_eq(medfs_journal_spool(spool, &r), -EINVAL);
	r.op = MEDFS_OP_UNLOCK_FAILED;
	r.time_us = T0;
	r.detail = "wrong passphrase";
	ck_assert_int_eq(medfs_journal_spool(spool, &r), 0);
	r.op = MEDFS_OP_KEY_CHANGE;
	r.time_us = T0 + 1;
	r.detail = "add slot 1 (keyfile)";
	ck_assert_int_eq(medfs_journal_spool(spool, &r), 0);
	/* Not a record: removed, and an integrity record says so. */
	snprintf(bad, sizeof(bad), "%s/rec-99999999999999999999-00000000", spool);
	write_all(bad, (const uint8_t *)"MDJSPOL1garbage", 15);
	medfs_log_set(quiet_log);
	ck_assert_int_eq(medfs_journal_ingest(w, spool), 3);
	medfs_log_set(NULL);
	ck_assert_int_eq(medfs_journal_ingest(w, spool), 0);
	ck_assert_int_eq(medfs_journal_writer_close(w), 0);
	d = opendir(spool);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)))
		ck_assert(de->d_name[0] == '.');
	closedir(d);
	ck_assert_int_eq(medfs_journal_reader_open(&rd, jdir, akey, 0), 0);
	while (n < 8 && medfs_journal_reader_next(rd, &b, NULL) == 1)
		ops[n++] = b.rec.op;
	medfs_journal_record_buf_free(&b);
	medfs_journal_reader_close(rd);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(ops[0], MEDFS_OP_UNLOCK_FAILED);
	ck_assert_uint_eq(ops[1], MEDFS_OP_KEY_CHANGE);
	ck_assert_uint_eq(ops[2], MEDFS_OP_INTEGRITY);
	expect_clean(jdir, NULL);
}
END_TEST

/* ---- keys evolve ---- */

static void read_state(const char *dir, uint8_t seed[32], uint64_t *epoch)
{
	uint8_t *buf, plain[120];
	char p[PATH_MAX];
	size_t len;

	snprintf(p, sizeof(p), "%s/STATE", dir);
	buf = read_all(p, &len);
	ck_assert_uint_eq(len, 8 + 24 + 120 + 16);
	ck_assert_int_eq(crypto_aead_xchacha20poly1305_ietf_decrypt(
				 plain, NULL, NULL, buf + 32, len - 32, buf, 32, buf + 8,
				 state_key),
			 0);
	memcpy(seed, plain, 32);
	*epoch = 0;
	for (int i = 7; i >= 0; i--)
		*epoch = (*epoch << 8) | plain[32 + i];
	sodium_memzero(plain, sizeof(plain));
	free(buf);
}

START_TEST(test_key_evolution)
{
	struct medfs_journal_writer *w;
	uint8_t s0[32], s1[32], s[32], e[32];
	uint64_t e0, e1, ew;
	const void *mem;
	size_t len;

	open_writer(&w, jdir, &(struct medfs_journal_config){ .checkpoint_records = 3 });
	read_state(jdir, s0, &e0);
	medfs_journal_writer_secrets_for_test(w, &mem, &len, &ew);
	ck_assert_uint_eq(ew, e0);
	ck_assert_ptr_nonnull(memmem(mem, len, s0, 32)); /* the search works */
	append_n(w, 0, 30, 0);
	medfs_journal_writer_secrets_for_test(w, &mem, &len, &ew);
	read_state(jdir, s1, &e1);
	/* STATE holds the current epoch only. */
	ck_assert_uint_eq(e1, e0 + 10);
	ck_assert_uint_eq(ew, e1);
	ck_assert_ptr_nonnull(memmem(mem, len, s1, 32));
	/* Every earlier seed and record key is gone from the writer. */
	memcpy(s, s0, 32);
	for (uint64_t i = e0; i < e1; i++) {
		ck_assert_ptr_null(memmem(mem, len, s, 32));
		crypto_generichash(e, 32, (const uint8_t *)"MDJ-enc", 7, s, 32);
		ck_assert_ptr_null(memmem(mem, len, e, 32));
		medfs_journal_seed_evolve(s, s);
	}
	ck_assert_mem_eq(s, s1, 32);
	/* The current epoch's keys are the ones doc/JOURNAL.md derives. */
	{
		uint8_t t[32], pk[32], sk[64];

		crypto_generichash(e, 32, (const uint8_t *)"MDJ-enc", 7, s1, 32);
		ck_assert_ptr_nonnull(memmem(mem, len, e, 32));
		crypto_generichash(t, 32, (const uint8_t *)"MDJ-sign", 8, s1, 32);
		crypto_sign_seed_keypair(pk, sk, t);
		ck_assert_ptr_nonnull(memmem(mem, len, sk, 64));
		sodium_memzero(t, sizeof(t));
		sodium_memzero(sk, sizeof(sk));
	}
	ck_assert_int_eq(medfs_journal_writer_close(w), 0);
	sodium_memzero(s0, sizeof(s0));
	sodium_memzero(s1, sizeof(s1));
	sodium_memzero(s, sizeof(s));
}
END_TEST

START_TEST(test_tick)
{
	struct medfs_journal_verify_stats st;
	struct medfs_journal_writer *w;
	struct collect c;
	uint64_t now;

	open_writer(&w, jdir, NULL);
	append_n(w, 0, 3, 0);
	ck_assert_int_eq(verify(jdir, &c, &st), 0);
	ck_assert_uint_eq(st.unsealed, 4); /* and the journal-open record */
	now = (uint64_t)time(NULL) * 1000000;
	ck_assert_int_eq(medfs_journal_tick(w, now), 0);
	ck_assert_int_eq(verify(jdir, &c, &st), 0);
	ck_assert_uint_eq(st.unsealed, 4); /* not a minute yet */
	ck_assert_int_eq(medfs_journal_tick(w, now + 61 * 1000000ull), 0);
	expect_clean(jdir, &st);
	ck_assert_uint_eq(st.checkpoints, 1);
	ck_assert_uint_eq(st.segments, 1);
	/* A segment older than a day is rotated. */
	append_n(w, 3, 2, 0);
	ck_assert_int_eq(medfs_journal_tick(w, now + 2 * 86400 * 1000000ull), 0);
	expect_clean(jdir, &st);
	ck_assert_uint_eq(st.segments, 2);
	ck_assert_uint_eq(st.checkpoints, 2);
	ck_assert_int_eq(medfs_journal_writer_close(w), 0);
	expect_clean(jdir, NULL);
}
END_TEST

struct thread_arg {
	struct medfs_journal_writer *w;
	unsigned int base;
};

static void *appender(void *p)
{
	struct thread_arg *a = p;
	struct medfs_journal_record r;

	for (unsigned int i = 0; i < 200; i++) {
		make_record(&r, a->base + i);
		r.path = "/shared/path";
		if (medfs_journal_append(a->w, &r, i % 4 == 0) != 0)
			return p;
	}
	return NULL;
}

START_TEST(test_concurrent_append)
{
	struct medfs_journal_verify_stats st;
	struct medfs_journal_writer *w;
	struct thread_arg a[8];
	pthread_t t[8];
	unsigned int nr;

	open_writer(&w, jdir,
		    &(struct medfs_journal_config){ .segment_max_bytes = 64 << 10,
						    .checkpoint_records = 50 });
	for (int i = 0; i < 8; i++) {
		a[i].w = w;
		a[i].base = 1000u * (unsigned int)i;
		ck_assert_int_eq(pthread_create(&t[i], NULL, appender, &a[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		void *ret;

		ck_assert_int_eq(pthread_join(t[i], &ret), 0);
		ck_assert_ptr_null(ret);
	}
	ck_assert_int_eq(medfs_journal_writer_close(w), 0);
	expect_clean(jdir, &st);
	ck_assert_uint_ge(st.segments, 2);
	read_all_records(jdir, 0, &nr);
	ck_assert_uint_eq(nr, 1600);
}
END_TEST

START_TEST(test_follow)
{
	struct medfs_journal_record_buf b = MEDFS_JOURNAL_RECORD_BUF_INIT;
	struct medfs_journal_writer *w;
	struct medfs_journal_reader *rd;
	int n = 0;

	open_writer(&w, jdir, &small_cfg);
	append_n(w, 0, 5, 0);
	ck_assert_int_eq(medfs_journal_reader_open(&rd, jdir, akey, 0), 0);
	while (medfs_journal_reader_next(rd, &b, NULL) == 1)
		n++;
	ck_assert_int_eq(n, 5);
	/* New records and segments of a live journal are picked up. */
	append_n(w, 5, 20, 0);
	while (medfs_journal_reader_next(rd, &b, NULL) == 1)
		n++;
	ck_assert_int_eq(n, 25);
	ck_assert_int_eq(medfs_journal_reader_next(rd, &b, NULL), 0);
	ck_assert_int_eq(medfs_journal_writer_close(w), 0);
	ck_assert_int_eq(medfs_journal_reader_next(rd, &b, NULL), 0);
	medfs_journal_record_buf_free(&b);
	medfs_journal_reader_close(rd);
}
END_TEST

/* ---- time and sessions: what a STATE holder can no longer forge ---- */

/* The number of errors verify reports at segment seg, record seq, whose
 * message holds what. */
static int errors_at(const char *dir, uint64_t seg, uint64_t seq, const char *what)
{
	struct collect c;
	int n = 0;

	verify(dir, &c, NULL);
	for (int i = 0; i < c.n; i++)
		if (c.it[i].error && c.it[i].segment == seg && c.it[i].seq == seq &&
		    strstr(c.it[i].msg, what))
			n++;
	if (n == 0)
		dump(&c);
	return n;
}

static int error_count(const char *dir)
{
	struct collect c;
	int r = verify(dir, &c, NULL);

	if (r != 0)
		dump(&c);
	return r;
}

START_TEST(test_times_never_go_back)
{
	struct medfs_journal_record_buf b = MEDFS_JOURNAL_RECORD_BUF_INIT;
	struct medfs_journal_writer *w;
	struct medfs_journal_reader *rd;
	struct medfs_journal_record r;
	uint64_t last = 0;

	/* A record dated before the one before it (a range record of an
	 * older read, a clock stepped back) takes the previous time, across
	 * a new mount too (STATE keeps it). */
	open_writer(&w, jdir, &small_cfg);
	append_n(w, 10, 5, 0);
	make_record(&r, 2);
	ck_assert_int_eq(medfs_journal_append(w, &r, 0), 0);
	ck_assert_int_eq(medfs_journal_writer_close(w), 0);
	open_writer(&w, jdir, &small_cfg);
	append_n(w, 0, 3, 0);
	r.op = MEDFS_OP_JOURNAL_OPEN; /* the journal's own, never a caller's */
	ck_assert_int_eq(medfs_journal_append(w, &r, 0), -EINVAL);
	ck_assert_int_eq(medfs_journal_writer_close(w), 0);
	expect_clean(jdir, NULL);
	ck_assert_int_eq(medfs_journal_reader_open(&rd, jdir, akey, 0), 0);
	for (int i = 0; medfs_journal_reader_next(rd, &b, NULL) == 1; i++) {
		ck_assert_uint_eq(b.rec.time_us, i < 5 ? T0 + 10 + i : T0 + 14);
		ck_assert_uint_ge(b.rec.time_us, last);
		last = b.rec.time_us;
	}
	medfs_journal_record_buf_free(&b);
	medfs_journal_reader_close(rd);
}
END_TEST

START_TEST(test_forged_backdated)
{
	struct medfs_journal_record r,
		open_rec = { .op = MEDFS_OP_JOURNAL_OPEN, .offset = -1 };
	char d3[DIR_MAX];
	struct forger fg;
	uint64_t seg, seq;

	build(jdir, 10, &small_cfg); /* records dated T0 to T0 + 9 */
	expect_clean(jdir, NULL);
	copy_dir(jdir, jdir2);

	/* After the writer closed its segment, someone holding STATE appends
	 * a record dated before the last one. */
	ck_assert_int_eq(forger_open(&fg, jdir, state_key), 0);
	make_record(&r, 3);
	seg = fg.segment;
	seq = fg.seq;
	ck_assert_int_eq(forger_append(&fg, &r), 0);
	forger_close(&fg);
	ck_assert_int_eq(errors_at(jdir, seg, seq, "time went backwards"), 1);
	ck_assert_int_eq(errors_at(jdir, seg, seq, "closed segment"), 1);

	/* In a segment of its own: without a journal-open record... */
	ck_assert_int_eq(forger_open(&fg, jdir2, state_key), 0);
	ck_assert_int_eq(forger_new_segment(&fg, medfs_auditor_key_box_pk(akey), 0), 0);
	make_record(&r, 100);
	seg = fg.segment;
	seq = fg.seq;
	ck_assert_int_eq(forger_append(&fg, &r), 0);
	forger_close(&fg);
	ck_assert_int_eq(errors_at(jdir2, seg, seq, "not with a writer's journal-open"),
			 1);
	ck_assert_int_eq(error_count(jdir2), 1);

	/* ...and with one, opened now as a writer would: the records after
	 * it may not be dated before the journal's last record. */
	new_dir(d3);
	build(d3, 10, &small_cfg);
	ck_assert_int_eq(forger_open(&fg, d3, state_key), 0);
	ck_assert_int_eq(forger_new_segment(&fg, medfs_auditor_key_box_pk(akey), 0), 0);
	open_rec.time_us = (uint64_t)time(NULL) * 1000000 + 1000000;
	ck_assert_int_eq(forger_append(&fg, &open_rec), 0);
	make_record(&r, 20); /* after the last record: inherent, accepted */
	ck_assert_int_eq(forger_append(&fg, &r), 0);
	ck_assert_int_eq(error_count(d3), 0);
	make_record(&r, 5); /* before it: reported */
	seg = fg.segment;
	seq = fg.seq;
	ck_assert_int_eq(forger_append(&fg, &r), 0);
	forger_close(&fg);
	ck_assert_int_eq(errors_at(d3, seg, seq, "time went backwards"), 1);
	ck_assert_int_eq(error_count(d3), 1);

	/* In a segment of the format of before these rules (version 1),
	 * whose records verify does not hold to them: reported as such. */
	new_dir(d3);
	build(d3, 10, &small_cfg);
	ck_assert_int_eq(forger_open(&fg, d3, state_key), 0);
	ck_assert_int_eq(forger_new_segment(&fg, medfs_auditor_key_box_pk(akey), 1), 0);
	make_record(&r, 5);
	seg = fg.segment;
	ck_assert_int_eq(forger_append(&fg, &r), 0);
	forger_close(&fg);
	ck_assert_int_eq(errors_at(d3, seg, NONE, "format version 1 after"), 1);
	ck_assert_int_eq(error_count(d3), 1);
}
END_TEST

/* ---- prune ---- */

START_TEST(test_prune)
{
	struct medfs_journal_verify_stats st, st2;
	struct medfs_journal_writer *w;
	uint64_t removed, empty, now = (uint64_t)time(NULL) * 1000000;
	char p[PATH_MAX], last[PATH_MAX];
	struct collect c;
	unsigned int nr;
	struct stat sb;
	uint8_t *m;
	size_t len;

	build(jdir, 40, &small_cfg);
	expect_clean(jdir, &st);
	/* Nothing older than an hour ago. */
	ck_assert_int_eq(medfs_journal_prune(jdir, now - 3600000000ull, akey, NULL, NULL,
					     &removed),
			 0);
	ck_assert_uint_eq(removed, 0);
	snprintf(p, sizeof(p), "%s/PRUNED", jdir);
	ck_assert_int_eq(stat(p, &sb), -1);
	/* Everything but the last segment. */
	ck_assert_int_eq(medfs_journal_prune(jdir, now + 3600000000ull, akey, NULL, NULL,
					     &removed),
			 0);
	ck_assert_uint_eq(removed, st.segments - 1);
	ck_assert_int_eq(stat(p, &sb), 0);
	expect_clean(jdir, &st2);
	ck_assert_uint_eq(st2.segments, 1);
	ck_assert_uint_eq(st2.first_segment, st.last_segment);
	ck_assert_uint_eq(st2.pruned_segments, st.segments - 1);
	ck_assert_mem_eq(st2.journal_id, st.journal_id, sizeof(st.journal_id));
	ck_assert_uint_eq(st2.next_seq, st.next_seq);
	/* The journal goes on, and prunes again. */
	open_writer(&w, jdir, &small_cfg);
	append_n(w, 40, 20, 0);
	ck_assert_int_eq(medfs_journal_writer_close(w), 0);
	expect_clean(jdir, &st);
	read_all_records(jdir, 0, &nr);
	ck_assert_uint_gt(nr, 20);
	/* A rotation just before the close leaves an empty last segment:
	 * the one before it, which holds HEAD's checkpoint, is kept too. */
	seg_path(last, jdir, st.last_segment);
	ck_assert_int_eq(stat(last, &sb), 0);
	empty = sb.st_size == HDR;
	ck_assert_int_eq(medfs_journal_prune(jdir, now + 3600000000ull, akey, NULL, NULL,
					     &removed),
			 0);
	ck_assert_uint_eq(removed, st.segments - 1 - empty);
	expect_clean(jdir, &st2);
	ck_assert_uint_eq(st2.pruned_segments, st.last_segment - 1 - empty);

	/* A PRUNED not signed by the auditor, or none at all, vouches for
	 * nothing; prune refuses a journal that does not verify. */
	m = read_all(p, &len);
	m[20] ^= 1;
	write_all(p, m, len);
	expect_first_error(jdir, NONE, NONE);
	ck_assert_int_eq(medfs_journal_prune(jdir, now + 3600000000ull, akey, NULL, NULL,
					     &removed),
			 -EBADMSG);
	ck_assert_int_eq(unlink(p), 0);
	ck_assert_int_gt(verify(jdir, &c, NULL), 0);
	free(m);
}
END_TEST

static Suite *journal_suite(void)
{
	Suite *s = suite_create("journal");
	TCase *tc;

	tc = tcase_create("encoding");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_encode_round_trip);
	tcase_add_test(tc, test_encode_invalid);
	tcase_add_test(tc, test_decode_malformed);
	tcase_add_test(tc, test_encode_layout);
	tcase_add_test(tc, test_framing_names);
	tcase_add_test(tc, test_auditor_keys);
	suite_add_tcase(s, tc);

	tc = tcase_create("journal");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_clean_journal);
	tcase_add_test(tc, test_state_continuation);
	tcase_add_test(tc, test_wrong_key);
	tcase_add_test(tc, test_key_evolution);
	tcase_add_test(tc, test_tick);
	tcase_add_test(tc, test_concurrent_append);
	tcase_add_test(tc, test_follow);
	tcase_add_test(tc, test_prune);
	tcase_add_test(tc, test_times_never_go_back);
	tcase_add_test(tc, test_forged_backdated);
	tcase_add_test(tc, test_resume);
	tcase_add_test(tc, test_spool);
	suite_add_tcase(s, tc);

	tc = tcase_create("tamper");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_tamper_modify);
	tcase_add_test(tc, test_tamper_delete);
	tcase_add_test(tc, test_tamper_insert);
	tcase_add_test(tc, test_tamper_reorder);
	tcase_add_test(tc, test_tamper_truncate_last);
	tcase_add_test(tc, test_tamper_truncate_middle);
	tcase_add_test(tc, test_tamper_replace_other_journal);
	tcase_add_test(tc, test_tamper_replace_fresh_seed);
	tcase_add_test(tc, test_tamper_delete_last_segment);
	tcase_add_test(tc, test_tamper_delete_middle_segment);
	tcase_add_test(tc, test_tamper_replay_segment);
	tcase_add_test(tc, test_tamper_head_rollback);
	suite_add_tcase(s, tc);

	tc = tcase_create("recovery");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_unsealed_tail_warning);
	tcase_add_test(tc, test_tail_mismatch_recorded);
	tcase_add_test(tc, test_restart_without_state);
	tcase_add_test(tc, test_crash_while_creating);
	tcase_add_test(tc, test_fail_closed);
	suite_add_tcase(s, tc);
	return s;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	SRunner *sr;
	int failed;

	if (medfs_crypto_init() != 0)
		return EXIT_FAILURE;
	snprintf(base_dir, sizeof(base_dir), "%s/medfs-journal-XXXXXX",
		 tmp ? tmp : "/tmp");
	if (!mkdtemp(base_dir))
		return EXIT_FAILURE;
	sr = srunner_create(journal_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	nftw(base_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
