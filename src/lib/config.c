/* medfs: the vault config and its key slots (layout in doc/FORMAT.md).
 *
 * The record is (de)serialised field by field with explicit little-endian
 * helpers, never by copying structs, so the on-disk bytes do not depend on
 * the compiler's padding or the host's byte order.
 *
 * Version 2 slots: the slot's secret gives its KEK as before; the KEK is
 * also an X25519 secret key whose public key pk the slot stores. The
 * config stores one wrapping public key W = X25519(e) whose secret e is
 * thrown away once used. A slot's wrap key is BLAKE2b over the shared
 * secret X25519(KEK, W) = X25519(e, pk): its owner recomputes it from the
 * secret, and a rotation, which draws a new e, computes it for every slot
 * from pk alone. Version 1 slots are the vault key sealed under the KEK. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "medfs/block.h"
#include "medfs/config.h"
#include "medfs/crypto.h"
#include "medfs/io.h"
#include "medfs/log.h"

/* Offsets in the config record, both versions. */
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
/* Version 1. */
#define V1_OFF_SLOTS 128
#define V1_OFF_RESERVED3 3200
#define V1_OFF_MAC 3264
/* Version 2. */
#define V2_OFF_WRAP_PK 96
#define V2_OFF_OLD_NONCE 128
#define V2_OFF_OLD_SEALED 152
#define V2_OFF_RESERVED3 200
#define V2_OFF_SLOTS 256
#define V2_OFF_MAC 4352
#define MAC_LEN 32
#define HEAD_LEN 32 /* magic, version, flags, vault id: bound into every slot */

/* Offsets in one slot, both versions. */
#define S_KIND 0
#define S_RESERVED1 1
#define S_CREATED 8
#define S_OPSLIMIT 16
#define S_MEMLIMIT 24
#define S_ALG 32
#define S_RESERVED2 36
#define S_SALT 40
/* Version 1 slot, 192 bytes. */
#define V1_SLOT_LEN 192
#define V1_S_NONCE 56
#define V1_S_WRAPPED 80
#define V1_S_LABEL 128
#define V1_S_RESERVED3 176
#define V1_SLOT_AD_PART 56
/* Version 2 slot, 256 bytes. */
#define V2_SLOT_LEN 256
#define V2_S_PK 56
#define V2_S_NONCE 88
#define V2_S_WRAPPED 112
#define V2_S_LABEL 160
#define V2_S_RESERVED3 208
#define V2_SLOT_AD_PART 88
#define SLOT_AD_MAX (HEAD_LEN + 1 + V2_SLOT_AD_PART)

#define BLOCK_SIZE 4096
#define KEYFILE_TAG "MDFK"
#define WRAP_TAG "MDFW"
#define WRAPPED_LEN (MEDFS_KEY_LEN + crypto_aead_xchacha20poly1305_ietf_ABYTES)
/* Subkey id of the key that seals the previous vault key during a
 * rotation, next to those of crypto.h (same context "medfs-v1"). */
#define SUBKEY_ROTATE MEDFS_SUBKEY_ROTATE

/* Where the fields of one version lie. */
struct layout {
	uint32_t version;
	size_t len, off_slots, off_reserved3, off_reserved3_end, off_mac;
	size_t slot_len, s_nonce, s_wrapped, s_label, s_reserved3, ad_part;
};

static const struct layout v1_layout = {
	1,
	MEDFS_CONFIG_V1_LEN,
	V1_OFF_SLOTS,
	V1_OFF_RESERVED3,
	V1_OFF_MAC,
	V1_OFF_MAC,
	V1_SLOT_LEN,
	V1_S_NONCE,
	V1_S_WRAPPED,
	V1_S_LABEL,
	V1_S_RESERVED3,
	V1_SLOT_AD_PART,
};

static const struct layout v2_layout = {
	2,
	MEDFS_CONFIG_LEN,
	V2_OFF_SLOTS,
	V2_OFF_RESERVED3,
	V2_OFF_SLOTS,
	V2_OFF_MAC,
	V2_SLOT_LEN,
	V2_S_NONCE,
	V2_S_WRAPPED,
	V2_S_LABEL,
	V2_S_RESERVED3,
	V2_SLOT_AD_PART,
};

/* Secrets of one slot operation, in one guarded allocation. */
struct slot_secrets {
	uint8_t kek[MEDFS_KEY_LEN]; /* also the slot's X25519 secret key (v2) */
	uint8_t shared[crypto_scalarmult_BYTES];
	uint8_t wrap[MEDFS_KEY_LEN];
};

_Static_assert(V1_OFF_SLOTS + MEDFS_SLOTS * V1_SLOT_LEN == V1_OFF_RESERVED3, "v1 slots");
_Static_assert(V1_OFF_MAC + MAC_LEN == MEDFS_CONFIG_V1_LEN, "v1 config length");
_Static_assert(V2_OFF_SLOTS + MEDFS_SLOTS * V2_SLOT_LEN == V2_OFF_MAC, "v2 slots");
_Static_assert(V2_OFF_MAC + MAC_LEN == MEDFS_CONFIG_LEN, "v2 config length");
_Static_assert(V2_OFF_OLD_SEALED + WRAPPED_LEN == V2_OFF_RESERVED3, "old key area");
_Static_assert(V2_S_RESERVED3 - V2_S_LABEL == MEDFS_SLOT_LABEL_MAX + 1, "label length");
_Static_assert(V2_S_WRAPPED + WRAPPED_LEN == V2_S_LABEL, "v2 slot");
_Static_assert(sizeof(MEDFS_CONFIG_MAGIC) - 1 == 8, "magic length");
_Static_assert(MEDFS_SALT_LEN == crypto_pwhash_argon2id_SALTBYTES, "salt length");
_Static_assert(MEDFS_WRAP_PK_LEN == crypto_scalarmult_BYTES, "X25519 key length");
_Static_assert(MEDFS_KEY_LEN == crypto_scalarmult_SCALARBYTES, "X25519 scalar");
_Static_assert(sizeof(((struct medfs_slot *)0)->nonce) ==
		       crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
	       "nonce length");
_Static_assert(sizeof(((struct medfs_slot *)0)->wrapped) == WRAPPED_LEN,
	       "wrapped key length");
_Static_assert(sizeof(((struct medfs_config *)0)->old_key_sealed) == WRAPPED_LEN,
	       "sealed old key length");
_Static_assert(V1_S_RESERVED3 - V1_S_LABEL == MEDFS_SLOT_LABEL_MAX + 1, "label length");
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

static const struct layout *layout_of(uint32_t version)
{
	if (version == 1)
		return &v1_layout;
	if (version == 2)
		return &v2_layout;
	return NULL;
}

/* Known to the format, whether or not this CPU can run it. */
static int cipher_known(uint32_t cipher)
{
	return medfs_block_cipher_check(cipher) != -EINVAL;
}

static int kind_known(unsigned int kind)
{
	return kind == MEDFS_SLOT_PASSPHRASE || kind == MEDFS_SLOT_KEYFILE ||
	       kind == MEDFS_SLOT_RECOVERY;
}

_Static_assert(MEDFS_KDF_OPSLIMIT_MAX <= crypto_pwhash_argon2id_OPSLIMIT_MAX &&
		       MEDFS_KDF_MEMLIMIT_MAX <= crypto_pwhash_argon2id_MEMLIMIT_MAX,
	       "medfs's KDF bounds within libsodium's");

/* Within medfs's bounds, which are no more than what a sane slot needs. */
static int kdf_bounded(uint64_t opslimit, uint64_t memlimit)
{
	return opslimit <= MEDFS_KDF_OPSLIMIT_MAX && memlimit <= MEDFS_KDF_MEMLIMIT_MAX;
}

static int kdf_valid(uint64_t opslimit, uint64_t memlimit)
{
	return opslimit >= crypto_pwhash_argon2id_OPSLIMIT_MIN &&
	       memlimit >= crypto_pwhash_argon2id_MEMLIMIT_MIN &&
	       kdf_bounded(opslimit, memlimit);
}

int medfs_kdf_weak(const struct medfs_kdf_params *kdf)
{
	/* In KiB, so that the product cannot overflow within the bounds. */
	uint64_t mem = kdf->memlimit >> 10;
	uint64_t def = MEDFS_KDF_MEMLIMIT_DEFAULT >> 10;

	return mem * 10 < def ||
	       kdf->opslimit * mem * 10 < MEDFS_KDF_OPSLIMIT_DEFAULT * def;
}

/* Returns 1 when slot s (non-empty) is well formed, in memory or on disk,
 * for a config of the given version. */
static int slot_valid(const struct medfs_slot *s, uint32_t version)
{
	if (!kind_known(s->kind))
		return 0;
	if (memchr(s->label, '\0', sizeof(s->label)) == NULL)
		return 0;
	if (version == 2 && all_zero(s->pk, sizeof(s->pk)))
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

/* Writes slot s into out (l->slot_len bytes, already zeroed). */
static void encode_slot(const struct medfs_slot *s, const struct layout *l, uint8_t *out)
{
	if (s->kind == MEDFS_SLOT_EMPTY)
		return;
	out[S_KIND] = s->kind;
	put_le64(out + S_CREATED, s->created);
	put_le64(out + S_OPSLIMIT, s->opslimit);
	put_le64(out + S_MEMLIMIT, s->memlimit);
	put_le32(out + S_ALG, s->alg);
	memcpy(out + S_SALT, s->salt, MEDFS_SALT_LEN);
	if (l->version == 2)
		memcpy(out + V2_S_PK, s->pk, sizeof(s->pk));
	memcpy(out + l->s_nonce, s->nonce, sizeof(s->nonce));
	memcpy(out + l->s_wrapped, s->wrapped, sizeof(s->wrapped));
	/* Only the label itself: the padding is always zero. */
	memcpy(out + l->s_label, s->label, strlen(s->label));
}

/* Returns 0, -EBADMSG, or -ERANGE for KDF parameters past medfs's bounds. */
static int decode_slot(struct medfs_slot *s, const struct layout *l, const uint8_t *in)
{
	memset(s, 0, sizeof(*s));
	if (in[S_KIND] == MEDFS_SLOT_EMPTY)
		return all_zero(in, l->slot_len) ? 0 : -EBADMSG;
	if (!all_zero(in + S_RESERVED1, S_CREATED - S_RESERVED1) ||
	    !all_zero(in + S_RESERVED2, S_SALT - S_RESERVED2) ||
	    !all_zero(in + l->s_reserved3, l->slot_len - l->s_reserved3))
		return -EBADMSG;
	s->kind = in[S_KIND];
	s->created = get_le64(in + S_CREATED);
	s->opslimit = get_le64(in + S_OPSLIMIT);
	s->memlimit = get_le64(in + S_MEMLIMIT);
	s->alg = get_le32(in + S_ALG);
	memcpy(s->salt, in + S_SALT, MEDFS_SALT_LEN);
	if (l->version == 2)
		memcpy(s->pk, in + V2_S_PK, sizeof(s->pk));
	memcpy(s->nonce, in + l->s_nonce, sizeof(s->nonce));
	memcpy(s->wrapped, in + l->s_wrapped, sizeof(s->wrapped));
	memcpy(s->label, in + l->s_label, sizeof(s->label));
	if (s->kind == MEDFS_SLOT_PASSPHRASE && !kdf_bounded(s->opslimit, s->memlimit))
		return -ERANGE;
	if (!slot_valid(s, l->version))
		return -EBADMSG;
	/* NUL padded: nothing may follow the label's terminator. */
	size_t n = strlen(s->label);
	if (!all_zero((const uint8_t *)s->label + n, sizeof(s->label) - n))
		return -EBADMSG;
	return 0;
}

/* The slot AD: config bytes 0..32 || slot index || the slot's leading
 * bytes (0..56 in version 1, 0..88 in version 2, which adds pk). Returns
 * the AD's length. */
static size_t slot_ad(const struct medfs_config *c, int idx, const struct medfs_slot *s,
		      uint8_t ad[SLOT_AD_MAX])
{
	const struct layout *l = layout_of(c->version);
	uint8_t slot[V2_SLOT_LEN] = { 0 };

	encode_head(c, ad);
	ad[HEAD_LEN] = (uint8_t)idx;
	encode_slot(s, l, slot);
	memcpy(ad + HEAD_LEN + 1, slot, l->ad_part);
	return HEAD_LEN + 1 + l->ad_part;
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

/* wrap = BLAKE2b-256(key = shared, "MDFW" || wrap_pk || pk). */
static void wrap_key(uint8_t wrap[MEDFS_KEY_LEN], const uint8_t shared[32],
		     const uint8_t wrap_pk[MEDFS_WRAP_PK_LEN],
		     const uint8_t pk[MEDFS_WRAP_PK_LEN])
{
	uint8_t msg[4 + 2 * MEDFS_WRAP_PK_LEN];

	memcpy(msg, WRAP_TAG, 4);
	memcpy(msg + 4, wrap_pk, MEDFS_WRAP_PK_LEN);
	memcpy(msg + 4 + MEDFS_WRAP_PK_LEN, pk, MEDFS_WRAP_PK_LEN);
	crypto_generichash(wrap, MEDFS_KEY_LEN, msg, sizeof(msg), shared, 32);
}

/* The key that wraps the vault key in slot s of a version 2 config, from
 * the slot's KEK (x->kek) into x->wrap. Returns 0 or -EKEYREJECTED (a
 * degenerate shared secret: the config is not one medfs wrote). */
static int slot_wrap_key(const struct medfs_config *c, const struct medfs_slot *s,
			 struct slot_secrets *x)
{
	if (crypto_scalarmult(x->shared, x->kek, c->wrap_pk) != 0)
		return -EKEYREJECTED;
	wrap_key(x->wrap, x->shared, c->wrap_pk, s->pk);
	return 0;
}

/* MAC of the first off_mac bytes of a serialised config. */
static int config_mac(uint8_t mac[MAC_LEN], const uint8_t *in, size_t off_mac,
		      const uint8_t vault_key[MEDFS_KEY_LEN])
{
	uint8_t *subkey = medfs_secret_alloc(MEDFS_KEY_LEN);
	int ret;

	if (subkey == NULL)
		return -ENOMEM;
	ret = medfs_subkey_derive(subkey, MEDFS_SUBKEY_CONFIG, vault_key);
	if (ret < 0)
		goto out;
	crypto_generichash(mac, MAC_LEN, in, off_mac, subkey, MEDFS_KEY_LEN);
out:
	medfs_secret_free(subkey);
	return ret;
}

/* A fresh wrapping pair: its public key into wrap_pk, its secret into e
 * (or thrown away when e is NULL). Returns 0 or -ENOMEM. */
static int new_wrap_pair(uint8_t wrap_pk[MEDFS_WRAP_PK_LEN], uint8_t *e)
{
	uint8_t *sk = e ? e : medfs_secret_alloc(crypto_scalarmult_SCALARBYTES);

	if (sk == NULL)
		return -ENOMEM;
	do
		randombytes_buf(sk, crypto_scalarmult_SCALARBYTES);
	while (crypto_scalarmult_base(wrap_pk, sk) != 0);
	if (e == NULL)
		medfs_secret_free(sk);
	return 0;
}

void medfs_config_init(struct medfs_config *c, uint32_t cipher)
{
	memset(c, 0, sizeof(*c));
	c->version = MEDFS_CONFIG_VERSION;
	randombytes_buf(c->vault_id, sizeof(c->vault_id));
	c->created = (uint64_t)time(NULL);
	c->block_size = BLOCK_SIZE;
	c->cipher = cipher;
	/* Without secret memory there is no vault to make: encode then
	 * refuses the all-zero key. */
	new_wrap_pair(c->wrap_pk, NULL);
}

/* Returns 1 when the rotation fields of a version 2 config hang together. */
static int rotation_valid(const struct medfs_config *c)
{
	int none = all_zero(c->old_key_nonce, sizeof(c->old_key_nonce)) &&
		   all_zero(c->old_key_sealed, sizeof(c->old_key_sealed));

	switch (c->rotation) {
	case MEDFS_ROTATION_NONE:
		return none;
	case MEDFS_ROTATION_REKEY:
	case MEDFS_ROTATION_REENCRYPT:
		return !none;
	default:
		return 0;
	}
}

int medfs_config_encode(const struct medfs_config *c,
			const uint8_t vault_key[MEDFS_KEY_LEN],
			uint8_t out[MEDFS_CONFIG_LEN])
{
	const struct layout *l = &v2_layout;
	int i, ret;

	/* Refuse to write what medfs_config_decode would reject. */
	if (c->version != MEDFS_CONFIG_VERSION || c->flags != 0 ||
	    c->block_size != BLOCK_SIZE || !cipher_known(c->cipher) ||
	    c->has_auditor > 1 || all_zero(c->wrap_pk, sizeof(c->wrap_pk)) ||
	    !rotation_valid(c))
		return -EINVAL;
	for (i = 0; i < MEDFS_SLOTS; i++)
		if (c->slots[i].kind != MEDFS_SLOT_EMPTY &&
		    !slot_valid(&c->slots[i], c->version))
			return -EINVAL;

	memset(out, 0, MEDFS_CONFIG_LEN);
	encode_head(c, out);
	put_le64(out + OFF_CREATED, c->created);
	put_le32(out + OFF_BLOCK_SIZE, c->block_size);
	put_le32(out + OFF_CIPHER, c->cipher);
	put_le32(out + OFF_ROTATION, c->rotation);
	memcpy(out + OFF_AUDITOR_PK, c->auditor_pk, sizeof(c->auditor_pk));
	out[OFF_HAS_AUDITOR] = c->has_auditor;
	memcpy(out + V2_OFF_WRAP_PK, c->wrap_pk, sizeof(c->wrap_pk));
	memcpy(out + V2_OFF_OLD_NONCE, c->old_key_nonce, sizeof(c->old_key_nonce));
	memcpy(out + V2_OFF_OLD_SEALED, c->old_key_sealed, sizeof(c->old_key_sealed));
	for (i = 0; i < MEDFS_SLOTS; i++)
		encode_slot(&c->slots[i], l, out + l->off_slots + i * l->slot_len);
	ret = config_mac(out + l->off_mac, out, l->off_mac, vault_key);
	if (ret < 0)
		sodium_memzero(out, MEDFS_CONFIG_LEN);
	return ret;
}

int medfs_config_decode(struct medfs_config *c, const uint8_t *in, size_t len)
{
	const struct layout *l;
	int i, ret = -EBADMSG;

	memset(c, 0, sizeof(*c));
	if (len < HEAD_LEN || memcmp(in, MEDFS_CONFIG_MAGIC, 8) != 0)
		return -EBADMSG;
	c->version = get_le32(in + OFF_VERSION);
	l = layout_of(c->version);
	if (l == NULL) {
		ret = -EPROTONOSUPPORT;
		goto out;
	}
	if (len != l->len)
		goto out;
	c->flags = get_le32(in + OFF_FLAGS);
	memcpy(c->vault_id, in + OFF_VAULT_ID, MEDFS_VAULT_ID_LEN);
	c->created = get_le64(in + OFF_CREATED);
	c->block_size = get_le32(in + OFF_BLOCK_SIZE);
	c->cipher = get_le32(in + OFF_CIPHER);
	c->rotation = get_le32(in + OFF_ROTATION);
	memcpy(c->auditor_pk, in + OFF_AUDITOR_PK, sizeof(c->auditor_pk));
	c->has_auditor = in[OFF_HAS_AUDITOR];
	if (c->flags != 0 || c->block_size != BLOCK_SIZE || !cipher_known(c->cipher) ||
	    c->has_auditor > 1)
		goto out;
	if (!all_zero(in + OFF_RESERVED1, OFF_AUDITOR_PK - OFF_RESERVED1) ||
	    !all_zero(in + l->off_reserved3, l->off_reserved3_end - l->off_reserved3))
		goto out;
	if (c->version == 1) {
		if (!all_zero(in + OFF_RESERVED2, V1_OFF_SLOTS - OFF_RESERVED2))
			goto out;
	} else {
		if (!all_zero(in + OFF_RESERVED2, V2_OFF_WRAP_PK - OFF_RESERVED2))
			goto out;
		memcpy(c->wrap_pk, in + V2_OFF_WRAP_PK, sizeof(c->wrap_pk));
		memcpy(c->old_key_nonce, in + V2_OFF_OLD_NONCE, sizeof(c->old_key_nonce));
		memcpy(c->old_key_sealed, in + V2_OFF_OLD_SEALED,
		       sizeof(c->old_key_sealed));
		if (all_zero(c->wrap_pk, sizeof(c->wrap_pk)) || !rotation_valid(c))
			goto out;
	}
	for (i = 0; i < MEDFS_SLOTS; i++) {
		ret = decode_slot(&c->slots[i], l, in + l->off_slots + i * l->slot_len);
		if (ret < 0)
			goto out;
	}
	ret = 0;
out:
	if (ret < 0)
		memset(c, 0, sizeof(*c));
	return ret;
}

int medfs_config_verify(const uint8_t *in, const uint8_t vault_key[MEDFS_KEY_LEN])
{
	const struct layout *l = layout_of(get_le32(in + OFF_VERSION));
	uint8_t mac[MAC_LEN];
	int ret;

	if (l == NULL)
		return -EBADMSG;
	ret = config_mac(mac, in, l->off_mac, vault_key);
	if (ret < 0)
		return ret;
	return sodium_memcmp(mac, in + l->off_mac, MAC_LEN) == 0 ? 0 : -EBADMSG;
}

/* Seals vault_key into s (whose other fields are set) at index idx, under
 * the wrap key in x->wrap (version 2) or the KEK (version 1). */
static void seal_slot(const struct medfs_config *c, int idx, struct medfs_slot *s,
		      const uint8_t key[MEDFS_KEY_LEN], const uint8_t wrap[MEDFS_KEY_LEN])
{
	uint8_t ad[SLOT_AD_MAX];
	size_t ad_len;

	randombytes_buf(s->nonce, sizeof(s->nonce));
	ad_len = slot_ad(c, idx, s, ad);
	crypto_aead_xchacha20poly1305_ietf_encrypt(s->wrapped, NULL, key, MEDFS_KEY_LEN,
						   ad, ad_len, NULL, s->nonce, wrap);
}

/* Makes slot idx of c for secret, created at the given time. */
static int make_slot(struct medfs_config *c, int idx, enum medfs_slot_kind kind,
		     const uint8_t *secret, size_t secret_len,
		     const struct medfs_kdf_params *kdf, const char *label,
		     uint64_t created, const uint8_t vault_key[MEDFS_KEY_LEN])
{
	struct slot_secrets *x = NULL;
	struct medfs_slot s;
	int ret = -EINVAL;

	memset(&s, 0, sizeof(s));
	if (c->version != MEDFS_CONFIG_VERSION || idx < 0 || idx >= MEDFS_SLOTS ||
	    !kind_known(kind) || secret == NULL)
		goto out;
	if (label != NULL && strlen(label) > MEDFS_SLOT_LABEL_MAX)
		goto out;
	s.kind = (uint8_t)kind;
	s.created = created;
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

	ret = -ENOMEM;
	x = medfs_secret_alloc(sizeof(*x));
	if (x == NULL)
		goto out;
	ret = derive_kek(&s, secret, secret_len, x->kek);
	if (ret < 0)
		goto out;
	ret = -EINVAL;
	if (crypto_scalarmult_base(s.pk, x->kek) != 0 || slot_wrap_key(c, &s, x) < 0)
		goto out;
	seal_slot(c, idx, &s, vault_key, x->wrap);
	c->slots[idx] = s;
	ret = 0;
out:
	medfs_secret_free(x);
	return ret;
}

int medfs_slot_set(struct medfs_config *c, int idx, enum medfs_slot_kind kind,
		   const uint8_t *secret, size_t secret_len,
		   const struct medfs_kdf_params *kdf, const char *label,
		   const uint8_t vault_key[MEDFS_KEY_LEN])
{
	return make_slot(c, idx, kind, secret, secret_len, kdf, label,
			 (uint64_t)time(NULL), vault_key);
}

int medfs_slot_unwrap(const struct medfs_config *c, int idx, const uint8_t *secret,
		      size_t secret_len, uint8_t vault_key[MEDFS_KEY_LEN])
{
	struct slot_secrets *x = NULL;
	const struct medfs_slot *s;
	const uint8_t *wrap;
	uint8_t ad[SLOT_AD_MAX], pk[MEDFS_WRAP_PK_LEN];
	size_t ad_len;
	int ret;

	if (idx < 0 || idx >= MEDFS_SLOTS || layout_of(c->version) == NULL)
		return -EINVAL;
	s = &c->slots[idx];
	if (s->kind == MEDFS_SLOT_EMPTY || !slot_valid(s, c->version))
		return -EINVAL;

	ret = -EKEYREJECTED;
	if (secret == NULL)
		goto out;
	ret = -ENOMEM;
	x = medfs_secret_alloc(sizeof(*x));
	if (x == NULL)
		goto out;
	ret = derive_kek(s, secret, secret_len, x->kek);
	if (ret < 0)
		goto out;
	wrap = x->kek;
	if (c->version == 2) {
		/* A wrong secret shows here already, without the AEAD. */
		ret = -EKEYREJECTED;
		if (crypto_scalarmult_base(pk, x->kek) != 0 ||
		    sodium_memcmp(pk, s->pk, sizeof(pk)) != 0)
			goto out;
		ret = slot_wrap_key(c, s, x);
		if (ret < 0)
			goto out;
		wrap = x->wrap;
	}
	ad_len = slot_ad(c, idx, s, ad);
	ret = -EKEYREJECTED;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(vault_key, NULL, NULL, s->wrapped,
						       sizeof(s->wrapped), ad, ad_len,
						       s->nonce, wrap) != 0)
		goto out;
	ret = 0;
out:
	if (ret < 0)
		sodium_memzero(vault_key, MEDFS_KEY_LEN);
	medfs_secret_free(x);
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

int medfs_config_slot_count(const struct medfs_config *c)
{
	int i, n = 0;

	for (i = 0; i < MEDFS_SLOTS; i++)
		if (c->slots[i].kind != MEDFS_SLOT_EMPTY)
			n++;
	return n;
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

int medfs_config_upgrade(struct medfs_config *c, int idx, const uint8_t *secret,
			 size_t secret_len, const uint8_t vault_key[MEDFS_KEY_LEN])
{
	struct medfs_config next;
	struct medfs_kdf_params kdf;
	struct medfs_slot old;
	int i, ret;

	if (c->version != 1 || idx < 0 || idx >= MEDFS_SLOTS ||
	    c->slots[idx].kind == MEDFS_SLOT_EMPTY)
		return -EINVAL;
	for (i = 0; i < MEDFS_SLOTS; i++)
		if (i != idx && c->slots[i].kind != MEDFS_SLOT_EMPTY)
			return -ENOTSUP;
	old = c->slots[idx];
	next = *c;
	next.version = 2;
	next.rotation = MEDFS_ROTATION_NONE;
	medfs_slot_clear(&next, idx);
	ret = new_wrap_pair(next.wrap_pk, NULL);
	if (ret < 0)
		return ret;
	kdf.opslimit = old.opslimit;
	kdf.memlimit = old.memlimit;
	ret = make_slot(&next, idx, (enum medfs_slot_kind)old.kind, secret, secret_len,
			old.kind == MEDFS_SLOT_PASSPHRASE ? &kdf : NULL, old.label,
			old.created, vault_key);
	if (ret < 0)
		return ret;
	*c = next;
	return 0;
}

/* The key that seals the previous vault key during a rotation. */
static int rotate_key(uint8_t out[MEDFS_KEY_LEN], const uint8_t vault_key[MEDFS_KEY_LEN])
{
	if (crypto_kdf_derive_from_key(out, MEDFS_KEY_LEN, SUBKEY_ROTATE,
				       MEDFS_KDF_CONTEXT, vault_key) != 0)
		return -EINVAL;
	return 0;
}

int medfs_config_rekey(struct medfs_config *c, const uint8_t new_key[MEDFS_KEY_LEN],
		       const uint8_t *old_key, enum medfs_rotation rotation)
{
	struct medfs_config next;
	struct slot_secrets *x = NULL;
	uint8_t head[HEAD_LEN];
	int i, ret = -EINVAL;

	if (c->version != 2 || rotation > MEDFS_ROTATION_REENCRYPT ||
	    (rotation != MEDFS_ROTATION_NONE && old_key == NULL))
		return -EINVAL;
	next = *c;
	ret = -ENOMEM;
	x = medfs_secret_alloc(sizeof(*x));
	if (x == NULL)
		goto out;
	/* x->kek holds the fresh wrapping secret e here. */
	ret = new_wrap_pair(next.wrap_pk, x->kek);
	if (ret < 0)
		goto out;
	for (i = 0; i < MEDFS_SLOTS; i++) {
		struct medfs_slot *s = &next.slots[i];

		if (s->kind == MEDFS_SLOT_EMPTY)
			continue;
		ret = -EINVAL;
		if (!slot_valid(s, 2) || crypto_scalarmult(x->shared, x->kek, s->pk) != 0)
			goto out;
		wrap_key(x->wrap, x->shared, next.wrap_pk, s->pk);
		seal_slot(&next, i, s, new_key, x->wrap);
	}
	next.rotation = rotation;
	sodium_memzero(next.old_key_nonce, sizeof(next.old_key_nonce));
	sodium_memzero(next.old_key_sealed, sizeof(next.old_key_sealed));
	if (rotation != MEDFS_ROTATION_NONE) {
		ret = rotate_key(x->wrap, new_key);
		if (ret < 0)
			goto out;
		encode_head(&next, head);
		randombytes_buf(next.old_key_nonce, sizeof(next.old_key_nonce));
		crypto_aead_xchacha20poly1305_ietf_encrypt(
			next.old_key_sealed, NULL, old_key, MEDFS_KEY_LEN, head,
			sizeof(head), NULL, next.old_key_nonce, x->wrap);
	}
	*c = next;
	ret = 0;
out:
	medfs_secret_free(x);
	return ret;
}

int medfs_config_old_key(const struct medfs_config *c,
			 const uint8_t vault_key[MEDFS_KEY_LEN],
			 uint8_t old_key[MEDFS_KEY_LEN])
{
	uint8_t *r, head[HEAD_LEN];
	int ret;

	if (c->version != 2 || c->rotation == MEDFS_ROTATION_NONE)
		return -ENOENT;
	r = medfs_secret_alloc(MEDFS_KEY_LEN);
	if (r == NULL)
		return -ENOMEM;
	ret = rotate_key(r, vault_key);
	if (ret == 0) {
		encode_head(c, head);
		if (crypto_aead_xchacha20poly1305_ietf_decrypt(
			    old_key, NULL, NULL, c->old_key_sealed,
			    sizeof(c->old_key_sealed), head, sizeof(head),
			    c->old_key_nonce, r) != 0)
			ret = -EBADMSG;
	}
	if (ret < 0)
		sodium_memzero(old_key, MEDFS_KEY_LEN);
	medfs_secret_free(r);
	return ret;
}

void medfs_config_end_rotation(struct medfs_config *c)
{
	c->rotation = MEDFS_ROTATION_NONE;
	sodium_memzero(c->old_key_nonce, sizeof(c->old_key_nonce));
	sodium_memzero(c->old_key_sealed, sizeof(c->old_key_sealed));
}

int medfs_config_rotating(const struct medfs_config *c)
{
	return c->version == 2 && c->rotation != MEDFS_ROTATION_NONE;
}

/* Atomically replaces dirfd/name with buf: temporary, fsync, rename, fsync
 * of the directory. Returns 0 or -errno. */
static int replace_file(int dirfd, const char *name, const uint8_t *buf, size_t len)
{
	struct stat st;
	char tmp[64];
	int fd, ret;

	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(dirfd, tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC | O_NOFOLLOW,
		    0600);
	if (fd < 0)
		return -errno;
	/* A stale temporary keeps its old mode through O_TRUNC. */
	ret = fchmod(fd, 0600) < 0 ? -errno : 0;
	/* Whoever runs medfs-key, the config stays its owner's (the user the
	 * driver runs as may not be root). */
	if (ret == 0 && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    fchown(fd, st.st_uid, st.st_gid) < 0 && errno != EPERM)
		ret = -errno;
	if (ret == 0)
		ret = medfs_write_all(fd, buf, len);
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

int medfs_config_write(const char *vault_dir, const uint8_t *in, size_t len)
{
	struct medfs_config c;
	int dirfd, ret;

	ret = medfs_config_decode(&c, in, len);
	if (ret < 0)
		return ret;
	dirfd = open(vault_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	/* Primary first: a crash in between leaves two valid copies. */
	ret = replace_file(dirfd, MEDFS_CONFIG_NAME, in, len);
	if (ret == 0)
		ret = replace_file(dirfd, MEDFS_CONFIG_BACKUP_NAME, in, len);
	close(dirfd);
	return ret;
}

int medfs_config_save(const char *vault_dir, const struct medfs_config *c,
		      const uint8_t vault_key[MEDFS_KEY_LEN])
{
	uint8_t buf[MEDFS_CONFIG_LEN];
	int ret;

	ret = medfs_config_encode(c, vault_key, buf);
	if (ret < 0)
		return ret;
	return medfs_config_write(vault_dir, buf, sizeof(buf));
}

/* Reads dirfd/name into buf (MEDFS_CONFIG_LEN + 1 bytes) and stores the
 * length read in *len. Returns 0 or -errno. */
static int read_config(int dirfd, const char *name, uint8_t *buf, size_t *len)
{
	size_t cap = MEDFS_CONFIG_LEN + 1, n = 0;
	int fd, ret = 0;

	*len = 0;
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

int medfs_config_read(const char *vault_dir, const char *name,
		      uint8_t buf[MEDFS_CONFIG_LEN + 1], size_t *len)
{
	int dirfd, ret;

	*len = 0;
	dirfd = open(vault_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	ret = read_config(dirfd, name, buf, len);
	close(dirfd);
	return ret;
}

int medfs_config_read_file(const char *path, uint8_t buf[MEDFS_CONFIG_LEN + 1],
			   size_t *len)
{
	return read_config(AT_FDCWD, path, buf, len);
}

int medfs_config_open(const uint8_t *in, size_t len, enum medfs_slot_kind kind,
		      const uint8_t *secret, size_t secret_len, struct medfs_config *c,
		      uint8_t vault_key[MEDFS_KEY_LEN])
{
	int slot, ret;

	ret = medfs_config_decode(c, in, len);
	if (ret < 0)
		goto fail;
	slot = medfs_config_unlock(c, kind, secret, secret_len, vault_key);
	if (slot < 0) {
		ret = slot;
		goto fail;
	}
	ret = medfs_config_verify(in, vault_key);
	if (ret < 0)
		goto fail;
	return slot;
fail:
	sodium_memzero(vault_key, MEDFS_KEY_LEN);
	memset(c, 0, sizeof(*c));
	return ret;
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
	case -ERANGE:
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
		ret = medfs_config_open(primary, plen, kind, secret, secret_len, c,
					vault_key);
	if (ret >= 0)
		goto out;

	ret2 = read_config(dirfd, MEDFS_CONFIG_BACKUP_NAME, backup, &blen);
	if (ret2 == 0) {
		/* An identical copy fails the same way: spare a second KDF. */
		if (primary_read && blen == plen && memcmp(primary, backup, plen) == 0)
			ret2 = ret;
		else
			ret2 = medfs_config_open(backup, blen, kind, secret, secret_len,
						 c, vault_key);
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

/* One copy of the config, authenticated under vault_key. */
static int load_copy_key(int dirfd, const char *name,
			 const uint8_t vault_key[MEDFS_KEY_LEN], struct medfs_config *c)
{
	uint8_t buf[MEDFS_CONFIG_LEN + 1];
	size_t len;
	int ret;

	ret = read_config(dirfd, name, buf, &len);
	if (ret == 0)
		ret = medfs_config_decode(c, buf, len);
	if (ret == 0)
		ret = medfs_config_verify(buf, vault_key);
	return ret;
}

int medfs_config_load_key(const char *vault_dir, const uint8_t vault_key[MEDFS_KEY_LEN],
			  struct medfs_config *c)
{
	int dirfd, ret, ret2;

	dirfd = open(vault_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		ret = -errno;
		goto out;
	}
	ret = load_copy_key(dirfd, MEDFS_CONFIG_NAME, vault_key, c);
	if (ret < 0) {
		ret2 = load_copy_key(dirfd, MEDFS_CONFIG_BACKUP_NAME, vault_key, c);
		if (ret2 == 0 || error_rank(ret2) > error_rank(ret))
			ret = ret2;
	}
	close(dirfd);
out:
	if (ret < 0)
		memset(c, 0, sizeof(*c));
	return ret;
}
