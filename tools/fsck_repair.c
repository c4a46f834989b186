/* medfs-fsck: the repairs, asked of the library's repair module
 * (medfs/repair.h) as the walk finds problems, each said, counted and
 * journaled. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "fsck.h"
#include "medfs/block.h"
#include "medfs/config.h"
#include "medfs/crypto.h"
#include "medfs/header.h"
#include "medfs/journal.h"
#include "medfs/name.h"
#include "medfs/repair.h"
#include "medfs/vault.h"

/* ---- repairs ---- */

/* Whether to repair what was just reported: never when checking only,
 * always with -y, else the answer on the terminal. The question names
 * the object (plain, else vault file vpath): the report it follows may
 * have gone to a file (medfs-fsck ... >report, as doc/ADMIN.md says). */
bool ask(struct fsck *k, const char *plain, const char *vpath, const char *what)
{
	char line[16] = "";
	FILE *tty;

	if (k->mode == MODE_CHECK)
		return false;
	if (k->mode == MODE_REPAIR)
		return true;
	progress_clear(k);
	tty = fopen("/dev/tty", "r+");
	if (!tty)
		return false;
	if (plain) {
		fputs("medfs-fsck: ", tty);
		put_path(tty, plain);
		fprintf(tty, ": %s? [y/N] ", what);
	} else {
		fprintf(tty, "medfs-fsck: vault file %s: %s? [y/N] ", vpath ? vpath : "?",
			what);
	}
	fflush(tty);
	if (!fgets(line, sizeof(line), tty))
		line[0] = '\0';
	fclose(tty);
	return line[0] == 'y' || line[0] == 'Y';
}

/* Journals one repair through the spool (vault paths only: the spool is
 * plain, doc/JOURNAL.md 14.3). */

void journal_repair(struct fsck *k, const char *fmt, ...)
{
	char detail[1024];
	va_list ap;
	int n;

	if (++k->actions > JOURNAL_ACTIONS_MAX)
		return; /* the summary counts them */
	n = snprintf(detail, sizeof(detail), "medfs-fsck --repair: ");
	va_start(ap, fmt);
	vsnprintf(detail + n, sizeof(detail) - (size_t)n, fmt, ap);
	va_end(ap);
	if (medfs_journal_spool_tool(k->vault_dir, MEDFS_OP_REPAIR, detail) < 0)
		fprintf(stderr, "medfs-fsck: warning: cannot journal a repair in %s/%s\n",
			k->vault_dir, MEDFS_JOURNAL_SPOOL_NAME);
}

/* Prints what a repair did, and counts the problems reported since
 * snapshot as corrected. */

void repaired(struct fsck *k, unsigned long snapshot, const char *plain,
	      const char *vpath, const char *fmt, ...)
{
	char what[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	progress_clear(k);
	if (plain) {
		fputs("medfs-fsck: ", stdout);
		put_path(stdout, plain);
		printf(": repaired: %s\n", what);
	} else {
		printf("medfs-fsck: vault file %s: repaired: %s\n", vpath, what);
	}
	fflush(stdout);
	k->fixed += k->problems > snapshot ? k->problems - snapshot : 1;
}

/* Prints why a repair was not made. */
void not_repaired(struct fsck *k, const char *plain, const char *vpath, const char *why)
{
	progress_clear(k);
	if (plain) {
		fputs("medfs-fsck: ", stdout);
		put_path(stdout, plain);
		printf(": not repaired: %s\n", why);
	} else {
		printf("medfs-fsck: vault file %s: not repaired: %s\n", vpath, why);
	}
	fflush(stdout);
}

/* The vault path of /lost+found, which a salvage may just have made: the
 * listing of the root, taken before, must not call it invisible. */
static void note_lost_found(struct fsck *k)
{
	char enc[MEDFS_NAME_ENC_MAX], entry[MEDFS_NAME_ENC_MAX], *vpath;
	int len;

	len = medfs_name_encrypt(enc, sizeof(enc), MEDFS_REPAIR_LOST_FOUND,
				 strlen(MEDFS_REPAIR_LOST_FOUND), k->root_id,
				 k->name_key);
	if (len >= 0)
		len = medfs_name_entry(entry, sizeof(entry), enc, (size_t)len,
				       k->name_key);
	if (len < 0 || asprintf(&vpath, "%s/%s", MEDFS_TREE_NAME, entry) < 0)
		return;
	remember(k, vpath);
	free(vpath);
}

/* Salvages the regular file path (vault file vpath, bound to b) into
 * lost+found. */
void salvage(struct fsck *k, unsigned long snapshot, const char *path, const char *vpath,
	     const struct medfs_binding *b)
{
	struct medfs_salvage sv;
	int ret;

	if (!k->repair || !ask(k, path, vpath, "move what can be read of it to /lost+found"))
		return;
	ret = medfs_repair_salvage_file(k->repair, path, vpath, b, &sv);
	note_lost_found(k);
	if (ret == -EBADMSG || ret == -EPROTONOSUPPORT) {
		not_repaired(
			k, path, vpath,
			"its header does not open where it is (moved or renamed "
			"behind medfs's back, an interrupted rename, or damaged): no "
			"byte of it can be read; restore it from a backup");
		return;
	}
	if (ret < 0) {
		char why[256];

		snprintf(why, sizeof(why), "cannot salvage it: %s", strerror(-ret));
		not_repaired(k, path, vpath, why);
		return;
	}
	if (sv.torn_header) {
		repaired(k, snapshot, path, vpath,
			 "its header was never written whole (a create cut short): "
			 "nothing to read; moved to %s/%s, empty",
			 MEDFS_REPAIR_LOST_FOUND_PATH, sv.name);
		journal_repair(k,
			       "moved vault file %s, shorter than a header, to "
			       "lost+found, empty",
			       vpath);
		return;
	}
	repaired(k, snapshot, path, vpath,
		 "moved to %s/%s, %" PRIu64 " bytes, %" PRIu64
		 " of them lost in %zu ranges (listed in %s/%s%s)%s%s",
		 MEDFS_REPAIR_LOST_FOUND_PATH, sv.name, sv.size, sv.lost, sv.n_ranges,
		 MEDFS_REPAIR_LOST_FOUND_PATH, sv.name, MEDFS_REPAIR_RANGES_SUFFIX,
		 sv.meta_lost ? "; its metadata did not authenticate and is lost" : "",
		 sv.xattrs_lost ? "; some extended attributes did not authenticate and "
				  "are lost"
				: "");
	journal_repair(k,
		       "moved vault file %s to lost+found: %" PRIu64 " bytes, %" PRIu64
		       " lost in %zu ranges",
		       vpath, sv.size, sv.lost, sv.n_ranges);
}

/* Seals the metadata of path again from its contents. */
void repair_meta(struct fsck *k, unsigned long snapshot, const char *path,
		 const char *vpath)
{
	char why[256];
	int ret;

	if (!k->repair || !ask(k, path, vpath, "seal its metadata again from its contents"))
		return;
	ret = medfs_repair_meta(k->repair, path);
	if (ret < 0) {
		snprintf(why, sizeof(why), "cannot seal its metadata again: %s",
			 strerror(-ret));
		not_repaired(k, path, vpath, why);
		return;
	}
	repaired(k, snapshot, path, vpath, "%s",
		 ret ? "metadata sealed again with the DICOM identifiers of its contents "
		       "(the former patients it named are lost)"
		     : "metadata sealed again, empty (its contents are not DICOM)");
	journal_repair(k, "sealed the metadata of vault file %s again from its contents",
		       vpath);
}

/* Cuts the vault file of path, longer than its header says, back to the
 * header's length. */
void settle_file(struct fsck *k, unsigned long snapshot, const char *path,
		 const char *vpath)
{
	char why[256];
	int ret;

	if (!k->repair || !ask(k, path, vpath, "cut it back to the length its header says"))
		return;
	ret = medfs_repair_settle(k->repair, path);
	if (ret < 0) {
		snprintf(why, sizeof(why), "cannot cut it back: %s", strerror(-ret));
		not_repaired(k, path, vpath, why);
		return;
	}
	repaired(k, snapshot, path, vpath,
		 "cut back to the length its header says (the unsynced part of "
		 "the extension dropped)");
	journal_repair(k, "cut vault file %s back to the length its header says", vpath);
}

/* Removes a leftover of an interrupted operation (vault path vpath). */
void remove_leftover(struct fsck *k, const char *vpath, const char *what)
{
	unsigned long snapshot = k->problems - 1;
	char question[128], why[256];
	int ret;

	snprintf(question, sizeof(question), "remove the %s", what);
	if (!k->repair || !ask(k, NULL, vpath, question))
		return;
	ret = medfs_repair_remove_leftover(k->repair, vpath);
	if (ret == 0) {
		repaired(k, snapshot, NULL, vpath, "%s removed", what);
		journal_repair(k, "removed the %s %s", what, vpath);
		return;
	}
	snprintf(why, sizeof(why), "%s",
		 ret == -ENOTEMPTY ? "it holds more than a directory header: look at it "
				     "and remove it by hand"
				   : strerror(-ret));
	not_repaired(k, NULL, vpath, why);
}

/* Repairs the header of directory plain (vault directory vdir, bound to
 * b). Returns true when its contents can be checked again. */
bool repair_dir(struct fsck *k, unsigned long snapshot, const char *plain,
		const char *vdir, const struct medfs_binding *b)
{
	char where[PATH_MAX], why[256];
	size_t moved = 0;
	int ret;

	if (!k->repair || !ask(k, plain, vdir, "seal its directory header again, or rebuild it"))
		return false;
	ret = medfs_repair_dir_header(k->repair, vdir, b, &moved, where, sizeof(where));
	switch (ret) {
	case MEDFS_DIR_RESEALED:
		repaired(k, snapshot, plain, vdir,
			 "directory header sealed again to its place (its id is proven "
			 "by the names of its entries)");
		journal_repair(k, "sealed the header of vault directory %s again", vdir);
		return true;
	case MEDFS_DIR_REBUILT:
		repaired(k, snapshot, plain, vdir,
			 "directory header rebuilt (the directory was empty)");
		journal_repair(k, "rebuilt the header of empty vault directory %s", vdir);
		return true;
	case MEDFS_DIR_QUARANTINED:
		repaired(k, snapshot, plain, vdir,
			 "directory header rebuilt with a new id: its id was lost, and "
			 "with it its %zu entries, moved as they are to %s/%s (restore "
			 "them from a backup)",
			 moved, k->vault_dir, where);
		journal_repair(
			k,
			"rebuilt the header of vault directory %s; its id was lost: "
			"%zu entries moved to %s",
			vdir, moved, where);
		return true;
	default:
		snprintf(why, sizeof(why), "cannot repair its directory header: %s",
			 strerror(-ret));
		not_repaired(k, plain, vdir, why);
		return false;
	}
}
