/* Unit tests of the vault config and its key slots (config.h): format 2,
 * and format 1 configs read as before. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "medfs/config.h"
#include "medfs/crypto.h"
#include "medfs/log.h"

/* Small Argon2id parameters keep the suite fast. */
static const struct medfs_kdf_params fast_kdf = { 1, 8ULL << 20 };

#define PASS "correct horse battery staple"
#define PASS_LEN (sizeof(PASS) - 1)

/* Format 2 offsets, written out here from doc/FORMAT.md. */
#define SLOTS 256
#define SLOT_LEN 256
#define SLOT(i) (SLOTS + (i)*SLOT_LEN)
#define MAC_OFF 4352

static uint8_t vault_key[MEDFS_KEY_LEN];
static uint8_t new_key[MEDFS_KEY_LEN];
static uint8_t keyfile_secret[32];
static uint8_t recovery_secret[32];

static void fill(uint8_t *p, size_t len, uint8_t start)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(start + i);
}

static void setup(void)
{
	ck_assert_int_eq(medfs_crypto_init(), 0);
	fill(vault_key, sizeof(vault_key), 0x00);
	fill(new_key, sizeof(new_key), 0x20);
	fill(keyfile_secret, sizeof(keyfile_secret), 0x80);
	fill(recovery_secret, sizeof(recovery_secret), 0xc0);
}

/* Warnings logged by the library (load reports a fallback to the backup). */
static int warnings;

static void count_log(int priority, const char *msg)
{
	(void)msg;
	if (priority == LOG_WARNING)
		warnings++;
}

static void assert_slot_eq(const struct medfs_slot *a, const struct medfs_slot *b)
{
	ck_assert_uint_eq(a->kind, b->kind);
	ck_assert_uint_eq(a->created, b->created);
	ck_assert_uint_eq(a->opslimit, b->opslimit);
	ck_assert_uint_eq(a->memlimit, b->memlimit);
	ck_assert_uint_eq(a->alg, b->alg);
	ck_assert_mem_eq(a->salt, b->salt, sizeof(a->salt));
	ck_assert_mem_eq(a->nonce, b->nonce, sizeof(a->nonce));
	ck_assert_mem_eq(a->wrapped, b->wrapped, sizeof(a->wrapped));
	ck_assert_str_eq(a->label, b->label);
	ck_assert_mem_eq(a->pk, b->pk, sizeof(a->pk));
}

static void assert_config_eq(const struct medfs_config *a, const struct medfs_config *b)
{
	int i;

	ck_assert_uint_eq(a->version, b->version);
	ck_assert_uint_eq(a->flags, b->flags);
	ck_assert_mem_eq(a->vault_id, b->vault_id, sizeof(a->vault_id));
	ck_assert_uint_eq(a->created, b->created);
	ck_assert_uint_eq(a->block_size, b->block_size);
	ck_assert_uint_eq(a->cipher, b->cipher);
	ck_assert_uint_eq(a->rotation, b->rotation);
	ck_assert_uint_eq(a->has_auditor, b->has_auditor);
	ck_assert_mem_eq(a->auditor_pk, b->auditor_pk, sizeof(a->auditor_pk));
	ck_assert_mem_eq(a->wrap_pk, b->wrap_pk, sizeof(a->wrap_pk));
	ck_assert_mem_eq(a->old_key_nonce, b->old_key_nonce, sizeof(a->old_key_nonce));
	ck_assert_mem_eq(a->old_key_sealed, b->old_key_sealed, sizeof(a->old_key_sealed));
	for (i = 0; i < MEDFS_SLOTS; i++)
		assert_slot_eq(&a->slots[i], &b->slots[i]);
}

/* A config using every field: passphrase slot 0, keyfile slot 3, recovery
 * slot 15 and an auditor key. */
static void full_config(struct medfs_config *c)
{
	medfs_config_init(c, MEDFS_CIPHER_XCHACHA20POLY1305);
	c->has_auditor = 1;
	fill(c->auditor_pk, sizeof(c->auditor_pk), 0x30);
	ck_assert_int_eq(medfs_slot_set(c, 0, MEDFS_SLOT_PASSPHRASE,
					(const uint8_t *)PASS, PASS_LEN, &fast_kdf,
					"admin", vault_key),
			 0);
	ck_assert_int_eq(medfs_slot_set(c, 3, MEDFS_SLOT_KEYFILE, keyfile_secret, 32,
					NULL, "usb key", vault_key),
			 0);
	ck_assert_int_eq(medfs_slot_set(c, 15, MEDFS_SLOT_RECOVERY, recovery_secret, 32,
					NULL, NULL, vault_key),
			 0);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* ---- format 1, written by the spec ---- */

#define V1_LEN 3296
#define V1_SLOT(i) (128 + (i)*192)

/* A format 1 record of c (version 1, slots already wrapped), MACed. */
static void v1_encode(const struct medfs_config *c, const uint8_t key[32],
		      uint8_t out[V1_LEN])
{
	uint8_t subkey[32];
	int i;

	memset(out, 0, V1_LEN);
	memcpy(out, "MEDFSVLT", 8);
	put32(out + 8, 1);
	put32(out + 12, c->flags);
	memcpy(out + 16, c->vault_id, 16);
	put64(out + 32, c->created);
	put32(out + 40, c->block_size);
	put32(out + 44, c->cipher);
	put32(out + 48, c->rotation);
	memcpy(out + 56, c->auditor_pk, 32);
	out[88] = c->has_auditor;
	for (i = 0; i < MEDFS_SLOTS; i++) {
		const struct medfs_slot *s = &c->slots[i];
		uint8_t *p = out + V1_SLOT(i);

		if (s->kind == MEDFS_SLOT_EMPTY)
			continue;
		p[0] = s->kind;
		put64(p + 8, s->created);
		put64(p + 16, s->opslimit);
		put64(p + 24, s->memlimit);
		put32(p + 32, s->alg);
		memcpy(p + 40, s->salt, 16);
		memcpy(p + 56, s->nonce, 24);
		memcpy(p + 80, s->wrapped, 48);
		memcpy(p + 128, s->label, strlen(s->label));
	}
	ck_assert_int_eq(crypto_kdf_derive_from_key(subkey, 32, 7, "medfs-v1", key), 0);
	crypto_generichash(out + 3264, 32, out, 3264, subkey, 32);
}

/* The format 1 slot wrap: the vault key sealed under the KEK. */
static void v1_wrap(struct medfs_config *c, int idx, const uint8_t kek[32])
{
	struct medfs_slot *s = &c->slots[idx];
	uint8_t ad[32 + 1 + 56] = { 0 };
	uint8_t *slot = ad + 33;

	memcpy(ad, "MEDFSVLT", 8);
	put32(ad + 8, 1);
	put32(ad + 12, c->flags);
	memcpy(ad + 16, c->vault_id, 16);
	ad[32] = (uint8_t)idx;
	slot[0] = s->kind;
	put64(slot + 8, s->created);
	put64(slot + 16, s->opslimit);
	put64(slot + 24, s->memlimit);
	put32(slot + 32, s->alg);
	memcpy(slot + 40, s->salt, 16);
	crypto_aead_xchacha20poly1305_ietf_encrypt(s->wrapped, NULL, vault_key, 32, ad,
						   sizeof(ad), NULL, s->nonce, kek);
}

static void keyfile_kek(const struct medfs_slot *s, const uint8_t secret[32],
			uint8_t kek[32])
{
	uint8_t msg[4 + 16];

	memcpy(msg, "MDFK", 4);
	memcpy(msg + 4, s->salt, 16);
	crypto_generichash(kek, 32, msg, sizeof(msg), secret, 32);
}

/* The format 1 config of the known-answer vector: a passphrase slot 0, a
 * key file slot 1 and a recovery slot 15, fixed salts and nonces. */
static void v1_config(struct medfs_config *c)
{
	struct medfs_slot *s;
	uint8_t kek[32];

	memset(c, 0, sizeof(*c));
	c->version = 1;
	fill(c->vault_id, 16, 0xa0);
	c->created = 1700000000;
	c->block_size = 4096;
	c->cipher = 1;

	s = &c->slots[0];
	s->kind = MEDFS_SLOT_PASSPHRASE;
	s->created = 1700000001;
	s->opslimit = 1;
	s->memlimit = 8ULL << 20;
	s->alg = crypto_pwhash_ALG_ARGON2ID13;
	fill(s->salt, 16, 0x40);
	fill(s->nonce, 24, 0x60);
	strcpy(s->label, "admin");
	ck_assert_int_eq(crypto_pwhash(kek, 32, PASS, PASS_LEN, s->salt, 1, 8 << 20,
				       crypto_pwhash_ALG_ARGON2ID13),
			 0);
	v1_wrap(c, 0, kek);

	s = &c->slots[1];
	s->kind = MEDFS_SLOT_KEYFILE;
	s->created = 1700000002;
	fill(s->salt, 16, 0x90);
	fill(s->nonce, 24, 0xb0);
	strcpy(s->label, "usb key");
	keyfile_kek(s, keyfile_secret, kek);
	v1_wrap(c, 1, kek);

	s = &c->slots[15];
	s->kind = MEDFS_SLOT_RECOVERY;
	s->created = 1700000003;
	fill(s->salt, 16, 0xd0);
	fill(s->nonce, 24, 0xe0);
	keyfile_kek(s, recovery_secret, kek);
	v1_wrap(c, 15, kek);
}

/* ---- encoding ---- */

START_TEST(test_init_defaults)
{
	struct medfs_config a, b;

	medfs_config_init(&a, MEDFS_CIPHER_XCHACHA20POLY1305);
	medfs_config_init(&b, MEDFS_CIPHER_XCHACHA20POLY1305);
	ck_assert_uint_eq(a.version, 2);
	ck_assert_uint_eq(a.flags, 0);
	ck_assert_uint_eq(a.block_size, 4096);
	ck_assert_uint_eq(a.cipher, MEDFS_CIPHER_XCHACHA20POLY1305);
	ck_assert_uint_eq(a.has_auditor, 0);
	ck_assert_uint_eq(a.rotation, MEDFS_ROTATION_NONE);
	ck_assert_uint_ne(a.created, 0);
	ck_assert_int_eq(medfs_config_free_slot(&a), 0);
	ck_assert_int_eq(medfs_config_slot_count(&a), 0);
	ck_assert_int_eq(medfs_config_rotating(&a), 0);
	ck_assert(!sodium_is_zero(a.wrap_pk, sizeof(a.wrap_pk)));
	/* Fresh random vault ids and wrapping keys. */
	ck_assert(memcmp(a.vault_id, b.vault_id, sizeof(a.vault_id)) != 0);
	ck_assert(memcmp(a.wrap_pk, b.wrap_pk, sizeof(a.wrap_pk)) != 0);
}
END_TEST

START_TEST(test_roundtrip)
{
	struct medfs_config c, d;
	uint8_t buf[MEDFS_CONFIG_LEN], again[MEDFS_CONFIG_LEN];

	full_config(&c);
	ck_assert_int_eq(medfs_config_encode(&c, vault_key, buf), 0);
	ck_assert_int_eq(medfs_config_decode(&d, buf, sizeof(buf)), 0);
	assert_config_eq(&c, &d);
	ck_assert_int_eq(medfs_config_verify(buf, vault_key), 0);
	ck_assert_int_eq(medfs_config_encode(&d, vault_key, again), 0);
	ck_assert_mem_eq(buf, again, sizeof(buf));

	/* With a rotation recorded. */
	ck_assert_int_eq(
		medfs_config_rekey(&c, new_key, vault_key, MEDFS_ROTATION_REENCRYPT), 0);
	ck_assert_int_eq(medfs_config_encode(&c, new_key, buf), 0);
	ck_assert_int_eq(medfs_config_decode(&d, buf, sizeof(buf)), 0);
	assert_config_eq(&c, &d);
	ck_assert_int_eq(medfs_config_verify(buf, new_key), 0);
	ck_assert_int_eq(medfs_config_verify(buf, vault_key), -EBADMSG);
}
END_TEST

/* The layout of doc/FORMAT.md, byte by byte for the fixed fields. */
START_TEST(test_layout)
{
	struct medfs_config c;
	uint8_t buf[MEDFS_CONFIG_LEN], subkey[32], mac[32];
	const uint8_t *s0, *s3, *s15;

	ck_assert_uint_eq(MEDFS_CONFIG_LEN, 4384);
	ck_assert_uint_eq(MEDFS_CONFIG_V1_LEN, 3296);
	full_config(&c);
	c.created = 0x1122334455667788ULL;
	ck_assert_int_eq(medfs_config_encode(&c, vault_key, buf), 0);
	ck_assert_mem_eq(buf, "MEDFSVLT", 8);
	ck_assert_uint_eq(le32(buf + 8), 2);
	ck_assert_uint_eq(le32(buf + 12), 0);
	ck_assert_mem_eq(buf + 16, c.vault_id, 16);
	ck_assert_uint_eq(le64(buf + 32), 0x1122334455667788ULL);
	ck_assert_uint_eq(buf[32], 0x88);
	ck_assert_uint_eq(le32(buf + 40), 4096);
	ck_assert_uint_eq(le32(buf + 44), 1);
	ck_assert_uint_eq(le32(buf + 48), 0);
	ck_assert_uint_eq(le32(buf + 52), 0);
	ck_assert_mem_eq(buf + 56, c.auditor_pk, 32);
	ck_assert_uint_eq(buf[88], 1);
	ck_assert(sodium_is_zero(buf + 89, 7));
	ck_assert_mem_eq(buf + 96, c.wrap_pk, 32);
	ck_assert(sodium_is_zero(buf + 128, SLOTS - 128)); /* no rotation */

	s0 = buf + SLOT(0);
	ck_assert_uint_eq(s0[0], MEDFS_SLOT_PASSPHRASE);
	ck_assert(sodium_is_zero(s0 + 1, 7));
	ck_assert_uint_eq(le64(s0 + 8), c.slots[0].created);
	ck_assert_uint_eq(le64(s0 + 16), 1);
	ck_assert_uint_eq(le64(s0 + 24), 8ULL << 20);
	ck_assert_uint_eq(le32(s0 + 32), crypto_pwhash_ALG_ARGON2ID13);
	ck_assert(sodium_is_zero(s0 + 36, 4));
	ck_assert_mem_eq(s0 + 40, c.slots[0].salt, 16);
	ck_assert_mem_eq(s0 + 56, c.slots[0].pk, 32);
	ck_assert_mem_eq(s0 + 88, c.slots[0].nonce, 24);
	ck_assert_mem_eq(s0 + 112, c.slots[0].wrapped, 48);
	ck_assert_mem_eq(s0 + 160, "admin\0", 6);
	ck_assert(sodium_is_zero(s0 + 166, SLOT_LEN - 166));

	s3 = buf + SLOT(3);
	ck_assert_uint_eq(s3[0], MEDFS_SLOT_KEYFILE);
	ck_assert(sodium_is_zero(s3 + 16, 24)); /* no KDF parameters, alg 0 */
	ck_assert_mem_eq(s3 + 160, "usb key", 8);
	s15 = buf + SLOT(15);
	ck_assert_uint_eq(s15[0], MEDFS_SLOT_RECOVERY);
	ck_assert(sodium_is_zero(s15 + 160, SLOT_LEN - 160));
	/* Empty slots are all zeros. */
	ck_assert(sodium_is_zero(buf + SLOT(1), 2 * SLOT_LEN));
	/* The MAC covers everything before it. */
	ck_assert_int_eq(crypto_kdf_derive_from_key(subkey, 32, 7, "medfs-v1", vault_key),
			 0);
	crypto_generichash(mac, 32, buf, MAC_OFF, subkey, 32);
	ck_assert_mem_eq(buf + MAC_OFF, mac, 32);

	/* A rotation fills the old key area. */
	ck_assert_int_eq(medfs_config_rekey(&c, new_key, vault_key, MEDFS_ROTATION_REKEY),
			 0);
	ck_assert_int_eq(medfs_config_encode(&c, new_key, buf), 0);
	ck_assert_uint_eq(le32(buf + 48), 1);
	ck_assert_mem_eq(buf + 128, c.old_key_nonce, 24);
	ck_assert_mem_eq(buf + 152, c.old_key_sealed, 48);
	ck_assert(sodium_is_zero(buf + 200, SLOTS - 200));
}
END_TEST

START_TEST(test_decode_length_magic)
{
	struct medfs_config c, d;
	uint8_t buf[MEDFS_CONFIG_LEN + 1];

	full_config(&c);
	ck_assert_int_eq(medfs_config_encode(&c, vault_key, buf), 0);
	ck_assert_int_eq(medfs_config_decode(&d, buf, MEDFS_CONFIG_LEN - 1), -EBADMSG);
	ck_assert_int_eq(medfs_config_decode(&d, buf, MEDFS_CONFIG_LEN + 1), -EBADMSG);
	ck_assert_int_eq(medfs_config_decode(&d, buf, MEDFS_CONFIG_V1_LEN), -EBADMSG);
	ck_assert_int_eq(medfs_config_decode(&d, buf, 0), -EBADMSG);
	ck_assert_int_eq(medfs_config_decode(&d, buf, 8), -EBADMSG);
	buf[3] ^= 0x20; /* "MEDfSVLT" */
	ck_assert_int_eq(medfs_config_decode(&d, buf, MEDFS_CONFIG_LEN), -EBADMSG);
}
END_TEST

START_TEST(test_decode_version)
{
	struct medfs_config c, d;
	uint8_t buf[MEDFS_CONFIG_LEN];

	full_config(&c);
	ck_assert_int_eq(medfs_config_encode(&c, vault_key, buf), 0);
	put32(buf + 8, 3);
	ck_assert_int_eq(medfs_config_decode(&d, buf, sizeof(buf)), -EPROTONOSUPPORT);
	put32(buf + 8, 0);
	ck_assert_int_eq(medfs_config_decode(&d, buf, sizeof(buf)), -EPROTONOSUPPORT);
	put32(buf + 8, 0x02000000); /* 2 in the wrong byte order */
	ck_assert_int_eq(medfs_config_decode(&d, buf, sizeof(buf)), -EPROTONOSUPPORT);
	/* Version 1 has another length. */
	put32(buf + 8, 1);
	ck_assert_int_eq(medfs_config_decode(&d, buf, sizeof(buf)), -EBADMSG);
	ck_assert_int_eq(medfs_config_verify(buf, vault_key), -EBADMSG);
	put32(buf + 8, 7);
	ck_assert_int_eq(medfs_config_verify(buf, vault_key), -EBADMSG);
}
END_TEST

/* Each change below gives a structurally invalid config. */
START_TEST(test_decode_fields)
{
	static const struct {
		size_t off;
		uint8_t val;
	} bad[] = {
		{ 12, 1 },		/* unknown flag */
		{ 41, 0x20 },		/* block size 8192 */
		{ 44, 0 },		/* no cipher */
		{ 44, 3 },		/* unknown cipher */
		{ 45, 1 },		/* cipher 0x101 */
		{ 48, 3 },		/* unknown rotation state */
		{ 48, 1 },		/* rotation without an old key */
		{ 52, 1 },		/* reserved */
		{ 88, 2 },		/* has_auditor not 0/1 */
		{ 90, 1 },		/* reserved */
		{ 140, 1 },		/* old key area without a rotation */
		{ 180, 1 },		/* the same */
		{ 200, 1 },		/* reserved */
		{ 255, 1 },		/* reserved */
		{ SLOT(0), 4 },		/* unknown kind */
		{ SLOT(0), 0 },		/* empty kind, other bytes set */
		{ SLOT(0) + 1, 1 },	/* slot reserved */
		{ SLOT(0) + 36, 1 },	/* slot reserved */
		{ SLOT(0) + 208, 1 },	/* slot reserved tail */
		{ SLOT(0) + 255, 1 },	/* slot reserved tail */
		{ SLOT(0) + 32, 1 },	/* passphrase slot with another alg */
		{ SLOT(0) + 16, 0 },	/* opslimit 0 */
		{ SLOT(0) + 26, 0 },	/* memlimit 0 */
		{ SLOT(0) + 166, 'x' }, /* byte after the label's NUL */
		{ SLOT(1), 1 },		/* kind set in an all-zero slot */
		{ SLOT(3) + 16, 1 },	/* keyfile slot with an opslimit */
		{ SLOT(3) + 32, 2 },	/* keyfile slot with an alg */
		{ SLOT(4) + 100, 1 },	/* garbage in an empty slot */
	};
	struct medfs_config c, d;
	uint8_t buf[MEDFS_CONFIG_LEN], bent[MEDFS_CONFIG_LEN];
	size_t i;

	full_config(&c);
	ck_assert_int_eq(medfs_config_encode(&c, vault_key, buf), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(bent, buf, sizeof(buf));
		bent[bad[i].off] = bad[i].val;
		ck_assert_msg(medfs_config_decode(&d, bent, sizeof(bent)) == -EBADMSG,
			      "offset %zu value %u decoded", bad[i].off, bad[i].val);
	}

	/* A label filling all 48 bytes has no NUL. */
	memcpy(bent, buf, sizeof(buf));
	memset(bent + SLOT(0) + 160, 'a', 48);
	ck_assert_int_eq(medfs_config_decode(&d, bent, sizeof(bent)), -EBADMSG);
	/* Argon2id memory below its minimum (8 KiB). */
	memcpy(bent, buf, sizeof(buf));
	put64(bent + SLOT(0) + 24, 8191);
	ck_assert_int_eq(medfs_config_decode(&d, bent, sizeof(bent)), -EBADMSG);
	/* A slot without its public key, a config without its wrapping key. */
	memcpy(bent, buf, sizeof(buf));
	memset(bent + SLOT(3) + 56, 0, 32);
	ck_assert_int_eq(medfs_config_decode(&d, bent, sizeof(bent)), -EBADMSG);
	memcpy(bent, buf, sizeof(buf));
	memset(bent + 96, 0, 32);
	ck_assert_int_eq(medfs_config_decode(&d, bent, sizeof(bent)), -EBADMSG);
}
END_TEST

/* Issue 21: a slot asking for absurd KDF parameters (1 TiB of memory) is
 * refused by decoding, before any key derivation, with its own error. */
START_TEST(test_decode_kdf_bounds)
{
	static const struct {
		size_t off;
		uint64_t val;
		int err;
	} cases[] = {
		{ SLOT(0) + 24, 1ULL << 40, -ERANGE }, /* 1 TiB */
		{ SLOT(0) + 24, MEDFS_KDF_MEMLIMIT_MAX + 1024,
		  -ERANGE }, /* 4 GiB + 1 KiB */
		{ SLOT(0) + 24, MEDFS_KDF_MEMLIMIT_MAX, 0 },
		{ SLOT(0) + 16, MEDFS_KDF_OPSLIMIT_MAX + 1, -ERANGE },
		{ SLOT(0) + 16, 0xffffffffULL, -ERANGE },
		{ SLOT(0) + 16, MEDFS_KDF_OPSLIMIT_MAX, 0 },
	};
	struct medfs_config c, d;
	uint8_t buf[MEDFS_CONFIG_LEN], bent[MEDFS_CONFIG_LEN], key[MEDFS_KEY_LEN];

	full_config(&c);
	ck_assert_int_eq(medfs_config_encode(&c, vault_key, buf), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(bent, buf, sizeof(buf));
		put64(bent + cases[i].off, cases[i].val);
		ck_assert_msg(medfs_config_decode(&d, bent, sizeof(bent)) == cases[i].err,
			      "case %zu", i);
	}
	/* Opening it tries no slot: -ERANGE, key wiped, even with the right
	 * passphrase. */
	memcpy(bent, buf, sizeof(buf));
	put64(bent + SLOT(0) + 24, 1ULL << 40);
	memset(key, 0xaa, sizeof(key));
	ck_assert_int_eq(medfs_config_open(bent, sizeof(bent), MEDFS_SLOT_PASSPHRASE,
					   (const uint8_t *)PASS, PASS_LEN, &d, key),
			 -ERANGE);
	ck_assert(sodium_is_zero(key, sizeof(key)));

	/* Nor are such slots made or written. */
	struct medfs_kdf_params big = { 1, MEDFS_KDF_MEMLIMIT_MAX + (1ULL << 20) };
	struct medfs_kdf_params slow = { MEDFS_KDF_OPSLIMIT_MAX + 1, 8ULL << 20 };

	medfs_config_init(&d, MEDFS_CIPHER_XCHACHA20POLY1305);
	ck_assert_int_eq(medfs_slot_set(&d, 0, MEDFS_SLOT_PASSPHRASE,
					(const uint8_t *)PASS, PASS_LEN, &big, NULL,
					vault_key),
			 -EINVAL);
	ck_assert_int_eq(medfs_slot_set(&d, 0, MEDFS_SLOT_PASSPHRASE,
					(const uint8_t *)PASS, PASS_LEN, &slow, NULL,
					vault_key),
			 -EINVAL);
	c.slots[0].memlimit = 1ULL << 40;
	ck_assert_int_eq(medfs_config_encode(&c, vault_key, buf), -EINVAL);
}
END_TEST

START_TEST(test_kdf_weak)
{
	static const struct {
		struct medfs_kdf_params kdf;
		int weak;
	} cases[] = {
		{ { MEDFS_KDF_OPSLIMIT_DEFAULT, MEDFS_KDF_MEMLIMIT_DEFAULT }, 0 },
		{ { 1, 8ULL << 20 }, 1 },   /* the tests' settings */
		{ { 64, 16ULL << 20 }, 1 }, /* too little memory, whatever the time */
		{ { 2, 64ULL << 20 }, 1 },  /* 128 MiB-passes: under a tenth */
		{ { 4, 64ULL << 20 }, 0 },  /* 256 MiB-passes */
		{ { 1, 256ULL << 20 }, 0 }, /* a sixth of the default */
		{ { 1, 128ULL << 20 }, 1 }, /* a twelfth */
		{ { 4, 1ULL << 30 }, 0 },   /* libsodium's SENSITIVE */
		{ { MEDFS_KDF_OPSLIMIT_MAX, MEDFS_KDF_MEMLIMIT_MAX }, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(medfs_kdf_weak(&cases[i].kdf) == cases[i].weak, "case %zu",
			      i);
}
END_TEST

START_TEST(test_encode_rejects)
{
	struct medfs_config c;
	uint8_t buf[MEDFS_CONFIG_LEN];

	full_config(&c);
	c.version = 1; /* read, never written */
	ck_assert_int_eq(medfs_config_encode(&c, vault_key, buf), -EINVAL);
	full_config(&c);
	c.version = 3;
	ck_assert_int_eq(medfs_config_encode(&c, vault_key, buf), -EINVAL);
	full_config(&c);
	c.has_auditor = 2;
	ck_assert_int_eq(medfs_config_encode(&c, vault_key, buf), -EINVAL);
	full_config(&c);
	memset(c.slots[3].label, 'a', sizeof(c.slots[3].label));
	ck_assert_int_eq(medfs_config_encode(&c, vault_key, buf), -EINVAL);
	full_config(&c);
	c.slots[0].memlimit = 0;
	ck_assert_int_eq(medfs_config_encode(&c, vault_key, buf), -EINVAL);
	full_config(&c);
	c.slots[5].kind = 9;
	ck_assert_int_eq(medfs_config_encode(&c, vault_key, buf), -EINVAL);
	full_config(&c);
	memset(c.wrap_pk, 0, sizeof(c.wrap_pk));
	ck_assert_int_eq(medfs_config_encode(&c, vault_key, buf), -EINVAL);
	full_config(&c);
	memset(c.slots[3].pk, 0, sizeof(c.slots[3].pk));
	ck_assert_int_eq(medfs_config_encode(&c, vault_key, buf), -EINVAL);
	full_config(&c);
	c.rotation = MEDFS_ROTATION_REKEY; /* no old key */
	ck_assert_int_eq(medfs_config_encode(&c, vault_key, buf), -EINVAL);
	full_config(&c);
	c.rotation = 3;
	ck_assert_int_eq(medfs_config_encode(&c, vault_key, buf), -EINVAL);
}
END_TEST

START_TEST(test_verify)
{
	struct medfs_config c;
	uint8_t buf[MEDFS_CONFIG_LEN], other[MEDFS_KEY_LEN];

	full_config(&c);
	ck_assert_int_eq(medfs_config_encode(&c, vault_key, buf), 0);
	ck_assert_int_eq(medfs_config_verify(buf, vault_key), 0);
	memcpy(other, vault_key, sizeof(other));
	other[31] ^= 1;
	ck_assert_int_eq(medfs_config_verify(buf, other), -EBADMSG);
	buf[MEDFS_CONFIG_LEN - 1] ^= 1;
	ck_assert_int_eq(medfs_config_verify(buf, vault_key), -EBADMSG);
}
END_TEST

/* The block cipher: 1 and 2 in either format, nothing else. */
START_TEST(test_cipher)
{
	struct medfs_config c, d;
	uint8_t buf[MEDFS_CONFIG_LEN], v1[V1_LEN], key[MEDFS_KEY_LEN];

	medfs_config_init(&c, MEDFS_CIPHER_AES256GCM);
	ck_assert_uint_eq(c.cipher, MEDFS_CIPHER_AES256GCM);
	ck_assert_int_eq(medfs_config_encode(&c, vault_key, buf), 0);
	ck_assert_uint_eq(le32(buf + 44), 2);
	ck_assert_int_eq(medfs_config_decode(&d, buf, sizeof(buf)), 0);
	ck_assert_uint_eq(d.cipher, MEDFS_CIPHER_AES256GCM);
	assert_config_eq(&c, &d);
	ck_assert_int_eq(medfs_config_verify(buf, vault_key), 0);
	/* Bent to 1 or 3: the MAC, or decoding, catches it. */
	put32(buf + 44, 1);
	ck_assert_int_eq(medfs_config_decode(&d, buf, sizeof(buf)), 0);
	ck_assert_int_eq(medfs_config_verify(buf, vault_key), -EBADMSG);
	put32(buf + 44, 3);
	ck_assert_int_eq(medfs_config_decode(&d, buf, sizeof(buf)), -EBADMSG);

	/* What decode refuses, encode does not write. */
	medfs_config_init(&c, 3);
	ck_assert_int_eq(medfs_config_encode(&c, vault_key, buf), -EINVAL);
	medfs_config_init(&c, 0);
	ck_assert_int_eq(medfs_config_encode(&c, vault_key, buf), -EINVAL);
	full_config(&c);
	c.cipher = 3;
	ck_assert_int_eq(medfs_config_encode(&c, vault_key, buf), -EINVAL);

	/* A format 1 config with cipher 2 reads, unlocks and upgrades with
	 * its cipher; with cipher 3 it does not decode. */
	v1_config(&c);
	c.cipher = MEDFS_CIPHER_AES256GCM;
	v1_encode(&c, vault_key, v1);
	ck_assert_int_eq(medfs_config_open(v1, sizeof(v1), MEDFS_SLOT_KEYFILE,
					   keyfile_secret, 32, &d, key),
			 1);
	ck_assert_uint_eq(d.cipher, MEDFS_CIPHER_AES256GCM);
	medfs_slot_clear(&d, 0);
	medfs_slot_clear(&d, 15);
	ck_assert_int_eq(medfs_config_upgrade(&d, 1, keyfile_secret, 32, vault_key), 0);
	ck_assert_int_eq(medfs_config_encode(&d, vault_key, buf), 0);
	ck_assert_uint_eq(le32(buf + 44), 2);
	c.cipher = 3;
	v1_encode(&c, vault_key, v1);
	ck_assert_int_eq(medfs_config_decode(&d, v1, sizeof(v1)), -EBADMSG);

	/* A rotation keeps it. */
	medfs_config_init(&c, MEDFS_CIPHER_AES256GCM);
	ck_assert_int_eq(medfs_config_rekey(&c, new_key, vault_key, MEDFS_ROTATION_REKEY),
			 0);
	ck_assert_uint_eq(c.cipher, MEDFS_CIPHER_AES256GCM);
	ck_assert_int_eq(medfs_config_encode(&c, new_key, buf), 0);
	ck_assert_uint_eq(le32(buf + 44), 2);
}
END_TEST

/* ---- key slots ---- */

START_TEST(test_slot_passphrase)
{
	struct medfs_config c;
	uint8_t key[MEDFS_KEY_LEN];

	medfs_config_init(&c, MEDFS_CIPHER_XCHACHA20POLY1305);
	ck_assert_int_eq(medfs_slot_set(&c, 0, MEDFS_SLOT_PASSPHRASE,
					(const uint8_t *)PASS, PASS_LEN, &fast_kdf,
					"admin", vault_key),
			 0);
	ck_assert_uint_eq(c.slots[0].kind, MEDFS_SLOT_PASSPHRASE);
	ck_assert_uint_eq(c.slots[0].opslimit, 1);
	ck_assert_uint_eq(c.slots[0].memlimit, 8ULL << 20);
	ck_assert_uint_eq(c.slots[0].alg, crypto_pwhash_ALG_ARGON2ID13);
	ck_assert_str_eq(c.slots[0].label, "admin");

	ck_assert_int_eq(medfs_slot_unwrap(&c, 0, (const uint8_t *)PASS, PASS_LEN, key),
			 0);
	ck_assert_mem_eq(key, vault_key, sizeof(key));

	/* Wrong passphrase, a prefix of it, an empty one: rejected, key wiped. */
	memset(key, 0xaa, sizeof(key));
	ck_assert_int_eq(
		medfs_slot_unwrap(&c, 0, (const uint8_t *)"correct horse", 13, key),
		-EKEYREJECTED);
	ck_assert(sodium_is_zero(key, sizeof(key)));
	ck_assert_int_eq(
		medfs_slot_unwrap(&c, 0, (const uint8_t *)PASS, PASS_LEN - 1, key),
		-EKEYREJECTED);
	ck_assert_int_eq(medfs_slot_unwrap(&c, 0, (const uint8_t *)"", 0, key),
			 -EKEYREJECTED);
	/* As a keyfile secret, a 32-byte passphrase is still just wrong. */
	ck_assert_int_eq(medfs_slot_unwrap(&c, 0, keyfile_secret, 32, key),
			 -EKEYREJECTED);
}
END_TEST

START_TEST(test_slot_defaults)
{
	struct medfs_config c;
	struct medfs_kdf_params min = { 1, 8192 };
	uint8_t key[MEDFS_KEY_LEN];

	/* NULL kdf means the defaults, recorded in the slot (not run here). */
	ck_assert_uint_eq(MEDFS_KDF_OPSLIMIT_DEFAULT, 6);
	ck_assert_uint_eq(MEDFS_KDF_MEMLIMIT_DEFAULT, 256ULL << 20);
	/* The smallest parameters Argon2id accepts work. */
	medfs_config_init(&c, MEDFS_CIPHER_XCHACHA20POLY1305);
	ck_assert_int_eq(medfs_slot_set(&c, 1, MEDFS_SLOT_PASSPHRASE,
					(const uint8_t *)"x", 1, &min, NULL, vault_key),
			 0);
	ck_assert_int_eq(medfs_slot_unwrap(&c, 1, (const uint8_t *)"x", 1, key), 0);
	ck_assert_mem_eq(key, vault_key, sizeof(key));
	ck_assert_str_eq(c.slots[1].label, "");
}
END_TEST

START_TEST(test_slot_keyfile_recovery)
{
	struct medfs_config c;
	uint8_t key[MEDFS_KEY_LEN], wrong[32];

	medfs_config_init(&c, MEDFS_CIPHER_XCHACHA20POLY1305);
	ck_assert_int_eq(medfs_slot_set(&c, 2, MEDFS_SLOT_KEYFILE, keyfile_secret, 32,
					&fast_kdf, "usb", vault_key),
			 0);
	ck_assert_int_eq(medfs_slot_set(&c, 4, MEDFS_SLOT_RECOVERY, recovery_secret, 32,
					NULL, NULL, vault_key),
			 0);
	/* KDF parameters mean nothing for these kinds. */
	ck_assert_uint_eq(c.slots[2].opslimit, 0);
	ck_assert_uint_eq(c.slots[2].memlimit, 0);
	ck_assert_uint_eq(c.slots[2].alg, 0);

	ck_assert_int_eq(medfs_slot_unwrap(&c, 2, keyfile_secret, 32, key), 0);
	ck_assert_mem_eq(key, vault_key, sizeof(key));
	ck_assert_int_eq(medfs_slot_unwrap(&c, 4, recovery_secret, 32, key), 0);
	ck_assert_mem_eq(key, vault_key, sizeof(key));

	memcpy(wrong, keyfile_secret, sizeof(wrong));
	wrong[0] ^= 1;
	ck_assert_int_eq(medfs_slot_unwrap(&c, 2, wrong, 32, key), -EKEYREJECTED);
	ck_assert(sodium_is_zero(key, sizeof(key)));
	ck_assert_int_eq(medfs_slot_unwrap(&c, 2, keyfile_secret, 31, key),
			 -EKEYREJECTED);
	ck_assert_int_eq(medfs_slot_unwrap(&c, 4, keyfile_secret, 32, key),
			 -EKEYREJECTED);
	ck_assert_int_eq(medfs_slot_unwrap(&c, 2, NULL, 0, key), -EKEYREJECTED);
}
END_TEST

START_TEST(test_slot_invalid)
{
	struct medfs_config c;
	struct medfs_kdf_params k;
	char label[MEDFS_SLOT_LABEL_MAX + 2];
	uint8_t key[MEDFS_KEY_LEN];

	medfs_config_init(&c, MEDFS_CIPHER_XCHACHA20POLY1305);
	ck_assert_int_eq(medfs_slot_set(&c, -1, MEDFS_SLOT_KEYFILE, keyfile_secret, 32,
					NULL, NULL, vault_key),
			 -EINVAL);
	ck_assert_int_eq(medfs_slot_set(&c, MEDFS_SLOTS, MEDFS_SLOT_KEYFILE,
					keyfile_secret, 32, NULL, NULL, vault_key),
			 -EINVAL);
	ck_assert_int_eq(medfs_slot_set(&c, 0, MEDFS_SLOT_EMPTY, keyfile_secret, 32, NULL,
					NULL, vault_key),
			 -EINVAL);
	ck_assert_int_eq(medfs_slot_set(&c, 0, (enum medfs_slot_kind)4, keyfile_secret,
					32, NULL, NULL, vault_key),
			 -EINVAL);
	ck_assert_int_eq(medfs_slot_set(&c, 0, MEDFS_SLOT_KEYFILE, keyfile_secret, 16,
					NULL, NULL, vault_key),
			 -EINVAL);
	ck_assert_int_eq(medfs_slot_set(&c, 0, MEDFS_SLOT_PASSPHRASE, (const uint8_t *)"",
					0, &fast_kdf, NULL, vault_key),
			 -EINVAL);
	k.opslimit = 0;
	k.memlimit = 8ULL << 20;
	ck_assert_int_eq(medfs_slot_set(&c, 0, MEDFS_SLOT_PASSPHRASE,
					(const uint8_t *)PASS, PASS_LEN, &k, NULL,
					vault_key),
			 -EINVAL);
	k.opslimit = 1;
	k.memlimit = 8191;
	ck_assert_int_eq(medfs_slot_set(&c, 0, MEDFS_SLOT_PASSPHRASE,
					(const uint8_t *)PASS, PASS_LEN, &k, NULL,
					vault_key),
			 -EINVAL);
	k.opslimit = 1ULL << 32;
	k.memlimit = 8ULL << 20;
	ck_assert_int_eq(medfs_slot_set(&c, 0, MEDFS_SLOT_PASSPHRASE,
					(const uint8_t *)PASS, PASS_LEN, &k, NULL,
					vault_key),
			 -EINVAL);
	memset(label, 'l', sizeof(label));
	label[MEDFS_SLOT_LABEL_MAX + 1] = '\0';
	ck_assert_int_eq(medfs_slot_set(&c, 0, MEDFS_SLOT_KEYFILE, keyfile_secret, 32,
					NULL, label, vault_key),
			 -EINVAL);
	/* A format 1 config gets no new slot: it is converted first. */
	c.version = 1;
	ck_assert_int_eq(medfs_slot_set(&c, 1, MEDFS_SLOT_KEYFILE, keyfile_secret, 32,
					NULL, NULL, vault_key),
			 -EINVAL);
	c.version = 2;
	/* Failed sets leave the slot empty. */
	ck_assert_uint_eq(c.slots[0].kind, MEDFS_SLOT_EMPTY);
	ck_assert_int_eq(medfs_slot_unwrap(&c, 0, keyfile_secret, 32, key), -EINVAL);
	ck_assert_int_eq(medfs_slot_unwrap(&c, -1, keyfile_secret, 32, key), -EINVAL);
	ck_assert_int_eq(medfs_slot_unwrap(&c, MEDFS_SLOTS, keyfile_secret, 32, key),
			 -EINVAL);

	label[MEDFS_SLOT_LABEL_MAX] = '\0'; /* 47 bytes: the longest label */
	ck_assert_int_eq(medfs_slot_set(&c, 0, MEDFS_SLOT_KEYFILE, keyfile_secret, 32,
					NULL, label, vault_key),
			 0);
	ck_assert_str_eq(c.slots[0].label, label);
}
END_TEST

/* A slot is bound to its index and to the vault it belongs to. */
START_TEST(test_slot_binding)
{
	struct medfs_config c, moved;
	uint8_t key[MEDFS_KEY_LEN];

	medfs_config_init(&c, MEDFS_CIPHER_XCHACHA20POLY1305);
	ck_assert_int_eq(medfs_slot_set(&c, 0, MEDFS_SLOT_KEYFILE, keyfile_secret, 32,
					NULL, "k", vault_key),
			 0);
	moved = c;
	moved.slots[1] = c.slots[0];
	ck_assert_int_eq(medfs_slot_unwrap(&moved, 1, keyfile_secret, 32, key),
			 -EKEYREJECTED);
	moved = c;
	moved.vault_id[0] ^= 1;
	ck_assert_int_eq(medfs_slot_unwrap(&moved, 0, keyfile_secret, 32, key),
			 -EKEYREJECTED);
	moved = c;
	moved.slots[0].created++;
	ck_assert_int_eq(medfs_slot_unwrap(&moved, 0, keyfile_secret, 32, key),
			 -EKEYREJECTED);
	moved = c;
	moved.slots[0].kind = MEDFS_SLOT_RECOVERY;
	ck_assert_int_eq(medfs_slot_unwrap(&moved, 0, keyfile_secret, 32, key),
			 -EKEYREJECTED);
	/* Nor does it with another public key, or another wrapping key. */
	moved = c;
	moved.slots[0].pk[5] ^= 1;
	ck_assert_int_eq(medfs_slot_unwrap(&moved, 0, keyfile_secret, 32, key),
			 -EKEYREJECTED);
	moved = c;
	moved.wrap_pk[5] ^= 1;
	ck_assert_int_eq(medfs_slot_unwrap(&moved, 0, keyfile_secret, 32, key),
			 -EKEYREJECTED);
	moved = c;
	moved.slots[0].salt[0] ^= 1;
	ck_assert_int_eq(medfs_slot_unwrap(&moved, 0, keyfile_secret, 32, key),
			 -EKEYREJECTED);
	/* The label is not bound to the slot (the config MAC covers it). */
	moved = c;
	strcpy(moved.slots[0].label, "renamed");
	ck_assert_int_eq(medfs_slot_unwrap(&moved, 0, keyfile_secret, 32, key), 0);
}
END_TEST

START_TEST(test_unlock_picks_slot)
{
	struct medfs_config c;
	uint8_t key[MEDFS_KEY_LEN], other_keyfile[32], other_recovery[32];

	fill(other_keyfile, sizeof(other_keyfile), 0x11);
	fill(other_recovery, sizeof(other_recovery), 0x22);
	medfs_config_init(&c, MEDFS_CIPHER_XCHACHA20POLY1305);
	ck_assert_int_eq(medfs_slot_set(&c, 0, MEDFS_SLOT_KEYFILE, other_keyfile, 32,
					NULL, NULL, vault_key),
			 0);
	ck_assert_int_eq(medfs_slot_set(&c, 2, MEDFS_SLOT_RECOVERY, other_recovery, 32,
					NULL, NULL, vault_key),
			 0);
	ck_assert_int_eq(medfs_slot_set(&c, 4, MEDFS_SLOT_PASSPHRASE,
					(const uint8_t *)"first", 5, &fast_kdf, NULL,
					vault_key),
			 0);
	ck_assert_int_eq(medfs_slot_set(&c, 6, MEDFS_SLOT_KEYFILE, keyfile_secret, 32,
					NULL, NULL, vault_key),
			 0);
	ck_assert_int_eq(medfs_slot_set(&c, 9, MEDFS_SLOT_PASSPHRASE,
					(const uint8_t *)PASS, PASS_LEN, &fast_kdf, NULL,
					vault_key),
			 0);
	ck_assert_int_eq(medfs_slot_set(&c, 12, MEDFS_SLOT_RECOVERY, recovery_secret, 32,
					NULL, NULL, vault_key),
			 0);

	ck_assert_int_eq(
		medfs_config_unlock(&c, MEDFS_SLOT_KEYFILE, keyfile_secret, 32, key), 6);
	ck_assert_mem_eq(key, vault_key, sizeof(key));
	ck_assert_int_eq(
		medfs_config_unlock(&c, MEDFS_SLOT_KEYFILE, other_keyfile, 32, key), 0);
	ck_assert_int_eq(
		medfs_config_unlock(&c, MEDFS_SLOT_RECOVERY, recovery_secret, 32, key),
		12);
	ck_assert_int_eq(medfs_config_unlock(&c, MEDFS_SLOT_PASSPHRASE,
					     (const uint8_t *)PASS, PASS_LEN, key),
			 9);
	ck_assert_mem_eq(key, vault_key, sizeof(key));
	ck_assert_int_eq(medfs_config_unlock(&c, MEDFS_SLOT_PASSPHRASE,
					     (const uint8_t *)"first", 5, key),
			 4);
	/* Only slots of the asked kind are tried. */
	ck_assert_int_eq(
		medfs_config_unlock(&c, MEDFS_SLOT_RECOVERY, keyfile_secret, 32, key),
		-EKEYREJECTED);
	ck_assert(sodium_is_zero(key, sizeof(key)));
	ck_assert_int_eq(medfs_config_unlock(&c, MEDFS_SLOT_PASSPHRASE,
					     (const uint8_t *)"wrong", 5, key),
			 -EKEYREJECTED);
	ck_assert(sodium_is_zero(key, sizeof(key)));
	medfs_config_init(&c, MEDFS_CIPHER_XCHACHA20POLY1305);
	ck_assert_int_eq(
		medfs_config_unlock(&c, MEDFS_SLOT_KEYFILE, keyfile_secret, 32, key),
		-EKEYREJECTED);
}
END_TEST

START_TEST(test_free_and_clear)
{
	struct medfs_config c;
	int i;

	medfs_config_init(&c, MEDFS_CIPHER_XCHACHA20POLY1305);
	for (i = 0; i < MEDFS_SLOTS; i++) {
		ck_assert_int_eq(medfs_config_free_slot(&c), i);
		ck_assert_int_eq(medfs_slot_set(&c, i, MEDFS_SLOT_KEYFILE, keyfile_secret,
						32, NULL, "k", vault_key),
				 0);
	}
	ck_assert_int_eq(medfs_config_free_slot(&c), -ENOSPC);
	ck_assert_int_eq(medfs_config_slot_count(&c), MEDFS_SLOTS);
	medfs_slot_clear(&c, 7);
	ck_assert_int_eq(medfs_config_slot_count(&c), MEDFS_SLOTS - 1);
	ck_assert(sodium_is_zero((const uint8_t *)&c.slots[7], sizeof(c.slots[7])));
	ck_assert_int_eq(medfs_config_free_slot(&c), 7);
	medfs_slot_clear(&c, -1); /* ignored */
	medfs_slot_clear(&c, MEDFS_SLOTS);
	ck_assert_int_eq(medfs_config_free_slot(&c), 7);
}
END_TEST

/* ---- rotation: rewrapping every slot without their secrets ---- */

START_TEST(test_rekey)
{
	struct medfs_config c, before;
	uint8_t key[MEDFS_KEY_LEN], old[MEDFS_KEY_LEN], buf[MEDFS_CONFIG_LEN];
	int i;

	full_config(&c);
	before = c;
	ck_assert_int_eq(medfs_config_rekey(&c, new_key, vault_key, MEDFS_ROTATION_REKEY),
			 0);
	ck_assert_int_eq(medfs_config_rotating(&c), 1);
	ck_assert_uint_eq(c.rotation, MEDFS_ROTATION_REKEY);
	ck_assert(memcmp(c.wrap_pk, before.wrap_pk, sizeof(c.wrap_pk)) != 0);
	/* Every slot now opens the new key with its own old secret. */
	ck_assert_int_eq(medfs_slot_unwrap(&c, 0, (const uint8_t *)PASS, PASS_LEN, key),
			 0);
	ck_assert_mem_eq(key, new_key, sizeof(key));
	ck_assert_int_eq(medfs_slot_unwrap(&c, 3, keyfile_secret, 32, key), 0);
	ck_assert_mem_eq(key, new_key, sizeof(key));
	ck_assert_int_eq(medfs_slot_unwrap(&c, 15, recovery_secret, 32, key), 0);
	ck_assert_mem_eq(key, new_key, sizeof(key));
	/* Kind, parameters, salt, public key, label and time are kept. */
	for (i = 0; i < MEDFS_SLOTS; i++) {
		ck_assert_uint_eq(c.slots[i].kind, before.slots[i].kind);
		ck_assert_uint_eq(c.slots[i].created, before.slots[i].created);
		ck_assert_uint_eq(c.slots[i].memlimit, before.slots[i].memlimit);
		ck_assert_mem_eq(c.slots[i].salt, before.slots[i].salt, 16);
		ck_assert_mem_eq(c.slots[i].pk, before.slots[i].pk, 32);
		ck_assert_str_eq(c.slots[i].label, before.slots[i].label);
	}
	/* The old key travels sealed under the new one. */
	ck_assert_int_eq(medfs_config_old_key(&c, new_key, old), 0);
	ck_assert_mem_eq(old, vault_key, sizeof(old));
	ck_assert_int_eq(medfs_config_old_key(&c, vault_key, old), -EBADMSG);
	ck_assert(sodium_is_zero(old, sizeof(old)));
	/* The old config still opens the old key only: that is a backup. */
	ck_assert_int_eq(medfs_slot_unwrap(&before, 3, keyfile_secret, 32, key), 0);
	ck_assert_mem_eq(key, vault_key, sizeof(key));

	/* A slot added during the rotation wraps the new key. */
	ck_assert_int_eq(medfs_slot_set(&c, 4, MEDFS_SLOT_KEYFILE, recovery_secret, 32,
					NULL, NULL, new_key),
			 0);
	ck_assert_int_eq(medfs_slot_unwrap(&c, 4, recovery_secret, 32, key), 0);
	ck_assert_mem_eq(key, new_key, sizeof(key));

	medfs_config_end_rotation(&c);
	ck_assert_int_eq(medfs_config_rotating(&c), 0);
	ck_assert(sodium_is_zero(c.old_key_nonce, sizeof(c.old_key_nonce)));
	ck_assert(sodium_is_zero(c.old_key_sealed, sizeof(c.old_key_sealed)));
	ck_assert_int_eq(medfs_config_old_key(&c, new_key, old), -ENOENT);
	ck_assert_int_eq(medfs_config_encode(&c, new_key, buf), 0);

	/* A rekey without a rotation record needs no old key. */
	ck_assert_int_eq(medfs_config_rekey(&c, vault_key, NULL, MEDFS_ROTATION_NONE), 0);
	ck_assert_int_eq(medfs_config_rotating(&c), 0);
	ck_assert_int_eq(
		medfs_config_unlock(&c, MEDFS_SLOT_KEYFILE, keyfile_secret, 32, key), 3);
	ck_assert_mem_eq(key, vault_key, sizeof(key));
}
END_TEST

START_TEST(test_rekey_errors)
{
	struct medfs_config c, before;
	uint8_t old[MEDFS_KEY_LEN];

	full_config(&c);
	ck_assert_int_eq(medfs_config_rekey(&c, new_key, NULL, MEDFS_ROTATION_REKEY),
			 -EINVAL);
	ck_assert_int_eq(medfs_config_rekey(&c, new_key, vault_key, 3), -EINVAL);
	/* A slot whose public key is not a point medfs made: nothing changes. */
	before = c;
	memset(c.slots[3].pk, 0, sizeof(c.slots[3].pk));
	ck_assert_int_eq(medfs_config_rekey(&c, new_key, vault_key, MEDFS_ROTATION_REKEY),
			 -EINVAL);
	ck_assert_mem_eq(c.wrap_pk, before.wrap_pk, sizeof(c.wrap_pk));
	/* Format 1 slots cannot be rewrapped. */
	full_config(&c);
	c.version = 1;
	ck_assert_int_eq(medfs_config_rekey(&c, new_key, vault_key, MEDFS_ROTATION_REKEY),
			 -EINVAL);
	ck_assert_int_eq(medfs_config_old_key(&c, vault_key, old), -ENOENT);
	ck_assert_int_eq(medfs_config_rotating(&c), 0);
	c.rotation = 1; /* unused in format 1 */
	ck_assert_int_eq(medfs_config_rotating(&c), 0);

	/* A flipped bit of the sealed old key, its nonce or the head. */
	full_config(&c);
	ck_assert_int_eq(medfs_config_rekey(&c, new_key, vault_key, MEDFS_ROTATION_REKEY),
			 0);
	before = c;
	c.old_key_sealed[40] ^= 1;
	ck_assert_int_eq(medfs_config_old_key(&c, new_key, old), -EBADMSG);
	c = before;
	c.old_key_nonce[0] ^= 1;
	ck_assert_int_eq(medfs_config_old_key(&c, new_key, old), -EBADMSG);
	c = before;
	c.vault_id[0] ^= 1;
	ck_assert_int_eq(medfs_config_old_key(&c, new_key, old), -EBADMSG);
}
END_TEST

/* ---- format 1 ---- */

START_TEST(test_v1_decode_unlock)
{
	struct medfs_config c, d;
	uint8_t buf[V1_LEN], key[MEDFS_KEY_LEN];

	v1_config(&c);
	v1_encode(&c, vault_key, buf);
	ck_assert_int_eq(medfs_config_decode(&d, buf, sizeof(buf)), 0);
	assert_config_eq(&c, &d);
	ck_assert_int_eq(medfs_config_verify(buf, vault_key), 0);
	ck_assert_int_eq(medfs_slot_unwrap(&d, 0, (const uint8_t *)PASS, PASS_LEN, key),
			 0);
	ck_assert_mem_eq(key, vault_key, sizeof(key));
	ck_assert_int_eq(
		medfs_config_unlock(&d, MEDFS_SLOT_KEYFILE, keyfile_secret, 32, key), 1);
	ck_assert_mem_eq(key, vault_key, sizeof(key));
	ck_assert_int_eq(
		medfs_config_unlock(&d, MEDFS_SLOT_RECOVERY, recovery_secret, 32, key),
		15);
	ck_assert_int_eq(
		medfs_config_unlock(&d, MEDFS_SLOT_RECOVERY, keyfile_secret, 32, key),
		-EKEYREJECTED);
	ck_assert_int_eq(medfs_config_open(buf, sizeof(buf), MEDFS_SLOT_KEYFILE,
					   keyfile_secret, 32, &d, key),
			 1);
	/* The wrong length for its version. */
	ck_assert_int_eq(medfs_config_decode(&d, buf, sizeof(buf) - 1), -EBADMSG);
	/* The rotation field means nothing in format 1. */
	c.rotation = 5;
	v1_encode(&c, vault_key, buf);
	ck_assert_int_eq(medfs_config_decode(&d, buf, sizeof(buf)), 0);
	ck_assert_int_eq(medfs_config_rotating(&d), 0);
}
END_TEST

/* Every byte of a format 1 record is still protected. */
START_TEST(test_v1_tamper)
{
	struct medfs_config c, d;
	uint8_t buf[V1_LEN], bent[V1_LEN], key[MEDFS_KEY_LEN];
	size_t i, by_decode = 0, by_unlock = 0, by_mac = 0;
	int ret;

	v1_config(&c);
	v1_encode(&c, vault_key, buf);
	for (i = 0; i < sizeof(buf); i++) {
		memcpy(bent, buf, sizeof(buf));
		bent[i] ^= 0x01;
		ret = medfs_config_decode(&d, bent, sizeof(bent));
		if (ret < 0) {
			by_decode++;
			continue;
		}
		ret = medfs_config_unlock(&d, MEDFS_SLOT_KEYFILE, keyfile_secret, 32,
					  key);
		if (ret < 0) {
			ck_assert_int_eq(ret, -EKEYREJECTED);
			by_unlock++;
			continue;
		}
		ck_assert_msg(medfs_config_verify(bent, key) == -EBADMSG,
			      "byte %zu accepted", i);
		by_mac++;
	}
	ck_assert_uint_gt(by_decode, 0);
	ck_assert_uint_gt(by_unlock, 0);
	ck_assert_uint_gt(by_mac, 0);
}
END_TEST

START_TEST(test_v1_upgrade)
{
	struct medfs_config c, d;
	uint8_t buf[MEDFS_CONFIG_LEN], key[MEDFS_KEY_LEN];

	v1_config(&c);
	/* Several slots: the others cannot be rewrapped without their secrets. */
	ck_assert_int_eq(medfs_config_upgrade(&c, 1, keyfile_secret, 32, vault_key),
			 -ENOTSUP);
	ck_assert_uint_eq(c.version, 1);
	medfs_slot_clear(&c, 0);
	medfs_slot_clear(&c, 15);
	ck_assert_int_eq(medfs_config_upgrade(&c, 0, keyfile_secret, 32, vault_key),
			 -EINVAL);
	ck_assert_int_eq(medfs_config_upgrade(&c, 1, keyfile_secret, 32, vault_key), 0);
	ck_assert_uint_eq(c.version, 2);
	ck_assert_uint_eq(c.slots[1].kind, MEDFS_SLOT_KEYFILE);
	ck_assert_uint_eq(c.slots[1].created, 1700000002);
	ck_assert_str_eq(c.slots[1].label, "usb key");
	ck_assert_int_eq(medfs_config_upgrade(&c, 1, keyfile_secret, 32, vault_key),
			 -EINVAL);
	ck_assert_int_eq(medfs_config_encode(&c, vault_key, buf), 0);
	ck_assert_int_eq(medfs_config_open(buf, sizeof(buf), MEDFS_SLOT_KEYFILE,
					   keyfile_secret, 32, &d, key),
			 1);
	ck_assert_mem_eq(key, vault_key, sizeof(key));

	/* A passphrase slot keeps its KDF parameters. */
	v1_config(&c);
	medfs_slot_clear(&c, 1);
	medfs_slot_clear(&c, 15);
	ck_assert_int_eq(
		medfs_config_upgrade(&c, 0, (const uint8_t *)PASS, PASS_LEN, vault_key),
		0);
	ck_assert_uint_eq(c.slots[0].opslimit, 1);
	ck_assert_uint_eq(c.slots[0].memlimit, 8ULL << 20);
	ck_assert_int_eq(medfs_slot_unwrap(&c, 0, (const uint8_t *)PASS, PASS_LEN, key),
			 0);
	ck_assert_mem_eq(key, vault_key, sizeof(key));
}
END_TEST

/* ---- tampering ---- */

/* Flips each byte of a serialised config in turn, with several masks:
 * decoding, unlocking or the MAC must fail every time. */
START_TEST(test_tamper_every_byte)
{
	static const uint8_t masks[] = { 0x01, 0x80, 0xff };
	struct medfs_config c, d;
	uint8_t buf[MEDFS_CONFIG_LEN], bent[MEDFS_CONFIG_LEN], key[MEDFS_KEY_LEN];
	size_t i, m, by_decode = 0, by_unlock = 0, by_mac = 0;
	int ret;

	medfs_config_init(&c, MEDFS_CIPHER_XCHACHA20POLY1305);
	c.has_auditor = 1;
	fill(c.auditor_pk, sizeof(c.auditor_pk), 0x55);
	/* The passphrase slot is never unlocked here (no Argon2 per byte):
	 * changes to it must be caught by decoding or by the MAC. */
	ck_assert_int_eq(medfs_slot_set(&c, 0, MEDFS_SLOT_PASSPHRASE,
					(const uint8_t *)PASS, PASS_LEN, &fast_kdf, "pp",
					vault_key),
			 0);
	ck_assert_int_eq(medfs_slot_set(&c, 1, MEDFS_SLOT_KEYFILE, keyfile_secret, 32,
					NULL, "kf", vault_key),
			 0);
	ck_assert_int_eq(medfs_slot_set(&c, 9, MEDFS_SLOT_KEYFILE, recovery_secret, 32,
					NULL, NULL, vault_key),
			 0);
	/* With a rotation recorded, so that the old key area counts too. */
	ck_assert_int_eq(medfs_config_rekey(&c, vault_key, new_key, MEDFS_ROTATION_REKEY),
			 0);
	ck_assert_int_eq(medfs_config_encode(&c, vault_key, buf), 0);
	ck_assert_int_eq(medfs_config_decode(&d, buf, sizeof(buf)), 0);
	ck_assert_int_eq(
		medfs_config_unlock(&d, MEDFS_SLOT_KEYFILE, keyfile_secret, 32, key), 1);
	ck_assert_int_eq(medfs_config_verify(buf, key), 0);

	for (m = 0; m < sizeof(masks); m++) {
		for (i = 0; i < sizeof(buf); i++) {
			memcpy(bent, buf, sizeof(buf));
			bent[i] ^= masks[m];
			ret = medfs_config_decode(&d, bent, sizeof(bent));
			if (ret < 0) {
				/* -ERANGE: a KDF parameter past medfs's bounds. */
				ck_assert_msg(ret == -EBADMSG ||
						      ret == -EPROTONOSUPPORT ||
						      ret == -ERANGE,
					      "byte %zu: decode %d", i, ret);
				by_decode++;
				continue;
			}
			ret = medfs_config_unlock(&d, MEDFS_SLOT_KEYFILE, keyfile_secret,
						  32, key);
			if (ret < 0) {
				ck_assert_int_eq(ret, -EKEYREJECTED);
				by_unlock++;
				continue;
			}
			/* AEAD: whatever opens yields the real key. */
			ck_assert_mem_eq(key, vault_key, sizeof(key));
			ck_assert_msg(medfs_config_verify(bent, key) == -EBADMSG,
				      "byte %zu mask %02x accepted", i, masks[m]);
			by_mac++;
		}
	}
	ck_assert_uint_eq(by_decode + by_unlock + by_mac, sizeof(masks) * sizeof(buf));
	/* Each stage caught something: the loop reached all three. */
	ck_assert_uint_gt(by_decode, 0);
	ck_assert_uint_gt(by_unlock, 0);
	ck_assert_uint_gt(by_mac, 0);
}
END_TEST

/* ---- files ---- */

static char dir[64];

static void dir_setup(void)
{
	setup();
	strcpy(dir, "/tmp/medfs-test-config-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	warnings = 0;
	medfs_log_set(count_log);
}

static void dir_teardown(void)
{
	static const char *const names[] = {
		"medfs.conf",
		"medfs.conf.bak",
		"medfs.conf.tmp",
		"medfs.conf.bak.tmp",
	};
	char path[128];
	size_t i;

	medfs_log_set(NULL);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void path_of(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", dir, name);
}

static void read_whole(const char *name, uint8_t *buf, size_t size, size_t *len)
{
	char path[128];
	ssize_t n;
	int fd;

	path_of(path, sizeof(path), name);
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, size);
	ck_assert_int_ge(n, 0);
	*len = (size_t)n;
	close(fd);
}

static void write_whole(const char *name, const uint8_t *buf, size_t len)
{
	char path[128];
	int fd;

	path_of(path, sizeof(path), name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static void flip_byte(const char *name, size_t off)
{
	uint8_t buf[MEDFS_CONFIG_LEN + 16];
	size_t len;

	read_whole(name, buf, sizeof(buf), &len);
	ck_assert_uint_gt(len, off);
	buf[off] ^= 0x40;
	write_whole(name, buf, len);
}

static void truncate_to(const char *name, off_t len)
{
	char path[128];

	path_of(path, sizeof(path), name);
	ck_assert_int_eq(truncate(path, len), 0);
}

static void remove_file(const char *name)
{
	char path[128];

	path_of(path, sizeof(path), name);
	ck_assert_int_eq(unlink(path), 0);
}

/* A vault config with a keyfile slot 2 and a passphrase slot 5, saved. */
static void save_vault(struct medfs_config *c)
{
	medfs_config_init(c, MEDFS_CIPHER_XCHACHA20POLY1305);
	ck_assert_int_eq(medfs_slot_set(c, 2, MEDFS_SLOT_KEYFILE, keyfile_secret, 32,
					NULL, "k", vault_key),
			 0);
	ck_assert_int_eq(medfs_slot_set(c, 5, MEDFS_SLOT_PASSPHRASE,
					(const uint8_t *)PASS, PASS_LEN, &fast_kdf, "p",
					vault_key),
			 0);
	ck_assert_int_eq(medfs_config_save(dir, c, vault_key), 0);
}

/* Loads with the keyfile and expects slot 2 from the copy named. */
static void expect_load(const struct medfs_config *saved, int backup)
{
	struct medfs_config c;
	uint8_t *key = medfs_secret_alloc(MEDFS_KEY_LEN);
	int used = -1;

	ck_assert_ptr_nonnull(key);
	ck_assert_int_eq(medfs_config_load(dir, MEDFS_SLOT_KEYFILE, keyfile_secret, 32,
					   &c, key, &used),
			 2);
	ck_assert_int_eq(used, backup);
	ck_assert_mem_eq(key, vault_key, MEDFS_KEY_LEN);
	assert_config_eq(&c, saved);
	medfs_secret_free(key);
}

static void expect_load_error(int err)
{
	struct medfs_config c;
	uint8_t *key = medfs_secret_alloc(MEDFS_KEY_LEN);
	int used = -1;

	ck_assert_ptr_nonnull(key);
	memset(key, 0xaa, MEDFS_KEY_LEN);
	ck_assert_int_eq(medfs_config_load(dir, MEDFS_SLOT_KEYFILE, keyfile_secret, 32,
					   &c, key, &used),
			 err);
	ck_assert(sodium_is_zero(key, MEDFS_KEY_LEN));
	medfs_secret_free(key);
}

START_TEST(test_save_load)
{
	struct medfs_config saved, c;
	uint8_t a[MEDFS_CONFIG_LEN + 16], b[MEDFS_CONFIG_LEN + 16], enc[MEDFS_CONFIG_LEN];
	size_t alen, blen;
	char path[128];
	struct stat st;
	uint8_t *key;
	int used = -1;

	save_vault(&saved);
	read_whole(MEDFS_CONFIG_NAME, a, sizeof(a), &alen);
	read_whole(MEDFS_CONFIG_BACKUP_NAME, b, sizeof(b), &blen);
	ck_assert_uint_eq(alen, MEDFS_CONFIG_LEN);
	ck_assert_uint_eq(blen, MEDFS_CONFIG_LEN);
	ck_assert_mem_eq(a, b, MEDFS_CONFIG_LEN);
	ck_assert_int_eq(medfs_config_encode(&saved, vault_key, enc), 0);
	ck_assert_mem_eq(a, enc, MEDFS_CONFIG_LEN);
	path_of(path, sizeof(path), MEDFS_CONFIG_NAME);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	path_of(path, sizeof(path), MEDFS_CONFIG_BACKUP_NAME);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	path_of(path, sizeof(path), MEDFS_CONFIG_NAME ".tmp");
	ck_assert_int_eq(access(path, F_OK), -1);

	expect_load(&saved, 0);
	ck_assert_int_eq(warnings, 0);

	/* Passphrase kind, and used_backup may be NULL. */
	key = medfs_secret_alloc(MEDFS_KEY_LEN);
	ck_assert_ptr_nonnull(key);
	ck_assert_int_eq(medfs_config_load(dir, MEDFS_SLOT_PASSPHRASE,
					   (const uint8_t *)PASS, PASS_LEN, &c, key,
					   NULL),
			 5);
	ck_assert_mem_eq(key, vault_key, MEDFS_KEY_LEN);
	ck_assert_int_eq(medfs_config_load(dir, MEDFS_SLOT_PASSPHRASE,
					   (const uint8_t *)"wrong", 5, &c, key, &used),
			 -EKEYREJECTED);
	ck_assert(sodium_is_zero(key, MEDFS_KEY_LEN));
	medfs_secret_free(key);
}
END_TEST

START_TEST(test_resave)
{
	struct medfs_config saved;
	char path[128];
	struct stat st;
	int fd;

	/* A stale temporary with a loose mode does not leak its mode. */
	path_of(path, sizeof(path), MEDFS_CONFIG_NAME ".tmp");
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fchmod(fd, 0644), 0);
	ck_assert_int_eq(write(fd, "stale", 5), 5);
	close(fd);
	save_vault(&saved);
	path_of(path, sizeof(path), MEDFS_CONFIG_NAME);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_uint_eq(st.st_size, MEDFS_CONFIG_LEN);

	/* Saving again replaces both copies, keeping their owner. */
	if (geteuid() == 0)
		ck_assert_int_eq(chown(path, 4321, 4322), 0);
	strcpy(saved.slots[2].label, "relabelled");
	ck_assert_int_eq(medfs_config_save(dir, &saved, vault_key), 0);
	if (geteuid() == 0) {
		ck_assert_int_eq(stat(path, &st), 0);
		ck_assert_uint_eq(st.st_uid, 4321);
		ck_assert_uint_eq(st.st_gid, 4322);
		ck_assert_uint_eq(st.st_mode & 07777, 0600);
	}
	expect_load(&saved, 0);
	remove_file(MEDFS_CONFIG_NAME);
	expect_load(&saved, 1);
}
END_TEST

/* One damaged primary, repaired by saving again before the next case. */
START_TEST(test_primary_damaged)
{
	static const size_t offsets[] = {
		0,	       /* magic */
		8,	       /* version */
		20,	       /* vault id: bound into every slot */
		40,	       /* block size */
		SLOT(2) + 0,   /* kind of the keyfile slot */
		SLOT(2) + 50,  /* its salt */
		SLOT(2) + 60,  /* its public key */
		SLOT(2) + 120, /* its wrapped key */
		SLOT(2) + 162, /* its label: only the MAC covers it */
		SLOT(5) + 24,  /* memlimit of the passphrase slot */
		100,	       /* the wrapping public key */
		MAC_OFF,       /* MAC */
		MEDFS_CONFIG_LEN - 1,
	};
	static const off_t lengths[] = { 0, 8, 100, MEDFS_CONFIG_LEN - 1 };
	struct medfs_config saved;
	uint8_t buf[MEDFS_CONFIG_LEN + 1];
	size_t i, len;
	int expected_warnings = 0;

	save_vault(&saved);
	for (i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		flip_byte(MEDFS_CONFIG_NAME, offsets[i]);
		expect_load(&saved, 1);
		ck_assert_int_eq(warnings, ++expected_warnings);
		ck_assert_int_eq(medfs_config_save(dir, &saved, vault_key), 0);
		expect_load(&saved, 0);
	}
	for (i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		truncate_to(MEDFS_CONFIG_NAME, lengths[i]);
		expect_load(&saved, 1);
		ck_assert_int_eq(medfs_config_save(dir, &saved, vault_key), 0);
	}
	/* One byte too many. */
	read_whole(MEDFS_CONFIG_NAME, buf, sizeof(buf), &len);
	buf[len++] = 0;
	write_whole(MEDFS_CONFIG_NAME, buf, len);
	expect_load(&saved, 1);
	ck_assert_int_eq(medfs_config_save(dir, &saved, vault_key), 0);
	/* Gone altogether. */
	remove_file(MEDFS_CONFIG_NAME);
	expect_load(&saved, 1);
	/* A damaged backup beside a good primary does not matter. */
	ck_assert_int_eq(medfs_config_save(dir, &saved, vault_key), 0);
	flip_byte(MEDFS_CONFIG_BACKUP_NAME, 0);
	expect_load(&saved, 0);
}
END_TEST

START_TEST(test_both_damaged)
{
	struct medfs_config saved;

	save_vault(&saved);
	flip_byte(MEDFS_CONFIG_NAME, 0);
	flip_byte(MEDFS_CONFIG_BACKUP_NAME, 0);
	expect_load_error(-EBADMSG);

	ck_assert_int_eq(medfs_config_save(dir, &saved, vault_key), 0);
	flip_byte(MEDFS_CONFIG_NAME, MAC_OFF);
	truncate_to(MEDFS_CONFIG_BACKUP_NAME, 100);
	expect_load_error(-EBADMSG);

	ck_assert_int_eq(medfs_config_save(dir, &saved, vault_key), 0);
	remove_file(MEDFS_CONFIG_NAME);
	flip_byte(MEDFS_CONFIG_BACKUP_NAME, 3000);
	expect_load_error(-EBADMSG);

	ck_assert_int_eq(medfs_config_save(dir, &saved, vault_key), 0);
	truncate_to(MEDFS_CONFIG_NAME, 0);
	remove_file(MEDFS_CONFIG_BACKUP_NAME);
	expect_load_error(-EBADMSG);

	/* The same damage to a wrapped key in both copies looks like a wrong
	 * secret: AEAD cannot tell the two apart. */
	ck_assert_int_eq(medfs_config_save(dir, &saved, vault_key), 0);
	flip_byte(MEDFS_CONFIG_NAME, SLOT(2) + 120);
	flip_byte(MEDFS_CONFIG_BACKUP_NAME, SLOT(2) + 120);
	expect_load_error(-EKEYREJECTED);
}
END_TEST

START_TEST(test_load_errors)
{
	struct medfs_config saved;
	uint8_t buf[MEDFS_CONFIG_LEN];
	char path[128];
	size_t len;

	/* An empty directory is not a vault. */
	expect_load_error(-ENOENT);

	save_vault(&saved);
	read_whole(MEDFS_CONFIG_NAME, buf, sizeof(buf), &len);
	put32(buf + 8, 3);
	write_whole(MEDFS_CONFIG_NAME, buf, len);
	write_whole(MEDFS_CONFIG_BACKUP_NAME, buf, len);
	expect_load_error(-EPROTONOSUPPORT);
	/* A newer primary beside a damaged backup still says "unsupported". */
	truncate_to(MEDFS_CONFIG_BACKUP_NAME, 10);
	expect_load_error(-EPROTONOSUPPORT);

	remove_file(MEDFS_CONFIG_NAME);
	remove_file(MEDFS_CONFIG_BACKUP_NAME);
	expect_load_error(-ENOENT);

	/* A file where the vault directory should be. */
	write_whole(MEDFS_CONFIG_NAME, buf, 1);
	path_of(path, sizeof(path), MEDFS_CONFIG_NAME);
	strcpy(dir, path);
	expect_load_error(-ENOTDIR);
	ck_assert_int_eq(medfs_config_save(dir, &saved, vault_key), -ENOTDIR);
	*strrchr(dir, '/') = '\0';
}
END_TEST

START_TEST(test_missing_dir)
{
	struct medfs_config c;
	char real[sizeof(dir)];

	medfs_config_init(&c, MEDFS_CIPHER_XCHACHA20POLY1305);
	strcpy(real, dir);
	strcat(dir, "/none");
	expect_load_error(-ENOENT);
	ck_assert_int_eq(medfs_config_save(dir, &c, vault_key), -ENOENT);
	strcpy(dir, real);
}
END_TEST

/* medfs_config_load_key: the config under a vault key already known. */
START_TEST(test_load_key)
{
	struct medfs_config saved, c;
	uint8_t other[MEDFS_KEY_LEN];
	char real[sizeof(dir)];

	ck_assert_int_eq(medfs_config_load_key(dir, vault_key, &c), -ENOENT);
	medfs_config_init(&saved, MEDFS_CIPHER_AES256GCM);
	ck_assert_int_eq(medfs_slot_set(&saved, 2, MEDFS_SLOT_KEYFILE, keyfile_secret, 32,
					NULL, "k", vault_key),
			 0);
	ck_assert_int_eq(medfs_config_save(dir, &saved, vault_key), 0);
	ck_assert_int_eq(medfs_config_load_key(dir, vault_key, &c), 0);
	assert_config_eq(&c, &saved);
	ck_assert_uint_eq(c.cipher, MEDFS_CIPHER_AES256GCM);
	/* Another key: neither copy authenticates. */
	memcpy(other, vault_key, sizeof(other));
	other[0] ^= 1;
	ck_assert_int_eq(medfs_config_load_key(dir, other, &c), -EBADMSG);
	ck_assert(sodium_is_zero((const uint8_t *)&c, sizeof(c)));
	/* The second copy stands in for a damaged or missing primary. */
	flip_byte(MEDFS_CONFIG_NAME, 44);
	ck_assert_int_eq(medfs_config_load_key(dir, vault_key, &c), 0);
	assert_config_eq(&c, &saved);
	remove_file(MEDFS_CONFIG_NAME);
	ck_assert_int_eq(medfs_config_load_key(dir, vault_key, &c), 0);
	flip_byte(MEDFS_CONFIG_BACKUP_NAME, MAC_OFF);
	ck_assert_int_eq(medfs_config_load_key(dir, vault_key, &c), -EBADMSG);
	remove_file(MEDFS_CONFIG_BACKUP_NAME);
	ck_assert_int_eq(medfs_config_load_key(dir, vault_key, &c), -ENOENT);
	strcpy(real, dir);
	strcat(dir, "/none");
	ck_assert_int_eq(medfs_config_load_key(dir, vault_key, &c), -ENOENT);
	strcpy(dir, real);
}
END_TEST

/* A format 1 vault loads from its files like before. */
START_TEST(test_v1_load)
{
	struct medfs_config c, d;
	uint8_t buf[V1_LEN];
	uint8_t *key = medfs_secret_alloc(MEDFS_KEY_LEN);
	int used = -1;

	ck_assert_ptr_nonnull(key);
	v1_config(&c);
	v1_encode(&c, vault_key, buf);
	write_whole(MEDFS_CONFIG_NAME, buf, sizeof(buf));
	write_whole(MEDFS_CONFIG_BACKUP_NAME, buf, sizeof(buf));
	ck_assert_int_eq(medfs_config_load(dir, MEDFS_SLOT_KEYFILE, keyfile_secret, 32,
					   &d, key, &used),
			 1);
	ck_assert_int_eq(used, 0);
	ck_assert_mem_eq(key, vault_key, MEDFS_KEY_LEN);
	assert_config_eq(&c, &d);
	flip_byte(MEDFS_CONFIG_NAME, V1_SLOT(1) + 90);
	ck_assert_int_eq(medfs_config_load(dir, MEDFS_SLOT_KEYFILE, keyfile_secret, 32,
					   &d, key, &used),
			 1);
	ck_assert_int_eq(used, 1);
	/* Written back, it becomes format 2. */
	ck_assert_int_eq(medfs_config_save(dir, &d, vault_key), -EINVAL);
	medfs_secret_free(key);
}
END_TEST

/* Raw reads and writes, as medfs-key backup and restore use them. */
START_TEST(test_write_read)
{
	struct medfs_config saved, c;
	uint8_t buf[MEDFS_CONFIG_LEN + 1], again[MEDFS_CONFIG_LEN + 1];
	size_t len, len2;

	save_vault(&saved);
	ck_assert_int_eq(medfs_config_read(dir, MEDFS_CONFIG_NAME, buf, &len), 0);
	ck_assert_uint_eq(len, MEDFS_CONFIG_LEN);
	ck_assert_int_eq(medfs_config_read(dir, "none", again, &len2), -ENOENT);
	ck_assert_uint_eq(len2, 0);
	/* What does not decode is not written. */
	memcpy(again, buf, len);
	again[0] ^= 1;
	ck_assert_int_eq(medfs_config_write(dir, again, len), -EBADMSG);
	ck_assert_int_eq(medfs_config_write(dir, buf, len - 1), -EBADMSG);
	put32(again + 8, 9);
	again[0] ^= 1;
	ck_assert_int_eq(medfs_config_write(dir, again, len), -EPROTONOSUPPORT);
	/* A copy written back replaces both files, byte for byte. */
	remove_file(MEDFS_CONFIG_NAME);
	flip_byte(MEDFS_CONFIG_BACKUP_NAME, 40);
	ck_assert_int_eq(medfs_config_write(dir, buf, len), 0);
	ck_assert_int_eq(medfs_config_read(dir, MEDFS_CONFIG_BACKUP_NAME, again, &len2),
			 0);
	ck_assert_uint_eq(len2, len);
	ck_assert_mem_eq(again, buf, len);
	/* A copy anywhere, by its path (medfs-key restore's backup file). */
	{
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%s", dir, MEDFS_CONFIG_BACKUP_NAME);
		memset(again, 0, sizeof(again));
		ck_assert_int_eq(medfs_config_read_file(path, again, &len2), 0);
		ck_assert_uint_eq(len2, len);
		ck_assert_mem_eq(again, buf, len);
		snprintf(path, sizeof(path), "%s/none", dir);
		ck_assert_int_eq(medfs_config_read_file(path, again, &len2), -ENOENT);
		ck_assert_uint_eq(len2, 0);
	}
	expect_load(&saved, 0);
	/* medfs_config_open: one copy, any secret. */
	{
		uint8_t key[MEDFS_KEY_LEN];

		ck_assert_int_eq(medfs_config_open(buf, len, MEDFS_SLOT_PASSPHRASE,
						   (const uint8_t *)PASS, PASS_LEN, &c,
						   key),
				 5);
		ck_assert_mem_eq(key, vault_key, sizeof(key));
		buf[MAC_OFF] ^= 1;
		memset(key, 0xaa, sizeof(key));
		ck_assert_int_eq(medfs_config_open(buf, len, MEDFS_SLOT_KEYFILE,
						   keyfile_secret, 32, &c, key),
				 -EBADMSG);
		ck_assert(sodium_is_zero(key, sizeof(key)));
		ck_assert_int_eq(medfs_config_open(buf, len, MEDFS_SLOT_KEYFILE,
						   recovery_secret, 32, &c, key),
				 -EKEYREJECTED);
	}
}
END_TEST

/* ---- known-answer vectors ---- */

/* BLAKE2b-256 of the format 1 record built by v1_config (the vector of
 * medfs 0.1: format 1 is read exactly as it was written). */
#define KAT_HASH_V1 "8dcd0592d16c4ede9bbc96e43078983160cff436750ac2651145980ea1585022"
/* BLAKE2b-256 of the format 2 record built in test_kat_v2. Changing it
 * means changing the on-disk format. */
#define KAT_HASH_V2 "e0c80bdb2426c6f164dc895013e0040bbe87d320da041cfa84271d60cb58b297"

START_TEST(test_kat_v1)
{
	struct medfs_config c;
	uint8_t buf[V1_LEN], hash[32];
	char hex[65];

	v1_config(&c);
	v1_encode(&c, vault_key, buf);
	crypto_generichash(hash, 32, buf, sizeof(buf), NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), hash, sizeof(hash));
	ck_assert_str_eq(hex, KAT_HASH_V1);
}
END_TEST

/* The format 2 slot wrap exactly as doc/FORMAT.md describes it, written
 * out here independently of config.c. */
static void kat_wrap_v2(struct medfs_config *c, int idx, const uint8_t kek[32],
			const uint8_t e[32])
{
	struct medfs_slot *s = &c->slots[idx];
	uint8_t ad[32 + 1 + 88] = { 0 }, shared[32], other[32], msg[4 + 64], w[32];
	uint8_t *slot = ad + 33;

	ck_assert_int_eq(crypto_scalarmult_base(s->pk, kek), 0);
	/* Both halves of the exchange agree. */
	ck_assert_int_eq(crypto_scalarmult(shared, e, s->pk), 0);
	ck_assert_int_eq(crypto_scalarmult(other, kek, c->wrap_pk), 0);
	ck_assert_mem_eq(shared, other, 32);
	memcpy(msg, "MDFW", 4);
	memcpy(msg + 4, c->wrap_pk, 32);
	memcpy(msg + 36, s->pk, 32);
	crypto_generichash(w, 32, msg, sizeof(msg), shared, 32);

	memcpy(ad, "MEDFSVLT", 8);
	put32(ad + 8, 2);
	put32(ad + 12, c->flags);
	memcpy(ad + 16, c->vault_id, 16);
	ad[32] = (uint8_t)idx;
	slot[0] = s->kind;
	put64(slot + 8, s->created);
	put64(slot + 16, s->opslimit);
	put64(slot + 24, s->memlimit);
	put32(slot + 32, s->alg);
	memcpy(slot + 40, s->salt, 16);
	memcpy(slot + 56, s->pk, 32);
	crypto_aead_xchacha20poly1305_ietf_encrypt(s->wrapped, NULL, vault_key, 32, ad,
						   sizeof(ad), NULL, s->nonce, w);
}

START_TEST(test_kat_v2)
{
	struct medfs_config c, d;
	struct medfs_slot *s;
	uint8_t buf[MEDFS_CONFIG_LEN], kek[32], e[32], subkey[32], mac[32], hash[32];
	uint8_t head[32], key[MEDFS_KEY_LEN], old_key[32];
	char hex[65];

	medfs_config_init(&c, MEDFS_CIPHER_XCHACHA20POLY1305);
	fill(c.vault_id, 16, 0xa0);
	c.created = 1700000000;
	fill(e, 32, 0x70);
	ck_assert_int_eq(crypto_scalarmult_base(c.wrap_pk, e), 0);

	s = &c.slots[0];
	s->kind = MEDFS_SLOT_PASSPHRASE;
	s->created = 1700000001;
	s->opslimit = 1;
	s->memlimit = 8ULL << 20;
	s->alg = crypto_pwhash_ALG_ARGON2ID13;
	fill(s->salt, 16, 0x40);
	fill(s->nonce, 24, 0x60);
	strcpy(s->label, "admin");
	ck_assert_int_eq(crypto_pwhash(kek, 32, PASS, PASS_LEN, s->salt, 1, 8 << 20,
				       crypto_pwhash_ALG_ARGON2ID13),
			 0);
	kat_wrap_v2(&c, 0, kek, e);

	s = &c.slots[1];
	s->kind = MEDFS_SLOT_KEYFILE;
	s->created = 1700000002;
	fill(s->salt, 16, 0x90);
	fill(s->nonce, 24, 0xb0);
	strcpy(s->label, "usb key");
	keyfile_kek(s, keyfile_secret, kek);
	kat_wrap_v2(&c, 1, kek, e);

	s = &c.slots[15];
	s->kind = MEDFS_SLOT_RECOVERY;
	s->created = 1700000003;
	fill(s->salt, 16, 0xd0);
	fill(s->nonce, 24, 0xe0);
	keyfile_kek(s, recovery_secret, kek);
	kat_wrap_v2(&c, 15, kek, e);

	/* A rotation in progress: the previous key sealed under subkey 9. */
	fill(old_key, 32, 0x55);
	c.rotation = MEDFS_ROTATION_REKEY;
	fill(c.old_key_nonce, 24, 0x33);
	ck_assert_int_eq(crypto_kdf_derive_from_key(subkey, 32, 9, "medfs-v1", vault_key),
			 0);
	memcpy(head, "MEDFSVLT", 8);
	put32(head + 8, 2);
	put32(head + 12, 0);
	memcpy(head + 16, c.vault_id, 16);
	crypto_aead_xchacha20poly1305_ietf_encrypt(c.old_key_sealed, NULL, old_key, 32,
						   head, 32, NULL, c.old_key_nonce,
						   subkey);

	ck_assert_int_eq(medfs_config_encode(&c, vault_key, buf), 0);

	/* The library opens the slots and the old key sealed by the spec... */
	ck_assert_int_eq(medfs_config_decode(&d, buf, sizeof(buf)), 0);
	assert_config_eq(&c, &d);
	ck_assert_int_eq(medfs_slot_unwrap(&d, 0, (const uint8_t *)PASS, PASS_LEN, key),
			 0);
	ck_assert_mem_eq(key, vault_key, sizeof(key));
	ck_assert_int_eq(medfs_slot_unwrap(&d, 1, keyfile_secret, 32, key), 0);
	ck_assert_int_eq(medfs_slot_unwrap(&d, 15, recovery_secret, 32, key), 0);
	ck_assert_mem_eq(key, vault_key, sizeof(key));
	ck_assert_int_eq(medfs_config_old_key(&d, vault_key, key), 0);
	ck_assert_mem_eq(key, old_key, sizeof(key));

	/* ...its MAC is the spec's... */
	ck_assert_int_eq(crypto_kdf_derive_from_key(subkey, 32, 7, "medfs-v1", vault_key),
			 0);
	crypto_generichash(mac, 32, buf, MAC_OFF, subkey, 32);
	ck_assert_mem_eq(buf + MAC_OFF, mac, 32);

	/* ...and the whole record is the committed one. */
	crypto_generichash(hash, 32, buf, sizeof(buf), NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), hash, sizeof(hash));
	ck_assert_str_eq(hex, KAT_HASH_V2);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("encoding");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_init_defaults);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_layout);
	tcase_add_test(tc, test_decode_length_magic);
	tcase_add_test(tc, test_decode_version);
	tcase_add_test(tc, test_decode_fields);
	tcase_add_test(tc, test_encode_rejects);
	tcase_add_test(tc, test_verify);
	tcase_add_test(tc, test_cipher);
	suite_add_tcase(s, tc);

	tc = tcase_create("slots");
	tcase_add_test(tc, test_decode_kdf_bounds);
	tcase_add_test(tc, test_kdf_weak);
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_slot_passphrase);
	tcase_add_test(tc, test_slot_defaults);
	tcase_add_test(tc, test_slot_keyfile_recovery);
	tcase_add_test(tc, test_slot_invalid);
	tcase_add_test(tc, test_slot_binding);
	tcase_add_test(tc, test_unlock_picks_slot);
	tcase_add_test(tc, test_free_and_clear);
	suite_add_tcase(s, tc);

	tc = tcase_create("rotation");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_rekey);
	tcase_add_test(tc, test_rekey_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("format1");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_v1_decode_unlock);
	tcase_add_test(tc, test_v1_tamper);
	tcase_add_test(tc, test_v1_upgrade);
	suite_add_tcase(s, tc);

	tc = tcase_create("tamper");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_tamper_every_byte);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_save_load);
	tcase_add_test(tc, test_resave);
	tcase_add_test(tc, test_primary_damaged);
	tcase_add_test(tc, test_both_damaged);
	tcase_add_test(tc, test_load_errors);
	tcase_add_test(tc, test_missing_dir);
	tcase_add_test(tc, test_load_key);
	tcase_add_test(tc, test_v1_load);
	tcase_add_test(tc, test_write_read);
	suite_add_tcase(s, tc);

	tc = tcase_create("kat");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_kat_v1);
	tcase_add_test(tc, test_kat_v2);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
