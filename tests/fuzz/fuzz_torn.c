/* Fuzz target: the journal's roll forward of a crashed writer's tail
 * (recover() in src/lib/journal.c: jr_roll), which cuts a torn last frame
 * and re-signs the HEAD of the checkpoints it passes.
 *
 * Input: the state a writer would read from STATE, then the segment bytes
 * after the point STATE records:
 *   seed (32) || epoch (8) || seq (8) || chain (32) || segment (8) || tail
 * (the seeds in corpus/torn/ are real journals written by the writer,
 * cut in places). Checks:
 *   - jr_roll_bytes returns 0 or -EBADMSG; the frames it took and the torn
 *     bytes after them lie inside the tail, and a torn part is shorter
 *     than a frame;
 *   - the tail read from a file through the segment reader (jr_fbuf_next,
 *     what recover() does) rolls to exactly the same place, chain, seq
 *     and HEAD;
 *   - the part taken rolls again, alone, to the same chain with nothing
 *     torn (what recover() leaves after cutting the torn frame);
 *   - a re-signed HEAD names the last checkpoint taken and verifies under
 *     the signing key of its epoch. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "journal_int.h"
#include "medfs/crypto.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PREFIX_LEN (32 + 8 + 8 + 32 + 8)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (medfs_crypto_init() != 0)
		abort();
	return 0;
}

struct start {
	uint8_t seed[MEDFS_JOURNAL_SEED_LEN];
	uint64_t epoch, seq, segment;
	uint8_t chain[MEDFS_JOURNAL_HASH_LEN];
};

struct outcome {
	int ret;
	size_t torn;
	uint64_t good, seq, unsealed, epoch;
	uint8_t chain[MEDFS_JOURNAL_HASH_LEN];
	int have_head;
	struct jr_head head;
};

static void keep(struct outcome *o, const struct jr_roll *r, int ret, size_t torn)
{
	o->ret = ret;
	o->torn = torn;
	o->good = r->good;
	o->seq = r->seq;
	o->unsealed = r->unsealed;
	o->epoch = r->k->epoch;
	memcpy(o->chain, r->chain, sizeof(o->chain));
	o->have_head = r->have_head;
	o->head = r->head;
}

/* Rolls buf with jr_roll_bytes. */
static void roll_bytes(const struct start *s, const uint8_t *buf, size_t len,
		       struct outcome *o)
{
	struct jr_keys k;
	struct jr_roll r;
	size_t torn;
	int ret;

	jr_keys_set(&k, s->seed, s->epoch);
	jr_roll_init(&r, &k, s->segment, s->seq, s->chain);
	ret = jr_roll_bytes(&r, buf, len, &torn);
	if (ret == -ENOMEM)
		abort();
	keep(o, &r, ret, torn);
	jr_roll_free(&r);
}

/* Rolls buf as recover() rolls a segment file: through jr_fbuf_next. */
static void roll_file(const struct start *s, const uint8_t *buf, size_t len,
		      struct outcome *o)
{
	struct jr_keys k;
	struct jr_roll r;
	struct jr_fbuf fb;
	size_t torn = 0;
	int fd, ret = 0;

	fd = memfd_create("fuzz-torn", MFD_CLOEXEC);
	if (fd < 0 || jr_write_all(fd, buf, len) != 0)
		abort();
	jr_keys_set(&k, s->seed, s->epoch);
	jr_roll_init(&r, &k, s->segment, s->seq, s->chain);
	jr_fbuf_init(&fb, fd, 0);
	for (;;) {
		struct medfs_journal_frame f;
		const uint8_t *frame;
		size_t tail;
		ssize_t n = jr_fbuf_next(&fb, &frame, &f, &tail);

		if (n == 0) {
			torn = tail;
			break;
		}
		if (n < 0 && n != -EBADMSG)
			abort();
		ret = n < 0 ? -EBADMSG : jr_roll_frame(&r, frame, &f);
		if (ret == -ENOMEM)
			abort();
		if (ret < 0)
			break;
	}
	keep(o, &r, ret, torn);
	jr_fbuf_free(&fb);
	jr_roll_free(&r);
	close(fd);
}

static int same(const struct outcome *a, const struct outcome *b)
{
	return a->ret == b->ret && a->torn == b->torn && a->good == b->good &&
	       a->seq == b->seq && a->unsealed == b->unsealed && a->epoch == b->epoch &&
	       memcmp(a->chain, b->chain, sizeof(a->chain)) == 0 &&
	       a->have_head == b->have_head &&
	       (!a->have_head || memcmp(&a->head, &b->head, sizeof(a->head)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome a, b, c;
	struct start s;
	uint8_t *tail;
	size_t len;

	if (size < PREFIX_LEN)
		return 0;
	memcpy(s.seed, data, 32);
	s.epoch = jr_le64_get(data + 32);
	s.seq = jr_le64_get(data + 40);
	memcpy(s.chain, data + 48, 32);
	s.segment = jr_le64_get(data + 80);
	len = size - PREFIX_LEN;
	tail = malloc(len ? len : 1);
	if (!tail)
		abort();
	memcpy(tail, data + PREFIX_LEN, len);

	roll_bytes(&s, tail, len, &a);
	if (a.ret != 0 && a.ret != -EBADMSG)
		abort();
	if (a.good > len || a.torn > len - a.good || a.torn >= FRAME_MAX)
		abort();
	if (a.ret == 0 && a.good + a.torn != len)
		abort();
	if (a.seq < s.seq || a.unsealed > a.seq - s.seq ||
	    (a.good == 0) != (a.seq == s.seq))
		abort();

	roll_file(&s, tail, len, &b);
	if (!same(&a, &b))
		abort();

	roll_bytes(&s, tail, a.good, &c);
	if (c.ret != 0 || c.torn != 0 || c.good != a.good || c.seq != a.seq ||
	    memcmp(c.chain, a.chain, sizeof(c.chain)) != 0)
		abort();

	if (a.have_head) {
		struct jr_keys k;

		if (a.head.segment != s.segment || a.head.seq < s.seq ||
		    a.head.seq >= a.seq || a.head.epoch < s.epoch ||
		    a.head.epoch + 1 != a.epoch)
			abort();
		jr_keys_set(&k, s.seed, s.epoch);
		if (jr_keys_forward(&k, a.head.epoch) != 0 || jr_head_check(&a.head, k.pk) != 0)
			abort();
		if (a.head.seq + 1 + a.unsealed != a.seq)
			abort();
		sodium_memzero(&k, sizeof(k));
	}
	free(tail);
	return 0;
}
