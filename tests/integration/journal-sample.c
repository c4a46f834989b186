/* journal-sample: writes a journal of sample records, as the driver would,
 * for the medfs-journal tests.
 *
 *   journal-sample DIR AUDITOR.pub [--start UNIX_SECONDS] [--batch N]
 *                  [--checkpoint-records N] [--segment-bytes N]
 *
 * Opens (or continues, through STATE) the journal in DIR with a fixed
 * vault id and state key, and appends one clinic day of records starting
 * at --start (default 2025-03-14T09:26:53Z): a mount, reads of two DICOM
 * studies by two users, a denial, an integrity failure, an emergency
 * access, a report written, names with characters a terminal or a markup
 * language must not take literally, and an unmount. --batch N tags the
 * paths with N, so that runs can be told apart. Exit status 0 or 1. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medfs/crypto.h"
#include "medfs/journal.h"

#define SEC UINT64_C(1000000)
#define CT "1.2.840.10008.5.1.4.1.1.2"
#define S1 "1.2.826.0.1.3680043.8.498.1"
#define S2 "1.2.826.0.1.3680043.8.498.2"

static int append(struct medfs_journal_writer *w, struct medfs_journal_record *r)
{
	int ret = medfs_journal_append(w, r, 1);

	if (ret < 0)
		fprintf(stderr, "journal-sample: append: %s\n", strerror(-ret));
	return ret;
}

static struct medfs_journal_record rec(uint64_t t, uint32_t op, const char *user,
				       uint32_t uid, const char *program,
				       const char *path)
{
	struct medfs_journal_record r = {
		.time_us = t,
		.op = op,
		.uid = uid,
		.gid = 100,
		.pid = 4242,
		.user = user,
		.program = program,
		.path = path,
		.offset = -1,
	};

	return r;
}

static int write_day(struct medfs_journal_writer *w, uint64_t t0, unsigned long batch)
{
	static const struct medfs_journal_range ranges[] = { { 0, 4096 },
							     { 65536, 8192 } };
	static const char *const sops[] = { S1 ".1.1", S1 ".1.2", S1 ".1.3" };
	char path[256], path2[256];
	struct medfs_journal_record r;
	int ret = 0;

	r = rec(t0, MEDFS_OP_MOUNT, "root", 0, "/usr/bin/medfs", "/srv/vault");
	r.detail = "vault=/srv/vault journal=/srv/vault/journal";
	ret = append(w, &r);
	r = rec(t0, MEDFS_OP_POLICY_LOAD, "root", 0, "/usr/bin/medfs",
		"/srv/vault/policy");
	r.detail = "sha256:0f3a";
	if (ret == 0)
		ret = append(w, &r);
	for (size_t i = 0; i < 3 && ret == 0; i++) {
		snprintf(path, sizeof(path), "/pacs/b%lu/CT.%zu.dcm", batch, i);
		r = rec(t0 + (1 + i) * SEC, MEDFS_OP_OPEN, "alice", 1000,
			"/usr/bin/weasis", path);
		r.flags = O_RDONLY;
		r.patient_id = "PAT001";
		r.study_uid = S1;
		r.sop_uid = sops[i];
		r.sop_class_uid = CT;
		r.modality = "CT";
		ret = append(w, &r);
		r.op = MEDFS_OP_READ;
		r.time_us += SEC / 2;
		r.bytes = 12288;
		r.ranges = ranges;
		r.nranges = 2;
		if (ret == 0)
			ret = append(w, &r);
	}
	snprintf(path, sizeof(path), "/pacs/b%lu/MR.0.dcm", batch);
	r = rec(t0 + 5 * SEC, MEDFS_OP_READ, "bob", 1001, "/usr/bin/storescu", path);
	r.patient_id = "PAT002";
	r.study_uid = S2;
	r.sop_uid = S2 ".1.1";
	r.sop_class_uid = "1.2.840.10008.5.1.4.1.1.4";
	r.modality = "MR";
	r.bytes = 524288;
	if (ret == 0)
		ret = append(w, &r);
	r = rec(t0 + 6 * SEC, MEDFS_OP_DENIED, "mallory", 1002, "/usr/bin/cat",
		"/pacs/private & <secret>");
	r.result = EACCES;
	r.rule_line = 12;
	r.detail = "open O_RDONLY";
	if (ret == 0)
		ret = append(w, &r);
	snprintf(path, sizeof(path), "/pacs/b%lu/CT.0.dcm", batch);
	r = rec(t0 + 7 * SEC, MEDFS_OP_INTEGRITY, "alice", 1000, "/usr/bin/weasis", path);
	r.result = EBADMSG;
	r.offset = 8192;
	r.patient_id = "PAT001";
	r.study_uid = S1;
	if (ret == 0)
		ret = append(w, &r);
	r = rec(t0 + 8 * SEC, MEDFS_OP_EMERGENCY_START, "carol", 1003,
		"/usr/bin/medfs-policy", NULL);
	r.detail = "patient PAT002 in the ER";
	if (ret == 0)
		ret = append(w, &r);
	snprintf(path, sizeof(path), "/pacs/b%lu/MR.0.dcm", batch);
	r = rec(t0 + 9 * SEC, MEDFS_OP_READ, "carol", 1003, "/usr/bin/weasis", path);
	r.emergency = 1;
	r.patient_id = "PAT002";
	r.study_uid = S2;
	r.sop_uid = S2 ".1.1";
	r.bytes = 4096;
	if (ret == 0)
		ret = append(w, &r);
	r = rec(t0 + 10 * SEC, MEDFS_OP_EMERGENCY_END, "carol", 1003,
		"/usr/bin/medfs-policy", NULL);
	if (ret == 0)
		ret = append(w, &r);
	snprintf(path, sizeof(path), "/reports/b%lu/r\xc3\xa9sum\xc3\xa9 \"1\".pdf",
		 batch);
	r = rec(t0 + 11 * SEC, MEDFS_OP_CREATE, "alice", 1000, "/usr/bin/cp", path);
	if (ret == 0)
		ret = append(w, &r);
	r.op = MEDFS_OP_WRITE;
	r.bytes = 5000;
	if (ret == 0)
		ret = append(w, &r);
	snprintf(path2, sizeof(path2), "/reports/b%lu/final.pdf", batch);
	r = rec(t0 + 12 * SEC, MEDFS_OP_RENAME, "alice", 1000, "/usr/bin/mv", path);
	r.path2 = path2;
	if (ret == 0)
		ret = append(w, &r);
	/* a name with an escape sequence, a newline and a byte that is not
	 * UTF-8: the table must not pass them to the terminal */
	snprintf(path, sizeof(path), "/tmp/b%lu/\x1b[31mred\nline\xff", batch);
	r = rec(t0 + 13 * SEC, MEDFS_OP_OPEN, "alice", 1000, "/usr/bin/less", path);
	r.result = ENOENT;
	if (ret == 0)
		ret = append(w, &r);
	r = rec(t0 + 14 * SEC, MEDFS_OP_UNMOUNT, "root", 0, "/usr/bin/medfs",
		"/srv/vault");
	if (ret == 0)
		ret = append(w, &r);
	return ret;
}

static int number(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0' && s[0] >= '0' && s[0] <= '9' ? 0 : -EINVAL;
}

int main(int argc, char *argv[])
{
	struct medfs_journal_config cfg = { .checkpoint_records = 7 };
	uint8_t vault_id[MEDFS_JOURNAL_VAULT_ID_LEN], state_key[MEDFS_KEY_LEN];
	struct medfs_journal_writer *w = NULL;
	struct medfs_auditor_key *key = NULL;
	uint64_t start = UINT64_C(1741944413), batch = 0, v;
	int ret;

	if (argc < 3 || (argc - 3) % 2 != 0) {
		fprintf(stderr,
			"usage: journal-sample DIR AUDITOR.pub [--start SECONDS] "
			"[--batch N] [--checkpoint-records N] [--segment-bytes N]\n");
		return 2;
	}
	for (int i = 3; i < argc; i += 2) {
		if (number(argv[i + 1], &v) < 0) {
			fprintf(stderr, "journal-sample: bad number %s\n", argv[i + 1]);
			return 2;
		}
		if (strcmp(argv[i], "--start") == 0) {
			start = v;
		} else if (strcmp(argv[i], "--batch") == 0) {
			batch = v;
		} else if (strcmp(argv[i], "--checkpoint-records") == 0) {
			cfg.checkpoint_records = (uint32_t)v;
		} else if (strcmp(argv[i], "--segment-bytes") == 0) {
			cfg.segment_max_bytes = v;
		} else {
			fprintf(stderr, "journal-sample: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (medfs_crypto_init() < 0)
		return 1;
	ret = medfs_auditor_key_read_public(argv[2], &key);
	if (ret < 0) {
		fprintf(stderr, "journal-sample: %s: %s\n", argv[2], strerror(-ret));
		return 1;
	}
	/* Fixed, so that a second run continues the chain through STATE. */
	memset(vault_id, 0x5a, sizeof(vault_id));
	memset(state_key, 0xa5, sizeof(state_key));
	ret = medfs_journal_writer_open(&w, argv[1], medfs_auditor_key_box_pk(key),
					vault_id, state_key, &cfg);
	medfs_auditor_key_free(key);
	if (ret < 0) {
		fprintf(stderr, "journal-sample: cannot open the journal %s: %s\n",
			argv[1], strerror(-ret));
		return 1;
	}
	ret = write_day(w, start * SEC, (unsigned long)batch);
	if (medfs_journal_writer_close(w) < 0 && ret == 0)
		ret = -EIO;
	return ret < 0 ? 1 : 0;
}
