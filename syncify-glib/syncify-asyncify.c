/* syncify-asyncify.c: asyncify, blocking work run in the worker pool with
 * its result delivered as a GIO asynchronous result
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "syncify-asyncify-private.h"
#include "syncify-error-private.h"
#include "syncify-i18n-private.h"

enum {
  JOB_QUEUED,
  JOB_RUNNING,
  JOB_FINISHED,   /* func returned; completion posted */
  JOB_ABANDONED,  /* cancelled while running; completion posted; func still running */
  JOB_DROPPED,    /* removed before it started; completion posted */
};

typedef struct
{
  SyncifyPoolItem    item;            /* first */
  gint               ref_count;       /* (atomic) */
  gint               state;           /* (atomic) */
  SyncifyContext    *context;         /* not owned: the task holds it */
  GTask             *task;            /* (owned) until completion */
  GMainContext      *delivery;        /* not owned: the task holds it */
  SyncifyBackground *delivery_bg;     /* (owned) (nullable): a hold on the
                                       * background context it delivers to */
  gboolean           delivery_private;/* delivery is a thread's private context */
  SyncifyFlags       flags;
  SyncifyThreadFunc  func;
  gpointer           user_data;
  GDestroyNotify     user_data_destroy;
  GDestroyNotify     result_destroy;
  GCancellable      *cancellable;     /* (owned) (nullable): the caller's */
  gulong             cancel_handler;
  SyncifyChain       chain;
  SyncifyCancelEntry cancel_entry;
  gpointer           result;
  GError            *error;
} SyncifyJob;

G_STATIC_ASSERT (G_STRUCT_OFFSET (SyncifyJob, item) == 0);

static SyncifyJob *
job_ref (SyncifyJob *job)
{
  g_atomic_int_inc (&job->ref_count);
  return job;
}

static void
job_unref (gpointer data)
{
  SyncifyJob *job = data;

  if (!g_atomic_int_dec_and_test (&job->ref_count))
    return;

  if G_UNLIKELY (job->task != NULL)
    {
      /* Never delivered: the caller's main context was freed first. */
      if (job->cancel_handler != 0)
        g_cancellable_disconnect (job->cancellable, job->cancel_handler);
      syncify_clear_user_data (&job->user_data, &job->user_data_destroy);
      syncify_clear_result (&job->result, job->result_destroy);
      g_clear_object (&job->task);
    }
  g_clear_object (&job->cancellable);
  g_clear_error (&job->error);
  /* Last: every delivery of the job is done, its loop may stop. */
  g_clear_pointer (&job->delivery_bg, syncify_delivery_release);
  g_free (job);
}

/* Called on the thread of the caller's context (the task's). */
static gboolean
job_complete_cb (gpointer data)
{
  SyncifyJob *job = data;
  GTask *task;
  gint state;

  task = g_steal_pointer (&job->task);
  state = g_atomic_int_get (&job->state);

  if (job->cancel_handler != 0)
    {
      g_cancellable_disconnect (job->cancellable, job->cancel_handler);
      job->cancel_handler = 0;
    }

  if (state == JOB_ABANDONED)
    {
      GError *error = NULL;

      syncify_error_cancelled (&error);
      g_task_return_error (task, error);
    }
  else
    {
      /* func is done with user_data: free it here, on the caller's side. */
      syncify_clear_user_data (&job->user_data, &job->user_data_destroy);

      if (job->error != NULL)
        g_task_return_error (task, g_steal_pointer (&job->error));
      else
        g_task_return_pointer (task, g_steal_pointer (&job->result), job->result_destroy);
    }

  g_object_unref (task);
  return G_SOURCE_REMOVE;
}

/* The late result of an abandoned job, freed where the job would have
 * delivered it. */
static gboolean
job_late_cleanup_cb (gpointer data)
{
  SyncifyJob *job = data;

  syncify_clear_result (&job->result, job->result_destroy);
  syncify_clear_user_data (&job->user_data, &job->user_data_destroy);

  return G_SOURCE_REMOVE;
}

/* Runs @func on @job in the delivery context, with a reference of its own. */
static void
job_post (SyncifyJob  *job,
          GSourceFunc  func)
{
  GMainContext *delivery = job->delivery;

  job_ref (job);
  syncify_post (delivery, G_PRIORITY_DEFAULT, "[syncify] asyncify completion",
                func, job, job_unref);
}

/* Called in any thread, from the caller's cancellable. */
static void
job_cancelled_cb (GCancellable *cancellable,
                  gpointer      data)
{
  SyncifyJob *job = data;

  if (syncify_pool_remove (&job->item))
    {
      g_atomic_int_set (&job->state, JOB_DROPPED);
      syncify_error_cancelled (&job->error);
      job_post (job, job_complete_cb);
      job_unref (job);   /* the pool's reference */
      return;
    }

  if ((job->flags & SYNCIFY_FLAGS_ABANDON_ON_CANCEL) &&
      g_atomic_int_compare_and_exchange (&job->state, JOB_RUNNING, JOB_ABANDONED))
    job_post (job, job_complete_cb);
}

/* Called in any thread, by the pool, for a job that no worker thread could
 * be started for. */
static void
job_fail (SyncifyPoolItem *item,
          GError          *error)
{
  SyncifyJob *job = (SyncifyJob *) item;

  if (!g_atomic_int_compare_and_exchange (&job->state, JOB_QUEUED, JOB_DROPPED))
    g_assert_not_reached ();
  job->error = error;
  job_post (job, job_complete_cb);
  job_unref (job);   /* the pool's reference */
}

/* Called on a worker thread. */
static void
job_run (SyncifyPoolItem *item)
{
  SyncifyJob *job = (SyncifyJob *) item;
  SyncifyContext *self = job->context;
  SyncifyThread *thread = syncify_thread_self ();
  GCancellable *func_cancellable;
  GCancellable *delivery_shutdown;
  GMainContext *deliverer_of = job->delivery_private ? job->delivery : NULL;

  if (!g_atomic_int_compare_and_exchange (&job->state, JOB_QUEUED, JOB_RUNNING))
    g_assert_not_reached ();

  delivery_shutdown = job->delivery_bg != NULL ? job->delivery_bg->shutdown_cancellable : NULL;

  if (syncify_context_closed (self) ||
      (delivery_shutdown != NULL && g_cancellable_is_cancelled (delivery_shutdown)))
    {
      syncify_error_shut_down (&job->error);
    }
  else if (job->cancellable != NULL && g_cancellable_is_cancelled (job->cancellable))
    {
      syncify_error_cancelled (&job->error);
    }
  else
    {
      /* Shutdown cancels what runs: hand func a cancellable that this
       * context's shutdown, and the shutdown of the background context it
       * delivers to, cancel without touching the caller's. */
      func_cancellable = syncify_work_cancellable (self->cancel, &job->chain,
                                                   job->cancellable, delivery_shutdown);
      if (job->chain.combined != NULL)
        syncify_cancel_set_track (self->cancel, &job->cancel_entry, func_cancellable);

      /* What this worker works for, for the blocking calls func makes. */
      thread->work_context = self;
      thread->work_cancellable = func_cancellable;
      g_atomic_pointer_set (&thread->pool_item, &job->item);
      if (deliverer_of != NULL)
        syncify_graph_deliverer_add (thread, deliverer_of);

      job->result = job->func (job->user_data, func_cancellable, &job->error);

      if (deliverer_of != NULL)
        syncify_graph_deliverer_remove (thread, deliverer_of);
      g_atomic_pointer_set (&thread->pool_item, NULL);
      thread->work_cancellable = NULL;
      thread->work_context = NULL;

      job->result = syncify_checked_result (job->result, job->error, "SyncifyThreadFunc");

      if (job->chain.combined != NULL)
        {
          syncify_cancel_set_untrack (self->cancel, &job->cancel_entry);
          syncify_chain_clear (&job->chain);
        }
    }

  /* Before the completion is posted: after it, the caller may drop the
   * context, and the pool group with it. */
  syncify_pool_item_done (&job->item);

  if (g_atomic_int_compare_and_exchange (&job->state, JOB_RUNNING, JOB_FINISHED))
    job_post (job, job_complete_cb);
  else
    job_post (job, job_late_cleanup_cb);   /* abandoned */

  job_unref (job);   /* the pool's reference */
}

/* ------------------------------------------------------------------------ *
 * asyncify
 * ------------------------------------------------------------------------ */

static void
asyncify_in_group (SyncifyContext      *self,
                   SyncifyPoolGroup    *group,
                   SyncifyFlags         flags,
                   SyncifyThreadFunc    func,
                   gpointer             user_data,
                   GDestroyNotify       user_data_destroy,
                   GDestroyNotify       result_destroy,
                   GCancellable        *cancellable,
                   GAsyncReadyCallback  callback,
                   gpointer             callback_data)
{
  SyncifyJob *job;

  job = g_new0 (SyncifyJob, 1);
  job->ref_count = 1;     /* the pool's */
  job->state = JOB_QUEUED;
  job->context = self;
  job->task = g_task_new (self, cancellable, callback, callback_data);
  g_task_set_source_tag (job->task, syncify_context_asyncify);
  job->delivery = g_task_get_context (job->task);
  job->delivery_private = syncify_thread_self ()->private_context == job->delivery;
  /* Delivered to a background context: held until the task delivered, and
   * until the job is freed (an abandoned job delivers its late result). */
  syncify_task_hold_delivery (job->task);
  job->delivery_bg = syncify_delivery_hold (job->delivery);
  job->flags = flags;
  job->func = func;
  job->user_data = user_data;
  job->user_data_destroy = user_data_destroy;
  job->result_destroy = result_destroy;
  job->item.group = group;
  job->item.run = job_run;
  job->item.fail = job_fail;

  if (syncify_context_closed (self))
    {
      syncify_context_set_closed_error (self, &job->error);
      g_atomic_int_set (&job->state, JOB_DROPPED);
      job_post (job, job_complete_cb);
      job_unref (job);
      return;
    }

  if (cancellable != NULL)
    {
      job->cancellable = g_object_ref (cancellable);
      /* Connected before the job is queued; a cancellable that has already
       * fired runs the handler now, which finds nothing queued, and the job
       * then ends at once when a worker takes it. */
      job->cancel_handler = g_cancellable_connect (cancellable,
                                                   G_CALLBACK (job_cancelled_cb),
                                                   job_ref (job), job_unref);
    }

  syncify_pool_push (&job->item);
}


/**
 * syncify_context_asyncify: (skip)
 * @self: the context the worker belongs to
 * @flags: %SYNCIFY_FLAGS_NONE or %SYNCIFY_FLAGS_ABANDON_ON_CANCEL
 * @func: (scope notified) (closure user_data) (destroy user_data_destroy):
 *   the blocking function to run in a worker thread
 * @user_data: data for @func
 * @user_data_destroy: (nullable): frees @user_data once @func is done with it
 * @result_destroy: (nullable): frees a result nobody claimed
 * @cancellable: (nullable): a [class@Gio.Cancellable] handed to @func
 * @callback: (scope async) (closure callback_data): called when the job is
 *   done
 * @callback_data: data for @callback
 *
 * Runs the blocking function @func in a worker thread, never on the calling
 * thread, and delivers its result as an ordinary GIO asynchronous result:
 * @callback runs in the calling thread's thread-default main context (as for
 * every GIO call), and calls [method@Syncify.Context.asyncify_finish]. The
 * counterpart of Asyncer's `asyncify()`.
 *
 * The worker belongs to @self: inside @func,
 * [func@Syncify.Context.get_current] returns @self, and
 * [method@Syncify.Context.syncify] or [method@Syncify.Context.invoke_sync]
 * with a %NULL context push to @self. At most
 * [property@Syncify.Context:max-workers] of @self's jobs run at once; the
 * others wait, in order.
 *
 * Cancellation is cooperative: @func is handed a cancellable that fires when
 * @cancellable does (or @self is shut down), and is expected to honour it.
 * A job whose @cancellable fires before it started never runs @func. With
 * %SYNCIFY_FLAGS_ABANDON_ON_CANCEL, the job completes with
 * %G_IO_ERROR_CANCELLED as soon as @cancellable fires; @func keeps running,
 * and its late result is freed with @result_destroy.
 *
 * Ownership: @user_data_destroy runs exactly once, in the caller's
 * thread-default main context: after @func returned, or when the job ended
 * before it started (cancelled, or @self shut down). @result_destroy frees
 * the result if it is never claimed by a successful finish, including the
 * late result of an abandoned job (also in the caller's context).
 *
 * Language bindings use [method@Syncify.Context.asyncify_variant] instead.
 *
 * Since: 1.0
 */
void
syncify_context_asyncify (SyncifyContext      *self,
                          SyncifyFlags         flags,
                          SyncifyThreadFunc    func,
                          gpointer             user_data,
                          GDestroyNotify       user_data_destroy,
                          GDestroyNotify       result_destroy,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             callback_data)
{
  g_return_if_fail (SYNCIFY_IS_CONTEXT (self));
  g_return_if_fail (func != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  asyncify_in_group (self, &self->group, flags, func, user_data, user_data_destroy,
                     result_destroy, cancellable, callback, callback_data);
}

void
syncify_asyncify_for_binding (SyncifyContext      *self,
                              SyncifyFlags         flags,
                              SyncifyThreadFunc    func,
                              gpointer             user_data,
                              GDestroyNotify       user_data_destroy,
                              GDestroyNotify       result_destroy,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             callback_data)
{
  /* While max-workers is 0, the binding's jobs have a bound of their own;
   * once it is set, they share it with the context's other jobs. */
  SyncifyPoolGroup *group = syncify_pool_group_get_max (&self->group) == 0
                            ? &self->binding_group : &self->group;

  asyncify_in_group (self, group, flags, func, user_data, user_data_destroy,
                     result_destroy, cancellable, callback, callback_data);
}

/**
 * syncify_context_asyncify_finish: (skip)
 * @self: a `SyncifyContext`
 * @result: the [iface@Gio.AsyncResult] given to the callback
 * @error: return location for a [struct@GLib.Error]
 *
 * Gets the result of [method@Syncify.Context.asyncify].
 *
 * Returns: (transfer full) (nullable): what the function returned; %NULL with
 *   @error unset is a valid success
 *
 * Language bindings use [method@Syncify.Context.asyncify_variant_finish] instead.
 *
 * Since: 1.0
 */
gpointer
syncify_context_asyncify_finish (SyncifyContext  *self,
                                 GAsyncResult    *result,
                                 GError         **error)
{
  g_return_val_if_fail (SYNCIFY_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == syncify_context_asyncify, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

void
syncify_job_end_shut_down (SyncifyPoolItem *item)
{
  SyncifyJob *job = (SyncifyJob *) item;

  g_atomic_int_set (&job->state, JOB_DROPPED);
  syncify_error_shut_down (&job->error);
  job_post (job, job_complete_cb);
  job_unref (job);   /* the pool's reference */
}
