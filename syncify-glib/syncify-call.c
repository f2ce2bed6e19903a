/* syncify-call.c: calls, the work pushed to the owner of a context through
 * its inbox: syncify, invoke_sync and call_async
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "syncify-call-private.h"
#include "syncify-error-private.h"
#include "syncify-local-private.h"

typedef enum {
  CALL_INVOKE,    /* invoke_sync: a plain function, caller waits */
  CALL_SYNCIFY,   /* syncify: an async operation, caller waits */
  CALL_ASYNC,     /* call_async: an async operation, result through a GTask */
} CallKind;

typedef struct {
  SyncifyInboxItem   item;            /* first: its state, its waiter */
  CallKind           kind;
  /* What the owner touches to run the call. Never the context itself: a
   * waiter holds no reference on it, so its last reference may be dropped
   * (shutting it down, cancelling the call) while the call runs; the call
   * then finishes on these. */
  SyncifyInbox      *inbox;           /* (owned) the context's */
  SyncifyCancelSet  *cancel;          /* (owned) the context's */
  SyncifyBackground *bg;              /* (nullable) the context's: the call runs
                                       * on its thread, which keeps it */
  SyncifyThreadFunc  func;
  SyncifyStartFunc   start;
  SyncifyFinishFunc  finish;
  gpointer           user_data;
  GCancellable      *cancellable;     /* handed to start or func; not owned */
  gpointer           result;
  GError            *error;
  SyncifyCancelEntry cancel_entry;
  SyncifyChain       chain;           /* call_async */
  gulong             cancel_handler;  /* call_async */
  GTask             *task;            /* (owned): call_async */
  SyncifyContext    *context_ref;     /* (owned) (nullable): call_async when
                                       * the task's source is not the context */
  GDestroyNotify     user_data_destroy;
  GDestroyNotify     result_destroy;
} Call;

G_STATIC_ASSERT (G_STRUCT_OFFSET (Call, item) == 0);

static void call_run (SyncifyInboxItem *item);

static void
async_call_free (Call *call)
{
  g_clear_object (&call->task);
  g_clear_error (&call->error);
  g_clear_object (&call->context_ref);
  g_clear_pointer (&call->inbox, syncify_inbox_unref);
  g_clear_pointer (&call->cancel, syncify_cancel_set_unref);
  g_free (call);
}

/* Called in the caller's thread-default context (where the task delivers),
 * or on the calling thread of call_async(); never inside an emission of the
 * call's cancellables, so disconnecting from them is safe. Runs
 * user_data_destroy if the owner did not, and returns the result. */
static void
async_call_complete (Call *call)
{
  GTask *task = g_steal_pointer (&call->task);

  if (call->cancel_handler != 0)
    {
      g_cancellable_disconnect (call->chain.combined, call->cancel_handler);
      call->cancel_handler = 0;
    }
  syncify_chain_clear (&call->chain);

  syncify_clear_user_data (&call->user_data, &call->user_data_destroy);

  if (call->error != NULL)
    g_task_return_error (task, g_steal_pointer (&call->error));
  else
    g_task_return_pointer (task, g_steal_pointer (&call->result), call->result_destroy);

  g_object_unref (task);
  async_call_free (call);
}

static gboolean
async_call_complete_cb (gpointer data)
{
  async_call_complete (data);
  return G_SOURCE_REMOVE;
}

/* Hands @call to a thread that may disconnect its cancellable: the caller's
 * context, where the task will deliver anyway. */
static void
async_call_complete_later (Call *call)
{
  syncify_post (g_task_get_context (call->task), G_PRIORITY_DEFAULT, "[syncify] call_async completion",
                async_call_complete_cb, call, NULL);
}

/* Whether @call's cancellable is one of its own, which shutdown must be
 * told about, rather than the context's shared shutdown cancellable. */
static gboolean
call_has_own_cancellable (Call *call)
{
  return call->cancellable != NULL && call->cancellable != call->cancel->shutdown;
}

/* Called on the owner, as the operation starts: shutdown cancels it, and a
 * background loop runs until it finished. */
static void
call_op_started (Call *call)
{
  if (call->bg != NULL)
    syncify_background_op_started (call->bg);
  if (call_has_own_cancellable (call))
    syncify_cancel_set_track (call->cancel, &call->cancel_entry, call->cancellable);
}

/* Called on the owner. */
static void
call_op_finished (Call *call)
{
  if (call_has_own_cancellable (call))
    syncify_cancel_set_untrack (call->cancel, &call->cancel_entry);
  if (call->bg != NULL)
    syncify_background_op_finished (call->bg);
}

static void
call_op_ready (GObject      *source_object,
               GAsyncResult *result,
               gpointer      data)
{
  Call *call = data;

  call->result = call->finish (source_object, result, call->user_data, &call->error);
  call->result = syncify_checked_result (call->result, call->error, "SyncifyFinishFunc");

  call_op_finished (call);

  if (call->kind == CALL_ASYNC)
    {
      /* The operation is done with user_data: free it here, on the owner,
       * where loop-bound objects belong. The rest happens on the caller's
       * side. */
      syncify_clear_user_data (&call->user_data, &call->user_data_destroy);
      async_call_complete_later (call);
    }
  else
    syncify_inbox_item_done (&call->item);
}

/* Ends a call whose operation never started (call->error is set): the
 * waiter returns, or the asynchronous caller gets the error in its context. */
static void
call_end_unstarted (Call *call)
{
  if (call->kind == CALL_ASYNC)
    async_call_complete_later (call);
  else
    syncify_inbox_item_done (&call->item);
}

/* Whether @main_context is the calling thread's thread-default context. */
static gboolean
is_thread_default (GMainContext *main_context)
{
  GMainContext *td = g_main_context_get_thread_default ();

  if (td == NULL)
    td = g_main_context_default ();
  return td == main_context;
}

/* Called on the owner. Runs the function of an invoke_sync call, with a
 * cancellable that shutdown cancels. */
static void
call_run_invoke (Call *call)
{
  gboolean tracked = call_has_own_cancellable (call);

  if (syncify_inbox_is_closed (call->inbox))
    {
      /* Shut down between the push and now: it never started. */
      syncify_error_shut_down (&call->error);
      syncify_inbox_item_done (&call->item);
      return;
    }

  if (tracked)
    syncify_cancel_set_track (call->cancel, &call->cancel_entry, call->cancellable);

  /* Known as running: if the function blocks in the library, this thread
   * lends the waiter's worker slot (syncify_block_begin()). */
  syncify_inbox_enter (call->inbox, &call->item);
  call->result = call->func (call->user_data, call->cancellable, &call->error);
  syncify_inbox_leave (call->inbox, &call->item);

  if (tracked)
    syncify_cancel_set_untrack (call->cancel, &call->cancel_entry);

  syncify_inbox_item_done (&call->item);
}

/* Called on the owner of the call's context. */
static void
call_run (SyncifyInboxItem *item)
{
  Call *call = (Call *) item;
  GMainContext *main_context = syncify_inbox_get_main_context (call->inbox);
  gboolean pushed = FALSE;

  if (call->kind == CALL_INVOKE)
    {
      call_run_invoke (call);
      return;
    }

  if (call->kind == CALL_ASYNC && call->cancel_handler != 0)
    {
      /* Started: the handler that removes it from the queue has no more
       * use. (Not inside an emission: we are dispatching the inbox.) */
      g_cancellable_disconnect (call->chain.combined, call->cancel_handler);
      call->cancel_handler = 0;
    }

  if (syncify_inbox_is_closed (call->inbox))
    {
      /* Shut down between the push and now: it never started. */
      syncify_error_shut_down (&call->error);
      call_end_unstarted (call);
      return;
    }

  if (call_has_own_cancellable (call) && g_cancellable_is_cancelled (call->cancellable))
    {
      /* Cancelled by the caller before it could start: nothing to run. */
      syncify_error_cancelled (&call->error);
      call_end_unstarted (call);
      return;
    }

  /* The operation must deliver its callback to this context, which is only
   * the case if it is the thread-default one while start runs. */
  if (!is_thread_default (main_context))
    {
      g_main_context_push_thread_default (main_context);
      pushed = TRUE;
    }

  call_op_started (call);

  /* A worker waiting on this operation keeps its slot while the owner is
   * merely busy; from here on, the operation may itself need jobs of that
   * worker's context (an asyncify inside start), so its slot is lent. */
  if (call->item.waiter != NULL)
    syncify_pool_lend_thread (call->item.waiter);

  call->start (call->user_data, call->cancellable, call_op_ready, call);

  if (pushed)
    g_main_context_pop_thread_default (main_context);
}

/* Called in any thread, from the cancellable of a queued call: a call it
 * takes out of the queue never starts, and ends like one shutdown took out
 * (the waiter returns, or the asynchronous caller gets the error later, in
 * its context: the handler cannot disconnect itself). */
static void
call_cancelled_cb (GCancellable *cancellable,
                   gpointer      data)
{
  Call *call = data;

  if (syncify_inbox_remove (call->inbox, &call->item))
    {
      syncify_error_cancelled (&call->error);
      call_end_unstarted (call);
    }
}

/* Pushes @call to @self's owner and blocks until it is done. */
static gpointer
push_and_wait (SyncifyContext  *self,
               Call            *call,
               GError         **error)
{
  SyncifyThread *thread = syncify_thread_self ();
  SyncifyWaitState saved;
  gulong handler = 0;
  /* The caller may hold no reference on @self: once the call is answered,
   * the context may be finalized (its last unref cancelled the call), so
   * nothing of it is touched after the push but the inbox, which this
   * keeps alive. */
  gboolean withdrawable = call->cancellable != NULL &&
                          call->cancellable != self->cancel->shutdown;

  call->item.run = call_run;
  call->item.waiter = thread;
  /* (Its state, IDLE, is the wait's done word from here.) Held until the
   * wait ends: the wait looks at its owner record. */
  call->inbox = syncify_inbox_ref (self->inbox);

  if (!syncify_block_begin (thread, SYNCIFY_WAIT_PUSH, self->main_context, &self->node,
                            &call->item, &saved, error))
    {
      g_clear_pointer (&call->inbox, syncify_inbox_unref);
      return NULL;
    }

  syncify_pool_block_begin ();
  call->cancel = syncify_cancel_set_ref (self->cancel);
  call->bg = self->bg;
  call->result = NULL;
  call->error = NULL;

  if (!syncify_inbox_push (call->inbox, &call->item))
    {
      g_clear_pointer (&call->cancel, syncify_cancel_set_unref);
      syncify_pool_block_end ();
      syncify_wait_end (thread, &saved);
      g_clear_pointer (&call->inbox, syncify_inbox_unref);
      syncify_context_set_closed_error (self, error);
      return NULL;
    }

  /* An owner blocked in the library serves this call only when its own
   * wait ends, which may need jobs that need this worker's slot. Checked
   * once the call is queued: an owner that blocks from now on lends this
   * worker's slot itself (it walks the calls queued to what it owns), one
   * that blocked before is seen blocked here. */
  if (syncify_wait_owner_blocked (thread))
    syncify_pool_lend_current ();

  /* Withdraw the call if cancelled while queued. (Shutdown withdraws queued
   * calls itself: no handler on the shared shutdown cancellable.) */
  if (withdrawable)
    handler = g_cancellable_connect (call->cancellable,
                                     G_CALLBACK (call_cancelled_cb),
                                     call, NULL);

  while (g_atomic_int_get (&call->item.state) != SYNCIFY_ITEM_DONE)
    syncify_thread_wait (thread);

  if (handler != 0)
    g_cancellable_disconnect (call->cancellable, handler);
  g_clear_pointer (&call->cancel, syncify_cancel_set_unref);

  syncify_pool_block_end ();
  syncify_wait_end (thread, &saved);
  g_clear_pointer (&call->inbox, syncify_inbox_unref);

  if (call->error != NULL)
    {
      g_propagate_error (error, call->error);
      return NULL;
    }

  return call->result;
}

gpointer
syncify_call_push_syncify (SyncifyContext     *target,
                           SyncifyStartFunc    start,
                           SyncifyFinishFunc   finish,
                           gpointer            user_data,
                           GCancellable       *cancellable,
                           GError            **error)
{
  Call call = {
    .kind = CALL_SYNCIFY,
    .start = start,
    .finish = finish,
    .user_data = user_data,
    .cancellable = cancellable,
  };

  return push_and_wait (target, &call, error);
}

gpointer
syncify_call_push_invoke (SyncifyContext     *target,
                          SyncifyThreadFunc   func,
                          gpointer            user_data,
                          GCancellable       *cancellable,
                          GError            **error)
{
  Call call = {
    .kind = CALL_INVOKE,
    .func = func,
    .user_data = user_data,
    .cancellable = cancellable,
  };

  return push_and_wait (target, &call, error);
}

void
syncify_call_end_shut_down (SyncifyInboxItem *item)
{
  Call *call = (Call *) item;

  syncify_error_shut_down (&call->error);
  call_end_unstarted (call);
}

/**
 * syncify_context_call_async: (skip)
 * @self: the context to run the operation on
 * @start: (scope notified) (closure user_data) (destroy user_data_destroy):
 *   starts the operation, like an `_async` GIO call
 * @finish: (scope notified) (closure user_data): completes it, like a
 *   callback calling `_finish`
 * @user_data: data for @start and @finish
 * @user_data_destroy: (nullable): frees @user_data once the operation is done
 * @result_destroy: (nullable): frees a result nobody claimed
 * @cancellable: (nullable): a [class@Gio.Cancellable] to cancel the operation
 * @callback: (scope async) (closure callback_data): called with the result
 * @callback_data: data for @callback
 *
 * Runs an asynchronous operation on @self's owner and delivers its result to
 * @callback in the calling thread's thread-default main context: Flyte's
 * `.aio()`. For a background context, @start and @finish run on its thread,
 * so objects bound to that thread's loop may be used by them. Called on the
 * owner itself, it simply starts the operation.
 *
 * Cancelling @cancellable cancels the operation (the cancellable @start is
 * given fires), or, if it has not started yet, completes the call with
 * %G_IO_ERROR_CANCELLED without starting it.
 *
 * @user_data_destroy runs exactly once: on the owner right after @finish, or,
 * if the operation never started, in the caller's thread-default main
 * context (on the calling thread if @self was already shut down).
 *
 * Language bindings use [method@Syncify.Context.await_operation_async] instead.
 *
 * Since: 1.0
 */
void
syncify_context_call_async (SyncifyContext      *self,
                            SyncifyStartFunc     start,
                            SyncifyFinishFunc    finish,
                            gpointer             user_data,
                            GDestroyNotify       user_data_destroy,
                            GDestroyNotify       result_destroy,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             callback_data)
{
  g_return_if_fail (SYNCIFY_IS_CONTEXT (self));
  g_return_if_fail (start != NULL);
  g_return_if_fail (finish != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  syncify_call_async_internal (self, G_OBJECT (self), syncify_context_call_async,
                               start, finish, user_data, user_data_destroy,
                               result_destroy, cancellable, callback, callback_data);
}

void
syncify_call_async_internal (SyncifyContext      *self,
                             GObject             *source_object,
                             gpointer             source_tag,
                             SyncifyStartFunc     start,
                             SyncifyFinishFunc    finish,
                             gpointer             user_data,
                             GDestroyNotify       user_data_destroy,
                             GDestroyNotify       result_destroy,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             callback_data)
{
  Call *call;

  call = g_new0 (Call, 1);
  call->item.run = call_run;
  call->kind = CALL_ASYNC;
  call->start = start;
  call->finish = finish;
  call->user_data = user_data;
  call->user_data_destroy = user_data_destroy;
  call->result_destroy = result_destroy;
  call->task = g_task_new (source_object, cancellable, callback, callback_data);
  g_task_set_source_tag (call->task, source_tag);
  /* The task holds the context when it is the source object. */
  if (source_object != G_OBJECT (self))
    call->context_ref = g_object_ref (self);

  if (syncify_context_closed (self))
    {
      syncify_context_set_closed_error (self, &call->error);
      async_call_complete (call);
      return;
    }

  call->inbox = syncify_inbox_ref (self->inbox);
  call->cancel = syncify_cancel_set_ref (self->cancel);
  call->bg = self->bg;

  /* Ours, so shutdown can cancel it without touching the caller's. When
   * the result goes to a background context (called on its thread), that
   * context's shutdown cancels it too, and its loop runs until the result
   * is delivered. */
  {
    SyncifyBackground *delivery_bg = syncify_delivery_background (g_task_get_context (call->task));

    call->cancellable = syncify_chain_init (&call->chain, cancellable,
                                            delivery_bg != NULL ? delivery_bg->shutdown_cancellable : NULL,
                                            TRUE);
    syncify_task_hold_delivery (call->task);
  }

  if (g_main_context_is_owner (self->main_context))
    {
      g_atomic_int_set (&call->item.state, SYNCIFY_ITEM_STARTED);
      call_run (&call->item);
      return;
    }

  /* Connected before the push, while nothing else can see @call. If the
   * cancellable already fired, the handler finds nothing queued; the owner
   * then sees it cancelled and does not start the operation. */
  call->cancel_handler = g_cancellable_connect (call->chain.combined,
                                                G_CALLBACK (call_cancelled_cb),
                                                call, NULL);

  if (!syncify_inbox_push (self->inbox, &call->item))
    {
      syncify_context_set_closed_error (self, &call->error);
      async_call_complete (call);
      return;
    }
}

/**
 * syncify_context_call_finish: (skip)
 * @self: a `SyncifyContext`
 * @result: the [iface@Gio.AsyncResult] given to the callback
 * @error: return location for a [struct@GLib.Error]
 *
 * Gets the result of [method@Syncify.Context.call_async].
 *
 * Returns: (transfer full) (nullable): what the finish function returned;
 *   %NULL with @error unset is a valid success
 *
 * Language bindings use [method@Syncify.Context.await_operation_finish] instead.
 *
 * Since: 1.0
 */
gpointer
syncify_context_call_finish (SyncifyContext  *self,
                             GAsyncResult    *result,
                             GError         **error)
{
  g_return_val_if_fail (SYNCIFY_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == syncify_context_call_async, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
