/* test-syncify.c: syncify and invoke_sync, pushed to a running loop or run
 * on a private main context
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <string.h>
#include <unistd.h>

#include <glib-unix.h>
#include <gio/gunixinputstream.h>

#include "test-util.h"

static GThread *main_thread;

/* ------------------------------------------------------------------------ *
 * Helpers: quitting a loop from any thread, a loop on another thread
 * ------------------------------------------------------------------------ */

typedef struct {
  GThread      *thread;
  GMainContext *context;
  GMainLoop    *loop;
  TestEvent     running;
} LoopThread;

static gboolean
loop_thread_running_cb (gpointer data)
{
  LoopThread *lt = data;

  test_event_set (&lt->running);
  return G_SOURCE_REMOVE;
}

static gpointer
loop_thread_main (gpointer data)
{
  LoopThread *lt = data;
  GSource *source;

  g_main_context_push_thread_default (lt->context);
  source = g_idle_source_new ();
  g_source_set_callback (source, loop_thread_running_cb, lt, NULL);
  g_source_attach (source, lt->context);
  g_source_unref (source);
  g_main_loop_run (lt->loop);
  g_main_context_pop_thread_default (lt->context);

  return NULL;
}

/* Starts a thread running a GMainLoop on a new context, and returns once
 * the loop runs (so the thread owns the context). */
static LoopThread *
loop_thread_start (const char *name)
{
  LoopThread *lt = g_new0 (LoopThread, 1);

  test_event_init (&lt->running);
  lt->context = g_main_context_new ();
  lt->loop = g_main_loop_new (lt->context, FALSE);
  lt->thread = g_thread_new (name, loop_thread_main, lt);
  test_event_wait (&lt->running, "the loop thread to run its loop");

  return lt;
}

static void
loop_thread_stop (LoopThread *lt)
{
  test_loop_quit_later (lt->loop);
  g_thread_join (lt->thread);
  g_main_loop_unref (lt->loop);
  g_main_context_unref (lt->context);
  test_event_clear (&lt->running);
  g_free (lt);
}

/* ------------------------------------------------------------------------ *
 * Helpers: run a function in an asyncify worker of the default context while
 * a GMainLoop runs the default context on the main thread
 * ------------------------------------------------------------------------ */

typedef struct {
  GMainLoop         *loop;
  SyncifyThreadFunc  func;
  gpointer           data;
  gpointer           result;
  GError            *error;
  GThread           *worker_thread;
  gboolean           done;
} InWorker;

static gpointer
in_worker_func (gpointer       user_data,
                GCancellable  *cancellable,
                GError       **error)
{
  InWorker *w = user_data;

  w->worker_thread = g_thread_self ();
  g_assert_true (w->worker_thread != main_thread);
  g_assert_true (syncify_context_get_current () == syncify_context_get_default ());

  return w->func (w->data, cancellable, error);
}

static void
in_worker_done_cb (GObject      *source_object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  InWorker *w = user_data;

  g_assert_true (g_thread_self () == main_thread);
  g_assert_true (g_main_context_is_owner (g_main_context_default ()));
  w->result = syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result,
                                               &w->error);
  w->done = TRUE;
  g_main_loop_quit (w->loop);
}

/* Returns what @func returned in the worker; the worker thread in
 * @worker_thread. */
static gpointer
run_in_worker (SyncifyThreadFunc   func,
               gpointer            data,
               GCancellable       *cancellable,
               GThread           **worker_thread,
               GError            **error)
{
  InWorker w = { NULL, };

  w.loop = g_main_loop_new (NULL, FALSE);
  w.func = func;
  w.data = data;

  syncify_context_asyncify (syncify_context_get_default (), SYNCIFY_FLAGS_NONE,
                            in_worker_func, &w, NULL, NULL, cancellable,
                            in_worker_done_cb, &w);
  test_watchdog_arm ("the asyncify worker to complete");
  g_main_loop_run (w.loop);
  g_assert_true (w.done);
  g_main_loop_unref (w.loop);

  if (worker_thread != NULL)
    *worker_thread = w.worker_thread;
  if (w.error != NULL)
    g_propagate_error (error, w.error);

  return w.result;
}

/* Runs @func once inside a callback of a GMainLoop running the default
 * context on the main thread (so the main thread owns it while @func runs). */
typedef struct {
  GMainLoop   *loop;
  GSourceFunc  func;
  gpointer     data;
} InLoop;

static gboolean
in_loop_cb (gpointer user_data)
{
  InLoop *il = user_data;

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

/* ------------------------------------------------------------------------ *
 * A synthetic GTask-based operation
 * ------------------------------------------------------------------------ */

typedef enum {
  OP_IDLE,          /* completes from an idle on the thread-default context */
  OP_THREAD,        /* completes from g_task_run_in_thread() */
  OP_WAIT_CANCEL,   /* completes only when cancelled, one idle later */
} OpMode;

typedef struct {
  OpMode        mode;
  guint         value;

  gint          start_count;      /* (atomic) */
  GThread      *start_thread;
  GMainContext *start_td_raw;     /* g_main_context_get_thread_default () */
  GMainContext *start_td;         /* the same, default for NULL */
  gint          finish_count;     /* (atomic) */
  GThread      *finish_thread;
  GMainContext *finish_td;
  gboolean      finish_owner;     /* finish ran while start_td was owned */
  gint          cancel_seen;      /* (atomic) */
  gint          completed;        /* (atomic): the task was returned */
  TestEvent     started;
} Op;

static void
op_init (Op     *op,
         OpMode  mode,
         guint   value)
{
  memset (op, 0, sizeof *op);
  op->mode = mode;
  op->value = value;
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

static gboolean
op_idle_cb (gpointer data)
{
  GTask *task = data;
  Op *op = g_task_get_task_data (task);

  g_atomic_int_set (&op->completed, 1);
  g_task_return_pointer (task, op_expected (op), g_free);
  return G_SOURCE_REMOVE;
}

/* Touches nothing of the Op: the hand-off through GLib's thread pool is
 * invisible to ThreadSanitizer. */
static void
op_thread_func (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  g_task_return_pointer (task, g_strdup (task_data), g_free);
}

static gboolean
op_cancelled_late_cb (gpointer data)
{
  GTask *task = data;
  Op *op = g_task_get_task_data (task);

  g_assert_true (g_thread_self () == op->start_thread);
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

  g_assert_true (g_thread_self () == op->start_thread);
  g_atomic_int_inc (&op->cancel_seen);

  /* Complete one idle later: the caller must wait for it. */
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

  g_atomic_int_inc (&op->start_count);
  op->start_thread = g_thread_self ();
  op->start_td_raw = g_main_context_get_thread_default ();
  op->start_td = test_thread_default ();
  g_assert_true (g_main_context_is_owner (op->start_td) ||
                 op->start_td_raw != NULL);
  g_task_set_task_data (task, op, NULL);

  switch (op->mode)
    {
    case OP_IDLE:
      source = g_idle_source_new ();
      g_source_set_callback (source, op_idle_cb, task, g_object_unref);
      g_source_attach (source, g_task_get_context (task));
      g_source_unref (source);
      break;

    case OP_THREAD:
      g_task_set_task_data (task, op_expected (op), g_free);
      g_task_run_in_thread (task, op_thread_func);
      g_object_unref (task);
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

  g_atomic_int_inc (&op->finish_count);
  op->finish_thread = g_thread_self ();
  op->finish_td = test_thread_default ();
  op->finish_owner = g_main_context_is_owner (op->start_td);
  g_assert_null (source_object);
  g_assert_true (g_task_is_valid (result, NULL));

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* Asserts @op ran pushed to the main thread, in the default context. */
static void
assert_op_ran_on_main (Op *op)
{
  g_assert_cmpint (g_atomic_int_get (&op->start_count), ==, 1);
  g_assert_cmpint (g_atomic_int_get (&op->finish_count), ==, 1);
  g_assert_true (op->start_thread == main_thread);
  g_assert_true (op->start_td == g_main_context_default ());
  g_assert_true (op->finish_thread == main_thread);
  g_assert_true (op->finish_td == g_main_context_default ());
  g_assert_true (op->finish_owner);
}

/* ------------------------------------------------------------------------ *
 * Real GIO operations on files
 * ------------------------------------------------------------------------ */

typedef struct {
  GFile      *file;
  const char *contents;    /* for replace */
  GThread    *start_thread;
  GMainContext *start_td;
  GThread    *finish_thread;
  gint        start_count;
} FileOp;

static void
load_start (gpointer             user_data,
            GCancellable        *cancellable,
            GAsyncReadyCallback  callback,
            gpointer             callback_data)
{
  FileOp *op = user_data;

  op->start_count++;
  op->start_thread = g_thread_self ();
  op->start_td = test_thread_default ();
  g_file_load_contents_async (op->file, cancellable, callback, callback_data);
}

static gpointer
load_finish (GObject       *source_object,
             GAsyncResult  *result,
             gpointer       user_data,
             GError       **error)
{
  FileOp *op = user_data;
  char *contents = NULL;

  op->finish_thread = g_thread_self ();
  g_assert_true (source_object == G_OBJECT (op->file));
  if (!g_file_load_contents_finish (G_FILE (source_object), result, &contents, NULL, NULL, error))
    return NULL;

  return contents;
}

static void
replace_start (gpointer             user_data,
               GCancellable        *cancellable,
               GAsyncReadyCallback  callback,
               gpointer             callback_data)
{
  FileOp *op = user_data;

  op->start_count++;
  op->start_thread = g_thread_self ();
  op->start_td = test_thread_default ();
  g_file_replace_contents_async (op->file, op->contents, strlen (op->contents), NULL,
                                 FALSE, G_FILE_CREATE_NONE, cancellable,
                                 callback, callback_data);
}

static gpointer
replace_finish (GObject       *source_object,
                GAsyncResult  *result,
                gpointer       user_data,
                GError       **error)
{
  FileOp *op = user_data;
  char *etag = NULL;

  op->finish_thread = g_thread_self ();
  if (!g_file_replace_contents_finish (G_FILE (source_object), result, &etag, error))
    return NULL;

  /* A void operation in spirit; the etag proves the result travels. */
  return etag != NULL ? etag : g_strdup ("");
}

static GFile *
make_temp_file (const char *contents)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GFileIOStream) iostream = NULL;
  GFile *file;

  file = g_file_new_tmp ("syncify-test-XXXXXX", &iostream, &error);
  g_assert_no_error (error);
  g_io_stream_close (G_IO_STREAM (iostream), NULL, &error);
  g_assert_no_error (error);
  g_file_replace_contents (file, contents, strlen (contents), NULL, FALSE,
                           G_FILE_CREATE_NONE, NULL, NULL, &error);
  g_assert_no_error (error);

  return file;
}

static void
delete_temp_file (GFile *file)
{
  g_autoptr(GError) error = NULL;

  g_file_delete (file, NULL, &error);
  g_assert_no_error (error);
  g_object_unref (file);
}

/* ------------------------------------------------------------------------ *
 * Push: from a worker to the default context run by a loop on the main thread
 * ------------------------------------------------------------------------ */

typedef struct {
  Op             *ops;
  guint           n_ops;
  SyncifyContext *context;   /* NULL: the worker's */
  GError         *errors[4];
  char           *results[4];
} PushData;

static gpointer
push_ops_worker (gpointer       user_data,
                 GCancellable  *cancellable,
                 GError       **error)
{
  PushData *pd = user_data;

  for (guint i = 0; i < pd->n_ops; i++)
    {
      pd->results[i] = syncify_context_syncify (pd->context, SYNCIFY_FLAGS_NONE,
                                                op_start, op_finish, &pd->ops[i],
                                                NULL, &pd->errors[i]);
      /* The worker blocked until finish ran. */
      g_assert_cmpint (g_atomic_int_get (&pd->ops[i].finish_count), ==, 1);
    }

  return GUINT_TO_POINTER (0x5eed);
}

static void
test_push_synthetic_common (SyncifyContext *context)
{
  Op ops[2];
  PushData pd = { ops, G_N_ELEMENTS (ops), context, };
  g_autoptr(GError) error = NULL;
  GThread *worker = NULL;
  gpointer ret;

  op_init (&ops[0], OP_IDLE, 1);
  op_init (&ops[1], OP_THREAD, 2);

  ret = run_in_worker (push_ops_worker, &pd, NULL, &worker, &error);
  g_assert_no_error (error);
  g_assert_true (ret == GUINT_TO_POINTER (0x5eed));
  g_assert_true (worker != main_thread);

  for (guint i = 0; i < G_N_ELEMENTS (ops); i++)
    {
      g_autofree char *expected = op_expected (&ops[i]);

      g_assert_no_error (pd.errors[i]);
      g_assert_cmpstr (pd.results[i], ==, expected);
      assert_op_ran_on_main (&ops[i]);
      /* The default context is not pushed: it already is the main
       * thread's thread-default one. */
      g_assert_null (ops[i].start_td_raw);
      g_free (pd.results[i]);
      op_clear (&ops[i]);
    }
}

static void
test_push_synthetic (void)
{
  test_watchdog_arm (g_test_get_path ());
  test_push_synthetic_common (syncify_context_get_default ());
}

static void
test_push_null_context (void)
{
  test_watchdog_arm (g_test_get_path ());
  /* NULL inside a worker: the worker's context, the default one. */
  test_push_synthetic_common (NULL);
}

typedef struct {
  GFile    *file;
  FileOp    load;
  FileOp    replace;
  char     *loaded;
  char     *etag;
} GioPushData;

static gpointer
gio_push_worker (gpointer       user_data,
                 GCancellable  *cancellable,
                 GError       **error)
{
  GioPushData *gd = user_data;

  gd->loaded = syncify_context_syncify (syncify_context_get_default (), SYNCIFY_FLAGS_NONE,
                                        load_start, load_finish, &gd->load, NULL, error);
  if (gd->loaded == NULL)
    return NULL;

  gd->etag = syncify_context_syncify (NULL, SYNCIFY_FLAGS_NONE,
                                      replace_start, replace_finish, &gd->replace,
                                      NULL, error);
  return gd->etag != NULL ? GINT_TO_POINTER (1) : NULL;
}

static void
test_push_gio (void)
{
  GioPushData gd = { NULL, };
  g_autoptr(GError) error = NULL;
  g_autofree char *after = NULL;
  gpointer ret;

  test_watchdog_arm (g_test_get_path ());

  gd.file = make_temp_file ("hello from the main loop");
  gd.load.file = gd.file;
  gd.replace.file = gd.file;
  gd.replace.contents = "replaced through syncify";

  ret = run_in_worker (gio_push_worker, &gd, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (ret == GINT_TO_POINTER (1));

  g_assert_cmpstr (gd.loaded, ==, "hello from the main loop");
  g_assert_cmpint (gd.load.start_count, ==, 1);
  g_assert_true (gd.load.start_thread == main_thread);
  g_assert_true (gd.load.start_td == g_main_context_default ());
  g_assert_true (gd.load.finish_thread == main_thread);

  g_assert_nonnull (gd.etag);
  g_assert_cmpint (gd.replace.start_count, ==, 1);
  g_assert_true (gd.replace.start_thread == main_thread);
  g_assert_true (gd.replace.start_td == g_main_context_default ());
  g_assert_true (gd.replace.finish_thread == main_thread);

  g_file_load_contents (gd.file, NULL, &after, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (after, ==, "replaced through syncify");

  g_free (gd.loaded);
  g_free (gd.etag);
  delete_temp_file (gd.file);
}

/* A loop on another thread, wrapped with syncify_context_new(), pushed to
 * from a plain thread. */
typedef struct {
  SyncifyContext *context;
  Op              op;
  char           *result;
  GError         *error;
  GThread        *caller;
} OtherLoopData;

static gpointer
other_loop_caller (gpointer data)
{
  OtherLoopData *od = data;

  od->caller = g_thread_self ();
  g_assert_null (syncify_context_get_current ());
  od->result = syncify_context_syncify (od->context, SYNCIFY_FLAGS_NONE,
                                        op_start, op_finish, &od->op, NULL, &od->error);
  return NULL;
}

static void
test_push_other_thread_loop (void)
{
  LoopThread *lt;
  OtherLoopData od = { NULL, };
  g_autofree char *expected = NULL;

  test_watchdog_arm (g_test_get_path ());

  lt = loop_thread_start ("loop-thread");
  od.context = syncify_context_new (lt->context);
  g_assert_true (syncify_context_get_main_context (od.context) == lt->context);
  op_init (&od.op, OP_IDLE, 7);

  g_thread_join (g_thread_new ("plain-caller", other_loop_caller, &od));

  expected = op_expected (&od.op);
  g_assert_no_error (od.error);
  g_assert_cmpstr (od.result, ==, expected);
  g_assert_cmpint (od.op.start_count, ==, 1);
  g_assert_true (od.op.start_thread == lt->thread);
  g_assert_true (od.op.start_td == lt->context);
  g_assert_true (od.op.finish_thread == lt->thread);
  g_assert_true (od.op.finish_owner);

  /* Also a thread-based op, and from the main thread (also plain: no loop
   * runs on it now). */
  g_clear_pointer (&od.result, g_free);
  op_clear (&od.op);
  op_init (&od.op, OP_THREAD, 8);
  other_loop_caller (&od);
  g_clear_pointer (&expected, g_free);
  expected = op_expected (&od.op);
  g_assert_no_error (od.error);
  g_assert_cmpstr (od.result, ==, expected);
  g_assert_true (od.op.start_thread == lt->thread);
  g_assert_true (od.op.finish_thread == lt->thread);

  g_free (od.result);
  op_clear (&od.op);
  g_assert_finalize_object (od.context);
  loop_thread_stop (lt);
}

/* ------------------------------------------------------------------------ *
 * Private path
 * ------------------------------------------------------------------------ */

typedef struct {
  SyncifyContext *context;
  GMainContext   *private_td[2];
  GThread        *thread;
} PrivateThreadData;

static gpointer
private_other_thread (gpointer data)
{
  PrivateThreadData *pd = data;

  pd->thread = g_thread_self ();
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *result = NULL;
      g_autofree char *expected = NULL;
      Op op;

      op_init (&op, OP_IDLE, 40 + i);
      result = syncify_context_syncify (pd->context, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT,
                                        op_start, op_finish, &op, NULL, &error);
      expected = op_expected (&op);
      g_assert_no_error (error);
      g_assert_cmpstr (result, ==, expected);
      g_assert_true (op.start_thread == pd->thread);
      g_assert_true (op.finish_thread == pd->thread);
      pd->private_td[i] = op.start_td_raw;
      op_clear (&op);
    }

  return NULL;
}

static void
private_basic_for (SyncifyContext *context)
{
  GMainContext *recorded = NULL;
  /* The other thread uses a context that no live thread iterates: the
   * default context is owned by this thread, which iterated it in earlier
   * tests, so the other thread's calls would wait for this one. */
  g_autoptr(GMainContext) fresh = g_main_context_new ();
  g_autoptr(SyncifyContext) fresh_context = context != NULL ? syncify_context_new (fresh) : NULL;
  PrivateThreadData other = { fresh_context, };

  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *result = NULL;
      g_autofree char *expected = NULL;
      Op op;

      op_init (&op, i == 1 ? OP_THREAD : OP_IDLE, 30 + i);
      result = syncify_context_syncify (context, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT,
                                        op_start, op_finish, &op, NULL, &error);
      expected = op_expected (&op);
      g_assert_no_error (error);
      g_assert_cmpstr (result, ==, expected);

      g_assert_cmpint (op.start_count, ==, 1);
      g_assert_cmpint (op.finish_count, ==, 1);
      g_assert_true (op.start_thread == main_thread);
      g_assert_true (op.finish_thread == main_thread);
      /* A private context, pushed as thread-default while start ran. */
      g_assert_nonnull (op.start_td_raw);
      g_assert_true (op.start_td_raw != g_main_context_default ());
      g_assert_true (op.finish_td == op.start_td_raw);
      g_assert_true (op.finish_owner);
      /* ... and popped afterwards. */
      g_assert_null (g_main_context_get_thread_default ());

      /* The same one every time on this thread. */
      if (recorded == NULL)
        recorded = op.start_td_raw;
      g_assert_true (op.start_td_raw == recorded);
      op_clear (&op);
    }

  /* Another thread has its own, also reused. */
  g_thread_join (g_thread_new ("private-other", private_other_thread, &other));
  g_assert_nonnull (other.private_td[0]);
  g_assert_true (other.private_td[0] != recorded);
  g_assert_true (other.private_td[0] != g_main_context_default ());
  g_assert_true (other.private_td[1] == other.private_td[0]);
}

static void
test_private_basic (void)
{
  test_watchdog_arm (g_test_get_path ());

  g_assert_null (syncify_context_get_current ());
  /* No context outside a worker: private. */
  private_basic_for (NULL);
  /* The default context, which nobody runs now: private too. */
  private_basic_for (syncify_context_get_default ());
}

typedef struct {
  Op            outer_op;
  Op            inner_op;
  char         *inner_result;
  GError       *inner_error;
  guint         depth;
} NestedPrivate;

static void
nested_outer_start (gpointer             user_data,
                    GCancellable        *cancellable,
                    GAsyncReadyCallback  callback,
                    gpointer             callback_data)
{
  NestedPrivate *np = user_data;

  /* A blocking call inside the outer operation's start. */
  np->inner_result = syncify_context_syncify (NULL, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT,
                                              op_start, op_finish, &np->inner_op,
                                              NULL, &np->inner_error);
  /* Still the outer private context once the inner call returned. */
  g_assert_nonnull (g_main_context_get_thread_default ());
  op_start (&np->outer_op, cancellable, callback, callback_data);
}

static void
test_private_nested (void)
{
  NestedPrivate np = { 0, };
  g_autoptr(GError) error = NULL;
  g_autofree char *result = NULL;
  g_autofree char *outer_expected = NULL;
  g_autofree char *inner_expected = NULL;

  test_watchdog_arm (g_test_get_path ());

  op_init (&np.outer_op, OP_IDLE, 50);
  op_init (&np.inner_op, OP_THREAD, 51);

  result = syncify_context_syncify (NULL, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT,
                                    nested_outer_start, op_finish, &np.outer_op,
                                    NULL, &error);
  /* op_finish is given &np.outer_op, which is also the start of np. */
  outer_expected = op_expected (&np.outer_op);
  inner_expected = op_expected (&np.inner_op);
  g_assert_no_error (error);
  g_assert_cmpstr (result, ==, outer_expected);
  g_assert_no_error (np.inner_error);
  g_assert_cmpstr (np.inner_result, ==, inner_expected);

  g_assert_true (np.inner_op.start_thread == main_thread);
  g_assert_true (np.outer_op.start_thread == main_thread);
  g_assert_nonnull (np.inner_op.start_td_raw);
  g_assert_true (np.inner_op.start_td_raw != g_main_context_default ());
  g_assert_true (np.inner_op.finish_owner);
  g_assert_true (np.outer_op.finish_owner);
  g_assert_cmpint (np.inner_op.finish_count, ==, 1);
  g_assert_cmpint (np.outer_op.finish_count, ==, 1);
  g_assert_null (g_main_context_get_thread_default ());

  g_free (np.inner_result);
  op_clear (&np.outer_op);
  op_clear (&np.inner_op);
}

static void
test_private_many (void)
{
  guint n = test_scaled (TEST_FEWER_UNDER_VALGRIND, 10000, 300);
  GMainContext *recorded = NULL;

  test_watchdog_arm (g_test_get_path ());

  for (guint i = 0; i < n; i++)
    {
      GError *error = NULL;
      char *result;
      Op op;

      op_init (&op, OP_IDLE, i);
      result = syncify_context_syncify (NULL, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT,
                                        op_start, op_finish, &op, NULL, &error);
      g_assert_no_error (error);
      g_assert_nonnull (result);
      g_assert_cmpint (op.finish_count, ==, 1);
      if (recorded == NULL)
        recorded = op.start_td_raw;
      /* No new main context per call. */
      g_assert_true (op.start_td_raw == recorded);
      g_free (result);
      op_clear (&op);
    }

  g_assert_null (g_main_context_get_thread_default ());
}

/* ------------------------------------------------------------------------ *
 * NOT_IN_WORKER
 * ------------------------------------------------------------------------ */

static void
test_not_in_worker_plain (void)
{
  SyncifyContext *contexts[] = { NULL, syncify_context_get_default () };

  test_watchdog_arm (g_test_get_path ());

  for (guint i = 0; i < G_N_ELEMENTS (contexts); i++)
    {
      g_autoptr(GError) error = NULL;
      gpointer result;
      Op op;

      op_init (&op, OP_IDLE, 60);
      result = syncify_context_syncify (contexts[i], SYNCIFY_FLAGS_NONE,
                                        op_start, op_finish, &op, NULL, &error);
      g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_NOT_IN_WORKER);
      g_assert_null (result);
      g_assert_cmpint (op.start_count, ==, 0);
      g_assert_cmpint (op.finish_count, ==, 0);
      op_clear (&op);
    }
}

static gboolean
not_in_worker_owner_cb (gpointer data)
{
  SyncifyContext *contexts[] = { NULL, syncify_context_get_default () };

  for (guint i = 0; i < G_N_ELEMENTS (contexts); i++)
    {
      g_autoptr(GError) error = NULL;
      gpointer result;
      Op op;

      op_init (&op, OP_IDLE, 61);
      result = syncify_context_syncify (contexts[i], SYNCIFY_FLAGS_NONE,
                                        op_start, op_finish, &op, NULL, &error);
      g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_NOT_IN_WORKER);
      g_assert_null (result);
      g_assert_cmpint (op.start_count, ==, 0);
      op_clear (&op);
    }

  return G_SOURCE_REMOVE;
}

static void
test_not_in_worker_owner (void)
{
  test_watchdog_arm (g_test_get_path ());
  run_in_loop_callback (not_in_worker_owner_cb, NULL);
}

/* ------------------------------------------------------------------------ *
 * invoke_sync
 * ------------------------------------------------------------------------ */

typedef struct {
  gint          count;     /* (atomic) */
  GThread      *thread;
  GMainContext *td;
  gboolean      owner_default;
  gboolean      owner_ctx;
  GMainContext *ctx;       /* checked for ownership, may be NULL */
  GCancellable *cancellable;
} FuncRecord;

static gpointer
record_func (gpointer       user_data,
             GCancellable  *cancellable,
             GError       **error)
{
  FuncRecord *fr = user_data;

  g_atomic_int_inc (&fr->count);
  fr->thread = g_thread_self ();
  fr->td = test_thread_default ();
  fr->owner_default = g_main_context_is_owner (g_main_context_default ());
  fr->owner_ctx = fr->ctx != NULL && g_main_context_is_owner (fr->ctx);
  fr->cancellable = cancellable;

  return g_strdup ("invoked");
}

static gboolean
invoke_inline_owner_cb (gpointer data)
{
  SyncifyContext *contexts[] = { syncify_context_get_default (), NULL };

  for (guint i = 0; i < G_N_ELEMENTS (contexts); i++)
    {
      FuncRecord fr = { 0, };
      g_autoptr(GError) error = NULL;
      g_autofree char *result = NULL;

      result = syncify_context_invoke_sync (contexts[i], record_func, &fr, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (result, ==, "invoked");
      /* Inline: it ran before invoke_sync returned, right here. */
      g_assert_cmpint (fr.count, ==, 1);
      g_assert_true (fr.thread == main_thread);
      g_assert_true (fr.owner_default);
    }

  return G_SOURCE_REMOVE;
}

static void
test_invoke_inline_owner (void)
{
  test_watchdog_arm (g_test_get_path ());
  run_in_loop_callback (invoke_inline_owner_cb, NULL);
}

typedef struct {
  FuncRecord  fr;
  char       *result;
  GError     *error;
} InvokeThreadData;

static gpointer
invoke_default_from_thread (gpointer data)
{
  InvokeThreadData *id = data;

  id->result = syncify_context_invoke_sync (syncify_context_get_default (), record_func,
                                            &id->fr, NULL, &id->error);
  return NULL;
}

typedef struct {
  InvokeThreadData  id;
  SyncifyContext   *context;
} InvokeOnThreadData;

static gpointer
invoke_on_from_thread (gpointer data)
{
  InvokeOnThreadData *io = data;

  io->id.result = syncify_context_invoke_sync (io->context, record_func,
                                               &io->id.fr, NULL, &io->id.error);
  return NULL;
}

static void
test_invoke_inline_unowned (void)
{
  InvokeThreadData id = { { 0, }, };
  GThread *thread;

  test_watchdog_arm (g_test_get_path ());

  /* Nobody runs the default context: inline on the calling thread, with the
   * context acquired meanwhile. */
  invoke_default_from_thread (&id);
  g_assert_no_error (id.error);
  g_assert_cmpstr (id.result, ==, "invoked");
  g_assert_cmpint (id.fr.count, ==, 1);
  g_assert_true (id.fr.thread == main_thread);
  g_assert_true (id.fr.owner_default);
  g_assert_false (g_main_context_is_owner (g_main_context_default ()));
  g_clear_pointer (&id.result, g_free);

  /* From another plain thread, for a context that no live thread has
   * iterated: it runs there, with the context acquired meanwhile. (The
   * default context is owned by this thread, which iterated it in earlier
   * tests: see /syncify/invoke-sync/push/between-iterations.) */
  {
    g_autoptr(GMainContext) fresh = g_main_context_new ();
    InvokeOnThreadData io = { { { 0, }, }, };

    io.context = syncify_context_new (fresh);
    io.id.fr.ctx = fresh;
    thread = g_thread_new ("invoke-plain", invoke_on_from_thread, &io);
    g_thread_join (thread);
    g_assert_no_error (io.id.error);
    g_assert_cmpstr (io.id.result, ==, "invoked");
    g_assert_cmpint (io.id.fr.count, ==, 1);
    g_assert_true (io.id.fr.thread == thread);
    g_assert_true (io.id.fr.owner_ctx);
    g_clear_pointer (&io.id.result, g_free);
    g_assert_finalize_object (io.context);
  }

  /* NULL outside a worker: inline, no context involved. */
  {
    FuncRecord fr = { 0, };
    g_autoptr(GError) error = NULL;
    g_autofree char *result = NULL;

    result = syncify_context_invoke_sync (NULL, record_func, &fr, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (result, ==, "invoked");
    g_assert_cmpint (fr.count, ==, 1);
    g_assert_true (fr.thread == main_thread);
  }
}

typedef struct {
  SyncifyContext *context;
  FuncRecord      fr;
  char           *result;
  GError         *error;
} InvokePushData;

static gpointer
invoke_push_worker (gpointer       user_data,
                    GCancellable  *cancellable,
                    GError       **error)
{
  InvokePushData *ip = user_data;

  ip->result = syncify_context_invoke_sync (ip->context, record_func, &ip->fr, NULL,
                                            &ip->error);
  /* Returned after func ran (on the main thread). */
  g_assert_cmpint (g_atomic_int_get (&ip->fr.count), ==, 1);
  return NULL;
}

static void
test_invoke_push_worker (void)
{
  SyncifyContext *contexts[] = { syncify_context_get_default (), NULL };

  test_watchdog_arm (g_test_get_path ());

  for (guint i = 0; i < G_N_ELEMENTS (contexts); i++)
    {
      InvokePushData ip = { contexts[i], };
      g_autoptr(GError) error = NULL;
      GThread *worker = NULL;

      run_in_worker (invoke_push_worker, &ip, NULL, &worker, &error);
      g_assert_no_error (error);
      g_assert_no_error (ip.error);
      g_assert_cmpstr (ip.result, ==, "invoked");
      g_assert_cmpint (ip.fr.count, ==, 1);
      g_assert_true (ip.fr.thread == main_thread);
      g_assert_true (ip.fr.thread != worker);
      g_assert_true (ip.fr.owner_default);
      g_assert_true (ip.fr.td == g_main_context_default ());
      g_free (ip.result);
    }
}

static gpointer
invoke_push_plain (gpointer data)
{
  InvokePushData *ip = data;

  ip->result = syncify_context_invoke_sync (ip->context, record_func, &ip->fr, NULL,
                                            &ip->error);
  return NULL;
}

static void
test_invoke_push_other_thread (void)
{
  LoopThread *lt;
  InvokePushData ip = { NULL, };
  GThread *caller;

  test_watchdog_arm (g_test_get_path ());

  lt = loop_thread_start ("invoke-loop");
  ip.context = syncify_context_new (lt->context);
  ip.fr.ctx = lt->context;

  caller = g_thread_new ("invoke-caller", invoke_push_plain, &ip);
  g_thread_join (caller);

  g_assert_no_error (ip.error);
  g_assert_cmpstr (ip.result, ==, "invoked");
  g_assert_cmpint (ip.fr.count, ==, 1);
  g_assert_true (ip.fr.thread == lt->thread);
  g_assert_true (ip.fr.owner_ctx);
  g_assert_true (ip.fr.td == lt->context);
  g_free (ip.result);

  g_assert_finalize_object (ip.context);
  loop_thread_stop (lt);
}

/* ------------------------------------------------------------------------ *
 * The seed programs: one function, called from a worker and from main()
 * ------------------------------------------------------------------------ */

/* Blocking code that needs the contents of @file, written once. */
static char *
do_sync_work (SyncifyContext  *context,
              GFile           *file,
              GThread        **start_thread,
              GMainContext   **start_td,
              GError         **error)
{
  FileOp op = { file, };
  g_autofree char *contents = NULL;

  contents = syncify_context_syncify (context, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT,
                                      load_start, load_finish, &op, NULL, error);
  g_assert_cmpint (op.start_count, ==, 1);
  g_assert_true (op.finish_thread == op.start_thread);
  *start_thread = op.start_thread;
  *start_td = op.start_td;

  return contents != NULL ? g_strdup_printf ("%zu:%s", strlen (contents), contents) : NULL;
}

typedef struct {
  SyncifyContext *context;
  GFile          *file;
  GThread        *start_thread;
  GMainContext   *start_td;
} SeedData;

static gpointer
seed_worker (gpointer       user_data,
             GCancellable  *cancellable,
             GError       **error)
{
  SeedData *sd = user_data;

  return do_sync_work (sd->context, sd->file, &sd->start_thread, &sd->start_td, error);
}

static void
test_seed (gconstpointer data)
{
  SeedData sd = { NULL, };
  g_autoptr(GError) error = NULL;
  g_autofree char *from_worker = NULL;
  g_autofree char *from_main = NULL;
  GThread *worker = NULL;
  GThread *start_thread = NULL;
  GMainContext *start_td = NULL;

  test_watchdog_arm (g_test_get_path ());

  sd.context = GPOINTER_TO_INT (data) ? syncify_context_get_default () : NULL;
  sd.file = make_temp_file ("the seed's answer");

  /* (a) From a worker while the main loop runs: pushed to the main thread. */
  from_worker = run_in_worker (seed_worker, &sd, NULL, &worker, &error);
  g_assert_no_error (error);
  g_assert_true (sd.start_thread == main_thread);
  g_assert_true (sd.start_td == g_main_context_default ());

  /* (b) From plain main(), no loop: private, on the calling thread. */
  from_main = do_sync_work (sd.context, sd.file, &start_thread, &start_td, &error);
  g_assert_no_error (error);
  g_assert_true (start_thread == main_thread);
  g_assert_true (start_td != g_main_context_default ());

  g_assert_cmpstr (from_worker, ==, "17:the seed's answer");
  g_assert_cmpstr (from_main, ==, from_worker);

  delete_temp_file (sd.file);
}

/* ------------------------------------------------------------------------ *
 * Nesting: worker -> syncify -> asyncify -> worker -> syncify -> ...
 * ------------------------------------------------------------------------ */

#define NEST_DEPTH 3

typedef struct _NestLevel NestLevel;
struct _NestLevel {
  guint       depth;
  NestLevel  *levels;         /* the array, levels[0] is depth 1 */
  GThread    *worker_thread;
  GThread    *start_thread;   /* the start of the syncify this level issued */
  Op          leaf;
};

static gpointer nest_worker (gpointer user_data, GCancellable *cancellable, GError **error);

static void
nest_start (gpointer             user_data,
            GCancellable        *cancellable,
            GAsyncReadyCallback  callback,
            gpointer             callback_data)
{
  NestLevel *parent = user_data;
  NestLevel *next = &parent->levels[parent->depth];

  parent->start_thread = g_thread_self ();
  g_assert_true (g_main_context_is_owner (g_main_context_default ()));
  syncify_context_asyncify (syncify_context_get_default (), SYNCIFY_FLAGS_NONE,
                            nest_worker, next, NULL, g_free, cancellable,
                            callback, callback_data);
}

static gpointer
nest_finish (GObject       *source_object,
             GAsyncResult  *result,
             gpointer       user_data,
             GError       **error)
{
  g_assert_true (g_thread_self () == main_thread);
  return syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result, error);
}

static gpointer
nest_worker (gpointer       user_data,
             GCancellable  *cancellable,
             GError       **error)
{
  NestLevel *lv = user_data;
  g_autofree char *inner = NULL;

  lv->worker_thread = g_thread_self ();
  g_assert_true (lv->worker_thread != main_thread);
  g_assert_true (syncify_context_get_current () == syncify_context_get_default ());

  if (lv->depth == NEST_DEPTH)
    {
      inner = syncify_context_syncify (NULL, SYNCIFY_FLAGS_NONE, op_start, op_finish,
                                       &lv->leaf, NULL, error);
      lv->start_thread = lv->leaf.start_thread;
    }
  else
    {
      inner = syncify_context_syncify (NULL, SYNCIFY_FLAGS_NONE, nest_start, nest_finish,
                                       lv, NULL, error);
    }

  if (inner == NULL)
    return NULL;

  return g_strdup_printf ("%u:%s", lv->depth, inner);
}

static void
test_nesting (void)
{
  NestLevel levels[NEST_DEPTH];
  g_autoptr(GError) error = NULL;
  g_autofree char *result = NULL;

  test_watchdog_arm (g_test_get_path ());

  memset (levels, 0, sizeof levels);
  for (guint i = 0; i < NEST_DEPTH; i++)
    {
      levels[i].depth = i + 1;
      levels[i].levels = levels;
    }
  op_init (&levels[NEST_DEPTH - 1].leaf, OP_IDLE, 99);

  result = run_in_worker (nest_worker, &levels[0], NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (result, ==, "1:2:3:op-99");

  for (guint i = 0; i < NEST_DEPTH; i++)
    {
      g_assert_true (levels[i].start_thread == main_thread);
      g_assert_nonnull (levels[i].worker_thread);
      g_assert_true (levels[i].worker_thread != main_thread);
      /* All were blocked at once: three different threads. */
      for (guint j = 0; j < i; j++)
        g_assert_true (levels[i].worker_thread != levels[j].worker_thread);
    }
  assert_op_ran_on_main (&levels[NEST_DEPTH - 1].leaf);
  op_clear (&levels[NEST_DEPTH - 1].leaf);
}

/* ------------------------------------------------------------------------ *
 * Cancellation
 * ------------------------------------------------------------------------ */

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

typedef struct {
  Op            op;
  GCancellable *cancellable;
  char         *result;
  GError       *error;
} CancelData;

static gpointer
cancel_while_running_worker (gpointer       user_data,
                             GCancellable  *cancellable,
                             GError       **error)
{
  CancelData *cd = user_data;

  cd->result = syncify_context_syncify (NULL, SYNCIFY_FLAGS_NONE, op_start, op_finish,
                                        &cd->op, cd->cancellable, &cd->error);
  /* The operation completed before syncify returned. */
  g_assert_cmpint (g_atomic_int_get (&cd->op.completed), ==, 1);
  g_assert_cmpint (g_atomic_int_get (&cd->op.finish_count), ==, 1);
  return NULL;
}

static void
test_cancel_while_running (void)
{
  CancelData cd = { { 0, }, };
  CancelLater cl;
  GThread *canceller;
  g_autoptr(GError) error = NULL;

  test_watchdog_arm (g_test_get_path ());

  op_init (&cd.op, OP_WAIT_CANCEL, 0);
  cd.cancellable = g_cancellable_new ();
  cl.started = &cd.op.started;
  cl.cancellable = cd.cancellable;
  canceller = g_thread_new ("canceller", cancel_when_started, &cl);

  run_in_worker (cancel_while_running_worker, &cd, NULL, NULL, &error);
  g_thread_join (canceller);

  g_assert_no_error (error);
  g_assert_error (cd.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (cd.result);
  g_assert_cmpint (cd.op.cancel_seen, ==, 1);
  g_assert_cmpint (cd.op.completed, ==, 1);
  assert_op_ran_on_main (&cd.op);

  g_clear_error (&cd.error);
  g_object_unref (cd.cancellable);
  op_clear (&cd.op);
}

static gpointer
cancel_worker_own_worker (gpointer       user_data,
                          GCancellable  *cancellable,
                          GError       **error)
{
  CancelData *cd = user_data;
  gpointer result;

  g_assert_nonnull (cancellable);
  /* No cancellable of its own: the worker's cancels it. */
  result = syncify_context_syncify (NULL, SYNCIFY_FLAGS_NONE, op_start, op_finish,
                                    &cd->op, NULL, error);
  g_assert_cmpint (g_atomic_int_get (&cd->op.completed), ==, 1);
  return result;
}

static void
test_cancel_worker_own (void)
{
  CancelData cd = { { 0, }, };
  CancelLater cl;
  GThread *canceller;
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) worker_cancellable = g_cancellable_new ();
  gpointer result;

  test_watchdog_arm (g_test_get_path ());

  op_init (&cd.op, OP_WAIT_CANCEL, 0);
  cl.started = &cd.op.started;
  cl.cancellable = worker_cancellable;
  canceller = g_thread_new ("canceller", cancel_when_started, &cl);

  result = run_in_worker (cancel_worker_own_worker, &cd, worker_cancellable, NULL, &error);
  g_thread_join (canceller);

  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (result);
  g_assert_cmpint (cd.op.cancel_seen, ==, 1);
  assert_op_ran_on_main (&cd.op);
  op_clear (&cd.op);
}

static gpointer
already_cancelled_worker (gpointer       user_data,
                          GCancellable  *cancellable,
                          GError       **error)
{
  CancelData *cd = user_data;
  FuncRecord fr = { 0, };
  GError *local_error = NULL;

  cd->result = syncify_context_syncify (NULL, SYNCIFY_FLAGS_NONE, op_start, op_finish,
                                        &cd->op, cd->cancellable, &cd->error);

  g_assert_null (syncify_context_invoke_sync (NULL, record_func, &fr, cd->cancellable,
                                              &local_error));
  g_assert_error (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (fr.count, ==, 0);
  g_clear_error (&local_error);

  return NULL;
}

static void
test_cancel_already (void)
{
  CancelData cd = { { 0, }, };
  g_autoptr(GError) error = NULL;
  FuncRecord fr = { 0, };
  gpointer result;

  test_watchdog_arm (g_test_get_path ());

  cd.cancellable = g_cancellable_new ();
  g_cancellable_cancel (cd.cancellable);

  /* Push path, from a worker. */
  op_init (&cd.op, OP_IDLE, 0);
  run_in_worker (already_cancelled_worker, &cd, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_error (cd.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (cd.result);
  g_assert_cmpint (cd.op.start_count, ==, 0);
  g_assert_cmpint (cd.op.finish_count, ==, 0);
  g_clear_error (&cd.error);
  op_clear (&cd.op);

  /* Private path, from main(). */
  op_init (&cd.op, OP_IDLE, 0);
  result = syncify_context_syncify (NULL, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT,
                                    op_start, op_finish, &cd.op, cd.cancellable, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (result);
  g_assert_cmpint (cd.op.start_count, ==, 0);
  g_clear_error (&error);
  op_clear (&cd.op);

  /* invoke_sync, inline path. */
  result = syncify_context_invoke_sync (syncify_context_get_default (), record_func, &fr,
                                        cd.cancellable, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (result);
  g_assert_cmpint (fr.count, ==, 0);

  g_object_unref (cd.cancellable);
}

/* A real GIO operation on the private path: a read from a pipe that never
 * gets data, cancelled from another thread. */
typedef struct {
  GInputStream *stream;
  char          buf[16];
  GThread      *start_thread;
  TestEvent     started;
  gboolean      finished;
} PipeRead;

static void
pipe_read_start (gpointer             user_data,
                 GCancellable        *cancellable,
                 GAsyncReadyCallback  callback,
                 gpointer             callback_data)
{
  PipeRead *pr = user_data;

  pr->start_thread = g_thread_self ();
  g_input_stream_read_async (pr->stream, pr->buf, sizeof pr->buf, G_PRIORITY_DEFAULT,
                             cancellable, callback, callback_data);
  test_event_set (&pr->started);
}

static gpointer
pipe_read_finish (GObject       *source_object,
                  GAsyncResult  *result,
                  gpointer       user_data,
                  GError       **error)
{
  PipeRead *pr = user_data;
  gssize n;

  pr->finished = TRUE;
  n = g_input_stream_read_finish (G_INPUT_STREAM (source_object), result, error);
  return n >= 0 ? GSIZE_TO_POINTER (n + 1) : NULL;
}

static void
test_cancel_private_gio (void)
{
  PipeRead pr = { NULL, };
  int fds[2];
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  CancelLater cl;
  GThread *canceller;
  gpointer result;

  test_watchdog_arm (g_test_get_path ());

  g_unix_open_pipe (fds, FD_CLOEXEC, &error);
  g_assert_no_error (error);
  pr.stream = g_unix_input_stream_new (fds[0], TRUE);
  test_event_init (&pr.started);
  cl.started = &pr.started;
  cl.cancellable = cancellable;
  canceller = g_thread_new ("canceller", cancel_when_started, &cl);

  result = syncify_context_syncify (NULL, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT,
                                    pipe_read_start, pipe_read_finish, &pr,
                                    cancellable, &error);
  g_thread_join (canceller);

  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (result);
  g_assert_true (pr.finished);
  g_assert_true (pr.start_thread == main_thread);

  g_object_unref (pr.stream);
  close (fds[1]);
  test_event_clear (&pr.started);
}

/* invoke_sync whose cancellable fires while the call is still queued behind
 * a busy owner. */
typedef struct {
  GCancellable *cancellable;
  FuncRecord    fr;
  char         *result;
  GError       *error;
  TestEvent     returned;
  guint         cancelled_signal;
} QueuedData;

static gpointer
queued_caller (gpointer data)
{
  QueuedData *qd = data;

  qd->result = syncify_context_invoke_sync (syncify_context_get_default (), record_func,
                                            &qd->fr, qd->cancellable, &qd->error);
  test_event_set (&qd->returned);
  return NULL;
}

static gpointer
queued_canceller (gpointer data)
{
  QueuedData *qd = data;

  /* invoke_sync connects to the cancellable only once the call is queued:
   * a handler there proves it is. */
  while (!g_signal_has_handler_pending (qd->cancellable, qd->cancelled_signal, 0, FALSE))
    g_usleep (1000);   /* bounded by the watchdog */
  g_cancellable_cancel (qd->cancellable);
  return NULL;
}

static gboolean
queued_busy_cb (gpointer data)
{
  QueuedData *qd = data;

  /* The owner is busy here until the queued call has returned. */
  test_event_wait (&qd->returned, "the queued invoke_sync to return");
  g_assert_cmpint (g_atomic_int_get (&qd->fr.count), ==, 0);
  return G_SOURCE_REMOVE;
}

static gboolean
queued_start_cb (gpointer data)
{
  QueuedData *qd = data;
  GThread *caller, *canceller;

  caller = g_thread_new ("queued-caller", queued_caller, qd);
  canceller = g_thread_new ("queued-canceller", queued_canceller, qd);
  queued_busy_cb (qd);
  g_thread_join (caller);
  g_thread_join (canceller);

  return G_SOURCE_REMOVE;
}

static void
test_cancel_invoke_queued (void)
{
  QueuedData qd = { NULL, };
  GMainLoop *loop;

  test_watchdog_arm (g_test_get_path ());

  qd.cancellable = g_cancellable_new ();
  qd.cancelled_signal = g_signal_lookup ("cancelled", G_TYPE_CANCELLABLE);
  test_event_init (&qd.returned);

  run_in_loop_callback (queued_start_cb, &qd);

  g_assert_error (qd.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (qd.result);

  /* Let the loop run the inbox: nothing is left in it to run. */
  loop = g_main_loop_new (NULL, FALSE);
  test_loop_quit_later (loop);
  g_main_loop_run (loop);
  g_main_loop_unref (loop);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpint (qd.fr.count, ==, 0);

  g_clear_error (&qd.error);
  g_object_unref (qd.cancellable);
  test_event_clear (&qd.returned);
}

/* ------------------------------------------------------------------------ */

int
main (int    argc,
      char **argv)
{
  test_init (&argc, &argv);
  main_thread = g_thread_self ();

  g_test_add_func ("/syncify/syncify/push/synthetic", test_push_synthetic);
  g_test_add_func ("/syncify/syncify/push/null-context", test_push_null_context);
  g_test_add_func ("/syncify/syncify/push/gio", test_push_gio);
  g_test_add_func ("/syncify/syncify/push/other-thread-loop", test_push_other_thread_loop);
  g_test_add_func ("/syncify/syncify/private/basic", test_private_basic);
  g_test_add_func ("/syncify/syncify/private/nested", test_private_nested);
  g_test_add_func ("/syncify/syncify/private/many", test_private_many);
  g_test_add_func ("/syncify/syncify/not-in-worker/plain", test_not_in_worker_plain);
  g_test_add_func ("/syncify/syncify/not-in-worker/owner", test_not_in_worker_owner);
  g_test_add_func ("/syncify/invoke-sync/inline/owner", test_invoke_inline_owner);
  g_test_add_func ("/syncify/invoke-sync/inline/unowned", test_invoke_inline_unowned);
  g_test_add_func ("/syncify/invoke-sync/push/worker", test_invoke_push_worker);
  g_test_add_func ("/syncify/invoke-sync/push/other-thread-loop", test_invoke_push_other_thread);
  g_test_add_data_func ("/syncify/seed/null-context", GINT_TO_POINTER (0), test_seed);
  g_test_add_data_func ("/syncify/seed/default-context", GINT_TO_POINTER (1), test_seed);
  g_test_add_func ("/syncify/syncify/nesting/three-levels", test_nesting);
  g_test_add_func ("/syncify/syncify/cancel/while-running", test_cancel_while_running);
  g_test_add_func ("/syncify/syncify/cancel/worker-cancellable", test_cancel_worker_own);
  g_test_add_func ("/syncify/syncify/cancel/already-cancelled", test_cancel_already);
  g_test_add_func ("/syncify/syncify/cancel/private-gio", test_cancel_private_gio);
  g_test_add_func ("/syncify/invoke-sync/cancel/queued", test_cancel_invoke_queued);

  return g_test_run ();
}
