/* medfs: the access journal, internals shared by its writer (journal.c),
 * auditor keys (journal_key.c) and reader, verifier and pruner
 * (journal_verify.c). Not a public header. Layouts: doc/JOURNAL.md. */
#ifndef MEDFS_JOURNAL_INT_H
#define MEDFS_JOURNAL_INT_H

#include <stdint.h>
#include <sys/types.h>

#include <sodium.h>

#include "medfs/journal.h"

#define SEG_MAGIC "MDJSEG02"
/* Segments of before journal-open records and ordered times: still read. */
#define SEG_MAGIC_V1 "MDJSEG01"
#define SEG_MAGIC_PREFIX_LEN 6 /* "MDJSEG": the two digits are the version */
#define MAGIC_LEN 8
#define SEG_OFF_NUMBER 8
#define SEG_OFF_EPOCH 16
#define SEG_OFF_SEQ 24
#define SEG_OFF_CREATED 32
#define SEG_OFF_PREV 40
#define SEG_OFF_SEALED 72
#define SEG_OFF_MAC 168

#define FRAME_LEN_FIELD 4
#define FRAME_OFF_EPOCH 4
#define FRAME_OFF_SEQ 12
#define FRAME_OFF_NONCE 20
#define NONCE_LEN 24
#define AD_LEN 56 /* segment, epoch, seq, prev chain hash */
/* Smallest and largest value of a frame's length field (bytes after it). */
#define FRAME_REST_MIN (MEDFS_JOURNAL_FRAME_HEADER_LEN - FRAME_LEN_FIELD + 1 + 16)
#define FRAME_REST_MAX                                                                   \
	(MEDFS_JOURNAL_FRAME_HEADER_LEN - FRAME_LEN_FIELD + MEDFS_JOURNAL_BODY_MAX + 16)
#define FRAME_MAX (FRAME_LEN_FIELD + FRAME_REST_MAX)

/* Checkpoint signature message: segment, epoch, seq, h, time, next pk. */
#define CP_MSG_LEN (8 + 8 + 8 + 32 + 8 + 32)

/* HEAD: magic, segment, seq, chain hash, epoch, time, signature. */
#define HEAD_MAGIC "MDJHEAD1"
#define HEAD_SIGNED_LEN 72
#define HEAD_LEN (HEAD_SIGNED_LEN + MEDFS_JOURNAL_SIG_LEN)

/* STATE: magic, nonce, sealed (seed, epoch, seq, chain, segment, offset,
 * vault id, time of the last record). */
#define STATE_MAGIC "MDJSTAT1"
#define STATE_PLAIN_LEN (32 + 8 + 8 + 32 + 8 + 8 + 16 + 8)
#define STATE_LEN (MAGIC_LEN + NONCE_LEN + STATE_PLAIN_LEN + 16)

/* PRUNED: magic, time, first kept segment, its seq, epoch, prev hash and
 * sealed seed, journal id, count, removed segment numbers, signature. */
#define PRUNED_MAGIC "MDJPRUN1"
#define PRUNED_FIXED_LEN 192
#define PRUNED_MAX_REMOVED (1u << 20)

#define HEAD_NAME "HEAD"
#define STATE_NAME "STATE"
#define PRUNED_NAME "PRUNED"

/* Furthest a verifier or reader derives forward in one step: every epoch
 * costs one checkpoint record, so more is a forgery, not a journal. */
#define EPOCH_JUMP_MAX (UINT64_C(1) << 22)

/* Keys of one epoch, in secret memory. */
struct jr_keys {
	uint64_t epoch;
	uint8_t seed[MEDFS_JOURNAL_SEED_LEN];
	uint8_t enc[32];
	uint8_t sk[crypto_sign_SECRETKEYBYTES];
	uint8_t pk[crypto_sign_PUBLICKEYBYTES];
	uint8_t tmp[32];
};

struct medfs_auditor_key {
	uint8_t box_pk[crypto_box_PUBLICKEYBYTES];
	uint8_t sign_pk[crypto_sign_PUBLICKEYBYTES];
	int has_secret;
	uint8_t box_sk[crypto_box_SECRETKEYBYTES];
	uint8_t sign_sk[crypto_sign_SECRETKEYBYTES];
};

struct jr_head {
	uint64_t segment, seq, epoch, time_us;
	uint8_t hash[MEDFS_JOURNAL_HASH_LEN];
	uint8_t sig[MEDFS_JOURNAL_SIG_LEN];
};

struct jr_pruned {
	uint64_t time_us, first_kept, seq, epoch;
	uint8_t prev_hash[MEDFS_JOURNAL_HASH_LEN];
	uint8_t sealed_seed[MEDFS_JOURNAL_SEALED_SEED_LEN];
	uint8_t journal_id[MEDFS_JOURNAL_ID_LEN];
	uint64_t nremoved;
	uint64_t *removed;
	uint8_t sig[MEDFS_JOURNAL_SIG_LEN];
};

/* A buffered reader of the frames of one segment file. */
struct jr_fbuf {
	int fd;
	uint8_t *buf;
	size_t cap, start, end;
	uint64_t off; /* file offset of buf[start] */
};

static inline void jr_le64_put(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t jr_le64_get(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline void jr_le32_put(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t jr_le32_get(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* ---- crypto (journal.c) ---- */

/* Derives enc, sk and pk of k->seed. */
void jr_keys_derive(struct jr_keys *k);
/* Moves k to the next epoch: seed evolved, old seed and keys overwritten. */
void jr_keys_evolve(struct jr_keys *k);
/* Sets k to seed at epoch, derived. */
void jr_keys_set(struct jr_keys *k, const uint8_t seed[MEDFS_JOURNAL_SEED_LEN],
		 uint64_t epoch);
/* Evolves k forward to epoch (>= k->epoch, at most EPOCH_JUMP_MAX away).
 * Returns 0 or -ERANGE. */
int jr_keys_forward(struct jr_keys *k, uint64_t epoch);
void jr_journal_id(uint8_t id[MEDFS_JOURNAL_ID_LEN],
		   const uint8_t seed[MEDFS_JOURNAL_SEED_LEN]);

void jr_header_mac(uint8_t mac[32], const uint8_t hdr[MEDFS_JOURNAL_SEGMENT_HEADER_LEN],
		   const uint8_t enc[32]);
/* h = BLAKE2b-256(h || frame). */
void jr_chain(uint8_t h[MEDFS_JOURNAL_HASH_LEN], const uint8_t *frame, size_t len);
/* Decrypts frame f of segment under k (at f->epoch) and prev; body gets
 * f->ct_len - 16 bytes. Returns 0 or -EBADMSG (body wiped). */
int jr_frame_open(const struct jr_keys *k, uint64_t segment,
		  const uint8_t prev[MEDFS_JOURNAL_HASH_LEN],
		  const struct medfs_journal_frame *f, uint8_t *body);
void jr_cp_message(uint8_t m[CP_MSG_LEN], uint64_t segment,
		   const struct medfs_journal_checkpoint *cp);
/* Unseals a segment's seed and vault id. Returns 0 or -EKEYREJECTED. */
int jr_unseal_seed(const struct medfs_auditor_key *key,
		   const uint8_t sealed[MEDFS_JOURNAL_SEALED_SEED_LEN],
		   uint8_t seed[MEDFS_JOURNAL_SEED_LEN],
		   uint8_t vault_id[MEDFS_JOURNAL_VAULT_ID_LEN]);

/* Encodes a record, or (cp non-NULL) a checkpoint body. */
int jr_encode(const struct medfs_journal_record *r,
	      const struct medfs_journal_checkpoint *cp, uint8_t *out, size_t cap,
	      size_t *len);

void jr_head_encode(uint8_t buf[HEAD_LEN], const struct jr_head *h);
int jr_head_parse(const uint8_t *buf, size_t len, struct jr_head *h);
/* Returns 0 when h is signed by pk. */
int jr_head_check(const struct jr_head *h, const uint8_t pk[32]);

/* ---- files (journal.c) ---- */

int jr_write_all(int fd, const uint8_t *buf, size_t len);
int jr_pread_all(int fd, uint8_t *buf, size_t len, uint64_t off);
/* Atomically replaces dirfd/name: temporary, fsync, rename, fsync dir. */
int jr_replace_file(int dirfd, const char *name, const uint8_t *buf, size_t len);
/* Makes dirfd/NAME.tmp a file of len (at most HEAD_LEN) zero bytes, so
 * that jr_replace_reserved needs no more space on a file system that
 * overwrites in place (ext4, xfs, tmpfs; not a copy-on-write one). Returns
 * 0 or -errno (-ENOSPC), with no NAME.tmp left on failure. */
int jr_reserve_file(int dirfd, const char *name, size_t len);
/* Replaces dirfd/name with the reserved NAME.tmp, overwritten with buf:
 * fsync, rename, fsync dir. *renamed is 1 once the rename is done (a
 * failure after it is the directory's fsync). Returns 0 or -errno. */
int jr_replace_reserved(int dirfd, const char *name, const uint8_t *buf, size_t len,
			int *renamed);
/* Reads dirfd/name whole (at most max bytes, else -EFBIG) into a malloc'd
 * buffer. */
int jr_read_file(int dirfd, const char *name, uint8_t **buf, size_t *len, size_t max);
/* Sorted segment numbers in dirfd; *list malloc'd (NULL when none). */
int jr_list_segments(int dirfd, uint64_t **list, size_t *n);
/* Opens segment n read-only. */
int jr_open_segment(int dirfd, uint64_t n);

void jr_fbuf_init(struct jr_fbuf *b, int fd, uint64_t off);
void jr_fbuf_free(struct jr_fbuf *b);
/* Next whole frame: returns its length (frame points into the buffer,
 * valid until the next call), 0 at the end of the data for now (*tail
 * gets the count of bytes of a partial frame after the last whole one),
 * -EBADMSG for an impossible length field, or -errno. */
ssize_t jr_fbuf_next(struct jr_fbuf *b, const uint8_t **frame,
		     struct medfs_journal_frame *f, size_t *tail);

/* The roll forward of a crashed writer's tail (doc/JOURNAL.md, section 10,
 * step 3) without I/O: the frames after the point STATE records, one whole
 * frame at a time, each checked to continue the chain (seq, epoch,
 * authentication under k, a body that decodes), the chain, seq and times
 * followed, k evolved at each checkpoint and that checkpoint's HEAD
 * signed again. recover() feeds it the frames of a segment file;
 * jr_roll_bytes the frames of a buffer (fuzz_torn). */
struct jr_roll {
	struct jr_keys *k; /* the epoch's keys: evolved at each checkpoint */
	uint64_t segment;
	uint64_t seq; /* of the next frame */
	uint8_t chain[MEDFS_JOURNAL_HASH_LEN];
	uint64_t last_rec_us, last_own_us; /* latest times seen */
	uint64_t good;			   /* bytes of the frames that continued */
	uint64_t unsealed;		   /* frames after the last checkpoint */
	int have_head;
	struct jr_head head; /* of the last checkpoint, signed */
	struct medfs_journal_record_buf rb;
	uint8_t *body;
	size_t body_cap;
};

/* Starts a roll of segment from seq and chain, with the keys k of that
 * epoch (k is changed as the roll goes). */
void jr_roll_init(struct jr_roll *r, struct jr_keys *k, uint64_t segment, uint64_t seq,
		  const uint8_t chain[MEDFS_JOURNAL_HASH_LEN]);
void jr_roll_free(struct jr_roll *r);
/* Rolls through frame (f as medfs_journal_frame_parse gave it). Returns 0
 * when it continues the chain; -EBADMSG when it does not (r unchanged);
 * -ENOMEM. */
int jr_roll_frame(struct jr_roll *r, const uint8_t *frame,
		  const struct medfs_journal_frame *f);
/* Rolls through the frames of buf (len bytes). Returns 0 when every whole
 * frame continues the chain, *torn getting the bytes of a partial frame
 * at the end (a write cut by a crash or a full disk); -EBADMSG at the
 * first frame that does not continue it or has an impossible length
 * (r->good bytes continued before it); -ENOMEM. */
int jr_roll_bytes(struct jr_roll *r, const uint8_t *buf, size_t len, size_t *torn);

/* Parses PRUNED and checks its signature with sign_pk: 0, -EBADMSG
 * (malformed), -EKEYREJECTED (bad signature), -ENOMEM. p->removed is
 * malloc'd. */
int jr_pruned_parse(const uint8_t *buf, size_t len, struct jr_pruned *p,
		    const uint8_t sign_pk[32]);
/* Encodes and signs p with sign_sk into a malloc'd buffer. */
int jr_pruned_encode(struct jr_pruned *p, const uint8_t sign_sk[64], uint8_t **buf,
		     size_t *len);

uint64_t jr_now_us(void);

#endif
