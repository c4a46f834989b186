/* Unit tests: telling which program a process runs (procid.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "medfs/crypto.h"
#include "medfs/policy.h"
#include "medfs/procid.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

START_TEST(test_parse_map)
{
	static const char l1[] =
		"7f1c2a000000-7f1c2a022000 r-xp 00001000 fd:01 1234567"
		"                    /usr/lib/x86_64-linux-gnu/libc.so.6";
	static const char l2[] = "7ffc1b5f2000-7ffc1b5f4000 r-xp 00000000 00:00 0"
				 "                          [vdso]";
	static const char l3[] = "55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0";
	static const char l4[] =
		"00400000-00401000 r-xs 00000000 103:0a 42 /tmp/a b (deleted)";
	struct medfs_procid_map m;

	ck_assert_int_eq(medfs_procid_parse_map(l1, strlen(l1), &m), 0);
	ck_assert_uint_eq(m.start, 0x7f1c2a000000ULL);
	ck_assert_uint_eq(m.end, 0x7f1c2a022000ULL);
	ck_assert_int_eq(m.exec, 1);
	ck_assert_uint_eq(m.major, 0xfd);
	ck_assert_uint_eq(m.minor, 1);
	ck_assert_uint_eq(m.ino, 1234567);
	ck_assert_uint_eq(m.path_len, strlen("/usr/lib/x86_64-linux-gnu/libc.so.6"));
	ck_assert(memcmp(m.path, "/usr/lib/x86_64-linux-gnu/libc.so.6", m.path_len) == 0);

	ck_assert_int_eq(medfs_procid_parse_map(l2, strlen(l2), &m), 0);
	ck_assert_int_eq(m.exec, 1);
	ck_assert_uint_eq(m.ino, 0);
	ck_assert_uint_eq(m.path_len, 6);

	ck_assert_int_eq(medfs_procid_parse_map(l3, strlen(l3), &m), 0);
	ck_assert_int_eq(m.exec, 0);
	ck_assert_uint_eq(m.path_len, 0);
	ck_assert_str_eq(m.path, "");

	ck_assert_int_eq(medfs_procid_parse_map(l4, strlen(l4), &m), 0);
	ck_assert_uint_eq(m.major, 0x103);
	ck_assert_uint_eq(m.minor, 0xa);
	ck_assert_uint_eq(m.ino, 42);
	ck_assert_uint_eq(m.path_len, strlen("/tmp/a b (deleted)"));
}
END_TEST

START_TEST(test_parse_map_bad)
{
	static const char *const bad[] = {
		"",
		"7f1c2a000000",
		"7f1c2a000000-",
		"7f1c2a000000-7f1c2a022000",
		"7f1c2a000000-7f1c2a022000 r-x",
		"7f1c2a000000-7f1c2a022000 r-xq 0 fd:01 1",
		"7f1c2a000000-7f1c2a022000 r-xp 0 fd01 1",
		"7f1c2a000000-7f1c2a022000 r-xp 0 fd:01",
		"7f1c2a000000-7f1c2a022000 r-xp 0 fd:01 x",
		"7f1c2a000000-7f1c2a022000 r-xp 0 fd:01 12x",
		"7f1c2a000000-7f1c2a022000 r-xp 0 fffff:01 12",
		"1ffffffffffffffff-2 r-xp 0 fd:01 1",
		"g-2 r-xp 0 fd:01 1",
	};
	struct medfs_procid_map m;

	for (size_t i = 0; i < N(bad); i++)
		ck_assert_msg(medfs_procid_parse_map(bad[i], strlen(bad[i]), &m) ==
				      -EINVAL,
			      "line %zu accepted", i);
	/* A NUL in the permissions is not a permission. */
	ck_assert_int_eq(medfs_procid_parse_map("0-1 r\0xp 0 0:0 0", 16, &m), -EINVAL);
}
END_TEST

START_TEST(test_parse_tracer)
{
	static const char s1[] =
		"Name:\tcat\nState:\tR (running)\nTracerPid:\t0\nUid:\t0\n";
	static const char s2[] = "TracerPid:\t4242\n";
	static const char s3[] = "Name:\tx\nTracerPid:\t17";
	long t = -1;

	ck_assert_int_eq(medfs_procid_parse_tracer(s1, strlen(s1), &t), 0);
	ck_assert_int_eq(t, 0);
	ck_assert_int_eq(medfs_procid_parse_tracer(s2, strlen(s2), &t), 0);
	ck_assert_int_eq(t, 4242);
	ck_assert_int_eq(medfs_procid_parse_tracer(s3, strlen(s3), &t), 0);
	ck_assert_int_eq(t, 17);
	ck_assert_int_eq(medfs_procid_parse_tracer("", 0, &t), -EINVAL);
	ck_assert_int_eq(medfs_procid_parse_tracer("Name:\tTracerPid:\t3\n", 19, &t),
			 -EINVAL);
	ck_assert_int_eq(medfs_procid_parse_tracer("TracerPid:\t\n", 12, &t), -EINVAL);
	ck_assert_int_eq(medfs_procid_parse_tracer("TracerPid:\t12 x\n", 16, &t),
			 -EINVAL);
	ck_assert_int_eq(medfs_procid_parse_tracer(
				 "TracerPid:\t99999999999999999999999\n", 35, &t),
			 -EINVAL);
	ck_assert_int_eq(medfs_procid_parse_tracer("TracerPid:", 10, &t), -EINVAL);
}
END_TEST

START_TEST(test_parse_start)
{
	/* A command name with spaces and parentheses. */
	static const char s1[] =
		"123 (a) b (c) S 1 123 123 0 -1 4194560 100 0 0 0 1 2 0 0 "
		"20 0 1 0 987654 1000000 100 18446744073709551615\n";
	static const char s2[] =
		"123 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19";
	static const char s3[] = "123 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17";
	static const char s4[] =
		"123 x S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19";
	static const char s5[] =
		"123 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18  19";
	unsigned long long start = 0;

	ck_assert_int_eq(medfs_procid_parse_start(s1, strlen(s1), &start), 0);
	ck_assert_uint_eq(start, 987654);
	ck_assert_int_eq(medfs_procid_parse_start(s2, strlen(s2), &start), 0);
	ck_assert_uint_eq(start, 19);
	ck_assert_int_eq(medfs_procid_parse_start(s3, strlen(s3), &start), -EINVAL);
	ck_assert_int_eq(medfs_procid_parse_start(s4, strlen(s4), &start), -EINVAL);
	ck_assert_int_eq(medfs_procid_parse_start(s5, strlen(s5), &start), -EINVAL);
	ck_assert_int_eq(medfs_procid_parse_start("", 0, &start), -EINVAL);
	ck_assert_int_eq(medfs_procid_parse_start(")", 1, &start), -EINVAL);
}
END_TEST

START_TEST(test_file_trusted)
{
	struct stat st = { 0 };

	st.st_mode = S_IFREG | 0755;
	ck_assert_int_eq(medfs_procid_file_trusted(&st), 1);
	st.st_mode = S_IFREG | 0775;
	ck_assert_int_eq(medfs_procid_file_trusted(&st), 0);
	st.st_mode = S_IFREG | 0757;
	ck_assert_int_eq(medfs_procid_file_trusted(&st), 0);
	st.st_mode = S_IFDIR | 0755;
	ck_assert_int_eq(medfs_procid_file_trusted(&st), 0);
	st.st_mode = S_IFREG | 0755;
	st.st_uid = 1000;
	ck_assert_int_eq(medfs_procid_file_trusted(&st), 0);
}
END_TEST

/* A fake file system for the maps judge: inode -> (uid, mode). */
struct fake {
	unsigned calls[8];
	int missing; /* inode that cannot be found */
};

static int fake_stat(void *ctx, const struct medfs_procid_map *m, struct stat *st)
{
	struct fake *f = ctx;

	if (m->ino < N(f->calls))
		f->calls[m->ino]++;
	if ((int)m->ino == f->missing)
		return -ENOENT;
	memset(st, 0, sizeof(*st));
	st->st_ino = m->ino;
	st->st_mode = S_IFREG | 0755;
	st->st_uid = m->ino == 5 ? 1000 : 0; /* 5: the user's own library */
	if (m->ino == 6)
		st->st_mode = S_IFREG | 0777;
	return 0;
}

#define MAP_EXE "1000-2000 r-xp 00000000 fd:01 1 /usr/bin/viewer\n"
#define MAP_LIBC "3000-4000 r-xp 00000000 fd:01 2 /usr/lib/libc.so.6\n"
#define MAP_LIBC_RO "4000-5000 r--p 00001000 fd:01 2 /usr/lib/libc.so.6\n"
#define MAP_LIBC2 "5000-6000 r-xp 00002000 fd:01 2 /usr/lib/libc.so.6\n"
#define MAP_ANON "6000-7000 rwxp 00000000 00:00 0\n"
#define MAP_VDSO "7000-8000 r-xp 00000000 00:00 0 [vdso]\n"
#define MAP_USER "8000-9000 r-xp 00000000 fd:01 5 /home/u/evil.so\n"
#define MAP_USER_RO "8000-9000 r--p 00000000 fd:01 5 /home/u/evil.so\n"
#define MAP_WORLD "9000-a000 r-xp 00000000 fd:01 6 /opt/x.so\n"
#define MAP_MISSING "a000-b000 r-xp 00000000 fd:01 7 /gone.so (deleted)\n"

static int judge(const char *maps, struct fake *f, uint8_t d[MEDFS_PROCID_DIGEST_BYTES],
		 char *why, size_t whysz)
{
	memset(f, 0, sizeof(*f));
	f->missing = 7;
	return medfs_procid_maps_trusted(maps, strlen(maps), fake_stat, f, d, why, whysz);
}

START_TEST(test_maps_trusted)
{
	uint8_t d1[MEDFS_PROCID_DIGEST_BYTES], d2[MEDFS_PROCID_DIGEST_BYTES];
	char why[128] = "";
	struct fake f;

	ck_assert_int_eq(judge(MAP_EXE MAP_LIBC MAP_LIBC_RO MAP_LIBC2 MAP_ANON MAP_VDSO,
			       &f, d1, why, sizeof(why)),
			 1);
	ck_assert_uint_eq(f.calls[1], 1);
	ck_assert_uint_eq(f.calls[2], 1); /* once per file, not per mapping */
	ck_assert_uint_eq(f.calls[0], 0); /* anonymous: never looked up */
	ck_assert_str_eq(why, "");

	/* Only executable mappings count: a data mapping of the user's file
	 * neither changes the verdict nor the digest. */
	ck_assert_int_eq(judge(MAP_EXE MAP_LIBC MAP_LIBC_RO MAP_LIBC2 MAP_ANON MAP_VDSO
				       MAP_USER_RO,
			       &f, d2, why, sizeof(why)),
			 1);
	ck_assert_uint_eq(f.calls[5], 0);
	ck_assert(memcmp(d1, d2, sizeof(d1)) == 0);

	ck_assert_int_eq(judge(MAP_EXE MAP_USER MAP_LIBC, &f, d2, why, sizeof(why)), 0);
	ck_assert_msg(strstr(why, "not owned by root") != NULL, "why: %s", why);
	ck_assert(strstr(why, "evil") == NULL); /* no path in messages */
	ck_assert(memcmp(d1, d2, sizeof(d1)) != 0);

	ck_assert_int_eq(judge(MAP_EXE MAP_WORLD, &f, NULL, why, sizeof(why)), 0);
	ck_assert_msg(strstr(why, "0777") != NULL, "why: %s", why);

	ck_assert_int_eq(judge(MAP_EXE MAP_MISSING, &f, NULL, why, sizeof(why)), 0);
	ck_assert_msg(strstr(why, "cannot be checked") != NULL, "why: %s", why);

	/* Digest only: no file is looked at. */
	memset(&f, 0, sizeof(f));
	ck_assert_int_eq(medfs_procid_maps_trusted(MAP_EXE MAP_USER,
						   strlen(MAP_EXE MAP_USER), NULL, NULL,
						   d2, NULL, 0),
			 1);
	ck_assert_uint_eq(f.calls[1] + f.calls[5], 0);

	ck_assert_int_eq(judge("", &f, d2, why, sizeof(why)), 1);
	ck_assert_int_eq(judge(MAP_EXE "garbage\n", &f, d2, why, sizeof(why)), -EINVAL);
	/* No final newline: the last line still counts. */
	ck_assert_int_eq(
		judge("8000-9000 r-xp 00000000 fd:01 5 /e.so", &f, d2, why, sizeof(why)),
		0);
}
END_TEST

START_TEST(test_maps_garbage)
{
	unsigned char buf[256];
	struct fake f;

	/* Crash-free on any bytes, and never "trusted" by accident for a line
	 * it could not read. */
	for (int i = 0; i < 2000; i++) {
		size_t len = randombytes_uniform(sizeof(buf));
		int ret;

		randombytes_buf(buf, len);
		memset(&f, 0, sizeof(f));
		ret = medfs_procid_maps_trusted((const char *)buf, len, fake_stat, &f,
						NULL, NULL, 0);
		ck_assert(ret == -EINVAL || ret == 0 || ret == 1);
	}
}
END_TEST

START_TEST(test_digest_fd)
{
	char name[] = "/tmp/medfs-procid-XXXXXX";
	uint8_t want[MEDFS_PROCID_DIGEST_BYTES], got[MEDFS_PROCID_DIGEST_BYTES];
	static unsigned char data[200000];
	int fd = mkstemp(name);

	ck_assert_int_ge(fd, 0);
	unlink(name);
	randombytes_buf(data, sizeof(data));
	ck_assert_int_eq(write(fd, data, sizeof(data)), (ssize_t)sizeof(data));
	crypto_generichash(want, sizeof(want), data, sizeof(data), NULL, 0);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	ck_assert_int_eq(medfs_procid_digest_fd(fd, got), 0);
	ck_assert(memcmp(want, got, sizeof(want)) == 0);
	close(fd);
	ck_assert_int_eq(medfs_procid_digest_fd(-1, got), -EBADF);
}
END_TEST

START_TEST(test_inspect_self)
{
	struct medfs_procid a, b;
	struct stat self;

	ck_assert_int_eq(stat("/proc/self/exe", &self), 0);
	ck_assert_int_eq(medfs_procid_inspect(getpid(), NULL, &a), 0);
	ck_assert_uint_gt(a.start, 0);
	ck_assert(medfs_procid_same_file(&a.exe, &self));
	/* Whether this test's own binary is trusted depends on who built it;
	 * the verdict must say why when it is not. */
	ck_assert_int_eq(a.trusted, medfs_procid_file_trusted(&self) ? a.trusted : 0);
	ck_assert(a.trusted || a.why[0] != '\0');
	ck_assert_int_eq(a.maps_judged, 1);
	/* Again, from the first: the same verdict and maps. */
	ck_assert_int_eq(medfs_procid_inspect(getpid(), &a, &b), 0);
	ck_assert_int_eq(b.trusted, a.trusted);
	ck_assert_uint_eq(b.start, a.start);
	ck_assert(memcmp(a.maps_digest, b.maps_digest, sizeof(a.maps_digest)) == 0);
	/* Gone: cannot be read. */
	ck_assert_int_eq(medfs_procid_inspect(0x3ffffff, NULL, &a), -ENOENT);
}
END_TEST

START_TEST(test_inspect_traced)
{
	struct medfs_procid id;
	long tracer = -1;
	int status;
	pid_t child;

	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		raise(SIGSTOP);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFSTOPPED(status));
	ck_assert_int_eq(medfs_procid_tracer(child, &tracer), 0);
	ck_assert_int_eq(tracer, getpid());
	ck_assert_int_eq(medfs_procid_inspect(child, NULL, &id), 0);
	ck_assert_int_eq(id.trusted, 0);
	ck_assert_str_eq(id.why, "is traced by another process");
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	ck_assert_int_eq(medfs_procid_tracer(getpid(), &tracer), 0);
	ck_assert_int_eq(tracer, 0);
}
END_TEST

START_TEST(test_ptrace_open)
{
	int scope = medfs_procid_ptrace_scope();

	ck_assert(scope == -ENOENT || (scope >= 0 && scope <= 3));
	ck_assert_ptr_null(medfs_procid_ptrace_open(2));
	ck_assert_ptr_null(medfs_procid_ptrace_open(3));
	ck_assert_ptr_nonnull(strstr(medfs_procid_ptrace_open(0), "ptrace_scope is 0"));
	ck_assert_ptr_nonnull(strstr(medfs_procid_ptrace_open(1), "ptrace_scope is 1"));
	ck_assert_ptr_nonnull(strstr(medfs_procid_ptrace_open(-ENOENT), "no Yama"));
	ck_assert_ptr_nonnull(medfs_procid_ptrace_open(-EACCES));
}
END_TEST

/* The program table. */

static char dir[64];
static char progs[3][128];

struct diags {
	unsigned n;
	struct medfs_policy_diag last;
};

static void collect(void *ctx, const struct medfs_policy_diag *d)
{
	struct diags *ds = ctx;

	ds->n++;
	ds->last = *d;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

static void tab_setup(void)
{
	strcpy(dir, "/tmp/medfs-progtab-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	for (int i = 0; i < 3; i++)
		snprintf(progs[i], sizeof(progs[i]), "%s/prog%d", dir, i);
	write_file(progs[0], "viewer code", 0755);
	write_file(progs[1], "writable code", 0775);
}

static void tab_teardown(void)
{
	for (int i = 0; i < 3; i++)
		unlink(progs[i]);
	rmdir(dir);
}

static struct medfs_progtab *table(struct diags *ds)
{
	struct medfs_policy *p = NULL;
	struct medfs_progtab *t = NULL;
	char text[1024];

	snprintf(text, sizeof(text),
		 "allow user:1 program %s read /**\n"
		 "allow user:1 program %s read /**\n"
		 "allow user:2 program %s read /**\n"
		 "deny user:1 program %s read /x\n"
		 "allow user:3 read /**\n",
		 progs[0], progs[1], progs[2], progs[0]);
	ck_assert_int_eq(
		medfs_policy_parse(text, strlen(text), NULL, NULL, NULL, NULL, &p), 0);
	memset(ds, 0, sizeof(*ds));
	ck_assert_int_eq(medfs_progtab_new(p, collect, ds, &t), 0);
	medfs_policy_free(p);
	return t;
}

START_TEST(test_progtab)
{
	struct medfs_progtab *t;
	const char *path = NULL;
	unsigned line = 0;
	struct diags ds;
	struct stat st, st2;
	int fd;

	if (geteuid() != 0)
		return; /* programs must be root's: the rest needs root */
	t = table(&ds);
	/* prog1 is group-writable, prog2 missing; prog0 named twice. */
	ck_assert_uint_eq(ds.n, 2);
	ck_assert_uint_eq(ds.last.line, 3);
	ck_assert_int_eq(ds.last.warning, 1);
	ck_assert(strstr(ds.last.message, "cannot be opened") != NULL);
	ck_assert(strstr(ds.last.message, dir) == NULL);

	ck_assert_int_eq(stat(progs[0], &st), 0);
	ck_assert_int_eq(medfs_progtab_match(t, &st, -1, &path, &line), MEDFS_PROG_SAME);
	ck_assert_str_eq(path, progs[0]);
	ck_assert_uint_eq(line, 1);
	ck_assert_int_eq(stat(progs[1], &st2), 0);
	ck_assert_int_eq(medfs_progtab_match(t, &st2, -1, &path, &line), MEDFS_PROG_NONE);
	ck_assert_int_eq(stat(dir, &st2), 0);
	ck_assert_int_eq(medfs_progtab_match(t, &st2, -1, &path, &line), MEDFS_PROG_NONE);

	/* Rewritten with the same content: the digest still holds, once
	 * read; without a descriptor to read, it is refused. */
	usleep(10000);
	write_file(progs[0], "viewer code", 0755);
	ck_assert_int_eq(stat(progs[0], &st), 0);
	ck_assert_int_eq(medfs_progtab_match(t, &st, -1, &path, &line),
			 MEDFS_PROG_CHANGED);
	fd = open(progs[0], O_RDONLY);
	path = NULL;
	ck_assert_int_eq(medfs_progtab_match(t, &st, fd, &path, &line), MEDFS_PROG_SAME);
	ck_assert_str_eq(path, progs[0]);
	close(fd);
	ck_assert_int_eq(medfs_progtab_match(t, &st, -1, &path, &line), MEDFS_PROG_SAME);

	/* Another content in the same file: changed, whoever asks. */
	usleep(10000);
	write_file(progs[0], "other code!", 0755);
	ck_assert_int_eq(stat(progs[0], &st), 0);
	fd = open(progs[0], O_RDONLY);
	path = NULL;
	ck_assert_int_eq(medfs_progtab_match(t, &st, fd, &path, &line),
			 MEDFS_PROG_CHANGED);
	ck_assert_ptr_null(path);
	ck_assert_uint_eq(line, 1);
	close(fd);
	ck_assert_int_eq(medfs_progtab_match(t, &st, -1, &path, &line),
			 MEDFS_PROG_CHANGED);
	medfs_progtab_free(t);
}
END_TEST

START_TEST(test_progtab_empty)
{
	struct medfs_policy *p = NULL;
	struct medfs_progtab *t = NULL;
	const char *path = NULL;
	unsigned line = 0, column = 0;
	struct stat st;

	ck_assert_int_eq(medfs_policy_parse("allow everyone read /**\n", 24, NULL, NULL,
					    NULL, NULL, &p),
			 0);
	ck_assert_int_eq(medfs_policy_rule_program(p, 0, &path, &line, &column), 0);
	ck_assert_ptr_null(path);
	ck_assert_uint_eq(line, 1);
	ck_assert_uint_eq(column, 1);
	ck_assert_int_eq(medfs_policy_rule_program(p, 1, &path, &line, &column), -ENOENT);
	ck_assert_int_eq(medfs_progtab_new(p, NULL, NULL, &t), 0);
	ck_assert_int_eq(stat("/proc/self/exe", &st), 0);
	ck_assert_int_eq(medfs_progtab_match(t, &st, -1, &path, &line), MEDFS_PROG_NONE);
	ck_assert_int_eq(medfs_progtab_match(NULL, &st, -1, &path, &line),
			 MEDFS_PROG_NONE);
	medfs_progtab_free(t);
	medfs_policy_free(p);
}
END_TEST

START_TEST(test_progtab_alias)
{
	struct medfs_policy *p = NULL;
	struct medfs_progtab *t = NULL;
	const char *path = NULL;
	unsigned line = 0;
	struct diags ds = { 0 };
	char text[1024];
	struct stat st;

	if (geteuid() != 0)
		return;
	ck_assert_int_eq(symlink(progs[0], progs[2]), 0);
	snprintf(text, sizeof(text),
		 "allow user:1 program %s read /**\n"
		 "allow user:1 program %s read /**\n",
		 progs[0], progs[2]);
	ck_assert_int_eq(
		medfs_policy_parse(text, strlen(text), NULL, NULL, NULL, NULL, &p), 0);
	ck_assert_int_eq(medfs_progtab_new(p, collect, &ds, &t), 0);
	ck_assert_uint_eq(ds.n, 1);
	ck_assert_uint_eq(ds.last.line, 2);
	ck_assert(strstr(ds.last.message, "same file as the one of line 1") != NULL);
	ck_assert_int_eq(stat(progs[0], &st), 0);
	ck_assert_int_eq(medfs_progtab_match(t, &st, -1, &path, &line), MEDFS_PROG_SAME);
	ck_assert_str_eq(path, progs[0]);
	ck_assert_int_eq(medfs_progtab_names(t, progs[0], &line), 1);
	ck_assert_int_eq(medfs_progtab_names(t, progs[2], &line), 0);
	ck_assert_int_eq(medfs_progtab_names(t, NULL, &line), 0);
	medfs_progtab_free(t);
	medfs_policy_free(p);
}
END_TEST

static Suite *procid_suite(void)
{
	Suite *s = suite_create("procid");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_parse_map);
	tcase_add_test(tc, test_parse_map_bad);
	tcase_add_test(tc, test_parse_tracer);
	tcase_add_test(tc, test_parse_start);
	tcase_add_test(tc, test_file_trusted);
	tcase_add_test(tc, test_maps_trusted);
	tcase_add_test(tc, test_maps_garbage);
	tcase_add_test(tc, test_digest_fd);
	suite_add_tcase(s, tc);

	tc = tcase_create("inspect");
	tcase_add_test(tc, test_inspect_self);
	tcase_add_test(tc, test_inspect_traced);
	tcase_add_test(tc, test_ptrace_open);
	suite_add_tcase(s, tc);

	tc = tcase_create("progtab");
	tcase_add_checked_fixture(tc, tab_setup, tab_teardown);
	tcase_add_test(tc, test_progtab);
	tcase_add_test(tc, test_progtab_empty);
	tcase_add_test(tc, test_progtab_alias);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (medfs_crypto_init() != 0)
		return EXIT_FAILURE;
	sr = srunner_create(procid_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
