/* test-stress.c: many threads, many round trips, random cancellation and
 * shutdown under load
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * In the 'slow' suite. Every result of every call is checked; throughput is
 * printed with g_test_message() for information only, never asserted. Counts
 * are scaled down 20x under valgrind (SYNCIFY_UNDER_VALGRIND) and when
 * SYNCIFY_TEST_QUICK is set (for ThreadSanitizer runs).
 */

#include <string.h>

#include "test-util.h"

#define N_THREADS 8

static GThread *main_thread;

/* Where the counts are a twentieth (see above). */
#define FEWER_WHEN (TEST_FEWER_UNDER_VALGRIND | TEST_FEWER_WHEN_QUICK)

static void
report_rate (const char *what,
             guint       n,
             gint64      start_us)
{
  gdouble seconds = MAX ((g_get_monotonic_time () - start_us) / (gdouble) G_USEC_PER_SEC, 1e-6);

  g_test_message ("%s: %u in %.3f s, %.0f per second", what, n, seconds, n / seconds);
}

static gpointer
return_self_thread (gpointer       user_data,
                    GCancellable  *cancellable,
                    GError       **error)
{
  return g_thread_self ();
}

/* ------------------------------------------------------------------------ *
 * Tracked allocations: every one is created once and destroyed once
 * ------------------------------------------------------------------------ */

static gint tracked_created;     /* (atomic) */
static gint tracked_destroyed;   /* (atomic) */

typedef struct {
  guint value;
} Tracked;

static Tracked *
tracked_new (guint value)
{
  Tracked *t = g_new (Tracked, 1);

  t->value = value;
  g_atomic_int_inc (&tracked_created);
  return t;
}

static void
tracked_free (gpointer data)
{
  g_atomic_int_inc (&tracked_destroyed);
  g_free (data);
}

static void
tracked_reset (void)
{
  g_atomic_int_set (&tracked_created, 0);
  g_atomic_int_set (&tracked_destroyed, 0);
}

/* ------------------------------------------------------------------------ *
 * invoke_sync: N_THREADS x 10,000 round trips
 * ------------------------------------------------------------------------ */

typedef struct {
  SyncifyContext *context;
  GThread        *owner;        /* where the function must run */
  guint           index;
  guint           n;
  guint           value;        /* of the round trip in flight */
  guint           wrong_owner;  /* counted on the owner while the thread waits */
  guint           errors;
  GMainLoop      *quit_loop;    /* (nullable): quit by the last thread */
  gint           *remaining;    /* (atomic) (nullable) */
} Hammer;

static gpointer
double_plus_one (gpointer       user_data,
                 GCancellable  *cancellable,
                 GError       **error)
{
  Hammer *h = user_data;

  if (g_thread_self () != h->owner)
    h->wrong_owner++;
  return GUINT_TO_POINTER (h->value * 2 + 1);
}

static gpointer
invoke_hammer_thread (gpointer data)
{
  Hammer *h = data;

  for (guint i = 0; i < h->n; i++)
    {
      GError *error = NULL;
      gpointer result;

      h->value = h->index * h->n + i;
      result = syncify_context_invoke_sync (h->context, double_plus_one, h, NULL, &error);
      if (error != NULL || GPOINTER_TO_UINT (result) != h->value * 2 + 1)
        {
          if (error != NULL)
            g_printerr ("invoke_sync failed: %s\n", error->message);
          h->errors++;
          g_clear_error (&error);
        }
    }

  if (h->remaining != NULL && g_atomic_int_dec_and_test (h->remaining))
    g_main_loop_quit (h->quit_loop);

  return NULL;
}

static void
check_hammers (Hammer     *hammers,
               const char *what,
               gint64      start)
{
  guint total = 0;

  for (guint t = 0; t < N_THREADS; t++)
    {
      g_assert_cmpuint (hammers[t].errors, ==, 0);
      g_assert_cmpuint (hammers[t].wrong_owner, ==, 0);
      total += hammers[t].n;
    }
  report_rate (what, total, start);
}

static void
test_invoke_sync_background (void)
{
  SyncifyContext *bg = syncify_context_new_thread ("stress-bg");
  g_autoptr(GError) error = NULL;
  Hammer hammers[N_THREADS];
  GThread *threads[N_THREADS];
  GThread *owner;
  gint64 start;

  test_watchdog_arm (G_STRFUNC);

  owner = syncify_context_invoke_sync (bg, return_self_thread, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (owner != g_thread_self ());

  start = g_get_monotonic_time ();
  for (guint t = 0; t < N_THREADS; t++)
    {
      hammers[t] = (Hammer) { bg, owner, t, test_scaled (FEWER_WHEN, 10000, 500), 0, 0, 0, NULL, NULL };
      threads[t] = g_thread_new ("hammer", invoke_hammer_thread, &hammers[t]);
    }
  for (guint t = 0; t < N_THREADS; t++)
    g_thread_join (threads[t]);

  check_hammers (hammers, "invoke_sync round trips onto a background context", start);

  syncify_context_shutdown (bg);
  g_assert_finalize_object (bg);
}

typedef struct {
  Hammer  *hammers;
  GThread *threads[N_THREADS];
} HammerStart;

static gboolean
start_hammers_cb (gpointer data)
{
  HammerStart *hs = data;

  /* Started from inside the loop: the main thread owns the default context
   * from now until every thread is done. */
  for (guint t = 0; t < N_THREADS; t++)
    hs->threads[t] = g_thread_new ("hammer", invoke_hammer_thread, &hs->hammers[t]);
  return G_SOURCE_REMOVE;
}

static void
test_invoke_sync_main_loop (void)
{
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  SyncifyContext *context = syncify_context_get_default ();
  Hammer hammers[N_THREADS];
  HammerStart hs = { hammers, { NULL, } };
  gint remaining = N_THREADS;
  gint64 start;

  test_watchdog_arm (G_STRFUNC);

  for (guint t = 0; t < N_THREADS; t++)
    hammers[t] = (Hammer) { context, main_thread, t, test_scaled (FEWER_WHEN, 10000, 500), 0, 0, 0, loop, &remaining };

  start = g_get_monotonic_time ();
  g_idle_add (start_hammers_cb, &hs);
  g_main_loop_run (loop);
  for (guint t = 0; t < N_THREADS; t++)
    g_thread_join (hs.threads[t]);

  check_hammers (hammers, "invoke_sync round trips onto the main loop", start);
}

/* ------------------------------------------------------------------------ *
 * syncify of a GTask operation: N_THREADS x 2,000 round trips
 * ------------------------------------------------------------------------ */

typedef struct {
  GThread      *owner;           /* where start and finish must run */
  GMainContext *owner_context;   /* (nullable): NULL for the private path */
  GMainContext *seen_context;    /* the private path: the first one seen */
  guint         value;
  guint         wrong;
  guint         errors;
  guint         n;
  SyncifyContext *target;
  SyncifyFlags  flags;
} TaskHammer;

static void
task_hammer_check (TaskHammer *h)
{
  GMainContext *context = test_thread_default ();

  if (g_thread_self () != h->owner)
    h->wrong++;
  if (h->owner_context != NULL)
    {
      if (context != h->owner_context)
        h->wrong++;
    }
  else
    {
      /* Private: never the default context, and the same one every time. */
      if (h->seen_context == NULL)
        h->seen_context = context;
      if (context == g_main_context_default () || context != h->seen_context)
        h->wrong++;
    }
}

static void
task_op_start (gpointer             user_data,
               GCancellable        *cancellable,
               GAsyncReadyCallback  callback,
               gpointer             callback_data)
{
  TaskHammer *h = user_data;
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, callback_data);
  guint *box = g_new (guint, 1);

  task_hammer_check (h);
  g_task_set_source_tag (task, task_op_start);
  *box = h->value * 3 + 7;
  /* Returned at once, the GTask still delivers from an idle. */
  g_task_return_pointer (task, box, g_free);
}

static gpointer
task_op_finish (GObject       *source,
                GAsyncResult  *result,
                gpointer       user_data,
                GError       **error)
{
  task_hammer_check (user_data);
  g_assert_true (g_task_get_source_tag (G_TASK (result)) == task_op_start);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
task_hammer_run (TaskHammer *h,
                 guint       index)
{
  for (guint i = 0; i < h->n; i++)
    {
      GError *error = NULL;
      guint *box;

      h->value = index * h->n + i;
      box = syncify_context_syncify (h->target, h->flags, task_op_start, task_op_finish,
                                     h, NULL, &error);
      if (error != NULL || box == NULL || *box != h->value * 3 + 7)
        {
          if (error != NULL)
            g_printerr ("syncify failed: %s\n", error->message);
          h->errors++;
          g_clear_error (&error);
        }
      g_free (box);
    }
}

typedef struct {
  TaskHammer hammer;
  guint      index;
} TaskHammerJob;

static gpointer
task_hammer_worker (gpointer       user_data,
                    GCancellable  *cancellable,
                    GError       **error)
{
  TaskHammerJob *job = user_data;

  task_hammer_run (&job->hammer, job->index);
  return NULL;
}

static gpointer
task_hammer_thread (gpointer data)
{
  TaskHammerJob *job = data;

  if (job->hammer.owner == NULL)
    job->hammer.owner = g_thread_self ();
  task_hammer_run (&job->hammer, job->index);
  return NULL;
}

static void
check_task_hammers (TaskHammerJob *jobs,
                    const char    *what,
                    gint64         start)
{
  guint total = 0;

  for (guint t = 0; t < N_THREADS; t++)
    {
      g_assert_cmpuint (jobs[t].hammer.errors, ==, 0);
      g_assert_cmpuint (jobs[t].hammer.wrong, ==, 0);
      total += jobs[t].hammer.n;
    }
  report_rate (what, total, start);
}

static void
count_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      data)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (g_thread_self () == main_thread);
  g_assert_null (syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source), result, &error));
  g_assert_no_error (error);
  g_atomic_int_inc ((gint *) data);
}

static void
test_syncify_gtask_workers (void)
{
  SyncifyContext *context = syncify_context_get_default ();
  TaskHammerJob jobs[N_THREADS];
  gint done = 0;
  gint64 start;

  test_watchdog_arm (G_STRFUNC);

  start = g_get_monotonic_time ();
  for (guint t = 0; t < N_THREADS; t++)
    {
      memset (&jobs[t], 0, sizeof jobs[t]);
      jobs[t].index = t;
      jobs[t].hammer.owner = main_thread;
      jobs[t].hammer.owner_context = g_main_context_default ();
      jobs[t].hammer.n = test_scaled (FEWER_WHEN, 2000, 100);
      jobs[t].hammer.target = NULL;   /* the worker's own context */
      jobs[t].hammer.flags = SYNCIFY_FLAGS_NONE;
      syncify_context_asyncify (context, SYNCIFY_FLAGS_NONE, task_hammer_worker,
                                &jobs[t], NULL, NULL, NULL, count_done_cb, &done);
    }
  test_iterate_until_count (NULL, &done, N_THREADS);

  check_task_hammers (jobs, "syncify round trips of a GTask, workers to the main loop", start);
}

static void
test_syncify_gtask_background (void)
{
  SyncifyContext *bg = syncify_context_new_thread ("stress-gtask");
  g_autoptr(GError) error = NULL;
  TaskHammerJob jobs[N_THREADS];
  GThread *threads[N_THREADS];
  GThread *owner;
  gint64 start;

  test_watchdog_arm (G_STRFUNC);

  owner = syncify_context_invoke_sync (bg, return_self_thread, NULL, NULL, &error);
  g_assert_no_error (error);

  start = g_get_monotonic_time ();
  for (guint t = 0; t < N_THREADS; t++)
    {
      memset (&jobs[t], 0, sizeof jobs[t]);
      jobs[t].index = t;
      jobs[t].hammer.owner = owner;
      jobs[t].hammer.owner_context = syncify_context_get_main_context (bg);
      jobs[t].hammer.n = test_scaled (FEWER_WHEN, 2000, 100);
      jobs[t].hammer.target = bg;
      jobs[t].hammer.flags = SYNCIFY_FLAGS_NONE;
      threads[t] = g_thread_new ("gtask-hammer", task_hammer_thread, &jobs[t]);
    }
  for (guint t = 0; t < N_THREADS; t++)
    g_thread_join (threads[t]);

  check_task_hammers (jobs, "syncify round trips of a GTask onto a background context", start);

  syncify_context_shutdown (bg);
  g_assert_finalize_object (bg);
}

static void
test_syncify_gtask_private (void)
{
  TaskHammerJob jobs[N_THREADS];
  GThread *threads[N_THREADS];
  gint64 start;

  test_watchdog_arm (G_STRFUNC);

  start = g_get_monotonic_time ();
  for (guint t = 0; t < N_THREADS; t++)
    {
      memset (&jobs[t], 0, sizeof jobs[t]);
      jobs[t].index = t;
      jobs[t].hammer.owner = NULL;           /* the thread itself */
      jobs[t].hammer.owner_context = NULL;   /* its private context */
      jobs[t].hammer.n = test_scaled (FEWER_WHEN, 2000, 100);
      jobs[t].hammer.target = NULL;
      jobs[t].hammer.flags = SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT;
      threads[t] = g_thread_new ("gtask-private", task_hammer_thread, &jobs[t]);
    }
  for (guint t = 0; t < N_THREADS; t++)
    g_thread_join (threads[t]);

  check_task_hammers (jobs, "syncify calls of a GTask on the private path", start);
}

/* ------------------------------------------------------------------------ *
 * asyncify: a burst of 50,000 trivial jobs
 * ------------------------------------------------------------------------ */

typedef struct {
  guint8 *seen;
  guint   n;
  gint    completed;   /* (atomic) */
  gint    destroyed;   /* (atomic) */
  gint    bad;         /* main thread only */
} Burst;

static Burst *burst;

static gpointer
burst_func (gpointer       user_data,
            GCancellable  *cancellable,
            GError       **error)
{
  return GUINT_TO_POINTER (GPOINTER_TO_UINT (user_data) + 1);
}

static void
burst_destroy (gpointer data)
{
  g_atomic_int_inc (&burst->destroyed);
}

static void
burst_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      data)
{
  guint index = GPOINTER_TO_UINT (data);
  GError *error = NULL;
  gpointer value;

  value = syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source), result, &error);
  if (error != NULL || GPOINTER_TO_UINT (value) != index + 1 ||
      g_thread_self () != main_thread || index >= burst->n)
    burst->bad++;
  else
    burst->seen[index]++;
  g_clear_error (&error);
  g_atomic_int_inc (&burst->completed);
}

static void
test_asyncify_burst (void)
{
  SyncifyContext *context = syncify_context_get_default ();
  Burst b = { NULL, };
  gint64 start;

  test_watchdog_arm (G_STRFUNC);

  b.n = test_scaled (FEWER_WHEN, 50000, 2500);
  b.seen = g_new0 (guint8, b.n);
  burst = &b;

  start = g_get_monotonic_time ();
  for (guint i = 0; i < b.n; i++)
    syncify_context_asyncify (context, SYNCIFY_FLAGS_NONE, burst_func,
                              GUINT_TO_POINTER (i), burst_destroy, NULL, NULL,
                              burst_done_cb, GUINT_TO_POINTER (i));
  test_iterate_until_count (NULL, &b.completed, b.n);
  report_rate ("asyncify jobs completed in a burst", b.n, start);

  g_assert_cmpint (b.bad, ==, 0);
  for (guint i = 0; i < b.n; i++)
    g_assert_cmpuint (b.seen[i], ==, 1);
  /* user_data_destroy ran once per job, before its callback. */
  g_assert_cmpint (g_atomic_int_get (&b.destroyed), ==, (gint) b.n);

  /* Nothing more arrives. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpint (g_atomic_int_get (&b.completed), ==, (gint) b.n);

  burst = NULL;
  g_free (b.seen);
}

/* ------------------------------------------------------------------------ *
 * Random cancellation at every step
 * ------------------------------------------------------------------------ */

/* A canceller thread per caller, to cancel while the caller is blocked. Its
 * queue is a GMutex, a GCond and a GQueue rather than a GAsyncQueue, so that
 * ThreadSanitizer builds (which annotate GMutex and GCond) see the hand-off. */
typedef struct {
  GCancellable *cancellable;   /* (owned) (nullable): NULL ends the thread */
  gulong        delay_us;
} CancelRequest;

typedef struct {
  GMutex  lock;
  GCond   cond;
  GQueue  requests;   /* CancelRequest; protected by @lock */
} Canceller;

static gpointer
canceller_thread (gpointer data)
{
  Canceller *canceller = data;

  for (;;)
    {
      CancelRequest *req;
      GCancellable *cancellable;

      g_mutex_lock (&canceller->lock);
      while (g_queue_is_empty (&canceller->requests))
        g_cond_wait (&canceller->cond, &canceller->lock);
      req = g_queue_pop_head (&canceller->requests);
      g_mutex_unlock (&canceller->lock);

      cancellable = req->cancellable;
      if (cancellable == NULL)
        {
          g_free (req);
          break;
        }
      if (req->delay_us > 0)
        g_usleep (req->delay_us);
      g_cancellable_cancel (cancellable);
      g_object_unref (cancellable);
      g_free (req);
    }

  return NULL;
}

static void
cancel_later (Canceller    *canceller,
              GCancellable *cancellable,
              gulong        delay_us)
{
  CancelRequest *req = g_new0 (CancelRequest, 1);

  req->cancellable = cancellable != NULL ? g_object_ref (cancellable) : NULL;
  req->delay_us = delay_us;
  g_mutex_lock (&canceller->lock);
  g_queue_push_tail (&canceller->requests, req);
  g_cond_signal (&canceller->cond);
  g_mutex_unlock (&canceller->lock);
}

enum {
  POINT_NEVER,
  POINT_BEFORE,    /* before the call */
  POINT_INSIDE,    /* from inside the operation (start, func or the worker) */
  POINT_RACE,      /* from another thread, a random moment later */
  POINT_AFTER,     /* asyncify only: right after the call returned */
  N_POINTS
};

/* The delayed operation: completes after a timeout unless cancelled first;
 * the value is a Tracked allocation, freed by GTask if nobody claims it. */
typedef struct {
  GTask   *task;       /* not owned: the sources hold it */
  GSource *timeout;    /* (owned) */
  GSource *cancelled;  /* (owned) (nullable) */
  guint    value;
} DelayState;

static void
delay_state_free (gpointer data)
{
  DelayState *ds = data;

  g_source_destroy (ds->timeout);
  g_source_unref (ds->timeout);
  if (ds->cancelled != NULL)
    {
      g_source_destroy (ds->cancelled);
      g_source_unref (ds->cancelled);
    }
  g_free (ds);
}

static gboolean
delay_timeout_cb (gpointer data)
{
  GTask *task = data;
  DelayState *ds = g_task_get_task_data (task);

  /* Both sources run on this thread: the other one never will now. */
  if (ds->cancelled != NULL)
    g_source_destroy (ds->cancelled);
  g_task_return_pointer (task, tracked_new (ds->value), tracked_free);
  return G_SOURCE_REMOVE;
}

static gboolean
delay_cancelled_cb (GCancellable *cancellable,
                    gpointer      data)
{
  GTask *task = data;
  DelayState *ds = g_task_get_task_data (task);

  g_source_destroy (ds->timeout);
  g_task_return_error_if_cancelled (task);
  return G_SOURCE_REMOVE;
}

typedef struct {
  GCancellable *mine;       /* the caller's own cancellable */
  guint         value;
  guint         delay_ms;
  gboolean      cancel_inside;
  gboolean      honour;     /* FALSE: complete whatever happens */
} DelayOp;

static void
delay_start (gpointer             user_data,
             GCancellable        *cancellable,
             GAsyncReadyCallback  callback,
             gpointer             callback_data)
{
  DelayOp *op = user_data;
  GTask *task = g_task_new (NULL, cancellable, callback, callback_data);
  DelayState *ds = g_new0 (DelayState, 1);

  ds->task = task;
  ds->value = op->value;
  g_task_set_task_data (task, ds, delay_state_free);
  g_task_set_check_cancellable (task, op->honour);

  ds->timeout = g_timeout_source_new (op->delay_ms);
  g_source_set_callback (ds->timeout, delay_timeout_cb, g_object_ref (task), g_object_unref);
  g_source_attach (ds->timeout, test_thread_default ());

  if (op->honour && cancellable != NULL)
    {
      ds->cancelled = g_cancellable_source_new (cancellable);
      g_source_set_callback (ds->cancelled, G_SOURCE_FUNC (delay_cancelled_cb),
                             g_object_ref (task), g_object_unref);
      g_source_attach (ds->cancelled, test_thread_default ());
    }

  if (op->cancel_inside)
    g_cancellable_cancel (op->mine);

  g_object_unref (task);
}

static gpointer
delay_finish (GObject       *source,
              GAsyncResult  *result,
              gpointer       user_data,
              GError       **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

typedef struct {
  GCancellable *mine;   /* (owned) */
  guint         value;
  gboolean      cancel_inside;
} InvokeOp;

static gpointer
cancellable_invoke_func (gpointer       user_data,
                         GCancellable  *cancellable,
                         GError       **error)
{
  InvokeOp *op = user_data;

  if (op->cancel_inside)
    g_cancellable_cancel (op->mine);
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;
  return tracked_new (op->value);
}

/* The asyncify job: user_data is tracked, and so is every result. */
/* Counted as a tracked allocation too. */
typedef struct {
  GCancellable *mine;             /* (owned) */
  guint         value;
  guint         steps;
  gboolean      cancel_inside;
  gint         *outstanding;      /* (atomic): the calling thread's */
} AsyncJob;

static void
async_job_free (gpointer data)
{
  AsyncJob *job = data;

  g_atomic_int_add (job->outstanding, -1);
  g_object_unref (job->mine);
  g_atomic_int_inc (&tracked_destroyed);
  g_free (job);
}

static gpointer
async_job_func (gpointer       user_data,
                GCancellable  *cancellable,
                GError       **error)
{
  AsyncJob *job = user_data;

  for (guint i = 0; i < job->steps; i++)
    {
      if (job->cancel_inside && i == job->steps / 2)
        g_cancellable_cancel (job->mine);
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return NULL;
      g_usleep (20);
    }
  return tracked_new (job->value);
}

typedef struct {
  gpointer result;
  GError  *error;
  gboolean done;
  GThread *thread;
} AsyncOutcome;

static void
async_job_done_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      data)
{
  AsyncOutcome *outcome = data;

  outcome->thread = g_thread_self ();
  outcome->result = syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source), result,
                                                     &outcome->error);
  outcome->done = TRUE;
}

typedef struct {
  SyncifyContext *bg;
  guint           index;
  guint           n;
  guint32         seed;
  /* Outcomes, checked after join. */
  guint           results;
  guint           cancelled;
  guint           bad;
  guint           per_kind[3];
} CancelHammer;

/* Checks one answer: the expected result, or G_IO_ERROR_CANCELLED. */
static void
cancel_hammer_check (CancelHammer *h,
                     Tracked      *result,
                     GError       *error,
                     guint         value)
{
  if (error != NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) && result == NULL)
        h->cancelled++;
      else
        {
          g_printerr ("unexpected answer: %s\n", error->message);
          h->bad++;
        }
    }
  else if (result != NULL && result->value == value)
    h->results++;
  else
    h->bad++;

  if (result != NULL)
    tracked_free (result);
}

static gpointer
cancel_hammer_thread (gpointer data)
{
  CancelHammer *h = data;
  Canceller cancels;
  GThread *canceller;
  GMainContext *own = g_main_context_new ();
  GRand *rand = g_rand_new_with_seed (h->seed);
  gint outstanding = 0;

  g_mutex_init (&cancels.lock);
  g_cond_init (&cancels.cond);
  g_queue_init (&cancels.requests);
  canceller = g_thread_new ("canceller", canceller_thread, &cancels);

  /* Asyncify delivers to this thread's own context. */
  g_main_context_push_thread_default (own);

  for (guint i = 0; i < h->n; i++)
    {
      g_autoptr(GCancellable) mine = g_cancellable_new ();
      guint kind = g_rand_int_range (rand, 0, 3);
      guint point = g_rand_int_range (rand, 0, kind == 2 ? N_POINTS : POINT_AFTER);
      guint value = h->index * h->n + i + 1;
      GError *error = NULL;
      Tracked *result;

      h->per_kind[kind]++;

      if (point == POINT_BEFORE)
        g_cancellable_cancel (mine);
      else if (point == POINT_RACE)
        cancel_later (&cancels, mine, g_rand_int_range (rand, 0, 300));

      if (kind == 0)
        {
          DelayOp op = { mine, value, g_rand_int_range (rand, 0, 2),
                         point == POINT_INSIDE, g_rand_boolean (rand) };

          result = syncify_context_syncify (h->bg, SYNCIFY_FLAGS_NONE, delay_start,
                                            delay_finish, &op, mine, &error);
          cancel_hammer_check (h, result, error, value);
        }
      else if (kind == 1)
        {
          InvokeOp op = { mine, value, point == POINT_INSIDE };

          result = syncify_context_invoke_sync (h->bg, cancellable_invoke_func, &op,
                                                mine, &error);
          cancel_hammer_check (h, result, error, value);
        }
      else
        {
          AsyncJob *job = g_new0 (AsyncJob, 1);
          AsyncOutcome outcome = { NULL, };
          SyncifyFlags flags = g_rand_boolean (rand) ? SYNCIFY_FLAGS_ABANDON_ON_CANCEL
                                                     : SYNCIFY_FLAGS_NONE;

          g_atomic_int_inc (&tracked_created);
          job->mine = g_object_ref (mine);
          job->value = value;
          job->steps = g_rand_int_range (rand, 0, 20);
          job->cancel_inside = point == POINT_INSIDE;
          job->outstanding = &outstanding;
          g_atomic_int_inc (&outstanding);

          syncify_context_asyncify (h->bg, flags, async_job_func, job, async_job_free,
                                    tracked_free, mine, async_job_done_cb, &outcome);
          if (point == POINT_AFTER)
            g_cancellable_cancel (mine);

          while (!outcome.done)
            g_main_context_iteration (own, TRUE);

          if (outcome.thread != g_thread_self ())
            h->bad++;
          cancel_hammer_check (h, outcome.result, outcome.error, value);
          g_clear_error (&outcome.error);
        }

      g_clear_error (&error);
    }

  /* Abandoned jobs free their late results and user data here, when their
   * workers are done: wait for every one. */
  while (g_atomic_int_get (&outstanding) > 0)
    g_main_context_iteration (own, TRUE);

  cancel_later (&cancels, NULL, 0);
  g_thread_join (canceller);
  g_mutex_clear (&cancels.lock);
  g_cond_clear (&cancels.cond);

  g_main_context_pop_thread_default (own);
  /* Nothing may be left for this context to run. */
  while (g_main_context_iteration (own, FALSE))
    ;
  g_main_context_unref (own);
  g_rand_free (rand);

  return NULL;
}

static void
test_random_cancellation (void)
{
  SyncifyContext *bg = syncify_context_new_thread ("stress-cancel");
  CancelHammer hammers[N_THREADS];
  GThread *threads[N_THREADS];
  guint results = 0, cancelled = 0, per_kind[3] = { 0, };
  gint64 start;

  test_watchdog_arm (G_STRFUNC);
  tracked_reset ();

  start = g_get_monotonic_time ();
  for (guint t = 0; t < N_THREADS; t++)
    {
      memset (&hammers[t], 0, sizeof hammers[t]);
      hammers[t].bg = bg;
      hammers[t].index = t;
      hammers[t].n = test_scaled (FEWER_WHEN, 1500, 75);
      hammers[t].seed = g_test_rand_int ();
      threads[t] = g_thread_new ("cancel-hammer", cancel_hammer_thread, &hammers[t]);
    }
  for (guint t = 0; t < N_THREADS; t++)
    g_thread_join (threads[t]);

  for (guint t = 0; t < N_THREADS; t++)
    {
      g_assert_cmpuint (hammers[t].bad, ==, 0);
      g_assert_cmpuint (hammers[t].results + hammers[t].cancelled, ==, hammers[t].n);
      results += hammers[t].results;
      cancelled += hammers[t].cancelled;
      for (guint k = 0; k < 3; k++)
        per_kind[k] += hammers[t].per_kind[k];
    }
  report_rate ("calls with random cancellation", results + cancelled, start);
  g_test_message ("%u results, %u cancelled; %u syncify, %u invoke_sync, %u asyncify",
                  results, cancelled, per_kind[0], per_kind[1], per_kind[2]);

  /* The background thread has finished with every GTask once it is
   * joined: only then are all unclaimed results freed. */
  syncify_context_shutdown (bg);
  g_assert_finalize_object (bg);

  g_assert_cmpint (g_atomic_int_get (&tracked_created), >, 0);
  g_assert_cmpint (g_atomic_int_get (&tracked_destroyed), ==,
                   g_atomic_int_get (&tracked_created));
}

/* ------------------------------------------------------------------------ *
 * Shutdown while N_THREADS threads hammer the context, repeated
 * ------------------------------------------------------------------------ */

typedef struct {
  SyncifyContext *bg;
  guint32         seed;
  gint           *calls;      /* (atomic): shared by all threads */
  guint           answered;
  guint           closed;
  guint           cancelled;
  guint           bad;
} ShutdownHammer;

static gpointer
tracked_invoke_func (gpointer       user_data,
                     GCancellable  *cancellable,
                     GError       **error)
{
  return tracked_new (GPOINTER_TO_UINT (user_data));
}

static gpointer
shutdown_hammer_thread (gpointer data)
{
  ShutdownHammer *h = data;
  GRand *rand = g_rand_new_with_seed (h->seed);
  guint after_closed = 0;

  /* Until the context says it is closed, and a few calls more: those must
   * be refused at once. */
  while (after_closed < 3)
    {
      guint kind = g_rand_int_range (rand, 0, 3);
      guint value = g_rand_int_range (rand, 1, G_MAXINT32);
      GError *error = NULL;
      Tracked *result;

      if (kind == 0)
        {
          result = syncify_context_invoke_sync (h->bg, tracked_invoke_func,
                                                GUINT_TO_POINTER (value), NULL, &error);
        }
      else
        {
          /* kind 1 completes whatever happens; kind 2 honours the
           * cancellation shutdown sends to running work. */
          DelayOp op = { NULL, value, 0, FALSE, kind == 2 };

          result = syncify_context_syncify (h->bg, SYNCIFY_FLAGS_NONE, delay_start,
                                            delay_finish, &op, NULL, &error);
        }

      g_atomic_int_inc (h->calls);

      if (error == NULL && result != NULL && result->value == value)
        h->answered++;
      else if (g_error_matches (error, SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED) && result == NULL)
        h->closed++;
      else if (kind == 2 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) &&
               result == NULL)
        h->cancelled++;
      else
        {
          g_printerr ("unexpected answer (kind %u): %s\n", kind,
                      error != NULL ? error->message : "wrong result");
          h->bad++;
        }

      if (result != NULL)
        tracked_free (result);
      if (error != NULL && error->domain == SYNCIFY_ERROR)
        after_closed++;
      g_clear_error (&error);
    }

  g_rand_free (rand);
  return NULL;
}

static void
test_shutdown_under_load (void)
{
  guint reps = test_scaled (FEWER_WHEN, 200, 10);
  guint answered = 0, closed = 0, cancelled = 0;
  gint64 start;

  test_watchdog_arm (G_STRFUNC);
  tracked_reset ();

  start = g_get_monotonic_time ();
  for (guint rep = 0; rep < reps; rep++)
    {
      SyncifyContext *bg = syncify_context_new_thread ("stress-shutdown");
      ShutdownHammer hammers[N_THREADS];
      GThread *threads[N_THREADS];
      gint calls = 0;
      gint target = g_test_rand_int_range (0, 64);

      test_watchdog_arm ("a shutdown repetition");

      for (guint t = 0; t < N_THREADS; t++)
        {
          memset (&hammers[t], 0, sizeof hammers[t]);
          hammers[t].bg = bg;
          hammers[t].seed = g_test_rand_int ();
          hammers[t].calls = &calls;
          threads[t] = g_thread_new ("shutdown-hammer", shutdown_hammer_thread, &hammers[t]);
        }

      /* Let them get going (bounded by the watchdog), then pull the rug. */
      while (g_atomic_int_get (&calls) < target)
        g_thread_yield ();
      syncify_context_shutdown (bg);
      g_assert_true (syncify_context_is_closed (bg));

      for (guint t = 0; t < N_THREADS; t++)
        {
          g_thread_join (threads[t]);
          g_assert_cmpuint (hammers[t].bad, ==, 0);
          g_assert_cmpuint (hammers[t].closed, >=, 3);
          answered += hammers[t].answered;
          closed += hammers[t].closed;
          cancelled += hammers[t].cancelled;
        }

      g_assert_finalize_object (bg);
    }

  report_rate ("shutdowns under load", reps, start);
  g_test_message ("%u answered, %u refused as closed, %u cancelled by the shutdown",
                  answered, closed, cancelled);

  g_assert_cmpint (g_atomic_int_get (&tracked_destroyed), ==,
                   g_atomic_int_get (&tracked_created));
}

int
main (int    argc,
      char **argv)
{
  test_init (&argc, &argv);
  main_thread = g_thread_self ();

  g_test_add_func ("/syncify/stress/invoke-sync/background", test_invoke_sync_background);
  g_test_add_func ("/syncify/stress/invoke-sync/main-loop", test_invoke_sync_main_loop);
  g_test_add_func ("/syncify/stress/syncify/gtask/workers", test_syncify_gtask_workers);
  g_test_add_func ("/syncify/stress/syncify/gtask/background", test_syncify_gtask_background);
  g_test_add_func ("/syncify/stress/syncify/gtask/private", test_syncify_gtask_private);
  g_test_add_func ("/syncify/stress/asyncify/burst", test_asyncify_burst);
  g_test_add_func ("/syncify/stress/cancel/random", test_random_cancellation);
  g_test_add_func ("/syncify/stress/shutdown/under-load", test_shutdown_under_load);

  return g_test_run ();
}
