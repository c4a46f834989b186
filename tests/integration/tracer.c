/* tracer: a minimal debugger for the tests, as a user would use one to
 * run their own code as a program a policy names.
 *
 *   tracer CMD [ARG]...     runs CMD traced from its start; exits with
 *                           its status
 *   tracer -p PID FLAG      attaches to the running PID, creates the file
 *                           FLAG once attached, and stays attached until
 *                           PID ends
 *
 * The tracee's signals are passed on; nothing else is done to it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

/* Follows pid until it ends; returns its exit status. */
static int follow(pid_t pid)
{
	int status;

	for (;;) {
		int sig = 0;

		if (waitpid(pid, &status, __WALL) < 0) {
			if (errno == EINTR)
				continue;
			perror("tracer: waitpid");
			return 1;
		}
		if (WIFEXITED(status))
			return WEXITSTATUS(status);
		if (WIFSIGNALED(status))
			return 128 + WTERMSIG(status);
		if (WIFSTOPPED(status) && WSTOPSIG(status) != SIGTRAP &&
		    WSTOPSIG(status) != SIGSTOP)
			sig = WSTOPSIG(status);
		ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig);
	}
}

int main(int argc, char *argv[])
{
	pid_t pid;
	int status, fd;

	if (argc == 4 && strcmp(argv[1], "-p") == 0) {
		pid = (pid_t)atoi(argv[2]);
		if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) < 0) {
			perror("tracer: PTRACE_ATTACH");
			return 1;
		}
		if (waitpid(pid, &status, __WALL) < 0) {
			perror("tracer: waitpid");
			return 1;
		}
		fd = open(argv[3], O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0) {
			perror("tracer: flag");
			return 1;
		}
		close(fd);
		ptrace(PTRACE_CONT, pid, NULL, NULL);
		follow(pid);
		return 0;
	}
	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: tracer CMD [ARG]... | tracer -p PID FLAG\n");
		return 2;
	}
	pid = fork();
	if (pid < 0) {
		perror("tracer: fork");
		return 1;
	}
	if (pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0) {
			perror("tracer: PTRACE_TRACEME");
			_exit(127);
		}
		raise(SIGSTOP);
		execvp(argv[1], argv + 1);
		perror("tracer: exec");
		_exit(127);
	}
	return follow(pid);
}
