/* medfs: the hole map of a sparse file. */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "medfs/holes.h"

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

bool medfs_holes_has(const struct medfs_holes *h, uint64_t index)
{
	uint32_t lo = 0, hi = h->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (h->run[mid].end <= index)
			lo = mid + 1;
		else if (h->run[mid].start > index)
			hi = mid;
		else
			return true;
	}
	return false;
}

bool medfs_holes_covers(const struct medfs_holes *h, uint64_t start, uint64_t end)
{
	for (uint32_t i = 0; i < h->n; i++)
		if (h->run[i].start <= start && end <= h->run[i].end)
			return true;
	return start >= end;
}

static bool range_ok(uint64_t start, uint64_t end)
{
	return start < end && end <= MEDFS_FILE_BLOCKS_MAX;
}

int medfs_holes_add(struct medfs_holes *h, uint64_t start, uint64_t end)
{
	struct medfs_holes out = { 0 };
	bool placed = false;

	if (!range_ok(start, end))
		return -EINVAL;
	for (uint32_t i = 0; i < h->n; i++) {
		struct medfs_hole_run r = h->run[i];

		if (r.end < start) {
			out.run[out.n++] = r;
		} else if (r.start > end) {
			if (!placed) {
				if (out.n == MEDFS_HOLES_CAP)
					return -ENOSPC;
				out.run[out.n++] = (struct medfs_hole_run){ start, end };
				placed = true;
			}
			if (out.n == MEDFS_HOLES_CAP)
				return -ENOSPC;
			out.run[out.n++] = r;
		} else {
			/* Overlaps or touches: merged into the new run. */
			start = r.start < start ? r.start : start;
			end = r.end > end ? r.end : end;
		}
	}
	if (!placed) {
		if (out.n == MEDFS_HOLES_CAP)
			return -ENOSPC;
		out.run[out.n++] = (struct medfs_hole_run){ start, end };
	}
	*h = out;
	return 0;
}

int medfs_holes_remove(struct medfs_holes *h, uint64_t start, uint64_t end)
{
	struct medfs_holes out = { 0 };
	bool changed = false;

	if (start >= end)
		return 0;
	for (uint32_t i = 0; i < h->n; i++) {
		struct medfs_hole_run r = h->run[i];

		if (r.end <= start || r.start >= end) {
			if (out.n == MEDFS_HOLES_CAP)
				return -ENOSPC;
			out.run[out.n++] = r;
			continue;
		}
		changed = true;
		if (r.start < start) {
			if (out.n == MEDFS_HOLES_CAP)
				return -ENOSPC;
			out.run[out.n++] = (struct medfs_hole_run){ r.start, start };
		}
		if (r.end > end) {
			if (out.n == MEDFS_HOLES_CAP)
				return -ENOSPC;
			out.run[out.n++] = (struct medfs_hole_run){ end, r.end };
		}
	}
	if (!changed)
		return 0;
	*h = out;
	return 1;
}

void medfs_holes_clip(struct medfs_holes *h, uint64_t nblocks)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < h->n; i++) {
		if (h->run[i].start >= nblocks)
			break;
		h->run[n] = h->run[i];
		if (h->run[n].end > nblocks)
			h->run[n].end = nblocks;
		n++;
	}
	h->n = n;
}

uint32_t medfs_holes_shortest(const struct medfs_holes *h)
{
	uint32_t best = 0;

	for (uint32_t i = 1; i < h->n; i++)
		if (h->run[i].end - h->run[i].start <
		    h->run[best].end - h->run[best].start)
			best = i;
	return best;
}

/* Plaintext: version u32 = 1, count u32, then count runs of start u64,
 * end u64 (exclusive), all little-endian. */
int medfs_holes_encode(const struct medfs_holes *h, uint8_t *out)
{
	if (h->n > MEDFS_HOLES_MAX)
		return -E2BIG;
	put_u32(out, MEDFS_HOLES_VERSION);
	put_u32(out + 4, h->n);
	for (uint32_t i = 0; i < h->n; i++) {
		uint8_t *p = out + MEDFS_HOLES_HEAD_LEN + (size_t)i * MEDFS_HOLES_RUN_LEN;

		put_u64(p, h->run[i].start);
		put_u64(p + 8, h->run[i].end);
	}
	return (int)(MEDFS_HOLES_HEAD_LEN + (size_t)h->n * MEDFS_HOLES_RUN_LEN);
}

int medfs_holes_decode(struct medfs_holes *h, const uint8_t *in, size_t len)
{
	uint32_t n;

	h->n = 0;
	if (len < MEDFS_HOLES_HEAD_LEN)
		return -EBADMSG;
	if (get_u32(in) != MEDFS_HOLES_VERSION)
		return -EPROTONOSUPPORT;
	n = get_u32(in + 4);
	if (n > MEDFS_HOLES_MAX ||
	    len != MEDFS_HOLES_HEAD_LEN + (size_t)n * MEDFS_HOLES_RUN_LEN)
		return -EBADMSG;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *p =
			in + MEDFS_HOLES_HEAD_LEN + (size_t)i * MEDFS_HOLES_RUN_LEN;
		uint64_t start = get_u64(p), end = get_u64(p + 8);

		/* Sorted and merged: a run starts past the end of the one
		 * before, with at least one written block between. */
		if (!range_ok(start, end) || (i > 0 && start <= h->run[i - 1].end)) {
			h->n = 0;
			return -EBADMSG;
		}
		h->run[i] = (struct medfs_hole_run){ start, end };
		h->n = i + 1;
	}
	return 0;
}

int medfs_holes_seal(uint8_t *out, const struct medfs_holes *h, uint32_t cipher,
		     const uint8_t key[MEDFS_KEY_LEN],
		     const uint8_t file_id[MEDFS_FILE_ID_LEN])
{
	uint8_t plain[MEDFS_HOLES_PLAIN_MAX];
	int len = medfs_holes_encode(h, plain);

	if (len < 0)
		return len;
	return medfs_block_seal(out, plain, (size_t)len, cipher, key, file_id,
				MEDFS_HOLES_INDEX);
}

int medfs_holes_open(struct medfs_holes *h, const uint8_t *sealed, size_t len,
		     uint32_t cipher, const uint8_t key[MEDFS_KEY_LEN],
		     const uint8_t file_id[MEDFS_FILE_ID_LEN])
{
	uint8_t plain[MEDFS_HOLES_PLAIN_MAX];
	int r;

	h->n = 0;
	if (len <= MEDFS_BLOCK_OVERHEAD || len > MEDFS_HOLES_SEALED_MAX)
		return -EBADMSG;
	r = medfs_block_open(plain, sealed, len, cipher, key, file_id, MEDFS_HOLES_INDEX);
	if (r < 0)
		return r;
	r = medfs_holes_decode(h, plain, (size_t)r);
	sodium_memzero(plain, sizeof(plain));
	return r;
}
