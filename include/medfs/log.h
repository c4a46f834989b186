/* medfs: one replaceable, thread-safe log function.
 *
 * The library never logs plaintext paths, names, contents or keys: only
 * vault-side (encrypted) paths and offsets. The driver sends the log to
 * syslog, the tools to stderr. */
#ifndef MEDFS_LOG_H
#define MEDFS_LOG_H

#include <stddef.h> /* size_t */
#include <syslog.h> /* LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG */

typedef void (*medfs_log_fn)(int priority, const char *msg);

/* Replaces the log sink (NULL restores the default: stderr, prefixed
 * "medfs: "). Call before starting threads. */
void medfs_log_set(medfs_log_fn fn);

void medfs_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes a reason for the caller into why (whysz bytes, cut to fit);
 * nothing when why is NULL or whysz is 0. For the functions that say why
 * they refused something. */
void medfs_reason(char *why, size_t whysz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
