/* medfs-fsck: checks every directory header, name, file header, block,
 * symlink target, extended attribute and file metadata of a vault, its
 * config copies and its journal's STATE; with --repair (or -y), repairs
 * what can be repaired through the library's repair module
 * (medfs/repair.h), which changes nothing it cannot read.
 *
 * Two walks over the same tree. The first goes through the library with
 * plaintext paths, reads everything back and collects what the integrity
 * hook reports, so a problem is named by its plaintext path and by the
 * vault file and offset where it lies. The second lists each vault
 * directory directly and reports what the first walk could not see:
 * entries whose names do not authenticate and orphan long-name sidecars.
 *
 * Exit status as e2fsck's, bits that add up: 0 clean, 1 problems
 * corrected, 4 problems left uncorrected, 8 could not run. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "fsck.h"
#include "medfs/block.h"
#include "medfs/config.h"
#include "medfs/crypto.h"
#include "medfs/header.h"
#include "medfs/journal.h"
#include "medfs/log.h"
#include "medfs/name.h"
#include "medfs/repair.h"
#include "medfs/rotate.h"
#include "medfs/settle.h"
#include "medfs/unlock.h"
#include "medfs/vault.h"

static bool exists(const char *dir, const char *name);

static void usage(FILE *f)
{
	fprintf(f,
		"usage: medfs-fsck VAULT [-n | --repair | -y] [--passphrase-file FILE |\n"
		"                  --keyfile FILE | --recovery-key-file FILE] [-v] [--help]\n"
		"\n"
		"Checks every directory header, name, file header, block, symlink\n"
		"target and extended attribute of the medfs vault VAULT, and repairs\n"
		"what it can with --repair or -y. VAULT must not be mounted.\n"
		"\n"
		"  -n, --check-only        change nothing (the default)\n"
		"  --repair                repair, asking on the terminal before each repair\n"
		"  -y, --yes               repair without asking: a file that cannot be read\n"
		"                          whole goes to /lost+found with every block that\n"
		"                          authenticates (NAME.lost-ranges lists what was\n"
		"                          lost); directory headers are sealed again or\n"
		"                          rebuilt; leftovers of interrupted operations are\n"
		"                          removed; a torn config copy is written again\n"
		"  --passphrase-file FILE  read the passphrase from the first line\n"
		"                          of FILE (default: ask on the terminal)\n"
		"  --keyfile FILE          unlock with a key file slot\n"
		"  --recovery-key-file FILE  unlock with a recovery key, as printed\n"
		"  -v, --verbose           name every object as it is checked\n"
		"  -h, --help              show this help\n"
		"\n"
		"Exit status (added up, as e2fsck's): 0 no problem, 1 problems corrected,\n"
		"4 problems left uncorrected, 8 could not run (wrong secret, no vault,\n"
		"vault mounted...).\n");
}

/* Reads one copy of the config (either format); returns 0, -ENOENT or
 * -EBADMSG. */
static int read_config_copy(const struct fsck *k, const char *name,
			    uint8_t out[MEDFS_CONFIG_LEN + 1], size_t *len,
			    const uint8_t vault_key[MEDFS_KEY_LEN])
{
	struct medfs_config c;
	int ret;

	ret = medfs_config_read(k->vault_dir, name, out, len);
	if (ret == 0)
		ret = medfs_config_decode(&c, out, *len);
	if (ret == 0)
		ret = medfs_config_verify(out, vault_key);
	return ret == -ENOENT ? ret : ret < 0 ? -EBADMSG : 0;
}

/* Both copies of the config must authenticate and be the same. */
static void check_config(struct fsck *k, const uint8_t vault_key[MEDFS_KEY_LEN])
{
	static uint8_t primary[MEDFS_CONFIG_LEN + 1], backup[MEDFS_CONFIG_LEN + 1];
	unsigned long snapshot = k->problems;
	size_t lp = 0, lb = 0;
	int rp, rb;

	rp = read_config_copy(k, MEDFS_CONFIG_NAME, primary, &lp, vault_key);
	rb = read_config_copy(k, MEDFS_CONFIG_BACKUP_NAME, backup, &lb, vault_key);
	if (rp < 0)
		problem(k, NULL, -1, MEDFS_CONFIG_NAME, -1, "vault config %s",
			rp == -EBADMSG ? "is damaged or fails authentication"
				       : strerror(-rp));
	if (rb < 0)
		problem(k, NULL, -1, MEDFS_CONFIG_BACKUP_NAME, -1,
			"second copy of the "
			"vault config %s",
			rb == -EBADMSG ? "is damaged or fails authentication"
				       : strerror(-rb));
	if (rp == 0 && rb == 0 && (lp != lb || sodium_memcmp(primary, backup, lp) != 0))
		problem(k, NULL, -1, MEDFS_CONFIG_BACKUP_NAME, -1,
			"differs from %s (interrupted key change? write the config "
			"again with medfs-key)",
			MEDFS_CONFIG_NAME);
	if (k->problems > snapshot && k->repair &&
	    ask(k, NULL, rp < 0 ? MEDFS_CONFIG_NAME : MEDFS_CONFIG_BACKUP_NAME,
		"write the damaged or outdated config copy again from the sound one")) {
		char what[512];
		int r = medfs_repair_config(k->repair, vault_key, what, sizeof(what));

		if (r > 0) {
			repaired(k, snapshot, NULL, MEDFS_CONFIG_BACKUP_NAME, "%s", what);
			journal_repair(k, "config: %s", what);
		} else if (r < 0) {
			not_repaired(k, NULL, MEDFS_CONFIG_NAME, what);
		}
	}
	for (size_t i = 0; i < 2; i++) {
		static const char *const tmps[] = { MEDFS_CONFIG_NAME ".tmp",
						    MEDFS_CONFIG_BACKUP_NAME ".tmp" };

		if (!exists(k->vault_dir, tmps[i]))
			continue;
		problem(k, NULL, -1, tmps[i], -1, "temporary left by an interrupted key change");
		remove_leftover(k, tmps[i], "temporary");
	}
}

/* The access journal's STATE (VAULT/journal/STATE, when the journal is
 * there), sealed under the vault key like the tree: one that does not
 * unseal (damaged, or left under an old key by a rotation) stops the next
 * mount from continuing the journal's chain. */
static void check_journal_state(struct fsck *k, const uint8_t vault_key[MEDFS_KEY_LEN])
{
	uint8_t state[MEDFS_ROTATE_JOURNAL_STATE_LEN + 1];
	struct medfs_rotate_keys *rk = NULL;
	char path[PATH_MAX];
	ssize_t n;
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s/STATE", k->vault_dir,
		 MEDFS_ROTATE_JOURNAL_DEFAULT);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return; /* no journal here (it may be kept elsewhere) */
	n = read(fd, state, sizeof(state));
	r = n < 0 ? -errno : 0;
	close(fd);
	/* Under the vault key alone: both keys of a rotation are this one. */
	if (r == 0)
		r = medfs_rotate_keys_new(&rk, vault_key, vault_key);
	if (r == 0)
		r = medfs_rotate_journal_state(rk, state, (size_t)n);
	medfs_rotate_keys_free(rk);
	if (r == -ENOMEM)
		k->oom = true;
	else if (r < 0)
		problem(k, NULL, -1, MEDFS_ROTATE_JOURNAL_DEFAULT "/STATE", -1,
			"journal state %s",
			r == -EBADMSG
				? "does not unseal under the vault key (the next "
				  "mount must start a new chain: -o journal_restart)"
				: strerror(-r));
}

static void log_sink_quiet(int priority, const char *msg)
{
	(void)priority;
	(void)msg;
}

static void log_sink_verbose(int priority, const char *msg)
{
	(void)priority;
	fprintf(stderr, "medfs-fsck: library: %s\n", msg);
}

static bool exists(const char *dir, const char *name)
{
	struct stat st;
	char *p;
	int r;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return false;
	r = lstat(p, &st);
	free(p);
	return r == 0;
}

/* Whether this process has a terminal to ask on. */
static bool have_tty(void)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

struct options {
	const char *vault;
	const char *secret_file;
	enum medfs_slot_kind kind;
	enum mode mode;
	bool verbose;
};

/* Returns 0, 1 after --help, or -1 on a usage error (said). */
static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
		{ "passphrase-file", required_argument, NULL, 'p' },
		{ "keyfile", required_argument, NULL, 'k' },
		{ "recovery-key-file", required_argument, NULL, 'r' },
		{ "check-only", no_argument, NULL, 'n' },
		{ "repair", no_argument, NULL, 'R' },
		{ "yes", no_argument, NULL, 'y' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool n = false, repair = false, yes = false;
	int secret_given = 0, c;

	while ((c = getopt_long(argc, argv, "nyvh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
		case 'k':
		case 'r':
			if (secret_given++) {
				fprintf(stderr,
					"medfs-fsck: give one of --passphrase-file, "
					"--keyfile and --recovery-key-file\n");
				return -1;
			}
			o->secret_file = optarg;
			o->kind = c == 'p'   ? MEDFS_SLOT_PASSPHRASE
				  : c == 'k' ? MEDFS_SLOT_KEYFILE
					     : MEDFS_SLOT_RECOVERY;
			break;
		case 'n':
			n = true;
			break;
		case 'R':
			repair = true;
			break;
		case 'y':
			yes = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return -1;
	}
	if (n && (repair || yes)) {
		fprintf(stderr, "medfs-fsck: -n checks only: it cannot go with --repair or -y\n");
		return -1;
	}
	o->mode = yes ? MODE_REPAIR : repair ? MODE_ASK : MODE_CHECK;
	o->vault = argv[optind];
	return 0;
}

/* Nobody else may use the vault while it is checked: not a mount (its
 * driver holds the vault lock for as long as it is mounted), not medfs-key.
 * Returns the lock's descriptor, -2 when there is no lock to take (a
 * read-only vault, or one never mounted, checked only), or -1 (said). */
static int lock_vault(const struct options *o)
{
	int fd;

	if (o->mode == MODE_CHECK && !exists(o->vault, MEDFS_LOCK_NAME))
		return -2; /* never mounted: -n must not add a file */
	fd = medfs_vault_lock(o->vault, MEDFS_LOCK_ROTATE);
	if (fd >= 0)
		return fd;
	if (fd == -EBUSY)
		fprintf(stderr,
			"medfs-fsck: %s is mounted: unmount it first (fusermount3 -u "
			"MOUNTPOINT)\n",
			o->vault);
	else if (fd == -EAGAIN)
		fprintf(stderr,
			"medfs-fsck: %s is locked by medfs-key (a key change or a "
			"rotation): let it finish\n",
			o->vault);
	else if (o->mode == MODE_CHECK && (fd == -EROFS || fd == -EACCES))
		return -2; /* a read-only vault: nothing can change it meanwhile */
	else
		fprintf(stderr, "medfs-fsck: cannot lock %s: %s\n", o->vault, strerror(-fd));
	return -1;
}

/* Opens the tree; when the root's header is damaged, repairs it when
 * repairing. Returns 0, 1 (the root cannot be read: reported), or -1
 * (said). */
static int open_tree(struct fsck *k, const uint8_t *vault_key, uint32_t cipher)
{
	const struct medfs_binding root = { .name = "", .name_len = 0 };
	unsigned long snapshot = k->problems;
	int ret;

	ret = medfs_vault_open_cipher(&k->vault, k->vault_dir, vault_key, cipher);
	if (ret == -EBADMSG || (ret == -ENOENT && exists(k->vault_dir, MEDFS_TREE_NAME))) {
		problem(k, "/", -1, MEDFS_TREE_NAME, -1, "%s",
			ret == -EBADMSG ? "root directory header does not authenticate"
					: "root directory header missing");
		if (repair_dir(k, snapshot, "/", MEDFS_TREE_NAME, &root))
			ret = medfs_vault_open_cipher(&k->vault, k->vault_dir, vault_key,
						      cipher);
		if (ret == -EBADMSG || ret == -ENOENT)
			return 1;
	} else if (ret == -ENOENT || ret == -ENOTDIR) {
		problem(k, "/", -1, MEDFS_TREE_NAME, -1,
			"root directory missing (nothing below it checked)");
		return 1;
	}
	if (ret < 0) {
		fprintf(stderr, "medfs-fsck: cannot open the vault %s: %s\n", k->vault_dir,
			strerror(-ret));
		return -1;
	}
	medfs_vault_set_integrity_hook(k->vault, integrity_hook, k);
	/* A file longer than its header says is read at the header's size
	 * and reported (check_file), with or without the unclean marker. */
	medfs_vault_set_careful(k->vault, true);
	if (k->repair)
		medfs_repair_set_vault(k->repair, k->vault);
	return 0;
}

/* Unlocks the vault (the key into vault_key, secret memory). Returns 0 or
 * -1 (said, and a wrong secret journaled). */
static int unlock_vault(struct fsck *k, const struct options *o, struct medfs_config *config,
			uint8_t *vault_key)
{
	char why[512];
	int ret, slot, used_backup = 0;

	ret = medfs_unlock(k->vault_dir, o->kind, o->secret_file, config, vault_key, &slot,
			   &used_backup, why, sizeof(why));
	if (ret < 0) {
		fprintf(stderr, "medfs-fsck: %s\n", why);
		/* Journaled through the spool (medfs/journal.h). */
		if (ret == -EKEYREJECTED &&
		    medfs_journal_spool_tool(
			    k->vault_dir, MEDFS_OP_UNLOCK_FAILED,
			    o->kind == MEDFS_SLOT_KEYFILE ? "medfs-fsck: wrong key file"
			    : o->kind == MEDFS_SLOT_RECOVERY
				    ? "medfs-fsck: wrong recovery key"
				    : "medfs-fsck: wrong passphrase") < 0)
			fprintf(stderr, "medfs-fsck: warning: cannot journal the failed "
					"attempt\n");
		return -1;
	}
	if (k->verbose)
		fprintf(stderr, "medfs-fsck: key slot %d opened the %s\n", slot,
			used_backup ? "second copy of the config" : "config");
	if (used_backup)
		fprintf(stderr,
			"medfs-fsck: warning: %s is missing or damaged; used "
			"the second copy %s\n",
			MEDFS_CONFIG_NAME, MEDFS_CONFIG_BACKUP_NAME);
	if (medfs_subkey_derive(k->name_key, MEDFS_SUBKEY_NAME_MAC, vault_key) < 0 ||
	    medfs_subkey_derive(k->name_key + MEDFS_KEY_LEN, MEDFS_SUBKEY_NAME_ENC,
				vault_key) < 0 ||
	    medfs_subkey_derive(k->dir_key, MEDFS_SUBKEY_DIR, vault_key) < 0) {
		fprintf(stderr, "medfs-fsck: cannot derive subkeys\n");
		return -1;
	}
	if (k->verbose)
		fprintf(stderr, "medfs-fsck: content blocks: %s\n",
			medfs_block_cipher_name(config->cipher));
	return 0;
}

/* VAULT/medfs.mounted outlives a mount that did not end cleanly: files
 * may be longer than their headers say until the next mount settles them
 * (include/medfs/settle.h). A repair that leaves no problem has cut every
 * such file back (check_file) and removes the marker. */
static void unclean_marker(struct fsck *k, const char *vault_dir, bool settled)
{
	int r = medfs_mounted_present(vault_dir);

	if (r <= 0)
		return;
	if (!k->repair || !settled) {
		printf("medfs-fsck: %s/%s: the last mount did not end cleanly; the next "
		       "mount, or medfs-fsck -y, settles it\n",
		       vault_dir, MEDFS_MOUNTED_NAME);
		return;
	}
	r = medfs_mounted_clear(vault_dir);
	if (r < 0)
		fprintf(stderr, "medfs-fsck: cannot remove %s/%s: %s\n", vault_dir,
			MEDFS_MOUNTED_NAME, strerror(-r));
	else
		printf("medfs-fsck: %s settled after a mount that did not end cleanly "
		       "(%s removed)\n",
		       vault_dir, MEDFS_MOUNTED_NAME);
}

/* The exit status from what was found and corrected. */
static int status_of(const struct fsck *k)
{
	unsigned long left = k->problems > k->fixed ? k->problems - k->fixed : 0;

	return (k->fixed ? EXIT_CORRECTED : 0) | (left ? EXIT_UNCORRECTED : 0);
}

static void summary(struct fsck *k)
{
	unsigned long left = k->problems > k->fixed ? k->problems - k->fixed : 0;

	progress_clear(k);
	if (k->mode == MODE_CHECK)
		printf("medfs-fsck: %lu objects checked, %lu problems\n", k->objects,
		       k->problems);
	else
		printf("medfs-fsck: %lu objects checked, %lu problems, %lu corrected, %lu "
		       "left\n",
		       k->objects, k->problems, k->fixed, left);
	if (k->actions)
		journal_repair(k,
			       "done: %lu objects checked, %lu problems, %lu corrected, "
			       "%lu left (%lu repairs)",
			       k->objects, k->problems, k->fixed, left, k->actions);
}

int main(int argc, char **argv)
{
	struct options o = { .kind = MEDFS_SLOT_PASSPHRASE };
	struct fsck k = { 0 };
	struct medfs_config config;
	uint8_t *vault_key = NULL;
	struct medfs_binding root = { .name = "", .name_len = 0 };
	char *vault_dir = NULL;
	struct stat st;
	int ret, lock = -1, status = EXIT_FAILED;

	ret = parse_options(argc, argv, &o);
	if (ret != 0)
		return ret > 0 ? EXIT_CLEAN : EXIT_FAILED;
	k.mode = o.mode;
	k.verbose = o.verbose;
	k.tty = isatty(STDERR_FILENO);
	vault_dir = strdup(o.vault);
	if (!vault_dir) {
		fprintf(stderr, "medfs-fsck: out of memory\n");
		return EXIT_FAILED;
	}
	/* "VAULT/" and "VAULT" name the same vault paths. */
	for (size_t n = strlen(vault_dir); n > 1 && vault_dir[n - 1] == '/'; n--)
		vault_dir[n - 1] = '\0';
	k.vault_dir = vault_dir;
	o.vault = vault_dir;

	if (medfs_crypto_init() < 0) {
		fprintf(stderr, "medfs-fsck: cannot start libsodium\n");
		goto out;
	}
	ret = medfs_disable_core_dumps();
	if (ret < 0)
		fprintf(stderr, "medfs-fsck: warning: cannot disable core dumps: %s\n",
			strerror(-ret));
	medfs_log_set(k.verbose ? log_sink_verbose : log_sink_quiet);

	if (stat(vault_dir, &st) != 0) {
		fprintf(stderr, "medfs-fsck: cannot open %s: %s\n", vault_dir,
			strerror(errno));
		goto out;
	}
	if (!S_ISDIR(st.st_mode) || (!exists(vault_dir, MEDFS_CONFIG_NAME) &&
				     !exists(vault_dir, MEDFS_CONFIG_BACKUP_NAME))) {
		fprintf(stderr, "medfs-fsck: %s is not a medfs vault (no %s)\n",
			vault_dir, MEDFS_CONFIG_NAME);
		goto out;
	}
	if (k.mode == MODE_ASK && !have_tty()) {
		fprintf(stderr, "medfs-fsck: --repair asks before each repair, on a terminal, "
				"and there is none: give -y to repair without asking\n");
		goto out;
	}
	lock = lock_vault(&o);
	if (lock == -1)
		goto out;

	vault_key = medfs_secret_alloc(MEDFS_KEY_LEN);
	k.name_key = medfs_secret_alloc(MEDFS_NAME_KEY_LEN);
	k.dir_key = medfs_secret_alloc(MEDFS_KEY_LEN);
	k.buf = medfs_secret_alloc(READ_CHUNK);
	if (!vault_key || !k.name_key || !k.dir_key || !k.buf) {
		fprintf(stderr, "medfs-fsck: cannot allocate secure memory\n");
		goto out;
	}
	if (unlock_vault(&k, &o, &config, vault_key) < 0)
		goto out;
	if (k.mode != MODE_CHECK) {
		ret = medfs_repair_new(&k.repair, vault_dir, vault_key, config.cipher);
		if (ret < 0) {
			fprintf(stderr, "medfs-fsck: cannot prepare the repairs: %s\n",
				strerror(-ret));
			goto out;
		}
	}
	k.started_ns = now_ns();

	check_config(&k, vault_key);
	/* Blocks are checked with the cipher of the config that opened. */
	ret = open_tree(&k, vault_key, config.cipher);
	if (ret < 0)
		goto out;
	if (ret > 0) {
		k.objects++;
		summary(&k);
		status = status_of(&k);
		goto out;
	}
	check_journal_state(&k, vault_key);
	medfs_secret_free(vault_key);
	vault_key = NULL;

	k.objects++; /* the root directory */
	memset(root.parent_id, 0, sizeof(root.parent_id));
	check_dir(&k, "/", MEDFS_TREE_NAME, &root, false);
	flush_events(&k, NULL, -1);

	if (k.oom) {
		progress_clear(&k);
		fprintf(stderr, "medfs-fsck: out of memory; the check is incomplete\n");
		/* As e2fsck: what was corrected before is said too. */
		status = EXIT_FAILED | (k.fixed ? EXIT_CORRECTED : 0);
		goto out;
	}
	summary(&k);
	status = status_of(&k);
	unclean_marker(&k, vault_dir, lock >= 0 && !(status & EXIT_UNCORRECTED));
out:
	progress_clear(&k);
	if (k.vault)
		medfs_vault_close(k.vault);
	medfs_repair_free(k.repair);
	drop_events(&k);
	free(k.events);
	for (size_t i = 0; i < k.n_reported; i++)
		free(k.reported[i]);
	free(k.reported);
	medfs_secret_free(vault_key);
	medfs_secret_free(k.name_key);
	medfs_secret_free(k.dir_key);
	medfs_secret_free(k.buf);
	if (lock >= 0)
		close(lock);
	free(vault_dir);
	return status;
}
