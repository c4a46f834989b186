/* medfs: whole reads and writes of a file descriptor, through EINTR and
 * short transfers: the one copy every module uses. */
#ifndef MEDFS_IO_H
#define MEDFS_IO_H

#include <stddef.h>
#include <sys/types.h>

/* Reads len bytes at off, fewer only at the end of the file. Returns the
 * count or -errno. */
ssize_t medfs_pread_full(int fd, void *buf, size_t len, off_t off);
/* Writes len bytes at off. Returns 0 or -errno. */
int medfs_pwrite_full(int fd, const void *buf, size_t len, off_t off);
/* Writes len bytes at the file offset. Returns 0 or -errno. */
int medfs_write_all(int fd, const void *buf, size_t len);

#endif
