/* medfs: reading /proc/self/mountinfo, to tell what is mounted where.
 *
 * Pure: parses the text it is given, reads no file. */
#ifndef MEDFS_MOUNTINFO_H
#define MEDFS_MOUNTINFO_H

#include <stddef.h>

/* Finds the topmost mount at mountpoint (an absolute path, without a
 * trailing slash) in text, the contents of a mountinfo file (proc(5)),
 * and writes its file system type ("fuse.medfs", "ext4") into fstype,
 * cut to fstype_len - 1 bytes. Lines that do not parse are skipped.
 * Returns 0, or -ENOENT when nothing is mounted there. */
int medfs_mountinfo_find(const char *text, const char *mountpoint, char *fstype,
			 size_t fstype_len);

#endif
