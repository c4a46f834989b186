/* medfs driver: FUSE requests over io_uring.
 *
 * Through /dev/fuse each request costs the driver a read and a write
 * system call, and wakes whichever of the loop's threads waits first.
 * Since Linux 6.14 FUSE can pass requests over io_uring instead
 * (FUSE_OVER_IO_URING; the fuse module's enable_uring): the kernel puts
 * a request straight into a buffer the driver registered (an entry) and
 * takes the reply from there, one io_uring_enter for both. There is a
 * queue per possible CPU and a request goes to the queue of the CPU its
 * caller runs on. Here each queue has a few threads, each with a ring of
 * its own and one entry, so that the requests of one readahead are
 * answered at once and a slow request does not hold up the others. The
 * requests are handed to libfuse as if read from /dev/fuse, and libfuse's
 * replies come back through uring_take_reply (session_io.c's writev).
 * Forgets, interrupts and notifications stay on /dev/fuse, which the
 * usual loop goes on reading.
 *
 * libfuse 3.14 knows nothing of this: session_io.c adds the flag to the
 * INIT reply, and only once uring_prepare has set up every queue's
 * threads and buffers, for once the kernel has the flag it holds every
 * request until each queue has an entry (or an entry is refused). */
#ifndef MEDFS_DRIVER_URING_H
#define MEDFS_DRIVER_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <fuse_lowlevel.h>

struct uring;

/* Whether the kernel takes FUSE requests over io_uring: the fuse module's
 * enable_uring, read, never written (it is the administrator's, and
 * changes every FUSE mount of the host). When it is off, logs once how to
 * turn it on. Call before the mount: the kernel offers io_uring in the
 * INIT it sends while mounting. false under valgrind, which stops every
 * thread while one waits for io_uring. */
bool uring_enabled(void);

/* Threads and buffers for every possible CPU's queue, on fd (the
 * session's /dev/fuse), for requests of up to payload_size bytes beyond
 * their headers. The threads wait for uring_start. NULL if any part
 * cannot be had (errno set): then stay on /dev/fuse. */
struct uring *uring_prepare(struct fuse_session *se, int fd, size_t payload_size);

/* After the INIT reply with FUSE_OVER_IO_URING went out: the threads
 * give their entries to the kernel. false if one could not: the kernel is
 * then told to leave io_uring for this mount (requests stay on /dev/fuse;
 * call uring_stop after the unmount all the same). */
bool uring_start(struct uring *u);

/* Ends the threads and frees everything: after the INIT reply failed, or
 * after the unmount (the kernel then ends every entry). NULL is fine. */
void uring_stop(struct uring *u);

/* session_io's writev: when the calling thread is answering a request
 * that came over its ring, the reply (iov[0] the fuse_out_header) goes
 * into the ring entry and true is returned with *written set. */
bool uring_take_reply(const struct iovec *iov, int count, ssize_t *written);

/* For a request being answered over io_uring with no payload of its own
 * (a read): where the data of its reply goes, so that it can be put there
 * directly; the reply that follows takes up to size bytes of data from
 * there, not from its iovec. NULL when not so: use your own buffer. */
void *uring_reply_data(size_t size);

/* Requests answered over io_uring so far: logged at the unmount, where
 * the test uring reads it. */
unsigned long uring_answered(const struct uring *u);

#endif
