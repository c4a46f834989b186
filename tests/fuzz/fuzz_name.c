/* Fuzz target: encrypted names and symlink targets (name.h), with fixed
 * keys and directory id, on arbitrary input.
 *
 * The input is tried as a vault name and as a sealed symlink target, each
 * in a buffer of exactly its size: what decrypts must be a valid name (or
 * target) and, for names, encrypt back to the very same vault name (the
 * construction is deterministic). The input is also tried as a plaintext
 * name: a valid one must survive encrypt/decrypt. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "medfs/crypto.h"
#include "medfs/name.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t name_key[MEDFS_NAME_KEY_LEN] = "medfs fuzz name key: MAC half.."
						    "medfs fuzz name key: stream hal";
static const uint8_t link_key[MEDFS_KEY_LEN] = "medfs fuzz symlink target key..";
static const uint8_t dir_id[MEDFS_DIR_ID_LEN] = "fuzz directory.";

static void try_vault_name(const char *enc, size_t len)
{
	char plain[MEDFS_NAME_MAX + 1], again[MEDFS_NAME_ENC_MAX];
	int n, m;

	n = medfs_name_decrypt(plain, sizeof(plain), enc, len, dir_id, name_key);
	if (n == -EBADMSG)
		return;
	if (n < 1 || n > MEDFS_NAME_MAX || strlen(plain) != (size_t)n ||
	    memchr(plain, '/', (size_t)n) != NULL || strcmp(plain, ".") == 0 ||
	    strcmp(plain, "..") == 0)
		abort();
	m = medfs_name_encrypt(again, sizeof(again), plain, (size_t)n, dir_id, name_key);
	if (m < 0 || (size_t)m != len || memcmp(again, enc, len) != 0)
		abort();
	/* Too small an output buffer is refused, never overrun. */
	if (medfs_name_decrypt(plain, (size_t)n, enc, len, dir_id, name_key) != -EINVAL)
		abort();
}

static void try_link(const char *enc, size_t len)
{
	static const struct medfs_binding b = { "fuzz parent id.", "link", 4 };
	char plain[MEDFS_LINK_MAX + 1];
	int n;

	n = medfs_link_decrypt(plain, sizeof(plain), enc, len, link_key, &b);
	if (n == -EBADMSG)
		return;
	if (n < 1 || n > MEDFS_LINK_MAX || n != medfs_link_plain_len(len))
		abort();
}

static void try_plain_name(const char *name, size_t len)
{
	char enc[MEDFS_NAME_ENC_MAX], back[MEDFS_NAME_MAX + 1], entry[MEDFS_NAME_ENC_MAX];
	int n, m;

	n = medfs_name_encrypt(enc, sizeof(enc), name, len, dir_id, name_key);
	if (n == -EINVAL || n == -ENAMETOOLONG)
		return;
	if (n < 0 || strlen(enc) != (size_t)n)
		abort();
	m = medfs_name_decrypt(back, sizeof(back), enc, (size_t)n, dir_id, name_key);
	if (m < 0 || (size_t)m != len || memcmp(back, name, len) != 0)
		abort();
	m = medfs_name_entry(entry, sizeof(entry), enc, (size_t)n, name_key);
	if (m < 0 || strlen(entry) != (size_t)m ||
	    medfs_name_is_long(entry) != (n > MEDFS_NAME_SHORT_MAX) ||
	    medfs_name_is_internal(entry))
		abort();
}

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
	const char *in = (const char *)data;
	char *str;

	try_vault_name(in, size);
	try_link(in, size);
	try_plain_name(in, size);
	str = malloc(size + 1);
	if (str == NULL)
		abort();
	memcpy(str, data, size);
	str[size] = '\0';
	medfs_name_is_long(str);
	medfs_name_is_internal(str);
	free(str);
	return 0;
}
