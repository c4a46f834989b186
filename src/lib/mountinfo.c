/* medfs: reading /proc/self/mountinfo (see include/medfs/mountinfo.h). */
#include <errno.h>
#include <string.h>

#include "medfs/mountinfo.h"

/* Copies the space-separated field at *p into out (outsz bytes, cut),
 * undoing the kernel's octal escapes (\040 for a space), and moves *p past
 * it. Returns 0, or -1 at the end of the line. */
static int field(const char **p, char *out, size_t outsz)
{
	const char *s = *p;
	size_t n = 0;

	while (*s == ' ')
		s++;
	if (*s == '\0' || *s == '\n')
		return -1;
	while (*s != '\0' && *s != ' ' && *s != '\n') {
		char c = *s++;

		if (c == '\\' && s[0] >= '0' && s[0] <= '3' && s[1] >= '0' && s[1] <= '7' &&
		    s[2] >= '0' && s[2] <= '7') {
			c = (char)((s[0] - '0') * 64 + (s[1] - '0') * 8 + (s[2] - '0'));
			s += 3;
		}
		if (n + 1 < outsz)
			out[n++] = c;
	}
	if (outsz > 0)
		out[n] = '\0';
	*p = s;
	return 0;
}

int medfs_mountinfo_find(const char *text, const char *mountpoint, char *fstype,
			 size_t fstype_len)
{
	/* A path field may be as long as a path, escaped: PATH_MAX * 4. */
	static __thread char buf[4096 * 4 + 1];
	const char *line = text;
	int found = -ENOENT;

	while (line && *line) {
		const char *p = line, *next = strchr(line, '\n');
		int i, ok = 1, match;

		/* id, parent, major:minor, root, then the mount point */
		for (i = 0; i < 5 && ok; i++)
			ok = field(&p, buf, sizeof(buf)) == 0;
		match = ok && strcmp(buf, mountpoint) == 0;
		/* optional fields up to "-", then the file system type */
		while (match && ok && (ok = field(&p, buf, sizeof(buf)) == 0) &&
		       strcmp(buf, "-") != 0)
			;
		if (match && ok && field(&p, buf, sizeof(buf)) == 0) {
			if (fstype_len > 0) {
				strncpy(fstype, buf, fstype_len - 1);
				fstype[fstype_len - 1] = '\0';
			}
			found = 0; /* a later line is a mount on top of it */
		}
		line = next ? next + 1 : NULL;
	}
	return found;
}
