/* medfs-fsck's parts: the reports (fsck_report.c), the walk over the
 * tree (fsck_walk.c) and the repairs it asks the library for
 * (fsck_repair.c); main, options and the config in medfs-fsck.c. Private
 * to the tool. */
#ifndef MEDFS_FSCK_H
#define MEDFS_FSCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "medfs/header.h"
#include "medfs/repair.h"
#include "medfs/vault.h"

#define READ_CHUNK (1024 * 1024)
#define EXIT_CLEAN 0
#define EXIT_CORRECTED 1
#define EXIT_UNCORRECTED 4
#define EXIT_FAILED 8
#define PROGRESS_AFTER_NS 1000000000ULL /* a progress line once the walk is this long */
#define PROGRESS_EVERY_NS 250000000ULL
#define JOURNAL_ACTIONS_MAX 1000 /* repairs journaled one by one; a summary beyond */

enum mode {
	MODE_CHECK,  /* -n, the default: change nothing */
	MODE_ASK,    /* --repair: ask before each repair */
	MODE_REPAIR, /* -y: repair without asking */
};

/* One report of the integrity hook, kept until the walk knows which
 * plaintext path and offset it belongs to. */
struct event {
	char *vault_path;
	char *plain_path;
	int64_t offset;
	char *what;
};

struct fsck {
	const char *vault_dir;
	struct medfs_vault *vault;
	struct medfs_repair *repair; /* NULL when checking only */
	enum mode mode;
	bool verbose;
	bool oom;
	bool progress_shown;
	bool tty; /* stderr is a terminal: progress line */
	uint64_t started_ns, progress_ns;
	unsigned long fixed;   /* problems a repair corrected */
	unsigned long actions; /* repairs journaled */
	uint8_t root_id[MEDFS_DIR_ID_LEN];
	uint8_t *name_key; /* secret: NAME_MAC subkey || NAME_ENC subkey */
	uint8_t *dir_key;  /* secret: DIR subkey */
	uint8_t *buf;	   /* secret: plaintext read buffer */
	struct event *events;
	size_t n_events, cap_events;
	char **reported; /* vault paths already named in a problem */
	size_t n_reported, cap_reported;
	unsigned long objects;
	unsigned long problems;
};

uint64_t now_ns(void);

/* Takes the progress line off the terminal before anything else is
 * printed. */
void progress_clear(struct fsck *k);

/* On a terminal, once the walk has taken a second: "N objects checked". */
void progress(struct fsck *k);

void *grow(void *p, size_t *cap, size_t need, size_t elem);

bool was_reported(const struct fsck *k, const char *vpath);

void remember(struct fsck *k, const char *vpath);

/* Prints one problem: "medfs-fsck: /plain: what at offset N (vault file V,
 * offset M)", or "medfs-fsck: vault file V: what at offset M" when no
 * plaintext path is known. Offsets below zero are left out. */

/* Writes a plaintext path to f with its control bytes, DEL and '\\' as
 * \\ooo: a name a mount user chose cannot drive root's terminal. */
void put_path(FILE *f, const char *path);

void problem(struct fsck *k, const char *plain, int64_t plain_off, const char *vpath,
	     int64_t vault_off, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

void integrity_hook(void *ctx, const char *vault_path, const char *plain_path,
		    int64_t offset, const char *what);

void drop_events(struct fsck *k);

/* Prints the hook's pending reports as problems of plain (unless the hook
 * named a plaintext path itself) at plaintext offset plain_off. Returns how
 * many were printed. */
size_t flush_events(struct fsck *k, const char *plain, int64_t plain_off);

/* A failed library call: what the hook said about it, or the error itself
 * when the hook said nothing. */
void failed(struct fsck *k, const char *plain, int64_t plain_off, const char *op,
	    int err);

/* ---- repairs ---- */

/* Whether to repair what was just reported: never when checking only,
 * always with -y, else the answer on the terminal, to a question that
 * names the object (plain, else vault file vpath). */
bool ask(struct fsck *k, const char *plain, const char *vpath, const char *what);

/* Journals one repair through the spool (vault paths only: the spool is
 * plain, doc/JOURNAL.md 14.3). */

void journal_repair(struct fsck *k, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prints what a repair did, and counts the problems reported since
 * snapshot as corrected. */

void repaired(struct fsck *k, unsigned long snapshot, const char *plain,
	      const char *vpath, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Prints why a repair was not made. */
void not_repaired(struct fsck *k, const char *plain, const char *vpath, const char *why);

/* Salvages the regular file path (vault file vpath, bound to b) into
 * lost+found. */
void salvage(struct fsck *k, unsigned long snapshot, const char *path, const char *vpath,
	     const struct medfs_binding *b);

/* Seals the metadata of path again from its contents. */
void repair_meta(struct fsck *k, unsigned long snapshot, const char *path,
		 const char *vpath);

/* Removes a leftover of an interrupted operation (vault path vpath). */
void remove_leftover(struct fsck *k, const char *vpath, const char *what);
void settle_file(struct fsck *k, unsigned long snapshot, const char *path,
		 const char *vpath);

/* Repairs the header of directory plain (vault directory vdir, bound to
 * b). Returns true when its contents can be checked again. */
bool repair_dir(struct fsck *k, unsigned long snapshot, const char *plain,
		const char *vdir, const struct medfs_binding *b);

/* Checks directory plain, stored as vault directory vdir ("tree/...") and
 * bound to b, and everything below it. */
void check_dir(struct fsck *k, const char *plain, const char *vdir,
	       const struct medfs_binding *b, bool again);

#endif
