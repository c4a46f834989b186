/* Fuzz target: the hole map of a sparse file (holes.h) on arbitrary input.
 *
 * The input is decoded as a map's plaintext; whatever it holds, the answer
 * is 0, -EBADMSG or -EPROTONOSUPPORT. A map that decodes must be sorted,
 * merged and in bounds, encode back to the input byte for byte, and answer
 * medfs_holes_has as its runs say. The input is also opened as a sealed
 * map under a fixed key: it must fail (nothing random is authentic). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "medfs/crypto.h"
#include "medfs/holes.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The block cipher needs libsodium started. */
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
	static const uint8_t key[MEDFS_KEY_LEN] = { 1 }, id[MEDFS_FILE_ID_LEN] = { 2 };
	static struct medfs_holes h;
	static uint8_t out[MEDFS_HOLES_PLAIN_MAX];
	int r = medfs_holes_decode(&h, data, size);

	if (r != 0 && r != -EBADMSG && r != -EPROTONOSUPPORT)
		abort();
	if (r == 0) {
		if (h.n > MEDFS_HOLES_MAX)
			abort();
		for (uint32_t i = 0; i < h.n; i++) {
			if (h.run[i].start >= h.run[i].end ||
			    h.run[i].end > MEDFS_FILE_BLOCKS_MAX ||
			    (i > 0 && h.run[i].start <= h.run[i - 1].end))
				abort();
			if (!medfs_holes_has(&h, h.run[i].start) ||
			    !medfs_holes_has(&h, h.run[i].end - 1) ||
			    medfs_holes_has(&h, h.run[i].end))
				abort();
		}
		if (medfs_holes_encode(&h, out) != (int)size ||
		    memcmp(out, data, size) != 0)
			abort();
	} else if (h.n != 0) {
		abort();
	}
	if (medfs_holes_open(&h, data, size, MEDFS_CIPHER_XCHACHA20POLY1305, key, id) ==
	    0)
		abort();
	return 0;
}
