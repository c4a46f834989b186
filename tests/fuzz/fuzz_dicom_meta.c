/* Fuzz target: the DICOM metadata record (medfs/dicom_meta.h), the
 * plaintext of a file's user.medfs-meta xattr.
 *
 * The input is one record, or two separated by its first 0xff byte (the
 * split is only how the target reads its input: a record may hold 0xff
 * too, the decoder takes any bytes). Each record is decoded from a buffer
 * of exactly its size, and the target checks what the codec promises:
 *   - the answer is 1 iff an identifier is set; every field is a
 *     NUL-terminated string of its size without control characters; the
 *     former patients are nformer (at most 16) distinct non-empty IDs of
 *     at most 64 bytes, each followed by "\n", each found by _was;
 *   - a last line without "\n" changes nothing;
 *   - what decodes encodes in at most MEDFS_DICOM_META_WORST bytes, and
 *     that decodes to the same (the round trip is exact), and encodes to
 *     the same bytes again;
 *   - _update of the first record with the second's identifiers leaves
 *     the second's identifiers, keeps every former patient and adds the
 *     first's patient when it changed, and answers as documented. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "medfs/dicom_meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int field_ok(const char *f, size_t size)
{
	size_t n = strnlen(f, size);

	if (n == size)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)f[i] < 0x20 || f[i] == 0x7f)
			return 0;
	return 1;
}

static int has_id(const struct medfs_dicom_ids *ids)
{
	return ids->patient_id[0] || ids->study_uid[0] || ids->series_uid[0] ||
	       ids->sop_uid[0] || ids->sop_class_uid[0] || ids->modality[0];
}

static void check_meta(const struct medfs_dicom_meta *m)
{
	const struct medfs_dicom_ids *ids = &m->ids;
	const char *p = m->former, *end;
	unsigned count = 0;

	if (!field_ok(ids->patient_id, sizeof(ids->patient_id)) ||
	    !field_ok(ids->study_uid, sizeof(ids->study_uid)) ||
	    !field_ok(ids->series_uid, sizeof(ids->series_uid)) ||
	    !field_ok(ids->sop_uid, sizeof(ids->sop_uid)) ||
	    !field_ok(ids->sop_class_uid, sizeof(ids->sop_class_uid)) ||
	    !field_ok(ids->modality, sizeof(ids->modality)))
		abort();
	if (memchr(m->former, '\0', sizeof(m->former)) == NULL)
		abort();
	end = p + strlen(p);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		char one[MEDFS_DICOM_UID_MAX + 1];
		size_t n;

		if (!nl)
			abort(); /* every entry followed by "\n" */
		n = (size_t)(nl - p);
		if (n == 0 || n > MEDFS_DICOM_UID_MAX)
			abort();
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
				abort();
		memcpy(one, p, n);
		one[n] = '\0';
		if (!medfs_dicom_meta_was(m, one))
			abort();
		/* Distinct: not among the entries before this one. */
		for (const char *q = m->former; q < p;) {
			const char *qn = strchr(q, '\n');

			if ((size_t)(qn - q) == n && memcmp(q, p, n) == 0)
				abort();
			q = qn + 1;
		}
		count++;
		p = nl + 1;
	}
	if (count != m->nformer || count > MEDFS_DICOM_FORMER_MAX)
		abort();
}

/* Decodes data[0..size) from a buffer of exactly its size. */
static int decode_copy(const uint8_t *data, size_t size, struct medfs_dicom_meta *m)
{
	char *copy = malloc(size ? size : 1);
	int ret;

	if (!copy)
		abort();
	memcpy(copy, data, size);
	ret = medfs_dicom_meta_decode(copy, size, m);
	free(copy);
	if (ret != 0 && ret != 1)
		abort();
	if (ret != has_id(&m->ids))
		abort();
	check_meta(m);
	return ret;
}

static void round_trip(const struct medfs_dicom_meta *m)
{
	static char text[MEDFS_DICOM_META_MAX], again[MEDFS_DICOM_META_MAX];
	struct medfs_dicom_meta back;
	int n, n2;

	n = medfs_dicom_meta_encode(m, text, sizeof(text));
	if (n < 0 || n > MEDFS_DICOM_META_WORST)
		abort();
	if (n > 0 && text[n - 1] != '\n')
		abort();
	if (medfs_dicom_meta_decode(text, (size_t)n, &back) != has_id(&m->ids))
		abort();
	if (memcmp(&back, m, sizeof(back)) != 0)
		abort();
	n2 = medfs_dicom_meta_encode(&back, again, sizeof(again));
	if (n2 != n || memcmp(text, again, (size_t)n) != 0)
		abort();
	/* One byte short: refused. */
	if (n > 0 && medfs_dicom_meta_encode(m, again, (size_t)n - 1) != -ENOBUFS)
		abort();
}

static void check_record(const uint8_t *data, size_t size, struct medfs_dicom_meta *m)
{
	struct medfs_dicom_meta whole;
	size_t lines = size;

	decode_copy(data, size, m);
	/* What follows the last "\n" is skipped. */
	while (lines > 0 && data[lines - 1] != '\n')
		lines--;
	decode_copy(data, lines, &whole);
	if (memcmp(&whole, m, sizeof(whole)) != 0)
		abort();
	round_trip(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *sep = memchr(data, 0xff, size);
	struct medfs_dicom_meta a, b, before;
	struct medfs_dicom_ids prior;
	int r;

	if (!sep) {
		check_record(data, size, &a);
		return 0;
	}
	check_record(data, (size_t)(sep - data), &a);
	check_record(sep + 1, size - (size_t)(sep - data) - 1, &b);

	before = a;
	r = medfs_dicom_meta_update(&a, &b.ids, &prior);
	if (memcmp(&prior, &before.ids, sizeof(prior)) != 0 ||
	    memcmp(&a.ids, &b.ids, sizeof(a.ids)) != 0)
		abort();
	if (memcmp(&before.ids, &b.ids, sizeof(b.ids)) == 0) {
		if (r != MEDFS_DICOM_SAME || memcmp(&a, &before, sizeof(a)) != 0)
			abort();
	} else {
		int other = (before.ids.patient_id[0] &&
			     strcmp(before.ids.patient_id, b.ids.patient_id)) ||
			    (before.ids.study_uid[0] &&
			     strcmp(before.ids.study_uid, b.ids.study_uid));

		if (r != (other ? MEDFS_DICOM_REATTRIBUTED : MEDFS_DICOM_CHANGED))
			abort();
	}
	/* The former patients only grow, by the patient that left at most. */
	if (strncmp(a.former, before.former, strlen(before.former)) != 0 ||
	    a.nformer < before.nformer || a.nformer > before.nformer + 1)
		abort();
	if (before.ids.patient_id[0] && strcmp(before.ids.patient_id, b.ids.patient_id) &&
	    before.nformer < MEDFS_DICOM_FORMER_MAX &&
	    !medfs_dicom_meta_was(&a, before.ids.patient_id))
		abort();
	check_meta(&a);
	round_trip(&a);
	return 0;
}
