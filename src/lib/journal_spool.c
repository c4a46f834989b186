/* medfs: the journal spool, where the tools leave their records for the
 * next writer (medfs/journal.h; format in doc/JOURNAL.md, 14.3).
 *
 * A spool file is "MDJSPOL1" || the record's TLV body, named
 * "rec-<time µs, 20 digits>-<8 hex digits>" so that a sorted listing is
 * the order of the records. It is written as ".tmp-..." and renamed, so a
 * reader never sees half of one. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "journal_int.h"
#include "medfs/journal.h"
#include "medfs/journal_export.h"
#include "medfs/log.h"

#define SPOOL_MAGIC "MDJSPOL1"
#define SPOOL_PREFIX "rec-"
#define SPOOL_NAME_LEN 40
#define SPOOL_BATCH 256 /* files taken per ingest call */

static int spool_op_ok(uint32_t op)
{
	return op == MEDFS_OP_UNLOCK_FAILED || op == MEDFS_OP_KEY_CHANGE ||
	       op == MEDFS_OP_REPAIR;
}

int medfs_journal_spool(const char *spool_dir, const struct medfs_journal_record *r)
{
	struct medfs_journal_record rec = *r;
	char tmp[SPOOL_NAME_LEN + 8], name[SPOOL_NAME_LEN];
	uint8_t *buf;
	size_t len;
	int dfd, fd = -1, ret;

	if (!spool_op_ok(r->op))
		return -EINVAL;
	if (rec.time_us == 0)
		rec.time_us = jr_now_us();
	ret = medfs_journal_record_encode(&rec, NULL, 0, &len);
	if (ret != -ENOBUFS)
		return ret < 0 ? ret : -EINVAL;
	if (len > MEDFS_JOURNAL_SPOOL_MAX)
		return -EINVAL;
	buf = malloc(MAGIC_LEN + len);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, SPOOL_MAGIC, MAGIC_LEN);
	ret = medfs_journal_record_encode(&rec, buf + MAGIC_LEN, len, &len);
	if (ret < 0)
		goto out_free;
	if (mkdir(spool_dir, 0700) < 0 && errno != EEXIST) {
		ret = -errno;
		goto out_free;
	}
	dfd = open(spool_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		ret = -errno;
		goto out_free;
	}
	snprintf(name, sizeof(name), SPOOL_PREFIX "%020" PRIu64 "-%08" PRIx32,
		 rec.time_us, randombytes_random());
	snprintf(tmp, sizeof(tmp), ".tmp-%s", name);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	ret = jr_write_all(fd, buf, MAGIC_LEN + len);
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	close(fd);
	if (ret == 0 && renameat(dfd, tmp, dfd, name) < 0)
		ret = -errno;
	if (ret < 0)
		unlinkat(dfd, tmp, 0);
	else if (fsync(dfd) < 0)
		ret = -errno;
out:
	close(dfd);
out_free:
	sodium_memzero(buf, MAGIC_LEN + len);
	free(buf);
	return ret;
}

int medfs_journal_spool_tool(const char *vault_dir, uint32_t op, const char *detail)
{
	struct medfs_journal_record r = { 0 };
	char spool[PATH_MAX], exe[PATH_MAX], real[PATH_MAX], user[256] = "";
	char pwbuf[4096], luid[32];
	char text[1024];
	struct passwd pw, *res = NULL;
	unsigned long login = (unsigned long)-1;
	ssize_t n;
	FILE *f;

	if (snprintf(spool, sizeof(spool), "%s/%s", vault_dir,
		     MEDFS_JOURNAL_SPOOL_NAME) >= (int)sizeof(spool))
		return -ENAMETOOLONG;
	r.op = op;
	r.uid = (uint32_t)getuid();
	r.gid = (uint32_t)getgid();
	r.pid = (int32_t)getpid();
	r.offset = -1;
	r.path = realpath(vault_dir, real) ? real : vault_dir;
	if (getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res)
		snprintf(user, sizeof(user), "%s", pw.pw_name);
	r.user = user[0] ? user : NULL;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	r.program = n > 0 ? exe : NULL;
	/* Who logged in, under sudo or su: the kernel's audit login uid. */
	f = fopen("/proc/self/loginuid", "re");
	if (f) {
		if (fgets(luid, sizeof(luid), f))
			login = strtoul(luid, NULL, 10);
		fclose(f);
	}
	if (login != (unsigned long)-1 && login != 4294967295UL && login != r.uid) {
		snprintf(text, sizeof(text), "%s; login uid %lu", detail, login);
		r.detail = text;
	} else {
		r.detail = detail;
	}
	return medfs_journal_spool(spool, &r);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads spool file name into *buf (magic checked, removed). Returns the
 * body's length, or -EBADMSG for a file that is not a spooled record,
 * -errno to retry. */
static ssize_t spool_read(int dfd, const char *name, uint8_t **buf)
{
	struct stat st;
	ssize_t ret;
	int fd;

	*buf = NULL;
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP ? -EBADMSG : -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	ret = -EBADMSG;
	if (!S_ISREG(st.st_mode) || st.st_size <= MAGIC_LEN ||
	    st.st_size > MAGIC_LEN + MEDFS_JOURNAL_SPOOL_MAX)
		goto out;
	*buf = malloc((size_t)st.st_size);
	if (!*buf) {
		ret = -ENOMEM;
		goto out;
	}
	ret = jr_pread_all(fd, *buf, (size_t)st.st_size, 0);
	if (ret < 0)
		goto out;
	ret = -EBADMSG;
	if (memcmp(*buf, SPOOL_MAGIC, MAGIC_LEN) != 0)
		goto out;
	memmove(*buf, *buf + MAGIC_LEN, (size_t)st.st_size - MAGIC_LEN);
	ret = (ssize_t)st.st_size - MAGIC_LEN;
out:
	close(fd);
	if (ret < 0) {
		free(*buf);
		*buf = NULL;
	}
	return ret;
}

/* Appends the record in spool file name, or an integrity record when it
 * is not one. Returns 0 (the file may go) or -errno (it stays). */
static int ingest_one(struct medfs_journal_writer *w, int dfd, const char *name)
{
	struct medfs_journal_record_buf rb = MEDFS_JOURNAL_RECORD_BUF_INIT;
	struct medfs_journal_record bad = { 0 };
	char detail[128];
	uint8_t *body;
	ssize_t len = spool_read(dfd, name, &body);
	int ret;

	if (len < 0 && len != -EBADMSG)
		return (int)len;
	if (len > 0 && medfs_journal_record_decode(body, (size_t)len, &rb) == 0 &&
	    spool_op_ok(rb.rec.op)) {
		/* The journal's times never go back: the record is dated when
		 * appended, and says when the tool made it. */
		char when[MEDFS_EXPORT_TIME_LEN], *text = NULL;
		struct medfs_journal_record rec = rb.rec;

		medfs_export_format_time(when, rb.rec.time_us);
		if (asprintf(&text, "%s; at %s", rec.detail ? rec.detail : "", when) <
		    0) {
			ret = -ENOMEM;
		} else {
			rec.time_us = 0;
			rec.detail = text;
			ret = medfs_journal_append(w, &rec, 1);
			free(text);
		}
	} else {
		snprintf(detail, sizeof(detail),
			 "journal spool: %s is not a tool's record; removed", name);
		medfs_log(LOG_WARNING, "%s", detail);
		bad.op = MEDFS_OP_INTEGRITY;
		bad.result = EBADMSG;
		bad.offset = -1;
		bad.detail = detail;
		ret = medfs_journal_append(w, &bad, 1);
	}
	medfs_journal_record_buf_free(&rb);
	if (body) {
		sodium_memzero(body, (size_t)len);
		free(body);
	}
	return ret;
}

int medfs_journal_ingest(struct medfs_journal_writer *w, const char *spool_dir)
{
	char *names[SPOOL_BATCH];
	struct dirent *de;
	size_t n = 0;
	int dfd, ret = 0, count = 0;
	DIR *d;

	dfd = open(spool_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 0 : -errno;
	d = fdopendir(dup(dfd));
	if (!d) {
		ret = -errno;
		close(dfd);
		return ret;
	}
	while (n < SPOOL_BATCH && (de = readdir(d))) {
		if (strncmp(de->d_name, SPOOL_PREFIX, strlen(SPOOL_PREFIX)) != 0)
			continue;
		names[n] = strdup(de->d_name);
		if (!names[n])
			break;
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_name);
	for (size_t i = 0; i < n; i++) {
		if (ret == 0) {
			ret = ingest_one(w, dfd, names[i]);
			if (ret == 0) {
				unlinkat(dfd, names[i], 0);
				count++;
			}
		}
		free(names[i]);
	}
	close(dfd);
	return ret < 0 ? ret : count;
}
