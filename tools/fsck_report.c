/* medfs-fsck: problems as they are found, the integrity hook's reports
 * kept until the walk knows their plaintext path, and the progress line. */
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

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Takes the progress line off the terminal before anything else is
 * printed. */
void progress_clear(struct fsck *k)
{
	if (!k->progress_shown)
		return;
	fprintf(stderr, "\r\033[K");
	k->progress_shown = false;
}

/* On a terminal, once the walk has taken a second: "N objects checked". */
void progress(struct fsck *k)
{
	uint64_t t;

	if (!k->tty)
		return;
	t = now_ns();
	if (t - k->started_ns < PROGRESS_AFTER_NS ||
	    t - k->progress_ns < PROGRESS_EVERY_NS)
		return;
	k->progress_ns = t;
	fprintf(stderr, "\rmedfs-fsck: %lu objects checked, %lu problems", k->objects,
		k->problems);
	k->progress_shown = true;
}

void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 16;
	void *q;

	if (need <= *cap)
		return p;
	while (n < need)
		n *= 2;
	q = realloc(p, n * elem);
	if (q)
		*cap = n;
	return q;
}

/* Vault paths as "tree/...", whatever form the library hands them in. */
static char *vault_rel(const struct fsck *k, const char *p)
{
	size_t vl = strlen(k->vault_dir);
	char *out;

	if (!p)
		return NULL;
	if (strncmp(p, k->vault_dir, vl) == 0 && p[vl] == '/')
		p += vl + 1;
	while (*p == '/')
		p++;
	if (strncmp(p, MEDFS_TREE_NAME "/", sizeof(MEDFS_TREE_NAME)) == 0 ||
	    strcmp(p, MEDFS_TREE_NAME) == 0 || strcmp(p, MEDFS_CONFIG_NAME) == 0 ||
	    strcmp(p, MEDFS_CONFIG_BACKUP_NAME) == 0)
		return strdup(p);
	if (asprintf(&out, "%s%s%s", MEDFS_TREE_NAME, *p ? "/" : "", p) < 0)
		return NULL;
	return out;
}

bool was_reported(const struct fsck *k, const char *vpath)
{
	for (size_t i = 0; i < k->n_reported; i++)
		if (strcmp(k->reported[i], vpath) == 0)
			return true;
	return false;
}

void remember(struct fsck *k, const char *vpath)
{
	char **r;

	if (!vpath || was_reported(k, vpath))
		return;
	r = grow(k->reported, &k->cap_reported, k->n_reported + 1, sizeof(*r));
	if (!r) {
		k->oom = true;
		return;
	}
	k->reported = r;
	r[k->n_reported] = strdup(vpath);
	if (!r[k->n_reported]) {
		k->oom = true;
		return;
	}
	k->n_reported++;
}

/* Prints one problem: "medfs-fsck: /plain: what at offset N (vault file V,
 * offset M)", or "medfs-fsck: vault file V: what at offset M" when no
 * plaintext path is known. Offsets below zero are left out. */

void put_path(FILE *f, const char *path)
{
	for (const unsigned char *c = (const unsigned char *)path; *c; c++) {
		if (*c < 0x20 || *c == 0x7f || *c == '\\')
			fprintf(f, "\\%03o", *c);
		else
			fputc(*c, f);
	}
}

void problem(struct fsck *k, const char *plain, int64_t plain_off, const char *vpath,
	     int64_t vault_off, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);

	progress_clear(k);
	if (plain) {
		fputs("medfs-fsck: ", stdout);
		put_path(stdout, plain);
		printf(": %s", what);
		if (plain_off >= 0)
			printf(" at offset %" PRId64, plain_off);
		if (vpath) {
			printf(" (vault file %s", vpath);
			if (vault_off >= 0)
				printf(", offset %" PRId64, vault_off);
			printf(")");
		}
	} else {
		printf("medfs-fsck: vault file %s: %s", vpath ? vpath : "?", what);
		if (vault_off >= 0)
			printf(" at offset %" PRId64, vault_off);
	}
	printf("\n");
	fflush(stdout);
	k->problems++;
	remember(k, vpath);
}

void integrity_hook(void *ctx, const char *vault_path, const char *plain_path,
		    int64_t offset, const char *what)
{
	struct fsck *k = ctx;
	struct event *e;

	e = grow(k->events, &k->cap_events, k->n_events + 1, sizeof(*e));
	if (!e) {
		k->oom = true;
		return;
	}
	k->events = e;
	e += k->n_events;
	e->vault_path = vault_rel(k, vault_path);
	e->plain_path = plain_path ? strdup(plain_path) : NULL;
	e->offset = offset;
	e->what = strdup(what ? what : "integrity failure");
	if (!e->what || (vault_path && !e->vault_path) ||
	    (plain_path && !e->plain_path)) {
		free(e->vault_path);
		free(e->plain_path);
		free(e->what);
		k->oom = true;
		return;
	}
	k->n_events++;
}

void drop_events(struct fsck *k)
{
	for (size_t i = 0; i < k->n_events; i++) {
		free(k->events[i].vault_path);
		free(k->events[i].plain_path);
		free(k->events[i].what);
	}
	k->n_events = 0;
}

/* Prints the hook's pending reports as problems of plain (unless the hook
 * named a plaintext path itself) at plaintext offset plain_off. Returns how
 * many were printed. */
size_t flush_events(struct fsck *k, const char *plain, int64_t plain_off)
{
	size_t n = k->n_events;

	for (size_t i = 0; i < n; i++) {
		const struct event *e = &k->events[i];

		problem(k, e->plain_path ? e->plain_path : plain, plain_off,
			e->vault_path, e->offset, "%s", e->what);
	}
	drop_events(k);
	return n;
}

/* A failed library call: what the hook said about it, or the error itself
 * when the hook said nothing. */
void failed(struct fsck *k, const char *plain, int64_t plain_off, const char *op, int err)
{
	if (flush_events(k, plain, plain_off) > 0)
		return;
	if (err == -EBADMSG)
		problem(k, plain, plain_off, NULL, -1, "%s: integrity failure", op);
	else
		problem(k, plain, plain_off, NULL, -1, "%s: %s", op, strerror(-err));
}
