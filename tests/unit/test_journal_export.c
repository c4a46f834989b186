/* Unit tests: exporting journal records as JSON lines, DICOM PS3.15 audit
 * messages and a FHIR R4 AuditEvent bundle.
 *
 * JSON is checked by a strict parser here (and by python3 -m json.tool
 * when there is one); DICOM messages by jing against the PS3.15 A.5.1
 * schema in tests/data/dicom when jing is installed. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "medfs/journal_export.h"

#define T0 UINT64_C(1741944413123456) /* 2025-03-14T09:26:53.123456Z */
#define SEC UINT64_C(1000000)
#define CT "1.2.840.10008.5.1.4.1.1.2"
#define S1 "1.2.826.0.1.3680043.8.498.1"
#define S2 "1.2.826.0.1.3680043.8.498.2"
#define I1 "1.2.826.0.1.3680043.8.498.1.1.1"
#define I2 "1.2.826.0.1.3680043.8.498.1.1.2"
#define I3 "1.2.826.0.1.3680043.8.498.2.1.1"

/* ---- an in-memory sink, split into messages by begin_message ---- */

struct sink {
	char *buf;
	size_t len, cap;
	size_t starts[64];
	size_t nstarts;
	long fail_after; /* bytes accepted before failing; -1: never */
};

static int sink_write(void *ctx, const char *b, size_t n)
{
	struct sink *s = ctx;

	if (s->fail_after >= 0 && s->len + n > (size_t)s->fail_after)
		return -ENOSPC;
	if (s->len + n + 1 > s->cap) {
		s->cap = (s->len + n + 1) * 2;
		s->buf = realloc(s->buf, s->cap);
		ck_assert_ptr_nonnull(s->buf);
	}
	memcpy(s->buf + s->len, b, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return 0;
}

static int sink_begin(void *ctx, uint64_t index)
{
	struct sink *s = ctx;

	ck_assert_uint_eq(index, s->nstarts);
	ck_assert_uint_lt(s->nstarts, sizeof(s->starts) / sizeof(s->starts[0]));
	s->starts[s->nstarts++] = s->len;
	return 0;
}

static void sink_init(struct sink *s)
{
	memset(s, 0, sizeof(*s));
	s->fail_after = -1;
	sink_write(s, "", 0);
}

/* Message i of a DICOM export, as a new string. */
static char *message(const struct sink *s, size_t i)
{
	size_t end = i + 1 < s->nstarts ? s->starts[i + 1] : s->len;
	char *m;

	ck_assert_uint_lt(i, s->nstarts);
	m = strndup(s->buf + s->starts[i], end - s->starts[i]);
	ck_assert_ptr_nonnull(m);
	return m;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

#define ck_has(hay, needle)                                                              \
	ck_assert_msg(strstr(hay, needle) != NULL, "no %s in:\n%s", needle, hay)
#define ck_lacks(hay, needle)                                                            \
	ck_assert_msg(strstr(hay, needle) == NULL, "%s in:\n%s", needle, hay)

/* ---- a strict JSON parser (RFC 8259), with field extraction ---- */

struct jp {
	const char *s;
	size_t i, n;
	int depth;
	const char *want; /* top-level key to capture, or NULL */
	char *out;	  /* decoded string, or raw text of another value */
	size_t out_size;
	bool found;
};

static void j_ws(struct jp *p)
{
	while (p->i < p->n && strchr(" \t\r\n", p->s[p->i]) != NULL)
		p->i++;
}

static bool j_lit(struct jp *p, const char *lit)
{
	size_t n = strlen(lit);

	if (p->n - p->i < n || memcmp(p->s + p->i, lit, n) != 0)
		return false;
	p->i += n;
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool j_hex4(struct jp *p, unsigned *v)
{
	*v = 0;
	for (int k = 0; k < 4; k++) {
		int h = p->i < p->n ? hexval(p->s[p->i]) : -1;

		if (h < 0)
			return false;
		*v = *v << 4 | (unsigned)h;
		p->i++;
	}
	return true;
}

static void emit_utf8(char *out, size_t size, size_t *o, unsigned cp)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | cp >> 12);
		b[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | cp >> 18);
		b[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		b[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	if (out != NULL && *o + n < size)
		memcpy(out + *o, b, n);
	*o += n;
}

/* Parses a string, decoding it into out (size bytes, may be NULL). */
static bool j_string(struct jp *p, char *out, size_t size)
{
	size_t o = 0;

	if (!j_lit(p, "\""))
		return false;
	for (;;) {
		unsigned char c;

		if (p->i >= p->n)
			return false;
		c = (unsigned char)p->s[p->i++];
		if (c == '"')
			break;
		if (c < 0x20)
			return false; /* raw control character */
		if (c != '\\') {
			if (out != NULL && o + 1 < size)
				out[o] = (char)c;
			o++;
			continue;
		}
		if (p->i >= p->n)
			return false;
		c = (unsigned char)p->s[p->i++];
		if (c == 'u') {
			unsigned cp, lo;

			if (!j_hex4(p, &cp))
				return false;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (!j_lit(p, "\\u") || !j_hex4(p, &lo) || lo < 0xdc00 ||
				    lo > 0xdfff)
					return false;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp <= 0xdfff) {
				return false;
			}
			emit_utf8(out, size, &o, cp);
			continue;
		}
		{
			const char *esc = strchr("\"\\/bfnrt", (int)c);
			static const char repl[] = "\"\\/\b\f\n\r\t";

			if (c == '\0' || esc == NULL)
				return false;
			if (out != NULL && o + 1 < size)
				out[o] = repl[esc - "\"\\/bfnrt"];
			o++;
		}
	}
	if (out != NULL)
		out[o < size ? o : size - 1] = '\0';
	return true;
}

static bool j_number(struct jp *p)
{
	size_t start = p->i;

	j_lit(p, "-");
	if (j_lit(p, "0")) {
	} else if (p->i < p->n && p->s[p->i] >= '1' && p->s[p->i] <= '9') {
		while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
			p->i++;
	} else {
		return false;
	}
	if (j_lit(p, ".")) {
		if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9')
			return false;
		while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
			p->i++;
	}
	return p->i > start;
}

static bool j_value(struct jp *p);

static bool j_container(struct jp *p, bool object)
{
	bool top = p->depth == 0;

	p->depth++;
	p->i++;
	j_ws(p);
	if (j_lit(p, object ? "}" : "]"))
		goto done;
	for (;;) {
		bool capture = false;

		j_ws(p);
		if (object) {
			char key[128];

			if (!j_string(p, key, sizeof(key)))
				return false;
			capture = top && p->want != NULL && strcmp(key, p->want) == 0;
			j_ws(p);
			if (!j_lit(p, ":"))
				return false;
			j_ws(p);
		}
		if (capture && p->i < p->n && p->s[p->i] == '"') {
			if (!j_string(p, p->out, p->out_size))
				return false;
			p->found = true;
		} else {
			size_t start = p->i;

			if (!j_value(p))
				return false;
			if (capture) {
				snprintf(p->out, p->out_size, "%.*s", (int)(p->i - start),
					 p->s + start);
				p->found = true;
			}
		}
		j_ws(p);
		if (j_lit(p, ","))
			continue;
		if (j_lit(p, object ? "}" : "]"))
			break;
		return false;
	}
done:
	p->depth--;
	return true;
}

static bool j_value(struct jp *p)
{
	j_ws(p);
	if (p->i >= p->n || p->depth > 64)
		return false;
	switch (p->s[p->i]) {
	case '{':
		return j_container(p, true);
	case '[':
		return j_container(p, false);
	case '"':
		return j_string(p, NULL, 0);
	case 't':
		return j_lit(p, "true");
	case 'f':
		return j_lit(p, "false");
	case 'n':
		return j_lit(p, "null");
	default:
		return j_number(p);
	}
}

/* Whether text[0..n) is exactly one JSON value. */
static bool json_valid(const char *text, size_t n)
{
	struct jp p = { .s = text, .n = n };

	if (!j_value(&p))
		return false;
	j_ws(&p);
	return p.i == p.n;
}

/* The value of a top-level key of a JSON object: a decoded string, or the
 * text of any other value ("null", "12", "[...]"). */
static bool json_get(const char *text, const char *key, char *out, size_t size)
{
	struct jp p = {
		.s = text, .n = strlen(text), .want = key, .out = out, .out_size = size
	};

	ck_assert_msg(j_value(&p), "invalid JSON: %s", text);
	return p.found;
}

static bool utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		unsigned c = p[i], len, cp, min;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2, cp = c & 0x1f, min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3, cp = c & 0x0f, min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (unsigned k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

/* ---- helpers ---- */

static bool have(const char *cmd)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "command -v %s >/dev/null 2>&1", cmd);
	return system(buf) == 0;
}

/* tests/data/dicom/NAME in the source tree: from the path the compiler was
 * given (relative to the build dir, which holds this test's dir) or an
 * absolute one. */
static void data_path(char *out, size_t size, const char *name)
{
	char exe[2048], src[2048];
	ssize_t n;
	char *slash;

	snprintf(src, sizeof(src), "%s", __FILE__);
	slash = strrchr(src, '/');
	ck_assert_ptr_nonnull(slash);
	*slash = '\0';
	if (src[0] == '/') {
		snprintf(out, size, "%s/../data/dicom/%s", src, name);
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ck_assert_int_gt(n, 0);
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(out, size, "%s/../%s/../data/dicom/%s", exe, src, name);
}

static struct medfs_journal_record rec(uint64_t t, uint32_t op, const char *user,
				       const char *program, const char *path)
{
	struct medfs_journal_record r = {
		.time_us = t,
		.op = op,
		.uid = 1000,
		.gid = 100,
		.pid = 4242,
		.user = user,
		.program = program,
		.path = path,
		.offset = -1,
	};

	return r;
}

static struct medfs_journal_record dicom_rec(uint64_t t, uint32_t op, const char *user,
					     const char *patient, const char *study,
					     const char *sop)
{
	struct medfs_journal_record r =
		rec(t, op, user, "/usr/bin/weasis", "/pacs/x.dcm");

	r.patient_id = patient;
	r.study_uid = study;
	r.sop_uid = sop;
	r.sop_class_uid = CT;
	r.modality = "CT";
	if (op == MEDFS_OP_READ)
		r.bytes = 4096;
	return r;
}

/* ---- tests ---- */

START_TEST(test_time_format)
{
	char t[MEDFS_EXPORT_TIME_LEN];

	medfs_export_format_time(t, 0);
	ck_assert_str_eq(t, "1970-01-01T00:00:00.000000Z");
	medfs_export_format_time(t, T0);
	ck_assert_str_eq(t, "2025-03-14T09:26:53.123456Z");
	medfs_export_format_time(t, UINT64_C(4102444799999999));
	ck_assert_str_eq(t, "2099-12-31T23:59:59.999999Z");
}
END_TEST

START_TEST(test_format_parse)
{
	enum medfs_export_format f;
	struct medfs_exporter *ex = (void *)1;

	ck_assert_int_eq(medfs_export_format_parse("jsonl", &f), 0);
	ck_assert_int_eq(f, MEDFS_EXPORT_JSONL);
	ck_assert_int_eq(medfs_export_format_parse("dicom", &f), 0);
	ck_assert_int_eq(f, MEDFS_EXPORT_DICOM);
	ck_assert_int_eq(medfs_export_format_parse("fhir", &f), 0);
	ck_assert_int_eq(f, MEDFS_EXPORT_FHIR);
	ck_assert_int_eq(medfs_export_format_parse("xml", &f), -EINVAL);
	ck_assert_int_eq(medfs_export_open(&ex, 0, NULL, sink_write, NULL), -EINVAL);
	ck_assert_ptr_null(ex);
	ck_assert_int_eq(medfs_export_close(NULL), 0);
}
END_TEST

/* Every kind of byte a path may hold, and what JSON must make of it. */
static const char nasty[] = "dir/\"quoted\" back\\slash\n\t\r\b\f\x01\x1f\x7f "
			    "é 患者 \xf0\x9f\xa9\xbb bad:\xff\xc3( over:\xc0\xaf "
			    "sur:\xed\xa0\x80 ls:\xe2\x80\xa8";
static const char nasty_json[] =
	"\"dir/\\\"quoted\\\" back\\\\slash\\n\\t\\r\\b\\f\\u0001\\u001f\\u007f "
	"é 患者 \xf0\x9f\xa9\xbb bad:\\ufffd\\ufffd( over:\\ufffd\\ufffd "
	"sur:\\ufffd\\ufffd\\ufffd ls:\\u2028\"";
/* ...and what a JSON reader gets back. */
static const char nasty_back[] =
	"dir/\"quoted\" back\\slash\n\t\r\b\f\x01\x1f\x7f "
	"é 患者 \xf0\x9f\xa9\xbb bad:\xef\xbf\xbd\xef\xbf\xbd( "
	"over:\xef\xbf\xbd\xef\xbf\xbd "
	"sur:\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd ls:\xe2\x80\xa8";

START_TEST(test_json_escaping)
{
	struct medfs_journal_record r =
		rec(T0, MEDFS_OP_OPEN, "alice", "/usr/bin/cat", nasty);
	struct medfs_exporter *ex;
	char back[512];
	struct sink s;

	sink_init(&s);
	ck_assert_int_eq(medfs_export_open(&ex, MEDFS_EXPORT_JSONL, NULL, sink_write, &s),
			 0);
	ck_assert_int_eq(medfs_export_record(ex, &r, NULL), 0);
	ck_assert_int_eq(medfs_export_close(ex), 0);
	ck_has(s.buf, nasty_json);
	ck_assert_uint_eq(count(s.buf, "\n"), 1);
	ck_assert(json_valid(s.buf, s.len));
	ck_assert(utf8_valid(s.buf, s.len));
	for (size_t i = 0; i + 1 < s.len; i++)
		ck_assert_msg((unsigned char)s.buf[i] >= 0x20, "raw control byte at %zu",
			      i);
	ck_assert(json_get(s.buf, "path", back, sizeof(back)));
	ck_assert_str_eq(back, nasty_back);
	free(s.buf);
}
END_TEST

START_TEST(test_jsonl_fields)
{
	static const struct medfs_journal_range ranges[] = { { 0, 4096 }, { 8192, 100 } };
	static const char *const keys[] = {
		"segment",  "seq",	  "time",      "time_us", "op",
		"op_code",  "uid",	  "user",      "gid",	  "pid",
		"program",  "path",	  "path2",     "result",  "error",
		"flags",    "rule_line",  "emergency", "bytes",	  "offset",
		"ranges",   "patient_id", "study_uid", "sop_uid", "sop_class_uid",
		"modality", "detail",	  "prior_patient_id", "prior_study_uid",
		"former_patient_ids",
	};
	struct medfs_journal_record r =
		dicom_rec(T0, MEDFS_OP_READ, "alice", "PAT001", S1, I1);
	struct medfs_journal_record d =
		rec(T0 + SEC, MEDFS_OP_DENIED, NULL, NULL, "/secret");
	struct medfs_journal_pos pos = { .segment = 2, .seq = 7, .epoch = 1 };
	struct medfs_exporter *ex;
	char v[512], *line2;
	struct sink s;

	r.ranges = ranges;
	r.nranges = 2;
	r.bytes = 4196;
	r.emergency = 1;
	r.flags = O_RDONLY;
	d.result = EACCES;
	d.rule_line = 12;
	d.detail = "open O_RDONLY";
	d.uid = 4294967295u;
	d.pid = -1;
	sink_init(&s);
	ck_assert_int_eq(medfs_export_open(&ex, MEDFS_EXPORT_JSONL, NULL, sink_write, &s),
			 0);
	ck_assert_int_eq(medfs_export_record(ex, &r, &pos), 0);
	ck_assert_int_eq(medfs_export_record(ex, &d, NULL), 0);
	ck_assert_int_eq(medfs_export_close(ex), 0);
	ck_assert_uint_eq(count(s.buf, "\n"), 2);
	line2 = strchr(s.buf, '\n') + 1;
	line2[-1] = '\0';
	ck_assert(json_valid(s.buf, strlen(s.buf)));
	ck_assert(json_valid(line2, strlen(line2)));

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		ck_assert_msg(json_get(s.buf, keys[i], v, sizeof(v)), "no %s", keys[i]);
		ck_assert_msg(json_get(line2, keys[i], v, sizeof(v)), "no %s", keys[i]);
	}
#define FIELD(line, key, want)                                                           \
	do {                                                                             \
		json_get(line, key, v, sizeof(v));                                       \
		ck_assert_str_eq(v, want);                                               \
	} while (0)
	FIELD(s.buf, "segment", "2");
	FIELD(s.buf, "seq", "7");
	FIELD(s.buf, "time", "2025-03-14T09:26:53.123456Z");
	FIELD(s.buf, "time_us", "1741944413123456");
	FIELD(s.buf, "op", "read");
	FIELD(s.buf, "op_code", "5");
	FIELD(s.buf, "uid", "1000");
	FIELD(s.buf, "user", "alice");
	FIELD(s.buf, "gid", "100");
	FIELD(s.buf, "pid", "4242");
	FIELD(s.buf, "program", "/usr/bin/weasis");
	FIELD(s.buf, "path", "/pacs/x.dcm");
	FIELD(s.buf, "path2", "null");
	FIELD(s.buf, "result", "0");
	FIELD(s.buf, "error", "null");
	FIELD(s.buf, "emergency", "true");
	FIELD(s.buf, "bytes", "4196");
	FIELD(s.buf, "offset", "-1");
	FIELD(s.buf, "ranges",
	      "[{\"offset\":0,\"length\":4096},{\"offset\":8192,\"length\":100}]");
	FIELD(s.buf, "patient_id", "PAT001");
	FIELD(s.buf, "study_uid", S1);
	FIELD(s.buf, "sop_uid", I1);
	FIELD(s.buf, "sop_class_uid", CT);
	FIELD(s.buf, "modality", "CT");
	FIELD(s.buf, "detail", "null");

	FIELD(line2, "segment", "null");
	FIELD(line2, "seq", "null");
	FIELD(line2, "op", "denied");
	FIELD(line2, "uid", "4294967295");
	FIELD(line2, "user", "null");
	FIELD(line2, "pid", "-1");
	FIELD(line2, "result", "13");
	FIELD(line2, "error", "EACCES");
	FIELD(line2, "rule_line", "12");
	FIELD(line2, "emergency", "false");
	FIELD(line2, "ranges", "[]");
	FIELD(line2, "detail", "open O_RDONLY");
#undef FIELD
	free(s.buf);
}
END_TEST

/* The day of a small clinic, in journal order. */
static void feed_day(struct medfs_exporter *ex)
{
	struct medfs_journal_record r;
	struct medfs_journal_pos pos = { .segment = 1, .seq = 0 };

#define FEED(x)                                                                          \
	do {                                                                             \
		r = (x);                                                                 \
		ck_assert_int_eq(medfs_export_record(ex, &r, &pos), 0);                  \
		pos.seq++;                                                               \
	} while (0)
	r = rec(T0, MEDFS_OP_MOUNT, "root", "/usr/bin/medfs", "/srv/vault");
	r.uid = 0;
	r.detail = "vault=/srv/vault options=default_permissions";
	FEED(r);
	r = dicom_rec(T0 + 1 * SEC, MEDFS_OP_OPEN, "alice", "P1", S1, I1);
	r.flags = O_RDONLY;
	FEED(r);
	FEED(dicom_rec(T0 + 2 * SEC, MEDFS_OP_READ, "alice", "P1", S1, I1));
	FEED(dicom_rec(T0 + 3 * SEC, MEDFS_OP_OPEN, "alice", "P1", S1, I2));
	FEED(dicom_rec(T0 + 3 * SEC, MEDFS_OP_READ, "alice", "P1", S1, I2));
	r = dicom_rec(T0 + 4 * SEC, MEDFS_OP_READ, "bob", "P1", S1, I1);
	r.uid = 1001;
	FEED(r);
	FEED(dicom_rec(T0 + 5 * SEC, MEDFS_OP_READ, "alice", "P2", S2, I3));
	r = rec(T0 + 6 * SEC, MEDFS_OP_DENIED, "alice", "/usr/bin/cat",
		"/secret & <private>");
	r.result = EACCES;
	r.rule_line = 12;
	r.detail = "open O_RDONLY";
	FEED(r);
	r = dicom_rec(T0 + 7 * SEC, MEDFS_OP_INTEGRITY, "alice", "P1", S1, I1);
	r.result = EBADMSG;
	r.offset = 8192;
	FEED(r);
	r = rec(T0 + 8 * SEC, MEDFS_OP_EMERGENCY_START, "alice", "/usr/bin/medfs-policy",
		NULL);
	r.detail = "patient in the ER";
	FEED(r);
	r = dicom_rec(T0 + 9 * SEC, MEDFS_OP_READ, "alice", "P1", S1, I1);
	r.emergency = 1;
	FEED(r);
	FEED(rec(T0 + 10 * SEC, MEDFS_OP_EMERGENCY_END, "alice", "/usr/bin/medfs-policy",
		 NULL));
	FEED(rec(T0 + 11 * SEC, MEDFS_OP_CREATE, "alice", "/usr/bin/cp",
		 "/reports/x.pdf"));
	r = rec(T0 + 11 * SEC, MEDFS_OP_WRITE, "alice", "/usr/bin/cp", "/reports/x.pdf");
	r.bytes = 5000;
	FEED(r);
	FEED(dicom_rec(T0 + 12 * SEC, MEDFS_OP_READ, "alice", "P1", S1, I2));
	r = rec(T0 + 13 * SEC, MEDFS_OP_CHECKPOINT, NULL, NULL, NULL);
	FEED(r);
	FEED(dicom_rec(T0 + 7200 * SEC, MEDFS_OP_READ, "alice", "P1", S1, I1));
#undef FEED
}

/* Writes each message to DIR/msg-N.xml and validates them all with jing. */
static void validate_with_jing(const struct sink *s)
{
	char dir[] = "/tmp/medfs-test-export-XXXXXX", schema[8192], path[4200];
	char cmd[65536];
	size_t n = 0;

	if (!have("jing")) {
		fprintf(stderr, "test_journal_export: jing not installed, schema check "
				"skipped\n");
		return;
	}
	data_path(schema, sizeof(schema), "audit-message.rnc");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	n += (size_t)snprintf(cmd, sizeof(cmd), "jing -c '%s'", schema);
	for (size_t i = 0; i < s->nstarts; i++) {
		char *m = message(s, i);
		FILE *f;

		snprintf(path, sizeof(path), "%s/msg-%02zu.xml", dir, i);
		f = fopen(path, "w");
		ck_assert_ptr_nonnull(f);
		fputs(m, f);
		fclose(f);
		free(m);
		n += (size_t)snprintf(cmd + n, sizeof(cmd) - n, " '%s'", path);
	}
	ck_assert_uint_lt(n, sizeof(cmd));
	/* jing prints the errors; its start-up warnings go away */
	strncat(cmd, " 2>/dev/null", sizeof(cmd) - n - 1);
	ck_assert_msg(system(cmd) == 0, "jing rejects the messages in %s", dir);
	for (size_t i = 0; i < s->nstarts; i++) {
		snprintf(path, sizeof(path), "%s/msg-%02zu.xml", dir, i);
		unlink(path);
	}
	rmdir(dir);
}

START_TEST(test_dicom_messages)
{
	struct medfs_export_options opt = {
		.source_id = "medfs@pacs-01",
		.site_id = "Clinique Exemple",
		.host = "ws-irm-02",
		.begin_message = sink_begin,
	};
	struct medfs_exporter *ex;
	struct sink s;
	char *m;

	sink_init(&s);
	ck_assert_int_eq(medfs_export_open(&ex, MEDFS_EXPORT_DICOM, &opt, sink_write, &s),
			 0);
	feed_day(ex);
	ck_assert_int_eq(medfs_export_close(ex), 0);
	ck_assert_uint_eq(s.nstarts, 12);
	ck_assert_uint_eq(count(s.buf, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"), 12);
	ck_assert(utf8_valid(s.buf, s.len));
	for (size_t i = 0; i < s.nstarts; i++) {
		m = message(&s, i);
		ck_assert_uint_eq(count(m, "<AuditMessage>"), 1);
		ck_has(m, "AuditSourceID=\"medfs@pacs-01\"");
		ck_has(m, "AuditEnterpriseSiteID=\"Clinique Exemple\"");
		ck_has(m, "NetworkAccessPointID=\"ws-irm-02\"");
		free(m);
	}

	/* 0: mount, Application Activity / Application Start */
	m = message(&s, 0);
	ck_has(m, "<EventID csd-code=\"110100\" codeSystemName=\"DCM\" "
		  "originalText=\"Application Activity\"/>");
	ck_has(m, "<EventTypeCode csd-code=\"110120\"");
	ck_has(m, "csd-code=\"110151\""); /* the user launched it */
	ck_has(m, "mount: vault=/srv/vault options=default_permissions");
	free(m);
	/* 1: alice's reads of study S1 (opens, reads), grouped, with the
	 * later read at +12 s; no file list for a study read */
	m = message(&s, 1);
	ck_has(m, "<EventID csd-code=\"110103\" codeSystemName=\"DCM\" "
		  "originalText=\"DICOM Instances Accessed\"/>");
	ck_has(m, "EventActionCode=\"R\"");
	ck_has(m, "EventDateTime=\"2025-03-14T09:26:54.123456Z\"");
	ck_has(m, "EventOutcomeIndicator=\"0\"");
	ck_has(m,
	       "5 records: open, read; 12288 bytes; until 2025-03-14T09:27:05.123456Z");
	ck_has(m, "UserID=\"alice\" AlternativeUserID=\"uid=1000 gid=100\" "
		  "UserName=\"alice\" "
		  "UserIsRequestor=\"true\"");
	ck_has(m, "UserID=\"/usr/bin/weasis\" AlternativeUserID=\"pid=4242\" "
		  "UserIsRequestor=\"false\"");
	ck_has(m, "ParticipantObjectID=\"" S1 "\" ParticipantObjectTypeCode=\"2\" "
		  "ParticipantObjectTypeCodeRole=\"3\" "
		  "ParticipantObjectDataLifeCycle=\"6\"");
	ck_has(m, "<SOPClass UID=\"" CT "\" NumberOfInstances=\"2\">");
	ck_has(m, "<Instance UID=\"" I1 "\"/>");
	ck_has(m, "<Instance UID=\"" I2 "\"/>");
	ck_has(m, "ParticipantObjectID=\"P1\" ParticipantObjectTypeCode=\"1\"");
	ck_lacks(m, "x.dcm");
	free(m);
	/* 2: bob; 3: alice's other study */
	m = message(&s, 2);
	ck_has(m, "UserID=\"bob\"");
	ck_assert_uint_eq(count(m, "<Instance "), 1);
	free(m);
	m = message(&s, 3);
	ck_has(m, "ParticipantObjectID=\"" S2 "\"");
	ck_has(m, "ParticipantObjectID=\"P2\"");
	free(m);
	/* 4: the denial, a Security Alert naming the file, escaped */
	m = message(&s, 4);
	ck_has(m, "<EventID csd-code=\"110113\" codeSystemName=\"DCM\" "
		  "originalText=\"Security Alert\"/>");
	ck_has(m, "<EventTypeCode csd-code=\"110132\"");
	ck_has(m, "EventOutcomeIndicator=\"4\"");
	ck_has(m, "denied: open O_RDONLY (policy rule at line 12); error EACCES");
	ck_has(m, "ParticipantObjectID=\"/secret &amp; &lt;private&gt;\"");
	ck_has(m,
	       "<ParticipantObjectIDTypeCode csd-code=\"12\" codeSystemName=\"RFC-3881\" "
	       "originalText=\"URI\"/>");
	free(m);
	/* 5: the integrity failure, serious */
	m = message(&s, 5);
	ck_has(m, "csd-code=\"110113\"");
	ck_has(m, "csd-code=\"integrity-failure\" codeSystemName=\"99MEDFS\"");
	ck_has(m, "EventOutcomeIndicator=\"8\"");
	ck_has(m, "integrity failure at offset 8192; error EBADMSG");
	ck_has(m, "ParticipantObjectID=\"P1\"");
	free(m);
	/* 6-8: emergency access start, the access under it, its end */
	m = message(&s, 6);
	ck_has(m, "csd-code=\"110113\"");
	ck_has(m, "<EventTypeCode csd-code=\"110127\" codeSystemName=\"DCM\" "
		  "originalText=\"Emergency Override Started\"/>");
	ck_has(m, "emergency-start: patient in the ER");
	free(m);
	m = message(&s, 7);
	ck_has(m, "csd-code=\"110103\"");
	ck_has(m, "under an emergency access grant");
	free(m);
	m = message(&s, 8);
	ck_has(m, "<EventTypeCode csd-code=\"110138\"");
	free(m);
	/* 9, 10: a report created, then written: files listed */
	m = message(&s, 9);
	ck_has(m, "EventActionCode=\"C\"");
	ck_has(m, "ParticipantObjectID=\"/reports/x.pdf\"");
	ck_has(m, "ParticipantObjectDataLifeCycle=\"1\"");
	free(m);
	m = message(&s, 10);
	ck_has(m, "EventActionCode=\"U\"");
	ck_has(m, "5000 bytes");
	free(m);
	/* 11: two hours later, a new group */
	m = message(&s, 11);
	ck_has(m, "EventDateTime=\"2025-03-14T11:26:53.123456Z\"");
	ck_has(m, "1 record: read; 4096 bytes");
	free(m);

	validate_with_jing(&s);
	free(s.buf);
}
END_TEST

START_TEST(test_dicom_window)
{
	struct medfs_export_options opt = { .begin_message = sink_begin };
	struct medfs_exporter *ex;
	struct sink s;
	char *m;

	/* One group for the whole export: the read two hours later joins. */
	opt.group_window_us = MEDFS_EXPORT_GROUP_ALL;
	sink_init(&s);
	ck_assert_int_eq(medfs_export_open(&ex, MEDFS_EXPORT_DICOM, &opt, sink_write, &s),
			 0);
	feed_day(ex);
	ck_assert_int_eq(medfs_export_close(ex), 0);
	ck_assert_uint_eq(s.nstarts, 11);
	m = message(&s, 1);
	ck_has(m,
	       "6 records: open, read; 16384 bytes; until 2025-03-14T11:26:53.123456Z");
	ck_has(m, "AuditSourceID=\"medfs\"");
	ck_lacks(m, "NetworkAccessPointID");
	free(m);
	free(s.buf);

	/* A 2-second window splits alice's S1 reads at the 9 s gap. */
	opt.group_window_us = 2 * SEC;
	sink_init(&s);
	ck_assert_int_eq(medfs_export_open(&ex, MEDFS_EXPORT_DICOM, &opt, sink_write, &s),
			 0);
	feed_day(ex);
	ck_assert_int_eq(medfs_export_close(ex), 0);
	ck_assert_uint_eq(s.nstarts, 13);
	m = message(&s, 1);
	ck_has(m, "4 records: open, read; 8192 bytes");
	free(m);
	m = message(&s, 11);
	ck_has(m, "EventDateTime=\"2025-03-14T09:27:05.123456Z\"");
	free(m);
	validate_with_jing(&s);
	free(s.buf);
}
END_TEST

START_TEST(test_dicom_escaping)
{
	struct medfs_export_options opt = { .begin_message = sink_begin };
	struct medfs_journal_record r =
		rec(T0, MEDFS_OP_DENIED, "o'brien \"x\"", nasty, nasty);
	struct medfs_exporter *ex;
	struct sink s;

	r.detail = "tab\there, cr\r, <b> & \x02";
	r.patient_id = "P<1>&\"2\"";
	r.study_uid = "1.2.3";
	sink_init(&s);
	ck_assert_int_eq(medfs_export_open(&ex, MEDFS_EXPORT_DICOM, &opt, sink_write, &s),
			 0);
	ck_assert_int_eq(medfs_export_record(ex, &r, NULL), 0);
	r = rec(T0 + 1, MEDFS_OP_READ, NULL, NULL, nasty);
	r.uid = 33;
	ck_assert_int_eq(medfs_export_record(ex, &r, NULL), 0);
	ck_assert_int_eq(medfs_export_close(ex), 0);
	ck_assert_uint_eq(s.nstarts, 2);
	ck_assert(utf8_valid(s.buf, s.len));
	ck_has(s.buf, "UserID=\"o'brien &quot;x&quot;\"");
	ck_has(s.buf, "ParticipantObjectID=\"P&lt;1&gt;&amp;&quot;2&quot;\"");
	ck_has(s.buf,
	       "<ParticipantObjectName>P&lt;1&gt;&amp;\"2\"</ParticipantObjectName>");
	ck_has(s.buf, "tab\there, cr&#13;, &lt;b&gt; &amp; \xef\xbf\xbd");
	ck_has(s.buf,
	       "back\\slash&#10;&#9;&#13;\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	       "\x7f é 患者");
	/* no user name: the uid, and no application participant */
	ck_has(s.buf, "UserID=\"uid=33\" AlternativeUserID=\"uid=33 gid=100\" "
		      "UserIsRequestor=\"true\"");
	ck_assert_uint_eq(count(s.buf, "<ActiveParticipant"), 3);
	validate_with_jing(&s);
	free(s.buf);
}
END_TEST

START_TEST(test_fhir_bundle)
{
	struct medfs_export_options opt = { .source_id = "medfs@pacs-01",
					    .site_id = "CE" };
	char path[] = "/tmp/medfs-test-fhir-XXXXXX", cmd[256], v[4096];
	struct medfs_exporter *ex;
	struct sink s;
	FILE *f;
	int fd;

	sink_init(&s);
	ck_assert_int_eq(medfs_export_open(&ex, MEDFS_EXPORT_FHIR, &opt, sink_write, &s),
			 0);
	feed_day(ex);
	ck_assert_int_eq(medfs_export_close(ex), 0);
	ck_assert_msg(json_valid(s.buf, s.len), "invalid JSON:\n%s", s.buf);
	ck_assert(utf8_valid(s.buf, s.len));
	json_get(s.buf, "resourceType", v, sizeof(v));
	ck_assert_str_eq(v, "Bundle");
	json_get(s.buf, "type", v, sizeof(v));
	ck_assert_str_eq(v, "collection");
	ck_assert_uint_eq(count(s.buf, "\"resourceType\":\"AuditEvent\""), 12);
	ck_assert_uint_eq(count(s.buf, "\"requestor\":true"), 12);
	ck_has(s.buf,
	       "\"type\":{\"system\":\"http://dicom.nema.org/resources/ontology/DCM\","
	       "\"code\":\"110103\",\"display\":\"DICOM Instances Accessed\"}");
	ck_has(s.buf,
	       "\"subtype\":[{\"system\":\"http://hl7.org/fhir/restful-interaction\","
	       "\"code\":\"read\",\"display\":\"read\"}]");
	ck_has(s.buf, "\"code\":\"110127\"");
	ck_has(s.buf, "\"code\":\"110138\"");
	ck_has(s.buf, "\"outcome\":\"8\"");
	ck_has(s.buf, "\"outcome\":\"4\"");
	ck_has(s.buf, "\"who\":{\"identifier\":{\"system\":\"urn:medfs:user\",\"value\":"
		      "\"alice\"}}");
	ck_has(s.buf, "\"observer\":{\"display\":\"medfs@pacs-01\"}");
	ck_has(s.buf, "\"what\":{\"identifier\":{\"value\":\"P1\"}}");
	ck_has(s.buf, "\"what\":{\"identifier\":{\"system\":\"urn:dicom:uid\","
		      "\"value\":\"urn:oid:" S1 "\"}}");
	ck_has(s.buf, "\"code\":\"ETREAT\"");
	ck_lacks(s.buf, "network");
	ck_lacks(s.buf, "\"\"");	     /* FHIR has no empty strings */
	ck_lacks(s.buf, "[]");		     /* ...nor empty arrays */
	ck_has(s.buf, "\"id\":\"medfs-1\""); /* alice's group starts at seq 1 */

	if (have("python3")) {
		fd = mkstemp(path);
		ck_assert_int_ge(fd, 0);
		f = fdopen(fd, "w");
		fwrite(s.buf, 1, s.len, f);
		fclose(f);
		snprintf(cmd, sizeof(cmd), "python3 -m json.tool '%s' >/dev/null", path);
		ck_assert_msg(system(cmd) == 0, "python3 -m json.tool rejects %s", path);
		unlink(path);
	}
	free(s.buf);

	/* An empty export is a valid bundle too. */
	sink_init(&s);
	ck_assert_int_eq(medfs_export_open(&ex, MEDFS_EXPORT_FHIR, NULL, sink_write, &s),
			 0);
	ck_assert_int_eq(medfs_export_close(ex), 0);
	ck_assert(json_valid(s.buf, s.len));
	ck_assert_str_eq(s.buf,
			 "{\"resourceType\":\"Bundle\",\"type\":\"collection\"}\n");
	free(s.buf);
}
END_TEST

START_TEST(test_write_error)
{
	static const enum medfs_export_format formats[] = { MEDFS_EXPORT_JSONL,
							    MEDFS_EXPORT_DICOM,
							    MEDFS_EXPORT_FHIR };
	struct medfs_journal_record r = dicom_rec(T0, MEDFS_OP_DENIED, "a", "P", S1, I1);
	struct medfs_exporter *ex;
	struct sink s;
	int ret = 0;

	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		sink_init(&s);
		s.fail_after = 10;
		ck_assert_int_eq(medfs_export_open(&ex, formats[i], NULL, sink_write, &s),
				 0);
		for (int k = 0; k < 3 && ret == 0; k++)
			ret = medfs_export_record(ex, &r, NULL);
		ck_assert_int_eq(ret, -ENOSPC);
		ck_assert_int_eq(medfs_export_record(ex, &r, NULL), -ENOSPC);
		ck_assert_int_eq(medfs_export_close(ex), -ENOSPC);
		ret = 0;
		free(s.buf);
	}
}
END_TEST

START_TEST(test_file_output)
{
	struct medfs_journal_record r =
		dicom_rec(T0, MEDFS_OP_READ, "alice", "P1", S1, I1);
	struct medfs_exporter *ex;
	char buf[4096];
	size_t n;
	FILE *f = tmpfile();

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(medfs_export_open_file(&ex, MEDFS_EXPORT_DICOM, NULL, f), 0);
	ck_assert_int_eq(medfs_export_record(ex, &r, NULL), 0);
	/* a group stays open until the window passes or the export ends */
	ck_assert_int_eq(ftell(f), 0);
	ck_assert_int_eq(medfs_export_close(ex), 0);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	ck_has(buf, "<Instance UID=\"" I1 "\"/>");
	ck_assert_uint_eq(count(buf, "</AuditMessage>"), 1);
}
END_TEST

static Suite *journal_export_suite(void)
{
	Suite *s = suite_create("journal_export");
	TCase *tc;

	tc = tcase_create("jsonl");
	tcase_add_test(tc, test_time_format);
	tcase_add_test(tc, test_format_parse);
	tcase_add_test(tc, test_json_escaping);
	tcase_add_test(tc, test_jsonl_fields);
	tcase_add_test(tc, test_write_error);
	tcase_add_test(tc, test_file_output);
	suite_add_tcase(s, tc);

	tc = tcase_create("dicom");
	tcase_set_timeout(tc, 120); /* jing is a JVM */
	tcase_add_test(tc, test_dicom_messages);
	tcase_add_test(tc, test_dicom_window);
	tcase_add_test(tc, test_dicom_escaping);
	suite_add_tcase(s, tc);

	tc = tcase_create("fhir");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_fhir_bundle);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(journal_export_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
