/* test-teardown.c: functions registered with syncify_context_add_teardown()
 * run on the context's own thread as it shuts down, last first, once
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "test-util.h"

static GThread *main_thread;

typedef struct {
  GMutex    lock;
  GPtrArray *order;        /* const char *, in the order the functions ran */
  GPtrArray *threads;      /* GThread *, where each ran */
  gboolean   pushed;       /* every one ran with the bg context pushed */
  GMainContext *bg_main;   /* the background main context */
} Record;

typedef struct {
  Record     *record;
  const char *name;
} Entry;

static void
record_init (Record *r)
{
  g_mutex_init (&r->lock);
  r->order = g_ptr_array_new ();
  r->threads = g_ptr_array_new ();
  r->pushed = TRUE;
  r->bg_main = NULL;
}

static void
record_clear (Record *r)
{
  g_ptr_array_unref (r->order);
  g_ptr_array_unref (r->threads);
  g_mutex_clear (&r->lock);
}

static void
entry_run (gpointer data)
{
  Entry *e = data;
  Record *r = e->record;

  g_mutex_lock (&r->lock);
  g_ptr_array_add (r->order, (gpointer) e->name);
  g_ptr_array_add (r->threads, g_thread_self ());
  if (r->bg_main != NULL && g_main_context_get_thread_default () != r->bg_main)
    r->pushed = FALSE;
  g_mutex_unlock (&r->lock);
  g_free (e);
}

static void
add_entry (SyncifyContext *ctx,
           Record         *r,
           const char     *name)
{
  Entry *e = g_new0 (Entry, 1);

  e->record = r;
  e->name = name;
  g_assert_true (syncify_context_add_teardown (ctx, entry_run, e));
}

static gpointer
self_thread (gpointer       data,
             GCancellable  *cancellable,
             GError       **error)
{
  return g_thread_self ();
}

/* Checks: three entries, last registered first, all on @expected. */
static void
assert_ran_on (Record  *r,
               GThread *expected)
{
  g_mutex_lock (&r->lock);
  g_assert_cmpuint (r->order->len, ==, 3);
  g_assert_cmpstr (r->order->pdata[0], ==, "third");
  g_assert_cmpstr (r->order->pdata[1], ==, "second");
  g_assert_cmpstr (r->order->pdata[2], ==, "first");
  for (guint i = 0; i < r->threads->len; i++)
    g_assert_true (r->threads->pdata[i] == expected);
  g_assert_true (r->pushed);
  g_mutex_unlock (&r->lock);
}

typedef enum {
  FROM_MAIN,
  FROM_OTHER_THREAD,
  FROM_LAST_UNREF,
  FROM_OWN_THREAD,
} ShutdownFrom;

static gpointer
shutdown_thread (gpointer data)
{
  syncify_context_shutdown (data);
  return NULL;
}

static gpointer
shutdown_on_own_thread (gpointer       data,
                        GCancellable  *cancellable,
                        GError       **error)
{
  syncify_context_shutdown (data);
  return NULL;
}

static void
test_teardown_background (gconstpointer from_data)
{
  ShutdownFrom from = GPOINTER_TO_INT (from_data);
  SyncifyContext *ctx = syncify_context_new_thread ("torn-down");
  GThread *bg_thread;
  Record r;

  test_watchdog_arm (g_test_get_path ());

  record_init (&r);
  r.bg_main = syncify_context_get_main_context (ctx);
  bg_thread = syncify_context_invoke_sync (ctx, self_thread, NULL, NULL, NULL);
  g_assert_true (bg_thread != main_thread);

  add_entry (ctx, &r, "first");
  add_entry (ctx, &r, "second");
  add_entry (ctx, &r, "third");

  switch (from)
    {
    case FROM_MAIN:
      syncify_context_shutdown (ctx);
      break;
    case FROM_OTHER_THREAD:
      g_thread_join (g_thread_new ("shutter", shutdown_thread, ctx));
      break;
    case FROM_LAST_UNREF:
      break;
    case FROM_OWN_THREAD:
      {
        g_autoptr(GError) error = NULL;

        syncify_context_invoke_sync (ctx, shutdown_on_own_thread, ctx, NULL, &error);
        g_assert_no_error (error);
      }
      break;
    }

  if (from != FROM_OWN_THREAD)
    {
      /* The thread was joined: everything ran already. */
      if (from == FROM_LAST_UNREF)
        g_assert_finalize_object (ctx);
      assert_ran_on (&r, bg_thread);
    }
  else
    {
      /* The thread leaves on its own once the call returns. */
      test_watchdog_arm ("the background thread to run its teardown");
      for (;;)
        {
          guint n;

          g_mutex_lock (&r.lock);
          n = r.order->len;
          g_mutex_unlock (&r.lock);
          if (n == 3)
            break;
          g_thread_yield ();
        }
      assert_ran_on (&r, bg_thread);
    }

  /* Shut down: nothing more is registered, and nothing runs twice. */
  if (from != FROM_LAST_UNREF)
    {
      Entry late = { &r, "late" };

      g_assert_false (syncify_context_add_teardown (ctx, entry_run, &late));
      syncify_context_shutdown (ctx);
      g_object_unref (ctx);
    }
  g_mutex_lock (&r.lock);
  g_assert_cmpuint (r.order->len, ==, 3);
  g_mutex_unlock (&r.lock);

  record_clear (&r);
}

/* An operation still running on the background thread when shutdown
 * comes: shutdown cancels it, it completes, then the teardown runs. */
typedef struct {
  Record *record;
  gint    started;
  gint    done;
  GError *error;
} Pending;

static void
never_start (gpointer             data,
             GCancellable        *cancellable,
             GAsyncReadyCallback  callback,
             gpointer             callback_data)
{
  Pending *p = data;

  test_op_until_cancelled_start (NULL, cancellable, callback, callback_data);
  g_atomic_int_set (&p->started, 1);
}

static gpointer
never_finish (GObject       *source,
              GAsyncResult  *result,
              gpointer       data,
              GError       **error)
{
  Pending *p = data;

  test_task_disconnect (result);
  g_mutex_lock (&p->record->lock);
  g_ptr_array_add (p->record->order, (gpointer) "operation");
  g_ptr_array_add (p->record->threads, g_thread_self ());
  g_mutex_unlock (&p->record->lock);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
pending_done (GObject      *source,
              GAsyncResult *result,
              gpointer      data)
{
  Pending *p = data;

  g_assert_null (syncify_context_call_finish (SYNCIFY_CONTEXT (source), result, &p->error));
  g_atomic_int_set (&p->done, 1);
}

static void
test_teardown_with_work_pending (void)
{
  SyncifyContext *ctx = syncify_context_new_thread ("busy");
  GThread *bg_thread;
  Record r;
  Pending p = { &r, 0, 0, NULL };

  test_watchdog_arm (g_test_get_path ());
  bg_thread = syncify_context_invoke_sync (ctx, self_thread, NULL, NULL, NULL);

  record_init (&r);
  r.bg_main = syncify_context_get_main_context (ctx);
  add_entry (ctx, &r, "first");
  add_entry (ctx, &r, "second");
  add_entry (ctx, &r, "third");

  syncify_context_call_async (ctx, never_start, never_finish, &p, NULL, NULL, NULL,
                              pending_done, &p);
  test_watchdog_arm ("the operation to start");
  while (!g_atomic_int_get (&p.started))
    g_thread_yield ();

  syncify_context_shutdown (ctx);

  /* The operation completed (cancelled) before any teardown function ran. */
  g_mutex_lock (&r.lock);
  g_assert_cmpuint (r.order->len, ==, 4);
  g_assert_cmpstr (r.order->pdata[0], ==, "operation");
  g_assert_cmpstr (r.order->pdata[1], ==, "third");
  g_assert_cmpstr (r.order->pdata[3], ==, "first");
  for (guint i = 0; i < r.threads->len; i++)
    g_assert_true (r.threads->pdata[i] == bg_thread);
  g_mutex_unlock (&r.lock);

  test_iterate_until (NULL, &p.done);
  g_assert_error (p.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&p.error);
  g_assert_finalize_object (ctx);
  record_clear (&r);
}

/* The bindable form: the object is disposed on the background thread. */
static GThread *disposed_on;

static void
on_disposed (gpointer  data,
             GObject  *where_the_object_was)
{
  disposed_on = g_thread_self ();
}

static gpointer
make_object (gpointer       data,
             GCancellable  *cancellable,
             GError       **error)
{
  return g_object_new (G_TYPE_OBJECT, NULL);
}

static void
test_teardown_object (void)
{
  SyncifyContext *ctx = syncify_context_new_thread ("objects");
  GThread *bg_thread = syncify_context_invoke_sync (ctx, self_thread, NULL, NULL, NULL);
  GObject *object = syncify_context_invoke_sync (ctx, make_object, NULL, NULL, NULL);
  GObject *late = g_object_new (G_TYPE_OBJECT, NULL);

  test_watchdog_arm (g_test_get_path ());

  disposed_on = NULL;
  /* A weak reference is notified when the object is disposed. */
  g_object_weak_ref (object, on_disposed, NULL);
  g_assert_true (syncify_context_add_teardown_object (ctx, object));
  g_object_unref (object);   /* the context keeps it until shutdown */
  g_assert_null (disposed_on);

  syncify_context_shutdown (ctx);
  g_assert_true (disposed_on == bg_thread);

  /* After shutdown: refused, the object left alone. */
  g_assert_false (syncify_context_add_teardown_object (ctx, late));
  g_assert_finalize_object (late);
  g_assert_finalize_object (ctx);
}

/* A context wrapping a main context: in shutdown, on the calling thread. */
static void
test_teardown_wrapped (void)
{
  g_autoptr(GMainContext) mc = g_main_context_new ();
  SyncifyContext *ctx = syncify_context_new (mc);
  Record r;

  test_watchdog_arm (g_test_get_path ());

  record_init (&r);
  add_entry (ctx, &r, "first");
  add_entry (ctx, &r, "second");
  add_entry (ctx, &r, "third");
  g_object_unref (ctx);   /* the last unref shuts it down */
  assert_ran_on (&r, main_thread);
  record_clear (&r);
}

int
main (int   argc,
      char *argv[])
{
  test_init (&argc, &argv);
  main_thread = g_thread_self ();

  g_test_add_data_func ("/syncify/teardown/background/shutdown", GINT_TO_POINTER (FROM_MAIN),
                        test_teardown_background);
  g_test_add_data_func ("/syncify/teardown/background/other-thread", GINT_TO_POINTER (FROM_OTHER_THREAD),
                        test_teardown_background);
  g_test_add_data_func ("/syncify/teardown/background/last-unref", GINT_TO_POINTER (FROM_LAST_UNREF),
                        test_teardown_background);
  g_test_add_data_func ("/syncify/teardown/background/own-thread", GINT_TO_POINTER (FROM_OWN_THREAD),
                        test_teardown_background);
  g_test_add_func ("/syncify/teardown/work-pending", test_teardown_with_work_pending);
  g_test_add_func ("/syncify/teardown/object", test_teardown_object);
  g_test_add_func ("/syncify/teardown/wrapped", test_teardown_wrapped);

  return g_test_run ();
}
