/* medfs: reading passphrases without leaving copies behind.
 * Passphrases live in secret memory (medfs_secret_alloc) and are never
 * taken from the command line or the environment. */
#ifndef MEDFS_PASSPHRASE_H
#define MEDFS_PASSPHRASE_H

#include <stddef.h>

#define MEDFS_PASSPHRASE_MAX 1024
/* medfs-key warns of a new passphrase shorter than this, in characters. */
#define MEDFS_PASSPHRASE_ADVISED 12

/* Reads a passphrase from the first line of path (one trailing "\n" or
 * "\r\n" removed). Returns 0 and a secret buffer in *out (free with
 * medfs_passphrase_free), -EINVAL for an empty passphrase, -E2BIG past
 * MEDFS_PASSPHRASE_MAX, -EPERM for a file that is not private (see
 * medfs_secret_file_check; medfs_secret_file_why says why), or -errno of
 * open/read. */
int medfs_passphrase_from_file(const char *path, char **out, size_t *len);

/* Prompts on /dev/tty with echo off. Returns 0, -ENXIO when there is no
 * terminal, -EINVAL for an empty passphrase, -E2BIG, or -errno. */
int medfs_passphrase_prompt(const char *prompt, char **out, size_t *len);

/* Prompts twice; -EKEYREJECTED when the two entries differ. */
int medfs_passphrase_prompt_new(const char *prompt, char **out, size_t *len);

void medfs_passphrase_free(char *p);

/* Characters of a passphrase of len bytes: UTF-8 code points (bytes that
 * do not continue a character), so "pâté" has 4. */
size_t medfs_passphrase_chars(const char *p, size_t len);

#endif
