/* medfs: the access policy language, parsed and evaluated.
 *
 * The text is read one line at a time, each line holding at most one
 * directive. Every rule is compiled into an array of path segments, so a
 * decision is a scan over the rules that allocates nothing: a pattern runs
 * over the path's segments as a small NFA, one bit per pattern position,
 * which answers in the same pass whether the pattern matches the path and
 * whether it could match something below it (the traversal rule).
 *
 * Messages never quote patterns or program paths (they may name patients);
 * keywords, rights and subject names are quoted, cut to ECHO_MAX bytes. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "medfs/policy.h"

#define MAX_ERRORS 100
#define MAX_WARNINGS 100
#define TOKEN_MAX 4096 /* longest token, so longest pattern (PATH_MAX) */
#define SEGS_MAX 63    /* pattern positions 0..63 fit in one uint64_t */
#define DURATION_DEFAULT 3600
#define DURATION_MAX (24 * 3600)
#define ID_MAX 4294967294UL /* (uid_t)-1 names nobody */
#define ECHO_MAX 32
#define ANALYSIS_MAX 4096 /* rules compared pairwise for warnings */

#define RIGHTS_HELP "list, read, write, create, delete, setattr, all"
#define SUBJECT_HELP "user:NAME, user:UID, group:NAME, group:GID or everyone"

_Static_assert(MEDFS_RIGHT_ALL ==
		       (MEDFS_RIGHT_LIST | MEDFS_RIGHT_READ | MEDFS_RIGHT_WRITE |
			MEDFS_RIGHT_CREATE | MEDFS_RIGHT_DELETE | MEDFS_RIGHT_SETATTR),
	       "MEDFS_RIGHT_ALL");

enum seg_kind {
	SEG_LITERAL, /* no '*' */
	SEG_GLOB,    /* holds '*' */
	SEG_ANY,     /* exactly "*" */
	SEG_DEEP,    /* exactly "**": zero or more segments */
};

struct seg {
	const char *s;
	uint32_t len;
	uint8_t kind;
};

enum subject_kind {
	SUBJ_USER,
	SUBJ_GROUP,
	SUBJ_EVERYONE,
};

struct rule {
	unsigned line, column;
	bool deny, emergency;
	uint8_t subject;
	unsigned long id;
	unsigned rights;
	char *program; /* NULL: any program */
	char *pattern; /* unescaped text; segs point into it */
	struct seg *segs;
	unsigned nsegs;
};

struct medfs_policy {
	struct rule *rules;
	size_t nrules;
	unsigned emergency_seconds;
	uint8_t digest[32];
};

static const struct {
	const char *name;
	unsigned right;
} right_names[] = {
	{ "list", MEDFS_RIGHT_LIST },	  { "read", MEDFS_RIGHT_READ },
	{ "write", MEDFS_RIGHT_WRITE },	  { "create", MEDFS_RIGHT_CREATE },
	{ "delete", MEDFS_RIGHT_DELETE }, { "setattr", MEDFS_RIGHT_SETATTR },
};
#define NRIGHTS (sizeof(right_names) / sizeof(right_names[0]))

const char *medfs_right_name(unsigned right)
{
	size_t i;

	for (i = 0; i < NRIGHTS; i++)
		if (right_names[i].right == right)
			return right_names[i].name;
	return "?";
}

unsigned medfs_right_from_name(const char *name)
{
	size_t i;

	if (name == NULL)
		return 0;
	for (i = 0; i < NRIGHTS; i++)
		if (strcmp(right_names[i].name, name) == 0)
			return right_names[i].right;
	return 0;
}

/* ---- Matching ---- */

/* Matches a glob ('*' = any run of bytes) against one path segment: the
 * linear algorithm with a single backtrack point. */
static bool glob_match(const char *p, size_t plen, const char *s, size_t slen)
{
	size_t pi = 0, si = 0, star = SIZE_MAX, mark = 0;

	while (si < slen) {
		if (pi < plen && p[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (pi < plen && p[pi] == s[si]) {
			pi++;
			si++;
		} else if (star != SIZE_MAX) {
			pi = star + 1;
			si = ++mark;
		} else {
			return false;
		}
	}
	while (pi < plen && p[pi] == '*')
		pi++;
	return pi == plen;
}

/* One pattern segment (not "**") against one path segment. */
static bool seg_match(const struct seg *g, const char *s, size_t len)
{
	switch (g->kind) {
	case SEG_ANY:
		return true;
	case SEG_LITERAL:
		return g->len == len && memcmp(g->s, s, len) == 0;
	default:
		return glob_match(g->s, g->len, s, len);
	}
}

/* Adds the positions reachable without consuming a segment: past each
 * "**" (it may match zero segments). Positions only move forward, so one
 * ascending sweep is enough. */
static uint64_t closure(const struct rule *r, uint64_t set)
{
	unsigned i;

	for (i = 0; i < r->nsegs; i++)
		if ((set >> i & 1) && r->segs[i].kind == SEG_DEEP)
			set |= 1ULL << (i + 1);
	return set;
}

#define MATCH_FULL 1  /* the pattern matches the path */
#define MATCH_BELOW 2 /* it could match a path below it */

/* Runs r's pattern over a valid path (see path_valid): the pattern
 * positions it reaches, closed over "**". The set says everything the
 * pattern can still match below the path: two paths that reach the same
 * set are matched alike, with any suffix. */
static uint64_t pattern_state(const struct rule *r, const char *path)
{
	uint64_t set = closure(r, 1), bits, next;
	const char *s = path + 1, *e;
	unsigned i;

	while (*s != '\0') {
		e = strchrnul(s, '/');
		next = 0;
		for (bits = set; bits != 0; bits &= bits - 1) {
			i = (unsigned)__builtin_ctzll(bits);
			if (i == r->nsegs)
				continue;
			if (r->segs[i].kind == SEG_DEEP)
				next |= 1ULL << i;
			else if (seg_match(&r->segs[i], s, (size_t)(e - s)))
				next |= 1ULL << (i + 1);
		}
		set = closure(r, next);
		if (set == 0)
			return 0;
		s = *e != '\0' ? e + 1 : e;
	}
	return set;
}

static unsigned pattern_match(const struct rule *r, const char *path)
{
	uint64_t set = pattern_state(r, path);
	unsigned res = 0;

	if (set >> r->nsegs & 1)
		res |= MATCH_FULL;
	if (set & ((1ULL << r->nsegs) - 1))
		res |= MATCH_BELOW;
	return res;
}

/* "/" or "/a/b": no empty, "." or ".." segments, no trailing '/'. Anything
 * else is denied rather than guessed at. */
static bool path_valid(const char *path)
{
	const char *s, *e;
	size_t len;

	if (path == NULL || path[0] != '/')
		return false;
	if (path[1] == '\0')
		return true;
	for (s = path + 1;; s = e + 1) {
		e = strchrnul(s, '/');
		len = (size_t)(e - s);
		if (len == 0 || (len == 1 && s[0] == '.') ||
		    (len == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		if (*e == '\0')
			return true;
	}
}

static bool subject_match(const struct rule *r, const struct medfs_subject *s)
{
	size_t i;

	switch (r->subject) {
	case SUBJ_EVERYONE:
		return true;
	case SUBJ_USER:
		return (unsigned long)s->uid == r->id;
	default:
		if ((unsigned long)s->gid == r->id)
			return true;
		for (i = 0; i < s->ngroups; i++)
			if ((unsigned long)s->groups[i] == r->id)
				return true;
		return false;
	}
}

static bool program_match(const struct rule *r, const struct medfs_subject *s)
{
	return r->program == NULL ||
	       (s->program != NULL && strcmp(r->program, s->program) == 0);
}

void medfs_policy_decide(const struct medfs_policy *p, const struct medfs_subject *s,
			 const char *path, unsigned right, struct medfs_decision *d)
{
	const struct rule *allow = NULL, *eallow = NULL, *r;
	unsigned m;
	size_t i;

	d->allowed = 0;
	d->line = 0;
	d->emergency = 0;
	if (p == NULL || s == NULL || right == 0 || (right & (right - 1)) != 0 ||
	    (right & ~MEDFS_RIGHT_ALL) != 0 || !path_valid(path))
		return;

	for (i = 0; i < p->nrules; i++) {
		r = &p->rules[i];
		if (r->emergency && !s->emergency)
			continue;
		if (r->deny) {
			if (!(r->rights & right))
				continue;
		} else {
			/* Once an ordinary allow is found only denies matter. */
			if (allow != NULL || (r->emergency && eallow != NULL))
				continue;
			if (!(r->rights & right) && right != MEDFS_RIGHT_LIST)
				continue;
		}
		if (!subject_match(r, s) || !program_match(r, s))
			continue;
		m = pattern_match(r, path);
		if (r->deny) {
			if (m & MATCH_FULL) {
				d->line = r->line;
				return;
			}
			continue;
		}
		if (((m & MATCH_FULL) && (r->rights & right)) ||
		    (right == MEDFS_RIGHT_LIST && (m & MATCH_BELOW))) {
			if (r->emergency)
				eallow = r;
			else
				allow = r;
		}
	}
	if (allow != NULL) {
		d->allowed = 1;
		d->line = allow->line;
	} else if (eallow != NULL) {
		d->allowed = 1;
		d->line = eallow->line;
		d->emergency = 1;
	}
}

/* Whether the set of positions reached (pattern_state) holds one from
 * which only "**" remain: the pattern then matches every path at and
 * below the path that reached it. */
static bool state_matches_all(const struct rule *r, uint64_t set)
{
	unsigned i, j;

	for (i = 0; i < r->nsegs; i++) {
		if (!(set >> i & 1))
			continue;
		for (j = i; j < r->nsegs && r->segs[j].kind == SEG_DEEP; j++)
			;
		if (j == r->nsegs)
			return true;
	}
	return false;
}

/* Whether s holds every one of rights on path and on everything below it,
 * whatever is there: for each right an allow rule for s matching all of
 * it, and no deny rule for s that could match any of it. Sets d (allowed,
 * line of the last right's rule, emergency) when it does. */
static bool subtree_granted(const struct medfs_policy *p, const struct medfs_subject *s,
			    const char *path, unsigned rights, struct medfs_decision *d)
{
	unsigned found = 0, emergency_only = 0;
	const struct rule *r;
	size_t i;

	for (i = 0; i < p->nrules; i++) {
		uint64_t set;

		r = &p->rules[i];
		if (!(r->rights & rights) || (r->emergency && !s->emergency) ||
		    !subject_match(r, s) || !program_match(r, s))
			continue;
		set = pattern_state(r, path);
		if (r->deny) {
			if (set != 0)
				return false;
			continue;
		}
		if (!state_matches_all(r, set))
			continue;
		for (unsigned b = 1; b <= MEDFS_RIGHT_ALL; b <<= 1) {
			if (!(r->rights & rights & b) ||
			    (found & b && !(emergency_only & b)))
				continue;
			if (r->emergency)
				emergency_only |= b;
			else
				emergency_only &= ~b;
			found |= b;
		}
		d->line = r->line;
	}
	if ((found & rights) != rights)
		return false;
	d->allowed = 1;
	d->emergency = (emergency_only & rights) != 0;
	return true;
}

void medfs_policy_decide_move(const struct medfs_policy *p, const struct medfs_subject *s,
			      const char *from, int from_dir, const char *to,
			      struct medfs_decision *d)
{
	unsigned differs = 0;
	size_t i;

	d->allowed = 0;
	d->line = 0;
	d->emergency = 0;
	if (p == NULL || s == NULL || !path_valid(from) || !path_valid(to) ||
	    strcmp(from, "/") == 0 || strcmp(to, "/") == 0)
		return;
	/* Every rule, whoever it names: the rename changes what everybody
	 * may do there, not only the caller. */
	for (i = 0; i < p->nrules && differs == 0; i++)
		if (pattern_state(&p->rules[i], from) != pattern_state(&p->rules[i], to))
			differs = p->rules[i].line;
	if (differs == 0) {
		d->allowed = 1;
		return;
	}
	/* What is not a directory could be copied to to and deleted by a
	 * caller who may read it (delete the rename asks anyway): the rename
	 * enables nothing more. A directory likewise, by a caller who may
	 * list, read and delete everything at and below it. */
	if (!from_dir) {
		medfs_policy_decide(p, s, from, MEDFS_RIGHT_READ, d);
		if (d->allowed)
			return;
	} else if (subtree_granted(
			   p, s, from,
			   MEDFS_RIGHT_LIST | MEDFS_RIGHT_READ | MEDFS_RIGHT_DELETE, d)) {
		return;
	}
	d->allowed = 0;
	d->line = differs;
	d->emergency = 0;
}

int medfs_policy_emergency_eligible(const struct medfs_policy *p,
				    const struct medfs_subject *s)
{
	size_t i;

	if (p == NULL || s == NULL)
		return 0;
	for (i = 0; i < p->nrules; i++)
		if (p->rules[i].emergency && subject_match(&p->rules[i], s))
			return 1;
	return 0;
}

int medfs_policy_names_program(const struct medfs_policy *p)
{
	for (size_t i = 0; p != NULL && i < p->nrules; i++)
		if (p->rules[i].program != NULL)
			return 1;
	return 0;
}

int medfs_policy_rule_program(const struct medfs_policy *p, size_t i, const char **program,
			      unsigned *line, unsigned *column)
{
	if (p == NULL || i >= p->nrules)
		return -ENOENT;
	*program = p->rules[i].program;
	*line = p->rules[i].line;
	*column = p->rules[i].column;
	return 0;
}

unsigned medfs_policy_emergency_seconds(const struct medfs_policy *p)
{
	return p != NULL ? p->emergency_seconds : DURATION_DEFAULT;
}

void medfs_policy_digest(const struct medfs_policy *p, uint8_t out[32])
{
	memcpy(out, p->digest, sizeof(p->digest));
}

static void rule_free(struct rule *r)
{
	free(r->program);
	free(r->segs); /* the pattern text lives in the same block */
	r->program = NULL;
	r->segs = NULL;
	r->pattern = NULL;
}

void medfs_policy_free(struct medfs_policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nrules; i++)
		rule_free(&p->rules[i]);
	free(p->rules);
	free(p);
}

/* ---- Lexer ---- */

enum tok_type {
	TOK_WORD,
	TOK_EOL,   /* end of line, end of text or the start of a comment */
	TOK_ERROR, /* already reported */
};

struct token {
	enum tok_type type;
	unsigned line, column;
	const char *raw; /* in the source, with the quotes of a quoted token */
	bool quoted;
	size_t len; /* of text */
	const char *text;
};

struct parser {
	const char *p, *end, *line_start;
	unsigned line;
	medfs_policy_resolve_fn resolve;
	void *resolve_ctx;
	medfs_policy_diag_fn diag;
	void *diag_ctx;
	unsigned nerrors, nwarnings;
	bool stop; /* too many errors, or out of memory */
	bool nomem;
	bool seen_directive;
	unsigned duration_line;
	struct medfs_policy *pol;
	size_t rules_cap;
	char buf[TOKEN_MAX + 1]; /* text of the current token */
};

static void report(struct parser *ps, bool warning, unsigned line, unsigned column,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void report(struct parser *ps, bool warning, unsigned line, unsigned column,
		   const char *fmt, ...)
{
	struct medfs_policy_diag d;
	va_list ap;

	if (ps->stop)
		return;
	if (warning) {
		if (ps->nwarnings > MAX_WARNINGS)
			return;
		if (ps->nwarnings++ == MAX_WARNINGS)
			fmt = "too many warnings; not showing more";
	} else if (ps->nerrors++ == MAX_ERRORS) {
		ps->stop = true;
		fmt = "too many errors; stopping here";
	}
	memset(&d, 0, sizeof(d));
	d.line = line;
	d.column = column;
	d.warning = warning;
	va_start(ap, fmt);
	vsnprintf(d.message, sizeof(d.message), fmt, ap);
	va_end(ap);
	if (ps->diag != NULL)
		ps->diag(ps->diag_ctx, &d);
}

/* Columns count characters (UTF-8 continuation bytes do not start one); a
 * tab is one column. */
static unsigned column_of(const struct parser *ps, const char *ptr)
{
	const char *q;
	unsigned col = 1;

	for (q = ps->line_start; q < ptr; q++)
		if (((unsigned char)*q & 0xc0) != 0x80)
			col++;
	return col;
}

static void error_at(struct parser *ps, const char *ptr, const char *msg)
{
	report(ps, false, ps->line, column_of(ps, ptr), "%s", msg);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static bool is_control(char c)
{
	return ((unsigned char)c < 0x20 && c != '\t') || c == 0x7f;
}

static enum tok_type lex_quoted(struct parser *ps, struct token *t)
{
	const char *q = t->raw + 1;
	size_t n = 0;

	for (;;) {
		if (q == ps->end || *q == '\n') {
			error_at(ps, t->raw,
				 "unterminated quoted text: expected a closing '\"' "
				 "on the same line");
			return TOK_ERROR;
		}
		if (*q == '"')
			break;
		if (*q == '\\') {
			if (q + 1 == ps->end || (q[1] != '"' && q[1] != '\\')) {
				error_at(ps, q,
					 "unknown escape in quoted text: only \\\" and "
					 "\\\\ are allowed");
				return TOK_ERROR;
			}
			q++;
		} else if (is_control(*q)) {
			error_at(ps, q, "unexpected control character");
			return TOK_ERROR;
		}
		if (n == TOKEN_MAX) {
			error_at(ps, t->raw, "quoted text longer than 4096 bytes");
			return TOK_ERROR;
		}
		ps->buf[n++] = *q++;
	}
	q++;
	if (q < ps->end && !is_blank(*q) && *q != '\n' && *q != '#') {
		error_at(ps, q,
			 "expected a space or the end of the line after the closing "
			 "quote");
		return TOK_ERROR;
	}
	ps->buf[n] = '\0';
	t->quoted = true;
	t->len = n;
	ps->p = q;
	return TOK_WORD;
}

static enum tok_type lex_word(struct parser *ps, struct token *t)
{
	const char *q;
	size_t n = 0;

	for (q = t->raw; q < ps->end && !is_blank(*q) && *q != '\n'; q++) {
		if (is_control(*q)) {
			error_at(ps, q, "unexpected control character");
			return TOK_ERROR;
		}
		if (*q == '"') {
			error_at(ps, q,
				 "unexpected '\"' inside a word: quote the whole "
				 "pattern");
			return TOK_ERROR;
		}
		if (n == TOKEN_MAX) {
			error_at(ps, t->raw, "word longer than 4096 bytes");
			return TOK_ERROR;
		}
		ps->buf[n++] = *q;
	}
	ps->buf[n] = '\0';
	t->len = n;
	ps->p = q;
	return TOK_WORD;
}

/* Reads the next token of the current line. The end of the line is not
 * consumed: skip_line does that. */
static enum tok_type next_token(struct parser *ps, struct token *t)
{
	const char *q = ps->p;

	while (q < ps->end && is_blank(*q))
		q++;
	ps->p = q;
	t->raw = q;
	t->line = ps->line;
	t->column = column_of(ps, q);
	t->quoted = false;
	t->text = ps->buf;
	t->len = 0;
	ps->buf[0] = '\0';
	if (q == ps->end || *q == '\n' || *q == '#')
		t->type = TOK_EOL;
	else if (*q == '"')
		t->type = lex_quoted(ps, t);
	else
		t->type = lex_word(ps, t);
	return t->type;
}

static void skip_line(struct parser *ps)
{
	const char *nl = memchr(ps->p, '\n', (size_t)(ps->end - ps->p));

	ps->p = nl != NULL ? nl + 1 : ps->end;
	ps->line_start = ps->p;
	ps->line++;
}

/* Where byte off of a token's text sits in the source. */
static const char *token_ptr(const struct token *t, size_t off)
{
	const char *r = t->raw;
	size_t i;

	if (!t->quoted)
		return r + off;
	r++;
	for (i = 0; i < off; i++)
		r += *r == '\\' ? 2 : 1;
	return r;
}

/* The column of at, a pointer into t's text. */
static unsigned text_column(const struct parser *ps, const struct token *t,
			    const char *at)
{
	return column_of(ps, token_ptr(t, (size_t)(at - t->text)));
}

static bool word_is(const struct token *t, const char *kw)
{
	return t->type == TOK_WORD && !t->quoted && strcmp(t->text, kw) == 0;
}

/* A bounded, printable copy of a token part for a message; "" when the
 * token may hold a path (quoted or holding a '/'). */
static const char *echo(char out[ECHO_MAX + 8], const struct token *t, const char *s,
			size_t len)
{
	size_t i, n = len < ECHO_MAX ? len : ECHO_MAX;
	char *o = out;

	if (t->quoted || memchr(t->text, '/', t->len) != NULL) {
		out[0] = '\0';
		return out;
	}
	*o++ = ' ';
	*o++ = '\'';
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		*o++ = c < 0x20 || c >= 0x7f ? '?' : (char)c;
	}
	if (n < len) {
		memcpy(o, "...", 3);
		o += 3;
	}
	*o++ = '\'';
	*o = '\0';
	return out;
}

/* Reports what was expected at t: at the token, quoting it when safe, or at
 * the end of the line. */
static void expected(struct parser *ps, const struct token *t, const char *what)
{
	char e[ECHO_MAX + 8];

	if (t->type == TOK_ERROR)
		return;
	if (t->type == TOK_EOL)
		report(ps, false, t->line, t->column,
		       "expected %s at the end of the line", what);
	else if (*echo(e, t, t->text, t->len) != '\0')
		report(ps, false, t->line, t->column, "unexpected%s: expected %s", e,
		       what);
	else
		report(ps, false, t->line, t->column, "expected %s", what);
}

static bool expect_eol(struct parser *ps)
{
	struct token t;

	if (next_token(ps, &t) == TOK_EOL)
		return true;
	if (t.type == TOK_WORD)
		report(ps, false, t.line, t.column,
		       "unexpected text: expected the end of the line or a comment");
	return false;
}

/* ---- Directives ---- */

/* Parses all-digit s as an unsigned number up to max. */
static bool parse_number(const char *s, size_t len, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (v > (max - (unsigned long)(s[i] - '0')) / 10)
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	*out = v;
	return true;
}

static bool all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static void parse_version(struct parser *ps, const struct token *kw)
{
	struct token t;
	unsigned long v;

	if (ps->seen_directive) {
		report(ps, false, kw->line, kw->column,
		       "'version' must be the first directive, and given once");
		return;
	}
	next_token(ps, &t);
	if (t.type != TOK_WORD || t.quoted || !parse_number(t.text, t.len, 1000000, &v)) {
		expected(ps, &t, "a version number (1)");
		return;
	}
	if (v != 1) {
		report(ps, false, t.line, t.column,
		       "unsupported policy version: expected 1");
		return;
	}
	expect_eol(ps);
}

static void parse_duration(struct parser *ps, const struct token *kw)
{
	static const char what[] = "a duration such as 30m (a number followed by s, m or "
				   "h; at most 24h)";
	unsigned long v, mult;
	struct token t;

	if (ps->duration_line != 0) {
		report(ps, false, kw->line, kw->column,
		       "emergency-duration given twice (first at line %u)",
		       ps->duration_line);
		return;
	}
	next_token(ps, &t);
	if (t.type != TOK_WORD || t.quoted || t.len < 2) {
		expected(ps, &t, what);
		return;
	}
	switch (t.text[t.len - 1]) {
	case 's':
		mult = 1;
		break;
	case 'm':
		mult = 60;
		break;
	case 'h':
		mult = 3600;
		break;
	default:
		expected(ps, &t, what);
		return;
	}
	if (!parse_number(t.text, t.len - 1, 1000000000UL, &v)) {
		expected(ps, &t, what);
		return;
	}
	if (v == 0 || v > DURATION_MAX / mult) {
		report(ps, false, t.line, t.column,
		       "emergency duration out of range: expected 1s to 24h");
		return;
	}
	if (!expect_eol(ps))
		return;
	ps->duration_line = kw->line;
	ps->pol->emergency_seconds = (unsigned)(v * mult);
}

static bool parse_subject(struct parser *ps, const struct token *t, struct rule *r)
{
	char e[ECHO_MAX + 8];
	const char *name, *kind;
	unsigned long id = ID_MAX + 1; /* stays unknown if the resolver sets nothing */
	bool group;
	int ret;

	if (t->type != TOK_WORD || t->quoted) {
		expected(ps, t, "a subject (" SUBJECT_HELP ")");
		return false;
	}
	if (strcmp(t->text, "everyone") == 0) {
		r->subject = SUBJ_EVERYONE;
		return true;
	}
	if (strncmp(t->text, "user:", 5) == 0) {
		group = false;
		name = t->text + 5;
	} else if (strncmp(t->text, "group:", 6) == 0) {
		group = true;
		name = t->text + 6;
	} else {
		expected(ps, t, "a subject (" SUBJECT_HELP ")");
		return false;
	}
	kind = group ? "group" : "user";
	r->subject = group ? SUBJ_GROUP : SUBJ_USER;
	if (*name == '\0') {
		report(ps, false, t->line, t->column,
		       "expected a %s name or id after '%s:'", kind, kind);
		return false;
	}
	if (all_digits(name)) {
		if (!parse_number(name, strlen(name), ID_MAX, &r->id)) {
			report(ps, false, t->line, text_column(ps, t, name),
			       "%s id out of range: expected 0 to %lu", kind, ID_MAX);
			return false;
		}
		return true;
	}
	echo(e, t, name, strlen(name));
	if (ps->resolve == NULL) {
		report(ps, false, t->line, text_column(ps, t, name),
		       "%s name%s cannot be resolved here: use a numeric %s", kind, e,
		       group ? "gid" : "uid");
		return false;
	}
	ret = ps->resolve(ps->resolve_ctx, group, name, &id);
	if (ret < 0 || id > ID_MAX) {
		report(ps, false, t->line, text_column(ps, t, name),
		       "unknown %s%s: a policy naming an unknown %s cannot be loaded",
		       kind, e, kind);
		return false;
	}
	r->id = id;
	return true;
}

static bool parse_program(struct parser *ps, const struct token *t, struct rule *r)
{
	if (t->type == TOK_EOL) {
		expected(ps, t, "an absolute program path after 'program'");
		return false;
	}
	if (t->type != TOK_WORD || t->text[0] != '/') {
		if (t->type == TOK_WORD)
			report(ps, false, t->line, t->column,
			       "expected an absolute program path after 'program'");
		return false;
	}
	r->program = strdup(t->text);
	if (r->program == NULL) {
		ps->nomem = ps->stop = true;
		return false;
	}
	if (memchr(t->text, '*', t->len) != NULL)
		report(ps, true, t->line, t->column,
		       "program paths are compared exactly: '*' is not a wildcard here");
	return true;
}

static bool parse_rights(struct parser *ps, const struct token *t, struct rule *r)
{
	char e[ECHO_MAX + 8];
	const char *s, *comma;
	size_t len, i;
	unsigned right;

	if (t->type == TOK_WORD && !t->quoted && t->text[0] == '/') {
		report(ps, false, t->line, t->column,
		       "expected rights (" RIGHTS_HELP ") before the pattern");
		return false;
	}
	if (t->type != TOK_WORD || t->quoted) {
		expected(ps, t, "rights (a comma-separated list of " RIGHTS_HELP ")");
		return false;
	}
	r->rights = 0;
	for (s = t->text;; s = comma + 1) {
		comma = strchrnul(s, ',');
		len = (size_t)(comma - s);
		right = 0;
		if (len == 3 && memcmp(s, "all", 3) == 0)
			right = MEDFS_RIGHT_ALL;
		for (i = 0; i < NRIGHTS && right == 0; i++)
			if (strlen(right_names[i].name) == len &&
			    memcmp(right_names[i].name, s, len) == 0)
				right = right_names[i].right;
		if (right == 0) {
			if (len == 0)
				report(ps, false, t->line, text_column(ps, t, s),
				       "empty item in the rights: expected a right "
				       "(" RIGHTS_HELP ")");
			else
				report(ps, false, t->line, text_column(ps, t, s),
				       "unknown right%s: expected a right "
				       "(" RIGHTS_HELP ")",
				       echo(e, t, s, len));
			return false;
		}
		r->rights |= right;
		if (*comma == '\0')
			return true;
	}
}

/* Validates and compiles a pattern: absolute, no empty, "." or ".."
 * segments (except the root "/" alone), "**" only as a whole segment. */
static bool compile_pattern(struct parser *ps, const struct token *t, struct rule *r)
{
	const char *s, *e, *text = t->text, *bad = NULL, *why = NULL;
	unsigned n = 0, i = 0;
	size_t len;
	char *copy;

	if (t->type != TOK_WORD) {
		expected(ps, t, "a path pattern (an absolute path such as /studies/**)");
		return false;
	}
	if (text[0] != '/') {
		report(ps, false, t->line, t->column,
		       "expected a path pattern starting with '/' "
		       "(patterns are anchored at the mount root)");
		return false;
	}
	if (t->len > 1) {
		for (s = text + 1;; s = e + 1) {
			e = strchrnul(s, '/');
			len = (size_t)(e - s);
			if (len == 0) {
				bad = *e == '/' ? e : s - 1;
				why = "empty segment in the pattern "
				      "('//' or a trailing '/')";
			} else if ((len == 1 && s[0] == '.') ||
				   (len == 2 && s[0] == '.' && s[1] == '.')) {
				bad = s;
				why = "'.' and '..' are not allowed in a pattern";
			} else if (len != 2 && memmem(s, len, "**", 2) != NULL) {
				bad = s;
				why = "'**' must be a whole segment (as in /a/**/b)";
			} else if (n == SEGS_MAX) {
				bad = text;
				why = "pattern deeper than 63 segments";
			}
			if (bad != NULL) {
				report(ps, false, t->line, text_column(ps, t, bad), "%s",
				       why);
				return false;
			}
			n++;
			if (*e == '\0')
				break;
		}
	}

	/* One block: the segment array, then the text it points into. */
	r->segs = malloc(n * sizeof(*r->segs) + t->len + 1);
	if (r->segs == NULL) {
		ps->nomem = ps->stop = true;
		return false;
	}
	copy = (char *)(r->segs + n);
	memcpy(copy, text, t->len + 1);
	r->pattern = copy;
	r->nsegs = n;
	for (s = copy + 1; i < n; s = e + 1, i++) {
		e = strchrnul(s, '/');
		r->segs[i].s = s;
		r->segs[i].len = (uint32_t)(e - s);
		if (e - s == 2 && s[0] == '*' && s[1] == '*')
			r->segs[i].kind = SEG_DEEP;
		else if (e - s == 1 && s[0] == '*')
			r->segs[i].kind = SEG_ANY;
		else if (memchr(s, '*', (size_t)(e - s)) != NULL)
			r->segs[i].kind = SEG_GLOB;
		else
			r->segs[i].kind = SEG_LITERAL;
	}
	return true;
}

static bool add_rule(struct parser *ps, struct rule *r)
{
	struct medfs_policy *p = ps->pol;
	struct rule *rules;
	size_t cap;

	if (p->nrules == ps->rules_cap) {
		cap = ps->rules_cap != 0 ? 2 * ps->rules_cap : 16;
		rules = realloc(p->rules, cap * sizeof(*rules));
		if (rules == NULL) {
			ps->nomem = ps->stop = true;
			return false;
		}
		p->rules = rules;
		ps->rules_cap = cap;
	}
	p->rules[p->nrules++] = *r;
	return true;
}

/* [emergency] allow|deny SUBJECT [program PATH] RIGHTS PATTERN */
static void parse_rule(struct parser *ps, const struct token *kw)
{
	struct rule r;
	struct token t;

	memset(&r, 0, sizeof(r));
	r.line = kw->line;
	r.column = kw->column;
	/* kw's text lives in the token buffer: read it before the next token. */
	r.deny = word_is(kw, "deny");
	r.emergency = word_is(kw, "emergency");
	if (r.emergency) {
		next_token(ps, &t);
		if (!word_is(&t, "allow")) {
			expected(
				ps, &t,
				"'allow' after 'emergency' (emergency rules only allow)");
			return;
		}
	}

	next_token(ps, &t);
	if (!parse_subject(ps, &t, &r))
		goto fail;
	next_token(ps, &t);
	if (word_is(&t, "program")) {
		next_token(ps, &t);
		if (!parse_program(ps, &t, &r))
			goto fail;
		next_token(ps, &t);
	}
	if (!parse_rights(ps, &t, &r))
		goto fail;
	next_token(ps, &t);
	if (!compile_pattern(ps, &t, &r))
		goto fail;
	if (!expect_eol(ps) || !add_rule(ps, &r))
		goto fail;
	return;
fail:
	rule_free(&r);
}

static void parse_line(struct parser *ps)
{
	struct token t;

	if (next_token(ps, &t) == TOK_EOL)
		goto out;
	if (word_is(&t, "version"))
		parse_version(ps, &t);
	else if (word_is(&t, "emergency-duration"))
		parse_duration(ps, &t);
	else if (word_is(&t, "allow") || word_is(&t, "deny") || word_is(&t, "emergency"))
		parse_rule(ps, &t);
	else
		expected(ps, &t,
			 "a directive (allow, deny, emergency allow, "
			 "emergency-duration or version)");
	ps->seen_directive = true;
out:
	skip_line(ps);
}

/* ---- Warnings ---- */

static bool same_rule(const struct rule *a, const struct rule *b)
{
	return a->deny == b->deny && a->emergency == b->emergency &&
	       a->subject == b->subject && a->id == b->id && a->rights == b->rights &&
	       (a->program == NULL) == (b->program == NULL) &&
	       (a->program == NULL || strcmp(a->program, b->program) == 0) &&
	       strcmp(a->pattern, b->pattern) == 0;
}

/* Whether pattern segment d matches every path segment a matches. A glob
 * matched against another glob's text is sound: d's literal characters
 * never match a '*' of a, which only d's own '*' can absorb. */
static bool seg_covers(const struct seg *d, const struct seg *a)
{
	if (d->kind == SEG_ANY)
		return true;
	if (a->kind == SEG_LITERAL)
		return seg_match(d, a->s, a->len);
	return d->kind == SEG_GLOB && glob_match(d->s, d->len, a->s, a->len);
}

/* Whether d's pattern matches every path a's pattern matches (sound, not
 * complete): d's NFA run over a's segments, a "**" of a only absorbed by a
 * "**" of d. */
static bool pattern_covers(const struct rule *d, const struct rule *a)
{
	uint64_t set = closure(d, 1), bits, next;
	unsigned i, j;

	for (j = 0; j < a->nsegs; j++) {
		next = 0;
		for (bits = set; bits != 0; bits &= bits - 1) {
			i = (unsigned)__builtin_ctzll(bits);
			if (i == d->nsegs)
				continue;
			if (d->segs[i].kind == SEG_DEEP)
				next |= 1ULL << i;
			else if (a->segs[j].kind != SEG_DEEP &&
				 seg_covers(&d->segs[i], &a->segs[j]))
				next |= 1ULL << (i + 1);
		}
		set = closure(d, next);
		if (set == 0)
			return false;
	}
	return set >> d->nsegs & 1;
}

/* Whether rule g applies to every caller rule a applies to: the same
 * subject or everyone, and any program or a's. */
static bool applies_to_all(const struct rule *g, const struct rule *a)
{
	if (g->subject != SUBJ_EVERYONE && (g->subject != a->subject || g->id != a->id))
		return false;
	return g->program == NULL ||
	       (a->program != NULL && strcmp(g->program, a->program) == 0);
}

/* Whether deny rule d applies to every request allow rule a matches. */
static bool deny_covers(const struct rule *d, const struct rule *a)
{
	return applies_to_all(d, a) && pattern_covers(d, a);
}

/* Whether the paths allow rule a matches can be looked up (lookups need
 * list) by its subject: some allow rule gives list on all of them, having
 * the right or by traversal, as a pattern ending in "**" does for every
 * path it matches. Sound, not complete: group membership is unknown here. */
static bool listable(const struct medfs_policy *p, const struct rule *a)
{
	const struct rule *l;
	size_t i;

	if (a->nsegs == 0)
		return true; /* the root always answers */
	for (i = 0; i < p->nrules; i++) {
		l = &p->rules[i];
		if (l->deny || (l->emergency && !a->emergency))
			continue;
		if (!(l->rights & MEDFS_RIGHT_LIST) &&
		    !(l->nsegs > 0 && l->segs[l->nsegs - 1].kind == SEG_DEEP))
			continue;
		if (applies_to_all(l, a) && pattern_covers(l, a))
			return true;
	}
	return false;
}

static void rights_list(char *out, size_t outsz, unsigned rights)
{
	size_t i, n = 0;

	out[0] = '\0';
	for (i = 0; i < NRIGHTS; i++)
		if (rights & right_names[i].right)
			n += (size_t)snprintf(out + n, outsz - n, "%s%s", n ? "," : "",
					      right_names[i].name);
}

static void analyse(struct parser *ps)
{
	const struct medfs_policy *p = ps->pol;
	const struct rule *a, *d;
	unsigned shadowed, first;
	char names[64];
	bool dup, any_emergency = false;
	size_t i, j;

	if (p->nrules == 0) {
		report(ps, true, 1, 1, "the policy has no rules: everything is denied");
		return;
	}
	for (i = 0; i < p->nrules; i++)
		any_emergency |= p->rules[i].emergency;
	if (ps->duration_line != 0 && !any_emergency)
		report(ps, true, ps->duration_line, 1,
		       "emergency-duration is set but no rule is an emergency rule");
	if (p->nrules > ANALYSIS_MAX) {
		report(ps, true, 1, 1,
		       "more than %d rules: rules that cannot take effect were not "
		       "looked for",
		       ANALYSIS_MAX);
		return;
	}
	for (i = 0; i < p->nrules; i++) {
		a = &p->rules[i];
		dup = false;
		for (j = 0; j < i && !dup; j++) {
			if (same_rule(a, &p->rules[j])) {
				report(ps, true, a->line, a->column,
				       "duplicate of the rule at line %u",
				       p->rules[j].line);
				dup = true;
			}
		}
		if (dup || a->deny)
			continue;
		/* Deny wins whatever the order: look at every deny rule. */
		shadowed = 0;
		first = 0;
		for (j = 0; j < p->nrules; j++) {
			d = &p->rules[j];
			if (!d->deny || !(d->rights & a->rights & ~shadowed) ||
			    !deny_covers(d, a))
				continue;
			shadowed |= d->rights & a->rights;
			if (first == 0)
				first = d->line;
		}
		if (shadowed == a->rights) {
			report(ps, true, a->line, a->column,
			       "this rule can never allow anything: the deny rule "
			       "at line %u covers its subject, rights and paths",
			       first);
			continue;
		}
		if (shadowed != 0) {
			rights_list(names, sizeof(names), shadowed);
			report(ps, true, a->line, a->column,
			       "right(s) %s of this rule are always denied by the "
			       "deny rule at line %u (same subject, covering pattern)",
			       names, first);
		}
		if (!listable(p, a))
			report(ps, true, a->line, a->column,
			       "no rule lets this subject list the paths this rule "
			       "matches, so they cannot be looked up: add list, or "
			       "end the pattern with /**");
	}
}

int medfs_policy_parse(const char *text, size_t len, medfs_policy_resolve_fn resolve,
		       void *resolve_ctx, medfs_policy_diag_fn diag, void *diag_ctx,
		       struct medfs_policy **out)
{
	struct parser *ps;
	struct medfs_policy *p;
	int ret;

	if (text == NULL && len != 0)
		return -EINVAL;
	ps = calloc(1, sizeof(*ps));
	p = calloc(1, sizeof(*p));
	if (ps == NULL || p == NULL) {
		free(ps);
		free(p);
		return -ENOMEM;
	}
	if (text == NULL)
		text = "";
	p->emergency_seconds = DURATION_DEFAULT;
	crypto_generichash(p->digest, sizeof(p->digest), (const unsigned char *)text, len,
			   NULL, 0);
	ps->p = ps->line_start = text;
	ps->end = text + len;
	ps->line = 1;
	ps->resolve = resolve;
	ps->resolve_ctx = resolve_ctx;
	ps->diag = diag;
	ps->diag_ctx = diag_ctx;
	ps->pol = p;

	while (ps->p < ps->end && !ps->stop)
		parse_line(ps);
	if (!ps->stop && ps->nerrors == 0)
		analyse(ps);

	if (ps->nomem) {
		ret = -ENOMEM;
	} else if (ps->nerrors != 0) {
		ret = -EINVAL;
	} else {
		*out = p;
		p = NULL;
		ret = 0;
	}
	medfs_policy_free(p);
	free(ps);
	return ret;
}
