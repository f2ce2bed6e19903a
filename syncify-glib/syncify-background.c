/* syncify-background.c: the thread and loop of a background context, and
 * the deliveries that keep it running
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "syncify-background-private.h"
#include "syncify-inbox-private.h"
#include "syncify-pool-private.h"

static gpointer
background_main (gpointer data)
{
  SyncifyBackground *bg = data;
  SyncifyThread *thread = syncify_thread_self ();

  syncify_thread_set_name (thread, bg->name);
  thread->background = bg;

  g_main_context_push_thread_default (bg->main_context);
  /* An operation started by a call popped from the inbox just as shutdown
   * closed it still completes here before the thread leaves. */
  while (!g_atomic_int_get (&bg->stop) || g_atomic_int_get (&bg->n_inflight) > 0)
    g_main_context_iteration (bg->main_context, TRUE);
  /* Shutdown's teardown functions, here on this thread. */
  syncify_teardown_list_run (bg->teardown);
  g_main_context_pop_thread_default (bg->main_context);

  thread->background = NULL;
  syncify_background_unref (bg);

  return NULL;
}

SyncifyBackground *
syncify_background_start (GMainContext         *main_context,
                          GCancellable         *shutdown_cancellable,
                          const char           *name,
                          SyncifyTeardownList  *teardown,
                          GError              **error)
{
  SyncifyBackground *bg = g_new0 (SyncifyBackground, 1);
  GThread *thread;

  bg->ref_count = 2;   /* the caller's and the thread's */
  bg->main_context = g_main_context_ref (main_context);
  bg->shutdown_cancellable = g_object_ref (shutdown_cancellable);
  bg->name = g_strdup (name);
  bg->teardown = syncify_teardown_list_ref (teardown);

  thread = g_thread_try_new (name, background_main, bg, error);
  if (thread == NULL)
    {
      bg->ref_count = 1;
      syncify_background_unref (bg);
      return NULL;
    }
  g_atomic_pointer_set (&bg->thread, thread);

  return bg;
}

SyncifyBackground *
syncify_background_ref (SyncifyBackground *bg)
{
  g_atomic_int_inc (&bg->ref_count);
  return bg;
}

void
syncify_background_unref (SyncifyBackground *bg)
{
  if (!g_atomic_int_dec_and_test (&bg->ref_count))
    return;
  g_main_context_unref (bg->main_context);
  g_object_unref (bg->shutdown_cancellable);
  g_free (bg->name);
  syncify_teardown_list_unref (bg->teardown);
  g_clear_pointer (&bg->thread, g_thread_unref);
  g_free (bg);
}

GThread *
syncify_background_stop (SyncifyBackground *bg)
{
  g_atomic_int_set (&bg->stop, 1);
  g_main_context_wakeup (bg->main_context);
  /* Whoever takes the thread joins (or detaches) it, once. */
  return g_atomic_pointer_exchange (&bg->thread, NULL);
}

void
syncify_background_join (GThread      *thread,
                         GMainContext *main_context,
                         SyncifyNode  *node)
{
  SyncifyThread *me;
  SyncifyWaitState saved;
  g_autoptr(GError) error = NULL;

  if (thread == g_thread_self ())
    {
      /* Never join from the context's own thread: it leaves the loop when
       * this callback returns, and exits on its own. */
      g_thread_unref (thread);
      return;
    }

  /* Joining is a wait on the background thread: registered like one, so an
   * operation there that pushes back to a context this thread owns fails
   * with WOULD_DEADLOCK instead of hanging. */
  me = syncify_thread_self ();
  if (!syncify_block_begin (me, SYNCIFY_WAIT_PUSH, main_context, node, NULL, &saved, &error))
    {
      /* Its thread is already blocked on us: joining would hang. Let it
       * finish and exit on its own. */
      g_debug ("Not joining the thread of %s: %s", node->name, error->message);
      g_thread_unref (thread);
      return;
    }

  syncify_pool_block_begin ();
  g_thread_join (thread);
  syncify_pool_block_end ();
  syncify_wait_end (me, &saved);
}

void
syncify_background_op_started (SyncifyBackground *bg)
{
  g_atomic_int_inc (&bg->n_inflight);
}

void
syncify_background_op_finished (SyncifyBackground *bg)
{
  /* On the background thread: its loop checks after this iteration whether
   * it may stop. */
  g_atomic_int_add (&bg->n_inflight, -1);
}

/* ------------------------------------------------------------------------ *
 * Deliveries
 * ------------------------------------------------------------------------ */

SyncifyBackground *
syncify_delivery_background (GMainContext *delivery)
{
  SyncifyBackground *bg = syncify_thread_self ()->background;

  return bg != NULL && bg->main_context == delivery ? bg : NULL;
}

SyncifyBackground *
syncify_delivery_hold (GMainContext *delivery)
{
  SyncifyBackground *bg = syncify_delivery_background (delivery);

  if (bg == NULL)
    return NULL;

  syncify_background_op_started (bg);
  return syncify_background_ref (bg);
}

static gboolean
delivery_release_cb (gpointer data)
{
  SyncifyBackground *bg = data;

  syncify_background_op_finished (bg);
  syncify_background_unref (bg);
  return G_SOURCE_REMOVE;
}

void
syncify_delivery_release (SyncifyBackground *bg)
{
  /* The release itself happens on the background thread, so that nothing
   * of it (its main context, its descriptor) is freed elsewhere after its
   * shutdown returned. */
  if (syncify_thread_self ()->background == bg)
    delivery_release_cb (bg);
  else
    syncify_post (bg->main_context, G_PRIORITY_DEFAULT, "[syncify] delivery release",
                  delivery_release_cb, bg, NULL);
}

/* A GTask's hold on its background delivery context: released once its
 * callback has run ("completed"), or when it is freed without returning. */
typedef struct {
  SyncifyBackground *bg;
  gint               released;   /* (atomic) */
} TaskHold;

static void
task_hold_release (TaskHold *hold)
{
  if (g_atomic_int_compare_and_exchange (&hold->released, 0, 1))
    syncify_delivery_release (hold->bg);
}

static void
task_hold_completed_cb (GObject    *task,
                        GParamSpec *pspec,
                        gpointer    data)
{
  task_hold_release (data);
}

static void
task_hold_free (gpointer data)
{
  task_hold_release (data);
  g_free (data);
}

void
syncify_task_hold_delivery (GTask *task)
{
  SyncifyBackground *bg = syncify_delivery_hold (g_task_get_context (task));
  TaskHold *hold;

  if (bg == NULL)
    return;

  hold = g_new0 (TaskHold, 1);
  hold->bg = bg;
  g_task_set_task_data (task, hold, task_hold_free);
  g_signal_connect (task, "notify::completed", G_CALLBACK (task_hold_completed_cb), hold);
}
