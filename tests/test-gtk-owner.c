/* test-gtk-owner.c: work for the default context runs on the GTK thread
 * while a GTK 4 window is driven by GTK 4's own idiom,
 *
 *   while (g_list_model_get_n_items (gtk_window_get_toplevels ()) > 0)
 *     g_main_context_iteration (NULL, TRUE);
 *
 * which releases the default context between two iterations (issue 9, §1).
 * 4 plain threads and 4 workers of another context make 20 000 calls each
 * (invoke_sync and syncify); none may run off the main thread or fail with
 * NOT_IN_WORKER. Runs on a real (virtual) display: xvfb-run.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "test-util.h"

#include <gtk/gtk.h>

#define N_THREADS 8

static GThread   *main_thread;
static GtkWidget *window;
static GtkWidget *label;

typedef struct {
  guint  rounds;
  gint   off_owner;      /* (atomic) */
  gint   not_in_worker;  /* (atomic) */
  gint   other_errors;   /* (atomic) */
  gint   done_threads;   /* (atomic) */
  gint   jobs_done;      /* (atomic) */
  GThread        **threads;   /* N_THREADS / 2 */
  SyncifyContext  *other;
} Race;

/* Runs on the owner: touches the window, as UI code does. */
static gpointer
touch_ui_func (gpointer       user_data,
               GCancellable  *cancellable,
               GError       **error)
{
  GThread **ran_on = user_data;

  *ran_on = g_thread_self ();
  if (*ran_on == main_thread)
    gtk_label_set_text (GTK_LABEL (label), "pushed");
  return NULL;
}

static gboolean
idle_done_cb (gpointer data)
{
  g_task_return_boolean (data, TRUE);
  return G_SOURCE_REMOVE;
}

typedef struct {
  GThread *start_thread;
  GThread *finish_thread;
} OpRecord;

static void
ui_op_start (gpointer             user_data,
             GCancellable        *cancellable,
             GAsyncReadyCallback  callback,
             gpointer             callback_data)
{
  OpRecord *rec = user_data;
  GTask *task = g_task_new (NULL, cancellable, callback, callback_data);

  rec->start_thread = g_thread_self ();
  g_idle_add_full (G_PRIORITY_DEFAULT, idle_done_cb, task, g_object_unref);
}

static gpointer
ui_op_finish (GObject       *source_object,
              GAsyncResult  *result,
              gpointer       user_data,
              GError       **error)
{
  OpRecord *rec = user_data;

  rec->finish_thread = g_thread_self ();
  g_task_propagate_boolean (G_TASK (result), error);
  return NULL;
}

static gboolean
close_window_cb (gpointer data)
{
  gtk_window_destroy (GTK_WINDOW (window));
  return G_SOURCE_REMOVE;
}

static gpointer
race_thread (gpointer data)
{
  Race *race = data;
  SyncifyContext *target = syncify_context_get_default ();

  for (guint i = 0; i < race->rounds; i++)
    {
      g_autoptr(GError) error = NULL;

      if (i % 2 == 0)
        {
          GThread *ran_on = NULL;

          syncify_context_invoke_sync (target, touch_ui_func, &ran_on, NULL, &error);
          if (error == NULL && ran_on != main_thread)
            g_atomic_int_inc (&race->off_owner);
        }
      else
        {
          OpRecord rec = { NULL, };

          syncify_context_syncify (target, SYNCIFY_FLAGS_NONE, ui_op_start, ui_op_finish,
                                   &rec, NULL, &error);
          if (error == NULL &&
              (rec.start_thread != main_thread || rec.finish_thread != main_thread))
            g_atomic_int_inc (&race->off_owner);
        }

      if (g_error_matches (error, SYNCIFY_ERROR, SYNCIFY_ERROR_NOT_IN_WORKER))
        g_atomic_int_inc (&race->not_in_worker);
      else if (error != NULL)
        {
          g_printerr ("unexpected error: %s\n", error->message);
          g_atomic_int_inc (&race->other_errors);
        }
    }

  if (g_atomic_int_add (&race->done_threads, 1) + 1 == N_THREADS)
    g_idle_add (close_window_cb, NULL);
  return NULL;
}

static gpointer
race_job (gpointer       user_data,
          GCancellable  *cancellable,
          GError       **error)
{
  race_thread (user_data);
  return NULL;
}

static void
race_job_done (GObject      *source_object,
               GAsyncResult *result,
               gpointer      user_data)
{
  Race *race = user_data;
  g_autoptr(GError) error = NULL;

  syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result, &error);
  g_assert_no_error (error);
  g_atomic_int_inc (&race->jobs_done);
}

static gboolean
race_start_cb (gpointer data)
{
  Race *race = data;

  for (guint i = 0; i < N_THREADS / 2; i++)
    race->threads[i] = g_thread_new ("gtk-race", race_thread, race);
  syncify_context_set_max_workers (race->other, N_THREADS / 2);
  for (guint i = 0; i < N_THREADS / 2; i++)
    syncify_context_asyncify (race->other, SYNCIFY_FLAGS_NONE, race_job, race, NULL, NULL,
                              NULL, race_job_done, race);
  return G_SOURCE_REMOVE;
}

static void
test_gtk_window_iteration (void)
{
  Race race = { 0, };
  g_autoptr(GMainContext) other_mc = g_main_context_new ();
  g_autoptr(SyncifyContext) other = syncify_context_new (other_mc);
  GThread *threads[N_THREADS / 2];

  race.rounds = test_scaled (TEST_FEWER_WHEN_SCALED, 20000, 300);

  window = gtk_window_new ();
  label = gtk_label_new ("waiting");
  gtk_window_set_child (GTK_WINDOW (window), label);
  gtk_window_present (GTK_WINDOW (window));

  /* Started from the loop once it runs, as an application starts work
   * from a signal handler. */
  race.threads = threads;
  race.other = other;
  g_idle_add (race_start_cb, &race);

  /* GTK 4's own loop idiom. */
  test_watchdog_arm ("the GTK window to close");
  while (g_list_model_get_n_items (gtk_window_get_toplevels ()) > 0)
    g_main_context_iteration (NULL, TRUE);

  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);
  test_iterate_until_count (NULL, &race.jobs_done, N_THREADS / 2);

  g_test_message ("%u calls: %d off the GTK thread, %d NOT_IN_WORKER, %d other errors",
                  N_THREADS * race.rounds, race.off_owner, race.not_in_worker,
                  race.other_errors);
  g_assert_cmpint (race.off_owner, ==, 0);
  g_assert_cmpint (race.not_in_worker, ==, 0);
  g_assert_cmpint (race.other_errors, ==, 0);
}

int
main (int    argc,
      char **argv)
{
  test_init (&argc, &argv);
  main_thread = g_thread_self ();
  gtk_init ();

  g_test_add_func ("/syncify/gtk/window-iteration", test_gtk_window_iteration);

  return g_test_run ();
}
