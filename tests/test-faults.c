/* test-faults.c: resource exhaustion gives errors, never a strand or an
 * abort (issue 9, §4). Thread creation fails through an interposed
 * pthread_create(); descriptors run out under a low RLIMIT_NOFILE. Each
 * case runs in a fresh subprocess, so that the pool starts with no thread.
 * (RLIMIT_NPROC is not used: it does not apply to root, which CI runs as.)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "test-util.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ *
 * The interposed pthread_create(): fails with EAGAIN while fail_threads is
 * set, counting the attempts.
 * ------------------------------------------------------------------------ */

static gint fail_threads;     /* (atomic) */
static gint failed_attempts;  /* (atomic) */

typedef int (*PthreadCreateFunc) (pthread_t *, const pthread_attr_t *,
                                  void *(*) (void *), void *);

int pthread_create (pthread_t            *thread,
                    const pthread_attr_t *attr,
                    void               *(*start) (void *),
                    void                 *arg);

int
pthread_create (pthread_t            *thread,
                const pthread_attr_t *attr,
                void               *(*start) (void *),
                void                 *arg)
{
  static PthreadCreateFunc real;

  if (g_atomic_int_get (&fail_threads))
    {
      g_atomic_int_inc (&failed_attempts);
      return EAGAIN;
    }
  if (real == NULL)
    real = (PthreadCreateFunc) dlsym (RTLD_NEXT, "pthread_create");
  return real (thread, attr, start, arg);
}

/* ------------------------------------------------------------------------ */

typedef struct {
  TestEvent started;
  TestEvent release;
} Blocker;

static gpointer
blocker_func (gpointer       user_data,
              GCancellable  *cancellable,
              GError       **error)
{
  Blocker *b = user_data;

  test_event_set (&b->started);
  test_event_wait (&b->release, "the blocking job to be released");
  return NULL;
}

static gpointer
value_func (gpointer       user_data,
            GCancellable  *cancellable,
            GError       **error)
{
  return g_strdup ("ran");
}

typedef struct {
  gint     done;    /* (atomic) */
  char    *value;
  GError  *error;
} Outcome;

static void
outcome_cb (GObject      *source_object,
            GAsyncResult *result,
            gpointer      user_data)
{
  Outcome *o = user_data;

  o->value = syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result, &o->error);
  g_atomic_int_set (&o->done, 1);
}

/* With no thread at all to be had (no worker, no monitor): the job fails at
 * once with the thread error, and no warning aborts the program (test
 * programs make warnings fatal). */
static void
child_no_thread_at_all (void)
{
  SyncifyContext *context = syncify_context_get_default ();
  Outcome o = { 0, };

  g_atomic_int_set (&fail_threads, 1);
  syncify_context_asyncify (context, SYNCIFY_FLAGS_NONE, value_func, NULL, NULL, g_free,
                            NULL, outcome_cb, &o);
  test_iterate_until (NULL, &o.done);
  g_assert_error (o.error, G_THREAD_ERROR, G_THREAD_ERROR_AGAIN);
  g_assert_null (o.value);
  g_clear_error (&o.error);
  g_assert_cmpint (g_atomic_int_get (&failed_attempts), >, 0);

  /* Threads can be had again: the next job runs. */
  g_atomic_int_set (&fail_threads, 0);
  memset (&o, 0, sizeof o);
  syncify_context_asyncify (context, SYNCIFY_FLAGS_NONE, value_func, NULL, NULL, g_free,
                            NULL, outcome_cb, &o);
  test_iterate_until (NULL, &o.done);
  g_assert_no_error (o.error);
  g_assert_cmpstr (o.value, ==, "ran");
  g_free (o.value);
}

/* Starts the pool (and its monitor) with one job, then occupies every slot
 * with a job blocked on @b->release. */
static void
occupy_pool (SyncifyContext *context,
             Blocker        *b,
             Outcome        *blocked,
             guint           n_blockers)
{
  Outcome first = { 0, };

  syncify_context_asyncify (context, SYNCIFY_FLAGS_NONE, value_func, NULL, NULL, g_free,
                            NULL, outcome_cb, &first);
  test_iterate_until (NULL, &first.done);
  g_assert_no_error (first.error);
  g_free (first.value);
  for (guint i = 0; i < n_blockers; i++)
    syncify_context_asyncify (context, SYNCIFY_FLAGS_NONE, blocker_func, b, NULL, NULL,
                              NULL, outcome_cb, &blocked[i]);
  test_event_wait (&b->started, "a blocking job to start");
}

/* A job that could not get a thread runs when threads can be had again,
 * without any other job being submitted: the pool retries by itself. */
static void
child_retry (void)
{
  SyncifyContext *context = syncify_context_get_default ();
  Blocker b;
  Outcome queued = { 0, };
  guint n_blockers = MAX (2, g_get_num_processors ());
  Outcome *blocked = g_new0 (Outcome, n_blockers);

  test_event_init (&b.started);
  test_event_init (&b.release);

  occupy_pool (context, &b, blocked, n_blockers);

  g_atomic_int_set (&fail_threads, 1);
  syncify_context_asyncify (context, SYNCIFY_FLAGS_NONE, value_func, NULL, NULL, g_free,
                            NULL, outcome_cb, &queued);

  /* The pool keeps trying... */
  test_watchdog_arm ("thread creation to be retried");
  while (g_atomic_int_get (&failed_attempts) < 5)
    g_main_context_iteration (NULL, FALSE);
  g_assert_false (g_atomic_int_get (&queued.done));

  /* ... and the job runs as soon as a thread can be had. */
  g_atomic_int_set (&fail_threads, 0);
  test_iterate_until (NULL, &queued.done);
  g_assert_no_error (queued.error);
  g_assert_cmpstr (queued.value, ==, "ran");
  g_free (queued.value);

  test_event_set (&b.release);
  for (guint i = 0; i < n_blockers; i++)
    {
      test_iterate_until (NULL, &blocked[i].done);
      g_assert_no_error (blocked[i].error);
    }
  g_free (blocked);
  test_event_clear (&b.started);
  test_event_clear (&b.release);
}

/* When threads stay unavailable and nothing queued can start, the queued job
 * fails after the documented bound (a second) instead of waiting forever. */
static void
child_bound (void)
{
  SyncifyContext *context = syncify_context_get_default ();
  Blocker b;
  Outcome queued = { 0, };
  guint n_blockers = MAX (2, g_get_num_processors ());
  Outcome *blocked = g_new0 (Outcome, n_blockers);

  test_event_init (&b.started);
  test_event_init (&b.release);

  occupy_pool (context, &b, blocked, n_blockers);

  g_atomic_int_set (&fail_threads, 1);
  syncify_context_asyncify (context, SYNCIFY_FLAGS_NONE, value_func, NULL, NULL, g_free,
                            NULL, outcome_cb, &queued);
  test_iterate_until (NULL, &queued.done);
  g_assert_error (queued.error, G_THREAD_ERROR, G_THREAD_ERROR_AGAIN);
  g_clear_error (&queued.error);

  g_atomic_int_set (&fail_threads, 0);
  test_event_set (&b.release);
  for (guint i = 0; i < n_blockers; i++)
    test_iterate_until (NULL, &blocked[i].done);
  g_free (blocked);
  test_event_clear (&b.started);
  test_event_clear (&b.release);
}

/* syncify_context_try_new_thread() reports the failure; the context is not
 * made. */
static void
child_try_new_thread (void)
{
  g_autoptr(GError) error = NULL;
  SyncifyContext *context;

  g_atomic_int_set (&fail_threads, 1);
  context = syncify_context_try_new_thread ("no-thread", &error);
  g_assert_null (context);
  g_assert_error (error, G_THREAD_ERROR, G_THREAD_ERROR_AGAIN);
  g_atomic_int_set (&fail_threads, 0);
  g_clear_error (&error);

  context = syncify_context_try_new_thread ("thread", &error);
  g_assert_no_error (error);
  g_assert_nonnull (context);
  g_assert_finalize_object (context);
}

/* The plain constructor aborts, as g_thread_new() does (documented). */
static void
child_new_thread_aborts (void)
{
  g_atomic_int_set (&fail_threads, 1);
  (void) syncify_context_new_thread ("no-thread");
  g_assert_not_reached ();
}

/* ------------------------------------------------------------------------ *
 * No descriptor left
 * ------------------------------------------------------------------------ */

/* Uses up every descriptor under a low limit; returns the last one opened
 * (close it to free one), or -1. */
static int
exhaust_fds (void)
{
  struct rlimit rl;
  int last = -1;
  int fd;

  g_assert_cmpint (getrlimit (RLIMIT_NOFILE, &rl), ==, 0);
  rl.rlim_cur = MIN (rl.rlim_cur, 256);
  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &rl), ==, 0);
  while ((fd = open ("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
    last = fd;
  g_assert_true (errno == EMFILE);
  return last;
}

static gpointer
private_path_thread (gpointer data)
{
  GError **error = data;

  syncify_context_syncify (NULL, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT,
                           test_op_never_start, test_op_never_finish, NULL, NULL, error);
  return NULL;
}

static void
child_no_fd (void)
{
  g_autoptr(GError) error = NULL;
  SyncifyContext *context;
  GThread *thread;
  int last;

  /* A thread for the private path, made before descriptors run out. */
  last = exhaust_fds ();
  g_assert_cmpint (last, >=, 0);

  context = syncify_context_try_new_thread ("no-fd", &error);
  g_assert_null (context);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TOO_MANY_OPEN_FILES);
  g_clear_error (&error);

  /* A thread's first private-path call fails instead of aborting. */
  thread = g_thread_new ("private-no-fd", private_path_thread, &error);
  g_thread_join (thread);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TOO_MANY_OPEN_FILES);
  g_clear_error (&error);

  /* With a descriptor free again, both work. */
  close (last);
  close (last - 1);
  context = syncify_context_try_new_thread ("fd-again", &error);
  g_assert_no_error (error);
  g_assert_finalize_object (context);
}

/* ------------------------------------------------------------------------ */

static void
test_in_subprocess (gconstpointer data)
{
  const char *name = data;

  if (g_test_subprocess ())
    {
      /* GLib's own threads (GTask's first use starts GLib's worker thread,
       * which GLib aborts without) come first: only ours may fail. */
      g_type_ensure (G_TYPE_TASK);
      (void) syncify_context_get_default ();

      if (g_str_equal (name, "no-thread-at-all"))
        child_no_thread_at_all ();
      else if (g_str_equal (name, "retry"))
        child_retry ();
      else if (g_str_equal (name, "bound"))
        child_bound ();
      else if (g_str_equal (name, "try-new-thread"))
        child_try_new_thread ();
      else if (g_str_equal (name, "new-thread-aborts"))
        child_new_thread_aborts ();
      else if (g_str_equal (name, "no-fd"))
        child_no_fd ();
      else
        g_assert_not_reached ();
      return;
    }

  test_watchdog_arm (g_test_get_path ());
  g_test_trap_subprocess (NULL, test_watchdog_bound_us (), G_TEST_SUBPROCESS_DEFAULT);
  if (g_str_equal (name, "new-thread-aborts"))
    {
      g_test_trap_assert_failed ();
      g_test_trap_assert_stderr ("*Cannot start the thread of context \"no-thread\"*");
    }
  else
    g_test_trap_assert_passed ();
}

int
main (int    argc,
      char **argv)
{
  const char *cases[] = {
    "no-thread-at-all", "retry", "bound", "try-new-thread", "new-thread-aborts", "no-fd",
  };

  test_init (&argc, &argv);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/syncify/faults/%s", cases[i]);

      g_test_add_data_func (path, cases[i], test_in_subprocess);
    }

  return g_test_run ();
}
