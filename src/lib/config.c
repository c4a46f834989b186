/* medfs: the vault config and its key slots (layout in doc/FORMAT.md).
 *
 * The record is (de)serialised field by field with explicit little-endian
 * helpers, never by copying structs, so the on-disk bytes do not depend on
 * the compiler's padding or the host's byte order. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "medfs/config.h"
#include "medfs/crypto.h"
#include "medfs/log.h"

/* Offsets in the config record. */
#define OFF_MAGIC 0
#define OFF_VERSION 8
#define OFF_FLAGS 12
#define OFF_VAULT_ID 16
#define OFF_CREATED 32
#define OFF_BLOCK_SIZE 40
#define OFF_CIPHER 44
#define OFF_ROTATION 48
#define OFF_RESERVED1 52
#define OFF_AUDITOR_PK 56
#define OFF_HAS_AUDITOR 88
#define OFF_RESERVED2 89
#define OFF_SLOTS 128
#define OFF_RESERVED3 3200
#define OFF_MAC 3264
#define MAC_LEN 32
#define HEAD_LEN 32 /* magic, version, flags, vault id: bound into every slot */

/* Offsets in one slot. */
#define SLOT_LEN 192
#define S_KIND 0
#define S_RESERVED1 1
#define S_CREATED 8
#define S_OPSLIMIT 16
#define S_MEMLIMIT 24
#define S_ALG 32
#define S_RESERVED2 36
#define S_SALT 40
#define S_NONCE 56
#define S_WRAPPED 80
#define S_LABEL 128
#define S_RESERVED3 176
#define SLOT_AD_PART 56 /* slot bytes covered by the slot AD */
#define SLOT_AD_LEN (HEAD_LEN + 1 + SLOT_AD_PART)

#define BLOCK_SIZE 4096
#define KEYFILE_TAG "MDFK"
#define WRAPPED_LEN (MEDFS_KEY_LEN + crypto_aead_xchacha20poly1305_ietf_ABYTES)

_Static_assert(OFF_SLOTS + MEDFS_SLOTS * SLOT_LEN == OFF_RESERVED3, "slot area");
_Static_assert(OFF_MAC + MAC_LEN == MEDFS_CONFIG_LEN, "config length");
_Static_assert(sizeof(MEDFS_CONFIG_MAGIC) - 1 == 8, "magic length");
_Static_assert(MEDFS_SALT_LEN == crypto_pwhash_argon2id_SALTBYTES, "salt length");
_Static_assert(sizeof(((struct medfs_slot *)0)->nonce) ==
		       crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
	       "nonce length");
_Static_assert(sizeof(((struct medfs_slot *)0)->wrapped) == WRAPPED_LEN,
	       "wrapped key length");
_Static_assert(S_RESERVED3 - S_LABEL == MEDFS_SLOT_LABEL_MAX + 1, "label length");
_Static_assert(crypto_kdf_CONTEXTBYTES == sizeof(MEDFS_KDF_CONTEXT) - 1, "kdf context");

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static int all_zero(const uint8_t *p, size_t len)
{
	return sodium_is_zero(p, len);
}

static int kind_known(unsigned int kind)
{
	return kind == MEDFS_SLOT_PASSPHRASE || kind == MEDFS_SLOT_KEYFILE ||
	       kind == MEDFS_SLOT_RECOVERY;
}

static int kdf_valid(uint64_t opslimit, uint64_t memlimit)
{
	return opslimit >= crypto_pwhash_argon2id_OPSLIMIT_MIN &&
	       opslimit <= crypto_pwhash_argon2id_OPSLIMIT_MAX &&
	       memlimit >= crypto_pwhash_argon2id_MEMLIMIT_MIN &&
	       memlimit <= crypto_pwhash_argon2id_MEMLIMIT_MAX;
}

/* Returns 1 when slot s (non-empty) is well formed, in memory or on disk. */
static int slot_valid(const struct medfs_slot *s)
{
	if (!kind_known(s->kind))
		return 0;
	if (memchr(s->label, '\0', sizeof(s->label)) == NULL)
		return 0;
	if (s->kind == MEDFS_SLOT_PASSPHRASE)
		return s->alg == crypto_pwhash_ALG_ARGON2ID13 &&
		       kdf_valid(s->opslimit, s->memlimit);
	return s->alg == 0 && s->opslimit == 0 && s->memlimit == 0;
}

static void encode_head(const struct medfs_config *c, uint8_t out[HEAD_LEN])
{
	memcpy(out + OFF_MAGIC, MEDFS_CONFIG_MAGIC, 8);
	put_le32(out + OFF_VERSION, c->version);
	put_le32(out + OFF_FLAGS, c->flags);
	memcpy(out + OFF_VAULT_ID, c->vault_id, MEDFS_VAULT_ID_LEN);
}

/* Writes slot s into out (SLOT_LEN bytes, already zeroed). */
static void encode_slot(const struct medfs_slot *s, uint8_t *out)
{
	if (s->kind == MEDFS_SLOT_EMPTY)
		return;
	out[S_KIND] = s->kind;
	put_le64(out + S_CREATED, s->created);
	put_le64(out + S_OPSLIMIT, s->opslimit);
	put_le64(out + S_MEMLIMIT, s->memlimit);
	put_le32(out + S_ALG, s->alg);
	memcpy(out + S_SALT, s->salt, MEDFS_SALT_LEN);
	memcpy(out + S_NONCE, s->nonce, sizeof(s->nonce));
	memcpy(out + S_WRAPPED, s->wrapped, sizeof(s->wrapped));
	/* Only the label itself: the padding is always zero. */
	memcpy(out + S_LABEL, s->label, strlen(s->label));
}

/* Returns 0 or -EBADMSG. */
static int decode_slot(struct medfs_slot *s, const uint8_t *in)
{
	memset(s, 0, sizeof(*s));
	if (in[S_KIND] == MEDFS_SLOT_EMPTY)
		return all_zero(in, SLOT_LEN) ? 0 : -EBADMSG;
	if (!all_zero(in + S_RESERVED1, S_CREATED - S_RESERVED1) ||
	    !all_zero(in + S_RESERVED2, S_SALT - S_RESERVED2) ||
	    !all_zero(in + S_RESERVED3, SLOT_LEN - S_RESERVED3))
		return -EBADMSG;
	s->kind = in[S_KIND];
	s->created = get_le64(in + S_CREATED);
	s->opslimit = get_le64(in + S_OPSLIMIT);
	s->memlimit = get_le64(in + S_MEMLIMIT);
	s->alg = get_le32(in + S_ALG);
	memcpy(s->salt, in + S_SALT, MEDFS_SALT_LEN);
	memcpy(s->nonce, in + S_NONCE, sizeof(s->nonce));
	memcpy(s->wrapped, in + S_WRAPPED, sizeof(s->wrapped));
	memcpy(s->label, in + S_LABEL, sizeof(s->label));
	if (!slot_valid(s))
		return -EBADMSG;
	/* NUL padded: nothing may follow the label's terminator. */
	size_t n = strlen(s->label);
	if (!all_zero((const uint8_t *)s->label + n, sizeof(s->label) - n))
		return -EBADMSG;
	return 0;
}

/* The slot AD: config bytes 0..32 || slot index || slot bytes 0..56. */
static void slot_ad(const struct medfs_config *c, int idx, const struct medfs_slot *s,
		    uint8_t ad[SLOT_AD_LEN])
{
	uint8_t slot[SLOT_LEN] = {0};

	encode_head(c, ad);
	ad[HEAD_LEN] = (uint8_t)idx;
	encode_slot(s, slot);
	memcpy(ad + HEAD_LEN + 1, slot, SLOT_AD_PART);
}

/* Derives the key-encryption key of slot s from secret into kek.
 * Returns 0, -EKEYREJECTED for a secret that cannot be right (wrong
 * length), -ENOMEM when Argon2 cannot get its memory. */
static int derive_kek(const struct medfs_slot *s, const uint8_t *secret,
		      size_t secret_len, uint8_t kek[MEDFS_KEY_LEN])
{
	if (s->kind == MEDFS_SLOT_PASSPHRASE) {
		if (secret_len == 0 || secret_len > crypto_pwhash_argon2id_PASSWD_MAX)
			return -EKEYREJECTED;
		/* Parameters were validated; -1 then means out of memory. */
		if (crypto_pwhash(kek, MEDFS_KEY_LEN, (const char *)secret, secret_len,
				  s->salt, s->opslimit, (size_t)s->memlimit,
				  crypto_pwhash_ALG_ARGON2ID13) != 0)
			return -ENOMEM;
		return 0;
	}
	if (secret_len != MEDFS_KEY_LEN)
		return -EKEYREJECTED;

	uint8_t msg[4 + MEDFS_SALT_LEN];

	memcpy(msg, KEYFILE_TAG, 4);
	memcpy(msg + 4, s->salt, MEDFS_SALT_LEN);
	crypto_generichash(kek, MEDFS_KEY_LEN, msg, sizeof(msg), secret, MEDFS_KEY_LEN);
	return 0;
}

/* MAC of the first OFF_MAC bytes of a serialised config. */
static int config_mac(uint8_t mac[MAC_LEN], const uint8_t *in,
		      const uint8_t vault_key[MEDFS_KEY_LEN])
{
	uint8_t *subkey = medfs_secret_alloc(MEDFS_KEY_LEN);
	int ret;

	if (subkey == NULL)
		return -ENOMEM;
	ret = medfs_subkey_derive(subkey, MEDFS_SUBKEY_CONFIG, vault_key);
	if (ret < 0)
		goto out;
	crypto_generichash(mac, MAC_LEN, in, OFF_MAC, subkey, MEDFS_KEY_LEN);
out:
	medfs_secret_free(subkey);
	return ret;
}

void medfs_config_init(struct medfs_config *c)
{
	memset(c, 0, sizeof(*c));
	c->version = MEDFS_CONFIG_VERSION;
	randombytes_buf(c->vault_id, sizeof(c->vault_id));
	c->created = (uint64_t)time(NULL);
	c->block_size = BLOCK_SIZE;
	c->cipher = MEDFS_CIPHER_XCHACHA20POLY1305;
}

int medfs_config_encode(const struct medfs_config *c,
			const uint8_t vault_key[MEDFS_KEY_LEN],
			uint8_t out[MEDFS_CONFIG_LEN])
{
	int i, ret;

	/* Refuse to write what medfs_config_decode would reject. */
	if (c->version != MEDFS_CONFIG_VERSION || c->flags != 0 ||
	    c->block_size != BLOCK_SIZE || c->cipher != MEDFS_CIPHER_XCHACHA20POLY1305 ||
	    c->has_auditor > 1)
		return -EINVAL;
	for (i = 0; i < MEDFS_SLOTS; i++)
		if (c->slots[i].kind != MEDFS_SLOT_EMPTY && !slot_valid(&c->slots[i]))
			return -EINVAL;

	memset(out, 0, MEDFS_CONFIG_LEN);
	encode_head(c, out);
	put_le64(out + OFF_CREATED, c->created);
	put_le32(out + OFF_BLOCK_SIZE, c->block_size);
	put_le32(out + OFF_CIPHER, c->cipher);
	put_le32(out + OFF_ROTATION, c->rotation);
	memcpy(out + OFF_AUDITOR_PK, c->auditor_pk, sizeof(c->auditor_pk));
	out[OFF_HAS_AUDITOR] = c->has_auditor;
	for (i = 0; i < MEDFS_SLOTS; i++)
		encode_slot(&c->slots[i], out + OFF_SLOTS + i * SLOT_LEN);
	ret = config_mac(out + OFF_MAC, out, vault_key);
	if (ret < 0)
		sodium_memzero(out, MEDFS_CONFIG_LEN);
	return ret;
}

int medfs_config_decode(struct medfs_config *c, const uint8_t *in, size_t len)
{
	int i, ret;

	memset(c, 0, sizeof(*c));
	if (len != MEDFS_CONFIG_LEN || memcmp(in, MEDFS_CONFIG_MAGIC, 8) != 0)
		return -EBADMSG;
	c->version = get_le32(in + OFF_VERSION);
	if (c->version != MEDFS_CONFIG_VERSION) {
		ret = -EPROTONOSUPPORT;
		goto out;
	}
	ret = -EBADMSG;
	c->flags = get_le32(in + OFF_FLAGS);
	memcpy(c->vault_id, in + OFF_VAULT_ID, MEDFS_VAULT_ID_LEN);
	c->created = get_le64(in + OFF_CREATED);
	c->block_size = get_le32(in + OFF_BLOCK_SIZE);
	c->cipher = get_le32(in + OFF_CIPHER);
	c->rotation = get_le32(in + OFF_ROTATION);
	memcpy(c->auditor_pk, in + OFF_AUDITOR_PK, sizeof(c->auditor_pk));
	c->has_auditor = in[OFF_HAS_AUDITOR];
	if (c->flags != 0 || c->block_size != BLOCK_SIZE ||
	    c->cipher != MEDFS_CIPHER_XCHACHA20POLY1305 || c->has_auditor > 1)
		goto out;
	if (!all_zero(in + OFF_RESERVED1, OFF_AUDITOR_PK - OFF_RESERVED1) ||
	    !all_zero(in + OFF_RESERVED2, OFF_SLOTS - OFF_RESERVED2) ||
	    !all_zero(in + OFF_RESERVED3, OFF_MAC - OFF_RESERVED3))
		goto out;
	for (i = 0; i < MEDFS_SLOTS; i++)
		if (decode_slot(&c->slots[i], in + OFF_SLOTS + i * SLOT_LEN) < 0)
			goto out;
	ret = 0;
out:
	if (ret < 0)
		memset(c, 0, sizeof(*c));
	return ret;
}

int medfs_config_verify(const uint8_t in[MEDFS_CONFIG_LEN],
			const uint8_t vault_key[MEDFS_KEY_LEN])
{
	uint8_t mac[MAC_LEN];
	int ret;

	ret = config_mac(mac, in, vault_key);
	if (ret < 0)
		return ret;
	return sodium_memcmp(mac, in + OFF_MAC, MAC_LEN) == 0 ? 0 : -EBADMSG;
}

int medfs_slot_set(struct medfs_config *c, int idx, enum medfs_slot_kind kind,
		   const uint8_t *secret, size_t secret_len,
		   const struct medfs_kdf_params *kdf, const char *label,
		   const uint8_t vault_key[MEDFS_KEY_LEN])
{
	struct medfs_slot s;
	uint8_t ad[SLOT_AD_LEN];
	uint8_t *kek = NULL;
	int ret = -EINVAL;

	memset(&s, 0, sizeof(s));
	if (idx < 0 || idx >= MEDFS_SLOTS || !kind_known(kind) || secret == NULL)
		goto out;
	if (label != NULL && strlen(label) > MEDFS_SLOT_LABEL_MAX)
		goto out;
	s.kind = (uint8_t)kind;
	s.created = (uint64_t)time(NULL);
	if (kind == MEDFS_SLOT_PASSPHRASE) {
		if (secret_len == 0 || secret_len > crypto_pwhash_argon2id_PASSWD_MAX)
			goto out;
		s.opslimit = kdf ? kdf->opslimit : MEDFS_KDF_OPSLIMIT_DEFAULT;
		s.memlimit = kdf ? kdf->memlimit : MEDFS_KDF_MEMLIMIT_DEFAULT;
		s.alg = crypto_pwhash_ALG_ARGON2ID13;
		if (!kdf_valid(s.opslimit, s.memlimit))
			goto out;
	} else if (secret_len != MEDFS_KEY_LEN) {
		goto out;
	}
	if (label != NULL)
		strcpy(s.label, label);
	randombytes_buf(s.salt, sizeof(s.salt));
	randombytes_buf(s.nonce, sizeof(s.nonce));

	ret = -ENOMEM;
	kek = medfs_secret_alloc(MEDFS_KEY_LEN);
	if (kek == NULL)
		goto out;
	ret = derive_kek(&s, secret, secret_len, kek);
	if (ret < 0)
		goto out;
	slot_ad(c, idx, &s, ad);
	crypto_aead_xchacha20poly1305_ietf_encrypt(s.wrapped, NULL, vault_key,
						   MEDFS_KEY_LEN, ad, sizeof(ad), NULL,
						   s.nonce, kek);
	c->slots[idx] = s;
	ret = 0;
out:
	medfs_secret_free(kek);
	return ret;
}

int medfs_slot_unwrap(const struct medfs_config *c, int idx, const uint8_t *secret,
		      size_t secret_len, uint8_t vault_key[MEDFS_KEY_LEN])
{
	const struct medfs_slot *s;
	uint8_t ad[SLOT_AD_LEN];
	uint8_t *kek = NULL;
	int ret;

	if (idx < 0 || idx >= MEDFS_SLOTS)
		return -EINVAL;
	s = &c->slots[idx];
	if (s->kind == MEDFS_SLOT_EMPTY || !slot_valid(s))
		return -EINVAL;

	ret = -EKEYREJECTED;
	if (secret == NULL)
		goto out;
	ret = -ENOMEM;
	kek = medfs_secret_alloc(MEDFS_KEY_LEN);
	if (kek == NULL)
		goto out;
	ret = derive_kek(s, secret, secret_len, kek);
	if (ret < 0)
		goto out;
	slot_ad(c, idx, s, ad);
	ret = -EKEYREJECTED;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(vault_key, NULL, NULL, s->wrapped,
						       sizeof(s->wrapped), ad, sizeof(ad),
						       s->nonce, kek) != 0)
		goto out;
	ret = 0;
out:
	if (ret < 0)
		sodium_memzero(vault_key, MEDFS_KEY_LEN);
	medfs_secret_free(kek);
	return ret;
}

void medfs_slot_clear(struct medfs_config *c, int idx)
{
	if (idx >= 0 && idx < MEDFS_SLOTS)
		sodium_memzero(&c->slots[idx], sizeof(c->slots[idx]));
}

int medfs_config_free_slot(const struct medfs_config *c)
{
	int i;

	for (i = 0; i < MEDFS_SLOTS; i++)
		if (c->slots[i].kind == MEDFS_SLOT_EMPTY)
			return i;
	return -ENOSPC;
}

/* Returns the slot index, -EKEYREJECTED, or -ENOMEM when a slot could not
 * be tried for lack of memory and no other slot opened. */
int medfs_config_unlock(const struct medfs_config *c, enum medfs_slot_kind kind,
			const uint8_t *secret, size_t secret_len,
			uint8_t vault_key[MEDFS_KEY_LEN])
{
	int i, ret, nomem = 0;

	for (i = 0; i < MEDFS_SLOTS; i++) {
		if (c->slots[i].kind == MEDFS_SLOT_EMPTY || c->slots[i].kind != kind)
			continue;
		ret = medfs_slot_unwrap(c, i, secret, secret_len, vault_key);
		if (ret == 0)
			return i;
		if (ret == -ENOMEM)
			nomem = 1;
	}
	sodium_memzero(vault_key, MEDFS_KEY_LEN);
	return nomem ? -ENOMEM : -EKEYREJECTED;
}

static int write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Atomically replaces dirfd/name with buf: temporary, fsync, rename, fsync
 * of the directory. Returns 0 or -errno. */
static int replace_file(int dirfd, const char *name, const uint8_t *buf, size_t len)
{
	char tmp[64];
	int fd, ret;

	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(dirfd, tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC | O_NOFOLLOW,
		    0600);
	if (fd < 0)
		return -errno;
	/* A stale temporary keeps its old mode through O_TRUNC. */
	ret = fchmod(fd, 0600) < 0 ? -errno : 0;
	if (ret == 0)
		ret = write_all(fd, buf, len);
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		ret = -errno;
	if (ret < 0) {
		unlinkat(dirfd, tmp, 0);
		return ret;
	}
	return fsync(dirfd) < 0 ? -errno : 0;
}

int medfs_config_save(const char *vault_dir, const struct medfs_config *c,
		      const uint8_t vault_key[MEDFS_KEY_LEN])
{
	uint8_t buf[MEDFS_CONFIG_LEN];
	int dirfd, ret;

	ret = medfs_config_encode(c, vault_key, buf);
	if (ret < 0)
		return ret;
	dirfd = open(vault_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	/* Primary first: a crash in between leaves two valid copies. */
	ret = replace_file(dirfd, MEDFS_CONFIG_NAME, buf, sizeof(buf));
	if (ret == 0)
		ret = replace_file(dirfd, MEDFS_CONFIG_BACKUP_NAME, buf, sizeof(buf));
	close(dirfd);
	return ret;
}

/* Reads dirfd/name into buf (MEDFS_CONFIG_LEN + 1 bytes) and stores the
 * length read in *len. Returns 0 or -errno. */
static int read_config(int dirfd, const char *name, uint8_t *buf, size_t *len)
{
	size_t cap = MEDFS_CONFIG_LEN + 1, n = 0;
	int fd, ret = 0;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	/* One byte more than a config, so an overlong file shows. */
	while (n < cap) {
		ssize_t r = read(fd, buf + n, cap - n);

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
	*len = n;
	return ret;
}

/* Decodes, unlocks and authenticates one serialised copy. Returns the slot
 * index or -errno. */
static int open_copy(const uint8_t *buf, size_t len, enum medfs_slot_kind kind,
		     const uint8_t *secret, size_t secret_len, struct medfs_config *c,
		     uint8_t vault_key[MEDFS_KEY_LEN])
{
	int slot, ret;

	ret = medfs_config_decode(c, buf, len);
	if (ret < 0)
		return ret;
	slot = medfs_config_unlock(c, kind, secret, secret_len, vault_key);
	if (slot < 0)
		return slot;
	ret = medfs_config_verify(buf, vault_key);
	if (ret < 0) {
		sodium_memzero(vault_key, MEDFS_KEY_LEN);
		return ret;
	}
	return slot;
}

/* Which failure of the two copies to report: the one that tells the user
 * most about what to do. */
static int error_rank(int err)
{
	switch (err) {
	case -EKEYREJECTED:
		return 5;
	case -ENOMEM:
		return 4;
	case -EPROTONOSUPPORT:
		return 3;
	case -EBADMSG:
		return 1;
	case -ENOENT:
		return 0;
	default:
		return 2;
	}
}

int medfs_config_load(const char *vault_dir, enum medfs_slot_kind kind,
		      const uint8_t *secret, size_t secret_len, struct medfs_config *c,
		      uint8_t vault_key[MEDFS_KEY_LEN], int *used_backup)
{
	uint8_t primary[MEDFS_CONFIG_LEN + 1], backup[MEDFS_CONFIG_LEN + 1];
	size_t plen = 0, blen = 0;
	int dirfd, ret, ret2, primary_read;

	if (used_backup != NULL)
		*used_backup = 0;
	dirfd = open(vault_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		ret = -errno;
		goto out;
	}
	ret = read_config(dirfd, MEDFS_CONFIG_NAME, primary, &plen);
	primary_read = ret == 0;
	if (primary_read)
		ret = open_copy(primary, plen, kind, secret, secret_len, c, vault_key);
	if (ret >= 0)
		goto out;

	ret2 = read_config(dirfd, MEDFS_CONFIG_BACKUP_NAME, backup, &blen);
	if (ret2 == 0) {
		/* An identical copy fails the same way: spare a second KDF. */
		if (primary_read && blen == plen && memcmp(primary, backup, plen) == 0)
			ret2 = ret;
		else
			ret2 = open_copy(backup, blen, kind, secret, secret_len, c,
					 vault_key);
	}
	if (ret2 >= 0) {
		medfs_log(LOG_WARNING, "%s/%s unusable (%s), using %s", vault_dir,
			  MEDFS_CONFIG_NAME, strerror(-ret), MEDFS_CONFIG_BACKUP_NAME);
		if (used_backup != NULL)
			*used_backup = 1;
		ret = ret2;
		goto out;
	}
	if (error_rank(ret2) > error_rank(ret))
		ret = ret2;
out:
	if (dirfd >= 0)
		close(dirfd);
	if (ret < 0) {
		sodium_memzero(vault_key, MEDFS_KEY_LEN);
		memset(c, 0, sizeof(*c));
	}
	return ret;
}
