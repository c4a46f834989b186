/* medfs: the access policy, parsed and evaluated.
 *
 * Pure: parsing works on text handed to it and evaluation on a subject
 * handed to it; no I/O and no clock here (names are resolved through a
 * callback, and the caller says whether an emergency grant is active).
 * A parsed policy is immutable and may be shared by any number of
 * threads. The language is specified in doc/POLICY.md. */
#ifndef MEDFS_POLICY_H
#define MEDFS_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum medfs_right {
	MEDFS_RIGHT_LIST = 1 << 0,
	MEDFS_RIGHT_READ = 1 << 1,
	MEDFS_RIGHT_WRITE = 1 << 2,
	MEDFS_RIGHT_CREATE = 1 << 3,
	MEDFS_RIGHT_DELETE = 1 << 4,
	MEDFS_RIGHT_SETATTR = 1 << 5,
};
#define MEDFS_RIGHT_ALL 0x3f

struct medfs_policy;

/* One error or warning, with its position (1-based line and column). The
 * message says what was expected and never quotes more of the input than
 * the offending token. */
struct medfs_policy_diag {
	unsigned line, column;
	int warning; /* 0 for an error */
	char message[192];
};

typedef void (*medfs_policy_diag_fn)(void *ctx, const struct medfs_policy_diag *d);

/* Resolves a user (is_group 0) or group name to its id. Returns 0, or
 * -ENOENT for an unknown name. */
typedef int (*medfs_policy_resolve_fn)(void *ctx, int is_group, const char *name,
				       unsigned long *id);

/* Parses len bytes of policy text. Every error and warning goes to diag
 * (may be NULL). Returns 0 with the policy in *out, -EINVAL when there was
 * any error (nothing in *out), -ENOMEM. resolve may be NULL: names are then
 * errors, numeric ids work. */
int medfs_policy_parse(const char *text, size_t len, medfs_policy_resolve_fn resolve,
		       void *resolve_ctx, medfs_policy_diag_fn diag, void *diag_ctx,
		       struct medfs_policy **out);
void medfs_policy_free(struct medfs_policy *p);

/* Who asks. groups holds the supplementary groups (gid need not be in it);
 * program is the caller's executable path or NULL when unknown. */
struct medfs_subject {
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t ngroups;
	const char *program;
	int emergency; /* the caller holds an active emergency grant */
};

struct medfs_decision {
	int allowed;
	unsigned line; /* rule that decided; 0 for the default deny */
	int emergency; /* allowed only by an emergency rule */
};

/* Decides one right (a single MEDFS_RIGHT_*) on an absolute path ("/" or
 * "/a/b"). Deny beats allow; no matching rule denies. List is also granted
 * on the directories above anything an allow rule could match, unless a
 * deny rule for list matches the directory itself. */
void medfs_policy_decide(const struct medfs_policy *p, const struct medfs_subject *s,
			 const char *path, unsigned right, struct medfs_decision *d);

/* Whether what is at from (a directory when from_dir) may be moved to
 * to, besides the delete and create rights the rename needs: a rename
 * must not change anybody's rights at or below either path beyond what
 * the caller could do without it. Allowed when every rule of the policy,
 * whatever its subject, program or emergency flag, matches every path at
 * and below from exactly as it matches the same path moved below to (its
 * pattern reaches the same positions after both paths); otherwise, for
 * what is not a directory, when s may read from (it could copy the file
 * there and delete it); otherwise denied, d->line naming the first rule
 * that tells the two paths apart. "/" is never moved. For an exchange,
 * decide both ways. */
void medfs_policy_decide_move(const struct medfs_policy *p, const struct medfs_subject *s,
			      const char *from, int from_dir, const char *to,
			      struct medfs_decision *d);

/* Whether some emergency rule names this subject (ignoring s->emergency),
 * and how long a grant lasts, in seconds. */
int medfs_policy_emergency_eligible(const struct medfs_policy *p,
				    const struct medfs_subject *s);
unsigned medfs_policy_emergency_seconds(const struct medfs_policy *p);

/* Whether some rule is bound to a program: then two processes of one user
 * may be told different things about the same name. */
int medfs_policy_names_program(const struct medfs_policy *p);

/* The program of the i-th rule (file order) and that rule's position:
 * returns 0 with *program (NULL for a rule bound to no program), or
 * -ENOENT past the last rule. */
int medfs_policy_rule_program(const struct medfs_policy *p, size_t i, const char **program,
			      unsigned *line, unsigned *column);

/* BLAKE2b-256 of the policy's source text, for the journal. */
void medfs_policy_digest(const struct medfs_policy *p, uint8_t out[32]);

/* Name of a single right ("list", ...), or "?"; and the reverse, 0 when
 * unknown. */
const char *medfs_right_name(unsigned right);
unsigned medfs_right_from_name(const char *name);

/* Reads a policy file for loading: checks that it is a regular file owned
 * by root or by owner and writable by nobody else (nor its directory), the
 * way sshd's StrictModes does, then reads it whole into a malloc'd buffer.
 * Returns 0; -EPERM with a reason in why (whysz bytes) when not trusted;
 * -errno. Lives in policy_file.c, apart from the pure evaluator. */
int medfs_policy_read_file(const char *path, uid_t owner, char **text, size_t *len,
			   char *why, size_t whysz);

#endif
