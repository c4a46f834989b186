/* medfs: exporting decoded journal records: JSON lines, DICOM PS3.15 audit
 * messages, FHIR R4 AuditEvent resources.
 *
 * JSON lines are written record by record. The two audit formats share one
 * model: records become messages (struct msg), accesses are merged into
 * open groups, and a queue in order of first record releases a message
 * once every message before it is complete, so the output stays in time
 * order with only the group window's worth of messages held. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "medfs/journal_export.h"

#define OUT_BUF_LEN 8192
#define DCM_SYSTEM "http://dicom.nema.org/resources/ontology/DCM"
#define LOCAL_SYSTEM "urn:medfs:audit-code"
#define BUNDLE_START "{\"resourceType\":\"Bundle\",\"type\":\"collection\""

/* ---- output: buffered writes through the callback, first error kept ---- */

struct out {
	medfs_export_write_fn fn;
	void *ctx;
	int err;
	size_t n;
	char buf[OUT_BUF_LEN];
};

static void out_flush(struct out *o)
{
	int ret;

	if (o->n > 0 && o->err == 0) {
		ret = o->fn(o->ctx, o->buf, o->n);
		if (ret < 0)
			o->err = ret;
	}
	o->n = 0;
}

static void put(struct out *o, const char *s, size_t len)
{
	while (len > 0 && o->err == 0) {
		size_t n = OUT_BUF_LEN - o->n;

		if (n > len)
			n = len;
		memcpy(o->buf + o->n, s, n);
		o->n += n;
		s += n;
		len -= n;
		if (o->n == OUT_BUF_LEN)
			out_flush(o);
	}
}

static void puts_out(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3)))
putf(struct out *o, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* ---- text ---- */

/* Length of the valid UTF-8 sequence at s (n bytes left) and its code
 * point, or 0 when it is not one (overlong, surrogate, beyond U+10FFFF,
 * cut short). */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c = s[0], min;
	size_t len;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		c &= 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		c &= 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		c &= 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

/* A JSON string, or null. */
static void json_str(struct out *o, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	if (s == NULL) {
		puts_out(o, "null");
		return;
	}
	put(o, "\"", 1);
	n = strlen(s);
	while (n > 0) {
		char esc[8];
		uint32_t cp;
		size_t len = utf8_seq(p, n, &cp);

		if (len == 0) {
			puts_out(o, "\\ufffd");
			len = 1;
		} else if (cp == '"') {
			puts_out(o, "\\\"");
		} else if (cp == '\\') {
			puts_out(o, "\\\\");
		} else if (cp == '\n') {
			puts_out(o, "\\n");
		} else if (cp == '\r') {
			puts_out(o, "\\r");
		} else if (cp == '\t') {
			puts_out(o, "\\t");
		} else if (cp == '\b') {
			puts_out(o, "\\b");
		} else if (cp == '\f') {
			puts_out(o, "\\f");
		} else if (cp < 0x20 || cp == 0x7f || cp == 0x2028 || cp == 0x2029) {
			/* U+2028/9 are valid JSON but end lines in JavaScript */
			snprintf(esc, sizeof(esc), "\\u%04" PRIx32, cp);
			puts_out(o, esc);
		} else {
			put(o, (const char *)p, len);
		}
		p += len;
		n -= len;
	}
	put(o, "\"", 1);
}

/* XML 1.0 character data or attribute value (attr: in double quotes).
 * Characters XML cannot hold become U+FFFD. */
static void xml_esc(struct out *o, const char *s, bool attr)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p);

	while (n > 0) {
		uint32_t cp;
		size_t len = utf8_seq(p, n, &cp);

		if (len == 0) {
			puts_out(o, REPLACEMENT);
			len = 1;
		} else if (cp == '&') {
			puts_out(o, "&amp;");
		} else if (cp == '<') {
			puts_out(o, "&lt;");
		} else if (cp == '>') {
			puts_out(o, "&gt;");
		} else if (cp == '"' && attr) {
			puts_out(o, "&quot;");
		} else if (cp == '\r' || (attr && (cp == '\t' || cp == '\n'))) {
			putf(o, "&#%" PRIu32 ";", cp);
		} else if ((cp < 0x20 && cp != '\t' && cp != '\n') || cp == 0xfffe ||
			   cp == 0xffff) {
			puts_out(o, REPLACEMENT);
		} else {
			put(o, (const char *)p, len);
		}
		p += len;
		n -= len;
	}
}

static void xml_attr(struct out *o, const char *name, const char *value)
{
	put(o, " ", 1);
	puts_out(o, name);
	puts_out(o, "=\"");
	xml_esc(o, value, true);
	put(o, "\"", 1);
}

/* Last microsecond of 9999, the largest year of four digits. */
#define TIME_MAX_US UINT64_C(253402300799999999)

void medfs_export_format_time(char out[MEDFS_EXPORT_TIME_LEN], uint64_t time_us)
{
	struct tm tm = { .tm_mday = 1 };
	time_t t;

	if (time_us > TIME_MAX_US)
		time_us = TIME_MAX_US;
	t = (time_t)(time_us / 1000000);
	gmtime_r(&t, &tm);
	/* the remainders tell the compiler each field's width */
	snprintf(out, MEDFS_EXPORT_TIME_LEN, "%04u-%02u-%02uT%02u:%02u:%02u.%06uZ",
		 (unsigned int)(tm.tm_year + 1900) % 10000u,
		 (unsigned int)(tm.tm_mon + 1) % 100u, (unsigned int)tm.tm_mday % 100u,
		 (unsigned int)tm.tm_hour % 100u, (unsigned int)tm.tm_min % 100u,
		 (unsigned int)tm.tm_sec % 100u, (unsigned int)(time_us % 1000000));
}

/* "EACCES", or "errno N" for a number glibc does not name. */
static void error_name(char *buf, size_t size, int32_t err)
{
	const char *name = err > 0 ? strerrorname_np(err) : NULL;

	if (name != NULL)
		snprintf(buf, size, "%s", name);
	else
		snprintf(buf, size, "errno %" PRId32, err);
}

static const char *op_name(uint32_t op, char *buf, size_t size)
{
	const char *name = medfs_journal_op_name(op);

	if (name != NULL)
		return name;
	snprintf(buf, size, "op-%" PRIu32, op);
	return buf;
}

/* ---- the event model ---- */

struct code {
	const char *code, *system, *display;
};

static const struct code ev_access = { "110103", "DCM", "DICOM Instances Accessed" };
static const struct code ev_alert = { "110113", "DCM", "Security Alert" };
static const struct code ev_app = { "110100", "DCM", "Application Activity" };
static const struct code ev_auth = { "110114", "DCM", "User Authentication" };
static const struct code ty_restricted = { "110132", "DCM",
					   "Use of Restricted Function" };
static const struct code ty_integrity = { "integrity-failure", "99MEDFS",
					  "Integrity Failure" };
static const struct code ty_emergency_start = { "110127", "DCM",
						"Emergency Override Started" };
static const struct code ty_emergency_stop = { "110138", "DCM",
					       "Emergency Override Stopped" };
static const struct code ty_security_config = { "110129", "DCM",
						"Security Configuration" };
static const struct code ty_audit_stopped = { "110133", "DCM",
					      "Audit Recording Stopped" };
static const struct code ty_login = { "110122", "DCM", "Login" };
static const struct code ty_app_start = { "110120", "DCM", "Application Start" };
static const struct code ty_app_stop = { "110121", "DCM", "Application Stop" };
static const struct code ty_other = { "other", "99MEDFS", "Other Operation" };
static const struct code role_user = { "110153", "DCM", "Source Role ID" };
static const struct code role_launcher = { "110151", "DCM", "Application Launcher" };
static const struct code role_app = { "110150", "DCM", "Application" };
static const struct code id_study = { "110180", "DCM", "Study Instance UID" };
static const struct code id_patient = { "2", "RFC-3881", "Patient Number" };
static const struct code id_uri = { "12", "RFC-3881", "URI" };

struct item {
	char *a, *b; /* instance: SOP class, SOP instance; file: path, NULL */
	uint64_t hash;
};

struct list {
	struct item *v;
	size_t n, cap;
};

/* One audit message: a single record, or a group of accesses. */
struct msg {
	struct msg *next;      /* output queue, in order of first record */
	struct msg *next_open; /* open groups */
	const struct code *event, *type;
	char action;	/* C R U D E */
	int outcome;	/* 0, 4, 8 */
	bool open;	/* a group still taking records */
	bool emergency; /* made under an emergency access grant */
	uint32_t op, uid, gid, rule_line;
	uint64_t ops; /* bit per operation (< 64) in a group */
	int32_t pid, result;
	int64_t offset;
	char *user, *program, *patient, *study, *detail;
	uint64_t first_us, last_us, seq, records, bytes, key;
	uint64_t count; /* events a summary record stands for */
	bool has_seq;
	struct list instances, files;
};

struct medfs_exporter {
	enum medfs_export_format format;
	struct out out;
	char *source_id, *site_id, *host;
	uint64_t window;
	int (*begin_message)(void *ctx, uint64_t index);
	struct msg *head, *tail; /* output queue */
	struct msg *open;	 /* open groups */
	uint64_t written;	 /* messages written */
	bool bundle_started;
};

static uint64_t hash_bytes(uint64_t h, const char *s)
{
	/* FNV-1a, with a separator so that ("ab","c") != ("a","bc") */
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++)
		h = (h ^ *p) * UINT64_C(0x100000001b3);
	return (h ^ (s ? 0x1f : 0x1e)) * UINT64_C(0x100000001b3);
}

static bool str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static char *dup_str(const char *s, bool *fail)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = strdup(s);
	if (d == NULL)
		*fail = true;
	return d;
}

/* Adds (a, b) to l unless there. Empty or NULL a is not added. */
static int list_add(struct list *l, const char *a, const char *b)
{
	uint64_t h = hash_bytes(hash_bytes(UINT64_C(0xcbf29ce484222325), a), b);
	bool fail = false;
	struct item *it;

	if (a == NULL || a[0] == '\0')
		return 0;
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].hash == h && str_eq(l->v[i].a, a) && str_eq(l->v[i].b, b))
			return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		struct item *v = realloc(l->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	it = &l->v[l->n];
	it->a = dup_str(a, &fail);
	it->b = dup_str(b, &fail);
	it->hash = h;
	if (fail) {
		free(it->a);
		free(it->b);
		return -ENOMEM;
	}
	l->n++;
	return 0;
}

static void list_free(struct list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].a);
		free(l->v[i].b);
	}
	free(l->v);
}

static void msg_free(struct msg *m)
{
	if (m == NULL)
		return;
	free(m->user);
	free(m->program);
	free(m->patient);
	free(m->study);
	free(m->detail);
	list_free(&m->instances);
	list_free(&m->files);
	free(m);
}

static const char *nonempty(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : NULL;
}

/* What message a record makes: the event, its type code and action, and
 * whether it joins a group of accesses. */
static void classify(const struct medfs_journal_record *r, struct msg *m, bool *group)
{
	*group = false;
	m->type = NULL;
	m->outcome = r->result == 0 ? 0 : 4;
	m->action = 'E';
	switch (r->op) {
	case MEDFS_OP_OPEN:
		m->action = (r->flags & O_ACCMODE) == O_RDONLY ? 'R' : 'U';
		*group = true;
		break;
	case MEDFS_OP_READ:
	case MEDFS_OP_LIST:
		m->action = 'R';
		*group = true;
		break;
	case MEDFS_OP_WRITE:
	case MEDFS_OP_RENAME:
	case MEDFS_OP_TRUNCATE:
	case MEDFS_OP_SETATTR:
	case MEDFS_OP_XATTR:
		m->action = 'U';
		*group = true;
		break;
	case MEDFS_OP_CREATE:
	case MEDFS_OP_MKDIR:
	case MEDFS_OP_SYMLINK:
		m->action = 'C';
		*group = true;
		break;
	case MEDFS_OP_DELETE:
		m->action = 'D';
		*group = true;
		break;
	case MEDFS_OP_DENIED:
	case MEDFS_OP_DENIED_SUMMARY:
		m->type = &ty_restricted;
		m->outcome = 4;
		break;
	case MEDFS_OP_JOURNAL_OUTAGE:
		m->type = &ty_audit_stopped;
		m->outcome = 8;
		break;
	case MEDFS_OP_UNLOCK_FAILED:
		m->type = &ty_login;
		m->outcome = 4;
		break;
	case MEDFS_OP_KEY_CHANGE:
	case MEDFS_OP_REPAIR:
		m->type = &ty_security_config;
		break;
	case MEDFS_OP_INTEGRITY:
		m->type = &ty_integrity;
		m->outcome = 8;
		break;
	case MEDFS_OP_EMERGENCY_START:
		m->type = &ty_emergency_start;
		break;
	case MEDFS_OP_EMERGENCY_END:
		m->type = &ty_emergency_stop;
		break;
	case MEDFS_OP_POLICY_LOAD:
	case MEDFS_OP_SET_AUDITOR:
		m->type = &ty_security_config;
		break;
	case MEDFS_OP_MOUNT:
		m->type = &ty_app_start;
		break;
	case MEDFS_OP_UNMOUNT:
		m->type = &ty_app_stop;
		break;
	default:
		m->type = &ty_other;
		break;
	}
	if (*group)
		m->event = &ev_access;
	else if (r->op == MEDFS_OP_UNLOCK_FAILED)
		m->event = &ev_auth;
	else if (r->op == MEDFS_OP_MOUNT || r->op == MEDFS_OP_UNMOUNT ||
		 m->type == &ty_other)
		m->event = &ev_app;
	else
		m->event = &ev_alert;
}

static uint64_t group_key(const struct msg *m)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	char num[64];

	snprintf(num, sizeof(num), "%c%d%d%" PRIu32, m->action, m->outcome, m->emergency,
		 m->uid);
	h = hash_bytes(h, num);
	h = hash_bytes(h, m->user);
	h = hash_bytes(h, m->program);
	h = hash_bytes(h, m->patient);
	return hash_bytes(h, m->study);
}

static bool same_group(const struct msg *a, const struct msg *b)
{
	return a->key == b->key && a->action == b->action && a->outcome == b->outcome &&
	       a->emergency == b->emergency && a->uid == b->uid &&
	       str_eq(a->user, b->user) && str_eq(a->program, b->program) &&
	       str_eq(a->patient, b->patient) && str_eq(a->study, b->study);
}

/* Adds r's instance, paths and counts to m. */
static int merge(struct msg *m, const struct medfs_journal_record *r)
{
	int ret = 0;

	if (r->op < 64)
		m->ops |= UINT64_C(1) << r->op;
	if (r->time_us > m->last_us)
		m->last_us = r->time_us;
	m->records++;
	m->bytes += r->bytes;
	if (m->result == 0 && r->result != 0)
		m->result = r->result;
	if (nonempty(r->sop_uid))
		ret = list_add(&m->instances, r->sop_uid, r->sop_class_uid);
	if (ret == 0)
		ret = list_add(&m->files, r->path, NULL);
	if (ret == 0)
		ret = list_add(&m->files, r->path2, NULL);
	return ret;
}

static struct msg *msg_new(const struct medfs_journal_record *r,
			   const struct medfs_journal_pos *pos, bool *group)
{
	struct msg *m = calloc(1, sizeof(*m));
	bool fail = false;

	if (m == NULL)
		return NULL;
	m->emergency = r->emergency != 0;
	classify(r, m, group);
	m->op = r->op;
	m->uid = r->uid;
	m->gid = r->gid;
	m->pid = r->pid;
	m->rule_line = r->rule_line;
	m->offset = r->offset;
	m->count = r->count;
	m->first_us = m->last_us = r->time_us;
	if (pos != NULL) {
		m->seq = pos->seq;
		m->has_seq = true;
	}
	m->user = dup_str(nonempty(r->user), &fail);
	m->program = dup_str(nonempty(r->program), &fail);
	m->patient = dup_str(nonempty(r->patient_id), &fail);
	m->study = dup_str(nonempty(r->study_uid), &fail);
	m->detail = dup_str(nonempty(r->detail), &fail);
	m->key = group_key(m);
	if (fail || merge(m, r) < 0) {
		msg_free(m);
		return NULL;
	}
	return m;
}

/* ---- DICOM PS3.15 A.5 ---- */

static void x_coded(struct out *o, const char *indent, const char *elem,
		    const struct code *c)
{
	puts_out(o, indent);
	put(o, "<", 1);
	puts_out(o, elem);
	xml_attr(o, "csd-code", c->code);
	xml_attr(o, "codeSystemName", c->system);
	xml_attr(o, "originalText", c->display);
	puts_out(o, "/>\n");
}

/* The text of EventOutcomeDescription and FHIR outcomeDesc. */
static void describe(const struct msg *m, char *buf, size_t size)
{
	char t[MEDFS_EXPORT_TIME_LEN], err[48], name[32];
	size_t n = 0;

#define ADD(...)                                                                         \
	do {                                                                             \
		if (n < size)                                                            \
			n += (size_t)snprintf(buf + n, size - n, __VA_ARGS__);           \
	} while (0)
	buf[0] = '\0';
	if (m->event == &ev_access) {
		const char *sep = ": ";

		ADD("%" PRIu64 " record%s", m->records, m->records == 1 ? "" : "s");
		for (uint32_t op = 0; op < 64; op++) {
			if (m->ops & (UINT64_C(1) << op)) {
				ADD("%s%s", sep, op_name(op, name, sizeof(name)));
				sep = ", ";
			}
		}
		ADD("; %" PRIu64 " bytes", m->bytes);
		if (m->last_us != m->first_us) {
			medfs_export_format_time(t, m->last_us);
			ADD("; until %s", t);
		}
	} else if (m->op == MEDFS_OP_DENIED || m->op == MEDFS_OP_DENIED_SUMMARY) {
		ADD("denied");
		if (m->count != 0)
			ADD(" %" PRIu64 " more times", m->count);
		if (m->detail != NULL)
			ADD(": %s", m->detail);
		if (m->rule_line != 0)
			ADD(" (policy rule at line %" PRIu32 ")", m->rule_line);
	} else if (m->op == MEDFS_OP_INTEGRITY) {
		ADD("integrity failure");
		if (m->offset >= 0)
			ADD(" at offset %" PRId64, m->offset);
		if (m->detail != NULL)
			ADD(": %s", m->detail);
	} else {
		ADD("%s", op_name(m->op, name, sizeof(name)));
		if (m->detail != NULL)
			ADD(": %s", m->detail);
	}
	if (m->result != 0) {
		error_name(err, sizeof(err), m->result);
		ADD("; error %s", err);
	}
	if (m->count != 0 && m->op != MEDFS_OP_DENIED && m->op != MEDFS_OP_DENIED_SUMMARY)
		ADD("; count %" PRIu64, m->count);
	if (m->emergency)
		ADD("; under an emergency access grant");
#undef ADD
}

/* "uid=N" for users without a name. */
static const char *user_id(const struct msg *m, char *buf, size_t size)
{
	if (m->user != NULL)
		return m->user;
	snprintf(buf, size, "uid=%" PRIu32, m->uid);
	return buf;
}

static const char *application_id(const struct msg *m)
{
	if (m->program != NULL)
		return m->program;
	return m->event == &ev_app ? "medfs" : NULL;
}

static const char *lifecycle(char action)
{
	switch (action) {
	case 'C':
		return "1"; /* origination / creation */
	case 'U':
		return "3"; /* amendment */
	case 'D':
		return "14"; /* logical deletion */
	default:
		return "6"; /* access / use */
	}
}

/* Whether the files touched are listed: not for reads of a study, whose
 * instances say it better. */
static bool lists_files(const struct msg *m)
{
	return !(m->event == &ev_access && m->action == 'R' && m->study != NULL);
}

static void x_object(struct out *o, const char *id, const char *type, const char *role,
		     const char *life, const struct code *id_type)
{
	puts_out(o, "  <ParticipantObjectIdentification");
	xml_attr(o, "ParticipantObjectID", id);
	xml_attr(o, "ParticipantObjectTypeCode", type);
	xml_attr(o, "ParticipantObjectTypeCodeRole", role);
	if (life != NULL)
		xml_attr(o, "ParticipantObjectDataLifeCycle", life);
	puts_out(o, ">\n");
	x_coded(o, "    ", "ParticipantObjectIDTypeCode", id_type);
	puts_out(o, "    <ParticipantObjectName>");
	xml_esc(o, id, false);
	puts_out(o, "</ParticipantObjectName>\n");
}

/* The instances of a study, by SOP class in order of first appearance. */
static void x_instances(struct out *o, const struct list *l)
{
	if (l->n == 0)
		return;
	puts_out(o, "    <ParticipantObjectDescription>\n");
	for (size_t i = 0; i < l->n; i++) {
		const char *cls = l->v[i].b;
		size_t count = 0;
		bool seen = false;

		for (size_t j = 0; j < i && !seen; j++)
			seen = str_eq(l->v[j].b, cls);
		if (seen)
			continue;
		for (size_t j = i; j < l->n; j++)
			count += str_eq(l->v[j].b, cls);
		puts_out(o, "      <SOPClass");
		if (cls != NULL && cls[0] != '\0')
			xml_attr(o, "UID", cls);
		putf(o, " NumberOfInstances=\"%zu\">\n", count);
		for (size_t j = i; j < l->n; j++) {
			if (!str_eq(l->v[j].b, cls))
				continue;
			puts_out(o, "        <Instance");
			xml_attr(o, "UID", l->v[j].a);
			puts_out(o, "/>\n");
		}
		puts_out(o, "      </SOPClass>\n");
	}
	puts_out(o, "    </ParticipantObjectDescription>\n");
}

static void write_dicom(struct medfs_exporter *ex, const struct msg *m)
{
	struct out *o = &ex->out;
	char t[MEDFS_EXPORT_TIME_LEN], desc[1024], alt[64], uidbuf[32];
	const char *app = application_id(m);
	char action[2] = { m->action, '\0' };
	char outcome[4];

	medfs_export_format_time(t, m->first_us);
	snprintf(outcome, sizeof(outcome), "%d", m->outcome);
	describe(m, desc, sizeof(desc));
	puts_out(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<AuditMessage>\n"
		    "  <EventIdentification");
	xml_attr(o, "EventActionCode", action);
	xml_attr(o, "EventDateTime", t);
	xml_attr(o, "EventOutcomeIndicator", outcome);
	puts_out(o, ">\n");
	x_coded(o, "    ", "EventID", m->event);
	if (m->type != NULL)
		x_coded(o, "    ", "EventTypeCode", m->type);
	puts_out(o, "    <EventOutcomeDescription>");
	xml_esc(o, desc, false);
	puts_out(o, "</EventOutcomeDescription>\n  </EventIdentification>\n");

	/* The user, who asked, and the program that did it. */
	snprintf(alt, sizeof(alt), "uid=%" PRIu32 " gid=%" PRIu32, m->uid, m->gid);
	puts_out(o, "  <ActiveParticipant");
	xml_attr(o, "UserID", user_id(m, uidbuf, sizeof(uidbuf)));
	xml_attr(o, "AlternativeUserID", alt);
	if (m->user != NULL)
		xml_attr(o, "UserName", m->user);
	xml_attr(o, "UserIsRequestor", "true");
	if (ex->host != NULL) {
		xml_attr(o, "NetworkAccessPointID", ex->host);
		xml_attr(o, "NetworkAccessPointTypeCode", "1");
	}
	puts_out(o, ">\n");
	x_coded(o, "    ", "RoleIDCode",
		m->event == &ev_app ? &role_launcher : &role_user);
	puts_out(o, "  </ActiveParticipant>\n");
	if (app != NULL) {
		snprintf(alt, sizeof(alt), "pid=%" PRId32, m->pid);
		puts_out(o, "  <ActiveParticipant");
		xml_attr(o, "UserID", app);
		xml_attr(o, "AlternativeUserID", alt);
		xml_attr(o, "UserIsRequestor", "false");
		puts_out(o, ">\n");
		x_coded(o, "    ", "RoleIDCode", &role_app);
		puts_out(o, "  </ActiveParticipant>\n");
	}

	puts_out(o, "  <AuditSourceIdentification");
	if (ex->site_id != NULL)
		xml_attr(o, "AuditEnterpriseSiteID", ex->site_id);
	xml_attr(o, "AuditSourceID", ex->source_id);
	puts_out(o, ">\n    <AuditSourceTypeCode csd-code=\"8\"/>\n"
		    "  </AuditSourceIdentification>\n");

	if (m->study != NULL) {
		x_object(o, m->study, "2", "3", lifecycle(m->action), &id_study);
		x_instances(o, &m->instances);
		puts_out(o, "  </ParticipantObjectIdentification>\n");
	}
	if (m->patient != NULL) {
		x_object(o, m->patient, "1", "1", NULL, &id_patient);
		puts_out(o, "  </ParticipantObjectIdentification>\n");
	}
	if (lists_files(m)) {
		for (size_t i = 0; i < m->files.n; i++) {
			x_object(o, m->files.v[i].a, "2", "4", lifecycle(m->action),
				 &id_uri);
			puts_out(o, "  </ParticipantObjectIdentification>\n");
		}
	}
	puts_out(o, "</AuditMessage>\n");
}

/* ---- FHIR R4 AuditEvent (IHE BALP) ---- */

static void f_coding(struct out *o, const char *system, const char *code,
		     const char *display)
{
	puts_out(o, "{\"system\":");
	json_str(o, system);
	puts_out(o, ",\"code\":");
	json_str(o, code);
	puts_out(o, ",\"display\":");
	json_str(o, display);
	put(o, "}", 1);
}

static void f_code(struct out *o, const struct code *c)
{
	f_coding(o, strcmp(c->system, "DCM") == 0 ? DCM_SYSTEM : LOCAL_SYSTEM, c->code,
		 c->display);
}

static const char *fhir_interaction(char action)
{
	switch (action) {
	case 'C':
		return "create";
	case 'U':
		return "update";
	case 'D':
		return "delete";
	default:
		return "read";
	}
}

static void f_entity(struct out *o, bool *first, const char *system, const char *value,
		     const char *type, const char *type_display, const char *role,
		     const char *role_display, const char *life)
{
	static const char *const life_names[] = {
		[1] = "Origination / Creation",
		[3] = "Amendment",
		[6] = "Access / Use",
		[14] = "Logical deletion",
	};

	puts_out(o, *first ? "{" : ",{");
	*first = false;
	puts_out(o, "\"what\":{\"identifier\":{");
	if (system != NULL) {
		puts_out(o, "\"system\":");
		json_str(o, system);
		put(o, ",", 1);
	}
	puts_out(o, "\"value\":");
	json_str(o, value);
	puts_out(o, "}},\"type\":");
	f_coding(o, "http://terminology.hl7.org/CodeSystem/audit-entity-type", type,
		 type_display);
	puts_out(o, ",\"role\":");
	f_coding(o, "http://terminology.hl7.org/CodeSystem/object-role", role,
		 role_display);
	if (life != NULL) {
		puts_out(o, ",\"lifecycle\":");
		f_coding(o, "http://terminology.hl7.org/CodeSystem/dicom-audit-lifecycle",
			 life, life_names[atoi(life)]);
	}
}

static void write_fhir(struct medfs_exporter *ex, const struct msg *m)
{
	struct out *o = &ex->out;
	char t[MEDFS_EXPORT_TIME_LEN], desc[1024], alt[64], uidbuf[32], outcome[4];
	const char *app = application_id(m);
	char action[2] = { m->action, '\0' };
	bool first = true;

	if (ex->bundle_started)
		puts_out(o, ",\n");
	puts_out(o, "{\"resource\":{\"resourceType\":\"AuditEvent\"");
	if (m->has_seq)
		putf(o, ",\"id\":\"medfs-%" PRIu64 "\"", m->seq);
	else
		putf(o, ",\"id\":\"medfs-m%" PRIu64 "\"", ex->written);
	ex->bundle_started = true;
	puts_out(o, ",\"type\":");
	f_code(o, m->event);
	puts_out(o, ",\"subtype\":[");
	if (m->event == &ev_access) {
		const char *verb = fhir_interaction(m->action);

		f_coding(o, "http://hl7.org/fhir/restful-interaction", verb, verb);
	} else {
		f_code(o, m->type);
	}
	puts_out(o, "],\"action\":");
	json_str(o, action);
	medfs_export_format_time(t, m->first_us);
	puts_out(o, ",\"period\":{\"start\":");
	json_str(o, t);
	medfs_export_format_time(t, m->last_us);
	puts_out(o, ",\"end\":");
	json_str(o, t);
	puts_out(o, "},\"recorded\":");
	json_str(o, t);
	snprintf(outcome, sizeof(outcome), "%d", m->outcome);
	puts_out(o, ",\"outcome\":");
	json_str(o, outcome);
	describe(m, desc, sizeof(desc));
	puts_out(o, ",\"outcomeDesc\":");
	json_str(o, desc);
	if (m->emergency || m->type == &ty_emergency_start ||
	    m->type == &ty_emergency_stop) {
		puts_out(o, ",\"purposeOfEvent\":[{\"coding\":[");
		f_coding(o, "http://terminology.hl7.org/CodeSystem/v3-ActReason",
			 "ETREAT", "Emergency Treatment");
		puts_out(o, "]}]");
	}

	/* agents: the user (requestor) and the program; no network */
	puts_out(o, ",\"agent\":[{\"type\":{\"coding\":[");
	f_code(o, m->event == &ev_app ? &role_launcher : &role_user);
	puts_out(o,
		 "]},\"who\":{\"identifier\":{\"system\":\"urn:medfs:user\",\"value\":");
	json_str(o, user_id(m, uidbuf, sizeof(uidbuf)));
	puts_out(o, "}},\"altId\":");
	snprintf(alt, sizeof(alt), "uid=%" PRIu32 " gid=%" PRIu32, m->uid, m->gid);
	json_str(o, alt);
	if (m->user != NULL) {
		puts_out(o, ",\"name\":");
		json_str(o, m->user);
	}
	puts_out(o, ",\"requestor\":true}");
	if (app != NULL) {
		puts_out(o, ",{\"type\":{\"coding\":[");
		f_code(o, &role_app);
		puts_out(o, "]},\"who\":{\"display\":");
		json_str(o, app);
		snprintf(alt, sizeof(alt), "pid=%" PRId32, m->pid);
		puts_out(o, "},\"altId\":");
		json_str(o, alt);
		puts_out(o, ",\"requestor\":false}");
	}
	puts_out(o, "]");

	puts_out(o, ",\"source\":{");
	if (ex->site_id != NULL) {
		puts_out(o, "\"site\":");
		json_str(o, ex->site_id);
		put(o, ",", 1);
	}
	puts_out(o, "\"observer\":{\"display\":");
	json_str(o, ex->source_id);
	puts_out(o, "},\"type\":[");
	f_coding(o, "http://terminology.hl7.org/CodeSystem/security-source-type", "4",
		 "Application Server");
	puts_out(o, "]}");

	if (m->patient != NULL || m->study != NULL ||
	    (lists_files(m) && m->files.n > 0)) {
		puts_out(o, ",\"entity\":[");
		if (m->patient != NULL) {
			f_entity(o, &first, NULL, m->patient, "1", "Person", "1",
				 "Patient", NULL);
			put(o, "}", 1);
		}
		if (m->study != NULL) {
			char *oid = malloc(strlen(m->study) + 9);

			if (oid == NULL) {
				o->err = o->err ? o->err : -ENOMEM;
				return;
			}
			strcpy(oid, "urn:oid:");
			strcat(oid, m->study);
			f_entity(o, &first, "urn:dicom:uid", oid, "2", "System Object",
				 "3", "Report", lifecycle(m->action));
			free(oid);
			if (m->instances.n > 0) {
				puts_out(o, ",\"detail\":[");
				for (size_t i = 0; i < m->instances.n; i++) {
					puts_out(o, i ? ",{" : "{");
					puts_out(o, "\"type\":\"SOPInstanceUID\","
						    "\"valueString\":");
					json_str(o, m->instances.v[i].a);
					put(o, "}", 1);
				}
				put(o, "]", 1);
			}
			put(o, "}", 1);
		}
		if (lists_files(m)) {
			for (size_t i = 0; i < m->files.n; i++) {
				f_entity(o, &first, "urn:medfs:path", m->files.v[i].a,
					 "2", "System Object", "4", "Domain Resource",
					 lifecycle(m->action));
				puts_out(o, ",\"name\":");
				json_str(o, m->files.v[i].a);
				put(o, "}", 1);
			}
		}
		put(o, "]", 1);
	}
	puts_out(o, "}}");
}

static void write_msg(struct medfs_exporter *ex, const struct msg *m)
{
	if (ex->format == MEDFS_EXPORT_DICOM) {
		if (ex->begin_message != NULL && ex->out.err == 0) {
			int ret;

			out_flush(&ex->out);
			ret = ex->begin_message(ex->out.ctx, ex->written);
			if (ret < 0 && ex->out.err == 0)
				ex->out.err = ret;
		}
		write_dicom(ex, m);
	} else {
		if (!ex->bundle_started)
			puts_out(&ex->out, BUNDLE_START ",\"entry\":[\n");
		write_fhir(ex, m);
	}
	ex->written++;
	out_flush(&ex->out);
}

/* ---- JSON lines ---- */

static void json_u64(struct out *o, const char *key, uint64_t v)
{
	putf(o, ",\"%s\":%" PRIu64, key, v);
}

static void json_field(struct out *o, const char *key, const char *v)
{
	putf(o, ",\"%s\":", key);
	json_str(o, v);
}

static void write_jsonl(struct out *o, const struct medfs_journal_record *r,
			const struct medfs_journal_pos *pos)
{
	char t[MEDFS_EXPORT_TIME_LEN], err[48];

	if (pos != NULL)
		putf(o, "{\"segment\":%" PRIu64 ",\"seq\":%" PRIu64, pos->segment,
		     pos->seq);
	else
		puts_out(o, "{\"segment\":null,\"seq\":null");
	medfs_export_format_time(t, r->time_us);
	json_field(o, "time", t);
	json_u64(o, "time_us", r->time_us);
	json_field(o, "op", medfs_journal_op_name(r->op));
	json_u64(o, "op_code", r->op);
	json_u64(o, "uid", r->uid);
	json_field(o, "user", r->user);
	json_u64(o, "gid", r->gid);
	putf(o, ",\"pid\":%" PRId32, r->pid);
	json_field(o, "program", r->program);
	json_field(o, "path", r->path);
	json_field(o, "path2", r->path2);
	putf(o, ",\"result\":%" PRId32, r->result);
	if (r->result != 0) {
		error_name(err, sizeof(err), r->result);
		json_field(o, "error", err);
	} else {
		json_field(o, "error", NULL);
	}
	json_u64(o, "flags", r->flags);
	json_u64(o, "rule_line", r->rule_line);
	putf(o, ",\"emergency\":%s", r->emergency ? "true" : "false");
	json_u64(o, "bytes", r->bytes);
	putf(o, ",\"offset\":%" PRId64, r->offset);
	puts_out(o, ",\"ranges\":[");
	for (size_t i = 0; r->ranges != NULL && i < r->nranges; i++)
		putf(o, "%s{\"offset\":%" PRIu64 ",\"length\":%" PRIu64 "}", i ? "," : "",
		     r->ranges[i].offset, r->ranges[i].length);
	put(o, "]", 1);
	json_field(o, "patient_id", r->patient_id);
	json_field(o, "study_uid", r->study_uid);
	json_field(o, "sop_uid", r->sop_uid);
	json_field(o, "sop_class_uid", r->sop_class_uid);
	json_field(o, "modality", r->modality);
	json_field(o, "detail", r->detail);
	json_field(o, "prior_patient_id", r->prior_patient_id);
	json_field(o, "prior_study_uid", r->prior_study_uid);
	puts_out(o, ",\"former_patient_ids\":[");
	for (const char *p = r->former_patient_ids, *nl; p != NULL && *p; p = nl + 1) {
		char one[MEDFS_JOURNAL_STRING_MAX + 1];
		size_t n;

		nl = strchr(p, '\n');
		if (nl == NULL)
			nl = p + strlen(p) - 1; /* a last one without "\n" */
		n = (size_t)(nl - p) + (*nl != '\n');
		memcpy(one, p, n);
		one[n] = '\0';
		if (p != r->former_patient_ids)
			put(o, ",", 1);
		json_str(o, one);
	}
	put(o, "]", 1);
	json_u64(o, "count", r->count);
	puts_out(o, "}\n");
}

/* ---- the exporter ---- */

/* Writes and frees the complete messages at the head of the queue. */
static void release(struct medfs_exporter *ex)
{
	while (ex->head != NULL && !ex->head->open) {
		struct msg *m = ex->head;

		ex->head = m->next;
		if (ex->head == NULL)
			ex->tail = NULL;
		write_msg(ex, m);
		msg_free(m);
	}
}

/* Closes the groups whose window has passed at time now (or all). */
static void close_groups(struct medfs_exporter *ex, uint64_t now, bool all)
{
	struct msg **pp = &ex->open;

	while (*pp != NULL) {
		struct msg *m = *pp;

		if (all || (ex->window != MEDFS_EXPORT_GROUP_ALL && now > m->first_us &&
			    now - m->first_us > ex->window)) {
			m->open = false;
			*pp = m->next_open;
		} else {
			pp = &m->next_open;
		}
	}
}

static void enqueue(struct medfs_exporter *ex, struct msg *m)
{
	if (ex->tail != NULL)
		ex->tail->next = m;
	else
		ex->head = m;
	ex->tail = m;
}

int medfs_export_record(struct medfs_exporter *ex, const struct medfs_journal_record *r,
			const struct medfs_journal_pos *pos)
{
	struct msg *m, *g;
	bool group;

	if (ex->out.err != 0)
		return ex->out.err;
	if (ex->format == MEDFS_EXPORT_JSONL) {
		write_jsonl(&ex->out, r, pos);
		out_flush(&ex->out);
		return ex->out.err;
	}
	close_groups(ex, r->time_us, false);
	if (r->op == MEDFS_OP_CHECKPOINT) {
		release(ex);
		return ex->out.err;
	}
	m = msg_new(r, pos, &group);
	if (m == NULL)
		return -ENOMEM;
	if (group) {
		for (g = ex->open; g != NULL; g = g->next_open) {
			if (same_group(g, m)) {
				int ret = merge(g, r);

				msg_free(m);
				return ret < 0 ? ret : ex->out.err;
			}
		}
		m->open = true;
		m->next_open = ex->open;
		ex->open = m;
	}
	enqueue(ex, m);
	release(ex);
	return ex->out.err;
}

int medfs_export_open(struct medfs_exporter **exp, enum medfs_export_format format,
		      const struct medfs_export_options *opt, medfs_export_write_fn write,
		      void *ctx)
{
	static const struct medfs_export_options defaults = { .source_id = NULL };
	struct medfs_exporter *ex;
	bool fail = false;

	*exp = NULL;
	if (format != MEDFS_EXPORT_JSONL && format != MEDFS_EXPORT_DICOM &&
	    format != MEDFS_EXPORT_FHIR)
		return -EINVAL;
	if (opt == NULL)
		opt = &defaults;
	ex = calloc(1, sizeof(*ex));
	if (ex == NULL)
		return -ENOMEM;
	ex->format = format;
	ex->out.fn = write;
	ex->out.ctx = ctx;
	ex->source_id =
		dup_str(nonempty(opt->source_id) ? opt->source_id : "medfs", &fail);
	ex->site_id = dup_str(nonempty(opt->site_id), &fail);
	ex->host = dup_str(nonempty(opt->host), &fail);
	ex->window = opt->group_window_us ? opt->group_window_us
					  : MEDFS_EXPORT_GROUP_WINDOW_DEFAULT;
	ex->begin_message = opt->begin_message;
	if (fail) {
		medfs_export_close(ex);
		return -ENOMEM;
	}
	*exp = ex;
	return 0;
}

static int write_file(void *ctx, const char *buf, size_t len)
{
	FILE *f = ctx;

	if (fwrite(buf, 1, len, f) != len)
		return -EIO;
	return 0;
}

int medfs_export_open_file(struct medfs_exporter **ex, enum medfs_export_format format,
			   const struct medfs_export_options *opt, FILE *f)
{
	return medfs_export_open(ex, format, opt, write_file, f);
}

int medfs_export_close(struct medfs_exporter *ex)
{
	int ret;

	if (ex == NULL)
		return 0;
	close_groups(ex, 0, true);
	release(ex);
	if (ex->format == MEDFS_EXPORT_FHIR) {
		/* FHIR JSON has no empty arrays: no entry at all then */
		if (ex->bundle_started)
			puts_out(&ex->out, "\n]}\n");
		else
			puts_out(&ex->out, BUNDLE_START "}\n");
	}
	out_flush(&ex->out);
	ret = ex->out.err;
	while (ex->head != NULL) {
		struct msg *m = ex->head;

		ex->head = m->next;
		msg_free(m);
	}
	free(ex->source_id);
	free(ex->site_id);
	free(ex->host);
	free(ex);
	return ret;
}

int medfs_export_format_parse(const char *name, enum medfs_export_format *format)
{
	if (strcmp(name, "jsonl") == 0)
		*format = MEDFS_EXPORT_JSONL;
	else if (strcmp(name, "dicom") == 0)
		*format = MEDFS_EXPORT_DICOM;
	else if (strcmp(name, "fhir") == 0)
		*format = MEDFS_EXPORT_FHIR;
	else
		return -EINVAL;
	return 0;
}
