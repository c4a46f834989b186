/* medfs: DICOM Part 10 header reader (PS3.10 7.1, PS3.5 7).
 *
 * Every region being parsed has an end: either the end of the buffer,
 * where running out means "pass more bytes" (-EAGAIN), or the end set by
 * an enclosing defined length, which lies inside the buffer and where
 * running out means the lengths disagree (-EBADMSG). A value of defined
 * length is only entered once it is wholly in the buffer. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <sodium.h>

#include "medfs/dicom.h"

#define UNDEFINED_LENGTH 0xffffffffu
#define MAX_DEPTH 64 /* calls: 32 levels of sequences and items */

#define TAG(g, e) (((uint32_t)(g) << 16) | (uint32_t)(e))
#define TAG_ITEM TAG(0xfffe, 0xe000)
#define TAG_ITEM_END TAG(0xfffe, 0xe00d)
#define TAG_SEQ_END TAG(0xfffe, 0xe0dd)
#define TAG_META_LENGTH TAG(0x0002, 0x0000)
#define TAG_MEDIA_SOP_CLASS TAG(0x0002, 0x0002)
#define TAG_MEDIA_SOP_INSTANCE TAG(0x0002, 0x0003)
#define TAG_TRANSFER_SYNTAX TAG(0x0002, 0x0010)
#define TAG_SOP_CLASS TAG(0x0008, 0x0016)
#define TAG_SOP_INSTANCE TAG(0x0008, 0x0018)
#define TAG_MODALITY TAG(0x0008, 0x0060)
#define TAG_PATIENT_ID TAG(0x0010, 0x0020)
#define TAG_STUDY TAG(0x0020, 0x000d)
#define TAG_SERIES TAG(0x0020, 0x000e)
#define TAG_LAST_WANTED TAG_SERIES

#define TS_IMPLICIT_LE "1.2.840.10008.1.2"
#define TS_EXPLICIT_BE "1.2.840.10008.1.2.2"
#define TS_DEFLATED "1.2.840.10008.1.2.1.99"

/* How a data set is encoded. */
struct syntax {
	bool explicit_vr;
	bool big_endian;
};

static const struct syntax meta_syntax = { .explicit_vr = true, .big_endian = false };
static const struct syntax implicit_le = { .explicit_vr = false, .big_endian = false };

struct elem {
	uint32_t tag;
	char vr[2];	 /* "\0\0" in implicit VR and for items and delimiters */
	uint32_t length; /* UNDEFINED_LENGTH or a byte count */
};

/* A region [pos, end) of buf. short_err is what running out of it means. */
struct region {
	const uint8_t *buf;
	size_t pos, end;
	int short_err;
};

static uint16_t get16(const uint8_t *p, bool be)
{
	return be ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}

static uint32_t get32(const uint8_t *p, bool be)
{
	if (be)
		return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
		       p[3];
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* Returns 0 when n more bytes are in the region, else its short_err. */
static int need(const struct region *r, uint64_t n)
{
	return n <= r->end - r->pos ? 0 : r->short_err;
}

static uint32_t peek_tag(const struct region *r, const struct syntax *s)
{
	const uint8_t *p = r->buf + r->pos;

	return TAG(get16(p, s->big_endian), get16(p + 2, s->big_endian));
}

static bool is_upper(uint8_t c)
{
	return c >= 'A' && c <= 'Z';
}

/* VRs whose explicit form has a 16-bit length (PS3.5 7.1.2); every other
 * one, new ones included, has two reserved bytes and a 32-bit length. */
static bool short_vr(const char vr[2])
{
	static const char shorts[][2] = {
		{ 'A', 'E' }, { 'A', 'S' }, { 'A', 'T' }, { 'C', 'S' }, { 'D', 'A' },
		{ 'D', 'S' }, { 'D', 'T' }, { 'F', 'L' }, { 'F', 'D' }, { 'I', 'S' },
		{ 'L', 'O' }, { 'L', 'T' }, { 'P', 'N' }, { 'S', 'H' }, { 'S', 'L' },
		{ 'S', 'S' }, { 'S', 'T' }, { 'T', 'M' }, { 'U', 'I' }, { 'U', 'L' },
		{ 'U', 'S' },
	};

	for (size_t i = 0; i < sizeof(shorts) / sizeof(shorts[0]); i++)
		if (vr[0] == shorts[i][0] && vr[1] == shorts[i][1])
			return true;
	return false;
}

/* Reads the element header at r->pos and moves past it. Items and
 * delimiters (group FFFE) have no VR in any syntax. Returns 0, short_err
 * or -EBADMSG. */
static int read_header(struct region *r, const struct syntax *s, struct elem *e)
{
	const uint8_t *p;
	int ret;

	ret = need(r, 8);
	if (ret < 0)
		return ret;
	p = r->buf + r->pos;
	e->tag = peek_tag(r, s);
	e->vr[0] = e->vr[1] = '\0';
	if (!s->explicit_vr || (e->tag >> 16) == 0xfffe) {
		e->length = get32(p + 4, s->big_endian);
		r->pos += 8;
		return 0;
	}
	if (!is_upper(p[4]) || !is_upper(p[5]))
		return -EBADMSG;
	e->vr[0] = (char)p[4];
	e->vr[1] = (char)p[5];
	if (short_vr(e->vr)) {
		e->length = get16(p + 6, s->big_endian);
		r->pos += 8;
		return 0;
	}
	ret = need(r, 12);
	if (ret < 0)
		return ret;
	e->length = get32(p + 8, s->big_endian);
	r->pos += 12;
	return 0;
}

/* Reads the items of a sequence up to the region's end (bounded) or up
 * to a sequence delimiter (not bounded). Fragments (an undefined-length
 * OB or OW: encapsulated data) are items of opaque bytes; other items hold
 * data sets. */
static int parse_items(struct region *r, const struct syntax *s, bool bounded,
		       bool fragments, int depth);

/* Reads the elements of one item up to the region's end (bounded) or up
 * to an item delimiter (not bounded), skipping every value. */
static int parse_item(struct region *r, const struct syntax *s, bool bounded, int depth);

/* Moves past the value of e, whose header was just read: a defined length
 * is skipped (a sequence's items are checked on the way), an undefined one
 * is a sequence of items ended by a delimiter. */
static int skip_value(struct region *r, const struct syntax *s, const struct elem *e,
		      int depth)
{
	bool sq = e->vr[0] == 'S' && e->vr[1] == 'Q';
	bool un = e->vr[0] == 'U' && e->vr[1] == 'N';
	int ret;

	if (depth >= MAX_DEPTH)
		return -EBADMSG;
	if (e->length != UNDEFINED_LENGTH) {
		ret = need(r, e->length);
		if (ret < 0)
			return ret;
		if (sq) {
			struct region sub = {
				.buf = r->buf,
				.pos = r->pos,
				.end = r->pos + e->length,
				.short_err = -EBADMSG,
			};

			ret = parse_items(&sub, s, true, false, depth + 1);
			if (ret < 0)
				return ret;
		}
		r->pos += e->length;
		return 0;
	}
	/* An undefined-length UN holds an implicit VR LE sequence (PS3.5
	 * 6.2.2); in implicit VR it can only be a sequence; any other
	 * explicit VR is encapsulated data. */
	if (un)
		return parse_items(r, &implicit_le, false, false, depth + 1);
	return parse_items(r, s, false, s->explicit_vr && !sq, depth + 1);
}

static int parse_items(struct region *r, const struct syntax *s, bool bounded,
		       bool fragments, int depth)
{
	struct elem e;
	int ret;

	for (;;) {
		if (bounded && r->pos == r->end)
			return 0;
		ret = need(r, 8);
		if (ret < 0)
			return ret;
		e.tag = peek_tag(r, s);
		e.length = get32(r->buf + r->pos + 4, s->big_endian);
		r->pos += 8;
		if (e.tag == TAG_SEQ_END) {
			if (bounded || e.length != 0)
				return -EBADMSG;
			return 0;
		}
		if (e.tag != TAG_ITEM)
			return -EBADMSG;
		if (e.length == UNDEFINED_LENGTH) {
			if (fragments)
				return -EBADMSG;
			ret = parse_item(r, s, false, depth + 1);
		} else {
			struct region sub = {
				.buf = r->buf,
				.pos = r->pos,
				.short_err = -EBADMSG,
			};

			ret = need(r, e.length);
			sub.end = ret == 0 ? r->pos + e.length : r->pos;
			if (ret == 0 && !fragments)
				ret = parse_item(&sub, s, true, depth + 1);
			if (ret == 0)
				r->pos += e.length;
		}
		if (ret < 0)
			return ret;
	}
}

static int parse_item(struct region *r, const struct syntax *s, bool bounded, int depth)
{
	struct elem e;
	int ret;

	for (;;) {
		if (bounded && r->pos == r->end)
			return 0;
		ret = read_header(r, s, &e);
		if (ret < 0)
			return ret;
		if (e.tag == TAG_ITEM_END) {
			if (bounded || e.length != 0)
				return -EBADMSG;
			return 0;
		}
		if ((e.tag >> 16) == 0xfffe)
			return -EBADMSG;
		ret = skip_value(r, s, &e, depth);
		if (ret < 0)
			return ret;
	}
}

/* Copies a string value into dst (size cap + 1): leading spaces and
 * trailing spaces and NULs dropped, cut at an embedded NUL, truncated. */
static void copy_value(char *dst, size_t cap, const uint8_t *v, size_t len)
{
	const uint8_t *nul = memchr(v, '\0', len);
	size_t n;

	if (nul != NULL)
		len = (size_t)(nul - v);
	while (len > 0 && v[0] == ' ') {
		v++;
		len--;
	}
	while (len > 0 && v[len - 1] == ' ')
		len--;
	n = len < cap ? len : cap;
	memcpy(dst, v, n);
	dst[n] = '\0';
	medfs_dicom_sanitize(dst);
}

void medfs_dicom_sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* The field of out a top-level tag fills, or NULL. */
static char *field_for(struct medfs_dicom_ids *out, uint32_t tag, size_t *cap)
{
	*cap = MEDFS_DICOM_UID_MAX;
	switch (tag) {
	case TAG_MEDIA_SOP_CLASS:
	case TAG_SOP_CLASS:
		return out->sop_class_uid;
	case TAG_MEDIA_SOP_INSTANCE:
	case TAG_SOP_INSTANCE:
		return out->sop_uid;
	case TAG_PATIENT_ID:
		return out->patient_id;
	case TAG_STUDY:
		return out->study_uid;
	case TAG_SERIES:
		return out->series_uid;
	case TAG_MODALITY:
		*cap = MEDFS_DICOM_CS_MAX;
		return out->modality;
	default:
		return NULL;
	}
}

/* Stores the value of e at r->pos into its field, when it has one and a
 * non-empty value (a data set value overrides the meta group's). */
static int take_value(struct region *r, const struct elem *e, struct medfs_dicom_ids *out)
{
	char tmp[MEDFS_DICOM_UID_MAX + 1];
	size_t cap;
	char *dst;
	int ret;

	if (e->length == UNDEFINED_LENGTH)
		return -EBADMSG; /* strings are never sequences */
	ret = need(r, e->length);
	if (ret < 0)
		return ret;
	dst = field_for(out, e->tag, &cap);
	if (dst != NULL) {
		copy_value(tmp, cap, r->buf + r->pos, e->length);
		if (tmp[0] != '\0')
			memcpy(dst, tmp, strlen(tmp) + 1);
		sodium_memzero(tmp, sizeof(tmp)); /* patient data */
	}
	r->pos += e->length;
	return 0;
}

static bool has_id(const struct medfs_dicom_ids *out)
{
	return out->patient_id[0] || out->study_uid[0] || out->series_uid[0] ||
	       out->sop_uid[0];
}

/* The syntax of the data set. Without a transfer syntax UID, guesses from
 * the first element as other readers do: two capital letters where an
 * explicit VR would be. */
static int data_set_syntax(const struct region *r, const char *ts, struct syntax *s)
{
	s->big_endian = false;
	s->explicit_vr = true;
	if (strcmp(ts, TS_IMPLICIT_LE) == 0) {
		s->explicit_vr = false;
	} else if (strcmp(ts, TS_EXPLICIT_BE) == 0) {
		s->big_endian = true;
	} else if (ts[0] == '\0') {
		int ret = need(r, 6);

		if (ret < 0)
			return ret;
		s->explicit_vr =
			is_upper(r->buf[r->pos + 4]) && is_upper(r->buf[r->pos + 5]);
	}
	return 0;
}

enum { PH_PREFIX, PH_META, PH_SYNTAX, PH_DATA, PH_DONE };

void medfs_dicom_scan_init(struct medfs_dicom_scan *sc)
{
	memset(sc, 0, sizeof(*sc));
	sc->phase = PH_PREFIX;
	sc->result = -EAGAIN;
	sc->need = MEDFS_DICOM_PREFIX_LEN;
}

static void seen_to(struct medfs_dicom_scan *sc, uint64_t end)
{
	if (end > sc->seen)
		sc->seen = end;
}

static int finish(struct medfs_dicom_scan *sc, int result)
{
	sc->phase = PH_DONE;
	sc->result = result;
	sc->need = 0;
	return result;
}

/* More bytes wanted: n of them from the element at r->pos on. */
static int want(struct medfs_dicom_scan *sc, uint64_t base, const struct region *r,
		uint64_t n)
{
	sc->pos = base + r->pos;
	sc->need = n > SIZE_MAX ? SIZE_MAX : (size_t)n;
	return -EAGAIN;
}

/* One element of the meta group at r->pos. Returns 1 when the group
 * ended before it, 0 after it, or an error. */
static int meta_element(struct medfs_dicom_scan *sc, uint64_t base, struct region *r)
{
	struct elem e;
	int ret;

	if (need(r, 4) < 0)
		return want(sc, base, r, 4);
	if ((peek_tag(r, &meta_syntax) >> 16) != 0x0002) {
		if (sc->have_group_length && base + r->pos != sc->group_end)
			return -EBADMSG;
		return 1;
	}
	if (sc->have_group_length && base + r->pos >= sc->group_end)
		return -EBADMSG; /* group 0002 runs past its stated length */
	ret = read_header(r, &meta_syntax, &e);
	if (ret == -EAGAIN)
		return want(sc, base, r, 12);
	if (ret < 0)
		return ret;
	if (e.length == UNDEFINED_LENGTH)
		return -EBADMSG;
	if (e.tag == TAG_META_LENGTH || e.tag == TAG_TRANSFER_SYNTAX ||
	    e.tag == TAG_MEDIA_SOP_CLASS || e.tag == TAG_MEDIA_SOP_INSTANCE) {
		if (need(r, e.length) < 0) {
			r->pos -= 8 + (short_vr(e.vr) ? 0 : 4);
			return want(sc, base, r, 12 + (uint64_t)e.length);
		}
	}
	if (e.tag == TAG_META_LENGTH) {
		if (e.length != 4 || base + r->pos != MEDFS_DICOM_PREFIX_LEN + 8)
			return -EBADMSG;
		sc->group_end = base + r->pos + 4 + get32(r->buf + r->pos, false);
		sc->have_group_length = 1;
	} else if (e.tag == TAG_TRANSFER_SYNTAX) {
		copy_value(sc->ts, sizeof(sc->ts) - 1, r->buf + r->pos, e.length);
	} else if (e.tag == TAG_MEDIA_SOP_CLASS || e.tag == TAG_MEDIA_SOP_INSTANCE) {
		return take_value(r, &e, &sc->ids);
	}
	r->pos += e.length; /* may leave the buffer: the value is not needed */
	return 0;
}

/* One top-level element of the data set at r->pos. Returns 1 at the
 * first tag after the last one wanted, 0 after the element, or an error. */
static int data_element(struct medfs_dicom_scan *sc, uint64_t base, struct region *r)
{
	const struct syntax s = { .explicit_vr = sc->explicit_vr,
				  .big_endian = sc->big_endian };
	size_t start = r->pos;
	struct elem e;
	int ret;

	if (need(r, 4) < 0)
		return want(sc, base, r, 4);
	e.tag = peek_tag(r, &s);
	if ((e.tag >> 16) == 0xfffe)
		return -EBADMSG;
	if (e.tag > TAG_LAST_WANTED)
		return 1;
	ret = read_header(r, &s, &e);
	if (ret == -EAGAIN) {
		r->pos = start;
		return want(sc, base, r, 12);
	}
	if (ret < 0)
		return ret;
	if (field_for(&sc->ids, e.tag, &(size_t){ 0 }) != NULL) {
		if (e.length != UNDEFINED_LENGTH && need(r, e.length) < 0) {
			uint64_t n = r->pos - start + (uint64_t)e.length;

			r->pos = start;
			return want(sc, base, r, n);
		}
		return take_value(r, &e, &sc->ids);
	}
	if (e.length != UNDEFINED_LENGTH && need(r, e.length) < 0) {
		uint64_t n = r->pos - start + (uint64_t)e.length;

		/* A sequence small enough is read and checked; any other
		 * value is skipped unread. */
		if (e.vr[0] == 'S' && e.vr[1] == 'Q' &&
		    e.length <= MEDFS_DICOM_CHECK_MAX) {
			r->pos = start;
			return want(sc, base, r, n);
		}
		r->pos += e.length;
		return 0;
	}
	ret = skip_value(r, &s, &e, 0);
	if (ret == -EAGAIN) {
		/* An undefined length ran out of the buffer: twice as much. */
		uint64_t n = 2 * (uint64_t)(r->end - start);

		r->pos = start;
		return want(sc, base, r, n);
	}
	return ret;
}

int medfs_dicom_scan_feed(struct medfs_dicom_scan *sc, const uint8_t *buf, size_t len)
{
	struct region r = { .buf = buf, .pos = 0, .end = len, .short_err = -EAGAIN };
	uint64_t base = sc->pos;
	struct syntax s;
	int ret;

	if (sc->phase == PH_DONE)
		return sc->result;
	if (sc->phase == PH_PREFIX) {
		if (len > MEDFS_DICOM_PREAMBLE_LEN) {
			size_t n = len - MEDFS_DICOM_PREAMBLE_LEN;

			n = n < 4 ? n : 4;
			if (memcmp(buf + MEDFS_DICOM_PREAMBLE_LEN, "DICM", n) != 0) {
				seen_to(sc, MEDFS_DICOM_PREAMBLE_LEN + n);
				return finish(sc, -ENOENT);
			}
		}
		if (len < MEDFS_DICOM_PREFIX_LEN)
			return want(sc, base, &r, MEDFS_DICOM_PREFIX_LEN);
		r.pos = MEDFS_DICOM_PREFIX_LEN;
		seen_to(sc, MEDFS_DICOM_PREFIX_LEN);
		sc->pos = MEDFS_DICOM_PREFIX_LEN;
		sc->phase = PH_META;
	}
	while (sc->phase == PH_META) {
		if (r.pos > r.end)
			return want(sc, base, &r, 4);
		ret = meta_element(sc, base, &r);
		if (ret == -EAGAIN)
			return ret;
		if (ret < 0) {
			seen_to(sc, base + len);
			return finish(sc, ret);
		}
		if (ret == 1)
			sc->phase = PH_SYNTAX;
		sc->pos = base + r.pos;
		seen_to(sc, base + (r.pos < r.end ? r.pos : r.end));
	}
	if (sc->phase == PH_SYNTAX) {
		if (strcmp(sc->ts, TS_DEFLATED) == 0)
			return finish(sc, has_id(&sc->ids) ? 0 : -ENOENT);
		ret = data_set_syntax(&r, sc->ts, &s);
		if (ret < 0)
			return want(sc, base, &r, 6);
		seen_to(sc, base + r.pos + (sc->ts[0] ? 0 : 6));
		sc->explicit_vr = s.explicit_vr;
		sc->big_endian = s.big_endian;
		sc->phase = PH_DATA;
	}
	for (;;) {
		if (r.pos > r.end)
			return want(sc, base, &r, 4);
		ret = data_element(sc, base, &r);
		if (ret == -EAGAIN)
			return ret;
		if (ret < 0) {
			seen_to(sc, base + len);
			return finish(sc, ret);
		}
		if (ret == 1) {
			seen_to(sc, base + r.pos + 4);
			return finish(sc, has_id(&sc->ids) ? 0 : -ENOENT);
		}
		sc->pos = base + r.pos;
		seen_to(sc, base + (r.pos < r.end ? r.pos : r.end));
	}
}

int medfs_dicom_parse(const uint8_t *buf, size_t len, struct medfs_dicom_ids *out)
{
	struct medfs_dicom_scan sc;
	int ret;

	medfs_dicom_scan_init(&sc);
	ret = medfs_dicom_scan_feed(&sc, buf, len);
	*out = sc.ids;
	return ret;
}
