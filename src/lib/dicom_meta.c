/* medfs: the DICOM metadata record of a file (see medfs/dicom_meta.h). */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <sodium.h>

#include "medfs/dicom_meta.h"
#include "medfs/vault.h"

static const struct {
	const char *key;
	size_t off, size;
} keys[] = {
#define KEY(f)                                                                           \
	{                                                                                \
#f, offsetof(struct medfs_dicom_ids, f),                                 \
			sizeof(((struct medfs_dicom_ids *)0)->f)                         \
	}
	KEY(patient_id), KEY(study_uid),     KEY(series_uid),
	KEY(sop_uid),	 KEY(sop_class_uid), KEY(modality),
#undef KEY
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))
#define FORMER_KEY "former_patient_id"

/* The longest line of a key: "key=" || value || "\n". */
#define LINE(key, max) (sizeof(key "=\n") - 1 + (max))
#define UID MEDFS_DICOM_UID_MAX
_Static_assert(MEDFS_DICOM_META_WORST ==
		       LINE("patient_id", UID) + LINE("study_uid", UID) +
			       LINE("series_uid", UID) + LINE("sop_uid", UID) +
			       LINE("sop_class_uid", UID) +
			       LINE("modality", MEDFS_DICOM_CS_MAX) +
			       MEDFS_DICOM_FORMER_MAX * LINE(FORMER_KEY, UID),
	       "MEDFS_DICOM_META_WORST is the longest record");
#undef UID
#undef LINE
_Static_assert(MEDFS_DICOM_META_WORST <= MEDFS_DICOM_META_MAX,
	       "the longest record fits in a file's metadata");
_Static_assert(MEDFS_DICOM_META_MAX == MEDFS_META_MAX,
	       "a record is a file's metadata: medfs_file_set_meta's limit");

static int control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Appends "key=value\n", the value's first vlen bytes with every control
 * character replaced by '?'. */
static int put_line(char *out, size_t size, size_t *len, const char *key, const char *v,
		    size_t vlen)
{
	size_t klen = strlen(key), n = klen + 1 + vlen + 1;

	if (n > size - *len)
		return -ENOBUFS;
	memcpy(out + *len, key, klen);
	out[*len + klen] = '=';
	for (size_t i = 0; i < vlen; i++)
		out[*len + klen + 1 + i] = control((unsigned char)v[i]) ? '?' : v[i];
	out[*len + n - 1] = '\n';
	*len += n;
	return 0;
}

int medfs_dicom_meta_encode(const struct medfs_dicom_meta *m, char *out, size_t size)
{
	const char *p = m->former,
		   *end = m->former + strnlen(m->former, sizeof(m->former));
	size_t len = 0;
	int ret = 0;

	for (size_t i = 0; i < NKEYS && ret == 0; i++) {
		const char *v = (const char *)&m->ids + keys[i].off;
		size_t vlen = strnlen(v, keys[i].size - 1);

		if (vlen)
			ret = put_line(out, size, &len, keys[i].key, v, vlen);
	}
	while (p < end && ret == 0) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);

		if (n)
			ret = put_line(out, size, &len, FORMER_KEY, p,
				       n < MEDFS_DICOM_UID_MAX ? n : MEDFS_DICOM_UID_MAX);
		p = nl ? nl + 1 : end;
	}
	if (ret < 0) {
		if (size > 0)
			out[0] = '\0';
		return ret;
	}
	return (int)len;
}

int medfs_dicom_meta_was(const struct medfs_dicom_meta *m, const char *patient)
{
	const char *p = m->former,
		   *end = m->former + strnlen(m->former, sizeof(m->former));
	size_t n = strlen(patient);

	if (n == 0)
		return 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);

		if (len == n && memcmp(p, patient, n) == 0)
			return 1;
		p = nl ? nl + 1 : end;
	}
	return 0;
}

/* Adds a (sanitized, non-empty) patient to the former ones, unless it is
 * there already or the list is full. */
static void former_add(struct medfs_dicom_meta *m, const char *patient)
{
	size_t len = strlen(m->former), n = strlen(patient);

	if (n == 0 || n > MEDFS_DICOM_UID_MAX || m->nformer >= MEDFS_DICOM_FORMER_MAX ||
	    len + n + 2 > sizeof(m->former) || medfs_dicom_meta_was(m, patient))
		return;
	memcpy(m->former + len, patient, n);
	m->former[len + n] = '\n';
	m->former[len + n + 1] = '\0';
	m->nformer++;
}

/* One line, without its "\n": a known key and a value that fits. */
static void decode_line(const char *p, size_t n, struct medfs_dicom_meta *m)
{
	const char *eq = memchr(p, '=', n);
	char v[MEDFS_DICOM_UID_MAX + 1];
	size_t klen, vlen;

	if (!eq)
		return;
	klen = (size_t)(eq - p);
	vlen = n - klen - 1;
	if (vlen > MEDFS_DICOM_UID_MAX)
		return;
	for (size_t i = 0; i < vlen; i++)
		v[i] = control((unsigned char)eq[1 + i]) ? '?' : eq[1 + i];
	v[vlen] = '\0';
	for (size_t i = 0; i < NKEYS; i++) {
		if (klen == strlen(keys[i].key) && memcmp(p, keys[i].key, klen) == 0) {
			char *f = (char *)&m->ids + keys[i].off;

			/* Zero-filled after the value: a key given twice leaves
			 * nothing of the first, and equal fields compare equal
			 * with memcmp (medfs_dicom_meta_update). */
			if (vlen < keys[i].size) {
				memset(f, 0, keys[i].size);
				memcpy(f, v, vlen);
			}
			goto out;
		}
	}
	if (klen == strlen(FORMER_KEY) && memcmp(p, FORMER_KEY, klen) == 0)
		former_add(m, v);
out:
	sodium_memzero(v, vlen + 1); /* patient data */
}

int medfs_dicom_meta_decode(const char *in, size_t len, struct medfs_dicom_meta *m)
{
	const char *p = in, *end = in;

	memset(m, 0, sizeof(*m));
	if (len > 0) /* in may be NULL when len is 0: no offset on NULL */
		end = in + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (!nl)
			break; /* cut short */
		decode_line(p, (size_t)(nl - p), m);
		p = nl + 1;
	}
	return m->ids.patient_id[0] || m->ids.study_uid[0] || m->ids.series_uid[0] ||
	       m->ids.sop_uid[0] || m->ids.sop_class_uid[0] || m->ids.modality[0];
}

/* dst = src, each field cut to its size, sanitized and zero-filled after
 * its end, so that equal identifiers compare equal with memcmp whatever
 * src held past a field's NUL (the header reader may leave bytes there). */
static void normalize(struct medfs_dicom_ids *dst, const struct medfs_dicom_ids *src)
{
	memset(dst, 0, sizeof(*dst));
	if (!src)
		return;
	for (size_t i = 0; i < NKEYS; i++) {
		const char *v = (const char *)src + keys[i].off;
		char *f = (char *)dst + keys[i].off;

		memcpy(f, v, strnlen(v, keys[i].size - 1));
		medfs_dicom_sanitize(f);
	}
}

int medfs_dicom_meta_update(struct medfs_dicom_meta *m,
			    const struct medfs_dicom_ids *found,
			    struct medfs_dicom_ids *prior)
{
	struct medfs_dicom_ids now, old;
	int reattributed, ret;

	normalize(&now, found);
	normalize(&old, &m->ids);
	if (prior)
		*prior = old;
	if (memcmp(&now, &old, sizeof(now)) == 0) {
		ret = MEDFS_DICOM_SAME;
		goto out;
	}
	reattributed = (old.patient_id[0] && strcmp(old.patient_id, now.patient_id)) ||
		       (old.study_uid[0] && strcmp(old.study_uid, now.study_uid));
	if (old.patient_id[0] && strcmp(old.patient_id, now.patient_id))
		former_add(m, old.patient_id);
	m->ids = now;
	ret = reattributed ? MEDFS_DICOM_REATTRIBUTED : MEDFS_DICOM_CHANGED;
out:
	/* Patient data: no copy left on the stack. */
	sodium_memzero(&now, sizeof(now));
	sodium_memzero(&old, sizeof(old));
	return ret;
}
