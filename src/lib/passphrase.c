/* medfs: reading passphrases without leaving copies behind.
 *
 * Passphrases are read with read(2), one byte at a time, straight into
 * secret memory: no stdio buffer ever holds them, and nothing past the
 * first newline is consumed. The terminal prompt follows OpenBSD's
 * readpassphrase(3): echo off, restored on every path, and signals that
 * arrive while it is off are re-raised only once the terminal is back. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "medfs/crypto.h"
#include "medfs/passphrase.h"

/* Room for MEDFS_PASSPHRASE_MAX bytes and a '\r': one more means too long. */
#define LINE_CAP (MEDFS_PASSPHRASE_MAX + 2)

static const int tty_signals[] = {
	SIGALRM, SIGHUP, SIGINT, SIGPIPE, SIGQUIT, SIGTERM, SIGTSTP, SIGTTIN, SIGTTOU,
};
#define NSIGNALS (sizeof(tty_signals) / sizeof(tty_signals[0]))

static volatile sig_atomic_t caught[NSIG];

static void on_signal(int sig)
{
	caught[sig] = 1;
}

static int any_caught(void)
{
	size_t i;

	for (i = 0; i < NSIGNALS; i++)
		if (caught[tty_signals[i]])
			return 1;
	return 0;
}

/* Reads the first line of fd into buf (LINE_CAP + 1 bytes), without its
 * "\n" or "\r\n", NUL-terminated. With wait_mask, the caller has blocked
 * the prompt's signals and each byte is first waited for with ppoll under
 * wait_mask: a signal then always interrupts the wait, with no window
 * where it could arrive just before a blocking read. Returns 0, -EINVAL
 * (empty), -E2BIG, -EINTR (a prompt's signal came in) or -errno. */
static int read_line(int fd, char *buf, size_t *len, const sigset_t *wait_mask)
{
	size_t n = 0;
	int newline = 0, ret = 0;

	while (n < LINE_CAP) {
		ssize_t r;

		if (wait_mask != NULL) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };

			if (ppoll(&pfd, 1, NULL, wait_mask) < 0) {
				if (errno != EINTR)
					ret = -errno;
				else if (any_caught())
					ret = -EINTR;
				else
					continue;
				goto out;
			}
		}
		r = read(fd, buf + n, 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto out;
		}
		if (r == 0)
			break;
		if (buf[n] == '\n') {
			newline = 1;
			break;
		}
		n++;
	}
	if (!newline && n == LINE_CAP) {
		ret = -E2BIG;
		goto out;
	}
	if (newline && n > 0 && buf[n - 1] == '\r')
		n--;
	if (n > MEDFS_PASSPHRASE_MAX)
		ret = -E2BIG;
	else if (n == 0)
		ret = -EINVAL;
out:
	if (ret < 0)
		n = 0;
	sodium_memzero(buf + n, LINE_CAP + 1 - n);
	*len = n;
	return ret;
}

int medfs_passphrase_from_file(const char *path, char **out, size_t *len)
{
	char *buf = NULL;
	int fd, ret;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	ret = medfs_secret_file_check(fd);
	if (ret < 0)
		goto out;
	ret = -ENOMEM;
	buf = medfs_secret_alloc(LINE_CAP + 1);
	if (buf == NULL)
		goto out;
	ret = read_line(fd, buf, len, NULL);
out:
	close(fd);
	if (ret < 0) {
		medfs_secret_free(buf);
		return ret;
	}
	*out = buf;
	return 0;
}

/* Maps a failed open of /dev/tty to -ENXIO when it only means "no
 * controlling terminal" (no tty, no /dev/tty in a container). */
static int tty_error(int err)
{
	if (err == ENXIO || err == ENOENT || err == ENODEV || err == ENOTTY)
		return -ENXIO;
	return -err;
}

/* One prompt: returns 0 or -errno, and in *stopped 1 when a job-control
 * signal stopped us mid-prompt and the caller should ask again. */
static int prompt_once(const char *prompt, char *buf, size_t *len, int *stopped)
{
	struct sigaction sa, saved[NSIGNALS];
	sigset_t block, wait_mask;
	struct termios old, term;
	int fd, ret, echo_off = 0, blocked = 0;
	size_t i;

	*stopped = 0;
	*len = 0;
	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return tty_error(errno);
	if (tcgetattr(fd, &old) < 0) {
		ret = tty_error(errno);
		close(fd);
		return ret;
	}

	sigemptyset(&block);
	for (i = 0; i < NSIGNALS; i++)
		sigaddset(&block, tty_signals[i]);
	/* No SA_RESTART: a signal must interrupt tcsetattr and the wait. */
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_signal;
	for (i = 0; i < NSIGNALS; i++) {
		caught[tty_signals[i]] = 0;
		sigaction(tty_signals[i], &sa, &saved[i]);
	}

	term = old;
	term.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	if (tcsetattr(fd, TCSAFLUSH, &term) < 0) {
		ret = errno == EINTR ? -EINTR : -errno;
		goto out;
	}
	echo_off = 1;
	if (write(fd, prompt, strlen(prompt)) < 0) {
		ret = errno == EINTR ? -EINTR : -errno;
		goto out;
	}
	/* Blocked outside ppoll, the signals can only land while we wait. */
	pthread_sigmask(SIG_BLOCK, &block, &wait_mask);
	blocked = 1;
	if (any_caught())
		ret = -EINTR;
	else
		ret = read_line(fd, buf, len, &wait_mask);
	/* The user's newline was not echoed; failing to add it is harmless. */
	(void)!write(fd, "\n", 1);
out:
	/* With SIGTTOU blocked, restoring works even from the background. */
	if (!blocked)
		pthread_sigmask(SIG_BLOCK, &block, &wait_mask);
	if (echo_off) {
		while (tcsetattr(fd, TCSAFLUSH, &old) < 0 && errno == EINTR)
			;
	}
	for (i = 0; i < NSIGNALS; i++)
		sigaction(tty_signals[i], &saved[i], NULL);
	pthread_sigmask(SIG_SETMASK, &wait_mask, NULL);
	close(fd);

	/* Deliver what came in, now that the terminal is sane again. */
	for (i = 0; i < NSIGNALS; i++) {
		int sig = tty_signals[i];

		if (!caught[sig])
			continue;
		caught[sig] = 0;
		kill(getpid(), sig);
		if (sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
			*stopped = 1;
	}
	if (ret < 0)
		*len = 0;
	return ret;
}

/* Signal dispositions are process-wide: call before starting threads. */
int medfs_passphrase_prompt(const char *prompt, char **out, size_t *len)
{
	char *buf;
	int ret, stopped;

	*out = NULL;
	*len = 0;
	buf = medfs_secret_alloc(LINE_CAP + 1);
	if (buf == NULL)
		return -ENOMEM;
	do
		ret = prompt_once(prompt, buf, len, &stopped);
	while (stopped);
	if (ret < 0) {
		medfs_secret_free(buf);
		return ret;
	}
	*out = buf;
	return 0;
}

int medfs_passphrase_prompt_new(const char *prompt, char **out, size_t *len)
{
	char *first = NULL, *second = NULL;
	size_t first_len = 0, second_len = 0;
	int ret;

	*out = NULL;
	*len = 0;
	ret = medfs_passphrase_prompt(prompt, &first, &first_len);
	if (ret < 0)
		goto out;
	ret = medfs_passphrase_prompt("Repeat passphrase: ", &second, &second_len);
	if (ret < 0)
		goto out;
	if (first_len != second_len || sodium_memcmp(first, second, first_len) != 0) {
		ret = -EKEYREJECTED;
		goto out;
	}
	*out = first;
	*len = first_len;
	first = NULL;
out:
	medfs_passphrase_free(first);
	medfs_passphrase_free(second);
	return ret;
}

void medfs_passphrase_free(char *p)
{
	medfs_secret_free(p);
}

size_t medfs_passphrase_chars(const char *p, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)p[i] & 0xc0) != 0x80;
	return n;
}
