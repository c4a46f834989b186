/* Fixed keys and secrets shared by the fuzz targets that open
 * authenticated records (header, slots, pruned) and by corpus-gen.c,
 * which makes their seed inputs with the real sealing code: what the
 * generator seals under these, the targets open. Test values only. */
#ifndef MEDFS_FUZZ_FIXED_H
#define MEDFS_FUZZ_FIXED_H

#include <stdint.h>
#include <string.h>

#include "medfs/header.h"

/* Each key is its name repeated, cut to 32 bytes. */
static inline void fuzz_fixed_key(uint8_t out[32], const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < 32; i++)
		out[i] = (uint8_t)name[i % n];
}

#define FUZZ_HEADER_KEY "fuzz header key "
#define FUZZ_DIR_KEY "fuzz dir key "
#define FUZZ_XATTR_KEY "fuzz xattr key "
#define FUZZ_VAULT_KEY "fuzz vault key "
#define FUZZ_VAULT_KEY2 "fuzz second vault key "
#define FUZZ_KEYFILE "fuzz keyfile secret "
#define FUZZ_RECOVERY "fuzz recovery secret "
#define FUZZ_PASSPHRASE "fuzz passphrase"
#define FUZZ_PRUNED_SIGN_SEED "fuzz auditor sign seed "

/* The binding of every header and record: parent id 0x01..0x10, name
 * "fuzz.dcm"; the file id of the xattr records: 0xf0..0xff. */
static inline void fuzz_fixed_binding(struct medfs_binding *b)
{
	for (int i = 0; i < MEDFS_DIR_ID_LEN; i++)
		b->parent_id[i] = (uint8_t)(i + 1);
	b->name = "fuzz.dcm";
	b->name_len = strlen(b->name);
}

static inline void fuzz_fixed_file_id(uint8_t id[MEDFS_FILE_ID_LEN])
{
	for (int i = 0; i < MEDFS_FILE_ID_LEN; i++)
		id[i] = (uint8_t)(0xf0 + i);
}

#endif
