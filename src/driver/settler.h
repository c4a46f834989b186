/* medfs driver: the vault's "mounted" marker and, after a mount that did
 * not end cleanly, the thread that settles the vault (include/medfs/settle.h).
 *
 * settler_begin marks the vault mounted before the mount serves anything;
 * when the marker was there already, the vault reads sizes from headers
 * and settler_start runs a walk that cuts grown files back, beside the
 * requests. settler_end stops the walk and, when the vault is settled,
 * syncs the vault's file system and removes the marker: call it after the
 * session ended and every file was released. */
#ifndef MEDFS_DRIVER_SETTLER_H
#define MEDFS_DRIVER_SETTLER_H

#include "medfs/vault.h"

/* Returns 0, or -1 after saying why on stderr. */
int settler_begin(struct medfs_vault *v, const char *vault_dir);
void settler_start(void);
void settler_end(void);

#endif
