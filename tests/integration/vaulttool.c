/* vaulttool: the vault library seen from the integration tests, without a
 * mount: unlocks a vault with any kind of key slot (medfs_unlock), fills
 * it with a test tree, dumps it for comparison, holds the vault lock.
 *
 *   vaulttool VAULT AUTH unlock          prints "slot N"
 *   vaulttool VAULT AUTH dump            every object, sorted: type, path,
 *                                        mode, owner, mtime, size and
 *                                        BLAKE2b of the content; symlink
 *                                        targets; xattrs
 *   vaulttool VAULT AUTH populate N      N files in nested directories,
 *                                        with long names, symlinks, xattrs
 *   vaulttool VAULT AUTH probe           how many vault entry names
 *                                        decrypt under the key, in any
 *                                        vault directory (root header not
 *                                        needed)
 *   vaulttool VAULT lock MODE SECONDS    holds the vault lock (mount, keys,
 *                                        rotate) for SECONDS, printing
 *                                        "locked" once it has it
 *   vaulttool VAULT blocks               BLAKE2b of the sealed blocks of each
 *                                        non-empty vault file (what follows
 *                                        its header), sorted: shows whether
 *                                        contents were re-encrypted
 *   vaulttool VAULT AUTH steal HEADER DIRHEADER NAME FILE
 *                                        the attack on revocation: with the
 *                                        vault key that AUTH opens in
 *                                        VAULT's config (an old copy), opens
 *                                        HEADER (an old copy of the header
 *                                        of the vault file FILE, named NAME
 *                                        in the directory whose header is
 *                                        DIRHEADER) and tries its file key
 *                                        on every block FILE holds now:
 *                                        prints "block I open" or "block I
 *                                        sealed", one a line
 *   vaulttool FILE forge INDEX BYTE CIPHER
 *                                        what anyone who can write the
 *                                        vault can do with a file key that
 *                                        is no secret: writes block INDEX
 *                                        of the vault file FILE, "FORGED"
 *                                        over and over, sealed with CIPHER
 *                                        under the key of 32 bytes BYTE and
 *                                        the file id of FILE's header
 * AUTH: --passphrase-file FILE | --keyfile FILE | --recovery-key-file FILE
 *
 * Exit status: 0 done, 1 failed (message on stderr), 2 usage. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "medfs/block.h"
#include "medfs/config.h"
#include "medfs/header.h"
#include "medfs/crypto.h"
#include "medfs/name.h"
#include "medfs/unlock.h"
#include "medfs/vault.h"

struct lines {
	char **v;
	size_t n, cap;
};

static void add_line(struct lines *l, char *s)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 256;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (l->v == NULL) {
			perror("vaulttool");
			exit(1);
		}
	}
	l->v[l->n++] = s;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct names {
	struct lines l;
};

static int collect(void *ctx, const char *name, const struct stat *st)
{
	(void)st;
	add_line(&((struct names *)ctx)->l, strdup(name));
	return 0;
}

static int hash_file(struct medfs_vault *v, const char *path, char hex[65],
		     uint64_t *size)
{
	static uint8_t buf[1 << 16];
	crypto_generichash_state h;
	struct medfs_file *f;
	uint8_t out[32];
	off_t off = 0;
	ssize_t n;
	int r;

	r = medfs_file_open(v, path, O_RDONLY, &f);
	if (r < 0)
		return r;
	crypto_generichash_init(&h, NULL, 0, sizeof(out));
	while ((n = medfs_file_read(f, buf, sizeof(buf), off)) > 0) {
		crypto_generichash_update(&h, buf, (size_t)n);
		off += n;
	}
	medfs_file_release(f);
	if (n < 0)
		return (int)n;
	crypto_generichash_final(&h, out, sizeof(out));
	sodium_bin2hex(hex, 65, out, sizeof(out));
	*size = (uint64_t)off;
	return 0;
}

static int dump_xattrs(struct medfs_vault *v, const char *path, struct lines *out)
{
	char list[65536], *line;
	uint8_t val[65536], h[16];
	char hex[33];
	ssize_t n, vn;

	n = medfs_vault_listxattr(v, path, list, sizeof(list));
	if (n < 0)
		return (int)n;
	for (char *p = list; p < list + n; p += strlen(p) + 1) {
		vn = medfs_vault_getxattr(v, path, p, val, sizeof(val));
		if (vn < 0)
			return (int)vn;
		crypto_generichash(h, sizeof(h), val, (size_t)vn, NULL, 0);
		sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
		if (asprintf(&line, "X %s %s %zd %s", path, p, vn, hex) < 0)
			return -ENOMEM;
		add_line(out, line);
	}
	return 0;
}

static int dump_dir(struct medfs_vault *v, const char *dir, struct lines *out)
{
	struct names names = { { NULL, 0, 0 } };
	int r;

	r = medfs_vault_readdir(v, dir, collect, &names);
	if (r < 0) {
		fprintf(stderr, "vaulttool: readdir %s: %s\n", dir, strerror(-r));
		return r;
	}
	for (size_t i = 0; i < names.l.n && r == 0; i++) {
		char path[PATH_MAX], *line = NULL, hex[65], target[4096];
		struct stat st;
		uint64_t size = 0;

		snprintf(path, sizeof(path), "%s/%s", strcmp(dir, "/") ? dir : "",
			 names.l.v[i]);
		r = medfs_vault_getattr(v, path, &st);
		if (r < 0) {
			fprintf(stderr, "vaulttool: stat %s: %s\n", path, strerror(-r));
			break;
		}
		if (S_ISREG(st.st_mode)) {
			r = hash_file(v, path, hex, &size);
			if (r < 0) {
				fprintf(stderr, "vaulttool: read %s: %s\n", path,
					strerror(-r));
				break;
			}
			if (asprintf(&line, "F %s %o %u:%u %lld.%09ld %" PRIu64 " %s",
				     path, st.st_mode & 07777, st.st_uid, st.st_gid,
				     (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
				     size, hex) < 0)
				r = -ENOMEM;
			else
				add_line(out, line);
			if (r == 0)
				r = dump_xattrs(v, path, out);
			if (r < 0)
				fprintf(stderr, "vaulttool: xattrs of %s: %s\n", path,
					strerror(-r));
		} else if (S_ISLNK(st.st_mode)) {
			r = medfs_vault_readlink(v, path, target, sizeof(target));
			if (r < 0) {
				fprintf(stderr, "vaulttool: readlink %s: %s\n", path,
					strerror(-r));
				break;
			}
			if (asprintf(&line, "L %s %u:%u %lld.%09ld -> %s", path,
				     st.st_uid, st.st_gid, (long long)st.st_mtim.tv_sec,
				     st.st_mtim.tv_nsec, target) < 0)
				r = -ENOMEM;
			else
				add_line(out, line);
		} else if (S_ISDIR(st.st_mode)) {
			if (asprintf(&line, "D %s %o %u:%u %lld.%09ld", path,
				     st.st_mode & 07777, st.st_uid, st.st_gid,
				     (long long)st.st_mtim.tv_sec,
				     st.st_mtim.tv_nsec) < 0)
				r = -ENOMEM;
			else
				add_line(out, line);
			if (r == 0)
				r = dump_dir(v, path, out);
		}
	}
	for (size_t i = 0; i < names.l.n; i++)
		free(names.l.v[i]);
	free(names.l.v);
	return r;
}

static int cmd_dump(struct medfs_vault *v)
{
	struct lines out = { NULL, 0, 0 };
	struct stat st;
	int r;

	r = medfs_vault_getattr(v, "/", &st);
	if (r == 0) {
		printf("D / %o %u:%u %lld.%09ld\n", st.st_mode & 07777, st.st_uid,
		       st.st_gid, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
		r = dump_dir(v, "/", &out);
	}
	qsort(out.v, out.n, sizeof(*out.v), cmp_str);
	for (size_t i = 0; i < out.n; i++) {
		if (r == 0)
			puts(out.v[i]);
		free(out.v[i]);
	}
	free(out.v);
	return r < 0 ? 1 : 0;
}

/* Deterministic content for file i. */
static void content(uint8_t *buf, size_t len, unsigned int i)
{
	uint8_t seed[randombytes_SEEDBYTES] = { 0 };

	memcpy(seed, &i, sizeof(i));
	randombytes_buf_deterministic(buf, len, seed);
}

static int mkdirs(struct medfs_vault *v, const char *path)
{
	int r = medfs_vault_mkdir(v, path, 0755, NULL);

	return r == -EEXIST ? 0 : r;
}

static int cmd_populate(struct medfs_vault *v, unsigned int n)
{
	static uint8_t buf[40000];
	char dir[256], sub[300], path[700], name[300];
	unsigned int i;
	int r;

	for (i = 0; i < n; i++) {
		struct medfs_file *f;
		size_t size = (i * 7919u) % 20000u;

		snprintf(dir, sizeof(dir), "/study-%02u", i % 20);
		snprintf(sub, sizeof(sub), "%s/series-%u", dir, (i / 20) % 3);
		if ((r = mkdirs(v, dir)) < 0 || (r = mkdirs(v, sub)) < 0)
			goto fail;
		if (i % 50 == 7) {
			/* A long name: stored as a hash and a sidecar. */
			memset(name, 'n', 150);
			snprintf(name + 150, sizeof(name) - 150, "-%u.dcm", i);
		} else {
			snprintf(name, sizeof(name), "image-%05u.dcm", i);
		}
		snprintf(path, sizeof(path), "%s/%s", sub, name);
		if (i % 40 == 13) {
			char target[64];

			snprintf(target, sizeof(target), "../series-0/image-%05u.dcm",
				 i - 1);
			r = medfs_vault_symlink(v, target, path, NULL);
			if (r < 0)
				goto fail;
			continue;
		}
		r = medfs_file_create(v, path, O_RDWR | O_EXCL, 0640, NULL, &f);
		if (r < 0)
			goto fail;
		content(buf, size, i);
		if (size > 0 && medfs_file_write(f, buf, size, 0, 0) != (ssize_t)size)
			r = -EIO;
		medfs_file_release(f);
		if (r < 0)
			goto fail;
		if (i % 25 == 3) {
			char xname[64];

			snprintf(xname, sizeof(xname), "user.patient-%u", i);
			r = medfs_vault_setxattr(v, path, xname, buf, size % 300 + 1, 0);
			if (r == 0)
				r = medfs_vault_setxattr(v, path, "user.study", "CT", 2,
							 0);
			if (r < 0)
				goto fail;
		}
	}
	return 0;
fail:
	fprintf(stderr, "vaulttool: populate: %s\n", strerror(-r));
	return 1;
}

/* Counts the vault entry names under tree/ that decrypt with the key,
 * trying every directory id found in a directory header. */
static int cmd_probe(const char *vault_dir, const uint8_t *key)
{
	uint8_t name_key[MEDFS_NAME_KEY_LEN], ids[4096][MEDFS_DIR_ID_LEN];
	char *dirs[4096], plain[MEDFS_NAME_MAX + 1];
	size_t nids = 0, ndirs = 0, hits = 0, names = 0;
	char root[PATH_MAX];

	medfs_subkey_derive(name_key, MEDFS_SUBKEY_NAME_MAC, key);
	medfs_subkey_derive(name_key + MEDFS_KEY_LEN, MEDFS_SUBKEY_NAME_ENC, key);
	snprintf(root, sizeof(root), "%s/%s", vault_dir, MEDFS_TREE_NAME);
	dirs[ndirs++] = strdup(root);
	for (size_t d = 0; d < ndirs; d++) {
		char p[PATH_MAX];
		struct dirent *de;
		DIR *dh;
		int fd;

		snprintf(p, sizeof(p), "%s/.medfs-dir", dirs[d]);
		fd = open(p, O_RDONLY);
		if (fd >= 0 && nids < 4096 &&
		    pread(fd, ids[nids], MEDFS_DIR_ID_LEN, 8) == MEDFS_DIR_ID_LEN)
			nids++;
		if (fd >= 0)
			close(fd);
		dh = opendir(dirs[d]);
		while (dh && (de = readdir(dh)) != NULL) {
			if (medfs_name_is_internal(de->d_name))
				continue;
			if (de->d_type == DT_DIR && ndirs < 4096) {
				snprintf(p, sizeof(p), "%s/%s", dirs[d], de->d_name);
				dirs[ndirs++] = strdup(p);
			}
		}
		if (dh)
			closedir(dh);
	}
	for (size_t d = 0; d < ndirs; d++) {
		struct dirent *de;
		DIR *dh = opendir(dirs[d]);

		while (dh && (de = readdir(dh)) != NULL) {
			if (medfs_name_is_internal(de->d_name) ||
			    medfs_name_is_long(de->d_name))
				continue;
			names++;
			for (size_t i = 0; i < nids; i++)
				if (medfs_name_decrypt(plain, sizeof(plain), de->d_name,
						       strlen(de->d_name), ids[i],
						       name_key) >= 0)
					hits++;
		}
		if (dh)
			closedir(dh);
		free(dirs[d]);
	}
	printf("%zu of %zu names decrypt\n", hits, names);
	sodium_memzero(name_key, sizeof(name_key));
	return 0;
}

static int cmd_lock(const char *vault, const char *mode, const char *seconds)
{
	enum medfs_lock_mode m;
	int fd;

	if (!strcmp(mode, "mount"))
		m = MEDFS_LOCK_MOUNT;
	else if (!strcmp(mode, "keys"))
		m = MEDFS_LOCK_KEYS;
	else if (!strcmp(mode, "rotate"))
		m = MEDFS_LOCK_ROTATE;
	else
		return 2;
	fd = medfs_vault_lock(vault, m);
	if (fd < 0) {
		printf("%s\n", fd == -EBUSY    ? "EBUSY"
			       : fd == -EAGAIN ? "EAGAIN"
					       : "ERROR");
		return 1;
	}
	printf("locked\n");
	fflush(stdout);
	sleep((unsigned int)atoi(seconds));
	close(fd);
	return 0;
}

static int cmd_blocks(const char *vault_dir)
{
	static uint8_t buf[1 << 16];
	char *dirs[4096], root[PATH_MAX];
	struct lines out = { NULL, 0, 0 };
	size_t ndirs = 0;

	snprintf(root, sizeof(root), "%s/%s", vault_dir, MEDFS_TREE_NAME);
	dirs[ndirs++] = strdup(root);
	for (size_t d = 0; d < ndirs; d++) {
		struct dirent *de;
		DIR *dh = opendir(dirs[d]);

		while (dh && (de = readdir(dh)) != NULL) {
			crypto_generichash_state h;
			char p[PATH_MAX], hex[33], *line;
			uint8_t sum[16];
			ssize_t n;
			off_t off = MEDFS_HEADER_LEN;
			int fd;

			if (medfs_name_is_internal(de->d_name))
				continue;
			snprintf(p, sizeof(p), "%s/%s", dirs[d], de->d_name);
			if (de->d_type == DT_DIR) {
				if (ndirs < 4096)
					dirs[ndirs++] = strdup(p);
				continue;
			}
			if (de->d_type != DT_REG)
				continue;
			fd = open(p, O_RDONLY);
			if (fd < 0)
				continue;
			crypto_generichash_init(&h, NULL, 0, sizeof(sum));
			while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
				crypto_generichash_update(&h, buf, (size_t)n);
				off += n;
			}
			close(fd);
			if (off == MEDFS_HEADER_LEN)
				continue; /* no block */
			crypto_generichash_final(&h, sum, sizeof(sum));
			sodium_bin2hex(hex, sizeof(hex), sum, sizeof(sum));
			line = strdup(hex);
			add_line(&out, line);
		}
		if (dh)
			closedir(dh);
		free(dirs[d]);
	}
	qsort(out.v, out.n, sizeof(*out.v), cmp_str);
	for (size_t i = 0; i < out.n; i++) {
		puts(out.v[i]);
		free(out.v[i]);
	}
	free(out.v);
	return 0;
}

static int read_exact(const char *path, uint8_t *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : pread(fd, buf, len, 0);

	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)len) {
		fprintf(stderr, "vaulttool: cannot read %zu bytes of %s\n", len, path);
		return -1;
	}
	return 0;
}

static int cmd_steal(const uint8_t *vault_key, uint32_t cipher, char *argv[])
{
	uint8_t hk[MEDFS_KEY_LEN], hdr[MEDFS_HEADER_LEN], dh[MEDFS_DIR_HEADER_LEN];
	uint8_t id[MEDFS_FILE_ID_LEN], fk[MEDFS_KEY_LEN];
	static uint8_t sealed[MEDFS_BLOCK_DISK_SIZE], plain[MEDFS_BLOCK_SIZE];
	struct medfs_binding b = { .name = argv[2], .name_len = strlen(argv[2]) };
	uint64_t size;
	ssize_t n;
	int fd, r;

	if (read_exact(argv[0], hdr, sizeof(hdr)) < 0 ||
	    read_exact(argv[1], dh, sizeof(dh)) < 0)
		return 1;
	memcpy(b.parent_id, dh + 8, MEDFS_DIR_ID_LEN); /* in the clear */
	medfs_subkey_derive(hk, MEDFS_SUBKEY_HEADER, vault_key);
	r = medfs_header_open(hdr, id, fk, &size, hk, &b);
	if (r < 0) {
		fprintf(stderr, "vaulttool: the old header does not open: %s\n",
			strerror(-r));
		return 1;
	}
	fd = open(argv[3], O_RDONLY);
	if (fd < 0) {
		perror(argv[3]);
		return 1;
	}
	for (uint64_t i = 0;; i++) {
		n = pread(fd, sealed, sizeof(sealed), (off_t)medfs_block_disk_offset(i));
		if (n <= MEDFS_BLOCK_OVERHEAD)
			break;
		r = medfs_block_open(plain, sealed, (size_t)n, cipher, fk, id, i);
		printf("block %" PRIu64 " %s\n", i, r >= 0 ? "open" : "sealed");
	}
	close(fd);
	sodium_memzero(fk, sizeof(fk));
	sodium_memzero(plain, sizeof(plain));
	return 0;
}

/* forge: see the top of the file. */
static int cmd_forge(const char *file, const char *index, const char *byte,
		     const char *cipher)
{
	uint8_t hdr[MEDFS_HEADER_LEN], key[MEDFS_KEY_LEN], plain[MEDFS_BLOCK_SIZE];
	uint8_t sealed[MEDFS_BLOCK_DISK_SIZE];
	uint64_t i = strtoull(index, NULL, 10);
	int fd = open(file, O_RDWR | O_CLOEXEC), n;

	if (fd < 0 || pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr)) {
		perror(file);
		return 1;
	}
	memset(key, atoi(byte), sizeof(key));
	for (size_t k = 0; k < sizeof(plain); k++)
		plain[k] = (uint8_t)"FORGED\n"[k % 7];
	/* The file id: bytes 8..24 of the header, in the clear. */
	n = medfs_block_seal(sealed, plain, sizeof(plain), (uint32_t)atoi(cipher), key,
			     hdr + 8, i);
	if (n < 0 || pwrite(fd, sealed, (size_t)n, (off_t)medfs_block_disk_offset(i)) != n) {
		fprintf(stderr, "vaulttool: forge: cannot seal or write block %" PRIu64 "\n",
			i);
		close(fd);
		return 1;
	}
	close(fd);
	return 0;
}

int main(int argc, char *argv[])
{
	enum medfs_slot_kind kind;
	struct medfs_config c;
	struct medfs_vault *v = NULL;
	uint8_t *key;
	char why[512];
	int slot, used_backup, r, status = 1;

	if (argc == 5 && !strcmp(argv[2], "lock"))
		return cmd_lock(argv[1], argv[3], argv[4]);
	if (argc == 3 && !strcmp(argv[2], "blocks"))
		return medfs_crypto_init() < 0 ? 1 : cmd_blocks(argv[1]);
	if (argc == 6 && !strcmp(argv[2], "forge"))
		return medfs_crypto_init() < 0 ? 1 : cmd_forge(argv[1], argv[3], argv[4], argv[5]);
	if (argc < 5) {
		fprintf(stderr, "usage: vaulttool VAULT (--passphrase-file|--keyfile|"
				"--recovery-key-file) FILE COMMAND [ARGS]\n");
		return 2;
	}
	if (!strcmp(argv[2], "--passphrase-file"))
		kind = MEDFS_SLOT_PASSPHRASE;
	else if (!strcmp(argv[2], "--keyfile"))
		kind = MEDFS_SLOT_KEYFILE;
	else if (!strcmp(argv[2], "--recovery-key-file"))
		kind = MEDFS_SLOT_RECOVERY;
	else
		return 2;
	if (medfs_crypto_init() < 0)
		return 1;
	key = medfs_secret_alloc(MEDFS_KEY_LEN);
	if (key == NULL)
		return 1;
	r = medfs_unlock(argv[1], kind, argv[3], &c, key, &slot, &used_backup, why,
			 sizeof(why));
	if (r < 0) {
		fprintf(stderr, "vaulttool: %s\n", why);
		goto out;
	}
	if (used_backup)
		fprintf(stderr, "vaulttool: warning: %s\n", why);
	if (!strcmp(argv[4], "unlock")) {
		printf("slot %d\n", slot);
		status = 0;
		goto out;
	}
	if (!strcmp(argv[4], "probe")) {
		status = cmd_probe(argv[1], key);
		goto out;
	}
	if (!strcmp(argv[4], "steal") && argc == 9) {
		status = cmd_steal(key, c.cipher, argv + 5);
		goto out;
	}
	r = medfs_vault_open_cipher(&v, argv[1], key, c.cipher);
	if (r < 0) {
		fprintf(stderr, "vaulttool: cannot open the vault: %s\n", strerror(-r));
		goto out;
	}
	if (!strcmp(argv[4], "dump"))
		status = cmd_dump(v);
	else if (!strcmp(argv[4], "populate") && argc == 6)
		status = cmd_populate(v, (unsigned int)atoi(argv[5]));
	else
		status = 2;
out:
	if (v != NULL)
		medfs_vault_close(v);
	medfs_secret_free(key);
	return status;
}
