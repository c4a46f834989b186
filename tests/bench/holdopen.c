/* holdopen: holds many files open, for the memory figures of the medfs
 * comparison benchmark (tests/bench/compare.sh).
 *
 *   holdopen DIR COUNT
 *
 * opens DIR/f00000 ... (the files `openread create` makes) read-only,
 * reads the first 4 KiB of each as a viewer reading a header would, and
 * keeps them all open. Then it prints "ready COUNT" on a line of its own
 * and waits for SIGTERM or SIGINT, on which it closes them and exits 0.
 * Exit status 1 when a call fails (the file and errno are printed), 2 on
 * bad arguments. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static int failed(const char *what, const char *path)
{
	fprintf(stderr, "holdopen: %s %s: %s\n", what, path, strerror(errno));
	return 1;
}

/* Room for count descriptors and a few more. */
static int raise_fd_limit(long count)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	if (rl.rlim_cur >= (rlim_t)count + 16)
		return 0;
	rl.rlim_cur = (rlim_t)count + 16;
	if (rl.rlim_max < rl.rlim_cur)
		rl.rlim_max = rl.rlim_cur; /* works as root */
	return setrlimit(RLIMIT_NOFILE, &rl);
}

int main(int argc, char **argv)
{
	char path[4096], buf[4096];
	sigset_t set;
	long count;
	int *fds, sig, ret = 1;
	long opened = 0;

	if (argc != 3 || (count = strtol(argv[2], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: holdopen DIR COUNT\n");
		return 2;
	}
	if (raise_fd_limit(count) < 0) {
		fprintf(stderr, "holdopen: cannot allow %ld open files: %s\n", count,
			strerror(errno));
		return 1;
	}
	fds = calloc((size_t)count, sizeof(*fds));
	if (!fds) {
		fprintf(stderr, "holdopen: out of memory\n");
		return 1;
	}
	/* Block the signals before saying ready, then wait for one. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);

	for (; opened < count; opened++) {
		snprintf(path, sizeof(path), "%s/f%05ld", argv[1], opened);
		fds[opened] = open(path, O_RDONLY);
		if (fds[opened] < 0) {
			failed("open", path);
			goto out;
		}
		if (read(fds[opened], buf, sizeof(buf)) < 0) {
			failed("read", path);
			opened++;
			goto out;
		}
	}
	printf("ready %ld\n", count);
	fflush(stdout);
	if (sigwait(&set, &sig) != 0)
		goto out;
	ret = 0;
out:
	while (opened > 0)
		close(fds[--opened]);
	free(fds);
	return ret;
}
