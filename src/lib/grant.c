/* medfs: the emergency grants of a mount (see medfs/grant.h).
 *
 * An unsorted array: a mount holds a handful of grants at a time, one per
 * person who broke the glass, so a linear search under the mutex costs
 * less than any index would. The count of running grants is also kept
 * atomically for the lock-free answer of an empty table. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "medfs/grant.h"

struct medfs_grants {
	pthread_mutex_t lock; /* guards what follows */
	struct medfs_grant *g;
	size_t n, cap; /* n is also read without the lock, atomically */
	uint64_t serial;
	medfs_grant_end_fn on_end;
	void *ctx;
};

int medfs_grants_new(struct medfs_grants **out, medfs_grant_end_fn on_end, void *ctx)
{
	struct medfs_grants *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (!t)
		return -ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	t->on_end = on_end;
	t->ctx = ctx;
	*out = t;
	return 0;
}

/* Under the lock. */
static struct medfs_grant *by_uid(struct medfs_grants *t, uid_t uid)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->g[i].uid == uid)
			return &t->g[i];
	return NULL;
}

/* Under the lock. */
static struct medfs_grant *by_serial(struct medfs_grants *t, uint64_t serial)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->g[i].serial == serial)
			return &t->g[i];
	return NULL;
}

/* Under the lock: tells on_end, then drops g from the table. */
static void end_one(struct medfs_grants *t, struct medfs_grant *g, const char *how)
{
	if (t->on_end)
		t->on_end(t->ctx, g, how);
	*g = t->g[t->n - 1];
	__atomic_store_n(&t->n, t->n - 1, __ATOMIC_RELEASE);
}

/* Under the lock. */
static void expire_locked(struct medfs_grants *t, uint64_t now)
{
	size_t i = 0;

	while (i < t->n) {
		if (t->g[i].deadline <= now)
			end_one(t, &t->g[i], "expired");
		else
			i++;
	}
}

void medfs_grants_end_all(struct medfs_grants *t, const char *how)
{
	pthread_mutex_lock(&t->lock);
	while (t->n)
		end_one(t, &t->g[t->n - 1], how);
	pthread_mutex_unlock(&t->lock);
}

void medfs_grants_free(struct medfs_grants *t)
{
	if (!t)
		return;
	medfs_grants_end_all(t, "ended at unmount");
	pthread_mutex_destroy(&t->lock);
	free(t->g);
	free(t);
}

int medfs_grants_start(struct medfs_grants *t, uid_t uid, unsigned seconds, uint64_t now,
		       time_t wall, struct medfs_grant *out)
{
	struct medfs_grant *g;

	if (seconds == 0 || seconds > MEDFS_GRANT_SECONDS_MAX)
		return -EINVAL;
	pthread_mutex_lock(&t->lock);
	expire_locked(t, now);
	g = by_uid(t, uid);
	if (!g) {
		if (t->n == t->cap) {
			size_t cap = t->cap ? 2 * t->cap : 8;
			struct medfs_grant *p = realloc(t->g, cap * sizeof(*p));

			if (!p) {
				pthread_mutex_unlock(&t->lock);
				return -ENOMEM;
			}
			t->g = p;
			t->cap = cap;
		}
		g = &t->g[t->n];
		*g = (struct medfs_grant){ .serial = ++t->serial, .uid = uid };
		__atomic_store_n(&t->n, t->n + 1, __ATOMIC_RELEASE);
	}
	g->start = wall;
	g->end = wall + (time_t)seconds;
	g->deadline = now + (uint64_t)seconds * 1000000000ULL;
	if (out)
		*out = *g;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

int medfs_grants_end(struct medfs_grants *t, uid_t uid, uint64_t now, const char *how)
{
	struct medfs_grant *g;

	pthread_mutex_lock(&t->lock);
	expire_locked(t, now);
	g = by_uid(t, uid);
	if (g)
		end_one(t, g, how);
	pthread_mutex_unlock(&t->lock);
	return g ? 0 : -ENODATA;
}

void medfs_grants_expire(struct medfs_grants *t, uint64_t now)
{
	pthread_mutex_lock(&t->lock);
	expire_locked(t, now);
	pthread_mutex_unlock(&t->lock);
}

uint64_t medfs_grants_active(struct medfs_grants *t, uid_t uid, uint64_t now)
{
	struct medfs_grant *g;
	uint64_t serial;

	if (__atomic_load_n(&t->n, __ATOMIC_ACQUIRE) == 0)
		return 0;
	pthread_mutex_lock(&t->lock);
	expire_locked(t, now);
	g = by_uid(t, uid);
	serial = g ? g->serial : 0;
	pthread_mutex_unlock(&t->lock);
	return serial;
}

int medfs_grants_get(struct medfs_grants *t, uid_t uid, uint64_t now,
		     struct medfs_grant *out)
{
	struct medfs_grant *g;

	pthread_mutex_lock(&t->lock);
	expire_locked(t, now);
	g = by_uid(t, uid);
	if (g)
		*out = *g;
	pthread_mutex_unlock(&t->lock);
	return g ? 0 : -ENODATA;
}

size_t medfs_grants_list(struct medfs_grants *t, uint64_t now, struct medfs_grant *out,
			 size_t max)
{
	size_t n;

	pthread_mutex_lock(&t->lock);
	expire_locked(t, now);
	n = t->n;
	for (size_t i = 0; i < n && i < max; i++)
		out[i] = t->g[i];
	pthread_mutex_unlock(&t->lock);
	return n;
}

uint64_t medfs_grants_next_deadline(struct medfs_grants *t)
{
	uint64_t next = UINT64_MAX;

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n; i++)
		if (t->g[i].deadline < next)
			next = t->g[i].deadline;
	pthread_mutex_unlock(&t->lock);
	return next;
}

int medfs_grants_use(struct medfs_grants *t, uint64_t serial, uint64_t now)
{
	struct medfs_grant *g;

	if (serial == 0)
		return -EACCES;
	pthread_mutex_lock(&t->lock);
	expire_locked(t, now);
	g = by_serial(t, serial);
	if (g)
		g->accesses++;
	pthread_mutex_unlock(&t->lock);
	return g ? 0 : -EACCES;
}

void medfs_grants_hold(struct medfs_grants *t, uint64_t serial)
{
	struct medfs_grant *g;

	pthread_mutex_lock(&t->lock);
	g = by_serial(t, serial);
	if (g)
		g->open++;
	pthread_mutex_unlock(&t->lock);
}

void medfs_grants_drop(struct medfs_grants *t, uint64_t serial)
{
	struct medfs_grant *g;

	pthread_mutex_lock(&t->lock);
	g = by_serial(t, serial);
	if (g && g->open)
		g->open--;
	pthread_mutex_unlock(&t->lock);
}
