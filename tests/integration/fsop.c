/* fsop: one file system call (or a short fixed scenario) for the
 * integration tests, reporting its outcome on stdout as "OK" or the errno
 * name ("EEXIST"), so shell tests can assert exact errors independent of the
 * locale and of how coreutils words them.
 *
 *   fsop open PATH FLAGS [MODE]    FLAGS: comma list of rdonly,wronly,rdwr,
 *                                  creat,excl,trunc,append,directory,nofollow,
 *                                  tmpfile
 *   fsop pread PATH FLAGS OFF LEN | pwrite PATH FLAGS OFF LEN
 *                                  opens with FLAGS, reads or writes LEN bytes
 *   fsop fallocate PATH FLAGS MODE OFF LEN
 *                                  MODE: 0, keep, punch, zero, collapse, insert
 *   fsop lseek PATH set|end|data|hole OFF
 *   fsop copy FROM TO LEN          copy_file_range from 0 to 0 (TO opened wronly)
 *   fsop mknod PATH fifo|sock|chr|blk|reg
 *   fsop statfs PATH
 *   fsop read PATH                 opens and reads the whole file
 *   fsop stat PATH                 lstat
 *   fsop access PATH MASK          access(2); MASK: f, or letters of rwx
 *   fsop chmod PATH MODE | chown PATH UID GID (-1: unchanged)
 *   fsop utimens PATH now|past     both times to now, or to 2001-01-01
 *   fsop batch FILE                one call per line of FILE, one result each
 *   fsop mkdir PATH | rmdir PATH | unlink PATH | listdir PATH
 *   fsop rename FROM TO [noreplace|exchange]
 *   fsop link FROM TO | symlink TARGET PATH | readlink PATH
 *   fsop truncate PATH SIZE | ftruncate PATH SIZE [FLAGS]
 *   fsop fsync PATH | fdatasync PATH  (of a directory too)
 *   fsop setxattr PATH NAME HEX [create|replace] | getxattr PATH NAME [SIZE]
 *   fsop removexattr PATH NAME | listxattr PATH [SIZE]
 *   fsop xattrs PATH               prints "name=hexvalue" lines (any namespace)
 *   fsop flip PATH OFFSET          xors the byte at OFFSET with 0x01
 *   fsop append2 PATH              two O_APPEND opens writing in turn
 *   fsop unlinked-open PATH        unlinks an open file, keeps using the fd
 *   fsop mkfifo PATH | mknod-chr PATH (1,3) | bind PATH (a Unix socket)
 *
 * Exit status: 0 on success, 1 when the call failed (errno name printed),
 * 2 for a usage error or a scenario whose data came back wrong. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/falloc.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

static int report(int rc)
{
	if (rc == 0) {
		puts("OK");
		return 0;
	}
	const char *n = strerrorname_np(errno);
	if (n)
		puts(n);
	else
		printf("E%d\n", errno);
	return 1;
}

/* A failed call inside a scenario: says which one, then reports its errno. */
static int failed(const char *what)
{
	int e = errno;
	fprintf(stderr, "fsop: %s failed\n", what);
	fflush(stderr);
	errno = e;
	return report(-1);
}

static int usage(void)
{
	fprintf(stderr, "fsop: bad arguments (see fsop.c)\n");
	return 2;
}

static int bad(const char *what)
{
	fprintf(stderr, "fsop: %s\n", what);
	return 2;
}

static int parse_flags(const char *s)
{
	int flags = 0;
	char *copy = strdup(s), *save = NULL, *tok;

	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "rdonly"))
			flags |= O_RDONLY;
		else if (!strcmp(tok, "wronly"))
			flags |= O_WRONLY;
		else if (!strcmp(tok, "rdwr"))
			flags |= O_RDWR;
		else if (!strcmp(tok, "creat"))
			flags |= O_CREAT;
		else if (!strcmp(tok, "excl"))
			flags |= O_EXCL;
		else if (!strcmp(tok, "trunc"))
			flags |= O_TRUNC;
		else if (!strcmp(tok, "append"))
			flags |= O_APPEND;
		else if (!strcmp(tok, "directory"))
			flags |= O_DIRECTORY;
		else if (!strcmp(tok, "nofollow"))
			flags |= O_NOFOLLOW;
		else if (!strcmp(tok, "tmpfile"))
			flags |= O_TMPFILE;
		else {
			free(copy);
			return -1;
		}
	}
	free(copy);
	return flags;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes hex into a malloc'd buffer; returns its length or -1. */
static ssize_t unhex(const char *s, unsigned char **out)
{
	size_t n = strlen(s);
	if (n % 2)
		return -1;
	unsigned char *b = malloc(n / 2 + 1);
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(b);
			return -1;
		}
		b[i] = (unsigned char)(hi << 4 | lo);
	}
	*out = b;
	return (ssize_t)(n / 2);
}

static void puthex(const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
}

static int do_read(const char *path)
{
	static char buf[1 << 16];
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return report(-1);
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0) {
			int e = errno;
			close(fd);
			errno = e;
			return report(-1);
		}
		if (r == 0)
			break;
	}
	close(fd);
	return report(0);
}

static int do_listdir(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return report(-1);
	errno = 0;
	while (readdir(d))
		;
	int e = errno;
	closedir(d);
	errno = e;
	return report(e ? -1 : 0);
}

static int do_fsync(const char *path, int data)
{
	int fd = open(path, O_RDWR);
	if (fd < 0 && errno == EISDIR) /* a directory: fsyncdir */
		fd = open(path, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return report(-1);
	int rc = data ? fdatasync(fd) : fsync(fd);
	int e = errno;
	close(fd);
	errno = e;
	return report(rc);
}

static int do_ftruncate(const char *path, off_t size, int flags)
{
	int fd = open(path, flags);
	if (fd < 0)
		return report(-1);
	int rc = ftruncate(fd, size);
	int e = errno;
	close(fd);
	errno = e;
	return report(rc);
}

/* Opens PATH with FLAGS, then reads or writes len bytes at off. */
static int do_prw(const char *path, int flags, off_t off, size_t len, int write)
{
	static char buf[1 << 16];
	if (len > sizeof(buf))
		return bad("pread/pwrite: length too large");
	int fd = open(path, flags, 0644);
	if (fd < 0)
		return report(-1);
	memset(buf, 'x', len);
	ssize_t r = write ? pwrite(fd, buf, len, off) : pread(fd, buf, len, off);
	int e = errno;
	close(fd);
	errno = e;
	return report(r < 0 ? -1 : 0);
}

static int do_fallocate(const char *path, int flags, const char *how, off_t off, off_t len)
{
	int mode;
	if (!strcmp(how, "0"))
		mode = 0;
	else if (!strcmp(how, "keep"))
		mode = FALLOC_FL_KEEP_SIZE;
	else if (!strcmp(how, "punch"))
		mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	else if (!strcmp(how, "zero"))
		mode = FALLOC_FL_ZERO_RANGE;
	else if (!strcmp(how, "collapse"))
		mode = FALLOC_FL_COLLAPSE_RANGE;
	else if (!strcmp(how, "insert"))
		mode = FALLOC_FL_INSERT_RANGE;
	else
		return usage();
	int fd = open(path, flags);
	if (fd < 0)
		return report(-1);
	int rc = fallocate(fd, mode, off, len);
	int e = errno;
	close(fd);
	errno = e;
	return report(rc);
}

static int do_lseek(const char *path, const char *whence, off_t off)
{
	int w = !strcmp(whence, "set")    ? SEEK_SET
		: !strcmp(whence, "end")  ? SEEK_END
		: !strcmp(whence, "data") ? SEEK_DATA
		: !strcmp(whence, "hole") ? SEEK_HOLE
					  : -1;
	if (w < 0)
		return usage();
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return report(-1);
	off_t r = lseek(fd, off, w);
	int e = errno;
	close(fd);
	errno = e;
	return report(r < 0 ? -1 : 0);
}

/* copy_file_range of len bytes from the start of from to the start of
 * to (which must exist). */
static int do_copy(const char *from, const char *to, size_t len)
{
	int in = open(from, O_RDONLY);
	if (in < 0)
		return report(-1);
	int out = open(to, O_WRONLY);
	if (out < 0) {
		int e = errno;
		close(in);
		errno = e;
		return report(-1);
	}
	loff_t oin = 0, oout = 0;
	ssize_t r = copy_file_range(in, &oin, out, &oout, len, 0);
	int e = errno;
	close(in);
	close(out);
	errno = e;
	return report(r < 0 ? -1 : 0);
}

static int do_mknod(const char *path, const char *type)
{
	mode_t m;
	dev_t dev = 0;
	if (!strcmp(type, "fifo"))
		m = S_IFIFO;
	else if (!strcmp(type, "sock"))
		m = S_IFSOCK;
	else if (!strcmp(type, "chr"))
		m = S_IFCHR, dev = makedev(1, 3);
	else if (!strcmp(type, "blk"))
		m = S_IFBLK, dev = makedev(7, 0);
	else if (!strcmp(type, "reg"))
		m = S_IFREG;
	else
		return usage();
	return report(mknod(path, m | 0644, dev));
}

static int do_xattrs(const char *path)
{
	char names[65536];
	unsigned char val[65536];
	ssize_t n = llistxattr(path, names, sizeof(names));
	if (n < 0)
		return report(-1);
	for (char *p = names; p < names + n; p += strlen(p) + 1) {
		ssize_t v = lgetxattr(path, p, val, sizeof(val));
		if (v < 0)
			return report(-1);
		printf("%s=", p);
		puthex(val, (size_t)v);
		putchar('\n');
	}
	return 0;
}

static int do_flip(const char *path, off_t off)
{
	unsigned char c;
	int fd = open(path, O_RDWR);
	if (fd < 0)
		return report(-1);
	if (pread(fd, &c, 1, off) != 1) {
		close(fd);
		return bad("flip: offset past the end");
	}
	c ^= 0x01;
	int rc = pwrite(fd, &c, 1, off) == 1 ? 0 : -1;
	int e = errno;
	close(fd);
	errno = e;
	return report(rc);
}

/* Reads the whole of fd from offset 0 into buf (size n); returns the count. */
static ssize_t read_all(int fd, char *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, buf + got, n - got, (off_t)got);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* Two opens with O_APPEND writing records in turn: every write must land
 * at the end as the other open left it. */
static int do_append2(const char *path)
{
	char expect[4096], got[4096 + 1];
	size_t n = 0;
	int a = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	int b = open(path, O_WRONLY | O_APPEND);
	int r = open(path, O_RDONLY);
	if (a < 0 || b < 0 || r < 0)
		return failed("open");
	for (int i = 0; i < 40; i++) {
		char rec[64];
		int len = snprintf(rec, sizeof(rec), "%c%d:%.*s\n", i % 2 ? 'B' : 'A', i,
				   i % 7 + 1, "xxxxxxx");
		if (write(i % 2 ? b : a, rec, (size_t)len) != len)
			return failed("write");
		memcpy(expect + n, rec, (size_t)len);
		n += (size_t)len;
	}
	ssize_t g = read_all(r, got, sizeof(got));
	if (g < 0)
		return failed("read");
	if ((size_t)g != n || memcmp(got, expect, n))
		return bad("append2: two O_APPEND writers overwrote each other");
	close(a);
	close(b);
	close(r);
	return report(0);
}

/* An open file that is unlinked stays usable through its descriptor. */
static int do_unlinked_open(const char *path)
{
	char buf[20000], got[20000];
	struct stat st;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return failed("open");
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7 + 3);
	if (write(fd, buf, 10000) != 10000)
		return failed("write before unlink");
	if (unlink(path) < 0)
		return failed("unlink");
	if (lstat(path, &st) == 0 || errno != ENOENT)
		return bad("unlinked-open: the name is still there after unlink");
	if (read_all(fd, got, sizeof(got)) != 10000 || memcmp(got, buf, 10000))
		return bad("unlinked-open: read back after unlink differs");
	if (pwrite(fd, buf + 10000, 10000, 10000) != 10000)
		return failed("pwrite after unlink");
	if (fstat(fd, &st) < 0)
		return failed("fstat after unlink");
	if (st.st_size != 20000)
		return bad("unlinked-open: fstat size is not 20000 after writing");
	if (read_all(fd, got, sizeof(got)) != 20000 || memcmp(got, buf, 20000))
		return bad("unlinked-open: read back of a write after unlink differs");
	if (ftruncate(fd, 5000) < 0)
		return failed("ftruncate after unlink");
	if (read_all(fd, got, sizeof(got)) != 5000 || memcmp(got, buf, 5000))
		return bad("unlinked-open: read back after ftruncate differs");
	if (close(fd) < 0)
		return failed("close after unlink");
	return report(0);
}

static int run_op(int argc, char **argv)
{
	if (argc < 3)
		return usage();
	const char *op = argv[1], *p = argv[2];
	char buf[8192];

	if (!strcmp(op, "open") && (argc == 4 || argc == 5)) {
		int flags = parse_flags(argv[3]);
		if (flags < 0)
			return usage();
		int fd = open(p, flags,
			      argc == 5 ? (mode_t)strtoul(argv[4], NULL, 8) : 0644);
		if (fd >= 0)
			close(fd);
		return report(fd < 0 ? -1 : 0);
	}
	if (!strcmp(op, "read") && argc == 3)
		return do_read(p);
	if (!strcmp(op, "access") && argc == 4) {
		int mask = 0;
		for (const char *m = argv[3]; *m; m++)
			mask |= *m == 'r'   ? R_OK
				: *m == 'w' ? W_OK
				: *m == 'x' ? X_OK
					    : 0;
		return report(access(p, mask));
	}
	if (!strcmp(op, "chmod") && argc == 4)
		return report(chmod(p, (mode_t)strtoul(argv[3], NULL, 8)));
	if (!strcmp(op, "chown") && argc == 5)
		return report(lchown(p, (uid_t)strtol(argv[3], NULL, 10),
				     (gid_t)strtol(argv[4], NULL, 10)));
	if (!strcmp(op, "utimens") && argc == 4) {
		struct timespec tv[2] = { { 978307200, 0 }, { 978307200, 0 } };
		if (!strcmp(argv[3], "now"))
			return report(utimensat(AT_FDCWD, p, NULL, AT_SYMLINK_NOFOLLOW));
		return report(utimensat(AT_FDCWD, p, tv, AT_SYMLINK_NOFOLLOW));
	}
	if (!strcmp(op, "stat") && argc == 3) {
		struct stat st;
		return report(lstat(p, &st));
	}
	if (!strcmp(op, "mkdir") && argc == 3)
		return report(mkdir(p, 0755));
	if (!strcmp(op, "mkfifo") && argc == 3)
		return report(mkfifo(p, 0644));
	if (!strcmp(op, "mknod-chr") && argc == 3)
		return report(mknod(p, S_IFCHR | 0600, makedev(1, 3)));
	if (!strcmp(op, "bind") && argc == 3) {
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		int s = socket(AF_UNIX, SOCK_STREAM, 0), r;

		if (s < 0 || strlen(p) >= sizeof(a.sun_path))
			return report(-1);
		memcpy(a.sun_path, p, strlen(p) + 1);
		r = bind(s, (struct sockaddr *)&a, sizeof(a));
		close(s);
		return report(r);
	}
	if (!strcmp(op, "rmdir") && argc == 3)
		return report(rmdir(p));
	if (!strcmp(op, "unlink") && argc == 3)
		return report(unlink(p));
	if (!strcmp(op, "listdir") && argc == 3)
		return do_listdir(p);
	if (!strcmp(op, "rename") && (argc == 4 || argc == 5)) {
		unsigned int flags = 0;
		if (argc == 5 && !strcmp(argv[4], "noreplace"))
			flags = RENAME_NOREPLACE;
		else if (argc == 5 && !strcmp(argv[4], "exchange"))
			flags = RENAME_EXCHANGE;
		else if (argc == 5)
			return usage();
		return report(renameat2(AT_FDCWD, p, AT_FDCWD, argv[3], flags));
	}
	if (!strcmp(op, "link") && argc == 4)
		return report(link(p, argv[3]));
	if (!strcmp(op, "symlink") && argc == 4)
		return report(symlink(p, argv[3]));
	if (!strcmp(op, "readlink") && argc == 3)
		return report(readlink(p, buf, sizeof(buf)) < 0 ? -1 : 0);
	if (!strcmp(op, "truncate") && argc == 4)
		return report(truncate(p, strtoll(argv[3], NULL, 0)));
	if (!strcmp(op, "ftruncate") && (argc == 4 || argc == 5)) {
		int flags = argc == 5 ? parse_flags(argv[4]) : O_RDWR;
		if (flags < 0)
			return usage();
		return do_ftruncate(p, strtoll(argv[3], NULL, 0), flags);
	}
	if ((!strcmp(op, "pread") || !strcmp(op, "pwrite")) && argc == 6) {
		int flags = parse_flags(argv[3]);
		if (flags < 0)
			return usage();
		return do_prw(p, flags, strtoll(argv[4], NULL, 0), strtoul(argv[5], NULL, 0),
			      op[1] == 'w');
	}
	if (!strcmp(op, "fallocate") && argc == 7) {
		int flags = parse_flags(argv[3]);
		if (flags < 0)
			return usage();
		return do_fallocate(p, flags, argv[4], strtoll(argv[5], NULL, 0),
				    strtoll(argv[6], NULL, 0));
	}
	if (!strcmp(op, "lseek") && argc == 5)
		return do_lseek(p, argv[3], strtoll(argv[4], NULL, 0));
	if (!strcmp(op, "copy") && argc == 5)
		return do_copy(p, argv[3], strtoul(argv[4], NULL, 0));
	if (!strcmp(op, "mknod") && argc == 4)
		return do_mknod(p, argv[3]);
	if (!strcmp(op, "statfs") && argc == 3) {
		struct statfs sf;
		return report(statfs(p, &sf));
	}
	if (!strcmp(op, "fsync") && argc == 3)
		return do_fsync(p, 0);
	if (!strcmp(op, "fdatasync") && argc == 3)
		return do_fsync(p, 1);
	if (!strcmp(op, "setxattr") && (argc == 5 || argc == 6)) {
		unsigned char *v;
		int flags = 0;
		if (argc == 6 && !strcmp(argv[5], "create"))
			flags = XATTR_CREATE;
		else if (argc == 6 && !strcmp(argv[5], "replace"))
			flags = XATTR_REPLACE;
		else if (argc == 6)
			return usage();
		ssize_t n = unhex(argv[4], &v);
		if (n < 0)
			return usage();
		int rc = setxattr(p, argv[3], v, (size_t)n, flags);
		free(v);
		return report(rc);
	}
	if (!strcmp(op, "getxattr") && (argc == 4 || argc == 5)) {
		static unsigned char v[65536];
		size_t size = argc == 5 ? strtoul(argv[4], NULL, 0) : sizeof(v);
		if (size > sizeof(v))
			return usage();
		ssize_t n = getxattr(p, argv[3], v, size);
		if (n < 0)
			return report(-1);
		return report(0);
	}
	if (!strcmp(op, "removexattr") && argc == 4)
		return report(removexattr(p, argv[3]));
	if (!strcmp(op, "listxattr") && (argc == 3 || argc == 4)) {
		static char v[65536];
		size_t size = argc == 4 ? strtoul(argv[3], NULL, 0) : sizeof(v);
		if (size > sizeof(v))
			return usage();
		return report(listxattr(p, v, size) < 0 ? -1 : 0);
	}
	if (!strcmp(op, "xattrs") && argc == 3)
		return do_xattrs(p);
	if (!strcmp(op, "flip") && argc == 4)
		return do_flip(p, strtoll(argv[3], NULL, 0));
	if (!strcmp(op, "append2") && argc == 3)
		return do_append2(p);
	if (!strcmp(op, "unlinked-open") && argc == 3)
		return do_unlinked_open(p);
	return usage();
}

/* fsop batch FILE: one call per line of FILE ("OP ARGS...", separated by
 * spaces), each reported on its own line, in one process. */
static int batch(const char *file)
{
	char line[8192], *args[10];
	FILE *f = fopen(file, "r");
	int rc = 0;

	if (!f)
		return failed("fopen");
	while (fgets(line, sizeof(line), f)) {
		int n = 1;
		char *save = NULL;

		args[0] = "fsop";
		for (char *t = strtok_r(line, " \n", &save); t && n < 9;
		     t = strtok_r(NULL, " \n", &save))
			args[n++] = t;
		args[n] = NULL;
		if (n < 2)
			continue;
		if (run_op(n, args) == 2)
			rc = 2;
		fflush(stdout);
	}
	fclose(f);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "batch"))
		return batch(argv[2]);
	return run_op(argc, argv);
}
