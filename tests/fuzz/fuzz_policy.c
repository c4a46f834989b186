/* Fuzz target: the access policy parser (medfs_policy_parse), then a few
 * decisions with the policy it accepted.
 *
 * Checks what the parser promises: 0 with a policy and no error, or
 * -EINVAL with at least one error; every diagnostic at a line and column
 * inside the text, with a NUL-terminated, non-empty message. Decisions are
 * asked for fixed paths and for paths made of the input's own absolute
 * words (with each '*' made a letter, so patterns meet paths they match),
 * for every right and a few subjects, and must be the same when asked
 * twice. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "medfs/policy.h"

#define PATHS_MAX 8
#define PATH_LEN 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
	size_t size;
	unsigned lines, errors;
};

/* The names of the seed corpus (the example of doc/POLICY.md among them). */
static const struct {
	int is_group;
	const char *name;
	unsigned long id;
} names[] = {
	{ 0, "alice", 1001 },	  { 0, "orthanc", 110 },     { 1, "radiology", 2001 },
	{ 1, "frontdesk", 2002 }, { 1, "physicians", 2003 }, { 0, "huge", ~0UL },
	{ 1, "huge", ~0UL }, /* out of range: must be refused, not truncated */
};

static int resolve(void *ctx, int is_group, const char *name, unsigned long *id)
{
	size_t i;

	(void)ctx;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (names[i].is_group == is_group && strcmp(names[i].name, name) == 0) {
			*id = names[i].id;
			return 0;
		}
	}
	return -ENOENT;
}

static void diag(void *ctx, const struct medfs_policy_diag *d)
{
	struct ctx *c = ctx;

	if (d->line < 1 || d->line > c->lines || d->column < 1 ||
	    d->column > c->size + 1 ||
	    memchr(d->message, '\0', sizeof(d->message)) == NULL || d->message[0] == '\0')
		abort();
	if (!d->warning)
		c->errors++;
}

static void decide_all(const struct medfs_policy *p, const char *path)
{
	static const gid_t groups[] = { 7, 2001 };
	static const struct medfs_subject subjects[] = {
		{ 1001, 100, NULL, 0, NULL, 0 },
		{ 1001, 100, NULL, 0, "/usr/sbin/Orthanc", 1 },
		{ 5, 2001, NULL, 0, NULL, 0 },
		{ 6, 6, groups, 2, "/bin/x", 1 },
		{ 0, 0, NULL, 0, NULL, 0 },
	};
	struct medfs_decision d, again;
	unsigned right;
	size_t i;

	for (i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
		for (right = 1; right <= 64; right <<= 1) {
			medfs_policy_decide(p, &subjects[i], path, right, &d);
			medfs_policy_decide(p, &subjects[i], path, right, &again);
			if (d.allowed != again.allowed || d.line != again.line ||
			    d.emergency != again.emergency)
				abort();
			if (d.allowed && (d.line == 0 || right > MEDFS_RIGHT_ALL))
				abort();
			if (d.emergency && (!d.allowed || !subjects[i].emergency))
				abort();
		}
		medfs_policy_emergency_eligible(p, &subjects[i]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const fixed[] = {
		"/", "/studies", "/studies/a/b.dcm", "/a/b/c/d/e/f", "studies", "/a//b"
	};
	struct medfs_policy *p = NULL;
	struct ctx c = { size, 1, 0 };
	char path[PATH_LEN];
	uint8_t digest[32];
	size_t i, j, n, npaths = 0;
	int ret;

	for (i = 0; i < size; i++)
		c.lines += data[i] == '\n';
	ret = medfs_policy_parse((const char *)data, size, resolve, NULL, diag, &c, &p);
	if (ret == -ENOMEM)
		return 0;
	if ((ret == 0) != (c.errors == 0) || (ret != 0 && ret != -EINVAL) ||
	    (ret == 0) != (p != NULL))
		abort();
	if (p == NULL)
		return 0;

	medfs_policy_digest(p, digest);
	n = medfs_policy_emergency_seconds(p);
	if (n < 1 || n > 86400)
		abort();
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		decide_all(p, fixed[i]);
	/* Paths from the input's words that start with '/'. */
	for (i = 0; i < size && npaths < PATHS_MAX; i++) {
		if (data[i] != '/' || (i > 0 && data[i - 1] != ' ' &&
				       data[i - 1] != '"' && data[i - 1] != '\t'))
			continue;
		for (j = 0; i + j < size && j < PATH_LEN - 1; j++) {
			char ch = (char)data[i + j];

			if (ch == ' ' || ch == '\n' || ch == '"' || ch == '\0' ||
			    ch == '\t')
				break;
			path[j] = ch == '*' ? 'a' : ch;
		}
		path[j] = '\0';
		decide_all(p, path);
		npaths++;
	}
	medfs_policy_free(p);
	return 0;
}
