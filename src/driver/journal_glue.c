/* medfs driver: the access journal of a mount (see journal_glue.h).
 *
 * Who: uid, gid and pid come with the request, the program from access.c's
 * identity cache, the user name from getpwuid_r through a small cache of
 * its own. Open handles are on a list that the ticker walks four times a
 * second to write the ranges pending for 750 ms or more, so that a range
 * reaches the journal at most a second after it was read; every fourth
 * wake it ticks the writer (checkpoints, rotation, sync).
 *
 * Locks: files_lock (the list) before a handle's lock; a handle's lock is
 * held while its ranges are appended. Nothing here calls back into
 * access.c while holding a lock of its own. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <fuse.h>
#include <sodium.h>

#include "access.h"
#include "journal_glue.h"
#include "medfs/grant.h"
#include "medfs/journal.h"
#include "medfs/log.h"
#include "medfs/parallel.h"
#include "medfs/ranges.h"
#include "medfs/vault.h"

#define WAKE_NS 250000000L	    /* the ticker's period */
#define TICKS_PER_WRITER_TICK 4	    /* medfs_journal_tick every second */
#define FLUSH_AGE_US 750000	    /* + one period: at most a second */
#define DICOM_SCAN_MAX (4 << 20)    /* a header is read in its first 4 MiB */
#define DICOM_WINDOW (4 * 1024)	    /* the smallest read of a header */
#define META_MAX MEDFS_DICOM_META_MAX
#define USER_SLOTS 64		    /* cached user names */
#define USER_LEN 256		    /* longest user name kept */
#define USER_TTL_NS 60000000000ULL  /* a minute */
/* Denials (doc/JOURNAL.md, 14.2): one record per (uid, program, operation, path)
 * per interval, the repeats counted; at most DENY_BUDGET records per uid
 * per interval, the rest counted; summaries when the interval ends. */
#define DENY_INTERVAL_US 60000000ULL
#define DENY_SLOTS 512 /* (uid, program, operation, path) coalesced */
#define DENY_PROBE 8
#define DENY_BUDGET 64
#define BUDGET_SLOTS 64
#define DENY_WHAT 96
/* Denial records stop when less than this is free on the journal's file
 * system (at most a quarter of its size): the rest is for the others. */
#define RESERVE_BYTES (16ULL << 20)

struct user_slot {
	int valid;
	uid_t uid;
	uint64_t expires; /* CLOCK_MONOTONIC ns */
	char name[USER_LEN];
};

/* The denials of one (uid, operation, path) in the current interval. */
struct deny_slot {
	int used;
	uint64_t hash;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	unsigned rule;
	char *path, *program;
	char what[DENY_WHAT];	    /* "op=OP right=RIGHT" */
	uint64_t first_us, last_us; /* of the repeats */
	uint64_t since_us;	    /* the interval's start: the record */
	uint64_t repeats;	    /* denials since the record, not written */
};

/* The denial records one uid made in the current interval. */
struct deny_budget {
	int used;
	uid_t uid;
	gid_t gid;
	uint64_t since_us;
	unsigned records;
	uint64_t over, first_us, last_us; /* denials not written, counted */
};

struct jnl {
	struct medfs_journal_writer *w;
	struct medfs_vault *vault;
	char *dir;
	char *spool_dir; /* the tools' records, ingested every second */
	int sync, every_read, failopen, foreground;
	int failed;  /* atomic: an append failed (fail closed) */
	int mounted; /* MOUNT written: UNMOUNT is due */
	int dirfd;   /* the journal directory, for its free space */

	/* The outage in progress (failed): since when, why, and how many
	 * requests were refused (or served unrecorded) meanwhile. */
	uint64_t outage_us;
	int outage_err;
	uint64_t refused; /* atomic */

	int low_space; /* atomic: under the reserve, denials only counted */
	uint64_t reserve;
	pthread_mutex_t deny_lock;
	struct deny_slot deny[DENY_SLOTS];
	struct deny_budget budget[BUDGET_SLOTS];

	pthread_mutex_t files_lock;
	struct jnl_file *files; /* every open handle */

	pthread_mutex_t user_lock;
	struct user_slot users[USER_SLOTS];

	pthread_mutex_t tick_lock; /* guards quit */
	pthread_cond_t tick_cond;
	int quit, ticking;
	pthread_t ticker;

	uid_t self_uid; /* the driver itself, for its own records */
	gid_t self_gid;
	pid_t self_pid;
	char *self_program;
};

/* Pending byte ranges of one kind (read or write) of one handle. */
struct ranges {
	struct medfs_ranges set; /* merged (medfs/ranges.h) */
	uint64_t since_us;	 /* time of the first pending one */
};

struct jnl_file {
	struct jnl_file *prev, *next; /* on j->files */
	struct jnl *j;
	struct medfs_file *f;
	uid_t uid; /* the opener */
	gid_t gid;
	pid_t pid;
	char *user, *program, *path;
	uint32_t flags;
	unsigned rule;
	int emergency;

	pthread_mutex_t lock; /* what follows */
	int has_ids;	      /* meta.ids holds an identifier */
	struct medfs_dicom_meta meta; /* as stored, or as this handle stored it */
	struct ranges rd, wr;
	int wrote;	       /* written since the last scan: */
	uint64_t wr_lo, wr_hi; /* from this offset up to this one */

	pthread_mutex_t scan_lock;     /* one scan at a time: */
	struct medfs_dicom_scan *scan; /* the header read so far, or NULL */
	int scan_ret;		       /* its last answer */
};

/* Who a record is about. */
struct who {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	const char *program;
	char user[USER_LEN];
};

static __thread char cur_path[PATH_MAX];

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t now_us(void)
{
	return clock_ns(CLOCK_REALTIME) / 1000;
}

static void hex(char *out, const uint8_t *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

/* ---- who ---- */

static void lookup_user(uid_t uid, char *out, size_t size)
{
	size_t len = 1024;
	char *buf = NULL;

	out[0] = '\0';
	while (len <= (1U << 20)) {
		struct passwd pw, *res = NULL;
		char *b = realloc(buf, len);
		int err;

		if (!b)
			break;
		buf = b;
		err = getpwuid_r(uid, &pw, buf, len, &res);
		if (err == 0 && res)
			snprintf(out, size, "%s", pw.pw_name);
		if (err != ERANGE)
			break;
		len *= 2;
	}
	free(buf);
}

/* The user name of uid, or "" when it has none; cached for a minute. */
static void user_name(struct jnl *j, uid_t uid, char *out, size_t size)
{
	struct user_slot *s = &j->users[uid % USER_SLOTS];
	uint64_t now = clock_ns(CLOCK_MONOTONIC);
	char name[USER_LEN];

	pthread_mutex_lock(&j->user_lock);
	if (s->valid && s->uid == uid && now < s->expires) {
		snprintf(out, size, "%s", s->name);
		pthread_mutex_unlock(&j->user_lock);
		return;
	}
	pthread_mutex_unlock(&j->user_lock);
	lookup_user(uid, name, sizeof(name));
	pthread_mutex_lock(&j->user_lock);
	s->valid = 1;
	s->uid = uid;
	s->expires = now + USER_TTL_NS;
	memcpy(s->name, name, sizeof(s->name));
	pthread_mutex_unlock(&j->user_lock);
	snprintf(out, size, "%s", name);
}

/* The caller of a request, or the driver itself when c is NULL. */
static void who_of(struct jnl *j, const struct caller *c, struct who *w)
{
	if (c) {
		w->uid = c->uid;
		w->gid = c->gid;
		w->pid = c->pid;
		w->program = caller_program(c);
	} else {
		w->uid = j->self_uid;
		w->gid = j->self_gid;
		w->pid = j->self_pid;
		w->program = j->self_program;
	}
	user_name(j, w->uid, w->user, sizeof(w->user));
}

static const char *opt_str(const char *s)
{
	return s && s[0] ? s : NULL;
}

/* The identifiers of a file, and the patients it had before. */
static void rec_ids(struct medfs_journal_record *r, const struct medfs_dicom_meta *m)
{
	if (!m)
		return;
	r->patient_id = opt_str(m->ids.patient_id);
	r->study_uid = opt_str(m->ids.study_uid);
	r->sop_uid = opt_str(m->ids.sop_uid);
	r->sop_class_uid = opt_str(m->ids.sop_class_uid);
	r->modality = opt_str(m->ids.modality);
	r->former_patient_ids = opt_str(m->former);
}

static void rec_init(struct medfs_journal_record *r, uint32_t op)
{
	memset(r, 0, sizeof(*r));
	r->op = op;
	r->offset = -1;
}

static void rec_event(struct medfs_journal_record *r, const struct jnl_event *e,
		      const struct who *w)
{
	rec_init(r, e->op);
	r->uid = (uint32_t)w->uid;
	r->gid = (uint32_t)w->gid;
	r->pid = (int32_t)w->pid;
	r->user = opt_str(w->user);
	r->program = w->program;
	r->path = e->path;
	r->path2 = e->path2;
	r->result = e->result < 0 ? -e->result : e->result;
	r->flags = e->flags;
	r->rule_line = e->rule;
	r->emergency = e->emergency != 0;
	r->bytes = e->bytes;
	r->detail = e->detail;
	rec_ids(r, e->ids);
}

/* ---- appending, and failing closed ---- */

static void fail_closed(struct jnl *j, int err)
{
	if (__atomic_exchange_n(&j->failed, 1, __ATOMIC_ACQ_REL))
		return;
	j->outage_us = now_us();
	j->outage_err = err;
	if (j->failopen)
		audit_log(j->foreground, LOG_CRIT,
			  "journal %s cannot be written: %s; journal_failopen: serving "
			  "without a journal",
			  j->dir, strerror(-err));
	else
		audit_log(j->foreground, LOG_CRIT,
			  "journal %s cannot be written: %s; every access through the "
			  "mount now fails with EIO",
			  j->dir, strerror(-err));
}

/* A request refused (or, with journal_failopen, served unrecorded)
 * because the journal cannot be written. */
static int refuse(struct jnl *j)
{
	__atomic_add_fetch(&j->refused, 1, __ATOMIC_RELAXED);
	return j->failopen ? 0 : -EIO;
}

int jnl_check(struct jnl *j)
{
	if (!j || !__atomic_load_n(&j->failed, __ATOMIC_ACQUIRE))
		return 0;
	return refuse(j);
}

/* Important records (all but ranges) are fdatasync'd with journal_sync;
 * every record is written with write(2) before this returns. */
static int append(struct jnl *j, const struct medfs_journal_record *r, int important)
{
	int ret;

	if (__atomic_load_n(&j->failed, __ATOMIC_ACQUIRE))
		return refuse(j);
	ret = medfs_journal_append(j->w, r, important && j->sync);
	if (ret == -EINVAL || ret == -E2BIG) {
		/* This record only: the journal goes on. */
		audit_log(j->foreground, LOG_ERR,
			  "journal: a %s record cannot be encoded: %s",
			  medfs_journal_op_name(r->op), strerror(-ret));
		return j->failopen ? 0 : -EIO;
	}
	if (ret < 0) {
		fail_closed(j, ret);
		return refuse(j);
	}
	return 0;
}

int jnl_record(struct jnl *j, const struct caller *c, const struct jnl_event *e)
{
	struct medfs_journal_record r;
	struct who w;

	if (!j)
		return 0;
	who_of(j, c, &w);
	rec_event(&r, e, &w);
	return append(j, &r, 1);
}

void jnl_set_path(const char *path)
{
	size_t n = path ? strnlen(path, sizeof(cur_path) - 1) : 0;

	memcpy(cur_path, path ? path : "", n);
	cur_path[n] = '\0';
}

/* ---- DICOM identifiers in the file's metadata ---- */

static void file_rec(const struct jnl_file *jf, struct medfs_journal_record *r,
		     uint32_t op);

int jnl_path_ids(struct jnl *j, const char *path, struct medfs_dicom_meta *ids)
{
	char buf[META_MAX];
	ssize_t n;
	int ret;

	memset(ids, 0, sizeof(*ids));
	if (!j || !path)
		return 0;
	n = medfs_vault_get_meta(j->vault, path, buf, sizeof(buf));
	ret = n > 0 ? medfs_dicom_meta_decode(buf, (size_t)n, ids) : 0;
	sodium_memzero(buf, sizeof(buf));
	return ret;
}

void jnl_ids_wipe(struct medfs_dicom_meta *ids)
{
	sodium_memzero(ids, sizeof(*ids));
}

/* Reads the header of jf's file on from where the scan stands, a window
 * at a time, skipping the values it does not need, up to DICOM_SCAN_MAX.
 * Returns the scan's answer (-EAGAIN: the file or the bound ended first). */
static int scan_run(struct jnl_file *jf, struct medfs_dicom_scan *sc)
{
	uint8_t *buf = NULL;
	size_t cap = 0, len = 0;
	int ret = -EAGAIN;

	while (sc->pos < DICOM_SCAN_MAX) {
		size_t want = sc->need > DICOM_WINDOW ? sc->need : DICOM_WINDOW;
		ssize_t n = 1;

		if (want > DICOM_SCAN_MAX - sc->pos)
			want = DICOM_SCAN_MAX - sc->pos;
		if (want < sc->need)
			break; /* an element running past the bound */
		if (want > cap) {
			uint8_t *nb = malloc(want);

			if (!nb)
				break;
			if (buf)
				sodium_memzero(buf, cap);
			free(buf);
			buf = nb;
			cap = want;
		}
		len = 0;
		while (len < want && (n = medfs_file_read(jf->f, buf + len, want - len,
							  (off_t)(sc->pos + len))) > 0)
			len += (size_t)n;
		ret = medfs_dicom_scan_feed(sc, buf, len);
		if (ret != -EAGAIN || len < want)
			break;
	}
	/* All of it: a shorter last read leaves an earlier one's bytes. */
	if (buf)
		sodium_memzero(buf, cap);
	free(buf);
	return ret;
}

/* After writes through jf: reads what they may have changed of the
 * file's header (doc/JOURNAL.md 14.1), and when its identifiers changed,
 * stores them and, when the patient or study changed, records who did it.
 * Returns 0 or -EIO (that record could not be written). */
static int dicom_scan(struct jnl_file *jf)
{
	struct medfs_dicom_ids ids, prior;
	struct medfs_dicom_meta m;
	struct medfs_dicom_scan *sc;
	struct medfs_journal_record r;
	char meta[META_MAX];
	uint64_t lo, hi;
	ssize_t n;
	int ret, found, same, wrote, change;

	pthread_mutex_lock(&jf->lock);
	wrote = jf->wrote;
	lo = jf->wr_lo;
	hi = jf->wr_hi;
	jf->wrote = 0;
	pthread_mutex_unlock(&jf->lock);
	if (!wrote)
		return 0;
	pthread_mutex_lock(&jf->scan_lock);
	sc = jf->scan;
	if (!sc) {
		sc = jf->scan = malloc(sizeof(*sc));
		if (!sc) {
			pthread_mutex_unlock(&jf->scan_lock);
			return 0;
		}
		medfs_dicom_scan_init(sc);
	} else if (lo < sc->seen) {
		medfs_dicom_scan_init(sc); /* bytes it relied on changed */
	} else if (jf->scan_ret != -EAGAIN || hi <= sc->pos) {
		pthread_mutex_unlock(&jf->scan_lock); /* after the header */
		return 0;
	}
	jnl_set_path(jf->path);
	ret = jf->scan_ret = scan_run(jf, sc);
	found = ret == 0 || ret == -EAGAIN;
	/* Identifiers from here on: every copy below is wiped at out. */
	memset(&ids, 0, sizeof(ids));
	memset(&prior, 0, sizeof(prior));
	memset(&m, 0, sizeof(m));
	if (found)
		ids = sc->ids;
	pthread_mutex_lock(&jf->lock);
	same = memcmp(&jf->meta.ids, &ids, sizeof(ids)) == 0;
	pthread_mutex_unlock(&jf->lock);
	ret = 0;
	if (same)
		goto out;
	/* From what is stored (another handle may have changed it): the
	 * former patients are kept across every handle. */
	n = medfs_file_get_meta(jf->f, meta, sizeof(meta));
	medfs_dicom_meta_decode(meta, n > 0 ? (size_t)n : 0, &m);
	change = medfs_dicom_meta_update(&m, &ids, &prior);
	if (change != MEDFS_DICOM_SAME) {
		n = medfs_dicom_meta_encode(&m, meta, sizeof(meta));
		ret = n < 0 ? (int)n : medfs_file_set_meta(jf->f, meta, (size_t)n);
	}
	if (ret < 0) {
		audit_log(jf->j->foreground, LOG_WARNING,
			  "cannot store the DICOM identifiers of a file opened by "
			  "uid=%u: %s",
			  (unsigned)jf->uid, strerror(-ret));
		ret = 0;
		goto out;
	}
	pthread_mutex_lock(&jf->lock);
	jf->meta = m;
	jf->has_ids = m.ids.patient_id[0] || m.ids.study_uid[0] || m.ids.series_uid[0] ||
		      m.ids.sop_uid[0] || m.ids.sop_class_uid[0] || m.ids.modality[0];
	ret = 0;
	if (change == MEDFS_DICOM_REATTRIBUTED) {
		file_rec(jf, &r, MEDFS_OP_ATTRIBUTION);
		r.prior_patient_id = opt_str(prior.patient_id);
		r.prior_study_uid = opt_str(prior.study_uid);
		ret = append(jf->j, &r, 1);
	}
	pthread_mutex_unlock(&jf->lock);
out:
	pthread_mutex_unlock(&jf->scan_lock);
	sodium_memzero(&ids, sizeof(ids));
	sodium_memzero(&prior, sizeof(prior));
	sodium_memzero(&m, sizeof(m));
	sodium_memzero(meta, sizeof(meta));
	return ret;
}

/* ---- open handles ---- */

static void file_rec(const struct jnl_file *jf, struct medfs_journal_record *r,
		     uint32_t op)
{
	rec_init(r, op);
	r->uid = (uint32_t)jf->uid;
	r->gid = (uint32_t)jf->gid;
	r->pid = (int32_t)jf->pid;
	r->user = jf->user;
	r->program = jf->program;
	r->path = jf->path;
	r->flags = jf->flags;
	r->rule_line = jf->rule;
	r->emergency = jf->emergency != 0;
	rec_ids(r, &jf->meta);
}

/* Under jf->lock. One record of the pending ranges, dated by the first. */
static int flush_locked(struct jnl_file *jf, struct ranges *g, uint32_t op)
{
	struct medfs_journal_record r;
	int ret;

	if (g->set.n == 0)
		return 0;
	file_rec(jf, &r, op);
	r.time_us = g->since_us;
	r.ranges = g->set.r;
	r.nranges = g->set.n;
	r.bytes = g->set.bytes;
	ret = append(jf->j, &r, 0);
	medfs_ranges_clear(&g->set);
	g->since_us = 0;
	return ret;
}

static int flush(struct jnl_file *jf)
{
	int ret, ret2;

	pthread_mutex_lock(&jf->lock);
	ret = flush_locked(jf, &jf->rd, MEDFS_OP_READ);
	ret2 = flush_locked(jf, &jf->wr, MEDFS_OP_WRITE);
	pthread_mutex_unlock(&jf->lock);
	return ret < 0 ? ret : ret2;
}

static void file_free(struct jnl_file *jf)
{
	pthread_mutex_destroy(&jf->lock);
	pthread_mutex_destroy(&jf->scan_lock);
	/* The identifiers found and kept: patient data. */
	if (jf->scan)
		sodium_memzero(jf->scan, sizeof(*jf->scan));
	free(jf->scan);
	sodium_memzero(&jf->meta, sizeof(jf->meta));
	medfs_ranges_free(&jf->rd.set);
	medfs_ranges_free(&jf->wr.set);
	free(jf->user);
	free(jf->program);
	free(jf->path);
	free(jf);
}

int jnl_file_open(struct jnl *j, const struct caller *c, const struct jnl_event *e,
		  struct medfs_file *f, struct jnl_file **out)
{
	struct medfs_journal_record r;
	struct jnl_file *jf;
	char meta[META_MAX];
	struct who w;
	ssize_t n;
	int ret;

	*out = NULL;
	if (!j)
		return 0;
	jf = calloc(1, sizeof(*jf));
	if (!jf)
		return -ENOMEM;
	who_of(j, c, &w);
	jf->j = j;
	jf->f = f;
	jf->uid = w.uid;
	jf->gid = w.gid;
	jf->pid = w.pid;
	jf->flags = e->flags;
	jf->rule = e->rule;
	jf->emergency = e->emergency;
	pthread_mutex_init(&jf->lock, NULL);
	pthread_mutex_init(&jf->scan_lock, NULL);
	jf->scan_ret = -EAGAIN;
	jf->path = strdup(e->path);
	jf->user = w.user[0] ? strdup(w.user) : NULL;
	jf->program = w.program ? strdup(w.program) : NULL;
	if (!jf->path || (w.user[0] && !jf->user) || (w.program && !jf->program)) {
		file_free(jf);
		return -ENOMEM;
	}
	n = medfs_file_get_meta(f, meta, sizeof(meta));
	if (n > 0)
		jf->has_ids = medfs_dicom_meta_decode(meta, (size_t)n, &jf->meta);
	sodium_memzero(meta, sizeof(meta));
	file_rec(jf, &r, e->op);
	r.detail = e->detail;
	ret = append(j, &r, 1);
	if (ret < 0) {
		file_free(jf);
		return ret;
	}
	pthread_mutex_lock(&j->files_lock);
	jf->next = j->files;
	if (j->files)
		j->files->prev = jf;
	j->files = jf;
	pthread_mutex_unlock(&j->files_lock);
	*out = jf;
	return 0;
}

const char *jnl_file_path(const struct jnl_file *jf)
{
	return jf ? jf->path : NULL;
}

int jnl_file_begin(struct jnl_file *jf)
{
	if (!jf)
		return 0;
	jnl_set_path(jf->path);
	return jnl_check(jf->j);
}

static int file_io(struct jnl_file *jf, struct ranges *g, uint32_t op, uint64_t off,
		   uint64_t n)
{
	int ret;

	if (!jf || n == 0)
		return 0;
	pthread_mutex_lock(&jf->lock);
	if (op == MEDFS_OP_READ && jf->j->every_read) {
		struct medfs_journal_range one = { off, n };
		struct medfs_journal_record r;

		file_rec(jf, &r, op);
		r.ranges = &one;
		r.nranges = 1;
		r.bytes = n;
		ret = append(jf->j, &r, 0);
	} else {
		if (op == MEDFS_OP_WRITE && off < DICOM_SCAN_MAX) {
			if (!jf->wrote || off < jf->wr_lo)
				jf->wr_lo = off;
			if (!jf->wrote || off + n > jf->wr_hi)
				jf->wr_hi = off + n;
			jf->wrote = 1;
		}
		if (g->set.n == 0)
			g->since_us = now_us();
		ret = medfs_ranges_add(&g->set, off, n);
		if (ret == 1) /* a record's worth: written at once */
			ret = flush_locked(jf, g, op);
		else if (ret < 0)
			ret = -EIO;
	}
	pthread_mutex_unlock(&jf->lock);
	return ret;
}

int jnl_file_read(struct jnl_file *jf, uint64_t off, uint64_t n)
{
	return jf ? file_io(jf, &jf->rd, MEDFS_OP_READ, off, n) : 0;
}

/* A write into the header is scanned at once: its release comes later,
 * after the caller's next open (even one that truncates the file and
 * writes something else), and must record what this handle wrote. */
int jnl_file_write(struct jnl_file *jf, uint64_t off, uint64_t n)
{
	int ret, ret2;

	if (!jf)
		return 0;
	ret = file_io(jf, &jf->wr, MEDFS_OP_WRITE, off, n);
	ret2 = dicom_scan(jf);
	return ret < 0 ? ret : ret2;
}

int jnl_file_event(struct jnl_file *jf, const struct jnl_event *e)
{
	struct medfs_journal_record r;
	int ret;

	if (!jf)
		return 0;
	pthread_mutex_lock(&jf->lock);
	file_rec(jf, &r, e->op);
	r.result = e->result < 0 ? -e->result : e->result;
	r.bytes = e->bytes;
	r.detail = e->detail;
	ret = append(jf->j, &r, 1);
	pthread_mutex_unlock(&jf->lock);
	return ret;
}

int jnl_file_sync(struct jnl_file *jf)
{
	int ret;

	if (!jf)
		return 0;
	ret = dicom_scan(jf);
	return ret < 0 ? ret : flush(jf);
}

void jnl_file_release(struct jnl_file *jf)
{
	struct jnl *j;

	if (!jf)
		return;
	j = jf->j;
	pthread_mutex_lock(&j->files_lock);
	if (jf->prev)
		jf->prev->next = jf->next;
	else
		j->files = jf->next;
	if (jf->next)
		jf->next->prev = jf->prev;
	pthread_mutex_unlock(&j->files_lock);
	dicom_scan(jf);
	flush(jf);
	file_free(jf);
}

/* ---- denials: coalesced, budgeted, kept out of the reserve ---- */

/* FNV-1a of s, NULL and "" told apart. */
static uint64_t hash_str(uint64_t h, const char *s)
{
	for (const char *p = s ? s : ""; *p; p++)
		h = (h ^ (unsigned char)*p) * UINT64_C(0x100000001b3);
	return (h ^ (s ? 0x1f : 0x1e)) * UINT64_C(0x100000001b3);
}

/* A denial's key: who (uid and program), what, where. */
static uint64_t deny_hash(uid_t uid, const char *program, const char *what,
			  const char *path)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325) ^ (uint64_t)uid;

	return hash_str(hash_str(hash_str(h, program), what), path);
}

static int str_same(const char *a, const char *b)
{
	return a && b ? strcmp(a, b) == 0 : a == b;
}

static int deny_same(const struct deny_slot *d, uint64_t h, uid_t uid,
		     const char *program, const char *what, const char *path)
{
	return d->used && d->hash == h && d->uid == uid && strcmp(d->what, what) == 0 &&
	       str_same(d->path, path) && str_same(d->program, program);
}

static void deny_slot_free(struct deny_slot *d)
{
	free(d->path);
	free(d->program);
	memset(d, 0, sizeof(*d));
}

/* "from TIME to TIME" for a summary's detail. */
static void span_text(char *out, size_t size, uint64_t first_us, uint64_t last_us)
{
	char a[32], b[32];
	time_t t;
	struct tm tm;

	t = (time_t)(first_us / 1000000);
	gmtime_r(&t, &tm);
	strftime(a, sizeof(a), "%Y-%m-%dT%H:%M:%SZ", &tm);
	t = (time_t)(last_us / 1000000);
	gmtime_r(&t, &tm);
	strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(out, size, "from %s to %s", a, b);
}

/* Under deny_lock: the summary of a slot's repeats, then the slot is free. */
static void deny_slot_summary(struct jnl *j, struct deny_slot *d)
{
	struct medfs_journal_record r;
	char detail[DENY_WHAT + 128], span[80], user[USER_LEN];

	if (d->repeats) {
		rec_init(&r, MEDFS_OP_DENIED_SUMMARY);
		user_name(j, d->uid, user, sizeof(user));
		r.uid = (uint32_t)d->uid;
		r.gid = (uint32_t)d->gid;
		r.pid = (int32_t)d->pid;
		r.user = opt_str(user);
		r.program = d->program;
		r.path = d->path;
		r.result = EACCES;
		r.rule_line = d->rule;
		r.count = d->repeats;
		span_text(span, sizeof(span), d->first_us, d->last_us);
		snprintf(detail, sizeof(detail), "%s; repeated %" PRIu64 " times %s",
			 d->what, d->repeats, span);
		r.detail = detail;
		append(j, &r, 1);
	}
	deny_slot_free(d);
}

/* Under deny_lock: the summary of the denials over a uid's budget. */
static void deny_budget_summary(struct jnl *j, struct deny_budget *b)
{
	struct medfs_journal_record r;
	char detail[256], span[80], user[USER_LEN];

	if (b->over) {
		rec_init(&r, MEDFS_OP_DENIED_SUMMARY);
		user_name(j, b->uid, user, sizeof(user));
		r.uid = (uint32_t)b->uid;
		r.gid = (uint32_t)b->gid;
		r.user = opt_str(user);
		r.result = EACCES;
		r.count = b->over;
		span_text(span, sizeof(span), b->first_us, b->last_us);
		snprintf(detail, sizeof(detail),
			 "%" PRIu64 " denials not recorded one by one (over the budget "
			 "of %u records a minute, or the journal's reserve) %s",
			 b->over, DENY_BUDGET, span);
		r.detail = detail;
		append(j, &r, 1);
	}
	memset(b, 0, sizeof(*b));
}

/* Under deny_lock: writes the summaries of the intervals ended at now
 * (all of them with all). While the journal is in its reserve they wait,
 * but for the last ones at unmount. */
static void deny_sweep(struct jnl *j, uint64_t now, int all)
{
	if (!all && __atomic_load_n(&j->low_space, __ATOMIC_ACQUIRE))
		return;
	for (size_t i = 0; i < DENY_SLOTS; i++) {
		struct deny_slot *d = &j->deny[i];

		if (d->used && (all || now - d->since_us >= DENY_INTERVAL_US))
			deny_slot_summary(j, d);
	}
	for (size_t i = 0; i < BUDGET_SLOTS; i++) {
		struct deny_budget *b = &j->budget[i];

		if (b->used && (all || now - b->since_us >= DENY_INTERVAL_US))
			deny_budget_summary(j, b);
	}
}

/* Under deny_lock: uid's budget of the current interval. A slot taken by
 * another uid is summarized first. */
static struct deny_budget *deny_budget_of(struct jnl *j, uid_t uid, gid_t gid,
					  uint64_t now)
{
	struct deny_budget *b = &j->budget[uid % BUDGET_SLOTS];

	if (b->used && b->uid != uid)
		deny_budget_summary(j, b);
	if (!b->used) {
		b->used = 1;
		b->uid = uid;
		b->gid = gid;
		b->since_us = now;
	}
	return b;
}

/* Whether this denial is to be written (1), or was counted (0). */
static int deny_admit(struct jnl *j, const struct caller *c, const char *what,
		      const char *path, unsigned rule, uint64_t now)
{
	uid_t uid = c ? c->uid : j->self_uid;
	const char *prog = c ? caller_program(c) : j->self_program;
	uint64_t h = deny_hash(uid, prog, what, path);
	struct deny_slot *free_slot = NULL, *d;
	struct deny_budget *b;
	int ret = 0;

	pthread_mutex_lock(&j->deny_lock);
	for (size_t k = 0; k < DENY_PROBE; k++) {
		d = &j->deny[(h + k) % DENY_SLOTS];
		if (deny_same(d, h, uid, prog, what, path)) {
			if (d->repeats++ == 0)
				d->first_us = now;
			d->last_us = now;
			d->pid = c ? c->pid : j->self_pid;
			goto out;
		}
		if (!d->used && !free_slot)
			free_slot = d;
	}
	b = deny_budget_of(j, uid, c ? c->gid : j->self_gid, now);
	if (b->records >= DENY_BUDGET ||
	    __atomic_load_n(&j->low_space, __ATOMIC_ACQUIRE)) {
		if (b->over++ == 0)
			b->first_us = now;
		b->last_us = now;
		goto out;
	}
	b->records++;
	ret = 1;
	if (free_slot) {
		d = free_slot;
		d->path = path ? strdup(path) : NULL;
		d->program = prog ? strdup(prog) : NULL;
		if ((path && !d->path) || (prog && !d->program)) {
			deny_slot_free(d);
			goto out; /* written, not coalesced */
		}
		d->used = 1;
		d->hash = h;
		d->uid = uid;
		d->gid = c ? c->gid : j->self_gid;
		d->rule = rule;
		d->since_us = now;
		snprintf(d->what, sizeof(d->what), "%s", what);
	}
out:
	pthread_mutex_unlock(&j->deny_lock);
	return ret;
}

void jnl_denied(struct jnl *j, const struct caller *c, const char *op, const char *path,
		const char *right, unsigned rule)
{
	struct medfs_dicom_meta ids;
	char detail[DENY_WHAT];
	struct jnl_event e = {
		.op = MEDFS_OP_DENIED,
		.path = path,
		.result = -EACCES,
		.rule = rule,
		.detail = detail,
		.ids = &ids,
	};

	if (!j)
		return;
	snprintf(detail, sizeof(detail), "op=%s right=%s", op, right);
	if (!deny_admit(j, c, detail, path, rule, now_us()))
		return;
	jnl_path_ids(j, path, &ids);
	jnl_record(j, c, &e);
	jnl_ids_wipe(&ids);
}

/* Under the reserve of free space, denials are only counted. */
static void check_space(struct jnl *j)
{
	struct statvfs sv;
	uint64_t avail, reserve;

	if (j->dirfd < 0 || fstatvfs(j->dirfd, &sv) < 0)
		return;
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	reserve = (uint64_t)sv.f_blocks * sv.f_frsize / 4;
	if (reserve > j->reserve)
		reserve = j->reserve;
	__atomic_store_n(&j->low_space, avail < reserve, __ATOMIC_RELEASE);
}

/* The journal failed: once it can be written again, the outage is
 * recorded and the mount serves again. */
static void try_resume(struct jnl *j)
{
	struct medfs_journal_record r;
	char detail[256], span[80];
	uint64_t now = now_us(), refused;
	int ret;

	if (medfs_journal_writer_resume(j->w) < 0)
		return;
	refused = __atomic_load_n(&j->refused, __ATOMIC_RELAXED);
	rec_init(&r, MEDFS_OP_JOURNAL_OUTAGE);
	r.uid = (uint32_t)j->self_uid;
	r.gid = (uint32_t)j->self_gid;
	r.pid = (int32_t)j->self_pid;
	r.program = j->self_program;
	r.result = -j->outage_err;
	r.count = refused;
	span_text(span, sizeof(span), j->outage_us, now);
	snprintf(detail, sizeof(detail),
		 "journal not writable for %" PRIu64 " s (%s) %s; %" PRIu64
		 " requests %s",
		 (now - j->outage_us) / 1000000, strerror(-j->outage_err), span, refused,
		 j->failopen ? "served unrecorded (journal_failopen)"
			     : "refused with EIO");
	r.detail = detail;
	ret = medfs_journal_append(j->w, &r, 1);
	if (ret < 0)
		return; /* failed again: the next try records it all */
	__atomic_store_n(&j->refused, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&j->failed, 0, __ATOMIC_RELEASE);
	audit_log(j->foreground, LOG_NOTICE,
		  "journal %s can be written again after %" PRIu64 " s; %" PRIu64
		  " requests were %s meanwhile",
		  j->dir, (now - j->outage_us) / 1000000, refused,
		  j->failopen ? "served unrecorded" : "refused");
}

/* The records the tools left in the spool (failed unlocks, key changes). */
static void ingest_spool(struct jnl *j)
{
	int ret;

	if (!j->spool_dir || __atomic_load_n(&j->failed, __ATOMIC_ACQUIRE))
		return;
	ret = medfs_journal_ingest(j->w, j->spool_dir);
	if (ret < 0 && medfs_journal_writer_status(j->w) < 0)
		fail_closed(j, ret);
}

/* ---- the ticker ---- */

static void flush_old(struct jnl *j, uint64_t now)
{
	pthread_mutex_lock(&j->files_lock);
	for (struct jnl_file *jf = j->files; jf; jf = jf->next) {
		pthread_mutex_lock(&jf->lock);
		if (jf->rd.set.n && now - jf->rd.since_us >= FLUSH_AGE_US)
			flush_locked(jf, &jf->rd, MEDFS_OP_READ);
		if (jf->wr.set.n && now - jf->wr.since_us >= FLUSH_AGE_US)
			flush_locked(jf, &jf->wr, MEDFS_OP_WRITE);
		pthread_mutex_unlock(&jf->lock);
	}
	pthread_mutex_unlock(&j->files_lock);
}

static void *ticker(void *arg)
{
	struct jnl *j = arg;
	unsigned wakes = 0;

	pthread_mutex_lock(&j->tick_lock);
	while (!j->quit) {
		struct timespec ts;
		int ret;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += WAKE_NS;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&j->tick_cond, &j->tick_lock, &ts);
		if (j->quit)
			break;
		pthread_mutex_unlock(&j->tick_lock);
		flush_old(j, now_us());
		if (++wakes % TICKS_PER_WRITER_TICK == 0) {
			if (__atomic_load_n(&j->failed, __ATOMIC_ACQUIRE))
				try_resume(j);
			check_space(j);
			ingest_spool(j);
			pthread_mutex_lock(&j->deny_lock);
			deny_sweep(j, now_us(), 0);
			pthread_mutex_unlock(&j->deny_lock);
		}
		if (wakes % TICKS_PER_WRITER_TICK == 0 &&
		    !__atomic_load_n(&j->failed, __ATOMIC_ACQUIRE)) {
			ret = medfs_journal_tick(j->w, now_us());
			if (ret < 0)
				fail_closed(j, ret);
		}
		pthread_mutex_lock(&j->tick_lock);
	}
	pthread_mutex_unlock(&j->tick_lock);
	return NULL;
}

/* ---- records of the mount and of access.c ---- */

void jnl_policy_load(struct jnl *j, const char *policy_path, const uint8_t digest[32],
		     int ok)
{
	struct jnl_event e = { .op = MEDFS_OP_POLICY_LOAD, .path = policy_path };
	char d[65], detail[160];

	if (!j)
		return;
	hex(d, digest, 32);
	if (ok) {
		snprintf(detail, sizeof(detail), "loaded; digest %s", d);
	} else {
		snprintf(detail, sizeof(detail),
			 "rejected; the policy in force stays (digest %s)", d);
		e.result = EINVAL;
	}
	e.detail = detail;
	jnl_record(j, NULL, &e);
}

int jnl_emergency_start(struct jnl *j, const struct caller *c, const char *reason,
			size_t size, unsigned seconds)
{
	struct jnl_event e = { .op = MEDFS_OP_EMERGENCY_START, .emergency = 1 };
	char *detail;
	size_t len;
	int ret;

	if (!j)
		return 0;
	ret = jnl_check(j);
	if (ret < 0)
		return ret;
	if (size > MEDFS_GRANT_REASON_MAX)
		return -E2BIG; /* access.c refuses it first: never cut a reason */
	detail = malloc(size + 64);
	if (!detail)
		return -ENOMEM;
	len = (size_t)snprintf(detail, 64, "granted for %u s; reason: ", seconds);
	for (size_t i = 0; i < size; i++)
		detail[len++] = reason[i] ? reason[i] : ' ';
	detail[len] = '\0';
	e.detail = detail;
	ret = jnl_record(j, c, &e);
	sodium_memzero(detail, len);
	free(detail);
	return ret;
}

void jnl_emergency_end(struct jnl *j, uid_t uid, const char *how, unsigned long uses)
{
	struct medfs_journal_record r;
	char detail[96];
	struct who w;

	if (!j)
		return;
	rec_init(&r, MEDFS_OP_EMERGENCY_END);
	user_name(j, uid, w.user, sizeof(w.user));
	r.uid = (uint32_t)uid;
	r.user = opt_str(w.user);
	r.emergency = 1;
	snprintf(detail, sizeof(detail), "%s after %lu accesses", how, uses);
	r.detail = detail;
	append(j, &r, 1);
}

/* Bytes of the vault path in one integrity record: a journal string holds
 * MEDFS_JOURNAL_STRING_MAX, and what comes before the path is cut to
 * WHAT_MAX. */
#define WHAT_MAX 1024
#define VPATH_PART_MAX (MEDFS_JOURNAL_STRING_MAX - WHAT_MAX - 64)

static pthread_mutex_t parts_lock = PTHREAD_MUTEX_INITIALIZER;

void jnl_integrity(void *ctx, const char *vault_path, const char *plain_path,
		   int64_t offset, const char *what)
{
	struct jnl *j = ctx;
	struct fuse_context *fc = fuse_get_context();
	char exe[PATH_MAX], proc[64], *detail;
	struct medfs_journal_record r;
	struct who w;
	size_t len, parts;

	if (!j)
		return;
	who_of(j, NULL, &w);
	if (fc && fc->pid > 0) {
		ssize_t n;

		w.uid = fc->uid;
		w.gid = fc->gid;
		w.pid = fc->pid;
		user_name(j, w.uid, w.user, sizeof(w.user));
		snprintf(proc, sizeof(proc), "/proc/%d/exe", (int)fc->pid);
		n = readlink(proc, exe, sizeof(exe) - 1);
		exe[n > 0 ? n : 0] = '\0';
		w.program = n > 0 ? exe : NULL;
	}
	/* The vault path is encrypted names: no patient data. */
	audit_log(j->foreground, LOG_ERR,
		  "integrity failure: uid=%u vault file %s offset %lld: %s",
		  (unsigned)w.uid, vault_path, (long long)offset, what);
	/* The vault path in full, however deep: one that a journal string
	 * cannot hold (a tree of short names near PATH_MAX) goes into as many
	 * records as it takes, "WHAT; vault file PART (part I of N)". */
	len = strlen(vault_path);
	parts = len > VPATH_PART_MAX ? (len + VPATH_PART_MAX - 1) / VPATH_PART_MAX : 1;
	detail = malloc(WHAT_MAX + VPATH_PART_MAX + 64);
	/* The parts of one failure follow each other. */
	pthread_mutex_lock(&parts_lock);
	for (size_t i = 0; i < parts; i++) {
		size_t off = i * VPATH_PART_MAX;
		int n = (int)(len - off < VPATH_PART_MAX ? len - off : VPATH_PART_MAX);

		if (detail && parts == 1)
			snprintf(detail, WHAT_MAX + VPATH_PART_MAX + 64, "%.*s; vault file %s",
				 WHAT_MAX, what, vault_path);
		else if (detail)
			snprintf(detail, WHAT_MAX + VPATH_PART_MAX + 64,
				 "%.*s; vault file %.*s (part %zu of %zu)", WHAT_MAX, what, n,
				 vault_path + off, i + 1, parts);
		rec_event(&r,
			  &(struct jnl_event){ .op = MEDFS_OP_INTEGRITY,
					       .path = plain_path ? plain_path
								  : opt_str(cur_path),
					       .result = EBADMSG,
					       /* Out of memory: what failed, at least. */
					       .detail = detail ? detail : what },
			  &w);
		r.offset = offset;
		append(j, &r, 1);
		if (!detail)
			break;
	}
	pthread_mutex_unlock(&parts_lock);
	free(detail);
}

/* ---- the journal of a mount ---- */

static void report_open_error(const struct jnl_options *o, int err)
{
	switch (err) {
	case -EBUSY:
		fprintf(stderr,
			"medfs: the journal %s is in use by another medfs (is the "
			"vault mounted already?)\n",
			o->dir);
		break;
	case -EBADMSG:
		fprintf(stderr,
			"medfs: the journal %s cannot be continued: its STATE is "
			"missing or not this vault's; mount once with -o "
			"journal_restart to start a new chain (verify reports the "
			"break)\n",
			o->dir);
		break;
	default:
		fprintf(stderr, "medfs: cannot open the journal %s: %s\n", o->dir,
			strerror(-err));
	}
}

static void jnl_free(struct jnl *j)
{
	for (size_t i = 0; i < DENY_SLOTS; i++)
		deny_slot_free(&j->deny[i]);
	if (j->dirfd >= 0)
		close(j->dirfd);
	pthread_mutex_destroy(&j->deny_lock);
	pthread_cond_destroy(&j->tick_cond);
	pthread_mutex_destroy(&j->tick_lock);
	pthread_mutex_destroy(&j->user_lock);
	pthread_mutex_destroy(&j->files_lock);
	free(j->self_program);
	free(j->spool_dir);
	free(j->dir);
	free(j);
}

int jnl_open(struct jnl **out, const struct jnl_options *o)
{
	struct medfs_journal_config cfg = { 0 };
	pthread_condattr_t ca;
	char exe[PATH_MAX];
	struct jnl *j;
	ssize_t n;
	int ret;

	*out = NULL;
	j = calloc(1, sizeof(*j));
	if (!j) {
		fprintf(stderr, "medfs: out of memory\n");
		return -ENOMEM;
	}
	pthread_mutex_init(&j->files_lock, NULL);
	pthread_mutex_init(&j->user_lock, NULL);
	pthread_mutex_init(&j->tick_lock, NULL);
	pthread_mutex_init(&j->deny_lock, NULL);
	j->dirfd = -1;
	j->reserve = RESERVE_BYTES;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->tick_cond, &ca);
	pthread_condattr_destroy(&ca);
	j->vault = o->vault;
	j->sync = o->sync;
	j->every_read = o->every_read;
	j->failopen = o->failopen;
	j->foreground = o->foreground;
	j->self_uid = getuid();
	j->self_gid = getgid();
	j->self_pid = getpid();
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		j->self_program = strdup(exe);
	}
	j->dir = strdup(o->dir);
	j->spool_dir = o->spool_dir ? strdup(o->spool_dir) : NULL;
	if (!j->dir || (o->spool_dir && !j->spool_dir)) {
		fprintf(stderr, "medfs: out of memory\n");
		jnl_free(j);
		return -ENOMEM;
	}
	if (o->restart)
		cfg.flags |= MEDFS_JOURNAL_RESTART;
	ret = medfs_journal_writer_open(&j->w, o->dir, o->auditor_pk, o->vault_id,
					o->state_key, &cfg);
	if (ret < 0) {
		report_open_error(o, ret);
		jnl_free(j);
		return ret;
	}
	j->dirfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	check_space(j);
	*out = j;
	return 0;
}

int jnl_start(struct jnl *j, const struct jnl_mount *m)
{
	char d[65], detail[4096], owner[96];
	struct jnl_event e = {
		.op = MEDFS_OP_MOUNT,
		.path = m->vault_dir,
		.path2 = m->mountpoint,
		.detail = detail,
	};
	int ret;

	if (!j)
		return 0;
	if (m->policy_digest)
		hex(d, m->policy_digest, 32);
	snprintf(detail, sizeof(detail), "options %s; policy %s%s%s", m->options,
		 m->policy_digest ? d : "none",
		 m->unlocked_with ? "; unlocked with " : "",
		 m->unlocked_with ? m->unlocked_with : "");
	ret = jnl_record(j, NULL, &e);
	if (ret < 0)
		return ret;
	j->mounted = 1;
	ingest_spool(j);
	if (m->policy_digest) {
		jnl_policy_load(j, m->policy_path, m->policy_digest, 1);
	} else {
		snprintf(owner, sizeof(owner),
			 "no policy: only uid %u, who mounted, gets in",
			 (unsigned)m->owner);
		jnl_record(j, NULL,
			   &(struct jnl_event){ .op = MEDFS_OP_POLICY_LOAD,
						.detail = owner });
	}
	ret = jnl_check(j);
	if (ret < 0)
		return ret;
	ret = medfs_thread_start(&j->ticker, NULL, ticker, j);
	if (ret)
		return -ret;
	j->ticking = 1;
	return 0;
}

void jnl_close(struct jnl *j)
{
	struct jnl_file *jf;
	int ret;

	if (!j)
		return;
	if (j->ticking) {
		pthread_mutex_lock(&j->tick_lock);
		j->quit = 1;
		pthread_cond_signal(&j->tick_cond);
		pthread_mutex_unlock(&j->tick_lock);
		pthread_join(j->ticker, NULL);
	}
	/* Handles the kernel never released (a forced unmount). */
	while ((jf = j->files)) {
		j->files = jf->next;
		flush(jf);
		file_free(jf);
	}
	pthread_mutex_lock(&j->deny_lock);
	deny_sweep(j, now_us(), 1);
	pthread_mutex_unlock(&j->deny_lock);
	if (j->mounted)
		jnl_record(j, NULL, &(struct jnl_event){ .op = MEDFS_OP_UNMOUNT });
	ret = medfs_journal_writer_close(j->w);
	/* The journal on disk still verifies (its HEAD names its last
	 * checkpoint): what came after that checkpoint is unsealed. */
	if (ret < 0)
		audit_log(j->foreground, LOG_CRIT,
			  "journal %s was not closed cleanly: %s; the records after its "
			  "last checkpoint are kept unsealed (verify warns of them) until "
			  "the next mount seals them",
			  j->dir, strerror(-ret));
	jnl_free(j);
}
