/* Makes the seed corpora of the fuzz targets whose inputs are sealed or
 * signed (torn, pruned, header, slots) with the real code, under the fixed
 * keys of fixed.h that the targets use:
 *
 *   fuzz-corpus-gen DIR    writes DIR/torn, DIR/pruned, DIR/header, DIR/slots
 *
 * Run it after a format change and commit what it wrote (tests/fuzz/corpus
 * is DIR); README.md says so. The journal seeds come from a real writer in
 * a temporary directory (removed after), so they differ at each run. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "fixed.h"
#include "journal_int.h"
#include "medfs/config.h"
#include "medfs/crypto.h"
#include "medfs/header.h"
#include "medfs/journal.h"

static const char *out_dir;

static void die(const char *what, int err)
{
	fprintf(stderr, "fuzz-corpus-gen: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static void put(const char *target, const char *name, const uint8_t *a, size_t alen,
		const uint8_t *b, size_t blen)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", out_dir, target);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		die(path, errno);
	snprintf(path, sizeof(path), "%s/%s/%s", out_dir, target, name);
	f = fopen(path, "wb");
	if (!f || (alen && fwrite(a, 1, alen, f) != alen) ||
	    (blen && fwrite(b, 1, blen, f) != blen) || fclose(f) != 0)
		die(path, errno);
	printf("%s\n", path);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0)
		die(path, errno);
	buf = malloc((size_t)st.st_size + 1);
	if (!buf || jr_pread_all(fd, buf, (size_t)st.st_size, 0) != 0)
		die(path, EIO);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static void rm_tree(const char *dir)
{
	char path[4096];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			unlink(path);
		}
	closedir(d);
	rmdir(dir);
}

static void append(struct medfs_journal_writer *w, uint32_t op, const char *path)
{
	struct medfs_journal_record r = { 0 };
	int ret;

	r.op = op;
	r.uid = 1000;
	r.pid = 4242;
	r.offset = -1;
	r.user = "alice";
	r.program = "/usr/bin/storescp";
	r.path = path;
	ret = medfs_journal_append(w, &r, 1);
	if (ret < 0)
		die("journal append", ret);
}

static void auditor(struct medfs_auditor_key *key)
{
	uint8_t seed[32];

	memset(key, 0, sizeof(*key));
	crypto_box_keypair(key->box_pk, key->box_sk);
	fuzz_fixed_key(seed, FUZZ_PRUNED_SIGN_SEED);
	crypto_sign_seed_keypair(key->sign_pk, key->sign_sk, seed);
	key->has_secret = 1;
}

/* corpus/torn: a journal's first segment after its header, with the state
 * the writer started from (epoch 0, seq 0, zero chain), whole and cut. */
static void torn(void)
{
	struct medfs_journal_config cfg = { .checkpoint_records = 4 };
	struct medfs_auditor_key key;
	struct medfs_journal_writer *w;
	uint8_t vault_id[16] = { 1 }, state_key[32] = { 2 }, prefix[88] = { 0 };
	char dir[64] = "/tmp/fuzz-corpus-gen.XXXXXX", seg[4200];
	const void *mem;
	size_t memlen, len, last = 0, off;
	uint64_t epoch;
	uint8_t *buf;
	int ret;

	auditor(&key);
	if (!mkdtemp(dir))
		die("mkdtemp", errno);
	strcat(dir, "/j");
	ret = medfs_journal_writer_open(&w, dir, key.box_pk, vault_id, state_key, &cfg);
	if (ret < 0)
		die("journal open", ret);
	medfs_journal_writer_secrets_for_test(w, &mem, &memlen, &epoch);
	if (epoch != 0)
		die("journal epoch", EINVAL);
	memcpy(prefix, ((const struct jr_keys *)mem)->seed, 32);
	jr_le64_put(prefix + 80, 1); /* segment 1; epoch, seq, chain 0 */
	append(w, MEDFS_OP_OPEN, "/study/1.dcm");
	append(w, MEDFS_OP_READ, "/study/1.dcm");
	append(w, MEDFS_OP_CREATE, "/study/2.dcm");
	append(w, MEDFS_OP_WRITE, "/study/2.dcm");
	append(w, MEDFS_OP_RENAME, "/study/2.dcm");
	ret = medfs_journal_writer_close(w);
	if (ret < 0)
		die("journal close", ret);
	snprintf(seg, sizeof(seg), "%s/seg-0000000000000001.mdj", dir);
	buf = slurp(seg, &len);
	rm_tree(dir);
	dir[strlen(dir) - 2] = '\0';
	rmdir(dir);

	buf += MEDFS_JOURNAL_SEGMENT_HEADER_LEN;
	len -= MEDFS_JOURNAL_SEGMENT_HEADER_LEN;
	for (off = 0; off < len;) {
		struct medfs_journal_frame f;
		ssize_t n = medfs_journal_frame_parse(buf + off, len - off, &f);

		if (n <= 0)
			die("segment frames", EBADMSG);
		last = off;
		off += (size_t)n;
	}
	put("torn", "whole", prefix, sizeof(prefix), buf, len);
	put("torn", "unsealed", prefix, sizeof(prefix), buf, last);
	put("torn", "cut-in-frame", prefix, sizeof(prefix), buf, last + (len - last) / 2);
	put("torn", "cut-in-length", prefix, sizeof(prefix), buf, last + 2);
	free(buf - MEDFS_JOURNAL_SEGMENT_HEADER_LEN);
}

/* corpus/pruned: PRUNED written by medfs_journal_prune, twice. */
static void pruned(void)
{
	struct medfs_journal_config cfg = { .checkpoint_records = 3,
					    .segment_max_bytes = 700 };
	struct medfs_auditor_key key;
	struct medfs_journal_writer *w;
	uint8_t vault_id[16] = { 3 }, state_key[32] = { 4 }, *buf;
	char dir[64] = "/tmp/fuzz-corpus-gen.XXXXXX", path[4200];
	size_t len;
	uint64_t removed;
	int ret;

	auditor(&key);
	if (!mkdtemp(dir))
		die("mkdtemp", errno);
	strcat(dir, "/j");
	for (int round = 0; round < 2; round++) {
		ret = medfs_journal_writer_open(&w, dir, key.box_pk, vault_id, state_key,
						&cfg);
		if (ret < 0)
			die("journal open", ret);
		for (int i = 0; i < 12; i++)
			append(w, MEDFS_OP_OPEN, "/study/series/image.dcm");
		ret = medfs_journal_writer_close(w);
		if (ret < 0)
			die("journal close", ret);
		ret = medfs_journal_prune(dir, jr_now_us() + 1000000, &key, NULL, NULL,
					  &removed);
		if (ret < 0 || removed == 0)
			die("journal prune", ret < 0 ? ret : ENOENT);
		snprintf(path, sizeof(path), "%s/PRUNED", dir);
		buf = slurp(path, &len);
		put("pruned", round ? "second-prune" : "first-prune", buf, len, NULL, 0);
		free(buf);
	}
	rm_tree(dir);
	dir[strlen(dir) - 2] = '\0';
	rmdir(dir);
}

/* corpus/header: byte 0 chooses the parser (fuzz_header.c). */
static void header(void)
{
	uint8_t hkey[32], dkey[32], xkey[32], id[16], fkey[32], nonce[24], sel;
	uint8_t h[MEDFS_HEADER_LEN], d[MEDFS_DIR_HEADER_LEN], p[MEDFS_PREV_LEN];
	uint8_t m[MEDFS_META_SEALED_MAX];
	const char meta[] = "1.2.840.113619.2.55.3\0CT\0PAT-0001";
	struct medfs_binding b;

	fuzz_fixed_key(hkey, FUZZ_HEADER_KEY);
	fuzz_fixed_key(dkey, FUZZ_DIR_KEY);
	fuzz_fixed_key(xkey, FUZZ_XATTR_KEY);
	fuzz_fixed_binding(&b);
	fuzz_fixed_file_id(id);
	memset(fkey, 0x5a, sizeof(fkey));
	memset(nonce, 0x6e, sizeof(nonce));

	sel = 0;
	medfs_header_seal_flags(h, id, fkey, 123456, 0, hkey, &b, nonce);
	put("header", "file-v1", &sel, 1, h, sizeof(h));
	medfs_header_seal_flags(h, id, fkey, 0, MEDFS_HEADER_STALE, hkey, &b, nonce);
	put("header", "file-v2-stale", &sel, 1, h, sizeof(h));
	medfs_header_seal_flags(h, id, fkey, 1 << 20, MEDFS_HEADER_STALE | MEDFS_HEADER_PREV,
				hkey, &b, nonce);
	put("header", "file-v2-stale-prev", &sel, 1, h, sizeof(h));
	sel = 4;
	put("header", "file-v2-sealed", &sel, 1, h, sizeof(h));
	sel = 1;
	medfs_dir_header_seal(d, id, dkey, &b);
	put("header", "dir", &sel, 1, d, sizeof(d));
	sel = 5;
	put("header", "dir-sealed", &sel, 1, d, sizeof(d));
	sel = 2;
	medfs_prev_seal(p, fkey, id, xkey, nonce);
	put("header", "prev", &sel, 1, p, sizeof(p));
	sel = 3;
	medfs_meta_seal(m, meta, sizeof(meta), id, xkey, nonce);
	put("header", "meta", &sel, 1, m, sizeof(meta) + MEDFS_XATTR_OVERHEAD);
	medfs_meta_seal(m, meta, 0, id, xkey, nonce);
	put("header", "meta-empty", &sel, 1, m, MEDFS_XATTR_OVERHEAD);
}

/* corpus/slots: version 2 configs with slots the fixed secrets open. */
static void slots(void)
{
	const struct medfs_kdf_params tiny = { crypto_pwhash_argon2id_OPSLIMIT_MIN,
					       crypto_pwhash_argon2id_MEMLIMIT_MIN };
	static uint8_t out[MEDFS_CONFIG_LEN];
	uint8_t vkey[32], vkey2[32], keyfile[32], recovery[32];
	const char *pass = FUZZ_PASSPHRASE;
	struct medfs_config c;

	fuzz_fixed_key(vkey, FUZZ_VAULT_KEY);
	fuzz_fixed_key(vkey2, FUZZ_VAULT_KEY2);
	fuzz_fixed_key(keyfile, FUZZ_KEYFILE);
	fuzz_fixed_key(recovery, FUZZ_RECOVERY);

	medfs_config_init(&c, medfs_block_cipher_default());
	if (medfs_slot_set(&c, 0, MEDFS_SLOT_KEYFILE, keyfile, 32, NULL, NULL, vkey) != 0 ||
	    medfs_config_encode(&c, vkey, out) != 0)
		die("config keyfile", EINVAL);
	put("slots", "keyfile", out, sizeof(out), NULL, 0);

	if (medfs_slot_set(&c, 3, MEDFS_SLOT_PASSPHRASE, (const uint8_t *)pass,
			   strlen(pass), &tiny, "front desk", vkey) != 0 ||
	    medfs_slot_set(&c, 15, MEDFS_SLOT_RECOVERY, recovery, 32, NULL,
			   "recovery 2026-12-07", vkey) != 0 ||
	    medfs_config_encode(&c, vkey, out) != 0)
		die("config three kinds", EINVAL);
	put("slots", "three-kinds", out, sizeof(out), NULL, 0);

	medfs_slot_clear(&c, 0);
	if (medfs_config_encode(&c, vkey, out) != 0)
		die("config passphrase first", EINVAL);
	put("slots", "passphrase-first", out, sizeof(out), NULL, 0);

	if (medfs_config_rekey(&c, vkey2, vkey, MEDFS_ROTATION_REENCRYPT) != 0 ||
	    medfs_config_encode(&c, vkey2, out) != 0)
		die("config rotating", EINVAL);
	put("slots", "rotating", out, sizeof(out), NULL, 0);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fuzz-corpus-gen DIR\n");
		return 2;
	}
	out_dir = argv[1];
	if (medfs_crypto_init() != 0)
		die("libsodium", EINVAL);
	torn();
	pruned();
	header();
	slots();
	return 0;
}
