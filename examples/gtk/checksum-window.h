/* checksum-window.h: the checksum window
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* What one run did, for the status line and the self-test. */
typedef struct {
  guint     max_workers;            /* the context's bound */
  guint     n_jobs;
  guint     n_done;
  guint     n_failed;
  guint     n_cancelled;

  /* Progress reports: worker → syncify_context_invoke_sync() → main thread */
  guint     n_reports;              /* run on the main thread */
  guint     n_reports_off_main;     /* run anywhere else: must stay 0 */
  guint     n_reports_after_cancel; /* run after Cancel: must stay 0 */

  /* Counted by the workers */
  guint     n_started;              /* worker functions entered */
  guint     n_started_at_cancel;    /* ... by the time Cancel returned */
  guint     n_running_at_cancel;    /* worker functions not yet returned then */
  guint     max_running;            /* most worker functions inside at once */
  guint     max_reading;            /* most of them reading at once, i.e. not
                                       waiting in invoke_sync for the UI */
  guint     n_interrupted;          /* stopped mid-file by the cancellable */

  gboolean  was_cancelled;
  gint64    duration_us;            /* Start to the last result */
  gint64    cancel_latency_us;      /* Cancel to the last result */
} ChecksumRunStats;

#define CHECKSUM_TYPE_WINDOW (checksum_window_get_type ())
G_DECLARE_FINAL_TYPE (ChecksumWindow, checksum_window, CHECKSUM, WINDOW, GtkApplicationWindow)

ChecksumWindow         *checksum_window_new               (GtkApplication *application);
void                    checksum_window_open_folder       (ChecksumWindow *self,
                                                           GFile          *folder);
GListModel             *checksum_window_get_files         (ChecksumWindow *self);
gboolean                checksum_window_get_running       (ChecksumWindow *self);
const ChecksumRunStats *checksum_window_get_last_run      (ChecksumWindow *self);
GtkWidget              *checksum_window_get_start_button  (ChecksumWindow *self);
GtkWidget              *checksum_window_get_cancel_button (ChecksumWindow *self);

G_END_DECLS
