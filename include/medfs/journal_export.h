/* medfs: exporting decoded journal records for other audit systems.
 *
 * Three formats, each written as a stream through a callback:
 *   JSON lines   one object per record, every field (strings null when
 *                absent), times ISO 8601 UTC with microseconds;
 *   DICOM        PS3.15 A.5 audit messages, each a whole XML document
 *                valid against the A.5.1 schema;
 *   FHIR         one R4 Bundle (type collection) of AuditEvent resources
 *                following the IHE BALP patterns.
 * DICOM and FHIR messages are events, not records: accesses (open, read,
 * list, write, create, delete...) by one user and program to one patient's
 * study with the same action, outcome and emergency flag are grouped into
 * one message (EventID 110103 DICOM Instances Accessed, listing the SOP
 * instances) while they fall within the group window of the group's first
 * record.
 * Denials and integrity failures are 110113 Security Alerts (type codes
 * DCM 110132 Use of Restricted Function and 99MEDFS integrity-failure),
 * emergency access grants 110113 with 110127 Emergency Override Started and
 * 110138 Emergency Override Stopped, policy loads and auditor key changes
 * 110113 with 110129 Security Configuration, mount and unmount 110100
 * Application Activity with 110120 Application Start and 110121 Application
 * Stop (an operation this version does not know: 110100 with 99MEDFS
 * other). Participant objects: the study (its instances by SOP class), the
 * patient, and the files, except for reads of a study, which its
 * instances describe. Messages are written in the order of their first
 * record.
 * Checkpoint records are not events: only JSON lines shows them.
 *
 * Pure: no I/O but the callback, no clock, no host name lookup. Strings of
 * records may hold any bytes: invalid UTF-8 is written as U+FFFD, control
 * characters escaped (JSON) or replaced (XML 1.0 cannot carry them). */
#ifndef MEDFS_JOURNAL_EXPORT_H
#define MEDFS_JOURNAL_EXPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "medfs/journal.h"

enum medfs_export_format {
	MEDFS_EXPORT_JSONL = 1,
	MEDFS_EXPORT_DICOM = 2,
	MEDFS_EXPORT_FHIR = 3,
};

/* Receives len bytes of output. Returns 0 or a negative errno, which ends
 * the export: every later call returns it. */
typedef int (*medfs_export_write_fn)(void *ctx, const char *buf, size_t len);

#define MEDFS_EXPORT_GROUP_WINDOW_DEFAULT (UINT64_C(3600) * 1000000) /* 1 hour */
#define MEDFS_EXPORT_GROUP_ALL UINT64_MAX /* one message per group for the export */

struct medfs_export_options {
	/* AuditSourceID and the FHIR source.observer: the system that kept
	 * the journal, such as "medfs@pacs-01". NULL: "medfs". */
	const char *source_id;
	/* AuditEnterpriseSiteID and source.site. NULL: none. */
	const char *site_id;
	/* Host name of the users' machine (NetworkAccessPointID, type 1).
	 * NULL: none. */
	const char *host;
	/* A group of accesses takes the records that come at most this long
	 * after its first; a later one starts a new group, so that no message
	 * is held back longer. 0: the default (1 hour);
	 * MEDFS_EXPORT_GROUP_ALL: one group for the whole export. */
	uint64_t group_window_us;
	/* DICOM only, may be NULL: called before each message document
	 * (index from 0), so that the caller can send each to its own file or
	 * syslog frame. Returns 0 or a negative errno (ends the export). */
	int (*begin_message)(void *ctx, uint64_t index);
};

struct medfs_exporter;

/* Starts an export to write(ctx, ...). opt may be NULL (defaults).
 * Returns 0, -EINVAL (unknown format) or -ENOMEM. */
int medfs_export_open(struct medfs_exporter **ex, enum medfs_export_format format,
		      const struct medfs_export_options *opt, medfs_export_write_fn write,
		      void *ctx);

/* The same, writing to f (not closed at the end; output errors -EIO). */
int medfs_export_open_file(struct medfs_exporter **ex, enum medfs_export_format format,
			   const struct medfs_export_options *opt, FILE *f);

/* Adds one decoded record, in journal order. pos (may be NULL) gives the
 * record's segment and seq for JSON lines and the messages' ids. The
 * record is copied as needed: its memory may be reused at the return.
 * Returns 0, -ENOMEM, or the write callback's error. */
int medfs_export_record(struct medfs_exporter *ex, const struct medfs_journal_record *r,
			const struct medfs_journal_pos *pos);

/* Writes what is pending (open groups, the end of the bundle) and frees
 * ex. Returns 0 or the first error of the export. NULL is allowed. */
int medfs_export_close(struct medfs_exporter *ex);

/* "jsonl", "dicom", "fhir". Returns 0 or -EINVAL. */
int medfs_export_format_parse(const char *name, enum medfs_export_format *format);

/* "2025-03-14T09:26:53.123456Z": ISO 8601, UTC, microseconds; times past
 * the year 9999 are written as its last microsecond. */
#define MEDFS_EXPORT_TIME_LEN 40
void medfs_export_format_time(char out[MEDFS_EXPORT_TIME_LEN], uint64_t time_us);

#endif
