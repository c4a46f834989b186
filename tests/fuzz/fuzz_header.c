/* Fuzz target: the parsers of src/lib/header.c, under fixed keys and a
 * fixed binding (fixed.h): the file header (versions 1 and 2, with its
 * flags), the directory header, and the two sealed xattr records of a
 * file, `user.medfs-prev` (its previous key) and `user.medfs-meta` (its
 * metadata).
 *
 * Byte 0 of the input chooses the parser (bits 0-1: file header, directory
 * header, previous key, metadata) and, for the two headers, bit 2 asks for
 * the input to be sealed first under the fixed key, so that what follows
 * the authentication (the version and flag rules) is reached whatever the
 * mutation; the rest of the input, in a buffer of exactly its size, is the
 * record. Checks:
 *   - each opener returns only its documented codes, and wipes its outputs
 *     on failure;
 *   - what opens seals back, with its own nonce, to the very same bytes
 *     (nothing in a record is ignored);
 *   - for sealed inputs, the outcome is the one the format (doc/FORMAT.md,
 *     4 and 5) gives for its magic, version and flags. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fixed.h"
#include "medfs/crypto.h"
#include "medfs/header.h"
#include "medfs/name.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t hkey[MEDFS_KEY_LEN], dkey[MEDFS_KEY_LEN], xkey[MEDFS_KEY_LEN];
static uint8_t file_id[MEDFS_FILE_ID_LEN];
static struct medfs_binding bind;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (medfs_crypto_init() != 0)
		abort();
	fuzz_fixed_key(hkey, FUZZ_HEADER_KEY);
	fuzz_fixed_key(dkey, FUZZ_DIR_KEY);
	fuzz_fixed_key(xkey, FUZZ_XATTR_KEY);
	fuzz_fixed_file_id(file_id);
	fuzz_fixed_binding(&bind);
	return 0;
}

static int all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

static unsigned get16(const uint8_t *p)
{
	return (unsigned)p[0] | (unsigned)p[1] << 8;
}

/* The header's AD as doc/FORMAT.md gives it: its first 24 bytes, the
 * parent id, the name. */
static size_t header_ad(uint8_t *ad, const uint8_t *in)
{
	memcpy(ad, in, 24);
	memcpy(ad + 24, bind.parent_id, MEDFS_DIR_ID_LEN);
	memcpy(ad + 24 + MEDFS_DIR_ID_LEN, bind.name, bind.name_len);
	return 24 + MEDFS_DIR_ID_LEN + bind.name_len;
}

static void file_header(uint8_t *in, int seal)
{
	uint8_t id[MEDFS_FILE_ID_LEN], key[MEDFS_KEY_LEN], again[MEDFS_HEADER_LEN];
	uint8_t ad[24 + MEDFS_DIR_ID_LEN + MEDFS_NAME_MAX];
	unsigned version = get16(in + 4), flags = get16(in + 6);
	uint64_t size;
	uint16_t fl;
	int ret, want = 0;

	if (seal) {
		/* Bytes 48..88 are the plaintext: file key and size. */
		uint8_t plain[40];

		memcpy(plain, in + 48, sizeof(plain));
		crypto_aead_xchacha20poly1305_ietf_encrypt(in + 48, NULL, plain,
							   sizeof(plain), ad,
							   header_ad(ad, in), NULL,
							   in + 24, hkey);
		if (memcmp(in, "MDFH", 4) != 0)
			want = -EBADMSG;
		else if (version != MEDFS_HEADER_VERSION &&
			 version != MEDFS_HEADER_VERSION_FLAGS)
			want = -EPROTONOSUPPORT;
		else if ((version == MEDFS_HEADER_VERSION) != (flags == 0))
			want = -EBADMSG;
		else if (flags & ~MEDFS_HEADER_FLAGS_KNOWN)
			want = -EPROTONOSUPPORT;
	}
	memset(key, 0xaa, sizeof(key));
	ret = medfs_header_open_flags(in, id, key, &size, &fl, hkey, &bind);
	if (ret != 0 && ret != -EBADMSG && ret != -EPROTONOSUPPORT)
		abort();
	if (seal && ret != want)
		abort();
	if (ret != 0) {
		if (!all_zero(id, sizeof(id)) || !all_zero(key, sizeof(key)) || size || fl)
			abort();
		return;
	}
	if (fl != flags || memcmp(id, in + 8, sizeof(id)) != 0)
		abort();
	if (medfs_header_seal_flags(again, id, key, size, fl, hkey, &bind, in + 24) != 0 ||
	    memcmp(again, in, MEDFS_HEADER_LEN) != 0)
		abort();
	/* The flag-blind opener agrees. */
	if (medfs_header_open(in, id, key, &size, hkey, &bind) != 0)
		abort();
}

static void dir_header(uint8_t *in, int seal)
{
	uint8_t id[MEDFS_DIR_ID_LEN], again[MEDFS_DIR_HEADER_LEN];
	uint8_t ad[24 + MEDFS_DIR_ID_LEN + MEDFS_NAME_MAX];
	int ret, want = 0;

	if (seal) {
		crypto_generichash(in + 24, 16, ad, header_ad(ad, in), dkey, sizeof(dkey));
		if (memcmp(in, "MDFD", 4) != 0)
			want = -EBADMSG;
		else if (get16(in + 4) != 1)
			want = -EPROTONOSUPPORT;
		else if (get16(in + 6) != 0)
			want = -EBADMSG; /* reserved, zero */
	}
	memset(id, 0xaa, sizeof(id));
	ret = medfs_dir_header_open(in, id, dkey, &bind);
	if (ret != 0 && ret != -EBADMSG && ret != -EPROTONOSUPPORT)
		abort();
	if (seal && ret != want)
		abort();
	if (ret != 0) {
		if (!all_zero(id, sizeof(id)))
			abort();
		return;
	}
	if (medfs_dir_header_seal(again, id, dkey, &bind) != 0 ||
	    memcmp(again, in, MEDFS_DIR_HEADER_LEN) != 0)
		abort();
}

static void prev_record(const uint8_t *in, size_t len)
{
	uint8_t key[MEDFS_KEY_LEN], again[MEDFS_PREV_LEN];
	int ret;

	memset(key, 0xaa, sizeof(key));
	ret = medfs_prev_open(key, in, len, file_id, xkey);
	if (ret != 0 && ret != -EBADMSG)
		abort();
	if (ret != 0) {
		if (!all_zero(key, sizeof(key)))
			abort();
		return;
	}
	if (len != MEDFS_PREV_LEN)
		abort();
	medfs_prev_seal(again, key, file_id, xkey, in);
	if (memcmp(again, in, len) != 0)
		abort();
}

static void meta_record(const uint8_t *in, size_t len)
{
	static uint8_t out[MEDFS_META_MAX], again[MEDFS_META_SEALED_MAX];
	ssize_t n, small;

	n = medfs_meta_open(out, sizeof(out), in, len, file_id, xkey);
	if (n < 0 && n != -EBADMSG)
		abort();
	if (n < 0)
		return;
	if ((size_t)n + MEDFS_XATTR_OVERHEAD != len)
		abort();
	if (medfs_meta_seal(again, out, (size_t)n, file_id, xkey, in) != 0 ||
	    memcmp(again, in, len) != 0)
		abort();
	/* Too small a buffer: -ERANGE and the buffer wiped, or the whole. */
	memset(out, 0xaa, 16);
	small = medfs_meta_open(out, 16, in, len, file_id, xkey);
	if (n > 16 ? small != -ERANGE || !all_zero(out, 16) : small != n)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *in;
	size_t len;
	int seal;

	if (size < 1)
		return 0;
	seal = data[0] & 4;
	len = size - 1;
	in = malloc(len ? len : 1);
	if (!in)
		abort();
	memcpy(in, data + 1, len);
	switch (data[0] & 3) {
	case 0:
		if (len == MEDFS_HEADER_LEN)
			file_header(in, seal);
		break;
	case 1:
		if (len == MEDFS_DIR_HEADER_LEN)
			dir_header(in, seal);
		break;
	case 2:
		prev_record(in, len);
		break;
	default:
		meta_record(in, len);
		break;
	}
	free(in);
	return 0;
}
