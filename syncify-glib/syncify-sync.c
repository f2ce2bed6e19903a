/* syncify-sync.c: the blocking entry points, syncify and invoke_sync: each
 * picks a route, then pushes its work to the owner (syncify-call.c) or runs
 * it on the calling thread (syncify-local.c)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "syncify-call-private.h"
#include "syncify-error-private.h"
#include "syncify-local-private.h"

/* What a blocking call on @thread works for: @self, or the context of the
 * job @thread runs (*@target may be NULL), and that job's cancellable.
 * FALSE with @error set if the target is shut down or @cancellable fired. */
static gboolean
blocking_call_begin (SyncifyContext  *self,
                     SyncifyThread   *thread,
                     GCancellable    *cancellable,
                     SyncifyContext **target,
                     GCancellable   **job_cancellable,
                     GError         **error)
{
  *target = self != NULL ? self : thread->work_context;
  *job_cancellable = thread->work_cancellable;

  if (*target != NULL && syncify_context_closed (*target))
    {
      syncify_context_set_closed_error (*target, error);
      return FALSE;
    }

  return cancellable == NULL || !g_cancellable_set_error_if_cancelled (cancellable, error);
}

/**
 * syncify_context_syncify: (skip)
 * @self: (nullable): the context that owns the operation's objects, or
 *   %NULL for the calling worker's context (see
 *   [func@Syncify.Context.get_current])
 * @flags: %SYNCIFY_FLAGS_NONE or %SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT
 * @start: (scope call) (closure user_data): starts the operation, like an
 *   `_async` GIO call
 * @finish: (scope call) (closure user_data): completes it, like a callback
 *   calling `_finish`
 * @user_data: data for @start and @finish
 * @cancellable: (nullable): a [class@Gio.Cancellable] handed to @start
 * @error: return location for a [struct@GLib.Error]
 *
 * Runs an asynchronous operation from blocking code and waits for its result:
 * the counterpart of Asyncer's `syncify()`.
 *
 * 1. When the calling thread is a worker of @self, or another thread owns
 *    @self's main context (it is being iterated there; for a background
 *    context, always), the operation is *pushed*: @start runs on the owner,
 *    with @self's main context as thread-default, @finish runs there inside
 *    the completion callback, and the calling thread blocks until then.
 * 2. Otherwise (the calling thread owns @self's main context, nobody runs it,
 *    or @self is %NULL outside a worker): without
 *    %SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT this fails at once with
 *    %SYNCIFY_ERROR_NOT_IN_WORKER and runs nothing. With it, @start runs on
 *    the calling thread with a private main context pushed as thread-default,
 *    which is iterated until the operation completes. The private context is
 *    the calling thread's own and is reused by later calls (so calling this
 *    in a loop costs no new main context per call); nested calls work.
 * 3. Before blocking in case 1, if the owner is itself blocked in this
 *    library waiting, directly or through a chain of threads, on the calling
 *    thread, this fails with %SYNCIFY_ERROR_WOULD_DEADLOCK, whose message
 *    names the cycle, instead of hanging.
 *
 * @cancellable is handed to @start. When the calling thread is an asyncify
 * worker, cancelling the worker's own cancellable cancels the operation too,
 * and so does shutting @self down. The call always waits for the operation
 * to complete (it owns @user_data until then), so a cancelled call returns
 * once the operation honours the cancellation. If the cancellation comes
 * before @start ran, @start never runs and the call fails with
 * %G_IO_ERROR_CANCELLED.
 *
 * Returns: (transfer full) (nullable): what @finish returned; %NULL with
 *   @error unset is a valid success
 *
 * Language bindings use [method@Syncify.Context.await_operation] instead.
 *
 * Since: 1.0
 */
gpointer
syncify_context_syncify (SyncifyContext     *self,
                         SyncifyFlags        flags,
                         SyncifyStartFunc    start,
                         SyncifyFinishFunc   finish,
                         gpointer            user_data,
                         GCancellable       *cancellable,
                         GError            **error)
{
  SyncifyThread *thread;
  SyncifyContext *target;
  GCancellable *job_cancellable;

  g_return_val_if_fail (self == NULL || SYNCIFY_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (start != NULL, NULL);
  g_return_val_if_fail (finish != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  thread = syncify_thread_self ();
  if (!blocking_call_begin (self, thread, cancellable, &target, &job_cancellable, error))
    return NULL;

  if (syncify_route_choose (target, thread, FALSE, NULL) == SYNCIFY_ROUTE_PUSH)
    {
      SyncifyChain chain;
      GCancellable *effective;
      gpointer result;

      /* Cancelled by the target's shutdown (the owner tracks it), and by
       * the caller's and the worker's cancellables. */
      effective = syncify_work_cancellable (target->cancel, &chain, cancellable, job_cancellable);
      result = syncify_call_push_syncify (target, start, finish, user_data, effective, error);
      syncify_chain_clear (&chain);
      return result;
    }

  if (!(flags & SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT))
    {
      syncify_set_not_in_worker_error (error, target, thread);
      return NULL;
    }

  {
    /* The operation runs on this thread's private context, not on the
     * target's: it gets the caller's cancellable as it is (or the
     * worker's, or one that follows both), and the target's shutdown
     * does not touch it. */
    SyncifyChain chain;
    GCancellable *effective = syncify_chain_init (&chain, cancellable, job_cancellable, FALSE);
    gpointer result = syncify_run_private (thread, start, finish, user_data, effective, error);

    syncify_chain_clear (&chain);
    return result;
  }
}

/**
 * syncify_context_invoke_sync: (skip)
 * @self: (nullable): the context to run @func on, or %NULL for the calling
 *   worker's context
 * @func: (scope call) (closure user_data): the function to run
 * @user_data: data for @func
 * @cancellable: (nullable): a [class@Gio.Cancellable] handed to @func
 * @error: return location for a [struct@GLib.Error]
 *
 * Runs a plain function on the owner of @self and waits for its result: the
 * counterpart of AnyIO's `from_thread.run_sync()`.
 *
 * When the calling thread is a worker of @self, or another thread owns its
 * main context (for a background context, always), @func is pushed there and
 * the calling thread blocks until it has run. When the calling thread owns
 * the main context, or nobody runs it (or @self is %NULL outside a worker),
 * @func runs inline, as [method@GLib.MainContext.invoke] does, with the main
 * context acquired while it runs. The deadlock rule of
 * [method@Syncify.Context.syncify] applies.
 *
 * If @cancellable fires before @func started, it never runs and the call
 * fails with %G_IO_ERROR_CANCELLED.
 *
 * Returns: (transfer full) (nullable): what @func returned; %NULL with
 *   @error unset is a valid success
 *
 * Language bindings use [method@Syncify.Context.invoke_variant] instead.
 *
 * Since: 1.0
 */
gpointer
syncify_context_invoke_sync (SyncifyContext     *self,
                             SyncifyThreadFunc   func,
                             gpointer            user_data,
                             GCancellable       *cancellable,
                             GError            **error)
{
  SyncifyThread *thread;
  SyncifyContext *target;
  GCancellable *job_cancellable;
  gboolean acquired;
  SyncifyChain chain;
  GCancellable *effective;
  gpointer result;

  g_return_val_if_fail (self == NULL || SYNCIFY_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (func != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  thread = syncify_thread_self ();
  if (!blocking_call_begin (self, thread, cancellable, &target, &job_cancellable, error))
    return NULL;

  if (syncify_route_choose (target, thread, TRUE, &acquired) == SYNCIFY_ROUTE_PUSH)
    {
      /* Cancelled by the target's shutdown (the owner tracks it while the
       * function runs), and by the caller's and the worker's cancellables. */
      effective = syncify_work_cancellable (target->cancel, &chain, cancellable, job_cancellable);
      result = syncify_call_push_invoke (target, func, user_data, effective, error);
    }
  else
    {
      GError *local_error = NULL;
      SyncifyCancelEntry entry;
      gboolean took_owner;

      /* Run here for a context: its shutdown cancels the function too. */
      if (target != NULL)
        {
          effective = syncify_work_cancellable (target->cancel, &chain, cancellable, job_cancellable);
          if (chain.combined != NULL)
            syncify_cancel_set_track (target->cancel, &entry, effective);
        }
      else
        effective = syncify_chain_init (&chain, cancellable, job_cancellable, FALSE);

      /* Running a context's work, this thread owns it meanwhile (and for
       * good if it did before). */
      took_owner = acquired && syncify_inbox_peek_owner (target->inbox) == NULL;
      if (took_owner)
        syncify_owner_record_set (syncify_inbox_get_owner_record (target->inbox), thread);

      result = func (user_data, effective, &local_error);

      if (target != NULL && chain.combined != NULL)
        syncify_cancel_set_untrack (target->cancel, &entry);
      if (took_owner)
        syncify_owner_record_clear (syncify_inbox_get_owner_record (target->inbox));
      if (acquired)
        g_main_context_release (target->main_context);
      result = syncify_checked_result (result, local_error, "SyncifyThreadFunc");
      if (local_error != NULL)
        g_propagate_error (error, local_error);
    }

  syncify_chain_clear (&chain);
  return result;
}
