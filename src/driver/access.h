/* medfs driver: who may do what through the mount.
 *
 * The caller of each FUSE request (uid, gid, supplementary groups and the
 * executable of its pid), the access policy in force, emergency grants,
 * reload on SIGHUP, and the audit messages of denials and emergency
 * accesses. Without a policy only the user who mounted gets in. The
 * evaluation itself is the library's (medfs/policy.h); this is the glue
 * that feeds it from the FUSE request and caches its answers. */
#ifndef MEDFS_DRIVER_ACCESS_H
#define MEDFS_DRIVER_ACCESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "medfs/modecheck.h"
#include "medfs/policy.h"

struct access;
struct ident;
struct jnl;

/* The caller of the current request. */
struct caller {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	struct ident *id; /* groups and program; NULL when they cannot be read */
};

/* Reads (StrictModes: owned by root or owner, writable by nobody else)
 * and parses the policy file at start-up, printing every problem on
 * stderr, errors as "medfs: NAME:LINE:COL: error: MSG" where NAME is the
 * file as given. Returns 0 with the policy in *out, or -1. */
int access_load_policy(const char *path, const char *name, uid_t owner,
		       struct medfs_policy **out);

struct access_options {
	const char *policy_path;     /* absolute, for reloads; NULL: no policy */
	struct medfs_policy *policy; /* taken over, even on failure */
	uid_t owner;		     /* the user who mounted */
	int foreground;		     /* audit messages also go to stderr */
	int names_cached;	     /* reloads refuse program-bound rules */
};

/* Returns 0 or -errno. */
int access_new(struct access **out, const struct access_options *o);
void access_free(struct access *a);

/* The journal that gets denials, emergency grants and policy loads (see
 * journal_glue.h); NULL until it is open. Call before access_start. */
void access_set_journal(struct access *a, struct jnl *j);

/* With a policy: SIGHUP reloads it (the handler replaces libfuse's, so
 * call this after fuse_set_signal_handlers), and a thread reloads and
 * ends expired emergency grants on time. Returns 0 or -errno. */
int access_start(struct access *a);
void access_stop(struct access *a);

int access_has_policy(const struct access *a);

/* The caller of the current FUSE request. Returns 0, or -EACCES (logged)
 * when its groups cannot be read: then nobody can tell which group rules
 * apply, and it is denied everything. Pair with caller_put. */
int caller_get(struct access *a, struct caller *c);
void caller_put(struct caller *c);

/* The caller's executable path as /proc/PID/exe shows it, for the
 * journal, or NULL when unknown. (Rules bound to programs are judged on
 * the executable file itself, not on this path.) */
const char *caller_program(const struct caller *c);

/* How access_decide combines several rights. */
enum { ACCESS_ALL, ACCESS_ANY };

/* What decided an allowed access. */
struct access_verdict {
	int emergency;	/* only an emergency grant allowed it */
	unsigned rule;	/* line of the rule that decided (the last right asked), 0 if none
			 */
	uint64_t grant; /* with emergency: the grant that allowed it */
};

/* Decides rights (MEDFS_RIGHT_* bits: all of them, or any one with
 * ACCESS_ANY) on path for caller c doing op (a name for the log). No
 * rights: only whether c may use the mount at all. Returns 0, or -EACCES,
 * logged with the uid, op and deciding rule line (never the path) and
 * journaled with the path. Fills *v (may be NULL) when allowed. */
int access_decide(struct access *a, const struct caller *c, const char *op,
		  const char *path, unsigned rights, int how, struct access_verdict *v);

/* A rename of from (a directory when from_dir) to to, beyond the delete
 * and create rights access_decide checks: whether it leaves everybody's
 * rights at and below both paths as they were, or moves a file c may read
 * (medfs_policy_decide_move; an exchange asks both ways). Returns 0, or
 * -EACCES logged (op rename, right move) and journaled with from. */
int access_decide_move(struct access *a, const struct caller *c, const char *from,
		       int from_dir, const char *to, struct access_verdict *v);

/* Whether c holds mask (R_OK, W_OK, X_OK) on an object with the
 * attributes st by its mode bits, as the kernel would decide
 * (medfs/modecheck.h). Returns 0, or -EACCES logged (right mode) and
 * journaled as a denial of path. */
int access_mode(struct access *a, const struct caller *c, const char *op,
		const char *path, const struct stat *st, int mask);
/* The caller as medfs/modecheck.h sees it (its groups when known). */
void access_mode_caller(const struct caller *c, struct medfs_mode_caller *mc);
/* Logs and journals a refusal by mode (err: -EACCES or -EPERM) and
 * returns err. */
int access_mode_refused(struct access *a, const struct caller *c, const char *op,
			const char *path, int err);

/* readdir: whether c may see path (list), without logging a denial.
 * When only an emergency grant shows it, *emergency_rule is set to the
 * line of the rule that does. */
int access_listed(struct access *a, const struct caller *c, const char *path,
		  unsigned *emergency_rule);
/* Counts and logs one listing that showed entries only under an emergency
 * grant (rule: a line access_listed gave). */
void access_listed_emergency(struct access *a, const struct caller *c, unsigned rule);

/* A file opened under an emergency grant (a verdict's grant) lives only as
 * long as the grant: access_grant_use counts one read, write or truncation
 * through it in the grant, or refuses it with -EACCES (logged, with the
 * caller's uid, op and right) once that grant has ended; hold and drop
 * count it among the grant's open files from its open to its release. */
int access_grant_use(struct access *a, uint64_t grant, const char *op, unsigned right);
/* Called from the keeper thread, outside every lock of access.c, after a
 * grant ended with files still open under it, so that the driver drops
 * what the kernel caches of them (which would be read without asking).
 * Set before access_start. */
typedef void (*access_grant_end_fn)(void *ctx, uint64_t grant);
void access_set_grant_end(struct access *a, access_grant_end_fn fn, void *ctx);
void access_grant_hold(struct access *a, uint64_t grant);
void access_grant_drop(struct access *a, uint64_t grant);

/* The emergency attributes of the mount root: user.medfs.emergency (the
 * caller's own grant: set with a reason to start it, get, remove to end
 * it) and user.medfs.emergency.grants (every active grant, for the user
 * who mounted and root). A reason longer than MEDFS_GRANT_REASON_MAX bytes
 * is refused with -E2BIG, logged. access_special_xattr says whether path and name
 * are one of them; the others return 0 (or a byte count) or -errno. */
int access_special_xattr(const char *path, const char *name);
int access_xattr_set(struct access *a, const char *name, const char *value, size_t size);
int access_xattr_get(struct access *a, const char *name, char *value, size_t size);
int access_xattr_remove(struct access *a, const char *name);

/* Security messages: syslog's LOG_AUTHPRIV, and stderr in the foreground.
 * Never a path nor a name: those are patient data. */
void audit_log(int foreground, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
