/* responsive-loop.c: a GTK-style main loop stays responsive while blocking
 * work runs, and the work reports its progress back to the loop.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A 10 ms timeout stands in for the frame clock of a UI and counts ticks.
 * Several asyncified jobs do blocking work in chunks (some CPU, some sleep);
 * after each chunk a job calls syncify_context_invoke_sync (NULL, ...), which
 * runs the progress update on the main thread, where UI state lives, and
 * waits for it. At the end the program prints how many ticks it saw, the
 * longest gap between two ticks, and the progress reports it received.
 *
 * Exit status 0 only if every progress report arrived on the main thread and
 * the ticks kept coming while the work ran. Pass --quick for a shorter run.
 */

#include <stdlib.h>
#include <string.h>

#include <syncify-glib/syncify-glib.h>

#define N_JOBS    3
#define CHUNK_US  (20 * 1000)

typedef struct {
  GThread   *main_thread;
  GMainLoop *loop;
  guint      chunks_per_job;

  /* Only touched on the main thread: that is the point. */
  guint      ticks;
  guint      ticks_during_work;
  gint64     last_tick_us;
  gint64     longest_gap_us;
  guint      progress[N_JOBS];
  guint      reports;
  guint      reports_off_main;
  guint      jobs_done;
  guint      jobs_failed;
} App;

typedef struct {
  App   *app;
  guint  job;
} Report;

static gboolean
tick (gpointer data)
{
  App *app = data;
  gint64 now = g_get_monotonic_time ();

  if (app->last_tick_us != 0)
    app->longest_gap_us = MAX (app->longest_gap_us, now - app->last_tick_us);
  app->last_tick_us = now;
  app->ticks++;
  if (app->jobs_done < N_JOBS)
    app->ticks_during_work++;

  return G_SOURCE_CONTINUE;
}

/* Runs on the main thread, called from a worker through invoke_sync. */
static gpointer
report_progress (gpointer       user_data,
                 GCancellable  *cancellable,
                 GError       **error)
{
  Report *report = user_data;
  App *app = report->app;
  guint done;

  if (g_thread_self () != app->main_thread)
    app->reports_off_main++;
  app->reports++;
  done = ++app->progress[report->job];

  if (done == app->chunks_per_job || done % MAX (1, app->chunks_per_job / 4) == 0)
    g_print ("  job %u: %3u%%  (after %u ticks)\n",
             report->job + 1, 100 * done / app->chunks_per_job, app->ticks);

  return NULL;
}

/* A chunk of blocking work: half busy CPU, half a blocking sleep. */
static void
work_chunk (void)
{
  gint64 until = g_get_monotonic_time () + CHUNK_US / 2;
  volatile guint64 x = 1;

  while (g_get_monotonic_time () < until)
    for (guint i = 0; i < 1000; i++)
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;

  g_usleep (CHUNK_US / 2);
}

/* Runs in a worker thread. */
static gpointer
job_func (gpointer       user_data,
          GCancellable  *cancellable,
          GError       **error)
{
  Report *report = user_data;

  for (guint i = 0; i < report->app->chunks_per_job; i++)
    {
      work_chunk ();
      /* NULL: the context this worker belongs to, run by the main loop. */
      syncify_context_invoke_sync (NULL, report_progress, report, cancellable, error);
      if (error != NULL && *error != NULL)
        return NULL;
    }

  return NULL;
}

static void
job_done (GObject      *source_object,
          GAsyncResult *result,
          gpointer      user_data)
{
  App *app = user_data;
  g_autoptr(GError) error = NULL;

  syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result, &error);
  if (error != NULL)
    {
      g_printerr ("a job failed: %s\n", error->message);
      app->jobs_failed++;
    }

  if (++app->jobs_done == N_JOBS)
    g_main_loop_quit (app->loop);
}

int
main (int    argc,
      char **argv)
{
  App app;
  Report reports[N_JOBS];
  guint tick_id;
  gboolean ok;

  memset (&app, 0, sizeof app);
  app.main_thread = g_thread_self ();
  app.loop = g_main_loop_new (NULL, FALSE);
  app.chunks_per_job = (argc > 1 && g_str_equal (argv[1], "--quick")) ? 5 : 25;

  g_print ("responsive loop: %u jobs x %u chunks of %d ms of blocking work\n",
           N_JOBS, app.chunks_per_job, CHUNK_US / 1000);

  tick_id = g_timeout_add (10, tick, &app);
  for (guint j = 0; j < N_JOBS; j++)
    {
      reports[j] = (Report) { &app, j };
      syncify_context_asyncify (syncify_context_get_default (), SYNCIFY_FLAGS_NONE,
                                job_func, &reports[j], NULL, NULL, NULL, job_done, &app);
    }

  g_main_loop_run (app.loop);
  g_source_remove (tick_id);

  g_print ("ticks observed: %u (%u while the work ran)\n", app.ticks, app.ticks_during_work);
  g_print ("longest gap between ticks: %.1f ms\n", app.longest_gap_us / 1000.0);
  g_print ("progress reports received: %u of %u, %u off the main thread\n",
           app.reports, N_JOBS * app.chunks_per_job, app.reports_off_main);

  ok = app.jobs_failed == 0 &&
       app.reports == N_JOBS * app.chunks_per_job &&
       app.reports_off_main == 0 &&
       app.ticks_during_work > 0;
  g_print ("%s\n", ok ? "the loop stayed responsive" : "FAILED");

  g_main_loop_unref (app.loop);
  return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
