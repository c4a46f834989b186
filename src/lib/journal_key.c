/* medfs: the auditor's key pair (doc/JOURNAL.md, "Auditor keys").
 *
 * PREFIX.pub: "medfs-auditor-v1 " base64(box_pk || sign_pk) "\n"
 * PREFIX.key: "medfs-auditor-secret-v1 " base64(box_sk || sign_sk) "\n", 0600
 * The public halves of a .key are recomputed from its secrets and must
 * match: a .key is never trusted for its own public keys. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "journal_int.h"
#include "medfs/crypto.h"
#include "medfs/journal.h"

#define PUB_PREFIX "medfs-auditor-v1 "
#define KEY_PREFIX "medfs-auditor-secret-v1 "
#define PUB_RAW (crypto_box_PUBLICKEYBYTES + crypto_sign_PUBLICKEYBYTES)
#define KEY_RAW (crypto_box_SECRETKEYBYTES + crypto_sign_SECRETKEYBYTES)
#define B64_LEN(n) (4 * (((n) + 2) / 3))
#define FILE_MAX 1024

/* The secret halves are encoded, and decoded, as one run of bytes. */
_Static_assert(offsetof(struct medfs_auditor_key, sign_sk) ==
		       offsetof(struct medfs_auditor_key, box_sk) +
			       crypto_box_SECRETKEYBYTES,
	       "secret halves adjacent");

static struct medfs_auditor_key *key_alloc(void)
{
	struct medfs_auditor_key *k = medfs_secret_alloc(sizeof(*k));

	if (k)
		sodium_memzero(k, sizeof(*k));
	return k;
}

void medfs_auditor_key_free(struct medfs_auditor_key *k)
{
	medfs_secret_free(k);
}

const uint8_t *medfs_auditor_key_box_pk(const struct medfs_auditor_key *k)
{
	return k->box_pk;
}

const uint8_t *medfs_auditor_key_sign_pk(const struct medfs_auditor_key *k)
{
	return k->sign_pk;
}

int medfs_auditor_key_has_secret(const struct medfs_auditor_key *k)
{
	return k->has_secret;
}

int medfs_auditor_key_generate(struct medfs_auditor_key **out)
{
	struct medfs_auditor_key *k;

	*out = NULL;
	if (medfs_crypto_init() < 0)
		return -EIO;
	k = key_alloc();
	if (!k)
		return -ENOMEM;
	if (crypto_box_keypair(k->box_pk, k->box_sk) != 0 ||
	    crypto_sign_keypair(k->sign_pk, k->sign_sk) != 0) {
		medfs_auditor_key_free(k);
		return -EIO;
	}
	k->has_secret = 1;
	*out = k;
	return 0;
}

/* The text after prefix, up to an optional final newline, decoded into
 * raw (exactly raw_len bytes). */
static int parse_line(const char *text, size_t len, const char *prefix, uint8_t *raw,
		      size_t raw_len)
{
	size_t pl = strlen(prefix), bin_len;
	const char *end;

	if (len < pl || memcmp(text, prefix, pl) != 0)
		return -EBADMSG;
	text += pl;
	len -= pl;
	if (len && text[len - 1] == '\n')
		len--;
	if (len && text[len - 1] == '\r')
		len--;
	if (len != B64_LEN(raw_len))
		return -EBADMSG;
	if (sodium_base642bin(raw, raw_len, text, len, NULL, &bin_len, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    bin_len != raw_len || end != text + len) {
		sodium_memzero(raw, raw_len);
		return -EBADMSG;
	}
	return 0;
}

int medfs_auditor_key_parse_public(const char *text, size_t len,
				   struct medfs_auditor_key **out)
{
	uint8_t raw[PUB_RAW];
	struct medfs_auditor_key *k;
	int ret;

	*out = NULL;
	if (medfs_crypto_init() < 0)
		return -EIO;
	ret = parse_line(text, len, PUB_PREFIX, raw, sizeof(raw));
	if (ret < 0)
		return ret;
	k = key_alloc();
	if (!k)
		return -ENOMEM;
	memcpy(k->box_pk, raw, crypto_box_PUBLICKEYBYTES);
	memcpy(k->sign_pk, raw + crypto_box_PUBLICKEYBYTES, crypto_sign_PUBLICKEYBYTES);
	*out = k;
	return 0;
}

int medfs_auditor_key_parse_secret(const char *text, size_t len,
				   struct medfs_auditor_key **out)
{
	uint8_t pk[crypto_sign_PUBLICKEYBYTES];
	struct medfs_auditor_key *k;
	uint8_t *sk2 = NULL;
	int ret;

	*out = NULL;
	if (medfs_crypto_init() < 0)
		return -EIO;
	k = key_alloc();
	sk2 = medfs_secret_alloc(crypto_sign_SECRETKEYBYTES);
	if (!k || !sk2) {
		ret = -ENOMEM;
		goto out;
	}
	/* box_sk and sign_sk are adjacent: decode into both at once. */
	ret = parse_line(text, len, KEY_PREFIX, k->box_sk, KEY_RAW);
	if (ret < 0)
		goto out;
	ret = -EKEYREJECTED;
	if (crypto_scalarmult_base(k->box_pk, k->box_sk) != 0)
		goto out;
	/* sign_sk is seed || pk: both halves must agree. */
	if (crypto_sign_seed_keypair(pk, sk2, k->sign_sk) != 0 ||
	    sodium_memcmp(sk2, k->sign_sk, crypto_sign_SECRETKEYBYTES) != 0)
		goto out;
	memcpy(k->sign_pk, pk, sizeof(pk));
	k->has_secret = 1;
	*out = k;
	k = NULL;
	ret = 0;
out:
	medfs_secret_free(sk2);
	medfs_auditor_key_free(k);
	return ret;
}

/* Reads path into buf; a secret one must be private (-EPERM). */
static int read_text(const char *path, char *buf, size_t cap, size_t *len, bool secret)
{
	ssize_t n;
	size_t got = 0;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (secret && (ret = medfs_secret_file_check(fd)) < 0) {
		close(fd);
		return ret;
	}
	for (;;) {
		n = read(fd, buf + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got == cap) {
			ret = -EBADMSG; /* far longer than any key file */
			break;
		}
	}
	close(fd);
	*len = got;
	return ret;
}

int medfs_auditor_key_read_public(const char *path, struct medfs_auditor_key **k)
{
	char buf[FILE_MAX];
	size_t len;
	int ret;

	*k = NULL;
	ret = read_text(path, buf, sizeof(buf), &len, false);
	if (ret < 0)
		return ret;
	return medfs_auditor_key_parse_public(buf, len, k);
}

int medfs_auditor_key_read_secret(const char *path, struct medfs_auditor_key **k)
{
	char *buf;
	size_t len;
	int ret;

	*k = NULL;
	buf = medfs_secret_alloc(FILE_MAX);
	if (!buf)
		return -ENOMEM;
	ret = read_text(path, buf, FILE_MAX, &len, true);
	if (ret == 0)
		ret = medfs_auditor_key_parse_secret(buf, len, k);
	medfs_secret_free(buf);
	return ret;
}

/* Writes text to a new file path (mode), synced. */
static int write_new(const char *path, const char *text, size_t len, mode_t mode)
{
	int fd, ret;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	/* The umask may have narrowed it; never widened beyond mode. */
	ret = fchmod(fd, mode) < 0 ? -errno : 0;
	if (ret == 0)
		ret = jr_write_all(fd, (const uint8_t *)text, len);
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret < 0)
		unlink(path);
	return ret;
}

int medfs_auditor_key_write(const struct medfs_auditor_key *k, const char *prefix)
{
	char *pub_path = NULL, *key_path = NULL, *text = NULL;
	uint8_t raw[PUB_RAW];
	size_t pl = strlen(prefix), tl;
	int ret;

	pub_path = malloc(pl + 5);
	key_path = malloc(pl + 5);
	tl = strlen(KEY_PREFIX) + B64_LEN(KEY_RAW) + 2;
	text = medfs_secret_alloc(tl);
	if (!pub_path || !key_path || !text) {
		ret = -ENOMEM;
		goto out;
	}
	snprintf(pub_path, pl + 5, "%s.pub", prefix);
	snprintf(key_path, pl + 5, "%s.key", prefix);
	if (k->has_secret) {
		memcpy(text, KEY_PREFIX, strlen(KEY_PREFIX));
		sodium_bin2base64(text + strlen(KEY_PREFIX), tl - strlen(KEY_PREFIX),
				  k->box_sk, KEY_RAW, sodium_base64_VARIANT_ORIGINAL);
		strcat(text, "\n");
		ret = write_new(key_path, text, strlen(text), 0600);
		sodium_memzero(text, tl);
		if (ret < 0)
			goto out;
	}
	memcpy(raw, k->box_pk, crypto_box_PUBLICKEYBYTES);
	memcpy(raw + crypto_box_PUBLICKEYBYTES, k->sign_pk, crypto_sign_PUBLICKEYBYTES);
	memcpy(text, PUB_PREFIX, strlen(PUB_PREFIX));
	sodium_bin2base64(text + strlen(PUB_PREFIX), tl - strlen(PUB_PREFIX), raw,
			  sizeof(raw), sodium_base64_VARIANT_ORIGINAL);
	strcat(text, "\n");
	ret = write_new(pub_path, text, strlen(text), 0644);
	if (ret < 0 && k->has_secret)
		unlink(key_path);
out:
	medfs_secret_free(text);
	free(pub_path);
	free(key_path);
	return ret;
}

int medfs_auditor_keygen(const char *prefix)
{
	struct medfs_auditor_key *k;
	int ret;

	ret = medfs_auditor_key_generate(&k);
	if (ret < 0)
		return ret;
	ret = medfs_auditor_key_write(k, prefix);
	medfs_auditor_key_free(k);
	return ret;
}
