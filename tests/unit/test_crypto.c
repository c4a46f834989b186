/* Unit tests: key derivation, secret memory, core dumps, logging. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "kat.h"
#include "medfs/crypto.h"
#include "medfs/log.h"

START_TEST(test_init_twice)
{
	ck_assert_int_eq(medfs_crypto_init(), 0);
	ck_assert_int_eq(medfs_crypto_init(), 0);
}
END_TEST

START_TEST(test_subkey_kat)
{
	uint8_t vk[MEDFS_KEY_LEN], sk[MEDFS_KEY_LEN];
	char hex[2 * MEDFS_KEY_LEN + 1];

	kat_fill(vk, sizeof(vk), KAT_VAULT_KEY_BASE);
	for (int id = MEDFS_SUBKEY_HEADER; id <= MEDFS_SUBKEY_JOURNAL; id++) {
		ck_assert_int_eq(medfs_subkey_derive(sk, (enum medfs_subkey)id, vk), 0);
		kat_hex(hex, sk, sizeof(sk));
		ck_assert_msg(strcmp(hex, kat_subkey_hex[id]) == 0, "subkey %d: got %s",
			      id, hex);
	}
}
END_TEST

START_TEST(test_subkey_distinct)
{
	uint8_t vk[MEDFS_KEY_LEN], other[MEDFS_KEY_LEN];
	uint8_t sk[9][MEDFS_KEY_LEN], sk2[MEDFS_KEY_LEN];

	kat_fill(vk, sizeof(vk), 0);
	memcpy(other, vk, sizeof(vk));
	other[31] ^= 1;
	for (int id = 1; id <= 8; id++) {
		ck_assert_int_eq(medfs_subkey_derive(sk[id], (enum medfs_subkey)id, vk),
				 0);
		ck_assert(memcmp(sk[id], vk, MEDFS_KEY_LEN) != 0);
		for (int j = 1; j < id; j++)
			ck_assert(memcmp(sk[id], sk[j], MEDFS_KEY_LEN) != 0);
		/* A different vault key gives a different subkey. */
		ck_assert_int_eq(medfs_subkey_derive(sk2, (enum medfs_subkey)id, other),
				 0);
		ck_assert(memcmp(sk[id], sk2, MEDFS_KEY_LEN) != 0);
		/* Deterministic. */
		ck_assert_int_eq(medfs_subkey_derive(sk2, (enum medfs_subkey)id, vk), 0);
		ck_assert_mem_eq(sk[id], sk2, MEDFS_KEY_LEN);
	}
}
END_TEST

START_TEST(test_subkey_invalid_id)
{
	uint8_t vk[MEDFS_KEY_LEN] = { 0 }, sk[MEDFS_KEY_LEN];

	ck_assert_int_eq(medfs_subkey_derive(sk, (enum medfs_subkey)0, vk), -EINVAL);
	ck_assert_int_eq(medfs_subkey_derive(sk, (enum medfs_subkey)10, vk), -EINVAL);
	ck_assert_int_eq(medfs_subkey_derive(sk, (enum medfs_subkey) - 1, vk), -EINVAL);
}
END_TEST

START_TEST(test_secret_alloc)
{
	uint8_t *p = medfs_secret_alloc(100);

	ck_assert_ptr_nonnull(p);
	memset(p, 0x5a, 100);
	ck_assert_int_eq(p[99], 0x5a);
	medfs_secret_free(p);
	medfs_secret_free(NULL);
}
END_TEST

START_TEST(test_disable_core_dumps)
{
	struct rlimit rl;

	ck_assert_int_eq(medfs_disable_core_dumps(), 0);
	ck_assert_int_eq(getrlimit(RLIMIT_CORE, &rl), 0);
	ck_assert_uint_eq(rl.rlim_cur, 0);
	ck_assert_uint_eq(rl.rlim_max, 0);
	ck_assert_int_eq(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
	/* Idempotent. */
	ck_assert_int_eq(medfs_disable_core_dumps(), 0);
}
END_TEST

static int seen_priority;
static char seen_msg[2048];
static int seen_count;

static void capture(int priority, const char *msg)
{
	seen_priority = priority;
	snprintf(seen_msg, sizeof(seen_msg), "%s", msg);
	__atomic_add_fetch(&seen_count, 1, __ATOMIC_RELAXED);
	errno = EIO; /* a sink may clobber errno */
}

START_TEST(test_log_sink)
{
	seen_count = 0;
	medfs_log_set(capture);
	errno = ENOSPC;
	medfs_log(LOG_WARNING, "block %d of %s: %s", 7, "tree/x", "bad tag");
	ck_assert_int_eq(errno, ENOSPC); /* logging keeps errno */
	ck_assert_int_eq(seen_priority, LOG_WARNING);
	ck_assert_str_eq(seen_msg, "block 7 of tree/x: bad tag");
	ck_assert_int_eq(seen_count, 1);
	medfs_log_set(NULL);
}
END_TEST

START_TEST(test_log_truncates)
{
	char big[3000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	medfs_log_set(capture);
	medfs_log(LOG_ERR, "%s", big);
	ck_assert_uint_lt(strlen(seen_msg), sizeof(big) - 1);
	ck_assert_uint_gt(strlen(seen_msg), 500);
	ck_assert(strspn(seen_msg, "x") == strlen(seen_msg));
	medfs_log_set(NULL);
}
END_TEST

START_TEST(test_log_default_stderr)
{
	char buf[128] = { 0 };
	FILE *tmp = tmpfile();
	int saved;
	ssize_t n;

	ck_assert_ptr_nonnull(tmp);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_ge(dup2(fileno(tmp), STDERR_FILENO), 0);
	medfs_log_set(capture);
	medfs_log_set(NULL); /* back to the default */
	medfs_log(LOG_INFO, "mounted %s", "VAULT");
	fflush(stderr);
	ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
	close(saved);
	n = pread(fileno(tmp), buf, sizeof(buf) - 1, 0);
	fclose(tmp);
	ck_assert_int_eq(n, (ssize_t)strlen("medfs: mounted VAULT\n"));
	ck_assert_str_eq(buf, "medfs: mounted VAULT\n");
}
END_TEST

/* ---- secret files ---- */

START_TEST(test_secret_file_check)
{
	char path[] = "/tmp/medfs-test-secret-XXXXXX", why[512] = "untouched";
	static const mode_t shared[] = { 0640, 0604, 0620, 0602, 0610, 0601, 0644, 0666 };
	int fd, p[2];

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fchmod(fd, 0600), 0);
	ck_assert_int_eq(medfs_secret_file_check(fd), 0);
	ck_assert_int_eq(medfs_secret_file_why(path, why, sizeof(why)), 0);
	ck_assert_str_eq(why, "untouched");
	ck_assert_int_eq(fchmod(fd, 0400), 0);
	ck_assert_int_eq(medfs_secret_file_check(fd), 0);
	/* Any permission of group or others, as ssh. */
	for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++) {
		char fix[600];

		ck_assert_int_eq(fchmod(fd, shared[i]), 0);
		ck_assert_int_eq(medfs_secret_file_check(fd), -EPERM);
		ck_assert_int_eq(medfs_secret_file_why(path, why, sizeof(why)), 1);
		snprintf(fix, sizeof(fix), "chmod 600 %s", path);
		ck_assert_ptr_nonnull(strstr(why, fix));
		snprintf(fix, sizeof(fix), "(mode %04o)", (unsigned int)shared[i]);
		ck_assert_ptr_nonnull(strstr(why, fix));
	}
	ck_assert_int_eq(fchmod(fd, 0600), 0);
	/* Another user's file (root may hand a file to anyone). */
	if (geteuid() == 0) {
		ck_assert_int_eq(fchown(fd, 4242, 4242), 0);
		ck_assert_int_eq(medfs_secret_file_check(fd), -EPERM);
		ck_assert_int_eq(medfs_secret_file_why(path, why, sizeof(why)), 1);
		ck_assert_ptr_nonnull(strstr(why, "another user (uid 4242)"));
		ck_assert_ptr_nonnull(strstr(why, "chown 0"));
		ck_assert_int_eq(fchown(fd, 0, 0), 0);
		ck_assert_int_eq(medfs_secret_file_check(fd), 0);
	}
	close(fd);
	unlink(path);
	ck_assert_int_eq(medfs_secret_file_why(path, why, sizeof(why)), 0);
	/* A pipe stores nothing. */
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(medfs_secret_file_check(p[0]), 0);
	close(p[0]);
	close(p[1]);
	ck_assert_int_eq(medfs_secret_file_check(-1), -EBADF);
}
END_TEST

#define LOG_THREADS 8
#define LOG_PER_THREAD 500

static void count_only(int priority, const char *msg)
{
	(void)priority;
	if (strcmp(msg, "thread message 42") == 0)
		__atomic_add_fetch(&seen_count, 1, __ATOMIC_RELAXED);
}

static void *log_worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < LOG_PER_THREAD; i++)
		medfs_log(LOG_DEBUG, "thread message %d", 42);
	return NULL;
}

START_TEST(test_log_threads)
{
	pthread_t t[LOG_THREADS];

	seen_count = 0;
	medfs_log_set(count_only);
	for (int i = 0; i < LOG_THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, log_worker, NULL), 0);
	for (int i = 0; i < LOG_THREADS; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	ck_assert_int_eq(__atomic_load_n(&seen_count, __ATOMIC_RELAXED),
			 LOG_THREADS * LOG_PER_THREAD);
	medfs_log_set(NULL);
}
END_TEST

static Suite *crypto_suite(void)
{
	Suite *s = suite_create("crypto");
	TCase *tc;

	tc = tcase_create("subkeys");
	tcase_add_test(tc, test_init_twice);
	tcase_add_test(tc, test_subkey_kat);
	tcase_add_test(tc, test_subkey_distinct);
	tcase_add_test(tc, test_subkey_invalid_id);
	suite_add_tcase(s, tc);

	tc = tcase_create("memory");
	tcase_add_test(tc, test_secret_alloc);
	tcase_add_test(tc, test_disable_core_dumps);
	tcase_add_test(tc, test_secret_file_check);
	suite_add_tcase(s, tc);

	tc = tcase_create("log");
	tcase_add_test(tc, test_log_sink);
	tcase_add_test(tc, test_log_truncates);
	tcase_add_test(tc, test_log_default_stderr);
	tcase_add_test(tc, test_log_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (medfs_crypto_init() != 0)
		return EXIT_FAILURE;
	sr = srunner_create(crypto_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
