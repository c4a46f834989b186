/* medfs: the hole map of a sparse file (doc/FORMAT.md, 11).
 *
 * A file whose header is flagged MEDFS_HEADER_HOLES keeps, in the vault
 * xattr MEDFS_HOLES_XATTR, the runs of blocks that were never written
 * since the file grew over them (truncate up, fallocate, a write past the
 * end). Such a block has no bytes in the vault (the vault file is sparse
 * there) and reads as zeros; any other block must authenticate, so a
 * written block zeroed in the vault still fails. The map is sealed as a
 * block of the file at index MEDFS_HOLES_INDEX, which no content block
 * can have (the file size is bounded by MEDFS_FILE_SIZE_MAX): under the
 * file key, with the vault's cipher, bound to the file id.
 *
 * The run operations are pure (no I/O, no clock). */
#ifndef MEDFS_HOLES_H
#define MEDFS_HOLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "medfs/block.h"

/* The largest plaintext file: 16 TiB, 2^32 blocks (EFBIG beyond). */
#define MEDFS_FILE_SIZE_MAX (UINT64_C(1) << 44)
#define MEDFS_FILE_BLOCKS_MAX (MEDFS_FILE_SIZE_MAX / MEDFS_BLOCK_SIZE)

#define MEDFS_HOLES_XATTR "user.medfs-holes"
#define MEDFS_HOLES_INDEX UINT64_MAX /* block index the map is sealed at */
#define MEDFS_HOLES_VERSION 1
#define MEDFS_HOLES_MAX 127		      /* runs in a stored map */
#define MEDFS_HOLES_CAP (MEDFS_HOLES_MAX + 4) /* runs in memory, during a change */
#define MEDFS_HOLES_HEAD_LEN 8
#define MEDFS_HOLES_RUN_LEN 16
#define MEDFS_HOLES_PLAIN_MAX                                                            \
	(MEDFS_HOLES_HEAD_LEN + MEDFS_HOLES_RUN_LEN * MEDFS_HOLES_MAX)
#define MEDFS_HOLES_SEALED_MAX (MEDFS_HOLES_PLAIN_MAX + MEDFS_BLOCK_OVERHEAD)

_Static_assert(MEDFS_HOLES_PLAIN_MAX <= MEDFS_BLOCK_SIZE, "a map is sealed as one block");
_Static_assert(MEDFS_FILE_BLOCKS_MAX < MEDFS_HOLES_INDEX, "no block has the map's index");

/* Blocks [start, end) are holes. */
struct medfs_hole_run {
	uint64_t start, end;
};

/* Runs sorted, disjoint and not touching (merged), start < end. */
struct medfs_holes {
	uint32_t n;
	struct medfs_hole_run run[MEDFS_HOLES_CAP];
};

/* Whether block index is a hole. */
bool medfs_holes_has(const struct medfs_holes *h, uint64_t index);

/* Whether every block of [start, end) is a hole. */
bool medfs_holes_covers(const struct medfs_holes *h, uint64_t start, uint64_t end);

/* Makes [start, end) holes, merging runs. Returns 0, -EINVAL for an empty
 * or out-of-bounds range, or -ENOSPC when MEDFS_HOLES_CAP runs would not
 * hold the result (h unchanged). */
int medfs_holes_add(struct medfs_holes *h, uint64_t start, uint64_t end);

/* Makes [start, end) written blocks (may split a run). Returns 1 when
 * some hole went, 0 when none was there, or -ENOSPC as medfs_holes_add
 * (h unchanged). */
int medfs_holes_remove(struct medfs_holes *h, uint64_t start, uint64_t end);

/* Drops every hole at or past block nblocks. */
void medfs_holes_clip(struct medfs_holes *h, uint64_t nblocks);

/* Index of the shortest run (h->n > 0). */
uint32_t medfs_holes_shortest(const struct medfs_holes *h);

/* Encodes h (at most MEDFS_HOLES_MAX runs) into out (MEDFS_HOLES_PLAIN_MAX
 * bytes). Returns the length or -E2BIG. */
int medfs_holes_encode(const struct medfs_holes *h, uint8_t *out);

/* Decodes len bytes. Returns 0, -EPROTONOSUPPORT for another version, or
 * -EBADMSG for anything malformed (wrong length or count, runs unsorted,
 * overlapping, touching, empty or past MEDFS_FILE_BLOCKS_MAX). */
int medfs_holes_decode(struct medfs_holes *h, const uint8_t *in, size_t len);

/* Seals h for the file (id, key) with cipher into out
 * (MEDFS_HOLES_SEALED_MAX bytes). Returns the sealed length or -errno. */
int medfs_holes_seal(uint8_t *out, const struct medfs_holes *h, uint32_t cipher,
		     const uint8_t key[MEDFS_KEY_LEN],
		     const uint8_t file_id[MEDFS_FILE_ID_LEN]);

/* Opens a sealed map. Returns 0, -EBADMSG (does not authenticate or is
 * malformed), -EPROTONOSUPPORT, or -EINVAL/-ENOTSUP as medfs_block_open.
 * h is emptied on failure. */
int medfs_holes_open(struct medfs_holes *h, const uint8_t *sealed, size_t len,
		     uint32_t cipher, const uint8_t key[MEDFS_KEY_LEN],
		     const uint8_t file_id[MEDFS_FILE_ID_LEN]);

#endif
