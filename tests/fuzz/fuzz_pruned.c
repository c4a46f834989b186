/* Fuzz target: the journal's PRUNED marker (jr_pruned_parse), which
 * `medfs-journal verify` and the reader trust to say where a pruned
 * journal now starts.
 *
 * The input is parsed twice, each time in a buffer of exactly its size:
 *   - as it is, under a fixed auditor signing key (the seeds in
 *     corpus/pruned/ are made by jr_pruned_encode under that key):
 *     0, -EBADMSG or -EKEYREJECTED, and nothing allocated on failure;
 *   - signed again under that key, so that the fields behind the
 *     signature are reached whatever the mutation: never -EKEYREJECTED
 *     now, and what parses encodes back to the very same bytes (Ed25519
 *     signatures are deterministic), its removed list inside the input. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fixed.h"
#include "journal_int.h"
#include "medfs/crypto.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t seed[32];

	(void)argc;
	(void)argv;
	if (medfs_crypto_init() != 0)
		abort();
	fuzz_fixed_key(seed, FUZZ_PRUNED_SIGN_SEED);
	crypto_sign_seed_keypair(pk, sk, seed);
	return 0;
}

static void parse(const uint8_t *in, size_t size, int resigned)
{
	struct jr_pruned p;
	uint8_t *out = NULL;
	size_t len;
	int ret;

	ret = jr_pruned_parse(in, size, &p, pk);
	if (ret != 0 && ret != -EBADMSG && ret != -EKEYREJECTED)
		abort();
	if (ret != 0) {
		if (p.removed || p.nremoved)
			abort(); /* a failed parse leaves nothing behind */
		if (resigned && ret == -EKEYREJECTED)
			abort();
		return;
	}
	if (p.nremoved > PRUNED_MAX_REMOVED ||
	    PRUNED_FIXED_LEN + 8 * p.nremoved + MEDFS_JOURNAL_SIG_LEN != size)
		abort();
	if (jr_pruned_encode(&p, sk, &out, &len) != 0 || len != size ||
	    memcmp(out, in, size) != 0)
		abort();
	free(out);
	free(p.removed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *in = malloc(size ? size : 1);

	if (!in)
		abort();
	memcpy(in, data, size);
	parse(in, size, 0);
	if (size >= MEDFS_JOURNAL_SIG_LEN) {
		crypto_sign_detached(in + size - MEDFS_JOURNAL_SIG_LEN, NULL, in,
				     size - MEDFS_JOURNAL_SIG_LEN, sk);
		parse(in, size, 1);
	}
	free(in);
	return 0;
}
