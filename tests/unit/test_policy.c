/* Unit tests: the access policy parser, evaluator and file reader. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "medfs/crypto.h"
#include "medfs/policy.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The names the injected resolver knows. */
static const struct {
	int is_group;
	const char *name;
	unsigned long id;
} names[] = {
	{ 0, "alice", 1001 },	   { 0, "bob", 1002 },	     { 0, "carol", 1003 },
	{ 0, "orthanc", 110 },	   { 1, "radiology", 2001 }, { 1, "frontdesk", 2002 },
	{ 1, "physicians", 2003 }, { 1, "staff", 2004 },     { 1, "users", 100 },
};

static int resolve(void *ctx, int is_group, const char *name, unsigned long *id)
{
	size_t i;

	(*(unsigned *)ctx)++;
	for (i = 0; i < N(names); i++) {
		if (names[i].is_group == is_group && strcmp(names[i].name, name) == 0) {
			*id = names[i].id;
			return 0;
		}
	}
	return -ENOENT;
}

#define MAX_DIAGS 200

struct diags {
	struct medfs_policy_diag v[MAX_DIAGS];
	unsigned n, errors, warnings;
};

static void collect(void *ctx, const struct medfs_policy_diag *d)
{
	struct diags *ds = ctx;

	ck_assert_uint_lt(ds->n, MAX_DIAGS);
	ck_assert_uint_ge(d->line, 1);
	ck_assert_uint_ge(d->column, 1);
	ck_assert_ptr_nonnull(memchr(d->message, '\0', sizeof(d->message)));
	ck_assert_uint_gt(strlen(d->message), 0);
	ds->v[ds->n++] = *d;
	if (d->warning)
		ds->warnings++;
	else
		ds->errors++;
}

static int parse(const char *text, struct diags *ds, struct medfs_policy **p)
{
	unsigned calls = 0;

	memset(ds, 0, sizeof(*ds));
	return medfs_policy_parse(text, strlen(text), resolve, &calls, collect, ds, p);
}

static struct medfs_policy *parse_ok(const char *text)
{
	struct medfs_policy *p = NULL;
	struct diags ds;

	ck_assert_int_eq(parse(text, &ds, &p), 0);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(ds.errors, 0);
	return p;
}

/* ---- Malformed policies: where the first error is, and how many ---- */

static const struct bad_case {
	const char *text;
	unsigned line, column, errors;
} bad_cases[] = {
	/* unknown keyword */
	{ "alow user:alice read /x\n", 1, 1, 1 },
	{ "\"allow\" user:alice read /x\n", 1, 1, 1 },
	{ "  Allow user:alice read /x\n", 1, 3, 1 },
	/* bad subject */
	{ "allow usr:alice read /x\n", 1, 7, 1 },
	{ "allow user: read /x\n", 1, 7, 1 },
	{ "allow group: read /x\n", 1, 7, 1 },
	{ "allow Everyone read /x\n", 1, 7, 1 },
	{ "allow \"user:alice\" read /x\n", 1, 7, 1 },
	{ "deny everyone\n", 1, 14, 1 },
	{ "allow user:4294967295 read /x\n", 1, 12, 1 },
	{ "allow group:99999999999999999999999 read /x\n", 1, 13, 1 },
	/* unknown user or group, through the resolver */
	{ "allow user:mallory read /x\n", 1, 12, 1 },
	{ "allow group:nogroup read /x\n", 1, 13, 1 },
	{ "allow user:radiology read /x\n", 1, 12, 1 }, /* a group, not a user */
	/* rights */
	{ "allow user:alice reed /x\n", 1, 18, 1 },
	{ "allow user:alice read,wrte /x\n", 1, 23, 1 },
	{ "allow user:alice list,,read /x\n", 1, 23, 1 },
	{ "allow user:alice read, /x\n", 1, 23, 1 },
	{ "allow user:alice All /x\n", 1, 18, 1 },
	{ "allow user:alice /studies/** \n", 1, 18, 1 },
	{ "allow user:alice\n", 1, 17, 1 },
	/* missing pattern */
	{ "allow user:alice read\n", 1, 22, 1 },
	{ "allow user:alice read   # no pattern\n", 1, 25, 1 },
	{ "allow user:alice read", 1, 22, 1 },
	/* relative pattern */
	{ "allow user:alice read studies/x\n", 1, 23, 1 },
	{ "allow user:alice read *\n", 1, 23, 1 },
	{ "allow user:alice read \"\"\n", 1, 23, 1 },
	/* bad segments */
	{ "allow user:alice read /a/b**\n", 1, 26, 1 },
	{ "allow user:alice read /**x/a\n", 1, 24, 1 },
	{ "allow user:alice read /a/***\n", 1, 26, 1 },
	{ "allow user:alice read /a//b\n", 1, 26, 1 },
	{ "allow user:alice read //\n", 1, 24, 1 },
	{ "allow user:alice read /a/\n", 1, 25, 1 },
	{ "allow user:alice read /a/./b\n", 1, 26, 1 },
	{ "allow user:alice read /..\n", 1, 24, 1 },
	{ "allow user:alice read \"/a/x y/..\"\n", 1, 31, 1 },
	{ "allow user:alice read \"/\\\\/b**\"\n", 1, 28, 1 }, /* "/\\/b**" */
	/* quoting */
	{ "allow user:alice read \"/a b\n", 1, 23, 1 },
	{ "allow user:alice read \"/a b", 1, 23, 1 },
	{ "allow user:alice read \"/a\\qb\"\n", 1, 26, 1 },
	{ "allow user:alice read \"/a\"b\n", 1, 27, 1 },
	{ "allow user:alice read /a\"b\n", 1, 25, 1 },
	{ "allow user:alice read /a\x01z\n", 1, 25, 1 },
	{ "allow user:alice read /a\x7fz\n", 1, 25, 1 },
	{ "allow user:alice read /a b\n", 1, 26, 1 },
	/* emergency */
	{ "emergency deny user:alice read /x\n", 1, 11, 1 },
	{ "emergency\n", 1, 10, 1 },
	{ "emergency emergency allow user:alice read /x\n", 1, 11, 1 },
	/* durations */
	{ "emergency-duration 0m\n", 1, 20, 1 },
	{ "emergency-duration 30\n", 1, 20, 1 },
	{ "emergency-duration 25h\n", 1, 20, 1 },
	{ "emergency-duration 86401s\n", 1, 20, 1 },
	{ "emergency-duration 1441m\n", 1, 20, 1 },
	{ "emergency-duration m\n", 1, 20, 1 },
	{ "emergency-duration 30d\n", 1, 20, 1 },
	{ "emergency-duration -5m\n", 1, 20, 1 },
	{ "emergency-duration 99999999999999999999h\n", 1, 20, 1 },
	{ "emergency-duration\n", 1, 19, 1 },
	{ "emergency-duration 1h\nemergency-duration 2h\n", 2, 1, 1 },
	/* version */
	{ "version 2\n", 1, 9, 1 },
	{ "version one\n", 1, 9, 1 },
	{ "version\n", 1, 8, 1 },
	{ "allow user:alice read /x\nversion 1\n", 2, 1, 1 },
	{ "version 1\nversion 1\n", 2, 1, 1 },
	/* program */
	{ "allow user:alice program usr/bin/x read /x\n", 1, 26, 1 },
	{ "allow user:alice program\n", 1, 25, 1 },
	{ "allow user:alice program /bin/x\n", 1, 32, 1 },
	/* trailing garbage */
	{ "allow user:alice read /x extra\n", 1, 26, 1 },
	{ "allow user:alice read /x \"/y\"\n", 1, 26, 1 },
	{ "version 1 2\n", 1, 11, 1 },
	{ "emergency-duration 1h 2h\n", 1, 23, 1 },
	/* positions: lines, tabs, UTF-8 characters */
	{ "# comment\n\nallow user:alice read /x\n  deny user:bob wrong /y\n", 4, 17, 1 },
	{ "allow\tuser:alice\tbogus /x\n", 1, 18, 1 },
	{ "allow user:alice read \"/\xc3\xa9\" bad\n", 1, 28, 1 },
	{ "allow user:alice read /\xc3\xa9t\xc3\xa9/a**\n", 1, 28, 1 },
	{ "allow user:alice read \"/a\\\"b\" x\n", 1, 31, 1 },
	{ "allow user:alice read /x\r\nalow\r\n", 2, 1, 1 },
	/* several errors are all reported */
	{ "alow\nallow x\nallow user:alice read /x\nversion 1\n", 1, 1, 3 },
	{ "allow user:alice reed /x\nallow user:mallory read /x\nallow user:bob read y\n",
	  1, 18, 3 },
};

START_TEST(test_bad)
{
	const struct bad_case *c = &bad_cases[_i];
	struct medfs_policy *p = (struct medfs_policy *)&p; /* must stay untouched */
	struct diags ds;
	unsigned i;

	ck_assert_int_eq(parse(c->text, &ds, &p), -EINVAL);
	ck_assert_ptr_eq(p, (struct medfs_policy *)&p);
	ck_assert_uint_eq(ds.errors, c->errors);
	for (i = 0; i < ds.n && ds.v[i].warning; i++)
		;
	ck_assert_uint_lt(i, ds.n);
	if (ds.v[i].line != c->line || ds.v[i].column != c->column)
		ck_abort_msg("case %d: error at %u:%u (%s), expected %u:%u", _i,
			     ds.v[i].line, ds.v[i].column, ds.v[i].message, c->line,
			     c->column);
}
END_TEST

START_TEST(test_messages)
{
	struct medfs_policy *p = NULL;
	struct diags ds;

	ck_assert_int_eq(parse("allow user:alice reed /x\n", &ds, &p), -EINVAL);
	ck_assert_str_eq(ds.v[0].message, "unknown right 'reed': expected a right (list, "
					  "read, write, create, delete, setattr, all)");
	ck_assert_int_eq(parse("allow user:mallory read /x\n", &ds, &p), -EINVAL);
	ck_assert_ptr_nonnull(strstr(ds.v[0].message, "unknown user 'mallory'"));
	ck_assert_int_eq(parse("allow group:nogroup read /x\n", &ds, &p), -EINVAL);
	ck_assert_ptr_nonnull(strstr(ds.v[0].message, "unknown group 'nogroup'"));
	ck_assert_int_eq(parse("allow user:alice read\n", &ds, &p), -EINVAL);
	ck_assert_ptr_nonnull(strstr(ds.v[0].message, "expected a path pattern"));
	ck_assert_int_eq(parse("alow\n", &ds, &p), -EINVAL);
	ck_assert_ptr_nonnull(strstr(ds.v[0].message, "'alow'"));

	/* Patterns and program paths are never quoted back. */
	ck_assert_int_eq(parse("allow user:alice read /a//Dupont-Jean\n", &ds, &p),
			 -EINVAL);
	ck_assert_ptr_null(strstr(ds.v[0].message, "Dupont"));
	ck_assert_int_eq(parse("allow user:alice /Dupont-Jean read\n", &ds, &p), -EINVAL);
	ck_assert_ptr_null(strstr(ds.v[0].message, "Dupont"));
	ck_assert_int_eq(parse("allow /Dupont-Jean read /x\n", &ds, &p), -EINVAL);
	ck_assert_ptr_null(strstr(ds.v[0].message, "Dupont"));
	ck_assert_int_eq(parse("allow user:alice read /x \"Dupont Jean\"\n", &ds, &p),
			 -EINVAL);
	ck_assert_ptr_null(strstr(ds.v[0].message, "Dupont"));
	ck_assert_int_eq(parse("allow user:alice program Dupont read /x\n", &ds, &p),
			 -EINVAL);
	ck_assert_ptr_null(strstr(ds.v[0].message, "Dupont"));
	ck_assert_int_eq(parse("\"Dupont Jean\"\n", &ds, &p), -EINVAL);
	ck_assert_ptr_null(strstr(ds.v[0].message, "Dupont"));
	/* Echoed tokens are cut short and made printable. */
	ck_assert_int_eq(parse("allow user:alice read,"
			       "aaaaaaaaaabbbbbbbbbbccccccccccddddddddddeeeeeeeeee /x\n",
			       &ds, &p),
			 -EINVAL);
	ck_assert_ptr_nonnull(
		strstr(ds.v[0].message, "'aaaaaaaaaabbbbbbbbbbccccccccccdd...'"));
	ck_assert_ptr_null(strstr(ds.v[0].message, "eeee"));
	ck_assert_int_eq(parse("allow user:\xc3\xa9t\xc3\xa9 read /x\n", &ds, &p),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(ds.v[0].message, "'?"
						      "?t?"
						      "?'"));
}
END_TEST

START_TEST(test_too_many_errors)
{
	struct medfs_policy *p = NULL;
	struct diags ds;
	char text[150 * 4 + 1];
	int i;

	for (i = 0; i < 150; i++)
		memcpy(text + 4 * i, "bad\n", 4);
	text[sizeof(text) - 1] = '\0';
	ck_assert_int_eq(parse(text, &ds, &p), -EINVAL);
	ck_assert_ptr_null(p);
	ck_assert_uint_eq(ds.n, 101);
	ck_assert_uint_eq(ds.v[99].line, 100);
	ck_assert_uint_eq(ds.v[100].line, 101);
	ck_assert_str_eq(ds.v[100].message, "too many errors; stopping here");
}
END_TEST

START_TEST(test_no_resolver)
{
	struct medfs_policy *p = NULL;
	struct diags ds = { 0 };
	const char *t = "allow user:alice read /x\n";

	ck_assert_int_eq(medfs_policy_parse(t, strlen(t), NULL, NULL, collect, &ds, &p),
			 -EINVAL);
	ck_assert_uint_eq(ds.errors, 1);
	ck_assert_uint_eq(ds.v[0].column, 12);
	t = "allow user:1001 read /x\nallow group:0 list /\n";
	ck_assert_int_eq(medfs_policy_parse(t, strlen(t), NULL, NULL, NULL, NULL, &p), 0);
	medfs_policy_free(p);
	/* Errors without a diagnostics callback still fail. */
	t = "allow user:alice reed /x\n";
	ck_assert_int_eq(medfs_policy_parse(t, strlen(t), NULL, NULL, NULL, NULL, &p),
			 -EINVAL);
}
END_TEST

START_TEST(test_embedded_nul)
{
	static const char t[] = "allow user:1 read /x\0y\n";
	struct medfs_policy *p = NULL;
	struct diags ds = { 0 };

	ck_assert_int_eq(
		medfs_policy_parse(t, sizeof(t) - 1, NULL, NULL, collect, &ds, &p),
		-EINVAL);
	ck_assert_uint_eq(ds.v[0].column, 21);
	/* An empty text is a valid policy that allows nothing. */
	ck_assert_int_eq(medfs_policy_parse(NULL, 0, NULL, NULL, NULL, NULL, &p), 0);
	medfs_policy_free(p);
}
END_TEST

/* ---- Valid policies: decisions ---- */

static const gid_t supp_radiology[] = { 5, 2001 };
static const gid_t supp_phys[] = { 2003 };
static const gid_t supp_phys_radio[] = { 2003, 2001 };
static const gid_t supp_50[] = { 7, 50 };

/* A subject without supplementary groups, and one with. */
#define SUBJ(u, g, prog, em)                                                             \
	{                                                                                \
		(u), (g), NULL, 0, (prog), (em)                                          \
	}
#define SUBJG(u, g, gs, em)                                                              \
	{                                                                                \
		(u), (g), (gs), N(gs), NULL, (em)                                        \
	}
#define ALICE SUBJ(1001, 100, NULL, 0)
#define BOB SUBJ(1002, 100, NULL, 0)
#define CAROL SUBJ(1003, 100, NULL, 0)
#define RADIO SUBJ(2000, 2001, NULL, 0)		   /* primary group */
#define RADIO2 SUBJG(2010, 100, supp_radiology, 0) /* supplementary */
#define DESK SUBJ(2020, 2002, NULL, 0)
#define PHYS SUBJG(2030, 100, supp_phys, 0)
#define PHYS_EM SUBJG(2030, 100, supp_phys, 1)
#define PHYS_RADIO_EM SUBJG(2031, 100, supp_phys_radio, 1)
#define STAFF SUBJ(2040, 2004, NULL, 0)
#define NOBODY SUBJ(9999, 9999, NULL, 0)
#define ROOT SUBJ(0, 0, NULL, 0)
#define ORTHANC(prog) SUBJ(110, 110, (prog), 0)

static const char policy1[] =
	"# test policy\n"						 /* 1 */
	"version 1\n"							 /* 2 */
	"emergency-duration 15m\n"					 /* 3 */
	"allow user:alice list,read /studies/*\n"			 /* 4 */
	"allow user:alice read /deep/**/x.dcm\n"			 /* 5 */
	"allow group:radiology list,read /studies/**\n"			 /* 6 */
	"deny group:frontdesk all /**\n"				 /* 7 */
	"allow group:frontdesk read /studies/**\n"			 /* 8 */
	"allow user:bob read /a*b/c\n"					 /* 9 */
	"allow everyone list /public\n"					 /* 10 */
	"allow user:orthanc program /usr/sbin/Orthanc all /orthanc/**\n" /* 11 */
	"emergency allow group:physicians list,read /studies/**\n"	 /* 12 */
	"allow user:carol read /\n"					 /* 13 */
	"allow user:carol write /exact\n"				 /* 14 */
	"deny user:carol write /exact\n"				 /* 15 */
	"\tallow user:carol read \"/with space/*\"   # quoted\n"	 /* 16 */
	"deny group:staff list /hidden\n"				 /* 17 */
	"allow group:staff read /hidden/**\n"				 /* 18 */
	"allow group:staff read /open/**\n"				 /* 19 */
	"allow group:physicians read /studies/shared/**\n"		 /* 20 */
	"allow user:bob read \"/q\\\"x\\\\y\"\n"			 /* 21 */
	"allow user:bob read /*.dcm/**/*\n";				 /* 22 */

static const struct decide_case {
	struct medfs_subject s;
	const char *path;
	unsigned right;
	int allowed;
	unsigned line;
	int emergency;
} policy1_cases[] = {
	/* '*' is one segment, anchored at the root */
	{ ALICE, "/studies/a", MEDFS_RIGHT_READ, 1, 4, 0 },
	{ ALICE, "/studies/a", MEDFS_RIGHT_LIST, 1, 4, 0 },
	{ ALICE, "/studies/a/b", MEDFS_RIGHT_READ, 0, 0, 0 },
	{ ALICE, "/studies/a/b", MEDFS_RIGHT_LIST, 0, 0, 0 },
	{ ALICE, "/studies", MEDFS_RIGHT_READ, 0, 0, 0 },
	{ ALICE, "/studies/a", MEDFS_RIGHT_WRITE, 0, 0, 0 },
	{ ALICE, "/studiesX/a", MEDFS_RIGHT_READ, 0, 0, 0 },
	{ ALICE, "/x/studies/a", MEDFS_RIGHT_READ, 0, 0, 0 },
	/* '**' is zero or more segments */
	{ ALICE, "/deep/x.dcm", MEDFS_RIGHT_READ, 1, 5, 0 },
	{ ALICE, "/deep/a/b/c/x.dcm", MEDFS_RIGHT_READ, 1, 5, 0 },
	{ ALICE, "/deep/a/x.dcmz", MEDFS_RIGHT_READ, 0, 0, 0 },
	{ ALICE, "/deep/a/x.dcm/y", MEDFS_RIGHT_READ, 0, 0, 0 },
	{ ALICE, "/deep/x.dcm", MEDFS_RIGHT_WRITE, 0, 0, 0 },
	/* traversal: list on the directories above what a rule can match */
	{ ALICE, "/", MEDFS_RIGHT_LIST, 1, 4, 0 },
	{ ALICE, "/studies", MEDFS_RIGHT_LIST, 1, 4, 0 },
	{ ALICE, "/deep", MEDFS_RIGHT_LIST, 1, 5, 0 },
	{ ALICE, "/deep/a/b", MEDFS_RIGHT_LIST, 1, 5, 0 },
	{ ALICE, "/deep/x.dcm", MEDFS_RIGHT_LIST, 1, 5, 0 }, /* may hold x.dcm */
	{ ALICE, "/other", MEDFS_RIGHT_LIST, 0, 0, 0 },
	{ ALICE, "/", MEDFS_RIGHT_READ, 0, 0, 0 },
	/* everyone */
	{ ALICE, "/public", MEDFS_RIGHT_LIST, 1, 10, 0 },
	{ NOBODY, "/public", MEDFS_RIGHT_LIST, 1, 10, 0 },
	{ NOBODY, "/", MEDFS_RIGHT_LIST, 1, 10, 0 },
	{ NOBODY, "/public", MEDFS_RIGHT_READ, 0, 0, 0 },
	{ NOBODY, "/public/x", MEDFS_RIGHT_LIST, 0, 0, 0 },
	{ ROOT, "/studies/a", MEDFS_RIGHT_READ, 0, 0, 0 },
	/* groups: primary and supplementary */
	{ RADIO, "/studies/a/b/c", MEDFS_RIGHT_READ, 1, 6, 0 },
	{ RADIO, "/studies", MEDFS_RIGHT_READ, 1, 6, 0 },
	{ RADIO, "/studies/a", MEDFS_RIGHT_WRITE, 0, 0, 0 },
	{ RADIO, "/other", MEDFS_RIGHT_READ, 0, 0, 0 },
	{ RADIO2, "/studies/x", MEDFS_RIGHT_READ, 1, 6, 0 },
	{ RADIO2, "/studies/x", MEDFS_RIGHT_DELETE, 0, 0, 0 },
	/* deny beats allow, whatever the order */
	{ DESK, "/studies/a", MEDFS_RIGHT_READ, 0, 7, 0 },
	{ DESK, "/", MEDFS_RIGHT_LIST, 0, 7, 0 },
	{ DESK, "/public", MEDFS_RIGHT_LIST, 0, 7, 0 },
	{ CAROL, "/exact", MEDFS_RIGHT_WRITE, 0, 15, 0 },
	/* globs inside a segment */
	{ BOB, "/ab/c", MEDFS_RIGHT_READ, 1, 9, 0 },
	{ BOB, "/axxb/c", MEDFS_RIGHT_READ, 1, 9, 0 },
	{ BOB, "/a/b/c", MEDFS_RIGHT_READ, 0, 0, 0 },
	{ BOB, "/abc/c", MEDFS_RIGHT_READ, 0, 0, 0 },
	{ BOB, "/ba/c", MEDFS_RIGHT_READ, 0, 0, 0 },
	{ BOB, "/q\"x\\y", MEDFS_RIGHT_READ, 1, 21, 0 },
	{ BOB, "/ct.dcm/x", MEDFS_RIGHT_READ, 1, 22, 0 },
	{ BOB, "/ct.dcm/a/b/x", MEDFS_RIGHT_READ, 1, 22, 0 },
	{ BOB, "/ct.dcm", MEDFS_RIGHT_READ, 0, 0, 0 },
	{ BOB, "/.dcm/x", MEDFS_RIGHT_READ, 1, 22, 0 },
	/* program-bound rules */
	{ ORTHANC("/usr/sbin/Orthanc"), "/orthanc/x", MEDFS_RIGHT_WRITE, 1, 11, 0 },
	{ ORTHANC("/usr/sbin/Orthanc"), "/orthanc", MEDFS_RIGHT_CREATE, 1, 11, 0 },
	{ ORTHANC("/usr/sbin/Orthanc"), "/", MEDFS_RIGHT_LIST, 1, 10, 0 },
	{ ORTHANC("/usr/bin/python3"), "/orthanc/x", MEDFS_RIGHT_WRITE, 0, 0, 0 },
	{ ORTHANC("/usr/sbin/Orthanc2"), "/orthanc/x", MEDFS_RIGHT_WRITE, 0, 0, 0 },
	{ ORTHANC("/usr/sbin"), "/orthanc/x", MEDFS_RIGHT_WRITE, 0, 0, 0 },
	{ ORTHANC(NULL), "/orthanc/x", MEDFS_RIGHT_WRITE, 0, 0, 0 },
	{ ORTHANC(NULL), "/orthanc", MEDFS_RIGHT_LIST, 0, 0, 0 },
	/* emergency rules only with an active grant */
	{ PHYS, "/studies/a", MEDFS_RIGHT_READ, 0, 0, 0 },
	{ PHYS, "/studies", MEDFS_RIGHT_LIST, 1, 20, 0 }, /* above line 20's */
	{ PHYS_EM, "/studies/a", MEDFS_RIGHT_READ, 1, 12, 1 },
	{ PHYS_EM, "/studies/a", MEDFS_RIGHT_LIST, 1, 12, 1 },
	{ PHYS_EM, "/studies/a", MEDFS_RIGHT_WRITE, 0, 0, 0 },
	{ PHYS_EM, "/", MEDFS_RIGHT_LIST, 1, 10, 0 },
	{ PHYS_EM, "/other", MEDFS_RIGHT_READ, 0, 0, 0 },
	/* an ordinary allow is preferred, even after an emergency one */
	{ PHYS, "/studies/shared/x", MEDFS_RIGHT_READ, 1, 20, 0 },
	{ PHYS_EM, "/studies/shared/x", MEDFS_RIGHT_READ, 1, 20, 0 },
	{ PHYS_RADIO_EM, "/studies/a", MEDFS_RIGHT_READ, 1, 6, 0 },
	/* the root pattern "/" and quoted patterns */
	{ CAROL, "/", MEDFS_RIGHT_READ, 1, 13, 0 },
	{ CAROL, "/x", MEDFS_RIGHT_READ, 0, 0, 0 },
	{ CAROL, "/", MEDFS_RIGHT_LIST, 1, 10, 0 },
	{ CAROL, "/with space/f", MEDFS_RIGHT_READ, 1, 16, 0 },
	{ CAROL, "/with space/f/g", MEDFS_RIGHT_READ, 0, 0, 0 },
	{ CAROL, "/with", MEDFS_RIGHT_READ, 0, 0, 0 },
	/* a deny for list on a directory overrides traversal */
	{ STAFF, "/hidden", MEDFS_RIGHT_LIST, 0, 17, 0 },
	{ STAFF, "/hidden", MEDFS_RIGHT_READ, 1, 18, 0 },
	{ STAFF, "/hidden/x", MEDFS_RIGHT_READ, 1, 18, 0 },
	{ STAFF, "/hidden/x", MEDFS_RIGHT_LIST, 1, 18, 0 },
	{ STAFF, "/open", MEDFS_RIGHT_LIST, 1, 19, 0 },
	/* paths that are not canonical are denied */
	{ ALICE, "studies/a", MEDFS_RIGHT_READ, 0, 0, 0 },
	{ ALICE, "", MEDFS_RIGHT_READ, 0, 0, 0 },
	{ ALICE, "/studies//a", MEDFS_RIGHT_READ, 0, 0, 0 },
	{ ALICE, "/studies/a/", MEDFS_RIGHT_READ, 0, 0, 0 },
	{ ALICE, "/studies/.", MEDFS_RIGHT_READ, 0, 0, 0 },
	{ RADIO, "/studies/../etc", MEDFS_RIGHT_READ, 0, 0, 0 },
	{ RADIO, "//studies", MEDFS_RIGHT_READ, 0, 0, 0 },
	/* not a single right */
	{ RADIO, "/studies", 0, 0, 0, 0 },
	{ RADIO, "/studies", MEDFS_RIGHT_LIST | MEDFS_RIGHT_READ, 0, 0, 0 },
	{ RADIO, "/studies", 64, 0, 0, 0 },
};

static const char policy2[] = "allow user:1 all /**\n"
			      "deny user:2 list /\n"
			      "allow user:2 read /**\n"
			      "allow group:50 read /x/**\n"
			      "deny everyone write /x/locked\n"
			      "allow everyone write /x/*\n";

static const struct decide_case policy2_cases[] = {
	{ SUBJ(1, 1, NULL, 0), "/", MEDFS_RIGHT_LIST, 1, 1, 0 },
	{ SUBJ(1, 1, NULL, 0), "/", MEDFS_RIGHT_SETATTR, 1, 1, 0 },
	{ SUBJ(1, 1, NULL, 0), "/a/b/c", MEDFS_RIGHT_DELETE, 1, 1, 0 },
	{ SUBJ(1, 1, NULL, 0), "/x/locked", MEDFS_RIGHT_WRITE, 0, 5, 0 },
	{ SUBJ(2, 2, NULL, 0), "/", MEDFS_RIGHT_LIST, 0, 2, 0 },
	{ SUBJ(2, 2, NULL, 0), "/", MEDFS_RIGHT_READ, 1, 3, 0 },
	{ SUBJ(2, 2, NULL, 0), "/a", MEDFS_RIGHT_LIST, 1, 3, 0 },
	{ SUBJ(2, 2, NULL, 0), "/a/b", MEDFS_RIGHT_READ, 1, 3, 0 },
	{ SUBJ(2, 2, NULL, 0), "/a/b", MEDFS_RIGHT_WRITE, 0, 0, 0 },
	{ SUBJ(7, 50, NULL, 0), "/x/a", MEDFS_RIGHT_READ, 1, 4, 0 },
	{ SUBJG(8, 1, supp_50, 0), "/x/a/b", MEDFS_RIGHT_READ, 1, 4, 0 },
	{ SUBJG(8, 1, supp_50, 0), "/x", MEDFS_RIGHT_LIST, 1, 4, 0 },
	{ SUBJG(8, 1, supp_50, 0), "/y", MEDFS_RIGHT_READ, 0, 0, 0 },
	{ SUBJG(8, 1, supp_50, 0), "/x/a", MEDFS_RIGHT_WRITE, 1, 6, 0 },
	{ SUBJG(8, 1, supp_50, 0), "/x/locked", MEDFS_RIGHT_WRITE, 0, 5, 0 },
	{ SUBJ(0, 0, NULL, 0), "/x/a/b", MEDFS_RIGHT_READ, 0, 0, 0 },
};

static void run_decide(const struct medfs_policy *p, const struct decide_case *c, int i)
{
	struct medfs_decision d;

	memset(&d, 0x5a, sizeof(d));
	medfs_policy_decide(p, &c->s, c->path, c->right, &d);
	if (d.allowed != c->allowed || d.line != c->line || d.emergency != c->emergency)
		ck_abort_msg(
			"case %d (uid %u, %s, %s): got allowed %d line %u emergency %d, "
			"expected %d %u %d",
			i, (unsigned)c->s.uid, c->path, medfs_right_name(c->right),
			d.allowed, d.line, d.emergency, c->allowed, c->line,
			c->emergency);
}

START_TEST(test_decide_policy1)
{
	struct medfs_policy *p = parse_ok(policy1);

	run_decide(p, &policy1_cases[_i], _i);
	medfs_policy_free(p);
}
END_TEST

START_TEST(test_decide_policy2)
{
	struct medfs_policy *p = parse_ok(policy2);

	run_decide(p, &policy2_cases[_i], _i);
	medfs_policy_free(p);
}
END_TEST

/* The example of doc/POLICY.md and medfs-policy(1), and what they say of it. */
static const char doc_example[] =
	"# radiology.policy: who may do what in the PACS vault mounted on /srv/pacs.\n"
	"# Check it with: medfs-policy check radiology.policy\n"
	"version 1\n"
	"emergency-duration 2h\n"
	"\n"
	"# Orthanc receives the images from the modalities into /incoming and keeps\n"
	"# its SQLite index in /index: only the Orthanc executable, run as orthanc.\n"
	"allow user:orthanc program /usr/sbin/Orthanc all /incoming/**\n"
	"allow user:orthanc program /usr/sbin/Orthanc all /index/**\n"
	"\n"
	"# Radiologists read every study and write their reports.\n"
	"allow group:radiology list,read /incoming/**\n"
	"allow group:radiology list,read /studies/**\n"
	"allow group:radiology list,read,create,write \"/reports/**\"\n"
	"\n"
	"# The front desk gets nothing, whatever other groups its members are in.\n"
	"deny group:frontdesk all /**\n"
	"\n"
	"# Physicians may break the glass to read studies and reports.\n"
	"emergency allow group:physicians list,read /incoming/**\n"
	"emergency allow group:physicians list,read /studies/**\n"
	"emergency allow group:physicians list,read /reports/**\n";

#define LEE SUBJ(3001, 2001, NULL, 0)
#define RECEPTION SUBJ(3002, 2002, NULL, 0)
#define MARTIN SUBJ(3003, 2003, NULL, 0)
#define MARTIN_EM SUBJ(3003, 2003, NULL, 1)
#define LEE_DESK SUBJG(3004, 2001, supp_desk, 0)

static const gid_t supp_desk[] = { 2002 };

static const struct decide_case doc_cases[] = {
	{ LEE, "/studies/2026/ct-0042/IM0001", MEDFS_RIGHT_READ, 1, 13, 0 },
	{ LEE, "/studies/2026/ct-0042/IM0001", MEDFS_RIGHT_WRITE, 0, 0, 0 },
	{ LEE, "/studies/2026/ct-0042/IM0001", MEDFS_RIGHT_DELETE, 0, 0, 0 },
	{ LEE, "/", MEDFS_RIGHT_LIST, 1, 12, 0 },
	{ LEE, "/reports", MEDFS_RIGHT_LIST, 1, 14, 0 },
	{ LEE, "/reports/r1", MEDFS_RIGHT_CREATE, 1, 14, 0 },
	{ LEE, "/index", MEDFS_RIGHT_LIST, 0, 0, 0 },
	{ LEE_DESK, "/studies/a", MEDFS_RIGHT_READ, 0, 17, 0 },
	{ ORTHANC("/usr/sbin/Orthanc"), "/incoming/ab/cd/0f3e", MEDFS_RIGHT_CREATE, 1, 8,
	  0 },
	{ ORTHANC("/usr/sbin/Orthanc"), "/index/index-shm", MEDFS_RIGHT_WRITE, 1, 9, 0 },
	{ ORTHANC(NULL), "/incoming/ab/cd/0f3e", MEDFS_RIGHT_READ, 0, 0, 0 },
	{ RECEPTION, "/studies", MEDFS_RIGHT_LIST, 0, 17, 0 },
	{ RECEPTION, "/", MEDFS_RIGHT_LIST, 0, 17, 0 },
	{ MARTIN, "/studies/2026/ct-0042/IM0001", MEDFS_RIGHT_READ, 0, 0, 0 },
	{ MARTIN_EM, "/studies/2026/ct-0042/IM0001", MEDFS_RIGHT_READ, 1, 21, 1 },
	{ MARTIN_EM, "/studies/2026/ct-0042/IM0001", MEDFS_RIGHT_WRITE, 0, 0, 0 },
	{ ROOT, "/studies/2026/ct-0042/IM0001", MEDFS_RIGHT_READ, 0, 0, 0 },
	{ ROOT, "/", MEDFS_RIGHT_LIST, 0, 0, 0 },
};

START_TEST(test_decide_doc)
{
	struct medfs_policy *p = NULL;
	struct diags ds;

	ck_assert_int_eq(parse(doc_example, &ds, &p), 0);
	ck_assert_uint_eq(ds.n, 0);
	ck_assert_uint_eq(medfs_policy_emergency_seconds(p), 7200);
	run_decide(p, &doc_cases[_i], _i);
	medfs_policy_free(p);
}
END_TEST

/* The pattern table of doc/POLICY.md. */
static const struct {
	const char *pattern, *path;
	int match;
} doc_patterns[] = {
	{ "/", "/", 1 },
	{ "/", "/a", 0 },
	{ "/**", "/", 1 },
	{ "/**", "/a/b/c", 1 },
	{ "/studies", "/studies", 1 },
	{ "/studies", "/studies/a", 0 },
	{ "/studies", "/studies2", 0 },
	{ "/studies/*", "/studies/a", 1 },
	{ "/studies/*", "/studies/.x", 1 },
	{ "/studies/*", "/studies", 0 },
	{ "/studies/*", "/studies/a/b", 0 },
	{ "/studies/**", "/studies", 1 },
	{ "/studies/**", "/studies/a", 1 },
	{ "/studies/**", "/studies/a/b/c", 1 },
	{ "/studies/**", "/studiesX", 0 },
	{ "/studies/**", "/x/studies", 0 },
	{ "/studies/*.dcm", "/studies/ct.dcm", 1 },
	{ "/studies/*.dcm", "/studies/.dcm", 1 },
	{ "/studies/*.dcm", "/studies/a/ct.dcm", 0 },
	{ "/a*b/c", "/ab/c", 1 },
	{ "/a*b/c", "/axyb/c", 1 },
	{ "/a*b/c", "/abc/c", 0 },
	{ "/a*b/c", "/a/b/c", 0 },
	{ "/deep/**/x.dcm", "/deep/x.dcm", 1 },
	{ "/deep/**/x.dcm", "/deep/a/b/x.dcm", 1 },
	{ "/deep/**/x.dcm", "/deep/a/x.dcmz", 0 },
	{ "/*/reports/**", "/2026/reports", 1 },
	{ "/*/reports/**", "/2026/reports/r1", 1 },
	{ "/*/reports/**", "/reports", 0 },
	{ "\"/teaching files/*\"", "/teaching files/case1", 1 },
	{ "\"/teaching files/*\"", "/teaching/files", 0 },
	{ "/a/**/**/b", "/a/b", 1 },
	{ "/a/**/b/**", "/a/x/b/y/b/z", 1 },
	{ "/*/*", "/a", 0 },
};

START_TEST(test_patterns_doc)
{
	struct medfs_subject s = SUBJ(1, 1, NULL, 0);
	struct medfs_decision d;
	struct medfs_policy *p;
	char text[256];

	snprintf(text, sizeof(text), "allow user:1 read %s\n", doc_patterns[_i].pattern);
	p = parse_ok(text);
	medfs_policy_decide(p, &s, doc_patterns[_i].path, MEDFS_RIGHT_READ, &d);
	if (d.allowed != doc_patterns[_i].match)
		ck_abort_msg("%s on %s: %d", doc_patterns[_i].pattern,
			     doc_patterns[_i].path, d.allowed);
	medfs_policy_free(p);
}
END_TEST

START_TEST(test_decide_empty)
{
	struct medfs_subject s = ALICE;
	struct medfs_decision d;
	struct medfs_policy *p = parse_ok("# nothing\n");

	medfs_policy_decide(p, &s, "/", MEDFS_RIGHT_LIST, &d);
	ck_assert_int_eq(d.allowed, 0);
	ck_assert_uint_eq(d.line, 0);
	medfs_policy_decide(NULL, &s, "/", MEDFS_RIGHT_LIST, &d);
	ck_assert_int_eq(d.allowed, 0);
	ck_assert_int_eq(medfs_policy_emergency_eligible(p, &s), 0);
	ck_assert_uint_eq(medfs_policy_emergency_seconds(p), 3600);
	medfs_policy_free(p);
	medfs_policy_free(NULL);
}
END_TEST

/* Deep paths and patterns: the matcher neither allocates nor recurses. */
START_TEST(test_decide_deep)
{
	struct medfs_subject s = SUBJ(1, 1, NULL, 0);
	char text[8192], path[8192];
	struct medfs_decision d;
	struct medfs_policy *p;
	size_t n = 0;
	int i;

	n += (size_t)snprintf(text, sizeof(text), "allow user:1 read ");
	for (i = 0; i < 31; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "/**/a*");
	snprintf(text + n, sizeof(text) - n, "\n");
	p = parse_ok(text);
	n = 0;
	for (i = 0; i < 2000; i++)
		n += (size_t)snprintf(path + n, sizeof(path) - n, "/ab");
	medfs_policy_decide(p, &s, path, MEDFS_RIGHT_READ, &d);
	ck_assert_int_eq(d.allowed, 1);
	path[n - 2] = 'x';
	medfs_policy_decide(p, &s, path, MEDFS_RIGHT_READ, &d);
	ck_assert_int_eq(d.allowed, 0);
	medfs_policy_free(p);

	/* 63 segments is the deepest pattern. */
	n = (size_t)snprintf(text, sizeof(text), "allow user:1 read ");
	for (i = 0; i < 63; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "/s");
	p = parse_ok(text);
	medfs_policy_free(p);
	snprintf(text + n, sizeof(text) - n, "/s");
	{
		struct diags ds;

		ck_assert_int_eq(parse(text, &ds, &p), -EINVAL);
		ck_assert_uint_eq(ds.v[0].column, 19);
	}
}
END_TEST

START_TEST(test_names_program)
{
	struct medfs_policy *p;

	ck_assert_int_eq(medfs_policy_names_program(NULL), 0);
	p = parse_ok("version 1\nallow user:alice list,read /a/**\n");
	ck_assert_int_eq(medfs_policy_names_program(p), 0);
	medfs_policy_free(p);
	p = parse_ok("allow user:alice list /a\n"
		     "deny everyone program /usr/bin/cp read /a/**\n");
	ck_assert_int_eq(medfs_policy_names_program(p), 1);
	medfs_policy_free(p);
}
END_TEST

START_TEST(test_emergency)
{
	struct medfs_subject phys = PHYS, alice = ALICE, radio = RADIO;
	struct medfs_policy *p;

	p = parse_ok(policy1);
	ck_assert_uint_eq(medfs_policy_emergency_seconds(p), 900);
	ck_assert_int_eq(medfs_policy_emergency_eligible(p, &phys), 1);
	phys.emergency = 1;
	ck_assert_int_eq(medfs_policy_emergency_eligible(p, &phys), 1);
	ck_assert_int_eq(medfs_policy_emergency_eligible(p, &alice), 0);
	ck_assert_int_eq(medfs_policy_emergency_eligible(p, &radio), 0);
	medfs_policy_free(p);

	/* No duration given: one hour. */
	p = parse_ok("emergency allow everyone read /**\n");
	ck_assert_uint_eq(medfs_policy_emergency_seconds(p), 3600);
	ck_assert_int_eq(medfs_policy_emergency_eligible(p, &alice), 1);
	medfs_policy_free(p);
	p = parse_ok("emergency-duration 24h\n"
		     "emergency allow user:alice program /bin/x read /**\n");
	ck_assert_uint_eq(medfs_policy_emergency_seconds(p), 86400);
	/* The program is checked at decision time, not for eligibility. */
	ck_assert_int_eq(medfs_policy_emergency_eligible(p, &alice), 1);
	medfs_policy_free(p);
	p = parse_ok("emergency-duration 90s\nemergency allow user:alice read /x\n");
	ck_assert_uint_eq(medfs_policy_emergency_seconds(p), 90);
	medfs_policy_free(p);
	p = parse_ok("emergency-duration 1s\nemergency allow user:alice read /x\n");
	ck_assert_uint_eq(medfs_policy_emergency_seconds(p), 1);
	medfs_policy_free(p);
	p = parse_ok("emergency-duration 1440m\nemergency allow user:alice read /x\n");
	ck_assert_uint_eq(medfs_policy_emergency_seconds(p), 86400);
	medfs_policy_free(p);
}
END_TEST

/* ---- Warnings ---- */

/* Appended to the cases about other warnings, so that every path can be
 * looked up and only the warning under test shows. */
#define LIST_ALL "allow everyone list /**\n"

static const struct warn_case {
	const char *text;
	unsigned warnings, line, column;
	const char *contains;
} warn_cases[] = {
	{ "allow user:alice read /x\nallow user:alice read /x\n" LIST_ALL, 1, 2, 1,
	  "duplicate" },
	{ "allow user:alice read /x\nallow user:alice read \"/x\"\n" LIST_ALL, 1, 2, 1,
	  "duplicate" },
	{ "deny user:alice all /x\ndeny user:alice all /x\n" LIST_ALL, 1, 2, 1,
	  "line 1" },
	{ "deny user:alice read /x\nallow user:alice read /x\n" LIST_ALL, 1, 2, 1,
	  "never" },
	{ "deny user:alice all /**\nallow user:alice read /studies/*/a\n" LIST_ALL, 1, 2,
	  1, "never" },
	{ "allow user:alice read /x\ndeny user:alice all /x\n" LIST_ALL, 1, 1, 1,
	  "line 2" },
	{ "deny user:alice write /**\nallow user:alice read,write /x\n" LIST_ALL, 1, 2, 1,
	  "write" },
	{ "deny user:alice read /**\ndeny user:alice write /a/**\n"
	  "allow user:alice read,write /a/b\n" LIST_ALL,
	  1, 3, 1, "never" },
	{ "deny everyone read /a/**\nallow group:radiology read /a/b\n" LIST_ALL, 1, 2, 1,
	  "never" },
	{ "deny user:alice read /a/*\nallow user:alice read /a/b*\n" LIST_ALL, 1, 2, 1,
	  "never" },
	{ "deny user:alice read /a/*b\nallow user:alice read /a/x*yb\n" LIST_ALL, 1, 2, 1,
	  "never" },
	{ "deny user:alice read /a/**\nallow user:alice read /a/**/c\n" LIST_ALL, 1, 2, 1,
	  "never" },
	{ "deny user:alice read /**/c\nallow user:alice read /a/**/c\n" LIST_ALL, 1, 2, 1,
	  "never" },
	{ "deny user:alice read /**\nemergency allow user:alice read /x\n" LIST_ALL, 1, 2,
	  1, "never" },
	{ "deny user:alice read /**\nallow user:alice program /bin/x read /x\n" LIST_ALL,
	  1, 2, 1, "never" },
	{ "allow user:alice program /usr/bin/* read /x\n" LIST_ALL, 1, 1, 26,
	  "compared exactly" },
	{ "# nothing\n", 1, 1, 1, "no rules" },
	{ "", 1, 1, 1, "no rules" },
	{ "emergency-duration 10m\nallow user:alice read /x\n" LIST_ALL, 1, 1, 1,
	  "no rule is an emergency" },
	/* not shadowed */
	{ "deny user:bob all /**\nallow user:alice read /x\n" LIST_ALL, 0, 0, 0, NULL },
	{ "deny user:alice read /a/b*\nallow user:alice read /a/*\n" LIST_ALL, 0, 0, 0,
	  NULL },
	{ "deny user:alice read /a/*\nallow user:alice read /a/**\n" LIST_ALL, 0, 0, 0,
	  NULL },
	{ "deny user:alice read /a/x*b\nallow user:alice read /a/*b\n" LIST_ALL, 0, 0, 0,
	  NULL },
	{ "deny user:alice read /a\nallow user:alice read /a/**\n" LIST_ALL, 0, 0, 0,
	  NULL },
	{ "deny group:radiology all /**\nallow user:alice read /x\n" LIST_ALL, 0, 0, 0,
	  NULL },
	{ "deny user:alice program /bin/x all /**\nallow user:alice read /x\n" LIST_ALL,
	  0, 0, 0, NULL },
	{ "deny user:alice read /x\nallow user:alice write /x\n" LIST_ALL, 0, 0, 0,
	  NULL },
	{ "allow user:alice read /x\nemergency allow user:alice read /x\n" LIST_ALL, 0, 0,
	  0, NULL },
	{ "emergency allow user:alice read /x\n" LIST_ALL, 0, 0, 0, NULL },
	/* paths that cannot be looked up (lookups need list) */
	{ "allow user:alice read /x\n", 1, 1, 1, "cannot be looked up" },
	{ "allow user:alice read,write,create /x/*.dcm\n", 1, 1, 1,
	  "cannot be looked up" },
	{ "allow user:alice read /x\nallow group:radiology list /**\n", 1, 1, 1,
	  "cannot be looked up" },
	{ "allow user:alice read /x\nemergency allow user:alice list /x\n", 1, 1, 1,
	  "cannot be looked up" },
	{ "allow user:alice read /x\nallow user:alice program /bin/v list /**\n", 1, 1, 1,
	  "cannot be looked up" },
	{ "allow user:alice read /x/*\nallow user:alice list /x/**\n", 0, 0, 0, NULL },
	{ "allow user:alice read /x/*\nallow user:alice create /x/**\n", 0, 0, 0, NULL },
	{ "allow user:alice read /x/**\n", 0, 0, 0, NULL },
	{ "allow user:alice read /\n", 0, 0, 0, NULL },
	{ "allow user:alice list,read /x\n", 0, 0, 0, NULL },
	{ "allow user:alice read /x\nallow everyone list /x\n", 0, 0, 0, NULL },
	{ "emergency allow user:alice read /x\nemergency allow user:alice list /x\n", 0,
	  0, 0, NULL },
	{ "emergency allow user:alice read /x\nallow user:alice list /x\n", 0, 0, 0,
	  NULL },
	{ "allow user:alice program /bin/v read /x\nallow user:alice list /**\n", 0, 0, 0,
	  NULL },
};

START_TEST(test_warnings)
{
	const struct warn_case *c = &warn_cases[_i];
	struct medfs_policy *p = NULL;
	struct diags ds;

	ck_assert_int_eq(parse(c->text, &ds, &p), 0);
	medfs_policy_free(p);
	ck_assert_uint_eq(ds.errors, 0);
	if (ds.warnings != c->warnings)
		ck_abort_msg("case %d: %u warnings (first: %s), expected %u", _i,
			     ds.warnings, ds.n ? ds.v[0].message : "-", c->warnings);
	if (c->warnings == 0)
		return;
	ck_assert_uint_eq(ds.v[0].line, c->line);
	ck_assert_uint_eq(ds.v[0].column, c->column);
	if (strstr(ds.v[0].message, c->contains) == NULL)
		ck_abort_msg("case %d: '%s' lacks '%s'", _i, ds.v[0].message,
			     c->contains);
}
END_TEST

/* ---- Digest, names ---- */

START_TEST(test_digest)
{
	static const char a[] = "allow user:1 read /a\n", b[] = "allow user:1 read /b\n";
	uint8_t da[32], da2[32], db[32], want[32];
	struct medfs_policy *p;

	p = parse_ok(a);
	medfs_policy_digest(p, da);
	medfs_policy_free(p);
	p = parse_ok(a);
	medfs_policy_digest(p, da2);
	medfs_policy_free(p);
	p = parse_ok(b);
	medfs_policy_digest(p, db);
	medfs_policy_free(p);
	ck_assert_mem_eq(da, da2, 32);
	ck_assert(memcmp(da, db, 32) != 0);
	crypto_generichash(want, 32, (const uint8_t *)a, strlen(a), NULL, 0);
	ck_assert_mem_eq(da, want, 32);
	/* A comment is part of the text too. */
	p = parse_ok("allow user:1 read /a\n# changed\n");
	medfs_policy_digest(p, db);
	medfs_policy_free(p);
	ck_assert(memcmp(da, db, 32) != 0);
}
END_TEST

START_TEST(test_right_names)
{
	static const char *const n[] = { "list",   "read",   "write",
					 "create", "delete", "setattr" };
	unsigned i;

	for (i = 0; i < N(n); i++) {
		ck_assert_str_eq(medfs_right_name(1u << i), n[i]);
		ck_assert_uint_eq(medfs_right_from_name(n[i]), 1u << i);
	}
	ck_assert_str_eq(medfs_right_name(0), "?");
	ck_assert_str_eq(medfs_right_name(3), "?");
	ck_assert_str_eq(medfs_right_name(64), "?");
	ck_assert_uint_eq(medfs_right_from_name("all"), 0);
	ck_assert_uint_eq(medfs_right_from_name("READ"), 0);
	ck_assert_uint_eq(medfs_right_from_name(""), 0);
	ck_assert_uint_eq(medfs_right_from_name(NULL), 0);
}
END_TEST

START_TEST(test_rights_all)
{
	struct medfs_subject s = ALICE;
	struct medfs_decision d;
	struct medfs_policy *p;
	unsigned r;

	p = parse_ok(
		"allow user:alice all /a\nallow user:alice create,delete,setattr /b\n");
	for (r = 1; r <= 32; r <<= 1) {
		medfs_policy_decide(p, &s, "/a", r, &d);
		ck_assert_int_eq(d.allowed, 1);
		medfs_policy_decide(p, &s, "/b", r, &d);
		ck_assert_int_eq(d.allowed, r == MEDFS_RIGHT_CREATE ||
						    r == MEDFS_RIGHT_DELETE ||
						    r == MEDFS_RIGHT_SETATTR);
	}
	medfs_policy_free(p);
}
END_TEST

/* ---- Reading a policy file ---- */

static char dir[64];
static char file[128];

static void file_setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/medfs-test-policy-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/policy", dir);
}

static void file_teardown(void)
{
	char path[160];

	chmod(dir, 0700);
	unlink(file);
	snprintf(path, sizeof(path), "%s/link", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/sub", dir);
	rmdir(path);
	rmdir(dir);
}

static void write_file(const char *path, const char *text, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	ck_assert_int_eq(chmod(path, mode), 0);
}

START_TEST(test_read_file)
{
	static const char t[] = "allow user:1 read /x\n";
	char why[256], *text = NULL, link[160];
	size_t len;

	write_file(file, t, strlen(t), 0600);
	ck_assert_int_eq(chmod(dir, 0755), 0);
	ck_assert_int_eq(
		medfs_policy_read_file(file, getuid(), &text, &len, why, sizeof(why)), 0);
	ck_assert_uint_eq(len, strlen(t));
	ck_assert_str_eq(text, t);
	free(text);

	/* Readable by others is fine; writable is not. */
	ck_assert_int_eq(chmod(file, 0644), 0);
	ck_assert_int_eq(
		medfs_policy_read_file(file, getuid(), &text, &len, why, sizeof(why)), 0);
	free(text);
	ck_assert_int_eq(chmod(file, 0664), 0);
	ck_assert_int_eq(
		medfs_policy_read_file(file, getuid(), &text, &len, why, sizeof(why)),
		-EPERM);
	ck_assert_ptr_nonnull(strstr(why, "writable by group or others"));
	ck_assert_int_eq(chmod(file, 0602), 0);
	ck_assert_int_eq(
		medfs_policy_read_file(file, getuid(), &text, &len, why, sizeof(why)),
		-EPERM);
	ck_assert_int_eq(chmod(file, 0600), 0);

	/* Its directory: not writable by others, unless sticky. */
	ck_assert_int_eq(chmod(dir, 0777), 0);
	ck_assert_int_eq(
		medfs_policy_read_file(file, getuid(), &text, &len, why, sizeof(why)),
		-EPERM);
	ck_assert_ptr_nonnull(strstr(why, "directory"));
	ck_assert_int_eq(chmod(dir, 0775), 0);
	ck_assert_int_eq(
		medfs_policy_read_file(file, getuid(), &text, &len, why, sizeof(why)),
		-EPERM);
	ck_assert_int_eq(chmod(dir, 01777), 0);
	ck_assert_int_eq(
		medfs_policy_read_file(file, getuid(), &text, &len, why, sizeof(why)), 0);
	free(text);
	ck_assert_int_eq(chmod(dir, 0755), 0);

	/* A symbolic link is followed, and the real file checked. */
	snprintf(link, sizeof(link), "%s/link", dir);
	ck_assert_int_eq(symlink(file, link), 0);
	ck_assert_int_eq(
		medfs_policy_read_file(link, getuid(), &text, &len, why, sizeof(why)), 0);
	free(text);
	ck_assert_int_eq(chmod(file, 0666), 0);
	ck_assert_int_eq(
		medfs_policy_read_file(link, getuid(), &text, &len, why, sizeof(why)),
		-EPERM);
	ck_assert_int_eq(chmod(file, 0600), 0);

	/* Not a regular file; missing. */
	ck_assert_int_eq(
		medfs_policy_read_file(dir, getuid(), &text, &len, why, sizeof(why)),
		-EPERM);
	ck_assert_ptr_nonnull(strstr(why, "not a regular file"));
	snprintf(link, sizeof(link), "%s/sub", dir);
	ck_assert_int_eq(
		medfs_policy_read_file(link, getuid(), &text, &len, why, sizeof(why)),
		-ENOENT);
	ck_assert_ptr_nonnull(strstr(why, link));
	/* why may be NULL. */
	ck_assert_int_eq(medfs_policy_read_file(link, getuid(), &text, &len, NULL, 0),
			 -ENOENT);
}
END_TEST

START_TEST(test_read_file_size)
{
	char why[256], *text = NULL, *big;
	size_t len;

	big = malloc((1 << 20) + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, '#', (1 << 20) + 1);
	write_file(file, big, 1 << 20, 0600);
	ck_assert_int_eq(
		medfs_policy_read_file(file, getuid(), &text, &len, why, sizeof(why)), 0);
	ck_assert_uint_eq(len, 1 << 20);
	free(text);
	write_file(file, big, (1 << 20) + 1, 0600);
	ck_assert_int_eq(
		medfs_policy_read_file(file, getuid(), &text, &len, why, sizeof(why)),
		-EFBIG);
	ck_assert_ptr_nonnull(strstr(why, "1 MiB"));
	write_file(file, "", 0, 0600);
	ck_assert_int_eq(
		medfs_policy_read_file(file, getuid(), &text, &len, why, sizeof(why)), 0);
	ck_assert_uint_eq(len, 0);
	ck_assert_str_eq(text, "");
	free(text);
	free(big);
}
END_TEST

/* Ownership: needs root to give the file away. */
START_TEST(test_read_file_owner)
{
	static const char t[] = "allow user:1 read /x\n";
	char why[256], *text = NULL;
	size_t len;

	if (geteuid() != 0)
		return;
	write_file(file, t, strlen(t), 0600);
	ck_assert_int_eq(chmod(dir, 0755), 0);
	/* Owned by root: trusted whoever mounts. */
	ck_assert_int_eq(
		medfs_policy_read_file(file, 4242, &text, &len, why, sizeof(why)), 0);
	free(text);
	/* Owned by the mounting user: trusted; by another: refused. */
	ck_assert_int_eq(chown(file, 4242, 4242), 0);
	ck_assert_int_eq(
		medfs_policy_read_file(file, 4242, &text, &len, why, sizeof(why)), 0);
	free(text);
	ck_assert_int_eq(
		medfs_policy_read_file(file, 4343, &text, &len, why, sizeof(why)),
		-EPERM);
	ck_assert_ptr_nonnull(strstr(why, "owned by uid 4242"));
	/* The directory too. */
	ck_assert_int_eq(chown(file, 0, 0), 0);
	ck_assert_int_eq(chown(dir, 4242, 4242), 0);
	ck_assert_int_eq(
		medfs_policy_read_file(file, 4343, &text, &len, why, sizeof(why)),
		-EPERM);
	ck_assert_ptr_nonnull(strstr(why, "directory"));
	ck_assert_int_eq(
		medfs_policy_read_file(file, 4242, &text, &len, why, sizeof(why)), 0);
	free(text);
	ck_assert_int_eq(chown(dir, 0, 0), 0);
}
END_TEST

/* Renames: the issue-14 policy (a deny below a directory the caller
 * otherwise owns), rules of other subjects, globs, exchanges. */
static const char move_policy[] =
	"allow user:alice all /reports/**\n"		   /* 1 */
	"deny user:alice all /reports/x/secret.txt\n"	   /* 2 */
	"allow group:radiology list,read /studies/*.dcm\n" /* 3 */
	"allow user:bob all /studies/**\n"		   /* 4 */
	"allow user:carol all /a/*/c\n"			   /* 5 */
	"allow user:carol list,create,delete /a/**\n"	   /* 6 */
	"emergency allow user:bob read /reports/y/**\n"	   /* 7 */
	"deny user:carol read /a/p/f\n";		   /* 8 */

static const struct move_case {
	struct medfs_subject s;
	const char *from;
	int from_dir;
	const char *to;
	int allowed;
	unsigned line;
} move_cases[] = {
	/* Renaming the parent of a denied file would escape the deny. */
	{ ALICE, "/reports/x", 1, "/reports/z", 0, 2 },
	/* So would renaming the file itself, which alice may not read. */
	{ ALICE, "/reports/x/secret.txt", 0, "/reports/x/s2.txt", 0, 2 },
	/* Other directories of /reports: every rule sees them alike... */
	{ ALICE, "/reports/a", 1, "/reports/b", 1, 0 },
	{ ALICE, "/reports/a/f", 0, "/reports/b/g", 1, 0 },
	/* ...but not /reports/y, where an emergency rule (of another
	 * subject) opens more: only a renamer who could copy and delete
	 * everything there may move a directory there. Alice may. */
	{ ALICE, "/reports/a", 1, "/reports/y", 1, 1 },
	{ ALICE, "/reports/y", 1, "/reports/a", 1, 1 },
	{ BOB, "/reports/a", 1, "/reports/y", 0, 7 },
	{ NOBODY, "/reports/y", 1, "/reports/a", 0, 7 },
	/* Into /reports/x she may (she could copy z there), so an exchange
	 * is refused by its other half only. */
	{ ALICE, "/reports/z", 1, "/reports/x", 1, 1 },
	/* A file alice may read may go there: she could copy it. */
	{ ALICE, "/reports/a/f", 0, "/reports/y/f", 1, 1 },
	/* Bob renaming a .tmp to a .dcm opens it to radiology: he could
	 * copy it, so it is allowed for a file he may read... */
	{ BOB, "/studies/a.tmp", 0, "/studies/a.dcm", 1, 4 },
	/* ...and for a directory, as he may list, read and delete all of
	 * it; not for someone who may not. */
	{ BOB, "/studies/d.tmp", 1, "/studies/d.dcm", 1, 4 },
	{ RADIO, "/studies/d.tmp", 1, "/studies/d.dcm", 0, 3 },
	{ PHYS_EM, "/reports/a", 1, "/reports/y", 0, 7 },
	{ BOB, "/studies/d1", 1, "/studies/d2", 1, 0 },
	/* A glob segment matches both names: alike. */
	{ CAROL, "/a/q", 1, "/a/r", 1, 0 },
	/* Carol's deny below /a/p tells it apart. */
	{ CAROL, "/a/p", 1, "/a/q", 0, 8 },
	{ CAROL, "/a/q/f", 0, "/a/p/f", 0, 8 },
	/* Deeper levels: /a/q/c is matched by rule 5, /a/q/d/c is not;
	 * nothing tells /a/q/e and /a/q/d/e apart. */
	{ CAROL, "/a/q/c", 0, "/a/q/d/c", 1, 5 }, /* she may read it */
	{ CAROL, "/a/q/e", 1, "/a/q/d/e", 1, 0 },
	/* Moving the root, or into it, never. */
	{ ALICE, "/", 1, "/reports/r", 0, 0 },
	{ ALICE, "/reports/a", 1, "/", 0, 0 },
	{ ALICE, "/reports/a", 1, "/reports/../x", 0, 0 },
};

START_TEST(test_decide_move)
{
	const struct move_case *c = &move_cases[_i];
	struct medfs_policy *p = parse_ok(move_policy);
	struct medfs_decision d;

	medfs_policy_decide_move(p, &c->s, c->from, c->from_dir, c->to, &d);
	ck_assert_msg(d.allowed == c->allowed && d.line == c->line,
		      "case %d: %s -> %s: allowed %d line %u, expected %d line %u", _i,
		      c->from, c->to, d.allowed, d.line, c->allowed, c->line);
	ck_assert_int_eq(d.emergency, 0);
	medfs_policy_free(p);
}
END_TEST

/* A move allowed to a subject without any right (so only because the
 * rules see both paths alike) leaves every decision of every subject at
 * and below the two paths as it was. */
START_TEST(test_decide_move_oracle)
{
	static const struct medfs_subject subjects[] = { ALICE, BOB,	CAROL,
							 RADIO, NOBODY, PHYS_EM };
	static const char *const dirs[] = { "/reports/x",     "/reports/z",
					    "/reports/y",     "/studies/d.tmp",
					    "/studies/d.dcm", "/studies/d1",
					    "/a/p",	      "/a/q",
					    "/a/q/d" };
	static const struct medfs_subject nobody = NOBODY;
	static const char *const tails[] = { "",     "/secret.txt", "/c",    "/f",
					     "/d/c", "/x.dcm",	    "/s/t/u" };
	struct medfs_policy *p = parse_ok(move_policy);
	struct medfs_decision d, d1, d2;
	char a[128], b[128];

	for (size_t i = 0; i < N(dirs); i++) {
		for (size_t j = 0; j < N(dirs); j++) {
			medfs_policy_decide_move(p, &nobody, dirs[i], 1, dirs[j], &d);
			if (!d.allowed)
				continue;
			for (size_t k = 0; k < N(tails); k++) {
				snprintf(a, sizeof(a), "%s%s", dirs[i], tails[k]);
				snprintf(b, sizeof(b), "%s%s", dirs[j], tails[k]);
				for (size_t u = 0; u < N(subjects); u++) {
					for (unsigned r = 1; r <= MEDFS_RIGHT_ALL;
					     r <<= 1) {
						medfs_policy_decide(p, &subjects[u], a, r,
								    &d1);
						medfs_policy_decide(p, &subjects[u], b, r,
								    &d2);
						ck_assert_msg(
							d1.allowed == d2.allowed &&
								d1.emergency ==
									d2.emergency,
							"%s and %s differ", a, b);
					}
				}
			}
		}
	}
	medfs_policy_free(p);
}
END_TEST

static Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_bad, 0, N(bad_cases));
	tcase_add_test(tc, test_messages);
	tcase_add_test(tc, test_too_many_errors);
	tcase_add_test(tc, test_no_resolver);
	tcase_add_test(tc, test_embedded_nul);
	tcase_add_loop_test(tc, test_warnings, 0, N(warn_cases));
	tcase_add_test(tc, test_digest);
	tcase_add_test(tc, test_right_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("decide");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_decide_policy1, 0, N(policy1_cases));
	tcase_add_loop_test(tc, test_decide_policy2, 0, N(policy2_cases));
	tcase_add_loop_test(tc, test_decide_doc, 0, N(doc_cases));
	tcase_add_loop_test(tc, test_patterns_doc, 0, N(doc_patterns));
	tcase_add_test(tc, test_decide_empty);
	tcase_add_test(tc, test_decide_deep);
	tcase_add_test(tc, test_names_program);
	tcase_add_test(tc, test_emergency);
	tcase_add_test(tc, test_rights_all);
	tcase_add_loop_test(tc, test_decide_move, 0, N(move_cases));
	tcase_add_test(tc, test_decide_move_oracle);
	suite_add_tcase(s, tc);

	tc = tcase_create("file");
	tcase_add_checked_fixture(tc, file_setup, file_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_read_file);
	tcase_add_test(tc, test_read_file_size);
	tcase_add_test(tc, test_read_file_owner);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (medfs_crypto_init() != 0)
		return EXIT_FAILURE;
	sr = srunner_create(policy_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
