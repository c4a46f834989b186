/* medfs driver: the mounted marker and the settling walk (settler.h). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "medfs/log.h"
#include "medfs/settle.h"
#include "settler.h"

static struct {
	struct medfs_vault *v;
	const char *vault_dir;
	bool marked;
	bool running;
	atomic_bool stop;
	pthread_t thread;
} s;

int settler_begin(struct medfs_vault *v, const char *vault_dir)
{
	int r = medfs_mounted_mark(vault_dir);

	s.v = v;
	s.vault_dir = vault_dir;
	if (r == -EROFS || r == -EACCES)
		return 0; /* a read-only vault: nothing can grow */
	if (r < 0) {
		fprintf(stderr, "medfs: cannot write %s/%s: %s\n", vault_dir,
			MEDFS_MOUNTED_NAME, strerror(-r));
		return -1;
	}
	s.marked = true;
	if (r == 1) {
		medfs_vault_set_careful(v, true);
		medfs_log(LOG_NOTICE,
			  "the last mount of %s did not end cleanly: file sizes are read "
			  "from file headers until every file an extension left longer "
			  "is cut back",
			  vault_dir);
	}
	return 0;
}

static void *settle_main(void *arg)
{
	struct medfs_settle_stats st;
	int r;

	(void)arg;
	r = medfs_settle_walk(s.v, &s.stop, &st);
	if (r == 0)
		medfs_log(LOG_NOTICE,
			  "%s settled: %lu of %lu files cut back to the size their "
			  "header says (an extension that a crash interrupted)",
			  s.vault_dir, st.settled, st.files);
	else if (r == 1)
		medfs_log(LOG_WARNING,
			  "%s not settled: %lu files could not be looked at (%lu cut "
			  "back); sizes stay read from headers, run medfs-fsck -y",
			  s.vault_dir, st.failed, st.settled);
	else if (r != -ECANCELED)
		medfs_log(LOG_WARNING, "%s not settled: %s", s.vault_dir, strerror(-r));
	return NULL;
}

void settler_start(void)
{
	if (!s.marked || !medfs_vault_is_careful(s.v))
		return;
	if (pthread_create(&s.thread, NULL, settle_main, NULL) == 0)
		s.running = true;
	else
		medfs_log(LOG_WARNING, "cannot start settling %s: it stays careful",
			  s.vault_dir);
}

void settler_end(void)
{
	int r;

	if (s.running) {
		atomic_store(&s.stop, true);
		pthread_join(s.thread, NULL);
		s.running = false;
	}
	if (!s.marked || medfs_vault_is_careful(s.v))
		return; /* the next mount settles it */
	r = medfs_mounted_clear(s.vault_dir);
	if (r < 0)
		medfs_log(LOG_WARNING, "cannot remove %s/%s: %s", s.vault_dir,
			  MEDFS_MOUNTED_NAME, strerror(-r));
	s.marked = false;
}
