/* medfs: one replaceable, thread-safe log function.
 *
 * The library never logs plaintext paths, names, contents or keys: only
 * vault-side (encrypted) paths and offsets. The driver sends the log to
 * syslog, the tools to stderr. */
#ifndef MEDFS_LOG_H
#define MEDFS_LOG_H

#include <syslog.h> /* LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG */

typedef void (*medfs_log_fn)(int priority, const char *msg);

/* Replaces the log sink (NULL restores the default: stderr, prefixed
 * "medfs: "). Call before starting threads. */
void medfs_log_set(medfs_log_fn fn);

void medfs_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
