/* medfs: DICOM Part 10 header reader: the identifiers of a file (the
 * record medfs keeps of them beside the file is medfs/dicom_meta.h).
 *
 * Extracts the identifiers the access journal records for a DICOM file:
 * patient, study, series and SOP instance, SOP class and modality. Reads
 * the 128-byte preamble, "DICM", the file meta group (always explicit VR
 * little endian) and the data set in the transfer syntax the meta group
 * names (implicit VR little endian, explicit VR little or big endian;
 * every compressed syntax keeps an explicit VR little endian data set),
 * skipping sequences and items of defined or undefined length. Stops at
 * the first top-level tag after (0020,000E): data set elements are in
 * ascending tag order (PS3.5 7.1), so nothing it looks for can follow,
 * and the pixel data (7FE0,0010) is never reached. Pure: no I/O, never
 * reads past len, every length checked against what encloses it.
 *
 * The reader is resumable (medfs_dicom_scan_*): it keeps its place
 * between top-level elements, so a caller reads a file's header in small
 * windows and never reads the values it skips (a large private element
 * before the patient ID costs nothing). What the header says is what its
 * writer wrote: nothing here checks it (doc/JOURNAL.md, 14.1). */
#ifndef MEDFS_DICOM_H
#define MEDFS_DICOM_H

#include <stddef.h>
#include <stdint.h>

#define MEDFS_DICOM_PREAMBLE_LEN 128
#define MEDFS_DICOM_PREFIX_LEN 132 /* preamble and "DICM" */
#define MEDFS_DICOM_UID_MAX 64	   /* UI, and LO for the patient ID */
#define MEDFS_DICOM_CS_MAX 16	   /* CS: the modality */
/* A defined-length sequence up to this size is read and checked; a
 * longer one that the bytes passed do not hold is skipped unread. */
#define MEDFS_DICOM_CHECK_MAX (64 * 1024)

/* The identifiers of one file. Each is NUL-terminated and empty when
 * absent. Values are trimmed of leading spaces and of trailing spaces and
 * NULs, cut at an embedded NUL, truncated to the field's size, and
 * sanitized (medfs_dicom_sanitize): no control character. The
 * SOP class and instance UIDs fall back to the meta group's Media Storage
 * SOP Class/Instance UID (0002,0002/0003) when the data set has none. */
struct medfs_dicom_ids {
	char patient_id[MEDFS_DICOM_UID_MAX + 1];    /* (0010,0020) */
	char study_uid[MEDFS_DICOM_UID_MAX + 1];     /* (0020,000D) */
	char series_uid[MEDFS_DICOM_UID_MAX + 1];    /* (0020,000E) */
	char sop_uid[MEDFS_DICOM_UID_MAX + 1];	     /* (0008,0018) */
	char sop_class_uid[MEDFS_DICOM_UID_MAX + 1]; /* (0008,0016) */
	char modality[MEDFS_DICOM_CS_MAX + 1];	     /* (0008,0060) */
};

/* Parses the start of a file, buf[0..len). Returns
 *   0         a Part 10 file with at least one of the patient ID, study,
 *             series or SOP instance UID; out holds what was found;
 *   -ENOENT   not a Part 10 file (no "DICM" after the preamble), or one
 *             whose data set cannot be read (deflated) and whose meta group
 *             names no instance;
 *   -EBADMSG  malformed: a length running past what encloses it, a bad
 *             VR, a misplaced item or delimiter, sequences nested more
 *             than 32 deep, a meta group length that does not match;
 *   -EAGAIN   buf ended before the answer was known: pass more bytes. A
 *             caller that passed the whole file may still use what out
 *             holds (a file without pixel data ends inside the data set).
 * out is always written (zeroed first). */
int medfs_dicom_parse(const uint8_t *buf, size_t len, struct medfs_dicom_ids *out);

/* The same, a window at a time. Initialise with medfs_dicom_scan_init,
 * then pass the file's bytes from offset pos on, at least need of them
 * unless the file ends first, until the answer is not -EAGAIN. The
 * answers are those of medfs_dicom_parse on the whole file, except that a
 * defined-length sequence longer than MEDFS_DICOM_CHECK_MAX that a window
 * does not hold is skipped unchecked. Fields other than pos, need, seen
 * and ids are the reader's. */
struct medfs_dicom_scan {
	uint64_t pos;  /* file offset of the next bytes to pass */
	size_t need;   /* after -EAGAIN: bytes wanted from pos on, at least */
	uint64_t seen; /* the answer so far depends on bytes before this only,
			* apart from the values skipped unread */
	struct medfs_dicom_ids ids; /* what was found so far */
	int phase, result;
	uint64_t group_end;
	uint8_t have_group_length, explicit_vr, big_endian;
	char ts[MEDFS_DICOM_UID_MAX + 1];
};

void medfs_dicom_scan_init(struct medfs_dicom_scan *sc);

/* buf holds len bytes of the file from sc->pos on. Returns 0, -ENOENT,
 * -EBADMSG as medfs_dicom_parse (and again at every later call), or
 * -EAGAIN: pass bytes from the new sc->pos on, at least sc->need of them
 * (a caller at the end of the file keeps what sc->ids holds). */
int medfs_dicom_scan_feed(struct medfs_dicom_scan *sc, const uint8_t *buf, size_t len);

/* Replaces every control character (below 0x20, and 0x7f) of the
 * NUL-terminated s by '?': identifiers go into the journal and onto
 * auditors' terminals. Every identifier medfs records passes here. */
void medfs_dicom_sanitize(char *s);

#endif
