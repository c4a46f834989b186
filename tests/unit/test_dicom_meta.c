/* Unit tests: the DICOM metadata record of a file (medfs/dicom_meta.h),
 * the format of doc/FORMAT.md section 8.1. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "medfs/dicom_meta.h"

#define STUDY "1.2.826.0.1.3680043.8.498.77"

/* The example of doc/FORMAT.md, 8.1. */
#define DOC_EXAMPLE                                                                      \
	"patient_id=PAT999\n"                                                            \
	"study_uid=1.2.826.0.1.3680043.8.498.1001\n"                                     \
	"series_uid=1.2.826.0.1.3680043.8.498.1001.1\n"                                  \
	"sop_uid=1.2.826.0.1.3680043.8.498.1001.1.1\n"                                   \
	"sop_class_uid=1.2.840.10008.5.1.4.1.1.2\n"                                      \
	"modality=CT\n"                                                                  \
	"former_patient_id=PAT001\n"

static int decode_str(const char *s, struct medfs_dicom_meta *m)
{
	return medfs_dicom_meta_decode(s, strlen(s), m);
}

/* m with every field of its longest and MEDFS_DICOM_FORMER_MAX former
 * patients of 64 bytes: the longest record. */
static void worst(struct medfs_dicom_meta *m)
{
	memset(m, 0, sizeof(*m));
	memset(m->ids.patient_id, 'P', MEDFS_DICOM_UID_MAX);
	memset(m->ids.study_uid, '1', MEDFS_DICOM_UID_MAX);
	memset(m->ids.series_uid, '2', MEDFS_DICOM_UID_MAX);
	memset(m->ids.sop_uid, '3', MEDFS_DICOM_UID_MAX);
	memset(m->ids.sop_class_uid, '4', MEDFS_DICOM_UID_MAX);
	memset(m->ids.modality, 'M', MEDFS_DICOM_CS_MAX);
	for (int i = 0; i < MEDFS_DICOM_FORMER_MAX; i++) {
		char *f = m->former + i * (MEDFS_DICOM_UID_MAX + 1);

		memset(f, 'a' + i, MEDFS_DICOM_UID_MAX);
		f[MEDFS_DICOM_UID_MAX] = '\n';
	}
	m->nformer = MEDFS_DICOM_FORMER_MAX;
}

static struct medfs_dicom_ids patient(const char *p, const char *study)
{
	struct medfs_dicom_ids ids;

	memset(&ids, 0, sizeof(ids));
	snprintf(ids.patient_id, sizeof(ids.patient_id), "%s", p);
	snprintf(ids.study_uid, sizeof(ids.study_uid), "%s", study);
	snprintf(ids.modality, sizeof(ids.modality), "CT");
	return ids;
}

START_TEST(test_meta_round_trip)
{
	struct medfs_dicom_meta m, back;
	struct medfs_dicom_ids a = patient("PAT001", STUDY), prior;
	char text[MEDFS_DICOM_META_MAX];
	int n;

	memset(&m, 0, sizeof(m));
	ck_assert_int_eq(medfs_dicom_meta_update(&m, &a, &prior), MEDFS_DICOM_CHANGED);
	ck_assert_str_eq(prior.patient_id, "");
	ck_assert_int_eq(medfs_dicom_meta_update(&m, &a, NULL), MEDFS_DICOM_SAME);
	n = medfs_dicom_meta_encode(&m, text, sizeof(text));
	ck_assert_int_gt(n, 0);
	text[n] = '\0';
	ck_assert_str_eq(text, "patient_id=PAT001\nstudy_uid=" STUDY "\nmodality=CT\n");
	/* The format of doc/FORMAT.md: known keys, in any order, unknown keys
	 * and lines without "=" skipped, values sanitized. */
	ck_assert_int_eq(medfs_dicom_meta_decode(
				 "junk\nmodality=MR\nfuture=1\npatient_id=P\x01Q\n"
				 "former_patient_id=OLD\n",
				 strlen("junk\nmodality=MR\nfuture=1\npatient_id=P\x01Q\n"
					"former_patient_id=OLD\n"),
				 &back),
			 1);
	ck_assert_str_eq(back.ids.patient_id, "P?Q");
	ck_assert_str_eq(back.ids.modality, "MR");
	ck_assert_str_eq(back.former, "OLD\n");
	ck_assert(medfs_dicom_meta_was(&back, "OLD"));
	ck_assert(!medfs_dicom_meta_was(&back, "OL"));
	ck_assert_int_eq(medfs_dicom_meta_decode("", 0, &back), 0);
	ck_assert_int_eq(medfs_dicom_meta_encode(&back, text, sizeof(text)), 0);
	ck_assert_int_eq(medfs_dicom_meta_encode(&m, text, 10), -ENOBUFS);
}
END_TEST

START_TEST(test_meta_reattribution)
{
	struct medfs_dicom_ids a = patient("PAT001", STUDY), b = patient("PAT999", STUDY);
	struct medfs_dicom_ids c = patient("PAT001", "1.2.3"), prior;
	char text[MEDFS_DICOM_META_MAX], name[32];
	struct medfs_dicom_meta m, back;
	int n;

	memset(&m, 0, sizeof(m));
	medfs_dicom_meta_update(&m, &a, NULL);
	/* Another patient: reattributed, the old one kept. */
	ck_assert_int_eq(medfs_dicom_meta_update(&m, &b, &prior),
			 MEDFS_DICOM_REATTRIBUTED);
	ck_assert_str_eq(prior.patient_id, "PAT001");
	ck_assert_str_eq(m.ids.patient_id, "PAT999");
	ck_assert_str_eq(m.former, "PAT001\n");
	/* Back, then another study: each a reattribution. */
	ck_assert_int_eq(medfs_dicom_meta_update(&m, &a, NULL), MEDFS_DICOM_REATTRIBUTED);
	ck_assert_int_eq(medfs_dicom_meta_update(&m, &c, NULL), MEDFS_DICOM_REATTRIBUTED);
	ck_assert_str_eq(m.former, "PAT001\nPAT999\n");
	/* No longer DICOM: reattributed to nobody, the patient kept. */
	ck_assert_int_eq(medfs_dicom_meta_update(&m, NULL, NULL),
			 MEDFS_DICOM_REATTRIBUTED);
	ck_assert_str_eq(m.ids.patient_id, "");
	ck_assert(medfs_dicom_meta_was(&m, "PAT001"));
	/* A writer flipping the patient again and again cannot push the
	 * first ones out: the list keeps the first MEDFS_DICOM_FORMER_MAX. */
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "FLIP%03d", i);
		b = patient(name, STUDY);
		medfs_dicom_meta_update(&m, &b, NULL);
		medfs_dicom_meta_update(&m, &a, NULL);
	}
	ck_assert_uint_eq(m.nformer, MEDFS_DICOM_FORMER_MAX);
	ck_assert(medfs_dicom_meta_was(&m, "PAT001"));
	ck_assert(medfs_dicom_meta_was(&m, "PAT999"));
	ck_assert(!medfs_dicom_meta_was(&m, "FLIP099"));
	/* A full list fits in the metadata, and decodes to the same. */
	memset(m.ids.sop_uid, '9', MEDFS_DICOM_UID_MAX);
	n = medfs_dicom_meta_encode(&m, text, sizeof(text));
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(medfs_dicom_meta_decode(text, (size_t)n, &back), 1);
	ck_assert(memcmp(&back, &m, sizeof(m)) == 0);
}
END_TEST

START_TEST(test_known_answer)
{
	struct medfs_dicom_meta m, back;
	char text[MEDFS_DICOM_META_MAX];
	int n;

	/* What doc/FORMAT.md shows is what the encoder writes. */
	memset(&m, 0, sizeof(m));
	strcpy(m.ids.patient_id, "PAT999");
	strcpy(m.ids.study_uid, "1.2.826.0.1.3680043.8.498.1001");
	strcpy(m.ids.series_uid, "1.2.826.0.1.3680043.8.498.1001.1");
	strcpy(m.ids.sop_uid, "1.2.826.0.1.3680043.8.498.1001.1.1");
	strcpy(m.ids.sop_class_uid, "1.2.840.10008.5.1.4.1.1.2");
	strcpy(m.ids.modality, "CT");
	strcpy(m.former, "PAT001\n");
	m.nformer = 1;
	n = medfs_dicom_meta_encode(&m, text, sizeof(text));
	ck_assert_int_eq(n, (int)strlen(DOC_EXAMPLE));
	ck_assert_mem_eq(text, DOC_EXAMPLE, (size_t)n);
	ck_assert_int_eq(decode_str(DOC_EXAMPLE, &back), 1);
	ck_assert_mem_eq(&back, &m, sizeof(m));
	/* Known keys in any order decode to the same. */
	ck_assert_int_eq(decode_str("former_patient_id=PAT001\n"
				    "modality=CT\n"
				    "sop_class_uid=1.2.840.10008.5.1.4.1.1.2\n"
				    "sop_uid=1.2.826.0.1.3680043.8.498.1001.1.1\n"
				    "series_uid=1.2.826.0.1.3680043.8.498.1001.1\n"
				    "study_uid=1.2.826.0.1.3680043.8.498.1001\n"
				    "patient_id=PAT999\n",
				    &back),
			 1);
	ck_assert_mem_eq(&back, &m, sizeof(m));
}
END_TEST

START_TEST(test_empty)
{
	struct medfs_dicom_meta m;
	char text[8] = "x";

	memset(&m, 0x55, sizeof(m));
	ck_assert_int_eq(medfs_dicom_meta_decode(NULL, 0, &m), 0);
	ck_assert_str_eq(m.ids.patient_id, "");
	ck_assert_str_eq(m.former, "");
	ck_assert_uint_eq(m.nformer, 0);
	ck_assert_int_eq(medfs_dicom_meta_encode(&m, text, 0), 0);
	ck_assert_int_eq(text[0], 'x'); /* size 0: untouched */
	ck_assert_int_eq(medfs_dicom_meta_encode(&m, text, sizeof(text)), 0);
	/* Former patients alone: no identifier, but not empty. */
	strcpy(m.former, "OLD\n");
	m.nformer = 1;
	ck_assert_int_eq(medfs_dicom_meta_encode(&m, text, sizeof(text)),
			 -ENOBUFS); /* 22 */
	ck_assert_int_eq(decode_str("former_patient_id=OLD\n", &m), 0);
	ck_assert_str_eq(m.former, "OLD\n");
}
END_TEST

START_TEST(test_worst_case)
{
	struct medfs_dicom_meta m, back;
	char text[MEDFS_DICOM_META_MAX];
	int n;

	worst(&m);
	n = medfs_dicom_meta_encode(&m, text, sizeof(text));
	ck_assert_int_eq(n, MEDFS_DICOM_META_WORST);
	ck_assert_int_eq(medfs_dicom_meta_decode(text, (size_t)n, &back), 1);
	ck_assert_mem_eq(&back, &m, sizeof(m));
	/* Any smaller buffer: -ENOBUFS, and no partial record. */
	for (size_t size = 0; size < MEDFS_DICOM_META_WORST; size++) {
		memset(text, 'x', sizeof(text));
		ck_assert_int_eq(medfs_dicom_meta_encode(&m, text, size), -ENOBUFS);
		if (size > 0)
			ck_assert_int_eq(text[0], '\0');
		ck_assert_int_eq(text[size], 'x'); /* nothing past size */
	}
	ck_assert_int_eq(medfs_dicom_meta_encode(&m, text, MEDFS_DICOM_META_WORST),
			 MEDFS_DICOM_META_WORST);
}
END_TEST

/* xorshift64, fixed seed: reproducible. */
static uint64_t rnd_state;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/* A value of 0..max bytes, none a control character (UTF-8 bytes and
 * "=" included). */
static void rnd_value(char *out, size_t max)
{
	size_t n = (size_t)(rnd() % (max + 1));

	for (size_t i = 0; i < n; i++) {
		unsigned char c;

		do
			c = (unsigned char)rnd();
		while (c < 0x20 || c == 0x7f);
		out[i] = (char)c;
	}
	out[n] = '\0';
}

START_TEST(test_round_trip_random)
{
	char text[MEDFS_DICOM_META_MAX];

	rnd_state = 0x9e3779b97f4a7c15ULL;
	for (int iter = 0; iter < 2000; iter++) {
		struct medfs_dicom_meta m, back;
		unsigned nf = (unsigned)(rnd() % (MEDFS_DICOM_FORMER_MAX + 1));
		int n, has;

		memset(&m, 0, sizeof(m));
		rnd_value(m.ids.patient_id, MEDFS_DICOM_UID_MAX);
		rnd_value(m.ids.study_uid, MEDFS_DICOM_UID_MAX);
		rnd_value(m.ids.series_uid, MEDFS_DICOM_UID_MAX);
		rnd_value(m.ids.sop_uid, MEDFS_DICOM_UID_MAX);
		rnd_value(m.ids.sop_class_uid, MEDFS_DICOM_UID_MAX);
		rnd_value(m.ids.modality, MEDFS_DICOM_CS_MAX);
		for (unsigned i = 0; i < nf; i++) {
			char one[MEDFS_DICOM_UID_MAX + 1];

			rnd_value(one, MEDFS_DICOM_UID_MAX);
			if (!one[0] || medfs_dicom_meta_was(&m, one))
				continue;
			strcat(m.former, one);
			strcat(m.former, "\n");
			m.nformer++;
		}
		has = m.ids.patient_id[0] || m.ids.study_uid[0] || m.ids.series_uid[0] ||
		      m.ids.sop_uid[0] || m.ids.sop_class_uid[0] || m.ids.modality[0];
		n = medfs_dicom_meta_encode(&m, text, sizeof(text));
		ck_assert_int_ge(n, 0);
		ck_assert_int_le(n, MEDFS_DICOM_META_WORST);
		ck_assert_int_eq(medfs_dicom_meta_decode(text, (size_t)n, &back), has);
		ck_assert_mem_eq(&back, &m, sizeof(m));
	}
}
END_TEST

/* A record cut anywhere names nothing it did not hold, never a prefix of
 * a value: each field is whole or empty, the former patients a prefix of
 * the list. */
START_TEST(test_truncated)
{
	struct medfs_dicom_meta m, back;
	char text[MEDFS_DICOM_META_MAX], *cut;
	int n;

	worst(&m);
	n = medfs_dicom_meta_encode(&m, text, sizeof(text));
	ck_assert_int_eq(n, MEDFS_DICOM_META_WORST);
	for (int len = 0; len <= n; len++) {
		size_t lines = 0, former_len;

		cut = malloc(len ? (size_t)len : 1); /* exactly len: no read past */
		ck_assert_ptr_nonnull(cut);
		memcpy(cut, text, (size_t)len);
		medfs_dicom_meta_decode(cut, (size_t)len, &back);
		free(cut);
		for (int i = 0; i < len; i++)
			lines += text[i] == '\n';
		/* The six identifier lines come first, each whole or absent. */
		ck_assert_str_eq(back.ids.patient_id, lines > 0 ? m.ids.patient_id : "");
		ck_assert_str_eq(back.ids.study_uid, lines > 1 ? m.ids.study_uid : "");
		ck_assert_str_eq(back.ids.series_uid, lines > 2 ? m.ids.series_uid : "");
		ck_assert_str_eq(back.ids.sop_uid, lines > 3 ? m.ids.sop_uid : "");
		ck_assert_str_eq(back.ids.sop_class_uid,
				 lines > 4 ? m.ids.sop_class_uid : "");
		ck_assert_str_eq(back.ids.modality, lines > 5 ? m.ids.modality : "");
		ck_assert_uint_eq(back.nformer, lines > 6 ? lines - 6 : 0);
		former_len = back.nformer * (MEDFS_DICOM_UID_MAX + 1);
		ck_assert_uint_eq(strlen(back.former), former_len);
		ck_assert_mem_eq(back.former, m.former, former_len);
	}
}
END_TEST

/* Values longer than their field: the line is skipped, never cut to a
 * value that was not written. */
START_TEST(test_oversize)
{
	char line[256], v[128];
	struct medfs_dicom_meta m;

	memset(v, 'X', sizeof(v));
	snprintf(line, sizeof(line), "patient_id=%.*s\n", MEDFS_DICOM_UID_MAX, v);
	ck_assert_int_eq(decode_str(line, &m), 1);
	ck_assert_uint_eq(strlen(m.ids.patient_id), MEDFS_DICOM_UID_MAX);
	snprintf(line, sizeof(line), "patient_id=%.*s\nstudy_uid=1.2\n",
		 MEDFS_DICOM_UID_MAX + 1, v);
	ck_assert_int_eq(decode_str(line, &m), 1);
	ck_assert_str_eq(m.ids.patient_id, "");
	ck_assert_str_eq(m.ids.study_uid, "1.2");
	snprintf(line, sizeof(line), "sop_class_uid=%.*s\n", 100, v);
	ck_assert_int_eq(decode_str(line, &m), 0);
	/* The modality's field is 16 bytes. */
	snprintf(line, sizeof(line), "modality=%.*s\n", MEDFS_DICOM_CS_MAX, v);
	ck_assert_int_eq(decode_str(line, &m), 1);
	ck_assert_uint_eq(strlen(m.ids.modality), MEDFS_DICOM_CS_MAX);
	snprintf(line, sizeof(line), "modality=%.*s\n", MEDFS_DICOM_CS_MAX + 1, v);
	ck_assert_int_eq(decode_str(line, &m), 0);
	ck_assert_str_eq(m.ids.modality, "");
	snprintf(line, sizeof(line), "former_patient_id=%.*s\nformer_patient_id=B\n",
		 MEDFS_DICOM_UID_MAX + 1, v);
	ck_assert_int_eq(decode_str(line, &m), 0);
	ck_assert_str_eq(m.former, "B\n");
	ck_assert_uint_eq(m.nformer, 1);
}
END_TEST

/* The record has no version: a version line, unknown and near-miss keys
 * are skipped, and the known keys still read. */
START_TEST(test_unknown_keys_and_version)
{
	struct medfs_dicom_meta m;
	const char *in = "version=2\n"
			 "medfs_meta_version=99\n"
			 "\n"
			 "no equals sign\n"
			 "=PAT000\n"
			 "Patient_ID=PAT001\n"
			 "patient_id =PAT002\n"
			 " patient_id=PAT003\n"
			 "patient_idx=PAT004\n"
			 "patient=PAT005\n"
			 "study_uid=1.2.3\n"
			 "future_key=a=b=c\n";

	ck_assert_int_eq(decode_str(in, &m), 1);
	ck_assert_str_eq(m.ids.patient_id, "");
	ck_assert_str_eq(m.ids.study_uid, "1.2.3");
	ck_assert_str_eq(m.former, "");
	/* Only unknown lines: nothing. */
	ck_assert_int_eq(decode_str("version=1\nmagic=MDFM\n", &m), 0);
	/* A value may hold "=": the key ends at the first. */
	ck_assert_int_eq(decode_str("patient_id=A=B\n", &m), 1);
	ck_assert_str_eq(m.ids.patient_id, "A=B");
}
END_TEST

START_TEST(test_duplicates)
{
	struct medfs_dicom_meta m, back;
	char in[2048] = "";

	ck_assert_int_eq(decode_str("patient_id=A\npatient_id=B\nmodality=CT\n"
				    "modality=\n",
				    &m),
			 1);
	ck_assert_str_eq(m.ids.patient_id, "B");
	ck_assert_str_eq(m.ids.modality, "");
	/* Nothing of the first value is left past the second's end: equal
	 * records compare equal byte for byte, as _update compares them. */
	decode_str("study_uid=1.2.3.4.5\nstudy_uid=1.2\n", &m);
	decode_str("study_uid=1.2\n", &back);
	ck_assert_mem_eq(&m, &back, sizeof(m));
	ck_assert_int_eq(medfs_dicom_meta_update(&m, &back.ids, NULL), MEDFS_DICOM_SAME);
	/* Former patients: each once, the first MEDFS_DICOM_FORMER_MAX. */
	for (int i = 0; i < 40; i++) {
		char line[64];

		snprintf(line, sizeof(line),
			 "former_patient_id=P%02d\nformer_patient_id=P00\n", i);
		strcat(in, line);
	}
	ck_assert_int_eq(decode_str(in, &m), 0);
	ck_assert_uint_eq(m.nformer, MEDFS_DICOM_FORMER_MAX);
	ck_assert(medfs_dicom_meta_was(&m, "P00"));
	ck_assert(medfs_dicom_meta_was(&m, "P15"));
	ck_assert(!medfs_dicom_meta_was(&m, "P16"));
	ck_assert_uint_eq(strlen(m.former), 4 * MEDFS_DICOM_FORMER_MAX);
}
END_TEST

START_TEST(test_control_characters)
{
	struct medfs_dicom_meta m, back;
	char text[MEDFS_DICOM_META_MAX];
	static const char in[] = "patient_id=A\0B\x01\x7f\r\nmodality=C\tT\n";
	int n;

	/* Decoding: each control character, NUL included, becomes "?". */
	ck_assert_int_eq(medfs_dicom_meta_decode(in, sizeof(in) - 1, &m), 1);
	ck_assert_str_eq(m.ids.patient_id, "A?B???");
	ck_assert_str_eq(m.ids.modality, "C?T");
	/* Encoding: a line break in a value cannot start another line. */
	memset(&m, 0, sizeof(m));
	strcpy(m.ids.patient_id, "A\nmodality=XX");
	strcpy(m.former, "B\rformer\n");
	m.nformer = 1;
	n = medfs_dicom_meta_encode(&m, text, sizeof(text));
	ck_assert_int_eq(n, (int)strlen("patient_id=A?modality=XX\n"
					"former_patient_id=B?former\n"));
	ck_assert_mem_eq(text, "patient_id=A?modality=XX\nformer_patient_id=B?former\n",
			 (size_t)n);
	ck_assert_int_eq(medfs_dicom_meta_decode(text, (size_t)n, &back), 1);
	ck_assert_str_eq(back.ids.patient_id, "A?modality=XX");
	ck_assert_str_eq(back.ids.modality, "");
}
END_TEST

/* A last line without its "\n" is skipped. */
START_TEST(test_unterminated)
{
	struct medfs_dicom_meta m;

	ck_assert_int_eq(decode_str("patient_id=PAT1", &m), 0);
	ck_assert_str_eq(m.ids.patient_id, "");
	ck_assert_int_eq(decode_str("modality=CT\npatient_id=PAT1", &m), 1);
	ck_assert_str_eq(m.ids.modality, "CT");
	ck_assert_str_eq(m.ids.patient_id, "");
	ck_assert_int_eq(decode_str("former_patient_id=A\nformer_patient_id=B", &m), 0);
	ck_assert_str_eq(m.former, "A\n");
}
END_TEST

/* A hand-built list of former patients: entries without their "\n", empty
 * ones, longer than an ID. */
START_TEST(test_former_as_given)
{
	struct medfs_dicom_meta m, back;
	char text[MEDFS_DICOM_META_MAX];
	int n;

	memset(&m, 0, sizeof(m));
	strcpy(m.former, "A\n\nB\nC");
	ck_assert(medfs_dicom_meta_was(&m, "A"));
	ck_assert(medfs_dicom_meta_was(&m, "B"));
	ck_assert(medfs_dicom_meta_was(&m, "C"));
	ck_assert(!medfs_dicom_meta_was(&m, ""));
	ck_assert(!medfs_dicom_meta_was(&m, "D"));
	ck_assert(!medfs_dicom_meta_was(&m, "B\nC"));
	n = medfs_dicom_meta_encode(&m, text, sizeof(text));
	ck_assert_int_eq(n, (int)strlen("former_patient_id=A\nformer_patient_id=B\n"
					"former_patient_id=C\n"));
	ck_assert_mem_eq(
		text, "former_patient_id=A\nformer_patient_id=B\nformer_patient_id=C\n",
		(size_t)n);
	ck_assert_int_eq(medfs_dicom_meta_decode(text, (size_t)n, &back), 0);
	ck_assert_str_eq(back.former, "A\nB\nC\n");
	ck_assert_uint_eq(back.nformer, 3);
	/* An entry longer than an ID is cut to 64 bytes. */
	memset(&m, 0, sizeof(m));
	memset(m.former, 'Z', 100);
	n = medfs_dicom_meta_encode(&m, text, sizeof(text));
	ck_assert_int_eq(n, (int)strlen("former_patient_id=\n") + MEDFS_DICOM_UID_MAX);
}
END_TEST

/* The header reader may leave bytes past a field's NUL (a data set
 * value shorter than the meta group's): they do not make a change, and
 * are not kept. */
START_TEST(test_update_compares_strings)
{
	struct medfs_dicom_ids found = patient("PAT001", STUDY), prior;
	struct medfs_dicom_meta m;
	char text[MEDFS_DICOM_META_MAX];
	int n;

	memset(&m, 0, sizeof(m));
	ck_assert_int_eq(medfs_dicom_meta_update(&m, &found, NULL), MEDFS_DICOM_CHANGED);
	n = medfs_dicom_meta_encode(&m, text, sizeof(text));
	ck_assert_int_eq(medfs_dicom_meta_decode(text, (size_t)n, &m), 1);
	memcpy(found.sop_uid, "1.2\0003.4.5.6", 10); /* "1.2", then "3.4.5." */
	strcpy(found.sop_uid, "");
	memcpy(found.modality, "CT\0R", 5);
	ck_assert_int_eq(medfs_dicom_meta_update(&m, &found, &prior), MEDFS_DICOM_SAME);
	strcpy(found.sop_uid, "1.2");
	ck_assert_int_eq(medfs_dicom_meta_update(&m, &found, NULL), MEDFS_DICOM_CHANGED);
	ck_assert_str_eq(m.ids.sop_uid, "1.2");
	ck_assert_int_eq(m.ids.sop_uid[4], '\0'); /* not "3.4.5.6" */
	ck_assert_int_eq(m.ids.modality[3], '\0');
}
END_TEST

static Suite *dicom_meta_suite(void)
{
	Suite *s = suite_create("dicom_meta");
	TCase *tc;

	tc = tcase_create("codec");
	tcase_add_test(tc, test_known_answer);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_worst_case);
	tcase_add_test(tc, test_round_trip_random);
	tcase_add_test(tc, test_meta_round_trip);
	suite_add_tcase(s, tc);

	tc = tcase_create("malformed");
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_oversize);
	tcase_add_test(tc, test_unknown_keys_and_version);
	tcase_add_test(tc, test_duplicates);
	tcase_add_test(tc, test_control_characters);
	tcase_add_test(tc, test_unterminated);
	tcase_add_test(tc, test_former_as_given);
	suite_add_tcase(s, tc);

	tc = tcase_create("update");
	tcase_add_test(tc, test_meta_reattribution);
	tcase_add_test(tc, test_update_compares_strings);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(dicom_meta_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
