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
load_start (SyncifyOperation *op,
            GCancellable     *cancellable,
            gpointer          data)
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
  guint n_calls = g_getenv ("SYNCIFY_UNDER_VALGRIND") ? 20 : 200;

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

  ret = g_test_run ();

  g_unlink (test_file_path);
  g_free (test_file_path);
  return ret;
}
