/* flagship.c: a short tour of syncify-glib, run by `bash tests/run.sh demo`
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One program, five sections, one line per fact:
 *
 *  1. asyncify: blocking work goes to a worker, the result comes back to a
 *     callback on the main loop;
 *  2. syncify from a worker: the worker pushes an async operation to the
 *     main loop and waits for it;
 *  3. syncify from plain code: no loop anywhere, so the operation runs on
 *     the calling thread in a private, reused main context; what that costs
 *     per call, next to a hand-written fresh GMainContext per call;
 *  4. a background context: its own thread and loop, called synchronously
 *     from 4 threads and asynchronously with call_async from the main loop;
 *  5. a deadlock that would hang the program comes back as an error.
 *
 * It ends with "all done" when every fact checked out, and exits 0.
 */

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>

#include <syncify-glib/syncify-glib.h>

#define N_BENCH_CALLS  10000
#define N_BG_THREADS   4
#define N_BG_CALLS     50

static GThread   *main_thread;
static GMainLoop *loop;
static guint      failures;

/* ------------------------------------------------------------------------ */

static char *
describe_thread (void)
{
  char name[32] = { 0, };

  if (g_thread_self () == main_thread)
    return g_strdup ("the main thread");
  if (pthread_getname_np (pthread_self (), name, sizeof name) == 0 && name[0] != '\0')
    return g_strdup_printf ("thread \"%s\"", name);
  return g_strdup_printf ("thread %p", (gpointer) g_thread_self ());
}

static void
section (const char *title)
{
  g_print ("\n== %s\n", title);
}

static void G_GNUC_PRINTF (1, 2)
fact (const char *format,
      ...)
{
  g_autofree char *text = NULL;
  va_list args;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  g_print ("  - %s\n", text);
}

static void
check (gboolean    ok,
       const char *what)
{
  if (!ok)
    {
      g_print ("  !! unexpected: %s\n", what);
      failures++;
    }
}

/* ------------------------------------------------------------------------ *
 * An asynchronous operation: "where am I?", answered from a GTask
 * ------------------------------------------------------------------------ */

static void
where_start (gpointer             user_data,
             GCancellable        *cancellable,
             GAsyncReadyCallback  callback,
             gpointer             callback_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, callback_data);

  /* Returned at once; GTask still calls back from the next iteration of
   * the thread-default main context, like a real async operation. */
  g_task_return_pointer (task, describe_thread (), g_free);
}

static gpointer
where_finish (GObject       *source_object,
              GAsyncResult  *result,
              gpointer       user_data,
              GError       **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ------------------------------------------------------------------------ *
 * 1. asyncify
 * ------------------------------------------------------------------------ */

static gpointer
sum_numbers (gpointer       user_data,
             GCancellable  *cancellable,
             GError       **error)
{
  guint n = GPOINTER_TO_UINT (user_data);
  g_autofree char *where = describe_thread ();
  guint64 sum = 0;

  for (guint i = 1; i <= n; i++)
    sum += i;
  fact ("the worker adds up 1..%u on %s", n, where);
  return g_memdup2 (&sum, sizeof sum);
}

static void
sum_ready (GObject      *source_object,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree guint64 *sum = NULL;
  g_autofree char *where = describe_thread ();

  sum = syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result, &error);
  check (sum != NULL && *sum == 500000500000ULL, "the sum");
  check (g_thread_self () == main_thread, "the callback on the main thread");
  if (sum != NULL)
    fact ("the callback gets %" G_GUINT64_FORMAT " on %s", *sum, where);
  g_main_loop_quit (loop);
}

static void
tour_asyncify (void)
{
  section ("1. asyncify: blocking work off the main loop");

  syncify_context_asyncify (syncify_context_get_default (), SYNCIFY_FLAGS_NONE,
                            sum_numbers, GUINT_TO_POINTER (1000000), NULL, g_free,
                            NULL, sum_ready, NULL);
  fact ("the main loop keeps running while the worker computes");
  g_main_loop_run (loop);
}

/* ------------------------------------------------------------------------ *
 * 2. syncify from a worker: push
 * ------------------------------------------------------------------------ */

static gpointer
worker_asks_the_loop (gpointer       user_data,
                      GCancellable  *cancellable,
                      GError       **error)
{
  g_autofree char *where = describe_thread ();

  fact ("a worker on %s calls syncify() for an async operation", where);
  /* NULL: this worker's own context, which the main loop runs. */
  return syncify_context_syncify (NULL, SYNCIFY_FLAGS_NONE, where_start, where_finish,
                                  NULL, cancellable, error);
}

static void
worker_done (GObject      *source_object,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *ran_on = NULL;

  ran_on = syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result, &error);
  check (g_strcmp0 (ran_on, "the main thread") == 0, "the pushed operation on the main thread");
  if (ran_on != NULL)
    fact ("the operation ran on %s, inside the main loop; the worker waited for it", ran_on);
  else
    fact ("failed: %s", error->message);
  g_main_loop_quit (loop);
}

static void
tour_syncify_push (void)
{
  section ("2. syncify from a worker: the main loop runs the operation");

  syncify_context_asyncify (syncify_context_get_default (), SYNCIFY_FLAGS_NONE,
                            worker_asks_the_loop, NULL, NULL, g_free,
                            NULL, worker_done, NULL);
  g_main_loop_run (loop);
}

/* ------------------------------------------------------------------------ *
 * 3. syncify from plain code: the private path, and what it costs
 * ------------------------------------------------------------------------ */

static void
cheap_start (gpointer             user_data,
             GCancellable        *cancellable,
             GAsyncReadyCallback  callback,
             gpointer             callback_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, callback_data);

  g_task_return_pointer (task, GUINT_TO_POINTER (42), NULL);
}

typedef struct {
  gpointer result;
  gboolean done;
} HandWritten;

static void
hand_written_ready (GObject      *source_object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  HandWritten *hw = user_data;

  hw->result = g_task_propagate_pointer (G_TASK (result), NULL);
  hw->done = TRUE;
}

/* What programs write by hand: a fresh main context for every call. */
static gpointer
hand_written_sync_call (void)
{
  GMainContext *context = g_main_context_new ();
  HandWritten hw = { NULL, FALSE };

  g_main_context_push_thread_default (context);
  cheap_start (NULL, NULL, hand_written_ready, &hw);
  while (!hw.done)
    g_main_context_iteration (context, TRUE);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);

  return hw.result;
}

static void
tour_syncify_private (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *ran_on = NULL;
  gint64 start;
  gdouble syncify_us, hand_us;
  guint wrong = 0;

  section ("3. syncify from plain code: no loop anywhere");

  ran_on = syncify_context_syncify (NULL, SYNCIFY_FLAGS_NONE, where_start, where_finish,
                                    NULL, NULL, &error);
  check (g_error_matches (error, SYNCIFY_ERROR, SYNCIFY_ERROR_NOT_IN_WORKER),
         "NOT_IN_WORKER without the flag");
  fact ("without SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT it refuses: %s",
        error != NULL ? error->message : "(no error)");
  g_clear_error (&error);

  ran_on = syncify_context_syncify (NULL, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT,
                                    where_start, where_finish, NULL, NULL, &error);
  check (g_strcmp0 (ran_on, "the main thread") == 0, "the private path on the calling thread");
  fact ("with it, the operation runs on %s, in a private main context", ran_on);

  start = g_get_monotonic_time ();
  for (guint i = 0; i < N_BENCH_CALLS; i++)
    if (syncify_context_syncify (NULL, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT, cheap_start,
                                 where_finish, NULL, NULL, NULL) != GUINT_TO_POINTER (42))
      wrong++;
  syncify_us = (g_get_monotonic_time () - start) / (gdouble) N_BENCH_CALLS;

  start = g_get_monotonic_time ();
  for (guint i = 0; i < N_BENCH_CALLS; i++)
    if (hand_written_sync_call () != GUINT_TO_POINTER (42))
      wrong++;
  hand_us = (g_get_monotonic_time () - start) / (gdouble) N_BENCH_CALLS;

  check (wrong == 0, "every benchmarked call returned 42");
  fact ("%u calls: %.2f us each through syncify (one reused private context)",
        N_BENCH_CALLS, syncify_us);
  fact ("%u calls: %.2f us each with a fresh GMainContext per call, by hand",
        N_BENCH_CALLS, hand_us);
  fact ("the hand-written way costs %.1fx as much per call", hand_us / MAX (syncify_us, 0.001));
}

/* ------------------------------------------------------------------------ *
 * 4. a background context
 * ------------------------------------------------------------------------ */

typedef struct {
  SyncifyContext *bg;
  const char     *expected;
  gint            on_bg;   /* (atomic) */
} BgCallers;

static gpointer
bg_caller_thread (gpointer data)
{
  BgCallers *callers = data;

  for (guint i = 0; i < N_BG_CALLS; i++)
    {
      g_autofree char *ran_on = syncify_context_syncify (callers->bg, SYNCIFY_FLAGS_NONE,
                                                         where_start, where_finish,
                                                         NULL, NULL, NULL);
      if (g_strcmp0 (ran_on, callers->expected) == 0)
        g_atomic_int_inc (&callers->on_bg);
    }
  return NULL;
}

static void
call_async_done (GObject      *source_object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  const char *expected = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *ran_on = NULL;
  g_autofree char *where = describe_thread ();

  ran_on = syncify_context_call_finish (SYNCIFY_CONTEXT (source_object), result, &error);
  check (g_strcmp0 (ran_on, expected) == 0, "call_async ran on the background thread");
  check (g_thread_self () == main_thread, "call_async delivered to the main loop");
  fact ("call_async from the main loop: the operation ran on %s, the callback on %s",
        ran_on, where);
  g_main_loop_quit (loop);
}

static gpointer
describe_thread_func (gpointer       user_data,
                      GCancellable  *cancellable,
                      GError       **error)
{
  return describe_thread ();
}

static void
tour_background (SyncifyContext *bg)
{
  g_autofree char *bg_name = NULL;
  BgCallers callers = { bg, NULL, 0 };
  GThread *threads[N_BG_THREADS];

  section ("4. a background context: its own thread and loop");

  bg_name = syncify_context_invoke_sync (bg, describe_thread_func, NULL, NULL, NULL);
  fact ("context \"%s\" runs its loop on %s", syncify_context_get_name (bg), bg_name);

  callers.expected = bg_name;
  for (guint t = 0; t < N_BG_THREADS; t++)
    threads[t] = g_thread_new ("caller", bg_caller_thread, &callers);
  for (guint t = 0; t < N_BG_THREADS; t++)
    g_thread_join (threads[t]);
  check (g_atomic_int_get (&callers.on_bg) == N_BG_THREADS * N_BG_CALLS,
         "every synchronous call ran on the background thread");
  fact ("%d threads made %d synchronous calls; %d ran on %s",
        N_BG_THREADS, N_BG_THREADS * N_BG_CALLS, g_atomic_int_get (&callers.on_bg), bg_name);

  syncify_context_call_async (bg, where_start, where_finish, NULL, NULL, g_free,
                              NULL, call_async_done, bg_name);
  g_main_loop_run (loop);
}

/* ------------------------------------------------------------------------ *
 * 5. a deadlock, caught
 * ------------------------------------------------------------------------ */

static gpointer
nothing (gpointer       user_data,
         GCancellable  *cancellable,
         GError       **error)
{
  return NULL;
}

/* On the background thread, while the main thread waits for it. */
static gpointer
call_back_into_the_main_loop (gpointer       user_data,
                              GCancellable  *cancellable,
                              GError       **error)
{
  GError *local_error = NULL;

  syncify_context_invoke_sync (syncify_context_get_default (), nothing, NULL, NULL, &local_error);
  /* The GError itself is the answer. */
  return local_error;
}

static gboolean
ask_background_from_the_loop (gpointer user_data)
{
  SyncifyContext *bg = user_data;
  g_autoptr(GError) error = NULL;
  GError *inner;

  fact ("a main loop callback waits on \"%s\", which calls back into the main loop",
        syncify_context_get_name (bg));
  inner = syncify_context_invoke_sync (bg, call_back_into_the_main_loop, NULL, NULL, &error);
  check (error == NULL, "the outer call succeeded");
  check (g_error_matches (inner, SYNCIFY_ERROR, SYNCIFY_ERROR_WOULD_DEADLOCK),
         "WOULD_DEADLOCK");
  if (inner != NULL)
    fact ("instead of a hang: %s", inner->message);
  else
    fact ("no error came back");
  g_clear_error (&inner);

  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static void
tour_deadlock (SyncifyContext *bg)
{
  section ("5. a deadlock becomes an error");

  g_idle_add (ask_background_from_the_loop, bg);
  g_main_loop_run (loop);
}

/* ------------------------------------------------------------------------ */

int
main (void)
{
  SyncifyContext *bg;

  main_thread = g_thread_self ();
  loop = g_main_loop_new (NULL, FALSE);

  g_print ("syncify-glib %s: a tour\n", SYNCIFY_VERSION_S);

  tour_asyncify ();
  tour_syncify_push ();
  tour_syncify_private ();

  bg = syncify_context_new_thread ("flagship-bg");
  tour_background (bg);
  tour_deadlock (bg);
  syncify_context_shutdown (bg);
  g_object_unref (bg);

  g_main_loop_unref (loop);

  g_print ("\n");
  if (failures > 0)
    {
      g_print ("%u unexpected results\n", failures);
      return EXIT_FAILURE;
    }
  g_print ("all done\n");
  return EXIT_SUCCESS;
}
