/* A libFuzzer-compatible driver without libFuzzer, so that every fuzz
 * target also runs as an ordinary test with any compiler (and under
 * valgrind or the sanitizers of -Db_sanitize).
 *
 *   fuzz-NAME [--seed N] [--max-len BYTES] CORPUS_DIR|FILE... [MUTATIONS]
 *
 * Runs LLVMFuzzerTestOneInput on every regular file of each directory (in
 * name order) and on each FILE, then on MUTATIONS (default 10000)
 * pseudo-random mutations of them: bit flips, byte changes, insertions,
 * deletions, duplicated or spliced chunks. The generator is seeded with a
 * constant (or --seed), so a run is reproducible; when an input crashes,
 * it is written to crash-standalone-SEED-N in the current directory, to be
 * replayed alone (give the file as the only argument). Each input sits in
 * a buffer of exactly its size, so that a read past its end is
 * caught by ASan or valgrind. Exits 0 when no input crashed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MUTATIONS 10000
#define DEFAULT_MAX_LEN 65536
#define FILE_MAX (1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
/* Present when built with a sanitizer: called before it exits on an error. */
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

struct input {
	uint8_t *data;
	size_t len;
	char *name; /* the file it came from */
};

static struct input *inputs;
static size_t ninputs, cap_inputs;
static uint64_t seed = 0x6d65646673667a7aULL; /* "medfsfzz" */
static uint64_t rng_state;
static const char *prog;

/* The mutation being run, for the crash handlers. */
static const uint8_t *current;
static const char *current_name;
static size_t current_len;
static unsigned long current_n;
static int mutating;

/* splitmix64: small, fast and the same everywhere. */
static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t below(size_t n)
{
	return n == 0 ? 0 : (size_t)(rng() % n);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL) {
		fprintf(stderr, "%s: out of memory\n", prog);
		exit(2);
	}
	return p;
}

static int add_file(const char *path)
{
	struct input in = { NULL, 0, NULL };
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
		return -1;
	}
	in.data = xrealloc(NULL, FILE_MAX);
	while ((r = read(fd, in.data + in.len, FILE_MAX - in.len)) > 0)
		in.len += (size_t)r;
	close(fd);
	if (r < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
		free(in.data);
		return -1;
	}
	in.data = xrealloc(in.data, in.len);
	in.name = strdup(path);
	if (in.name == NULL) {
		fprintf(stderr, "%s: out of memory\n", prog);
		exit(2);
	}
	if (ninputs == cap_inputs) {
		cap_inputs = cap_inputs ? 2 * cap_inputs : 64;
		inputs = xrealloc(inputs, cap_inputs * sizeof(*inputs));
	}
	inputs[ninputs++] = in;
	return 0;
}

static int add_dir(const char *dir)
{
	struct dirent **names;
	char path[4096];
	struct stat st;
	int i, n, ret = 0;

	n = scandir(dir, &names, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, dir, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (ret == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode))
			ret = add_file(path);
		free(names[i]);
	}
	free(names);
	return ret;
}

/* Runs one input from a buffer of exactly its size. */
static void run(const uint8_t *data, size_t len)
{
	uint8_t *copy = xrealloc(NULL, len);

	memcpy(copy, data, len);
	current = copy;
	current_len = len;
	LLVMFuzzerTestOneInput(copy, len);
	current = NULL;
	free(copy);
}

/* Writes the crashing mutation out with async-signal-safe calls only. */
static void dump_current(void)
{
	char name[80], digits[24];
	size_t n = 0, d;
	uint64_t v;
	int fd, k;

	if (current == NULL)
		return;
	if (!mutating) {
		if (write(2, "crash on ", 9) > 0 &&
		    write(2, current_name, strlen(current_name)) > 0)
			(void)!write(2, "\n", 1);
		return;
	}
	memcpy(name, "crash-standalone-", 17);
	n = 17;
	for (k = 0; k < 2; k++) {
		v = k == 0 ? seed : current_n;
		d = 0;
		do {
			digits[d++] = (char)('0' + v % 10);
			v /= 10;
		} while (v != 0);
		while (d > 0)
			name[n++] = digits[--d];
		name[n++] = k == 0 ? '-' : '\0';
	}
	fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, current, current_len) >= 0 &&
	    write(2, "crash input saved as ", 21) > 0 && write(2, name, n - 1) > 0)
		(void)!write(2, "\n", 1);
	close(fd);
}

static void on_signal(int sig)
{
	dump_current();
	signal(sig, SIG_DFL);
	raise(sig);
}

static const uint8_t interesting[] = {
	0x00, 0x01, 0x7f, 0x80, 0xff, '\n', '\r', '\t', ' ', '"', '\\', '/',
	'*',  '#',  ':',  ',',	'.',  '0',  '9',  'a',	'=', '~', 0xc3, 0xa9,
};

/* Applies one to four random edits to buf (len bytes, room for max). */
static size_t mutate(uint8_t *buf, size_t len, size_t max)
{
	size_t i, n = 1 + below(4), pos, cnt, from;
	const struct input *other;

	for (i = 0; i < n; i++) {
		pos = below(len + 1);
		switch (below(8)) {
		case 0: /* flip a bit */
			if (len)
				buf[below(len)] ^= (uint8_t)(1u << below(8));
			break;
		case 1: /* random byte */
			if (len)
				buf[below(len)] = (uint8_t)rng();
			break;
		case 2: /* interesting byte */
			if (len)
				buf[below(len)] = interesting[below(sizeof(interesting))];
			break;
		case 3: /* insert bytes */
			cnt = 1 + below(8);
			if (len + cnt > max)
				break;
			memmove(buf + pos + cnt, buf + pos, len - pos);
			for (from = 0; from < cnt; from++)
				buf[pos + from] =
					below(2) ? interesting[below(sizeof(interesting))]
						 : (uint8_t)rng();
			len += cnt;
			break;
		case 4: /* delete a run */
			if (pos == len)
				break;
			cnt = 1 + below(len - pos < 16 ? len - pos : 16);
			memmove(buf + pos, buf + pos + cnt, len - pos - cnt);
			len -= cnt;
			break;
		case 5: /* duplicate a chunk of itself */
			if (len == 0)
				break;
			from = below(len);
			cnt = 1 + below(len - from < 64 ? len - from : 64);
			if (len + cnt > max)
				break;
			memmove(buf + pos + cnt, buf + pos, len - pos);
			memmove(buf + pos, buf + (from < pos ? from : from + cnt), cnt);
			len += cnt;
			break;
		case 6: /* splice in a chunk of another input */
			other = &inputs[below(ninputs)];
			if (other->len == 0)
				break;
			from = below(other->len);
			cnt = 1 +
			      below(other->len - from < 128 ? other->len - from : 128);
			if (len + cnt > max)
				break;
			memmove(buf + pos + cnt, buf + pos, len - pos);
			memcpy(buf + pos, other->data + from, cnt);
			len += cnt;
			break;
		default: /* truncate */
			len = pos;
			break;
		}
	}
	return len;
}

static void usage(void)
{
	fprintf(stderr,
		"Usage: %s [--seed N] [--max-len BYTES] CORPUS_DIR|FILE... [MUTATIONS]\n",
		prog);
}

static int parse_count(const char *s, unsigned long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno == 0 && *end == '\0' ? 0 : -1;
}

int main(int argc, char *argv[])
{
	static const int sigs[] = { SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL };
	unsigned long mutations = DEFAULT_MUTATIONS, i, v;
	size_t max = DEFAULT_MAX_LEN, len;
	struct timespec t0, t1;
	struct stat st;
	uint8_t *buf;
	int a;

	prog = argv[0];
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--seed") == 0 && a + 1 < argc &&
		    parse_count(argv[a + 1], &v) == 0) {
			seed = v;
			a++;
		} else if (strcmp(argv[a], "--max-len") == 0 && a + 1 < argc &&
			   parse_count(argv[a + 1], &v) == 0 && v > 0) {
			max = v;
			a++;
		} else if (stat(argv[a], &st) == 0) {
			if ((S_ISDIR(st.st_mode) ? add_dir(argv[a]) : add_file(argv[a])) <
			    0)
				return 2;
		} else if (a == argc - 1 && parse_count(argv[a], &mutations) == 0) {
			break;
		} else {
			fprintf(stderr, "%s: %s: %s\n", prog, argv[a], strerror(ENOENT));
			usage();
			return 2;
		}
	}
	if (ninputs == 0) {
		usage();
		return 2;
	}
	rng_state = seed;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], on_signal);
	if (__sanitizer_set_death_callback != NULL)
		__sanitizer_set_death_callback(dump_current);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < ninputs; i++) {
		current_name = inputs[i].name;
		run(inputs[i].data, inputs[i].len);
	}
	buf = xrealloc(NULL, max);
	mutating = 1;
	for (i = 0; i < mutations; i++) {
		const struct input *base = &inputs[below(ninputs)];

		len = base->len < max ? base->len : max;
		memcpy(buf, base->data, len);
		len = mutate(buf, len, max);
		current_n = i;
		run(buf, len);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%s: %zu inputs and %lu mutations in %.2f s, no crash\n", prog, ninputs,
	       mutations,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	free(buf);
	for (i = 0; i < ninputs; i++) {
		free(inputs[i].data);
		free(inputs[i].name);
	}
	free(inputs);
	return 0;
}
