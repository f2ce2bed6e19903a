/* test-background.c: background contexts (syncify_context_new_thread)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <pthread.h>
#include <string.h>

#include "test-util.h"

static GThread *main_thread;

/* Runs @func on @context (owned by another thread) from an idle there. */
static void
run_on_context (GMainContext *context,
                GSourceFunc   func,
                gpointer      data)
{
  GSource *source = g_idle_source_new ();

  g_source_set_callback (source, func, data, NULL);
  g_source_attach (source, context);
  g_source_unref (source);
}

/* ------------------------------------------------------------------------ *
 * What a function saw of the thread it ran on
 * ------------------------------------------------------------------------ */

typedef struct {
  gint          count;      /* (atomic) */
  GThread      *thread;
  GMainContext *td_raw;     /* g_main_context_get_thread_default () */
  GMainContext *td;
  gboolean      owns_bg;
  char          os_name[32];
  GMainContext *bg_context; /* in: the background context's */
} Seen;

static void
seen_record (Seen *seen)
{
  g_atomic_int_inc (&seen->count);
  seen->thread = g_thread_self ();
  seen->td_raw = g_main_context_get_thread_default ();
  seen->td = test_thread_default ();
  seen->owns_bg = seen->bg_context != NULL && g_main_context_is_owner (seen->bg_context);
  memset (seen->os_name, 0, sizeof seen->os_name);
  pthread_getname_np (pthread_self (), seen->os_name, sizeof seen->os_name);
}

static gpointer
seen_func (gpointer       user_data,
           GCancellable  *cancellable,
           GError       **error)
{
  seen_record (user_data);
  return g_strdup ("func");
}

static gpointer
thread_self_func (gpointer       user_data,
                  GCancellable  *cancellable,
                  GError       **error)
{
  return g_thread_self ();
}

/* The thread of @bg, asked through invoke_sync. */
static GThread *
bg_thread_of (SyncifyContext *bg)
{
  g_autoptr(GError) error = NULL;
  GThread *thread;

  thread = syncify_context_invoke_sync (bg, thread_self_func, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (thread);
  g_assert_true (thread != g_thread_self ());

  return thread;
}

static void
assert_seen_on_bg (Seen           *seen,
                   SyncifyContext *bg,
                   GThread        *bg_thread)
{
  g_assert_cmpint (seen->count, ==, 1);
  g_assert_true (seen->thread == bg_thread);
  g_assert_true (seen->td_raw == syncify_context_get_main_context (bg));
  g_assert_true (seen->owns_bg);
}

/* ------------------------------------------------------------------------ *
 * A synthetic GTask-based operation
 * ------------------------------------------------------------------------ */

typedef enum {
  OP_IDLE,          /* completes from an idle on the thread-default context */
  OP_WAIT_CANCEL,   /* completes only when cancelled, one idle later */
} OpMode;

typedef struct {
  OpMode        mode;
  guint         value;
  Seen          start;
  Seen          finish;
  Seen          destroy;          /* user_data_destroy */
  gint          finish_before_destroy;
  gint          cancel_seen;      /* (atomic) */
  GThread      *cancel_thread;
  gint          completed;        /* (atomic) */
  TestEvent     started;
} Op;

static void
op_init (Op             *op,
         OpMode          mode,
         guint           value,
         SyncifyContext *bg)
{
  memset (op, 0, sizeof *op);
  op->mode = mode;
  op->value = value;
  op->start.bg_context = op->finish.bg_context = op->destroy.bg_context =
    bg != NULL ? syncify_context_get_main_context (bg) : NULL;
  test_event_init (&op->started);
}

static void
op_clear (Op *op)
{
  test_event_clear (&op->started);
}

static char *
op_expected (Op *op)
{
  return g_strdup_printf ("op-%u", op->value);
}

static void
op_user_data_destroy (gpointer data)
{
  Op *op = data;

  op->finish_before_destroy = g_atomic_int_get (&op->finish.count);
  seen_record (&op->destroy);
}

static gboolean
op_idle_cb (gpointer data)
{
  GTask *task = data;
  Op *op = g_task_get_task_data (task);

  g_atomic_int_set (&op->completed, 1);
  g_task_return_pointer (task, op_expected (op), g_free);
  return G_SOURCE_REMOVE;
}

static gboolean
op_cancelled_late_cb (gpointer data)
{
  GTask *task = data;
  Op *op = g_task_get_task_data (task);

  g_atomic_int_set (&op->completed, 1);
  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "op was cancelled");
  return G_SOURCE_REMOVE;
}

static gboolean
op_cancelled_cb (GCancellable *cancellable,
                 gpointer      data)
{
  GTask *task = data;
  Op *op = g_task_get_task_data (task);
  GSource *source;

  op->cancel_thread = g_thread_self ();
  g_atomic_int_inc (&op->cancel_seen);

  source = g_idle_source_new ();
  g_source_set_callback (source, op_cancelled_late_cb, g_object_ref (task), g_object_unref);
  g_source_attach (source, g_task_get_context (task));
  g_source_unref (source);

  return G_SOURCE_REMOVE;
}

static void
op_start (gpointer             user_data,
          GCancellable        *cancellable,
          GAsyncReadyCallback  callback,
          gpointer             callback_data)
{
  Op *op = user_data;
  GTask *task = g_task_new (NULL, cancellable, callback, callback_data);
  GSource *source;

  seen_record (&op->start);
  g_task_set_task_data (task, op, NULL);

  switch (op->mode)
    {
    case OP_IDLE:
      source = g_idle_source_new ();
      g_source_set_callback (source, op_idle_cb, task, g_object_unref);
      g_source_attach (source, g_task_get_context (task));
      g_source_unref (source);
      break;

    case OP_WAIT_CANCEL:
      g_assert_nonnull (cancellable);
      source = g_cancellable_source_new (cancellable);
      g_source_set_callback (source, G_SOURCE_FUNC (op_cancelled_cb), task, g_object_unref);
      g_source_attach (source, g_task_get_context (task));
      g_source_unref (source);
      break;
    }

  test_event_set (&op->started);
}

static gpointer
op_finish (GObject       *source_object,
           GAsyncResult  *result,
           gpointer       user_data,
           GError       **error)
{
  Op *op = user_data;

  seen_record (&op->finish);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ------------------------------------------------------------------------ *
 * Thread names
 * ------------------------------------------------------------------------ */

static void
test_thread_name (void)
{
  SyncifyContext *bg;
  Seen seen = { 0, };
  g_autoptr(GError) error = NULL;
  g_autofree char *result = NULL;

  test_watchdog_arm (g_test_get_path ());

  bg = syncify_context_new_thread ("bg-named");
  g_assert_cmpstr (syncify_context_get_name (bg), ==, "bg-named");
  seen.bg_context = syncify_context_get_main_context (bg);
  g_assert_true (seen.bg_context != g_main_context_default ());

  result = syncify_context_invoke_sync (bg, seen_func, &seen, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (result, ==, "func");
  g_assert_cmpstr (seen.os_name, ==, "bg-named");
  g_assert_true (seen.thread != main_thread);
  g_assert_finalize_object (bg);

  /* No name: "syncify". */
  bg = syncify_context_new_thread (NULL);
  g_assert_cmpstr (syncify_context_get_name (bg), ==, "syncify");
  memset (&seen, 0, sizeof seen);
  g_clear_pointer (&result, g_free);
  result = syncify_context_invoke_sync (bg, seen_func, &seen, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (seen.os_name, ==, "syncify");
  g_assert_finalize_object (bg);
}

/* ------------------------------------------------------------------------ *
 * syncify and invoke_sync from main(), a worker, and a thread with a loop
 * ------------------------------------------------------------------------ */

typedef struct {
  SyncifyContext *bg;
  GThread        *bg_thread;
  Op              op;
  Seen            func;
  char           *op_result;
  char           *func_result;
  GError         *op_error;
  GError         *func_error;
  GThread        *caller;
} SyncCalls;

static void
sync_calls_run (SyncCalls *sc)
{
  sc->caller = g_thread_self ();
  sc->op_result = syncify_context_syncify (sc->bg, SYNCIFY_FLAGS_NONE, op_start, op_finish,
                                           &sc->op, NULL, &sc->op_error);
  sc->func_result = syncify_context_invoke_sync (sc->bg, seen_func, &sc->func, NULL,
                                                 &sc->func_error);
}

static void
sync_calls_init (SyncCalls      *sc,
                 SyncifyContext *bg)
{
  memset (sc, 0, sizeof *sc);
  sc->bg = bg;
  sc->bg_thread = bg_thread_of (bg);
  op_init (&sc->op, OP_IDLE, 5, bg);
  sc->func.bg_context = syncify_context_get_main_context (bg);
}

static void
sync_calls_check (SyncCalls *sc)
{
  g_autofree char *expected = op_expected (&sc->op);

  g_assert_true (sc->caller != sc->bg_thread);
  g_assert_no_error (sc->op_error);
  g_assert_cmpstr (sc->op_result, ==, expected);
  assert_seen_on_bg (&sc->op.start, sc->bg, sc->bg_thread);
  assert_seen_on_bg (&sc->op.finish, sc->bg, sc->bg_thread);

  g_assert_no_error (sc->func_error);
  g_assert_cmpstr (sc->func_result, ==, "func");
  assert_seen_on_bg (&sc->func, sc->bg, sc->bg_thread);

  g_free (sc->op_result);
  g_free (sc->func_result);
  op_clear (&sc->op);
}

static void
test_sync_from_main (void)
{
  SyncifyContext *bg;
  SyncCalls sc;

  test_watchdog_arm (g_test_get_path ());

  bg = syncify_context_new_thread ("bg-sync");
  sync_calls_init (&sc, bg);
  sync_calls_run (&sc);
  g_assert_true (sc.caller == main_thread);
  sync_calls_check (&sc);
  g_assert_finalize_object (bg);
}

typedef struct {
  GMainLoop *loop;
  gpointer   data;
  GError    *error;
  gboolean   done;
} WorkerRun;

static gpointer
sync_calls_worker (gpointer       user_data,
                   GCancellable  *cancellable,
                   GError       **error)
{
  WorkerRun *wr = user_data;

  g_assert_true (syncify_context_get_current () == syncify_context_get_default ());
  sync_calls_run (wr->data);
  return NULL;
}

static void
worker_run_done_cb (GObject      *source_object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  WorkerRun *wr = user_data;

  g_assert_true (g_thread_self () == main_thread);
  g_assert_null (syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result,
                                                  &wr->error));
  wr->done = TRUE;
  g_main_loop_quit (wr->loop);
}

/* Runs @func in an asyncify worker of the default context while a GMainLoop
 * runs on the main thread. */
static void
run_in_worker (SyncifyThreadFunc  func,
               WorkerRun         *wr)
{
  wr->loop = g_main_loop_new (NULL, FALSE);
  syncify_context_asyncify (syncify_context_get_default (), SYNCIFY_FLAGS_NONE,
                            func, wr, NULL, NULL, NULL, worker_run_done_cb, wr);
  test_watchdog_arm ("the worker to complete");
  g_main_loop_run (wr->loop);
  g_assert_true (wr->done);
  g_main_loop_unref (wr->loop);
}

static void
test_sync_from_worker (void)
{
  SyncifyContext *bg;
  SyncCalls sc;
  WorkerRun wr = { NULL, &sc, };

  test_watchdog_arm (g_test_get_path ());

  bg = syncify_context_new_thread ("bg-sync");
  sync_calls_init (&sc, bg);
  run_in_worker (sync_calls_worker, &wr);
  g_assert_no_error (wr.error);
  g_assert_true (sc.caller != main_thread);
  sync_calls_check (&sc);
  g_assert_finalize_object (bg);
}

typedef struct {
  SyncCalls    *sc;
  GMainContext *context;
  TestEvent     done;
  gboolean      owned_own;
} LoopThreadCalls;

static gboolean
loop_thread_calls_cb (gpointer data)
{
  LoopThreadCalls *lc = data;

  lc->owned_own = g_main_context_is_owner (lc->context);
  sync_calls_run (lc->sc);
  test_event_set (&lc->done);
  return G_SOURCE_REMOVE;
}

static gpointer
own_loop_thread (gpointer data)
{
  GMainLoop *loop = data;

  g_main_context_push_thread_default (g_main_loop_get_context (loop));
  g_main_loop_run (loop);
  g_main_context_pop_thread_default (g_main_loop_get_context (loop));
  return NULL;
}

static void
test_sync_from_loop_thread (void)
{
  SyncifyContext *bg;
  SyncCalls sc;
  LoopThreadCalls lc = { &sc, };
  GMainLoop *loop;
  GThread *thread;

  test_watchdog_arm (g_test_get_path ());

  bg = syncify_context_new_thread ("bg-sync");
  sync_calls_init (&sc, bg);
  lc.context = g_main_context_new ();
  test_event_init (&lc.done);
  loop = g_main_loop_new (lc.context, FALSE);
  thread = g_thread_new ("own-loop", own_loop_thread, loop);

  run_on_context (lc.context, loop_thread_calls_cb, &lc);
  test_event_wait (&lc.done, "the calls from the loop thread");
  test_loop_quit_later (loop);
  g_thread_join (thread);

  g_assert_true (lc.owned_own);
  g_assert_true (sc.caller == thread);
  sync_calls_check (&sc);

  g_main_loop_unref (loop);
  g_main_context_unref (lc.context);
  test_event_clear (&lc.done);
  g_assert_finalize_object (bg);
}

/* ------------------------------------------------------------------------ *
 * call_async
 * ------------------------------------------------------------------------ */

typedef struct {
  SyncifyContext *bg;
  Op              op;
  Seen            callback;
  char           *result;
  GError         *error;
  gint            done;          /* (atomic) */
  gboolean        claim;         /* call call_finish in the callback */
  GMainLoop      *loop;          /* (nullable): quit when done */
  TestEvent       done_event;
} AsyncCall;

static void
async_call_init (AsyncCall      *ac,
                 SyncifyContext *bg,
                 OpMode          mode)
{
  memset (ac, 0, sizeof *ac);
  ac->bg = bg;
  ac->claim = TRUE;
  op_init (&ac->op, mode, 11, bg);
  ac->callback.bg_context = syncify_context_get_main_context (bg);
  test_event_init (&ac->done_event);
}

static void
async_call_clear (AsyncCall *ac)
{
  g_clear_pointer (&ac->result, g_free);
  g_clear_error (&ac->error);
  op_clear (&ac->op);
  test_event_clear (&ac->done_event);
}

static void
async_call_cb (GObject      *source_object,
               GAsyncResult *result,
               gpointer      user_data)
{
  AsyncCall *ac = user_data;

  g_assert_true (source_object == G_OBJECT (ac->bg));
  seen_record (&ac->callback);
  if (ac->claim)
    ac->result = syncify_context_call_finish (ac->bg, result, &ac->error);
  g_atomic_int_set (&ac->done, 1);
  test_event_set (&ac->done_event);
  if (ac->loop != NULL)
    g_main_loop_quit (ac->loop);
}

static void
async_call_start (AsyncCall    *ac,
                  GCancellable *cancellable)
{
  syncify_context_call_async (ac->bg, op_start, op_finish, &ac->op, op_user_data_destroy,
                              g_free, cancellable, async_call_cb, ac);
}

/* Starts the call and runs a GMainLoop on the main thread until its
 * callback ran. */
static void
async_call_run_main (AsyncCall    *ac,
                     GCancellable *cancellable)
{
  ac->loop = g_main_loop_new (NULL, FALSE);
  async_call_start (ac, cancellable);
  test_watchdog_arm ("the call_async callback");
  if (!g_atomic_int_get (&ac->done))
    g_main_loop_run (ac->loop);
  g_assert_true (g_atomic_int_get (&ac->done));
  g_clear_pointer (&ac->loop, g_main_loop_unref);
}

static void
test_call_async_main_loop (void)
{
  SyncifyContext *bg;
  GThread *bg_thread;
  AsyncCall ac;
  g_autofree char *expected = NULL;

  test_watchdog_arm (g_test_get_path ());

  bg = syncify_context_new_thread ("bg-async");
  bg_thread = bg_thread_of (bg);
  async_call_init (&ac, bg, OP_IDLE);

  async_call_run_main (&ac, NULL);

  expected = op_expected (&ac.op);
  g_assert_no_error (ac.error);
  g_assert_cmpstr (ac.result, ==, expected);
  assert_seen_on_bg (&ac.op.start, bg, bg_thread);
  assert_seen_on_bg (&ac.op.finish, bg, bg_thread);
  /* The callback: on the main thread, in its thread-default context. */
  g_assert_cmpint (ac.callback.count, ==, 1);
  g_assert_true (ac.callback.thread == main_thread);
  g_assert_true (ac.callback.td == g_main_context_default ());
  /* user_data_destroy: once, on the bg thread, after finish. */
  assert_seen_on_bg (&ac.op.destroy, bg, bg_thread);
  g_assert_cmpint (ac.op.finish_before_destroy, ==, 1);

  async_call_clear (&ac);
  g_assert_finalize_object (bg);
}

typedef struct {
  AsyncCall    *ac;
  GMainContext *context;
  GThread      *thread;
  gboolean      owned_in_callback;
} SecondaryCall;

static gpointer
secondary_call_thread (gpointer data)
{
  SecondaryCall *sc = data;

  sc->thread = g_thread_self ();
  g_main_context_push_thread_default (sc->context);
  async_call_start (sc->ac, NULL);
  test_watchdog_arm ("the call_async callback on the secondary thread");
  while (!g_atomic_int_get (&sc->ac->done))
    g_main_context_iteration (sc->context, TRUE);
  g_main_context_pop_thread_default (sc->context);

  return NULL;
}

static void
test_call_async_secondary_thread (void)
{
  SyncifyContext *bg;
  GThread *bg_thread;
  AsyncCall ac;
  SecondaryCall sc = { &ac, };
  g_autofree char *expected = NULL;

  test_watchdog_arm (g_test_get_path ());

  bg = syncify_context_new_thread ("bg-async");
  bg_thread = bg_thread_of (bg);
  async_call_init (&ac, bg, OP_IDLE);
  sc.context = g_main_context_new ();

  g_thread_join (g_thread_new ("secondary", secondary_call_thread, &sc));

  expected = op_expected (&ac.op);
  g_assert_no_error (ac.error);
  g_assert_cmpstr (ac.result, ==, expected);
  assert_seen_on_bg (&ac.op.start, bg, bg_thread);
  assert_seen_on_bg (&ac.op.finish, bg, bg_thread);
  g_assert_cmpint (ac.callback.count, ==, 1);
  g_assert_true (ac.callback.thread == sc.thread);
  g_assert_true (ac.callback.td_raw == sc.context);
  assert_seen_on_bg (&ac.op.destroy, bg, bg_thread);

  async_call_clear (&ac);
  g_main_context_unref (sc.context);
  g_assert_finalize_object (bg);
}

/* call_async on the bg thread itself, from inside an invoke_sync function:
 * it only starts the operation; the callback comes later on the bg thread. */
static gpointer
nested_call_async_func (gpointer       user_data,
                        GCancellable  *cancellable,
                        GError       **error)
{
  AsyncCall *ac = user_data;

  async_call_start (ac, NULL);
  /* Started right here, not completed yet. */
  g_assert_cmpint (ac->op.start.count, ==, 1);
  g_assert_true (ac->op.start.thread == g_thread_self ());
  g_assert_cmpint (ac->op.finish.count, ==, 0);
  g_assert_false (g_atomic_int_get (&ac->done));

  return g_strdup ("started");
}

static gpointer
nested_call_async_flush (gpointer       user_data,
                         GCancellable  *cancellable,
                         GError       **error)
{
  return g_strdup ("flushed");
}

static void
test_call_async_on_bg_thread (void)
{
  SyncifyContext *bg;
  GThread *bg_thread;
  AsyncCall ac;
  g_autoptr(GError) error = NULL;
  g_autofree char *result = NULL;
  g_autofree char *expected = NULL;

  test_watchdog_arm (g_test_get_path ());

  bg = syncify_context_new_thread ("bg-nested");
  bg_thread = bg_thread_of (bg);
  async_call_init (&ac, bg, OP_IDLE);

  result = syncify_context_invoke_sync (bg, nested_call_async_func, &ac, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (result, ==, "started");

  test_event_wait (&ac.done_event, "the nested call_async callback");
  expected = op_expected (&ac.op);
  g_assert_no_error (ac.error);
  g_assert_cmpstr (ac.result, ==, expected);
  assert_seen_on_bg (&ac.op.start, bg, bg_thread);
  assert_seen_on_bg (&ac.op.finish, bg, bg_thread);
  /* The callback completed it on the bg thread, in its context. */
  assert_seen_on_bg (&ac.callback, bg, bg_thread);
  assert_seen_on_bg (&ac.op.destroy, bg, bg_thread);

  /* The event is set inside the callback; the GTask drops its reference
   * to the context just after, in the same dispatch on the bg thread. A
   * round trip there waits for that dispatch to end. */
  g_clear_pointer (&result, g_free);
  result = syncify_context_invoke_sync (bg, nested_call_async_flush, NULL, NULL, &error);
  g_assert_no_error (error);

  async_call_clear (&ac);
  g_assert_finalize_object (bg);
}

/* ------------------------------------------------------------------------ *
 * Blocking calls on the bg thread itself
 * ------------------------------------------------------------------------ */

typedef struct {
  SyncifyContext *bg;
  Op              refused;
  GError         *refused_error;
  Op              priv;
  char           *priv_result;
  GError         *priv_error;
  Seen            inline_func;
  gint            inline_before_return;
  char           *inline_result;
  GError         *inline_error;
} OnBgData;

static gpointer
on_bg_func (gpointer       user_data,
            GCancellable  *cancellable,
            GError       **error)
{
  OnBgData *ob = user_data;
  gpointer result;

  result = syncify_context_syncify (ob->bg, SYNCIFY_FLAGS_NONE, op_start, op_finish,
                                    &ob->refused, NULL, &ob->refused_error);
  g_assert_null (result);

  ob->priv_result = syncify_context_syncify (ob->bg, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT,
                                             op_start, op_finish, &ob->priv, NULL,
                                             &ob->priv_error);

  ob->inline_result = syncify_context_invoke_sync (ob->bg, seen_func, &ob->inline_func, NULL,
                                                   &ob->inline_error);
  ob->inline_before_return = g_atomic_int_get (&ob->inline_func.count);

  return NULL;
}

static void
test_blocking_on_bg_thread (void)
{
  OnBgData ob = { NULL, };
  GThread *bg_thread;
  GMainContext *bg_context;
  g_autoptr(GError) error = NULL;
  g_autofree char *expected = NULL;

  test_watchdog_arm (g_test_get_path ());

  ob.bg = syncify_context_new_thread ("bg-self");
  bg_thread = bg_thread_of (ob.bg);
  bg_context = syncify_context_get_main_context (ob.bg);
  op_init (&ob.refused, OP_IDLE, 1, ob.bg);
  op_init (&ob.priv, OP_IDLE, 2, ob.bg);
  ob.inline_func.bg_context = bg_context;

  g_assert_null (syncify_context_invoke_sync (ob.bg, on_bg_func, &ob, NULL, &error));
  g_assert_no_error (error);

  /* Without the flag: refused, nothing ran. */
  g_assert_error (ob.refused_error, SYNCIFY_ERROR, SYNCIFY_ERROR_NOT_IN_WORKER);
  g_assert_cmpint (ob.refused.start.count, ==, 0);
  g_clear_error (&ob.refused_error);

  /* With it: privately, on the bg thread, in a private context. */
  expected = op_expected (&ob.priv);
  g_assert_no_error (ob.priv_error);
  g_assert_cmpstr (ob.priv_result, ==, expected);
  g_assert_cmpint (ob.priv.start.count, ==, 1);
  g_assert_true (ob.priv.start.thread == bg_thread);
  g_assert_nonnull (ob.priv.start.td_raw);
  g_assert_true (ob.priv.start.td_raw != bg_context);
  g_assert_true (ob.priv.start.td_raw != g_main_context_default ());
  g_assert_true (ob.priv.finish.thread == bg_thread);
  g_assert_true (ob.priv.finish.td_raw == ob.priv.start.td_raw);

  /* invoke_sync: inline. */
  g_assert_no_error (ob.inline_error);
  g_assert_cmpstr (ob.inline_result, ==, "func");
  g_assert_cmpint (ob.inline_before_return, ==, 1);
  assert_seen_on_bg (&ob.inline_func, ob.bg, bg_thread);

  g_free (ob.priv_result);
  g_free (ob.inline_result);
  op_clear (&ob.refused);
  op_clear (&ob.priv);
  g_assert_finalize_object (ob.bg);
}

/* ------------------------------------------------------------------------ *
 * result_destroy
 * ------------------------------------------------------------------------ */

static gint result_destroyed;   /* (atomic) */
static char *result_destroyed_value;

static void
count_result_destroy (gpointer data)
{
  g_free (result_destroyed_value);
  result_destroyed_value = data;
  g_atomic_int_inc (&result_destroyed);
}

static void
test_call_async_result_destroy (void)
{
  SyncifyContext *bg;
  g_autofree char *expected = NULL;

  test_watchdog_arm (g_test_get_path ());

  bg = syncify_context_new_thread ("bg-result");

  for (guint claim = 0; claim < 2; claim++)
    {
      AsyncCall ac;
      GMainLoop *loop;

      async_call_init (&ac, bg, OP_IDLE);
      ac.claim = claim;
      g_atomic_int_set (&result_destroyed, 0);
      g_clear_pointer (&result_destroyed_value, g_free);

      ac.loop = loop = g_main_loop_new (NULL, FALSE);
      syncify_context_call_async (bg, op_start, op_finish, &ac.op, op_user_data_destroy,
                                  count_result_destroy, NULL, async_call_cb, &ac);
      test_watchdog_arm ("the call_async callback");
      g_main_loop_run (loop);
      g_assert_true (g_atomic_int_get (&ac.done));

      /* The GTask lets go of the result once the callback returned. */
      test_loop_quit_later (loop);
      g_main_loop_run (loop);
      while (g_main_context_iteration (NULL, FALSE))
        ;

      g_clear_pointer (&expected, g_free);
      expected = op_expected (&ac.op);
      if (claim)
        {
          g_assert_cmpstr (ac.result, ==, expected);
          g_assert_cmpint (g_atomic_int_get (&result_destroyed), ==, 0);
          g_free (g_steal_pointer (&ac.result));
        }
      else
        {
          g_assert_null (ac.result);
          g_assert_cmpint (g_atomic_int_get (&result_destroyed), ==, 1);
          g_assert_cmpstr (result_destroyed_value, ==, expected);
        }
      g_assert_cmpint (ac.op.destroy.count, ==, 1);

      g_main_loop_unref (loop);
      ac.loop = NULL;
      async_call_clear (&ac);
    }

  g_clear_pointer (&result_destroyed_value, g_free);
  g_assert_finalize_object (bg);
}

/* ------------------------------------------------------------------------ *
 * Cancellation
 * ------------------------------------------------------------------------ */

static void
test_cancel_call_async_running (void)
{
  SyncifyContext *bg;
  GThread *bg_thread;
  AsyncCall ac;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  GMainLoop *loop;

  test_watchdog_arm (g_test_get_path ());

  bg = syncify_context_new_thread ("bg-cancel");
  bg_thread = bg_thread_of (bg);
  async_call_init (&ac, bg, OP_WAIT_CANCEL);

  loop = g_main_loop_new (NULL, FALSE);
  ac.loop = loop;
  async_call_start (&ac, cancellable);
  test_event_wait (&ac.op.started, "the op to start on the bg thread");
  g_cancellable_cancel (cancellable);
  test_watchdog_arm ("the cancelled call_async callback");
  g_main_loop_run (loop);
  g_main_loop_unref (loop);

  g_assert_error (ac.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (ac.result);
  /* The op saw its cancellable fire, on the bg thread, and answered. */
  g_assert_cmpint (ac.op.cancel_seen, ==, 1);
  g_assert_true (ac.op.cancel_thread == bg_thread);
  g_assert_cmpint (ac.op.completed, ==, 1);
  assert_seen_on_bg (&ac.op.finish, bg, bg_thread);
  g_assert_true (ac.callback.thread == main_thread);
  assert_seen_on_bg (&ac.op.destroy, bg, bg_thread);

  async_call_clear (&ac);
  g_assert_finalize_object (bg);
}

/* Keeps the bg thread busy inside an invoke_sync function until released. */
typedef struct {
  SyncifyContext *bg;
  TestEvent       blocking;
  TestEvent       release;
  GThread        *thread;
  char           *result;
  GError         *error;
} Blocker;

static gpointer
blocker_func (gpointer       user_data,
              GCancellable  *cancellable,
              GError       **error)
{
  Blocker *b = user_data;

  test_event_set (&b->blocking);
  test_event_wait (&b->release, "the blocker to be released");
  return g_strdup ("blocker done");
}

static gpointer
blocker_thread (gpointer data)
{
  Blocker *b = data;

  b->result = syncify_context_invoke_sync (b->bg, blocker_func, b, NULL, &b->error);
  return NULL;
}

static void
blocker_start (Blocker        *b,
               SyncifyContext *bg)
{
  memset (b, 0, sizeof *b);
  b->bg = bg;
  test_event_init (&b->blocking);
  test_event_init (&b->release);
  b->thread = g_thread_new ("blocker", blocker_thread, b);
  test_event_wait (&b->blocking, "the bg thread to be busy");
}

/* Releases the blocker and checks it completed normally. */
static void
blocker_finish (Blocker *b)
{
  test_event_set (&b->release);
  g_thread_join (b->thread);
  g_assert_no_error (b->error);
  g_assert_cmpstr (b->result, ==, "blocker done");
  g_free (b->result);
  test_event_clear (&b->blocking);
  test_event_clear (&b->release);
}

static void
test_cancel_call_async_queued (void)
{
  SyncifyContext *bg;
  Blocker blocker;
  AsyncCall ac;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();

  test_watchdog_arm (g_test_get_path ());

  bg = syncify_context_new_thread ("bg-queued");

  /* Queued behind a busy bg thread, then cancelled. */
  blocker_start (&blocker, bg);
  async_call_init (&ac, bg, OP_IDLE);
  ac.loop = g_main_loop_new (NULL, FALSE);
  async_call_start (&ac, cancellable);
  g_cancellable_cancel (cancellable);
  test_watchdog_arm ("the cancelled call_async callback");
  if (!g_atomic_int_get (&ac.done))
    g_main_loop_run (ac.loop);
  g_clear_pointer (&ac.loop, g_main_loop_unref);

  g_assert_error (ac.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (ac.op.start.count, ==, 0);
  g_assert_true (ac.callback.thread == main_thread);
  /* Never started: user_data_destroy once, in the caller's context. */
  g_assert_cmpint (ac.op.destroy.count, ==, 1);
  g_assert_true (ac.op.destroy.thread == main_thread);
  blocker_finish (&blocker);
  async_call_clear (&ac);

  /* Cancelled before the call: never starts either, bg not busy. */
  {
    g_autoptr(GCancellable) cancelled = g_cancellable_new ();

    g_cancellable_cancel (cancelled);
    async_call_init (&ac, bg, OP_IDLE);
    async_call_run_main (&ac, cancelled);
    g_assert_error (ac.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_assert_cmpint (ac.op.start.count, ==, 0);
    g_assert_cmpint (ac.op.destroy.count, ==, 1);
    async_call_clear (&ac);
  }

  g_assert_finalize_object (bg);
}

typedef struct {
  TestEvent    *started;
  GCancellable *cancellable;
} CancelLater;

static gpointer
cancel_when_started (gpointer data)
{
  CancelLater *cl = data;

  test_event_wait (cl->started, "the operation to start");
  g_cancellable_cancel (cl->cancellable);
  return NULL;
}

static void
test_cancel_syncify_caller (void)
{
  SyncifyContext *bg;
  GThread *bg_thread;
  Op op;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  CancelLater cl;
  GThread *canceller;
  gpointer result;

  test_watchdog_arm (g_test_get_path ());

  bg = syncify_context_new_thread ("bg-cancel");
  bg_thread = bg_thread_of (bg);
  op_init (&op, OP_WAIT_CANCEL, 0, bg);
  cl.started = &op.started;
  cl.cancellable = cancellable;
  canceller = g_thread_new ("canceller", cancel_when_started, &cl);

  result = syncify_context_syncify (bg, SYNCIFY_FLAGS_NONE, op_start, op_finish, &op,
                                    cancellable, &error);
  g_thread_join (canceller);

  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (result);
  g_assert_cmpint (op.cancel_seen, ==, 1);
  g_assert_true (op.cancel_thread == bg_thread);
  /* syncify waited for the op's answer. */
  g_assert_cmpint (op.completed, ==, 1);
  assert_seen_on_bg (&op.start, bg, bg_thread);
  assert_seen_on_bg (&op.finish, bg, bg_thread);

  op_clear (&op);
  g_assert_finalize_object (bg);
}

/* ------------------------------------------------------------------------ *
 * Shutdown
 * ------------------------------------------------------------------------ */

typedef struct {
  SyncifyContext *bg;
  GCancellable   *cancellable;
  Seen            func;
  char           *result;
  GError         *error;
} QueuedCaller;

static gpointer
queued_caller_thread (gpointer data)
{
  QueuedCaller *qc = data;

  qc->result = syncify_context_invoke_sync (qc->bg, seen_func, &qc->func, qc->cancellable,
                                            &qc->error);
  return NULL;
}

static gpointer
shutdown_thread (gpointer data)
{
  syncify_context_shutdown (data);
  return NULL;
}

static void
test_shutdown_queued (void)
{
  SyncifyContext *bg;
  Blocker blocker;
  QueuedCaller callers[3];
  GThread *threads[G_N_ELEMENTS (callers)];
  GThread *shutter;
  guint cancelled_signal = g_signal_lookup ("cancelled", G_TYPE_CANCELLABLE);
  gint64 deadline;

  test_watchdog_arm (g_test_get_path ());

  bg = syncify_context_new_thread ("bg-shutdown");
  blocker_start (&blocker, bg);

  for (guint i = 0; i < G_N_ELEMENTS (callers); i++)
    {
      memset (&callers[i], 0, sizeof callers[i]);
      callers[i].bg = bg;
      callers[i].cancellable = g_cancellable_new ();
      threads[i] = g_thread_new ("queued", queued_caller_thread, &callers[i]);
    }

  /* invoke_sync connects to the caller's cancellable once the call is
   * queued: wait for that, bounded. */
  deadline = g_get_monotonic_time () + test_watchdog_bound_us ();
  for (guint i = 0; i < G_N_ELEMENTS (callers); i++)
    while (!g_signal_has_handler_pending (callers[i].cancellable, cancelled_signal, 0, FALSE))
      {
        g_assert_cmpint (g_get_monotonic_time (), <, deadline);
        g_usleep (1000);
      }

  /* Shut down from another thread: it joins the bg thread, which is still
   * busy in the blocker. */
  shutter = g_thread_new ("shutter", shutdown_thread, bg);

  for (guint i = 0; i < G_N_ELEMENTS (callers); i++)
    {
      g_thread_join (threads[i]);
      g_assert_error (callers[i].error, SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED);
      g_assert_null (callers[i].result);
      g_assert_cmpint (callers[i].func.count, ==, 0);
      g_clear_error (&callers[i].error);
      g_object_unref (callers[i].cancellable);
    }
  g_assert_true (syncify_context_is_closed (bg));

  /* What was running completes normally. */
  blocker_finish (&blocker);
  g_thread_join (shutter);

  /* New work is refused. */
  {
    Op op;
    Seen seen = { 0, };
    AsyncCall ac;
    g_autoptr(GError) error = NULL;

    g_assert_null (syncify_context_invoke_sync (bg, seen_func, &seen, NULL, &error));
    g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED);
    g_assert_cmpint (seen.count, ==, 0);
    g_clear_error (&error);

    op_init (&op, OP_IDLE, 0, bg);
    g_assert_null (syncify_context_syncify (bg, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT,
                                            op_start, op_finish, &op, NULL, &error));
    g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED);
    g_assert_cmpint (op.start.count, ==, 0);
    op_clear (&op);

    async_call_init (&ac, bg, OP_IDLE);
    async_call_run_main (&ac, NULL);
    g_assert_error (ac.error, SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED);
    g_assert_cmpint (ac.op.start.count, ==, 0);
    g_assert_cmpint (ac.op.destroy.count, ==, 1);
    g_assert_true (ac.op.destroy.thread == main_thread);
    async_call_clear (&ac);
  }

  g_assert_finalize_object (bg);
}

typedef struct {
  SyncifyContext *bg;
  Op             *op;
  char           *result;
  GError         *error;
} SyncifyCaller;

static gpointer
syncify_caller_thread (gpointer data)
{
  SyncifyCaller *sc = data;

  sc->result = syncify_context_syncify (sc->bg, SYNCIFY_FLAGS_NONE, op_start, op_finish,
                                        sc->op, NULL, &sc->error);
  return NULL;
}

static void
test_shutdown_running_op (void)
{
  SyncifyContext *bg;
  GThread *bg_thread;
  Op op;
  SyncifyCaller sc = { NULL, };
  GThread *caller;

  test_watchdog_arm (g_test_get_path ());

  bg = syncify_context_new_thread ("bg-shutdown");
  bg_thread = bg_thread_of (bg);
  op_init (&op, OP_WAIT_CANCEL, 0, bg);
  sc.bg = bg;
  sc.op = &op;

  caller = g_thread_new ("syncify-caller", syncify_caller_thread, &sc);
  test_event_wait (&op.started, "the op to start on the bg thread");

  /* Cancels the op, waits for it to answer, and joins the bg thread. */
  syncify_context_shutdown (bg);
  g_thread_join (caller);

  g_assert_error (sc.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (sc.result);
  g_assert_cmpint (op.cancel_seen, ==, 1);
  g_assert_true (op.cancel_thread == bg_thread);
  g_assert_cmpint (op.completed, ==, 1);
  g_assert_cmpint (op.finish.count, ==, 1);
  g_assert_true (op.finish.thread == bg_thread);

  g_clear_error (&sc.error);
  op_clear (&op);
  /* Nothing may keep the context alive: the loop may have quit (the op
   * completing with quit_when_idle set) before shutdown's own quit idle was
   * dispatched, and that idle must not be left holding a reference. */
  g_assert_finalize_object (bg);
}

static void
test_shutdown_call_async_queued (void)
{
  SyncifyContext *bg;
  Blocker blocker;
  AsyncCall ac;
  GThread *shutter;

  test_watchdog_arm (g_test_get_path ());

  bg = syncify_context_new_thread ("bg-shutdown");
  blocker_start (&blocker, bg);

  async_call_init (&ac, bg, OP_IDLE);
  ac.loop = g_main_loop_new (NULL, FALSE);
  async_call_start (&ac, NULL);   /* queued: the bg thread is busy */

  shutter = g_thread_new ("shutter", shutdown_thread, bg);
  test_watchdog_arm ("the call_async callback after shutdown");
  if (!g_atomic_int_get (&ac.done))
    g_main_loop_run (ac.loop);
  g_clear_pointer (&ac.loop, g_main_loop_unref);

  g_assert_error (ac.error, SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED);
  g_assert_null (ac.result);
  g_assert_cmpint (ac.op.start.count, ==, 0);
  g_assert_true (ac.callback.thread == main_thread);
  g_assert_cmpint (ac.op.destroy.count, ==, 1);

  blocker_finish (&blocker);
  g_thread_join (shutter);
  g_assert_cmpint (ac.op.destroy.count, ==, 1);

  async_call_clear (&ac);
  g_assert_finalize_object (bg);
}

/* A GPrivate whose destructor tells when the thread that set it exits. */
typedef struct {
  TestEvent exited;
  gint      count;   /* (atomic) */
} ExitWatch;

static void
exit_watch_notify (gpointer data)
{
  ExitWatch *ew = data;

  g_atomic_int_inc (&ew->count);
  test_event_set (&ew->exited);
}

static GPrivate exit_watch_key = G_PRIVATE_INIT (exit_watch_notify);

static gpointer
watch_exit_func (gpointer       user_data,
                 GCancellable  *cancellable,
                 GError       **error)
{
  g_private_set (&exit_watch_key, user_data);
  return NULL;
}

typedef struct {
  SyncifyContext *bg;
  ExitWatch      *watch;
} SelfShutdown;

static gpointer
self_shutdown_func (gpointer       user_data,
                    GCancellable  *cancellable,
                    GError       **error)
{
  SelfShutdown *ss = user_data;

  watch_exit_func (ss->watch, NULL, NULL);
  syncify_context_shutdown (ss->bg);
  g_assert_true (syncify_context_is_closed (ss->bg));
  return g_strdup ("shut down from inside");
}

static void
test_shutdown_from_own_thread (void)
{
  ExitWatch watch = { 0, };
  SelfShutdown ss = { NULL, &watch };
  g_autoptr(GError) error = NULL;
  g_autofree char *result = NULL;

  test_watchdog_arm (g_test_get_path ());

  test_event_init (&watch.exited);
  ss.bg = syncify_context_new_thread ("bg-selfstop");

  result = syncify_context_invoke_sync (ss.bg, self_shutdown_func, &ss, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (result, ==, "shut down from inside");
  g_assert_true (syncify_context_is_closed (ss.bg));

  /* The thread leaves its loop and exits on its own. */
  test_event_wait (&watch.exited, "the bg thread to exit");
  g_assert_cmpint (watch.count, ==, 1);

  g_assert_finalize_object (ss.bg);
  test_event_clear (&watch.exited);
}

static void
test_last_unref_joins (void)
{
  SyncifyContext *bg;
  ExitWatch watch = { 0, };
  g_autoptr(GError) error = NULL;

  test_watchdog_arm (g_test_get_path ());

  test_event_init (&watch.exited);
  bg = syncify_context_new_thread ("bg-unref");
  syncify_context_invoke_sync (bg, watch_exit_func, &watch, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (watch.count, ==, 0);

  g_assert_false (syncify_context_is_closed (bg));
  g_assert_finalize_object (bg);
  /* Joined: the thread had exited by the time the last unref returned. */
  g_assert_cmpint (g_atomic_int_get (&watch.count), ==, 1);

  test_event_clear (&watch.exited);
}

/* The threads of this process, but for pools that come and go on their own
 * (syncify's workers and monitor, GLib's thread pools). */
static guint
count_own_threads (guint      *n_named,
                   const char *name)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/task", 0, NULL);
  const char *entry;
  guint n = 0;

  g_assert_nonnull (dir);
  *n_named = 0;
  while ((entry = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename ("/proc/self/task", entry, "comm", NULL);
      g_autofree char *comm = NULL;

      if (!g_file_get_contents (path, &comm, NULL, NULL))
        continue;   /* exited meanwhile */
      g_strchomp (comm);
      if (g_str_has_prefix (comm, "syncify-w") ||
          g_str_has_prefix (comm, "syncify-monitor") ||
          g_str_has_prefix (comm, "pool-") ||
          g_str_equal (comm, "gmain") ||
          g_str_equal (comm, "gdbus"))
        continue;
      if (g_str_equal (comm, name))
        (*n_named)++;
      n++;
    }

  return n;
}

static void
test_many_contexts (void)
{
  guint n = test_scaled (TEST_FEWER_UNDER_VALGRIND, 100, 10);
  guint before, after, named;
  gint64 deadline;

  test_watchdog_arm (g_test_get_path ());

  before = count_own_threads (&named, "bg-many");
  g_assert_cmpuint (named, ==, 0);

  for (guint i = 0; i < n; i++)
    {
      SyncifyContext *bg = syncify_context_new_thread ("bg-many");
      Seen seen = { 0, };
      g_autoptr(GError) error = NULL;
      g_autofree char *result = NULL;

      seen.bg_context = syncify_context_get_main_context (bg);
      result = syncify_context_invoke_sync (bg, seen_func, &seen, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (seen.os_name, ==, "bg-many");
      g_assert_true (seen.owns_bg);
      g_assert_finalize_object (bg);
    }

  /* Joined threads leave /proc a moment after pthread_join returns. */
  deadline = g_get_monotonic_time () + test_watchdog_bound_us ();
  while ((after = count_own_threads (&named, "bg-many")) > before || named > 0)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (1000);
    }
  g_assert_cmpuint (after, <=, before);
  g_assert_cmpuint (named, ==, 0);
}

/* ------------------------------------------------------------------------ *
 * Real GIO: an echo server on the main context, a client on a background
 * context driven by syncify from a worker
 * ------------------------------------------------------------------------ */

typedef struct {
  GSocketConnection *connection;
  char               buf[256];
  gint              *closed;
} EchoConn;

static void echo_read_cb (GObject *source_object, GAsyncResult *result, gpointer user_data);

static void
echo_conn_free (EchoConn *ec)
{
  g_atomic_int_set (ec->closed, 1);
  g_io_stream_close (G_IO_STREAM (ec->connection), NULL, NULL);
  g_object_unref (ec->connection);
  g_free (ec);
}

static void
echo_write_cb (GObject      *source_object,
               GAsyncResult *result,
               gpointer      user_data)
{
  EchoConn *ec = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (g_thread_self () == main_thread);
  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source_object), result, NULL, &error))
    {
      echo_conn_free (ec);
      return;
    }
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (ec->connection)),
                             ec->buf, sizeof ec->buf, G_PRIORITY_DEFAULT, NULL,
                             echo_read_cb, ec);
}

static void
echo_read_cb (GObject      *source_object,
              GAsyncResult *result,
              gpointer      user_data)
{
  EchoConn *ec = user_data;
  gssize n;

  g_assert_true (g_thread_self () == main_thread);
  n = g_input_stream_read_finish (G_INPUT_STREAM (source_object), result, NULL);
  if (n <= 0)
    {
      echo_conn_free (ec);
      return;
    }
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (ec->connection)),
                                   ec->buf, n, G_PRIORITY_DEFAULT, NULL, echo_write_cb, ec);
}

static gboolean
echo_incoming_cb (GSocketService    *service,
                  GSocketConnection *connection,
                  GObject           *source_object,
                  gpointer           user_data)
{
  EchoConn *ec = g_new0 (EchoConn, 1);

  g_assert_true (g_thread_self () == main_thread);
  ec->connection = g_object_ref (connection);
  ec->closed = user_data;
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (connection)),
                             ec->buf, sizeof ec->buf, G_PRIORITY_DEFAULT, NULL,
                             echo_read_cb, ec);
  return TRUE;
}

typedef struct {
  SyncifyContext     *bg;
  GThread            *bg_thread;
  GSocketClient      *client;
  GSocketAddress     *address;
  GSocketConnection  *connection;   /* made and freed on the bg thread */
  const char         *message;
  char                buf[64];
  guint               n_starts_on_bg;
  guint               n_starts;
} EchoClient;

static void
echo_record_start (EchoClient *ec)
{
  ec->n_starts++;
  if (g_thread_self () == ec->bg_thread &&
      g_main_context_get_thread_default () == syncify_context_get_main_context (ec->bg))
    ec->n_starts_on_bg++;
}

static void
connect_start (gpointer             user_data,
               GCancellable        *cancellable,
               GAsyncReadyCallback  callback,
               gpointer             callback_data)
{
  EchoClient *ec = user_data;

  echo_record_start (ec);
  g_socket_client_connect_async (ec->client, G_SOCKET_CONNECTABLE (ec->address), cancellable,
                                 callback, callback_data);
}

static gpointer
connect_finish (GObject       *source_object,
                GAsyncResult  *result,
                gpointer       user_data,
                GError       **error)
{
  return g_socket_client_connect_finish (G_SOCKET_CLIENT (source_object), result, error);
}

static void
write_start (gpointer             user_data,
             GCancellable        *cancellable,
             GAsyncReadyCallback  callback,
             gpointer             callback_data)
{
  EchoClient *ec = user_data;

  echo_record_start (ec);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (ec->connection)),
                                   ec->message, strlen (ec->message), G_PRIORITY_DEFAULT,
                                   cancellable, callback, callback_data);
}

static gpointer
write_finish (GObject       *source_object,
              GAsyncResult  *result,
              gpointer       user_data,
              GError       **error)
{
  /* A void operation: NULL and no error. */
  g_output_stream_write_all_finish (G_OUTPUT_STREAM (source_object), result, NULL, error);
  return NULL;
}

static void
read_start (gpointer             user_data,
            GCancellable        *cancellable,
            GAsyncReadyCallback  callback,
            gpointer             callback_data)
{
  EchoClient *ec = user_data;

  echo_record_start (ec);
  g_input_stream_read_all_async (g_io_stream_get_input_stream (G_IO_STREAM (ec->connection)),
                                 ec->buf, strlen (ec->message), G_PRIORITY_DEFAULT,
                                 cancellable, callback, callback_data);
}

static gpointer
read_finish (GObject       *source_object,
             GAsyncResult  *result,
             gpointer       user_data,
             GError       **error)
{
  EchoClient *ec = user_data;
  gsize n = 0;

  if (!g_input_stream_read_all_finish (G_INPUT_STREAM (source_object), result, &n, error))
    return NULL;
  return g_strndup (ec->buf, n);
}

static void
close_start (gpointer             user_data,
             GCancellable        *cancellable,
             GAsyncReadyCallback  callback,
             gpointer             callback_data)
{
  EchoClient *ec = user_data;

  echo_record_start (ec);
  g_io_stream_close_async (G_IO_STREAM (ec->connection), G_PRIORITY_DEFAULT, cancellable,
                           callback, callback_data);
}

static gpointer
close_finish (GObject       *source_object,
              GAsyncResult  *result,
              gpointer       user_data,
              GError       **error)
{
  g_io_stream_close_finish (G_IO_STREAM (source_object), result, error);
  return NULL;
}

static gpointer
free_connection_func (gpointer       user_data,
                      GCancellable  *cancellable,
                      GError       **error)
{
  EchoClient *ec = user_data;

  g_assert_true (g_thread_self () == ec->bg_thread);
  g_clear_object (&ec->connection);
  return NULL;
}

static gpointer
echo_client_worker (gpointer       user_data,
                    GCancellable  *cancellable,
                    GError       **error)
{
  WorkerRun *wr = user_data;
  EchoClient *ec = wr->data;
  g_autofree char *echoed = NULL;
  GError *local_error = NULL;

  g_assert_true (g_thread_self () != main_thread);

  ec->connection = syncify_context_syncify (ec->bg, SYNCIFY_FLAGS_NONE, connect_start,
                                            connect_finish, ec, NULL, &local_error);
  g_assert_no_error (local_error);
  g_assert_true (G_IS_SOCKET_CONNECTION (ec->connection));

  g_assert_null (syncify_context_syncify (ec->bg, SYNCIFY_FLAGS_NONE, write_start,
                                          write_finish, ec, NULL, &local_error));
  g_assert_no_error (local_error);

  echoed = syncify_context_syncify (ec->bg, SYNCIFY_FLAGS_NONE, read_start, read_finish, ec,
                                    NULL, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpstr (echoed, ==, ec->message);

  g_assert_null (syncify_context_syncify (ec->bg, SYNCIFY_FLAGS_NONE, close_start,
                                          close_finish, ec, NULL, &local_error));
  g_assert_no_error (local_error);

  /* The connection is bound to the bg thread's loop: let it go there. */
  syncify_context_invoke_sync (ec->bg, free_connection_func, ec, NULL, &local_error);
  g_assert_no_error (local_error);

  return NULL;
}

static void
test_gio_socket_echo (void)
{
  g_autoptr(GSocketService) service = NULL;
  g_autoptr(GInetAddress) loopback = NULL;
  g_autoptr(GSocketAddress) any_port = NULL;
  g_autoptr(GSocketAddress) effective = NULL;
  g_autoptr(GError) error = NULL;
  EchoClient ec = { NULL, };
  WorkerRun wr = { NULL, &ec, };
  gint server_closed = 0;

  test_watchdog_arm (g_test_get_path ());

  service = g_socket_service_new ();
  loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  any_port = g_inet_socket_address_new (loopback, 0);
  g_socket_listener_add_address (G_SOCKET_LISTENER (service), any_port,
                                 G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL,
                                 &effective, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective)), !=, 0);
  g_signal_connect (service, "incoming", G_CALLBACK (echo_incoming_cb), &server_closed);
  g_socket_service_start (service);

  ec.bg = syncify_context_new_thread ("bg-socket");
  ec.bg_thread = bg_thread_of (ec.bg);
  ec.client = g_socket_client_new ();
  ec.address = effective;
  ec.message = "hello through a background context";

  run_in_worker (echo_client_worker, &wr);
  g_assert_no_error (wr.error);
  g_assert_cmpuint (ec.n_starts, ==, 4);
  g_assert_cmpuint (ec.n_starts_on_bg, ==, 4);
  g_assert_null (ec.connection);

  /* The server sees the client's close and lets its side go. */
  test_iterate_until (NULL, &server_closed);

  g_socket_service_stop (service);
  g_socket_listener_close (G_SOCKET_LISTENER (service));
  g_object_unref (ec.client);
  g_assert_finalize_object (ec.bg);
}

/* ------------------------------------------------------------------------ */

/* ------------------------------------------------------------------------ *
 * Callers whose context goes away right after their callback: the
 * background thread must be done with that context when it hands the
 * completion over, even if the callback runs (and the caller drops the
 * context) before the hand-off returns.
 * ------------------------------------------------------------------------ */

static void
immediate_start (gpointer             user_data,
                 GCancellable        *cancellable,
                 GAsyncReadyCallback  callback,
                 gpointer             callback_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, callback_data);

  g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

static gpointer
immediate_finish (GObject       *source_object,
                  GAsyncResult  *result,
                  gpointer       user_data,
                  GError       **error)
{
  return g_task_propagate_boolean (G_TASK (result), error) ? GINT_TO_POINTER (1) : NULL;
}

static void
short_lived_done (GObject      *source_object,
                  GAsyncResult *result,
                  gpointer      data)
{
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (syncify_context_call_finish (SYNCIFY_CONTEXT (source_object), result, &error));
  g_assert_no_error (error);
  g_atomic_int_set ((gint *) data, 1);
}

static gpointer
short_lived_caller_thread (gpointer data)
{
  SyncifyContext *bg = data;
  guint n_rounds = test_scaled (TEST_FEWER_UNDER_VALGRIND, 300, 30);

  for (guint i = 0; i < n_rounds; i++)
    {
      GMainContext *mc = g_main_context_new ();
      gint done = 0;

      g_main_context_push_thread_default (mc);
      syncify_context_call_async (bg, immediate_start, immediate_finish, NULL, NULL, NULL,
                                  NULL, short_lived_done, &done);
      test_iterate_until (mc, &done);
      g_main_context_pop_thread_default (mc);
      g_main_context_unref (mc);
    }

  return NULL;
}

static void
test_async_short_lived_caller_context (void)
{
  SyncifyContext *bg = syncify_context_new_thread ("short-lived-callers");
  GThread *threads[4];

  test_watchdog_arm (g_test_get_path ());

  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("short-lived", short_lived_caller_thread, bg);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);

  g_assert_finalize_object (bg);
}

int
main (int    argc,
      char **argv)
{
  test_init (&argc, &argv);
  main_thread = g_thread_self ();

  g_test_add_func ("/syncify/background/thread-name", test_thread_name);
  g_test_add_func ("/syncify/background/async/short-lived-caller-context",
                   test_async_short_lived_caller_context);
  g_test_add_func ("/syncify/background/sync/from-main", test_sync_from_main);
  g_test_add_func ("/syncify/background/sync/from-worker", test_sync_from_worker);
  g_test_add_func ("/syncify/background/sync/from-loop-thread", test_sync_from_loop_thread);
  g_test_add_func ("/syncify/background/sync/on-bg-thread", test_blocking_on_bg_thread);
  g_test_add_func ("/syncify/background/call-async/main-loop", test_call_async_main_loop);
  g_test_add_func ("/syncify/background/call-async/secondary-thread",
                   test_call_async_secondary_thread);
  g_test_add_func ("/syncify/background/call-async/on-bg-thread", test_call_async_on_bg_thread);
  g_test_add_func ("/syncify/background/call-async/result-destroy",
                   test_call_async_result_destroy);
  g_test_add_func ("/syncify/background/cancel/call-async-running",
                   test_cancel_call_async_running);
  g_test_add_func ("/syncify/background/cancel/call-async-queued",
                   test_cancel_call_async_queued);
  g_test_add_func ("/syncify/background/cancel/syncify-caller", test_cancel_syncify_caller);
  g_test_add_func ("/syncify/background/gio/socket-echo", test_gio_socket_echo);
  g_test_add_func ("/syncify/background/shutdown/queued-calls", test_shutdown_queued);
  g_test_add_func ("/syncify/background/shutdown/queued-call-async",
                   test_shutdown_call_async_queued);
  g_test_add_func ("/syncify/background/shutdown/from-own-thread",
                   test_shutdown_from_own_thread);
  g_test_add_func ("/syncify/background/shutdown/last-unref-joins", test_last_unref_joins);
  g_test_add_func ("/syncify/background/shutdown/many-contexts", test_many_contexts);
  /* Last: fails while the shutdown idle can be left behind (see the test). */
  g_test_add_func ("/syncify/background/shutdown/running-op", test_shutdown_running_op);

  return g_test_run ();
}
