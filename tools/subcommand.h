/* medfs tools: COMMAND [ARGUMENTS] command lines, read the same way by
 * every tool. */
#ifndef MEDFS_TOOLS_SUBCOMMAND_H
#define MEDFS_TOOLS_SUBCOMMAND_H

#include <stddef.h>
#include <stdio.h>

#define EXIT_USAGE 2

struct subcommand {
	const char *name;
	int (*fn)(int argc, char *argv[]);
	void (*usage)(FILE *f); /* NULL: "help NAME" runs NAME --help */
	const char *summary;
};

/* The subcommand argv[1] names. No command or an unknown one is a usage
 * error (the tool's usage on stderr); "help", "--help" and "-h" print the
 * tool's usage, "help COMMAND" the command's. Returns the subcommand, to
 * run with argc - 1, argv + 1; or NULL when there is nothing more to do,
 * with the exit status in *status. */
const struct subcommand *subcommand_pick(int argc, char *argv[], const char *prog,
					 const struct subcommand *cmds, size_t n,
					 void (*usage)(FILE *f), int *status);

/* The getopt_long cases every command shares, for opterr = 0 and an
 * optstring starting with ':': -h/--help prints usage on stdout (exit
 * status 0); a missing value or an unknown option is a usage error, said
 * on stderr with usage. Returns the exit status. */
int subcommand_option(const char *prog, int opt, char *argv[], void (*usage)(FILE *f));

#endif
