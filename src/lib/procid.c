/* medfs: which program a process runs, judged from /proc (see procid.h).
 *
 * The parsers take the text the kernel wrote and trust none of it; the
 * inspection reads /proc/PID/{stat,exe,status,ns/user,maps} and stats the
 * files behind executable mappings; the program table opens the programs a
 * policy names and keeps their identity and digest. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <sodium.h>

#include "medfs/log.h"
#include "medfs/procid.h"

_Static_assert(MEDFS_PROCID_DIGEST_BYTES >= crypto_generichash_BYTES_MIN &&
		       MEDFS_PROCID_DIGEST_BYTES <= crypto_generichash_BYTES_MAX,
	       "the digest size is one BLAKE2b supports");

#define DIGEST_CHUNK (64 * 1024)
#define PROC_SMALL 8192 /* stat and status texts */


/* Parsing. */

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

/* A number in base 16 or 10 at *p (below end), at most 64 bits. */
static int number(const char **p, const char *end, unsigned base, unsigned long long *out)
{
	unsigned long long v = 0;
	const char *s = *p;

	if (s == end)
		return -EINVAL;
	while (s < end) {
		int d = base == 16 ? hexval(*s)
				   : (*s >= '0' && *s <= '9' ? *s - '0' : -1);

		if (d < 0)
			break;
		if (v > (~0ULL - (unsigned)d) / base)
			return -EINVAL;
		v = v * base + (unsigned)d;
		s++;
	}
	if (s == *p)
		return -EINVAL;
	*p = s;
	*out = v;
	return 0;
}

static int expect_char(const char **p, const char *end, char c)
{
	if (*p == end || **p != c)
		return -EINVAL;
	(*p)++;
	return 0;
}

int medfs_procid_parse_map(const char *line, size_t len, struct medfs_procid_map *m)
{
	const char *p = line, *end = line + len;
	unsigned long long off, major, minor;

	memset(m, 0, sizeof(*m));
	m->path = "";
	if (number(&p, end, 16, &m->start) || expect_char(&p, end, '-') ||
	    number(&p, end, 16, &m->end) || expect_char(&p, end, ' '))
		return -EINVAL;
	if (end - p < 5 || p[4] != ' ')
		return -EINVAL;
	for (int i = 0; i < 4; i++)
		if (!strchr("rwxsp-", p[i]) || p[i] == '\0')
			return -EINVAL;
	m->exec = p[2] == 'x';
	p += 5;
	if (number(&p, end, 16, &off) || expect_char(&p, end, ' ') ||
	    number(&p, end, 16, &major) || expect_char(&p, end, ':') ||
	    number(&p, end, 16, &minor) || expect_char(&p, end, ' ') ||
	    number(&p, end, 10, &m->ino))
		return -EINVAL;
	if (major > 0xfff || minor > 0xfffff)
		return -EINVAL;
	m->major = (unsigned)major;
	m->minor = (unsigned)minor;
	if (p == end)
		return 0;
	if (*p != ' ')
		return -EINVAL;
	while (p < end && *p == ' ')
		p++;
	m->path = p;
	m->path_len = (size_t)(end - p);
	return 0;
}

int medfs_procid_parse_tracer(const char *status, size_t len, long *tracer)
{
	static const char key[] = "TracerPid:";
	const char *p = status, *end = status + len;
	unsigned long long v;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;

		if ((size_t)(eol - p) > sizeof(key) - 1 &&
		    memcmp(p, key, sizeof(key) - 1) == 0) {
			p += sizeof(key) - 1;
			while (p < eol && (*p == '\t' || *p == ' '))
				p++;
			if (number(&p, eol, 10, &v) || p != eol || v > LONG_MAX)
				return -EINVAL;
			*tracer = (long)v;
			return 0;
		}
		p = eol + 1;
	}
	return -EINVAL;
}

int medfs_procid_parse_start(const char *stat, size_t len, unsigned long long *start)
{
	const char *p = NULL, *end = stat + len;

	/* The command name, between the first '(' and the last ')', may hold
	 * spaces and parentheses. */
	for (const char *s = stat; s < end; s++)
		if (*s == ')')
			p = s + 1;
	if (p == NULL)
		return -EINVAL;
	/* Fields 3 (state) to 22 (start time), one space before each. */
	for (int field = 3; field <= 22; field++) {
		if (expect_char(&p, end, ' '))
			return -EINVAL;
		if (field == 22)
			return number(&p, end, 10, start) ||
					       (p != end && *p != ' ' && *p != '\n')
				       ? -EINVAL
				       : 0;
		if (p == end || *p == ' ')
			return -EINVAL;
		while (p < end && *p != ' ')
			p++;
	}
	return -EINVAL;
}

int medfs_procid_file_trusted(const struct stat *st)
{
	return S_ISREG(st->st_mode) && st->st_uid == 0 &&
	       (st->st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

int medfs_procid_same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size && a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* The files already judged in one maps text. */
struct seen {
	struct {
		unsigned major, minor;
		unsigned long long ino;
	} * v;
	size_t n, cap;
};

/* 1 when already seen, 0 when added, -ENOMEM. */
static int seen_add(struct seen *s, const struct medfs_procid_map *m)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].ino == m->ino && s->v[i].major == m->major &&
		    s->v[i].minor == m->minor)
			return 1;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		void *v = realloc(s->v, cap * sizeof(*s->v));

		if (v == NULL)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n].major = m->major;
	s->v[s->n].minor = m->minor;
	s->v[s->n].ino = m->ino;
	s->n++;
	return 0;
}

int medfs_procid_maps_trusted(const char *maps, size_t len, medfs_procid_stat_fn stat_fn,
			      void *ctx, uint8_t digest[MEDFS_PROCID_DIGEST_BYTES],
			      char *why, size_t whysz)
{
	crypto_generichash_state h;
	const char *p = maps, *end = maps + len;
	struct seen seen = { 0 };
	int trusted = 1, ret;

	crypto_generichash_init(&h, NULL, 0, MEDFS_PROCID_DIGEST_BYTES);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		struct medfs_procid_map m;
		unsigned long long key[3];
		struct stat st;

		if (medfs_procid_parse_map(p, (size_t)(eol - p), &m) < 0) {
			ret = -EINVAL;
			goto out;
		}
		p = eol + 1;
		if (!m.exec || m.ino == 0)
			continue;
		key[0] = m.major;
		key[1] = m.minor;
		key[2] = m.ino;
		crypto_generichash_update(&h, (const unsigned char *)key, sizeof(key));
		crypto_generichash_update(&h, (const unsigned char *)m.path, m.path_len);
		crypto_generichash_update(&h, (const unsigned char *)"\n", 1);
		if (stat_fn == NULL || !trusted)
			continue;
		ret = seen_add(&seen, &m);
		if (ret < 0)
			goto out;
		if (ret == 1)
			continue;
		if (stat_fn(ctx, &m, &st) < 0) {
			medfs_reason(why, whysz,
			       "maps code from a file that cannot be checked");
			trusted = 0;
		} else if (!medfs_procid_file_trusted(&st)) {
			medfs_reason(why, whysz,
			       "maps code from a file not owned by root or writable by "
			       "others (uid %u, mode %04o)",
			       (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
			trusted = 0;
		}
	}
	ret = trusted;
out:
	if (digest != NULL)
		crypto_generichash_final(&h, digest, MEDFS_PROCID_DIGEST_BYTES);
	free(seen.v);
	return ret;
}

int medfs_procid_digest_fd(int fd, uint8_t out[MEDFS_PROCID_DIGEST_BYTES])
{
	crypto_generichash_state h;
	unsigned char *buf = malloc(DIGEST_CHUNK);
	ssize_t n;
	int ret = 0;

	if (buf == NULL)
		return -ENOMEM;
	crypto_generichash_init(&h, NULL, 0, MEDFS_PROCID_DIGEST_BYTES);
	for (;;) {
		n = read(fd, buf, DIGEST_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0)
			break;
		crypto_generichash_update(&h, buf, (unsigned long long)n);
	}
	crypto_generichash_final(&h, out, MEDFS_PROCID_DIGEST_BYTES);
	free(buf);
	return ret;
}

/* Inspecting a live process. */

/* Reads a /proc file whole into buf (size bytes, one kept for a NUL).
 * Returns the length, or -errno (-EFBIG when it does not fit). */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
	size_t used = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (used < size - 1) {
		n = read(fd, buf + used, size - 1 - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			n = -errno;
			close(fd);
			return n;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	close(fd);
	if (used == size - 1)
		return -EFBIG;
	buf[used] = '\0';
	return (ssize_t)used;
}

/* Reads a /proc file of any length (up to max) into a malloc'd buffer. */
static int read_all(const char *path, size_t max, char **out, size_t *len)
{
	size_t cap = 16384, used = 0;
	char *buf = NULL;
	ssize_t n;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (buf == NULL || used == cap) {
			char *b;

			if (buf != NULL)
				cap *= 2;
			if (cap > max) {
				ret = -EFBIG;
				break;
			}
			b = realloc(buf, cap);
			if (b == NULL) {
				ret = -ENOMEM;
				break;
			}
			buf = b;
		}
		n = read(fd, buf + used, cap - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	close(fd);
	if (ret < 0) {
		free(buf);
		return ret;
	}
	*out = buf;
	*len = used;
	return 0;
}

int medfs_procid_exe(pid_t pid, struct stat *st)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	return stat(path, st) < 0 ? -errno : 0;
}

int medfs_procid_tracer(pid_t pid, long *tracer)
{
	char path[64], buf[PROC_SMALL];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	n = read_small(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	return medfs_procid_parse_tracer(buf, (size_t)n, tracer);
}

/* Finds the file of a mapping of a live process: through map_files (the
 * file itself, in whatever namespace; needs CAP_SYS_ADMIN), else through
 * the path, which must lead to the same device and inode. */
static int stat_mapped(void *ctx, const struct medfs_procid_map *m, struct stat *st)
{
	pid_t pid = *(const pid_t *)ctx;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", (int)pid, m->start,
		 m->end);
	if (stat(path, st) == 0)
		return st->st_ino == m->ino ? 0 : -ESTALE;
	if (m->path_len == 0 || m->path_len >= sizeof(path) || m->path[0] != '/')
		return -ENOENT;
	memcpy(path, m->path, m->path_len);
	path[m->path_len] = '\0';
	if (stat(path, st) < 0)
		return -errno;
	return st->st_ino == m->ino && st->st_dev == makedev(m->major, m->minor)
		       ? 0
		       : -ESTALE;
}

static int judge_maps(pid_t pid, const struct medfs_procid *prev,
		      struct medfs_procid *out)
{
	char path[64];
	char *maps = NULL;
	size_t len = 0;
	int ret;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	ret = read_all(path, MEDFS_PROCID_MAPS_MAX, &maps, &len);
	if (ret < 0)
		return ret;
	if (prev != NULL && prev->maps_judged && prev->start == out->start &&
	    medfs_procid_same_file(&prev->exe, &out->exe)) {
		ret = medfs_procid_maps_trusted(maps, len, NULL, NULL, out->maps_digest,
						NULL, 0);
		if (ret >= 0 && sodium_memcmp(prev->maps_digest, out->maps_digest,
					      MEDFS_PROCID_DIGEST_BYTES) == 0) {
			out->maps_judged = 1;
			out->maps_trusted = prev->maps_trusted;
			if (!prev->maps_trusted)
				memcpy(out->why, prev->why, sizeof(out->why));
			goto out;
		}
	}
	ret = medfs_procid_maps_trusted(maps, len, stat_mapped, &pid, out->maps_digest,
					out->why, sizeof(out->why));
	if (ret >= 0) {
		out->maps_judged = 1;
		out->maps_trusted = ret;
	}
out:
	free(maps);
	return ret < 0 ? ret : 0;
}

int medfs_procid_inspect(pid_t pid, const struct medfs_procid *prev,
			 struct medfs_procid *out)
{
	char path[64], buf[PROC_SMALL];
	struct stat ns, self;
	long tracer = 0;
	ssize_t n;
	int ret;

	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	n = read_small(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	ret = medfs_procid_parse_start(buf, (size_t)n, &out->start);
	if (ret < 0)
		return ret;
	ret = medfs_procid_exe(pid, &out->exe);
	if (ret < 0)
		return ret;
	ret = medfs_procid_tracer(pid, &tracer);
	if (ret < 0)
		return ret;
	if (tracer != 0) {
		medfs_reason(out->why, sizeof(out->why), "is traced by another process");
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
	if (stat(path, &ns) < 0)
		return -errno;
	if (stat("/proc/self/ns/user", &self) < 0)
		return -errno;
	if (ns.st_dev != self.st_dev || ns.st_ino != self.st_ino) {
		medfs_reason(out->why, sizeof(out->why), "runs in another user namespace");
		return 0;
	}
	ret = judge_maps(pid, prev, out);
	if (ret < 0)
		return ret;
	/* The executable is mapped, so judged among the mappings: a
	 * program's own file must be trusted too. */
	out->trusted = out->maps_trusted;
	if (out->trusted)
		out->why[0] = '\0';
	return 0;
}

/* Yama. */

int medfs_procid_ptrace_scope(void)
{
	char buf[64];
	unsigned long long v;
	const char *p = buf;
	ssize_t n;

	n = read_small("/proc/sys/kernel/yama/ptrace_scope", buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	if (number(&p, buf + n, 10, &v) || v > 3)
		return -EINVAL;
	return (int)v;
}

const char *medfs_procid_ptrace_open(int scope)
{
	switch (scope) {
	case 2:
	case 3:
		return NULL;
	case 1:
		return "kernel.yama.ptrace_scope is 1: a user can still start a program "
		       "as a child of its own process, attach to it and run its own code "
		       "as that program; set kernel.yama.ptrace_scope to 2 (or 3) to "
		       "close this";
	case 0:
		return "kernel.yama.ptrace_scope is 0: any process of a program's user "
		       "can attach to it and run its own code as that program; set "
		       "kernel.yama.ptrace_scope to 2 (or 3) to close this";
	case -ENOENT:
		return "the kernel has no Yama ptrace restriction: any process of a "
		       "program's user can attach to it and run its own code as that "
		       "program; enable Yama with kernel.yama.ptrace_scope 2 (or 3) to "
		       "close this";
	default:
		return "kernel.yama.ptrace_scope cannot be read: processes of a "
		       "program's user may be able to attach to it and run their own "
		       "code as that program; set kernel.yama.ptrace_scope to 2 (or 3)";
	}
}

/* The program table. */

struct prog {
	char *path;
	unsigned line;
	int usable;	/* found and trusted at load */
	struct stat st; /* at load; size and ctime: the last ones verified */
	uint8_t digest[MEDFS_PROCID_DIGEST_BYTES];
	int bad; /* bad_st's content did not have the digest */
	struct stat bad_st;
};

struct medfs_progtab {
	pthread_mutex_t lock; /* guards the verified and bad stats */
	struct prog *v;
	size_t n;
};

static void warn(medfs_policy_diag_fn diag, void *ctx, unsigned line, unsigned column,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void warn(medfs_policy_diag_fn diag, void *ctx, unsigned line, unsigned column,
		 const char *fmt, ...)
{
	struct medfs_policy_diag d = { .line = line, .column = column, .warning = 1 };
	va_list ap;

	if (diag == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(d.message, sizeof(d.message), fmt, ap);
	va_end(ap);
	diag(ctx, &d);
}

/* Opens, checks and digests one program. */
static void prog_bind(struct prog *g, const struct medfs_progtab *t, unsigned column,
		      medfs_policy_diag_fn diag, void *ctx)
{
	int fd, err;

	fd = open(g->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		warn(diag, ctx, g->line, column,
		     "the program file cannot be opened (%s): rules bound to it "
		     "never match",
		     strerror(errno));
		return;
	}
	if (fstat(fd, &g->st) < 0 || !S_ISREG(g->st.st_mode)) {
		warn(diag, ctx, g->line, column,
		     "the program is not a regular file: rules bound to it never match");
		goto out;
	}
	if (!medfs_procid_file_trusted(&g->st)) {
		warn(diag, ctx, g->line, column,
		     "the program file is not owned by root or is writable by group "
		     "or others (uid %u, mode %04o): rules bound to it never match",
		     (unsigned)g->st.st_uid, (unsigned)(g->st.st_mode & 07777));
		goto out;
	}
	err = medfs_procid_digest_fd(fd, g->digest);
	if (err < 0) {
		warn(diag, ctx, g->line, column,
		     "the program file cannot be read (%s): rules bound to it never "
		     "match",
		     strerror(-err));
		goto out;
	}
	for (size_t i = 0; i < t->n; i++) {
		if (t->v[i].usable && t->v[i].st.st_dev == g->st.st_dev &&
		    t->v[i].st.st_ino == g->st.st_ino) {
			warn(diag, ctx, g->line, column,
			     "the program is the same file as the one of line %u under "
			     "another path: name it by one path, rules bound to this "
			     "one never match",
			     t->v[i].line);
			goto out;
		}
	}
	g->usable = 1;
out:
	close(fd);
}

int medfs_progtab_new(const struct medfs_policy *p, medfs_policy_diag_fn diag, void *ctx,
		      struct medfs_progtab **out)
{
	struct medfs_progtab *t;
	const char *program;
	unsigned line, column;
	size_t i, cap = 0;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	for (i = 0; medfs_policy_rule_program(p, i, &program, &line, &column) == 0; i++) {
		struct prog *g;
		size_t j;

		if (program == NULL)
			continue;
		for (j = 0; j < t->n && strcmp(t->v[j].path, program) != 0; j++)
			;
		if (j < t->n)
			continue;
		if (t->n == cap) {
			size_t c = cap ? 2 * cap : 4;
			void *v = realloc(t->v, c * sizeof(*t->v));

			if (v == NULL)
				goto nomem;
			t->v = v;
			cap = c;
		}
		g = &t->v[t->n];
		memset(g, 0, sizeof(*g));
		g->line = line;
		g->path = strdup(program);
		if (g->path == NULL)
			goto nomem;
		prog_bind(g, t, column, diag, ctx);
		t->n++;
	}
	*out = t;
	return 0;
nomem:
	medfs_progtab_free(t);
	return -ENOMEM;
}

void medfs_progtab_free(struct medfs_progtab *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].path);
	pthread_mutex_destroy(&t->lock);
	free(t->v);
	free(t);
}

/* Under t->lock: whether g's file, now as st, still has its digest. */
static int prog_verify(struct prog *g, const struct stat *st, int fd)
{
	uint8_t d[MEDFS_PROCID_DIGEST_BYTES];
	int same;

	if (medfs_procid_same_file(st, &g->st))
		return 1;
	if (g->bad && medfs_procid_same_file(st, &g->bad_st))
		return 0;
	if (fd < 0)
		return 0;
	if (lseek(fd, 0, SEEK_SET) < 0 || medfs_procid_digest_fd(fd, d) < 0)
		return 0;
	same = sodium_memcmp(d, g->digest, sizeof(d)) == 0;
	if (same) {
		g->st = *st;
	} else {
		g->bad = 1;
		g->bad_st = *st;
	}
	return same;
}

enum medfs_progtab_match medfs_progtab_match(struct medfs_progtab *t,
					     const struct stat *st, int fd,
					     const char **path, unsigned *line)
{
	enum medfs_progtab_match m = MEDFS_PROG_NONE;

	if (t == NULL)
		return m;
	for (size_t i = 0; i < t->n; i++) {
		struct prog *g = &t->v[i];

		if (!g->usable || g->st.st_dev != st->st_dev ||
		    g->st.st_ino != st->st_ino)
			continue;
		pthread_mutex_lock(&t->lock);
		m = prog_verify(g, st, fd) ? MEDFS_PROG_SAME : MEDFS_PROG_CHANGED;
		pthread_mutex_unlock(&t->lock);
		*line = g->line;
		if (m == MEDFS_PROG_SAME)
			*path = g->path;
		break;
	}
	return m;
}

int medfs_progtab_names(const struct medfs_progtab *t, const char *path, unsigned *line)
{
	for (size_t i = 0; t != NULL && path != NULL && i < t->n; i++) {
		if (t->v[i].usable && strcmp(t->v[i].path, path) == 0) {
			*line = t->v[i].line;
			return 1;
		}
	}
	return 0;
}
