/* medfs: the emergency grants of a mount ("break the glass").
 *
 * A table of grants, at most one per uid. Each grant has a serial, never
 * 0 and never given twice by a table: a renewal keeps it, a new grant
 * after the end of the last one gets a new one. Files opened under a
 * grant carry its serial, and every access through them asks the table
 * (medfs_grants_use) whether that grant still runs: once it ended, they
 * are refused, so nothing opened under a grant outlives it, and its
 * count of accesses is the whole of what was done under it.
 *
 * No clock is read here: each call is handed `now`, on one monotonic
 * clock of the caller's choice in nanoseconds (the driver's is
 * CLOCK_BOOTTIME, which counts the time the machine sleeps), and starts
 * also the wall-clock time, for display. A grant whose deadline is at or
 * before `now` has ended: every call that looks at the table ends such
 * grants first. Ending a grant calls on_end once, with the grant as it
 * ended, under the table's lock: it must not call back into the table.
 *
 * Thread-safe: one mutex per table. medfs_grants_active answers without
 * the lock while the table is empty, so a mount without grants pays one
 * atomic load per decision. Returns 0 or -errno unless said otherwise. */
#ifndef MEDFS_GRANT_H
#define MEDFS_GRANT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* The longest reason a grant may be asked with, in bytes: longer ones are
 * refused (-E2BIG), never cut. */
#define MEDFS_GRANT_REASON_MAX 4000
/* The longest grant, in seconds (doc/POLICY.md: 24 hours at most). */
#define MEDFS_GRANT_SECONDS_MAX (24 * 3600)

struct medfs_grants;

struct medfs_grant {
	uint64_t serial;	/* never 0 */
	uid_t uid;		/* the holder */
	time_t start, end;	/* wall clock: the last (re)start, and the end due */
	uint64_t deadline;	/* on the caller's clock, ns */
	unsigned long accesses; /* accesses made under it */
	unsigned long open;	/* files opened under it and not yet released */
};

/* How a grant ended: "expired", "ended by its holder", "ended at unmount". */
typedef void (*medfs_grant_end_fn)(void *ctx, const struct medfs_grant *g,
				   const char *how);

/* An empty table; on_end may be NULL. */
int medfs_grants_new(struct medfs_grants **out, medfs_grant_end_fn on_end, void *ctx);
/* Ends every grant still running ("ended at unmount"), then frees. */
void medfs_grants_free(struct medfs_grants *t);

/* Starts uid's grant for seconds (1..MEDFS_GRANT_SECONDS_MAX, else
 * -EINVAL), or renews the one it holds (same serial, same count, a new
 * deadline). Fills *g (may be NULL) with the grant. */
int medfs_grants_start(struct medfs_grants *t, uid_t uid, unsigned seconds, uint64_t now,
		       time_t wall, struct medfs_grant *g);

/* Ends uid's grant now (how as on_end shows it). -ENODATA without one. */
int medfs_grants_end(struct medfs_grants *t, uid_t uid, uint64_t now, const char *how);

/* Ends every running grant (how as on_end shows it). */
void medfs_grants_end_all(struct medfs_grants *t, const char *how);

/* Ends the grants whose deadline has come. */
void medfs_grants_expire(struct medfs_grants *t, uint64_t now);

/* The serial of uid's running grant, 0 for none. */
uint64_t medfs_grants_active(struct medfs_grants *t, uid_t uid, uint64_t now);

/* uid's running grant into *g, or -ENODATA. */
int medfs_grants_get(struct medfs_grants *t, uid_t uid, uint64_t now,
		     struct medfs_grant *g);

/* The running grants: copies up to max of them into out (may be NULL
 * with max 0) and returns how many there are. */
size_t medfs_grants_list(struct medfs_grants *t, uint64_t now, struct medfs_grant *out,
			 size_t max);

/* The earliest deadline of the running grants, UINT64_MAX for none. */
uint64_t medfs_grants_next_deadline(struct medfs_grants *t);

/* One access made under the grant serial (a decision that only an
 * emergency rule allowed, or a read or write through a file opened under
 * it): counted while that grant runs; -EACCES once it has ended (serial 0
 * never runs). */
int medfs_grants_use(struct medfs_grants *t, uint64_t serial, uint64_t now);

/* A file opened under the grant serial, and its release: counted in the
 * grant's `open` while it runs (nothing once it has ended). */
void medfs_grants_hold(struct medfs_grants *t, uint64_t serial);
void medfs_grants_drop(struct medfs_grants *t, uint64_t serial);

#endif
