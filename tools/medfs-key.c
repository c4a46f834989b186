/* medfs-key: administration of a medfs vault and its key slots.
 *
 * One function per subcommand, dispatched from a table as in WireGuard's
 * wg(8). Each gets argv starting at its own name and returns the exit
 * status: 0 done, 1 failed, 2 usage error. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "medfs/config.h"
#include "medfs/crypto.h"
#include "medfs/passphrase.h"
#include "medfs/vault.h"

#define PROG "medfs-key"
#define EXIT_USAGE 2
#define MIB (1ULL << 20)

static void init_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " init VAULT [--passphrase-file FILE] [--kdf-time N]\n"
		"                      [--kdf-memory MIB] [--label TEXT]\n"
		"\n"
		"Creates a new vault in VAULT, which must be absent or an empty "
		"directory:\n"
		"a random vault key, the config (" MEDFS_CONFIG_NAME
		" and " MEDFS_CONFIG_BACKUP_NAME ") with key\n"
		"slot 0 opened by a passphrase, and the empty encrypted tree.\n"
		"\n"
		"Options:\n"
		"  --passphrase-file FILE  read the passphrase from the first line of "
		"FILE\n"
		"                          (default: ask twice on the terminal)\n"
		"  --kdf-time N            Argon2id passes (opslimit), at least 1 "
		"(default %llu)\n"
		"  --kdf-memory MIB        Argon2id memory in MiB, at least 1 (default "
		"%llu)\n"
		"  --label TEXT            label of key slot 0, at most %d bytes\n"
		"  -h, --help              show this help\n",
		MEDFS_KDF_OPSLIMIT_DEFAULT, MEDFS_KDF_MEMLIMIT_DEFAULT / MIB,
		MEDFS_SLOT_LABEL_MAX);
}

/* Parses a decimal number in [min, max]. Returns 0 or -EINVAL. */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Returns 0 when path is absent (*exists = 0) or an empty directory
 * (*exists = 1); -ENOTEMPTY, -ENOTDIR or -errno otherwise. */
static int check_empty(const char *path, int *exists)
{
	struct dirent *d;
	struct stat st;
	DIR *dir;
	int ret = 0;

	*exists = 0;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	*exists = 1;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	dir = opendir(path);
	if (dir == NULL)
		return -errno;
	errno = 0;
	while ((d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0) {
			ret = -ENOTEMPTY;
			break;
		}
	}
	if (d == NULL && errno != 0)
		ret = -errno;
	closedir(dir);
	return ret;
}

/* Best-effort removal of what a failed init wrote, so that it can simply
 * be run again. Only the names init itself creates are touched. */
static void undo_init(const char *vault, int created_dir)
{
	static const char *const files[] = {
		MEDFS_CONFIG_NAME,
		MEDFS_CONFIG_NAME ".tmp",
		MEDFS_CONFIG_BACKUP_NAME,
		MEDFS_CONFIG_BACKUP_NAME ".tmp",
		MEDFS_TREE_NAME "/.medfs-dir",
	};
	size_t i;
	int dirfd;

	dirfd = open(vault, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlinkat(dirfd, files[i], 0);
	unlinkat(dirfd, MEDFS_TREE_NAME, AT_REMOVEDIR);
	close(dirfd);
	if (created_dir)
		rmdir(vault);
}

static int read_new_passphrase(const char *file, char **pass, size_t *len)
{
	int ret;

	if (file != NULL) {
		ret = medfs_passphrase_from_file(file, pass, len);
		if (ret == -EINVAL)
			fprintf(stderr, PROG ": %s: empty passphrase\n", file);
		else if (ret == -E2BIG)
			fprintf(stderr, PROG ": %s: passphrase longer than %d bytes\n",
				file, MEDFS_PASSPHRASE_MAX);
		else if (ret < 0)
			fprintf(stderr, PROG ": cannot read passphrase from %s: %s\n",
				file, strerror(-ret));
		return ret;
	}
	ret = medfs_passphrase_prompt_new("New passphrase: ", pass, len);
	if (ret == -ENXIO)
		fprintf(stderr, PROG ": no terminal to ask for the passphrase "
				     "(use --passphrase-file)\n");
	else if (ret == -EKEYREJECTED)
		fprintf(stderr, PROG ": the two passphrases do not match\n");
	else if (ret == -EINVAL)
		fprintf(stderr, PROG ": empty passphrase\n");
	else if (ret == -E2BIG)
		fprintf(stderr, PROG ": passphrase longer than %d bytes\n",
			MEDFS_PASSPHRASE_MAX);
	else if (ret < 0)
		fprintf(stderr, PROG ": cannot read the passphrase: %s\n",
			strerror(-ret));
	return ret;
}

static int cmd_init(int argc, char *argv[])
{
	enum { OPT_PASSFILE = 256, OPT_KDF_TIME, OPT_KDF_MEMORY, OPT_LABEL };
	static const struct option options[] = {
		{"passphrase-file", required_argument, NULL, OPT_PASSFILE},
		{"kdf-time", required_argument, NULL, OPT_KDF_TIME},
		{"kdf-memory", required_argument, NULL, OPT_KDF_MEMORY},
		{"label", required_argument, NULL, OPT_LABEL},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct medfs_kdf_params kdf = {
		.opslimit = MEDFS_KDF_OPSLIMIT_DEFAULT,
		.memlimit = MEDFS_KDF_MEMLIMIT_DEFAULT,
	};
	const char *vault, *passfile = NULL, *label = NULL;
	struct medfs_config config;
	uint8_t *key = NULL;
	char *pass = NULL;
	size_t pass_len = 0;
	uint64_t mib;
	int opt, ret, exists, created_dir = 0, status = EXIT_FAILURE;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_PASSFILE:
			passfile = optarg;
			break;
		case OPT_KDF_TIME:
			if (parse_u64(optarg, crypto_pwhash_argon2id_OPSLIMIT_MIN,
				      crypto_pwhash_argon2id_OPSLIMIT_MAX,
				      &kdf.opslimit) < 0) {
				fprintf(stderr,
					PROG ": invalid --kdf-time '%s' "
					     "(Argon2id passes, 1 to %llu)\n",
					optarg,
					(unsigned long long)
						crypto_pwhash_argon2id_OPSLIMIT_MAX);
				return EXIT_USAGE;
			}
			break;
		case OPT_KDF_MEMORY:
			if (parse_u64(optarg, 1,
				      crypto_pwhash_argon2id_MEMLIMIT_MAX / MIB,
				      &mib) < 0) {
				fprintf(stderr,
					PROG ": invalid --kdf-memory '%s' "
					     "(MiB, 1 to %llu)\n",
					optarg,
					(unsigned long long)(crypto_pwhash_argon2id_MEMLIMIT_MAX /
							     MIB));
				return EXIT_USAGE;
			}
			kdf.memlimit = mib * MIB;
			break;
		case OPT_LABEL:
			if (strlen(optarg) > MEDFS_SLOT_LABEL_MAX) {
				fprintf(stderr, PROG ": --label longer than %d bytes\n",
					MEDFS_SLOT_LABEL_MAX);
				return EXIT_USAGE;
			}
			label = optarg;
			break;
		case 'h':
			init_usage(stdout);
			return EXIT_SUCCESS;
		case ':':
			fprintf(stderr, PROG ": option '%s' needs a value\n",
				argv[optind - 1]);
			init_usage(stderr);
			return EXIT_USAGE;
		default:
			fprintf(stderr, PROG ": unknown option '%s'\n", argv[optind - 1]);
			init_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		init_usage(stderr);
		return EXIT_USAGE;
	}
	vault = argv[optind];

	if (medfs_crypto_init() < 0) {
		fprintf(stderr, PROG ": cannot initialise libsodium\n");
		return EXIT_FAILURE;
	}
	ret = medfs_disable_core_dumps();
	if (ret < 0) {
		fprintf(stderr, PROG ": cannot disable core dumps: %s\n", strerror(-ret));
		return EXIT_FAILURE;
	}
	ret = check_empty(vault, &exists);
	if (ret == -ENOTEMPTY) {
		fprintf(stderr, PROG ": %s is not empty\n", vault);
		return EXIT_FAILURE;
	} else if (ret < 0) {
		fprintf(stderr, PROG ": %s: %s\n", vault, strerror(-ret));
		return EXIT_FAILURE;
	}

	/* Ask first: a typo must not leave a half-made vault behind. */
	if (read_new_passphrase(passfile, &pass, &pass_len) < 0)
		goto out;
	key = medfs_secret_alloc(MEDFS_KEY_LEN);
	if (key == NULL) {
		fprintf(stderr, PROG ": cannot allocate secure memory\n");
		goto out;
	}
	randombytes_buf(key, MEDFS_KEY_LEN);
	medfs_config_init(&config);
	ret = medfs_slot_set(&config, 0, MEDFS_SLOT_PASSPHRASE, (const uint8_t *)pass,
			     pass_len, &kdf, label, key);
	if (ret == -ENOMEM) {
		fprintf(stderr,
			PROG ": not enough memory for the key derivation "
			     "(--kdf-memory %llu)\n",
			(unsigned long long)(kdf.memlimit / MIB));
		goto out;
	} else if (ret < 0) {
		fprintf(stderr, PROG ": cannot set key slot 0: %s\n", strerror(-ret));
		goto out;
	}

	if (!exists) {
		if (mkdir(vault, 0700) < 0) {
			fprintf(stderr, PROG ": cannot create %s: %s\n", vault,
				strerror(errno));
			goto out;
		}
		created_dir = 1;
	}
	ret = medfs_config_save(vault, &config, key);
	if (ret < 0) {
		fprintf(stderr, PROG ": cannot write %s/%s: %s\n", vault,
			MEDFS_CONFIG_NAME, strerror(-ret));
		undo_init(vault, created_dir);
		goto out;
	}
	ret = medfs_vault_create_tree(vault, key);
	if (ret < 0) {
		fprintf(stderr, PROG ": cannot create %s/%s: %s\n", vault,
			MEDFS_TREE_NAME, strerror(-ret));
		undo_init(vault, created_dir);
		goto out;
	}
	printf(PROG ": created vault %s (key slot 0: passphrase)\n", vault);
	status = EXIT_SUCCESS;
out:
	medfs_secret_free(key);
	medfs_passphrase_free(pass);
	return status;
}

static const struct {
	const char *name;
	int (*fn)(int argc, char *argv[]);
	const char *summary;
} subcommands[] = {
	{"init", cmd_init, "create a new vault, key slot 0 opened by a passphrase"},
};
#define NSUBCOMMANDS (sizeof(subcommands) / sizeof(subcommands[0]))

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: " PROG " COMMAND [ARGUMENTS]\n\n"
		   "Administers the key slots of a medfs vault.\n\n"
		   "Commands:\n");
	for (i = 0; i < NSUBCOMMANDS; i++)
		fprintf(f, "  %-8s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(f, "  %-8s %s\n", "help",
		"show this help, or a command's with 'help COMMAND'");
	fprintf(f, "\nRun '" PROG " COMMAND --help' for the options of a command.\n");
}

int main(int argc, char *argv[])
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		if (argc == 2) {
			usage(stdout);
			return EXIT_SUCCESS;
		}
		/* "help COMMAND" is "COMMAND --help". */
		for (i = 0; i < NSUBCOMMANDS; i++) {
			if (strcmp(argv[2], subcommands[i].name) == 0) {
				char *help_argv[] = {argv[2], (char *)"--help", NULL};

				return subcommands[i].fn(2, help_argv);
			}
		}
		fprintf(stderr, PROG ": unknown command '%s'\n", argv[2]);
		usage(stderr);
		return EXIT_USAGE;
	}
	for (i = 0; i < NSUBCOMMANDS; i++)
		if (strcmp(argv[1], subcommands[i].name) == 0)
			return subcommands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, PROG ": unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
