/* medfs: slices of a range of blocks on helper threads. Each helper has
 * its own slot; a caller claims idle slots without waiting, hands each a
 * slice, does the first slice itself, then waits for the ones it handed. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "medfs/parallel.h"

#define MAX_HELPERS 3
#define HELPER_STACK (256 * 1024)

enum { IDLE, WORK, DONE, QUIT };

struct helper {
	atomic_int claimed; /* a caller owns this slot */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* state changes, both ways */
	int state;
	void (*fn)(void *arg, size_t from, size_t to);
	void *arg;
	size_t from, to;
};

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
		pthread_mutex_unlock(&h->lock);
		h->fn(h->arg, h->from, h->to);
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
		while (h->state == WORK)
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
	size_t slice, mine, from;
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
	/* k + 1 slices; the caller's, first, also takes the remainder. */
	slice = n / (k + 1);
	mine = n - slice * k;
	from = mine;
	for (unsigned j = 0; j < k; j++) {
		struct helper *h = got[j];

		pthread_mutex_lock(&h->lock);
		h->fn = fn;
		h->arg = arg;
		h->from = from;
		h->to = from + slice;
		h->state = WORK;
		pthread_cond_broadcast(&h->cond);
		pthread_mutex_unlock(&h->lock);
		from += slice;
	}
	fn(arg, 0, mine);
	for (unsigned j = 0; j < k; j++) {
		struct helper *h = got[j];

		pthread_mutex_lock(&h->lock);
		while (h->state != DONE)
			pthread_cond_wait(&h->cond, &h->lock);
		h->state = IDLE;
		pthread_mutex_unlock(&h->lock);
		atomic_store(&h->claimed, 0);
	}
}
