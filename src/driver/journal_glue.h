/* medfs driver: the access journal of a mount.
 *
 * Feeds the journal library (medfs/journal.h) from the FUSE operations:
 * who (uid, user name, gid, pid, program), what, on which path and DICOM
 * patient, with which result. Records that must survive the death of the
 * process (opens, denials, integrity failures, emergency grants, changes
 * to the tree) are written with write(2) before the operation returns, and
 * also fdatasync'd with -o journal_sync. Reads and writes through an open
 * file are kept as byte ranges per handle, merged, and written at fsync,
 * at release and at the latest a second after the first of them (-o
 * journal_every_read: one record per read call). A thread calls
 * medfs_journal_tick every second.
 *
 * Fail closed: once an append fails, jnl_check answers -EIO for every
 * further operation and the reason goes to the system log once; with
 * journal_failopen the mount keeps serving unrecorded.
 *
 * DICOM: after each write through a handle, the file's header is read on
 * from where its reader stopped (up to 4 MiB, doc/JOURNAL.md 14.1); its
 * identifiers are kept in the file's sealed metadata (medfs_file_set_meta,
 * the record of medfs/dicom_meta.h, doc/FORMAT.md 8.1) and read back at
 * every open, so each record of the open names them.
 *
 * Every function takes a NULL journal and then does nothing (returns 0). */
#ifndef MEDFS_DRIVER_JOURNAL_GLUE_H
#define MEDFS_DRIVER_JOURNAL_GLUE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "medfs/dicom_meta.h"

struct caller;
struct jnl;
struct jnl_file;
struct medfs_file;
struct medfs_vault;

struct jnl_options {
	const char *dir;	   /* the journal directory, absolute */
	const uint8_t *auditor_pk; /* MEDFS_AUDITOR_PK_LEN bytes */
	const uint8_t *vault_id;   /* MEDFS_JOURNAL_VAULT_ID_LEN bytes */
	const uint8_t *state_key;  /* MEDFS_KEY_LEN bytes: MEDFS_SUBKEY_JOURNAL */
	struct medfs_vault *vault; /* for the DICOM identifiers of paths */
	const char *spool_dir;	   /* the tools' records, ingested (may be NULL) */
	int restart;		   /* MEDFS_JOURNAL_RESTART */
	int sync;		   /* fdatasync every record but read/write ranges */
	int every_read;		   /* one record per read call */
	int failopen;		   /* keep serving when the journal fails */
	int foreground;		   /* messages also to stderr */
};

/* Opens the writer. Returns 0 or the writer's -errno (-EBUSY, -EBADMSG
 * for a STATE that does not unseal, ...), after printing why on stderr. */
int jnl_open(struct jnl **out, const struct jnl_options *o);

/* What jnl_start records of the mount. */
struct jnl_mount {
	const char *vault_dir, *mountpoint;
	const char *options;	      /* as the MOUNT record shows them */
	const char *unlocked_with;    /* "slot N (KIND)", for the MOUNT record */
	const char *policy_path;      /* NULL: no policy */
	const uint8_t *policy_digest; /* 32 bytes, with a policy */
	uid_t owner;		      /* the user who mounted */
};

/* MOUNT, then POLICY_LOAD, then starts the thread that ticks the writer
 * and flushes ranges. Returns 0 or -errno. */
int jnl_start(struct jnl *j, const struct jnl_mount *m);

/* Stops the thread, writes every range still pending, UNMOUNT (when
 * started), and closes the writer with its final checkpoint. */
void jnl_close(struct jnl *j);

/* Integrity hook of the vault (medfs_integrity_fn); ctx is the journal. */
void jnl_integrity(void *ctx, const char *vault_path, const char *plain_path,
		   int64_t offset, const char *what);

/* The plaintext path of the operation in progress on this thread, which
 * an integrity failure is reported with. Copied. */
void jnl_set_path(const char *path);

/* 0, or -EIO once the journal cannot be written (fail closed). */
int jnl_check(struct jnl *j);

/* One operation by a caller: MEDFS_OP_*, its paths, result (0 or
 * -errno), open or rename flags, the deciding rule line, whether only an
 * emergency grant allowed it, a byte count, free text and the DICOM
 * identifiers (may be NULL). */
struct jnl_event {
	uint32_t op;
	const char *path, *path2;
	int result;
	uint32_t flags;
	unsigned rule;
	int emergency;
	uint64_t bytes;
	const char *detail;
	const struct medfs_dicom_meta *ids;
};

/* Records e. Returns 0, or -EIO when it could not be written (fail
 * closed; 0 with journal_failopen). */
int jnl_record(struct jnl *j, const struct caller *c, const struct jnl_event *e);

/* The DICOM identifiers (and former patients) stored with the regular
 * file at path: 1 when it has identifiers, else 0. */
int jnl_path_ids(struct jnl *j, const char *path, struct medfs_dicom_meta *ids);
/* Wipes what jnl_path_ids gave (patient data), once it has been journaled. */
void jnl_ids_wipe(struct medfs_dicom_meta *ids);

/* From access.c: a denial of op (a name) needing right on path (may be
 * NULL) by rule; an emergency grant started with a reason (size bytes,
 * not NUL-terminated) for seconds, which returns -EIO when it cannot be
 * recorded; one ended (how: "expired", ...); a policy loaded (ok 1) or
 * rejected (ok 0, digest of the policy that stays in force). A reason
 * longer than MEDFS_GRANT_REASON_MAX is refused (-E2BIG), never cut. */
void jnl_denied(struct jnl *j, const struct caller *c, const char *op, const char *path,
		const char *right, unsigned rule);
int jnl_emergency_start(struct jnl *j, const struct caller *c, const char *reason,
			size_t size, unsigned seconds);
void jnl_emergency_end(struct jnl *j, uid_t uid, const char *how, unsigned long uses);
void jnl_policy_load(struct jnl *j, const char *policy_path, const uint8_t digest[32],
		     int ok);

/* One open handle. jnl_file_open reads the file's DICOM identifiers,
 * records e (MEDFS_OP_OPEN or MEDFS_OP_CREATE, result 0) for caller c and
 * keeps who opened it for the records of the handle. Returns 0 or -EIO
 * (nothing kept). */
int jnl_file_open(struct jnl *j, const struct caller *c, const struct jnl_event *e,
		  struct medfs_file *f, struct jnl_file **out);

/* The path the handle was opened with (NULL without a journal). */
const char *jnl_file_path(const struct jnl_file *jf);

/* Before work on the handle: 0 or -EIO (fail closed); sets the path for
 * integrity reports. */
int jnl_file_begin(struct jnl_file *jf);

/* n bytes read or written at off. Returns 0 or -EIO. */
int jnl_file_read(struct jnl_file *jf, uint64_t off, uint64_t n);
int jnl_file_write(struct jnl_file *jf, uint64_t off, uint64_t n);

/* Another operation through the handle (ftruncate, fallocate, utimens):
 * recorded like jnl_record, as its opener. */
int jnl_file_event(struct jnl_file *jf, const struct jnl_event *e);

/* fsync: the DICOM identifiers of a written file, then the pending
 * ranges. Returns 0 or -EIO. */
int jnl_file_sync(struct jnl_file *jf);

/* Release: as fsync, then forgets the handle (jf may be NULL). */
void jnl_file_release(struct jnl_file *jf);

#endif
