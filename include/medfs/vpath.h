/* medfs: system calls on vault paths of any length.
 *
 * A vault path ("vpath") names an object below the vault's tree directory:
 * encrypted entry names joined by '/', "" for the tree itself. Encrypted
 * names are longer than their plaintext (a 1-byte name takes 43 bytes), so
 * the vault path of a deep plaintext path is many times PATH_MAX, which
 * the kernel refuses. Each call here stands for the *at system call of the
 * same name on root (the tree's directory fd) and vpath: a vpath shorter
 * than PATH_MAX goes to the kernel as it is (no extra system call); a
 * longer one is reached by opening its directories PATH_MAX bytes at a
 * time (O_PATH, no symlink followed, nothing outside root) and handing the
 * kernel the rest.
 *
 * Each returns what the system call it stands for returns (-1 with errno
 * set on failure), so that it replaces that call as it stands; an error of
 * the walk (ENOTDIR, ELOOP for a symlink on the way, ENOMEM) comes the same
 * way. Symlinks on the way are refused on the long path only; the last
 * component is treated as the flags say, as by the system call. */
#ifndef MEDFS_VPATH_H
#define MEDFS_VPATH_H

#include <fcntl.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Opens the directory holding the last components of vpath and sets *rel
 * to the rest of vpath (shorter than PATH_MAX, "." for ""). Returns root
 * itself when vpath is short, else a new O_PATH descriptor that the caller
 * closes with medfs_vpath_dir_close; -1 with errno on failure. */
int medfs_vpath_dir(int root, const char *vpath, const char **rel);
void medfs_vpath_dir_close(int root, int fd);

/* Opens the directory vpath (O_RDONLY, for listing, *at calls and fsync),
 * whatever its length, following no symlink on the way nor at its end
 * and leaving no directory: for callers that must not be led out of the
 * vault by a directory swapped for a symlink (the repairs of medfs-fsck,
 * run by root on a vault that others may write). -1 with errno (ELOOP
 * for a symlink) on failure. */
int medfs_vpath_opendir(int root, const char *vpath);

/* Each thread starts its next long walk from the directory where its last
 * one ended, when the path lies below it (a deep tree is mostly worked on
 * a directory at a time). A directory moved or removed would make that
 * directory the wrong one: whoever moves or removes one calls this
 * (before anyone may use a path below it again), which makes every thread
 * walk from the root next time. */
void medfs_vpath_invalidate(void);

/* "dir/entry" (entry alone when dir is ""), in memory from malloc; NULL
 * when out of memory. */
char *medfs_vpath_join(const char *dir, const char *entry);

/* a followed by b, from malloc; NULL when out of memory. */
char *medfs_vpath_cat(const char *a, const char *b);

int medfs_vpath_fstatat(int root, const char *vpath, struct stat *st, int flags);
int medfs_vpath_openat(int root, const char *vpath, int flags, mode_t mode);
int medfs_vpath_mkdirat(int root, const char *vpath, mode_t mode);
int medfs_vpath_mknodat(int root, const char *vpath, mode_t mode, dev_t dev);
int medfs_vpath_unlinkat(int root, const char *vpath, int flags);
int medfs_vpath_renameat2(int root, const char *from, const char *to,
			  unsigned int flags);
int medfs_vpath_symlinkat(const char *target, int root, const char *vpath);
ssize_t medfs_vpath_readlinkat(int root, const char *vpath, char *buf, size_t size);
int medfs_vpath_fchownat(int root, const char *vpath, uid_t uid, gid_t gid, int flags);
int medfs_vpath_fchmodat(int root, const char *vpath, mode_t mode, int flags);
int medfs_vpath_utimensat(int root, const char *vpath, const struct timespec tv[2],
			  int flags);

#endif
