/* medfs: settling a vault after a mount that did not end cleanly.
 *
 * A file extended (written past its end, truncated up, allocated) writes
 * its new blocks first and its header last. A crash or a kill -9 in
 * between leaves a vault file longer than its header says: a "grown"
 * file, which reads at its header's size (doc/FORMAT.md 12.3). Its size
 * must then come from its header, not from the vault file's length, which
 * costs a header decryption per stat: medfs pays it only after an unclean
 * end, which it tells by a marker.
 *
 * VAULT/medfs.mounted exists while a driver has the vault mounted: it is
 * made (and synced) before the mount serves anything, and removed at a
 * clean unmount, after every change was synced and every grown file cut
 * back. A driver that finds it at mount knows that the last one did not
 * end cleanly: its vault reads sizes from headers ("careful" mode,
 * medfs_vault_set_careful) while medfs_settle_walk cuts every grown file
 * back, and then goes back to sizes from lengths. `medfs-fsck -y` does the
 * same on an unmounted vault and removes the marker. */
#ifndef MEDFS_SETTLE_H
#define MEDFS_SETTLE_H

#include <stdatomic.h>
#include <stdbool.h>

#include "medfs/vault.h"

#define MEDFS_MOUNTED_NAME "medfs.mounted"

/* Makes VAULT/medfs.mounted and syncs it and the vault directory.
 * Returns 1 when it was there already (the last mount did not end
 * cleanly), 0 when it was made, or -errno (-EROFS: a read-only vault,
 * where nothing can grow). */
int medfs_mounted_mark(const char *vault_dir);

/* Whether VAULT/medfs.mounted is there: 1, 0 or -errno. */
int medfs_mounted_present(const char *vault_dir);

/* Syncs the vault's file system (what the mount wrote reaches the disk
 * before the marker goes) and removes the marker; 0 or -errno. */
int medfs_mounted_clear(const char *vault_dir);

struct medfs_settle_stats {
	unsigned long files;   /* regular files looked at */
	unsigned long settled; /* grown files cut back */
	unsigned long failed;  /* files that could not be looked at or cut */
};

/* Walks every directory of v's plaintext tree and cuts every grown file
 * back (medfs_file_settle). Files whose header does not authenticate are
 * left (they read EIO; medfs-fsck deals with them). When nothing failed
 * and no change left a file grown meanwhile, v leaves careful mode.
 * *stop (when not NULL) is polled between files: the walk then returns
 * -ECANCELED. Returns 0 when the vault is settled, 1 when some file could
 * not be looked at (st->failed), or -errno. */
int medfs_settle_walk(struct medfs_vault *v, const atomic_bool *stop,
		      struct medfs_settle_stats *st);

#endif
