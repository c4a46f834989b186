/* medfs: the byte ranges a handle read or wrote, merged for the journal.
 *
 * A set of byte ranges [offset, offset + length) of one file, kept sorted,
 * disjoint and not adjacent: each range added is merged with every range
 * it overlaps or touches, so the set is the union of what was added, in
 * the fewest ranges. It is what a read or write record of the journal
 * carries (doc/JOURNAL.md, section 14: "a handle's byte ranges, merged"),
 * together with the bytes transferred, repeats included.
 *
 * Offsets are 64-bit: a range may end at UINT64_MAX (a length of
 * UINT64_MAX from 0); one that would end past it cannot be represented
 * and is refused. Ranges of length 0 are ignored. A record holds at most
 * MEDFS_RANGES_MAX ranges: medfs_ranges_add says when the set reached it,
 * and the caller then writes it out and clears it.
 *
 * Pure: no I/O, no clock, no lock (the caller serializes). Returns 0 or a
 * negative errno unless said otherwise. */
#ifndef MEDFS_RANGES_H
#define MEDFS_RANGES_H

#include <stddef.h>
#include <stdint.h>

#include "medfs/journal.h"

/* Ranges of one read or write record: 16 KiB of them. The record format
 * allows 65536 (MEDFS_JOURNAL_BODY_MAX / 16) minus its other fields. */
#define MEDFS_RANGES_MAX 1024
_Static_assert(MEDFS_RANGES_MAX * 16 <= MEDFS_JOURNAL_BODY_MAX / 2,
	       "a full set of ranges leaves room for the record's other fields");

/* Zero-initialised is empty. r[0..n) is the set, in ascending order. */
struct medfs_ranges {
	struct medfs_journal_range *r;
	size_t n, cap;
	uint64_t bytes; /* the lengths added since the last clear, repeats
			 * included; stays at UINT64_MAX once there */
};

/* Adds [off, off + len) to g, merging it with the ranges it overlaps or
 * touches, and counts len in g->bytes. Returns
 *   0           added (or len is 0: nothing changed);
 *   1           added, and g now holds MEDFS_RANGES_MAX ranges (or more,
 *               for a caller that went on adding): write them out and
 *               clear g;
 *   -EOVERFLOW  off + len is past UINT64_MAX; g unchanged;
 *   -ENOMEM     g unchanged. */
int medfs_ranges_add(struct medfs_ranges *g, uint64_t off, uint64_t len);

/* Empties g (n and bytes to 0), keeping its memory for the next ranges. */
void medfs_ranges_clear(struct medfs_ranges *g);

/* Frees g's memory; g is then empty and may be used again. */
void medfs_ranges_free(struct medfs_ranges *g);

#endif
