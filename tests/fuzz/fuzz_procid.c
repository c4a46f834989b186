/* Fuzz target: the /proc text parsers of procid.h and the judgement of a
 * maps text.
 *
 * Checks what they promise: a parsed maps line points inside the line and
 * says 'x' exactly when its permissions do; the maps judge returns -EINVAL,
 * 0 or 1, calls its stat function only for file-backed executable
 * mappings, says "trusted" when every file is, and "not trusted" exactly
 * when one executable mapping is file-backed and every file is not; the
 * digest of a text does not depend on the stat function. The same input
 * is also read as a status and a stat text. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "medfs/procid.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return sodium_init() < 0 ? -1 : 0;
}

struct fake {
	int trusted;
	unsigned calls;
};

static int fake_stat(void *ctx, const struct medfs_procid_map *m, struct stat *st)
{
	struct fake *f = ctx;

	if (!m->exec || m->ino == 0)
		abort(); /* only file-backed executable mappings are looked up */
	f->calls++;
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | (f->trusted ? 0755 : 0777);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *p = text, *end = text + size;
	uint8_t d1[MEDFS_PROCID_DIGEST_BYTES], d2[MEDFS_PROCID_DIGEST_BYTES];
	struct fake yes = { 1, 0 }, no = { 0, 0 };
	unsigned long long start;
	int lines_ok = 1, file_x = 0, r1, r2;
	char why[128];
	long tracer;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		struct medfs_procid_map m;

		if (medfs_procid_parse_map(p, (size_t)(eol - p), &m) == 0) {
			if (m.path_len > 0 && (m.path < p || m.path + m.path_len > eol))
				abort();
			if (m.exec !=
			    (memchr(p, ' ', (size_t)(eol - p)) != NULL &&
			     ((const char *)memchr(p, ' ', (size_t)(eol - p)))[3] == 'x'))
				abort();
			file_x |= m.exec && m.ino != 0;
		} else {
			lines_ok = 0;
		}
		p = eol + 1;
	}

	r1 = medfs_procid_maps_trusted(text, size, fake_stat, &yes, d1, why, sizeof(why));
	r2 = medfs_procid_maps_trusted(text, size, fake_stat, &no, d2, why, sizeof(why));
	if (!lines_ok) {
		if (r1 != -EINVAL || r2 != -EINVAL)
			abort();
	} else {
		if (r1 != 1)
			abort();
		if (r2 != (file_x ? 0 : 1))
			abort();
		if (file_x && no.calls != 1) /* judged untrusted at the first file */
			abort();
		if (memcmp(d1, d2, sizeof(d1)) != 0)
			abort();
		if (medfs_procid_maps_trusted(text, size, NULL, NULL, d2, NULL, 0) != 1 ||
		    memcmp(d1, d2, sizeof(d1)) != 0)
			abort();
	}

	if (medfs_procid_parse_tracer(text, size, &tracer) == 0 && tracer < 0)
		abort();
	(void)medfs_procid_parse_start(text, size, &start);
	return 0;
}
