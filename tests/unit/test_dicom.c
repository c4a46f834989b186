/* Unit tests: the DICOM Part 10 header reader.
 *
 * Files are built byte by byte here, in every syntax the reader knows, and
 * read from the fixtures in tests/data/dicom (made by dcmtk's dump2dcm and
 * img2dcm and by pydicom, see generate.sh there). When dcmtk is installed,
 * fresh files made by dump2dcm are read too. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "medfs/dicom.h"

#define STUDY "1.2.826.0.1.3680043.8.498.77"
#define SERIES "1.2.826.0.1.3680043.8.498.77.1"
#define SOP "1.2.826.0.1.3680043.8.498.77.1.1"
#define CT_STORAGE "1.2.840.10008.5.1.4.1.1.2"
#define TS_EXPLICIT "1.2.840.10008.1.2.1"
#define TS_IMPLICIT "1.2.840.10008.1.2"
#define TS_BIG "1.2.840.10008.1.2.2"
#define TS_DEFLATED "1.2.840.10008.1.2.1.99"
#define UNDEF 0xffffffffu

/* A file being built, and the syntax its next elements are written in. */
struct dcm {
	uint8_t d[131072];
	size_t n;
	bool implicit, big;
};

static void raw(struct dcm *b, const void *p, size_t n)
{
	ck_assert_uint_le(b->n + n, sizeof(b->d));
	memcpy(b->d + b->n, p, n);
	b->n += n;
}

static void u16(struct dcm *b, uint16_t v)
{
	uint8_t p[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	if (b->big) {
		p[0] = (uint8_t)(v >> 8);
		p[1] = (uint8_t)v;
	}
	raw(b, p, 2);
}

static void u32(struct dcm *b, uint32_t v)
{
	if (b->big) {
		u16(b, (uint16_t)(v >> 16));
		u16(b, (uint16_t)v);
	} else {
		u16(b, (uint16_t)v);
		u16(b, (uint16_t)(v >> 16));
	}
}

static bool long_vr(const char *vr)
{
	static const char *const longs[] = { "OB", "OD", "OF", "OL", "OV", "OW", "SQ",
					     "SV", "UC", "UN", "UR", "UT", "UV", "ZZ" };

	for (size_t i = 0; i < sizeof(longs) / sizeof(longs[0]); i++)
		if (strcmp(vr, longs[i]) == 0)
			return true;
	return false;
}

/* An element header with a given length, value not written. */
static void head(struct dcm *b, uint16_t g, uint16_t e, const char *vr, uint32_t len)
{
	u16(b, g);
	u16(b, e);
	if (b->implicit || g == 0xfffe) {
		u32(b, len);
		return;
	}
	raw(b, vr, 2);
	if (long_vr(vr)) {
		u16(b, 0);
		u32(b, len);
	} else {
		u16(b, (uint16_t)len);
	}
}

static void elem(struct dcm *b, uint16_t g, uint16_t e, const char *vr, const void *v,
		 uint32_t len)
{
	head(b, g, e, vr, len);
	raw(b, v, len);
}

/* A string element padded to an even length as DICOM wants: UIDs with a
 * NUL, other strings with a space. */
static void str(struct dcm *b, uint16_t g, uint16_t e, const char *vr, const char *s)
{
	size_t len = strlen(s);

	head(b, g, e, vr, (uint32_t)(len + len % 2));
	raw(b, s, len);
	if (len % 2)
		raw(b, strcmp(vr, "UI") == 0 ? "\0" : " ", 1);
}

static void item(struct dcm *b, uint32_t len)
{
	head(b, 0xfffe, 0xe000, "", len);
}

static void item_end(struct dcm *b)
{
	head(b, 0xfffe, 0xe00d, "", 0);
}

static void seq_end(struct dcm *b)
{
	head(b, 0xfffe, 0xe0dd, "", 0);
}

/* Preamble, "DICM" and the meta group (optionally without its group
 * length); leaves b ready for the data set in syntax ts. */
static void start(struct dcm *b, const char *ts, bool group_length)
{
	struct dcm m = { .n = 0 };

	memset(b, 0, sizeof(*b));
	b->n = 128;
	raw(b, "DICM", 4);
	elem(&m, 0x0002, 0x0001, "OB", "\0\1", 2);
	str(&m, 0x0002, 0x0002, "UI", CT_STORAGE);
	str(&m, 0x0002, 0x0003, "UI", SOP);
	if (ts != NULL)
		str(&m, 0x0002, 0x0010, "UI", ts);
	str(&m, 0x0002, 0x0012, "UI", "1.2.826.0.1.3680043.8.498.1");
	if (group_length) {
		uint8_t v[4] = { (uint8_t)m.n, (uint8_t)(m.n >> 8), 0, 0 };

		elem(b, 0x0002, 0x0000, "UL", v, 4);
	}
	raw(b, m.d, m.n);
	b->implicit = ts != NULL && strcmp(ts, TS_IMPLICIT) == 0;
	b->big = ts != NULL && strcmp(ts, TS_BIG) == 0;
}

/* A referenced-image sequence of undefined length holding a nested
 * sequence and decoy ids, which must not be taken for the file's. */
static void decoy_sequence(struct dcm *b)
{
	head(b, 0x0008, 0x1140, "SQ", UNDEF);
	item(b, UNDEF);
	str(b, 0x0008, 0x1150, "UI", CT_STORAGE);
	str(b, 0x0008, 0x1155, "UI", "9.9.9.1");
	str(b, 0x0010, 0x0020, "LO", "DECOY");
	str(b, 0x0020, 0x000d, "UI", "9.9.9.2");
	head(b, 0x0040, 0xa170, "SQ", UNDEF);
	item(b, UNDEF);
	str(b, 0x0008, 0x0100, "SH", "T-1");
	item_end(b);
	item(b, 0);
	seq_end(b);
	item_end(b);
	item(b, UNDEF);
	item_end(b);
	seq_end(b);
}

/* A whole image file; *stop is the length after which the reader has
 * everything it needs (the tag after the series UID). */
static void make_file(struct dcm *b, const char *ts, bool group_length, size_t *stop)
{
	static const uint8_t pixels[16] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	start(b, ts, group_length);
	str(b, 0x0008, 0x0005, "CS", "ISO_IR 192");
	str(b, 0x0008, 0x0016, "UI", CT_STORAGE);
	str(b, 0x0008, 0x0018, "UI", SOP);
	str(b, 0x0008, 0x0060, "CS", "CT");
	decoy_sequence(b);
	str(b, 0x0010, 0x0010, "PN", "DOE^JANE");
	str(b, 0x0010, 0x0020, "LO", "PAT001");
	str(b, 0x0020, 0x000d, "UI", STUDY);
	str(b, 0x0020, 0x000e, "UI", SERIES);
	*stop = b->n + 4;
	str(b, 0x0020, 0x0013, "IS", "7");
	elem(b, 0x0028, 0x0010, "US", "\0\2", 2);
	elem(b, 0x7fe0, 0x0010, "OW", pixels, sizeof(pixels));
}

static void check_ids(const struct medfs_dicom_ids *ids)
{
	ck_assert_str_eq(ids->patient_id, "PAT001");
	ck_assert_str_eq(ids->study_uid, STUDY);
	ck_assert_str_eq(ids->series_uid, SERIES);
	ck_assert_str_eq(ids->sop_uid, SOP);
	ck_assert_str_eq(ids->sop_class_uid, CT_STORAGE);
	ck_assert_str_eq(ids->modality, "CT");
}

/* Parses a copy of the first n bytes in a buffer of exactly n bytes, so
 * that a sanitizer catches any read past the end. */
static int parse_exact(const uint8_t *d, size_t n, struct medfs_dicom_ids *ids)
{
	uint8_t *copy = malloc(n ? n : 1);
	int ret;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, d, n);
	ret = medfs_dicom_parse(copy, n, ids);
	free(copy);
	return ret;
}

static const struct {
	const char *ts;
	bool group_length;
} syntaxes[] = {
	{ TS_EXPLICIT, true },
	{ TS_EXPLICIT, false },
	{ TS_IMPLICIT, true },
	{ TS_IMPLICIT, false },
	{ TS_BIG, true },
	{ "1.2.840.10008.1.2.4.50", true }, /* JPEG: explicit VR LE data set */
	{ NULL, true },			    /* no transfer syntax: guessed */
};

START_TEST(test_syntaxes)
{
	struct medfs_dicom_ids ids;
	struct dcm b;
	size_t stop;

	make_file(&b, syntaxes[_i].ts, syntaxes[_i].group_length, &stop);
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &ids), 0);
	check_ids(&ids);
	/* Every shorter prefix asks for more; from stop on, the answer is
	 * known and the pixel data is never needed. */
	for (size_t n = 0; n < stop; n++) {
		ck_assert_msg(parse_exact(b.d, n, &ids) == -EAGAIN, "prefix %zu", n);
	}
	for (size_t n = stop; n <= b.n; n++) {
		memset(&ids, 0x55, sizeof(ids));
		ck_assert_msg(parse_exact(b.d, n, &ids) == 0, "prefix %zu", n);
		check_ids(&ids);
	}
}
END_TEST

START_TEST(test_implicit_guess)
{
	struct medfs_dicom_ids ids;
	struct dcm b;
	size_t stop;

	/* No transfer syntax and an implicit data set. */
	start(&b, NULL, true);
	b.implicit = true;
	str(&b, 0x0008, 0x0018, "UI", SOP);
	str(&b, 0x0010, 0x0020, "LO", "PAT001");
	stop = b.n;
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &ids), -EAGAIN);
	str(&b, 0x0028, 0x0010, "US", "\2");
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &ids), 0);
	ck_assert_str_eq(ids.patient_id, "PAT001");
	ck_assert_str_eq(ids.sop_uid, SOP);
	ck_assert_int_eq(parse_exact(b.d, stop + 3, &ids), -EAGAIN);
	ck_assert_int_eq(parse_exact(b.d, stop + 4, &ids), 0);
}
END_TEST

START_TEST(test_not_dicom)
{
	struct medfs_dicom_ids ids;
	uint8_t buf[300];
	struct dcm b;
	size_t stop;

	memset(buf, 'x', sizeof(buf));
	memset(&ids, 0x55, sizeof(ids));
	ck_assert_int_eq(medfs_dicom_parse(buf, sizeof(buf), &ids), -ENOENT);
	ck_assert_str_eq(ids.patient_id, "");
	ck_assert_str_eq(ids.modality, "");
	/* A text file shorter than the preamble may still be the start of one. */
	ck_assert_int_eq(medfs_dicom_parse(buf, 100, &ids), -EAGAIN);
	ck_assert_int_eq(medfs_dicom_parse(buf, 0, &ids), -EAGAIN);
	/* Known as soon as a byte of the magic differs. */
	ck_assert_int_eq(medfs_dicom_parse(buf, 129, &ids), -ENOENT);
	memcpy(buf + 128, "DICX", 4);
	ck_assert_int_eq(medfs_dicom_parse(buf, 131, &ids), -EAGAIN);
	ck_assert_int_eq(medfs_dicom_parse(buf, 132, &ids), -ENOENT);
	/* A bare data set without the Part 10 wrapping. */
	make_file(&b, TS_EXPLICIT, true, &stop);
	ck_assert_int_eq(medfs_dicom_parse(b.d + 132, b.n - 132, &ids), -ENOENT);
	/* "DICM" where the preamble ends is what makes a Part 10 file. */
	b.d[130] = 'X';
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &ids), -ENOENT);
}
END_TEST

START_TEST(test_no_ids)
{
	struct medfs_dicom_ids ids;
	struct dcm b, m = { .n = 0 };

	/* A meta group naming no instance and a data set with no id. */
	memset(&b, 0, sizeof(b));
	b.n = 128;
	raw(&b, "DICM", 4);
	str(&m, 0x0002, 0x0010, "UI", TS_EXPLICIT);
	raw(&b, m.d, m.n);
	str(&b, 0x0008, 0x0060, "CS", "OT");
	str(&b, 0x0028, 0x0010, "US", "\2");
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &ids), -ENOENT);
	ck_assert_str_eq(ids.modality, "OT");
}
END_TEST

START_TEST(test_meta_fallback)
{
	struct medfs_dicom_ids ids;
	struct dcm b;

	/* SOP class and instance only in the meta group; an empty SOP
	 * instance UID in the data set does not erase the meta group's. */
	start(&b, TS_EXPLICIT, true);
	elem(&b, 0x0008, 0x0018, "UI", "", 0);
	str(&b, 0x0010, 0x0020, "LO", "P");
	str(&b, 0x7fe0, 0x0010, "OB", "");
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &ids), 0);
	ck_assert_str_eq(ids.sop_uid, SOP);
	ck_assert_str_eq(ids.sop_class_uid, CT_STORAGE);
	ck_assert_str_eq(ids.patient_id, "P");
	ck_assert_str_eq(ids.study_uid, "");
	/* The data set's own values win. */
	start(&b, TS_EXPLICIT, true);
	str(&b, 0x0008, 0x0016, "UI", "1.2.3");
	str(&b, 0x0008, 0x0018, "UI", "1.2.3.4");
	str(&b, 0x7fe0, 0x0010, "OB", "");
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &ids), 0);
	ck_assert_str_eq(ids.sop_uid, "1.2.3.4");
	ck_assert_str_eq(ids.sop_class_uid, "1.2.3");
}
END_TEST

START_TEST(test_deflated)
{
	struct medfs_dicom_ids ids;
	struct dcm b;

	/* The data set is deflated: only the meta group's ids are known. */
	start(&b, TS_DEFLATED, true);
	raw(&b, "\x63\x60\x00\x02\x00\x00", 6);
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &ids), 0);
	ck_assert_str_eq(ids.sop_uid, SOP);
	ck_assert_str_eq(ids.sop_class_uid, CT_STORAGE);
	ck_assert_str_eq(ids.patient_id, "");
}
END_TEST

START_TEST(test_trim)
{
	struct medfs_dicom_ids ids;
	struct dcm b;

	start(&b, TS_EXPLICIT, true);
	str(&b, 0x0008, 0x0018, "UI", "1.2.3\0\0");
	elem(&b, 0x0008, 0x0016, "UI", "1.2.4\0\0\0", 8);
	str(&b, 0x0008, 0x0060, "CS", " MR ");
	str(&b, 0x0010, 0x0020, "LO", "  PAT 7   ");
	elem(&b, 0x0020, 0x000d, "UI", "1.5\0junk", 8);
	elem(&b, 0x0020, 0x000e, "UI", "    ", 4);
	str(&b, 0x0028, 0x0010, "US", "\2");
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &ids), 0);
	ck_assert_str_eq(ids.sop_uid, "1.2.3");
	ck_assert_str_eq(ids.sop_class_uid, "1.2.4");
	ck_assert_str_eq(ids.modality, "MR");
	ck_assert_str_eq(ids.patient_id, "PAT 7");
	ck_assert_str_eq(ids.study_uid, "1.5");
	ck_assert_str_eq(ids.series_uid, "");
}
END_TEST

START_TEST(test_overlong)
{
	struct {
		struct medfs_dicom_ids ids;
		char canary[64];
	} out;
	char longid[301];
	struct dcm b;

	memset(longid, 'A', 300);
	longid[300] = '\0';
	longid[64] = 'B';
	start(&b, TS_EXPLICIT, true);
	str(&b, 0x0008, 0x0060, "CS", "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
	head(&b, 0x0010, 0x0020, "UT", 300);
	raw(&b, longid, 300);
	str(&b, 0x0020, 0x000d, "UI", longid);
	head(&b, 0x0020, 0x000e, "UN", 0x10000); /* 64 KiB series UID */
	for (int i = 0; i < 0x10000 / 4; i++)
		raw(&b, "1.2.", 4);
	str(&b, 0x0028, 0x0010, "US", "\2");
	memset(out.canary, 0x5a, sizeof(out.canary));
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &out.ids), 0);
	ck_assert_uint_eq(strlen(out.ids.patient_id), MEDFS_DICOM_UID_MAX);
	ck_assert(strspn(out.ids.patient_id, "A") == MEDFS_DICOM_UID_MAX);
	ck_assert_uint_eq(strlen(out.ids.study_uid), MEDFS_DICOM_UID_MAX);
	ck_assert_uint_eq(strlen(out.ids.series_uid), MEDFS_DICOM_UID_MAX);
	ck_assert_str_eq(out.ids.modality, "ABCDEFGHIJKLMNOP");
	for (size_t i = 0; i < sizeof(out.canary); i++)
		ck_assert_int_eq(out.canary[i], 0x5a);
}
END_TEST

START_TEST(test_un_sequence)
{
	struct medfs_dicom_ids ids;
	struct dcm b;

	/* An undefined-length UN in an explicit data set holds an implicit
	 * VR little endian sequence (PS3.5 6.2.2), here with a decoy id. */
	start(&b, TS_EXPLICIT, true);
	head(&b, 0x0009, 0x1010, "UN", UNDEF);
	b.implicit = true;
	item(&b, UNDEF);
	str(&b, 0x0010, 0x0020, "LO", "DECOY");
	head(&b, 0x0011, 0x0010, "", UNDEF);
	item(&b, 8 + 4);
	str(&b, 0x0020, 0x000d, "", "9.9");
	seq_end(&b);
	item_end(&b);
	seq_end(&b);
	b.implicit = false;
	str(&b, 0x0010, 0x0020, "LO", "REAL");
	/* Defined-length sequence with defined-length items and an unknown
	 * long-form VR, then an undefined-length OB (encapsulated-like). */
	head(&b, 0x0018, 0x9346, "SQ", 8 + 20 + 12);
	item(&b, 20 + 12);
	head(&b, 0x0018, 0x0001, "ZZ", 8);
	raw(&b, "12345678", 8);
	str(&b, 0x0018, 0x0002, "LO", "TEST");
	head(&b, 0x0019, 0x0010, "OB", UNDEF);
	item(&b, 0);
	item(&b, 2);
	raw(&b, "\xff\xd8", 2);
	seq_end(&b);
	str(&b, 0x0020, 0x000d, "UI", STUDY);
	str(&b, 0x0020, 0x0010, "SH", "1");
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &ids), 0);
	ck_assert_str_eq(ids.patient_id, "REAL");
	ck_assert_str_eq(ids.study_uid, STUDY);
}
END_TEST

/* Builds a file whose data set holds depth nested undefined-length
 * sequences before the patient ID. */
static void nest(struct dcm *b, int depth)
{
	start(b, TS_EXPLICIT, true);
	for (int i = 0; i < depth; i++) {
		head(b, 0x0008, 0x1140, "SQ", UNDEF);
		item(b, UNDEF);
	}
	for (int i = 0; i < depth; i++) {
		item_end(b);
		seq_end(b);
	}
	str(b, 0x0010, 0x0020, "LO", "PAT");
	str(b, 0x0028, 0x0010, "US", "\2");
}

START_TEST(test_depth)
{
	struct medfs_dicom_ids ids;
	struct dcm b;

	nest(&b, 20);
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &ids), 0);
	ck_assert_str_eq(ids.patient_id, "PAT");
	nest(&b, 32);
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &ids), 0);
	nest(&b, 33);
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &ids), -EBADMSG);
	nest(&b, 500);
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &ids), -EBADMSG);
}
END_TEST

/* Malformed files, each built by one function. */
static void bad_item_past_sequence(struct dcm *b)
{
	head(b, 0x0008, 0x1140, "SQ", 8 + 4);
	item(b, 100); /* the sequence holds only 4 bytes of it */
	raw(b, "abcd", 4);
}

static void bad_element_past_item(struct dcm *b)
{
	head(b, 0x0008, 0x1140, "SQ", 8 + 8 + 6);
	item(b, 8 + 6);
	head(b, 0x0008, 0x1150, "UI", 30); /* the item holds only 6 */
	raw(b, "1.2.3\0", 6);
}

static void bad_item_end_length(struct dcm *b)
{
	head(b, 0x0008, 0x1140, "SQ", UNDEF);
	item(b, UNDEF);
	head(b, 0xfffe, 0xe00d, "", 4);
	seq_end(b);
}

static void bad_seq_end_length(struct dcm *b)
{
	head(b, 0x0008, 0x1140, "SQ", UNDEF);
	head(b, 0xfffe, 0xe0dd, "", 2);
}

static void bad_seq_end_in_defined(struct dcm *b)
{
	head(b, 0x0008, 0x1140, "SQ", 8);
	seq_end(b);
}

static void bad_item_end_in_defined(struct dcm *b)
{
	head(b, 0x0008, 0x1140, "SQ", 16);
	item(b, 8);
	item_end(b);
}

static void bad_not_an_item(struct dcm *b)
{
	head(b, 0x0008, 0x1140, "SQ", UNDEF);
	str(b, 0x0008, 0x1150, "UI", "1.2");
}

static void bad_stray_item(struct dcm *b)
{
	item(b, 0);
}

static void bad_stray_delimiter_in_item(struct dcm *b)
{
	head(b, 0x0008, 0x1140, "SQ", UNDEF);
	item(b, UNDEF);
	seq_end(b);
}

static void bad_vr(struct dcm *b)
{
	elem(b, 0x0008, 0x0060, "c1", "CT", 2);
}

static void bad_undefined_fragment(struct dcm *b)
{
	head(b, 0x0009, 0x1010, "OB", UNDEF);
	item(b, UNDEF);
	seq_end(b);
}

static void bad_undefined_id(struct dcm *b)
{
	head(b, 0x0010, 0x0020, "UN", UNDEF);
	seq_end(b);
}

static void (*const malformed[])(struct dcm *b) = {
	bad_item_past_sequence,
	bad_element_past_item,
	bad_item_end_length,
	bad_seq_end_length,
	bad_seq_end_in_defined,
	bad_item_end_in_defined,
	bad_not_an_item,
	bad_stray_item,
	bad_stray_delimiter_in_item,
	bad_vr,
	bad_undefined_fragment,
	bad_undefined_id,
};

START_TEST(test_malformed)
{
	struct medfs_dicom_ids ids;
	struct dcm b;

	start(&b, TS_EXPLICIT, true);
	str(&b, 0x0008, 0x0018, "UI", SOP);
	malformed[_i](&b);
	str(&b, 0x0010, 0x0020, "LO", "PAT");
	str(&b, 0x0020, 0x0010, "SH", "1");
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &ids), -EBADMSG);
}
END_TEST

START_TEST(test_malformed_meta)
{
	struct medfs_dicom_ids ids;
	size_t stop, meta_len;
	struct dcm b;

	/* The group length is the meta group's first element (at 132), its
	 * value at 140. */
	make_file(&b, TS_EXPLICIT, true, &stop);
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &ids), 0);
	meta_len = b.d[140] | (size_t)b.d[141] << 8;
	b.d[140] = (uint8_t)(meta_len - 2);
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &ids), -EBADMSG);
	b.d[140] = (uint8_t)(meta_len + 2);
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &ids), -EBADMSG);
	b.d[140] = (uint8_t)meta_len;
	b.d[138] = 2; /* group length of length 2 */
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &ids), -EBADMSG);
	b.d[138] = 4;
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &ids), 0);

	/* A meta element of undefined length. */
	memset(&b, 0, sizeof(b));
	b.n = 128;
	raw(&b, "DICM", 4);
	head(&b, 0x0002, 0x0001, "OB", UNDEF);
	raw(&b, "\0\1", 2);
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &ids), -EBADMSG);

	/* A meta group that is not explicit VR. */
	memset(&b, 0, sizeof(b));
	b.n = 128;
	raw(&b, "DICM", 4);
	b.implicit = true;
	str(&b, 0x0002, 0x0010, "UI", TS_EXPLICIT);
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &ids), -EBADMSG);
}
END_TEST

START_TEST(test_lengths_near_limits)
{
	struct medfs_dicom_ids ids;
	struct dcm b;

	/* A huge defined length before the ids: more bytes needed, never a
	 * wrapped pointer. */
	start(&b, TS_EXPLICIT, true);
	head(&b, 0x0008, 0x0100, "OB", 0xfffffffe);
	raw(&b, "abcd", 4);
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &ids), -EAGAIN);
	start(&b, TS_EXPLICIT, true);
	head(&b, 0x0008, 0x1140, "SQ", 0xfffffff0);
	item(&b, 0xffffffe0);
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &ids), -EAGAIN);
	start(&b, TS_IMPLICIT, true);
	head(&b, 0x0008, 0x1140, "", UNDEF);
	item(&b, 0xfffffff0);
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &ids), -EAGAIN);
	/* The same item inside a defined-length sequence is malformed. */
	start(&b, TS_EXPLICIT, true);
	head(&b, 0x0008, 0x1140, "SQ", 8);
	item(&b, 0xfffffff0);
	str(&b, 0x0010, 0x0020, "LO", "P");
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &ids), -EBADMSG);
}
END_TEST

/* The source directory of this file, found from the path the compiler was
 * given (relative to the build directory, which holds this test's
 * directory) or an absolute one. */
static void fixture_path(char *out, size_t size, const char *name)
{
	char exe[2048], src[2048];
	const char *file = __FILE__;
	ssize_t n;
	char *slash;

	snprintf(src, sizeof(src), "%s", file);
	slash = strrchr(src, '/');
	ck_assert_ptr_nonnull(slash);
	*slash = '\0';
	if (src[0] == '/') {
		snprintf(out, size, "%s/../data/dicom/%s", src, name);
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ck_assert_int_gt(n, 0);
	exe[n] = '\0';
	slash = strrchr(exe, '/'); /* BUILD/tests/test-dicom */
	*slash = '\0';
	snprintf(out, size, "%s/../%s/../data/dicom/%s", exe, src, name);
}

static size_t read_file(const char *path, uint8_t *buf, size_t size)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	n = fread(buf, 1, size, f);
	ck_assert(feof(f));
	fclose(f);
	return n;
}

static const struct fixture {
	const char *file;
	int ret;
	const char *patient, *study, *series, *sop, *sop_class, *modality;
} fixtures[] = {
#define CT_IDS                                                                           \
	"PAT001", "1.2.826.0.1.3680043.8.498.1001", "1.2.826.0.1.3680043.8.498.1001.1",  \
		"1.2.826.0.1.3680043.8.498.1001.1.1", CT_STORAGE, "CT"
#define MR_IDS                                                                           \
	"PAT-3003", "1.2.826.0.1.3680043.8.498.3003",                                    \
		"1.2.826.0.1.3680043.8.498.3003.1",                                      \
		"1.2.826.0.1.3680043.8.498.3003.1.5", "1.2.840.10008.5.1.4.1.1.4", "MR"
	{ "ct-explicit-undef.dcm", 0, CT_IDS },
	{ "ct-explicit-deflen.dcm", 0, CT_IDS },
	{ "ct-implicit-undef.dcm", 0, CT_IDS },
	{ "ct-bigendian.dcm", 0, CT_IDS },
	{ "sc-img2dcm.dcm", 0, "PAT-0002", "1.2.826.0.1.3680043.8.498.2002",
	  "1.2.826.0.1.3680043.8.498.2002.1",
	  "1.2.276.0.7230010.3.1.4.8323328.8946.1796011060.773557",
	  "1.2.840.10008.5.1.4.1.1.7", "OT" },
	{ "mr-jpeg-pydicom.dcm", 0, MR_IDS },
	{ "mr-implicit-pydicom.dcm", 0, MR_IDS },
	{ "mr-deflated-pydicom.dcm", 0, "", "", "", "1.2.826.0.1.3680043.8.498.3003.1.5",
	  "1.2.840.10008.5.1.4.1.1.4", "" },
#undef CT_IDS
#undef MR_IDS
};

static void check_fixture(const struct fixture *fx, const uint8_t *d, size_t n)
{
	struct medfs_dicom_ids ids, part;
	bool known = false;

	ck_assert_msg(medfs_dicom_parse(d, n, &ids) == fx->ret, "%s", fx->file);
	ck_assert_str_eq(ids.patient_id, fx->patient);
	ck_assert_str_eq(ids.study_uid, fx->study);
	ck_assert_str_eq(ids.series_uid, fx->series);
	ck_assert_str_eq(ids.sop_uid, fx->sop);
	ck_assert_str_eq(ids.sop_class_uid, fx->sop_class);
	ck_assert_str_eq(ids.modality, fx->modality);
	/* Prefixes: more bytes wanted until the answer is known, then the
	 * same answer. */
	for (size_t len = 0; len <= n; len++) {
		int ret = parse_exact(d, len, &part);

		if (known || ret == 0) {
			ck_assert_msg(ret == 0, "%s: prefix %zu: %d", fx->file, len, ret);
			ck_assert(memcmp(&part, &ids, sizeof(ids)) == 0);
			known = true;
		} else {
			ck_assert_msg(ret == -EAGAIN, "%s: prefix %zu: %d", fx->file, len,
				      ret);
		}
	}
	ck_assert(known);
}

START_TEST(test_fixtures)
{
	const struct fixture *fx = &fixtures[_i];
	char path[8192];
	uint8_t buf[65536];
	size_t n;

	fixture_path(path, sizeof(path), fx->file);
	n = read_file(path, buf, sizeof(buf));
	check_fixture(fx, buf, n);
}
END_TEST

/* Files made now by the installed dcmtk, in each of its encodings. */
START_TEST(test_dump2dcm)
{
	static const char *const opts[] = { "", "-e", "+ti -e", "+ti +e -g", "+tb +g" };
	static const struct fixture fx = { "",
					   0,
					   "PAT001",
					   "1.2.826.0.1.3680043.8.498.1001",
					   "1.2.826.0.1.3680043.8.498.1001.1",
					   "1.2.826.0.1.3680043.8.498.1001.1.1",
					   CT_STORAGE,
					   "CT" };
	char dir[] = "/tmp/medfs-test-dicom-XXXXXX", dump[8192], out[8192], cmd[32768];
	uint8_t buf[65536];
	size_t n;

	if (system("command -v dump2dcm >/dev/null 2>&1") != 0) {
		fprintf(stderr, "test_dump2dcm: dcmtk not installed, skipped\n");
		return;
	}
	ck_assert_ptr_nonnull(mkdtemp(dir));
	fixture_path(dump, sizeof(dump), "ct.dump");
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		snprintf(out, sizeof(out), "%s/%zu.dcm", dir, i);
		snprintf(cmd, sizeof(cmd), "dump2dcm %s '%s' '%s'", opts[i], dump, out);
		ck_assert_msg(system(cmd) == 0, "%s", cmd);
		n = read_file(out, buf, sizeof(buf));
		check_fixture(&fx, buf, n);
		unlink(out);
	}
	rmdir(dir);
}
END_TEST

/* ---- reading a header window by window ---- */

/* Feeds b to a scan as a caller reading a file does: from sc.pos, at
 * least sc.need bytes (and at least win), each in a buffer of exactly its
 * size. Counts the bytes passed, and checks that no window starts inside
 * skip_from..skip_to (a value the scan must skip unread). */
static int scan_windows(const struct dcm *b, size_t win, size_t skip_from, size_t skip_to,
			struct medfs_dicom_scan *sc, size_t *passed)
{
	int ret = -EAGAIN;
	int rounds = 0;

	medfs_dicom_scan_init(sc);
	*passed = 0;
	while (ret == -EAGAIN && sc->pos < b->n) {
		size_t len = sc->need > win ? sc->need : win;
		uint8_t *w;

		if (len > b->n - sc->pos)
			len = b->n - sc->pos;
		ck_assert_msg(
			sc->pos <= skip_from || sc->pos >= skip_to,
			"the scan asked for bytes from %zu, inside a value it skips",
			(size_t)sc->pos);
		w = malloc(len ? len : 1);
		ck_assert_ptr_nonnull(w);
		memcpy(w, b->d + sc->pos, len);
		ret = medfs_dicom_scan_feed(sc, w, len);
		free(w);
		*passed += len;
		ck_assert_int_lt(++rounds, 10000);
		if (ret == -EAGAIN && len < sc->need && sc->pos + len >= b->n)
			break; /* the file ends inside the header */
	}
	return ret;
}

START_TEST(test_scan_windows)
{
	struct medfs_dicom_ids ids;
	struct medfs_dicom_scan sc;
	struct dcm b;
	size_t stop, passed;
	int whole;

	/* Every syntax, windows of every size from 1 byte: the same answer
	 * as the whole file at once. */
	for (size_t i = 0; i < sizeof(syntaxes) / sizeof(syntaxes[0]); i++) {
		make_file(&b, syntaxes[i].ts, syntaxes[i].group_length, &stop);
		whole = medfs_dicom_parse(b.d, b.n, &ids);
		ck_assert_int_eq(whole, 0);
		for (size_t win = 1; win < 600; win += 7) {
			ck_assert_int_eq(scan_windows(&b, win, 0, 0, &sc, &passed), 0);
			check_ids(&sc.ids);
			ck_assert_uint_eq(sc.seen, stop);
		}
	}
}
END_TEST

START_TEST(test_scan_skips_unread)
{
	static uint8_t big[100 * 1024];
	struct medfs_dicom_scan sc;
	size_t from, to, passed;
	struct dcm b;

	/* The patient ID after a private element of 100 KiB (more than the
	 * 64 KiB a header was read in before): found, and the element's
	 * bytes are never asked for. */
	memset(big, 0x5a, sizeof(big));
	start(&b, TS_EXPLICIT, true);
	str(&b, 0x0008, 0x0018, "UI", SOP);
	str(&b, 0x0009, 0x0010, "LO", "MEDFS TEST");
	head(&b, 0x0009, 0x1000, "OB", sizeof(big));
	from = b.n;
	raw(&b, big, sizeof(big));
	to = b.n;
	str(&b, 0x0010, 0x0020, "LO", "PAT001");
	str(&b, 0x0020, 0x000d, "UI", STUDY);
	str(&b, 0x0028, 0x0010, "US", "\2");
	ck_assert_int_eq(scan_windows(&b, 4096, from, to, &sc, &passed), 0);
	ck_assert_str_eq(sc.ids.patient_id, "PAT001");
	ck_assert_str_eq(sc.ids.study_uid, STUDY);
	ck_assert_uint_lt(passed, 3 * 4096);
	/* The seen mark stops before the skipped value: a write into it
	 * cannot change the answer. */
	ck_assert_uint_eq(sc.seen, b.n - 10 + 4);
	/* The same at once: the same answer. */
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &sc.ids), 0);
	ck_assert_str_eq(sc.ids.patient_id, "PAT001");

	/* A sequence of undefined length, larger than the window: the scan
	 * asks for more, then finds the patient after it. */
	start(&b, TS_EXPLICIT, true);
	head(&b, 0x0009, 0x1010, "SQ", UNDEF);
	for (int i = 0; i < 200; i++) {
		item(&b, UNDEF);
		str(&b, 0x0009, 0x1011, "LO", "0123456789ABCDEF0123456789ABCDEF");
		item_end(&b);
	}
	seq_end(&b);
	str(&b, 0x0010, 0x0020, "LO", "PAT002");
	str(&b, 0x0028, 0x0010, "US", "\2");
	ck_assert_int_eq(scan_windows(&b, 512, 0, 0, &sc, &passed), 0);
	ck_assert_str_eq(sc.ids.patient_id, "PAT002");
}
END_TEST

START_TEST(test_scan_resume)
{
	struct medfs_dicom_scan sc;
	struct dcm b;
	size_t stop, n = 0;
	int ret = -EAGAIN;

	/* A file that grows (written in pieces): each feed passes what
	 * exists from sc.pos on; the scan goes on where it stopped. */
	make_file(&b, TS_EXPLICIT, true, &stop);
	medfs_dicom_scan_init(&sc);
	for (size_t end = 100; ret == -EAGAIN && end <= b.n; end += 100) {
		uint64_t pos = sc.pos;

		ck_assert_uint_le(pos, end);
		ret = medfs_dicom_scan_feed(&sc, b.d + pos, end - pos);
		ck_assert_uint_ge(sc.pos, pos);
		n++;
	}
	ck_assert_int_eq(ret, 0);
	check_ids(&sc.ids);
	/* Once answered, the answer stays. */
	ck_assert_int_eq(medfs_dicom_scan_feed(&sc, b.d, 0), 0);
}
END_TEST

START_TEST(test_sanitize)
{
	struct medfs_dicom_ids ids;
	char s[] = "A\001B\x1b[31mC\x7f\tD\xc3\xa9";
	struct dcm b;

	medfs_dicom_sanitize(s);
	ck_assert_str_eq(s, "A?B?[31mC??D\xc3\xa9");
	/* The reader hands out no control character. */
	start(&b, TS_EXPLICIT, true);
	str(&b, 0x0008, 0x0060, "CS", "C\nT");
	str(&b, 0x0010, 0x0020, "LO",
	    "P\a\x1b"
	    "01");
	str(&b, 0x0020, 0x000d, "UI", "1.2\r.3");
	str(&b, 0x0028, 0x0010, "US", "\2");
	ck_assert_int_eq(medfs_dicom_parse(b.d, b.n, &ids), 0);
	ck_assert_str_eq(ids.patient_id, "P??01");
	ck_assert_str_eq(ids.study_uid, "1.2?.3");
	ck_assert_str_eq(ids.modality, "C?T");
}
END_TEST

static Suite *dicom_suite(void)
{
	Suite *s = suite_create("dicom");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_loop_test(tc, test_syntaxes, 0, sizeof(syntaxes) / sizeof(syntaxes[0]));
	tcase_add_test(tc, test_implicit_guess);
	tcase_add_test(tc, test_not_dicom);
	tcase_add_test(tc, test_no_ids);
	tcase_add_test(tc, test_meta_fallback);
	tcase_add_test(tc, test_deflated);
	tcase_add_test(tc, test_trim);
	tcase_add_test(tc, test_overlong);
	tcase_add_test(tc, test_un_sequence);
	tcase_add_test(tc, test_scan_windows);
	tcase_add_test(tc, test_scan_skips_unread);
	tcase_add_test(tc, test_scan_resume);
	tcase_add_test(tc, test_sanitize);
	suite_add_tcase(s, tc);

	tc = tcase_create("malformed");
	tcase_add_test(tc, test_depth);
	tcase_add_loop_test(tc, test_malformed, 0,
			    sizeof(malformed) / sizeof(malformed[0]));
	tcase_add_test(tc, test_malformed_meta);
	tcase_add_test(tc, test_lengths_near_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_fixtures, 0, sizeof(fixtures) / sizeof(fixtures[0]));
	tcase_add_test(tc, test_dump2dcm);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(dicom_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
