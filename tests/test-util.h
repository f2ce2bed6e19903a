/* test-util.h: shared helpers for the GTest suites
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every wait in a test is bounded: test_watchdog_arm() starts a per-process
 * watchdog thread which aborts the test loudly, naming the test path and
 * what it was waiting for, if the bound is reached. Nothing ever sleeps in
 * the hope that something happened.
 */

#pragma once

#include <syncify-glib/syncify-glib.h>

#include <dirent.h>
#include <stdlib.h>

/* Generous: the suites run under valgrind and sanitizers on 2 noisy cores.
 * Scaled by SYNCIFY_TEST_TIMEOUT_SCALE (the valgrind setup sets 20). */
#define TEST_WATCHDOG_SECONDS 60

static GMutex   test_watchdog_lock;
static GCond    test_watchdog_cond;
static gint64   test_watchdog_deadline;   /* protected by test_watchdog_lock */
static char    *test_watchdog_what;       /* protected by test_watchdog_lock */
static gboolean test_watchdog_started;

static inline gint64 test_watchdog_bound_us (void);

static gpointer
test_watchdog_thread (gpointer data)
{
  g_mutex_lock (&test_watchdog_lock);
  for (;;)
    {
      gint64 now = g_get_monotonic_time ();

      if (test_watchdog_deadline != 0 && now >= test_watchdog_deadline)
        {
          g_printerr ("WATCHDOG: %s: still waiting for %s after %" G_GINT64_FORMAT " s; aborting\n",
                      g_test_get_path () ? g_test_get_path () : "(no test)",
                      test_watchdog_what ? test_watchdog_what : "the test to finish",
                      test_watchdog_bound_us () / G_USEC_PER_SEC);
          abort ();
        }
      if (test_watchdog_deadline == 0)
        g_cond_wait (&test_watchdog_cond, &test_watchdog_lock);
      else
        g_cond_wait_until (&test_watchdog_cond, &test_watchdog_lock, test_watchdog_deadline);
    }
  return NULL;
}

/* SYNCIFY_TEST_TIMEOUT_SCALE, at least 1 (set by the slow setups). */
static inline gint64
test_timeout_scale (void)
{
  const char *scale = g_getenv ("SYNCIFY_TEST_TIMEOUT_SCALE");

  return MAX (scale != NULL ? g_ascii_strtoll (scale, NULL, 10) : 1, 1);
}

static inline gint64
test_watchdog_bound_us (void)
{
  return (gint64) TEST_WATCHDOG_SECONDS * test_timeout_scale () * G_USEC_PER_SEC;
}

/* (Re)arms the watchdog for the current test: call it at the start of each
 * test (nothing does it for you: test_init() only arms it once for the
 * whole program, and a test that does not re-arm inherits what is left of
 * the previous deadline). */
static inline void
test_watchdog_arm (const char *what)
{
  g_mutex_lock (&test_watchdog_lock);
  if (!test_watchdog_started)
    {
      test_watchdog_started = TRUE;
      g_thread_unref (g_thread_new ("watchdog", test_watchdog_thread, NULL));
    }
  test_watchdog_deadline = g_get_monotonic_time () + test_watchdog_bound_us ();
  g_free (test_watchdog_what);
  test_watchdog_what = g_strdup (what);
  g_cond_signal (&test_watchdog_cond);
  g_mutex_unlock (&test_watchdog_lock);
}

/* Like test_watchdog_arm(), with @extra_us more than the bound (for a run
 * whose length is set on purpose, like the long soak). */
static inline void
test_watchdog_arm_longer (const char *what,
                          gint64      extra_us)
{
  test_watchdog_arm (what);
  g_mutex_lock (&test_watchdog_lock);
  test_watchdog_deadline += extra_us;
  g_cond_signal (&test_watchdog_cond);
  g_mutex_unlock (&test_watchdog_lock);
}

static inline void
test_watchdog_disarm (void)
{
  g_mutex_lock (&test_watchdog_lock);
  test_watchdog_deadline = 0;
  g_cond_signal (&test_watchdog_cond);
  g_mutex_unlock (&test_watchdog_lock);
}

/* The setups in which a case runs fewer rounds (see test_scaled()). Each
 * case names its own: they were chosen one suite at a time, and a case
 * keeps the counts it had. */
typedef enum {
  TEST_FEWER_UNDER_VALGRIND = 1 << 0,  /* SYNCIFY_UNDER_VALGRIND is set (the valgrind setup) */
  TEST_FEWER_WHEN_QUICK     = 1 << 1,  /* SYNCIFY_TEST_QUICK is set (tests/run.sh's TSan run) */
  TEST_FEWER_WHEN_SCALED    = 1 << 2,  /* SYNCIFY_TEST_TIMEOUT_SCALE is above 1
                                        * (the valgrind, asan and tsan setups) */
} TestFewerWhen;

/* @fewer in any of the setups @when names, @full otherwise. */
static inline guint
test_scaled (TestFewerWhen when,
             guint         full,
             guint         fewer)
{
  if ((when & TEST_FEWER_UNDER_VALGRIND) && g_getenv ("SYNCIFY_UNDER_VALGRIND") != NULL)
    return fewer;
  if ((when & TEST_FEWER_WHEN_QUICK) && g_getenv ("SYNCIFY_TEST_QUICK") != NULL)
    return fewer;
  if ((when & TEST_FEWER_WHEN_SCALED) && test_timeout_scale () > 1)
    return fewer;
  return full;
}

/* Iterates @context (NULL: the default one) until *flag is non-zero. */
#define test_iterate_until(context, flag) \
  G_STMT_START { \
    test_watchdog_arm (#flag); \
    while (!g_atomic_int_get (flag)) \
      g_main_context_iteration ((context), TRUE); \
  } G_STMT_END

/* Iterates @context until the atomic counter *counter reaches @n. */
#define test_iterate_until_count(context, counter, n) \
  G_STMT_START { \
    test_watchdog_arm (#counter " to reach " #n); \
    while ((guint) g_atomic_int_get (counter) < (guint) (n)) \
      g_main_context_iteration ((context), TRUE); \
  } G_STMT_END

/* A one-shot event for threads: set once, waited on with the watchdog. */
typedef struct {
  GMutex   lock;
  GCond    cond;
  gboolean set;
} TestEvent;

static inline void
test_event_init (TestEvent *ev)
{
  g_mutex_init (&ev->lock);
  g_cond_init (&ev->cond);
  ev->set = FALSE;
}

static inline void
test_event_clear (TestEvent *ev)
{
  g_mutex_clear (&ev->lock);
  g_cond_clear (&ev->cond);
}

static inline void
test_event_set (TestEvent *ev)
{
  g_mutex_lock (&ev->lock);
  ev->set = TRUE;
  g_cond_broadcast (&ev->cond);
  g_mutex_unlock (&ev->lock);
}

static inline gboolean
test_event_is_set (TestEvent *ev)
{
  gboolean set;

  g_mutex_lock (&ev->lock);
  set = ev->set;
  g_mutex_unlock (&ev->lock);
  return set;
}

/* Waits for @ev; aborts loudly (naming @what) at the watchdog bound. */
static inline void
test_event_wait (TestEvent  *ev,
                 const char *what)
{
  gint64 deadline = g_get_monotonic_time () + test_watchdog_bound_us ();

  g_mutex_lock (&ev->lock);
  while (!ev->set)
    {
      if (!g_cond_wait_until (&ev->cond, &ev->lock, deadline))
        {
          if (!ev->set)
            g_error ("%s: timed out waiting for %s", g_test_get_path (), what);
        }
    }
  g_mutex_unlock (&ev->lock);
}

/* The calling thread's thread-default main context, never NULL. */
static inline GMainContext *
test_thread_default (void)
{
  GMainContext *td = g_main_context_get_thread_default ();

  return td != NULL ? td : g_main_context_default ();
}

static gboolean
test_quit_loop_cb (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

/* Quits @loop from inside it (a quit before the loop runs would be lost).
 * Called in any thread. */
static inline void
test_loop_quit_later (GMainLoop *loop)
{
  GSource *source = g_idle_source_new ();

  g_source_set_callback (source, test_quit_loop_cb, g_main_loop_ref (loop),
                         (GDestroyNotify) g_main_loop_unref);
  g_source_attach (source, g_main_loop_get_context (loop));
  g_source_unref (source);
}

static void
test_task_on_cancelled (GCancellable *cancellable,
                        gpointer      task)
{
  g_task_return_error_if_cancelled (task);
}

/* Makes @task end only when its cancellable fires (as GIO operations do
 * when cancelled): it then returns G_IO_ERROR_CANCELLED, from the thread
 * that cancelled it, and its callback runs in @task's context. The
 * cancellable's handler holds a reference on @task, which holds the
 * cancellable: the finish function must call test_task_disconnect() to
 * break that cycle, or every such task leaks with its main context. */
static inline void
test_task_until_cancelled (GTask *task)
{
  GCancellable *cancellable = g_task_get_cancellable (task);
  gulong id;

  g_assert_nonnull (cancellable);
  id = g_cancellable_connect (cancellable, G_CALLBACK (test_task_on_cancelled),
                              g_object_ref (task), g_object_unref);
  g_object_set_data (G_OBJECT (task), "test-cancelled-handler", GSIZE_TO_POINTER (id));
}

/* In the finish function of any task: undoes test_task_until_cancelled(),
 * if it was used on @result. */
static inline void
test_task_disconnect (GAsyncResult *result)
{
  gulong id = GPOINTER_TO_SIZE (g_object_steal_data (G_OBJECT (result), "test-cancelled-handler"));

  if (id != 0)
    g_cancellable_disconnect (g_task_get_cancellable (G_TASK (result)), id);
}

/* Fake operations: start and finish functions for syncify and call_async
 * that complete as GIO's do, in the thread-default context of the thread
 * that starts them. */

static gboolean
test_op_return_true_cb (gpointer data)
{
  g_task_return_boolean (G_TASK (data), TRUE);
  return G_SOURCE_REMOVE;
}

/* Completes with TRUE from an idle in the thread-default context of the
 * thread that starts it. Ignores @user_data. */
static inline void
test_op_idle_start (gpointer             user_data,
                    GCancellable        *cancellable,
                    GAsyncReadyCallback  callback,
                    gpointer             callback_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, callback_data);
  GSource *source = g_idle_source_new ();

  g_source_set_callback (source, test_op_return_true_cb, task, g_object_unref);
  g_source_attach (source, test_thread_default ());
  g_source_unref (source);
}

/* Ends only when its cancellable fires, with G_IO_ERROR_CANCELLED (see
 * test_task_until_cancelled()). Ignores @user_data. */
static inline void
test_op_until_cancelled_start (gpointer             user_data,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             callback_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, callback_data);

  test_task_until_cancelled (task);
  g_object_unref (task);
}

/* The finish function of both: NULL, and the error if any. */
static inline gpointer
test_op_finish (GObject       *source_object,
                GAsyncResult  *result,
                gpointer       user_data,
                GError       **error)
{
  test_task_disconnect (result);
  g_task_propagate_boolean (G_TASK (result), error);
  return NULL;
}

/* Where test_op_idle_threads_start() and test_op_threads_finish() ran. */
typedef struct {
  GThread *start_thread;
  GThread *finish_thread;
} TestOpThreads;

/* test_op_idle_start(), recording its thread in @user_data, a
 * TestOpThreads. */
static inline void
test_op_idle_threads_start (gpointer             user_data,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             callback_data)
{
  TestOpThreads *threads = user_data;

  threads->start_thread = g_thread_self ();
  test_op_idle_start (NULL, cancellable, callback, callback_data);
}

/* test_op_finish(), recording its thread in @user_data, a TestOpThreads. */
static inline gpointer
test_op_threads_finish (GObject       *source_object,
                        GAsyncResult  *result,
                        gpointer       user_data,
                        GError       **error)
{
  TestOpThreads *threads = user_data;

  threads->finish_thread = g_thread_self ();
  return test_op_finish (source_object, result, NULL, error);
}

/* For calls that must fail before they start anything. */
static inline void
test_op_never_start (gpointer             user_data,
                     GCancellable        *cancellable,
                     GAsyncReadyCallback  callback,
                     gpointer             callback_data)
{
  g_assert_not_reached ();
}

static inline gpointer
test_op_never_finish (GObject       *source_object,
                      GAsyncResult  *result,
                      gpointer       user_data,
                      GError       **error)
{
  g_assert_not_reached ();
  return NULL;
}

/* The census of the process: open descriptors, and threads other than the
 * pool's workers and monitor and GLib's own (which live on, parked). */
static inline guint
test_count_fds (void)
{
  DIR *dir = opendir ("/proc/self/fd");
  guint n = 0;
  struct dirent *entry;

  g_assert_nonnull (dir);
  while ((entry = readdir (dir)) != NULL)
    if (entry->d_name[0] != '.')
      n++;
  closedir (dir);
  return n - 1;   /* the one opendir() holds */
}

/* Says what every open descriptor is, as test messages. */
static inline void
test_list_fds (void)
{
  DIR *dir = opendir ("/proc/self/fd");
  struct dirent *entry;

  g_assert_nonnull (dir);
  while ((entry = readdir (dir)) != NULL)
    {
      g_autofree char *link = NULL;
      g_autofree char *target = NULL;

      if (entry->d_name[0] == '.')
        continue;
      link = g_strdup_printf ("/proc/self/fd/%s", entry->d_name);
      target = g_file_read_link (link, NULL);
      g_test_message ("descriptor %s: %s", entry->d_name, target != NULL ? target : "?");
    }
  closedir (dir);
}

static inline guint
test_count_other_threads (void)
{
  DIR *dir = opendir ("/proc/self/task");
  guint n = 0;
  struct dirent *entry;

  g_assert_nonnull (dir);
  while ((entry = readdir (dir)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autofree char *comm = NULL;

      if (entry->d_name[0] == '.')
        continue;
      path = g_strdup_printf ("/proc/self/task/%s/comm", entry->d_name);
      if (!g_file_get_contents (path, &comm, NULL, NULL))
        continue;
      if (g_str_has_prefix (comm, "syncify-w") || g_str_has_prefix (comm, "syncify-monitor") ||
          g_str_has_prefix (comm, "gmain") || g_str_has_prefix (comm, "pool-"))
        continue;
      n++;
    }
  closedir (dir);
  return n;
}

/* Like g_test_init(), and arms the watchdog for the whole run. */
static inline void
test_init (int    *argc,
           char ***argv)
{
  g_test_init (argc, argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  test_watchdog_arm ("the test program to finish");
}
