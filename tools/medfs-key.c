/* medfs-key: administration of a medfs vault and its key slots.
 *
 * One function per subcommand, dispatched from a table as in WireGuard's
 * wg(8). Each gets argv starting at its own name and returns the exit
 * status: 0 done, 1 failed, 2 usage error.
 *
 * Commands that change the config take the vault lock (unlock.h): key
 * changes share it with mounts, a rotation needs it alone. Secrets come
 * from files or the terminal only, and stay in secret memory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "medfs/block.h"
#include "medfs/config.h"
#include "medfs/crypto.h"
#include "medfs/journal.h"
#include "medfs/log.h"
#include "medfs/passphrase.h"
#include "medfs/rotate.h"
#include "medfs/settle.h"
#include "medfs/unlock.h"
#include "medfs/vault.h"
#include "subcommand.h"

#define PROG "medfs-key"
#define MIB (1ULL << 20)
#define WHY_LEN 512

static void init_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " init VAULT [--passphrase-file FILE] [--kdf-time N]\n"
		"                      [--kdf-memory MIB] [--label TEXT]\n"
		"                      [--auditor-key PREFIX.pub]\n"
		"                      [--cipher aes256gcm|xchacha20poly1305]\n"
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
		"  --auditor-key FILE      the auditor's public key (made by\n"
		"                          'medfs-journal keygen'): the access journal\n"
		"                          is sealed to it; a vault without one does\n"
		"                          not mount (see set-auditor)\n"
		"  --cipher NAME           the cipher of file contents, for the life\n"
		"                          of the vault: aes256gcm (AES-256-GCM, needs\n"
		"                          AES-NI) or xchacha20poly1305 (default here:\n"
		"                          %s)\n"
		"  -h, --help              show this help\n",
		MEDFS_KDF_OPSLIMIT_DEFAULT, MEDFS_KDF_MEMLIMIT_DEFAULT / MIB,
		MEDFS_SLOT_LABEL_MAX,
		medfs_block_cipher_name(medfs_block_cipher_default()));
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

/* Whether directory path holds name and nothing else. */
static bool holds_only(const char *path, const char *name)
{
	struct dirent *d;
	DIR *dir = opendir(path);
	int others = 0, found = 0;

	if (dir == NULL)
		return false;
	while ((d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, name) == 0)
			found = 1;
		else if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0)
			others = 1;
	}
	closedir(dir);
	return found && !others;
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

/* Warns (and goes on) when a new passphrase slot is cheap to guess: KDF
 * settings below the defaults' order of magnitude, or a short passphrase. */
static void warn_weak(const struct medfs_kdf_params *kdf, const char *pass, size_t len)
{
	size_t chars = medfs_passphrase_chars(pass, len);

	if (medfs_kdf_weak(kdf))
		fprintf(stderr,
			PROG ": warning: Argon2id with %llu passes and %llu MiB is far "
			     "below the defaults (%llu passes, %llu MiB): each guess of "
			     "the passphrase costs that much less\n",
			(unsigned long long)kdf->opslimit,
			(unsigned long long)(kdf->memlimit / MIB),
			MEDFS_KDF_OPSLIMIT_DEFAULT, MEDFS_KDF_MEMLIMIT_DEFAULT / MIB);
	if (chars < MEDFS_PASSPHRASE_ADVISED)
		fprintf(stderr,
			PROG ": warning: the passphrase has %zu characters; at least %d "
			     "are advised (several random words)\n",
			chars, MEDFS_PASSPHRASE_ADVISED);
}

/* Why a config copy could not be read, for "cannot read the config". */
static const char *config_error(int ret)
{
	if (ret == -EBADMSG)
		return "both copies are damaged";
	if (ret == -ERANGE)
		return "a passphrase slot asks for a key derivation beyond medfs's "
		       "bounds (damaged or forged: restore a good copy)";
	return strerror(-ret);
}

static int read_new_passphrase(const char *file, char **pass, size_t *len)
{
	char why[WHY_LEN];
	int ret;

	if (file != NULL) {
		ret = medfs_passphrase_from_file(file, pass, len);
		if (ret == -EINVAL)
			fprintf(stderr, PROG ": %s: empty passphrase\n", file);
		else if (ret == -E2BIG)
			fprintf(stderr, PROG ": %s: passphrase longer than %d bytes\n",
				file, MEDFS_PASSPHRASE_MAX);
		else if (ret == -EPERM && medfs_secret_file_why(file, why, sizeof(why)))
			fprintf(stderr, PROG ": %s\n", why);
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

/* Reads an auditor's public key file (PREFIX.pub). Returns 0 or -1 after
 * saying why. */
static int read_auditor_key(const char *path, struct medfs_auditor_key **k)
{
	int ret = medfs_auditor_key_read_public(path, k);

	if (ret < 0) {
		fprintf(stderr,
			PROG ": %s: %s (make one with 'medfs-journal keygen --out "
			     "PREFIX' and give PREFIX.pub)\n",
			path,
			ret == -EBADMSG || ret == -EINVAL ? "not an auditor public key"
							  : strerror(-ret));
		return -1;
	}
	return 0;
}

static void journal_key_event(const char *vault, uint32_t op, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int cmd_init(int argc, char *argv[])
{
	enum {
		OPT_PASSFILE = 256,
		OPT_KDF_TIME,
		OPT_KDF_MEMORY,
		OPT_LABEL,
		OPT_AUDITOR,
		OPT_CIPHER,
	};
	static const struct option options[] = {
		{ "passphrase-file", required_argument, NULL, OPT_PASSFILE },
		{ "auditor-key", required_argument, NULL, OPT_AUDITOR },
		{ "cipher", required_argument, NULL, OPT_CIPHER },
		{ "kdf-time", required_argument, NULL, OPT_KDF_TIME },
		{ "kdf-memory", required_argument, NULL, OPT_KDF_MEMORY },
		{ "label", required_argument, NULL, OPT_LABEL },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct medfs_kdf_params kdf = {
		.opslimit = MEDFS_KDF_OPSLIMIT_DEFAULT,
		.memlimit = MEDFS_KDF_MEMLIMIT_DEFAULT,
	};
	const char *vault, *passfile = NULL, *label = NULL, *auditor = NULL;
	struct medfs_auditor_key *ak = NULL;
	struct medfs_config config;
	uint32_t cipher = medfs_block_cipher_default();
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
				      MEDFS_KDF_OPSLIMIT_MAX, &kdf.opslimit) < 0) {
				fprintf(stderr,
					PROG ": invalid --kdf-time '%s' "
					     "(Argon2id passes, 1 to %llu)\n",
					optarg, MEDFS_KDF_OPSLIMIT_MAX);
				return EXIT_USAGE;
			}
			break;
		case OPT_KDF_MEMORY:
			if (parse_u64(optarg, 1, MEDFS_KDF_MEMLIMIT_MAX / MIB, &mib) <
			    0) {
				fprintf(stderr,
					PROG ": invalid --kdf-memory '%s' "
					     "(MiB, 1 to %llu)\n",
					optarg, MEDFS_KDF_MEMLIMIT_MAX / MIB);
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
		case OPT_AUDITOR:
			auditor = optarg;
			break;
		case OPT_CIPHER:
			if (medfs_block_cipher_from_name(optarg, &cipher) < 0) {
				fprintf(stderr,
					PROG ": unknown --cipher '%s' (aes256gcm or "
					     "xchacha20poly1305)\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		default:
			return subcommand_option(PROG, opt, argv, init_usage);
		}
	}
	if (argc - optind != 1) {
		init_usage(stderr);
		return EXIT_USAGE;
	}
	vault = argv[optind];
	if (medfs_block_cipher_check(cipher) == -ENOTSUP) {
		fprintf(stderr,
			PROG ": --cipher aes256gcm: this CPU cannot run AES-256-GCM (no "
			     "AES-NI); use xchacha20poly1305\n");
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

	if (auditor && read_auditor_key(auditor, &ak) < 0)
		return EXIT_FAILURE;
	/* Ask first: a typo must not leave a half-made vault behind. */
	if (read_new_passphrase(passfile, &pass, &pass_len) < 0)
		goto out;
	warn_weak(&kdf, pass, pass_len);
	key = medfs_secret_alloc(MEDFS_KEY_LEN);
	if (key == NULL) {
		fprintf(stderr, PROG ": cannot allocate secure memory\n");
		goto out;
	}
	randombytes_buf(key, MEDFS_KEY_LEN);
	medfs_config_init(&config, cipher);
	if (ak) {
		config.has_auditor = 1;
		memcpy(config.auditor_pk, medfs_auditor_key_box_pk(ak),
		       sizeof(config.auditor_pk));
	}
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
	printf(PROG ": created vault %s (cipher %s; key slot 0: passphrase%s)\n", vault,
	       medfs_block_cipher_name(cipher),
	       ak ? "; auditor key recorded" : "; no auditor key yet: see set-auditor");
	journal_key_event(vault, MEDFS_OP_KEY_CHANGE,
			  "created the vault (cipher %s; key slot 0: passphrase%s)",
			  medfs_block_cipher_name(cipher),
			  ak ? "; auditor key recorded" : "");
	status = EXIT_SUCCESS;
out:
	medfs_auditor_key_free(ak);
	medfs_secret_free(key);
	medfs_passphrase_free(pass);
	return status;
}

/* ---- shared pieces ---- */

/* Option codes shared by the commands that take a secret. */
enum {
	OPT_PASSFILE = 256,
	OPT_KEYFILE,
	OPT_AUTH_KEYFILE,
	OPT_RECOVERY_FILE,
	OPT_NEW_PASSFILE,
	OPT_PASSPHRASE,
	OPT_RECOVERY,
	OPT_LABEL,
	OPT_KDF_TIME,
	OPT_KDF_MEMORY,
	OPT_REENCRYPT,
	OPT_JOURNAL,
};

/* clang-format off */
#define AUTH_OPTIONS \
	{"passphrase-file", required_argument, NULL, OPT_PASSFILE}, \
	{"keyfile", required_argument, NULL, OPT_KEYFILE}, \
	{"auth-keyfile", required_argument, NULL, OPT_AUTH_KEYFILE}, \
	{"recovery-key-file", required_argument, NULL, OPT_RECOVERY_FILE}, \
	{"help", no_argument, NULL, 'h'}
/* clang-format on */

#define AUTH_HELP                                                                        \
	"Authorization (one secret of any key slot; default: ask for a passphrase):\n"   \
	"  --passphrase-file FILE     a passphrase, from the first line of FILE\n"       \
	"  --keyfile FILE             a key file\n"                                      \
	"  --auth-keyfile FILE        the same (needed with 'add --keyfile')\n"          \
	"  --recovery-key-file FILE   a recovery key, as printed\n"

/* The secret that authorizes a command. */
struct auth {
	enum medfs_slot_kind kind;
	const char *file;
	int given;
};

/* Records one authorizing secret; returns -1 (usage error) for a second. */
static int auth_set(struct auth *a, enum medfs_slot_kind kind, const char *file)
{
	if (a->given++) {
		fprintf(stderr,
			PROG ": give one secret to authorize the change, not two\n");
		return -1;
	}
	a->kind = kind;
	a->file = file;
	return 0;
}

static void auth_init(struct auth *a)
{
	a->kind = MEDFS_SLOT_PASSPHRASE;
	a->file = NULL;
	a->given = 0;
}

/* Handles one authorization option: returns 1 when opt was one, 0 when
 * it is not, -1 for a usage error. */
static int auth_option(struct auth *a, int opt, const char *arg)
{
	switch (opt) {
	case OPT_PASSFILE:
		return auth_set(a, MEDFS_SLOT_PASSPHRASE, arg) < 0 ? -1 : 1;
	case OPT_KEYFILE:
	case OPT_AUTH_KEYFILE:
		return auth_set(a, MEDFS_SLOT_KEYFILE, arg) < 0 ? -1 : 1;
	case OPT_RECOVERY_FILE:
		return auth_set(a, MEDFS_SLOT_RECOVERY, arg) < 0 ? -1 : 1;
	default:
		return 0;
	}
}

/* An option of a key change that is not its own: authorization, --help
 * or a getopt error. Returns -1 to go on, or an exit status. */
static int change_option(struct auth *a, int opt, char *argv[], void (*usage)(FILE *))
{
	int ret = auth_option(a, opt, optarg);

	if (ret < 0)
		return EXIT_USAGE;
	if (ret > 0)
		return -1;
	return subcommand_option(PROG, opt, argv, usage);
}

static const char *kind_name(unsigned int kind)
{
	switch (kind) {
	case MEDFS_SLOT_PASSPHRASE:
		return "passphrase";
	case MEDFS_SLOT_KEYFILE:
		return "keyfile";
	case MEDFS_SLOT_RECOVERY:
		return "recovery";
	default:
		return "empty";
	}
}

/* The hex form of an auditor's public key. */
static const char *hex_pk(const uint8_t *pk, char out[2 * MEDFS_AUDITOR_PK_LEN + 1])
{
	sodium_bin2hex(out, 2 * MEDFS_AUDITOR_PK_LEN + 1, pk, MEDFS_AUDITOR_PK_LEN);
	return out;
}

/* The subcommand running, for the journal's records. */
static const char *subcommand_name = "";

/* Journals a failed unlock or a change of the vault's keys through the
 * journal spool (medfs/journal.h): the running mount, or the next one,
 * appends it. A record that cannot be spooled is a warning only. */
static void journal_key_event(const char *vault, uint32_t op, const char *fmt, ...)
{
	char detail[512];
	va_list ap;
	int n, ret;

	n = snprintf(detail, sizeof(detail), PROG " %s: ", subcommand_name);
	va_start(ap, fmt);
	vsnprintf(detail + n, sizeof(detail) - (size_t)n, fmt, ap);
	va_end(ap);
	ret = medfs_journal_spool_tool(vault, op, detail);
	if (ret < 0)
		fprintf(stderr, PROG ": warning: cannot journal this in %s/%s: %s\n",
			vault, MEDFS_JOURNAL_SPOOL_NAME, strerror(-ret));
}

/* Library warnings are said again, better, by the commands. */
static void log_errors_only(int priority, const char *msg)
{
	if (priority <= LOG_ERR)
		fprintf(stderr, PROG ": %s\n", msg);
}

static void log_nothing(int priority, const char *msg)
{
	(void)priority;
	(void)msg;
}

static int parse_kdf_time(const char *arg, uint64_t *out)
{
	if (parse_u64(arg, crypto_pwhash_argon2id_OPSLIMIT_MIN, MEDFS_KDF_OPSLIMIT_MAX,
		      out) < 0) {
		fprintf(stderr,
			PROG ": invalid --kdf-time '%s' (Argon2id passes, 1 to %llu)\n",
			arg, MEDFS_KDF_OPSLIMIT_MAX);
		return -1;
	}
	return 0;
}

static int parse_kdf_memory(const char *arg, uint64_t *out)
{
	uint64_t mib;

	if (parse_u64(arg, 1, MEDFS_KDF_MEMLIMIT_MAX / MIB, &mib) < 0) {
		fprintf(stderr, PROG ": invalid --kdf-memory '%s' (MiB, 1 to %llu)\n",
			arg, MEDFS_KDF_MEMLIMIT_MAX / MIB);
		return -1;
	}
	*out = mib * MIB;
	return 0;
}

static int parse_label(const char *arg, const char **out)
{
	if (strlen(arg) > MEDFS_SLOT_LABEL_MAX) {
		fprintf(stderr, PROG ": --label longer than %d bytes\n",
			MEDFS_SLOT_LABEL_MAX);
		return -1;
	}
	*out = arg;
	return 0;
}

static int parse_slot(const char *arg, int *slot)
{
	uint64_t v;

	if (parse_u64(arg, 0, MEDFS_SLOTS - 1, &v) < 0) {
		fprintf(stderr, PROG ": invalid key slot '%s' (a number from 0 to %d)\n",
			arg, MEDFS_SLOTS - 1);
		return -1;
	}
	*slot = (int)v;
	return 0;
}

/* Takes the vault lock for a key change or a rotation; -1 after saying
 * why not. */
static int lock_vault(const char *vault, enum medfs_lock_mode mode)
{
	int fd = medfs_vault_lock(vault, mode);

	if (fd >= 0)
		return fd;
	if (fd == -EBUSY)
		fprintf(stderr, PROG ": %s: vault is mounted: unmount it first\n", vault);
	else if (fd == -EAGAIN)
		fprintf(stderr,
			PROG
			": %s: vault is locked by another medfs-key (a rotation or a "
			"key change): try again once it has finished\n",
			vault);
	else if (fd == -ENOENT || fd == -ENOTDIR)
		fprintf(stderr, PROG ": %s is not a medfs vault (no %s)\n", vault,
			MEDFS_CONFIG_NAME);
	else
		fprintf(stderr, PROG ": cannot lock %s/%s: %s\n", vault, MEDFS_LOCK_NAME,
			strerror(-fd));
	return -1;
}

/* Unlocks vault with the authorizing secret. Returns the slot that opened
 * or -1 after saying why not. The secret is handed back in *secret (for
 * converting a version 1 config) when secret is not NULL. */
static int open_vault(const char *vault, const struct auth *a, unsigned int flags,
		      struct medfs_config *c, uint8_t *key, uint8_t **secret,
		      size_t *secret_len)
{
	char why[WHY_LEN];
	int slot, used_backup, ret;

	ret = medfs_unlock_ex(vault, a->kind, a->file, flags, c, key, &slot, &used_backup,
			      secret, secret_len, why, sizeof(why));
	if (ret < 0) {
		fprintf(stderr, PROG ": %s\n", why);
		if (ret == -EKEYREJECTED)
			journal_key_event(vault, MEDFS_OP_UNLOCK_FAILED,
					  "wrong %s (no %s slot opens)",
					  kind_name(a->kind), kind_name(a->kind));
		return -1;
	}
	if (used_backup)
		fprintf(stderr, PROG ": warning: %s\n", why);
	return slot;
}

/* The start of every change of a vault's keys: takes the vault lock in
 * mode, then unlocks the config with the authorizing secret into a new
 * secret buffer *key (the caller frees it and closes *lockfd, also on
 * failure). Returns the slot that opened, or -1 after saying why. */
static int begin_change(const char *vault, enum medfs_lock_mode mode,
			const struct auth *a, unsigned int flags, struct medfs_config *c,
			int *lockfd, uint8_t **key, uint8_t **secret, size_t *secret_len)
{
	*lockfd = lock_vault(vault, mode);
	if (*lockfd < 0)
		return -1;
	*key = medfs_secret_alloc(MEDFS_KEY_LEN);
	if (*key == NULL) {
		fprintf(stderr, PROG ": cannot allocate secure memory\n");
		return -1;
	}
	return open_vault(vault, a, flags, c, *key, secret, secret_len);
}

/* remove and passwd: the VAULT and SLOT arguments after the options, the
 * change begun (see begin_change), and the slot checked to be in use.
 * Returns the slot that opened the config, -1 after saying why, or -2 for
 * a usage error (nothing to free then). */
static int begin_slot_change(int argc, char *argv[], void (*usage)(FILE *),
			     const struct auth *a, const char **vault, int *idx,
			     struct medfs_config *c, int *lockfd, uint8_t **key,
			     uint8_t **secret, size_t *secret_len)
{
	int slot;

	if (argc - optind != 2) {
		usage(stderr);
		return -2;
	}
	*vault = argv[optind];
	if (parse_slot(argv[optind + 1], idx) < 0)
		return -2;
	slot = begin_change(*vault, MEDFS_LOCK_KEYS, a, MEDFS_UNLOCK_ROTATING, c, lockfd,
			    key, secret, secret_len);
	if (slot >= 0 && c->slots[*idx].kind == MEDFS_SLOT_EMPTY) {
		fprintf(stderr, PROG ": %s has no key slot %d (see '" PROG " list %s')\n",
			*vault, *idx, *vault);
		return -1;
	}
	return slot;
}

/* Makes a version 1 config version 2 before it is written. */
static int upgrade_config(const char *vault, struct medfs_config *c, int slot,
			  const uint8_t *secret, size_t secret_len, const uint8_t *key)
{
	int ret;

	if (c->version != 1)
		return 0;
	ret = medfs_config_upgrade(c, slot, secret, secret_len, key);
	if (ret == -ENOTSUP) {
		fprintf(stderr,
			PROG ": %s has a format 1 config with several key slots, which "
			     "cannot be converted without each slot's secret\n",
			vault);
		return -1;
	}
	if (ret < 0) {
		fprintf(stderr,
			PROG ": cannot convert the config of %s to format 2: %s\n", vault,
			strerror(-ret));
		return -1;
	}
	printf(PROG ": converted the config of %s to format %d\n", vault,
	       MEDFS_CONFIG_VERSION);
	return 0;
}

static int save_config(const char *vault, const struct medfs_config *c,
		       const uint8_t *key)
{
	int ret = medfs_config_save(vault, c, key);

	if (ret < 0) {
		fprintf(stderr, PROG ": cannot write the config of %s: %s\n", vault,
			strerror(-ret));
		return -1;
	}
	return 0;
}

static int say_slot_error(int ret, const struct medfs_kdf_params *kdf)
{
	if (ret == -ENOMEM)
		fprintf(stderr,
			PROG ": not enough memory for the key derivation "
			     "(--kdf-memory %llu)\n",
			(unsigned long long)(kdf ? kdf->memlimit / MIB : 0));
	else
		fprintf(stderr, PROG ": cannot set the key slot: %s\n", strerror(-ret));
	return -1;
}

/* Writes all of buf to fd (stdout for a recovery key: no stdio buffer
 * keeps a copy). */
static int write_fd(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Syncs the directory holding path, so that a new file there lasts. */
static void sync_parent(const char *path)
{
	char *copy = strdup(path);
	int fd;

	if (copy == NULL)
		return;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(copy);
}

/* ---- list ---- */

static void list_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " list VAULT\n"
		"\n"
		"Shows the facts of VAULT (vault id, format, content cipher, creation\n"
		"time, rotation) and lists its key slots: number, kind, label,\n"
		"creation time and key derivation parameters. Needs no secret and\n"
		"shows none.\n");
}

static const char *fmt_time(char buf[32], uint64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, 32, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
		snprintf(buf, 32, "%" PRIu64, t);
	return buf;
}

/* Labels are the admin's text, but a config can come from anywhere: no
 * control characters reach the terminal. */
static void print_label(const char *label)
{
	for (const unsigned char *p = (const unsigned char *)label; *p; p++)
		putchar(*p < 0x20 || *p == 0x7f ? '?' : *p);
}

static int cmd_list(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint8_t buf[MEDFS_CONFIG_LEN + 1];
	const char *vault, *used = MEDFS_CONFIG_NAME;
	struct medfs_config c;
	char hex[2 * MEDFS_VAULT_ID_LEN + 1], tbuf[32];
	size_t len;
	int opt, ret, i;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		return subcommand_option(PROG, opt, argv, list_usage);
	}
	if (argc - optind != 1) {
		list_usage(stderr);
		return EXIT_USAGE;
	}
	vault = argv[optind];

	ret = medfs_config_read(vault, MEDFS_CONFIG_NAME, buf, &len);
	if (ret == 0)
		ret = medfs_config_decode(&c, buf, len);
	if (ret < 0 && ret != -EPROTONOSUPPORT) {
		int ret2 = medfs_config_read(vault, MEDFS_CONFIG_BACKUP_NAME, buf, &len);

		if (ret2 == 0)
			ret2 = medfs_config_decode(&c, buf, len);
		if (ret2 == 0) {
			fprintf(stderr,
				PROG
				": warning: %s/%s is %s: showing its second copy %s\n",
				vault, MEDFS_CONFIG_NAME,
				ret == -ENOENT ? "missing" : "damaged",
				MEDFS_CONFIG_BACKUP_NAME);
			used = MEDFS_CONFIG_BACKUP_NAME;
		}
		ret = ret2 == -ENOENT && ret != -ENOENT ? ret : ret2;
	}
	if (ret == -ENOENT || ret == -ENOTDIR) {
		fprintf(stderr, PROG ": %s is not a medfs vault (no %s)\n", vault,
			MEDFS_CONFIG_NAME);
		return EXIT_FAILURE;
	} else if (ret == -EPROTONOSUPPORT) {
		fprintf(stderr,
			PROG ": %s has a config format this medfs-key does not know\n",
			vault);
		return EXIT_FAILURE;
	} else if (ret < 0) {
		fprintf(stderr, PROG ": cannot read the config of %s: %s\n", vault,
			config_error(ret));
		return EXIT_FAILURE;
	}

	sodium_bin2hex(hex, sizeof(hex), c.vault_id, sizeof(c.vault_id));
	printf("vault:     %s (%s)\n", vault, used);
	printf("vault id:  %s\n", hex);
	printf("format:    %u\n", c.version);
	printf("cipher:    %s%s\n", medfs_block_cipher_name(c.cipher),
	       medfs_block_cipher_check(c.cipher) == -ENOTSUP
		       ? " (this CPU cannot run it: no AES-NI)"
		       : "");
	printf("created:   %s\n", fmt_time(tbuf, c.created));
	if (medfs_config_rotating(&c))
		printf("rotation:  in progress%s: run '" PROG " rotate %s' to finish\n",
		       c.rotation == MEDFS_ROTATION_REENCRYPT ? " (with re-encryption)"
							      : "",
		       vault);
	printf("key slots: %d of %d in use\n\n", medfs_config_slot_count(&c),
	       MEDFS_SLOTS);
	printf("%-4s  %-10s  %-20s  %-24s  %s\n", "SLOT", "KIND", "CREATED", "KDF",
	       "LABEL");
	for (i = 0; i < MEDFS_SLOTS; i++) {
		const struct medfs_slot *s = &c.slots[i];
		char kdf[64];

		if (s->kind == MEDFS_SLOT_EMPTY)
			continue;
		if (s->kind == MEDFS_SLOT_PASSPHRASE)
			snprintf(kdf, sizeof(kdf),
				 "argon2id t=%" PRIu64 " m=%" PRIu64 "MiB", s->opslimit,
				 (uint64_t)(s->memlimit / MIB));
		else
			snprintf(kdf, sizeof(kdf), "-");
		printf("%-4d  %-10s  %-20s  %-24s  ", i, kind_name(s->kind),
		       fmt_time(tbuf, s->created), kdf);
		print_label(s->label);
		printf("\n");
	}
	return EXIT_SUCCESS;
}

/* ---- add ---- */

static void add_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " add VAULT (--passphrase | --keyfile FILE | --recovery)\n"
		"                     [--label TEXT] [--kdf-time N] [--kdf-memory MIB]\n"
		"                     [--new-passphrase-file FILE] [AUTHORIZATION]\n"
		"\n"
		"Adds a key slot to VAULT, in the first free slot, opened by:\n"
		"  --passphrase               a new passphrase (asked twice, or\n"
		"                             --new-passphrase-file FILE)\n"
		"  --keyfile FILE             a key file: FILE is created (32 random "
		"bytes,\n"
		"                             mode 0400) unless it exists, in which "
		"case\n"
		"                             its key is used\n"
		"  --recovery                 a new recovery key, printed once: write "
		"it\n"
		"                             down and keep it in a safe\n"
		"\n"
		"Options:\n"
		"  --label TEXT               label of the new slot, at most %d bytes\n"
		"  --kdf-time N               Argon2id passes for a passphrase (default "
		"%llu)\n"
		"  --kdf-memory MIB           Argon2id memory in MiB (default %llu)\n"
		"  --new-passphrase-file FILE the new passphrase, from the first line of "
		"FILE\n"
		"\n" AUTH_HELP,
		MEDFS_SLOT_LABEL_MAX, MEDFS_KDF_OPSLIMIT_DEFAULT,
		MEDFS_KDF_MEMLIMIT_DEFAULT / MIB);
}

/* The key of the key file at path, made (mode 0400) when path does not
 * exist; *created tells which. Returns 0 or -1 after saying why not. */
static int keyfile_secret(const char *path, const char *vault, uint8_t **key,
			  int *created)
{
	char why[WHY_LEN];
	size_t len;
	int fd, ret;

	*created = 0;
	*key = medfs_secret_alloc(MEDFS_KEY_LEN);
	if (*key == NULL) {
		fprintf(stderr, PROG ": cannot allocate secure memory\n");
		return -1;
	}
	randombytes_buf(*key, MEDFS_KEY_LEN);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
		  0400);
	if (fd < 0 && errno == EEXIST) {
		medfs_secret_free(*key);
		*key = NULL;
		ret = medfs_secret_read(MEDFS_SLOT_KEYFILE, path, vault, key, &len, why,
					sizeof(why));
		if (ret < 0) {
			fprintf(stderr, PROG ": %s\n", why);
			return -1;
		}
		return 0;
	}
	if (fd < 0) {
		fprintf(stderr, PROG ": cannot create key file %s: %s\n", path,
			strerror(errno));
		goto fail;
	}
	ret = fchmod(fd, 0400) < 0 ? -errno : 0;
	if (ret == 0)
		ret = write_fd(fd, *key, MEDFS_KEY_LEN);
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret < 0) {
		fprintf(stderr, PROG ": cannot write key file %s: %s\n", path,
			strerror(-ret));
		unlink(path);
		goto fail;
	}
	sync_parent(path);
	*created = 1;
	return 0;
fail:
	medfs_secret_free(*key);
	*key = NULL;
	return -1;
}

/* Prints a new recovery key, straight from secret memory. */
static int show_recovery_key(const char *vault, int slot, const uint8_t *key)
{
	const size_t first = 7 * MEDFS_RECOVERY_GROUP_LEN + 6; /* 7 groups */
	char *text = medfs_secret_alloc(MEDFS_RECOVERY_TEXT_LEN + 1);
	int ret;

	if (text == NULL)
		return -ENOMEM;
	ret = medfs_recovery_encode(text, MEDFS_RECOVERY_TEXT_LEN + 1, key);
	if (ret == 0) {
		printf("\nRecovery key of key slot %d of %s:\n\n    ", slot, vault);
		fflush(stdout);
		/* Two lines of 7 and 6 groups, split at a dash. */
		ret = write_fd(STDOUT_FILENO, text, first);
		if (ret == 0)
			ret = write_fd(STDOUT_FILENO, "\n    ", 5);
		if (ret == 0)
			ret = write_fd(STDOUT_FILENO, text + first + 1,
				       MEDFS_RECOVERY_TEXT_LEN - first - 1);
		if (ret == 0)
			ret = write_fd(STDOUT_FILENO, "\n\n", 2);
		printf("It is shown only this once. Write it down or print it, and keep "
		       "it\n"
		       "in a safe place: it opens the vault on its own. Mount with it "
		       "using\n"
		       "--recovery-key-file FILE (spaces and dashes do not matter, and "
		       "a\n"
		       "mistyped character is caught by its checksum).\n");
	}
	medfs_secret_free(text);
	return ret;
}

static int cmd_add(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "passphrase", no_argument, NULL, OPT_PASSPHRASE },
		{ "recovery", no_argument, NULL, OPT_RECOVERY },
		{ "label", required_argument, NULL, OPT_LABEL },
		{ "kdf-time", required_argument, NULL, OPT_KDF_TIME },
		{ "kdf-memory", required_argument, NULL, OPT_KDF_MEMORY },
		{ "new-passphrase-file", required_argument, NULL, OPT_NEW_PASSFILE },
		AUTH_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct medfs_kdf_params kdf = {
		.opslimit = MEDFS_KDF_OPSLIMIT_DEFAULT,
		.memlimit = MEDFS_KDF_MEMLIMIT_DEFAULT,
	};
	const char *vault, *label = NULL, *keyfile = NULL, *new_passfile = NULL;
	struct medfs_config c;
	struct auth a;
	enum medfs_slot_kind kind = MEDFS_SLOT_EMPTY;
	uint8_t *key = NULL, *auth_secret = NULL, *secret = NULL;
	size_t auth_len = 0, secret_len = 0;
	int opt, kdf_given = 0, lockfd = -1, created = 0, slot, idx, ret;
	int status = EXIT_FAILURE;

	auth_init(&a);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_PASSPHRASE:
		case OPT_RECOVERY:
			if (kind != MEDFS_SLOT_EMPTY) {
				fprintf(stderr,
					PROG ": add one kind of key slot at a time\n");
				return EXIT_USAGE;
			}
			kind = opt == OPT_PASSPHRASE ? MEDFS_SLOT_PASSPHRASE
						     : MEDFS_SLOT_RECOVERY;
			break;
		case OPT_LABEL:
			if (parse_label(optarg, &label) < 0)
				return EXIT_USAGE;
			break;
		case OPT_KDF_TIME:
			if (parse_kdf_time(optarg, &kdf.opslimit) < 0)
				return EXIT_USAGE;
			kdf_given = 1;
			break;
		case OPT_KDF_MEMORY:
			if (parse_kdf_memory(optarg, &kdf.memlimit) < 0)
				return EXIT_USAGE;
			kdf_given = 1;
			break;
		case OPT_NEW_PASSFILE:
			new_passfile = optarg;
			break;
		case OPT_KEYFILE:
			if (keyfile != NULL) {
				fprintf(stderr, PROG ": --keyfile given twice (use "
						     "--auth-keyfile for the authorizing "
						     "key file)\n");
				return EXIT_USAGE;
			}
			keyfile = optarg;
			break;
		default:
			ret = change_option(&a, opt, argv, add_usage);
			if (ret >= 0)
				return ret;
		}
	}
	if (argc - optind != 1) {
		add_usage(stderr);
		return EXIT_USAGE;
	}
	vault = argv[optind];
	/* --keyfile names the new slot unless another kind is asked for. */
	if (kind == MEDFS_SLOT_EMPTY && keyfile != NULL) {
		kind = MEDFS_SLOT_KEYFILE;
	} else if (keyfile != NULL && auth_set(&a, MEDFS_SLOT_KEYFILE, keyfile) < 0) {
		return EXIT_USAGE;
	}
	if (kind == MEDFS_SLOT_EMPTY) {
		fprintf(stderr, PROG ": say what to add: --passphrase, --keyfile FILE or "
				     "--recovery\n");
		add_usage(stderr);
		return EXIT_USAGE;
	}
	if (kind != MEDFS_SLOT_PASSPHRASE && (kdf_given || new_passfile != NULL)) {
		fprintf(stderr,
			PROG ": --kdf-time, --kdf-memory and --new-passphrase-file "
			     "are for passphrase slots\n");
		return EXIT_USAGE;
	}

	slot = begin_change(vault, MEDFS_LOCK_KEYS, &a, MEDFS_UNLOCK_ROTATING, &c,
			    &lockfd, &key, &auth_secret, &auth_len);
	if (slot < 0)
		goto out;
	idx = medfs_config_free_slot(&c);
	if (idx < 0) {
		fprintf(stderr,
			PROG ": all %d key slots of %s are in use: remove one first\n",
			MEDFS_SLOTS, vault);
		goto out;
	}

	switch (kind) {
	case MEDFS_SLOT_PASSPHRASE: {
		char *pass = NULL;

		ret = read_new_passphrase(new_passfile, &pass, &secret_len);
		secret = (uint8_t *)pass;
		if (ret < 0)
			goto out;
		warn_weak(&kdf, pass, secret_len);
		break;
	}
	case MEDFS_SLOT_KEYFILE:
		if (keyfile_secret(keyfile, vault, &secret, &created) < 0)
			goto out;
		secret_len = MEDFS_KEY_LEN;
		break;
	default:
		secret = medfs_secret_alloc(MEDFS_KEY_LEN);
		if (secret == NULL) {
			fprintf(stderr, PROG ": cannot allocate secure memory\n");
			goto out;
		}
		randombytes_buf(secret, MEDFS_KEY_LEN);
		secret_len = MEDFS_KEY_LEN;
	}

	if (upgrade_config(vault, &c, slot, auth_secret, auth_len, key) < 0)
		goto out;
	ret = medfs_slot_set(&c, idx, kind, secret, secret_len,
			     kind == MEDFS_SLOT_PASSPHRASE ? &kdf : NULL, label, key);
	if (ret < 0) {
		say_slot_error(ret, &kdf);
		goto out;
	}
	if (save_config(vault, &c, key) < 0)
		goto out;
	printf(PROG ": added key slot %d (%s) to %s\n", idx, kind_name(kind), vault);
	journal_key_event(vault, MEDFS_OP_KEY_CHANGE,
			  "added key slot %d (%s%s%s); authorized by slot %d (%s)", idx,
			  kind_name(kind), label && label[0] ? ", label " : "",
			  label && label[0] ? label : "", slot,
			  kind_name(c.slots[slot].kind));
	if (kind == MEDFS_SLOT_KEYFILE)
		printf(PROG ": %s key file %s\n",
		       created ? "created (mode 0400) the" : "used the", keyfile);
	created = 0; /* the key file is in use now: keep it */
	if (kind == MEDFS_SLOT_RECOVERY && show_recovery_key(vault, idx, secret) < 0) {
		fprintf(stderr,
			PROG ": could not print the recovery key: remove key slot "
			     "%d and add another\n",
			idx);
		goto out;
	}
	status = EXIT_SUCCESS;
out:
	if (created)
		unlink(keyfile);
	medfs_secret_free(secret);
	medfs_secret_free(auth_secret);
	medfs_secret_free(key);
	if (lockfd >= 0)
		close(lockfd);
	return status;
}

/* ---- remove ---- */

static void remove_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " remove VAULT SLOT [AUTHORIZATION]\n"
		"\n"
		"Removes key slot SLOT (0 to 15) of VAULT and wipes its bytes from both\n"
		"copies of the config. The last key slot cannot be removed. Any key\n"
		"slot may authorize, the one removed included.\n"
		"\n" AUTH_HELP);
}

static int cmd_remove(int argc, char *argv[])
{
	static const struct option options[] = {
		AUTH_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	const char *vault;
	struct medfs_config c;
	struct auth a;
	uint8_t *key = NULL, *secret = NULL;
	size_t secret_len = 0;
	int opt, idx, slot, ret, lockfd = -1, status = EXIT_FAILURE;
	unsigned removed_kind;

	auth_init(&a);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (opt) {
		default:
			ret = change_option(&a, opt, argv, remove_usage);
			if (ret >= 0)
				return ret;
		}
	}
	slot = begin_slot_change(argc, argv, remove_usage, &a, &vault, &idx, &c, &lockfd,
				 &key, &secret, &secret_len);
	if (slot == -2)
		return EXIT_USAGE;
	if (slot < 0)
		goto out;
	if (medfs_config_slot_count(&c) == 1) {
		fprintf(stderr,
			PROG ": refusing to remove key slot %d: it is the last one, and "
			     "nothing could open %s any more\n",
			idx, vault);
		goto out;
	}
	if (upgrade_config(vault, &c, slot, secret, secret_len, key) < 0)
		goto out;
	removed_kind = c.slots[idx].kind;
	medfs_slot_clear(&c, idx);
	if (save_config(vault, &c, key) < 0)
		goto out;
	printf(PROG ": removed key slot %d of %s\n", idx, vault);
	journal_key_event(vault, MEDFS_OP_KEY_CHANGE,
			  "removed key slot %d (%s); authorized by slot %d (%s)", idx,
			  kind_name(removed_kind), slot, kind_name(c.slots[slot].kind));
	status = EXIT_SUCCESS;
out:
	medfs_secret_free(secret);
	medfs_secret_free(key);
	if (lockfd >= 0)
		close(lockfd);
	return status;
}

/* ---- passwd ---- */

static void passwd_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " passwd VAULT SLOT [--new-passphrase-file FILE]\n"
		"                        [--kdf-time N] [--kdf-memory MIB] [--label "
		"TEXT]\n"
		"                        [AUTHORIZATION]\n"
		"\n"
		"Changes the passphrase of passphrase slot SLOT of VAULT. The config is\n"
		"replaced atomically: the new passphrase works once the old one stops.\n"
		"The slot keeps its KDF parameters and label unless new ones are given.\n"
		"\n"
		"Options:\n"
		"  --new-passphrase-file FILE the new passphrase, from the first line of "
		"FILE\n"
		"                             (default: ask twice on the terminal)\n"
		"  --kdf-time N               Argon2id passes\n"
		"  --kdf-memory MIB           Argon2id memory in MiB\n"
		"  --label TEXT               a new label, at most %d bytes\n"
		"\n" AUTH_HELP,
		MEDFS_SLOT_LABEL_MAX);
}

static int cmd_passwd(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "new-passphrase-file", required_argument, NULL, OPT_NEW_PASSFILE },
		{ "kdf-time", required_argument, NULL, OPT_KDF_TIME },
		{ "kdf-memory", required_argument, NULL, OPT_KDF_MEMORY },
		{ "label", required_argument, NULL, OPT_LABEL },
		AUTH_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	const char *vault, *label = NULL, *new_passfile = NULL;
	struct medfs_kdf_params kdf = { 0, 0 };
	struct medfs_config c;
	struct auth a;
	char label_buf[MEDFS_SLOT_LABEL_MAX + 1];
	uint8_t *key = NULL, *secret = NULL;
	char *pass = NULL;
	size_t secret_len = 0, pass_len = 0;
	int opt, idx, slot, ret, lockfd = -1, status = EXIT_FAILURE;

	auth_init(&a);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_NEW_PASSFILE:
			new_passfile = optarg;
			break;
		case OPT_KDF_TIME:
			if (parse_kdf_time(optarg, &kdf.opslimit) < 0)
				return EXIT_USAGE;
			break;
		case OPT_KDF_MEMORY:
			if (parse_kdf_memory(optarg, &kdf.memlimit) < 0)
				return EXIT_USAGE;
			break;
		case OPT_LABEL:
			if (parse_label(optarg, &label) < 0)
				return EXIT_USAGE;
			break;
		default:
			ret = change_option(&a, opt, argv, passwd_usage);
			if (ret >= 0)
				return ret;
		}
	}
	slot = begin_slot_change(argc, argv, passwd_usage, &a, &vault, &idx, &c, &lockfd,
				 &key, &secret, &secret_len);
	if (slot == -2)
		return EXIT_USAGE;
	if (slot < 0)
		goto out;
	if (c.slots[idx].kind != MEDFS_SLOT_PASSPHRASE) {
		fprintf(stderr,
			PROG
			": key slot %d of %s is a %s slot, not a passphrase: add a new "
			"slot and remove this one instead\n",
			idx, vault, kind_name(c.slots[idx].kind));
		goto out;
	}
	if (kdf.opslimit == 0)
		kdf.opslimit = c.slots[idx].opslimit;
	if (kdf.memlimit == 0)
		kdf.memlimit = c.slots[idx].memlimit;
	snprintf(label_buf, sizeof(label_buf), "%s", label ? label : c.slots[idx].label);
	if (read_new_passphrase(new_passfile, &pass, &pass_len) < 0)
		goto out;
	warn_weak(&kdf, pass, pass_len);
	if (upgrade_config(vault, &c, slot, secret, secret_len, key) < 0)
		goto out;
	/* The slot is replaced in one atomic config write: no moment
	 * without a working passphrase in it. */
	ret = medfs_slot_set(&c, idx, MEDFS_SLOT_PASSPHRASE, (const uint8_t *)pass,
			     pass_len, &kdf, label_buf, key);
	if (ret < 0) {
		say_slot_error(ret, &kdf);
		goto out;
	}
	if (save_config(vault, &c, key) < 0)
		goto out;
	printf(PROG ": changed the passphrase of key slot %d of %s\n", idx, vault);
	journal_key_event(
		vault, MEDFS_OP_KEY_CHANGE,
		"changed the passphrase of key slot %d; authorized by slot %d (%s)", idx,
		slot, kind_name(c.slots[slot].kind));
	status = EXIT_SUCCESS;
out:
	medfs_passphrase_free(pass);
	medfs_secret_free(secret);
	medfs_secret_free(key);
	if (lockfd >= 0)
		close(lockfd);
	return status;
}

/* ---- backup and restore ---- */

static void backup_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " backup VAULT FILE\n"
		"\n"
		"Copies the config of VAULT (its key slots) to FILE, which must not "
		"exist\n"
		"yet (mode 0600). Needs no secret: the copy holds only wrapped keys. "
		"Keep\n"
		"it apart from the vault. As with LUKS header backups, every key slot "
		"in\n"
		"the copy keeps working for as long as the vault key stays the same, "
		"even\n"
		"after the slot is removed from the vault: destroy old copies when a\n"
		"secret is revoked, and rotate the vault key (" PROG " rotate) to make\n"
		"them all useless.\n");
}

static int cmd_backup(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint8_t buf[MEDFS_CONFIG_LEN + 1];
	const char *vault, *file, *used = MEDFS_CONFIG_NAME;
	struct medfs_config c;
	size_t len;
	int opt, fd, ret;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		return subcommand_option(PROG, opt, argv, backup_usage);
	}
	if (argc - optind != 2) {
		backup_usage(stderr);
		return EXIT_USAGE;
	}
	vault = argv[optind];
	file = argv[optind + 1];

	ret = medfs_config_read(vault, MEDFS_CONFIG_NAME, buf, &len);
	if (ret == 0)
		ret = medfs_config_decode(&c, buf, len);
	if (ret < 0) {
		int ret2 = medfs_config_read(vault, MEDFS_CONFIG_BACKUP_NAME, buf, &len);

		if (ret2 == 0)
			ret2 = medfs_config_decode(&c, buf, len);
		if (ret2 == 0) {
			fprintf(stderr,
				PROG
				": warning: %s/%s is missing or damaged: copying its "
				"second copy %s\n",
				vault, MEDFS_CONFIG_NAME, MEDFS_CONFIG_BACKUP_NAME);
			used = MEDFS_CONFIG_BACKUP_NAME;
		}
		ret = ret2 == -ENOENT && ret != -ENOENT ? ret : ret2;
	}
	if (ret == -ENOENT || ret == -ENOTDIR) {
		fprintf(stderr, PROG ": %s is not a medfs vault (no %s)\n", vault,
			MEDFS_CONFIG_NAME);
		return EXIT_FAILURE;
	} else if (ret < 0) {
		fprintf(stderr, PROG ": cannot read the config of %s: %s\n", vault,
			config_error(ret));
		return EXIT_FAILURE;
	}
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
		  0600);
	if (fd < 0) {
		fprintf(stderr, PROG ": cannot create %s: %s\n", file,
			errno == EEXIST ? "it exists (not overwritten)"
					: strerror(errno));
		return EXIT_FAILURE;
	}
	ret = fchmod(fd, 0600) < 0 ? -errno : 0;
	if (ret == 0)
		ret = write_fd(fd, buf, len);
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret < 0) {
		fprintf(stderr, PROG ": cannot write %s: %s\n", file, strerror(-ret));
		unlink(file);
		return EXIT_FAILURE;
	}
	sync_parent(file);
	printf(PROG ": copied %s/%s (%d key slots) to %s\n", vault, used,
	       medfs_config_slot_count(&c), file);
	return EXIT_SUCCESS;
}

static void restore_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " restore VAULT FILE [AUTHORIZATION]\n"
		"\n"
		"Writes the config saved in FILE (by " PROG " backup) to both copies of\n"
		"the config of VAULT. The secret given must open a key slot of FILE,\n"
		"and the vault key it opens must open the tree of VAULT: a copy made\n"
		"before a key rotation, or of another vault, is refused.\n"
		"\n" AUTH_HELP);
}

static int cmd_restore(int argc, char *argv[])
{
	static const struct option options[] = {
		AUTH_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	uint8_t buf[MEDFS_CONFIG_LEN + 1], cur[MEDFS_CONFIG_LEN + 1];
	const char *vault, *file;
	struct medfs_config c, current;
	struct medfs_vault *v = NULL;
	struct auth a;
	char why[WHY_LEN];
	uint8_t *key = NULL, *secret = NULL;
	size_t len = 0, cur_len = 0, secret_len = 0;
	int opt, ret, lockfd = -1, status = EXIT_FAILURE;

	auth_init(&a);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (opt) {
		default:
			ret = change_option(&a, opt, argv, restore_usage);
			if (ret >= 0)
				return ret;
		}
	}
	if (argc - optind != 2) {
		restore_usage(stderr);
		return EXIT_USAGE;
	}
	vault = argv[optind];
	file = argv[optind + 1];

	ret = medfs_config_read_file(file, buf, &len);
	if (ret < 0) {
		fprintf(stderr, PROG ": cannot read %s: %s\n", file, strerror(-ret));
		return EXIT_FAILURE;
	}
	lockfd = lock_vault(vault, MEDFS_LOCK_KEYS);
	if (lockfd < 0)
		goto out;
	key = medfs_secret_alloc(MEDFS_KEY_LEN);
	if (key == NULL) {
		fprintf(stderr, PROG ": cannot allocate secure memory\n");
		goto out;
	}
	ret = medfs_secret_read(a.kind, a.file, file, &secret, &secret_len, why,
				sizeof(why));
	if (ret < 0) {
		fprintf(stderr, PROG ": %s\n", why);
		goto out;
	}
	ret = medfs_config_open(buf, len, a.kind, secret, secret_len, &c, key);
	if (ret == -EKEYREJECTED) {
		fprintf(stderr, PROG ": wrong %s: no key slot of %s accepts it\n",
			a.kind == MEDFS_SLOT_PASSPHRASE ? "passphrase"
			: a.kind == MEDFS_SLOT_KEYFILE	? "key file"
							: "recovery key",
			file);
		goto out;
	} else if (ret == -EPROTONOSUPPORT) {
		fprintf(stderr,
			PROG ": %s has a config format this medfs-key does not know\n",
			file);
		goto out;
	} else if (ret == -EBADMSG) {
		fprintf(stderr, PROG ": %s is not a medfs config, or it is damaged\n",
			file);
		goto out;
	} else if (ret < 0) {
		fprintf(stderr, PROG ": cannot open %s: %s\n", file, strerror(-ret));
		goto out;
	}
	/* The current config need not be readable (that is what restore is
	 * for), but when it is, it must be the same vault's. */
	if ((medfs_config_read(vault, MEDFS_CONFIG_NAME, cur, &cur_len) == 0 &&
	     medfs_config_decode(&current, cur, cur_len) == 0) ||
	    (medfs_config_read(vault, MEDFS_CONFIG_BACKUP_NAME, cur, &cur_len) == 0 &&
	     medfs_config_decode(&current, cur, cur_len) == 0)) {
		if (memcmp(current.vault_id, c.vault_id, MEDFS_VAULT_ID_LEN) != 0) {
			fprintf(stderr,
				PROG ": %s is the config of another vault (its vault id "
				     "differs): not restored\n",
				file);
			goto out;
		}
	}
	/* A failure here is the answer, not an incident to log. */
	medfs_log_set(log_nothing);
	ret = medfs_vault_open_cipher(&v, vault, key, c.cipher);
	medfs_log_set(log_errors_only);
	if (ret == -EBADMSG) {
		fprintf(stderr,
			PROG ": the vault key in %s does not open the tree of %s (a copy "
			     "made before a key rotation?): not restored\n",
			file, vault);
		goto out;
	} else if (ret < 0) {
		fprintf(stderr, PROG ": cannot open the tree of %s: %s\n", vault,
			strerror(-ret));
		goto out;
	}
	medfs_vault_close(v);
	ret = medfs_config_write(vault, buf, len);
	if (ret < 0) {
		fprintf(stderr, PROG ": cannot write the config of %s: %s\n", vault,
			strerror(-ret));
		goto out;
	}
	printf(PROG ": restored the config of %s from %s (%d key slots)\n", vault, file,
	       medfs_config_slot_count(&c));
	journal_key_event(vault, MEDFS_OP_KEY_CHANGE,
			  "restored the config from a copy (%d key slots)",
			  medfs_config_slot_count(&c));
	if (medfs_config_rotating(&c))
		printf(PROG
		       ": a key rotation was in progress when %s was made: run '" PROG
		       " rotate %s' to finish it\n",
		       file, vault);
	status = EXIT_SUCCESS;
out:
	medfs_secret_free(secret);
	medfs_secret_free(key);
	if (lockfd >= 0)
		close(lockfd);
	return status;
}

/* ---- rotate ---- */

static void rotate_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " rotate VAULT [--reencrypt] [AUTHORIZATION]\n"
		"\n"
		"Replaces the vault key of VAULT with a new random one and moves every\n"
		"file header, directory header, name, symlink target and extended\n"
		"attribute over to it, without re-encrypting file contents. Every key\n"
		"slot keeps working: one secret authorizes the whole rotation. Config\n"
		"copies made before (" PROG " backup) open nothing afterwards.\n"
		"The vault must not be mounted. The rotation is crash-safe: if it is\n"
		"interrupted, run the same command again to finish it; until then the\n"
		"vault cannot be mounted.\n"
		"\n"
		"Options:\n"
		"  --reencrypt                also give every file a new file key and\n"
		"                             re-encrypt its contents\n"
		"  --journal DIR              the access journal, whose state follows "
		"the\n"
		"                             vault key (default: VAULT/journal)\n"
		"\n" AUTH_HELP);
}

struct rotate_ui {
	const char *vault;
	int tty;
	struct timespec start, last;
	struct medfs_rotate_progress now;
	int shown;
	struct sigaction old_int, old_term; /* restored by walk_end */
};

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static double elapsed(const struct timespec *from, const struct timespec *to)
{
	return (double)(to->tv_sec - from->tv_sec) +
	       (double)(to->tv_nsec - from->tv_nsec) / 1e9;
}

/* One progress line, at most five a second unless forced. */
static void show_progress(struct rotate_ui *ui, const struct medfs_rotate_progress *p,
			  int force)
{
	struct timespec now;
	double t, rate, left = -1;
	char line[160];
	int n;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!force && ui->shown && elapsed(&ui->last, &now) < 0.2)
		return;
	ui->last = now;
	ui->shown = 1;
	t = elapsed(&ui->start, &now);
	if (p->bytes_total > 0) {
		rate = t > 0 ? (double)p->bytes_done / t : 0;
		if (rate > 0 && p->bytes_done <= p->bytes_total)
			left = (double)(p->bytes_total - p->bytes_done) / rate;
		n = snprintf(line, sizeof(line),
			     "rotating: %" PRIu64 "/%" PRIu64 " files, %.0f of %.0f MiB, "
			     "%.1f MiB/s",
			     p->done, p->total, (double)p->bytes_done / MIB,
			     (double)p->bytes_total / MIB, rate / MIB);
	} else {
		rate = t > 0 ? (double)p->done / t : 0;
		if (rate > 0)
			left = (double)(p->total - p->done) / rate;
		n = snprintf(line, sizeof(line),
			     "rotating: %" PRIu64 "/%" PRIu64 " files, %.0f files/s",
			     p->done, p->total, rate);
	}
	if (n > 0 && (size_t)n < sizeof(line) && left >= 0)
		snprintf(line + n, sizeof(line) - (size_t)n, ", %.0f s left", left + 0.5);
	fprintf(stderr, "\r%-78s", line);
}

static int rotate_progress(void *ctx, const struct medfs_rotate_progress *p)
{
	struct rotate_ui *ui = ctx;

	ui->now = *p;
	if (ui->tty)
		show_progress(ui, p, 0);
	return stop_requested;
}

static void rotate_problem(void *ctx, const char *vault_path, const char *what)
{
	struct rotate_ui *ui = ctx;

	if (ui->tty && ui->shown)
		fprintf(stderr, "\n");
	ui->shown = 0;
	fprintf(stderr, PROG ": warning: %s/%s: %s\n", ui->vault, vault_path, what);
}

/* Starts a walk over vault (rotate, clone): its progress line, and SIGINT
 * and SIGTERM asking it to stop at a safe point. */
static void walk_begin(struct rotate_ui *ui, struct medfs_rotate_ops *ops, const char *vault)
{
	struct sigaction sa;

	memset(ui, 0, sizeof(*ui));
	ui->vault = vault;
	ui->tty = isatty(STDERR_FILENO);
	clock_gettime(CLOCK_MONOTONIC, &ui->start);
	ops->progress = rotate_progress;
	ops->problem = rotate_problem;
	ops->ctx = ui;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &ui->old_int);
	sigaction(SIGTERM, &sa, &ui->old_term);
}

/* Ends what walk_begin started: the signals as they were, the last
 * progress line. */
static void walk_end(struct rotate_ui *ui)
{
	sigaction(SIGINT, &ui->old_int, NULL);
	sigaction(SIGTERM, &ui->old_term, NULL);
	if (ui->tty && ui->shown) {
		show_progress(ui, &ui->now, 1);
		fprintf(stderr, "\n");
	}
}

static int cmd_rotate(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "reencrypt", no_argument, NULL, OPT_REENCRYPT },
		{ "journal", required_argument, NULL, OPT_JOURNAL },
		AUTH_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct medfs_rotate_ops ops;
	struct medfs_rotate_stats st;
	struct medfs_config c;
	struct rotate_ui ui;
	enum medfs_rotation mode;
	const char *vault, *journal = NULL;
	char journal_buf[PATH_MAX];
	struct auth a;
	uint8_t *key = NULL, *old_key = NULL, *secret = NULL;
	size_t secret_len = 0;
	int opt, ret, slot, reencrypt = 0, lockfd = -1, status = EXIT_FAILURE;

	auth_init(&a);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_REENCRYPT:
			reencrypt = 1;
			break;
		case OPT_JOURNAL:
			journal = optarg;
			break;
		default:
			ret = change_option(&a, opt, argv, rotate_usage);
			if (ret >= 0)
				return ret;
		}
	}
	if (argc - optind != 1) {
		rotate_usage(stderr);
		return EXIT_USAGE;
	}
	vault = argv[optind];
	mode = reencrypt ? MEDFS_ROTATION_REENCRYPT : MEDFS_ROTATION_REKEY;

	lockfd = lock_vault(vault, MEDFS_LOCK_ROTATE);
	if (lockfd < 0)
		goto out;
	key = medfs_secret_alloc(MEDFS_KEY_LEN);
	old_key = medfs_secret_alloc(MEDFS_KEY_LEN);
	if (key == NULL || old_key == NULL) {
		fprintf(stderr, PROG ": cannot allocate secure memory\n");
		goto out;
	}
	slot = open_vault(vault, &a, MEDFS_UNLOCK_ROTATING, &c, key, &secret,
			  &secret_len);
	if (slot < 0)
		goto out;

	if (medfs_config_rotating(&c)) {
		if (reencrypt && c.rotation != MEDFS_ROTATION_REENCRYPT) {
			fprintf(stderr,
				PROG
				": a rotation without --reencrypt of %s is in progress: "
				"finish it with '" PROG
				" rotate %s' first, then run '" PROG
				" rotate --reencrypt %s'\n",
				vault, vault, vault);
			goto out;
		}
		mode = (enum medfs_rotation)c.rotation;
		printf(PROG ": resuming the interrupted rotation of %s%s\n", vault,
		       mode == MEDFS_ROTATION_REENCRYPT ? " (with re-encryption)" : "");
		/* Both copies the same again before the tree is touched. */
		if (save_config(vault, &c, key) < 0)
			goto out;
	} else {
		/* A file an interrupted extension left longer than its header
		 * is settled by a mount or fsck: a rotation would move its
		 * header and leave its blocks as they are. */
		if (medfs_mounted_present(vault) > 0) {
			fprintf(stderr,
				PROG ": the last mount of %s did not end cleanly: run "
				     "'medfs-fsck -y %s' first (it cuts back the files a "
				     "crash left longer than their headers)\n",
				vault, vault);
			goto out;
		}
		if (upgrade_config(vault, &c, slot, secret, secret_len, key) < 0)
			goto out;
		ret = medfs_rotate_start(vault, &c, key, mode);
		if (ret < 0) {
			fprintf(stderr, PROG ": cannot start the rotation of %s: %s\n",
				vault, strerror(-ret));
			goto out;
		}
	}
	medfs_secret_free(secret);
	secret = NULL;
	ret = medfs_config_old_key(&c, key, old_key);
	if (ret < 0) {
		fprintf(stderr,
			PROG ": the previous vault key recorded in the config of %s does "
			     "not open (%s)\n",
			vault, strerror(-ret));
		goto out;
	}

	walk_begin(&ui, &ops, vault);
	ret = medfs_rotate_tree(vault, old_key, key, mode, c.cipher, &ops, &st);
	walk_end(&ui);
	if (ret == -ECANCELED) {
		fprintf(stderr,
			PROG ": rotation of %s interrupted: run '" PROG " rotate %s' to "
			     "finish it (the vault cannot be mounted until then)\n",
			vault, vault);
		goto out;
	} else if (ret < 0) {
		fprintf(stderr,
			PROG
			": rotation of %s stopped: %s; once that is fixed, run '" PROG
			" rotate %s' to finish it\n",
			vault, strerror(-ret), vault);
		goto out;
	}
	/* The journal's state is sealed under the vault key too. */
	if (journal == NULL) {
		snprintf(journal_buf, sizeof(journal_buf), "%s/%s", vault,
			 MEDFS_ROTATE_JOURNAL_DEFAULT);
		journal = journal_buf;
	}
	ret = medfs_rotate_journal(journal, old_key, key);
	if (ret == 1) {
		printf(PROG ": resealed the state of the access journal %s\n", journal);
	} else if (ret == -EBADMSG) {
		fprintf(stderr,
			PROG
			": warning: the state of the access journal %s opens under "
			"neither key: the next mount must start a new journal chain\n",
			journal);
	} else if (ret < 0 && ret != -ENOENT && ret != -ENOTDIR) {
		fprintf(stderr,
			PROG ": cannot reseal the state of the access journal %s: %s; "
			     "run '" PROG " rotate %s' again to finish\n",
			journal, strerror(-ret), vault);
		goto out;
	}
	ret = medfs_rotate_finish(vault, &c, key);
	if (ret < 0) {
		fprintf(stderr,
			PROG ": cannot write the config of %s: %s; run '" PROG
			     " rotate %s' again to finish\n",
			vault, strerror(-ret), vault);
		goto out;
	}
	printf(PROG ": rotated the vault key of %s: %" PRIu64 " objects, %" PRIu64
		    " moved to the new key%s\n",
	       vault, st.objects, st.converted,
	       mode == MEDFS_ROTATION_REENCRYPT ? " with new file keys" : "");
	journal_key_event(vault, MEDFS_OP_KEY_CHANGE,
			  "rotated the vault key%s: %" PRIu64 " objects, %" PRIu64
			  " moved, %" PRIu64 " damaged",
			  mode == MEDFS_ROTATION_REENCRYPT ? " with new file keys" : "",
			  st.objects, st.converted, st.damaged);
	if (st.damaged > 0)
		printf(PROG ": %" PRIu64
			    " damaged objects opened under neither key and were "
			    "left as they were (see the warnings; run medfs-fsck)\n",
		       st.damaged);
	printf(PROG ": copies of the config made before this rotation no longer open %s:"
		    " make a new one with '" PROG " backup'\n",
	       vault);
	status = EXIT_SUCCESS;
out:
	medfs_secret_free(secret);
	medfs_secret_free(old_key);
	medfs_secret_free(key);
	if (lockfd >= 0)
		close(lockfd);
	return status;
}

/* ---- clone ---- */

static void clone_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " clone SRC DST [AUTHORIZATION]\n"
		"\n"
		"Makes DST an independent copy of the vault SRC, for staging or a\n"
		"disaster-recovery drill: the same plaintext, but its own vault id\n"
		"and vault key, every object sealed again and every file under a new\n"
		"file key, so that nothing of one can be put into the other unseen.\n"
		"A copy made with cp shares SRC's keys and id: do not use one.\n"
		"DST gets SRC's key slots: the secrets that open SRC open DST (change\n"
		"them there with add, remove and passwd). SRC is not changed; it must\n"
		"not be mounted. DST must not exist or be empty. The clone is\n"
		"crash-safe: if it is interrupted, run the same command again to\n"
		"finish it; until then DST cannot be mounted.\n"
		"\n" AUTH_HELP);
}

/* DST's config exists: an interrupted clone of the vault whose key is
 * src_key, resumed. Returns the lock of DST, or -1 after saying why. */
static int clone_resume(const char *src, const char *dst, const struct auth *a,
			const uint8_t *src_key, struct medfs_config *dc, uint8_t *new_key)
{
	uint8_t *old_key = medfs_secret_alloc(MEDFS_KEY_LEN);
	int lockfd = -1, ok = 0;

	if (old_key == NULL) {
		fprintf(stderr, PROG ": cannot allocate secure memory\n");
		return -1;
	}
	lockfd = lock_vault(dst, MEDFS_LOCK_ROTATE);
	if (lockfd < 0)
		goto out;
	if (open_vault(dst, a, MEDFS_UNLOCK_ROTATING, dc, new_key, NULL, NULL) < 0)
		goto out;
	ok = dc->rotation == MEDFS_ROTATION_REENCRYPT &&
	     medfs_config_old_key(dc, new_key, old_key) == 0 &&
	     sodium_memcmp(old_key, src_key, MEDFS_KEY_LEN) == 0;
	if (!ok)
		fprintf(stderr,
			PROG ": %s is a vault, not an unfinished clone of %s: give a "
			     "new directory\n",
			dst, src);
	else
		printf(PROG ": resuming the interrupted clone of %s into %s\n", src, dst);
out:
	medfs_secret_free(old_key);
	if (!ok && lockfd >= 0) {
		close(lockfd);
		lockfd = -1;
	}
	return ok ? lockfd : -1;
}

/* A new clone: DST made (or found empty), its config saved. Returns the
 * lock of DST, or -1 after saying why. */
static int clone_start(const char *dst, const struct medfs_config *c,
		       const uint8_t *src_key, struct medfs_config *dc, uint8_t *new_key)
{
	char tmp[PATH_MAX];
	int exists, ret;

	/* All that a clone killed before its config was saved leaves, and
	 * removed only then: a DST that holds anything else is refused. */
	snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dst, MEDFS_CONFIG_NAME);
	ret = check_empty(dst, &exists);
	if (ret == -ENOTEMPTY && holds_only(dst, MEDFS_CONFIG_NAME ".tmp")) {
		unlink(tmp);
		ret = check_empty(dst, &exists);
	}
	if (ret < 0) {
		fprintf(stderr, PROG ": %s: %s\n", dst,
			ret == -ENOTEMPTY ? "exists and is not empty" : strerror(-ret));
		return -1;
	}
	if (!exists && mkdir(dst, 0700) < 0) {
		fprintf(stderr, PROG ": cannot create %s: %s\n", dst, strerror(errno));
		return -1;
	}
	*dc = *c;
	ret = medfs_rotate_clone_config(dc, new_key, src_key);
	if (ret < 0) {
		fprintf(stderr, PROG ": cannot make the config of %s: %s\n", dst,
			strerror(-ret));
		return -1;
	}
	if (save_config(dst, dc, new_key) < 0)
		return -1;
	return lock_vault(dst, MEDFS_LOCK_ROTATE);
}

static int cmd_clone(int argc, char *argv[])
{
	static const struct option options[] = {
		AUTH_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct medfs_rotate_ops ops;
	struct medfs_rotate_stats st;
	struct medfs_config c, dc;
	struct rotate_ui ui;
	const char *src, *dst;
	char conf[PATH_MAX];
	struct auth a;
	uint8_t *key = NULL, *new_key = NULL, *secret = NULL;
	size_t secret_len = 0;
	int opt, ret, slot, srclock = -1, dstlock = -1, status = EXIT_FAILURE;

	auth_init(&a);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		ret = change_option(&a, opt, argv, clone_usage);
		if (ret >= 0)
			return ret;
	}
	if (argc - optind != 2) {
		clone_usage(stderr);
		return EXIT_USAGE;
	}
	src = argv[optind];
	dst = argv[optind + 1];

	srclock = lock_vault(src, MEDFS_LOCK_ROTATE);
	if (srclock < 0)
		goto out;
	key = medfs_secret_alloc(MEDFS_KEY_LEN);
	new_key = medfs_secret_alloc(MEDFS_KEY_LEN);
	if (key == NULL || new_key == NULL) {
		fprintf(stderr, PROG ": cannot allocate secure memory\n");
		goto out;
	}
	slot = open_vault(src, &a, 0, &c, key, &secret, &secret_len);
	if (slot < 0)
		goto out;
	/* In memory only: the source is not changed. */
	if (c.version == 1 && upgrade_config(src, &c, slot, secret, secret_len, key) < 0)
		goto out;
	medfs_secret_free(secret);
	secret = NULL;
	snprintf(conf, sizeof(conf), "%s/%s", dst, MEDFS_CONFIG_NAME);
	if (access(conf, F_OK) == 0)
		dstlock = clone_resume(src, dst, &a, key, &dc, new_key);
	else
		dstlock = clone_start(dst, &c, key, &dc, new_key);
	if (dstlock < 0)
		goto out;

	walk_begin(&ui, &ops, dst);
	ret = medfs_rotate_copy_tree(src, dst, &ops);
	if (ret == 0)
		ret = medfs_rotate_tree(dst, key, new_key, MEDFS_ROTATION_REENCRYPT,
					dc.cipher, &ops, &st);
	walk_end(&ui);
	if (ret < 0) {
		fprintf(stderr,
			PROG ": clone of %s into %s %s: run '" PROG
			     " clone %s %s' again to finish it (%s cannot be mounted "
			     "until then)\n",
			src, dst, ret == -ECANCELED ? "interrupted" : strerror(-ret), src,
			dst, dst);
		goto out;
	}
	ret = medfs_rotate_finish(dst, &dc, new_key);
	if (ret < 0) {
		fprintf(stderr,
			PROG ": cannot write the config of %s: %s; run '" PROG
			     " clone %s %s' again to finish\n",
			dst, strerror(-ret), src, dst);
		goto out;
	}
	printf(PROG ": cloned %s into %s: %" PRIu64 " objects, under a vault id and "
		    "keys of its own\n",
	       src, dst, st.objects);
	if (st.damaged > 0)
		printf(PROG ": %" PRIu64 " damaged objects were copied as they were "
			    "(see the warnings; run medfs-fsck on %s)\n",
		       st.damaged, src);
	printf(PROG
	       ": %s opens with the secrets of %s's key slots (change them with '" PROG
	       " add', 'remove' and 'passwd'); its access journal starts empty\n",
	       dst, src);
	status = EXIT_SUCCESS;
out:
	medfs_secret_free(secret);
	medfs_secret_free(new_key);
	medfs_secret_free(key);
	if (dstlock >= 0)
		close(dstlock);
	if (srclock >= 0)
		close(srclock);
	return status;
}

static void set_auditor_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG
		" set-auditor VAULT PREFIX.pub [--journal DIR] [authorization]\n"
		"\n"
		"Records the auditor's public key (made by 'medfs-journal keygen') in\n"
		"the vault: the access journal is sealed to it from the next mount on.\n"
		"The change is itself journaled: a record naming the new key is\n"
		"appended to the journal, still under the old auditor key. Refused "
		"while\n"
		"the vault is mounted.\n"
		"\n"
		"Options:\n"
		"  --journal DIR              the journal directory, when the vault is\n"
		"                             mounted with -o journal=DIR (default\n"
		"                             VAULT/journal)\n" AUTH_HELP);
}

/* Journals the change of auditor key under the old key, when there is a
 * journal to continue. */
static int journal_set_auditor(const char *dir, const struct medfs_config *c,
			       const uint8_t *vault_key, const uint8_t new_pk[32])
{
	struct medfs_journal_writer *w = NULL;
	struct medfs_journal_record r;
	char detail[128], hex[65];
	uint8_t *state_key;
	struct stat st;
	int ret;

	if (!c->has_auditor || stat(dir, &st) < 0)
		return 0; /* no journal yet: nothing to continue */
	state_key = medfs_secret_alloc(MEDFS_KEY_LEN);
	if (!state_key)
		return -ENOMEM;
	ret = medfs_subkey_derive(state_key, MEDFS_SUBKEY_JOURNAL, vault_key);
	if (ret == 0)
		ret = medfs_journal_writer_open(&w, dir, c->auditor_pk, c->vault_id,
						state_key, NULL);
	if (ret == 0) {
		memset(&r, 0, sizeof(r));
		r.op = MEDFS_OP_SET_AUDITOR;
		r.uid = getuid();
		r.gid = getgid();
		r.pid = getpid();
		r.program = "medfs-key";
		r.offset = -1;
		sodium_bin2hex(hex, sizeof(hex), new_pk, 32);
		snprintf(detail, sizeof(detail), "new auditor key %s", hex);
		r.detail = detail;
		ret = medfs_journal_append(w, &r, 1);
		if (ret == 0)
			ret = medfs_journal_writer_close(w);
		else
			medfs_journal_writer_close(w);
	}
	medfs_secret_free(state_key);
	return ret;
}

static int cmd_set_auditor(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "journal", required_argument, NULL, OPT_JOURNAL },
		AUTH_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct medfs_auditor_key *ak = NULL;
	struct medfs_config c;
	const char *vault, *journal = NULL;
	char journal_buf[PATH_MAX];
	struct auth a;
	char pkhex[2 * MEDFS_AUDITOR_PK_LEN + 1];
	uint8_t *key = NULL;
	int opt, ret, slot, lockfd = -1, status = EXIT_FAILURE;

	auth_init(&a);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_JOURNAL:
			journal = optarg;
			break;
		default:
			ret = change_option(&a, opt, argv, set_auditor_usage);
			if (ret >= 0)
				return ret;
		}
	}
	if (argc - optind != 2) {
		set_auditor_usage(stderr);
		return EXIT_USAGE;
	}
	vault = argv[optind];
	if (read_auditor_key(argv[optind + 1], &ak) < 0)
		return EXIT_FAILURE;
	if (!journal) {
		snprintf(journal_buf, sizeof(journal_buf), "%s/journal", vault);
		journal = journal_buf;
	}
	/* Alone, like a rotation: a mounted driver is writing the journal. */
	slot = begin_change(vault, MEDFS_LOCK_ROTATE, &a, 0, &c, &lockfd, &key, NULL,
			    NULL);
	if (slot < 0)
		goto out;
	if (c.version == 1) {
		fprintf(stderr,
			PROG ": %s has a format 1 config: change a key slot first "
			     "(medfs-key passwd) to convert it\n",
			vault);
		goto out;
	}
	ret = journal_set_auditor(journal, &c, key, medfs_auditor_key_box_pk(ak));
	if (ret < 0) {
		fprintf(stderr, PROG ": cannot journal the change in %s: %s\n", journal,
			strerror(-ret));
		goto out;
	}
	c.has_auditor = 1;
	memcpy(c.auditor_pk, medfs_auditor_key_box_pk(ak), sizeof(c.auditor_pk));
	if (save_config(vault, &c, key) < 0)
		goto out;
	printf(PROG ": recorded the auditor key of %s\n", argv[optind + 1]);
	journal_key_event(vault, MEDFS_OP_KEY_CHANGE,
			  "set the auditor key to %s; authorized by slot %d (%s)",
			  hex_pk(medfs_auditor_key_box_pk(ak), pkhex), slot,
			  kind_name(c.slots[slot].kind));
	status = EXIT_SUCCESS;
out:
	medfs_auditor_key_free(ak);
	medfs_secret_free(key);
	if (lockfd >= 0)
		close(lockfd);
	return status;
}

static const struct subcommand subcommands[] = {
	{ "init", cmd_init, NULL,
	  "create a new vault, key slot 0 opened by a passphrase" },
	{ "list", cmd_list, NULL, "list the key slots of a vault" },
	{ "add", cmd_add, NULL, "add a passphrase, key file or recovery key slot" },
	{ "remove", cmd_remove, NULL, "remove a key slot" },
	{ "passwd", cmd_passwd, NULL, "change the passphrase of a key slot" },
	{ "backup", cmd_backup, NULL,
	  "copy the config (key slots) of a vault to a file" },
	{ "restore", cmd_restore, NULL, "write a config copy back to a vault" },
	{ "rotate", cmd_rotate, NULL, "replace the vault key, keeping every key slot" },
	{ "clone", cmd_clone, NULL, "copy a vault into an independent vault" },
	{ "set-auditor", cmd_set_auditor, NULL, "record the auditor's public key" },
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
	const struct subcommand *c;
	int status, ret;

	/* Before any help too: init's names the default cipher of this CPU. */
	if (medfs_crypto_init() < 0) {
		fprintf(stderr, PROG ": cannot initialise libsodium\n");
		return EXIT_FAILURE;
	}
	c = subcommand_pick(argc, argv, PROG, subcommands, NSUBCOMMANDS, usage, &status);
	if (!c)
		return status;
	ret = medfs_disable_core_dumps();
	if (ret < 0) {
		fprintf(stderr, PROG ": cannot disable core dumps: %s\n", strerror(-ret));
		return EXIT_FAILURE;
	}
	medfs_log_set(log_errors_only);
	{
		/* rotate and clone hold a directory open per level of the
		 * tree: one as deep as PATH_MAX allows (2,000 levels) needs
		 * more descriptors than the usual soft limit of 1,024. */
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	subcommand_name = argv[1];
	return c->fn(argc - 1, argv + 1);
}
