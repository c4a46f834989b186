/* medfs: the DICOM metadata record of a file (doc/FORMAT.md, 8.1).
 *
 * What medfs keeps of a DICOM file, beside it in the vault: the
 * identifiers the header reader (medfs/dicom.h) found in it, and every
 * patient it was attributed to before. The driver stores the record with
 * medfs_file_set_meta (sealed in the vault xattr user.medfs-meta) and
 * reads it back at every open, so that each journal record of the open
 * names the patient (doc/JOURNAL.md, 14.1).
 *
 * The record is text, one "key=value\n" line per item:
 *
 *   patient_id=PAT999
 *   study_uid=1.2.3
 *   modality=CT
 *   former_patient_id=PAT001
 *
 * The encoder writes the identifiers present in the order of
 * struct medfs_dicom_ids, then one former_patient_id line per former
 * patient. The decoder takes the known keys in any order and skips the
 * rest: unknown keys, lines without "=", values longer than their field,
 * and a last line without "\n" (a record cut short names no one rather
 * than a patient whose ID is a prefix of the real one). The record has
 * no version number: new keys extend it, older readers skip them.
 *
 * Pure: no I/O, no allocation. Identifiers are sanitized (no control
 * character) both ways: what is encoded and what is decoded. */
#ifndef MEDFS_DICOM_META_H
#define MEDFS_DICOM_META_H

#include <stddef.h>

#include "medfs/dicom.h"

/* Patients a file was attributed to before, at most this many. */
#define MEDFS_DICOM_FORMER_MAX 16
/* The longest record: medfs_file_set_meta's limit (MEDFS_META_MAX). The
 * longest the encoder writes is MEDFS_DICOM_META_WORST. */
#define MEDFS_DICOM_META_MAX 4096
/* Six identifiers of their longest (405 bytes with their keys) and 16
 * former patients of 64 bytes (83 bytes a line). */
#define MEDFS_DICOM_META_WORST 1733

/* A file's identifiers now, and every patient ID it was ever attributed
 * to before (the first MEDFS_DICOM_FORMER_MAX of them, in the order first
 * met; it may hold the current one too), each followed by a "\n". */
struct medfs_dicom_meta {
	struct medfs_dicom_ids ids;
	char former[MEDFS_DICOM_FORMER_MAX * (MEDFS_DICOM_UID_MAX + 1) + 1];
	unsigned int nformer;
};

/* Encodes m into out (size bytes, not NUL-terminated). Returns the
 * record's length, or -ENOBUFS when it does not fit (out then holds no
 * partial record: its first byte, if any, is NUL). Values are sanitized
 * and cut to their field's size; empty former entries are left out. An m
 * without any identifier nor former patient is the empty record. */
int medfs_dicom_meta_encode(const struct medfs_dicom_meta *m, char *out, size_t size);

/* Decodes a record of len bytes (any, NULs included) into m, which is
 * always written (zeroed first). A key given twice: the last value is
 * kept (for former_patient_id: each, while there is room). Returns 1
 * when m has an identifier, else 0. */
int medfs_dicom_meta_decode(const char *in, size_t len, struct medfs_dicom_meta *m);

/* What medfs_dicom_meta_update found. */
#define MEDFS_DICOM_SAME 0	   /* nothing changed */
#define MEDFS_DICOM_CHANGED 1	   /* identifiers changed */
#define MEDFS_DICOM_REATTRIBUTED 2 /* ...and the patient or study was another */

/* Sets m's identifiers to found (NULL: no longer a DICOM file), each
 * sanitized and zero-filled past its end, keeping the patient it had
 * among the former ones. prior (may be NULL) gets the identifiers m had.
 * Identifiers compare as strings (what lies past a field's NUL does not
 * count). Returns MEDFS_DICOM_SAME, MEDFS_DICOM_CHANGED, or
 * MEDFS_DICOM_REATTRIBUTED when a patient ID or study UID that was set
 * changed (to another one, or to none). */
int medfs_dicom_meta_update(struct medfs_dicom_meta *m,
			    const struct medfs_dicom_ids *found,
			    struct medfs_dicom_ids *prior);

/* 1 when patient is among m's former patients, else 0. */
int medfs_dicom_meta_was(const struct medfs_dicom_meta *m, const char *patient);

#endif
