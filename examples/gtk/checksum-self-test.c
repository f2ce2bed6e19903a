/* checksum-self-test.c: drives the window as a user would, and checks it
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Everything here runs on the main thread, from main-loop callbacks: the
 * self-test is one more user of the window, clicking its buttons with
 * gtk_widget_activate() and following its signals.
 *
 * 1. Open the folder; when listed, click Start.
 * 2. When the run finished, check every row: digest equal to the manifest's,
 *    or, for names the manifest lacks, an error message in the row.
 * 3. Click Start again, and Cancel after a few progress reports. When the
 *    run finished, check that it stopped: not every file done, no report
 *    shown after Cancel, no worker started after it (beyond those that were
 *    already taking their job), the rows that did finish correct.
 * 4. While both runs work, a 2 ms timeout and the frame clock record the
 *    longest gaps between their ticks: how long the main loop ever stalled.
 * 5. Save a PNG of the window after each run (its snapshot rendered to a
 *    texture), read the last one back, compare its size with the window's.
 * 6. Click Start a third time and close the window at the first progress
 *    report: the run is cancelled, the application stays up until every job
 *    has delivered its result, then exits by itself.
 *
 * Results go to stdout as "self-test: key=value" lines, failures as
 * "FAIL: ..." lines; the exit status is 0 only if nothing failed. A watchdog
 * ends the process if a step never completes.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gtk/gtk.h>

#include "checksum-file.h"
#include "checksum-self-test.h"

#define WATCHDOG_SECONDS      60
#define PROBE_INTERVAL_MS     2
#define CANCEL_AFTER_REPORTS  8
#define IDLE_MEASURE_MS       300
/* The only wall-clock bound asserted: generous on purpose. */
#define MAX_STALL_US          (2 * G_USEC_PER_SEC)

typedef enum {
  PHASE_LOADING,
  PHASE_IDLE,
  PHASE_RUN1,
  PHASE_SHOT1,
  PHASE_RUN2,
  PHASE_SHOT2,
  PHASE_RUN3,
  PHASE_CLOSING,
  PHASE_DONE,
} Phase;

typedef struct {
  gint64 last_us;
  gint64 max_gap_us;
  gint64 total_gap_us;
  guint  n_ticks;
} Probe;

typedef struct {
  ChecksumWindow *window;        /* (owned) */
  GFile          *folder;        /* (owned) */
  char           *screenshot;
  GHashTable     *expected;      /* name → digest */
  int            *exit_status;
  Phase           phase;
  guint           n_failures;
  guint           watchdog_id;

  /* Stall probes, while a run is active */
  gboolean        measuring;
  guint           probe_id;
  guint           tick_id;
  Probe           timeout_probe;
  Probe           frame_probe;

  guint           n_progress;    /* progress signals in the current run */
  guint           cancel_idle_id;
  gulong          after_paint_id;
  char           *shot_path;     /* the screenshot being taken */
  gint64          close_us;
  gboolean        run3_finished;
  gint64          max_stall_us;  /* MAX_STALL_US, times SYNCIFY_TEST_TIMEOUT_SCALE */
  GApplication   *application;   /* (owned) */
} SelfTest;

#define check(st, cond, ...) \
  G_STMT_START { \
    if (!(cond)) \
      { \
        g_autofree char *_msg = g_strdup_printf (__VA_ARGS__); \
        printf ("FAIL: %s (%s)\n", _msg, #cond); \
        fflush (stdout); \
        (st)->n_failures++; \
      } \
  } G_STMT_END

static void self_test_finish (SelfTest *st);
static void start_run        (SelfTest *st,
                              Phase     phase);

static const char *
phase_name (Phase phase)
{
  static const char *names[] = {
    "loading", "idle", "run1", "shot1", "run2", "shot2", "run3", "closing", "done"
  };
  return names[phase];
}

static gboolean
watchdog_fired (gpointer data)
{
  SelfTest *st = data;

  printf ("FAIL: watchdog: the %s step did not complete within %d s\n",
          phase_name (st->phase), WATCHDOG_SECONDS);
  fflush (stdout);
  exit (3);
  return G_SOURCE_REMOVE;
}

static gboolean
load_manifest (SelfTest    *st,
               const char  *path,
               GError     **error)
{
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;

  if (!g_file_get_contents (path, &contents, NULL, error))
    return FALSE;

  st->expected = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      /* sha256sum format: 64 hex digits, two spaces (or space, star), name */
      if (strlen (lines[i]) < 67)
        continue;
      g_hash_table_insert (st->expected,
                           g_strdup (lines[i] + 66),
                           g_strndup (lines[i], 64));
    }

  return TRUE;
}

/* ------------------------------------------------------------------------ *
 * Stall probes
 * ------------------------------------------------------------------------ */

static void
probe_tick (Probe  *probe,
            gint64  now)
{
  if (probe->last_us != 0)
    {
      gint64 gap = now - probe->last_us;

      probe->max_gap_us = MAX (probe->max_gap_us, gap);
      probe->total_gap_us += gap;
      probe->n_ticks++;
    }
  probe->last_us = now;
}

static gboolean
timeout_probe_cb (gpointer data)
{
  SelfTest *st = data;

  if (st->measuring)
    probe_tick (&st->timeout_probe, g_get_monotonic_time ());
  return G_SOURCE_CONTINUE;
}

static gboolean
frame_probe_cb (GtkWidget     *widget,
                GdkFrameClock *frame_clock,
                gpointer       data)
{
  SelfTest *st = data;

  if (st->measuring)
    probe_tick (&st->frame_probe, g_get_monotonic_time ());
  return G_SOURCE_CONTINUE;
}

static void
measure_start (SelfTest *st)
{
  memset (&st->timeout_probe, 0, sizeof st->timeout_probe);
  memset (&st->frame_probe, 0, sizeof st->frame_probe);
  st->measuring = TRUE;
  st->probe_id = g_timeout_add (PROBE_INTERVAL_MS, timeout_probe_cb, st);
  /* A tick callback also keeps the frame clock running every frame. */
  st->tick_id = gtk_widget_add_tick_callback (GTK_WIDGET (st->window), frame_probe_cb, st, NULL);
}

/* Threads of this process now; idle pool threads linger for seconds, so
 * right after a run this is about the most the run had. */
static guint
count_threads (void)
{
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return 0;
  line = strstr (status, "\nThreads:");
  return line != NULL ? (guint) g_ascii_strtoull (line + strlen ("\nThreads:"), NULL, 10) : 0;
}

static void
measure_stop (SelfTest   *st,
              const char *run)
{
  Probe *t = &st->timeout_probe;
  Probe *f = &st->frame_probe;

  st->measuring = FALSE;
  g_clear_handle_id (&st->probe_id, g_source_remove);
  if (st->tick_id != 0)
    gtk_widget_remove_tick_callback (GTK_WIDGET (st->window), st->tick_id);
  st->tick_id = 0;

  printf ("self-test: %s.threads=%u\n", run, count_threads ());
  printf ("self-test: %s.stall.timeout-max-ms=%.1f %s.stall.timeout-mean-ms=%.2f %s.stall.timeout-ticks=%u "
          "%s.stall.frame-max-ms=%.1f %s.stall.frame-mean-ms=%.1f %s.stall.frames=%u\n",
          run, t->max_gap_us / 1000.0,
          run, t->n_ticks ? t->total_gap_us / 1000.0 / t->n_ticks : 0.0,
          run, t->n_ticks,
          run, f->max_gap_us / 1000.0,
          run, f->n_ticks ? f->total_gap_us / 1000.0 / f->n_ticks : 0.0,
          run, f->n_ticks);

  check (st, t->n_ticks > 0 || st->phase != PHASE_RUN1, "%s: the timeout probe never ticked", run);
  /* The one wall-clock bound: a stall of seconds means the UI froze. */
  check (st, t->max_gap_us < st->max_stall_us, "%s: the main loop stalled %.1f ms",
         run, t->max_gap_us / 1000.0);
  check (st, f->max_gap_us < st->max_stall_us, "%s: no frame for %.1f ms",
         run, f->max_gap_us / 1000.0);
}

/* ------------------------------------------------------------------------ *
 * Checks
 * ------------------------------------------------------------------------ */

static void
print_stats (const char             *run,
             const ChecksumRunStats *stats)
{
  printf ("self-test: %s.jobs=%u %s.done=%u %s.failed=%u %s.cancelled=%u "
          "%s.reports=%u %s.reports-off-main=%u %s.reports-after-cancel=%u "
          "%s.max-workers=%u %s.started=%u %s.started-at-cancel=%u %s.running-at-cancel=%u "
          "%s.max-running=%u %s.max-reading=%u %s.interrupted=%u "
          "%s.duration-ms=%.1f %s.cancel-latency-ms=%.1f\n",
          run, stats->n_jobs, run, stats->n_done, run, stats->n_failed, run, stats->n_cancelled,
          run, stats->n_reports, run, stats->n_reports_off_main, run, stats->n_reports_after_cancel,
          run, stats->max_workers, run, stats->n_started, run, stats->n_started_at_cancel,
          run, stats->n_running_at_cancel,
          run, stats->max_running, run, stats->max_reading, run, stats->n_interrupted,
          run, stats->duration_us / 1000.0, run, stats->cancel_latency_us / 1000.0);
  fflush (stdout);
}

/* Checks every row against the manifest. In a cancelled run, rows may also
 * be cancelled, but those that finished must be right. */
static void
check_rows (SelfTest   *st,
            const char *run,
            gboolean    cancelled_run)
{
  GListModel *files = checksum_window_get_files (st->window);
  guint n_files = g_list_model_get_n_items (files);
  g_autoptr(GString) failed_names = g_string_new (NULL);
  guint n_verified = 0;

  for (guint i = 0; i < n_files; i++)
    {
      g_autoptr(ChecksumFile) file = g_list_model_get_item (files, i);
      const char *name = checksum_file_get_name (file);
      const char *expected = g_hash_table_lookup (st->expected, name);
      ChecksumStatus status = checksum_file_get_status (file);

      if (cancelled_run && status == CHECKSUM_STATUS_CANCELLED)
        continue;

      if (expected != NULL)
        {
          check (st, status == CHECKSUM_STATUS_DONE,
                 "%s: %s: status %d, message “%s”", run, name, status,
                 checksum_file_get_message (file));
          check (st, g_strcmp0 (checksum_file_get_checksum (file), expected) == 0,
                 "%s: %s: digest %s, expected %s", run, name,
                 checksum_file_get_checksum (file), expected);
          if (status == CHECKSUM_STATUS_DONE &&
              g_strcmp0 (checksum_file_get_checksum (file), expected) == 0)
            n_verified++;
        }
      else
        {
          /* Not in the manifest: the file cannot be hashed. */
          check (st, status == CHECKSUM_STATUS_FAILED,
                 "%s: %s should have failed, status %d", run, name, status);
          check (st, checksum_file_get_message (file) != NULL &&
                     checksum_file_get_message (file)[0] != '\0',
                 "%s: %s: no error message in the row", run, name);
          if (status == CHECKSUM_STATUS_FAILED)
            {
              g_string_append_printf (failed_names, "%s%s", failed_names->len ? "," : "", name);
              if (!cancelled_run)
                printf ("self-test: %s.error[%s]=%s\n", run, name, checksum_file_get_message (file));
            }
        }
    }

  printf ("self-test: %s.rows=%u %s.verified=%u %s.failed-names=%s\n",
          run, n_files, run, n_verified, run, failed_names->str);
  fflush (stdout);
}

/* max-workers bounds the workers that run at once. A worker waiting in
 * invoke_sync for the main thread does not count while it waits (so
 * max-running, which counts it, may be higher), but once it is back to
 * reading it does: max-reading, counted only outside invoke_sync, must stay
 * within the bound. */
static void
check_bound (SelfTest               *st,
             const char             *run,
             const ChecksumRunStats *stats)
{
  check (st, stats->max_reading <= stats->max_workers,
         "%s: %u workers were reading at once, with max-workers %u",
         run, stats->max_reading, stats->max_workers);
}

static void
check_run1 (SelfTest *st)
{
  const ChecksumRunStats *stats = checksum_window_get_last_run (st->window);
  guint n_files = g_list_model_get_n_items (checksum_window_get_files (st->window));

  print_stats ("run1", stats);
  check_rows (st, "run1", FALSE);

  check (st, stats->n_jobs == n_files, "run1: %u jobs for %u files", stats->n_jobs, n_files);
  check (st, !stats->was_cancelled, "run1 was cancelled");
  check (st, stats->n_cancelled == 0, "run1: %u cancelled", stats->n_cancelled);
  check (st, stats->n_done + stats->n_failed == n_files, "run1: %u + %u results for %u files",
         stats->n_done, stats->n_failed, n_files);
  check (st, stats->n_started == n_files, "run1: %u worker functions for %u files",
         stats->n_started, n_files);
  /* Each job reports once as it starts, then while it reads. */
  check (st, stats->n_reports >= n_files, "run1: %u progress reports for %u files",
         stats->n_reports, n_files);
  check (st, stats->n_reports_off_main == 0, "run1: %u progress reports ran off the main thread",
         stats->n_reports_off_main);
  check_bound (st, "run1", stats);
}

static void
check_run2 (SelfTest *st)
{
  const ChecksumRunStats *stats = checksum_window_get_last_run (st->window);
  guint n_files = g_list_model_get_n_items (checksum_window_get_files (st->window));
  guint started_after;

  print_stats ("run2", stats);
  check_rows (st, "run2", TRUE);

  started_after = stats->n_started - stats->n_started_at_cancel;
  printf ("self-test: run2.started-after-cancel=%u run2.never-started=%u\n",
          started_after, n_files - stats->n_started);

  check (st, stats->was_cancelled, "run2 was not cancelled");
  check (st, stats->n_done + stats->n_failed + stats->n_cancelled == n_files,
         "run2: %u results for %u files", stats->n_done + stats->n_failed + stats->n_cancelled, n_files);
  check (st, stats->n_cancelled > 0, "run2: nothing was cancelled");
  check (st, stats->n_done + stats->n_failed < n_files, "run2: every file finished anyway");
  /* Queued jobs never start. A job that a worker had just taken when
   * Cancel came may still enter its function: at most one per worker
   * slot. */
  check (st, started_after <= stats->max_workers,
         "run2: %u worker functions started after Cancel", started_after);
  /* A report queued for the main thread is dropped by Cancel. */
  check (st, stats->n_reports_after_cancel == 0,
         "run2: %u progress reports shown after Cancel", stats->n_reports_after_cancel);
  check (st, stats->n_reports_off_main == 0, "run2: %u progress reports ran off the main thread",
         stats->n_reports_off_main);
  check_bound (st, "run2", stats);
}

/* ------------------------------------------------------------------------ *
 * Screenshots
 * ------------------------------------------------------------------------ */

static gboolean
take_screenshot (gpointer data)
{
  SelfTest *st = data;
  GtkWidget *widget = GTK_WIDGET (st->window);
  int width = gtk_widget_get_width (widget);
  int height = gtk_widget_get_height (widget);
  g_autoptr(GdkPaintable) paintable = NULL;
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  GtkSnapshot *snapshot;
  GskRenderer *renderer;

  /* The window's own drawing, as a render node tree... */
  paintable = gtk_widget_paintable_new (widget);
  snapshot = gtk_snapshot_new ();
  gdk_paintable_snapshot (paintable, snapshot, width, height);
  node = gtk_snapshot_free_to_node (snapshot);
  check (st, node != NULL, "the window drew nothing");

  /* ...rendered by the window's renderer (cairo under the test) to a
   * texture, saved as PNG. */
  renderer = gtk_native_get_renderer (GTK_NATIVE (st->window));
  if (node != NULL && renderer != NULL)
    {
      texture = gsk_renderer_render_texture (renderer, node,
                                             &GRAPHENE_RECT_INIT (0, 0, width, height));
      check (st, gdk_texture_save_to_png (texture, st->shot_path),
             "could not save %s", st->shot_path);
    }

  if (st->phase == PHASE_SHOT1)
    {
      printf ("self-test: screenshot-run1=%s\n", st->shot_path);
      g_clear_pointer (&st->shot_path, g_free);
      start_run (st, PHASE_RUN2);
      return G_SOURCE_REMOVE;
    }

  /* The last one is read back and checked. */
  {
    g_autoptr(GdkTexture) reloaded = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *contents = NULL;
    gsize size = 0;

    printf ("self-test: window-size=%dx%d renderer=%s\n", width, height,
            G_OBJECT_TYPE_NAME (renderer));

    reloaded = gdk_texture_new_from_filename (st->shot_path, &error);
    check (st, reloaded != NULL, "could not read back %s: %s", st->shot_path,
           error ? error->message : "");
    if (reloaded != NULL)
      {
        g_file_get_contents (st->shot_path, &contents, &size, NULL);
        printf ("self-test: screenshot=%s screenshot-size=%dx%d screenshot-bytes=%" G_GSIZE_FORMAT "\n",
                st->shot_path, gdk_texture_get_width (reloaded), gdk_texture_get_height (reloaded),
                size);
        check (st, gdk_texture_get_width (reloaded) == width &&
                   gdk_texture_get_height (reloaded) == height,
               "screenshot %dx%d, window %dx%d",
               gdk_texture_get_width (reloaded), gdk_texture_get_height (reloaded), width, height);
        check (st, size > 0, "empty screenshot");
      }
  }

  g_clear_pointer (&st->shot_path, g_free);
  start_run (st, PHASE_RUN3);
  return G_SOURCE_REMOVE;
}

static void
after_paint (GdkFrameClock *frame_clock,
             gpointer       data)
{
  SelfTest *st = data;

  g_clear_signal_handler (&st->after_paint_id, frame_clock);
  /* The window is painted with the final state: shoot it from a fresh
   * main-loop iteration, outside the frame clock's paint cycle. */
  g_idle_add (take_screenshot, st);
}

static void
request_screenshot (SelfTest   *st,
                    Phase       phase,
                    const char *path)
{
  GdkFrameClock *frame_clock = gtk_widget_get_frame_clock (GTK_WIDGET (st->window));

  st->phase = phase;
  st->shot_path = g_strdup (path);
  st->after_paint_id = g_signal_connect (frame_clock, "after-paint", G_CALLBACK (after_paint), st);
  gtk_widget_queue_draw (GTK_WIDGET (st->window));
}

/* FILE.png → FILE-run1.png */
static char *
run1_screenshot_path (const char *path)
{
  if (g_str_has_suffix (path, ".png"))
    return g_strdup_printf ("%.*s-run1.png", (int) strlen (path) - 4, path);
  return g_strconcat (path, "-run1.png", NULL);
}

/* ------------------------------------------------------------------------ *
 * The steps
 * ------------------------------------------------------------------------ */

/* A click. (gtk_widget_activate() would be keyboard activation, which
 * animates the button and clicks 250 ms later.) */
static void
press (SelfTest  *st,
       GtkWidget *button)
{
  check (st, gtk_widget_is_sensitive (button), "the %s button is insensitive",
         gtk_button_get_label (GTK_BUTTON (button)));
  g_signal_emit_by_name (button, "clicked");
}

static gboolean
press_cancel (gpointer data)
{
  SelfTest *st = data;

  st->cancel_idle_id = 0;
  printf ("self-test: run2.cancel-after-reports=%u\n", st->n_progress);
  press (st, checksum_window_get_cancel_button (st->window));
  return G_SOURCE_REMOVE;
}

static gboolean
close_window (gpointer data)
{
  SelfTest *st = data;

  st->cancel_idle_id = 0;
  printf ("self-test: run3.close-after-reports=%u\n", st->n_progress);
  fflush (stdout);
  st->phase = PHASE_CLOSING;
  st->close_us = g_get_monotonic_time ();
  /* As the window manager's close button does. The run is cancelled and
   * still delivers to the window object (this test holds a reference to
   * it); then the application exits by itself. */
  gtk_window_close (GTK_WINDOW (st->window));
  check (st, !gtk_widget_get_visible (GTK_WIDGET (st->window)), "the window did not close");
  return G_SOURCE_REMOVE;
}

static void
on_progress (ChecksumWindow *window,
             gpointer        data)
{
  SelfTest *st = data;

  st->n_progress++;
  /* Click Cancel as a user would: from a main-loop dispatch of its own, at
   * the priority of input events, while workers keep reporting. */
  if (st->phase == PHASE_RUN2 && st->n_progress == CANCEL_AFTER_REPORTS)
    st->cancel_idle_id = g_idle_add_full (G_PRIORITY_DEFAULT, press_cancel, st, NULL);
  else if (st->phase == PHASE_RUN3 && st->n_progress == 1)
    st->cancel_idle_id = g_idle_add_full (G_PRIORITY_DEFAULT, close_window, st, NULL);
}

static void
start_run (SelfTest *st,
           Phase     phase)
{
  st->phase = phase;
  st->n_progress = 0;
  if (phase != PHASE_RUN3)
    measure_start (st);
  press (st, checksum_window_get_start_button (st->window));
  check (st, checksum_window_get_running (st->window), "Start did not start a run");
}

static void
on_run_finished (ChecksumWindow *window,
                 gpointer        data)
{
  SelfTest *st = data;
  g_autofree char *path = NULL;

  switch (st->phase)
    {
    case PHASE_RUN1:
      measure_stop (st, "run1");
      check_run1 (st);
      path = run1_screenshot_path (st->screenshot);
      request_screenshot (st, PHASE_SHOT1, path);
      break;

    case PHASE_RUN2:
      measure_stop (st, "run2");
      check (st, st->cancel_idle_id == 0, "run2 finished before Cancel was pressed");
      g_clear_handle_id (&st->cancel_idle_id, g_source_remove);
      check_run2 (st);
      request_screenshot (st, PHASE_SHOT2, st->screenshot);
      break;

    case PHASE_RUN3:
      check (st, FALSE, "run3 finished before the window was closed");
      g_clear_handle_id (&st->cancel_idle_id, g_source_remove);
      close_window (st);
      break;

    case PHASE_CLOSING:
      {
        const ChecksumRunStats *stats = checksum_window_get_last_run (st->window);
        guint n_files = g_list_model_get_n_items (checksum_window_get_files (st->window));

        st->run3_finished = TRUE;
        print_stats ("run3", stats);
        printf ("self-test: run3.finished-after-close-ms=%.1f\n",
                (g_get_monotonic_time () - st->close_us) / 1000.0);
        check (st, stats->was_cancelled, "closing the window did not cancel run3");
        printf ("self-test: run3.started-after-cancel=%u run3.never-started=%u\n",
                stats->n_started - stats->n_started_at_cancel, n_files - stats->n_started);
        check (st, stats->n_started - stats->n_started_at_cancel <= stats->max_workers,
               "run3: %u worker functions started after the window closed",
               stats->n_started - stats->n_started_at_cancel);
        check (st, stats->n_reports_after_cancel == 0,
               "run3: %u progress reports shown after the window closed",
               stats->n_reports_after_cancel);
        check_bound (st, "run3", stats);
      }
      break;

    case PHASE_LOADING:
    case PHASE_IDLE:
    case PHASE_SHOT1:
    case PHASE_SHOT2:
    case PHASE_DONE:
    default:
      check (st, FALSE, "a run finished during the %s step", phase_name (st->phase));
      break;
    }
}

static gboolean
idle_measured (gpointer data)
{
  SelfTest *st = data;

  /* The baseline: the same probes with the window idle. */
  measure_stop (st, "idle");
  start_run (st, PHASE_RUN1);
  return G_SOURCE_REMOVE;
}

static void
on_folder_loaded (ChecksumWindow *window,
                  gpointer        data)
{
  SelfTest *st = data;
  GListModel *files = checksum_window_get_files (window);

  printf ("self-test: listed=%u expected-digests=%u\n",
          g_list_model_get_n_items (files), g_hash_table_size (st->expected));
  check (st, g_list_model_get_n_items (files) > g_hash_table_size (st->expected),
         "the folder lists %u files for %u digests (and some failures)",
         g_list_model_get_n_items (files), g_hash_table_size (st->expected));

  if (st->phase == PHASE_LOADING)
    {
      st->phase = PHASE_IDLE;
      measure_start (st);
      g_timeout_add (IDLE_MEASURE_MS, idle_measured, st);
    }
}

/* The application is shutting down: the last window is gone and the last
 * run released its hold, which it does after its last job's callback. */
static void
on_shutdown (GApplication *application,
             gpointer      data)
{
  SelfTest *st = data;

  if (st->phase == PHASE_CLOSING)
    printf ("self-test: shutdown-after-close-ms=%.1f\n",
            (g_get_monotonic_time () - st->close_us) / 1000.0);
  check (st, st->phase == PHASE_CLOSING || st->phase == PHASE_DONE,
         "the application shut down during the %s step", phase_name (st->phase));
  check (st, st->phase != PHASE_CLOSING || st->run3_finished,
         "the application shut down before run3 delivered its results");
  self_test_finish (st);
}

static void
self_test_finish (SelfTest *st)
{
  gboolean closing = st->phase == PHASE_CLOSING;

  st->phase = PHASE_DONE;
  g_clear_handle_id (&st->watchdog_id, g_source_remove);

  printf ("self-test: result=%s failures=%u\n", st->n_failures == 0 ? "pass" : "FAIL", st->n_failures);
  fflush (stdout);
  *st->exit_status = st->n_failures == 0 ? 0 : 1;

  g_signal_handlers_disconnect_by_data (st->application, st);
  g_signal_handlers_disconnect_by_data (st->window, st);
  /* Only on an early failure is the window still there: destroying the last
   * window makes g_application_run() return. */
  if (!closing)
    gtk_window_destroy (GTK_WINDOW (st->window));

  g_clear_object (&st->window);
  g_clear_object (&st->application);
  g_clear_object (&st->folder);
  g_clear_pointer (&st->expected, g_hash_table_unref);
  g_clear_pointer (&st->screenshot, g_free);
  g_clear_pointer (&st->shot_path, g_free);
  g_free (st);
}

void
checksum_self_test_start (ChecksumWindow *window,
                          const char     *folder,
                          const char     *expect,
                          const char     *screenshot,
                          int            *exit_status)
{
  SelfTest *st = g_new0 (SelfTest, 1);
  g_autoptr(GError) error = NULL;
  const char *scale = g_getenv ("SYNCIFY_TEST_TIMEOUT_SCALE");

  st->window = g_object_ref (window);
  st->application = G_APPLICATION (g_object_ref (gtk_window_get_application (GTK_WINDOW (window))));
  st->folder = g_file_new_for_commandline_arg (folder);
  st->screenshot = g_strdup (screenshot);
  st->exit_status = exit_status;
  *exit_status = 1;   /* until the self-test passes */

  if (!load_manifest (st, expect, &error))
    {
      printf ("FAIL: cannot read the manifest: %s\n", error->message);
      st->n_failures++;
      /* Not from here: the caller is about to present the window. */
      g_idle_add_once ((GSourceOnceFunc) self_test_finish, st);
      return;
    }

  st->max_stall_us = MAX_STALL_US * (scale ? MAX (1, atoi (scale)) : 1);
  st->watchdog_id = g_timeout_add_seconds (WATCHDOG_SECONDS * (scale ? MAX (1, atoi (scale)) : 1),
                                           watchdog_fired, st);
  g_signal_connect (window, "folder-loaded", G_CALLBACK (on_folder_loaded), st);
  g_signal_connect (window, "progress", G_CALLBACK (on_progress), st);
  g_signal_connect (window, "run-finished", G_CALLBACK (on_run_finished), st);
  g_signal_connect (st->application, "shutdown", G_CALLBACK (on_shutdown), st);

  printf ("self-test: processors=%u gtk=%u.%u.%u renderer-env=%s backend-env=%s\n",
          g_get_num_processors (), gtk_get_major_version (), gtk_get_minor_version (),
          gtk_get_micro_version (), g_getenv ("GSK_RENDERER"), g_getenv ("GDK_BACKEND"));
  fflush (stdout);
  checksum_window_open_folder (window, st->folder);
}
