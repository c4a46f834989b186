/* A forger of journal records, for tests: someone who holds a copy of a
 * writer's STATE and its state key (a host compromised at some time T)
 * and appends records the way the writer does, sealed, chained and
 * numbered, with any time and content, without going through the
 * library's writer (which never dates a record before the last one).
 *
 * Header-only (static functions) so that the unit tests and the
 * journal-forge tool share it; it uses the library's internal helpers
 * (src/lib/journal_int.h). Returns 0 or a negative errno. */
#ifndef MEDFS_TEST_JOURNAL_FORGE_H
#define MEDFS_TEST_JOURNAL_FORGE_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "journal_int.h"
#include "medfs/journal.h"

/* What the forger knows: the writer's state, unsealed. */
struct forger {
	int dirfd;
	struct jr_keys k;
	uint64_t seq, segment, offset;
	uint8_t chain[MEDFS_JOURNAL_HASH_LEN];
	uint8_t vault_id[MEDFS_JOURNAL_VAULT_ID_LEN];
};

/* Unseals dir/STATE with state_key (doc/JOURNAL.md section 8). */
static int forger_open(struct forger *fg, const char *dir,
		       const uint8_t state_key[MEDFS_KEY_LEN])
{
	uint8_t *buf, plain[STATE_PLAIN_LEN];
	size_t len;
	int ret;

	memset(fg, 0, sizeof(*fg));
	fg->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fg->dirfd < 0)
		return -errno;
	ret = jr_read_file(fg->dirfd, STATE_NAME, &buf, &len, 4096);
	if (ret < 0)
		return ret;
	ret = -EBADMSG;
	if (len == STATE_LEN &&
	    crypto_aead_xchacha20poly1305_ietf_decrypt(
		    plain, NULL, NULL, buf + MAGIC_LEN + NONCE_LEN,
		    len - MAGIC_LEN - NONCE_LEN, buf, MAGIC_LEN + NONCE_LEN,
		    buf + MAGIC_LEN, state_key) == 0) {
		jr_keys_set(&fg->k, plain, jr_le64_get(plain + 32));
		fg->seq = jr_le64_get(plain + 40);
		memcpy(fg->chain, plain + 48, 32);
		fg->segment = jr_le64_get(plain + 80);
		fg->offset = jr_le64_get(plain + 88);
		memcpy(fg->vault_id, plain + 96, 16);
		ret = 0;
	}
	sodium_memzero(plain, sizeof(plain));
	free(buf);
	return ret;
}

static void forger_close(struct forger *fg)
{
	sodium_memzero(&fg->k, sizeof(fg->k));
	if (fg->dirfd >= 0)
		close(fg->dirfd);
	fg->dirfd = -1;
}

/* Appends r to the end of the forger's segment as the next record. */
static int forger_append(struct forger *fg, const struct medfs_journal_record *r)
{
	const size_t h = MEDFS_JOURNAL_FRAME_HEADER_LEN;
	char name[MEDFS_JOURNAL_SEGMENT_NAME_LEN];
	uint8_t ad[AD_LEN], *frame;
	size_t blen, flen;
	int fd, ret;

	ret = medfs_journal_record_encode(r, NULL, 0, &blen);
	if (ret != -ENOBUFS)
		return ret < 0 ? ret : -EINVAL;
	flen = h + blen + MEDFS_JOURNAL_TAG_LEN;
	frame = calloc(1, flen);
	if (!frame)
		return -ENOMEM;
	ret = medfs_journal_record_encode(r, frame + h, blen, &blen);
	if (ret < 0)
		goto out;
	jr_le32_put(frame, (uint32_t)(flen - FRAME_LEN_FIELD));
	jr_le64_put(frame + FRAME_OFF_EPOCH, fg->k.epoch);
	jr_le64_put(frame + FRAME_OFF_SEQ, fg->seq);
	randombytes_buf(frame + FRAME_OFF_NONCE, NONCE_LEN);
	jr_le64_put(ad, fg->segment);
	jr_le64_put(ad + 8, fg->k.epoch);
	jr_le64_put(ad + 16, fg->seq);
	memcpy(ad + 24, fg->chain, MEDFS_JOURNAL_HASH_LEN);
	crypto_aead_xchacha20poly1305_ietf_encrypt(frame + h, NULL, frame + h, blen, ad,
						   sizeof(ad), NULL,
						   frame + FRAME_OFF_NONCE, fg->k.enc);
	medfs_journal_segment_name(name, fg->segment);
	fd = openat(fg->dirfd, name, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	ret = jr_write_all(fd, frame, flen);
	close(fd);
	if (ret < 0)
		goto out;
	jr_chain(fg->chain, frame, flen);
	fg->seq++;
	fg->offset += flen;
out:
	free(frame);
	return ret;
}

/* Starts the next segment, as a writer does at open or rotation, with
 * the auditor's public box key, without writing any record in it; of
 * format version 2, or 1 (before journal-open records) when old. */
static int forger_new_segment(struct forger *fg,
			      const uint8_t auditor_pk[MEDFS_AUDITOR_PK_LEN], int old)
{
	uint8_t hdr[MEDFS_JOURNAL_SEGMENT_HEADER_LEN], plain[48];
	char name[MEDFS_JOURNAL_SEGMENT_NAME_LEN];
	uint64_t n = fg->segment + 1;
	int fd, ret;

	memcpy(hdr, old ? SEG_MAGIC_V1 : SEG_MAGIC, MAGIC_LEN);
	jr_le64_put(hdr + SEG_OFF_NUMBER, n);
	jr_le64_put(hdr + SEG_OFF_EPOCH, fg->k.epoch);
	jr_le64_put(hdr + SEG_OFF_SEQ, fg->seq);
	jr_le64_put(hdr + SEG_OFF_CREATED, jr_now_us());
	memcpy(hdr + SEG_OFF_PREV, fg->chain, MEDFS_JOURNAL_HASH_LEN);
	memcpy(plain, fg->k.seed, 32);
	memcpy(plain + 32, fg->vault_id, 16);
	ret = crypto_box_seal(hdr + SEG_OFF_SEALED, plain, sizeof(plain), auditor_pk);
	sodium_memzero(plain, sizeof(plain));
	if (ret != 0)
		return -EINVAL;
	jr_header_mac(hdr + SEG_OFF_MAC, hdr, fg->k.enc);
	medfs_journal_segment_name(name, n);
	fd = openat(fg->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	ret = jr_write_all(fd, hdr, sizeof(hdr));
	close(fd);
	if (ret < 0)
		return ret;
	fg->segment = n;
	fg->offset = sizeof(hdr);
	return 0;
}

#endif
