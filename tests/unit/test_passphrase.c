/* Unit tests of passphrase reading (passphrase.h): from files, and from a
 * terminal driven through a pseudo-terminal. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "medfs/crypto.h"
#include "medfs/passphrase.h"

static char dir[64];
static char file[128];

static void setup(void)
{
	ck_assert_int_eq(medfs_crypto_init(), 0);
	strcpy(dir, "/tmp/medfs-test-passphrase-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/pass", dir);
}

static void teardown(void)
{
	unlink(file);
	rmdir(dir);
}

static void write_file(const void *data, size_t len)
{
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* Writes data to the file and expects it to read as want. */
static void expect_read(const char *data, size_t data_len, const char *want,
			size_t want_len)
{
	char *p = NULL;
	size_t len = 0;

	write_file(data, data_len);
	ck_assert_int_eq(medfs_passphrase_from_file(file, &p, &len), 0);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(len, want_len);
	ck_assert_mem_eq(p, want, want_len);
	ck_assert_int_eq(p[len], '\0');
	medfs_passphrase_free(p);
}

static void expect_error(const char *data, size_t data_len, int err)
{
	char *p = (char *)1;
	size_t len = 1;

	write_file(data, data_len);
	ck_assert_int_eq(medfs_passphrase_from_file(file, &p, &len), err);
	ck_assert_ptr_null(p);
	ck_assert_uint_eq(len, 0);
}

#define S(x) x, sizeof(x) - 1

START_TEST(test_file_lines)
{
	expect_read(S("secret\n"), S("secret"));
	expect_read(S("secret\r\n"), S("secret"));
	expect_read(S("secret"), S("secret"));
	expect_read(S("secret\nsecond line\n"), S("secret"));
	/* Only one line ending goes; inner spaces and tabs stay. */
	expect_read(S(" two words\t\n\n"), S(" two words\t"));
	expect_read(S("x\r\r\n"), S("x\r"));
	/* Bytes are bytes: UTF-8 is not touched. */
	expect_read(S("p\xc3\xa4ss\n"), S("p\xc3\xa4ss"));
}
END_TEST

START_TEST(test_file_empty)
{
	expect_error("", 0, -EINVAL);
	expect_error(S("\n"), -EINVAL);
	expect_error(S("\r\n"), -EINVAL);
	expect_error(S("\nsecret\n"), -EINVAL);
}
END_TEST

START_TEST(test_file_length)
{
	static char buf[MEDFS_PASSPHRASE_MAX + 8];
	size_t i;

	memset(buf, 'a', sizeof(buf));
	/* Exactly the maximum, with each line ending. */
	expect_read(buf, MEDFS_PASSPHRASE_MAX, buf, MEDFS_PASSPHRASE_MAX);
	buf[MEDFS_PASSPHRASE_MAX] = '\n';
	expect_read(buf, MEDFS_PASSPHRASE_MAX + 1, buf, MEDFS_PASSPHRASE_MAX);
	buf[MEDFS_PASSPHRASE_MAX] = '\r';
	buf[MEDFS_PASSPHRASE_MAX + 1] = '\n';
	expect_read(buf, MEDFS_PASSPHRASE_MAX + 2, buf, MEDFS_PASSPHRASE_MAX);
	/* One byte more, with and without line endings. */
	memset(buf, 'a', sizeof(buf));
	expect_error(buf, MEDFS_PASSPHRASE_MAX + 1, -E2BIG);
	buf[MEDFS_PASSPHRASE_MAX + 1] = '\n';
	expect_error(buf, MEDFS_PASSPHRASE_MAX + 2, -E2BIG);
	buf[MEDFS_PASSPHRASE_MAX + 1] = '\r';
	buf[MEDFS_PASSPHRASE_MAX + 2] = '\n';
	expect_error(buf, MEDFS_PASSPHRASE_MAX + 3, -E2BIG);
	/* A big file with no newline at all. */
	memset(buf, 'a', sizeof(buf));
	for (i = 0; i < 10; i++)
		write_file(buf, sizeof(buf));
	expect_error(buf, sizeof(buf), -E2BIG);
}
END_TEST

START_TEST(test_file_errors)
{
	char *p = (char *)1;
	size_t len = 1;

	ck_assert_int_eq(medfs_passphrase_from_file(file, &p, &len), -ENOENT);
	ck_assert_ptr_null(p);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(medfs_passphrase_from_file(dir, &p, &len), -EISDIR);
	ck_assert_int_eq(medfs_passphrase_from_file("", &p, &len), -ENOENT);
	medfs_passphrase_free(NULL);
}
END_TEST

/* A passphrase file its group or others may read is refused. */
START_TEST(test_file_not_private)
{
	char *p = (char *)1;
	size_t len = 1;

	write_file("secret\n", 7);
	ck_assert_int_eq(chmod(file, 0644), 0);
	ck_assert_int_eq(medfs_passphrase_from_file(file, &p, &len), -EPERM);
	ck_assert_ptr_null(p);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(chmod(file, 0600), 0);
	ck_assert_int_eq(medfs_passphrase_from_file(file, &p, &len), 0);
	medfs_passphrase_free(p);
}
END_TEST

START_TEST(test_chars)
{
	ck_assert_uint_eq(medfs_passphrase_chars("", 0), 0);
	ck_assert_uint_eq(medfs_passphrase_chars("correct horse", 13), 13);
	ck_assert_uint_eq(medfs_passphrase_chars("p\xc3\xa2t\xc3\xa9", 6), 4); /* pâté */
	ck_assert_uint_eq(medfs_passphrase_chars("\xe2\x82\xac\xf0\x9f\x94\x91", 7), 2);
}
END_TEST

/* From a pipe, nothing past the first newline is consumed. */
START_TEST(test_file_pipe)
{
	char path[64], rest[16];
	char *p = NULL;
	size_t len = 0;
	int fds[2];

	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(write(fds[1], "secret\nrest", 11), 11);
	close(fds[1]);
	snprintf(path, sizeof(path), "/dev/fd/%d", fds[0]);
	ck_assert_int_eq(medfs_passphrase_from_file(path, &p, &len), 0);
	ck_assert_uint_eq(len, 6);
	ck_assert_str_eq(p, "secret");
	medfs_passphrase_free(p);
	ck_assert_int_eq(read(fds[0], rest, sizeof(rest)), 4);
	ck_assert_mem_eq(rest, "rest", 4);
	close(fds[0]);
}
END_TEST

/* ---- terminal ---- */

/* Without a controlling terminal (a new session has none), prompting fails
 * with -ENXIO. Deterministic whether or not the test runs on a terminal. */
START_TEST(test_prompt_no_tty)
{
	int status;
	pid_t pid;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char *p = NULL;
		size_t len = 0;
		int ok;

		setsid();
		ok = medfs_passphrase_prompt("Passphrase: ", &p, &len) == -ENXIO &&
		     p == NULL && len == 0 &&
		     medfs_passphrase_prompt_new("New passphrase: ", &p, &len) == -ENXIO;
		_exit(ok ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

#define WAIT_MS 60000 /* generous: valgrind is slow */

struct pty_child {
	pid_t pid;
	int master;
	int report; /* read end of the child's report pipe */
};

/* The child's report: return value, echo state afterwards, passphrase. */
struct report {
	int ret;
	int echo_after;
	size_t len;
	char pass[64];
};

/* Starts a child that prompts on a new pseudo-terminal as its controlling
 * terminal. Returns 0, or -1 when no pseudo-terminal can be had. */
static int start_prompt(struct pty_child *c, int twice)
{
	char name[64];
	int pipefd[2];

	c->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (c->master < 0)
		return -1;
	if (grantpt(c->master) < 0 || unlockpt(c->master) < 0 ||
	    ptsname_r(c->master, name, sizeof(name)) != 0) {
		close(c->master);
		return -1;
	}
	ck_assert_int_eq(pipe(pipefd), 0);
	c->pid = fork();
	ck_assert_int_ge(c->pid, 0);
	if (c->pid == 0) {
		struct report r;
		struct termios t;
		char *p = NULL;
		int fd;

		close(pipefd[0]);
		memset(&r, 0, sizeof(r));
		/* Check's runner catches SIGINT to kill the whole test group. */
		signal(SIGINT, SIG_DFL);
		if (setsid() < 0)
			_exit(2);
		fd = open(name, O_RDWR);
		if (fd < 0 || ioctl(fd, TIOCSCTTY, 0) < 0)
			_exit(2);
		if (twice)
			r.ret = medfs_passphrase_prompt_new("New passphrase: ", &p,
							    &r.len);
		else
			r.ret = medfs_passphrase_prompt("Passphrase: ", &p, &r.len);
		if (r.ret == 0 && r.len < sizeof(r.pass))
			memcpy(r.pass, p, r.len);
		medfs_passphrase_free(p);
		r.echo_after = tcgetattr(fd, &t) == 0 && (t.c_lflag & ECHO);
		if (write(pipefd[1], &r, sizeof(r)) != sizeof(r))
			_exit(3);
		_exit(0);
	}
	close(pipefd[1]);
	c->report = pipefd[0];
	return 0;
}

/* Reads the terminal output until it ends with want (or, with want NULL,
 * until the child closes its side). Returns what was read. */
static void read_until(int master, const char *want, char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	for (;;) {
		struct pollfd pfd = { .fd = master, .events = POLLIN };
		ssize_t r;

		ck_assert_msg(poll(&pfd, 1, WAIT_MS) == 1, "terminal output timed out");
		r = read(master, out + n, size - 1 - n);
		if (r <= 0) {
			/* EIO: the child closed the terminal. */
			ck_assert_msg(want == NULL, "terminal closed before \"%s\"",
				      want);
			return;
		}
		n += (size_t)r;
		out[n] = '\0';
		if (want != NULL && n >= strlen(want) &&
		    strcmp(out + n - strlen(want), want) == 0)
			return;
		ck_assert_uint_lt(n, size - 1);
	}
}

static void type(int master, const char *s)
{
	ck_assert_int_eq(write(master, s, strlen(s)), (ssize_t)strlen(s));
}

/* Collects the rest of the terminal output, the report and the exit. */
static void finish(struct pty_child *c, struct report *r, char *out, size_t size)
{
	int status;

	read_until(c->master, NULL, out, size);
	ck_assert_int_eq(read(c->report, r, sizeof(*r)), (ssize_t)sizeof(*r));
	ck_assert_int_eq(waitpid(c->pid, &status, 0), c->pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	close(c->report);
	close(c->master);
}

START_TEST(test_prompt_tty)
{
	struct pty_child c;
	struct report r;
	char out[256];

	if (start_prompt(&c, 0) < 0) {
		fprintf(stderr, "test_prompt_tty: no pseudo-terminal, skipped\n");
		return;
	}
	read_until(c.master, "Passphrase: ", out, sizeof(out));
	type(c.master, "hunter2\n");
	finish(&c, &r, out, sizeof(out));
	/* Not echoed: only the newline the prompt writes itself. */
	ck_assert_str_eq(out, "\r\n");
	ck_assert_int_eq(r.ret, 0);
	ck_assert_uint_eq(r.len, 7);
	ck_assert_mem_eq(r.pass, "hunter2", 7);
	ck_assert_int_eq(r.echo_after, 1);
}
END_TEST

START_TEST(test_prompt_tty_errors)
{
	struct pty_child c;
	struct report r;
	char out[256], line[MEDFS_PASSPHRASE_MAX + 3];

	if (start_prompt(&c, 0) < 0) {
		fprintf(stderr, "test_prompt_tty_errors: no pseudo-terminal, skipped\n");
		return;
	}
	read_until(c.master, "Passphrase: ", out, sizeof(out));
	type(c.master, "\n");
	finish(&c, &r, out, sizeof(out));
	ck_assert_int_eq(r.ret, -EINVAL);
	ck_assert_int_eq(r.echo_after, 1);

	ck_assert_int_eq(start_prompt(&c, 0), 0);
	read_until(c.master, "Passphrase: ", out, sizeof(out));
	memset(line, 'a', sizeof(line));
	line[MEDFS_PASSPHRASE_MAX + 1] = '\n';
	line[MEDFS_PASSPHRASE_MAX + 2] = '\0';
	type(c.master, line);
	finish(&c, &r, out, sizeof(out));
	ck_assert_int_eq(r.ret, -E2BIG);
	ck_assert_int_eq(r.echo_after, 1);
}
END_TEST

START_TEST(test_prompt_new)
{
	struct pty_child c;
	struct report r;
	char out[256];

	if (start_prompt(&c, 1) < 0) {
		fprintf(stderr, "test_prompt_new: no pseudo-terminal, skipped\n");
		return;
	}
	read_until(c.master, "New passphrase: ", out, sizeof(out));
	type(c.master, "same words\n");
	read_until(c.master, "Repeat passphrase: ", out, sizeof(out));
	type(c.master, "same words\n");
	finish(&c, &r, out, sizeof(out));
	ck_assert_int_eq(r.ret, 0);
	ck_assert_uint_eq(r.len, 10);
	ck_assert_mem_eq(r.pass, "same words", 10);

	ck_assert_int_eq(start_prompt(&c, 1), 0);
	read_until(c.master, "New passphrase: ", out, sizeof(out));
	type(c.master, "same words\n");
	read_until(c.master, "Repeat passphrase: ", out, sizeof(out));
	type(c.master, "same word\n");
	finish(&c, &r, out, sizeof(out));
	ck_assert_int_eq(r.ret, -EKEYREJECTED);
	ck_assert_uint_eq(r.len, 0);
	ck_assert_int_eq(r.echo_after, 1);
}
END_TEST

/* Ctrl-C at the prompt kills the process, and echo is back on. */
START_TEST(test_prompt_interrupt)
{
	struct pty_child c;
	struct termios t;
	char out[256];
	int status;

	if (start_prompt(&c, 0) < 0) {
		fprintf(stderr, "test_prompt_interrupt: no pseudo-terminal, skipped\n");
		return;
	}
	read_until(c.master, "Passphrase: ", out, sizeof(out));
	type(c.master, "half\x03");
	ck_assert_int_eq(waitpid(c.pid, &status, 0), c.pid);
	ck_assert(WIFSIGNALED(status));
	ck_assert_int_eq(WTERMSIG(status), SIGINT);
	ck_assert_int_eq(tcgetattr(c.master, &t), 0);
	ck_assert(t.c_lflag & ECHO);
	close(c.report);
	close(c.master);
}
END_TEST

static Suite *passphrase_suite(void)
{
	Suite *s = suite_create("passphrase");
	TCase *tc;

	tc = tcase_create("file");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_file_lines);
	tcase_add_test(tc, test_file_empty);
	tcase_add_test(tc, test_file_length);
	tcase_add_test(tc, test_file_errors);
	tcase_add_test(tc, test_file_not_private);
	tcase_add_test(tc, test_chars);
	tcase_add_test(tc, test_file_pipe);
	suite_add_tcase(s, tc);

	tc = tcase_create("terminal");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_prompt_no_tty);
	tcase_add_test(tc, test_prompt_tty);
	tcase_add_test(tc, test_prompt_tty_errors);
	tcase_add_test(tc, test_prompt_new);
	tcase_add_test(tc, test_prompt_interrupt);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(passphrase_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
