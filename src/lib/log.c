/* medfs: one replaceable, thread-safe log function. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "medfs/log.h"

#define LOG_MSG_MAX 1024

static void log_stderr(int priority, const char *msg)
{
	(void)priority;
	/* One stdio call: the stream lock keeps concurrent lines whole. */
	fprintf(stderr, "medfs: %s\n", msg);
}

/* Read with atomic loads so a late medfs_log_set is still race-free. */
static medfs_log_fn log_sink = log_stderr;

void medfs_log_set(medfs_log_fn fn)
{
	__atomic_store_n(&log_sink, fn ? fn : log_stderr, __ATOMIC_RELEASE);
}

void medfs_log(int priority, const char *fmt, ...)
{
	char msg[LOG_MSG_MAX], *big = NULL;
	medfs_log_fn sink;
	va_list ap, again;
	int saved = errno; /* callers often log, then return -errno */
	int n;

	va_start(ap, fmt);
	va_copy(again, ap);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		snprintf(msg, sizeof(msg), "(unformattable log message)");
	else if ((size_t)n >= sizeof(msg) && (big = malloc((size_t)n + 1)))
		/* Whole: a vault path deep in a tree is many times PATH_MAX,
		 * and a report must name it in full (out of memory: cut). */
		vsnprintf(big, (size_t)n + 1, fmt, again);
	va_end(again);
	va_end(ap);

	sink = __atomic_load_n(&log_sink, __ATOMIC_ACQUIRE);
	sink(priority, big ? big : msg);
	free(big);
	errno = saved;
}

void medfs_reason(char *why, size_t whysz, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whysz == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whysz, fmt, ap);
	va_end(ap);
}
