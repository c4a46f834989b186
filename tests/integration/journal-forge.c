/* journal-forge: what a host compromised at some time T can do to the
 * journal afterwards, for the journal-forge test. It holds a copy of the
 * writer's STATE and the state key (here journal-sample's fixed one) and
 * appends one record the way the writer does, sealed, chained, numbered,
 * with the time and content it likes, not through the library's writer:
 *
 *   journal-forge DIR AUDITOR.pub MODE UNIX_SECONDS
 *
 * MODE "append": at the end of STATE's segment; "segment": in a new
 * segment, without a journal-open record; "session": in a new segment,
 * after a journal-open record dated now; "old": in a new segment of the
 * format of before journal-open records. The record is a read of
 * /patients/PAT-FORGED/img.dcm by mallory (uid 1002), patient PAT-FORGED,
 * dated UNIX_SECONDS. Exit status 0 or 1. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "journal_forge.h"
#include "medfs/crypto.h"
#include "medfs/journal.h"

int main(int argc, char *argv[])
{
	static const struct medfs_journal_range range = { 0, 4096 };
	struct medfs_journal_record r = {
		.op = MEDFS_OP_READ,
		.uid = 1002,
		.gid = 100,
		.pid = 6666,
		.user = "mallory",
		.program = "/usr/bin/cat",
		.path = "/patients/PAT-FORGED/img.dcm",
		.offset = -1,
		.ranges = &range,
		.nranges = 1,
		.bytes = 4096,
		.patient_id = "PAT-FORGED",
	};
	struct medfs_journal_record open_rec = { .op = MEDFS_OP_JOURNAL_OPEN,
						 .offset = -1,
						 .detail = "continues the journal" };
	uint8_t state_key[MEDFS_KEY_LEN];
	struct medfs_auditor_key *key = NULL;
	struct forger fg;
	char *end;
	int ret;

	if (argc != 5 || (strcmp(argv[3], "append") && strcmp(argv[3], "segment") &&
			  strcmp(argv[3], "session") && strcmp(argv[3], "old"))) {
		fprintf(stderr, "usage: journal-forge DIR AUDITOR.pub "
				"append|segment|session|old UNIX_SECONDS\n");
		return 2;
	}
	r.time_us = strtoull(argv[4], &end, 10) * UINT64_C(1000000);
	if (*end != '\0' || medfs_crypto_init() < 0)
		return 2;
	ret = medfs_auditor_key_read_public(argv[2], &key);
	if (ret < 0) {
		fprintf(stderr, "journal-forge: %s: %s\n", argv[2], strerror(-ret));
		return 1;
	}
	memset(state_key, 0xa5, sizeof(state_key)); /* journal-sample's */
	ret = forger_open(&fg, argv[1], state_key);
	if (ret == 0 && strcmp(argv[3], "append") != 0)
		ret = forger_new_segment(&fg, medfs_auditor_key_box_pk(key),
					 strcmp(argv[3], "old") == 0);
	if (ret == 0 && strcmp(argv[3], "session") == 0) {
		/* In microseconds, as the writer dates it: a whole second
		 * could fall before the sample writer's last checkpoint. */
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		open_rec.time_us = (uint64_t)now.tv_sec * UINT64_C(1000000) +
				   (uint64_t)now.tv_nsec / 1000;
		ret = forger_append(&fg, &open_rec);
	}
	if (ret == 0) {
		printf("segment %" PRIu64 " seq %" PRIu64 "\n", fg.segment, fg.seq);
		ret = forger_append(&fg, &r);
	}
	forger_close(&fg);
	medfs_auditor_key_free(key);
	if (ret < 0) {
		fprintf(stderr, "journal-forge: %s\n", strerror(-ret));
		return 1;
	}
	return 0;
}
