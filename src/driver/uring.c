/* medfs driver: FUSE requests over io_uring, one queue per CPU (uring.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <liburing.h>
#include <linux/fuse.h>

#include "medfs/log.h"
#include "medfs/parallel.h"
#include "uring.h"

/* The kernel's side (protocol 7.42, Linux 6.14), which Debian bookworm's
 * <linux/fuse.h> predates. */
struct uring_ent_in_out {
	uint64_t flags;
	uint64_t commit_id; /* the request's unique */
	uint32_t payload_sz;
	uint32_t padding;
	uint64_t reserved;
};

struct uring_req_header {
	char in_out[128]; /* fuse_in_header in, fuse_out_header out */
	char op_in[128];  /* the request's first argument, its fixed header */
	struct uring_ent_in_out ent;
};

struct uring_cmd_req { /* in the SQE's command area */
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};

enum { CMD_REGISTER = 1, CMD_COMMIT_AND_FETCH = 2 };

#define ENABLE_PATH "/sys/module/fuse/parameters/enable_uring"

/* Threads per CPU queue, one entry each: the requests of one readahead
 * come at once, from the reader's CPU, and are best answered by several
 * threads (see bind_to_queue); and a slow request (an fsync on a slow
 * disk) leaves others a thread. */
#define THREADS_PER_CPU 4

/* An entry's memory: its headers, a page in which a request's headers
 * are put back in front of its payload (so that libfuse reads the request
 * whole, as from /dev/fuse, with no copy of the data), then the payload. */
#define HEADERS_ROOM 4096
#define FRONT_ROOM 4096

enum phase { WAIT, GO, QUIT };

struct ring_thread {
	struct uring *u;
	unsigned int qid;
	struct io_uring ring;
	pthread_t thread;
	char *memory;
	struct uring_req_header *headers;
	char *payload;
	struct iovec iov[2];
	uint64_t unique;      /* of the request being answered */
	uint32_t in_payload;  /* bytes of it in the payload */
	size_t data_in_place; /* reply data already in the payload */
	ssize_t replied;      /* bytes of its reply taken, -1 until then */
	bool registered;      /* its entry went to the kernel */
	int bound;	      /* to its queue's CPU: 1; to none: 0; -1 unknown */
	cpu_set_t given;      /* the CPUs it may run on */
};

struct uring {
	struct fuse_session *se;
	int fd;
	size_t payload_size;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum phase phase;
	unsigned int set_up, failed; /* threads past their set-up */
	unsigned int reported;	     /* threads past their registering */
	atomic_ulong answered;
	unsigned int n;
	struct ring_thread t[];
};

static _Thread_local struct ring_thread *answering;

/* valgrind (3.19) lets no other thread run while one waits in
 * io_uring_enter: the driver would stop at its first wait. */
static bool under_valgrind(void)
{
	const char *preload = getenv("LD_PRELOAD");

	return preload && strstr(preload, "vgpreload");
}

bool uring_enabled(void)
{
	char c = 'N';
	int fd;

	if (under_valgrind())
		return false;
	/* Read only: the parameter is the administrator's, and changes every
	 * FUSE mount of the host. */
	fd = open(ENABLE_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false; /* no FUSE over io_uring in this kernel */
	if (read(fd, &c, 1) != 1)
		c = 'N';
	close(fd);
	if (c == 'Y')
		return true;
	medfs_log(LOG_NOTICE,
		  "FUSE over io_uring is off on this host (%s is N): requests go "
		  "through /dev/fuse. Root may turn it on, for every FUSE "
		  "mount of the host, with: echo Y > %s (see medfs(1))",
		  ENABLE_PATH, ENABLE_PATH);
	return false;
}

static void set_phase(struct uring *u, enum phase phase)
{
	pthread_mutex_lock(&u->lock);
	__atomic_store_n(&u->phase, phase, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->lock);
}

/* A command of the FUSE ring in an SQE128: iov for a register, commit_id
 * (the request's unique) for a commit. */
static void fill_cmd(struct io_uring_sqe *sqe, int fd, uint32_t op, struct iovec *iov,
		     uint16_t qid, uint64_t commit_id)
{
	struct uring_cmd_req *req;

	memset(sqe, 0, 2 * sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	sqe->cmd_op = op;
	if (iov) {
		sqe->addr = (uintptr_t)iov;
		sqe->len = 2;
	}
	req = (struct uring_cmd_req *)sqe->cmd;
	req->qid = qid;
	req->commit_id = commit_id;
}

static int queue_cmd(struct ring_thread *t, uint32_t op)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&t->ring);

	/* One command at a time in a ring of 4: there is always room. */
	if (!sqe)
		return -EBUSY;
	if (op == CMD_REGISTER)
		fill_cmd(sqe, t->u->fd, op, t->iov, (uint16_t)t->qid, 0);
	else
		fill_cmd(sqe, t->u->fd, op, NULL, (uint16_t)t->qid, t->unique);
	return 0;
}

static void reply_error(struct ring_thread *t, int err)
{
	struct fuse_out_header out = {
		.len = sizeof(out),
		.error = -err,
		.unique = t->unique,
	};

	memcpy(t->headers->in_out, &out, sizeof(out));
	t->headers->ent.payload_sz = 0;
	t->replied = sizeof(out);
}

static void process(struct ring_thread *t, struct fuse_buf *buf)
{
	answering = t;
	fuse_session_process_buf(t->u->se, buf);
	answering = NULL;
}

/* Where a thread waits. A request goes to the queue of its caller's CPU;
 * a thread that waits bound to that CPU is woken there, without the
 * wake-ups across CPUs that cost more than a lookup's work on a virtual
 * machine, and most requests come one after another from one process.
 * But the requests of a readahead come several at once, and their cipher
 * work is best spread over every CPU: a thread lets go of its CPU for a
 * big read or write, and takes it again after a small request. Measured
 * on 2 CPUs, against threads bound to no CPU: open-read-close of 4 KiB
 * files 11,300-12,900 -> 20,300-26,500 files/s, DICOM ingest 1,015-1,125
 * -> 1,280-1,390 files/s, ls -lR of 10,000 files 0.48-0.59 -> 0.18 s,
 * rm -rf 0.34-0.38 -> 0.27 s; sequential reads the same, a series read
 * 5% slower. Bound to their CPU all the time, the threads read series
 * 10% and sequential reads 30% slower. */
#define BIG_REQUEST (64 * 1024)

static bool is_big(const struct fuse_in_header *in, const struct uring_req_header *h,
		   uint32_t payload_sz)
{
	struct fuse_read_in read;

	if (in->opcode == FUSE_WRITE)
		return payload_sz >= BIG_REQUEST;
	if (in->opcode != FUSE_READ)
		return false;
	memcpy(&read, h->op_in, sizeof(read));
	return read.size >= BIG_REQUEST;
}

/* Only on a change: each is a system call. Unbound is the CPUs the
 * driver was given (taskset(1)); a CPU it was not given is not taken. */
static void bind_to_queue(struct ring_thread *t, bool bound)
{
	cpu_set_t one;

	if (t->bound == (int)bound || !CPU_ISSET(t->qid, &t->given))
		return;
	CPU_ZERO(&one);
	CPU_SET(t->qid, &one);
	if (pthread_setaffinity_np(pthread_self(), sizeof(cpu_set_t),
				   bound ? &one : &t->given) == 0)
		t->bound = bound;
}

/* Gives libfuse the request that came into t's entry, as /dev/fuse
 * would have: its fuse_in_header and fixed header, then its payload. */
static void answer(struct ring_thread *t)
{
	struct uring_req_header *h = t->headers;
	uint32_t payload_sz = h->ent.payload_sz;
	struct fuse_in_header in;
	struct fuse_buf buf = { .size = 0 };
	size_t front;
	bool big;

	memcpy(&in, h->in_out, sizeof(in));
	t->unique = in.unique;
	t->in_payload = payload_sz;
	t->data_in_place = 0;
	t->replied = -1;
	if (in.len < sizeof(in) + (size_t)payload_sz ||
	    in.len - sizeof(in) - payload_sz > sizeof(h->op_in) ||
	    payload_sz > t->u->payload_size) {
		reply_error(t, EIO);
		return;
	}
	big = is_big(&in, h, payload_sz);
	if (big)
		bind_to_queue(t, false);
	front = in.len - payload_sz;
	buf.mem = t->payload - front;
	buf.size = in.len;
	memcpy(buf.mem, &in, sizeof(in));
	memcpy((char *)buf.mem + sizeof(in), h->op_in, front - sizeof(in));
	process(t, &buf);
	if (!big)
		bind_to_queue(t, true);
	if (t->replied < 0)
		reply_error(t, EIO); /* every request over the ring has a reply */
	atomic_fetch_add_explicit(&t->u->answered, 1, memory_order_relaxed);
}

bool uring_take_reply(const struct iovec *iov, int count, ssize_t *written)
{
	struct ring_thread *t = answering;
	struct fuse_out_header out;
	size_t total = 0;

	if (!t || count < 1 || iov[0].iov_len != sizeof(out) || t->replied >= 0)
		return false;
	memcpy(&out, iov[0].iov_base, sizeof(out));
	if (out.unique != t->unique)
		return false; /* a notification: /dev/fuse */
	for (int i = 1; i < count; i++)
		total += iov[i].iov_len;
	if (total > t->u->payload_size) {
		/* libfuse never answers with more than was asked. */
		reply_error(t, EIO);
		*written = -1;
		errno = EINVAL;
		return true;
	}
	total = 0;
	if (count == 2 && iov[1].iov_len <= t->data_in_place) {
		total = iov[1].iov_len; /* there already: uring_reply_data */
		count = 1;
	}
	for (int i = 1; i < count; i++) {
		memmove(t->payload + total, iov[i].iov_base, iov[i].iov_len);
		total += iov[i].iov_len;
	}
	memcpy(t->headers->in_out, &out, sizeof(out));
	t->headers->ent.payload_sz = (uint32_t)total;
	t->replied = (ssize_t)(sizeof(out) + total);
	*written = t->replied;
	return true;
}

void *uring_reply_data(size_t size)
{
	struct ring_thread *t = answering;

	if (!t || t->in_payload > 0 || size > t->u->payload_size)
		return NULL;
	t->data_in_place = size;
	return t->payload;
}

/* Registers t's entry, tells uring_start whether that went to the
 * kernel, then answers the requests that come into it. The kernel ends
 * an entry with an error when the mount goes away (ENOTCONN,
 * ECONNABORTED), when the ring is torn down (ECANCELED) or when it
 * refuses the entry (then it takes the mount off io_uring, if the entry
 * was one of the first); a refused commit (its request gone) is answered
 * by registering the entry again. */
static void serve(struct ring_thread *t)
{
	struct uring *u = t->u;
	bool registering = true;
	bool ok = queue_cmd(t, CMD_REGISTER) == 0 && io_uring_submit(&t->ring) == 1;
	struct io_uring_cqe *cqe;

	/* A refused entry completes at once; a taken one when a request
	 * comes. */
	if (ok && io_uring_peek_cqe(&t->ring, &cqe) == 0 && cqe->res < 0) {
		medfs_log(LOG_WARNING, "io_uring entry of CPU %u refused: %s", t->qid,
			  strerror(-cqe->res));
		io_uring_cqe_seen(&t->ring, cqe);
		ok = false;
	}

	pthread_mutex_lock(&u->lock);
	t->registered = ok;
	u->reported++;
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->lock);
	while (ok) {
		struct __kernel_timespec wait = { .tv_sec = 1 };
		int err, res;

		cqe = NULL;
		/* A wait that timed out after submitting returns the number
		 * submitted, with no completion. */
		err = io_uring_submit_and_wait_timeout(&t->ring, &cqe, 1, &wait, NULL);
		if (err < 0 && err != -ETIME && err != -EINTR) {
			medfs_log(LOG_ERR, "io_uring of CPU %u: %s", t->qid,
				  strerror(-err));
			return;
		}
		if (!cqe) {
			ok = __atomic_load_n(&u->phase, __ATOMIC_RELAXED) != QUIT;
			continue;
		}
		res = cqe->res;
		io_uring_cqe_seen(&t->ring, cqe);
		if (res == -ENOTCONN || res == -ECONNABORTED || res == -ECANCELED)
			return;
		if (res < 0 && registering) {
			medfs_log(LOG_WARNING, "io_uring entry of CPU %u refused: %s",
				  t->qid, strerror(-res));
			return;
		}
		registering = res < 0;
		if (registering) {
			ok = queue_cmd(t, CMD_REGISTER) == 0;
		} else {
			answer(t);
			ok = queue_cmd(t, CMD_COMMIT_AND_FETCH) == 0;
		}
	}
}

static int set_up(struct ring_thread *t)
{
	struct io_uring_params p = {
		/* The commands need 128-byte SQEs; completions are taken only
		 * when this thread waits for them. */
		.flags = IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER |
			 IORING_SETUP_DEFER_TASKRUN,
	};
	int err;

	if (pthread_getaffinity_np(pthread_self(), sizeof(t->given), &t->given) != 0)
		CPU_ZERO(&t->given); /* then never bound */
	err = io_uring_queue_init_params(4, &t->ring, &p);
	if (err < 0)
		return err;
	t->memory = mmap(NULL, HEADERS_ROOM + FRONT_ROOM + t->u->payload_size,
			 PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t->memory == MAP_FAILED) {
		t->memory = NULL;
		io_uring_queue_exit(&t->ring);
		return -ENOMEM;
	}
	t->headers = (struct uring_req_header *)t->memory;
	t->payload = t->memory + HEADERS_ROOM + FRONT_ROOM;
	t->iov[0] = (struct iovec){ t->headers, sizeof(*t->headers) };
	t->iov[1] = (struct iovec){ t->payload, t->u->payload_size };
	return 0;
}

static void *ring_main(void *arg)
{
	struct ring_thread *t = arg;
	struct uring *u = t->u;
	int err = set_up(t);

	pthread_mutex_lock(&u->lock);
	if (err < 0)
		u->failed++;
	else
		u->set_up++;
	pthread_cond_broadcast(&u->cond);
	while (u->phase == WAIT)
		pthread_cond_wait(&u->cond, &u->lock);
	pthread_mutex_unlock(&u->lock);
	if (err < 0)
		return NULL;
	if (__atomic_load_n(&u->phase, __ATOMIC_RELAXED) == GO)
		serve(t);
	io_uring_queue_exit(&t->ring);
	munmap(t->memory, HEADERS_ROOM + FRONT_ROOM + u->payload_size);
	return NULL;
}

struct uring *uring_prepare(struct fuse_session *se, int fd, size_t payload_size)
{
	int cpus = get_nprocs_conf(); /* the kernel has a queue per possible CPU */
	unsigned int n, started = 0;
	struct uring *u;

	if (cpus < 1 || cpus > 1024) {
		errno = EINVAL;
		return NULL;
	}
	n = (unsigned int)cpus * THREADS_PER_CPU;
	u = calloc(1, sizeof(*u) + n * sizeof(u->t[0]));
	if (!u)
		return NULL;
	u->se = se;
	u->fd = fd;
	u->payload_size = payload_size;
	u->phase = WAIT;
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->cond, NULL);
	for (unsigned int i = 0; i < n; i++) {
		u->t[i].bound = -1;
		u->t[i].u = u;
		u->t[i].qid = i % (unsigned int)cpus;
		if (medfs_thread_start(&u->t[i].thread, NULL, ring_main, &u->t[i]) != 0)
			break;
		started++;
	}
	pthread_mutex_lock(&u->lock);
	while (u->set_up + u->failed < started)
		pthread_cond_wait(&u->cond, &u->lock);
	pthread_mutex_unlock(&u->lock);
	u->n = started;
	if (started < n || u->failed > 0) {
		uring_stop(u);
		errno = ENOMEM;
		return NULL;
	}
	return u;
}

/* The kernel holds every request until each queue has an entry, and
 * gives up on io_uring for the mount when an entry is refused before
 * then: so when a thread could not register its entry, one is registered
 * that the kernel must refuse (a queue that does not exist). Should every
 * queue have had an entry all the same, the kernel goes on with the ring,
 * whose threads go on answering. */
static void withdraw(struct uring *u)
{
	struct io_uring_params p = { .flags = IORING_SETUP_SQE128 };
	struct iovec iov[2] = { { NULL, 0 }, { NULL, 0 } };
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	int err;

	err = io_uring_queue_init_params(2, &ring, &p);
	if (err < 0) {
		medfs_log(LOG_ERR, "cannot take the mount off io_uring: %s",
			  strerror(-err));
		return;
	}
	sqe = io_uring_get_sqe(&ring);
	if (sqe) {
		fill_cmd(sqe, u->fd, CMD_REGISTER, iov, UINT16_MAX, 0);
		if (io_uring_submit_and_wait(&ring, 1) == 1 &&
		    io_uring_peek_cqe(&ring, &cqe) == 0)
			io_uring_cqe_seen(&ring, cqe);
	}
	io_uring_queue_exit(&ring);
}

bool uring_start(struct uring *u)
{
	bool all = true;

	set_phase(u, GO);
	pthread_mutex_lock(&u->lock);
	while (u->reported < u->n)
		pthread_cond_wait(&u->cond, &u->lock);
	pthread_mutex_unlock(&u->lock);
	for (unsigned int i = 0; i < u->n; i++)
		all = all && u->t[i].registered;
	if (!all)
		withdraw(u);
	return all;
}

void uring_stop(struct uring *u)
{
	if (!u)
		return;
	set_phase(u, QUIT);
	for (unsigned int i = 0; i < u->n; i++)
		pthread_join(u->t[i].thread, NULL);
	pthread_cond_destroy(&u->cond);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

unsigned long uring_answered(const struct uring *u)
{
	return u ? atomic_load(&u->answered) : 0;
}
