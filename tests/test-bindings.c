/* test-bindings.c: the entry points for language bindings, called from C
 * (await_operation_async from several threads, start functions that fail)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "test-util.h"

#include <glib/gstdio.h>

static char *test_file_path;   /* a small file, for real GIO loads */

#define TEST_TEXT "Hello from a file\n"

/* ------------------------------------------------------------------------ *
 * await_operation_async from several threads, each with its own loop
 * ------------------------------------------------------------------------ */

typedef struct {
  GThread      *thread;         /* the calling thread */
  GMainContext *context;        /* its thread-default context */
  gint          n_destroyed;    /* (atomic) */
  gint          n_done;         /* (atomic) */
  gint          n_wrong_thread; /* (atomic) */
} Caller;

typedef struct {
  Caller *caller;
  GFile  *file;                 /* (owned) */
} StartData;

static void
start_data_free (gpointer data)
{
  StartData *sd = data;

  if (sd->caller->thread != g_thread_self ())
    g_atomic_int_inc (&sd->caller->n_wrong_thread);
  g_atomic_int_inc (&sd->caller->n_destroyed);
  g_object_unref (sd->file);
  g_free (sd);
}

static void
operation_done_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      data)
{
  SyncifyOperation *op = data;

  syncify_operation_complete (op, source, result);
  g_object_unref (op);
}

static void
load_start (SyncifyOperation  *op,
            GCancellable      *cancellable,
            gpointer           data,
            GError           **error)
{
  StartData *sd = data;

  g_file_load_contents_async (sd->file, cancellable, operation_done_cb, g_object_ref (op));
}

static void
awaited_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      data)
{
  Caller *caller = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GAsyncResult) inner = NULL;
  g_autofree char *contents = NULL;
  g_autoptr(GObject) file = NULL;

  inner = syncify_context_await_operation_finish (SYNCIFY_CONTEXT (source), result, &error);
  g_assert_no_error (error);
  g_assert_true (G_IS_ASYNC_RESULT (inner));
  file = g_async_result_get_source_object (inner);
  g_assert_true (g_file_load_contents_finish (G_FILE (file), inner, &contents, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (contents, ==, TEST_TEXT);
  if (caller->thread != g_thread_self ())
    g_atomic_int_inc (&caller->n_wrong_thread);
  g_atomic_int_inc (&caller->n_done);
}

typedef struct {
  SyncifyContext *bg;
  guint           n_calls;
  Caller          caller;
} ThreadArgs;

static gpointer
await_operation_async_thread (gpointer data)
{
  ThreadArgs *args = data;
  Caller *caller = &args->caller;

  caller->thread = g_thread_self ();
  caller->context = g_main_context_new ();
  g_main_context_push_thread_default (caller->context);

  for (guint i = 0; i < args->n_calls; i++)
    {
      StartData *sd = g_new0 (StartData, 1);

      sd->caller = caller;
      sd->file = g_file_new_for_path (test_file_path);
      syncify_context_await_operation_async (args->bg, load_start, sd, start_data_free,
                                             NULL, awaited_cb, caller);
    }
  /* Every closure is freed here, after its answer. */
  test_iterate_until_count (caller->context, &caller->n_done, args->n_calls);
  test_iterate_until_count (caller->context, &caller->n_destroyed, args->n_calls);

  g_main_context_pop_thread_default (caller->context);
  g_main_context_unref (caller->context);
  return NULL;
}

static void
test_await_operation_async_threads (void)
{
  g_autoptr(SyncifyContext) bg = syncify_context_new_thread ("ops");
  ThreadArgs args[4];
  GThread *threads[G_N_ELEMENTS (args)];
  guint n_calls = test_scaled (TEST_FEWER_UNDER_VALGRIND, 200, 20);

  test_watchdog_arm (g_test_get_path ());

  for (guint t = 0; t < G_N_ELEMENTS (args); t++)
    {
      memset (&args[t], 0, sizeof args[t]);
      args[t].bg = bg;
      args[t].n_calls = n_calls;
      threads[t] = g_thread_new ("caller", await_operation_async_thread, &args[t]);
    }
  for (guint t = 0; t < G_N_ELEMENTS (args); t++)
    {
      g_thread_join (threads[t]);
      g_assert_cmpint (g_atomic_int_get (&args[t].caller.n_done), ==, n_calls);
      g_assert_cmpint (g_atomic_int_get (&args[t].caller.n_destroyed), ==, n_calls);
      g_assert_cmpint (g_atomic_int_get (&args[t].caller.n_wrong_thread), ==, 0);
    }
  syncify_context_shutdown (bg);
}

/* ------------------------------------------------------------------------ *
 * Start functions that fail, or keep their operation and never complete it
 * (as a binding does when it keeps an exception's frames)
 * ------------------------------------------------------------------------ */

typedef struct {
  gboolean          set_error;
  gboolean          start_call;   /* start the load before failing */
  SyncifyOperation *kept;         /* (owned) the operation, never completed */
  GThread          *thread;
} FailingStart;

static gboolean
failing_checked_start (SyncifyOperation  *op,
                       GCancellable      *cancellable,
                       gpointer           data,
                       GError           **error)
{
  FailingStart *fs = data;

  fs->thread = g_thread_self ();
  fs->kept = g_object_ref (op);
  if (fs->start_call)
    {
      GFile *file = g_file_new_for_path (test_file_path);

      g_file_load_contents_async (file, cancellable, operation_done_cb, g_object_ref (op));
      g_object_unref (file);
    }
  if (fs->set_error)
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no such thing");
  return FALSE;
}

static gpointer
noop_func (gpointer       data,
           GCancellable  *cancellable,
           GError       **error)
{
  return NULL;
}

static void
test_checked_start_fails (void)
{
  g_autoptr(SyncifyContext) bg = syncify_context_new_thread ("checked");
  SyncifyContext *targets[] = { NULL, bg };

  test_watchdog_arm (g_test_get_path ());

  for (guint t = 0; t < G_N_ELEMENTS (targets); t++)
    for (guint mode = 0; mode < 3; mode++)
      {
        FailingStart fs = { mode == 1, mode == 2, NULL, NULL };
        g_autoptr(GError) error = NULL;
        GAsyncResult *result;

        result = syncify_context_await_checked (targets[t], SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT,
                                                failing_checked_start, &fs, NULL, &error);
        g_assert_null (result);
        if (mode == 1)
          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
        else
          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
        if (targets[t] == NULL)
          g_assert_true (fs.thread == g_thread_self ());
        else
          g_assert_true (fs.thread != g_thread_self ());
        g_assert_true (syncify_operation_is_completed (fs.kept));
        if (mode == 2)
          {
            /* The abandoned load still completes; its result is dropped
             * (on the thread that started it). */
            if (targets[t] == NULL)
              {
                /* Its private context runs again in the next call. */
                test_watchdog_arm ("the abandoned load to complete");
                while (G_OBJECT (fs.kept)->ref_count > 1)
                  {
                    StartData sd = { NULL, g_file_new_for_path (test_file_path) };
                    GAsyncResult *other;

                    other = syncify_context_await_operation (NULL, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT,
                                                             load_start, &sd, NULL, NULL);
                    g_assert_nonnull (other);
                    g_object_unref (other);
                    g_object_unref (sd.file);
                  }
              }
            else
              {
                test_watchdog_arm ("the abandoned load to complete");
                while (g_atomic_int_get (&G_OBJECT (fs.kept)->ref_count) > 1)
                  syncify_context_invoke_sync (bg, noop_func, NULL, NULL, NULL);
              }
          }
        g_clear_object (&fs.kept);
      }
}

static gboolean
cancel_cb (gpointer data)
{
  g_cancellable_cancel (data);
  return G_SOURCE_REMOVE;
}

/* The old form: a start function that keeps its operation and never
 * completes it (a binding keeping the frames of an exception); the caller
 * cancels. */
static void
keeping_start (SyncifyOperation  *op,
               GCancellable      *cancellable,
               gpointer           data,
               GError           **error)
{
  SyncifyOperation **kept = data;
  GMainContext *here = g_main_context_ref_thread_default ();
  GSource *source = g_idle_source_new ();

  *kept = g_object_ref (op);
  /* Cancel from the loop that runs the operation, once the start function
   * has returned. */
  g_source_set_callback (source, cancel_cb, g_object_ref (cancellable), g_object_unref);
  g_source_attach (source, here);
  g_source_unref (source);
  g_main_context_unref (here);
}

static gboolean
checked_keeping_start (SyncifyOperation  *op,
                       GCancellable      *cancellable,
                       gpointer           data,
                       GError           **error)
{
  keeping_start (op, cancellable, data, error);
  return TRUE;
}

static void
test_kept_operation_cancelled (void)
{
  g_autoptr(SyncifyContext) bg = syncify_context_new_thread ("kept");
  SyncifyContext *targets[] = { NULL, bg };

  test_watchdog_arm (g_test_get_path ());

  for (guint t = 0; t < G_N_ELEMENTS (targets); t++)
    for (guint checked = 0; checked < 2; checked++)
      {
        g_autoptr(GCancellable) cancellable = g_cancellable_new ();
        g_autoptr(GError) error = NULL;
        SyncifyOperation *kept = NULL;
        GAsyncResult *result;

        if (checked)
          result = syncify_context_await_checked (targets[t], SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT,
                                                  checked_keeping_start, &kept, cancellable, &error);
        else
          result = syncify_context_await_operation (targets[t], SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT,
                                                    keeping_start, &kept, cancellable, &error);
        g_assert_null (result);
        g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
        g_assert_nonnull (kept);
        g_assert_true (syncify_operation_is_completed (kept));
        /* The source that answered the caller on the background thread may
         * not have dropped its reference yet. */
        test_watchdog_arm ("the cancelled operation's last other reference");
        while (targets[t] != NULL && g_atomic_int_get (&G_OBJECT (kept)->ref_count) > 1)
          syncify_context_invoke_sync (bg, noop_func, NULL, NULL, NULL);
        g_assert_finalize_object (kept);
      }
}

/* ------------------------------------------------------------------------ *
 * Checked functions and objects
 * ------------------------------------------------------------------------ */

static gboolean
checked_variant (GCancellable  *cancellable,
                 gpointer       data,
                 GVariant     **result,
                 GError       **error)
{
  switch (GPOINTER_TO_INT (data))
    {
    case 0:
      *result = g_variant_new_int32 (42);
      return TRUE;
    case 1:
      *result = NULL;
      return TRUE;
    case 2:
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no such thing");
      return FALSE;
    default:
      /* A binding that caught an exception: FALSE and nothing else */
      return FALSE;
    }
}

static void
checked_done_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      data)
{
  GAsyncResult **out = data;

  *out = g_object_ref (result);
}

static void
test_checked_variant (void)
{
  g_autoptr(SyncifyContext) bg = syncify_context_new_thread ("variant");

  test_watchdog_arm (g_test_get_path ());

  for (guint mode = 0; mode < 4; mode++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) value = NULL;
      g_autoptr(GAsyncResult) result = NULL;

      value = syncify_context_invoke_checked (bg, checked_variant, GINT_TO_POINTER (mode), NULL, &error);
      for (guint round = 0; round < 2; round++)
        {
          switch (mode)
            {
            case 0:
              g_assert_no_error (error);
              g_assert_cmpint (g_variant_get_int32 (value), ==, 42);
              g_assert_false (g_variant_is_floating (value));
              break;
            case 1:
              g_assert_no_error (error);
              g_assert_null (value);
              break;
            case 2:
              g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
              g_assert_null (value);
              break;
            default:
              g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
              g_assert_null (value);
            }
          if (round == 1)
            break;
          g_clear_error (&error);
          g_clear_pointer (&value, g_variant_unref);
          syncify_context_asyncify_checked (bg, SYNCIFY_FLAGS_NONE, checked_variant,
                                            GINT_TO_POINTER (mode), NULL, checked_done_cb, &result);
          test_watchdog_arm ("asyncify_checked");
          while (result == NULL)
            g_main_context_iteration (NULL, TRUE);
          value = syncify_context_asyncify_checked_finish (bg, result, &error);
        }
    }
}

#define TEST_TYPE_BOUND (test_bound_get_type ())
G_DECLARE_FINAL_TYPE (TestBound, test_bound, TEST, BOUND, GObject)

struct _TestBound
{
  GObject  parent_instance;
  GThread *home;
  GThread *disposed_on;
  guint    n_disposed;
};

G_DEFINE_FINAL_TYPE (TestBound, test_bound, G_TYPE_OBJECT)

static void
test_bound_dispose (GObject *object)
{
  TestBound *self = TEST_BOUND (object);

  if (self->n_disposed++ == 0)
    self->disposed_on = g_thread_self ();
  G_OBJECT_CLASS (test_bound_parent_class)->dispose (object);
}

static void
test_bound_class_init (TestBoundClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = test_bound_dispose;
}

static void
test_bound_init (TestBound *self)
{
  self->home = g_thread_self ();
}

static gboolean
make_bound (GCancellable  *cancellable,
            gpointer       data,
            GObject      **result,
            GError       **error)
{
  if (data != NULL)
    return FALSE;
  *result = g_object_new (TEST_TYPE_BOUND, NULL);
  return TRUE;
}

static void
test_invoke_object (void)
{
  g_autoptr(SyncifyContext) bg = syncify_context_new_thread ("objects");
  g_autoptr(GError) error = NULL;
  TestBound *bound;
  GObject *none;

  test_watchdog_arm (g_test_get_path ());

  bound = (TestBound *) syncify_context_invoke_object (bg, make_bound, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (TEST_IS_BOUND (bound));
  g_assert_true (bound->home != g_thread_self ());
  g_assert_cmpuint (bound->n_disposed, ==, 0);

  none = syncify_context_invoke_object (bg, make_bound, GINT_TO_POINTER (1), NULL, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
  g_assert_null (none);
  g_clear_error (&error);

  /* The teardown order of doc/background.md: dispose on the owner, then
   * shut down; the last reference may then go anywhere. */
  g_assert_true (syncify_context_dispose_object (bg, G_OBJECT (bound), &error));
  g_assert_no_error (error);
  g_assert_cmpuint (bound->n_disposed, ==, 1);
  g_assert_true (bound->disposed_on == bound->home);
  syncify_context_shutdown (bg);
  g_assert_false (syncify_context_dispose_object (bg, G_OBJECT (bound), &error));
  g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED);
  g_assert_cmpuint (bound->n_disposed, ==, 1);
  g_assert_finalize_object (bound);
}

/* ------------------------------------------------------------------------ *
 * The unchecked start function: an error it sets fails the call at once,
 * even though it keeps its operation (a binding keeping the frames of an
 * exception) and no cancellable is given
 * ------------------------------------------------------------------------ */

static void
erring_start (SyncifyOperation  *op,
              GCancellable      *cancellable,
              gpointer           data,
              GError           **error)
{
  SyncifyOperation **kept = data;

  *kept = g_object_ref (op);
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no such thing");
}

static void
test_start_error_fails_at_once (void)
{
  g_autoptr(SyncifyContext) bg = syncify_context_new_thread ("erring");
  SyncifyContext *targets[] = { NULL, bg };

  test_watchdog_arm (g_test_get_path ());
  for (guint t = 0; t < G_N_ELEMENTS (targets); t++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GAsyncResult) async_result = NULL;
      SyncifyOperation *kept = NULL;
      GAsyncResult *result;

      result = syncify_context_await_operation (targets[t], SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT,
                                                erring_start, &kept, NULL, &error);
      g_assert_null (result);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
      g_assert_nonnull (kept);
      g_assert_true (syncify_operation_is_completed (kept));
      g_clear_object (&kept);
      g_clear_error (&error);

      if (targets[t] == NULL)
        continue;
      syncify_context_await_operation_async (bg, erring_start, &kept, NULL, NULL,
                                             checked_done_cb, &async_result);
      while (async_result == NULL)
        g_main_context_iteration (NULL, TRUE);
      g_assert_null (syncify_context_await_operation_finish (bg, async_result, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
      g_clear_object (&kept);
    }
}

/* ------------------------------------------------------------------------ *
 * The variant entry points: a function returning neither a value nor an
 * error (what a binding returns for an exception it only prints, or a
 * function it refused to run) fails the call
 * ------------------------------------------------------------------------ */

static GVariant *
variant_mode_func (GCancellable  *cancellable,
                   gpointer       data,
                   GError       **error)
{
  switch (GPOINTER_TO_INT (data))
    {
    case 0:
      return g_variant_new_int32 (42);
    case 1:
      return NULL;
    default:
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no such thing");
      return NULL;
    }
}

static void
test_variant_no_value_is_an_error (void)
{
  g_autoptr(SyncifyContext) bg = syncify_context_new_thread ("variant-null");

  test_watchdog_arm (g_test_get_path ());
  for (guint mode = 0; mode < 3; mode++)
    for (guint async = 0; async < 2; async++)
      {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) value = NULL;
        g_autoptr(GAsyncResult) result = NULL;

        if (async)
          {
            syncify_context_asyncify_variant (bg, SYNCIFY_FLAGS_NONE, variant_mode_func,
                                              GINT_TO_POINTER (mode), NULL, NULL,
                                              checked_done_cb, &result);
            while (result == NULL)
              g_main_context_iteration (NULL, TRUE);
            value = syncify_context_asyncify_variant_finish (bg, result, &error);
          }
        else
          {
            value = syncify_context_invoke_variant (bg, variant_mode_func, GINT_TO_POINTER (mode),
                                                    NULL, &error);
          }
        switch (mode)
          {
          case 0:
            g_assert_no_error (error);
            g_assert_cmpint (g_variant_get_int32 (value), ==, 42);
            break;
          case 1:
            g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
            g_assert_null (value);
            break;
          default:
            g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
            g_assert_null (value);
          }
      }
}

/* ------------------------------------------------------------------------ *
 * The binding entry points bound a context's workers by default
 * ------------------------------------------------------------------------ */

static void
run_one_checked_job (SyncifyContext *context)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;

  syncify_context_asyncify_checked (context, SYNCIFY_FLAGS_NONE, checked_variant,
                                    GINT_TO_POINTER (0), NULL, checked_done_cb, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  value = syncify_context_asyncify_checked_finish (context, result, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_variant_get_int32 (value), ==, 42);
}

/* Jobs that block until the test lets them all go, counting how many run
 * at once. */
typedef struct {
  GMutex     lock;
  GCond      cond;         /* signalled when a job starts */
  guint      running;      /* protected by @lock */
  guint      max_running;  /* protected by @lock */
  guint      started;      /* protected by @lock */
  TestEvent  release;
} Gate;

static void
gate_init (Gate *gate)
{
  *gate = (Gate) { .started = 0 };
  g_mutex_init (&gate->lock);
  g_cond_init (&gate->cond);
  test_event_init (&gate->release);
}

static void
gate_clear (Gate *gate)
{
  g_mutex_clear (&gate->lock);
  g_cond_clear (&gate->cond);
  test_event_clear (&gate->release);
}

static gboolean
gated_checked (GCancellable  *cancellable,
               gpointer       user_data,
               GVariant     **result,
               GError       **error)
{
  Gate *gate = user_data;

  g_mutex_lock (&gate->lock);
  gate->running++;
  gate->started++;
  gate->max_running = MAX (gate->max_running, gate->running);
  g_cond_broadcast (&gate->cond);
  g_mutex_unlock (&gate->lock);

  test_event_wait (&gate->release, "the test to let the gated jobs go");

  g_mutex_lock (&gate->lock);
  gate->running--;
  g_mutex_unlock (&gate->lock);

  *result = g_variant_new_int32 (42);
  return TRUE;
}

static gpointer
gated_plain (gpointer       user_data,
             GCancellable  *cancellable,
             GError       **error)
{
  GVariant *value = NULL;

  gated_checked (cancellable, user_data, &value, error);
  g_variant_unref (value);
  return GINT_TO_POINTER (1);
}

static void
count_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      data)
{
  guint *n_done = data;

  (*n_done)++;
}

static void
gate_wait_started (Gate  *gate,
                   guint  n)
{
  gint64 deadline = g_get_monotonic_time () + test_watchdog_bound_us ();

  g_mutex_lock (&gate->lock);
  while (gate->started < n)
    if (!g_cond_wait_until (&gate->cond, &gate->lock, deadline) && gate->started < n)
      g_error ("%s: %u of %u gated jobs started", g_test_get_path (), gate->started, n);
  g_mutex_unlock (&gate->lock);
}

/* The binding entry points' jobs run under a bound of their own while the
 * context's max-workers is 0: the usable processors, at least 2. The
 * property stays as the user set it, the context's C jobs keep the pool's
 * default, and a bound the user sets is shared by all of them. */
static void
test_binding_default_max_workers (void)
{
  g_autoptr(SyncifyContext) fresh = syncify_context_new (NULL);
  g_autoptr(SyncifyContext) chosen = syncify_context_new (NULL);
  const guint n_binding = 12;
  guint upper = MAX (2, g_get_num_processors ());
  guint n_c_jobs = upper + 2;
  guint n_done = 0;
  Gate gate;

  test_watchdog_arm (g_test_get_path ());

  /* The property is the user's: never changed behind their back. */
  g_assert_cmpuint (syncify_context_get_max_workers (fresh), ==, 0);
  run_one_checked_job (fresh);
  g_assert_cmpuint (syncify_context_get_max_workers (fresh), ==, 0);

  /* Blocked binding jobs: at most the bound at once (the blocking-job
   * monitor would otherwise add threads for them within milliseconds). */
  gate_init (&gate);
  for (guint i = 0; i < n_binding; i++)
    syncify_context_asyncify_checked (fresh, SYNCIFY_FLAGS_NONE, gated_checked, &gate,
                                      NULL, count_done_cb, &n_done);
  gate_wait_started (&gate, 2);
  /* While they hold the binding bound, the context's C jobs still run: all
   * of these block until every one of them has started. */
  {
    Gate c_gate;
    guint n_c_done = 0;

    gate_init (&c_gate);
    for (guint i = 0; i < n_c_jobs; i++)
      syncify_context_asyncify (fresh, SYNCIFY_FLAGS_NONE, gated_plain, &c_gate, NULL, NULL,
                                NULL, count_done_cb, &n_c_done);
    gate_wait_started (&c_gate, n_c_jobs);
    test_event_set (&c_gate.release);
    test_iterate_until_count (NULL, &n_c_done, n_c_jobs);
    gate_clear (&c_gate);
  }
  test_event_set (&gate.release);
  test_iterate_until_count (NULL, &n_done, n_binding);
  g_assert_cmpuint (gate.started, ==, n_binding);
  g_assert_cmpuint (gate.max_running, >=, 2);
  g_assert_cmpuint (gate.max_running, <=, upper);
  g_test_message ("binding jobs: at most %u at once (bound <= %u)", gate.max_running, upper);
  gate_clear (&gate);

  /* A bound the user chose bounds the binding jobs too, and is kept. */
  syncify_context_set_max_workers (chosen, 1);
  n_done = 0;
  gate_init (&gate);
  for (guint i = 0; i < 4; i++)
    syncify_context_asyncify_checked (chosen, SYNCIFY_FLAGS_NONE, gated_checked, &gate,
                                      NULL, count_done_cb, &n_done);
  gate_wait_started (&gate, 1);
  test_event_set (&gate.release);
  test_iterate_until_count (NULL, &n_done, 4);
  g_assert_cmpuint (gate.max_running, ==, 1);
  g_assert_cmpuint (syncify_context_get_max_workers (chosen), ==, 1);
  gate_clear (&gate);
}

/* ------------------------------------------------------------------------ *
 * SYNCIFY_DEFINE_START_FUNC for an _async call without a cancellable,
 * compiled with -Wunused-parameter as an error (-Wextra)
 * ------------------------------------------------------------------------ */

static void
double_async (int                  value,
              GAsyncReadyCallback  callback,
              gpointer             callback_data)
{
  GTask *task = g_task_new (NULL, NULL, callback, callback_data);

  g_task_return_int (task, value * 2);
  g_object_unref (task);
}

typedef struct {
  int value;
} DoubleArgs;

#pragma GCC diagnostic push
#pragma GCC diagnostic error "-Wunused-parameter"
SYNCIFY_DEFINE_START_FUNC (double_start, DoubleArgs,
                           double_async (args->value, callback, callback_data))
#pragma GCC diagnostic pop

static void
test_define_start_func_no_cancellable (void)
{
  DoubleArgs args = { 21 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GAsyncResult) result = NULL;

  test_watchdog_arm (g_test_get_path ());

  result = syncify_context_await (NULL, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT, double_start,
                                  &args, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_task_propagate_int (G_TASK (result), &error), ==, 42);
  g_assert_no_error (error);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GError) error = NULL;
  int fd;
  int ret;

  test_init (&argc, &argv);

  fd = g_file_open_tmp ("syncify-bindings-XXXXXX", &test_file_path, &error);
  g_assert_no_error (error);
  close (fd);
  g_file_set_contents (test_file_path, TEST_TEXT, -1, &error);
  g_assert_no_error (error);

  g_test_add_func ("/syncify/bindings/await-operation-async/threads",
                   test_await_operation_async_threads);
  g_test_add_func ("/syncify/bindings/checked-start/fails", test_checked_start_fails);
  g_test_add_func ("/syncify/bindings/kept-operation/cancelled", test_kept_operation_cancelled);
  g_test_add_func ("/syncify/bindings/checked-variant", test_checked_variant);
  g_test_add_func ("/syncify/bindings/invoke-object", test_invoke_object);
  g_test_add_func ("/syncify/bindings/start-error/fails-at-once", test_start_error_fails_at_once);
  g_test_add_func ("/syncify/bindings/variant/no-value-is-an-error",
                   test_variant_no_value_is_an_error);
  g_test_add_func ("/syncify/bindings/max-workers/binding-default",
                   test_binding_default_max_workers);
  g_test_add_func ("/syncify/bindings/define-start-func/no-cancellable",
                   test_define_start_func_no_cancellable);

  ret = g_test_run ();

  g_unlink (test_file_path);
  g_free (test_file_path);
  return ret;
}
