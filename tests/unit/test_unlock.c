/* Unit tests of unlock.h: recovery key text, key files, reading secrets,
 * unlocking a vault with each kind of slot, and the vault lock. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "medfs/block.h"
#include "medfs/config.h"
#include "medfs/crypto.h"
#include "medfs/log.h"
#include "medfs/unlock.h"
#include "medfs/vault.h"

#define PASS "correct horse battery staple"
#define ALPHABET "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

static const struct medfs_kdf_params fast_kdf = { 1, 8ULL << 20 };

static uint8_t key[MEDFS_KEY_LEN];
static char dir[PATH_MAX];

/* A CPU without AES-NI, when set. libmedfs is linked statically into this
 * test, so its calls reach this definition rather than libsodium's, which
 * is the same test of the CPU's features. */
static int no_aesni;

int crypto_aead_aes256gcm_is_available(void)
{
	return !no_aesni && sodium_runtime_has_aesni() && sodium_runtime_has_pclmul();
}

static void setup(void)
{
	ck_assert_int_eq(medfs_crypto_init(), 0);
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(0x31 * i + 7);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static void dir_setup(void)
{
	setup();
	snprintf(dir, sizeof(dir), "/tmp/medfs-test-unlock-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void dir_teardown(void)
{
	medfs_log_set(NULL);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_file(const char *name, const void *buf, size_t len)
{
	char path[PATH_MAX + 64];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static const char *path_of(const char *name)
{
	static char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

/* ---- recovery keys ---- */

START_TEST(test_recovery_roundtrip)
{
	char text[MEDFS_RECOVERY_TEXT_LEN + 1];
	uint8_t back[MEDFS_KEY_LEN], k[MEDFS_KEY_LEN];
	int where, i, g;

	ck_assert_int_eq(MEDFS_RECOVERY_TEXT_LEN, 77);
	ck_assert_int_eq(medfs_recovery_encode(text, sizeof(text), key), 0);
	ck_assert_uint_eq(strlen(text), MEDFS_RECOVERY_TEXT_LEN);
	/* 13 groups of 5 characters of the alphabet, dashes between. */
	for (g = 0; g < 13; g++) {
		for (i = 0; i < 5; i++)
			ck_assert_ptr_nonnull(strchr(ALPHABET, text[6 * g + i]));
		if (g < 12)
			ck_assert_int_eq(text[6 * g + 5], '-');
	}
	ck_assert_int_eq(medfs_recovery_decode(back, text, strlen(text), &where), 0);
	ck_assert_mem_eq(back, key, sizeof(key));
	ck_assert_int_eq(medfs_recovery_encode(text, MEDFS_RECOVERY_TEXT_LEN, key),
			 -EINVAL);

	/* Random keys, and the extremes. */
	for (i = 0; i < 200; i++) {
		if (i == 0)
			memset(k, 0, sizeof(k));
		else if (i == 1)
			memset(k, 0xff, sizeof(k));
		else
			randombytes_buf(k, sizeof(k));
		ck_assert_int_eq(medfs_recovery_encode(text, sizeof(text), k), 0);
		ck_assert_int_eq(medfs_recovery_decode(back, text, strlen(text), NULL),
				 0);
		ck_assert_mem_eq(back, k, sizeof(k));
	}
}
END_TEST

/* How people type it: spaces, lines, lower case, O for 0, I and L for 1. */
START_TEST(test_recovery_lenient)
{
	char text[MEDFS_RECOVERY_TEXT_LEN + 1], typed[256];
	uint8_t back[MEDFS_KEY_LEN];
	size_t i, n = 0;

	ck_assert_int_eq(medfs_recovery_encode(text, sizeof(text), key), 0);
	for (i = 0; i < strlen(text); i++) {
		char ch = text[i];

		if (ch == '-') {
			typed[n++] = i == 41 ? '\n' : ' ';
			continue;
		}
		if (ch == '0')
			ch = 'o';
		else if (ch == '1')
			ch = i % 2 ? 'l' : 'I';
		else if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		typed[n++] = ch;
	}
	memcpy(typed + n, "\r\n\t", 3);
	n += 3;
	ck_assert_int_eq(medfs_recovery_decode(back, typed, n, NULL), 0);
	ck_assert_mem_eq(back, key, sizeof(key));
}
END_TEST

/* Any single mistyped character, anywhere, is caught, and its group named. */
START_TEST(test_recovery_every_typo)
{
	char text[MEDFS_RECOVERY_TEXT_LEN + 1], bent[MEDFS_RECOVERY_TEXT_LEN + 1];
	uint8_t back[MEDFS_KEY_LEN], k[MEDFS_KEY_LEN];
	int where, round;
	size_t i, a;

	for (round = 0; round < 4; round++) {
		if (round == 0)
			memcpy(k, key, sizeof(k));
		else
			randombytes_buf(k, sizeof(k));
		ck_assert_int_eq(medfs_recovery_encode(text, sizeof(text), k), 0);
		for (i = 0; i < strlen(text); i++) {
			if (text[i] == '-')
				continue;
			for (a = 0; a < 32; a++) {
				if (ALPHABET[a] == text[i])
					continue;
				memcpy(bent, text, sizeof(text));
				bent[i] = ALPHABET[a];
				memset(back, 0xaa, sizeof(back));
				ck_assert_msg(medfs_recovery_decode(back, bent,
								    strlen(bent),
								    &where) == -EBADMSG,
					      "typo at %zu (%c for %c) accepted", i,
					      bent[i], text[i]);
				ck_assert_int_eq(where, (int)(i / 6) + 1);
				ck_assert(sodium_is_zero(back, sizeof(back)));
			}
		}
	}
}
END_TEST

START_TEST(test_recovery_errors)
{
	char text[MEDFS_RECOVERY_TEXT_LEN + 1], bent[2 * MEDFS_RECOVERY_TEXT_LEN];
	uint8_t back[MEDFS_KEY_LEN];
	int where, swaps_caught = 0, g;

	ck_assert_int_eq(medfs_recovery_encode(text, sizeof(text), key), 0);
	/* A character that is no part of the alphabet: U, punctuation, NUL. */
	memcpy(bent, text, sizeof(text));
	bent[8] = 'U';
	ck_assert_int_eq(medfs_recovery_decode(back, bent, strlen(bent), &where),
			 -EINVAL);
	ck_assert_int_eq(where, 9);
	bent[8] = '.';
	ck_assert_int_eq(medfs_recovery_decode(back, bent, strlen(bent), &where),
			 -EINVAL);
	bent[8] = '\0';
	ck_assert_int_eq(
		medfs_recovery_decode(back, bent, MEDFS_RECOVERY_TEXT_LEN, &where),
		-EINVAL);
	/* A character missing or one too many. */
	ck_assert_int_eq(medfs_recovery_decode(back, text, strlen(text) - 1, &where),
			 -EMSGSIZE);
	ck_assert_int_eq(where, 64);
	snprintf(bent, sizeof(bent), "%sA", text);
	ck_assert_int_eq(medfs_recovery_decode(back, bent, strlen(bent), &where),
			 -EMSGSIZE);
	ck_assert_int_eq(where, 66);
	ck_assert_int_eq(medfs_recovery_decode(back, "", 0, &where), -EMSGSIZE);
	ck_assert_int_eq(where, 0);
	/* Two whole groups swapped: the group numbers in the checks catch it. */
	for (g = 0; g < 12; g++) {
		memcpy(bent, text, sizeof(text));
		memcpy(bent + 6 * g, text + 6 * (g + 1), 5);
		memcpy(bent + 6 * (g + 1), text + 6 * g, 5);
		if (memcmp(bent, text, sizeof(text)) == 0)
			continue;
		if (medfs_recovery_decode(back, bent, strlen(bent), &where) == -EBADMSG)
			swaps_caught++;
	}
	ck_assert_int_ge(swaps_caught, 11);
}
END_TEST

/* ---- key files ---- */

START_TEST(test_keyfile_parse)
{
	char hex[2 * MEDFS_KEY_LEN + 3];
	uint8_t back[MEDFS_KEY_LEN];

	ck_assert_int_eq(medfs_keyfile_parse(back, key, 32), 0);
	ck_assert_mem_eq(back, key, sizeof(key));
	sodium_bin2hex(hex, sizeof(hex), key, sizeof(key));
	ck_assert_int_eq(medfs_keyfile_parse(back, (const uint8_t *)hex, 64), 0);
	ck_assert_mem_eq(back, key, sizeof(key));
	strcat(hex, "\n");
	ck_assert_int_eq(medfs_keyfile_parse(back, (const uint8_t *)hex, 65), 0);
	hex[64] = '\r';
	hex[65] = '\n';
	ck_assert_int_eq(medfs_keyfile_parse(back, (const uint8_t *)hex, 66), 0);
	ck_assert_mem_eq(back, key, sizeof(key));
	/* Upper-case hex digits too. */
	for (int i = 0; i < 64; i++)
		if (hex[i] >= 'a')
			hex[i] = (char)(hex[i] - 'a' + 'A');
	ck_assert_int_eq(medfs_keyfile_parse(back, (const uint8_t *)hex, 64), 0);
	ck_assert_mem_eq(back, key, sizeof(key));

	ck_assert_int_eq(medfs_keyfile_parse(back, key, 31), -EINVAL);
	ck_assert_int_eq(medfs_keyfile_parse(back, key, 0), -EINVAL);
	ck_assert_int_eq(medfs_keyfile_parse(back, (const uint8_t *)hex, 63), -EINVAL);
	hex[10] = 'g';
	memset(back, 0xaa, sizeof(back));
	ck_assert_int_eq(medfs_keyfile_parse(back, (const uint8_t *)hex, 64), -EINVAL);
	ck_assert(sodium_is_zero(back, sizeof(back)));
	hex[10] = ' ';
	ck_assert_int_eq(medfs_keyfile_parse(back, (const uint8_t *)hex, 64), -EINVAL);
}
END_TEST

/* ---- reading secrets ---- */

/* Each kind of secret file is refused unless private (mode and owner),
 * with how to fix it. */
START_TEST(test_secret_read_private)
{
	static const enum medfs_slot_kind kinds[] = { MEDFS_SLOT_PASSPHRASE,
						      MEDFS_SLOT_KEYFILE,
						      MEDFS_SLOT_RECOVERY };
	char text[MEDFS_RECOVERY_TEXT_LEN + 1], why[512], fix[PATH_MAX + 80];
	uint8_t *out;
	size_t len;

	ck_assert_int_eq(medfs_recovery_encode(text, sizeof(text), key), 0);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const char *p = path_of("secret");

		if (kinds[i] == MEDFS_SLOT_PASSPHRASE)
			write_file("secret", PASS "\n", strlen(PASS) + 1);
		else if (kinds[i] == MEDFS_SLOT_KEYFILE)
			write_file("secret", key, sizeof(key));
		else
			write_file("secret", text, strlen(text));
		ck_assert_int_eq(chmod(p, 0644), 0);
		ck_assert_int_eq(
			medfs_secret_read(kinds[i], p, dir, &out, &len, why, sizeof(why)),
			-EPERM);
		ck_assert_ptr_null(out);
		snprintf(fix, sizeof(fix), "chmod 600 %s", p);
		ck_assert_ptr_nonnull(strstr(why, fix));
		ck_assert_int_eq(chmod(p, 0440), 0);
		ck_assert_int_eq(
			medfs_secret_read(kinds[i], p, dir, &out, &len, why, sizeof(why)),
			-EPERM);
		ck_assert_int_eq(chmod(p, 0400), 0);
		ck_assert_int_eq(
			medfs_secret_read(kinds[i], p, dir, &out, &len, why, sizeof(why)),
			0);
		medfs_secret_free(out);
		if (geteuid() == 0) {
			ck_assert_int_eq(chown(p, 4242, 0), 0);
			ck_assert_int_eq(medfs_secret_read(kinds[i], p, dir, &out, &len,
							   why, sizeof(why)),
					 -EPERM);
			ck_assert_ptr_nonnull(strstr(why, "another user (uid 4242)"));
		}
		unlink(p);
	}
}
END_TEST

START_TEST(test_secret_read)
{
	char text[MEDFS_RECOVERY_TEXT_LEN + 1], why[512], big[5000];
	uint8_t *out;
	size_t len;

	write_file("pass", PASS "\n", strlen(PASS) + 1);
	ck_assert_int_eq(medfs_secret_read(MEDFS_SLOT_PASSPHRASE, path_of("pass"), dir,
					   &out, &len, why, sizeof(why)),
			 0);
	ck_assert_uint_eq(len, strlen(PASS));
	ck_assert_mem_eq(out, PASS, len);
	medfs_secret_free(out);

	write_file("empty", "\n", 1);
	ck_assert_int_eq(medfs_secret_read(MEDFS_SLOT_PASSPHRASE, path_of("empty"), dir,
					   &out, &len, why, sizeof(why)),
			 -EINVAL);
	ck_assert_ptr_null(out);
	ck_assert_ptr_nonnull(strstr(why, "empty"));

	write_file("key", key, sizeof(key));
	ck_assert_int_eq(medfs_secret_read(MEDFS_SLOT_KEYFILE, path_of("key"), dir, &out,
					   &len, why, sizeof(why)),
			 0);
	ck_assert_uint_eq(len, 32);
	ck_assert_mem_eq(out, key, 32);
	medfs_secret_free(out);
	write_file("short", key, 20);
	ck_assert_int_eq(medfs_secret_read(MEDFS_SLOT_KEYFILE, path_of("short"), dir,
					   &out, &len, why, sizeof(why)),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "not a medfs key file"));
	memset(big, 'a', sizeof(big));
	write_file("big", big, sizeof(big));
	ck_assert_int_eq(medfs_secret_read(MEDFS_SLOT_KEYFILE, path_of("big"), dir, &out,
					   &len, why, sizeof(why)),
			 -EINVAL);
	ck_assert_int_eq(medfs_secret_read(MEDFS_SLOT_KEYFILE, NULL, dir, &out, &len, why,
					   sizeof(why)),
			 -EINVAL);
	ck_assert_int_eq(medfs_secret_read(MEDFS_SLOT_KEYFILE, path_of("none"), dir, &out,
					   &len, why, sizeof(why)),
			 -ENOENT);
	ck_assert_ptr_nonnull(strstr(why, "none"));

	ck_assert_int_eq(medfs_recovery_encode(text, sizeof(text), key), 0);
	write_file("rec", text, strlen(text));
	ck_assert_int_eq(medfs_secret_read(MEDFS_SLOT_RECOVERY, path_of("rec"), dir, &out,
					   &len, why, sizeof(why)),
			 0);
	ck_assert_mem_eq(out, key, 32);
	medfs_secret_free(out);
	text[20] = text[20] == 'A' ? 'B' : 'A';
	write_file("rec", text, strlen(text));
	ck_assert_int_eq(medfs_secret_read(MEDFS_SLOT_RECOVERY, path_of("rec"), dir, &out,
					   &len, why, sizeof(why)),
			 -EBADMSG);
	ck_assert_ptr_nonnull(strstr(why, "mistyped: group 4"));
	write_file("rec", big, sizeof(big));
	ck_assert_int_eq(medfs_secret_read(MEDFS_SLOT_RECOVERY, path_of("rec"), dir, &out,
					   &len, why, sizeof(why)),
			 -E2BIG);
	write_file("rec", "ABC", 3);
	ck_assert_int_eq(medfs_secret_read(MEDFS_SLOT_RECOVERY, path_of("rec"), dir, &out,
					   &len, why, sizeof(why)),
			 -EMSGSIZE);
	ck_assert_ptr_nonnull(strstr(why, "has 3 characters"));
	ck_assert_int_eq(medfs_secret_read(MEDFS_SLOT_EMPTY, path_of("rec"), dir, &out,
					   &len, why, sizeof(why)),
			 -EINVAL);
}
END_TEST

/* ---- unlocking ---- */

static uint8_t recovery[32], keyfile[32];

/* A vault config with a passphrase, a key file and a recovery slot, its
 * blocks under cipher. */
static void make_config_cipher(struct medfs_config *c, uint32_t cipher)
{
	char text[MEDFS_RECOVERY_TEXT_LEN + 1];

	for (size_t i = 0; i < 32; i++) {
		recovery[i] = (uint8_t)(i * 3);
		keyfile[i] = (uint8_t)(i * 5 + 1);
	}
	medfs_config_init(c, cipher);
	ck_assert_int_eq(medfs_slot_set(c, 0, MEDFS_SLOT_PASSPHRASE,
					(const uint8_t *)PASS, strlen(PASS), &fast_kdf,
					"admin", key),
			 0);
	ck_assert_int_eq(
		medfs_slot_set(c, 4, MEDFS_SLOT_KEYFILE, keyfile, 32, NULL, "boot", key),
		0);
	ck_assert_int_eq(medfs_slot_set(c, 9, MEDFS_SLOT_RECOVERY, recovery, 32, NULL,
					"safe", key),
			 0);
	ck_assert_int_eq(medfs_config_save(dir, c, key), 0);
	write_file("pass", PASS "\n", strlen(PASS) + 1);
	write_file("wrong", "wrong\n", 6);
	write_file("key", keyfile, 32);
	write_file("badkey", recovery, 32);
	ck_assert_int_eq(medfs_recovery_encode(text, sizeof(text), recovery), 0);
	write_file("rec", text, strlen(text));
	ck_assert_int_eq(medfs_recovery_encode(text, sizeof(text), keyfile), 0);
	write_file("badrec", text, strlen(text));
}

static void make_config(struct medfs_config *c)
{
	make_config_cipher(c, MEDFS_CIPHER_XCHACHA20POLY1305);
}

static void quiet(int priority, const char *msg)
{
	(void)priority;
	(void)msg;
}

START_TEST(test_unlock_kinds)
{
	struct medfs_config c, got;
	uint8_t *k = medfs_secret_alloc(MEDFS_KEY_LEN), *secret;
	char why[512];
	int slot, used;
	size_t len;

	ck_assert_ptr_nonnull(k);
	make_config(&c);
	ck_assert_int_eq(medfs_unlock(dir, MEDFS_SLOT_PASSPHRASE, path_of("pass"), &got,
				      k, &slot, &used, why, sizeof(why)),
			 0);
	ck_assert_int_eq(slot, 0);
	ck_assert_int_eq(used, 0);
	ck_assert_mem_eq(k, key, 32);
	ck_assert_int_eq(medfs_unlock(dir, MEDFS_SLOT_KEYFILE, path_of("key"), &got, k,
				      &slot, &used, why, sizeof(why)),
			 0);
	ck_assert_int_eq(slot, 4);
	ck_assert_int_eq(medfs_unlock(dir, MEDFS_SLOT_RECOVERY, path_of("rec"), &got, k,
				      &slot, &used, why, sizeof(why)),
			 0);
	ck_assert_int_eq(slot, 9);
	ck_assert_mem_eq(k, key, 32);
	ck_assert_str_eq(got.slots[9].label, "safe");

	/* Wrong secrets, each named. */
	ck_assert_int_eq(medfs_unlock(dir, MEDFS_SLOT_PASSPHRASE, path_of("wrong"), &got,
				      k, &slot, &used, why, sizeof(why)),
			 -EKEYREJECTED);
	ck_assert_ptr_nonnull(strstr(why, "wrong passphrase: no key slot of"));
	ck_assert_int_eq(slot, -1);
	ck_assert(sodium_is_zero(k, 32));
	ck_assert_int_eq(medfs_unlock(dir, MEDFS_SLOT_KEYFILE, path_of("badkey"), &got, k,
				      &slot, &used, why, sizeof(why)),
			 -EKEYREJECTED);
	ck_assert_ptr_nonnull(strstr(why, "wrong key file"));
	ck_assert_int_eq(medfs_unlock(dir, MEDFS_SLOT_RECOVERY, path_of("badrec"), &got,
				      k, &slot, &used, why, sizeof(why)),
			 -EKEYREJECTED);
	ck_assert_ptr_nonnull(strstr(why, "wrong recovery key"));
	/* A passphrase is never tried on other kinds of slots. */
	ck_assert_int_eq(medfs_unlock(dir, MEDFS_SLOT_RECOVERY, path_of("pass"), &got, k,
				      &slot, &used, why, sizeof(why)),
			 -EMSGSIZE);

	/* Not a vault. */
	ck_assert_int_eq(medfs_unlock("/nonexistent-medfs", MEDFS_SLOT_KEYFILE,
				      path_of("key"), &got, k, &slot, &used, why,
				      sizeof(why)),
			 -ENOENT);
	ck_assert_ptr_nonnull(strstr(why, "is not a medfs vault"));

	/* The secret handed back on request. */
	ck_assert_int_eq(medfs_unlock_ex(dir, MEDFS_SLOT_KEYFILE, path_of("key"), 0, &got,
					 k, &slot, &used, &secret, &len, why,
					 sizeof(why)),
			 0);
	ck_assert_uint_eq(len, 32);
	ck_assert_mem_eq(secret, keyfile, 32);
	medfs_secret_free(secret);
	medfs_secret_free(k);
}
END_TEST

START_TEST(test_unlock_backup_and_rotation)
{
	struct medfs_config c, got;
	uint8_t *k = medfs_secret_alloc(MEDFS_KEY_LEN), new_key[32];
	char why[512], path[PATH_MAX + 64];
	int slot, used;

	ck_assert_ptr_nonnull(k);
	medfs_log_set(quiet);
	make_config(&c);
	/* A damaged primary: the second copy opens, and the message says so. */
	snprintf(path, sizeof(path), "%s/%s", dir, MEDFS_CONFIG_NAME);
	ck_assert_int_eq(truncate(path, 100), 0);
	ck_assert_int_eq(medfs_unlock(dir, MEDFS_SLOT_KEYFILE, path_of("key"), &got, k,
				      &slot, &used, why, sizeof(why)),
			 0);
	ck_assert_int_eq(used, 1);
	ck_assert_ptr_nonnull(strstr(why, MEDFS_CONFIG_BACKUP_NAME));
	/* Both damaged. */
	snprintf(path, sizeof(path), "%s/%s", dir, MEDFS_CONFIG_BACKUP_NAME);
	ck_assert_int_eq(truncate(path, 100), 0);
	ck_assert_int_eq(medfs_unlock(dir, MEDFS_SLOT_KEYFILE, path_of("key"), &got, k,
				      &slot, &used, why, sizeof(why)),
			 -EBADMSG);
	ck_assert_ptr_nonnull(strstr(why, "both copies"));

	/* A rotation in progress: no mount, but medfs-key may go on. */
	memset(new_key, 0x42, sizeof(new_key));
	ck_assert_int_eq(medfs_config_rekey(&c, new_key, key, MEDFS_ROTATION_REKEY), 0);
	ck_assert_int_eq(medfs_config_save(dir, &c, new_key), 0);
	ck_assert_int_eq(medfs_unlock(dir, MEDFS_SLOT_KEYFILE, path_of("key"), &got, k,
				      &slot, &used, why, sizeof(why)),
			 -EBUSY);
	ck_assert_ptr_nonnull(
		strstr(why, "vault is being rotated: run medfs-key rotate"));
	ck_assert(sodium_is_zero(k, 32));
	ck_assert_int_eq(medfs_unlock_ex(dir, MEDFS_SLOT_RECOVERY, path_of("rec"),
					 MEDFS_UNLOCK_ROTATING, &got, k, &slot, &used,
					 NULL, NULL, why, sizeof(why)),
			 0);
	ck_assert_mem_eq(k, new_key, 32);
	ck_assert_int_eq(medfs_config_rotating(&got), 1);
	medfs_secret_free(k);
}
END_TEST

/* An AES-256-GCM vault on a CPU without AES-NI: refused with a message,
 * by unlock and by the vault, before any block is touched. */
START_TEST(test_unlock_no_aesni)
{
	struct medfs_config c, got;
	struct medfs_vault *v = NULL;
	uint8_t *k = medfs_secret_alloc(MEDFS_KEY_LEN);
	char why[512];
	int slot, used;

	ck_assert_ptr_nonnull(k);
	if (!sodium_runtime_has_aesni() || !sodium_runtime_has_pclmul())
		no_aesni = 1; /* the real thing: the first half has nothing to do */
	make_config_cipher(&c, MEDFS_CIPHER_AES256GCM);
	ck_assert_int_eq(medfs_vault_create_tree(dir, key), 0);
	if (!no_aesni) {
		ck_assert_int_eq(medfs_unlock(dir, MEDFS_SLOT_KEYFILE, path_of("key"),
					      &got, k, &slot, &used, why, sizeof(why)),
				 0);
		ck_assert_uint_eq(got.cipher, MEDFS_CIPHER_AES256GCM);
		ck_assert_int_eq(medfs_vault_open(&v, dir, k), 0);
		medfs_vault_close(v);
		v = NULL;
	}

	no_aesni = 1;
	ck_assert_int_eq(medfs_block_cipher_check(MEDFS_CIPHER_AES256GCM), -ENOTSUP);
	ck_assert_uint_eq(medfs_block_cipher_default(), MEDFS_CIPHER_XCHACHA20POLY1305);
	ck_assert_int_eq(medfs_unlock(dir, MEDFS_SLOT_KEYFILE, path_of("key"), &got, k,
				      &slot, &used, why, sizeof(why)),
			 -ENOTSUP);
	ck_assert_ptr_nonnull(strstr(why, "this vault's blocks use AES-256-GCM, which "
					  "this CPU cannot run (no AES-NI)"));
	ck_assert_int_eq(slot, -1);
	ck_assert(sodium_is_zero(k, 32));
	ck_assert_int_eq(medfs_vault_open(&v, dir, key), -ENOTSUP);
	ck_assert_ptr_null(v);
	ck_assert_int_eq(medfs_vault_open_cipher(&v, dir, key, MEDFS_CIPHER_AES256GCM),
			 -ENOTSUP);
	/* Its XChaCha20-Poly1305 vaults still open. */
	make_config(&c);
	ck_assert_int_eq(medfs_unlock(dir, MEDFS_SLOT_KEYFILE, path_of("key"), &got, k,
				      &slot, &used, why, sizeof(why)),
			 0);
	ck_assert_int_eq(medfs_vault_open(&v, dir, k), 0);
	medfs_vault_close(v);
	no_aesni = 0;
	medfs_secret_free(k);
}
END_TEST

/* ---- the vault lock ---- */

START_TEST(test_lock)
{
	int m1, m2, k1, r;

	/* A vault a service user owns, locked first by root. */
	if (geteuid() == 0)
		ck_assert_int_eq(chown(dir, 4321, 4321), 0);
	/* Mounts share; a key change goes alongside them. */
	m1 = medfs_vault_lock(dir, MEDFS_LOCK_MOUNT);
	ck_assert_int_ge(m1, 0);
	m2 = medfs_vault_lock(dir, MEDFS_LOCK_MOUNT);
	ck_assert_int_ge(m2, 0);
	k1 = medfs_vault_lock(dir, MEDFS_LOCK_KEYS);
	ck_assert_int_ge(k1, 0);
	/* Not two key changes at once; no rotation while anything runs. */
	ck_assert_int_eq(medfs_vault_lock(dir, MEDFS_LOCK_KEYS), -EAGAIN);
	ck_assert_int_eq(medfs_vault_lock(dir, MEDFS_LOCK_ROTATE), -EAGAIN);
	close(k1);
	ck_assert_int_eq(medfs_vault_lock(dir, MEDFS_LOCK_ROTATE), -EBUSY);
	close(m1);
	ck_assert_int_eq(medfs_vault_lock(dir, MEDFS_LOCK_ROTATE), -EBUSY);
	close(m2);
	/* A rotation keeps everyone else out. */
	r = medfs_vault_lock(dir, MEDFS_LOCK_ROTATE);
	ck_assert_int_ge(r, 0);
	ck_assert_int_eq(medfs_vault_lock(dir, MEDFS_LOCK_MOUNT), -EAGAIN);
	ck_assert_int_eq(medfs_vault_lock(dir, MEDFS_LOCK_KEYS), -EAGAIN);
	ck_assert_int_eq(medfs_vault_lock(dir, MEDFS_LOCK_ROTATE), -EAGAIN);
	close(r);
	m1 = medfs_vault_lock(dir, MEDFS_LOCK_MOUNT);
	ck_assert_int_ge(m1, 0);
	close(m1);
	ck_assert_int_eq(medfs_vault_lock("/nonexistent-medfs", MEDFS_LOCK_MOUNT),
			 -ENOENT);
	ck_assert_int_eq(medfs_vault_lock(dir, (enum medfs_lock_mode)7), -EINVAL);
	/* The lock file belongs to the vault's owner, whoever made it. */
	{
		char p[PATH_MAX + 64];
		struct stat vst, lst;

		snprintf(p, sizeof(p), "%s/%s", dir, MEDFS_LOCK_NAME);
		ck_assert_int_eq(stat(dir, &vst), 0);
		ck_assert_int_eq(stat(p, &lst), 0);
		ck_assert_uint_eq(lst.st_uid, vst.st_uid);
		ck_assert_uint_eq(lst.st_mode & 07777, 0600);
	}
}
END_TEST

/* The lock outlives the process that took it when a forked child keeps
 * it, as the driver's does once it daemonizes. */
START_TEST(test_lock_fork)
{
	int fd, tries, p[2], q[2];
	pid_t pid;
	char c;

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(pipe(q), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int l = medfs_vault_lock(dir, MEDFS_LOCK_MOUNT);

		close(p[0]);
		close(q[1]);
		if (fork() == 0) {
			/* The grandchild holds it after its parent exits,
			 * until the test closes q. */
			(void)!write(p[1], l >= 0 ? "y" : "n", 1);
			(void)!read(q[0], &c, 1);
			_exit(0);
		}
		_exit(0);
	}
	close(p[1]);
	close(q[0]);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	ck_assert_int_eq(c, 'y');
	ck_assert_int_eq(medfs_vault_lock(dir, MEDFS_LOCK_ROTATE), -EBUSY);
	fd = medfs_vault_lock(dir, MEDFS_LOCK_KEYS);
	ck_assert_int_ge(fd, 0);
	close(fd);
	close(q[1]);
	/* Gone with the grandchild. */
	for (tries = 0; tries < 200; tries++) {
		fd = medfs_vault_lock(dir, MEDFS_LOCK_ROTATE);
		if (fd >= 0)
			break;
		usleep(10000);
	}
	ck_assert_int_ge(fd, 0);
	close(fd);
	close(p[0]);
}
END_TEST

static Suite *unlock_suite(void)
{
	Suite *s = suite_create("unlock");
	TCase *tc;

	tc = tcase_create("recovery");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_recovery_roundtrip);
	tcase_add_test(tc, test_recovery_lenient);
	tcase_add_test(tc, test_recovery_every_typo);
	tcase_add_test(tc, test_recovery_errors);
	tcase_add_test(tc, test_keyfile_parse);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_secret_read);
	tcase_add_test(tc, test_secret_read_private);
	tcase_add_test(tc, test_unlock_kinds);
	tcase_add_test(tc, test_unlock_backup_and_rotation);
	tcase_add_test(tc, test_unlock_no_aesni);
	tcase_add_test(tc, test_lock);
	tcase_add_test(tc, test_lock_fork);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(unlock_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
