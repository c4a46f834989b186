/* medfs: the FUSE driver.
 *
 * Thin glue between libfuse's high-level API and the vault library: every
 * operation finds the vault through fuse_get_context(), asks the access
 * policy (access.c) whether the caller may, calls one medfs_vault_* or
 * medfs_file_* function, journals what it did (journal_glue.c) and turns
 * -EBADMSG (an integrity failure, journaled by the vault's hook) into
 * -EIO. Work on an open handle was decided at the open and is attributed
 * to its opener. Start-up unlocks the vault in the process that serves it,
 * so the mlocked key is never carried over a fork, and the command
 * returns only once the mount is ready. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h> /* umount2 */
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <fuse.h>
#include <fuse_lowlevel.h> /* fuse_lowlevel_version */
#include <linux/fuse.h>	   /* the size of a readdirplus entry */

#include "access.h"
#include "journal_glue.h"
#include "session_io.h"
#include "settler.h"
#include "uring.h"
#include "medfs/config.h"
#include "medfs/crypto.h"
#include "medfs/journal.h"
#include "medfs/log.h"
#include "medfs/modecheck.h"
#include "medfs/mountinfo.h"
#include "medfs/policy.h"
#include "medfs/unlock.h"
#include "medfs/vault.h"

#ifndef MEDFS_VERSION
#define MEDFS_VERSION "0.1.0"
#endif

#define MEDFS_MAX_WRITE (1U << 20)
/* Reads in requests of 128 KiB (unless -o max_read says otherwise): the
 * kernel sends the requests of one readahead to several threads at once,
 * each opening its blocks and copying its reply, and the reader's copy
 * starts with the first reply. One request of 512 KiB, opened on both
 * cores, read a series of such files 20% slower. */
#define MEDFS_MAX_READ (128U << 10)
/* 32 requests of MEDFS_MAX_READ in flight on a sequential read (1 GiB
 * from tmpfs: 1.2 GB/s at a readahead of 1 MiB, 1.4 GB/s at 4 MiB)... */
#define MEDFS_READAHEAD (4U << 20)
/* ...which the kernel would cut at its default of 12 requests in the
 * background, congested at 9 (1.0 GB/s). */
#define MEDFS_MAX_BACKGROUND 64

struct hidden;

/* What every operation needs, handed to fuse_new as private_data. */
struct medfs_mount {
	struct medfs_vault *vault;
	const char *vault_dir, *mountpoint;
	struct access *access; /* the policy, or only the mounting user */
	struct jnl *journal;
	int own_as_caller; /* running as root: new objects belong to the caller */
	int nohide;	   /* readdir shows what the caller may not list */
	int policy_only;   /* access(2) asks the policy, not the modes */
	int entry_timeout_set, attr_timeout_set; /* given with -o */
	int cache_names;       /* entry_timeout 1 under a policy: see may_cache_names */
	unsigned int max_read; /* -o max_read, which init must repeat; 0 if none */
	int ready_fd;	       /* background: where to report the mount, else -1 */
	struct fuse *fuse;     /* for notifications to the kernel */
	int audit_strict;      /* -o audit=strict: every read reaches the driver */

	pthread_mutex_t lock; /* guards what follows */
	struct handle **open; /* every open handle (freed at exit if the
				 kernel never released it) */
	size_t n_open, max_open;
	struct hidden *hidden; /* files unlinked while open */
};

static struct medfs_mount *mount_data(void)
{
	return fuse_get_context()->private_data;
}

static struct medfs_vault *vault(void)
{
	return mount_data()->vault;
}

static struct jnl *journal(void)
{
	return mount_data()->journal;
}

/* An open file, and who opened it with which rights: work on the handle
 * (reads, writes, ftruncate, fsync, write-back without a caller of its
 * own) is theirs, was decided at the open and is journaled as theirs. */
struct handle {
	struct medfs_file *f;
	struct jnl_file *jf; /* the opener, the path, the pending ranges */
	unsigned rights;
	uint64_t grant; /* the emergency grant it was opened under, or 0 */
};

static struct handle *handle_of(const struct fuse_file_info *fi)
{
	return (struct handle *)(uintptr_t)fi->fh;
}

static struct medfs_file *file_of(const struct fuse_file_info *fi)
{
	return handle_of(fi)->f;
}

/* Mode checks (see "Permission bits" below): none, search permission on
 * every directory above the path, or that and a mask (R_OK, W_OK, X_OK)
 * on the object itself. */
#define MODE_NONE (-1)
#define MODE_SEARCH 0
static int mode_object(const struct caller *c, const char *op, const char *path, int mask,
		       struct stat *st);

/* Whether the caller may do op with rights (MEDFS_RIGHT_*, all of them, or
 * any with ACCESS_ANY) on path, then (mask, see MODE_*) by the permission
 * bits of mpath: 0 or -EACCES. For the operations that are not journaled
 * themselves (lookups, reads of links and attributes): only an access that
 * an emergency grant allowed is, flagged. */
static int may_mode(const char *op, const char *path, unsigned rights, int how,
		    const char *mpath, int mask)
{
	struct medfs_mount *m = mount_data();
	struct access_verdict v;
	struct caller c;
	int ret;

	jnl_set_path(path);
	ret = caller_get(m->access, &c);
	if (ret == 0)
		ret = access_decide(m->access, &c, op, path, rights, how, &v);
	if (ret == 0 && mask != MODE_NONE) {
		struct stat st;

		ret = mode_object(&c, op, mpath, mask, &st);
	}
	/* Fail closed: nothing is revealed while it cannot be journaled. */
	if (ret == 0)
		ret = jnl_check(m->journal);
	if (ret == 0 && v.emergency)
		ret = jnl_record(m->journal, &c,
				 &(struct jnl_event){ .op = rights & MEDFS_RIGHT_READ
								    ? MEDFS_OP_READ
								    : MEDFS_OP_LIST,
						      .path = path,
						      .rule = v.rule,
						      .emergency = 1,
						      .detail = op });
	caller_put(&c);
	return ret;
}

static int may(const char *op, const char *path, unsigned rights)
{
	return may_mode(op, path, rights, ACCESS_ALL, path, MODE_SEARCH);
}

/* A journaled operation: begin() decides like may_how and refuses with
 * EIO while the journal cannot be written (fail closed); end() journals
 * what was attempted, with its result (access.c journals denials), and
 * turns a success that cannot be journaled into EIO. */
struct req {
	struct caller c;
	struct access_verdict v;
	int allowed;
};

static int begin(struct req *q, const char *op, const char *path, unsigned rights,
		 int how)
{
	struct medfs_mount *m = mount_data();
	int ret;

	jnl_set_path(path);
	ret = caller_get(m->access, &q->c);
	if (ret == 0)
		ret = access_decide(m->access, &q->c, op, path, rights, how, &q->v);
	if (ret == 0)
		ret = jnl_check(m->journal);
	q->allowed = ret == 0;
	return ret;
}

/* A second decision for the same request (the target of a rename). */
static int also(struct req *q, const char *op, const char *path, unsigned rights)
{
	struct access_verdict v;
	int ret = access_decide(mount_data()->access, &q->c, op, path, rights, ACCESS_ALL,
				&v);

	if (ret < 0) {
		q->allowed = 0;
		return ret;
	}
	q->v.emergency |= v.emergency;
	return 0;
}

static int end(struct req *q, struct jnl_event e, int ret)
{
	if (q->allowed) {
		e.result = ret;
		e.rule = q->v.rule;
		e.emergency = q->v.emergency;
		if (jnl_record(journal(), &q->c, &e) < 0 && ret == 0)
			ret = -EIO;
	}
	caller_put(&q->c);
	return ret;
}

/* The rights an open needs: by its access mode, and write to truncate. */
static unsigned open_rights(int flags)
{
	unsigned r = 0;

	if ((flags & O_ACCMODE) != O_WRONLY)
		r |= MEDFS_RIGHT_READ;
	if ((flags & O_ACCMODE) != O_RDONLY)
		r |= MEDFS_RIGHT_WRITE;
	if (flags & O_TRUNC)
		r |= MEDFS_RIGHT_WRITE;
	return r;
}

/* Owner of a new object: the caller when we can chown, else ourselves. */
static struct medfs_owner caller_owner(void)
{
	struct fuse_context *ctx = fuse_get_context();
	struct medfs_owner o = { (uid_t)-1, (gid_t)-1 };

	if (mount_data()->own_as_caller) {
		o.uid = ctx->uid;
		o.gid = ctx->gid;
	}
	return o;
}

/* Integrity failures reach the caller as plain I/O errors. */
static int fs_ret(int ret)
{
	return ret == -EBADMSG ? -EIO : ret;
}

/* Byte counts are bounded by the request size, which fits an int. */
static int fs_count(ssize_t ret)
{
	return ret == -EBADMSG ? -EIO : (int)ret;
}

/* Files unlinked while open.
 *
 * With hard_remove, libfuse's high-level API forgets the path of a file
 * unlinked while open, and fstat() never carries a handle: it would fail
 * with ESTALE. So libfuse is left to "hide" such a file instead, and its
 * rename to .fuse_hidden<16 hex digits> is turned here into a real unlink
 * from the vault. The file lives on in a reference kept under the hidden
 * name, which answers getattr, until libfuse unlinks that name at the last
 * close. Nothing named .fuse_hidden ever reaches the vault, nor a listing.
 * Only files open through the mount are hidden that way: any other rename
 * to such a name is an ordinary one.
 *
 * A hidden name belongs to its directory: it is kept as a whole path
 * (moved with its directory by a rename), never matched by its last
 * component alone, and a lookup of it is decided by the policy as the
 * path the file had before its unlink (orig), which is what it stands
 * for. */

struct hidden {
	struct hidden *next;
	struct medfs_file *f;
	char *path; /* the hidden name, as a path of the mount */
	char *orig; /* the path the file had */
};

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

static int is_hidden_name(const char *path)
{
	const char *name = base_name(path);
	size_t pre = strlen(".fuse_hidden");

	if (strncmp(name, ".fuse_hidden", pre) != 0 || strlen(name) != pre + 16)
		return 0;
	for (name += pre; *name; name++)
		if (!isxdigit((unsigned char)*name))
			return 0;
	return 1;
}

static void hidden_free(struct hidden *h)
{
	if (!h)
		return;
	if (h->f)
		medfs_file_release(h->f);
	free(h->path);
	free(h->orig);
	free(h);
}

static int open_add(struct medfs_mount *m, struct handle *h)
{
	int ret = 0;

	pthread_mutex_lock(&m->lock);
	if (m->n_open == m->max_open) {
		size_t max = m->max_open ? 2 * m->max_open : 64;
		struct handle **p = realloc(m->open, max * sizeof(*p));

		if (!p) {
			ret = -ENOMEM;
			goto out;
		}
		m->open = p;
		m->max_open = max;
	}
	m->open[m->n_open++] = h;
out:
	pthread_mutex_unlock(&m->lock);
	return ret;
}

static void open_del(struct medfs_mount *m, struct handle *h)
{
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n_open; i++) {
		if (m->open[i] == h) {
			m->open[i] = m->open[--m->n_open];
			break;
		}
	}
	pthread_mutex_unlock(&m->lock);
}

/* Under m->lock. */
static int open_has(const struct medfs_mount *m, const struct medfs_file *f)
{
	for (size_t i = 0; i < m->n_open; i++)
		if (m->open[i]->f == f)
			return 1;
	return 0;
}

/* Under m->lock: the hidden file whose name is path (a whole path). */
static struct hidden **hidden_find(struct medfs_mount *m, const char *path)
{
	struct hidden **h;

	for (h = &m->hidden; *h; h = &(*h)->next)
		if (strcmp((*h)->path, path) == 0)
			break;
	return h;
}

/* libfuse's rename of an open file to a hidden name. Returns 0 or -errno
 * when done here, 1 when the rename is an ordinary one. */
static int hide(struct medfs_mount *m, const char *from, const char *to)
{
	struct medfs_file *f;
	struct hidden *h;
	int ret;

	if (medfs_file_open(m->vault, from, O_RDONLY, &f) < 0)
		return 1;
	h = calloc(1, sizeof(*h));
	if (h) {
		h->path = strdup(to);
		h->orig = strdup(from);
	}
	pthread_mutex_lock(&m->lock);
	ret = 1;
	if (!open_has(m, f))
		goto out;
	ret = -ENOMEM;
	if (!h || !h->path || !h->orig)
		goto out;
	ret = medfs_vault_unlink(m->vault, from);
	if (ret < 0)
		goto out;
	h->f = f;
	h->next = m->hidden;
	m->hidden = h;
	f = NULL;
	h = NULL;
out:
	pthread_mutex_unlock(&m->lock);
	hidden_free(h);
	if (f)
		medfs_file_release(f);
	return ret;
}

/* Returns 1 when path is no hidden file. */
static int hidden_getattr(struct medfs_mount *m, const char *path, struct stat *st)
{
	struct hidden *h;
	int ret = 1;

	if (!is_hidden_name(path))
		return 1;
	pthread_mutex_lock(&m->lock);
	h = *hidden_find(m, path);
	if (h)
		ret = medfs_file_getattr(h->f, st);
	pthread_mutex_unlock(&m->lock);
	return ret;
}

static int is_hidden(struct medfs_mount *m, const char *path)
{
	int ret;

	if (!is_hidden_name(path))
		return 0;
	pthread_mutex_lock(&m->lock);
	ret = *hidden_find(m, path) != NULL;
	pthread_mutex_unlock(&m->lock);
	return ret;
}

/* The path a hidden file had, into *orig (from malloc, NULL when out of
 * memory): 1, or 0 when path is no hidden file. */
static int hidden_orig(struct medfs_mount *m, const char *path, char **orig)
{
	struct hidden *h;

	if (!is_hidden_name(path))
		return 0;
	pthread_mutex_lock(&m->lock);
	h = *hidden_find(m, path);
	if (h)
		*orig = strdup(h->orig);
	pthread_mutex_unlock(&m->lock);
	return h != NULL;
}

/* libfuse's unlink of a hidden name at the last close: drops the file.
 * (A caller's unlink of the name while the file is open reaches us as
 * libfuse's rename of it to another hidden name, an ordinary rename.) */
static int hidden_unlink(struct medfs_mount *m, const char *path)
{
	struct hidden **p, *h = NULL;

	if (!is_hidden_name(path))
		return 1;
	pthread_mutex_lock(&m->lock);
	p = hidden_find(m, path);
	h = *p;
	if (h)
		*p = h->next;
	pthread_mutex_unlock(&m->lock);
	if (!h)
		return 1;
	hidden_free(h);
	return 0;
}

/* "to" with the prefix "from" of p replaced, or NULL (p is not below
 * from, or no memory). */
static char *moved_path(const char *p, const char *from, const char *to)
{
	size_t len = strlen(from);
	char *out;

	if (strncmp(p, from, len) != 0 || p[len] != '/')
		return NULL;
	if (asprintf(&out, "%s%s", to, p + len) < 0)
		return NULL;
	return out;
}

/* After a rename of from to to (both ways for an exchange), the hidden
 * files below them are found under their new paths. */
static void hidden_moved(struct medfs_mount *m, const char *from, const char *to,
			 unsigned int flags)
{
	pthread_mutex_lock(&m->lock);
	for (struct hidden *h = m->hidden; h; h = h->next) {
		char **fields[2] = { &h->path, &h->orig };

		for (size_t i = 0; i < 2; i++) {
			char *n = moved_path(*fields[i], from, to);

			if (!n && (flags & RENAME_EXCHANGE))
				n = moved_path(*fields[i], to, from);
			if (n) {
				free(*fields[i]);
				*fields[i] = n;
			}
		}
	}
	pthread_mutex_unlock(&m->lock);
}

static void log_syslog(int priority, const char *msg)
{
	syslog(priority, "%s", msg);
}

/* Leaves the terminal and the session of the command that started us. */
static int detach(void)
{
	int fd;

	if (setsid() < 0 || chdir("/") != 0)
		return -1;
	fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		return -1;
	if (dup2(fd, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0 ||
	    dup2(fd, STDERR_FILENO) < 0) {
		close(fd);
		return -1;
	}
	if (fd > STDERR_FILENO)
		close(fd);
	return 0;
}

/* Background mode, from init(): the kernel's INIT has arrived, so the mount
 * is in place and accepted. Only now leave the terminal, so that every
 * failure up to here was still reported on it, then let the waiting
 * parent exit 0. */
static void report_ready(struct medfs_mount *m)
{
	const unsigned char ok = 0;

	if (m->ready_fd < 0)
		return;
	openlog("medfs", LOG_PID, LOG_DAEMON);
	medfs_log_set(log_syslog);
	if (detach() < 0)
		medfs_log(LOG_WARNING, "cannot detach from the terminal: %s",
			  strerror(errno));
	if (write(m->ready_fd, &ok, 1) != 1)
		medfs_log(LOG_WARNING, "the starting command is gone");
	close(m->ready_fd);
	m->ready_fd = -1;
}

/* The device number of the mount on path, from /proc/self/mountinfo (the
 * last mount there: this one); 0 when not found. Asking the mount itself
 * would wait for the loop that is running this. */
static dev_t mount_device(const char *path)
{
	char line[PATH_MAX * 2 + 256], where[PATH_MAX], *p, *w;
	unsigned maj, min;
	dev_t dev = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT ..., octal escapes in paths */
		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min, where) != 3)
			continue;
		for (p = w = where; *p; w++) {
			if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' &&
			    p[2] <= '7' && p[3] >= '0' && p[3] <= '7') {
				*w = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 +
					    (p[3] - '0'));
				p += 4;
			} else {
				*w = *p++;
			}
		}
		*w = '\0';
		if (strcmp(where, path) == 0)
			dev = makedev(maj, min);
	}
	fclose(f);
	return dev;
}

/* The kernel reads ahead 128 KiB at a time on a FUSE mount unless told
 * otherwise: a read request then carries an eighth of what the driver
 * could open in one go, and one is in flight at a time. Raised to
 * MEDFS_READAHEAD where we may (root). Random reads are not affected: the
 * kernel reads those as asked. The bdi is this mount's own, made by the
 * mount and gone with it: no other file system's setting changes. */
static void raise_readahead(const char *mountpoint)
{
	char path[64], kib[16];
	dev_t dev = mount_device(mountpoint);
	int fd, n;

	if (dev == 0)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", major(dev),
		 minor(dev));
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = snprintf(kib, sizeof(kib), "%u", MEDFS_READAHEAD / 1024);
	if (write(fd, kib, (size_t)n) != n)
		medfs_log(LOG_DEBUG, "cannot set %s: %s", path, strerror(errno));
	close(fd);
}

static void *medfs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct medfs_mount *m = mount_data();

	cfg->use_ino = 0;
	/* Open files are "hidden" on unlink, which the driver turns into a
	 * real unlink: see hide(). */
	cfg->hard_remove = 0;
	/* Paths are wanted where a handle is not enough: readdir, and the
	 * mtime (and suid-clearing mode) that ftruncate sends with the size. */
	cfg->nullpath_ok = 0;
	/* Every open starts with an empty page cache, so each one and the
	 * first read of each range reach the driver; no direct_io so that
	 * shared writable mmap works. */
	cfg->kernel_cache = 0;
	cfg->auto_cache = 0;
	cfg->direct_io = 0;
	/* The kernel's cache of names is shared by all who may use the mount:
	 * under a policy, when they can be told apart (see may_cache_names),
	 * each lookup must reach it. Attributes may stay for a second: a
	 * stat reaches them only through a lookup, and every change to them
	 * comes through this mount. -o entry_timeout=/attr_timeout= choose. */
	if (!m->entry_timeout_set)
		cfg->entry_timeout =
			!access_has_policy(m->access) || m->cache_names ? 1.0 : 0;
	if (!m->attr_timeout_set)
		cfg->attr_timeout = 1.0;
	cfg->negative_timeout = 0;

	/* Written through: no late write-back without a caller, and no open
	 * may bypass the driver. */
	conn->want &= ~(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_NO_OPEN_SUPPORT |
			FUSE_CAP_NO_OPENDIR_SUPPORT);
	/* Every open starts with an empty page cache (no keep_cache) and every
	 * change comes through this mount, so the kernel need not ask for the
	 * attributes again before each read to check its cache: with a policy
	 * (attr_timeout 0) that was one GETATTR per READ. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	/* Readdirplus stays (libfuse's default): see medfs_readdir for how it
	 * is kept from leaking. */
	/* medfs_file_open handles O_TRUNC itself. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->max_write = MEDFS_MAX_WRITE;
	/* libfuse refuses INIT unless this repeats the max_read mount
	 * option (the user's, or MEDFS_MAX_READ). */
	conn->max_read = m->max_read;

	/* The kernel keeps the smaller of this and the mount's readahead. */
	conn->max_readahead = MEDFS_READAHEAD;
	conn->max_background = MEDFS_MAX_BACKGROUND;
	conn->congestion_threshold = MEDFS_MAX_BACKGROUND * 3 / 4;
	raise_readahead(m->mountpoint);
	report_ready(m);
	medfs_log(LOG_INFO, "vault %s mounted on %s", m->vault_dir, m->mountpoint);
	return m;
}

/* The directory of path ("/" for "/a"), from malloc (NULL when out of
 * memory). Paths have no bound: a rename may move a tree below a deep one,
 * and the kernel sends paths longer than PATH_MAX then (it walks a name at
 * a time); a copy cut to a buffer would name another directory. */
static char *parent_of(const char *path)
{
	size_t len = (size_t)(base_name(path) - path);

	if (len > 1)
		len--; /* the slash before the name */
	return strndup(path, len);
}

/* Lookups need list on the path. The root is always there (the kernel
 * needs it). A hidden file is decided as the path it had; a hidden name
 * that is free (libfuse probes for one to hide an open file under) is
 * told so to whoever may list its directory, so that an unlink while open
 * works for any caller allowed the unlink. */
static int may_lookup(const char *path)
{
	struct medfs_mount *m = mount_data();
	char *other = NULL;
	struct stat st;
	int ret;

	if (strcmp(path, "/") == 0)
		return 0;
	if (hidden_orig(m, path, &other))
		goto decide;
	if (is_hidden_name(path) && medfs_vault_getattr(m->vault, path, &st) == -ENOENT) {
		other = parent_of(path);
		goto decide;
	}
	return may("getattr", path, MEDFS_RIGHT_LIST);
decide:
	ret = other ? may_mode("getattr", other, MEDFS_RIGHT_LIST, ACCESS_ALL, path,
			       MODE_SEARCH)
		    : -ENOMEM;
	free(other);
	return ret;
}

/* Permission bits.
 *
 * The driver checks them itself, as the kernel does with
 * default_permissions (which medfs no longer asks for), so that every
 * refusal reaches the journal: the rules are the library's
 * (medfs/modecheck.h), each refusal is logged and journaled as a denial
 * with right "mode". -o policy_only leaves them out. Search permission on
 * the directories above a path costs one fstatat per level for callers
 * other than root (the directories come from the vault's cache of
 * resolved directories, no header is read). */

static int modes_checked(void)
{
	return !mount_data()->policy_only;
}

/* The attributes of path: a hidden file's own, else the vault's. */
static int path_stat(const char *path, struct stat *st)
{
	int ret = hidden_getattr(mount_data(), path, st);

	if (ret > 0)
		ret = medfs_vault_getattr(vault(), path, st);
	return fs_ret(ret);
}

static int search_one(void *ctx, const struct stat *st)
{
	return medfs_mode_permits(ctx, st->st_mode, st->st_uid, st->st_gid, X_OK);
}

static int mode_refused(const struct caller *c, const char *op, const char *path, int err)
{
	if (err != -EACCES && err != -EPERM)
		return err;
	return access_mode_refused(mount_data()->access, c, op, path, err);
}

/* Search on every directory above path, then mask on path (MODE_*), whose
 * attributes go to st when mask > 0. */
static int mode_object(const struct caller *c, const char *op, const char *path, int mask,
		       struct stat *st)
{
	struct medfs_mode_caller mc;
	int ret = 0;

	if (mask == MODE_NONE || !modes_checked())
		return 0;
	/* Root searches everything, reads and writes anything. */
	if (c->uid == 0 && !(mask > 0 && (mask & X_OK)))
		return 0;
	access_mode_caller(c, &mc);
	if (c->uid != 0)
		ret = fs_ret(medfs_vault_ancestors(vault(), path, search_one, &mc));
	if (ret == 0 && mask > 0) {
		ret = path_stat(path, st);
		if (ret == 0)
			ret = medfs_mode_permits(&mc, st->st_mode, st->st_uid, st->st_gid,
						 mask);
	}
	return mode_refused(c, op, path, ret);
}

/* Making path: write and search on its directory. */
static int mode_create(const struct caller *c, const char *op, const char *path)
{
	struct stat st;
	char *dir;
	int ret;

	if (!modes_checked() || c->uid == 0)
		return 0;
	dir = parent_of(path);
	ret = dir ? mode_object(c, op, dir, W_OK | X_OK, &st) : -ENOMEM;
	free(dir);
	return ret;
}

/* Removing path from its directory: write and search there, and in a
 * sticky directory ownership of path or of the directory. st gets the
 * attributes of path (not for root, who may always). */
static int mode_delete(const struct caller *c, const char *op, const char *path,
		       struct stat *st)
{
	struct medfs_mode_caller mc;
	struct stat dst;
	char *dir;
	int ret;

	if (!modes_checked() || c->uid == 0)
		return 0;
	dir = parent_of(path);
	ret = dir ? mode_object(c, op, dir, W_OK | X_OK, &dst) : -ENOMEM;
	free(dir);
	if (ret == 0)
		ret = path_stat(path, st);
	if (ret < 0)
		return ret;
	access_mode_caller(c, &mc);
	return mode_refused(c, op, path, medfs_mode_may_delete(&mc, &dst, st->st_uid));
}

/* A rename's checks by mode: from leaves its directory and to is made or
 * replaced in its own (both ways for an exchange); a directory moved to
 * another directory needs write on itself (its ".." changes). */
static int mode_rename(const struct caller *c, const char *from, const char *to,
		       unsigned int flags)
{
	struct stat fst, tst;
	int ret, to_exists, same_dir;
	char *fdir, *tdir;

	if (!modes_checked() || c->uid == 0)
		return 0;
	ret = mode_delete(c, "rename", from, &fst);
	if (ret < 0)
		return ret;
	to_exists = path_stat(to, &tst) == 0;
	if (to_exists)
		ret = mode_delete(c, "rename", to, &tst);
	else
		ret = mode_create(c, "rename", to);
	if (ret < 0)
		return ret;
	fdir = parent_of(from);
	tdir = parent_of(to);
	same_dir = fdir && tdir ? strcmp(fdir, tdir) == 0 : -1;
	free(fdir);
	free(tdir);
	if (same_dir < 0)
		return -ENOMEM;
	if (same_dir)
		return 0;
	if (S_ISDIR(fst.st_mode)) {
		ret = mode_object(c, "rename", from, W_OK, &fst);
		if (ret < 0)
			return ret;
	}
	if ((flags & RENAME_EXCHANGE) && to_exists && S_ISDIR(tst.st_mode))
		ret = mode_object(c, "rename", to, W_OK, &tst);
	return ret;
}

/* chmod: the owner or root; a caller outside the object's group cannot
 * set S_ISGID (it is dropped, as the kernel does); a mode that only drops
 * S_ISUID and S_ISGID (what the kernel sends after a write or truncate by
 * another user) needs write permission only. */
static int mode_chmod(const struct caller *c, const char *path, mode_t *mode)
{
	const mode_t setid = S_ISUID | S_ISGID;
	struct medfs_mode_caller mc;
	struct stat st;
	int ret;

	if (!modes_checked())
		return 0;
	ret = mode_object(c, "chmod", path, MODE_SEARCH, &st);
	if (ret == 0)
		ret = path_stat(path, &st);
	if (ret < 0)
		return ret;
	access_mode_caller(c, &mc);
	if ((*mode & 07777) == (st.st_mode & 07777 & ~setid) && (st.st_mode & setid))
		ret = medfs_mode_permits(&mc, st.st_mode, st.st_uid, st.st_gid, W_OK);
	else
		ret = medfs_mode_may_chmod(&mc, &st, mode);
	return mode_refused(c, "chmod", path, ret);
}

static int mode_chown(const struct caller *c, const char *path, uid_t uid, gid_t gid)
{
	struct medfs_mode_caller mc;
	struct stat st;
	int ret;

	if (!modes_checked())
		return 0;
	ret = mode_object(c, "chown", path, MODE_SEARCH, &st);
	if (ret == 0)
		ret = path_stat(path, &st);
	if (ret < 0)
		return ret;
	access_mode_caller(c, &mc);
	return mode_refused(c, "chown", path, medfs_mode_may_chown(&mc, &st, uid, gid));
}

static int mode_utimens(const struct caller *c, const char *path, int to_now)
{
	struct medfs_mode_caller mc;
	struct stat st;
	int ret;

	if (!modes_checked())
		return 0;
	ret = mode_object(c, "utimens", path, MODE_SEARCH, &st);
	if (ret == 0)
		ret = path_stat(path, &st);
	if (ret < 0)
		return ret;
	access_mode_caller(c, &mc);
	return mode_refused(c, "utimens", path, medfs_mode_may_utimens(&mc, &st, to_now));
}

/* The kernel marks an open for execve with __FMODE_EXEC. */
#define OPEN_FOR_EXEC 040

/* What an open needs by mode: its access mode, write to truncate, execute
 * for execve. */
static int open_mask(int flags)
{
	int mask = 0;

	if ((flags & O_ACCMODE) != O_WRONLY)
		mask |= R_OK;
	if ((flags & O_ACCMODE) != O_RDONLY)
		mask |= W_OK;
	if (flags & O_TRUNC)
		mask |= W_OK;
	if (flags & OPEN_FOR_EXEC)
		mask |= X_OK;
	return mask;
}

/* Extended attributes: user.* need write (set, remove) or read (get) on
 * the object; the other namespaces, which medfs does not store, only the
 * search above it. */
static int xattr_mask(const char *name, int mask)
{
	return strncmp(name, "user.", 5) == 0 ? mask : MODE_SEARCH;
}

/* A request's mode check failed: nothing to journal but the denial. */
static int req_refused(struct req *q, int ret)
{
	if (ret < 0)
		q->allowed = 0;
	return ret;
}

static int medfs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	int ret = jnl_check(journal());

	if (ret < 0)
		return ret;
	if (fi)
		return fs_ret(medfs_file_getattr(file_of(fi), st));
	if (!path)
		return -ENOENT;
	ret = may_lookup(path);
	if (ret < 0)
		return ret;
	ret = hidden_getattr(mount_data(), path, st);
	if (ret <= 0)
		return fs_ret(ret);
	return fs_ret(medfs_vault_getattr(vault(), path, st));
}

static int medfs_readlink(const char *path, char *buf, size_t size)
{
	int ret = may("readlink", path, MEDFS_RIGHT_READ);

	if (ret < 0)
		return ret;
	return fs_ret(medfs_vault_readlink(vault(), path, buf, size));
}

/* access(2), faccessat(2) and chdir, which the kernel asks about unless
 * it checks modes itself (default_permissions): a lookup (list), then the
 * mode bits as the kernel would check them (root executes only what some
 * x bit allows), unless -o policy_only. A refusal by mode is journaled
 * like a denial by the policy. */
static int medfs_access(const char *path, int mask)
{
	struct medfs_mount *m = mount_data();
	struct caller c;
	struct stat st;
	int ret;

	ret = may_lookup(path);
	if (ret < 0 || m->policy_only || mask == F_OK)
		return ret;
	ret = hidden_getattr(m, path, &st);
	if (ret > 0)
		ret = medfs_vault_getattr(m->vault, path, &st);
	if (ret < 0)
		return fs_ret(ret);
	ret = caller_get(m->access, &c);
	if (ret == 0)
		ret = access_mode(m->access, &c, "access", path, &st, mask);
	caller_put(&c);
	return ret;
}

/* "mode 0644" */
static const char *mode_text(char *buf, size_t size, mode_t mode)
{
	snprintf(buf, size, "mode %04o", (unsigned)(mode & 07777));
	return buf;
}

static int medfs_mkdir(const char *path, mode_t mode)
{
	struct medfs_owner o = caller_owner();
	struct req q;
	char how[16];
	int ret = begin(&q, "mkdir", path, MEDFS_RIGHT_CREATE, ACCESS_ALL);

	if (ret == 0)
		ret = req_refused(&q, mode_create(&q.c, "mkdir", path));
	if (ret == 0)
		ret = fs_ret(medfs_vault_mkdir(vault(), path, mode, &o));
	return end(&q,
		   (struct jnl_event){ .op = MEDFS_OP_MKDIR,
				       .path = path,
				       .detail = mode_text(how, sizeof(how), mode) },
		   ret);
}

/* FIFOs and Unix sockets (a bind(2) in the mount) are decided and
 * journaled as creates; device nodes are refused by the vault (EPERM). */
static int medfs_mknod(const char *path, mode_t mode, dev_t rdev)
{
	struct medfs_owner o = caller_owner();
	struct req q;
	char how[32];
	int ret = begin(&q, "mknod", path, MEDFS_RIGHT_CREATE, ACCESS_ALL);

	(void)rdev;
	snprintf(how, sizeof(how), "%s mode %04o",
		 S_ISFIFO(mode)	  ? "fifo"
		 : S_ISSOCK(mode) ? "socket"
		 : S_ISREG(mode)  ? "file"
				  : "device",
		 (unsigned)(mode & 07777));
	if (ret == 0)
		ret = req_refused(&q, mode_create(&q.c, "mknod", path));
	if (ret == 0)
		ret = fs_ret(medfs_vault_mknod(vault(), path, mode, &o));
	return end(&q,
		   (struct jnl_event){ .op = MEDFS_OP_CREATE, .path = path, .detail = how },
		   ret);
}

static int medfs_unlink(const char *path)
{
	struct medfs_dicom_meta ids = { 0 };
	struct stat st;
	struct req q;
	int ret;

	if (hidden_unlink(mount_data(), path) == 0)
		return 0;
	ret = begin(&q, "unlink", path, MEDFS_RIGHT_DELETE, ACCESS_ALL);
	if (ret == 0)
		ret = req_refused(&q, mode_delete(&q.c, "unlink", path, &st));
	if (ret == 0) {
		jnl_path_ids(journal(), path, &ids);
		ret = fs_ret(medfs_vault_unlink(vault(), path));
	}
	ret = end(&q,
		  (struct jnl_event){ .op = MEDFS_OP_DELETE,
				      .path = path,
				      .detail = "unlink",
				      .ids = &ids },
		  ret);
	jnl_ids_wipe(&ids);
	return ret;
}

static int medfs_rmdir(const char *path)
{
	struct req q;
	struct stat st;
	int ret = begin(&q, "rmdir", path, MEDFS_RIGHT_DELETE, ACCESS_ALL);

	if (ret == 0)
		ret = req_refused(&q, mode_delete(&q.c, "rmdir", path, &st));
	if (ret == 0)
		ret = fs_ret(medfs_vault_rmdir(vault(), path));
	return end(&q,
		   (struct jnl_event){
			   .op = MEDFS_OP_DELETE, .path = path, .detail = "rmdir" },
		   ret);
}

static int medfs_symlink(const char *target, const char *path)
{
	struct medfs_owner o = caller_owner();
	struct req q;
	int ret = begin(&q, "symlink", path, MEDFS_RIGHT_CREATE, ACCESS_ALL);

	if (ret == 0)
		ret = req_refused(&q, mode_create(&q.c, "symlink", path));
	if (ret == 0)
		ret = fs_ret(medfs_vault_symlink(vault(), target, path, &o));
	return end(&q,
		   (struct jnl_event){
			   .op = MEDFS_OP_SYMLINK, .path = path, .path2 = target },
		   ret);
}

/* What is at from may move to to without changing anybody's rights
 * below either (see medfs_policy_decide_move). */
static int also_move(struct req *q, const char *from, const char *to)
{
	struct medfs_mount *m = mount_data();
	struct access_verdict v;
	struct stat st;
	int ret;

	if (!access_has_policy(m->access))
		return 0;
	ret = medfs_vault_getattr(m->vault, from, &st);
	if (ret < 0)
		st.st_mode = S_IFDIR; /* gone or unreadable: judged as the wider */
	ret = access_decide_move(m->access, &q->c, from, S_ISDIR(st.st_mode), to, &v);
	if (ret < 0) {
		q->allowed = 0;
		return ret;
	}
	q->v.emergency |= v.emergency;
	return 0;
}

/* Delete on the source and create on the target; replacing a target
 * deletes it, so that needs delete on it too; an exchange does both to
 * both. */
static int begin_rename(struct req *q, const char *from, const char *to,
			unsigned int flags)
{
	const unsigned both = MEDFS_RIGHT_DELETE | MEDFS_RIGHT_CREATE;
	unsigned to_rights = MEDFS_RIGHT_CREATE;
	struct stat st;
	int ret;

	if (flags & RENAME_EXCHANGE)
		to_rights = both;
	else if (!(flags & RENAME_NOREPLACE) &&
		 medfs_vault_getattr(vault(), to, &st) == 0)
		to_rights |= MEDFS_RIGHT_DELETE;
	ret = begin(q, "rename", from,
		    flags & RENAME_EXCHANGE ? both : MEDFS_RIGHT_DELETE, ACCESS_ALL);
	if (ret == 0)
		ret = also(q, "rename", to, to_rights);
	if (ret == 0)
		ret = also_move(q, from, to);
	if (ret == 0 && (flags & RENAME_EXCHANGE))
		ret = also_move(q, to, from);
	if (ret == 0)
		ret = req_refused(q, mode_rename(&q->c, from, to, flags));
	return ret;
}

static int medfs_rename(const char *from, const char *to, unsigned int flags)
{
	struct medfs_dicom_meta ids = { 0 };
	struct req q;
	int ret;

	/* libfuse's own rename of an open file being unlinked. */
	if (flags == 0 && is_hidden_name(to)) {
		struct stat st;

		ret = begin(&q, "unlink", from, MEDFS_RIGHT_DELETE, ACCESS_ALL);
		if (ret == 0)
			ret = req_refused(&q, mode_delete(&q.c, "unlink", from, &st));
		if (ret == 0) {
			jnl_path_ids(journal(), from, &ids);
			ret = hide(mount_data(), from, to);
		}
		if (ret <= 0) {
			ret = end(&q,
				  (struct jnl_event){ .op = MEDFS_OP_DELETE,
						      .path = from,
						      .detail = "unlink while open",
						      .ids = &ids },
				  fs_ret(ret));
			jnl_ids_wipe(&ids);
			return ret;
		}
		caller_put(&q.c); /* an ordinary rename after all */
	}
	ret = begin_rename(&q, from, to, flags);
	if (ret == 0) {
		jnl_path_ids(journal(), from, &ids);
		ret = fs_ret(medfs_vault_rename(vault(), from, to, flags));
	}
	if (ret == 0)
		hidden_moved(mount_data(), from, to, flags);
	ret = end(&q,
		  (struct jnl_event){ .op = MEDFS_OP_RENAME,
				      .path = from,
				      .path2 = to,
				      .flags = flags,
				      .ids = &ids },
		  ret);
	jnl_ids_wipe(&ids);
	return ret;
}

/* File headers are bound to their parent and name: a second name for the
 * same object cannot exist. */
static int medfs_link(const char *from, const char *to)
{
	(void)from;
	(void)to;
	return -EPERM;
}

/* A file unlinked while open has no mode or times of its own left to
 * change; ftruncate on it still sends a new mtime (and, on a setuid file,
 * a mode without the setuid bits) and must not fail for that. */
static int unlinked(const char *path)
{
	return !path || is_hidden(mount_data(), path);
}

static int medfs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct req q;
	char how[32];
	int ret;

	(void)fi;
	if (unlinked(path))
		return 0;
	ret = begin(&q, "chmod", path, MEDFS_RIGHT_SETATTR, ACCESS_ALL);
	if (ret == 0)
		ret = req_refused(&q, mode_chmod(&q.c, path, &mode));
	if (ret == 0)
		ret = fs_ret(medfs_vault_chmod(vault(), path, mode));
	snprintf(how, sizeof(how), "chmod %04o", (unsigned)(mode & 07777));
	return end(
		&q,
		(struct jnl_event){ .op = MEDFS_OP_SETATTR, .path = path, .detail = how },
		ret);
}

static int medfs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	struct req q;
	char how[48];
	int ret;

	(void)fi;
	if (!path)
		return -ENOENT;
	ret = begin(&q, "chown", path, MEDFS_RIGHT_SETATTR, ACCESS_ALL);
	if (ret == 0)
		ret = req_refused(&q, mode_chown(&q.c, path, uid, gid));
	if (ret == 0)
		ret = fs_ret(medfs_vault_chown(vault(), path, uid, gid));
	snprintf(how, sizeof(how), "chown %d:%d", (int)uid, (int)gid);
	return end(
		&q,
		(struct jnl_event){ .op = MEDFS_OP_SETATTR, .path = path, .detail = how },
		ret);
}

/* Work through a handle: refused while the journal cannot be written,
 * journaled as its opener's. */
static int handle_event(struct handle *h, struct jnl_event e, int ret)
{
	e.result = ret;
	if (jnl_file_event(h->jf, &e) < 0 && ret == 0)
		ret = -EIO;
	return ret;
}

/* After the end of an emergency grant, from access.c's keeper thread: the
 * kernel still holds pages read through the files opened under it, which
 * it would serve without asking. Drops them (and unmaps them), by the path
 * each file was opened with: a file renamed since keeps its pages. */
static void grant_ended(void *ctx, uint64_t grant)
{
	struct medfs_mount *m = ctx;
	char **paths = NULL;
	size_t n = 0;

	pthread_mutex_lock(&m->lock);
	if (m->n_open)
		paths = calloc(m->n_open, sizeof(*paths));
	for (size_t i = 0; paths && i < m->n_open; i++) {
		const char *p = jnl_file_path(m->open[i]->jf);

		if (m->open[i]->grant == grant && p)
			paths[n++] = strdup(p);
	}
	pthread_mutex_unlock(&m->lock);
	for (size_t i = 0; i < n; i++) {
		if (paths[i] && m->fuse)
			fuse_invalidate_path(m->fuse, paths[i]);
		free(paths[i]);
	}
	free(paths);
}

/* Work through a handle opened under an emergency grant: counted in the
 * grant, or refused and journaled as a denial once the grant has ended. */
static int handle_grant(struct handle *h, const char *op, unsigned right)
{
	char detail[96];
	int ret;

	if (!h->grant)
		return 0;
	ret = access_grant_use(mount_data()->access, h->grant, op, right);
	if (ret == 0)
		return 0;
	snprintf(detail, sizeof(detail), "op=%s right=%s: the emergency grant has ended",
		 op, medfs_right_name(right));
	return handle_event(
		h, (struct jnl_event){ .op = MEDFS_OP_DENIED, .detail = detail }, ret);
}

static int medfs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct req q;
	int ret;

	if (fi) {
		struct handle *h = handle_of(fi);

		if (!(h->rights & MEDFS_RIGHT_WRITE))
			return -EBADF;
		ret = jnl_file_begin(h->jf);
		if (ret == 0)
			ret = handle_grant(h, "ftruncate", MEDFS_RIGHT_WRITE);
		if (ret < 0)
			return ret;
		ret = fs_ret(medfs_file_truncate(h->f, size));
		return handle_event(h,
				    (struct jnl_event){ .op = MEDFS_OP_TRUNCATE,
							.bytes = (uint64_t)size,
							.detail = "ftruncate" },
				    ret);
	}
	if (!path)
		return -ENOENT;
	ret = begin(&q, "truncate", path, MEDFS_RIGHT_WRITE, ACCESS_ALL);
	if (ret == 0) {
		struct stat st;

		ret = req_refused(&q, mode_object(&q.c, "truncate", path, W_OK, &st));
	}
	if (ret == 0)
		ret = fs_ret(medfs_vault_truncate(vault(), path, size));
	return end(&q,
		   (struct jnl_event){ .op = MEDFS_OP_TRUNCATE,
				       .path = path,
				       .bytes = (uint64_t)size },
		   ret);
}

/* Setting both times to now or leaving them, what a writer may do in
 * POSIX; libfuse also turns the new mtime of every truncate into such a
 * call. */
static int touch_now(const struct timespec tv[2])
{
	return (tv[0].tv_nsec == UTIME_NOW || tv[0].tv_nsec == UTIME_OMIT) &&
	       (tv[1].tv_nsec == UTIME_NOW || tv[1].tv_nsec == UTIME_OMIT);
}

static int medfs_utimens(const char *path, const struct timespec tv[2],
			 struct fuse_file_info *fi)
{
	struct req q;
	int ret;

	if (unlinked(path))
		return 0;
	if (!touch_now(tv))
		ret = begin(&q, "utimens", path, MEDFS_RIGHT_SETATTR, ACCESS_ALL);
	else if (fi && (handle_of(fi)->rights & MEDFS_RIGHT_WRITE))
		ret = begin(&q, "utimens", path, 0, ACCESS_ALL); /* the handle's right */
	else
		ret = begin(&q, "utimens", path, MEDFS_RIGHT_WRITE | MEDFS_RIGHT_SETATTR,
			    ACCESS_ANY);
	if (ret == 0)
		ret = req_refused(&q, mode_utimens(&q.c, path, touch_now(tv)));
	if (ret == 0)
		ret = fs_ret(medfs_vault_utimens(vault(), path, tv));
	return end(&q,
		   (struct jnl_event){
			   .op = MEDFS_OP_SETATTR, .path = path, .detail = "utimens" },
		   ret);
}

/* Hands an opened file to FUSE, counted for hide() and journaled (op:
 * open or create) before the open returns. */
static int opened(struct fuse_file_info *fi, struct handle *h, struct req *q,
		  struct jnl_event e, struct medfs_file *f)
{
	struct medfs_mount *m = mount_data();
	int ret;

	h->f = f;
	h->grant = q->v.grant;
	ret = open_add(m, h);
	e.flags = (uint32_t)fi->flags;
	e.rule = q->v.rule;
	e.emergency = q->v.emergency;
	if (ret == 0) {
		ret = jnl_file_open(m->journal, &q->c, &e, f, &h->jf);
		if (ret < 0)
			open_del(m, h);
	}
	caller_put(&q->c);
	if (ret < 0) {
		medfs_file_release(f);
		free(h);
		return ret;
	}
	if (h->grant)
		access_grant_hold(m->access, h->grant);
	fi->fh = (uintptr_t)h;
	/* -o audit=strict: no read is served from the page cache, so each
	 * one is journaled; shared maps still work (session_io.h). */
	if (m->audit_strict)
		fi->direct_io = 1;
	return 0;
}

static int medfs_open(const char *path, struct fuse_file_info *fi)
{
	struct handle *h = calloc(1, sizeof(*h));
	struct medfs_file *f;
	struct req q;
	int ret;

	if (!h)
		return -ENOMEM;
	h->rights = open_rights(fi->flags);
	ret = begin(&q, "open", path, h->rights, ACCESS_ALL);
	if (ret == 0) {
		struct stat st;

		ret = req_refused(
			&q, mode_object(&q.c, "open", path, open_mask(fi->flags), &st));
	}
	if (ret == 0)
		ret = fs_ret(medfs_file_open(vault(), path, fi->flags, &f));
	if (ret == 0)
		return opened(fi, h, &q,
			      (struct jnl_event){ .op = MEDFS_OP_OPEN, .path = path }, f);
	free(h);
	return end(&q,
		   (struct jnl_event){ .op = MEDFS_OP_OPEN,
				       .path = path,
				       .flags = (uint32_t)fi->flags },
		   ret);
}

/* Create needs create only, and the new file may be written (or read)
 * through the handle it gives. If the name appeared meanwhile, this is
 * an open of that file, which needs what opens need. */
static int medfs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct medfs_owner o = caller_owner();
	struct handle *h = calloc(1, sizeof(*h));
	struct medfs_file *f;
	struct req q;
	char how[16];
	int ret;

	if (!h)
		return -ENOMEM;
	h->rights = open_rights(fi->flags);
	mode_text(how, sizeof(how), mode);
	ret = begin(&q, "create", path, MEDFS_RIGHT_CREATE, ACCESS_ALL);
	if (ret == 0)
		ret = req_refused(&q, mode_create(&q.c, "create", path));
	if (ret == 0)
		ret = fs_ret(medfs_file_create(vault(), path, fi->flags | O_EXCL, mode,
					       &o, &f));
	if (ret == -EEXIST && !(fi->flags & O_EXCL)) {
		free(h);
		caller_put(&q.c); /* journaled as the open it is */
		return medfs_open(path, fi);
	}
	if (ret == 0)
		return opened(fi, h, &q,
			      (struct jnl_event){ .op = MEDFS_OP_CREATE,
						  .path = path,
						  .detail = how },
			      f);
	free(h);
	return end(&q,
		   (struct jnl_event){ .op = MEDFS_OP_CREATE,
				       .path = path,
				       .flags = (uint32_t)fi->flags,
				       .detail = how },
		   ret);
}

/* Reads and writes are journaled as byte ranges of the handle. */
static int medfs_read(const char *path, char *buf, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	char *to = uring_reply_data(size); /* the reply's own buffer, if any */
	ssize_t n;

	(void)path;
	if (!(h->rights & MEDFS_RIGHT_READ))
		return -EBADF;
	n = jnl_file_begin(h->jf);
	if (n == 0)
		n = handle_grant(h, "read", MEDFS_RIGHT_READ);
	if (n == 0)
		n = medfs_file_read(h->f, to ? to : buf, size, off);
	if (n > 0 && jnl_file_read(h->jf, (uint64_t)off, (uint64_t)n) < 0)
		n = -EIO;
	return fs_count(n);
}

static int medfs_write(const char *path, const char *buf, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	int append = (fi->flags & O_APPEND) != 0;
	ssize_t n;

	(void)path;
	if (!(h->rights & MEDFS_RIGHT_WRITE))
		return -EBADF;
	n = jnl_file_begin(h->jf);
	if (n == 0)
		n = handle_grant(h, "write", MEDFS_RIGHT_WRITE);
	if (n == 0)
		n = medfs_file_write(h->f, buf, size, off, append);
	/* An append landed at the end of the file, wherever that was. */
	if (n > 0 && append)
		off = (off_t)(medfs_file_size(h->f) - (uint64_t)n);
	if (n > 0 && jnl_file_write(h->jf, (uint64_t)off, (uint64_t)n) < 0)
		n = -EIO;
	return fs_count(n);
}

/* Free to anyone the policy lets in: it tells nothing of the files. */
static int medfs_statfs(const char *path, struct statvfs *st)
{
	int ret = may("statfs", path, 0);

	if (ret < 0)
		return ret;
	return fs_ret(medfs_vault_statfs(vault(), st));
}

/* Every write already reached the vault. */
/* The last ranges and a written file's DICOM identifiers are journaled
 * at release. */
static int medfs_release(const char *path, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);

	(void)path;
	jnl_file_release(h->jf);
	if (h->grant)
		access_grant_drop(mount_data()->access, h->grant);
	open_del(mount_data(), h);
	medfs_file_release(h->f);
	free(h);
	return 0;
}

static int medfs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	int ret;

	(void)path;
	ret = jnl_file_begin(h->jf);
	if (ret == 0)
		ret = fs_ret(medfs_file_fsync(h->f, datasync));
	if (jnl_file_sync(h->jf) < 0 && ret == 0)
		ret = -EIO;
	return ret;
}

static int medfs_fallocate(const char *path, int mode, off_t off, off_t len,
			   struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	char how[64];
	int ret;

	(void)path;
	if (mode != 0 && mode != FALLOC_FL_KEEP_SIZE)
		return -EOPNOTSUPP;
	if (!(h->rights & MEDFS_RIGHT_WRITE))
		return -EBADF;
	ret = jnl_file_begin(h->jf);
	if (ret == 0)
		ret = handle_grant(h, "fallocate", MEDFS_RIGHT_WRITE);
	if (ret < 0)
		return ret;
	ret = fs_ret(mode == FALLOC_FL_KEEP_SIZE ? medfs_file_reserve(h->f, off, len)
						 : medfs_file_allocate(h->f, off, len));
	snprintf(how, sizeof(how), "fallocate %lld+%lld", (long long)off, (long long)len);
	return handle_event(h,
			    (struct jnl_event){ .op = MEDFS_OP_TRUNCATE,
						.bytes = medfs_file_size(h->f),
						.detail = how },
			    ret);
}

/* "set NAME" or "remove NAME", for the journal. */
static char *xattr_text(const char *verb, const char *name)
{
	char *text = NULL;

	if (asprintf(&text, "%s %s", verb, name) < 0)
		return NULL;
	return text;
}

static int medfs_setxattr(const char *path, const char *name, const char *value,
			  size_t size, int flags)
{
	struct medfs_mount *m = mount_data();
	struct req q;
	char *how;
	int ret;

	if (access_special_xattr(path, name))
		return access_xattr_set(m->access, name, value, size);
	ret = begin(&q, "setxattr", path, MEDFS_RIGHT_SETATTR, ACCESS_ALL);
	if (ret == 0) {
		struct stat st;

		ret = req_refused(&q, mode_object(&q.c, "setxattr", path,
						  xattr_mask(name, W_OK), &st));
	}
	if (ret == 0)
		ret = fs_ret(
			medfs_vault_setxattr(m->vault, path, name, value, size, flags));
	how = xattr_text("set", name);
	ret = end(&q,
		  (struct jnl_event){ .op = MEDFS_OP_XATTR,
				      .path = path,
				      .bytes = size,
				      .detail = how },
		  ret);
	free(how);
	return ret;
}

/* Only user.* attributes hold anything (read); the others always answer
 * ENODATA, and ls -l asks for two of them per file (list). */
static int medfs_getxattr(const char *path, const char *name, char *value, size_t size)
{
	struct medfs_mount *m = mount_data();
	int user = strncmp(name, "user.", 5) == 0;
	int ret;

	if (access_special_xattr(path, name))
		return access_xattr_get(m->access, name, value, size);
	ret = may_mode("getxattr", path, user ? MEDFS_RIGHT_READ : MEDFS_RIGHT_LIST,
		       ACCESS_ALL, path, xattr_mask(name, R_OK));
	if (ret < 0)
		return ret;
	return fs_count(medfs_vault_getxattr(m->vault, path, name, value, size));
}

/* Attribute names are data too (they may name a patient): read. */
static int medfs_listxattr(const char *path, char *list, size_t size)
{
	int ret = may("listxattr", path, MEDFS_RIGHT_READ);

	if (ret < 0)
		return ret;
	return fs_count(medfs_vault_listxattr(vault(), path, list, size));
}

static int medfs_removexattr(const char *path, const char *name)
{
	struct medfs_mount *m = mount_data();
	struct req q;
	char *how;
	int ret;

	if (access_special_xattr(path, name))
		return access_xattr_remove(m->access, name);
	ret = begin(&q, "removexattr", path, MEDFS_RIGHT_SETATTR, ACCESS_ALL);
	if (ret == 0) {
		struct stat st;

		ret = req_refused(&q, mode_object(&q.c, "removexattr", path,
						  xattr_mask(name, W_OK), &st));
	}
	if (ret == 0)
		ret = fs_ret(medfs_vault_removexattr(m->vault, path, name));
	how = xattr_text("remove", name);
	ret = end(&q,
		  (struct jnl_event){ .op = MEDFS_OP_XATTR, .path = path, .detail = how },
		  ret);
	free(how);
	return ret;
}

/* A directory handle keeps the listing its first readdir made (what the
 * caller may list), and answers the following readdir calls, each from an
 * offset, out of it. */
struct dir_entry {
	char *name;
	struct stat st;
};

struct dir_list {
	struct dir_entry *v;
	size_t n, max;
	int loaded;
};

static void dir_list_clear(struct dir_list *dl)
{
	for (size_t i = 0; i < dl->n; i++)
		free(dl->v[i].name);
	dl->n = 0;
	dl->loaded = 0;
}

static int dir_list_add(struct dir_list *dl, const char *name, const struct stat *st)
{
	if (dl->n == dl->max) {
		size_t max = dl->max ? 2 * dl->max : 64;
		struct dir_entry *v = realloc(dl->v, max * sizeof(*v));

		if (!v)
			return -ENOMEM;
		dl->v = v;
		dl->max = max;
	}
	dl->v[dl->n].name = strdup(name);
	if (!dl->v[dl->n].name)
		return -ENOMEM;
	dl->v[dl->n].st = *st;
	dl->n++;
	return 0;
}

static int medfs_opendir(const char *path, struct fuse_file_info *fi)
{
	struct dir_list *dl;
	int ret = may_mode("opendir", path, MEDFS_RIGHT_LIST, ACCESS_ALL, path, R_OK);

	if (ret < 0)
		return ret;
	dl = calloc(1, sizeof(*dl));
	if (!dl)
		return -ENOMEM;
	fi->fh = (uintptr_t)dl;
	return 0;
}

struct dir_fill {
	struct dir_list *list;
	struct access *access;
	struct caller caller;
	const char *dir;
	int hide;
	unsigned emergency; /* rule line: an entry shown only by an emergency rule */
};

static int fill_entry(void *ctx, const char *name, const struct stat *st)
{
	struct dir_fill *d = ctx;

	if (d->hide) {
		/* At any length (see parent_of); out of memory: left out. */
		char *path;
		bool listed;

		if (asprintf(&path, "%s/%s", strcmp(d->dir, "/") ? d->dir : "", name) < 0)
			return 0;
		listed = access_listed(d->access, &d->caller, path, &d->emergency);
		free(path);
		if (!listed)
			return 0;
	}
	return dir_list_add(d->list, name, st) < 0;
}

/* Lists the directory into dl: entries the caller may not list are left
 * out, unless -o nohide; one listing is one access, journaled once if it
 * needed a grant. */
static int dir_load(const char *path, struct dir_list *dl)
{
	struct medfs_mount *m = mount_data();
	struct dir_fill d = { dl, m->access, { 0 }, path, 0, 0 };
	struct stat dot = { .st_mode = S_IFDIR };
	struct access_verdict v = { 0, 0, 0 };
	int ret;

	dir_list_clear(dl);
	jnl_set_path(path);
	ret = caller_get(m->access, &d.caller);
	if (ret == 0)
		ret = access_decide(m->access, &d.caller, "readdir", path,
				    MEDFS_RIGHT_LIST, ACCESS_ALL, &v);
	d.hide = !m->nohide && access_has_policy(m->access);
	if (ret == 0 &&
	    (dir_list_add(dl, ".", &dot) < 0 || dir_list_add(dl, "..", &dot) < 0))
		ret = -ENOMEM;
	if (ret == 0)
		ret = fs_ret(medfs_vault_readdir(m->vault, path, fill_entry, &d));
	if (ret == 0 && d.emergency && !v.emergency)
		access_listed_emergency(m->access, &d.caller, d.emergency);
	if (ret == 0 && (v.emergency || d.emergency))
		ret = jnl_record(
			m->journal, &d.caller,
			&(struct jnl_event){ .op = MEDFS_OP_LIST,
					     .path = path,
					     .rule = v.emergency ? v.rule : d.emergency,
					     .emergency = 1,
					     .detail = "readdir" });
	caller_put(&d.caller);
	if (ret == 0)
		dl->loaded = 1;
	return ret;
}

/* Bytes an entry takes in a readdirplus reply, and the least room a reply
 * has (the kernel asks for a page at least). */
#define DIRENTPLUS_LEN(namelen) FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET_DIRENTPLUS + (namelen))
#define READDIR_MIN_ROOM 4096

/* From offset off (the index of the next entry), as many entries as the
 * reply takes. A readdirplus reply stops at a page's worth of entries, the
 * least room the kernel gives a reply: libfuse 3.14 looks an entry up
 * before it knows whether it fits, and the lookup of one that does not is
 * never forgotten (a node kept for good per reply: the driver grew with
 * every listing). Short replies cost a round trip per 25 or so entries,
 * where entries without attributes would cost one each. */
static int medfs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
			 struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct dir_list *dl = (struct dir_list *)(uintptr_t)fi->fh;
	size_t used = 0;
	int ret;

	if (!path)
		return -ENOENT;
	if (off < 0)
		return -EINVAL;
	ret = jnl_check(mount_data()->journal);
	if (ret < 0)
		return ret;
	if (off == 0 || !dl->loaded) {
		ret = dir_load(path, dl);
		if (ret < 0)
			return ret;
	}
	for (size_t i = (size_t)off; i < dl->n; i++) {
		int plus = flags & FUSE_READDIR_PLUS;

		if (plus) {
			used += DIRENTPLUS_LEN(strlen(dl->v[i].name));
			if (used > READDIR_MIN_ROOM)
				break;
		}
		if (filler(buf, dl->v[i].name, &dl->v[i].st, (off_t)(i + 1),
			   plus ? FUSE_FILL_DIR_PLUS : 0))
			break;
	}
	return 0;
}

static int medfs_releasedir(const char *path, struct fuse_file_info *fi)
{
	struct dir_list *dl = (struct dir_list *)(uintptr_t)fi->fh;

	(void)path;
	if (dl) {
		dir_list_clear(dl);
		free(dl->v);
		free(dl);
	}
	return 0;
}

/* fsync of a directory: its vault directory and header reach the disk. */
static int medfs_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)fi;
	return fs_ret(medfs_vault_fsyncdir(vault(), path, datasync));
}

static const struct fuse_operations medfs_ops = {
	.init = medfs_init,
	.getattr = medfs_getattr,
	.access = medfs_access,
	.readlink = medfs_readlink,
	.mknod = medfs_mknod,
	.mkdir = medfs_mkdir,
	.unlink = medfs_unlink,
	.rmdir = medfs_rmdir,
	.symlink = medfs_symlink,
	.rename = medfs_rename,
	.link = medfs_link,
	.chmod = medfs_chmod,
	.chown = medfs_chown,
	.truncate = medfs_truncate,
	.utimens = medfs_utimens,
	.open = medfs_open,
	.create = medfs_create,
	.read = medfs_read,
	.write = medfs_write,
	.statfs = medfs_statfs,
	/* No flush: writes are written through, so a close has nothing to
	 * report, and without it (nor lock) libfuse answers ENOSYS once and the
	 * kernel stops sending one round trip per close(2). */
	.release = medfs_release,
	.fsync = medfs_fsync,
	.fallocate = medfs_fallocate,
	.setxattr = medfs_setxattr,
	.getxattr = medfs_getxattr,
	.listxattr = medfs_listxattr,
	.removexattr = medfs_removexattr,
	.opendir = medfs_opendir,
	.readdir = medfs_readdir,
	.releasedir = medfs_releasedir,
	.fsyncdir = medfs_fsyncdir,
};

/* Command line. */

struct options {
	char *passphrase_file;
	char *keyfile;
	char *recovery_file;
	char *policy_file;
	const char *vault;
	const char *mountpoint;
	int foreground;
	int single_thread;
	int debug;
	int help;
	int version;
	int allow_other, allow_root;
	int default_permissions;
	int has_fsname;
	int has_subtype;
	int nohide;
	int no_uring;
	int policy_only;
	char *journal_dir;
	int journal_restart, journal_sync, journal_every_read, journal_failopen;
	char *audit; /* "strict" or "default" */
	int entry_timeout_set, attr_timeout_set;
	unsigned int max_read;
	int bad_args;
};

enum {
	KEY_DEBUG,
	KEY_ALLOW_OTHER,
	KEY_ALLOW_ROOT,
	KEY_DEFAULT_PERMISSIONS,
	KEY_FSNAME,
	KEY_SUBTYPE,
	KEY_MAX_READ,
	KEY_ENTRY_TIMEOUT,
	KEY_ATTR_TIMEOUT,
};

#define MEDFS_OPT(t, member, v)                                                          \
	{                                                                                \
		t, offsetof(struct options, member), v                                   \
	}

static const struct fuse_opt medfs_opts[] = {
	MEDFS_OPT("--passphrase-file %s", passphrase_file, 0),
	MEDFS_OPT("--passphrase-file=%s", passphrase_file, 0),
	MEDFS_OPT("--keyfile %s", keyfile, 0), MEDFS_OPT("--keyfile=%s", keyfile, 0),
	MEDFS_OPT("--recovery-key-file %s", recovery_file, 0),
	MEDFS_OPT("--recovery-key-file=%s", recovery_file, 0),
	MEDFS_OPT("-f", foreground, 1), MEDFS_OPT("-s", single_thread, 1),
	MEDFS_OPT("-h", help, 1), MEDFS_OPT("--help", help, 1),
	MEDFS_OPT("-V", version, 1), MEDFS_OPT("--version", version, 1),
	MEDFS_OPT("policy=%s", policy_file, 0), MEDFS_OPT("nohide", nohide, 1),
	MEDFS_OPT("no_uring", no_uring, 1), MEDFS_OPT("policy_only", policy_only, 1),
	MEDFS_OPT("journal=%s", journal_dir, 0),
	MEDFS_OPT("journal_restart", journal_restart, 1),
	MEDFS_OPT("journal_sync", journal_sync, 1),
	MEDFS_OPT("journal_every_read", journal_every_read, 1),
	MEDFS_OPT("journal_failopen", journal_failopen, 1),
	MEDFS_OPT("audit=%s", audit, 0),
	/* Noted here, then passed on to libfuse. */
	FUSE_OPT_KEY("-d", KEY_DEBUG), FUSE_OPT_KEY("debug", KEY_DEBUG),
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	FUSE_OPT_KEY("allow_root", KEY_ALLOW_ROOT),
	FUSE_OPT_KEY("default_permissions", KEY_DEFAULT_PERMISSIONS),
	FUSE_OPT_KEY("fsname=", KEY_FSNAME), FUSE_OPT_KEY("subtype=", KEY_SUBTYPE),
	FUSE_OPT_KEY("max_read=", KEY_MAX_READ),
	FUSE_OPT_KEY("entry_timeout=", KEY_ENTRY_TIMEOUT),
	FUSE_OPT_KEY("attr_timeout=", KEY_ATTR_TIMEOUT), FUSE_OPT_END
};

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct options *o = data;

	(void)outargs;
	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (!o->vault) {
			o->vault = arg;
		} else if (!o->mountpoint) {
			o->mountpoint = arg;
		} else {
			fprintf(stderr, "medfs: unexpected argument '%s'\n", arg);
			o->bad_args = 1;
		}
		return 0;
	case KEY_DEBUG:
		o->debug = 1;
		return 1;
	case KEY_ALLOW_OTHER:
		o->allow_other = 1;
		return 1;
	case KEY_ALLOW_ROOT:
		o->allow_root = 1;
		return 1;
	case KEY_DEFAULT_PERMISSIONS:
		o->default_permissions = 1;
		return 1;
	case KEY_FSNAME:
		o->has_fsname = 1;
		return 1;
	case KEY_SUBTYPE:
		o->has_subtype = 1;
		return 1;
	case KEY_MAX_READ:
		/* Malformed values are left to libfuse to reject. */
		o->max_read = (unsigned int)strtoul(arg + strlen("max_read="), NULL, 10);
		return 1;
	case KEY_ENTRY_TIMEOUT:
		o->entry_timeout_set = 1;
		return 1;
	case KEY_ATTR_TIMEOUT:
		o->attr_timeout_set = 1;
		return 1;
	default:
		return 1; /* a FUSE option: libfuse judges it */
	}
}

static void usage(const char *prog)
{
	printf("usage: %s VAULT MOUNTPOINT [options]\n"
	       "\n"
	       "Mounts the encrypted medfs vault VAULT on MOUNTPOINT. Returns once\n"
	       "the file system is ready, or with a non-zero status and a message.\n"
	       "\n"
	       "medfs options:\n"
	       "    --passphrase-file=FILE read the passphrase from the first line of\n"
	       "                           FILE instead of asking on the terminal\n"
	       "    --keyfile=FILE         unlock with a key file slot (unattended\n"
	       "                           mounts at boot)\n"
	       "    --recovery-key-file=FILE  unlock with a recovery key, as printed\n"
	       "    -f                     stay in the foreground, log to stderr\n"
	       "    -d, -o debug           print every request (implies -f; shows\n"
	       "                           plaintext names)\n"
	       "    -s                     serve requests on a single thread\n"
	       "    -o OPT[,OPT...]        mount options (below)\n"
	       "    -o policy=FILE         decide every access with the access\n"
	       "                           policy in FILE (reloaded on SIGHUP);\n"
	       "                           without it only the mounting user gets in\n"
	       "    -o nohide              list entries the caller may not list\n"
	       "                           (they stay out of reach)\n"
	       "    -o policy_only         leave every decision to the policy (the\n"
	       "                           driver checks permission bits otherwise)\n"
	       "    -o journal=DIR         the access journal's directory (default\n"
	       "                           VAULT/journal)\n"
	       "    -o journal_sync        fdatasync every journal record but read\n"
	       "                           and write ranges before answering\n"
	       "    -o journal_every_read  one journal record per read call\n"
	       "    -o journal_restart     start a new journal chain when the\n"
	       "                           journal's STATE is lost or not this vault's\n"
	       "    -o journal_failopen    keep serving when the journal cannot be\n"
	       "                           written (not for production: accesses go\n"
	       "                           unrecorded)\n"
	       "    -o audit=strict        every read(2) reaches the driver and is\n"
	       "                           journaled (direct I/O; maps still work);\n"
	       "                           audit=default serves repeated reads from\n"
	       "                           the page cache\n"
	       "    -o no_uring            take requests from /dev/fuse only, not\n"
	       "                           over io_uring (Linux 6.14 and later)\n"
	       "    -h, --help             print this help\n"
	       "    -V, --version          print the version\n"
	       "\n"
	       "Whatever is given, medfs runs without kernel_cache, auto_cache,\n"
	       "direct_io (but with audit=strict), use_ino or write-back caching,\n"
	       "and negative_timeout=0;\n"
	       "attr_timeout is 1; entry_timeout is 1 too, except with a policy\n"
	       "on a mount other users can reach (allow_other, allow_root) or with\n"
	       "rules bound to programs: then 0, so that every lookup meets the policy.\n"
	       "allow_other needs a policy.\n"
	       "\n"
	       "FUSE options:\n",
	       prog);
}

/* libfuse's own messages, which may come a piece at a time: gathered per
 * thread into whole lines. Debug output carries plaintext names and only
 * exists with -d, where libfuse's default stderr logger is kept. While
 * mounting, the last error is held back to be reported with the mount
 * point instead. */
static int fuse_log_capturing;
static char fuse_log_last[512];
static __thread char fuse_line[512];
static __thread size_t fuse_line_len;

static void fuse_log_sink(enum fuse_log_level level, const char *fmt, va_list ap)
{
	size_t room = sizeof(fuse_line) - fuse_line_len;
	const char *msg = fuse_line;
	int n;

	if (level >= FUSE_LOG_DEBUG)
		return;
	n = vsnprintf(fuse_line + fuse_line_len, room, fmt, ap);
	if (n < 0)
		return;
	fuse_line_len += (size_t)n < room ? (size_t)n : room - 1;
	if (fuse_line_len < sizeof(fuse_line) - 1 &&
	    (fuse_line_len == 0 || fuse_line[fuse_line_len - 1] != '\n'))
		return;
	while (fuse_line_len > 0 && fuse_line[fuse_line_len - 1] == '\n')
		fuse_line[--fuse_line_len] = '\0';
	fuse_line_len = 0;

	if (fuse_log_capturing && level <= FUSE_LOG_ERR) {
		if (strncmp(msg, "fuse: ", 6) == 0)
			msg += 6;
		snprintf(fuse_log_last, sizeof(fuse_log_last), "%s", msg);
		return;
	}
	medfs_log((int)level, "%s", msg);
}

/* Start-up. Each step prints its own message and returns -1 on failure. */

/* Which secret unlocks the vault: at most one of the three options;
 * none asks for a passphrase on the terminal. */
static int pick_secret(const struct options *o, enum medfs_slot_kind *kind,
		       const char **file)
{
	int n = !!o->passphrase_file + !!o->keyfile + !!o->recovery_file;

	if (n > 1) {
		fprintf(stderr, "medfs: give one of --passphrase-file, --keyfile and "
				"--recovery-key-file\n");
		return -1;
	}
	*kind = o->keyfile	   ? MEDFS_SLOT_KEYFILE
		: o->recovery_file ? MEDFS_SLOT_RECOVERY
				   : MEDFS_SLOT_PASSPHRASE;
	*file = o->keyfile	   ? o->keyfile
		: o->recovery_file ? o->recovery_file
				   : o->passphrase_file;
	return 0;
}

/* Held for as long as the vault is mounted: key changes may run beside a
 * mount, a rotation may not. Never closed: the kernel drops it at exit. */
static int vault_lock_fd = -1;

static int lock_vault(const struct options *o, const char *vault_dir)
{
	int fd = medfs_vault_lock(vault_dir, MEDFS_LOCK_MOUNT);

	if (fd >= 0) {
		vault_lock_fd = fd;
		return 0;
	}
	if (fd == -EROFS || fd == -EACCES)
		return 0; /* a read-only vault: nothing can rotate it */
	if (fd == -EAGAIN)
		fprintf(stderr,
			"medfs: %s is locked by a running rotation: let it finish "
			"(medfs-key rotate %s)\n",
			o->vault, o->vault);
	else if (fd == -ENOENT || fd == -ENOTDIR)
		fprintf(stderr, "medfs: %s is not a medfs vault (no %s)\n", o->vault,
			MEDFS_CONFIG_NAME);
	else
		fprintf(stderr, "medfs: cannot lock %s: %s\n", o->vault, strerror(-fd));
	return -1;
}

/* What the journal needs of the vault: its auditor's public key, its id,
 * and the journal subkey (secret memory) sealing the writer's STATE. */
struct journal_keys {
	uint8_t auditor_pk[MEDFS_AUDITOR_PK_LEN];
	uint8_t vault_id[MEDFS_VAULT_ID_LEN];
	uint8_t *state_key;
	char unlocked_with[48]; /* "slot N (KIND)" */
};

static const char *slot_kind_name(enum medfs_slot_kind kind)
{
	switch (kind) {
	case MEDFS_SLOT_PASSPHRASE:
		return "passphrase";
	case MEDFS_SLOT_KEYFILE:
		return "keyfile";
	case MEDFS_SLOT_RECOVERY:
		return "recovery key";
	default:
		return "?";
	}
}

/* A wrong secret is journaled through the spool: the next mount (or the
 * one running) appends it. */
static void spool_unlock_failed(const char *vault_dir, enum medfs_slot_kind kind)
{
	char detail[96];
	int ret;

	snprintf(detail, sizeof(detail), "medfs mount: wrong %s (no %s slot opens)",
		 slot_kind_name(kind), slot_kind_name(kind));
	ret = medfs_journal_spool_tool(vault_dir, MEDFS_OP_UNLOCK_FAILED, detail);
	if (ret < 0)
		fprintf(stderr, "medfs: cannot journal the failed attempt: %s\n",
			strerror(-ret));
}

/* Passphrase -> vault key -> open vault, and the journal's keys; no
 * other secret outlives this call. A vault without an auditor key is
 * refused: its accesses could not be journaled. */
static int unlock_vault(const struct options *o, const char *vault_dir,
			struct medfs_vault **out, struct journal_keys *jk)
{
	struct medfs_config config;
	enum medfs_slot_kind kind;
	const char *secret_file;
	uint8_t *key = NULL;
	char why[512];
	int used_backup = 0, slot;
	int ret = -1;
	int err;

	if (pick_secret(o, &kind, &secret_file) < 0 || lock_vault(o, vault_dir) < 0)
		goto out;
	key = medfs_secret_alloc(MEDFS_KEY_LEN);
	if (!key) {
		fprintf(stderr, "medfs: cannot allocate locked memory for the key\n");
		goto out;
	}
	err = medfs_unlock(vault_dir, kind, secret_file, &config, key, &slot,
			   &used_backup, why, sizeof(why));
	if (err < 0) {
		fprintf(stderr, "medfs: %s\n", why);
		if (err == -EKEYREJECTED)
			spool_unlock_failed(vault_dir, kind);
		goto out;
	}
	snprintf(jk->unlocked_with, sizeof(jk->unlocked_with), "slot %d (%s)", slot,
		 slot_kind_name(kind));
	if (used_backup)
		fprintf(stderr, "medfs: warning: %s\n", why);
	if (!config.has_auditor) {
		fprintf(stderr,
			"medfs: %s has no auditor key: create one with "
			"'medfs-journal keygen --out PREFIX' and record it with "
			"'medfs-key set-auditor %s PREFIX.pub'\n",
			o->vault, o->vault);
		goto out;
	}
	memcpy(jk->auditor_pk, config.auditor_pk, sizeof(jk->auditor_pk));
	memcpy(jk->vault_id, config.vault_id, sizeof(jk->vault_id));
	jk->state_key = medfs_secret_alloc(MEDFS_KEY_LEN);
	if (!jk->state_key ||
	    medfs_subkey_derive(jk->state_key, MEDFS_SUBKEY_JOURNAL, key) < 0) {
		fprintf(stderr, "medfs: cannot derive the journal key\n");
		goto out;
	}

	/* The config unlock just read and authenticated says the cipher. */
	err = medfs_vault_open_cipher(out, vault_dir, key, config.cipher);
	if (err == -EBADMSG)
		fprintf(stderr,
			"medfs: cannot open vault %s: its root directory "
			"fails authentication\n",
			o->vault);
	else if (err < 0)
		fprintf(stderr, "medfs: cannot open vault %s: %s\n", o->vault,
			strerror(-err));
	if (err == 0)
		ret = 0;
out:
	medfs_secret_free(key);
	return ret;
}

/* Checks that need no secret, done before asking for the passphrase. */
/* The absolute path of path as the kernel lists mount points: its parent
 * resolved, its last component as given (a dead mount point cannot be
 * resolved itself). Returns 0 or -1. */
static int mount_path(const char *path, char *out, size_t outsz)
{
	char dir[PATH_MAX], *slash, *parent;
	const char *base;
	size_t n = strlen(path);
	int r;

	while (n > 1 && path[n - 1] == '/')
		n--;
	if (n >= sizeof(dir))
		return -1;
	memcpy(dir, path, n);
	dir[n] = '\0';
	slash = strrchr(dir, '/');
	if (!slash) {
		base = dir;
		parent = realpath(".", NULL);
	} else {
		*slash = '\0';
		base = slash + 1;
		parent = realpath(slash == dir ? "/" : dir, NULL);
	}
	if (!parent)
		return -1;
	r = snprintf(out, outsz, "%s/%s", strcmp(parent, "/") ? parent : "", base);
	free(parent);
	return r < 0 || (size_t)r >= outsz ? -1 : 0;
}

/* A medfs whose driver was killed leaves its mount behind, and every
 * access to it fails with ENOTCONN. When that mount is a medfs's, detach
 * it so that this mount can take its place (nothing of the vault is lost:
 * the dead driver held only what it had not yet written, which its
 * journal recovery seals); otherwise say what to run. */
static void clear_dead_mount(const char *mountpoint)
{
	char abs[PATH_MAX], fstype[64], *text = NULL;
	size_t len = 0;
	struct stat st;
	FILE *f;

	if (stat(mountpoint, &st) == 0 || errno != ENOTCONN)
		return;
	if (mount_path(mountpoint, abs, sizeof(abs)) < 0)
		return;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return;
	if (getdelim(&text, &len, '\0', f) < 0) {
		free(text);
		text = NULL;
	}
	fclose(f);
	if (text && medfs_mountinfo_find(text, abs, fstype, sizeof(fstype)) == 0 &&
	    strcmp(fstype, "fuse.medfs") == 0) {
		if (umount2(abs, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
			fprintf(stderr,
				"medfs: %s: took off the mount of a medfs that had "
				"stopped (its driver was killed)\n",
				mountpoint);
		else
			fprintf(stderr,
				"medfs: %s: a medfs that stopped is still mounted there "
				"(%s); run 'fusermount3 -u -z %s'\n",
				mountpoint, strerror(errno), mountpoint);
	}
	free(text);
}

static int check_paths(const struct options *o, char **vault_dir, char **mountpoint)
{
	struct stat st;
	char *conf = NULL, *bak = NULL;
	int ret = -1;

	*vault_dir = realpath(o->vault, NULL);
	if (!*vault_dir) {
		if (errno == ENOENT || errno == ENOTDIR)
			fprintf(stderr, "medfs: %s is not a medfs vault (no %s)\n",
				o->vault, MEDFS_CONFIG_NAME);
		else
			fprintf(stderr, "medfs: %s: %s\n", o->vault, strerror(errno));
		goto out;
	}
	if (asprintf(&conf, "%s/%s", *vault_dir, MEDFS_CONFIG_NAME) < 0 ||
	    asprintf(&bak, "%s/%s", *vault_dir, MEDFS_CONFIG_BACKUP_NAME) < 0) {
		conf = bak = NULL;
		fprintf(stderr, "medfs: out of memory\n");
		goto out;
	}
	if (stat(conf, &st) != 0 && stat(bak, &st) != 0) {
		fprintf(stderr, "medfs: %s is not a medfs vault (no %s)\n", o->vault,
			MEDFS_CONFIG_NAME);
		goto out;
	}

	clear_dead_mount(o->mountpoint);
	*mountpoint = realpath(o->mountpoint, NULL);
	if (!*mountpoint || stat(*mountpoint, &st) != 0) {
		fprintf(stderr, "medfs: cannot mount on %s: %s\n", o->mountpoint,
			strerror(errno));
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "medfs: cannot mount on %s: %s\n", o->mountpoint,
			strerror(ENOTDIR));
		goto out;
	}
	ret = 0;
out:
	free(conf);
	free(bak);
	return ret;
}

/* Mount options medfs adds to the user's. */
static int add_mount_options(const struct options *o, const char *vault_dir,
			     struct fuse_args *args)
{
	char *fsname = NULL, *mo = NULL, max_read[32];
	int ret = -1;

	if (!o->has_fsname) {
		if (asprintf(&fsname, "fsname=%s", vault_dir) < 0) {
			fsname = NULL;
			goto out;
		}
		if (fuse_opt_add_opt_escaped(&mo, fsname) < 0)
			goto out;
	}
	if (!o->has_subtype && fuse_opt_add_opt(&mo, "subtype=medfs") < 0)
		goto out;
	snprintf(max_read, sizeof(max_read), "max_read=%u", MEDFS_MAX_READ);
	if (!o->max_read && fuse_opt_add_opt(&mo, max_read) < 0)
		goto out;
	/* Owners and modes mean what they say, but the driver checks them
	 * (see "Permission bits"), not the kernel: default_permissions would
	 * refuse before medfs could journal the refusal. */
	if (mo && (fuse_opt_add_arg(args, "-o") < 0 || fuse_opt_add_arg(args, mo) < 0))
		goto out;
	ret = 0;
out:
	if (ret < 0)
		fprintf(stderr, "medfs: out of memory\n");
	free(fsname);
	free(mo);
	return ret;
}

/* The parent in background mode: waits for the child's status byte. */
static int wait_for_child(pid_t pid, int fd)
{
	unsigned char status = 1;
	ssize_t n;

	do {
		n = read(fd, &status, 1);
	} while (n < 0 && errno == EINTR);
	close(fd);
	if (n == 1 && status == 0)
		return 0;
	/* The child printed why and is exiting. */
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return 1;
}

static int serve(struct fuse *f, const struct options *o)
{
	struct fuse_loop_config *cfg;
	int ret;

	if (o->single_thread)
		return fuse_loop(f);
	cfg = fuse_loop_cfg_create(); /* NULL still means the defaults */
	if (cfg) {
		fuse_loop_cfg_set_clone_fd(cfg, 0);
		fuse_loop_cfg_set_idle_threads(cfg, 10);
	}
	ret = fuse_loop_mt(f, cfg);
	if (cfg)
		fuse_loop_cfg_destroy(cfg);
	return ret;
}

static char *absolute_path(const char *path);

/* Opens the journal (VAULT/journal unless -o journal=DIR) and hooks it to
 * the vault's integrity failures and to the access policy. */
static int open_journal(const struct options *o, const char *vault_dir,
			const char *mountpoint, struct medfs_mount *m,
			const struct journal_keys *jk)
{
	struct jnl_options jo = {
		.auditor_pk = jk->auditor_pk,
		.vault_id = jk->vault_id,
		.state_key = jk->state_key,
		.vault = m->vault,
		.restart = o->journal_restart,
		.sync = o->journal_sync,
		.every_read = o->journal_every_read,
		.failopen = o->journal_failopen,
		.foreground = o->foreground,
	};
	size_t mlen = strlen(mountpoint);
	char *dir = NULL, *spool = NULL;
	int ret = -1;

	if (asprintf(&spool, "%s/%s", vault_dir, MEDFS_JOURNAL_SPOOL_NAME) < 0)
		spool = NULL;
	jo.spool_dir = spool;
	if (o->journal_dir)
		dir = absolute_path(o->journal_dir);
	else if (asprintf(&dir, "%s/journal", vault_dir) < 0)
		dir = NULL;
	if (!dir) {
		fprintf(stderr, "medfs: out of memory\n");
		return -1;
	}
	/* Written through the mount it journals, it would wait on itself. */
	if (strncmp(dir, mountpoint, mlen) == 0 && (dir[mlen] == '/' || !dir[mlen])) {
		fprintf(stderr,
			"medfs: the journal %s cannot be inside the mount point\n", dir);
		goto out;
	}
	jo.dir = dir;
	if (jnl_open(&m->journal, &jo) < 0)
		goto out;
	medfs_vault_set_integrity_hook(m->vault, jnl_integrity, m->journal);
	access_set_journal(m->access, m->journal);
	ret = 0;
out:
	free(spool);
	free(dir);
	return ret;
}

/* The options the MOUNT record shows: libfuse's, then medfs's own. */
static char *options_text(const struct options *o, const struct fuse_args *args)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	for (int i = 1; i < args->argc; i++)
		fprintf(f, "%s%s", i > 1 ? " " : "", args->argv[i]);
	if (o->policy_file)
		fprintf(f, " policy=%s", o->policy_file);
	if (o->journal_dir)
		fprintf(f, " journal=%s", o->journal_dir);
	if (o->audit)
		fprintf(f, " audit=%s", o->audit);
	fprintf(f, "%s%s%s%s%s%s%s%s", o->nohide ? " nohide" : "",
		o->no_uring ? " no_uring" : "", o->policy_only ? " policy_only" : "",
		o->single_thread ? " -s" : "", o->journal_sync ? " journal_sync" : "",
		o->journal_every_read ? " journal_every_read" : "",
		o->journal_restart ? " journal_restart" : "",
		o->journal_failopen ? " journal_failopen" : "");
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* Whether, under policy, the kernel may keep names for a second as it does
 * without one. It may when a single identity asks: without allow_other or
 * allow_root the kernel turns every other user away, and without rules
 * bound to programs the policy tells that user's processes the same thing
 * (short of one that changed its groups since). Otherwise a name one caller
 * looked up would answer another's stat without asking the policy. */
static int may_cache_names(const struct options *o, const struct medfs_policy *policy)
{
	if (o->entry_timeout_set || o->allow_other || o->allow_root)
		return 0;
	return !medfs_policy_names_program(policy);
}

/* Everything after the paths are checked, in the process that will serve
 * the mount. status_fd (background only, else -1) gets one byte, 0, from
 * init() once the kernel has accepted the mount. Returns the exit status. */
static int run(const struct options *o, struct fuse_args *args, const char *vault_dir,
	       const char *mountpoint, int status_fd, const char *policy_path,
	       struct medfs_policy *policy)
{
	struct medfs_mount mnt = {
		.vault_dir = vault_dir,
		.mountpoint = mountpoint,
		.own_as_caller = geteuid() == 0,
		.nohide = o->nohide,
		.policy_only = o->policy_only,
		.entry_timeout_set = o->entry_timeout_set,
		.attr_timeout_set = o->attr_timeout_set,
		.cache_names = policy && may_cache_names(o, policy),
		.max_read = o->max_read ? o->max_read : MEDFS_MAX_READ,
		.ready_fd = status_fd,
		.audit_strict = o->audit && strcmp(o->audit, "strict") == 0,
		.lock = PTHREAD_MUTEX_INITIALIZER,
	};
	const struct access_options ao = {
		.policy_path = policy_path,
		.policy = policy,
		.owner = getuid(),
		.foreground = o->foreground,
		.names_cached = policy && may_cache_names(o, policy),
	};
	struct journal_keys jk = { .state_key = NULL };
	struct jnl_mount jm = {
		.vault_dir = vault_dir,
		.mountpoint = mountpoint,
		.policy_path = policy_path,
		.owner = getuid(),
	};
	uint8_t digest[32];
	char *options = NULL;
	struct fuse_session *se;
	struct fuse *f = NULL;
	int mounted = 0, handlers = 0;
	bool with_uring;
	int ret = 1;
	int err;

	if (policy) {
		medfs_policy_digest(policy, digest);
		jm.policy_digest = digest;
	}
	openlog("medfs", LOG_PID, LOG_DAEMON);
	err = medfs_crypto_init();
	if (err < 0) {
		fprintf(stderr, "medfs: cannot start libsodium\n");
		if (policy)
			medfs_policy_free(policy);
		goto out;
	}
	err = access_new(&mnt.access, &ao);
	if (err < 0) {
		fprintf(stderr, "medfs: out of memory\n");
		goto out;
	}
	/* Two malloc arenas, not one per thread that allocates (up to 8 a
	 * CPU): what a request frees is taken again by the next, whichever
	 * thread answers it. Eight rounds of ingest, series read, small
	 * files and 1,000 files held open: RSS levels off at 23 MiB instead
	 * of 34, with no change in speed beyond the noise. */
	mallopt(M_ARENA_MAX, 2);
	err = medfs_disable_core_dumps();
	if (err < 0) {
		fprintf(stderr, "medfs: cannot disable core dumps: %s\n", strerror(-err));
		goto out;
	}
	err = unlock_vault(o, vault_dir, &mnt.vault, &jk);
	if (err == 0)
		err = open_journal(o, vault_dir, mountpoint, &mnt, &jk);
	medfs_secret_free(jk.state_key);
	if (err < 0 || settler_begin(mnt.vault, vault_dir) < 0)
		goto out;
	options = options_text(o, args);
	if (!options) {
		fprintf(stderr, "medfs: out of memory\n");
		goto out;
	}
	jm.options = options;
	jm.unlocked_with = jk.unlocked_with;

	if (!o->debug)
		fuse_set_log_func(fuse_log_sink);
	f = fuse_new(args, &medfs_ops, sizeof(medfs_ops), &mnt);
	if (!f)
		goto out; /* libfuse said why */
	mnt.fuse = f;
	access_set_grant_end(mnt.access, grant_ended, &mnt);
	/* The kernel offers io_uring in the INIT it sends while mounting. */
	with_uring = !o->single_thread && !o->no_uring && uring_enabled();
	fuse_log_capturing = 1;
	fuse_log_last[0] = '\0';
	err = fuse_mount(f, mountpoint);
	fuse_log_capturing = 0;
	if (err != 0) {
		fprintf(stderr, "medfs: cannot mount on %s%s%s\n", o->mountpoint,
			fuse_log_last[0] ? ": " : "", fuse_log_last);
		goto out;
	}
	if (fuse_log_last[0])
		medfs_log(LOG_WARNING, "%s", fuse_log_last);
	mounted = 1;
	err = jnl_start(mnt.journal, &jm);
	if (err < 0) {
		fprintf(stderr, "medfs: cannot write the journal: %s\n", strerror(-err));
		goto out;
	}
	se = fuse_get_session(f);
	session_io_allow_mmap(mnt.audit_strict);
	err = session_io_install(se, with_uring);
	if (err < 0)
		medfs_log(LOG_WARNING,
			  "requests stay on /dev/fuse, and every write will cost "
			  "a GETXATTR: %s",
			  strerror(-err));
	if (fuse_set_signal_handlers(se) != 0) {
		fprintf(stderr, "medfs: cannot install signal handlers\n");
		goto out;
	}
	handlers = 1;
	settler_start();
	err = access_start(mnt.access);
	if (err < 0) {
		fprintf(stderr, "medfs: cannot set up policy reloads: %s\n",
			strerror(-err));
		goto out;
	}

	err = serve(f, o);
	if (mnt.ready_fd >= 0) {
		/* INIT never got to init(): libfuse or the kernel refused. */
		fprintf(stderr,
			"medfs: cannot mount on %s: the FUSE session "
			"did not start\n",
			o->mountpoint);
		goto out;
	}
	/* A positive result is the signal that ended the loop. */
	if (err < 0)
		medfs_log(LOG_ERR, "the FUSE loop failed: %s", strerror(-err));
	else
		ret = 0;
	medfs_log(LOG_INFO, "vault %s unmounted from %s", vault_dir, mountpoint);
out:
	if (mnt.access)
		access_stop(mnt.access);
	if (handlers)
		fuse_remove_signal_handlers(fuse_get_session(f));
	if (mounted)
		fuse_unmount(f);
	session_io_stop();
	if (f)
		fuse_destroy(f);
	while (mnt.hidden) {
		struct hidden *h = mnt.hidden;

		mnt.hidden = h->next;
		hidden_free(h);
	}
	/* Releases an unmount overtook: the journal flushes their ranges. */
	for (size_t i = 0; i < mnt.n_open; i++) {
		medfs_file_release(mnt.open[i]->f);
		free(mnt.open[i]);
	}
	free(mnt.open);
	settler_end();
	if (mnt.access)
		access_set_journal(mnt.access, NULL);
	jnl_close(mnt.journal);
	if (mnt.vault)
		medfs_vault_close(mnt.vault);
	access_free(mnt.access);
	free(options);
	return ret;
}

/* The policy file named for reloads, which happen after the daemon left
 * its working directory: absolute, but symlinks kept so that a new file
 * can be put in place through them. */
static char *absolute_path(const char *path)
{
	char *cwd, *abs = NULL;

	if (path[0] == '/')
		return strdup(path);
	cwd = getcwd(NULL, 0);
	if (cwd && asprintf(&abs, "%s/%s", cwd, path) < 0)
		abs = NULL;
	free(cwd);
	return abs;
}

/* Reads the policy before any passphrase is asked for. */
static int load_policy(const struct options *o, char **path, struct medfs_policy **policy)
{
	if (!o->policy_file) {
		if (!o->allow_other)
			return 0;
		fprintf(stderr, "medfs: allow_other needs an access policy "
				"(-o policy=FILE)\n");
		return -1;
	}
	*path = absolute_path(o->policy_file);
	if (!*path) {
		fprintf(stderr, "medfs: %s: %s\n", o->policy_file, strerror(errno));
		return -1;
	}
	return access_load_policy(*path, o->policy_file, getuid(), policy);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct options o = { 0 };
	char *vault_dir = NULL, *mountpoint = NULL, *policy_path = NULL;
	struct medfs_policy *policy = NULL;
	int status_fd = -1;
	int ret = 1;

	if (fuse_opt_parse(&args, &o, medfs_opts, opt_proc) != 0)
		goto out;
	if (o.help) {
		usage(argv[0]);
		fuse_lib_help(&args);
		ret = 0;
		goto out;
	}
	if (o.version) {
		printf("medfs version %s\n", MEDFS_VERSION);
		printf("FUSE library version %s\n", fuse_pkgversion());
		fuse_lowlevel_version();
		ret = 0;
		goto out;
	}
	if (o.bad_args || !o.vault || !o.mountpoint) {
		fprintf(stderr, "usage: medfs VAULT MOUNTPOINT [--passphrase-file FILE] "
				"[-f] [-d] [-s] [-o OPTIONS]\n"
				"       medfs --help for more\n");
		goto out;
	}
	if (o.debug)
		o.foreground = 1;
	if (o.audit && strcmp(o.audit, "strict") != 0 &&
	    strcmp(o.audit, "default") != 0) {
		fprintf(stderr, "medfs: -o audit= takes strict or default\n");
		goto out;
	}

	if (load_policy(&o, &policy_path, &policy) < 0 ||
	    check_paths(&o, &vault_dir, &mountpoint) < 0 ||
	    add_mount_options(&o, vault_dir, &args) < 0)
		goto out;

	/* Fork before anything secret exists: mlock does not survive a fork,
	 * and the child must hold the key. The parent only reports. */
	if (!o.foreground) {
		int fds[2];
		pid_t pid;

		if (pipe2(fds, O_CLOEXEC) != 0) {
			fprintf(stderr, "medfs: pipe: %s\n", strerror(errno));
			goto out;
		}
		fflush(NULL);
		pid = fork();
		if (pid < 0) {
			fprintf(stderr, "medfs: fork: %s\n", strerror(errno));
			close(fds[0]);
			close(fds[1]);
			goto out;
		}
		if (pid > 0) {
			close(fds[1]);
			ret = wait_for_child(pid, fds[0]);
			goto out;
		}
		close(fds[0]);
		status_fd = fds[1];
	}
	/* run() takes the policy over. */
	ret = run(&o, &args, vault_dir, mountpoint, status_fd, policy_path, policy);
	policy = NULL;
out:
	if (policy)
		medfs_policy_free(policy);
	free(policy_path);
	free(vault_dir);
	free(mountpoint);
	free(o.policy_file);
	free(o.journal_dir);
	free(o.audit);
	free(o.passphrase_file);
	free(o.keyfile);
	free(o.recovery_file);
	fuse_opt_free_args(&args);
	return ret;
}
