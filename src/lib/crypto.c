/* medfs: key derivation and secret memory. */
#include <errno.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "medfs/crypto.h"

_Static_assert(sizeof(MEDFS_KDF_CONTEXT) - 1 == crypto_kdf_CONTEXTBYTES,
	       "KDF context must be exactly crypto_kdf_CONTEXTBYTES");
_Static_assert(MEDFS_KEY_LEN >= crypto_kdf_BYTES_MIN &&
		       MEDFS_KEY_LEN <= crypto_kdf_BYTES_MAX,
	       "subkey length");
_Static_assert(MEDFS_KEY_LEN == crypto_kdf_KEYBYTES, "vault key length");

int medfs_crypto_init(void)
{
	/* 1 means already initialised, which is fine. */
	if (sodium_init() < 0)
		return -EIO;
	return 0;
}

int medfs_subkey_derive(uint8_t out[MEDFS_KEY_LEN], enum medfs_subkey id,
			const uint8_t vault_key[MEDFS_KEY_LEN])
{
	if (id < MEDFS_SUBKEY_HEADER || id > MEDFS_SUBKEY_ROTATE)
		return -EINVAL;
	if (crypto_kdf_derive_from_key(out, MEDFS_KEY_LEN, (uint64_t)id,
				       MEDFS_KDF_CONTEXT, vault_key) != 0) {
		sodium_memzero(out, MEDFS_KEY_LEN);
		return -EINVAL;
	}
	return 0;
}

void *medfs_secret_alloc(size_t len)
{
	return sodium_malloc(len);
}

void medfs_secret_free(void *p)
{
	/* sodium_free wipes before unmapping and accepts NULL. */
	sodium_free(p);
}

int medfs_disable_core_dumps(void)
{
	const struct rlimit none = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &none) != 0)
		return -errno;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return -errno;
	return 0;
}

/* Secret files, as ssh judges private keys. */
enum privacy { PRIVATE, SHARED_MODE, FOREIGN_OWNER };

static enum privacy judge(const struct stat *st)
{
	if (!S_ISREG(st->st_mode))
		return PRIVATE; /* a pipe or a terminal: nothing stored */
	if (st->st_uid != geteuid() && st->st_uid != 0)
		return FOREIGN_OWNER;
	if (st->st_mode & (S_IRWXG | S_IRWXO))
		return SHARED_MODE;
	return PRIVATE;
}

int medfs_secret_file_check(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	return judge(&st) == PRIVATE ? 0 : -EPERM;
}

int medfs_secret_file_why(const char *path, char *why, size_t whysz)
{
	struct stat st;

	if (stat(path, &st) < 0 || why == NULL || whysz == 0)
		return 0;
	switch (judge(&st)) {
	case SHARED_MODE:
		snprintf(why, whysz,
			 "%s holds a secret but its group or others may access it "
			 "(mode %04o): refused; make it private with: chmod 600 %s",
			 path, (unsigned int)(st.st_mode & 07777), path);
		return 1;
	case FOREIGN_OWNER:
		snprintf(why, whysz,
			 "%s holds a secret but belongs to another user (uid %u), "
			 "neither you (uid %u) nor root: refused; use a file of your "
			 "own, or take it with: chown %u %s && chmod 600 %s",
			 path, (unsigned int)st.st_uid, (unsigned int)geteuid(),
			 (unsigned int)geteuid(), path, path);
		return 1;
	default:
		return 0;
	}
}
