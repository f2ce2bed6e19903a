/* test-soak.c: a randomized mix of every operation from several threads,
 * with shutdowns and cancellations at random moments, checked against
 * invariants: every operation answered exactly once, every destroy notify
 * run exactly once, and the census of threads, descriptors and live
 * contexts back to its baseline at the end.
 *
 * Runs for --seconds N (2 by default), or SYNCIFY_SOAK_SECONDS when set.
 * The suite runs it briefly; `meson test --suite soak` runs the long
 * version (120 s).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "test-util.h"

#include <string.h>

static double   soak_seconds = 2;

/* Every piece of user data: its destroy notify must run exactly once. */
typedef struct {
  gint   destroyed;     /* (atomic) */
  gint   answered;      /* (atomic): callback or return, exactly once */
} Item;

static gint items_alive;         /* (atomic) made and not yet destroyed */
static gint ops_started;         /* (atomic) */
static gint ops_answered;        /* (atomic) */
static gint double_answers;      /* (atomic) */
static gint double_destroys;     /* (atomic) */
static gint results_alive;       /* (atomic) results made and not freed */

/* Every item, freed at the end (an answer may come after the destroy). */
static GMutex     all_items_lock;
static GPtrArray *all_items;

static Item *
item_new (void)
{
  Item *item = g_new0 (Item, 1);

  g_mutex_lock (&all_items_lock);
  g_ptr_array_add (all_items, item);
  g_mutex_unlock (&all_items_lock);

  g_atomic_int_inc (&items_alive);
  g_atomic_int_inc (&ops_started);
  return item;
}

static void
item_answered (Item *item)
{
  if (g_atomic_int_add (&item->answered, 1) != 0)
    g_atomic_int_inc (&double_answers);
  g_atomic_int_inc (&ops_answered);
}

/* Items of blocking calls are freed by their caller, after the answer. */
static void
item_destroy (gpointer data)
{
  Item *item = data;

  if (g_atomic_int_add (&item->destroyed, 1) != 0)
    {
      g_atomic_int_inc (&double_destroys);
      return;
    }
  g_atomic_int_add (&items_alive, -1);
}

static gpointer
result_new (void)
{
  g_atomic_int_inc (&results_alive);
  return g_strdup ("result");
}

static void
result_free (gpointer data)
{
  g_atomic_int_add (&results_alive, -1);
  g_free (data);
}

/* ------------------------------------------------------------------------ *
 * Work
 * ------------------------------------------------------------------------ */

/* Returns a result, after a little CPU or a short sleep, or an error when
 * cancelled. */
static gpointer
work_func (gpointer       user_data,
           GCancellable  *cancellable,
           GError       **error)
{
  if (g_random_int_range (0, 4) == 0)
    g_usleep (g_random_int_range (0, 300));
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;
  return result_new ();
}

/* An operation that completes after a short timeout in the thread-default
 * context, or when cancelled. */
typedef struct {
  GTask  *task;
} SoakOp;

static void
soak_op_complete (SoakOp *op)
{
  GTask *task = op->task;

  g_task_return_boolean (task, TRUE);
  g_object_unref (task);
  g_free (op);
}

static gboolean
soak_op_timeout_cb (gpointer data)
{
  soak_op_complete (data);
  return G_SOURCE_REMOVE;
}

static void
soak_op_start (gpointer             user_data,
               GCancellable        *cancellable,
               GAsyncReadyCallback  callback,
               gpointer             callback_data)
{
  SoakOp *op = g_new0 (SoakOp, 1);
  GSource *source = g_timeout_source_new (g_random_int_range (0, 3));

  op->task = g_task_new (NULL, cancellable, callback, callback_data);
  g_task_set_check_cancellable (op->task, FALSE);
  g_source_set_callback (source, soak_op_timeout_cb, op, NULL);
  g_source_attach (source, test_thread_default ());
  g_source_unref (source);
}

static gpointer
soak_op_finish (GObject       *source_object,
                GAsyncResult  *result,
                gpointer       user_data,
                GError       **error)
{
  if (!g_task_propagate_boolean (G_TASK (result), error))
    return NULL;
  return result_new ();
}

/* ------------------------------------------------------------------------ *
 * The mix
 * ------------------------------------------------------------------------ */

typedef struct {
  SyncifyContext *contexts[4];   /* default, a looped one, two background */
  GMainContext   *looped_mc;
  gint            stop;          /* (atomic) the mix stops */
  gint            stop_loop;     /* (atomic) the looped thread stops */
  gint            n_done;        /* (atomic) mixing threads that stopped */
} Soak;

static void
async_answer_cb (GObject      *source_object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Item *item = user_data;
  g_autoptr(GError) error = NULL;
  gpointer value;

  if (g_task_get_source_tag (G_TASK (result)) == syncify_context_asyncify)
    value = syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result, &error);
  else
    value = syncify_context_call_finish (SYNCIFY_CONTEXT (source_object), result, &error);
  g_assert_true ((value == NULL) != (error == NULL) || value == NULL);
  if (value != NULL)
    result_free (value);
  item_answered (item);
}

/* The operation's answer arrives by callback; count and free it there.
 * The item is freed by its user_data_destroy. The caller's loop must be
 * iterated: workers asyncify from plain threads too, whose thread-default
 * is the default context, which the main thread runs. */
static void
one_operation (Soak  *soak,
               guint  op)
{
  SyncifyContext *target = soak->contexts[g_random_int_range (0, G_N_ELEMENTS (soak->contexts))];
  g_autoptr(GCancellable) cancellable = g_random_boolean () ? g_cancellable_new () : NULL;
  g_autoptr(GError) error = NULL;
  Item *item = item_new ();
  gpointer value = NULL;

  if (cancellable != NULL && g_random_int_range (0, 4) == 0)
    g_cancellable_cancel (cancellable);

  switch (op)
    {
    case 0:   /* asyncify */
    case 1:   /* asyncify, abandoned on cancel */
      syncify_context_asyncify (target, op == 1 ? SYNCIFY_FLAGS_ABANDON_ON_CANCEL : SYNCIFY_FLAGS_NONE,
                                work_func, item, item_destroy, result_free, cancellable,
                                async_answer_cb, item);
      break;
    case 2:   /* call_async */
      syncify_context_call_async (target, soak_op_start, soak_op_finish, item, item_destroy,
                                  result_free, cancellable, async_answer_cb, item);
      break;
    case 3:   /* invoke_sync */
      value = syncify_context_invoke_sync (target, work_func, item, cancellable, &error);
      item_answered (item);
      item_destroy (item);
      break;
    case 4:   /* syncify, pushed (or private where allowed) */
      value = syncify_context_syncify (target, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT,
                                       soak_op_start, soak_op_finish, item, cancellable, &error);
      item_answered (item);
      item_destroy (item);
      break;
    case 5:   /* private path, no context */
      value = syncify_context_syncify (NULL, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT,
                                       soak_op_start, soak_op_finish, item, cancellable, &error);
      item_answered (item);
      item_destroy (item);
      break;
    default:
      g_assert_not_reached ();
    }

  g_assert_true (value == NULL || error == NULL);
  if (value != NULL)
    result_free (value);

  /* Cancel what is in flight, at a random moment. */
  if (cancellable != NULL && g_random_int_range (0, 3) == 0)
    {
      if (g_random_boolean ())
        g_thread_yield ();
      g_cancellable_cancel (cancellable);
    }
}

/* A short-lived background context, used by other operations from this
 * thread and shut down (or dropped) while work is pending. */
static void
transient_context (Soak *soak)
{
  SyncifyContext *bg = syncify_context_new_thread ("soak-transient");
  guint n = g_random_int_range (1, 6);

  for (guint i = 0; i < n; i++)
    {
      Item *item = item_new ();

      syncify_context_asyncify (bg, SYNCIFY_FLAGS_NONE, work_func, item, item_destroy,
                                result_free, NULL, async_answer_cb, item);
      item = item_new ();
      syncify_context_call_async (bg, soak_op_start, soak_op_finish, item, item_destroy,
                                  result_free, NULL, async_answer_cb, item);
    }
  if (g_random_boolean ())
    syncify_context_shutdown (bg);
  g_object_unref (bg);
}

static gpointer
soak_thread (gpointer data)
{
  Soak *soak = data;

  while (!g_atomic_int_get (&soak->stop))
    {
      guint r = g_random_int_range (0, 40);

      if (r == 0)
        transient_context (soak);
      else
        one_operation (soak, r % 6);
    }
  g_atomic_int_inc (&soak->n_done);
  g_main_context_wakeup (NULL);
  return NULL;
}

static gpointer
soak_worker_job (gpointer       user_data,
                 GCancellable  *cancellable,
                 GError       **error)
{
  /* A worker of the default context mixes in too: its NULL-context calls
   * push to the main thread. */
  soak_thread (user_data);
  return result_new ();
}

static gpointer
looped_thread (gpointer data)
{
  Soak *soak = data;

  g_main_context_push_thread_default (soak->looped_mc);
  while (!g_atomic_int_get (&soak->stop_loop))
    g_main_context_iteration (soak->looped_mc, TRUE);
  g_main_context_pop_thread_default (soak->looped_mc);
  return NULL;
}

static void
weak_notify_count (gpointer  data,
                   GObject  *where_the_object_was)
{
  g_atomic_int_add ((gint *) data, -1);
}

static void
test_soak (void)
{
  Soak soak = { { NULL, }, };
  gint live_contexts = 0;
  guint n_threads = 4;
  GThread *threads[4];
  GThread *looper;
  guint fds_before, threads_before;
  gint64 end;

  test_watchdog_arm_longer ("the soak run", (gint64) (soak_seconds * G_USEC_PER_SEC));
  fds_before = test_count_fds ();
  threads_before = test_count_other_threads ();

  soak.looped_mc = g_main_context_new ();
  soak.contexts[0] = g_object_ref (syncify_context_get_default ());
  soak.contexts[1] = syncify_context_new (soak.looped_mc);
  soak.contexts[2] = syncify_context_new_thread ("soak-bg1");
  soak.contexts[3] = syncify_context_new_thread ("soak-bg2");
  for (guint i = 1; i < G_N_ELEMENTS (soak.contexts); i++)
    {
      live_contexts++;
      g_object_weak_ref (G_OBJECT (soak.contexts[i]), weak_notify_count, &live_contexts);
    }

  looper = g_thread_new ("soak-looped", looped_thread, &soak);
  for (guint i = 0; i < n_threads; i++)
    threads[i] = g_thread_new ("soak", soak_thread, &soak);
  {
    Item *item = item_new ();

    syncify_context_asyncify (soak.contexts[0], SYNCIFY_FLAGS_NONE, soak_worker_job, &soak,
                              NULL, result_free, NULL, async_answer_cb, item);
    item_destroy (item);   /* not its user data: freed here, answered there */
  }

  end = g_get_monotonic_time () + (gint64) (soak_seconds * G_USEC_PER_SEC);
  while (g_get_monotonic_time () < end)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (100);

  /* The main thread and the looped thread own their contexts: they keep
   * iterating until every mixing thread (and the worker) has stopped. */
  g_atomic_int_set (&soak.stop, 1);
  test_iterate_until_count (NULL, &soak.n_done, n_threads + 1);
  for (guint i = 0; i < n_threads; i++)
    g_thread_join (threads[i]);

  /* Drop the contexts while work may still be in flight: every answer
   * must still arrive. */
  for (guint i = 0; i < G_N_ELEMENTS (soak.contexts); i++)
    g_clear_object (&soak.contexts[i]);
  test_watchdog_arm ("every operation to be answered");
  while (g_atomic_int_get (&ops_answered) < g_atomic_int_get (&ops_started) ||
         g_atomic_int_get (&live_contexts) > 0)
    {
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (100);
    }
  g_atomic_int_set (&soak.stop_loop, 1);
  g_main_context_wakeup (soak.looped_mc);
  g_thread_join (looper);
  while (g_main_context_iteration (soak.looped_mc, FALSE))
    ;
  g_main_context_unref (soak.looped_mc);
  while (g_main_context_iteration (NULL, FALSE))
    ;

  g_test_message ("%d operations, all answered once", ops_started);
  g_assert_cmpint (double_answers, ==, 0);
  g_assert_cmpint (double_destroys, ==, 0);
  g_assert_cmpint (ops_answered, ==, ops_started);
  g_assert_cmpint (items_alive, ==, 0);
  g_assert_cmpint (results_alive, ==, 0);
  g_assert_cmpint (live_contexts, ==, 0);
  g_assert_cmpuint (test_count_other_threads (), ==, threads_before);
  /* Pool workers keep their private context (one descriptor) while they
   * live; nothing else may remain. */
  g_assert_cmpuint (test_count_fds (), <=, fds_before + 64 + 2);

  g_ptr_array_free (all_items, TRUE);
}

int
main (int    argc,
      char **argv)
{
  const char *env = g_getenv ("SYNCIFY_SOAK_SECONDS");

  for (int i = 1; i + 1 < argc; i++)
    if (g_str_equal (argv[i], "--seconds"))
      soak_seconds = g_ascii_strtod (argv[i + 1], NULL);
  if (env != NULL)
    soak_seconds = g_ascii_strtod (env, NULL);
  /* Leave GTest only the arguments it knows. */
  for (int i = 1; i < argc; i++)
    if (g_str_equal (argv[i], "--seconds") && i + 1 < argc)
      {
        memmove (&argv[i], &argv[i + 2], (argc - i - 1) * sizeof (char *));
        argc -= 2;
        i--;
      }

  test_init (&argc, &argv);
  all_items = g_ptr_array_new_with_free_func (g_free);
  g_test_add_func ("/syncify/soak/mix", test_soak);

  return g_test_run ();
}
