/* test-guarantees.c: the promises that must hold in every loop idiom and
 * under faults (issue 9): work for a context runs on its owner's thread,
 * shutdown cancels what runs, no delivery to a background context is lost,
 * every cycle is found, and messages are valid UTF-8.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "test-util.h"

#include <string.h>

static GThread *main_thread;

/* Fewer rounds under valgrind and the sanitizers (they set a timeout scale
 * or SYNCIFY_TEST_QUICK); the full count otherwise. */
#define FEWER_WHEN (TEST_FEWER_WHEN_SCALED | TEST_FEWER_WHEN_QUICK)

/* ------------------------------------------------------------------------ *
 * Operations
 * ------------------------------------------------------------------------ */

/* The fake operations are test-util.h's test_op_*(). */

/* A plain function that records where it ran. */
static gpointer
record_thread_func (gpointer       user_data,
                    GCancellable  *cancellable,
                    GError       **error)
{
  GThread **thread = user_data;

  *thread = g_thread_self ();
  return NULL;
}

/* A function that waits on its cancellable (with the watchdog's bound). */
typedef struct {
  TestEvent     started;
  gboolean      saw_cancel;
  GThread      *thread;
} WaitCancelData;

static gpointer
wait_for_cancel_func (gpointer       user_data,
                      GCancellable  *cancellable,
                      GError       **error)
{
  WaitCancelData *wc = user_data;
  gint64 deadline = g_get_monotonic_time () + test_watchdog_bound_us ();

  wc->thread = g_thread_self ();
  g_assert_nonnull (cancellable);
  test_event_set (&wc->started);
  while (!g_cancellable_is_cancelled (cancellable))
    {
      if (g_get_monotonic_time () > deadline)
        g_error ("%s: the function's cancellable never fired", g_test_get_path ());
      g_usleep (1000);
    }
  wc->saw_cancel = TRUE;
  g_cancellable_set_error_if_cancelled (cancellable, error);
  return NULL;
}

/* ------------------------------------------------------------------------ *
 * §1: work for a context iterated by a thread runs on that thread, between
 * two of its iterations too
 * ------------------------------------------------------------------------ */

typedef enum {
  DRIVE_ITERATION_BLOCKING,     /* while (!done) g_main_context_iteration (NULL, TRUE) */
  DRIVE_ITERATION_NONBLOCKING,  /* while (!done) g_main_context_iteration (NULL, FALSE) */
  DRIVE_MAIN_LOOP,              /* g_main_loop_run () */
} Drive;

typedef struct {
  SyncifyContext *target;
  GThread        *owner;
  guint           rounds;
  gint            off_owner;      /* (atomic) work that ran on another thread */
  gint            not_in_worker;  /* (atomic) */
  gint            other_errors;   /* (atomic) */
  gint            done_threads;   /* (atomic) */
  gint            done;           /* (atomic) */
  gint            jobs_done;      /* (atomic) job callbacks that ran */
  GMainLoop      *loop;
  GThread       **threads;        /* 4 */
  SyncifyContext *other;
} OwnerRace;

static void
owner_race_rounds (OwnerRace *race)
{
  for (guint i = 0; i < race->rounds; i++)
    {
      g_autoptr(GError) error = NULL;

      if (i % 2 == 0)
        {
          GThread *ran_on = NULL;

          syncify_context_invoke_sync (race->target, record_thread_func, &ran_on,
                                       NULL, &error);
          if (error == NULL && ran_on != race->owner)
            g_atomic_int_inc (&race->off_owner);
        }
      else
        {
          TestOpThreads op = { NULL, };

          syncify_context_syncify (race->target, SYNCIFY_FLAGS_NONE,
                                   test_op_idle_threads_start, test_op_threads_finish, &op,
                                   NULL, &error);
          if (error == NULL &&
              (op.start_thread != race->owner || op.finish_thread != race->owner))
            g_atomic_int_inc (&race->off_owner);
        }

      if (g_error_matches (error, SYNCIFY_ERROR, SYNCIFY_ERROR_NOT_IN_WORKER))
        g_atomic_int_inc (&race->not_in_worker);
      else if (error != NULL)
        {
          g_test_message ("unexpected error: %s", error->message);
          g_atomic_int_inc (&race->other_errors);
        }
    }
}

static gpointer
owner_race_thread (gpointer data)
{
  OwnerRace *race = data;

  owner_race_rounds (race);
  if (g_atomic_int_add (&race->done_threads, 1) + 1 == 8)
    {
      g_atomic_int_set (&race->done, 1);
      g_main_context_wakeup (syncify_context_get_main_context (race->target));
      if (race->loop != NULL)
        test_loop_quit_later (race->loop);
    }
  return NULL;
}

/* A worker of another context calls into the target, as a plain thread does. */
static gpointer
owner_race_job (gpointer       user_data,
                GCancellable  *cancellable,
                GError       **error)
{
  owner_race_thread (user_data);
  return NULL;
}

static void
owner_race_job_done (GObject      *source_object,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  OwnerRace *race = user_data;
  g_autoptr(GError) error = NULL;

  syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result, &error);
  g_assert_no_error (error);
  g_atomic_int_inc (&race->jobs_done);
}

static gboolean
owner_race_start_cb (gpointer data)
{
  OwnerRace *race = data;

  for (guint i = 0; i < 4; i++)
    race->threads[i] = g_thread_new ("race-plain", owner_race_thread, race);
  syncify_context_set_max_workers (race->other, 4);
  for (guint i = 0; i < 4; i++)
    syncify_context_asyncify (race->other, SYNCIFY_FLAGS_NONE, owner_race_job, race, NULL,
                              NULL, NULL, owner_race_job_done, race);
  return G_SOURCE_REMOVE;
}

static void
test_owner_race (gconstpointer data)
{
  Drive drive = GPOINTER_TO_INT (data);
  OwnerRace race = { NULL, };
  g_autoptr(GMainContext) other_mc = g_main_context_new ();
  g_autoptr(SyncifyContext) other = syncify_context_new (other_mc);
  GThread *threads[4];

  test_watchdog_arm (g_test_get_path ());

  race.target = syncify_context_get_default ();
  race.owner = main_thread;
  race.rounds = test_scaled (FEWER_WHEN, 20000, 300);
  if (drive == DRIVE_MAIN_LOOP)
    race.loop = g_main_loop_new (NULL, FALSE);

  /* 4 plain threads and 4 workers of another context, started from the
   * loop once it runs (before its first iteration no thread owns the
   * context, and work for it runs inline). */
  race.threads = threads;
  race.other = other;
  g_idle_add (owner_race_start_cb, &race);

  switch (drive)
    {
    case DRIVE_ITERATION_BLOCKING:
      while (!g_atomic_int_get (&race.done))
        g_main_context_iteration (NULL, TRUE);
      break;
    case DRIVE_ITERATION_NONBLOCKING:
      while (!g_atomic_int_get (&race.done))
        g_main_context_iteration (NULL, FALSE);
      break;
    case DRIVE_MAIN_LOOP:
      g_main_loop_run (race.loop);
      break;
    }

  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);
  /* The jobs are done with @race once their callbacks ran. */
  test_iterate_until_count (NULL, &race.jobs_done, 4);
  g_clear_pointer (&race.loop, g_main_loop_unref);

  g_test_message ("%u calls: %d off the owner, %d NOT_IN_WORKER, %d other errors",
                  8 * race.rounds, race.off_owner, race.not_in_worker, race.other_errors);
  g_assert_cmpint (race.off_owner, ==, 0);
  g_assert_cmpint (race.not_in_worker, ==, 0);
  g_assert_cmpint (race.other_errors, ==, 0);
}

/* The owner is the thread that iterates the context, until it exits (then
 * work runs inline on the caller again) or another thread iterates it. */
static gpointer
iterate_once_thread (gpointer data)
{
  GMainContext *mc = data;

  g_main_context_push_thread_default (mc);
  g_main_context_iteration (mc, FALSE);
  g_main_context_pop_thread_default (mc);
  return NULL;
}

static void
test_owner_exit_forgets (void)
{
  g_autoptr(GMainContext) mc = g_main_context_new ();
  g_autoptr(SyncifyContext) context = syncify_context_new (mc);
  g_autoptr(GError) error = NULL;
  GThread *ran_on = NULL;
  GThread *iterator;

  test_watchdog_arm (g_test_get_path ());

  /* Never iterated: inline. */
  syncify_context_invoke_sync (context, record_thread_func, &ran_on, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (ran_on == main_thread);

  /* Iterated by a thread that then exits: inline again. */
  iterator = g_thread_new ("iterate-once", iterate_once_thread, mc);
  g_thread_join (iterator);
  ran_on = NULL;
  syncify_context_invoke_sync (context, record_thread_func, &ran_on, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (ran_on == main_thread);

  /* Iterated by this thread: it owns it between iterations; a syncify
   * without the flag says so. */
  g_main_context_iteration (mc, FALSE);
  g_assert_null (syncify_context_syncify (context, SYNCIFY_FLAGS_NONE,
                                          test_op_never_start, test_op_never_finish, NULL,
                                          NULL, &error));
  g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_NOT_IN_WORKER);
  g_assert_nonnull (strstr (error->message, "itself"));
}

/* A plain thread's call for a context that this thread owns waits for it
 * to iterate again, and runs here. */
typedef struct {
  SyncifyContext *context;
  GThread        *ran_on;
  GError         *error;
  gint            done;   /* (atomic) */
} PushData;

static gpointer
push_invoke_thread (gpointer data)
{
  PushData *pd = data;

  syncify_context_invoke_sync (pd->context, record_thread_func, &pd->ran_on, NULL, &pd->error);
  g_atomic_int_set (&pd->done, 1);
  g_main_context_wakeup (syncify_context_get_main_context (pd->context));
  return NULL;
}

static void
test_owner_between_iterations (void)
{
  g_autoptr(GMainContext) mc = g_main_context_new ();
  g_autoptr(SyncifyContext) context = syncify_context_new (mc);
  PushData pd = { context, };
  GThread *thread;

  test_watchdog_arm (g_test_get_path ());

  g_main_context_iteration (mc, FALSE);   /* this thread owns mc now */
  thread = g_thread_new ("push-invoke", push_invoke_thread, &pd);
  test_iterate_until (mc, &pd.done);
  g_thread_join (thread);
  g_assert_no_error (pd.error);
  g_assert_true (pd.ran_on == main_thread);
}

/* ------------------------------------------------------------------------ *
 * §2: shutdown cancels what runs on the context
 * ------------------------------------------------------------------------ */

typedef struct {
  SyncifyContext *context;
  WaitCancelData  wc;
  GCancellable   *cancellable;   /* the caller's, or NULL */
  GError         *error;
  gboolean        returned;
} InvokeCancelData;

static gpointer
invoke_wait_cancel_thread (gpointer data)
{
  InvokeCancelData *ic = data;

  syncify_context_invoke_sync (ic->context, wait_for_cancel_func, &ic->wc,
                               ic->cancellable, &ic->error);
  ic->returned = TRUE;
  return NULL;
}

static void
test_shutdown_cancels_invoke (gconstpointer data)
{
  gboolean with_cancellable = GPOINTER_TO_INT (data) & 1;
  gboolean by_unref = GPOINTER_TO_INT (data) & 2;
  InvokeCancelData ic = { NULL, };
  GThread *thread;

  test_watchdog_arm (g_test_get_path ());

  ic.context = syncify_context_new_thread ("shut-invoke");
  ic.cancellable = with_cancellable ? g_cancellable_new () : NULL;
  test_event_init (&ic.wc.started);

  thread = g_thread_new ("invoker", invoke_wait_cancel_thread, &ic);
  test_event_wait (&ic.wc.started, "the pushed function to start");
  g_assert_true (ic.wc.thread != main_thread);

  /* Returns once the function honoured the cancellation (the watchdog
   * would abort a shutdown that waited for it forever). */
  if (by_unref)
    g_clear_object (&ic.context);
  else
    syncify_context_shutdown (ic.context);
  g_assert_true (ic.wc.saw_cancel);

  g_thread_join (thread);
  g_assert_true (ic.returned);
  g_assert_error (ic.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  /* The caller's own cancellable is untouched. */
  if (ic.cancellable != NULL)
    g_assert_false (g_cancellable_is_cancelled (ic.cancellable));

  g_clear_error (&ic.error);
  g_clear_object (&ic.cancellable);
  if (ic.context != NULL)
    g_assert_finalize_object (ic.context);
  test_event_clear (&ic.wc.started);
}

/* The last reference on a context whose main context another thread runs
 * is dropped while that thread runs a pushed function or operation: the
 * shutdown cancels it, the context is finalized at once, and the owner
 * finishes the call without touching the freed context (AddressSanitizer
 * and valgrind would see it). Bits of @data: 1 the caller passes a
 * cancellable of its own, 2 a syncify operation instead of a function. */
typedef struct {
  GMainContext   *main_context;
  gint            quit;           /* (atomic) */
  TestEvent       running;
} LoopThread;

static gpointer
loop_thread_main (gpointer data)
{
  LoopThread *lt = data;

  g_main_context_push_thread_default (lt->main_context);
  /* The first iteration makes this thread the context's owner. */
  g_main_context_iteration (lt->main_context, FALSE);
  test_event_set (&lt->running);
  while (!g_atomic_int_get (&lt->quit))
    g_main_context_iteration (lt->main_context, TRUE);
  g_main_context_pop_thread_default (lt->main_context);
  return NULL;
}

typedef struct {
  SyncifyContext *context;        /* not owned */
  WaitCancelData  wc;
  GCancellable   *cancellable;
  gboolean        operation;
  GError         *error;
} LastUnrefData;

static void
signal_started_then_wait (gpointer             user_data,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             callback_data)
{
  LastUnrefData *lu = user_data;

  lu->wc.thread = g_thread_self ();
  test_event_set (&lu->wc.started);
  test_op_until_cancelled_start (NULL, cancellable, callback, callback_data);
}

static gpointer
last_unref_pusher (gpointer data)
{
  LastUnrefData *lu = data;

  if (lu->operation)
    syncify_context_syncify (lu->context, SYNCIFY_FLAGS_NONE, signal_started_then_wait,
                             test_op_finish, lu, lu->cancellable, &lu->error);
  else
    syncify_context_invoke_sync (lu->context, wait_for_cancel_func, &lu->wc,
                                 lu->cancellable, &lu->error);
  return NULL;
}

static void
test_last_unref_while_owner_runs (gconstpointer data)
{
  LoopThread lt = { NULL, };
  LastUnrefData lu = { NULL, };
  SyncifyContext *context;
  GThread *loop, *pusher;

  test_watchdog_arm (g_test_get_path ());

  lt.main_context = g_main_context_new ();
  test_event_init (&lt.running);
  test_event_init (&lu.wc.started);
  context = syncify_context_new (lt.main_context);
  loop = g_thread_new ("owner-loop", loop_thread_main, &lt);
  test_event_wait (&lt.running, "the loop thread to own the context");

  lu.context = context;
  lu.cancellable = (GPOINTER_TO_INT (data) & 1) ? g_cancellable_new () : NULL;
  lu.operation = (GPOINTER_TO_INT (data) & 2) != 0;
  pusher = g_thread_new ("pusher", last_unref_pusher, &lu);
  test_event_wait (&lu.wc.started, "the pushed work to start on the owner");
  g_assert_true (lu.wc.thread != g_thread_self ());

  /* The only reference: shutdown, cancel, finalize, while the owner is
   * still inside the call. */
  g_object_unref (context);

  g_thread_join (pusher);
  g_assert_error (lu.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  if (lu.cancellable != NULL)
    g_assert_false (g_cancellable_is_cancelled (lu.cancellable));

  g_atomic_int_set (&lt.quit, 1);
  g_main_context_wakeup (lt.main_context);
  g_thread_join (loop);

  g_clear_error (&lu.error);
  g_clear_object (&lu.cancellable);
  test_event_clear (&lu.wc.started);
  test_event_clear (&lt.running);
  g_main_context_unref (lt.main_context);
}

/* A context nobody runs: invoke_sync runs inline on the caller, and the
 * context's shutdown from another thread cancels it there too. */
static gpointer
shutdown_later_thread (gpointer data)
{
  InvokeCancelData *ic = data;

  test_event_wait (&ic->wc.started, "the inline function to start");
  syncify_context_shutdown (ic->context);
  return NULL;
}

static void
test_shutdown_cancels_inline (void)
{
  g_autoptr(GMainContext) mc = g_main_context_new ();
  InvokeCancelData ic = { NULL, };
  GThread *thread;

  test_watchdog_arm (g_test_get_path ());

  ic.context = syncify_context_new (mc);
  test_event_init (&ic.wc.started);
  thread = g_thread_new ("shutdown-later", shutdown_later_thread, &ic);
  syncify_context_invoke_sync (ic.context, wait_for_cancel_func, &ic.wc, NULL, &ic.error);
  g_thread_join (thread);
  g_assert_true (ic.wc.thread == main_thread);
  g_assert_true (ic.wc.saw_cancel);
  g_assert_error (ic.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&ic.error);
  g_assert_finalize_object (ic.context);
  test_event_clear (&ic.wc.started);
}

/* The private path runs the operation on the calling thread's private
 * context, not on the target's: start gets the caller's own cancellable,
 * and the target's shutdown meanwhile does not cancel it. */
typedef struct {
  SyncifyContext *context;
  GCancellable   *given;
} PrivateShutdown;

static void
private_shutdown_start (gpointer             user_data,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             callback_data)
{
  PrivateShutdown *ps = user_data;

  ps->given = cancellable;
  syncify_context_shutdown (ps->context);
  g_assert_false (g_cancellable_is_cancelled (cancellable));
  test_op_idle_start (NULL, cancellable, callback, callback_data);
}

static gpointer
private_shutdown_finish (GObject       *source_object,
                         GAsyncResult  *result,
                         gpointer       user_data,
                         GError       **error)
{
  g_task_propagate_boolean (G_TASK (result), error);
  return g_strdup ("done");
}

static void
test_shutdown_leaves_private (void)
{
  g_autoptr(GMainContext) mc = g_main_context_new ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  PrivateShutdown ps = { NULL, };
  g_autoptr(GError) error = NULL;
  g_autofree char *result = NULL;

  test_watchdog_arm (g_test_get_path ());

  ps.context = syncify_context_new (mc);
  result = syncify_context_syncify (ps.context, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT,
                                    private_shutdown_start, private_shutdown_finish, &ps,
                                    cancellable, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (result, ==, "done");
  g_assert_true (ps.given == cancellable);
  g_assert_finalize_object (ps.context);
}

/* ------------------------------------------------------------------------ *
 * §3: deliveries to a background context are never lost
 * ------------------------------------------------------------------------ */

typedef struct {
  SyncifyContext *bg;
  SyncifyContext *worker_context;  /* asyncify: the jobs' context */
  SyncifyContext *bg2;             /* call_async: the second background context */
  SyncifyFlags    flags;
  guint           n;
  gint            callbacks;       /* (atomic) */
  gint            destroyed;       /* (atomic) */
  gint            results_freed;   /* (atomic) */
  gint            started;         /* (atomic) */
  gint            on_bg_thread;    /* (atomic) callbacks that ran on bg's thread */
  GThread        *bg_thread;
} Deliveries;

static void
count_destroy (gpointer data)
{
  Deliveries *d = data;

  g_atomic_int_inc (&d->destroyed);
}

static void
count_result_free (gpointer data)
{
  Deliveries *d = data;

  g_atomic_int_inc (&d->results_freed);
}

static gpointer
job_wait_cancel (gpointer       user_data,
                 GCancellable  *cancellable,
                 GError       **error)
{
  Deliveries *d = user_data;
  gint64 deadline = g_get_monotonic_time () + test_watchdog_bound_us ();

  g_atomic_int_inc (&d->started);
  while (!g_cancellable_is_cancelled (cancellable))
    {
      if (g_get_monotonic_time () > deadline)
        g_error ("%s: the job's cancellable never fired", g_test_get_path ());
      g_usleep (1000);
    }
  /* A result that someone must free. */
  return d;
}

static void
delivered_cb (GObject      *source_object,
              GAsyncResult *result,
              gpointer      user_data)
{
  Deliveries *d = user_data;
  g_autoptr(GError) error = NULL;
  gpointer value;

  if (g_thread_self () == d->bg_thread)
    g_atomic_int_inc (&d->on_bg_thread);
  if (g_task_get_source_tag (G_TASK (result)) == syncify_context_asyncify)
    value = syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result, &error);
  else
    value = syncify_context_call_finish (SYNCIFY_CONTEXT (source_object), result, &error);
  if (value != NULL)
    count_result_free (value);
  g_atomic_int_inc (&d->callbacks);
}

static gpointer
start_deliveries_on_bg (gpointer       user_data,
                        GCancellable  *cancellable,
                        GError       **error)
{
  Deliveries *d = user_data;

  d->bg_thread = g_thread_self ();
  for (guint i = 0; i < d->n; i++)
    {
      if (d->bg2 != NULL)
        syncify_context_call_async (d->bg2, test_op_until_cancelled_start, test_op_finish,
                                    d, count_destroy, count_result_free, NULL,
                                    delivered_cb, d);
      else
        syncify_context_asyncify (d->worker_context, d->flags, job_wait_cancel,
                                  d, count_destroy, count_result_free, NULL,
                                  delivered_cb, d);
    }
  return NULL;
}

static void
test_deliveries (gconstpointer data)
{
  const char *what = data;
  Deliveries d = { NULL, };
  g_autoptr(GError) error = NULL;
  guint fds_before, threads_before;

  test_watchdog_arm (g_test_get_path ());

  /* GLib's own singletons (the default context, GTask's worker context)
   * first, so that the census below only sees what this test makes. */
  g_type_ensure (G_TYPE_TASK);
  (void) syncify_context_get_default ();
  fds_before = test_count_fds ();
  threads_before = test_count_other_threads ();

  d.n = 4;
  d.bg = syncify_context_new_thread ("deliver-to");
  if (g_str_equal (what, "call-async"))
    d.bg2 = syncify_context_new_thread ("deliver-from");
  else
    {
      GMainContext *mc = g_main_context_new ();

      d.worker_context = syncify_context_new (mc);
      g_main_context_unref (mc);
      if (g_str_equal (what, "asyncify-abandon"))
        d.flags = SYNCIFY_FLAGS_ABANDON_ON_CANCEL;
    }

  syncify_context_invoke_sync (d.bg, start_deliveries_on_bg, &d, NULL, &error);
  g_assert_no_error (error);

  /* Shut down while everything is in flight: each delivery is made on the
   * background thread before it stops. */
  if (d.bg2 == NULL)
    while ((guint) g_atomic_int_get (&d.started) < d.n)
      g_usleep (1000);
  g_assert_finalize_object (d.bg);

  g_assert_cmpint (d.callbacks, ==, d.n);
  g_assert_cmpint (d.on_bg_thread, ==, d.n);
  g_assert_cmpint (d.destroyed, ==, d.n);

  if (d.bg2 != NULL)
    g_assert_finalize_object (d.bg2);
  else
    {
      /* The late results of abandoned jobs are freed by their context's
       * shutdown at the latest. */
      g_assert_finalize_object (d.worker_context);
      g_assert_cmpint (d.results_freed, ==, d.n);
    }

  /* No thread, context or descriptor outlives the shutdown (the pool's
   * parked workers aside). */
  /* (Waits, with the watchdog's bound, for a descriptor another thread is
   * closing right now; says which ones it waits for.) */
  if (test_count_fds () > fds_before)
    test_list_fds ();
  while (test_count_fds () > fds_before)
    g_usleep (1000);
  /* A pool worker the test started may still be naming itself (it is not
   * counted once it has): wait for the census, with the watchdog's bound. */
  while (test_count_other_threads () > threads_before)
    g_usleep (1000);
}

/* ------------------------------------------------------------------------ *
 * §5: every cycle is found, whatever the number of other blocked threads
 * ------------------------------------------------------------------------ */

/* Dead ends: threads blocked pushing to a background context whose thread
 * is busy (not blocked in the library). */
typedef struct {
  SyncifyContext *sink;
  TestEvent       sink_started;
  TestEvent       release;
  gint            blocked;   /* (atomic) */
} DeadEnds;

static gpointer
sink_busy_func (gpointer       user_data,
                GCancellable  *cancellable,
                GError       **error)
{
  DeadEnds *de = user_data;

  test_event_set (&de->sink_started);
  test_event_wait (&de->release, "the dead ends to be released");
  return NULL;
}

static gpointer
noop_func (gpointer       user_data,
           GCancellable  *cancellable,
           GError       **error)
{
  return NULL;
}

static gpointer
dead_end_thread (gpointer data)
{
  DeadEnds *de = data;
  g_autoptr(GError) error = NULL;

  g_atomic_int_inc (&de->blocked);
  syncify_context_invoke_sync (de->sink, noop_func, NULL, NULL, &error);
  g_assert_no_error (error);
  return NULL;
}

static gpointer
sink_busy_thread (gpointer data)
{
  DeadEnds *de = data;
  g_autoptr(GError) error = NULL;

  syncify_context_invoke_sync (de->sink, sink_busy_func, de, NULL, &error);
  g_assert_no_error (error);
  return NULL;
}

/* A cycle through @n background contexts: bg[0]'s function pushes to
 * bg[1], …, bg[n-1]'s pushes back to bg[0]. */
typedef struct {
  SyncifyContext **bg;
  guint            n;
  guint            i;
  GError          *error;   /* the WOULD_DEADLOCK of the closing push */
} Cycle;

static gpointer
cycle_step (gpointer       user_data,
            GCancellable  *cancellable,
            GError       **error)
{
  Cycle *c = user_data;
  guint next = (c->i + 1) % c->n;
  g_autoptr(GError) local_error = NULL;

  if (next == 0)
    {
      syncify_context_invoke_sync (c->bg[0], noop_func, NULL, NULL, &c->error);
      return NULL;
    }
  c->i = next;
  syncify_context_invoke_sync (c->bg[next], cycle_step, c, NULL, &local_error);
  g_assert_no_error (local_error);
  return NULL;
}

static void
check_cycle (guint n)
{
  Cycle c = { NULL, };
  g_autoptr(GError) error = NULL;

  c.n = n;
  c.bg = g_new0 (SyncifyContext *, n);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *name = g_strdup_printf ("cyc%u-%u", n, i);

      c.bg[i] = syncify_context_new_thread (name);
    }

  syncify_context_invoke_sync (c.bg[0], cycle_step, &c, NULL, &error);
  g_assert_no_error (error);
  g_assert_error (c.error, SYNCIFY_ERROR, SYNCIFY_ERROR_WOULD_DEADLOCK);
  /* The message names every thread of the cycle. */
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *needle = g_strdup_printf ("\"cyc%u-%u\"", n, i);

      g_assert_nonnull (strstr (c.error->message, needle));
    }
  g_clear_error (&c.error);

  for (guint i = 0; i < n; i++)
    g_assert_finalize_object (c.bg[i]);
  g_free (c.bg);
}

static void
test_cycles_beside_dead_ends (void)
{
  DeadEnds de = { NULL, };
  guint n_dead = test_scaled (FEWER_WHEN, 1000, 100);
  guint lengths[] = { 2, 3, 4, 8, 16, 64 };
  GPtrArray *threads = g_ptr_array_new ();
  GThread *busy;

  test_watchdog_arm (g_test_get_path ());

  de.sink = syncify_context_new_thread ("sink");
  test_event_init (&de.sink_started);
  test_event_init (&de.release);
  busy = g_thread_new ("sink-busy", sink_busy_thread, &de);
  test_event_wait (&de.sink_started, "the sink to be busy");

  for (guint i = 0; i < n_dead; i++)
    g_ptr_array_add (threads, g_thread_new ("dead-end", dead_end_thread, &de));
  while ((guint) g_atomic_int_get (&de.blocked) < n_dead)
    g_usleep (1000);

  for (guint i = 0; i < G_N_ELEMENTS (lengths); i++)
    {
      if (lengths[i] > test_scaled (FEWER_WHEN, 64, 16))
        continue;
      check_cycle (lengths[i]);
    }

  test_event_set (&de.release);
  g_thread_join (busy);
  for (guint i = 0; i < threads->len; i++)
    g_thread_join (threads->pdata[i]);
  g_ptr_array_unref (threads);
  g_assert_finalize_object (de.sink);
  test_event_clear (&de.sink_started);
  test_event_clear (&de.release);
}

/* Dead ends the search must walk through: a thread ("fan-owner") iterating
 * its private context has many workers delivering to it, all blocked on a
 * sink but the last, which pushes to "fan-mid", whose function pushes back
 * to fan-owner. The search from fan-mid goes through fan-owner to every
 * worker (the dead ends first) before the one that closes the cycle. */
typedef struct {
  SyncifyContext *jobs;
  SyncifyContext *sink;
  SyncifyContext *owned;
  SyncifyContext *mid;
  guint           n_dead;
  gint            dead_blocked;  /* (atomic) */
  gint            finished;      /* (atomic) */
  GCancellable   *release;
  GError         *closing_error;
  GTask          *task;          /* (owned): the outer operation */
} FanOut;

static gpointer
fan_dead_job (gpointer       user_data,
              GCancellable  *cancellable,
              GError       **error)
{
  FanOut *fo = user_data;
  g_autoptr(GError) local_error = NULL;

  /* The sink starts the operation for us (so our slot is lent), and it
   * only ends when fo->release fires. */
  g_atomic_int_inc (&fo->dead_blocked);
  syncify_context_syncify (fo->sink, SYNCIFY_FLAGS_NONE, test_op_until_cancelled_start,
                           test_op_finish, NULL, fo->release, &local_error);
  g_assert_error (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  return NULL;
}

static gpointer
fan_mid_func (gpointer       user_data,
              GCancellable  *cancellable,
              GError       **error)
{
  FanOut *fo = user_data;

  syncify_context_invoke_sync (fo->owned, noop_func, NULL, NULL, &fo->closing_error);
  return NULL;
}

static gpointer
fan_closing_job (gpointer       user_data,
                 GCancellable  *cancellable,
                 GError       **error)
{
  FanOut *fo = user_data;

  g_autoptr(GError) local_error = NULL;

  while ((guint) g_atomic_int_get (&fo->dead_blocked) < fo->n_dead)
    g_usleep (1000);
  syncify_context_invoke_sync (fo->mid, fan_mid_func, fo, NULL, &local_error);
  g_assert_no_error (local_error);
  g_cancellable_cancel (fo->release);
  return NULL;
}

static void
fan_job_done (GObject      *source_object,
              GAsyncResult *result,
              gpointer      user_data)
{
  FanOut *fo = user_data;
  g_autoptr(GError) error = NULL;

  syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result, &error);
  g_assert_no_error (error);
  /* Completes the outer operation once every job delivered. */
  if ((guint) g_atomic_int_add (&fo->finished, 1) + 1 == fo->n_dead + 1)
    {
      g_task_return_boolean (fo->task, TRUE);
      g_clear_object (&fo->task);
    }
}

static void
fan_start (gpointer             user_data,
           GCancellable        *cancellable,
           GAsyncReadyCallback  callback,
           gpointer             callback_data)
{
  FanOut *fo = user_data;

  fo->task = g_task_new (NULL, cancellable, callback, callback_data);
  for (guint i = 0; i < fo->n_dead; i++)
    syncify_context_asyncify (fo->jobs, SYNCIFY_FLAGS_NONE, fan_dead_job, fo, NULL, NULL,
                              NULL, fan_job_done, fo);
  syncify_context_asyncify (fo->jobs, SYNCIFY_FLAGS_NONE, fan_closing_job, fo, NULL, NULL,
                            NULL, fan_job_done, fo);
}

static gpointer
fan_finish (GObject       *source_object,
            GAsyncResult  *result,
            gpointer       user_data,
            GError       **error)
{
  g_task_propagate_boolean (G_TASK (result), error);
  return NULL;
}

/* Runs on fo->owned's owner (a background thread): blocks in the private
 * path, which the closing job's push back closes into a cycle. */
static gpointer
fan_owner_func (gpointer       user_data,
                GCancellable  *cancellable,
                GError       **error)
{
  FanOut *fo = user_data;

  return syncify_context_syncify (NULL, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT,
                                  fan_start, fan_finish, fo, NULL, error);
}

static void
test_cycle_through_dead_ends (void)
{
  FanOut fo = { NULL, };
  g_autoptr(GMainContext) jobs_mc = g_main_context_new ();
  g_autoptr(GError) error = NULL;

  test_watchdog_arm (g_test_get_path ());

  /* Each dead end starts only once the previous one's operation started
   * (that is when a waiting worker lends its slot): a chain of thread
   * start-ups, slow on a loaded machine. 300 are plenty: the old search
   * missed the cycle from 62 on. */
  fo.n_dead = test_scaled (FEWER_WHEN, 300, 100);
  fo.jobs = syncify_context_new (jobs_mc);
  fo.sink = syncify_context_new_thread ("fan-sink");
  fo.owned = syncify_context_new_thread ("fan-owner");
  fo.mid = syncify_context_new_thread ("fan-mid");
  fo.release = g_cancellable_new ();

  syncify_context_invoke_sync (fo.owned, fan_owner_func, &fo, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (fo.finished, ==, fo.n_dead + 1);
  g_assert_error (fo.closing_error, SYNCIFY_ERROR, SYNCIFY_ERROR_WOULD_DEADLOCK);
  g_assert_nonnull (strstr (fo.closing_error->message, "\"fan-owner\""));
  g_assert_nonnull (strstr (fo.closing_error->message, "\"fan-mid\""));
  g_test_message ("%s", fo.closing_error->message);
  g_clear_error (&fo.closing_error);

  g_clear_object (&fo.release);
  g_assert_finalize_object (fo.owned);
  g_assert_finalize_object (fo.mid);
  g_assert_finalize_object (fo.sink);
  g_assert_finalize_object (fo.jobs);
}

/* ------------------------------------------------------------------------ *
 * §6: messages are valid UTF-8, whatever the names
 * ------------------------------------------------------------------------ */

static gpointer
not_in_worker_thread (gpointer data)
{
  GError **error = data;

  syncify_context_syncify (NULL, SYNCIFY_FLAGS_NONE, test_op_never_start, test_op_never_finish,
                           NULL, NULL, error);
  return NULL;
}

typedef struct {
  SyncifyContext *a;
  SyncifyContext *b;
  GError         *error;
} Pair;

static gpointer
push_back_to_a (gpointer       user_data,
                GCancellable  *cancellable,
                GError       **error)
{
  Pair *p = user_data;

  syncify_context_invoke_sync (p->a, noop_func, NULL, NULL, &p->error);
  return NULL;
}

static gpointer
push_to_b (gpointer       user_data,
           GCancellable  *cancellable,
           GError       **error)
{
  Pair *p = user_data;

  return syncify_context_invoke_sync (p->b, push_back_to_a, p, NULL, error);
}

static void
test_utf8_names (void)
{
  /* 40 two-byte letters: 80 bytes, cut by the library's 63-byte name
   * buffer and by the kernel's 15-byte thread names. */
  g_autoptr(GString) long_name = g_string_new (NULL);
  g_autoptr(GError) error = NULL;
  Pair p = { NULL, };
  GThread *thread;

  test_watchdog_arm (g_test_get_path ());

  for (guint i = 0; i < 40; i++)
    g_string_append (long_name, "ä");

  /* NOT_IN_WORKER from a thread whose OS name the kernel cut. */
  thread = g_thread_new (long_name->str, not_in_worker_thread, &error);
  g_thread_join (thread);
  g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_NOT_IN_WORKER);
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
  g_clear_error (&error);

  /* WOULD_DEADLOCK between two background contexts with long names. */
  p.a = syncify_context_new_thread (long_name->str);
  g_string_prepend (long_name, "ö");
  p.b = syncify_context_new_thread (long_name->str);
  syncify_context_invoke_sync (p.a, push_to_b, &p, NULL, &error);
  g_assert_no_error (error);
  g_assert_error (p.error, SYNCIFY_ERROR, SYNCIFY_ERROR_WOULD_DEADLOCK);
  g_test_message ("%s", p.error->message);
  g_assert_true (g_utf8_validate (p.error->message, -1, NULL));
  g_clear_error (&p.error);

  /* NOT_IN_WORKER on the owner of a context with a long name. */
  {
    g_autoptr(GMainContext) mc = g_main_context_new ();
    g_autoptr(SyncifyContext) named = g_object_new (SYNCIFY_TYPE_CONTEXT, "main-context", mc,
                                                    "name", long_name->str, NULL);

    g_main_context_iteration (mc, FALSE);
    syncify_context_syncify (named, SYNCIFY_FLAGS_NONE, test_op_never_start, test_op_never_finish,
                             NULL, NULL, &error);
    g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_NOT_IN_WORKER);
    g_assert_true (g_utf8_validate (error->message, -1, NULL));
    g_clear_error (&error);
  }

  g_assert_finalize_object (p.a);
  g_assert_finalize_object (p.b);
}

int
main (int    argc,
      char **argv)
{
  test_init (&argc, &argv);
  main_thread = g_thread_self ();

  g_test_add_data_func ("/syncify/guarantees/owner/iteration-blocking",
                        GINT_TO_POINTER (DRIVE_ITERATION_BLOCKING), test_owner_race);
  g_test_add_data_func ("/syncify/guarantees/owner/iteration-nonblocking",
                        GINT_TO_POINTER (DRIVE_ITERATION_NONBLOCKING), test_owner_race);
  g_test_add_data_func ("/syncify/guarantees/owner/main-loop",
                        GINT_TO_POINTER (DRIVE_MAIN_LOOP), test_owner_race);
  g_test_add_func ("/syncify/guarantees/owner/exit-forgets", test_owner_exit_forgets);
  g_test_add_func ("/syncify/guarantees/owner/between-iterations", test_owner_between_iterations);
  g_test_add_data_func ("/syncify/guarantees/shutdown/cancels-invoke",
                        GINT_TO_POINTER (0), test_shutdown_cancels_invoke);
  g_test_add_data_func ("/syncify/guarantees/shutdown/cancels-invoke-cancellable",
                        GINT_TO_POINTER (1), test_shutdown_cancels_invoke);
  g_test_add_data_func ("/syncify/guarantees/shutdown/last-unref-cancels-invoke",
                        GINT_TO_POINTER (2), test_shutdown_cancels_invoke);
  g_test_add_func ("/syncify/guarantees/shutdown/cancels-inline", test_shutdown_cancels_inline);
  g_test_add_data_func ("/syncify/guarantees/shutdown/last-unref-while-owner-runs/invoke",
                        GINT_TO_POINTER (0), test_last_unref_while_owner_runs);
  g_test_add_data_func ("/syncify/guarantees/shutdown/last-unref-while-owner-runs/invoke-cancellable",
                        GINT_TO_POINTER (1), test_last_unref_while_owner_runs);
  g_test_add_data_func ("/syncify/guarantees/shutdown/last-unref-while-owner-runs/syncify",
                        GINT_TO_POINTER (2), test_last_unref_while_owner_runs);
  g_test_add_data_func ("/syncify/guarantees/shutdown/last-unref-while-owner-runs/syncify-cancellable",
                        GINT_TO_POINTER (3), test_last_unref_while_owner_runs);
  g_test_add_func ("/syncify/guarantees/shutdown/leaves-private", test_shutdown_leaves_private);
  g_test_add_data_func ("/syncify/guarantees/delivery/asyncify", "asyncify", test_deliveries);
  g_test_add_data_func ("/syncify/guarantees/delivery/asyncify-abandon", "asyncify-abandon",
                        test_deliveries);
  g_test_add_data_func ("/syncify/guarantees/delivery/call-async", "call-async", test_deliveries);
  g_test_add_func ("/syncify/guarantees/deadlock/cycles-beside-dead-ends",
                   test_cycles_beside_dead_ends);
  g_test_add_func ("/syncify/guarantees/deadlock/cycle-through-dead-ends",
                   test_cycle_through_dead_ends);
  g_test_add_func ("/syncify/guarantees/messages/utf8-names", test_utf8_names);

  return g_test_run ();
}
