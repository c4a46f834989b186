/* medfs: which program a process runs, judged from /proc.
 *
 * A policy rule bound to a program ("program PATH", doc/POLICY.md) is bound
 * to the executable file PATH named when the policy was loaded, as the
 * loader's mount namespace sees it: its device, inode and BLAKE2b-256
 * digest (the program table, medfs_progtab). A process runs that program
 * when its executable (the file /proc/PID/exe leads to, not the path
 * string it shows) is that file, with the content it had at load, and the
 * process can be trusted to run that file's code alone:
 *
 *   - it has no tracer (TracerPid in /proc/PID/status);
 *   - it lives in the loader's user namespace (/proc/PID/ns/user);
 *   - every file it maps executable code from (/proc/PID/maps) is owned
 *     by root and writable by nobody else.
 *
 * The parsers of /proc text and the judgement of a maps text are pure and
 * crash-free on any input; the functions that inspect a live process and
 * build the program table read /proc and the files. Messages (why) never
 * hold a path: program paths may name patients. */
#ifndef MEDFS_PROCID_H
#define MEDFS_PROCID_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "medfs/policy.h"

#define MEDFS_PROCID_DIGEST_BYTES 32	  /* crypto_generichash, BLAKE2b-256 */
#define MEDFS_PROCID_MAPS_MAX (16U << 20) /* larger maps texts are refused */

/* One line of /proc/PID/maps. */
struct medfs_procid_map {
	unsigned long long start, end;
	int exec; /* 'x' in the permissions */
	unsigned major, minor;
	unsigned long long ino;
	const char *path; /* into the line, not terminated; "" when none */
	size_t path_len;
};

/* Parses one line of /proc/PID/maps (without its '\n'). Returns 0, or
 * -EINVAL when it is not one. */
int medfs_procid_parse_map(const char *line, size_t len, struct medfs_procid_map *m);

/* The TracerPid of a /proc/PID/status text. Returns 0, or -EINVAL when
 * it has no well-formed TracerPid line. */
int medfs_procid_parse_tracer(const char *status, size_t len, long *tracer);

/* The start time (field 22, clock ticks after boot) of a /proc/PID/stat
 * text, whose command name may hold any byte. Returns 0 or -EINVAL. */
int medfs_procid_parse_start(const char *stat, size_t len, unsigned long long *start);

/* Whether a file may provide trusted code: a regular file owned by root
 * and writable by neither its group nor others. Returns 1 or 0. */
int medfs_procid_file_trusted(const struct stat *st);

/* Finds the file of an executable mapping: fills *st and returns 0, or
 * -errno when it cannot be found or is not the mapped one. */
typedef int (*medfs_procid_stat_fn)(void *ctx, const struct medfs_procid_map *m,
				    struct stat *st);

/* Judges the executable mappings of a maps text: every file-backed one
 * must come from a trusted file (medfs_procid_file_trusted), found through
 * stat_fn, called once per distinct device and inode. Anonymous mappings
 * (inode 0: the kernel's [vdso], code written at run time) are accepted.
 * digest (may be NULL) gets a BLAKE2b-256 of the executable mappings'
 * device, inode and path, to tell whether a later maps text maps the same
 * code. Returns 1 (trusted), 0 (not, with the reason in why) or -EINVAL
 * for a malformed text. */
int medfs_procid_maps_trusted(const char *maps, size_t len, medfs_procid_stat_fn stat_fn,
			      void *ctx, uint8_t digest[MEDFS_PROCID_DIGEST_BYTES],
			      char *why, size_t whysz);

/* BLAKE2b-256 of everything read from fd, from its current offset.
 * Returns 0 or -errno. */
int medfs_procid_digest_fd(int fd, uint8_t out[MEDFS_PROCID_DIGEST_BYTES]);

/* What inspecting a live process found. */
struct medfs_procid {
	unsigned long long start; /* start time: ticks after boot */
	struct stat exe;	  /* the executable file, through /proc/PID/exe */
	int trusted;		  /* 1: no tracer, our user namespace, trusted code */
	char why[128];		  /* when not trusted: why, without a path */
	uint8_t maps_digest[MEDFS_PROCID_DIGEST_BYTES];
	int maps_judged; /* maps_digest and the maps verdict are set */
	int maps_trusted;
};

/* Whether two stats are of the same file with the same content as far as
 * its metadata tells (device, inode, size, change time). */
int medfs_procid_same_file(const struct stat *a, const struct stat *b);

/* stat of /proc/PID/exe: the executable file itself, wherever and in
 * whatever namespace it was found. Returns 0 or -errno. */
int medfs_procid_exe(pid_t pid, struct stat *st);

/* The TracerPid of pid (0: none). Returns 0 or -errno. */
int medfs_procid_tracer(pid_t pid, long *tracer);

/* Inspects pid (a thread id will do). prev (may be NULL) is an earlier
 * inspection of the same pid: when its start time and executable are the
 * same and the executable mappings have not changed, their files are not
 * looked at again. Returns 0 with *out filled (out->trusted says the
 * verdict), or -errno when the process cannot be read (gone, or not ours
 * to inspect): then it runs no program a rule can name. */
int medfs_procid_inspect(pid_t pid, const struct medfs_procid *prev,
			 struct medfs_procid *out);

/* Yama's ptrace_scope (/proc/sys/kernel/yama/ptrace_scope, read, never
 * written): 0 to 3, or -ENOENT without Yama, -errno. */
int medfs_procid_ptrace_scope(void);

/* Whether processes of the caller's own user may still attach to a
 * program (and so run their code as it) under that scope (a value of
 * medfs_procid_ptrace_scope): NULL when not, else one sentence saying why
 * and how to close it, for a warning. */
const char *medfs_procid_ptrace_open(int scope);

/* The program table of a policy. */
struct medfs_progtab;

/* Binds each distinct program of p to its file: stats PATH (following
 * links), checks it is trusted (medfs_procid_file_trusted) and takes its
 * digest. A program that is missing or untrusted is a warning through
 * diag (may be NULL), at its rule's line: its rules can never match.
 * Returns 0 with the table in *out (empty when p names no program), or
 * -ENOMEM. */
int medfs_progtab_new(const struct medfs_policy *p, medfs_policy_diag_fn diag, void *ctx,
		      struct medfs_progtab **out);
void medfs_progtab_free(struct medfs_progtab *t);

enum medfs_progtab_match {
	MEDFS_PROG_NONE,    /* none of the programs */
	MEDFS_PROG_SAME,    /* one of them, unchanged since the load */
	MEDFS_PROG_CHANGED, /* one of them, whose content is not the one loaded */
};

/* Which program of t the file st is. When st's size or change time differ
 * from those seen at the load, fd (open on the file, or -1) is read for
 * its digest: the same content is still SAME (and remembered), another is
 * CHANGED, as is any change when fd is -1 or cannot be read. Sets *path
 * (the policy's, valid while t lives) for SAME and *line (of the first
 * rule naming the program) for SAME and CHANGED. Thread-safe. */
enum medfs_progtab_match medfs_progtab_match(struct medfs_progtab *t,
					     const struct stat *st, int fd,
					     const char **path, unsigned *line);

/* Whether path is, as a string, one of t's programs that could be bound
 * at load, and the line of its first rule: to say why a process showing
 * that path matched none. */
int medfs_progtab_names(const struct medfs_progtab *t, const char *path, unsigned *line);

#endif
