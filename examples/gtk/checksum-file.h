/* checksum-file.h: one row of the checksum window
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum {
  CHECKSUM_STATUS_LISTED,
  CHECKSUM_STATUS_QUEUED,
  CHECKSUM_STATUS_HASHING,
  CHECKSUM_STATUS_DONE,
  CHECKSUM_STATUS_FAILED,
  CHECKSUM_STATUS_CANCELLED,
} ChecksumStatus;

#define CHECKSUM_TYPE_STATUS (checksum_status_get_type ())
GType checksum_status_get_type (void);

#define CHECKSUM_TYPE_FILE (checksum_file_get_type ())
G_DECLARE_FINAL_TYPE (ChecksumFile, checksum_file, CHECKSUM, FILE, GObject)

ChecksumFile   *checksum_file_new            (GFile        *folder,
                                              GFileInfo    *info);
const char     *checksum_file_get_name       (ChecksumFile *self);
const char     *checksum_file_get_path       (ChecksumFile *self);
guint64         checksum_file_get_size       (ChecksumFile *self);
ChecksumStatus  checksum_file_get_status     (ChecksumFile *self);
const char     *checksum_file_get_checksum   (ChecksumFile *self);
const char     *checksum_file_get_message    (ChecksumFile *self);

void            checksum_file_set_queued     (ChecksumFile *self);
void            checksum_file_set_hashing    (ChecksumFile *self,
                                              guint64       bytes_read);
void            checksum_file_set_done       (ChecksumFile *self,
                                              const char   *checksum);
void            checksum_file_set_failed     (ChecksumFile *self,
                                              const char   *message);
void            checksum_file_set_cancelled  (ChecksumFile *self);

G_END_DECLS
