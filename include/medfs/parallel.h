/* medfs: the blocks of one large request, sealed or opened on several
 * cores.
 *
 * A 1 MiB read or write is 256 independent blocks; one FUSE thread alone
 * spends about half a millisecond on their cipher. A few helper threads,
 * started on first use (after any fork), take slices of such a range
 * while the caller does its own. A helper that is busy with another
 * request is not waited for: the caller then keeps more of the work. */
#ifndef MEDFS_PARALLEL_H
#define MEDFS_PARALLEL_H

#include <pthread.h>
#include <stddef.h>

/* Does fn(arg, from, to) over [0, n) in slices of at least min_slice
 * items (but the last), on the calling thread and on idle helpers, and
 * returns once every slice is done. fn must be safe to run on slices at
 * once. With fewer than 2 * min_slice items, or no idle helper,
 * fn(arg, 0, n) runs here; with none, nothing runs. */
void medfs_parallel_for(size_t n, size_t min_slice,
			void (*fn)(void *arg, size_t from, size_t to), void *arg);

/* How many helpers there are (the online CPUs less one, at most 3, once
 * started); 0 before first use or when there is one CPU. */
unsigned medfs_parallel_helpers(void);

/* pthread_create for the library's and the driver's own threads: they
 * start with every signal blocked, so that signals reach the threads
 * that handle them (libfuse's). Returns 0 or an error number. */
int medfs_thread_start(pthread_t *thread, const pthread_attr_t *attr, void *(*fn)(void *),
		       void *arg);

#endif
