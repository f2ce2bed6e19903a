/* checksum-window.c: the checksum window, and every thread decision of the
 * example
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Two threads of control, and one rule: widgets and list-model data belong to
 * the main thread, the one running g_application_run().
 *
 * - Main thread: the window, the GListStore of ChecksumFile rows, the
 *   actions, the progress bar. It starts jobs with syncify_context_asyncify()
 *   and gets each result back in an ordinary GAsyncReadyCallback.
 * - Workers (at most max-workers of them reading at once): plain blocking
 *   code. A worker reads the path it was given, hashes it, and returns the
 *   digest. Whenever it has something to show, it calls
 *   syncify_context_invoke_sync (NULL, ...): the library runs the function on
 *   the main thread and the worker waits until it has, so the function may
 *   read the worker's stack and touch the UI.
 *
 * Cancel is one GCancellable per run: queued jobs never start, running ones
 * notice between two 64 KiB chunks or in their next progress report.
 *
 * doc/gtk-app.md walks through this file.
 */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <syncify-glib/syncify-glib.h>

#include "checksum-file.h"
#include "checksum-window.h"

#define CHUNK_SIZE          (64 * 1024)
/* A worker in the middle of a big file reports at most this often. */
#define REPORT_INTERVAL_US  (50 * 1000)
/* Every file weighs this much more than its size in the progress bar, so
 * that a folder of empty files still moves it. */
#define FILE_WEIGHT         4096

typedef struct _ChecksumRun ChecksumRun;

struct _ChecksumWindow
{
  GtkApplicationWindow  parent_instance;

  /* Template children */
  GtkColumnView        *column_view;
  GtkProgressBar       *progress_bar;
  GtkLabel             *summary_label;
  GtkWidget            *start_button;
  GtkWidget            *cancel_button;

  GThread              *main_thread;      /* immutable after init */
  SyncifyContext       *context;          /* (owned): its workers hash */
  GListStore           *files;            /* (owned): of ChecksumFile */
  GFile                *folder;           /* (owned) (nullable) */
  GCancellable         *list_cancellable; /* (owned) (nullable) */
  ChecksumRun          *run;              /* (owned) (nullable) */
  ChecksumRunStats      last_run;
};

G_DEFINE_FINAL_TYPE (ChecksumWindow, checksum_window, GTK_TYPE_APPLICATION_WINDOW)

enum {
  PROP_0,
  PROP_RUNNING,
  N_PROPS
};

enum {
  FOLDER_LOADED,
  PROGRESS,
  RUN_FINISHED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

static void checksum_window_update_progress (ChecksumWindow *self);
static void checksum_window_update_actions  (ChecksumWindow *self);

/* ------------------------------------------------------------------------ *
 * A run: one press of Start
 * ------------------------------------------------------------------------ */

struct _ChecksumRun
{
  /* Main thread only. */
  ChecksumWindow   *window;        /* (nullable): NULL once the window is gone */
  GApplication     *application;   /* (owned): held until the last result is in */
  GCancellable     *cancellable;   /* (owned): Cancel */
  GThread          *main_thread;
  guint             n_delivered;
  guint64           weight_total;
  guint64           weight_done;
  gint64            start_us;
  gint64            cancel_us;     /* 0 until Cancel */
  ChecksumRunStats  stats;

  /* Written by the workers. (atomic) */
  gint              n_started;
  gint              n_running;
  gint              n_reading;
  gint              max_running;
  gint              max_reading;
  gint              n_interrupted;
};

static void
checksum_run_free (ChecksumRun *run)
{
  g_application_release (run->application);
  g_clear_object (&run->application);
  g_clear_object (&run->cancellable);
}

static ChecksumRun *
checksum_run_ref (ChecksumRun *run)
{
  return g_atomic_rc_box_acquire (run);
}

static void
checksum_run_unref (ChecksumRun *run)
{
  g_atomic_rc_box_release_full (run, (GDestroyNotify) checksum_run_free);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ChecksumRun, checksum_run_unref)

static ChecksumRun *
checksum_run_new (ChecksumWindow *window)
{
  ChecksumRun *run = g_atomic_rc_box_new0 (ChecksumRun);

  run->window = window;
  run->main_thread = window->main_thread;
  run->application = G_APPLICATION (g_object_ref (gtk_window_get_application (GTK_WINDOW (window))));
  /* Closing the window cancels the run, but the process must not exit
   * before every job has delivered its result (and workers have stopped):
   * the application stays up while a run exists. */
  g_application_hold (run->application);
  run->cancellable = g_cancellable_new ();
  run->start_us = g_get_monotonic_time ();
  run->stats.max_workers = syncify_context_get_max_workers (window->context);

  return run;
}

/* Called in any thread. */
static void
atomic_raise (gint *max,
              gint  value)
{
  gint old = g_atomic_int_get (max);

  while (value > old && !g_atomic_int_compare_and_exchange_full (max, old, value, &old))
    ;
}

/* Main thread: the last result is in. */
static void
checksum_run_finish (ChecksumRun *run)
{
  ChecksumWindow *self = run->window;
  gint64 now = g_get_monotonic_time ();

  run->stats.duration_us = now - run->start_us;
  if (run->cancel_us != 0)
    run->stats.cancel_latency_us = now - run->cancel_us;
  /* Every worker function has returned by now: its job's callback ran. */
  run->stats.n_started = g_atomic_int_get (&run->n_started);
  run->stats.max_running = g_atomic_int_get (&run->max_running);
  run->stats.max_reading = g_atomic_int_get (&run->max_reading);
  run->stats.n_interrupted = g_atomic_int_get (&run->n_interrupted);

  if (self == NULL)
    return;

  g_assert (self->run == run);
  self->last_run = run->stats;
  g_clear_pointer (&self->run, checksum_run_unref);

  checksum_window_update_progress (self);
  checksum_window_update_actions (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RUNNING]);
  g_signal_emit (self, signals[RUN_FINISHED], 0);
}

/* ------------------------------------------------------------------------ *
 * A job: one file of a run
 * ------------------------------------------------------------------------ */

typedef struct {
  ChecksumRun  *run;              /* (owned) */
  char         *path;             /* immutable: the only field a worker reads */

  /* Main thread only. */
  ChecksumFile *file;             /* (owned) */
  guint64       weight;
  guint64       weight_reported;
} HashJob;

static void
hash_job_clear (HashJob *job)
{
  g_clear_pointer (&job->run, checksum_run_unref);
  g_clear_object (&job->file);
  g_clear_pointer (&job->path, g_free);
}

static HashJob *
hash_job_new (ChecksumRun  *run,
              ChecksumFile *file)
{
  HashJob *job = g_atomic_rc_box_new0 (HashJob);

  job->run = checksum_run_ref (run);
  job->file = g_object_ref (file);
  job->path = g_strdup (checksum_file_get_path (file));
  job->weight = checksum_file_get_size (file) + FILE_WEIGHT;

  return job;
}

static HashJob *
hash_job_ref (HashJob *job)
{
  return g_atomic_rc_box_acquire (job);
}

/* Both references are dropped on the main thread: asyncify runs the user
 * data's destroy notify in the caller's context, and the callback runs
 * there too. So the rows and the run are never unreferenced by a worker. */
static void
hash_job_unref (gpointer job)
{
  g_atomic_rc_box_release_full (job, (GDestroyNotify) hash_job_clear);
}

/* What a worker shows. It lives on the worker's stack: invoke_sync does not
 * return before show_progress() has run, so the main thread may read it. */
typedef struct {
  HashJob *job;
  guint64  bytes_read;
} Progress;

/* Runs on the main thread, called by a worker through invoke_sync. */
static gpointer
show_progress (gpointer       user_data,
               GCancellable  *cancellable,
               GError       **error)
{
  Progress *progress = user_data;
  HashJob *job = progress->job;
  ChecksumRun *run = job->run;
  guint64 weight = MIN (progress->bytes_read, job->weight);

  run->stats.n_reports++;
  if (g_thread_self () != run->main_thread)
    run->stats.n_reports_off_main++;
  if (run->cancel_us != 0)
    run->stats.n_reports_after_cancel++;

  checksum_file_set_hashing (job->file, progress->bytes_read);
  run->weight_done += weight - MIN (weight, job->weight_reported);
  job->weight_reported = MAX (weight, job->weight_reported);

  if (run->window != NULL)
    {
      checksum_window_update_progress (run->window);
      g_signal_emit (run->window, signals[PROGRESS], 0);
    }

  return NULL;
}

/* Worker: hands @progress to the main thread and waits for it to be shown.
 * FALSE (with @error set) if the run was cancelled meanwhile. */
static gboolean
report_progress (Progress      *progress,
                 GCancellable  *cancellable,
                 GError       **error)
{
  ChecksumRun *run = progress->job->run;
  GError *local_error = NULL;

  g_atomic_int_add (&run->n_reading, -1);
  /* NULL: the context this worker belongs to (the window's), whose main
   * context, the default one, is run by the main thread. */
  syncify_context_invoke_sync (NULL, show_progress, progress, cancellable, &local_error);
  atomic_raise (&run->max_reading, g_atomic_int_add (&run->n_reading, 1) + 1);

  if (local_error != NULL)
    {
      g_propagate_error (error, local_error);
      return FALSE;
    }
  return TRUE;
}

static void
set_error_from_errno (GError     **error,
                      int          errsv,
                      const char  *what)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
               "%s: %s", what, g_strerror (errsv));
}

/* Runs in a worker thread: plain blocking code. Returns the digest
 * (transfer full), or NULL with @error set. */
static gpointer
hash_file_in_worker (gpointer       user_data,
                     GCancellable  *cancellable,
                     GError       **error)
{
  HashJob *job = user_data;
  ChecksumRun *run = job->run;
  Progress progress = { job, 0 };
  g_autoptr(GChecksum) checksum = NULL;
  g_autofree guchar *buffer = NULL;
  GError *local_error = NULL;
  char *digest = NULL;
  gint64 last_report_us;
  struct stat st;
  int fd = -1;

  g_atomic_int_inc (&run->n_started);
  atomic_raise (&run->max_running, g_atomic_int_add (&run->n_running, 1) + 1);
  atomic_raise (&run->max_reading, g_atomic_int_add (&run->n_reading, 1) + 1);

  /* The row says "Hashing…" from now on. */
  if (!report_progress (&progress, cancellable, &local_error))
    goto out;

  /* O_NONBLOCK: opening a FIFO must not wait for a writer. It changes
   * nothing for a regular file, whose reads always block. */
  fd = g_open (job->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0)
    {
      set_error_from_errno (&local_error, errno, _("Cannot open"));
      goto out;
    }
  if (fstat (fd, &st) < 0)
    {
      set_error_from_errno (&local_error, errno, _("Cannot read"));
      goto out;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error_literal (&local_error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE,
                           _("Not a regular file"));
      goto out;
    }

  checksum = g_checksum_new (G_CHECKSUM_SHA256);
  buffer = g_malloc (CHUNK_SIZE);
  last_report_us = g_get_monotonic_time ();

  for (;;)
    {
      gssize n_read;
      gint64 now;

      /* Cancel is noticed here, between two chunks. */
      if (g_cancellable_set_error_if_cancelled (cancellable, &local_error))
        goto out;

      n_read = read (fd, buffer, CHUNK_SIZE);
      if (n_read < 0 && errno == EINTR)
        continue;
      if (n_read < 0)
        {
          set_error_from_errno (&local_error, errno, _("Cannot read"));
          goto out;
        }
      if (n_read == 0)
        break;

      g_checksum_update (checksum, buffer, n_read);
      progress.bytes_read += n_read;

      now = g_get_monotonic_time ();
      if (now - last_report_us >= REPORT_INTERVAL_US)
        {
          if (!report_progress (&progress, cancellable, &local_error))
            goto out;
          last_report_us = now;
        }
    }

  digest = g_strdup (g_checksum_get_string (checksum));

out:
  if (fd >= 0)
    g_close (fd, NULL);
  if (progress.bytes_read > 0 &&
      g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_atomic_int_inc (&run->n_interrupted);
  g_atomic_int_add (&run->n_reading, -1);
  g_atomic_int_add (&run->n_running, -1);

  if (local_error != NULL)
    g_propagate_error (error, local_error);
  return digest;
}

/* Main thread: the job's result, as for any GIO asynchronous call. */
static void
hash_file_done (GObject      *source_object,
                GAsyncResult *result,
                gpointer      user_data)
{
  HashJob *job = user_data;
  ChecksumRun *run = job->run;
  g_autoptr(GError) error = NULL;
  g_autofree char *digest = NULL;

  digest = syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result, &error);

  if (digest != NULL)
    {
      checksum_file_set_done (job->file, digest);
      run->stats.n_done++;
    }
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      checksum_file_set_cancelled (job->file);
      run->stats.n_cancelled++;
    }
  else
    {
      checksum_file_set_failed (job->file, error->message);
      run->stats.n_failed++;
    }

  run->weight_done += job->weight - MIN (job->weight, job->weight_reported);
  job->weight_reported = job->weight;
  run->n_delivered++;

  if (run->window != NULL)
    checksum_window_update_progress (run->window);
  if (run->n_delivered == run->stats.n_jobs)
    checksum_run_finish (run);

  hash_job_unref (job);
}

/* ------------------------------------------------------------------------ *
 * Start and Cancel
 * ------------------------------------------------------------------------ */

static void
checksum_window_start (ChecksumWindow *self)
{
  guint n_files = g_list_model_get_n_items (G_LIST_MODEL (self->files));
  ChecksumRun *run;

  if (self->run != NULL || n_files == 0)
    return;

  run = self->run = checksum_run_new (self);
  run->stats.n_jobs = n_files;

  for (guint i = 0; i < n_files; i++)
    {
      g_autoptr(ChecksumFile) file = g_list_model_get_item (G_LIST_MODEL (self->files), i);
      HashJob *job = hash_job_new (run, file);

      checksum_file_set_queued (file);
      run->weight_total += job->weight;

      /* One job per file, all queued at once: the context runs
       * max-workers of them at a time, in order. user_data holds one
       * reference to the job, the callback the other. */
      syncify_context_asyncify (self->context, SYNCIFY_FLAGS_NONE,
                                hash_file_in_worker, hash_job_ref (job), hash_job_unref,
                                g_free, run->cancellable,
                                hash_file_done, job);
    }

  checksum_window_update_progress (self);
  checksum_window_update_actions (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RUNNING]);
}

static void
checksum_window_cancel (ChecksumWindow *self)
{
  ChecksumRun *run = self->run;

  if (run == NULL || run->cancel_us != 0)
    return;

  run->cancel_us = g_get_monotonic_time ();
  run->stats.was_cancelled = TRUE;
  /* Synchronous: queued jobs are dropped now (their callbacks follow), and
   * the cancellable each running worker holds fires now. */
  g_cancellable_cancel (run->cancellable);
  run->stats.n_started_at_cancel = g_atomic_int_get (&run->n_started);
  run->stats.n_running_at_cancel = g_atomic_int_get (&run->n_running);

  checksum_window_update_progress (self);
  checksum_window_update_actions (self);
}

/* ------------------------------------------------------------------------ *
 * Listing a folder: blocking GIO in a worker too
 * ------------------------------------------------------------------------ */

static int
compare_names (gconstpointer a,
               gconstpointer b)
{
  GFileInfo *info_a = *(GFileInfo **) a;
  GFileInfo *info_b = *(GFileInfo **) b;

  return g_strcmp0 (g_file_info_get_name (info_a), g_file_info_get_name (info_b));
}

/* Runs in a worker. Returns (transfer full) a GPtrArray of GFileInfo. */
static gpointer
list_folder_in_worker (gpointer       user_data,
                       GCancellable  *cancellable,
                       GError       **error)
{
  GFile *folder = user_data;
  g_autoptr(GFileEnumerator) enumerator = NULL;
  g_autoptr(GPtrArray) infos = g_ptr_array_new_with_free_func (g_object_unref);

  enumerator = g_file_enumerate_children (folder,
                                          G_FILE_ATTRIBUTE_STANDARD_NAME ","
                                          G_FILE_ATTRIBUTE_STANDARD_TYPE ","
                                          G_FILE_ATTRIBUTE_STANDARD_SIZE,
                                          G_FILE_QUERY_INFO_NONE,
                                          cancellable, error);
  if (enumerator == NULL)
    return NULL;

  for (;;)
    {
      GFileInfo *info;

      if (!g_file_enumerator_iterate (enumerator, &info, NULL, cancellable, error))
        return NULL;
      if (info == NULL)
        break;
      /* Everything but folders: dangling links and special files are
       * listed, and will fail in their row. */
      if (g_file_info_get_file_type (info) != G_FILE_TYPE_DIRECTORY)
        g_ptr_array_add (infos, g_object_ref (info));
    }

  g_ptr_array_sort (infos, compare_names);
  return g_steal_pointer (&infos);
}

/* Main thread. */
static void
list_folder_done (GObject      *source_object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(ChecksumWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) infos = NULL;
  g_autoptr(GPtrArray) rows = NULL;

  infos = syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result, &error);
  if (infos == NULL)
    {
      /* Cancelled: another folder was chosen, or the window is gone. */
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        gtk_label_set_text (self->summary_label, error->message);
      return;
    }

  g_clear_object (&self->list_cancellable);

  rows = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < infos->len; i++)
    g_ptr_array_add (rows, checksum_file_new (self->folder, infos->pdata[i]));
  g_list_store_splice (self->files, 0, g_list_model_get_n_items (G_LIST_MODEL (self->files)),
                       rows->pdata, rows->len);

  checksum_window_update_progress (self);
  checksum_window_update_actions (self);
  g_signal_emit (self, signals[FOLDER_LOADED], 0);
}

void
checksum_window_open_folder (ChecksumWindow *self,
                             GFile          *folder)
{
  g_autofree char *name = NULL;
  g_autofree char *title = NULL;

  g_return_if_fail (CHECKSUM_IS_WINDOW (self));
  g_return_if_fail (G_IS_FILE (folder));

  checksum_window_cancel (self);
  if (self->list_cancellable != NULL)
    g_cancellable_cancel (self->list_cancellable);
  g_clear_object (&self->list_cancellable);
  g_set_object (&self->folder, folder);
  g_list_store_remove_all (self->files);
  memset (&self->last_run, 0, sizeof self->last_run);

  name = g_file_get_basename (folder);
  title = g_strdup_printf (_("Checksum — %s"), name);
  gtk_window_set_title (GTK_WINDOW (self), title);
  gtk_label_set_text (self->summary_label, _("Listing…"));

  self->list_cancellable = g_cancellable_new ();
  syncify_context_asyncify (self->context, SYNCIFY_FLAGS_NONE,
                            list_folder_in_worker, g_object_ref (folder), g_object_unref,
                            (GDestroyNotify) g_ptr_array_unref, self->list_cancellable,
                            list_folder_done, g_object_ref (self));
}

/* ------------------------------------------------------------------------ *
 * The UI: main thread only
 * ------------------------------------------------------------------------ */

static void
checksum_window_update_progress (ChecksumWindow *self)
{
  ChecksumRun *run = self->run;
  const ChecksumRunStats *stats = run != NULL ? &run->stats : &self->last_run;
  guint n_files = g_list_model_get_n_items (G_LIST_MODEL (self->files));
  g_autofree char *text = NULL;
  g_autofree char *summary = NULL;
  guint n_delivered = stats->n_done + stats->n_failed + stats->n_cancelled;

  if (run != NULL)
    gtk_progress_bar_set_fraction (self->progress_bar,
                                   run->weight_total > 0 ?
                                   (double) run->weight_done / run->weight_total : 1.0);
  else if (stats->n_jobs == 0)
    gtk_progress_bar_set_fraction (self->progress_bar, 0.0);

  if (stats->n_jobs > 0)
    text = g_strdup_printf (_("%u of %u files"), n_delivered, stats->n_jobs);
  gtk_progress_bar_set_text (self->progress_bar, text);

  if (run != NULL && run->cancel_us != 0)
    summary = g_strdup (_("Cancelling…"));
  else if (run != NULL)
    summary = g_strdup_printf (_("Hashing with up to %u workers…"), stats->max_workers);
  else if (stats->n_jobs > 0)
    summary = g_strdup_printf (_("%s: %u checked, %u failed, %u cancelled in %.2f s"),
                               stats->was_cancelled ? _("Cancelled") : _("Finished"),
                               stats->n_done, stats->n_failed, stats->n_cancelled,
                               stats->duration_us / (double) G_USEC_PER_SEC);
  else if (self->folder != NULL && self->list_cancellable == NULL)
    summary = g_strdup_printf (g_dngettext (NULL, "%u file", "%u files", n_files), n_files);
  else if (self->folder == NULL)
    summary = g_strdup (_("Open a folder to checksum its files"));

  if (summary != NULL)
    gtk_label_set_text (self->summary_label, summary);
}

static void
checksum_window_update_actions (ChecksumWindow *self)
{
  GAction *action;
  gboolean has_files = g_list_model_get_n_items (G_LIST_MODEL (self->files)) > 0;

  action = g_action_map_lookup_action (G_ACTION_MAP (self), "start");
  g_simple_action_set_enabled (G_SIMPLE_ACTION (action), self->run == NULL && has_files);
  action = g_action_map_lookup_action (G_ACTION_MAP (self), "cancel");
  g_simple_action_set_enabled (G_SIMPLE_ACTION (action),
                               self->run != NULL && self->run->cancel_us == 0);
  action = g_action_map_lookup_action (G_ACTION_MAP (self), "open");
  g_simple_action_set_enabled (G_SIMPLE_ACTION (action), self->run == NULL);
}

static void
open_response (GtkNativeDialog *dialog,
               int              response,
               gpointer         user_data)
{
  ChecksumWindow *self = user_data;

  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) folder = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));

      if (folder != NULL)
        checksum_window_open_folder (self, folder);
    }
  g_object_unref (dialog);
}

static void
open_activated (GSimpleAction *action,
                GVariant      *parameter,
                gpointer       user_data)
{
  ChecksumWindow *self = user_data;
  GtkFileChooserNative *dialog;

  dialog = gtk_file_chooser_native_new (_("Open Folder"), GTK_WINDOW (self),
                                        GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
                                        _("_Open"), _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (dialog), TRUE);
  g_signal_connect (dialog, "response", G_CALLBACK (open_response), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

static void
start_activated (GSimpleAction *action,
                 GVariant      *parameter,
                 gpointer       user_data)
{
  checksum_window_start (CHECKSUM_WINDOW (user_data));
}

static void
cancel_activated (GSimpleAction *action,
                  GVariant      *parameter,
                  gpointer       user_data)
{
  checksum_window_cancel (CHECKSUM_WINDOW (user_data));
}

static const GActionEntry win_entries[] = {
  { .name = "open", .activate = open_activated },
  { .name = "start", .activate = start_activated },
  { .name = "cancel", .activate = cancel_activated },
};

/* ------------------------------------------------------------------------ *
 * GObject
 * ------------------------------------------------------------------------ */

/* The window is closed (by the user, the window manager, or the
 * application): stop the work now. The window object itself may outlive
 * this (gtk_window_destroy() only drops GTK's own reference), and the run
 * still delivers its cancelled results to it; the application stays up
 * until it has. */
static gboolean
checksum_window_close_request (GtkWindow *window)
{
  ChecksumWindow *self = CHECKSUM_WINDOW (window);

  checksum_window_cancel (self);
  if (self->list_cancellable != NULL)
    g_cancellable_cancel (self->list_cancellable);

  return GTK_WINDOW_CLASS (checksum_window_parent_class)->close_request (window);
}

static void
checksum_window_dispose (GObject *object)
{
  ChecksumWindow *self = CHECKSUM_WINDOW (object);

  /* The window object goes; the run finishes without it (its results are
   * dropped), holding the application until it has. */
  if (self->run != NULL)
    {
      self->run->window = NULL;
      g_cancellable_cancel (self->run->cancellable);
      g_clear_pointer (&self->run, checksum_run_unref);
    }
  if (self->list_cancellable != NULL)
    g_cancellable_cancel (self->list_cancellable);
  g_clear_object (&self->list_cancellable);

  gtk_widget_dispose_template (GTK_WIDGET (self), CHECKSUM_TYPE_WINDOW);

  G_OBJECT_CLASS (checksum_window_parent_class)->dispose (object);
}

static void
checksum_window_finalize (GObject *object)
{
  ChecksumWindow *self = CHECKSUM_WINDOW (object);

  g_clear_object (&self->files);
  g_clear_object (&self->folder);
  /* Nothing of ours is running: every job held the window's run, and the
   * listing held the window itself. */
  g_clear_object (&self->context);

  G_OBJECT_CLASS (checksum_window_parent_class)->finalize (object);
}

static void
checksum_window_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  ChecksumWindow *self = CHECKSUM_WINDOW (object);

  switch (prop_id)
    {
    case PROP_RUNNING:
      g_value_set_boolean (value, self->run != NULL);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
checksum_window_class_init (ChecksumWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->dispose = checksum_window_dispose;
  object_class->finalize = checksum_window_finalize;
  object_class->get_property = checksum_window_get_property;
  window_class->close_request = checksum_window_close_request;

  properties[PROP_RUNNING] =
    g_param_spec_boolean ("running", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* The folder's files are in the list. */
  signals[FOLDER_LOADED] =
    g_signal_new ("folder-loaded", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  /* A worker's progress report was shown (on the main thread, while the
   * worker waits). */
  signals[PROGRESS] =
    g_signal_new ("progress", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  /* Every job of the run has delivered its result. */
  signals[RUN_FINISHED] =
    g_signal_new ("run-finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);

  /* The row type must exist before the template's list item factories
   * parse their expressions. */
  g_type_ensure (CHECKSUM_TYPE_FILE);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/syncify/Checksum/checksum-window.ui");
  gtk_widget_class_bind_template_child (widget_class, ChecksumWindow, column_view);
  gtk_widget_class_bind_template_child (widget_class, ChecksumWindow, progress_bar);
  gtk_widget_class_bind_template_child (widget_class, ChecksumWindow, summary_label);
  gtk_widget_class_bind_template_child (widget_class, ChecksumWindow, start_button);
  gtk_widget_class_bind_template_child (widget_class, ChecksumWindow, cancel_button);
}

static void
checksum_window_init (ChecksumWindow *self)
{
  g_autoptr(GtkNoSelection) selection = NULL;

  gtk_widget_init_template (GTK_WIDGET (self));

  self->main_thread = g_thread_self ();
  self->files = g_list_store_new (CHECKSUM_TYPE_FILE);
  selection = gtk_no_selection_new (G_LIST_MODEL (g_object_ref (self->files)));
  gtk_column_view_set_model (self->column_view, GTK_SELECTION_MODEL (selection));

  /* The workers of this window. The context wraps the main context of the
   * thread creating it, the default one (that is where results come back
   * and where invoke_sync (NULL, ...) pushes to). It is the window's own,
   * so its bound is ours to choose and does not change what
   * syncify_context_get_default() does for other code: hashing is CPU and
   * disk bound, so one reader per processor. */
  self->context = g_object_new (SYNCIFY_TYPE_CONTEXT,
                                "name", "checksum",
                                "main-context", g_main_context_default (),
                                "max-workers", g_get_num_processors (),
                                NULL);

  g_action_map_add_action_entries (G_ACTION_MAP (self), win_entries,
                                   G_N_ELEMENTS (win_entries), self);
  checksum_window_update_progress (self);
  checksum_window_update_actions (self);
}

ChecksumWindow *
checksum_window_new (GtkApplication *application)
{
  g_return_val_if_fail (GTK_IS_APPLICATION (application), NULL);

  return g_object_new (CHECKSUM_TYPE_WINDOW, "application", application, NULL);
}

GListModel *
checksum_window_get_files (ChecksumWindow *self)
{
  g_return_val_if_fail (CHECKSUM_IS_WINDOW (self), NULL);
  return G_LIST_MODEL (self->files);
}

gboolean
checksum_window_get_running (ChecksumWindow *self)
{
  g_return_val_if_fail (CHECKSUM_IS_WINDOW (self), FALSE);
  return self->run != NULL;
}

const ChecksumRunStats *
checksum_window_get_last_run (ChecksumWindow *self)
{
  g_return_val_if_fail (CHECKSUM_IS_WINDOW (self), NULL);
  return &self->last_run;
}

GtkWidget *
checksum_window_get_start_button (ChecksumWindow *self)
{
  g_return_val_if_fail (CHECKSUM_IS_WINDOW (self), NULL);
  return self->start_button;
}

GtkWidget *
checksum_window_get_cancel_button (ChecksumWindow *self)
{
  g_return_val_if_fail (CHECKSUM_IS_WINDOW (self), NULL);
  return self->cancel_button;
}
