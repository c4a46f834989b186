/* medfs: the access journal.
 *
 * An append-only chain of encrypted, authenticated records in segment
 * files, readable only with the auditor's secret key, sealed by Ed25519
 * checkpoints under forward-secure (evolving) keys. The writer needs only
 * the auditor's public key. Pure library: the driver feeds it records;
 * medfs-journal reads, verifies, prunes and exports. The format is
 * specified in doc/JOURNAL.md.
 *
 * Every function returns 0 (or a count) on success and a negative errno on
 * failure: -EBADMSG for data that does not authenticate or parse,
 * -EKEYREJECTED for a key that does not fit, -EPROTONOSUPPORT for an
 * unknown format version. */
#ifndef MEDFS_JOURNAL_H
#define MEDFS_JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "medfs/crypto.h"

enum medfs_journal_op {
	MEDFS_OP_MOUNT = 1,
	MEDFS_OP_UNMOUNT = 2,
	MEDFS_OP_POLICY_LOAD = 3, /* at mount and on every reload */
	MEDFS_OP_OPEN = 4,
	MEDFS_OP_READ = 5,  /* ranges of one open, coalesced */
	MEDFS_OP_WRITE = 6, /* ranges of one open, coalesced */
	MEDFS_OP_CREATE = 7,
	MEDFS_OP_DELETE = 8, /* unlink and rmdir */
	MEDFS_OP_RENAME = 9, /* path -> path2 */
	MEDFS_OP_TRUNCATE = 10,
	MEDFS_OP_SETATTR = 11,	 /* chmod, chown, utimens */
	MEDFS_OP_XATTR = 12,	 /* setxattr, removexattr */
	MEDFS_OP_DENIED = 13,	 /* any denied operation: detail names it */
	MEDFS_OP_INTEGRITY = 14, /* integrity failure: path, offset */
	MEDFS_OP_EMERGENCY_START = 15,
	MEDFS_OP_EMERGENCY_END = 16,
	MEDFS_OP_SET_AUDITOR = 17,
	MEDFS_OP_MKDIR = 18,
	MEDFS_OP_SYMLINK = 19,
	MEDFS_OP_LIST = 20, /* readdir */
	/* A file's DICOM patient or study changed (a header rewritten):
	 * prior_* the old ones, patient_id etc. the new ones. */
	MEDFS_OP_ATTRIBUTION = 21,
	/* Written by the journal itself, never by a caller: the first record
	 * of every segment a writer starts at open (doc/JOURNAL.md). */
	MEDFS_OP_JOURNAL_OPEN = 22,
	/* Repeated denials that were not written one by one: count says how
	 * many (doc/JOURNAL.md, 14.2). */
	MEDFS_OP_DENIED_SUMMARY = 23,
	/* The journal could not be written for a while: detail says from
	 * when, count the requests refused (or served unrecorded) meanwhile. */
	MEDFS_OP_JOURNAL_OUTAGE = 24,
	/* A wrong passphrase or key file, at mount or in a tool. */
	MEDFS_OP_UNLOCK_FAILED = 25,
	/* medfs-key changed the vault's keys: detail says what. */
	MEDFS_OP_KEY_CHANGE = 26,
	/* medfs-fsck --repair changed the vault: detail says what. */
	MEDFS_OP_REPAIR = 27,
	/* Written by the journal itself, never by a caller: a signed seal
	 * over every record before it (struct medfs_journal_checkpoint). */
	MEDFS_OP_CHECKPOINT = 0x100,
};

struct medfs_journal_range {
	uint64_t offset, length;
};

/* One record. Strings are NUL-terminated and may be NULL when absent. */
struct medfs_journal_record {
	uint64_t time_us; /* UTC, µs since the epoch; 0 in append: now (see append) */
	uint32_t op;	  /* enum medfs_journal_op */
	uint32_t uid, gid;
	int32_t pid;
	const char *user;    /* user name, when known */
	const char *program; /* executable path, when known */
	const char *path;
	const char *path2;  /* rename target */
	int32_t result;	    /* 0 or a positive errno */
	uint32_t flags;	    /* open flags, rename flags */
	uint32_t rule_line; /* policy rule that decided, 0 when none */
	uint32_t emergency; /* 1 when allowed only by an emergency grant */
	uint64_t bytes;	    /* bytes read or written */
	int64_t offset;	    /* integrity failure offset, or -1 */
	const struct medfs_journal_range *ranges;
	size_t nranges;
	/* DICOM identifiers of the file, when it is a DICOM Part 10 file */
	const char *patient_id, *study_uid, *sop_uid, *sop_class_uid, *modality;
	const char *detail; /* free text: options, policy digest, reason */
	/* Attribution records: the patient and study the file had before. */
	const char *prior_patient_id, *prior_study_uid;
	/* Every patient ID the file was attributed to before its current one,
	 * each followed by "\n" (doc/JOURNAL.md 14.1), or NULL. */
	const char *former_patient_ids;
	uint64_t count; /* events a summary stands for; 0 otherwise */
};

/* ---- sizes (part of the on-disk format, doc/JOURNAL.md) ---- */

#define MEDFS_JOURNAL_HASH_LEN 32     /* chain hashes, BLAKE2b-256 */
#define MEDFS_JOURNAL_SEED_LEN 32     /* epoch seeds */
#define MEDFS_JOURNAL_VAULT_ID_LEN 16 /* = MEDFS_VAULT_ID_LEN of config.h */
#define MEDFS_JOURNAL_ID_LEN 16	      /* journal identity, from S_0 */
#define MEDFS_JOURNAL_SIGN_PK_LEN 32  /* Ed25519 public key */
#define MEDFS_JOURNAL_SIG_LEN 64      /* Ed25519 signature */
#define MEDFS_AUDITOR_PK_LEN 32	      /* X25519 box public key (the vault's copy) */
/* crypto_box_seal(seed || vault id): 32 + 16 + 48 bytes */
#define MEDFS_JOURNAL_SEALED_SEED_LEN 96
#define MEDFS_JOURNAL_SEGMENT_HEADER_LEN 200
/* u32 length, u64 epoch, u64 seq, 24-byte nonce */
#define MEDFS_JOURNAL_FRAME_HEADER_LEN 44
#define MEDFS_JOURNAL_TAG_LEN 16
/* Largest record body (TLV bytes): a record with more ranges is refused
 * with -E2BIG; the driver splits its range lists well below this. */
#define MEDFS_JOURNAL_BODY_MAX (1u << 20)
#define MEDFS_JOURNAL_STRING_MAX 65535 /* bytes of one string field */
/* "seg-" + 16 digits + ".mdj" + NUL */
#define MEDFS_JOURNAL_SEGMENT_NAME_LEN 25

/* Reports' segment or seq when none applies (HEAD, PRUNED, the directory). */
#define MEDFS_JOURNAL_NONE UINT64_MAX

/* ---- records: TLV body encoding ---- */

/* The body of a checkpoint record. */
struct medfs_journal_checkpoint {
	uint64_t seq;	  /* the checkpoint record's own seq */
	uint64_t epoch;	  /* the epoch it closes (its frame's epoch) */
	uint64_t time_us; /* writer's clock */
	uint32_t flags;	  /* MEDFS_CHECKPOINT_* */
	uint8_t hash[MEDFS_JOURNAL_HASH_LEN];	    /* chain hash before it */
	uint8_t next_pk[MEDFS_JOURNAL_SIGN_PK_LEN]; /* pk of epoch + 1 */
	uint8_t sig[MEDFS_JOURNAL_SIG_LEN];	    /* by sk of epoch */
};
#define MEDFS_CHECKPOINT_CLOSE 1u    /* written by writer_close */
#define MEDFS_CHECKPOINT_ROTATE 2u   /* last record of a segment, rotation */
#define MEDFS_CHECKPOINT_RECOVERY 4u /* sealed a crashed writer's tail at reopen */

/* A decoded record and the memory its strings and ranges live in.
 * Initialise with MEDFS_JOURNAL_RECORD_BUF_INIT (or zero it); a decode into
 * a used buf frees its previous content first; release with
 * medfs_journal_record_buf_free, which wipes the plaintext. */
struct medfs_journal_record_buf {
	struct medfs_journal_record rec;
	struct medfs_journal_checkpoint cp; /* when rec.op == MEDFS_OP_CHECKPOINT */
	void *mem;			    /* owned; opaque */
	size_t mem_len;
};
#define MEDFS_JOURNAL_RECORD_BUF_INIT                                                    \
	{                                                                                \
		.mem = NULL                                                              \
	}
void medfs_journal_record_buf_free(struct medfs_journal_record_buf *b);

/* Encodes r as a TLV body into out (cap bytes). *len is set to the encoded
 * length even when out is too small (then -ENOBUFS; out may be NULL with
 * cap 0 to ask for the length). Returns 0, -ENOBUFS, -EINVAL (op 0 or
 * MEDFS_OP_CHECKPOINT, ranges NULL with nranges > 0, a string longer than
 * MEDFS_JOURNAL_STRING_MAX) or -E2BIG (longer than MEDFS_JOURNAL_BODY_MAX). */
int medfs_journal_record_encode(const struct medfs_journal_record *r, uint8_t *out,
				size_t cap, size_t *len);

/* Decodes a TLV body (a record or a checkpoint) into out. Returns 0 or
 * -EBADMSG (malformed: bad lengths, tags out of order or repeated, missing
 * time or op, a string holding NUL), -ENOMEM. On failure out is empty. */
int medfs_journal_record_decode(const uint8_t *in, size_t len,
				struct medfs_journal_record_buf *out);

/* Name of the operation ("open", "read", ..., "checkpoint"), or NULL. */
const char *medfs_journal_op_name(uint32_t op);

/* ---- on-disk framing, without keys (for tools and fuzzing) ---- */

struct medfs_journal_segment_header {
	unsigned int version; /* 2, or 1: before journal-open records */
	uint64_t segment, start_epoch, start_seq, created_us;
	uint8_t prev_hash[MEDFS_JOURNAL_HASH_LEN];
	uint8_t sealed_seed[MEDFS_JOURNAL_SEALED_SEED_LEN];
	uint8_t mac[MEDFS_JOURNAL_HASH_LEN];
};

/* Parses the first MEDFS_JOURNAL_SEGMENT_HEADER_LEN bytes of a segment
 * of version 2 or 1. Returns 0, -EAGAIN (len too short), -EBADMSG (not a
 * segment) or -EPROTONOSUPPORT (a segment of another format version). */
int medfs_journal_segment_header_parse(const uint8_t *buf, size_t len,
				       struct medfs_journal_segment_header *h);

struct medfs_journal_frame {
	size_t len; /* whole frame, length field included */
	uint64_t epoch, seq;
	const uint8_t *nonce; /* 24 bytes, into the parsed buffer */
	const uint8_t *ct;    /* ciphertext and tag, into the parsed buffer */
	size_t ct_len;	      /* body length + MEDFS_JOURNAL_TAG_LEN */
};

/* Parses the frame at the start of buf. Returns the frame's whole length
 * (> 0), 0 when buf holds only part of it (read more, or a torn tail), or
 * -EBADMSG when its length field is impossible. */
ssize_t medfs_journal_frame_parse(const uint8_t *buf, size_t len,
				  struct medfs_journal_frame *f);

/* "seg-<16 digits>.mdj". Parse returns 0 or -EINVAL. */
void medfs_journal_segment_name(char out[MEDFS_JOURNAL_SEGMENT_NAME_LEN],
				uint64_t segment);
int medfs_journal_segment_name_parse(const char *name, uint64_t *segment);

/* S_{i+1} = BLAKE2b-256(key = S_i, "MDJ-evolve"); next may equal cur. */
void medfs_journal_seed_evolve(uint8_t next[MEDFS_JOURNAL_SEED_LEN],
			       const uint8_t cur[MEDFS_JOURNAL_SEED_LEN]);

/* ---- auditor keys ---- */

/* An auditor key pair, or its public half: X25519 box keys (seal segment
 * seeds) and Ed25519 keys (sign prune manifests). Secrets live in secret
 * memory. Opaque. */
struct medfs_auditor_key;

/* A fresh key pair. Returns 0, -ENOMEM or -EIO. */
int medfs_auditor_key_generate(struct medfs_auditor_key **k);

/* Writes PREFIX.pub ("medfs-auditor-v1 " base64(box_pk || sign_pk)) and,
 * when k has its secret, PREFIX.key ("medfs-auditor-secret-v1 "
 * base64(box_sk || sign_sk), mode 0600). Neither may exist (-EEXIST).
 * Returns 0 or -errno; on failure nothing is left behind. */
int medfs_auditor_key_write(const struct medfs_auditor_key *k, const char *prefix);

/* Generates a key pair and writes it to PREFIX.pub and PREFIX.key. */
int medfs_auditor_keygen(const char *prefix);

/* Read a .pub or .key file. Return 0, -ENOENT (and other open errors),
 * -EBADMSG (not such a file), -EKEYREJECTED (a .key whose halves do not
 * match), -ENOMEM; a .key that is not private (mode or owner, see
 * medfs_secret_file_check): -EPERM. */
int medfs_auditor_key_read_public(const char *path, struct medfs_auditor_key **k);
int medfs_auditor_key_read_secret(const char *path, struct medfs_auditor_key **k);

/* The same from the text of a file (len bytes, no NUL needed). */
int medfs_auditor_key_parse_public(const char *text, size_t len,
				   struct medfs_auditor_key **k);
int medfs_auditor_key_parse_secret(const char *text, size_t len,
				   struct medfs_auditor_key **k);

/* NULL is allowed; wipes the secret half. */
void medfs_auditor_key_free(struct medfs_auditor_key *k);

const uint8_t *medfs_auditor_key_box_pk(const struct medfs_auditor_key *k);
const uint8_t *medfs_auditor_key_sign_pk(const struct medfs_auditor_key *k);
int medfs_auditor_key_has_secret(const struct medfs_auditor_key *k);

/* ---- writer (the driver) ---- */

struct medfs_journal_config {
	uint64_t segment_max_bytes;	 /* rotate beyond; 0: 64 MiB */
	uint64_t segment_max_age_us;	 /* rotate older (at tick); 0: 1 day */
	uint32_t checkpoint_records;	 /* checkpoint every N records; 0: 1000 */
	uint64_t checkpoint_interval_us; /* checkpoint at tick when older; 0: 60 s */
	unsigned int flags;		 /* MEDFS_JOURNAL_* below */
};
#define MEDFS_JOURNAL_DEFAULT_SEGMENT_BYTES (UINT64_C(64) << 20)
#define MEDFS_JOURNAL_DEFAULT_SEGMENT_AGE_US (UINT64_C(86400) * 1000000)
#define MEDFS_JOURNAL_DEFAULT_CHECKPOINT_RECORDS 1000
#define MEDFS_JOURNAL_DEFAULT_CHECKPOINT_US (UINT64_C(60) * 1000000)
/* When STATE is missing (while segments exist) or does not unseal,
 * writer_open refuses with -EBADMSG; with this flag it starts a new chain
 * instead, under a fresh seed, and records why (verify reports the break). */
#define MEDFS_JOURNAL_RESTART 1u

struct medfs_journal_writer;

/* Opens (creating it 0700 if needed) the journal directory dir and starts a
 * new segment, continuing the chain of STATE (sealed with state_key, the
 * MEDFS_SUBKEY_JOURNAL subkey). A crashed writer's unsealed tail is sealed
 * first by a recovery checkpoint; a tail that does not match STATE is
 * recorded as a MEDFS_OP_INTEGRITY record. cfg may be NULL (defaults).
 * One writer per directory: -EBUSY when another holds it. Returns 0,
 * -EBADMSG (STATE, see MEDFS_JOURNAL_RESTART), or -errno. */
int medfs_journal_writer_open(struct medfs_journal_writer **w, const char *dir,
			      const uint8_t auditor_pk[MEDFS_AUDITOR_PK_LEN],
			      const uint8_t vault_id[MEDFS_JOURNAL_VAULT_ID_LEN],
			      const uint8_t state_key[MEDFS_KEY_LEN],
			      const struct medfs_journal_config *cfg);

/* Appends one record; thread-safe. Its time is r->time_us (0: now) or,
 * when that is earlier, the time of the record appended before it: the
 * times of a journal's records never go backwards, across mounts too
 * (STATE keeps the last). The frame is written with write(2) before the
 * return; durable also waits for fdatasync (one fdatasync may cover
 * several threads' records). May checkpoint or rotate. Returns 0, -EINVAL
 * (also for MEDFS_OP_CHECKPOINT and MEDFS_OP_JOURNAL_OPEN, which only the
 * journal writes) or -E2BIG (the record; the writer stays usable), or
 * -EIO / -ENOSPC: the journal cannot be written, and every later append
 * returns the same error (fail closed). */
int medfs_journal_append(struct medfs_journal_writer *w,
			 const struct medfs_journal_record *r, int durable);

/* Called about every second with the current time: checkpoints when the
 * last one is older than the interval and records followed it, rotates an
 * old segment, and syncs records written since the last sync. Returns 0
 * or the writer's failure. */
int medfs_journal_tick(struct medfs_journal_writer *w, uint64_t now_us);

/* Checkpoints now (if any record follows the last checkpoint). */
int medfs_journal_checkpoint(struct medfs_journal_writer *w);

/* After a failure (space freed, the disk back): continues the journal as
 * the next mount would, from STATE, sealing what the failed writer left
 * (a torn record is cut) and starting a new segment. Returns 0 (also when
 * the writer had not failed) or the error that keeps it failed. */
int medfs_journal_writer_resume(struct medfs_journal_writer *w);

/* 0, or the error that put the writer in its failed state. */
int medfs_journal_writer_status(struct medfs_journal_writer *w);

/* Final checkpoint, HEAD and STATE, then frees and wipes everything.
 * Returns 0 or the error of the final checkpoint (w is freed anyway). */
int medfs_journal_writer_close(struct medfs_journal_writer *w);

/* For tests only: the writer's secret memory (seed, record key, signing
 * key) and current epoch, so a test can check no older secret remains. */
void medfs_journal_writer_secrets_for_test(struct medfs_journal_writer *w,
					   const void **mem, size_t *len,
					   uint64_t *epoch);

/* ---- the spool: records of the tools ---- */

/* The tools (medfs-key, a mount that could not unlock) hold no writer:
 * the vault may be mounted (its driver holds the journal), or they hold
 * no key. They leave their records, plain TLV bodies, in this directory
 * of the vault (mode 0700, files 0600), and the next writer that ingests
 * them (the driver, at mount and every second) appends them to the chain
 * and removes them. Only MEDFS_OP_UNLOCK_FAILED, MEDFS_OP_KEY_CHANGE and
 * MEDFS_OP_REPAIR are accepted from it. Format in doc/JOURNAL.md, 14.3. */
#define MEDFS_JOURNAL_SPOOL_NAME "journal-spool"
#define MEDFS_JOURNAL_SPOOL_MAX 65536 /* bytes of one spooled body */

/* Writes r (MEDFS_OP_UNLOCK_FAILED, MEDFS_OP_KEY_CHANGE or MEDFS_OP_REPAIR;
 * time 0: now)
 * as a new file in spool_dir, made 0700 if needed. Returns 0, -EINVAL
 * (another op, or a record that does not encode in MEDFS_JOURNAL_SPOOL_MAX
 * bytes) or -errno. */
int medfs_journal_spool(const char *spool_dir, const struct medfs_journal_record *r);

/* Spools a record of op by this process, about the vault in vault_dir
 * (its path), into vault_dir/MEDFS_JOURNAL_SPOOL_NAME: the time, uid,
 * gid, pid, user name and program are this process's; detail says what
 * happened (when the login uid differs from the uid, it is added). */
int medfs_journal_spool_tool(const char *vault_dir, uint32_t op, const char *detail);

/* Appends the records spooled in spool_dir, oldest first, removing each
 * once appended; a file that is not a tool's record is removed and an
 * integrity record says so. Returns how many were appended (0 without a
 * spool directory) or the -errno of the first that could not be (it
 * stays for the next call). */
int medfs_journal_ingest(struct medfs_journal_writer *w, const char *spool_dir);

/* ---- reader (the auditor's tools) ---- */

struct medfs_journal_reader;

struct medfs_journal_pos {
	uint64_t segment, seq, epoch;
};

/* Also return the journal's own records: checkpoints (rec.op ==
 * MEDFS_OP_CHECKPOINT) and journal-open records. */
#define MEDFS_JOURNAL_READ_CHECKPOINTS 1u

/* Opens dir for reading with the auditor's secret key, from its first
 * segment. Returns 0, -ENOENT (no journal), -EKEYREJECTED (the first
 * segment's seed does not open with key: another auditor's key), -EINVAL
 * (key has no secret half), -errno.
 * The reader decrypts and follows the chain but checks no signature and
 * no continuity between segments: that is medfs_journal_verify. */
int medfs_journal_reader_open(struct medfs_journal_reader **rd, const char *dir,
			      const struct medfs_auditor_key *key, unsigned int flags);

/* Next record into out (pos may be NULL). Returns 1 with a record, 0 at
 * the end of the journal for now (call again later to follow a live
 * journal: new records and segments are picked up), or a negative errno
 * naming pos: -EBADMSG (a record or segment that does not authenticate,
 * after which the rest of that segment cannot be read and the next call
 * goes on with the next segment; or a record that authenticates but does
 * not parse, after which the next call goes on with the next record),
 * -EKEYREJECTED (a segment sealed to another key, skipped likewise), other
 * -errno (I/O; the same call may be retried). */
int medfs_journal_reader_next(struct medfs_journal_reader *rd,
			      struct medfs_journal_record_buf *out,
			      struct medfs_journal_pos *pos);

void medfs_journal_reader_close(struct medfs_journal_reader *rd);

/* ---- verifier ---- */

/* One problem: error 1 for an error, 0 for a warning; the segment and
 * record seq it concerns (MEDFS_JOURNAL_NONE when none applies); a message
 * without any record content. */
typedef void (*medfs_journal_report_fn)(void *ctx, int error, uint64_t segment,
					uint64_t seq, const char *msg);

struct medfs_journal_verify_stats {
	uint64_t segments, records, checkpoints; /* records: checkpoints included */
	uint64_t errors, warnings;
	uint64_t first_segment, last_segment;
	uint64_t first_seq, next_seq; /* seqs present: [first_seq, next_seq) */
	uint64_t epoch;		      /* current epoch after the last checkpoint */
	uint64_t unsealed;	      /* records after the last checkpoint */
	uint64_t pruned_segments;     /* named by PRUNED */
	uint8_t vault_id[MEDFS_JOURNAL_VAULT_ID_LEN];
	uint8_t journal_id[MEDFS_JOURNAL_ID_LEN];
};

/* Verifies the whole journal in dir with the auditor's secret key: every
 * record's authentication, seq and epoch, the chain within and across
 * segments, each segment's seed against the previous one's evolution,
 * every checkpoint's signature, HEAD, PRUNED. Calls report (may be NULL)
 * for each problem. stats may be NULL. Returns the number of errors (0:
 * the journal is intact), or -ENOENT (no such directory), -EKEYREJECTED
 * (no segment opens with key), -EINVAL (key has no secret half), -ENOMEM,
 * -errno. */
int medfs_journal_verify(const char *dir, const struct medfs_auditor_key *key,
			 medfs_journal_report_fn report, void *ctx,
			 struct medfs_journal_verify_stats *stats);

/* ---- retention ---- */

/* Removes the whole segments at the start of the journal whose last record
 * is older than before_us (never the last segment), after verifying the
 * journal, and writes the PRUNED manifest signed with key's Ed25519 secret.
 * *removed (may be NULL) gets the number of segments removed. report gets
 * verify's problems. Returns 0, -EBADMSG (the journal does not verify:
 * nothing removed), -EKEYREJECTED, -EINVAL (key has no secret half),
 * -errno. */
int medfs_journal_prune(const char *dir, uint64_t before_us,
			const struct medfs_auditor_key *key,
			medfs_journal_report_fn report, void *ctx, uint64_t *removed);

#endif
