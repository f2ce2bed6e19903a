/* test-asyncify.c: syncify_context_asyncify(): threads, contexts, results,
 * ownership, cancellation, max_workers, shutdown
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Everything shared between threads in this file is read and written with
 * g_atomic_*: GMutex and GCond only put threads to sleep. (ThreadSanitizer
 * cannot see the system GLib's locks, but sees atomics.)
 */

#include <syncify-glib/syncify-glib.h>

#include <glib-unix.h>
#include <glib/gstdio.h>
#include <gio/gunixinputstream.h>
#include <string.h>
#include <unistd.h>

#include "test-util.h"

static GThread *main_thread;

/* Fewer iterations under valgrind and when SYNCIFY_TEST_QUICK is set (the
 * TSan run). */
#define FEWER_WHEN (TEST_FEWER_UNDER_VALGRIND | TEST_FEWER_WHEN_QUICK)

/* ------------------------------------------------------------------------ *
 * Per-job bookkeeping
 * ------------------------------------------------------------------------ */

/* Counts the frees of results handed to result_destroy. */
static gint     results_destroyed;        /* (atomic) */
static GThread *results_destroyed_thread; /* (atomic) */

static void
counted_result_free (gpointer result)
{
  g_atomic_pointer_set (&results_destroyed_thread, g_thread_self ());
  g_atomic_int_inc (&results_destroyed);
  g_free (result);
}

static void
reset_result_counter (void)
{
  g_atomic_int_set (&results_destroyed, 0);
  g_atomic_pointer_set (&results_destroyed_thread, NULL);
}

/* The user data of one job. Freed by the test, never by the destroy notify,
 * so the notify can be counted. */
typedef struct {
  guint            index;
  SyncifyContext  *context;          /* not owned */
  gint             func_ran;         /* (atomic) */
  gint             func_returned;    /* (atomic) */
  GThread         *func_thread;      /* (atomic) */
  gint             func_saw_cancel;  /* (atomic) */
  gint             read_result;      /* (atomic) */
  gint             destroyed;        /* (atomic) */
  GThread         *destroy_thread;   /* (atomic) */
  gint             destroyed_after_func; /* (atomic) */

  /* The callback side: written by the callback, read by the thread that
   * iterates the context it runs in (the caller's). */
  gint             done;             /* (atomic) */
  GThread         *callback_thread;  /* (atomic) */
  GMainContext    *expected_context; /* where the callback must run */
  gboolean         finish;           /* whether the callback calls finish */
  gpointer         result;
  GError          *error;
  GAsyncResult    *task;             /* (nullable): weak pointer */

  /* For funcs that block. */
  TestEvent        started;
  TestEvent        release;
  GInputStream    *stream;           /* (owned) (nullable) */
  GFile           *file;             /* (owned) (nullable) */
} Job;

static Job *
job_new (SyncifyContext *context,
         guint           index)
{
  Job *job = g_new0 (Job, 1);

  job->index = index;
  job->context = context;
  job->finish = TRUE;
  job->expected_context = g_main_context_ref_thread_default ();
  test_event_init (&job->started);
  test_event_init (&job->release);

  return job;
}

static void
job_free (Job *job)
{
  if (job->task != NULL)
    g_object_remove_weak_pointer (G_OBJECT (job->task), (gpointer *) &job->task);
  g_clear_error (&job->error);
  g_clear_object (&job->stream);
  g_clear_object (&job->file);
  g_main_context_unref (job->expected_context);
  test_event_clear (&job->started);
  test_event_clear (&job->release);
  g_free (job);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Job, job_free)

static void
job_user_data_destroy (gpointer data)
{
  Job *job = data;

  g_atomic_int_set (&job->destroyed_after_func,
                    !g_atomic_int_get (&job->func_ran) ||
                    g_atomic_int_get (&job->func_returned));
  g_atomic_pointer_set (&job->destroy_thread, g_thread_self ());
  g_atomic_int_inc (&job->destroyed);
}

/* Records where it ran and what finish says. */
static void
job_callback (GObject      *source_object,
              GAsyncResult *result,
              gpointer      data)
{
  Job *job = data;

  g_assert_cmpint (g_atomic_int_get (&job->done), ==, 0);
  g_assert_true (SYNCIFY_IS_CONTEXT (source_object));
  g_assert_true (SYNCIFY_CONTEXT (source_object) == job->context);
  g_assert_true (G_IS_TASK (result));

  /* In the caller's thread-default main context, on its thread. */
  g_assert_true (g_main_context_is_owner (job->expected_context));
  {
    g_autoptr(GMainContext) td = g_main_context_ref_thread_default ();
    g_assert_true (td == job->expected_context);
  }
  /* The callback is no worker. */
  g_assert_null (syncify_context_get_current ());

  g_atomic_pointer_set (&job->callback_thread, g_thread_self ());

  job->task = result;
  g_object_add_weak_pointer (G_OBJECT (result), (gpointer *) &job->task);

  if (job->finish)
    job->result = syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object),
                                                   result, &job->error);

  g_atomic_int_set (&job->done, 1);
}

static void
job_start (Job               *job,
           SyncifyFlags       flags,
           SyncifyThreadFunc  func,
           GDestroyNotify     result_destroy,
           GCancellable      *cancellable)
{
  syncify_context_asyncify (job->context, flags, func, job,
                            job_user_data_destroy, result_destroy,
                            cancellable, job_callback, job);
  /* Never synchronously, as for every GIO call. */
  g_assert_cmpint (g_atomic_int_get (&job->done), ==, 0);
}

static void
job_wait (Job *job)
{
  test_iterate_until (job->expected_context, &job->done);
}

/* Iterates until the GTask of a completed job is finalized. */
static void
job_wait_task_gone (Job *job)
{
  test_watchdog_arm ("the task to be finalized");
  while (job->task != NULL)
    g_main_context_iteration (job->expected_context, TRUE);
}

static void
assert_destroyed_once_on (Job     *job,
                          GThread *thread)
{
  g_assert_cmpint (g_atomic_int_get (&job->destroyed), ==, 1);
  g_assert_true (g_atomic_pointer_get (&job->destroy_thread) == thread);
  g_assert_true (g_atomic_int_get (&job->destroyed_after_func));
}

static void
func_enter (Job *job)
{
  g_assert_true (g_thread_self () != main_thread);
  g_assert_cmpint (g_atomic_int_get (&job->destroyed), ==, 0);
  g_atomic_pointer_set (&job->func_thread, g_thread_self ());
  g_atomic_int_inc (&job->func_ran);
}

static void
func_leave (Job *job)
{
  g_atomic_int_set (&job->func_returned, 1);
}

/* ------------------------------------------------------------------------ *
 * Thread funcs
 * ------------------------------------------------------------------------ */

static gpointer
hello_func (gpointer      user_data,
            GCancellable *cancellable,
            GError      **error)
{
  Job *job = user_data;

  func_enter (job);
  g_assert_true (syncify_context_get_current () == job->context);
  /* The worker runs no loop of the caller's. */
  g_assert_false (g_main_context_is_owner (job->expected_context));
  func_leave (job);

  return g_strdup_printf ("hello %u", job->index);
}

static gpointer
null_func (gpointer      user_data,
           GCancellable *cancellable,
           GError      **error)
{
  Job *job = user_data;

  func_enter (job);
  func_leave (job);
  return NULL;
}

static gpointer
load_file_func (gpointer      user_data,
                GCancellable *cancellable,
                GError      **error)
{
  Job *job = user_data;
  char *contents = NULL;
  gsize length = 0;

  func_enter (job);
  if (!g_file_load_contents (job->file, cancellable, &contents, &length, NULL, error))
    {
      func_leave (job);
      return NULL;
    }
  g_assert_cmpuint (strlen (contents), ==, length);
  func_leave (job);

  return contents;
}

static GQuark
test_error_quark (void)
{
  return g_quark_from_static_string ("test-asyncify-error-quark");
}

static gpointer
custom_error_func (gpointer      user_data,
                   GCancellable *cancellable,
                   GError      **error)
{
  Job *job = user_data;

  func_enter (job);
  g_set_error (error, test_error_quark (), 17, "custom failure %u", job->index);
  func_leave (job);
  return NULL;
}

/* Blocks in a real GIO read on a pipe until the cancellable it was handed
 * fires (or the test writes to the pipe). */
static gpointer
blocking_read_func (gpointer      user_data,
                    GCancellable *cancellable,
                    GError      **error)
{
  Job *job = user_data;
  char buf[1];
  gssize n;

  func_enter (job);
  g_assert_nonnull (cancellable);
  test_event_set (&job->started);

  n = g_input_stream_read (job->stream, buf, sizeof buf, cancellable, error);
  g_atomic_int_set (&job->read_result, (gint) n);
  if (g_cancellable_is_cancelled (cancellable))
    g_atomic_int_set (&job->func_saw_cancel, 1);
  func_leave (job);

  return NULL;
}

/* Blocks until the test releases it, ignoring cancellation. */
static gpointer
gated_func (gpointer      user_data,
            GCancellable *cancellable,
            GError      **error)
{
  Job *job = user_data;

  func_enter (job);
  test_event_set (&job->started);
  test_event_wait (&job->release, "the test to release the job");
  if (cancellable != NULL && g_cancellable_is_cancelled (cancellable))
    g_atomic_int_set (&job->func_saw_cancel, 1);
  func_leave (job);

  return g_strdup_printf ("late %u", job->index);
}

static GInputStream *
pipe_stream_new (int *write_fd)
{
  g_autoptr(GError) error = NULL;
  int fds[2];

  g_unix_open_pipe (fds, FD_CLOEXEC, &error);
  g_assert_no_error (error);
  *write_fd = fds[1];

  return g_unix_input_stream_new (fds[0], TRUE);
}

/* ------------------------------------------------------------------------ *
 * Threads and contexts
 * ------------------------------------------------------------------------ */

static void
test_thread_main (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  g_autoptr(Job) job = NULL;

  test_watchdog_arm (g_test_get_path ());
  reset_result_counter ();

  job = job_new (context, 1);
  job_start (job, SYNCIFY_FLAGS_NONE, hello_func, counted_result_free, NULL);
  job_wait (job);

  g_assert_no_error (job->error);
  g_assert_cmpstr (job->result, ==, "hello 1");
  g_assert_cmpint (g_atomic_int_get (&job->func_ran), ==, 1);
  g_assert_true (g_atomic_pointer_get (&job->func_thread) != main_thread);
  g_assert_true (g_atomic_pointer_get (&job->callback_thread) == main_thread);
  assert_destroyed_once_on (job, main_thread);

  /* Claimed by finish: never handed to result_destroy. */
  job_wait_task_gone (job);
  g_assert_cmpint (g_atomic_int_get (&results_destroyed), ==, 0);
  g_clear_pointer (&job->result, g_free);

  /* The same through the default context and a background one: the
   * callback still comes to the caller's context. */
  {
    g_autoptr(SyncifyContext) bg = syncify_context_new_thread ("asyncify-bg");
    SyncifyContext *contexts[] = { syncify_context_get_default (), bg };

    for (guint i = 0; i < G_N_ELEMENTS (contexts); i++)
      {
        g_autoptr(Job) j = job_new (contexts[i], 10 + i);

        job_start (j, SYNCIFY_FLAGS_NONE, hello_func, g_free, NULL);
        job_wait (j);
        g_assert_no_error (j->error);
        g_assert_true (g_atomic_pointer_get (&j->callback_thread) == main_thread);
        g_assert_true (g_atomic_pointer_get (&j->func_thread) != main_thread);
        assert_destroyed_once_on (j, main_thread);
        g_clear_pointer (&j->result, g_free);
        job_wait_task_gone (j);
      }
  }
}

typedef struct {
  SyncifyContext *context;
  guint           n_jobs;
  gint            ok;      /* (atomic) */
} ThreadRun;

/* On a secondary thread: push a context of our own, asyncify, and iterate
 * only that context. */
static gpointer
secondary_thread_func (gpointer data)
{
  ThreadRun *run = data;
  g_autoptr(GMainContext) mc = g_main_context_new ();
  g_autoptr(GPtrArray) jobs = g_ptr_array_new_with_free_func ((GDestroyNotify) job_free);
  GThread *self = g_thread_self ();

  g_main_context_push_thread_default (mc);

  for (guint i = 0; i < run->n_jobs; i++)
    {
      Job *job = job_new (run->context, i);

      g_assert_true (job->expected_context == mc);
      g_ptr_array_add (jobs, job);
      job_start (job, SYNCIFY_FLAGS_NONE, hello_func, g_free, NULL);
    }

  for (guint i = 0; i < jobs->len; i++)
    {
      Job *job = jobs->pdata[i];
      g_autofree char *expected = g_strdup_printf ("hello %u", i);

      job_wait (job);
      g_assert_no_error (job->error);
      g_assert_cmpstr (job->result, ==, expected);
      g_clear_pointer (&job->result, g_free);
      g_assert_true (g_atomic_pointer_get (&job->callback_thread) == self);
      g_assert_true (g_atomic_pointer_get (&job->func_thread) != self);
      g_assert_true (g_atomic_pointer_get (&job->func_thread) != main_thread);
      assert_destroyed_once_on (job, self);
      job_wait_task_gone (job);
    }

  g_main_context_pop_thread_default (mc);
  g_atomic_int_set (&run->ok, 1);

  return NULL;
}

static void
test_thread_default_secondary (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  g_autoptr(SyncifyContext) bg = syncify_context_new_thread ("asyncify-secondary-bg");
  ThreadRun run = { context, 5, 0 };
  ThreadRun run_bg = { bg, 5, 0 };

  test_watchdog_arm (g_test_get_path ());

  /* The main thread only joins: the global default context is never
   * iterated, so every callback must come through the thread's own. */
  g_thread_join (g_thread_new ("asyncify-secondary", secondary_thread_func, &run));
  g_assert_cmpint (g_atomic_int_get (&run.ok), ==, 1);
  g_thread_join (g_thread_new ("asyncify-secondary-2", secondary_thread_func, &run_bg));
  g_assert_cmpint (g_atomic_int_get (&run_bg.ok), ==, 1);
}

static void
test_many_threads (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  guint n_threads = 4;
  guint n_jobs = test_scaled (FEWER_WHEN, 50, 10);
  ThreadRun runs[4];
  GThread *threads[4];

  test_watchdog_arm (g_test_get_path ());

  for (guint i = 0; i < n_threads; i++)
    {
      g_autofree char *name = g_strdup_printf ("asyncify-caller-%u", i);

      runs[i] = (ThreadRun) { context, n_jobs, 0 };
      threads[i] = g_thread_new (name, secondary_thread_func, &runs[i]);
    }
  for (guint i = 0; i < n_threads; i++)
    {
      g_thread_join (threads[i]);
      g_assert_cmpint (g_atomic_int_get (&runs[i].ok), ==, 1);
    }
}

/* ------------------------------------------------------------------------ *
 * Results
 * ------------------------------------------------------------------------ */

static char *
write_temp_file (const char  *contents,
                 char       **dir_out)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("syncify-asyncify-XXXXXX", &error);
  char *path;

  g_assert_no_error (error);
  path = g_build_filename (dir, "data.txt", NULL);
  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
  *dir_out = dir;

  return path;
}

static void
test_result_string (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  g_autoptr(Job) job = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;
  const char *text = "The quick brown fox jumps over the lazy dog\n";

  test_watchdog_arm (g_test_get_path ());
  reset_result_counter ();

  path = write_temp_file (text, &dir);

  job = job_new (context, 0);
  job->file = g_file_new_for_path (path);
  job_start (job, SYNCIFY_FLAGS_NONE, load_file_func, counted_result_free, NULL);
  job_wait (job);

  g_assert_no_error (job->error);
  g_assert_cmpstr (job->result, ==, text);
  g_assert_true (g_atomic_pointer_get (&job->func_thread) != main_thread);
  assert_destroyed_once_on (job, main_thread);
  job_wait_task_gone (job);
  g_assert_cmpint (g_atomic_int_get (&results_destroyed), ==, 0);
  g_clear_pointer (&job->result, g_free);

  g_assert_cmpint (g_unlink (path), ==, 0);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

static void
test_result_null (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  g_autoptr(Job) job = NULL;

  test_watchdog_arm (g_test_get_path ());
  reset_result_counter ();

  job = job_new (context, 0);
  job_start (job, SYNCIFY_FLAGS_NONE, null_func, counted_result_free, NULL);
  job_wait (job);

  /* NULL with no error is a success. */
  g_assert_no_error (job->error);
  g_assert_null (job->result);
  g_assert_cmpint (g_atomic_int_get (&job->func_ran), ==, 1);
  assert_destroyed_once_on (job, main_thread);
  job_wait_task_gone (job);
  g_assert_cmpint (g_atomic_int_get (&results_destroyed), ==, 0);
}

static void
test_result_error (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  g_autoptr(Job) job = NULL;
  g_autoptr(Job) job2 = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;
  g_autoptr(GError) error = NULL;

  test_watchdog_arm (g_test_get_path ());
  reset_result_counter ();

  /* A real GIO error from the worker, domain and code intact. */
  dir = g_dir_make_tmp ("syncify-asyncify-XXXXXX", &error);
  g_assert_no_error (error);
  path = g_build_filename (dir, "does-not-exist.txt", NULL);

  job = job_new (context, 0);
  job->file = g_file_new_for_path (path);
  job_start (job, SYNCIFY_FLAGS_NONE, load_file_func, counted_result_free, NULL);
  job_wait (job);

  g_assert_error (job->error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (job->error->message, "does-not-exist.txt"));
  g_assert_null (job->result);
  assert_destroyed_once_on (job, main_thread);
  job_wait_task_gone (job);

  /* A domain of our own, code and message intact. */
  job2 = job_new (context, 3);
  job_start (job2, SYNCIFY_FLAGS_NONE, custom_error_func, counted_result_free, NULL);
  job_wait (job2);
  g_assert_error (job2->error, test_error_quark (), 17);
  g_assert_cmpstr (job2->error->message, ==, "custom failure 3");
  g_assert_null (job2->result);
  assert_destroyed_once_on (job2, main_thread);
  job_wait_task_gone (job2);

  g_assert_cmpint (g_atomic_int_get (&results_destroyed), ==, 0);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

/* ------------------------------------------------------------------------ *
 * Ownership
 * ------------------------------------------------------------------------ */

static void
test_destroy_user_data (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  g_autoptr(Job) job = job_new (context, 0);
  g_autoptr(Job) job_err = job_new (context, 1);

  test_watchdog_arm (g_test_get_path ());

  job_start (job, SYNCIFY_FLAGS_NONE, hello_func, g_free, NULL);
  job_start (job_err, SYNCIFY_FLAGS_NONE, custom_error_func, g_free, NULL);
  job_wait (job);
  job_wait (job_err);

  /* Once, after func returned, on the caller's thread; also on failure. */
  assert_destroyed_once_on (job, main_thread);
  assert_destroyed_once_on (job_err, main_thread);
  g_clear_pointer (&job->result, g_free);

  /* And never again, however long the context runs. */
  job_wait_task_gone (job);
  job_wait_task_gone (job_err);
  while (g_main_context_iteration (NULL, FALSE));
  g_assert_cmpint (g_atomic_int_get (&job->destroyed), ==, 1);
  g_assert_cmpint (g_atomic_int_get (&job_err->destroyed), ==, 1);

  /* NULL user_data_destroy and result_destroy are allowed. */
  {
    g_autoptr(Job) j = job_new (context, 2);

    syncify_context_asyncify (context, SYNCIFY_FLAGS_NONE, hello_func, j,
                              NULL, NULL, NULL, job_callback, j);
    job_wait (j);
    g_assert_cmpstr (j->result, ==, "hello 2");
    g_assert_cmpint (g_atomic_int_get (&j->destroyed), ==, 0);
    g_clear_pointer (&j->result, g_free);
    job_wait_task_gone (j);
  }
}

static void
test_destroy_result_unclaimed (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  g_autoptr(Job) job = job_new (context, 0);

  test_watchdog_arm (g_test_get_path ());
  reset_result_counter ();

  /* The callback does not call finish: the result is freed with
   * result_destroy, exactly once, when the task goes. */
  job->finish = FALSE;
  job_start (job, SYNCIFY_FLAGS_NONE, hello_func, counted_result_free, NULL);
  job_wait (job);
  job_wait_task_gone (job);
  while (g_main_context_iteration (NULL, FALSE));

  g_assert_cmpint (g_atomic_int_get (&results_destroyed), ==, 1);
  g_assert_true (g_atomic_pointer_get (&results_destroyed_thread) == main_thread);
  assert_destroyed_once_on (job, main_thread);
}

static void
test_destroy_result_claimed (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  g_autoptr(Job) job = job_new (context, 0);

  test_watchdog_arm (g_test_get_path ());
  reset_result_counter ();

  job_start (job, SYNCIFY_FLAGS_NONE, hello_func, counted_result_free, NULL);
  job_wait (job);
  g_assert_cmpstr (job->result, ==, "hello 0");
  job_wait_task_gone (job);
  while (g_main_context_iteration (NULL, FALSE));

  /* finish took it: result_destroy must not have seen it (the test frees
   * it; a double free would show under valgrind). */
  g_assert_cmpint (g_atomic_int_get (&results_destroyed), ==, 0);
  g_clear_pointer (&job->result, g_free);
}

/* The callback drops the last reference to the context: a normal thing to
 * do, which must leave nothing (no worker, no queued job) touching it. */
typedef struct {
  SyncifyContext *context;   /* (owned) until the callback */
  gint            done;      /* (atomic) */
} DropInCallback;

static gpointer
drop_func (gpointer      user_data,
           GCancellable *cancellable,
           GError      **error)
{
  return g_strdup ("dropped");
}

static void
drop_callback (GObject      *source_object,
               GAsyncResult *result,
               gpointer      data)
{
  DropInCallback *d = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *ret = NULL;

  ret = syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ret, ==, "dropped");
  g_clear_object (&d->context);
  g_atomic_int_set (&d->done, 1);
}

static void
test_destroy_context_in_callback (void)
{
  guint n = test_scaled (FEWER_WHEN, 200, 20);

  test_watchdog_arm (g_test_get_path ());

  for (guint i = 0; i < n; i++)
    {
      DropInCallback d = { syncify_context_new (NULL), 0 };
      SyncifyContext *weak = d.context;

      g_object_add_weak_pointer (G_OBJECT (weak), (gpointer *) &weak);
      if (i % 2)
        syncify_context_set_max_workers (d.context, 1);
      syncify_context_asyncify (d.context, SYNCIFY_FLAGS_NONE, drop_func, NULL, NULL, g_free,
                                NULL, drop_callback, &d);
      test_iterate_until (NULL, &d.done);
      /* Once the task is gone, so is the context. */
      test_watchdog_arm ("the context to be finalized");
      while (weak != NULL)
        g_main_context_iteration (NULL, TRUE);
    }
}

/* ------------------------------------------------------------------------ *
 * Cancellation
 * ------------------------------------------------------------------------ */

static void
test_cancel_cooperative (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(Job) job = job_new (context, 0);
  int write_fd;

  test_watchdog_arm (g_test_get_path ());
  reset_result_counter ();

  job->stream = pipe_stream_new (&write_fd);
  job_start (job, SYNCIFY_FLAGS_NONE, blocking_read_func, counted_result_free, cancellable);

  test_event_wait (&job->started, "the blocking read to start");
  g_cancellable_cancel (cancellable);
  job_wait (job);

  /* func saw its cancellable fire and the read failed on it. */
  g_assert_cmpint (g_atomic_int_get (&job->func_saw_cancel), ==, 1);
  g_assert_cmpint (g_atomic_int_get (&job->read_result), ==, -1);
  g_assert_error (job->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (job->result);
  assert_destroyed_once_on (job, main_thread);
  job_wait_task_gone (job);
  g_assert_cmpint (g_atomic_int_get (&results_destroyed), ==, 0);

  close (write_fd);
}

static void
test_cancel_before_start (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(Job) blocker = job_new (context, 0);
  g_autoptr(Job) victim = job_new (context, 1);
  g_autoptr(Job) after = job_new (context, 2);

  test_watchdog_arm (g_test_get_path ());
  reset_result_counter ();

  syncify_context_set_max_workers (context, 1);

  job_start (blocker, SYNCIFY_FLAGS_NONE, gated_func, counted_result_free, NULL);
  job_start (victim, SYNCIFY_FLAGS_NONE, hello_func, counted_result_free, cancellable);
  job_start (after, SYNCIFY_FLAGS_NONE, hello_func, counted_result_free, NULL);
  test_event_wait (&blocker->started, "the blocker to start");

  /* The victim waits behind the blocker: cancelling it completes it at
   * once, while the blocker still holds the only slot. */
  g_cancellable_cancel (cancellable);
  job_wait (victim);
  g_assert_error (victim->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (victim->result);
  g_assert_cmpint (g_atomic_int_get (&victim->func_ran), ==, 0);
  assert_destroyed_once_on (victim, main_thread);
  g_assert_cmpint (g_atomic_int_get (&blocker->done), ==, 0);
  g_assert_cmpint (g_atomic_int_get (&after->func_ran), ==, 0);

  /* The queue moves on without it. */
  test_event_set (&blocker->release);
  job_wait (blocker);
  job_wait (after);
  g_assert_no_error (blocker->error);
  g_assert_cmpstr (blocker->result, ==, "late 0");
  g_assert_no_error (after->error);
  g_assert_cmpstr (after->result, ==, "hello 2");
  g_clear_pointer (&blocker->result, g_free);
  g_clear_pointer (&after->result, g_free);
  assert_destroyed_once_on (blocker, main_thread);
  assert_destroyed_once_on (after, main_thread);

  job_wait_task_gone (victim);
  job_wait_task_gone (blocker);
  job_wait_task_gone (after);
  while (g_main_context_iteration (NULL, FALSE));
  g_assert_cmpint (g_atomic_int_get (&victim->func_ran), ==, 0);
  g_assert_cmpint (g_atomic_int_get (&victim->destroyed), ==, 1);
  g_assert_cmpint (g_atomic_int_get (&results_destroyed), ==, 0);
}

static void
test_cancel_already_cancelled (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  SyncifyFlags flags[] = { SYNCIFY_FLAGS_NONE, SYNCIFY_FLAGS_ABANDON_ON_CANCEL };

  test_watchdog_arm (g_test_get_path ());

  g_cancellable_cancel (cancellable);

  for (guint i = 0; i < G_N_ELEMENTS (flags); i++)
    {
      g_autoptr(Job) job = job_new (context, i);

      job_start (job, flags[i], hello_func, g_free, cancellable);
      job_wait (job);
      g_assert_error (job->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      g_assert_null (job->result);
      job_wait_task_gone (job);
      while (g_main_context_iteration (NULL, FALSE));
      g_assert_cmpint (g_atomic_int_get (&job->func_ran), ==, 0);
      assert_destroyed_once_on (job, main_thread);
    }
}

static void
test_cancel_abandon (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(Job) job = job_new (context, 7);

  test_watchdog_arm (g_test_get_path ());
  reset_result_counter ();

  job_start (job, SYNCIFY_FLAGS_ABANDON_ON_CANCEL, gated_func, counted_result_free, cancellable);
  test_event_wait (&job->started, "the job to start");

  /* The callback comes while func is still blocked. */
  g_cancellable_cancel (cancellable);
  job_wait (job);
  g_assert_error (job->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (job->result);
  g_assert_true (g_atomic_pointer_get (&job->callback_thread) == main_thread);
  g_assert_cmpint (g_atomic_int_get (&job->func_returned), ==, 0);
  /* func still uses user_data, and has not returned its result yet. */
  g_assert_cmpint (g_atomic_int_get (&job->destroyed), ==, 0);
  g_assert_cmpint (g_atomic_int_get (&results_destroyed), ==, 0);

  /* Now let func finish: its late result goes to result_destroy, and
   * user_data to its destroy notify, both once, on the caller's thread. */
  test_event_set (&job->release);
  test_watchdog_arm ("the late result to be freed");
  while (g_atomic_int_get (&results_destroyed) < 1 || g_atomic_int_get (&job->destroyed) < 1)
    g_main_context_iteration (NULL, TRUE);
  job_wait_task_gone (job);
  while (g_main_context_iteration (NULL, FALSE));

  g_assert_cmpint (g_atomic_int_get (&job->func_returned), ==, 1);
  g_assert_cmpint (g_atomic_int_get (&job->func_saw_cancel), ==, 1);
  g_assert_cmpint (g_atomic_int_get (&results_destroyed), ==, 1);
  g_assert_true (g_atomic_pointer_get (&results_destroyed_thread) == main_thread);
  assert_destroyed_once_on (job, main_thread);
}

static void
test_cancel_abandon_not_cancelled (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(Job) job = job_new (context, 3);
  g_autoptr(Job) late = job_new (context, 4);

  test_watchdog_arm (g_test_get_path ());
  reset_result_counter ();

  /* Without a cancellation the flag changes nothing. */
  job_start (job, SYNCIFY_FLAGS_ABANDON_ON_CANCEL, hello_func, counted_result_free, cancellable);
  job_wait (job);
  g_assert_no_error (job->error);
  g_assert_cmpstr (job->result, ==, "hello 3");
  g_clear_pointer (&job->result, g_free);
  assert_destroyed_once_on (job, main_thread);

  /* Cancelled after it completed: too late to matter. */
  job_start (late, SYNCIFY_FLAGS_ABANDON_ON_CANCEL, hello_func, counted_result_free, cancellable);
  job_wait (late);
  g_cancellable_cancel (cancellable);
  g_assert_no_error (late->error);
  g_assert_cmpstr (late->result, ==, "hello 4");
  g_clear_pointer (&late->result, g_free);
  job_wait_task_gone (job);
  job_wait_task_gone (late);
  while (g_main_context_iteration (NULL, FALSE));
  assert_destroyed_once_on (late, main_thread);
  g_assert_cmpint (g_atomic_int_get (&results_destroyed), ==, 0);
}

static void
test_cancel_abandon_queued (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(Job) blocker = job_new (context, 0);
  g_autoptr(Job) victim = job_new (context, 1);

  test_watchdog_arm (g_test_get_path ());
  reset_result_counter ();

  syncify_context_set_max_workers (context, 1);
  job_start (blocker, SYNCIFY_FLAGS_NONE, gated_func, counted_result_free, NULL);
  job_start (victim, SYNCIFY_FLAGS_ABANDON_ON_CANCEL, hello_func, counted_result_free,
             cancellable);
  test_event_wait (&blocker->started, "the blocker to start");

  g_cancellable_cancel (cancellable);
  job_wait (victim);
  g_assert_error (victim->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  assert_destroyed_once_on (victim, main_thread);

  test_event_set (&blocker->release);
  job_wait (blocker);
  g_clear_pointer (&blocker->result, g_free);
  job_wait_task_gone (victim);
  job_wait_task_gone (blocker);
  while (g_main_context_iteration (NULL, FALSE));
  g_assert_cmpint (g_atomic_int_get (&victim->func_ran), ==, 0);
  g_assert_cmpint (g_atomic_int_get (&victim->destroyed), ==, 1);
  g_assert_cmpint (g_atomic_int_get (&results_destroyed), ==, 0);
}

/* ------------------------------------------------------------------------ *
 * max_workers
 * ------------------------------------------------------------------------ */

/* Jobs that enter, are counted, and wait until released. */
typedef struct {
  GMutex  lock;
  GCond   cond;
  gint    running;    /* (atomic) */
  gint    max_seen;   /* (atomic) */
  gint    started;    /* (atomic) */
  gint    released;   /* (atomic) */
  gint    order[64];  /* (atomic): job indices in the order they started */
  gint    done;       /* (atomic): callbacks */
  SyncifyContext *context;
} Gate;

typedef struct {
  Gate  *gate;
  guint  index;
} GateJob;

static void
gate_init (Gate           *gate,
           SyncifyContext *context)
{
  memset (gate, 0, sizeof *gate);
  g_mutex_init (&gate->lock);
  g_cond_init (&gate->cond);
  gate->context = context;
}

static void
gate_clear (Gate *gate)
{
  g_mutex_clear (&gate->lock);
  g_cond_clear (&gate->cond);
}

static gpointer
gate_func (gpointer      user_data,
           GCancellable *cancellable,
           GError      **error)
{
  GateJob *gj = user_data;
  Gate *gate = gj->gate;
  gint64 deadline = g_get_monotonic_time () + test_watchdog_bound_us ();
  gint slot;
  gint running, seen;

  g_assert_true (g_thread_self () != main_thread);
  g_assert_true (syncify_context_get_current () == gate->context);

  g_mutex_lock (&gate->lock);
  slot = g_atomic_int_add (&gate->started, 1);
  g_assert_cmpint (slot, <, (gint) G_N_ELEMENTS (gate->order));
  g_atomic_int_set (&gate->order[slot], gj->index);
  running = g_atomic_int_add (&gate->running, 1) + 1;
  do
    seen = g_atomic_int_get (&gate->max_seen);
  while (running > seen && !g_atomic_int_compare_and_exchange (&gate->max_seen, seen, running));
  g_cond_broadcast (&gate->cond);

  while (!g_atomic_int_get (&gate->released))
    if (!g_cond_wait_until (&gate->cond, &gate->lock, deadline) &&
        !g_atomic_int_get (&gate->released))
      g_error ("%s: job %u was never released", g_test_get_path (), gj->index);

  g_atomic_int_add (&gate->running, -1);
  g_cond_broadcast (&gate->cond);
  g_mutex_unlock (&gate->lock);

  return NULL;
}

static void
gate_job_done (GObject      *source_object,
               GAsyncResult *result,
               gpointer      data)
{
  GateJob *gj = data;
  g_autoptr(GError) error = NULL;

  g_assert_true (g_thread_self () == main_thread);
  g_assert_null (syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result, &error));
  g_assert_no_error (error);
  g_atomic_int_inc (&gj->gate->done);
}

static void
gate_submit (Gate    *gate,
             GateJob *jobs,
             guint    n)
{
  for (guint i = 0; i < n; i++)
    {
      jobs[i].gate = gate;
      jobs[i].index = i;
      syncify_context_asyncify (gate->context, SYNCIFY_FLAGS_NONE, gate_func, &jobs[i],
                                NULL, NULL, NULL, gate_job_done, &jobs[i]);
    }
}

/* Waits until at least @n jobs run at once. These tests run in a
 * subprocess (see in_subprocess()), and this bound is well inside the
 * parent's, so a pool that never starts them fails the test with this
 * message instead of hanging the program. */
static void
gate_wait_running (Gate *gate,
                   gint  n)
{
  gint64 deadline = g_get_monotonic_time () + test_watchdog_bound_us () / 6;

  g_mutex_lock (&gate->lock);
  while (g_atomic_int_get (&gate->running) < n)
    if (!g_cond_wait_until (&gate->cond, &gate->lock, deadline) &&
        g_atomic_int_get (&gate->running) < n)
      g_error ("%s: only %d of %d jobs ever ran at once", g_test_get_path (),
               g_atomic_int_get (&gate->running), n);
  g_mutex_unlock (&gate->lock);
}

/* Gives more jobs than @n a short chance to start. A negative check can
 * only be sampled: this can never fail spuriously, it only catches a
 * broken bound less surely on a slow machine. */
static gint
gate_watch_for_more_than (Gate *gate,
                          gint  n)
{
  gint64 end = g_get_monotonic_time () + 50 * G_TIME_SPAN_MILLISECOND;
  gint running;

  g_mutex_lock (&gate->lock);
  while (g_atomic_int_get (&gate->running) <= n)
    if (!g_cond_wait_until (&gate->cond, &gate->lock, end))
      break;
  running = g_atomic_int_get (&gate->running);
  g_mutex_unlock (&gate->lock);

  return running;
}

static void
gate_release (Gate *gate)
{
  g_mutex_lock (&gate->lock);
  g_atomic_int_set (&gate->released, 1);
  g_cond_broadcast (&gate->cond);
  g_mutex_unlock (&gate->lock);
}

/* Runs the calling test in a subprocess of its own, with a fresh worker
 * pool, and a time limit: returns TRUE in the subprocess, which runs the
 * body; FALSE in the parent, which has checked that the subprocess passed.
 * The tests that need several workers blocked at once run this way, so a
 * pool that fails to start them fails that test only. */
static gboolean
in_subprocess (void)
{
  if (g_test_subprocess ())
    return TRUE;

  test_watchdog_arm (g_test_get_path ());
  g_test_trap_subprocess (NULL, test_watchdog_bound_us () / 2,
                          G_TEST_SUBPROCESS_INHERIT_STDOUT |
                          G_TEST_SUBPROCESS_INHERIT_STDERR);
  /* Not g_test_trap_assert_passed(), which would end the whole program. */
  if (!g_test_trap_has_passed ())
    g_test_fail_printf ("%s failed or timed out in its subprocess (its output is above)",
                        g_test_get_path ());
  return FALSE;
}

static void
test_max_workers_bound (gconstpointer data)
{
  guint n = GPOINTER_TO_UINT (data);
  guint total = 3 * n + 2;
  g_autoptr(SyncifyContext) context = NULL;
  GateJob jobs[16];
  Gate gate;

  if (!in_subprocess ())
    return;

  test_watchdog_arm (g_test_get_path ());
  context = syncify_context_new (NULL);
  g_assert_cmpuint (total, <=, G_N_ELEMENTS (jobs));

  syncify_context_set_max_workers (context, n);
  gate_init (&gate, context);
  gate_submit (&gate, jobs, total);

  /* n run at once (so the bound is no lower than n) ... */
  gate_wait_running (&gate, n);
  /* ... and no more, though the others are queued and the pool has room. */
  g_assert_cmpint (gate_watch_for_more_than (&gate, n), ==, n);
  g_assert_cmpint (g_atomic_int_get (&gate.started), ==, n);

  gate_release (&gate);
  test_iterate_until_count (NULL, &gate.done, total);

  g_assert_cmpint (g_atomic_int_get (&gate.started), ==, total);
  g_assert_cmpint (g_atomic_int_get (&gate.max_seen), ==, n);
  g_assert_cmpint (g_atomic_int_get (&gate.running), ==, 0);
  gate_clear (&gate);
}

typedef struct {
  gint *order;
  gint *n;
  guint index;
  gint *done;
} FifoJob;

static gpointer
fifo_func (gpointer      user_data,
           GCancellable *cancellable,
           GError      **error)
{
  FifoJob *fj = user_data;
  gint slot = g_atomic_int_add (fj->n, 1);

  g_atomic_int_set (&fj->order[slot], fj->index);
  return NULL;
}

static void
fifo_done (GObject      *source_object,
           GAsyncResult *result,
           gpointer      data)
{
  FifoJob *fj = data;
  g_autoptr(GError) error = NULL;

  syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result, &error);
  g_assert_no_error (error);
  g_atomic_int_inc (fj->done);
}

static void
test_max_workers_fifo (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  FifoJob jobs[20];
  gint order[20];
  gint n = 0;
  gint done = 0;

  test_watchdog_arm (g_test_get_path ());

  syncify_context_set_max_workers (context, 1);
  for (guint i = 0; i < G_N_ELEMENTS (jobs); i++)
    {
      jobs[i] = (FifoJob) { order, &n, i, &done };
      syncify_context_asyncify (context, SYNCIFY_FLAGS_NONE, fifo_func, &jobs[i],
                                NULL, NULL, NULL, fifo_done, &jobs[i]);
    }
  test_iterate_until_count (NULL, &done, G_N_ELEMENTS (jobs));

  g_assert_cmpint (g_atomic_int_get (&n), ==, G_N_ELEMENTS (jobs));
  for (guint i = 0; i < G_N_ELEMENTS (jobs); i++)
    g_assert_cmpint (g_atomic_int_get (&order[i]), ==, i);
}

static void
test_max_workers_raise (void)
{
  g_autoptr(SyncifyContext) context = NULL;
  GateJob jobs[6];
  Gate gate;

  if (!in_subprocess ())
    return;

  test_watchdog_arm (g_test_get_path ());
  context = syncify_context_new (NULL);

  syncify_context_set_max_workers (context, 1);
  gate_init (&gate, context);
  gate_submit (&gate, jobs, G_N_ELEMENTS (jobs));

  gate_wait_running (&gate, 1);
  g_assert_cmpint (gate_watch_for_more_than (&gate, 1), ==, 1);

  /* Raising the bound starts queued jobs at once: the next ones in
   * submission order. (They start on different worker threads at the same
   * time, so the order in which they record their start is not theirs to
   * keep; strict order is checked with one worker in max-workers/fifo.) */
  syncify_context_set_max_workers (context, 4);
  gate_wait_running (&gate, 4);
  g_assert_cmpint (gate_watch_for_more_than (&gate, 4), ==, 4);
  {
    guint seen = 0;

    for (gint i = 0; i < 4; i++)
      {
        gint index = g_atomic_int_get (&gate.order[i]);

        g_assert_cmpint (index, >=, 0);
        g_assert_cmpint (index, <, 4);
        seen |= 1u << index;
      }
    g_assert_cmpuint (seen, ==, 0xf);
  }

  /* 0 lifts the context's own bound. */
  syncify_context_set_max_workers (context, 0);
  gate_wait_running (&gate, G_N_ELEMENTS (jobs));

  gate_release (&gate);
  test_iterate_until_count (NULL, &gate.done, G_N_ELEMENTS (jobs));
  g_assert_cmpint (g_atomic_int_get (&gate.max_seen), ==, G_N_ELEMENTS (jobs));
  gate_clear (&gate);
}

/* With no bound of the context's own, jobs blocked off the CPU (outside the
 * library) must not keep queued jobs waiting for ever: the pool documents
 * that it adds threads for them. More blocked jobs than processors. */
static void
test_pool_blocked_jobs (void)
{
  g_autoptr(SyncifyContext) context = NULL;
  GateJob jobs[G_N_ELEMENTS (((Gate *) NULL)->order)];
  guint n;
  Gate gate;

  if (!in_subprocess ())
    return;

  test_watchdog_arm (g_test_get_path ());
  context = syncify_context_new (NULL);
  n = MIN (MAX (2, g_get_num_processors ()) + 2, G_N_ELEMENTS (jobs));

  gate_init (&gate, context);
  gate_submit (&gate, jobs, n);
  gate_wait_running (&gate, n);

  gate_release (&gate);
  test_iterate_until_count (NULL, &gate.done, n);
  g_assert_cmpint (g_atomic_int_get (&gate.max_seen), ==, n);
  gate_clear (&gate);
}

/* ------------------------------------------------------------------------ *
 * Many jobs
 * ------------------------------------------------------------------------ */

typedef struct {
  guint8 *seen;
  gint    done;       /* (atomic) */
  gint    destroyed;  /* (atomic) */
  gint    ran;        /* (atomic) */
} Many;

static Many many;

static gpointer
many_func (gpointer      user_data,
           GCancellable *cancellable,
           GError      **error)
{
  g_atomic_int_inc (&many.ran);
  return user_data;   /* index + 1, never NULL */
}

static void
many_destroy (gpointer data)
{
  g_assert_true (g_thread_self () == main_thread);
  g_atomic_int_inc (&many.destroyed);
}

static void
many_done (GObject      *source_object,
           GAsyncResult *result,
           gpointer      data)
{
  g_autoptr(GError) error = NULL;
  guint index = GPOINTER_TO_UINT (data) - 1;
  gpointer ret;

  g_assert_true (g_thread_self () == main_thread);
  ret = syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (GPOINTER_TO_UINT (ret), ==, index + 1);
  g_assert_cmpuint (many.seen[index], ==, 0);
  many.seen[index] = 1;
  g_atomic_int_inc (&many.done);
}

static void
test_many (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  g_autoptr(SyncifyContext) bounded = syncify_context_new (NULL);
  guint n = test_scaled (FEWER_WHEN, 2000, 200);

  test_watchdog_arm (g_test_get_path ());

  syncify_context_set_max_workers (bounded, 3);
  memset (&many, 0, sizeof many);
  many.seen = g_new0 (guint8, n);

  /* All in flight at once, spread over two contexts. */
  for (guint i = 0; i < n; i++)
    syncify_context_asyncify (i % 2 ? bounded : context, SYNCIFY_FLAGS_NONE,
                              many_func, GUINT_TO_POINTER (i + 1), many_destroy, NULL,
                              NULL, many_done, GUINT_TO_POINTER (i + 1));

  test_iterate_until_count (NULL, &many.done, n);
  while (g_main_context_iteration (NULL, FALSE));

  g_assert_cmpint (g_atomic_int_get (&many.done), ==, n);
  g_assert_cmpint (g_atomic_int_get (&many.ran), ==, n);
  g_assert_cmpint (g_atomic_int_get (&many.destroyed), ==, n);
  for (guint i = 0; i < n; i++)
    g_assert_cmpuint (many.seen[i], ==, 1);
  g_free (many.seen);
}

/* ------------------------------------------------------------------------ *
 * Workers that syncify work which asyncifies on the same context
 * ------------------------------------------------------------------------ */

typedef struct {
  SyncifyContext *context;
  guint           index;
  gint            done;   /* (atomic) */
  gpointer        result;
  GError         *error;
} Nested;

static gpointer
inner_func (gpointer      user_data,
            GCancellable *cancellable,
            GError      **error)
{
  Nested *n = user_data;

  g_assert_true (g_thread_self () != main_thread);
  g_assert_true (syncify_context_get_current () == n->context);
  return GUINT_TO_POINTER (n->index + 1000);
}

/* Runs on the owner (the main thread): an ordinary GIO-style async call,
 * which is itself an asyncify on the same context. */
static void
inner_start (gpointer             user_data,
             GCancellable        *cancellable,
             GAsyncReadyCallback  callback,
             gpointer             callback_data)
{
  Nested *n = user_data;

  g_assert_true (g_thread_self () == main_thread);
  syncify_context_asyncify (n->context, SYNCIFY_FLAGS_NONE, inner_func, n, NULL, NULL,
                            cancellable, callback, callback_data);
}

static gpointer
inner_finish (GObject       *source_object,
              GAsyncResult  *result,
              gpointer       user_data,
              GError       **error)
{
  g_assert_true (g_thread_self () == main_thread);
  return syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result, error);
}

static gpointer
outer_func (gpointer      user_data,
            GCancellable *cancellable,
            GError      **error)
{
  Nested *n = user_data;

  g_assert_true (g_thread_self () != main_thread);
  g_assert_true (syncify_context_get_current () == n->context);

  /* NULL: push to the context this worker belongs to. */
  return syncify_context_syncify (NULL, SYNCIFY_FLAGS_NONE, inner_start, inner_finish,
                                  n, NULL, error);
}

static void
outer_done (GObject      *source_object,
            GAsyncResult *result,
            gpointer      data)
{
  Nested *n = data;

  g_assert_true (g_thread_self () == main_thread);
  n->result = syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result,
                                               &n->error);
  g_atomic_int_set (&n->done, 1);
}

static void
test_nested_syncify (gconstpointer data)
{
  guint max_workers = GPOINTER_TO_UINT (data);
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  Nested nested[40];

  test_watchdog_arm (g_test_get_path ());

  syncify_context_set_max_workers (context, max_workers);
  for (guint i = 0; i < G_N_ELEMENTS (nested); i++)
    {
      nested[i] = (Nested) { context, i, 0, NULL, NULL };
      syncify_context_asyncify (context, SYNCIFY_FLAGS_NONE, outer_func, &nested[i],
                                NULL, NULL, NULL, outer_done, &nested[i]);
    }

  /* Every outer job holds a worker while it waits for an inner job of the
   * same context: the inner ones must still get to run. */
  for (guint i = 0; i < G_N_ELEMENTS (nested); i++)
    {
      test_iterate_until (NULL, &nested[i].done);
      g_assert_no_error (nested[i].error);
      g_assert_cmpuint (GPOINTER_TO_UINT (nested[i].result), ==, i + 1000);
    }
}

/* ------------------------------------------------------------------------ *
 * Shutdown
 * ------------------------------------------------------------------------ */

static void
test_shutdown_queued (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  g_autoptr(Job) running = job_new (context, 0);
  g_autoptr(GPtrArray) queued = g_ptr_array_new_with_free_func ((GDestroyNotify) job_free);
  int write_fd;

  test_watchdog_arm (g_test_get_path ());
  reset_result_counter ();

  syncify_context_set_max_workers (context, 1);
  running->stream = pipe_stream_new (&write_fd);
  job_start (running, SYNCIFY_FLAGS_NONE, blocking_read_func, counted_result_free, NULL);
  for (guint i = 1; i <= 5; i++)
    {
      Job *job = job_new (context, i);
      g_autoptr(GCancellable) c = i % 2 ? g_cancellable_new () : NULL;

      g_ptr_array_add (queued, job);
      job_start (job, i == 5 ? SYNCIFY_FLAGS_ABANDON_ON_CANCEL : SYNCIFY_FLAGS_NONE,
                 hello_func, counted_result_free, c);
    }
  test_event_wait (&running->started, "the first job to start");

  syncify_context_shutdown (context);

  for (guint i = 0; i < queued->len; i++)
    {
      Job *job = queued->pdata[i];

      job_wait (job);
      g_assert_error (job->error, SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED);
      g_assert_cmpstr (job->error->message, !=, "");
      g_assert_null (job->result);
    }

  /* The running one was cancelled through the cancellable it was given. */
  job_wait (running);
  g_assert_error (running->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (g_atomic_int_get (&running->func_saw_cancel), ==, 1);
  g_assert_cmpint (g_atomic_int_get (&running->read_result), ==, -1);
  assert_destroyed_once_on (running, main_thread);

  while (g_main_context_iteration (NULL, FALSE));
  for (guint i = 0; i < queued->len; i++)
    {
      Job *job = queued->pdata[i];

      g_assert_cmpint (g_atomic_int_get (&job->func_ran), ==, 0);
      assert_destroyed_once_on (job, main_thread);
      job_wait_task_gone (job);
    }
  job_wait_task_gone (running);
  g_assert_cmpint (g_atomic_int_get (&results_destroyed), ==, 0);

  close (write_fd);
}

/* A running job is cancelled through the cancellable its func was given,
 * with and without a cancellable of the caller's; a job of another context
 * running at the same time is left alone. (Two blocked jobs at a time: the
 * pool always runs that many.) */
static void
test_shutdown_running (void)
{
  test_watchdog_arm (g_test_get_path ());

  for (guint variant = 0; variant < 2; variant++)
    {
      g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
      g_autoptr(SyncifyContext) other = syncify_context_new (NULL);
      g_autoptr(GCancellable) caller_cancellable = variant ? g_cancellable_new () : NULL;
      g_autoptr(Job) job = job_new (context, 0);
      g_autoptr(Job) bystander = job_new (other, 1);
      int fd_job, fd_bystander;

      job->stream = pipe_stream_new (&fd_job);
      bystander->stream = pipe_stream_new (&fd_bystander);

      job_start (job, SYNCIFY_FLAGS_NONE, blocking_read_func, g_free, caller_cancellable);
      job_start (bystander, SYNCIFY_FLAGS_NONE, blocking_read_func, g_free, NULL);
      test_event_wait (&job->started, "the job to start");
      test_event_wait (&bystander->started, "the bystander to start");

      syncify_context_shutdown (context);

      job_wait (job);
      g_assert_error (job->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      g_assert_cmpint (g_atomic_int_get (&job->func_saw_cancel), ==, 1);
      g_assert_cmpint (g_atomic_int_get (&job->read_result), ==, -1);
      assert_destroyed_once_on (job, main_thread);
      /* Shutdown cancels the work, not the caller's own cancellable. */
      if (caller_cancellable != NULL)
        g_assert_false (g_cancellable_is_cancelled (caller_cancellable));

      /* The other context's job is untouched: it ends only when its pipe
       * has data, and reads it. */
      g_assert_cmpint (g_atomic_int_get (&bystander->done), ==, 0);
      g_assert_cmpint (g_atomic_int_get (&bystander->func_returned), ==, 0);
      g_assert_cmpint (write (fd_bystander, "x", 1), ==, 1);
      job_wait (bystander);
      g_assert_no_error (bystander->error);
      g_assert_cmpint (g_atomic_int_get (&bystander->read_result), ==, 1);
      g_assert_cmpint (g_atomic_int_get (&bystander->func_saw_cancel), ==, 0);
      assert_destroyed_once_on (bystander, main_thread);

      job_wait_task_gone (job);
      job_wait_task_gone (bystander);
      close (fd_job);
      close (fd_bystander);
    }
}

static void
test_shutdown_then_asyncify (void)
{
  g_autoptr(GMainContext) mc = g_main_context_new ();
  g_autoptr(SyncifyContext) named = g_object_new (SYNCIFY_TYPE_CONTEXT,
                                                  "main-context", mc,
                                                  "name", "closed-ctx",
                                                  NULL);
  g_autoptr(SyncifyContext) bg = syncify_context_new_thread ("closed-bg");
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  SyncifyContext *contexts[] = { named, bg };

  test_watchdog_arm (g_test_get_path ());
  reset_result_counter ();

  for (guint i = 0; i < G_N_ELEMENTS (contexts); i++)
    {
      g_autoptr(Job) job = job_new (contexts[i], i);
      g_autoptr(Job) job_c = job_new (contexts[i], i + 10);

      syncify_context_shutdown (contexts[i]);

      job_start (job, SYNCIFY_FLAGS_NONE, hello_func, counted_result_free, NULL);
      job_start (job_c, SYNCIFY_FLAGS_ABANDON_ON_CANCEL, hello_func, counted_result_free,
                 cancellable);
      job_wait (job);
      job_wait (job_c);

      g_assert_error (job->error, SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED);
      g_assert_error (job_c->error, SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED);
      /* The message names the context. */
      g_test_message ("error message: %s", job->error->message);
      g_assert_nonnull (strstr (job->error->message,
                                syncify_context_get_name (contexts[i])));
      g_assert_true (g_atomic_pointer_get (&job->callback_thread) == main_thread);

      job_wait_task_gone (job);
      job_wait_task_gone (job_c);
      while (g_main_context_iteration (NULL, FALSE));
      g_assert_cmpint (g_atomic_int_get (&job->func_ran), ==, 0);
      g_assert_cmpint (g_atomic_int_get (&job_c->func_ran), ==, 0);
      assert_destroyed_once_on (job, main_thread);
      assert_destroyed_once_on (job_c, main_thread);
    }

  g_assert_cmpint (g_atomic_int_get (&results_destroyed), ==, 0);
}

int
main (int    argc,
      char **argv)
{
  test_init (&argc, &argv);
  main_thread = g_thread_self ();

  g_test_add_func ("/syncify/asyncify/thread/main", test_thread_main);
  g_test_add_func ("/syncify/asyncify/thread/secondary", test_thread_default_secondary);
  g_test_add_func ("/syncify/asyncify/thread/many-callers", test_many_threads);
  g_test_add_func ("/syncify/asyncify/result/string", test_result_string);
  g_test_add_func ("/syncify/asyncify/result/null", test_result_null);
  g_test_add_func ("/syncify/asyncify/result/error", test_result_error);
  g_test_add_func ("/syncify/asyncify/destroy/user-data", test_destroy_user_data);
  g_test_add_func ("/syncify/asyncify/destroy/result-unclaimed", test_destroy_result_unclaimed);
  g_test_add_func ("/syncify/asyncify/destroy/result-claimed", test_destroy_result_claimed);
  g_test_add_func ("/syncify/asyncify/destroy/context-in-callback", test_destroy_context_in_callback);
  g_test_add_func ("/syncify/asyncify/cancel/cooperative", test_cancel_cooperative);
  g_test_add_func ("/syncify/asyncify/cancel/before-start", test_cancel_before_start);
  g_test_add_func ("/syncify/asyncify/cancel/already-cancelled", test_cancel_already_cancelled);
  g_test_add_func ("/syncify/asyncify/cancel/abandon", test_cancel_abandon);
  g_test_add_func ("/syncify/asyncify/cancel/abandon-not-cancelled", test_cancel_abandon_not_cancelled);
  g_test_add_func ("/syncify/asyncify/cancel/abandon-queued", test_cancel_abandon_queued);
  g_test_add_func ("/syncify/asyncify/many", test_many);
  g_test_add_data_func ("/syncify/asyncify/nested-syncify/default", GUINT_TO_POINTER (0), test_nested_syncify);
  g_test_add_data_func ("/syncify/asyncify/nested-syncify/max-workers-2", GUINT_TO_POINTER (2), test_nested_syncify);
  g_test_add_data_func ("/syncify/asyncify/nested-syncify/max-workers-1", GUINT_TO_POINTER (1), test_nested_syncify);
  g_test_add_func ("/syncify/asyncify/shutdown/queued", test_shutdown_queued);
  g_test_add_func ("/syncify/asyncify/shutdown/running", test_shutdown_running);
  g_test_add_func ("/syncify/asyncify/shutdown/then-asyncify", test_shutdown_then_asyncify);

  /* Last: these need the pool to run several blocked workers at once. */
  g_test_add_data_func ("/syncify/asyncify/max-workers/1", GUINT_TO_POINTER (1), test_max_workers_bound);
  g_test_add_data_func ("/syncify/asyncify/max-workers/2", GUINT_TO_POINTER (2), test_max_workers_bound);
  g_test_add_func ("/syncify/asyncify/max-workers/fifo", test_max_workers_fifo);
  g_test_add_data_func ("/syncify/asyncify/max-workers/3", GUINT_TO_POINTER (3), test_max_workers_bound);
  g_test_add_func ("/syncify/asyncify/max-workers/raise", test_max_workers_raise);
  g_test_add_func ("/syncify/asyncify/pool/blocked-jobs", test_pool_blocked_jobs);

  return g_test_run ();
}
