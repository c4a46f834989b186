/* medfs: slices of a range of blocks on helper threads. Each helper has
 * its own slot; a caller claims idle slots without waiting and wakes them,
 * and all take slices from a shared cursor until none is left. A helper
 * still asleep when the caller has done everything is let go: waking a
 * thread costs tens of microseconds on a virtual machine, a slice of a
 * request less than a hundred. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "medfs/parallel.h"

#define MAX_HELPERS 3
#define HELPER_STACK (256 * 1024)

/* IDLE -> WORK (the caller) -> RUNNING (the helper) -> DONE (the helper)
 * -> IDLE (the caller), or WORK -> IDLE when the caller lets it go. */
enum { IDLE, WORK, RUNNING, DONE, QUIT };

struct job {
	void (*fn)(void *arg, size_t from, size_t to);
	void *arg;
	size_t n, slice;
	_Atomic size_t next; /* first item no one has taken */
};

struct helper {
	atomic_int claimed; /* a caller owns this slot */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* state changes, both ways */
	int state;
	struct job *job;
};

/* Takes slices of the job until none is left. */
static void take_slices(struct job *j)
{
	for (;;) {
		size_t from = atomic_fetch_add(&j->next, j->slice);

		if (from >= j->n)
			return;
		j->fn(j->arg, from, from + j->slice < j->n ? from + j->slice : j->n);
	}
}

static struct helper helpers[MAX_HELPERS];
static unsigned n_helpers;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void *helper_main(void *p)
{
	struct helper *h = p;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		while (h->state != WORK && h->state != QUIT)
			pthread_cond_wait(&h->cond, &h->lock);
		if (h->state == QUIT)
			break;
		h->state = RUNNING;
		pthread_mutex_unlock(&h->lock);
		take_slices(h->job);
		pthread_mutex_lock(&h->lock);
		h->state = DONE;
		pthread_cond_broadcast(&h->cond);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/* At exit, each helper finishes what it has and ends: nothing of them is
 * left for the process's last moments (nor for valgrind). */
static void stop(void)
{
	for (unsigned i = 0; i < n_helpers; i++) {
		struct helper *h = &helpers[i];

		pthread_mutex_lock(&h->lock);
		while (h->state == WORK || h->state == RUNNING)
			pthread_cond_wait(&h->cond, &h->lock);
		h->state = QUIT;
		pthread_cond_broadcast(&h->cond);
		pthread_mutex_unlock(&h->lock);
		pthread_join(h->thread, NULL);
	}
	n_helpers = 0;
}

int medfs_thread_start(pthread_t *thread, const pthread_attr_t *attr, void *(*fn)(void *),
		       void *arg)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(thread, attr, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

/* A helper that cannot be started is simply not there. */
static void start(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned want = cpus > 1 ? (unsigned)(cpus - 1) : 0;
	pthread_attr_t attr;

	if (want > MAX_HELPERS)
		want = MAX_HELPERS;
	if (want == 0 || pthread_attr_init(&attr) != 0)
		return;
	pthread_attr_setstacksize(&attr, HELPER_STACK);
	for (unsigned i = 0; i < want; i++) {
		struct helper *h = &helpers[n_helpers];

		pthread_mutex_init(&h->lock, NULL);
		pthread_cond_init(&h->cond, NULL);
		h->state = IDLE;
		if (medfs_thread_start(&h->thread, &attr, helper_main, h) != 0)
			break;
		n_helpers++;
	}
	pthread_attr_destroy(&attr);
	if (n_helpers > 0)
		atexit(stop);
}

unsigned medfs_parallel_helpers(void)
{
	return n_helpers;
}

void medfs_parallel_for(size_t n, size_t min_slice,
			void (*fn)(void *arg, size_t from, size_t to), void *arg)
{
	struct helper *got[MAX_HELPERS];
	struct job job = { .fn = fn, .arg = arg, .n = n };
	unsigned k = 0;

	if (n == 0)
		return;
	if (min_slice == 0)
		min_slice = 1;
	if (n >= 2 * min_slice) {
		pthread_once(&once, start);
		for (unsigned i = 0; i < n_helpers && (k + 2) * min_slice <= n; i++) {
			int idle = 0;

			if (atomic_compare_exchange_strong(&helpers[i].claimed, &idle, 1))
				got[k++] = &helpers[i];
		}
	}
	if (k == 0) {
		fn(arg, 0, n);
		return;
	}
	/* Slices of min_slice, or fewer and larger when there are many: a
	 * few per thread are enough to even out a late start. */
	job.slice = n / (4 * (k + 1));
	if (job.slice < min_slice)
		job.slice = min_slice;
	for (unsigned j = 0; j < k; j++) {
		struct helper *h = got[j];

		pthread_mutex_lock(&h->lock);
		h->job = &job;
		h->state = WORK;
		pthread_cond_broadcast(&h->cond);
		pthread_mutex_unlock(&h->lock);
	}
	take_slices(&job);
	for (unsigned j = 0; j < k; j++) {
		struct helper *h = got[j];

		pthread_mutex_lock(&h->lock);
		while (h->state == RUNNING)
			pthread_cond_wait(&h->cond, &h->lock);
		/* DONE, or still asleep (WORK): either way, free. */
		h->state = IDLE;
		pthread_mutex_unlock(&h->lock);
		atomic_store(&h->claimed, 0);
	}
}
