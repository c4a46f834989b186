/* medfs tools: picking the subcommand of a command line. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "subcommand.h"

static const struct subcommand *find(const char *name, const struct subcommand *cmds,
				     size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(name, cmds[i].name) == 0)
			return &cmds[i];
	return NULL;
}

const struct subcommand *subcommand_pick(int argc, char *argv[], const char *prog,
					 const struct subcommand *cmds, size_t n,
					 void (*usage)(FILE *f), int *status)
{
	const struct subcommand *c;
	const char *name;

	*status = EXIT_USAGE;
	if (argc < 2) {
		usage(stderr);
		return NULL;
	}
	name = argv[1];
	if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 ||
	    strcmp(name, "-h") == 0) {
		if (argc == 2) {
			usage(stdout);
			*status = EXIT_SUCCESS;
			return NULL;
		}
		name = argv[2];
		c = find(name, cmds, n);
		if (c && c->usage) {
			c->usage(stdout);
			*status = EXIT_SUCCESS;
			return NULL;
		}
		if (c) {
			char *help_argv[] = { argv[2], (char *)"--help", NULL };

			*status = c->fn(2, help_argv);
			return NULL;
		}
	} else {
		c = find(name, cmds, n);
		if (c)
			return c;
	}
	fprintf(stderr, "%s: unknown command '%s'\n", prog, name);
	usage(stderr);
	return NULL;
}

int subcommand_option(const char *prog, int opt, char *argv[], void (*usage)(FILE *f))
{
	if (opt == 'h') {
		usage(stdout);
		return EXIT_SUCCESS;
	}
	if (opt == ':')
		fprintf(stderr, "%s: option '%s' needs a value\n", prog,
			argv[optind - 1]);
	else
		fprintf(stderr, "%s: unknown option '%s'\n", prog, argv[optind - 1]);
	usage(stderr);
	return EXIT_USAGE;
}
