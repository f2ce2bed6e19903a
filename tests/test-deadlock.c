/* test-deadlock.c: SYNCIFY_ERROR_WOULD_DEADLOCK instead of a hang, and no
 * false alarms
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <string.h>

#include "test-util.h"

static GThread *main_thread;

/* Runs @func once inside a callback of a GMainLoop running the default
 * context on the main thread, so the main thread owns the default context
 * while @func runs. */
typedef struct {
  GMainLoop   *loop;
  GSourceFunc  func;
  gpointer     data;
} InLoop;

static gboolean
in_loop_cb (gpointer user_data)
{
  InLoop *il = user_data;

  g_assert_true (g_thread_self () == main_thread);
  g_assert_true (g_main_context_is_owner (g_main_context_default ()));
  il->func (il->data);
  g_main_loop_quit (il->loop);
  return G_SOURCE_REMOVE;
}

static void
run_in_loop_callback (GSourceFunc func,
                      gpointer    data)
{
  InLoop il = { g_main_loop_new (NULL, FALSE), func, data };

  g_idle_add (in_loop_cb, &il);
  test_watchdog_arm ("the main loop callback");
  g_main_loop_run (il.loop);
  g_main_loop_unref (il.loop);
}

/* A function that must never run. */
typedef struct {
  gint     count;   /* (atomic) */
  GThread *thread;
} FuncRecord;

static gpointer
record_func (gpointer       user_data,
             GCancellable  *cancellable,
             GError       **error)
{
  FuncRecord *fr = user_data;

  g_atomic_int_inc (&fr->count);
  fr->thread = g_thread_self ();
  return g_strdup ("ran");
}

static void
assert_message_has (const GError *error,
                    const char   *const *needles)
{
  for (guint i = 0; needles[i] != NULL; i++)
    if (strstr (error->message, needles[i]) == NULL)
      g_error ("error message \"%s\" does not contain %s", error->message, needles[i]);
}

/* ------------------------------------------------------------------------ *
 * A GTask op completing from an idle, for the syncify variants
 * ------------------------------------------------------------------------ */

static gboolean
idle_return_cb (gpointer data)
{
  GTask *task = data;

  g_task_return_pointer (task, g_strdup (g_task_get_task_data (task)), g_free);
  return G_SOURCE_REMOVE;
}

/* Starts a GTask in the thread-default context that returns a copy of
 * @value from an idle. */
static void
start_idle_task (const char          *value,
                 GCancellable        *cancellable,
                 GAsyncReadyCallback  callback,
                 gpointer             callback_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, callback_data);
  GSource *source = g_idle_source_new ();

  g_task_set_task_data (task, g_strdup (value), g_free);
  g_source_set_callback (source, idle_return_cb, task, g_object_unref);
  g_source_attach (source, g_task_get_context (task));
  g_source_unref (source);
}

static gpointer
task_finish (GObject       *source_object,
             GAsyncResult  *result,
             gpointer       user_data,
             GError       **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ------------------------------------------------------------------------ *
 * (1) main (owning the default context) -> bg -> default
 * ------------------------------------------------------------------------ */

typedef struct {
  SyncifyContext *bg;
  GThread        *bg_thread;
  FuncRecord      inner;
  GError         *inner_error;
  gpointer        inner_result;
  char           *outer_result;
  GError         *outer_error;
} CycleData;

static gpointer
cycle_bg_invoke_func (gpointer       user_data,
                      GCancellable  *cancellable,
                      GError       **error)
{
  CycleData *cd = user_data;

  cd->bg_thread = g_thread_self ();
  g_assert_true (cd->bg_thread != main_thread);
  cd->inner_result = syncify_context_invoke_sync (syncify_context_get_default (),
                                                  record_func, &cd->inner, NULL,
                                                  &cd->inner_error);
  return g_strdup ("outer done");
}

static gboolean
cycle_invoke_cb (gpointer data)
{
  CycleData *cd = data;

  cd->outer_result = syncify_context_invoke_sync (cd->bg, cycle_bg_invoke_func, cd, NULL,
                                                  &cd->outer_error);
  return G_SOURCE_REMOVE;
}

static void
cycle_inner_start (gpointer             user_data,
                   GCancellable        *cancellable,
                   GAsyncReadyCallback  callback,
                   gpointer             callback_data)
{
  g_atomic_int_inc (&((FuncRecord *) user_data)->count);
  start_idle_task ("inner", cancellable, callback, callback_data);
}

static void
cycle_outer_start (gpointer             user_data,
                   GCancellable        *cancellable,
                   GAsyncReadyCallback  callback,
                   gpointer             callback_data)
{
  CycleData *cd = user_data;

  cd->bg_thread = g_thread_self ();
  g_assert_true (cd->bg_thread != main_thread);
  /* The main thread is blocked on this very operation. */
  cd->inner_result = syncify_context_syncify (syncify_context_get_default (),
                                              SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT,
                                              cycle_inner_start, task_finish, &cd->inner,
                                              NULL, &cd->inner_error);
  start_idle_task ("outer done", cancellable, callback, callback_data);
}

static gboolean
cycle_syncify_cb (gpointer data)
{
  CycleData *cd = data;

  cd->outer_result = syncify_context_syncify (cd->bg, SYNCIFY_FLAGS_NONE,
                                              cycle_outer_start, task_finish, cd, NULL,
                                              &cd->outer_error);
  return G_SOURCE_REMOVE;
}

static void
cycle_main_bg_run (gboolean use_syncify)
{
  CycleData cd = { NULL, };
  const char *needles[] = { "\"main\"", "\"bg\"", "default context", "context \"bg\"", NULL };

  cd.bg = syncify_context_new_thread ("bg");
  run_in_loop_callback (use_syncify ? cycle_syncify_cb : cycle_invoke_cb, &cd);

  /* The inner call failed at once, naming the cycle ... */
  g_assert_error (cd.inner_error, SYNCIFY_ERROR, SYNCIFY_ERROR_WOULD_DEADLOCK);
  g_assert_null (cd.inner_result);
  g_assert_cmpint (cd.inner.count, ==, 0);
  assert_message_has (cd.inner_error, needles);
  g_test_message ("%s", cd.inner_error->message);

  /* ... and the outer one completed normally. */
  g_assert_no_error (cd.outer_error);
  g_assert_cmpstr (cd.outer_result, ==, "outer done");

  g_clear_error (&cd.inner_error);
  g_free (cd.outer_result);
  g_assert_finalize_object (cd.bg);
}

static void
test_cycle_main_bg (gconstpointer data)
{
  test_watchdog_arm (g_test_get_path ());

  /* The default SyncifyContext already exists when the main thread blocks. */
  (void) syncify_context_get_default ();
  cycle_main_bg_run (GPOINTER_TO_INT (data));
}

/* ------------------------------------------------------------------------ *
 * (2) main -> bg1 -> bg2 -> default
 * ------------------------------------------------------------------------ */

typedef struct {
  SyncifyContext *bg1;
  SyncifyContext *bg2;
  FuncRecord      inner;
  GError         *inner_error;
  GError         *outer_error;
  char           *outer_result;
} ChainData;

static gpointer
chain_bg2_func (gpointer       user_data,
                GCancellable  *cancellable,
                GError       **error)
{
  ChainData *cd = user_data;
  gpointer result;

  result = syncify_context_invoke_sync (syncify_context_get_default (), record_func,
                                        &cd->inner, NULL, &cd->inner_error);
  g_assert_null (result);
  return g_strdup ("bg2");
}

static gpointer
chain_bg1_func (gpointer       user_data,
                GCancellable  *cancellable,
                GError       **error)
{
  ChainData *cd = user_data;
  g_autofree char *inner = NULL;

  inner = syncify_context_invoke_sync (cd->bg2, chain_bg2_func, cd, NULL, error);
  if (inner == NULL)
    return NULL;
  return g_strdup_printf ("bg1+%s", inner);
}

static gboolean
chain_cb (gpointer data)
{
  ChainData *cd = data;

  cd->outer_result = syncify_context_invoke_sync (cd->bg1, chain_bg1_func, cd, NULL,
                                                  &cd->outer_error);
  return G_SOURCE_REMOVE;
}

static void
chain_run (void)
{
  ChainData cd = { NULL, };
  const char *needles[] = { "\"main\"", "\"bg1\"", "\"bg2\"", "default context", NULL };

  cd.bg1 = syncify_context_new_thread ("bg1");
  cd.bg2 = syncify_context_new_thread ("bg2");
  run_in_loop_callback (chain_cb, &cd);

  g_assert_error (cd.inner_error, SYNCIFY_ERROR, SYNCIFY_ERROR_WOULD_DEADLOCK);
  g_assert_cmpint (cd.inner.count, ==, 0);
  assert_message_has (cd.inner_error, needles);
  g_test_message ("%s", cd.inner_error->message);

  g_assert_no_error (cd.outer_error);
  g_assert_cmpstr (cd.outer_result, ==, "bg1+bg2");

  g_clear_error (&cd.inner_error);
  g_free (cd.outer_result);
  g_assert_finalize_object (cd.bg1);
  g_assert_finalize_object (cd.bg2);
}

static void
test_chain (void)
{
  test_watchdog_arm (g_test_get_path ());

  (void) syncify_context_get_default ();
  chain_run ();
}

/* ------------------------------------------------------------------------ *
 * (3) two contexts with the same name, no cycle; (4) a real cycle
 * ------------------------------------------------------------------------ */

typedef struct {
  SyncifyContext *a;
  SyncifyContext *b;
  GThread        *a_thread;
  GThread        *b_thread;
  gboolean        b_calls_back;
  FuncRecord      back;
  GError         *back_error;
} PairData;

static gpointer
pair_b_func (gpointer       user_data,
             GCancellable  *cancellable,
             GError       **error)
{
  PairData *pd = user_data;

  pd->b_thread = g_thread_self ();
  g_assert_true (g_main_context_is_owner (syncify_context_get_main_context (pd->b)));

  if (pd->b_calls_back)
    {
      gpointer result = syncify_context_invoke_sync (pd->a, record_func, &pd->back, NULL,
                                                     &pd->back_error);
      g_assert_null (result);
      return g_strdup ("b after failed call back");
    }

  return g_strdup ("b plain");
}

static gpointer
pair_a_func (gpointer       user_data,
             GCancellable  *cancellable,
             GError       **error)
{
  PairData *pd = user_data;
  g_autofree char *inner = NULL;

  pd->a_thread = g_thread_self ();
  g_assert_true (g_main_context_is_owner (syncify_context_get_main_context (pd->a)));

  inner = syncify_context_invoke_sync (pd->b, pair_b_func, pd, NULL, error);
  if (inner == NULL)
    return NULL;
  return g_strdup_printf ("a+%s", inner);
}

static void
test_same_name_no_false_alarm (void)
{
  PairData pd = { NULL, };
  g_autoptr(GError) error = NULL;
  g_autofree char *result = NULL;

  test_watchdog_arm (g_test_get_path ());

  pd.a = syncify_context_new_thread ("same");
  pd.b = syncify_context_new_thread ("same");
  g_assert_cmpstr (syncify_context_get_name (pd.a), ==, syncify_context_get_name (pd.b));

  for (guint i = 0; i < 2; i++)
    {
      result = syncify_context_invoke_sync (pd.a, pair_a_func, &pd, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (result, ==, "a+b plain");
      g_assert_true (pd.a_thread != pd.b_thread);
      g_clear_pointer (&result, g_free);

      /* The other way round, through a swapped copy. */
      {
        PairData swapped = pd;

        swapped.a = pd.b;
        swapped.b = pd.a;
        result = syncify_context_invoke_sync (swapped.a, pair_a_func, &swapped, NULL, &error);
        g_assert_no_error (error);
        g_assert_cmpstr (result, ==, "a+b plain");
        g_assert_true (swapped.a_thread == pd.b_thread);
        g_assert_true (swapped.b_thread == pd.a_thread);
        g_clear_pointer (&result, g_free);
      }
    }

  g_assert_finalize_object (pd.a);
  g_assert_finalize_object (pd.b);
}

static void
test_bg_cycle (void)
{
  PairData pd = { NULL, };
  g_autoptr(GError) error = NULL;
  g_autofree char *result = NULL;
  const char *needles[] = { "\"ctx-a\"", "\"ctx-b\"", NULL };

  test_watchdog_arm (g_test_get_path ());

  pd.a = syncify_context_new_thread ("ctx-a");
  pd.b = syncify_context_new_thread ("ctx-b");
  pd.b_calls_back = TRUE;

  result = syncify_context_invoke_sync (pd.a, pair_a_func, &pd, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (result, ==, "a+b after failed call back");

  g_assert_error (pd.back_error, SYNCIFY_ERROR, SYNCIFY_ERROR_WOULD_DEADLOCK);
  g_assert_cmpint (pd.back.count, ==, 0);
  assert_message_has (pd.back_error, needles);
  g_test_message ("%s", pd.back_error->message);
  g_clear_error (&pd.back_error);

  /* Both contexts still work. */
  pd.b_calls_back = FALSE;
  g_clear_pointer (&result, g_free);
  result = syncify_context_invoke_sync (pd.a, pair_a_func, &pd, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (result, ==, "a+b plain");

  g_assert_finalize_object (pd.a);
  g_assert_finalize_object (pd.b);
}

/* ------------------------------------------------------------------------ *
 * (5) the owner is merely busy, not waiting on us
 * ------------------------------------------------------------------------ */

typedef struct {
  GMainLoop  *loop;
  TestEvent   about_to_call;
  gint        busy_done;      /* (atomic) */
  gint        func_count;     /* (atomic) */
  gboolean    func_after_busy;
  GThread    *func_thread;
  char       *result;
  GError     *error;
  gboolean    done;
} BusyData;

static gpointer
busy_func (gpointer       user_data,
           GCancellable  *cancellable,
           GError       **error)
{
  BusyData *bd = user_data;

  g_atomic_int_inc (&bd->func_count);
  bd->func_thread = g_thread_self ();
  bd->func_after_busy = g_atomic_int_get (&bd->busy_done);
  return g_strdup ("served");
}

static gpointer
busy_worker (gpointer       user_data,
             GCancellable  *cancellable,
             GError       **error)
{
  BusyData *bd = user_data;

  test_event_set (&bd->about_to_call);
  return syncify_context_invoke_sync (NULL, busy_func, bd, NULL, error);
}

static void busy_done_cb (GObject *source_object, GAsyncResult *result, gpointer user_data);

static gboolean
busy_owner_cb (gpointer data)
{
  BusyData *bd = data;

  /* The main thread is busy in here from before the worker starts until
   * the worker's call is in the inbox (the default context then has
   * something to dispatch); the worker is then blocked on us. */
  syncify_context_asyncify (syncify_context_get_default (), SYNCIFY_FLAGS_NONE,
                            busy_worker, bd, NULL, g_free, NULL, busy_done_cb, bd);
  test_event_wait (&bd->about_to_call, "the worker to call invoke_sync");
  while (!g_main_context_pending (NULL))
    g_usleep (500);   /* bounded by the watchdog */
  g_assert_cmpint (g_atomic_int_get (&bd->func_count), ==, 0);
  g_atomic_int_set (&bd->busy_done, 1);

  return G_SOURCE_REMOVE;
}

static void
busy_done_cb (GObject      *source_object,
              GAsyncResult *result,
              gpointer      user_data)
{
  BusyData *bd = user_data;

  bd->result = syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result,
                                                &bd->error);
  bd->done = TRUE;
  g_main_loop_quit (bd->loop);
}

static void
test_busy_owner (void)
{
  BusyData bd = { NULL, };

  test_watchdog_arm (g_test_get_path ());

  test_event_init (&bd.about_to_call);
  bd.loop = g_main_loop_new (NULL, FALSE);

  g_idle_add (busy_owner_cb, &bd);
  g_main_loop_run (bd.loop);

  g_assert_true (bd.done);
  g_assert_no_error (bd.error);
  g_assert_cmpstr (bd.result, ==, "served");
  g_assert_cmpint (bd.func_count, ==, 1);
  g_assert_true (bd.func_thread == main_thread);
  g_assert_true (bd.func_after_busy);

  g_free (bd.result);
  g_main_loop_unref (bd.loop);
  test_event_clear (&bd.about_to_call);
}

/* ------------------------------------------------------------------------ *
 * (6) the main thread iterates a private context waiting on a worker that
 * pushes back to the default context
 * ------------------------------------------------------------------------ */

typedef struct {
  FuncRecord     back;
  GError        *back_error;
  GThread       *worker_thread;
  GThread       *start_thread;
  GMainContext  *start_td;
  GMainContext  *finish_td;
  char          *result;
  GError        *error;
} PrivateCycleData;

static gpointer
private_cycle_worker (gpointer       user_data,
                      GCancellable  *cancellable,
                      GError       **error)
{
  PrivateCycleData *pd = user_data;
  gpointer result;

  pd->worker_thread = g_thread_self ();
  g_assert_true (syncify_context_get_current () == syncify_context_get_default ());
  result = syncify_context_invoke_sync (NULL, record_func, &pd->back, NULL, &pd->back_error);
  g_assert_null (result);

  return g_strdup ("worker returned");
}

static void
private_cycle_start (gpointer             user_data,
                     GCancellable        *cancellable,
                     GAsyncReadyCallback  callback,
                     gpointer             callback_data)
{
  PrivateCycleData *pd = user_data;

  pd->start_thread = g_thread_self ();
  pd->start_td = g_main_context_get_thread_default ();
  syncify_context_asyncify (syncify_context_get_default (), SYNCIFY_FLAGS_NONE,
                            private_cycle_worker, pd, NULL, g_free, cancellable,
                            callback, callback_data);
}

static gpointer
private_cycle_finish (GObject       *source_object,
                      GAsyncResult  *result,
                      gpointer       user_data,
                      GError       **error)
{
  PrivateCycleData *pd = user_data;

  pd->finish_td = g_main_context_get_thread_default ();
  return syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result, error);
}

static gboolean
private_cycle_cb (gpointer data)
{
  PrivateCycleData *pd = data;

  pd->result = syncify_context_syncify (syncify_context_get_default (),
                                        SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT,
                                        private_cycle_start, private_cycle_finish, pd,
                                        NULL, &pd->error);
  return G_SOURCE_REMOVE;
}

static void
test_private_iteration (void)
{
  PrivateCycleData pd = { { 0, }, };
  const char *needles[] = { "\"main\"", "default context", "private", NULL };

  test_watchdog_arm (g_test_get_path ());

  run_in_loop_callback (private_cycle_cb, &pd);

  g_assert_no_error (pd.error);
  g_assert_cmpstr (pd.result, ==, "worker returned");
  g_assert_true (pd.start_thread == main_thread);
  g_assert_nonnull (pd.start_td);
  g_assert_true (pd.start_td != g_main_context_default ());
  g_assert_true (pd.finish_td == pd.start_td);
  g_assert_true (pd.worker_thread != main_thread);

  g_assert_error (pd.back_error, SYNCIFY_ERROR, SYNCIFY_ERROR_WOULD_DEADLOCK);
  g_assert_cmpint (pd.back.count, ==, 0);
  assert_message_has (pd.back_error, needles);
  g_test_message ("%s", pd.back_error->message);

  g_clear_error (&pd.back_error);
  g_free (pd.result);
}

/* ------------------------------------------------------------------------ *
 * (7) many threads creating waits between two background contexts at once
 * ------------------------------------------------------------------------ */

typedef enum {
  KIND_A_PLAIN,       /* caller -> A */
  KIND_A_TO_B,        /* caller -> A -> B */
  KIND_A_TO_B_TO_A,   /* caller -> A -> B -> A: a cycle */
  KIND_B_PLAIN,       /* caller -> B */
  KIND_B_TO_A,        /* caller -> B -> A (mixed phase only) */
  N_KINDS
} CallKind;

typedef struct {
  SyncifyContext *a;
  SyncifyContext *b;
  gboolean        mixed;
  guint           n_iterations;
  gint            ok[N_KINDS];        /* (atomic) */
  gint            deadlock[N_KINDS];  /* (atomic) */
  gint            ran_back;           /* (atomic): a cyclic call back that ran */
} StormData;

typedef struct {
  StormData *sd;
  CallKind   kind;
} StormCall;

static gpointer
storm_plain (gpointer       user_data,
             GCancellable  *cancellable,
             GError       **error)
{
  return g_strdup ("plain");
}

static gpointer
storm_ran_back (gpointer       user_data,
                GCancellable  *cancellable,
                GError       **error)
{
  StormCall *call = user_data;

  g_atomic_int_inc (&call->sd->ran_back);
  return g_strdup ("must not run");
}

/* On B, for KIND_A_TO_B_TO_A: A is waiting on us. */
static gpointer
storm_b_back_to_a (gpointer       user_data,
                   GCancellable  *cancellable,
                   GError       **error)
{
  StormCall *call = user_data;

  return syncify_context_invoke_sync (call->sd->a, storm_ran_back, call, NULL, error);
}

/* On A, for KIND_A_TO_B and KIND_A_TO_B_TO_A. */
static gpointer
storm_a_to_b (gpointer       user_data,
              GCancellable  *cancellable,
              GError       **error)
{
  StormCall *call = user_data;

  return syncify_context_invoke_sync (call->sd->b,
                                      call->kind == KIND_A_TO_B ? storm_plain : storm_b_back_to_a,
                                      call, NULL, error);
}

/* On B, for KIND_B_TO_A. */
static gpointer
storm_b_to_a (gpointer       user_data,
              GCancellable  *cancellable,
              GError       **error)
{
  StormCall *call = user_data;

  return syncify_context_invoke_sync (call->sd->a, storm_plain, call, NULL, error);
}

static gpointer
storm_thread (gpointer data)
{
  StormData *sd = data;
  guint seed = GPOINTER_TO_UINT (g_thread_self ()) >> 4;

  for (guint i = 0; i < sd->n_iterations; i++)
    {
      StormCall call = { sd, (i + seed) % (sd->mixed ? N_KINDS : KIND_B_TO_A) };
      g_autoptr(GError) error = NULL;
      g_autofree char *result = NULL;
      SyncifyContext *target = NULL;
      SyncifyThreadFunc func = NULL;

      switch (call.kind)
        {
        case KIND_A_PLAIN:      target = sd->a; func = storm_plain; break;
        case KIND_A_TO_B:       target = sd->a; func = storm_a_to_b; break;
        case KIND_A_TO_B_TO_A:  target = sd->a; func = storm_a_to_b; break;
        case KIND_B_PLAIN:      target = sd->b; func = storm_plain; break;
        case KIND_B_TO_A:       target = sd->b; func = storm_b_to_a; break;
        case N_KINDS:           g_assert_not_reached ();
        }

      result = syncify_context_invoke_sync (target, func, &call, NULL, &error);
      if (error != NULL)
        {
          g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_WOULD_DEADLOCK);
          g_assert_null (result);
          g_atomic_int_inc (&sd->deadlock[call.kind]);
        }
      else
        {
          g_assert_cmpstr (result, ==, "plain");
          g_atomic_int_inc (&sd->ok[call.kind]);
        }
    }

  return NULL;
}

static void
run_storm (StormData *sd,
           guint      n_threads)
{
  GPtrArray *threads = g_ptr_array_new ();

  for (guint i = 0; i < n_threads; i++)
    g_ptr_array_add (threads, g_thread_new ("storm", storm_thread, sd));
  for (guint i = 0; i < n_threads; i++)
    g_thread_join (threads->pdata[i]);
  g_ptr_array_unref (threads);
}

static void
test_concurrent (void)
{
  StormData sd = { NULL, };
  guint n_threads = test_scaled (TEST_FEWER_UNDER_VALGRIND, 8, 3);
  guint total;

  test_watchdog_arm (g_test_get_path ());

  sd.a = syncify_context_new_thread ("storm-a");
  sd.b = syncify_context_new_thread ("storm-b");
  sd.n_iterations = test_scaled (TEST_FEWER_UNDER_VALGRIND, 200, 12);

  /* Every wait goes A -> B, except in the cyclic kind: exactly those fail. */
  sd.mixed = FALSE;
  run_storm (&sd, n_threads);
  total = 0;
  for (guint k = 0; k < KIND_B_TO_A; k++)
    {
      if (k == KIND_A_TO_B_TO_A)
        {
          g_assert_cmpint (sd.ok[k], ==, 0);
          g_assert_cmpint (sd.deadlock[k], >, 0);
        }
      else
        {
          g_assert_cmpint (sd.deadlock[k], ==, 0);
          g_assert_cmpint (sd.ok[k], >, 0);
        }
      total += sd.ok[k] + sd.deadlock[k];
    }
  g_assert_cmpuint (total, ==, n_threads * sd.n_iterations);
  g_assert_cmpint (sd.ran_back, ==, 0);

  /* Mixed: A -> B and B -> A from different callers may really meet in a
   * cycle; whoever closes it fails, nobody hangs, and plain calls never
   * fail. */
  memset (sd.ok, 0, sizeof sd.ok);
  memset (sd.deadlock, 0, sizeof sd.deadlock);
  sd.mixed = TRUE;
  run_storm (&sd, n_threads);
  total = 0;
  for (guint k = 0; k < N_KINDS; k++)
    total += sd.ok[k] + sd.deadlock[k];
  g_assert_cmpuint (total, ==, n_threads * sd.n_iterations);
  g_assert_cmpint (sd.deadlock[KIND_A_PLAIN], ==, 0);
  g_assert_cmpint (sd.deadlock[KIND_B_PLAIN], ==, 0);
  g_assert_cmpint (sd.ok[KIND_A_TO_B_TO_A], ==, 0);
  g_assert_cmpint (sd.ran_back, ==, 0);
  g_test_message ("mixed: A->B %d ok / %d deadlock, B->A %d ok / %d deadlock",
                  sd.ok[KIND_A_TO_B], sd.deadlock[KIND_A_TO_B],
                  sd.ok[KIND_B_TO_A], sd.deadlock[KIND_B_TO_A]);

  g_assert_finalize_object (sd.a);
  g_assert_finalize_object (sd.b);
}

/* ------------------------------------------------------------------------ *
 * (8) a context the blocked thread acquired without iterating it: main runs
 * invoke_sync inline on a context nobody runs (so it owns it), and the
 * function it runs pushes to a background context that pushes back
 * ------------------------------------------------------------------------ */

typedef struct {
  SyncifyContext *wrapped;
  SyncifyContext *bg;
  gboolean        owned_inline;
  GThread        *inline_thread;
  FuncRecord      back;
  GError         *back_error;
} InlineOwnerData;

static gpointer
inline_owner_bg_func (gpointer       user_data,
                      GCancellable  *cancellable,
                      GError       **error)
{
  InlineOwnerData *io = user_data;
  gpointer result;

  result = syncify_context_invoke_sync (io->wrapped, record_func, &io->back, NULL,
                                        &io->back_error);
  g_assert_null (result);
  return g_strdup ("bg done");
}

static gpointer
inline_owner_func (gpointer       user_data,
                   GCancellable  *cancellable,
                   GError       **error)
{
  InlineOwnerData *io = user_data;

  io->inline_thread = g_thread_self ();
  io->owned_inline = g_main_context_is_owner (syncify_context_get_main_context (io->wrapped));
  return syncify_context_invoke_sync (io->bg, inline_owner_bg_func, io, NULL, error);
}

static gboolean
set_event_cb (gpointer data)
{
  test_event_set (data);
  return G_SOURCE_REMOVE;
}

static gpointer
run_loop_thread (gpointer data)
{
  GMainLoop *loop = data;

  g_main_context_push_thread_default (g_main_loop_get_context (loop));
  g_main_loop_run (loop);
  g_main_context_pop_thread_default (g_main_loop_get_context (loop));
  return NULL;
}

static void
inline_owner_run (void)
{
  InlineOwnerData io = { NULL, };
  g_autoptr(GMainContext) ctx = g_main_context_new ();
  g_autoptr(GMainLoop) loop = g_main_loop_new (ctx, FALSE);
  g_autoptr(GError) error = NULL;
  g_autofree char *result = NULL;
  FuncRecord warmup = { 0, };
  GThread *loop_thread;
  GSource *source;
  TestEvent running;
  const char *needles[] = { "\"main\"", "\"bg-inline\"", NULL };

  io.wrapped = syncify_context_new (ctx);
  io.bg = syncify_context_new_thread ("bg-inline");

  /* Another thread runs ctx for a while (and so iterates it last) ... */
  test_event_init (&running);
  source = g_idle_source_new ();
  g_source_set_callback (source, set_event_cb, &running, NULL);
  g_source_attach (source, ctx);
  g_source_unref (source);
  loop_thread = g_thread_new ("ctx-loop", run_loop_thread, loop);
  test_event_wait (&running, "the loop thread to run ctx");
  test_event_clear (&running);
  result = syncify_context_invoke_sync (io.wrapped, record_func, &warmup, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (warmup.thread == loop_thread);
  g_clear_pointer (&result, g_free);
  source = g_idle_source_new ();
  g_source_set_callback (source, test_quit_loop_cb, loop, NULL);
  g_source_attach (source, ctx);
  g_source_unref (source);
  g_thread_join (loop_thread);

  /* ... then nobody does: invoke_sync runs inline on the main thread, which
   * owns ctx while its function waits on bg, which pushes back to ctx. */
  result = syncify_context_invoke_sync (io.wrapped, inline_owner_func, &io, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (result, ==, "bg done");
  g_assert_true (io.inline_thread == main_thread);
  g_assert_true (io.owned_inline);

  g_assert_error (io.back_error, SYNCIFY_ERROR, SYNCIFY_ERROR_WOULD_DEADLOCK);
  g_assert_cmpint (io.back.count, ==, 0);
  assert_message_has (io.back_error, needles);
  g_test_message ("%s", io.back_error->message);
  g_clear_error (&io.back_error);

  g_assert_finalize_object (io.bg);
  g_assert_finalize_object (io.wrapped);
}

/* ------------------------------------------------------------------------ *
 * (10) the default context first wrapped by a background thread, which at
 * once blocks on it (nobody recorded as its owner yet), while the main
 * thread, holding it in a dispatch, blocks on that background context:
 * whichever of the two blocks second fails, in either order
 * ------------------------------------------------------------------------ */

typedef struct {
  SyncifyContext *bg;
  GMainLoop      *loop;
  FuncRecord      on_main;
  FuncRecord      on_bg;
  gint            bg_calling;   /* (atomic) */
  gint            bg_done;      /* (atomic) */
  GError         *bg_error;     /* written on bg before bg_done */
  gpointer        bg_result;
  GError         *main_error;
  gpointer        main_result;
} ElsewhereData;

/* On the background thread. */
static gboolean
elsewhere_bg_cb (gpointer data)
{
  ElsewhereData *ed = data;
  SyncifyContext *def = syncify_context_get_default ();

  g_atomic_int_set (&ed->bg_calling, 1);
  ed->bg_result = syncify_context_invoke_sync (def, record_func, &ed->on_main, NULL,
                                               &ed->bg_error);
  g_atomic_int_set (&ed->bg_done, 1);
  g_main_context_wakeup (g_main_context_default ());
  return G_SOURCE_REMOVE;
}

static gboolean
elsewhere_quit_cb (gpointer data)
{
  ElsewhereData *ed = data;

  if (!g_atomic_int_get (&ed->bg_done))
    return G_SOURCE_CONTINUE;   /* bounded by the watchdog */
  g_main_loop_quit (ed->loop);
  return G_SOURCE_REMOVE;
}

/* On the main thread, in a dispatch of the default context. */
static gboolean
elsewhere_main_cb (gpointer data)
{
  ElsewhereData *ed = data;

  g_main_context_invoke (syncify_context_get_main_context (ed->bg), elsewhere_bg_cb, ed);
  /* Most often the background thread blocks first (the order that only
   * its own search can catch); either order must end. */
  while (!g_atomic_int_get (&ed->bg_calling))
    g_thread_yield ();   /* bounded by the watchdog */
  ed->main_result = syncify_context_invoke_sync (ed->bg, record_func, &ed->on_bg, NULL,
                                                 &ed->main_error);
  g_timeout_add (1, elsewhere_quit_cb, ed);
  return G_SOURCE_REMOVE;
}

static void
default_elsewhere_run (void)
{
  ElsewhereData ed = { NULL, };
  const char *needles[] = { "\"main\"", "\"bg-elsewhere\"", "the default context", NULL };
  GError *failed;

  ed.bg = syncify_context_new_thread ("bg-elsewhere");
  ed.loop = g_main_loop_new (NULL, FALSE);
  g_idle_add (elsewhere_main_cb, &ed);
  g_main_loop_run (ed.loop);

  /* Exactly one failed, the other ran. */
  g_assert_true ((ed.main_error == NULL) != (ed.bg_error == NULL));
  failed = ed.main_error != NULL ? ed.main_error : ed.bg_error;
  g_assert_error (failed, SYNCIFY_ERROR, SYNCIFY_ERROR_WOULD_DEADLOCK);
  assert_message_has (failed, needles);
  g_test_message ("%s failed: %s", ed.main_error != NULL ? "main" : "bg", failed->message);
  if (ed.main_error != NULL)
    {
      g_assert_null (ed.main_result);
      g_assert_cmpint (ed.on_bg.count, ==, 0);
      g_assert_nonnull (ed.bg_result);
      g_assert_cmpint (ed.on_main.count, ==, 1);
      g_assert_true (ed.on_main.thread == main_thread);
    }
  else
    {
      g_assert_null (ed.bg_result);
      g_assert_cmpint (ed.on_main.count, ==, 0);
      g_assert_nonnull (ed.main_result);
      g_assert_cmpint (ed.on_bg.count, ==, 1);
    }
  g_clear_error (&ed.main_error);
  g_clear_error (&ed.bg_error);
  g_free (ed.main_result);
  g_free (ed.bg_result);
  g_main_loop_unref (ed.loop);
  g_assert_finalize_object (ed.bg);
}

/* ------------------------------------------------------------------------ *
 * In a fresh process: the cycles of (1) and (2) where the default
 * SyncifyContext does not exist yet when the main thread blocks (it is first
 * made by the thread that pushes back), (8) and (10). A subprocess each, so a hang
 * fails the test after a bound instead of stopping the whole program.
 * ------------------------------------------------------------------------ */

static void
test_fresh (gconstpointer data)
{
  const char *what = data;
  /* A quarter of the watchdog's bound, scaled like it for slow setups
   * (the child runs natively, but beside valgrind'd programs). */
  gint64 bound_us = test_watchdog_bound_us () / 4;

  if (g_test_subprocess ())
    {
      test_watchdog_arm (g_test_get_path ());
      if (g_str_equal (what, "invoke-sync"))
        cycle_main_bg_run (FALSE);
      else if (g_str_equal (what, "syncify"))
        cycle_main_bg_run (TRUE);
      else if (g_str_equal (what, "chain"))
        chain_run ();
      else if (g_str_equal (what, "inline-owner"))
        inline_owner_run ();
      else if (g_str_equal (what, "default-elsewhere"))
        default_elsewhere_run ();
      else
        g_assert_not_reached ();
      return;
    }

  g_test_trap_subprocess (NULL, bound_us, G_TEST_SUBPROCESS_INHERIT_STDERR);
  if (g_test_trap_has_passed ())
    return;
  if (!g_test_trap_reached_timeout ())
    g_test_trap_assert_passed ();
  g_test_fail_printf ("the cycle was not detected: the subprocess hung for %" G_GINT64_FORMAT " s",
                      bound_us / G_USEC_PER_SEC);
}

/* ------------------------------------------------------------------------ *
 * (9) a call answered, and at once its context's thread pushes back to the
 * caller's context: the caller waits on nobody once its call is answered,
 * even before it has woken up, so the push back is no cycle
 * ------------------------------------------------------------------------ */

typedef struct {
  SyncifyContext *main_ctx;     /* the default context, owned by the main thread */
  gint            pushed_back;  /* (atomic) push backs that returned */
  gint            n_errors;     /* (atomic) push backs that failed */
  gint            ran_back;     /* on the main thread */
} AnsweredData;

static gpointer
back_func (gpointer       user_data,
           GCancellable  *cancellable,
           GError       **error)
{
  AnsweredData *ad = user_data;

  g_assert_true (g_thread_self () == main_thread);
  ad->ran_back++;
  return GINT_TO_POINTER (1);
}

static gboolean
push_back_idle (gpointer user_data)
{
  AnsweredData *ad = user_data;
  g_autoptr(GError) error = NULL;

  if (syncify_context_invoke_sync (ad->main_ctx, back_func, ad, NULL, &error) == NULL)
    {
      g_test_message ("push back failed: %s", error != NULL ? error->message : "(no error)");
      g_atomic_int_inc (&ad->n_errors);
    }
  g_atomic_int_inc (&ad->pushed_back);
  return G_SOURCE_REMOVE;
}

/* On the background thread: the push back runs right after this call is
 * answered, often before the caller has woken up. */
static gpointer
answer_func (gpointer       user_data,
             GCancellable  *cancellable,
             GError       **error)
{
  GSource *idle = g_idle_source_new ();

  g_source_set_callback (idle, push_back_idle, user_data, NULL);
  g_source_attach (idle, g_main_context_get_thread_default ());
  g_source_unref (idle);
  return GINT_TO_POINTER (1);
}

static void
test_answered_then_push_back (void)
{
  AnsweredData ad = { NULL, };
  SyncifyContext *bg;
  gint rounds = (gint) test_scaled (TEST_FEWER_UNDER_VALGRIND, 300, 20);

  test_watchdog_arm (g_test_get_path ());

  ad.main_ctx = syncify_context_get_default ();
  /* The main thread iterates the default context: its owner from now on. */
  g_main_context_iteration (NULL, FALSE);
  bg = syncify_context_new_thread ("answerer");

  for (gint i = 1; i <= rounds; i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_nonnull (syncify_context_invoke_sync (bg, answer_func, &ad, NULL, &error));
      g_assert_no_error (error);
      /* Serve the push back (the watchdog bounds both loops). */
      while (ad.ran_back < i && g_atomic_int_get (&ad.n_errors) == 0)
        g_main_context_iteration (NULL, FALSE);
      while (g_atomic_int_get (&ad.pushed_back) < i)
        g_thread_yield ();
      g_assert_cmpint (g_atomic_int_get (&ad.n_errors), ==, 0);
    }
  g_assert_cmpint (ad.ran_back, ==, rounds);

  g_assert_finalize_object (bg);
}

/* ------------------------------------------------------------------------ */

int
main (int    argc,
      char **argv)
{
  test_init (&argc, &argv);
  main_thread = g_thread_self ();

  g_test_add_data_func ("/syncify/deadlock/cycle/invoke-sync", GINT_TO_POINTER (FALSE),
                        test_cycle_main_bg);
  g_test_add_data_func ("/syncify/deadlock/cycle/syncify", GINT_TO_POINTER (TRUE),
                        test_cycle_main_bg);
  g_test_add_func ("/syncify/deadlock/cycle/chain", test_chain);
  g_test_add_func ("/syncify/deadlock/cycle/background-pair", test_bg_cycle);
  g_test_add_func ("/syncify/deadlock/no-false-alarm/same-name", test_same_name_no_false_alarm);
  g_test_add_func ("/syncify/deadlock/no-false-alarm/busy-owner", test_busy_owner);
  g_test_add_func ("/syncify/deadlock/no-false-alarm/answered-then-push-back",
                   test_answered_then_push_back);
  g_test_add_func ("/syncify/deadlock/cycle/private-iteration", test_private_iteration);
  g_test_add_func ("/syncify/deadlock/concurrent", test_concurrent);
  g_test_add_data_func ("/syncify/deadlock/fresh/invoke-sync", "invoke-sync", test_fresh);
  g_test_add_data_func ("/syncify/deadlock/fresh/syncify", "syncify", test_fresh);
  g_test_add_data_func ("/syncify/deadlock/fresh/chain", "chain", test_fresh);
  g_test_add_data_func ("/syncify/deadlock/fresh/inline-owner", "inline-owner", test_fresh);
  g_test_add_data_func ("/syncify/deadlock/fresh/default-elsewhere", "default-elsewhere",
                        test_fresh);

  return g_test_run ();
}
