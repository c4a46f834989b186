/* medfs: reading, verifying and pruning the access journal with the
 * auditor's secret key (doc/JOURNAL.md, "Verification").
 *
 * The verifier trusts only forward derivation: the first segment's seed
 * (or the seed PRUNED vouches for) is the anchor, and every later
 * segment's seed must be that seed evolved to the segment's start epoch.
 * A record keyed for a later epoch than the one it sits in, or an earlier
 * one, is refused: a key taken from the host later can never vouch for
 * what came before it. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "journal_int.h"
#include "medfs/crypto.h"
#include "medfs/journal.h"

#define HDR_LEN MEDFS_JOURNAL_SEGMENT_HEADER_LEN
#define PRUNED_FILE_MAX                                                                  \
	(PRUNED_FIXED_LEN + 8 * (size_t)PRUNED_MAX_REMOVED + MEDFS_JOURNAL_SIG_LEN)
#define VERIFY_ATTEMPTS 3

/* Opens segment n with the auditor key: header parsed, seed unsealed into
 * k (at the start epoch, keys derived), header MAC checked. On failure
 * *why says what failed. Returns the fd or a negative errno. */
static int seg_open(int dirfd, uint64_t n, const struct medfs_auditor_key *key,
		    struct jr_keys *k, struct medfs_journal_segment_header *h,
		    uint8_t vault_id[MEDFS_JOURNAL_VAULT_ID_LEN], const char **why)
{
	uint8_t buf[HDR_LEN], mac[32];
	int fd, ret;

	fd = jr_open_segment(dirfd, n);
	if (fd < 0) {
		*why = "cannot be opened";
		return fd;
	}
	ret = jr_pread_all(fd, buf, sizeof(buf), 0);
	if (ret < 0) {
		*why = ret == -ENODATA ? "is shorter than a segment header"
				       : "cannot be read";
		ret = ret == -ENODATA ? -EBADMSG : ret;
		goto fail;
	}
	ret = medfs_journal_segment_header_parse(buf, sizeof(buf), h);
	if (ret < 0) {
		*why = ret == -EPROTONOSUPPORT ? "has an unknown format version"
					       : "is not a journal segment (bad magic)";
		goto fail;
	}
	ret = jr_unseal_seed(key, h->sealed_seed, k->seed, vault_id);
	if (ret < 0) {
		*why = "has a sealed seed that does not open with this auditor key";
		goto fail;
	}
	k->epoch = h->start_epoch;
	jr_keys_derive(k);
	jr_header_mac(mac, buf, k->enc);
	if (sodium_memcmp(mac, h->mac, sizeof(mac)) != 0) {
		*why = "has a header that does not authenticate (modified)";
		ret = -EBADMSG;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return ret;
}

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
	uint8_t *nb;

	if (need <= *cap)
		return 0;
	nb = malloc(need);
	if (!nb)
		return -ENOMEM;
	if (*buf) {
		sodium_memzero(*buf, *cap);
		free(*buf);
	}
	*buf = nb;
	*cap = need;
	return 0;
}

static void body_free(uint8_t **buf, size_t *cap)
{
	if (*buf) {
		sodium_memzero(*buf, *cap);
		free(*buf);
	}
	*buf = NULL;
	*cap = 0;
}

/* ---- verifier ---- */

struct report_item {
	int error;
	uint64_t segment, seq;
	char msg[240];
};

struct vctx {
	int dirfd;
	const struct medfs_auditor_key *key;
	struct report_item *items;
	size_t nitems, cap;
	int oom;
	struct medfs_journal_verify_stats st;
	struct jr_keys *k;     /* the segment being read, at its current epoch */
	struct jr_keys *trust; /* the last seed known to continue the anchor */
	struct jr_keys *tmp;
	int have_trust;
	/* What the next segment must start with. */
	int have_expect, chain_known;
	uint64_t exp_seq, exp_epoch, exp_segment_end;
	uint8_t exp_chain[MEDFS_JOURNAL_HASH_LEN];
	int have_prev;
	uint64_t prev_segment;
	/* The last checkpoint seen. */
	int have_cp;
	uint64_t cp_segment, cp_seq, cp_epoch;
	uint8_t cp_hash[MEDFS_JOURNAL_HASH_LEN];
	uint8_t cp_pk[crypto_sign_PUBLICKEYBYTES];
	uint32_t last_cp_flags;
	int have_vault;
	/* The times of the stream so far (section 11): of the last record and
	 * of the journal's own last record, when known. */
	int have_times;
	uint64_t rec_us, own_us;
	/* The previous segment ended with a checkpoint that lets the next one
	 * continue without a journal-open record (a rotation). */
	int may_continue;
	/* The segment being read is of version 2 (journal-open records and
	 * ordered times); one of version 2 was seen. */
	int v2, seen_v2;
	uint8_t *body;
	size_t body_cap;
	struct medfs_journal_record_buf rb;
};

static void rep(struct vctx *v, int error, uint64_t seg, uint64_t seq, const char *fmt,
		...) __attribute__((format(printf, 5, 6)));

static void rep(struct vctx *v, int error, uint64_t seg, uint64_t seq, const char *fmt,
		...)
{
	struct report_item *it;
	va_list ap;

	if (error)
		v->st.errors++;
	else
		v->st.warnings++;
	if (v->nitems == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 16;
		struct report_item *ni = realloc(v->items, cap * sizeof(*ni));

		if (!ni) {
			v->oom = 1;
			return;
		}
		v->items = ni;
		v->cap = cap;
	}
	it = &v->items[v->nitems++];
	it->error = error;
	it->segment = seg;
	it->seq = seq;
	va_start(ap, fmt);
	vsnprintf(it->msg, sizeof(it->msg), fmt, ap);
	va_end(ap);
}

/* Checks a segment's seed against the trusted one evolved forward. */
static void check_seed(struct vctx *v, uint64_t n,
		       const struct medfs_journal_segment_header *h)
{
	if (!v->have_trust) {
		*v->trust = *v->k;
		v->have_trust = 1;
		if (h->start_epoch == 0)
			jr_journal_id(v->st.journal_id, v->k->seed);
		return;
	}
	if (h->start_epoch < v->trust->epoch) {
		rep(v, 1, n, MEDFS_JOURNAL_NONE,
		    "segment %" PRIu64 " starts at epoch %" PRIu64
		    ", before epoch %" PRIu64 " already reached: an old segment replayed",
		    n, h->start_epoch, v->trust->epoch);
		return;
	}
	*v->tmp = *v->trust;
	if (jr_keys_forward(v->tmp, h->start_epoch) < 0) {
		rep(v, 1, n, MEDFS_JOURNAL_NONE,
		    "segment %" PRIu64 " starts at an impossible epoch %" PRIu64, n,
		    h->start_epoch);
		return;
	}
	if (sodium_memcmp(v->tmp->seed, v->k->seed, MEDFS_JOURNAL_SEED_LEN) != 0) {
		rep(v, 1, n, MEDFS_JOURNAL_NONE,
		    "segment %" PRIu64
		    " has a seed that is not the evolution of the previous "
		    "segments' seed: a replaced or forged segment",
		    n);
		return;
	}
	*v->trust = *v->k;
}

static void check_checkpoint(struct vctx *v, uint64_t n,
			     const struct medfs_journal_frame *f,
			     const uint8_t prev[MEDFS_JOURNAL_HASH_LEN])
{
	const struct medfs_journal_checkpoint *cp = &v->rb.cp;
	uint8_t m[CP_MSG_LEN];

	if (cp->seq != f->seq || cp->epoch != f->epoch ||
	    sodium_memcmp(cp->hash, prev, MEDFS_JOURNAL_HASH_LEN) != 0)
		rep(v, 1, n, f->seq,
		    "checkpoint seq %" PRIu64
		    " does not describe its own place in the chain",
		    f->seq);
	jr_cp_message(m, n, cp);
	if (crypto_sign_verify_detached(cp->sig, m, sizeof(m), v->k->pk) != 0)
		rep(v, 1, n, f->seq,
		    "checkpoint seq %" PRIu64
		    " is not signed by the key of epoch %" PRIu64,
		    f->seq, f->epoch);
	memcpy(v->cp_pk, v->k->pk, sizeof(v->cp_pk));
	jr_keys_evolve(v->k);
	if (sodium_memcmp(cp->next_pk, v->k->pk, sizeof(cp->next_pk)) != 0)
		rep(v, 1, n, f->seq,
		    "checkpoint seq %" PRIu64
		    " announces a next-epoch key that is not the "
		    "evolution of its own",
		    f->seq);
}

/* Checks the decoded record seq of segment n (in v->rb) against the
 * stream before it: a segment opens with the writer's journal-open record
 * unless it continues a rotation; nothing follows a checkpoint that closed
 * the segment (closed_by: 1 + its seq, or 0); and times never go back,
 * the callers' records and the journal's own records each in their own
 * order. */
static void check_stream(struct vctx *v, uint64_t n, uint64_t seq, int first,
			 uint64_t closed_by)
{
	const struct medfs_journal_record *r = &v->rb.rec;
	const char *name = medfs_journal_op_name(r->op);
	int own = r->op == MEDFS_OP_CHECKPOINT || r->op == MEDFS_OP_JOURNAL_OPEN;
	uint64_t *last = own ? &v->own_us : &v->rec_us;

	if (closed_by)
		rep(v, 1, n, seq,
		    "record seq %" PRIu64 " follows checkpoint seq %" PRIu64
		    ", which closed segment %" PRIu64
		    ": records appended after the writer left it",
		    seq, closed_by - 1, n);
	if (!v->v2)
		return; /* a segment of before the other rules */
	if (first && r->op != MEDFS_OP_JOURNAL_OPEN && !v->may_continue)
		rep(v, 1, n, seq,
		    "segment %" PRIu64 " starts with a %s record, not with a writer's "
		    "journal-open record, and does not continue a rotation: "
		    "records appended by something other than a starting writer",
		    n, name ? name : "?");
	if (!first && r->op == MEDFS_OP_JOURNAL_OPEN)
		rep(v, 1, n, seq,
		    "record seq %" PRIu64
		    " is a journal-open record inside segment %" PRIu64
		    ": only a segment's first record is one",
		    seq, n);
	if (v->have_times && r->time_us < *last)
		rep(v, 1, n, seq,
		    "record seq %" PRIu64 " is dated %" PRIu64 " µs, before the %s"
		    "record before it (%" PRIu64 " µs): time went backwards (a "
		    "backdated record)",
		    seq, r->time_us, own ? "journal's own " : "", *last);
	if (!v->have_times) {
		v->rec_us = v->own_us = 0;
		v->have_times = 1;
	}
	if (r->time_us > *last)
		*last = r->time_us;
}

/* Verifies the records of segment n (fd past its header). */
static int verify_records(struct vctx *v, uint64_t n, int fd, int last, uint64_t *seq,
			  uint8_t chain[MEDFS_JOURNAL_HASH_LEN])
{
	struct jr_fbuf fb;
	uint64_t since_cp = 0, first_unsealed = 0, unverified = 0, broken_seq = 0;
	uint64_t closed_by = 0; /* 1 + seq of a checkpoint that ends the segment */
	uint8_t prev[MEDFS_JOURNAL_HASH_LEN];
	size_t tail = 0;
	int broken = 0, first = 1, ret = 0;

	jr_fbuf_init(&fb, fd, HDR_LEN);
	for (;;) {
		struct medfs_journal_frame f;
		const uint8_t *frame;
		ssize_t r = jr_fbuf_next(&fb, &frame, &f, &tail);

		if (r == -EBADMSG) {
			if (!broken)
				rep(v, 1, n, *seq,
				    "record seq %" PRIu64
				    " has an impossible length (modified or "
				    "garbage); the rest of segment %" PRIu64
				    " cannot be read",
				    *seq, n);
			broken = 2;
			break;
		}
		if (r < 0) {
			ret = (int)r;
			break;
		}
		if (r == 0)
			break;
		v->st.records++;
		if (broken) {
			unverified++;
			continue;
		}
		broken = 1;
		broken_seq = *seq;
		if (f.seq != *seq) {
			rep(v, 1, n, *seq,
			    "record seq %" PRIu64 " found where seq %" PRIu64
			    " was expected: a record deleted, inserted or moved",
			    f.seq, *seq);
			continue;
		}
		if (f.epoch != v->k->epoch) {
			rep(v, 1, n, *seq,
			    f.epoch > v->k->epoch
				    ? "record seq %" PRIu64 " is keyed for epoch %" PRIu64
				      " but sits in epoch %" PRIu64
				      ": a later key for an earlier record"
				    : "record seq %" PRIu64 " is keyed for epoch %" PRIu64
				      " after epoch %" PRIu64
				      " began: an older key reused",
			    *seq, f.epoch, v->k->epoch);
			continue;
		}
		ret = grow(&v->body, &v->body_cap, f.ct_len);
		if (ret < 0)
			break;
		if (jr_frame_open(v->k, n, chain, &f, v->body) < 0) {
			rep(v, 1, n, *seq,
			    "record seq %" PRIu64
			    " does not authenticate: modified, or the chain "
			    "before it was changed",
			    *seq);
			continue;
		}
		ret = medfs_journal_record_decode(
			v->body, f.ct_len - MEDFS_JOURNAL_TAG_LEN, &v->rb);
		sodium_memzero(v->body, f.ct_len);
		if (ret == -ENOMEM)
			break;
		if (ret < 0) {
			ret = 0;
			rep(v, 1, n, *seq, "record seq %" PRIu64 " has a malformed body",
			    *seq);
			continue;
		}
		broken = 0;
		check_stream(v, n, f.seq, first, closed_by);
		first = 0;
		if (v->rb.rec.op == MEDFS_OP_CHECKPOINT &&
		    (v->rb.cp.flags & (MEDFS_CHECKPOINT_CLOSE | MEDFS_CHECKPOINT_ROTATE |
				       MEDFS_CHECKPOINT_RECOVERY)))
			closed_by = f.seq + 1;
		memcpy(prev, chain, sizeof(prev));
		jr_chain(chain, frame, f.len);
		if (v->rb.rec.op == MEDFS_OP_CHECKPOINT) {
			check_checkpoint(v, n, &f, prev);
			v->have_cp = 1;
			v->cp_segment = n;
			v->cp_seq = f.seq;
			v->cp_epoch = f.epoch;
			memcpy(v->cp_hash, chain, sizeof(v->cp_hash));
			v->last_cp_flags = v->rb.cp.flags;
			v->st.checkpoints++;
			since_cp = 0;
		} else {
			if (since_cp == 0)
				first_unsealed = *seq;
			since_cp++;
		}
		medfs_journal_record_buf_free(&v->rb);
		(*seq)++;
	}
	jr_fbuf_free(&fb);
	/* A segment may be followed by one without a journal-open record
	 * only when its last record is a checkpoint that did not close the
	 * writer (a rotation, or the checkpoint before one). */
	v->may_continue = broken || (since_cp == 0 && !first &&
				     !(v->last_cp_flags & (MEDFS_CHECKPOINT_CLOSE |
							   MEDFS_CHECKPOINT_RECOVERY)));
	if (ret < 0)
		return ret;
	if (broken) {
		if (unverified)
			rep(v, 0, n, broken_seq,
			    "%" PRIu64 " records after seq %" PRIu64
			    " in segment %" PRIu64
			    " cannot be authenticated: the chain is broken there",
			    unverified, broken_seq, n);
		return 1;
	}
	if (tail)
		rep(v, !last, n, *seq,
		    last ? "%zu bytes of a torn record at the end of the last segment (a "
			   "crash "
			   "while writing)"
			 : "%zu bytes of a torn record at the end of a segment that is "
			   "not the "
			   "last",
		    tail);
	if (since_cp) {
		if (last) {
			rep(v, 0, n, first_unsealed,
			    "%" PRIu64 " records from seq %" PRIu64
			    " on are not sealed by a checkpoint yet (the writer crashed "
			    "or is "
			    "running)",
			    since_cp, first_unsealed);
			v->st.unsealed = since_cp;
		} else {
			rep(v, 1, n, first_unsealed,
			    "%" PRIu64 " records from seq %" PRIu64
			    " on at the end of segment %" PRIu64
			    " are not sealed by a checkpoint: the segment was truncated",
			    since_cp, first_unsealed, n);
		}
	}
	return 0;
}

static int verify_segment(struct vctx *v, uint64_t n, int last)
{
	struct medfs_journal_segment_header h;
	uint8_t vid[MEDFS_JOURNAL_VAULT_ID_LEN];
	uint8_t chain[MEDFS_JOURNAL_HASH_LEN];
	const char *why = "";
	uint64_t seq;
	int fd, r;

	if (v->have_prev && n != v->prev_segment + 1) {
		rep(v, 1, n, MEDFS_JOURNAL_NONE,
		    "segments %" PRIu64 " to %" PRIu64 " are missing (deleted)",
		    v->prev_segment + 1, n - 1);
		v->have_expect = 0;
	}
	/* After a break, what came before says nothing of this segment. */
	if (!v->have_expect || !v->chain_known) {
		v->have_times = 0;
		v->may_continue = 1;
	}
	v->have_prev = 1;
	v->prev_segment = n;
	v->st.segments++;
	v->st.last_segment = n;
	fd = seg_open(v->dirfd, n, v->key, v->k, &h, vid, &why);
	if (fd < 0) {
		if (fd == -ENOMEM)
			return fd;
		rep(v, 1, n, MEDFS_JOURNAL_NONE, "segment %" PRIu64 " %s", n, why);
		v->have_expect = 0;
		v->may_continue = 1;
		return 0;
	}
	if (!v->have_vault) {
		memcpy(v->st.vault_id, vid, sizeof(vid));
		v->have_vault = 1;
	} else if (sodium_memcmp(v->st.vault_id, vid, sizeof(vid)) != 0) {
		rep(v, 1, n, MEDFS_JOURNAL_NONE,
		    "segment %" PRIu64 " belongs to the journal of another vault", n);
	}
	if (h.segment != n)
		rep(v, 1, n, MEDFS_JOURNAL_NONE,
		    "segment file %" PRIu64 " holds segment %" PRIu64
		    ": a copied or renamed "
		    "segment",
		    n, h.segment);
	check_seed(v, n, &h);
	v->v2 = h.version >= 2;
	if (v->v2)
		v->seen_v2 = 1;
	else if (v->seen_v2)
		rep(v, 1, n, MEDFS_JOURNAL_NONE,
		    "segment %" PRIu64 " is of format version 1 after segments of "
		    "version 2: a segment made to escape the checks of the stream",
		    n);
	if (!v->v2) {
		v->have_times = 0; /* its times may go back: no baseline */
		v->may_continue = 1;
	}
	if (v->have_expect) {
		if (h.start_seq != v->exp_seq)
			rep(v, 1, n, h.start_seq,
			    "segment %" PRIu64 " starts at seq %" PRIu64
			    ", expected %" PRIu64,
			    n, h.start_seq, v->exp_seq);
		if (h.start_epoch != v->exp_epoch)
			rep(v, 1, n, MEDFS_JOURNAL_NONE,
			    "segment %" PRIu64 " starts at epoch %" PRIu64
			    ", expected %" PRIu64,
			    n, h.start_epoch, v->exp_epoch);
		if (v->chain_known &&
		    sodium_memcmp(h.prev_hash, v->exp_chain, MEDFS_JOURNAL_HASH_LEN) != 0)
			rep(v, 1, n, MEDFS_JOURNAL_NONE,
			    "segment %" PRIu64
			    " does not continue the chain where segment %" PRIu64 " ends",
			    n, v->exp_segment_end);
	}
	seq = h.start_seq;
	memcpy(chain, h.prev_hash, sizeof(chain));
	r = verify_records(v, n, fd, last, &seq, chain);
	close(fd);
	if (r < 0)
		return r;
	v->st.next_seq = seq;
	v->st.epoch = v->k->epoch;
	/* A broken chain leaves nothing to compare the next segment with. */
	v->have_expect = r == 0;
	v->chain_known = r == 0;
	v->exp_seq = seq;
	v->exp_epoch = v->k->epoch;
	v->exp_segment_end = n;
	memcpy(v->exp_chain, chain, sizeof(chain));
	return 0;
}

static void verify_head(struct vctx *v)
{
	struct jr_head h;
	uint8_t *buf;
	size_t len;
	int r;

	r = jr_read_file(v->dirfd, HEAD_NAME, &buf, &len, 4096);
	if (r == -ENOENT) {
		if (v->have_cp)
			rep(v, 1, v->cp_segment, v->cp_seq,
			    "HEAD is missing (the journal has checkpoints)");
		return;
	}
	if (r < 0 || jr_head_parse(buf, len, &h) < 0) {
		free(buf);
		rep(v, 1, MEDFS_JOURNAL_NONE, MEDFS_JOURNAL_NONE,
		    "HEAD is unreadable or malformed");
		return;
	}
	free(buf);
	if (v->have_cp && h.segment == v->cp_segment && h.seq == v->cp_seq &&
	    h.epoch == v->cp_epoch &&
	    sodium_memcmp(h.hash, v->cp_hash, sizeof(h.hash)) == 0) {
		if (jr_head_check(&h, v->cp_pk) < 0)
			rep(v, 1, h.segment, h.seq,
			    "HEAD is not signed by the key of its checkpoint's epoch");
		return;
	}
	if (!v->have_cp || h.seq > v->cp_seq || h.segment > v->cp_segment)
		rep(v, 1, h.segment, h.seq,
		    "HEAD names checkpoint seq %" PRIu64 " in segment %" PRIu64
		    ", beyond the journal's last checkpoint: the journal was truncated "
		    "or its "
		    "last segment deleted",
		    h.seq, h.segment);
	else if (h.seq < v->cp_seq)
		rep(v, 1, v->cp_segment, v->cp_seq,
		    "HEAD names checkpoint seq %" PRIu64 " in segment %" PRIu64
		    ", older than the journal's last checkpoint seq %" PRIu64
		    ": HEAD rolled back",
		    h.seq, h.segment, v->cp_seq);
	else
		rep(v, 1, h.segment, h.seq,
		    "HEAD does not match the journal's checkpoint seq %" PRIu64
		    ": replaced",
		    h.seq);
}

/* Reads PRUNED: 1 with a valid manifest in p, 0 without one. */
static int read_pruned(struct vctx *v, struct jr_pruned *p)
{
	uint8_t *buf;
	size_t len;
	int r;

	r = jr_read_file(v->dirfd, PRUNED_NAME, &buf, &len, PRUNED_FILE_MAX);
	if (r == -ENOENT)
		return 0;
	if (r == 0)
		r = jr_pruned_parse(buf, len, p, v->key->sign_pk);
	free(buf);
	if (r == -ENOMEM)
		return r;
	if (r == -EKEYREJECTED) {
		rep(v, 1, MEDFS_JOURNAL_NONE, MEDFS_JOURNAL_NONE,
		    "PRUNED is not signed by the auditor key: ignored");
		return 0;
	}
	if (r < 0) {
		rep(v, 1, MEDFS_JOURNAL_NONE, MEDFS_JOURNAL_NONE,
		    "PRUNED is unreadable or malformed: ignored");
		return 0;
	}
	return 1;
}

static int verify_once(struct vctx *v)
{
	struct jr_pruned p = { 0 };
	uint64_t *list = NULL;
	size_t n, i = 0;
	int have_pruned, r;

	r = jr_list_segments(v->dirfd, &list, &n);
	if (r < 0)
		return r;
	have_pruned = read_pruned(v, &p);
	if (have_pruned < 0) {
		r = have_pruned;
		goto out;
	}
	if (n == 0) {
		struct stat sb;

		if (fstatat(v->dirfd, HEAD_NAME, &sb, 0) == 0 || have_pruned)
			rep(v, 1, MEDFS_JOURNAL_NONE, MEDFS_JOURNAL_NONE,
			    "the journal has no segment left: all deleted");
		else
			rep(v, 0, MEDFS_JOURNAL_NONE, MEDFS_JOURNAL_NONE,
			    "the journal is empty");
		goto out;
	}
	if (have_pruned) {
		uint8_t vid[MEDFS_JOURNAL_VAULT_ID_LEN];

		v->st.pruned_segments = p.nremoved;
		for (; i < n - 1 && list[i] < p.first_kept; i++)
			rep(v, 0, list[i], MEDFS_JOURNAL_NONE,
			    "segment %" PRIu64
			    " is pruned by PRUNED but still present (an "
			    "interrupted prune): not verified",
			    list[i]);
		if (list[i] != p.first_kept)
			rep(v, 1, list[i], MEDFS_JOURNAL_NONE,
			    "the journal starts at segment %" PRIu64
			    " but PRUNED says it starts at "
			    "%" PRIu64 ": segments deleted",
			    list[i], p.first_kept);
		v->have_expect = v->chain_known = 1;
		v->may_continue = 1; /* how the pruned segment ended is gone */
		v->exp_seq = p.seq;
		v->exp_epoch = p.epoch;
		v->exp_segment_end = p.first_kept - 1;
		memcpy(v->exp_chain, p.prev_hash, sizeof(v->exp_chain));
		memcpy(v->st.journal_id, p.journal_id, sizeof(v->st.journal_id));
		if (jr_unseal_seed(v->key, p.sealed_seed, v->trust->seed, vid) == 0) {
			v->trust->epoch = p.epoch;
			jr_keys_derive(v->trust);
			v->have_trust = 1;
		} else {
			rep(v, 1, MEDFS_JOURNAL_NONE, MEDFS_JOURNAL_NONE,
			    "the seed PRUNED names does not open with this auditor key");
		}
	} else {
		if (list[0] != 1)
			rep(v, 1, list[0], MEDFS_JOURNAL_NONE,
			    "the journal starts at segment %" PRIu64
			    ", not 1, and has no valid "
			    "PRUNED manifest: segments deleted",
			    list[0]);
		v->have_expect = v->chain_known = 1;
		v->exp_seq = 0;
		v->exp_epoch = 0;
		v->exp_segment_end = 0;
		memset(v->exp_chain, 0, sizeof(v->exp_chain));
	}
	v->st.first_segment = list[i];
	v->st.first_seq = v->exp_seq;
	for (; i < n; i++) {
		r = verify_segment(v, list[i], i == n - 1);
		if (r < 0)
			goto out;
	}
	verify_head(v);
	r = 0;
out:
	free(p.removed);
	free(list);
	return r;
}

static void vctx_reset(struct vctx *v)
{
	v->nitems = 0;
	v->oom = 0;
	memset(&v->st, 0, sizeof(v->st));
	v->have_trust = v->have_expect = v->chain_known = v->have_prev = 0;
	v->have_cp = v->have_vault = 0;
	v->have_times = v->may_continue = 0;
	v->v2 = v->seen_v2 = 0;
	v->rec_us = v->own_us = 0;
	v->last_cp_flags = 0;
	sodium_memzero(v->k, 3 * sizeof(*v->k));
}

static int read_head_bytes(int dirfd, uint8_t **buf, size_t *len)
{
	int r = jr_read_file(dirfd, HEAD_NAME, buf, len, 4096);

	return r == -ENOENT ? 0 : r;
}

/* Pre-pass: does any segment's seed open with key? */
static int key_fits(int dirfd, const struct medfs_auditor_key *key, struct jr_keys *k)
{
	struct medfs_journal_segment_header h;
	uint8_t vid[MEDFS_JOURNAL_VAULT_ID_LEN];
	uint64_t *list;
	size_t n;
	const char *why;
	int r, fits = 0;

	r = jr_list_segments(dirfd, &list, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && !fits; i++) {
		int fd = seg_open(dirfd, list[i], key, k, &h, vid, &why);

		if (fd >= 0) {
			close(fd);
			fits = 1;
		} else if (fd != -EKEYREJECTED) {
			fits = 1; /* damaged, not another key: verify says how */
		}
	}
	free(list);
	return n == 0 || fits ? 0 : -EKEYREJECTED;
}

int medfs_journal_verify(const char *dir, const struct medfs_auditor_key *key,
			 medfs_journal_report_fn report, void *ctx,
			 struct medfs_journal_verify_stats *stats)
{
	struct vctx v = { .dirfd = -1, .key = key };
	uint8_t *h0 = NULL, *h1 = NULL;
	size_t l0 = 0, l1 = 0;
	int r;

	if (stats)
		memset(stats, 0, sizeof(*stats));
	if (medfs_crypto_init() < 0)
		return -EIO;
	if (!key->has_secret)
		return -EINVAL;
	v.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (v.dirfd < 0)
		return -errno;
	v.k = medfs_secret_alloc(3 * sizeof(*v.k));
	if (!v.k) {
		r = -ENOMEM;
		goto out;
	}
	v.trust = v.k + 1;
	v.tmp = v.k + 2;
	r = key_fits(v.dirfd, key, v.k);
	if (r < 0)
		goto out;
	/* A live writer may checkpoint meanwhile: a run is valid when HEAD
	 * did not change under it. */
	for (int attempt = 0; attempt < VERIFY_ATTEMPTS; attempt++) {
		vctx_reset(&v);
		free(h0);
		h0 = NULL;
		r = read_head_bytes(v.dirfd, &h0, &l0);
		if (r == 0)
			r = verify_once(&v);
		if (r == 0)
			r = read_head_bytes(v.dirfd, &h1, &l1);
		if (r < 0)
			goto out;
		if (l0 == l1 && (l0 == 0 || memcmp(h0, h1, l0) == 0))
			break;
		free(h1);
		h1 = NULL;
		l1 = 0;
		nanosleep(&(struct timespec){ 0, 50 * 1000 * 1000 }, NULL);
	}
	if (v.oom) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; report && i < v.nitems; i++)
		report(ctx, v.items[i].error, v.items[i].segment, v.items[i].seq,
		       v.items[i].msg);
	if (stats)
		*stats = v.st;
	r = (int)(v.st.errors > INT32_MAX ? INT32_MAX : v.st.errors);
out:
	free(h0);
	free(h1);
	free(v.items);
	body_free(&v.body, &v.body_cap);
	medfs_journal_record_buf_free(&v.rb);
	medfs_secret_free(v.k);
	close(v.dirfd);
	return r;
}

/* ---- reader ---- */

struct medfs_journal_reader {
	int dirfd, fd;
	const struct medfs_auditor_key *key;
	unsigned int flags;
	int started;
	uint64_t segment;
	struct jr_fbuf fb;
	struct jr_keys *k;
	uint8_t chain[MEDFS_JOURNAL_HASH_LEN];
	uint8_t *body;
	size_t body_cap;
};

/* The smallest segment number above cur (any when !started). Returns 1
 * with *next, 0 when there is none, or -errno. */
static int segment_after(int dirfd, int started, uint64_t cur, uint64_t *next)
{
	char name[MEDFS_JOURNAL_SEGMENT_NAME_LEN];
	struct stat sb;
	uint64_t *list;
	size_t n;
	int r;

	if (started) {
		medfs_journal_segment_name(name, cur + 1);
		if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
			*next = cur + 1;
			return 1;
		}
	}
	r = jr_list_segments(dirfd, &list, &n);
	if (r < 0)
		return r;
	r = 0;
	for (size_t i = 0; i < n; i++) {
		if (!started || list[i] > cur) {
			*next = list[i];
			r = 1;
			break;
		}
	}
	free(list);
	return r;
}

/* Whether segment n is the newest and shorter than its header: the writer
 * creates a segment, then writes its header, so a follower may meet it in
 * between; it is read once whole. */
static int segment_being_made(int dirfd, uint64_t n)
{
	char name[MEDFS_JOURNAL_SEGMENT_NAME_LEN];
	struct stat sb;
	uint64_t later;

	medfs_journal_segment_name(name, n);
	if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || sb.st_size >= HDR_LEN)
		return 0;
	return segment_after(dirfd, 1, n, &later) == 0;
}

static void reader_drop_segment(struct medfs_journal_reader *rd)
{
	if (rd->fd >= 0)
		close(rd->fd);
	rd->fd = -1;
	jr_fbuf_free(&rd->fb);
}

int medfs_journal_reader_open(struct medfs_journal_reader **out, const char *dir,
			      const struct medfs_auditor_key *key, unsigned int flags)
{
	struct medfs_journal_reader *rd;
	struct medfs_journal_segment_header h;
	uint8_t vid[MEDFS_JOURNAL_VAULT_ID_LEN];
	const char *why;
	uint64_t first;
	int r;

	*out = NULL;
	if (medfs_crypto_init() < 0)
		return -EIO;
	if (!key->has_secret)
		return -EINVAL;
	rd = calloc(1, sizeof(*rd));
	if (!rd)
		return -ENOMEM;
	rd->fd = -1;
	rd->key = key;
	rd->flags = flags;
	rd->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rd->dirfd < 0) {
		r = -errno;
		goto fail;
	}
	rd->k = medfs_secret_alloc(sizeof(*rd->k));
	if (!rd->k) {
		r = -ENOMEM;
		goto fail;
	}
	r = segment_after(rd->dirfd, 0, 0, &first);
	if (r < 0)
		goto fail;
	if (r == 1) {
		int fd = seg_open(rd->dirfd, first, key, rd->k, &h, vid, &why);

		if (fd == -EKEYREJECTED) {
			r = fd;
			goto fail;
		}
		if (fd >= 0)
			close(fd);
	}
	*out = rd;
	return 0;
fail:
	medfs_journal_reader_close(rd);
	return r;
}

void medfs_journal_reader_close(struct medfs_journal_reader *rd)
{
	if (!rd)
		return;
	reader_drop_segment(rd);
	if (rd->dirfd >= 0)
		close(rd->dirfd);
	medfs_secret_free(rd->k);
	body_free(&rd->body, &rd->body_cap);
	free(rd);
}

int medfs_journal_reader_next(struct medfs_journal_reader *rd,
			      struct medfs_journal_record_buf *out,
			      struct medfs_journal_pos *pos)
{
	struct medfs_journal_pos dummy;
	int r;

	if (!pos)
		pos = &dummy;
	for (;;) {
		struct medfs_journal_segment_header h;
		uint8_t vid[MEDFS_JOURNAL_VAULT_ID_LEN];
		struct medfs_journal_frame f;
		const uint8_t *frame;
		const char *why;
		uint64_t next;
		size_t tail;
		ssize_t n;

		if (rd->fd < 0) {
			r = segment_after(rd->dirfd, rd->started, rd->segment, &next);
			if (r <= 0)
				return r;
			if (segment_being_made(rd->dirfd, next))
				return 0; /* the end, for now */
			rd->started = 1;
			rd->segment = next;
			pos->segment = next;
			pos->seq = pos->epoch = MEDFS_JOURNAL_NONE;
			r = seg_open(rd->dirfd, next, rd->key, rd->k, &h, vid, &why);
			if (r < 0)
				return r; /* the next call moves past it */
			rd->fd = r;
			memcpy(rd->chain, h.prev_hash, sizeof(rd->chain));
			jr_fbuf_init(&rd->fb, rd->fd, HDR_LEN);
		}
		pos->segment = rd->segment;
		pos->seq = pos->epoch = MEDFS_JOURNAL_NONE;
		n = jr_fbuf_next(&rd->fb, &frame, &f, &tail);
		if (n == 0) {
			r = segment_after(rd->dirfd, 1, rd->segment, &next);
			if (r <= 0)
				return r; /* the end, for now */
			/* The writer ends a segment before it makes the next:
			 * what it appended after the end seen above is here. */
			n = jr_fbuf_next(&rd->fb, &frame, &f, &tail);
		}
		if (n == 0) {
			reader_drop_segment(rd);
			if (tail)
				return -EBADMSG; /* torn record before a later segment */
			continue;
		}
		if (n < 0) {
			if (n == -EBADMSG)
				reader_drop_segment(rd);
			return (int)n;
		}
		pos->seq = f.seq;
		pos->epoch = f.epoch;
		if (f.epoch < rd->k->epoch || jr_keys_forward(rd->k, f.epoch) < 0) {
			reader_drop_segment(rd);
			return -EBADMSG;
		}
		r = grow(&rd->body, &rd->body_cap, f.ct_len);
		if (r < 0)
			return r;
		if (jr_frame_open(rd->k, rd->segment, rd->chain, &f, rd->body) < 0) {
			reader_drop_segment(rd);
			return -EBADMSG;
		}
		jr_chain(rd->chain, frame, f.len);
		r = medfs_journal_record_decode(rd->body,
						f.ct_len - MEDFS_JOURNAL_TAG_LEN, out);
		sodium_memzero(rd->body, f.ct_len);
		if (r < 0)
			return r;
		if (out->rec.op == MEDFS_OP_CHECKPOINT)
			jr_keys_evolve(rd->k);
		if ((out->rec.op == MEDFS_OP_CHECKPOINT ||
		     out->rec.op == MEDFS_OP_JOURNAL_OPEN) &&
		    !(rd->flags & MEDFS_JOURNAL_READ_CHECKPOINTS))
			continue;
		return 1;
	}
}

/* ---- retention ---- */

/* The time of the last record of segment n (its closing checkpoint). */
static int segment_last_time(int dirfd, uint64_t n, const struct medfs_auditor_key *key,
			     struct jr_keys *k, uint64_t *t)
{
	struct medfs_journal_record_buf rb = MEDFS_JOURNAL_RECORD_BUF_INIT;
	struct medfs_journal_segment_header h;
	struct medfs_journal_frame f, lf;
	uint8_t vid[MEDFS_JOURNAL_VAULT_ID_LEN];
	uint8_t chain[MEDFS_JOURNAL_HASH_LEN], prev[MEDFS_JOURNAL_HASH_LEN];
	uint8_t *last = NULL, *body = NULL;
	uint64_t last_off = 0, off = HDR_LEN;
	size_t last_len = 0, tail;
	struct jr_fbuf fb;
	const uint8_t *frame;
	const char *why;
	ssize_t r;
	int fd, ret;

	fd = seg_open(dirfd, n, key, k, &h, vid, &why);
	if (fd < 0)
		return fd;
	memcpy(chain, h.prev_hash, sizeof(chain));
	jr_fbuf_init(&fb, fd, HDR_LEN);
	while ((r = jr_fbuf_next(&fb, &frame, &f, &tail)) > 0) {
		memcpy(prev, chain, sizeof(prev));
		jr_chain(chain, frame, f.len);
		last_off = off;
		last_len = f.len;
		off += f.len;
	}
	jr_fbuf_free(&fb);
	ret = r < 0 ? (int)r : -EBADMSG;
	if (r < 0 || last_len == 0)
		goto out;
	last = malloc(last_len);
	if (!last) {
		ret = -ENOMEM;
		goto out;
	}
	ret = jr_pread_all(fd, last, last_len, last_off);
	if (ret < 0)
		goto out;
	ret = -EBADMSG;
	if (medfs_journal_frame_parse(last, last_len, &lf) != (ssize_t)last_len ||
	    jr_keys_forward(k, lf.epoch) < 0)
		goto out;
	body = malloc(lf.ct_len);
	if (!body) {
		ret = -ENOMEM;
		goto out;
	}
	if (jr_frame_open(k, n, prev, &lf, body) < 0)
		goto out;
	ret = medfs_journal_record_decode(body, lf.ct_len - MEDFS_JOURNAL_TAG_LEN, &rb);
	sodium_memzero(body, lf.ct_len);
	if (ret == 0)
		*t = rb.rec.time_us;
out:
	medfs_journal_record_buf_free(&rb);
	free(body);
	free(last);
	close(fd);
	return ret;
}

/* 1 when segment n holds no record (only its header). */
static int segment_empty(int dirfd, uint64_t n)
{
	char name[MEDFS_JOURNAL_SEGMENT_NAME_LEN];
	struct stat sb;

	medfs_journal_segment_name(name, n);
	return fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	       sb.st_size <= HDR_LEN;
}

int medfs_journal_prune(const char *dir, uint64_t before_us,
			const struct medfs_auditor_key *key,
			medfs_journal_report_fn report, void *ctx, uint64_t *removed)
{
	struct medfs_journal_verify_stats st;
	struct medfs_journal_segment_header h;
	struct jr_pruned old = { 0 }, p = { 0 };
	uint8_t vid[MEDFS_JOURNAL_VAULT_ID_LEN];
	struct jr_keys *k = NULL;
	uint64_t *list = NULL, t = 0;
	uint8_t *buf = NULL;
	size_t n, len, cut = 0, keep;
	const char *why;
	int dirfd, have_old = 0, r, fd;

	if (removed)
		*removed = 0;
	if (!key->has_secret)
		return -EINVAL;
	r = medfs_journal_verify(dir, key, report, ctx, &st);
	if (r < 0)
		return r;
	if (r > 0)
		return -EBADMSG;
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	k = medfs_secret_alloc(sizeof(*k));
	if (!k) {
		r = -ENOMEM;
		goto out;
	}
	r = jr_list_segments(dirfd, &list, &n);
	if (r < 0)
		goto out;
	keep = n;
	r = jr_read_file(dirfd, PRUNED_NAME, &buf, &len, PRUNED_FILE_MAX);
	if (r == 0) {
		r = jr_pruned_parse(buf, len, &old, key->sign_pk);
		have_old = r == 0;
	}
	free(buf);
	buf = NULL;
	if (r < 0 && r != -ENOENT)
		goto out;
	/* Never the last segment, nor the last that holds records (a rotation
	 * just before the writer closed leaves an empty one after it): HEAD
	 * names its checkpoint. */
	while (keep > 1 && segment_empty(dirfd, list[keep - 1]))
		keep--;
	/* Leftovers of an interrupted prune first, then expired segments. */
	while (cut + 1 < keep && have_old && list[cut] < old.first_kept)
		cut++;
	while (cut + 1 < keep) {
		r = segment_last_time(dirfd, list[cut], key, k, &t);
		if (r < 0)
			goto out;
		if (t >= before_us)
			break;
		cut++;
	}
	r = 0;
	if (cut == 0)
		goto out;

	fd = seg_open(dirfd, list[cut], key, k, &h, vid, &why);
	if (fd < 0) {
		r = fd;
		goto out;
	}
	close(fd);
	p.time_us = jr_now_us();
	p.first_kept = list[cut];
	p.seq = h.start_seq;
	p.epoch = h.start_epoch;
	memcpy(p.prev_hash, h.prev_hash, sizeof(p.prev_hash));
	memcpy(p.sealed_seed, h.sealed_seed, sizeof(p.sealed_seed));
	memcpy(p.journal_id, st.journal_id, sizeof(p.journal_id));
	p.nremoved = (have_old ? old.nremoved : 0) + cut;
	p.removed = malloc(p.nremoved * sizeof(*p.removed));
	if (!p.removed) {
		r = -ENOMEM;
		goto out;
	}
	p.nremoved = 0;
	for (uint64_t i = 0; have_old && i < old.nremoved; i++)
		p.removed[p.nremoved++] = old.removed[i];
	for (size_t i = 0; i < cut; i++)
		if (!have_old || list[i] >= old.first_kept)
			p.removed[p.nremoved++] = list[i];
	r = jr_pruned_encode(&p, key->sign_sk, &buf, &len);
	if (r < 0)
		goto out;
	/* The manifest first: a crash leaves segments it already names. */
	r = jr_replace_file(dirfd, PRUNED_NAME, buf, len);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < cut; i++) {
		char name[MEDFS_JOURNAL_SEGMENT_NAME_LEN];

		medfs_journal_segment_name(name, list[i]);
		if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT) {
			r = -errno;
			goto out;
		}
	}
	if (fsync(dirfd) < 0) {
		r = -errno;
		goto out;
	}
	if (removed)
		*removed = cut;
out:
	free(buf);
	free(p.removed);
	free(old.removed);
	free(list);
	medfs_secret_free(k);
	close(dirfd);
	return r;
}
