/* Fuzz target: the key slot table of a vault config (src/lib/config.c),
 * beyond what fuzz_config checks of the decoder: every slot is opened with
 * the fixed secrets of fixed.h (the seeds in corpus/slots/ are configs
 * made by the real code with them), and what opens is put through the
 * operations an admin runs on the table. Checks:
 *   - the count of slots in use and the first free slot agree with the
 *     slots decoded;
 *   - medfs_slot_unwrap returns 0, -EKEYREJECTED or -ENOMEM, the key
 *     wiped on failure; medfs_config_unlock opens the first slot of a kind
 *     that the secret opens, and no other;
 *   - a version 2 config that opens and authenticates under the key it
 *     yields can be rekeyed (a rotation, knowing no other slot's secret):
 *     encoded, decoded and opened again, the same slot gives the new key
 *     and the rotation gives back the old one;
 *   - a version 1 config that opens, with one slot, upgrades to version 2
 *     and opens again to the same key.
 * Passphrase slots are only opened when their Argon2id cost is tiny (the
 * seeds use the minimum), so that a run stays fast. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fixed.h"
#include "medfs/config.h"
#include "medfs/crypto.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t keyfile[MEDFS_KEY_LEN], recovery[MEDFS_KEY_LEN];
static uint8_t vkey2[MEDFS_KEY_LEN];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (medfs_crypto_init() != 0)
		abort();
	fuzz_fixed_key(keyfile, FUZZ_KEYFILE);
	fuzz_fixed_key(recovery, FUZZ_RECOVERY);
	fuzz_fixed_key(vkey2, FUZZ_VAULT_KEY2);
	return 0;
}

static int all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

/* The fixed secret of a slot's kind; NULL for a passphrase slot too
 * costly to try. */
static const uint8_t *secret_of(const struct medfs_slot *s, size_t *len)
{
	switch (s->kind) {
	case MEDFS_SLOT_KEYFILE:
		*len = MEDFS_KEY_LEN;
		return keyfile;
	case MEDFS_SLOT_RECOVERY:
		*len = MEDFS_KEY_LEN;
		return recovery;
	case MEDFS_SLOT_PASSPHRASE:
		if (s->opslimit > 2 || s->memlimit > (64u << 10))
			return NULL;
		*len = strlen(FUZZ_PASSPHRASE);
		return (const uint8_t *)FUZZ_PASSPHRASE;
	default:
		abort(); /* decode let an unknown kind through */
	}
}

/* Encodes c under key, decodes it and opens slot idx with secret: the
 * key it yields must be key. */
static void reopen(const struct medfs_config *c, const uint8_t key[MEDFS_KEY_LEN], int idx,
		   const uint8_t *secret, size_t slen)
{
	static uint8_t out[MEDFS_CONFIG_LEN];
	struct medfs_config d;
	uint8_t k[MEDFS_KEY_LEN];

	if (medfs_config_encode(c, key, out) != 0 || medfs_config_verify(out, key) != 0 ||
	    medfs_config_decode(&d, out, MEDFS_CONFIG_LEN) != 0 ||
	    medfs_slot_unwrap(&d, idx, secret, slen, k) != 0 ||
	    sodium_memcmp(k, key, MEDFS_KEY_LEN) != 0)
		abort();
}

static void rotate(const struct medfs_config *c, const uint8_t key[MEDFS_KEY_LEN], int idx,
		   const uint8_t *secret, size_t slen)
{
	struct medfs_config next = *c;
	uint8_t old[MEDFS_KEY_LEN];

	if (medfs_config_rekey(&next, vkey2, key, MEDFS_ROTATION_REKEY) != 0)
		abort();
	reopen(&next, vkey2, idx, secret, slen);
	if (medfs_config_old_key(&next, vkey2, old) != 0 ||
	    sodium_memcmp(old, key, MEDFS_KEY_LEN) != 0)
		abort();
	medfs_config_end_rotation(&next);
	if (medfs_config_rotating(&next) ||
	    medfs_config_old_key(&next, vkey2, old) != -ENOENT)
		abort();
	reopen(&next, vkey2, idx, secret, slen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct medfs_config c;
	uint8_t key[MEDFS_KEY_LEN], opened_key[MEDFS_KEY_LEN];
	uint8_t *in;
	int opened[MEDFS_SLOTS];
	int i, n = 0, first_free = -ENOSPC, first = -1, ret;

	in = malloc(size ? size : 1);
	if (!in)
		abort();
	memcpy(in, data, size);
	ret = medfs_config_decode(&c, in, size);
	if (ret != 0)
		goto out;

	for (i = MEDFS_SLOTS - 1; i >= 0; i--) {
		if (c.slots[i].kind == MEDFS_SLOT_EMPTY)
			first_free = i;
		else
			n++;
	}
	if (medfs_config_slot_count(&c) != n || medfs_config_free_slot(&c) != first_free)
		abort();

	for (i = 0; i < MEDFS_SLOTS; i++) {
		const uint8_t *secret;
		size_t slen;

		opened[i] = 0;
		if (c.slots[i].kind == MEDFS_SLOT_EMPTY) {
			if (medfs_slot_unwrap(&c, i, keyfile, sizeof(keyfile), key) != -EINVAL)
				abort();
			continue;
		}
		secret = secret_of(&c.slots[i], &slen);
		if (!secret)
			continue;
		memset(key, 0xaa, sizeof(key));
		ret = medfs_slot_unwrap(&c, i, secret, slen, key);
		if (ret != 0 && ret != -EKEYREJECTED && ret != -ENOMEM)
			abort();
		if (ret != 0) {
			if (!all_zero(key, sizeof(key)))
				abort();
			continue;
		}
		opened[i] = 1;
		if (first < 0) {
			first = i;
			memcpy(opened_key, key, sizeof(key));
		}
		/* The secret of another kind never opens it. */
		if (c.slots[i].kind != MEDFS_SLOT_PASSPHRASE &&
		    medfs_slot_unwrap(&c, i,
				      c.slots[i].kind == MEDFS_SLOT_KEYFILE ? recovery : keyfile,
				      MEDFS_KEY_LEN, key) != -EKEYREJECTED)
			abort();
	}

	/* unlock: the first key file slot that the key file opens. */
	ret = medfs_config_unlock(&c, MEDFS_SLOT_KEYFILE, keyfile, sizeof(keyfile), key);
	for (i = 0; i < MEDFS_SLOTS; i++)
		if (c.slots[i].kind == MEDFS_SLOT_KEYFILE && opened[i])
			break;
	if (i < MEDFS_SLOTS ? ret != i : ret != -EKEYREJECTED)
		abort();

	if (first >= 0 && medfs_config_verify(in, opened_key) == 0) {
		const uint8_t *secret;
		size_t slen;

		secret = secret_of(&c.slots[first], &slen);
		if (c.version == 2) {
			rotate(&c, opened_key, first, secret, slen);
		} else if (n == 1) {
			struct medfs_config up = c;

			if (medfs_config_upgrade(&up, first, secret, slen, opened_key) != 0 ||
			    up.version != 2)
				abort();
			reopen(&up, opened_key, first, secret, slen);
		}
	}
out:
	free(in);
	return 0;
}
