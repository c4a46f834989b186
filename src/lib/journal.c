/* medfs: the access journal: record encoding, framing, the epoch keys and
 * the writer (layout in doc/JOURNAL.md).
 *
 * The writer holds one epoch's secrets at a time: seed S_i, record key E_i
 * and signing key sk_i. A checkpoint signs everything before it with sk_i,
 * then moves to S_{i+1} = BLAKE2b(key = S_i, "MDJ-evolve") and overwrites
 * S_i, E_i, sk_i: whoever takes the host later cannot forge or silently
 * change a record sealed by a checkpoint. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "journal_int.h"
#include "medfs/crypto.h"
#include "medfs/journal.h"
#include "medfs/log.h"

_Static_assert(MEDFS_JOURNAL_SEALED_SEED_LEN == MEDFS_JOURNAL_SEED_LEN +
							MEDFS_JOURNAL_VAULT_ID_LEN +
							crypto_box_SEALBYTES,
	       "sealed seed length");
_Static_assert(SEG_OFF_MAC + MEDFS_JOURNAL_HASH_LEN == MEDFS_JOURNAL_SEGMENT_HEADER_LEN,
	       "segment header length");
_Static_assert(FRAME_OFF_NONCE + NONCE_LEN == MEDFS_JOURNAL_FRAME_HEADER_LEN,
	       "frame header length");
_Static_assert(NONCE_LEN == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce length");
_Static_assert(MEDFS_JOURNAL_TAG_LEN == crypto_aead_xchacha20poly1305_ietf_ABYTES,
	       "tag length");
_Static_assert(MEDFS_JOURNAL_SIG_LEN == crypto_sign_BYTES, "signature length");
_Static_assert(MEDFS_AUDITOR_PK_LEN == crypto_box_PUBLICKEYBYTES, "auditor key length");

/* ---- record bodies: TLV (u16 tag, u32 length, value), tags ascending ---- */

enum tlv_tag {
	T_TIME = 1,
	T_OP = 2,
	T_UID = 3,
	T_GID = 4,
	T_PID = 5,
	T_USER = 6,
	T_PROGRAM = 7,
	T_PATH = 8,
	T_PATH2 = 9,
	T_RESULT = 10,
	T_FLAGS = 11,
	T_RULE_LINE = 12,
	T_EMERGENCY = 13,
	T_BYTES = 14,
	T_OFFSET = 15,
	T_RANGES = 16,
	T_PATIENT_ID = 17,
	T_STUDY_UID = 18,
	T_SOP_UID = 19,
	T_SOP_CLASS_UID = 20,
	T_MODALITY = 21,
	T_DETAIL = 22,
	T_PRIOR_PATIENT_ID = 23,
	T_PRIOR_STUDY_UID = 24,
	T_FORMER_PATIENT_IDS = 25,
	T_COUNT = 26,
	T_CP_SEQ = 32,
	T_CP_EPOCH = 33,
	T_CP_HASH = 34,
	T_CP_NEXT_PK = 35,
	T_CP_SIG = 36,
	T_CP_FLAGS = 37,
};

#define TLV_HEAD 6

enum field_kind { K_U32, K_U64, K_STR, K_RANGES, K_RAW };

/* What a field's absence means: the value that is not written. */
enum field_dflt { D_ZERO, D_ALWAYS, D_MINUS1 };

struct field {
	uint16_t tag;
	uint8_t kind;
	uint8_t in_cp; /* lives in struct medfs_journal_checkpoint */
	uint8_t dflt;
	uint8_t raw_len;
	size_t off;
};

#define REC(f) offsetof(struct medfs_journal_record, f)
#define CP(f) offsetof(struct medfs_journal_checkpoint, f)

static const struct field fields[] = {
	{ T_TIME, K_U64, 0, D_ALWAYS, 0, REC(time_us) },
	{ T_OP, K_U32, 0, D_ALWAYS, 0, REC(op) },
	{ T_UID, K_U32, 0, D_ZERO, 0, REC(uid) },
	{ T_GID, K_U32, 0, D_ZERO, 0, REC(gid) },
	{ T_PID, K_U32, 0, D_ZERO, 0, REC(pid) },
	{ T_USER, K_STR, 0, D_ZERO, 0, REC(user) },
	{ T_PROGRAM, K_STR, 0, D_ZERO, 0, REC(program) },
	{ T_PATH, K_STR, 0, D_ZERO, 0, REC(path) },
	{ T_PATH2, K_STR, 0, D_ZERO, 0, REC(path2) },
	{ T_RESULT, K_U32, 0, D_ZERO, 0, REC(result) },
	{ T_FLAGS, K_U32, 0, D_ZERO, 0, REC(flags) },
	{ T_RULE_LINE, K_U32, 0, D_ZERO, 0, REC(rule_line) },
	{ T_EMERGENCY, K_U32, 0, D_ZERO, 0, REC(emergency) },
	{ T_BYTES, K_U64, 0, D_ZERO, 0, REC(bytes) },
	{ T_OFFSET, K_U64, 0, D_MINUS1, 0, REC(offset) },
	{ T_RANGES, K_RANGES, 0, D_ZERO, 0, REC(ranges) },
	{ T_PATIENT_ID, K_STR, 0, D_ZERO, 0, REC(patient_id) },
	{ T_STUDY_UID, K_STR, 0, D_ZERO, 0, REC(study_uid) },
	{ T_SOP_UID, K_STR, 0, D_ZERO, 0, REC(sop_uid) },
	{ T_SOP_CLASS_UID, K_STR, 0, D_ZERO, 0, REC(sop_class_uid) },
	{ T_MODALITY, K_STR, 0, D_ZERO, 0, REC(modality) },
	{ T_DETAIL, K_STR, 0, D_ZERO, 0, REC(detail) },
	{ T_PRIOR_PATIENT_ID, K_STR, 0, D_ZERO, 0, REC(prior_patient_id) },
	{ T_PRIOR_STUDY_UID, K_STR, 0, D_ZERO, 0, REC(prior_study_uid) },
	{ T_FORMER_PATIENT_IDS, K_STR, 0, D_ZERO, 0, REC(former_patient_ids) },
	{ T_COUNT, K_U64, 0, D_ZERO, 0, REC(count) },
	{ T_CP_SEQ, K_U64, 1, D_ALWAYS, 0, CP(seq) },
	{ T_CP_EPOCH, K_U64, 1, D_ALWAYS, 0, CP(epoch) },
	{ T_CP_HASH, K_RAW, 1, D_ALWAYS, MEDFS_JOURNAL_HASH_LEN, CP(hash) },
	{ T_CP_NEXT_PK, K_RAW, 1, D_ALWAYS, MEDFS_JOURNAL_SIGN_PK_LEN, CP(next_pk) },
	{ T_CP_SIG, K_RAW, 1, D_ALWAYS, MEDFS_JOURNAL_SIG_LEN, CP(sig) },
	{ T_CP_FLAGS, K_U32, 1, D_ZERO, 0, CP(flags) },
};

#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static const char *const op_names[] = {
	[MEDFS_OP_MOUNT] = "mount",
	[MEDFS_OP_UNMOUNT] = "unmount",
	[MEDFS_OP_POLICY_LOAD] = "policy-load",
	[MEDFS_OP_OPEN] = "open",
	[MEDFS_OP_READ] = "read",
	[MEDFS_OP_WRITE] = "write",
	[MEDFS_OP_CREATE] = "create",
	[MEDFS_OP_DELETE] = "delete",
	[MEDFS_OP_RENAME] = "rename",
	[MEDFS_OP_TRUNCATE] = "truncate",
	[MEDFS_OP_SETATTR] = "setattr",
	[MEDFS_OP_XATTR] = "xattr",
	[MEDFS_OP_DENIED] = "denied",
	[MEDFS_OP_INTEGRITY] = "integrity",
	[MEDFS_OP_EMERGENCY_START] = "emergency-start",
	[MEDFS_OP_EMERGENCY_END] = "emergency-end",
	[MEDFS_OP_SET_AUDITOR] = "set-auditor",
	[MEDFS_OP_MKDIR] = "mkdir",
	[MEDFS_OP_SYMLINK] = "symlink",
	[MEDFS_OP_LIST] = "list",
	[MEDFS_OP_ATTRIBUTION] = "attribution",
	[MEDFS_OP_JOURNAL_OPEN] = "journal-open",
	[MEDFS_OP_DENIED_SUMMARY] = "denied-summary",
	[MEDFS_OP_JOURNAL_OUTAGE] = "journal-outage",
	[MEDFS_OP_UNLOCK_FAILED] = "unlock-failed",
	[MEDFS_OP_KEY_CHANGE] = "key-change",
	[MEDFS_OP_REPAIR] = "repair",
};

const char *medfs_journal_op_name(uint32_t op)
{
	if (op == MEDFS_OP_CHECKPOINT)
		return "checkpoint";
	if (op < sizeof(op_names) / sizeof(op_names[0]))
		return op_names[op];
	return NULL;
}

static const void *field_ptr(const struct field *fl, const struct medfs_journal_record *r,
			     const struct medfs_journal_checkpoint *cp)
{
	return (const uint8_t *)(fl->in_cp ? (const void *)cp : (const void *)r) +
	       fl->off;
}

/* The value bytes of one field of r/cp, or 0 when it is left out. */
static int field_len(const struct field *fl, const struct medfs_journal_record *r,
		     const struct medfs_journal_checkpoint *cp, size_t *len)
{
	const void *p = field_ptr(fl, r, cp);
	uint32_t u32;
	uint64_t u64;
	const char *s;

	*len = 0;
	switch (fl->kind) {
	case K_U32:
		memcpy(&u32, p, 4);
		if (u32 == 0 && fl->dflt == D_ZERO)
			return 0;
		*len = 4;
		return 1;
	case K_U64:
		memcpy(&u64, p, 8);
		if ((u64 == 0 && fl->dflt == D_ZERO) ||
		    (u64 == UINT64_MAX && fl->dflt == D_MINUS1))
			return 0;
		*len = 8;
		return 1;
	case K_STR:
		memcpy(&s, p, sizeof(s));
		if (!s)
			return 0;
		*len = strnlen(s, MEDFS_JOURNAL_STRING_MAX + 1);
		if (*len > MEDFS_JOURNAL_STRING_MAX)
			return -EINVAL;
		return 1;
	case K_RANGES:
		if (r->nranges == 0)
			return 0;
		if (!r->ranges)
			return -EINVAL;
		if (r->nranges > MEDFS_JOURNAL_BODY_MAX / 16)
			return -E2BIG;
		*len = r->nranges * 16;
		return 1;
	default:
		*len = fl->raw_len;
		return 1;
	}
}

int jr_encode(const struct medfs_journal_record *r,
	      const struct medfs_journal_checkpoint *cp, uint8_t *out, size_t cap,
	      size_t *len)
{
	size_t total = 0, pos = 0, l;
	int present;

	*len = 0;
	if (r->op == 0 || (r->op == MEDFS_OP_CHECKPOINT) != (cp != NULL))
		return -EINVAL;
	for (size_t i = 0; i < NFIELDS; i++) {
		if (fields[i].in_cp && !cp)
			continue;
		present = field_len(&fields[i], r, cp, &l);
		if (present < 0)
			return present;
		if (present)
			total += TLV_HEAD + l;
		if (total > MEDFS_JOURNAL_BODY_MAX)
			return -E2BIG;
	}
	*len = total;
	if (!out || cap < total)
		return -ENOBUFS;
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct field *fl = &fields[i];
		const void *p;

		if (fl->in_cp && !cp)
			continue;
		if (field_len(fl, r, cp, &l) <= 0)
			continue;
		p = field_ptr(fl, r, cp);
		out[pos] = (uint8_t)fl->tag;
		out[pos + 1] = (uint8_t)(fl->tag >> 8);
		jr_le32_put(out + pos + 2, (uint32_t)l);
		pos += TLV_HEAD;
		switch (fl->kind) {
		case K_U32: {
			uint32_t v;

			memcpy(&v, p, 4);
			jr_le32_put(out + pos, v);
			break;
		}
		case K_U64: {
			uint64_t v;

			memcpy(&v, p, 8);
			jr_le64_put(out + pos, v);
			break;
		}
		case K_STR: {
			const char *s;

			memcpy(&s, p, sizeof(s));
			memcpy(out + pos, s, l);
			break;
		}
		case K_RANGES:
			for (size_t k = 0; k < r->nranges; k++) {
				jr_le64_put(out + pos + 16 * k, r->ranges[k].offset);
				jr_le64_put(out + pos + 16 * k + 8, r->ranges[k].length);
			}
			break;
		default:
			memcpy(out + pos, p, l);
			break;
		}
		pos += l;
	}
	return 0;
}

int medfs_journal_record_encode(const struct medfs_journal_record *r, uint8_t *out,
				size_t cap, size_t *len)
{
	*len = 0;
	if (r->op == MEDFS_OP_CHECKPOINT)
		return -EINVAL;
	return jr_encode(r, NULL, out, cap, len);
}

void medfs_journal_record_buf_free(struct medfs_journal_record_buf *b)
{
	if (b->mem) {
		sodium_memzero(b->mem, b->mem_len);
		free(b->mem);
	}
	memset(b, 0, sizeof(*b));
	b->rec.offset = -1;
}

int medfs_journal_record_decode(const uint8_t *in, size_t len,
				struct medfs_journal_record_buf *out)
{
	const uint8_t *val[NFIELDS] = { NULL };
	uint32_t vlen[NFIELDS] = { 0 };
	size_t pos = 0, need = 0, mpos = 0;
	unsigned int last = 0;
	int is_cp, any_cp = 0;
	uint8_t *mem;

	medfs_journal_record_buf_free(out);
	if (len > MEDFS_JOURNAL_BODY_MAX)
		return -EBADMSG;
	while (pos < len) {
		unsigned int tag;
		uint32_t l;
		size_t i;

		if (len - pos < TLV_HEAD)
			return -EBADMSG;
		tag = in[pos] | (unsigned int)in[pos + 1] << 8;
		l = jr_le32_get(in + pos + 2);
		pos += TLV_HEAD;
		if (l > len - pos || tag <= last)
			return -EBADMSG;
		last = tag;
		for (i = 0; i < NFIELDS && fields[i].tag != tag; i++)
			;
		if (i == NFIELDS) {
			/* A later version's field: authenticated, so skip it. */
			pos += l;
			continue;
		}
		switch (fields[i].kind) {
		case K_U32:
			if (l != 4)
				return -EBADMSG;
			break;
		case K_U64:
			if (l != 8)
				return -EBADMSG;
			break;
		case K_STR:
			if (l > MEDFS_JOURNAL_STRING_MAX || memchr(in + pos, 0, l))
				return -EBADMSG;
			need += l + 1;
			break;
		case K_RANGES:
			if (l == 0 || l % 16)
				return -EBADMSG;
			need += l;
			break;
		default:
			if (l != fields[i].raw_len)
				return -EBADMSG;
			break;
		}
		if (fields[i].in_cp)
			any_cp = 1;
		val[i] = in + pos;
		vlen[i] = l;
		pos += l;
	}
	/* Time and op always; a checkpoint has all its fields, others none. */
	if (!val[0] || !val[1])
		return -EBADMSG;
	is_cp = jr_le32_get(val[1]) == MEDFS_OP_CHECKPOINT;
	if (jr_le32_get(val[1]) == 0 || (any_cp && !is_cp))
		return -EBADMSG;
	for (size_t i = 0; i < NFIELDS; i++)
		if (is_cp && fields[i].in_cp && fields[i].dflt == D_ALWAYS && !val[i])
			return -EBADMSG;

	/* Ranges first: malloc's alignment suits them. */
	mem = malloc(need ? need : 1);
	if (!mem)
		return -ENOMEM;
	out->mem = mem;
	out->mem_len = need;
	for (size_t i = 0; i < NFIELDS; i++) {
		if (fields[i].kind == K_RANGES && val[i]) {
			struct medfs_journal_range *rg =
				(struct medfs_journal_range *)mem;

			out->rec.nranges = vlen[i] / 16;
			for (size_t k = 0; k < out->rec.nranges; k++) {
				rg[k].offset = jr_le64_get(val[i] + 16 * k);
				rg[k].length = jr_le64_get(val[i] + 16 * k + 8);
			}
			out->rec.ranges = rg;
			mpos = vlen[i];
		}
	}
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct field *fl = &fields[i];
		uint8_t *p =
			(uint8_t *)(fl->in_cp ? (void *)&out->cp : (void *)&out->rec) +
			fl->off;

		if (!val[i])
			continue;
		switch (fl->kind) {
		case K_U32: {
			uint32_t v = jr_le32_get(val[i]);

			memcpy(p, &v, 4);
			break;
		}
		case K_U64: {
			uint64_t v = jr_le64_get(val[i]);

			memcpy(p, &v, 8);
			break;
		}
		case K_STR: {
			char *s = (char *)mem + mpos;

			memcpy(s, val[i], vlen[i]);
			s[vlen[i]] = '\0';
			mpos += vlen[i] + 1;
			memcpy(p, &s, sizeof(s));
			break;
		}
		case K_RANGES:
			break;
		default:
			memcpy(p, val[i], vlen[i]);
			break;
		}
	}
	if (is_cp)
		out->cp.time_us = out->rec.time_us;
	return 0;
}

/* ---- framing ---- */

int medfs_journal_segment_header_parse(const uint8_t *buf, size_t len,
				       struct medfs_journal_segment_header *h)
{
	if (len < MEDFS_JOURNAL_SEGMENT_HEADER_LEN)
		return -EAGAIN;
	if (memcmp(buf, SEG_MAGIC, SEG_MAGIC_PREFIX_LEN) != 0)
		return -EBADMSG;
	if (memcmp(buf, SEG_MAGIC, MAGIC_LEN) == 0)
		h->version = 2;
	else if (memcmp(buf, SEG_MAGIC_V1, MAGIC_LEN) == 0)
		h->version = 1;
	else
		return -EPROTONOSUPPORT;
	h->segment = jr_le64_get(buf + SEG_OFF_NUMBER);
	h->start_epoch = jr_le64_get(buf + SEG_OFF_EPOCH);
	h->start_seq = jr_le64_get(buf + SEG_OFF_SEQ);
	h->created_us = jr_le64_get(buf + SEG_OFF_CREATED);
	memcpy(h->prev_hash, buf + SEG_OFF_PREV, sizeof(h->prev_hash));
	memcpy(h->sealed_seed, buf + SEG_OFF_SEALED, sizeof(h->sealed_seed));
	memcpy(h->mac, buf + SEG_OFF_MAC, sizeof(h->mac));
	return 0;
}

ssize_t medfs_journal_frame_parse(const uint8_t *buf, size_t len,
				  struct medfs_journal_frame *f)
{
	uint32_t rest;

	if (len < FRAME_LEN_FIELD)
		return 0;
	rest = jr_le32_get(buf);
	if (rest < FRAME_REST_MIN || rest > FRAME_REST_MAX)
		return -EBADMSG;
	if (len - FRAME_LEN_FIELD < rest)
		return 0;
	f->len = FRAME_LEN_FIELD + (size_t)rest;
	f->epoch = jr_le64_get(buf + FRAME_OFF_EPOCH);
	f->seq = jr_le64_get(buf + FRAME_OFF_SEQ);
	f->nonce = buf + FRAME_OFF_NONCE;
	f->ct = buf + MEDFS_JOURNAL_FRAME_HEADER_LEN;
	f->ct_len = f->len - MEDFS_JOURNAL_FRAME_HEADER_LEN;
	return (ssize_t)f->len;
}

void medfs_journal_segment_name(char out[MEDFS_JOURNAL_SEGMENT_NAME_LEN],
				uint64_t segment)
{
	snprintf(out, MEDFS_JOURNAL_SEGMENT_NAME_LEN, "seg-%016" PRIu64 ".mdj",
		 segment % UINT64_C(10000000000000000));
}

int medfs_journal_segment_name_parse(const char *name, uint64_t *segment)
{
	uint64_t v = 0;

	if (strlen(name) != MEDFS_JOURNAL_SEGMENT_NAME_LEN - 1 ||
	    memcmp(name, "seg-", 4) || strcmp(name + 20, ".mdj"))
		return -EINVAL;
	for (int i = 4; i < 20; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(name[i] - '0');
	}
	*segment = v;
	return 0;
}

/* ---- epoch keys ---- */

#define CTX_EVOLVE "MDJ-evolve"
#define CTX_ENC "MDJ-enc"
#define CTX_SIGN "MDJ-sign"
#define CTX_ID "MDJ-id"

void medfs_journal_seed_evolve(uint8_t next[MEDFS_JOURNAL_SEED_LEN],
			       const uint8_t cur[MEDFS_JOURNAL_SEED_LEN])
{
	uint8_t t[MEDFS_JOURNAL_SEED_LEN];

	crypto_generichash(t, sizeof(t), (const uint8_t *)CTX_EVOLVE, strlen(CTX_EVOLVE),
			   cur, MEDFS_JOURNAL_SEED_LEN);
	memcpy(next, t, sizeof(t));
	sodium_memzero(t, sizeof(t));
}

void jr_keys_derive(struct jr_keys *k)
{
	crypto_generichash(k->enc, sizeof(k->enc), (const uint8_t *)CTX_ENC,
			   strlen(CTX_ENC), k->seed, sizeof(k->seed));
	crypto_generichash(k->tmp, sizeof(k->tmp), (const uint8_t *)CTX_SIGN,
			   strlen(CTX_SIGN), k->seed, sizeof(k->seed));
	crypto_sign_seed_keypair(k->pk, k->sk, k->tmp);
	sodium_memzero(k->tmp, sizeof(k->tmp));
}

void jr_keys_evolve(struct jr_keys *k)
{
	crypto_generichash(k->tmp, sizeof(k->tmp), (const uint8_t *)CTX_EVOLVE,
			   strlen(CTX_EVOLVE), k->seed, sizeof(k->seed));
	memcpy(k->seed, k->tmp, sizeof(k->seed));
	sodium_memzero(k->tmp, sizeof(k->tmp));
	k->epoch++;
	jr_keys_derive(k);
}

void jr_keys_set(struct jr_keys *k, const uint8_t seed[MEDFS_JOURNAL_SEED_LEN],
		 uint64_t epoch)
{
	memmove(k->seed, seed, sizeof(k->seed));
	k->epoch = epoch;
	jr_keys_derive(k);
}

int jr_keys_forward(struct jr_keys *k, uint64_t epoch)
{
	if (epoch < k->epoch || epoch - k->epoch > EPOCH_JUMP_MAX)
		return -ERANGE;
	while (k->epoch < epoch) {
		/* Only the last step needs the keys. */
		crypto_generichash(k->tmp, sizeof(k->tmp), (const uint8_t *)CTX_EVOLVE,
				   strlen(CTX_EVOLVE), k->seed, sizeof(k->seed));
		memcpy(k->seed, k->tmp, sizeof(k->seed));
		k->epoch++;
	}
	sodium_memzero(k->tmp, sizeof(k->tmp));
	jr_keys_derive(k);
	return 0;
}

void jr_journal_id(uint8_t id[MEDFS_JOURNAL_ID_LEN],
		   const uint8_t seed[MEDFS_JOURNAL_SEED_LEN])
{
	crypto_generichash(id, MEDFS_JOURNAL_ID_LEN, (const uint8_t *)CTX_ID,
			   strlen(CTX_ID), seed, MEDFS_JOURNAL_SEED_LEN);
}

void jr_header_mac(uint8_t mac[32], const uint8_t hdr[MEDFS_JOURNAL_SEGMENT_HEADER_LEN],
		   const uint8_t enc[32])
{
	crypto_generichash(mac, 32, hdr, SEG_OFF_MAC, enc, 32);
}

void jr_chain(uint8_t h[MEDFS_JOURNAL_HASH_LEN], const uint8_t *frame, size_t len)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, MEDFS_JOURNAL_HASH_LEN);
	crypto_generichash_update(&st, h, MEDFS_JOURNAL_HASH_LEN);
	crypto_generichash_update(&st, frame, len);
	crypto_generichash_final(&st, h, MEDFS_JOURNAL_HASH_LEN);
}

static void frame_ad(uint8_t ad[AD_LEN], uint64_t segment, uint64_t epoch, uint64_t seq,
		     const uint8_t prev[MEDFS_JOURNAL_HASH_LEN])
{
	jr_le64_put(ad, segment);
	jr_le64_put(ad + 8, epoch);
	jr_le64_put(ad + 16, seq);
	memcpy(ad + 24, prev, MEDFS_JOURNAL_HASH_LEN);
}

int jr_frame_open(const struct jr_keys *k, uint64_t segment,
		  const uint8_t prev[MEDFS_JOURNAL_HASH_LEN],
		  const struct medfs_journal_frame *f, uint8_t *body)
{
	uint8_t ad[AD_LEN];

	frame_ad(ad, segment, f->epoch, f->seq, prev);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(body, NULL, NULL, f->ct, f->ct_len,
						       ad, sizeof(ad), f->nonce,
						       k->enc) != 0) {
		sodium_memzero(body, f->ct_len - MEDFS_JOURNAL_TAG_LEN);
		return -EBADMSG;
	}
	return 0;
}

void jr_cp_message(uint8_t m[CP_MSG_LEN], uint64_t segment,
		   const struct medfs_journal_checkpoint *cp)
{
	jr_le64_put(m, segment);
	jr_le64_put(m + 8, cp->epoch);
	jr_le64_put(m + 16, cp->seq);
	memcpy(m + 24, cp->hash, 32);
	jr_le64_put(m + 56, cp->time_us);
	memcpy(m + 64, cp->next_pk, 32);
}

int jr_unseal_seed(const struct medfs_auditor_key *key,
		   const uint8_t sealed[MEDFS_JOURNAL_SEALED_SEED_LEN],
		   uint8_t seed[MEDFS_JOURNAL_SEED_LEN],
		   uint8_t vault_id[MEDFS_JOURNAL_VAULT_ID_LEN])
{
	uint8_t plain[MEDFS_JOURNAL_SEED_LEN + MEDFS_JOURNAL_VAULT_ID_LEN];

	if (!key->has_secret ||
	    crypto_box_seal_open(plain, sealed, MEDFS_JOURNAL_SEALED_SEED_LEN,
				 key->box_pk, key->box_sk) != 0) {
		sodium_memzero(plain, sizeof(plain));
		return -EKEYREJECTED;
	}
	memcpy(seed, plain, MEDFS_JOURNAL_SEED_LEN);
	memcpy(vault_id, plain + MEDFS_JOURNAL_SEED_LEN, MEDFS_JOURNAL_VAULT_ID_LEN);
	sodium_memzero(plain, sizeof(plain));
	return 0;
}

/* ---- HEAD and PRUNED ---- */

void jr_head_encode(uint8_t buf[HEAD_LEN], const struct jr_head *h)
{
	memcpy(buf, HEAD_MAGIC, MAGIC_LEN);
	jr_le64_put(buf + 8, h->segment);
	jr_le64_put(buf + 16, h->seq);
	memcpy(buf + 24, h->hash, MEDFS_JOURNAL_HASH_LEN);
	jr_le64_put(buf + 56, h->epoch);
	jr_le64_put(buf + 64, h->time_us);
	memcpy(buf + HEAD_SIGNED_LEN, h->sig, MEDFS_JOURNAL_SIG_LEN);
}

int jr_head_parse(const uint8_t *buf, size_t len, struct jr_head *h)
{
	if (len != HEAD_LEN || memcmp(buf, HEAD_MAGIC, MAGIC_LEN) != 0)
		return -EBADMSG;
	h->segment = jr_le64_get(buf + 8);
	h->seq = jr_le64_get(buf + 16);
	memcpy(h->hash, buf + 24, MEDFS_JOURNAL_HASH_LEN);
	h->epoch = jr_le64_get(buf + 56);
	h->time_us = jr_le64_get(buf + 64);
	memcpy(h->sig, buf + HEAD_SIGNED_LEN, MEDFS_JOURNAL_SIG_LEN);
	return 0;
}

int jr_head_check(const struct jr_head *h, const uint8_t pk[32])
{
	uint8_t buf[HEAD_LEN];

	jr_head_encode(buf, h);
	if (crypto_sign_verify_detached(h->sig, buf, HEAD_SIGNED_LEN, pk) != 0)
		return -EBADMSG;
	return 0;
}

static void head_sign(struct jr_head *h, const uint8_t sk[crypto_sign_SECRETKEYBYTES])
{
	uint8_t buf[HEAD_LEN];

	memset(h->sig, 0, sizeof(h->sig));
	jr_head_encode(buf, h);
	crypto_sign_detached(h->sig, NULL, buf, HEAD_SIGNED_LEN, sk);
}

int jr_pruned_parse(const uint8_t *buf, size_t len, struct jr_pruned *p,
		    const uint8_t sign_pk[32])
{
	uint64_t n;

	memset(p, 0, sizeof(*p));
	if (len < PRUNED_FIXED_LEN + MEDFS_JOURNAL_SIG_LEN ||
	    memcmp(buf, PRUNED_MAGIC, MAGIC_LEN))
		return -EBADMSG;
	n = jr_le64_get(buf + 184);
	if (n > PRUNED_MAX_REMOVED ||
	    len != PRUNED_FIXED_LEN + 8 * n + MEDFS_JOURNAL_SIG_LEN)
		return -EBADMSG;
	if (crypto_sign_verify_detached(buf + len - MEDFS_JOURNAL_SIG_LEN, buf,
					len - MEDFS_JOURNAL_SIG_LEN, sign_pk) != 0)
		return -EKEYREJECTED;
	p->time_us = jr_le64_get(buf + 8);
	p->first_kept = jr_le64_get(buf + 16);
	p->seq = jr_le64_get(buf + 24);
	p->epoch = jr_le64_get(buf + 32);
	memcpy(p->prev_hash, buf + 40, sizeof(p->prev_hash));
	memcpy(p->sealed_seed, buf + 72, sizeof(p->sealed_seed));
	memcpy(p->journal_id, buf + 168, sizeof(p->journal_id));
	p->nremoved = n;
	p->removed = malloc(n ? n * 8 : 1);
	if (!p->removed)
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++)
		p->removed[i] = jr_le64_get(buf + PRUNED_FIXED_LEN + 8 * i);
	memcpy(p->sig, buf + len - MEDFS_JOURNAL_SIG_LEN, sizeof(p->sig));
	return 0;
}

int jr_pruned_encode(struct jr_pruned *p, const uint8_t sign_sk[64], uint8_t **out,
		     size_t *len)
{
	size_t l;
	uint8_t *buf;

	if (p->nremoved > PRUNED_MAX_REMOVED)
		return -E2BIG;
	l = PRUNED_FIXED_LEN + 8 * p->nremoved + MEDFS_JOURNAL_SIG_LEN;
	buf = calloc(1, l);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, PRUNED_MAGIC, MAGIC_LEN);
	jr_le64_put(buf + 8, p->time_us);
	jr_le64_put(buf + 16, p->first_kept);
	jr_le64_put(buf + 24, p->seq);
	jr_le64_put(buf + 32, p->epoch);
	memcpy(buf + 40, p->prev_hash, sizeof(p->prev_hash));
	memcpy(buf + 72, p->sealed_seed, sizeof(p->sealed_seed));
	memcpy(buf + 168, p->journal_id, sizeof(p->journal_id));
	jr_le64_put(buf + 184, p->nremoved);
	for (uint64_t i = 0; i < p->nremoved; i++)
		jr_le64_put(buf + PRUNED_FIXED_LEN + 8 * i, p->removed[i]);
	crypto_sign_detached(p->sig, NULL, buf, l - MEDFS_JOURNAL_SIG_LEN, sign_sk);
	memcpy(buf + l - MEDFS_JOURNAL_SIG_LEN, p->sig, MEDFS_JOURNAL_SIG_LEN);
	*out = buf;
	*len = l;
	return 0;
}

/* ---- files ---- */

uint64_t jr_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int jr_write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int jr_pread_all(int fd, uint8_t *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pread(fd, buf, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ENODATA;
		buf += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Writes buf to dirfd/NAME.tmp (created and truncated, or, reserved, the
 * file jr_reserve_file made, overwritten in place), fsyncs it and renames
 * it over name; *renamed tells whether the rename was done (a failure
 * after it is the directory's fsync). */
static int replace(int dirfd, const char *name, const uint8_t *buf, size_t len,
		   int reserved, int *renamed)
{
	char tmp[64];
	int fd, ret = 0;

	*renamed = 0;
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(dirfd, tmp,
		    reserved ? O_WRONLY | O_CLOEXEC | O_NOFOLLOW
			     : O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC | O_NOFOLLOW,
		    0600);
	if (fd < 0)
		return -errno;
	if (reserved) {
		ssize_t n;

		do {
			n = pwrite(fd, buf, len, 0);
		} while (n < 0 && errno == EINTR);
		if (n < 0)
			ret = -errno;
		else if ((size_t)n != len)
			ret = -EIO; /* a reserved file takes it whole */
	} else {
		ret = jr_write_all(fd, buf, len);
	}
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		ret = -errno;
	if (ret < 0) {
		unlinkat(dirfd, tmp, 0);
		return ret;
	}
	*renamed = 1;
	return fsync(dirfd) < 0 ? -errno : 0;
}

int jr_replace_file(int dirfd, const char *name, const uint8_t *buf, size_t len)
{
	int renamed;

	return replace(dirfd, name, buf, len, 0, &renamed);
}

int jr_reserve_file(int dirfd, const char *name, size_t len)
{
	uint8_t zero[HEAD_LEN] = { 0 };
	char tmp[64];
	int fd, ret = 0;

	if (len > sizeof(zero))
		return -EINVAL;
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(dirfd, tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC | O_NOFOLLOW,
		    0600);
	if (fd < 0)
		return -errno;
	ret = jr_write_all(fd, zero, len);
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret < 0)
		unlinkat(dirfd, tmp, 0);
	return ret;
}

int jr_replace_reserved(int dirfd, const char *name, const uint8_t *buf, size_t len,
			int *renamed)
{
	return replace(dirfd, name, buf, len, 1, renamed);
}

int jr_read_file(int dirfd, const char *name, uint8_t **buf, size_t *len, size_t max)
{
	struct stat st;
	uint8_t *b = NULL;
	int fd, ret;

	*buf = NULL;
	*len = 0;
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		ret = -EFBIG;
		goto out;
	}
	b = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!b) {
		ret = -ENOMEM;
		goto out;
	}
	ret = jr_pread_all(fd, b, (size_t)st.st_size, 0);
	if (ret == -ENODATA)
		ret = -EBADMSG; /* shrank while read: a torn replacement */
	if (ret == 0) {
		*buf = b;
		*len = (size_t)st.st_size;
		b = NULL;
	}
out:
	free(b);
	close(fd);
	return ret;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int jr_list_segments(int dirfd, uint64_t **list, size_t *n)
{
	uint64_t *l = NULL, v;
	size_t cnt = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int fd, ret = 0;

	*list = NULL;
	*n = 0;
	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		ret = -errno;
		close(fd);
		return ret;
	}
	errno = 0;
	while ((de = readdir(d))) {
		if (medfs_journal_segment_name_parse(de->d_name, &v) < 0)
			continue;
		if (cnt == cap) {
			uint64_t *nl;

			cap = cap ? 2 * cap : 64;
			nl = realloc(l, cap * sizeof(*l));
			if (!nl) {
				ret = -ENOMEM;
				goto out;
			}
			l = nl;
		}
		l[cnt++] = v;
		errno = 0;
	}
	if (errno)
		ret = -errno;
out:
	closedir(d);
	if (ret < 0) {
		free(l);
		return ret;
	}
	if (cnt)
		qsort(l, cnt, sizeof(*l), cmp_u64);
	*list = l;
	*n = cnt;
	return 0;
}

int jr_open_segment(int dirfd, uint64_t n)
{
	char name[MEDFS_JOURNAL_SEGMENT_NAME_LEN];
	int fd;

	medfs_journal_segment_name(name, n);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	return fd < 0 ? -errno : fd;
}

#define FBUF_MIN (256u << 10)

void jr_fbuf_init(struct jr_fbuf *b, int fd, uint64_t off)
{
	memset(b, 0, sizeof(*b));
	b->fd = fd;
	b->off = off;
}

void jr_fbuf_free(struct jr_fbuf *b)
{
	free(b->buf);
	b->buf = NULL;
	b->cap = b->start = b->end = 0;
}

ssize_t jr_fbuf_next(struct jr_fbuf *b, const uint8_t **frame,
		     struct medfs_journal_frame *f, size_t *tail)
{
	*tail = 0;
	for (;;) {
		size_t avail = b->end - b->start, need;
		ssize_t r, n;

		r = b->buf ? medfs_journal_frame_parse(b->buf + b->start, avail, f) : 0;
		if (r < 0)
			return r;
		if (r > 0) {
			*frame = b->buf + b->start;
			b->start += (size_t)r;
			b->off += (uint64_t)r;
			return r;
		}
		need = avail >= FRAME_LEN_FIELD
			       ? FRAME_LEN_FIELD + jr_le32_get(b->buf + b->start)
			       : FRAME_LEN_FIELD;
		if (b->start && b->cap - b->start < need + FBUF_MIN / 2) {
			memmove(b->buf, b->buf + b->start, avail);
			b->start = 0;
			b->end = avail;
		}
		if (b->cap - b->start < need || b->cap - b->end < FBUF_MIN / 4) {
			size_t cap = b->start + need + FBUF_MIN;
			uint8_t *nb = realloc(b->buf, cap);

			if (!nb)
				return -ENOMEM;
			b->buf = nb;
			b->cap = cap;
		}
		do {
			n = pread(b->fd, b->buf + b->end, b->cap - b->end,
				  (off_t)(b->off + avail));
		} while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
		if (n == 0) {
			*tail = avail;
			return 0;
		}
		b->end += (size_t)n;
	}
}

/* ---- the writer ---- */

/* Everything secret the writer holds, in one secret allocation. */
struct wsecret {
	struct jr_keys cur;  /* current epoch */
	struct jr_keys next; /* the next epoch, only during a checkpoint */
	uint8_t state_key[MEDFS_KEY_LEN];
	uint8_t plain[STATE_PLAIN_LEN]; /* STATE and sealed seed plaintext */
};

struct medfs_journal_writer {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* group commit: a sync finished */
	int dirfd, fd;
	struct wsecret *sec;
	uint8_t auditor_pk[MEDFS_AUDITOR_PK_LEN];
	uint8_t vault_id[MEDFS_JOURNAL_VAULT_ID_LEN];
	struct medfs_journal_config cfg;
	uint64_t segment, seg_size, seg_created_us, seg_records;
	uint64_t seq; /* of the next record */
	uint8_t chain[MEDFS_JOURNAL_HASH_LEN];
	uint64_t since_cp, last_cp_us;
	/* The times of the last record and of the journal's own last record
	 * (checkpoint, journal-open): the next ones are never earlier. */
	uint64_t last_rec_us, last_own_us;
	uint64_t written, synced; /* frames written, frames known on disk */
	int syncing;
	int failed;   /* 0, -EIO or -ENOSPC: fail closed */
	int resuming; /* failures are not logged again */
	uint8_t *frame;
	size_t frame_cap;
};

/* STATE as read back. */
struct wstate {
	uint64_t epoch, seq, segment, offset, rec_us;
	uint8_t chain[MEDFS_JOURNAL_HASH_LEN];
	uint8_t vault_id[MEDFS_JOURNAL_VAULT_ID_LEN];
};

static void sec_rw(struct medfs_journal_writer *w)
{
	sodium_mprotect_readwrite(w->sec);
}

static void sec_ro(struct medfs_journal_writer *w)
{
	sodium_mprotect_readonly(w->sec);
}

static int fail(struct medfs_journal_writer *w, int err, const char *what)
{
	if (!w->failed) {
		w->failed = (err == -ENOSPC || err == -EDQUOT) ? -ENOSPC : -EIO;
		if (!w->resuming)
			medfs_log(LOG_ERR,
				  "journal: %s failed (segment %" PRIu64
				  "): %s; failing closed",
				  what, w->segment, strerror(-err));
	}
	pthread_cond_broadcast(&w->cond);
	return w->failed;
}

/* The time of the journal's own next record: now, or the last one's
 * when the clock went back. */
static uint64_t own_time(struct medfs_journal_writer *w)
{
	uint64_t now = jr_now_us();

	if (now < w->last_own_us)
		now = w->last_own_us;
	w->last_own_us = now;
	return now;
}

static int state_write(struct medfs_journal_writer *w)
{
	uint8_t buf[STATE_LEN];
	uint8_t *p = w->sec->plain;
	int ret;

	memcpy(buf, STATE_MAGIC, MAGIC_LEN);
	randombytes_buf(buf + MAGIC_LEN, NONCE_LEN);
	sec_rw(w);
	memcpy(p, w->sec->cur.seed, 32);
	jr_le64_put(p + 32, w->sec->cur.epoch);
	jr_le64_put(p + 40, w->seq);
	memcpy(p + 48, w->chain, 32);
	jr_le64_put(p + 80, w->segment);
	jr_le64_put(p + 88, w->seg_size);
	memcpy(p + 96, w->vault_id, 16);
	jr_le64_put(p + 112, w->last_rec_us);
	crypto_aead_xchacha20poly1305_ietf_encrypt(
		buf + MAGIC_LEN + NONCE_LEN, NULL, p, STATE_PLAIN_LEN, buf,
		MAGIC_LEN + NONCE_LEN, NULL, buf + MAGIC_LEN, w->sec->state_key);
	sodium_memzero(p, STATE_PLAIN_LEN);
	sec_ro(w);
	ret = jr_replace_file(w->dirfd, STATE_NAME, buf, sizeof(buf));
	return ret < 0 ? fail(w, ret, "writing STATE") : 0;
}

/* Reads STATE: the seed goes to sec->cur (epoch set, keys derived).
 * Returns 0, -ENOENT, -EBADMSG or -errno. */
static int state_read(struct medfs_journal_writer *w, struct wstate *st)
{
	uint8_t *buf, *p = w->sec->plain;
	size_t len;
	int ret;

	ret = jr_read_file(w->dirfd, STATE_NAME, &buf, &len, 4096);
	if (ret < 0)
		return ret == -EFBIG ? -EBADMSG : ret;
	ret = -EBADMSG;
	if (len != STATE_LEN || memcmp(buf, STATE_MAGIC, MAGIC_LEN) != 0)
		goto out;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		    p, NULL, NULL, buf + MAGIC_LEN + NONCE_LEN,
		    len - MAGIC_LEN - NONCE_LEN, buf, MAGIC_LEN + NONCE_LEN,
		    buf + MAGIC_LEN, w->sec->state_key) != 0)
		goto out;
	st->epoch = jr_le64_get(p + 32);
	st->seq = jr_le64_get(p + 40);
	memcpy(st->chain, p + 48, 32);
	st->segment = jr_le64_get(p + 80);
	st->offset = jr_le64_get(p + 88);
	memcpy(st->vault_id, p + 96, 16);
	st->rec_us = jr_le64_get(p + 112);
	jr_keys_set(&w->sec->cur, p, st->epoch);
	ret = 0;
out:
	sodium_memzero(p, STATE_PLAIN_LEN);
	free(buf);
	return ret;
}

/* Encrypts r (or checkpoint cp) as the next frame into w->frame. */
static int frame_build(struct medfs_journal_writer *w,
		       const struct medfs_journal_record *r,
		       const struct medfs_journal_checkpoint *cp, size_t *flen)
{
	const size_t h = MEDFS_JOURNAL_FRAME_HEADER_LEN;
	uint8_t ad[AD_LEN];
	size_t blen, need;
	int ret;

	ret = jr_encode(r, cp, NULL, 0, &blen);
	if (ret != -ENOBUFS)
		return ret < 0 ? ret : -EINVAL;
	need = h + blen + MEDFS_JOURNAL_TAG_LEN;
	if (need > w->frame_cap) {
		uint8_t *nf = malloc(need);

		if (!nf)
			return -ENOMEM;
		free(w->frame);
		w->frame = nf;
		w->frame_cap = need;
	}
	ret = jr_encode(r, cp, w->frame + h, blen, &blen);
	if (ret < 0)
		return ret;
	jr_le32_put(w->frame, (uint32_t)(need - FRAME_LEN_FIELD));
	jr_le64_put(w->frame + FRAME_OFF_EPOCH, w->sec->cur.epoch);
	jr_le64_put(w->frame + FRAME_OFF_SEQ, w->seq);
	randombytes_buf(w->frame + FRAME_OFF_NONCE, NONCE_LEN);
	frame_ad(ad, w->segment, w->sec->cur.epoch, w->seq, w->chain);
	/* In place: the plaintext body is overwritten by its ciphertext. */
	crypto_aead_xchacha20poly1305_ietf_encrypt(
		w->frame + h, NULL, w->frame + h, blen, ad, sizeof(ad), NULL,
		w->frame + FRAME_OFF_NONCE, w->sec->cur.enc);
	*flen = need;
	return 0;
}

static int emit(struct medfs_journal_writer *w, size_t flen)
{
	int ret = jr_write_all(w->fd, w->frame, flen);

	if (ret < 0)
		return fail(w, ret, "writing a record");
	jr_chain(w->chain, w->frame, flen);
	w->seq++;
	w->seg_size += flen;
	w->seg_records++;
	w->written++;
	return 0;
}

static int sync_locked(struct medfs_journal_writer *w)
{
	if (fdatasync(w->fd) < 0)
		return fail(w, -errno, "syncing a segment");
	w->synced = w->written;
	return 0;
}

/* Takes a checkpoint whose HEAD could not be written back out of the
 * segment (cut at cp_at, where it began), with its reserved HEAD.tmp: the
 * journal then ends with records after the checkpoint HEAD names, which
 * verify accepts as an unsealed tail and the next open seals. The
 * checkpoint was never acknowledged to anyone. */
static void checkpoint_cut(struct medfs_journal_writer *w, uint64_t cp_at)
{
	if (ftruncate(w->fd, (off_t)cp_at) < 0 || fdatasync(w->fd) < 0)
		medfs_log(LOG_ERR,
			  "journal: cannot take back the checkpoint whose HEAD failed "
			  "(segment %" PRIu64 "): %s; verify will report HEAD behind "
			  "it until the next mount",
			  w->segment, strerror(errno));
	unlinkat(w->dirfd, HEAD_NAME ".tmp", 0);
}

/* Signs everything so far, then moves to the next epoch. */
static int checkpoint_locked(struct medfs_journal_writer *w, uint32_t flags)
{
	struct medfs_journal_checkpoint cp = { 0 };
	struct medfs_journal_record r = { 0 };
	struct wsecret *s = w->sec;
	uint8_t m[CP_MSG_LEN], hb[HEAD_LEN];
	struct jr_head head;
	uint64_t cp_at;
	size_t flen;
	int renamed = 0, ret;

	if (w->failed)
		return w->failed;
	if (w->since_cp == 0)
		return 0;
	/* Room for HEAD first: once the checkpoint is in the segment, HEAD
	 * must name it, or verify finds HEAD behind the journal (a full disk
	 * at unmount would look like a HEAD rolled back). */
	ret = jr_reserve_file(w->dirfd, HEAD_NAME, HEAD_LEN);
	if (ret < 0)
		return fail(w, ret, "reserving space for HEAD");
	cp_at = w->seg_size;
	sec_rw(w);
	s->next = s->cur;
	jr_keys_evolve(&s->next);
	cp.seq = w->seq;
	cp.epoch = s->cur.epoch;
	cp.time_us = own_time(w);
	cp.flags = flags;
	memcpy(cp.hash, w->chain, sizeof(cp.hash));
	memcpy(cp.next_pk, s->next.pk, sizeof(cp.next_pk));
	jr_cp_message(m, w->segment, &cp);
	crypto_sign_detached(cp.sig, NULL, m, sizeof(m), s->cur.sk);
	sec_ro(w);
	r.time_us = cp.time_us;
	r.op = MEDFS_OP_CHECKPOINT;
	ret = frame_build(w, &r, &cp, &flen);
	if (ret < 0)
		ret = fail(w, ret, "building a checkpoint");
	if (ret == 0)
		ret = emit(w, flen);
	if (ret == 0)
		ret = sync_locked(w);
	if (ret == 0) {
		head.segment = w->segment;
		head.seq = cp.seq;
		head.epoch = cp.epoch;
		head.time_us = cp.time_us;
		memcpy(head.hash, w->chain, sizeof(head.hash));
		head_sign(&head, s->cur.sk);
		jr_head_encode(hb, &head);
		ret = jr_replace_reserved(w->dirfd, HEAD_NAME, hb, sizeof(hb), &renamed);
		if (ret < 0)
			ret = fail(w, ret, "writing HEAD");
	}
	if (ret < 0 && !renamed)
		checkpoint_cut(w, cp_at);
	/* Evolve even on failure: the old epoch's secrets must go. */
	sec_rw(w);
	s->cur = s->next;
	sodium_memzero(&s->next, sizeof(s->next));
	sec_ro(w);
	if (ret < 0)
		return ret;
	w->since_cp = 0;
	w->last_cp_us = cp.time_us;
	return state_write(w);
}

/* Creates segment n, sealing the current seed into its header. */
static int segment_create(struct medfs_journal_writer *w, uint64_t n)
{
	char name[MEDFS_JOURNAL_SEGMENT_NAME_LEN];
	uint8_t hdr[MEDFS_JOURNAL_SEGMENT_HEADER_LEN];
	uint64_t now = jr_now_us();
	int fd, ret;

	memcpy(hdr, SEG_MAGIC, MAGIC_LEN);
	jr_le64_put(hdr + SEG_OFF_NUMBER, n);
	jr_le64_put(hdr + SEG_OFF_EPOCH, w->sec->cur.epoch);
	jr_le64_put(hdr + SEG_OFF_SEQ, w->seq);
	jr_le64_put(hdr + SEG_OFF_CREATED, now);
	memcpy(hdr + SEG_OFF_PREV, w->chain, MEDFS_JOURNAL_HASH_LEN);
	sec_rw(w);
	memcpy(w->sec->plain, w->sec->cur.seed, MEDFS_JOURNAL_SEED_LEN);
	memcpy(w->sec->plain + MEDFS_JOURNAL_SEED_LEN, w->vault_id,
	       MEDFS_JOURNAL_VAULT_ID_LEN);
	ret = crypto_box_seal(hdr + SEG_OFF_SEALED, w->sec->plain,
			      MEDFS_JOURNAL_SEED_LEN + MEDFS_JOURNAL_VAULT_ID_LEN,
			      w->auditor_pk) != 0
		      ? -EINVAL
		      : 0;
	sodium_memzero(w->sec->plain, sizeof(w->sec->plain));
	sec_ro(w);
	if (ret < 0) {
		medfs_log(LOG_ERR, "journal: the auditor public key is not a valid key");
		return fail(w, ret, "sealing a segment seed");
	}
	jr_header_mac(hdr + SEG_OFF_MAC, hdr, w->sec->cur.enc);
	medfs_journal_segment_name(name, n);
	fd = openat(w->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC,
		    0600);
	if (fd < 0)
		return fail(w, -errno, "creating a segment");
	ret = jr_write_all(fd, hdr, sizeof(hdr));
	if (ret == 0 && fdatasync(fd) < 0)
		ret = -errno;
	if (ret == 0 && fsync(w->dirfd) < 0)
		ret = -errno;
	if (ret < 0) {
		/* No record in it yet: a torn header would only puzzle verify. */
		close(fd);
		unlinkat(w->dirfd, name, 0);
		return fail(w, ret, "creating a segment");
	}
	w->fd = fd;
	w->segment = n;
	w->seg_size = sizeof(hdr);
	w->seg_records = 0;
	w->seg_created_us = now;
	return state_write(w);
}

/* Seals segment seg and starts the next one, unless another thread did
 * so while this one waited for a sync in flight to finish. */
static int rotate_locked(struct medfs_journal_writer *w, uint64_t seg)
{
	int ret;

	/* The wait drops the lock: wait first, so that nothing is appended
	 * between the closing checkpoint and the new segment. */
	while (w->syncing)
		pthread_cond_wait(&w->cond, &w->lock);
	if (w->failed || w->segment != seg)
		return w->failed;
	ret = checkpoint_locked(w, MEDFS_CHECKPOINT_ROTATE);
	if (ret < 0)
		return ret;
	if (w->synced < w->written) {
		ret = sync_locked(w);
		if (ret < 0)
			return ret;
	}
	close(w->fd);
	w->fd = -1;
	return segment_create(w, w->segment + 1);
}

/* Group commit: waits until frame number mine is on disk, syncing when no
 * other thread is. Called and returns with the lock held. */
static int sync_to(struct medfs_journal_writer *w, uint64_t mine)
{
	while (w->synced < mine && !w->failed) {
		uint64_t target;
		int fd, r;

		if (w->syncing) {
			pthread_cond_wait(&w->cond, &w->lock);
			continue;
		}
		w->syncing = 1;
		target = w->written;
		fd = w->fd;
		pthread_mutex_unlock(&w->lock);
		r = fdatasync(fd) < 0 ? -errno : 0;
		pthread_mutex_lock(&w->lock);
		w->syncing = 0;
		if (r < 0)
			fail(w, r, "syncing a segment");
		else if (target > w->synced)
			w->synced = target;
		pthread_cond_broadcast(&w->cond);
	}
	return w->failed;
}

/* Appends rec, dated now when its time is 0; the journal's own records
 * (journal-open) and the callers' each keep their own order of times.
 * Called and returns with the lock held (sync_to may drop it). */
static int append_locked(struct medfs_journal_writer *w,
			 const struct medfs_journal_record *r, int durable)
{
	struct medfs_journal_record rec = *r;
	uint64_t mine;
	size_t flen;
	int ret;

	ret = w->failed;
	if (ret < 0)
		goto out;
	if (rec.op == MEDFS_OP_JOURNAL_OPEN) {
		rec.time_us = own_time(w);
	} else {
		if (rec.time_us == 0)
			rec.time_us = jr_now_us();
		if (rec.time_us < w->last_rec_us)
			rec.time_us = w->last_rec_us;
	}
	ret = frame_build(w, &rec, NULL, &flen);
	if (ret < 0)
		goto out; /* a bad record, not a broken journal */
	ret = emit(w, flen);
	if (ret < 0)
		goto out;
	if (rec.op != MEDFS_OP_JOURNAL_OPEN)
		w->last_rec_us = rec.time_us;
	mine = w->written;
	w->since_cp++;
	if (w->since_cp >= w->cfg.checkpoint_records)
		ret = checkpoint_locked(w, 0);
	if (ret == 0 && w->seg_size >= w->cfg.segment_max_bytes)
		ret = rotate_locked(w, w->segment);
	if (ret == 0 && durable)
		ret = sync_to(w, mine);
out:
	return ret;
}

static int append_record(struct medfs_journal_writer *w,
			 const struct medfs_journal_record *r, int durable)
{
	int ret;

	pthread_mutex_lock(&w->lock);
	ret = append_locked(w, r, durable);
	pthread_mutex_unlock(&w->lock);
	return ret;
}

int medfs_journal_append(struct medfs_journal_writer *w,
			 const struct medfs_journal_record *r, int durable)
{
	if (r->op == 0 || r->op == MEDFS_OP_CHECKPOINT || r->op == MEDFS_OP_JOURNAL_OPEN)
		return -EINVAL;
	return append_record(w, r, durable);
}

int medfs_journal_tick(struct medfs_journal_writer *w, uint64_t now_us)
{
	int ret;

	pthread_mutex_lock(&w->lock);
	ret = w->failed;
	if (ret == 0 && w->since_cp && now_us > w->last_cp_us &&
	    now_us - w->last_cp_us >= w->cfg.checkpoint_interval_us)
		ret = checkpoint_locked(w, 0);
	if (ret == 0 && w->seg_records && now_us > w->seg_created_us &&
	    now_us - w->seg_created_us >= w->cfg.segment_max_age_us)
		ret = rotate_locked(w, w->segment);
	if (ret == 0 && w->synced < w->written && !w->syncing)
		ret = sync_to(w, w->written);
	pthread_mutex_unlock(&w->lock);
	return ret;
}

int medfs_journal_checkpoint(struct medfs_journal_writer *w)
{
	int ret;

	pthread_mutex_lock(&w->lock);
	ret = checkpoint_locked(w, 0);
	pthread_mutex_unlock(&w->lock);
	return ret;
}

int medfs_journal_writer_status(struct medfs_journal_writer *w)
{
	int ret;

	pthread_mutex_lock(&w->lock);
	ret = w->failed;
	pthread_mutex_unlock(&w->lock);
	return ret;
}

void medfs_journal_writer_secrets_for_test(struct medfs_journal_writer *w,
					   const void **mem, size_t *len, uint64_t *epoch)
{
	*mem = w->sec;
	*len = sizeof(*w->sec);
	*epoch = w->sec->cur.epoch;
}

static void writer_free(struct medfs_journal_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	if (w->dirfd >= 0)
		close(w->dirfd); /* drops the flock */
	if (w->sec) {
		sec_rw(w);
		medfs_secret_free(w->sec);
	}
	free(w->frame);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

int medfs_journal_writer_close(struct medfs_journal_writer *w)
{
	int ret;

	if (!w)
		return 0;
	pthread_mutex_lock(&w->lock);
	while (w->syncing)
		pthread_cond_wait(&w->cond, &w->lock);
	ret = checkpoint_locked(w, MEDFS_CHECKPOINT_CLOSE);
	if (ret == 0 && w->synced < w->written)
		ret = sync_locked(w);
	pthread_mutex_unlock(&w->lock);
	writer_free(w);
	return ret;
}

/* ---- rolling a crashed writer's tail forward (no I/O) ---- */

void jr_roll_init(struct jr_roll *r, struct jr_keys *k, uint64_t segment, uint64_t seq,
		  const uint8_t chain[MEDFS_JOURNAL_HASH_LEN])
{
	memset(r, 0, sizeof(*r));
	r->k = k;
	r->segment = segment;
	r->seq = seq;
	memcpy(r->chain, chain, sizeof(r->chain));
	r->rb = (struct medfs_journal_record_buf)MEDFS_JOURNAL_RECORD_BUF_INIT;
}

void jr_roll_free(struct jr_roll *r)
{
	medfs_journal_record_buf_free(&r->rb);
	if (r->body) {
		sodium_memzero(r->body, r->body_cap);
		free(r->body);
	}
	r->body = NULL;
	r->body_cap = 0;
}

int jr_roll_frame(struct jr_roll *r, const uint8_t *frame,
		  const struct medfs_journal_frame *f)
{
	const struct medfs_journal_record *rec = &r->rb.rec;
	int ret;

	if (f->seq != r->seq || f->epoch != r->k->epoch)
		return -EBADMSG;
	if (f->ct_len > r->body_cap) {
		uint8_t *nb = malloc(f->ct_len);

		if (!nb)
			return -ENOMEM;
		if (r->body) {
			sodium_memzero(r->body, r->body_cap);
			free(r->body);
		}
		r->body = nb;
		r->body_cap = f->ct_len;
	}
	if (jr_frame_open(r->k, r->segment, r->chain, f, r->body) < 0)
		return -EBADMSG;
	ret = medfs_journal_record_decode(r->body, f->ct_len - MEDFS_JOURNAL_TAG_LEN,
					  &r->rb);
	sodium_memzero(r->body, f->ct_len);
	if (ret < 0)
		return ret == -ENOMEM ? ret : -EBADMSG;
	jr_chain(r->chain, frame, f->len);
	r->seq++;
	r->good += f->len;
	r->unsealed++;
	if (rec->op == MEDFS_OP_CHECKPOINT || rec->op == MEDFS_OP_JOURNAL_OPEN) {
		if (rec->time_us > r->last_own_us)
			r->last_own_us = rec->time_us;
	} else if (rec->time_us > r->last_rec_us) {
		r->last_rec_us = rec->time_us;
	}
	if (rec->op == MEDFS_OP_CHECKPOINT) {
		/* Its HEAD may not have been written: sign it again. */
		r->head.segment = r->segment;
		r->head.seq = f->seq;
		r->head.epoch = f->epoch;
		r->head.time_us = r->rb.cp.time_us;
		memcpy(r->head.hash, r->chain, sizeof(r->head.hash));
		head_sign(&r->head, r->k->sk);
		r->have_head = 1;
		jr_keys_evolve(r->k);
		r->unsealed = 0;
	}
	medfs_journal_record_buf_free(&r->rb);
	return 0;
}

int jr_roll_bytes(struct jr_roll *r, const uint8_t *buf, size_t len, size_t *torn)
{
	size_t off = 0;

	*torn = 0;
	while (off < len) {
		struct medfs_journal_frame f;
		ssize_t n = medfs_journal_frame_parse(buf + off, len - off, &f);
		int ret;

		if (n < 0)
			return -EBADMSG;
		if (n == 0) {
			*torn = len - off;
			return 0;
		}
		ret = jr_roll_frame(r, buf + off, &f);
		if (ret < 0)
			return ret;
		off += (size_t)n;
	}
	return 0;
}

/* Rolls the chain forward from STATE through the frames a crashed writer
 * left after it in segment st->segment (it holds that epoch's keys), cuts
 * a torn last frame, and seals an unsealed tail with a recovery
 * checkpoint. A tail that does not continue STATE goes into reason.
 * Returns 0 or -errno for an I/O failure. */
static int recover(struct medfs_journal_writer *w, const struct wstate *st, uint64_t *max,
		   char *reason, size_t rlen)
{
	char name[MEDFS_JOURNAL_SEGMENT_NAME_LEN];
	struct jr_roll roll;
	struct jr_fbuf fb;
	struct stat sb;
	int mismatch = 0, fd, ret = 0;

	if (*max == st->segment + 1) {
		/* Crashed between creating a segment and recording it in
		 * STATE: it holds at most a header, never a record. */
		medfs_journal_segment_name(name, *max);
		if (fstatat(w->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    sb.st_size <= MEDFS_JOURNAL_SEGMENT_HEADER_LEN) {
			if (unlinkat(w->dirfd, name, 0) < 0)
				return -errno;
			medfs_log(LOG_WARNING, "journal: removed empty segment %" PRIu64,
				  *max);
			*max = st->segment;
		}
	}
	if (*max != st->segment) {
		snprintf(reason, rlen,
			 "journal tail does not match state: last segment is %" PRIu64
			 ", state names %" PRIu64,
			 *max, st->segment);
		return 0;
	}
	medfs_journal_segment_name(name, st->segment);
	fd = openat(w->dirfd, name, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		snprintf(reason, rlen,
			 "journal tail does not match state: segment %" PRIu64
			 " unreadable",
			 st->segment);
		return 0;
	}
	if (fstat(fd, &sb) < 0 || (uint64_t)sb.st_size < st->offset) {
		snprintf(reason, rlen,
			 "journal tail does not match state: segment %" PRIu64
			 " is shorter than recorded",
			 st->segment);
		close(fd);
		return 0;
	}
	jr_roll_init(&roll, &w->sec->cur, st->segment, w->seq, w->chain);
	roll.last_rec_us = w->last_rec_us;
	roll.last_own_us = w->last_own_us;
	jr_fbuf_init(&fb, fd, st->offset);
	for (;;) {
		struct medfs_journal_frame f;
		const uint8_t *frame;
		size_t tail;
		ssize_t n = jr_fbuf_next(&fb, &frame, &f, &tail);

		if (n == 0 && tail) {
			/* A frame cut by a crash or a full disk: never acknowledged. */
			if (ftruncate(fd, (off_t)(st->offset + roll.good)) < 0) {
				ret = -errno;
				goto out;
			}
			medfs_log(LOG_WARNING,
				  "journal: cut a torn record of %zu bytes at the end of "
				  "segment "
				  "%" PRIu64,
				  tail, st->segment);
		}
		if (n == 0)
			break;
		if (n < 0 && n != -EBADMSG) {
			ret = (int)n;
			goto out;
		}
		ret = n < 0 ? -EBADMSG : jr_roll_frame(&roll, frame, &f);
		if (ret == -ENOMEM)
			goto out;
		if (ret < 0) {
			/* Left as it is, for verify to report; the chain goes
			 * on from the last record that fits. */
			ret = 0;
			snprintf(reason, rlen,
				 "journal tail does not match state: record seq %" PRIu64
				 " of segment %" PRIu64 " does not continue it",
				 roll.seq, st->segment);
			mismatch = 1;
			break;
		}
	}
	w->seq = roll.seq;
	memcpy(w->chain, roll.chain, sizeof(w->chain));
	w->last_rec_us = roll.last_rec_us;
	w->last_own_us = roll.last_own_us;
	if (roll.have_head) {
		uint8_t hb[HEAD_LEN];

		jr_head_encode(hb, &roll.head);
		ret = jr_replace_file(w->dirfd, HEAD_NAME, hb, sizeof(hb));
		if (ret < 0)
			goto out;
	}
	if (roll.unsealed && !mismatch) {
		medfs_log(LOG_WARNING,
			  "journal: sealing %" PRIu64
			  " records of an unclean shutdown in "
			  "segment %" PRIu64,
			  roll.unsealed, st->segment);
		w->fd = fd;
		fd = -1;
		w->segment = st->segment;
		w->seg_size = st->offset + roll.good;
		w->since_cp = roll.unsealed;
		ret = checkpoint_locked(w, MEDFS_CHECKPOINT_RECOVERY);
		close(w->fd);
		w->fd = -1;
	}
out:
	jr_roll_free(&roll);
	jr_fbuf_free(&fb);
	if (fd >= 0)
		close(fd);
	return ret;
}

static int head_exists(int dirfd)
{
	struct stat sb;

	return fstatat(dirfd, HEAD_NAME, &sb, AT_SYMLINK_NOFOLLOW) == 0;
}

/* The time of the last checkpoint, from HEAD (0 without one): the
 * journal's own records are never dated before it. */
static uint64_t head_time(int dirfd)
{
	struct jr_head h;
	uint8_t *buf;
	size_t len;
	uint64_t t = 0;

	if (jr_read_file(dirfd, HEAD_NAME, &buf, &len, 4096) < 0)
		return 0;
	if (jr_head_parse(buf, len, &h) == 0)
		t = h.time_us;
	free(buf);
	return t;
}

/* What a crash while the journal was being created leaves: segment 1
 * holding its header at most, no STATE and no HEAD yet (the caller checked
 * those), nothing ever recorded. Removes that segment; 1 when it did. A
 * segment with anything after its header is a journal that lost its STATE,
 * which is refused. */
static int creation_left(int dirfd)
{
	char name[MEDFS_JOURNAL_SEGMENT_NAME_LEN];
	struct stat sb;

	medfs_journal_segment_name(name, 1);
	if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > MEDFS_JOURNAL_SEGMENT_HEADER_LEN)
		return 0;
	if (unlinkat(dirfd, name, 0) < 0 || fsync(dirfd) < 0)
		return 0;
	medfs_log(LOG_NOTICE, "journal: an empty segment left by a crash while the "
			      "journal was being created was removed");
	return 1;
}

/* Continues the chain of STATE in dir (already locked): rolls a crashed
 * or failed writer's tail forward, starts a new segment, and records why
 * when the tail did not match. Called with the lock held, w->sec
 * writable; returns 0 or -errno. */
static int writer_start(struct medfs_journal_writer *w)
{
	const uint8_t *vault_id = w->vault_id;
	struct wstate st;
	char reason[200] = "";
	uint64_t *list = NULL, max;
	size_t n;
	int ret, st_found;

	ret = jr_list_segments(w->dirfd, &list, &n);
	if (ret < 0)
		return ret;
	max = n ? list[n - 1] : 0;
	free(list);

	ret = state_read(w, &st);
	if (ret == 0 &&
	    sodium_memcmp(st.vault_id, vault_id, MEDFS_JOURNAL_VAULT_ID_LEN) != 0)
		ret = -EBADMSG;
	st_found = ret == 0;
	if (ret == 0) {
		w->seq = st.seq;
		w->last_rec_us = st.rec_us;
		w->last_own_us = head_time(w->dirfd);
		memcpy(w->chain, st.chain, sizeof(w->chain));
		ret = recover(w, &st, &max, reason, sizeof(reason));
		if (ret < 0)
			return ret;
		if (st.segment > max)
			max = st.segment;
	} else if (ret == -ENOENT && !head_exists(w->dirfd) &&
		   (max == 0 || (max == 1 && creation_left(w->dirfd)))) {
		/* A new journal: S_0 (after a crash while the first one was
		 * being created, its empty segment is gone). */
		max = 0;
		randombytes_buf(w->sec->cur.seed, MEDFS_JOURNAL_SEED_LEN);
		jr_keys_derive(&w->sec->cur);
	} else if (ret == -ENOENT || ret == -EBADMSG) {
		const char *why =
			ret == -ENOENT ? "journal STATE is missing"
				       : "journal STATE does not unseal with this vault";

		if (!(w->cfg.flags & MEDFS_JOURNAL_RESTART)) {
			medfs_log(LOG_ERR, "journal: %s; refusing to start a new chain",
				  why);
			ret = -EBADMSG;
			return ret;
		}
		snprintf(reason, sizeof(reason), "%s: new chain started", why);
		randombytes_buf(w->sec->cur.seed, MEDFS_JOURNAL_SEED_LEN);
		w->sec->cur.epoch = 0;
		jr_keys_derive(&w->sec->cur);
	} else {
		return ret;
	}
	if (w->failed)
		return w->failed;
	sec_ro(w);
	w->last_cp_us = jr_now_us();
	ret = segment_create(w, max + 1);
	if (ret < 0)
		return ret;
	ret = append_locked(
		w,
		&(struct medfs_journal_record){
			.op = MEDFS_OP_JOURNAL_OPEN,
			.pid = (int32_t)getpid(),
			.offset = -1,
			.detail = st_found ? "continues the journal" : "new chain",
		},
		1);
	if (ret < 0)
		return ret;
	if (reason[0]) {
		struct medfs_journal_record r = { 0 };

		medfs_log(LOG_WARNING, "journal: %s", reason);
		r.op = MEDFS_OP_INTEGRITY;
		r.pid = (int32_t)getpid();
		r.result = EBADMSG;
		r.offset = -1;
		r.detail = reason;
		ret = append_locked(w, &r, 1);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int medfs_journal_writer_resume(struct medfs_journal_writer *w)
{
	int ret;

	pthread_mutex_lock(&w->lock);
	while (w->syncing)
		pthread_cond_wait(&w->cond, &w->lock);
	if (w->failed == 0) {
		pthread_mutex_unlock(&w->lock);
		return 0;
	}
	/* Forget everything since STATE: writer_start reads it back, with
	 * the records written after it, as a new mount would. */
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	w->segment = w->seg_size = w->seg_created_us = w->seg_records = 0;
	w->seq = w->since_cp = w->written = w->synced = 0;
	sodium_memzero(w->chain, sizeof(w->chain));
	sec_rw(w);
	sodium_memzero(&w->sec->cur, sizeof(w->sec->cur));
	sodium_memzero(&w->sec->next, sizeof(w->sec->next));
	w->failed = 0;
	w->resuming = 1;
	ret = writer_start(w);
	sec_ro(w);
	if (ret < 0) {
		if (w->fd >= 0)
			close(w->fd);
		w->fd = -1;
		ret = fail(w, ret, "resuming");
	} else {
		w->resuming = 0;
		medfs_log(LOG_NOTICE, "journal: writable again, segment %" PRIu64,
			  w->segment);
	}
	pthread_mutex_unlock(&w->lock);
	return ret;
}

int medfs_journal_writer_open(struct medfs_journal_writer **out, const char *dir,
			      const uint8_t auditor_pk[MEDFS_AUDITOR_PK_LEN],
			      const uint8_t vault_id[MEDFS_JOURNAL_VAULT_ID_LEN],
			      const uint8_t state_key[MEDFS_KEY_LEN],
			      const struct medfs_journal_config *cfg)
{
	struct medfs_journal_writer *w;
	int ret;

	*out = NULL;
	ret = medfs_crypto_init();
	if (ret < 0)
		return ret;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fd = -1;
	w->dirfd = -1;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (cfg)
		w->cfg = *cfg;
	if (!w->cfg.segment_max_bytes)
		w->cfg.segment_max_bytes = MEDFS_JOURNAL_DEFAULT_SEGMENT_BYTES;
	if (!w->cfg.segment_max_age_us)
		w->cfg.segment_max_age_us = MEDFS_JOURNAL_DEFAULT_SEGMENT_AGE_US;
	if (!w->cfg.checkpoint_records)
		w->cfg.checkpoint_records = MEDFS_JOURNAL_DEFAULT_CHECKPOINT_RECORDS;
	if (!w->cfg.checkpoint_interval_us)
		w->cfg.checkpoint_interval_us = MEDFS_JOURNAL_DEFAULT_CHECKPOINT_US;
	memcpy(w->auditor_pk, auditor_pk, sizeof(w->auditor_pk));
	memcpy(w->vault_id, vault_id, sizeof(w->vault_id));
	w->sec = medfs_secret_alloc(sizeof(*w->sec));
	if (!w->sec) {
		ret = -ENOMEM;
		goto fail;
	}
	sodium_memzero(w->sec, sizeof(*w->sec));
	memcpy(w->sec->state_key, state_key, MEDFS_KEY_LEN);

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		ret = -errno;
		goto fail;
	}
	w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->dirfd < 0) {
		ret = -errno;
		goto fail;
	}
	if (flock(w->dirfd, LOCK_EX | LOCK_NB) < 0) {
		ret = errno == EWOULDBLOCK ? -EBUSY : -errno;
		goto fail;
	}
	pthread_mutex_lock(&w->lock);
	ret = writer_start(w);
	pthread_mutex_unlock(&w->lock);
	if (ret < 0)
		goto fail;
	*out = w;
	return 0;
fail:
	writer_free(w);
	return ret;
}
