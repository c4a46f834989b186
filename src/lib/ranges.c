/* medfs: the byte ranges a handle read or wrote (see medfs/ranges.h).
 *
 * A sorted array. Reads are mostly sequential, so the last range is tried
 * first and grows in place; any other range is placed by a binary search,
 * then merged with the ranges it reaches. Ends are computed only once
 * off + len is known to fit in 64 bits, and a range's end,
 * offset + length, never exceeds UINT64_MAX. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "medfs/ranges.h"

static uint64_t end_of(const struct medfs_journal_range *r)
{
	return r->offset + r->length;
}

static int grow(struct medfs_ranges *g)
{
	size_t cap = g->cap ? 2 * g->cap : 8;
	struct medfs_journal_range *r;

	if (cap > SIZE_MAX / sizeof(*r))
		return -ENOMEM;
	r = realloc(g->r, cap * sizeof(*r));
	if (!r)
		return -ENOMEM;
	g->r = r;
	g->cap = cap;
	return 0;
}

int medfs_ranges_add(struct medfs_ranges *g, uint64_t off, uint64_t len)
{
	uint64_t end, s, e;
	size_t lo = 0, hi = g->n, k;

	if (len == 0)
		return 0;
	if (len > UINT64_MAX - off)
		return -EOVERFLOW;
	end = off + len;
	if (g->n) {
		/* Sequential access: the last range grows. */
		struct medfs_journal_range *last = &g->r[g->n - 1];

		if (last->offset <= off && off <= end_of(last)) {
			if (end > end_of(last))
				last->length = end - last->offset;
			goto added;
		}
	}
	/* The first range that ends at or after off: the first one the new
	 * range may touch. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (end_of(&g->r[mid]) < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == g->n || g->r[lo].offset > end) {
		/* It touches none: inserted before r[lo]. */
		if (g->n == g->cap && grow(g) < 0)
			return -ENOMEM;
		memmove(&g->r[lo + 1], &g->r[lo], (g->n - lo) * sizeof(*g->r));
		g->r[lo].offset = off;
		g->r[lo].length = len;
		g->n++;
		goto added;
	}
	/* r[lo] up to r[k - 1] become one range. */
	s = g->r[lo].offset < off ? g->r[lo].offset : off;
	e = end;
	for (k = lo; k < g->n && g->r[k].offset <= end; k++)
		if (end_of(&g->r[k]) > e)
			e = end_of(&g->r[k]);
	g->r[lo].offset = s;
	g->r[lo].length = e - s;
	memmove(&g->r[lo + 1], &g->r[k], (g->n - k) * sizeof(*g->r));
	g->n -= k - lo - 1;
added:
	g->bytes = len > UINT64_MAX - g->bytes ? UINT64_MAX : g->bytes + len;
	return g->n >= MEDFS_RANGES_MAX ? 1 : 0;
}

void medfs_ranges_clear(struct medfs_ranges *g)
{
	g->n = 0;
	g->bytes = 0;
}

void medfs_ranges_free(struct medfs_ranges *g)
{
	free(g->r);
	memset(g, 0, sizeof(*g));
}
