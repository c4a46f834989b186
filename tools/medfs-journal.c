/* medfs-journal: the auditor's tool for the access journal of a medfs vault.
 *
 * Makes the auditor's key pair, verifies a journal, shows or follows its
 * records as a table, exports them (JSON lines, DICOM PS3.15 audit
 * messages, FHIR AuditEvent), and prunes expired segments. One function per
 * subcommand, dispatched from a table as in WireGuard's wg(8); each gets
 * argv starting at its own name and returns the exit status: 0 done, 1
 * failed (or, for verify, the journal is not intact), 2 usage error.
 *
 * Records hold patient identifiers and paths: they are printed only to the
 * auditor's own terminal or files, with every byte a terminal could take
 * for a control sequence escaped. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "medfs/crypto.h"
#include "medfs/journal.h"
#include "medfs/journal_export.h"
#include "subcommand.h"

#define PROG "medfs-journal"
#define MAX_OPS 32
#define TAIL_DEFAULT 10
#define POLL_US 1000000

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* ---- time ---- */

static int digits(const char **s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if ((*s)[i] < '0' || (*s)[i] > '9')
			return -EINVAL;
		v = v * 10 + ((*s)[i] - '0');
	}
	*s += n;
	*out = v;
	return 0;
}

/* Parses an ISO 8601 date or date and time: YYYY-MM-DD, then optionally
 * 'T' (or a space) and hh:mm[:ss[.fraction]], then optionally 'Z' or an
 * offset ±hh:mm / ±hhmm. Without an offset the time is UTC. Returns 0 or
 * -EINVAL. */
static int parse_time(const char *s, uint64_t *out_us)
{
	int year, mon, day, hour = 0, min = 0, sec = 0, oh = 0, om = 0, sign = 0;
	struct tm tm = { 0 }, back;
	int64_t us = 0, scale = 100000, t;
	time_t tt;

	if (digits(&s, 4, &year) < 0 || *s++ != '-' || digits(&s, 2, &mon) < 0 ||
	    *s++ != '-' || digits(&s, 2, &day) < 0)
		return -EINVAL;
	if (*s == 'T' || *s == 't' || *s == ' ') {
		s++;
		if (digits(&s, 2, &hour) < 0 || *s++ != ':' || digits(&s, 2, &min) < 0)
			return -EINVAL;
		if (*s == ':') {
			s++;
			if (digits(&s, 2, &sec) < 0)
				return -EINVAL;
			if (*s == '.' || *s == ',') {
				s++;
				if (*s < '0' || *s > '9')
					return -EINVAL;
				for (; *s >= '0' && *s <= '9'; s++) {
					us += (*s - '0') * scale;
					scale /= 10;
				}
			}
		}
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s++ == '+' ? 1 : -1;
		if (digits(&s, 2, &oh) < 0)
			return -EINVAL;
		if (*s == ':')
			s++;
		if (digits(&s, 2, &om) < 0 || oh > 23 || om > 59)
			return -EINVAL;
	}
	if (*s != '\0' || year < 1970 || mon < 1 || mon > 12 || day < 1 || day > 31 ||
	    hour > 23 || min > 59 || sec > 60)
		return -EINVAL;
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	tt = timegm(&tm);
	/* 2025-02-30 normalises to another day: refuse it */
	if (tt == (time_t)-1 || gmtime_r(&tt, &back) == NULL || back.tm_mday != day ||
	    (sec < 60 && back.tm_sec != sec))
		return -EINVAL;
	t = (int64_t)tt - sign * (oh * 3600 + om * 60);
	if (t < 0)
		return -EINVAL;
	*out_us = (uint64_t)t * 1000000 + (uint64_t)us;
	return 0;
}

/* ---- keys ---- */

/* Reads the auditor's secret key from path, or from path + ".key" when
 * path is the prefix given to keygen. Returns 0 or 1 (reported). */
static int load_secret_key(const char *path, struct medfs_auditor_key **key)
{
	char *alt = NULL, why[512];
	int ret;

	ret = medfs_auditor_key_read_secret(path, key);
	if (ret == -ENOENT && asprintf(&alt, "%s.key", path) > 0) {
		ret = medfs_auditor_key_read_secret(alt, key);
		if (ret == -ENOENT) {
			free(alt);
			alt = NULL;
			ret = -ENOENT;
		} else {
			path = alt;
		}
	}
	if (ret == -EPERM && medfs_secret_file_why(path, why, sizeof(why)))
		fprintf(stderr, PROG ": %s\n", why);
	else if (ret == -EBADMSG)
		fprintf(stderr, PROG ": %s is not a medfs auditor secret key\n", path);
	else if (ret == -EKEYREJECTED)
		fprintf(stderr, PROG ": %s: the two halves of the key do not match\n",
			path);
	else if (ret < 0)
		fprintf(stderr, PROG ": cannot read the key %s: %s\n", path,
			strerror(-ret));
	free(alt);
	return ret < 0 ? 1 : 0;
}

/* libsodium, no core dumps (plaintext records and the key live here). */
static int start_crypto(void)
{
	int ret;

	if (medfs_crypto_init() < 0) {
		fprintf(stderr, PROG ": cannot initialise libsodium\n");
		return 1;
	}
	ret = medfs_disable_core_dumps();
	if (ret < 0) {
		fprintf(stderr, PROG ": cannot disable core dumps: %s\n", strerror(-ret));
		return 1;
	}
	return 0;
}

/* ---- filters ---- */

struct filter {
	uint64_t since, until;
	bool has_since, has_until;
	const char *user, *path, *patient, *study;
	uint32_t ops[MAX_OPS];
	size_t nops;
};

enum {
	OPT_KEY = 256,
	OPT_SINCE,
	OPT_UNTIL,
	OPT_USER,
	OPT_PATH,
	OPT_PATIENT,
	OPT_STUDY,
	OPT_OP,
	OPT_OUT,
	OPT_FORMAT,
	OPT_OUTPUT,
	OPT_OUTPUT_DIR,
	OPT_SOURCE,
	OPT_SITE,
	OPT_HOST,
	OPT_WINDOW,
	OPT_BEFORE,
	OPT_QUIET,
};

static const struct option filter_options[] = {
	{ "since", required_argument, NULL, OPT_SINCE },
	{ "until", required_argument, NULL, OPT_UNTIL },
	{ "user", required_argument, NULL, OPT_USER },
	{ "path", required_argument, NULL, OPT_PATH },
	{ "patient", required_argument, NULL, OPT_PATIENT },
	{ "study", required_argument, NULL, OPT_STUDY },
	{ "op", required_argument, NULL, OPT_OP },
};
#define NFILTER_OPTIONS (sizeof(filter_options) / sizeof(filter_options[0]))
#define OPTIONS_MAX 24

/* A command's own options, then the filters, then the terminator. */
static const struct option *with_filters(struct option out[OPTIONS_MAX],
					 const struct option *own, size_t n)
{
	memcpy(out, own, n * sizeof(*own));
	memcpy(out + n, filter_options, sizeof(filter_options));
	memset(&out[n + NFILTER_OPTIONS], 0, sizeof(*out));
	return out;
}

#define FILTER_HELP                                                                      \
	"  --since T         records at or after T (ISO 8601: 2025-03-14,\n"             \
	"                    2025-03-14T09:30, 2025-03-14T09:30:00.5Z; UTC unless\n"     \
	"                    an offset such as +01:00 is given)\n"                       \
	"  --until T         records before T\n"                                         \
	"  --user U          records of user name or numeric uid U\n"                    \
	"  --path GLOB       records whose path (or rename target) matches the shell\n"  \
	"                    pattern GLOB ('*' also matches '/')\n"                      \
	"  --patient ID      records of files that are, or ever were, of DICOM\n"        \
	"                    patient ID (exact)\n"                                       \
	"  --study UID       records of files of DICOM study instance UID (exact)\n"     \
	"  --op OP[,OP...]   records of these operations: mount unmount policy-load\n"   \
	"                    open read write create delete rename truncate setattr\n"    \
	"                    xattr denied integrity emergency-start emergency-end\n"     \
	"                    set-auditor mkdir symlink list attribution\n"               \
	"                    denied-summary journal-outage unlock-failed key-change\n"    \
	"                    repair\n"

static int parse_ops(const char *list, struct filter *f)
{
	char *copy = strdup(list), *save = NULL, *tok;
	int ret = 0;

	if (copy == NULL)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		uint32_t op;

		for (op = 1; op <= MEDFS_OP_CHECKPOINT; op++) {
			const char *name = medfs_journal_op_name(op);

			if (name != NULL && strcmp(name, tok) == 0)
				break;
		}
		if (op > MEDFS_OP_CHECKPOINT || op == MEDFS_OP_CHECKPOINT) {
			fprintf(stderr, PROG ": unknown operation '%s' for --op\n", tok);
			ret = -EINVAL;
			break;
		}
		if (f->nops == MAX_OPS) {
			fprintf(stderr, PROG ": too many operations for --op\n");
			ret = -EINVAL;
			break;
		}
		f->ops[f->nops++] = op;
	}
	free(copy);
	return ret;
}

/* Handles a filter option. Returns 1 when opt was one, 0 when not, -1 on a
 * bad value (reported). */
static int filter_option(int opt, const char *arg, struct filter *f)
{
	switch (opt) {
	case OPT_SINCE:
	case OPT_UNTIL:
		if (parse_time(arg, opt == OPT_SINCE ? &f->since : &f->until) < 0) {
			fprintf(stderr,
				PROG ": invalid time '%s' for --%s (ISO 8601: YYYY-MM-DD "
				     "or YYYY-MM-DDThh:mm[:ss[.ffffff]][Z])\n",
				arg, opt == OPT_SINCE ? "since" : "until");
			return -1;
		}
		*(opt == OPT_SINCE ? &f->has_since : &f->has_until) = true;
		return 1;
	case OPT_USER:
		f->user = arg;
		return 1;
	case OPT_PATH:
		f->path = arg;
		return 1;
	case OPT_PATIENT:
		f->patient = arg;
		return 1;
	case OPT_STUDY:
		f->study = arg;
		return 1;
	case OPT_OP:
		return parse_ops(arg, f) < 0 ? -1 : 1;
	default:
		return 0;
	}
}

static bool user_matches(const char *want, const struct medfs_journal_record *r)
{
	char uid[16];

	if (r->user != NULL && strcmp(r->user, want) == 0)
		return true;
	snprintf(uid, sizeof(uid), "%" PRIu32, r->uid);
	return strcmp(uid, want) == 0;
}

/* Whether the record concerns a file that is, or was, patient's: its
 * patient now, the one an attribution record says it had, or one of the
 * former patients the record lists (doc/JOURNAL.md 14.1). */
static bool patient_matches(const char *patient, const struct medfs_journal_record *r)
{
	size_t n = strlen(patient);

	if ((r->patient_id != NULL && strcmp(r->patient_id, patient) == 0) ||
	    (r->prior_patient_id != NULL && strcmp(r->prior_patient_id, patient) == 0))
		return true;
	for (const char *p = r->former_patient_ids; p != NULL && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len == n && memcmp(p, patient, n) == 0)
			return true;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return false;
}

static bool matches(const struct filter *f, const struct medfs_journal_record *r)
{
	if (f->has_since && r->time_us < f->since)
		return false;
	if (f->has_until && r->time_us >= f->until)
		return false;
	if (f->user != NULL && !user_matches(f->user, r))
		return false;
	if (f->path != NULL && !(r->path != NULL && fnmatch(f->path, r->path, 0) == 0) &&
	    !(r->path2 != NULL && fnmatch(f->path, r->path2, 0) == 0))
		return false;
	if (f->patient != NULL && !patient_matches(f->patient, r))
		return false;
	if (f->study != NULL && (r->study_uid == NULL || strcmp(r->study_uid, f->study)))
		return false;
	if (f->nops > 0) {
		size_t i;

		for (i = 0; i < f->nops && f->ops[i] != r->op; i++)
			;
		if (i == f->nops)
			return false;
	}
	return true;
}

/* ---- reading ---- */

struct reading {
	const char *dir;
	struct medfs_journal_reader *rd;
	struct medfs_journal_record_buf buf;
	struct medfs_journal_pos pos;
	unsigned long bad; /* records or segments that could not be read */
};

static int open_journal(struct reading *rd, const char *dir,
			const struct medfs_auditor_key *key)
{
	int ret;

	memset(rd, 0, sizeof(*rd));
	rd->dir = dir;
	ret = medfs_journal_reader_open(&rd->rd, dir, key, 0);
	if (ret == -ENOENT)
		fprintf(stderr, PROG ": %s: no journal there\n", dir);
	else if (ret == -EKEYREJECTED)
		fprintf(stderr,
			PROG ": %s: the journal is sealed to another auditor key\n", dir);
	else if (ret < 0)
		fprintf(stderr, PROG ": cannot open the journal %s: %s\n", dir,
			strerror(-ret));
	return ret < 0 ? 1 : 0;
}

static void close_journal(struct reading *rd)
{
	medfs_journal_record_buf_free(&rd->buf);
	medfs_journal_reader_close(rd->rd);
}

/* The next record passing f into rd->buf. Returns 1 with one, 0 at the end
 * for now, or -errno (reported) when the journal cannot be read on. A
 * record or segment that does not authenticate is reported and skipped. */
static int next_record(struct reading *rd, const struct filter *f)
{
	int ret;

	for (;;) {
		ret = medfs_journal_reader_next(rd->rd, &rd->buf, &rd->pos);
		if (ret == 1) {
			if (matches(f, &rd->buf.rec))
				return 1;
			continue;
		}
		if (ret == 0)
			return 0;
		if (ret == -EBADMSG || ret == -EKEYREJECTED) {
			fprintf(stderr,
				PROG ": %s: segment %" PRIu64 " record %" PRIu64
				     ": %s, skipped (run '" PROG " verify')\n",
				rd->dir, rd->pos.segment, rd->pos.seq,
				ret == -EBADMSG ? "does not authenticate"
						: "sealed to another key");
			rd->bad++;
			continue;
		}
		fprintf(stderr, PROG ": cannot read the journal %s: %s\n", rd->dir,
			strerror(-ret));
		return ret;
	}
}

/* ---- the table ---- */

enum {
	C_TIME,
	C_USER,
	C_PROGRAM,
	C_OP,
	C_PATH,
	C_RESULT,
	C_BYTES,
	C_DICOM,
	C_E,
	C_DETAIL,
	NCOLS
};

static const char *const col_names[NCOLS] = {
	"TIME (UTC)", "USER(UID)", "PROGRAM[PID]",  "OP", "PATH",
	"RESULT",     "BYTES",	   "PATIENT/STUDY", "E",  "DETAIL",
};

/* Widest a column grows when computed from its cells; longer cells are
 * printed whole and push the rest of their line. */
static const size_t col_max[NCOLS] = { 27, 24, 24, 16, 60, 16, 40, 60, 1, 0 };
/* Widths tail -f starts from, since the records to come are unknown. */
static const size_t col_follow[NCOLS] = { 27, 14, 18, 10, 36, 8, 26, 40, 1, 0 };

struct row {
	char *cell[NCOLS];
};

struct table {
	struct row *rows;
	size_t n, cap;
	size_t width[NCOLS];
};

/* Appends s to a growing string, escaping what a terminal could act on:
 * control characters and bytes that are not UTF-8 become \xNN. */
struct str {
	char *p;
	size_t len, cap;
	bool fail;
};

static void str_add(struct str *s, const char *p, size_t n)
{
	if (s->fail)
		return;
	if (s->len + n + 1 > s->cap) {
		size_t cap = (s->len + n + 1) * 2;
		char *q = realloc(s->p, cap);

		if (q == NULL) {
			s->fail = true;
			return;
		}
		s->p = q;
		s->cap = cap;
	}
	memcpy(s->p + s->len, p, n);
	s->len += n;
	s->p[s->len] = '\0';
}

static void __attribute__((format(printf, 2, 3)))
str_fmt(struct str *s, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		str_add(s, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Length of the valid UTF-8 sequence at p (a printable character), else 0. */
static size_t utf8_len(const unsigned char *p)
{
	size_t len;
	uint32_t c;

	if (p[0] >= 0x20 && p[0] < 0x7f)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, c = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, c = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, c = p[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff) || (c >= 0x80 && c < 0xa0))
		return 0; /* overlong, surrogate, or a C1 control */
	return len;
}

static void str_safe(struct str *s, const char *text)
{
	const unsigned char *p = (const unsigned char *)(text ? text : "");

	while (*p) {
		size_t n = utf8_len(p);

		if (n == 0) {
			str_fmt(s, "\\x%02x", *p);
			n = 1;
		} else if (*p == '\\') {
			str_add(s, "\\\\", 2);
		} else {
			str_add(s, (const char *)p, n);
		}
		p += n;
	}
}

/* Display width: one column per character (the cells are escaped). */
static size_t text_width(const char *s)
{
	size_t w = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		w += (*p & 0xc0) != 0x80;
	return w;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL && slash[1] != '\0' ? slash + 1 : path;
}

static char *take(struct str *s)
{
	char *p;

	if (s->fail) {
		free(s->p);
		return NULL;
	}
	p = s->p != NULL ? s->p : strdup("");
	memset(s, 0, sizeof(*s));
	return p;
}

static void error_text(struct str *s, int32_t err)
{
	const char *name = err > 0 ? strerrorname_np(err) : NULL;

	if (name != NULL)
		str_add(s, name, strlen(name));
	else
		str_fmt(s, "errno %" PRId32, err);
}

/* The cells of one record. Returns 0 or -ENOMEM. */
static int make_row(const struct medfs_journal_record *r, struct row *row)
{
	char t[MEDFS_EXPORT_TIME_LEN];
	const char *op = medfs_journal_op_name(r->op);
	struct str s = { 0 };

	medfs_export_format_time(t, r->time_us);
	str_add(&s, t, strlen(t));
	row->cell[C_TIME] = take(&s);

	if (r->user != NULL)
		str_safe(&s, r->user);
	str_fmt(&s, "(%" PRIu32 ")", r->uid);
	row->cell[C_USER] = take(&s);

	if (r->program != NULL)
		str_safe(&s, base_name(r->program));
	else
		str_add(&s, "?", 1);
	str_fmt(&s, "[%" PRId32 "]", r->pid);
	row->cell[C_PROGRAM] = take(&s);

	if (op != NULL)
		str_add(&s, op, strlen(op));
	else
		str_fmt(&s, "op-%" PRIu32, r->op);
	if (r->op == MEDFS_OP_OPEN) {
		static const char *const modes[] = { ":r", ":w", ":rw", ":?" };

		str_add(&s, modes[r->flags & O_ACCMODE],
			strlen(modes[r->flags & O_ACCMODE]));
	}
	row->cell[C_OP] = take(&s);

	str_safe(&s, r->path);
	if (r->path2 != NULL) {
		str_add(&s, " -> ", 4);
		str_safe(&s, r->path2);
	}
	row->cell[C_PATH] = take(&s);

	if (r->result == 0)
		str_add(&s, "ok", 2);
	else
		error_text(&s, r->result);
	if (r->rule_line != 0)
		str_fmt(&s, " rule:%" PRIu32, r->rule_line);
	row->cell[C_RESULT] = take(&s);

	if (r->bytes != 0 || r->nranges != 0)
		str_fmt(&s, "%" PRIu64, r->bytes);
	for (size_t i = 0; i < r->nranges && r->ranges != NULL; i++) {
		if (i == 4) {
			str_fmt(&s, ",+%zu more", r->nranges - i);
			break;
		}
		str_fmt(&s, "%s%" PRIu64 "+%" PRIu64, i ? "," : " [", r->ranges[i].offset,
			r->ranges[i].length);
		if (i + 1 == r->nranges)
			str_add(&s, "]", 1);
	}
	if (r->nranges > 4)
		str_add(&s, "]", 1);
	if (r->offset >= 0)
		str_fmt(&s, "%s@%" PRId64, s.len ? " " : "", r->offset);
	if (r->count != 0)
		str_fmt(&s, "%scount %" PRIu64, s.len ? " " : "", r->count);
	row->cell[C_BYTES] = take(&s);

	if (r->patient_id != NULL || r->study_uid != NULL) {
		str_safe(&s, r->patient_id ? r->patient_id : "?");
		str_add(&s, "/", 1);
		str_safe(&s, r->study_uid ? r->study_uid : "?");
	}
	if (r->op == MEDFS_OP_ATTRIBUTION) {
		str_fmt(&s, "%swas ", s.len ? " " : "");
		str_safe(&s, r->prior_patient_id ? r->prior_patient_id : "?");
		str_add(&s, "/", 1);
		str_safe(&s, r->prior_study_uid ? r->prior_study_uid : "?");
	}
	row->cell[C_DICOM] = take(&s);

	row->cell[C_E] = strdup(r->emergency ? "E" : "");
	str_safe(&s, r->detail);
	row->cell[C_DETAIL] = take(&s);

	for (int c = 0; c < NCOLS; c++)
		if (row->cell[c] == NULL)
			return -ENOMEM;
	return 0;
}

static void free_row(struct row *row)
{
	for (int c = 0; c < NCOLS; c++)
		free(row->cell[c]);
}

static void fit(struct table *t, const struct row *row)
{
	for (int c = 0; c < NCOLS; c++) {
		size_t w = text_width(row->cell[c]);

		if (w > col_max[c])
			w = col_max[c];
		if (w > t->width[c])
			t->width[c] = w;
	}
}

static void table_init(struct table *t)
{
	memset(t, 0, sizeof(*t));
	for (int c = 0; c < NCOLS; c++) {
		size_t w = strlen(col_names[c]);

		t->width[c] = w < col_max[c] || col_max[c] == 0 ? w : col_max[c];
	}
}

static void print_cells(const struct table *t, char *const cell[NCOLS])
{
	int last = NCOLS - 1;

	while (last > 0 && cell[last][0] == '\0')
		last--;
	for (int c = 0; c <= last; c++) {
		size_t w = text_width(cell[c]);

		fputs(cell[c], stdout);
		if (c < last)
			for (size_t i = w < t->width[c] ? w : t->width[c];
			     i < t->width[c] + 2; i++)
				putchar(' ');
	}
	putchar('\n');
}

static void print_header(const struct table *t)
{
	print_cells(t, (char *const *)col_names);
}

static int table_add(struct table *t, const struct row *row)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 256;
		struct row *rows = realloc(t->rows, cap * sizeof(*rows));

		if (rows == NULL)
			return -ENOMEM;
		t->rows = rows;
		t->cap = cap;
	}
	t->rows[t->n++] = *row;
	fit(t, row);
	return 0;
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free_row(&t->rows[i]);
	free(t->rows);
}

/* ---- keygen ---- */

static void keygen_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " keygen --out PREFIX\n"
		"\n"
		"Makes the auditor's key pair: PREFIX.pub, to record in the vault with\n"
		"'medfs-key init VAULT --auditor-key PREFIX.pub' (or 'medfs-key\n"
		"set-auditor'), and PREFIX.key (mode 0600), the only key that reads and\n"
		"verifies the journal. Neither file may exist. Keep PREFIX.key off the\n"
		"machine that mounts the vault.\n"
		"\n"
		"Options:\n"
		"  --out PREFIX  where to write the two files\n"
		"  -h, --help    show this help\n");
}

static int usage_error(void (*usage)(FILE *f), const char *fmt, const char *arg)
{
	fprintf(stderr, PROG ": ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	usage(stderr);
	return EXIT_USAGE;
}

static int cmd_keygen(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "out", required_argument, NULL, OPT_OUT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *prefix = NULL;
	int opt, ret;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (opt == OPT_OUT)
			prefix = optarg;
		else
			return subcommand_option(PROG, opt, argv, keygen_usage);
	}
	if (optind != argc || prefix == NULL || prefix[0] == '\0') {
		keygen_usage(stderr);
		return EXIT_USAGE;
	}
	if (start_crypto() != 0)
		return EXIT_FAILURE;
	ret = medfs_auditor_keygen(prefix);
	if (ret == -EEXIST) {
		fprintf(stderr,
			PROG ": %s.pub or %s.key exists already: not overwritten\n",
			prefix, prefix);
		return EXIT_FAILURE;
	} else if (ret < 0) {
		fprintf(stderr, PROG ": cannot write %s.pub and %s.key: %s\n", prefix,
			prefix, strerror(-ret));
		return EXIT_FAILURE;
	}
	printf(PROG ": wrote %s.pub (public: give it to medfs-key) and %s.key (secret, "
		    "mode 0600)\n",
	       prefix, prefix);
	return EXIT_SUCCESS;
}

/* ---- verify ---- */

static void verify_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " verify DIR --key PREFIX.key [--quiet]\n"
		"\n"
		"Checks the whole journal in DIR: every record's authentication, order\n"
		"and chain, each segment's link to the one before, every checkpoint's\n"
		"signature under the evolving keys, HEAD and the PRUNED manifest. Each\n"
		"problem is printed with the segment and record it concerns; records\n"
		"after the last checkpoint of the last segment (a crash) are a warning.\n"
		"Exit status 0 when the journal is intact, 1 otherwise.\n"
		"\n"
		"Options:\n"
		"  --key FILE   the auditor's secret key (PREFIX.key, or PREFIX)\n"
		"  -q, --quiet  print only the problems\n"
		"  -h, --help   show this help\n");
}

static void print_report(void *ctx, int error, uint64_t segment, uint64_t seq,
			 const char *msg)
{
	const char *dir = ctx;

	printf("%s: %s", error ? "ERROR" : "warning", dir);
	if (segment != MEDFS_JOURNAL_NONE) {
		char name[MEDFS_JOURNAL_SEGMENT_NAME_LEN];

		medfs_journal_segment_name(name, segment);
		printf("/%s", name);
	}
	if (seq != MEDFS_JOURNAL_NONE)
		printf(" record %" PRIu64, seq);
	printf(": %s\n", msg);
}

static int cmd_verify(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "key", required_argument, NULL, OPT_KEY },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct medfs_journal_verify_stats st;
	struct medfs_auditor_key *key = NULL;
	const char *keyfile = NULL, *dir;
	bool quiet = false;
	int opt, ret;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":hq", options, NULL)) != -1) {
		if (opt == OPT_KEY)
			keyfile = optarg;
		else if (opt == 'q')
			quiet = true;
		else
			return subcommand_option(PROG, opt, argv, verify_usage);
	}
	if (argc - optind != 1 || keyfile == NULL) {
		verify_usage(stderr);
		return EXIT_USAGE;
	}
	dir = argv[optind];
	if (start_crypto() != 0 || load_secret_key(keyfile, &key) != 0)
		return EXIT_FAILURE;
	ret = medfs_journal_verify(dir, key, print_report, (void *)dir, &st);
	medfs_auditor_key_free(key);
	if (ret == -ENOENT) {
		fprintf(stderr, PROG ": %s: no journal there\n", dir);
		return EXIT_FAILURE;
	} else if (ret == -EKEYREJECTED) {
		fprintf(stderr,
			PROG
			": %s: no segment opens with this key (another auditor's?)\n",
			dir);
		return EXIT_FAILURE;
	} else if (ret < 0) {
		fprintf(stderr, PROG ": cannot verify %s: %s\n", dir, strerror(-ret));
		return EXIT_FAILURE;
	}
	if (!quiet) {
		printf("%s: %" PRIu64 " segment%s, %" PRIu64 " records, %" PRIu64
		       " checkpoints",
		       dir, st.segments, st.segments == 1 ? "" : "s", st.records,
		       st.checkpoints);
		if (st.pruned_segments)
			printf(", %" PRIu64 " segments pruned", st.pruned_segments);
		if (st.unsealed)
			printf(", %" PRIu64 " unsealed at the end", st.unsealed);
		printf("\n%s: %s (%" PRIu64 " error%s, %" PRIu64 " warning%s)\n", dir,
		       ret == 0 ? "intact" : "NOT INTACT", st.errors,
		       st.errors == 1 ? "" : "s", st.warnings,
		       st.warnings == 1 ? "" : "s");
	}
	return ret == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* ---- show ---- */

static void show_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " show DIR --key PREFIX.key [FILTERS]\n"
		"\n"
		"Prints the records of the journal in DIR that pass every filter, as a\n"
		"table: time (UTC), user(uid), program[pid], operation, path, result\n"
		"(and the policy rule that decided), bytes and byte ranges (or @offset\n"
		"of an integrity failure), DICOM patient/study, E for an access made\n"
		"under an emergency grant, and details. '--patient ID' lists every\n"
		"access to a patient's files: the patient's right to know.\n"
		"Records that do not authenticate are skipped and reported; run\n"
		"'" PROG " verify' to check the journal is complete.\n"
		"\n"
		"Options:\n"
		"  --key FILE        the auditor's secret key (PREFIX.key, or "
		"PREFIX)\n" FILTER_HELP "  -h, --help        show this help\n");
}

/* Parses the options of show, tail and export. extra handles the
 * command's own (returns 1 when it took opt, -1 on a bad value). Returns -1
 * to go on, or an exit status. */
static int parse_common(int argc, char *argv[], const struct option *options,
			const char *shortopts, void (*usage)(FILE *f), struct filter *f,
			const char **keyfile,
			int (*extra)(int opt, const char *arg, void *ctx), void *ctx)
{
	int opt, r;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, shortopts, options, NULL)) != -1) {
		if (opt == OPT_KEY) {
			*keyfile = optarg;
			continue;
		}
		r = filter_option(opt, optarg, f);
		if (r == 0 && extra != NULL)
			r = extra(opt, optarg, ctx);
		if (r < 0)
			return EXIT_USAGE;
		if (r == 0)
			return subcommand_option(PROG, opt, argv, usage);
	}
	if (argc - optind != 1 || *keyfile == NULL) {
		usage(stderr);
		return EXIT_USAGE;
	}
	return -1;
}

static int cmd_show(int argc, char *argv[])
{
	static const struct option own[] = {
		{ "key", required_argument, NULL, OPT_KEY },
		{ "help", no_argument, NULL, 'h' },
	};
	struct option options[OPTIONS_MAX];
	_Static_assert(sizeof(own) / sizeof(own[0]) + NFILTER_OPTIONS < OPTIONS_MAX,
		       "OPTIONS_MAX");
	struct medfs_auditor_key *key = NULL;
	struct filter f = { .since = 0 };
	const char *keyfile = NULL;
	struct reading rd;
	struct table t;
	struct row row;
	int ret, status = EXIT_FAILURE;

	ret = parse_common(argc, argv,
			   with_filters(options, own, sizeof(own) / sizeof(own[0])), ":h",
			   show_usage, &f, &keyfile, NULL, NULL);
	if (ret >= 0)
		return ret;
	if (start_crypto() != 0 || load_secret_key(keyfile, &key) != 0)
		return EXIT_FAILURE;
	if (open_journal(&rd, argv[optind], key) != 0)
		goto out_key;
	table_init(&t);
	while ((ret = next_record(&rd, &f)) == 1) {
		memset(&row, 0, sizeof(row));
		if (make_row(&rd.buf.rec, &row) < 0 || table_add(&t, &row) < 0) {
			free_row(&row);
			fprintf(stderr, PROG ": out of memory\n");
			goto out;
		}
	}
	if (ret < 0)
		goto out;
	print_header(&t);
	for (size_t i = 0; i < t.n; i++)
		print_cells(&t, t.rows[i].cell);
	fprintf(stderr, PROG ": %zu record%s\n", t.n, t.n == 1 ? "" : "s");
	status = rd.bad ? EXIT_FAILURE : EXIT_SUCCESS;
out:
	table_free(&t);
	close_journal(&rd);
out_key:
	medfs_auditor_key_free(key);
	return status;
}

/* ---- tail ---- */

static void tail_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " tail [-f] [-n N] DIR --key PREFIX.key [FILTERS]\n"
		"\n"
		"Prints the last N records of the journal in DIR that pass every "
		"filter,\n"
		"as the table of 'show'; with -f, then follows the journal: records\n"
		"written by the mounted vault appear about a second later, new segments\n"
		"included, until interrupted.\n"
		"\n"
		"Options:\n"
		"  -f, --follow      keep printing new records\n"
		"  -n, --lines N     how many past records to print first (default %d)\n"
		"  --key FILE        the auditor's secret key (PREFIX.key, or "
		"PREFIX)\n" FILTER_HELP "  -h, --help        show this help\n",
		TAIL_DEFAULT);
}

struct tail_opts {
	bool follow;
	unsigned long lines;
};

static int tail_option(int opt, const char *arg, void *ctx)
{
	struct tail_opts *o = ctx;
	char *end;

	if (opt == 'f') {
		o->follow = true;
		return 1;
	}
	if (opt != 'n')
		return 0;
	errno = 0;
	o->lines = strtoul(arg, &end, 10);
	if (errno != 0 || *end != '\0' || arg[0] < '0' || arg[0] > '9' ||
	    o->lines > 1000000) {
		fprintf(stderr, PROG ": invalid --lines '%s' (0 to 1000000)\n", arg);
		return -1;
	}
	return 1;
}

static int cmd_tail(int argc, char *argv[])
{
	static const struct option own[] = {
		{ "key", required_argument, NULL, OPT_KEY },
		{ "follow", no_argument, NULL, 'f' },
		{ "lines", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
	};
	struct option options[OPTIONS_MAX];
	_Static_assert(sizeof(own) / sizeof(own[0]) + NFILTER_OPTIONS < OPTIONS_MAX,
		       "OPTIONS_MAX");
	struct tail_opts o = { .follow = false, .lines = TAIL_DEFAULT };
	struct medfs_auditor_key *key = NULL;
	struct filter f = { .since = 0 };
	const char *keyfile = NULL;
	struct row *ring = NULL, row;
	size_t nring = 0, head = 0;
	struct reading rd;
	struct table t;
	int ret, status = EXIT_FAILURE;

	ret = parse_common(argc, argv,
			   with_filters(options, own, sizeof(own) / sizeof(own[0])),
			   ":hfn:", tail_usage, &f, &keyfile, tail_option, &o);
	if (ret >= 0)
		return ret;
	if (start_crypto() != 0 || load_secret_key(keyfile, &key) != 0)
		return EXIT_FAILURE;
	if (open_journal(&rd, argv[optind], key) != 0)
		goto out_key;
	table_init(&t);
	if (o.lines > 0) {
		ring = calloc(o.lines, sizeof(*ring));
		if (ring == NULL) {
			fprintf(stderr, PROG ": out of memory\n");
			goto out;
		}
	}
	/* The last N records, kept in a ring. */
	while ((ret = next_record(&rd, &f)) == 1) {
		if (o.lines == 0)
			continue;
		memset(&row, 0, sizeof(row));
		if (make_row(&rd.buf.rec, &row) < 0) {
			free_row(&row);
			fprintf(stderr, PROG ": out of memory\n");
			goto out;
		}
		if (nring == o.lines)
			free_row(&ring[head]);
		else
			nring++;
		ring[head] = row;
		head = (head + 1) % o.lines;
	}
	if (ret < 0)
		goto out;
	for (size_t i = 0; i < nring; i++)
		fit(&t, &ring[(head + o.lines - nring + i) % o.lines]);
	if (o.follow)
		for (int c = 0; c < NCOLS; c++)
			if (t.width[c] < col_follow[c])
				t.width[c] = col_follow[c];
	print_header(&t);
	for (size_t i = 0; i < nring; i++)
		print_cells(&t, ring[(head + o.lines - nring + i) % o.lines].cell);
	fflush(stdout);

	if (o.follow) {
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		while (!stop_requested) {
			ret = next_record(&rd, &f);
			if (ret < 0)
				goto out;
			if (ret == 0) {
				fflush(stdout);
				usleep(POLL_US);
				continue;
			}
			memset(&row, 0, sizeof(row));
			if (make_row(&rd.buf.rec, &row) < 0) {
				free_row(&row);
				fprintf(stderr, PROG ": out of memory\n");
				goto out;
			}
			print_cells(&t, row.cell);
			free_row(&row);
		}
		fflush(stdout);
	}
	status = rd.bad ? EXIT_FAILURE : EXIT_SUCCESS;
out:
	for (size_t i = 0; i < nring; i++)
		free_row(&ring[i]);
	free(ring);
	table_free(&t);
	close_journal(&rd);
out_key:
	medfs_auditor_key_free(key);
	return status;
}

/* ---- export ---- */

static void export_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " export DIR --key PREFIX.key --format jsonl|dicom|fhir\n"
		"                     [--output FILE | --output-dir DIR] [--source ID]\n"
		"                     [--site ID] [--host NAME] [--group-window "
		"SECONDS]\n"
		"                     [FILTERS]\n"
		"\n"
		"Writes the records of the journal in DIR that pass every filter for "
		"other\n"
		"audit systems:\n"
		"  jsonl  one JSON object per line and record, every field\n"
		"  dicom  DICOM PS3.15 audit messages (XML, the A.5.1 schema): reads "
		"and\n"
		"         other accesses grouped per user, program, patient and study\n"
		"         (110103 DICOM Instances Accessed), 110113 Security Alerts for\n"
		"         denials, integrity failures and emergency access (110127 "
		"start,\n"
		"         110138 stop), 110100 Application Activity for mount and "
		"unmount\n"
		"  fhir   a FHIR R4 Bundle of AuditEvent resources (IHE BALP)\n"
		"\n"
		"Options:\n"
		"  --key FILE        the auditor's secret key (PREFIX.key, or PREFIX)\n"
		"  --format F        jsonl, dicom or fhir\n"
		"  -o, --output FILE write to FILE instead of standard output\n"
		"  --output-dir DIR  dicom: one file per message, "
		"DIR/audit-NNNNNNNN.xml\n"
		"                    (DIR is created if missing)\n"
		"  --source ID       AuditSourceID / source.observer (default "
		"medfs@HOST,\n"
		"                    HOST being this machine's name)\n"
		"  --site ID         AuditEnterpriseSiteID / source.site\n"
		"  --host NAME       the users' machine (NetworkAccessPointID)\n"
		"  --group-window S  an access more than S seconds after the first of "
		"its\n"
		"                    group starts a new message (default 3600; 'all':\n"
		"                    one message per group)\n" FILTER_HELP
		"  -h, --help        show this help\n");
}

struct export_opts {
	const char *format, *output, *output_dir, *source, *site, *host;
	uint64_t window_us;
};

static int export_option(int opt, const char *arg, void *ctx)
{
	struct export_opts *o = ctx;
	unsigned long long s;
	char *end;

	switch (opt) {
	case OPT_FORMAT:
		o->format = arg;
		return 1;
	case 'o':
		o->output = arg;
		return 1;
	case OPT_OUTPUT_DIR:
		o->output_dir = arg;
		return 1;
	case OPT_SOURCE:
		o->source = arg;
		return 1;
	case OPT_SITE:
		o->site = arg;
		return 1;
	case OPT_HOST:
		o->host = arg;
		return 1;
	case OPT_WINDOW:
		if (strcmp(arg, "all") == 0) {
			o->window_us = MEDFS_EXPORT_GROUP_ALL;
			return 1;
		}
		errno = 0;
		s = strtoull(arg, &end, 10);
		if (errno != 0 || *end != '\0' || arg[0] < '0' || arg[0] > '9' ||
		    s == 0 || s > UINT64_MAX / 1000000 - 1) {
			fprintf(stderr,
				PROG
				": invalid --group-window '%s' (seconds, at least 1, or "
				"'all')\n",
				arg);
			return -1;
		}
		o->window_us = (uint64_t)s * 1000000;
		return 1;
	default:
		return 0;
	}
}

/* Creates path for writing, owner-only (records are personal data) and
 * never over an existing file. Returns NULL (reported, errno set). */
static FILE *create_private(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	int saved = errno;

	if (f == NULL) {
		fprintf(stderr, PROG ": cannot create %s: %s\n", path, strerror(saved));
		if (fd >= 0)
			close(fd);
		errno = saved;
	}
	return f;
}

/* Sends each DICOM message to its own file in a directory. */
struct split {
	const char *dir;
	FILE *f;
	int err;
};

static int split_begin(void *ctx, uint64_t index)
{
	struct split *sp = ctx;
	char *path = NULL;

	if (sp->f != NULL && fclose(sp->f) != 0)
		sp->err = -EIO;
	sp->f = NULL;
	if (sp->err)
		return sp->err;
	if (asprintf(&path, "%s/audit-%08" PRIu64 ".xml", sp->dir, index) < 0)
		return -ENOMEM;
	sp->f = create_private(path);
	if (sp->f == NULL)
		sp->err = -errno;
	free(path);
	return sp->err;
}

static int split_write(void *ctx, const char *buf, size_t len)
{
	struct split *sp = ctx;

	if (sp->f == NULL || fwrite(buf, 1, len, sp->f) != len)
		return -EIO;
	return 0;
}

static int cmd_export(int argc, char *argv[])
{
	static const struct option own[] = {
		{ "key", required_argument, NULL, OPT_KEY },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "output", required_argument, NULL, 'o' },
		{ "output-dir", required_argument, NULL, OPT_OUTPUT_DIR },
		{ "source", required_argument, NULL, OPT_SOURCE },
		{ "site", required_argument, NULL, OPT_SITE },
		{ "host", required_argument, NULL, OPT_HOST },
		{ "group-window", required_argument, NULL, OPT_WINDOW },
		{ "help", no_argument, NULL, 'h' },
	};
	struct option options[OPTIONS_MAX];
	_Static_assert(sizeof(own) / sizeof(own[0]) + NFILTER_OPTIONS < OPTIONS_MAX,
		       "OPTIONS_MAX");
	struct export_opts o = { .format = NULL };
	struct medfs_export_options eo = { .source_id = NULL };
	struct medfs_auditor_key *key = NULL;
	struct medfs_exporter *ex = NULL;
	struct filter f = { .since = 0 };
	struct split sp = { .f = NULL };
	enum medfs_export_format format;
	char host[256], source[300];
	const char *keyfile = NULL;
	unsigned long n = 0;
	struct reading rd;
	FILE *out = stdout;
	int ret, status = EXIT_FAILURE;

	ret = parse_common(argc, argv,
			   with_filters(options, own, sizeof(own) / sizeof(own[0])),
			   ":ho:", export_usage, &f, &keyfile, export_option, &o);
	if (ret >= 0)
		return ret;
	if (o.format == NULL)
		return usage_error(export_usage, "%s", "--format is required");
	if (medfs_export_format_parse(o.format, &format) < 0)
		return usage_error(export_usage,
				   "unknown format '%s' (jsonl, dicom or fhir)",
				   o.format);
	if (o.output_dir != NULL && (format != MEDFS_EXPORT_DICOM || o.output != NULL))
		return usage_error(
			export_usage, "%s",
			"--output-dir goes with --format dicom, without --output");
	if (o.source == NULL) {
		if (gethostname(host, sizeof(host)) < 0)
			strcpy(host, "localhost");
		host[sizeof(host) - 1] = '\0';
		snprintf(source, sizeof(source), "medfs@%s", host);
		o.source = source;
	}
	eo.source_id = o.source;
	eo.site_id = o.site;
	eo.host = o.host;
	eo.group_window_us = o.window_us;

	if (start_crypto() != 0 || load_secret_key(keyfile, &key) != 0)
		return EXIT_FAILURE;
	if (open_journal(&rd, argv[optind], key) != 0)
		goto out_key;
	if (o.output_dir != NULL) {
		if (mkdir(o.output_dir, 0700) < 0 && errno != EEXIST) {
			fprintf(stderr, PROG ": cannot create %s: %s\n", o.output_dir,
				strerror(errno));
			goto out;
		}
		sp.dir = o.output_dir;
		eo.begin_message = split_begin;
		ret = medfs_export_open(&ex, format, &eo, split_write, &sp);
	} else {
		if (o.output != NULL) {
			out = create_private(o.output);
			if (out == NULL) {
				out = stdout;
				goto out;
			}
		}
		ret = medfs_export_open_file(&ex, format, &eo, out);
	}
	if (ret < 0) {
		fprintf(stderr, PROG ": cannot start the export: %s\n", strerror(-ret));
		goto out;
	}
	while ((ret = next_record(&rd, &f)) == 1) {
		ret = medfs_export_record(ex, &rd.buf.rec, &rd.pos);
		if (ret < 0) {
			fprintf(stderr, PROG ": cannot write the export: %s\n",
				strerror(-ret));
			goto out;
		}
		n++;
	}
	if (ret < 0)
		goto out; /* reported */
	ret = medfs_export_close(ex);
	ex = NULL;
	if (sp.f != NULL && fclose(sp.f) != 0 && ret == 0)
		ret = -EIO;
	sp.f = NULL;
	if (out != stdout && fclose(out) != 0 && ret == 0)
		ret = -EIO;
	else if (out == stdout && fflush(stdout) != 0 && ret == 0)
		ret = -EIO;
	out = stdout;
	if (ret < 0) {
		fprintf(stderr, PROG ": cannot write the export: %s\n", strerror(-ret));
		goto out;
	}
	fprintf(stderr, PROG ": exported %lu record%s\n", n, n == 1 ? "" : "s");
	status = rd.bad ? EXIT_FAILURE : EXIT_SUCCESS;
out:
	medfs_export_close(ex);
	if (sp.f != NULL)
		fclose(sp.f);
	if (out != stdout)
		fclose(out);
	close_journal(&rd);
out_key:
	medfs_auditor_key_free(key);
	return status;
}

/* ---- prune ---- */

static void prune_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " prune DIR --before DATE --key PREFIX.key\n"
		"\n"
		"Removes the whole segments at the start of the journal in DIR whose\n"
		"last record is older than DATE, never the last segment, once the\n"
		"journal verifies; then records which were removed in DIR/PRUNED,\n"
		"signed with the auditor's key, so that '" PROG " verify' still passes.\n"
		"Nothing is removed from a journal that does not verify.\n"
		"\n"
		"Options:\n"
		"  --before DATE  ISO 8601 date or date and time (UTC unless an offset\n"
		"                 is given): keep everything from DATE on\n"
		"  --key FILE     the auditor's secret key (PREFIX.key, or PREFIX)\n"
		"  -h, --help     show this help\n");
}

static int cmd_prune(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "before", required_argument, NULL, OPT_BEFORE },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct medfs_auditor_key *key = NULL;
	const char *keyfile = NULL, *before = NULL, *dir;
	uint64_t before_us = 0, removed = 0;
	int opt, ret;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (opt == OPT_KEY)
			keyfile = optarg;
		else if (opt == OPT_BEFORE)
			before = optarg;
		else
			return subcommand_option(PROG, opt, argv, prune_usage);
	}
	if (argc - optind != 1 || keyfile == NULL || before == NULL) {
		prune_usage(stderr);
		return EXIT_USAGE;
	}
	if (parse_time(before, &before_us) < 0)
		return usage_error(prune_usage, "invalid date '%s' for --before", before);
	dir = argv[optind];
	if (start_crypto() != 0 || load_secret_key(keyfile, &key) != 0)
		return EXIT_FAILURE;
	ret = medfs_journal_prune(dir, before_us, key, print_report, (void *)dir,
				  &removed);
	medfs_auditor_key_free(key);
	if (ret == -EBADMSG) {
		fprintf(stderr, PROG ": %s does not verify: nothing removed\n", dir);
		return EXIT_FAILURE;
	} else if (ret == -ENOENT) {
		fprintf(stderr, PROG ": %s: no journal there\n", dir);
		return EXIT_FAILURE;
	} else if (ret == -EKEYREJECTED) {
		fprintf(stderr,
			PROG ": %s: the journal is sealed to another auditor key\n", dir);
		return EXIT_FAILURE;
	} else if (ret < 0) {
		fprintf(stderr, PROG ": cannot prune %s: %s\n", dir, strerror(-ret));
		return EXIT_FAILURE;
	}
	printf(PROG ": %s: removed %" PRIu64 " segment%s older than %s\n", dir, removed,
	       removed == 1 ? "" : "s", before);
	return EXIT_SUCCESS;
}

/* ---- main ---- */

static const struct subcommand subcommands[] = {
	{ "keygen", cmd_keygen, keygen_usage, "make the auditor's key pair" },
	{ "verify", cmd_verify, verify_usage, "check that a journal is intact" },
	{ "show", cmd_show, show_usage, "print records as a table, filtered" },
	{ "tail", cmd_tail, tail_usage, "print the last records; -f follows new ones" },
	{ "export", cmd_export, export_usage,
	  "write records as JSON lines, DICOM or FHIR" },
	{ "prune", cmd_prune, prune_usage, "remove segments older than a date" },
};
#define NSUBCOMMANDS (sizeof(subcommands) / sizeof(subcommands[0]))

static void usage(FILE *f)
{
	fprintf(f, "Usage: " PROG " COMMAND [ARGUMENTS]\n\n"
		   "Reads, verifies, exports and prunes the access journal of a medfs "
		   "vault\n"
		   "(by default VAULT/journal) with the auditor's key.\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < NSUBCOMMANDS; i++)
		fprintf(f, "  %-8s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(f, "  %-8s %s\n", "help",
		"show this help, or a command's with 'help COMMAND'");
	fprintf(f, "\nRun '" PROG " COMMAND --help' for the options of a command.\n");
}

int main(int argc, char *argv[])
{
	int status;
	const struct subcommand *c = subcommand_pick(argc, argv, PROG, subcommands,
						     NSUBCOMMANDS, usage, &status);

	return c ? c->fn(argc - 1, argv + 1) : status;
}
