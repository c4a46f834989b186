/* medfs driver: FUSE_HANDLE_KILLPRIV_V2 in the INIT reply (killpriv.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/fuse.h>

#include "killpriv.h"

/* The kernel sends nothing but INIT until INIT is answered, so the first
 * request read is INIT and the first reply written answers it. */
static atomic_bool init_answered;
static atomic_bool kernel_offers;

#define FLAGS_END (offsetof(struct fuse_init_in, flags) + sizeof(uint32_t))

static ssize_t session_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = read(fd, buf, len);

	(void)userdata;
	if (!atomic_load_explicit(&init_answered, memory_order_relaxed) &&
	    n >= (ssize_t)(sizeof(struct fuse_in_header) + FLAGS_END)) {
		const struct fuse_in_header *in = buf;
		uint32_t flags;

		if (in->opcode == FUSE_INIT) {
			/* Only as far as the flags: older kernels send less. */
			memcpy(&flags,
			       (const char *)buf + sizeof(*in) +
				       offsetof(struct fuse_init_in, flags),
			       sizeof(flags));
			atomic_store(&kernel_offers,
				     (flags & FUSE_HANDLE_KILLPRIV_V2) != 0);
		}
	}
	return n;
}

static ssize_t session_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	(void)userdata;
	if (!atomic_load_explicit(&init_answered, memory_order_relaxed) && count >= 2 &&
	    iov[0].iov_len == sizeof(struct fuse_out_header) &&
	    iov[1].iov_len >= offsetof(struct fuse_init_out, flags) + sizeof(uint32_t)) {
		const struct fuse_out_header *out = iov[0].iov_base;
		struct fuse_init_out *init = iov[1].iov_base;

		if (out->error == 0 && atomic_load(&kernel_offers))
			init->flags |= FUSE_HANDLE_KILLPRIV_V2;
		atomic_store(&init_answered, true);
	}
	return writev(fd, iov, count);
}

/* libfuse reads and writes with splice where it may; so do these. */
static ssize_t session_splice(int fdin, off_t *offin, int fdout, off_t *offout,
			      size_t len, unsigned int flags, void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

int killpriv_offer(struct fuse_session *se)
{
	static const struct fuse_custom_io io = {
		.read = session_read,
		.writev = session_writev,
		.splice_receive = session_splice,
		.splice_send = session_splice,
	};
	int fd = fuse_session_fd(se);

	if (fd < 0)
		return -EBADF;
	return fuse_session_custom_io(se, &io, fd);
}
