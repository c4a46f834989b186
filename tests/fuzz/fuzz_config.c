/* Fuzz target: the vault config decoder (medfs_config_decode).
 *
 * The input, in a buffer of exactly its size, is decoded; what decodes
 * must encode again (under a fixed key), and the encoding must decode to
 * the same config and carry a MAC that verifies. medfs_config_verify is
 * also run on every input long enough for it. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "medfs/config.h"
#include "medfs/crypto.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[MEDFS_KEY_LEN] = {
	0x6d, 0x65, 0x64, 0x66, 0x73, 0x2d, 0x66, 0x75, 0x7a, 0x7a, 0x2d,
	0x63, 0x6f, 0x6e, 0x66, 0x69, 0x67, 0x2d, 0x6b, 0x65, 0x79, 0x2d,
	0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39,
};

/* The library needs libsodium started (its secret memory aborts otherwise). */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (medfs_crypto_init() != 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct medfs_config c, again;
	uint8_t out[MEDFS_CONFIG_LEN], out2[MEDFS_CONFIG_LEN];
	int ret;

	if (size >= MEDFS_CONFIG_LEN)
		medfs_config_verify(data, key);
	ret = medfs_config_decode(&c, data, size);
	/* -ERANGE: a passphrase slot's KDF parameters past medfs's bounds. */
	if (ret != 0 && ret != -EBADMSG && ret != -EPROTONOSUPPORT && ret != -ERANGE)
		abort();
	if (ret != 0 || c.version != MEDFS_CONFIG_VERSION)
		return 0;
	/* A version 2 config that decodes is one that encode accepts. */
	if (medfs_config_encode(&c, key, out) != 0)
		abort();
	if (medfs_config_verify(out, key) != 0)
		abort();
	if (medfs_config_decode(&again, out, MEDFS_CONFIG_LEN) != 0)
		abort();
	if (medfs_config_encode(&again, key, out2) != 0 ||
	    memcmp(out, out2, MEDFS_CONFIG_LEN) != 0)
		abort();
	return 0;
}
