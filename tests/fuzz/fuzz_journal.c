/* Fuzz target: the journal's readers of untrusted bytes, all fed the same
 * input in a buffer of exactly its size (a sanitizer catches any read past
 * the end):
 *   - the record body decoder (medfs_journal_record_decode), checking that
 *     what it accepts is well formed and survives encode/decode unchanged;
 *   - the segment frame reader (header, then frame after frame), checking
 *     every frame stays inside the input and the walk ends;
 *   - the auditor key file parsers. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "medfs/journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *copy_of(const uint8_t *data, size_t size)
{
	uint8_t *c = malloc(size ? size : 1);

	if (!c)
		abort();
	memcpy(c, data, size);
	return c;
}

static void check_string(const char *s)
{
	if (s && strlen(s) > MEDFS_JOURNAL_STRING_MAX)
		abort();
}

static void check_record(const struct medfs_journal_record_buf *b, size_t size)
{
	const struct medfs_journal_record *r = &b->rec;

	if (r->op == 0 || (r->nranges && !r->ranges) || r->nranges * 16 > size)
		abort();
	check_string(r->user);
	check_string(r->program);
	check_string(r->path);
	check_string(r->path2);
	check_string(r->patient_id);
	check_string(r->study_uid);
	check_string(r->sop_uid);
	check_string(r->sop_class_uid);
	check_string(r->modality);
	check_string(r->detail);
}

static int same_string(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int same_record(const struct medfs_journal_record *a,
		       const struct medfs_journal_record *b)
{
	return a->time_us == b->time_us && a->op == b->op && a->uid == b->uid &&
	       a->gid == b->gid && a->pid == b->pid && a->result == b->result &&
	       a->flags == b->flags && a->rule_line == b->rule_line &&
	       a->emergency == b->emergency && a->bytes == b->bytes &&
	       a->offset == b->offset && a->nranges == b->nranges &&
	       (!a->nranges ||
		memcmp(a->ranges, b->ranges, a->nranges * sizeof(*a->ranges)) == 0) &&
	       same_string(a->user, b->user) && same_string(a->program, b->program) &&
	       same_string(a->path, b->path) && same_string(a->path2, b->path2) &&
	       same_string(a->patient_id, b->patient_id) &&
	       same_string(a->study_uid, b->study_uid) &&
	       same_string(a->sop_uid, b->sop_uid) &&
	       same_string(a->sop_class_uid, b->sop_class_uid) &&
	       same_string(a->modality, b->modality) && same_string(a->detail, b->detail);
}

static void fuzz_decode(const uint8_t *data, size_t size)
{
	struct medfs_journal_record_buf b = MEDFS_JOURNAL_RECORD_BUF_INIT;
	struct medfs_journal_record_buf again = MEDFS_JOURNAL_RECORD_BUF_INIT;
	uint8_t *in = copy_of(data, size), *out;
	size_t len;
	int ret;

	ret = medfs_journal_record_decode(in, size, &b);
	if (ret != 0 && ret != -EBADMSG && ret != -ENOMEM)
		abort();
	if (ret == 0) {
		check_record(&b, size);
		if (b.rec.op != MEDFS_OP_CHECKPOINT) {
			/* Canonical: never longer than what was read (unknown
			 * tags are dropped), and read back the same. */
			if (medfs_journal_record_encode(&b.rec, NULL, 0, &len) !=
				    -ENOBUFS ||
			    len > size)
				abort();
			out = malloc(len ? len : 1);
			if (!out)
				abort();
			if (medfs_journal_record_encode(&b.rec, out, len, &len) != 0 ||
			    medfs_journal_record_decode(out, len, &again) != 0 ||
			    !same_record(&b.rec, &again.rec))
				abort();
			free(out);
		}
	} else if (b.mem || b.rec.path) {
		abort(); /* a failed decode leaves nothing behind */
	}
	medfs_journal_record_buf_free(&again);
	medfs_journal_record_buf_free(&b);
	free(in);
}

static void fuzz_frames(const uint8_t *data, size_t size)
{
	struct medfs_journal_segment_header h;
	uint8_t *in = copy_of(data, size);
	size_t off = 0;
	int ret;

	ret = medfs_journal_segment_header_parse(in, size, &h);
	if (ret != 0 && ret != -EAGAIN && ret != -EBADMSG && ret != -EPROTONOSUPPORT)
		abort();
	if (ret == 0)
		off = MEDFS_JOURNAL_SEGMENT_HEADER_LEN;
	for (;;) {
		struct medfs_journal_frame f;
		ssize_t n = medfs_journal_frame_parse(in + off, size - off, &f);

		if (n <= 0) {
			if (n != 0 && n != -EBADMSG)
				abort();
			break;
		}
		if ((size_t)n > size - off || (size_t)n != f.len ||
		    f.ct_len + MEDFS_JOURNAL_FRAME_HEADER_LEN != f.len ||
		    f.ct_len <= MEDFS_JOURNAL_TAG_LEN ||
		    f.ct != in + off + MEDFS_JOURNAL_FRAME_HEADER_LEN)
			abort();
		off += (size_t)n;
	}
	free(in);
}

static void fuzz_keys(const uint8_t *data, size_t size)
{
	struct medfs_auditor_key *k;
	char *in = (char *)copy_of(data, size);
	int ret;

	ret = medfs_auditor_key_parse_public(in, size, &k);
	if ((ret == 0) != (k != NULL))
		abort();
	medfs_auditor_key_free(k);
	ret = medfs_auditor_key_parse_secret(in, size, &k);
	if ((ret == 0) != (k != NULL) || (ret == 0 && !medfs_auditor_key_has_secret(k)))
		abort();
	medfs_auditor_key_free(k);
	free(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_decode(data, size);
	fuzz_frames(data, size);
	fuzz_keys(data, size);
	return 0;
}
