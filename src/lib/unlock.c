/* medfs: unlocking a vault with any kind of key slot, and the vault lock.
 *
 * Recovery keys: the 256-bit key is written as 52 symbols of Crockford's
 * base32 (51 of them hold 5 bits each, the last one the 256th bit and a
 * 4-bit check of the whole key), in 13 groups of 4 symbols, each followed
 * by a check symbol
 *   c = (v0 + 3*v1 + 5*v2 + 7*v3 + 11*group) mod 32.
 * The weights are odd, so any change of one symbol changes c: a single
 * mistyped character is always caught, and the group it is in is named.
 * The group number in the sum catches groups typed in the wrong order. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "medfs/log.h"
#include "medfs/block.h"
#include "medfs/config.h"
#include "medfs/crypto.h"
#include "medfs/passphrase.h"
#include "medfs/unlock.h"

#define SYMBOLS 52 /* data symbols */
#define TEXT_SYMBOLS (MEDFS_RECOVERY_GROUPS * MEDFS_RECOVERY_GROUP_LEN)
#define KEYFILE_MAX 128	  /* longer than any valid key file */
#define RECOVERY_MAX 4096 /* longer than any sane recovery key file */

static const char alphabet[32] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

_Static_assert(SYMBOLS == MEDFS_RECOVERY_GROUPS * (MEDFS_RECOVERY_GROUP_LEN - 1),
	       "data symbols");
_Static_assert(SYMBOLS * 5 == MEDFS_KEY_LEN * 8 + 4, "256 bits and a 4-bit check");


/* ---- the vault lock ---- */

static int set_lock(int fd, short type, off_t start, off_t len)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = start;
	fl.l_len = len;
	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	return errno == EAGAIN || errno == EACCES ? -EAGAIN : -errno;
}

/* 1 when another open file description write-locks byte off. */
static int write_locked(int fd, off_t off)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = off;
	fl.l_len = 1;
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return 0;
	return fl.l_type == F_WRLCK;
}

int medfs_vault_lock(const char *vault_dir, enum medfs_lock_mode mode)
{
	int dirfd, fd, ret;

	dirfd = open(vault_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	fd = openat(dirfd, MEDFS_LOCK_NAME,
		    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd >= 0) {
		struct stat st;

		/* Made by root for a vault a service user mounts: the
		 * vault's owner's. Without the right, the creator's. */
		if (fstat(dirfd, &st) == 0)
			(void)!fchown(fd, st.st_uid, st.st_gid);
	} else if (errno == EEXIST) {
		fd = openat(dirfd, MEDFS_LOCK_NAME,
			    O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	}
	/* A mount only reads: a read-only lock file is enough for it. */
	if (fd < 0 && mode == MEDFS_LOCK_MOUNT && (errno == EACCES || errno == EROFS))
		fd = openat(dirfd, MEDFS_LOCK_NAME,
			    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	ret = -errno;
	close(dirfd);
	if (fd < 0)
		return ret;

	switch (mode) {
	case MEDFS_LOCK_MOUNT:
		ret = set_lock(fd, F_RDLCK, 0, 1);
		break;
	case MEDFS_LOCK_KEYS:
		ret = set_lock(fd, F_RDLCK, 0, 1);
		if (ret == 0)
			ret = set_lock(fd, F_WRLCK, 1, 1);
		break;
	case MEDFS_LOCK_ROTATE:
		ret = set_lock(fd, F_WRLCK, 0, 2);
		/* Byte 1 free: only mounts are in the way. */
		if (ret == -EAGAIN && !write_locked(fd, 1))
			ret = -EBUSY;
		break;
	default:
		ret = -EINVAL;
	}
	if (ret < 0) {
		close(fd);
		return ret;
	}
	return fd;
}

/* ---- recovery keys ---- */

static unsigned int group_check(const uint8_t v[4], unsigned int group)
{
	return (v[0] + 3u * v[1] + 5u * v[2] + 7u * v[3] + 11u * group) % 32u;
}

/* The 4-bit check of the whole key carried by the last data symbol. */
static unsigned int key_check(const uint8_t key[MEDFS_KEY_LEN])
{
	uint8_t h[crypto_generichash_BYTES_MIN];

	crypto_generichash(h, sizeof(h), key, MEDFS_KEY_LEN, NULL, 0);
	return h[0] >> 4;
}

int medfs_recovery_encode(char *out, size_t outsz, const uint8_t key[MEDFS_KEY_LEN])
{
	uint8_t sym[SYMBOLS] = { 0 };
	size_t pos = 0;
	unsigned int g, i;

	if (outsz < MEDFS_RECOVERY_TEXT_LEN + 1)
		return -EINVAL;
	for (i = 0; i < MEDFS_KEY_LEN * 8; i++) {
		unsigned int bit = (key[i / 8] >> (7 - i % 8)) & 1;

		sym[i / 5] |= (uint8_t)(bit << (4 - i % 5));
	}
	sym[SYMBOLS - 1] |= (uint8_t)key_check(key);
	for (g = 0; g < MEDFS_RECOVERY_GROUPS; g++) {
		const uint8_t *v = sym + 4 * g;

		if (g > 0)
			out[pos++] = '-';
		for (i = 0; i < 4; i++)
			out[pos++] = alphabet[v[i]];
		out[pos++] = alphabet[group_check(v, g)];
	}
	out[pos] = '\0';
	sodium_memzero(sym, sizeof(sym));
	return 0;
}

/* The value of one character, -1 for a separator, -2 for anything else. */
static int symbol_value(char ch)
{
	const char *p;

	if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '-')
		return -1;
	if (ch >= 'a' && ch <= 'z')
		ch = (char)(ch - 'a' + 'A');
	if (ch == 'O')
		return 0;
	if (ch == 'I' || ch == 'L')
		return 1;
	if (ch == '\0')
		return -2;
	p = memchr(alphabet, ch, sizeof(alphabet));
	return p ? (int)(p - alphabet) : -2;
}

int medfs_recovery_decode(uint8_t key[MEDFS_KEY_LEN], const char *text, size_t len,
			  int *where)
{
	uint8_t sym[TEXT_SYMBOLS], data[SYMBOLS];
	size_t i, n = 0;
	unsigned int g, b;
	int ret = 0, dummy;

	if (where == NULL)
		where = &dummy;
	*where = 0;
	memset(key, 0, MEDFS_KEY_LEN);
	for (i = 0; i < len; i++) {
		int v = symbol_value(text[i]);

		if (v == -1)
			continue;
		if (v == -2) {
			*where = (int)i + 1;
			ret = -EINVAL;
			goto out;
		}
		if (n < TEXT_SYMBOLS)
			sym[n] = (uint8_t)v;
		n++;
	}
	if (n != TEXT_SYMBOLS) {
		*where = n > 0x7fffffff ? 0x7fffffff : (int)n;
		ret = -EMSGSIZE;
		goto out;
	}
	for (g = 0; g < MEDFS_RECOVERY_GROUPS; g++) {
		const uint8_t *v = sym + MEDFS_RECOVERY_GROUP_LEN * g;

		if (group_check(v, g) != v[4]) {
			*where = (int)g + 1;
			ret = -EBADMSG;
			goto out;
		}
		memcpy(data + 4 * g, v, 4);
	}
	for (b = 0; b < MEDFS_KEY_LEN * 8; b++) {
		unsigned int bit = (data[b / 5] >> (4 - b % 5)) & 1;

		key[b / 8] |= (uint8_t)(bit << (7 - b % 8));
	}
	if ((data[SYMBOLS - 1] & 0x0f) != key_check(key)) {
		*where = 0;
		ret = -EBADMSG;
	}
out:
	if (ret < 0)
		sodium_memzero(key, MEDFS_KEY_LEN);
	sodium_memzero(sym, sizeof(sym));
	sodium_memzero(data, sizeof(data));
	return ret;
}

/* ---- key files ---- */

int medfs_keyfile_parse(uint8_t key[MEDFS_KEY_LEN], const uint8_t *buf, size_t len)
{
	size_t bin_len = 0;

	if (len == MEDFS_KEY_LEN) {
		memcpy(key, buf, MEDFS_KEY_LEN);
		return 0;
	}
	if (len > 0 && buf[len - 1] == '\n') {
		len--;
		if (len > 0 && buf[len - 1] == '\r')
			len--;
	}
	if (len != 2 * MEDFS_KEY_LEN ||
	    sodium_hex2bin(key, MEDFS_KEY_LEN, (const char *)buf, len, NULL, &bin_len,
			   NULL) != 0 ||
	    bin_len != MEDFS_KEY_LEN) {
		sodium_memzero(key, MEDFS_KEY_LEN);
		return -EINVAL;
	}
	return 0;
}

/* Reads at most cap bytes of path into secret memory. Returns 0, -E2BIG
 * for a longer file, -EPERM for one that is not private, or -errno. */
static int read_secret_file(const char *path, size_t cap, uint8_t **out, size_t *len)
{
	uint8_t *buf;
	size_t n = 0;
	int fd, ret = 0;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	ret = medfs_secret_file_check(fd);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	buf = medfs_secret_alloc(cap + 1);
	if (buf == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (n < cap + 1) {
		ssize_t r = read(fd, buf + n, cap + 1 - n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (ret == 0 && n > cap)
		ret = -E2BIG;
	if (ret < 0) {
		medfs_secret_free(buf);
		return ret;
	}
	*out = buf;
	*len = n;
	return 0;
}

/* A secret file that could not be read: a file that is not private says
 * how to fix its mode or owner. */
static void say_unreadable(char *why, size_t whysz, const char *what, const char *file,
			   int err)
{
	if (err == -EPERM && medfs_secret_file_why(file, why, whysz))
		return;
	medfs_reason(why, whysz, "cannot read %s %s: %s", what, file, strerror(-err));
}

static int read_passphrase(const char *file, const char *vault_dir, uint8_t **out,
			   size_t *len, char *why, size_t whysz)
{
	char *pass = NULL, prompt[512];
	int ret;

	if (file != NULL) {
		ret = medfs_passphrase_from_file(file, &pass, len);
		if (ret == -EINVAL)
			medfs_reason(why, whysz, "the passphrase in %s is empty", file);
		else if (ret == -E2BIG)
			medfs_reason(why, whysz, "the passphrase in %s is longer than %d bytes",
			    file, MEDFS_PASSPHRASE_MAX);
		else if (ret < 0)
			say_unreadable(why, whysz, "passphrase file", file, ret);
	} else {
		snprintf(prompt, sizeof(prompt), "Passphrase for %s: ", vault_dir);
		ret = medfs_passphrase_prompt(prompt, &pass, len);
		if (ret == -ENXIO)
			medfs_reason(why, whysz,
			    "no terminal to ask for the passphrase of %s "
			    "(use --passphrase-file)",
			    vault_dir);
		else if (ret == -EINVAL)
			medfs_reason(why, whysz, "empty passphrase");
		else if (ret == -E2BIG)
			medfs_reason(why, whysz, "passphrase longer than %d bytes",
			    MEDFS_PASSPHRASE_MAX);
		else if (ret < 0)
			medfs_reason(why, whysz, "cannot read the passphrase: %s", strerror(-ret));
	}
	*out = (uint8_t *)pass;
	return ret;
}

static int read_keyfile(const char *file, uint8_t **out, size_t *len, char *why,
			size_t whysz)
{
	uint8_t *raw = NULL, *key = NULL;
	size_t raw_len = 0;
	int ret;

	*out = NULL;
	*len = 0;
	if (file == NULL) {
		medfs_reason(why, whysz, "no key file given");
		return -EINVAL;
	}
	ret = read_secret_file(file, KEYFILE_MAX, &raw, &raw_len);
	if (ret < 0 && ret != -E2BIG) {
		say_unreadable(why, whysz, "key file", file, ret);
		return ret;
	}
	ret = -ENOMEM;
	key = medfs_secret_alloc(MEDFS_KEY_LEN);
	if (key == NULL) {
		medfs_reason(why, whysz, "cannot allocate secure memory");
		goto out;
	}
	ret = raw ? medfs_keyfile_parse(key, raw, raw_len) : -EINVAL;
	if (ret < 0) {
		medfs_reason(why, whysz,
		    "%s is not a medfs key file (32 random bytes, or 64 "
		    "hexadecimal digits)",
		    file);
		goto out;
	}
	*out = key;
	*len = MEDFS_KEY_LEN;
	key = NULL;
out:
	medfs_secret_free(raw);
	medfs_secret_free(key);
	return ret;
}

static int read_recovery(const char *file, const char *vault_dir, uint8_t **out,
			 size_t *len, char *why, size_t whysz)
{
	uint8_t *text = NULL, *key = NULL;
	const char *from = file ? file : "the terminal";
	char prompt[512];
	size_t text_len = 0;
	int ret, where = 0;

	*out = NULL;
	*len = 0;
	if (file != NULL) {
		ret = read_secret_file(file, RECOVERY_MAX, &text, &text_len);
		if (ret == -E2BIG)
			medfs_reason(why, whysz, "%s is too long to hold a recovery key", file);
		else if (ret < 0)
			say_unreadable(why, whysz, "recovery key file", file, ret);
	} else {
		char *typed = NULL;

		snprintf(prompt, sizeof(prompt), "Recovery key for %s: ", vault_dir);
		ret = medfs_passphrase_prompt(prompt, &typed, &text_len);
		text = (uint8_t *)typed;
		if (ret == -ENXIO)
			medfs_reason(why, whysz,
			    "no terminal to ask for the recovery key of %s "
			    "(use --recovery-key-file)",
			    vault_dir);
		else if (ret == -EINVAL)
			medfs_reason(why, whysz, "empty recovery key");
		else if (ret < 0)
			medfs_reason(why, whysz, "cannot read the recovery key: %s",
			    strerror(-ret));
	}
	if (ret < 0)
		goto out;
	ret = -ENOMEM;
	key = medfs_secret_alloc(MEDFS_KEY_LEN);
	if (key == NULL) {
		medfs_reason(why, whysz, "cannot allocate secure memory");
		goto out;
	}
	ret = medfs_recovery_decode(key, (const char *)text, text_len, &where);
	if (ret == -EINVAL)
		medfs_reason(why, whysz,
		    "the recovery key from %s has a character that is not part of "
		    "a recovery key (character %d)",
		    from, where);
	else if (ret == -EMSGSIZE)
		medfs_reason(why, whysz,
		    "the recovery key from %s has %d characters; a recovery key "
		    "has %d (%d groups of %d)",
		    from, where, TEXT_SYMBOLS, MEDFS_RECOVERY_GROUPS,
		    MEDFS_RECOVERY_GROUP_LEN);
	else if (ret == -EBADMSG && where > 0)
		medfs_reason(why, whysz,
		    "the recovery key from %s is mistyped: group %d fails its "
		    "check character",
		    from, where);
	else if (ret == -EBADMSG)
		medfs_reason(why, whysz,
		    "the recovery key from %s is mistyped: its checksum does not "
		    "match (groups swapped, or several characters wrong)",
		    from);
	if (ret < 0)
		goto out;
	*out = key;
	*len = MEDFS_KEY_LEN;
	key = NULL;
out:
	medfs_secret_free(text);
	medfs_secret_free(key);
	return ret;
}

int medfs_secret_read(enum medfs_slot_kind kind, const char *file, const char *vault_dir,
		      uint8_t **out, size_t *len, char *why, size_t whysz)
{
	*out = NULL;
	*len = 0;
	switch (kind) {
	case MEDFS_SLOT_PASSPHRASE:
		return read_passphrase(file, vault_dir, out, len, why, whysz);
	case MEDFS_SLOT_KEYFILE:
		return read_keyfile(file, out, len, why, whysz);
	case MEDFS_SLOT_RECOVERY:
		return read_recovery(file, vault_dir, out, len, why, whysz);
	default:
		medfs_reason(why, whysz, "unknown kind of key slot");
		return -EINVAL;
	}
}

/* The message for a failed medfs_config_load. */
static void explain_load(int err, enum medfs_slot_kind kind, const char *vault_dir,
			 const char *file, char *why, size_t whysz)
{
	switch (err) {
	case -ENOENT:
		medfs_reason(why, whysz, "%s is not a medfs vault (no %s)", vault_dir,
		    MEDFS_CONFIG_NAME);
		break;
	case -ENOTDIR:
		medfs_reason(why, whysz, "%s is not a medfs vault (not a directory)", vault_dir);
		break;
	case -EKEYREJECTED:
		if (kind == MEDFS_SLOT_PASSPHRASE)
			medfs_reason(why, whysz, "wrong passphrase: no key slot of %s accepts it",
			    vault_dir);
		else if (kind == MEDFS_SLOT_KEYFILE)
			medfs_reason(why, whysz, "wrong key file: no key slot of %s accepts %s",
			    vault_dir, file);
		else
			medfs_reason(why, whysz,
			    "wrong recovery key: no key slot of %s accepts it",
			    vault_dir);
		break;
	case -EBADMSG:
		medfs_reason(why, whysz,
		    "both copies of the config of %s are damaged (%s and %s): restore "
		    "one with medfs-key restore",
		    vault_dir, MEDFS_CONFIG_NAME, MEDFS_CONFIG_BACKUP_NAME);
		break;
	case -EPROTONOSUPPORT:
		medfs_reason(why, whysz,
		    "%s has a config format version this medfs does not know "
		    "(made by a newer medfs?)",
		    vault_dir);
		break;
	case -ENOMEM:
		medfs_reason(why, whysz,
		    "not enough memory for the key derivation of the passphrase "
		    "slots of %s",
		    vault_dir);
		break;
	case -ERANGE:
		medfs_reason(why, whysz,
		    "the config of %s asks for a passphrase key derivation beyond "
		    "medfs's bounds (at most %llu MiB of memory and %llu passes): "
		    "refused before deriving anything; the config is damaged or "
		    "forged: restore a good copy with medfs-key restore",
		    vault_dir, (unsigned long long)(MEDFS_KDF_MEMLIMIT_MAX >> 20),
		    (unsigned long long)MEDFS_KDF_OPSLIMIT_MAX);
		break;
	default:
		medfs_reason(why, whysz, "cannot unlock %s: %s", vault_dir, strerror(-err));
	}
}

int medfs_unlock_ex(const char *vault_dir, enum medfs_slot_kind kind,
		    const char *secret_file, unsigned int flags, struct medfs_config *c,
		    uint8_t vault_key[MEDFS_KEY_LEN], int *slot, int *used_backup,
		    uint8_t **secret_out, size_t *secret_out_len, char *why, size_t whysz)
{
	uint8_t *secret = NULL;
	size_t secret_len = 0;
	int ret, backup = 0;

	memset(c, 0, sizeof(*c));
	if (slot != NULL)
		*slot = -1;
	if (used_backup != NULL)
		*used_backup = 0;
	if (secret_out != NULL) {
		*secret_out = NULL;
		*secret_out_len = 0;
	}
	if (why != NULL && whysz > 0)
		why[0] = '\0';
	ret = medfs_secret_read(kind, secret_file, vault_dir, &secret, &secret_len, why,
				whysz);
	if (ret < 0)
		goto out;
	ret = medfs_config_load(vault_dir, kind, secret, secret_len, c, vault_key,
				&backup);
	if (ret < 0) {
		explain_load(ret, kind, vault_dir, secret_file, why, whysz);
		goto out;
	}
	if (slot != NULL)
		*slot = ret;
	ret = medfs_block_cipher_check(c->cipher);
	if (ret < 0) {
		/* decode accepts only known ciphers: this is the CPU. */
		medfs_reason(why, whysz,
		    "cannot open %s: this vault's blocks use AES-256-GCM, which this "
		    "CPU cannot run (no AES-NI)",
		    vault_dir);
		goto out;
	}
	if (medfs_config_rotating(c) && !(flags & MEDFS_UNLOCK_ROTATING)) {
		medfs_reason(why, whysz,
		    "vault is being rotated: run medfs-key rotate %s to finish",
		    vault_dir);
		ret = -EBUSY;
		goto out;
	}
	if (backup) {
		medfs_reason(why, whysz,
		    "%s/%s is missing, damaged or does not authenticate: unlocked "
		    "with the second copy %s (any key change, or medfs-key restore, "
		    "writes both copies again)",
		    vault_dir, MEDFS_CONFIG_NAME, MEDFS_CONFIG_BACKUP_NAME);
		if (used_backup != NULL)
			*used_backup = 1;
	}
	if (secret_out != NULL) {
		*secret_out = secret;
		*secret_out_len = secret_len;
		secret = NULL;
	}
out:
	medfs_secret_free(secret);
	if (ret < 0) {
		sodium_memzero(vault_key, MEDFS_KEY_LEN);
		memset(c, 0, sizeof(*c));
		if (slot != NULL)
			*slot = -1;
	}
	return ret;
}

int medfs_unlock(const char *vault_dir, enum medfs_slot_kind kind,
		 const char *secret_file, struct medfs_config *c,
		 uint8_t vault_key[MEDFS_KEY_LEN], int *slot, int *used_backup, char *why,
		 size_t whysz)
{
	return medfs_unlock_ex(vault_dir, kind, secret_file, 0, c, vault_key, slot,
			       used_backup, NULL, NULL, why, whysz);
}
