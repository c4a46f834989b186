/* Fuzz target: the DICOM Part 10 header reader (medfs_dicom_parse).
 *
 * Feeds the input as a file's first bytes, in a buffer of exactly its size
 * so that a sanitizer catches any read past the end, and checks what the
 * reader promises: one of its four answers, NUL-terminated fields within
 * their sizes, an id whenever it answers 0, that a shorter prefix of the
 * same bytes either asks for more or gives the same answer, and that the
 * resumable scan fed in windows (of a size taken from the input) gives
 * the answer the whole buffer gives. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "medfs/dicom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_fields(const struct medfs_dicom_ids *ids)
{
	if (memchr(ids->patient_id, '\0', sizeof(ids->patient_id)) == NULL ||
	    memchr(ids->study_uid, '\0', sizeof(ids->study_uid)) == NULL ||
	    memchr(ids->series_uid, '\0', sizeof(ids->series_uid)) == NULL ||
	    memchr(ids->sop_uid, '\0', sizeof(ids->sop_uid)) == NULL ||
	    memchr(ids->sop_class_uid, '\0', sizeof(ids->sop_class_uid)) == NULL ||
	    memchr(ids->modality, '\0', sizeof(ids->modality)) == NULL)
		abort();
}

static int parse_window(struct medfs_dicom_scan *sc, const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	int ret;

	if (copy == NULL)
		abort();
	memcpy(copy, data, size);
	ret = medfs_dicom_scan_feed(sc, copy, size);
	free(copy);
	return ret;
}

static int parse_copy(const uint8_t *data, size_t size, struct medfs_dicom_ids *ids)
{
	uint8_t *copy = malloc(size ? size : 1);
	int ret;

	if (copy == NULL)
		abort();
	memcpy(copy, data, size);
	ret = medfs_dicom_parse(copy, size, ids);
	free(copy);
	return ret;
}

/* The scan fed as a reader of a file would: from sc.pos, at least
 * sc.need bytes and at least win, each window in a buffer of its size. */
static int scan_windows(const uint8_t *data, size_t size, size_t win,
			struct medfs_dicom_ids *ids)
{
	struct medfs_dicom_scan sc;
	int ret = -EAGAIN;

	medfs_dicom_scan_init(&sc);
	while (ret == -EAGAIN && sc.pos < size) {
		size_t len = sc.need > win ? sc.need : win;
		uint64_t pos = sc.pos;

		if (len > size - sc.pos)
			len = size - sc.pos;
		ret = parse_window(&sc, data + sc.pos, len);
		if (ret == -EAGAIN && sc.pos == pos && pos + len >= size)
			break; /* the input ends inside the header */
		if (ret == -EAGAIN && sc.pos < pos)
			abort(); /* a scan never goes back */
	}
	check_fields(&sc.ids);
	*ids = sc.ids;
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct medfs_dicom_ids ids, part;
	int ret, pret;

	ret = parse_copy(data, size, &ids);
	if (ret != 0 && ret != -ENOENT && ret != -EBADMSG && ret != -EAGAIN)
		abort();
	check_fields(&ids);
	if (ret == 0 && !ids.patient_id[0] && !ids.study_uid[0] && !ids.series_uid[0] &&
	    !ids.sop_uid[0])
		abort();

	/* In windows: the same answer (a sequence longer than the check
	 * limit may be skipped unchecked, hence the size bound). */
	if (size > 0 && size < MEDFS_DICOM_CHECK_MAX) {
		size_t win = 1 + data[0] % 97;
		struct medfs_dicom_ids wids;
		int wret = scan_windows(data, size, win, &wids);

		if (wret != ret || memcmp(&wids, &ids, sizeof(ids)) != 0)
			abort();
	}

	/* Bytes after the answer never change it. */
	if (size > 0) {
		pret = parse_copy(data, size - 1, &part);
		check_fields(&part);
		if (pret != -EAGAIN &&
		    (pret != ret || memcmp(&part, &ids, sizeof(ids)) != 0))
			abort();
	}
	return 0;
}
