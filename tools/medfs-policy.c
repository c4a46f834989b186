/* medfs-policy: checks a medfs access policy and explains its decisions.
 *
 * One function per subcommand, dispatched from a table as in medfs-key.
 * Each gets argv starting at its own name and returns the exit status. The
 * policy is parsed by the library exactly as the driver parses it, with
 * user and group names resolved by getpwnam/getgrnam. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "medfs/policy.h"
#include "medfs/procid.h"
#include "subcommand.h"

#define PROG "medfs-policy"
#define POLICY_FILE_MAX (1 << 20)
#define MAX_GROUPS 65536

struct diags {
	struct medfs_policy_diag *v;
	size_t n, cap;
	unsigned errors, warnings;
	int nomem;
};

static void collect(void *ctx, const struct medfs_policy_diag *d)
{
	struct diags *ds = ctx;
	struct medfs_policy_diag *v;

	if (d->warning)
		ds->warnings++;
	else
		ds->errors++;
	if (ds->n == ds->cap) {
		ds->cap = ds->cap ? 2 * ds->cap : 16;
		v = realloc(ds->v, ds->cap * sizeof(*v));
		if (v == NULL) {
			ds->nomem = 1;
			return;
		}
		ds->v = v;
	}
	ds->v[ds->n++] = *d;
}

/* Sorts by position, keeping the library's order at equal positions (an
 * insertion sort: stable, and there are at most a couple hundred). */
static void sort_diags(struct diags *ds)
{
	struct medfs_policy_diag d;
	size_t i, j;

	for (i = 1; i < ds->n; i++) {
		d = ds->v[i];
		for (j = i; j > 0 && (ds->v[j - 1].line > d.line ||
				      (ds->v[j - 1].line == d.line &&
				       ds->v[j - 1].column > d.column));
		     j--)
			ds->v[j] = ds->v[j - 1];
		ds->v[j] = d;
	}
}

static void print_diags(FILE *f, const char *file, struct diags *ds)
{
	size_t i;

	sort_diags(ds);
	for (i = 0; i < ds->n; i++)
		fprintf(f, "%s:%u:%u: %s: %s\n", file, ds->v[i].line, ds->v[i].column,
			ds->v[i].warning ? "warning" : "error", ds->v[i].message);
}

static int resolve(void *ctx, int is_group, const char *name, unsigned long *id)
{
	struct passwd *pw;
	struct group *gr;

	(void)ctx;
	if (is_group) {
		gr = getgrnam(name);
		if (gr == NULL)
			return -ENOENT;
		*id = gr->gr_gid;
	} else {
		pw = getpwnam(name);
		if (pw == NULL)
			return -ENOENT;
		*id = pw->pw_uid;
	}
	return 0;
}

/* Reads a file without the trust checks (up to the same size limit). */
static int slurp(const char *path, char **text, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = NULL, *nbuf;
	ssize_t r;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (buf == NULL || n == cap) {
			if (buf != NULL)
				cap *= 2;
			nbuf = realloc(buf, cap + 1);
			if (nbuf == NULL) {
				ret = -ENOMEM;
				break;
			}
			buf = nbuf;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > POLICY_FILE_MAX) {
			ret = -EFBIG;
			break;
		}
	}
	close(fd);
	if (ret < 0) {
		free(buf);
		return ret;
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return 0;
}

static void check_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " check FILE\n"
		"\n"
		"Checks a policy file as the medfs driver would load it. Prints each\n"
		"problem as FILE:LINE:COLUMN: error: MESSAGE (or warning:). Users and\n"
		"groups are looked up on this system; an unknown name is an error, as\n"
		"the driver refuses such a policy. Warns when the file would fail the\n"
		"mount's ownership and mode checks (for a mount by the current user).\n"
		"\n"
		"Exit status: 0 valid (warnings allowed), 1 invalid, 2 usage error or\n"
		"the file cannot be read.\n");
}

static int cmd_check(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct medfs_policy *p = NULL;
	struct medfs_progtab *t = NULL;
	struct diags ds = { 0 };
	const char *hole = NULL;
	char why[512], untrusted[512] = "";
	const char *file;
	char *text = NULL;
	size_t len;
	int c, ret, status = EXIT_USAGE;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 'h') {
			check_usage(stdout);
			return EXIT_SUCCESS;
		}
		check_usage(stderr);
		return EXIT_USAGE;
	}
	if (argc - optind != 1) {
		check_usage(stderr);
		return EXIT_USAGE;
	}
	file = argv[optind];

	ret = medfs_policy_read_file(file, getuid(), &text, &len, why, sizeof(why));
	if (ret == -EPERM) {
		/* Still worth checking: it may not be installed yet. */
		snprintf(untrusted, sizeof(untrusted), "%s", why);
		ret = slurp(file, &text, &len);
		if (ret == -EFBIG)
			snprintf(why, sizeof(why), "%s is larger than 1 MiB", file);
		else if (ret < 0)
			snprintf(why, sizeof(why), "%s: %s", file, strerror(-ret));
	}
	if (ret == -EFBIG) {
		printf("%s: error: %s\n", file, why);
		return EXIT_FAILURE;
	} else if (ret < 0) {
		fprintf(stderr, PROG ": %s\n", why);
		return EXIT_USAGE;
	}

	ret = medfs_policy_parse(text, len, resolve, NULL, collect, &ds, &p);
	if (ret == 0 && medfs_policy_names_program(p)) {
		/* The programs as this machine has them, as a mount binds them. */
		if (medfs_progtab_new(p, collect, &ds, &t) < 0)
			ds.nomem = 1;
		hole = medfs_procid_ptrace_open(medfs_procid_ptrace_scope());
	}
	if (ret == -ENOMEM || ds.nomem) {
		fprintf(stderr, PROG ": out of memory\n");
		goto out;
	}
	print_diags(stdout, file, &ds);
	if (untrusted[0] != '\0') {
		printf("%s: warning: a mount would refuse this file: %s\n", file,
		       untrusted);
		ds.warnings++;
	}
	if (hole != NULL) {
		printf("%s: warning: rules bound to programs do not hold against a user "
		       "who debugs the program: %s\n",
		       file, hole);
		ds.warnings++;
	}
	if (ret == 0) {
		printf("%s: valid policy", file);
		if (ds.warnings)
			printf(" (%u warning%s)", ds.warnings,
			       ds.warnings > 1 ? "s" : "");
		printf("\n");
		status = EXIT_SUCCESS;
	} else {
		printf("%s: invalid policy: %u error%s\n", file, ds.errors,
		       ds.errors > 1 ? "s" : "");
		status = EXIT_FAILURE;
	}
out:
	medfs_progtab_free(t);
	medfs_policy_free(p);
	free(ds.v);
	free(text);
	return status;
}

static void explain_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " explain FILE --user NAME|UID [--group NAME|GID]...\n"
		"                    [--program PATH] [--emergency] PATH RIGHT\n"
		"\n"
		"Says whether the policy in FILE lets a user exercise RIGHT on PATH, a "
		"path\n"
		"inside the mount starting with '/', and which rule decided. RIGHT is "
		"one\n"
		"of list, read, write, create, delete, setattr.\n"
		"\n"
		"Options:\n"
		"  -u, --user NAME|UID     the caller; with its primary and "
		"supplementary\n"
		"                          groups from the system when it has an "
		"account\n"
		"  -g, --group NAME|GID    one more group of the caller (repeatable)\n"
		"  -p, --program PATH      the caller's executable (for program rules)\n"
		"  -e, --emergency         the caller holds an active emergency grant\n"
		"  -h, --help              show this help\n"
		"\n"
		"Prints \"allowed by rule at FILE:LINE\", \"denied by rule at "
		"FILE:LINE\" or\n"
		"\"denied: no rule allows it (default deny)\". Exit status: 0 allowed,\n"
		"1 denied, 2 usage error or invalid policy.\n");
}

static int parse_id(const char *s, unsigned long *id)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*id = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || *id > 4294967294UL)
		return -EINVAL;
	return 0;
}

static int add_group(gid_t **groups, size_t *n, gid_t g)
{
	gid_t *v;

	v = realloc(*groups, (*n + 1) * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	v[(*n)++] = g;
	*groups = v;
	return 0;
}

/* Fills the subject from --user: uid, primary gid and supplementary groups
 * of its account (a uid without an account has no groups). */
static int lookup_user(const char *user, struct medfs_subject *s, gid_t **groups,
		       size_t *ngroups)
{
	struct passwd *pw;
	unsigned long id;
	gid_t *list;
	int n = 64;

	if (parse_id(user, &id) == 0)
		pw = getpwuid((uid_t)id);
	else
		pw = getpwnam(user);
	if (pw == NULL) {
		if (parse_id(user, &id) != 0) {
			fprintf(stderr, PROG ": unknown user '%s'\n", user);
			return -ENOENT;
		}
		s->uid = (uid_t)id;
		s->gid = (gid_t)-1; /* matches no group rule */
		return 0;
	}
	s->uid = pw->pw_uid;
	s->gid = pw->pw_gid;
	for (;;) {
		list = malloc((size_t)n * sizeof(*list));
		if (list == NULL)
			return -ENOMEM;
		if (getgrouplist(pw->pw_name, pw->pw_gid, list, &n) >= 0)
			break;
		free(list);
		if (n > MAX_GROUPS)
			return -E2BIG;
	}
	*groups = list;
	*ngroups = (size_t)n;
	return 0;
}

static int cmd_explain(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "group", required_argument, NULL, 'g' },
		{ "program", required_argument, NULL, 'p' },
		{ "emergency", no_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct medfs_subject subject = { 0 };
	struct medfs_decision d;
	struct medfs_policy *p = NULL;
	struct diags ds = { 0 };
	const char *user = NULL, *file, *path, **gnames = NULL, **gv;
	gid_t *groups = NULL;
	size_t ngroups = 0, ngnames = 0, i, len;
	unsigned long id;
	unsigned right;
	char *text = NULL;
	int c, ret, status = EXIT_USAGE;

	optind = 1;
	while ((c = getopt_long(argc, argv, "u:g:p:eh", longopts, NULL)) != -1) {
		switch (c) {
		case 'u':
			user = optarg;
			break;
		case 'g':
			gv = realloc(gnames, (ngnames + 1) * sizeof(*gv));
			if (gv == NULL) {
				fprintf(stderr, PROG ": out of memory\n");
				goto out;
			}
			gnames = gv;
			gnames[ngnames++] = optarg;
			break;
		case 'p':
			subject.program = optarg;
			break;
		case 'e':
			subject.emergency = 1;
			break;
		case 'h':
			explain_usage(stdout);
			status = EXIT_SUCCESS;
			goto out;
		default:
			explain_usage(stderr);
			goto out;
		}
	}
	if (argc - optind != 3 || user == NULL) {
		explain_usage(stderr);
		goto out;
	}
	file = argv[optind];
	path = argv[optind + 1];
	right = medfs_right_from_name(argv[optind + 2]);
	if (right == 0) {
		fprintf(stderr,
			PROG ": unknown right '%s': expected list, read, write, create, "
			     "delete or setattr\n",
			argv[optind + 2]);
		goto out;
	}
	if (path[0] != '/') {
		fprintf(stderr,
			PROG ": PATH must start with '/': it is a path inside the "
			     "mount, such as /studies/ct1\n");
		goto out;
	}
	if (subject.program != NULL && subject.program[0] != '/') {
		fprintf(stderr, PROG ": --program needs an absolute path\n");
		goto out;
	}
	if (lookup_user(user, &subject, &groups, &ngroups) < 0)
		goto out;
	for (i = 0; i < ngnames; i++) {
		struct group *gr;

		if (parse_id(gnames[i], &id) == 0) {
			ret = add_group(&groups, &ngroups, (gid_t)id);
		} else if ((gr = getgrnam(gnames[i])) != NULL) {
			ret = add_group(&groups, &ngroups, gr->gr_gid);
		} else {
			fprintf(stderr, PROG ": unknown group '%s'\n", gnames[i]);
			goto out;
		}
		if (ret < 0) {
			fprintf(stderr, PROG ": out of memory\n");
			goto out;
		}
	}
	subject.groups = groups;
	subject.ngroups = ngroups;

	ret = slurp(file, &text, &len);
	if (ret < 0) {
		fprintf(stderr, PROG ": cannot read %s: %s\n", file,
			ret == -EFBIG ? "larger than 1 MiB" : strerror(-ret));
		goto out;
	}
	ret = medfs_policy_parse(text, len, resolve, NULL, collect, &ds, &p);
	if (ret < 0) {
		if (ret == -ENOMEM) {
			fprintf(stderr, PROG ": out of memory\n");
		} else {
			print_diags(stderr, file, &ds);
			fprintf(stderr, PROG ": %s is not a valid policy\n", file);
		}
		goto out;
	}

	medfs_policy_decide(p, &subject, path, right, &d);
	if (d.allowed) {
		printf("allowed by rule at %s:%u%s\n", file, d.line,
		       d.emergency ? " (emergency rule: the access is flagged)" : "");
		status = EXIT_SUCCESS;
		goto out;
	}
	if (d.line != 0)
		printf("denied by rule at %s:%u\n", file, d.line);
	else
		printf("denied: no rule allows it (default deny)\n");
	if (!subject.emergency && medfs_policy_emergency_eligible(p, &subject)) {
		subject.emergency = 1;
		medfs_policy_decide(p, &subject, path, right, &d);
		if (d.allowed)
			printf("note: with an emergency grant (--emergency) it would be "
			       "allowed by rule at %s:%u\n",
			       file, d.line);
	}
	status = EXIT_FAILURE;
out:
	medfs_policy_free(p);
	free(ds.v);
	free(text);
	free(groups);
	free(gnames);
	return status;
}

static const struct subcommand subcommands[] = {
	{ "check", cmd_check, NULL,
	  "check a policy file: errors and warnings with positions" },
	{ "explain", cmd_explain, NULL,
	  "say whether a user may do something, and which rule "
	  "decides" },
};
#define NSUBCOMMANDS (sizeof(subcommands) / sizeof(subcommands[0]))

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: " PROG " COMMAND [ARGUMENTS]\n\n"
		   "Checks medfs access policies (see medfs-policy(1) and "
		   "doc/POLICY.md).\n\n"
		   "Commands:\n");
	for (i = 0; i < NSUBCOMMANDS; i++)
		fprintf(f, "  %-8s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(f, "  %-8s %s\n", "help",
		"show this help, or a command's with 'help COMMAND'");
	fprintf(f, "\nRun '" PROG " COMMAND --help' for the options of a command.\n");
}

int main(int argc, char *argv[])
{
	int status;
	const struct subcommand *c = subcommand_pick(argc, argv, PROG, subcommands,
						     NSUBCOMMANDS, usage, &status);

	return c ? c->fn(argc - 1, argv + 1) : status;
}
