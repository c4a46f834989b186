/* medfs driver: who may do what through the mount (see access.h).
 *
 * Per request: the caller's identity, from a short-lived cache per pid
 * (kept with or without a policy: the journal names the program); then
 * one library decision per right, from a cache keyed by identity,
 * emergency state, path and right, emptied by every reload; then
 * note_access(). The policy is swapped under a rwlock, so each decision
 * uses the policy in force when it is made. Denials, emergency grants and
 * policy loads also go to the journal (journal_glue.h). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <fuse.h>
#include <sodium.h>

#include "access.h"
#include "journal_glue.h"
#include "medfs/grant.h"
#include "medfs/log.h"
#include "medfs/modecheck.h"
#include "medfs/parallel.h"
#include "medfs/procid.h"
#include "medfs/repair.h"

#define EMERGENCY_XATTR "user.medfs.emergency"
#define GRANTS_XATTR "user.medfs.emergency.grants"

#define IDENT_SLOTS 256
#define IDENT_TTL_NS 1000000000ULL
#define VERDICT_SLOTS 4096
#define VERDICT_LOCKS 64
#define VERDICT_PATH 192 /* longer paths are decided every time */

/* A caller's identity as the policy sees it. Identities that are equal
 * share a serial, which is what the decision cache keys on; a serial is
 * never given to a different identity. Refcounted: the cache slot holds
 * one reference, each caller using it another. */
struct ident {
	unsigned refs;
	uint64_t serial;
	uint64_t expires; /* CLOCK_MONOTONIC ns */
	pid_t pid;
	uid_t uid;
	gid_t gid;
	char *exe; /* the path /proc/PID/exe shows, for the journal; NULL when unknown */
	/* Under a policy naming programs: the process as inspected (procid.h),
	 * and the policy's program it runs (NULL: none), bound by the program
	 * table of policy generation prog_gen. */
	int inspected;
	struct medfs_procid proc;
	const char *program;
	uint64_t prog_gen;
	size_t ngroups;
	gid_t groups[];
};

struct verdict {
	uint64_t gen; /* 0: empty */
	uint64_t serial;
	unsigned char right, emergency;
	struct medfs_decision d;
	char path[VERDICT_PATH];
};

struct access {
	char *policy_path; /* NULL: no policy */
	uid_t owner;
	int foreground;
	int names_cached;    /* the kernel keeps names: no program-bound rule */
	struct jnl *journal; /* NULL until set */

	pthread_rwlock_t policy_lock; /* guards policy, progtab and gen */
	struct medfs_policy *policy;
	struct medfs_progtab *progtab; /* the policy's programs, bound to their files */
	uint64_t gen;
	int programs; /* the policy names programs; read unlocked, atomically */

	pthread_mutex_t ident_lock; /* guards idents and serial */
	struct ident *idents[IDENT_SLOTS];
	uint64_t serial;

	struct verdict *verdicts;
	pthread_mutex_t verdict_locks[VERDICT_LOCKS];
	unsigned char hash_key[crypto_shorthash_KEYBYTES];

	struct medfs_grants *grants;  /* deadlines on CLOCK_BOOTTIME */
	unsigned long emergency_uses; /* atomic */
	access_grant_end_fn on_grant_end;
	void *grant_end_ctx;
	pthread_mutex_t ended_lock; /* guards ended: grants with open files */
	uint64_t *ended;
	size_t n_ended, max_ended;

	int pipe[2]; /* to the keeper: 'h' reload, 'g' grants, 'e' ended, 'q' quit */
	pthread_t keeper;
	int started;
};

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void audit_log(int foreground, int prio, const char *fmt, ...)
{
	char msg[512], *big = NULL;
	va_list ap, again;
	int n;

	va_start(ap, fmt);
	va_copy(again, ap);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	/* Whole: a vault path deep in a tree is many times PATH_MAX (out
	 * of memory: cut). */
	if (n >= (int)sizeof(msg) && (big = malloc((size_t)n + 1)))
		vsnprintf(big, (size_t)n + 1, fmt, again);
	va_end(again);
	va_end(ap);
	syslog(LOG_AUTHPRIV | prio, "%s", big ? big : msg);
	if (foreground)
		medfs_log(prio, "%s", big ? big : msg);
	free(big);
}

static const char *right_name(unsigned rights)
{
	for (unsigned r = 1; r <= MEDFS_RIGHT_ALL; r <<= 1)
		if (rights & r)
			return medfs_right_name(r);
	return "-";
}

/* Loading a policy file. */

struct loader {
	const char *name; /* the file as messages show it */
	void (*say)(void *ctx, int prio, const char *msg);
	void *ctx;
};

static void say(const struct loader *l, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(const struct loader *l, int prio, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	l->say(l->ctx, prio, msg);
}

static void diag(void *ctx, const struct medfs_policy_diag *d)
{
	say(ctx, d->warning ? LOG_WARNING : LOG_ERR, "%s:%u:%u: %s: %s",
	    ((const struct loader *)ctx)->name, d->line, d->column,
	    d->warning ? "warning" : "error", d->message);
}

/* Names to ids through the system's user and group databases. */
static int resolve(void *ctx, int is_group, const char *name, unsigned long *id)
{
	size_t size = 1024;
	char *buf = NULL;
	int ret = -ENOMEM;

	(void)ctx;
	while (size <= (1U << 22)) {
		char *b = realloc(buf, size);
		int err;

		if (!b)
			break;
		buf = b;
		if (is_group) {
			struct group gr, *res = NULL;

			err = getgrnam_r(name, &gr, buf, size, &res);
			if (err == 0 && res)
				*id = gr.gr_gid;
			ret = err ? -err : res ? 0 : -ENOENT;
		} else {
			struct passwd pw, *res = NULL;

			err = getpwnam_r(name, &pw, buf, size, &res);
			if (err == 0 && res)
				*id = pw.pw_uid;
			ret = err ? -err : res ? 0 : -ENOENT;
		}
		if (err != ERANGE)
			break;
		size *= 2;
	}
	free(buf);
	return ret;
}

static int load(const char *path, uid_t owner, const struct loader *l,
		struct medfs_policy **out)
{
	char why[256] = "";
	char *text = NULL;
	size_t len = 0;
	int ret;

	ret = medfs_policy_read_file(path, owner, &text, &len, why, sizeof(why));
	if (ret == -EPERM) {
		say(l, LOG_ERR, "untrusted policy: %s", why);
		return -1;
	}
	if (ret < 0) {
		if (why[0])
			say(l, LOG_ERR, "cannot read policy: %s", why);
		else
			say(l, LOG_ERR, "cannot read policy %s: %s", l->name,
			    strerror(-ret));
		return -1;
	}
	ret = medfs_policy_parse(text, len, resolve, NULL, diag, (void *)l, out);
	free(text);
	if (ret == -ENOMEM)
		say(l, LOG_ERR, "policy %s: out of memory", l->name);
	else if (ret < 0)
		say(l, LOG_ERR, "policy %s has errors", l->name);
	return ret < 0 ? -1 : 0;
}

/* Binds the programs of policy p to their files (the warnings of those
 * that cannot be bound go to l), and warns when the kernel still lets a
 * program's user run its own code as the program. Returns 0 with the
 * table in *out, or -1 (out of memory, said). */
static int bind_programs(const struct medfs_policy *p, const struct loader *l,
			 struct medfs_progtab **out)
{
	const char *hole;

	if (medfs_progtab_new(p, l ? diag : NULL, (void *)l, out) < 0) {
		if (l)
			say(l, LOG_ERR, "policy %s: out of memory", l->name);
		return -1;
	}
	if (!l || !medfs_policy_names_program(p))
		return 0;
	hole = medfs_procid_ptrace_open(medfs_procid_ptrace_scope());
	if (hole)
		say(l, LOG_WARNING,
		    "%s: warning: rules bound to programs do not hold against a user "
		    "who debugs the program: %s",
		    l->name, hole);
	return 0;
}

static void say_stderr(void *ctx, int prio, const char *msg)
{
	(void)ctx;
	(void)prio;
	fprintf(stderr, "medfs: %s\n", msg);
}

int access_load_policy(const char *path, const char *name, uid_t owner,
		       struct medfs_policy **out)
{
	const struct loader l = { name, say_stderr, NULL };
	struct medfs_progtab *t = NULL;

	if (load(path, owner, &l, out) < 0)
		return -1;
	/* The warnings now, on the terminal of whoever mounts; the mount binds
	 * the programs again when it starts (access_new). */
	if (bind_programs(*out, &l, &t) < 0) {
		medfs_policy_free(*out);
		*out = NULL;
		return -1;
	}
	medfs_progtab_free(t);
	return 0;
}

static void say_audit(void *ctx, int prio, const char *msg)
{
	audit_log(((const struct access *)ctx)->foreground, prio, "%s", msg);
}

/* Identities.
 *
 * uid and gid come with every request; supplementary groups and the
 * executable cost reads in /proc, so they are kept per (pid, uid, gid) for
 * IDENT_TTL_NS. A change of uid or gid is seen at once (it is part of the
 * key).
 *
 * Under a policy that names programs, the process is also inspected
 * (procid.h: its executable file, tracer, user namespace and the files it
 * maps code from) and bound to the policy's program its executable file
 * is, if it can be trusted to run that file's code alone. That binding is
 * never reused across an exec: every request checks, with one stat of
 * /proc/PID/exe, that the executable is still the same file, and, for a
 * process bound to a program, that it has no tracer (one read of
 * /proc/PID/status); otherwise the process is inspected again. The maps
 * are read again once per IDENT_TTL_NS, their files looked at only when
 * the executable mappings changed.
 *
 * What one second can hide: a process that changes only its supplementary
 * groups, or loads code from an untrusted file after it was inspected,
 * keeps its former identity for up to a second; and a pid freed and
 * reused by a new process with the same uid, gid and executable within
 * that second (the kernel hands pids out in increasing order, so that
 * takes a full cycle of pid_max forks) would inherit the groups of the old
 * one, and its program when it runs the same file. The decisions
 * themselves are never cached past a reload. */

static void ident_put(struct ident *id)
{
	if (id && __atomic_sub_fetch(&id->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		free(id->exe);
		free(id);
	}
}

static int same_identity(const struct ident *x, const struct ident *y)
{
	if (x->uid != y->uid || x->gid != y->gid || x->ngroups != y->ngroups ||
	    memcmp(x->groups, y->groups, x->ngroups * sizeof(gid_t)) != 0)
		return 0;
	if (x->inspected != y->inspected || x->program != y->program ||
	    x->prog_gen != y->prog_gen)
		return 0;
	if (x->inspected && (x->proc.trusted != y->proc.trusted ||
			     !medfs_procid_same_file(&x->proc.exe, &y->proc.exe)))
		return 0;
	if (!x->exe || !y->exe)
		return !x->exe && !y->exe;
	return strcmp(x->exe, y->exe) == 0;
}

/* Reads the identity of the current request's caller. NULL, with errno,
 * when its groups cannot be read. */
static struct ident *ident_read(pid_t pid, uid_t uid, gid_t gid)
{
	gid_t small[32], *groups = small;
	char proc[64], exe[PATH_MAX];
	struct ident *id = NULL;
	int n, max = 32;
	ssize_t len;

	for (;;) {
		n = fuse_getgroups(max, groups);
		if (n < 0) {
			errno = -n;
			goto out;
		}
		if (n <= max)
			break;
		if (groups != small)
			free(groups);
		max = n;
		groups = malloc((size_t)max * sizeof(*groups));
		if (!groups) {
			errno = ENOMEM;
			goto out;
		}
	}
	id = calloc(1, sizeof(*id) + (size_t)n * sizeof(gid_t));
	if (!id) {
		errno = ENOMEM;
		goto out;
	}
	id->pid = pid;
	id->uid = uid;
	id->gid = gid;
	id->ngroups = (size_t)n;
	memcpy(id->groups, groups, (size_t)n * sizeof(gid_t));
	snprintf(proc, sizeof(proc), "/proc/%d/exe", (int)pid);
	len = readlink(proc, exe, sizeof(exe) - 1);
	if (len > 0) {
		exe[len] = '\0';
		id->exe = strdup(exe);
		if (!id->exe) {
			free(id);
			id = NULL;
			errno = ENOMEM;
		}
	}
out:
	if (groups != small)
		free(groups);
	return id;
}

/* Binds id to the program its executable file is, in the policy in force,
 * and says why when a process showing a program is refused it. A process
 * that cannot be inspected (gone, or not ours to read) runs no program. */
static void ident_bind(struct access *a, struct ident *id, const struct ident *prev)
{
	enum medfs_progtab_match m;
	const char *path = NULL;
	unsigned line = 0;
	char proc[64];
	int named = 0;
	int fd;

	if (medfs_procid_inspect(id->pid, prev && prev->inspected ? &prev->proc : NULL,
				 &id->proc) < 0)
		return;
	id->inspected = 1;
	pthread_rwlock_rdlock(&a->policy_lock);
	m = medfs_progtab_match(a->progtab, &id->proc.exe, -1, &path, &line);
	if (m == MEDFS_PROG_CHANGED) {
		/* Size or change time differ from the load's: the digest tells
		 * (the file itself, through the process). */
		snprintf(proc, sizeof(proc), "/proc/%d/exe", (int)id->pid);
		fd = open(proc, O_RDONLY | O_CLOEXEC);
		m = medfs_progtab_match(a->progtab, &id->proc.exe, fd, &path, &line);
		if (fd >= 0)
			close(fd);
	}
	if (m == MEDFS_PROG_SAME && id->proc.trusted)
		id->program = path;
	else if (m == MEDFS_PROG_NONE)
		named = medfs_progtab_names(a->progtab, id->exe, &line);
	id->prog_gen = a->gen;
	pthread_rwlock_unlock(&a->policy_lock);

	if (m == MEDFS_PROG_SAME && !id->proc.trusted)
		audit_log(
			a->foreground, LOG_WARNING,
			"program of the rule at line %u refused to pid=%d uid=%u: it %s",
			line, (int)id->pid, (unsigned)id->uid, id->proc.why);
	else if (m == MEDFS_PROG_CHANGED)
		audit_log(a->foreground, LOG_WARNING,
			  "program of the rule at line %u refused to pid=%d uid=%u: its "
			  "file changed since the policy was loaded (digest mismatch); "
			  "reload the policy to trust the new content",
			  line, (int)id->pid, (unsigned)id->uid);
	else if (named)
		audit_log(a->foreground, LOG_WARNING,
			  "program of the rule at line %u refused to pid=%d uid=%u: it "
			  "runs another file shown at the program's path (replaced, or "
			  "mounted over in its namespace)",
			  line, (int)id->pid, (unsigned)id->uid);
}

/* Whether a cached identity still holds for this request: same executable
 * file (an exec changes it), and no tracer for a process bound to a
 * program. */
static int ident_current(const struct ident *id)
{
	struct stat st;
	long tracer;

	if (!id->inspected)
		return 1;
	if (medfs_procid_exe(id->pid, &st) < 0 ||
	    !medfs_procid_same_file(&st, &id->proc.exe))
		return 0;
	if (id->program && (medfs_procid_tracer(id->pid, &tracer) < 0 || tracer != 0))
		return 0;
	return 1;
}

/* The policy's program id runs, under policy_lock (read). */
static const char *ident_program(const struct access *a, const struct ident *id)
{
	const char *path = NULL;
	unsigned line;

	if (!id->inspected || !id->proc.trusted)
		return NULL;
	if (id->prog_gen == a->gen)
		return id->program;
	/* Reloaded since: bound by the new table, without reading the file. */
	return medfs_progtab_match(a->progtab, &id->proc.exe, -1, &path, &line) ==
			       MEDFS_PROG_SAME
		       ? path
		       : NULL;
}

static size_t ident_slot(pid_t pid)
{
	return ((uint32_t)pid * 2654435761U) >> 24; /* 256 slots */
}

static struct ident *ident_get(struct access *a, pid_t pid, uid_t uid, gid_t gid)
{
	uint64_t now = clock_ns(CLOCK_MONOTONIC);
	int programs = __atomic_load_n(&a->programs, __ATOMIC_ACQUIRE);
	size_t slot = ident_slot(pid);
	struct ident *id, *old, *prev = NULL;

	pthread_mutex_lock(&a->ident_lock);
	id = a->idents[slot];
	if (id && id->pid == pid && id->uid == uid && id->gid == gid) {
		__atomic_add_fetch(&id->refs, 1, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&a->ident_lock);
		if (now < id->expires && (!programs || ident_current(id)))
			return id;
		prev = id; /* its inspection may spare some work */
	} else {
		pthread_mutex_unlock(&a->ident_lock);
	}

	id = ident_read(pid, uid, gid);
	if (id && programs)
		ident_bind(a, id, prev);
	ident_put(prev);
	if (!id)
		return NULL;
	id->expires = now + IDENT_TTL_NS;
	id->refs = 2; /* the slot's and the caller's */
	pthread_mutex_lock(&a->ident_lock);
	for (size_t i = 0; i < IDENT_SLOTS && !id->serial; i++)
		if (a->idents[i] && same_identity(a->idents[i], id))
			id->serial = a->idents[i]->serial;
	if (!id->serial)
		id->serial = ++a->serial;
	old = a->idents[slot];
	a->idents[slot] = id;
	pthread_mutex_unlock(&a->ident_lock);
	ident_put(old);
	return id;
}

/* Every decision on an access by a caller passes here. The journal
 * records each denial, with its path (the accesses an emergency grant
 * allowed are journaled by the operation itself, flagged); the system log
 * only gets denials and the accesses an emergency grant allowed, with the
 * uid, the operation and the deciding rule's line, never the path. */
static void note_access(struct access *a, const struct caller *c, const char *op,
			const char *path, unsigned right, const struct medfs_decision *d);

int caller_get(struct access *a, struct caller *c)
{
	struct fuse_context *ctx = fuse_get_context();
	const struct medfs_decision denied = { 0, 0, 0 };

	c->uid = ctx->uid;
	c->gid = ctx->gid;
	c->pid = ctx->pid;
	c->id = ident_get(a, c->pid, c->uid, c->gid);
	/* Without a policy the groups decide nothing: only the journal
	 * misses the program. */
	if (c->id || !a->policy_path)
		return 0;
	audit_log(a->foreground, LOG_WARNING,
		  "cannot identify the caller: uid=%u pid=%d: %s", (unsigned)c->uid,
		  (int)c->pid, strerror(errno));
	note_access(a, c, "identify", NULL, 0, &denied);
	return -EACCES;
}

void caller_put(struct caller *c)
{
	ident_put(c->id);
	c->id = NULL;
}

const char *caller_program(const struct caller *c)
{
	return c->id ? c->id->exe : NULL;
}

/* Emergency grants, one per uid. Deadlines on CLOCK_BOOTTIME, which keeps
 * counting while the machine is suspended: a grant of an hour ends an
 * hour of real time later. */

static void iso_time(time_t t, char *buf, size_t size)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The grants' clock. */
static uint64_t boot_ns(void)
{
	return clock_ns(CLOCK_BOOTTIME);
}

static void wake_keeper(struct access *a, char cmd);

/* A grant ended with files still open under it: the keeper tells the
 * driver, which drops what the kernel caches of them (a notification to
 * the kernel may wait for a read in progress, so never from a request). */
static void grant_ended_queue(struct access *a, uint64_t serial)
{
	pthread_mutex_lock(&a->ended_lock);
	if (a->n_ended == a->max_ended) {
		size_t max = a->max_ended ? 2 * a->max_ended : 8;
		uint64_t *p = realloc(a->ended, max * sizeof(*p));

		if (p) {
			a->ended = p;
			a->max_ended = max;
		}
	}
	if (a->n_ended < a->max_ended)
		a->ended[a->n_ended++] = serial;
	pthread_mutex_unlock(&a->ended_lock);
	wake_keeper(a, 'e');
}

/* In the keeper, outside every lock of ours. */
static void grant_ended_tell(struct access *a)
{
	uint64_t *ended;
	size_t n;

	pthread_mutex_lock(&a->ended_lock);
	ended = a->ended;
	n = a->n_ended;
	a->ended = NULL;
	a->n_ended = a->max_ended = 0;
	pthread_mutex_unlock(&a->ended_lock);
	for (size_t i = 0; i < n && a->on_grant_end; i++)
		a->on_grant_end(a->grant_end_ctx, ended[i]);
	free(ended);
}

void access_set_grant_end(struct access *a, access_grant_end_fn fn, void *ctx)
{
	a->grant_end_ctx = ctx;
	a->on_grant_end = fn;
}

/* medfs_grants' on_end: under the table's lock, so no call back into it. */
static void grant_ended(void *ctx, const struct medfs_grant *g, const char *how)
{
	struct access *a = ctx;

	if (g->open)
		audit_log(a->foreground, LOG_NOTICE,
			  "emergency access of uid=%u %s after %lu accesses; %lu files "
			  "opened under it are refused from now on",
			  (unsigned)g->uid, how, g->accesses, g->open);
	else
		audit_log(a->foreground, LOG_NOTICE,
			  "emergency access of uid=%u %s after %lu accesses",
			  (unsigned)g->uid, how, g->accesses);
	jnl_emergency_end(a->journal, g->uid, how, g->accesses);
	if (g->open)
		grant_ended_queue(a, g->serial);
}

/* The serial of uid's running emergency grant, 0 for none. */
static uint64_t grant_active(struct access *a, uid_t uid)
{
	return medfs_grants_active(a->grants, uid, boot_ns());
}

static void wake_keeper(struct access *a, char cmd)
{
	ssize_t n;

	if (a->pipe[1] < 0)
		return;
	n = write(a->pipe[1], &cmd, 1);
	(void)n; /* a full pipe already holds a wake-up */
}

static int grant_start(struct access *a, uid_t uid, unsigned seconds)
{
	char from[32], until[32];
	struct medfs_grant g;
	int ret;

	ret = medfs_grants_start(a->grants, uid, seconds, boot_ns(), time(NULL), &g);
	if (ret < 0)
		return ret;
	iso_time(g.start, from, sizeof(from));
	iso_time(g.end, until, sizeof(until));
	audit_log(a->foreground, LOG_NOTICE,
		  "emergency access granted: uid=%u from %s until %s", (unsigned)uid,
		  from, until);
	wake_keeper(a, 'g');
	return 0;
}

/* Milliseconds until the next grant expires, -1 for none. */
static int grants_timeout(struct access *a)
{
	uint64_t next = medfs_grants_next_deadline(a->grants), now, ms;

	if (next == UINT64_MAX)
		return -1;
	now = boot_ns();
	if (next <= now)
		return 0;
	ms = (next - now + 999999) / 1000000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

static void note_access(struct access *a, const struct caller *c, const char *op,
			const char *path, unsigned right, const struct medfs_decision *d)
{
	uint64_t now;

	if (!d->allowed) {
		audit_log(a->foreground, LOG_WARNING,
			  "denied: uid=%u op=%s right=%s rule=%u", (unsigned)c->uid, op,
			  right_name(right), d->line);
		jnl_denied(a->journal, c, op, path, right_name(right), d->line);
		return;
	}
	if (!d->emergency)
		return;
	__atomic_add_fetch(&a->emergency_uses, 1, __ATOMIC_RELAXED);
	now = boot_ns();
	(void)medfs_grants_use(a->grants, medfs_grants_active(a->grants, c->uid, now),
			       now);
	audit_log(a->foreground, LOG_NOTICE,
		  "emergency access: uid=%u op=%s right=%s rule=%u", (unsigned)c->uid, op,
		  right_name(right), d->line);
}

/* Decisions. */

/* Under policy_lock (read). */
static void subject_of(const struct access *a, const struct caller *c, int emergency,
		       struct medfs_subject *s)
{
	s->uid = c->uid;
	s->gid = c->gid;
	s->groups = c->id->groups;
	s->ngroups = c->id->ngroups;
	s->program = ident_program(a, c->id);
	s->emergency = emergency;
}

static size_t verdict_slot(const struct access *a, uint64_t serial, unsigned key,
			   const char *path, size_t len)
{
	unsigned char h[crypto_shorthash_BYTES];
	uint64_t x;

	crypto_shorthash(h, (const unsigned char *)path, len, a->hash_key);
	memcpy(&x, h, sizeof(x));
	x ^= serial * 0x9e3779b97f4a7c15ULL;
	x ^= (uint64_t)key * 0xc2b2ae3d27d4eb4fULL;
	x ^= x >> 31;
	return (size_t)(x % VERDICT_SLOTS);
}

/* One right; under policy_lock (read). A collision overwrites the slot. */
static void decide_one(struct access *a, const struct caller *c, int emergency,
		       const char *path, unsigned right, struct medfs_decision *d)
{
	size_t len = strlen(path);
	uint64_t serial = c->id->serial;
	pthread_mutex_t *lock = NULL;
	struct verdict *v = NULL;
	struct medfs_subject s;

	if (len < VERDICT_PATH) {
		size_t slot =
			verdict_slot(a, serial, right << 1 | (emergency != 0), path, len);

		v = &a->verdicts[slot];
		lock = &a->verdict_locks[slot % VERDICT_LOCKS];
		pthread_mutex_lock(lock);
		if (v->gen == a->gen && v->serial == serial && v->right == right &&
		    v->emergency == (emergency != 0) &&
		    memcmp(v->path, path, len + 1) == 0) {
			*d = v->d;
			pthread_mutex_unlock(lock);
			return;
		}
		pthread_mutex_unlock(lock);
	}
	subject_of(a, c, emergency, &s);
	medfs_policy_decide(a->policy, &s, path, right, d);
	/* What medfs-fsck quarantined is root's alone, whatever a rule says
	 * (doc/POLICY.md): no pattern, however wide, hands it out. */
	if (d->allowed && c->uid != 0 && medfs_repair_quarantined(path)) {
		d->allowed = 0;
		d->line = 0;
		d->emergency = 0;
	}
	if (!v)
		return;
	pthread_mutex_lock(lock);
	v->gen = a->gen;
	v->serial = serial;
	v->right = (unsigned char)right;
	v->emergency = emergency != 0;
	v->d = *d;
	memcpy(v->path, path, len + 1);
	pthread_mutex_unlock(lock);
}

void access_set_journal(struct access *a, struct jnl *j)
{
	a->journal = j;
}

int access_has_policy(const struct access *a)
{
	return a->policy_path != NULL;
}

int access_decide(struct access *a, const struct caller *c, const char *op,
		  const char *path, unsigned rights, int how, struct access_verdict *v)
{
	struct medfs_decision d[6];
	unsigned asked[6];
	size_t n = 0, first;
	uint64_t em;
	int flagged = 0;

	if (v) {
		v->emergency = 0;
		v->rule = 0;
		v->grant = 0;
	}
	if (!a->policy_path) {
		const struct medfs_decision owner = { c->uid == a->owner, 0, 0 };

		if (!owner.allowed)
			note_access(a, c, op, path, rights, &owner);
		return owner.allowed ? 0 : -EACCES;
	}
	if (!rights)
		return 0;
	em = grant_active(a, c->uid);
	pthread_rwlock_rdlock(&a->policy_lock);
	for (unsigned r = 1; r <= MEDFS_RIGHT_ALL; r <<= 1) {
		if (!(rights & r))
			continue;
		asked[n] = r;
		decide_one(a, c, em != 0, path, r, &d[n]);
		if (d[n++].allowed == (how == ACCESS_ANY))
			break;
	}
	pthread_rwlock_unlock(&a->policy_lock);
	if (n == 0)
		return -EACCES; /* no right the policy knows */

	/* All: every allowed right and the denied one. Any: the one that
	 * allowed, or the last denial. */
	first = how == ACCESS_ANY ? n - 1 : 0;
	for (size_t i = first; i < n; i++) {
		note_access(a, c, op, path, asked[i], &d[i]);
		flagged |= d[i].allowed && d[i].emergency;
	}
	if (!d[n - 1].allowed)
		return -EACCES;
	if (v) {
		v->emergency = flagged;
		v->rule = d[n - 1].line;
		v->grant = flagged ? em : 0;
	}
	return 0;
}

int access_decide_move(struct access *a, const struct caller *c, const char *from,
		       int from_dir, const char *to, struct access_verdict *v)
{
	struct medfs_decision d;
	uint64_t em;

	if (v) {
		v->emergency = 0;
		v->rule = 0;
		v->grant = 0;
	}
	if (!a->policy_path)
		return 0;
	em = grant_active(a, c->uid);
	d.emergency = em != 0;
	pthread_rwlock_rdlock(&a->policy_lock);
	{
		struct medfs_subject s;

		subject_of(a, c, d.emergency, &s);
		medfs_policy_decide_move(a->policy, &s, from, from_dir, to, &d);
	}
	pthread_rwlock_unlock(&a->policy_lock);
	if (!d.allowed) {
		audit_log(a->foreground, LOG_WARNING,
			  "denied: uid=%u op=rename right=move rule=%u", (unsigned)c->uid,
			  d.line);
		jnl_denied(a->journal, c, "rename", from, "move", d.line);
		return -EACCES;
	}
	if (d.emergency)
		note_access(a, c, "rename", from, MEDFS_RIGHT_READ, &d);
	if (v) {
		v->emergency = d.emergency;
		v->rule = d.line;
		v->grant = d.emergency ? em : 0;
	}
	return 0;
}

void access_mode_caller(const struct caller *c, struct medfs_mode_caller *mc)
{
	mc->uid = c->uid;
	mc->gid = c->gid;
	mc->groups = c->id ? c->id->groups : NULL;
	mc->ngroups = c->id ? c->id->ngroups : 0;
}

int access_mode_refused(struct access *a, const struct caller *c, const char *op,
			const char *path, int err)
{
	audit_log(a->foreground, LOG_WARNING, "denied: uid=%u op=%s right=mode rule=0",
		  (unsigned)c->uid, op);
	jnl_denied(a->journal, c, op, path, "mode", 0);
	return err;
}

int access_mode(struct access *a, const struct caller *c, const char *op,
		const char *path, const struct stat *st, int mask)
{
	struct medfs_mode_caller mc;

	access_mode_caller(c, &mc);
	if (medfs_mode_permits(&mc, st->st_mode, st->st_uid, st->st_gid, mask) == 0)
		return 0;
	return access_mode_refused(a, c, op, path, -EACCES);
}

int access_listed(struct access *a, const struct caller *c, const char *path,
		  unsigned *emergency_rule)
{
	struct medfs_decision d;
	int em;

	if (!a->policy_path)
		return 1;
	em = grant_active(a, c->uid) != 0;
	pthread_rwlock_rdlock(&a->policy_lock);
	decide_one(a, c, em, path, MEDFS_RIGHT_LIST, &d);
	pthread_rwlock_unlock(&a->policy_lock);
	if (d.allowed && d.emergency)
		*emergency_rule = d.line;
	return d.allowed;
}

void access_listed_emergency(struct access *a, const struct caller *c, unsigned rule)
{
	const struct medfs_decision d = { 1, rule, 1 };

	note_access(a, c, "readdir", NULL, MEDFS_RIGHT_LIST, &d);
}

int access_grant_use(struct access *a, uint64_t grant, const char *op, unsigned right)
{
	if (medfs_grants_use(a->grants, grant, boot_ns()) == 0)
		return 0;
	audit_log(a->foreground, LOG_WARNING,
		  "denied: uid=%u op=%s right=%s rule=0: the emergency grant it was "
		  "opened under has ended",
		  (unsigned)fuse_get_context()->uid, op, right_name(right));
	return -EACCES;
}

void access_grant_hold(struct access *a, uint64_t grant)
{
	medfs_grants_hold(a->grants, grant);
}

void access_grant_drop(struct access *a, uint64_t grant)
{
	medfs_grants_drop(a->grants, grant);
}

/* The emergency attributes. */

int access_special_xattr(const char *path, const char *name)
{
	return strcmp(path, "/") == 0 &&
	       (strcmp(name, EMERGENCY_XATTR) == 0 || strcmp(name, GRANTS_XATTR) == 0);
}

/* getxattr's answer: the size alone, or the text if it fits. */
static int xattr_out(const char *text, size_t len, char *value, size_t size)
{
	if (len > INT_MAX)
		return -E2BIG;
	if (size == 0)
		return (int)len;
	if (size < len)
		return -ERANGE;
	memcpy(value, text, len);
	return (int)len;
}

static int blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' &&
		    s[i] != '\0')
			return 0;
	return 1;
}

/* Starts (or renews) the caller's grant. The reason is required but
 * never logged: it may name a patient. It goes to the journal, encrypted,
 * first: a grant that cannot be journaled is refused with EIO. */
int access_xattr_set(struct access *a, const char *name, const char *value, size_t size)
{
	const struct medfs_decision refused = { 0, 0, 0 };
	struct medfs_subject s;
	struct caller c;
	unsigned seconds = 0;
	int eligible = 0, ret;

	if (strcmp(name, GRANTS_XATTR) == 0)
		return -EPERM;
	if (blank(value, size))
		return -EINVAL;
	ret = caller_get(a, &c);
	if (ret < 0)
		return ret;
	if (size > MEDFS_GRANT_REASON_MAX) {
		audit_log(a->foreground, LOG_WARNING,
			  "emergency access refused: uid=%u: a reason of %zu bytes, "
			  "longer than %d",
			  (unsigned)c.uid, size, MEDFS_GRANT_REASON_MAX);
		caller_put(&c);
		return -E2BIG;
	}
	if (a->policy_path) {
		pthread_rwlock_rdlock(&a->policy_lock);
		subject_of(a, &c, 0, &s);
		eligible = medfs_policy_emergency_eligible(a->policy, &s);
		seconds = medfs_policy_emergency_seconds(a->policy);
		pthread_rwlock_unlock(&a->policy_lock);
	}
	if (eligible) {
		ret = jnl_emergency_start(a->journal, &c, value, size, seconds);
		if (ret == 0)
			ret = grant_start(a, c.uid, seconds);
	} else {
		note_access(a, &c, "emergency", NULL, 0, &refused);
		ret = -EACCES;
	}
	caller_put(&c);
	return ret;
}

static int grants_text(struct access *a, const struct caller *c, char **text, size_t *len)
{
	const struct medfs_decision refused = { 0, 0, 0 };
	char from[32], until[32];
	struct medfs_grant *g = NULL;
	size_t n, max, size, used = 0;
	char *buf;

	if (c->uid != a->owner && c->uid != 0) {
		note_access(a, c, "grants", NULL, 0, &refused);
		return -EACCES;
	}
	/* Grants may start between the count and the copy: a few more. */
	max = medfs_grants_list(a->grants, boot_ns(), NULL, 0) + 8;
	g = calloc(max, sizeof(*g));
	if (!g)
		return -ENOMEM;
	n = medfs_grants_list(a->grants, boot_ns(), g, max);
	if (n > max)
		n = max;
	size = n * 128 + 1;
	buf = malloc(size);
	for (size_t i = 0; buf && i < n; i++) {
		iso_time(g[i].start, from, sizeof(from));
		iso_time(g[i].end, until, sizeof(until));
		used += (size_t)snprintf(buf + used, size - used,
					 "uid=%u start=%s end=%s accesses=%lu\n",
					 (unsigned)g[i].uid, from, until, g[i].accesses);
	}
	free(g);
	if (!buf)
		return -ENOMEM;
	*text = buf;
	*len = used;
	return 0;
}

int access_xattr_get(struct access *a, const char *name, char *value, size_t size)
{
	char until[32], own[64];
	char *text = NULL;
	size_t len = 0;
	struct medfs_grant g;
	struct caller c;
	int ret;

	ret = caller_get(a, &c);
	if (ret < 0)
		return ret;
	if (strcmp(name, GRANTS_XATTR) == 0) {
		ret = grants_text(a, &c, &text, &len);
		if (ret == 0)
			ret = xattr_out(text, len, value, size);
		free(text);
		goto out;
	}
	ret = medfs_grants_get(a->grants, c.uid, boot_ns(), &g);
	if (ret == 0) {
		iso_time(g.end, until, sizeof(until));
		len = (size_t)snprintf(own, sizeof(own), "active until %s", until);
		ret = xattr_out(own, len, value, size);
	}
out:
	caller_put(&c);
	return ret;
}

int access_xattr_remove(struct access *a, const char *name)
{
	struct caller c;
	int ret;

	if (strcmp(name, GRANTS_XATTR) == 0)
		return -EPERM;
	ret = caller_get(a, &c);
	if (ret < 0)
		return ret;
	ret = medfs_grants_end(a->grants, c.uid, boot_ns(), "ended by its holder");
	caller_put(&c);
	return ret;
}

/* Reload, and the keeper thread. */

static void reload(struct access *a)
{
	const struct loader l = { a->policy_path, say_audit, a };
	struct medfs_policy *p = NULL, *old;
	struct medfs_progtab *t = NULL, *old_t;
	uint8_t digest[32];

	if (load(a->policy_path, a->owner, &l, &p) == 0 && a->names_cached &&
	    medfs_policy_names_program(p)) {
		audit_log(a->foreground, LOG_ERR,
			  "policy %s binds rules to programs, which this mount cannot "
			  "apply to the names the kernel keeps for a second; remount to "
			  "use it (or mount with -o entry_timeout=0)",
			  a->policy_path);
		medfs_policy_free(p);
		p = NULL;
	}
	if (p && bind_programs(p, &l, &t) < 0) {
		medfs_policy_free(p);
		p = NULL;
	}
	if (!p) {
		audit_log(a->foreground, LOG_ERR,
			  "policy %s rejected: the policy in force stays",
			  a->policy_path);
		pthread_rwlock_rdlock(&a->policy_lock);
		medfs_policy_digest(a->policy, digest);
		pthread_rwlock_unlock(&a->policy_lock);
		jnl_policy_load(a->journal, a->policy_path, digest, 0);
		return;
	}
	medfs_policy_digest(p, digest);
	pthread_rwlock_wrlock(&a->policy_lock);
	old = a->policy;
	old_t = a->progtab;
	a->policy = p;
	a->progtab = t;
	a->gen++; /* every cached decision and program binding is now stale */
	__atomic_store_n(&a->programs, medfs_policy_names_program(p), __ATOMIC_RELEASE);
	pthread_rwlock_unlock(&a->policy_lock);
	medfs_policy_free(old);
	medfs_progtab_free(old_t);
	audit_log(a->foreground, LOG_NOTICE, "policy reloaded from %s", a->policy_path);
	jnl_policy_load(a->journal, a->policy_path, digest, 1);
}

/* Reloads on request and ends grants on time, so that their end is
 * logged when it happens (decisions check the deadline themselves). */
static void *keeper(void *arg)
{
	struct access *a = arg;
	char cmds[64];

	for (;;) {
		struct pollfd p = { .fd = a->pipe[0], .events = POLLIN };
		int quit = 0, again = 0, n;
		ssize_t got;

		n = poll(&p, 1, grants_timeout(a));
		if (n < 0 && errno != EINTR)
			break;
		medfs_grants_expire(a->grants, boot_ns());
		grant_ended_tell(a);
		if (n <= 0)
			continue;
		got = read(a->pipe[0], cmds, sizeof(cmds));
		for (ssize_t i = 0; i < got; i++) {
			quit |= cmds[i] == 'q';
			again |= cmds[i] == 'h';
		}
		if (quit)
			break;
		if (again)
			reload(a);
	}
	return NULL;
}

/* The write end of the keeper's pipe, for the signal handler. */
static int hup_fd = -1;

static void on_sighup(int sig)
{
	const char cmd = 'h';
	int saved = errno;
	ssize_t n;

	(void)sig;
	n = write(hup_fd, &cmd, 1);
	(void)n; /* a full pipe already holds a reload */
	errno = saved;
}

int access_start(struct access *a)
{
	struct sigaction sa = { .sa_handler = on_sighup, .sa_flags = SA_RESTART };
	int err;

	if (!a->policy_path)
		return 0;
	if (pipe2(a->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		a->pipe[0] = a->pipe[1] = -1;
		return -errno;
	}
	err = medfs_thread_start(&a->keeper, NULL, keeper, a);
	if (err)
		return -err;
	a->started = 1;
	hup_fd = a->pipe[1];
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGHUP, &sa, NULL) < 0)
		return -errno;
	return 0;
}

void access_stop(struct access *a)
{
	struct sigaction sa = { .sa_handler = SIG_IGN };

	if (!a->started)
		return;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
	hup_fd = -1;
	wake_keeper(a, 'q');
	pthread_join(a->keeper, NULL);
	a->started = 0;
	/* While the journal still takes their summaries. */
	medfs_grants_end_all(a->grants, "ended at unmount");
}

int access_new(struct access **out, const struct access_options *o)
{
	pthread_rwlockattr_t attr;
	struct access *a;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		goto fail;
	a->pipe[0] = a->pipe[1] = -1;
	a->owner = o->owner;
	a->foreground = o->foreground;
	a->names_cached = o->names_cached;
	a->gen = 1;
	if (o->policy_path) {
		a->policy_path = strdup(o->policy_path);
		a->verdicts = calloc(VERDICT_SLOTS, sizeof(*a->verdicts));
		if (!a->policy_path || !a->verdicts)
			goto fail;
	}
	a->policy = o->policy;
	if (o->policy) {
		/* Bound again (access_load_policy said what it found on stderr);
		 * the system log gets the warning of the kernel's setting. */
		if (medfs_progtab_new(o->policy, NULL, NULL, &a->progtab) < 0)
			goto fail;
		a->programs = medfs_policy_names_program(o->policy);
		if (a->programs) {
			const char *hole =
				medfs_procid_ptrace_open(medfs_procid_ptrace_scope());

			if (hole)
				audit_log(0, LOG_WARNING,
					  "rules bound to programs do not hold against a "
					  "user who debugs the program: %s",
					  hole);
		}
	}
	if (medfs_grants_new(&a->grants, grant_ended, a) < 0)
		goto fail;
	randombytes_buf(a->hash_key, sizeof(a->hash_key));
	/* Reloads must not starve behind a steady stream of decisions. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
				      PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&a->policy_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_mutex_init(&a->ident_lock, NULL);
	pthread_mutex_init(&a->ended_lock, NULL);
	for (size_t i = 0; i < VERDICT_LOCKS; i++)
		pthread_mutex_init(&a->verdict_locks[i], NULL);
	*out = a;
	return 0;
fail:
	if (a) {
		free(a->policy_path);
		free(a->verdicts);
		free(a);
	}
	if (o->policy)
		medfs_policy_free(o->policy);
	return -ENOMEM;
}

void access_free(struct access *a)
{
	if (!a)
		return;
	access_stop(a);
	if (a->pipe[0] >= 0)
		close(a->pipe[0]);
	if (a->pipe[1] >= 0)
		close(a->pipe[1]);
	if (a->emergency_uses)
		audit_log(a->foreground, LOG_NOTICE,
			  "%lu accesses made under emergency grants on this mount",
			  a->emergency_uses);
	for (size_t i = 0; i < IDENT_SLOTS; i++)
		ident_put(a->idents[i]);
	for (size_t i = 0; i < VERDICT_LOCKS; i++)
		pthread_mutex_destroy(&a->verdict_locks[i]);
	pthread_mutex_destroy(&a->ident_lock);
	pthread_rwlock_destroy(&a->policy_lock);
	if (a->policy)
		medfs_policy_free(a->policy);
	medfs_progtab_free(a->progtab);
	medfs_grants_free(a->grants);
	pthread_mutex_destroy(&a->ended_lock);
	free(a->ended);
	free(a->verdicts);
	free(a->policy_path);
	free(a);
}
