/* medfs driver: the session's own reads and writes of /dev/fuse
 * (session_io.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/fuse.h>

#include "medfs/log.h"
#include "session_io.h"
#include "uring.h"

/* FUSE_OVER_IO_URING (protocol 7.42) is bit 41: bit 9 of flags2. */
#define OVER_IO_URING_FLAGS2 (1U << 9)
/* FUSE_DIRECT_IO_ALLOW_MMAP (protocol 7.39) is bit 36: bit 4 of flags2. */
#define DIRECT_IO_ALLOW_MMAP_FLAGS2 (1U << 4)

#define FLAGS_END (offsetof(struct fuse_init_in, flags) + sizeof(uint32_t))
#define FLAGS2_END (offsetof(struct fuse_init_in, flags2) + sizeof(uint32_t))

/* The kernel sends nothing but INIT until INIT is answered, so the first
 * request read is INIT and the first reply written answers it. */
static atomic_bool init_answered;
static atomic_bool offers_killpriv, offers_uring, offers_dio_mmap;
static bool dio_mmap_wanted;
static struct fuse_session *session;
static bool uring_wanted;
static struct uring *uring;

static atomic_bool ring_in_use;
static pthread_mutex_t paced = PTHREAD_MUTEX_INITIALIZER;

/* Once requests come over io_uring, /dev/fuse brings forgets (and rare
 * interrupts): read by one thread at a time, after a pause, so that the
 * forgets of a removal come several at once (BATCH_FORGET) instead of
 * waking a thread each (rm -rf of 10,000 files: 0.43-0.49 s unpaced,
 * 0.35-0.39 s paced; 0.42-0.45 s with every request on /dev/fuse). */
#define FORGET_PAUSE_US 1000

/* libfuse's loop ends its threads with pthread_cancel, which may catch
 * one in the pause or the read: the lock must not stay taken. */
static void unpace(void *unused)
{
	(void)unused;
	pthread_mutex_unlock(&paced);
}

static ssize_t paced_read(int fd, void *buf, size_t len)
{
	ssize_t n;

	pthread_mutex_lock(&paced);
	pthread_cleanup_push(unpace, NULL);
	usleep(FORGET_PAUSE_US);
	n = read(fd, buf, len);
	pthread_cleanup_pop(1);
	return n;
}

static ssize_t session_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = atomic_load_explicit(&ring_in_use, memory_order_relaxed)
			    ? paced_read(fd, buf, len)
			    : read(fd, buf, len);
	const struct fuse_in_header *in = buf;
	const char *arg = (const char *)buf + sizeof(*in);
	uint32_t flags, flags2 = 0;

	(void)userdata;
	if (atomic_load_explicit(&init_answered, memory_order_relaxed) ||
	    n < (ssize_t)(sizeof(*in) + FLAGS_END) || in->opcode != FUSE_INIT)
		return n;
	/* Only as far as the fields it has: older kernels send less. */
	memcpy(&flags, arg + offsetof(struct fuse_init_in, flags), sizeof(flags));
	if ((flags & FUSE_INIT_EXT) && n >= (ssize_t)(sizeof(*in) + FLAGS2_END))
		memcpy(&flags2, arg + offsetof(struct fuse_init_in, flags2),
		       sizeof(flags2));
	atomic_store(&offers_killpriv, (flags & FUSE_HANDLE_KILLPRIV_V2) != 0);
	atomic_store(&offers_uring, (flags2 & OVER_IO_URING_FLAGS2) != 0);
	atomic_store(&offers_dio_mmap, (flags2 & DIRECT_IO_ALLOW_MMAP_FLAGS2) != 0);
	return n;
}

/* The largest request payload the kernel will put in a ring entry: what
 * it checks each entry's buffer against. */
static size_t payload_size(const struct fuse_init_out *init)
{
	size_t size = init->max_write, pages = 0;

	if (init->flags & FUSE_MAX_PAGES)
		pages = (size_t)init->max_pages * (size_t)sysconf(_SC_PAGESIZE);
	if (size < pages)
		size = pages;
	return size < FUSE_MIN_READ_BUFFER ? FUSE_MIN_READ_BUFFER : size;
}

static ssize_t answer_init(int fd, struct iovec *iov, int count)
{
	const struct fuse_out_header *out = iov[0].iov_base;
	struct fuse_init_out *init = iov[1].iov_base;
	struct uring *u = NULL;
	ssize_t n;

	atomic_store(&init_answered, true);
	if (out->error != 0)
		return writev(fd, iov, count);
	if (atomic_load(&offers_killpriv))
		init->flags |= FUSE_HANDLE_KILLPRIV_V2;
	if (dio_mmap_wanted && iov[1].iov_len >= sizeof(struct fuse_init_out)) {
		if (atomic_load(&offers_dio_mmap)) {
			init->flags |= FUSE_INIT_EXT;
			init->flags2 |= DIRECT_IO_ALLOW_MMAP_FLAGS2;
		} else {
			medfs_log(
				LOG_WARNING,
				"audit=strict: this kernel cannot map files opened with "
				"direct I/O shared (no FUSE_DIRECT_IO_ALLOW_MMAP): "
				"shared maps will fail");
		}
	}
	if (uring_wanted && atomic_load(&offers_uring) &&
	    iov[1].iov_len >= sizeof(struct fuse_init_out)) {
		/* Every queue's threads before the flag: the kernel holds
		 * requests until each queue has an entry. */
		u = uring_prepare(session, fd, payload_size(init));
		if (u) {
			init->flags |= FUSE_INIT_EXT;
			init->flags2 |= OVER_IO_URING_FLAGS2;
		} else {
			medfs_log(LOG_WARNING, "requests stay on /dev/fuse: %s",
				  strerror(errno));
		}
	}
	n = writev(fd, iov, count);
	if (u && n < 0) {
		uring_stop(u);
		u = NULL;
	}
	if (u) {
		uring = u;
		if (uring_start(u)) {
			atomic_store(&ring_in_use, true);
			medfs_log(LOG_INFO, "requests come over io_uring");
		} else {
			medfs_log(LOG_WARNING, "requests stay on /dev/fuse: an io_uring "
					       "entry could not be registered");
		}
	}
	return n;
}

static ssize_t session_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	ssize_t n;

	(void)userdata;
	if (!atomic_load_explicit(&init_answered, memory_order_relaxed) && count >= 2 &&
	    iov[0].iov_len == sizeof(struct fuse_out_header) &&
	    iov[1].iov_len >= offsetof(struct fuse_init_out, flags) + sizeof(uint32_t))
		return answer_init(fd, iov, count);
	if (uring_take_reply(iov, count, &n))
		return n;
	return writev(fd, iov, count);
}

/* libfuse reads and writes with splice where it may; so do these. */
static ssize_t session_splice(int fdin, off_t *offin, int fdout, off_t *offout,
			      size_t len, unsigned int flags, void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

static ssize_t session_splice_receive(int fdin, off_t *offin, int fdout, off_t *offout,
				      size_t len, unsigned int flags, void *userdata)
{
	ssize_t n;

	(void)userdata;
	if (!atomic_load_explicit(&ring_in_use, memory_order_relaxed))
		return splice(fdin, offin, fdout, offout, len, flags);
	pthread_mutex_lock(&paced);
	pthread_cleanup_push(unpace, NULL);
	usleep(FORGET_PAUSE_US);
	n = splice(fdin, offin, fdout, offout, len, flags);
	pthread_cleanup_pop(1);
	return n;
}

void session_io_allow_mmap(bool allow)
{
	dio_mmap_wanted = allow;
}

int session_io_install(struct fuse_session *se, bool with_uring)
{
	static const struct fuse_custom_io io = {
		.read = session_read,
		.writev = session_writev,
		.splice_receive = session_splice_receive,
		.splice_send = session_splice,
	};
	int fd = fuse_session_fd(se);

	if (fd < 0)
		return -EBADF;
	session = se;
	uring_wanted = with_uring;
	return fuse_session_custom_io(se, &io, fd);
}

void session_io_stop(void)
{
	if (!uring)
		return;
	medfs_log(LOG_INFO, "%lu requests answered over io_uring", uring_answered(uring));
	uring_stop(uring);
	uring = NULL;
}
