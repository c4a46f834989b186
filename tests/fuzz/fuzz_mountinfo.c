/* Fuzz target: mountinfo text (mountinfo.h) on arbitrary input.
 *
 * The input, made a C string, is searched for a few mount points with
 * output buffers of several sizes: the answer must be 0 or -ENOENT, and a
 * found type must be a string that fits its buffer. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "medfs/mountinfo.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const points[] = { "/", "/mnt", "/srv/with space", "" };
	static const size_t sizes[] = { 1, 5, 64 };
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++)
		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			char t[64];
			int r;

			memset(t, 'x', sizeof(t));
			r = medfs_mountinfo_find(text, points[i], t, sizes[k]);
			if (r != 0 && r != -ENOENT)
				abort();
			if (r == 0 && strnlen(t, sizes[k]) >= sizes[k])
				abort();
		}
	free(text);
	return 0;
}
