/* test-errors.c: programmer errors are criticals; runtime conditions are
 * GErrors with useful messages
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <syncify-glib/syncify-glib.h>

#include <string.h>

#include "test-util.h"

static GThread *main_thread;

/* ------------------------------------------------------------------------ *
 * Functions handed to the library
 * ------------------------------------------------------------------------ */

static gint starts_run;   /* (atomic) */
static gint funcs_run;    /* (atomic) */

static gpointer
counting_func (gpointer      user_data,
               GCancellable *cancellable,
               GError      **error)
{
  g_atomic_int_inc (&funcs_run);
  return NULL;
}

/* A real GIO operation: query the type of the root directory. */
static void
query_start (gpointer             user_data,
             GCancellable        *cancellable,
             GAsyncReadyCallback  callback,
             gpointer             callback_data)
{
  g_autoptr(GFile) root = g_file_new_for_path ("/");

  g_atomic_int_inc (&starts_run);
  g_file_query_info_async (root, G_FILE_ATTRIBUTE_STANDARD_TYPE, G_FILE_QUERY_INFO_NONE,
                           G_PRIORITY_DEFAULT, cancellable, callback, callback_data);
}

static gpointer
query_finish (GObject       *source_object,
              GAsyncResult  *result,
              gpointer       user_data,
              GError       **error)
{
  return g_file_query_info_finish (G_FILE (source_object), result, error);
}

typedef struct {
  gint          done;         /* (atomic) */
  GAsyncResult *result;       /* (owned) */
} Captured;

static void
capture_cb (GObject      *source_object,
            GAsyncResult *result,
            gpointer      data)
{
  Captured *c = data;

  c->result = g_object_ref (result);
  g_atomic_int_set (&c->done, 1);
}

/* The result of an asyncify job on @context, not yet finished. */
static GAsyncResult *
get_asyncify_result (SyncifyContext *context)
{
  Captured c = { 0, NULL };

  syncify_context_asyncify (context, SYNCIFY_FLAGS_NONE, counting_func, NULL, NULL, NULL,
                            NULL, capture_cb, &c);
  test_iterate_until (NULL, &c.done);
  return c.result;
}

/* The result of a call_async on @context (which must wrap the main thread's
 * default context), not yet finished. */
static GAsyncResult *
get_call_result (SyncifyContext *context)
{
  Captured c = { 0, NULL };

  syncify_context_call_async (context, query_start, query_finish, NULL, NULL, g_object_unref,
                              NULL, capture_cb, &c);
  test_iterate_until (NULL, &c.done);
  return c.result;
}

/* ------------------------------------------------------------------------ *
 * Programmer errors: each runs in a subprocess, which must die of the
 * critical (g_test_init() makes criticals fatal)
 * ------------------------------------------------------------------------ */

typedef struct {
  const char *name;
  void      (*func) (void);
  const char *stderr_pattern;
} CriticalCase;

/* Not a SyncifyContext. */
static SyncifyContext *
not_a_context (void)
{
  static GCancellable *cancellable;

  if (cancellable == NULL)
    cancellable = g_cancellable_new ();
  return (SyncifyContext *) cancellable;
}

static void
critical_asyncify_null_func (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);

  syncify_context_asyncify (context, SYNCIFY_FLAGS_NONE, NULL, NULL, NULL, NULL, NULL,
                            capture_cb, NULL);
}

static void
critical_invoke_sync_null_func (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);

  syncify_context_invoke_sync (context, NULL, NULL, NULL, NULL);
}

static void
critical_invoke_sync_null_func_null_context (void)
{
  syncify_context_invoke_sync (NULL, NULL, NULL, NULL, NULL);
}

static void
critical_syncify_null_start (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);

  syncify_context_syncify (context, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT, NULL, query_finish,
                           NULL, NULL, NULL);
}

static void
critical_syncify_null_finish (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);

  syncify_context_syncify (context, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT, query_start, NULL,
                           NULL, NULL, NULL);
}

static void
critical_call_async_null_start (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);

  syncify_context_call_async (context, NULL, query_finish, NULL, NULL, NULL, NULL,
                              capture_cb, NULL);
}

static void
critical_call_async_null_finish (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);

  syncify_context_call_async (context, query_start, NULL, NULL, NULL, NULL, NULL,
                              capture_cb, NULL);
}

static void
critical_self_get_main_context (void)
{
  syncify_context_get_main_context (not_a_context ());
}

static void
critical_self_get_name (void)
{
  syncify_context_get_name (not_a_context ());
}

static void
critical_self_get_max_workers (void)
{
  syncify_context_get_max_workers (not_a_context ());
}

static void
critical_self_set_max_workers (void)
{
  syncify_context_set_max_workers (not_a_context (), 2);
}

static void
critical_self_is_closed (void)
{
  syncify_context_is_closed (not_a_context ());
}

static void
critical_self_shutdown (void)
{
  syncify_context_shutdown (not_a_context ());
}

static void
critical_self_asyncify (void)
{
  syncify_context_asyncify (not_a_context (), SYNCIFY_FLAGS_NONE, counting_func, NULL, NULL,
                            NULL, NULL, capture_cb, NULL);
}

static void
critical_self_asyncify_finish (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  g_autoptr(GAsyncResult) result = get_asyncify_result (context);

  syncify_context_asyncify_finish (not_a_context (), result, NULL);
}

static void
critical_self_syncify (void)
{
  syncify_context_syncify (not_a_context (), SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT, query_start,
                           query_finish, NULL, NULL, NULL);
}

static void
critical_self_invoke_sync (void)
{
  syncify_context_invoke_sync (not_a_context (), counting_func, NULL, NULL, NULL);
}

static void
critical_self_call_async (void)
{
  syncify_context_call_async (not_a_context (), query_start, query_finish, NULL, NULL, NULL,
                              NULL, capture_cb, NULL);
}

static void
critical_self_call_finish (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  g_autoptr(GAsyncResult) result = get_call_result (context);

  syncify_context_call_finish (not_a_context (), result, NULL);
}

static void
critical_cancellable_not_a_cancellable (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);

  syncify_context_asyncify (context, SYNCIFY_FLAGS_NONE, counting_func, NULL, NULL, NULL,
                            (GCancellable *) context, capture_cb, NULL);
}

static void
critical_error_set_syncify (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  GError *error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "already set");

  syncify_context_syncify (context, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT, query_start,
                           query_finish, NULL, NULL, &error);
}

static void
critical_error_set_invoke_sync (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  GError *error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "already set");

  syncify_context_invoke_sync (context, counting_func, NULL, NULL, &error);
}

static void
critical_error_set_asyncify_finish (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  g_autoptr(GAsyncResult) result = get_asyncify_result (context);
  GError *error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "already set");

  syncify_context_asyncify_finish (context, result, &error);
}

static void
critical_error_set_call_finish (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  g_autoptr(GAsyncResult) result = get_call_result (context);
  GError *error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "already set");

  syncify_context_call_finish (context, result, &error);
}

static void
critical_wrong_result_other_context (void)
{
  g_autoptr(SyncifyContext) a = syncify_context_new (NULL);
  g_autoptr(SyncifyContext) b = syncify_context_new (NULL);
  g_autoptr(GAsyncResult) result = get_asyncify_result (a);

  syncify_context_asyncify_finish (b, result, NULL);
}

static void
critical_wrong_result_call_to_asyncify_finish (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  g_autoptr(GAsyncResult) result = get_call_result (context);

  syncify_context_asyncify_finish (context, result, NULL);
}

static void
critical_wrong_result_asyncify_to_call_finish (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  g_autoptr(GAsyncResult) result = get_asyncify_result (context);

  syncify_context_call_finish (context, result, NULL);
}

static void
critical_wrong_result_call_other_context (void)
{
  g_autoptr(SyncifyContext) a = syncify_context_new (NULL);
  g_autoptr(SyncifyContext) b = syncify_context_new (NULL);
  g_autoptr(GAsyncResult) result = get_call_result (a);

  syncify_context_call_finish (b, result, NULL);
}

static void
critical_wrong_result_foreign_task (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  /* A GTask with the right source object, but not made by asyncify. */
  g_autoptr(GTask) task = g_task_new (context, NULL, NULL, NULL);

  g_task_return_pointer (task, NULL, NULL);
  syncify_context_asyncify_finish (context, G_ASYNC_RESULT (task), NULL);
}

#define ASSERTION(fn, expr) "*Syncify-CRITICAL*" fn ": assertion '" expr "' failed*"

static const CriticalCase critical_cases[] = {
  { "null-func/asyncify", critical_asyncify_null_func,
    ASSERTION ("syncify_context_asyncify", "func != NULL") },
  { "null-func/invoke-sync", critical_invoke_sync_null_func,
    ASSERTION ("syncify_context_invoke_sync", "func != NULL") },
  { "null-func/invoke-sync-null-context", critical_invoke_sync_null_func_null_context,
    ASSERTION ("syncify_context_invoke_sync", "func != NULL") },
  { "null-func/syncify-start", critical_syncify_null_start,
    ASSERTION ("syncify_context_syncify", "start != NULL") },
  { "null-func/syncify-finish", critical_syncify_null_finish,
    ASSERTION ("syncify_context_syncify", "finish != NULL") },
  { "null-func/call-async-start", critical_call_async_null_start,
    ASSERTION ("syncify_context_call_async", "start != NULL") },
  { "null-func/call-async-finish", critical_call_async_null_finish,
    ASSERTION ("syncify_context_call_async", "finish != NULL") },

  { "not-a-context/get-main-context", critical_self_get_main_context,
    ASSERTION ("syncify_context_get_main_context", "SYNCIFY_IS_CONTEXT (self)") },
  { "not-a-context/get-name", critical_self_get_name,
    ASSERTION ("syncify_context_get_name", "SYNCIFY_IS_CONTEXT (self)") },
  { "not-a-context/get-max-workers", critical_self_get_max_workers,
    ASSERTION ("syncify_context_get_max_workers", "SYNCIFY_IS_CONTEXT (self)") },
  { "not-a-context/set-max-workers", critical_self_set_max_workers,
    ASSERTION ("syncify_context_set_max_workers", "SYNCIFY_IS_CONTEXT (self)") },
  { "not-a-context/is-closed", critical_self_is_closed,
    ASSERTION ("syncify_context_is_closed", "SYNCIFY_IS_CONTEXT (self)") },
  { "not-a-context/shutdown", critical_self_shutdown,
    ASSERTION ("syncify_context_shutdown", "SYNCIFY_IS_CONTEXT (self)") },
  { "not-a-context/asyncify", critical_self_asyncify,
    ASSERTION ("syncify_context_asyncify", "SYNCIFY_IS_CONTEXT (self)") },
  { "not-a-context/asyncify-finish", critical_self_asyncify_finish,
    ASSERTION ("syncify_context_asyncify_finish", "SYNCIFY_IS_CONTEXT (self)") },
  { "not-a-context/syncify", critical_self_syncify,
    ASSERTION ("syncify_context_syncify", "self == NULL || SYNCIFY_IS_CONTEXT (self)") },
  { "not-a-context/invoke-sync", critical_self_invoke_sync,
    ASSERTION ("syncify_context_invoke_sync", "self == NULL || SYNCIFY_IS_CONTEXT (self)") },
  { "not-a-context/call-async", critical_self_call_async,
    ASSERTION ("syncify_context_call_async", "SYNCIFY_IS_CONTEXT (self)") },
  { "not-a-context/call-finish", critical_self_call_finish,
    ASSERTION ("syncify_context_call_finish", "SYNCIFY_IS_CONTEXT (self)") },
  { "not-a-cancellable/asyncify", critical_cancellable_not_a_cancellable,
    ASSERTION ("syncify_context_asyncify", "cancellable == NULL || G_IS_CANCELLABLE (cancellable)") },

  { "error-set/syncify", critical_error_set_syncify,
    ASSERTION ("syncify_context_syncify", "error == NULL || *error == NULL") },
  { "error-set/invoke-sync", critical_error_set_invoke_sync,
    ASSERTION ("syncify_context_invoke_sync", "error == NULL || *error == NULL") },
  { "error-set/asyncify-finish", critical_error_set_asyncify_finish,
    ASSERTION ("syncify_context_asyncify_finish", "error == NULL || *error == NULL") },
  { "error-set/call-finish", critical_error_set_call_finish,
    ASSERTION ("syncify_context_call_finish", "error == NULL || *error == NULL") },

  { "wrong-result/other-context", critical_wrong_result_other_context,
    "*Syncify-CRITICAL*syncify_context_asyncify_finish: assertion*g_task_is_valid*failed*" },
  { "wrong-result/call-to-asyncify-finish", critical_wrong_result_call_to_asyncify_finish,
    "*Syncify-CRITICAL*syncify_context_asyncify_finish: assertion*source_tag*failed*" },
  { "wrong-result/asyncify-to-call-finish", critical_wrong_result_asyncify_to_call_finish,
    "*Syncify-CRITICAL*syncify_context_call_finish: assertion*source_tag*failed*" },
  { "wrong-result/call-other-context", critical_wrong_result_call_other_context,
    "*Syncify-CRITICAL*syncify_context_call_finish: assertion*g_task_is_valid*failed*" },
  { "wrong-result/foreign-task", critical_wrong_result_foreign_task,
    "*Syncify-CRITICAL*syncify_context_asyncify_finish: assertion*source_tag*failed*" },
};

static void
test_critical (gconstpointer data)
{
  const CriticalCase *c = data;

  if (g_test_subprocess ())
    {
      test_watchdog_arm (g_test_get_path ());
      c->func ();
      /* Not reached if the critical fired (it is fatal). */
      g_printerr ("no critical was raised\n");
      return;
    }

  test_watchdog_arm (g_test_get_path ());
  g_test_trap_subprocess (NULL, test_watchdog_bound_us (), G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr (c->stderr_pattern);
}

/* ------------------------------------------------------------------------ *
 * Runtime conditions
 * ------------------------------------------------------------------------ */

static void
assert_message_mentions (const GError *error,
                         const char   *name)
{
  g_assert_nonnull (error);
  g_assert_nonnull (error->message);
  g_assert_cmpstr (error->message, !=, "");
  g_test_message ("error message: %s", error->message);
  if (name != NULL)
    g_assert_nonnull (strstr (error->message, name));
}

static gpointer
syncify_null_context_thread (gpointer data)
{
  GError **error = data;

  return syncify_context_syncify (NULL, SYNCIFY_FLAGS_NONE, query_start, query_finish,
                                  NULL, NULL, error);
}

static void
test_not_in_worker_null_context (void)
{
  g_autoptr(GError) error = NULL;
  gpointer ret;

  test_watchdog_arm (g_test_get_path ());
  g_atomic_int_set (&starts_run, 0);

  /* Plain main(): no context, no worker, no flag. */
  ret = syncify_context_syncify (NULL, SYNCIFY_FLAGS_NONE, query_start, query_finish,
                                 NULL, NULL, &error);
  g_assert_null (ret);
  g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_NOT_IN_WORKER);
  assert_message_mentions (error, NULL);
  g_clear_error (&error);

  /* The same on a plain thread of its own. */
  ret = g_thread_join (g_thread_new ("plain-sync", syncify_null_context_thread, &error));
  g_assert_null (ret);
  g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_NOT_IN_WORKER);
  assert_message_mentions (error, NULL);
  g_clear_error (&error);

  /* Nothing ran. */
  g_assert_cmpint (g_atomic_int_get (&starts_run), ==, 0);
}

static void
test_not_in_worker_unrun_context (void)
{
  g_autoptr(GMainContext) mc = g_main_context_new ();
  g_autoptr(SyncifyContext) named = g_object_new (SYNCIFY_TYPE_CONTEXT,
                                                  "main-context", mc,
                                                  "name", "nobody-runs-me",
                                                  NULL);
  g_autoptr(SyncifyContext) unnamed = syncify_context_new (mc);
  g_autoptr(GError) error = NULL;
  gpointer ret;

  test_watchdog_arm (g_test_get_path ());
  g_atomic_int_set (&starts_run, 0);

  /* A context nobody iterates: no one could run the operation. */
  ret = syncify_context_syncify (named, SYNCIFY_FLAGS_NONE, query_start, query_finish,
                                 NULL, NULL, &error);
  g_assert_null (ret);
  g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_NOT_IN_WORKER);
  assert_message_mentions (error, "nobody-runs-me");
  g_clear_error (&error);

  ret = syncify_context_syncify (unnamed, SYNCIFY_FLAGS_NONE, query_start, query_finish,
                                 NULL, NULL, &error);
  g_assert_null (ret);
  g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_NOT_IN_WORKER);
  assert_message_mentions (error, NULL);
  g_clear_error (&error);

  /* The thread's own default context, which it is not iterating. */
  ret = syncify_context_syncify (syncify_context_get_default (), SYNCIFY_FLAGS_NONE,
                                 query_start, query_finish, NULL, NULL, &error);
  g_assert_null (ret);
  g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_NOT_IN_WORKER);
  assert_message_mentions (error, NULL);
  g_clear_error (&error);

  g_assert_cmpint (g_atomic_int_get (&starts_run), ==, 0);

  /* The failure left nothing behind: the context is still free to be
   * acquired by anyone. */
  g_assert_true (g_main_context_acquire (mc));
  g_main_context_release (mc);
}

static void
test_not_in_worker_named_default (void)
{
  g_autoptr(SyncifyContext) named = g_object_new (SYNCIFY_TYPE_CONTEXT,
                                                  "name", "named-on-default",
                                                  NULL);
  g_autoptr(GError) error = NULL;
  gpointer ret;

  test_watchdog_arm (g_test_get_path ());
  g_atomic_int_set (&starts_run, 0);

  /* A named context wrapping the global default context: the message
   * names it, like any named context. */
  g_assert_true (syncify_context_get_main_context (named) == g_main_context_default ());
  ret = syncify_context_syncify (named, SYNCIFY_FLAGS_NONE, query_start, query_finish,
                                 NULL, NULL, &error);
  g_assert_null (ret);
  g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_NOT_IN_WORKER);
  g_assert_cmpint (g_atomic_int_get (&starts_run), ==, 0);
  assert_message_mentions (error, "named-on-default");
}

typedef struct {
  gint     destroyed;        /* (atomic) */
  GThread *destroy_thread;   /* (atomic) */
  gint     done;             /* (atomic) */
  gpointer result;
  GError  *error;
} ClosedCall;

static void
closed_call_destroy (gpointer data)
{
  ClosedCall *c = data;

  g_atomic_pointer_set (&c->destroy_thread, g_thread_self ());
  g_atomic_int_inc (&c->destroyed);
}

static void
closed_asyncify_cb (GObject      *source_object,
                    GAsyncResult *result,
                    gpointer      data)
{
  ClosedCall *c = data;

  g_assert_true (g_thread_self () == main_thread);
  c->result = syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result,
                                               &c->error);
  g_atomic_int_set (&c->done, 1);
}

static void
closed_call_cb (GObject      *source_object,
                GAsyncResult *result,
                gpointer      data)
{
  ClosedCall *c = data;

  g_assert_true (g_thread_self () == main_thread);
  c->result = syncify_context_call_finish (SYNCIFY_CONTEXT (source_object), result,
                                           &c->error);
  g_atomic_int_set (&c->done, 1);
}

static void
check_closed (SyncifyContext *context)
{
  const char *name = syncify_context_get_name (context);
  g_autoptr(GError) error = NULL;
  gpointer ret;

  g_atomic_int_set (&starts_run, 0);
  g_atomic_int_set (&funcs_run, 0);

  syncify_context_shutdown (context);
  g_assert_true (syncify_context_is_closed (context));

  /* syncify, with and without the private-context fallback. */
  ret = syncify_context_syncify (context, SYNCIFY_FLAGS_NONE, query_start, query_finish,
                                 NULL, NULL, &error);
  g_assert_null (ret);
  g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED);
  assert_message_mentions (error, name);
  g_clear_error (&error);

  ret = syncify_context_syncify (context, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT, query_start,
                                 query_finish, NULL, NULL, &error);
  g_assert_null (ret);
  g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED);
  assert_message_mentions (error, name);
  g_clear_error (&error);

  /* invoke_sync */
  ret = syncify_context_invoke_sync (context, counting_func, NULL, NULL, &error);
  g_assert_null (ret);
  g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED);
  assert_message_mentions (error, name);
  g_clear_error (&error);

  /* asyncify: the error comes through the callback, in the caller's
   * context, never from inside the call. */
  {
    ClosedCall c = { 0, };

    syncify_context_asyncify (context, SYNCIFY_FLAGS_NONE, counting_func, &c,
                              closed_call_destroy, g_free, NULL, closed_asyncify_cb, &c);
    g_assert_cmpint (g_atomic_int_get (&c.done), ==, 0);
    test_iterate_until (NULL, &c.done);
    g_assert_null (c.result);
    g_assert_error (c.error, SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED);
    assert_message_mentions (c.error, name);
    g_clear_error (&c.error);
    while (g_main_context_iteration (NULL, FALSE));
    g_assert_cmpint (g_atomic_int_get (&c.destroyed), ==, 1);
    g_assert_true (g_atomic_pointer_get (&c.destroy_thread) == main_thread);
  }

  /* call_async: likewise. */
  {
    ClosedCall c = { 0, };

    syncify_context_call_async (context, query_start, query_finish, &c, closed_call_destroy,
                                g_object_unref, NULL, closed_call_cb, &c);
    g_assert_cmpint (g_atomic_int_get (&c.done), ==, 0);
    test_iterate_until (NULL, &c.done);
    g_assert_null (c.result);
    g_assert_error (c.error, SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED);
    assert_message_mentions (c.error, name);
    g_clear_error (&c.error);
    while (g_main_context_iteration (NULL, FALSE));
    g_assert_cmpint (g_atomic_int_get (&c.destroyed), ==, 1);
    g_assert_true (g_atomic_pointer_get (&c.destroy_thread) == main_thread);
  }

  /* Nothing ran. */
  g_assert_cmpint (g_atomic_int_get (&starts_run), ==, 0);
  g_assert_cmpint (g_atomic_int_get (&funcs_run), ==, 0);
}

static void
test_closed_plain (void)
{
  g_autoptr(GMainContext) mc = g_main_context_new ();
  g_autoptr(SyncifyContext) context = g_object_new (SYNCIFY_TYPE_CONTEXT,
                                                    "main-context", mc,
                                                    "name", "closed-plain",
                                                    NULL);

  test_watchdog_arm (g_test_get_path ());
  check_closed (context);
}

static void
test_closed_default (void)
{
  /* A plain context on the main thread's default context (call_async is
   * then started on this thread, which owns it). */
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);

  test_watchdog_arm (g_test_get_path ());
  check_closed (context);
}

static void
test_closed_background (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new_thread ("closed-background");

  test_watchdog_arm (g_test_get_path ());
  check_closed (context);
}

int
main (int    argc,
      char **argv)
{
  test_init (&argc, &argv);
  main_thread = g_thread_self ();

  for (guint i = 0; i < G_N_ELEMENTS (critical_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/syncify/errors/critical/%s",
                                               critical_cases[i].name);
      g_test_add_data_func (path, &critical_cases[i], test_critical);
    }

  g_test_add_func ("/syncify/errors/not-in-worker/null-context", test_not_in_worker_null_context);
  g_test_add_func ("/syncify/errors/not-in-worker/unrun-context", test_not_in_worker_unrun_context);
  g_test_add_func ("/syncify/errors/closed/plain", test_closed_plain);
  g_test_add_func ("/syncify/errors/closed/default", test_closed_default);
  g_test_add_func ("/syncify/errors/closed/background", test_closed_background);
  g_test_add_func ("/syncify/errors/message/named-default-context", test_not_in_worker_named_default);

  return g_test_run ();
}
